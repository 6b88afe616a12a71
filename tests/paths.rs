//! What middleboxes do, on captures of real peers in a routed topology of namespaces
//! (captures/paths/, made by captures/make-paths.sh: client TTL 64, server TTL 128, a router
//! with TTL 255 running iptables REJECT / DROP / MTU / NAT). Each capture's `.truth.json` holds
//! the peers' own reports and tshark's facts (RST/FIN packets with their TTLs, retransmissions
//! per direction, ICMP); the tests check wsdiag against them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wsdiag::report::Connection;
use wsdiag::timeline::Origin;
use wsdiag::{Analyzer, Config};

fn analyse(file: &str) -> Vec<Connection> {
    let f = format!("captures/paths/{file}");
    let mut a = Analyzer::new(Config::default());
    let src = wsdiag::capture::open(&f).unwrap();
    let Ok(_) = a.read_source(src, &f, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    wsdiag::conclude_all(a).0
}

fn truth(scenario: &str, file: &str) -> Value {
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("captures/paths/{scenario}.truth.json")).unwrap())
            .unwrap();
    t["captures"][file].clone()
}

#[test]
fn verdicts_on_both_sides_of_every_middlebox() {
    // (capture, verdict kind of each connection)
    let cases: &[(&str, &[&str])] = &[
        ("rst-injected-client.pcap", &["path_reset"]),
        ("rst-injected-server.pcap", &["path_reset"]),
        ("drop-mid-session-client.pcap", &["path_lost"]),
        ("drop-mid-session-server.pcap", &["path_lost"]),
        ("drop-one-way-client.pcap", &["path_lost"]),
        ("drop-one-way-server.pcap", &["path_lost"]),
        // The client's side of a black hole shows only silence and its own keep-alive timeout.
        ("mtu-blackhole-client.pcap", &["close_unanswered"]),
        ("mtu-blackhole-server.pcap", &["path_lost"]),
        ("mtu-icmp-ok-client.pcap", &["clean_close"]),
        ("mtu-icmp-ok-server.pcap", &["clean_close"]),
        ("nat-client.pcap", &["clean_close"]),
        ("nat-server.pcap", &["clean_close"]),
        ("nat-idle-expired-client.pcap", &["clean_close"]),
        ("nat-idle-expired-server.pcap", &["clean_close"]),
        // The server's kernel really reset the un-NATed segment (TTL 128 / 127: its own); the
        // router's own stack reset the forgotten NAT flow (TTL 255).
        ("nat-idle-strict-client.pcap", &["server_abort"]),
        ("nat-idle-strict-server.pcap", &["path_reset", "server_abort"]),
    ];
    for (file, kinds) in cases {
        let got: Vec<&str> = analyse(file).iter().map(|c| c.verdict.kind.as_str()).collect();
        assert_eq!(got, *kinds, "{file}");
    }
}

/// The forged RST: its TTL as tshark read it, against the claimed sender's TTLs.
#[test]
fn the_injected_rst_is_named_with_its_ttl() {
    for (file, claimed, ttls) in
        [("rst-injected-client.pcap", "server", 127), ("rst-injected-server.pcap", "client", 63)]
    {
        let t = truth("rst-injected", file);
        let rst = &t["rst_and_fin"][0];
        let c = &analyse(file)[0];
        let td = c.tcp.first_teardown.as_ref().unwrap();
        assert_eq!(td.packet.number(), rst["frame"].as_u64().unwrap(), "{file}");
        assert_eq!(td.ttl.map(u64::from), rst["ttl"].as_u64(), "{file}");
        assert_eq!(td.origin, Origin::Path, "{file}");
        let want =
            format!("TTL 255 where every packet from the {claimed} had {ttls}, so the {claimed} did not send it");
        assert!(c.verdict.summary.contains(&want), "{file}: {}", c.verdict.summary);
        assert_eq!(c.verdict.client_sees, Some(1006));
        assert!(c.verdict.advice.iter().any(|a| a.contains("untouched")), "{:?}", c.verdict.advice);
    }
    // A genuine RST from the server's kernel (TTL 127 at the client, as its other packets) is not.
    let c = &analyse("nat-idle-strict-client.pcap")[0];
    assert_eq!(c.tcp.first_teardown.as_ref().map(|t| t.origin), Some(Origin::Endpoint));
}

