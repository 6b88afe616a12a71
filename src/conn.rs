//! The per-connection driver, the only place that knows every parsing stage: TCP segments go
//! through the assemblers, in-order bytes go to HTTP until a 101, then to the frame parsers,
//! with the bytes left after a head handed on (Suricata's app-layer-htp does the same).

use crate::http::{self, Parsed};
use crate::tcp::{Assembler, Budget, Meta, Sink};
use crate::timeline::{App, At, ClientBy, CloseRec, EventKind, Exchange, MAX_MESSAGE_EVENTS, Timeline};
use crate::units::{PerSide, Role, Side};
use crate::wire::{Endpoint, TcpSegment};
use crate::ws::deflate::{DeflateParams, Inflater};
use crate::ws::{FrameParser, OpCode, WsEvent};

/// Settings that change what the connection layer does.
#[derive(Clone, Copy, Debug)]
pub struct ConnConfig {
    /// Out-of-order bytes buffered per direction.
    pub reorder_cap: usize,
    /// Inflate permessage-deflate messages (for previews and UTF-8 checks).
    pub inflate: bool,
    /// Keep the timeline's events. Only the JSON and the ladder show them, and no diagnosis
    /// reads them; the [`crate::Analyzer`] sets this from `ReportOptions::no_timeline`.
    pub events: bool,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig { reorder_cap: 256 * 1024, inflate: true, events: true }
    }
}

/// Bytes of a non-101 body kept.
const BODY_PREVIEW: usize = 200;
/// HTTP exchanges parsed per connection before the rest is only counted.
const MAX_EXCHANGES: u32 = 32;

enum Phase {
    /// No payload yet.
    Start,
    /// HTTP/1.x exchanges.
    Http,
    /// After a 101 (or frames found mid-connection).
    WebSocket,
    /// Something else: bytes are only counted.
    Opaque,
}

/// Per-side HTTP parsing state.
#[derive(Default)]
struct HttpSide {
    buf: Vec<u8>,
    /// Body bytes still to skip before the next head.
    skip: u64,
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

struct AppLayer {
    phase: Phase,
    http: PerSide<HttpSide>,
    /// Requests waiting for their response, in order (pipelining).
    waiting: std::collections::VecDeque<(http::Request, At)>,
    ws: PerSide<Option<Box<FrameParser>>>,
    cfg: ConnConfig,
    events: Vec<WsEvent>,
}

/// One TCP connection being analysed.
pub struct Conn {
    pub tl: Timeline,
    /// Side A's end, as segments carry it (finding a segment's side compares these).
    pub a: Endpoint,
    asm: PerSide<Assembler>,
    app: AppLayer,
}

impl Conn {
    pub fn new(id: u64, a: impl Into<Endpoint>, b: impl Into<Endpoint>, at: At, cfg: ConnConfig) -> Self {
        let (a, b) = (a.into(), b.into());
        let mut tl = Timeline::new(id, a.addr(), b.addr(), at);
        tl.keep_events = cfg.events;
        Conn {
            tl,
            a,
            asm: PerSide([Assembler::new(cfg.reorder_cap), Assembler::new(cfg.reorder_cap)]),
            app: AppLayer {
                phase: Phase::Start,
                http: PerSide::default(),
                waiting: Default::default(),
                ws: PerSide([None, None]),
                cfg,
                events: Vec::new(),
            },
        }
    }

    /// Memory the connection holds beyond its fixed size, roughly.
    pub fn buffered(&self) -> usize {
        self.asm.0.iter().map(Assembler::pending_bytes).sum::<usize>() + self.head_bytes()
    }

    /// Memory held by the HTTP buffers.
    fn head_bytes(&self) -> usize {
        self.app.http.0.iter().map(|h| h.buf.capacity()).sum()
    }

    /// All flows together hold too much in HTTP buffers: give up on this one's. A partial head
    /// keeps what its whole lines say (as when a snaplen cuts it); frames sent before the 101
    /// are dropped, and the frame parser finds frames again after the 101.
    fn shed_heads(&mut self, at: At, budget: &mut Budget) {
        for side in Side::BOTH {
            let h = &self.app.http[side];
            if h.buf.capacity() == 0 {
                continue;
            }
            budget.heads_dropped += h.buf.len() as u64;
            let early =
                self.tl.client == Some(side) && self.app.waiting.back().is_some_and(|(r, _)| r.wants_websocket());
            if early || h.buf.is_empty() {
                let h = &mut self.app.http[side];
                release(&mut h.buf);
                h.early_lost |= early;
            } else {
                let mut sink = AppSink { side, tl: &mut self.tl, app: &mut self.app };
                sink.truncated_head(at);
                release(&mut self.app.http[side].buf);
            }
            self.tl.head_shed = true;
        }
    }

