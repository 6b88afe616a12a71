//! The per-connection driver, the only place that knows every parsing stage. It is a stack of
//! sans-IO byte layers, each taking one side's in-order bytes, a gap or the end, and handing
//! bytes (or typed events) up: TCP assemblers -> protocol detection -> HTTP/1.1 up to the 101
//! ([`crate::http::h1`]) -> WebSocket frames ([`crate::ws`]). The driver turns what the layers
//! say into one [`TcpFacts`] and the connection's [`Session`] (Suricata's app-layer does the
//! same hand-over of leftover bytes).

mod h2;

use crate::http::h1::{self, H1, H1Event, Upgrade};
use crate::tcp::{Assembler, Budget, Sink};
use crate::timeline::{
    App, ClientBy, CloseRec, Ends, EventKind, EventLog, MAX_MESSAGE_EVENTS, Session, TcpFacts, Timeline,
};
use crate::tls::{KeyLog, Tls, TlsEvent, TlsSink};
use crate::units::{At, PerSide, Role, Side};
use crate::wire::{Endpoint, TcpSegment};
use crate::ws::deflate::{DeflateParams, Inflater};
use crate::ws::{FrameParser, OpCode, WsEvent};
use std::sync::Arc;

/// Settings that change what the connection layer does.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// Out-of-order bytes buffered per direction.
    pub reorder_cap: usize,
    /// Inflate permessage-deflate messages (for previews and UTF-8 checks).
    pub inflate: bool,
    /// Keep the timeline's events. Only the JSON and the ladder show them, and no diagnosis
    /// reads them; the [`crate::Analyzer`] sets this from `ReportOptions::no_timeline`.
    pub events: bool,
    /// Keep HTTP/2 streams that are not WebSockets as sessions of their own (`--all` lists
    /// them as `not_websocket`); otherwise they are only counted.
    pub other_streams: bool,
    /// TLS secrets (NSS key log), for decrypting wss.
    pub keys: Option<Arc<KeyLog>>,
    /// The capture file being read (its path and its place among the inputs, from 0).
    pub input: Option<Arc<str>>,
    pub input_index: u32,
}

impl Default for ConnConfig {
    fn default() -> Self {
        let cfg = crate::Config::default();
        ConnConfig {
            reorder_cap: cfg.reorder_cap,
            inflate: cfg.inflate,
            events: true,
            other_streams: false,
            keys: None,
            input: None,
            input_index: 0,
        }
    }
}

/// The layer that takes the in-order bytes right now.
enum Layer {
    /// No payload yet: the first bytes decide what the connection carries.
    Start,
    /// HTTP/1.x exchanges.
    Http(Box<H1>),
    /// After a 101 (or frames found mid-connection).
    WebSocket(Frames),
    /// HTTP/2: its streams may carry WebSockets (RFC 8441).
    H2(Box<h2::H2Layer>),
    /// Something else: bytes are only counted.
    Opaque,
}

/// The frame parsers of both directions.
struct Frames {
    parsers: PerSide<Box<FrameParser>>,
    /// Events of the call in progress (kept for its allocation).
    events: Vec<WsEvent>,
}

impl Frames {
    /// The frame parsers of a WebSocket whose answer agreed on `deflate` (RSV1 allowed also
    /// with `any_rsv1`).
    fn new(tcp: &TcpFacts, deflate: Option<&DeflateParams>, inflate: bool, any_rsv1: bool) -> Frames {
        let parser = |side: Side| {
            let role = tcp.role_of(side);
            let inflater = match (deflate, inflate) {
                (Some(d), true) => Some(Inflater::new(match role {
                    Role::Client => d.client_no_context_takeover,
                    Role::Server => d.server_no_context_takeover,
                })),
                _ => None,
            };
            Box::new(FrameParser::new(role, deflate.is_some() || any_rsv1, inflater))
        };
        Frames { parsers: PerSide([parser(Side::A), parser(Side::B)]), events: Vec::new() }
    }
}

/// Everything above TCP.
struct Upper {
    layer: Layer,
    app: App,
    session: Session,
    log: EventLog,
    cfg: ConnConfig,
    /// HTTP events of the call in progress (kept for its allocation).
    h1_events: h1::Events,
    /// A request was read since [`Conn::take_request`] last looked.
    request_news: bool,
}

/// One TCP connection being analysed.
pub struct Conn {
    pub tcp: TcpFacts,
    /// Side A's end, as segments carry it (finding a segment's side compares these).
    pub a: Endpoint,
    asm: PerSide<Assembler>,
    /// The TLS layer, once the first bytes were a TLS record: it turns records into the
    /// plaintext the layers above read.
    tls: Option<Box<Tls>>,
    up: Upper,
}

impl Conn {
    pub fn new(id: u64, a: impl Into<Endpoint>, b: impl Into<Endpoint>, at: At, cfg: &ConnConfig) -> Self {
        let (a, b) = (a.into(), b.into());
        Conn {
            tcp: TcpFacts {
                input: cfg.input.clone(),
                input_index: cfg.input_index,
                ..TcpFacts::new(id, a.addr(), b.addr(), at)
            },
            a,
            asm: PerSide([Assembler::new(cfg.reorder_cap), Assembler::new(cfg.reorder_cap)]),
            tls: None,
            up: Upper {
                layer: Layer::Start,
                app: App::Empty,
                session: Session::default(),
                log: EventLog { keep: cfg.events, ..EventLog::default() },
                cfg: cfg.clone(),
                h1_events: Vec::new(),
                request_news: false,
            },
        }
    }

