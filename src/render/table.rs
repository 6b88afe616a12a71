//! The default view: one row per connection, then the explanation of each abnormal one.

use super::{Style, clean, code_cell, wrap};
use crate::diagnose::{Kind, human_ms};
use crate::report::{Connection, Report};
use anstyle::{AnsiColor, Style as S};
use std::io::{self, Write};

const HEAD: [&str; 9] =
    ["id", "client -> server", "path", "status", "close c/s", "first teardown", "duration", "browser", "verdict"];

fn row(c: &Connection) -> [String; 9] {
    let path = c.path().map(|p| {
        let p = clean(p);
        if p.chars().count() > 28 { format!("{}…", p.chars().take(27).collect::<String>()) } else { p }
    });
    let status = c.handshake.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "-".into());
    let code = |role: crate::units::Role| {
        c.websocket
            .close_frames
            .iter()
            .find(|f| f.from == role)
            .map(|f| f.code.map_or_else(|| "none".to_string(), |x| x.to_string()))
            .unwrap_or_else(|| "-".into())
    };
    let closes = format!("{}/{}", code(crate::units::Role::Client), code(crate::units::Role::Server));
    let teardown = c
        .tcp
        .first_teardown
        .as_ref()
        .map(|t| format!("{} {} #{}", t.by, t.kind.to_uppercase(), t.packet))
        .unwrap_or_else(|| "-".into());
    [
        c.id.to_string(),
        format!("{} -> {}", c.client, c.server),
        path.unwrap_or_else(|| "-".into()),
        status,
        closes,
        teardown,
        human_ms(c.duration_ms),
        code_cell(c.verdict.client_sees),
        c.verdict.kind.as_str().to_string(),
    ]
}

fn verdict_style(k: Kind) -> S {
    match k {
        Kind::CleanClose => S::new().fg_color(Some(AnsiColor::Green.into())),
        Kind::StillOpen | Kind::NotWebsocket | Kind::Unknown => S::new().fg_color(Some(AnsiColor::Cyan.into())),
        _ => S::new().fg_color(Some(AnsiColor::Red.into())).bold(),
    }
}

/// The table and the explanations.
pub fn table(report: &Report, style: Style, w: &mut impl Write) -> io::Result<()> {
    for input in &report.inputs {
        for warn in &input.warnings {
            writeln!(
                w,
                "{}",
                style.paint(&format!("warning: {}", clean(warn)), S::new().fg_color(Some(AnsiColor::Yellow.into())))
            )?;
        }
    }
    if report.connections.is_empty() {
        let n: u64 = report.inputs.iter().map(|i| i.packets).sum();
        writeln!(
            w,
            "No WebSocket connections in {n} packets ({} TCP connections; --all shows every TCP connection).",
            report.stats.tcp_connections
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 9]> = report.connections.iter().map(row).collect();
    let mut widths = HEAD.map(|h| h.chars().count());
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 9]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str("  ");
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s
    };
    let head = line(&HEAD.map(String::from));
    writeln!(w, "{}", style.paint(&head, S::new().bold()))?;
    for (r, c) in rows.iter().zip(&report.connections) {
        let mut l = line(r);
        if style.color {
            let k = c.verdict.kind.as_str();
            if let Some(pos) = l.rfind(k) {
                l = format!("{}{}", &l[..pos], style.paint(k, verdict_style(c.verdict.kind)));
            }
        }
        writeln!(w, "{l}")?;
    }
    writeln!(w)?;
    let by: Vec<String> = report.summary.by_verdict.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(w, "{} connection(s): {}", report.summary.connections, by.join(", "))?;
    for l in &report.reconnect_loops {
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, n)| format!("{n}× {k}")).collect();
        let text = format!(
            "Reconnect loop: {} asked {} for {} {} times, every {}–{} (mean {}); outcomes: {}; connections {:?}.",
            l.client_host,
            l.server,
            clean(&l.path),
            l.attempts,
            human_ms(l.interval_ms.min),
            human_ms(l.interval_ms.max),
            human_ms(l.interval_ms.mean),
            outcomes.join(", "),
            l.connections
        );
        writeln!(w, "{}", wrap(&text, style.width, "  "))?;
    }
    let unusual_code =
        |c: &Connection| c.websocket.close_frames.iter().any(|f| !matches!(f.code, None | Some(1000) | Some(1001)));
    for c in report
        .connections
        .iter()
        .filter(|c| !c.verdict.kind.is_normal() || !c.websocket.violations.is_empty() || unusual_code(c))
    {
        writeln!(w)?;
        explain(c, style, w)?;
    }
    Ok(())
}

/// The explanation block of one connection.
pub fn explain(c: &Connection, style: Style, w: &mut impl Write) -> io::Result<()> {
    let title = format!("#{} {} -> {}  {}", c.id, c.client, c.server, c.verdict.kind.as_str());
    writeln!(w, "{}", style.paint(&title, verdict_style(c.verdict.kind)))?;
    writeln!(w, "  {}", wrap(&clean(&c.verdict.summary), style.width.saturating_sub(2), "  "))?;
    writeln!(
        w,
        "  client sees {}, server sees {}",
        c.verdict.client_sees.map_or("nothing yet".into(), |x| x.to_string()),
        c.verdict.server_sees.map_or("nothing yet".into(), |x| x.to_string())
    )?;
    for e in &c.verdict.evidence {
        writeln!(w, "    #{:<6} {:>12}  {}", e.packet, format!("+{}", human_ms(e.at_ms)), clean(&e.text))?;
    }
    if let Some(r) = &c.handshake.response {
        if let Some(b) = &r.body_preview {
            let b: String = clean(b.trim()).chars().take(160).collect();
            writeln!(w, "  body: {}", wrap(&b, style.width.saturating_sub(8), "        "))?;
        }
    }
    if let Some(u) = &c.websocket.heartbeat.last_unanswered {
        if !c.verdict.kind.is_normal() {
            writeln!(
                w,
                "  last unanswered {} from the {} at #{} (+{})",
                u.kind.replace('_', " "),
                u.from,
                u.packet,
                human_ms(u.at_ms)
            )?;
        }
    }
    for a in &c.verdict.advice {
        writeln!(w, "  - {}", wrap(&clean(a), style.width.saturating_sub(4), "    "))?;
    }
    writeln!(w, "  wireshark: {}", c.wireshark_filter)?;
    Ok(())
}
