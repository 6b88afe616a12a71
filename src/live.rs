//! `wsdiag live`: capture on an interface and print each connection's verdict as it ends.
//! The packets go through exactly the analysis files go through.

use anyhow::Context;
use clap::Parser;
use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wsdiag::capture::live::{self, LiveCapture};
use wsdiag::diagnose::Kind;
use wsdiag::report::{Connection, ReportOptions};
use wsdiag::units::Timestamp;
use wsdiag::{Analyzer, Config, render};

/// Capture live and explain each WebSocket connection as it ends.
#[derive(Debug, Parser)]
#[command(name = "wsdiag live")]
pub struct LiveCli {
    /// The interface ("any" for all, as tcpdump -i any).
    #[arg(short = 'i', long, required_unless_present = "list")]
    pub interface: Option<String>,
    /// A BPF capture filter, e.g. "tcp port 8000".
    #[arg(short = 'f', long)]
    pub filter: Option<String>,
    /// Bytes captured per packet.
    #[arg(long, default_value_t = 262_144)]
    pub snaplen: i32,
    /// libpcap's kernel buffer in MiB: what absorbs a burst while the analysis catches up.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub buffer_size: i32,
    /// Also save the packets analysed to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub write: Option<std::path::PathBuf>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// One JSON object per connection instead of a line.
    #[arg(long)]
    pub ndjson: bool,
    /// Show every TCP connection.
    #[arg(long)]
    pub all: bool,
    /// Show tokens instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Exit 1 if a connection had one of these verdicts.
    #[arg(long, value_delimiter = ',')]
    pub fail_on: Vec<String>,
    /// Name this host in every record (default: its host name).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Decrypt TLS with this NSS key log; lines appended while the capture runs (a browser's
    /// SSLKEYLOGFILE) are read as they come (repeatable).
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<std::path::PathBuf>,
    /// List the interfaces and exit.
    #[arg(long)]
    pub list: bool,
}

fn now() -> Timestamp {
    Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64))
}

pub fn run(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let cli = LiveCli::parse_from(args);
    if cli.list {
        for (name, desc) in live::list()? {
            println!("{name}{}", desc.map(|d| format!("  ({d})")).unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let fail_on: Vec<Kind> = cli
        .fail_on
        .iter()
        .map(|s| Kind::parse(s.trim()).with_context(|| format!("--fail-on: unknown verdict kind {s:?}")))
        .collect::<anyhow::Result<_>>()?;
    let iface = cli.interface.clone().unwrap_or_default();
    let cap = match LiveCapture::open(&iface, cli.filter.as_deref(), cli.snaplen, cli.buffer_size, cli.write.as_deref())
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsdiag: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).context("installing the signal handler")?;
    eprintln!("wsdiag: capturing on {iface} ({}); Ctrl-C to stop", cap.linktype().name());
    let cfg = Config {
        all: cli.all,
        report: ReportOptions { show_secrets: cli.show_secrets, ..Default::default() },
        linger_ms: wsdiag::STREAM_LINGER_MS,
        ..Config::default()
    };
    let mut analyzer = Analyzer::new(cfg);
    analyzer.set_sensor(&cli.sensor.clone().unwrap_or_else(crate::host_name));
    let mut keylogs: Vec<KeyLogFile> = cli.keylog.iter().map(|p| KeyLogFile { path: p.clone(), read: 0 }).collect();
    for k in &mut keylogs {
        k.poll(&mut analyzer);
    }
    let conclude = analyzer.concluder();
    let started = Instant::now();
    let deadline = cli.duration.map(|s| started + Duration::from_secs_f64(s));
    let mut out = io::stdout().lock();
    let mut failed = false;
    let mut packets = 0u64;
    let mut last_tick = Instant::now();
    // The capture thread copies packets out of libpcap's ring; this one analyses them.
    let linktype = cap.linktype();
    let capturing = Arc::new(AtomicBool::new(false));
    let feed = live::Feed::spawn(cap, capturing.clone());
    let (mut number, mut stats, mut dropped_said) = (0u64, None, 0u32);
    loop {
        let done = stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || cli.count.is_some_and(|n| packets >= n);
        if done {
            capturing.store(true, Ordering::SeqCst);
        }
        let last = match feed.next(Duration::from_millis(50)) {
            Some(batch) => {
                for p in batch.packets(linktype, &mut number) {
                    if cli.count.is_some_and(|n| packets >= n) {
                        break;
                    }
                    packets += 1;
                    if let Some(issue) = analyzer.packet(&p) {
                        eprintln!("wsdiag: warning: {}", issue.text);
                    }
                }
                if let Some(e) = &batch.error {
                    eprintln!("wsdiag: capture error: {e}");
                }
                stats = batch.stats.or(stats);
                let last = batch.last;
                feed.give_back(batch);
                last
            }
            None => false,
        };
        if let Some(s) = stats
            && s.dropped.saturating_add(s.if_dropped) > dropped_said
        {
            // Said when it happens, in the output itself: connections may be cut from here on.
            let all = s.dropped.saturating_add(s.if_dropped);
            let line = format!(
                "libpcap dropped {} packet(s) ({all} in all, {} received): the analysis fell behind; connections open meanwhile may be judged on missing packets (--buffer-size, a narrower -f filter)",
                all - dropped_said,
                s.received
            );
            if cli.ndjson {
                eprintln!("wsdiag: warning: {line}");
            } else {
                writeln!(out, "! {line}")?;
            }
            dropped_said = all;
        }
        if last_tick.elapsed() >= Duration::from_millis(200) || last {
            last_tick = Instant::now();
            for k in &mut keylogs {
                k.poll(&mut analyzer);
            }
            analyzer.tick(now());
            for tl in analyzer.drain() {
                emit(conclude.conclude(tl).0, cli.ndjson, &fail_on, &mut out, &mut failed)?;
            }
            out.flush()?;
        }
        if last {
            break;
        }
    }
    let mut rest = Vec::new();
    analyzer.finish(|tl| rest.extend(conclude.conclude(tl).0));
    rest.sort_by_key(|c| c.id);
    emit(rest, cli.ndjson, &fail_on, &mut out, &mut failed)?;
    if let Some(s) = stats {
        eprintln!(
            "wsdiag: {packets} packets analysed; libpcap: {} received, {} dropped by the kernel, {} dropped by the interface",
            s.received, s.dropped, s.if_dropped
        );
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A key log being written while the capture runs, and how far it has been read.
struct KeyLogFile {
    path: std::path::PathBuf,
    read: u64,
}

impl KeyLogFile {
    /// Reads what was appended since the last call (a file that shrank is read again).
    fn poll(&mut self, analyzer: &mut Analyzer) {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.read {
            self.read = 0;
        }
        if len == self.read || f.seek(SeekFrom::Start(self.read)).is_err() {
            return;
        }
        let mut text = Vec::new();
        if f.take((len - self.read).min(64 << 20)).read_to_end(&mut text).is_err() {
            return;
        }
        self.read += text.len() as u64;
        let name = self.path.display().to_string();
        for w in analyzer.append_keys(&text, &name) {
            eprintln!("wsdiag: warning: {w}");
        }
    }
}

fn emit(
    conns: Vec<Connection>,
    ndjson: bool,
    fail_on: &[Kind],
    out: &mut impl Write,
    failed: &mut bool,
) -> io::Result<()> {
    for c in &conns {
        *failed |= fail_on.contains(&c.verdict.kind);
        if ndjson {
            render::ndjson(c, out)?;
        } else {
            render::line(c, out)?;
        }
    }
    out.flush()
}
