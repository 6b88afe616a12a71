//! TLS record framing for one direction (RFC 8446 §5.1, RFC 5246 §6.2): the 5-byte header
//! (`ContentType type; ProtocolVersion legacy_record_version; uint16 length`) and its fragment,
//! from bytes that arrive in chunks of any size.
//!
//! Sans-IO: [`Framer::next`] takes the unread input and returns one framed item at a time,
//! borrowing the record from the input when it lies whole in it, else from its own buffer
//! (bounded by the longest record). Bytes missing from the capture ([`Framer::gap`]) inside a
//! record spoil only that record; a gap across a record's end loses sync, found again only
//! where a plausible header lines up with the next one.

/// RFC 8446 §5.1 header length.
pub const HEADER_LEN: usize = 5;
/// The longest fragment accepted: RFC 5246 §6.2.3 allows a TLS 1.2 ciphertext of 2^14 + 2048
/// bytes (TLS 1.3, RFC 8446 §5.2, 2^14 + 256).
pub const MAX_FRAGMENT: usize = (1 << 14) + 2048;

/// RFC 8446 §5.1 / RFC 6520 content types.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;
pub const HEARTBEAT: u8 = 24;

/// A checked record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub bytes: [u8; HEADER_LEN],
}

impl Header {
    pub fn content_type(&self) -> u8 {
        self.bytes[0]
    }
    pub fn version(&self) -> u16 {
        u16::from_be_bytes([self.bytes[1], self.bytes[2]])
    }
    pub fn len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.bytes[3], self.bytes[4]]))
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A header a TLS stack would send: a known content type, version 3.0–3.4 (SSL 3.0 to
    /// TLS 1.3's legacy 0x0303), a length within [`MAX_FRAGMENT`].
    pub fn plausible(bytes: &[u8]) -> Option<Header> {
        let b: [u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let h = Header { bytes: b };
        let ok = (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&b[0]) && b[1] == 3 && b[2] <= 4 && h.len() <= MAX_FRAGMENT;
        ok.then_some(h)
    }
}

/// Why a direction's bytes are not TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotTlsWhy {
    /// An SSL 2.0-compatible ClientHello (RFC 5246 appendix E.2): a 2-byte length with the top
    /// bit set, then message type 1.
    Sslv2ClientHello,
    /// The first bytes are no record header: `first` are they.
    NoRecordHeader { first: [u8; HEADER_LEN], len: usize },
}

/// One item from the framer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A whole record.
    Record { header: Header, fragment: &'a [u8] },
    /// A record part of which fell in a capture gap: `missing` of its fragment's bytes are not
    /// in the capture. Its place in the sequence is known.
    Damaged { header: Header, missing: usize },
    /// Record sync is lost (a gap crossed a record boundary); bytes are skipped until a
    /// plausible header.
    Lost,
    /// Sync found again after `skipped` bytes.
    Resync { skipped: u64 },
    /// The direction does not carry TLS records; everything after is ignored.
    NotTls(NotTlsWhy),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a record boundary, or inside a record whose first bytes are in `buf`.
    Sync,
    /// Inside a record damaged by a gap: skip `left` more bytes, then report it.
    Skipping {
        header: Header,
        left: usize,
        missing: usize,
    },
    /// Lost: looking for a header; `skipped` bytes so far.
    Lost {
        skipped: u64,
        told: bool,
    },
    NotTls,
}

/// The framer of one direction.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// A partial record (header and what of its fragment has come), or a whole one handed out
    /// by the last call (cleared on the next).
    buf: Vec<u8>,
    handed_out: bool,
    /// A byte of this direction has been seen (the first decides whether it is TLS).
    started: bool,
    /// Bytes skipped while lost or not TLS, over the whole stream.
    pub unframed_bytes: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer { state: State::Sync, buf: Vec::new(), handed_out: false, started: false, unframed_bytes: 0 }
    }
}

