//! The owned, serializable report: the `--json` contract of SPEC.md, schema 1. Key names here are
//! the contract; keys beyond it are additions.

use crate::diagnose::across::{ProxyPair, ReconnectLoop};
use crate::diagnose::{Kind, Verdict, round_ms};
use crate::http;
use crate::text::Text;
use crate::timeline::{At, Beats, ClientBy, Event, EventKind, EventLog, H2Note, Heartbeat, Origin, Session, TcpFacts};
use crate::tls::TlsEvent;
use crate::units::{PacketNo, Role, Side, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

pub const SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub schema: u32,
    pub inputs: Vec<Input>,
    pub connections: Vec<Connection>,
    pub summary: Summary,
    /// Patterns across connections.
    pub reconnect_loops: Vec<ReconnectLoop>,
    /// The two legs of proxied WebSockets (a capture on the proxy host).
    pub proxied: Vec<ProxyPair>,
    pub stats: Stats,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Input {
    pub path: String,
    pub packets: u64,
    pub warnings: Vec<String>,
    /// "pcap" or "pcapng"; null when the file could not be read as a capture.
    pub format: Option<&'static str>,
    /// The capture it is part of, from 0: each file is a capture of its own, except the pieces
    /// of a rotation set, which share one. Null when it could not be read.
    pub capture: Option<u32>,
    /// Its piece of that capture, from 1 (packet `2:17` is packet 17 of piece 2). Null when it
    /// could not be read.
    pub piece: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub connections: usize,
    pub by_verdict: BTreeMap<&'static str, usize>,
}

/// Counters over the whole analysis.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub packets: u64,
    pub tcp_packets: u64,
    pub bytes: u64,
    pub non_tcp: u64,
    /// ICMP "fragmentation needed" / ICMPv6 "packet too big" messages about TCP segments.
    pub icmp_too_big: u64,
    pub ip_fragments: u64,
    pub undecodable: u64,
    pub unsupported_link_types: BTreeMap<String, u64>,
    pub tcp_connections: u64,
    pub flows_evicted: u64,
    pub reorder_bytes_dropped: u64,
    /// Bytes of partial HTTP heads given up on because all flows together held too many.
    pub head_bytes_dropped: u64,
    pub deflate_bytes_in: u64,
    pub deflate_bytes_out: u64,
    pub connections_hidden: u64,
    /// TLS connections (wss or HTTPS).
    pub tls_connections: u64,
    /// TLS connections left out of the report: not decrypted, handshake completed, nothing
    /// that makes a WebSocket likely (`--all` shows them).
    pub tls_hidden: u64,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Connection {
    /// What this record is: "connection" (NDJSON lines of other types may follow).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The contract's version, on every record so that each NDJSON line says it.
    pub schema: u32,
    pub id: u64,
    /// What the WebSocket rode on: its TCP connection (and, on HTTP/2, its stream).
    pub transport: Transport,
    pub client: String,
    pub server: String,
    pub client_ip: String,
    pub client_port: u16,
    pub server_ip: String,
    pub server_port: u16,
    pub first_packet: PacketNo,
    pub last_packet: PacketNo,
    pub start: String,
    /// The last packet's time, RFC 3339 UTC.
    pub end: String,
    pub duration_ms: f64,
    pub tcp: Tcp,
    /// null for plaintext.
    pub tls: Option<TlsOut>,
    /// The HTTP/2 story (RFC 8441) when the WebSocket rode on an HTTP/2 stream; null otherwise.
    pub h2: Option<H2Out>,
    pub handshake: Handshake,
    pub websocket: WebSocket,
    pub verdict: Verdict,
    /// How the client side was decided: syn, syn_ack, request, response, masking, guess.
    pub client_by: &'static str,
    pub packets: u64,
    /// A Wireshark display filter for this connection.
    pub wireshark_filter: String,
    /// The Community ID (v1, seed 0) of the TCP connection, as Zeek, Suricata and Arkime
    /// write it.
    pub community_id: String,
    /// Unique across runs, the same when the same capture is analysed again on the same sensor.
    pub uid: String,
    /// The host the capture was taken on (`--sensor`, default the host name).
    pub sensor: std::sync::Arc<str>,
    /// The capture file the connection's first packet came from.
    pub input: InputRef,
    pub timeline: Events,
    pub timeline_events_dropped: u64,
    #[serde(skip)]
    pub start_ns: i64,
    /// `client` and `server` as addresses (for filters and matching across connections).
    #[serde(skip)]
    pub client_addr: std::net::SocketAddr,
    #[serde(skip)]
    pub server_addr: std::net::SocketAddr,
    /// The other leg of a WebSocket relayed by a reverse proxy on the capture's host, as the
    /// capture's reading found it ([`crate::legs`]): this is the back leg of `front_leg`, or the
    /// front leg of `back_leg`.
    #[serde(skip)]
    pub front_leg: Option<u64>,
    #[serde(skip)]
    pub back_leg: Option<u64>,
}

/// An NDJSON line for a finding across connections (`type` "reconnect_loop" or "proxied"),
/// written after the connection lines: the finding's keys as `--json` has them, with what an
/// engine joins on.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct FindingLine<T> {
    /// "reconnect_loop" or "proxied".
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub schema: u32,
    /// Unique across runs: made from the `uid`s of the connections the finding names.
    pub uid: String,
    pub sensor: String,
    #[serde(flatten)]
    pub finding: T,
}

/// Any NDJSON line (the schema of schema/wsdiag-ndjson-line.schema.json): one per connection,
/// then one per reconnect loop and per proxied pair.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NdjsonLine {
    Connection(Box<Connection>),
    ReconnectLoop(FindingLine<ReconnectLoop>),
    Proxied(FindingLine<ProxyPair>),
}

impl<T> FindingLine<T> {
    pub fn new(kind: &'static str, sensor: &str, uids: &[&str], finding: T) -> Self {
        FindingLine {
            kind,
            schema: SCHEMA,
            uid: uid_of(kind, uids.iter().copied()),
            sensor: sensor.to_string(),
            finding,
        }
    }
}

/// "W" and 20 hex digits of the SHA-1 of the parts, each ended by a NUL.
fn uid_of<'a>(first: &str, parts: impl IntoIterator<Item = &'a str>) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(first.as_bytes());
    h.update([0]);
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut uid = String::with_capacity(21);
    uid.push('W');
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in &digest[..10] {
        uid.push(HEX[usize::from(b >> 4)] as char);
        uid.push(HEX[usize::from(b & 15)] as char);
    }
    uid
}

/// A record's capture file: its path and its place among the inputs (from 0).
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct InputRef {
    pub path: std::sync::Arc<str>,
    pub index: u32,
    /// The input holding the connection's last packet: `index` unless the connection runs on
    /// into later pieces of a rotation set.
    pub last_index: u32,
}

