//! The whole pipeline on one capture's bytes, then the JSON and table renderers on the report:
//! never a panic, and the JSON is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::{Config, analyze_bytes, build_report, render};

fuzz_target!(|data: &[u8]| {
    let cfg = Config { max_flows: 64, reorder_budget: 1 << 20, all: data.first().is_some_and(|b| b & 1 == 1), ..Config::default() };
    let (conns, stats, input) = analyze_bytes(data, cfg);
    let report = build_report(vec![input], conns, stats);
    let mut json = Vec::new();
    if render::json(&report, &mut json).is_ok() {
        assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    }
    let mut table = Vec::new();
    let _ = render::table(&report, render::Style { color: false, width: 100 }, &mut table);
    for c in &report.connections {
        let mut ladder = Vec::new();
        let _ = render::ladder(c, render::Style { color: true, width: 80 }, &mut ladder);
    }
});
