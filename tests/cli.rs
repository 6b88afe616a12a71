//! The binary's edges: exit codes, stderr, filters, stdin, several files, and the JSON contract
//! of SPEC.md key for key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

mod common;

fn wsdiag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsdiag"));
    c.env("NO_COLOR", "1");
    c
}

fn json(args: &[&str]) -> Value {
    let out = wsdiag().args(args).arg("--json").output().unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn not_a_capture_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join("wsdiag-cli-test");
    std::fs::create_dir_all(&dir).ok();
    let f = dir.join("notes.txt");
    std::fs::write(&f, "GET / HTTP/1.1\r\n\r\n").ok();
    let a = wsdiag().arg(&f).assert().code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("notes.txt") && err.contains("not a capture file") && err.contains("starts with text"),
        "{err}"
    );
    wsdiag().arg(dir.join("missing.pcap")).assert().code(2).stderr(predicate::str::contains("missing.pcap"));
}

#[test]
fn usage_errors_exit_2() {
    wsdiag().assert().code(2);
    wsdiag()
        .args(["--verdict", "nonsense", "captures/python-clean.pcap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown verdict kind"));
    wsdiag()
        .args(["--conn", "99", "captures/python-clean.pcap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no connection 99"));
}

#[test]
fn truncated_capture_warns_with_offset_and_still_analyses() {
    let full = std::fs::read("captures/still-open.pcap").unwrap_or_default();
    let cut = &full[..full.len() - 7];
    let a = wsdiag().arg("-").write_stdin(cut.to_vec()).assert().code(0);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("truncated at byte offset"), "{err}");
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("still_open"));
}

#[test]
fn fail_on_gives_exit_1() {
    wsdiag().args(["--fail-on", "server_abort,refused", "captures/server-killed.pcap"]).assert().code(1);
    wsdiag().args(["--fail-on", "server_abort", "captures/python-clean.pcap"]).assert().code(0);
}

