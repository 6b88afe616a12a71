//! The binary's pipeline around the library: which connections are shown (filters built from
//! typed values), where finished connections are concluded (inline, or on a second thread),
//! and how their records are kept until the end (table rows in memory, explanations and JSON
//! records in a [`Spill`]), so that memory stays flat however many connections there are.

use crate::spill::{Slot, Spill};
use anyhow::Context;
use std::io::{self, Write};
use std::net::IpAddr;
use wsdiag::diagnose::Kind;
use wsdiag::diagnose::across::Attempt;
use wsdiag::report::{Connection, Input, Stats, Summary};
use wsdiag::timeline::Timeline;
use wsdiag::{Concluder, render};

/// `--port`, `--host`, `--path`, `--verdict`, `--fail-on`.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub ports: Vec<u16>,
    pub hosts: Vec<Host>,
    pub path: Option<String>,
    pub verdicts: Vec<Kind>,
    pub fail_on: Vec<Kind>,
}

/// A `--host` value: an address (of either end of the connection) or a name (of the Host
/// header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    ip: Option<IpAddr>,
    name: String,
}

impl Host {
    pub fn parse(s: &str) -> Host {
        let name = s.trim_matches(['[', ']']).to_string();
        Host { ip: name.parse().ok(), name }
    }

    fn matches(&self, ends: &[std::net::SocketAddr], header: &str) -> bool {
        self.ip.is_some_and(|ip| ends.iter().any(|a| a.ip() == ip))
            || header == self.name
            || header.split(':').next() == Some(self.name.as_str())
    }
}

/// Verdict kinds from a comma-separated option.
pub fn kinds(list: &[String], flag: &str) -> anyhow::Result<Vec<Kind>> {
    list.iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Kind::parse(s.trim()).with_context(|| {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("{flag}: unknown verdict kind {s:?} (one of: {})", all.join(", "))
            })
        })
        .collect()
}

impl Filters {
    pub fn shows(&self, c: &Connection) -> bool {
        let ends = [c.client_addr, c.server_addr];
        if !self.ports.is_empty() && !ends.iter().any(|a| self.ports.contains(&a.port())) {
            return false;
        }
        if !self.hosts.is_empty() {
            let header = c.handshake.request.as_ref().and_then(|r| r.host.as_deref()).unwrap_or_default();
            if !self.hosts.iter().any(|h| h.matches(&ends, header)) {
                return false;
            }
        }
        if let Some(p) = &self.path
            && !c.path().is_some_and(|x| x.contains(p.as_str()))
        {
            return false;
        }
        self.verdicts.is_empty() || self.verdicts.contains(&c.verdict.kind)
    }

    pub fn fails(&self, c: &Connection) -> bool {
        self.fail_on.contains(&c.verdict.kind)
    }
}

/// What happens to each shown connection.
pub enum Output {
    /// The table (rows and explanations) at the end.
    Table(render::Style),
    /// One JSON document at the end.
    Json,
    /// The ladder of this connection.
    Ladder(u64, render::Style),
}

/// Finished connections for the table, `--json` or `--conn`.
pub struct Collector {
    output: Output,
    summary: Summary,
    attempts: Vec<Attempt>,
    conn: Option<Connection>,
    pub failed: bool,
    /// Connections the filters left out.
    filtered: u64,
    spill: Spill,
    /// JSON records by id, or table rows.
    records: Vec<(u64, Slot)>,
    rows: Vec<Row>,
    widths: render::Widths,
    /// `--each`: a paragraph per connection even when many are alike.
    pub each: bool,
    /// The patterns explained connections fall into (their titles), at most MAX_GROUPS.
    groups: Vec<String>,
    group_of: std::collections::HashMap<String, u32>,
    /// `--html`: the shown connections for the page (whole where it may give them a section,
    /// else slimmed), and which those are.
    pub html: Option<Vec<Connection>>,
    ladders: render::html::Ladders,
}

