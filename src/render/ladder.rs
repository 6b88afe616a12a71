//! `--conn N`: the ladder diagram of one connection, an arrow per event between a client and a
//! server column, with relative times and packet numbers — the view for a projector.

use super::{Style, clean, wrap};
use crate::diagnose::human_ms;
use crate::report::{Connection, EventView};
use crate::units::Role;
use anstyle::{AnsiColor, Style as S};
use std::io::{self, Write};

/// The width of the arrows' lane; on a narrower terminal it narrows, down to [`MIN_LANE`].
const LANE: usize = 56;
const MIN_LANE: usize = 24;
/// What stands left of the lane: the packet and time columns and the lane's borders.
const MARGIN: usize = 8 + 1 + 12 + 2 + 2;

fn lane(style: Style) -> usize {
    if style.fit { style.width.saturating_sub(MARGIN).clamp(MIN_LANE, LANE) } else { LANE }
}

/// A label cut to `max` characters, with an ellipsis where it was cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn arrow(text: &str, from: Role, lane: usize) -> String {
    let label = format!(" {} ", cut(&clean(text), lane - 8));
    let n = label.chars().count();
    let fill = lane.saturating_sub(n + 2);
    let left = 2usize;
    let right = fill.saturating_sub(left);
    match from {
        Role::Client => format!("{}{}{}>", "-".repeat(left), label, "-".repeat(right + 1)),
        Role::Server => format!("<{}{}{}", "-".repeat(right + 1), label, "-".repeat(left)),
    }
}

/// One event's arrow and where it is.
fn ladder_line(e: &EventView<'_>, style: Style, w: &mut impl Write) -> io::Result<()> {
    let a = arrow(e.text, e.from, lane(style));
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
    let pad = (lane(style) + 2).saturating_sub(cl.chars().count() + sv.chars().count()).max(1);
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
        for lane in [LANE, MIN_LANE, 40] {
            assert_eq!(arrow("SYN", Role::Client, lane).chars().count(), lane);
            assert_eq!(arrow("SYN-ACK", Role::Server, lane).chars().count(), lane);
            assert!(arrow("SYN", Role::Client, lane).ends_with('>'));
            assert!(arrow("x", Role::Server, lane).starts_with('<'));
            let long = "x".repeat(200);
            assert_eq!(arrow(&long, Role::Client, lane).chars().count(), lane);
        }
        // A label cut short says so.
        let a = arrow("Close 1000 from the client: a reason that goes on and on", Role::Client, MIN_LANE);
        assert!(a.contains('…'), "{a}");
    }

    #[test]
    fn the_lane_narrows_with_a_terminal_only() {
        assert_eq!(lane(Style { color: false, width: 70, fit: true }), 70 - MARGIN);
        assert_eq!(lane(Style { color: false, width: 30, fit: true }), MIN_LANE);
        assert_eq!(lane(Style { color: false, width: 200, fit: true }), LANE);
        assert_eq!(lane(Style { color: false, width: 70, fit: false }), LANE);
    }
}
