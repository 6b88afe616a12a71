//! The reconnect loops and proxied pairs found as connections are concluded (bounded memory:
//! `diagnose::across::Across`, what the binary uses) are those the whole-capture finders find
//! in every connection's attempt at once (`reconnect_loops`, `proxy_pairs`), on every shipped
//! capture.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdiag::diagnose::across::{Across, LOOP_IDS, ProxyPair, ReconnectLoop, proxy_pairs, reconnect_loops};
use wsdiag::report::Connection;
use wsdiag::{Analyzer, Config};

mod common;

/// The connections of a capture in the order the analysis concludes them (not by id).
fn concluded(file: &str) -> Vec<Connection> {
    let mut a = Analyzer::new(Config::default());
    let stem = file.trim_end_matches(".gz").trim_end_matches(".pcapng").trim_end_matches(".pcap");
    let keys = format!("{stem}.keys");
    if let Ok(text) = std::fs::read(&keys) {
        a.add_keys(&text, &keys);
    }
    let src = wsdiag::capture::open(file).unwrap();
    let Ok(_) = a.read_source(src, file, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
    let conclude = a.concluder();
    let mut out = Vec::new();
    a.finish(|tl| out.extend(conclude.conclude(tl).0));
    out
}

#[test]
fn streaming_finds_what_the_whole_capture_finds() {
    let mut files = Vec::new();
    common::shipped(std::path::Path::new("captures"), &mut files);
    files.sort();
    assert!(files.len() > 40, "the shipped captures: {files:?}");
    let (mut loops_seen, mut pairs_seen) = (0, 0);
    for file in &files {
        let conns = concluded(file);
        let attempts: Vec<_> = conns.iter().filter_map(wsdiag::attempt).collect();
        let mut want_loops: Vec<ReconnectLoop> = reconnect_loops(&attempts);
        for l in &mut want_loops {
            l.connections.truncate(LOOP_IDS);
            l.uids.truncate(LOOP_IDS);
        }
        let mut want_pairs: Vec<ProxyPair> = proxy_pairs(&attempts);
        want_pairs.sort_by_key(|p| p.front);
        let mut across = Across::default();
        let mut got_pairs: Vec<ProxyPair> = conns.iter().filter_map(|c| across.add(c)).collect();
        got_pairs.sort_by_key(|p| p.front);
        let got_loops = across.loops();
        assert_eq!(got_loops, want_loops, "{file}: loops");
        assert_eq!(got_pairs, want_pairs, "{file}: pairs");
        loops_seen += got_loops.len();
        pairs_seen += got_pairs.len();
    }
    assert!(loops_seen >= 1 && pairs_seen >= 10, "loops {loops_seen}, pairs {pairs_seen}: the test must see some");
}
