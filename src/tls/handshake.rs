//! Handshake messages (RFC 8446 §4, RFC 5246 §7.4): `HandshakeType msg_type; uint24 length;`
//! then the body. Messages may span records and records may hold several; [`Reassembler`]
//! joins them per direction, buffering only messages worth reading (up to [`MAX_MESSAGE`]) and
//! skipping the bodies of the rest (certificates) by count.
//!
//! Each body is read through a checked cursor: a length that runs past its container is a
//! [`HandshakeError`] naming the message, the field, the offset and the bytes needed and had.

use std::fmt;

/// RFC 8446 §4 message types.
pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;
pub const NEW_SESSION_TICKET: u8 = 4;
pub const END_OF_EARLY_DATA: u8 = 5;
pub const ENCRYPTED_EXTENSIONS: u8 = 8;
pub const CERTIFICATE: u8 = 11;
pub const SERVER_KEY_EXCHANGE: u8 = 12;
pub const CERTIFICATE_REQUEST: u8 = 13;
pub const SERVER_HELLO_DONE: u8 = 14;
pub const CERTIFICATE_VERIFY: u8 = 15;
pub const CLIENT_KEY_EXCHANGE: u8 = 16;
pub const FINISHED: u8 = 20;
pub const KEY_UPDATE: u8 = 24;

/// Extension numbers read (RFC 8446 §4.2, RFC 6066 §3, RFC 7301 §3.1).
pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_ALPN: u16 = 16;
pub const EXT_EARLY_DATA: u16 = 42;
pub const EXT_SUPPORTED_VERSIONS: u16 = 43;
pub const EXT_KEY_SHARE: u16 = 51;

/// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest
/// (SHA-256 of "HelloRetryRequest").
pub const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The largest message body buffered; bigger ones are skipped and reported by length.
pub const MAX_MESSAGE: usize = 1 << 16;
/// Items kept from one list (cipher suites, ALPN names, versions, extension numbers).
const MAX_ITEMS: usize = 128;

/// RFC 8446 §4.1.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub cipher_suites: Vec<u16>,
    /// RFC 6066 §3: the host_name, lossy UTF-8.
    pub sni: Option<String>,
    /// RFC 7301 §3.1: the protocols offered, lossy UTF-8.
    pub alpn: Vec<String>,
    /// RFC 8446 §4.2.1.
    pub supported_versions: Vec<u16>,
    pub key_share: bool,
    pub early_data: bool,
    /// Extension numbers in order (at most 128).
    pub extensions: Vec<u16>,
}

impl ClientHello {
    /// The browser whose TLS library wrote this hello, where its shape says so: `chromium`
    /// (BoringSSL sends GREASE values, RFC 8701; so do Safari and other BoringSSL clients) or
    /// `firefox` (NSS: delegated_credentials and record_size_limit, RFC 8449, and no GREASE).
    /// OpenSSL-based clients (Node, Python, curl) send neither; they get None.
    pub fn family(&self) -> Option<&'static str> {
        let grease = |v: &u16| v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff;
        if self.extensions.iter().chain(&self.cipher_suites).any(grease) {
            Some("chromium")
        } else if self.extensions.contains(&0x0022) && self.extensions.contains(&0x001c) {
            Some("firefox")
        } else {
            None
        }
    }
}

/// RFC 8446 §4.1.3 (a HelloRetryRequest too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub cipher: u16,
    /// RFC 8446 §4.2.1: the version chosen, in TLS 1.3.
    pub supported_version: Option<u16>,
    /// The HelloRetryRequest random.
    pub retry: bool,
    /// RFC 7301 §3.1: the protocol chosen (TLS 1.2; TLS 1.3 says it in EncryptedExtensions).
    pub alpn: Option<String>,
    pub extensions: Vec<u16>,
}

impl ServerHello {
    /// The version in force: supported_versions if present, else the legacy field.
    pub fn version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }
}

/// A handshake message, as far as this analyzer reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    ClientHello(ClientHello),
    ServerHello(ServerHello),
    /// RFC 8446 §4.3.1; `alpn` the protocol chosen.
    EncryptedExtensions {
        alpn: Option<String>,
    },
    /// Its body length only.
    Certificate {
        len: u32,
    },
    Finished {
        len: u32,
    },
    NewSessionTicket {
        len: u32,
    },
    /// RFC 8446 §4.6.3.
    KeyUpdate {
        requested: bool,
    },
    /// Any other type, kept as its number.
    Other {
        msg_type: u8,
        len: u32,
    },
}

