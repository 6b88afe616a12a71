use super::*;
use crate::units::{PacketNo, Timestamp};

fn at(n: u64) -> At {
    At { ts: Timestamp(n as i64), packet: PacketNo(n) }
}

/// A frame on the wire.
pub(crate) fn frame(ty: u8, fl: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.push(ty);
    v.push(fl);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A header block of literals without indexing (RFC 7541 §6.2.2), no Huffman.
pub(crate) fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (n, val) in fields {
        v.push(0x00);
        v.push(n.len() as u8);
        v.extend_from_slice(n.as_bytes());
        v.push(val.len() as u8);
        v.extend_from_slice(val.as_bytes());
    }
    v
}

#[derive(Default, Debug, PartialEq)]
struct Rec {
    events: Vec<(Role, H2Event)>,
    data: Vec<(Role, u32, Vec<u8>)>,
    gaps: Vec<(Role, u32, u64)>,
}

impl H2Sink for Rec {
    fn event(&mut self, from: Role, _: At, ev: H2Event) {
        self.events.push((from, ev));
    }
    fn data(&mut self, from: Role, stream: u32, bytes: &[u8], _: At) {
        match self.data.last_mut() {
            Some((r, s, v)) if *r == from && *s == stream => v.extend_from_slice(bytes),
            _ => self.data.push((from, stream, bytes.to_vec())),
        }
    }
    fn data_gap(&mut self, from: Role, stream: u32, len: u64, _: At) {
        self.gaps.push((from, stream, len));
    }
}

const CONNECT: &[(&str, &str)] = &[
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "https"),
    (":path", "/chat"),
    (":authority", "example.com"),
];

fn client_bytes() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend(frame(4, 0, 0, &[]));
    v.extend(frame(4, 1, 0, &[]));
    v.extend(frame(1, flags::END_HEADERS, 1, &block(CONNECT)));
    // Padded DATA: pad length 3, "hello", 3 bytes of padding.
    v.extend(frame(0, flags::PADDED, 1, b"\x03hello\0\0\0"));
    v.extend(frame(0, flags::END_STREAM, 1, b"!"));
    v
}

