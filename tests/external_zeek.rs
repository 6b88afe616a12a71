//! Third-party captures (Zeek's WebSocket test traces in ../shared/captures-external, not copied
//! into the repository) against the facts read off each one (truth.json). Skipped, loudly, when
//! the folder is not beside the checkout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wsdiag::{Config, analyze_files};

const DIR: &str = "../shared/captures-external";

#[test]
fn zeek_traces_match_truth() {
    let Ok(text) = std::fs::read_to_string(format!("{DIR}/truth.json")) else {
        eprintln!("SKIPPED: {DIR}/truth.json not found (the third-party captures live beside the checkout)");
        return;
    };
    let truth: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    assert!(truth.len() >= 10);
    let mut errors = Vec::new();
    let mut checked = 0;
    for file in &truth {
        let name = file["file"].as_str().unwrap_or("");
        let path = format!("{DIR}/{name}");
        let cfg = Config {
            all: true,
            report: wsdiag::report::ReportOptions { show_secrets: true, ..Default::default() },
            ..Config::default()
        };
        let (conns, _, inputs) = analyze_files(&[&path], cfg);
        if !inputs[0].warnings.is_empty() {
            errors.push(format!("{name}: warnings {:?}", inputs[0].warnings));
        }
        for t in file["connections"].as_array().into_iter().flatten() {
            let client = t["client"].as_str().unwrap_or("");
            let Some(c) = conns.iter().find(|c| c.client == client && Some(c.server.as_str()) == t["server"].as_str())
            else {
                errors.push(format!("{name}: no connection {client} -> {}", t["server"]));
                continue;
            };
            checked += 1;
            let mut eq = |fact: &str, ours: Value, theirs: &Value| {
                if ours != *theirs {
                    errors.push(format!("{name} {client}: {fact}: wsdiag {ours} vs truth {theirs}"));
                }
            };
            eq("status", c.handshake.response.as_ref().map_or(Value::Null, |r| json!(r.status)), &t["status"]);
            eq("uri", c.handshake.request.as_ref().map_or(Value::Null, |r| json!(r.uri)), &t["uri"]);
            eq(
                "accept_valid",
                c.handshake.response.as_ref().and_then(|r| r.accept_valid).map_or(Value::Null, Value::from),
                &t["accept_valid"],
            );
            let f = &c.websocket.frames;
            eq(
                "frames",
                json!({
                    "client": {"text": f.client.text, "binary": f.client.binary, "ping": f.client.ping, "pong": f.client.pong, "close": f.client.close, "cont": f.client.continuation},
                    "server": {"text": f.server.text, "binary": f.server.binary, "ping": f.server.ping, "pong": f.server.pong, "close": f.server.close, "cont": f.server.continuation},
                }),
                &t["frames"],
            );
            let closes: Vec<Value> = c.websocket.close_frames.iter().map(|x| json!({"from": x.from.as_str(), "code": x.code, "reason": x.reason.clone().filter(|r| !r.is_empty()), "frame": x.packet})).collect();
            let want: Vec<Value> = t["close_frames"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| json!({"from": x["from"], "code": x["code"], "reason": x["reason"].as_str().filter(|r| !r.is_empty()), "frame": x["frame"]}))
                .collect();
            eq("close_frames", Value::from(closes), &Value::from(want));
            let first_fin = c.timeline.to_vec().into_iter().filter(|e| e.event == "fin").min_by_key(|e| e.packet);
            eq(
                "first_fin_from",
                first_fin.as_ref().map_or(Value::Null, |e| json!(e.from.as_str())),
                &t["first_fin_from"],
            );
            eq("first_fin_frame", first_fin.as_ref().map_or(Value::Null, |e| json!(e.packet)), &t["first_fin_frame"]);
            let first_rst = c.timeline.to_vec().into_iter().filter(|e| e.event == "rst").min_by_key(|e| e.packet);
            eq(
                "first_rst_from",
                first_rst.as_ref().map_or(Value::Null, |e| json!(e.from.as_str())),
                &t["first_rst_from"],
            );
            eq("compressed", json!(c.websocket.compressed), &t["compressed"]);
            let unmasked = c.websocket.violations.iter().any(|v| v.kind == "unmasked_client_frame");
            eq(
                "unmasked_client_frames",
                json!(unmasked),
                &json!(t["unmasked_client_frames"].as_u64().unwrap_or(0) > 0),
            );
            let masked = c.websocket.violations.iter().any(|v| v.kind == "masked_server_frame");
            eq("masked_server_frames", json!(masked), &json!(t["masked_server_frames"].as_u64().unwrap_or(0) > 0));
            eq("bytes", json!({"client": c.tcp.bytes.client, "server": c.tcp.bytes.server}), &t["tcp_payload_bytes"]);
        }
    }
    assert!(checked >= 15, "checked only {checked} connections");
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
}
