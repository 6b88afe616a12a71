//! The only file I/O of the library: capture files (pcap, pcapng, gzip'd or not, stdin) become
//! [`Packet`]s with their 1-based number, timestamp, link type and captured bytes.
//!
//! The reader is streaming and zero-copy: a packet borrows the reader's buffer until the next
//! call. Damage is reported as [`Warning`]s with byte offsets and packet numbers; everything
//! readable is still delivered.

#[cfg(feature = "live")]
pub mod live;
mod reader;
#[cfg(test)]
pub(crate) use reader::tests as reader_tests;

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

/// Opens a capture for reading: a path, or `-` for standard input. A gzip, zstd or lz4 stream
/// (by its magic, not its name) is decompressed on the fly; xz, bzip2, zip and 7z are named
/// in the error. When there is a second core, the input is read (and decompressed) there and
/// its buffers handed over whole, so that the kernel's copy of the file and the analysis
/// overlap; with one core it is read inline.
pub fn open(path: &str) -> io::Result<Source> {
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let input = decompressed(path)?;
    // Standard input is a stream (`tcpdump -U -w - | wsdiag -`): read on a thread of its own
    // whatever the cores, each read handed over as it comes, so that the analysis can tell
    // when it waits ([`CaptureReader::would_wait`]).
    Ok(if path == "-" {
        Source::Pipe(Pipe::spawn_with(input, true))
    } else if two_cores {
        Source::Pipe(Pipe::spawn(input))
    } else {
        Source::Inline(input)
    })
}

/// The capture's bytes, decompressed, read on this thread.
pub fn decompressed(path: &str) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> =
        if path == "-" { Box::new(io::stdin()) } else { Box::new(File::open(Path::new(path))?) };
    let mut buffered = BufReader::with_capacity(1 << 16, raw);
    let head = buffered.fill_buf()?;
    let input: Box<dyn Read + Send> = match Compression::of(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(buffered)
                .map_err(|e| io::Error::other(format!("zstd stream: {e}")))?,
        ),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(buffered)),
        Compression::Unsupported(name, how) => {
            return Err(io::Error::other(format!("this is {name}: decompress it first ({how})")));
        }
    };
    Ok(input)
}

/// How a capture file is compressed, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    Lz4,
    /// A format wsdiag does not read, and how to undo it.
    Unsupported(&'static str, &'static str),
}

impl Compression {
    fn of(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Compression::Lz4
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Unsupported("xz", "xz -d FILE")
        } else if head.starts_with(b"BZh") {
            Compression::Unsupported("bzip2", "bunzip2 FILE")
        } else if head.starts_with(b"PK\x03\x04") {
            Compression::Unsupported("a zip archive", "unzip FILE")
        } else if head.starts_with(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
            Compression::Unsupported("a 7z archive", "7z x FILE")
        } else {
            Compression::None
        }
    }
}

/// An opened capture: read inline, or arriving in buffers from a reading thread.
pub enum Source {
    Inline(Box<dyn Read + Send>),
    Pipe(Pipe),
}

/// The output of a reader on another thread, in buffers from a fixed pool that go back and
/// forth: steady reading allocates nothing, the producer is at most the pool ahead, and the
/// capture reader parses the buffers where they are ([`Pipe::fill`]).
pub struct Pipe {
    full: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    free: std::sync::mpsc::Sender<Vec<u8>>,
    /// Whether the capture reader's buffer is one of the pool's (it goes back when replaced).
    lent: bool,
    /// A buffer (or the end, None) received by [`Pipe::ready`] or [`Pipe::wait`] and not yet
    /// taken.
    early: Option<Option<io::Result<Vec<u8>>>>,
}

