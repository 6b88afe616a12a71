//! HTTP/1.1 heads of upgrade exchanges (RFC 6455 §4, RFC 9110 §7.8): request and response heads parsed
//! with httparse, sans-IO: the caller hands in the bytes seen so far and gets "need more",
//! "done, head is n bytes" or an error.

use crate::text::Text;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::borrow::Cow;

/// The largest head we wait for; a larger one is an error, not unbounded memory.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 96;
/// The GUID of RFC 6455 §1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a head could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("HTTP head longer than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
}

/// Result of feeding bytes to a head parser.
#[derive(Debug, PartialEq)]
pub enum Parsed<T> {
    /// More bytes are needed.
    Partial,
    /// A complete head of `len` bytes.
    Done { head: T, len: usize },
}

/// One extension offer or answer, e.g. `permessage-deflate; client_max_window_bits=12`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

impl Extension {
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }
}

impl std::fmt::Display for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        for (k, v) in &self.params {
            match v {
                Some(v) => write!(f, "; {k}={v}")?,
                None => write!(f, "; {k}")?,
            }
        }
        Ok(())
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1).
pub fn parse_extensions(value: &str) -> Vec<Extension> {
    split_list(value)
        .map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("").to_ascii_lowercase();
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_string())),
                    None => (p.to_ascii_lowercase(), None),
                })
                .collect();
            Extension { name, params }
        })
        .filter(|e| !e.name.is_empty())
        .collect()
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| split_list(v).any(|t| t.eq_ignore_ascii_case(token)))
}

/// An HTTP request head, as far as a WebSocket diagnosis needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Text,
    pub uri: Text,
    /// Minor version: 1 for HTTP/1.1.
    pub version: u8,
    pub host: Option<Text>,
    pub origin: Option<Text>,
    pub user_agent: Option<Text>,
    pub upgrade: Option<Text>,
    pub connection: Option<Text>,
    pub key: Option<Text>,
    pub ws_version: Option<Text>,
    pub protocols: Vec<String>,
    pub extensions: Vec<Extension>,
    pub extensions_raw: Vec<String>,
    pub cookie: bool,
    pub authorization: bool,
    pub content_length: Option<u64>,
}

impl Request {
    /// Takes in one header field (`name` in lowercase, as HTTP/2 writes them all).
    pub fn set_field(&mut self, name: &str, v: &str) {
        let own = || Some(Text::new(v));
        match name {
            "host" => self.host = own(),
            "origin" | "sec-websocket-origin" => self.origin = own(),
            "user-agent" => self.user_agent = own(),
            "upgrade" => self.upgrade = own(),
            "connection" => self.connection = own(),
            "sec-websocket-key" => self.key = own(),
            "sec-websocket-version" => self.ws_version = own(),
            "sec-websocket-protocol" => self.protocols.extend(split_list(v).map(String::from)),
            "sec-websocket-extensions" => {
                self.extensions.extend(parse_extensions(v));
                self.extensions_raw.extend(split_list(v).map(String::from));
            }
            "cookie" => self.cookie = true,
            "authorization" => self.authorization = true,
            "content-length" => self.content_length = v.parse().ok(),
            _ => {}
        }
    }

    /// The path without its query string (which may hold tokens).
    pub fn uri_short(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }

    /// A forward proxy's `CONNECT host:port` (RFC 9110 §9.3.6).
    pub fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT")
    }

    /// `Upgrade: websocket` and `Connection: upgrade` (RFC 6455 §4.1 items 5 and 6).
    pub fn wants_websocket(&self) -> bool {
        has_token(self.upgrade.as_deref(), "websocket")
    }
}

/// An HTTP response head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: Text,
    pub version: u8,
    pub server: Option<Text>,
    pub content_type: Option<Text>,
    pub upgrade: Option<Text>,
    pub connection: Option<Text>,
    pub accept: Option<Text>,
    pub protocol: Option<Text>,
    pub extensions: Vec<Extension>,
    pub extensions_raw: Vec<String>,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub location: Option<Text>,
    pub www_authenticate: Option<Text>,
    /// Header fields in the head (a head cut short: the whole ones).
    pub fields: u16,
}

