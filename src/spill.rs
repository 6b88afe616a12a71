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
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<Slot> {
        if self.file.is_none() && self.mem.len() + bytes.len() > IN_MEMORY {
            let mut f = temp_file()?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        let slot = Slot { offset: self.len, len: bytes.len() as u32 };
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes)?,
            None => self.mem.extend_from_slice(bytes),
        }
        self.len += bytes.len() as u64;
        Ok(slot)
    }

    /// Writes a record to `w`: from memory as it is, from the file through `buf`.
    pub fn write(&mut self, slot: Slot, buf: &mut Vec<u8>, w: &mut impl Write) -> io::Result<()> {
        if self.file.is_none() {
            let start = slot.offset as usize;
            return match self.mem.get(start..start + slot.len as usize) {
                Some(r) => w.write_all(r),
                None => Err(io::Error::other("a spilled record is missing")),
            };
        }
        self.get(slot, buf)?;
        w.write_all(buf)
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
                buf.extend_from_slice(&self.mem[start..start + slot.len as usize]);
            }
        }
        Ok(())
    }
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
        for (slot, want) in [(c, &b"third"[..]), (a, &b"first"[..]), (b, &big[..])] {
            s.get(slot, &mut buf).ok();
            assert_eq!(buf, want);
            let mut out = Vec::new();
            s.write(slot, &mut buf, &mut out).ok();
            assert_eq!(out, want);
        }
        let mut small = Spill::default();
        let slot = small.push(b"in memory").unwrap_or(Slot { offset: 9, len: 9 });
        let mut out = Vec::new();
        small.write(slot, &mut buf, &mut out).ok();
        assert_eq!(out, b"in memory");
        assert!(small.write(Slot { offset: 5, len: 9 }, &mut buf, &mut out).is_err());
    }
}
