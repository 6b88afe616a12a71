//! The HTTP/2 layer of a connection: the frame reader's events become the connection's
//! [`H2Facts`], and each extended CONNECT stream (RFC 8441) becomes one WebSocket [`Session`]
//! whose DATA payloads go through its own frame parsers.

use super::{Frames, record_ws};
use crate::http::h1::{Exchange, H1Facts};
use crate::http::h2::{self, Field, H2, H2Event, H2Sink};
use crate::http::{Request, Response};
use crate::timeline::{
    DEFAULT_WINDOW, EventKind, EventLog, GoAwayRec, H2Facts, H2Note, H2Stream, Session, SettingsRec, TcpFacts, Window,
};
use crate::units::{At, PerSide, Role, Side};
use crate::ws::deflate::DeflateParams;

/// The most WebSocket streams one connection keeps (the rest are counted).
const MAX_WS_STREAMS: usize = 256;
/// The most other streams one connection keeps for `--all` (the rest are counted).
const MAX_OTHER_STREAMS: usize = 64;
/// The most framing problems kept.
const MAX_ERRORS: usize = 8;

/// A WebSocket on a stream (or, for `--all`, another request).
struct WsStream {
    id: u32,
    session: Session,
    /// Its frame parsers, from the 2xx answer on.
    frames: Option<Frames>,
}

/// Everything above the frame reader.
#[derive(Default)]
struct Streams {
    ws: Vec<WsStream>,
    /// How many of `ws` are WebSockets.
    websockets: usize,
    /// Keep the streams that are not WebSockets.
    keep_other: bool,
    facts: H2Facts,
}

/// The HTTP/2 layer.
pub(super) struct H2Layer {
    reader: H2,
    streams: Streams,
}

/// What the frame reader's callbacks reach.
struct Sink<'a> {
    st: &'a mut Streams,
    tcp: &'a TcpFacts,
    log: &'a mut EventLog,
    inflate: bool,
}

impl H2Layer {
    /// `keep_other`: keep the streams that are not WebSockets as sessions too.
    pub(super) fn new(keep_other: bool) -> Self {
        let mut streams = Streams { keep_other, ..Streams::default() };
        streams.facts.initial_window = PerSide([DEFAULT_WINDOW; 2]);
        H2Layer { reader: H2::default(), streams }
    }

    pub(super) fn data(&mut self, tcp: &TcpFacts, side: Side, bytes: &[u8], at: At, log: &mut EventLog, inflate: bool) {
        let from = tcp.role_of(side);
        let mut sink = Sink { st: &mut self.streams, tcp, log, inflate };
        self.reader.data(from, bytes, at, &mut sink);
    }

    pub(super) fn gap(&mut self, tcp: &TcpFacts, side: Side, len: u64, at: At, log: &mut EventLog, inflate: bool) {
        let from = tcp.role_of(side);
        let mut sink = Sink { st: &mut self.streams, tcp, log, inflate };
        self.reader.gap(from, len, at, &mut sink);
    }

    /// Frees the frame reader's buffers (see [`H2::shed`]); returns the bytes freed.
    pub(super) fn shed(&mut self, tcp: &TcpFacts, at: At, log: &mut EventLog, inflate: bool) -> u64 {
        let mut sink = Sink { st: &mut self.streams, tcp, log, inflate };
        self.reader.shed(at, &mut sink)
    }

    /// Whether a WebSocket stream was seen.
    pub(super) fn has_websocket(&self) -> bool {
        self.streams.websockets > 0
    }

