//! The binary's pipeline around the library: which connections are shown (filters built from
//! typed values), where finished connections are concluded (inline, or on a second thread),
//! and how their records are kept until the end (table rows, explanations and JSON records in a
//! [`Sorted`] store; patterns as counts and one example each), so that memory stays flat however
//! many connections there are.

use crate::spill::Sorted;
use anyhow::Context;
use std::io::{self, Write};
use std::net::IpAddr;
use wsdiag::diagnose::Kind;
use wsdiag::diagnose::across::Across;
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
    /// Reconnect loops and proxied pairs, found as connections come; the pairs as they will be
    /// written (JSON array elements, or the table's lines), by front leg.
    across: Across,
    pairs: Sorted,
    conn: Option<Connection>,
    pub failed: bool,
    /// Connections the filters left out.
    filtered: u64,
    /// JSON records, or table rows (their cells and verdict), by id.
    records: Sorted,
    widths: render::Widths,
    /// `--each`: a paragraph per connection even when many are alike.
    pub each: bool,
    /// The explanations: every one with `--each`, else the first [`GROUP_AT`] (past them the
    /// patterns' examples stand for them).
    explanations: Sorted,
    /// Which patterns the explained connections fall into (counted where they are concluded,
    /// handed over at the end), and the explanation of each pattern's example.
    patterns: Patterns,
    examples: Vec<Vec<u8>>,
    /// `--html`: the shown connections for the page (whole where it may give them a section,
    /// else slimmed), and which those are.
    pub html: Option<Vec<Connection>>,
    ladders: render::html::Ladders,
}

/// The patterns explained connections fall into (same verdict, answer, server, path and close
/// codes), at most [`MAX_GROUPS`] by title and one "other" past them, and which connections'
/// explanations are wanted: with `--each` or among the first [`GROUP_AT`] every one, past them
/// each pattern's lowest id as its example. Kept where connections are concluded, so that only
/// those wanted are explained in words.
#[derive(Default)]
pub struct Patterns {
    pub each: bool,
    explained: u64,
    groups: Vec<Group>,
    group_of: std::collections::HashMap<String, u32>,
}

/// What [`Patterns::pick`] found for an explained connection: its pattern, whether its
/// explanation is shown as it stands, and whether it is (so far) its pattern's example.
#[derive(Clone, Copy, Debug)]
pub struct Pick {
    group: u32,
    keep: bool,
    example: bool,
}

impl Pick {
    fn wants_words(self) -> bool {
        self.keep || self.example
    }
}

impl Patterns {
    /// Counts `c` in its pattern if it needs explaining.
    pub fn pick(&mut self, c: &Connection) -> Option<Pick> {
        if !render::needs_explaining(c) {
            return None;
        }
        self.explained += 1;
        let title = render::pattern(c);
        let g = match self.group_of.get(&title) {
            Some(&g) => g as usize,
            None if self.groups.len() < MAX_GROUPS => {
                self.group_of.insert(title.clone(), self.groups.len() as u32);
                self.groups.push(Group::new(title));
                self.groups.len() - 1
            }
            None => {
                if self.groups.len() == MAX_GROUPS {
                    self.groups.push(Group::new("other patterns".into()));
                }
                MAX_GROUPS
            }
        };
        let group = self.groups.get_mut(g)?;
        group.count += 1;
        group.ids.add(c.id);
        group.first_ns = group.first_ns.min(c.start_ns);
        group.last_ns = group.last_ns.max(c.start_ns);
        let example = group.count == 1 || c.id < group.example;
        if example {
            group.example = c.id;
        }
        Some(Pick { group: g as u32, keep: self.each || self.explained <= GROUP_AT, example })
    }

    /// Is every explanation shown as it stands (not by pattern)?
    fn each_shown(&self) -> bool {
        self.each || self.explained <= GROUP_AT
    }
}