fn server_bytes() -> Vec<u8> {
    let mut v = frame(4, 0, 0, &[0, 8, 0, 0, 0, 1]);
    v.extend(frame(4, 1, 0, &[]));
    // :status 200 split over HEADERS and CONTINUATION.
    let b = block(&[(":status", "200"), ("server", "node")]);
    v.extend(frame(1, 0, 1, &b[..5]));
    v.extend(frame(9, flags::END_HEADERS, 1, &b[5..]));
    v.extend(frame(0, 0, 1, b"world"));
    v.extend(frame(3, 0, 1, &[0, 0, 0, 8]));
    v.extend(frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']));
    v
}

fn expected_client() -> Vec<H2Event> {
    vec![
        H2Event::Preface,
        H2Event::Settings { ack: false, params: vec![] },
        H2Event::Settings { ack: true, params: vec![] },
        H2Event::Headers {
            stream: 1,
            fields: CONNECT.iter().map(|(n, v)| Field { name: n.to_string(), value: v.to_string() }).collect(),
            end_stream: false,
            error: None,
        },
        H2Event::Data { stream: 1, len: 9, end_stream: false },
        H2Event::Data { stream: 1, len: 1, end_stream: true },
    ]
}

fn run(chunk: usize) -> Rec {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    for (role, bytes) in [(Role::Client, client_bytes()), (Role::Server, server_bytes())] {
        for c in bytes.chunks(chunk) {
            h2.data(role, c, at(1), &mut rec);
        }
    }
    rec
}

#[test]
fn a_websocket_stream_is_read_whole_and_one_byte_at_a_time_alike() {
    let whole = run(usize::MAX);
    let client: Vec<_> = whole.events.iter().filter(|(r, _)| *r == Role::Client).map(|(_, e)| e.clone()).collect();
    assert_eq!(client, expected_client());
    let server: Vec<_> = whole.events.iter().filter(|(r, _)| *r == Role::Server).map(|(_, e)| e.clone()).collect();
    assert_eq!(server[0], H2Event::Settings { ack: false, params: vec![(setting::ENABLE_CONNECT_PROTOCOL, 1)] });
    assert!(matches!(&server[2], H2Event::Headers { stream: 1, fields, error: None, .. }
        if field(fields, ":status") == Some("200") && field(fields, "server") == Some("node")));
    assert_eq!(server[3], H2Event::Data { stream: 1, len: 5, end_stream: false });
    assert_eq!(server[4], H2Event::RstStream { stream: 1, code: ErrorCode::CANCEL });
    assert_eq!(server[5], H2Event::GoAway { last_stream: 1, code: ErrorCode::NO_ERROR, debug: "bye".into() });
    assert_eq!(whole.data, vec![(Role::Client, 1, b"hello!".to_vec()), (Role::Server, 1, b"world".to_vec())]);
    for chunk in [1, 2, 3, 7, 9, 10, 17] {
        assert_eq!(run(chunk), whole, "chunks of {chunk}");
    }
}

#[test]
fn every_prefix_of_the_connection_is_read_without_panic_and_without_inventing() {
    let bytes = client_bytes();
    for n in 0..=bytes.len() {
        let mut h2 = H2::default();
        let mut rec = Rec::default();
        h2.data(Role::Client, &bytes[..n], at(1), &mut rec);
        let evs: Vec<_> = rec.events.into_iter().map(|(_, e)| e).collect();
        let want = expected_client();
        assert!(evs.len() <= want.len() && evs[..] == want[..evs.len()], "{n}: {evs:?}");
    }
}

#[test]
fn counts_per_type() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    h2.data(Role::Server, &server_bytes(), at(1), &mut rec);
    let c = h2.counts(Role::Server);
    assert_eq!((c[0], c[1], c[3], c[4], c[7], c[9]), (1, 1, 1, 2, 1, 1));
}

#[test]
fn a_gap_inside_data_keeps_the_framing() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    let mut v = frame(0, 0, 1, b"0123456789");
    v.extend(frame(3, 0, 1, &[0, 0, 0, 8]));
    h2.data(Role::Server, &v[..12], at(1), &mut rec);
    h2.gap(Role::Server, 4, at(2), &mut rec);
    h2.data(Role::Server, &v[16..], at(3), &mut rec);
    assert_eq!(rec.gaps, vec![(Role::Server, 1, 4)]);
    assert_eq!(rec.data, vec![(Role::Server, 1, b"012789".to_vec())]);
    let evs: Vec<_> = rec.events.into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        evs,
        vec![
            H2Event::Data { stream: 1, len: 10, end_stream: false },
            H2Event::RstStream { stream: 1, code: ErrorCode::CANCEL }
        ]
    );
}

#[test]
fn a_gap_over_frame_headers_loses_the_framing_until_two_headers_chain_again() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    // Stream 1 is known from a HEADERS frame.
    h2.data(Role::Server, &frame(1, flags::END_HEADERS, 1, &block(&[(":status", "200")])), at(1), &mut rec);
    let mut v = frame(0, 0, 1, b"abcdefgh");
    v.extend(frame(0, 0, 1, b"ijkl"));
    v.extend(frame(0, flags::END_STREAM, 1, b"mn"));
    // The gap takes the first frame's header and 3 bytes; the rest arrives.
    h2.gap(Role::Server, 12, at(2), &mut rec);
    h2.data(Role::Server, &v[12..], at(3), &mut rec);
    let evs: Vec<_> = rec.events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(evs[1], H2Event::Lost);
    assert_eq!(evs[2], H2Event::Resync { skipped: 12 + 5 });
    assert_eq!(evs[3], H2Event::Data { stream: 1, len: 4, end_stream: false });
    assert_eq!(evs[4], H2Event::Data { stream: 1, len: 2, end_stream: true });
    assert_eq!(rec.data, vec![(Role::Server, 1, b"ijklmn".to_vec())]);
    // Header blocks after the loss are not decoded (the table may have changed in the gap).
    h2.data(Role::Server, &frame(1, flags::END_HEADERS, 3, &[0x88]), at(4), &mut rec);
    assert!(matches!(rec.events.last(), Some((_, H2Event::Headers { stream: 3, error: Some(_), .. }))));
}

