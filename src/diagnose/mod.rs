//! Timeline -> verdict: how the connection ended, what each endpoint reported (RFC 6455 §7.1.5),
//! with evidence and advice. Pure functions of the timeline.

pub mod across;
mod advice;
pub use advice::software;

use crate::timeline::{App, At, EndHow, Origin, Session, SessionEnd, TcpFacts};
use crate::tls::TlsFacts;
use crate::units::{PacketNo, Role, Side};
use crate::ws::frame::close_code_name;
use crate::ws::stream::Violation;
use serde::Serialize;

/// `format!` when the verdict is wanted in words, else an empty string (nothing is formatted
/// or allocated): [`facts`] decides exactly as [`diagnose`] does, without the sentences.
macro_rules! say {
    ($cx:expr, $($arg:tt)*) => {
        if $cx.words { format!($($arg)*) } else { String::new() }
    };
}

/// The closed set of verdict kinds (SPEC.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CleanClose,
    Refused,
    Unreachable,
    HandshakeRejected,
    HandshakeUnanswered,
    InvalidHandshake,
    ServerAbort,
    ClientAbort,
    IdleTimeout,
    CloseUnanswered,
    ProtocolViolation,
    TlsFailed,
    PathReset,
    PathLost,
    StillOpen,
    Unknown,
    NotWebsocket,
}

impl Kind {
    pub const ALL: [Kind; 17] = [
        Kind::CleanClose,
        Kind::Refused,
        Kind::Unreachable,
        Kind::HandshakeRejected,
        Kind::HandshakeUnanswered,
        Kind::InvalidHandshake,
        Kind::ServerAbort,
        Kind::ClientAbort,
        Kind::IdleTimeout,
        Kind::CloseUnanswered,
        Kind::ProtocolViolation,
        Kind::TlsFailed,
        Kind::PathReset,
        Kind::PathLost,
        Kind::StillOpen,
        Kind::Unknown,
        Kind::NotWebsocket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CleanClose => "clean_close",
            Kind::Refused => "refused",
            Kind::Unreachable => "unreachable",
            Kind::HandshakeRejected => "handshake_rejected",
            Kind::HandshakeUnanswered => "handshake_unanswered",
            Kind::InvalidHandshake => "invalid_handshake",
            Kind::ServerAbort => "server_abort",
            Kind::ClientAbort => "client_abort",
            Kind::IdleTimeout => "idle_timeout",
            Kind::CloseUnanswered => "close_unanswered",
            Kind::ProtocolViolation => "protocol_violation",
            Kind::TlsFailed => "tls_failed",
            Kind::PathReset => "path_reset",
            Kind::PathLost => "path_lost",
            Kind::StillOpen => "still_open",
            Kind::Unknown => "unknown",
            Kind::NotWebsocket => "not_websocket",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Verdicts that are not a problem.
    pub fn is_normal(self) -> bool {
        matches!(self, Kind::CleanClose | Kind::StillOpen | Kind::NotWebsocket)
    }
}

/// One piece of evidence: a packet and what it shows.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    pub at_ms: f64,
    pub packet: PacketNo,
    pub text: String,
}

/// How an ending grades for a dashboard, whatever the kind (SPEC: `verdict.outcome`): a clean
/// closing handshake that carried 1011 is a clean close and an application error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 1000, or a Close with no code (1005), after a clean closing handshake.
    Normal,
    /// 1001, 1012 (service restart), 1013 (try again later).
    GoingAway,
    /// 1009, 1011, 1014 and the application's own codes (3000–4999).
    AppError,
    /// 1008.
    Policy,
    /// 1002, 1003, 1007, 1010, and frames that broke RFC 6455.
    ProtocolError,
    /// Every ending an endpoint reports as 1006.
    Abnormal,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Normal => "normal",
            Outcome::GoingAway => "going_away",
            Outcome::AppError => "app_error",
            Outcome::Policy => "policy",
            Outcome::ProtocolError => "protocol_error",
            Outcome::Abnormal => "abnormal",
            Outcome::Unknown => "unknown",
        }
    }

    /// The outcome of a close code.
    pub fn of_code(code: u16) -> Outcome {
        match code {
            1000 | 1005 => Outcome::Normal,
            1001 | 1012 | 1013 => Outcome::GoingAway,
            1008 => Outcome::Policy,
            1002 | 1003 | 1007 | 1010 => Outcome::ProtocolError,
            1009 | 1011 | 1014 | 3000..=4999 => Outcome::AppError,
            1006 => Outcome::Abnormal,
            _ => Outcome::Unknown,
        }
    }

    fn of(kind: Kind, client_sees: Option<u16>, server_sees: Option<u16>, s: &Session) -> Outcome {
        let first_code = || s.closes.iter().min_by_key(|c| c.at.packet).map(|c| c.code.unwrap_or(1005));
        match kind {
            Kind::StillOpen | Kind::Unknown | Kind::NotWebsocket => Outcome::Unknown,
            Kind::ProtocolViolation => Outcome::ProtocolError,
            Kind::CleanClose => first_code().map_or(Outcome::Unknown, Outcome::of_code),
            Kind::CloseUnanswered if client_sees != Some(1006) && server_sees != Some(1006) => {
                first_code().map_or(Outcome::Unknown, Outcome::of_code)
            }
            _ => Outcome::Abnormal,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Verdict {
    pub kind: Kind,
    pub outcome: Outcome,
    pub client_sees: Option<u16>,
    /// What the client's `onclose` says in `wasClean` (null when it reports nothing):
    /// a clean closing handshake, as this client judges it.
    pub client_clean: Option<bool>,
    pub server_sees: Option<u16>,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub advice: Vec<String>,
}

/// How soon after a protocol violation a Close is the peer failing the connection for it.
const REACTION_MS: f64 = 1000.0;

/// How soon after its own Close a browser that ends TCP is leaving the page (navigation, a
/// closed tab: it sends Close 1001 and closes the socket without waiting).
const LEAVING_MS: f64 = 50.0;

/// The client's family from its User-Agent (`chromium`, `firefox`, `safari`, a library), when
/// it sent one.
fn family(s: &Session) -> Option<&'static str> {
    s.request().and_then(|(r, _)| r.user_agent.as_deref()).and_then(crate::http::client_family)
}

fn is_browser(family: Option<&str>) -> bool {
    matches!(family, Some("chromium" | "firefox" | "safari"))
}

/// Who reports 1006 when `ender` ended TCP without a Close: the other side. On a reverse
/// proxy's back leg the client is the proxy, and the browser is on the front leg.
fn sees_1006(s: &Session, ender: Role) -> String {
    match (ender, s.front_leg()) {
        (Role::Server, _) => format!("{} 1006", reporter(s)),
        (Role::Client, Some(front)) => {
            format!("the backend reports 1006; the client here is the proxy relaying #{front}, not a browser")
        }
        (Role::Client, None) => "the server reports 1006".into(),
    }
}

/// Who is the client that reports: a reverse proxy on a back leg (the browser is on the front
/// leg, and sees what the proxy does next), a library by name, else a browser.
fn reporter(s: &Session) -> String {
    match (s.front_leg(), family(s)) {
        (Some(front), _) => format!("the proxy relaying #{front} (this leg's client) gets"),
        (None, f) if is_browser(f) || f.is_none() => "the browser reports".into(),
        (None, _) => "the client reports".into(),
    }
}

/// Waiting for the answer to an upgrade that makes it unanswered when the capture just ends
/// (SPEC: ≥ 5 s; sooner it is still open).
pub const UNANSWERED_MIN_MS: f64 = 5000.0;

/// Silence before a teardown that makes an abort an idle timeout (SPEC: ≥ 1 s both ways).
pub const IDLE_MIN_MS: f64 = 1000.0;

struct Ctx<'a> {
    tcp: &'a TcpFacts,
    app: App,
    tls: Option<&'a TlsFacts>,
    s: &'a Session,
    ev: Vec<Evidence>,
    /// Summary, evidence and advice wanted (else only the facts).
    words: bool,
}

