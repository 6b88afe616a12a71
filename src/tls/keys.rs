//! Key schedules and record protection: TLS 1.3 (RFC 8446 §5.2, §5.3, §7.1, §7.3) and the
//! TLS 1.2 AEAD suites (RFC 5246 §5 and §6.3, RFC 5288, RFC 7905), plus the names of cipher
//! suites and alerts.
//!
//! Only opening (decryption) is done: a record's plaintext is written into a buffer the caller
//! keeps and reuses, and a record whose tag does not verify yields an error, never bytes.

use super::aead::{Aead, Backend};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// AEAD tag length of every suite decrypted here.
pub const TAG_LEN: usize = 16;
/// The longest secret or hash output used (SHA-384).
pub const MAX_HASH: usize = 48;

/// The hash of a suite's key schedule (TLS 1.3 HKDF, TLS 1.2 PRF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// The AEAD of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadKind {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadKind {
    pub fn key_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm => 16,
            AeadKind::Aes256Gcm | AeadKind::ChaCha20Poly1305 => 32,
        }
    }

    /// TLS 1.2 fixed IV bytes from the key block: RFC 5288 §3 (4-byte salt), RFC 7905 §2 (12).
    fn tls12_iv_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => 4,
            AeadKind::ChaCha20Poly1305 => 12,
        }
    }
}

/// A cipher suite this module decrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub aead: AeadKind,
    pub hash: Hash,
    /// A TLS 1.3 suite (RFC 8446 §B.4); else a TLS 1.2 one.
    pub tls13: bool,
}

/// The suites decrypted: TLS 1.3's three AEAD suites, and the TLS 1.2 AES-GCM (RFC 5288,
/// RFC 5289) and ChaCha20-Poly1305 (RFC 7905) suites with ECDHE, DHE or RSA key exchange (the
/// key log's master secret makes the key exchange irrelevant).
pub fn suite(id: u16) -> Option<Suite> {
    use AeadKind::*;
    let (aead, hash, tls13) = match id {
        0x1301 => (Aes128Gcm, Hash::Sha256, true),
        0x1302 => (Aes256Gcm, Hash::Sha384, true),
        0x1303 => (ChaCha20Poly1305, Hash::Sha256, true),
        0xc02b | 0xc02f | 0x009e | 0x009c => (Aes128Gcm, Hash::Sha256, false),
        0xc02c | 0xc030 | 0x009f | 0x009d => (Aes256Gcm, Hash::Sha384, false),
        0xcca8..=0xccaa => (ChaCha20Poly1305, Hash::Sha256, false),
        _ => return None,
    };
    Some(Suite { id, aead, hash, tls13 })
}

/// A secret of up to 48 bytes, kept by value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    len: u8,
    bytes: [u8; MAX_HASH],
}

impl Secret {
    /// `None` if longer than 48 bytes.
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        let mut s = Secret { len: 0, bytes: [0; MAX_HASH] };
        s.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        s.len = bytes.len() as u8;
        Some(s)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(MAX_HASH)]
    }
}

impl std::fmt::Debug for Secret {
    /// Secrets are not printed; their length is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

/// Why keys could not be made from a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The secret's length is not the suite's hash length.
    SecretLength { got: usize, want: usize },
    /// A label, context or output longer than RFC 8446 §7.1 allows (none of this module's).
    TooLong,
}