    /// A new SYN on this 4-tuple after the connection ended means port reuse.
    pub fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        seg.flags.syn() && !seg.flags.ack() && self.tl.tcp_ended()
    }

    /// Feeds one segment sent by `side`.
    pub fn segment(&mut self, side: Side, seg: &TcpSegment<'_>, at: At, budget: &mut Budget) {
        let heads_before = self.head_bytes();
        self.segment_inner(side, seg, at, budget);
        let heads_after = self.head_bytes();
        budget.heads = (budget.heads + heads_after).saturating_sub(heads_before);
        if heads_after > 0 && budget.heads > budget.heads_limit {
            self.shed_heads(at, budget);
            budget.heads = budget.heads.saturating_sub(heads_after.saturating_sub(self.head_bytes()));
        }
    }

    fn segment_inner(&mut self, side: Side, seg: &TcpSegment<'_>, at: At, budget: &mut Budget) {
        let tl = &mut self.tl;
        tl.packets += 1;
        tl.last = at;
        let meta = Meta { packet: at.packet, ts: at.ts };
        let f = seg.flags;
        if f.syn() {
            if f.ack() {
                if tl.syn_ack[side].is_none() {
                    tl.syn_ack[side] = Some(at);
                    tl.push(at, side, EventKind::SynAck);
                    if tl.client_by != ClientBy::Syn {
                        tl.client = Some(side.other());
                        tl.client_by = ClientBy::SynAck;
                    }
                }
            } else if tl.syn[side].is_none() {
                tl.syn[side] = Some(at);
                tl.push(at, side, EventKind::Syn);
                if tl.client.is_none() || tl.client_by != ClientBy::Syn {
                    tl.client = Some(side);
                    tl.client_by = ClientBy::Syn;
                }
            }
            self.asm[side].syn(seg.seq);
        }
        let wire = seg.wire_len();
        let mut sink = AppSink { side, tl: &mut self.tl, app: &mut self.app };
        if wire > 0 {
            let before = self.asm[side].stats.delivered + self.asm[side].stats.gap_bytes;
            self.asm[side].segment(seg.seq, seg.payload, seg.missing, meta, budget, &mut sink);
            let after = self.asm[side].stats.delivered + self.asm[side].stats.gap_bytes;
            if after > before || self.asm[side].pending_bytes() > 0 {
                sink.tl.last_payload[side] = Some(at);
            }
        }
        if f.ack() {
            let mut sink = AppSink { side: side.other(), tl: &mut self.tl, app: &mut self.app };
            self.asm[side.other()].peer_ack(seg.ack, meta, budget, &mut sink);
        }
        let tl = &mut self.tl;
        if f.fin() {
            self.asm[side].fin(seg.seq, wire);
            if tl.fin[side].is_none() {
                tl.fin[side] = Some(at);
                tl.push(at, side, EventKind::Fin);
            }
        }
        if f.rst() {
            if tl.rst[side].is_none() {
                tl.rst[side] = Some(at);
                tl.push(at, side, EventKind::Rst);
            }
            for s in Side::BOTH {
                let mut sink = AppSink { side: s, tl: &mut self.tl, app: &mut self.app };
                self.asm[s].flush(budget, &mut sink);
            }
        }
    }

    /// The capture ended (or the connection is evicted): deliver what is buffered.
    pub fn finish(mut self, budget: &mut Budget) -> Timeline {
        let heads_before = self.head_bytes();
        for s in Side::BOTH {
            let mut sink = AppSink { side: s, tl: &mut self.tl, app: &mut self.app };
            self.asm[s].flush(budget, &mut sink);
            self.tl.tcp[s] = self.asm[s].stats;
            self.tl.bytes[s] = self.asm[s].stats.delivered + self.asm[s].stats.gap_bytes;
            if let Some(p) = &self.app.ws[s] {
                self.tl.frames[s] = p.counts;
            }
        }
        let tl = &mut self.tl;
        tl.partial = tl.syn.0.iter().chain(tl.syn_ack.0.iter()).all(Option::is_none);
        if self.tl.client.is_none() {
            self.tl.client = Some(Side::A);
            self.tl.client_by = ClientBy::Guess;
        }
        // Whatever the flush added, the connection's buffers go with it.
        budget.heads = budget.heads.saturating_sub(heads_before);
        self.tl
    }
}