impl Ctx<'_> {
    fn ms(&self, at: At) -> f64 {
        round_ms(at.ts.ms_since(self.tcp.first.ts))
    }
    fn cite(&mut self, at: At, text: impl Into<String>) {
        if !self.words {
            return;
        }
        let e = Evidence { at_ms: self.ms(at), packet: at.packet, text: text.into() };
        if !self.ev.contains(&e) {
            self.ev.push(e);
        }
    }
    fn role(&self, s: Side) -> Role {
        self.tcp.role_of(s)
    }
}

pub fn round_ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// "231 ms", "3.004 s", "1 min 40 s": seconds keep the milliseconds the evidence has, since
/// an exact timeout (3.000 s, 60.002 s) is often the point.
pub fn human_ms(ms: f64) -> String {
    HumanMs(ms).to_string()
}

/// [`human_ms`], written where it is wanted.
pub struct HumanMs(pub f64);

impl std::fmt::Display for HumanMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0;
        if ms < 1000.0 {
            // + 0.0: a -0 (an instant a hair before) is written 0
            write!(f, "{} ms", (ms * 10.0).round() / 10.0 + 0.0)
        } else if ms < 600_000.0 {
            // To the millisecond, zeros kept: "3.000 s" says the timeout was exact, "3 s" would not.
            write!(f, "{:.3} s", ms.round() / 1000.0)
        } else {
            let s = (ms / 1000.0).round() as u64;
            write!(f, "{} min {} s", s / 60, s % 60)
        }
    }
}

/// What `side` reports, by RFC 6455 §7.1.5: the code of the Close frame it received (1005 if
/// the frame had none), 1006 if its connection ended without one, `None` while still open.
/// A Close counts as received only if it came before that side's own FIN or RST: a late answer
/// reaches a socket that is already closed.
pub fn sees(s: &Session, side: Side) -> Option<u16> {
    let peer = side.other();
    // After its own END_STREAM a side still reads (a half-close); after anything else it does not.
    let own_end = s.ends.hard[side].map(|e| e.at.packet);
    if let Some(c) = s.close_from(peer)
        && own_end.is_none_or(|e| c.at.packet < e)
    {
        return Some(c.code.unwrap_or(1005));
    }
    if s.ends.first().is_some() { Some(1006) } else { None }
}

fn describe_close(code: Option<u16>, reason: Option<&str>) -> CloseText<'_> {
    CloseText { code, reason }
}

/// A Close frame in words: `Close 4001 (application-defined) "role rejected"`.
struct CloseText<'a> {
    code: Option<u16>,
    reason: Option<&'a str>,
}

impl std::fmt::Display for CloseText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.reason) {
            (None, _) => f.write_str("Close with no status code"),
            (Some(c), Some(r)) if !r.is_empty() => write!(f, "Close {c} ({}) \"{r}\"", close_code_name(c)),
            (Some(c), _) => write!(f, "Close {c} ({})", close_code_name(c)),
        }
    }
}

fn teardown_word(is_rst: bool) -> &'static str {
    if is_rst { "reset" } else { "closed (FIN)" }
}

/// Is `status` the answer that opens the WebSocket: 101 on HTTP/1.1, 2xx to an extended CONNECT
/// on HTTP/2 (RFC 8441 §5)?
fn accepted(s: &Session, status: u16) -> bool {
    if s.h2.is_some() { (200..300).contains(&status) } else { status == 101 }
}

/// What the answer that opened the WebSocket is called.
fn accept_word(s: &Session) -> &'static str {
    if s.h2.is_some() { "the 200" } else { "101" }
}

/// "reset TCP", "closed (FIN) the connection", or on HTTP/2 "reset the stream (RST_STREAM
/// CANCEL)": what the end `e` did, to `what` when it ended the TCP connection.
fn ended(e: &SessionEnd, what: &str) -> String {
    let code = e.code.map(|c| format!(" {c}")).unwrap_or_default();
    match e.how {
        EndHow::Fin | EndHow::Rst => format!("{} {what}", teardown_word(e.how.is_rst())),
        EndHow::EndStream => "ended its half of the HTTP/2 stream (END_STREAM)".into(),
        EndHow::RstStream => format!("reset the HTTP/2 stream (RST_STREAM{code})"),
        EndHow::GoAway => format!("sent GOAWAY{code} excluding the stream"),
    }
}

/// Retransmissions of unacknowledged bytes, over at least this long up to the end, make a path
/// that stopped delivering (an RTO doubles from 200 ms: the third try comes 0.6 s after the first).
pub const LOST_MIN_RETX: u32 = 2;
pub const LOST_MIN_MS: f64 = 500.0;

/// "12:00:03.120": a packet's time of day (UTC), as a capture viewer shows it.
fn clock(at: At) -> String {
    at.ts.time_of_day()
}

/// A teardown forged on the path: the first FIN or RST has a TTL (hop limit) that does not fit
/// what its claimed sender sent (SPEC: `path_reset`).
fn path_reset(cx: &mut Ctx<'_>) -> Option<(Kind, String)> {
    let tcp = cx.tcp;
    let (side, is_rst, at) = tcp.first_teardown()?;
    if tcp.end_origin(side) != Origin::Path {
        return None;
    }
    let ttl = tcp.end_ttl[side]?;
    let r = tcp.ttls[side];
    let (role, to) = (cx.role(side), cx.role(side.other()));
    let what = if is_rst { "RST" } else { "FIN" };
    let had = if r.min == r.max {
        say!(cx, "every packet from the {role} had {}", r.min)
    } else {
        say!(cx, "the {role}'s packets had {}-{}", r.min, r.max)
    };
    cx.cite(at, say!(cx, "{what} claiming to come from the {role}, TTL {ttl}"));
    let verb = if is_rst { "reset" } else { "closed (FIN)" };
    let ttl_fits = ttl.saturating_add(1) >= r.min && ttl <= r.max.saturating_add(1);
    let why = if tcp.end_seq_fits[side] == Some(false) && (ttl_fits || r.packets == 0) {
        say!(cx, "its sequence number is far outside what the {role} had sent (RFC 5961 §3)")
    } else if tcp.end_seq_fits[side] == Some(false) {
        say!(cx, "it has TTL {ttl} where {had}, and a sequence number far outside what the {role} had sent")
    } else {
        say!(cx, "it has TTL {ttl} where {had}")
    };
    Some((
        Kind::PathReset,
        say!(
            cx,
            "A middlebox {verb} the connection: the {what} to the {to} (packet {}) claims to come from the {role}, but {why}, so the {role} did not send it; the {to} reports 1006.",
            at.packet
        ),
    ))
}