    /// The URI of the request read since the last call, when it came, and whether it asked to
    /// upgrade (for [`crate::legs`]); none most of the time.
    pub fn take_request(&mut self) -> Option<(&str, At, bool)> {
        if !std::mem::take(&mut self.up.request_news) {
            return None;
        }
        let (r, at) = self.up.session.request()?;
        let upgrade =
            r.upgrade.as_deref().is_some_and(|u| u.as_bytes().windows(9).any(|w| w.eq_ignore_ascii_case(b"websocket")));
        Some((r.uri.as_str(), *at, upgrade))
    }

    /// This connection's client relays the WebSocket of connection `front` (a reverse proxy's
    /// back leg).
    pub fn set_front_leg(&mut self, front: std::num::NonZeroU64) {
        self.up.session.links_mut().front_leg = Some(front);
    }

    /// This connection's WebSocket is relayed by a reverse proxy on connection `back`.
    pub fn set_back_leg(&mut self, back: std::num::NonZeroU64) {
        self.up.session.links_mut().back_leg = Some(back);
    }

    /// This WebSocket upgraded the engine.io session `e`, which long-polled before.
    pub fn set_engineio(&mut self, e: crate::legs::EngineIoSession) {
        self.up.session.links_mut().engineio = Some(e);
    }

    /// A newer key log (a live capture's): this connection's TLS looks its keys up again if it
    /// had found none.
    pub fn set_keys(&mut self, keys: &Arc<KeyLog>) {
        self.up.cfg.keys = Some(keys.clone());
        if let Some(tls) = self.tls.as_mut() {
            tls.set_keys(keys.clone());
        }
    }

    /// A new SYN on this 4-tuple after the connection ended means port reuse.
    pub fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        seg.flags.syn() && !seg.flags.ack() && self.tcp.tcp_ended()
    }

    /// Feeds one segment sent by `side`.
    pub fn segment(&mut self, side: Side, seg: &TcpSegment<'_>, at: At, budget: &mut Budget) {
        let heads_before = self.up.head_bytes();
        self.segment_inner(side, seg, at, budget);
        let heads_after = self.up.head_bytes();
        budget.heads = (budget.heads + heads_after).saturating_sub(heads_before);
        if heads_after > 0 && budget.heads > budget.heads_limit {
            let mut sink = AppSink { side, tcp: &mut self.tcp, up: &mut self.up };
            budget.heads_dropped += sink.shed_heads(at);
            budget.heads = budget.heads.saturating_sub(heads_after.saturating_sub(self.up.head_bytes()));
        }
    }

    fn segment_inner(&mut self, side: Side, seg: &TcpSegment<'_>, at: At, budget: &mut Budget) {
        let tcp = &mut self.tcp;
        let log = &mut self.up.log;
        tcp.packets += 1;
        tcp.last = at;
        let f = seg.flags;
        if f.fin() || f.rst() {
            if tcp.end_ttl[side].is_none() {
                tcp.end_ttl[side] = Some(seg.ttl);
                tcp.end_seq_fits[side] = self.asm[side].seq_fits(seg.seq);
            }
        } else {
            tcp.ttls[side].add(seg.ttl);
        }
        if f.syn() {
            if f.ack() {
                if tcp.syn_ack[side].is_none() {
                    tcp.syn_ack[side] = Some(at);
                    log.push(at, side, EventKind::SynAck);
                    if tcp.client_by != ClientBy::Syn {
                        tcp.client = Some(side.other());
                        tcp.client_by = ClientBy::SynAck;
                    }
                }
            } else if tcp.syn[side].is_none() {
                tcp.syn[side] = Some(at);
                log.push(at, side, EventKind::Syn);
                if tcp.client.is_none() || tcp.client_by != ClientBy::Syn {
                    tcp.client = Some(side);
                    tcp.client_by = ClientBy::Syn;
                }
            }
            self.asm[side].syn(seg.seq);
        }
        let wire = seg.wire_len();
        if wire > 0 {
            let retx = self.asm[side].stats.retransmissions;
            let before = self.asm[side].stats.delivered + self.asm[side].stats.gap_bytes;
            let mut sink = StreamSink { side, tcp: &mut self.tcp, tls: &mut self.tls, up: &mut self.up };
            self.asm[side].segment(seg.seq, seg.payload, seg.missing, at, budget, &mut sink);
            let after = self.asm[side].stats.delivered + self.asm[side].stats.gap_bytes;
            if after > before || self.asm[side].pending_bytes() > 0 {
                self.tcp.last_payload[side] = Some(at);
            }
            let d = &mut self.tcp.delivery[side];
            d.max_len = d.max_len.max(wire);
            if self.asm[side].stats.retransmissions > retx && self.asm[side].unacked() > 0 {
                d.retransmitted(at, wire);
            }
        }
        if f.ack() {
            let acked = self.asm[side.other()].acked();
            let mut sink = StreamSink { side: side.other(), tcp: &mut self.tcp, tls: &mut self.tls, up: &mut self.up };
            self.asm[side.other()].peer_ack(seg.ack, at, budget, &mut sink);
            if self.asm[side.other()].acked() > acked {
                self.tcp.delivery[side.other()].acked(at);
            }
        }
        if f.fin() {
            self.asm[side].fin(seg.seq, wire);
            if self.tcp.fin[side].is_none() {
                self.tcp.fin[side] = Some(at);
                self.up.log.push(at, side, EventKind::Fin);
            }
        }
        if f.rst() {
            if self.tcp.rst[side].is_none() {
                self.tcp.rst[side] = Some(at);
                self.up.log.push(at, side, EventKind::Rst);
            }
            for s in Side::BOTH {
                let mut sink = StreamSink { side: s, tcp: &mut self.tcp, tls: &mut self.tls, up: &mut self.up };
                self.asm[s].flush(budget, &mut sink);
            }
        }
        if (f.fin() || f.rst())
            && self.tcp.tcp_ended()
            && let Some(tls) = self.tls.as_mut()
        {
            tls.release();
        }
    }

    /// The capture ended (or the connection is evicted): deliver what is buffered.
    pub fn finish(mut self, budget: &mut Budget) -> Timeline {
        let heads_before = self.up.head_bytes();
        for s in Side::BOTH {
            let mut sink = StreamSink { side: s, tcp: &mut self.tcp, tls: &mut self.tls, up: &mut self.up };
            self.asm[s].flush(budget, &mut sink);
            self.tcp.streams[s] = self.asm[s].stats;
            if let Some(st) = self.tcp.delivery[s].stall.as_deref_mut() {
                st.unacked = self.asm[s].unacked();
            }
            if let Layer::WebSocket(f) = &self.up.layer {
                self.up.session.frames[s] = f.parsers[s].counts;
            }
        }
        if self.tcp.client.is_none() {
            self.tcp.client = Some(Side::A);
            self.tcp.client_by = ClientBy::Guess;
        }
        // Whatever the flush added, the connection's buffers go with it.
        budget.heads = budget.heads.saturating_sub(heads_before);
        let mut session = self.up.session;
        *session.ends = Ends::of_tcp(&self.tcp);
        if self.tls.is_none() {
            session.last_data = self.tcp.last_payload;
        }
        let h2 = match self.up.layer {
            Layer::H2(h) => Some(h.finish(&self.tcp)),
            _ => None,
        };
        let mut tl = Timeline::new(self.tcp, self.up.app, session, self.up.log);
        if let Some((facts, sessions)) = h2 {
            if !sessions.is_empty() {
                tl.sessions = sessions;
            }
            tl.h2 = Some(Box::new(facts));
        }
        tl.tls = self.tls.map(|t| Box::new(t.facts().clone()));
        tl
    }
}