/// A length that runs past its container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    pub msg_type: u8,
    pub field: &'static str,
    /// Offset into the message body.
    pub offset: usize,
    pub need: usize,
    pub got: usize,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} message: {} at byte {} needs {} bytes, has {}",
            message_name(self.msg_type),
            self.field,
            self.offset,
            self.need,
            self.got
        )
    }
}

/// The name of a handshake message type.
pub fn message_name(t: u8) -> &'static str {
    match t {
        CLIENT_HELLO => "ClientHello",
        SERVER_HELLO => "ServerHello",
        NEW_SESSION_TICKET => "NewSessionTicket",
        END_OF_EARLY_DATA => "EndOfEarlyData",
        ENCRYPTED_EXTENSIONS => "EncryptedExtensions",
        CERTIFICATE => "Certificate",
        SERVER_KEY_EXCHANGE => "ServerKeyExchange",
        CERTIFICATE_REQUEST => "CertificateRequest",
        SERVER_HELLO_DONE => "ServerHelloDone",
        CERTIFICATE_VERIFY => "CertificateVerify",
        CLIENT_KEY_EXCHANGE => "ClientKeyExchange",
        FINISHED => "Finished",
        KEY_UPDATE => "KeyUpdate",
        _ => "handshake",
    }
}

/// A checked cursor over a message body.
struct Reader<'a> {
    b: &'a [u8],
    off: usize,
    msg_type: u8,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], msg_type: u8) -> Self {
        Reader { b, off: 0, msg_type }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], HandshakeError> {
        let rest = &self.b[self.off.min(self.b.len())..];
        if rest.len() < n {
            return Err(HandshakeError { msg_type: self.msg_type, field, offset: self.off, need: n, got: rest.len() });
        }
        self.off += n;
        Ok(&rest[..n])
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, HandshakeError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, HandshakeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a 1-byte length.
    fn vec8(&mut self, field: &'static str) -> Result<Reader<'a>, HandshakeError> {
        let n = usize::from(self.u8(field)?);
        Ok(Reader::new(self.take(n, field)?, self.msg_type))
    }

    /// A vector with a 2-byte length.
    /// The next extension of an extension list (RFC 8446 §4.2: type, then 16-bit-length
    /// data); `None` at the end of the list.
    fn extension(&mut self) -> Result<Option<(u16, Reader<'a>)>, HandshakeError> {
        if self.is_empty() {
            return Ok(None);
        }
        let typ = self.u16("extension_type")?;
        Ok(Some((typ, self.vec16("extension_data")?)))
    }

    fn vec16(&mut self, field: &'static str) -> Result<Reader<'a>, HandshakeError> {
        let n = usize::from(self.u16(field)?);
        Ok(Reader::new(self.take(n, field)?, self.msg_type))
    }

    fn is_empty(&self) -> bool {
        self.off >= self.b.len()
    }

    fn rest(&self) -> &'a [u8] {
        &self.b[self.off.min(self.b.len())..]
    }
}

/// RFC 8446 §4.1.2 ClientHello body (also a TLS 1.2 one, RFC 5246 §7.4.1.2).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HandshakeError> {
    let mut r = Reader::new(body, CLIENT_HELLO);
    let legacy_version = r.u16("legacy_version")?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32, "random")?);
    r.vec8("legacy_session_id")?;
    let mut suites = r.vec16("cipher_suites")?;
    let mut cipher_suites = Vec::new();
    while !suites.is_empty() {
        let s = suites.u16("cipher_suites")?;
        if cipher_suites.len() < MAX_ITEMS {
            cipher_suites.push(s);
        }
    }
    r.vec8("legacy_compression_methods")?;
    let mut ch = ClientHello {
        legacy_version,
        random,
        cipher_suites,
        sni: None,
        alpn: Vec::new(),
        supported_versions: Vec::new(),
        key_share: false,
        early_data: false,
        extensions: Vec::new(),
    };
    // RFC 5246 §7.4.1.2: extensions may be absent altogether.
    if r.is_empty() {
        return Ok(ch);
    }
    let mut exts = r.vec16("extensions")?;
    while let Some((typ, mut data)) = exts.extension()? {
        if ch.extensions.len() < MAX_ITEMS {
            ch.extensions.push(typ);
        }
        match typ {
            EXT_SERVER_NAME => {
                let mut list = data.vec16("server_name_list")?;
                while !list.is_empty() {
                    let name_type = list.u8("name_type")?;
                    let name = list.vec16("host_name")?;
                    if name_type == 0 && ch.sni.is_none() {
                        ch.sni = Some(String::from_utf8_lossy(name.rest()).into_owned());
                    }
                }
            }
            EXT_ALPN => {
                let mut list = data.vec16("protocol_name_list")?;
                while !list.is_empty() {
                    let name = list.vec8("protocol_name")?;
                    if ch.alpn.len() < MAX_ITEMS {
                        ch.alpn.push(String::from_utf8_lossy(name.rest()).into_owned());
                    }
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let mut list = data.vec8("supported_versions")?;
                while !list.is_empty() {
                    let v = list.u16("supported_versions")?;
                    if ch.supported_versions.len() < MAX_ITEMS {
                        ch.supported_versions.push(v);
                    }
                }
            }
            EXT_KEY_SHARE => ch.key_share = true,
            EXT_EARLY_DATA => ch.early_data = true,
            _ => {}
        }
    }
    Ok(ch)
}

