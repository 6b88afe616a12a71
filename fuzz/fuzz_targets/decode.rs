//! Link/IP/TCP decode on arbitrary bytes for every link type the decoder knows (and one it
//! does not): never a panic, and a decoded segment's payload lies inside the packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsdiag::capture::Linktype;
use wsdiag::wire::{self, Decoded};

const LINKTYPES: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105, 0xffff];

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let lt = Linktype(LINKTYPES[usize::from(data[0]) % LINKTYPES.len()]);
    let orig_len = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let pkt = &data[5..];
    for orig in [orig_len, pkt.len() as u32] {
        match wire::decode(lt, pkt, orig) {
            Decoded::Tcp(seg) => {
                assert!(seg.payload.len() <= pkt.len());
                let _ = seg.wire_len();
            }
            Decoded::Truncated { layer, .. } | Decoded::Malformed { layer, .. } => {
                let _ = layer.name();
            }
            Decoded::UnsupportedLink(l) => {
                let _ = l.name();
            }
            Decoded::NotTcp | Decoded::Fragment => {}
        }
    }
});
