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
    /// The ids of its first attempts by start, at most 20 (`attempts` counts them all).
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
        // The mean gap is the span over the gaps (exact, whatever order they are summed in).
        let span = v.last().map_or(0, |l| l.start_ns).saturating_sub(v.first().map_or(0, |f| f.start_ns));
        let mean = span as f64 / 1e6 / gaps.len().max(1) as f64;
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
        out.push(pair(front, back));
    }
    out.sort_by_key(|p| p.front);
    out
}

/// Connections a loop names (the first by start); `attempts` counts them all.
pub const LOOP_IDS: usize = 20;
/// (client host, server, path) keys followed for loops at once.
pub const MAX_LOOP_KEYS: usize = 16_384;
/// Legs of proxied WebSockets waiting for their other half at once.
pub const MAX_WAITING: usize = 65_536;
/// Starts kept per key to put attempts concluded out of order back in start order.
const WINDOW: usize = 16;

/// Reconnect loops and proxied pairs found as connections are concluded, in memory bounded by
/// the keys followed ([`MAX_LOOP_KEYS`]) and the legs waiting ([`MAX_WAITING`]), however many
/// connections a capture holds. Finds what [`reconnect_loops`] and [`proxy_pairs`] find in a
/// whole capture's attempts, with these limits: a loop names its first [`LOOP_IDS`]
/// connections; its intervals leave out an attempt concluded after [`WINDOW`] later-started
/// attempts of its key; the legs of a pair are those the capture's reading tied together
/// ([`crate::legs`]).
#[derive(Default)]
pub struct Across {
    /// By a hash of (client host, server, path); the few that share a hash in a list.
    loops: std::collections::HashMap<u64, Vec<LoopAcc>>,
    keys: usize,
    /// Attempts seen (to know when to look for stale keys again) and the latest start.
    seen: u64,
    next_cleanup: u64,
    now_ns: i64,
    /// Legs concluded before their other half, by the id of that other half.
    waiting: std::collections::HashMap<u64, Attempt>,
    waiting_order: std::collections::VecDeque<u64>,
    scratch: String,
    /// Loop keys not followed (the table was full of live ones), and legs whose other half
    /// never came (filtered out, or waiting past [`MAX_WAITING`]).
    pub keys_dropped: u64,
}

/// An attempt as a loop counts it.
struct Try<'a> {
    id: u64,
    uid: &'a str,
    start_ns: i64,
    /// Its verdict is not a normal one.
    bad: bool,
    /// The HTTP status, or the verdict kind when there was none.
    outcome: &'a str,
}

struct LoopAcc {
    client_host: Box<str>,
    server: Box<str>,
    path: Box<str>,
    attempts: usize,
    bad: usize,
    first_ns: i64,
    last_ns: i64,
    /// The latest starts, sorted; below `floor` (the latest start let go) an attempt is late.
    window: Vec<i64>,
    floor: i64,
    gaps: Option<(i64, i64)>,
    /// The first attempts by start: (start, id, uid).
    first: Vec<(i64, u64, Box<str>)>,
    outcomes: BTreeMap<String, usize>,
}

impl LoopAcc {
    fn gap(&mut self, g: i64) {
        self.gaps = Some(self.gaps.map_or((g, g), |(lo, hi)| (lo.min(g), hi.max(g))));
    }

    fn add(&mut self, a: &Try<'_>) {
        let start = a.start_ns;
        self.attempts += 1;
        self.bad += usize::from(a.bad);
        self.first_ns = self.first_ns.min(start);
        self.last_ns = self.last_ns.max(start);
        if self.attempts == 1 || start >= self.floor {
            let at = self.window.partition_point(|&s| s <= start);
            self.window.insert(at, start);
            if self.window.len() > WINDOW {
                let gone = self.window.remove(0);
                self.floor = gone;
                if let Some(&next) = self.window.first() {
                    self.gap(next.saturating_sub(gone));
                }
            }
        }
        let key = (start, a.id);
        if self.first.len() < LOOP_IDS || self.first.last().is_some_and(|l| key < (l.0, l.1)) {
            let at = self.first.partition_point(|f| (f.0, f.1) <= key);
            self.first.insert(at, (start, a.id, a.uid.into()));
            self.first.truncate(LOOP_IDS);
        }
        match self.outcomes.get_mut(a.outcome) {
            Some(n) => *n += 1,
            None => {
                self.outcomes.insert(a.outcome.to_string(), 1);
            }
        }
    }

    fn is_loop(&self) -> bool {
        self.attempts >= MIN_ATTEMPTS && self.bad >= 2
    }

