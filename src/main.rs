//! The `wsdiag` binary: thin edges around the library (ripgrep's main.rs shape).

use anyhow::{Context, bail};
use clap::Parser;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use wsdiag::capture;
use wsdiag::diagnose::Kind;
use wsdiag::report::{Connection, Input, ReportOptions};
use wsdiag::timeline::Timeline;
use wsdiag::{Analyzer, Config, render};

mod cli;
#[cfg(feature = "live")]
mod live;
mod spill;

use cli::{Cli, ColorChoice};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("wsdiag: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "live") {
        #[cfg(feature = "live")]
        return live::run(&args[1..]);
        #[cfg(not(feature = "live"))]
        bail!(
            "this wsdiag was built without live capture: build it with `cargo build --release --features live` (needs libpcap-dev)"
        );
    }
    let cli = Cli::parse();
    let filters = Filters::new(&cli)?;
    let cfg = Config {
        all: cli.all || cli.conn.is_some(),
        report: ReportOptions {
            show_secrets: cli.show_secrets,
            no_timeline: !cli.json && !cli.ndjson && cli.conn.is_none(),
        },
        conn: wsdiag::conn::ConnConfig { inflate: !cli.no_inflate, ..Default::default() },
        ..Config::default()
    };
    let stdout = io::stdout();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let width = if stdout.is_terminal() {
        terminal_size::terminal_size().map_or(100, |(w, _)| usize::from(w.0).max(60))
    } else {
        100
    };
    let style = render::Style { color, width };
    let mut out = io::BufWriter::with_capacity(64 << 10, stdout.lock());

    let mut analyzer = Analyzer::new(cfg);
    let mut inputs = Vec::new();
    let mut readable = 0;
    let mut next_number = 1;
    let conclude = analyzer.concluder();
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let collector = Collector::new(cli.conn, cli.json, style);
    let mut stage = Stage::new(collector, filters.clone(), conclude, two_cores && cli.conn.is_none() && !cli.ndjson);
    let mut hidden = 0;
    let mut failed = false;
    for path in &cli.captures {
        let reader = match capture::open(path) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("{path}: {e}");
                eprintln!("wsdiag: {msg}");
                inputs.push(Input { path: path.clone(), packets: 0, warnings: vec![msg], format: None });
                continue;
            }
        };
        let input = analyzer.read_source(reader, path, &mut next_number, |a| {
            if cli.ndjson {
                emit_ndjson(a.take_timelines(), &conclude, &filters, &mut out, &mut failed, &mut hidden)
            } else {
                stage.push_all(a.take_timelines()).map_err(Into::into)
            }
        })?;
        if input.format.is_some() {
            readable += 1;
            for w in &input.warnings {
                eprintln!("wsdiag: warning: {w}");
            }
        } else {
            for w in &input.warnings {
                eprintln!("wsdiag: {w}");
            }
        }
        inputs.push(input);
    }
    if readable == 0 {
        // Each unreadable input was named on its own line above.
        return Ok(ExitCode::from(2));
    }
    let mut result = Ok(());
    let mut stats = analyzer.finish_timelines(|tl| {
        if result.is_ok() {
            result = if !cli.ndjson {
                stage.push(tl).map_err(anyhow::Error::from)
            } else {
                emit_ndjson(vec![tl], &conclude, &filters, &mut out, &mut failed, &mut hidden)
            };
        }
    });
    result?;
    let (collector, hidden_staged) = stage.finish()?;
    stats.connections_hidden += hidden + hidden_staged;
    if cli.ndjson {
        out.flush()?;
        return Ok(exit(failed));
    }
    failed |= collector.failed;
    if let Some(n) = cli.conn {
        let Some(c) = &collector.conn else {
            bail!("no connection {n} in this capture (wsdiag --all lists every connection's id)");
        };
        render::ladder(c, style, &mut out)?;
    } else {
        collector.render(inputs, stats, cli.json, style, &mut out)?;
    }
    out.flush()?;
    Ok(exit(failed))
}

