//! wsdiag: a packet-level WebSocket handshake analyzer.
//!
//! The [`Analyzer`] is deterministic and does no I/O (quinn-proto style): feed it packets from
//! [`capture`], then [`Analyzer::finish`] gives the report. Stages, one way only:
//! capture -> wire -> flow -> tcp -> http -> ws -> conn -> timeline -> diagnose -> report -> render.

#![forbid(unsafe_code)]

pub mod capture;
pub mod conn;
pub mod diagnose;
pub mod flow;
pub mod http;
pub mod inputs;
pub mod legs;
pub mod render;
pub mod report;
pub mod tcp;
pub mod text;
pub mod timeline;
pub mod tls;
pub mod units;
pub mod wire;
pub mod ws;

use capture::Packet;
use conn::{Conn, ConnConfig};
use diagnose::Kind;
use flow::{FlowKey, FlowTable, side_of};
use report::{Connection, ReportOptions, Stats};
use tcp::Budget;
use timeline::{App, At, Timeline};
use wire::{Decoded, TcpSegment};

/// A live flow. Most flows of a SYN flood (or of a scan) never get past their first SYN: until
/// a second packet arrives, a flow is only that SYN, about a tenth of a [`Conn`]; the SYN is
/// replayed into a `Conn` when one is needed, so the analysis is the same either way.
enum Flow {
    Syn(SynOnly),
    Conn(Box<Conn>),
}

struct SynOnly {
    id: u64,
    seg: TcpSegment<'static>,
    at: At,
}

impl SynOnly {
    fn replay(&self, cfg: &ConnConfig, budget: &mut Budget) -> Conn {
        let mut conn = Conn::new(self.id, self.seg.src, self.seg.dst, self.at, cfg);
        conn.segment(units::Side::A, &self.seg, self.at, budget);
        conn
    }
}

impl Flow {
    fn conn(&mut self, cfg: &ConnConfig, budget: &mut Budget) -> &mut Conn {
        if let Flow::Syn(s) = self {
            *self = Flow::Conn(Box::new(s.replay(cfg, budget)));
        }
        match self {
            Flow::Conn(c) => c,
            // Made a Conn just above.
            Flow::Syn(_) => unreachable!(),
        }
    }

    fn into_conn(self, cfg: &ConnConfig, budget: &mut Budget) -> Conn {
        match self {
            Flow::Conn(c) => *c,
            Flow::Syn(s) => s.replay(cfg, budget),
        }
    }

    fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        match self {
            Flow::Syn(_) => false,
            Flow::Conn(c) => c.is_reuse(seg),
        }
    }

    fn id(&self) -> u64 {
        match self {
            Flow::Syn(s) => s.id,
            Flow::Conn(c) => c.tcp.id,
        }
    }

    fn last_ts(&self) -> i64 {
        match self {
            Flow::Syn(s) => s.at.ts.0,
            Flow::Conn(c) => c.tcp.last.ts.0,
        }
    }

    /// Torn down (both FINs, or a RST).
    fn torn_down(&self) -> bool {
        matches!(self, Flow::Conn(c) if c.tcp.tcp_ended())
    }

    /// Torn down, with its last packet before `horizon`.
    fn ended_before(&self, horizon: i64) -> bool {
        self.torn_down() && self.last_ts() < horizon
    }
}

/// Analysis settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Inflate permessage-deflate messages (for previews and UTF-8 checks of compressed text).
    pub inflate: bool,
    /// Out-of-order bytes buffered per direction of a connection.
    pub reorder_cap: usize,
    pub report: ReportOptions,
    /// Live flows tracked at once; beyond it the least recently active are finished early.
    pub max_flows: usize,
    /// Out-of-order bytes buffered across all flows.
    pub reorder_budget: usize,
    /// Bytes of partial HTTP heads (and of frames sent before the 101) held across all flows.
    pub head_budget: usize,
    /// Report every TCP connection, not only WebSocket attempts and empty ones.
    pub all: bool,
    /// Milliseconds of capture time after a connection's teardown before it is reported (late
    /// packets such as a final ACK or RST still belong to it). A stream (standard input, live)
    /// uses at most [`STREAM_LINGER_MS`], so that a line comes within a second.
    pub linger_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inflate: true,
            reorder_cap: 256 * 1024,
            report: ReportOptions::default(),
            max_flows: 65_536,
            reorder_budget: 32 << 20,
            head_budget: 16 << 20,
            all: false,
            linger_ms: 5000,
        }
    }
}

/// A packet that could not be decoded down to TCP, for a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIssue {
    pub packet: u64,
    pub text: String,
}

/// The linger of a stream: its connections are reported this soon after their teardown.
pub const STREAM_LINGER_MS: i64 = 500;

/// How often a stream that waits for input reports what has ended meanwhile.
const STREAM_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Packets between sweeps of the flow table for finished connections.
const SWEEP_EVERY: u64 = 4096;

/// Torn-down connections kept lingering at most (each holds its parsers, a few KB).
const MAX_LINGERING: usize = 2048;

