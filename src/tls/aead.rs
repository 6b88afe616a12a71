//! The AEADs that protect records (AES-128-GCM and AES-256-GCM, RFC 5116 / NIST SP 800-38D;
//! ChaCha20-Poly1305, RFC 8439), over three backends, chosen at run time for each key
//! ([`Backend::best`]):
//!
//! - [`Backend::Graviola`]: the `graviola` crate (Rust and inline assembly: AES-NI / VAES with
//!   (V)PCLMULQDQ GHASH, 8 or 16 blocks at a time; AVX2 / NEON ChaCha20), where the CPU has what
//!   it requires (x86_64: aes, pclmulqdq, avx, avx2, bmi1, adx; aarch64: aes, pmull, neon,
//!   sha2). On another CPU graviola panics at its first call, so it is never called there; on
//!   another architecture it is not built. The best for AES-GCM.
//! - [`Backend::Rscrypto`]: the `rscrypto` crate's ChaCha20-Poly1305 (Rust, with BoringSSL's
//!   stitched AVX2 ChaCha20-Poly1305 assembly as `global_asm!` and AVX-512 kernels, chosen by
//!   its own run-time detection, a portable path under them), on x86_64 CPUs with AVX2 and
//!   BMI2. The best for ChaCha20-Poly1305 there (graviola's Poly1305 is scalar).
//! - [`Backend::RustCrypto`]: `aes-gcm` and `chacha20poly1305`, everywhere: the fallback, and
//!   the reference the others are tested against.
//!
//! All give the same bytes (tests below seal with each and open with each).

use super::keys::{AeadKind, TAG_LEN};
use aes_gcm::aead::{AeadInOut, KeyInit};

/// Where the AEAD arithmetic is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `graviola`: x86_64 and aarch64 CPUs with the features it requires; every AEAD here.
    Graviola,
    /// `rscrypto`: x86_64 CPUs with AVX2 and BMI2; ChaCha20-Poly1305 only.
    Rscrypto,
    /// RustCrypto's `aes-gcm` and `chacha20poly1305`: any CPU, every AEAD here.
    RustCrypto,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 3] = [Backend::Rscrypto, Backend::Graviola, Backend::RustCrypto];

    /// The fastest backend this machine runs `kind` on: rscrypto for ChaCha20-Poly1305 and
    /// graviola for AES-GCM where the CPU allows, else graviola, else RustCrypto.
    pub fn best(kind: AeadKind) -> Backend {
        Backend::ALL.into_iter().find(|b| b.runs(kind)).unwrap_or(Backend::RustCrypto)
    }

    /// Whether this machine can run `kind` on this backend.
    pub fn runs(self, kind: AeadKind) -> bool {
        match self {
            Backend::RustCrypto => true,
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Backend::Graviola => graviola::util::is_cpu_supported(),
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            Backend::Graviola => false,
            #[cfg(target_arch = "x86_64")]
            Backend::Rscrypto => {
                kind == AeadKind::ChaCha20Poly1305
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("bmi2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Rscrypto => {
                let _ = kind;
                false
            }
        }
    }
}

// Boxed where it is kept (in `Protection`), so the size of the largest is no burden.
#[allow(clippy::large_enum_variant)]
enum Inner {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    GraviolaGcm(graviola::aead::AesGcm),
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    GraviolaChaCha(graviola::aead::ChaCha20Poly1305),
    #[cfg(target_arch = "x86_64")]
    RscryptoChaCha(rscrypto::ChaCha20Poly1305),
    Aes128(aes_gcm::Aes128Gcm),
    Aes256(aes_gcm::Aes256Gcm),
    ChaCha(chacha20poly1305::ChaCha20Poly1305),
}

/// One key of one AEAD, on one backend.
pub struct Aead {
    inner: Inner,
}

impl Aead {
    /// The key on the [best](Backend::best) backend; `None` if the key is not the AEAD's
    /// length.
    pub fn new(kind: AeadKind, key: &[u8]) -> Option<Aead> {
        Aead::with_backend(Backend::best(kind), kind, key)
    }