    pub(super) fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// The connection is over: its facts and one session per WebSocket stream.
    pub(super) fn finish(mut self, tcp: &TcpFacts) -> (H2Facts, Vec<Session>) {
        let mut facts = std::mem::take(&mut self.streams.facts);
        for role in [Role::Client, Role::Server] {
            facts.frames[tcp.side_of(role)] = *self.reader.counts(role);
        }
        let websockets = self.streams.websockets;
        let others = (facts.other_streams as usize).min(MAX_OTHER_STREAMS);
        facts.ids = u32::try_from((websockets + others).max(1)).unwrap_or(u32::MAX);
        // The WebSockets first: the first of them takes the TCP connection's id.
        self.streams.ws.sort_by_key(|w| !w.session.h2.as_ref().is_some_and(|st| st.websocket));
        let sessions = self
            .streams
            .ws
            .into_iter()
            .map(|w| {
                let mut s = w.session;
                if let Some(f) = &w.frames {
                    for side in Side::BOTH {
                        s.frames[side] = f.parsers[side].counts;
                    }
                }
                if let Some(st) = s.h2.as_deref_mut() {
                    st.conn_window = facts.conn_window;
                    *s.ends = crate::timeline::Ends::of_stream(tcp, st, &facts.goaways);
                }
                s
            })
            .collect();
        (facts, sessions)
    }
}

/// The request of an extended CONNECT (or any request) from its pseudo-headers and fields.
fn request(fields: &[Field]) -> Request {
    let mut r = Request {
        method: h2::field(fields, ":method").unwrap_or("").into(),
        uri: h2::field(fields, ":path").unwrap_or("").into(),
        version: 0,
        ..Request::default()
    };
    for f in fields {
        match f.name.as_str() {
            ":authority" => r.host = Some(f.value.as_str().into()),
            // RFC 8441 §4: the protocol asked for, as `Upgrade` names it on HTTP/1.1.
            ":protocol" => r.upgrade = Some(f.value.as_str().into()),
            n if n.starts_with(':') => {}
            n => r.set_field(n, &f.value),
        }
    }
    r
}

fn response(fields: &[Field]) -> Response {
    let status = h2::field(fields, ":status").and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut r = Response { status, reason: reason_phrase(status).into(), version: 0, ..Response::default() };
    for f in fields.iter().filter(|f| !f.name.starts_with(':')) {
        r.set_field(&f.name, &f.value);
    }
    r
}

/// HTTP/2 has no reason phrases; the usual ones, for the sentences.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