impl Response {
    /// The server software, from what it really sends: the `Server` field when there is one,
    /// else its signature — Daphne's handshake refusals (Autobahn's `403 Access denied` and
    /// `500 Internal server error` with no header at all), Node `ws`'s 426, nginx's and
    /// HAProxy's error pages. `body` is the start of the response body.
    pub fn software(&self, body: &[u8]) -> Option<&'static str> {
        const BY_SERVER: &[(&str, &str)] = &[
            ("daphne", "daphne"),
            ("wsgiserver", "django-runserver"),
            ("uvicorn", "uvicorn"),
            ("hypercorn", "hypercorn"),
            ("websockets/", "python-websockets"),
            ("aiohttp", "aiohttp"),
            ("tornadoserver", "tornado"),
            ("werkzeug", "werkzeug"),
            ("gunicorn", "gunicorn"),
            ("nginx", "nginx"),
            ("openresty", "nginx"),
            ("apache", "apache"),
            ("caddy", "caddy"),
            ("haproxy", "haproxy"),
            ("envoy", "envoy"),
            ("squid", "squid"),
            ("cloudflare", "cloudflare"),
            ("kestrel", "kestrel"),
            ("jetty", "jetty"),
        ];
        if let Some(server) = &self.server {
            let server = server.to_ascii_lowercase();
            return BY_SERVER.iter().find(|(token, _)| server.contains(token)).map(|(_, name)| *name);
        }
        let body = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
        match (self.status, self.reason.as_str()) {
            (403, "Access denied") | (500, "Internal server error") if self.fields == 0 => Some("daphne"),
            (426, _) if body == "upgrade required" && self.content_type.as_deref() == Some("text/plain") => {
                Some("node-ws")
            }
            _ if body.contains("<center>nginx") => Some("nginx"),
            _ if body.contains("no server is available to handle this request") => Some("haproxy"),
            _ => None,
        }
    }

    /// Takes in one header field (`name` in lowercase).
    pub fn set_field(&mut self, name: &str, v: &str) {
        let own = || Some(Text::new(v));
        match name {
            "server" => self.server = own(),
            "content-type" => self.content_type = own(),
            "upgrade" => self.upgrade = own(),
            "connection" => self.connection = own(),
            "sec-websocket-accept" => self.accept = own(),
            "sec-websocket-protocol" => self.protocol = own(),
            "sec-websocket-extensions" => {
                self.extensions.extend(parse_extensions(v));
                self.extensions_raw.extend(split_list(v).map(String::from));
            }
            "content-length" => self.content_length = v.parse().ok(),
            "transfer-encoding" => self.chunked = has_token(Some(v), "chunked"),
            "location" => self.location = own(),
            "www-authenticate" => self.www_authenticate = own(),
            _ => {}
        }
    }

    pub fn upgrade_ok(&self) -> bool {
        has_token(self.upgrade.as_deref(), "websocket")
    }
    pub fn connection_ok(&self) -> bool {
        has_token(self.connection.as_deref(), "upgrade")
    }
}

/// Masks what may be a secret in a URI: the values of query parameters that look like
/// credentials, and anything shaped like a JWT. `/ws/?token=abc&room=1` -> `/ws/?token=…&room=1`.
pub fn mask_uri(uri: &str) -> Cow<'_, str> {
    let Some((path, query)) = uri.split_once('?') else { return mask_jwt(uri) };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if is_secret_name(k) && !v.is_empty() => format!("{k}=…"),
            _ => mask_jwt(kv).into_owned(),
        })
        .collect();
    Cow::Owned(format!("{}?{}", mask_jwt(path), parts.join("&")))
}

