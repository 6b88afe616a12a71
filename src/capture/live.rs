//! Live capture through libpcap (cargo feature `live`): the same [`Packet`]s as files give, so
//! one pipeline analyses both. `--write` saves exactly the packets handed on.

use super::{Linktype, Packet};
use crate::units::{PacketNo, Timestamp};
use std::path::Path;

/// Why a live capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "capturing on {iface} needs root or the CAP_NET_RAW capability ({detail}); try `sudo wsdiag live …` or `sudo setcap cap_net_raw,cap_net_admin=eip $(which wsdiag)`"
    )]
    Permission { iface: String, detail: String },
    #[error("cannot capture on {iface}: {detail}")]
    Open { iface: String, detail: String },
    #[error("bad capture filter {filter:?}: {detail}")]
    Filter { filter: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
}

/// Kernel and interface counters (libpcap's `pcap_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    linktype: Linktype,
    number: u64,
    save: Option<pcap::Savefile>,
}

fn is_permission(e: &pcap::Error) -> bool {
    let s = e.to_string().to_ascii_lowercase();
    s.contains("permission") || s.contains("not permitted")
}

impl LiveCapture {
    /// Opens `iface` with an optional BPF filter; `write` saves every packet read.
    pub fn open(
        iface: &str,
        filter: Option<&str>,
        snaplen: i32,
        buffer_mib: i32,
        write: Option<&Path>,
    ) -> Result<Self, LiveError> {
        let err = |e: pcap::Error| {
            if is_permission(&e) {
                LiveError::Permission { iface: iface.into(), detail: e.to_string() }
            } else {
                LiveError::Open { iface: iface.into(), detail: e.to_string() }
            }
        };
        let cap = pcap::Capture::from_device(iface)
            .map_err(err)?
            .promisc(false)
            .snaplen(snaplen)
            // Not immediate mode: with TPACKET_V3 it gives every packet a whole snaplen-sized ring
            // slot, so a burst overflows the ring at once. Blocks are handed over when full or
            // after the timeout instead.
            .timeout(50)
            .buffer_size(buffer_mib.saturating_mul(1 << 20))
            .open()
            .map_err(err)?;
        // Non-blocking: an idle interface must not stop the caller from noticing a signal or
        // the end of --duration.
        let mut cap = cap.setnonblock().map_err(err)?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|e| LiveError::Filter { filter: f.into(), detail: e.to_string() })?;
        }
        let linktype = Linktype(cap.get_datalink().0 as u32);
        let save = match write {
            Some(p) => Some(
                cap.savefile(p)
                    .map_err(|e| LiveError::Write { path: p.display().to_string(), detail: e.to_string() })?,
            ),
            None => None,
        };
        Ok(LiveCapture { cap, linktype, number: 0, save })
    }

    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// The next packet; `Ok(None)` when none is waiting (so the caller can check for a signal
    /// or the end of `--duration`, and should sleep a little).
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, pcap::Error> {
        let LiveCapture { cap, linktype, number, save } = self;
        match cap.next_packet() {
            Ok(p) => {
                if let Some(s) = save.as_mut() {
                    s.write(&p);
                }
                *number += 1;
                let ts = Timestamp(p.header.ts.tv_sec * 1_000_000_000 + p.header.ts.tv_usec * 1000);
                Ok(Some(Packet {
                    number: PacketNo(*number),
                    ts,
                    linktype: *linktype,
                    data: p.data,
                    orig_len: p.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn stats(&mut self) -> Option<LiveStats> {
        self.cap.stats().ok().map(|s| LiveStats { received: s.received, dropped: s.dropped, if_dropped: s.if_dropped })
    }

    /// Whether every packet the kernel counted for this socket (received, less those it
    /// dropped) has been read.
    fn all_read(&mut self) -> bool {
        let read = self.number as u32; // libpcap's counters are 32 bits and wrap
        self.stats().is_none_or(|s| read.wrapping_add(s.dropped) == s.received)
    }

    /// Flushes the `--write` file.
    pub fn flush(&mut self) {
        if let Some(s) = self.save.as_mut() {
            let _ = s.flush();
        }
    }
}

/// Packets copied out of libpcap's ring by the capture thread, handed over together.
pub struct Batch {
    data: Vec<u8>,
    /// (time, length on the wire, start in `data`, captured length) per packet.
    index: Vec<(Timestamp, u32, usize, usize)>,
    /// libpcap's counters when the batch was sent (at least every 200 ms).
    pub stats: Option<LiveStats>,
    /// The capture ended (a capture error, or asked to stop): this is the last batch.
    pub last: bool,
    pub error: Option<String>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            data: Vec::with_capacity(Feed::BYTES + 65_536),
            index: Vec::with_capacity(Feed::PACKETS),
            stats: None,
            last: false,
            error: None,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Its packets, numbered on from `*number`.
    pub fn packets<'a>(&'a self, linktype: Linktype, number: &'a mut u64) -> impl Iterator<Item = Packet<'a>> + 'a {
        self.index.iter().map(move |&(ts, orig_len, start, len)| {
            *number += 1;
            Packet { number: PacketNo(*number), ts, linktype, data: &self.data[start..start + len], orig_len }
        })
    }
}

/// A live capture read on a thread of its own, which only copies packets out of libpcap's
/// ring into batches (so that the ring drains while the analysis runs on another core);
/// batches come back to be filled again, so the steady state allocates nothing.
pub struct Feed {
    full: std::sync::mpsc::Receiver<Batch>,
    free: std::sync::mpsc::Sender<Batch>,
    pub linktype: Linktype,
}

impl Feed {
    /// A batch is sent when it holds this many bytes or packets, or after [`Self::WAIT`].
    const BYTES: usize = 256 << 10;
    const PACKETS: usize = 2048;
    const WAIT: std::time::Duration = std::time::Duration::from_millis(10);
    /// Batches in flight: with [`Self::BYTES`], 8 MiB between the capture and the analysis.
    const POOL: usize = 32;
    /// After the stop: how long the kernel's ring is still read at most, and how long it must
    /// have stayed empty, all its packets read, to count as drained.
    const DRAIN: std::time::Duration = std::time::Duration::from_secs(3);
    const QUIET: std::time::Duration = std::time::Duration::from_millis(60);

    /// Starts the capture thread; when `stop` is set it reads what the kernel still holds, then
    /// sends a last batch and ends.
    pub fn spawn(mut cap: LiveCapture, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Feed {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let linktype = cap.linktype;
        let (full_tx, full) = std::sync::mpsc::sync_channel::<Batch>(Self::POOL);
        let (free, free_rx) = std::sync::mpsc::channel::<Batch>();
        for _ in 0..Self::POOL {
            let _ = free.send(Batch::new());
        }
        std::thread::spawn(move || {
            let mut stats_at = Instant::now();
            let mut batch = free_rx.recv().unwrap_or_else(|_| Batch::new());
            let mut since: Option<Instant> = None;
            // Asked to stop: what the kernel captured until then is still read (its ring may hold
            // seconds of traffic when the analysis fell behind), until a later packet comes, all
            // it counted has been read and the socket stayed empty for QUIET, or DRAIN has passed.
            // A packet stamped after the stop is past what was asked for, and ends the drain.
            let (mut stopped_at, mut quiet_since): (Option<(Instant, i64)>, Option<Instant>) = (None, None);
            let mut past_stop = false;
            loop {
                if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
                    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                    stopped_at = Some((Instant::now(), wall.map_or(i64::MAX, |d| d.as_nanos() as i64)));
                }
                let stopping = stopped_at.is_some_and(|(t, _)| {
                    past_stop || t.elapsed() >= Self::DRAIN || quiet_since.is_some_and(|q| q.elapsed() >= Self::QUIET)
                });
                let mut idle = false;
                if !stopping {
                    match cap.next_packet() {
                        Ok(Some(p)) if stopped_at.is_some_and(|(_, wall)| p.ts.0 > wall) => past_stop = true,
                        Ok(Some(p)) => {
                            let start = batch.data.len();
                            batch.data.extend_from_slice(p.data);
                            batch.index.push((p.ts, p.orig_len, start, p.data.len()));
                            since.get_or_insert_with(Instant::now);
                            quiet_since = None;
                        }
                        Ok(None) => idle = true,
                        Err(e) => {
                            batch.error = Some(e.to_string());
                            batch.last = true;
                        }
                    }
                }
                // Drained once every packet the kernel counted has been read (a ring block not
                // yet handed over holds counted packets) and nothing more came for a while
                // (packets still on their way to the socket).
                if idle && (stopped_at.is_none() || cap.all_read()) {
                    quiet_since.get_or_insert_with(Instant::now);
                }
                let due_stats = stats_at.elapsed() >= Duration::from_millis(200);
                let full_enough = batch.data.len() >= Self::BYTES || batch.index.len() >= Self::PACKETS;
                let waited = since.is_some_and(|t| t.elapsed() >= Self::WAIT);
                if stopping || batch.last || full_enough || waited || due_stats || (idle && !batch.is_empty()) {
                    if due_stats || stopping || batch.last {
                        stats_at = Instant::now();
                        batch.stats = cap.stats();
                    }
                    batch.last |= stopping;
                    let last = batch.last;
                    if last {
                        cap.flush();
                    }
                    let next = free_rx.recv().unwrap_or_else(|_| Batch::new());
                    if full_tx.send(std::mem::replace(&mut batch, next)).is_err() || last {
                        return;
                    }
                    // Waiting for a free batch is not quiet on the wire.
                    (since, quiet_since) = (None, None);
                } else if idle {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Feed { full, free, linktype }
    }

    /// The next batch, waiting up to `d`; None if none came.
    pub fn next(&self, d: std::time::Duration) -> Option<Batch> {
        self.full.recv_timeout(d).ok()
    }

    /// A batch read, back to the capture thread.
    pub fn give_back(&self, mut b: Batch) {
        b.data.clear();
        b.index.clear();
        b.stats = None;
        let _ = self.free.send(b);
    }
}

/// The interfaces libpcap can capture on: (name, description).
pub fn list() -> Result<Vec<(String, Option<String>)>, LiveError> {
    pcap::Device::list()
        .map(|v| v.into_iter().map(|d| (d.name, d.desc)).collect())
        .map_err(|e| LiveError::Open { iface: "(list)".into(), detail: e.to_string() })
}
