//! The `wsdiag` binary: thin edges around the library (ripgrep's main.rs shape).

use anyhow::Context;
#[cfg(not(feature = "live"))]
use anyhow::bail;
use clap::Parser;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use wsdiag::report::ReportOptions;
use wsdiag::{Analyzer, Config, render};

mod cli;
#[cfg(feature = "live")]
mod live;
mod pipeline;
mod spill;

use pipeline::{Collector, Filters, NdjsonWriter, Output, Stage};

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
    match args.get(1).and_then(|a| a.to_str()) {
        Some("completions") => return completions(args.get(2).and_then(|a| a.to_str())),
        Some("man") => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            io::stdout().write_all(&out)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let cli = Cli::parse();
    let filters = Filters {
        ports: cli.port.clone(),
        hosts: cli.host.iter().map(|h| pipeline::Host::parse(h)).collect(),
        path: cli.path.clone(),
        verdicts: pipeline::kinds(&cli.verdict, "--verdict")?,
        fail_on: pipeline::kinds(&cli.fail_on, "--fail-on")?,
    };
    // Only the machine-read outputs are made brief; the table and the page keep their advice.
    let brief = cli.brief && (cli.json || cli.ndjson);
    let cfg = Config {
        all: cli.all || cli.conn.is_some(),
        report: ReportOptions {
            show_secrets: cli.show_secrets,
            no_timeline: brief || (!cli.json && !cli.ndjson && cli.conn.is_none() && cli.html.is_none()),
            brief,
        },
        inflate: !cli.no_inflate,
        ..Config::default()
    };
    let stdout = io::stdout();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    // A terminal's width, or COLUMNS when set (as `COLUMNS=70 wsdiag …` asks): the table and
    // the ladder fit it. Into a pipe or a file, rows are whole and prose wraps at 100.
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).filter(|&c| c > 0);
    let terminal = stdout.is_terminal().then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)));
    let (width, fit) = match (columns, terminal) {
        (Some(c), _) => (c, true),
        (None, Some(t)) => (t.unwrap_or(100), true),
        (None, None) => (100, false),
    };
    let style = render::Style { color, width: width.max(40), fit };
    let mut out = io::BufWriter::with_capacity(64 << 10, stdout.lock());

    let mut analyzer = Analyzer::new(cfg);
    analyzer.set_sensor(&cli.sensor.clone().unwrap_or_else(host_name));
    // Ctrl-C (or SIGTERM) ends the reading: the report covers what was read, exit 0; a
    // second one ends wsdiag at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handler = ctrlc::set_handler(move || {
        if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if handler.is_ok() {
        analyzer.set_stop(stop.clone());
    }
    for path in &cli.keylog {
        let name = path.display().to_string();
        let text = read_keylog(path).with_context(|| format!("--keylog {name}"))?;
        for w in analyzer.add_keys(&text, &name) {
            eprintln!("wsdiag: warning: {w}");
        }
    }
    let conclude = analyzer.concluder();
    let output = match (cli.conn, cli.json) {
        (Some(n), _) => Output::Ladder(n, style),
        (None, true) => Output::Json,
        (None, false) => Output::Table(style),
    };
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    // NDJSON lines go out as connections end; the rest is collected for the end.
    let mut sink = if cli.ndjson {
        Sink::Lines(Box::new(NdjsonWriter::new(filters.clone(), conclude)))
    } else {
        // Writing JSON records is heavy enough to pay for a second thread (short-100k --json:
        // 3.65 -> 2.44 s); the table's rows are not, and two busy threads on this kind of
        // machine run slower each (short-100k table: 1.50 -> 1.76 s with it).
        let thread = two_cores && cli.json && cli.conn.is_none();
        let mut collector = Collector::new(output);
        collector.each = cli.each;
        collector.html = cli.html.as_ref().map(|_| Vec::new());
        Sink::Stage(Box::new(Stage::new(collector, filters, conclude, thread)))
    };
    let paths = inputs_of(&cli);
    let inputs = analyzer.read_paths(&paths, cli.merge, |a| sink.take(a.drain(), &mut out))?;
    let mut unreadable = 0;
    for input in &inputs {
        let prefix = if input.format.is_some() { "warning: " } else { "" };
        unreadable += usize::from(input.format.is_none());
        for w in &input.warnings {
            eprintln!("wsdiag: {prefix}{w}");
        }
    }
    if unreadable == inputs.len() {
        // Each unreadable input was named on its own line above.
        return Ok(ExitCode::from(2));
    }
    let mut result = Ok(());
    let mut stats = analyzer.finish(|tl| {
        if result.is_ok() {
            result = sink.push(tl, &mut out);
        }
    });
    result?;
    let failed = match sink {
        Sink::Lines(mut nd) => {
            nd.finish(&mut out)?;
            stats.connections_hidden += nd.hidden;
            nd.failed
        }
        Sink::Stage(stage) => {
            let (mut collector, hidden) = stage.finish()?;
            stats.connections_hidden += hidden;
            let failed = collector.failed;
            if let Some(path) = &cli.html {
                collector.write_html(path, &inputs, &stats)?;
            }
            collector.render(inputs, stats, &mut out)?;
            failed
        }
    };
    out.flush()?;
    // An input that could not be read at all outweighs a --fail-on match: the report is
    // not the whole story.
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `wsdiag completions SHELL`: the completion script for bash, zsh, fish, elvish or PowerShell.
fn completions(shell: Option<&str>) -> anyhow::Result<ExitCode> {
    use clap_complete::Shell;
    let Some(shell) = shell.and_then(|s| s.parse::<Shell>().ok()) else {
        eprintln!("wsdiag: usage: wsdiag completions bash|zsh|fish|elvish|powershell");
        return Ok(ExitCode::from(2));
    };
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "wsdiag", &mut io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// The capture files to read: the arguments and `-r` files in order, a directory as its files
/// (not hidden ones) in name order, as a rotation set's pieces are named.
fn inputs_of(cli: &Cli) -> Vec<String> {
    let mut out = Vec::new();
    for arg in cli.captures.iter().chain(&cli.read) {
        let path = std::path::Path::new(arg);
        if arg != "-" && path.is_dir() {
            let mut files: Vec<String> = std::fs::read_dir(path)
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.path().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
                        .map(|e| e.path().display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            if files.is_empty() {
                // Said as an unreadable input, with the others analysed.
                out.push(arg.clone());
            }
            out.extend(files);
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// This machine's host name (Linux keeps it in /proc), or "unknown".
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// A key log's text; a file over 256 MiB is not one.
fn read_keylog(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    const MAX: u64 = 256 << 20;
    let f = std::fs::File::open(path)?;
    let mut text = Vec::new();
    f.take(MAX + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX {
        anyhow::bail!("over {} MiB: not a key log", MAX >> 20);
    }
    Ok(text)
}

/// Where finished connections go.
enum Sink {
    Lines(Box<NdjsonWriter>),
    Stage(Box<Stage>),
}

impl Sink {
    fn push(&mut self, tl: wsdiag::timeline::Timeline, out: &mut impl Write) -> anyhow::Result<()> {
        match self {
            Sink::Lines(nd) => nd.write(tl, out),
            Sink::Stage(stage) => Ok(stage.push(tl)?),
        }
    }

    /// A batch from the reading (NDJSON lines are flushed at once: they stream).
    fn take(
        &mut self,
        tls: impl IntoIterator<Item = wsdiag::timeline::Timeline>,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        match self {
            Sink::Lines(nd) => {
                for tl in tls {
                    nd.write(tl, out)?;
                }
                Ok(out.flush()?)
            }
            Sink::Stage(stage) => Ok(stage.push_all(tls)?),
        }
    }
}
