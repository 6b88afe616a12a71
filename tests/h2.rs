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
/// END_STREAMs; and wsdiag has no WebSocket tshark does not.
#[test]
fn every_websocket_stream_agrees_with_tshark() {
    let mut errors = Vec::new();
    let mut streams = 0;
    for path in captures() {
        let name = stem(&path);
        let facts: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("tests/tshark/h2/{name}.json")).unwrap()).unwrap();
        let conns = analyse(&path);
        let ours: Vec<&Connection> = conns.iter().filter(|c| c.transport.kind == "h2").collect();
        let mut theirs = 0;
        for tcp in facts["streams"].as_array().unwrap() {
            let Some(h2) = tcp.get("h2").filter(|h| !h.is_null()) else { continue };
            for st in h2["streams"].as_array().unwrap() {
                if st["request"][":protocol"] != json!("websocket") {
                    continue;
                }
                theirs += 1;
                let id = format!("{name} {} stream {}", tcp["client"], st["id"]);
                let Some(c) =
                    ours.iter().find(|c| json!(c.client) == tcp["client"] && json!(c.transport.stream) == st["id"])
                else {
                    errors.push(format!("{id}: no wsdiag record"));
                    continue;
                };
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
        if ours.len() != theirs {
            errors.push(format!("{name}: {} h2 WebSocket records, tshark {theirs} WebSocket streams", ours.len()));
        }
    }
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
    assert!(streams >= 14, "{streams} streams checked");
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
    let ws: Vec<&Connection> = conns.iter().filter(|c| c.transport.kind == "h2").collect();
    assert_eq!(ws.len(), 2);
    assert_ne!(ws[0].id, ws[1].id);
    assert_eq!(ws[0].transport.tcp_id, ws[1].transport.tcp_id);
    assert_eq!((ws[0].transport.stream, ws[1].transport.stream), (Some(3), Some(5)));
    for (c, other) in [(ws[0], "stream 5:"), (ws[1], "stream 3:")] {
        let texts: Vec<String> = c.timeline.to_vec().into_iter().map(|e| e.text).collect();
        assert!(texts.iter().any(|t| t.starts_with("SETTINGS")), "connection events are shared");
        assert!(!texts.iter().any(|t| t.starts_with(other)), "{texts:?}");
    }
    assert_eq!(ws[1].websocket.close_frames.first().and_then(|f| f.code), Some(4000));
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
