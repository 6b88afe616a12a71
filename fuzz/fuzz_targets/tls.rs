//! The TLS stage on arbitrary bytes: a key log, then chunks sent by either side, with gaps,
//! through `Tls` (and the key log reader on its own text): never a panic, plaintext only from
//! records that opened, facts bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use wsdiag::tls::{KeyLog, Tls, TlsEvent, TlsSink};
use wsdiag::units::{At, PacketNo, Role, Timestamp};

#[derive(Default)]
struct Count {
    plain: u64,
    gaps: u64,
    events: u64,
}

impl TlsSink for Count {
    fn plaintext(&mut self, _: Role, bytes: &[u8], _: At) {
        assert!(!bytes.is_empty());
        self.plain += bytes.len() as u64;
    }
    fn plaintext_gap(&mut self, _: Role, len: u64, _: At) {
        self.gaps += len;
    }
    fn event(&mut self, _: Role, _: At, _: TlsEvent) {
        self.events += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    // [key log length: 2 bytes][key log][chunks: control byte, length byte, bytes]...
    let (keys, mut rest) = match data {
        [a, b, rest @ ..] => {
            let n = (usize::from(*a) << 8 | usize::from(*b)).min(rest.len());
            rest.split_at(n)
        }
        _ => (&[][..], data),
    };
    let mut log = KeyLog::default();
    let warnings = log.add(keys, "fuzz.keys");
    assert!(warnings.len() <= wsdiag::tls::keylog::MAX_WARNINGS + 1);
    let keys = (!keys.is_empty()).then(|| Arc::new(log));
    let mut tls = Tls::new(keys);
    let mut sink = Count::default();
    let mut n = 0u64;
    while let [control, len, tail @ ..] = rest {
        n += 1;
        let at = At { ts: Timestamp(n as i64), packet: PacketNo(n) };
        let from = if control & 1 == 0 { Role::Client } else { Role::Server };
        let len = usize::from(*len).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        if control & 0x80 != 0 {
            tls.gap(from, u64::from(*control & 0x7f) * 37 + chunk.len() as u64, at, &mut sink);
        }
        tls.data(from, chunk, at, &mut sink);
        rest = tail;
    }
    let f = tls.facts();
    assert!(f.alerts.len() <= wsdiag::tls::MAX_ALERTS);
    assert!(f.decrypted || sink.plain == 0);
    if let Some(w) = f.why_not {
        assert!(!w.describe().is_empty());
    }
});