/// Feeds packets, gathers connections, produces reports.
pub struct Analyzer {
    cfg: Config,
    /// The host the capture was taken on, as records name it (`--sensor`).
    sensor: std::sync::Arc<str>,
    /// What each connection's layers do, from `cfg`.
    conn: ConnConfig,
    flows: FlowTable<Flow>,
    budget: Budget,
    next_id: u64,
    stats: Stats,
    /// Finished connections not yet diagnosed: whoever takes them concludes them (the binary
    /// does it on a second thread).
    finished: Vec<Timeline>,
    last_ts: i64,
    since_sweep: u64,
    /// Inputs started so far, and the place of the one being read: its capture (from 0) and
    /// its piece of it (from 1).
    /// Connections torn down (both FINs, or a RST), in that order, as (id, slot): what a sweep
    /// finishes once their linger has passed.
    ended: std::collections::VecDeque<(u64, usize)>,
    /// Recent upgrade requests, to know a reverse proxy's back legs.
    legs: legs::Legs,
    /// engine.io sessions seen long-polling, to tie their WebSocket upgrade to them.
    engineio: legs::EngineIo,
    /// Set (by a SIGINT handler) to stop reading: the analysis ends with what was read.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    inputs_started: u32,
    /// Inputs named so far, readable or not: the index of the next in the report's `inputs`.
    inputs_named: u32,
    capture: u32,
    piece: u32,
}

/// Where an input file stands among the captures of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputPlace {
    /// Its capture, from 0 (the pieces of a rotation set share one).
    pub capture: u32,
    /// Its piece of that capture, from 1.
    pub piece: u32,
    /// The number its first packet gets.
    pub first: units::PacketNo,
}

impl Analyzer {
    pub fn new(cfg: Config) -> Self {
        let conn = ConnConfig {
            reorder_cap: cfg.reorder_cap,
            inflate: cfg.inflate,
            events: !cfg.report.no_timeline,
            other_streams: cfg.all,
            keys: None,
            input: None,
            input_index: 0,
        };
        Analyzer {
            cfg,
            sensor: "unknown".into(),
            conn,
            flows: FlowTable::default(),
            budget: Budget::new(cfg.reorder_budget).with_heads_limit(cfg.head_budget),
            next_id: 1,
            stats: Stats::default(),
            finished: Vec::new(),
            last_ts: i64::MIN,
            since_sweep: 0,
            ended: std::collections::VecDeque::new(),
            legs: legs::Legs::default(),
            engineio: legs::EngineIo::default(),
            stop: None,
            inputs_started: 0,
            inputs_named: 0,
            capture: 0,
            piece: 1,
        }
    }

    /// Starts the next input file, `next`, read after `prev`: it is the next piece of the
    /// capture read so far when [`inputs::is_next_piece`] says so; otherwise it is a capture of
    /// its own, and what is still open is finished as at the end of its capture.
    pub fn start_input(
        &mut self,
        prev: Option<(&str, Option<&inputs::Peek>)>,
        next: (&str, Option<&inputs::Peek>),
        merge: bool,
    ) -> InputPlace {
        if self.inputs_started > 0 {
            let last = (self.last_ts != i64::MIN).then_some(units::Timestamp(self.last_ts));
            let flows = &mut self.flows;
            let open = |keys: &[FlowKey]| {
                keys.iter().any(|k| {
                    flows.get(k).and_then(|slot| flows.slot_mut(slot)).is_some_and(|f| match f {
                        Flow::Syn(_) => true,
                        Flow::Conn(c) => !c.tcp.tcp_ended(),
                    })
                })
            };
            if prev.is_some_and(|p| inputs::is_next_piece(p, next, last, open, merge)) {
                self.piece += 1;
            } else {
                self.end_capture();
                self.capture += 1;
                self.piece = 1;
            }
        }
        self.inputs_started += 1;
        InputPlace { capture: self.capture, piece: self.piece, first: units::PacketNo::first_of(self.piece) }
    }

    /// The end of a capture: every connection still open is finished as it stands (taken with
    /// [`Analyzer::drain`]); the next packets start a capture of their own.
    fn end_capture(&mut self) {
        for slot in self.flows.slots() {
            self.finish_slot(slot);
        }
        self.ended.clear();
        self.last_ts = i64::MIN;
        self.since_sweep = 0;
    }

    /// Adds TLS secrets (NSS key log text: a `--keylog` file, a pcapng Decryption Secrets
    /// Block) for the connections that start from now on; returns what was wrong with lines.
    pub fn add_keys(&mut self, text: &[u8], source: &str) -> Vec<tls::KeyLogWarning> {
        let keys = self.conn.keys.get_or_insert_with(Default::default);
        std::sync::Arc::make_mut(keys).add(text, source)
    }

    /// Adds the next bytes of a key log that is still being written (a browser's
    /// SSLKEYLOGFILE during a live capture: an unfinished last line waits for the rest), and
    /// hands the new keys to the connections already open, whose TLS looks them up again.
    pub fn append_keys(&mut self, text: &[u8], source: &str) -> Vec<tls::KeyLogWarning> {
        let keys = self.conn.keys.get_or_insert_with(Default::default);
        let warnings = std::sync::Arc::make_mut(keys).append(text, source);
        let keys = keys.clone();
        for slot in self.flows.slots() {
            if let Some(Flow::Conn(c)) = self.flows.slot_mut(slot) {
                c.set_keys(&keys);
            }
        }
        warnings
    }

