//! Patterns across connections: reconnect loops (the same client host asking the same server
//! for the same path again and again, and what each attempt got), and the two legs of one
//! proxied WebSocket (browser -> proxy, proxy -> backend) when a capture on the proxy host holds
//! both, with the leg that ended first.

use super::{Kind, human_ms, round_ms};
use crate::units::{PacketNo, Role};
use serde::Serialize;
use std::collections::BTreeMap;

/// What ended a leg first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegWhat {
    /// A Close frame, with its code if it had one.
    Close(Option<u16>),
    Fin,
    Rst,
}

impl std::fmt::Display for LegWhat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegWhat::Close(Some(c)) => write!(f, "Close {c}"),
            LegWhat::Close(None) => f.write_str("Close (no status code)"),
            LegWhat::Fin => f.write_str("FIN"),
            LegWhat::Rst => f.write_str("RST"),
        }
    }
}

/// How a connection's WebSocket ended first: its first Close frame or its first FIN or RST,
/// whichever came first.
#[derive(Clone, Debug, PartialEq)]
pub struct LegEnd {
    pub what: LegWhat,
    pub by: Role,
    pub at_ns: i64,
    pub packet: PacketNo,
}

/// One upgrade attempt, as the loop detector needs it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: u64,
    /// The connection's `uid` (what NDJSON lines join on).
    pub uid: String,
    pub client_host: String,
    pub server: String,
    pub path: String,
    pub start_ns: i64,
    pub kind: Kind,
    /// The HTTP status, or the verdict kind when there was none.
    pub outcome: String,
    /// Whether a 101 came back.
    pub upgraded: bool,
    pub first_packet: PacketNo,
    pub request_packet: Option<PacketNo>,
    pub end: Option<LegEnd>,
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReconnectLoop {
    pub client_host: String,
    pub server: String,
    pub path: String,
    pub attempts: usize,
    pub connections: Vec<u64>,
    /// The `uid`s of those connections, in the same order.
    pub uids: Vec<String>,
    pub interval_ms: Interval,
    /// What the attempts got: HTTP status or verdict kind, with counts.
    pub outcomes: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Interval {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// At least this many attempts make a loop, when at least two of them went wrong.
pub const MIN_ATTEMPTS: usize = 3;

pub fn reconnect_loops(attempts: &[Attempt]) -> Vec<ReconnectLoop> {
    let mut groups: BTreeMap<(String, String, String), Vec<&Attempt>> = BTreeMap::new();
    for a in attempts {
        groups.entry((a.client_host.clone(), a.server.clone(), a.path.clone())).or_default().push(a);
    }
    let mut out = Vec::new();
    for ((client_host, server, path), mut v) in groups {
        let bad = v.iter().filter(|a| !a.kind.is_normal()).count();
        if v.len() < MIN_ATTEMPTS || bad < 2 {
            continue;
        }
        v.sort_by_key(|a| a.start_ns);
        let gaps: Vec<f64> = v.windows(2).map(|w| w[1].start_ns.saturating_sub(w[0].start_ns) as f64 / 1e6).collect();
        let (min, max) = gaps.iter().fold((f64::MAX, 0f64), |(lo, hi), g| (lo.min(*g), hi.max(*g)));
        let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
        let mut outcomes = BTreeMap::new();
        for a in &v {
            *outcomes.entry(a.outcome.clone()).or_insert(0) += 1;
        }
        out.push(ReconnectLoop {
            client_host,
            server,
            path,
            attempts: v.len(),
            connections: v.iter().map(|a| a.id).collect(),
            uids: v.iter().map(|a| a.uid.clone()).collect(),
            interval_ms: Interval { min: round_ms(min), max: round_ms(max), mean: round_ms(mean) },
            outcomes,
        });
    }
    out
}

/// Two connections that are one WebSocket through a proxy: the front leg (client -> proxy) and
/// the back leg (the proxy host -> the backend), for the same path, the back one opened within
/// [`PAIR_WINDOW_NS`] after the front one.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ProxyPair {
    pub front: u64,
    pub back: u64,
    /// The front leg's `uid`.
    pub front_uid: String,
    /// The back leg's `uid`.
    pub back_uid: String,
    /// The proxy's listening address (the front leg's server).
    pub proxy: String,
    /// The backend (the back leg's server).
    pub upstream: String,
    pub path: String,
    /// Which leg ended first: "front", "back", or null when neither ended in the capture.
    pub ended_first: Option<&'static str>,
    /// One sentence: which leg ended first, how, and what followed on the other.
    pub summary: String,
}

/// A back leg starts at most this long after its front leg (nginx and HAProxy connect to the
/// backend as soon as the request head is in).
pub const PAIR_WINDOW_NS: i64 = 5_000_000_000;

fn host(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// Finds proxied pairs: each front leg is paired with the earliest unpaired back leg.
pub fn proxy_pairs(attempts: &[Attempt]) -> Vec<ProxyPair> {
    let mut by_start: Vec<&Attempt> = attempts.iter().collect();
    by_start.sort_by_key(|a| (a.start_ns, a.id));
    // The possible back legs by (client host, path), each in start order: a front leg looks only
    // at connections from its proxy's host for its path (scanning every connection in the
    // window was quadratic in a busy capture: 837k string compares for 2400 connections).
    let mut backs: std::collections::HashMap<(&str, &str), Vec<usize>> = std::collections::HashMap::new();
    for (i, a) in by_start.iter().enumerate() {
        backs.entry((a.client_host.as_str(), a.path.as_str())).or_default().push(i);
    }
    let mut taken = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, front) in by_start.iter().enumerate() {
        if taken.contains(&front.id) {
            continue;
        }
        let Some(candidates) = backs.get(&(host(&front.server), front.path.as_str())) else { continue };
        let later = &candidates[candidates.partition_point(|&j| j <= i)..];
        let back = later
            .iter()
            .map(|&j| by_start[j])
            .take_while(|b| b.start_ns.saturating_sub(front.start_ns) <= PAIR_WINDOW_NS)
            .find(|b| {
                !taken.contains(&b.id)
                    && b.server != front.server
                    && b.upgraded == front.upgraded
                    // A proxy connects to the backend once it has the request.
                    && front.request_packet.is_some_and(|r| b.first_packet > r)
            });
        let Some(back) = back else { continue };
        taken.insert(front.id);
        taken.insert(back.id);
        let (ended_first, summary) = pair_summary(front, back);
        out.push(ProxyPair {
            front: front.id,
            back: back.id,
            front_uid: front.uid.clone(),
            back_uid: back.uid.clone(),
            proxy: front.server.clone(),
            upstream: back.server.clone(),
            path: front.path.clone(),
            ended_first,
            summary,
        });
    }
    out.sort_by_key(|p| p.front);
    out
}

/// A gap between the legs' ends: these are often microseconds apart.
fn gap_text(ms: f64) -> String {
    if ms < 1.0 { format!("{} µs", (ms * 1000.0).round()) } else { human_ms(ms) }
}

/// Who ended a leg of a proxied WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Client,
    Proxy,
    Backend,
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Party::Client => "the client",
            Party::Proxy => "the proxy",
            Party::Backend => "the backend",
        })
    }
}