/// The side whose bytes stopped being delivered: retransmitted, unacknowledged, to the end.
fn stalled_side(tcp: &TcpFacts) -> Option<Side> {
    Side::BOTH
        .into_iter()
        .filter(|s| {
            tcp.delivery[*s].stall.as_deref().is_some_and(|st| {
                st.unacked > 0 && st.count >= LOST_MIN_RETX && tcp.last.ts.ms_since(st.first.ts) >= LOST_MIN_MS
            })
        })
        .max_by_key(|s| tcp.delivery[*s].stall.as_deref().map_or(0, |st| st.count))
}

/// The path stopped delivering one direction: its bytes retransmitted without an ACK until
/// one side gave up or the capture ended (SPEC: `path_lost`); an MTU black hole when only
/// full-size segments were stuck.
fn path_lost(cx: &mut Ctx<'_>) -> Option<(Kind, String)> {
    let (tcp, s) = (cx.tcp, cx.s);
    let side = stalled_side(tcp)?;
    let d = &tcp.delivery[side];
    let st = d.stall.as_deref()?;
    let (first, last) = (st.first, st.last);
    let (role, peer) = (cx.role(side), cx.role(side.other()));
    let last_acked = d.last_acked();
    let delivered = match last_acked {
        Some(a) => {
            cx.cite(a, say!(cx, "last ACK from the {peer} for the {role}'s bytes"));
            say!(cx, "the last {role} byte the {peer} acknowledged was at {} (packet {})", clock(a), a.packet)
        }
        None => say!(cx, "the {peer} never acknowledged a {role} byte"),
    };
    cx.cite(first, say!(cx, "{role} retransmits unacknowledged bytes"));
    if last.packet != first.packet {
        cx.cite(last, say!(cx, "{role}'s last retransmission ({} in all)", st.count));
    }
    // How it ended: a Close sent into the stall (a heartbeat timeout), a teardown, or nothing.
    let close =
        s.closes.iter().find(|c| c.at.packet >= first.packet || last_acked.is_none_or(|a| c.at.packet > a.packet));
    let mut ending = Vec::new();
    if let Some(c) = close {
        let who = cx.role(c.side);
        let timeout = c.reason.as_deref().is_some_and(|r| r.contains("timeout")) || c.code == Some(1011);
        let why = if timeout { " (its keep-alive timeout)" } else { "" };
        ending.push(say!(
            cx,
            "the {who} sent {}{why} at packet {}",
            describe_close(c.code, c.reason.as_deref()),
            c.at.packet
        ));
    }
    if let Some(beats) = s.beats.as_deref() {
        for pinger in [side, side.other()] {
            let (ping, pong) = (beats.pings[pinger].last, beats.pongs[pinger.other()].last);
            if ping.is_some_and(|p| p.packet >= first.packet || last_acked.is_some_and(|a| p.packet > a.packet))
                && pong.is_none_or(|p| ping.is_some_and(|q| p.packet < q.packet))
            {
                ending.push(say!(cx, "the {}'s Pings went unanswered", cx.role(pinger)));
                break;
            }
        }
    }
    match s.ends.first() {
        Some(e) => ending.push(say!(cx, "the {} {} at packet {}", cx.role(e.by), ended(&e, "TCP"), e.at.packet)),
        None => ending.push("the capture ended with the bytes still unacknowledged".into()),
    }
    let full = st.min_len == st.max_len && st.max_len == d.max_len && d.max_len >= 1000;
    let other = &tcp.delivery[side.other()];
    let others_through = other.last_acked().is_some_and(|a| a.packet > first.packet) && other.stall.is_none();
    let cause = if full && others_through {
        let icmp = if tcp.too_big > 0 {
            say!(
                cx,
                "{} ICMP \"fragmentation needed\" message(s) for this connection (MTU {}) are in the capture, yet the {role} kept sending full-size segments: its path-MTU discovery is off or the ICMP did not reach it",
                tcp.too_big,
                tcp.too_big_mtu
            )
        } else {
            say!(
                cx,
                "no ICMP \"fragmentation needed\" for this connection is in the capture: it does not reach the {role} (filtered by a firewall), or a tunnel with a smaller MTU drops silently"
            )
        };
        say!(
            cx,
            "an MTU black hole: every retransmission was a full-size {}-byte segment while smaller packets the other way got through — a router on the path drops packets this large, and {icmp}",
            d.max_len
        )
    } else {
        say!(cx, "a stateful firewall or NAT that dropped the flow, a broken link, or the {peer}'s host going down")
    };
    // The other direction's last delivered byte, for the picture of both.
    let back = match other.last_acked() {
        Some(a) if other.stall.is_none() => say!(
            cx,
            " The other way, the last {peer} byte the {role} acknowledged was at {} (packet {}).",
            clock(a),
            a.packet
        ),
        _ => String::new(),
    };
    Some((
        Kind::PathLost,
        say!(
            cx,
            "The path stopped delivering {role}→{peer}: {delivered}; the {role} retransmitted {} times over {}, then {}. The likely cause is {cause}.{back}",
            st.count,
            human_ms(tcp.last.ts.ms_since(first.ts).max(last.ts.ms_since(first.ts))),
            ending.join(", ")
        ),
    ))
}

