//! Renderers: pure functions of the report writing to any `Write` (hyperfine's `export` style).
//! Only these write to stdout; colour is a flag decided at the edge.

pub mod json;
mod ladder;
pub mod table;

pub use ladder::ladder;
pub use table::{
    Widths, explain, needs_explaining, row, table, write_empty, write_head, write_row, write_summary, write_tls_note,
};

use crate::report::{Connection, Report, ReportOptions};
use crate::timeline::Timeline;
use std::io::{self, Write};

/// How text output looks.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    /// Wrap prose at this width.
    pub width: usize,
}

impl Default for Style {
    fn default() -> Self {
        Style { color: false, width: 100 }
    }
}

impl Style {
    pub(crate) fn paint(&self, s: &str, style: anstyle::Style) -> String {
        if self.color { format!("{}{s}{}", style.render(), style.render_reset()) } else { s.to_string() }
    }
}

/// The whole report as one JSON document.
pub fn json(report: &Report, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report).map_err(io::Error::other)?;
    writeln!(w)
}

/// Pretty JSON of `value` as serde_json's pretty printer writes it, but as if nested `depth`
/// levels deep in a larger document: every line after the first is indented by `depth` more
/// levels. The binary streams the report's connections this way, one at a time.
pub fn json_nested(value: &impl serde::Serialize, depth: usize, w: &mut impl Write) -> io::Result<()> {
    let mut buf = Vec::new();
    json::pretty(value, depth, &mut buf)?;
    w.write_all(&buf)
}

/// [`json_nested`] for a connection, into a buffer (`tests` compare it with serde_json's pretty
/// printer on every capture).
pub fn json_connection(c: &Connection, depth: usize, w: &mut Vec<u8>) -> io::Result<()> {
    json::pretty(c, depth, w).map_err(io::Error::from)
}

/// [`json_connection`] for a connection built without its timeline
/// ([`ReportOptions::no_timeline`]), its events written here from the timeline it was built
/// from: the same bytes as the connection built with them, without a `String` per event.
pub fn json_connection_from(
    c: &Connection,
    tl: &Timeline,
    opts: ReportOptions,
    depth: usize,
    w: &mut Vec<u8>,
) -> io::Result<()> {
    let start = w.len();
    let marked = json::pretty_marked(c, depth, "timeline", w)?;
    splice_events(start, marked, tl, opts, Some(depth + 1), w)
}

/// [`ndjson_line`] for a connection built without its timeline, as [`json_connection_from`].
pub fn ndjson_line_from(c: &Connection, tl: &Timeline, opts: ReportOptions, line: &mut Vec<u8>) -> io::Result<()> {
    let start = line.len();
    let marked = json::compact_marked(c, "timeline", line)?;
    splice_events(start, marked, tl, opts, None, line)?;
    line.push(b'\n');
    Ok(())
}

/// Puts the events of `tl` into the connection written from `start` on, whose `timeline` member
/// ends at `marked` (pretty at `level`, or compact).
fn splice_events(
    start: usize,
    marked: Option<usize>,
    tl: &Timeline,
    opts: ReportOptions,
    level: Option<usize>,
    w: &mut Vec<u8>,
) -> io::Result<()> {
    if opts.no_timeline || tl.events.is_empty() {
        return Ok(());
    }
    // The member was written as `[]` (the connection holds no events): the events go there.
    let Some(end) = marked.filter(|&e| e >= start + 2 && w.get(e - 2..e) == Some(b"[]")) else {
        return Err(io::Error::other("no empty timeline member in a connection's JSON"));
    };
    let tail = w.split_off(end);
    w.truncate(end - 2);
    write_events(tl, opts, level, w);
    w.extend_from_slice(&tail);
    Ok(())
}