impl Upper {
    /// Memory held by the HTTP buffers.
    fn head_bytes(&self) -> usize {
        match &self.layer {
            Layer::Http(h) => h.head_bytes(),
            Layer::H2(h) => h.buffered(),
            _ => 0,
        }
    }
}

/// One side's in-order TCP bytes: through the TLS layer when the connection is TLS, else
/// straight to the layers above.
struct StreamSink<'a> {
    side: Side,
    tcp: &'a mut TcpFacts,
    tls: &'a mut Option<Box<Tls>>,
    up: &'a mut Upper,
}

impl Sink for StreamSink<'_> {
    #[inline]
    fn data(&mut self, bytes: &[u8], at: At) {
        if self.tls.is_some() || (self.up.app == App::Empty && starts_tls(bytes)) {
            self.tls_data(bytes, at);
        } else {
            AppSink { side: self.side, tcp: self.tcp, up: self.up }.data(bytes, at);
        }
    }

    fn gap(&mut self, len: u64, at: At) {
        match self.tls.as_mut() {
            Some(tls) => {
                let from = self.tcp.role_of(self.side);
                tls.gap(from, len, at, &mut Plain { tcp: self.tcp, up: self.up });
                self.up.log.push(at, self.side, EventKind::Gap { bytes: len });
            }
            None => AppSink { side: self.side, tcp: self.tcp, up: self.up }.gap(len, at),
        }
    }
}

impl StreamSink<'_> {
    /// Bytes of a TLS connection (the first ones make its TLS layer).
    #[inline(never)]
    fn tls_data(&mut self, bytes: &[u8], at: At) {
        if self.tls.is_none() {
            // The first bytes are a TLS record: a ClientHello, from the client.
            if !matches!(self.tcp.client_by, ClientBy::Syn | ClientBy::SynAck) {
                self.tcp.client = Some(self.side);
                self.tcp.client_by = ClientBy::Request;
            }
            self.up.app = App::Tls;
        }
        let keys = &self.up.cfg.keys;
        let tls = self.tls.get_or_insert_with(|| Box::new(Tls::new(keys.clone())));
        let from = self.tcp.role_of(self.side);
        tls.data(from, bytes, at, &mut Plain { tcp: self.tcp, up: self.up });
    }
}