/// A keep-alive that gave up: one side's last Ping (a WebSocket Ping, or an application ping
/// such as engine.io's "2") got no Pong before that side closed or tore the connection down.
/// Names the library by its signature: python `websockets` (and uvicorn, which uses it) close
/// with 1011 "keepalive ping timeout"; aiohttp's `heartbeat` closes TCP with no Close frame half
/// a heartbeat after its Ping; engine.io closes its transport when `pingTimeout` passes.
fn heartbeat_timeout(cx: &mut Ctx<'_>, kind: Kind) -> Option<(String, Side)> {
    let kinds = [Kind::CloseUnanswered, Kind::ServerAbort, Kind::ClientAbort, Kind::IdleTimeout, Kind::CleanClose];
    if !kinds.contains(&kind) {
        return None;
    }
    let s = cx.s;
    let beats = s.beats.as_deref()?;
    // A clean close is a heartbeat's only when the side that started it had pinged in vain.
    let first_close = s.closes.iter().min_by_key(|c| c.at.packet).map(|c| c.side);
    for side in Side::BOTH {
        if kind == Kind::CleanClose && first_close != Some(side) {
            continue;
        }
        let peer = side.other();
        // What this side did to end it: its Close, else its teardown.
        let end = match (s.close_from(side), s.ends.hard[side]) {
            (Some(c), _) => (c.at, Some(c)),
            (None, Some(e)) => (e.at, None),
            (None, None) => continue,
        };
        for (app, pings, pongs) in [(false, &beats.pings, &beats.pongs), (true, &beats.app_pings, &beats.app_pongs)] {
            let Some(ping) = pings[side].last.filter(|p| p.packet < end.0.packet) else { continue };
            if pongs[peer].last.is_some_and(|p| p.packet > ping.packet && p.packet < end.0.packet) {
                continue;
            }
            let waited = end.0.ts.ms_since(ping.ts);
            if waited < 200.0 {
                continue;
            }
            let role = cx.role(side);
            let reason = end.1.and_then(|c| c.reason.as_deref()).unwrap_or("");
            let server = s.response().and_then(|(r, _)| r.server.as_deref()).unwrap_or("").to_ascii_lowercase();
            let eio = s.request().is_some_and(|(r, _)| r.uri.contains("EIO="));
            let how = match end.1 {
                Some(c) => describe_close(c.code, c.reason.as_deref()).to_string(),
                None => "a TCP teardown with no Close frame".into(),
            };
            let who = if reason.contains("keepalive ping timeout") {
                if server.contains("uvicorn") {
                    "uvicorn's --ws-ping-timeout (python websockets' keepalive)".to_string()
                } else {
                    "python websockets' keepalive (ping_interval / ping_timeout)".to_string()
                }
            } else if app && eio {
                "engine.io's ping timeout (Socket.IO pingInterval + pingTimeout)".into()
            } else if server.contains("aiohttp") && end.1.is_none() {
                "aiohttp's heartbeat (it closes TCP with no Close frame heartbeat/2 after an unanswered Ping)".into()
            } else if !app && end.1.is_none() {
                "a heartbeat that gave up without a Close frame (as Node ws's documented ping / terminate() pattern does)".into()
            } else {
                "a keep-alive timeout".into()
            };
            let what = if app { "application ping" } else { "Ping" };
            let cadence =
                pings[side].mean_interval_ms().map(|m| say!(cx, " (pings every {})", human_ms(m))).unwrap_or_default();
            cx.cite(ping, say!(cx, "{role}'s last {what}, never answered"));
            let mut note = say!(
                cx,
                "This is {who}: the {role}'s {what} at packet {}{cadence} got no answer for {}, then the {role} ended it with {how}.",
                ping.packet,
                human_ms(waited)
            );
            // The peer's TCP acknowledged the ping: its host was up and reading, and what it
            // sent back never came (or was never sent).
            let acked = cx.tcp.delivery[side].last_acked().filter(|a| a.packet > ping.packet);
            let peer_quiet = s.last_data[peer].is_none_or(|d| d.packet < ping.packet);
            if let (Some(a), true) = (acked, peer_quiet) {
                let peer_role = cx.role(peer);
                note.push_str(&say!(cx,
                    " Yet the {peer_role}'s TCP acknowledged the {role}'s bytes until packet {}: its host was up and reading, and none of its data came back after packet {} — it stopped answering, or the path dropped what it sent (an MTU black hole drops only full-size segments, and everything after them waits: a capture on the {peer_role}'s side shows them retransmitted).",
                    a.packet,
                    s.last_data[peer].map_or_else(|| "its first".to_string(), |d| d.packet.to_string())
                ));
            }
            return Some((note, side));
        }
    }
    None
}

/// Diagnoses one connection.
pub fn diagnose(tcp: &TcpFacts, app: App, tls: Option<&TlsFacts>, s: &Session) -> Verdict {
    judge(tcp, app, tls, s, true)
}

/// The verdict's facts (kind, outcome, what each endpoint reports) as [`diagnose`] finds them,
/// with no words: summary, evidence and advice empty. What a table row or a filter reads costs
/// a tenth of the sentences that explain it.
pub fn facts(tcp: &TcpFacts, app: App, tls: Option<&TlsFacts>, s: &Session) -> Verdict {
    judge(tcp, app, tls, s, false)
}

fn judge(tcp: &TcpFacts, app: App, tls: Option<&TlsFacts>, s: &Session, words: bool) -> Verdict {
    let mut cx = Ctx { tcp, app, tls, s, ev: Vec::new(), words };
    let client = tcp.side_of(Role::Client);
    let server = client.other();
    let (kind, summary) = classify(&mut cx, client, server);
    // A heartbeat that gave up: said, and when it ended TCP with no Close after a silence, the
    // side that gave up ended it — not an idle timeout on the path.
    let beat = heartbeat_timeout(&mut cx, kind);
    let (kind, summary) = match &beat {
        Some((note, side)) if kind == Kind::IdleTimeout && s.close_from(*side).is_none() => {
            let role = cx.role(*side);
            let kind = if role == Role::Server { Kind::ServerAbort } else { Kind::ClientAbort };
            let e = s.ends.hard[*side].map_or_else(|| "ended TCP".to_string(), |e| ended(&e, "TCP"));
            (kind, say!(cx, "The {role} {e} with no Close frame: {}. {note}", sees_1006(s, role)))
        }
        Some((note, _)) => (kind, say!(cx, "{summary} {note}")),
        None => (kind, summary),
    };
    let (client_sees, server_sees) = match kind {
        // Firefox reports a failed TLS handshake as 1015 (RFC 6455 §7.4.1 reserves it for
        // exactly that), where RFC 6455 §7.1.5 and Chromium say 1006.
        Kind::TlsFailed if tls.is_some_and(|t| t.client_family == Some("firefox")) => (Some(1015), None),
        Kind::Refused | Kind::Unreachable | Kind::TlsFailed => (Some(1006), None),
        Kind::NotWebsocket | Kind::StillOpen | Kind::Unknown => (None, None),
        Kind::HandshakeRejected | Kind::HandshakeUnanswered | Kind::InvalidHandshake => {
            let ended = s.ends.closed || s.ends.by[client].is_some() || s.response().is_some();
            let cs = ended.then_some(1006);
            // The server only has a WebSocket to report on if it answered 101.
            let ss = if kind == Kind::InvalidHandshake { sees(s, server) } else { None };
            (cs, ss)
        }
        Kind::ClientAbort => {
            // The client ended TCP itself: a killed process reports nothing, a browser 1006.
            (s.close_from(server).map(|c| c.code.unwrap_or(1005)), sees(s, server))
        }
        // A forged teardown cut the path: a Close sent towards the side it claims to come from
        // and never acknowledged by it did not reach it (the forgery usually answers it).
        Kind::PathReset => {
            let reached = |to: Side| {
                let from = to.other();
                s.close_from(from)
                    .is_some_and(|c| tcp.delivery[from].last_acked().is_some_and(|a| a.packet > c.at.packet))
            };
            let seen = |side: Side| if reached(side) { sees(s, side) } else { Some(1006) };
            (seen(client), seen(server))
        }
        _ => (sees(s, client), sees(s, server)),
    };
    let mut summary = summary;
    if words {
        add_context(&mut cx, &mut summary, kind);
    }
    let (mut client_sees, mut client_clean) = (client_sees, client_sees.map(|_| kind == Kind::CleanClose));
    let mut outcome = Outcome::of(kind, client_sees, server_sees, s);
    // What this client really does, where browsers differ from each other or from RFC 6455.
    let fam = family(s);
    if kind == Kind::CleanClose && fam == Some("chromium") && s.ends.by[server].is_some_and(|e| e.how.is_rst()) {
        client_clean = Some(false);
        summary.push_str(if !words { "" } else { " The codes went both ways, but Chromium reports it with wasClean false: it counts the server's RST after the closing handshake as an error (Firefox and RFC 6455 call it clean)." });
    }
    if let Some(note) = followed_redirect(s, kind, fam) {
        (client_sees, client_clean, outcome) = (None, None, Outcome::Unknown);
        summary = note;
    }
    if kind == Kind::CloseUnanswered
        && is_browser(fam)
        && let Some(left) = leaving(s, client)
    {
        (client_sees, client_clean, outcome) = (None, None, Outcome::GoingAway);
        summary = left;
    }
    let mut advice = Vec::new();
    if words {
        advice = advice::advise(tcp, tls, s, kind, client);
        if let Some((_, side)) = beat {
            let (role, peer) = (cx.role(side), cx.role(side.other()));
            advice.insert(0, format!("The {role}'s keep-alive gave up because the {peer} did not answer its pings: a frozen or suspended {peer} (a background tab, a blocked event loop, a laptop asleep), a {peer} that does not answer (ws autoPong: false), or a path that stopped delivering. Its interval and timeout decide how soon."));
            if kind != Kind::IdleTimeout {
                advice.retain(|a| {
                    !a.starts_with("Something closed an idle connection") && !a.starts_with("Heartbeats (Ping frames")
                });
            }
        }
    }
    let mut evidence = cx.ev;
    evidence.sort_by_key(|e| e.packet);
    // The rare sentences made to decide (a redirect followed, a page left) are not kept.
    let summary = if words { summary } else { String::new() };
    Verdict { kind, outcome, client_sees, client_clean, server_sees, summary, evidence, advice }
}

