//! Per-direction TCP reassembly (RFC 9293 §3.4 sequence space), in the spirit of smoltcp's
//! `storage/assembler.rs`: out-of-order segments are buffered (capped), retransmissions are
//! trimmed and counted, overlaps with different bytes are flagged, and bytes that never made it
//! into the capture become explicit gaps. Sequence numbers are mapped onto a 64-bit absolute
//! offset, so wrap-around at 2^32 needs no special case anywhere else.

use std::collections::BTreeMap;

/// Where delivered bytes came from: the packet that completed them.
pub use crate::units::At as Meta;

/// Receives the in-order stream of one direction.
pub trait Sink {
    /// The next in-order bytes.
    fn data(&mut self, bytes: &[u8], meta: Meta);
    /// `len` bytes the capture does not have (lost, cut by a snaplen, or given up on).
    fn gap(&mut self, len: u64, meta: Meta);
}

/// A byte budget shared by all assemblers of one analysis, so that the out-of-order buffers of
/// many flows together stay bounded. It also counts the bytes the connections' HTTP layers hold
/// (partial heads, frames sent before the 101), which have a limit of their own.
#[derive(Debug)]
pub struct Budget {
    pub used: usize,
    pub limit: usize,
    /// Bytes given up on because the budget was full.
    pub dropped: u64,
    /// Bytes held in HTTP buffers across all connections, and their limit.
    pub heads: usize,
    pub heads_limit: usize,
    /// HTTP buffer bytes given up on because `heads_limit` was reached.
    pub heads_dropped: u64,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { used: 0, limit, dropped: 0, heads: 0, heads_limit: usize::MAX, heads_dropped: 0 }
    }

    /// With a limit on the bytes held by HTTP buffers.
    pub fn with_heads_limit(mut self, limit: usize) -> Self {
        self.heads_limit = limit;
        self
    }
}

/// Counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Segments carrying only bytes already delivered or buffered (or partly so).
    pub retransmissions: u32,
    /// Overlaps whose bytes differ from the ones first seen (RFC 9293 says they must not).
    pub conflicts: u32,
    /// Separate gaps and the bytes they cover.
    pub gaps: u32,
    pub gap_bytes: u64,
    /// Segments that arrived ahead of the next expected byte.
    pub out_of_order: u32,
    /// Keep-alive probes (one byte or none, just below the next expected byte).
    pub keepalives: u32,
    /// Payload bytes delivered in order.
    pub delivered: u64,
    /// Out-of-order bytes given up on because a buffer cap was reached.
    pub dropped_bytes: u64,
}

enum Chunk {
    Data(Vec<u8>),
    Hole(u64),
}

const TAIL: usize = 128;
/// Segments further than this from the next expected byte are out of any plausible window.
const MAX_AHEAD: u64 = 1 << 30;
/// Buffered chunks per direction: each costs ~125 bytes whatever it holds, so tiny or
/// snaplen-cut segments are bounded in number, not only in bytes.
const MAX_CHUNKS: usize = 1024;

/// One direction of a TCP connection.
pub struct Assembler {
    /// Sequence number of absolute offset 0.
    base: u32,
    /// Absolute offset of the next byte to deliver; `None` until the first SYN or data.
    next: Option<u64>,
    pending: BTreeMap<u64, (Chunk, Meta)>,
    pending_bytes: usize,
    cap: usize,
    fin: Option<u64>,
    /// The last delivered bytes, to check retransmissions against.
    tail: Vec<u8>,
    pub stats: AssemblerStats,
    /// How far the peer has acknowledged (u64::MAX: nothing yet) and how far this side has
    /// sent, as absolute offsets.
    acked: u64,
    sent: u64,
}

impl Assembler {
    /// An assembler buffering at most `cap` out-of-order bytes.
    pub fn new(cap: usize) -> Self {
        Assembler {
            base: 0,
            next: None,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            cap,
            fin: None,
            tail: Vec::new(),
            stats: AssemblerStats::default(),
            acked: u64::MAX,
            sent: 0,
        }
    }