/// Do these first bytes begin HTTP/2: the client preface (from a side that may be the client),
/// or a server's first SETTINGS frame (RFC 9113 §3.4)?
fn starts_h2(bytes: &[u8], maybe_client: bool) -> bool {
    let preface = crate::http::h2::PREFACE;
    let n = bytes.len().min(preface.len());
    if maybe_client && n >= 4 && bytes[..n] == preface[..n] {
        return true;
    }
    // length (a multiple of 6), type 4, flags 0, stream 0.
    bytes.len() >= 9
        && bytes[3] == 4
        && bytes[4] == 0
        && bytes[5..9] == [0, 0, 0, 0]
        && u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]).is_multiple_of(6)
        && u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) <= 16_384
}

/// Do these first bytes of a connection begin a TLS handshake record (RFC 8446 §5.1)?
fn starts_tls(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03
}

/// What the TLS layer hands up: plaintext to the layers above, its events to the timeline.
struct Plain<'a> {
    tcp: &'a mut TcpFacts,
    up: &'a mut Upper,
}

impl TlsSink for Plain<'_> {
    fn plaintext(&mut self, from: Role, bytes: &[u8], at: At) {
        let side = self.tcp.side_of(from);
        self.up.session.last_data[side] = Some(at);
        AppSink { side, tcp: self.tcp, up: self.up }.data(bytes, at);
    }

    fn plaintext_gap(&mut self, from: Role, len: u64, at: At) {
        let side = self.tcp.side_of(from);
        self.up.session.last_data[side] = Some(at);
        AppSink { side, tcp: self.tcp, up: self.up }.inner_gap(len, at);
    }

    fn event(&mut self, from: Role, at: At, event: TlsEvent) {
        let side = self.tcp.side_of(from);
        self.up.log.push(at, side, EventKind::Tls(event));
    }
}

/// One side's in-order bytes, driven up the stack.
struct AppSink<'a> {
    side: Side,
    tcp: &'a mut TcpFacts,
    up: &'a mut Upper,
}

impl Sink for AppSink<'_> {
    fn data(&mut self, bytes: &[u8], at: At) {
        // Most bytes are a WebSocket's frames: straight to them.
        if let Layer::WebSocket(f) = &mut self.up.layer {
            f.parsers[self.side].data(bytes, at, true, &mut f.events);
            if !f.events.is_empty() {
                self.ws_events(self.side);
            }
            return;
        }
        let mut rest = bytes;
        // Each layer consumes the bytes or hands what follows its part to the next one.
        while !rest.is_empty() {
            rest = match &mut self.up.layer {
                Layer::Start => self.start(rest, at),
                Layer::Http(h1) => {
                    let client = self.tcp.client == Some(self.side);
                    let mut evs = std::mem::take(&mut self.up.h1_events);
                    let next = h1.data(self.side, client, rest, at, &mut self.up.session.http, &mut evs);
                    self.record_http(&mut evs);
                    self.up.h1_events = evs;
                    match next {
                        Some((upgrade, rest)) => {
                            self.upgrade(upgrade, at);
                            rest
                        }
                        None => &[],
                    }
                }
                Layer::WebSocket(_) => {
                    self.ws_data(self.side, rest, at);
                    &[]
                }
                Layer::H2(h) => {
                    h.data(self.tcp, self.side, rest, at, &mut self.up.log, self.up.cfg.inflate);
                    if h.has_websocket() {
                        self.up.app = App::WebSocket;
                    }
                    &[]
                }
                Layer::Opaque => &[],
            };
        }
    }

    fn gap(&mut self, len: u64, at: At) {
        self.inner_gap(len, at);
        self.up.log.push(at, self.side, EventKind::Gap { bytes: len });
    }
}

