//! The HTTP/2 layer of a connection: the frame reader's events become the connection's
//! [`H2Facts`], and each extended CONNECT stream (RFC 8441) becomes one WebSocket [`Session`]
//! whose DATA payloads go through its own frame parsers.

use super::{Frames, record_ws};
use crate::http::h1::{Exchange, H1Facts};
use crate::http::h2::{self, Field, H2, H2Event, H2Sink};
use crate::http::{Request, Response};
use crate::timeline::{EventKind, EventLog, GoAwayRec, H2Facts, H2Note, H2Stream, Session, SettingsRec, TcpFacts};
use crate::units::{At, Role, Side};
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
#[derive(Default)]
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
        H2Layer { reader: H2::default(), streams: Streams { keep_other, ..Streams::default() } }
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
                if let Some(st) = &s.h2 {
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
        method: h2::field(fields, ":method").unwrap_or("").to_string(),
        uri: h2::field(fields, ":path").unwrap_or("").to_string(),
        version: 0,
        ..Request::default()
    };
    for f in fields {
        match f.name.as_str() {
            ":authority" => r.host = Some(f.value.clone()),
            // RFC 8441 §4: the protocol asked for, as `Upgrade` names it on HTTP/1.1.
            ":protocol" => r.upgrade = Some(f.value.clone()),
            n if n.starts_with(':') => {}
            n => r.set_field(n, f.value.clone()),
        }
    }
    r
}

fn response(fields: &[Field]) -> Response {
    let status = h2::field(fields, ":status").and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut r = Response { status, reason: reason_phrase(status).to_string(), version: 0, ..Response::default() };
    for f in fields.iter().filter(|f| !f.name.starts_with(':')) {
        r.set_field(&f.name, f.value.clone());
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
                h2: Some(Box::new(H2Stream { stream, websocket, ..H2Stream::default() })),
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
            H2Event::Data { stream, end_stream, .. } => {
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
            H2Event::Ping { .. } | H2Event::WindowUpdate { .. } | H2Event::PushPromise { .. } => {}
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
