//! Verdict rules on hand-built timelines, for the edge cases real captures do not cover.

use super::*;
use crate::http::{Request, Response};
use crate::timeline::{CloseRec, Exchange};
use crate::units::{PacketNo, Timestamp};
use crate::ws::Violation;

const C: Side = Side::A;
const S: Side = Side::B;

fn at(packet: u64, ms: i64) -> At {
    At { ts: Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000), packet: PacketNo(packet) }
}

/// A connection with SYN, SYN-ACK, an upgrade request at packet 4 and a 101 at packet 6.
fn upgraded() -> Timeline {
    let a = "10.0.0.5:51234".parse().unwrap_or_else(|_| unreachable!());
    let b = "10.0.0.9:8000".parse().unwrap_or_else(|_| unreachable!());
    let mut tl = Timeline::new(1, a, b, at(1, 0));
    tl.client = Some(C);
    tl.client_by = crate::timeline::ClientBy::Syn;
    tl.syn[C] = Some(at(1, 0));
    tl.syn_ack[S] = Some(at(2, 1));
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
    tl.exchange =
        Some(Box::new(Exchange { request: Some((req, at(4, 2))), response: Some((resp, at(6, 3))), body: Vec::new() }));
    tl.upgraded_at = Some(at(6, 3));
    tl.bytes = crate::units::PerSide([300, 200]);
    tl.last_payload[C] = Some(at(4, 2));
    tl.last_payload[S] = Some(at(6, 3));
    tl
}

fn close(tl: &mut Timeline, side: Side, code: Option<u16>, a: At) {
    tl.closes.push(CloseRec { side, code, reason: None, at: a, incomplete: false });
    tl.last_payload[side] = Some(a);
}

#[test]
fn clean_close_then_rst_is_still_clean() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    close(&mut tl, S, Some(1000), at(11, 51));
    tl.fin[S] = Some(at(12, 52));
    tl.rst[C] = Some(at(13, 53));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::CleanClose);
    assert_eq!((v.client_sees, v.server_sees), (Some(1000), Some(1000)));
    assert!(v.summary.contains("harmless"), "{}", v.summary);
}

#[test]
fn late_close_answer_after_tcp_close_is_unanswered() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    tl.fin[C] = Some(at(11, 5050));
    close(&mut tl, S, Some(1000), at(12, 5051));
    tl.fin[S] = Some(at(13, 5052));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::CloseUnanswered);
    assert_eq!(v.client_sees, Some(1006), "the client's socket was closed before the answer");
    assert_eq!(v.server_sees, Some(1000));
}

#[test]
fn close_never_answered() {
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(10, 50));
    tl.fin[S] = Some(at(11, 60));
    tl.fin[C] = Some(at(12, 61));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::CloseUnanswered);
    assert_eq!((v.client_sees, v.server_sees), (Some(1006), Some(1000)));
}

#[test]
fn empty_close_payload_reports_1005() {
    let mut tl = upgraded();
    close(&mut tl, S, None, at(10, 50));
    close(&mut tl, C, None, at(11, 51));
    tl.fin[S] = Some(at(12, 52));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::CleanClose);
    assert_eq!((v.client_sees, v.server_sees), (Some(1005), Some(1005)));
}

#[test]
fn server_rst_after_101_is_server_abort() {
    let mut tl = upgraded();
    tl.rst[S] = Some(at(9, 234));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::ServerAbort);
    assert_eq!((v.client_sees, v.server_sees), (Some(1006), Some(1006)));
    assert!(v.summary.contains("reset"), "{}", v.summary);
    assert!(v.summary.contains("231 ms after 101"), "{}", v.summary);
    assert!(v.evidence.iter().any(|e| e.packet == 9 && e.text == "RST from server"));
}

#[test]
fn silence_then_fin_is_idle_timeout_and_names_nginx() {
    let mut tl = upgraded();
    tl.fin[S] = Some(at(20, 3 + 60_000));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::IdleTimeout);
    assert!(v.summary.contains("nginx"), "{}", v.summary);
    assert!(v.summary.contains("60 s"), "{}", v.summary);
}

