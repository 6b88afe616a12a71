//! What happened on one connection: typed events with time, packet number and side, plus the
//! facts and counters the diagnosis needs: one [`TcpFacts`] per TCP connection and a [`Session`] per
//! WebSocket on it. Built by `conn`, read by `diagnose` and `report`.

use crate::http::h1::H1Facts;
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
    Gap {
        bytes: u64,
    },
    Request {
        method: crate::text::Text,
        uri: crate::text::Text,
        upgrade: bool,
    },
    Response {
        status: u16,
        reason: crate::text::Text,
    },
    Message {
        opcode: OpCode,
        len: u64,
        compressed: bool,
        preview: Option<String>,
    },
    Ping {
        len: u64,
    },
    Pong {
        len: u64,
    },
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
    Violation(Violation),
    Desync,
    Resync {
        skipped: u64,
    },
    HttpError(String),
    /// What the TLS layer saw (handshake messages, alerts, decryption problems).
    Tls(crate::tls::TlsEvent),
    /// What the HTTP/2 layer saw (the request and answer of a stream are `Request`/`Response`).
    H2(H2Note),
}

/// An HTTP/2 frame or framing problem worth a line in the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum H2Note {
    Preface,
    Settings {
        ack: bool,
        connect_protocol: Option<bool>,
    },
    /// The END_STREAM flag, on a HEADERS frame (`headers`) or a DATA frame.
    EndStream {
        headers: bool,
    },
    RstStream {
        code: crate::http::h2::ErrorCode,
    },
    GoAway {
        last_stream: u32,
        code: crate::http::h2::ErrorCode,
        debug: String,
    },
    Error(String),
    Lost,
    Resync {
        skipped: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: At,
    pub side: Side,
    /// The HTTP/2 stream it belongs to; 0 for the connection (and for HTTP/1.1).
    pub stream: u32,
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
    /// HTTP/2 that carried no WebSocket stream.
    H2,
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

/// How a WebSocket's carrier ended, as the layer below tells it: a TCP FIN or RST today; an
/// HTTP/2 stream's END_STREAM or RST_STREAM, a GOAWAY or a TLS alert when those layers exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndHow {
    Fin,
    Rst,
    /// HTTP/2: END_STREAM, a half-close (the sender still reads).
    EndStream,
    /// HTTP/2: RST_STREAM (RFC 8441 §5: the analogue of a TCP RST).
    RstStream,
    /// HTTP/2: a GOAWAY whose last stream id excludes this stream.
    GoAway,
}

impl EndHow {
    pub fn is_rst(self) -> bool {
        matches!(self, EndHow::Rst | EndHow::RstStream | EndHow::GoAway)
    }

    /// As TCP flags and HTTP/2 frames are written: "FIN", "RST", "RST_STREAM", …
    pub fn upper(self) -> &'static str {
        match self {
            EndHow::Fin => "FIN",
            EndHow::Rst => "RST",
            EndHow::EndStream => "END_STREAM",
            EndHow::RstStream => "RST_STREAM",
            EndHow::GoAway => "GOAWAY",
        }
    }

    /// An end of the stream, not of the TCP connection.
    pub fn is_stream(self) -> bool {
        !matches!(self, EndHow::Fin | EndHow::Rst)
    }
}

/// One side's end of a WebSocket's carrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    pub by: Side,
    pub how: EndHow,
    pub at: At,
    /// The RST_STREAM or GOAWAY error code.
    pub code: Option<crate::http::h2::ErrorCode>,
}

/// How each side ended the carrier of one WebSocket session (what `diagnose` reads instead of
/// TCP flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// Each side's first end (FIN or RST from it).
    pub by: PerSide<Option<SessionEnd>>,
    /// Each side's reset of the carrier, if it sent one (also after a FIN).
    pub resets: PerSide<Option<At>>,
    /// The carrier is over: both sides ended it, or one reset it.
    pub closed: bool,
    /// Each side's first end after which it reads no more (all but END_STREAM).
    pub hard: PerSide<Option<SessionEnd>>,
}

