//! The TLS stage of one TCP connection: records in, plaintext and typed events out, per
//! direction (RFC 8446 for TLS 1.3, RFC 5246 for TLS 1.2).
//!
//! Without keys it still reads the clear part of the handshake (ClientHello: SNI, ALPN offered,
//! versions; ServerHello: version and cipher), plaintext alerts and ChangeCipherSpec, and infers
//! whether the handshake completed. With an NSS key log ([`KeyLog`]) it decrypts the AEAD
//! suites of [`keys::suite`]: in TLS 1.3 the handshake records too (EncryptedExtensions' ALPN,
//! encrypted alerts of a failed handshake), then the application data; in TLS 1.2 everything
//! after each side's ChangeCipherSpec. A record that fails its tag stops that direction: its
//! bytes are never handed up as plaintext.
//!
//! Sans-IO: no clock, no I/O; time comes from the [`At`] of each call.

pub mod aead;
pub mod handshake;
pub mod keylog;
pub mod keys;
pub mod record;
#[cfg(test)]
pub(crate) mod testdata;

use crate::units::{At, Role};
use handshake::{HandshakeError, Message, Reassembler};
use keys::{OpenError, Protection, Secret, Suite};
use record::{Framed, Framer, Header, NotTlsWhy};
use std::ops::{Index, IndexMut};
use std::sync::Arc;

pub use keylog::{KeyLog, KeyLogProblem, KeyLogWarning, Secrets};
pub use keys::{alert_description_name, cipher_suite_name};

/// Alerts kept in [`TlsFacts::alerts`]; more are counted as events only.
pub const MAX_ALERTS: usize = 32;
/// Sequence numbers tried after record sync was lost (records missed in the gap).
pub const SEQ_WINDOW: u64 = 64;
/// A capture that begins after a TLS 1.3 handshake: the key logs' application secrets are
/// tried on its first records if the log holds at most this many client randoms...
pub const PROBE_ENTRIES: usize = 64;
/// ...with sequence numbers below this...
pub const PROBE_SEQ: u64 = 16;
/// ...and at most this many bytes of AEAD work per connection.
pub const PROBE_BUDGET: usize = 4 << 20;

/// Receives what the stage finds.
pub trait TlsSink {
    /// Decrypted application data (content type 23) from `from`, in order.
    fn plaintext(&mut self, from: Role, bytes: &[u8], at: At);
    /// `len` bytes of `from`'s plaintext stream that cannot be had (a capture gap, a record
    /// that does not decrypt after decryption had worked). Ciphertext lengths: the record
    /// overhead of a lost record may be counted in.
    fn plaintext_gap(&mut self, from: Role, len: u64, at: At);
    fn event(&mut self, from: Role, at: At, event: TlsEvent);
}

/// A value per role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerRole<T> {
    pub client: T,
    pub server: T,
}