/// RFC 8446 §7.1: `HKDF-Expand-Label(Secret, Label, Context, Length) = HKDF-Expand(Secret,
/// HkdfLabel, Length)`, with `HkdfLabel = uint16 length ‖ opaque label<7..255> = "tls13 " +
/// Label ‖ opaque context<0..255>`. `out.len()` is the Length. The secret must be at least the
/// hash's length (it always is: it is a secret of the same suite).
pub fn hkdf_expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), KeyError> {
    // Labels and contexts here are short constants and hashes; longer ones are refused by
    // length rather than truncated.
    const PREFIX: &[u8] = b"tls13 ";
    if label.len() + PREFIX.len() > 255 || context.len() > 255 || out.len() > 255 * hash.output_len() {
        return Err(KeyError::TooLong);
    }
    let mut info = [0u8; 2 + 1 + 255 + 1 + 255];
    let out_len = out.len() as u16;
    info[..2].copy_from_slice(&out_len.to_be_bytes());
    info[2] = (PREFIX.len() + label.len()) as u8;
    let mut n = 3;
    info[n..n + PREFIX.len()].copy_from_slice(PREFIX);
    n += PREFIX.len();
    info[n..n + label.len()].copy_from_slice(label);
    n += label.len();
    info[n] = context.len() as u8;
    n += 1;
    info[n..n + context.len()].copy_from_slice(context);
    n += context.len();
    let bad = KeyError::SecretLength { got: secret.len(), want: hash.output_len() };
    match hash {
        Hash::Sha256 => {
            hkdf::Hkdf::<Sha256>::from_prk(secret).map_err(|_| bad)?.expand(&info[..n], out).map_err(|_| bad)
        }
        Hash::Sha384 => {
            hkdf::Hkdf::<Sha384>::from_prk(secret).map_err(|_| bad)?.expand(&info[..n], out).map_err(|_| bad)
        }
    }
}

/// RFC 8446 §7.2: the next generation of a traffic secret after a KeyUpdate,
/// `HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)`.
pub fn next_traffic_secret(hash: Hash, secret: &Secret) -> Result<Secret, KeyError> {
    let mut out = [0u8; MAX_HASH];
    let out = &mut out[..hash.output_len()];
    hkdf_expand_label(hash, secret.as_bytes(), b"traffic upd", b"", out)?;
    Secret::new(out).ok_or(KeyError::TooLong)
}

/// RFC 5246 §5: `P_hash(secret, seed)`, with `PRF(secret, label, seed) = P_<hash>(secret,
/// label + seed)`; fills `out`.
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
    }
}

fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    // HMAC takes a key of any length.
    let Ok(mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else { return };
    // A(1) = HMAC(secret, label + seed); A(i) = HMAC(secret, A(i-1)).
    let mut a = mac.clone();
    a.update(label);
    a.update(seed);
    let mut a = a.finalize().into_bytes();
    let mut filled = 0;
    while filled < out.len() {
        let mut m = mac.clone();
        m.update(&a);
        m.update(label);
        m.update(seed);
        let block = m.finalize().into_bytes();
        let n = block.len().min(out.len() - filled);
        out[filled..filled + n].copy_from_slice(&block[..n]);
        filled += n;
        let mut next = mac.clone();
        next.update(&a);
        a = next.finalize().into_bytes();
    }
}

/// How a record's nonce and additional data are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// RFC 8446 §5.2–5.3: nonce = iv XOR seq, AAD = the record header, inner content type.
    Tls13,
    /// RFC 5288 §3: nonce = salt(4) ‖ explicit(8, from the record); RFC 5246 §6.2.3.3 AAD.
    Tls12Explicit,
    /// RFC 7905 §2: nonce = iv(12) XOR seq, no explicit part; RFC 5246 AAD.
    Tls12Xor,
}

/// Why a record did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than its nonce and tag.
    TooShort { len: usize, min: usize },
    /// The AEAD tag does not verify.
    BadTag,
    /// TLS 1.3: the inner plaintext is all zeros, no content type (RFC 8446 §5.4).
    NoContentType,
}

/// One direction's record protection: keys, IV and the next sequence number.
pub struct Protection {
    cipher: Box<Aead>,
    iv: [u8; 12],
    framing: Framing,
    /// RFC 8446 §5.3, RFC 5246 §6.1: the record sequence number, reset on each key change.
    pub seq: u64,
    aead: AeadKind,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("aead", &self.aead)
            .field("backend", &self.cipher.backend())
            .field("framing", &self.framing)
            .field("seq", &self.seq)
            .finish()
    }
}

/// An opened record: its content type and where its plaintext lies in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub content_type: u8,
    pub len: usize,
}

impl Protection {
    /// RFC 8446 §7.3: `key = HKDF-Expand-Label(secret, "key", "", key_length)`, `iv =
    /// HKDF-Expand-Label(secret, "iv", "", 12)`.
    pub fn tls13(suite: Suite, secret: &[u8]) -> Result<Protection, KeyError> {
        Protection::tls13_on(Backend::best(suite.aead), suite, secret)
    }

