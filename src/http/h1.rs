//! The HTTP/1.1 side of a connection up to its WebSocket upgrade, sans-IO: each side's in-order
//! bytes go in, typed [`H1Event`]s come out, and on a 101 the bytes after the head are handed
//! back with an [`Upgrade`] for the layer above. Pipelined and keep-alive exchanges, 1xx
//! answers, bodies of known length skipped (a preview kept), heads cut by a snaplen or a gap
//! read for their whole lines, and frames a client sends before the 101 held until it comes
//! (RFC 9112 §6, §9.3; RFC 6455 §4.1, §4.2.2).

use super::{HandshakeProblem, HttpError, MAX_HEAD, Parsed, Request, Response};
use crate::text::Text;
use crate::units::{At, PerSide, Side};
use std::collections::VecDeque;

/// Bytes of a non-101 body kept.
const BODY_PREVIEW: usize = 200;
/// HTTP exchanges parsed per connection before the rest is only counted.
const MAX_EXCHANGES: u32 = 32;

/// One HTTP request and, once seen, its response.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    pub request: Option<(Request, At)>,
    pub response: Option<(Response, At)>,
    /// The first bytes of a non-101 response body.
    pub body: Vec<u8>,
}

/// What the exchanges of one connection showed: the upgrade exchange (or the first exchange
/// when none asked to upgrade) and what went wrong on the way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct H1Facts {
    pub exchange: Option<Box<Exchange>>,
    /// Request heads seen.
    pub exchanges: u32,
    /// The first bytes that were not HTTP where HTTP was due.
    pub error: Option<(Side, HttpError, At)>,
    /// A head was cut short (snaplen or gap): only its whole lines are known.
    pub truncated: bool,
    /// A partial head (or frames sent before the 101) was given up on for memory.
    pub shed: bool,
    /// What is wrong with the 101 (RFC 6455 §4.1).
    pub problems: Vec<HandshakeProblem>,
    /// The 101's Sec-WebSocket-Accept checked against the request's key when both were there
    /// (so the report does not hash the key again).
    pub accept_ok: Option<bool>,
    /// A WebSocket upgrade was asked for, or answered as one (a 426 counts: the server wanted
    /// one and something on the way dropped the headers).
    pub attempted: bool,
}

impl H1Facts {
    pub fn request(&self) -> Option<&(Request, At)> {
        self.exchange.as_ref().and_then(|e| e.request.as_ref())
    }
    pub fn response(&self) -> Option<&(Response, At)> {
        self.exchange.as_ref().and_then(|e| e.response.as_ref())
    }
}

/// What the exchanges said, for the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum H1Event {
    Request { method: Text, uri: Text, upgrade: bool },
    Response { status: u16, reason: Text },
    Error(HttpError),
}

/// The server switched to WebSocket: what the frame layer starts from.
#[derive(Debug, Default)]
pub struct Upgrade {
    /// The extensions the 101 agreed (permessage-deflate among them, if any).
    pub extensions: Vec<super::Extension>,
    /// The 101 was read from a cut head: where either side's frames begin is unknown.
    pub lost: bool,
    /// Client bytes sent after its request head and before the 101 (early frames).
    pub early: Vec<u8>,
    /// Early client bytes were given up on for memory: the client's framing is unknown.
    pub early_lost: bool,
    /// A 2xx to CONNECT: a forward proxy's tunnel opened, and what follows is the target's
    /// protocol (TLS, or an HTTP upgrade), not frames.
    pub tunnel: bool,
}

/// Per-side parsing state.
#[derive(Default)]
struct HttpSide {
    buf: Vec<u8>,
    /// Body bytes still to skip before the next head.
    skip: u64,
    /// A chunked body being skipped (RFC 9112 §7.1), boxed: rare and only between heads.
    chunked: Option<Box<Chunked>>,
    /// Body preview being collected (response side).
    collecting_body: bool,
    /// Gave up on HTTP for this side (body of unknown length, error).
    done: bool,
    /// Frames sent before the 101 were given up on (memory): the frame parser starts lost.
    early_lost: bool,
}