fn exit(failed: bool) -> ExitCode {
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Concludes finished connections and writes a line for each shown, its events taken from the
/// timeline itself (no `String` per event).
fn emit_ndjson(
    timelines: Vec<Timeline>,
    conclude: &wsdiag::Concluder,
    filters: &Filters,
    out: &mut impl Write,
    failed: &mut bool,
    hidden: &mut u64,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    for tl in &timelines {
        let Some(c) = conclude.conclude_without_timeline(tl) else {
            *hidden += 1;
            continue;
        };
        if !filters.shows(&c) {
            continue;
        }
        *failed |= filters.fails(&c);
        line.clear();
        render::ndjson_line_from(&c, tl, conclude.options(), &mut line)?;
        out.write_all(&line).context("writing NDJSON")?;
    }
    out.flush()?;
    Ok(())
}

/// `--port`, `--host`, `--path`, `--verdict`, `--fail-on`.
#[derive(Clone)]
pub struct Filters {
    ports: Vec<u16>,
    hosts: Vec<String>,
    path: Option<String>,
    verdicts: Vec<Kind>,
    fail_on: Vec<Kind>,
}

fn kinds(list: &[String], flag: &str) -> anyhow::Result<Vec<Kind>> {
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
    fn new(cli: &Cli) -> anyhow::Result<Self> {
        Ok(Filters {
            ports: cli.port.clone(),
            hosts: cli.host.clone(),
            path: cli.path.clone(),
            verdicts: kinds(&cli.verdict, "--verdict")?,
            fail_on: kinds(&cli.fail_on, "--fail-on")?,
        })
    }

    fn shows(&self, c: &Connection) -> bool {
        let port_of = |a: &str| a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
        let host_of =
            |a: &str| a.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']']).to_string()).unwrap_or_default();
        if !self.ports.is_empty()
            && ![&c.client, &c.server].iter().any(|a| port_of(a).is_some_and(|p| self.ports.contains(&p)))
        {
            return false;
        }
        if !self.hosts.is_empty() {
            let header = c.handshake.request.as_ref().and_then(|r| r.host.clone()).unwrap_or_default();
            let ok = self.hosts.iter().any(|h| {
                let h = h.trim_matches(['[', ']']);
                host_of(&c.client) == h || host_of(&c.server) == h || header == h || header.split(':').next() == Some(h)
            });
            if !ok {
                return false;
            }
        }
        if let Some(p) = &self.path {
            if !c.path().is_some_and(|x| x.contains(p.as_str())) {
                return false;
            }
        }
        self.verdicts.is_empty() || self.verdicts.contains(&c.verdict.kind)
    }

    fn fails(&self, c: &Connection) -> bool {
        self.fail_on.contains(&c.verdict.kind)
    }
}

/// Finished connections for the table or `--json`: an index in memory, the records in a
/// [`spill::Spill`], so memory stays flat however many connections there are.
struct Collector {
    conn_id: Option<u64>,
    summary: wsdiag::report::Summary,
    attempts: Vec<wsdiag::diagnose::across::Attempt>,
    conn: Option<Connection>,
    failed: bool,
    records: Records,
}