    /// [`Protection::tls13`] on a given AEAD backend.
    pub(crate) fn tls13_on(backend: Backend, suite: Suite, secret: &[u8]) -> Result<Protection, KeyError> {
        if secret.len() != suite.hash.output_len() {
            return Err(KeyError::SecretLength { got: secret.len(), want: suite.hash.output_len() });
        }
        let mut key = [0u8; 32];
        let key = &mut key[..suite.aead.key_len()];
        let mut iv = [0u8; 12];
        hkdf_expand_label(suite.hash, secret, b"key", b"", key)?;
        hkdf_expand_label(suite.hash, secret, b"iv", b"", &mut iv)?;
        let cipher = Aead::with_backend(backend, suite.aead, key).ok_or(KeyError::TooLong)?;
        Ok(Protection { cipher: Box::new(cipher), iv, framing: Framing::Tls13, seq: 0, aead: suite.aead })
    }

    /// RFC 5246 §6.3: `key_block = PRF(master_secret, "key expansion", server_random +
    /// client_random)`, cut into client MAC key, server MAC key (none for AEAD suites), client
    /// key, server key, client IV, server IV. Returns (client's, server's).
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<(Protection, Protection), KeyError> {
        Protection::tls12_on(Backend::best(suite.aead), suite, master, client_random, server_random)
    }

