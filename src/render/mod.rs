//! Renderers: pure functions of the report writing to any `Write` (hyperfine's `export` style).
//! Only these write to stdout; colour is a flag decided at the edge.

mod ladder;
pub mod table;

pub use ladder::ladder;
pub use table::{
    Widths, explain, needs_explaining, row, table, write_empty, write_head, write_row, write_summary, write_tls_note,
};

use crate::report::{Connection, Report};
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
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, Nested { level: depth, has_value: false });
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// [`json_nested`] for a connection, with its timeline written here rather than by serde: the
/// events are most of a connection's JSON, and serde_json spends about 400 instructions on
/// each field. Byte for byte the same document (`tests/cli.rs` compares it with serde's
/// rendering of the whole report); the numbers and strings still go through serde_json.
pub fn json_connection(c: &mut Connection, depth: usize, w: &mut Vec<u8>) -> io::Result<()> {
    let events = std::mem::take(&mut c.timeline);
    let start = w.len();
    let written = json_nested(&*c, depth, w);
    c.timeline = events;
    written?;
    if c.timeline.is_empty() {
        return Ok(());
    }
    // The connection's own `"timeline": []`, at its fields' indentation: a string cannot hold
    // a raw newline, so this is the member, and it is near the end.
    let field = (depth + 1) * 2;
    let mut key = Vec::with_capacity(field + 16);
    key.push(b'\n');
    key.resize(1 + field, b' ');
    key.extend_from_slice(b"\"timeline\": []");
    let Some(at) = w[start..].windows(key.len()).rposition(|x| x == key.as_slice()) else {
        return Err(io::Error::other("no timeline member in a connection's JSON"));
    };
    let brackets = start + at + key.len() - 2;
    let tail = w.split_off(brackets + 2);
    w.truncate(brackets);
    write_timeline(&c.timeline, depth + 1, w)?;
    w.extend_from_slice(&tail);
    Ok(())
}

/// The timeline array as serde_json's pretty printer writes it with its key at `level`.
fn write_timeline(events: &[crate::report::TimelineEvent], level: usize, w: &mut Vec<u8>) -> io::Result<()> {
    let indent = |w: &mut Vec<u8>, level: usize| {
        w.push(b'\n');
        w.resize(w.len() + level * 2, b' ');
    };
    fn json(w: &mut Vec<u8>, v: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(w, v).map_err(io::Error::other)
    }
    w.push(b'[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            w.push(b',');
        }
        indent(w, level + 1);
        w.push(b'{');
        let key = |w: &mut Vec<u8>, name: &[u8]| {
            if name != b"at_ms" {
                w.push(b',');
            }
            indent(w, level + 2);
            w.push(b'"');
            w.extend_from_slice(name);
            w.extend_from_slice(b"\": ");
        };
        key(w, b"at_ms");
        json(w, &e.at_ms)?;
        key(w, b"packet");
        w.extend_from_slice(itoa::Buffer::new().format(e.packet).as_bytes());
        key(w, b"from");
        json(w, &e.from)?;
        key(w, b"event");
        json(w, &e.event)?;
        key(w, b"text");
        json(w, &e.text)?;
        indent(w, level + 1);
        w.push(b'}');
    }
    indent(w, level);
    w.push(b']');
    Ok(())
}

/// serde_json's `PrettyFormatter` (two spaces) starting at a given level.
struct Nested {
    level: usize,
    has_value: bool,
}

impl Nested {
    fn newline<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        // ",\n" and up to 62 levels of indent in one write (deeper documents take more writes).
        const LINE: [u8; 2 + 124] = {
            let mut l = [b' '; 2 + 124];
            l[0] = b',';
            l[1] = b'\n';
            l
        };
        let from = usize::from(!comma);
        let mut n = self.level * 2;
        let k = n.min(LINE.len() - 2);
        w.write_all(&LINE[from..2 + k])?;
        n -= k;
        while n > 0 {
            let k = n.min(LINE.len() - 2);
            w.write_all(&LINE[2..2 + k])?;
            n -= k;
        }
        Ok(())
    }
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(c)
    }
    fn close<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.level = self.level.saturating_sub(1);
        if self.has_value {
            self.newline(w, false)?;
        }
        w.write_all(c)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// One connection as one line of JSON.
pub fn ndjson(conn: &Connection, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *w, conn).map_err(io::Error::other)?;
    writeln!(w)
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

    /// The hand-written timeline is serde's, byte for byte, at any depth, with texts that need
    /// escaping, with no events and with fractional and large times.
    #[test]
    fn json_connection_is_json_nested() {
        let (conns, _, _) = crate::analyze_files(&["captures/python-clean.pcap"], crate::Config::default());
        let Some(mut c) = conns.into_iter().next() else { panic!("no connection in python-clean.pcap") };
        assert!(c.timeline.len() > 5);
        c.timeline[0].text = "quote \" backslash \\ tab \t nl \n nul \u{0} del \u{7f} é 𝄞".into();
        c.timeline[1].at_ms = 1e21;
        c.timeline[2].at_ms = 0.1 + 0.2;
        c.timeline[3].text = String::new();
        for depth in [0, 1, 2, 5] {
            let mut want = Vec::new();
            json_nested(&c, depth, &mut want).unwrap_or_else(|e| panic!("{e}"));
            let mut got = b"prefix".to_vec();
            json_connection(&mut c, depth, &mut got).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(String::from_utf8_lossy(&got[6..]), String::from_utf8_lossy(&want), "depth {depth}");
            assert!(!c.timeline.is_empty(), "the events are put back");
        }
        c.timeline.clear();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        json_nested(&c, 2, &mut want).unwrap_or_else(|e| panic!("{e}"));
        json_connection(&mut c, 2, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, want);
    }
}