/// RFC 8446 §4.1.3 ServerHello body (RFC 5246 §7.4.1.3).
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, HandshakeError> {
    let mut r = Reader::new(body, SERVER_HELLO);
    let legacy_version = r.u16("legacy_version")?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.take(32, "random")?);
    r.vec8("legacy_session_id_echo")?;
    let cipher = r.u16("cipher_suite")?;
    r.u8("legacy_compression_method")?;
    let mut sh = ServerHello {
        legacy_version,
        random,
        cipher,
        supported_version: None,
        retry: random == HELLO_RETRY_RANDOM,
        alpn: None,
        extensions: Vec::new(),
    };
    if r.is_empty() {
        return Ok(sh);
    }
    let mut exts = r.vec16("extensions")?;
    while let Some((typ, mut data)) = exts.extension()? {
        if sh.extensions.len() < MAX_ITEMS {
            sh.extensions.push(typ);
        }
        if typ == EXT_SUPPORTED_VERSIONS {
            sh.supported_version = Some(data.u16("selected_version")?);
        } else if typ == EXT_ALPN {
            let mut list = data.vec16("protocol_name_list")?;
            let name = list.vec8("protocol_name")?;
            sh.alpn = Some(String::from_utf8_lossy(name.rest()).into_owned());
        }
    }
    Ok(sh)
}

/// RFC 8446 §4.3.1 EncryptedExtensions body: the ALPN protocol chosen, if any.
pub fn parse_encrypted_extensions(body: &[u8]) -> Result<Option<String>, HandshakeError> {
    let mut r = Reader::new(body, ENCRYPTED_EXTENSIONS);
    let mut exts = r.vec16("extensions")?;
    let mut alpn = None;
    while let Some((typ, mut data)) = exts.extension()? {
        if typ == EXT_ALPN {
            let mut list = data.vec16("protocol_name_list")?;
            let name = list.vec8("protocol_name")?;
            alpn = Some(String::from_utf8_lossy(name.rest()).into_owned());
        }
    }
    Ok(alpn)
}

/// One whole message body: the message it is.
pub fn parse_body(msg_type: u8, body: &[u8]) -> Result<Message, HandshakeError> {
    let len = body.len() as u32;
    Ok(match msg_type {
        CLIENT_HELLO => Message::ClientHello(parse_client_hello(body)?),
        SERVER_HELLO => Message::ServerHello(parse_server_hello(body)?),
        ENCRYPTED_EXTENSIONS => Message::EncryptedExtensions { alpn: parse_encrypted_extensions(body)? },
        CERTIFICATE => Message::Certificate { len },
        FINISHED => Message::Finished { len },
        NEW_SESSION_TICKET => Message::NewSessionTicket { len },
        KEY_UPDATE => {
            // RFC 8446 §4.6.3: update_not_requested(0), update_requested(1).
            let mut r = Reader::new(body, KEY_UPDATE);
            Message::KeyUpdate { requested: r.u8("request_update")? == 1 }
        }
        t => Message::Other { msg_type: t, len },
    })
}

/// Types whose bodies are read (and so buffered).
fn wanted(t: u8) -> bool {
    matches!(t, CLIENT_HELLO | SERVER_HELLO | ENCRYPTED_EXTENSIONS | KEY_UPDATE)
}

/// Parses one message from the start of `input`: `Ok(None)` if it is not all there yet (RFC
/// 8446 §4: the 4-byte header, then `length` bytes), else the message and the bytes used.
pub fn parse_message(input: &[u8]) -> Result<Option<(Message, usize)>, HandshakeError> {
    let Some(h) = input.get(..4) else { return Ok(None) };
    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    let Some(body) = input.get(4..4 + len) else { return Ok(None) };
    Ok(Some((parse_body(h[0], body)?, 4 + len)))
}