/// Where finished connections go, undiagnosed: concluded (diagnosis, report, record) and
/// collected inline, or on a second thread when there is a second core. That work is a ninth
/// of the instructions of this repo's benchmark capture for the table and a quarter with
/// `--json` (callgrind), and a timeline crosses over as one move, so the packet path keeps its
/// core.
enum Stage {
    Inline {
        collector: Box<Collector>,
        filters: Filters,
        conclude: wsdiag::Concluder,
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

    fn new(collector: Collector, filters: Filters, conclude: wsdiag::Concluder, thread: bool) -> Self {
        if !thread {
            return Stage::Inline { collector: Box::new(collector), filters, conclude, hidden: 0 };
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Timeline>>(64);
        let handle = std::thread::spawn(move || {
            let (mut collector, mut hidden) = (collector, 0);
            for tl in rx.iter().flatten() {
                hidden += u64::from(collector.conclude(&tl, &conclude, &filters)?);
            }
            Ok((collector, hidden))
        });
        Stage::Thread { batch: Vec::with_capacity(Self::BATCH), tx, handle }
    }

    fn push(&mut self, tl: Timeline) -> io::Result<()> {
        match self {
            Stage::Inline { collector, filters, conclude, hidden } => {
                *hidden += u64::from(collector.conclude(&tl, conclude, filters)?);
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

    fn push_all(&mut self, tls: Vec<Timeline>) -> io::Result<()> {
        for tl in tls {
            self.push(tl)?;
        }
        self.flush();
        Ok(())
    }

    /// Hands the batch over. A closed channel means the thread stopped on an error, which
    /// [`Stage::finish`] returns.
    fn flush(&mut self) {
        if let Stage::Thread { batch, tx, .. } = self {
            if !batch.is_empty() {
                let full = std::mem::replace(batch, Vec::with_capacity(Self::BATCH));
                let _ = tx.send(full);
            }
        }
    }

    /// The collector, and how many finished connections the report hides.
    fn finish(mut self) -> io::Result<(Collector, u64)> {
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

/// The spilled records and what the table needs of them.
struct Records {
    json: bool,
    style: render::Style,
    spill: spill::Spill,
    index: Vec<(u64, spill::Slot)>,
    widths: render::Widths,
}

impl Records {
    /// Adds a connection's record; `events` is the timeline it was built from, if it was built
    /// without its events (`--json` writes them from there).
    fn add(&mut self, c: &Connection, events: Option<(&Timeline, ReportOptions)>) -> io::Result<()> {
        let slot = if self.json {
            // Written in place, with what goes around it in the report's array: records in id
            // order that lie one after another in the spill are written out at once.
            self.spill.push_with(|w| {
                w.extend_from_slice(RECORD_INDENT);
                match events {
                    Some((tl, opts)) => render::json_connection_from(c, tl, opts, 2, w)?,
                    None => render::json_connection(c, 2, w)?,
                }
                w.extend_from_slice(RECORD_END);
                Ok(())
            })?
        } else {
            let cells = render::row(c);
            self.widths.add(&cells);
            let mut rec = cells.join(&CELL.to_string());
            rec.push(PART);
            rec.push_str(c.verdict.kind.as_str());
            rec.push(PART);
            if render::needs_explaining(c) {
                let mut e = Vec::new();
                render::explain(c, self.style, &mut e)?;
                rec.push_str(&String::from_utf8_lossy(&e));
            }
            self.spill.push(rec.as_bytes())?
        };
        self.index.push((c.id, slot));
        Ok(())
    }
}

/// `Write::write_all` for gathered buffers (at most 1024 to a call, the usual `IOV_MAX`).
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        let n = bufs.len().min(1024);
        match w.write_vectored(&bufs[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => io::IoSlice::advance_slices(&mut bufs, k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What a JSON record is stored with: its indent in the `connections` array, and the comma and
/// line after it (the last one's comma is left out when written).
const RECORD_INDENT: &[u8] = b"    ";
const RECORD_END: &[u8] = b",\n";

/// Separators inside a table record (cells are cleaned of control characters).
const CELL: char = '\u{1f}';
const PART: char = '\u{1e}';

impl Collector {
    fn new(conn_id: Option<u64>, json: bool, style: render::Style) -> Self {
        let records = Records {
            json,
            style,
            spill: spill::Spill::default(),
            index: Vec::new(),
            widths: render::Widths::default(),
        };
        Collector { conn_id, summary: Default::default(), attempts: Vec::new(), conn: None, failed: false, records }
    }

    /// Concludes a finished timeline and adds its connection if shown; true if the report
    /// hides it.
    fn conclude(&mut self, tl: &Timeline, conclude: &wsdiag::Concluder, filters: &Filters) -> io::Result<bool> {
        // A JSON record takes the events from the timeline itself (no `String` per event);
        // `--conn` keeps the whole connection.
        let lazy = self.records.json && self.conn_id.is_none();
        let c = if lazy { conclude.conclude_without_timeline(tl) } else { conclude.conclude(tl) };
        let Some(c) = c else { return Ok(true) };
        if filters.shows(&c) {
            self.failed |= filters.fails(&c);
            self.add(c, lazy.then(|| (tl, conclude.options())))?;
        }
        Ok(false)
    }

    fn add(&mut self, c: Connection, events: Option<(&Timeline, ReportOptions)>) -> io::Result<()> {
        if let Some(n) = self.conn_id {
            if c.id == n {
                self.conn = Some(c);
            }
            return Ok(());
        }
        self.summary.connections += 1;
        *self.summary.by_verdict.entry(c.verdict.kind.as_str()).or_insert(0) += 1;
        if let Some(a) = wsdiag::attempt(&c) {
            self.attempts.push(a);
        }
        self.records.add(&c, events)
    }

    fn render(
        self,
        inputs: Vec<Input>,
        stats: wsdiag::report::Stats,
        json: bool,
        style: render::Style,
        w: &mut impl Write,
    ) -> io::Result<()> {
        let mut rec = self.records;
        rec.index.sort_by_key(|(id, _)| *id);
        let loops = wsdiag::diagnose::across::reconnect_loops(&self.attempts);
        let pairs = wsdiag::diagnose::across::proxy_pairs(&self.attempts);
        let mut buf = Vec::new();
        if json {
            // Byte for byte what serde_json's pretty printer writes for the whole Report.
            writeln!(w, "{{")?;
            writeln!(w, "  \"tool\": \"wsdiag\",")?;
            writeln!(
                w,
                "  \"version\": {},",
                serde_json::to_string(env!("CARGO_PKG_VERSION")).map_err(io::Error::other)?
            )?;
            writeln!(w, "  \"schema\": {},", wsdiag::report::SCHEMA)?;
            write_member(w, "inputs", &inputs, ",")?;
            if rec.index.is_empty() {
                writeln!(w, "  \"connections\": [],")?;
            } else {
                writeln!(w, "  \"connections\": [")?;
                let cut = RECORD_END.len();
                if let Some(all) = rec.spill.in_memory() {
                    // Straight from the spill (gathered writes, no copy into the output buffer),
                    // the last record without its comma.
                    let mut slices = Vec::with_capacity(rec.index.len() + 1);
                    for (i, (_, slot)) in rec.index.iter().enumerate() {
                        let mut len = slot.len as usize;
                        if i + 1 == rec.index.len() {
                            len = len.saturating_sub(cut);
                        }
                        let r = usize::try_from(slot.offset).ok().and_then(|o| all.get(o..o.checked_add(len)?));
                        slices
                            .push(io::IoSlice::new(r.ok_or_else(|| io::Error::other("a spilled record is missing"))?));
                    }
                    slices.push(io::IoSlice::new(b"\n"));
                    write_all_vectored(w, &mut slices)?;
                } else {
                    // From the spill file, a record at a time, the last without its comma.
                    let last = rec.index.len() - 1;
                    for (i, (_, slot)) in rec.index.iter().enumerate() {
                        let cut = if i == last { cut as u64 } else { 0 };
                        rec.spill.write(slot.offset, u64::from(slot.len).saturating_sub(cut), &mut buf, w)?;
                    }
                    w.write_all(b"\n")?;
                }
                writeln!(w, "  ],")?;
            }
            write_member(w, "summary", &self.summary, ",")?;
            write_member(w, "reconnect_loops", &loops, ",")?;
            write_member(w, "proxied", &pairs, ",")?;
            write_member(w, "stats", &stats, "")?;
            writeln!(w, "}}")?;
            return Ok(());
        }
        if rec.index.is_empty() {
            let n: u64 = inputs.iter().map(|i| i.packets).sum();
            return render::write_empty(n, &stats, w);
        }
        render::write_head(&rec.widths, style, w)?;
        let mut explained = Vec::new();
        for (id, slot) in &rec.index {
            rec.spill.get(*slot, &mut buf)?;
            let text = String::from_utf8_lossy(&buf);
            let mut parts = text.split(PART);
            let cells: Vec<String> = parts.next().unwrap_or("").split(CELL).map(String::from).collect();
            let kind = parts.next().and_then(Kind::parse).unwrap_or(Kind::Unknown);
            let Ok(cells) = <[String; render::table::N]>::try_from(cells) else { continue };
            render::write_row(&rec.widths, &cells, kind, style, w)?;
            if parts.next().is_some_and(|e| !e.is_empty()) {
                explained.push((*id, *slot));
            }
        }
        render::write_summary(&self.summary, &loops, &pairs, style, w)?;
        render::write_tls_note(&stats, w)?;
        for (_, slot) in explained {
            rec.spill.get(slot, &mut buf)?;
            let text = String::from_utf8_lossy(&buf);
            if let Some(e) = text.split(PART).nth(2) {
                writeln!(w)?;
                w.write_all(e.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// `  "name": VALUE,` with the pretty-printed value one level deep.
fn write_member(w: &mut impl Write, name: &str, value: &impl serde::Serialize, after: &str) -> io::Result<()> {
    write!(w, "  \"{name}\": ")?;
    render::json_nested(value, 1, w)?;
    writeln!(w, "{after}")
}