    /// The key on `backend`; `None` if the key is not the AEAD's length, or this machine does
    /// not run the AEAD on that backend.
    pub fn with_backend(backend: Backend, kind: AeadKind, key: &[u8]) -> Option<Aead> {
        if key.len() != kind.key_len() || !backend.runs(kind) {
            return None;
        }
        let inner = match backend {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Backend::Graviola => match kind {
                // The length is checked above: graviola panics on any other.
                AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => Inner::GraviolaGcm(graviola::aead::AesGcm::new(key)),
                AeadKind::ChaCha20Poly1305 => {
                    Inner::GraviolaChaCha(graviola::aead::ChaCha20Poly1305::new(key.try_into().ok()?))
                }
            },
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            Backend::Graviola => return None,
            #[cfg(target_arch = "x86_64")]
            Backend::Rscrypto => match kind {
                AeadKind::ChaCha20Poly1305 => Inner::RscryptoChaCha(rscrypto::ChaCha20Poly1305::new(
                    &rscrypto::ChaCha20Poly1305Key::from_bytes(key.try_into().ok()?),
                )),
                AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => return None,
            },
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Rscrypto => return None,
            Backend::RustCrypto => match kind {
                AeadKind::Aes128Gcm => Inner::Aes128(aes_gcm::Aes128Gcm::new_from_slice(key).ok()?),
                AeadKind::Aes256Gcm => Inner::Aes256(aes_gcm::Aes256Gcm::new_from_slice(key).ok()?),
                AeadKind::ChaCha20Poly1305 => {
                    Inner::ChaCha(chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).ok()?)
                }
            },
        };
        Some(Aead { inner })
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> Backend {
        match self.inner {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Inner::GraviolaGcm(_) | Inner::GraviolaChaCha(_) => Backend::Graviola,
            #[cfg(target_arch = "x86_64")]
            Inner::RscryptoChaCha(_) => Backend::Rscrypto,
            Inner::Aes128(_) | Inner::Aes256(_) | Inner::ChaCha(_) => Backend::RustCrypto,
        }
    }

    /// Decrypts `buf` in place and checks `tag`: `true` with the plaintext in `buf` if it
    /// verifies. On `false` the bytes of `buf` are not the ciphertext any more (graviola and
    /// rscrypto clear them) and not the plaintext either: a caller that tries again must put
    /// the ciphertext back.
    pub fn open_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        match &self.inner {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Inner::GraviolaGcm(c) => c.decrypt(nonce, aad, buf, tag).is_ok(),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Inner::GraviolaChaCha(c) => c.decrypt(nonce, aad, buf, tag).is_ok(),
            #[cfg(target_arch = "x86_64")]
            Inner::RscryptoChaCha(c) => {
                let (nonce, tag) =
                    (rscrypto::aead::Nonce96::from_bytes(*nonce), rscrypto::ChaCha20Poly1305Tag::from_bytes(*tag));
                c.decrypt_in_place(&nonce, aad, buf, &tag).is_ok()
            }
            Inner::Aes128(c) => c.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()).is_ok(),
            Inner::Aes256(c) => c.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()).is_ok(),
            Inner::ChaCha(c) => c.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()).is_ok(),
        }
    }

    /// Encrypts `buf` in place and returns the tag; `None` only past the AEAD's length limit
    /// (2^36 bytes for GCM, 2^38 for ChaCha20-Poly1305), far beyond a record.
    pub fn seal_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        match &self.inner {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Inner::GraviolaGcm(c) => c.encrypt(nonce, aad, buf, &mut tag),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Inner::GraviolaChaCha(c) => c.encrypt(nonce, aad, buf, &mut tag),
            #[cfg(target_arch = "x86_64")]
            Inner::RscryptoChaCha(c) => {
                use rscrypto::aead::expert::AeadWithNonce;
                let nonce = rscrypto::aead::Nonce96::from_bytes(*nonce);
                tag = *c.encrypt_in_place(&nonce, aad, buf).ok()?.as_bytes();
            }
            Inner::Aes128(c) => tag = c.encrypt_inout_detached(nonce.into(), aad, buf.into()).ok()?.into(),
            Inner::Aes256(c) => tag = c.encrypt_inout_detached(nonce.into(), aad, buf.into()).ok()?.into(),
            Inner::ChaCha(c) => tag = c.encrypt_inout_detached(nonce.into(), aad, buf.into()).ok()?.into(),
        }
        Some(tag)
    }
}

impl std::fmt::Debug for Aead {
    /// Keys are not printed; the backend is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aead({:?})", self.backend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keys::unhex;

    const KINDS: [AeadKind; 3] = [AeadKind::Aes128Gcm, AeadKind::Aes256Gcm, AeadKind::ChaCha20Poly1305];

    /// Every backend this machine runs `kind` on (RustCrypto always).
    fn backends(kind: AeadKind) -> Vec<Backend> {
        Backend::ALL.into_iter().filter(|b| b.runs(kind)).collect()
    }