/// Empties a head buffer and gives its memory back: a connection past its heads (a WebSocket,
/// for hours) must not hold, nor be charged in the shared head budget for, a buffer it no
/// longer needs.
fn release(buf: &mut Vec<u8>) {
    *buf = Vec::new();
}

/// A request waiting for its response: what answering it needs to know.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Its number among the connection's requests.
    seq: u32,
    /// It asked for a WebSocket (or is treated as if it did: a cut head).
    websocket: bool,
    /// A forward proxy's CONNECT.
    connect: bool,
    /// It had an `Upgrade` field.
    upgrade: bool,
}

impl Pending {
    fn of(req: &Request, seq: u32) -> Self {
        Pending { seq, websocket: req.wants_websocket(), connect: req.is_connect(), upgrade: req.upgrade.is_some() }
    }
}

/// The HTTP/1.1 state of one connection. What it learns goes into the caller's [`H1Facts`].
#[derive(Default)]
pub struct H1 {
    sides: PerSide<HttpSide>,
    /// Requests waiting for their response, in order (pipelining).
    waiting: VecDeque<Pending>,
    /// The number of the request in the facts' exchange, if it has one.
    exchange_seq: Option<u32>,
}

/// Where the events of one call go.
pub type Events = Vec<(At, Side, H1Event)>;

impl H1 {
    /// Memory held by the head buffers.
    pub fn head_bytes(&self) -> usize {
        self.sides.0.iter().map(|h| h.buf.capacity()).sum()
    }

    /// The next in-order bytes from `side` (`client` if it is the client). Returns the bytes
    /// that follow a 101 and the upgrade, once the server has switched protocols.
    pub fn data<'b>(
        &mut self,
        side: Side,
        client: bool,
        mut bytes: &'b [u8],
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> Option<(Upgrade, &'b [u8])> {
        while !bytes.is_empty() {
            let h = &mut self.sides[side];
            if h.done {
                return None;
            }
            if let Some(c) = h.chunked.as_deref_mut() {
                let collecting = h.collecting_body;
                let mut preview = |d: &[u8]| {
                    if collecting && let Some(ex) = facts.exchange.as_mut() {
                        let room = BODY_PREVIEW.saturating_sub(ex.body.len());
                        ex.body.extend_from_slice(&d[..room.min(d.len())]);
                    }
                };
                match c.feed(bytes, &mut preview) {
                    Some((used, done)) => {
                        bytes = &bytes[used..];
                        if done {
                            h.chunked = None;
                            h.collecting_body = false;
                        }
                    }
                    None => {
                        // Not chunked coding after all: stop reading heads on this side.
                        h.chunked = None;
                        h.done = true;
                        return None;
                    }
                }
                continue;
            }
            if h.skip > 0 {
                let n = h.skip.min(bytes.len() as u64) as usize;
                if h.collecting_body
                    && let Some(ex) = facts.exchange.as_mut()
                {
                    let room = BODY_PREVIEW.saturating_sub(ex.body.len());
                    ex.body.extend_from_slice(&bytes[..room.min(n)]);
                }
                h.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            if facts.exchanges >= MAX_EXCHANGES {
                h.done = true;
                return None;
            }
            if client && self.upgrade_waiting() {
                // Frames sent before the answer: kept until the 101 says what they are.
                let h = &mut self.sides[side];
                let room = MAX_HEAD.saturating_sub(h.buf.len());
                h.buf.extend_from_slice(&bytes[..room.min(bytes.len())]);
                return None;
            }
            let h = &mut self.sides[side];
            let start_len = h.buf.len();
            let take = (MAX_HEAD + 1).saturating_sub(start_len).min(bytes.len());
            // A head that starts in these bytes is read from them; only a partial one is kept.
            let head: std::borrow::Cow<'_, [u8]> = if start_len == 0 {
                std::borrow::Cow::Borrowed(&bytes[..take])
            } else {
                h.buf.extend_from_slice(&bytes[..take]);
                std::borrow::Cow::Owned(std::mem::take(&mut h.buf))
            };
            let parsed = if client {
                self.parse_request(&head, side, at, facts, out)
            } else {
                self.parse_response(&head, side, at, facts, out)
            };
            if matches!(parsed, Ok(Head::Partial)) {
                self.sides[side].buf = head.into_owned();
            }
            match parsed {
                Ok(Head::Partial) => {
                    if take < bytes.len() {
                        // Over MAX_HEAD and still partial: the parser says so next call.
                        continue;
                    }
                    return None;
                }
                Ok(Head::Done(head_len, upgrade)) => {
                    let used = head_len.saturating_sub(start_len);
                    release(&mut self.sides[side].buf);
                    bytes = &bytes[used.min(bytes.len())..];
                    if let Some(u) = upgrade {
                        return Some((u, bytes));
                    }
                }
                Err(e) => {
                    let h = &mut self.sides[side];
                    h.done = true;
                    release(&mut h.buf);
                    if facts.error.is_none() {
                        facts.error = Some((side, e.clone(), at));
                        out.push((at, side, H1Event::Error(e)));
                    }
                    return None;
                }
            }
        }
        None
    }

