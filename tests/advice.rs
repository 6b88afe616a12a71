//! Every advice rule on a shipped capture where it must fire and on one where it must not: the
//! rules that name a server (Daphne, Django's runserver, nginx, squid) recognise it by what it
//! really sends (Daphne's refusals carry no `Server` field), and the neighbouring situation
//! (a 403 from Python websockets, a 426 that is not a 502) does not take them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdiag::{Config, analyze_files};

/// The advice of every connection in a capture.
fn advice(path: &str) -> Vec<String> {
    let (conns, _, inputs) = analyze_files(&[path], Config::default());
    assert!(inputs[0].format.is_some(), "{path}: not read");
    conns.into_iter().flat_map(|c| c.verdict.advice).collect()
}

/// (what the rule says, a capture where it fires, one where it must not)
const RULES: &[(&str, &str, &str)] = &[
    ("`WSGIServer` answered", "runserver-404.pcap", "daphne-no-route-500.pcap"),
    ("Daphne answers 403", "daphne-403.pcap", "reconnect-loop.pcap"),
    ("Daphne answers 500", "daphne-no-route-500.pcap", "nginx-502.pcap"),
    ("Forbidden: the Origin header", "reconnect-loop.pcap", "daphne-403.pcap"),
    ("426 Upgrade Required:", "nginx-no-upgrade.pcap", "nginx-proxy-any.pcap"),
    ("could not reach its backend", "nginx-502.pcap", "nginx-no-upgrade.pcap"),
    ("Nothing listens on", "refused.pcap", "unreachable.pcap"),
    ("SYNs with no answer", "unreachable.pcap", "refused.pcap"),
    ("never answered the upgrade", "handshake-timeout.pcap", "still-open.pcap"),
    ("A wrong Sec-WebSocket-Accept", "bad-accept.pcap", "python-clean.pcap"),
    ("The server side closed without a Close frame", "server-killed.pcap", "client-killed.pcap"),
    ("The client went away without a Close frame", "client-killed.pcap", "server-killed.pcap"),
    ("Something closed an idle connection", "nginx-idle-timeout.pcap", "server-killed.pcap"),
    ("The peer never completed the closing handshake", "close-unanswered.pcap", "python-clean.pcap"),
    ("1011: the server hit an internal error", "daphne-1011.pcap", "daphne-close-4001.pcap"),
    ("4001 is application-defined", "daphne-close-4001.pcap", "daphne-1011.pcap"),
    ("1009: a message exceeded", "close-1009.pcap", "python-clean.pcap"),
    ("The server's frames break RFC 6455", "violation-masked-server.pcap", "violation-unmasked-client.pcap"),
    ("The client's frames break RFC 6455", "violation-unmasked-client.pcap", "violation-masked-server.pcap"),
    ("407: the proxy wants credentials", "heartbeats/squid-connect-auth.pcap", "heartbeats/squid-connect-refused.pcap"),
    ("403 from the proxy", "heartbeats/squid-connect-refused.pcap", "heartbeats/squid-connect-auth.pcap"),
    ("Only full-size segments were stuck", "paths/mtu-blackhole-server.pcap", "paths/drop-mid-session-server.pcap"),
    ("A stateful firewall, NAT gateway", "paths/drop-mid-session-client.pcap", "paths/rst-injected-client.pcap"),
    ("The forged packet", "paths/rst-injected-client.pcap", "paths/drop-mid-session-client.pcap"),
    ("its page goes away", "browsers/chromium-navigate-away.pcap", "close-unanswered.pcap"),
    ("Python websockets follows it", "browsers/python-redirect.pcap", "browsers/chromium-redirect.pcap"),
    (
        "browsers do not follow redirects for WebSockets (the page sees 1006)",
        "browsers/firefox-redirect.pcap",
        "browsers/python-redirect.pcap",
    ),
    (
        "The answer did come, after the initiator",
        "heartbeats/uvicorn-ws-ping-timeout.pcap",
        "browsers/chromium-navigate-away.pcap",
    ),
];

#[test]
fn each_rule_fires_where_it_must_and_only_there() {
    let mut errors = Vec::new();
    for (rule, fires, quiet) in RULES {
        let yes = advice(&format!("captures/{fires}"));
        if !yes.iter().any(|a| a.contains(rule)) {
            errors.push(format!("{rule:?} does not fire on {fires}: {yes:?}"));
        }
        let no = advice(&format!("captures/{quiet}"));
        if let Some(a) = no.iter().find(|a| a.contains(rule)) {
            errors.push(format!("{rule:?} fires on {quiet}: {a}"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The same rules fire on the browsers' own captures of the same failures, which were made
/// against the same servers: the rule is about the server, not about the client.
#[test]
fn server_rules_fire_whichever_browser_was_the_client() {
    for browser in ["chromium", "firefox"] {
        for (rule, capture) in [
            ("Daphne answers 403", "daphne-403"),
            ("Daphne answers 500", "daphne-no-route-500"),
            ("`WSGIServer` answered", "runserver-404"),
            ("could not reach its backend", "nginx-502"),
            ("426 Upgrade Required:", "nginx-no-upgrade"),
        ] {
            let path = format!("captures/browsers/{browser}-{capture}.pcap");
            let a = advice(&path);
            assert!(a.iter().any(|x| x.contains(rule)), "{path}: {a:?}");
        }
    }
}

/// The server software is named from what it sent, also with no `Server` field.
#[test]
fn servers_are_known_by_what_they_send() {
    let software = |path: &str| {
        let (conns, _, _) = analyze_files(&[path], Config::default());
        conns.into_iter().filter_map(|c| c.handshake.response.and_then(|r| r.software)).collect::<Vec<_>>()
    };
    assert_eq!(software("captures/daphne-403.pcap"), ["daphne"]);
    assert_eq!(software("captures/daphne-no-route-500.pcap"), ["daphne"]);
    assert_eq!(software("captures/daphne-close-4001.pcap"), ["daphne"]);
    assert_eq!(software("captures/runserver-404.pcap"), ["django-runserver"]);
    assert_eq!(software("captures/reconnect-loop.pcap")[0], "python-websockets");
    // nginx relays the 426 of the Node ws backend behind it.
    assert_eq!(software("captures/nginx-no-upgrade.pcap"), ["nginx", "node-ws"]);
    assert_eq!(software("captures/nginx-502.pcap"), ["nginx"]);
    assert_eq!(software("captures/heartbeats/uvicorn-ws-ping-timeout.pcap"), ["uvicorn"]);
}

/// Python websockets follows a redirect on a new connection and reports nothing for the first;
/// a browser fails with 1006.
#[test]
fn who_follows_a_redirect() {
    let (conns, _, _) = analyze_files(&["captures/browsers/python-redirect.pcap"], Config::default());
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].verdict.client_sees, None, "{}", conns[0].verdict.summary);
    assert!(conns[0].verdict.summary.contains("Python websockets follows redirects"), "{}", conns[0].verdict.summary);
    assert_eq!(conns[1].path(), Some("/chat"));
    assert_eq!(conns[1].verdict.client_sees, Some(1000));
    let (conns, _, _) = analyze_files(&["captures/browsers/chromium-redirect.pcap"], Config::default());
    assert_eq!(conns[0].verdict.client_sees, Some(1006));
}
