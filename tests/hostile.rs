//! Hostile captures: truncations, bit flips, absurd lengths, floods, reordering storms, conflicting
//! retransmissions, giant frames and deflate bombs. Every case runs through the library (no
//! panic, bounded state) and, for a representative set, through the `wsdiag` binary: exit status
//! 0, 1 or 2, one-line messages on stderr that name the file (and the byte offset or packet where
//! there is one), and a peak RSS under a cap.
//!
//! Deterministic: pseudo-random offsets come from a fixed-seed xorshift. Sizes are scaled down in
//! debug builds (`cargo test`) and run in full with `cargo test --release`.

mod common;

use common::{Flow, ipv4_tcp};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wsdiag::capture::{Linktype, Packet};
use wsdiag::units::{PacketNo, Timestamp};
use wsdiag::{Analyzer, Config, analyze_bytes};

// ---------------------------------------------------------------------------------------------
// Building captures

const RAW: u32 = 101;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

/// A fixed-seed xorshift64*: the same offsets on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&262_144u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    v
}

fn pcap_record(out: &mut Vec<u8>, ts_us: u64, data: &[u8], orig_len: u32) {
    out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&orig_len.to_le_bytes());
    out.extend_from_slice(data);
}

fn pcap(packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    common::pcap_raw(packets)
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The WebSocket connections the hostile tests build on.
trait Connections {
    fn one() -> Self;
    fn websocket(extensions: Option<&str>) -> Self;
    fn close(&mut self);
    fn pcap(&self) -> Vec<u8>;
}

impl Connections for Flow {
    fn one() -> Self {
        Flow::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 8000), 1_700_000_000_000_000)
    }

    /// Three-way handshake, GET with Upgrade, 101 (with `extensions` agreed, if any).
    fn websocket(extensions: Option<&str>) -> Self {
        let mut f = Flow::one();
        f.send(true, SYN, &[]);
        f.send(false, SYN | ACK, &[]);
        f.send(true, ACK, &[]);
        let ext = extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        );
        f.send(true, PSH_ACK, req.as_bytes());
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{ext}\r\n",
            wsdiag::http::accept_for(KEY)
        );
        f.send(false, PSH_ACK, resp.as_bytes());
        f
    }

    /// FIN both ways.
    fn close(&mut self) {
        self.send(true, FIN_ACK, &[]);
        self.send(false, FIN_ACK, &[]);
        self.send(true, ACK, &[]);
    }

    fn pcap(&self) -> Vec<u8> {
        pcap(&self.packets)
    }
}

/// A WebSocket frame header (RFC 6455 §5.2) with the given first byte and payload length.
fn frame_header(b0: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut v = vec![b0];
    if len < 126 {
        v.push(m | len as u8);
    } else if len <= 0xffff {
        v.push(m | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        v.extend_from_slice(&k);
    }
    v
}

fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [1, 2, 3, 4];
    let mut v = frame_header(b0, payload.len() as u64, Some(key));
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    v
}

fn capture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Byte offsets where pcap records start (after the 24-byte file header), and the end.
fn pcap_boundaries(b: &[u8]) -> Vec<usize> {
    let mut v = vec![24];
    let mut at = 24;
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]) as usize;
        at += 16 + caplen;
        if at > b.len() {
            break;
        }
        v.push(at);
    }
    v
}