impl Ends {
    /// The first end from either side.
    pub fn first(&self) -> Option<SessionEnd> {
        match (self.by.0[0], self.by.0[1]) {
            (Some(a), Some(b)) => Some(if b.at.packet < a.at.packet { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The ends of a WebSocket carried by the TCP connection `tcp`: its first FIN or RST per side.
    pub fn of_tcp(tcp: &TcpFacts) -> Ends {
        let mut by = PerSide([None, None]);
        for s in Side::BOTH {
            let end = |how, at: Option<At>| at.map(|at| SessionEnd { by: s, how, at, code: None });
            by[s] = match (end(EndHow::Fin, tcp.fin[s]), end(EndHow::Rst, tcp.rst[s])) {
                (Some(f), Some(r)) => Some(if r.at.packet < f.at.packet { r } else { f }),
                (f, r) => f.or(r),
            };
        }
        Ends { by, resets: tcp.rst, closed: tcp.tcp_ended(), hard: by }
    }

    /// The ends of a WebSocket on HTTP/2 stream `st`: its END_STREAMs, its RST_STREAM, a GOAWAY
    /// that excludes it, else the TCP connection's ends.
    pub fn of_stream(tcp: &TcpFacts, st: &H2Stream, goaways: &[GoAwayRec]) -> Ends {
        let t = Ends::of_tcp(tcp);
        let earliest = |a: Option<SessionEnd>, b: Option<SessionEnd>| match (a, b) {
            (Some(x), Some(y)) => Some(if y.at.packet < x.at.packet { y } else { x }),
            (x, y) => x.or(y),
        };
        let mut e = Ends { closed: t.closed, ..Ends::default() };
        for s in Side::BOTH {
            let rst = st.rst.filter(|r| r.0 == s).map(|(_, code, at)| SessionEnd {
                by: s,
                how: EndHow::RstStream,
                at,
                code: Some(code),
            });
            // A GOAWAY's last stream id counts the streams its receiver opened (RFC 9113 §6.8):
            // only the server's excludes a stream the client opened; the client's GOAWAY
            // (its last stream is about server pushes) leaves the WebSocket streams running.
            let opener = tcp.side_of(crate::units::Role::Client);
            let away = goaways
                .iter()
                .find(|g| g.side == s && s != opener && g.last_stream < st.stream)
                .map(|g| SessionEnd { by: s, how: EndHow::GoAway, at: g.at, code: Some(g.code) });
            let end = st.end_stream[s].map(|at| SessionEnd { by: s, how: EndHow::EndStream, at, code: None });
            e.hard[s] = earliest(earliest(rst, away), t.by[s]);
            e.by[s] = earliest(end, e.hard[s]);
            e.resets[s] = rst.map(|r| r.at).or(t.resets[s]);
        }
        e.closed |= st.rst.is_some() || st.end_stream.0.iter().all(Option::is_some);
        e
    }
}

/// The TCP story of one connection: who is who, the handshake, who ended it and how, what the
/// assemblers counted. One per TCP connection, shared by the WebSockets it carries.
#[derive(Clone, Debug)]
pub struct TcpFacts {
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
    /// Each direction's reassembly counters.
    pub streams: PerSide<AssemblerStats>,
    pub last_payload: PerSide<Option<At>>,
    /// The last packet of the capture, when this connection was still open at its end.
    pub capture_end: Option<At>,
    /// The TTLs (hop limits) each side's packets arrived with, FIN and RST packets left out.
    pub ttls: PerSide<TtlRange>,
    /// The TTL of each side's first FIN or RST, and whether its sequence number fit what that
    /// side had sent.
    pub end_ttl: PerSide<Option<u8>>,
    pub end_seq_fits: PerSide<Option<bool>>,
    /// Each side's bytes as the peer acknowledged them.
    pub delivery: PerSide<Delivery>,
    /// ICMP "fragmentation needed" / "packet too big" messages about this connection's
    /// segments in the capture, and the last MTU they offered.
    pub too_big: u16,
    pub too_big_mtu: u32,
    /// The capture file its first packet came from, and that file's place among the inputs.
    pub input: Option<std::sync::Arc<str>>,
    pub input_index: u32,
}

/// One direction's delivery as its peer's ACKs tell it: when they last moved forward, and the
/// retransmissions of unacknowledged bytes since (a path that stopped delivering).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// The last time the peer's ACK moved forward over this side's bytes (packet 0: never).
    last_acked: At,
    /// The largest payload this side sent in one segment.
    pub max_len: u32,
    /// Retransmissions while bytes were unacknowledged, since the last ACK that moved forward
    /// (boxed: most connections never have one).
    pub stall: Option<Box<Stall>>,
}

/// Retransmissions of bytes the peer had not acknowledged, with no ACK moving forward since.
#[derive(Clone, Debug, PartialEq)]
pub struct Stall {
    pub count: u32,
    /// The first and the last of them.
    pub first: At,
    pub last: At,
    /// Their smallest and largest payloads.
    pub min_len: u32,
    pub max_len: u32,
    /// Bytes the peer never acknowledged, at the end of the connection.
    pub unacked: u64,
}

impl Delivery {
    pub fn last_acked(&self) -> Option<At> {
        (self.last_acked.packet.0 != 0).then_some(self.last_acked)
    }

    /// The peer's ACK moved forward.
    pub fn acked(&mut self, at: At) {
        self.last_acked = at;
        self.stall = None;
    }

    /// A retransmission of `len` bytes while some were unacknowledged.
    pub fn retransmitted(&mut self, at: At, len: u32) {
        match self.stall.as_deref_mut() {
            Some(st) => {
                st.count = st.count.saturating_add(1);
                st.last = at;
                st.min_len = st.min_len.min(len);
                st.max_len = st.max_len.max(len);
            }
            None => {
                self.stall =
                    Some(Box::new(Stall { count: 1, first: at, last: at, min_len: len, max_len: len, unacked: 0 }));
            }
        }
    }
}

/// The smallest and largest TTL seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtlRange {
    pub min: u8,
    pub max: u8,
    /// The last one, so that the usual packet (the same TTL as before) costs one compare.
    last: u8,
    /// Packets seen, counted up to 2 (none, one, several).
    pub packets: u8,
}

impl TtlRange {
    #[inline]
    pub fn add(&mut self, ttl: u8) {
        if self.packets < 2 || ttl != self.last {
            self.widen(ttl);
        }
    }

    #[inline(never)]
    fn widen(&mut self, ttl: u8) {
        if self.packets == 0 {
            (self.min, self.max) = (ttl, ttl);
        } else {
            self.min = self.min.min(ttl);
            self.max = self.max.max(ttl);
        }
        self.last = ttl;
        self.packets = (self.packets + 1).min(2);
    }
}

/// Who sent a teardown, by its TTL against the TTLs of everything else its sender sent
/// (SPEC: `tcp.first_teardown.origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Its TTL fits the endpoint it claims to come from.
    Endpoint,
    /// Its TTL does not: something on the path forged it.
    Path,
    /// The capture cannot tell: one TTL for everything (a loopback or same-host capture), or
    /// nothing else from that side to compare with.
    Unknown,
}

impl TcpFacts {
    /// Where `side`'s first FIN or RST came from, by its TTL.
    pub fn end_origin(&self, side: Side) -> Origin {
        // A sequence number far outside what the side sent: not its own (RFC 5961 §3).
        if self.end_seq_fits[side] == Some(false) {
            return Origin::Path;
        }
        let (Some(ttl), r) = (self.end_ttl[side], self.ttls[side]) else { return Origin::Unknown };
        let other = self.ttls[side.other()];
        let one_ttl = r.min == r.max && (other.packets == 0 || (other.min == r.min && other.max == r.max));
        if r.packets == 0 || (one_ttl && ttl == r.min) {
            return Origin::Unknown;
        }
        // A route may change by a hop during a connection; a forged packet comes from another
        // host, with another initial TTL or another distance.
        if ttl.saturating_add(1) >= r.min && ttl <= r.max.saturating_add(1) { Origin::Endpoint } else { Origin::Path }
    }