fn is_secret_name(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "token",
        "key",
        "auth",
        "jwt",
        "secret",
        "pass",
        "session",
        "sig",
        "ticket",
        "credential",
        "apikey",
        "access",
        "code",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Replaces JWT-shaped runs (`eyJ…`) with `…`.
pub fn mask_jwt(s: &str) -> Cow<'_, str> {
    if !s.contains("eyJ") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("eyJ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '='))
            .unwrap_or(tail.len());
        if end >= 16 {
            out.push('…');
        } else {
            out.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A client's family from its User-Agent: the browser engines by their tokens (Edge and Opera
/// are Chromium; Safari names itself only without a Chrome token), the libraries by name.
pub fn client_family(ua: &str) -> Option<&'static str> {
    let has = |t: &str| ua.contains(t);
    if has("Firefox/") {
        Some("firefox")
    } else if has("Chrome/") || has("Chromium/") || has("HeadlessChrome") || has("Edg/") || has("OPR/") {
        Some("chromium")
    } else if has("Safari/") && has("AppleWebKit") {
        Some("safari")
    } else if has("websockets/") {
        Some("python-websockets")
    } else if has("aiohttp") {
        Some("aiohttp")
    } else if has("okhttp") {
        Some("okhttp")
    } else if has("Go-http-client") {
        Some("go")
    } else if has("curl/") {
        Some("curl")
    } else if has("Dart/") {
        Some("dart")
    } else if has("Java/") || has("Apache-HttpClient") {
        Some("java")
    } else {
        None
    }
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2 item 5.4).
pub fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Whether `accept` is the `Sec-WebSocket-Accept` for `key` ([`accept_for`] without
/// allocating).
pub fn accept_matches(key: &str, accept: &str) -> bool {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    let mut out = [0u8; 28];
    let n = base64::engine::general_purpose::STANDARD.encode_slice(h.finalize(), &mut out).unwrap_or(0);
    out.get(..n).is_some_and(|o| o == accept.as_bytes())
}

/// A header value as text, trimmed; borrowed unless it is not UTF-8.
fn text(v: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(v) {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
    }
}

/// The longest field name a head's parser takes in (`sec-websocket-extensions` is 24).
const NAME_MAX: usize = 32;

/// A field name in lowercase, in `buf`; None if longer than any name taken in.
fn lower_name<'a>(name: &str, buf: &'a mut [u8; NAME_MAX]) -> Option<&'a str> {
    let out = buf.get_mut(..name.len())?;
    out.copy_from_slice(name.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

/// The length of a PROXY protocol header (HAProxy's, v1 text or v2 binary) at the start of a
/// client stream, as load balancers send it to backends before the request.
pub fn proxy_header_len(buf: &[u8]) -> Option<usize> {
    const V2: &[u8; 12] = b"\r\n\r\n\x00\r\nQUIT\n";
    if buf.starts_with(b"PROXY ") {
        let end = buf.iter().take(108).position(|b| *b == b'\n')?;
        return Some(end + 1);
    }
    if buf.len() >= 16 && buf[..12] == V2[..] {
        let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        return (len <= buf.len()).then_some(len);
    }
    None
}

/// True if `buf` starts like an HTTP/1.x request line (a method token and a space).
pub fn looks_like_request(buf: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] =
        [b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];
    METHODS.iter().any(|m| {
        let n = m.len().min(buf.len());
        !buf.is_empty() && buf[..n] == m[..n]
    })
}

/// True if `buf` starts like an HTTP/1.x status line.
pub fn looks_like_response(buf: &[u8]) -> bool {
    let p = b"HTTP/1.";
    let n = p.len().min(buf.len());
    !buf.is_empty() && buf[..n] == p[..n]
}

fn map_err(e: httparse::Error) -> HttpError {
    HttpError::Malformed(e.to_string())
}

/// Parses a request head from the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Result<Parsed<Request>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_HEAD { Err(HttpError::TooLarge) } else { Ok(Parsed::Partial) };
        }
        Err(e) => return Err(map_err(e)),
    };
    let mut r = Request {
        method: Text::new(req.method.unwrap_or("")),
        uri: Text::new(req.path.unwrap_or("")),
        version: req.version.unwrap_or(1),
        ..Request::default()
    };
    let mut name = [0; NAME_MAX];
    for h in req.headers.iter() {
        if let Some(n) = lower_name(h.name, &mut name) {
            r.set_field(n, &text(h.value));
        }
    }
    Ok(Parsed::Done { head: r, len })
}

/// Parses a response head from the start of `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_HEAD { Err(HttpError::TooLarge) } else { Ok(Parsed::Partial) };
        }
        Err(e) => return Err(map_err(e)),
    };
    let mut r = Response {
        status: resp.code.unwrap_or(0),
        reason: Text::new(resp.reason.unwrap_or("")),
        version: resp.version.unwrap_or(1),
        ..Response::default()
    };
    let mut name = [0; NAME_MAX];
    for h in resp.headers.iter() {
        if let Some(n) = lower_name(h.name, &mut name) {
            r.set_field(n, &text(h.value));
        }
    }
    r.fields = u16::try_from(resp.headers.len()).unwrap_or(u16::MAX);
    Ok(Parsed::Done { head: r, len })
}