    /// A flag that stops the reading when set (Ctrl-C): the input read so far is the
    /// capture, and what is still open is reported as it stands.
    pub fn set_stop(&mut self, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(stop);
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Names the host the capture was taken on in the records (`--sensor`; the binary's
    /// default is its host's name, the library's "unknown").
    pub fn set_sensor(&mut self, name: &str) {
        self.sensor = name.into();
    }

    /// Live flows right now.
    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Analyses one packet. Returns a description if it could not be decoded.
    pub fn packet(&mut self, p: &Packet<'_>) -> Option<PacketIssue> {
        self.stats.packets += 1;
        self.stats.bytes += p.data.len() as u64;
        self.last_ts = self.last_ts.max(p.ts.0);
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.sweep(false);
        }
        match wire::decode(p.linktype, p.data, p.orig_len) {
            Decoded::Tcp(seg) => {
                self.stats.tcp_packets += 1;
                self.tcp(&seg, At { ts: p.ts, packet: p.number });
                None
            }
            Decoded::NotTcp => {
                self.stats.non_tcp += 1;
                None
            }
            Decoded::TooBig { src, dst, mtu } => {
                self.stats.non_tcp += 1;
                self.stats.icmp_too_big += 1;
                if let Some(slot) = self.flows.get(&FlowKey::of(src, dst))
                    && let Some(Flow::Conn(c)) = self.flows.slot_mut(slot)
                {
                    let t = &mut c.tcp;
                    t.too_big = t.too_big.saturating_add(1);
                    t.too_big_mtu = mtu;
                }
                None
            }
            Decoded::Fragment => {
                self.stats.ip_fragments += 1;
                None
            }
            Decoded::UnsupportedLink(l) => {
                let n = self.stats.unsupported_link_types.entry(l.name()).or_insert(0);
                *n += 1;
                (*n == 1).then(|| PacketIssue {
                    packet: p.number.0,
                    text: format!(
                        "packet {}: link type {} is not decoded; its packets are counted in stats.unsupported_link_types, not analysed",
                        p.number,
                        l.name()
                    ),
                })
            }
            Decoded::Truncated { layer, offset, need, got } => {
                self.stats.undecodable += 1;
                Some(PacketIssue {
                    packet: p.number.0,
                    text: format!(
                        "packet {}: too short for its {} header at byte {offset}: needs {need} bytes, has {got}",
                        p.number,
                        layer.name()
                    ),
                })
            }
            Decoded::Malformed { layer, offset, what } => {
                self.stats.undecodable += 1;
                Some(PacketIssue {
                    packet: p.number.0,
                    text: format!("packet {}: malformed {} header at byte {offset}: {what}", p.number, layer.name()),
                })
            }
        }
    }

    fn tcp(&mut self, seg: &TcpSegment<'_>, at: At) {
        let key = FlowKey::of(seg.src, seg.dst);
        let (slot, created) = match self.flows.get(&key) {
            Some(slot) if !self.flows.slot_mut(slot).is_some_and(|f| f.is_reuse(seg)) => (slot, false),
            Some(slot) => {
                // A new connection on the 4-tuple of one that ended: the old one is finished.
                self.finish_slot(slot);
                (self.new_flow(key, seg, at), true)
            }
            None => {
                if self.flows.len() >= self.cfg.max_flows {
                    self.evict();
                }
                (self.new_flow(key, seg, at), true)
            }
        };
        // The first packet was a bare SYN: that is all the new flow holds for now (fed to it
        // again, a reused 4-tuple's SYN was counted twice).
        if created && matches!(self.flows.slot_mut(slot), Some(Flow::Syn(_))) {
            return;
        }
        let (conn_cfg, budget) = (&self.conn, &mut self.budget);
        if let Some(flow) = self.flows.slot_mut(slot) {
            let conn = flow.conn(conn_cfg, budget);
            let side = side_of(conn.a, seg.src);
            let was_ended = conn.tcp.tcp_ended();
            conn.segment(side, seg, at, budget);
            if !was_ended && conn.tcp.tcp_ended() {
                // Finished once its linger has passed (sweep looks only at these).
                self.ended.push_back((conn.tcp.id, slot));
            }
            // Rare: a request was just read. Is its client a proxy relaying another?
            if let Some((uri, at, upgrade)) = conn.take_request() {
                let uri = uri.to_string();
                let path = uri.split('?').next().unwrap_or("");
                let t = &conn.tcp;
                let (client, server) = (t.addr(units::Role::Client), t.addr(units::Role::Server));
                let req = legs::Request { id: t.id, slot, client, server, start: t.first.ts.0, at: at.ts.0, upgrade };
                let front = self.legs.request(&req, path);
                if let Some(e) = self.engineio.request(&req, &uri) {
                    conn.set_engineio(e);
                }
                // Both legs are told, so that whichever is concluded first waits for the
                // other (a front leg no longer in the table was concluded already: no pair).
                if let (Some((front, front_slot)), Some(back)) = (front, std::num::NonZeroU64::new(req.id))
                    && let Some(Flow::Conn(f)) = self.flows.slot_mut(front_slot)
                    && f.tcp.id == front.get()
                {
                    f.set_back_leg(back);
                    if let Some(Flow::Conn(b)) = self.flows.slot_mut(slot) {
                        b.set_front_leg(front);
                    }
                }
            }
        }
    }

    fn new_flow(&mut self, key: FlowKey, seg: &TcpSegment<'_>, at: At) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.stats.tcp_connections += 1;
        let f = seg.flags;
        let bare_syn = f.syn() && !f.ack() && !f.fin() && !f.rst() && seg.wire_len() == 0;
        let flow = if bare_syn {
            Flow::Syn(SynOnly { id, seg: TcpSegment { payload: &[], ..*seg }, at })
        } else {
            Flow::Conn(Box::new(Conn::new(id, seg.src, seg.dst, at, &self.conn)))
        };
        self.flows.insert(key, flow)
    }

    /// Live capture: time passes without packets; finish what ended long enough ago.
    pub fn tick(&mut self, now: units::Timestamp) {
        self.last_ts = self.last_ts.max(now.0);
        self.sweep(false);
    }

    /// Finishes connections whose teardown is older than the linger time: those in `ended`,
    /// in the order their teardowns came (never a scan of every live flow); one that had more
    /// packets since waits its linger again.
    fn sweep(&mut self, all: bool) {
        let horizon = self.last_ts.saturating_sub(self.cfg.linger_ms.saturating_mul(1_000_000));
        if all {
            for slot in self.flows.select(|_| true) {
                self.finish_slot(slot);
            }
            self.ended.clear();
            return;
        }
        for _ in 0..self.ended.len() {
            let Some(&(id, slot)) = self.ended.front() else { break };
            let (mine, last) = match self.flows.slot_mut(slot) {
                Some(f) if f.id() == id => (true, f.last_ts()),
                _ => (false, i64::MIN),
            };
            if mine && last >= horizon {
                // The oldest teardown still lingers: so do the later ones (near enough in
                // order; a capture's clock can step back, then they wait a little longer).
                break;
            }
            self.ended.pop_front();
            if mine && self.flows.slot_mut(slot).is_some_and(|f| f.ended_before(horizon)) {
                self.finish_slot(slot);
            }
        }
        // More torn down than this linger at once (a proxy host's thousands of short
        // connections a second): the oldest are finished before their linger is over, so that
        // what lingers is bounded by a count, not by a rate times a time.
        while self.ended.len() > MAX_LINGERING {
            let Some((id, slot)) = self.ended.pop_front() else { break };
            if self.flows.slot_mut(slot).is_some_and(|f| f.id() == id && f.torn_down()) {
                self.finish_slot(slot);
            }
        }
    }

    /// The flow table is full: finish the least recently active sixty-fourth (small batches:
    /// the reports of the flows finished at once are held until the caller takes them).
    fn evict(&mut self) {
        let mut slots: Vec<(i64, usize)> = Vec::new();
        for slot in self.flows.slots() {
            if let Some(f) = self.flows.slot_mut(slot) {
                slots.push((f.last_ts(), slot));
            }
        }
        let n = (slots.len() / 64).max(1);
        if n < slots.len() {
            slots.select_nth_unstable(n);
        }
        slots.truncate(n);
        slots.sort_unstable();
        for (_, slot) in slots {
            self.stats.flows_evicted += 1;
            self.finish_slot(slot);
        }
    }

    fn finish_slot(&mut self, slot: usize) {
        let Some(flow) = self.flows.remove(slot) else { return };
        let tl = flow.into_conn(&self.conn, &mut self.budget).finish(&mut self.budget);
        self.report(tl);
    }

    fn report(&mut self, mut tl: Timeline) {
        // The WebSockets after the first on one HTTP/2 connection get ids of their own.
        for session in tl.sessions.iter_mut().skip(1) {
            session.id = self.next_id;
            self.next_id += 1;
        }
        if let Some(h2) = &tl.h2 {
            // The ids of the streams `--all` would list and this run does not.
            let used = tl.sessions.len().max(1) as u64;
            self.next_id += u64::from(h2.ids).saturating_sub(used);
        }
        for session in &tl.sessions {
            for s in units::Side::BOTH {
                self.stats.deflate_bytes_in += session.frames[s].deflated_in;
                self.stats.deflate_bytes_out += session.frames[s].inflated_out;
            }
        }
        if !tl.tcp.tcp_ended() {
            tl.tcp.capture_end = Some(tl.tcp.last);
        }
        if let Some(t) = &tl.tls {
            self.stats.tls_connections += 1;
            if tl.app == App::Tls && !self.cfg.all && !diagnose::tls_shown(t) {
                self.stats.tls_hidden += 1;
            }
        }
        self.finished.push(tl);
    }

    /// Connections finished since the last call, undiagnosed, in the order they ended: for a
    /// caller that concludes them (with [`Analyzer::concluder`], on this thread or another).
    pub fn drain(&mut self) -> impl Iterator<Item = Timeline> + '_ {
        // The list keeps its room for the next batch (a timeline is a KB or more: no allocation
        // per connection), up to a sweep's worth; the thousands an end of capture finishes at
        // once give theirs back.
        let big = (self.finished.capacity() > Self::FINISHED_ROOM).then(|| std::mem::take(&mut self.finished));
        big.into_iter().flatten().chain(self.finished.drain(..))
    }