/// The Community ID v1 of a TCP connection (github.com/corelight/community-id-spec): the
/// SHA-1 of the seed, the two endpoints in order and the protocol, base64, after "1:".
pub fn community_id(a: std::net::SocketAddr, b: std::net::SocketAddr, seed: u16) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    // An address's bytes: 4 of the 16 for IPv4 (the ordering compares the used bytes only).
    let bytes = |ip: std::net::IpAddr| -> ([u8; 16], usize) {
        match ip {
            std::net::IpAddr::V4(v) => {
                let mut out = [0; 16];
                out[..4].copy_from_slice(&v.octets());
                (out, 4)
            }
            std::net::IpAddr::V6(v) => (v.octets(), 16),
        }
    };
    let ((xa, xn), (ya, yn)) = (bytes(a.ip()), bytes(b.ip()));
    let (x, y) = ((&xa[..xn], a.port()), (&ya[..yn], b.port()));
    let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(lo.0);
    h.update(hi.0);
    h.update([6, 0]);
    h.update(lo.1.to_be_bytes());
    h.update(hi.1.to_be_bytes());
    let mut out = String::with_capacity(30);
    out.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(h.finalize(), &mut out);
    out
}

/// A WebSocket's carrier (SPEC: `transport`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Transport {
    /// "h1": an HTTP/1.1 upgrade, one WebSocket per TCP connection.
    pub kind: &'static str,
    /// The `id` of the TCP connection (as `--all` lists them).
    pub tcp_id: u64,
    /// The HTTP/2 stream (RFC 8441) for kind "h2"; null for "h1".
    pub stream: Option<u32>,
    /// The forward proxy's CONNECT tunnel the WebSocket rode in; null when none.
    pub tunnel: Option<TunnelOut>,
}

/// A forward proxy's tunnel (`CONNECT target` answered with a 2xx).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TunnelOut {
    /// The proxy's address (this TCP connection's server).
    pub proxy: String,
    /// The CONNECT request's target (`host:port`).
    pub target: String,
    pub status: u16,
    /// The CONNECT request's packet and the proxy's answer's.
    pub connect_packet: PacketNo,
    pub established_packet: PacketNo,
}

/// How a TCP connection was ended by one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TcpEnd {
    Fin,
    Rst,
}

impl TcpEnd {
    pub fn is_rst(self) -> bool {
        self == TcpEnd::Rst
    }

    /// As TCP flags are written: "FIN", "RST".
    pub fn upper(self) -> &'static str {
        match self {
            TcpEnd::Fin => "FIN",
            TcpEnd::Rst => "RST",
        }
    }
}

/// A WebSocket's HTTP/2 stream and its connection (SPEC: `h2`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct H2Out {
    /// The stream the extended CONNECT opened.
    pub stream: u32,
    /// Did the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)? Null when
    /// its SETTINGS were not seen.
    pub enable_connect_protocol: Option<bool>,
    /// The packet of each side's END_STREAM on this stream.
    pub end_stream: ByRole<Option<PacketNo>>,
    /// The stream's RST_STREAM, if one was sent.
    pub rst_stream: Option<H2Reset>,
    /// The connection's GOAWAY frames.
    pub goaway: Vec<H2GoAway>,
    /// Streams the client opened on the connection, and how many were not WebSockets.
    pub streams: u32,
    pub other_streams: u32,
    /// Frames per type and side on the whole connection ("DATA", "HEADERS", …).
    pub frames: ByRole<BTreeMap<&'static str, u64>>,
    /// Framing problems on the connection (a frame that broke RFC 9113, a lost header block).
    pub errors: Vec<String>,
    /// Flow control (RFC 9113 §6.9): what each side could still send, on this stream and on
    /// the connection, as DATA and WINDOW_UPDATE frames left it.
    pub flow_control: ByRole<H2Flow>,
    /// The WebSocket's own span on the shared connection (the record's `start`, `end`,
    /// `first_packet`, `last_packet` and `duration_ms` are its TCP connection's): the packet of
    /// the extended CONNECT (null if not seen), ms from the TCP connection's first packet ...
    pub opened_packet: Option<PacketNo>,
    pub opened_at_ms: Option<f64>,
    /// ... the stream's last packet (its last DATA, END_STREAM or RST_STREAM, or the GOAWAY or
    /// TCP teardown that ended it), and ms from the CONNECT to it.
    pub last_packet: PacketNo,
    pub duration_ms: f64,
}

/// One sender's flow-control windows (`client`: what the client could send).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct H2Flow {
    /// The stream window it started with (its peer's SETTINGS_INITIAL_WINDOW_SIZE).
    pub initial_window: i64,
    pub stream_window: H2Window,
    pub connection_window: H2Window,
}

/// A flow-control window: its value at the end of the capture, its lowest, and the packet
/// where it first reached 0 (the sender had to wait for WINDOW_UPDATE credit).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct H2Window {
    /// Bytes of DATA the sender could still send at the end of the capture (0 or less: none).
    pub end: i64,
    /// The lowest it went.
    pub min: i64,
    /// The packet where it first reached 0: the sender had to wait for a WINDOW_UPDATE.
    pub exhausted_packet: Option<PacketNo>,
}