impl<T> Index<Role> for PerRole<T> {
    type Output = T;
    fn index(&self, r: Role) -> &T {
        match r {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }
}

impl<T> IndexMut<Role> for PerRole<T> {
    fn index_mut(&mut self, r: Role) -> &mut T {
        match r {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }
}

/// Something one direction's records said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsEvent {
    /// RFC 8446 §4.1.2.
    ClientHello {
        sni: Option<String>,
        alpn_offered: Vec<String>,
        versions: Vec<u16>,
    },
    /// RFC 8446 §4.1.3; `retry` for a HelloRetryRequest.
    ServerHello {
        version: u16,
        cipher: u16,
        retry: bool,
    },
    /// RFC 8446 §4.3.1: the ALPN protocol chosen.
    EncryptedExtensions {
        alpn: Option<String>,
    },
    ChangeCipherSpec,
    /// That side's Finished: read (decrypted), or `inferred` from the records that followed.
    HandshakeFinished {
        inferred: bool,
    },
    /// RFC 8446 §6; level and description are `None` when encrypted and not decrypted.
    Alert {
        level: Option<u8>,
        description: Option<u8>,
        encrypted: bool,
    },
    /// RFC 8446 §4.6.3.
    KeyUpdate {
        requested: bool,
    },
    /// Record `record_no` (1-based, of this side's records) did not open; this side is not
    /// decrypted further.
    DecryptFailed {
        record_no: u64,
        why: OpenError,
    },
    /// A handshake message that does not parse.
    Malformed(HandshakeError),
    /// A capture gap lost record framing.
    SyncLost,
    /// Framing found again after `skipped` bytes.
    SyncFound {
        skipped: u64,
    },
    /// This side does not speak TLS records.
    NotTls(NotTlsWhy),
}

/// Why the connection's application data is not (all) decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhyNot {
    /// No key log was given.
    NoKeys,
    /// The key log has nothing for this ClientHello's random.
    NoKeyLogLine,
    /// The key log has the client random but not the secret needed.
    MissingSecret { label: &'static str },
    /// A key log secret has the wrong length for the suite.
    SecretLength { got: usize, want: usize },
    /// A suite not decrypted here (CBC, CCM, RC4, NULL, unknown).
    CipherNotDecrypted { cipher: u16 },
    /// A version without AEAD records (SSL 3.0, TLS 1.0, 1.1) or an unknown one.
    VersionNotDecrypted { version: u16 },
    /// Encrypted records with no ClientHello and ServerHello before them.
    CaptureStartsAfterHandshake,
    /// A record failed its AEAD tag; `first`: nothing had decrypted before it.
    AuthFailed { from: Role, record_no: u64, first: bool },
}

impl WhyNot {
    /// The sentence for a report.
    pub fn describe(&self) -> String {
        match *self {
            WhyNot::NoKeys => "no keys given (--keylog)".into(),
            WhyNot::NoKeyLogLine => "no key log line for this client random".into(),
            WhyNot::MissingSecret { label } => format!("the key log has no {label} line for this client random"),
            WhyNot::SecretLength { got, want } => {
                format!("the key log's secret is {got} bytes, this cipher suite's has {want}")
            }
            WhyNot::CipherNotDecrypted { cipher } => match cipher_suite_name(cipher) {
                Some(name) => format!("cipher suite {name} ({}) is not decrypted", keys::cipher_family(cipher)),
                None => format!("cipher suite {cipher:#06x} is not decrypted"),
            },
            WhyNot::VersionNotDecrypted { version } => {
                format!("{} is not decrypted (only TLS 1.2 and 1.3)", version_name(version))
            }
            WhyNot::CaptureStartsAfterHandshake => "the capture begins after the handshake".into(),
            WhyNot::AuthFailed { from, record_no, first: true } => format!(
                "record {record_no} from the {from} fails authentication: the key log does not belong to this connection"
            ),
            WhyNot::AuthFailed { from, record_no, first: false } => format!(
                "record {record_no} from the {from} fails authentication after earlier records decrypted: the rest of that side is not decrypted"
            ),
        }
    }
}

/// Why keys could not be made, as the connection's reason.
fn why_not_of(e: keys::KeyError) -> WhyNot {
    match e {
        keys::KeyError::SecretLength { got, want } => WhyNot::SecretLength { got, want },
        // Not reached with this module's constant labels and key sizes.
        keys::KeyError::TooLong => WhyNot::SecretLength { got: 0, want: 0 },
    }
}

/// "TLS 1.3", "TLS 1.2", ... for a version number.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v => format!("version {v:#06x}"),
    }
}

/// An alert as recorded in the facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRec {
    pub from: Role,
    pub level: Option<u8>,
    pub description: Option<u8>,
    pub at: At,
    pub encrypted: bool,
}

/// Records of one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordCount {
    pub count: u64,
    /// Header and fragment bytes.
    pub bytes: u64,
}

/// The owned summary of one connection's TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// The version in force (ServerHello's supported_versions, else its legacy version).
    pub version: Option<u16>,
    pub cipher: Option<u16>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    /// The browser its ClientHello looks like ([`handshake::ClientHello::family`]).
    pub client_family: Option<&'static str>,
    /// The protocol chosen (ServerHello in TLS 1.2, EncryptedExtensions in TLS 1.3: then only
    /// with keys).
    pub alpn: Option<String>,
    pub client_random: Option<[u8; 32]>,
    /// Both Finished messages seen, or inferred without keys (TLS 1.2: ChangeCipherSpec and an
    /// encrypted handshake record both ways; TLS 1.3: the client sent a record other than a
    /// lone alert after the server's encrypted flight).
    pub handshake_complete: bool,
    /// At least one record decrypted.
    pub decrypted: bool,
    pub why_not: Option<WhyNot>,
    pub alerts: Vec<AlertRec>,
    pub close_notify: PerRole<Option<At>>,
    pub records: PerRole<RecordCount>,
    /// A side whose bytes are not TLS.
    pub not_tls: bool,
}