#[test]
fn client_gone_without_close() {
    let mut tl = upgraded();
    tl.fin[C] = Some(at(9, 500));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::ClientAbort);
    assert_eq!((v.client_sees, v.server_sees), (None, Some(1006)));
}

#[test]
fn violation_wins() {
    let mut tl = upgraded();
    tl.violations.push((S, Violation::MaskedServerFrame, at(8, 10)));
    close(&mut tl, C, Some(1002), at(9, 11));
    tl.fin[C] = Some(at(10, 12));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::ProtocolViolation);
    assert_eq!(v.client_sees, Some(1006));
    assert_eq!(v.server_sees, Some(1002));
}

#[test]
fn non_fatal_violation_does_not_change_the_verdict() {
    let mut tl = upgraded();
    tl.violations.push((S, Violation::NonMinimalLength, at(8, 10)));
    close(&mut tl, C, Some(1000), at(9, 11));
    close(&mut tl, S, Some(1000), at(10, 12));
    assert_eq!(diagnose(&tl).kind, Kind::CleanClose);
}

#[test]
fn still_open_and_one_close_in_flight() {
    let tl = upgraded();
    let v = diagnose(&tl);
    assert_eq!((v.kind, v.client_sees, v.server_sees), (Kind::StillOpen, None, None));
    let mut tl = upgraded();
    close(&mut tl, C, Some(1000), at(9, 11));
    assert_eq!(diagnose(&tl).kind, Kind::StillOpen);
}

#[test]
fn refused_and_unreachable() {
    let a = "10.0.0.5:1".parse().unwrap_or_else(|_| unreachable!());
    let b = "10.0.0.9:9".parse().unwrap_or_else(|_| unreachable!());
    let mut tl = Timeline::new(1, a, b, at(1, 0));
    tl.client = Some(C);
    tl.syn[C] = Some(at(1, 0));
    tl.packets = 1;
    tl.rst[S] = Some(at(2, 0));
    let v = diagnose(&tl);
    assert_eq!((v.kind, v.client_sees), (Kind::Refused, Some(1006)));
    tl.rst[S] = None;
    tl.packets = 3;
    tl.last = at(3, 3000);
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::Unreachable);
    assert!(v.summary.contains("3 SYN(s)") && v.summary.contains("3 s"), "{}", v.summary);
}

#[test]
fn rejected_with_wsgi_404_gets_asgi_advice() {
    let mut tl = upgraded();
    if let Some(ex) = tl.exchange.as_mut() {
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
    tl.upgraded_at = None;
    tl.fin[S] = Some(at(7, 4));
    let v = diagnose(&tl);
    assert_eq!((v.kind, v.client_sees, v.server_sees), (Kind::HandshakeRejected, Some(1006), None));
    assert!(v.advice.iter().any(|a| a.contains("ASGI")), "{:?}", v.advice);
}

#[test]
fn unanswered_upgrade() {
    let mut tl = upgraded();
    if let Some(ex) = tl.exchange.as_mut() {
        ex.response = None;
    }
    tl.upgraded_at = None;
    tl.fin[S] = Some(at(7, 30_002));
    let v = diagnose(&tl);
    assert_eq!(v.kind, Kind::HandshakeUnanswered);
    assert!(v.summary.contains("30 s"), "{}", v.summary);
}

#[test]
fn gaps_that_hide_the_end_are_unknown() {
    let mut tl = upgraded();
    tl.desyncs[S] = 1;
    tl.fin[S] = Some(at(20, 400));
    assert_eq!(diagnose(&tl).kind, Kind::Unknown);
}

#[test]
fn sees_follows_rfc6455_7_1_5() {
    let mut tl = upgraded();
    assert_eq!(sees(&tl, C), None);
    close(&mut tl, S, Some(4001), at(9, 10));
    assert_eq!(sees(&tl, C), Some(4001));
    assert_eq!(sees(&tl, S), None);
    tl.fin[S] = Some(at(10, 11));
    assert_eq!(sees(&tl, S), Some(1006));
}
