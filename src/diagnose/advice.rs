//! Likely causes and what to check next, per pattern. Knowledge of real servers and proxies
//! (Daphne, Django's runserver, nginx, Node `ws`, Python `websockets`) lives here.

use super::{Kind, human_ms};
use crate::timeline::{Session, TcpFacts};
use crate::units::Side;
use crate::ws::Violation;

/// Well-known idle timeouts, in seconds, and who uses them.
const TIMEOUTS: &[(f64, &str)] = &[
    (55.0, "Heroku's 55 s idle timeout"),
    (60.0, "nginx's default proxy_read_timeout (60 s), also AWS ALB's default idle timeout"),
    (100.0, "Cloudflare's 100 s idle timeout for proxied WebSockets"),
    (240.0, "Azure Load Balancer's default 4 min idle timeout"),
    (350.0, "AWS NLB's 350 s idle timeout"),
    (3600.0, "a 1 h HAProxy `timeout tunnel`"),
];

/// Names a well-known default that an idle gap matches (within 3 % or 1 s).
pub fn timeout_match(gap_ms: f64) -> Option<String> {
    let s = gap_ms / 1000.0;
    TIMEOUTS.iter().find(|(t, _)| (s - t).abs() <= (t * 0.03).max(1.0)).map(|(_, name)| name.to_string())
}

fn server_header(s: &Session) -> String {
    s.response().and_then(|(r, _)| r.server.clone()).unwrap_or_default().to_ascii_lowercase()
}

/// The server software, from what it sent ([`crate::http::Response::software`]).
pub fn software(s: &Session) -> Option<&'static str> {
    let body = s.http.exchange.as_ref().map_or(&[][..], |e| &e.body[..]);
    s.response().and_then(|(r, _)| r.software(body))
}

fn body(s: &Session) -> String {
    s.http.exchange.as_ref().map(|e| String::from_utf8_lossy(&e.body).to_ascii_lowercase()).unwrap_or_default()
}

