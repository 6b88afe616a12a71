//! The WebSocket frame parser of one direction, inflate on, on a stream delivered in chunks with
//! capture gaps between them. Input: a control byte (role, deflate, context takeover), an op
//! count, 3-byte ops (`kind u8, len u16`) that cut the rest of the input into chunks or insert
//! gaps, then the stream itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::tcp::Meta;
use wsdiag::units::{PacketNo, Role, Timestamp};
use wsdiag::ws::deflate::Inflater;
use wsdiag::ws::{FrameParser, WsEvent};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let ctl = data[0];
    let role = if ctl & 1 == 0 { Role::Client } else { Role::Server };
    let deflate = ctl & 2 != 0;
    let inflater = (ctl & 4 != 0).then(|| Inflater::new(ctl & 8 != 0));
    let mut p = FrameParser::new(role, deflate, inflater);
    if ctl & 16 != 0 {
        p.set_lost();
    }
    let nops = usize::from(data[1] % 33);
    let ops_end = (2 + nops * 3).min(data.len());
    let ops = &data[2..ops_end];
    let mut stream = &data[ops_end..];
    let mut out = Vec::new();
    let mut fed = 0u64;
    let mut gaps = 0u64;
    for (i, op) in ops.chunks_exact(3).enumerate() {
        let meta = Meta { packet: PacketNo(i as u64 + 1), ts: Timestamp(i as i64) };
        let len = usize::from(u16::from_le_bytes([op[1], op[2]]));
        if op[0] & 3 == 3 {
            // Gaps from one byte to 2^39: far beyond the pipeline's, whose assembler never
            // reports one over 2^32 (a snaplen cut or at most MAX_AHEAD = 2^30 ahead).
            let len = (len as u64) << ((op[0] >> 2) % 24);
            p.gap(len, meta, &mut out);
            gaps = gaps.saturating_add(len);
        } else {
            let take = len.min(stream.len());
            p.data(&stream[..take], meta, op[0] & 4 != 0, &mut out);
            fed += take as u64;
            stream = &stream[take..];
        }
    }
    let meta = Meta { packet: PacketNo(99), ts: Timestamp(99) };
    p.data(stream, meta, true, &mut out);
    fed += stream.len() as u64;
    let _ = (p.lost(), p.at_boundary());
    assert!(p.counts.unknown_bytes <= fed.saturating_add(gaps));
    for e in &out {
        match e {
            WsEvent::Violation { violation, .. } => {
                let _ = (violation.describe(), violation.key(), violation.is_fatal());
            }
            WsEvent::Close { reason: Some(r), .. } => assert!(r.len() <= 4 * 1024),
            _ => {}
        }
    }
});