/// The timeline array as serde_json writes it: pretty with its key at `level`, or compact.
fn write_events(tl: &Timeline, opts: ReportOptions, level: Option<usize>, w: &mut Vec<u8>) {
    // What stands between the values of an event is the same for every event: made once.
    let line = |n: usize| match level {
        Some(level) => {
            let mut v = vec![b'\n'];
            v.resize(1 + 2 * (level + n), b' ');
            v
        }
        None => Vec::new(),
    };
    let colon: &[u8] = if level.is_some() { b"\": " } else { b"\":" };
    let (outer, inner) = (line(1), line(2));
    let member = |name: &str| [b",".as_slice(), &inner, b"\"", name.as_bytes(), colon].concat();
    let open = [outer.as_slice(), b"{", &inner, b"\"at_ms", colon].concat();
    let (packet, from, event, text) = (member("packet"), member("from"), member("event"), member("text"));
    let close = [outer.as_slice(), b"}"].concat();
    w.push(b'[');
    let mut first = true;
    crate::report::for_each_event(tl, opts, |e| {
        if !first {
            w.push(b',');
        }
        first = false;
        w.extend_from_slice(&open);
        json::write_f64(w, e.at_ms);
        w.extend_from_slice(&packet);
        w.extend_from_slice(itoa::Buffer::new().format(e.packet).as_bytes());
        w.extend_from_slice(&from);
        json::write_str(w, e.from.as_str());
        w.extend_from_slice(&event);
        json::write_str(w, e.event);
        w.extend_from_slice(&text);
        json::write_str(w, e.text);
        w.extend_from_slice(&close);
    });
    w.extend_from_slice(&line(0));
    w.push(b']');
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
    s.chars().map(|c| if c.is_control() { '·' } else { c }).collect()
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

    /// A connection built without its events and written with them from its timeline is the
    /// connection built with them, byte for byte: every timeline of every shipped capture, with
    /// and without `--all`, `--show-secrets` and `no_timeline`, pretty at several depths and as
    /// an NDJSON line.
    #[test]
    fn json_connection_from_the_timeline_is_json_connection() {
        let files = shipped_captures();
        let mut compared = 0;
        for (all, show_secrets, no_timeline) in [(true, false, false), (false, true, false), (true, false, true)] {
            for f in &files {
                let cfg =
                    crate::Config { all, report: ReportOptions { show_secrets, no_timeline }, ..Default::default() };
                let mut a = crate::Analyzer::new(cfg);
                let Ok(file) = std::fs::File::open(f) else { panic!("{f}") };
                let reader: Box<dyn std::io::Read> =
                    if f.ends_with(".gz") { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
                a.read(reader, f, &mut 1);
                let conclude = a.concluder();
                let mut tls = Vec::new();
                a.finish_timelines(|tl| tls.push(tl));
                for tl in &tls {
                    let (Some(full), Some(bare)) = (conclude.conclude(tl), conclude.conclude_without_timeline(tl))
                    else {
                        continue;
                    };
                    assert!(bare.timeline.is_empty());
                    assert_eq!(full.timeline.is_empty(), no_timeline || tl.events.is_empty());
                    for depth in [0, 2, 3] {
                        let mut want = Vec::new();
                        json_connection(&full, depth, &mut want).unwrap_or_else(|e| panic!("{e}"));
                        let mut got = b"x".to_vec();
                        json_connection_from(&bare, tl, conclude.options(), depth, &mut got)
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(
                            String::from_utf8_lossy(&got[1..]),
                            String::from_utf8_lossy(&want),
                            "{f} #{}",
                            full.id
                        );
                    }
                    let (mut want, mut got) = (Vec::new(), b"x".to_vec());
                    ndjson_line(&full, &mut want).unwrap_or_else(|e| panic!("{e}"));
                    ndjson_line_from(&bare, tl, conclude.options(), &mut got).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(String::from_utf8_lossy(&got[1..]), String::from_utf8_lossy(&want), "{f} #{}", full.id);
                    compared += 1;
                }
            }
        }
        assert!(compared > 90, "{compared}");
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
        odd.timeline[0].text = "quote \" backslash \\ tab \t nl \n nul \u{0} del \u{7f} é 𝄞".into();
        odd.timeline[1].at_ms = 1e21;
        odd.timeline[2].at_ms = 0.1 + 0.2;
        odd.timeline[3].text = String::new();
        odd.verdict.summary = "\u{1b}[31m".into();
        conns.push(odd);
        let mut empty = conns[0].clone();
        empty.timeline.clear();
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
