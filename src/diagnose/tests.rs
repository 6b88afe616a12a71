//! Verdict rules on hand-built timelines, for the edge cases real captures do not cover.

use super::*;
use crate::http::h1::Exchange;
use crate::http::{Request, Response};
use crate::timeline::{CloseRec, Ends, Session, TcpFacts};
use crate::units::{PacketNo, Timestamp};
use crate::ws::Violation;

const C: Side = Side::A;
const S: Side = Side::B;

fn at(packet: u64, ms: i64) -> At {
    At { ts: Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000), packet: PacketNo(packet) }
}

/// A hand-built connection: its TCP facts and its one session.
struct Tl {
    tcp: TcpFacts,
    app: App,
    s: Session,
}

impl Tl {
    fn new(id: u64, a: std::net::SocketAddr, b: std::net::SocketAddr, first: At) -> Tl {
        Tl { tcp: TcpFacts::new(id, a, b, first), app: App::Empty, s: Session::default() }
    }

    /// The session with its ends and activity as the TCP facts give them (as `conn` does at
    /// the end of a plaintext connection).
    fn ended(&self) -> Session {
        Session { ends: Box::new(Ends::of_tcp(&self.tcp)), last_data: self.tcp.last_payload, ..self.s.clone() }
    }
}

fn diag(tl: &Tl) -> Verdict {
    diagnose(&tl.tcp, tl.app, None, &tl.ended())
}

/// A connection with SYN, SYN-ACK, an upgrade request at packet 4 and a 101 at packet 6.
fn upgraded() -> Tl {
    let a = "10.0.0.5:51234".parse().unwrap_or_else(|_| unreachable!());
    let b = "10.0.0.9:8000".parse().unwrap_or_else(|_| unreachable!());
    let mut tl = Tl::new(1, a, b, at(1, 0));
    tl.tcp.client = Some(C);
    tl.tcp.client_by = crate::timeline::ClientBy::Syn;
    tl.tcp.syn[C] = Some(at(1, 0));
    tl.tcp.syn_ack[S] = Some(at(2, 1));
    tl.app = App::WebSocket;
    let req =
        Request { method: "GET".into(), uri: "/ws/".into(), upgrade: Some("websocket".into()), ..Request::default() };
    let resp = Response {
        status: 101,
        reason: "Switching Protocols".into(),
        upgrade: Some("websocket".into()),
        connection: Some("Upgrade".into()),
        ..Response::default()
    };
    tl.s.http.exchange =
        Some(Box::new(Exchange { request: Some((req, at(4, 2))), response: Some((resp, at(6, 3))), body: Vec::new() }));
    tl.s.upgraded_at = Some(at(6, 3));
    tl.tcp.streams[C].delivered = 300;
    tl.tcp.streams[S].delivered = 200;
    tl.tcp.last_payload[C] = Some(at(4, 2));
    tl.tcp.last_payload[S] = Some(at(6, 3));
    tl
}

fn close(tl: &mut Tl, side: Side, code: Option<u16>, a: At) {
    tl.s.closes.push(CloseRec { side, code, reason: None, at: a, incomplete: false });
    tl.tcp.last_payload[side] = Some(a);
}

#[test]
fn clean_close_then_rst_is_still_clean() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    close(&mut tl, S, Some(1000), at(11, 51));
    tl.tcp.fin[S] = Some(at(12, 52));
    tl.tcp.rst[C] = Some(at(13, 53));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::CleanClose);
    assert_eq!((v.client_sees, v.server_sees), (Some(1000), Some(1000)));
    assert!(v.summary.contains("harmless"), "{}", v.summary);
}

#[test]
fn late_close_answer_after_tcp_close_is_unanswered() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    tl.tcp.fin[C] = Some(at(11, 5050));
    close(&mut tl, S, Some(1000), at(12, 5051));
    tl.tcp.fin[S] = Some(at(13, 5052));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::CloseUnanswered);
    assert_eq!(v.client_sees, Some(1006), "the client's socket was closed before the answer");
    assert_eq!(v.server_sees, Some(1000));
}

#[test]
fn close_never_answered() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    tl.tcp.fin[S] = Some(at(11, 60));
    tl.tcp.fin[C] = Some(at(12, 61));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::CloseUnanswered);
    assert_eq!((v.client_sees, v.server_sees), (Some(1006), Some(1000)));
}