/// One pattern of explained connections: how many, when, the lowest ids, and the id of the
/// first one (its example).
struct Group {
    title: String,
    count: u64,
    first_ns: i64,
    last_ns: i64,
    ids: LowIds,
    example: u64,
}

/// The lowest ids of a set, at most [`LowIds::KEEP`], and its largest: what a line of id
/// ranges shows, in memory that does not grow with the set.
#[derive(Default)]
struct LowIds {
    low: std::collections::BinaryHeap<u64>,
    max: u64,
}

impl LowIds {
    const KEEP: usize = 256;

    fn add(&mut self, id: u64) {
        self.max = self.max.max(id);
        if self.low.len() < Self::KEEP {
            self.low.push(id);
        } else if self.low.peek().is_some_and(|&top| id < top) {
            self.low.pop();
            self.low.push(id);
        }
    }

    /// The ids kept, lowest first.
    fn sorted(&self) -> Vec<u64> {
        self.low.clone().into_sorted_vec()
    }
}

/// More explained connections than this (about a screenful) are explained by pattern.
pub const GROUP_AT: u64 = 12;
/// Distinct patterns kept; connections beyond them share one "other" pattern.
const MAX_GROUPS: usize = 1024;

impl Collector {
    pub fn new(output: Output) -> Self {
        Collector {
            output,
            summary: Summary::default(),
            across: Across::default(),
            pairs: Sorted::default(),
            conn: None,
            failed: false,
            filtered: 0,
            records: Sorted::default(),
            explanations: Sorted::default(),
            each: false,
            patterns: Patterns::default(),
            examples: Vec::new(),
            widths: render::Widths::default(),
            html: None,
            ladders: render::html::Ladders::default(),
        }
    }

    /// Which connections want their verdict in words: all of them, one (`--conn`), or those a
    /// table explains ([`Patterns`]).
    fn wants(&self) -> Wants {
        match self.output {
            _ if self.html.is_some() => Wants::All,
            Output::Json => Wants::All,
            Output::Ladder(n, _) => Wants::One(n),
            Output::Table(_) => Wants::Explained(Patterns { each: self.each, ..Patterns::default() }),
        }
    }

    /// Keeps what is shown of a connection the filters let through; `pick` is its pattern,
    /// when a table explains it.
    fn add(&mut self, c: &Connection, pick: Option<Pick>) -> io::Result<()> {
        if let Some(page) = &mut self.html {
            let mut kept = c.clone();
            if !self.ladders.wanted(c) {
                render::html::slim(&mut kept);
            }
            page.push(kept);
        }
        let style = match self.output {
            Output::Ladder(n, _) => {
                if c.id == n {
                    self.conn = Some(c.clone());
                }
                return Ok(());
            }
            Output::Json => None,
            Output::Table(style) => Some(style),
        };
        self.summary.connections += 1;
        *self.summary.by_verdict.entry(c.verdict.kind.as_str()).or_insert(0) += 1;
        if let Some(p) = self.across.add(c) {
            self.pairs.push_with(p.front, |w| match style {
                None => render::json_element(&p, w),
                Some(_) => {
                    w.extend_from_slice(p.summary.as_bytes());
                    Ok(())
                }
            })?;
        }
        let Some(style) = style else {
            return self.records.push_with(c.id, |w| render::json_record(c, w));
        };
        let cells = render::row(c);
        self.widths.add(&cells);
        self.records.push_with(c.id, |w| {
            encode_row(&cells, c.verdict.kind, w);
            Ok(())
        })?;
        match pick {
            Some(p) if p.wants_words() => self.explain(c, p, style),
            _ => Ok(()),
        }
    }