/// Joins one direction's handshake messages across records.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// The header (4 bytes) and body so far of a message being buffered.
    buf: Vec<u8>,
    /// Skipping the body of an unwanted or oversized message: (type, bytes left, body length).
    skip: Option<(u8, usize, usize)>,
}

impl Reassembler {
    /// Feeds handshake-record bytes; `out` gets every message completed.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut impl FnMut(Result<Message, HandshakeError>)) {
        while !bytes.is_empty() {
            if let Some((t, left, total)) = self.skip {
                let n = left.min(bytes.len());
                bytes = &bytes[n..];
                if n < left {
                    self.skip = Some((t, left - n, total));
                    return;
                }
                self.skip = None;
                out(Ok(match t {
                    CERTIFICATE => Message::Certificate { len: total as u32 },
                    FINISHED => Message::Finished { len: total as u32 },
                    NEW_SESSION_TICKET => Message::NewSessionTicket { len: total as u32 },
                    t => Message::Other { msg_type: t, len: total as u32 },
                }));
                continue;
            }
            if self.buf.len() < 4 {
                let n = (4 - self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.buf.len() < 4 {
                    return;
                }
            }
            let t = self.buf[0];
            let len = usize::from(self.buf[1]) << 16 | usize::from(self.buf[2]) << 8 | usize::from(self.buf[3]);
            if !wanted(t) || len > MAX_MESSAGE {
                self.buf.clear();
                self.skip = Some((t, len, len));
                continue;
            }
            let n = (4 + len - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == 4 + len {
                out(parse_body(t, &self.buf[4..]));
                self.buf.clear();
            }
        }
        // A skip with nothing left is finished at once (a message ending a record).
        if let Some((t, 0, total)) = self.skip {
            self.skip = None;
            out(Ok(match t {
                CERTIFICATE => Message::Certificate { len: total as u32 },
                FINISHED => Message::Finished { len: total as u32 },
                NEW_SESSION_TICKET => Message::NewSessionTicket { len: total as u32 },
                t => Message::Other { msg_type: t, len: total as u32 },
            }));
        }
    }

    /// Bytes of the handshake stream are lost: drop what was partly read; the next record is
    /// read from a message boundary.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skip = None;
    }

    /// A message is partly read.
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.skip.is_some()
    }
}

#[cfg(test)]
mod tests {

    /// Extension lists as the browsers of captures/wss sent them (tshark's
    /// tls.handshake.extension.type) and as OpenSSL clients do.
    #[test]
    fn the_browser_a_client_hello_comes_from() {
        let hello = |extensions: &[u16], cipher_suites: &[u16]| ClientHello {
            legacy_version: 0x0303,
            random: [0; 32],
            cipher_suites: cipher_suites.to_vec(),
            sni: None,
            alpn: Vec::new(),
            supported_versions: Vec::new(),
            key_share: true,
            early_data: false,
            extensions: extensions.to_vec(),
        };
        let firefox = [23, 65281, 10, 11, 35, 16, 5, 34, 18, 51, 43, 13, 45, 28, 27, 65037];
        let chromium = [56026, 13, 16, 10, 35, 51, 23, 65281, 51764, 65037, 45, 5, 43, 18, 27, 11, 19018];
        let node = [0, 11, 10, 35, 22, 23, 13, 43, 45, 51];
        assert_eq!(hello(&firefox, &[0x1301]).family(), Some("firefox"));
        assert_eq!(hello(&chromium, &[0x1301]).family(), Some("chromium"));
        assert_eq!(hello(&node, &[0x1301]).family(), None);
        // GREASE in the cipher suites alone is BoringSSL's too; 0x0a1a is not GREASE.
        assert_eq!(hello(&node, &[0x2a2a, 0x1301]).family(), Some("chromium"));
        assert_eq!(hello(&node, &[0x0a1a, 0x1301]).family(), None);
        // Only one of NSS's two: not enough to call it Firefox.
        assert_eq!(hello(&[0, 28, 43], &[0x1301]).family(), None);
    }

    use super::*;
    use crate::tls::testdata::rfc8448;