    /// Finished timelines whose room [`Analyzer::drain`] keeps.
    const FINISHED_ROOM: usize = 256;

    /// What turns this analysis's finished timelines into reported connections.
    pub fn concluder(&self) -> Concluder {
        Concluder {
            all: self.cfg.all,
            report: self.cfg.report,
            sensor: self.sensor.clone(),
            no_input: std::sync::Arc::from(""),
        }
    }

    /// Ends the analysis: every connection still open is finished as it stands and handed to
    /// `f`, undiagnosed, after the ones not yet drained (in no particular order, so that they
    /// need not be held all at once).
    pub fn finish(mut self, mut f: impl FnMut(Timeline)) -> Stats {
        for tl in self.drain() {
            f(tl);
        }
        for slot in self.flows.slots() {
            self.finish_slot(slot);
            for tl in self.drain() {
                f(tl);
            }
        }
        self.stats.reorder_bytes_dropped = self.budget.dropped;
        self.stats.head_bytes_dropped = self.budget.heads_dropped;
        self.stats
    }
}

/// Diagnoses finished timelines and builds their reports, one per WebSocket session; none for
/// a connection the report hides (SPEC: only upgrade attempts and empty connections, unless
/// `--all`).
#[derive(Clone, Debug)]
pub struct Concluder {
    all: bool,
    report: ReportOptions,
    sensor: std::sync::Arc<str>,
    /// The input name of a connection without one.
    no_input: std::sync::Arc<str>,
}