    /// Keeps the explanation of a connection where it is wanted: shown as it stands, or as its
    /// pattern's example.
    fn explain(&mut self, c: &Connection, pick: Pick, style: render::Style) -> io::Result<()> {
        let mut text = Vec::new();
        render::explain(c, style, &mut text)?;
        if pick.keep {
            self.explanations.push(c.id, &text)?;
        }
        if pick.example {
            let g = pick.group as usize;
            if self.examples.len() <= g {
                self.examples.resize_with(g + 1, Default::default);
            }
            self.examples[g] = text;
        }
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
        let loops = self.across.loops();
        match self.output {
            Output::Ladder(n, style) => {
                let Some(c) = &self.conn else {
                    anyhow::bail!("no connection {n} in this capture (wsdiag --all lists every connection's id)");
                };
                render::ladder(c, style, w)?;
            }
            Output::Json => {
                let parts = render::ReportParts {
                    inputs: &inputs,
                    summary: &self.summary,
                    reconnect_loops: &loops,
                    stats: &stats,
                };
                let (records, pairs) = (self.records, self.pairs);
                let pairs = render::Elements { any: !pairs.is_empty(), write: |w: &mut _| elements(pairs, w) };
                render::write_report(&parts, !records.is_empty(), w, |w| elements(records, w), pairs)?;
            }
            Output::Table(style) => {
                if self.records.is_empty() {
                    let n: u64 = inputs.iter().map(|i| i.packets).sum();
                    return Ok(render::write_empty(n, &stats, self.filtered, w)?);
                }
                render::write_head(&self.widths, style, w)?;
                let mut cells = render::table::Cells::default();
                let widths = &self.widths;
                self.records.drain(|_, rec| {
                    let kind = decode_row(rec, &mut cells)?;
                    render::write_row(widths, &cells, kind, style, w)
                })?;
                render::write_files(&inputs, w)?;
                render::write_summary(&self.summary, &loops, &[], style, w)?;
                let (mut shown, each) = (0u64, self.each);
                let more = self.pairs.count().saturating_sub(GROUP_AT);
                self.pairs.drain(|_, text| {
                    shown += 1;
                    if each || more == 0 || shown <= GROUP_AT {
                        render::write_proxied(&String::from_utf8_lossy(text), style, w)?;
                    }
                    Ok(())
                })?;
                if !self.each && more > 0 {
                    writeln!(w, "  … and {more} more proxied pairs (--each lists every one; --json has them all).")?;
                }
                render::write_tls_note(&stats, w)?;
                if self.patterns.each_shown() {
                    self.explanations.drain(|_, text| {
                        writeln!(w)?;
                        w.write_all(text)
                    })?;
                    return Ok(());
                }
                // Many alike: each pattern once, with its count, ids and span, and its first
                // connection in full.
                let mut examples = self.examples.into_iter();
                let mut groups: Vec<(Group, Vec<u8>)> =
                    self.patterns.groups.into_iter().map(|g| (g, examples.next().unwrap_or_default())).collect();
                groups.sort_by_key(|(g, _)| g.example);
                writeln!(w)?;
                let intro = format!(
                    "{} connections need explaining, in {} pattern(s); each is explained once below (--each: one paragraph per connection).",
                    self.patterns.explained,
                    groups.len()
                );
                writeln!(w, "{}", render::wrap(&intro, style.width, ""))?;
                for (g, example) in &groups {
                    let span = render::time_span(g.first_ns, g.last_ns);
                    writeln!(w)?;
                    let head = format!(
                        "{} × {} (ids {}, {span}); example #{}:",
                        g.count,
                        g.title,
                        render::id_ranges(&g.ids.sorted(), g.count, g.ids.max),
                        g.example
                    );
                    writeln!(w, "{}", render::wrap(&head, style.width, "  "))?;
                    w.write_all(example)?;
                }
            }
        }
        Ok(())
    }
}

/// The records of `store`, in id order, as the elements of a JSON array.
fn elements(store: Sorted, w: &mut impl Write) -> io::Result<()> {
    let mut first = true;
    store.drain(|_, rec| {
        if !std::mem::take(&mut first) {
            w.write_all(render::RECORD_END)?;
        }
        w.write_all(rec)
    })
}

