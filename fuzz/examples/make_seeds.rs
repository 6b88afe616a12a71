//! Writes the seed corpora under `fuzz/corpus/<target>/seed-*` from the real captures in
//! `captures/`: whole files for `capture_reader` and `pipeline`, single packets for `decode`,
//! per-flow segment scripts for `reassembly`, HTTP heads for `http_head`, and the WebSocket
//! byte streams after the heads for `ws_frames`. Run from `fuzz/`:
//! `cargo run --example make_seeds`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use wsdiag::capture::CaptureReader;
use wsdiag::tcp::{Assembler, Budget, Meta, Sink};
use wsdiag::wire::{self, Decoded};

const DECODE_LINKTYPES: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105, 0xffff];

#[derive(Default)]
struct Bytes(Vec<u8>);

impl Sink for Bytes {
    fn data(&mut self, b: &[u8], _m: Meta) {
        self.0.extend_from_slice(b);
    }
    fn gap(&mut self, _n: u64, _m: Meta) {}
}

struct Dir {
    isn: Option<u32>,
    asm: Assembler,
    out: Bytes,
    script: Vec<u8>,
    from_client: bool,
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::create_dir_all(dir).expect("corpus dir");
    fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");
    let mut files: Vec<_> = fs::read_dir(root.join("../captures"))
        .expect("captures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x").to_string();
        let bytes = fs::read(&path).expect("read capture");
        write(&corpus.join("capture_reader"), &name, &bytes);
        write(&corpus.join("pipeline"), &name, &bytes);
        let Ok(mut r) = CaptureReader::new(&bytes[..], &name, 1) else { continue };
        let mut dirs: BTreeMap<(wire::Endpoint, wire::Endpoint), Dir> = BTreeMap::new();
        let mut budget = Budget::new(1 << 24);
        let mut n = 0;
        while let Some(p) = r.next() {
            n += 1;
            if n <= 12 {
                let sel = DECODE_LINKTYPES.iter().position(|l| *l == p.linktype.0).unwrap_or(11) as u8;
                let mut seed = vec![sel];
                seed.extend_from_slice(&p.orig_len.to_le_bytes());
                seed.extend_from_slice(p.data);
                write(&corpus.join("decode"), &format!("{name}-{n}"), &seed);
            }
            let Decoded::Tcp(seg) = wire::decode(p.linktype, p.data, p.orig_len) else { continue };
            let fresh = !dirs.contains_key(&(seg.dst, seg.src));
            let d = dirs.entry((seg.src, seg.dst)).or_insert_with(|| Dir {
                isn: None,
                asm: Assembler::new(1 << 20),
                out: Bytes::default(),
                script: Vec::new(),
                from_client: fresh,
            });
            let meta = Meta { packet: p.number, ts: p.ts };
            if seg.flags.syn() {
                d.isn.get_or_insert(seg.seq);
                d.asm.syn(seg.seq);
            }
            let isn = *d.isn.get_or_insert(seg.seq.wrapping_sub(1));
            let off = seg.seq.wrapping_sub(isn.wrapping_add(1));
            if !seg.payload.is_empty() || seg.missing > 0 {
                d.asm.segment(seg.seq, seg.payload, seg.missing, meta, &mut budget, &mut d.out);
                let mut rec = vec![0u8];
                rec.extend_from_slice(&off.to_le_bytes());
                rec.extend_from_slice(&(seg.payload.len() as u16).to_le_bytes());
                rec.push(0);
                d.script.extend_from_slice(&rec);
            }
            if seg.flags.fin() {
                d.asm.fin(seg.seq, seg.payload.len() as u32);
                let mut rec = vec![5u8];
                rec.extend_from_slice(&off.to_le_bytes());
                rec.extend_from_slice(&0u16.to_le_bytes());
                rec.push(seg.payload.len().min(255) as u8);
                d.script.extend_from_slice(&rec);
            }
        }
        let mut m = 0;
        for d in dirs.values_mut() {
            d.asm.flush(&mut budget, &mut d.out);
            m += 1;
            if !d.script.is_empty() {
                let mut seed = d.isn.unwrap_or(0).to_le_bytes().to_vec();
                seed.extend_from_slice(&u16::MAX.to_le_bytes());
                seed.extend_from_slice(&u16::MAX.to_le_bytes());
                seed.extend_from_slice(&d.script);
                write(&corpus.join("reassembly"), &format!("{name}-{m}"), &seed);
            }
        }
        // Pair each client stream with the server stream of the same connection.
        let keys: Vec<_> = dirs.keys().copied().collect();
        for (src, dst) in keys {
            let Some(c) = dirs.get(&(src, dst)) else { continue };
            if !c.from_client {
                continue;
            }
            let Some(s) = dirs.get(&(dst, src)) else { continue };
            let head_end = |b: &[u8]| b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
            let (Some(qe), Some(se)) = (head_end(&c.out.0), head_end(&s.out.0)) else { continue };
            let (req, resp) = (&c.out.0[..qe], &s.out.0[..se]);
            let mut seed = (req.len() as u16).to_le_bytes().to_vec();
            seed.extend_from_slice(req);
            seed.extend_from_slice(resp);
            let tag = format!("{name}-{}", src.port);
            write(&corpus.join("http_head"), &tag, &seed);
            let deflate = String::from_utf8_lossy(resp).to_ascii_lowercase().contains("permessage-deflate");
            for (role_bit, stream) in [(0u8, &c.out.0[qe..]), (1u8, &s.out.0[se..])] {
                if stream.is_empty() {
                    continue;
                }
                let ctl = role_bit | if deflate { 2 | 4 } else { 0 };
                // No ops: the whole stream in one chunk; and a version cut in three with a gap.
                let mut whole = vec![ctl, 0];
                whole.extend_from_slice(stream);
                write(&corpus.join("ws_frames"), &format!("{tag}-{role_bit}"), &whole);
                let third = (stream.len() / 3) as u16;
                let mut cut = vec![ctl, 3, 4];
                cut.extend_from_slice(&third.to_le_bytes());
                cut.extend_from_slice(&[3, 1, 0, 0]);
                cut.extend_from_slice(&third.to_le_bytes());
                cut.extend_from_slice(stream);
                write(&corpus.join("ws_frames"), &format!("{tag}-{role_bit}-gap"), &cut);
            }
        }
    }
}