    /// A known-answer vector: (AEAD, key, nonce, AAD, plaintext, ciphertext, tag), hex.
    type Vector = (AeadKind, &'static str, &'static str, &'static str, &'static str, &'static str, &'static str);

    /// The RFC 8439 §2.8.2 plaintext ("Ladies and Gentlemen of the class of '99: ...").
    const SUNSCREEN: &str = "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a20\
        4966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c20\
        73756e73637265656e20776f756c642062652069742e";

    const VECTORS: &[Vector] = &[
        // RFC 8439 §2.8.2, ChaCha20-Poly1305.
        (
            AeadKind::ChaCha20Poly1305,
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            "070000004041424344454647",
            "50515253c0c1c2c3c4c5c6c7",
            SUNSCREEN,
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
             1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
             3ff4def08e4b7a9de576d26586cec64b6116",
            "1ae10b594f09e26a7e902ecbd0600691",
        ),
        // NIST CAVP gcmEncryptExtIV128.rsp (96-bit IV, 408-bit AAD and plaintext, 128-bit tag).
        (
            AeadKind::Aes128Gcm,
            "55c8bcb0021090e4b2c785c79cb966b8",
            "5e9f1313282f73d7ffb92837",
            "f7e14a57e3bb6b99866b90573d7bc355baeb7ac347e43d0b65d97ecc2eb9c772401a8e3c7e9e2871c2b79579d44c139e\
             62c33b42a9e0c87686960009d659d5e3874e168c334b6650c6d36168633757a7c20764232ce94a0de1a5",
            "2d7c1b689189bbfa2be26ad5c1f296dee4c0f61456ffc94cf8e70aad0f09d0608c4115aa6ed5eba93ed5820b3f3426bb\
             f4d64a",
            "ba59002df3394c5b80983519dc163eca5c44df80f8c4c4e15d3ff73f13c170c80a59d87a2165a7b450be01031a8e41c5\
             05c89f",
            "28418c564731bddf3d504d8ed32e66ee",
        ),
        // NIST CAVP gcmEncryptExtIV256.rsp, empty plaintext and AAD, then a full one.
        (
            AeadKind::Aes256Gcm,
            "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
            "516c33929df5a3284ff463d7",
            "",
            "",
            "",
            "bdc1ac884d332457a1d2664f168c76f0",
        ),
        (
            AeadKind::Aes256Gcm,
            "6be7f4d18ff0fbdd9b3b3cacaba4629a0c617387079add62f6ce1584b33faad1",
            "fda568c9cb13d9c176bcef03",
            "11ebeb97dd4a9925c1fbe2b9af77392058d2d971e42db15da39f090d7bc132573c34bf7d92a2d72dc66ee6840c3ff079\
             85b8976ee8d8f36bf47ae330b899fdc60652dd5a23c45f3680f11951f019e0697c8acfcaa95f01b9c7dd",
            "4df668e99d5068604a48bcca5baa8245435928558a83d68d7b0b081861224e9bd39ea8f2d55a635949e66c6f6a7ff5cc\
             34dd94",
            "488b40ad594e1845ccdd9e9467fc5e1afbbfde34e57d45bfcd30b61cc326d57fe8e3f31a39cdebf00f60bbd2c3cdf69f\
             756eff",
            "3bf3fbab9b48486fd08a5552604df639",
        ),
    ];

    fn nonce(hex: &str) -> [u8; 12] {
        unhex(hex).try_into().unwrap()
    }

    fn tag(hex: &str) -> [u8; TAG_LEN] {
        unhex(hex).try_into().unwrap()
    }

