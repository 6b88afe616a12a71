//! permessage-deflate (RFC 7692): negotiated parameters and a per-direction inflater that keeps
//! its window across messages unless `*_no_context_takeover` was agreed.

use flate2::{Decompress, FlushDecompress, Status};

/// The most one message may inflate to before inflation stops (a deflate bomb costs bounded
/// time and no memory: output is not kept).
pub const MAX_INFLATED: u64 = 16 << 20;

/// Parameters agreed in the 101 (RFC 7692 §7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeflateParams {
    pub client_no_context_takeover: bool,
    pub server_no_context_takeover: bool,
    pub client_max_window_bits: Option<u8>,
    pub server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The parameters of a `permessage-deflate` answer (RFC 7692 §7.1), given as its
    /// parameter names (lower case) and values.
    pub fn from_agreed<'a>(params: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> DeflateParams {
        let mut d = DeflateParams::default();
        // A parameter given twice counts as the first one says.
        let (mut client_bits, mut server_bits) = (false, false);
        for (name, value) in params {
            let bits = || value.and_then(|v| v.parse().ok());
            match name {
                "client_no_context_takeover" => d.client_no_context_takeover = true,
                "server_no_context_takeover" => d.server_no_context_takeover = true,
                "client_max_window_bits" if !client_bits => (client_bits, d.client_max_window_bits) = (true, bits()),
                "server_max_window_bits" if !server_bits => (server_bits, d.server_max_window_bits) = (true, bits()),
                _ => {}
            }
        }
        d
    }
}

thread_local! {
    /// Inflated bytes, shared by every inflater on the thread (each chunk is handed on at
    /// once): one buffer that stays in cache, where one per connection was cold.
    static INFLATED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(OUT_CHUNK));
}

/// Bytes inflated at a time.
const OUT_CHUNK: usize = 16 * 1024;

/// Inflates the messages of one direction.
pub struct Inflater {
    z: Decompress,
    no_context_takeover: bool,
    message_out: u64,
    capped: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("inflate failed: {0}")]
pub struct InflateError(String);

impl Inflater {
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater { z: Decompress::new(false), no_context_takeover, message_out: 0, capped: false }
    }

    /// True if the current message went over [`MAX_INFLATED`].
    pub fn capped(&self) -> bool {
        self.capped
    }

    /// Feeds compressed bytes; `on_out` sees everything they inflate to, in order, batch by
    /// batch. `end` marks the `00 00 ff ff` tail of a message. Returns the bytes produced.
    pub fn feed(&mut self, mut input: &[u8], end: bool, mut on_out: impl FnMut(&[u8])) -> Result<u64, InflateError> {
        let mut produced_total = 0u64;
        // `decompress_vec` writes into the buffer's room (made once, kept by `clear`).
        INFLATED.with_borrow_mut(|out| {
            while !input.is_empty() && !self.capped {
                out.clear();
                let before_in = self.z.total_in();
                let status = self
                    .z
                    .decompress_vec(input, out, FlushDecompress::Sync)
                    .map_err(|e| InflateError(e.to_string()))?;
                let used = (self.z.total_in() - before_in) as usize;
                input = &input[used..];
                let produced = out.len();
                on_out(out);
                produced_total += produced as u64;
                self.message_out += produced as u64;
                if self.message_out > MAX_INFLATED {
                    self.capped = true;
                }
                if status == Status::StreamEnd || (used == 0 && produced == 0) {
                    break;
                }
            }
            Ok(())
        })?;
        if end {
            self.message_out = 0;
            if self.capped || self.no_context_takeover {
                self.z.reset(false);
            }
            self.capped = false;
        }
        Ok(produced_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn deflate_message(c: &mut Compress, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 64);
        c.compress_vec(text, &mut out, FlushCompress::Sync).ok();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    #[test]
    fn context_takeover_across_messages_and_byte_chunks() {
        let mut c = Compress::new(Compression::default(), false);
        let m1 = deflate_message(&mut c, b"hello hello hello websocket");
        let m2 = deflate_message(&mut c, b"hello hello hello websocket again");
        let mut inf = Inflater::new(false);
        let mut got = Vec::new();
        for b in m1.chunks(1) {
            inf.feed(b, false, |o| got.extend_from_slice(o)).ok();
        }
        inf.feed(&[0, 0, 0xff, 0xff], true, |o| got.extend_from_slice(o)).ok();
        assert_eq!(got, b"hello hello hello websocket");
        let mut got = Vec::new();
        inf.feed(&m2, false, |o| got.extend_from_slice(o)).ok();
        inf.feed(&[0, 0, 0xff, 0xff], true, |o| got.extend_from_slice(o)).ok();
        assert_eq!(got, b"hello hello hello websocket again");
    }

    #[test]
    fn bomb_is_capped() {
        let mut c = Compress::new(Compression::best(), false);
        let zeros = vec![0u8; 1 << 20];
        let mut msg = Vec::new();
        for _ in 0..40 {
            let mut out = Vec::with_capacity(64 * 1024);
            c.compress_vec(&zeros, &mut out, FlushCompress::None).ok();
            msg.extend_from_slice(&out);
        }
        let mut inf = Inflater::new(false);
        let mut total = 0u64;
        for ch in msg.chunks(4096) {
            total += inf.feed(ch, false, |_| {}).unwrap_or(0);
        }
        assert!(inf.capped());
        assert!(total <= MAX_INFLATED + (1 << 20));
    }

    #[test]
    fn params() {
        let p = DeflateParams::from_agreed([
            ("server_max_window_bits", Some("12")),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", Some("9")),
            ("client_max_window_bits", None),
        ]);
        assert!(p.client_no_context_takeover && !p.server_no_context_takeover);
        assert_eq!(p.server_max_window_bits, Some(12), "the first one counts");
        assert_eq!(p.client_max_window_bits, None, "given without a value");
    }
}