impl From<&crate::timeline::Window> for H2Window {
    fn from(w: &crate::timeline::Window) -> Self {
        H2Window { end: w.now, min: w.min, exhausted_packet: w.exhausted.map(|a| a.packet) }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct H2Reset {
    pub from: Role,
    /// The error code's name ("CANCEL", "NO_ERROR", …) or "error 0x…".
    pub error: String,
    pub packet: PacketNo,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct H2GoAway {
    pub from: Role,
    pub last_stream_id: u32,
    pub error: String,
    pub debug: String,
    pub packet: PacketNo,
}

impl H2Out {
    fn new(f: &crate::timeline::H2Facts, st: &crate::timeline::H2Stream, s: &Session, tcp: &TcpFacts) -> H2Out {
        let client = tcp.side_of(Role::Client);
        let server = client.other();
        let opened = s.request().map(|(_, at)| *at);
        let mut last = opened.or(s.response().map(|(_, at)| *at)).unwrap_or(tcp.first);
        // The carrier's end (a GOAWAY, the TCP teardown) counts only for a stream that did not
        // end by itself: no RST_STREAM, no END_STREAM both ways, no Close frames both ways.
        let own_end = st.rst.is_some()
            || st.end_stream.0.iter().all(Option::is_some)
            || Side::BOTH.into_iter().all(|x| s.close_from(x).is_some());
        let ends = Side::BOTH
            .into_iter()
            .flat_map(|x| [s.ends.by[x].map(|e| e.at).filter(|_| !own_end), s.last_data[x], st.end_stream[x]]);
        for at in ends.chain([s.response().map(|(_, at)| *at), st.rst.map(|r| r.2)]).flatten() {
            if at.packet > last.packet {
                last = at;
            }
        }
        let frames = |side: Side| {
            let c = &f.frames[side];
            crate::http::h2::FrameType::NAMES
                .iter()
                .zip(c.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (*k, *n))
                .collect()
        };
        let flow = |side: Side| H2Flow {
            initial_window: f.initial_window[side],
            stream_window: (&st.window[side]).into(),
            connection_window: (&f.conn_window[side]).into(),
        };
        H2Out {
            opened_packet: opened.map(|a| a.packet),
            opened_at_ms: opened.map(|a| round_ms(a.ts.ms_since(tcp.first.ts))),
            last_packet: last.packet,
            duration_ms: round_ms(last.ts.ms_since(opened.unwrap_or(tcp.first).ts)),
            stream: st.stream,
            enable_connect_protocol: f.connect_protocol(server),
            end_stream: ByRole {
                client: st.end_stream[client].map(|a| a.packet),
                server: st.end_stream[server].map(|a| a.packet),
            },
            rst_stream: st.rst.map(|(side, code, at)| H2Reset {
                from: tcp.role_of(side),
                error: code.to_string(),
                packet: at.packet,
            }),
            goaway: f
                .goaways
                .iter()
                .map(|g| H2GoAway {
                    from: tcp.role_of(g.side),
                    last_stream_id: g.last_stream,
                    error: g.code.to_string(),
                    debug: g.debug.clone(),
                    packet: g.at.packet,
                })
                .collect(),
            streams: f.streams,
            other_streams: f.other_streams,
            frames: ByRole { client: frames(client), server: frames(server) },
            errors: f
                .errors
                .iter()
                .map(|(side, e, at)| format!("{} packet {}: {e}", tcp.role_of(*side), at.packet))
                .collect(),
            flow_control: ByRole { client: flow(client), server: flow(server) },
        }
    }
}

/// The TLS story of a connection (SPEC: `tls`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TlsOut {
    /// "TLS 1.3", "TLS 1.2", …
    pub version: Option<String>,
    /// The IANA name of the cipher suite.
    pub cipher: Option<String>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    /// The browser the ClientHello looks like: `chromium` (GREASE, as BoringSSL sends it) or
    /// `firefox` (NSS's extensions); null for others (OpenSSL: Node, Python, curl).
    pub client_family: Option<&'static str>,
    /// The protocol chosen (TLS 1.3: seen only when decrypted).
    pub alpn: Option<String>,
    pub handshake_complete: bool,
    pub decrypted: bool,
    pub why_not: Option<String>,
    pub alerts: Vec<AlertOut>,
    /// The packet of each side's close_notify.
    pub close_notify: ByRole<Option<PacketNo>>,
    pub records: ByRole<RecordsOut>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AlertOut {
    pub from: Role,
    /// "warning" or "fatal"; null when encrypted and not decrypted.
    pub level: Option<&'static str>,
    pub description: Option<String>,
    pub at_ms: f64,
    pub packet: PacketNo,
    pub encrypted: bool,
}

#[derive(Clone, Copy, Debug, Serialize, schemars::JsonSchema)]
pub struct RecordsOut {
    pub count: u64,
    pub bytes: u64,
}

impl TlsOut {
    fn new(t: &crate::tls::TlsFacts, tcp: &TcpFacts) -> TlsOut {
        let ms = |a: At| round_ms(a.ts.ms_since(tcp.first.ts));
        TlsOut {
            version: t.version.map(crate::tls::version_name),
            cipher: t
                .cipher
                .map(|c| crate::tls::cipher_suite_name(c).map_or_else(|| format!("{c:#06x}"), String::from)),
            sni: t.sni.clone(),
            alpn_offered: t.alpn_offered.clone(),
            client_family: t.client_family,
            alpn: t.alpn.clone(),
            handshake_complete: t.handshake_complete,
            decrypted: t.decrypted,
            why_not: t.why_not.map(|w| w.describe()),
            alerts: t
                .alerts
                .iter()
                .map(|a| AlertOut {
                    from: a.from,
                    level: a.level.map(|l| if l == 2 { "fatal" } else { "warning" }),
                    description: a
                        .description
                        .map(|d| crate::tls::alert_description_name(d).map_or_else(|| d.to_string(), String::from)),
                    at_ms: ms(a.at),
                    packet: a.at.packet,
                    encrypted: a.encrypted,
                })
                .collect(),
            close_notify: ByRole {
                client: t.close_notify.client.map(|a| a.packet),
                server: t.close_notify.server.map(|a| a.packet),
            },
            records: ByRole {
                client: RecordsOut { count: t.records.client.count, bytes: t.records.client.bytes },
                server: RecordsOut { count: t.records.server.count, bytes: t.records.server.bytes },
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Teardown {
    pub by: Role,
    pub kind: TcpEnd,
    pub at_ms: f64,
    pub packet: PacketNo,
    /// `endpoint`, `path` (forged on the way) or `unknown`, from the TTLs.
    pub origin: Origin,
    /// The TTL (hop limit) of the teardown packet, and the range of its sender's other packets.
    pub ttl: Option<u8>,
    pub sender_ttls: Option<[u8; 2]>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Tcp {
    pub syn: bool,
    pub syn_ack: bool,
    pub refused: bool,
    pub first_teardown: Option<Teardown>,
    pub client_fin: bool,
    pub server_fin: bool,
    pub client_rst: bool,
    pub server_rst: bool,
    pub bytes: ByRole<u64>,
    pub gaps: u32,
    pub retransmissions: u32,
    pub partial: bool,
    pub gap_bytes: u64,
    pub out_of_order: u32,
    pub conflicting_overlaps: u32,
    /// ICMP "fragmentation needed" / ICMPv6 "packet too big" messages about this connection's
    /// segments in the capture, and the MTU the last one offered (null if none).
    pub icmp_too_big: u16,
    pub icmp_mtu: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ByRole<T> {
    pub client: T,
    pub server: T,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Handshake {
    pub request: Option<RequestOut>,
    pub response: Option<ResponseOut>,
    pub latency_ms: Option<f64>,
    pub problems: Vec<String>,
    pub request_packet: Option<PacketNo>,
    pub response_packet: Option<PacketNo>,
    /// A PROXY protocol header before the request (HAProxy `send-proxy`, AWS NLB).
    pub proxy_header: Option<String>,
    /// A head was cut short by the snaplen or a gap: only its whole lines are known.
    pub truncated: bool,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RequestOut {
    pub method: Text,
    pub uri: Text,
    pub host: Option<Text>,
    pub origin: Option<Text>,
    pub key: Option<Text>,
    pub protocols: Vec<String>,
    pub extensions: Vec<String>,
    pub user_agent: Option<Text>,
    /// The client's family from its User-Agent: `chromium`, `firefox`, `safari`, a library's
    /// name, or null; `proxy` on a reverse proxy's back leg (its User-Agent is the browser's,
    /// passed on).
    pub client: Option<&'static str>,
    pub upgrade: Option<Text>,
    pub connection: Option<Text>,
    pub version: Option<Text>,
    pub cookie: bool,
    pub authorization: bool,
    pub query_token: bool,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ResponseOut {
    pub status: u16,
    pub reason: Text,
    pub server: Option<Text>,
    /// The server software, recognised from what it sent: its `Server` field, else its
    /// signature (Daphne's bare refusals, Node ws's 426, nginx's and HAProxy's error pages).
    pub software: Option<&'static str>,
    pub accept_valid: Option<bool>,
    pub protocol: Option<Text>,
    pub extensions: Vec<String>,
    pub content_type: Option<Text>,
    pub upgrade: Option<Text>,
    pub connection: Option<Text>,
    pub location: Option<Text>,
    pub body_preview: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct MessageCounts {
    pub text: u32,
    pub binary: u32,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ControlCounts {
    pub ping: u32,
    pub pong: u32,
    pub close: u32,
    pub text: u32,
    pub binary: u32,
    pub continuation: u32,
    pub reserved: u32,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CloseFrame {
    pub from: Role,
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub at_ms: f64,
    pub packet: PacketNo,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ViolationOut {
    pub from: Role,
    pub kind: &'static str,
    pub text: String,
    pub at_ms: f64,
    pub packet: PacketNo,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct HeartbeatOut {
    pub count: u32,
    pub interval_ms: Option<f64>,
    pub max_interval_ms: Option<f64>,
    pub last_packet: Option<PacketNo>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Heartbeats {
    pub ping: ByRole<Option<HeartbeatOut>>,
    pub pong: ByRole<Option<HeartbeatOut>>,
    pub app_ping: ByRole<Option<HeartbeatOut>>,
    pub app_pong: ByRole<Option<HeartbeatOut>>,
    /// The last ping (protocol or application) that got no answer before the end.
    pub last_unanswered: Option<UnansweredPing>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct UnansweredPing {
    pub from: Role,
    pub kind: &'static str,
    pub at_ms: f64,
    pub packet: PacketNo,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Deflate {
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    pub client_max_window_bits: Option<u8>,
    pub server_max_window_bits: Option<u8>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct WebSocket {
    pub messages: ByRole<MessageCounts>,
    pub frames: ByRole<ControlCounts>,
    pub compressed: bool,
    pub close_frames: Vec<CloseFrame>,
    pub violations: Vec<ViolationOut>,
    pub deflate: Option<Deflate>,
    pub compressed_messages: ByRole<u32>,
    pub unknown_bytes: ByRole<u64>,
    pub heartbeat: Heartbeats,
    /// The engine.io (Socket.IO) session this WebSocket upgraded, when its request carried a
    /// `sid`: the long-polling before it. Null otherwise.
    pub engineio: Option<EngineIoOut>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct EngineIoOut {
    pub sid: String,
    /// Long-polling requests that carried the sid before the upgrade.
    pub polling_requests: u32,
    /// The ids of the TCP connections that carried them (`--all` lists them), at most 16.
    pub polling_connections: Vec<u64>,
}

/// Options that change what a report shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportOptions {
    pub show_secrets: bool,
    /// Leave `timeline` empty: only the ladder and the JSON show it, and writing every event's
    /// text is a large share of the cost of a connection's report (the table sets this).
    pub no_timeline: bool,
    /// `--brief`: no timeline, no advice, no body preview — the record for a fleet's tables
    /// (every key stays, as an empty list or null).
    pub brief: bool,
}

fn by_role<T: Copy>(tcp: &TcpFacts, f: impl Fn(Side) -> T) -> ByRole<T> {
    ByRole { client: f(tcp.side_of(Role::Client)), server: f(tcp.side_of(Role::Server)) }
}

fn hb(h: &Heartbeat) -> Option<HeartbeatOut> {
    (h.count > 0).then(|| HeartbeatOut {
        count: h.count,
        interval_ms: h.mean_interval_ms().map(round_ms),
        max_interval_ms: h.max_interval_ms.map(round_ms),
        last_packet: h.last.map(|a| a.packet),
    })
}

fn addr(a: std::net::SocketAddr) -> String {
    if a.is_ipv6() {
        return a.to_string();
    }
    let mut s = String::with_capacity(24);
    push_addr(&mut s, a.ip());
    s.push(':');
    s.push_str(itoa::Buffer::new().format(a.port()));
    s
}

/// An address as `Display` writes it (by hand for IPv4: `format!` was most of the cost of
/// these strings).
fn push_addr(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(o));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `ip.addr==a && tcp.port==p && ...` for Wireshark.
pub fn wireshark_filter(tcp: &TcpFacts) -> String {
    let c = tcp.addr(Role::Client);
    let s = tcp.addr(Role::Server);
    let mut f = String::with_capacity(128);
    for (i, a) in [c, s].into_iter().enumerate() {
        if i > 0 {
            f.push_str(" && ");
        }
        f.push_str(if a.is_ipv6() { "ipv6.addr==" } else { "ip.addr==" });
        push_addr(&mut f, a.ip());
        f.push_str(" && tcp.port==");
        f.push_str(itoa::Buffer::new().format(a.port()));
    }
    // Frame numbers hold within one file: a connection that runs on into the next piece of a
    // rotation set is found there by its addresses alone.
    let (first, last) = (tcp.first.packet, tcp.last.packet);
    f.push_str(" && frame.number>=");
    f.push_str(itoa::Buffer::new().format(first.number()));
    if first.piece() == last.piece() {
        f.push_str(" && frame.number<=");
        f.push_str(itoa::Buffer::new().format(last.number()));
    }
    f
}

/// Appends captured text with control characters replaced, so that it cannot drive a terminal.
fn push_clean(out: &mut String, s: &str) {
    // On bytes (this runs for every message preview): the control characters are the bytes
    // below 0x20, 0x7f, and U+0080–U+009F, which UTF-8 writes as 0xc2 0x80–0x9f.
    let b = s.as_bytes();
    // A fold the compiler vectorises first; the exact test only where it finds a candidate.
    let suspect = b.iter().fold(false, |any, &c| any | (c < 0x20) | (c == 0x7f) | (c == 0xc2));
    let control = |i: usize, c: u8| c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|n| *n <= 0x9f));
    if !suspect || !b.iter().enumerate().any(|(i, &c)| control(i, c)) {
        out.push_str(s);
    } else {
        out.extend(s.chars().map(|c| if c.is_control() { '·' } else { c }));
    }
}

/// The first `n` characters of `s`.
fn head_chars(s: &str, n: usize) -> &str {
    let mut seen = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if c & 0xc0 != 0x80 {
            if seen == n {
                return s.get(..i).unwrap_or(s);
            }
            seen += 1;
        }
    }
    s
}

/// One timeline event as the report shows it; `text` lives until the next event.
#[derive(Serialize)]
pub struct EventView<'a> {
    pub at_ms: f64,
    pub packet: PacketNo,
    pub from: Role,
    pub event: &'static str,
    pub text: &'a str,
}

/// One timeline event, owned.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TimelineEvent {
    pub at_ms: f64,
    pub packet: PacketNo,
    pub from: Role,
    pub event: &'static str,
    pub text: String,
}

/// A connection's timeline: its typed events, moved from the analysis, each one's text written
/// only when it is shown or serialized (one buffer for all of them, no `String` per event).
#[derive(Clone, Debug, Default)]
pub struct Events {
    events: Vec<Event>,
    /// The connection's first packet (times are from it) and its client side.
    first: Timestamp,
    client: Side,
    show_secrets: bool,
    /// Events the analysis did not keep (past its cap).
    pub dropped: u64,
}

impl Events {
    /// The events of a connection, its sides named as `tcp` names them.
    pub fn new(log: EventLog, tcp: &TcpFacts, opts: ReportOptions) -> Events {
        let events = if opts.no_timeline { Vec::new() } else { log.events };
        let client = tcp.side_of(Role::Client);
        Events { events, first: tcp.first.ts, client, show_secrets: opts.show_secrets, dropped: log.dropped }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events made by hand, for tests: (time from the start in ms, packet, sender, what).
    #[cfg(test)]
    pub(crate) fn from_parts(items: Vec<(f64, u64, Role, EventKind)>) -> Events {
        use crate::units::PacketNo;
        let events = items
            .into_iter()
            .map(|(ms, packet, from, kind)| crate::timeline::Event {
                at: At { ts: Timestamp((ms * 1e6) as i64), packet: PacketNo(packet) },
                side: if from == Role::Client { Side::A } else { Side::B },
                stream: 0,
                kind,
            })
            .collect();
        Events { events, first: Timestamp(0), client: Side::A, show_secrets: false, dropped: 0 }
    }

    /// The events as owned values (for tests and tools; the renderers use [`Events::for_each`]).
    pub fn to_vec(&self) -> Vec<TimelineEvent> {
        let mut v = Vec::with_capacity(self.events.len());
        self.for_each(|e| {
            v.push(TimelineEvent {
                at_ms: e.at_ms,
                packet: e.packet,
                from: e.from,
                event: e.event,
                text: e.text.into(),
            })
        });
        v
    }

    /// Each event as the report shows it, in order.
    pub fn for_each(&self, mut f: impl FnMut(&EventView<'_>)) {
        let opts = ReportOptions { show_secrets: self.show_secrets, ..Default::default() };
        let mut text = String::with_capacity(128);
        for e in &self.events {
            text.clear();
            if e.stream != 0 {
                // As tshark names an HTTP/2 frame: "HEADERS[3]: ", "DATA[3]: ".
                text.push_str(h2_frame_of(&e.kind));
                text.push('[');
                text.push_str(itoa::Buffer::new().format(e.stream));
                text.push_str("]: ");
            }
            let event = event_text(&e.kind, opts, e.stream != 0, &mut text);
            let from = if e.side == self.client { Role::Client } else { Role::Server };
            let at_ms = round_ms(e.at.ts.ms_since(self.first));
            f(&EventView { at_ms, packet: e.at.packet, from, event, text: &text });
        }
    }
}

impl schemars::JsonSchema for Events {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timeline".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<TimelineEvent>>::json_schema(generator)
    }
}

impl Serialize for Events {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.events.len()))?;
        let mut result = Ok(());
        self.for_each(|e| {
            if result.is_ok() {
                result = seq.serialize_element(e);
            }
        });
        result?;
        seq.end()
    }
}

/// The HTTP/2 frame that carried an event on a stream.
fn h2_frame_of(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Request { .. } | EventKind::Response { .. } => "HEADERS",
        EventKind::H2(H2Note::EndStream { headers: true }) => "HEADERS",
        EventKind::H2(H2Note::RstStream { .. }) => "RST_STREAM",
        // WebSocket frames and the END_STREAM flag of a DATA frame.
        _ => "DATA",
    }
}

/// Appends an event's text to `t` (`on_stream`: on an HTTP/2 stream); returns its kind.
fn event_text(kind: &EventKind, opts: ReportOptions, on_stream: bool, t: &mut String) -> &'static str {
    use std::fmt::Write;
    // `write!` into a `String` cannot fail.
    match kind {
        EventKind::Syn => t.push_str("SYN"),
        EventKind::SynAck => t.push_str("SYN-ACK"),
        EventKind::Fin => t.push_str("FIN"),
        EventKind::Rst => t.push_str("RST"),
        EventKind::Gap { bytes } => {
            let _ = write!(t, "{bytes} bytes missing from the capture");
        }
        EventKind::Request { method, uri, upgrade } => {
            t.push_str(method);
            t.push(' ');
            if opts.show_secrets {
                t.push_str(uri);
            } else {
                t.push_str(&http::mask_uri(uri));
            }
            if *upgrade {
                // RFC 8441 §4 asks for the protocol with a pseudo-header.
                t.push_str(if on_stream { " :protocol websocket" } else { " (Upgrade: websocket)" });
            }
        }
        EventKind::Response { status, .. } if on_stream => {
            let _ = write!(t, ":status {status}");
        }
        EventKind::Response { status, reason } => {
            let _ = write!(t, "HTTP {status} {reason}");
        }
        EventKind::Message { opcode, len, compressed, preview } => {
            // By hand: this is most of a timeline, and `format!` was a large share of the
            // cost of a connection's JSON.
            t.push_str(opcode.name());
            t.push_str(" message, ");
            t.push_str(itoa::Buffer::new().format(*len));
            t.push_str(if *compressed { " bytes (compressed)" } else { " bytes" });
            if let Some(p) = preview {
                t.push_str(": ");
                push_clean(t, head_chars(p, 40));
            }
        }
        EventKind::Ping { len } => {
            let _ = write!(t, "Ping ({len} bytes)");
        }
        EventKind::Pong { len } => {
            let _ = write!(t, "Pong ({len} bytes)");
        }
        EventKind::Close { code, reason } => match (code, reason) {
            (Some(c), Some(r)) if !r.is_empty() => {
                let _ = write!(t, "Close {c} \"");
                push_clean(t, r);
                t.push('"');
            }
            (Some(c), _) => {
                let _ = write!(t, "Close {c}");
            }
            (None, _) => t.push_str("Close (no status code)"),
        },
        EventKind::Violation(v) => t.push_str(&v.describe()),
        EventKind::Desync => t.push_str("framing lost after a capture gap"),
        EventKind::Resync { skipped } => {
            let _ = write!(t, "frames found at a segment start ({skipped} bytes before could not be read as frames)");
        }
        EventKind::HttpError(e) => t.push_str(e),
        EventKind::Tls(e) => tls_event_text(e, t),
        EventKind::H2(n) => h2_note_text(n, t),
    }
    match kind {
        EventKind::Syn => "syn",
        EventKind::SynAck => "syn_ack",
        EventKind::Fin => "fin",
        EventKind::Rst => "rst",
        EventKind::Gap { .. } => "gap",
        EventKind::Request { .. } => "request",
        EventKind::Response { .. } => "response",
        EventKind::Message { .. } => "message",
        EventKind::Ping { .. } => "ping",
        EventKind::Pong { .. } => "pong",
        EventKind::Close { .. } => "close",
        EventKind::Violation(_) => "violation",
        EventKind::Desync => "desync",
        EventKind::Resync { .. } => "resync",
        EventKind::HttpError(_) => "http_error",
        EventKind::Tls(e) => tls_event_name(e),
        EventKind::H2(n) => match n {
            H2Note::Preface => "h2_preface",
            H2Note::Settings { .. } => "h2_settings",
            H2Note::EndStream { .. } => "h2_end_stream",
            H2Note::RstStream { .. } => "h2_rst_stream",
            H2Note::GoAway { .. } => "h2_goaway",
            H2Note::Error(_) => "h2_error",
            H2Note::Lost => "h2_lost",
            H2Note::Resync { .. } => "h2_resync",
        },
    }
}

fn h2_note_text(n: &H2Note, t: &mut String) {
    use std::fmt::Write;
    match n {
        H2Note::Preface => t.push_str("HTTP/2 connection preface"),
        H2Note::Settings { ack: true, .. } => t.push_str("SETTINGS[0]: ACK"),
        H2Note::Settings { connect_protocol, .. } => {
            t.push_str("SETTINGS[0]");
            if *connect_protocol == Some(true) {
                t.push_str(" (ENABLE_CONNECT_PROTOCOL = 1: WebSockets over HTTP/2 allowed)");
            }
        }
        H2Note::EndStream { .. } => t.push_str("END_STREAM"),
        // After "RST_STREAM[3]: ".
        H2Note::RstStream { code } => {
            let _ = write!(t, "{code}");
        }
        H2Note::GoAway { last_stream, code, debug } => {
            let _ = write!(t, "GOAWAY[0]: {code}, last stream {last_stream}");
            if !debug.is_empty() {
                t.push_str(": ");
                push_clean(t, head_chars(debug, 60));
            }
        }
        H2Note::Error(e) => t.push_str(e),
        H2Note::Lost => t.push_str("HTTP/2 framing lost after a capture gap"),
        H2Note::Resync { skipped } => {
            let _ = write!(t, "HTTP/2 frames found again ({skipped} bytes could not be read)");
        }
    }
}

/// The timeline's name for a TLS event.
fn tls_event_name(e: &TlsEvent) -> &'static str {
    match e {
        TlsEvent::ClientHello { .. } => "tls_client_hello",
        TlsEvent::ServerHello { .. } => "tls_server_hello",
        TlsEvent::EncryptedExtensions { .. } => "tls_encrypted_extensions",
        TlsEvent::ChangeCipherSpec => "tls_change_cipher_spec",
        TlsEvent::HandshakeFinished { .. } => "tls_finished",
        TlsEvent::Alert { .. } => "tls_alert",
        TlsEvent::KeyUpdate { .. } => "tls_key_update",
        TlsEvent::DecryptFailed { .. } => "tls_decrypt_failed",
        TlsEvent::Malformed(_) => "tls_malformed",
        TlsEvent::SyncLost => "tls_desync",
        TlsEvent::SyncFound { .. } => "tls_resync",
        TlsEvent::NotTls(_) => "not_tls",
    }
}

/// An alert as a report says it: "fatal unknown_ca", "close_notify", "an encrypted alert".
pub fn alert_text(level: Option<u8>, description: Option<u8>) -> String {
    let Some(d) = description else { return "an encrypted alert".into() };
    let name = crate::tls::alert_description_name(d).map_or_else(|| format!("alert {d}"), String::from);
    match level {
        Some(2) => format!("fatal {name}"),
        Some(1) if d != 0 => format!("warning {name}"),
        _ => name,
    }
}

fn cipher_text(c: u16) -> String {
    crate::tls::cipher_suite_name(c).map_or_else(|| format!("cipher suite {c:#06x}"), String::from)
}

fn tls_event_text(e: &TlsEvent, t: &mut String) {
    use std::fmt::Write;
    let list = |v: &[String]| v.join(", ");
    // `write!` into a `String` cannot fail.
    let _ = match e {
        TlsEvent::ClientHello { sni, alpn_offered, .. } => {
            t.push_str("TLS ClientHello");
            match (sni, alpn_offered.is_empty()) {
                (Some(s), false) => write!(t, " (SNI {s}, ALPN {})", list(alpn_offered)),
                (Some(s), true) => write!(t, " (SNI {s})"),
                (None, false) => write!(t, " (ALPN {})", list(alpn_offered)),
                (None, true) => Ok(()),
            }
        }
        TlsEvent::ServerHello { retry: true, .. } => write!(t, "TLS HelloRetryRequest"),
        TlsEvent::ServerHello { version, cipher, .. } => {
            write!(t, "TLS ServerHello: {}, {}", crate::tls::version_name(*version), cipher_text(*cipher))
        }
        TlsEvent::EncryptedExtensions { alpn: Some(a) } => write!(t, "TLS EncryptedExtensions (ALPN {a})"),
        TlsEvent::EncryptedExtensions { alpn: None } => write!(t, "TLS EncryptedExtensions"),
        TlsEvent::ChangeCipherSpec => write!(t, "TLS ChangeCipherSpec"),
        TlsEvent::HandshakeFinished { inferred: false } => write!(t, "TLS Finished"),
        TlsEvent::HandshakeFinished { inferred: true } => write!(t, "TLS handshake done (Finished not decrypted)"),
        TlsEvent::Alert { level, description, .. } => write!(t, "TLS alert: {}", alert_text(*level, *description)),
        TlsEvent::KeyUpdate { requested } => {
            write!(t, "TLS KeyUpdate{}", if *requested { " (update requested)" } else { "" })
        }
        TlsEvent::DecryptFailed { record_no, why } => write!(t, "TLS record {record_no} does not decrypt ({why:?})"),
        TlsEvent::Malformed(e) => write!(t, "malformed TLS handshake message: {e}"),
        TlsEvent::SyncLost => write!(t, "TLS record framing lost after a capture gap"),
        TlsEvent::SyncFound { skipped } => write!(t, "TLS records found again ({skipped} bytes skipped)"),
        TlsEvent::NotTls(why) => write!(t, "not TLS ({why:?})"),
    };
}

fn last_unanswered(tcp: &TcpFacts, s: &Session) -> Option<UnansweredPing> {
    let b = s.beats.as_deref()?;
    let mut best: Option<(Side, &'static str, At)> = None;
    for side in Side::BOTH {
        for (kind, pings, pongs) in [("ping", &b.pings, &b.pongs), ("app_ping", &b.app_pings, &b.app_pongs)] {
            let Some(last_ping) = pings[side].last else { continue };
            let answered = pongs[side.other()].last.is_some_and(|p| p.packet > last_ping.packet);
            if !answered && best.is_none_or(|(_, _, b)| last_ping.packet > b.packet) {
                best = Some((side, kind, last_ping));
            }
        }
    }
    let (side, kind, at) = best?;
    // A ping right before a clean end is not interesting unless the connection ended badly.
    Some(UnansweredPing {
        from: tcp.role_of(side),
        kind,
        at_ms: round_ms(at.ts.ms_since(tcp.first.ts)),
        packet: at.packet,
    })
}

impl Connection {
    pub fn build(
        tcp: &TcpFacts,
        tls: Option<&crate::tls::TlsFacts>,
        h2: Option<&crate::timeline::H2Facts>,
        s: &Session,
        timeline: Events,
        verdict: Verdict,
        opts: ReportOptions,
    ) -> Connection {
        let client = tcp.side_of(Role::Client);
        let server = client.other();
        let ms = |a: At| round_ms(a.ts.ms_since(tcp.first.ts));
        let first_teardown = tcp.first_teardown().map(|(side, is_rst, at)| Teardown {
            by: tcp.role_of(side),
            kind: if is_rst { TcpEnd::Rst } else { TcpEnd::Fin },
            at_ms: ms(at),
            packet: at.packet,
            origin: tcp.end_origin(side),
            ttl: tcp.end_ttl[side],
            sender_ttls: (tcp.ttls[side].packets > 0).then_some([tcp.ttls[side].min, tcp.ttls[side].max]),
        });
        let tcp_out = Tcp {
            syn: tcp.syn[client].is_some(),
            syn_ack: tcp.syn_ack[server].is_some(),
            refused: verdict.kind == Kind::Refused,
            first_teardown,
            client_fin: tcp.fin[client].is_some(),
            server_fin: tcp.fin[server].is_some(),
            client_rst: tcp.rst[client].is_some(),
            server_rst: tcp.rst[server].is_some(),
            bytes: by_role(tcp, |side| tcp.bytes(side)),
            gaps: tcp.streams[client].gaps + tcp.streams[server].gaps,
            retransmissions: tcp.streams[client].retransmissions + tcp.streams[server].retransmissions,
            partial: tcp.partial(),
            gap_bytes: tcp.streams[client].gap_bytes + tcp.streams[server].gap_bytes,
            out_of_order: tcp.streams[client].out_of_order + tcp.streams[server].out_of_order,
            conflicting_overlaps: tcp.streams[client].conflicts + tcp.streams[server].conflicts,
            icmp_too_big: tcp.too_big,
            icmp_mtu: (tcp.too_big > 0).then_some(tcp.too_big_mtu),
        };
        let mask = |s: &String| if opts.show_secrets { s.clone() } else { http::mask_jwt(s).into_owned() };
        let software = crate::diagnose::software(s);
        let accept_valid = s.response().map(|(r, _)| {
            s.request()
                .and_then(|(q, _)| q.key.as_ref())
                .zip(r.accept.as_ref())
                .map(|(k, a)| s.http.accept_ok.unwrap_or_else(|| http::accept_matches(k, a)))
                .or_else(|| (r.status == 101).then_some(false))
        });
        let latency_ms = match (s.request(), s.response()) {
            (Some((_, q)), Some((_, r))) => Some(round_ms(r.ts.ms_since(q.ts))),
            _ => None,
        };
        let (request_packet, response_packet) =
            (s.request().map(|(_, a)| a.packet), s.response().map(|(_, a)| a.packet));
        let front_leg = s.front_leg();
        let h2_out = h2.zip(s.h2.as_deref()).map(|(f, st)| H2Out::new(f, st, s, tcp));
        let last_unanswered = last_unanswered(tcp, s);
        let (client_controls, server_controls) = (control_counts(s, client), control_counts(s, server));
        let exchange = s.http.exchange.as_deref();
        let (request, response, body) = match exchange {
            Some(e) => (e.request.as_ref(), e.response.as_ref(), &e.body[..]),
            None => (None, None, &[][..]),
        };
        let request = request.map(|(r, _)| {
            let masked = http::mask_uri(&r.uri);
            let query_token = *masked != *r.uri;
            let uri = if opts.show_secrets || !query_token { r.uri.clone() } else { Text::from(masked) };
            RequestOut {
                method: r.method.clone(),
                query_token,
                uri,
                host: r.host.clone(),
                origin: r.origin.clone(),
                key: r.key.clone(),
                protocols: r.protocols.iter().map(mask).collect(),
                extensions: r.extensions_raw.clone(),
                // A reverse proxy's back leg carries the browser's User-Agent; its client is the proxy.
                client: if front_leg.is_some() {
                    Some("proxy")
                } else {
                    r.user_agent.as_deref().and_then(http::client_family)
                },
                user_agent: r.user_agent.clone(),
                upgrade: r.upgrade.clone(),
                connection: r.connection.clone(),
                version: r.ws_version.clone(),
                cookie: r.cookie,
                authorization: r.authorization,
            }
        });
        let response = response.map(|(r, _)| ResponseOut {
            status: r.status,
            reason: r.reason.clone(),
            server: r.server.clone(),
            software,
            accept_valid: accept_valid.flatten(),
            protocol: r
                .protocol
                .as_ref()
                .map(|p| if opts.show_secrets { p.clone() } else { Text::from(http::mask_jwt(p)) }),
            extensions: r.extensions_raw.clone(),
            content_type: r.content_type.clone(),
            upgrade: r.upgrade.clone(),
            connection: r.connection.clone(),
            location: r.location.clone(),
            body_preview: (!body.is_empty() && !opts.brief).then(|| String::from_utf8_lossy(body).into_owned()),
        });
        let handshake = Handshake {
            request,
            response,
            latency_ms,
            problems: s.http.problems.iter().map(|p| p.to_string()).collect(),
            request_packet,
            response_packet,
            proxy_header: s.proxy_header.clone(),
            truncated: s.http.truncated || s.http.shed,
        };
        let back_leg = s.links.as_ref().and_then(|l| l.back_leg).map(|b| b.get());
        let engineio = s.links.as_ref().and_then(|l| l.engineio.as_ref()).map(|e| EngineIoOut {
            sid: e.sid.clone(),
            polling_requests: e.polling_requests,
            polling_connections: e.polling_connections.clone(),
        });
        let websocket = WebSocket {
            engineio,
            messages: ByRole {
                client: MessageCounts {
                    text: s.frames[client].text_messages,
                    binary: s.frames[client].binary_messages,
                },
                server: MessageCounts {
                    text: s.frames[server].text_messages,
                    binary: s.frames[server].binary_messages,
                },
            },
            frames: ByRole { client: client_controls, server: server_controls },
            compressed: s.frames.0.iter().any(|f| f.compressed_messages > 0),
            close_frames: s
                .closes
                .iter()
                .map(|c| CloseFrame {
                    from: tcp.role_of(c.side),
                    code: c.code,
                    reason: c.reason.clone(),
                    at_ms: ms(c.at),
                    packet: c.at.packet,
                })
                .collect(),
            violations: s
                .violations
                .iter()
                .map(|(side, v, at)| ViolationOut {
                    from: tcp.role_of(*side),
                    kind: v.key(),
                    text: v.describe(),
                    at_ms: ms(*at),
                    packet: at.packet,
                })
                .collect(),
            deflate: s.deflate.as_ref().map(|d| Deflate {
                client_no_context_takeover: d.client_no_context_takeover,
                server_no_context_takeover: d.server_no_context_takeover,
                client_max_window_bits: d.client_max_window_bits,
                server_max_window_bits: d.server_max_window_bits,
            }),
            compressed_messages: by_role(tcp, |side| s.frames[side].compressed_messages),
            unknown_bytes: by_role(tcp, |side| s.frames[side].unknown_bytes),
            heartbeat: {
                let none = Beats::default();
                let b = s.beats.as_deref().unwrap_or(&none);
                let pair =
                    |h: &crate::units::PerSide<Heartbeat>| ByRole { client: hb(&h[client]), server: hb(&h[server]) };
                Heartbeats {
                    ping: pair(&b.pings),
                    pong: pair(&b.pongs),
                    app_ping: pair(&b.app_pings),
                    app_pong: pair(&b.app_pongs),
                    last_unanswered,
                }
            },
        };
        let (ca, sa) = (tcp.endpoints[client], tcp.endpoints[server]);
        let ip = |a: std::net::SocketAddr| {
            let mut s = String::with_capacity(if a.is_ipv6() { 39 } else { 15 });
            push_addr(&mut s, a.ip());
            s
        };
        Connection {
            kind: "connection",
            schema: SCHEMA,
            id: if s.id != 0 { s.id } else { tcp.id },
            transport: Transport {
                kind: if s.h2.is_some() { "h2" } else { "h1" },
                tcp_id: tcp.id,
                stream: s.h2.as_ref().map(|st| st.stream),
                tunnel: s.tunnel.as_deref().map(|t| TunnelOut {
                    proxy: addr(tcp.endpoints[server]),
                    target: t.target.clone(),
                    status: t.status,
                    connect_packet: t.connect.packet,
                    established_packet: t.established.packet,
                }),
            },
            client: addr(tcp.endpoints[client]),
            server: addr(tcp.endpoints[server]),
            client_ip: ip(ca),
            client_port: ca.port(),
            server_ip: ip(sa),
            server_port: sa.port(),
            first_packet: tcp.first.packet,
            last_packet: tcp.last.packet,
            start: tcp.first.ts.rfc3339(),
            end: tcp.last.ts.rfc3339(),
            duration_ms: ms(tcp.last),
            tcp: tcp_out,
            tls: tls.map(|t| TlsOut::new(t, tcp)),
            h2: h2_out,
            handshake,
            websocket,
            verdict: verdict_for(verdict, opts),
            client_by: match tcp.client_by {
                ClientBy::Syn => "syn",
                ClientBy::SynAck => "syn_ack",
                ClientBy::Request => "request",
                ClientBy::Response => "response",
                ClientBy::Masking => "masking",
                ClientBy::Guess => "guess",
            },
            packets: tcp.packets,
            wireshark_filter: wireshark_filter(tcp),
            community_id: community_id(ca, sa, 0),
            uid: String::new(),
            sensor: std::sync::Arc::from(""),
            input: InputRef::default(),
            timeline_events_dropped: timeline.dropped,
            timeline,
            start_ns: tcp.first.ts.0,
            client_addr: tcp.endpoints[client],
            server_addr: tcp.endpoints[server],
            front_leg: front_leg.map(|f| f.get()),
            back_leg,
        }
    }

    /// Names where the record comes from (sensor and capture file) and makes its `uid` from
    /// them: the same capture analysed again on the same sensor gives the same uids.
    pub fn set_origin(&mut self, sensor: &std::sync::Arc<str>, input: &std::sync::Arc<str>, index: u32) {
        let mut id = itoa::Buffer::new();
        self.uid = uid_of(sensor, [&**input, &self.start, &self.community_id, id.format(self.id)]);
        self.sensor = sensor.clone();
        // Pieces are consecutive inputs: the last packet's is as many further on.
        let pos = |p: PacketNo| p.piece().max(1);
        let last_index = index.saturating_add(pos(self.last_packet).saturating_sub(pos(self.first_packet)));
        self.input = InputRef { path: input.clone(), index, last_index };
    }

    /// The request path, if any (for filters and loops).
    pub fn path(&self) -> Option<&str> {
        self.handshake.request.as_ref().map(|r| r.uri.split('?').next().unwrap_or(""))
    }
}

/// The verdict as a report carries it: `--brief` leaves out the advice.
pub fn verdict_for(verdict: Verdict, opts: ReportOptions) -> Verdict {
    if opts.brief { Verdict { advice: Vec::new(), ..verdict } } else { verdict }
}

fn control_counts(s: &Session, side: Side) -> ControlCounts {
    let f = &s.frames[side];
    ControlCounts {
        ping: f.ping,
        pong: f.pong,
        close: f.close,
        text: f.text,
        binary: f.binary,
        continuation: f.continuation,
        reserved: f.reserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference implementation's values (the `communityid` Python package).
    #[test]
    fn community_ids_are_the_reference_ones() {
        let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            community_id(a("128.232.110.120:34855"), a("66.35.250.204:80"), 0),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id(a("66.35.250.204:80"), a("128.232.110.120:34855"), 0),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(community_id(a("127.0.0.1:50872"), a("127.0.0.1:8765"), 0), "1:OD+rZJhwXcVXMARMmJSnkDPRYjQ=");
        assert_eq!(community_id(a("[::1]:40000"), a("[::1]:9033"), 0), "1:Gge83OmvgkebIpMDivUXsl+PtPI=");
    }

    /// The byte-wise cleaning and cutting are the char-wise ones, on random text with control
    /// characters of every kind, multi-byte characters and cuts inside them.
    #[test]
    fn clean_and_head_are_the_char_wise_ones() {
        let alphabet =
            ['a', ' ', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', '\u{a0}', 'é', '✓', '𝄞', '\u{c2}', '\u{2028}'];
        let mut rand = crate::xorshift(77);
        for _ in 0..5000 {
            let s: String = (0..rand(60)).map(|_| alphabet[rand(alphabet.len() as u64) as usize]).collect();
            let mut got = String::new();
            push_clean(&mut got, &s);
            let want: String = s.chars().map(|c| if c.is_control() { '·' } else { c }).collect();
            assert_eq!(got, want, "{s:?}");
            for n in [0, 1, 7, 40] {
                let want = s.char_indices().nth(n).map_or(s.as_str(), |(i, _)| &s[..i]);
                assert_eq!(head_chars(&s, n), want, "{s:?} {n}");
            }
        }
    }
}