impl Concluder {
    /// The sensor name the records carry.
    pub fn sensor(&self) -> &str {
        &self.sensor
    }

    /// The reported connections of a finished timeline, and how many it hides.
    pub fn conclude(&self, tl: Timeline) -> (Vec<Connection>, u64) {
        let mut out = Vec::new();
        let hidden = self.conclude_each(tl, |c| {
            out.push(c);
            Ok::<_, std::convert::Infallible>(())
        });
        (out, hidden.unwrap_or_else(|e| match e {}))
    }

    /// [`Concluder::conclude`], each reported connection handed to `f` as it is built; returns
    /// how many the report hides, or `f`'s first error.
    pub fn conclude_each<E>(&self, tl: Timeline, mut f: impl FnMut(Connection) -> Result<(), E>) -> Result<u64, E> {
        self.conclude_with(tl, true, |c, _| f(c))
    }

    /// [`Concluder::conclude_each`] with verdicts in facts only (kind, outcome, what each
    /// endpoint reports; summary, evidence and advice empty): `f` gives the connections it
    /// shows in full their words with [`Words::fill`]. A table explains few of its rows.
    pub fn conclude_facts<E>(
        &self,
        tl: Timeline,
        f: impl FnMut(Connection, &Words<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.conclude_with(tl, false, f)
    }

    fn conclude_with<E>(
        &self,
        tl: Timeline,
        words: bool,
        mut f: impl FnMut(Connection, &Words<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let Timeline { tcp, app, sessions, log, tls, h2 } = tl;
        let (tls, h2) = (tls.as_deref(), h2.as_deref());
        let many = sessions.len() > 1;
        let mut log = Some(log);
        let mut hidden = 0;
        for s in sessions {
            let verdict =
                if words { diagnose::diagnose(&tcp, app, tls, &s) } else { diagnose::facts(&tcp, app, tls, &s) };
            if !self.all && !reportable(&tcp, app, tls, verdict.kind) {
                hidden += 1;
                continue;
            }
            // A WebSocket on an HTTP/2 stream shares the connection's events with the others on
            // it, not theirs; otherwise the connection's events go with its first session.
            let events = match (&s.h2, &log) {
                (Some(st), Some(l)) if many => {
                    let mut mine = timeline::EventLog { events: Vec::new(), keep: l.keep, dropped: l.dropped };
                    mine.events.extend(l.events.iter().filter(|e| e.stream == 0 || e.stream == st.stream).cloned());
                    mine
                }
                _ => log.take().unwrap_or_default(),
            };
            let events = report::Events::new(events, &tcp, self.report);
            let mut c = Connection::build(&tcp, tls, h2, &s, events, verdict, self.report);
            c.set_origin(&self.sensor, tcp.input.as_ref().unwrap_or(&self.no_input), tcp.input_index);
            f(c, &Words { tcp: &tcp, app, tls, s: &s, opts: self.report, done: words })?;
        }
        Ok(hidden)
    }

    /// What the reports show.
    pub fn options(&self) -> ReportOptions {
        self.report
    }
}

/// What a connection concluded in facts only needs to be explained: [`Words::fill`].
pub struct Words<'a> {
    tcp: &'a timeline::TcpFacts,
    app: timeline::App,
    tls: Option<&'a tls::TlsFacts>,
    s: &'a timeline::Session,
    opts: ReportOptions,
    /// The verdict already has its words.
    done: bool,
}

impl Words<'_> {
    /// Gives `c` (the connection these words are for) its verdict in words: summary, evidence
    /// and advice.
    pub fn fill(&self, c: &mut Connection) {
        if !self.done {
            let v = diagnose::diagnose(self.tcp, self.app, self.tls, self.s);
            c.verdict = report::verdict_for(v, self.opts);
        }
    }
}

