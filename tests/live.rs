//! Live capture (`--features live`): the same verdicts as offline analysis. Needs root (CI runs
//! as root); skips with a message otherwise. Traffic stays on loopback or inside a network
//! namespace the test makes and removes.
#![cfg(feature = "live")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wsdiag");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// Starts `wsdiag live ...` (optionally inside a namespace) and waits for it to be capturing.
fn start_live(netns: Option<&str>, args: &[&str]) -> Child {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN, "live"]);
            c
        }
        None => {
            let mut c = Command::new(BIN);
            c.arg("live");
            c
        }
    };
    let mut child = cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait for the "capturing on" line on stderr, then hand stderr to a thread.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("capturing on"), "wsdiag live did not start: {first}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        tx.send(rest.join("\n")).ok();
    });
    STDERR.with(|s| *s.borrow_mut() = Some(rx));
    child
}

thread_local! {
    static STDERR: std::cell::RefCell<Option<std::sync::mpsc::Receiver<String>>> = const { std::cell::RefCell::new(None) };
}

fn finish(child: Child) -> (Vec<Value>, String) {
    let out = child.wait_with_output().unwrap();
    let err = STDERR
        .with(|s| s.borrow_mut().take())
        .and_then(|rx| rx.recv_timeout(Duration::from_secs(5)).ok())
        .unwrap_or_default();
    let conns = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (conns, err)
}

fn kinds(conns: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = conns
        .iter()
        .filter(|c| c["type"] == "connection")
        .map(|c| c["verdict"]["kind"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

fn offline(files: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    for f in files {
        let out = Command::new(BIN).args(["--ndjson", f]).output().unwrap();
        all.extend(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()));
    }
    kinds(&all)
}

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0]).args(&args[1..]).status().is_ok_and(|s| s.success());
    assert!(ok, "{args:?} failed");
}

/// Committed captures replayed onto a veth pair inside a namespace give the offline verdicts,
/// and `--write` saves a file that gives them again.
#[test]
fn replayed_captures_match_offline_analysis() {
    if !is_root() || !have("tcpreplay") || !have("ip") {
        eprintln!("SKIPPED: needs root, tcpreplay and iproute2");
        return;
    }
    let ns = Netns(format!("wsdiag-live-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns.0]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "add", "wsa", "type", "veth", "peer", "name", "wsb"]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "set", "wsa", "up"]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "set", "wsb", "up"]);
    let files = [
        "captures/python-clean.pcap",
        "captures/daphne-403.pcap",
        "captures/server-killed.pcap",
        "captures/refused.pcap",
        "captures/daphne-close-4001.pcap",
        "captures/violation-masked-server.pcap",
    ];
    let saved = std::env::temp_dir().join(format!("wsdiag-live-{}.pcap", std::process::id()));
    let saved_s = saved.to_string_lossy().to_string();
    let child = start_live(Some(&ns.0), &["-i", "wsb", "--ndjson", "--duration", "6", "--write", &saved_s]);
    for f in files {
        sh(&["ip", "netns", "exec", &ns.0, "tcpreplay", "-q", "-i", "wsa", f]);
    }
    let (conns, err) = finish(child);
    assert_eq!(kinds(&conns), offline(&files), "stderr: {err}");
    assert!(err.contains("dropped by the kernel") && err.contains("dropped by the interface"), "{err}");
    assert!(err.contains(", 0 dropped by the kernel"), "kernel drops in a slow replay: {err}");
    // The saved file is exactly what was analysed.
    let out = Command::new(BIN).args(["--ndjson", &saved_s]).output().unwrap();
    let again: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(kinds(&again), kinds(&conns));
    let _ = std::fs::remove_file(saved);
}

/// Ctrl-C the moment a fast replay ends, while the analysis is still behind: the packets the
/// kernel captured before it are still analysed (they wait in libpcap's ring), every one.
#[test]
fn sigint_reads_what_the_kernel_already_captured() {
    if !is_root() || !have("tcpreplay") || !have("ip") {
        eprintln!("SKIPPED: needs root, tcpreplay and iproute2");
        return;
    }
    let ns = Netns(format!("wsdiag-sigint-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns.0]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "add", "wsa", "type", "veth", "peer", "name", "wsb"]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "set", "wsa", "up"]);
    sh(&["ip", "netns", "exec", &ns.0, "ip", "link", "set", "wsb", "up"]);
    let child = start_live(Some(&ns.0), &["-i", "wsb", "--ndjson"]);
    // 20,000 rounds of three captures, each round with other addresses: 640,000 packets and
    // 80,000 connections in well under a second, faster than the analysis.
    let loops = 20_000;
    // The shell's own kill follows the replay at once, within libpcap's 50 ms block timeout.
    let script = format!(
        "ip netns exec {} tcpreplay --topspeed --unique-ip -i wsa --loop={loops} \
         captures/python-clean.pcap captures/daphne-403.pcap captures/refused.pcap; kill -INT {}",
        ns.0,
        child.id()
    );
    let replay = Command::new("sh").args(["-c", &script]).output().unwrap();
    let said = String::from_utf8_lossy(&replay.stdout).to_string() + &String::from_utf8_lossy(&replay.stderr);
    let sent: u64 = said
        .split("Actual: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count from tcpreplay: {said}"));
    let (conns, err) = finish(child);
    let analysed: u64 = err
        .split(" packets analysed")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count from wsdiag: {err}"));
    assert!(analysed >= sent, "{sent} packets sent, {analysed} analysed: {err}");
    // Every round gives at least the three captures' connections (addresses rewritten per
    // round can split one into its two directions).
    assert!(conns.len() >= 3 * loops, "{} connections from {loops} rounds: {err}", conns.len());
}

/// A real tungstenite server and client on loopback, captured live.
#[test]
fn real_peers_on_loopback() {
    if !is_root() {
        eprintln!("SKIPPED: live capture needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let filter = format!("tcp port {port} or tcp port {closed_port}");
    let child = start_live(None, &["-i", "lo", "-f", &filter, "--ndjson", "--duration", "4"]);
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        while let Ok(msg) = ws.read() {
            if msg.is_close() {
                break;
            }
            ws.send(msg).ok();
        }
        let _ = ws.flush();
    });
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/live")).unwrap();
    ws.send(tungstenite::Message::text("hello")).unwrap();
    let _ = ws.read();
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "bye".into(),
    }))
    .ok();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if ws.read().is_err() {
            break;
        }
    }
    drop(ws);
    server.join().ok();
    let _ = std::net::TcpStream::connect(("127.0.0.1", closed_port));
    let (conns, err) = finish(child);
    assert_eq!(kinds(&conns), vec!["clean_close", "refused"], "stderr: {err}");
    let clean = conns.iter().find(|c| c["verdict"]["kind"] == "clean_close").unwrap();
    assert_eq!(clean["verdict"]["client_sees"], 1000);
    assert_eq!(clean["websocket"]["close_frames"][0]["reason"], "bye");
    assert_eq!(clean["handshake"]["request"]["uri"], "/live");
    assert_eq!(clean["websocket"]["messages"]["client"]["text"], 1);
}

/// Without the capture permission: one clear line, exit 2.
#[test]
fn no_permission_is_one_clear_line() {
    if !is_root() || !have("setpriv") {
        eprintln!("SKIPPED: needs root (to drop to nobody) and setpriv");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
            "live",
            "-i",
            "lo",
            "--duration",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root or the CAP_NET_RAW capability"), "{err}");
}
