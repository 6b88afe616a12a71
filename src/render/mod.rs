//! Renderers: pure functions of the report writing to any `Write` (hyperfine's `export` style).
//! Only these write to stdout; colour is a flag decided at the edge.

pub mod html;
pub mod json;
mod ladder;
pub mod table;

pub use html::html;
pub use ladder::ladder;
pub use table::{
    Widths, explain, needs_explaining, row, table, write_empty, write_files, write_head, write_proxied, write_row,
    write_summary, write_tls_note,
};

use crate::diagnose::across::{ProxyPair, ReconnectLoop};
use crate::report::{Connection, Input, Report, Stats, Summary};
use std::io::{self, Write};

/// How text output looks.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    /// Wrap prose at this width.
    pub width: usize,
    /// Fit the table and the ladder into `width` too (a terminal's), leaving columns out.
    pub fit: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style { color: false, width: 100, fit: false }
    }
}

impl Style {
    pub(crate) fn paint(&self, s: &str, style: anstyle::Style) -> String {
        if self.color { format!("{}{s}{}", style.render(), style.render_reset()) } else { s.to_string() }
    }
}

/// The whole report as one JSON document.
pub fn json<W: Write>(report: &Report, w: &mut W) -> io::Result<()> {
    let parts = ReportParts {
        inputs: &report.inputs,
        summary: &report.summary,
        reconnect_loops: &report.reconnect_loops,
        stats: &report.stats,
    };
    let proxied = Elements { any: !report.proxied.is_empty(), write: |w: &mut W| write_elements(&report.proxied, w) };
    write_report(&parts, !report.connections.is_empty(), w, |w| write_elements(&report.connections, w), proxied)
}

/// The elements of an array member, each as [`json_element`] makes it, [`RECORD_END`] between.
fn write_elements(values: &[impl serde::Serialize], w: &mut impl Write) -> io::Result<()> {
    let mut element = Vec::new();
    for (i, v) in values.iter().enumerate() {
        element.clear();
        json_element(v, &mut element)?;
        if i > 0 {
            w.write_all(RECORD_END)?;
        }
        w.write_all(&element)?;
    }
    Ok(())
}

/// What stands around each record in the `connections` array: its indent before, and the comma
/// and line between two records.
pub const RECORD_END: &[u8] = b",\n";
const RECORD_INDENT: &[u8] = b"    ";

/// A connection as one element of the report's `connections` array: indented and pretty
/// ([`RECORD_END`] goes between two).
pub fn json_record(c: &Connection, w: &mut Vec<u8>) -> io::Result<()> {
    json_element(c, w)
}

/// An array member written element by element (each as [`json_element`] makes them,
/// [`RECORD_END`] between two) instead of from a slice: `any` says whether there is one.
pub struct Elements<F> {
    pub any: bool,
    pub write: F,
}

/// A value as one element of an array member of the report: indented and pretty.
pub fn json_element(v: &impl serde::Serialize, w: &mut Vec<u8>) -> io::Result<()> {
    w.extend_from_slice(RECORD_INDENT);
    json::pretty(v, 2, w).map_err(io::Error::from)
}

/// The members of a report other than its connections.
pub struct ReportParts<'a> {
    pub inputs: &'a [Input],
    pub summary: &'a Summary,
    pub reconnect_loops: &'a [ReconnectLoop],
    pub stats: &'a Stats,
}