#[test]
fn a_client_that_does_not_send_the_preface() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    h2.data(Role::Client, b"GET / HTTP/1.1\r\n\r\n", at(1), &mut rec);
    assert_eq!(rec.events[0], (Role::Client, H2Event::BadPreface));
}

#[test]
fn broken_frames_are_told_and_skipped() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    let mut v = frame(3, 0, 1, &[0, 0, 8]); // RST_STREAM of 3 bytes
    v.extend(frame(0, flags::PADDED, 1, &[9, 1, 2])); // padding longer than the payload
    v.extend(frame(9, flags::END_HEADERS, 1, &[0x88])); // CONTINUATION with no HEADERS
    v.extend(frame(0x42, 0, 0, b"unknown frames are ignored"));
    let big = vec![0u8; MAX_BUFFERED + 1];
    v.extend(frame(7, 0, 0, &big)); // oversized GOAWAY: skipped
    v.extend(frame(6, 0, 0, &[0; 8]));
    h2.data(Role::Server, &v, at(1), &mut rec);
    let evs: Vec<_> = rec.events.into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        evs,
        vec![
            H2Event::Error(FrameError::Size { ty: FrameType::RstStream, len: 3 }),
            H2Event::Error(FrameError::Padding { ty: FrameType::Data }),
            H2Event::Error(FrameError::Continuation),
            H2Event::Ping { ack: false },
        ]
    );
    assert_eq!(h2.counts(Role::Server)[FrameType::Unknown(0x42).index()], 1);
    assert!(h2.buffered() < 8192, "the oversized frame was not buffered: {}", h2.buffered());
}

#[test]
fn hostile_bytes_after_a_gap_stay_bounded() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    h2.gap(Role::Client, 100, at(1), &mut rec);
    let junk: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for c in junk.chunks(1000) {
        h2.data(Role::Client, c, at(2), &mut rec);
    }
    assert!(h2.buffered() <= 2 * RESYNC_WINDOW, "{}", h2.buffered());
}

/// Shedding a HEADERS frame half read frees its buffer, says so, skips the rest of the frame
/// and keeps the framing: the next frame is read, and the next header block is known to be
/// undecodable (its HPACK table went with the shed one).
#[test]
fn shed_skips_the_frame_and_keeps_the_framing() {
    let mut h2 = H2::default();
    let mut rec = Rec::default();
    let mut v = PREFACE.to_vec();
    let big = block(&[(":method", "GET"), (":path", &"/x".repeat(100))]);
    let f = frame(1, flags::END_HEADERS, 1, &big);
    v.extend_from_slice(&f[..40]);
    h2.data(Role::Client, &v, at(1), &mut rec);
    assert!(h2.buffered() > 0);
    let freed = h2.shed(at(2), &mut rec);
    assert!(freed >= 40 - HEADER_LEN as u64, "{freed}");
    assert_eq!(h2.buffered(), 0);
    assert_eq!(h2.shed(at(2), &mut rec), 0, "nothing left to shed");
    assert_eq!(rec.events.last(), Some(&(Role::Client, H2Event::Error(FrameError::Shed { ty: FrameType::Headers }))));
    let mut rest = f[40..].to_vec();
    rest.extend(frame(6, 0, 0, &[0; 8]));
    rest.extend(frame(1, flags::END_HEADERS, 3, &block(CONNECT)));
    h2.data(Role::Client, &rest, at(3), &mut rec);
    let n = rec.events.len();
    assert_eq!(rec.events[n - 2], (Role::Client, H2Event::Ping { ack: false }));
    assert!(
        matches!(&rec.events[n - 1], (Role::Client, H2Event::Headers { stream: 3, error: Some(_), .. })),
        "{:?}",
        rec.events[n - 1]
    );
}