/// Byte offsets where pcapng blocks start, and the end.
fn pcapng_boundaries(b: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    let mut at = 0;
    while at + 12 <= b.len() {
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        if len < 12 {
            break;
        }
        at += len;
        if at > b.len() {
            break;
        }
        v.push(at);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Running the binary

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak resident set size, kB.
    peak_kb: u64,
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile");
    std::fs::create_dir_all(&dir).ok();
    dir.join(name)
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `wsdiag ARGS FILE` under `/usr/bin/time -f %M` when it exists (exact peak RSS), else
/// polls `VmHWM` in /proc (a lower bound taken every millisecond). Fails past `limit`.
fn wsdiag(file: &Path, args: &[&str], limit: Duration) -> Run {
    let bin = env!("CARGO_BIN_EXE_wsdiag");
    let timed = Path::new("/usr/bin/time").exists();
    let mut cmd = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).arg(file).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    // Drain the pipes on threads so a large report cannot block the child.
    let mut out = child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut o, &mut s).ok();
            s
        })
    });
    let mut err = child.stderr.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut o, &mut s).ok();
            s
        })
    });
    let start = Instant::now();
    let mut polled = 0;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if !timed {
            polled = polled.max(vm_hwm_kb(child.id()).unwrap_or(0));
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("wsdiag {args:?} {} took longer than {limit:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let stdout = String::from_utf8_lossy(&out.take().and_then(|t| t.join().ok()).unwrap_or_default()).into_owned();
    let mut stderr = String::from_utf8_lossy(&err.take().and_then(|t| t.join().ok()).unwrap_or_default()).into_owned();
    let mut peak_kb = polled;
    if timed {
        // /usr/bin/time's own line is the last one.
        let body = stderr.trim_end_matches('\n');
        let (rest, last) = body.rsplit_once('\n').unwrap_or(("", body));
        peak_kb = last.trim().parse().unwrap_or(0);
        stderr = if rest.is_empty() { String::new() } else { format!("{rest}\n") };
        // time(1) reports a signal or exit status on an extra line before %M.
        stderr = stderr.lines().filter(|l| !l.starts_with("Command ")).map(|l| format!("{l}\n")).collect();
    }
    // time(1) passes the child's exit status through.
    let code = status.code().unwrap_or(-1);
    let run = Run { code, stdout, stderr, peak_kb };
    check_run(&run, file);
    run
}

/// What every run must satisfy: a defined exit status, no panic, stderr lines that are one-line
/// messages naming the file.
fn check_run(r: &Run, file: &Path) {
    let name = file.to_string_lossy();
    assert!(matches!(r.code, 0..=2), "{name}: exit status {} (stderr: {})", r.code, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{name}: panic: {}", r.stderr);
    for line in r.stderr.lines() {
        assert!(line.starts_with("wsdiag: "), "{name}: stderr line without the program name: {line:?}");
        if line.starts_with("wsdiag: warning: ") {
            assert!(line.contains(&*name), "{name}: warning does not name the file: {line:?}");
        }
    }
    if r.code == 2 {
        assert!(r.stderr.lines().any(|l| l.contains(&*name)), "{name}: exit 2 without naming the file: {}", r.stderr);
    }
}

/// Peak RSS is checked in release builds only where it says something about the program (a
/// debug build carries larger frames); the number is printed either way.
fn check_rss(what: &str, r: &Run, cap_mb: u64) {
    eprintln!("hostile: {what}: peak RSS {} kB", r.peak_kb);
    assert!(r.peak_kb < cap_mb * 1024, "{what}: peak RSS {} kB over {cap_mb} MB", r.peak_kb);
}

/// The peak RSS of the binary on a one-connection capture: what it takes before any input
/// (its mapped code, the reading thread's buffers), 9–12 MB for a debug build.
fn baseline_kb() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| wsdiag(Path::new("captures/python-clean.pcap"), &["--json"], SLOW).peak_kb)
}

/// [`check_rss`] for what an input adds over [`baseline_kb`], where the input's own cost is
/// small beside the binary's.
fn check_rss_added(what: &str, r: &Run, added_mb: u64) {
    let base = baseline_kb();
    let added = r.peak_kb.saturating_sub(base);
    eprintln!("hostile: {what}: peak RSS {} kB, {added} kB over the {base} kB of a one-connection capture", r.peak_kb);
    assert!(
        added < added_mb * 1024,
        "{what}: peak RSS {} kB, {added} kB over the baseline: over {added_mb} MB",
        r.peak_kb
    );
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("JSON: {e}: {}", r.stdout))
}

fn warnings(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| l.starts_with("wsdiag: warning: ")).collect()
}

const SLOW: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Truncation

