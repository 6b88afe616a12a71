//! `--html FILE`: the report as one self-contained page to attach to a ticket or show in a
//! lesson. Inline CSS and one small inline script; a Content-Security-Policy of `default-src
//! 'none'` (the style and the script allowed by their hashes), so the page makes no request at
//! all, and every captured string is escaped, so a URI holding `<script>` is text.
//!
//! On the page: the summary by verdict (the text view's summary lines), a timeline of all
//! connections, the connection table, the patterns of the explained connections with their
//! counts and ids, and a section per connection (or per pattern's example) with its
//! explanation, evidence, advice, Wireshark filter and ladder diagram drawn as SVG, the closing
//! handshake (Close frames, FIN, RST) highlighted.
//!
//! Scale: past [`PAGE`] connections the table is paged by the script (the rows as gzipped
//! JSON, the first page also as HTML for a reader without scripts), the timeline becomes a histogram of
//! starts, and past [`SECTIONS`] explained connections each pattern is shown once through its
//! example, so a page of 50,000 connections stays a few MB.

use super::{Style, clean, explain, id_ranges, needs_explaining, pattern, row, sees_cell, table, time_span};
use crate::diagnose::{Kind, human_ms};
use crate::report::{Connection, EventView, Report};
use crate::units::{Role, Timestamp};
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};

/// Table rows per page; a report of at most this many connections has a section for each.
pub const PAGE: usize = 200;
/// Connection sections at most: past this many explained connections, one per pattern.
pub const SECTIONS: usize = 200;
/// Rows of the pattern table at most.
const PATTERNS: usize = 1000;
/// Up to this many connections the timeline has a bar for each; past it, a histogram.
const BARS: usize = 500;
/// Events drawn in a ladder at most (the first and last halves).
const LADDER_EVENTS: usize = 400;
/// Summary lines shown before the rest are folded away (a reconnect loop or a proxied pair
/// each).
const SUMMARY_LINES: usize = 12;
/// A ladder marks a pause of this long or longer between two events.
const PAUSE_MS: f64 = 1000.0;

/// Captured text for HTML text and attribute values: control characters replaced as the text
/// views replace them, markup characters escaped.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || c.is_control()) {
            f.write_str(&rest[..i])?;
            let Some(c) = rest[i..].chars().next() else { break };
            f.write_str(match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => "·",
            })?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// The colour of a verdict kind on the page.
fn colour(k: Kind) -> &'static str {
    match k {
        Kind::CleanClose => "#2f9e44",
        Kind::StillOpen => "#1c7ed6",
        Kind::NotWebsocket => "#868e96",
        Kind::Unknown => "#6741d9",
        Kind::Refused => "#a61e4d",
        Kind::Unreachable => "#5c0b2b",
        Kind::HandshakeRejected => "#e8590c",
        Kind::HandshakeUnanswered => "#f59f00",
        Kind::InvalidHandshake => "#d6336c",
        Kind::ServerAbort => "#e03131",
        Kind::ClientAbort => "#f783ac",
        Kind::IdleTimeout => "#fab005",
        Kind::CloseUnanswered => "#ae3ec9",
        Kind::ProtocolViolation => "#862e9c",
        Kind::TlsFailed => "#3b5bdb",
        Kind::PathReset => "#c92a2a",
        Kind::PathLost => "#66a80f",
    }
}