impl AppSink<'_> {
    /// `len` bytes of this side's stream (TCP or TLS plaintext) are missing.
    fn inner_gap(&mut self, len: u64, at: At) {
        let side = self.side;
        match &mut self.up.layer {
            Layer::WebSocket(f) => {
                f.parsers[side].gap(len, at, &mut f.events);
                self.ws_events(side);
            }
            Layer::Http(h1) => {
                let client = self.tcp.client == Some(side);
                let mut evs = std::mem::take(&mut self.up.h1_events);
                let next = h1.gap(side, client, len, at, &mut self.up.session.http, &mut evs);
                self.record_http(&mut evs);
                self.up.h1_events = evs;
                if let Some(upgrade) = next {
                    self.upgrade(upgrade, at);
                }
            }
            Layer::H2(h) => h.gap(self.tcp, side, len, at, &mut self.up.log, self.up.cfg.inflate),
            Layer::Start | Layer::Opaque => {}
        }
    }

    /// All flows together hold too much in HTTP buffers: this one gives its up. Returns the
    /// bytes given up on.
    fn shed_heads(&mut self, at: At) -> u64 {
        if let Layer::H2(h) = &mut self.up.layer {
            return h.shed(self.tcp, at, &mut self.up.log, self.up.cfg.inflate);
        }
        let Layer::Http(h1) = &mut self.up.layer else { return 0 };
        let mut evs = std::mem::take(&mut self.up.h1_events);
        let (dropped, next) = h1.shed(self.tcp.client, at, &mut self.up.session.http, &mut evs);
        self.record_http(&mut evs);
        self.up.h1_events = evs;
        if let Some(upgrade) = next {
            self.upgrade(upgrade, at);
        }
        dropped
    }

    /// The HTTP layer's events, into the timeline.
    fn record_http(&mut self, evs: &mut h1::Events) {
        for (at, side, ev) in evs.drain(..) {
            let kind = match ev {
                H1Event::Request { method, uri, upgrade } => {
                    self.up.request_news = true;
                    EventKind::Request { method, uri, upgrade }
                }
                H1Event::Response { status, reason } => EventKind::Response { status, reason },
                H1Event::Error(e) => EventKind::HttpError(e.to_string()),
            };
            self.up.log.push(at, side, kind);
        }
        if self.up.session.http.attempted {
            self.up.app = App::WebSocket;
        }
    }

    /// The server switched protocols: frames from here on.
    fn upgrade(&mut self, up: Upgrade, at: At) {
        if up.tunnel {
            self.open_tunnel(up, at);
            return;
        }
        let side = self.side;
        // RFC 7692: the first permessage-deflate answer is the one in force.
        let deflate = up
            .extensions
            .iter()
            .find(|e| e.name == "permessage-deflate")
            .map(|e| DeflateParams::from_agreed(e.params.iter().map(|(k, v)| (k.as_str(), v.as_deref()))));
        self.start_ws(deflate, at);
        let Layer::WebSocket(f) = &mut self.up.layer else { return };
        if up.lost {
            for s in Side::BOTH {
                f.parsers[s].set_lost();
            }
        }
        // Client bytes that arrived after the request head belong to the frames.
        let other = side.other();
        if up.early_lost {
            f.parsers[other].set_lost();
        }
        if !up.early.is_empty() {
            self.ws_data(other, &up.early, at);
        }
    }

    /// A forward proxy opened a CONNECT tunnel: what follows is analysed as if the client had
    /// connected to the target directly (TLS, an HTTP upgrade), and the tunnel is named.
    fn open_tunnel(&mut self, up: Upgrade, at: At) {
        let http = std::mem::take(&mut self.up.session.http);
        let (target, connect) =
            http.request().map_or_else(|| (String::new(), at), |(r, rat)| (r.uri.to_string(), *rat));
        let status = http.response().map_or(200, |(r, _)| r.status);
        self.up.session.tunnel = Some(Box::new(crate::timeline::Tunnel { target, status, connect, established: at }));
        self.up.layer = Layer::Start;
        self.up.app = App::Empty;
        // Bytes the client sent before the 200 (most clients wait for it): plaintext only; a
        // TLS ClientHello sent that early is not read.
        if !up.early.is_empty() && !starts_tls(&up.early) {
            let client = self.side.other();
            AppSink { side: client, tcp: self.tcp, up: self.up }.data(&up.early, at);
        }
    }

    fn set_client(&mut self, side: Side, by: ClientBy) {
        if matches!(self.tcp.client_by, ClientBy::Syn | ClientBy::SynAck) && self.tcp.client.is_some() {
            return;
        }
        self.tcp.client = Some(side);
        self.tcp.client_by = by;
    }

    /// The first bytes of the connection decide what it carries; returns the bytes left.
    #[inline(never)]
    fn start<'b>(&mut self, bytes: &'b [u8], at: At) -> &'b [u8] {
        let side = self.side;
        let known_client = matches!(self.tcp.client_by, ClientBy::Syn | ClientBy::SynAck);
        let from_client = self.tcp.client == Some(side);
        if let Some(n) = crate::http::proxy_header_len(bytes).filter(|_| !known_client || from_client) {
            // A load balancer's PROXY protocol header: the request follows.
            if self.up.session.proxy_header.is_none() {
                let text = if bytes.starts_with(b"PROXY ") {
                    String::from_utf8_lossy(&bytes[..n]).trim().to_string()
                } else {
                    format!("PROXY protocol v2 header ({n} bytes)")
                };
                self.up.session.proxy_header = Some(text);
            }
            return &bytes[n..];
        }
        if starts_h2(bytes, from_client || !known_client) {
            // HTTP/2: the client's preface (h2c with prior knowledge, or ALPN h2 inside TLS), or
            // the server's SETTINGS decrypted before it.
            if !from_client && bytes.starts_with(&crate::http::h2::PREFACE[..4]) {
                self.set_client(side, ClientBy::Request);
            }
            self.up.layer = Layer::H2(Box::new(h2::H2Layer::new(self.up.cfg.other_streams)));
            self.up.app = App::H2;
        } else if crate::http::looks_like_request(bytes) && (!known_client || from_client) {
            self.set_client(side, ClientBy::Request);
            self.up.layer = Layer::Http(Box::default());
            self.up.app = App::Http;
        } else if crate::http::looks_like_response(bytes) && (!known_client || !from_client) {
            // The capture missed the request: the other side is the client.
            self.set_client(side.other(), ClientBy::Response);
            self.up.layer = Layer::Http(Box::default());
            self.up.app = App::Http;
        } else if let Some(client) = self.guess_frames(bytes) {
            // Mid-connection: frames, masked from the client (RFC 6455 §5.1).
            self.set_client(client, ClientBy::Masking);
            self.up.app = App::WebSocket;
            self.start_ws(None, at);
        } else {
            self.up.app = App::Other;
            self.up.layer = Layer::Opaque;
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
        let s = &mut self.up.session;
        s.upgraded_at.get_or_insert(at);
        let mid = deflate.is_none() && (s.http.exchange.is_none() || s.http.truncated);
        // Mid-connection we cannot know whether RSV1 was negotiated: allow it.
        let frames = Frames::new(self.tcp, deflate.as_ref(), self.up.cfg.inflate, mid);
        self.up.layer = Layer::WebSocket(frames);
        self.up.session.deflate = deflate;
    }

    fn ws_data(&mut self, side: Side, bytes: &[u8], at: At) {
        let Layer::WebSocket(f) = &mut self.up.layer else { return };
        f.parsers[side].data(bytes, at, true, &mut f.events);
        if !f.events.is_empty() {
            self.ws_events(side);
        }
    }

    /// The frame layer's events of `side`, into the session and the timeline.
    fn ws_events(&mut self, side: Side) {
        let Layer::WebSocket(f) = &mut self.up.layer else { return };
        record_ws(f, &mut self.up.session, &mut self.up.log, side, 0);
    }
}