/// One table row, and where its explanation is.
struct Row {
    id: u64,
    cells: [String; render::table::N],
    kind: Kind,
    explanation: Option<Slot>,
    /// Its pattern (an index into `groups`) and its first packet's time.
    group: u32,
    start_ns: i64,
}

/// More explained connections than this (about a screenful) are explained by pattern.
pub const GROUP_AT: usize = 12;
/// Distinct patterns kept; connections beyond them share one "other" pattern.
const MAX_GROUPS: usize = 4096;

impl Collector {
    pub fn new(output: Output) -> Self {
        Collector {
            output,
            summary: Summary::default(),
            attempts: Vec::new(),
            conn: None,
            failed: false,
            filtered: 0,
            spill: Spill::default(),
            records: Vec::new(),
            rows: Vec::new(),
            each: false,
            groups: Vec::new(),
            group_of: Default::default(),
            widths: render::Widths::default(),
            html: None,
            ladders: render::html::Ladders::default(),
        }
    }

    /// Concludes a finished timeline and keeps what is shown; returns how many of its
    /// connections the report hides.
    fn conclude(&mut self, tl: Timeline, conclude: &Concluder, filters: &Filters) -> io::Result<u64> {
        let (conns, hidden) = conclude.conclude(tl);
        for c in conns {
            if filters.shows(&c) {
                self.failed |= filters.fails(&c);
                self.add(c)?;
            } else {
                self.filtered += 1;
            }
        }
        Ok(hidden)
    }

    fn add(&mut self, c: Connection) -> io::Result<()> {
        if let Some(page) = &mut self.html {
            let mut kept = c.clone();
            if !self.ladders.wanted(&c) {
                render::html::slim(&mut kept);
            }
            page.push(kept);
        }
        let style = match self.output {
            Output::Ladder(n, _) => {
                if c.id == n {
                    self.conn = Some(c);
                }
                return Ok(());
            }
            Output::Json => None,
            Output::Table(style) => Some(style),
        };
        self.summary.connections += 1;
        *self.summary.by_verdict.entry(c.verdict.kind.as_str()).or_insert(0) += 1;
        if let Some(a) = wsdiag::attempt(&c) {
            self.attempts.push(a);
        }
        let Some(style) = style else {
            let slot = self.spill.push_with(|w| render::json_record(&c, w))?;
            self.records.push((c.id, slot));
            return Ok(());
        };
        let cells = render::row(&c);
        self.widths.add(&cells);
        let explanation = if render::needs_explaining(&c) {
            Some(self.spill.push_with(|w| render::explain(&c, style, w))?)
        } else {
            None
        };
        let title = render::pattern(&c);
        let group = match self.group_of.get(&title) {
            Some(g) => *g,
            None if self.groups.len() < MAX_GROUPS => {
                self.groups.push(title.clone());
                self.group_of.insert(title, (self.groups.len() - 1) as u32);
                (self.groups.len() - 1) as u32
            }
            None => u32::MAX,
        };
        self.rows.push(Row { id: c.id, cells, kind: c.verdict.kind, explanation, group, start_ns: c.start_ns });
        Ok(())
    }

    /// `--html`: the page of the connections collected for it, written to `path`.
    pub fn write_html(&mut self, path: &std::path::Path, inputs: &[Input], stats: &Stats) -> anyhow::Result<()> {
        let conns = self.html.take().unwrap_or_default();
        let report = wsdiag::build_report(inputs.to_vec(), conns, stats.clone());
        let name = path.display();
        let file = std::fs::File::create(path).with_context(|| format!("--html {name}"))?;
        let mut w = io::BufWriter::with_capacity(64 << 10, file);
        render::html(&report, &mut w).and_then(|()| w.flush()).with_context(|| format!("--html {name}"))?;
        Ok(())
    }