#[test]
fn empty_close_payload_reports_1005() {
    let mut tl = upgraded();
    close(&mut tl, S, None, at(10, 50));
    close(&mut tl, C, None, at(11, 51));
    tl.tcp.fin[S] = Some(at(12, 52));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::CleanClose);
    assert_eq!((v.client_sees, v.server_sees), (Some(1005), Some(1005)));
}

#[test]
fn server_rst_after_101_is_server_abort() {
    let mut tl = upgraded();
    tl.tcp.rst[S] = Some(at(9, 234));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::ServerAbort);
    assert_eq!((v.client_sees, v.server_sees), (Some(1006), Some(1006)));
    assert!(v.summary.contains("reset"), "{}", v.summary);
    assert!(v.summary.contains("231 ms after 101"), "{}", v.summary);
    assert!(v.evidence.iter().any(|e| e.packet.number() == 9 && e.text == "RST from server"));
}

#[test]
fn silence_then_fin_is_idle_timeout_and_names_nginx() {
    let mut tl = upgraded();
    tl.tcp.fin[S] = Some(at(20, 3 + 60_000));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::IdleTimeout);
    assert!(v.summary.contains("nginx"), "{}", v.summary);
    assert!(v.summary.contains("60 s"), "{}", v.summary);
}

#[test]
fn client_gone_without_close() {
    let mut tl = upgraded();
    tl.tcp.fin[C] = Some(at(9, 500));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::ClientAbort);
    assert_eq!((v.client_sees, v.server_sees), (None, Some(1006)));
}

#[test]
fn violation_wins() {
    let mut tl = upgraded();
    tl.s.violations.push((S, Violation::MaskedServerFrame, at(8, 10)));
    close(&mut tl, C, Some(1002), at(9, 11));
    tl.tcp.fin[C] = Some(at(10, 12));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::ProtocolViolation);
    assert_eq!(v.client_sees, Some(1006));
    assert_eq!(v.server_sees, Some(1002));
}

#[test]
fn non_fatal_violation_does_not_change_the_verdict() {
    let mut tl = upgraded();
    tl.s.violations.push((S, Violation::NonMinimalLength, at(8, 10)));
    close(&mut tl, C, Some(1000), at(9, 11));
    close(&mut tl, S, Some(1000), at(10, 12));
    assert_eq!(diag(&tl).kind, Kind::CleanClose);
}

#[test]
fn still_open_and_one_close_in_flight() {
    let tl = upgraded();
    let v = diag(&tl);
    assert_eq!((v.kind, v.client_sees, v.server_sees), (Kind::StillOpen, None, None));
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(9, 11));
    assert_eq!(diag(&tl).kind, Kind::StillOpen);
}

#[test]
fn refused_and_unreachable() {
    let a = "10.0.0.5:1".parse().unwrap_or_else(|_| unreachable!());
    let b = "10.0.0.9:9".parse().unwrap_or_else(|_| unreachable!());
    let mut tl = Tl::new(1, a, b, at(1, 0));
    tl.tcp.client = Some(C);
    tl.tcp.syn[C] = Some(at(1, 0));
    tl.tcp.packets = 1;
    tl.tcp.rst[S] = Some(at(2, 0));
    let v = diag(&tl);
    assert_eq!((v.kind, v.client_sees), (Kind::Refused, Some(1006)));
    tl.tcp.rst[S] = None;
    tl.tcp.packets = 3;
    tl.tcp.last = at(3, 3000);
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::Unreachable);
    assert!(v.summary.contains("3 SYN(s)") && v.summary.contains("over 3.000 s"), "{}", v.summary);
}

#[test]
fn rejected_with_wsgi_404_gets_asgi_advice() {
    let mut tl = upgraded();
    if let Some(ex) = tl.s.http.exchange.as_mut() {
        ex.response = Some((
            Response {
                status: 404,
                reason: "Not Found".into(),
                server: Some("WSGIServer/0.2 CPython/3.11.7".into()),
                ..Response::default()
            },
            at(6, 3),
        ));
    }
    tl.s.upgraded_at = None;
    tl.tcp.fin[S] = Some(at(7, 4));
    let v = diag(&tl);
    assert_eq!((v.kind, v.client_sees, v.server_sees), (Kind::HandshakeRejected, Some(1006), None));
    assert!(v.advice.iter().any(|a| a.contains("ASGI")), "{:?}", v.advice);
}

