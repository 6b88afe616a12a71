//! The stage end to end: RFC 8448's trace, and real OpenSSL conversations (testdata/make.py).

use super::*;
use crate::tls::testdata::rfc8448;
use crate::units::{PacketNo, Timestamp};

/// What a sink saw.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    pub plain: PerRole<Vec<u8>>,
    pub gaps: PerRole<u64>,
    pub events: Vec<(Role, TlsEvent)>,
}

impl TlsSink for Seen {
    fn plaintext(&mut self, from: Role, bytes: &[u8], _at: At) {
        self.plain[from].extend_from_slice(bytes);
    }
    fn plaintext_gap(&mut self, from: Role, len: u64, _at: At) {
        self.gaps[from] += len;
    }
    fn event(&mut self, from: Role, _at: At, event: TlsEvent) {
        self.events.push((from, event));
    }
}

pub(crate) fn at(n: u64) -> At {
    At { ts: Timestamp(n as i64 * 1000), packet: PacketNo(n) }
}

fn rfc8448_keylog() -> KeyLog {
    let cr = keys::tests_hex(&rfc8448("client_random"));
    let mut text = String::new();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        text.push_str(&format!("{label} {cr} {}\n", keys::tests_hex(&rfc8448(label))));
    }
    let mut k = KeyLog::default();
    assert_eq!(k.add(text.as_bytes(), "rfc8448.keys"), vec![]);
    k
}

/// RFC 8448 §3's records in the order they went.
fn rfc8448_flow() -> Vec<(Role, Vec<u8>)> {
    use Role::*;
    [
        (Client, "Record_ClientHello"),
        (Server, "Record_ServerHello"),
        (Server, "Record_ServerHandshakeMessages"),
        (Client, "Record_ClientFinished"),
        (Server, "Record_NewSessionTicket"),
        (Client, "Record_Client_AppData"),
        (Server, "Record_Server_AppData"),
        (Client, "Record_Client_CloseNotify"),
        (Server, "Record_Server_CloseNotify"),
    ]
    .into_iter()
    .map(|(r, n)| (r, rfc8448(n)))
    .collect()
}

#[test]
fn rfc8448_conversation_decrypts() {
    let mut tls = Tls::new(Some(Arc::new(rfc8448_keylog())));
    let mut seen = Seen::default();
    for (i, (role, rec)) in rfc8448_flow().iter().enumerate() {
        tls.data(*role, rec, at(i as u64 + 1), &mut seen);
    }
    let f = tls.facts();
    let data = rfc8448("AppData");
    assert_eq!(seen.plain.client, data);
    assert_eq!(seen.plain.server, data);
    assert_eq!((f.version, f.cipher, f.sni.as_deref()), (Some(0x0304), Some(0x1301), Some("server")));
    assert!(f.handshake_complete && f.decrypted);
    assert_eq!(f.why_not, None);
    assert_eq!(f.close_notify, PerRole { client: Some(at(8)), server: Some(at(9)) });
    assert_eq!(f.alerts.len(), 2);
    assert!(f.alerts.iter().all(|a| a.encrypted && a.description == Some(0) && a.level == Some(1)));
    assert_eq!(f.records.client, RecordCount { count: 4, bytes: 201 + 58 + 72 + 24 });
    assert!(seen.events.contains(&(Role::Server, TlsEvent::EncryptedExtensions { alpn: None })));
    assert!(seen.events.contains(&(Role::Client, TlsEvent::HandshakeFinished { inferred: false })));
}