    /// [`Protection::tls12`] on a given AEAD backend.
    pub(crate) fn tls12_on(
        backend: Backend,
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<(Protection, Protection), KeyError> {
        if master.len() != 48 {
            return Err(KeyError::SecretLength { got: master.len(), want: 48 });
        }
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let (k, i) = (suite.aead.key_len(), suite.aead.tls12_iv_len());
        let mut block = [0u8; 2 * (32 + 12)];
        let block = &mut block[..2 * (k + i)];
        prf(suite.hash, master, b"key expansion", &seed, block);
        let framing = match suite.aead {
            AeadKind::ChaCha20Poly1305 => Framing::Tls12Xor,
            AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => Framing::Tls12Explicit,
        };
        let make = |key: &[u8], iv_part: &[u8]| {
            let mut iv = [0u8; 12];
            iv[..iv_part.len()].copy_from_slice(iv_part);
            let cipher = Aead::with_backend(backend, suite.aead, key).ok_or(KeyError::TooLong)?;
            Ok(Protection { cipher: Box::new(cipher), iv, framing, seq: 0, aead: suite.aead })
        };
        let client = make(&block[..k], &block[2 * k..2 * k + i])?;
        let server = make(&block[k..2 * k], &block[2 * k + i..2 * (k + i)])?;
        Ok((client, server))
    }

    /// Bytes a record's fragment carries beyond its plaintext (explicit nonce, tag; TLS 1.3's
    /// inner content type too).
    pub fn overhead(&self) -> usize {
        match self.framing {
            Framing::Tls13 => TAG_LEN + 1,
            Framing::Tls12Explicit => 8 + TAG_LEN,
            Framing::Tls12Xor => TAG_LEN,
        }
    }

    fn nonce(&self, seq: u64, explicit: &[u8]) -> [u8; 12] {
        let mut nonce = self.iv;
        match self.framing {
            Framing::Tls12Explicit => nonce[4..].copy_from_slice(&explicit[..8]),
            Framing::Tls13 | Framing::Tls12Xor => {
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
            }
        }
        nonce
    }

    /// Opens one record (`header` is its 5-byte header, `fragment` what follows) into `buf`,
    /// which is reused: no allocation once it has grown to a record's size. On success the
    /// sequence number advances.
    pub fn open(&mut self, header: &[u8; 5], fragment: &[u8], buf: &mut Vec<u8>) -> Result<Opened, OpenError> {
        self.open_searching(header, fragment, buf, 1).map(|(o, _)| o)
    }

    /// [`Protection::open`] trying the sequence numbers `seq .. seq + window` (after a loss of
    /// record sync the number of records missed is unknown; the tag proves which one fits).
    /// Returns the record and how many records were skipped.
    pub fn open_searching(
        &mut self,
        header: &[u8; 5],
        fragment: &[u8],
        buf: &mut Vec<u8>,
        window: u64,
    ) -> Result<(Opened, u64), OpenError> {
        let explicit = if self.framing == Framing::Tls12Explicit { 8 } else { 0 };
        let min = explicit + TAG_LEN + usize::from(self.framing == Framing::Tls13);
        if fragment.len() < min {
            return Err(OpenError::TooShort { len: fragment.len(), min });
        }
        let ct_len = fragment.len() - explicit - TAG_LEN;
        let (nonce_part, rest) = fragment.split_at(explicit);
        let (ct, tag) = rest.split_at(ct_len);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        buf.clear();
        buf.extend_from_slice(ct);
        for skipped in 0..window.max(1) {
            if skipped > 0 {
                // A failed open leaves neither ciphertext nor plaintext in `buf`.
                buf.copy_from_slice(ct);
            }
            let seq = self.seq.wrapping_add(skipped);
            let nonce = self.nonce(seq, nonce_part);
            let mut aad = [0u8; 13];
            let aad: &[u8] = match self.framing {
                Framing::Tls13 => header,
                Framing::Tls12Explicit | Framing::Tls12Xor => {
                    // RFC 5246 §6.2.3.3: seq_num ‖ type ‖ version ‖ length (of the plaintext).
                    aad[..8].copy_from_slice(&seq.to_be_bytes());
                    aad[8..11].copy_from_slice(&header[..3]);
                    aad[11..].copy_from_slice(&(ct_len as u16).to_be_bytes());
                    &aad
                }
            };
            if !self.cipher.open_in_place(&nonce, aad, buf, &tag_arr) {
                continue;
            }
            self.seq = seq.wrapping_add(1);
            if self.framing != Framing::Tls13 {
                return Ok((Opened { content_type: header[0], len: ct_len }, skipped));
            }
            // RFC 8446 §5.2: TLSInnerPlaintext = content ‖ ContentType type ‖ uint8 zeros[].
            let Some(last) = buf.iter().rposition(|&b| b != 0) else {
                return Err(OpenError::NoContentType);
            };
            return Ok((Opened { content_type: buf[last], len: last }, skipped));
        }
        Err(OpenError::BadTag)
    }
}

#[cfg(test)]
impl Protection {
    /// For tests: the record a peer would send (header included), at the next sequence number.
    pub(crate) fn seal(&mut self, content_type: u8, plaintext: &[u8]) -> Vec<u8> {
        let mut body = plaintext.to_vec();
        let outer = if self.framing == Framing::Tls13 {
            body.push(content_type);
            23
        } else {
            content_type
        };
        let explicit: [u8; 8] = self.seq.wrapping_mul(0x9e37_79b9).to_be_bytes();
        let frag_len = body.len() + TAG_LEN + if self.framing == Framing::Tls12Explicit { 8 } else { 0 };
        let mut header = [outer, 3, 3, 0, 0];
        header[3..].copy_from_slice(&(frag_len as u16).to_be_bytes());
        let nonce = self.nonce(self.seq, &explicit);
        let mut aad = Vec::new();
        if self.framing == Framing::Tls13 {
            aad.extend_from_slice(&header);
        } else {
            aad.extend_from_slice(&self.seq.to_be_bytes());
            aad.extend_from_slice(&header[..3]);
            aad.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        let tag = self.cipher.seal_in_place(&nonce, &aad, &mut body).unwrap();
        self.seq += 1;
        let mut rec = header.to_vec();
        if self.framing == Framing::Tls12Explicit {
            rec.extend_from_slice(&explicit);
        }
        rec.extend_from_slice(&body);
        rec.extend_from_slice(&tag);
        rec
    }
}

/// The IANA name of a cipher suite (TLS Cipher Suites registry), for the common ones.
pub fn cipher_suite_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0x0000 => "TLS_NULL_WITH_NULL_NULL",
        0x0001 => "TLS_RSA_WITH_NULL_MD5",
        0x0002 => "TLS_RSA_WITH_NULL_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x003b => "TLS_RSA_WITH_NULL_SHA256",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006b => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0x5600 => "TLS_FALLBACK_SCSV",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xc012 => "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xc09c => "TLS_RSA_WITH_AES_128_CCM",
        0xc09d => "TLS_RSA_WITH_AES_256_CCM",
        0xc0ac => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        0xc0ad => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
        0xc0ae => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
        0xc0af => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xccaa => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        _ => return None,
    })
}