fn truncation_offsets(bytes: &[u8], boundaries: &[usize], seed: u64) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::new();
    for &b in boundaries {
        cuts.extend([b.saturating_sub(1), b, b + 1, b + 7]);
    }
    let mut rng = Rng(seed);
    let n = if cfg!(debug_assertions) { 200 } else { 400 };
    cuts.extend((0..n).map(|_| rng.below(bytes.len() + 1)));
    cuts.extend(0..32);
    cuts.retain(|c| *c <= bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn truncated_pcap_library() {
    for name in ["python-clean.pcap", "node-deflate.pcap", "heartbeat.pcap", "snaplen96.pcap"] {
        let bytes = capture(name);
        let bounds = pcap_boundaries(&bytes);
        for cut in truncation_offsets(&bytes, &bounds, 0x5eed_0001) {
            let (_, _, input) = analyze_bytes(&bytes[..cut], Config::default());
            let whole = bounds.iter().filter(|b| **b <= cut).count().saturating_sub(1) as u64;
            if cut < 24 {
                assert_eq!(input.packets, 0);
                assert!(
                    input.warnings.iter().any(|w| w.contains("not a capture")),
                    "{name}@{cut}: {:?}",
                    input.warnings
                );
                continue;
            }
            assert_eq!(input.packets, whole, "{name} cut at {cut}");
            if bounds.contains(&cut) {
                assert!(input.warnings.iter().all(|w| !w.contains("truncated")), "{name}@{cut}: {:?}", input.warnings);
            } else {
                let w = input
                    .warnings
                    .iter()
                    .find(|w| w.contains("truncated"))
                    .unwrap_or_else(|| panic!("{name}@{cut}: no warning"));
                let at = bounds.iter().rev().find(|b| **b <= cut).copied().unwrap_or(24);
                assert!(w.contains(&format!("byte offset {at}")), "{name}@{cut}: {w}");
                assert!(w.contains(&format!("packet {}", whole + 1)), "{name}@{cut}: {w}");
            }
        }
    }
}

#[test]
fn truncated_pcapng_library() {
    let bytes = capture("daphne-accept.pcapng");
    let bounds = pcapng_boundaries(&bytes);
    assert_eq!(*bounds.last().unwrap_or(&0), bytes.len());
    for cut in truncation_offsets(&bytes, &bounds, 0x5eed_0002) {
        let (_, _, input) = analyze_bytes(&bytes[..cut], Config::default());
        if cut >= 4 && !bounds.contains(&cut) {
            let w = input.warnings.iter().find(|w| w.contains("truncated"));
            let w = w.unwrap_or_else(|| panic!("cut at {cut}: no warning: {:?}", input.warnings));
            let at = bounds.iter().rev().find(|b| **b <= cut).copied().unwrap_or(0);
            assert!(w.contains(&format!("byte offset {at}")), "cut at {cut}: {w}");
        }
    }
}

#[test]
fn truncated_captures_binary() {
    let bytes = capture("python-clean.pcap");
    let bounds = pcap_boundaries(&bytes);
    let mut cuts: Vec<usize> = bounds.iter().flat_map(|b| [*b, b + 5]).collect();
    let mut rng = Rng(0x5eed_0003);
    cuts.extend((0..20).map(|_| rng.below(bytes.len())));
    cuts.extend([0, 3, 10, 23]);
    cuts.retain(|c| *c <= bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut peak = 0;
    for cut in cuts {
        let f = write_tmp(&format!("trunc-{cut}.pcap"), &bytes[..cut]);
        let r = wsdiag(&f, &[], SLOW);
        peak = peak.max(r.peak_kb);
        if cut < 24 {
            assert_eq!(r.code, 2, "cut at {cut}: {}", r.stderr);
            assert!(r.stderr.contains("not a capture"), "cut at {cut}: {}", r.stderr);
        } else {
            assert_eq!(r.code, 0, "cut at {cut}: {}", r.stderr);
        }
        if cut >= 24 && !bounds.contains(&cut) {
            let w = warnings(&r);
            assert!(
                w.iter().any(|l| l.contains("truncated at byte offset") && l.contains("packet")),
                "cut at {cut}: {}",
                r.stderr
            );
        }
    }
    eprintln!("hostile: truncations: peak RSS {peak} kB");
    assert!(peak < 100 * 1024);
}

// ---------------------------------------------------------------------------------------------
// Bit flips in headers

#[test]
fn bit_flips_in_headers() {
    let pcap_bytes = capture("python-clean.pcap");
    let bounds = pcap_boundaries(&pcap_bytes);
    // The file header and the first four record headers, every bit.
    let mut spots: Vec<usize> = (0..24).collect();
    for b in bounds.iter().take(4) {
        spots.extend(*b..*b + 16);
    }
    let png = capture("daphne-accept.pcapng");
    let png_bounds = pcapng_boundaries(&png);
    // SHB, IDB and the first EPBs: block type, lengths, and the EPB's fixed fields.
    let mut png_spots: Vec<usize> = Vec::new();
    for b in png_bounds.iter().take(5) {
        png_spots.extend(*b..(*b + 28).min(png.len()));
    }
    let mut variants = Vec::new();
    for (src, spots) in [(&pcap_bytes, &spots), (&png, &png_spots)] {
        for &at in spots {
            for bit in 0..8 {
                let mut v = src.clone();
                v[at] ^= 1 << bit;
                variants.push((at, bit, v));
            }
        }
    }
    for (at, bit, v) in &variants {
        let (conns, _, input) = analyze_bytes(v, Config::default());
        assert!(conns.len() <= 4, "byte {at} bit {bit}: {} connections", conns.len());
        for w in &input.warnings {
            assert!(!w.contains('\n'), "byte {at} bit {bit}: multi-line warning {w:?}");
        }
    }
    // The binary on a sample: every flip of the magic's first byte, the link type, and the first
    // record's caplen and orig_len high bytes.
    let mut peak = 0;
    for (i, (at, bit, v)) in variants.iter().enumerate() {
        let pcap_sample = i < spots.len() * 8 && matches!(*at, 0 | 20 | 35 | 39);
        let png_sample = i >= spots.len() * 8 && *bit == 7 && matches!(*at, 4..=7);
        if !(pcap_sample || png_sample) {
            continue;
        }
        let f = write_tmp(&format!("flip-{i}-{at}-{bit}"), v);
        let r = wsdiag(&f, &["--json"], SLOW);
        peak = peak.max(r.peak_kb);
        if r.code == 0 {
            json(&r);
        }
    }
    eprintln!("hostile: bit flips: peak RSS {peak} kB");
    assert!(peak < 100 * 1024);
}

// ---------------------------------------------------------------------------------------------
// Lengths claiming 2^31 .. 2^63 bytes

fn pcapng_block(btype: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut v = btype.to_le_bytes().to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(body);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

fn shb(section_len: u64) -> Vec<u8> {
    let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0, 0, 0]);
    body.extend_from_slice(&section_len.to_le_bytes());
    pcapng_block(0x0A0D_0D0A, &body)
}

fn idb(linktype: u16) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&262_144u32.to_le_bytes());
    pcapng_block(1, &body)
}

