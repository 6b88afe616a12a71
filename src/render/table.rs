//! The default view: one row per connection, then the explanation of each abnormal one.

use super::{Style, clean, clean_char, wrap};
use crate::diagnose::across::{ProxyPair, ReconnectLoop};
use crate::diagnose::{HumanMs, Kind, human_ms};
use crate::report::{Connection, Input, Report, Stats, Summary};
use anstyle::{AnsiColor, Style as S};
use std::io::{self, Write};

const HEAD: [&str; N] = [
    "id",
    "file",
    "client -> server",
    "packets",
    "bytes c/s",
    "path",
    "status",
    "close c/s",
    "first teardown",
    "duration",
    "browser",
    "verdict",
];
/// Columns in the table.
pub const N: usize = 12;
/// The `file` column: shown when the rows come from several input files.
const FILE: usize = 1;
/// The order columns are left out in when a terminal is too narrow for the table (id,
/// endpoints and verdict always stay).
const DROP_ORDER: [usize; 9] = [4, 3, 9, 5, FILE, 8, 7, 6, 10];

/// Each side's first Close code as the table's "close c/s" cell: `1000/1011`, `none` for a
/// Close without a code, `-` for no Close.
pub struct CloseCodes<'a>(pub &'a Connection);

impl std::fmt::Display for CloseCodes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = |f: &mut std::fmt::Formatter<'_>, role: crate::units::Role| match self
            .0
            .websocket
            .close_frames
            .iter()
            .find(|c| c.from == role)
        {
            Some(c) => match c.code {
                Some(x) => write!(f, "{x}"),
                None => f.write_str("none"),
            },
            None => f.write_str("-"),
        };
        code(f, crate::units::Role::Client)?;
        f.write_str("/")?;
        code(f, crate::units::Role::Server)
    }
}

/// The cells of a row, in one buffer: cell `i` is `text[ends[i - 1]..ends[i]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cells {
    text: String,
    ends: [usize; N],
}

impl Cells {
    pub fn from_strs(cells: [&str; N]) -> Self {
        let mut out = Cells::default();
        for (i, c) in cells.iter().enumerate() {
            out.text.push_str(c);
            out.ends[i] = out.text.len();
        }
        out
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..N).map(|i| self.get(i).unwrap_or(""))
    }

    /// Ends cell `i` where the text now ends.
    fn end(&mut self, i: usize) {
        self.ends[i] = self.text.len();
    }

    /// The cells as bytes: each cell's length (u32, little-endian), then the text.
    pub fn encode(&self, w: &mut Vec<u8>) {
        let mut start = 0;
        for &end in &self.ends {
            w.extend_from_slice(&((end - start) as u32).to_le_bytes());
            start = end;
        }
        w.extend_from_slice(self.text.as_bytes());
    }

    /// Reads [`Cells::encode`]'s bytes into `self`; None if they are not such bytes.
    pub fn decode(&mut self, rec: &[u8]) -> Option<()> {
        let (lens, text) = rec.split_at_checked(4 * N)?;
        let mut end = 0usize;
        for (i, len) in lens.chunks_exact(4).enumerate() {
            end = end.checked_add(u32::from_le_bytes(len.try_into().ok()?) as usize)?;
            self.ends[i] = end;
        }
        let text = std::str::from_utf8(text).ok()?;
        if end != text.len() || (1..N).any(|i| !text.is_char_boundary(self.ends[i - 1])) {
            return None;
        }
        self.text.clear();
        self.text.push_str(text);
        Some(())
    }
}

impl std::ops::Index<usize> for Cells {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i).unwrap_or("")
    }
}

