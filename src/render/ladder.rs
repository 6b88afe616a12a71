//! `--conn N`: the ladder diagram of one connection, an arrow per event between a client and a
//! server column, with relative times and packet numbers — the view for a projector.

use super::{Style, clean, wrap};
use crate::diagnose::human_ms;
use crate::report::{Connection, EventView};
use crate::units::Role;
use anstyle::{AnsiColor, Style as S};
use std::io::{self, Write};

const LANE: usize = 56;

fn arrow(text: &str, from: Role) -> String {
    let text: String = clean(text).chars().take(LANE - 8).collect();
    let label = format!(" {text} ");
    let n = label.chars().count();
    let fill = LANE.saturating_sub(n + 2);
    let left = 2usize;
    let right = fill.saturating_sub(left);
    match from {
        Role::Client => format!("{}{}{}>", "-".repeat(left), label, "-".repeat(right + 1)),
        Role::Server => format!("<{}{}{}", "-".repeat(right + 1), label, "-".repeat(left)),
    }
}

/// One event's arrow and where it is.
fn ladder_line(e: &EventView<'_>, style: Style, w: &mut impl Write) -> io::Result<()> {
    let a = arrow(e.text, e.from);
    let painted = match e.event {
        "rst" | "violation" | "gap" | "desync" | "http_error" => {
            style.paint(&a, S::new().fg_color(Some(AnsiColor::Red.into())))
        }
        "close" | "fin" => style.paint(&a, S::new().fg_color(Some(AnsiColor::Yellow.into()))),
        "request" | "response" => style.paint(&a, S::new().fg_color(Some(AnsiColor::Cyan.into()))),
        _ => a,
    };
    writeln!(w, "{:>8} {:>12}  |{painted}|", format!("#{}", e.packet), format!("+{}", human_ms(e.at_ms)))
}

pub fn ladder(c: &Connection, style: Style, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{}", style.paint(&format!("Connection #{}  {} -> {}", c.id, c.client, c.server), S::new().bold()))?;
    writeln!(w, "packets {}-{}, {}, started {}", c.first_packet, c.last_packet, human_ms(c.duration_ms), c.start)?;
    writeln!(w)?;
    let cl = format!("client {}", c.client);
    let sv = format!("server {}", c.server);
    let pad = (LANE + 2).saturating_sub(cl.chars().count());
    writeln!(w, "{:>8} {:>12}  {cl}{}{sv}", "packet", "time", " ".repeat(pad))?;
    let mut result = Ok(());
    c.timeline.for_each(|e| {
        if result.is_ok() {
            result = ladder_line(e, style, w);
        }
    });
    result?;
    if c.timeline_events_dropped > 0 {
        writeln!(w, "{:>23}({} more events not kept)", "", c.timeline_events_dropped)?;
    }
    let msgs = &c.websocket.messages;
    if msgs.client.text + msgs.client.binary + msgs.server.text + msgs.server.binary > 0 {
        writeln!(
            w,
            "\nmessages: client {} text / {} binary, server {} text / {} binary",
            msgs.client.text, msgs.client.binary, msgs.server.text, msgs.server.binary
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{}: {}",
        style.paint(c.verdict.kind.as_str(), S::new().bold()),
        wrap(&clean(&c.verdict.summary), style.width.saturating_sub(20), "  ")
    )?;
    writeln!(
        w,
        "client sees {}, server sees {}",
        super::sees_cell(c.verdict.client_sees, c.verdict.kind),
        super::sees_cell(c.verdict.server_sees, c.verdict.kind)
    )?;
    for a in &c.verdict.advice {
        writeln!(w, "  - {}", wrap(&clean(a), style.width.saturating_sub(4), "    "))?;
    }
    writeln!(w, "wireshark: {}", c.wireshark_filter)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_have_the_lane_width() {
        assert_eq!(arrow("SYN", Role::Client).chars().count(), LANE);
        assert_eq!(arrow("SYN-ACK", Role::Server).chars().count(), LANE);
        assert!(arrow("SYN", Role::Client).ends_with('>'));
        assert!(arrow("x", Role::Server).starts_with('<'));
        let long = "x".repeat(200);
        assert_eq!(arrow(&long, Role::Client).chars().count(), LANE);
    }
}