/// The silent drop: the retransmission count is tshark's, the direction the one that stalled.
#[test]
fn the_dropped_flow_is_a_path_that_stopped_delivering() {
    for scenario in ["drop-mid-session", "drop-one-way"] {
        for (side, dir) in [("client", "client→server"), ("server", "server→client")] {
            let file = format!("{scenario}-{side}.pcap");
            let t = truth(scenario, &file);
            let c = &analyse(&file)[0];
            let src = if side == "client" { &c.client } else { &c.server };
            let retx = t["retransmissions"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with(&format!("{src} ->")))
                .map(|(_, n)| n.as_u64().unwrap())
                .unwrap();
            let s = &c.verdict.summary;
            assert!(s.contains(&format!("stopped delivering {dir}")), "{file}: {s}");
            assert!(s.contains(&format!("retransmitted {retx} times")), "{file}: tshark {retx}: {s}");
            assert!(s.contains("the capture ended with the bytes still unacknowledged"), "{file}: {s}");
            assert!(!s.contains("MTU"), "{file}: {s}");
        }
    }
    // The client's keep-alive pings are among the stuck bytes.
    assert!(analyse("drop-mid-session-client.pcap")[0].verdict.summary.contains("the client's Pings went unanswered"));
}

/// The black hole: only the server's 1448-byte segments stuck (tshark: 4 retransmissions of
/// them, no ICMP in the capture); the client's Close 1011 from its keep-alive got through.
#[test]
fn the_black_hole_is_named_with_the_segment_size() {
    let t = truth("mtu-blackhole", "mtu-blackhole-server.pcap");
    assert_eq!(t["icmp"].as_array().map(Vec::len), Some(0));
    let c = &analyse("mtu-blackhole-server.pcap")[0];
    let s = &c.verdict.summary;
    assert!(s.contains("MTU black hole: every retransmission was a full-size 1448-byte segment"), "{s}");
    assert!(s.contains("the server retransmitted 4 times"), "{s}");
    assert!(s.contains("Close 1011 (internal error) \"keepalive ping timeout\" (its keep-alive timeout)"), "{s}");
    assert_eq!((c.verdict.client_sees, c.verdict.server_sees), (Some(1006), Some(1011)));
    assert!(c.verdict.advice.iter().any(|a| a.contains("clamp-mss-to-pmtu")));
    // With ICMP let through the server lowers its segments and the message arrives.
    let ok = &analyse("mtu-icmp-ok-server.pcap")[0];
    assert!(ok.tcp.retransmissions > 0, "the first full-size tries were resent smaller");
    let icmp = truth("mtu-icmp-ok", "mtu-icmp-ok-server.pcap")["icmp"].as_array().map_or(0, Vec::len);
    assert_eq!(
        (usize::from(ok.tcp.icmp_too_big), ok.tcp.icmp_mtu),
        (icmp, Some(1400)),
        "tshark: {icmp} ICMP type 3 code 4"
    );
    assert!(
        c.verdict.summary.contains("no ICMP \"fragmentation needed\" for this connection is in the capture"),
        "{s}"
    );
}

/// From the client side of the MTU black hole only the symptom shows: the server's TCP kept
/// acknowledging every client byte, yet no data came back after packet 24; the summary says
/// so and where to look, beside naming the keepalive that gave up.
#[test]
fn the_client_side_of_a_black_hole_says_the_server_was_up() {
    let c = analyse("mtu-blackhole-client.pcap");
    let s = &c[0].verdict.summary;
    assert_eq!(c[0].verdict.kind.as_str(), "close_unanswered");
    assert!(s.contains("python websockets' keepalive"), "{s}");
    assert!(s.contains("the server's TCP acknowledged the client's bytes until packet 63"), "{s}");
    assert!(s.contains("none of its data came back after packet 24"), "{s}");
    assert!(s.contains("a capture on the server's side shows them retransmitted"), "{s}");
}

/// nat-idle-strict, seen from the server: the server's Close 1001 went towards a NAT that had
/// forgotten the flow, which answered it with a forged RST; the Close never reached the client,
/// whose own report (the truth) is 1006, not 1001.
#[test]
fn a_close_answered_by_a_forged_reset_never_reached_the_peer() {
    let c = analyse("nat-idle-strict-server.pcap");
    let peer: Value =
        serde_json::from_str(&std::fs::read_to_string("captures/paths/nat-idle-strict.truth.json").unwrap()).unwrap();
    let reported = peer["peers"]["client"]["reports"][0]["close_code"].as_u64().map(|c| c as u16);
    assert_eq!(reported, Some(1006));
    assert_eq!(c[0].verdict.kind.as_str(), "path_reset");
    assert_eq!(c[0].verdict.client_sees, reported, "{}", c[0].verdict.summary);
}