/// What the summary adds whatever the verdict: what the capture lacks, the engine.io session
/// that long-polled first, the CONNECT tunnel it rode in.
fn add_context(cx: &mut Ctx<'_>, summary: &mut String, kind: Kind) {
    let (tcp, s) = (cx.tcp, cx.s);
    if let Some(note) = what_is_missing(tcp, s, kind) {
        summary.push(' ');
        summary.push_str(&note);
    }
    if let Some(e) = s.links.as_ref().and_then(|l| l.engineio.as_ref()).filter(|e| e.polling_requests > 0) {
        let ids: Vec<String> = e.polling_connections.iter().map(|i| format!("#{i}")).collect();
        summary.push_str(&format!(
            " It is the WebSocket upgrade of engine.io session {}, which long-polled first: {} request(s) with its sid before the upgrade, on TCP connection(s) {} (--all lists them).",
            e.sid,
            e.polling_requests,
            ids.join(", ")
        ));
    }
    if let Some(t) = s.tunnel.as_deref() {
        cx.cite(t.connect, format!("CONNECT {} to the forward proxy", t.target));
        cx.cite(t.established, format!("{} from the proxy: the tunnel is open", t.status));
        summary.push_str(&format!(
            " It rode in a CONNECT tunnel to {} through the forward proxy {} (opened at packet {}).",
            t.target,
            tcp.addr(Role::Server),
            t.established.packet
        ));
    }
}

/// What the capture lacks, where it changes what can be known: its start (a capture begun
/// mid-connection), or bytes (a small snaplen, lost packets).
fn what_is_missing(tcp: &TcpFacts, s: &Session, kind: Kind) -> Option<String> {
    if matches!(kind, Kind::Unknown | Kind::NotWebsocket) {
        return None;
    }
    let mut notes = Vec::new();
    if tcp.partial() && s.request().is_none() {
        notes.push(format!(
            "The capture began mid-connection (no SYN, no upgrade: the client is the side whose frames are masked); what came before packet {} is not in it.",
            tcp.first.packet
        ));
    }
    let (gaps, bytes) =
        Side::BOTH.iter().fold((0, 0), |(g, b), &side| (g + tcp.streams[side].gaps, b + tcp.streams[side].gap_bytes));
    if gaps > 0 {
        let heads =
            if s.http.truncated { ", the upgrade heads among them (only their whole lines are known)" } else { "" };
        notes.push(format!(
            "{bytes} byte(s) of it are not in the capture ({gaps} gap(s): a small snaplen, or packets the capture lost){heads}; what they carried is unknown."
        ));
    }
    (!notes.is_empty()).then(|| notes.join(" "))
}

/// A redirect answered to a client that follows it (Python websockets does, browsers do not):
/// it reports nothing here, it connects again to the new location.
fn followed_redirect(s: &Session, kind: Kind, fam: Option<&str>) -> Option<String> {
    let (r, _) = s.response()?;
    let to = r.location.as_deref()?;
    let redirect = matches!(r.status, 301 | 302 | 303 | 307 | 308);
    if kind != Kind::HandshakeRejected || !redirect || fam != Some("python-websockets") {
        return None;
    }
    Some(format!(
        "The server answered the upgrade with {} {} to {to}: Python websockets follows redirects, so this client reports nothing here and opens a new connection to {to} (a browser would fail with 1006).",
        r.status, r.reason
    ))
}

/// A browser leaving its page: Close 1001 from it, then its FIN at once, before any answer.
fn leaving(s: &Session, client: Side) -> Option<String> {
    let c = s.close_from(client)?;
    let fin = s.ends.hard[client]?;
    let answer = s.close_from(client.other());
    let first = answer.is_none_or(|a| a.at.packet > c.at.packet);
    if c.code != Some(1001)
        || !first
        || fin.at.ts.ms_since(c.at.ts) > LEAVING_MS
        || answer.is_some_and(|a| a.at.packet < fin.at.packet)
    {
        return None;
    }
    let answered = match answer {
        Some(a) => format!(
            "the server's Close {} came {} later, to a closed socket",
            a.code.unwrap_or(1005),
            human_ms(a.at.ts.ms_since(c.at.ts))
        ),
        None => "the server never answered it".into(),
    };
    Some(format!(
        "The browser sent Close 1001 (going away) and closed its socket at once, as it does when its page is left (a navigation, a closed tab): no page is left to report anything; {answered}. The server reports 1001."
    ))
}