    /// Writes what was collected: the ladder, the JSON document or the table.
    pub fn render(mut self, inputs: Vec<Input>, stats: Stats, w: &mut impl Write) -> anyhow::Result<()> {
        let loops = wsdiag::diagnose::across::reconnect_loops(&self.attempts);
        let pairs = wsdiag::diagnose::across::proxy_pairs(&self.attempts);
        let mut buf = Vec::new();
        match self.output {
            Output::Ladder(n, style) => {
                let Some(c) = &self.conn else {
                    anyhow::bail!("no connection {n} in this capture (wsdiag --all lists every connection's id)");
                };
                render::ladder(c, style, w)?;
            }
            Output::Json => {
                self.records.sort_by_key(|(id, _)| *id);
                let slots: Vec<Slot> = self.records.iter().map(|(_, s)| *s).collect();
                let parts = render::ReportParts {
                    inputs: &inputs,
                    summary: &self.summary,
                    reconnect_loops: &loops,
                    proxied: &pairs,
                    stats: &stats,
                };
                let spill = &mut self.spill;
                render::write_report(&parts, !slots.is_empty(), w, |w| {
                    spill.write_records(&slots, render::RECORD_END.len() as u64, &mut buf, w)
                })?;
            }
            Output::Table(style) => {
                if self.rows.is_empty() {
                    let n: u64 = inputs.iter().map(|i| i.packets).sum();
                    return Ok(render::write_empty(n, &stats, self.filtered, w)?);
                }
                self.rows.sort_by_key(|r| r.id);
                render::write_head(&self.widths, style, w)?;
                for r in &self.rows {
                    render::write_row(&self.widths, &r.cells, r.kind, style, w)?;
                }
                render::write_files(&inputs, w)?;
                render::write_summary(&self.summary, &loops, &pairs, style, w)?;
                render::write_tls_note(&stats, w)?;
                let explained = self.rows.iter().filter(|r| r.explanation.is_some()).count();
                if self.each || explained <= GROUP_AT {
                    for slot in self.rows.iter().filter_map(|r| r.explanation) {
                        self.spill.get(slot, &mut buf)?;
                        writeln!(w)?;
                        w.write_all(&buf)?;
                    }
                    return Ok(());
                }
                // Many alike: each pattern once, with its count, ids and span, and its first
                // connection in full.
                let mut order: Vec<u32> = Vec::new();
                let mut by: std::collections::HashMap<u32, (Vec<u64>, i64, i64, Slot)> = Default::default();
                for r in &self.rows {
                    let Some(slot) = r.explanation else { continue };
                    let g = by.entry(r.group).or_insert_with(|| {
                        order.push(r.group);
                        (Vec::new(), r.start_ns, r.start_ns, slot)
                    });
                    g.0.push(r.id);
                    g.1 = g.1.min(r.start_ns);
                    g.2 = g.2.max(r.start_ns);
                }
                writeln!(w)?;
                let intro = format!(
                    "{explained} connections need explaining, in {} pattern(s); each is explained once below (--each: one paragraph per connection).",
                    order.len()
                );
                writeln!(w, "{}", render::wrap(&intro, style.width, ""))?;
                for g in order {
                    let Some((ids, first, last, slot)) = by.get(&g) else { continue };
                    let title = self.groups.get(g as usize).map_or("other patterns", String::as_str);
                    let span = render::time_span(*first, *last);
                    writeln!(w)?;
                    let head = format!(
                        "{} × {title} (ids {}, {span}); example #{}:",
                        ids.len(),
                        render::id_ranges(ids),
                        ids[0]
                    );
                    writeln!(w, "{}", render::wrap(&head, style.width, "  "))?;
                    self.spill.get(*slot, &mut buf)?;
                    w.write_all(&buf)?;
                }
            }
        }
        Ok(())
    }
}

/// Where finished connections go, undiagnosed: concluded (diagnosis, report, record) and
/// collected inline, or on a second thread when there is a second core. That work is a ninth
/// of the instructions of this repo's benchmark capture for the table and a quarter with
/// `--json` (callgrind), and a timeline crosses over as one move, so the packet path keeps its
/// core.
pub enum Stage {
    Inline {
        collector: Box<Collector>,
        filters: Filters,
        conclude: Concluder,
        hidden: u64,
    },
    Thread {
        batch: Vec<Timeline>,
        tx: std::sync::mpsc::SyncSender<Vec<Timeline>>,
        handle: std::thread::JoinHandle<io::Result<(Collector, u64)>>,
    },
}