/// The kind of protection a suite not decrypted here uses, read from its name, for the
/// reason given ("CBC", "CCM", "RC4", ...).
pub fn cipher_family(id: u16) -> &'static str {
    let Some(name) = cipher_suite_name(id) else { return "unknown" };
    if name.contains("SCSV") {
        "signalling value"
    } else if name.contains("_NULL_") || name.ends_with("_NULL") {
        "NULL"
    } else if name.contains("_CBC_") {
        "CBC"
    } else if name.contains("_CCM") {
        "CCM"
    } else if name.contains("_RC4_") {
        "RC4"
    } else if name.contains("_GCM_") {
        "GCM"
    } else if name.contains("CHACHA20") {
        "ChaCha20-Poly1305"
    } else {
        "unknown"
    }
}

/// RFC 8446 §6 (and RFC 5246 §7.2, RFC 8701 / RFC 7301 additions): the name of an alert
/// description.
pub fn alert_description_name(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) fn tests_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            d(p[0]) << 4 | d(p[1])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tls::testdata::rfc8448;

    /// RFC 8448 §3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256.
    mod secrets {
        pub const SERVER_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
        pub const CLIENT_HS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
        pub const SERVER_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";
        pub const CLIENT_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
    }

    fn expand(secret: &str, label: &[u8], n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        assert_eq!(hkdf_expand_label(Hash::Sha256, &unhex(secret), label, b"", &mut out), Ok(()));
        out
    }

    #[test]
    fn rfc8448_traffic_keys_and_ivs() {
        // RFC 8448 §3: "{server} derive write traffic keys for handshake data".
        assert_eq!(expand(secrets::SERVER_HS, b"key", 16), unhex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(expand(secrets::SERVER_HS, b"iv", 12), unhex("5d313eb2671276ee13000b30"));
        // "{client} derive write traffic keys for handshake data".
        assert_eq!(expand(secrets::CLIENT_HS, b"key", 16), unhex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(expand(secrets::CLIENT_HS, b"iv", 12), unhex("5bd3c71b836e0b76bb73265f"));
        // "{server} derive write traffic keys for application data".
        assert_eq!(expand(secrets::SERVER_AP, b"key", 16), unhex("9f02283b6c9c07efc26bb9f2ac92e356"));
        assert_eq!(expand(secrets::SERVER_AP, b"iv", 12), unhex("cf782b88dd83549aadf1e984"));
        // "{client} derive write traffic keys for application data".
        assert_eq!(expand(secrets::CLIENT_AP, b"key", 16), unhex("17422dda596ed5d9acd890e3c63f5051"));
        assert_eq!(expand(secrets::CLIENT_AP, b"iv", 12), unhex("5b78923dee08579033e523d9"));
        // The server's finished key, another HKDF-Expand-Label of the same secret.
        assert_eq!(
            expand(secrets::SERVER_HS, b"finished", 32),
            unhex("008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8")
        );
    }

    #[test]
    fn rfc8448_server_handshake_record_opens() {
        let rec = rfc8448("Record_ServerHandshakeMessages");
        let suite = suite(0x1301).unwrap();
        let mut p = Protection::tls13(suite, &unhex(secrets::SERVER_HS)).unwrap();
        let header: [u8; 5] = rec[..5].try_into().unwrap();
        let mut buf = Vec::new();
        let opened = p.open(&header, &rec[5..], &mut buf).unwrap();
        assert_eq!(opened.content_type, 22);
        let mut want = rfc8448("Message_EncryptedExtensions");
        want.extend(rfc8448("Message_Server_Certificate"));
        want.extend(rfc8448("Message_Server_CertificateVerify"));
        want.extend(rfc8448("Message_Server_Finished"));
        assert_eq!(opened.len, want.len());
        assert_eq!(&buf[..opened.len], &want[..]);
        assert_eq!(p.seq, 1);
        // The same record again, at sequence number 1, does not verify, and leaves no bytes.
        assert_eq!(p.open(&header, &rec[5..], &mut buf), Err(OpenError::BadTag));
        // A searching open from 1 does not find it either (it lies behind).
        assert!(p.open_searching(&header, &rec[5..], &mut buf, 8).is_err());
        // From 0 with a window, found at once.
        p.seq = 0;
        assert_eq!(p.open_searching(&header, &rec[5..], &mut buf, 8).map(|(_, s)| s), Ok(0));
    }

    #[test]
    fn rfc8448_application_data_both_ways() {
        let suite = suite(0x1301).unwrap();
        let data: Vec<u8> = (0u8..50).collect();
        assert_eq!(data, rfc8448("AppData"));
        // The server's comes after its NewSessionTicket: sequence number 1.
        for (secret, rec, seq) in
            [(secrets::CLIENT_AP, "Record_Client_AppData", 0), (secrets::SERVER_AP, "Record_Server_AppData", 1)]
        {
            let mut p = Protection::tls13(suite, &unhex(secret)).unwrap();
            p.seq = seq;
            let rec = rfc8448(rec);
            let header: [u8; 5] = rec[..5].try_into().unwrap();
            let mut buf = Vec::new();
            let o = p.open(&header, &rec[5..], &mut buf).unwrap();
            assert_eq!((o.content_type, &buf[..o.len]), (23, &data[..]));
        }
        // A record whose sequence number is 2 further on is found by a search.
        let mut sealer = Protection::tls13(suite, &unhex(secrets::SERVER_AP)).unwrap();
        sealer.seq = 2;
        let rec = sealer.seal(23, b"third");
        let mut p = Protection::tls13(suite, &unhex(secrets::SERVER_AP)).unwrap();
        let header: [u8; 5] = rec[..5].try_into().unwrap();
        let mut buf = Vec::new();
        assert_eq!(p.open_searching(&header, &rec[5..], &mut buf, 2).err(), Some(OpenError::BadTag));
        let (o, skipped) = p.open_searching(&header, &rec[5..], &mut buf, 3).unwrap();
        assert_eq!((skipped, &buf[..o.len], p.seq), (2, &b"third"[..], 3));
        let rec = rfc8448("Record_Client_AppData");
        let header: [u8; 5] = rec[..5].try_into().unwrap();
        let mut short = Protection::tls13(suite, &unhex(secrets::CLIENT_AP)).unwrap();
        assert_eq!(short.open(&header, &rec[5..25], &mut buf).err(), Some(OpenError::BadTag));
        assert_eq!(short.open(&header, &rec[5..10], &mut buf).err(), Some(OpenError::TooShort { len: 5, min: 17 }));
    }

    #[test]
    fn key_update_secret_and_wrong_lengths() {
        let s = Secret::new(&unhex(secrets::SERVER_AP)).unwrap();
        let n1 = next_traffic_secret(Hash::Sha256, &s).unwrap();
        let mut want = [0u8; 32];
        hkdf_expand_label(Hash::Sha256, s.as_bytes(), b"traffic upd", b"", &mut want).unwrap();
        assert_eq!(n1.as_bytes(), &want);
        assert_ne!(n1.as_bytes(), s.as_bytes());
        let suite13 = suite(0x1302).unwrap();
        assert_eq!(Protection::tls13(suite13, s.as_bytes()).err(), Some(KeyError::SecretLength { got: 32, want: 48 }));
        assert!(Secret::new(&[0; 49]).is_none());
        assert_eq!(format!("{s:?}"), "Secret(32 bytes)");
    }

    #[test]
    fn tls12_prf_sha256_vector() {
        // The widely used P_SHA256 test vector (from the IETF TLS list, as in many TLS stacks).
        let mut out = [0u8; 100];
        prf(
            Hash::Sha256,
            &unhex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &unhex("a0ba9f936cda311827a6f796ffd5198c"),
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            unhex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af\
                 0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66"
            )
        );
    }

    #[test]
    fn tls12_prf_sha384_vector() {
        let mut out = [0u8; 148];
        prf(
            Hash::Sha384,
            &unhex("b80b733d6ceefcdc71566ea48e5567df"),
            b"test label",
            &unhex("cd665cf6a8447dd6ff8b27555edb7465"),
            &mut out,
        );
        assert_eq!(
            out.to_vec(),
            unhex(
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0\
                 e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425\
                 9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e099070\
                 3d73e56f"
            )
        );
    }

    /// Records sealed on one AEAD backend open on the other, for every suite's framing (TLS 1.3,
    /// TLS 1.2 with an explicit nonce, TLS 1.2 ChaCha20-Poly1305), every plaintext length
    /// 0..=300 and a few large ones up to the longest TLS 1.3 record; a tampered tag or byte is
    /// refused by both, and a search over sequence numbers finds a record after failed tries
    /// (which leave no ciphertext in the buffer on graviola).
    #[test]
    fn backends_open_each_others_records() {
        use crate::tls::aead::Backend;
        let lens: Vec<usize> = (0..=300).chain([1024, 1400, 4096, 16383, 16384]).collect();
        let master = [0x5a; 48];
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        for id in [0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xcca8] {
            let s = suite(id).unwrap();
            let backends: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.runs(s.aead)).collect();
            let secret = vec![0x33; s.hash.output_len()];
            let make = |b: Backend| {
                if s.tls13 {
                    Protection::tls13_on(b, s, &secret).unwrap()
                } else {
                    Protection::tls12_on(b, s, &master, &cr, &sr).unwrap().1
                }
            };
            for &from in &backends {
                for &to in &backends {
                    let (mut sealer, mut opener) = (make(from), make(to));
                    assert_eq!(opener.cipher.backend(), to);
                    let mut buf = Vec::new();
                    for &len in &lens {
                        let pt: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
                        let rec = sealer.seal(23, &pt);
                        let header: [u8; 5] = rec[..5].try_into().unwrap();
                        let frag = &rec[5..];
                        let mut bad = frag.to_vec();
                        *bad.last_mut().unwrap() ^= 1;
                        let seq = opener.seq;
                        assert_eq!(opener.open(&header, &bad, &mut buf), Err(OpenError::BadTag), "{id:#x} {len}");
                        if len > 0 {
                            let mut bad = frag.to_vec();
                            bad[frag.len() - TAG_LEN - 1] ^= 0x40;
                            assert_eq!(opener.open(&header, &bad, &mut buf), Err(OpenError::BadTag));
                        }
                        assert_eq!(opener.seq, seq);
                        let o = opener.open(&header, frag, &mut buf).unwrap();
                        assert_eq!((o.content_type, &buf[..o.len]), (23, &pt[..]), "{id:#x} {from:?}->{to:?} {len}");
                    }
                    // Three records skipped: found on the fourth try of a search.
                    for _ in 0..3 {
                        sealer.seal(23, b"lost");
                    }
                    let rec = sealer.seal(23, &[0xab; 1000]);
                    let header: [u8; 5] = rec[..5].try_into().unwrap();
                    let (o, skipped) = opener.open_searching(&header, &rec[5..], &mut buf, 8).unwrap();
                    assert_eq!((skipped, &buf[..o.len]), (3, &[0xab; 1000][..]), "{id:#x} {from:?}->{to:?}");
                }
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(cipher_suite_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(cipher_suite_name(0xcca8), Some("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
        assert_eq!(cipher_suite_name(0x1234), None);
        assert_eq!(cipher_family(0x002f), "CBC");
        assert_eq!(cipher_family(0x1304), "CCM");
        assert_eq!(alert_description_name(0), Some("close_notify"));
        assert_eq!(alert_description_name(48), Some("unknown_ca"));
        assert_eq!(alert_description_name(120), Some("no_application_protocol"));
        assert_eq!(alert_description_name(200), None);
        for id in [0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0x009c, 0x009e] {
            assert!(suite(id).is_some(), "{id:#x}");
            assert!(cipher_suite_name(id).is_some(), "{id:#x}");
        }
        assert!(suite(0x002f).is_none());
    }
}