    fn into_loop(mut self) -> ReconnectLoop {
        for i in 1..self.window.len() {
            let g = self.window[i].saturating_sub(self.window[i - 1]);
            self.gap(g);
        }
        let ms = |ns: i64| ns as f64 / 1e6;
        let (min, max) = self.gaps.map_or((f64::MAX, 0.0), |(lo, hi)| (ms(lo), ms(hi)));
        let span = self.last_ns.saturating_sub(self.first_ns);
        let mean = ms(span) / (self.attempts.saturating_sub(1)).max(1) as f64;
        ReconnectLoop {
            client_host: self.client_host.into(),
            server: self.server.into(),
            path: self.path.into(),
            attempts: self.attempts,
            connections: self.first.iter().map(|f| f.1).collect(),
            uids: self.first.iter().map(|f| f.2.to_string()).collect(),
            interval_ms: Interval { min: round_ms(min), max: round_ms(max), mean: round_ms(mean) },
            outcomes: self.outcomes,
        }
    }
}

impl Across {
    /// Takes a concluded connection; returns the proxied pair it completes, if any.
    pub fn add(&mut self, c: &crate::report::Connection) -> Option<ProxyPair> {
        let path = c.path()?;
        let host = c.client.rsplit_once(':').map_or("", |(h, _)| h);
        let mut outcome = std::mem::take(&mut self.scratch);
        outcome.clear();
        match &c.handshake.response {
            Some(r) => {
                use std::fmt::Write;
                let _ = write!(outcome, "{}", r.status);
            }
            None => outcome.push_str(c.verdict.kind.as_str()),
        }
        let key = (host, c.server.as_str(), path);
        let bad = !c.verdict.kind.is_normal();
        self.add_to_loop(key, &Try { id: c.id, uid: &c.uid, start_ns: c.start_ns, bad, outcome: &outcome });
        self.scratch = outcome;
        let (partner, is_front) = match (c.front_leg, c.back_leg) {
            (Some(f), _) => (f, false),
            (None, Some(b)) => (b, true),
            (None, None) => return None,
        };
        let me = crate::attempt(c)?;
        match self.waiting.remove(&c.id) {
            Some(other) => {
                let (front, back) = if is_front { (me, other) } else { (other, me) };
                (front.upgraded == back.upgraded).then(|| pair(&front, &back))
            }
            None => {
                if self.waiting.len() >= MAX_WAITING
                    && let Some(old) = self.waiting_order.pop_front()
                {
                    self.waiting.remove(&old);
                }
                self.waiting.insert(partner, me);
                self.waiting_order.push_back(partner);
                if self.waiting_order.len() > 2 * MAX_WAITING {
                    let waiting = &self.waiting;
                    self.waiting_order.retain(|k| waiting.contains_key(k));
                }
                None
            }
        }
    }

    fn add_to_loop(&mut self, (host, server, path): (&str, &str, &str), a: &Try<'_>) {
        use std::hash::BuildHasher;
        self.seen += 1;
        self.now_ns = self.now_ns.max(a.start_ns);
        let h = foldhash::fast::FixedState::with_seed(7).hash_one((host, server, path));
        let same = |l: &LoopAcc| &*l.client_host == host && &*l.server == server && &*l.path == path;
        if let Some(acc) = self.loops.get_mut(&h).and_then(|v| v.iter_mut().find(|l| same(l))) {
            acc.add(a);
            return;
        }
        if self.keys >= MAX_LOOP_KEYS {
            self.cleanup();
            if self.keys >= MAX_LOOP_KEYS {
                self.keys_dropped += 1;
                return;
            }
        }
        let mut acc = LoopAcc {
            client_host: host.into(),
            server: server.into(),
            path: path.into(),
            attempts: 0,
            bad: 0,
            first_ns: i64::MAX,
            last_ns: i64::MIN,
            window: Vec::new(),
            floor: i64::MIN,
            gaps: None,
            first: Vec::new(),
            outcomes: BTreeMap::new(),
        };
        acc.add(a);
        self.loops.entry(h).or_default().push(acc);
        self.keys += 1;
    }

    /// The key table is full: forgets the keys that are no loop and were quiet for a minute,
    /// or, when that frees too little, every key that is no loop. Not again before an eighth
    /// of the table's worth of attempts has come.
    fn cleanup(&mut self) {
        if self.seen < self.next_cleanup {
            return;
        }
        self.next_cleanup = self.seen + (MAX_LOOP_KEYS / 8) as u64;
        let quiet = self.now_ns.saturating_sub(60_000_000_000);
        for stale_only in [true, false] {
            for v in self.loops.values_mut() {
                v.retain(|a| a.is_loop() || (stale_only && a.last_ns >= quiet));
            }
            self.loops.retain(|_, v| !v.is_empty());
            self.keys = self.loops.values().map(Vec::len).sum();
            if self.keys < MAX_LOOP_KEYS - MAX_LOOP_KEYS / 8 {
                return;
            }
        }
    }