/// The JSON document, byte for byte what serde_json's pretty printer writes for a [`Report`]:
/// `records` writes the elements of the `connections` array (each as [`json_record`] makes
/// them, [`RECORD_END`] between two), `any` says whether there is one; `proxied` the elements
/// of the `proxied` array.
pub fn write_report<W: Write, P: FnOnce(&mut W) -> io::Result<()>>(
    parts: &ReportParts<'_>,
    any: bool,
    w: &mut W,
    records: impl FnOnce(&mut W) -> io::Result<()>,
    proxied: Elements<P>,
) -> io::Result<()> {
    writeln!(w, "{{")?;
    writeln!(w, "  \"tool\": \"wsdiag\",")?;
    write_member(w, "version", env!("CARGO_PKG_VERSION"), ",")?;
    writeln!(w, "  \"schema\": {},", crate::report::SCHEMA)?;
    write_member(w, "inputs", parts.inputs, ",")?;
    if any {
        writeln!(w, "  \"connections\": [")?;
        records(w)?;
        writeln!(w)?;
        writeln!(w, "  ],")?;
    } else {
        writeln!(w, "  \"connections\": [],")?;
    }
    write_member(w, "summary", parts.summary, ",")?;
    write_member(w, "reconnect_loops", parts.reconnect_loops, ",")?;
    if proxied.any {
        writeln!(w, "  \"proxied\": [")?;
        (proxied.write)(w)?;
        writeln!(w)?;
        writeln!(w, "  ],")?;
    } else {
        writeln!(w, "  \"proxied\": [],")?;
    }
    write_member(w, "stats", parts.stats, "")?;
    writeln!(w, "}}")
}

/// `  "name": VALUE,` with the pretty-printed value one level deep.
fn write_member(
    w: &mut impl Write,
    name: &str,
    value: &(impl serde::Serialize + ?Sized),
    after: &str,
) -> io::Result<()> {
    write!(w, "  \"{name}\": ")?;
    let mut buf = Vec::new();
    json::pretty(&value, 1, &mut buf)?;
    w.write_all(&buf)?;
    writeln!(w, "{after}")
}

/// Pretty JSON of a connection as serde_json's pretty printer writes it, but as if nested
/// `depth` levels deep in a larger document (every line after the first indented by `depth`
/// more levels), into a buffer.
pub fn json_connection(c: &Connection, depth: usize, w: &mut Vec<u8>) -> io::Result<()> {
    json::pretty(c, depth, w).map_err(io::Error::from)
}

/// One connection as one line of JSON.
pub fn ndjson(conn: &Connection, w: &mut impl Write) -> io::Result<()> {
    let mut line = Vec::with_capacity(8 << 10);
    ndjson_line(conn, &mut line)?;
    w.write_all(&line)
}

/// [`ndjson`] into a buffer: `serde_json::to_writer`'s bytes and a newline.
pub fn ndjson_line(conn: &Connection, line: &mut Vec<u8>) -> io::Result<()> {
    json::compact(conn, line)?;
    line.push(b'\n');
    Ok(())
}

/// The NDJSON lines after the connection lines: one per reconnect loop, one per proxied pair.
pub fn ndjson_findings(
    loops: &[ReconnectLoop],
    pairs: &[ProxyPair],
    sensor: &str,
    w: &mut impl Write,
) -> io::Result<()> {
    let mut line = Vec::new();
    let mut put = |l: &crate::report::NdjsonLine| -> io::Result<()> {
        line.clear();
        json::compact(l, &mut line)?;
        line.push(b'\n');
        w.write_all(&line)
    };
    for l in loops {
        let uids: Vec<&str> = l.uids.iter().map(String::as_str).collect();
        put(&crate::report::NdjsonLine::ReconnectLoop(crate::report::FindingLine::new(
            "reconnect_loop",
            sensor,
            &uids,
            l.clone(),
        )))?;
    }
    for p in pairs {
        let uids = [p.front_uid.as_str(), p.back_uid.as_str()];
        put(&crate::report::NdjsonLine::Proxied(crate::report::FindingLine::new("proxied", sensor, &uids, p.clone())))?;
    }
    Ok(())
}

