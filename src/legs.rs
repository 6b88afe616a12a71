//! The back legs of a reverse proxy, known while the capture is read: a capture on the proxy
//! host (`tcpdump -i any` on the nginx box) holds browser -> proxy and proxy -> backend. A
//! connection whose client is the address that just received an upgrade request for the same
//! path, on another port, is the proxy relaying that request: its client is the proxy, not a
//! browser, whatever User-Agent it passes on.
//!
//! The rule is the one [`crate::diagnose::across::proxy_pairs`] pairs the legs by, applied as
//! each upgrade request arrives, so that a back leg's verdict can say so when it is written
//! (NDJSON writes it as the connection ends). Memory is bounded: requests are kept for
//! [`PAIR_WINDOW_NS`] by (server address, path), and at most [`MAX_RECENT`] at once.

use crate::diagnose::across::PAIR_WINDOW_NS;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU64;

/// Requests remembered at once; past it the oldest are forgotten first.
const MAX_RECENT: usize = 1 << 16;

/// An upgrade request a back leg may relay.
#[derive(Clone, Copy, Debug)]
struct Front {
    id: NonZeroU64,
    /// Its flow's slot in the analyzer's table, to tell it of its back leg.
    slot: usize,
    server: SocketAddr,
    /// Its connection's first packet and its request, in capture nanoseconds.
    start: i64,
    request: i64,
}

/// A request as [`Legs::request`] takes it: its connection's id, addresses and first packet
/// (capture nanoseconds), when it came, and whether it asked to upgrade.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub id: u64,
    pub slot: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub start: i64,
    pub at: i64,
    pub upgrade: bool,
}

/// Where a front leg's request went: the proxy's address and the path (hashed: no allocation
/// per request).
type Key = (IpAddr, u64);

fn key(ip: IpAddr, path: &str) -> Key {
    use std::hash::BuildHasher;
    (ip, foldhash::fast::FixedState::with_seed(0).hash_one(path))
}

/// The upgrade requests of the last [`PAIR_WINDOW_NS`] not yet relayed, by the address they
/// were sent to and their path, each key's in the order they came.
#[derive(Debug, Default)]
pub struct Legs {
    recent: HashMap<Key, VecDeque<Front>>,
    /// The keys in the order their requests came, to forget them.
    order: VecDeque<(i64, Key)>,
    len: usize,
}

impl Legs {
    /// A request for `path`: notes it when it asks to upgrade, and returns the front leg this
    /// connection relays when its client is a proxy that just received an upgrade request for
    /// the same path (a proxy that drops `Upgrade` relays it as a plain request). A front leg
    /// is relayed once: the earliest one not yet taken is taken, as
    /// [`crate::diagnose::across::proxy_pairs`] pairs them, so a lookup looks at the few
    /// requests of the window that could still be relayed, not at every one.
    pub fn request(&mut self, r: &Request, path: &str) -> Option<(NonZeroU64, usize)> {
        self.forget(r.at);
        let mut front = None;
        if let Some(fronts) = self.recent.get_mut(&key(r.client.ip(), path)) {
            let found = fronts.iter().position(|f| {
                f.server != r.server
                    && f.id.get() != r.id
                    && f.request < r.start
                    && r.start.saturating_sub(f.start) <= PAIR_WINDOW_NS
            });
            if let Some(i) = found {
                front = fronts.remove(i).map(|f| (f.id, f.slot));
                self.len -= 1;
            }
        }
        if let (true, Some(id)) = (r.upgrade, NonZeroU64::new(r.id)) {
            let k = key(r.server.ip(), path);
            self.recent.entry(k).or_default().push_back(Front {
                id,
                slot: r.slot,
                server: r.server,
                start: r.start,
                request: r.at,
            });
            self.order.push_back((r.at, k));
            self.len += 1;
        }
        front
    }

    /// Forgets the requests older than the window before `now`, and the oldest past the cap
    /// (each key's come in order: its oldest is at its front, unless it was taken).
    fn forget(&mut self, now: i64) {
        while let Some(&(at, k)) = self.order.front() {
            if now.saturating_sub(at) <= PAIR_WINDOW_NS && self.len < MAX_RECENT {
                break;
            }
            self.order.pop_front();
            if let Some(fronts) = self.recent.get_mut(&k) {
                if fronts.front().is_some_and(|f| f.request <= at) {
                    fronts.pop_front();
                    self.len -= 1;
                }
                if fronts.is_empty() {
                    self.recent.remove(&k);
                }
            }
        }
    }
}

