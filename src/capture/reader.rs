//! Streaming reader for pcap (µs and ns, both byte orders, Kuznetzov's modified format) and
//! pcapng (SHB/IDB/EPB/SPB/PB, several sections and interfaces, unknown blocks skipped).
//!
//! Formats by the magic number, never by the file name. Damage never panics: a truncated last
//! record or a corrupt record becomes a [`Warning`] naming the byte offset and packet number,
//! and the reader resynchronises on the next plausible record where it can.

use super::{Linktype, Packet, Warning};
use crate::units::{PacketNo, Timestamp};
use std::io::{self, Read};

/// The largest record we accept. Larger claims are corrupt (tcpdump's maximum snaplen is
/// 262144; pcapng blocks may carry options, so they get more room).
const MAX_PCAP_RECORD: usize = 262_144 + 64 * 1024;
const MAX_PCAPNG_BLOCK: usize = 16 << 20;
/// How far the reader scans for the next plausible record after a corrupt one.
const MAX_RESYNC_SCAN: usize = 4 << 20;
/// Grown when a record needs more. 128 KiB measured no slower than 1 MiB here, and stays in L2.
const INITIAL_BUF: usize = 1 << 17;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_PB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
/// Decryption Secrets Block (pcapng, draft-ietf-opsawg-pcapng §4.7), and its TLS key log type.
const PCAPNG_DSB: u32 = 0x0000_000A;
const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;
/// Secrets kept from Decryption Secrets Blocks, in all.
const MAX_SECRETS: usize = 64 << 20;
const PCAPNG_EPB: u32 = 6;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: not a capture file (pcap or pcapng): {why}")]
    NotACapture { path: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The container format, as detected from the first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

#[derive(Clone, Copy, Debug)]
struct PcapState {
    big_endian: bool,
    nanos: bool,
    /// Kuznetzov's patched format: 24-byte record headers.
    modified: bool,
    linktype: Linktype,
}

#[derive(Clone, Copy, Debug)]
struct Iface {
    linktype: Linktype,
    /// Timestamp resolution: `true` = 2^-n, `false` = 10^-n.
    binary: bool,
    exp: u8,
    offset_s: i64,
}

enum State {
    Pcap(PcapState),
    PcapNg { big_endian: bool, ifaces: Vec<Iface> },
}

/// A streaming capture reader over any `Read`.
pub struct CaptureReader<R: Read> {
    src: R,
    /// Set when the input arrives in buffers from a reading thread: then `src` is unused.
    pipe: Option<super::Pipe>,
    path: String,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// File offset of `buf[pos]`.
    offset: u64,
    state: State,
    next_number: u64,
    last_ts_s: Option<i64>,
    warnings: Vec<Warning>,
    /// TLS key log text from Decryption Secrets Blocks, not yet taken.
    secrets: Vec<Vec<u8>>,
    secrets_bytes: usize,
    done: bool,
    packets: u64,
    bytes_read: u64,
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if be { u16::from_be_bytes(v) } else { u16::from_le_bytes(v) }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) }
}