/// The complete header lines of a head cut short (a snaplen, a capture gap): `(first line,
/// headers)`. Lines after the cut are unknown, not absent.
fn partial_lines(buf: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let text = String::from_utf8_lossy(buf);
    let mut lines = text.split("\r\n");
    let first = lines.next()?.to_string();
    let complete: Vec<&str> = lines.collect();
    // The last piece has no CRLF after it: it may be cut.
    let n = complete.len().saturating_sub(1);
    let headers = complete[..n]
        .iter()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    Some((first, headers))
}

/// A request head cut short: the request line and the header lines that are whole.
pub fn parse_request_partial(buf: &[u8]) -> Option<Request> {
    let (first, headers) = partial_lines(buf)?;
    let mut parts = first.split(' ');
    let method = Text::new(parts.next()?);
    let uri = Text::new(parts.next()?);
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut r = Request { method, uri, version: 1, ..Request::default() };
    for (k, v) in headers {
        r.set_field(&k, &v);
    }
    Some(r)
}

/// A response head cut short: the status line and the header lines that are whole.
pub fn parse_response_partial(buf: &[u8]) -> Option<Response> {
    let (first, headers) = partial_lines(buf)?;
    let rest = first.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let version = parts.next()?.parse().ok()?;
    let code = parts.next()?;
    if code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
        || (parts.clone().next().is_none() && !buf.windows(2).any(|w| w == b"\r\n"))
    {
        return None;
    }
    let status = code.parse().ok()?;
    let reason = Text::new(parts.next().unwrap_or(""));
    let mut r = Response { status, reason, version, ..Response::default() };
    r.fields = u16::try_from(headers.len()).unwrap_or(u16::MAX);
    for (k, v) in headers {
        r.set_field(&k, &v);
    }
    Some(r)
}

/// Something wrong with a 101 answer (RFC 6455 §4.1, the client's checks 1–6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeProblem {
    /// The `Upgrade` header's value (or none) is not `websocket`.
    Upgrade(Option<String>),
    /// The `Connection` header's value (or none) has no `Upgrade`.
    Connection(Option<String>),
    AcceptMissing,
    /// The accept value sent, and the one the key asks for.
    AcceptWrong {
        got: String,
        want: String,
    },
    /// A subprotocol the client did not offer.
    UnofferedProtocol(String),
    /// An extension the client did not offer.
    UnofferedExtension(String),
}

impl std::fmt::Display for HandshakeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let missing = |v: &Option<String>| v.clone().unwrap_or_else(|| "missing".into());
        match self {
            HandshakeProblem::Upgrade(v) => write!(f, "Upgrade header is {:?}, not \"websocket\"", missing(v)),
            HandshakeProblem::Connection(v) => write!(f, "Connection header is {:?}, not \"Upgrade\"", missing(v)),
            HandshakeProblem::AcceptMissing => f.write_str("Sec-WebSocket-Accept is missing"),
            HandshakeProblem::AcceptWrong { got, want } => {
                write!(f, "Sec-WebSocket-Accept is {got:?}, expected {want:?} for the key sent")
            }
            HandshakeProblem::UnofferedProtocol(p) => {
                write!(f, "the server chose subprotocol {p:?}, which the client did not offer")
            }
            HandshakeProblem::UnofferedExtension(e) => {
                write!(f, "the server chose extension {e:?}, which the client did not offer")
            }
        }
    }
}

/// What is wrong with a 101 answer to `req` (RFC 6455 §4.1, the client's checks 1–6).
pub fn validate_101(req: &Request, resp: &Response) -> Vec<HandshakeProblem> {
    let mut problems = Vec::new();
    if !resp.upgrade_ok() {
        problems.push(HandshakeProblem::Upgrade(resp.upgrade.as_deref().map(String::from)));
    }
    if !resp.connection_ok() {
        problems.push(HandshakeProblem::Connection(resp.connection.as_deref().map(String::from)));
    }
    if let Some(key) = &req.key {
        match &resp.accept {
            None => problems.push(HandshakeProblem::AcceptMissing),
            Some(a) if !accept_matches(key, a) => {
                problems.push(HandshakeProblem::AcceptWrong { got: a.to_string(), want: accept_for(key) })
            }
            Some(_) => {}
        }
    }
    problems.extend(validate_choices(req, resp));
    problems
}

