//! `--html FILE`: the page of every shipped capture (no external reference, every connection's
//! id, verdict, section, ladder and Wireshark filter, the timeline), captured text escaped, a
//! paged and grouped page for thousands of connections, and, when `chromium` is installed,
//! the pages loaded in headless Chromium with no console message, the elements that must be
//! there in its DOM, and a screenshot.
//!
//! `WSDIAG_HTML_CONNS=50000 cargo test --release --test html -- --nocapture many` measures a
//! page of that many connections (size, and Chromium's load time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Flow, pcap_raw};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory for one test, removed when the test ends.
struct Tmp(PathBuf);

impl Tmp {
    fn new(test: &str) -> Tmp {
        let dir = std::env::temp_dir().join(format!("wsdiag-html-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs wsdiag with `--json --html PAGE`: the JSON report and the page, of the same run.
fn report_and_page(args: &[&str], page: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wsdiag"))
        .args(args)
        .arg("--json")
        .arg("--html")
        .arg(page)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    (json, std::fs::read_to_string(page).unwrap())
}

/// Every shipped capture, with its key log where there is one.
fn shipped() -> Vec<Vec<String>> {
    let mut runs: Vec<Vec<String>> = common::captures().into_iter().map(|f| vec![format!("captures/{f}")]).collect();
    for dir in ["captures/wss", "captures/h2"] {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        files.retain(|f| f.ends_with(".pcap") || f.ends_with(".pcapng"));
        files.sort();
        for f in files {
            let keys = format!("{}.keys", f.trim_end_matches(".pcapng").trim_end_matches(".pcap"));
            let mut run = vec![f];
            if Path::new(&keys).exists() {
                run.extend(["--keylog".to_string(), keys]);
            }
            runs.push(run);
        }
    }
    assert!(runs.len() > 40, "{runs:?}");
    runs
}

/// No attribute, style or element of the page fetches anything: every `src`/`href` is a
/// fragment, and there is no `url(`, `@import`, `<link`, `<img`, `<iframe`, `<object` or
/// `<embed` (captured text holding them is escaped).
fn assert_self_contained(page: &str, what: &str) {
    for attr in [" src=", " href=", " srcset=", " action=", " data=", " xlink:href="] {
        for (i, _) in page.match_indices(attr) {
            let value = page[i + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(value.starts_with('#'), "{what}: {attr} {}", &value[..value.len().min(60)]);
        }
    }
    for tag in ["url(", "@import", "<link", "<img", "<iframe", "<object", "<embed", "<base"] {
        assert!(!page.contains(tag), "{what}: {tag}");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none';"), "{what}");
}

/// The part of the page that is connection `id`'s section.
fn section<'a>(page: &'a str, id: u64, kind: &str) -> Option<&'a str> {
    let start = page.find(&format!("<details class=\"conn k-{kind}\" id=\"c{id}\""))?;
    let rest = &page[start..];
    let end = rest[1..].find("<details class=\"conn ").map_or(rest.len(), |e| e + 1);
    Some(&rest[..end])
}

fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[test]
fn every_shipped_capture_makes_a_page() {
    let tmp = Tmp::new("shipped");
    let page_path = tmp.join("shipped.html");
    let mut pages = 0;
    for run in shipped() {
        let args: Vec<&str> = run.iter().map(String::as_str).collect();
        let what = args.join(" ");
        let (json, page) = report_and_page(&args, &page_path);
        assert_self_contained(&page, &what);
        assert!(page.contains("<h2 id=\"summary\">"), "{what}");
        let conns = json["connections"].as_array().unwrap();
        if !conns.is_empty() {
            assert!(page.contains("<svg id=\"timeline-svg\""), "{what}");
            assert!(page.contains("<table id=\"table\">"), "{what}");
        }
        for (k, n) in json["summary"]["by_verdict"].as_object().unwrap() {
            assert!(page.contains(&format!("<span class=\"chip k-{k}\">{k} {n}</span>")), "{what}: {k}");
        }
        assert!(conns.len() <= wsdiag::render::html::PAGE, "{what}: a small page");
        for c in conns {
            let id = c["id"].as_u64().unwrap();
            let kind = c["verdict"]["kind"].as_str().unwrap();
            assert!(page.contains(&format!("<a href=\"#c{id}\">{id}</a></td>")), "{what}: #{id} in the table");
            let Some(s) = section(&page, id, kind) else { panic!("{what}: no section for #{id} {kind}") };
            let filter = html_escaped(c["wireshark_filter"].as_str().unwrap());
            assert!(s.contains(&filter), "{what}: #{id} wireshark filter");
            assert!(s.contains(&html_escaped(c["verdict"]["summary"].as_str().unwrap())), "{what}: #{id} summary");
            if !c["timeline"].as_array().unwrap().is_empty() {
                assert!(s.contains("<svg class=\"ladder\""), "{what}: #{id} ladder");
                let closing = c["timeline"].as_array().unwrap().iter().any(|e| {
                    matches!(e["event"].as_str(), Some("close" | "fin" | "rst" | "h2_rst_stream" | "h2_goaway"))
                });
                assert_eq!(s.contains("<rect class=\"hl\""), closing, "{what}: #{id} closing handshake highlighted");
            }
            for e in c["verdict"]["evidence"].as_array().unwrap() {
                assert!(s.contains(&html_escaped(e["text"].as_str().unwrap())), "{what}: #{id} evidence");
            }
        }
        pages += 1;
    }
    assert!(pages > 40);
}

// ---------------------------------------------------------------------------------------------
// Synthetic captures

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const RST: u8 = 0x04;
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Flows of synthetic connections: `new(n, ts)` gives connection `n` its own client address.
trait Connections {
    fn nth(n: u32, ts: u64) -> Self;
    fn upgrade(&mut self, uri: &str, status: &str, server: &str);
    fn close_frames(&mut self, code: u16);
    fn fins(&mut self, client_first: bool);
}

impl Connections for Flow {
    fn nth(n: u32, ts: u64) -> Self {
        let client = ([10, 1, (n >> 16) as u8, (n >> 8) as u8], 20000 + (n % 40000) as u16);
        Flow::new(client, ([10, 0, 0, 2], 8000), ts)
    }

    /// The three-way handshake and an upgrade request for `uri`, answered with `status`.
    fn upgrade(&mut self, uri: &str, status: &str, server: &str) {
        self.send(true, SYN, &[]);
        self.send(false, SYN | ACK, &[]);
        self.send(true, ACK, &[]);
        let req = format!(
            "GET {uri} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\r\n"
        );
        self.send(true, PSH_ACK, req.as_bytes());
        let resp = if status.starts_with("101") {
            format!(
                "HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nServer: {server}\r\n\r\n",
                wsdiag::http::accept_for(KEY)
            )
        } else {
            format!("HTTP/1.1 {status}\r\nServer: {server}\r\nContent-Length: 0\r\n\r\n")
        };
        self.send(false, PSH_ACK, resp.as_bytes());
    }

    fn close_frames(&mut self, code: u16) {
        let key = [1, 2, 3, 4];
        let mut c = vec![0x88, 0x82, 1, 2, 3, 4];
        c.extend(code.to_be_bytes().iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.send(true, PSH_ACK, &c);
        let mut s = vec![0x88, 0x02];
        s.extend(code.to_be_bytes());
        self.send(false, PSH_ACK, &s);
    }

    fn fins(&mut self, client_first: bool) {
        self.send(!client_first, FIN_ACK, &[]);
        self.send(client_first, FIN_ACK, &[]);
        self.send(!client_first, ACK, &[]);
    }
}

fn pcap(mut packets: Vec<(u64, Vec<u8>)>) -> Vec<u8> {
    packets.sort_by_key(|(ts, _)| *ts);
    pcap_raw(&packets)
}

const T0: u64 = 1_700_000_000_000_000;

/// Markup in the URI, the Host-less server name and a close: what a stranger's capture may hold.
fn hostile_pcap() -> Vec<u8> {
    let mut f = Flow::nth(1, T0);
    f.upgrade("/<script>alert(1)</script>/\"'><img/x=1>", "403 <b>Forbidden</b>", "<script>alert(2)</script>");
    f.fins(false);
    let mut g = Flow::nth(2, T0 + 50_000);
    g.upgrade("/ok?token=</script><script>alert(3)</script>", "101 Switching Protocols", "x\"onmouseover=\"alert(4)");
    g.close_frames(4000);
    g.fins(false);
    pcap(f.packets.into_iter().chain(g.packets).collect())
}

#[test]
fn captured_markup_is_text() {
    let tmp = Tmp::new("hostile");
    let cap = tmp.join("hostile.pcap");
    std::fs::write(&cap, hostile_pcap()).unwrap();
    let page_path = tmp.join("hostile.html");
    let (json, page) = report_and_page(&[cap.to_str().unwrap()], &page_path);
    assert_eq!(json["connections"].as_array().map(Vec::len), Some(2), "{json}");
    assert_self_contained(&page, "hostile");
    // The page's one script, and none from the capture.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(!page.contains("<b>Forbidden") && !page.contains("onmouseover=\""), "markup from the capture");
    assert!(page.contains("&lt;b&gt;Forbidden&lt;/b&gt;"), "the reason shown as text");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the URI shown as text");
    assert!(page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "the Server header shown as text");
    if let Some(chromium) = chromium() {
        let dom = load(&chromium, &page_path, "hostile");
        assert!(!dom.contains("<b>Forbidden") && !dom.contains("<img"), "markup in the DOM");
    }
}

/// `n` connections: six in ten closed cleanly, two rejected with 403 (a reconnect loop), one
/// cut after 3 s of silence, one reset by the server on one of seven paths (nine patterns).
fn many_pcap(n: u32) -> Vec<u8> {
    let mut packets = Vec::new();
    for i in 0..n {
        let mut f = Flow::nth(i + 1, T0 + u64::from(i) * 20_000);
        match i % 10 {
            0..=5 => {
                f.upgrade("/chat", "101 Switching Protocols", "demo/1");
                f.send(true, PSH_ACK, &[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
                f.close_frames(1000);
                f.fins(false);
            }
            6 | 7 => {
                f.upgrade("/chat", "403 Forbidden", "demo/1");
                f.fins(false);
            }
            8 => {
                f.upgrade("/feed", "101 Switching Protocols", "demo/1");
                f.ts += 3_000_000;
                f.fins(false);
            }
            _ => {
                f.upgrade(&format!("/room/{}", i % 7), "101 Switching Protocols", "demo/1");
                f.send(false, RST | ACK, &[]);
            }
        }
        packets.extend(f.packets);
    }
    pcap(packets)
}

/// Thousands of connections: the table paged from JSON (its first page as HTML), the timeline
/// a histogram, each pattern explained once through its example, and the page a bounded size.
#[test]
fn many_connections_are_paged_and_grouped() {
    let n: u32 = std::env::var("WSDIAG_HTML_CONNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let tmp = Tmp::new("many");
    let cap = tmp.join("many.pcap");
    std::fs::write(&cap, many_pcap(n)).unwrap();
    let page_path = tmp.join("many.html");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wsdiag"))
        .arg(&cap)
        .arg("--html")
        .arg(&page_path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let took = started.elapsed();
    let page = std::fs::read_to_string(&page_path).unwrap();
    println!("{n} connections: page {} bytes, written in {took:.2?}", page.len());
    assert_self_contained(&page, "many");
    assert!(page.contains("<script type=\"application/octet-stream\" id=\"rows\" data-encoding=\"gzip base64 json\">"));
    assert_eq!(page.matches("<svg class=\"ladder\"").count(), 9, "one ladder per pattern");
    assert!(page.contains("<div id=\"pager\" hidden>"));
    assert!(page.contains(&format!("{} connection(s) need explaining, in 9 pattern(s)", n / 10 * 4)), "patterns");
    assert!(page.contains("how many started in each 1/200 of the capture"), "the timeline as a histogram");
    let table = page.split("<table id=\"table\">").nth(1).and_then(|t| t.split("</table>").next()).unwrap_or("");
    assert_eq!(table.matches("<tr class=\"k-").count(), wsdiag::render::html::PAGE, "the first page as HTML");
    assert!(page.len() < 500 * n as usize, "{} bytes for {n} connections", page.len());
    if let Some(chromium) = chromium() {
        let started = Instant::now();
        let dom = load(&chromium, &page_path, "many");
        println!("Chromium: loaded and dumped in {:.2?} (with its start)", started.elapsed());
        let ready = attr(&dom, "data-ready-ms").unwrap_or_default();
        println!("Chromium: the page's script done {ready} ms after navigation start");
        let pages = (n as usize).div_ceil(wsdiag::render::html::PAGE);
        assert!(dom.contains(&format!("page 1 of {pages} ({n} of {n} connections)")), "the pager ran");
    }
}

// ---------------------------------------------------------------------------------------------
// Chromium

/// `chromium` (or `chromium-browser`) on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file());
    if found.is_none() {
        println!("skipped: chromium not installed");
    }
    found
}

/// Runs headless Chromium with a fresh profile; its stdout and stderr. Killed after 60 s.
fn run_chromium(chromium: &Path, args: &[String], what: &str) -> (String, String) {
    let profile = std::env::temp_dir().join(format!("wsdiag-html-{}-chromium-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("{what}: chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    (out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

/// Loads the page, asserts that nothing reached the console (no script error, no policy
/// violation, no blocked request) and that the script ran; the DOM.
fn load(chromium: &Path, page: &Path, what: &str) -> String {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    // The virtual time budget lets the script's unpacking of a large table finish first.
    let (dom, log) = run_chromium(chromium, &["--virtual-time-budget=20000".into(), "--dump-dom".into(), url], what);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "{what}: {} console message(s): {console:#?}", console.len());
    assert!(dom.contains("data-ready=\"1\""), "{what}: the script did not finish");
    dom
}

/// The value of the first `name="…"` attribute in `dom`.
fn attr(dom: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("{name}=\""))? + name.len() + 2;
    Some(dom[at..].split('"').next()?.to_string())
}

/// A few shipped captures' pages in Chromium: no console message, the summary, the table's
/// rows, a ladder and the timeline in the DOM, and a screenshot of the size asked for.
#[test]
fn pages_load_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let tmp = Tmp::new("chromium");
    for name in ["reconnect-loop.pcap", "nginx-idle-timeout.pcap", "close-1009.pcap", "still-open.pcap"] {
        let page = tmp.join(&format!("{name}.html"));
        let (json, _) = report_and_page(&[&format!("captures/{name}")], &page);
        let dom = load(&chromium, &page, name);
        for must in ["<h2 id=\"summary\">", "<svg id=\"timeline-svg\"", "<svg class=\"ladder\"", "<table id=\"table\">"]
        {
            assert!(dom.contains(must), "{name}: {must}");
        }
        let table = dom.split("<table id=\"table\">").nth(1).and_then(|t| t.split("</table>").next()).unwrap_or("");
        let rows = table.matches("<tr class=\"k-").count();
        assert_eq!(rows, json["connections"].as_array().unwrap().len(), "{name}: table rows");
        let png = tmp.join(&format!("{name}.png"));
        let url = format!("file://{}", page.canonicalize().unwrap().display());
        let args = [format!("--screenshot={}", png.display()), "--window-size=1280,2400".into(), url];
        run_chromium(&chromium, &args, name);
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(bytes.len() > 8 << 10, "{name}: screenshot of {} bytes", bytes.len());
        assert_eq!(&bytes[1..4], b"PNG");
        let dim = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        assert_eq!((dim(16), dim(20)), (1280, 2400), "{name}: screenshot size");
    }
}