impl Framer {
    /// The next item from `input`, advancing it past what was used; `None` when `input` is used
    /// up (a partial record is kept for the next call).
    pub fn next<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Option<Framed<'s>> {
        if self.handed_out {
            self.buf.clear();
            self.handed_out = false;
        }
        match self.state {
            State::NotTls => {
                self.unframed_bytes += input.len() as u64;
                *input = &[];
                return None;
            }
            State::Skipping { header, left, missing } => {
                let n = left.min(input.len());
                *input = &input[n..];
                if n < left {
                    self.state = State::Skipping { header, left: left - n, missing };
                    return None;
                }
                self.state = State::Sync;
                return Some(Framed::Damaged { header, missing });
            }
            State::Lost { skipped, told } => {
                if !told {
                    self.state = State::Lost { skipped, told: true };
                    return Some(Framed::Lost);
                }
                match find_header(input) {
                    Some(at) => {
                        *input = &input[at..];
                        self.unframed_bytes += at as u64;
                        self.state = State::Sync;
                        return Some(Framed::Resync { skipped: skipped + at as u64 });
                    }
                    None => {
                        // A header split across two chunks is not seen: sync is found at
                        // the next record instead (the sequence number search covers it).
                        let n = input.len() as u64;
                        self.unframed_bytes += n;
                        self.state = State::Lost { skipped: skipped + n, told };
                        *input = &[];
                        return None;
                    }
                }
            }
            State::Sync => {}
        }
        if input.is_empty() {
            return None;
        }
        if !self.started {
            self.started = true;
            if let Some(why) = not_tls(input) {
                self.state = State::NotTls;
                return Some(Framed::NotTls(why));
            }
        }
        if self.buf.is_empty() {
            // The common case: a whole record in the input, handed out where it lies.
            if let Some(h) = Header::plausible(input) {
                let total = HEADER_LEN + h.len();
                if input.len() >= total {
                    let (rec, rest) = input.split_at(total);
                    *input = rest;
                    return Some(Framed::Record { header: h, fragment: &rec[HEADER_LEN..] });
                }
            } else if input.len() >= HEADER_LEN {
                return Some(self.bad_header(0));
            }
        }
        // Gather into the buffer: the header first, then the fragment.
        if self.buf.len() < HEADER_LEN {
            let n = (HEADER_LEN - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..n]);
            *input = &input[n..];
            if self.buf.len() < HEADER_LEN {
                return None;
            }
            if Header::plausible(&self.buf).is_none() {
                // Those five bytes are gone from the input: counted as skipped.
                self.buf.clear();
                self.unframed_bytes += HEADER_LEN as u64;
                return Some(self.bad_header(HEADER_LEN as u64));
            }
        }
        let h = Header::plausible(&self.buf)?;
        let total = HEADER_LEN + h.len();
        let n = (total - self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        *input = &input[n..];
        if self.buf.len() < total {
            return None;
        }
        self.handed_out = true;
        Some(Framed::Record { header: h, fragment: &self.buf[HEADER_LEN..total] })
    }

    /// A header that does not parse at a record boundary: framing is lost (bytes still in the
    /// input are skipped by the lost state; `skipped` were already taken from it).
    fn bad_header(&mut self, skipped: u64) -> Framed<'static> {
        self.state = State::Lost { skipped, told: true };
        Framed::Lost
    }

    /// Gives the gathering buffer's memory back when it holds no partial record (a connection
    /// whose TCP is over, lingering for late packets, keeps no 16 KiB per direction).
    pub fn release(&mut self) {
        if self.handed_out || self.buf.is_empty() {
            self.buf = Vec::new();
            self.handed_out = false;
        }
    }

    /// `len` bytes of the stream are missing from the capture.
    pub fn gap(&mut self, len: u64) {
        if self.handed_out {
            self.buf.clear();
            self.handed_out = false;
        }
        if len == 0 {
            return;
        }
        if !self.started {
            // The capture begins inside the stream: look for a header.
            self.started = true;
            self.state = State::Lost { skipped: len, told: true };
            return;
        }
        self.state = match self.state {
            State::NotTls => State::NotTls,
            State::Lost { skipped, told } => State::Lost { skipped: skipped.saturating_add(len), told },
            State::Skipping { header, left, missing } => {
                if len <= left as u64 {
                    let len = len as usize;
                    State::Skipping { header, left: left - len, missing: missing + len }
                } else {
                    State::Lost { skipped: len - left as u64, told: false }
                }
            }
            State::Sync => match Header::plausible(&self.buf) {
                Some(h) => {
                    let left = HEADER_LEN + h.len() - self.buf.len();
                    self.buf.clear();
                    if len <= left as u64 {
                        let len = len as usize;
                        State::Skipping { header: h, left: left - len, missing: len }
                    } else {
                        State::Lost { skipped: len - left as u64, told: false }
                    }
                }
                None => {
                    self.buf.clear();
                    State::Lost { skipped: len, told: false }
                }
            },
        };
    }

    /// Whether record sync is lost right now.
    pub fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost { .. })
    }

    /// A Skipping state that has nothing left to skip is reported by the next call; this
    /// finishes it at once (for a gap that ended exactly at a record's end).
    pub fn flush(&mut self) -> Option<Framed<'static>> {
        if let State::Skipping { header, left: 0, missing } = self.state {
            self.state = State::Sync;
            return Some(Framed::Damaged { header, missing });
        }
        None
    }
}

