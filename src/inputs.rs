//! Several capture files in one run: each is a capture of its own (its packets numbered from 1,
//! its connections finished at its end), except the pieces of a rotation set (`tcpdump
//! -C/-G/-W`, `editcap -c`), which are read as one capture with packet numbers per piece.
//!
//! A rotation set is seen from the files themselves: the same link type, each piece starting
//! where the one before it ended, and a connection of one piece going on in the next, or names
//! that differ only in their digits. Files whose names differ only in their digits are read in
//! the order of their first packets, whatever order they were given in.

use crate::capture::{self, CaptureReader, Linktype};
use crate::flow::FlowKey;
use crate::units::Timestamp;
use crate::wire::{self, Decoded};

/// The start of a capture file, read ahead of the analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peek {
    pub linktype: Linktype,
    pub first_ts: Timestamp,
    /// The TCP connections of its first packets that are already under way (no SYN seen).
    pub going_on: Vec<FlowKey>,
}

/// Packets read ahead of each file.
const PEEK_PACKETS: usize = 2000;

/// The start of the capture file at `path`; None for standard input, an unreadable file or one
/// without packets.
pub fn peek(path: &str) -> Option<Peek> {
    if path == "-" {
        return None;
    }
    let mut r = CaptureReader::new(capture::decompressed(path).ok()?, path, 1).ok()?;
    let mut first: Option<(Linktype, Timestamp)> = None;
    let mut seen: Vec<FlowKey> = Vec::new();
    let mut going_on = Vec::new();
    for _ in 0..PEEK_PACKETS {
        let Some(p) = r.next() else { break };
        first.get_or_insert((p.linktype, p.ts));
        if let Decoded::Tcp(seg) = wire::decode(p.linktype, p.data, p.orig_len) {
            let key = FlowKey::of(seg.src, seg.dst);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if !seg.flags.syn() {
                going_on.push(key);
            }
        }
    }
    let (linktype, first_ts) = first?;
    Some(Peek { linktype, first_ts, going_on })
}

/// The file name with every run of digits as `#`: the pieces of a rotation set share it
/// (`cap.pcap0`, `cap.pcap1`; `cap_00001_20261203120000.pcap`; `cap`, `cap1`, `cap2`).
pub fn family(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut digits = false;
    for ch in path.chars() {
        if ch.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            out.push(ch);
            digits = false;
        }
    }
    out
}

/// The order to read the inputs in, as indexes into `paths`: as given, except that the files of
/// one family (with `merge`, all files) are read together, in the order of their first
/// packets, where the first of them was given.
pub fn order(paths: &[String], peeks: &[Option<Peek>], merge: bool) -> Vec<usize> {
    let key = |i: usize| if merge { String::new() } else { family(&paths[i]) };
    let time = |i: usize| peeks.get(i).and_then(|p| p.as_ref()).map_or(i64::MAX, |p| p.first_ts.0);
    let mut out: Vec<usize> = Vec::with_capacity(paths.len());
    let mut placed = vec![false; paths.len()];
    for i in 0..paths.len() {
        if placed[i] {
            continue;
        }
        if paths[i] == "-" {
            placed[i] = true;
            out.push(i);
            continue;
        }
        let k = key(i);
        let mut group: Vec<usize> =
            (i..paths.len()).filter(|&j| !placed[j] && paths[j] != "-" && key(j) == k).collect();
        group.sort_by_key(|&j| (time(j), j));
        for &j in &group {
            placed[j] = true;
        }
        out.extend(group);
    }
    out
}

