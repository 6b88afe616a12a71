//! `tcpdump -U -w - | wsdiag -`: a capture arriving slowly through a pipe. Each connection's
//! NDJSON line comes within a second of the packet that ended it (not after 64 KiB or 4,096
//! packets more), and Ctrl-C (SIGINT) mid-stream prints the report of everything read so far,
//! what is still open as `still_open`, and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The records of a little-endian microsecond pcap (the shipped captures are).
fn records(path: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let d = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= d.len() {
        let n = u32::from_le_bytes([d[i + 8], d[i + 9], d[i + 10], d[i + 11]]) as usize;
        out.push(d[i..i + 16 + n].to_vec());
        i += 16 + n;
    }
    (d[..24].to_vec(), out)
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wsdiag"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigint(child: &Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Writes python-clean.pcap (one connection, closed cleanly) and then, `pause` later, the
/// first 20 packets of still-open.pcap (a connection that stays open), then keeps the pipe
/// open. Returns when A was written.
fn slow_writer(child: &mut Child, pause: Duration) -> (Instant, std::thread::JoinHandle<()>) {
    let (head, a) = records("captures/python-clean.pcap");
    let (_, b) = records("captures/still-open.pcap");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&head).unwrap();
    for r in &a {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    let written = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(pause);
        for r in b.iter().take(20) {
            let _ = stdin.write_all(r);
        }
        let _ = stdin.flush();
        // Keep the pipe open, as tcpdump does, until the test is done.
        std::thread::sleep(Duration::from_secs(6));
    });
    (written, writer)
}

#[test]
fn ndjson_lines_arrive_within_a_second_and_sigint_ends_with_the_rest() {
    let mut child = spawn(&["--ndjson", "-"]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send((Instant::now(), line));
        }
    });
    let (written, _writer) = slow_writer(&mut child, Duration::from_millis(2500));
    let (at, first) = rx.recv_timeout(Duration::from_secs(5)).expect("no line within 5 s");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["verdict"]["kind"], "clean_close", "{first}");
    let delay = at.duration_since(written);
    assert!(delay < Duration::from_millis(1500), "the line came {delay:?} after the connection ended");
    // Still open, and silence: no line until Ctrl-C.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(rx.try_recv().is_err(), "a line for a connection that is still open");
    sigint(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<Value> = rx.try_iter().map(|(_, l)| serde_json::from_str(&l).unwrap()).collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0]["verdict"]["kind"], "still_open");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
}

#[test]
fn sigint_prints_the_table_of_what_was_read() {
    let mut child = spawn(&["-"]);
    let (_, _writer) = slow_writer(&mut child, Duration::from_millis(300));
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 connection(s): clean_close 1, still_open 1"), "{text}");
}