impl Sink<'_> {
    fn stream(&mut self, id: u32) -> Option<&mut WsStream> {
        self.st.ws.iter_mut().find(|w| w.id == id)
    }

    fn note(&mut self, side: Side, at: At, stream: u32, n: H2Note) {
        self.log.push_on(at, side, stream, EventKind::H2(n));
    }

    fn error(&mut self, side: Side, at: At, text: String) {
        if self.st.facts.errors.len() < MAX_ERRORS {
            self.st.facts.errors.push((side, text.clone(), at));
        }
        self.note(side, at, 0, H2Note::Error(text));
    }

    fn headers(&mut self, side: Side, from: Role, at: At, stream: u32, fields: Vec<Field>, end_stream: bool) {
        let known = self.st.ws.iter().any(|w| w.id == stream);
        if from == Role::Client && !known {
            self.st.facts.streams += 1;
            let websocket = h2::field(&fields, ":method") == Some("CONNECT")
                && h2::field(&fields, ":protocol").is_some_and(|p| p.eq_ignore_ascii_case("websocket"));
            if !websocket {
                self.st.facts.other_streams += 1;
                if !self.st.keep_other || self.st.ws.len() - self.st.websockets >= MAX_OTHER_STREAMS {
                    return;
                }
            } else if self.st.websockets >= MAX_WS_STREAMS {
                self.st.facts.streams_dropped += 1;
                return;
            }
            let req = request(&fields);
            self.log.push_on(
                at,
                side,
                stream,
                EventKind::Request { method: req.method.clone(), uri: req.uri.clone(), upgrade: websocket },
            );
            let session = Session {
                http: H1Facts {
                    exchange: Some(Box::new(Exchange { request: Some((req, at)), response: None, body: Vec::new() })),
                    exchanges: 1,
                    attempted: websocket,
                    ..H1Facts::default()
                },
                h2: Some(Box::new(H2Stream {
                    stream,
                    websocket,
                    window: PerSide(self.st.facts.initial_window.0.map(Window::new)),
                    ..H2Stream::default()
                })),
                ..Session::default()
            };
            self.st.websockets += usize::from(websocket);
            self.st.ws.push(WsStream { id: stream, session, frames: None });
            if end_stream {
                self.end_stream(side, at, stream, true);
            }
            return;
        }
        let tcp = self.tcp;
        let inflate = self.inflate;
        let Some(w) = self.stream(stream) else { return };
        let ex = w
            .session
            .http
            .exchange
            .get_or_insert_with(|| Box::new(Exchange { request: None, response: None, body: Vec::new() }));
        if from == Role::Server && ex.response.is_none() {
            let resp = response(&fields);
            let (status, reason) = (resp.status, resp.reason.clone());
            let ok = (200..300).contains(&status) && w.session.h2.as_ref().is_some_and(|st| st.websocket);
            let deflate = ok
                .then(|| resp.extensions.iter().find(|e| e.name == "permessage-deflate").cloned())
                .flatten()
                .map(|e| DeflateParams::from_agreed(e.params.iter().map(|(k, v)| (k.as_str(), v.as_deref()))));
            if ok && let Some((req, _)) = &ex.request {
                w.session.http.problems = crate::http::validate_choices(req, &resp);
            }
            ex.response = Some((resp, at));
            if ok {
                w.session.upgraded_at = Some(at);
                w.frames = Some(Frames::new(tcp, deflate.as_ref(), inflate, false));
                w.session.deflate = deflate;
            }
            self.log.push_on(at, side, stream, EventKind::Response { status, reason });
        }
        if end_stream {
            self.end_stream(side, at, stream, true);
        }
    }

    fn end_stream(&mut self, side: Side, at: At, stream: u32, headers: bool) {
        let Some(w) = self.stream(stream) else { return };
        let Some(st) = w.session.h2.as_mut() else { return };
        if st.end_stream[side].is_none() {
            st.end_stream[side] = Some(at);
            self.note(side, at, stream, H2Note::EndStream { headers });
        }
    }
}