/// The cells of a connection's row.
pub fn row(c: &Connection) -> Cells {
    use std::fmt::Write as _;
    let mut r = Cells { text: String::with_capacity(160), ends: [0; N] };
    let t = &mut r.text;
    // Writing to a String cannot fail.
    let _ = write!(t, "{}", c.id);
    r.end(0);
    let (first, last) = (c.input.index + 1, c.input.last_index + 1);
    let t = &mut r.text;
    let _ = if first == last { write!(t, "{first}") } else { write!(t, "{first}-{last}") };
    r.end(1);
    let _ = write!(r.text, "{} -> {}", c.client, c.server);
    r.end(2);
    let _ = write!(r.text, "{}-{}", c.first_packet, c.last_packet);
    r.end(3);
    let _ = write!(r.text, "{}/{}", c.tcp.bytes.client, c.tcp.bytes.server);
    r.end(4);
    match c.path() {
        Some(p) => {
            let at = r.text.len();
            r.text.extend(p.chars().map(clean_char));
            if r.text[at..].chars().count() > 28 {
                let cut = r.text[at..].char_indices().nth(27).map_or(r.text.len(), |(i, _)| at + i);
                r.text.truncate(cut);
                r.text.push('…');
            }
        }
        None => r.text.push('-'),
    }
    r.end(5);
    match &c.handshake.response {
        Some(resp) => {
            let _ = write!(r.text, "{}", resp.status);
        }
        None => r.text.push('-'),
    }
    r.end(6);
    let _ = write!(r.text, "{}", CloseCodes(c));
    r.end(7);
    match &c.tcp.first_teardown {
        Some(t) => {
            let _ = write!(r.text, "{} {} #{}", t.by, t.kind.upper(), t.packet);
        }
        None => r.text.push('-'),
    }
    r.end(8);
    let _ = write!(r.text, "{}", HumanMs(c.duration_ms));
    r.end(9);
    // A back leg's client is the proxy: the browser is on the front leg's row.
    if c.handshake.request.as_ref().is_some_and(|q| q.client == Some("proxy")) {
        r.text.push_str("proxy");
    } else {
        match c.verdict.client_sees {
            Some(code) => {
                let _ = write!(r.text, "{code}");
            }
            None => r.text.push('-'),
        }
    }
    r.end(10);
    r.text.push_str(c.verdict.kind.as_str());
    // What the capture lacks, where the summary says what that hides.
    match (c.tcp.partial && c.handshake.request.is_none(), c.tcp.gaps > 0) {
        (true, _) => r.text.push_str(" (mid-connection)"),
        (false, true) => r.text.push_str(" (incomplete)"),
        (false, false) => {}
    }
    r.end(11);
    r
}

pub(crate) fn verdict_style(k: Kind) -> S {
    match k {
        Kind::CleanClose => S::new().fg_color(Some(AnsiColor::Green.into())),
        Kind::StillOpen | Kind::NotWebsocket | Kind::Unknown => S::new().fg_color(Some(AnsiColor::Cyan.into())),
        _ => S::new().fg_color(Some(AnsiColor::Red.into())).bold(),
    }
}

/// Column widths, grown row by row (so rows can be streamed from elsewhere), and whether the
/// rows came from more than one file.
#[derive(Clone, Copy, Debug)]
pub struct Widths {
    widths: [usize; N],
    several_files: bool,
}

impl Default for Widths {
    fn default() -> Self {
        Widths { widths: HEAD.map(|h| h.chars().count()), several_files: false }
    }
}

impl Widths {
    pub fn add(&mut self, cells: &Cells) {
        for (i, cell) in cells.iter().enumerate() {
            self.widths[i] = self.widths[i].max(cell.chars().count());
        }
        self.several_files |= &cells[FILE] != "1";
    }

    /// The columns shown: all but `file` for one input file; on a terminal (`style.fit`) as
    /// many as fit its width, leaving out the least telling first — a row is never wrapped.
    fn shown(&self, style: Style) -> [bool; N] {
        let mut shown = [true; N];
        shown[FILE] = self.several_files;
        let width = |shown: &[bool; N]| -> usize {
            let cols = self.widths.iter().zip(shown).filter(|(_, s)| **s);
            cols.map(|(w, _)| w + 2).sum::<usize>().saturating_sub(2)
        };
        if style.fit {
            for col in DROP_ORDER {
                if width(&shown) <= style.width {
                    break;
                }
                shown[col] = false;
            }
        }
        shown
    }

    fn line(&self, cells: &Cells, style: Style) -> String {
        let shown = self.shown(style);
        let last = (0..N).rev().find(|&i| shown[i]).unwrap_or(0);
        let mut s = String::with_capacity(self.widths.iter().sum::<usize>() + 2 * N + 16);
        for (i, c) in cells.iter().enumerate() {
            if !shown[i] {
                continue;
            }
            let pad = std::iter::repeat_n(' ', self.widths[i].saturating_sub(c.chars().count()));
            if i == 0 {
                s.extend(pad);
                s.push_str(c);
            } else {
                s.push_str("  ");
                s.push_str(c);
                if i < last {
                    s.extend(pad);
                }
            }
        }
        s
    }
}

/// Does this connection get an explanation block under the table?
pub fn needs_explaining(c: &Connection) -> bool {
    let unusual_code = c.websocket.close_frames.iter().any(|f| !matches!(f.code, None | Some(1000) | Some(1001)));
    let lacking = c.verdict.kind != Kind::StillOpen && (c.tcp.partial || c.tcp.gaps > 0);
    !c.verdict.kind.is_normal() || !c.websocket.violations.is_empty() || unusual_code || lacking
}