#[test]
fn filters() {
    let v = json(&["--verdict", "refused", "captures/nginx-502.pcap"]);
    assert_eq!(v["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["connections"][0]["verdict"]["kind"], "refused");
    let v = json(&["--port", "8080", "captures/nginx-502.pcap"]);
    assert_eq!(v["connections"][0]["server"], "127.0.0.1:8080");
    let v = json(&["--path", "/nope", "captures/nginx-502.pcap"]);
    assert_eq!(v["connections"].as_array().map(Vec::len), Some(0));
    let v = json(&["--host", "::1", "captures/python-ipv6.pcap"]);
    assert_eq!(v["connections"].as_array().map(Vec::len), Some(1));
}

#[test]
fn stdin_and_gzip() {
    let gz = std::fs::read("captures/nginx-proxy-any.pcap.gz").unwrap_or_default();
    let a = wsdiag().args(["-", "--json"]).write_stdin(gz).assert().code(0);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap_or(Value::Null);
    assert_eq!(v["summary"]["by_verdict"]["clean_close"], 2);
}

/// Two unrelated captures are two captures: each numbers its packets from 1, as Wireshark
/// does when it opens it, and every record and row says which file it came from.
#[test]
fn several_unrelated_files_are_captures_of_their_own() {
    let v = json(&["captures/refused.pcap", "captures/python-clean.pcap"]);
    let inputs = v["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!((inputs[0]["capture"].as_u64(), inputs[1]["capture"].as_u64()), (Some(0), Some(1)));
    assert_eq!((inputs[0]["piece"].as_u64(), inputs[1]["piece"].as_u64()), (Some(1), Some(1)));
    let c = v["connections"].as_array().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!((c[0]["input"]["index"].as_u64(), c[1]["input"]["index"].as_u64()), (Some(0), Some(1)));
    assert_eq!(c[1]["input"]["path"], "captures/python-clean.pcap");
    // Packet numbers and the Wireshark filter are those of the second file on its own.
    let alone = json(&["captures/python-clean.pcap"]);
    for key in ["first_packet", "last_packet", "wireshark_filter"] {
        assert_eq!(c[1][key], alone["connections"][0][key], "{key}");
    }
    assert_eq!(c[1]["verdict"], alone["connections"][0]["verdict"]);
    // The table names the file of each row.
    let out = wsdiag().args(["captures/refused.pcap", "captures/python-clean.pcap"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let head = text.lines().next().unwrap_or("");
    assert!(head.split_whitespace().nth(1) == Some("file"), "{text}");
    assert!(text.contains("file 2: captures/python-clean.pcap"), "{text}");
}

/// The pieces of a rotation set (here `editcap -c 13` of nginx-idle-timeout.pcap) are one
/// capture whatever order they are given in, numbered per piece: the verdicts are those of
/// the whole file, and packet 22 of the whole is packet 9 of the second piece, `2:9`.
#[test]
fn a_rotation_set_is_one_capture_in_either_order() {
    let a = "captures/rotation/idle_00000_20261123164856.pcap";
    let b = "captures/rotation/idle_00001_20261123164856.pcap";
    let whole = json(&["captures/nginx-idle-timeout.pcap"]);
    for args in [[a, b], [b, a]] {
        let v = json(&args);
        let inputs = v["inputs"].as_array().unwrap();
        assert_eq!(inputs[0]["path"], a, "read in time order");
        assert_eq!((inputs[0]["capture"].as_u64(), inputs[1]["capture"].as_u64()), (Some(0), Some(0)));
        assert_eq!((inputs[0]["piece"].as_u64(), inputs[1]["piece"].as_u64()), (Some(1), Some(2)));
        let c = v["connections"].as_array().unwrap();
        assert_eq!(c.len(), 2);
        for (x, y) in c.iter().zip(whole["connections"].as_array().unwrap()) {
            assert_eq!(x["verdict"]["kind"], y["verdict"]["kind"]);
            assert_eq!(x["verdict"]["client_sees"], y["verdict"]["client_sees"]);
            assert_eq!((x["input"]["index"].as_u64(), x["input"]["last_index"].as_u64()), (Some(0), Some(1)));
        }
        assert_eq!(c[0]["tcp"]["first_teardown"]["packet"], 9, "packet 9 of the second piece");
        assert_eq!(v["proxied"].as_array().map(Vec::len), Some(1));
        let out = wsdiag().args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("server FIN #2:9"), "{text}");
        assert!(text.contains("FIN from the proxy, packet 2:8"), "{text}");
    }
    // Under other names the connections going on across the cut still join the pieces.
    let dir = std::env::temp_dir().join(format!("wsdiag-rot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(a, dir.join("front.pcap")).unwrap();
    std::fs::copy(b, dir.join("later.pcap")).unwrap();
    let v = json(&[dir.join("front.pcap").to_str().unwrap(), dir.join("later.pcap").to_str().unwrap()]);
    assert_eq!(v["inputs"][1]["capture"], 0);
    // --merge joins what nothing else would: two unrelated files become one capture.
    let v = json(&["--merge", "captures/refused.pcap", "captures/python-clean.pcap"]);
    assert_eq!((v["inputs"][0]["capture"].as_u64(), v["inputs"][1]["capture"].as_u64()), (Some(0), Some(0)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An input that cannot be read at all is named and exit status 2 says the report is not
/// the whole story; the readable ones are analysed all the same.
#[test]
fn an_unreadable_file_among_good_ones_exits_2_after_the_rest() {
    let a = wsdiag().args(["captures/python-clean.pcap", "captures/no-such-file.pcap", "--json"]).assert().code(2);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["summary"]["connections"], 1);
    assert_eq!(v["inputs"][1]["format"], Value::Null);
    assert_eq!(v["inputs"][1]["capture"], Value::Null);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("no-such-file.pcap"), "{err}");
    // Even with --fail-on matching: 2 outweighs 1.
    wsdiag()
        .args(["--fail-on", "clean_close", "captures/python-clean.pcap", "captures/no-such-file.pcap"])
        .assert()
        .code(2);
}

/// zstd and lz4 captures (as Wireshark 4.2+ reads them) give the report of the plain file;
/// formats wsdiag does not read are named, with how to undo them.
#[test]
fn zstd_and_lz4_captures_and_a_clear_word_for_xz() {
    let plain = std::fs::read("captures/python-clean.pcap").unwrap();
    let want = wsdiag().args(["--json", "captures/python-clean.pcap"]).output().unwrap().stdout;
    let dir = std::env::temp_dir().join(format!("wsdiag-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zst = ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut lz4, &plain).unwrap();
    let lz4 = lz4.finish().unwrap();
    for (name, bytes) in [("c.pcap.zst", zst), ("c.pcap.lz4", lz4)] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let got = wsdiag().args(["--json", p]).output().unwrap();
        assert_eq!(got.status.code(), Some(0), "{name}");
        let (mut g, mut w): (Value, Value) =
            (serde_json::from_slice(&got.stdout).unwrap(), serde_json::from_slice(&want).unwrap());
        for v in [&mut g, &mut w] {
            v["inputs"][0]["path"] = Value::Null;
            for c in v["connections"].as_array_mut().unwrap() {
                c["input"]["path"] = Value::Null;
                c["uid"] = Value::Null;
            }
        }
        assert_eq!(g, w, "{name}: the same report as the plain file");
    }
    let xz = dir.join("c.pcap.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00\x00\x04rest of it").unwrap();
    let out = wsdiag().arg(xz.to_str().unwrap()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.pcap.xz: this is xz: decompress it first (xz -d FILE)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-r FILE` as tcpdump takes it, and a directory as its capture files in name order.
#[test]
fn dash_r_and_a_directory() {
    let by_arg = json(&["captures/refused.pcap"]);
    let by_r = json(&["-r", "captures/refused.pcap"]);
    assert_eq!(by_arg["connections"], by_r["connections"]);
    let dir = std::env::temp_dir().join(format!("wsdiag-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("captures/refused.pcap", dir.join("b.pcap")).unwrap();
    std::fs::copy("captures/python-clean.pcap", dir.join("a.pcap")).unwrap();
    std::fs::write(dir.join(".hidden"), b"not a capture").unwrap();
    let v = json(&[dir.to_str().unwrap()]);
    let paths: Vec<&str> = v["inputs"].as_array().unwrap().iter().filter_map(|i| i["path"].as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].ends_with("a.pcap") && paths[1].ends_with("b.pcap"), "{paths:?}");
    assert_eq!(v["summary"]["connections"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ndjson_one_object_per_line() {
    let out = wsdiag().args(["--ndjson", "captures/reconnect-loop.pcap"]).output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[..4].iter().all(|l| l["type"] == "connection" && l["verdict"]["kind"] == "handshake_rejected"));
    // then what --json has across connections: the reconnect loop
    assert_eq!(lines[4]["type"], "reconnect_loop");
    assert_eq!(lines[4]["connections"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(lines[4]["outcomes"], serde_json::json!({"403": 4}));
}

#[test]
fn secrets_are_masked_unless_asked() {
    let v = json(&["../shared/captures-external/zeek/wstunnel-http/wstunnel-http.pcap"]);
    if v.is_null() || v["connections"].as_array().is_none_or(Vec::is_empty) {
        eprintln!("SKIPPED: external capture not present");
        return;
    }
    let p = v["connections"][0]["handshake"]["request"]["protocols"].to_string();
    assert!(p.contains("authorization.bearer.…") && !p.contains("eyJ"), "{p}");
    let v = json(&["--show-secrets", "../shared/captures-external/zeek/wstunnel-http/wstunnel-http.pcap"]);
    assert!(v["connections"][0]["handshake"]["request"]["protocols"].to_string().contains("eyJ"));
}

/// The required keys of SPEC.md's report contract, version 1.
#[test]
fn json_contract_keys() {
    let v = json(&["captures/server-killed.pcap"]);
    for k in ["tool", "version", "schema", "inputs", "connections", "summary"] {
        assert!(v.get(k).is_some(), "top-level {k}");
    }
    assert_eq!(v["tool"], "wsdiag");
    assert_eq!(v["schema"], 1);
    for k in ["path", "packets", "warnings"] {
        assert!(v["inputs"][0].get(k).is_some(), "inputs[].{k}");
    }
    let c = &v["connections"][0];
    for k in [
        "id",
        "client",
        "server",
        "first_packet",
        "last_packet",
        "start",
        "duration_ms",
        "tcp",
        "handshake",
        "websocket",
        "verdict",
        "transport",
        "tls",
    ] {
        assert!(c.get(k).is_some(), "connection.{k}");
    }
    assert_eq!(c["transport"], serde_json::json!({"kind": "h1", "tcp_id": c["id"], "stream": null, "tunnel": null}));
    assert!(c["tls"].is_null(), "plaintext: tls is null");
    // A wss connection's tls object, with its keys.
    let out = wsdiag()
        .args([
            "--json",
            "--keylog",
            "captures/wss/wss-python-tls12-aes128.keys",
            "captures/wss/wss-python-tls12-aes128.pcap",
        ])
        .output()
        .unwrap();
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &w["connections"][0]["tls"];
    for k in [
        "version",
        "cipher",
        "sni",
        "alpn_offered",
        "alpn",
        "decrypted",
        "why_not",
        "alerts",
        "close_notify",
        "records",
    ] {
        assert!(t.get(k).is_some(), "tls.{k}");
    }
    assert_eq!((t["version"].as_str(), t["decrypted"].as_bool()), (Some("TLS 1.2"), Some(true)));
    for k in [
        "syn",
        "syn_ack",
        "refused",
        "first_teardown",
        "client_fin",
        "server_fin",
        "client_rst",
        "server_rst",
        "bytes",
        "gaps",
        "retransmissions",
        "partial",
    ] {
        assert!(c["tcp"].get(k).is_some(), "tcp.{k}");
    }
    for k in ["by", "kind", "at_ms", "packet"] {
        assert!(c["tcp"]["first_teardown"].get(k).is_some(), "first_teardown.{k}");
    }
    for k in ["client", "server"] {
        assert!(c["tcp"]["bytes"][k].is_u64(), "tcp.bytes.{k}");
    }
    for k in ["request", "response", "latency_ms"] {
        assert!(c["handshake"].get(k).is_some(), "handshake.{k}");
    }
    for k in ["method", "uri", "host", "origin", "key", "protocols", "extensions", "user_agent"] {
        assert!(c["handshake"]["request"].get(k).is_some(), "request.{k}");
    }
    for k in ["status", "reason", "server", "accept_valid", "protocol", "extensions"] {
        assert!(c["handshake"]["response"].get(k).is_some(), "response.{k}");
    }
    for k in ["messages", "frames", "compressed", "close_frames", "violations"] {
        assert!(c["websocket"].get(k).is_some(), "websocket.{k}");
    }
    for side in ["client", "server"] {
        for k in ["text", "binary"] {
            assert!(c["websocket"]["messages"][side][k].is_u64());
        }
        for k in ["ping", "pong", "close"] {
            assert!(c["websocket"]["frames"][side][k].is_u64());
        }
    }
    for k in ["kind", "client_sees", "server_sees", "summary", "evidence", "advice"] {
        assert!(c["verdict"].get(k).is_some(), "verdict.{k}");
    }
    for k in ["at_ms", "packet", "text"] {
        assert!(c["verdict"]["evidence"][0].get(k).is_some(), "evidence.{k}");
    }
    assert_eq!(c["verdict"]["kind"], "server_abort");
    assert_eq!(c["verdict"]["client_sees"], 1006);
    assert!(c["start"].as_str().is_some_and(|s| s.ends_with('Z') && s.len() == 27));
    for k in ["connections", "by_verdict"] {
        assert!(v["summary"].get(k).is_some(), "summary.{k}");
    }
    // Close frame keys, and an empty payload as null/null.
    let v = json(&["captures/node-close-empty.pcap"]);
    let f = &v["connections"][0]["websocket"]["close_frames"][0];
    for k in ["from", "code", "reason", "at_ms", "packet"] {
        assert!(f.get(k).is_some(), "close_frames.{k}");
    }
    assert_eq!((f["code"].clone(), f["reason"].clone()), (Value::Null, Value::Null));
    assert_eq!(v["connections"][0]["verdict"]["client_sees"], 1005);
}

#[test]
fn ladder_and_colour() {
    wsdiag()
        .args(["--conn", "1", "captures/python-clean.pcap"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("SYN-ACK").and(predicate::str::contains("\x1b[").not()));
    wsdiag()
        .args(["--color", "always", "captures/server-killed.pcap"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\x1b["));
}

/// The binary streams connections through a spill file; its table and JSON are byte for byte
/// what the library renders from the whole report (which the snapshots check).
#[test]
fn streamed_output_equals_the_library_rendering() {
    let names = common::captures();
    assert!(names.len() >= 20);
    for name in names {
        let path = format!("captures/{name}");
        let (conns, stats, inputs) = wsdiag::analyze_files(&[&path], wsdiag::Config::default());
        let report = wsdiag::build_report(inputs, conns, stats);
        let mut table = Vec::new();
        wsdiag::render::table(&report, wsdiag::render::Style::default(), &mut table).unwrap();
        let mut json = Vec::new();
        wsdiag::render::json(&report, &mut json).unwrap();
        let out = wsdiag().arg(&path).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&table), "{name}: table");
        // The library names no sensor; the binary names this host unless told.
        let out = wsdiag().args([&path, "--json", "--sensor", "unknown"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&json), "{name}: json");
    }
}

/// A capture on the nginx host holds both legs of each WebSocket: they are paired, and the leg
/// that ended first is named (nginx's own 3 s proxy_read_timeout ended both legs in
/// nginx-idle-timeout.pcap; the client's Close went first in nginx-proxy-any.pcap).
#[test]
fn proxied_legs_are_paired() {
    let v = json(&["captures/nginx-idle-timeout.pcap"]);
    let p = &v["proxied"];
    assert_eq!(p.as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!((p[0]["front"].as_u64(), p[0]["back"].as_u64()), (Some(1), Some(2)));
    assert_eq!(p[0]["proxy"], "127.0.0.1:8080");
    assert_eq!(p[0]["upstream"], "127.0.0.1:8765");
    assert_eq!(p[0]["ended_first"], "back");
    let s = p[0]["summary"].as_str().unwrap_or("");
    assert!(s.contains("FIN from the proxy, packet 21") && s.contains("The proxy itself ended both legs"), "{s}");

    let v = json(&["captures/nginx-proxy-any.pcap"]);
    assert_eq!(v["proxied"][0]["ended_first"], "front");
    let s = v["proxied"][0]["summary"].as_str().unwrap_or("");
    assert!(s.contains("Close 1000 from the client, packet 31"), "{s}");

    // Direct connections, no proxy: nothing to pair.
    assert_eq!(json(&["captures/python-clean.pcap"])["proxied"].as_array().map(Vec::len), Some(0));
}

/// With `--json`, finished connections' records are rendered on a second thread when there are
/// two cores, inline on one: the table and the JSON document are the same byte for byte, and
/// so are the exit status of `--fail-on`, what the filters leave out and the count of hidden
/// connections.
#[test]
fn output_is_the_same_on_one_core_and_on_two() {
    if std::process::Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("skipped: no taskset");
        return;
    }
    for cap in ["captures/nginx-proxy-any.pcap", "captures/reconnect-loop.pcap", "captures/daphne-accept.pcapng"] {
        let modes = [
            &["--json"][..],
            &["--color", "never"][..],
            &["--all", "--json"][..],
            &["--json", "--fail-on", "handshake_rejected"][..],
            &["--json", "--verdict", "clean_close"][..],
            &["--verdict", "clean_close", "--color", "never"][..],
        ];
        for mode in modes {
            let two = wsdiag().args(mode).arg(cap).output().unwrap_or_else(|e| panic!("{e}"));
            let one = std::process::Command::new("taskset")
                .args(["-c", "0", env!("CARGO_BIN_EXE_wsdiag")])
                .args(mode)
                .arg(cap)
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(two.status.code(), one.status.code(), "{cap} {mode:?}");
            let failing = mode.contains(&"--fail-on") && cap.contains("reconnect");
            assert_eq!(one.status.code(), Some(if failing { 1 } else { 0 }), "{cap} {mode:?}");
            assert!(!two.stdout.is_empty());
            assert_eq!(String::from_utf8_lossy(&one.stdout), String::from_utf8_lossy(&two.stdout), "{cap} {mode:?}");
        }
    }
    // A plain HTTP exchange beside a WebSocket capture: hidden from the report, counted.
    let plain = std::env::temp_dir().join(format!("wsdiag-cli-plain-{}.pcap", std::process::id()));
    std::fs::write(&plain, plain_http_pcap()).unwrap_or_else(|e| panic!("{e}"));
    let plain = plain.to_str().unwrap_or_default().to_string();
    let hidden = |taskset: bool| {
        let mut cmd = std::process::Command::new(if taskset { "taskset" } else { env!("CARGO_BIN_EXE_wsdiag") });
        if taskset {
            cmd.args(["-c", "0", env!("CARGO_BIN_EXE_wsdiag")]);
        }
        let out = cmd.args(["--json", "captures/python-clean.pcap", &plain]).output().unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (v["stats"]["connections_hidden"].as_u64(), v["summary"]["connections"].as_u64())
    };
    let (one, two) = (hidden(true), hidden(false));
    std::fs::remove_file(&plain).ok();
    assert_eq!(one, (Some(1), Some(1)));
    assert_eq!(two, one);
}

/// One TCP connection carrying a plain HTTP/1.1 GET and its 200, as raw IPv4 (link type 101).
fn plain_http_pcap() -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        if v == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let (c, s) = (([10, 0, 0, 1], 40000u16), ([10, 0, 0, 2], 8080u16));
    let req: &[u8] = b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (syn, ack, psh, fin) = (0x02u8, 0x10u8, 0x08u8, 0x01u8);
    let (ci, si) = (1000u32, 5000u32);
    let rl = req.len() as u32;
    let sl = resp.len() as u32;
    let packets: Vec<(bool, u32, u32, u8, &[u8])> = vec![
        (true, ci, 0, syn, b""),
        (false, si, ci + 1, syn | ack, b""),
        (true, ci + 1, si + 1, ack, b""),
        (true, ci + 1, si + 1, psh | ack, req),
        (false, si + 1, ci + 1 + rl, psh | ack, resp),
        (true, ci + 1 + rl, si + 1 + sl, fin | ack, b""),
        (false, si + 1 + sl, ci + 2 + rl, fin | ack, b""),
        (true, ci + 2 + rl, si + 2 + sl, ack, b""),
    ];
    for (i, (from_client, seq, ackno, flags, payload)) in packets.into_iter().enumerate() {
        let ((src, sp), (dst, dp)) = if from_client { (c, s) } else { (s, c) };
        let ackno = if flags & ack != 0 { ackno } else { 0 };
        let p = common::ipv4_tcp(src, sp, dst, dp, seq, ackno, flags, payload);
        for v in [1_700_000_000u32, i as u32 * 1000, p.len() as u32, p.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&p);
    }
    out
}

/// `--help` lists every verdict kind; completions and the man page come from the same clap
/// definition.
#[test]
fn help_kinds_completions_and_man() {
    let out = wsdiag().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for k in wsdiag::diagnose::Kind::ALL {
        assert!(help.contains(k.as_str()), "--help does not name {}", k.as_str());
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = wsdiag().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("keylog"), "{shell}");
    }
    let man = wsdiag().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&man.stdout).starts_with(".ie"), "a roff page");
    assert_eq!(wsdiag().args(["completions", "tcsh"]).output().unwrap().status.code(), Some(2));
}

/// Records an engine can join: uids stable for the same capture and sensor, different on
/// another sensor; split endpoints; the capture file on every line.
#[test]
fn ndjson_lines_carry_what_an_engine_joins_on() {
    let line = |sensor: &str| -> Vec<Value> {
        let out = wsdiag().args(["--ndjson", "--sensor", sensor, "captures/reconnect-loop.pcap"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (a, b, c) = (line("edge-1"), line("edge-1"), line("edge-2"));
    assert_eq!(a.len(), 5);
    let uids = |v: &[Value]| v.iter().map(|l| l["uid"].clone()).collect::<Vec<_>>();
    assert_eq!(uids(&a), uids(&b), "the same capture on the same sensor");
    assert!(uids(&a).iter().zip(uids(&c)).all(|(x, y)| *x != y), "another sensor");
    let mut sorted = uids(&a);
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "unique");
    // the loop names its connections by uid too, and has one of its own
    let uids_of_conns: Vec<Value> = a[..4].iter().map(|l| l["uid"].clone()).collect();
    assert_eq!(a[4]["uids"], Value::Array(uids_of_conns));
    assert_eq!((a[4]["type"].as_str(), a[4]["sensor"].as_str()), (Some("reconnect_loop"), Some("edge-1")));
    for l in &a[..4] {
        assert_eq!(
            (l["type"].as_str(), l["schema"].as_u64(), l["sensor"].as_str()),
            (Some("connection"), Some(1), Some("edge-1"))
        );
        assert_eq!(l["input"]["path"], "captures/reconnect-loop.pcap");
        assert_eq!(format!("{}:{}", l["client_ip"].as_str().unwrap(), l["client_port"]), l["client"].as_str().unwrap());
        assert!(l["community_id"].as_str().is_some_and(|c| c.starts_with("1:") && c.len() == 30));
    }
}

/// Many alike connections: each pattern explained once with its count, id ranges and span;
/// `--each` gives a paragraph per connection; reconnect loops list ranges.
#[test]
fn many_alike_are_explained_by_pattern() {
    let f = "captures/reconnect-loop.pcap";
    let run = |extra: &[&str]| {
        let out = wsdiag().args(extra).args([f, f, f, f]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let grouped = run(&[]);
    assert!(
        grouped.contains("16 × handshake_rejected: 403 Forbidden from Python/3.11 websockets/17.4 on /chat (ids 1-16,"),
        "{grouped}"
    );
    assert!(grouped.contains("example #1:"), "{grouped}");
    assert_eq!(grouped.matches("answered the upgrade with 403 Forbidden").count(), 1, "{grouped}");
    assert!(grouped.contains("outcomes: 16× 403; connections 1-16."), "{grouped}");
    let each = run(&["--each"]);
    assert_eq!(each.matches("answered the upgrade with 403 Forbidden").count(), 16);
    // A screenful or less: one paragraph each, as before.
    let out = wsdiag().arg(f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("answered the upgrade with 403 Forbidden").count(), 4);
}

/// On a 70-column terminal (COLUMNS, as a terminal sets it) the table leaves out columns
/// rather than wrap a row, and the ladder's lane narrows; into a pipe rows stay whole.
#[test]
fn the_table_and_the_ladder_fit_a_narrow_terminal() {
    let run = |args: &[&str], columns: Option<&str>| {
        let mut cmd = wsdiag();
        cmd.env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        String::from_utf8(cmd.args(args).output().unwrap().stdout).unwrap()
    };
    let wide = run(&["captures/nginx-proxy-any.pcap"], None);
    let head = wide.lines().next().unwrap();
    assert!(head.chars().count() > 70 && head.contains("bytes c/s"), "{head}");
    let narrow = run(&["captures/nginx-proxy-any.pcap"], Some("70"));
    let table: Vec<&str> = narrow.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(table.len(), 3, "{narrow}");
    for l in &table {
        assert!(l.chars().count() <= 70, "{} columns: {l}", l.chars().count());
    }
    // What stays: the id, the endpoints and the verdict, and the rows are the same rows.
    assert!(table[0].starts_with("id  client -> server") && table[0].ends_with("verdict"), "{}", table[0]);
    assert!(table[1].ends_with("clean_close") && table[1].contains("127.0.0.1:59464"), "{}", table[1]);
    for l in narrow.lines() {
        assert!(l.chars().count() <= 70, "{l}");
    }
    let ladder = run(&["--conn", "1", "captures/nginx-proxy-any.pcap"], Some("70"));
    for l in ladder.lines().filter(|l| l.contains('|')) {
        assert!(l.chars().count() <= 70, "{} columns: {l}", l.chars().count());
    }
    assert!(ladder.contains("GET /chat"), "{ladder}");
}

/// A back leg is known as the capture is read ([`wsdiag::legs`]), by the rule the `proxied`
/// pairs are made by at the end: on every shipped capture the connections whose client is
/// `proxy` are exactly the pairs' back legs, and their summaries name the front leg.
#[test]
fn back_legs_are_the_pairs_back_legs_on_every_capture() {
    let mut paths: Vec<String> = Vec::new();
    for dir in ["captures", "captures/browsers", "captures/paths", "captures/heartbeats"] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path().display().to_string();
            if p.ends_with(".pcap") || p.ends_with(".pcapng") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut backs_seen = 0;
    for p in &paths {
        let v = json(&[p.as_str()]);
        let mut backs: Vec<u64> = v["proxied"].as_array().unwrap().iter().filter_map(|x| x["back"].as_u64()).collect();
        backs.sort();
        let conns = v["connections"].as_array().unwrap();
        let proxied: Vec<u64> = conns
            .iter()
            .filter(|c| c["handshake"]["request"]["client"] == "proxy")
            .filter_map(|c| c["id"].as_u64())
            .collect();
        assert_eq!(proxied, backs, "{p}");
        for c in conns.iter().filter(|c| c["handshake"]["request"]["client"] == "proxy") {
            let s = c["verdict"]["summary"].as_str().unwrap_or("");
            assert!(!s.contains("the browser reports"), "{p}: {s}");
        }
        backs_seen += backs.len();
    }
    assert!(backs_seen >= 5, "{backs_seen} back legs in {} captures", paths.len());
}

/// `--brief` keeps every key of a record and leaves out the timeline, the advice and the body
/// preview; the verdict and evidence stay.
#[test]
fn brief_records_keep_their_keys_and_drop_the_prose() {
    let full = json(&["captures/runserver-404.pcap"]);
    let brief = json(&["--brief", "captures/runserver-404.pcap"]);
    let (f, b) = (&full["connections"][0], &brief["connections"][0]);
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(keys(f), keys(b));
    assert!(!f["timeline"].as_array().unwrap().is_empty() && !f["verdict"]["advice"].as_array().unwrap().is_empty());
    assert_eq!(b["timeline"], serde_json::json!([]));
    assert_eq!(b["verdict"]["advice"], serde_json::json!([]));
    assert_eq!(b["handshake"]["response"]["body_preview"], Value::Null);
    assert_eq!(b["verdict"]["kind"], f["verdict"]["kind"]);
    assert_eq!(b["verdict"]["evidence"], f["verdict"]["evidence"]);
    // The table is not made brief: its explanation keeps the advice.
    let out = wsdiag().args(["--brief", "captures/runserver-404.pcap"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("`WSGIServer` answered"));
}

/// Grouped explanations account for every explained connection exactly once: per verdict
/// kind, the counts of the patterns add up to the paragraphs `--each` writes, and the intro's
/// total to all of them (every shipped capture at once: more than a screenful).
#[test]
fn every_explained_connection_is_in_exactly_one_pattern() {
    let mut files: Vec<String> = std::fs::read_dir("captures")
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".pcap"))
        .collect();
    files.sort();
    let run = |each: bool| {
        let mut cmd = wsdiag();
        if each {
            cmd.arg("--each");
        }
        String::from_utf8(cmd.args(&files).output().unwrap().stdout).unwrap()
    };
    let kinds = |line: &str| {
        line.split_whitespace().find(|w| w.contains('_') || w.chars().all(|c| c.is_ascii_lowercase())).map(String::from)
    };
    let mut grouped: std::collections::BTreeMap<String, u64> = Default::default();
    let text = run(false);
    let mut total = 0;
    for line in text.lines() {
        if let Some((n, rest)) = line.split_once(" × ") {
            let n: u64 = n.trim().parse().unwrap();
            let kind = rest.split([':', ' ', ',']).next().unwrap().to_string();
            *grouped.entry(kind).or_default() += n;
            total += n;
        }
    }
    let intro = text.lines().find(|l| l.contains("connections need explaining")).unwrap();
    assert!(intro.starts_with(&format!("{total} connections need explaining")), "{intro} vs {total}");
    let mut each: std::collections::BTreeMap<String, u64> = Default::default();
    for line in run(true).lines().filter(|l| l.starts_with('#') && l.contains("(outcome: ")) {
        let kind = line.split("  ").nth(1).and_then(&kinds).unwrap();
        *each.entry(kind).or_default() += 1;
    }
    assert_eq!(grouped, each);
    assert!(total > 12, "{total}: not enough to group");
}
