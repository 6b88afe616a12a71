//! Two TCP assemblers sharing one budget, driven by a script of segments, ACKs, FINs and SYNs
//! decoded from the input. Nothing is compared with a model (the unit tests do that); the checks
//! are: no panic, the sink sees exactly the bytes the stats count, and after a flush every
//! buffered byte is released (`budget.used == 0`).
//!
//! Input: 8-byte header (isn u32, cap u16, budget u16), then 8-byte records:
//! `op u8, offset u32 (from isn+1, wraps), len u16, extra u8`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::tcp::{Assembler, Budget, Meta, Sink};
use wsdiag::units::{PacketNo, Timestamp};

#[derive(Default)]
struct Count {
    data: u64,
    gaps: u64,
    gap_bytes: u64,
}

impl Sink for Count {
    fn data(&mut self, bytes: &[u8], _meta: Meta) {
        assert!(!bytes.is_empty());
        self.data += bytes.len() as u64;
    }
    fn gap(&mut self, len: u64, _meta: Meta) {
        assert!(len > 0);
        self.gaps += 1;
        self.gap_bytes += len;
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 8 {
        return;
    }
    let isn = u32_at(input, 0);
    let cap = usize::from(u16_at(input, 4)) * 4;
    let limit = usize::from(u16_at(input, 6)) * 8;
    let mut budget = Budget::new(limit);
    let mut asm = [Assembler::new(cap), Assembler::new(cap)];
    let mut sinks = [Count::default(), Count::default()];
    let mut payload = vec![0u8; 4096];
    for (i, rec) in input[8..].chunks_exact(8).enumerate() {
        let op = rec[0];
        let off = u32_at(rec, 1);
        let len = usize::from(u16_at(rec, 5)) % 4097;
        let extra = rec[7];
        let seq = isn.wrapping_add(1).wrapping_add(off);
        let side = usize::from(op >> 7);
        let meta = Meta { packet: PacketNo(i as u64 + 1), ts: Timestamp(i as i64) };
        let (a, sink) = (&mut asm[side], &mut sinks[side]);
        match op & 0x7 {
            0..=3 => {
                // Stream bytes are a function of their offset; bit 3 makes them conflict.
                let conflict = op & 0x08 != 0;
                for (j, b) in payload[..len].iter_mut().enumerate() {
                    let at = off.wrapping_add(j as u32);
                    *b = (at.wrapping_mul(31) >> 3) as u8 ^ if conflict { 0x5a } else { 0 };
                }
                // Bits 4..6 scale the bytes missing after the captured ones (a snaplen cut).
                let missing = u32::from(extra) << (((op >> 4) & 0x7) * 4);
                a.segment(seq, &payload[..len], missing, meta, &mut budget, sink);
            }
            4 => a.peer_ack(seq, meta, &mut budget, sink),
            5 => a.fin(seq, u32::from(extra)),
            6 => a.syn(seq.wrapping_sub(1)),
            _ => a.flush(&mut budget, sink),
        }
        let pending: usize = asm.iter().map(Assembler::pending_bytes).sum();
        assert_eq!(budget.used, pending, "budget out of step with the buffers");
        assert!(asm.iter().all(|a| a.pending_bytes() <= cap));
        assert!(budget.used <= limit);
    }
    for (a, sink) in asm.iter_mut().zip(sinks.iter_mut()) {
        a.flush(&mut budget, sink);
        assert_eq!(a.pending_bytes(), 0);
        assert_eq!(sink.data, a.stats.delivered);
        assert_eq!(sink.gap_bytes, a.stats.gap_bytes);
        assert_eq!(sink.gaps, u64::from(a.stats.gaps));
    }
    assert_eq!(budget.used, 0, "flush left bytes counted against the budget");
});