    fn all(r: &mut Reassembler, chunks: &[&[u8]]) -> Vec<Result<Message, HandshakeError>> {
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c, &mut |m| out.push(m));
        }
        out
    }

    #[test]
    fn rfc8448_client_hello() {
        let rec = rfc8448("Record_ClientHello");
        let (m, used) = parse_message(&rec[5..]).unwrap().unwrap();
        assert_eq!(used, rec.len() - 5);
        let Message::ClientHello(ch) = m else { panic!("{m:?}") };
        assert_eq!(ch.legacy_version, 0x0303);
        assert_eq!(ch.random[..4], [0xcb, 0x34, 0xec, 0xb1]);
        assert_eq!(ch.cipher_suites, [0x1301, 0x1303, 0x1302]);
        assert_eq!(ch.sni.as_deref(), Some("server"));
        assert_eq!(ch.supported_versions, [0x0304]);
        assert!(ch.key_share && !ch.early_data);
        assert!(ch.alpn.is_empty());
        assert_eq!(ch.extensions, [0, 0xff01, 10, 35, 51, 43, 13, 45, 28]);
    }

    #[test]
    fn rfc8448_server_hello_and_encrypted_extensions() {
        let rec = rfc8448("Record_ServerHello");
        let Some((Message::ServerHello(sh), _)) = parse_message(&rec[5..]).unwrap() else { panic!() };
        assert_eq!((sh.version(), sh.cipher, sh.retry, sh.legacy_version), (0x0304, 0x1301, false, 0x0303));
        assert_eq!(sh.random[..2], [0xa6, 0xaf]);
        let ee = rfc8448("Message_EncryptedExtensions");
        assert_eq!(parse_message(&ee).unwrap(), Some((Message::EncryptedExtensions { alpn: None }, ee.len())));
    }

    #[test]
    fn hello_retry_request_and_alpn() {
        // A HelloRetryRequest (RFC 8448 §5's, extensions trimmed to supported_versions).
        let mut body = vec![3, 3];
        body.extend_from_slice(&HELLO_RETRY_RANDOM);
        body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
        let sh = parse_server_hello(&body).unwrap();
        assert!(sh.retry);
        assert_eq!(sh.version(), 0x0304);
        // EncryptedExtensions choosing "http/1.1".
        let ee = [0, 15, 0, 16, 0, 11, 0, 9, 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1'];
        assert_eq!(parse_encrypted_extensions(&ee).unwrap().as_deref(), Some("http/1.1"));
    }

    #[test]
    fn every_truncation_needs_more_or_errs() {
        for name in ["Record_ClientHello", "Record_ServerHello"] {
            let rec = rfc8448(name);
            let msg = &rec[5..];
            // As a stream: every prefix needs more.
            for n in 0..msg.len() {
                assert_eq!(parse_message(&msg[..n]), Ok(None), "{name} prefix {n}");
                let mut r = Reassembler::default();
                assert!(all(&mut r, &[&msg[..n]]).is_empty(), "{name} prefix {n}");
                assert_eq!(all(&mut r, &[&msg[n..]]).len(), 1, "{name} rest after {n}");
            }
            // As a whole body cut short: a typed error, never a panic (the body without any
            // extensions parses: RFC 5246 lets them be absent).
            let body = &msg[4..];
            for n in 0..body.len() {
                let got = parse_body(msg[0], &body[..n]);
                if let Err(e) = got {
                    assert!(e.offset <= n && e.got < e.need, "{name} {n}: {e}");
                }
            }
        }
        let e = parse_client_hello(&[3, 3, 1]).unwrap_err();
        assert_eq!(e.to_string(), "ClientHello message: random at byte 2 needs 32 bytes, has 1");
    }

    #[test]
    fn messages_across_records_and_skipped_certificates() {
        let mut stream = rfc8448("Message_EncryptedExtensions");
        stream.extend(rfc8448("Message_Server_Certificate"));
        stream.extend(rfc8448("Message_Server_CertificateVerify"));
        stream.extend(rfc8448("Message_Server_Finished"));
        stream.extend([KEY_UPDATE, 0, 0, 1, 1]);
        let want = vec![
            Ok(Message::EncryptedExtensions { alpn: None }),
            Ok(Message::Certificate { len: 441 }),
            Ok(Message::Other { msg_type: CERTIFICATE_VERIFY, len: 132 }),
            Ok(Message::Finished { len: 32 }),
            Ok(Message::KeyUpdate { requested: true }),
        ];
        assert_eq!(all(&mut Reassembler::default(), &[&stream]), want);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&mut Reassembler::default(), &bytes), want);
        for n in 0..stream.len() {
            let (a, b) = stream.split_at(n);
            assert_eq!(all(&mut Reassembler::default(), &[a, b]), want, "split {n}");
        }
        // A huge ClientHello length is skipped, not buffered.
        let mut r = Reassembler::default();
        assert!(all(&mut r, &[&[CLIENT_HELLO, 0xff, 0xff, 0xff, 0, 0]]).is_empty());
        assert!(r.is_partial() && r.buf.capacity() < 16);
        r.reset();
        assert!(!r.is_partial());
    }
}