fn epb(caplen: u32, orig: u32, data: &[u8]) -> Vec<u8> {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&caplen.to_le_bytes());
    body.extend_from_slice(&orig.to_le_bytes());
    body.extend_from_slice(data);
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    pcapng_block(6, &body)
}

fn small_packet() -> Vec<u8> {
    ipv4_tcp([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, 1, 0, SYN, &[])
}

/// pcap files whose second record claims a huge caplen or orig_len.
fn huge_pcaps() -> Vec<(String, Vec<u8>)> {
    let p = small_packet();
    let mut out = Vec::new();
    for claim in [1u64 << 31, (1 << 32) - 1, 0x7fff_ffff, 0xffff_fff0] {
        for field in ["caplen", "orig"] {
            let mut v = pcap_header(RAW);
            pcap_record(&mut v, 1, &p, p.len() as u32);
            let at = v.len();
            pcap_record(&mut v, 2, &p, p.len() as u32);
            let off = if field == "caplen" { 8 } else { 12 };
            v[at + off..at + off + 4].copy_from_slice(&(claim as u32).to_le_bytes());
            pcap_record(&mut v, 3, &p, p.len() as u32);
            out.push((format!("pcap-{field}-{claim:#x}"), v));
        }
    }
    // A header's snaplen of 2^32 - 1 and a big-endian twin.
    let mut v = pcap_header(RAW);
    v[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    pcap_record(&mut v, 1, &p, p.len() as u32);
    out.push(("pcap-snaplen-max".into(), v));
    out
}

/// pcapng files with section lengths up to 2^63 and blocks or packets claiming 2^31 and more.
fn huge_pcapngs() -> Vec<(String, Vec<u8>)> {
    let p = small_packet();
    let mut out = Vec::new();
    for section in [1u64 << 31, 1 << 62, (1 << 63) - 1, 1 << 63, u64::MAX] {
        let mut v = shb(section);
        v.extend(idb(RAW as u16));
        v.extend(epb(p.len() as u32, p.len() as u32, &p));
        out.push((format!("pcapng-section-{section:#x}"), v));
    }
    for claim in [1u32 << 31, u32::MAX - 3, 0x7fff_fffc] {
        // A block length that is a multiple of 4 but far beyond the file.
        let mut v = shb(u64::MAX);
        v.extend(idb(RAW as u16));
        let at = v.len();
        v.extend(epb(p.len() as u32, p.len() as u32, &p));
        v[at + 4..at + 8].copy_from_slice(&claim.to_le_bytes());
        v.extend(epb(p.len() as u32, p.len() as u32, &p));
        out.push((format!("pcapng-blocklen-{claim:#x}"), v));
        // A packet claiming more captured bytes than its block holds.
        let mut v = shb(u64::MAX);
        v.extend(idb(RAW as u16));
        v.extend(epb(claim, claim, &p));
        out.push((format!("pcapng-caplen-{claim:#x}"), v));
    }
    out
}

#[test]
fn lengths_claiming_2_pow_31_to_2_pow_63() {
    let cases: Vec<_> = huge_pcaps().into_iter().chain(huge_pcapngs()).collect();
    for (name, v) in &cases {
        let (_, _, input) = analyze_bytes(v, Config::default());
        assert!(input.packets <= 3, "{name}: {} packets", input.packets);
        for w in &input.warnings {
            assert!(!w.contains('\n'), "{name}: multi-line warning {w:?}");
        }
    }
    let mut peak = 0;
    for (name, v) in &cases {
        let f = write_tmp(name, v);
        let r = wsdiag(&f, &["--all"], SLOW);
        peak = peak.max(r.peak_kb);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let claimed_caplen = name.contains("caplen") || name.contains("blocklen");
        if claimed_caplen {
            let w = warnings(&r);
            assert!(w.iter().any(|l| l.contains("byte offset")), "{name}: no warning with an offset: {}", r.stderr);
        }
    }
    eprintln!("hostile: huge length claims: peak RSS {peak} kB");
    assert!(peak < 100 * 1024, "peak RSS {peak} kB");
}

// ---------------------------------------------------------------------------------------------
// pcapng blocks with bad lengths

#[test]
fn pcapng_bad_block_lengths() {
    let p = small_packet();
    let good = epb(p.len() as u32, p.len() as u32, &p);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, len) in
        [("zero", 0u32), ("four", 4), ("eight", 8), ("odd", 33), ("not4", 46), ("short-epb", 12), ("short-epb2", 28)]
    {
        let mut v = shb(u64::MAX);
        v.extend(idb(RAW as u16));
        let at = v.len();
        v.extend(&good);
        v[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
        v.extend(&good);
        cases.push((format!("png-len-{what}"), v));
    }
    // Trailing length differs from the leading one.
    let mut v = shb(u64::MAX);
    v.extend(idb(RAW as u16));
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&12u32.to_le_bytes());
    v.extend(bad);
    v.extend(&good);
    cases.push(("png-trailer".into(), v));
    // An IDB of the minimum length, and one whose option claims more than the block.
    let mut v = shb(u64::MAX);
    v.extend(pcapng_block(1, &[]));
    v.extend(&good);
    cases.push(("png-idb-empty".into(), v));
    let mut v = shb(u64::MAX);
    let mut body = (RAW as u16).to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 4, 0]);
    body.extend_from_slice(&[9, 0, 0xff, 0xff, 0x80, 0, 0, 0]);
    v.extend(pcapng_block(1, &body));
    v.extend(&good);
    cases.push(("png-idb-option".into(), v));
    // A timestamp resolution of 2^-127 and 10^-127, and an offset of i64::MAX seconds.
    for (tag, res) in [("tsresol-bin", 0xffu8), ("tsresol-dec", 0x7f)] {
        let mut v = shb(u64::MAX);
        let mut body = (RAW as u16).to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0, 0, 0, 4, 0]);
        body.extend_from_slice(&[9, 0, 1, 0, res, 0, 0, 0]);
        body.extend_from_slice(&[14, 0, 8, 0]);
        body.extend_from_slice(&i64::MAX.to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        v.extend(pcapng_block(1, &body));
        let mut e = epb(p.len() as u32, p.len() as u32, &p);
        e[12..20].copy_from_slice(&[0xff; 8]);
        v.extend(e);
        v.extend(&good);
        cases.push((format!("png-{tag}"), v));
    }
    // A packet naming an interface that was never described; a bad byte-order magic.
    let mut v = shb(u64::MAX);
    v.extend(idb(RAW as u16));
    let mut e = good.clone();
    e[8..12].copy_from_slice(&7u32.to_le_bytes());
    v.extend(e);
    cases.push(("png-no-iface".into(), v));
    let mut v = shb(u64::MAX);
    v[8..12].copy_from_slice(&0xdead_beefu32.to_le_bytes());
    cases.push(("png-bom".into(), v));

    for (name, v) in &cases {
        let (_, _, input) = analyze_bytes(v, Config::default());
        assert!(input.packets <= 2, "{name}: {} packets", input.packets);
    }
    let mut peak = 0;
    for (name, v) in &cases {
        let f = write_tmp(name, v);
        let r = wsdiag(&f, &["--all", "--json"], SLOW);
        peak = peak.max(r.peak_kb);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        json(&r);
        if !name.contains("tsresol") && !name.contains("idb-") {
            let w = warnings(&r);
            assert!(!w.is_empty(), "{name}: no warning");
            assert!(w.iter().all(|l| l.contains("byte offset")), "{name}: warning without an offset: {}", r.stderr);
        }
    }
    eprintln!("hostile: bad pcapng blocks: peak RSS {peak} kB");
    assert!(peak < 100 * 1024);
}