/// What keys a direction's encrypted records are read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Records are not encrypted (yet).
    Clear,
    /// TLS 1.3 handshake traffic keys.
    Handshake,
    /// Application traffic keys (TLS 1.3) or the TLS 1.2 keys after ChangeCipherSpec.
    Application,
}

/// One direction's state.
struct Dir {
    hs: Reassembler,
    /// This side's records are encrypted (TLS 1.3 after the ServerHello, TLS 1.2 after its
    /// ChangeCipherSpec).
    encrypted: bool,
    phase: Phase,
    /// Keys for the records in `phase`; `None` when not decrypting.
    prot: Option<Protection>,
    /// TLS 1.2: keys to take up at this side's ChangeCipherSpec.
    pending: Option<Protection>,
    /// TLS 1.3: the current application traffic secret (for KeyUpdate).
    secret: Option<Secret>,
    /// Decryption was expected (keys found) but is no more possible: app records are gaps.
    blind: bool,
    /// Keys were set up after records had passed: the phase is not known.
    late: bool,
    /// The key log lacks the secret this side's records need now (told at its first record).
    missing: Option<&'static str>,
    /// The sequence number is not known (after record sync was lost).
    seq_unknown: bool,
    decrypted_any: bool,
    finished: bool,
    ccs: bool,
    /// Encrypted records after the ServerHello (TLS 1.3) or the ChangeCipherSpec (TLS 1.2).
    encrypted_records: u64,
    /// The length of the first such record.
    first_encrypted_len: usize,
    /// Bytes of a lost stretch already told as a plaintext gap.
    gap_told: u64,
    /// Where records are decrypted into: reused, no allocation per record.
    buf: Vec<u8>,
    /// Handshake messages read from the record in hand, handled after it.
    msgs: Vec<Result<Message, HandshakeError>>,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            hs: Reassembler::default(),
            encrypted: false,
            phase: Phase::Clear,
            prot: None,
            pending: None,
            secret: None,
            blind: false,
            late: false,
            missing: None,
            seq_unknown: false,
            decrypted_any: false,
            finished: false,
            ccs: false,
            encrypted_records: 0,
            first_encrypted_len: 0,
            gap_told: 0,
            buf: Vec::new(),
            msgs: Vec::new(),
        }
    }

    /// Application data of this side should reach the sink (decrypting, or meant to be).
    fn delivers(&self) -> bool {
        self.phase == Phase::Application && (self.prot.is_some() || self.blind)
    }
}

/// The TLS stage of one TCP connection, both directions.
pub struct Tls {
    framers: PerRole<Framer>,
    core: Core,
}

struct Core {
    keys: Option<Arc<KeyLog>>,
    facts: TlsFacts,
    dirs: PerRole<Dir>,
    suite: Option<Suite>,
    tls13: bool,
    server_hello: bool,
    secrets: Option<Secrets>,
    early_data_offered: bool,
    /// AEAD bytes spent on [`Core::probe`].
    probe_spent: usize,
    server_random: Option<[u8; 32]>,
    /// Keys came after the ServerHello ([`Tls::set_keys`]): looked up at the next record.
    late_keys: bool,
}

impl Tls {
    /// A stage for a new connection; `keys` are looked up at the ServerHello.
    pub fn new(keys: Option<Arc<KeyLog>>) -> Tls {
        Tls {
            framers: PerRole::default(),
            core: Core {
                keys,
                facts: TlsFacts::default(),
                dirs: PerRole { client: Dir::new(), server: Dir::new() },
                suite: None,
                tls13: false,
                server_hello: false,
                secrets: None,
                early_data_offered: false,
                probe_spent: 0,
                server_random: None,
                late_keys: false,
            },
        }
    }

    /// The next in-order bytes from `from`.
    pub fn data(&mut self, from: Role, bytes: &[u8], at: At, sink: &mut impl TlsSink) {
        let mut input = bytes;
        let framer = &mut self.framers[from];
        while let Some(item) = framer.next(&mut input) {
            self.core.framed(from, item, at, sink);
        }
    }

