//! The `wsdiag` binary: thin edges around the library (ripgrep's main.rs shape).

use anyhow::{Context, bail};
use clap::Parser;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use wsdiag::capture;
use wsdiag::diagnose::Kind;
use wsdiag::report::{Connection, Input, ReportOptions};
use wsdiag::{Analyzer, Config, render};

mod cli;
#[cfg(feature = "live")]
mod live;

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
        report: ReportOptions { show_secrets: cli.show_secrets },
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
    let mut out = io::BufWriter::new(stdout.lock());

    let mut analyzer = Analyzer::new(cfg);
    let mut inputs = Vec::new();
    let mut readable = 0;
    let mut next_number = 1;
    let mut shown: Vec<Connection> = Vec::new();
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
        let input = analyzer.read_with(reader, path, &mut next_number, |a| {
            if cli.ndjson { emit_ndjson(a.take_finished(), &filters, &mut out, &mut failed) } else { Ok(()) }
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
    let (conns, stats) = analyzer.finish();
    if cli.ndjson {
        emit_ndjson(conns, &filters, &mut out, &mut failed)?;
        out.flush()?;
        return Ok(exit(failed));
    }
    for c in conns {
        if filters.shows(&c) {
            failed |= filters.fails(&c);
            shown.push(c);
        }
    }
    if let Some(n) = cli.conn {
        let Some(c) = shown.iter().find(|c| c.id == n) else {
            let ids: Vec<String> = shown.iter().map(|c| c.id.to_string()).collect();
            bail!(
                "no connection {n} in this capture (connections: {})",
                if ids.is_empty() { "none".into() } else { ids.join(", ") }
            );
        };
        render::ladder(c, style, &mut out)?;
        out.flush()?;
        return Ok(exit(failed));
    }
    let report = wsdiag::build_report(inputs, shown, stats);
    if cli.json {
        render::json(&report, &mut out)?;
    } else {
        render::table(&report, style, &mut out)?;
    }
    out.flush()?;
    Ok(exit(failed))
}

fn exit(failed: bool) -> ExitCode {
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn emit_ndjson(
    conns: Vec<Connection>,
    filters: &Filters,
    out: &mut impl Write,
    failed: &mut bool,
) -> anyhow::Result<()> {
    for c in conns.iter().filter(|c| filters.shows(c)) {
        *failed |= filters.fails(c);
        render::ndjson(c, out).context("writing NDJSON")?;
    }
    out.flush()?;
    Ok(())
}

/// `--port`, `--host`, `--path`, `--verdict`, `--fail-on`.
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
