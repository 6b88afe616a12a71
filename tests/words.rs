//! A table's rows are concluded in facts only and explained in words on demand: the verdict's
//! facts without words (`diagnose::facts`) are those of the whole diagnosis, on every session
//! of every shipped capture.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wsdiag::diagnose::{diagnose, facts};
use wsdiag::{Analyzer, Config};

#[test]
fn facts_decide_as_the_whole_diagnosis_does() {
    let mut files = Vec::new();
    common::shipped(std::path::Path::new("captures"), &mut files);
    assert!(files.len() > 100, "{} captures", files.len());
    let (mut sessions, mut kinds) = (0, std::collections::BTreeSet::new());
    for file in &files {
        let mut a = Analyzer::new(Config { all: true, ..Config::default() });
        let stem = file.trim_end_matches(".gz").trim_end_matches(".pcapng").trim_end_matches(".pcap");
        if let Ok(text) = std::fs::read(format!("{stem}.keys")) {
            a.add_keys(&text, stem);
        }
        let src = wsdiag::capture::open(file).unwrap();
        let Ok(_) = a.read_source(src, file, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
        a.finish(|tl| {
            for s in &tl.sessions {
                let full = diagnose(&tl.tcp, tl.app, tl.tls.as_deref(), s);
                let bare = facts(&tl.tcp, tl.app, tl.tls.as_deref(), s);
                let id = tl.tcp.id;
                assert_eq!(
                    (bare.kind, bare.outcome, bare.client_sees, bare.server_sees, bare.client_clean),
                    (full.kind, full.outcome, full.client_sees, full.server_sees, full.client_clean),
                    "{file} #{id}: {}",
                    full.summary
                );
                assert!(bare.summary.is_empty() && bare.evidence.is_empty() && bare.advice.is_empty(), "{file} #{id}");
                assert!(!full.summary.is_empty(), "{file} #{id}");
                sessions += 1;
                kinds.insert(full.kind);
            }
        });
    }
    assert!(sessions > 200, "{sessions} sessions");
    assert!(kinds.len() >= 15, "{kinds:?}");
}