impl H2Sink for Sink<'_> {
    fn event(&mut self, from: Role, at: At, ev: H2Event) {
        let side = self.tcp.side_of(from);
        match ev {
            H2Event::Preface => {
                self.st.facts.preface.get_or_insert(at);
                self.note(side, at, 0, H2Note::Preface);
            }
            H2Event::Settings { ack, params } => {
                let connect_protocol = (!ack && from == Role::Server)
                    .then(|| params.iter().any(|&(id, v)| id == h2::frame::setting::ENABLE_CONNECT_PROTOCOL && v == 1));
                if let Some(&(_, v)) =
                    params.iter().rev().find(|(id, _)| !ack && *id == h2::frame::setting::INITIAL_WINDOW_SIZE)
                {
                    // What this side allows the other to send on each stream (RFC 9113 §6.9.2).
                    let sender = side.other();
                    let delta = i64::from(v) - self.st.facts.initial_window[sender];
                    self.st.facts.initial_window[sender] = i64::from(v);
                    for st in self.st.ws.iter_mut().filter_map(|w| w.session.h2.as_deref_mut()) {
                        st.window[sender].adjust(delta, at);
                    }
                }
                if !ack && self.st.facts.settings[side].is_none() {
                    self.st.facts.settings[side] = Some(SettingsRec { params, at });
                }
                self.note(side, at, 0, H2Note::Settings { ack, connect_protocol });
            }
            H2Event::Headers { stream, fields, end_stream, error } => {
                if let Some(e) = error {
                    self.error(side, at, format!("stream {stream}: header block not decoded: {e}"));
                }
                self.headers(side, from, at, stream, fields, end_stream);
            }
            H2Event::Data { stream, len, end_stream } => {
                self.st.facts.conn_window[side].spend(len, at);
                if let Some(st) = self.stream(stream).and_then(|w| w.session.h2.as_deref_mut()) {
                    st.window[side].spend(len, at);
                }
                if end_stream {
                    self.end_stream(side, at, stream, false);
                }
            }
            H2Event::RstStream { stream, code } => {
                if let Some(w) = self.stream(stream) {
                    if let Some(st) = w.session.h2.as_mut() {
                        st.rst.get_or_insert((side, code, at));
                    }
                    self.note(side, at, stream, H2Note::RstStream { code });
                }
            }
            H2Event::GoAway { last_stream, code, debug } => {
                if self.st.facts.goaways.len() < 4 {
                    self.st.facts.goaways.push(GoAwayRec { side, last_stream, code, debug: debug.clone(), at });
                }
                self.note(side, at, 0, H2Note::GoAway { last_stream, code, debug });
            }
            H2Event::WindowUpdate { stream, increment } => {
                // Credit for the other side to send.
                let sender = side.other();
                let grant = i64::from(increment);
                if stream == 0 {
                    self.st.facts.conn_window[sender].adjust(grant, at);
                } else if let Some(st) = self.stream(stream).and_then(|w| w.session.h2.as_deref_mut()) {
                    st.window[sender].adjust(grant, at);
                }
            }
            H2Event::Ping { .. } | H2Event::PushPromise { .. } => {}
            H2Event::Error(e) => self.error(side, at, e.to_string()),
            H2Event::BadPreface => self.error(side, at, "the client did not send the HTTP/2 preface".into()),
            H2Event::Lost => {
                self.st.facts.lost[side] = true;
                self.note(side, at, 0, H2Note::Lost);
            }
            H2Event::Resync { skipped } => self.note(side, at, 0, H2Note::Resync { skipped }),
        }
    }

    fn data(&mut self, from: Role, stream: u32, bytes: &[u8], at: At) {
        let side = self.tcp.side_of(from);
        let Some(i) = self.st.ws.iter().position(|w| w.id == stream) else { return };
        let w = &mut self.st.ws[i];
        w.session.last_data[side] = Some(at);
        if !w.session.h2.as_ref().is_some_and(|st| st.websocket) {
            return;
        }
        let Some(f) = w.frames.as_mut() else {
            // Frames before the answer: the parser (made at the answer) starts lost.
            w.frames = Some(Frames::new(self.tcp, None, self.inflate, false));
            if let Some(f) = w.frames.as_mut() {
                f.parsers[side].set_lost();
            }
            return;
        };
        f.parsers[side].data(bytes, at, true, &mut f.events);
        if !f.events.is_empty() {
            record_ws(f, &mut w.session, self.log, side, stream);
        }
    }

    fn data_gap(&mut self, from: Role, stream: u32, len: u64, at: At) {
        let side = self.tcp.side_of(from);
        let Some(w) = self.st.ws.iter_mut().find(|w| w.id == stream) else { return };
        if let Some(f) = w.frames.as_mut() {
            f.parsers[side].gap(len, at, &mut f.events);
            record_ws(f, &mut w.session, self.log, side, stream);
        }
    }
}