fn pair_summary(front: &Attempt, back: &Attempt) -> (Option<&'static str>, String) {
    let name = |leg: &Attempt, front_leg: bool| {
        if front_leg {
            format!("#{} (client -> proxy)", leg.id)
        } else {
            format!("#{} (proxy -> {})", leg.id, leg.server)
        }
    };
    let who = |e: &LegEnd, front_leg: bool| match (e.by, front_leg) {
        (Role::Client, true) => Party::Client,
        (Role::Server, true) | (Role::Client, false) => Party::Proxy,
        (Role::Server, false) => Party::Backend,
    };
    let lead = format!(
        "{} and {} are one WebSocket through the proxy at {}",
        name(front, true),
        name(back, false),
        front.server
    );
    let (first, first_is_front, second) = match (&front.end, &back.end) {
        (None, None) => return (None, format!("{lead}; neither leg ended in the capture.")),
        (Some(f), Some(b)) if f.at_ns <= b.at_ns => ((front, f), true, Some((back, b))),
        (Some(f), None) => ((front, f), true, None),
        (_, Some(b)) => ((back, b), false, front.end.as_ref().map(|f| (front, f))),
    };
    let (leg, e) = first;
    let mut text = format!(
        "{lead}: {} ended first ({} from {}, packet {})",
        name(leg, first_is_front),
        e.what,
        who(e, first_is_front),
        e.packet
    );
    match second {
        Some((other, o)) => text.push_str(&format!(
            ", then {} {} later ({} from {}, packet {}).",
            name(other, !first_is_front),
            gap_text(o.at_ns.saturating_sub(e.at_ns) as f64 / 1e6),
            o.what,
            who(o, !first_is_front),
            o.packet
        )),
        None => {
            let other = if first_is_front { back } else { front };
            text.push_str(&format!("; {} was still open at the end of the capture.", name(other, !first_is_front)));
        }
    }
    let first_who = who(e, first_is_front);
    let second_who = second.map(|(_, o)| who(o, !first_is_front));
    let meaning = match (first_who, second_who) {
        (Party::Proxy, Some(Party::Proxy)) => {
            " The proxy itself ended both legs: look at its timeouts (nginx proxy_read_timeout, HAProxy timeout tunnel), a reload or a limit on it."
        }
        (Party::Backend, Some(_)) => " The backend ended it; the proxy passed that on to the client.",
        (Party::Client, Some(_)) => " The client ended it; the proxy passed that on to the backend.",
        _ => "",
    };
    text.push_str(meaning);
    (Some(if first_is_front { "front" } else { "back" }), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: u64, ms: i64, kind: Kind, outcome: &str) -> Attempt {
        Attempt {
            id,
            uid: format!("W{id}"),
            client_host: "10.0.0.5".into(),
            server: "10.0.0.9:8000".into(),
            path: "/ws/".into(),
            start_ns: ms * 1_000_000,
            kind,
            outcome: outcome.into(),
            upgraded: true,
            first_packet: PacketNo(0),
            request_packet: None,
            end: None,
        }
    }

    fn leg(id: u64, client: &str, server: &str, ms: i64, end: Option<(LegWhat, Role, i64, u64)>) -> Attempt {
        Attempt {
            id,
            uid: format!("W{id}"),
            client_host: client.into(),
            server: server.into(),
            path: "/chat".into(),
            start_ns: ms * 1_000_000,
            kind: Kind::ServerAbort,
            outcome: "101".into(),
            upgraded: true,
            first_packet: PacketNo(id * 10),
            request_packet: Some(PacketNo(id * 10 + 3)),
            end: end.map(|(what, by, at_ms, packet)| LegEnd {
                what,
                by,
                at_ns: at_ms * 1_000_000,
                packet: PacketNo(packet),
            }),
        }
    }

    #[test]
    fn the_backend_leg_ended_first() {
        let v = vec![
            leg(1, "10.0.0.5", "10.0.0.1:443", 0, Some((LegWhat::Fin, Role::Server, 5003, 40))),
            leg(2, "10.0.0.1", "10.0.0.9:8000", 2, Some((LegWhat::Rst, Role::Server, 5000, 38))),
            // Another client's connection, unrelated.
            leg(3, "10.0.0.6", "10.0.0.1:443", 1, None),
        ];
        let p = proxy_pairs(&v);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].front, p[0].back, p[0].ended_first), (1, 2, Some("back")));
        assert_eq!(p[0].upstream, "10.0.0.9:8000");
        assert_eq!((p[0].front_uid.as_str(), p[0].back_uid.as_str()), ("W1", "W2"));
        assert!(
            p[0].summary.contains("#2 (proxy -> 10.0.0.9:8000) ended first (RST from the backend, packet 38)"),
            "{}",
            p[0].summary
        );
        assert!(
            p[0].summary.contains("then #1 (client -> proxy) 3 ms later (FIN from the proxy, packet 40)"),
            "{}",
            p[0].summary
        );
    }

    #[test]
    fn the_client_leg_ended_first_and_the_back_leg_stayed_open() {
        let v = vec![
            leg(1, "10.0.0.5", "10.0.0.1:443", 0, Some((LegWhat::Close(Some(1001)), Role::Client, 900, 12))),
            leg(2, "10.0.0.1", "10.0.0.9:8000", 1, None),
        ];
        let p = proxy_pairs(&v);
        assert_eq!(p[0].ended_first, Some("front"));
        assert!(p[0].summary.contains("Close 1001 from the client"), "{}", p[0].summary);
        assert!(
            p[0].summary.ends_with("#2 (proxy -> 10.0.0.9:8000) was still open at the end of the capture."),
            "{}",
            p[0].summary
        );
    }

    #[test]
    fn no_pair_without_the_proxy_host_or_outside_the_window() {
        let v = vec![
            leg(1, "10.0.0.5", "10.0.0.1:443", 0, None),
            // From another host: not the proxy.
            leg(2, "10.0.0.7", "10.0.0.9:8000", 1, None),
            // From the proxy host, but 6 s later.
            leg(3, "10.0.0.1", "10.0.0.9:8000", 6000, None),
        ];
        assert!(proxy_pairs(&v).is_empty());
        // From the proxy host in time, but opened before the front leg's request was sent.
        let mut early = leg(4, "10.0.0.1", "10.0.0.9:8000", 1, None);
        early.first_packet = PacketNo(12);
        assert!(proxy_pairs(&[leg(1, "10.0.0.5", "10.0.0.1:443", 0, None), early]).is_empty());
    }

    #[test]
    fn finds_a_loop_of_rejections() {
        let v = vec![
            at(1, 0, Kind::HandshakeRejected, "403"),
            at(2, 300, Kind::HandshakeRejected, "403"),
            at(3, 700, Kind::HandshakeRejected, "403"),
        ];
        let l = reconnect_loops(&v);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].attempts, 3);
        assert_eq!(l[0].interval_ms, Interval { min: 300.0, max: 400.0, mean: 350.0 });
        assert_eq!(l[0].outcomes.get("403"), Some(&3));
        assert_eq!(l[0].uids, ["W1", "W2", "W3"]);
    }

    /// Hostile input: pcapng interfaces whose offsets and resolutions clamp packet times to
    /// i64::MIN and i64::MAX ns; the interval between two attempts overflowed.
    #[test]
    fn attempts_at_the_ends_of_time() {
        let mut v = vec![
            at(1, 0, Kind::HandshakeUnanswered, "x"),
            at(2, 0, Kind::HandshakeUnanswered, "x"),
            at(3, 0, Kind::HandshakeUnanswered, "x"),
        ];
        v[0].start_ns = i64::MIN;
        v[1].start_ns = i64::MAX;
        v[2].start_ns = i64::MAX;
        let l = reconnect_loops(&v);
        assert_eq!(l.len(), 1);
        assert!(l[0].interval_ms.max > 9e12);
    }

    #[test]
    fn healthy_repeats_are_not_a_loop() {
        let v = vec![
            at(1, 0, Kind::CleanClose, "101"),
            at(2, 300, Kind::CleanClose, "101"),
            at(3, 700, Kind::ServerAbort, "101"),
        ];
        assert!(reconnect_loops(&v).is_empty());
    }

    /// The pairing by (host, path) buckets finds what a scan of every later connection in the
    /// window finds (the model), on random mixes of hosts, paths, times and outcomes.
    #[test]
    fn pairing_matches_the_full_scan() {
        fn scan(attempts: &[Attempt]) -> Vec<(u64, u64)> {
            let mut by_start: Vec<&Attempt> = attempts.iter().collect();
            by_start.sort_by_key(|a| (a.start_ns, a.id));
            let mut taken = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for (i, f) in by_start.iter().enumerate() {
                if taken.contains(&f.id) {
                    continue;
                }
                let back = by_start[i + 1..]
                    .iter()
                    .take_while(|b| b.start_ns.saturating_sub(f.start_ns) <= PAIR_WINDOW_NS)
                    .find(|b| {
                        !taken.contains(&b.id)
                            && b.client_host == host(&f.server)
                            && b.server != f.server
                            && b.path == f.path
                            && b.upgraded == f.upgraded
                            && f.request_packet.is_some_and(|r| b.first_packet > r)
                    });
                if let Some(b) = back {
                    taken.insert(f.id);
                    taken.insert(b.id);
                    out.push((f.id, b.id));
                }
            }
            out.sort();
            out
        }
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1du64);
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.5", "[::1]"];
        let mut pairs_seen = 0;
        for _ in 0..300 {
            let n = 1 + next(40);
            let v: Vec<Attempt> = (1..=n)
                .map(|id| {
                    let mut a = leg(
                        id,
                        hosts[next(4) as usize],
                        &format!("{}:{}", hosts[next(4) as usize], 8000 + next(2)),
                        next(12_000) as i64,
                        None,
                    );
                    a.path = ["/a", "/b"][next(2) as usize].into();
                    a.upgraded = next(4) > 0;
                    a.first_packet = PacketNo(next(100));
                    a.request_packet = (next(5) > 0).then(|| PacketNo(next(100)));
                    a
                })
                .collect();
            let got: Vec<(u64, u64)> = proxy_pairs(&v).iter().map(|p| (p.front, p.back)).collect();
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, scan(&v));
            pairs_seen += got.len();
        }
        assert!(pairs_seen > 100, "the random mixes should pair often: {pairs_seen}");
    }
}
