//! What happened on one connection: typed events with time, packet number and side, plus the
//! facts and counters the diagnosis needs. Built by `conn`, read by `diagnose` and `report`.

use crate::http::{Request, Response};
use crate::tcp::AssemblerStats;
use crate::units::{PerSide, Role, Side};
use crate::ws::deflate::DeflateParams;
use crate::ws::{FrameCounts, OpCode, Violation};
use std::net::SocketAddr;

/// The most events a timeline keeps; beyond it only counters grow.
pub const MAX_EVENTS: usize = 400;
/// Data messages kept as events per side (the rest are counted).
pub const MAX_MESSAGE_EVENTS: u32 = 12;

pub use crate::units::At;

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Syn,
    SynAck,
    Fin,
    Rst,
    Gap { bytes: u64 },
    Request { method: String, uri: String, upgrade: bool },
    Response { status: u16, reason: String },
    Message { opcode: OpCode, len: u64, compressed: bool, preview: Option<String> },
    Ping { len: u64 },
    Pong { len: u64 },
    Close { code: Option<u16>, reason: Option<String> },
    Violation(Violation),
    Desync,
    Resync { skipped: u64 },
    HttpError(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: At,
    pub side: Side,
    pub kind: EventKind,
}

/// How the client side was decided (SPEC: SYN sender; else HTTP request sender; else the side
/// whose frames are masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBy {
    Syn,
    SynAck,
    Request,
    Response,
    Masking,
    /// Nothing told: the first sender is assumed.
    Guess,
}

/// What the connection carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// No payload at all.
    Empty,
    /// HTTP that never upgraded.
    Http,
    /// An upgrade was attempted (or frames were found).
    WebSocket,
    /// TLS: without keys wsdiag cannot see inside (wss).
    Tls,
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CloseRec {
    pub side: Side,
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub at: At,
    /// The payload fell partly in a capture gap.
    pub incomplete: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heartbeat {
    pub count: u32,
    pub first: Option<At>,
    pub last: Option<At>,
    pub min_interval_ms: Option<f64>,
    pub max_interval_ms: Option<f64>,
}

impl Heartbeat {
    pub fn record(&mut self, at: At) {
        if let Some(prev) = self.last {
            let d = at.ts.ms_since(prev.ts);
            self.min_interval_ms = Some(self.min_interval_ms.map_or(d, |m| m.min(d)));
            self.max_interval_ms = Some(self.max_interval_ms.map_or(d, |m| m.max(d)));
        }
        self.count += 1;
        self.first.get_or_insert(at);
        self.last = Some(at);
    }
    pub fn mean_interval_ms(&self) -> Option<f64> {
        let (f, l) = (self.first?, self.last?);
        (self.count > 1).then(|| l.ts.ms_since(f.ts) / f64::from(self.count - 1))
    }
}

/// Protocol Ping/Pong frames and application heartbeats per side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Beats {
    pub pings: PerSide<Heartbeat>,
    pub pongs: PerSide<Heartbeat>,
    pub app_pings: PerSide<Heartbeat>,
    pub app_pongs: PerSide<Heartbeat>,
}

/// One HTTP request and, once seen, its response.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    pub request: Option<(Request, At)>,
    pub response: Option<(Response, At)>,
    /// The first bytes of a non-101 response body.
    pub body: Vec<u8>,
}

/// Everything known about one connection.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub id: u64,
    pub endpoints: PerSide<SocketAddr>,
    pub client: Option<Side>,
    pub client_by: ClientBy,
    pub first: At,
    pub last: At,
    pub packets: u64,
    pub syn: PerSide<Option<At>>,
    pub syn_ack: PerSide<Option<At>>,
    pub fin: PerSide<Option<At>>,
    pub rst: PerSide<Option<At>>,
    /// TCP payload bytes on the wire per side (retransmissions excluded).
    pub bytes: PerSide<u64>,
    pub tcp: PerSide<AssemblerStats>,
    /// The capture did not see the start (no SYN).
    pub partial: bool,
    pub app: App,
    /// The upgrade exchange (or the first HTTP exchange when none asked to upgrade).
    pub exchange: Option<Box<Exchange>>,
    pub http_exchanges: u32,
    pub http_error: Option<(Side, String, At)>,
    /// A PROXY protocol header before the request (the original client's address).
    pub proxy_header: Option<String>,
    /// A head was cut short (snaplen or gap): only its whole lines are known.
    pub head_truncated: bool,
    /// A partial head (or frames sent before the 101) was given up on for memory.
    pub head_shed: bool,
    /// What is wrong with a 101 (RFC 6455 §4.1).
    pub handshake_problems: Vec<String>,
    pub upgraded_at: Option<At>,
    pub deflate: Option<DeflateParams>,
    pub frames: PerSide<FrameCounts>,
    pub closes: Vec<CloseRec>,
    pub violations: Vec<(Side, Violation, At)>,
    pub last_payload: PerSide<Option<At>>,
    /// Heartbeats, allocated on the first one (most connections have none).
    pub beats: Option<Box<Beats>>,
    pub desyncs: PerSide<u32>,
    pub events: Vec<Event>,
    /// Whether `push` keeps events (not when nothing will show them).
    pub keep_events: bool,
    pub events_dropped: u64,
    pub message_events: PerSide<u32>,
    /// The last packet of the capture, when this connection was still open at its end.
    pub capture_end: Option<At>,
}