/// The frame layer's events of `side`, into session `s` and the timeline (`stream`: the HTTP/2
/// stream they rode on, 0 for none).
fn record_ws(f: &mut Frames, s: &mut Session, log: &mut EventLog, side: Side, stream: u32) {
    for ev in f.events.drain(..) {
        match ev {
            WsEvent::Message { opcode, wire_len, inflated_len, compressed, preview, meta: at, .. } => {
                if let Some(p) = &preview {
                    // engine.io (Socket.IO) v4: the server pings with the text packet "2", the
                    // client answers "3" (v3 the other way round; "2probe"/"3probe" test the
                    // upgrade).
                    let eio = (p == "2" || p == "3")
                        && s.request().is_some_and(|(r, _)| r.uri.contains("EIO=") || r.uri.contains("/socket.io/"));
                    let kind = if eio { Some(p == "2") } else { heartbeat_kind(p) };
                    match kind {
                        Some(true) => s.beats_mut().app_pings[side].record(at),
                        Some(false) => s.beats_mut().app_pongs[side].record(at),
                        None => {}
                    }
                }
                if s.message_events[side] < MAX_MESSAGE_EVENTS {
                    s.message_events[side] += 1;
                    let len = inflated_len.unwrap_or(wire_len);
                    log.push_on(at, side, stream, EventKind::Message { opcode, len, compressed, preview });
                }
            }
            WsEvent::Ping { len, meta: at } => {
                let b = s.beats_mut();
                b.pings[side].record(at);
                if b.pings[side].count <= MAX_MESSAGE_EVENTS {
                    log.push_on(at, side, stream, EventKind::Ping { len });
                }
            }
            WsEvent::Pong { len, meta: at } => {
                let b = s.beats_mut();
                b.pongs[side].record(at);
                if b.pongs[side].count <= MAX_MESSAGE_EVENTS {
                    log.push_on(at, side, stream, EventKind::Pong { len });
                }
            }
            WsEvent::Close { code, reason, incomplete, meta: at, .. } => {
                log.push_on(at, side, stream, EventKind::Close { code, reason: reason.clone() });
                if s.closes.len() < 8 {
                    s.closes.push(CloseRec { side, code, reason, at, incomplete });
                }
            }
            WsEvent::Violation { violation, meta: at } => {
                if s.violations.len() < 32 {
                    log.push_on(at, side, stream, EventKind::Violation(violation.clone()));
                    s.violations.push((side, violation, at));
                }
            }
            WsEvent::Desync { meta: at } => {
                s.desyncs[side] += 1;
                log.push_on(at, side, stream, EventKind::Desync);
            }
            WsEvent::Resync { skipped, meta: at } => log.push_on(at, side, stream, EventKind::Resync { skipped }),
        }
    }
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
        let mut conn = Conn::new(1, c, s, at(1), &ConnConfig::default());
        let mut budget = Budget::new(1 << 24);
        let req = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let early = vec![0x81u8; crate::http::MAX_HEAD + 100];
        let resp = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let rq = 101 + req.len() as u32;
        conn.segment(Side::A, &seg(c, s, 100, 0, 0x02, &[]), at(1), &mut budget);
        conn.segment(Side::B, &seg(s, c, 500, 101, 0x12, &[]), at(2), &mut budget);
        conn.segment(Side::A, &seg(c, s, 101, 501, 0x18, req), at(3), &mut budget);
        conn.segment(Side::A, &seg(c, s, rq, 501, 0x18, &early), at(4), &mut budget);
        conn.segment(Side::B, &seg(s, c, 501, rq, 0x18, resp), at(5), &mut budget);
        conn.segment(Side::A, &seg(c, s, rq + early.len() as u32, 501, 0x18, b"x"), at(6), &mut budget);
        let tl = conn.finish(&mut budget);
        assert_eq!(tl.sessions[0].response().map(|(r, _)| r.status), Some(403));
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
            ttl: 64,
            payload,
            missing: 0,
        }
    }

    /// A connection after its handshake, with `head` sent by the client (no end of head yet).
    fn partial(port: u16, head: &[u8], budget: &mut Budget) -> Conn {
        let (c, s) = (addr(&format!("10.0.0.1:{port}")), addr("10.0.0.2:80"));
        let mut conn = Conn::new(u64::from(port), c, s, at(1), &ConnConfig::default());
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
        assert!(!b.up.session.http.shed, "two small heads fit");
        // The third one goes over: its head is given up on, keeping what its lines say.
        let mut big = HEAD.to_vec();
        big.extend(std::iter::repeat_n(b'x', 2000));
        let c = partial(40002, &big, &mut budget);
        assert!(c.up.session.http.shed);
        assert!(budget.heads <= budget.heads_limit, "{} over {}", budget.heads, budget.heads_limit);
        assert_eq!(budget.heads_dropped, big.len() as u64);
        assert!(c.up.session.http.truncated, "the request line was kept from the partial head");
        assert_eq!(c.up.session.request().map(|(r, _)| r.uri.as_str()), Some("/ws/orders"));
        assert!(!a.up.session.http.shed && !b.up.session.http.shed);
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
        assert_eq!(conn.up.session.request().map(|(r, _)| r.uri.as_str()), Some("/ws/orders"));
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
        assert!(conn.up.session.http.shed);
        assert_eq!(budget.heads, 0);
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        conn.segment(Side::B, &seg(s, c, 501, rq, 0x18, resp), at(5), &mut budget);
        assert!(
            matches!(&conn.up.layer, Layer::WebSocket(f) if f.parsers[Side::A].lost()),
            "client frames are found again, not read mid-frame"
        );
        assert!(matches!(&conn.up.layer, Layer::WebSocket(f) if !f.parsers[Side::B].lost()));
    }
}

