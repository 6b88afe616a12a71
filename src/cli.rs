//! Command-line arguments -> a plain configuration.

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Explain how every WebSocket connection in a capture ended — above all, why a browser
/// reported close code 1006.
#[derive(Debug, Parser)]
#[command(
    name = "wsdiag",
    version,
    about,
    after_help = "Verdict kinds: clean_close, refused, unreachable, handshake_rejected, handshake_unanswered,\n  invalid_handshake, server_abort, client_abort, idle_timeout, close_unanswered, protocol_violation,\n  tls_failed, path_reset, path_lost, still_open, unknown, not_websocket (docs/report.md says when each applies).\nLive capture: wsdiag live -i IFACE [-f BPF] (cargo feature `live`).\nShell completions and the man page: wsdiag completions SHELL, wsdiag man.\nExit status: 0 analysed, 1 a connection matched --fail-on, 2 bad usage or an input that could not be read\n  (the others are analysed all the same)."
)]
pub struct Cli {
    /// Capture files (pcap or pcapng; plain, gzip, zstd or lz4) or directories of them; "-"
    /// reads standard input. Each file is a capture of its own, with its own packet numbers,
    /// except the pieces of a rotation set (tcpdump -C/-G/-W, editcap -c), which are read as
    /// one capture in time order, numbered per piece (2:17 is packet 17 of the second).
    #[arg(required_unless_present = "read", value_name = "CAPTURE")]
    pub captures: Vec<String>,
    /// A capture file, as tcpdump, tshark and Zeek take it (repeatable); a directory is read
    /// as its capture files in name order.
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Vec<String>,
    /// One JSON document (the report contract, schema 1).
    #[arg(long, conflicts_with_all = ["ndjson", "conn"])]
    pub json: bool,
    /// One JSON object per connection, written as each one ends.
    #[arg(long, conflicts_with = "conn")]
    pub ndjson: bool,
    /// The ladder diagram of connection N.
    #[arg(long, value_name = "N")]
    pub conn: Option<u64>,
    /// Also write a self-contained HTML report to FILE (summary, timeline, table, explanations,
    /// ladders as SVG; no network requests); the usual output still goes to stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "ndjson")]
    pub html: Option<std::path::PathBuf>,
    /// Show every TCP connection, not only WebSocket attempts.
    #[arg(long)]
    pub all: bool,
    /// Only connections with this port on either side (repeatable).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Only connections with this IP address on either side, or this Host header (repeatable).
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Only connections whose request path contains this text.
    #[arg(long, value_name = "TEXT")]
    pub path: Option<String>,
    /// Only connections with these verdict kinds (comma-separated, repeatable).
    #[arg(long, value_name = "KIND", value_delimiter = ',')]
    pub verdict: Vec<String>,
    /// Exit with status 1 if a shown connection has one of these verdict kinds.
    #[arg(long, value_name = "KIND", value_delimiter = ',')]
    pub fail_on: Vec<String>,
    /// Show tokens in URIs and subprotocols instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Decrypt TLS (wss) with this NSS key log (SSLKEYLOGFILE of a browser, Node, Python,
    /// curl; repeatable). Keys in pcapng Decryption Secrets Blocks are read without it.
    #[arg(long, value_name = "FILE")]
    pub keylog: Vec<std::path::PathBuf>,
    /// Name the host the capture was taken on in every record (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// With --json or --ndjson: leave out timelines, advice and body previews (every key
    /// stays, empty): 3.3 KB a connection instead of 4.6 KB on the shipped captures.
    #[arg(long)]
    pub brief: bool,
    /// Explain every connection in its own paragraph (by default a capture with more than
    /// 12 explained connections explains each pattern once, with its count and ids).
    #[arg(long)]
    pub each: bool,
    /// Read all the files as pieces of one capture, in the order of their first packets
    /// (when the rotation set is not recognised by itself).
    #[arg(long)]
    pub merge: bool,
    /// Do not inflate permessage-deflate messages (faster; no previews or UTF-8 checks of them).
    #[arg(long)]
    pub no_inflate: bool,
    /// Colour: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}
