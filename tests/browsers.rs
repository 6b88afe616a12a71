//! The plain ws:// browser captures (captures/browsers, made by captures/make-browsers.sh):
//! what headless Chromium's and Firefox ESR's pages reported in `onclose` is what wsdiag says
//! the client sees, and wsdiag names the browser from its User-Agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wsdiag::diagnose::Kind;
use wsdiag::report::Connection;
use wsdiag::{Config, analyze_files};

/// The browser captures, sorted: (capture path, the page's report).
fn browser_captures() -> Vec<(String, Value)> {
    let mut v: Vec<String> = std::fs::read_dir("captures/browsers")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().display().to_string()).collect())
        .unwrap_or_default();
    v.retain(|p| p.ends_with(".pcap"));
    v.sort();
    v.into_iter()
        .filter_map(|p| {
            let report = p.replace(".pcap", ".browser.json");
            let text = std::fs::read_to_string(&report).ok()?;
            Some((p, serde_json::from_str(&text).unwrap()))
        })
        .collect()
}

/// Every connection of a capture (`--all`), with no input warning.
fn analyse(path: &str) -> Vec<Connection> {
    let (conns, _, inputs) = analyze_files(&[path], Config { all: true, ..Config::default() });
    assert!(inputs.iter().all(|i| i.warnings.is_empty()), "{path}: {:?}", inputs[0].warnings);
    conns
}

/// The port of the page's `ws://127.0.0.1:PORT/...`.
fn ws_port(page: &Value) -> u16 {
    let url = page["url"].as_str().unwrap();
    let rest = url.strip_prefix("ws://127.0.0.1:").unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

/// The family wsdiag must name for the page's userAgent.
fn family(page: &Value) -> &'static str {
    let ua = page["userAgent"].as_str().unwrap();
    if ua.contains("Firefox/") { "firefox" } else { "chromium" }
}

/// The browser's own connections: those to the page's WebSocket port (behind nginx there is a
/// second leg, from nginx to the backend, which carries the browser's User-Agent too).
fn browser_connections<'a>(conns: &'a [Connection], page: &Value) -> Vec<&'a Connection> {
    let port = ws_port(page);
    conns.iter().filter(|c| c.server_port == port).collect()
}

fn one_line(c: &Connection) -> String {
    format!(
        "wsdiag #{} kind {} client_sees {} server_sees {} ({})",
        c.id,
        c.verdict.kind.as_str(),
        json!(c.verdict.client_sees),
        json!(c.verdict.server_sees),
        c.verdict.summary
    )
}

#[test]
fn wsdiag_names_the_browser_from_its_user_agent() {
    let caps = browser_captures();
    let mut errors = Vec::new();
    let mut checked = 0;
    for (path, page) in &caps {
        let conns = analyse(path);
        for c in browser_connections(&conns, page) {
            let Some(req) = &c.handshake.request else { continue };
            checked += 1;
            if req.client != Some(family(page)) {
                errors.push(format!(
                    "{path} #{}: handshake.request.client {:?}, the page's userAgent {:?}",
                    c.id, req.client, page["userAgent"]
                ));
            }
        }
    }
    assert!(errors.is_empty(), "{} disagreements:\n{}", errors.len(), errors.join("\n"));
    assert!(checked >= 40, "{checked} browser requests in {} captures", caps.len());
}

/// For every capture whose page saw `onclose` (a page that was left, `"left": true`, has none:
/// navigated away in Chromium, its tab closed, its browser killed; Firefox runs onclose while it
/// navigates away, and that one is compared too): `verdict.client_sees` is the code the browser
/// reported and `verdict.client_clean` its `wasClean`. Where the
/// browser made more than one connection (a retry), the last one is the one the page's
/// onclose is about. Every disagreement is listed; the browser's report is the truth.
#[test]
fn the_browsers_saw_what_wsdiag_says() {
    let caps = browser_captures();
    let mut errors = Vec::new();
    let (mut checked, mut differs) = (0, 0);
    for (path, page) in &caps {
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".pcap");
        let events = page["events"].as_array().unwrap();
        let Some(close) = events.iter().find(|e| e["type"] == "close") else { continue };
        let conns = analyse(path);
        let mine = browser_connections(&conns, page);
        let Some(c) = mine.last() else {
            errors.push(format!("{name}: no connection to port {} in the capture", ws_port(page)));
            continue;
        };
        checked += 1;
        let browser =
            format!("browser code {} reason {} wasClean {}", close["code"], close["reason"], close["wasClean"]);
        if json!(c.verdict.client_sees) != close["code"] {
            errors.push(format!("{name}: client_sees: {browser}; {}", one_line(c)));
        }
        if json!(c.verdict.client_clean) != close["wasClean"] {
            errors.push(format!("{name}: wasClean: {browser}; {}", one_line(c)));
        }
        // wasClean is a clean closing handshake as this browser judges it: RFC 6455's, except
        // that Chromium counts a server's RST after it as an error.
        let rfc_clean = c.verdict.kind == Kind::CleanClose;
        if json!(rfc_clean) != close["wasClean"] {
            differs += 1;
            assert_eq!(family(page), "chromium", "{name}: only Chromium departs from RFC 6455 here");
            assert!(c.verdict.summary.contains("Chromium reports it with wasClean false"), "{name}: {}", one_line(c));
        }
    }
    assert_eq!(differs, 2, "Chromium's wasClean false after Daphne's RST: daphne-close-4001 and daphne-1011");
    assert!(errors.is_empty(), "{} disagreements with the browsers:\n{}", errors.len(), errors.join("\n"));
    assert!(checked >= 30, "{checked} browser reports compared in {} captures", caps.len());
}

/// A page that was left (navigated away, its tab closed) reports nothing: when Chromium sent
/// Close 1001 and closed its socket at once, wsdiag says no page is left to report, not 1006.
#[test]
fn a_page_left_reports_nothing() {
    let mut checked = 0;
    for (path, page) in &browser_captures() {
        if page["left"] != json!(true) || family(page) != "chromium" {
            continue;
        }
        let conns = analyse(path);
        let Some(c) = browser_connections(&conns, page).last().copied() else { continue };
        if c.websocket.close_frames.first().is_none_or(|f| f.code != Some(1001)) {
            continue;
        }
        checked += 1;
        assert_eq!(c.verdict.client_sees, None, "{path}: {}", one_line(c));
        assert!(c.verdict.summary.contains("no page is left to report anything"), "{path}: {}", one_line(c));
        assert_eq!(c.verdict.outcome.as_str(), "going_away", "{path}");
    }
    assert_eq!(checked, 2, "chromium-navigate-away and chromium-close-tab");
}