pub fn write_head(widths: &Widths, style: Style, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{}", style.paint(&widths.line(&Cells::from_strs(HEAD), style), S::new().bold()))
}

pub fn write_row(widths: &Widths, cells: &Cells, kind: Kind, style: Style, w: &mut impl Write) -> io::Result<()> {
    let mut l = widths.line(cells, style);
    if style.color {
        let k = kind.as_str();
        if let Some(pos) = l.rfind(k) {
            l = format!("{}{}", &l[..pos], style.paint(k, verdict_style(kind)));
        }
    }
    writeln!(w, "{l}")
}

/// What is printed when no connection is shown; `filtered` connections were left out by the
/// filters (`--port`, `--verdict`, …).
pub fn write_empty(packets: u64, stats: &Stats, filtered: u64, w: &mut impl Write) -> io::Result<()> {
    if filtered > 0 {
        writeln!(w, "No connection matched the filters ({filtered} without them).")?;
        return write_tls_note(stats, w);
    }
    writeln!(
        w,
        "No WebSocket connections in {packets} packets ({} TCP connections; --all shows every TCP connection).",
        stats.tcp_connections
    )?;
    write_tls_note(stats, w)
}

/// wss is TLS: say so when TLS connections were left out.
pub fn write_tls_note(stats: &Stats, w: &mut impl Write) -> io::Result<()> {
    if stats.tls_hidden > 0 {
        writeln!(
            w,
            "{} TLS connection(s) not shown: not decrypted, and nothing in their handshake looks like a WebSocket (--all shows them, --keylog decrypts them).",
            stats.tls_hidden
        )?;
    }
    Ok(())
}

/// Which file each `file` number is, when there are several (a rotation set's pieces are
/// numbered as files too, and said to be one capture).
pub fn write_files(inputs: &[Input], w: &mut impl Write) -> io::Result<()> {
    if inputs.len() < 2 {
        return Ok(());
    }
    writeln!(w)?;
    for (i, input) in inputs.iter().enumerate() {
        let what = match (input.capture, input.piece) {
            (None, _) | (_, None) => "not read".to_string(),
            (Some(c), Some(p)) => {
                let pieces = inputs.iter().filter(|x| x.capture == Some(c)).count();
                if pieces > 1 {
                    format!("{} packets, piece {p} of {pieces} of one capture", input.packets)
                } else {
                    format!("{} packets", input.packets)
                }
            }
        };
        writeln!(w, "file {}: {} ({what})", i + 1, clean(&input.path))?;
    }
    Ok(())
}

/// The count per verdict, the reconnect loops and the proxied pairs.
pub fn write_summary(
    summary: &Summary,
    loops: &[ReconnectLoop],
    pairs: &[ProxyPair],
    style: Style,
    w: &mut impl Write,
) -> io::Result<()> {
    writeln!(w)?;
    let by: Vec<String> = summary.by_verdict.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(w, "{} connection(s): {}", summary.connections, by.join(", "))?;
    for l in loops {
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, n)| format!("{n}× {k}")).collect();
        let text = format!(
            "Reconnect loop: {} asked {} for {} {} times, every {}–{} (mean {}); outcomes: {}; connections {}.",
            l.client_host,
            l.server,
            clean(&l.path),
            l.attempts,
            human_ms(l.interval_ms.min),
            human_ms(l.interval_ms.max),
            human_ms(l.interval_ms.mean),
            outcomes.join(", "),
            super::id_ranges(&l.connections, l.attempts as u64, l.connections.iter().max().copied().unwrap_or(0))
        );
        writeln!(w, "{}", wrap(&text, style.width, "  "))?;
    }
    for p in pairs {
        write_proxied(&p.summary, style, w)?;
    }
    Ok(())
}

/// A proxied pair's line under the table.
pub fn write_proxied(summary: &str, style: Style, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{}", wrap(&format!("Proxied: {}", clean(summary)), style.width, "  "))
}

/// The table and the explanations.
pub fn table(report: &Report, style: Style, w: &mut impl Write) -> io::Result<()> {
    if report.connections.is_empty() {
        let n: u64 = report.inputs.iter().map(|i| i.packets).sum();
        return write_empty(n, &report.stats, 0, w);
    }
    let rows: Vec<Cells> = report.connections.iter().map(row).collect();
    let mut widths = Widths::default();
    for r in &rows {
        widths.add(r);
    }
    write_head(&widths, style, w)?;
    for (r, c) in rows.iter().zip(&report.connections) {
        write_row(&widths, r, c.verdict.kind, style, w)?;
    }
    write_files(&report.inputs, w)?;
    write_summary(&report.summary, &report.reconnect_loops, &report.proxied, style, w)?;
    write_tls_note(&report.stats, w)?;
    for c in report.connections.iter().filter(|c| needs_explaining(c)) {
        writeln!(w)?;
        explain(c, style, w)?;
    }
    Ok(())
}