    pub fn new(id: u64, a: SocketAddr, b: SocketAddr, at: At) -> Self {
        TcpFacts {
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
            streams: PerSide::default(),
            last_payload: PerSide::default(),
            capture_end: None,
            ttls: PerSide::default(),
            end_ttl: PerSide::default(),
            end_seq_fits: PerSide::default(),
            delivery: PerSide::default(),
            too_big: 0,
            too_big_mtu: 0,
            input: None,
            input_index: 0,
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

    /// TCP payload bytes on the wire from `side` (retransmissions excluded).
    pub fn bytes(&self, side: Side) -> u64 {
        self.streams[side].delivered + self.streams[side].gap_bytes
    }

    /// The capture did not see the start (no SYN, no SYN-ACK).
    pub fn partial(&self) -> bool {
        self.syn.0.iter().chain(self.syn_ack.0.iter()).all(Option::is_none)
    }

    /// The first FIN or RST from either side.
    pub fn first_teardown(&self) -> Option<(Side, bool, At)> {
        let mut best: Option<(Side, bool, At)> = None;
        for s in Side::BOTH {
            for (is_rst, at) in [(false, self.fin[s]), (true, self.rst[s])] {
                if let Some(at) = at
                    && best.is_none_or(|(_, _, b)| at.packet < b.packet)
                {
                    best = Some((s, is_rst, at));
                }
            }
        }
        best
    }

    /// Did the TCP connection end (a FIN from both sides, or any RST)?
    pub fn tcp_ended(&self) -> bool {
        self.rst.0.iter().any(Option::is_some) || self.fin.0.iter().all(Option::is_some)
    }

    /// The last packet that carried payload from either side.
    pub fn last_activity(&self) -> Option<At> {
        latest(self.last_payload)
    }
}

/// The later of two sides' packets, either may be missing.
fn latest(per_side: PerSide<Option<At>>) -> Option<At> {
    match per_side.0 {
        [Some(a), Some(b)] => Some(a.max(b)),
        [a, b] => a.or(b),
    }
}

/// An HTTP/2 GOAWAY (RFC 9113 §6.8).
#[derive(Clone, Debug, PartialEq)]
pub struct GoAwayRec {
    pub side: Side,
    pub last_stream: u32,
    pub code: crate::http::h2::ErrorCode,
    pub debug: String,
    pub at: At,
}

/// A SETTINGS frame: its (identifier, value) pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsRec {
    pub params: Vec<(u16, u32)>,
    pub at: At,
}

/// What the HTTP/2 layer knows of one connection.
#[derive(Clone, Debug, Default)]
pub struct H2Facts {
    /// The client's connection preface.
    pub preface: Option<At>,
    /// Each side's first SETTINGS (not ACK) and where it was.
    pub settings: PerSide<Option<SettingsRec>>,
    pub goaways: Vec<GoAwayRec>,
    /// Streams the client opened with HEADERS, and those that were not WebSockets.
    pub streams: u32,
    pub other_streams: u32,
    /// WebSocket streams beyond the ones kept (a connection keeps a bounded number).
    pub streams_dropped: u32,
    pub frames: PerSide<crate::http::h2::FrameCounts>,
    /// Framing problems (bounded).
    pub errors: Vec<(Side, String, At)>,
    /// A side's framing was lost to a capture gap.
    pub lost: PerSide<bool>,
    /// The report ids the connection's streams take, whether or not the streams that are not
    /// WebSockets are kept (so `--all` does not move any other connection's id).
    pub ids: u32,
    /// Each sender's connection flow-control window.
    pub conn_window: PerSide<Window>,
    /// Each sender's initial stream window (its peer's SETTINGS_INITIAL_WINDOW_SIZE).
    pub initial_window: PerSide<i64>,
}

/// The default initial window of a connection and of a stream (RFC 9113 §6.9.2).
pub const DEFAULT_WINDOW: i64 = 65_535;

/// What one sender may still send under HTTP/2 flow control (RFC 9113 §6.9): DATA spends it,
/// the receiver's WINDOW_UPDATE grants more, a change of SETTINGS_INITIAL_WINDOW_SIZE moves
/// every stream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub now: i64,
    pub min: i64,
    /// When it first reached 0 (or below): the sender had to wait for credit.
    pub exhausted: Option<At>,
}

impl Default for Window {
    fn default() -> Self {
        Window::new(DEFAULT_WINDOW)
    }
}

impl Window {
    pub fn new(initial: i64) -> Self {
        Window { now: initial, min: initial, exhausted: None }
    }