impl Pipe {
    /// The size of one read.
    const CHUNK: usize = 1 << 16;
    /// Room before the data of each buffer, where the start of a record cut by the end of the
    /// previous buffer is copied so that the record is whole (longer ones are gathered apart).
    ///
    /// A buffer (room and data) stays below 128 KiB. Measured on the benchmark capture (1.3 GB
    /// from the page cache, two cores): with buffers of 128 KiB or more (128 KiB reads, or
    /// 64 KiB reads after 64 KiB of room) the reading thread's kernel time tripled (0.3 s to
    /// 0.8–1.1 s, whatever the pool size), which is what made an earlier reader thread with
    /// 1 MiB reads slower than none. 128 KiB is glibc's threshold for serving an allocation
    /// with its own mapping, which is the likely difference; not confirmed further.
    const HEAD: usize = 1 << 15;
    /// Buffers in flight: 1.5 MiB in all.
    const POOL: usize = 16;

    fn spawn(src: impl Read + Send + 'static) -> Pipe {
        Self::spawn_with(src, false)
    }

    /// `eager`: hand each read over as it returns (a stream: a short read is all there is for
    /// now), not only full buffers.
    fn spawn_with(mut src: impl Read + Send + 'static, eager: bool) -> Pipe {
        let (full_tx, full) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(Self::POOL);
        let (free, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..Self::POOL {
            let _ = free.send(vec![0; Self::HEAD + Self::CHUNK]);
        }
        std::thread::spawn(move || {
            // Ends when the reader side is gone (no buffer comes back) or the input ends.
            while let Ok(mut buf) = free_rx.recv() {
                buf.resize(Self::HEAD + Self::CHUNK, 0);
                let mut n = Self::HEAD;
                let res = loop {
                    match src.read(&mut buf[n..]) {
                        Ok(0) => break Ok(true),
                        Ok(k) => {
                            n += k;
                            if n == buf.len() || eager {
                                break Ok(false);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(n);
                if n > Self::HEAD && full_tx.send(Ok(buf)).is_err() {
                    return;
                }
                match res {
                    Ok(false) => {}
                    Ok(true) => return,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Pipe { full, free, lent: false, early: None }
    }

    /// The next filled buffer (data from [`Self::HEAD`] on); `None` at the end of the input.
    fn next_full(&mut self) -> io::Result<Option<Vec<u8>>> {
        let next = match self.early.take() {
            Some(early) => early,
            None => self.full.recv().ok(),
        };
        next.transpose()
    }

    /// Whether a buffer (or the end of the input) is there to take without waiting.
    pub(crate) fn ready(&mut self) -> bool {
        self.wait(std::time::Duration::ZERO)
    }

    /// Waits up to `d` for a buffer (or the end of the input); whether one is there.
    pub(crate) fn wait(&mut self, d: std::time::Duration) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        if self.early.is_some() {
            return true;
        }
        let got = if d.is_zero() {
            self.full.try_recv().map_err(|e| match e {
                std::sync::mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                std::sync::mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            self.full.recv_timeout(d)
        };
        match got {
            Ok(buf) => self.early = Some(Some(buf)),
            Err(RecvTimeoutError::Disconnected) => self.early = Some(None),
            Err(RecvTimeoutError::Timeout) => return false,
        }
        true
    }

    /// Hands a buffer back to the producer (which may be gone at the end of the input).
    fn give_back(&self, buf: Vec<u8>) {
        let _ = self.free.send(buf);
    }

    /// For the capture reader: makes `n` bytes available at `buf[*pos..*end]` unless the input
    /// ends first, by taking the pool's buffers as they are. The bytes not yet parsed (the
    /// start of a record) are copied into the room before the next buffer's data; a record
    /// longer than that room is gathered in a buffer of the reader's own. Returns the input
    /// bytes added and whether the input ended.
    pub(crate) fn fill(
        &mut self,
        buf: &mut Vec<u8>,
        pos: &mut usize,
        end: &mut usize,
        n: usize,
    ) -> io::Result<(u64, bool)> {
        let mut added = 0;
        while *end - *pos < n {
            let Some(mut next) = self.next_full()? else { return Ok((added, true)) };
            added += (next.len() - Self::HEAD) as u64;
            let tail = *end - *pos;
            if tail <= Self::HEAD {
                next[Self::HEAD - tail..Self::HEAD].copy_from_slice(&buf[*pos..*end]);
                let old = std::mem::replace(buf, next);
                if std::mem::replace(&mut self.lent, true) {
                    self.give_back(old);
                }
                *pos = Self::HEAD - tail;
            } else {
                let mut own = if self.lent { Vec::with_capacity(n.max(2 * tail)) } else { std::mem::take(buf) };
                if self.lent {
                    own.extend_from_slice(&buf[*pos..*end]);
                    self.give_back(std::mem::take(buf));
                    self.lent = false;
                } else {
                    own.truncate(*end);
                    own.drain(..*pos);
                }
                own.extend_from_slice(&next[Self::HEAD..]);
                self.give_back(next);
                *buf = own;
                *pos = 0;
            }
            *end = buf.len();
        }
        Ok((added, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Everything a pipe delivers, taken as the capture reader takes it ([`Pipe::fill`]): a
    /// few bytes at a time first (a record header), then a buffer at a time; and the error
    /// that ended it, if one did.
    fn drain(mut p: Pipe) -> (Vec<u8>, Option<io::Error>) {
        let (mut buf, mut pos, mut end, mut out) = (Vec::new(), 0, 0, Vec::new());
        for step in 0.. {
            let want = if step < 3 { 16 } else { 1 };
            match p.fill(&mut buf, &mut pos, &mut end, want) {
                Ok((_, eof)) => {
                    let take = if step < 3 { (end - pos).min(want) } else { end - pos };
                    out.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    if eof && pos == end {
                        return (out, None);
                    }
                }
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// Every length around the read size and the pool comes through whole and in order, even
    /// when the source returns short reads.
    #[test]
    fn pipe_is_byte_exact_at_every_boundary() {
        struct Trickle(io::Cursor<Vec<u8>>, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.1 += 1;
                let n = out.len().min(1 + self.1 % 7000);
                self.0.read(&mut out[..n])
            }
        }
        let c = Pipe::CHUNK;
        for len in [0, 1, c - 1, c, c + 1, 2 * c, Pipe::POOL * c, Pipe::POOL * c + 1, 3 * Pipe::POOL * c + 5] {
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 7 % 253) as u8).collect();
            for trickle in [false, true] {
                let src: Box<dyn Read + Send> = if trickle {
                    Box::new(Trickle(io::Cursor::new(data.clone()), 0))
                } else {
                    Box::new(io::Cursor::new(data.clone()))
                };
                let (back, _) = drain(Pipe::spawn(src));
                assert_eq!(back.len(), data.len(), "len {len} trickle {trickle}");
                assert!(back == data, "len {len} trickle {trickle}");
            }
        }
    }

    /// A reader error reaches the analysis after the bytes read before it.
    #[test]
    fn pipe_passes_errors_on() {
        struct Fails(usize);
        impl Read for Fails {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = out.len().min(self.0);
                out[..n].fill(9);
                self.0 -= n;
                Ok(n)
            }
        }
        let (back, err) = drain(Pipe::spawn(Fails(100_000)));
        let err = err.map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("disk on fire"));
        assert_eq!(back.len(), 100_000);
    }

    #[test]
    fn gzip_through_the_pipe_is_byte_exact() {
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).ok();
        let packed = gz.finish().unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("wsdiag-pipe-{}", std::process::id()));
        std::fs::write(&dir, &packed).ok();
        let back = match open(dir.to_str().unwrap_or("")).expect("open") {
            Source::Pipe(p) => drain(p).0,
            Source::Inline(mut r) => {
                let mut back = Vec::new();
                r.read_to_end(&mut back).ok();
                back
            }
        };
        assert_eq!(back.len(), data.len());
        assert!(back == data);
        std::fs::remove_file(dir).ok();
    }
}