/// The pattern a connection falls into, as the grouped explanations title it: its verdict, the
/// answer and who sent it, the path, the close codes.
pub fn pattern(c: &Connection) -> String {
    use std::fmt::Write as _;
    let mut t = String::with_capacity(96);
    t.push_str(c.verdict.kind.as_str());
    // Writing to a String cannot fail.
    if let Some(r) = &c.handshake.response {
        let _ = write!(t, ": {} ", r.status);
        t.extend(r.reason.chars().map(clean_char));
        t.truncate(t.trim_end().len());
        match (&r.server, r.software) {
            (Some(sv), _) => {
                t.push_str(" from ");
                t.extend(sv.chars().map(clean_char));
            }
            // Known by its signature (Daphne's refusals carry no Server field).
            (None, Some(name)) => {
                t.push_str(" from ");
                t.push_str(name);
            }
            (None, None) => {}
        }
    } else if c.handshake.request.is_some() {
        t.push_str(": no answer");
    }
    if let Some(p) = c.path() {
        t.push_str(" on ");
        t.extend(p.chars().map(clean_char));
    }
    if !c.websocket.close_frames.is_empty() {
        let _ = write!(t, ", Close {} (client/server)", table::CloseCodes(c));
    }
    t
}

/// "3-5, 9, 12-40": the ranges of `ids` (all of a set, or its lowest), at most 12; when the
/// set has more than they show (`total` ids in all, the largest `max`), "… and N more up to M".
pub fn id_ranges(ids: &[u64], total: u64, max: u64) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for id in sorted {
        let full = ranges.len() == 12;
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == id => *hi = id,
            _ if full => break,
            _ => ranges.push((id, id)),
        }
    }
    let text = |(lo, hi): &(u64, u64)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
    let mut out: Vec<String> = ranges.iter().map(text).collect();
    let shown: u64 = ranges.iter().map(|(lo, hi)| hi - lo + 1).sum();
    let last = ranges.last().map_or(0, |r| r.1);
    if total > shown {
        let up_to = if max > last { format!(" up to {max}") } else { String::new() };
        out.push(format!("… and {} more{up_to}", total - shown));
    }
    out.join(", ")
}

/// "10:00:01.123-10:01:40.456" (UTC times of day), or one time.
pub fn time_span(first_ns: i64, last_ns: i64) -> String {
    let t = |ns: i64| crate::units::Timestamp(ns).time_of_day();
    if first_ns == last_ns { t(first_ns) } else { format!("{}-{}", t(first_ns), t(last_ns)) }
}

/// One line per connection, for live capture: what ended, how, and what the browser sees.
pub fn line(c: &Connection, w: &mut impl Write) -> io::Result<()> {
    let status = c.handshake.response.as_ref().map_or_else(|| "-".to_string(), |r| r.status.to_string());
    writeln!(
        w,
        "#{} {} -> {} {} [{}] {} (browser sees {}): {}",
        c.id,
        c.client,
        c.server,
        clean(c.path().unwrap_or("-")),
        status,
        c.verdict.kind.as_str(),
        code_cell(c.verdict.client_sees),
        clean(&c.verdict.summary)
    )
}

/// Replaces control characters so that captured text cannot drive the terminal.
pub fn clean(s: &str) -> String {
    s.chars().map(clean_char).collect()
}

/// [`clean`] for one character.
pub fn clean_char(c: char) -> char {
    if c.is_control() { '·' } else { c }
}

/// Wraps `text` at `width`, each line after the first indented by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for word in text.split(' ') {
        let wl = word.chars().count();
        if line > 0 && line + 1 + wl > width {
            out.push('\n');
            out.push_str(indent);
            line = indent.chars().count();
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += wl;
    }
    out
}

/// What an endpoint reports, in the explanations: its close code, or why there is none.
pub(crate) fn sees_cell(code: Option<u16>, kind: crate::diagnose::Kind) -> String {
    use crate::diagnose::Kind;
    match (code, kind) {
        (Some(c), _) => c.to_string(),
        (None, Kind::StillOpen) => "nothing yet (still open)".into(),
        (None, Kind::PathLost) => "nothing yet (its connection had not ended when the capture did)".into(),
        (None, Kind::Unknown) => "what the capture cannot tell".into(),
        (None, Kind::ClientAbort) => "nothing (it ended the connection itself)".into(),
        (
            None,
            Kind::Refused
            | Kind::Unreachable
            | Kind::HandshakeRejected
            | Kind::HandshakeUnanswered
            | Kind::InvalidHandshake
            | Kind::TlsFailed,
        ) => "nothing (no WebSocket opened)".into(),
        // A browser that closed its socket as its page went away.
        (None, Kind::CloseUnanswered) => "nothing (its page was left)".into(),
        (None, _) => "no close code".into(),
    }
}