    /// `len` bytes from `from` are missing from the capture.
    pub fn gap(&mut self, from: Role, len: u64, at: At, sink: &mut impl TlsSink) {
        if len == 0 {
            return;
        }
        let framer = &mut self.framers[from];
        framer.gap(len);
        let lost = framer.is_lost();
        let flushed = framer.flush();
        let dir = &mut self.core.dirs[from];
        dir.hs.reset();
        if dir.delivers() {
            sink.plaintext_gap(from, len, at);
        }
        if lost {
            // Told now; the skipped count of the coming resync includes it.
            dir.seq_unknown = true;
            dir.gap_told = dir.gap_told.saturating_add(len);
        }
        if let Some(item) = flushed {
            self.core.framed(from, item, at, sink);
        }
    }

    /// A newer key log (a live capture's SSLKEYLOGFILE grows as connections start): used for
    /// the lookup at the ServerHello, or, if that found nothing, at the next encrypted record,
    /// with the sequence numbers searched (TLS 1.3: the handshake keys, then the application
    /// keys; TLS 1.2: the keys after ChangeCipherSpec).
    pub fn set_keys(&mut self, keys: Arc<KeyLog>) {
        let c = &mut self.core;
        c.keys = Some(keys);
        if c.server_hello
            && !c.facts.decrypted
            && matches!(c.facts.why_not, Some(WhyNot::NoKeyLogLine | WhyNot::NoKeys))
        {
            c.late_keys = true;
        }
    }

    /// The connection's TCP is over: the buffers that only a record in progress needs give
    /// their memory back (they grow again if late bytes come).
    pub fn release(&mut self) {
        for r in [Role::Client, Role::Server] {
            self.framers[r].release();
            self.core.dirs[r].buf = Vec::new();
        }
    }

    pub fn facts(&self) -> &TlsFacts {
        &self.core.facts
    }
}

impl Core {
    fn framed(&mut self, from: Role, item: Framed<'_>, at: At, sink: &mut impl TlsSink) {
        match item {
            Framed::Record { header, fragment } => self.record(from, header, fragment, at, sink),
            Framed::Damaged { header, .. } => {
                let c = &mut self.facts.records[from];
                c.count += 1;
                c.bytes += (record::HEADER_LEN + header.len()) as u64;
                let dir = &mut self.dirs[from];
                // Its sequence number is used up all the same.
                let protected = dir.encrypted && (!self.tls13 || header.content_type() == record::APPLICATION_DATA);
                if let Some(p) = dir.prot.as_mut().filter(|_| protected) {
                    p.seq = p.seq.wrapping_add(1);
                }
                dir.hs.reset();
            }
            Framed::Lost => {
                self.dirs[from].seq_unknown = true;
                sink.event(from, at, TlsEvent::SyncLost);
            }
            Framed::Resync { skipped } => {
                let dir = &mut self.dirs[from];
                let untold = skipped.saturating_sub(dir.gap_told);
                dir.gap_told = 0;
                if untold > 0 && dir.delivers() {
                    sink.plaintext_gap(from, untold, at);
                }
                sink.event(from, at, TlsEvent::SyncFound { skipped });
            }
            Framed::NotTls(why) => {
                self.facts.not_tls = true;
                sink.event(from, at, TlsEvent::NotTls(why));
            }
        }
    }

    fn record(&mut self, from: Role, header: Header, fragment: &[u8], at: At, sink: &mut impl TlsSink) {
        let c = &mut self.facts.records[from];
        c.count += 1;
        c.bytes += (record::HEADER_LEN + fragment.len()) as u64;
        let record_no = c.count;
        let ct = header.content_type();
        match ct {
            record::CHANGE_CIPHER_SPEC => {
                sink.event(from, at, TlsEvent::ChangeCipherSpec);
                // RFC 8446 §5: in TLS 1.3 it is only for middleboxes; in TLS 1.2 (RFC 5246
                // §7.1) the sender's next records use the new keys.
                if self.server_hello && !self.tls13 {
                    let dir = &mut self.dirs[from];
                    dir.ccs = true;
                    dir.encrypted = true;
                    dir.phase = Phase::Application;
                    dir.prot = dir.pending.take();
                }
            }
            // TLS 1.3 (RFC 8446 §5.2) hides the real type in type 23; TLS 1.2 keeps it.
            t @ (record::ALERT | record::HANDSHAKE | record::APPLICATION_DATA)
                if self.dirs[from].encrypted && (!self.tls13 || t == record::APPLICATION_DATA) =>
            {
                self.encrypted(from, header, fragment, record_no, at, sink);
            }
            record::ALERT => self.alert(from, fragment, false, at, sink),
            record::HANDSHAKE => {
                let dir = &mut self.dirs[from];
                let msgs = &mut dir.msgs;
                dir.hs.feed(fragment, &mut |m| msgs.push(m));
                self.messages(from, at, sink);
            }
            // Before any ServerHello: early data, or a capture that begins later.
            record::APPLICATION_DATA if !self.server_hello && self.facts.client_random.is_none() => {
                if self.probe(from, header, fragment) {
                    self.encrypted(from, header, fragment, record_no, at, sink);
                } else if self.facts.why_not.is_none() {
                    self.facts.why_not =
                        Some(if self.keys.is_some() { WhyNot::CaptureStartsAfterHandshake } else { WhyNot::NoKeys });
                }
            }
            _ => {}
        }
    }

