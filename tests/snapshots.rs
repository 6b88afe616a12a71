//! Every committed capture's report, as JSON and as the table, is a reviewed snapshot; three
//! ladder diagrams too. A change in any verdict, code, packet number or sentence shows up here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wsdiag::render::{self, Style};
use wsdiag::{Config, analyze_files, build_report};

mod common;
use common::captures;

fn report(name: &str) -> wsdiag::report::Report {
    let path = format!("captures/{name}");
    let (conns, stats, inputs) = analyze_files(&[&path], Config::default());
    build_report(inputs, conns, stats)
}

#[test]
fn json_reports() {
    let names = captures();
    assert!(names.len() >= 20);
    for name in names {
        let r = report(&name);
        let mut out = Vec::new();
        render::json(&r, &mut out).unwrap_or_default();
        insta::assert_snapshot!(format!("json__{name}"), String::from_utf8_lossy(&out));
    }
}

#[test]
fn tables() {
    for name in captures() {
        let r = report(&name);
        let mut out = Vec::new();
        render::table(&r, Style::default(), &mut out).unwrap_or_default();
        insta::assert_snapshot!(format!("table__{name}"), String::from_utf8_lossy(&out));
    }
}

#[test]
fn ladders() {
    for (name, id) in [
        ("python-clean.pcap", 1),
        ("daphne-close-4001.pcap", 1),
        ("server-killed.pcap", 1),
        ("nginx-idle-timeout.pcap", 1),
        ("snaplen96.pcap", 1),
    ] {
        let r = report(name);
        let c = r.connections.iter().find(|c| c.id == id);
        assert!(c.is_some(), "{name}: no connection {id}");
        let mut out = Vec::new();
        if let Some(c) = c {
            render::ladder(c, Style::default(), &mut out).unwrap_or_default();
        }
        insta::assert_snapshot!(format!("ladder__{name}__{id}"), String::from_utf8_lossy(&out));
    }
}
