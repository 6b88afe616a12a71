//! The WebSocket-over-HTTP/2 captures (captures/h2: headless Chromium and Firefox and a Node
//! h2c client against a Node http2 server with extended CONNECT, RFC 8441) against tshark's
//! reading of their HTTP/2 (tests/tshark/h2/, made by captures/wss/tshark_facts.py --h2) and
//! against what the browsers' pages reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wsdiag::diagnose::Kind;
use wsdiag::report::Connection;
use wsdiag::{Analyzer, Config};

/// The h2 captures, sorted.
fn captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("captures/h2")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".pcap"))
        .collect();
    v.sort();
    v
}

/// Every connection of a capture (`--all`), with its key log when it has one.
fn analyse(path: &str) -> Vec<Connection> {
    let mut a = Analyzer::new(Config { all: true, ..Config::default() });
    let keys = path.replace(".pcap", ".keys");
    if let Ok(text) = std::fs::read(&keys) {
        assert!(a.add_keys(&text, &keys).is_empty(), "{keys}: key log warnings");
    }
    let src = wsdiag::capture::open(path).unwrap();
    let Ok(input) = a.read_source(src, path, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    assert!(input.warnings.is_empty(), "{path}: {:?}", input.warnings);
    wsdiag::conclude_all(a).0
}

fn stem(path: &str) -> &str {
    path.rsplit('/').next().unwrap().trim_end_matches(".pcap")
}

/// Each WebSocket stream tshark saw (an extended CONNECT with `:protocol websocket`) is one
/// wsdiag record naming that stream, with the same answer, Close frames, RST_STREAM and
/// END_STREAMs; each other request stream is a `not_websocket` record (`--all`) with tshark's
/// path and status; and wsdiag has no stream tshark does not.
#[test]
fn every_websocket_stream_agrees_with_tshark() {
    let mut errors = Vec::new();
    let (mut streams, mut other_streams) = (0, 0);
    for path in captures() {
        let name = stem(&path);
        let facts: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("tests/tshark/h2/{name}.json")).unwrap()).unwrap();
        let conns = analyse(&path);
        let ours: Vec<&Connection> = conns.iter().filter(|c| c.transport.kind == "h2").collect();
        let (mut theirs, mut others) = (0, 0);
        for tcp in facts["streams"].as_array().unwrap() {
            let Some(h2) = tcp.get("h2").filter(|h| !h.is_null()) else { continue };
            for st in h2["streams"].as_array().unwrap() {
                let id = format!("{name} {} stream {}", tcp["client"], st["id"]);
                let Some(c) =
                    ours.iter().find(|c| json!(c.client) == tcp["client"] && json!(c.transport.stream) == st["id"])
                else {
                    errors.push(format!("{id}: no wsdiag record"));
                    continue;
                };
                if st["request"][":protocol"] != json!("websocket") {
                    // Another request (`--all` lists it): the same path and answer.
                    others += 1;
                    let status = c.handshake.response.as_ref().map(|r| r.status.to_string());
                    let path = c.handshake.request.as_ref().map(|r| r.uri.clone());
                    if c.verdict.kind != Kind::NotWebsocket
                        || json!(status) != st["response"][":status"]
                        || json!(path) != st["request"][":path"]
                    {
                        errors.push(format!("{id}: {:?} {path:?} {status:?} vs tshark {st}", c.verdict.kind));
                    }
                    continue;
                }
                theirs += 1;
                let mut eq = |fact: &str, ours: Value, theirs: Value| {
                    if ours != theirs {
                        errors.push(format!("{id}: {fact}: wsdiag {ours} vs tshark {theirs}"));
                    }
                };
                let h = c.h2.as_ref().unwrap();
                let status = c.handshake.response.as_ref().map(|r| r.status.to_string());
                eq("status", json!(status), st["response"][":status"].clone());
                eq("path", json!(c.handshake.request.as_ref().map(|r| r.uri.clone())), st["request"][":path"].clone());
                eq(
                    "end_stream",
                    json!({"client": h.end_stream.client, "server": h.end_stream.server}),
                    st["end_stream"].clone(),
                );
                let rst =
                    h.rst_stream.as_ref().map(|r| json!({"from": r.from, "error_name": r.error, "packet": r.packet}));
                let want_rst = st["rst_stream"]
                    .as_array()
                    .unwrap()
                    .first()
                    .map(|r| json!({"from": r["from"], "error_name": r["error_name"], "packet": r["packet"]}));
                eq("rst_stream", json!(rst), json!(want_rst));
                let closes: Vec<Value> = c
                    .websocket
                    .close_frames
                    .iter()
                    .map(|f| json!({"from": f.from, "code": f.code, "packet": f.packet}))
                    .collect();
                let want: Vec<Value> = st["websocket"]["close_frames"]
                    .as_array()
                    .map(|v| {
                        v.iter().map(|f| json!({"from": f["from"], "code": f["code"], "packet": f["packet"]})).collect()
                    })
                    .unwrap_or_default();
                eq("close frames", json!(closes), json!(want));
                eq(
                    "enable_connect_protocol",
                    json!(h.enable_connect_protocol),
                    json!(h2["enable_connect_protocol"]["server"]["value"] == json!(1)),
                );
                streams += 1;
            }
        }
        if ours.len() != theirs + others {
            errors.push(format!(
                "{name}: {} h2 records, tshark {theirs} WebSocket streams and {others} others",
                ours.len()
            ));
        }
        other_streams += others;
    }
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
    assert!(streams >= 14, "{streams} streams checked");
    assert!(other_streams >= 12, "{other_streams} other streams checked");
}