/// Receives one side's in-order bytes and drives the application layers.
struct AppSink<'a> {
    side: Side,
    tl: &'a mut Timeline,
    app: &'a mut AppLayer,
}

impl Sink for AppSink<'_> {
    fn data(&mut self, bytes: &[u8], meta: Meta) {
        let at = At { ts: meta.ts, packet: meta.packet };
        let mut rest = bytes;
        // Each phase may hand leftover bytes to the next.
        for _ in 0..4 {
            if rest.is_empty() {
                return;
            }
            rest = match self.app.phase {
                Phase::Start => self.start(rest, at),
                Phase::Http => self.http(rest, at),
                Phase::WebSocket => {
                    self.ws_data(rest, meta);
                    &[]
                }
                Phase::Opaque => &[],
            };
        }
    }

    fn gap(&mut self, len: u64, meta: Meta) {
        let at = At { ts: meta.ts, packet: meta.packet };
        match self.app.phase {
            Phase::WebSocket => {
                let side = self.side;
                if let Some(p) = self.app.ws[side].as_mut() {
                    let mut evs = std::mem::take(&mut self.app.events);
                    p.gap(len, meta, &mut evs);
                    self.ws_events(&mut evs);
                    self.app.events = evs;
                }
            }
            Phase::Http => {
                let h = &mut self.app.http[self.side];
                if h.skip >= len {
                    h.skip -= len;
                } else if !h.buf.is_empty() && !h.done {
                    self.truncated_head(at);
                } else {
                    h.done = true;
                    release(&mut h.buf);
                }
            }
            Phase::Start | Phase::Opaque => {}
        }
        self.tl.push(at, self.side, EventKind::Gap { bytes: len });
    }
}