const CSS: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px 40px;color:#212529}
h1{font-size:22px;margin:16px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dee2e6}
code,pre,.mono{font:12px/1.4 ui-monospace,monospace}pre{white-space:pre-wrap;background:#f8f9fa;padding:8px}
.meta{color:#495057}.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.chip{border-radius:12px;padding:2px 10px;color:#fff;background:var(--k);font-weight:600}
.badge{border-radius:4px;padding:0 6px;color:#fff;background:var(--k)}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:top;white-space:nowrap}
#table th{position:sticky;top:0;background:#e9ecef}#table tbody tr:nth-child(even){background:#f8f9fa}
#table td:last-child{color:var(--k);font-weight:600}#table tbody tr{cursor:pointer}
.wrap{overflow-x:auto}tr.more td{white-space:normal;background:#fff9db}
.pats td{white-space:normal}.pats td:first-child{text-align:right}
details.conn{border-left:4px solid var(--k);margin:10px 0;padding:2px 10px}
details.conn>summary{cursor:pointer;font-weight:600}
.evidence td{white-space:normal}.evidence td:nth-child(-n+2){font:12px ui-monospace,monospace;text-align:right}
svg text{font:12px ui-monospace,monospace}svg .lab{font:12px system-ui,sans-serif}
.ev line{stroke:#868e96;stroke-width:1.5}.ev polygon{fill:#868e96}
.ev.http line{stroke:#1c7ed6}.ev.http polygon{fill:#1c7ed6}
.ev.close line{stroke:#e8590c;stroke-width:3}.ev.close polygon{fill:#e8590c}
.ev.fin line{stroke:#f08c00;stroke-width:3}.ev.fin polygon{fill:#f08c00}
.ev.rst line{stroke:#e03131;stroke-width:3}.ev.rst polygon{fill:#e03131}
.ev.err line{stroke:#e03131;stroke-dasharray:5 3}.ev.err polygon{fill:#e03131}
.ev .hl{fill:#fff3bf}.note{fill:#868e96;font-style:italic}.lane{stroke:#343a40;stroke-width:2}.axis{stroke:#adb5bd}
#timeline-svg,.ladder{max-width:100%;height:auto}#pager{margin:6px 0}#pager input{width:260px}
";

/// Pages the table (when its rows are there as JSON), shows a row's Wireshark filter on a
/// click, and marks the page ready (with the milliseconds since navigation start).
const SCRIPT: &str = r#"
(function () {
  var d = document, data = d.getElementById('rows'), tbody = d.querySelector('#table tbody');
  function more(tr) {
    var next = tr.nextElementSibling;
    if (next && next.className === 'more') { next.remove(); return; }
    var m = d.createElement('tr'), td = d.createElement('td'), code = d.createElement('code');
    m.className = 'more'; td.colSpan = tr.children.length; td.textContent = 'wireshark: '; code.textContent = tr.title;
    td.appendChild(code); m.appendChild(td); tr.after(m);
  }
  if (tbody) tbody.addEventListener('click', function (e) {
    var tr = e.target.closest('tr');
    if (tr && tr.title && !e.target.closest('a')) more(tr);
  });
  var ready = function () {
    d.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
    d.body.setAttribute('data-ready', '1');
  };
  if (!data) { ready(); return; }
  var q = d.getElementById('q'), kind = d.getElementById('kind'), info = d.getElementById('pageinfo');
  var rows = [], view = rows, page = 0, per = 200;
  var show = function () {
    var pages = Math.max(1, Math.ceil(view.length / per));
    page = Math.min(Math.max(page, 0), pages - 1);
    var frag = d.createDocumentFragment();
    view.slice(page * per, page * per + per).forEach(function (r) {
      var tr = d.createElement('tr');
      // The cells, the Wireshark filter, whether the connection has a section.
      var n = r.length - 2;
      tr.className = 'k-' + r[n - 1]; tr.title = r[n];
      for (var i = 0; i < n; i++) {
        var td = d.createElement('td');
        if (i === 0 && r[n + 1]) {
          var a = d.createElement('a'); a.href = '#c' + r[0]; a.textContent = r[0]; td.appendChild(a);
        } else td.textContent = r[i];
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
    info.textContent = 'page ' + (page + 1) + ' of ' + pages + ' (' + view.length + ' of ' + rows.length + ' connections)';
  };
  var filter = function () {
    var t = q.value.toLowerCase(), k = kind.value;
    view = rows.filter(function (r) {
      return (!k || r[r.length - 3] === k) && (!t || r.join(' ').toLowerCase().indexOf(t) >= 0);
    });
    page = 0; show();
  };
  var start = function (text) {
    rows = JSON.parse(text); view = rows;
    q.addEventListener('input', filter);
    kind.addEventListener('change', filter);
    d.getElementById('prev').addEventListener('click', function () { page--; show(); });
    d.getElementById('next').addEventListener('click', function () { page++; show(); });
    d.getElementById('pager').hidden = false;
    show(); ready();
  };
  if (typeof DecompressionStream !== 'function') {
    d.getElementById('nopager').hidden = false; ready(); return;
  }
  var raw = atob(data.textContent), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  var unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(unpacked).text().then(start, function () { d.getElementById('nopager').hidden = false; ready(); });
})();
"#;

/// Which connections a page may give a section (and draw the ladder of), decided as
/// connections arrive, so that a caller collecting connections for [`html`] can [`slim`] the
/// others: the first [`PAGE`] connections, the first [`SECTIONS`] explained ones, and the
/// first connection of each of the first [`SECTIONS`] patterns.
#[derive(Debug, Default)]
pub struct Ladders {
    shown: usize,
    explained: usize,
    patterns: HashSet<String>,
}

impl Ladders {
    /// Whether the page may draw this connection's ladder (each connection is asked once).
    pub fn wanted(&mut self, c: &Connection) -> bool {
        self.shown += 1;
        if !needs_explaining(c) {
            return self.shown <= PAGE;
        }
        self.explained += 1;
        let mut keep = self.shown <= PAGE || self.explained <= SECTIONS;
        if self.patterns.len() < SECTIONS {
            keep |= self.patterns.insert(pattern(c));
        }
        keep
    }
}

/// Drops what the page shows only in a connection's own section (its timeline, summary,
/// evidence, advice and body preview), from a connection [`Ladders::wanted`] said no to: it
/// gets no section, and its row, its bar and its place in the patterns need none of them.
pub fn slim(c: &mut Connection) {
    c.timeline = Default::default();
    c.verdict.summary = String::new();
    c.verdict.evidence = Vec::new();
    c.verdict.advice = Vec::new();
    if let Some(r) = &mut c.handshake.response {
        r.body_preview = None;
    }
}

/// The explained connections by pattern, in order of their first id: the title, the ids, the
/// first and last start, and the example (the first with a timeline, else the first).
struct Group<'a> {
    title: String,
    ids: Vec<u64>,
    first_ns: i64,
    last_ns: i64,
    example: &'a Connection,
}

fn groups<'a>(explained: &[&'a Connection]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for &c in explained {
        let title = pattern(c);
        let i = *at.entry(title.clone()).or_insert_with(|| {
            out.push(Group { title, ids: Vec::new(), first_ns: c.start_ns, last_ns: c.start_ns, example: c });
            out.len() - 1
        });
        let g = &mut out[i];
        g.ids.push(c.id);
        g.first_ns = g.first_ns.min(c.start_ns);
        g.last_ns = g.last_ns.max(c.start_ns);
        if g.example.timeline.is_empty() && !c.timeline.is_empty() {
            g.example = c;
        }
    }
    out
}

/// The page: a pure function of the report.
pub fn html(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let mut conns: Vec<&Connection> = report.connections.iter().collect();
    conns.sort_by_key(|c| c.id);
    let explained: Vec<&Connection> = conns.iter().copied().filter(|c| needs_explaining(c)).collect();
    let groups = groups(&explained);
    // The connections that get a section: every one on a small page, else the explained ones
    // or, past SECTIONS of them, each pattern's example.
    let sections: Vec<&Connection> = if conns.len() <= PAGE {
        conns.clone()
    } else if explained.len() <= SECTIONS {
        explained.clone()
    } else {
        groups.iter().take(SECTIONS).map(|g| g.example).collect()
    };
    let has_section: HashSet<u64> = sections.iter().map(|c| c.id).collect();

    head(report, w)?;
    summary(report, w)?;
    if conns.is_empty() {
        return foot(w);
    }
    writeln!(w, "<h2 id=\"timeline\">Timeline</h2>")?;
    timeline(&conns, w)?;
    writeln!(w, "<h2 id=\"connections\">Connections</h2>")?;
    conn_table(&conns, &has_section, w)?;
    if !groups.is_empty() {
        writeln!(w, "<h2 id=\"patterns\">Patterns</h2>")?;
        pattern_table(&groups, explained.len(), &has_section, w)?;
    }
    writeln!(w, "<h2 id=\"explanations\">Explanations</h2>")?;
    if sections.len() < conns.len() {
        let what = if explained.len() <= SECTIONS { "each explained connection" } else { "each pattern's example" };
        writeln!(
            w,
            "<p class=\"meta\">{} of {} connections shown here ({what}); the table has them all.</p>",
            sections.len(),
            conns.len()
        )?;
    }
    for c in &sections {
        section(c, needs_explaining(c), w)?;
    }
    foot(w)
}

fn head(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let css = css();
    let names: Vec<&str> = report.inputs.iter().map(|i| i.path.as_str()).collect();
    writeln!(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(
        w,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src '{}'; script-src '{}'\">",
        hash(&css),
        hash(SCRIPT)
    )?;
    writeln!(w, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")?;
    writeln!(w, "<meta name=\"generator\" content=\"wsdiag {}\">", env!("CARGO_PKG_VERSION"))?;
    writeln!(w, "<title>wsdiag: {}</title>", Esc(&names.join(", ")))?;
    writeln!(w, "<style>{css}</style></head><body>")?;
    writeln!(w, "<h1>wsdiag report</h1>")?;
    for i in &report.inputs {
        let format = i.format.unwrap_or("unreadable");
        writeln!(
            w,
            "<div class=\"meta\"><span class=\"mono\">{}</span>: {} packets, {format}</div>",
            Esc(&i.path),
            i.packets
        )?;
        for warning in &i.warnings {
            writeln!(w, "<div class=\"meta\">warning: {}</div>", Esc(warning))?;
        }
    }
    writeln!(w, "<div class=\"meta\">wsdiag {}, report schema {}</div>", report.version, report.schema)
}

/// The style sheet: the fixed rules and a colour per verdict kind.
fn css() -> String {
    let mut s = CSS.to_string();
    for k in Kind::ALL {
        s.push_str(&format!(".k-{}{{--k:{}}}", k.as_str(), colour(k)));
    }
    s.push('\n');
    s
}

/// `sha256-…` of an inline style or script, for the Content-Security-Policy.
fn hash(text: &str) -> String {
    use sha2::Digest;
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes())))
}

fn foot(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "<script>{SCRIPT}</script>\n</body></html>")
}

/// The count per verdict as chips, then the text view's summary lines (reconnect loops,
/// proxied pairs, the TLS note).
fn summary(report: &Report, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "<h2 id=\"summary\">Summary</h2>")?;
    let mut text = Vec::new();
    if report.connections.is_empty() {
        let packets: u64 = report.inputs.iter().map(|i| i.packets).sum();
        table::write_empty(packets, &report.stats, 0, &mut text)?;
    } else {
        writeln!(w, "<div class=\"chips\">")?;
        for k in Kind::ALL {
            if let Some(n) = report.summary.by_verdict.get(k.as_str()) {
                writeln!(w, "<span class=\"chip k-{0}\">{0} {n}</span>", k.as_str())?;
            }
        }
        writeln!(w, "</div>")?;
        let style = Style { color: false, width: usize::MAX, fit: false };
        table::write_summary(&report.summary, &report.reconnect_loops, &report.proxied, style, &mut text)?;
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        if i == SUMMARY_LINES {
            writeln!(w, "<details><summary>{} more reconnect loops and proxied pairs</summary>", lines.len() - i)?;
        }
        writeln!(w, "<p>{}</p>", Esc(line))?;
    }
    if lines.len() > SUMMARY_LINES {
        writeln!(w, "</details>")?;
    }
    // (write_empty has said it already.)
    let mut tls = Vec::new();
    if !report.connections.is_empty() {
        table::write_tls_note(&report.stats, &mut tls)?;
    }
    for line in String::from_utf8_lossy(&tls).lines().filter(|l| !l.is_empty()) {
        writeln!(w, "<p>{}</p>", Esc(line))?;
    }
    let s = &report.stats;
    writeln!(
        w,
        "<p class=\"meta\">{} packets, {} TCP connections, {} not shown (not WebSocket attempts; --all shows them).</p>",
        s.packets, s.tcp_connections, s.connections_hidden
    )
}

/// A connection's first and last instant, in ns.
fn span_ns(c: &Connection) -> (i64, i64) {
    let end = c.start_ns.saturating_add((c.duration_ms.max(0.0) * 1e6) as i64);
    (c.start_ns, end)
}

/// One SVG of all connections: a bar per connection from its start to its end in its verdict's
/// colour, or past [`BARS`] connections the starts per time slice, stacked by verdict.
fn timeline(conns: &[&Connection], w: &mut impl Write) -> io::Result<()> {
    const WIDTH: f64 = 1100.0;
    const LEFT: f64 = 60.0;
    let t0 = conns.iter().map(|c| span_ns(c).0).min().unwrap_or(0);
    let t1 = conns.iter().map(|c| span_ns(c).1).max().unwrap_or(0).max(t0.saturating_add(1_000_000));
    let span = t1.saturating_sub(t0) as f64;
    let scale = (WIDTH - LEFT - 10.0) / span;
    let x = |ns: i64| LEFT + ns.saturating_sub(t0) as f64 * scale;
    let axis = |w: &mut dyn Write, y: f64| -> io::Result<()> {
        writeln!(w, "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", WIDTH - 10.0)?;
        for i in 0..=4 {
            let ns = t0.saturating_add((span * f64::from(i) / 4.0) as i64);
            let anchor = match i {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            writeln!(
                w,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                x(ns),
                y + 16.0,
                Timestamp(ns).time_of_day()
            )?;
        }
        Ok(())
    };
    let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| conns.iter().any(|c| c.verdict.kind == *k)).collect();
    if conns.len() <= BARS {
        let h = (700.0 / conns.len() as f64).clamp(3.0, 14.0).floor();
        let height = conns.len() as f64 * h + 50.0;
        writeln!(
            w,
            "<p class=\"meta\">Each connection from its first to its last packet ({}, UTC), in its verdict's colour.</p>",
            time_span(t0, t1)
        )?;
        writeln!(
            w,
            "<svg id=\"timeline-svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\">"
        )?;
        for (i, c) in conns.iter().enumerate() {
            let (a, b) = span_ns(c);
            let y = 6.0 + i as f64 * h;
            let width = (x(b) - x(a)).max(2.0);
            write!(
                w,
                "<a href=\"#c{}\"><rect x=\"{:.1}\" y=\"{y}\" width=\"{width:.1}\" height=\"{}\"",
                c.id,
                x(a),
                (h - 1.0).max(2.0)
            )?;
            writeln!(
                w,
                " fill=\"{}\"><title>#{} {} {} +{}</title></rect></a>",
                colour(c.verdict.kind),
                c.id,
                c.verdict.kind.as_str(),
                Timestamp(a).time_of_day(),
                human_ms(c.duration_ms)
            )?;
            if h >= 12.0 {
                writeln!(w, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">#{}</text>", LEFT - 6.0, y + h - 3.0, c.id)?;
            }
        }
        axis(w, height - 38.0)?;
    } else {
        const BINS: usize = 200;
        let mut counts = vec![[0u32; Kind::ALL.len()]; BINS];
        for c in conns {
            let bin = ((c.start_ns.saturating_sub(t0) as f64 / span * BINS as f64) as usize).min(BINS - 1);
            if let Some(k) = Kind::ALL.iter().position(|k| *k == c.verdict.kind) {
                counts[bin][k] += 1;
            }
        }
        let max = counts.iter().map(|b| b.iter().sum::<u32>()).max().unwrap_or(1).max(1);
        let plot = 260.0;
        writeln!(
            w,
            "<p class=\"meta\">{} connections: how many started in each 1/{BINS} of the capture ({}, UTC; the tallest bar is {max}), stacked by verdict.</p>",
            conns.len(),
            time_span(t0, t1)
        )?;
        writeln!(
            w,
            "<svg id=\"timeline-svg\" viewBox=\"0 0 {WIDTH} {0}\" width=\"{WIDTH}\" height=\"{0}\" role=\"img\">",
            plot + 50.0
        )?;
        let bw = (WIDTH - LEFT - 10.0) / BINS as f64;
        for (i, bin) in counts.iter().enumerate() {
            let total: u32 = bin.iter().sum();
            if total == 0 {
                continue;
            }
            let parts: Vec<String> = Kind::ALL
                .iter()
                .zip(bin)
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect();
            let start = t0.saturating_add((span * i as f64 / BINS as f64) as i64);
            writeln!(
                w,
                "<g><title>{}: {total} started ({})</title>",
                Timestamp(start).time_of_day(),
                parts.join(", ")
            )?;
            let mut y = 6.0 + plot;
            for (k, n) in Kind::ALL.iter().zip(bin).filter(|(_, n)| **n > 0) {
                let hh = f64::from(*n) / f64::from(max) * plot;
                y -= hh;
                writeln!(
                    w,
                    "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                    LEFT + i as f64 * bw,
                    bw.max(1.0),
                    hh.max(0.5),
                    colour(*k)
                )?;
            }
            writeln!(w, "</g>")?;
        }
        writeln!(w, "<text x=\"{}\" y=\"14\" text-anchor=\"end\">{max}</text>", LEFT - 6.0)?;
        axis(w, plot + 12.0)?;
    }
    writeln!(w, "</svg>")?;
    writeln!(w, "<div class=\"chips\">")?;
    for k in kinds {
        writeln!(w, "<span class=\"chip k-{0}\">{0}</span>", k.as_str())?;
    }
    writeln!(w, "</div>")
}

/// The text table's column names, each column shown (widths that have seen a row from a
/// second file show the `file` column too).
fn head_cells() -> io::Result<Vec<String>> {
    let mut widths = super::Widths::default();
    widths.add(&table::Cells::from_strs(["2"; table::N]));
    let mut line = Vec::new();
    table::write_head(&widths, Style { color: false, width: usize::MAX, fit: false }, &mut line)?;
    Ok(String::from_utf8_lossy(&line).trim_end().split("  ").map(str::to_string).collect())
}

/// The page's columns, their names and indexes into a [`row`]: the text table's, but for a
/// `file` column that says 1 on every row (one input file).
fn columns(conns: &[&Connection]) -> io::Result<Vec<(String, usize)>> {
    let names = head_cells()?;
    let file = names.iter().position(|n| n == "file");
    let one_file = conns.iter().all(|c| file.is_none_or(|f| row(c).get(f).is_some_and(|x| x == "1")));
    Ok(names.into_iter().enumerate().filter(|(i, _)| !(one_file && Some(*i) == file)).map(|(i, n)| (n, i)).collect())
}

/// The connection table; past [`PAGE`] rows the script pages it from the rows as gzipped JSON.
fn conn_table(conns: &[&Connection], has_section: &HashSet<u64>, w: &mut impl Write) -> io::Result<()> {
    let paged = conns.len() > PAGE;
    if paged {
        writeln!(
            w,
            "<div id=\"pager\" hidden><button id=\"prev\">&larr; previous</button> <button id=\"next\">next &rarr;</button> <span id=\"pageinfo\"></span>"
        )?;
        write!(
            w,
            " <input id=\"q\" type=\"search\" placeholder=\"filter: address, path, status…\"> <select id=\"kind\"><option value=\"\">every verdict</option>"
        )?;
        let mut kinds: Vec<Kind> = conns.iter().map(|c| c.verdict.kind).collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            write!(w, "<option>{}</option>", k.as_str())?;
        }
        writeln!(w, "</select></div>")?;
        writeln!(
            w,
            "<p id=\"nopager\" hidden>This browser cannot unpack the table's other rows (no DecompressionStream): the first {PAGE} are shown.</p>"
        )?;
    }
    writeln!(
        w,
        "<p class=\"meta\">{} connection(s); click a row for its Wireshark filter{}.</p>",
        conns.len(),
        if has_section.is_empty() { "" } else { ", an id for its explanation" }
    )?;
    let columns = columns(conns)?;
    writeln!(w, "<div class=\"wrap\"><table id=\"table\"><thead><tr>")?;
    for (name, _) in &columns {
        write!(w, "<th>{}</th>", Esc(name))?;
    }
    writeln!(w, "</tr></thead><tbody>")?;
    for c in conns.iter().take(PAGE) {
        let cells = row(c);
        write!(w, "<tr class=\"k-{}\" title=\"{}\">", c.verdict.kind.as_str(), Esc(&c.wireshark_filter))?;
        for &(_, i) in &columns {
            let cell = &cells[i];
            if i == 0 && has_section.contains(&c.id) {
                write!(w, "<td><a href=\"#c{}\">{}</a></td>", c.id, c.id)?;
            } else {
                write!(w, "<td>{}</td>", Esc(cell))?;
            }
        }
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</tbody></table></div>")?;
    if paged {
        let rows: Vec<Vec<String>> = conns
            .iter()
            .map(|c| {
                let cells = row(c);
                let mut r: Vec<String> = columns.iter().map(|&(_, i)| cells[i].to_string()).collect();
                r.push(c.wireshark_filter.clone());
                r.push(if has_section.contains(&c.id) { "1".into() } else { String::new() });
                r
            })
            .collect();
        // Gzip and base64: a third of the JSON's size or less (the browser unpacks it with
        // DecompressionStream).
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        serde_json::to_writer(&mut gz, &rows).map_err(io::Error::other)?;
        let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish()?);
        write!(w, "<script type=\"application/octet-stream\" id=\"rows\" data-encoding=\"gzip base64 json\">")?;
        w.write_all(packed.as_bytes())?;
        writeln!(w, "</script>")?;
    }
    Ok(())
}

/// Each pattern of the explained connections, with its count, ids and time span.
fn pattern_table(
    groups: &[Group<'_>],
    explained: usize,
    has_section: &HashSet<u64>,
    w: &mut impl Write,
) -> io::Result<()> {
    writeln!(w, "<p class=\"meta\">{explained} connection(s) need explaining, in {} pattern(s).</p>", groups.len())?;
    writeln!(
        w,
        "<table class=\"pats\"><thead><tr><th>count</th><th>pattern</th><th>ids</th><th>started</th><th>example</th></tr></thead><tbody>"
    )?;
    for g in groups.iter().take(PATTERNS) {
        let kind = g.example.verdict.kind.as_str();
        write!(w, "<tr class=\"k-{kind}\"><td>{}</td><td><span class=\"badge k-{kind}\">{kind}</span>", g.ids.len())?;
        let rest = g.title.strip_prefix(kind).unwrap_or(&g.title);
        write!(
            w,
            "{}</td><td class=\"mono\">{}</td>",
            Esc(rest),
            Esc(&id_ranges(&g.ids, g.ids.len() as u64, g.ids.iter().max().copied().unwrap_or(0)))
        )?;
        write!(w, "<td class=\"mono\">{}</td>", time_span(g.first_ns, g.last_ns))?;
        if has_section.contains(&g.example.id) {
            writeln!(w, "<td><a href=\"#c{0}\">#{0}</a></td></tr>", g.example.id)?;
        } else {
            writeln!(w, "<td>#{}</td></tr>", g.example.id)?;
        }
    }
    writeln!(w, "</tbody></table>")?;
    if groups.len() > PATTERNS {
        let n: usize = groups[PATTERNS..].iter().map(|g| g.ids.len()).sum();
        writeln!(w, "<p class=\"meta\">… {} more patterns ({n} connections).</p>", groups.len() - PATTERNS)?;
    }
    Ok(())
}

/// A connection's section: its explanation (open when it needs one), evidence, advice,
/// Wireshark filter, ladder, and the text view's paragraph.
fn section(c: &Connection, open: bool, w: &mut impl Write) -> io::Result<()> {
    let v = &c.verdict;
    let kind = v.kind.as_str();
    writeln!(w, "<details class=\"conn k-{kind}\" id=\"c{}\"{}>", c.id, if open { " open" } else { "" })?;
    write!(
        w,
        "<summary>#{} {} &rarr; {} <span class=\"badge k-{kind}\">{kind}</span>",
        c.id,
        Esc(&c.client),
        Esc(&c.server)
    )?;
    writeln!(
        w,
        " outcome {}, {}, packets {}-{}</summary>",
        v.outcome.as_str(),
        human_ms(c.duration_ms),
        c.first_packet,
        c.last_packet
    )?;
    if let Some(r) = &c.handshake.request {
        writeln!(w, "<p class=\"mono\">{} {}</p>", Esc(&r.method), Esc(&r.uri))?;
    }
    writeln!(w, "<p class=\"summary\">{}</p>", Esc(&v.summary))?;
    writeln!(
        w,
        "<p>client sees <b>{}</b>, server sees <b>{}</b></p>",
        Esc(&sees_cell(v.client_sees, v.kind)),
        Esc(&sees_cell(v.server_sees, v.kind))
    )?;
    if !v.evidence.is_empty() {
        writeln!(w, "<table class=\"evidence\"><tbody>")?;
        for e in &v.evidence {
            writeln!(w, "<tr><td>#{}</td><td>+{}</td><td>{}</td></tr>", e.packet, human_ms(e.at_ms), Esc(&e.text))?;
        }
        writeln!(w, "</tbody></table>")?;
    }
    if !v.advice.is_empty() {
        writeln!(w, "<ul class=\"advice\">")?;
        for a in &v.advice {
            writeln!(w, "<li>{}</li>", Esc(a))?;
        }
        writeln!(w, "</ul>")?;
    }
    writeln!(w, "<p>Wireshark: <code class=\"ws\">{}</code></p>", Esc(&c.wireshark_filter))?;
    ladder(c, w)?;
    let mut text = Vec::new();
    explain(c, Style { color: false, width: 100, fit: false }, &mut text)?;
    writeln!(w, "<details><summary>as text</summary><pre>{}</pre></details>", Esc(&String::from_utf8_lossy(&text)))?;
    writeln!(w, "</details>")
}

/// How a ladder draws an event: the closing handshake (Close, FIN, RST, their HTTP/2 and TLS
/// kin) highlighted, errors dashed, the upgrade in blue.
fn event_class(event: &str) -> (&'static str, bool) {
    match event {
        "close" => ("close", true),
        "fin" | "h2_end_stream" | "h2_goaway" | "tls_alert" => ("fin", true),
        "rst" | "h2_rst_stream" => ("rst", true),
        "violation" | "gap" | "desync" | "http_error" | "h2_error" | "h2_lost" | "tls_decrypt_failed"
        | "tls_malformed" | "tls_desync" => ("err", false),
        "request" | "response" => ("http", false),
        _ => ("", false),
    }
}

/// The ladder diagram as SVG: a client and a server lane, an arrow per timeline event with
/// its packet number and time from the connection's start.
fn ladder(c: &Connection, w: &mut impl Write) -> io::Result<()> {
    const WIDTH: f64 = 900.0;
    const CX: f64 = 230.0;
    const SX: f64 = 870.0;
    const MID: f64 = (CX + SX) / 2.0;
    const TOP: f64 = 50.0;
    const ROW: f64 = 22.0;
    let n = c.timeline.len();
    if n == 0 {
        return writeln!(w, "<p class=\"meta\">No ladder: this connection's timeline was not kept.</p>");
    }
    let mut times = Vec::with_capacity(n);
    c.timeline.for_each(|e| times.push(e.at_ms));
    // The first and the last events, LADDER_EVENTS in all, a row each; a row for the events
    // left out between them, and one before each event a second or more after the last.
    let drawn = n.min(LADDER_EVENTS);
    let tail = n - (drawn - drawn / 2);
    let shown = |i: usize| i < drawn / 2 || i >= tail;
    let pause =
        |i: usize| (i > 0 && shown(i) && shown(i - 1)).then(|| times[i] - times[i - 1]).filter(|ms| *ms >= PAUSE_MS);
    let pauses = (0..n).filter(|i| pause(*i).is_some()).count();
    let skipped = n - drawn;
    let rows = drawn + pauses + usize::from(skipped > 0) + usize::from(c.timeline_events_dropped > 0);
    let height = TOP + rows as f64 * ROW + 10.0;
    writeln!(
        w,
        "<svg class=\"ladder\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\">"
    )?;
    writeln!(w, "<text class=\"lab\" x=\"8\" y=\"16\">packet</text><text class=\"lab\" x=\"80\" y=\"16\">time</text>")?;
    writeln!(w, "<text class=\"lab\" x=\"{CX}\" y=\"16\" text-anchor=\"middle\">client {}</text>", Esc(&c.client))?;
    writeln!(w, "<text class=\"lab\" x=\"{SX}\" y=\"16\" text-anchor=\"end\">server {}</text>", Esc(&c.server))?;
    let bottom = height - 6.0;
    writeln!(w, "<line class=\"lane\" x1=\"{CX}\" y1=\"26\" x2=\"{CX}\" y2=\"{bottom}\"/>")?;
    writeln!(w, "<line class=\"lane\" x1=\"{SX}\" y1=\"26\" x2=\"{SX}\" y2=\"{bottom}\"/>")?;
    let mut row_at = 0usize;
    let mut next_y = || {
        row_at += 1;
        TOP + (row_at - 1) as f64 * ROW
    };
    let note = |w: &mut dyn Write, y: f64, text: &str| {
        writeln!(w, "<text class=\"lab note\" x=\"{MID}\" y=\"{y}\" text-anchor=\"middle\">{text}</text>")
    };
    let mut i = 0usize;
    let mut result = Ok(());
    c.timeline.for_each(|e| {
        let at = i;
        i += 1;
        if result.is_err() || !shown(at) {
            return;
        }
        if skipped > 0 && at == tail {
            result = note(w, next_y(), &format!("… {skipped} events not drawn …"));
        }
        if let Some(ms) = pause(at)
            && result.is_ok()
        {
            result = note(w, next_y(), &format!("⋮ {} later", human_ms(ms)));
        }
        if result.is_ok() {
            result = arrow(e, next_y(), (CX, SX, WIDTH), w);
        }
    });
    result?;
    if c.timeline_events_dropped > 0 {
        note(w, next_y(), &format!("({} more events not kept)", c.timeline_events_dropped))?;
    }
    writeln!(w, "</svg>")
}

/// One event's row of a ladder: packet, time, and the arrow with its label.
fn arrow(e: &EventView<'_>, y: f64, (cx, sx, width): (f64, f64, f64), w: &mut impl Write) -> io::Result<()> {
    let (class, highlight) = event_class(e.event);
    let (x1, x2) = if e.from == Role::Client { (cx, sx) } else { (sx, cx) };
    let head = if x2 > x1 { x2 - 9.0 } else { x2 + 9.0 };
    let text = clean(e.text);
    let label: String = if text.chars().count() > 88 {
        format!("{}…", text.chars().take(87).collect::<String>())
    } else {
        text.clone()
    };
    write!(w, "<g class=\"ev {class}\"><title>{}: {}</title>", e.event, Esc(&text))?;
    if highlight {
        write!(w, "<rect class=\"hl\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"22\"/>", y - 15.0)?;
    }
    write!(w, "<text x=\"8\" y=\"{y}\">#{}</text><text x=\"80\" y=\"{y}\">+{}</text>", e.packet, human_ms(e.at_ms))?;
    write!(w, "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{head}\" y2=\"{y}\"/>")?;
    write!(w, "<polygon points=\"{x2},{y} {head},{} {head},{}\"/>", y - 4.5, y + 4.5)?;
    writeln!(
        w,
        "<text class=\"lab\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
        (cx + sx) / 2.0,
        y - 4.0,
        Esc(&label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        let s = Esc("<script>alert('x')</script> & \"q\" \u{1b}[31m é").to_string();
        assert_eq!(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; ·[31m é");
        assert_eq!(Esc("").to_string(), "");
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn head_cells_are_the_text_tables_columns() {
        let cells = head_cells().unwrap_or_default();
        assert_eq!(cells.len(), table::N, "{cells:?}");
        assert!(cells.iter().any(|c| c == "file"), "{cells:?}");
        assert_eq!(cells[0], "id");
        assert_eq!(cells[table::N - 1], "verdict");
    }

    /// Past PAGE connections and SECTIONS explained ones, only a new pattern's first
    /// connection is wanted whole; a slimmed one keeps its row.
    #[test]
    fn ladders_wanted_and_slim() {
        let (conns, _, _) = crate::analyze_files(&["captures/reconnect-loop.pcap"], crate::Config::default());
        let Some(c) = conns.first() else { panic!("no connection") };
        assert!(needs_explaining(c));
        let mut ladders = Ladders::default();
        let wanted: Vec<bool> = (0..SECTIONS + 50).map(|_| ladders.wanted(c)).collect();
        assert!(wanted[..SECTIONS].iter().all(|w| *w) && wanted[SECTIONS..].iter().all(|w| !*w));
        let mut other = c.clone();
        other.handshake.response = None;
        assert!(ladders.wanted(&other), "a new pattern");
        let mut slimmed = c.clone();
        slim(&mut slimmed);
        assert!(slimmed.timeline.is_empty() && slimmed.verdict.advice.is_empty());
        assert_eq!(row(&slimmed), row(c));
        assert_eq!(pattern(&slimmed), pattern(c));
    }

    /// The page of every shipped capture: the style and script match the hashes the policy
    /// allows, every connection is in the table, and the page ends.
    #[test]
    fn shipped_captures_make_whole_pages() {
        let mut files: Vec<String> = std::fs::read_dir("captures")
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        files.retain(|f| f.ends_with(".pcap") || f.ends_with(".pcapng"));
        files.sort();
        assert!(files.len() > 20, "{files:?}");
        let cfg = crate::Config::default();
        for f in files {
            let (conns, stats, inputs) = crate::analyze_files(&[f.as_str()], cfg);
            let report = crate::build_report(inputs, conns, stats);
            let mut page = Vec::new();
            html(&report, &mut page).unwrap_or_else(|e| panic!("{f}: {e}"));
            let page = String::from_utf8(page).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(page.contains(&hash(&css())) && page.contains(&hash(SCRIPT)), "{f}");
            assert!(page.contains(&format!("<style>{}</style>", css())), "{f}");
            assert!(page.contains(&format!("<script>{SCRIPT}</script>")), "{f}");
            for c in &report.connections {
                assert!(page.contains(&format!("id=\"c{}\"", c.id)), "{f} #{}", c.id);
            }
            assert!(page.trim_end().ends_with("</html>"), "{f}");
        }
    }
}