/// What each browser's page reported in onclose is what wsdiag says the client sees.
#[test]
fn the_browsers_saw_what_wsdiag_says() {
    let mut checked = 0;
    for path in captures() {
        let report = path.replace(".pcap", ".browser.json");
        let Ok(text) = std::fs::read_to_string(&report) else { continue };
        let page: Value = serde_json::from_str(&text).unwrap();
        let mut codes: Vec<(Value, Value)> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "close")
            .map(|e| (e["code"].clone(), e["wasClean"].clone()))
            .collect();
        let conns = analyse(&path);
        let shown: Vec<&Connection> =
            conns.iter().filter(|c| !matches!(c.verdict.kind, Kind::NotWebsocket | Kind::TlsFailed)).collect();
        let mut ours: Vec<(Value, Value)> =
            shown.iter().map(|c| (json!(c.verdict.client_sees), json!(c.verdict.kind == Kind::CleanClose))).collect();
        if shown.is_empty() {
            // No WebSocket on the wire at all (the browser gave up in TLS): it reported 1006.
            ours = conns
                .iter()
                .filter(|c| c.verdict.kind == Kind::TlsFailed)
                .map(|_| (json!(1006), json!(false)))
                .collect();
            ours.truncate(codes.len());
        }
        codes.sort_by_key(|c| c.0.to_string());
        ours.sort_by_key(|c| c.0.to_string());
        assert_eq!(ours, codes, "{path}: {:?}", shown.iter().map(|c| &c.verdict.summary).collect::<Vec<_>>());
        checked += 1;
    }
    assert!(checked >= 12, "{checked} browser reports");
}

