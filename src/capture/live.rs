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
    pub fn open(iface: &str, filter: Option<&str>, snaplen: i32, write: Option<&Path>) -> Result<Self, LiveError> {
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
            .buffer_size(32 << 20)
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

    /// Flushes the `--write` file.
    pub fn flush(&mut self) {
        if let Some(s) = self.save.as_mut() {
            let _ = s.flush();
        }
    }
}

/// The interfaces libpcap can capture on: (name, description).
pub fn list() -> Result<Vec<(String, Option<String>)>, LiveError> {
    pcap::Device::list()
        .map(|v| v.into_iter().map(|d| (d.name, d.desc)).collect())
        .map_err(|e| LiveError::Open { iface: "(list)".into(), detail: e.to_string() })
}
