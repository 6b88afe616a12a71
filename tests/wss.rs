//! The wss captures (captures/wss: real TLS peers and browsers, with their key logs) against
//! tshark's reading of them with and without the key log (tests/tshark/wss/, made by
//! captures/wss/tshark_facts.py), and against what the browsers' pages reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wsdiag::diagnose::Kind;
use wsdiag::report::Connection;
use wsdiag::{Analyzer, Config};

/// The wss captures, sorted: (capture path, its key log).
fn wss_captures() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir("captures/wss")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().display().to_string()).collect::<Vec<String>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p: &String| p.ends_with(".pcap") || p.ends_with(".pcapng"))
        .map(|p| {
            let stem = p.trim_end_matches(".pcapng").trim_end_matches(".pcap").trim_end_matches("-dsb");
            let keys = format!("{stem}.keys");
            (p, keys)
        })
        .collect();
    v.sort();
    v
}

/// Every connection of a capture (`--all`), decrypted with `keys` if given.
fn analyse(path: &str, keys: Option<&str>) -> Vec<Connection> {
    let mut a = Analyzer::new(Config { all: true, ..Config::default() });
    if let Some(k) = keys {
        let text = std::fs::read(k).unwrap();
        assert!(a.add_keys(&text, k).is_empty(), "{k}: key log warnings");
    }
    let src = wsdiag::capture::open(path).unwrap();
    let Ok(input) = a.read_source(src, path, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    assert!(input.warnings.is_empty(), "{path}: {:?}", input.warnings);
    wsdiag::conclude_all(a).0
}

fn facts(name: &str) -> Option<Value> {
    std::fs::read_to_string(format!("tests/tshark/wss/{name}")).ok().map(|t| serde_json::from_str(&t).unwrap())
}

/// The facts of one stream that wsdiag must agree with tshark on.
fn check(id: &str, s: &Value, c: &Connection, keys: bool, errors: &mut Vec<String>) {
    let mut eq = |fact: &str, ours: Value, theirs: &Value| {
        if ours != *theirs {
            errors.push(format!("{id}: {fact}: wsdiag {ours} vs tshark {theirs}"));
        }
    };
    eq("client", json!(c.client), &s["client"]);
    eq("server", json!(c.server), &s["server"]);
    eq("last_packet", json!(c.last_packet), &s["last_packet"]);
    eq("bytes", json!({"client": c.tcp.bytes.client, "server": c.tcp.bytes.server}), &s["bytes"]);
    let rst_from: Vec<&str> = [(c.tcp.client_rst, "client"), (c.tcp.server_rst, "server")]
        .into_iter()
        .filter_map(|(r, who)| r.then_some(who))
        .collect();
    let mut theirs: Vec<Value> = s["rst_from"].as_array().cloned().unwrap_or_default();
    theirs.sort_by_key(|v| v.to_string());
    theirs.dedup();
    eq("rst_from", json!(rst_from), &json!(theirs));
    let first = c.tcp.first_teardown.as_ref().map(|t| (t.kind.is_rst(), json!({"from": t.by, "packet": t.packet})));
    match first {
        Some((true, f)) => eq("first_rst", f, &s["first_rst"]),
        Some((false, f)) => eq("first_fin", f, &s["first_fin"]),
        None => eq("first_fin", Value::Null, &s["first_fin"]),
    }
    let Some(t) = s["tls"].as_object() else {
        eq("tls", json!(c.tls.is_some()), &json!(false));
        return;
    };
    let Some(ours) = &c.tls else {
        errors.push(format!("{id}: no tls object"));
        return;
    };
    eq("tls.version", json!(ours.version), &t["version"]);
    eq("tls.cipher", json!(ours.cipher), &t["cipher"]);
    eq("tls.sni", json!(ours.sni), &t["sni"]);
    // tshark: null when the ClientHello has no ALPN extension.
    let offered = if t["alpn_offered"].is_null() { json!([]) } else { t["alpn_offered"].clone() };
    eq("tls.alpn_offered", json!(ours.alpn_offered), &offered);
    eq("tls.decrypted", json!(ours.decrypted), &t["decrypted"]);
    if keys {
        eq("tls.alpn", json!(ours.alpn), &t["alpn"]);
        eq("tls.close_notify", json!(ours.close_notify), &t["close_notify"]);
    }
    // Alerts tshark can read: plaintext ones always, encrypted ones with the key log (tshark
    // sees a TLS 1.2 encrypted alert as an alert without keys too, but not its description).
    let alerts: Vec<Value> = ours
        .alerts
        .iter()
        .filter(|a| keys || !a.encrypted)
        .map(|a| json!({"from": a.from, "description": a.description, "packet": a.packet, "encrypted": a.encrypted}))
        .collect();
    let theirs: Vec<Value> = t["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| keys || a["encrypted"] == json!(false))
        .map(|a| json!({"from": a["from"], "description": a["description"], "packet": a["packet"], "encrypted": a["encrypted"]}))
        .collect();
    eq("tls.alerts", json!(alerts), &json!(theirs));
    if !keys {
        return;
    }
    let status = c.handshake.response.as_ref().map(|r| json!(r.status)).unwrap_or(Value::Null);
    eq("http_status", status, &s["http_status"]);
    if let Some(op) = s["ws_opcodes"].as_object() {
        let f = &c.websocket.frames;
        let ours = json!({
            "client": {"text": f.client.text, "binary": f.client.binary, "cont": f.client.continuation, "ping": f.client.ping, "pong": f.client.pong, "close": f.client.close},
            "server": {"text": f.server.text, "binary": f.server.binary, "cont": f.server.continuation, "ping": f.server.ping, "pong": f.server.pong, "close": f.server.close},
        });
        eq("ws_opcodes", ours, &Value::Object(op.clone()));
    }
    if let Some(theirs) = s["close_frames"].as_array() {
        let ours: Vec<Value> = c
            .websocket
            .close_frames
            .iter()
            .map(|f| json!({"from": f.from, "code": f.code, "reason": f.reason, "packet": f.packet}))
            .collect();
        eq("close_frames", json!(ours), &json!(theirs));
    }
}

#[test]
fn wss_captures_match_tshark_with_and_without_keys() {
    let caps = wss_captures();
    assert!(caps.len() >= 19, "captures/wss: {caps:?}");
    let mut errors = Vec::new();
    let mut compared = 0;
    for (path, keys) in &caps {
        let name = path.rsplit('/').next().unwrap_or_default();
        let stem = name.trim_end_matches(".pcapng").trim_end_matches(".pcap");
        let dsb = name.ends_with(".pcapng");
        for (with_keys, fixture) in [(true, format!("{stem}.json")), (false, format!("{stem}.no-keys.json"))] {
            let Some(f) = facts(&fixture) else {
                assert!(dsb || !with_keys, "{fixture} is missing");
                continue;
            };
            // The pcapng carries its keys in a Decryption Secrets Block: no --keylog.
            let conns = analyse(path, (with_keys && !dsb).then_some(keys.as_str()));
            assert_eq!(json!(conns.len()), json!(f["streams"].as_array().map_or(0, Vec::len)), "{fixture}");
            for s in f["streams"].as_array().unwrap() {
                let Some(c) = conns.iter().find(|c| json!(c.first_packet) == s["first_packet"]) else {
                    errors.push(format!("{fixture}: no connection at packet {}", s["first_packet"]));
                    continue;
                };
                check(&format!("{fixture} #{}", c.id), s, c, with_keys, &mut errors);
                compared += 1;
            }
        }
    }
    assert!(compared >= 40, "{compared}");
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
}

/// What each browser's page reported in onclose is what wsdiag says the client sees, from the
/// capture with its key log. Firefox reports 1015 for a failed TLS handshake where RFC 6455
/// §7.1.5 (and Chromium) say 1006, and wsdiag knows Firefox by its ClientHello.
#[test]
fn the_browsers_saw_what_wsdiag_says() {
    let mut checked = 0;
    for (path, keys) in wss_captures() {
        let report = path.replace(".pcapng", ".pcap").replace(".pcap", ".browser.json");
        let Ok(text) = std::fs::read_to_string(&report) else { continue };
        let page: Value = serde_json::from_str(&text).unwrap();
        let close = page["events"].as_array().unwrap().iter().find(|e| e["type"] == "close").cloned().unwrap();
        let conns = analyse(&path, Some(&keys));
        let shown: Vec<&Connection> = conns.iter().filter(|c| c.verdict.kind != Kind::NotWebsocket).collect();
        assert_eq!(shown.len(), 1, "{path}: one WebSocket");
        let c = shown[0];
        let firefox = page["userAgent"].as_str().is_some_and(|u| u.contains("Firefox"));
        assert_eq!(json!(c.verdict.client_sees), close["code"], "{path}: {}", c.verdict.summary);
        if firefox && c.verdict.kind == Kind::TlsFailed {
            // Known from the ClientHello alone: no request was ever sent.
            assert_eq!(close["code"], json!(1015), "{path}: Firefox reports 1015 for a failed TLS handshake");
        }
        let family = c.tls.as_ref().and_then(|t| t.client_family);
        assert_eq!(family, Some(if firefox { "firefox" } else { "chromium" }), "{path}: tls.client_family");
        assert_eq!(json!(c.verdict.client_clean), close["wasClean"], "{path}: wasClean");
        checked += 1;
    }
    assert!(checked >= 8, "{checked} browser reports");
}

/// Without keys a completed TLS connection is `unknown` and says what is known; a refused
/// certificate is `tls_failed` and names the alert; with keys the same connection gets the
/// verdict of its WebSocket.
#[test]
fn wss_verdicts_with_and_without_keys() {
    let one = |name: &str, keys: bool| {
        let path = format!("captures/wss/{name}.pcap");
        let k = format!("captures/wss/{name}.keys");
        let conns = analyse(&path, keys.then_some(k.as_str()));
        conns.into_iter().next().unwrap()
    };
    let c = one("wss-node-tls13-aes256", false);
    assert_eq!((c.verdict.kind, c.verdict.client_sees), (Kind::Unknown, None));
    assert!(c.verdict.summary.contains("TLS 1.3") && c.verdict.summary.contains("--keylog"), "{}", c.verdict.summary);
    assert_eq!(c.tls.as_ref().and_then(|t| t.why_not.clone()).as_deref(), Some("no keys given (--keylog)"));
    let c = one("wss-node-tls13-aes256", true);
    assert_eq!(
        (c.verdict.kind, c.verdict.client_sees, c.verdict.server_sees),
        (Kind::ServerAbort, Some(1006), Some(1006))
    );
    let c = one("wss-cert-refused", false);
    assert_eq!((c.verdict.kind, c.verdict.client_sees), (Kind::TlsFailed, Some(1006)));
    assert!(c.verdict.summary.contains("unknown_ca"), "{}", c.verdict.summary);
    assert!(c.verdict.advice.iter().any(|a| a.contains("does not trust")), "{:?}", c.verdict.advice);
    let c = one("wss-node-tls13-chacha", true);
    assert_eq!((c.verdict.kind, c.verdict.client_sees), (Kind::CleanClose, Some(4001)));
    assert_eq!(c.tls.as_ref().and_then(|t| t.cipher.clone()).as_deref(), Some("TLS_CHACHA20_POLY1305_SHA256"));
    // A key log for another connection: the records do not authenticate.
    let path = "captures/wss/wss-node-tls13-chacha.pcap";
    let conns = analyse(path, Some("captures/wss/wss-node-tls13-aes256.keys"));
    let t = conns[0].tls.as_ref().unwrap();
    assert!(!t.decrypted);
    assert_eq!(t.why_not.as_deref(), Some("no key log line for this client random"));
}

/// A live capture's key log grows while the capture runs: the lines that arrive after the
/// ServerHello (in two pieces, one cut mid-line) still decrypt the connection.
#[test]
fn keys_that_arrive_late_still_decrypt() {
    let bytes = std::fs::read("captures/wss/wss-python-tls13-aes128.pcap").unwrap();
    let keys = std::fs::read("captures/wss/wss-python-tls13-aes128.keys").unwrap();
    let mut a = Analyzer::new(Config::default());
    let mut r = wsdiag::capture::CaptureReader::new(&bytes[..], "live", 1).unwrap();
    let mut n = 0;
    while let Some(p) = r.next() {
        a.packet(&p);
        n += 1;
        if n == 8 {
            // After the ServerHello and the server's flight: the browser writes its lines now.
            let (first, rest) = keys.split_at(keys.len() / 2 + 7);
            assert!(a.append_keys(first, "keys.log").is_empty());
            assert!(a.append_keys(rest, "keys.log").is_empty());
        }
    }
    let (conns, _) = wsdiag::conclude_all(a);
    let c = &conns[0];
    assert!(c.tls.as_ref().is_some_and(|t| t.decrypted), "{:?}", c.tls);
    assert_eq!((c.verdict.kind, c.verdict.client_sees), (Kind::CleanClose, Some(1000)), "{}", c.verdict.summary);
}

/// Damaged wss captures (bits flipped in records, cut anywhere), with their key logs: the TLS
/// layer and everything above it never panic, and every connection still gets a verdict.
#[test]
fn damaged_wss_captures_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for (path, keys) in wss_captures().into_iter().filter(|(p, _)| p.ends_with(".pcap")) {
        let bytes = std::fs::read(&path).unwrap();
        let k = std::fs::read(&keys).unwrap();
        for round in 0..12 {
            let mut b = bytes.clone();
            // Past the file header: flip a few bits, or cut the file short.
            for _ in 0..(1 + round) {
                let at = 24 + rand(b.len() - 24);
                b[at] ^= 1 << rand(8);
            }
            if round % 3 == 0 {
                b.truncate(24 + rand(b.len() - 24));
            }
            let mut a = Analyzer::new(Config { all: true, ..Config::default() });
            a.add_keys(&k, &keys);
            a.read(&b[..], &path, &mut 1);
            let (conns, _) = wsdiag::conclude_all(a);
            assert!(conns.iter().all(|c| !c.verdict.summary.is_empty()), "{path} round {round}");
        }
    }
}