/// Two WebSockets on one TCP connection are two records with their own ids that name the same
/// TCP connection, each with its own stream's events.
#[test]
fn two_websockets_on_one_connection() {
    let conns = analyse("captures/h2/h2-chromium-two-streams.pcap");
    let ws: Vec<&Connection> =
        conns.iter().filter(|c| c.transport.kind == "h2" && c.verdict.kind != Kind::NotWebsocket).collect();
    assert_eq!(ws.len(), 2);
    assert_ne!(ws[0].id, ws[1].id);
    assert_eq!(ws[0].transport.tcp_id, ws[1].transport.tcp_id);
    assert_eq!((ws[0].transport.stream, ws[1].transport.stream), (Some(3), Some(5)));
    for (c, other) in [(ws[0], "[5]:"), (ws[1], "[3]:")] {
        let texts: Vec<String> = c.timeline.to_vec().into_iter().map(|e| e.text).collect();
        assert!(texts.iter().any(|t| t.starts_with("SETTINGS")), "connection events are shared");
        assert!(!texts.iter().any(|t| t.contains(other)), "{texts:?}");
    }
    assert_eq!(ws[1].websocket.close_frames.first().and_then(|f| f.code), Some(4000));
    // Each stream's own span: from its CONNECT (tshark: packets 37 and 38) to its last frame,
    // inside the TCP connection's.
    let spans: Vec<(Option<u64>, u64)> = ws
        .iter()
        .map(|c| c.h2.as_ref().map_or((None, 0), |h| (h.opened_packet.map(|p| p.number()), h.last_packet.number())))
        .collect();
    assert_eq!(spans, [(Some(37), 49), (Some(38), 53)]);
    for c in &ws {
        let h = c.h2.as_ref().unwrap();
        assert!(
            h.duration_ms < c.duration_ms && h.last_packet < c.last_packet,
            "{} vs {}",
            h.duration_ms,
            c.duration_ms
        );
    }
}

/// Without the key log, an h2 connection is TLS offering ALPN h2 (TLS 1.3 hides the answer):
/// what is known, no guess.
#[test]
fn without_keys_the_tls_story_is_told() {
    let mut a = Analyzer::new(Config { all: true, ..Config::default() });
    let path = "captures/h2/h2-firefox-clean.pcap";
    let src = wsdiag::capture::open(path).unwrap();
    let Ok(_) = a.read_source(src, path, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    let conns = wsdiag::conclude_all(a).0;
    assert!(conns.iter().all(|c| c.transport.kind == "h1" && c.h2.is_none()));
    assert!(
        conns
            .iter()
            .any(|c| c.tls.as_ref().is_some_and(|t| t.alpn.is_none() && t.alpn_offered.iter().any(|a| a == "h2")))
    );
}

/// `--all` adds the streams that are not WebSockets without moving any other record's id, and
/// `--conn` draws the ladder of a WebSocket that is not the first on its TCP connection, with
/// its own stream's HTTP/2 frames.
#[test]
fn other_streams_keep_ids_and_the_ladder_names_frames() {
    let bin = env!("CARGO_BIN_EXE_wsdiag");
    let path = "captures/h2/h2-chromium-two-streams.pcap";
    let keys = "captures/h2/h2-chromium-two-streams.keys";
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(["--keylog", keys]).args(args).arg(path).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let records = |all: bool| -> Vec<(u64, String, String)> {
        let text = run(if all { &["--json", "--all"] } else { &["--json"] });
        let v: Value = serde_json::from_str(&text).unwrap();
        v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_u64().unwrap(), c["verdict"]["kind"].to_string(), c["transport"].to_string()))
            .collect()
    };
    let (plain, all) = (records(false), records(true));
    assert_eq!(plain.len(), 2, "{plain:?}");
    for r in &plain {
        assert!(all.contains(r), "{r:?} not in {all:?}");
    }
    let other: Vec<_> = all.iter().filter(|r| r.1 == "\"not_websocket\"" && r.2.contains("\"h2\"")).collect();
    assert_eq!(other.len(), 1, "{all:?}");
    assert!(other[0].2.contains("\"stream\":1"), "{other:?}");
    // The second WebSocket (stream 5): its own frames, named as tshark names them.
    let second = plain.iter().find(|r| r.2.contains("\"stream\":5")).unwrap();
    let ladder = run(&["--conn", &second.0.to_string()]);
    for want in [
        "HEADERS[5]: CONNECT /chat/b :protocol websocket",
        "HEADERS[5]: :status 200",
        "DATA[5]: Close 4000",
        "SETTINGS[0]",
    ] {
        assert!(ladder.contains(want), "{want:?} not in\n{ladder}");
    }
    assert!(!ladder.contains("[3]"), "stream 3's frames in stream 5's ladder:\n{ladder}");
}
