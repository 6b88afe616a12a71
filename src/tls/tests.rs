//! The stage end to end: RFC 8448's trace, and real OpenSSL conversations (testdata/make.py).

use super::*;
use crate::tls::testdata::{CLIENT_FRAME, Conversation, REQUEST, RESPONSE, SERVER_FRAME, conversation, rfc8448};
use crate::units::{PacketNo, Timestamp};
use record::NotTlsWhy;

/// What a sink saw.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    pub plain: PerRole<Vec<u8>>,
    /// The plaintext as handed over, piece by piece.
    pub pieces: PerRole<Vec<Vec<u8>>>,
    pub gaps: PerRole<u64>,
    pub events: Vec<(Role, TlsEvent)>,
}

impl TlsSink for Seen {
    fn plaintext(&mut self, from: Role, bytes: &[u8], _at: At) {
        self.plain[from].extend_from_slice(bytes);
        self.pieces[from].push(bytes.to_vec());
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

fn keylog(text: &[u8]) -> Option<Arc<KeyLog>> {
    let mut k = KeyLog::default();
    assert_eq!(k.add(text, "test.keys"), vec![]);
    Some(Arc::new(k))
}

/// Feeds a conversation's chunks, each cut by `cut` into pieces.
fn run(c: &Conversation, keys: Option<Arc<KeyLog>>, cut: impl Fn(usize, &[u8]) -> Vec<&[u8]>) -> (TlsFacts, Seen) {
    let mut tls = Tls::new(keys);
    let mut seen = Seen::default();
    for (i, (role, chunk)) in c.chunks.iter().enumerate() {
        for piece in cut(i, chunk) {
            tls.data(*role, piece, at(i as u64 + 1), &mut seen);
        }
    }
    (tls.facts().clone(), seen)
}

fn whole(_: usize, c: &[u8]) -> Vec<&[u8]> {
    vec![c]
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// What every decrypted conversation of make.py shows.
fn assert_decrypted(name: &str, f: &TlsFacts, seen: &Seen, version: u16, cipher: u16) {
    assert_eq!(seen.plain.client, concat(REQUEST, CLIENT_FRAME), "{name}");
    assert_eq!(seen.plain.server, concat(RESPONSE, SERVER_FRAME), "{name}");
    assert_eq!(seen.gaps, PerRole::default(), "{name}");
    assert_eq!((f.version, f.cipher), (Some(version), Some(cipher)), "{name}");
    assert_eq!(f.sni.as_deref(), Some("ws.example"), "{name}");
    assert_eq!(f.alpn_offered, ["h2", "http/1.1"], "{name}");
    assert_eq!(f.alpn.as_deref(), Some("http/1.1"), "{name}");
    assert!(f.handshake_complete && f.decrypted && !f.not_tls, "{name}");
    assert_eq!(f.why_not, None, "{name}");
    assert!(f.close_notify.client.is_some() && f.close_notify.server.is_some(), "{name}");
    let alerts: Vec<_> = f.alerts.iter().map(|a| (a.from, a.level, a.description, a.encrypted)).collect();
    assert_eq!(alerts, [(Role::Client, Some(1), Some(0), true), (Role::Server, Some(1), Some(0), true)], "{name}");
    assert!(!seen.events.iter().any(|(_, e)| matches!(e, TlsEvent::DecryptFailed { .. })), "{name}");
}

const DECRYPTED: [(&str, u16, u16); 6] = [
    ("tls13_aes128", 0x0304, 0x1301),
    ("tls13_aes256", 0x0304, 0x1302),
    ("tls13_chacha", 0x0304, 0x1303),
    ("tls12_aes128", 0x0303, 0xc02b),
    ("tls12_aes256", 0x0303, 0xc02c),
    ("tls12_chacha", 0x0303, 0xcca9),
];

#[test]
fn real_conversations_decrypt_whole_and_byte_by_byte() {
    for (name, version, cipher) in DECRYPTED {
        let c = conversation(name);
        let (f, seen) = run(&c, keylog(c.keys), whole);
        assert_decrypted(name, &f, &seen, version, cipher);
        let (f1, seen1) = run(&c, keylog(c.keys), |_, c| c.chunks(1).collect());
        assert_decrypted(name, &f1, &seen1, version, cipher);
        assert_eq!(f.records, f1.records);
        let client = seen.events.iter().find_map(|(_, e)| match e {
            TlsEvent::ClientHello { versions, .. } => Some(versions.clone()),
            _ => None,
        });
        // A TLS 1.2-only client sends no supported_versions.
        let want: &[u16] = if version == 0x0304 { &[0x0304] } else { &[] };
        assert_eq!(client.as_deref(), Some(want), "{name}");
    }
}

#[test]
fn every_split_point_of_one_conversation() {
    let c = conversation("tls13_aes128");
    let keys = keylog(c.keys);
    for (i, (_, chunk)) in c.chunks.iter().enumerate() {
        for at in 0..=chunk.len() {
            let (f, seen) = run(&c, keys.clone(), |j, c| if j == i { vec![&c[..at], &c[at..]] } else { vec![c] });
            assert_decrypted("tls13_aes128", &f, &seen, 0x0304, 0x1301);
        }
    }
}

#[test]
fn without_keys_the_clear_handshake_and_inference() {
    for (name, version, cipher) in DECRYPTED {
        let c = conversation(name);
        let (f, seen) = run(&c, None, whole);
        assert!(seen.plain.client.is_empty() && seen.plain.server.is_empty(), "{name}");
        assert_eq!(seen.gaps, PerRole::default(), "{name}");
        assert_eq!((f.version, f.cipher, f.sni.as_deref()), (Some(version), Some(cipher), Some("ws.example")));
        assert!(f.handshake_complete && !f.decrypted, "{name}");
        assert_eq!(f.why_not, Some(WhyNot::NoKeys), "{name}");
        assert_eq!(f.why_not.map(|w| w.describe()).as_deref(), Some("no keys given (--keylog)"));
        if version == 0x0303 {
            // TLS 1.2 says its ALPN in the clear; its close_notify alerts are encrypted.
            assert_eq!(f.alpn.as_deref(), Some("http/1.1"), "{name}");
            assert_eq!(f.alerts.len(), 2, "{name}");
            assert!(f.alerts.iter().all(|a| a.encrypted && a.description.is_none()));
        } else {
            assert_eq!((f.alpn.as_deref(), f.alerts.len()), (None, 0), "{name}");
        }
        assert_eq!(f.close_notify, PerRole::default(), "{name}");
        let inferred = seen.events.iter().filter(|(_, e)| *e == TlsEvent::HandshakeFinished { inferred: true });
        assert_eq!(inferred.count(), 2, "{name}");
    }
}

#[test]
fn cbc_suite_is_named_not_decrypted() {
    let c = conversation("tls12_cbc");
    let (f, seen) = run(&c, keylog(c.keys), whole);
    assert_eq!(f.cipher, Some(0xc009));
    assert!(f.handshake_complete && !f.decrypted);
    assert!(seen.plain.client.is_empty() && seen.gaps == PerRole::default());
    assert_eq!(
        f.why_not.map(|w| w.describe()).as_deref(),
        Some("cipher suite TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA (CBC) is not decrypted")
    );
}

#[test]
fn untrusted_certificate_alerts() {
    for (name, version) in [("tls13_untrusted", 0x0304), ("tls12_untrusted", 0x0303)] {
        let c = conversation(name);
        let (f, seen) = run(&c, keylog(c.keys), whole);
        assert_eq!(f.version, Some(version));
        assert!(!f.handshake_complete, "{name}");
        // OpenSSL's client refuses the certificate before its own keys are in use: the alert
        // goes in the clear, in TLS 1.3 as well.
        let alerts: Vec<_> = f.alerts.iter().map(|a| (a.from, a.level, a.description, a.encrypted)).collect();
        assert_eq!(alerts, [(Role::Client, Some(2), Some(48), false)], "{name}");
        assert_eq!(alert_description_name(48), Some("unknown_ca"));
        assert!(seen.plain.server.is_empty());
        if version == 0x0304 {
            // The log holds the two handshake secrets: the server's flight is read.
            assert!(f.decrypted);
            assert_eq!(f.alpn.as_deref(), Some("http/1.1"));
            assert!(seen.events.contains(&(Role::Server, TlsEvent::HandshakeFinished { inferred: false })));
            assert_eq!(f.why_not, None);
        } else {
            // Nothing was logged before the failure.
            assert_eq!(f.why_not, Some(WhyNot::NoKeyLogLine));
        }
    }
}

#[test]
fn another_connections_keys_fail_authentication() {
    let c = conversation("tls13_aes128");
    let other = conversation("tls13_chacha");
    let cr = |keys: &[u8]| String::from_utf8_lossy(keys).lines().nth(1).unwrap().split(' ').nth(1).unwrap().to_string();
    let text = String::from_utf8_lossy(other.keys).replace(&cr(other.keys), &cr(c.keys));
    let (f, seen) = run(&c, keylog(text.as_bytes()), whole);
    assert!(!f.decrypted);
    assert_eq!(
        f.why_not.map(|w| w.describe()).as_deref(),
        Some("record 3 from the server fails authentication: the key log does not belong to this connection")
    );
    assert!(seen.events.contains(&(Role::Server, TlsEvent::DecryptFailed { record_no: 3, why: OpenError::BadTag })));
    assert!(seen.plain.server.is_empty() && seen.plain.client.is_empty());
    assert_eq!(f.records.server.count, 11);
}

#[test]
fn a_truncated_key_log_has_no_line() {
    for name in ["tls13_aes128", "tls12_aes128"] {
        let c = conversation(name);
        // The log cut before its first secret line (the comment only).
        let first_line = c.keys.iter().position(|&b| b == b'\n').unwrap();
        let (f, seen) = run(&c, keylog(&c.keys[..first_line]), whole);
        assert_eq!(f.why_not.map(|w| w.describe()).as_deref(), Some("no key log line for this client random"));
        assert!(!f.decrypted && seen.plain.client.is_empty());
        assert!(f.handshake_complete, "{name}: inferred as without keys");
    }
}

#[test]
fn cut_mid_handshake() {
    let c = conversation("tls13_aes128");
    let mut tls = Tls::new(keylog(c.keys));
    let mut seen = Seen::default();
    for (i, (role, chunk)) in c.chunks.iter().take(2).enumerate() {
        tls.data(*role, &chunk[..chunk.len() - 30.min(chunk.len() / 2) * (i % 2)], at(1), &mut seen);
    }
    let f = tls.facts();
    assert!(!f.handshake_complete);
    assert_eq!(f.version, Some(0x0304));
    assert!(seen.plain.client.is_empty());
}

#[test]
fn gaps_lose_bytes_not_the_stream() {
    let c = conversation("tls13_aes128");
    // Chunk 5: the server's two application records, missing from the capture.
    let mut tls = Tls::new(keylog(c.keys));
    let mut seen = Seen::default();
    for (i, (role, chunk)) in c.chunks.iter().enumerate() {
        if i == 5 {
            // In two parts: the second while sync is already lost.
            tls.gap(*role, 100, at(6), &mut seen);
            tls.gap(*role, chunk.len() as u64 - 100, at(6), &mut seen);
        } else if i == 4 {
            // Chunk 4: the client's request, 50 bytes of it missing from its middle.
            tls.data(*role, &chunk[..60], at(5), &mut seen);
            tls.gap(*role, 50, at(5), &mut seen);
            tls.data(*role, &chunk[110..], at(5), &mut seen);
        } else {
            tls.data(*role, chunk, at(i as u64 + 1), &mut seen);
        }
    }
    let f = tls.facts();
    assert_eq!(seen.plain.client, CLIENT_FRAME);
    assert!(seen.plain.server.is_empty());
    assert_eq!(seen.gaps, PerRole { client: 50, server: 180 });
    assert!(f.close_notify.client.is_some() && f.close_notify.server.is_some());
    assert!(seen.events.contains(&(Role::Server, TlsEvent::SyncFound { skipped: 180 })));
    assert_eq!(f.why_not, None);
}

/// RFC 8448's conversation up to both sides' application data, then KeyUpdates (RFC 8446
/// §4.6.3) sealed with the RFC's traffic secrets and their next generation.
#[test]
fn key_update_both_ways() {
    let suite = keys::suite(0x1301).unwrap();
    let secret = |label: &str| Secret::new(&rfc8448(label)).unwrap();
    let (s0, c0) = (secret("SERVER_TRAFFIC_SECRET_0"), secret("CLIENT_TRAFFIC_SECRET_0"));
    let next = |s: &Secret| keys::next_traffic_secret(keys::Hash::Sha256, s).unwrap();
    let mut server = Protection::tls13(suite, s0.as_bytes()).unwrap();
    server.seq = 2; // after the NewSessionTicket and the application data
    let mut client = Protection::tls13(suite, c0.as_bytes()).unwrap();
    client.seq = 1;
    let mut server1 = Protection::tls13(suite, next(&s0).as_bytes()).unwrap();
    let mut client1 = Protection::tls13(suite, next(&c0).as_bytes()).unwrap();
    let mut flow: Vec<(Role, Vec<u8>)> = rfc8448_flow().into_iter().take(7).collect();
    flow.push((Role::Server, server.seal(22, &[24, 0, 0, 1, 1])));
    flow.push((Role::Server, server1.seal(23, b"after the server's update")));
    flow.push((Role::Client, client.seal(22, &[24, 0, 0, 1, 0])));
    flow.push((Role::Client, client1.seal(23, b"after the client's update")));
    // A second generation on the server side, in the same record as its data.
    let mut server2 = Protection::tls13(suite, next(&next(&s0)).as_bytes()).unwrap();
    let mut both = server1.seal(22, &[24, 0, 0, 1, 0]);
    both.extend(server2.seal(23, b"!"));
    both.extend(server2.seal(21, &[1, 0]));
    flow.push((Role::Server, both));
    let mut tls = Tls::new(Some(Arc::new(rfc8448_keylog())));
    let mut seen = Seen::default();
    for (i, (role, rec)) in flow.iter().enumerate() {
        tls.data(*role, rec, at(i as u64 + 1), &mut seen);
    }
    let data = rfc8448("AppData");
    assert_eq!(seen.plain.server, [&data[..], b"after the server's update", b"!"].concat());
    assert_eq!(seen.plain.client, [&data[..], b"after the client's update"].concat());
    let updates: Vec<_> =
        seen.events.iter().filter(|(_, e)| matches!(e, TlsEvent::KeyUpdate { .. })).cloned().collect();
    assert_eq!(
        updates,
        [
            (Role::Server, TlsEvent::KeyUpdate { requested: true }),
            (Role::Client, TlsEvent::KeyUpdate { requested: false }),
            (Role::Server, TlsEvent::KeyUpdate { requested: false }),
        ]
    );
    assert_eq!(tls.facts().close_notify.server, Some(at(12)));
    assert_eq!(tls.facts().why_not, None);
}

/// Random bytes and random chunkings: never a panic.
#[test]
fn random_input_never_panics() {
    let mut rng = crate::xorshift(0x5eed);
    let hello = rfc8448("Record_ClientHello");
    for round in 0..300 {
        let mut tls = Tls::new(if round % 2 == 0 { Some(Arc::new(rfc8448_keylog())) } else { None });
        let mut seen = Seen::default();
        if round % 3 == 0 {
            tls.data(Role::Client, &hello, at(0), &mut seen);
        }
        for i in 0..20 {
            let role = if rng(2) == 0 { Role::Client } else { Role::Server };
            let len = rng(300) as usize;
            let mut chunk: Vec<u8> = (0..len).map(|_| rng(256) as u8).collect();
            // Plausible headers now and then, to get past the framing.
            if len >= 5 && rng(2) == 0 {
                chunk[..5].copy_from_slice(&[20 + rng(5) as u8, 3, rng(5) as u8, 0, rng(255) as u8]);
            }
            if rng(8) == 0 {
                tls.gap(role, rng(100_000), at(i), &mut seen);
            }
            tls.data(role, &chunk, at(i), &mut seen);
        }
        assert!(seen.plain.client.is_empty() && seen.plain.server.is_empty());
        assert!(tls.facts().alerts.len() <= MAX_ALERTS);
    }
}

/// Any one byte of a real conversation changed: what reaches the sink is still only what was
/// sent (a prefix of it: after a record fails, its side stops), never altered bytes.
#[test]
fn a_changed_byte_never_yields_altered_plaintext() {
    let mut rng = crate::xorshift(7);
    for name in ["tls13_aes128", "tls12_chacha"] {
        let c = conversation(name);
        let keys = keylog(c.keys);
        for _ in 0..200 {
            let mut c2 = Conversation { chunks: c.chunks.clone(), keys: c.keys };
            let i = rng(c2.chunks.len() as u64) as usize;
            let chunk = &mut c2.chunks[i].1;
            let j = rng(chunk.len() as u64) as usize;
            chunk[j] ^= 1 << rng(8);
            let (_, seen) = run(&c2, keys.clone(), whole);
            for (role, sent) in
                [(Role::Client, concat(REQUEST, CLIENT_FRAME)), (Role::Server, concat(RESPONSE, SERVER_FRAME))]
            {
                if seen.gaps[role] == 0 {
                    assert!(sent.starts_with(&seen.plain[role]), "{name} chunk {i} byte {j}");
                }
                // With gaps: each piece is sent bytes, in order (a lost record between them).
                let mut from = 0;
                for piece in &seen.pieces[role] {
                    let found = sent[from..].windows(piece.len()).position(|w| w == &piece[..]);
                    let Some(p) = found else { panic!("{name} chunk {i} byte {j}: {piece:?} was not sent") };
                    from += p + piece.len();
                }
            }
        }
    }
}

/// Decryption speed, AES-128-GCM in 16 KiB records (run with `--release -- --ignored`).
#[test]
#[ignore]
fn throughput() {
    let suite = keys::suite(0x1301).unwrap();
    let mut server = Protection::tls13(suite, &rfc8448("SERVER_TRAFFIC_SECRET_0")).unwrap();
    server.seq = 1;
    let payload = vec![0x42u8; 16 * 1024 - 1];
    let stream: Vec<u8> = (0..4096).flat_map(|_| server.seal(23, &payload)).collect();
    let mut tls = Tls::new(Some(Arc::new(rfc8448_keylog())));
    let mut seen = Seen::default();
    for (role, rec) in rfc8448_flow().into_iter().take(5) {
        tls.data(role, &rec, at(1), &mut seen);
    }
    struct Null(u64);
    impl TlsSink for Null {
        fn plaintext(&mut self, _: Role, b: &[u8], _: At) {
            self.0 += b.len() as u64;
        }
        fn plaintext_gap(&mut self, _: Role, _: u64, _: At) {}
        fn event(&mut self, _: Role, _: At, _: TlsEvent) {}
    }
    let mut null = Null(0);
    let t = std::time::Instant::now();
    for chunk in stream.chunks(1448) {
        tls.data(Role::Server, chunk, at(2), &mut null);
    }
    let s = t.elapsed().as_secs_f64();
    assert_eq!(null.0, 4096 * payload.len() as u64);
    println!("{:.0} MB/s ({} MB in {s:.3} s)", stream.len() as f64 / s / 1e6, stream.len() >> 20);
}

/// A capture that begins after the handshake: TLS 1.3's application secrets are tried (the
/// tag proves the fit) and the other side's sequence number is searched.
#[test]
fn capture_beginning_after_the_handshake() {
    for name in ["tls13_aes128", "tls13_aes256", "tls13_chacha", "tls12_aes128"] {
        let c = conversation(name);
        // From chunk 4 on: the client's request, the server's answer, the frames, the closes.
        let late = Conversation { chunks: c.chunks[4..].to_vec(), keys: c.keys };
        let (f, seen) = run(&late, keylog(c.keys), whole);
        if name.starts_with("tls13") {
            assert_eq!(seen.plain.client, concat(REQUEST, CLIENT_FRAME), "{name}");
            assert_eq!(seen.plain.server, concat(RESPONSE, SERVER_FRAME), "{name}");
            assert_eq!(f.version, Some(0x0304));
            assert!(f.decrypted && f.why_not.is_none() && f.close_notify.server.is_some(), "{name}");
        } else {
            assert!(seen.plain.client.is_empty() && !f.decrypted);
            assert_eq!(f.why_not.map(|w| w.describe()).as_deref(), Some("the capture begins after the handshake"));
        }
        // Without a fitting key: the same sentence.
        let (f, _) = run(&late, keylog(conversation("tls12_cbc").keys), whole);
        assert_eq!(f.why_not, Some(WhyNot::CaptureStartsAfterHandshake), "{name}");
        let (f, _) = run(&late, None, whole);
        assert_eq!(f.why_not, Some(WhyNot::NoKeys), "{name}");
    }
}

#[test]
fn not_tls_directions() {
    let mut tls = Tls::new(None);
    let mut seen = Seen::default();
    tls.data(Role::Client, &rfc8448("Record_ClientHello"), at(1), &mut seen);
    tls.data(Role::Server, b"HTTP/1.1 400 Bad Request\r\n\r\n", at(2), &mut seen);
    tls.data(Role::Server, b"more", at(3), &mut seen);
    assert!(tls.facts().not_tls);
    assert_eq!(
        seen.events.last(),
        Some(&(Role::Server, TlsEvent::NotTls(NotTlsWhy::NoRecordHeader { first: *b"HTTP/", len: 5 })))
    );
    let mut tls = Tls::new(None);
    tls.data(Role::Client, &[0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0x15], at(1), &mut seen);
    assert_eq!(seen.events.last(), Some(&(Role::Client, TlsEvent::NotTls(NotTlsWhy::Sslv2ClientHello))));
    assert_eq!(tls.facts().records.client.count, 0);
}

#[test]
fn tls12_another_connections_master_secret() {
    let c = conversation("tls12_aes128");
    let other = conversation("tls12_aes256");
    let field = |keys: &[u8], n: usize| {
        let text = String::from_utf8_lossy(keys).into_owned();
        let line = text.lines().find(|l| l.starts_with("CLIENT_RANDOM")).unwrap().to_string();
        line.split(' ').nth(n).unwrap().to_string()
    };
    let text = format!("CLIENT_RANDOM {} {}\n", field(c.keys, 1), field(other.keys, 2));
    let (f, seen) = run(&c, keylog(text.as_bytes()), whole);
    // The client's Finished, its first record after ChangeCipherSpec, is its fourth record.
    assert_eq!(
        f.why_not.map(|w| w.describe()).as_deref(),
        Some("record 4 from the client fails authentication: the key log does not belong to this connection")
    );
    assert!(seen.plain.client.is_empty() && seen.plain.server.is_empty() && !f.decrypted);
}

#[test]
fn handshake_secrets_only() {
    let c = conversation("tls13_aes128");
    let text: String = String::from_utf8_lossy(c.keys)
        .lines()
        .filter(|l| !l.contains("TRAFFIC_SECRET_0"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (f, seen) = run(&c, keylog(text.as_bytes()), whole);
    // The handshake is read (ALPN, both Finished), the application data is not.
    assert_eq!(f.alpn.as_deref(), Some("http/1.1"));
    assert!(f.handshake_complete && f.decrypted);
    assert_eq!(f.why_not, Some(WhyNot::MissingSecret { label: "SERVER_TRAFFIC_SECRET_0" }));
    assert_eq!(
        f.why_not.map(|w| w.describe()).as_deref(),
        Some("the key log has no SERVER_TRAFFIC_SECRET_0 line for this client random")
    );
    assert!(seen.plain.client.is_empty() && seen.plain.server.is_empty());
    // Every application record (tickets included: they cannot be told apart) is a gap.
    assert_eq!(seen.gaps, PerRole { client: 170 + 28 + 19, server: 250 + 250 + 146 + 24 + 19 });
}

/// Random chunkings and random stretches missing from the capture: what reaches the sink is
/// only bytes that were sent, in order; with no stretch missing, all of them.
#[test]
fn random_splits_and_gaps_keep_plaintext_honest() {
    let mut rng = crate::xorshift(99);
    for (name, _, _) in DECRYPTED {
        let c = conversation(name);
        let keys = keylog(c.keys);
        for _ in 0..60 {
            let mut tls = Tls::new(keys.clone());
            let mut seen = Seen::default();
            let mut gapped = false;
            for (i, (role, chunk)) in c.chunks.iter().enumerate() {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let n = 1 + rng(rest.len() as u64) as usize;
                    let (piece, tail) = rest.split_at(n);
                    if rng(12) == 0 {
                        tls.gap(*role, n as u64, at(i as u64), &mut seen);
                        gapped = true;
                    } else {
                        tls.data(*role, piece, at(i as u64), &mut seen);
                    }
                    rest = tail;
                }
            }
            for (role, sent) in
                [(Role::Client, concat(REQUEST, CLIENT_FRAME)), (Role::Server, concat(RESPONSE, SERVER_FRAME))]
            {
                if !gapped {
                    assert_eq!(seen.plain[role], sent, "{name}");
                }
                let mut from = 0;
                for piece in &seen.pieces[role] {
                    let found = sent[from..].windows(piece.len()).position(|w| w == &piece[..]);
                    let Some(p) = found else { panic!("{name}: {piece:?} was not sent") };
                    from += p + piece.len();
                }
            }
        }
    }
}

#[test]
fn secrets_of_the_wrong_hash_length() {
    // SHA-384-sized secrets for a SHA-256 suite.
    let c = conversation("tls13_aes128");
    let text: String = String::from_utf8_lossy(c.keys)
        .lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((head, _)) if !l.starts_with('#') => format!("{head} {}\n", "ab".repeat(48)),
            _ => format!("{l}\n"),
        })
        .collect();
    let (f, seen) = run(&c, keylog(text.as_bytes()), whole);
    assert_eq!(f.why_not, Some(WhyNot::SecretLength { got: 48, want: 32 }));
    assert_eq!(
        f.why_not.map(|w| w.describe()).as_deref(),
        Some("the key log's secret is 48 bytes, this cipher suite's has 32")
    );
    assert!(!f.decrypted && seen.plain.client.is_empty());
}

/// The server's Finished (the end of its first flight) partly missing: the handshake keys
/// stop fitting, its application keys are tried and fit.
#[test]
fn finished_lost_in_a_gap() {
    let c = conversation("tls13_aes128");
    let mut tls = Tls::new(keylog(c.keys));
    let mut seen = Seen::default();
    for (i, (role, chunk)) in c.chunks.iter().enumerate() {
        if i == 1 {
            let n = chunk.len();
            tls.data(*role, &chunk[..n - 30], at(2), &mut seen);
            tls.gap(*role, 20, at(2), &mut seen);
            tls.data(*role, &chunk[n - 10..], at(2), &mut seen);
        } else {
            tls.data(*role, chunk, at(i as u64 + 1), &mut seen);
        }
    }
    let f = tls.facts();
    assert_eq!(seen.plain.client, concat(REQUEST, CLIENT_FRAME));
    assert_eq!(seen.plain.server, concat(RESPONSE, SERVER_FRAME));
    assert_eq!(seen.gaps, PerRole::default());
    assert!(f.handshake_complete && f.why_not.is_none());
    assert!(seen.events.contains(&(Role::Server, TlsEvent::HandshakeFinished { inferred: true })));
}

/// Keys that arrive after the ServerHello (a live capture's key log grows): looked up at the
/// next encrypted record, the sequence numbers searched.
#[test]
fn keys_set_after_the_server_hello() {
    for (name, version, cipher) in [DECRYPTED[0], DECRYPTED[3]] {
        let c = conversation(name);
        let mut tls = Tls::new(None);
        let mut seen = Seen::default();
        for (i, (role, chunk)) in c.chunks.iter().enumerate() {
            if i == 4 {
                assert_eq!(tls.facts().why_not, Some(WhyNot::NoKeys));
                tls.set_keys(keylog(c.keys).unwrap());
            }
            tls.data(*role, chunk, at(i as u64 + 1), &mut seen);
        }
        let f = tls.facts();
        assert_eq!((f.version, f.cipher), (Some(version), Some(cipher)));
        assert_eq!(seen.plain.client, concat(REQUEST, CLIENT_FRAME), "{name}");
        assert_eq!(seen.plain.server, concat(RESPONSE, SERVER_FRAME), "{name}");
        assert!(f.decrypted && f.why_not.is_none() && f.close_notify.server.is_some(), "{name}");
    }
}