    /// `n` bytes of DATA payload (padding included) sent.
    pub fn spend(&mut self, n: u32, at: At) {
        self.adjust(-i64::from(n), at);
    }

    /// A WINDOW_UPDATE, or a change of the initial window (negative allowed).
    pub fn adjust(&mut self, delta: i64, at: At) {
        self.now = self.now.saturating_add(delta);
        self.min = self.min.min(self.now);
        if self.now <= 0 {
            self.exhausted.get_or_insert(at);
        }
    }
}

impl H2Facts {
    /// Did the server offer SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)?
    pub fn connect_protocol(&self, server: Side) -> Option<bool> {
        let rec = self.settings[server].as_ref()?;
        Some(rec.params.iter().any(|&(id, v)| id == crate::http::h2::frame::setting::ENABLE_CONNECT_PROTOCOL && v == 1))
    }
}

/// One WebSocket's HTTP/2 stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct H2Stream {
    pub stream: u32,
    /// Each sender's window on this stream, and (at the end) on the connection.
    pub window: PerSide<Window>,
    pub conn_window: PerSide<Window>,
    /// An extended CONNECT with `:protocol websocket` (RFC 8441 §4); otherwise another request
    /// on the connection, kept for `--all`.
    pub websocket: bool,
    pub end_stream: PerSide<Option<At>>,
    pub rst: Option<(Side, crate::http::h2::ErrorCode, At)>,
}

