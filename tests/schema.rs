//! The report's JSON Schema (draft 2020-12) is generated from the report's own types, so it
//! cannot drift from the code: the committed files in schema/ must be what the types give
//! (`UPDATE_SCHEMA=1 cargo test --test schema` rewrites them), and every output of every
//! shipped capture — the JSON document and each NDJSON line — must validate against them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wsdiag::report::{NdjsonLine, Report};
use wsdiag::{Analyzer, Config, render};

fn generated() -> [(&'static str, Value); 2] {
    let report = serde_json::to_value(schemars::schema_for!(Report)).unwrap();
    let line = serde_json::to_value(schemars::schema_for!(NdjsonLine)).unwrap();
    [("schema/wsdiag-report.schema.json", report), ("schema/wsdiag-ndjson-line.schema.json", line)]
}

#[test]
fn committed_schemas_are_what_the_types_give() {
    for (path, schema) in generated() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(committed, text, "{path} is out of date: UPDATE_SCHEMA=1 cargo test --test schema");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
}

/// Every capture (the wss ones with their key logs), with and without `--all`.
fn reports() -> Vec<(String, Report)> {
    let mut out = Vec::new();
    let mut files: Vec<String> = Vec::new();
    for dir in ["captures", "captures/wss"] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path().display().to_string();
            if p.ends_with(".pcap") || p.ends_with(".pcapng") || p.ends_with(".gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        for all in [false, true] {
            let mut a = Analyzer::new(Config { all, ..Config::default() });
            let keys =
                f.trim_end_matches(".pcapng").trim_end_matches(".pcap").trim_end_matches("-dsb").to_string() + ".keys";
            if let Ok(k) = std::fs::read(&keys) {
                a.add_keys(&k, &keys);
            }
            let src = wsdiag::capture::open(&f).unwrap();
            let Ok(input) = a.read_source(src, &f, &mut 1, |_| Ok::<(), std::convert::Infallible>(()));
            let (conns, stats) = wsdiag::conclude_all(a);
            out.push((format!("{f} all={all}"), wsdiag::build_report(vec![input], conns, stats)));
        }
    }
    out
}

#[test]
fn every_output_validates() {
    let [(_, report_schema), (_, line_schema)] = generated();
    let doc = jsonschema::validator_for(&report_schema).unwrap();
    let line = jsonschema::validator_for(&line_schema).unwrap();
    let mut lines = 0;
    let mut findings = 0;
    for (name, r) in reports() {
        let mut out = Vec::new();
        render::json(&r, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let errors: Vec<String> = doc.iter_errors(&v).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        for c in &r.connections {
            let mut l = Vec::new();
            render::ndjson_line(c, &mut l).unwrap();
            let v: Value = serde_json::from_slice(&l).unwrap();
            let errors: Vec<String> = line.iter_errors(&v).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{name} #{}: {errors:?}", c.id);
            lines += 1;
        }
        let mut l = Vec::new();
        render::ndjson_findings(&r.reconnect_loops, &r.proxied, "sensor", &mut l).unwrap();
        for text in l.split(|b| *b == b'\n').filter(|t| !t.is_empty()) {
            let v: Value = serde_json::from_slice(text).unwrap();
            let errors: Vec<String> = line.iter_errors(&v).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{name} {}: {errors:?}", v["type"]);
            assert!(["reconnect_loop", "proxied"].contains(&v["type"].as_str().unwrap()), "{v}");
            findings += 1;
        }
    }
    assert!(lines > 100, "{lines} lines");
    assert!(findings >= 4, "{findings} finding lines");
}

/// The schema is not vacuous: a record with a wrong type or a verdict kind outside the closed
/// set fails it.
#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let [_, (_, line_schema)] = generated();
    let line = jsonschema::validator_for(&line_schema).unwrap();
    let (_, r) = reports().into_iter().next().unwrap();
    let mut l = Vec::new();
    render::ndjson_line(&r.connections[0], &mut l).unwrap();
    let good: Value = serde_json::from_slice(&l).unwrap();
    assert!(line.is_valid(&good));
    let mut bad = good.clone();
    bad["verdict"]["kind"] = "mostly_fine".into();
    assert!(!line.is_valid(&bad), "a kind outside the closed set");
    let mut bad = good.clone();
    bad["tcp"]["bytes"]["client"] = "512".into();
    assert!(!line.is_valid(&bad), "a string where a number goes");
    let mut bad = good;
    bad.as_object_mut().unwrap().remove("verdict");
    assert!(!line.is_valid(&bad), "a required key left out");
}

/// Every key path of the report schema, as docs/report.md writes them (`connections[].tcp.syn`).
fn key_paths(schema: &Value) -> Vec<String> {
    fn resolve<'a>(schema: &'a Value, n: &'a Value) -> &'a Value {
        match n["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            Some(name) => &schema["$defs"][name],
            None => n,
        }
    }
    fn walk(schema: &Value, n: &Value, path: &str, out: &mut Vec<String>, depth: usize) {
        let n = resolve(schema, n);
        if depth > 12 {
            return;
        }
        if let Some(any) = n["anyOf"].as_array() {
            for x in any.iter().filter(|x| x["type"] != "null") {
                walk(schema, x, path, out, depth + 1);
            }
            return;
        }
        if n["type"] == "array" {
            walk(schema, &n["items"], &format!("{path}[]"), out, depth + 1);
            return;
        }
        let Some(props) = n["properties"].as_object() else { return };
        for (k, v) in props {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            out.push(p.clone());
            walk(schema, v, &p, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    walk(schema, schema, "", &mut out, 0);
    out.sort();
    out.dedup();
    out
}

#[test]
fn docs_report_md_names_every_key() {
    let [(_, schema), _] = generated();
    let doc = std::fs::read_to_string("docs/report.md").unwrap();
    let keys = key_paths(&schema);
    assert!(keys.len() > 150, "{}", keys.len());
    let missing: Vec<&String> = keys.iter().filter(|k| !doc.contains(&format!("| `{k}` |"))).collect();
    assert!(missing.is_empty(), "docs/report.md does not describe: {missing:?}");
}