    /// A record of a side whose records are encrypted.
    fn encrypted(
        &mut self,
        from: Role,
        header: Header,
        fragment: &[u8],
        record_no: u64,
        at: At,
        sink: &mut impl TlsSink,
    ) {
        if self.late_keys {
            self.late_lookup();
        }
        let tls13 = self.tls13;
        let early = self.early_data_offered;
        let dir = &mut self.dirs[from];
        dir.encrypted_records += 1;
        if dir.encrypted_records == 1 {
            dir.first_encrypted_len = fragment.len();
        }
        let Some(prot) = dir.prot.as_mut() else {
            if let Some(label) = dir.missing {
                self.facts.why_not.get_or_insert(WhyNot::MissingSecret { label });
            }
            // Not decrypting: what can be inferred.
            let ct = header.content_type();
            if dir.blind && (ct == record::APPLICATION_DATA) && dir.phase == Phase::Application {
                sink.plaintext_gap(from, fragment.len() as u64, at);
            }
            if ct == record::ALERT {
                self.alert(from, &[], true, at, sink);
            } else if !tls13 && ct == record::HANDSHAKE && !dir.finished && dir.ccs {
                // RFC 5246 §7.4.9: the first record after ChangeCipherSpec is Finished.
                dir.finished = true;
                sink.event(from, at, TlsEvent::HandshakeFinished { inferred: true });
                self.check_complete();
            } else if tls13 {
                self.infer_tls13(at, sink);
            }
            return;
        };
        let window = if dir.seq_unknown { SEQ_WINDOW } else { 1 };
        let mut opened = prot.open_searching(&header.bytes, fragment, &mut dir.buf, window);
        if opened.is_err() && tls13 && dir.phase == Phase::Handshake && (dir.decrypted_any || dir.late) {
            // The Finished fell in a capture gap: this side may be on its application keys.
            let secret = self.secrets.as_ref().and_then(|s| match from {
                Role::Client => s.client_traffic_0,
                Role::Server => s.server_traffic_0,
            });
            if let (Some(suite), Some(secret)) = (self.suite, secret)
                && let Ok(mut p) = Protection::tls13(suite, secret.as_bytes())
                && let Ok(o) = p.open_searching(&header.bytes, fragment, &mut dir.buf, SEQ_WINDOW)
            {
                opened = Ok(o);
                dir.phase = Phase::Application;
                dir.prot = Some(p);
                dir.secret = Some(secret);
                if !dir.finished {
                    dir.finished = true;
                    sink.event(from, at, TlsEvent::HandshakeFinished { inferred: true });
                }
            }
        }
        let Some(prot) = dir.prot.as_mut() else { return };
        let (opened, _) = match opened {
            Ok(o) => o,
            Err(why) => {
                // TLS 1.3 0-RTT: client records before its handshake keys fit are early data,
                // not a failure (they need the early secret and EndOfEarlyData's framing).
                if tls13 && early && from == Role::Client && !dir.decrypted_any && dir.phase == Phase::Handshake {
                    return;
                }
                let overhead = prot.overhead();
                let delivers = dir.delivers();
                dir.prot = None;
                dir.blind = true;
                let first = !self.dirs.client.decrypted_any && !self.dirs.server.decrypted_any;
                sink.event(from, at, TlsEvent::DecryptFailed { record_no, why });
                if delivers || (!tls13 && header.content_type() == record::APPLICATION_DATA) {
                    sink.plaintext_gap(from, fragment.len().saturating_sub(overhead) as u64, at);
                }
                let replace = match self.facts.why_not {
                    None | Some(WhyNot::CaptureStartsAfterHandshake) => true,
                    Some(_) => false,
                };
                if replace {
                    self.facts.why_not = Some(WhyNot::AuthFailed { from, record_no, first });
                }
                return;
            }
        };
        dir.seq_unknown = false;
        dir.decrypted_any = true;
        self.facts.decrypted = true;
        let len = opened.len.min(dir.buf.len());
        match opened.content_type {
            record::APPLICATION_DATA if dir.phase == Phase::Application && len > 0 => {
                sink.plaintext(from, &dir.buf[..len], at);
            }
            record::HANDSHAKE => {
                let Dir { hs, buf, msgs, .. } = dir;
                hs.feed(&buf[..len], &mut |m| msgs.push(m));
                self.messages(from, at, sink);
            }
            record::ALERT => {
                let mut alert = [0u8; 2];
                let n = len.min(2);
                alert[..n].copy_from_slice(&dir.buf[..n]);
                self.alert(from, &alert[..n], true, at, sink);
            }
            _ => {}
        }
        self.check_complete();
    }

