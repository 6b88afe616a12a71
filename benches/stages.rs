//! Per-stage benchmarks (divan): decode, reassembly, handshake, frame parsing, inflate,
//! diagnosis, and the whole pipeline on a shipped capture. `cargo bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use divan::{Bencher, black_box};
use wsdiag::capture::Linktype;
use wsdiag::tcp::{Assembler, Budget, Meta, Sink};
use wsdiag::units::{PacketNo, Role, Timestamp};
use wsdiag::ws::FrameParser;

fn main() {
    divan::main();
}

/// An Ethernet/IPv4/TCP packet with a 1448-byte payload.
fn packet() -> Vec<u8> {
    let payload = vec![0x5au8; 1448];
    let total = 40 + payload.len();
    let mut v = vec![0u8; 12];
    v.extend_from_slice(&[0x08, 0x00, 0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0]);
    v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    v.extend_from_slice(&[0xc3, 0x50, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(&payload);
    v
}

#[divan::bench]
fn decode(b: Bencher) {
    let p = packet();
    b.counter(divan::counter::BytesCount::new(p.len()))
        .bench(|| wsdiag::wire::decode(Linktype::ETHERNET, black_box(&p), p.len() as u32));
}

struct Null(u64);
impl Sink for Null {
    fn data(&mut self, b: &[u8], _: Meta) {
        self.0 += b.len() as u64;
    }
    fn gap(&mut self, n: u64, _: Meta) {
        self.0 += n;
    }
}

#[divan::bench]
fn reassembly_in_order(b: Bencher) {
    let seg = vec![1u8; 1448];
    let n = 1000u32;
    b.counter(divan::counter::BytesCount::new(seg.len() * n as usize)).bench(|| {
        let mut a = Assembler::new(256 * 1024);
        let mut budget = Budget::new(1 << 25);
        let mut sink = Null(0);
        a.syn(0);
        for i in 0..n {
            a.segment(1 + i * 1448, &seg, 0, Meta::default(), &mut budget, &mut sink);
        }
        sink.0
    });
}

#[divan::bench]
fn reassembly_reordered_pairs(b: Bencher) {
    let seg = vec![1u8; 1448];
    let n = 1000u32;
    b.counter(divan::counter::BytesCount::new(seg.len() * n as usize)).bench(|| {
        let mut a = Assembler::new(256 * 1024);
        let mut budget = Budget::new(1 << 25);
        let mut sink = Null(0);
        a.syn(0);
        for i in (0..n).step_by(2) {
            a.segment(1 + (i + 1) * 1448, &seg, 0, Meta::default(), &mut budget, &mut sink);
            a.segment(1 + i * 1448, &seg, 0, Meta::default(), &mut budget, &mut sink);
        }
        sink.0
    });
}

const REQ: &[u8] = b"GET /ws/orders/?token=abc HTTP/1.1\r\nHost: example.com:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/118.0\r\nCookie: sessionid=x\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

#[divan::bench]
fn handshake(b: Bencher) {
    b.bench(|| {
        let req = wsdiag::http::parse_request(black_box(REQ));
        let resp = wsdiag::http::parse_response(black_box(RESP));
        match (req, resp) {
            (Ok(wsdiag::http::Parsed::Done { head: q, .. }), Ok(wsdiag::http::Parsed::Done { head: r, .. })) => {
                wsdiag::http::validate_101(&q, &r).len()
            }
            _ => 0,
        }
    });
}

fn frames(n: usize, len: usize, op: u8, masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(0x80 | op);
        let m = if masked { 0x80 } else { 0 };
        if len < 126 {
            out.push(m | len as u8);
        } else {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        if masked {
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        out.extend(std::iter::repeat_n(b'a', len));
    }
    out
}

#[divan::bench(args = [("binary", 2u8), ("text", 1u8)])]
fn frame_parse(b: Bencher, (_, op): (&str, u8)) {
    let data = frames(1000, 1400, op, true);
    b.counter(divan::counter::BytesCount::new(data.len())).bench(|| {
        let mut p = FrameParser::new(Role::Client, false, None);
        let mut out = Vec::new();
        for chunk in data.chunks(1448) {
            p.data(chunk, Meta::default(), true, &mut out);
        }
        out.len()
    });
}

#[divan::bench]
fn inflate(b: Bencher) {
    use flate2::{Compress, Compression, FlushCompress};
    let text: Vec<u8> = b"{\"price\": 12.5, \"symbol\": \"ACME\"} ".iter().copied().cycle().take(16_384).collect();
    let mut c = Compress::new(Compression::default(), false);
    let mut z = Vec::with_capacity(text.len());
    c.compress_vec(&text, &mut z, FlushCompress::Sync).ok();
    z.truncate(z.len() - 4);
    b.counter(divan::counter::BytesCount::new(text.len())).bench(|| {
        let mut inf = wsdiag::ws::deflate::Inflater::new(true);
        let mut n = inf.feed(black_box(&z), false, |_| {}).unwrap_or(0);
        n += inf.feed(&[0, 0, 0xff, 0xff], true, |_| {}).unwrap_or(0);
        n
    });
}

#[divan::bench]
fn diagnosis(b: Bencher) {
    use wsdiag::timeline::{App, At, CloseRec, Ends, Session, TcpFacts};
    use wsdiag::units::Side;
    let at = |p: u64, ms: i64| At { ts: Timestamp(ms * 1_000_000), packet: PacketNo(p) };
    let a = "10.0.0.5:51234".parse().unwrap_or_else(|_| unreachable!());
    let s = "10.0.0.9:8000".parse().unwrap_or_else(|_| unreachable!());
    let mut tcp = TcpFacts::new(1, a, s, at(1, 0));
    tcp.client = Some(Side::A);
    tcp.syn[Side::A] = Some(at(1, 0));
    tcp.syn_ack[Side::B] = Some(at(2, 1));
    tcp.last_payload[Side::A] = Some(at(9, 40));
    tcp.rst[Side::B] = Some(at(12, 52));
    let mut session = Session { upgraded_at: Some(at(6, 3)), ..Session::default() };
    session.closes.push(CloseRec {
        side: Side::B,
        code: Some(4001),
        reason: Some("unauthorized".into()),
        at: at(10, 50),
        incomplete: false,
    });
    *session.ends = Ends::of_tcp(&tcp);
    b.bench(|| wsdiag::diagnose::diagnose(black_box(&tcp), App::WebSocket, None, black_box(&session)).evidence.len());
}

#[divan::bench]
fn pipeline_python_clean(b: Bencher) {
    let bytes = std::fs::read("captures/python-clean.pcap").unwrap_or_default();
    b.counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| wsdiag::analyze_bytes(black_box(&bytes), wsdiag::Config::default()).0.len());
}