/// What an endpoint reports, as a cell.
pub fn code_cell(c: Option<u16>) -> String {
    c.map_or_else(|| "-".to_string(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The captures in `captures/`, sorted.
    fn shipped_captures() -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir("captures")
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        files.retain(|f| f.ends_with(".pcap") || f.ends_with(".pcapng") || f.ends_with(".gz"));
        files.sort();
        assert!(files.len() > 20, "captures: {files:?}");
        files
    }

    /// The document `write_report` writes (the binary's way, records one by one) is serde_json's
    /// pretty rendering of the whole `Report`, for every shipped capture, with and without
    /// connections.
    #[test]
    fn write_report_is_serde_jsons_report() {
        for f in shipped_captures() {
            let (conns, stats, inputs) = crate::analyze_files(&[f.as_str()], crate::Config::default());
            let mut report = crate::build_report(inputs, conns, stats);
            for _ in 0..2 {
                let mut want = serde_json::to_vec_pretty(&report).unwrap_or_default();
                want.push(b'\n');
                let mut got = Vec::new();
                json(&report, &mut got).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{f}");
                report.connections.clear();
            }
        }
    }

    /// Every connection of every shipped capture, and one with texts that need escaping and odd
    /// times, is serde_json's rendering byte for byte: pretty at several depths and compact.
    #[test]
    fn json_connection_is_serde_jsons() {
        let files = shipped_captures();
        let mut conns = Vec::new();
        for f in &files {
            let (c, _, _) = crate::analyze_files(&[f.as_str()], crate::Config::default());
            conns.extend(c);
        }
        assert!(conns.len() > 30, "{}", conns.len());
        let Some(mut odd) = conns.iter().find(|c| c.timeline.len() > 5).cloned() else { panic!("no timeline") };
        use crate::timeline::EventKind;
        use crate::units::Role;
        odd.timeline = crate::report::Events::from_parts(vec![
            (
                0.0,
                1,
                Role::Client,
                EventKind::HttpError("quote \" backslash \\ tab \t nl \n nul \u{0} del \u{7f} é 𝄞".into()),
            ),
            (2.5, 2, Role::Server, EventKind::Syn),
            (3.0, 3, Role::Client, EventKind::Ping { len: 3 }),
            (4.0, 4, Role::Server, EventKind::HttpError(String::new())),
        ]);
        odd.duration_ms = 1e21;
        odd.handshake.latency_ms = Some(0.1 + 0.2);
        odd.verdict.summary = "\u{1b}[31m".into();
        conns.push(odd);
        let mut empty = conns[0].clone();
        empty.timeline = crate::report::Events::default();
        conns.push(empty);
        for c in &conns {
            for depth in [0, 2, 5] {
                // serde_json's pretty printer, every line after the first indented `depth` more
                // levels (a JSON string holds no raw newline).
                let flat = serde_json::to_string_pretty(c).unwrap_or_default();
                let want = flat.replace('\n', &format!("\n{}", "  ".repeat(depth))).into_bytes();
                let mut got = b"prefix".to_vec();
                json_connection(c, depth, &mut got).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    String::from_utf8_lossy(&got[6..]),
                    String::from_utf8_lossy(&want),
                    "#{} depth {depth}",
                    c.id
                );
            }
            let mut want = serde_json::to_vec(c).unwrap_or_default();
            want.push(b'\n');
            let mut got = Vec::new();
            ndjson(c, &mut got).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "#{}", c.id);
        }
    }
}
