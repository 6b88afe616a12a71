//! Finished connections kept until the end of the analysis and given back in id order, in
//! bounded memory however many connections a capture holds. Records gather in memory; past a
//! run's worth of bytes the lower half of them by id goes to the end of the open run in an
//! unlinked temporary file, and the rest wait for more (replacement selection, done half a
//! memory at a time): connections end in nearly the order they began, so the open run takes
//! nearly all of them. A record that comes after larger ids were written waits in memory; when
//! such records hold half of it, the open run is closed and a new one starts with them. At the
//! end the runs are merged. Runs are merged as they pile up, [`FAN`] of a size at a
//! time (the tiers of a log-structured merge), so that the final merge reads from few of them and
//! its buffers stay small too. Runs are LZ4-compressed a block at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes of records held in memory before they are written out as a run.
pub const RUN_BYTES: usize = 8 << 20;
/// Runs of one tier merged into one of the next.
const FAN: usize = 32;
/// Runs are written in LZ4 blocks of this many bytes (records compress 5 to 10 times: less to
/// write and read back), each block after its lengths (raw, then compressed: 4 bytes each).
const CHUNK: usize = 64 << 10;
/// A record's header in a run: its id and its length.
const HEADER: usize = 16;

/// Records by id, read back once in id order (records with one id in the order they came).
pub struct Sorted {
    mem: Vec<u8>,
    /// The records in memory as (id, offset, length), in the order they came.
    index: Vec<(u64, usize, usize)>,
    file: Option<File>,
    file_len: u64,
    /// The closed runs in the file, oldest first, each with its tier.
    runs: Vec<(Run, u32)>,
    /// The run being written, at the end of the file.
    open: Option<OpenRun>,
    run_bytes: usize,
    count: u64,
}

/// The run records still join: those with ids from `last` on.
struct OpenRun {
    start: u64,
    w: RunWriter,
    last: u64,
}

impl Default for Sorted {
    fn default() -> Self {
        Sorted::with_run_bytes(RUN_BYTES)
    }
}

/// A run's place in the file.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: u64,
    end: u64,
}