#[cfg(test)]
mod path_tests {
    use super::head_budget_tests::seg;
    use super::*;
    use crate::diagnose::{Kind, diagnose};
    use crate::units::{PacketNo, Timestamp};

    const REQ: &[u8] = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    /// A connection replayed from (side, ms, seq offset, ack offset, flags, ttl, payload); the
    /// client is 10.0.0.1 (ISN 100), the server 10.0.0.2 (ISN 500); offsets count from the
    /// first data byte; packet numbers follow the list.
    struct Replay {
        conn: Conn,
        budget: Budget,
        n: u64,
    }

    fn addr(s: &str) -> std::net::SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    impl Replay {
        /// SYN, SYN-ACK, the upgrade and the 101: client TTL 64, server TTL `server_ttl`.
        fn upgraded(server_ttl: u8) -> Replay {
            let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
            let conn = Conn::new(1, c, s, At { ts: Timestamp(0), packet: PacketNo(1) }, &ConnConfig::default());
            let mut r = Replay { conn, budget: Budget::new(1 << 20), n: 0 };
            r.send(Side::A, 0, 100, 0, 0x02, 64, &[]);
            r.send(Side::B, 1, 500, 101, 0x12, server_ttl, &[]);
            r.send(Side::A, 2, 101, 501, 0x18, 64, REQ);
            r.send(Side::B, 3, 501, 101 + REQ.len() as u32, 0x18, server_ttl, RESP);
            r
        }
        fn client_seq(&self, off: u32) -> u32 {
            101 + REQ.len() as u32 + off
        }
        fn server_seq(&self, off: u32) -> u32 {
            501 + RESP.len() as u32 + off
        }
        #[allow(clippy::too_many_arguments)]
        fn send(&mut self, side: Side, ms: i64, seq: u32, ack: u32, flags: u8, ttl: u8, payload: &[u8]) {
            let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
            let (src, dst) = if side == Side::A { (c, s) } else { (s, c) };
            let mut g = seg(src, dst, seq, ack, flags, payload);
            g.ttl = ttl;
            self.n += 1;
            let at = At { ts: Timestamp(ms * 1_000_000), packet: PacketNo(self.n) };
            self.conn.segment(side, &g, at, &mut self.budget);
        }
        fn verdict(self) -> crate::diagnose::Verdict {
            let mut budget = self.budget;
            let tl = self.conn.finish(&mut budget);
            diagnose(&tl.tcp, tl.app, None, &tl.sessions[0])
        }
    }

    /// A masked client text frame of `n` bytes.
    fn client_frame(n: usize) -> Vec<u8> {
        let mut f = vec![0x81, 0x80 | n as u8, 1, 2, 3, 4];
        f.extend((0..n).map(|i| b'a' ^ [1, 2, 3, 4][i % 4]));
        f
    }

