//! Shared by the integration tests (each uses part of it).
#![allow(dead_code)]

/// The committed captures' file names, sorted.
pub fn captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("captures")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz"));
    v.sort();
    v
}

/// Every shipped capture under `dir` (recursively): pcap, pcapng, gzip'd pcap.
pub fn shipped(dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.to_string_lossy().into_owned();
        if p.is_dir() {
            shipped(&p, out);
        } else if name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz") {
            out.push(name);
        }
    }
}

/// An IPv4/TCP packet, no link header (LINKTYPE_RAW); checksums are not checked by wsdiag.
#[allow(clippy::too_many_arguments)]
pub fn ipv4_tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0];
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ack.to_be_bytes());
    v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(payload);
    v
}

/// One TCP connection, built packet by packet with correct sequence numbers (raw IPv4, times
/// in µs): the synthetic captures of tests/hostile.rs and tests/html.rs.
pub struct Flow {
    pub client: ([u8; 4], u16),
    pub server: ([u8; 4], u16),
    pub cseq: u32,
    pub sseq: u32,
    pub ts: u64,
    pub packets: Vec<(u64, Vec<u8>)>,
}

impl Flow {
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16), ts: u64) -> Self {
        Flow { client, server, cseq: 1000, sseq: 5000, ts, packets: Vec::new() }
    }

    /// A segment with sequence number `seq` from one side, 1 ms after the last.
    pub fn push(&mut self, from_client: bool, seq: u32, flags: u8, payload: &[u8]) {
        self.ts += 1000;
        let (a, b, ack) =
            if from_client { (self.client, self.server, self.sseq) } else { (self.server, self.client, self.cseq) };
        self.packets.push((self.ts, ipv4_tcp(a.0, a.1, b.0, b.1, seq, ack, flags, payload)));
    }

    /// Sends `payload` in order from one side (SYN and FIN count one).
    pub fn send(&mut self, from_client: bool, flags: u8, payload: &[u8]) {
        let seq = if from_client { self.cseq } else { self.sseq };
        self.push(from_client, seq, flags, payload);
        let adv = payload.len() as u32 + u32::from(flags & 0x03 != 0);
        if from_client {
            self.cseq = self.cseq.wrapping_add(adv);
        } else {
            self.sseq = self.sseq.wrapping_add(adv);
        }
    }
}

/// A little-endian µs pcap of raw IP packets (LINKTYPE_RAW, 101), in the order given.
pub fn pcap_raw(packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(packets.iter().map(|(_, p)| p.len() + 16).sum::<usize>() + 24);
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&262_144u32.to_le_bytes());
    v.extend_from_slice(&101u32.to_le_bytes());
    for (ts, p) in packets {
        v.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        v.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(p);
    }
    v
}