/// The explanation block of one connection.
pub fn explain(c: &Connection, style: Style, w: &mut impl Write) -> io::Result<()> {
    let title = format!(
        "#{} {} -> {}  {} (outcome: {})",
        c.id,
        c.client,
        c.server,
        c.verdict.kind.as_str(),
        c.verdict.outcome.as_str()
    );
    writeln!(w, "{}", style.paint(&title, verdict_style(c.verdict.kind)))?;
    writeln!(w, "  {}", wrap(&clean(&c.verdict.summary), style.width.saturating_sub(2), "  "))?;
    writeln!(
        w,
        "  client sees {}, server sees {}",
        super::sees_cell(c.verdict.client_sees, c.verdict.kind),
        super::sees_cell(c.verdict.server_sees, c.verdict.kind)
    )?;
    for e in &c.verdict.evidence {
        writeln!(w, "    #{:<6} {:>12}  {}", e.packet, format!("+{}", human_ms(e.at_ms)), clean(&e.text))?;
    }
    if let Some(r) = &c.handshake.response
        && let Some(b) = &r.body_preview
    {
        let b: String = clean(b.trim()).chars().take(160).collect();
        writeln!(w, "  body: {}", wrap(&b, style.width.saturating_sub(8), "        "))?;
    }
    let hb = &c.websocket.heartbeat;
    let mut beats = Vec::new();
    for (what, pair) in [("Ping", &hb.ping), ("Pong", &hb.pong), ("app ping", &hb.app_ping), ("app pong", &hb.app_pong)]
    {
        for (who, h) in [("client", &pair.client), ("server", &pair.server)] {
            if let Some(h) = h {
                let every = h.interval_ms.map(|i| format!(" every {}", human_ms(i))).unwrap_or_default();
                beats.push(format!("{who} {what} ×{}{every}", h.count));
            }
        }
    }
    if !beats.is_empty() {
        writeln!(w, "  heartbeats: {}", beats.join(", "))?;
    }
    if let Some(u) = &c.websocket.heartbeat.last_unanswered
        && !c.verdict.kind.is_normal()
    {
        writeln!(
            w,
            "  last unanswered {} from the {} at #{} (+{})",
            u.kind.replace('_', " "),
            u.from,
            u.packet,
            human_ms(u.at_ms)
        )?;
    }
    for a in &c.verdict.advice {
        writeln!(w, "  - {}", wrap(&clean(a), style.width.saturating_sub(4), "    "))?;
    }
    writeln!(w, "  wireshark: {}", c.wireshark_filter)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_and_damage_is_refused() {
        let cells = Cells::from_strs(["7", "1", "a -> b", "", "é/…", "/chat", "101", "-/-", "-", "1 ms", "-", "x"]);
        assert_eq!(cells.iter().collect::<Vec<_>>()[..5], ["7", "1", "a -> b", "", "é/…"]);
        assert_eq!((&cells[11], cells.get(N)), ("x", None));
        let mut bytes = Vec::new();
        cells.encode(&mut bytes);
        let mut back = Cells::default();
        assert_eq!(back.decode(&bytes), Some(()));
        assert_eq!(back, cells);
        for cut in 0..bytes.len() {
            assert_eq!(Cells::default().decode(&bytes[..cut]), None, "cut at {cut}");
        }
        // A length that splits a character, and one past the text.
        let mut split = bytes.clone();
        split[4 * 4..4 * 4 + 4].copy_from_slice(&1u32.to_le_bytes());
        split[5 * 4..5 * 4 + 4].copy_from_slice(&(5 + 5u32).to_le_bytes());
        assert_eq!(Cells::default().decode(&split), None);
        let mut long = bytes.clone();
        long[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Cells::default().decode(&long), None);
    }

    /// The row of a shipped connection, cell by cell.
    #[test]
    fn row_cells_of_a_real_connection() {
        let (conns, _, _) = crate::analyze_files(&["captures/daphne-close-4001.pcap"], crate::Config::default());
        let Some(c) = conns.first() else { panic!("no connection") };
        let r = row(c);
        assert_eq!(&r[0], c.id.to_string());
        assert_eq!(&r[2], format!("{} -> {}", c.client, c.server));
        assert_eq!(&r[6], "101");
        assert_eq!(&r[7], CloseCodes(c).to_string());
        assert!(r[7].contains("4001"), "{:?}", &r[7]);
        assert_eq!(&r[9], human_ms(c.duration_ms));
        assert_eq!(&r[11], c.verdict.kind.as_str());
    }
}