    /// `len` bytes from `side` the capture does not have.
    pub fn gap(
        &mut self,
        side: Side,
        client: bool,
        len: u64,
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> Option<Upgrade> {
        let h = &mut self.sides[side];
        if h.skip >= len {
            h.skip -= len;
        } else if !h.buf.is_empty() && !h.done {
            return self.truncated_head(side, client, at, facts, out);
        } else {
            h.done = true;
            release(&mut h.buf);
        }
        None
    }

    /// All flows together hold too much in HTTP buffers: give up on this one's. A partial head
    /// keeps what its whole lines say (as when a snaplen cuts it); frames sent before the 101
    /// are dropped, and the frame parser finds frames again after the 101. Returns the bytes
    /// given up on, and the upgrade if a cut 101 was read.
    pub fn shed(
        &mut self,
        client_side: Option<Side>,
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> (u64, Option<Upgrade>) {
        let mut dropped = 0;
        let mut upgrade = None;
        for side in Side::BOTH {
            let h = &self.sides[side];
            if h.buf.capacity() == 0 {
                continue;
            }
            dropped += h.buf.len() as u64;
            let client = client_side == Some(side);
            let early = client && self.upgrade_waiting();
            if early || h.buf.is_empty() {
                let h = &mut self.sides[side];
                release(&mut h.buf);
                h.early_lost |= early;
            } else {
                upgrade = upgrade.or(self.truncated_head(side, client, at, facts, out));
                release(&mut self.sides[side].buf);
            }
            facts.shed = true;
        }
        (dropped, upgrade)
    }

    fn upgrade_waiting(&self) -> bool {
        self.waiting.back().is_some_and(|p| p.websocket || p.connect)
    }

    /// A head cut by a gap (a snaplen, lost packets): keep what its whole lines say. Where the
    /// head ended is unknown, so frames after a 101 are found again at a segment start.
    fn truncated_head(
        &mut self,
        side: Side,
        client: bool,
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> Option<Upgrade> {
        let buf = std::mem::take(&mut self.sides[side].buf);
        if client {
            if let Some(req) = super::parse_request_partial(&buf) {
                if !self.upgrade_waiting() {
                    facts.exchanges += 1;
                    out.push((
                        at,
                        side,
                        H1Event::Request {
                            method: req.method.clone(),
                            uri: req.uri.clone(),
                            upgrade: req.wants_websocket(),
                        },
                    ));
                    // Unknown headers may have asked for an upgrade: treat it as one.
                    let pending = Pending { websocket: true, upgrade: true, ..Pending::of(&req, facts.exchanges) };
                    if facts.exchange.is_none() {
                        facts.exchange =
                            Some(Box::new(Exchange { request: Some((req, at)), response: None, body: Vec::new() }));
                        self.exchange_seq = Some(pending.seq);
                    }
                    facts.truncated = true;
                    self.waiting.push_back(pending);
                }
                return None;
            }
        } else if let Some(resp) = super::parse_response_partial(&buf) {
            facts.truncated = true;
            out.push((at, side, H1Event::Response { status: resp.status, reason: resp.reason.clone() }));
            let req = self.waiting.pop_front();
            let status = resp.status;
            facts
                .exchange
                .get_or_insert_with(|| Box::new(Exchange { request: None, response: None, body: Vec::new() }))
                .response = Some((resp, at));
            self.sides[side].done = status != 101;
            if status == 101 {
                facts.attempted = true;
                release(&mut self.sides[side.other()].buf);
                return Some(Upgrade { lost: true, ..Upgrade::default() });
            } else if status == 426 || req.is_some_and(|p| p.upgrade) {
                facts.attempted = true;
            }
            return None;
        }
        self.sides[side].done = true;
        None
    }

    /// Parses a client head from `buf` (the segment's bytes, or what was buffered before them).
    fn parse_request(
        &mut self,
        buf: &[u8],
        side: Side,
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> Result<Head, HttpError> {
        if !super::looks_like_request(buf) {
            return Err(HttpError::Malformed("client bytes are not an HTTP request".into()));
        }
        let Parsed::Done { head, len } = super::parse_request(buf)? else { return Ok(Head::Partial) };
        let h = &mut self.sides[side];
        h.skip = head.content_length.unwrap_or(0);
        facts.exchanges += 1;
        let upgrade = head.wants_websocket();
        out.push((at, side, H1Event::Request { method: head.method.clone(), uri: head.uri.clone(), upgrade }));
        // A forward proxy's CONNECT: a WebSocket (wss or ws) may ride in the tunnel it asks for.
        let connect = head.is_connect();
        let have_upgrade = facts.request().is_some_and(|(r, _)| r.wants_websocket() || r.is_connect());
        let pending = Pending::of(&head, facts.exchanges);
        self.waiting.push_back(pending);
        if facts.exchange.is_none() || ((upgrade || connect) && !have_upgrade) {
            facts.exchange = Some(Box::new(Exchange { request: Some((head, at)), response: None, body: Vec::new() }));
            self.exchange_seq = Some(pending.seq);
            facts.attempted |= upgrade || connect;
        }
        Ok(Head::Done(len, None))
    }

    /// Parses a server head from `buf` (the segment's bytes, or what was buffered before them).
    fn parse_response(
        &mut self,
        buf: &[u8],
        side: Side,
        at: At,
        facts: &mut H1Facts,
        out: &mut Events,
    ) -> Result<Head, HttpError> {
        if !super::looks_like_response(buf) {
            return Err(HttpError::Malformed("server bytes are not an HTTP response".into()));
        }
        let Parsed::Done { head, len } = super::parse_response(buf)? else { return Ok(Head::Partial) };
        out.push((at, side, H1Event::Response { status: head.status, reason: head.reason.clone() }));
        if (100..200).contains(&head.status) && head.status != 101 {
            return Ok(Head::Done(len, None));
        }
        let req = self.waiting.pop_front();
        let is_ours = match (&facts.exchange, &req) {
            (Some(ex), Some(p)) => ex.request.is_some() && self.exchange_seq == Some(p.seq),
            (Some(ex), None) => ex.request.is_none() && ex.response.is_none(),
            (None, _) => true,
        };
        let exchange = facts
            .exchange
            .get_or_insert_with(|| Box::new(Exchange { request: None, response: None, body: Vec::new() }));
        if !is_ours {
            // A response to another request on a keep-alive connection: skip its body.
            let h = &mut self.sides[side];
            match (head.content_length, head.chunked) {
                (_, true) => h.chunked = Some(Box::default()),
                (Some(n), false) => h.skip = n,
                _ if head.status == 204 || head.status == 304 => {}
                _ => h.done = true,
            }
            return Ok(Head::Done(len, None));
        }
        facts.attempted |= head.status == 426 || head.upgrade_ok();
        if (200..300).contains(&head.status) && req.is_some_and(|p| p.connect) {
            // The tunnel is open (RFC 9110 §9.3.6): the bytes after this head are the target's.
            exchange.response = Some((head, at));
            let other = &mut self.sides[side.other()];
            let upgrade = Upgrade {
                early: std::mem::take(&mut other.buf),
                early_lost: other.early_lost,
                tunnel: true,
                ..Upgrade::default()
            };
            return Ok(Head::Done(len, Some(upgrade)));
        }
        if head.status == 101 {
            // The request answered is the exchange's (`is_ours`).
            if req.is_some()
                && let Some((r, _)) = &exchange.request
            {
                facts.problems = super::validate_101(r, &head);
                let wrong = |p: &HandshakeProblem| matches!(p, HandshakeProblem::AcceptWrong { .. });
                facts.accept_ok = r.key.as_ref().and(head.accept.as_ref()).map(|_| !facts.problems.iter().any(wrong));
            }
            let extensions = head.extensions.clone();
            exchange.response = Some((head, at));
            facts.attempted = true;
            // Client bytes that arrived after the request head belong to the frames.
            let other = &mut self.sides[side.other()];
            let upgrade = Upgrade {
                extensions,
                lost: false,
                early: std::mem::take(&mut other.buf),
                early_lost: other.early_lost,
                tunnel: false,
            };
            return Ok(Head::Done(len, Some(upgrade)));
        }
        let h = &mut self.sides[side];
        // Chunked or until close: keep a preview, stop parsing heads on this side.
        h.skip = match (head.content_length, head.chunked) {
            // Chunked: skipped chunk by chunk, so that a next head (an upgrade on the same
            // connection, as Socket.IO's polling → websocket step does) is read.
            (_, true) => {
                h.chunked = Some(Box::default());
                0
            }
            (Some(n), false) => n,
            _ => u64::MAX,
        };
        h.collecting_body = true;
        exchange.response = Some((head, at));
        Ok(Head::Done(len, None))
    }
}

/// Where a chunked body stands (RFC 9112 §7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// The chunk size's hex digits.
    #[default]
    Size,
    /// After the size: extensions or whitespace, up to the line's end.
    Ext,
    /// A chunk's data: bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk: bytes on the current line.
    Trailer(u32),
}

/// Skips a chunked body, handing its data to a preview.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: u64,
    /// Digits of the current size (a size of more than 15 hex digits is not a chunk size).
    digits: u8,
}

impl Chunked {
    /// Feeds body bytes: how many were used and whether the body ended (the bytes after it
    /// are the next head), or None if these are not chunked coding.
    fn feed(&mut self, bytes: &[u8], data: &mut impl FnMut(&[u8])) -> Option<(usize, bool)> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                ChunkState::Data(n) => {
                    let take = n.min((bytes.len() - i) as u64) as usize;
                    data(&bytes[i..i + take]);
                    i += take;
                    self.state = if n == take as u64 { ChunkState::DataEnd } else { ChunkState::Data(n - take as u64) };
                    continue;
                }
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        self.digits += 1;
                        if self.digits > 15 {
                            return None;
                        }
                        self.size = self.size * 16 + u64::from(d);
                    }
                    _ if self.digits == 0 => return None,
                    b';' | b' ' | b'\t' | b'\r' => self.state = ChunkState::Ext,
                    b'\n' => self.end_size_line(),
                    _ => return None,
                },
                ChunkState::Ext => {
                    if b == b'\n' {
                        self.end_size_line();
                    }
                }
                ChunkState::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => self.state = ChunkState::Size,
                    _ => return None,
                },
                ChunkState::Trailer(n) => match b {
                    b'\r' => {}
                    b'\n' if n == 0 => return Some((i + 1, true)),
                    b'\n' => self.state = ChunkState::Trailer(0),
                    _ if n as usize >= super::MAX_HEAD => return None,
                    _ => self.state = ChunkState::Trailer(n + 1),
                },
            }
            i += 1;
        }
        Some((i, false))
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 { ChunkState::Trailer(0) } else { ChunkState::Data(self.size) };
        self.size = 0;
        self.digits = 0;
    }
}

