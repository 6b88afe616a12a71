//! Library heartbeats and forward-proxy tunnels, on captures of real peers
//! (captures/heartbeats/, made by captures/make-heartbeats.sh; each capture's `.truth.json`
//! holds what the peers themselves reported).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdiag::report::Connection;
use wsdiag::{Analyzer, Config};

fn analyse(name: &str) -> Vec<Connection> {
    let f = format!("captures/heartbeats/{name}.pcap");
    let mut a = Analyzer::new(Config::default());
    if let Ok(k) = std::fs::read(format!("captures/heartbeats/{name}.keys")) {
        a.add_keys(&k, name);
    }
    let src = wsdiag::capture::open(&f).unwrap();
    let Ok(_) = a.read_source(src, &f, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    wsdiag::conclude_all(a).0
}

/// (capture, for each connection: verdict kind, client_sees, server_sees, words its summary has)
type Case = (&'static str, &'static [(&'static str, Option<u16>, Option<u16>, &'static [&'static str])]);

const CASES: &[Case] = &[
    // The server's Ping at 1 s, no Pong: Close 1011 "keepalive ping timeout" and FIN at once.
    (
        "websockets-keepalive-timeout",
        &[(
            "close_unanswered",
            Some(1011),
            Some(1006),
            &["python websockets' keepalive", "Ping at packet 11", "got no answer for 1.006 s"],
        )],
    ),
    (
        "uvicorn-ws-ping-timeout",
        &[("close_unanswered", Some(1011), Some(1006), &["uvicorn's --ws-ping-timeout", "Ping at packet 11"])],
    ),
    // aiohttp: no Close frame at all, a FIN half a heartbeat after the Ping (truth: the server
    // reports 1006, "No PONG received after 0.5 seconds").
    (
        "aiohttp-heartbeat",
        &[("server_abort", Some(1006), Some(1006), &["aiohttp's heartbeat", "Ping at packet 11", "503.1 ms"])],
    ),
    ("aiohttp-heartbeat-ok", &[("clean_close", Some(1000), Some(1000), &["Close 1000"])]),
    // engine.io: polling, then the upgrade on the same connection (after a chunked answer), pings
    // "2" unanswered, the transport closed with 1000.
    (
        "socketio-ping-timeout",
        &[("close_unanswered", Some(1000), Some(1006), &["engine.io's ping timeout", "application ping at packet 31"])],
    ),
    ("socketio-clean", &[("clean_close", Some(1000), Some(1000), &["Close 1000"])]),
    // The ws README's heartbeat: Ping every second, terminate() when the last one got no Pong
    // (the client has autoPong: false): a server FIN with no Close, 1.0 s after the Ping. The
    // server ended it: not an idle timeout on the path.
    (
        "node-ws-heartbeat-timeout",
        &[(
            "server_abort",
            Some(1006),
            Some(1006),
            &["Node ws's documented ping / terminate() pattern", "Ping at packet 11", "1.002 s"],
        )],
    ),
    ("node-ws-heartbeat-ok", &[("clean_close", Some(1000), Some(1000), &["Close 1000"])]),
    // socket.io-client polling, then the upgrade on another TCP connection; frozen (SIGSTOP):
    // the server's ping "2" at 91 unanswered, its Close 1000 on the ping timeout, answered 3.3 s
    // later when the client ran again.
    (
        "socketio-polling-upgrade-timeout",
        &[(
            "clean_close",
            Some(1000),
            Some(1005),
            &["engine.io's ping timeout", "application ping at packet 91", "session jY7nduqJ4F2VxB6jAAAA"],
        )],
    ),
    (
        "socketio-polling-upgrade",
        &[(
            "clean_close",
            Some(1005),
            Some(1005),
            &["engine.io session AbqHNFSKwHPRobeRAAAA", "long-polled first", "connection(s) #2"],
        )],
    ),
    // squid: the client leg's WebSocket is inside the CONNECT tunnel; the proxy's leg is direct.
    (
        "squid-connect-ws",
        &[
            (
                "clean_close",
                Some(1000),
                Some(1000),
                &["CONNECT tunnel to 127.0.0.1:9401 through the forward proxy 127.0.0.1:9480"],
            ),
            ("clean_close", Some(1000), Some(1000), &["\"done\""]),
        ],
    ),
    (
        "squid-connect-wss",
        &[
            ("clean_close", Some(1000), Some(1000), &["CONNECT tunnel to 127.0.0.1:9401"]),
            ("clean_close", Some(1000), Some(1000), &["\"done\""]),
        ],
    ),
    (
        "squid-connect-refused",
        &[(
            "handshake_rejected",
            Some(1006),
            None,
            &["forward proxy 127.0.0.1:9480 (squid/5.7) refused CONNECT 127.0.0.1:9402 with 403 Forbidden"],
        )],
    ),
    (
        "squid-connect-auth",
        &[
            (
                "handshake_rejected",
                Some(1006),
                None,
                &["refused CONNECT 127.0.0.1:9401 with 407 Proxy Authentication Required"],
            ),
            ("clean_close", Some(1000), Some(1000), &["CONNECT tunnel"]),
            ("clean_close", Some(1000), Some(1000), &["\"done\""]),
        ],
    ),
];

#[test]
fn heartbeats_and_tunnels_are_named() {
    for (name, want) in CASES {
        let conns = analyse(name);
        assert_eq!(
            conns.len(),
            want.len(),
            "{name}: {:?}",
            conns.iter().map(|c| &c.verdict.summary).collect::<Vec<_>>()
        );
        for (c, (kind, cs, ss, words)) in conns.iter().zip(want.iter()) {
            let v = &c.verdict;
            assert_eq!(
                (v.kind.as_str(), v.client_sees, v.server_sees),
                (*kind, *cs, *ss),
                "{name} #{}: {}",
                c.id,
                v.summary
            );
            for w in *words {
                assert!(v.summary.contains(w), "{name} #{}: {w:?} not in {}", c.id, v.summary);
            }
        }
    }
}

/// The tunnel is in the record, and the refused CONNECT's advice names the proxy's rule.
#[test]
fn the_tunnel_is_in_the_record() {
    let conns = analyse("squid-connect-wss");
    let t = conns[0].transport.tunnel.as_ref().expect("a tunnel");
    assert_eq!((t.proxy.as_str(), t.target.as_str(), t.status), ("127.0.0.1:9480", "127.0.0.1:9401", 200));
    assert!(t.connect_packet < t.established_packet);
    assert_eq!(conns[0].tls.as_ref().map(|t| t.decrypted), Some(true), "TLS inside the tunnel is decrypted");
    assert!(conns[1].transport.tunnel.is_none(), "squid's own leg is direct");
    let refused = analyse("squid-connect-auth");
    assert!(
        refused[0].verdict.advice.iter().any(|a| a.contains("Proxy-Authorization")),
        "{:?}",
        refused[0].verdict.advice
    );
}
