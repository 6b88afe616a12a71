//! Finished connections kept outside memory until the end of the analysis, so that the table and
//! `--json` need memory for an index only, however many connections a capture holds. Small
//! analyses stay in memory; past 32 MiB (half the 64 MB the whole run may use) the records go to
//! an unlinked temporary file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};

const IN_MEMORY: usize = 32 << 20;

#[derive(Default)]
pub struct Spill {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
}

/// Where a record is.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub offset: u64,
    pub len: u32,
}

impl Spill {
    #[cfg(test)]
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<Slot> {
        self.push_with(|w| {
            w.extend_from_slice(bytes);
            Ok(())
        })
    }

    /// Adds the record `make` writes: in memory it writes straight behind the records before
    /// (no copy of it), past the memory bound into a buffer that goes to the file.
    pub fn push_with(&mut self, make: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<Slot> {
        let offset = self.len;
        let len = match self.file.as_mut() {
            None => {
                let start = self.mem.len();
                if let Err(e) = make(&mut self.mem) {
                    self.mem.truncate(start);
                    return Err(e);
                }
                let len = self.mem.len() - start;
                if self.mem.len() > IN_MEMORY {
                    let mut f = temp_file()?;
                    f.write_all(&self.mem)?;
                    self.mem = Vec::new();
                    self.file = Some(f);
                }
                len
            }
            Some(f) => {
                self.mem.clear();
                make(&mut self.mem)?;
                f.write_all(&self.mem)?;
                self.mem.len()
            }
        };
        self.len += len as u64;
        Ok(Slot { offset, len: len as u32 })
    }

    /// Writes `len` bytes of records from `offset` on to `w` (records pushed one after another
    /// are written at once): from memory as they are, from the file through `buf`, a MiB at a
    /// time.
    pub fn write(&mut self, offset: u64, len: u64, buf: &mut Vec<u8>, w: &mut impl Write) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            let r = usize::try_from(offset).ok().zip(usize::try_from(len).ok());
            return match r.and_then(|(o, l)| self.mem.get(o..o.checked_add(l)?)) {
                Some(r) => w.write_all(r),
                None => Err(io::Error::other("a spilled record is missing")),
            };
        };
        f.seek(SeekFrom::Start(offset))?;
        let mut left = len;
        while left > 0 {
            let n = left.min(1 << 20) as usize;
            buf.resize(n, 0);
            f.read_exact(buf)?;
            w.write_all(buf)?;
            left -= n as u64;
        }
        f.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Writes the records in `slots`, in that order, the last one without its last `cut` bytes:
    /// from memory with gathered writes (no copy into the output's buffer), from the file one
    /// record at a time through `buf` (records seldom lie in the order they are wanted).
    pub fn write_records(&mut self, slots: &[Slot], cut: u64, buf: &mut Vec<u8>, w: &mut impl Write) -> io::Result<()> {
        let len = |i: usize, slot: &Slot| {
            let cut = if i + 1 == slots.len() { cut } else { 0 };
            u64::from(slot.len).saturating_sub(cut)
        };
        if self.file.is_some() {
            for (i, slot) in slots.iter().enumerate() {
                self.write(slot.offset, len(i, slot), buf, w)?;
            }
            return Ok(());
        }
        let mut parts = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            let r = usize::try_from(slot.offset)
                .ok()
                .zip(usize::try_from(len(i, slot)).ok())
                .and_then(|(o, l)| self.mem.get(o..o.checked_add(l)?));
            parts.push(io::IoSlice::new(r.ok_or_else(|| io::Error::other("a spilled record is missing"))?));
        }
        write_all_vectored(w, &mut parts)
    }

    pub fn get(&mut self, slot: Slot, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        match self.file.as_mut() {
            Some(f) => {
                f.seek(SeekFrom::Start(slot.offset))?;
                buf.resize(slot.len as usize, 0);
                f.read_exact(buf)?;
                f.seek(SeekFrom::End(0))?;
            }
            None => {
                let start = slot.offset as usize;
                let Some(r) = self.mem.get(start..start + slot.len as usize) else {
                    return Err(io::Error::other("a spilled record is missing"));
                };
                buf.extend_from_slice(r);
            }
        }
        Ok(())
    }
}

/// `Write::write_all` for gathered buffers (at most 1024 to a call, the usual `IOV_MAX`).
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        let n = bufs.len().min(1024);
        match w.write_vectored(&bufs[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => io::IoSlice::advance_slices(&mut bufs, k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
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

    #[test]
    fn records_come_back_from_memory_and_from_the_file() {
        let mut s = Spill::default();
        let a = s.push(b"first").unwrap_or(Slot { offset: 0, len: 0 });
        let big = vec![7u8; IN_MEMORY];
        let b = s.push(&big).unwrap_or(Slot { offset: 0, len: 0 });
        let c = s.push(b"third").unwrap_or(Slot { offset: 0, len: 0 });
        assert!(s.file.is_some());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        s.write_records(&[c, a], 2, &mut buf, &mut out).ok();
        assert_eq!(out, b"thirdfir", "in the order asked, the last one cut");
        for (slot, want) in [(c, &b"third"[..]), (a, &b"first"[..]), (b, &big[..])] {
            s.get(slot, &mut buf).ok();
            assert_eq!(buf, want);
            let mut out = Vec::new();
            s.write(slot.offset, slot.len.into(), &mut buf, &mut out).ok();
            assert_eq!(out, want);
        }
        // Records pushed one after another come back as one run, from the file a MiB at a time.
        let mut out = Vec::new();
        s.write(b.offset, u64::from(b.len) + u64::from(c.len), &mut buf, &mut out).ok();
        assert_eq!(out.len(), big.len() + 5);
        assert!(out.ends_with(b"\x07third"));
        let mut small = Spill::default();
        let slot = small.push(b"in memory").unwrap_or(Slot { offset: 9, len: 9 });
        let next = small.push_with(|w| {
            w.extend_from_slice(b", made in place");
            Ok(())
        });
        assert_eq!(next.map(|s| (s.offset, s.len)).ok(), Some((9, 15)));
        let failed = small.push_with(|w| {
            w.extend_from_slice(b"half");
            Err(io::Error::other("no"))
        });
        assert!(failed.is_err());
        let mut out = Vec::new();
        small.write(slot.offset, 24, &mut buf, &mut out).ok();
        assert_eq!(out, b"in memory, made in place", "a failed record leaves nothing behind");
        assert!(small.write(5, 20, &mut buf, &mut out).is_err());
        let mut out = Vec::new();
        small.write_records(&[Slot { offset: 9, len: 15 }, slot], 3, &mut buf, &mut out).ok();
        assert_eq!(out, b", made in placein mem", "gathered from memory, the last one cut");
        assert!(small.get(Slot { offset: 20, len: 9 }, &mut buf).is_err());
    }
}