impl Group {
    fn new(title: String) -> Group {
        Group { title, count: 0, first_ns: i64::MAX, last_ns: i64::MIN, ids: LowIds::default(), example: 0 }
    }
}

/// A table row as a record: its verdict (its place in [`Kind::ALL`]), then each cell's length
/// (4 bytes) and text.
fn encode_row(cells: &render::table::Cells, kind: Kind, w: &mut Vec<u8>) {
    w.push(Kind::ALL.iter().position(|k| *k == kind).unwrap_or_default() as u8);
    cells.encode(w);
}

fn decode_row(rec: &[u8], cells: &mut render::table::Cells) -> io::Result<Kind> {
    let bad = || io::Error::other("a table row came back damaged");
    let (&k, rest) = rec.split_first().ok_or_else(bad)?;
    let kind = *Kind::ALL.get(k as usize).ok_or_else(bad)?;
    cells.decode(rest).ok_or_else(bad)?;
    Ok(kind)
}

/// Where finished timelines go: concluded (diagnosis, report) and filtered here, then
/// collected inline, or on a second thread when there is a second core. Collecting (table
/// rows and explanations, JSON records) is a quarter of the instructions with `--json` on the
/// long-connection benchmark capture (callgrind). What crosses to that thread is the shown
/// connections, in batches, and each batch comes back to be freed here: memory is freed on the
/// thread that allocated it, so the two threads never wait on one allocator lock (freeing
/// another thread's blocks did, on a million short connections, and made two cores slower
/// than one).
pub struct Stage {
    filters: Filters,
    conclude: Concluder,
    /// Finished connections the report hides.
    hidden: u64,
    /// Connections the filters left out, and whether a shown one matched `--fail-on`.
    filtered: u64,
    failed: bool,
    wants: Wants,
    to: To,
}

/// Which concluded connections get their verdict in words ([`wsdiag::Words`]).
enum Wants {
    All,
    /// `--conn N`.
    One(u64),
    /// Those the table explains in full.
    Explained(Patterns),
}

/// A shown connection on its way to the collector, with its pattern when the table explains it.
type Shown = (Connection, Option<Pick>);

enum To {
    Inline(Box<Collector>),
    Thread {
        batch: Vec<Shown>,
        tx: std::sync::mpsc::SyncSender<Vec<Shown>>,
        /// Batches collected, to be freed here.
        back: std::sync::mpsc::Receiver<Vec<Shown>>,
        handle: std::thread::JoinHandle<io::Result<Collector>>,
    },
}

impl Stage {
    /// Connections handed over at once (a channel message per connection costs more than one).
    const BATCH: usize = 128;

    pub fn new(collector: Collector, filters: Filters, conclude: Concluder, thread: bool) -> Self {
        let wants = collector.wants();
        let to = if thread {
            // A few batches in flight: enough to smooth the hand-over, few enough that
            // connections waiting for the second thread hold little memory. The way back is
            // never fuller than the way there: each batch sent is drained before the next.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Shown>>(8);
            let (back_tx, back) = std::sync::mpsc::channel();
            let handle = std::thread::spawn(move || {
                let mut collector = collector;
                for batch in rx {
                    for (c, pick) in &batch {
                        collector.add(c, *pick)?;
                    }
                    // The receiver is gone only when the reading stopped: then this thread
                    // frees what is left.
                    let _ = back_tx.send(batch);
                }
                Ok(collector)
            });
            To::Thread { batch: Vec::with_capacity(Self::BATCH), tx, back, handle }
        } else {
            To::Inline(Box::new(collector))
        };
        Stage { filters, conclude, hidden: 0, filtered: 0, failed: false, wants, to }
    }