/// A head parse: incomplete, or complete with its length (and the upgrade if it was a 101).
enum Head {
    Partial,
    Done(usize, Option<Upgrade>),
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"74\r\n0{\"sid\":\"mAd3ljyYuqVo3ytXAAAA\",\"upgrades\":[\"websocket\"],\"pingTimeout\":1000,\"pingInterval\":1000,\"maxPayload\":1000000}\r\n0\r\n\r\nGET /next";

    /// Feeds `body` in pieces of `step` bytes: the data seen and where the body ended.
    fn feed(body: &[u8], step: usize) -> Option<(Vec<u8>, usize)> {
        let mut c = Chunked::default();
        let mut seen = Vec::new();
        let mut at = 0;
        for piece in body.chunks(step) {
            let (used, done) = c.feed(piece, &mut |d| seen.extend_from_slice(d))?;
            if done {
                return Some((seen, at + used));
            }
            assert_eq!(used, piece.len());
            at += used;
        }
        None
    }

    #[test]
    fn a_chunked_body_ends_where_the_next_head_begins_whatever_the_segments() {
        let end = BODY.len() - b"GET /next".len();
        for step in 1..=BODY.len() {
            let (data, used) = feed(BODY, step).unwrap_or_else(|| panic!("step {step}: not chunked?"));
            assert_eq!(used, end, "step {step}");
            assert_eq!(data.len(), 0x74, "step {step}");
            assert!(data.starts_with(b"0{\"sid\""));
        }
        // Extensions, upper-case hex, a trailer field, bare LFs (RFC 9112 §2.2 tolerates them).
        let odd = b"A;name=value\r\n0123456789\r\n1F \n0123456789012345678901234567890\n0\r\nExpires: never\r\n\r\n";
        let (data, used) = feed(odd, 3).unwrap_or_else(|| unreachable!());
        assert_eq!((data.len(), used), (10 + 31, odd.len()));
        // Not chunked coding: said so, not skipped forever.
        assert!(feed(b"zz\r\nhello\r\n0\r\n\r\n", 4).is_none());
        assert!(feed(b"1234567890abcdef0\r\n", 4).is_none(), "a size of 17 hex digits");
        // Truncated anywhere: still waiting, never done, never a panic.
        for cut in 0..end {
            assert!(feed(&BODY[..cut], 7).is_none_or(|(_, u)| u == end), "cut {cut}");
        }
    }