pub fn advise(
    tcp: &TcpFacts,
    tls: Option<&crate::tls::TlsFacts>,
    s: &Session,
    kind: Kind,
    client: Side,
) -> Vec<String> {
    let server = client.other();
    let srv = server_header(s);
    let software = software(s);
    let mut a: Vec<String> = Vec::new();
    match kind {
        Kind::Refused => {
            a.push(format!("Nothing listens on {}: check that the server process runs and is bound to that address and port (e.g. `daphne -b 0.0.0.0 -p 8000`, not only 127.0.0.1).", tcp.endpoints[server]));
            a.push("Check the port in the client's ws:// URL and in the proxy's upstream.".into());
        }
        Kind::Unreachable => {
            a.push("SYNs with no answer: a firewall or security group dropping the port, a wrong IP or DNS record, or the host is down.".into());
            a.push(
                "Compare with a capture on the server host: if the SYNs never arrive there, the drop is on the path."
                    .into(),
            );
        }
        Kind::HandshakeRejected if s.request().is_some_and(|(r, _)| r.is_connect()) => {
            match s.response().map(|(r, _)| r.status).unwrap_or(0) {
                407 => a.push("407: the proxy wants credentials (`Proxy-Authorization`); browsers ask for them, most WebSocket libraries need them in the proxy URL (`http://user:pass@proxy:3128`) or an option.".into()),
                403 => a.push("403 from the proxy: its rules refuse this target (squid: `http_access deny CONNECT !SSL_ports`, or an ACL on the host or port); allow the WebSocket server's host and port for CONNECT.".into()),
                502..=504 => a.push("The proxy could not reach the target: DNS, a firewall between the proxy and the server, or the server down.".into()),
                _ => {}
            }
        }
        Kind::HandshakeRejected => {
            let status = s.response().map(|(r, _)| r.status).unwrap_or(0);
            let b = body(s);
            match status {
                404 if software == Some("django-runserver") => a.push("`WSGIServer` answered: the app runs under Django's WSGI dev server (`runserver` without Channels' ASGI server), which cannot upgrade. Add \"daphne\" at the top of INSTALLED_APPS with ASGI_APPLICATION set, or run `daphne project.asgi:application`.".into()),
                404 => a.push("No route for this path: check the WebSocket URL patterns (Channels `URLRouter`, trailing slash, `^ws/...$`) and any path rewriting in the proxy.".into()),
                403 if software == Some("daphne") => {
                    a.push("Daphne answers 403 when the consumer closes before `accept()`, or when `AllowedHostsOriginValidator` / `OriginValidator` rejects the Origin: check ALLOWED_HOSTS against the Origin header and the consumer's `connect()`.".into());
                }
                403 => a.push("Forbidden: the Origin header, a cookie or a token was rejected; check the server's origin allow-list and the credentials the client sends.".into()),
                401 => a.push("Unauthorized: credentials missing or expired; browsers cannot set an Authorization header on WebSockets, so tokens usually travel in a cookie or the query string.".into()),
                400 => {
                    if b.contains("upgrade") || b.contains("connection") {
                        a.push("The backend says the Upgrade/Connection headers are missing: a proxy dropped them. nginx needs `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`.".into());
                    } else {
                        a.push("Bad Request: the server refused the handshake itself; compare the request headers with RFC 6455 §4.1 (Sec-WebSocket-Key, Version 13) and check whether a proxy rewrote them.".into());
                    }
                }
                426 => a.push("426 Upgrade Required: the server wanted a WebSocket upgrade but the request reaching it had none — a proxy on the way dropped the Upgrade and Connection headers (nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`).".into()),
                500 if software == Some("daphne") => a.push("Daphne answers 500 to an upgrade when no WebSocket route matches the path or the application raised during connect: check the URLRouter and the server log.".into()),
                500 => a.push("The server crashed while handling the upgrade: check its log at this time.".into()),
                502 => a.push(format!("The proxy{} could not reach its backend: backend process down, wrong upstream address/port, or the backend closed the connection; check the proxy's error log.", if srv.is_empty() { String::new() } else { format!(" ({srv})") })),
                503 => a.push("Service unavailable: no healthy backend, overload, or maintenance mode.".into()),
                504 => a.push("The proxy timed out waiting for the backend's answer to the upgrade: backend hung or too slow.".into()),
                301 | 302 | 303 | 307 | 308 => {
                    let loc = s.response().and_then(|(r, _)| r.location.clone()).unwrap_or_default();
                    let to = if loc.is_empty() { String::new() } else { format!(" to {loc}") };
                    let who = match super::family(s) {
                        Some("python-websockets") => "Python websockets follows it (up to 10 redirects), so its next connection is the redirected one; browsers do not",
                        Some(f) if super::is_browser(Some(f)) => "browsers do not follow redirects for WebSockets (the page sees 1006)",
                        _ => "browsers do not follow redirects for WebSockets; some libraries do (Python websockets)",
                    };
                    a.push(format!("A redirect{to}: {who}. Use the final URL (often wss:// instead of ws://, or a trailing slash)."));
                }
                200 => a.push("200 OK: the server ignored the upgrade and served a page — a wrong path (SPA fallback), or something on the way that does not support WebSockets.".into()),
                _ => a.push(format!("Status {status}: see the response body preview and the server's log.")),
            }
            if let Some((req, _)) = s.request()
                && !req.wants_websocket()
                && status != 426
            {
                a.push("The request reaching this server had no `Upgrade: websocket` header: a proxy on the way dropped it.".into());
            }
        }
        Kind::HandshakeUnanswered => {
            a.push("The server accepted the TCP connection but never answered the upgrade: a hung worker, a blocked event loop, an application that does not speak WebSocket on this port, or a proxy buffering the request.".into());
        }
        Kind::InvalidHandshake => {
            a.push("A wrong Sec-WebSocket-Accept or missing Upgrade/Connection in a 101 means the server (or a proxy rewriting headers) does not implement RFC 6455 §4.2.2; a subprotocol or extension the client never offered must also make the client fail.".into());
        }
        Kind::ServerAbort => {
            let rst = s.ends.resets[server].is_some();
            a.push(format!("The server side closed without a Close frame: a crash, a restart or deploy, the process killed (OOM killer, SIGKILL), or a proxy limit.{}", if rst { " A RST means the socket was closed with unread data or the process died." } else { "" }));
            a.push("Check the server's (and proxy's) logs at this time; in Django Channels, an exception in connect() or a worker restart looks like this.".into());
        }
        Kind::ClientAbort => {
            a.push("The client went away without a Close frame: tab closed or navigated, network change, or the client process was killed. Harmless if expected; otherwise check the client's lifecycle.".into());
        }
        Kind::IdleTimeout => {
            let gap = s.ends.first().zip(s.last_activity()).map(|(t, l)| t.at.ts.ms_since(l.ts)).unwrap_or(0.0);
            match timeout_match(gap) {
                Some(m) => a.push(format!("The {} of silence matches {m}: raise that timeout for WebSocket routes, or send heartbeats more often than that.", human_ms(gap))),
                None => a.push(format!("Something closed an idle connection after {}: look for an idle timeout of that length in the proxies and load balancers on the path (nginx proxy_read_timeout, HAProxy timeout tunnel/client/server, cloud load balancers).", human_ms(gap))),
            }
            a.push("Heartbeats (Ping frames or application pings) shorter than the idle timeout keep the connection alive.".into());
        }
        Kind::CloseUnanswered => {
            if super::is_browser(super::family(s)) && super::leaving(s, client).is_some() {
                a.push("A browser sends Close 1001 and closes its socket without waiting when its page goes away (a navigation, a reload, a closed tab): nothing to fix, unless the page was not meant to go.".into());
                return a;
            }
            if s.closes.len() >= 2 {
                a.push("The answer did come, after the initiator had already ended TCP: it closed its socket without waiting for the closing handshake (RFC 6455 §7.1.1: a client should wait for the server to close TCP first). Harmless for the data, but that side reports 1006.".into());
                return a;
            }
            a.push("The peer never completed the closing handshake (RFC 6455 §5.5.1): a blocked event loop, a library that closes TCP right after receiving Close, or a proxy that dropped the frame.".into());
        }
        Kind::ProtocolViolation => {
            for (side, v, _) in &s.violations {
                let who = if *side == client { "client" } else { "server" };
                let hint = match v {
                    Violation::UnmaskedClientFrame => "a non-browser client or tunnel that does not mask its frames",
                    Violation::MaskedServerFrame => "a client library used as a server, or a proxy bug",
                    Violation::InvalidUtf8 => "binary data sent as a text message",
                    Violation::RsvWithoutExtension(_) => {
                        "compression used without negotiating permessage-deflate (a proxy may have stripped the Sec-WebSocket-Extensions header)"
                    }
                    _ => "a broken implementation or a proxy corrupting the stream",
                };
                let line = format!("The {who}'s frames break RFC 6455 ({}): likely {hint}.", v.describe());
                if !a.contains(&line) {
                    a.push(line);
                }
            }
        }
        Kind::CleanClose => {
            for c in &s.closes {
                let hint = match c.code {
                    Some(1009) => Some("1009: a message exceeded the receiver's size limit (Python websockets max_size, Node ws maxPayload, Daphne/Channels limits): raise it or send smaller messages.".to_string()),
                    Some(1011) => Some("1011: the server hit an internal error — in Django Channels an exception in the consumer; look for the traceback in the server log at this time.".to_string()),
                    Some(1008) => Some("1008: policy violation — usually an authentication or authorization check.".to_string()),
                    Some(1001) => Some("1001: going away — a server shutting down or restarting, or a page navigating away.".to_string()),
                    Some(1012) | Some(1013) => Some("Service restart / try again later: the server asks the client to reconnect after a while.".to_string()),
                    Some(c) if (4000..5000).contains(&c) => Some(format!("{c} is application-defined: find `close(code={c})` (Channels) or `ws.close({c}, …)` in the application; the reason says why.")),
                    _ => None,
                };
                if let Some(h) = hint
                    && !a.contains(&h)
                {
                    a.push(h);
                }
            }
        }
        Kind::TlsFailed => {
            let alert =
                tls.and_then(|t| t.alerts.iter().find(|a| a.description != Some(0))).and_then(|a| a.description);
            let name = alert.and_then(crate::tls::alert_description_name).unwrap_or("");
            let sni = tls.and_then(|t| t.sni.clone()).map(|n| format!(" for {n}")).unwrap_or_default();
            match name {
                "unknown_ca" | "bad_certificate" | "certificate_unknown" | "unsupported_certificate" => a.push(format!("The client does not trust the server's certificate{sni}: self-signed or from a private CA, a missing intermediate certificate, or a name that does not match. A browser shows no prompt for wss:// — open the https:// URL of the same host once to see the certificate error.")),
                "certificate_expired" | "certificate_revoked" => a.push("The server's certificate is expired or revoked: renew it (and check the clocks of both hosts).".into()),
                "handshake_failure" | "protocol_version" | "insufficient_security" | "no_application_protocol" => a.push("Client and server share no TLS version, cipher suite or ALPN protocol: compare the ClientHello's offers with the server's TLS configuration (minimum version, cipher list).".into()),
                "unrecognized_name" => a.push(format!("The server does not know the name{sni}: check the SNI the client sends and the server's virtual hosts.")),
                "" => a.push("The handshake ended without an alert: some clients (Python websockets' asyncio client) close TCP without one when they reject the certificate; a proxy or firewall cutting TLS looks the same. Check the client's error message.".into()),
                _ => a.push(format!("The TLS alert {name} ended the handshake: see the TLS logs of both sides.")),
            }
            a.push("Browsers report 1006 for a WebSocket whose TLS handshake failed (Firefox reports 1015).".into());
        }
        Kind::PathReset => {
            if let Some((side, _, _)) = tcp.first_teardown()
                && let Some(ttl) = tcp.end_ttl[side]
            {
                // Initial TTLs in use: 64 (Linux, macOS), 128 (Windows), 255 (network gear).
                let init = [32u16, 64, 128, 255].into_iter().find(|i| *i >= u16::from(ttl)).unwrap_or(255);
                let hops = init - u16::from(ttl);
                let from = if side == server { "the client" } else { "the server" };
                let far = if hops == 0 {
                    format!("its TTL {ttl} is untouched, so it came from the device next to this capture point")
                } else {
                    format!("it left its sender with TTL {init} most likely, {hops} hop(s) before this capture point")
                };
                a.push(format!("The forged packet: {far}. Look for a firewall, IPS, load balancer or NAT that far from {from}'s side, and at its session timeouts, connection limits and logs at this time."));
            }
            a.push("A capture on the other endpoint settles it: the endpoint the packet claims to come from shows no such packet sent.".into());
        }
        Kind::PathLost => {
            let full = Side::BOTH.into_iter().any(|s| {
                let d = &tcp.delivery[s];
                d.stall
                    .as_deref()
                    .is_some_and(|st| st.min_len == st.max_len && st.max_len == d.max_len && d.max_len >= 1000)
            });
            if full {
                a.push("Only full-size segments were stuck: let ICMP \"fragmentation needed\" (type 3 code 4; ICMPv6 \"packet too big\") through the firewalls on the path, or clamp the MSS on the router or tunnel (`iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`).".into());
            }
            a.push("A stateful firewall, NAT gateway or load balancer forgets idle flows (AWS NAT gateway 350 s, many firewalls 300–3600 s): send WebSocket Pings more often than the shortest idle timeout on the path, and compare with a capture on the other side to see where the packets stop.".into());
        }
        Kind::StillOpen | Kind::Unknown | Kind::NotWebsocket => {}
    }
    if !matches!(kind, Kind::CleanClose | Kind::NotWebsocket) {
        a.extend(flow_stall(s, client));
    }
    a
}

