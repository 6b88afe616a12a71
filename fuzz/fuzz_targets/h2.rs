//! The HTTP/2 stage on arbitrary bytes: the client preface, then chunks sent by either side,
//! with gaps, through `H2`: never a panic, DATA only as much as the frames carried, buffers
//! bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::http::h2::{H2, H2Event, H2Sink, MAX_BLOCK, MAX_BUFFERED, PREFACE};
use wsdiag::units::{At, PacketNo, Role, Timestamp};

#[derive(Default)]
struct Count {
    data: u64,
    framed: u64,
}

impl H2Sink for Count {
    fn event(&mut self, _: Role, _: At, ev: H2Event) {
        if let H2Event::Data { len, .. } = ev {
            self.framed += u64::from(len);
        }
    }
    fn data(&mut self, _: Role, _: u32, bytes: &[u8], _: At) {
        assert!(!bytes.is_empty());
        self.data += bytes.len() as u64;
    }
    fn data_gap(&mut self, _: Role, _: u32, len: u64, _: At) {
        self.data += len;
    }
}

fuzz_target!(|input: &[u8]| {
    let mut h2 = H2::default();
    let mut sink = Count::default();
    let at = At { ts: Timestamp(0), packet: PacketNo(1) };
    h2.data(Role::Client, PREFACE, at, &mut sink);
    // Each chunk: a control byte (side, gap or data, length), then its bytes.
    let mut rest = input;
    while let Some((&ctl, tail)) = rest.split_first() {
        let role = if ctl & 1 == 0 { Role::Client } else { Role::Server };
        let len = usize::from(ctl >> 2) * 7 + 1;
        if ctl & 2 != 0 && ctl & 0x80 != 0 {
            h2.gap(role, len as u64, at, &mut sink);
            rest = tail;
            continue;
        }
        let n = len.min(tail.len());
        h2.data(role, &tail[..n], at, &mut sink);
        rest = &tail[n..];
        assert!(h2.buffered() <= 2 * (MAX_BUFFERED + MAX_BLOCK + 64 * 1024 + 16 * 1024), "{}", h2.buffered());
    }
    // Payload bytes handed up never exceed what DATA frames (and padding) announced, plus the
    // frame still being read.
    assert!(sink.data <= sink.framed + (1 << 24), "{} > {}", sink.data, sink.framed);
});