impl AppSink<'_> {
    /// A head cut by a gap (a snaplen, lost packets): keep what its whole lines say. Where the
    /// head ended is unknown, so frames after a 101 are found again at a segment start.
    fn truncated_head(&mut self, at: At) {
        let side = self.side;
        let buf = std::mem::take(&mut self.app.http[side].buf);
        let is_client = self.tl.client == Some(side);
        if is_client {
            if let Some(req) = http::parse_request_partial(&buf) {
                let was_upgrade = self.app.waiting.back().is_some_and(|(r, _)| r.wants_websocket());
                if !was_upgrade {
                    self.tl.http_exchanges += 1;
                    self.tl.push(
                        at,
                        side,
                        EventKind::Request {
                            method: req.method.clone(),
                            uri: req.uri.clone(),
                            upgrade: req.wants_websocket(),
                        },
                    );
                    if self.tl.exchange.is_none() {
                        self.tl.exchange = Some(Box::new(Exchange {
                            request: Some((req.clone(), at)),
                            response: None,
                            body: Vec::new(),
                        }));
                    }
                    self.tl.head_truncated = true;
                    // Unknown headers may have asked for an upgrade: treat it as one.
                    let mut req = req;
                    req.upgrade.get_or_insert_with(|| "websocket".into());
                    self.app.waiting.push_back((req, at));
                }
                return;
            }
        } else if let Some(resp) = http::parse_response_partial(&buf) {
            self.tl.head_truncated = true;
            self.tl.push(at, side, EventKind::Response { status: resp.status, reason: resp.reason.clone() });
            let req = self.app.waiting.pop_front();
            if self.tl.exchange.is_none() {
                self.tl.exchange = Some(Box::new(Exchange { request: None, response: None, body: Vec::new() }));
            }
            let status = resp.status;
            if let Some(ex) = self.tl.exchange.as_mut() {
                ex.response = Some((resp, at));
            }
            if status == 101 {
                self.tl.app = App::WebSocket;
                self.start_ws(None, at);
                for s in Side::BOTH {
                    if let Some(p) = self.app.ws[s].as_mut() {
                        p.set_lost();
                    }
                }
                release(&mut self.app.http[side.other()].buf);
            } else if status == 426 || req.is_some_and(|(r, _)| r.upgrade.is_some()) {
                self.tl.app = App::WebSocket;
            }
            self.app.http[side].done = status != 101;
            return;
        }
        self.app.http[side].done = true;
    }

    fn set_client(&mut self, side: Side, by: ClientBy) {
        if matches!(self.tl.client_by, ClientBy::Syn | ClientBy::SynAck) && self.tl.client.is_some() {
            return;
        }
        self.tl.client = Some(side);
        self.tl.client_by = by;
    }

    /// The first bytes of the connection decide what it carries; returns the bytes left.
    #[inline(never)]
    fn start<'b>(&mut self, bytes: &'b [u8], at: At) -> &'b [u8] {
        let side = self.side;
        let known_client = matches!(self.tl.client_by, ClientBy::Syn | ClientBy::SynAck);
        let from_client = self.tl.client == Some(side);
        if let Some(n) = http::proxy_header_len(bytes).filter(|_| !known_client || from_client) {
            // A load balancer's PROXY protocol header: the request follows.
            if self.tl.proxy_header.is_none() {
                let text = if bytes.starts_with(b"PROXY ") {
                    String::from_utf8_lossy(&bytes[..n]).trim().to_string()
                } else {
                    format!("PROXY protocol v2 header ({n} bytes)")
                };
                self.tl.proxy_header = Some(text);
            }
            return &bytes[n..];
        }
        if http::looks_like_request(bytes) && (!known_client || from_client) {
            self.set_client(side, ClientBy::Request);
            self.app.phase = Phase::Http;
            self.tl.app = App::Http;
        } else if http::looks_like_response(bytes) && (!known_client || !from_client) {
            // The capture missed the request: the other side is the client.
            self.set_client(side.other(), ClientBy::Response);
            self.app.phase = Phase::Http;
            self.tl.app = App::Http;
        } else if bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 {
            self.tl.app = App::Tls;
            self.app.phase = Phase::Opaque;
        } else if let Some(client) = self.guess_frames(bytes) {
            // Mid-connection: frames, masked from the client (RFC 6455 §5.1).
            self.set_client(client, ClientBy::Masking);
            self.tl.app = App::WebSocket;
            self.start_ws(None, at);
        } else {
            self.tl.app = App::Other;
            self.app.phase = Phase::Opaque;
        }
        bytes
    }

    /// Do these bytes begin with WebSocket frames? Returns the client side if so.
    fn guess_frames(&self, bytes: &[u8]) -> Option<Side> {
        let h = crate::ws::frame::parse_header(bytes).ok()??;
        let op_ok = matches!(
            h.opcode,
            OpCode::Text | OpCode::Binary | OpCode::Continuation | OpCode::Ping | OpCode::Pong | OpCode::Close
        );
        let ctl_ok = !h.opcode.is_control() || (h.fin && h.len <= 125);
        let fits = h.header_len as u64 + h.len <= bytes.len() as u64 + 1_000_000;
        let rsv_ok = h.rsv & 0b011 == 0;
        if !(op_ok && ctl_ok && fits && rsv_ok) {
            return None;
        }
        // A lone frame header in a segment that ends exactly at its end is strong evidence.
        let exact = h.header_len as u64 + h.len == bytes.len() as u64;
        if !exact && bytes.len() < 6 {
            return None;
        }
        Some(if h.mask.is_some() { self.side } else { self.side.other() })
    }

    fn start_ws(&mut self, deflate: Option<DeflateParams>, at: At) {
        self.app.phase = Phase::WebSocket;
        self.tl.upgraded_at.get_or_insert(at);
        let mid = deflate.is_none() && (self.tl.exchange.is_none() || self.tl.head_truncated);
        for side in Side::BOTH {
            let role = self.tl.role_of(side);
            let inflater = match (&deflate, self.app.cfg.inflate) {
                (Some(d), true) => Some(Inflater::new(match role {
                    Role::Client => d.client_no_context_takeover,
                    Role::Server => d.server_no_context_takeover,
                })),
                _ => None,
            };
            // Mid-connection we cannot know whether RSV1 was negotiated: allow it.
            self.app.ws[side] = Some(Box::new(FrameParser::new(role, deflate.is_some() || mid, inflater)));
        }
        self.tl.deflate = deflate;
    }

    /// HTTP phase: returns bytes left for the next phase.
    #[inline(never)]
    fn http<'b>(&mut self, mut bytes: &'b [u8], at: At) -> &'b [u8] {
        let side = self.side;
        let is_client = self.tl.client == Some(side);
        while !bytes.is_empty() {
            let h = &mut self.app.http[side];
            if h.done {
                return &[];
            }
            if h.skip > 0 {
                let n = h.skip.min(bytes.len() as u64) as usize;
                if h.collecting_body {
                    if let Some(ex) = self.tl.exchange.as_mut() {
                        let room = BODY_PREVIEW.saturating_sub(ex.body.len());
                        ex.body.extend_from_slice(&bytes[..room.min(n)]);
                    }
                }
                h.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            if self.tl.http_exchanges >= MAX_EXCHANGES {
                h.done = true;
                return &[];
            }
            if is_client && self.app.waiting.back().is_some_and(|(r, _)| r.wants_websocket()) {
                // Frames sent before the answer: kept until the 101 says what they are.
                let h = &mut self.app.http[side];
                let room = http::MAX_HEAD.saturating_sub(h.buf.len());
                h.buf.extend_from_slice(&bytes[..room.min(bytes.len())]);
                return &[];
            }
            let h = &mut self.app.http[side];
            let start_len = h.buf.len();
            let take = (http::MAX_HEAD + 1).saturating_sub(start_len).min(bytes.len());
            h.buf.extend_from_slice(&bytes[..take]);
            let parsed = if is_client { self.parse_request(at) } else { self.parse_response(at) };
            match parsed {
                Ok(None) => {
                    if take < bytes.len() {
                        // Over MAX_HEAD and still partial: the parser says so next call.
                        continue;
                    }
                    return &[];
                }
                Ok(Some(head_len)) => {
                    let used = head_len.saturating_sub(start_len);
                    release(&mut self.app.http[side].buf);
                    bytes = &bytes[used.min(bytes.len())..];
                    if matches!(self.app.phase, Phase::WebSocket) {
                        return bytes;
                    }
                }
                Err(e) => {
                    let h = &mut self.app.http[side];
                    h.done = true;
                    release(&mut h.buf);
                    if self.tl.http_error.is_none() {
                        self.tl.http_error = Some((side, e.to_string(), at));
                        self.tl.push(at, side, EventKind::HttpError(e.to_string()));
                    }
                    return &[];
                }
            }
        }
        &[]
    }

    /// Parses the buffered client head. `Ok(Some(len))` when complete.
    fn parse_request(&mut self, at: At) -> Result<Option<usize>, http::HttpError> {
        let side = self.side;
        let h = &mut self.app.http[side];
        if !http::looks_like_request(&h.buf) {
            return Err(http::HttpError::Malformed("client bytes are not an HTTP request".into()));
        }
        let Parsed::Done { head, len } = http::parse_request(&h.buf)? else { return Ok(None) };
        h.skip = head.content_length.unwrap_or(0);
        self.tl.http_exchanges += 1;
        let upgrade = head.wants_websocket();
        self.tl.push(at, side, EventKind::Request { method: head.method.clone(), uri: head.uri.clone(), upgrade });
        let have_upgrade = self.tl.request().is_some_and(|(r, _)| r.wants_websocket());
        if self.tl.exchange.is_none() || (upgrade && !have_upgrade) {
            self.tl.exchange =
                Some(Box::new(Exchange { request: Some((head.clone(), at)), response: None, body: Vec::new() }));
            if upgrade {
                self.tl.app = App::WebSocket;
            }
        }
        self.app.waiting.push_back((head, at));
        Ok(Some(len))
    }

    fn parse_response(&mut self, at: At) -> Result<Option<usize>, http::HttpError> {
        let side = self.side;
        let h = &mut self.app.http[side];
        if !http::looks_like_response(&h.buf) {
            return Err(http::HttpError::Malformed("server bytes are not an HTTP response".into()));
        }
        let Parsed::Done { head, len } = http::parse_response(&h.buf)? else { return Ok(None) };
        self.tl.push(at, side, EventKind::Response { status: head.status, reason: head.reason.clone() });
        if (100..200).contains(&head.status) && head.status != 101 {
            return Ok(Some(len));
        }
        let req = self.app.waiting.pop_front();
        let is_ours = match (&self.tl.exchange, &req) {
            (Some(ex), Some((r, rat))) => ex.request.as_ref().is_some_and(|(er, eat)| er == r && eat == rat),
            (Some(ex), None) => ex.request.is_none() && ex.response.is_none(),
            (None, _) => true,
        };
        if self.tl.exchange.is_none() {
            self.tl.exchange = Some(Box::new(Exchange { request: None, response: None, body: Vec::new() }));
        }
        if !is_ours {
            // A response to another request on a keep-alive connection: skip its body.
            let h = &mut self.app.http[side];
            match (head.content_length, head.chunked) {
                (Some(n), false) => h.skip = n,
                _ if head.status == 204 || head.status == 304 => {}
                _ => h.done = true,
            }
            return Ok(Some(len));
        }
        if head.status == 426 || head.upgrade_ok() {
            self.tl.app = App::WebSocket;
        }
        let status = head.status;
        if status == 101 {
            if let Some((r, _)) = &req {
                self.tl.handshake_problems = http::validate_101(r, &head);
            }
            let deflate = DeflateParams::from_response(&head.extensions);
            if let Some(ex) = self.tl.exchange.as_mut() {
                ex.response = Some((head, at));
            }
            self.tl.app = App::WebSocket;
            self.start_ws(deflate, at);
            // Client bytes that arrived after the request head belong to the frames.
            let other = side.other();
            let leftover = std::mem::take(&mut self.app.http[other].buf);
            if self.app.http[other].early_lost {
                if let Some(p) = self.app.ws[other].as_mut() {
                    p.set_lost();
                }
            }
            if !leftover.is_empty() {
                let mut s = AppSink { side: other, tl: self.tl, app: self.app };
                s.ws_data(&leftover, Meta { packet: at.packet, ts: at.ts });
            }
            return Ok(Some(len));
        }
        let h = &mut self.app.http[side];
        match (head.content_length, head.chunked) {
            (Some(n), false) => {
                h.skip = n;
                h.collecting_body = true;
            }
            _ => {
                // Chunked or until close: keep a preview, stop parsing heads on this side.
                h.skip = u64::MAX;
                h.collecting_body = true;
            }
        }
        if let Some(ex) = self.tl.exchange.as_mut() {
            ex.response = Some((head, at));
        }
        Ok(Some(len))
    }

    fn ws_data(&mut self, bytes: &[u8], meta: Meta) {
        let side = self.side;
        let Some(p) = self.app.ws[side].as_mut() else { return };
        let mut evs = std::mem::take(&mut self.app.events);
        p.data(bytes, meta, true, &mut evs);
        if !evs.is_empty() {
            self.ws_events(&mut evs);
        }
        self.app.events = evs;
    }

    fn ws_events(&mut self, evs: &mut Vec<WsEvent>) {
        let side = self.side;
        for ev in evs.drain(..) {
            match ev {
                WsEvent::Message { opcode, wire_len, inflated_len, compressed, preview, meta, .. } => {
                    let at = at_of(meta);
                    if let Some(p) = &preview {
                        match heartbeat_kind(p) {
                            Some(true) => self.tl.beats_mut().app_pings[side].record(at),
                            Some(false) => self.tl.beats_mut().app_pongs[side].record(at),
                            None => {}
                        }
                    }
                    if self.tl.message_events[side] < MAX_MESSAGE_EVENTS {
                        self.tl.message_events[side] += 1;
                        let len = inflated_len.unwrap_or(wire_len);
                        self.tl.push(at, side, EventKind::Message { opcode, len, compressed, preview });
                    }
                }
                WsEvent::Ping { len, meta } => {
                    let at = at_of(meta);
                    let b = self.tl.beats_mut();
                    b.pings[side].record(at);
                    if b.pings[side].count <= MAX_MESSAGE_EVENTS {
                        self.tl.push(at, side, EventKind::Ping { len });
                    }
                }
                WsEvent::Pong { len, meta } => {
                    let at = at_of(meta);
                    let b = self.tl.beats_mut();
                    b.pongs[side].record(at);
                    if b.pongs[side].count <= MAX_MESSAGE_EVENTS {
                        self.tl.push(at, side, EventKind::Pong { len });
                    }
                }
                WsEvent::Close { code, reason, incomplete, meta, .. } => {
                    let at = at_of(meta);
                    self.tl.push(at, side, EventKind::Close { code, reason: reason.clone() });
                    if self.tl.closes.len() < 8 {
                        self.tl.closes.push(CloseRec { side, code, reason, at, incomplete });
                    }
                }
                WsEvent::Violation { violation, meta } => {
                    let at = at_of(meta);
                    if self.tl.violations.len() < 32 {
                        self.tl.push(at, side, EventKind::Violation(violation.clone()));
                        self.tl.violations.push((side, violation, at));
                    }
                }
                WsEvent::Desync { meta } => {
                    self.tl.desyncs[side] += 1;
                    self.tl.push(at_of(meta), side, EventKind::Desync);
                }
                WsEvent::Resync { skipped, meta } => self.tl.push(at_of(meta), side, EventKind::Resync { skipped }),
            }
        }
    }
}