/// An HTTP/2 stream that is not a WebSocket (listed with `--all`).
fn other_stream(cx: &mut Ctx<'_>, stream: u32) -> (Kind, String) {
    let ex = cx.s.http.exchange.as_deref();
    let Some((req, at)) = ex.and_then(|e| e.request.as_ref()) else {
        return (Kind::NotWebsocket, say!(cx, "HTTP/2 stream {stream}: not a WebSocket."));
    };
    cx.cite(*at, say!(cx, "{} {} on stream {stream}", req.method, req.uri_short()));
    let answer = match ex.and_then(|e| e.response.as_ref()) {
        Some((resp, at)) => {
            cx.cite(*at, say!(cx, ":status {}", resp.status));
            say!(cx, "answered {}", resp.status)
        }
        None => "no answer seen".into(),
    };
    (
        Kind::NotWebsocket,
        say!(cx, "HTTP/2 stream {stream}: {} {}, {answer} (a request, not a WebSocket).", req.method, req.uri_short()),
    )
}

fn classify(cx: &mut Ctx<'_>, client: Side, server: Side) -> (Kind, String) {
    let (tcp, s) = (cx.tcp, cx.s);
    if let Some(st) = s.h2.as_deref().filter(|st| !st.websocket) {
        return other_stream(cx, st.stream);
    }
    let payload = tcp.bytes(client) + tcp.bytes(server) > 0 || tcp.last_activity().is_some();
    let handshake = tcp.syn[client].or(tcp.syn[server]);
    // No payload at all: refused, unreachable, or an empty connection.
    if !payload && cx.app == App::Empty {
        if let Some(syn) = handshake {
            cx.cite(syn, "SYN from client");
            if tcp.syn_ack[server].is_none() {
                if let Some(rst) = tcp.rst[server] {
                    cx.cite(rst, "RST from server in answer to the SYN");
                    return (
                        Kind::Refused,
                        say!(
                            cx,
                            "The server {} answered the SYN with a reset: nothing listens on that port, and the client reports 1006.",
                            tcp.addr(Role::Server)
                        ),
                    );
                }
                let waited = tcp.last.ts.ms_since(syn.ts);
                let tries = tcp.packets;
                cx.cite(tcp.last, "last SYN seen");
                return (
                    Kind::Unreachable,
                    say!(
                        cx,
                        "The client sent {tries} SYN(s) to {} over {} and never got an answer: the host is down, unreachable, or a firewall drops the packets; the client reports 1006.",
                        tcp.addr(Role::Server),
                        human_ms(waited)
                    ),
                );
            }
        }
        if let Some((side, is_rst, at)) = tcp.first_teardown() {
            let role = cx.role(side);
            cx.cite(at, say!(cx, "{} from {role}", if is_rst { "RST" } else { "FIN" }));
            let kind = if role == Role::Server { Kind::ServerAbort } else { Kind::ClientAbort };
            return (
                kind,
                say!(
                    cx,
                    "The TCP connection opened and the {role} {} it {} later without any data: no HTTP request, no WebSocket.",
                    teardown_word(is_rst),
                    human_ms(cx.ms(at))
                ),
            );
        }
        return (
            Kind::StillOpen,
            "The TCP connection is open and has carried no data yet at the end of the capture.".into(),
        );
    }
    match cx.app {
        App::Tls => {
            if let Some(t) = cx.tls {
                return tls_only(cx, t);
            }
            return (
                Kind::NotWebsocket,
                "TLS (wss or HTTPS): without the session keys the handshake and frames cannot be seen.".into(),
            );
        }
        App::Other if tcp.partial() => {
            return (
                Kind::NotWebsocket,
                "The capture began mid-connection and the bytes seen are neither HTTP nor WebSocket frames.".into(),
            );
        }
        App::Other | App::Empty => return (Kind::NotWebsocket, "Not HTTP or WebSocket traffic.".into()),
        App::Http => return (Kind::NotWebsocket, "Plain HTTP: no WebSocket upgrade was requested.".into()),
        App::H2 => {
            return (
                Kind::NotWebsocket,
                "HTTP/2 with no WebSocket stream (no extended CONNECT with :protocol websocket).".into(),
            );
        }
        App::WebSocket => {}
    }
    if let Some(ex) = &s.http.exchange {
        if let Some((req, at)) = &ex.request {
            cx.cite(*at, say!(cx, "{} {} (upgrade request)", req.method, req.uri_short()));
        }
        match &ex.response {
            None => {
                if let Some((e_side, e, at)) = &s.http.error {
                    cx.cite(*at, say!(cx, "{} sent bytes that are not HTTP: {e}", cx.role(*e_side)));
                }
                return handshake_unanswered(cx, client, server);
            }
            Some((resp, at))
                if s.request().is_some_and(|(r, _)| r.is_connect()) && !(200..300).contains(&resp.status) =>
            {
                cx.cite(*at, say!(cx, "HTTP {} {} from the proxy", resp.status, resp.reason));
                let via = resp.server.as_deref().map(|s| say!(cx, " ({s})")).unwrap_or_default();
                let target = s.request().map(|(r, _)| r.uri.clone()).unwrap_or_default();
                return (
                    Kind::HandshakeRejected,
                    say!(cx,
                        "The forward proxy {}{via} refused CONNECT {target} with {} {}: the tunnel never opened, so the WebSocket inside it never started, and the client reports 1006.",
                        tcp.addr(Role::Server),
                        resp.status,
                        resp.reason
                    )
                    .replace("  ", " "),
                );
            }
            Some((resp, at)) if !accepted(s, resp.status) => {
                cx.cite(*at, say!(cx, "HTTP {} {} from server", resp.status, resp.reason));
                // Named by its Server field, else by its signature (Daphne's refusals carry none).
                let via = match (resp.server.as_deref(), advice::software(s)) {
                    (Some(srv), _) => say!(cx, " ({srv})"),
                    (None, Some("daphne")) => " (Daphne, by its bare refusal: no header at all)".to_string(),
                    (None, Some("node-ws")) => " (Node ws, by its 426 answer to a request without Upgrade)".to_string(),
                    (None, Some(name)) => say!(cx, " ({name}, by its error page)"),
                    (None, None) => String::new(),
                };
                let (what, want) = if s.h2.is_some() { ("extended CONNECT", "200") } else { ("upgrade", "101") };
                return (
                    Kind::HandshakeRejected,
                    say!(cx,
                        "The server{via} answered the {what} with {} {} instead of {want}, so the WebSocket never opened and the client reports 1006.",
                        resp.status, resp.reason
                    ).replace("  ", " "),
                );
            }
            Some((resp, at)) => {
                let answer = if s.h2.is_some() {
                    cx.cite(*at, say!(cx, ":status {} to the extended CONNECT", resp.status));
                    say!(cx, ":status {}", resp.status)
                } else {
                    cx.cite(*at, "101 Switching Protocols from server");
                    "101".to_string()
                };
                if !s.http.problems.is_empty() {
                    return (
                        Kind::InvalidHandshake,
                        say!(
                            cx,
                            "The server answered {answer} but the handshake is invalid ({}): a client must fail such a connection, and reports 1006.",
                            s.http.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
                        ),
                    );
                }
            }
        }
    }
    after_upgrade(cx, client, server)
}