/// An engine.io (Socket.IO) session as its long-polling showed it before its WebSocket
/// upgrade: engine.io clients start with HTTP long-polling (`GET/POST
/// /socket.io/?EIO=4&transport=polling&sid=…`, each on whichever TCP connection the client
/// has), then upgrade on a new one (`transport=websocket&sid=…`, the `2probe`/`3probe`
/// exchange, `5`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineIoSession {
    pub sid: String,
    /// Polling requests that carried the sid before the upgrade.
    pub polling_requests: u32,
    /// The TCP connections (ids) that carried them, in order, at most [`MAX_IDS`].
    pub polling_connections: Vec<u64>,
    /// When the first of them came (capture nanoseconds).
    pub first_ns: i64,
}

/// Connections named per session.
pub const MAX_IDS: usize = 16;
/// Sessions remembered at once, and for how long after their last polling request.
const MAX_SESSIONS: usize = 1 << 14;
const SESSION_NS: i64 = 300 * 1_000_000_000;

/// The engine.io sessions seen long-polling lately, by sid.
#[derive(Debug, Default)]
pub struct EngineIo {
    sessions: HashMap<Box<str>, EngineIoSession>,
    /// Sids in the order they were first seen, to forget them.
    order: VecDeque<(i64, Box<str>)>,
}

/// The value of `key` in a URI's query.
fn query_param<'a>(uri: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = uri.split_once('?')?;
    query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

impl EngineIo {
    /// A request for `uri`: a polling request with a sid is noted; a WebSocket upgrade with a
    /// sid gets what polled with that sid before it.
    pub fn request(&mut self, r: &Request, uri: &str) -> Option<EngineIoSession> {
        let sid = query_param(uri, "sid").filter(|s| !s.is_empty() && query_param(uri, "EIO").is_some())?;
        let transport = query_param(uri, "transport");
        if r.upgrade || transport == Some("websocket") {
            return self
                .sessions
                .remove(sid)
                .or_else(|| Some(EngineIoSession { sid: sid.into(), ..Default::default() }));
        }
        self.forget(r.at);
        let s = match self.sessions.get_mut(sid) {
            Some(s) => s,
            None => {
                self.order.push_back((r.at, sid.into()));
                let new = EngineIoSession { sid: sid.into(), first_ns: r.at, ..Default::default() };
                self.sessions.entry(sid.into()).or_insert(new)
            }
        };
        s.polling_requests = s.polling_requests.saturating_add(1);
        if !s.polling_connections.contains(&r.id) && s.polling_connections.len() < MAX_IDS {
            s.polling_connections.push(r.id);
        }
        None
    }