/// SPEC: every connection that attempted a WebSocket upgrade, plus every connection that never
/// carried payload and whose start was seen.
fn reportable(tcp: &timeline::TcpFacts, app: App, tls: Option<&tls::TlsFacts>, kind: Kind) -> bool {
    if kind == Kind::NotWebsocket {
        return false;
    }
    match app {
        App::WebSocket => true,
        App::Empty => tcp.syn.0.iter().any(Option::is_some),
        // A TLS connection not decrypted: shown when it failed, or when what the client
        // offered makes a WebSocket likely.
        App::Tls => tls.is_some_and(diagnose::tls_shown),
        App::Http | App::H2 | App::Other => false,
    }
}

/// A connection as an upgrade attempt, for the detectors across connections.
pub fn attempt(c: &Connection) -> Option<diagnose::across::Attempt> {
    let path = c.path()?.to_string();
    let host = c.client.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default();
    let at_ns = |ms: f64| c.start_ns.saturating_add((ms * 1e6) as i64);
    let close = c.websocket.close_frames.first().map(|f| diagnose::across::LegEnd {
        what: diagnose::across::LegWhat::Close(f.code),
        by: f.from,
        at_ns: at_ns(f.at_ms),
        packet: f.packet,
    });
    let teardown = c.tcp.first_teardown.as_ref().map(|t| diagnose::across::LegEnd {
        what: match t.kind {
            report::TcpEnd::Fin => diagnose::across::LegWhat::Fin,
            report::TcpEnd::Rst => diagnose::across::LegWhat::Rst,
        },
        by: t.by,
        at_ns: at_ns(t.at_ms),
        packet: t.packet,
    });
    let end = match (close, teardown) {
        (Some(c), Some(t)) => Some(if t.packet < c.packet { t } else { c }),
        (c, t) => c.or(t),
    };
    Some(diagnose::across::Attempt {
        id: c.id,
        uid: c.uid.clone(),
        client_host: host,
        server: c.server.clone(),
        path,
        start_ns: c.start_ns,
        kind: c.verdict.kind,
        outcome: c
            .handshake
            .response
            .as_ref()
            .map_or_else(|| c.verdict.kind.as_str().to_string(), |r| r.status.to_string()),
        upgraded: c.handshake.response.as_ref().is_some_and(|r| r.status == 101),
        first_packet: c.first_packet,
        request_packet: c.handshake.request_packet,
        end,
    })
}

/// Ends an analysis and concludes every connection, sorted by id (the library's convenience;
/// the binary streams them instead).
pub fn conclude_all(analyzer: Analyzer) -> (Vec<Connection>, Stats) {
    let conclude = analyzer.concluder();
    let mut out = Vec::new();
    let mut hidden = 0;
    let mut stats = analyzer.finish(|tl| {
        let (conns, h) = conclude.conclude(tl);
        out.extend(conns);
        hidden += h;
    });
    stats.connections_hidden += hidden;
    out.sort_by_key(|c| c.id);
    (out, stats)
}

/// Builds the whole report from finished connections.
pub fn build_report(inputs: Vec<report::Input>, connections: Vec<Connection>, stats: Stats) -> report::Report {
    let mut summary = report::Summary { connections: connections.len(), ..Default::default() };
    for c in &connections {
        *summary.by_verdict.entry(c.verdict.kind.as_str()).or_insert(0) += 1;
    }
    let attempts: Vec<diagnose::across::Attempt> = connections.iter().filter_map(attempt).collect();
    report::Report {
        tool: "wsdiag",
        version: env!("CARGO_PKG_VERSION"),
        schema: report::SCHEMA,
        inputs,
        reconnect_loops: diagnose::across::reconnect_loops(&attempts),
        proxied: diagnose::across::proxy_pairs(&attempts),
        connections,
        summary,
        stats,
    }
}

/// Reads capture files in order into one analysis (the library's convenience for tests, benches
/// and tools; the binary streams instead). Unreadable files become warnings in their `Input`.
pub fn analyze_files(paths: &[&str], cfg: Config) -> (Vec<Connection>, Stats, Vec<report::Input>) {
    let mut analyzer = Analyzer::new(cfg);
    let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    let Ok(inputs) = analyzer.read_paths(&paths, false, no_tick);
    let (conns, stats) = conclude_all(analyzer);
    (conns, stats, inputs)
}

