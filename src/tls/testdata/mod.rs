//! Test inputs: RFC 8448's trace, and real conversations recorded by `make.py`.

use crate::tls::keys::unhex;

/// A value of `rfc8448.txt` by its name.
pub(crate) fn rfc8448(name: &str) -> Vec<u8> {
    let text = include_str!("rfc8448.txt");
    let line = text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(" = ")));
    match line {
        Some(hex) => unhex(hex),
        None => panic!("no {name} in rfc8448.txt"),
    }
}

/// The bytes `make.py` has the peers exchange.
pub(crate) const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
pub(crate) const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
pub(crate) const CLIENT_FRAME: &[u8] = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
pub(crate) const SERVER_FRAME: &[u8] = b"\x81\x05world";

/// A conversation recorded by `make.py`: its chunks in order, and its key log.
pub(crate) struct Conversation {
    pub chunks: Vec<(crate::units::Role, Vec<u8>)>,
    pub keys: &'static [u8],
}

macro_rules! conversation {
    ($($name:literal),* $(,)?) => {
        /// The conversation `name` (see `make.py`).
        pub(crate) fn conversation(name: &str) -> Conversation {
            let (tls, keys): (&[u8], &'static [u8]) = match name {
                $($name => (include_bytes!(concat!($name, ".tls")), include_bytes!(concat!($name, ".keys"))),)*
                _ => panic!("no conversation {name}"),
            };
            let mut chunks = Vec::new();
            let mut rest = tls;
            while let [tag, a, b, c, d, tail @ ..] = rest {
                let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
                let role = if *tag == b'C' { crate::units::Role::Client } else { crate::units::Role::Server };
                chunks.push((role, tail[..len].to_vec()));
                rest = &tail[len..];
            }
            assert!(rest.is_empty());
            Conversation { chunks, keys }
        }
    };
}

conversation!(
    "tls13_aes128",
    "tls13_aes256",
    "tls13_chacha",
    "tls12_aes128",
    "tls12_aes256",
    "tls12_chacha",
    "tls12_cbc",
    "tls13_untrusted",
    "tls12_untrusted",
);