    fn forget(&mut self, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_sub(*at) <= SESSION_NS && self.sessions.len() < MAX_SESSIONS {
                break;
            }
            if let Some((_, sid)) = self.order.pop_front() {
                self.sessions.remove(&sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    const MS: i64 = 1_000_000;

    fn req(id: u64, client: &str, server: &str, start: i64, at: i64) -> Request {
        Request { id, slot: id as usize * 10, client: addr(client), server: addr(server), start, at, upgrade: true }
    }

    #[test]
    fn a_request_relayed_from_the_proxy_address_is_a_back_leg() {
        let mut legs = Legs::default();
        // Browser -> nginx :8080 asks for /chat; nginx (10.0.0.2) opens -> backend :8765.
        assert_eq!(legs.request(&req(1, "10.0.0.1:50000", "10.0.0.2:8080", 0, MS), "/chat"), None);
        let back = legs.request(&req(2, "10.0.0.2:40000", "10.0.0.3:8765", 2 * MS, 3 * MS), "/chat");
        assert_eq!(back.map(|(id, slot)| (id.get(), slot)), Some((1, 10)), "the front leg and its slot");
        // The same client asking the same server again is not a back leg of itself.
        assert_eq!(legs.request(&req(3, "10.0.0.1:50001", "10.0.0.2:8080", 4 * MS, 5 * MS), "/chat"), None);
        // Another path, or a connection that began before the request, is not relayed.
        assert_eq!(legs.request(&req(4, "10.0.0.2:40001", "10.0.0.3:8765", 6 * MS, 7 * MS), "/other"), None);
        // A proxy that drops `Upgrade` relays a plain request: still a back leg (of #3: #1 was
        // taken by #2, a front leg is relayed once); a plain request is nobody's front leg.
        let plain = Request { upgrade: false, ..req(5, "10.0.0.2:40002", "10.0.0.3:8765", 8 * MS, 9 * MS) };
        assert_eq!(legs.request(&plain, "/chat").map(|f| f.0.get()), Some(3));
        let again = Request { upgrade: false, ..req(6, "10.0.0.2:40003", "10.0.0.3:8765", 10 * MS, 11 * MS) };
        assert_eq!(legs.request(&again, "/chat"), None, "every front leg taken");
        let mut legs = Legs::default();
        let plain = Request { upgrade: false, ..req(1, "10.0.0.1:50000", "10.0.0.2:8080", 0, MS) };
        legs.request(&plain, "/chat");
        assert_eq!(legs.request(&req(2, "10.0.0.2:40000", "10.0.0.3:8765", 2 * MS, 3 * MS), "/chat"), None);
        let mut legs = Legs::default();
        legs.request(&req(1, "10.0.0.1:50000", "10.0.0.2:8080", 0, 10 * MS), "/chat");
        assert_eq!(legs.request(&req(2, "10.0.0.2:40000", "10.0.0.3:8765", 5 * MS, 11 * MS), "/chat"), None);
    }

    #[test]
    fn an_engineio_upgrade_gets_the_polling_before_it() {
        let mut e = EngineIo::default();
        let plain = |id, at| Request { upgrade: false, ..req(id, "10.0.0.1:5000", "10.0.0.2:8000", at, at) };
        let poll = "/socket.io/?EIO=4&transport=polling&t=abc&sid=AbqH";
        // The handshake GET has no sid yet: nothing to note.
        assert_eq!(e.request(&plain(1, MS), "/socket.io/?EIO=4&transport=polling&t=x"), None);
        assert_eq!(e.request(&plain(2, 2 * MS), poll), None);
        assert_eq!(e.request(&plain(2, 3 * MS), poll), None);
        assert_eq!(e.request(&plain(4, 4 * MS), poll), None);
        // Not engine.io: a sid alone is somebody else's.
        assert_eq!(e.request(&plain(5, 5 * MS), "/x?sid=AbqH"), None);
        let up = req(3, "10.0.0.1:5001", "10.0.0.2:8000", 6 * MS, 6 * MS);
        let got = e.request(&up, "/socket.io/?EIO=4&transport=websocket&sid=AbqH").unwrap_or_default();
        assert_eq!((got.sid.as_str(), got.polling_requests), ("AbqH", 3));
        assert_eq!(got.polling_connections, vec![2, 4]);
        assert_eq!(got.first_ns, 2 * MS);
        // Taken: a second upgrade with the sid has no polling before it.
        let again = e.request(&up, "/socket.io/?EIO=4&transport=websocket&sid=AbqH").unwrap_or_default();
        assert_eq!(again.polling_requests, 0);
        // A WebSocket straight away (transports: ['websocket']) has no sid: nothing.
        assert_eq!(e.request(&up, "/socket.io/?EIO=4&transport=websocket"), None);
    }

    #[test]
    fn old_requests_are_forgotten() {
        let mut legs = Legs::default();
        legs.request(&req(1, "10.0.0.1:50000", "10.0.0.2:8080", 0, MS), "/chat");
        let late = PAIR_WINDOW_NS + 2 * MS;
        assert_eq!(legs.request(&req(2, "10.0.0.2:40000", "10.0.0.3:8765", late, late + MS), "/chat"), None);
        assert_eq!(legs.len, 1, "only the second request is remembered");
        // Bounded whatever the rate.
        for i in 0..(MAX_RECENT as u64 + 10) {
            legs.request(&req(10 + i, "10.0.0.1:1", "10.0.0.2:8080", late, late), "/x");
        }
        assert!(legs.len <= MAX_RECENT);
        assert_eq!(legs.order.len(), legs.len);
    }
}