impl Analyzer {
    /// Reads capture files (`-`: standard input): each a capture of its own, or pieces of one
    /// ([`inputs`]; `merge`: all of them pieces of one, in time order). An unreadable file is
    /// an `Input` with no format and its error as a warning, the others are read all the same.
    /// `tick` is called every few thousand packets (to stream finished connections); an
    /// error from it stops the reading. The inputs are in the order they were read.
    pub fn read_paths<E>(
        &mut self,
        paths: &[String],
        merge: bool,
        mut tick: impl FnMut(&mut Analyzer) -> Result<(), E>,
    ) -> Result<Vec<report::Input>, E> {
        let peeks: Vec<Option<inputs::Peek>> =
            if paths.len() > 1 { paths.iter().map(|p| inputs::peek(p)).collect() } else { vec![None] };
        let mut out = Vec::with_capacity(paths.len());
        let mut prev: Option<usize> = None;
        for i in inputs::order(paths, &peeks, merge) {
            if self.stopped() {
                break;
            }
            let path = paths[i].as_str();
            let src = match capture::open(path) {
                Ok(src) => src,
                Err(e) => {
                    self.inputs_named += 1;
                    let warnings = vec![format!("{path}: {e}")];
                    out.push(report::Input { path: path.into(), warnings, ..Default::default() });
                    continue;
                }
            };
            let place = self.start_input(
                prev.map(|j| (paths[j].as_str(), peeks[j].as_ref())),
                (path, peeks[i].as_ref()),
                merge,
            );
            let mut next = place.first.0;
            let mut input = self.read_source(src, path, &mut next, &mut tick)?;
            if input.format.is_some() {
                (input.capture, input.piece) = (Some(place.capture), Some(place.piece));
                prev = Some(i);
            }
            out.push(input);
        }
        Ok(out)
    }

    /// Reads one capture stream to its end; `next` is the number of its first packet and is
    /// advanced past its last. Problems are warnings in the returned `Input`.
    pub fn read(&mut self, reader: impl std::io::Read, name: &str, next: &mut u64) -> report::Input {
        let Ok(input) = self.read_with(reader, name, next, no_tick);
        input
    }

    /// [`Analyzer::read`], calling `tick` every few thousand packets (to stream finished
    /// connections); an error from `tick` stops the reading.
    pub fn read_with<E>(
        &mut self,
        reader: impl std::io::Read,
        name: &str,
        next: &mut u64,
        tick: impl FnMut(&mut Analyzer) -> Result<(), E>,
    ) -> Result<report::Input, E> {
        self.read_capture(capture::CaptureReader::new(reader, name, *next), name, next, tick)
    }

    /// [`Analyzer::read_with`] for a capture from [`capture::open`] (its buffers, when read on
    /// a second thread, are parsed where they are).
    pub fn read_source<E>(
        &mut self,
        src: capture::Source,
        name: &str,
        next: &mut u64,
        tick: impl FnMut(&mut Analyzer) -> Result<(), E>,
    ) -> Result<report::Input, E> {
        self.read_capture(capture::CaptureReader::from_source(src, name, *next), name, next, tick)
    }

    fn read_capture<R: std::io::Read, E>(
        &mut self,
        opened: Result<capture::CaptureReader<R>, capture::CaptureError>,
        name: &str,
        next: &mut u64,
        mut tick: impl FnMut(&mut Analyzer) -> Result<(), E>,
    ) -> Result<report::Input, E> {
        const MAX_NAMED: usize = 10;
        self.conn.input_index = self.inputs_named;
        self.inputs_named += 1;
        self.conn.input = Some(name.into());
        let mut input = report::Input { path: name.to_string(), ..Default::default() };
        let mut r = match opened {
            Ok(r) => {
                input.format = Some(match r.format() {
                    capture::Format::Pcap => "pcap",
                    capture::Format::PcapNg => "pcapng",
                });
                r
            }
            Err(e) => {
                input.warnings.push(e.to_string());
                return Ok(input);
            }
        };
        let mut issues = 0;
        let mut since_tick = 0u32;
        // A stream (standard input) reports what ended while it waits for more.
        let stream = name == "-";
        if stream {
            self.cfg.linger_ms = self.cfg.linger_ms.min(STREAM_LINGER_MS);
        }
        loop {
            if stream && r.would_wait() {
                let (since, base) = (std::time::Instant::now(), self.last_ts);
                loop {
                    if base != i64::MIN {
                        let waited = i64::try_from(since.elapsed().as_nanos()).unwrap_or(i64::MAX);
                        self.tick(units::Timestamp(base.saturating_add(waited)));
                    }
                    tick(self)?;
                    if self.stopped() || r.wait(STREAM_TICK) {
                        break;
                    }
                }
            }
            // Checked every few thousand packets, and while a stream waits.
            if (since_tick == 0 || stream) && self.stopped() {
                input.warnings.push(format!("{name}: interrupted: the report covers the packets read until then"));
                break;
            }
            let Some(p) = r.next() else { break };
            if let Some(issue) = self.packet(&p) {
                issues += 1;
                if issues <= MAX_NAMED {
                    input.warnings.push(format!("{name}: {}", issue.text));
                }
            }
            if r.has_secrets() {
                // pcapng Decryption Secrets Blocks come before the packets they decrypt (a
                // bare SYN, the first packet, makes no connection yet).
                for text in r.take_secrets() {
                    let source = format!("{name} (Decryption Secrets Block)");
                    input.warnings.extend(self.add_keys(&text, &source).iter().map(|w| w.to_string()));
                }
            }
            since_tick += 1;
            if since_tick >= 4096 {
                since_tick = 0;
                tick(self)?;
            }
        }
        if issues > MAX_NAMED {
            input.warnings.push(format!("{name}: {} more packets could not be decoded", issues - MAX_NAMED));
        }
        input.warnings.extend(r.take_warnings().into_iter().map(|w| w.to_string()));
        input.packets = r.packets();
        *next = r.next_number();
        tick(self)?;
        Ok(input)
    }
}