    /// The loops found, by (client host, server, path).
    pub fn loops(&mut self) -> Vec<ReconnectLoop> {
        let mut out: Vec<ReconnectLoop> = std::mem::take(&mut self.loops)
            .into_values()
            .flatten()
            .filter(LoopAcc::is_loop)
            .map(LoopAcc::into_loop)
            .collect();
        self.keys = 0;
        out.sort_by(|a, b| (&a.client_host, &a.server, &a.path).cmp(&(&b.client_host, &b.server, &b.path)));
        out
    }
}

fn pair(front: &Attempt, back: &Attempt) -> ProxyPair {
    let (ended_first, summary) = pair_summary(front, back);
    ProxyPair {
        front: front.id,
        back: back.id,
        front_uid: front.uid.clone(),
        back_uid: back.uid.clone(),
        proxy: front.server.clone(),
        upstream: back.server.clone(),
        path: front.path.clone(),
        ended_first,
        summary,
    }
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

    fn try_at(id: u64, ms: i64, bad: bool) -> (String, i64, bool) {
        (format!("W{id}"), ms * 1_000_000, bad)
    }

    /// 20,000 attempts of one loop, concluded out of start order by up to a few attempts: all
    /// counted, the first [`LOOP_IDS`] by start named, the intervals those of the sorted
    /// starts (the model), in bounded memory.
    #[test]
    fn a_long_loop_concluded_out_of_order() {
        let mut next = crate::xorshift(0x5eed_1234_abcd_ef01);
        let mut starts: Vec<(u64, i64)> = Vec::new();
        let mut t = 0i64;
        for id in 1..=20_000u64 {
            t += 50 + next(400) as i64;
            starts.push((id, t));
        }
        // Concluded in an order a few places off the start order.
        let mut order = starts.clone();
        for i in (1..order.len()).step_by(3) {
            order.swap(i - 1, i);
        }
        let mut across = Across::default();
        for &(id, ms) in &order {
            let (uid, ns, _) = try_at(id, ms, true);
            let a = Try { id, uid: &uid, start_ns: ns, bad: true, outcome: "403" };
            across.add_to_loop(("10.0.0.5", "10.0.0.9:8000", "/ws/"), &a);
        }
        let loops = across.loops();
        assert_eq!(loops.len(), 1);
        let l = &loops[0];
        assert_eq!(l.attempts, 20_000);
        assert_eq!(l.connections, (1..=LOOP_IDS as u64).collect::<Vec<_>>());
        assert_eq!(l.uids.first().map(String::as_str), Some("W1"));
        assert_eq!(l.outcomes.get("403"), Some(&20_000));
        let gaps: Vec<i64> = starts.windows(2).map(|w| w[1].1 - w[0].1).collect();
        let (lo, hi) = (gaps.iter().min().copied(), gaps.iter().max().copied());
        assert_eq!(Some(l.interval_ms.min), lo.map(|g| g as f64));
        assert_eq!(Some(l.interval_ms.max), hi.map(|g| g as f64));
        let mean = (t - starts[0].1) as f64 / 19_999.0;
        assert_eq!(l.interval_ms.mean, round_ms(mean));
    }

    /// More (client, server, path) keys than are followed: keys that are no loop make room, a
    /// loop among them is still found, and the table never holds more than its bound.
    #[test]
    fn the_loop_keys_are_bounded() {
        let mut across = Across::default();
        let add = |across: &mut Across, host: &str, id: u64, ms: i64, bad: bool| {
            let (uid, ns, _) = try_at(id, ms, bad);
            let a = Try { id, uid: &uid, start_ns: ns, bad, outcome: "x" };
            across.add_to_loop((host, "10.0.0.9:8000", "/ws/"), &a);
        };
        // A loop first, then a crowd of one-off clients, then the loop again.
        for i in 0..3 {
            add(&mut across, "10.9.9.9", 1 + i, i as i64, true);
        }
        for i in 0..(3 * MAX_LOOP_KEYS as u64) {
            add(&mut across, &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255), 10 + i, 100, false);
            assert!(across.keys <= MAX_LOOP_KEYS);
        }
        add(&mut across, "10.9.9.9", 1_000_000, 200, true);
        let loops = across.loops();
        assert_eq!(loops.len(), 1, "only the loop survives");
        assert_eq!(loops[0].client_host, "10.9.9.9");
        assert_eq!(loops[0].attempts, 4);
        assert_eq!(across.keys_dropped, 0, "cleaning made room each time");
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