impl Stage {
    /// Timelines handed over at once (a channel message per connection costs more than one).
    const BATCH: usize = 32;

    pub fn new(collector: Collector, filters: Filters, conclude: Concluder, thread: bool) -> Self {
        if !thread {
            return Stage::Inline { collector: Box::new(collector), filters, conclude, hidden: 0 };
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Timeline>>(64);
        let handle = std::thread::spawn(move || {
            let (mut collector, mut hidden) = (collector, 0);
            for tl in rx.iter().flatten() {
                hidden += collector.conclude(tl, &conclude, &filters)?;
            }
            Ok((collector, hidden))
        });
        Stage::Thread { batch: Vec::with_capacity(Self::BATCH), tx, handle }
    }

    pub fn push(&mut self, tl: Timeline) -> io::Result<()> {
        match self {
            Stage::Inline { collector, filters, conclude, hidden } => {
                *hidden += collector.conclude(tl, conclude, filters)?;
            }
            Stage::Thread { batch, .. } => {
                batch.push(tl);
                if batch.len() >= Self::BATCH {
                    self.flush();
                }
            }
        }
        Ok(())
    }

    pub fn push_all(&mut self, tls: Vec<Timeline>) -> io::Result<()> {
        for tl in tls {
            self.push(tl)?;
        }
        self.flush();
        Ok(())
    }

    /// Hands the batch over. A closed channel means the thread stopped on an error, which
    /// [`Stage::finish`] returns.
    fn flush(&mut self) {
        if let Stage::Thread { batch, tx, .. } = self
            && !batch.is_empty()
        {
            let full = std::mem::replace(batch, Vec::with_capacity(Self::BATCH));
            let _ = tx.send(full);
        }
    }

    /// The collector, and how many finished connections the report hides.
    pub fn finish(mut self) -> io::Result<(Collector, u64)> {
        self.flush();
        match self {
            Stage::Inline { collector, hidden, .. } => Ok((*collector, hidden)),
            Stage::Thread { tx, handle, .. } => {
                drop(tx);
                handle.join().unwrap_or_else(|_| Err(io::Error::other("the report thread panicked")))
            }
        }
    }
}

/// `--ndjson`: concludes finished connections and writes a line for each one shown, as it ends.
pub struct NdjsonWriter {
    pub filters: Filters,
    pub conclude: Concluder,
    pub failed: bool,
    pub hidden: u64,
    line: Vec<u8>,
    /// The connections shown, as the reconnect-loop and proxy-pair finders need them.
    attempts: Vec<wsdiag::diagnose::across::Attempt>,
}

impl NdjsonWriter {
    pub fn new(filters: Filters, conclude: Concluder) -> Self {
        NdjsonWriter { filters, conclude, failed: false, hidden: 0, line: Vec::new(), attempts: Vec::new() }
    }

    /// After the last connection: the reconnect loops and proxied pairs, a line each.
    pub fn finish(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        let loops = wsdiag::diagnose::across::reconnect_loops(&self.attempts);
        let pairs = wsdiag::diagnose::across::proxy_pairs(&self.attempts);
        render::ndjson_findings(&loops, &pairs, self.conclude.sensor(), out).context("writing NDJSON")?;
        Ok(())
    }

    pub fn write(&mut self, tl: Timeline, out: &mut impl Write) -> anyhow::Result<()> {
        let (conns, hidden) = self.conclude.conclude(tl);
        self.hidden += hidden;
        for c in conns.iter().filter(|c| self.filters.shows(c)) {
            self.failed |= self.filters.fails(c);
            if let Some(a) = wsdiag::attempt(c) {
                self.attempts.push(a);
            }
            self.line.clear();
            render::ndjson_line(c, &mut self.line)?;
            out.write_all(&self.line).context("writing NDJSON")?;
        }
        Ok(())
    }
}