    pub fn push(&mut self, tl: Timeline) -> io::Result<()> {
        let Stage { filters, conclude, hidden, filtered, failed, wants, to } = self;
        *hidden += conclude.conclude_facts(tl, |mut c, words| {
            if !filters.shows(&c) {
                *filtered += 1;
                return Ok(());
            }
            *failed |= filters.fails(&c);
            let pick = match wants {
                Wants::All => {
                    words.fill(&mut c);
                    None
                }
                Wants::One(n) => {
                    if c.id == *n {
                        words.fill(&mut c);
                    }
                    None
                }
                Wants::Explained(patterns) => {
                    let pick = patterns.pick(&c);
                    if pick.is_some_and(Pick::wants_words) {
                        words.fill(&mut c);
                    }
                    pick
                }
            };
            match to {
                To::Inline(collector) => collector.add(&c, pick),
                To::Thread { batch, .. } => {
                    batch.push((c, pick));
                    if batch.len() >= Self::BATCH {
                        to.flush();
                    }
                    Ok(())
                }
            }
        })?;
        Ok(())
    }

    pub fn push_all(&mut self, tls: impl IntoIterator<Item = Timeline>) -> io::Result<()> {
        for tl in tls {
            self.push(tl)?;
        }
        self.to.flush();
        Ok(())
    }

    /// The collector, and how many finished connections the report hides.
    pub fn finish(mut self) -> io::Result<(Collector, u64)> {
        self.to.flush();
        let Stage { hidden, filtered, failed, wants, to, .. } = self;
        let mut collector = match to {
            To::Inline(collector) => *collector,
            To::Thread { tx, back, handle, .. } => {
                drop(tx);
                let collector = handle.join().unwrap_or_else(|_| Err(io::Error::other("the report thread panicked")));
                drop(back);
                collector?
            }
        };
        collector.filtered += filtered;
        collector.failed |= failed;
        if let Wants::Explained(patterns) = wants {
            collector.patterns = patterns;
        }
        Ok((collector, hidden))
    }
}

impl To {
    /// Hands the batch over, frees the batches that came back and reuses one of them. A closed
    /// channel means the thread stopped on an error, which [`Stage::finish`] returns.
    fn flush(&mut self) {
        if let To::Thread { batch, tx, back, .. } = self
            && !batch.is_empty()
        {
            let mut next = None;
            while let Ok(mut done) = back.try_recv() {
                done.clear();
                next = Some(done);
            }
            let next = next.unwrap_or_else(|| Vec::with_capacity(Stage::BATCH));
            let full = std::mem::replace(batch, next);
            let _ = tx.send(full);
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
    /// Loops and pairs among the connections shown; the pairs' lines, by front leg, for after
    /// the connections' lines.
    across: Across,
    pairs: Sorted,
}

impl NdjsonWriter {
    pub fn new(filters: Filters, conclude: Concluder) -> Self {
        NdjsonWriter {
            filters,
            conclude,
            failed: false,
            hidden: 0,
            line: Vec::new(),
            across: Across::default(),
            pairs: Sorted::default(),
        }
    }

    /// After the last connection: the reconnect loops and proxied pairs, a line each.
    pub fn finish(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        let loops = self.across.loops();
        render::ndjson_findings(&loops, &[], self.conclude.sensor(), out).context("writing NDJSON")?;
        std::mem::take(&mut self.pairs).drain(|_, line| out.write_all(line)).context("writing NDJSON")?;
        Ok(())
    }

    pub fn write(&mut self, tl: Timeline, out: &mut impl Write) -> anyhow::Result<()> {
        let NdjsonWriter { filters, conclude, failed, hidden, line, across, pairs } = self;
        *hidden += conclude.conclude_each(tl, |c| -> anyhow::Result<()> {
            if !filters.shows(&c) {
                return Ok(());
            }
            *failed |= filters.fails(&c);
            if let Some(p) = across.add(&c) {
                let sensor = conclude.sensor();
                pairs.push_with(p.front, |w| render::ndjson_findings(&[], &[p], sensor, w))?;
            }
            line.clear();
            render::ndjson_line(&c, line)?;
            out.write_all(line).context("writing NDJSON")?;
            Ok(())
        })?;
        Ok(())
    }
}