/// An IDB for raw IP with `if_tsresol` and `if_tsoffset` options.
fn idb_with(tsresol: u8, tsoffset_s: i64) -> Vec<u8> {
    let mut body = (RAW as u16).to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 4, 0]);
    body.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0]);
    body.extend_from_slice(&[14, 0, 8, 0]);
    body.extend_from_slice(&tsoffset_s.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    pcapng_block(1, &body)
}

fn epb_at(iface: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
    let mut e = epb(data.len() as u32, data.len() as u32, data);
    e[8..12].copy_from_slice(&iface.to_le_bytes());
    e[12..16].copy_from_slice(&((ticks >> 32) as u32).to_le_bytes());
    e[16..20].copy_from_slice(&(ticks as u32).to_le_bytes());
    e
}

/// Timestamps at both ends of time: interface 0 is offset by -2^62 s (packets clamp to
/// i64::MIN ns), interface 1 counts seconds from 2^63 (i64::MAX ns). Three unanswered upgrade
/// attempts to one path make a reconnect loop whose interval overflowed.
#[test]
fn pcapng_timestamps_at_the_ends_of_time() {
    let mut v = shb(u64::MAX);
    v.extend(idb_with(6, -(1 << 62)));
    v.extend(idb_with(0, 0));
    for (i, iface) in [0u32, 1, 1].into_iter().enumerate() {
        let mut f = Flow::one();
        f.client.1 += i as u16;
        f.send(true, SYN, &[]);
        f.send(false, SYN | ACK, &[]);
        f.send(true, ACK, &[]);
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        f.send(true, PSH_ACK, req.as_bytes());
        f.close();
        for (n, (_, p)) in f.packets.iter().enumerate() {
            v.extend(epb_at(iface, (1 << 63) + n as u64, p));
        }
    }
    let (conns, stats, input) = analyze_bytes(&v, Config::default());
    assert_eq!(input.packets, 21, "{:?}", input.warnings);
    assert_eq!(conns.len(), 3);
    let report = wsdiag::build_report(vec![input], conns, stats);
    assert_eq!(report.reconnect_loops.len(), 1);
    let f = write_tmp("png-ends-of-time.pcapng", &v);
    let r = wsdiag(&f, &["--json"], SLOW);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json(&r);
    let r = wsdiag(&f, &[], SLOW);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// SYN flood

/// Flows in the library flood (fast) and in the binary's (its NDJSON costs ~0.2 ms a connection
/// in a debug build).
const FLOOD_LIB: u32 = if cfg!(debug_assertions) { 200_000 } else { 1_000_000 };
const FLOOD: u32 = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };

fn flood_packet(i: u32) -> Vec<u8> {
    let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    ipv4_tcp(src, 1024 + (i % 50_000) as u16, [10, 255, 0, 1], 443, i.wrapping_mul(2_654_435_761), 0, SYN, &[])
}

#[test]
fn syn_flood_library_keeps_flow_table_bounded() {
    let cfg = Config { max_flows: 4096, ..Config::default() };
    let mut a = Analyzer::new(cfg);
    let mut reported = 0usize;
    for i in 0..FLOOD_LIB {
        let data = flood_packet(i);
        let p = Packet {
            number: PacketNo(u64::from(i) + 1),
            ts: Timestamp(1_700_000_000_000_000_000 + i64::from(i) * 10_000),
            linktype: Linktype(RAW),
            data: &data,
            orig_len: data.len() as u32,
        };
        assert!(a.packet(&p).is_none());
        assert!(a.live_flows() <= cfg.max_flows, "{} live flows after packet {i}", a.live_flows());
        if i % 4096 == 0 {
            let conclude = a.concluder();
            reported += a.drain().map(|tl| conclude.conclude(tl).0.len()).sum::<usize>();
        }
    }
    let (conns, stats) = wsdiag::conclude_all(a);
    reported += conns.len();
    assert_eq!(reported as u64, u64::from(FLOOD_LIB));
    assert_eq!(stats.tcp_connections, u64::from(FLOOD_LIB));
    assert!(stats.flows_evicted >= u64::from(FLOOD_LIB) - cfg.max_flows as u64);
}

fn flood_file() -> PathBuf {
    let f = tmp(&format!("syn-flood-{FLOOD}.pcap"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
    w.write_all(&pcap_header(RAW)).ok();
    let mut rec = Vec::with_capacity(64);
    for i in 0..FLOOD {
        rec.clear();
        let p = flood_packet(i);
        pcap_record(&mut rec, 1_700_000_000_000_000 + u64::from(i) * 10, &p, p.len() as u32);
        w.write_all(&rec).ok();
    }
    w.flush().ok();
    f
}

/// The binary with its default flow table (65536 live flows) and `--ndjson`, which streams
/// connections as they end: peak memory is set by the flow table's cap, not by the number of
/// flows. A flow that has seen only its SYN is kept as that SYN (about 150 bytes with its
/// table entry) until a second packet arrives: 48 MB peak RSS for 1 M SYNs (release; it was
/// 175 MB with a full connection per flow, 419 MB before those were made smaller). The cap is
/// the 64 MB the README promises for any capture.
#[test]
fn syn_flood_binary_bounded_memory() {
    let f = flood_file();
    let r = wsdiag(&f, &["--ndjson"], Duration::from_secs(300));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), FLOOD as usize);
    check_rss(&format!("SYN flood of {FLOOD} flows (--ndjson)"), &r, 64);
}

// ---------------------------------------------------------------------------------------------
// Out-of-order storm, conflicting retransmissions

const STORM: u32 = 100_000;

#[test]
fn out_of_order_storm_in_one_flow() {
    let mut f = Flow::websocket(None);
    let base = f.cseq;
    // STORM segments of one 10-byte masked frame each, sent in a shuffled order.
    let frame = masked_frame(0x81, b"abcd");
    let n = STORM;
    let mut order: Vec<u32> = (0..n).collect();
    let mut rng = Rng(0x5eed_0004);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    for i in order {
        let seq = base.wrapping_add(i * frame.len() as u32);
        f.push(true, seq, PSH_ACK, &frame);
    }
    f.cseq = base.wrapping_add(n * frame.len() as u32);
    f.close();
    let bytes = f.pcap();
    let (conns, stats, input) = analyze_bytes(&bytes, Config::default());
    assert_eq!(input.packets, u64::from(n) + 8);
    assert_eq!(conns.len(), 1);
    assert!(conns[0].tcp.out_of_order > 0);
    assert_eq!(stats.tcp_packets, u64::from(n) + 8);
    let file = write_tmp("ooo-storm.pcap", &bytes);
    let r = wsdiag(&file, &["--json"], SLOW);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["connections"].as_array().map(Vec::len), Some(1));
    check_rss(&format!("{n} out-of-order segments in one flow"), &r, 100);
}