fn ts_from_ticks(ticks: u64, iface: &Iface) -> Timestamp {
    let ns: i128 = if iface.binary {
        let e = u32::from(iface.exp.min(127));
        ((i128::from(ticks)) * 1_000_000_000) >> e
    } else if iface.exp <= 9 {
        i128::from(ticks) * 10i128.pow(9 - u32::from(iface.exp))
    } else {
        let div = 10i128.checked_pow(u32::from(iface.exp) - 9).unwrap_or(i128::MAX);
        i128::from(ticks) / div
    };
    let ns = ns + i128::from(iface.offset_s) * 1_000_000_000;
    Timestamp(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

impl CaptureReader<Box<dyn Read + Send>> {
    /// A reader of an opened capture ([`super::open`]): buffers from a reading thread are parsed
    /// where they are.
    pub fn from_source(src: super::Source, path: &str, first_number: u64) -> Result<Self, CaptureError> {
        match src {
            super::Source::Inline(r) => Self::new(r, path, first_number),
            super::Source::Pipe(p) => Self::with_pipe(Box::new(io::empty()), Some(p), path, first_number),
        }
    }
}

impl<R: Read> CaptureReader<R> {
    /// Detects the format and reads the file header. `first_number` is the number the first
    /// packet gets (1 for the first file of a run).
    pub fn new(src: R, path: &str, first_number: u64) -> Result<Self, CaptureError> {
        Self::with_pipe(src, None, path, first_number)
    }

    fn with_pipe(src: R, pipe: Option<super::Pipe>, path: &str, first_number: u64) -> Result<Self, CaptureError> {
        let mut r = CaptureReader {
            src,
            pipe,
            path: path.to_string(),
            buf: vec![0; INITIAL_BUF],
            pos: 0,
            end: 0,
            eof: false,
            offset: 0,
            state: State::Pcap(PcapState {
                big_endian: false,
                nanos: false,
                modified: false,
                linktype: Linktype::ETHERNET,
            }),
            next_number: first_number,
            last_ts_s: None,
            warnings: Vec::new(),
            secrets: Vec::new(),
            secrets_bytes: 0,
            done: false,
            packets: 0,
            bytes_read: 0,
        };
        let io_err = |source, path: &str| CaptureError::Io { path: path.to_string(), source };
        let have = r.ensure(24).map_err(|e| io_err(e, path))?;
        let avail = r.end - r.pos;
        let not_capture = |why: String| CaptureError::NotACapture { path: path.to_string(), why };
        if avail < 4 {
            return Err(not_capture(format!("only {avail} bytes long")));
        }
        let head = &r.buf[r.pos..r.end];
        let magic_le = u32_at(head, 0, false);
        let pcap = match magic_le {
            0xa1b2_c3d4 => Some((false, false, false)),
            0xa1b2_3c4d => Some((false, true, false)),
            0xa1b2_cd34 => Some((false, false, true)),
            0xd4c3_b2a1 => Some((true, false, false)),
            0x4d3c_b2a1 => Some((true, true, false)),
            0x34cd_b2a1 => Some((true, false, true)),
            _ => None,
        };
        if let Some((be, nanos, modified)) = pcap {
            if !have {
                return Err(not_capture(format!("pcap file header needs 24 bytes, the file has {avail}")));
            }
            let linktype = Linktype(u32_at(head, 20, be) & 0x0fff_ffff);
            r.state = State::Pcap(PcapState { big_endian: be, nanos, modified, linktype });
            r.consume(24);
            return Ok(r);
        }
        if magic_le == PCAPNG_SHB {
            r.state = State::PcapNg { big_endian: false, ifaces: Vec::new() };
            return Ok(r);
        }
        let why = if head.starts_with(b"\x1f\x8b") {
            "a gzip stream inside a gzip stream".to_string()
        } else if head.iter().take(24).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) {
            "it starts with text".to_string()
        } else {
            format!("unknown magic number {:02x?}", &head[..4])
        };
        Err(not_capture(why))
    }

    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap(_) => Format::Pcap,
            State::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// Whether the next packet would have to wait for the input: it is not whole in the
    /// buffer, and nothing more has arrived from a stream (standard input). Never for a file
    /// read inline.
    pub fn would_wait(&mut self) -> bool {
        if self.done || self.eof {
            return false;
        }
        let Some(pipe) = self.pipe.as_mut() else { return false };
        let have = &self.buf[self.pos..self.end];
        let whole = match &self.state {
            State::Pcap(st) => {
                let hl = if st.modified { 24 } else { 16 };
                have.len() >= hl && have.len() - hl >= u32_at(have, 8, st.big_endian) as usize
            }
            State::PcapNg { big_endian, .. } => have.len() >= 8 && have.len() >= u32_at(have, 4, *big_endian) as usize,
        };
        !whole && !pipe.ready()
    }

    /// Waits up to `d` for more of a stream; whether more (or its end) came.
    pub fn wait(&mut self, d: std::time::Duration) -> bool {
        self.pipe.as_mut().is_none_or(|p| p.wait(d))
    }

    /// Number the next packet will get.
    pub fn next_number(&self) -> u64 {
        self.next_number
    }

    /// Packets delivered so far from this file.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Bytes of (decompressed) capture read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Warnings gathered since the last call.
    /// TLS key logs read from pcapng Decryption Secrets Blocks since the last call.
    pub fn take_secrets(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.secrets)
    }

    /// Are there secrets to take?
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, text: String) {
        self.warnings.push(Warning { path: self.path.clone(), text });
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Makes `n` bytes available at `buf[pos..]`. `Ok(false)` if the input ends first.
    fn ensure(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        if let Some(pipe) = self.pipe.as_mut() {
            if !self.eof {
                let (added, eof) = pipe.fill(&mut self.buf, &mut self.pos, &mut self.end, n)?;
                self.bytes_read += added;
                self.eof = eof;
            }
            return Ok(self.end - self.pos >= n);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < n {
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    self.end += k;
                    self.bytes_read += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.pos >= n)
    }

    /// [`Self::ensure`], with a warning when the input ends or fails first. Inline for the
    /// common case, a record already in the buffer.
    #[inline]
    fn ensure_or_warn(&mut self, n: usize, what: &str) -> bool {
        self.end - self.pos >= n || self.refill_or_warn(n, what)
    }

    #[cold]
    fn refill_or_warn(&mut self, n: usize, what: &str) -> bool {
        match self.ensure(n) {
            Ok(true) => true,
            Ok(false) => {
                let avail = self.end - self.pos;
                if avail > 0 {
                    self.warn(format!(
                        "truncated at byte offset {}: {what} (packet {}) needs {n} bytes, only {avail} remain; everything before it was analysed",
                        self.offset, PacketNo(self.next_number).number()
                    ));
                }
                false
            }
            Err(e) => {
                self.warn(format!("read error at byte offset {}: {e}", self.offset));
                false
            }
        }
    }

    /// The next packet, or `None` at the end of the input (or after damage that cannot be
    /// skipped, recorded as a warning).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Packet<'_>> {
        if self.done {
            return None;
        }
        let found = match self.state {
            State::Pcap(st) => self.next_pcap(st),
            State::PcapNg { .. } => self.next_pcapng(),
        };
        match found {
            Some((start, caplen, orig_len, ts, linktype)) => {
                let number = PacketNo(self.next_number);
                self.next_number += 1;
                self.packets += 1;
                Some(Packet { number, ts, linktype, data: &self.buf[start..start + caplen], orig_len })
            }
            None => {
                self.done = true;
                None
            }
        }
    }

    /// Returns (start in buf, caplen, orig_len, ts, linktype) and consumes the record.
    fn next_pcap(&mut self, st: PcapState) -> Option<(usize, usize, u32, Timestamp, Linktype)> {
        let hl = if st.modified { 24 } else { 16 };
        loop {
            if !self.ensure_or_warn(hl, "a record header") {
                return None;
            }
            // The four words every record header starts with (a fixed-size read: no bounds
            // checks per byte).
            let h = self.buf[self.pos..self.end].first_chunk::<16>()?;
            let word = |at: usize| {
                let v = [h[at], h[at + 1], h[at + 2], h[at + 3]];
                if st.big_endian { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) }
            };
            let (ts_s, frac, caplen, orig) = (word(0), word(4), word(8) as usize, word(12));
            if caplen > MAX_PCAP_RECORD {
                let at = self.offset;
                let n = PacketNo(self.next_number).number();
                if !self.resync_pcap(st) {
                    self.warn(format!(
                        "corrupt record at byte offset {at} (packet {n}): it claims {caplen} captured bytes (at most {MAX_PCAP_RECORD} are plausible) and no later record could be found; reading stopped"
                    ));
                    return None;
                }
                self.warn(format!(
                    "corrupt record at byte offset {at} (packet {n}): it claims {caplen} captured bytes; skipped to the next plausible record at byte offset {}",
                    self.offset
                ));
                self.next_number += 1;
                continue;
            }
            if !self.ensure_or_warn(hl + caplen, "the last record") {
                return None;
            }
            let ns = if st.nanos { i64::from(frac) } else { i64::from(frac) * 1000 };
            let ts = Timestamp(i64::from(ts_s) * 1_000_000_000 + ns);
            self.last_ts_s = Some(i64::from(ts_s));
            let start = self.pos + hl;
            self.consume(hl + caplen);
            return Some((start, caplen, orig.max(caplen as u32), ts, st.linktype));
        }
    }

    fn plausible_pcap_header(&self, at: usize, st: PcapState) -> Option<usize> {
        let hl = if st.modified { 24 } else { 16 };
        let h = self.buf[..self.end].get(at..at + hl)?;
        let be = st.big_endian;
        let ts_s = i64::from(u32_at(h, 0, be));
        let frac = u32_at(h, 4, be);
        let caplen = u32_at(h, 8, be) as usize;
        let orig = u32_at(h, 12, be) as usize;
        let frac_ok = if st.nanos { frac < 1_000_000_000 } else { frac < 1_000_000 };
        let ts_ok = self.last_ts_s.is_none_or(|last| (ts_s - last).abs() < 86_400);
        (frac_ok && ts_ok && caplen <= MAX_PCAP_RECORD && caplen <= orig && orig <= MAX_PCAP_RECORD)
            .then_some(hl + caplen)
    }

    /// Scans forward for two consecutive plausible record headers (or one that ends exactly at
    /// the end of the input). Leaves `pos` there and returns true if found.
    fn resync_pcap(&mut self, st: PcapState) -> bool {
        let want = MAX_RESYNC_SCAN + 2 * MAX_PCAP_RECORD;
        if self.ensure(want).is_err() {
            return false;
        }
        let limit = (self.end - self.pos).min(MAX_RESYNC_SCAN);
        for skip in 1..limit {
            let at = self.pos + skip;
            if let Some(len) = self.plausible_pcap_header(at, st) {
                let next = at + len;
                if next == self.end || (next < self.end && self.plausible_pcap_header(next, st).is_some()) {
                    self.consume(skip);
                    return true;
                }
            }
        }
        false
    }

    fn next_pcapng(&mut self) -> Option<(usize, usize, u32, Timestamp, Linktype)> {
        loop {
            if !self.ensure_or_warn(12, "a block header") {
                return None;
            }
            let h = &self.buf[self.pos..self.pos + 12];
            let mut be = match &self.state {
                State::PcapNg { big_endian, .. } => *big_endian,
                State::Pcap(_) => false,
            };
            let raw_type = u32_at(h, 0, false);
            if raw_type == PCAPNG_SHB {
                be = match u32_at(h, 8, false) {
                    PCAPNG_BOM => false,
                    0x4D3C_2B1A => true,
                    other => {
                        let at = self.offset;
                        self.warn(format!(
                            "corrupt section header at byte offset {at}: byte-order magic {other:#010x}; reading stopped"
                        ));
                        return None;
                    }
                };
            }
            let btype = u32_at(h, 0, be);
            let blen = u32_at(h, 4, be) as usize;
            if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_PCAPNG_BLOCK {
                let at = self.offset;
                let n = self.next_number;
                if self.resync_pcapng(be) {
                    self.warn(format!(
                        "corrupt block at byte offset {at} (near packet {n}): block length {blen}; skipped to the next plausible block at byte offset {}",
                        self.offset
                    ));
                    continue;
                }
                self.warn(format!(
                    "corrupt block at byte offset {at} (near packet {n}): block length {blen}; no later block could be found; reading stopped"
                ));
                return None;
            }
            if !self.ensure_or_warn(blen, "the last block") {
                return None;
            }
            let trailer = u32_at(&self.buf[self.pos..self.pos + blen], blen - 4, be) as usize;
            if trailer != blen {
                let at = self.offset;
                self.warn(format!(
                    "block at byte offset {at}: leading length {blen} and trailing length {trailer} differ; trusted the leading one"
                ));
            }
            let start = self.pos;
            let b = &self.buf[self.pos..self.pos + blen];
            let out = match btype {
                PCAPNG_SHB => {
                    self.state = State::PcapNg { big_endian: be, ifaces: Vec::new() };
                    None
                }
                PCAPNG_IDB => {
                    let iface = parse_idb(b, be);
                    if let State::PcapNg { ifaces, .. } = &mut self.state {
                        ifaces.push(iface);
                    }
                    None
                }
                PCAPNG_EPB | PCAPNG_PB if blen >= 32 => {
                    let (iface_id, hi_at) =
                        if btype == PCAPNG_EPB { (u32_at(b, 8, be), 12) } else { (u32::from(u16_at(b, 8, be)), 12) };
                    let ticks = (u64::from(u32_at(b, hi_at, be)) << 32) | u64::from(u32_at(b, hi_at + 4, be));
                    let caplen = u32_at(b, 20, be) as usize;
                    let orig = u32_at(b, 24, be);
                    Some((iface_id, ticks, caplen, orig, 28))
                }
                PCAPNG_DSB if blen >= 20 => {
                    let (kind, len) = (u32_at(b, 8, be), u32_at(b, 12, be) as usize);
                    let data = b.get(16..(16 + len).min(blen - 4)).unwrap_or_default();
                    if kind == DSB_TLS_KEY_LOG && self.secrets_bytes + data.len() <= MAX_SECRETS {
                        self.secrets_bytes += data.len();
                        self.secrets.push(data.to_vec());
                    }
                    None
                }
                PCAPNG_SPB if blen >= 16 => {
                    let orig = u32_at(b, 8, be);
                    let caplen = (orig as usize).min(blen - 16);
                    Some((0, u64::MAX, caplen, orig, 12))
                }
                _ => None,
            };
            let Some((iface_id, ticks, caplen, orig, data_at)) = out else {
                self.consume(blen);
                continue;
            };
            let iface = match &self.state {
                State::PcapNg { ifaces, .. } => ifaces.get(iface_id as usize).copied(),
                State::Pcap(_) => None,
            };
            let at = self.offset;
            let n = self.next_number;
            let Some(iface) = iface else {
                self.warn(format!(
                    "packet {n} at byte offset {at} names interface {iface_id}, which no interface description block defined; skipped"
                ));
                self.next_number += 1;
                self.consume(blen);
                continue;
            };
            let room = blen.saturating_sub(data_at + 4);
            let caplen = if caplen > room {
                self.warn(format!(
                    "packet {n} at byte offset {at}: it claims {caplen} captured bytes but its block holds {room}; used {room}"
                ));
                room
            } else {
                caplen
            };
            let ts = if ticks == u64::MAX {
                // SPB has no timestamp: keep time still.
                Timestamp(self.last_ts_s.unwrap_or(0) * 1_000_000_000)
            } else {
                ts_from_ticks(ticks, &iface)
            };
            self.last_ts_s = Some(ts.0 / 1_000_000_000);
            self.consume(blen);
            return Some((start + data_at, caplen, orig.max(caplen as u32), ts, iface.linktype));
        }
    }

    fn resync_pcapng(&mut self, be: bool) -> bool {
        if self.ensure(MAX_RESYNC_SCAN + 64).is_err() {
            return false;
        }
        let limit = (self.end - self.pos).min(MAX_RESYNC_SCAN);
        let mut at = self.pos + 4;
        while at + 12 <= self.pos + limit {
            let t = u32_at(&self.buf, at, be);
            let l = u32_at(&self.buf, at + 4, be) as usize;
            if matches!(t, PCAPNG_SHB | PCAPNG_IDB | PCAPNG_PB | PCAPNG_SPB | PCAPNG_EPB | 4 | 5)
                && l >= 12
                && l.is_multiple_of(4)
                && at + l <= self.end
                && u32_at(&self.buf, at + l - 4, be) as usize == l
            {
                let skip = at - self.pos;
                self.consume(skip);
                return true;
            }
            at += 4;
        }
        false
    }
}