    /// A capture that begins after a TLS 1.3 handshake: tries the key log's application
    /// traffic secrets (`*_TRAFFIC_SECRET_0`) on this record, each with the suites of its
    /// length and the first [`PROBE_SEQ`] sequence numbers; the AEAD tag proves the fit. On a
    /// fit both directions are set up to decrypt (the other side's sequence number searched).
    /// Bounded by [`PROBE_ENTRIES`] and [`PROBE_BUDGET`].
    fn probe(&mut self, from: Role, header: Header, fragment: &[u8]) -> bool {
        let Some(keys) = self.keys.clone() else { return false };
        if keys.len() > PROBE_ENTRIES || self.probe_spent >= PROBE_BUDGET {
            return false;
        }
        for (cr, secrets) in keys.iter() {
            let (mine, theirs) = match from {
                Role::Client => (secrets.client_traffic_0, secrets.server_traffic_0),
                Role::Server => (secrets.server_traffic_0, secrets.client_traffic_0),
            };
            let Some(mine) = mine else { continue };
            let ids: &[u16] = if mine.as_bytes().len() == 48 { &[0x1302] } else { &[0x1301, 0x1303] };
            for &id in ids {
                if self.probe_spent >= PROBE_BUDGET {
                    return false;
                }
                let Some(suite) = keys::suite(id) else { continue };
                let Ok(mut p) = Protection::tls13(suite, mine.as_bytes()) else { continue };
                self.probe_spent += fragment.len().max(64) * PROBE_SEQ as usize;
                let dir = &mut self.dirs[from];
                let Ok((_, skipped)) = p.open_searching(&header.bytes, fragment, &mut dir.buf, PROBE_SEQ) else {
                    continue;
                };
                // Found: the record is read again by the caller, at the sequence number found.
                p.seq = skipped;
                dir.prot = Some(p);
                dir.secret = Some(mine);
                self.facts.version = Some(0x0304);
                self.facts.cipher = Some(id);
                self.facts.client_random = Some(*cr);
                if self.facts.why_not == Some(WhyNot::CaptureStartsAfterHandshake) {
                    self.facts.why_not = None;
                }
                self.suite = Some(suite);
                self.tls13 = true;
                self.server_hello = true;
                self.secrets = Some(secrets.clone());
                let other = &mut self.dirs[from.other()];
                if let Some(theirs) = theirs
                    && let Ok(p) = Protection::tls13(suite, theirs.as_bytes())
                {
                    other.prot = Some(p);
                    other.secret = Some(theirs);
                    other.seq_unknown = true;
                }
                for d in [&mut self.dirs.client, &mut self.dirs.server] {
                    d.encrypted = true;
                    d.phase = Phase::Application;
                    d.finished = true;
                }
                self.facts.handshake_complete = true;
                return true;
            }
        }
        false
    }

    /// TLS 1.3 without keys: the client's records after the server's flight say that the
    /// handshake completed, unless the client's only record is an alert's size (RFC 8446 §5.2:
    /// 2 bytes + type + 16-byte tag = 19).
    fn infer_tls13(&mut self, at: At, sink: &mut impl TlsSink) {
        let (c, s) = (&self.dirs.client, &self.dirs.server);
        if c.finished || s.encrypted_records == 0 || c.encrypted_records == 0 {
            return;
        }
        if c.encrypted_records == 1 && c.first_encrypted_len == 19 {
            return;
        }
        for role in [Role::Server, Role::Client] {
            if !self.dirs[role].finished {
                self.dirs[role].finished = true;
                sink.event(role, at, TlsEvent::HandshakeFinished { inferred: true });
            }
        }
        self.check_complete();
    }