/// One-byte out-of-order segments that never fill in: buffered chunks are bounded in number
/// (each costs ~125 bytes whatever it holds), not only in bytes.
#[test]
fn tiny_out_of_order_segments() {
    let n: u32 = if cfg!(debug_assertions) { 100_000 } else { 300_000 };
    let mut f = Flow::websocket(None);
    let base = f.cseq;
    for i in 0..n {
        f.push(true, base.wrapping_add(1 + 2 * i), PSH_ACK, b"x");
    }
    f.cseq = base.wrapping_add(2 * n + 1);
    f.close();
    let bytes = f.pcap();
    let (conns, _, _) = analyze_bytes(&bytes, Config::default());
    assert_eq!(conns.len(), 1);
    let file = write_tmp("tiny-ooo.pcap", &bytes);
    let r = wsdiag(&file, &["--json"], SLOW);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json(&r);
    // Unbounded in number, the chunks took 18.6 MB here (100k, debug build); bounded, a few MB
    // over what the binary takes on a one-connection capture.
    check_rss_added(&format!("{n} one-byte out-of-order segments"), &r, 4);
}

#[test]
fn conflicting_retransmission_is_reported() {
    let mut f = Flow::websocket(None);
    let frame = masked_frame(0x81, b"hello, conflicting world");
    let start = f.cseq;
    f.send(true, PSH_ACK, &frame[..12]);
    f.send(true, PSH_ACK, &frame[12..]);
    // The first segment again, with other bytes in the middle, and an overlap of both.
    let mut other = frame[..12].to_vec();
    other[8] ^= 0xff;
    f.push(true, start, PSH_ACK, &other);
    let mut overlap = frame[6..20].to_vec();
    overlap[10] ^= 0x55;
    f.push(true, start.wrapping_add(6), PSH_ACK, &overlap);
    // Ahead of the stream: two copies of the same out-of-order segment that disagree.
    let next = f.cseq;
    let later = masked_frame(0x82, b"later");
    f.push(true, next.wrapping_add(4), PSH_ACK, &later[4..]);
    let mut later_bad = later[4..].to_vec();
    later_bad[0] ^= 1;
    f.push(true, next.wrapping_add(4), PSH_ACK, &later_bad);
    f.push(true, next, PSH_ACK, &later[..4]);
    f.cseq = next.wrapping_add(later.len() as u32);
    f.close();
    let bytes = f.pcap();
    let (conns, _, _) = analyze_bytes(&bytes, Config::default());
    assert_eq!(conns.len(), 1);
    assert!(conns[0].tcp.conflicting_overlaps >= 2, "conflicts: {}", conns[0].tcp.conflicting_overlaps);
    let file = write_tmp("conflicts.pcap", &bytes);
    let r = wsdiag(&file, &["--json"], SLOW);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json(&r);
    let c = j["connections"][0]["tcp"]["conflicting_overlaps"].as_u64();
    assert!(c.is_some_and(|c| c >= 2), "tcp.conflicting_overlaps = {c:?}");
    check_rss("conflicting retransmissions", &r, 100);
}

// ---------------------------------------------------------------------------------------------
// Giant frames, deflate bomb

#[test]
fn frame_claiming_4_gb() {
    for (tag, len) in [("4g", 4u64 << 30), ("2^63-1", (1 << 63) - 1), ("2^63", 1 << 63)] {
        let mut f = Flow::websocket(None);
        let mut hdr = frame_header(0x82, 0, None);
        hdr[1] = 127;
        hdr.extend_from_slice(&len.to_be_bytes());
        hdr.extend_from_slice(&[0xab; 1000]);
        f.send(false, PSH_ACK, &hdr);
        f.send(false, PSH_ACK, &[0xcd; 1400]);
        f.send(true, PSH_ACK, &masked_frame(0x81, b"still here"));
        f.close();
        let bytes = f.pcap();
        let (conns, _, _) = analyze_bytes(&bytes, Config::default());
        assert_eq!(conns.len(), 1, "{tag}");
        let file = write_tmp(&format!("frame-{tag}.pcap"), &bytes);
        let r = wsdiag(&file, &["--json"], SLOW);
        assert_eq!(r.code, 0, "{tag}: {}", r.stderr);
        let j = json(&r);
        assert_eq!(j["connections"].as_array().map(Vec::len), Some(1));
        if len >> 63 != 0 {
            assert!(r.stdout.contains("length_msb_set"), "{tag}: {}", r.stdout);
        }
        check_rss(&format!("a frame claiming {tag} bytes"), &r, 100);
    }
}