impl std::fmt::Debug for H2Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Layer").field("ws_streams", &self.streams.ws.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Budget, Conn, ConnConfig, head_budget_tests::seg};
    use crate::diagnose::{Kind, diagnose};
    use crate::http::h2::PREFACE;
    use crate::http::h2::tests::{block, frame};
    use crate::units::{At, PacketNo, Side, Timestamp};

    fn at(n: u64) -> At {
        At { ts: Timestamp(n as i64), packet: PacketNo(n) }
    }

    const CONNECT: &[(&str, &str)] = &[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", "/chat"),
        (":authority", "h"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat"),
    ];

    /// An h2c connection: the client's bytes, then the server's, in one segment each.
    fn h2c(client: &[u8], server: &[u8], budget: &mut Budget) -> Conn {
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap_or_else(|_| unreachable!());
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let mut conn = Conn::new(1, c, s, at(1), &ConnConfig::default());
        conn.segment(Side::A, &seg(c, s, 100, 0, 0x02, &[]), at(1), budget);
        conn.segment(Side::B, &seg(s, c, 500, 101, 0x12, &[]), at(2), budget);
        conn.segment(Side::A, &seg(c, s, 101, 501, 0x18, client), at(3), budget);
        if !server.is_empty() {
            conn.segment(Side::B, &seg(s, c, 501, 101 + client.len() as u32, 0x18, server), at(4), budget);
        }
        conn
    }

    fn client_hello(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut v = PREFACE.to_vec();
        v.extend(frame(4, 0, 0, &[]));
        v.extend(frame(1, 0x4, 1, &block(fields)));
        v
    }

    fn server_answer(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut v = frame(4, 0, 0, &[0, 8, 0, 0, 0, 1]);
        v.extend(frame(1, 0x4, 1, &block(fields)));
        v
    }

    /// RFC 8441 §5 keeps RFC 6455's subprotocol and extension checks: a 200 choosing what the
    /// client did not offer is an invalid handshake, as a 101 would be.
    #[test]
    fn a_200_with_what_was_not_offered_is_invalid() {
        let mut budget = Budget::new(1 << 20);
        for (answer, ok) in [
            (&[(":status", "200"), ("sec-websocket-protocol", "chat")][..], true),
            (&[(":status", "200"), ("sec-websocket-protocol", "superchat")][..], false),
            (&[(":status", "200"), ("sec-websocket-extensions", "permessage-deflate")][..], false),
        ] {
            let conn = h2c(&client_hello(CONNECT), &server_answer(answer), &mut budget);
            let tl = conn.finish(&mut budget);
            assert_eq!(tl.sessions.len(), 1);
            let s = &tl.sessions[0];
            assert_eq!(s.http.problems.is_empty(), ok, "{answer:?}: {:?}", s.http.problems);
            let v = diagnose(&tl.tcp, tl.app, None, s);
            assert_eq!(v.kind == Kind::InvalidHandshake, !ok, "{answer:?}: {:?} {}", v.kind, v.summary);
            if !ok {
                assert!(v.summary.contains(":status 200"), "{}", v.summary);
            }
        }
    }

    /// A partial HTTP/2 frame counts against the shared heads budget and is shed when the
    /// budget is exceeded, as a partial HTTP/1.1 head is.
    #[test]
    fn partial_frames_are_shed_over_the_heads_budget() {
        let mut budget = Budget::new(1 << 20).with_heads_limit(4096);
        let mut client = client_hello(CONNECT);
        let path = "/x".repeat(60);
        let big = frame(1, 0x4, 3, &block(&[(":path", path.as_str()); 60]));
        client.extend_from_slice(&big[..big.len() - 10]);
        let conn = h2c(&client, &[], &mut budget);
        assert!(budget.heads_dropped > 0, "nothing shed");
        assert!(budget.heads <= budget.heads_limit, "{} over {}", budget.heads, budget.heads_limit);
        let tl = conn.finish(&mut budget);
        assert_eq!(budget.heads, 0);
        let h2 = tl.h2.as_deref().unwrap_or_else(|| unreachable!());
        assert!(h2.errors.iter().any(|(_, e, _)| e.contains("memory budget")), "{:?}", h2.errors);
        assert_eq!(tl.sessions.len(), 1, "the WebSocket stream before it is kept");
    }

    /// DATA spends the sender's stream and connection windows, WINDOW_UPDATE and a new
    /// SETTINGS_INITIAL_WINDOW_SIZE move them; a window used up at the end is advice.
    #[test]
    fn flow_control_windows() {
        let mut budget = Budget::new(1 << 20);
        let mut client = PREFACE.to_vec();
        // The client lets the server send 10 bytes a stream.
        client.extend(frame(4, 0, 0, &[0, 4, 0, 0, 0, 10]));
        client.extend(frame(1, 0x4, 1, &block(CONNECT)));
        let mut server = server_answer(&[(":status", "200"), ("sec-websocket-protocol", "chat")]);
        // A 12-byte text message in one DATA frame of 14 bytes: over the window by 4.
        let mut msg = vec![0x81, 12];
        msg.extend_from_slice(b"hello world!");
        server.extend(frame(0, 0, 1, &msg));
        let conn = h2c(&client, &server, &mut budget);
        let tl = conn.finish(&mut budget);
        let s = &tl.sessions[0];
        let st = s.h2.as_deref().unwrap_or_else(|| unreachable!());
        let (c, sv) = (tl.tcp.side_of(crate::units::Role::Client), tl.tcp.side_of(crate::units::Role::Server));
        assert_eq!(st.window[sv].now, 10 - 14);
        assert_eq!(st.window[sv].exhausted.map(|a| a.packet), Some(crate::units::PacketNo(4)));
        assert_eq!(st.conn_window[sv].now, 65_535 - 14);
        assert_eq!(st.window[c], crate::timeline::Window::new(65_535));
        let v = diagnose(&tl.tcp, tl.app, None, s);
        assert!(v.advice.iter().any(|a| a.contains("flow control held the server back")), "{:?}", v.advice);

        // The client grants 20 more on the stream and 5 on the connection.
        let mut more = client.clone();
        more.extend(frame(8, 0, 1, &20u32.to_be_bytes()));
        more.extend(frame(8, 0, 0, &5u32.to_be_bytes()));
        let tl = h2c(&more, &server, &mut budget).finish(&mut budget);
        let st = tl.sessions[0].h2.as_deref().unwrap_or_else(|| unreachable!());
        // Both updates came before the server's DATA (one client segment).
        assert_eq!(st.window[sv].now, 10 + 20 - 14);
        assert_eq!(st.window[sv].min, 10, "the initial window, before the update");
        assert_eq!(st.window[sv].exhausted, None);
        assert_eq!(st.conn_window[sv].now, 65_535 + 5 - 14);
        let v = diagnose(&tl.tcp, tl.app, None, &tl.sessions[0]);
        assert!(!v.advice.iter().any(|a| a.contains("flow control")), "{:?}", v.advice);
    }

    /// A GOAWAY's last stream id counts the streams its receiver opened (RFC 9113 §6.8): the
    /// client's GOAWAY (last stream 0, as Node sends it in answer to the server's) leaves the
    /// client's WebSocket stream alone; the server's GOAWAY below the stream excludes it.
    #[test]
    fn only_the_servers_goaway_excludes_a_websocket_stream() {
        let mut budget = Budget::new(1 << 20);
        let goaway = frame(7, 0, 0, &[0; 8]); // last stream 0, NO_ERROR
        let ok = server_answer(&[(":status", "200"), ("sec-websocket-protocol", "chat")]);
        let mut client = client_hello(CONNECT);
        client.extend(&goaway);
        let tl = h2c(&client, &ok, &mut budget).finish(&mut budget);
        let v = diagnose(&tl.tcp, tl.app, None, &tl.sessions[0]);
        assert_eq!(v.kind, Kind::StillOpen, "{}", v.summary);

        let mut server = ok.clone();
        server.extend(&goaway);
        let tl = h2c(&client_hello(CONNECT), &server, &mut budget).finish(&mut budget);
        let v = diagnose(&tl.tcp, tl.app, None, &tl.sessions[0]);
        assert_eq!(v.kind, Kind::ServerAbort, "{}", v.summary);
        assert!(v.summary.contains("GOAWAY NO_ERROR excluding the stream"), "{}", v.summary);
    }
}