    fn check_complete(&mut self) {
        if self.dirs.client.finished && self.dirs.server.finished {
            self.facts.handshake_complete = true;
        }
    }

    fn alert(&mut self, from: Role, body: &[u8], encrypted: bool, at: At, sink: &mut impl TlsSink) {
        // RFC 8446 §6: struct { AlertLevel level; AlertDescription description; }.
        let (level, description) = match body {
            [l, d, ..] => (Some(*l), Some(*d)),
            _ => (None, None),
        };
        if description == Some(0) && self.facts.close_notify[from].is_none() {
            self.facts.close_notify[from] = Some(at);
        }
        if self.facts.alerts.len() < MAX_ALERTS {
            self.facts.alerts.push(AlertRec { from, level, description, at, encrypted });
        }
        sink.event(from, at, TlsEvent::Alert { level, description, encrypted });
    }

    /// Handles the handshake messages gathered from the last record of `from`.
    fn messages(&mut self, from: Role, at: At, sink: &mut impl TlsSink) {
        let mut msgs = std::mem::take(&mut self.dirs[from].msgs);
        for m in msgs.drain(..) {
            match m {
                Err(e) => sink.event(from, at, TlsEvent::Malformed(e)),
                Ok(m) => self.message(from, m, at, sink),
            }
        }
        // Hand the (empty) vector back, keeping its room.
        self.dirs[from].msgs = msgs;
    }

    fn message(&mut self, from: Role, m: Message, at: At, sink: &mut impl TlsSink) {
        match (from, m) {
            (Role::Client, Message::ClientHello(ch)) => {
                // After a HelloRetryRequest the second ClientHello has the same random.
                if self.facts.client_random.is_none() {
                    self.facts.client_random = Some(ch.random);
                    self.facts.sni.clone_from(&ch.sni);
                    self.facts.alpn_offered.clone_from(&ch.alpn);
                    self.facts.client_family = ch.family();
                }
                self.early_data_offered = ch.early_data;
                sink.event(
                    from,
                    at,
                    TlsEvent::ClientHello { sni: ch.sni, alpn_offered: ch.alpn, versions: ch.supported_versions },
                );
            }
            (Role::Server, Message::ServerHello(sh)) => {
                let (version, cipher, retry) = (sh.version(), sh.cipher, sh.retry);
                self.facts.version = Some(version);
                self.facts.cipher = Some(cipher);
                if sh.alpn.is_some() {
                    self.facts.alpn = sh.alpn;
                }
                sink.event(from, at, TlsEvent::ServerHello { version, cipher, retry });
                if !retry && !self.server_hello {
                    self.server_hello = true;
                    self.tls13 = version == 0x0304;
                    self.server_random = Some(sh.random);
                    self.keys_at_server_hello(&sh.random);
                }
            }
            (Role::Server, Message::EncryptedExtensions { alpn }) => {
                if alpn.is_some() {
                    self.facts.alpn.clone_from(&alpn);
                }
                sink.event(from, at, TlsEvent::EncryptedExtensions { alpn });
            }
            (_, Message::Finished { .. }) => {
                let tls13 = self.tls13;
                let suite = self.suite;
                let label = match from {
                    Role::Client => "CLIENT_TRAFFIC_SECRET_0",
                    Role::Server => "SERVER_TRAFFIC_SECRET_0",
                };
                let secret = self.secrets.as_ref().and_then(|s| match from {
                    Role::Client => s.client_traffic_0,
                    Role::Server => s.server_traffic_0,
                });
                let dir = &mut self.dirs[from];
                dir.finished = true;
                sink.event(from, at, TlsEvent::HandshakeFinished { inferred: false });
                // RFC 8446 §7.3: after its Finished a side sends with application keys.
                if tls13 && dir.phase == Phase::Handshake {
                    dir.phase = Phase::Application;
                    let had = dir.prot.is_some();
                    dir.prot = None;
                    match (suite, secret) {
                        (Some(suite), Some(secret)) => match Protection::tls13(suite, secret.as_bytes()) {
                            Ok(p) => {
                                dir.prot = Some(p);
                                dir.secret = Some(secret);
                            }
                            Err(e) => {
                                dir.blind = true;
                                self.facts.why_not.get_or_insert(why_not_of(e));
                            }
                        },
                        (Some(_), None) if had => {
                            dir.blind = true;
                            dir.missing = Some(label);
                        }
                        _ => {}
                    }
                }
                self.check_complete();
            }
            (_, Message::KeyUpdate { requested }) => {
                sink.event(from, at, TlsEvent::KeyUpdate { requested });
                // RFC 8446 §4.6.3: the sender's next records use the next generation.
                let hash = self.suite.map(|s| s.hash);
                let suite = self.suite;
                let dir = &mut self.dirs[from];
                if let (Some(hash), Some(suite), Some(secret)) = (hash, suite, dir.secret)
                    && let Ok(next) = keys::next_traffic_secret(hash, &secret)
                    && let Ok(p) = Protection::tls13(suite, next.as_bytes())
                {
                    dir.secret = Some(next);
                    dir.prot = Some(p);
                }
            }
            _ => {}
        }
    }

