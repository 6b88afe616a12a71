//! Patterns across connections: reconnect loops (the same client host asking the same server
//! for the same path again and again, and what each attempt got).

use super::{Kind, round_ms};
use serde::Serialize;
use std::collections::BTreeMap;

/// One upgrade attempt, as the loop detector needs it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: u64,
    pub client_host: String,
    pub server: String,
    pub path: String,
    pub start_ns: i64,
    pub kind: Kind,
    /// The HTTP status, or the verdict kind when there was none.
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReconnectLoop {
    pub client_host: String,
    pub server: String,
    pub path: String,
    pub attempts: usize,
    pub connections: Vec<u64>,
    pub interval_ms: Interval,
    /// What the attempts got: HTTP status or verdict kind, with counts.
    pub outcomes: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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
            interval_ms: Interval { min: round_ms(min), max: round_ms(max), mean: round_ms(mean) },
            outcomes,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: u64, ms: i64, kind: Kind, outcome: &str) -> Attempt {
        Attempt {
            id,
            client_host: "10.0.0.5".into(),
            server: "10.0.0.9:8000".into(),
            path: "/ws/".into(),
            start_ns: ms * 1_000_000,
            kind,
            outcome: outcome.into(),
        }
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
}
