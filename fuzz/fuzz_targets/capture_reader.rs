//! The capture reader on arbitrary bytes: every packet it yields must lie inside the input, and
//! it must end. The input is fed through a reader that returns at most a few bytes per call
//! (chosen by the first byte) so refill paths run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use wsdiag::capture::CaptureReader;

/// A `Read` that hands out at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn drain(r: &mut CaptureReader<impl Read>, total: usize) {
    let mut bytes = 0usize;
    let mut packets = 0u64;
    while let Some(p) = r.next() {
        bytes += p.data.len();
        packets += 1;
        assert!(p.data.len() <= total, "packet longer than the input");
    }
    assert!(bytes <= total, "more packet bytes than input bytes");
    assert_eq!(packets, r.packets());
    for w in r.take_warnings() {
        assert!(!w.to_string().is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    // Whole slice at once.
    if let Ok(mut r) = CaptureReader::new(rest, "fuzz", 1) {
        drain(&mut r, rest.len());
    }
    // Trickled.
    let step = usize::from(ctl % 64) + 1;
    if let Ok(mut r) = CaptureReader::new(Trickle { data: rest, step }, "fuzz", 1) {
        drain(&mut r, rest.len());
    }
});