    /// [`Tls::set_keys`] after the ServerHello: the lookup done late.
    fn late_lookup(&mut self) {
        self.late_keys = false;
        let Some(sr) = self.server_random else { return };
        self.facts.why_not = None;
        self.keys_at_server_hello(&sr);
        for d in [&mut self.dirs.client, &mut self.dirs.server] {
            if !self.tls13 && d.ccs {
                d.prot = d.pending.take();
            }
            if d.prot.is_some() {
                d.seq_unknown = true;
                d.late = true;
            }
        }
    }

    /// Picks the keys once the version and suite are known.
    fn keys_at_server_hello(&mut self, server_random: &[u8; 32]) {
        let version = self.facts.version.unwrap_or(0);
        let cipher = self.facts.cipher.unwrap_or(0);
        if self.tls13 {
            // RFC 8446 §5.2: from here on both sides' records are encrypted (the client's
            // after its ChangeCipherSpec at most, which changes nothing).
            for d in [&mut self.dirs.client, &mut self.dirs.server] {
                d.encrypted = true;
                d.phase = Phase::Handshake;
            }
        }
        let Some(keys) = self.keys.clone() else {
            self.facts.why_not.get_or_insert(WhyNot::NoKeys);
            return;
        };
        let suite = match keys::suite(cipher) {
            Some(s) if s.tls13 == self.tls13 && (self.tls13 || version == 0x0303) => s,
            Some(_) if version != 0x0303 && version != 0x0304 => {
                self.facts.why_not.get_or_insert(WhyNot::VersionNotDecrypted { version });
                return;
            }
            _ => {
                self.facts.why_not.get_or_insert(WhyNot::CipherNotDecrypted { cipher });
                return;
            }
        };
        self.suite = Some(suite);
        let Some(cr) = self.facts.client_random else {
            self.facts.why_not.get_or_insert(WhyNot::CaptureStartsAfterHandshake);
            return;
        };
        let Some(secrets) = keys.lookup(&cr) else {
            self.facts.why_not.get_or_insert(WhyNot::NoKeyLogLine);
            return;
        };
        self.secrets = Some(secrets.clone());
        if self.tls13 {
            for (role, secret, label) in [
                (Role::Client, secrets.client_handshake, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
                (Role::Server, secrets.server_handshake, "SERVER_HANDSHAKE_TRAFFIC_SECRET"),
            ] {
                let Some(secret) = secret else {
                    self.dirs[role].missing = Some(label);
                    continue;
                };
                match Protection::tls13(suite, secret.as_bytes()) {
                    Ok(p) => self.dirs[role].prot = Some(p),
                    Err(e) => {
                        self.facts.why_not.get_or_insert(why_not_of(e));
                    }
                }
            }
        } else {
            let Some(master) = secrets.master else {
                self.facts.why_not.get_or_insert(WhyNot::MissingSecret { label: "CLIENT_RANDOM" });
                return;
            };
            match Protection::tls12(suite, master.as_bytes(), &cr, server_random) {
                Ok((c, s)) => {
                    self.dirs.client.pending = Some(c);
                    self.dirs.server.pending = Some(s);
                }
                Err(e) => {
                    self.facts.why_not.get_or_insert(why_not_of(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