fn parse_idb(b: &[u8], be: bool) -> Iface {
    let mut iface = Iface { linktype: Linktype(u32::from(u16_at(b, 8, be))), binary: false, exp: 6, offset_s: 0 };
    let end = b.len() - 4;
    let mut at = 16;
    while at + 4 <= end {
        let code = u16_at(b, at, be);
        let len = usize::from(u16_at(b, at + 2, be));
        let v = at + 4;
        if code == 0 || v + len > end {
            break;
        }
        match (code, len) {
            (9, 1) => {
                iface.binary = b[v] & 0x80 != 0;
                iface.exp = b[v] & 0x7f;
            }
            (14, 8) => {
                let raw = if be {
                    u64::from_be_bytes([b[v], b[v + 1], b[v + 2], b[v + 3], b[v + 4], b[v + 5], b[v + 6], b[v + 7]])
                } else {
                    u64::from_le_bytes([b[v], b[v + 1], b[v + 2], b[v + 3], b[v + 4], b[v + 5], b[v + 6], b[v + 7]])
                };
                iface.offset_s = raw as i64;
            }
            _ => {}
        }
        at = v + len.div_ceil(4) * 4;
    }
    iface
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian µs pcap with the given link type and (ts_us, data) records.
    pub fn pcap_bytes(linktype: u32, records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&linktype.to_le_bytes());
        for (ts, data) in records {
            v.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
            v.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(data);
        }
        v
    }

    type Read = (u64, i64, Vec<u8>, u32);

    fn read_all(bytes: &[u8]) -> (Vec<Read>, Vec<Warning>) {
        let mut r = CaptureReader::new(bytes, "t", 1).expect("capture");
        let mut out = Vec::new();
        while let Some(p) = r.next() {
            out.push((p.number.0, p.ts.0, p.data.to_vec(), p.linktype.0));
        }
        (out, r.take_warnings())
    }

    fn read_all_piped(bytes: &[u8], trickle: bool) -> (Vec<Read>, Vec<Warning>) {
        struct Trickle(std::io::Cursor<Vec<u8>>, usize);
        impl std::io::Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.1 += 1;
                let n = out.len().min(1 + (self.1 * 7919) % 90_000);
                self.0.read(&mut out[..n])
            }
        }
        let src: Box<dyn std::io::Read + Send> = if trickle {
            Box::new(Trickle(std::io::Cursor::new(bytes.to_vec()), 0))
        } else {
            Box::new(std::io::Cursor::new(bytes.to_vec()))
        };
        let source = super::super::Source::Pipe(super::super::Pipe::spawn(src));
        let mut r = CaptureReader::from_source(source, "t", 1).expect("capture");
        let mut out = Vec::new();
        while let Some(p) = r.next() {
            out.push((p.number.0, p.ts.0, p.data.to_vec(), p.linktype.0));
        }
        (out, r.take_warnings())
    }

    /// Buffers handed over by a reading thread are parsed in place, records cut by a buffer's
    /// end joined in the room before the next one or gathered apart when longer: the packets
    /// and warnings are those of the inline reader, for records of every size around the
    /// buffer and room sizes, short reads, truncation and a corrupt record.
    #[test]
    fn piped_buffers_read_as_inline() {
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let (head, chunk) = (super::super::Pipe::HEAD as u64, super::super::Pipe::CHUNK as u64);
        for round in 0..24 {
            let records: Vec<(u64, Vec<u8>)> = (0..1 + next(60))
                .map(|i| {
                    let len = match next(6) {
                        0 => next(100),
                        1 => head - 50 + next(100),
                        2 => chunk - 50 + next(100),
                        3 => head + chunk - 50 + next(100),
                        4 => next(3 * chunk),
                        _ => 1400 + next(200),
                    };
                    (i * 1000, (0..len).map(|b| (b * 13 + i) as u8).collect())
                })
                .collect();
            let refs: Vec<(u64, &[u8])> = records.iter().map(|(t, d)| (*t, &d[..])).collect();
            let mut f = pcap_bytes(1, &refs);
            match round % 3 {
                1 => f.truncate(f.len() - 1 - next(f.len() as u64 / 2) as usize),
                2 if refs.len() > 2 => {
                    // A corrupt caplen in the second record.
                    let at = 24 + 16 + refs[0].1.len() + 8;
                    f[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
                }
                _ => {}
            }
            let inline = read_all(&f);
            for trickle in [false, true] {
                let piped = read_all_piped(&f, trickle);
                assert_eq!(piped.0.len(), inline.0.len(), "round {round} trickle {trickle}");
                assert!(piped.0 == inline.0, "round {round} trickle {trickle}: packets differ");
                assert_eq!(piped.1, inline.1, "round {round} trickle {trickle}");
            }
        }
    }

    #[test]
    fn reads_pcap_records_in_order() {
        let f = pcap_bytes(1, &[(1_500_000, b"abc"), (2_000_001, b"defg")]);
        let (pkts, w) = read_all(&f);
        assert!(w.is_empty());
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[0], (1, 1_500_000_000, b"abc".to_vec(), 1));
        assert_eq!(pkts[1], (2, 2_000_001_000, b"defg".to_vec(), 1));
    }

    #[test]
    fn big_endian_nanosecond_pcap() {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
        v.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&65535u32.to_be_bytes());
        v.extend_from_slice(&101u32.to_be_bytes());
        v.extend_from_slice(&7u32.to_be_bytes());
        v.extend_from_slice(&123u32.to_be_bytes());
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(&60u32.to_be_bytes());
        v.extend_from_slice(b"hi");
        let (pkts, w) = read_all(&v);
        assert!(w.is_empty());
        assert_eq!(pkts, vec![(1, 7_000_000_123, b"hi".to_vec(), 101)]);
    }

    #[test]
    fn every_truncation_of_a_pcap_is_handled() {
        let f = pcap_bytes(1, &[(1, b"0123456789"), (2, b"abcdefghij")]);
        for cut in 0..f.len() {
            let r = CaptureReader::new(&f[..cut], "t", 1);
            if cut < 24 {
                assert!(r.is_err(), "cut {cut}");
                continue;
            }
            let (pkts, w) = read_all(&f[..cut]);
            let full = if cut >= 24 + 26 * 2 {
                2
            } else if cut >= 24 + 26 {
                1
            } else {
                0
            };
            assert_eq!(pkts.len(), full, "cut {cut}");
            let clean = cut == 24 || cut == 24 + 26;
            assert_eq!(w.is_empty(), clean, "cut {cut}: {w:?}");
            if !clean {
                assert!(w[0].text.contains("truncated at byte offset"), "{w:?}");
            }
        }
    }

    #[test]
    fn corrupt_pcap_record_is_skipped_and_named() {
        let mut f = pcap_bytes(1, &[(1, b"0123456789"), (2, b"abcdefghij"), (3, b"KLMNOPQRST")]);
        // Record 2's caplen claims 2 GB.
        let at = 24 + 26 + 8;
        f[at..at + 4].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        let (pkts, w) = read_all(&f);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].text.contains("corrupt record at byte offset 50 (packet 2)"), "{w:?}");
        assert_eq!(pkts.first().map(|p| p.2.clone()), Some(b"0123456789".to_vec()));
        assert_eq!(pkts.last().map(|p| (p.0, p.2.clone())), Some((3, b"KLMNOPQRST".to_vec())));
    }

    fn ng_block(t: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len().div_ceil(4) * 4;
        let mut v = Vec::new();
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&(len as u32).to_le_bytes());
        v.extend_from_slice(body);
        v.resize(len - 4, 0);
        v.extend_from_slice(&(len as u32).to_le_bytes());
        v
    }

    #[test]
    fn pcapng_mixed_interfaces_resolutions_and_unknown_blocks() {
        let mut f =
            ng_block(PCAPNG_SHB, &[0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        // iface 0: Ethernet, default µs
        f.extend(ng_block(PCAPNG_IDB, &[1, 0, 0, 0, 0, 0, 4, 0]));
        // iface 1: SLL2 with if_tsresol = 9 (ns)
        f.extend(ng_block(PCAPNG_IDB, &[0x14, 1, 0, 0, 0, 0, 4, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]));
        f.extend(ng_block(0x0BAD, &[1, 2, 3, 4]));
        let epb = |iface: u32, ticks: u64, data: &[u8]| {
            let mut b = Vec::new();
            b.extend_from_slice(&iface.to_le_bytes());
            b.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(ticks as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32 + 10).to_le_bytes());
            b.extend_from_slice(data);
            ng_block(PCAPNG_EPB, &b)
        };
        f.extend(epb(0, 2_000_000, b"eth"));
        f.extend(epb(1, 3_000_000_001, b"sll2!"));
        let mut spb = Vec::new();
        spb.extend_from_slice(&3u32.to_le_bytes());
        spb.extend_from_slice(b"spb");
        f.extend(ng_block(PCAPNG_SPB, &spb));
        let (pkts, w) = read_all(&f);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[0], (1, 2_000_000_000, b"eth".to_vec(), 1));
        assert_eq!(pkts[1], (2, 3_000_000_001, b"sll2!".to_vec(), 276));
        assert_eq!((pkts[2].0, pkts[2].2.clone(), pkts[2].3), (3, b"spb".to_vec(), 1));
        // Every truncation: never a panic, never a packet that was not whole.
        for cut in 0..f.len() {
            if let Ok(mut r) = CaptureReader::new(&f[..cut], "t", 1) {
                let mut n = 0;
                while r.next().is_some() {
                    n += 1;
                }
                assert!(n <= 3);
            }
        }
    }

    #[test]
    fn text_is_not_a_capture() {
        let e = CaptureReader::new(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], "notes.txt", 1);
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(msg, "notes.txt: not a capture file (pcap or pcapng): it starts with text");
    }

    #[test]
    fn binary_ts_resolution() {
        let i = Iface { linktype: Linktype(1), binary: true, exp: 10, offset_s: 0 };
        assert_eq!(ts_from_ticks(1024, &i).0, 1_000_000_000);
        let i = Iface { linktype: Linktype(1), binary: false, exp: 12, offset_s: 1 };
        assert_eq!(ts_from_ticks(5_000, &i).0, 1_000_000_005);
    }
}