impl Sorted {
    pub fn with_run_bytes(run_bytes: usize) -> Self {
        Sorted {
            mem: Vec::new(),
            index: Vec::new(),
            file: None,
            file_len: 0,
            runs: Vec::new(),
            open: None,
            run_bytes: run_bytes.max(1),
            count: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records kept.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds record `id`, as `make` writes it (straight behind the records before it: no copy).
    /// A `make` that fails leaves nothing behind.
    pub fn push_with(&mut self, id: u64, make: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<()> {
        let start = self.mem.len();
        if let Err(e) = make(&mut self.mem) {
            self.mem.truncate(start);
            return Err(e);
        }
        self.index.push((id, start, self.mem.len() - start));
        self.count += 1;
        if self.mem.len() >= self.run_bytes {
            self.make_room()?;
        }
        Ok(())
    }

    pub fn push(&mut self, id: u64, bytes: &[u8]) -> io::Result<()> {
        self.push_with(id, |w| {
            w.extend_from_slice(bytes);
            Ok(())
        })
    }

    /// Memory is full: the lower half of the records that can join the open run go to it. Once
    /// the records that cannot (ids below what it holds) fill half of memory, it is closed and
    /// a new one starts with them. The rest stay, in the order they came.
    fn make_room(&mut self) -> io::Result<()> {
        // Sorted by id; a stable sort keeps records of one id in the order they came.
        self.index.sort_by_key(|r| r.0);
        let mut split = self.open.as_ref().map_or(0, |o| self.index.partition_point(|r| r.0 < o.last));
        let late: usize = self.index[..split].iter().map(|r| r.2 + HEADER).sum();
        if late * 2 >= self.run_bytes {
            // A new run starts with what is in memory: the late records first.
            self.close_open()?;
            split = 0;
        }
        let eligible = &self.index[split..];
        let total: usize = eligible.iter().map(|r| r.2 + HEADER).sum();
        let (mut take, mut bytes) = (0, 0);
        while take < eligible.len() && (take == 0 || bytes * 2 < total) {
            bytes += eligible[take].2 + HEADER;
            take += 1;
        }
        if take > 0 {
            let start = self.file_len;
            if self.file.is_none() {
                self.file = Some(temp_file()?);
            }
            let (Some(file), mem) = (&self.file, &self.mem) else { return Err(corrupt()) };
            let open = self.open.get_or_insert_with(|| OpenRun { start, w: RunWriter::new(start), last: 0 });
            for &(id, off, len) in &self.index[split..split + take] {
                open.w.push(file, id, mem.get(off..off + len).unwrap_or_default())?;
                open.last = id;
            }
            self.index.drain(split..split + take);
        }
        // What stays, moved down to the start of memory in the order it came.
        self.index.sort_by_key(|r| r.1);
        let mut to = 0;
        for r in &mut self.index {
            self.mem.copy_within(r.1..r.1 + r.2, to);
            r.1 = to;
            to += r.2;
        }
        self.mem.truncate(to);
        Ok(())
    }

    /// Closes the open run: it becomes a run of the tier its size makes, and full tiers merge.
    fn close_open(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else { return Ok(()) };
        let file = self.file.as_ref().ok_or_else(corrupt)?;
        let raw = open.w.raw_total;
        self.file_len = open.w.finish(file)?;
        self.runs.push((Run { start: open.start, end: self.file_len }, self.tier_of(raw)));
        self.merge_full_tiers()
    }

    /// A run's tier by its (unpacked) size: 0 up to [`FAN`] memories' worth, 1 up to FAN² …
    fn tier_of(&self, raw: u64) -> u32 {
        let (mut tier, mut cap) = (0, (self.run_bytes as u64).saturating_mul(FAN as u64));
        while raw >= cap && cap < u64::MAX {
            tier += 1;
            cap = cap.saturating_mul(FAN as u64);
        }
        tier
    }

    /// While the newest [`FAN`] runs share a tier, merges them into one run of the next.
    fn merge_full_tiers(&mut self) -> io::Result<()> {
        loop {
            let n = self.runs.len();
            let Some(&(_, tier)) = self.runs.last() else { return Ok(()) };
            if n < FAN || self.runs[n - FAN..].iter().any(|(_, t)| *t != tier) {
                return Ok(());
            }
            let Some(file) = &self.file else { return Ok(()) };
            let sources: Vec<Source> = self.runs[n - FAN..].iter().map(|(r, _)| Source::run(*r)).collect();
            let start = self.file_len;
            let mut w = RunWriter::new(start);
            merge(Some(file), &self.mem, sources, |id, rec| w.push(file, id, rec))?;
            let raw = w.raw_total;
            let end = w.finish(file)?;
            self.file_len = end;
            self.runs.truncate(n - FAN);
            // One tier up at least, so that the same runs are not merged again.
            let tier = self.tier_of(raw).max(tier + 1);
            self.runs.push((Run { start, end }, tier));
        }
    }

    /// Gives every record to `f` in id order.
    pub fn drain(mut self, f: impl FnMut(u64, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.close_open()?;
        self.index.sort_by_key(|r| r.0);
        let mut sources: Vec<Source> = self.runs.iter().map(|(r, _)| Source::run(*r)).collect();
        sources.push(Source::Mem { index: std::mem::take(&mut self.index), at: 0 });
        merge(self.file.as_ref(), &self.mem, sources, f)
    }
}

/// Where the merge reads records from: a run in the file, or the records still in memory.
enum Source {
    /// `buf` holds what was unpacked of it from `at` on, `packed` a block as read.
    Run {
        pos: u64,
        end: u64,
        buf: Vec<u8>,
        packed: Vec<u8>,
        at: usize,
        cur: Option<(u64, usize)>,
    },
    Mem {
        index: Vec<(u64, usize, usize)>,
        at: usize,
    },
}

impl Source {
    fn run(r: Run) -> Source {
        Source::Run { pos: r.start, end: r.end, buf: Vec::new(), packed: Vec::new(), at: 0, cur: None }
    }

    /// Moves to the next record; returns its id, or None at the end.
    fn advance(&mut self, file: Option<&File>) -> io::Result<Option<u64>> {
        match self {
            Source::Mem { index, at } => {
                *at += 1;
                Ok(index.get(*at - 1).map(|r| r.0))
            }
            Source::Run { pos, end, buf, packed, at, cur } => {
                if let Some((_, len)) = cur.take() {
                    *at += HEADER + len;
                }
                if *pos == *end && *at == buf.len() {
                    return Ok(None);
                }
                let file = file.ok_or_else(corrupt)?;
                fill(file, (pos, *end), buf, packed, at, HEADER)?;
                let word = |i: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(buf.get(*at + i..*at + i + 8).unwrap_or(&[0; 8]));
                    u64::from_le_bytes(b)
                };
                let (id, len) = (word(0), word(8));
                let len = usize::try_from(len).map_err(|_| corrupt())?;
                fill(file, (pos, *end), buf, packed, at, HEADER.checked_add(len).ok_or_else(corrupt)?)?;
                *cur = Some((id, len));
                Ok(Some(id))
            }
        }
    }

    /// The record moved to last.
    fn current<'a>(&'a self, mem: &'a [u8]) -> &'a [u8] {
        match self {
            Source::Mem { index, at } => {
                index.get(at.wrapping_sub(1)).and_then(|&(_, off, len)| mem.get(off..off + len)).unwrap_or_default()
            }
            Source::Run { buf, at, cur, .. } => {
                cur.and_then(|(_, len)| buf.get(*at + HEADER..*at + HEADER + len)).unwrap_or_default()
            }
        }
    }
}

/// Writes a run at `at` as its records come (in id order): each after its header, packed a
/// few blocks at a time, so that what is held is a few blocks, not the run.
struct RunWriter {
    raw: Vec<u8>,
    at: u64,
    /// Bytes of the run before packing.
    raw_total: u64,
}

impl RunWriter {
    fn new(at: u64) -> Self {
        RunWriter { raw: Vec::new(), at, raw_total: 0 }
    }

    fn push(&mut self, file: &File, id: u64, rec: &[u8]) -> io::Result<()> {
        self.raw_total += (HEADER + rec.len()) as u64;
        self.raw.extend_from_slice(&id.to_le_bytes());
        self.raw.extend_from_slice(&(rec.len() as u64).to_le_bytes());
        self.raw.extend_from_slice(rec);
        if self.raw.len() >= 4 * CHUNK { self.flush(file) } else { Ok(()) }
    }

    fn flush(&mut self, file: &File) -> io::Result<()> {
        let packed = pack(&self.raw);
        file.write_all_at(&packed, self.at)?;
        self.at += packed.len() as u64;
        self.raw.clear();
        Ok(())
    }

    /// Writes what is left; returns where the run ends.
    fn finish(mut self, file: &File) -> io::Result<u64> {
        self.flush(file)?;
        Ok(self.at)
    }
}

/// A run's bytes as LZ4 blocks of [`CHUNK`] bytes, each after its raw and packed lengths.
fn pack(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    for chunk in raw.chunks(CHUNK) {
        let at = out.len();
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let room = lz4_flex::block::get_maximum_output_size(chunk.len());
        out.resize(at + 8 + room, 0);
        let n = lz4_flex::block::compress_into(chunk, &mut out[at + 8..]).unwrap_or(0);
        out.truncate(at + 8 + n);
        out[at + 4..at + 8].copy_from_slice(&(n as u32).to_le_bytes());
    }
    out
}

/// Makes `need` bytes from `at` on available in `buf`, unpacking the run's blocks from `pos`
/// (before `end`) one at a time.
fn fill(
    file: &File,
    (pos, end): (&mut u64, u64),
    buf: &mut Vec<u8>,
    packed: &mut Vec<u8>,
    at: &mut usize,
    need: usize,
) -> io::Result<()> {
    if buf.len() - *at >= need {
        return Ok(());
    }
    buf.drain(..*at);
    *at = 0;
    while buf.len() < need {
        if end.saturating_sub(*pos) < 8 {
            return Err(corrupt());
        }
        let mut lens = [0u8; 8];
        file.read_exact_at(&mut lens, *pos)?;
        let word = |i: usize| u32::from_le_bytes([lens[i], lens[i + 1], lens[i + 2], lens[i + 3]]) as usize;
        let (raw, n) = (word(0), word(4));
        if raw > CHUNK || n as u64 > end - *pos - 8 {
            return Err(corrupt());
        }
        packed.resize(n, 0);
        file.read_exact_at(packed, *pos + 8)?;
        *pos += 8 + n as u64;
        let old = buf.len();
        buf.resize(old + raw, 0);
        match lz4_flex::block::decompress_into(packed, &mut buf[old..]) {
            Ok(k) if k == raw => {}
            _ => return Err(corrupt()),
        }
    }
    Ok(())
}

fn corrupt() -> io::Error {
    io::Error::other("a spilled record is cut short")
}

/// Merges `sources` (each in id order) into `f`, in id order; a tie goes to the older source.
fn merge(
    file: Option<&File>,
    mem: &[u8],
    mut sources: Vec<Source>,
    mut f: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(id) = s.advance(file)? {
            heap.push(Reverse((id, i)));
        }
    }
    while let Some(Reverse((id, i))) = heap.pop() {
        let Some(s) = sources.get_mut(i) else { continue };
        f(id, s.current(mem))?;
        if let Some(next) = s.advance(file)? {
            heap.push(Reverse((next, i)));
        }
    }
    Ok(())
}

fn temp_file() -> io::Result<File> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!("wsdiag-{}-{nanos}.spill", std::process::id()));
    let f = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    // Unlinked at once: the file lives as long as the handle, and never outlives the process.
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random numbers below `n`, from `seed` (xorshift64).
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        }
    }

    fn drained(s: Sorted) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let r = s.drain(|id, rec| {
            out.push((id, rec.to_vec()));
            Ok(())
        });
        assert!(r.is_ok(), "{r:?}");
        out
    }

    /// Against the model (a stable sort of everything pushed): in memory only, with a run or
    /// two in the file, and with so many runs that tiers are merged (FAN runs of FAN runs).
    #[test]
    fn records_come_back_in_id_order_however_many_runs() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for (run_bytes, n) in [(1 << 20, 500), (4000, 500), (64, 3000), (1, 2 * FAN * FAN + 7)] {
            let mut s = Sorted::with_run_bytes(run_bytes);
            let mut model = Vec::new();
            for i in 0..n as u64 {
                // Mostly in order, some late, some sharing an id; lengths from 0 to 300.
                let id = if next(4) == 0 { next(i + 1) } else { i };
                let len = next(300) as usize;
                let rec: Vec<u8> = (0..len).map(|k| (i as usize + k) as u8).collect();
                assert!(s.push(id, &rec).is_ok());
                model.push((id, rec));
            }
            model.sort_by_key(|r| r.0);
            assert_eq!(s.count, n as u64);
            let tiers = s.runs.iter().map(|r| r.1).max();
            let got = drained(s);
            assert_eq!(got.len(), model.len(), "run_bytes {run_bytes}");
            assert!(got == model, "run_bytes {run_bytes}: not the model's order or bytes");
            match run_bytes {
                1 => assert_eq!(tiers, Some(2), "2 FAN² records: merged twice over"),
                64 => assert!(tiers >= Some(1)),
                _ if run_bytes >= 1 << 20 => assert_eq!(tiers, None, "all in memory"),
                _ => {}
            }
        }
    }

    /// Connections end in nearly the order they began: such records go to one run (a few late
    /// ones wait in memory; many late ones start a second run), where records in no order make
    /// many runs. Memory stays within its bound all along.
    #[test]
    fn nearly_sorted_records_make_one_run() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let rec = [7u8; 100];
        let runs_for = |ids: &[u64]| {
            let room = 100 * (HEADER + rec.len());
            let mut s = Sorted::with_run_bytes(room);
            for &id in ids {
                assert!(s.push(id, &rec).is_ok());
                assert!(s.mem.len() < room, "memory holds {} bytes", s.mem.len());
            }
            let runs = s.runs.len() + usize::from(s.open.is_some());
            let mut got = Vec::new();
            let drained = s.drain(|id, _| {
                got.push(id);
                Ok(())
            });
            assert!(drained.is_ok());
            let mut want = ids.to_vec();
            want.sort_unstable();
            assert_eq!(got, want);
            runs
        };
        // Each id fewer than 40 places from its place (memory holds 100), and 5 ten thousand late.
        let mut ids: Vec<u64> = (0..20_000).collect();
        ids.sort_by_cached_key(|&id| id + next(40));
        for k in 0..5 {
            let late = ids.remove(1000 + k);
            ids.insert(11_000 + 1000 * k, late);
        }
        assert_eq!(runs_for(&ids), 1, "one run; the late ones waited in memory");
        // 200 late ones (twice what memory holds), in order among themselves: a second run starts
        // with them.
        let late: Vec<u64> = ids.drain(2000..2200).collect();
        ids.splice(15_000..15_000, late);
        let runs = runs_for(&ids);
        assert_eq!(runs, 2, "the open run closed for the late ones");
        let random: Vec<u64> = (0..20_000).map(|_| next(1 << 40)).collect();
        let runs = runs_for(&random);
        assert!((10..400).contains(&runs), "records in no order: many runs, not {runs}");
    }

    #[test]
    fn a_failed_record_leaves_nothing_behind() {
        let mut s = Sorted::with_run_bytes(10);
        assert!(s.push(2, b"two").is_ok());
        let failed = s.push_with(1, |w| {
            w.extend_from_slice(b"half");
            Err(io::Error::other("no"))
        });
        assert!(failed.is_err());
        assert!(s.push(1, b"one, long enough to go to the file").is_ok());
        assert!(s.push(0, b"").is_ok());
        assert_eq!(
            drained(s),
            vec![(0, vec![]), (1, b"one, long enough to go to the file".to_vec()), (2, b"two".to_vec())]
        );
        assert!(drained(Sorted::default()).is_empty());
    }

    /// A run cut short (the file changed under it) is an error, not a panic or a wrong record.
    #[test]
    fn a_run_cut_short_is_an_error() {
        let mut s = Sorted::with_run_bytes(1);
        assert!(s.push(1, b"abcdef").is_ok());
        assert!(s.close_open().is_ok());
        if let Some((run, _)) = s.runs.first_mut() {
            run.end -= 2;
        }
        assert!(s.drain(|_, _| Ok(())).is_err());
    }
}
