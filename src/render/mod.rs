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