/// For tests: a fixed-seed xorshift giving numbers below `n`.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    }
}

/// The `tick` of a reading that streams nothing.
fn no_tick(_: &mut Analyzer) -> Result<(), std::convert::Infallible> {
    Ok(())
}

/// The whole pipeline on the bytes of one capture (for fuzzing and tests).
pub fn analyze_bytes(bytes: &[u8], cfg: Config) -> (Vec<Connection>, Stats, report::Input) {
    let mut analyzer = Analyzer::new(cfg);
    let input = analyzer.read(bytes, "input", &mut 1);
    let (conns, stats) = conclude_all(analyzer);
    (conns, stats, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::reader_tests::pcap_bytes;
    use crate::wire::tests::ipv4_tcp;

    /// A handshake and a clean close between 10.0.0.5:50000 and 10.0.0.9:8000, with `prefix`
    /// sent by the client before its request.
    fn conversation(prefix: &[u8]) -> Vec<u8> {
        conversation_with(prefix, true)
    }

    fn conversation_with(prefix: &[u8], http: bool) -> Vec<u8> {
        let c = [10, 0, 0, 5];
        let s = [10, 0, 0, 9];
        let mut req = prefix.to_vec();
        if http {
            req.extend_from_slice(b"GET /ws/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        }
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let close_c = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];
        let close_s = [0x88, 0x02, 0x03, 0xe8];
        let (mut cs, mut ss) = (1000u32, 5000u32);
        let mut pkts: Vec<Vec<u8>> = Vec::new();
        let mut eth = |ip: Vec<u8>| {
            let mut v = vec![0u8; 12];
            v.extend_from_slice(&[0x08, 0x00]);
            v.extend_from_slice(&ip);
            pkts.push(v);
        };
        eth(ipv4_tcp(c, 50000, s, 8000, cs, 0, 0x02, b""));
        eth(ipv4_tcp(s, 8000, c, 50000, ss, cs + 1, 0x12, b""));
        cs += 1;
        ss += 1;
        eth(ipv4_tcp(c, 50000, s, 8000, cs, ss, 0x18, &req));
        cs += req.len() as u32;
        eth(ipv4_tcp(s, 8000, c, 50000, ss, cs, 0x18, resp));
        ss += resp.len() as u32;
        eth(ipv4_tcp(c, 50000, s, 8000, cs, ss, 0x18, &close_c));
        cs += close_c.len() as u32;
        eth(ipv4_tcp(s, 8000, c, 50000, ss, cs, 0x18, &close_s));
        ss += close_s.len() as u32;
        eth(ipv4_tcp(s, 8000, c, 50000, ss, cs, 0x11, b""));
        eth(ipv4_tcp(c, 50000, s, 8000, cs, ss + 1, 0x11, b""));
        let recs: Vec<(u64, &[u8])> =
            pkts.iter().enumerate().map(|(i, p)| (1_700_000_000_000_000 + i as u64 * 1000, p.as_slice())).collect();
        pcap_bytes(1, &recs)
    }

    #[test]
    fn synthetic_clean_close() {
        let (conns, stats, input) = analyze_bytes(&conversation(b""), Config::default());
        assert!(input.warnings.is_empty(), "{:?}", input.warnings);
        assert_eq!(stats.packets, 8);
        assert_eq!(conns.len(), 1);
        let c = &conns[0];
        assert_eq!(c.verdict.kind, Kind::CleanClose);
        assert_eq!((c.verdict.client_sees, c.verdict.server_sees), (Some(1000), Some(1000)));
        assert_eq!(c.handshake.response.as_ref().and_then(|r| r.accept_valid), Some(true));
        assert_eq!(c.client, "10.0.0.5:50000");
    }

    /// A client that starts a TLS record (a cut ClientHello) and a server that answers with
    /// plaintext HTTP: the TLS handshake never completed, and the connection is shown as such.
    #[test]
    fn a_tls_start_that_goes_nowhere_is_a_failed_handshake() {
        let hello = b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03";
        let (conns, stats, _) = analyze_bytes(&conversation_with(hello, false), Config::default());
        assert_eq!(stats.tls_connections, 1);
        assert_eq!(stats.tls_hidden, 0);
        let c = &conns[0];
        assert_eq!((c.verdict.kind, c.verdict.client_sees), (Kind::TlsFailed, Some(1006)));
        let tls = c.tls.as_ref().map(|t| (t.handshake_complete, t.decrypted));
        assert_eq!(tls, Some((false, false)));
    }

    #[test]
    fn proxy_protocol_before_the_request() {
        let (conns, _, _) =
            analyze_bytes(&conversation(b"PROXY TCP4 203.0.113.7 10.0.0.9 51234 8000\r\n"), Config::default());
        assert_eq!(conns.len(), 1);
        let c = &conns[0];
        assert_eq!(c.verdict.kind, Kind::CleanClose);
        assert_eq!(c.handshake.proxy_header.as_deref(), Some("PROXY TCP4 203.0.113.7 10.0.0.9 51234 8000"));
        assert_eq!(c.handshake.request.as_ref().map(|r| r.uri.as_str()), Some("/ws/"));
    }
}