/// An HTTP/2 sender whose flow-control window was used up at the end: it could not send.
fn flow_stall(s: &Session, client: Side) -> Option<String> {
    let st = s.h2.as_deref()?;
    for sender in [client.other(), client] {
        let (who, peer) = if sender == client { ("client", "server") } else { ("server", "client") };
        let (w, on) = if st.window[sender].now <= 0 {
            (&st.window[sender], "this stream")
        } else if st.conn_window[sender].now <= 0 {
            (&st.conn_window[sender], "the connection (shared by every stream on it)")
        } else {
            continue;
        };
        let from = w.exhausted.map(|a| format!(" from packet #{}", a.packet)).unwrap_or_default();
        return Some(format!(
            "HTTP/2 flow control held the {who} back: its window on {on} was {}{from} to the end of the capture, so it could send no more DATA; the {peer} granted no more credit (WINDOW_UPDATE) — it stopped reading, or other streams used the connection's window.",
            w.now
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert!(timeout_match(60_020.0).is_some_and(|m| m.contains("nginx")));
        assert!(timeout_match(100_400.0).is_some_and(|m| m.contains("Cloudflare")));
        assert!(timeout_match(55_000.0).is_some_and(|m| m.contains("Heroku")));
        assert_eq!(timeout_match(3_000.0), None);
        assert_eq!(timeout_match(75_000.0), None);
    }
}