fn at_of(m: Meta) -> At {
    At { ts: m.ts, packet: m.packet }
}

/// Is this short text an application heartbeat? `Some(true)` ping, `Some(false)` pong.
pub fn heartbeat_kind(preview: &str) -> Option<bool> {
    // Lowercased on the stack: this runs for every short text message.
    let mut lower = [0u8; 48];
    let p = lower.get_mut(..preview.len())?;
    p.copy_from_slice(preview.as_bytes());
    p.make_ascii_lowercase();
    let has = |w: &[u8]| p.windows(w.len()).any(|x| x == w);
    if has(b"pong") || has(b"heartbeat_ack") || has(b"\"ack\"") {
        Some(false)
    } else if has(b"ping") || has(b"heartbeat") || has(b"keepalive") || has(b"keep-alive") {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats() {
        assert_eq!(heartbeat_kind("{\"type\":\"ping\"}"), Some(true));
        assert_eq!(heartbeat_kind("{\"type\":\"pong\"}"), Some(false));
        assert_eq!(heartbeat_kind("ping"), Some(true));
        assert_eq!(heartbeat_kind("{\"op\":1,\"d\":\"heartbeat\"}"), Some(true));
        assert_eq!(heartbeat_kind("{\"orders\":[1,2,3]}"), None);
        assert_eq!(heartbeat_kind("KeepAlive"), Some(true));
        let pad = |n: usize| format!("{{\"type\":\"PONG\",\"pad\":\"{}\"}}", "x".repeat(n));
        assert_eq!(pad(24).len(), 48);
        assert_eq!(heartbeat_kind(&pad(24)), Some(false));
        assert_eq!(heartbeat_kind(&pad(25)), None, "longer than 48 bytes is a message, not a beat");
    }

    /// Hostile input: an upgrade request, then more than `MAX_HEAD` bytes of early frames
    /// (buffered until the answer), a 403, then one more client byte. The head buffer was
    /// longer than `MAX_HEAD + 1` and `MAX_HEAD + 1 - buf.len()` overflowed.
    #[test]
    fn early_frames_over_max_head_then_refused_then_more() {
        use crate::units::{PacketNo, Timestamp};
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap_or_else(|_| unreachable!());
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let at = |n: u64| At { ts: Timestamp(n as i64), packet: PacketNo(n) };
        let seg = super::head_budget_tests::seg;
        let mut conn = Conn::new(1, c, s, at(1), ConnConfig::default());
        let mut budget = Budget::new(1 << 24);
        let req = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let early = vec![0x81u8; http::MAX_HEAD + 100];
        let resp = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let rq = 101 + req.len() as u32;
        conn.segment(Side::A, &seg(c, s, 100, 0, 0x02, &[]), at(1), &mut budget);
        conn.segment(Side::B, &seg(s, c, 500, 101, 0x12, &[]), at(2), &mut budget);
        conn.segment(Side::A, &seg(c, s, 101, 501, 0x18, req), at(3), &mut budget);
        conn.segment(Side::A, &seg(c, s, rq, 501, 0x18, &early), at(4), &mut budget);
        conn.segment(Side::B, &seg(s, c, 501, rq, 0x18, resp), at(5), &mut budget);
        conn.segment(Side::A, &seg(c, s, rq + early.len() as u32, 501, 0x18, b"x"), at(6), &mut budget);
        let tl = conn.finish(&mut budget);
        assert_eq!(tl.exchange.and_then(|e| e.response).map(|(r, _)| r.status), Some(403));
    }
}

#[cfg(test)]
mod size_tests {
    /// Every live flow costs this much (a SYN flood fills the table): keep rare parts boxed.
    #[test]
    fn a_connection_stays_small() {
        assert!(std::mem::size_of::<super::Conn>() <= 1536, "{}", std::mem::size_of::<super::Conn>());
    }
}

#[cfg(test)]
mod head_budget_tests {
    use super::*;
    use crate::units::{PacketNo, Timestamp};
    use crate::wire::TcpFlags;

    fn addr(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }
    fn at(n: u64) -> At {
        At { ts: Timestamp(n as i64), packet: PacketNo(n) }
    }
    pub(super) fn seg<'a>(
        src: std::net::SocketAddr,
        dst: std::net::SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &'a [u8],
    ) -> TcpSegment<'a> {
        TcpSegment {
            src: src.into(),
            dst: dst.into(),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 0,
            payload,
            missing: 0,
        }
    }

    /// A connection after its handshake, with `head` sent by the client (no end of head yet).
    fn partial(port: u16, head: &[u8], budget: &mut Budget) -> Conn {
        let (c, s) = (addr(&format!("10.0.0.1:{port}")), addr("10.0.0.2:80"));
        let mut conn = Conn::new(u64::from(port), c, s, at(1), ConnConfig::default());
        conn.segment(Side::A, &seg(c, s, 100, 0, 0x02, &[]), at(1), budget);
        conn.segment(Side::B, &seg(s, c, 500, 101, 0x12, &[]), at(2), budget);
        conn.segment(Side::A, &seg(c, s, 101, 501, 0x18, head), at(3), budget);
        conn
    }

    const HEAD: &[u8] = b"GET /ws/orders HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ";

    #[test]
    fn partial_heads_of_all_flows_share_one_limit() {
        let mut budget = Budget::new(1 << 20).with_heads_limit(2048);
        let a = partial(40000, HEAD, &mut budget);
        let held = budget.heads;
        assert!(held >= HEAD.len() && held <= budget.heads_limit, "{held}");
        let b = partial(40001, HEAD, &mut budget);
        assert!(!b.tl.head_shed, "two small heads fit");
        // The third one goes over: its head is given up on, keeping what its lines say.
        let mut big = HEAD.to_vec();
        big.extend(std::iter::repeat_n(b'x', 2000));
        let c = partial(40002, &big, &mut budget);
        assert!(c.tl.head_shed);
        assert!(budget.heads <= budget.heads_limit, "{} over {}", budget.heads, budget.heads_limit);
        assert_eq!(budget.heads_dropped, big.len() as u64);
        assert!(c.tl.head_truncated, "the request line was kept from the partial head");
        assert_eq!(c.tl.request().map(|(r, _)| r.uri.as_str()), Some("/ws/orders"));
        assert!(!a.tl.head_shed && !b.tl.head_shed);
        for conn in [a, b, c] {
            let _ = conn.finish(&mut budget);
        }
        assert_eq!(budget.heads, 0, "finished connections give their head bytes back");
    }

    #[test]
    fn completed_heads_give_their_memory_back() {
        let mut budget = Budget::new(1 << 20);
        let mut head = HEAD.to_vec();
        head.extend(std::iter::repeat_n(b'x', 6000));
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let mut conn = partial(40000, &head, &mut budget);
        assert!(budget.heads >= head.len());
        let rest = b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        conn.segment(Side::A, &seg(c, s, 101 + head.len() as u32, 501, 0x18, rest), at(4), &mut budget);
        assert_eq!(conn.tl.request().map(|(r, _)| r.uri.as_str()), Some("/ws/orders"));
        assert_eq!(budget.heads, 0, "a 6 kB head buffer is freed once the head is parsed");
    }

    #[test]
    fn early_frames_given_up_on_leave_the_client_parser_lost() {
        let req = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let mut budget = Budget::new(1 << 20).with_heads_limit(1024);
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let mut conn = partial(40000, req, &mut budget);
        // 2000 bytes of masked frames before the answer: over the limit.
        let early: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let rq = 101 + req.len() as u32;
        conn.segment(Side::A, &seg(c, s, rq, 501, 0x18, &early), at(4), &mut budget);
        assert!(conn.tl.head_shed);
        assert_eq!(budget.heads, 0);
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        conn.segment(Side::B, &seg(s, c, 501, rq, 0x18, resp), at(5), &mut budget);
        assert!(
            conn.app.ws[Side::A].as_ref().is_some_and(|p| p.lost()),
            "client frames are found again, not read mid-frame"
        );
        assert!(conn.app.ws[Side::B].as_ref().is_some_and(|p| !p.lost()));
    }
}