/// What the server chose that the client did not offer: a subprotocol or an extension
/// (RFC 6455 §4.1 checks 5–6; on HTTP/2 the same fields, RFC 8441 §5).
pub fn validate_choices(req: &Request, resp: &Response) -> Vec<HandshakeProblem> {
    let mut problems = Vec::new();
    if let Some(p) = &resp.protocol
        && !req.protocols.iter().any(|o| **o == **p)
    {
        problems.push(HandshakeProblem::UnofferedProtocol(p.to_string()));
    }
    for e in &resp.extensions {
        if !req.extensions.iter().any(|o| o.name == e.name) {
            problems.push(HandshakeProblem::UnofferedExtension(e.name.clone()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /ws/orders/?token=abc HTTP/1.1\r\nHost: example.com:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nCookie: sessionid=x\r\n\r\n\x81\x85";

    const RESP: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

    #[test]
    fn client_families_from_real_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
                Some("chromium"),
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", Some("firefox")),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                Some("safari"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                Some("chromium"),
            ),
            ("Python/3.11 websockets/17.4", Some("python-websockets")),
            ("Python/3.11 aiohttp/3.9.5", Some("aiohttp")),
            ("okhttp/4.12.0", Some("okhttp")),
            ("curl/7.88.1", Some("curl")),
            ("something else", None),
        ];
        for (ua, want) in cases {
            assert_eq!(client_family(ua), want, "{ua}");
        }
    }

    #[test]
    fn rfc6455_sample_accept() {
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(accept_matches(" dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        for wrong in
            ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo==", "", "S3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
        {
            assert!(!accept_matches("dGhlIHNhbXBsZSBub25jZQ==", wrong), "{wrong:?}");
        }
    }

    #[test]
    fn request_fields_and_leftover() {
        let Ok(Parsed::Done { head, len }) = parse_request(REQ) else { panic!() };
        assert_eq!(len, REQ.len() - 2);
        assert_eq!(head.method, "GET");
        assert_eq!(head.uri, "/ws/orders/?token=abc");
        assert_eq!(head.host.as_deref(), Some("example.com:8000"));
        assert_eq!(head.protocols, vec!["chat", "superchat"]);
        assert_eq!(head.extensions[0].name, "permessage-deflate");
        assert_eq!(head.extensions[0].param("client_max_window_bits"), Some(None));
        assert!(head.cookie && !head.authorization && head.wants_websocket());
    }

    #[test]
    fn field_names_any_case_values_trimmed_and_lossy() {
        let mut head = b"GET /x HTTP/1.1\r\nHOST:  h:1 \r\nuPgRaDe: websocket\r\n".to_vec();
        head.extend_from_slice(b"X-A-Field-Name-Longer-Than-Any-We-Read: 1\r\nUser-Agent: caf\xe9\r\n\r\n");
        let Parsed::Done { head: r, .. } = parse_request(&head).unwrap() else { panic!("partial") };
        assert_eq!(r.host.as_deref(), Some("h:1"));
        assert!(r.wants_websocket());
        assert_eq!(r.user_agent.as_deref(), Some("caf\u{fffd}"));
        let resp = b"HTTP/1.1 403 Forbidden\r\nSERVER: nginx/1.22\r\nContent-LENGTH: 12\r\n\r\n";
        let Parsed::Done { head: r, .. } = parse_response(resp).unwrap() else { panic!("partial") };
        assert_eq!((r.server.as_deref(), r.content_length, r.fields), (Some("nginx/1.22"), Some(12), 2));
    }

    #[test]
    fn every_prefix_is_partial() {
        let head_len = REQ.len() - 2;
        for cut in 0..head_len {
            assert_eq!(parse_request(&REQ[..cut]), Ok(Parsed::Partial), "cut {cut}");
        }
        for cut in 0..RESP.len() {
            assert_eq!(parse_response(&RESP[..cut]), Ok(Parsed::Partial), "cut {cut}");
        }
    }

    #[test]
    fn valid_101() {
        let Ok(Parsed::Done { head: req, .. }) = parse_request(REQ) else { panic!() };
        let Ok(Parsed::Done { head: resp, .. }) = parse_response(RESP) else { panic!() };
        assert_eq!(resp.status, 101);
        assert!(validate_101(&req, &resp).is_empty());
    }

    #[test]
    fn invalid_101s() {
        let Ok(Parsed::Done { head: req, .. }) = parse_request(REQ) else { panic!() };
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\nSec-WebSocket-Protocol: other\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n";
        let Ok(Parsed::Done { head: resp, .. }) = parse_response(bad) else { panic!() };
        let p = validate_101(&req, &resp);
        assert_eq!(p.len(), 4, "{p:?}");
        assert_eq!(p[0], HandshakeProblem::Upgrade(None));
        assert_eq!(p[0].to_string(), "Upgrade header is \"missing\", not \"websocket\"");
        assert!(matches!(&p[1], HandshakeProblem::AcceptWrong { got, .. } if got == "wrong="));
        assert_eq!(p[2].to_string(), "the server chose subprotocol \"other\", which the client did not offer");
        assert_eq!(p[3], HandshakeProblem::UnofferedExtension("x-webkit-deflate-frame".into()));
    }

    #[test]
    fn non_101_fields() {
        let r = b"HTTP/1.0 404 Not Found\r\nServer: WSGIServer/0.2 CPython/3.11.7\r\nContent-Type: text/html\r\nContent-Length: 179\r\n\r\n<html>";
        let Ok(Parsed::Done { head, len }) = parse_response(r) else { panic!() };
        assert_eq!((head.status, head.version, head.content_length), (404, 0, Some(179)));
        assert_eq!(head.server.as_deref(), Some("WSGIServer/0.2 CPython/3.11.7"));
        assert_eq!(&r[len..], b"<html>");
    }

    #[test]
    fn partial_heads_keep_whole_lines_only() {
        let r = parse_request_partial(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUpgr").unwrap_or_default();
        assert_eq!(
            (r.method.as_str(), r.uri.as_str(), r.host.as_deref(), r.upgrade),
            ("GET", "/chat", Some("127.0.0.1:8765"), None)
        );
        let r = parse_response_partial(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConn")
            .unwrap_or_default();
        assert_eq!((r.status, r.upgrade.as_deref()), (101, Some("websocket")));
        assert_eq!(parse_response_partial(b"HTTP/1.1 1"), None);
        assert_eq!(parse_request_partial(b"\x16\x03\x01 x"), None);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_uri("/ws/orders/?token=abc&room=7"), "/ws/orders/?token=…&room=7");
        assert_eq!(mask_uri("/ws/"), "/ws/");
        assert_eq!(mask_uri("/x?access_token=a.b.c"), "/x?access_token=…");
        assert_eq!(mask_jwt("authorization.bearer.eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"), "authorization.bearer.…");
    }

    #[test]
    fn proxy_protocol_headers() {
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.9 51234 8000\r\nGET / HTTP/1.1\r\n";
        assert_eq!(proxy_header_len(v1), Some(44));
        let mut v2 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        v2.extend_from_slice(&[203, 0, 113, 7, 10, 0, 0, 9, 0xc8, 0x22, 0x1f, 0x40]);
        v2.extend_from_slice(b"GET /");
        assert_eq!(proxy_header_len(&v2), Some(28));
        assert_eq!(proxy_header_len(b"GET / HTTP/1.1"), None);
        assert_eq!(proxy_header_len(&v2[..20]), None);
    }

    #[test]
    fn detection() {
        assert!(looks_like_request(b"GET / HTTP/1.1"));
        assert!(looks_like_request(b"GE"));
        assert!(!looks_like_request(b"\x16\x03\x01"));
        assert!(looks_like_response(b"HTTP/1.1 101"));
        assert!(!looks_like_response(b"\x81\x05"));
    }

    #[test]
    fn oversized_head_is_an_error() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(parse_request(&big), Err(HttpError::TooLarge));
    }
}