impl Timeline {
    pub fn new(id: u64, a: SocketAddr, b: SocketAddr, at: At) -> Self {
        Timeline {
            id,
            endpoints: PerSide([a, b]),
            client: None,
            client_by: ClientBy::Guess,
            first: at,
            last: at,
            packets: 0,
            syn: PerSide::default(),
            syn_ack: PerSide::default(),
            fin: PerSide::default(),
            rst: PerSide::default(),
            bytes: PerSide::default(),
            tcp: PerSide::default(),
            partial: false,
            app: App::Empty,
            exchange: None,
            http_exchanges: 0,
            http_error: None,
            head_truncated: false,
            head_shed: false,
            proxy_header: None,
            handshake_problems: Vec::new(),
            upgraded_at: None,
            deflate: None,
            frames: PerSide::default(),
            closes: Vec::new(),
            violations: Vec::new(),
            last_payload: PerSide::default(),
            beats: None,
            desyncs: PerSide::default(),
            events: Vec::new(),
            keep_events: true,
            events_dropped: 0,
            message_events: PerSide::default(),
            capture_end: None,
        }
    }

    pub fn beats_mut(&mut self) -> &mut Beats {
        self.beats.get_or_insert_with(Box::default)
    }

    pub fn push(&mut self, at: At, side: Side, kind: EventKind) {
        if !self.keep_events {
            return;
        }
        if self.events.len() < MAX_EVENTS {
            self.events.push(Event { at, side, kind });
        } else {
            self.events_dropped += 1;
        }
    }

    /// The side playing `role` (the client is side A until something says otherwise).
    pub fn side_of(&self, role: Role) -> Side {
        let c = self.client.unwrap_or(Side::A);
        match role {
            Role::Client => c,
            Role::Server => c.other(),
        }
    }

    pub fn role_of(&self, side: Side) -> Role {
        if side == self.side_of(Role::Client) { Role::Client } else { Role::Server }
    }

    pub fn addr(&self, role: Role) -> SocketAddr {
        self.endpoints[self.side_of(role)]
    }

    /// The first FIN or RST from either side.
    pub fn first_teardown(&self) -> Option<(Side, bool, At)> {
        let mut best: Option<(Side, bool, At)> = None;
        for s in Side::BOTH {
            for (is_rst, at) in [(false, self.fin[s]), (true, self.rst[s])] {
                if let Some(at) = at {
                    if best.is_none_or(|(_, _, b)| at.packet < b.packet) {
                        best = Some((s, is_rst, at));
                    }
                }
            }
        }
        best
    }

    /// Did the TCP connection end (a FIN from both sides, or any RST)?
    pub fn tcp_ended(&self) -> bool {
        self.rst.0.iter().any(Option::is_some) || self.fin.0.iter().all(Option::is_some)
    }

    pub fn response(&self) -> Option<&(Response, At)> {
        self.exchange.as_ref().and_then(|e| e.response.as_ref())
    }

    pub fn request(&self) -> Option<&(Request, At)> {
        self.exchange.as_ref().and_then(|e| e.request.as_ref())
    }

    pub fn close_from(&self, side: Side) -> Option<&CloseRec> {
        self.closes.iter().find(|c| c.side == side)
    }

    /// The last packet that carried payload from either side.
    pub fn last_activity(&self) -> Option<At> {
        match (self.last_payload.0[0], self.last_payload.0[1]) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}