    /// True once the start of the stream is known (SYN or first data).
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Bytes buffered out of order right now.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    fn abs(&self, seq: u32) -> Option<i64> {
        let next = self.next?;
        let next_seq = self.base.wrapping_add(next as u32);
        Some(next as i64 + i64::from(seq.wrapping_sub(next_seq) as i32))
    }

    /// A SYN with initial sequence number `isn`: data starts at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.next.is_none() {
            self.base = isn.wrapping_add(1);
            self.next = Some(0);
        }
    }

    /// A FIN at `seq` after `len` payload bytes.
    pub fn fin(&mut self, seq: u32, len: u32) {
        if self.next.is_none() {
            self.base = seq.wrapping_add(len);
            self.next = Some(0);
        }
        if let Some(a) = self.abs(seq)
            && a >= 0
        {
            let at = a as u64 + u64::from(len);
            // A bare FIN seen again is a retransmission (as tshark counts them).
            if len == 0 && self.fin == Some(at) {
                self.stats.retransmissions += 1;
            }
            self.fin = Some(at);
        }
    }

    /// A segment's payload: `data` captured bytes followed by `missing` bytes on the wire that
    /// the capture does not have.
    pub fn segment(
        &mut self,
        seq: u32,
        data: &[u8],
        missing: u32,
        meta: Meta,
        budget: &mut Budget,
        sink: &mut impl Sink,
    ) {
        let wire = data.len() as u64 + u64::from(missing);
        if wire == 0 {
            return;
        }
        if self.next.is_none() {
            self.base = seq;
            self.next = Some(0);
        }
        let (Some(next), Some(abs)) = (self.next, self.abs(seq)) else { return };
        let end = abs + wire as i64;
        if end > 0 && (end as u64).saturating_sub(next) <= MAX_AHEAD {
            self.sent = self.sent.max(end as u64);
        }
        if end <= next as i64 {
            if wire <= 1 && end == next as i64 {
                self.stats.keepalives += 1;
            } else {
                self.stats.retransmissions += 1;
                self.check_tail(abs, data, next);
            }
            return;
        }
        let (mut data, mut missing, mut abs) = (data, u64::from(missing), abs);
        if abs < next as i64 {
            self.stats.retransmissions += 1;
            self.check_tail(abs, data, next);
            let skip = (next as i64 - abs) as u64;
            if skip <= data.len() as u64 {
                data = &data[skip as usize..];
            } else {
                missing -= skip - data.len() as u64;
                data = &[];
            }
            abs = next as i64;
        }
        let abs = abs as u64;
        if abs == next {
            self.deliver(data, missing, meta, sink);
            if !self.pending.is_empty() {
                self.drain(budget, sink);
            }
            return;
        }
        if abs - next > MAX_AHEAD {
            return;
        }
        self.stats.out_of_order += 1;
        self.buffer(abs, data, missing, meta, budget, sink);
    }

    fn check_tail(&mut self, abs: i64, data: &[u8], next: u64) {
        // Compare what overlaps the remembered tail of the delivered stream.
        let tail_start = next as i64 - self.tail.len() as i64;
        for (i, b) in data.iter().enumerate() {
            let at = abs + i as i64;
            if at >= next as i64 {
                break;
            }
            if at >= tail_start && self.tail[(at - tail_start) as usize] != *b {
                self.stats.conflicts += 1;
                return;
            }
        }
    }

    fn remember(&mut self, data: &[u8]) {
        if data.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - TAIL..]);
        } else {
            let keep = (TAIL - data.len()).min(self.tail.len());
            let drop = self.tail.len() - keep;
            self.tail.drain(..drop);
            self.tail.extend_from_slice(data);
        }
    }

    fn deliver(&mut self, data: &[u8], missing: u64, meta: Meta, sink: &mut impl Sink) {
        if !data.is_empty() {
            sink.data(data, meta);
            self.stats.delivered += data.len() as u64;
            self.remember(data);
        }
        if missing > 0 {
            self.gap(missing, meta, sink);
        }
        if let Some(n) = self.next.as_mut() {
            *n += data.len() as u64 + missing;
        }
    }

    fn gap(&mut self, len: u64, meta: Meta, sink: &mut impl Sink) {
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        self.tail.clear();
        sink.gap(len, meta);
    }

    fn buffer(&mut self, abs: u64, data: &[u8], missing: u64, meta: Meta, budget: &mut Budget, sink: &mut impl Sink) {
        // Same start as a buffered chunk: compare, keep the longer.
        if let Some((Chunk::Data(old), _)) = self.pending.get(&abs) {
            let n = old.len().min(data.len());
            if old[..n] != data[..n] {
                self.stats.conflicts += 1;
            }
            if old.len() >= data.len() {
                self.stats.retransmissions += 1;
                return;
            }
        }
        while !self.pending.is_empty()
            && (self.pending_bytes + data.len() > self.cap
                || budget.used + data.len() > budget.limit
                || self.pending.len() + 2 > MAX_CHUNKS)
        {
            self.give_up_first(budget, sink);
        }
        if self.next.is_some_and(|n| abs <= n) {
            // Giving up moved the stream past this segment's start.
            let seq = self.base.wrapping_add(abs as u32);
            let missing32 = missing.min(u64::from(u32::MAX)) as u32;
            self.segment(seq, data, missing32, meta, budget, sink);
            return;
        }
        let chunk = if self.pending_bytes + data.len() > self.cap || budget.used + data.len() > budget.limit {
            self.stats.dropped_bytes += data.len() as u64;
            budget.dropped += data.len() as u64;
            Chunk::Hole(data.len() as u64)
        } else {
            self.pending_bytes += data.len();
            budget.used += data.len();
            Chunk::Data(data.to_vec())
        };
        let len = data.len() as u64;
        match self.pending.insert(abs, (chunk, meta)) {
            Some((Chunk::Data(d), _)) => {
                self.pending_bytes -= d.len();
                budget.used -= d.len();
            }
            // A hole (bytes given up on) longer than what replaces it: the rest stays known.
            Some((Chunk::Hole(n), m)) if n > len => self.hole(abs + len, n - len, m),
            _ => {}
        }
        if missing > 0 {
            self.hole(abs + len, missing, meta);
        }
    }

    /// Records that the stream reaches `at + len` with no bytes for `[at, at + len)`, past
    /// whatever is buffered from `at` on (a hole must not be lost under a shorter chunk, or the
    /// gap at the end of the stream would come out short).
    fn hole(&mut self, mut at: u64, mut len: u64, meta: Meta) {
        loop {
            match self.pending.get_mut(&at) {
                None => {
                    self.pending.insert(at, (Chunk::Hole(len), meta));
                    return;
                }
                Some((Chunk::Hole(h), _)) => {
                    *h = (*h).max(len);
                    return;
                }
                Some((Chunk::Data(d), _)) => {
                    let n = d.len() as u64;
                    if n >= len || n == 0 {
                        return;
                    }
                    at += n;
                    len -= n;
                }
            }
        }
    }

    /// Delivers every buffered chunk that now starts at or before the next expected byte.
    fn drain(&mut self, budget: &mut Budget, sink: &mut impl Sink) {
        while let Some(next) = self.next {
            let Some(entry) = self.pending.first_entry() else { return };
            let start = *entry.key();
            if start > next {
                return;
            }
            let (chunk, meta) = entry.remove();
            let skip = next - start;
            match chunk {
                Chunk::Data(d) => {
                    self.pending_bytes -= d.len();
                    budget.used -= d.len();
                    if skip < d.len() as u64 {
                        self.deliver(&d[skip as usize..], 0, meta, sink);
                    }
                }
                Chunk::Hole(n) => {
                    if skip < n {
                        self.deliver(&[], n - skip, meta, sink);
                    }
                }
            }
        }
    }

    /// Gives up on the bytes before the first buffered chunk: a gap, then delivery resumes.
    fn give_up_first(&mut self, budget: &mut Budget, sink: &mut impl Sink) {
        let Some((&start, (_, meta))) = self.pending.first_key_value() else { return };
        let meta = *meta;
        if let Some(next) = self.next
            && start > next
        {
            self.deliver(&[], start - next, meta, sink);
        }
        self.drain(budget, sink);
    }

    /// The peer acknowledged everything before `ack`: bytes up to there that the capture never
    /// showed are a gap (RFC 9293 §3.4: an ACK covers only data the receiver got).
    pub fn peer_ack(&mut self, ack: u32, meta: Meta, budget: &mut Budget, sink: &mut impl Sink) {
        let (Some(next), Some(target)) = (self.next, self.abs(ack)) else { return };
        if target >= 0 && (target as u64).saturating_sub(next) <= MAX_AHEAD {
            self.acked = if self.acked == u64::MAX { target as u64 } else { self.acked.max(target as u64) };
        }
        let mut target = target;
        if let Some(f) = self.fin
            && target == f as i64 + 1
        {
            target = f as i64;
        }
        if target <= next as i64 || target as u64 - next > MAX_AHEAD {
            return;
        }
        let target = target as u64;
        while self.next.is_some_and(|n| n < target) {
            let next = self.next.unwrap_or(target);
            let first = self.pending.first_key_value().map(|(k, _)| *k);
            match first {
                Some(s) if s <= next => self.drain(budget, sink),
                Some(s) if s < target => {
                    self.deliver(&[], s - next, meta, sink);
                }
                _ => self.deliver(&[], target - next, meta, sink),
            }
        }
        self.drain(budget, sink);
    }

    /// Does `seq` (of a FIN or RST from this side) fit what this side sent: between what the
    /// peer acknowledged and what was sent, give or take a window (RFC 5961 §3)? None before
    /// the stream's start is known.
    pub fn seq_fits(&self, seq: u32) -> Option<bool> {
        let abs = self.abs(seq)?;
        let lo = self.acked().unwrap_or(0) as i64 - 65_535;
        let hi = self.sent.max(self.next.unwrap_or(0)) as i64 + 65_535;
        Some(abs >= lo && abs <= hi)
    }

    /// How far the peer has acknowledged this direction (absolute offset; a FIN counts one).
    pub fn acked(&self) -> Option<u64> {
        (self.acked != u64::MAX).then_some(self.acked)
    }

    /// Bytes sent (as far as the capture saw) beyond what the peer acknowledged; 0 when no
    /// acknowledgement was seen at all.
    pub fn unacked(&self) -> u64 {
        self.acked().map_or(0, |a| self.sent.saturating_sub(a))
    }

    /// The stream ends (RST, end of capture): everything buffered is delivered, with gaps for
    /// the holes before it.
    pub fn flush(&mut self, budget: &mut Budget, sink: &mut impl Sink) {
        while !self.pending.is_empty() {
            self.give_up_first(budget, sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{PacketNo, Timestamp};
    use proptest::prelude::*;

    #[derive(Default, Debug, PartialEq)]
    struct Out {
        items: Vec<Item>,
    }
    #[derive(Debug, PartialEq, Clone)]
    enum Item {
        D(Vec<u8>),
        G(u64),
    }
    impl Sink for Out {
        fn data(&mut self, b: &[u8], _m: Meta) {
            if let Some(Item::D(d)) = self.items.last_mut() {
                d.extend_from_slice(b);
            } else {
                self.items.push(Item::D(b.to_vec()));
            }
        }
        fn gap(&mut self, n: u64, _m: Meta) {
            if let Some(Item::G(g)) = self.items.last_mut() {
                *g += n;
            } else {
                self.items.push(Item::G(n));
            }
        }
    }

    fn m(n: u64) -> Meta {
        Meta { packet: PacketNo(n), ts: Timestamp(0) }
    }

    fn run(isn: u32, segs: &[(u32, &[u8])]) -> (Out, AssemblerStats) {
        let mut a = Assembler::new(1 << 20);
        let mut b = Budget::new(1 << 24);
        let mut out = Out::default();
        a.syn(isn);
        for (i, (off, d)) in segs.iter().enumerate() {
            a.segment(isn.wrapping_add(1).wrapping_add(*off), d, 0, m(i as u64 + 1), &mut b, &mut out);
        }
        a.flush(&mut b, &mut out);
        assert_eq!(b.used, 0);
        (out, a.stats)
    }

    #[test]
    fn in_order() {
        let (o, s) = run(100, &[(0, b"abc"), (3, b"def")]);
        assert_eq!(o.items, vec![Item::D(b"abcdef".to_vec())]);
        assert_eq!(s.delivered, 6);
    }

    #[test]
    fn out_of_order_then_fill() {
        let (o, s) = run(100, &[(3, b"def"), (0, b"abc")]);
        assert_eq!(o.items, vec![Item::D(b"abcdef".to_vec())]);
        assert_eq!(s.out_of_order, 1);
    }

    #[test]
    fn overlap_and_exact_retransmission() {
        let (o, s) = run(7, &[(0, b"abcd"), (2, b"cdef"), (0, b"ab")]);
        assert_eq!(o.items, vec![Item::D(b"abcdef".to_vec())]);
        assert_eq!(s.retransmissions, 2);
        assert_eq!(s.conflicts, 0);
    }

    #[test]
    fn conflicting_overlap_is_flagged() {
        let (o, s) = run(7, &[(0, b"abcd"), (2, b"XYef")]);
        assert_eq!(o.items, vec![Item::D(b"abcdef".to_vec())]);
        assert_eq!(s.conflicts, 1);
        let (_, s) = run(7, &[(4, b"efgh"), (4, b"eXgh"), (0, b"abcd")]);
        assert_eq!(s.conflicts, 1);
    }

    #[test]
    fn gap_at_flush_then_delivery_resumes() {
        let (o, s) = run(0, &[(0, b"ab"), (5, b"fg")]);
        assert_eq!(o.items, vec![Item::D(b"ab".to_vec()), Item::G(3), Item::D(b"fg".to_vec())]);
        assert_eq!((s.gaps, s.gap_bytes), (1, 3));
    }

    #[test]
    fn wraps_around_2_pow_32() {
        let isn = u32::MAX - 2;
        let (o, _) = run(isn, &[(0, b"ab"), (4, b"ef"), (2, b"cd"), (6, b"gh")]);
        assert_eq!(o.items, vec![Item::D(b"abcdefgh".to_vec())]);
    }

    #[test]
    fn one_byte_at_a_time_reversed() {
        let text = b"the quick brown fox";
        let segs: Vec<(u32, &[u8])> = (0..text.len()).rev().map(|i| (i as u32, &text[i..i + 1])).collect();
        let (o, _) = run(99, &segs);
        assert_eq!(o.items, vec![Item::D(text.to_vec())]);
    }

    #[test]
    fn keepalive_is_not_data() {
        let mut a = Assembler::new(1024);
        let mut b = Budget::new(1024);
        let mut out = Out::default();
        a.syn(0);
        a.segment(1, b"abc", 0, m(1), &mut b, &mut out);
        a.segment(3, b"c", 0, m(2), &mut b, &mut out);
        a.segment(3, b"", 0, m(3), &mut b, &mut out);
        assert_eq!(a.stats.keepalives, 1);
        assert_eq!(a.stats.retransmissions, 0);
    }

    #[test]
    fn snaplen_missing_bytes_are_a_gap_in_place() {
        let mut a = Assembler::new(1024);
        let mut b = Budget::new(1024);
        let mut out = Out::default();
        a.syn(0);
        a.segment(1, b"ab", 3, m(1), &mut b, &mut out);
        a.segment(6, b"fg", 0, m(2), &mut b, &mut out);
        assert_eq!(out.items, vec![Item::D(b"ab".to_vec()), Item::G(3), Item::D(b"fg".to_vec())]);
    }

    #[test]
    fn ack_beyond_seen_data_is_a_gap() {
        let mut a = Assembler::new(1024);
        let mut b = Budget::new(1024);
        let mut out = Out::default();
        a.syn(0);
        a.segment(1, b"ab", 0, m(1), &mut b, &mut out);
        a.segment(11, b"kl", 0, m(2), &mut b, &mut out);
        a.peer_ack(13, m(3), &mut b, &mut out);
        assert_eq!(out.items, vec![Item::D(b"ab".to_vec()), Item::G(8), Item::D(b"kl".to_vec())]);
        assert_eq!(b.used, 0);
        // An ACK of the FIN is not a gap; the FIN again is a retransmission.
        a.fin(13, 0);
        a.fin(13, 0);
        assert_eq!(a.stats.retransmissions, 1);
        a.peer_ack(14, m(4), &mut b, &mut out);
        assert_eq!(a.stats.gaps, 1);
    }

    #[test]
    fn tiny_out_of_order_segments_are_bounded_in_number() {
        // Hostile input: 100k out-of-order segments of one captured byte, or none (a snaplen
        // cut). Each was a buffered chunk costing ~125 bytes of memory that the byte caps
        // counted as 1 or 0: 200k of them took 25 MB against a 256 kB cap.
        let mut a = Assembler::new(256 * 1024);
        let mut b = Budget::new(32 << 20);
        let mut out = Out::default();
        a.syn(0);
        for i in 0..100_000u32 {
            a.segment(3 + 3 * i, &[], 1, m(1), &mut b, &mut out);
            a.segment(2_000_000 + 2 * i, b"x", 0, m(2), &mut b, &mut out);
            assert!(a.pending.len() <= MAX_CHUNKS, "{} chunks", a.pending.len());
        }
        a.flush(&mut b, &mut out);
        assert_eq!(b.used, 0);
        assert_eq!(a.stats.delivered, 100_000);
    }

    #[test]
    fn cap_gives_up_oldest_hole() {
        let mut a = Assembler::new(4);
        let mut b = Budget::new(1 << 20);
        let mut out = Out::default();
        a.syn(0);
        a.segment(11, b"abc", 0, m(1), &mut b, &mut out);
        a.segment(21, b"xyz", 0, m(2), &mut b, &mut out);
        assert_eq!(out.items, vec![Item::G(10), Item::D(b"abc".to_vec())]);
        a.flush(&mut b, &mut out);
        assert_eq!(out.items, vec![Item::G(10), Item::D(b"abc".to_vec()), Item::G(7), Item::D(b"xyz".to_vec())]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn no_start_seen_starts_at_first_byte() {
        let mut a = Assembler::new(64);
        let mut b = Budget::new(64);
        let mut out = Out::default();
        a.segment(5000, b"mid", 0, m(1), &mut b, &mut out);
        a.segment(5003, b"dle", 0, m(2), &mut b, &mut out);
        assert_eq!(out.items, vec![Item::D(b"middle".to_vec())]);
    }

    proptest! {
        /// Model-based: any set of segments of a stream, in any order, with duplicates, delivers
        /// exactly the covered bytes in order with gaps for the uncovered runs (a bitmap model).
        #[test]
        fn matches_bitmap_model(
            len in 1usize..300,
            isn in any::<u32>(),
            segs in proptest::collection::vec((0usize..300, 1usize..40), 0..40),
            cap in prop_oneof![Just(1usize << 20), 8usize..64],
        ) {
            let stream: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut covered = vec![false; len];
            let mut a = Assembler::new(cap);
            let mut b = Budget::new(1 << 20);
            let mut out = Out::default();
            a.syn(isn);
            let mut sent = Vec::new();
            for (off, l) in segs {
                let off = off % len;
                let end = (off + l).min(len);
                sent.push((off, end));
                a.segment(isn.wrapping_add(1).wrapping_add(off as u32), &stream[off..end], 0, m(1), &mut b, &mut out);
            }
            a.flush(&mut b, &mut out);
            prop_assert_eq!(b.used, 0);
            for (off, end) in &sent {
                for c in covered.iter_mut().take(*end).skip(*off) { *c = true; }
            }
            // Flatten the output to a per-byte view.
            let mut got: Vec<Option<u8>> = Vec::new();
            for it in &out.items {
                match it {
                    Item::D(d) => got.extend(d.iter().map(|x| Some(*x))),
                    Item::G(g) => got.extend(std::iter::repeat_n(None, *g as usize)),
                }
            }
            let last = covered.iter().rposition(|c| *c).map_or(0, |p| p + 1);
            prop_assert_eq!(got.len(), last);
            for (i, g) in got.iter().enumerate() {
                match g {
                    Some(x) => prop_assert_eq!(*x, stream[i]),
                    // Uncovered bytes are gaps; with a small cap covered bytes may be given up too.
                    None => prop_assert!(!covered[i] || cap < 300),
                }
            }
            if cap >= 1 << 20 {
                for (i, c) in covered.iter().take(last).enumerate() {
                    prop_assert_eq!(got[i].is_some(), *c);
                }
            }
        }
    }
}
