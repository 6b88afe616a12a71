//! The only file I/O of the library: capture files (pcap, pcapng, gzip'd or not, stdin) become
//! [`Packet`]s with their 1-based number, timestamp, link type and captured bytes.
//!
//! The reader is streaming and zero-copy: a packet borrows the reader's buffer until the next
//! call. Damage is reported as [`Warning`]s with byte offsets and packet numbers; everything
//! readable is still delivered.

#[cfg(feature = "live")]
pub mod live;
mod reader;

pub use reader::{CaptureError, CaptureReader, Format};

use crate::units::{PacketNo, Timestamp};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// A link-layer type, kept as its value whatever it is (LINKTYPE_* numbers, tcpdump.org).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Linktype(pub u32);

impl Linktype {
    pub const NULL: Linktype = Linktype(0);
    pub const ETHERNET: Linktype = Linktype(1);
    pub const RAW_ALT12: Linktype = Linktype(12);
    pub const RAW_ALT14: Linktype = Linktype(14);
    pub const RAW: Linktype = Linktype(101);
    pub const LOOP: Linktype = Linktype(108);
    pub const LINUX_SLL: Linktype = Linktype(113);
    pub const IPV4: Linktype = Linktype(228);
    pub const IPV6: Linktype = Linktype(229);
    pub const LINUX_SLL2: Linktype = Linktype(276);

    pub fn name(self) -> String {
        match self.0 {
            0 => "NULL (BSD loopback)".into(),
            1 => "Ethernet".into(),
            12 | 14 | 101 => "raw IP".into(),
            108 => "LOOP (OpenBSD loopback)".into(),
            113 => "Linux cooked (SLL)".into(),
            228 => "raw IPv4".into(),
            229 => "raw IPv6".into(),
            276 => "Linux cooked v2 (SLL2)".into(),
            105 => "IEEE 802.11 (105)".into(),
            127 => "IEEE 802.11 radiotap (127)".into(),
            n => format!("link type {n}"),
        }
    }
}

/// One captured packet, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub number: PacketNo,
    pub ts: Timestamp,
    pub linktype: Linktype,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
    /// The length of the packet on the wire; more than `data.len()` when a snaplen cut it.
    pub orig_len: u32,
}

/// Something wrong with the input that did not stop the reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub text: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.text)
    }
}

/// Opens a capture for reading: a path, or `-` for standard input. A gzip stream (by its magic,
/// not its name) is decompressed on the fly.
pub fn open(path: &str) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> =
        if path == "-" { Box::new(io::stdin()) } else { Box::new(File::open(Path::new(path))?) };
    let mut buffered = BufReader::with_capacity(1 << 16, raw);
    let head = buffered.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}