    #[test]
    fn known_answers_on_every_backend() {
        for &(kind, key, n, aad, pt, ct, t) in VECTORS {
            assert!(Backend::RustCrypto.runs(kind));
            for b in backends(kind) {
                let a = Aead::with_backend(b, kind, &unhex(key)).unwrap();
                assert_eq!(a.backend(), b);
                let (n, aad, t) = (nonce(n), unhex(aad), tag(t));
                let mut buf = unhex(pt);
                assert_eq!(a.seal_in_place(&n, &aad, &mut buf), Some(t), "{b:?} {kind:?} seal");
                assert_eq!(buf, unhex(ct), "{b:?} {kind:?} ciphertext");
                assert!(a.open_in_place(&n, &aad, &mut buf, &t), "{b:?} {kind:?} open");
                assert_eq!(buf, unhex(pt), "{b:?} {kind:?} plaintext");
                // Tampered: a tag bit, a ciphertext bit, an AAD bit, the nonce.
                let mut bad_tag = t;
                bad_tag[15] ^= 1;
                let mut c = unhex(ct);
                assert!(!a.open_in_place(&n, &aad, &mut c, &bad_tag), "{b:?} {kind:?} bad tag");
                if !c.is_empty() {
                    let mut c = unhex(ct);
                    c[0] ^= 0x80;
                    assert!(!a.open_in_place(&n, &aad, &mut c, &t), "{b:?} {kind:?} bad ciphertext");
                }
                let mut c = unhex(ct);
                let mut aad2 = aad.clone();
                aad2.push(0);
                assert!(!a.open_in_place(&n, &aad2, &mut c, &t), "{b:?} {kind:?} bad AAD");
                let mut n2 = n;
                n2[11] ^= 1;
                let mut c = unhex(ct);
                assert!(!a.open_in_place(&n2, &aad, &mut c, &t), "{b:?} {kind:?} bad nonce");
            }
        }
    }

    #[test]
    fn wrong_key_lengths_are_refused() {
        for kind in KINDS {
            for b in backends(kind) {
                for len in [0, 15, 17, 24, 31, 33, 48] {
                    if len != kind.key_len() {
                        assert!(Aead::with_backend(b, kind, &vec![7; len]).is_none(), "{b:?} {kind:?} {len}");
                    }
                }
            }
        }
    }

    /// Bytes that look random enough for a cross-check (an LCG).
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    /// Sealed with each backend, opened with each (the fast one against the simple one both
    /// ways), for every length 0..=300 (every tail of a 16- and 64-byte block) and a few large
    /// ones up to the longest TLS 1.2 record; tampered tags and ciphertexts refused by both.
    #[test]
    fn backends_agree_at_every_length() {
        let lens: Vec<usize> =
            (0..=300).chain([511, 512, 513, 1024, 1400, 4095, 4096, 16383, 16384, 16401, 18432]).collect();
        for kind in KINDS {
            let key = bytes(kind.key_len() as u64, kind.key_len());
            let aeads: Vec<Aead> = backends(kind).iter().map(|&b| Aead::with_backend(b, kind, &key).unwrap()).collect();
            for &len in &lens {
                let pt = bytes(len as u64, len);
                let n: [u8; 12] = bytes(len as u64 + 1, 12).try_into().unwrap();
                let aad = bytes(len as u64 + 2, len % 14);
                let sealed: Vec<(Vec<u8>, [u8; TAG_LEN])> = aeads
                    .iter()
                    .map(|a| {
                        let mut c = pt.clone();
                        let t = a.seal_in_place(&n, &aad, &mut c).unwrap();
                        (c, t)
                    })
                    .collect();
                for s in &sealed[1..] {
                    assert_eq!(s, &sealed[0], "{kind:?} len {len}: backends seal differently");
                }
                let (ct, t) = &sealed[0];
                for a in &aeads {
                    let mut c = ct.clone();
                    assert!(a.open_in_place(&n, &aad, &mut c, t), "{a:?} {kind:?} len {len}");
                    assert_eq!(c, pt, "{a:?} {kind:?} len {len}");
                    let mut bad = *t;
                    bad[len % TAG_LEN] ^= 1 << (len % 8);
                    let mut c = ct.clone();
                    assert!(!a.open_in_place(&n, &aad, &mut c, &bad), "{a:?} {kind:?} len {len}: bad tag");
                    if len > 0 {
                        let mut c = ct.clone();
                        c[len / 2] ^= 0x01;
                        assert!(!a.open_in_place(&n, &aad, &mut c, t), "{a:?} {kind:?} len {len}: bad byte");
                    }
                }
            }
        }
    }

    #[test]
    fn best_is_the_first_that_runs() {
        for kind in KINDS {
            let b = Backend::best(kind);
            assert_eq!(Some(b), backends(kind).first().copied(), "{kind:?}");
            let a = Aead::new(kind, &vec![1; kind.key_len()]).unwrap();
            assert_eq!(a.backend(), b);
            assert_eq!(format!("{a:?}"), format!("Aead({b:?})"));
        }
        // rscrypto is here for ChaCha20-Poly1305 only.
        assert!(!Backend::Rscrypto.runs(AeadKind::Aes128Gcm) && !Backend::Rscrypto.runs(AeadKind::Aes256Gcm));
        assert!(Aead::with_backend(Backend::Rscrypto, AeadKind::Aes256Gcm, &[1; 32]).is_none());
    }
}