    /// Socket.IO's polling request and its chunked answer, then the upgrade on the same
    /// connection: the 101 is read.
    #[test]
    fn an_upgrade_after_a_chunked_answer_on_the_same_connection() {
        let mut h = H1::default();
        let mut facts = H1Facts::default();
        let mut out = Events::new();
        let at = At::default();
        let poll = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: h\r\n\r\n";
        let answer =
            [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(), BODY.split_at(BODY.len() - 9).0]
                .concat();
        let up = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(h.data(Side::A, true, poll, at, &mut facts, &mut out).is_none());
        assert!(h.data(Side::B, false, &answer, at, &mut facts, &mut out).is_none());
        assert!(h.data(Side::A, true, up, at, &mut facts, &mut out).is_none());
        assert!(h.data(Side::B, false, ok, at, &mut facts, &mut out).is_some(), "{out:?}");
        assert_eq!(facts.response().map(|(r, _)| r.status), Some(101));
    }

    #[test]
    fn the_accept_is_checked_once_when_the_101_comes() {
        let up = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let answer = |accept: &str| {
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n")
        };
        for (accept, want) in [
            ("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", Some(true)),
            ("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n", Some(false)),
            ("", None),
        ] {
            let (mut h, mut facts, mut out, at) = (H1::default(), H1Facts::default(), Events::new(), At::default());
            assert!(h.data(Side::A, true, up, at, &mut facts, &mut out).is_none());
            assert!(h.data(Side::B, false, answer(accept).as_bytes(), at, &mut facts, &mut out).is_some());
            assert_eq!(facts.accept_ok, want, "{accept:?}");
            assert_eq!(facts.problems.is_empty(), want == Some(true), "{accept:?}: {:?}", facts.problems);
        }
    }
}