/// One WebSocket (one upgrade attempt; on a connection that never asked for one, what its
/// first HTTP exchange showed): the handshake, the frames, the closes, how its carrier ended.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// The HTTP/1.1 exchanges up to the upgrade.
    pub http: H1Facts,
    /// A PROXY protocol header before the request (the original client's address).
    pub proxy_header: Option<String>,
    pub upgraded_at: Option<At>,
    pub deflate: Option<DeflateParams>,
    pub frames: PerSide<FrameCounts>,
    pub closes: Vec<CloseRec>,
    pub violations: Vec<(Side, Violation, At)>,
    /// Heartbeats, allocated on the first one (most connections have none).
    pub beats: Option<Box<Beats>>,
    pub desyncs: PerSide<u32>,
    pub message_events: PerSide<u32>,
    /// The last packet that carried this session's bytes, per side: TCP payload on a
    /// plaintext connection, decrypted application data on TLS (where alerts and other
    /// records are TCP payload too).
    pub last_data: PerSide<Option<At>>,
    /// How the carrier ended, per side.
    pub ends: Box<Ends>,
    /// Its report id; 0: the TCP connection's (the first WebSocket on it).
    pub id: u64,
    /// The HTTP/2 stream it rode on (RFC 8441); none for an HTTP/1.1 upgrade.
    pub h2: Option<Box<H2Stream>>,
    /// The forward proxy's CONNECT tunnel it rode in, if any.
    pub tunnel: Option<Box<Tunnel>>,
    /// What ties it to other connections, known as the capture is read ([`crate::legs`]);
    /// allocated for the few that have it.
    pub links: Option<Box<Links>>,
}

/// A WebSocket's ties to other TCP connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// When its client is a reverse proxy relaying another WebSocket (this is the back leg),
    /// the id of the front leg: the connection to the proxy's address whose upgrade request
    /// for the same path came just before.
    pub front_leg: Option<std::num::NonZeroU64>,
    /// When this is the front leg of such a pair, the id of its back leg.
    pub back_leg: Option<std::num::NonZeroU64>,
    /// The engine.io (Socket.IO) session it upgraded, and the long-polling before it.
    pub engineio: Option<crate::legs::EngineIoSession>,
}

impl Session {
    /// The front leg this back leg relays, if its client is a reverse proxy.
    pub fn front_leg(&self) -> Option<std::num::NonZeroU64> {
        self.links.as_ref().and_then(|l| l.front_leg)
    }

    pub fn links_mut(&mut self) -> &mut Links {
        self.links.get_or_insert_with(Default::default)
    }
}