/// Does what the client offered make a WebSocket likely? WebSocket libraries usually offer no
/// ALPN, Chromium offers `http/1.1` alone for a wss:// socket and Firefox `h2, http/1.1` (it can
/// run WebSockets over HTTP/2); a client offering neither (`h2` alone, `imap`, `dot`, …) is
/// not opening one over HTTP/1.1.
fn likely_websocket(t: &TlsFacts) -> bool {
    let alpn_ws = t.alpn_offered.is_empty() || t.alpn_offered.iter().any(|a| a == "http/1.1");
    let name_ws =
        t.sni.as_deref().is_some_and(|n| ["ws", "socket", "realtime", "stream"].iter().any(|w| n.contains(w)));
    alpn_ws || name_ws
}

/// Is a TLS connection whose inside was not seen worth showing? One whose handshake did not
/// complete (it failed, or the capture ended in it), or one a WebSocket likely rode in.
pub fn tls_shown(t: &TlsFacts) -> bool {
    !t.handshake_complete || likely_websocket(t)
}

/// Who sent an alert or ended TCP, in words.
fn party(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// A TLS connection whose inside was not seen: the handshake failed, or it completed and the
/// application data was not decrypted (no keys, or keys that do not fit), or nothing was sent.
fn tls_only(cx: &mut Ctx<'_>, t: &TlsFacts) -> (Kind, String) {
    let tcp = cx.tcp;
    let version = t.version.map(crate::tls::version_name).unwrap_or_else(|| "TLS".into());
    let to = t.sni.clone().unwrap_or_else(|| tcp.addr(Role::Server).to_string());
    let teardown = tcp.first_teardown();
    if let Some((side, is_rst, at)) = teardown {
        cx.cite(at, say!(cx, "{} from {}", if is_rst { "RST" } else { "FIN" }, cx.role(side)));
    }
    if !t.handshake_complete {
        let reports = if t.client_family == Some("firefox") {
            "the client (Firefox, by its ClientHello) reports 1015 (TLS handshake failure; Chromium would report 1006)"
        } else {
            "the client reports 1006"
        };
        // The first alert that ended it (a close_notify does not refuse anything).
        if let Some(a) = t.alerts.iter().find(|a| a.description != Some(0)) {
            let what = crate::report::alert_text(a.level, a.description);
            let how = if a.encrypted { "an encrypted" } else { "a" };
            cx.cite(a.at, say!(cx, "TLS alert ({what}) from {}", party(a.from)));
            return (
                Kind::TlsFailed,
                say!(
                    cx,
                    "The {} refused the TLS handshake with {how} {what} alert: the WebSocket never opened, and {reports}.",
                    party(a.from)
                ),
            );
        }
        if let Some(v) = path_reset(cx) {
            return v;
        }
        if let Some((side, is_rst, _)) = teardown {
            let who = cx.role(side);
            let verb = if is_rst { "reset" } else { "closed (FIN)" };
            let after = if t.version.is_some() { "after the server's hello" } else { "before any answer" };
            return (
                Kind::TlsFailed,
                say!(
                    cx,
                    "The {who} {verb} the TCP connection in the middle of the TLS handshake, {after}, with no alert: the WebSocket never opened, and {reports}."
                ),
            );
        }
        return (Kind::StillOpen, say!(cx, "The TLS handshake to {to} was still in progress when the capture ended."));
    }
    if t.decrypted {
        return (
            Kind::NotWebsocket,
            say!(cx, "{version} to {to}: the connection carried no application data (a browser's spare connection)."),
        );
    }
    let why = t.why_not.map_or_else(|| "not decrypted".to_string(), |w| w.describe());
    let end = match teardown {
        Some((side, is_rst, at)) => say!(
            cx,
            "the {} {} TCP {} later",
            cx.role(side),
            if is_rst { "reset" } else { "closed" },
            human_ms(at.ts.ms_since(tcp.first.ts))
        ),
        None => "it was still open at the end of the capture".into(),
    };
    let hint = if t.why_not == Some(crate::tls::WhyNot::NoKeys) {
        "give --keylog to see the WebSocket inside".to_string()
    } else {
        say!(cx, "its inside cannot be seen: {why}")
    };
    (Kind::Unknown, say!(cx, "{version} to {to} completed; {end}; {hint}."))
}

fn handshake_unanswered(cx: &mut Ctx<'_>, client: Side, server: Side) -> (Kind, String) {
    if let Some(v) = path_lost(cx).or_else(|| path_reset(cx)) {
        return v;
    }
    let (tcp, s) = (cx.tcp, cx.s);
    match s.ends.first() {
        Some(e) => {
            let role = cx.role(e.by);
            cx.cite(e.at, say!(cx, "{} from {role}", e.how.upper()));
            let wait = s.request().map(|(_, r)| e.at.ts.ms_since(r.ts)).unwrap_or(0.0);
            let _ = (client, server);
            (
                Kind::HandshakeUnanswered,
                say!(
                    cx,
                    "The {role} {} {} after the upgrade request, which never got an HTTP answer: the client reports 1006.",
                    ended(&e, "the connection"),
                    human_ms(wait)
                ),
            )
        }
        None => {
            let wait = s.request().map(|(_, r)| tcp.last.ts.ms_since(r.ts)).unwrap_or(0.0);
            if wait < UNANSWERED_MIN_MS {
                // Too soon to call: a server may take that long (SPEC: ≥ 5 s of waiting).
                return (
                    Kind::StillOpen,
                    say!(
                        cx,
                        "The upgrade request was still waiting for its answer when the capture ended, {} later.",
                        human_ms(wait)
                    ),
                );
            }
            (
                Kind::HandshakeUnanswered,
                say!(cx, "The upgrade request had no HTTP answer {} later, when the capture ended.", human_ms(wait)),
            )
        }
    }
}

fn after_upgrade(cx: &mut Ctx<'_>, client: Side, server: Side) -> (Kind, String) {
    let (tcp, s) = (cx.tcp, cx.s);
    for c in &s.closes {
        let role = cx.role(c.side);
        cx.cite(c.at, say!(cx, "{} from {role}", describe_close(c.code, c.reason.as_deref())));
    }
    let end = s.ends.first();
    let teardown = end.map(|e| (e.by, e.how.is_rst(), e.at));
    if let Some(e) = end {
        cx.cite(e.at, say!(cx, "{} from {}", e.how.upper(), cx.role(e.by)));
    }
    // A fatal breach of RFC 6455.
    if let Some((side, v, at)) = s.violations.iter().find(|(_, v, _)| v.is_fatal()) {
        let role = cx.role(*side);
        cx.cite(*at, say!(cx, "{role} frame: {}", v.describe()));
        let peer = role.other();
        let outcome = match s.close_from(tcp.side_of(peer)) {
            // Failing the connection (§7.1.7) is at once; a Close long after is something else.
            Some(c) if c.at.ts.ms_since(at.ts) <= REACTION_MS || matches!(c.code, Some(1002 | 1007)) => {
                say!(cx, "the {peer} answered with {}", describe_close(c.code, c.reason.as_deref()))
            }
            Some(c) => say!(
                cx,
                "the {peer} did not fail the connection: it carried on, and {} later sent {}",
                human_ms(c.at.ts.ms_since(at.ts)),
                describe_close(c.code, c.reason.as_deref())
            ),
            None => say!(cx, "the {peer} should fail the connection and report 1006"),
        };
        let mut text = say!(cx, "The {role} broke RFC 6455 ({}); {outcome}.", v.describe());
        if *v == Violation::MaskedServerFrame && family(s) == Some("firefox") {
            text.push_str(
                " Firefox tolerates a masked server frame; Chromium fails the connection at once (Close 1002).",
            );
        }
        return (Kind::ProtocolViolation, text);
    }
    let cc = s.close_from(client);
    let sc = s.close_from(server);
    let clean = cc.zip(sc).is_some_and(|(a, b)| {
        let (first, second) = if a.at.packet <= b.at.packet { (a, b) } else { (b, a) };
        s.ends.hard[first.side].is_none_or(|e| e.at.packet > second.at.packet)
    });
    if !clean && let Some(v) = path_lost(cx).or_else(|| path_reset(cx)) {
        return v;
    }
    if let (Some(a), Some(b)) = (cc, sc) {
        let (first, second) = if a.at.packet <= b.at.packet { (a, b) } else { (b, a) };
        let initiator = cx.role(first.side);
        // END_STREAM is a half-close: the sender still reads the answer.
        let first_end = s.ends.hard[first.side];
        let late = first_end.is_some_and(|e| e.at.packet < second.at.packet);
        if !late {
            let rst = Side::BOTH.into_iter().find(|side| s.ends.resets[*side].is_some());
            // Chromium's onclose says wasClean false for a server's RST even now (diagnose()).
            let chromium_minds = family(s) == Some("chromium");
            let rst_note = match rst {
                Some(side) if side == server && chromium_minds => {
                    ", then the server reset TCP after the closing handshake".to_string()
                }
                Some(side) => say!(
                    cx,
                    ", then the {} reset TCP after the closing handshake (harmless: the WebSocket had already closed cleanly)",
                    cx.role(side)
                ),
                None => String::new(),
            };
            return (
                Kind::CleanClose,
                say!(
                    cx,
                    "The {initiator} started the closing handshake with {} and the {} answered with {}{rst_note}.",
                    describe_close(first.code, first.reason.as_deref()),
                    initiator.other(),
                    describe_close(second.code, second.reason.as_deref())
                ),
            );
        }
        return (
            Kind::CloseUnanswered,
            say!(
                cx,
                "The {initiator} sent {} and {} before the {}'s answer arrived ({} later): the {initiator} reports 1006.",
                describe_close(first.code, first.reason.as_deref()),
                match first_end {
                    Some(e) if e.how.is_stream() => ended(&e, "TCP"),
                    _ => "ended TCP".into(),
                },
                initiator.other(),
                human_ms(second.at.ts.ms_since(first.at.ts))
            ),
        );
    }
    if let Some(c) = cc.or(sc) {
        let role = cx.role(c.side);
        let peer = role.other();
        if s.ends.closed || teardown.is_some() {
            let e = end.unwrap_or(SessionEnd { by: server, how: EndHow::Fin, at: tcp.last, code: None });
            let who = cx.role(e.by);
            return (
                Kind::CloseUnanswered,
                say!(
                    cx,
                    "The {role} sent {} but the {peer} never answered with a Close; the {who} {} {} later. The {peer} reports {}, the {role} 1006.",
                    describe_close(c.code, c.reason.as_deref()),
                    ended(&e, "TCP"),
                    human_ms(e.at.ts.ms_since(c.at.ts)),
                    c.code.unwrap_or(1005)
                ),
            );
        }
        return (
            Kind::StillOpen,
            say!(
                cx,
                "The {role} sent {} and the capture ended before the closing handshake finished.",
                describe_close(c.code, c.reason.as_deref())
            ),
        );
    }
    // No Close at all.
    let lost_end = s.desyncs.0.iter().any(|d| *d > 0);
    match teardown {
        None => {
            if tcp.partial()
                && s.http.exchange.is_none()
                && s.frames.0.iter().all(|f| f.text + f.binary + f.ping + f.pong == 0)
            {
                return (
                    Kind::Unknown,
                    "The capture began mid-connection and shows no frames: it cannot tell what this connection did."
                        .into(),
                );
            }
            let idle = s.last_activity().map(|a| tcp.last.ts.ms_since(a.ts)).unwrap_or(0.0);
            let note =
                if idle >= IDLE_MIN_MS { say!(cx, ", silent for the last {}", human_ms(idle)) } else { String::new() };
            (Kind::StillOpen, say!(cx, "The WebSocket is still open at the end of the capture{note}."))
        }
        Some((side, is_rst, at)) => {
            let e = end.unwrap_or(SessionEnd { by: side, how: EndHow::Fin, at, code: None });
            if lost_end {
                return (
                    Kind::Unknown,
                    say!(
                        cx,
                        "Capture gaps lost the WebSocket framing, so a Close frame may be hidden; the {} {} at packet {}.",
                        cx.role(side),
                        ended(&e, "TCP"),
                        at.packet
                    ),
                );
            }
            let role = cx.role(side);
            let idle = s.last_activity().map(|a| at.ts.ms_since(a.ts));
            let since_101 = s.upgraded_at.map(|u| at.ts.ms_since(u.ts));
            if let Some(gap) = idle.filter(|g| *g >= IDLE_MIN_MS) {
                if let Some(last) = s.last_activity() {
                    cx.cite(last, "last data before the silence");
                }
                let matched = advice::timeout_match(gap).map(|m| say!(cx, " — that matches {m}")).unwrap_or_default();
                return (
                    Kind::IdleTimeout,
                    say!(
                        cx,
                        "After {} of silence both ways, the {role} {} without a Close frame{matched}; {}.",
                        human_ms(gap),
                        ended(&e, "TCP"),
                        sees_1006(s, role)
                    ),
                );
            }
            // Mid-connection (frames found without the handshake) there is no answer to count from.
            let when = match since_101 {
                Some(ms) if s.response().is_some() => say!(cx, " {} after {}", human_ms(ms), accept_word(s)),
                _ => say!(cx, " at packet {}", at.packet),
            };
            let kind = if role == Role::Server { Kind::ServerAbort } else { Kind::ClientAbort };
            let side_word = if role == Role::Server { "server side" } else { "client" };
            let tail = sees_1006(s, role);
            let verb = match e.how {
                EndHow::Fin | EndHow::Rst if is_rst => "reset the TCP connection".to_string(),
                EndHow::Fin | EndHow::Rst => "closed the TCP connection (FIN)".to_string(),
                _ => ended(&e, "TCP"),
            };
            (kind, say!(cx, "The {side_word} {verb}{when}, with no Close frame: {tail}."))
        }
    }
}

#[cfg(test)]
mod tests;