#[test]
fn unanswered_upgrade() {
    let mut tl = upgraded();
    if let Some(ex) = tl.s.http.exchange.as_mut() {
        ex.response = None;
    }
    tl.s.upgraded_at = None;
    tl.tcp.fin[S] = Some(at(7, 30_002));
    let v = diag(&tl);
    assert_eq!(v.kind, Kind::HandshakeUnanswered);
    assert!(v.summary.contains("30.000 s after"), "{}", v.summary);
}

#[test]
fn gaps_that_hide_the_end_are_unknown() {
    let mut tl = upgraded();
    tl.s.desyncs[S] = 1;
    tl.tcp.fin[S] = Some(at(20, 400));
    assert_eq!(diag(&tl).kind, Kind::Unknown);
}

#[test]
fn sees_follows_rfc6455_7_1_5() {
    let mut tl = upgraded();
    assert_eq!(sees(&tl.ended(), C), None);
    close(&mut tl, S, Some(4001), at(9, 10));
    assert_eq!(sees(&tl.ended(), C), Some(4001));
    assert_eq!(sees(&tl.ended(), S), None);
    tl.tcp.fin[S] = Some(at(10, 11));
    assert_eq!(sees(&tl.ended(), S), Some(1006));
}

#[test]
fn outcomes_grade_the_ending_whatever_the_kind() {
    for (code, want) in [
        (Some(1000), Outcome::Normal),
        (None, Outcome::Normal),
        (Some(1001), Outcome::GoingAway),
        (Some(1011), Outcome::AppError),
        (Some(4001), Outcome::AppError),
        (Some(1008), Outcome::Policy),
        (Some(1002), Outcome::ProtocolError),
    ] {
        let mut tl = upgraded();
        close(&mut tl, S, code, at(10, 50));
        close(&mut tl, C, code, at(11, 51));
        tl.tcp.fin[S] = Some(at(12, 52));
        let v = diag(&tl);
        assert_eq!((v.kind, v.outcome), (Kind::CleanClose, want), "{code:?}");
    }
    let mut tl = upgraded();
    tl.tcp.rst[S] = Some(at(9, 234));
    assert_eq!(diag(&tl).outcome, Outcome::Abnormal);
    assert_eq!(diag(&upgraded()).outcome, Outcome::Unknown, "still open");
    let mut tl = upgraded();
    tl.s.violations.push((S, Violation::MaskedServerFrame, at(8, 10)));
    tl.tcp.fin[C] = Some(at(10, 12));
    assert_eq!(diag(&tl).outcome, Outcome::ProtocolError);
}

#[test]
fn a_capture_that_ends_soon_after_the_request_is_still_open() {
    let mut tl = upgraded();
    if let Some(ex) = tl.s.http.exchange.as_mut() {
        ex.response = None;
    }
    tl.s.upgraded_at = None;
    tl.tcp.last = at(5, 3);
    let v = diag(&tl);
    assert_eq!((v.kind, v.client_sees), (Kind::StillOpen, None), "{}", v.summary);
    assert!(v.summary.contains("capture ended"), "{}", v.summary);
    tl.tcp.last = at(5, 2 + 5_000);
    assert_eq!(diag(&tl).kind, Kind::HandshakeUnanswered, "5 s of waiting");
}

#[test]
fn seconds_keep_their_milliseconds() {
    assert_eq!(human_ms(231.04), "231 ms");
    assert_eq!(human_ms(3004.2), "3.004 s");
    assert_eq!(human_ms(3000.0), "3.000 s");
    assert_eq!(human_ms(-0.000_001), "0 ms", "no -0");
    assert_eq!(human_ms(2500.0), "2.500 s");
    assert_eq!(human_ms(100_400.0), "100.400 s");
    assert_eq!(human_ms(700_000.0), "11 min 40 s");
}

#[test]
fn outcome_names_are_their_json_names() {
    for o in [
        Outcome::Normal,
        Outcome::GoingAway,
        Outcome::AppError,
        Outcome::Policy,
        Outcome::ProtocolError,
        Outcome::Abnormal,
        Outcome::Unknown,
    ] {
        assert_eq!(serde_json::to_value(o).ok(), Some(serde_json::Value::from(o.as_str())));
    }
}