    #[test]
    fn a_rst_with_a_ttl_the_server_never_used_is_forged_on_the_path() {
        for (rst_ttl, kind) in [(63, Kind::PathReset), (52, Kind::ServerAbort), (51, Kind::ServerAbort)] {
            let mut r = Replay::upgraded(52);
            let (cs, ss) = (r.client_seq(0), r.server_seq(0));
            r.send(Side::B, 10, ss, cs, 0x14, rst_ttl, &[]);
            let v = r.verdict();
            assert_eq!(v.kind, kind, "RST TTL {rst_ttl}: {}", v.summary);
            if kind == Kind::PathReset {
                assert!(
                    v.summary.contains(
                        "the RST to the client (packet 5) claims to come from the server, but it has TTL 63 where every packet from the server had 52"
                    ),
                    "{}",
                    v.summary
                );
                assert_eq!(v.client_sees, Some(1006));
                assert!(v.advice.iter().any(|a| a.contains("TTL 64 most likely, 1 hop(s) before")), "{:?}", v.advice);
            }
        }
        // The right TTL but a sequence number the server never came near (RFC 5961 §3).
        let mut r = Replay::upgraded(52);
        let (cs, ss) = (r.client_seq(0), r.server_seq(0));
        r.send(Side::B, 10, ss.wrapping_add(50_000_000), cs, 0x14, 52, &[]);
        let v = r.verdict();
        assert_eq!(v.kind, Kind::PathReset, "{}", v.summary);
        assert!(v.summary.contains("its sequence number is far outside what the server had sent"), "{}", v.summary);
        // A RST just past what the server sent (its next sequence number) is its own.
        let mut r = Replay::upgraded(52);
        r.send(Side::B, 10, ss.wrapping_add(1000), cs, 0x14, 52, &[]);
        assert_eq!(r.verdict().kind, Kind::ServerAbort);
        // One TTL for everything (loopback): the capture cannot tell, no guess.
        let mut r = Replay::upgraded(64);
        let (cs, ss) = (r.client_seq(0), r.server_seq(0));
        r.send(Side::B, 10, ss, cs, 0x14, 64, &[]);
        assert_eq!(r.verdict().kind, Kind::ServerAbort);
    }

    #[test]
    fn bytes_retransmitted_unacknowledged_to_the_end_are_a_path_that_stopped_delivering() {
        let mut r = Replay::upgraded(52);
        let (cs, ss) = (r.client_seq(0), r.server_seq(0));
        let f = client_frame(20);
        // The server acknowledges the first message, then nothing more gets through.
        r.send(Side::A, 100, cs, ss, 0x18, 64, &f);
        r.send(Side::B, 101, ss, cs + f.len() as u32, 0x10, 52, &[]);
        let cs2 = cs + f.len() as u32;
        for ms in [1000, 1200, 1600, 2400, 4000] {
            r.send(Side::A, ms, cs2, ss, 0x18, 64, &f);
        }
        let v = r.verdict();
        assert_eq!(v.kind, Kind::PathLost, "{}", v.summary);
        assert!(v.summary.contains("stopped delivering client→server"), "{}", v.summary);
        assert!(v.summary.contains("(packet 6)"), "the last ACK: {}", v.summary);
        assert!(v.summary.contains("retransmitted 4 times over 2.800 s"), "{}", v.summary);
        assert!(v.summary.contains("the capture ended"), "{}", v.summary);
        assert!(!v.summary.contains("MTU"), "{}", v.summary);
        assert_eq!(v.client_sees, None, "no teardown before the capture ended");

        // One retransmission is ordinary loss, and an ACK afterwards ends the stall.
        let mut r = Replay::upgraded(52);
        r.send(Side::A, 100, cs, ss, 0x18, 64, &f);
        r.send(Side::A, 400, cs, ss, 0x18, 64, &f);
        r.send(Side::A, 1000, cs, ss, 0x18, 64, &f);
        r.send(Side::B, 1001, ss, cs + f.len() as u32, 0x10, 52, &[]);
        assert_eq!(r.verdict().kind, Kind::StillOpen);
    }

    #[test]
    fn only_full_size_segments_stuck_is_an_mtu_black_hole() {
        let mut r = Replay::upgraded(52);
        let (cs, ss) = (r.client_seq(0), r.server_seq(0));
        // A 1448-byte segment of a large server message, never acknowledged ...
        let mut big = vec![0x82, 126, 0x10, 0x00];
        big.resize(1448, 7);
        r.send(Side::B, 100, ss, cs, 0x10, 52, &big);
        let f = client_frame(10);
        let mut cs = cs;
        for (i, ms) in [300, 700, 1500, 3100].into_iter().enumerate() {
            r.send(Side::B, ms, ss, cs, 0x10, 52, &big);
            // ... while the client's small messages get through and are acknowledged.
            r.send(Side::A, ms + 10, cs, ss, 0x18, 64, &f);
            cs += f.len() as u32;
            r.send(Side::B, ms + 11, ss, cs, 0x10, 52, &[]);
            let _ = i;
        }
        let v = r.verdict();
        assert_eq!(v.kind, Kind::PathLost, "{}", v.summary);
        assert!(v.summary.contains("server→client"), "{}", v.summary);
        assert!(
            v.summary.contains("MTU black hole: every retransmission was a full-size 1448-byte segment"),
            "{}",
            v.summary
        );
        assert!(v.advice.iter().any(|a| a.contains("clamp-mss")), "{:?}", v.advice);
    }
}