/// A permessage-deflate message that inflates to about `gib` GiB of zeros: one block that
/// compresses 1 MiB of zeros against a window of zeros, repeated (each copy decodes the same).
fn deflate_bomb(gib: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut first = Vec::with_capacity(1 << 16);
    c.compress_vec(&zeros, &mut first, FlushCompress::Sync).ok();
    let mut repeat = Vec::with_capacity(1 << 16);
    c.compress_vec(&zeros, &mut repeat, FlushCompress::Sync).ok();
    assert!(repeat.len() < 8192, "{} bytes", repeat.len());
    let mut msg = first;
    for _ in 1..(gib << 10) {
        msg.extend_from_slice(&repeat);
    }
    // RFC 7692 §7.2.1: the sender drops the final 00 00 ff ff.
    if msg.ends_with(&[0, 0, 0xff, 0xff]) {
        msg.truncate(msg.len() - 4);
    }
    msg
}

#[test]
fn deflate_bomb_finishes_fast() {
    let bomb = deflate_bomb(1);
    let mut f = Flow::websocket(Some("permessage-deflate"));
    // One binary message, RSV1, unmasked (server to client), in 60 kB segments.
    let mut msg = frame_header(0xC2, bomb.len() as u64, None);
    msg.extend_from_slice(&bomb);
    // And a small compressed text after it, to see the parser carry on.
    msg.extend(frame_header(0xC1, 7, None));
    msg.extend_from_slice(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    for chunk in msg.chunks(60_000) {
        f.send(false, PSH_ACK, chunk);
    }
    f.close();
    let bytes = f.pcap();
    let t = Instant::now();
    let (conns, stats, _) = analyze_bytes(&bytes, Config::default());
    let took = t.elapsed();
    assert_eq!(conns.len(), 1);
    eprintln!(
        "hostile: deflate bomb: {} bytes in, {} inflated (capped)",
        stats.deflate_bytes_in, stats.deflate_bytes_out
    );
    assert!(
        stats.deflate_bytes_out > 8 << 20 && stats.deflate_bytes_out <= 64 << 20,
        "inflated {} bytes",
        stats.deflate_bytes_out
    );
    assert!(took < Duration::from_secs(30), "library took {took:?}");
    let file = write_tmp("deflate-bomb.pcap", &bytes);
    let t = Instant::now();
    let r = wsdiag(&file, &["--json"], Duration::from_secs(30));
    eprintln!("hostile: deflate bomb ({} kB compressed, > 1 GiB inflated): {:?}", bomb.len() / 1024, t.elapsed());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json(&r);
    assert_eq!(j["connections"][0]["websocket"]["messages"]["server"]["binary"].as_u64(), Some(1), "{}", r.stdout);
    check_rss("permessage-deflate bomb", &r, 100);
}

// ---------------------------------------------------------------------------------------------
// Many flows holding partial heads

/// Flows that each send most of a 16 kB request head and never finish it: without a shared
/// limit every flow would hold its head buffer (68 MB peak RSS here before the limit, 37 MB with
/// it, release build; up to 1 GB with the flow
/// table full). The heads of all flows share one 16 MiB budget; past it a flow's partial head is
/// read for what its whole lines say and dropped, and `stats.head_bytes_dropped` says how much.
#[test]
fn many_flows_with_partial_heads() {
    const FLOWS: u32 = 3000;
    let f = tmp("partial-heads.pcap");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
    w.write_all(&pcap_header(RAW)).ok();
    let mut rec = Vec::new();
    let pad = vec![b'a'; 1400];
    let mut ts = 1_700_000_000_000_000u64;
    for i in 0..FLOWS {
        let mut fl = Flow::one();
        fl.client = ([10, 1, (i >> 8) as u8, i as u8], 20000 + (i % 30000) as u16);
        fl.send(true, SYN, &[]);
        fl.send(false, SYN | ACK, &[]);
        fl.send(true, PSH_ACK, b"GET /ws/partial HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nX-Pad: ");
        for _ in 0..11 {
            fl.send(true, PSH_ACK, &pad);
        }
        for (_, p) in &fl.packets {
            ts += 10;
            rec.clear();
            pcap_record(&mut rec, ts, p, p.len() as u32);
            w.write_all(&rec).ok();
        }
    }
    w.flush().ok();
    drop(w);
    let r = wsdiag(&f, &["--json", "--all"], Duration::from_secs(300));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["summary"]["connections"], FLOWS);
    let dropped = v["stats"]["head_bytes_dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 10_000_000, "head bytes dropped: {dropped}");
    let conns = v["connections"].as_array().map_or(&[][..], |a| a.as_slice());
    let shed: Vec<_> = conns.iter().filter(|c| c["handshake"]["truncated"] == true).collect();
    assert!(shed.len() > 1000, "{} heads given up on", shed.len());
    // What the given-up heads' whole lines said is kept.
    assert!(shed.iter().all(|c| c["handshake"]["request"]["uri"] == "/ws/partial"));
    // Most of it is the 3000 flows open at once with their partial heads (in their 16 MiB
    // budget), finished together at the end, and the JSON records held in memory (up to 8 MiB
    // before they go to the file as a sorted run).
    check_rss(&format!("{FLOWS} flows with partial 16 kB heads"), &r, 56);
}