/// Whether the file `next` is the next piece of the capture read so far: the file before it
/// was `prev`; the capture's last packet was at `last_ts`; `open` says whether a connection
/// still open in the analysis is one of those under way at the start of `next`.
pub fn is_next_piece(
    prev: (&str, Option<&Peek>),
    next: (&str, Option<&Peek>),
    last_ts: Option<Timestamp>,
    open: impl FnOnce(&[FlowKey]) -> bool,
    merge: bool,
) -> bool {
    /// Pieces of a time rotation without a connection across the cut may be this far apart.
    const GAP_NS: i64 = 10 * 60 * 1_000_000_000;
    if merge {
        return true;
    }
    let (Some(p), Some(n), Some(last)) = (prev.1, next.1, last_ts) else { return false };
    if p.linktype != n.linktype || n.first_ts < last {
        return false;
    }
    open(&n.going_on) || (family(prev.0) == family(next.0) && n.first_ts.0.saturating_sub(last.0) <= GAP_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peek_at(s: i64, linktype: u32) -> Option<Peek> {
        Some(Peek { linktype: Linktype(linktype), first_ts: Timestamp(s * 1_000_000_000), going_on: Vec::new() })
    }

    #[test]
    fn families_ignore_the_digits() {
        assert_eq!(family("cap.pcap0"), family("cap.pcap12"));
        assert_eq!(family("/tmp/x/cap"), "/tmp/x/cap");
        assert_eq!(family("/tmp/x/cap1"), "/tmp/x/cap#");
        assert_eq!(family("out_00001_20261203120000.pcap"), "out_#_#.pcap");
        assert_ne!(family("a.pcap"), family("b.pcap"));
    }

    #[test]
    fn a_family_is_read_in_time_order_where_its_first_file_was_given() {
        let paths: Vec<String> = ["b.pcap", "cap2.pcap", "a.pcap", "cap1.pcap", "-"].map(String::from).to_vec();
        let peeks = vec![peek_at(50, 1), peek_at(20, 1), peek_at(5, 1), peek_at(10, 1), None];
        assert_eq!(order(&paths, &peeks, false), vec![0, 3, 1, 2, 4]);
        // --merge: everything but standard input in time order.
        assert_eq!(order(&paths, &peeks, true), vec![2, 3, 1, 0, 4]);
        // A file that could not be peeked goes last in its family.
        let peeks = vec![peek_at(50, 1), None, peek_at(5, 1), peek_at(10, 1), None];
        assert_eq!(order(&paths, &peeks, false), vec![0, 3, 1, 2, 4]);
    }

    #[test]
    fn a_piece_starts_where_the_last_ended_on_the_same_link() {
        let (a, b) = (peek_at(100, 1), peek_at(101, 1));
        let last = Some(Timestamp(100_500_000_000));
        let yes = |_: &[FlowKey]| true;
        let no = |_: &[FlowKey]| false;
        // A connection goes on across the cut: a piece, whatever the names.
        assert!(is_next_piece(("x.pcap", a.as_ref()), ("y.pcap", b.as_ref()), last, yes, false));
        // No connection across it: a piece only when the names are a rotation's.
        assert!(!is_next_piece(("x.pcap", a.as_ref()), ("y.pcap", b.as_ref()), last, no, false));
        assert!(is_next_piece(("x.pcap0", a.as_ref()), ("x.pcap1", b.as_ref()), last, no, false));
        // Starting before the last packet: another capture (another host, the same hour).
        let early = peek_at(100, 1);
        assert!(!is_next_piece(("x.pcap0", a.as_ref()), ("x.pcap1", early.as_ref()), last, yes, false));
        // Another link type: another capture.
        let sll = peek_at(101, 113);
        assert!(!is_next_piece(("x.pcap0", a.as_ref()), ("x.pcap1", sll.as_ref()), last, yes, false));
        // Too long after it, without a connection across: another capture.
        let later = peek_at(100 + 3600, 1);
        assert!(!is_next_piece(("x.pcap0", a.as_ref()), ("x.pcap1", later.as_ref()), last, no, false));
        // Nothing known (standard input, an empty file): another capture, unless forced.
        assert!(!is_next_piece(("-", None), ("x.pcap1", b.as_ref()), last, yes, false));
        assert!(is_next_piece(("-", None), ("x.pcap1", b.as_ref()), last, no, true));
    }
}