/// The first place in `input` where a plausible header stands whose record either runs past
/// the input's end or is followed by another plausible header (one header alone, five bytes,
/// matches ciphertext about once a megabyte).
fn find_header(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + HEADER_LEN <= input.len() {
        let b = input[i];
        if (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&b)
            && let Some(h) = Header::plausible(&input[i..])
        {
            let next = i + HEADER_LEN + h.len();
            if next >= input.len() || (next + HEADER_LEN <= input.len() && Header::plausible(&input[next..]).is_some())
            {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// Whether the first bytes of a direction are plainly not TLS records.
fn not_tls(input: &[u8]) -> Option<NotTlsWhy> {
    let b0 = *input.first()?;
    // RFC 5246 E.2: msg_length with the top bit set, msg_type 1 (CLIENT-HELLO), version 3.x.
    if b0 & 0x80 != 0 && input.get(2) == Some(&1) && input.get(3).is_none_or(|&v| v == 3 || v == 2) {
        return Some(NotTlsWhy::Sslv2ClientHello);
    }
    let bad = !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&b0)
        || input.get(1).is_some_and(|&v| v != 3)
        || input.get(2).is_some_and(|&v| v > 4);
    if bad {
        let mut first = [0u8; HEADER_LEN];
        let n = input.len().min(HEADER_LEN);
        first[..n].copy_from_slice(&input[..n]);
        return Some(NotTlsWhy::NoRecordHeader { first, len: n });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of `chunks` fed in turn, records as (type, fragment).
    fn frame(f: &mut Framer, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for c in chunks {
            let mut input = *c;
            while let Some(x) = f.next(&mut input) {
                out.push(match x {
                    Framed::Record { header, fragment } => format!("{}:{}", header.content_type(), fragment.len()),
                    other => format!("{other:?}"),
                });
            }
            assert!(input.is_empty());
        }
        out
    }

    fn rec(t: u8, len: usize) -> Vec<u8> {
        let mut v = vec![t, 3, 3];
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v.extend((0..len).map(|i| (i * 7 + 1) as u8));
        v
    }

    #[test]
    fn records_in_any_chunking() {
        let mut all = rec(22, 100);
        all.extend(rec(20, 1));
        all.extend(rec(23, 3000));
        all.extend(rec(21, 2));
        let want = ["22:100", "20:1", "23:3000", "21:2"];
        assert_eq!(frame(&mut Framer::default(), &[&all]), want);
        for split in 0..all.len() {
            let (a, b) = all.split_at(split);
            assert_eq!(frame(&mut Framer::default(), &[a, b]), want, "split at {split}");
        }
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(frame(&mut Framer::default(), &bytes), want);
    }

    #[test]
    fn header_prefixes_need_more() {
        let r = rec(22, 10);
        for n in 0..r.len() {
            let mut f = Framer::default();
            assert_eq!(frame(&mut f, &[&r[..n]]), Vec::<String>::new(), "prefix {n}");
            assert_eq!(frame(&mut f, &[&r[n..]]), ["22:10"], "rest after {n}");
        }
    }

    #[test]
    fn not_tls_and_sslv2() {
        assert_eq!(
            frame(&mut Framer::default(), &[b"GET / HTTP/1.1\r\n"]),
            ["NotTls(NoRecordHeader { first: [71, 69, 84, 32, 47], len: 5 })"]
        );
        assert_eq!(frame(&mut Framer::default(), &[&[0x80, 0x2e, 0x01, 0x03, 0x01]]), ["NotTls(Sslv2ClientHello)"]);
        // A record header with a length over the limit at the start: sync lost, not TLS-ness.
        let mut f = Framer::default();
        assert_eq!(frame(&mut f, &[&[22, 3, 3, 0xff, 0xff, 0]]), ["Lost"]);
        assert_eq!(f.unframed_bytes, 6);
    }

    #[test]
    fn gap_inside_a_record_keeps_sync() {
        let mut f = Framer::default();
        let r = rec(23, 100);
        assert_eq!(frame(&mut f, &[&r[..30]]), Vec::<String>::new());
        f.gap(40);
        assert_eq!(
            frame(&mut f, &[&r[70..], &rec(23, 5)]),
            ["Damaged { header: Header { bytes: [23, 3, 3, 0, 100] }, missing: 40 }", "23:5"]
        );
        // A gap ending exactly at the record's end.
        let mut f = Framer::default();
        assert_eq!(frame(&mut f, &[&r[..30]]), Vec::<String>::new());
        f.gap(75);
        assert!(f.flush().is_some());
        assert_eq!(frame(&mut f, &[&rec(21, 2)]), ["21:2"]);
    }

    #[test]
    fn gap_across_records_resyncs_on_a_chain_of_headers() {
        let mut f = Framer::default();
        let r = rec(23, 100);
        assert_eq!(frame(&mut f, &[&r[..30]]), Vec::<String>::new());
        f.gap(200);
        assert!(f.is_lost());
        let mut after = vec![0x17, 3, 3, 0, 1, 0x55, 0x17]; // a lone plausible header inside junk
        after.extend(rec(23, 10));
        after.extend(rec(23, 20));
        assert_eq!(frame(&mut f, &[&after]), ["Lost", "Resync { skipped: 132 }", "23:10", "23:20"]);
        // A capture that begins inside the stream.
        let mut f = Framer::default();
        f.gap(10);
        let mut after = vec![9, 9, 9];
        after.extend(rec(23, 4));
        assert_eq!(frame(&mut f, &[&after]), ["Resync { skipped: 13 }", "23:4"]);
    }
}