/// A forward proxy's tunnel (RFC 9110 §9.3.6): `CONNECT target` answered with a 2xx; the
/// connection then carries what the client speaks to the target.
#[derive(Clone, Debug, PartialEq)]
pub struct Tunnel {
    /// The CONNECT request's target (`host:port`).
    pub target: String,
    pub status: u16,
    pub connect: At,
    pub established: At,
}

impl Session {
    pub fn beats_mut(&mut self) -> &mut Beats {
        self.beats.get_or_insert_with(Box::default)
    }

    pub fn response(&self) -> Option<&(Response, At)> {
        self.http.response()
    }

    pub fn request(&self) -> Option<&(Request, At)> {
        self.http.request()
    }

    pub fn close_from(&self, side: Side) -> Option<&CloseRec> {
        self.closes.iter().find(|c| c.side == side)
    }

    /// The last packet that carried this session's bytes from either side.
    pub fn last_activity(&self) -> Option<At> {
        latest(self.last_data)
    }
}

/// The events of one connection, in the order they happened, bounded.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub events: Vec<Event>,
    /// Whether `push` keeps events (not when nothing will show them).
    pub keep: bool,
    pub dropped: u64,
}

impl EventLog {
    pub fn push(&mut self, at: At, side: Side, kind: EventKind) {
        self.push_on(at, side, 0, kind);
    }

    /// An event of HTTP/2 stream `stream`.
    pub fn push_on(&mut self, at: At, side: Side, stream: u32, kind: EventKind) {
        if !self.keep {
            return;
        }
        if self.events.len() < MAX_EVENTS {
            self.events.push(Event { at, side, stream, kind });
        } else {
            self.dropped += 1;
        }
    }
}

/// Everything known about one TCP connection when it is finished: its TCP story, what it
/// carried, its WebSocket sessions and its events.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub tcp: TcpFacts,
    pub app: App,
    /// One today (HTTP/1.1 carries one WebSocket per TCP connection); a connection that never
    /// carried HTTP has an empty one.
    pub sessions: Vec<Session>,
    pub log: EventLog,
    /// The TLS story, when the connection carried TLS.
    pub tls: Option<Box<crate::tls::TlsFacts>>,
    /// The HTTP/2 story, when the connection carried HTTP/2.
    pub h2: Option<Box<H2Facts>>,
}

impl Timeline {
    /// A finished connection carrying one session.
    pub fn new(tcp: TcpFacts, app: App, session: Session, log: EventLog) -> Self {
        Timeline { tcp, app, sessions: vec![session], log, tls: None, h2: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(server_ttls: &[u8], client_ttls: &[u8], end: Option<u8>) -> TcpFacts {
        let a = "10.0.0.5:1".parse().unwrap_or_else(|_| unreachable!());
        let b = "10.0.0.9:2".parse().unwrap_or_else(|_| unreachable!());
        let mut t = TcpFacts::new(1, a, b, At::default());
        for &x in client_ttls {
            t.ttls[Side::A].add(x);
        }
        for &x in server_ttls {
            t.ttls[Side::B].add(x);
        }
        t.end_ttl[Side::B] = end;
        t
    }

    #[test]
    fn a_reset_whose_ttl_does_not_fit_its_sender_came_from_the_path() {
        // "the RST to the client has TTL 63 where every packet from the server had 52"
        assert_eq!(facts(&[52, 52, 52], &[60], Some(63)).end_origin(Side::B), Origin::Path);
        assert_eq!(facts(&[52, 52, 51], &[60], Some(52)).end_origin(Side::B), Origin::Endpoint);
        assert_eq!(
            facts(&[52, 53], &[60], Some(54)).end_origin(Side::B),
            Origin::Endpoint,
            "a hop more is a route change"
        );
        // Loopback: one TTL for everything tells nothing.
        assert_eq!(facts(&[64, 64], &[64], Some(64)).end_origin(Side::B), Origin::Unknown);
        // Nothing else from the server to compare with (a refused SYN).
        assert_eq!(facts(&[], &[64], Some(64)).end_origin(Side::B), Origin::Unknown);
        assert_eq!(facts(&[52], &[60], None).end_origin(Side::B), Origin::Unknown);
    }
}
