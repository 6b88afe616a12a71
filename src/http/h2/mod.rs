//! HTTP/2 (RFC 9113) as a passive reader sees it: each direction's in-order bytes become
//! frames, header blocks are decompressed with that direction's HPACK table, and DATA payloads
//! are streamed to the caller without being buffered. Sans-IO: bytes in, typed events and
//! stream data out through an [`H2Sink`]. What runs on the streams (RFC 8441 WebSockets) is the
//! caller's business.

pub mod frame;
pub mod hpack;

use crate::units::{At, Role};
pub use frame::{ErrorCode, FrameError, FrameHeader, FrameType, PREFACE};
use frame::{Frame, HEADER_LEN, flags, setting};
pub use hpack::{Field, HpackError};

/// The largest frame payload read whole (header blocks, SETTINGS, GOAWAY); bigger ones are
/// skipped. DATA of any size is streamed.
pub const MAX_BUFFERED: usize = 64 * 1024;
/// The largest header block (all its CONTINUATIONs) assembled.
pub const MAX_BLOCK: usize = 256 * 1024;
/// Bytes searched for frame boundaries after a capture gap.
const RESYNC_WINDOW: usize = 64 * 1024;
/// The GOAWAY debug data kept.
const MAX_DEBUG: usize = 256;

/// What one direction's frames said, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum H2Event {
    /// The client's connection preface.
    Preface,
    Settings {
        ack: bool,
        params: Vec<(u16, u32)>,
    },
    /// A complete header block (HEADERS and its CONTINUATIONs). `error` says why decoding stopped
    /// (the fields before it are kept); after one, the direction's later blocks cannot be read.
    Headers {
        stream: u32,
        fields: Vec<Field>,
        end_stream: bool,
        error: Option<HpackError>,
    },
    /// A DATA frame ended (its payload went to [`H2Sink::data`]); `len` counts padding, as flow
    /// control does.
    Data {
        stream: u32,
        len: u32,
        end_stream: bool,
    },
    RstStream {
        stream: u32,
        code: ErrorCode,
    },
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: String,
    },
    Ping {
        ack: bool,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    PushPromise {
        stream: u32,
        promised: u32,
    },
    /// A frame broke RFC 9113 (it is skipped; the framing goes on).
    Error(FrameError),
    /// The client's first bytes were not the connection preface.
    BadPreface,
    /// A capture gap the framing could not step over: frames are lost until [`H2Event::Resync`].
    Lost,
    /// Frame boundaries were found again after `skipped` bytes.
    Resync {
        skipped: u64,
    },
}

/// Where the frames of the connection go.
pub trait H2Sink {
    fn event(&mut self, from: Role, at: At, ev: H2Event);
    /// DATA payload bytes of `stream` (padding removed), in order.
    fn data(&mut self, from: Role, stream: u32, bytes: &[u8], at: At);
    /// `len` DATA payload bytes of `stream` are missing from the capture.
    fn data_gap(&mut self, from: Role, stream: u32, len: u64, at: At);
}

/// Frames seen per type ([`FrameType::index`]).
pub type FrameCounts = [u64; 11];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Matching the client preface; `n` bytes matched.
    Preface(u8),
    /// Reading a frame header; `n` bytes in `hdr`.
    Header(u8),
    /// Reading a whole payload into `buf`.
    Payload,
    /// DATA: the pad length byte.
    DataPad,
    /// DATA: `left` payload bytes to stream, then `pad` bytes of padding.
    DataBody { left: u32, pad: u32 },
    /// DATA: `left` bytes of padding to skip, then the frame's end.
    DataTail { left: u32 },
    /// Skipping `left` bytes (an oversized or broken frame).
    Skip { left: u64 },
    /// Framing lost after a gap: bytes go to `buf` until boundaries are found.
    Lost,
}

/// A header block waiting for its CONTINUATIONs.
#[derive(Debug)]
struct Block {
    stream: u32,
    end_stream: bool,
    push: Option<u32>,
    buf: Vec<u8>,
    /// Too large to assemble: it is skipped, and the HPACK table with it.
    dropped: bool,
}

#[derive(Debug)]
struct Dir {
    state: State,
    hdr: [u8; HEADER_LEN],
    cur: FrameHeader,
    buf: Vec<u8>,
    block: Option<Block>,
    hpack: hpack::Decoder,
    /// A header block was lost or undecodable: the table is unknown from here on.
    hpack_broken: bool,
    /// Bytes skipped while the framing was lost.
    lost_bytes: u64,
    /// Offsets in `buf` below this were ruled out as frame boundaries.
    scan: usize,
    counts: FrameCounts,
    /// The largest frame the peer allows this side to send (its SETTINGS_MAX_FRAME_SIZE).
    max_frame: u32,
    /// The highest stream id seen from this side.
    max_stream: u32,
}

impl Dir {
    fn new(state: State) -> Dir {
        Dir {
            state,
            hdr: [0; HEADER_LEN],
            cur: FrameHeader { len: 0, ty: FrameType::Data, flags: 0, stream: 0 },
            buf: Vec::new(),
            block: None,
            hpack: hpack::Decoder::default(),
            hpack_broken: false,
            lost_bytes: 0,
            scan: 0,
            counts: [0; 11],
            max_frame: 16_384,
            max_stream: 0,
        }
    }
}

/// One HTTP/2 connection's framing, both directions.
#[derive(Debug)]
pub struct H2 {
    dirs: [Dir; 2],
}

fn ix(r: Role) -> usize {
    match r {
        Role::Client => 0,
        Role::Server => 1,
    }
}

impl Default for H2 {
    fn default() -> Self {
        H2 { dirs: [Dir::new(State::Preface(0)), Dir::new(State::Header(0))] }
    }
}

impl H2 {
    /// Frames seen from `from`, per type.
    pub fn counts(&self, from: Role) -> &FrameCounts {
        &self.dirs[ix(from)].counts
    }

    /// Bytes held in buffers (payloads being read, header blocks, the resync window).
    pub fn buffered(&self) -> usize {
        self.dirs.iter().map(|d| d.buf.capacity() + d.block.as_ref().map_or(0, |b| b.buf.capacity())).sum()
    }

    /// Frees what is buffered (the capture holds too many partial frames at once): a frame
    /// being read is skipped and a header block given up (the HPACK table with it), each with
    /// an error event; a resync window is emptied. Returns the bytes freed.
    pub fn shed(&mut self, at: At, sink: &mut impl H2Sink) -> u64 {
        let mut freed = 0;
        for from in [Role::Client, Role::Server] {
            let d = &mut self.dirs[ix(from)];
            let held = d.buf.capacity() + d.block.as_ref().map_or(0, |b| b.buf.capacity());
            if held == 0 {
                continue;
            }
            let mut shed = None;
            match d.state {
                State::Payload => {
                    let left = u64::from(d.cur.len).saturating_sub(d.buf.len() as u64);
                    d.state = if left == 0 { State::Header(0) } else { State::Skip { left } };
                    shed = Some(d.cur.ty);
                }
                State::Lost => {
                    d.lost_bytes += d.buf.len() as u64;
                    d.scan = 0;
                }
                _ => {}
            }
            if matches!(shed, Some(FrameType::Headers | FrameType::Continuation | FrameType::PushPromise)) {
                d.hpack_broken = true;
            }
            if d.block.take().is_some() {
                d.hpack_broken = true;
                shed = shed.or(Some(FrameType::Continuation));
            }
            d.buf = Vec::new();
            freed += held as u64;
            if let Some(ty) = shed {
                sink.event(from, at, H2Event::Error(FrameError::Shed { ty }));
            }
        }
        freed
    }

    /// In-order bytes from `from`.
    pub fn data(&mut self, from: Role, mut bytes: &[u8], at: At, sink: &mut impl H2Sink) {
        while !bytes.is_empty() {
            let n = self.step(from, bytes, at, sink);
            bytes = &bytes[n..];
        }
    }

    /// `len` bytes from `from` are missing. Inside a DATA payload or a skipped frame the framing
    /// survives; anywhere else it is lost until boundaries are found again.
    pub fn gap(&mut self, from: Role, len: u64, at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        match d.state {
            State::DataBody { left, pad } if len <= u64::from(left) => {
                let stream = d.cur.stream;
                d.state = State::DataBody { left: left - len as u32, pad };
                sink.data_gap(from, stream, len, at);
                if left as u64 == len {
                    self.step(from, &[], at, sink);
                }
            }
            State::DataTail { left } if len <= u64::from(left) => {
                d.state = State::DataTail { left: left - len as u32 };
                if u64::from(left) == len {
                    self.step(from, &[], at, sink);
                }
            }
            State::Skip { left } if len <= left => {
                d.state = if left == len { State::Header(0) } else { State::Skip { left: left - len } };
            }
            State::Lost => d.lost_bytes += len,
            _ => {
                if let State::DataBody { left, .. } = d.state {
                    sink.data_gap(from, d.cur.stream, u64::from(left), at);
                }
                d.state = State::Lost;
                d.buf.clear();
                d.scan = 0;
                d.lost_bytes = len;
                // A header block may have been in the gap: the table is unknown now.
                d.hpack_broken = true;
                d.block = None;
                sink.event(from, at, H2Event::Lost);
            }
        }
    }

    /// Consumes a prefix of `bytes` (or, with none, finishes a frame whose payload is complete);
    /// returns how much it took.
    fn step(&mut self, from: Role, bytes: &[u8], at: At, sink: &mut impl H2Sink) -> usize {
        let d = &mut self.dirs[ix(from)];
        match d.state {
            State::Preface(n) => {
                let want = &PREFACE[usize::from(n)..];
                let take = want.len().min(bytes.len());
                if bytes[..take] != want[..take] {
                    d.state = State::Lost;
                    d.hpack_broken = true;
                    sink.event(from, at, H2Event::BadPreface);
                    return 0;
                }
                let n = n as usize + take;
                d.state = if n == PREFACE.len() {
                    sink.event(from, at, H2Event::Preface);
                    State::Header(0)
                } else {
                    State::Preface(n as u8)
                };
                take
            }
            State::Header(n) => {
                let n = usize::from(n);
                let take = (HEADER_LEN - n).min(bytes.len());
                d.hdr[n..n + take].copy_from_slice(&bytes[..take]);
                if n + take < HEADER_LEN {
                    d.state = State::Header((n + take) as u8);
                    return take;
                }
                let h = FrameHeader::parse(&d.hdr);
                self.begin(from, h, at, sink);
                take
            }
            State::Payload => {
                let want = d.cur.len as usize - d.buf.len();
                let take = want.min(bytes.len());
                d.buf.extend_from_slice(&bytes[..take]);
                if d.buf.len() == d.cur.len as usize {
                    let buf = std::mem::take(&mut d.buf);
                    self.whole(from, &buf, at, sink);
                    let d = &mut self.dirs[ix(from)];
                    d.buf = buf;
                    d.buf.clear();
                    if d.buf.capacity() > 4096 {
                        d.buf = Vec::new();
                    }
                    d.state = State::Header(0);
                }
                take
            }
            State::DataPad => {
                let Some(&pad) = bytes.first() else { return 0 };
                let body = d.cur.len - 1;
                if u32::from(pad) > body {
                    sink.event(from, at, H2Event::Error(FrameError::Padding { ty: FrameType::Data }));
                    d.state = State::Skip { left: u64::from(body) };
                } else {
                    d.state = State::DataBody { left: body - u32::from(pad), pad: u32::from(pad) };
                    if body == 0 {
                        self.end_data(from, at, sink);
                    }
                }
                1
            }
            State::DataBody { left, pad } => {
                let take = (left as usize).min(bytes.len());
                if take > 0 {
                    sink.data(from, d.cur.stream, &bytes[..take], at);
                }
                let left = left - take as u32;
                d.state = State::DataBody { left, pad };
                if left == 0 {
                    if pad > 0 {
                        d.state = State::DataTail { left: pad };
                    } else {
                        self.end_data(from, at, sink);
                    }
                }
                take
            }
            State::DataTail { left } => {
                let take = (left as usize).min(bytes.len());
                let left = left - take as u32;
                d.state = State::DataTail { left };
                if left == 0 {
                    self.end_data(from, at, sink);
                }
                take
            }
            State::Skip { left } => {
                let take = (left.min(bytes.len() as u64)) as usize;
                let left = left - take as u64;
                d.state = if left == 0 { State::Header(0) } else { State::Skip { left } };
                take
            }
            State::Lost => {
                let take = (RESYNC_WINDOW - d.buf.len()).min(bytes.len());
                d.buf.extend_from_slice(&bytes[..take]);
                self.resync(from, at, sink);
                take
            }
        }
    }

    /// A frame header was read.
    fn begin(&mut self, from: Role, h: FrameHeader, at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        d.cur = h;
        d.counts[h.ty.index()] += 1;
        if h.stream > d.max_stream && matches!(h.ty, FrameType::Headers) {
            d.max_stream = h.stream;
        }
        // A header block must go on in CONTINUATION frames of its stream (RFC 9113 §6.10).
        let continuing = d.block.as_ref().map(|b| b.stream);
        if (continuing.is_some() && (h.ty != FrameType::Continuation || continuing != Some(h.stream)))
            || (continuing.is_none() && h.ty == FrameType::Continuation)
        {
            d.block = None;
            d.hpack_broken = true;
            sink.event(from, at, H2Event::Error(FrameError::Continuation));
        }
        let d = &mut self.dirs[ix(from)];
        d.state = match h.ty {
            FrameType::Data if h.stream == 0 => {
                sink.event(from, at, H2Event::Error(FrameError::Stream { ty: h.ty, stream: 0 }));
                State::Skip { left: u64::from(h.len) }
            }
            FrameType::Data if h.has(flags::PADDED) => {
                if h.len == 0 {
                    sink.event(from, at, H2Event::Error(FrameError::Size { ty: h.ty, len: 0 }));
                    State::Header(0)
                } else {
                    State::DataPad
                }
            }
            FrameType::Data => State::DataBody { left: h.len, pad: 0 },
            _ if h.len as usize > MAX_BUFFERED => {
                if matches!(h.ty, FrameType::Headers | FrameType::Continuation | FrameType::PushPromise) {
                    d.hpack_broken = true;
                    d.block = None;
                }
                State::Skip { left: u64::from(h.len) }
            }
            _ => State::Payload,
        };
        if d.state == State::Payload {
            d.buf.clear();
            if h.len == 0 {
                self.whole(from, &[], at, sink);
                self.dirs[ix(from)].state = State::Header(0);
            }
        } else if d.state == (State::DataBody { left: 0, pad: 0 }) {
            self.end_data(from, at, sink);
        } else if d.state == (State::Skip { left: 0 }) {
            d.state = State::Header(0);
        }
    }

    fn end_data(&mut self, from: Role, at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        let h = d.cur;
        d.state = State::Header(0);
        sink.event(from, at, H2Event::Data { stream: h.stream, len: h.len, end_stream: h.has(flags::END_STREAM) });
    }

    /// A frame read whole.
    fn whole(&mut self, from: Role, payload: &[u8], at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        let h = d.cur;
        let frame = match frame::parse(&h, payload) {
            Ok(f) => f,
            Err(e) => {
                if matches!(h.ty, FrameType::Headers | FrameType::Continuation | FrameType::PushPromise) {
                    d.hpack_broken = true;
                    d.block = None;
                }
                sink.event(from, at, H2Event::Error(e));
                return;
            }
        };
        let ev = match frame {
            Frame::Headers { fragment } => {
                let block = Block {
                    stream: h.stream,
                    end_stream: h.has(flags::END_STREAM),
                    push: None,
                    buf: Vec::new(),
                    dropped: false,
                };
                self.fragment(from, block, fragment, h.has(flags::END_HEADERS), at, sink);
                return;
            }
            Frame::PushPromise { promised, fragment } => {
                let block = Block {
                    stream: h.stream,
                    end_stream: false,
                    push: Some(promised),
                    buf: Vec::new(),
                    dropped: false,
                };
                self.fragment(from, block, fragment, h.has(flags::END_HEADERS), at, sink);
                return;
            }
            Frame::Continuation { fragment } => {
                let Some(block) = d.block.take() else { return };
                self.fragment(from, block, fragment, h.has(flags::END_HEADERS), at, sink);
                return;
            }
            Frame::Settings { ack, params } => {
                // What this side allows the other to send.
                if let Some(&(_, v)) = params.iter().rev().find(|(id, _)| *id == setting::MAX_FRAME_SIZE) {
                    self.dirs[ix(from.other())].max_frame = v.clamp(16_384, (1 << 24) - 1);
                }
                H2Event::Settings { ack, params }
            }
            Frame::RstStream { code } => H2Event::RstStream { stream: h.stream, code },
            Frame::GoAway { last_stream, code, debug } => {
                let debug = &debug[..debug.len().min(MAX_DEBUG)];
                H2Event::GoAway { last_stream, code, debug: String::from_utf8_lossy(debug).into_owned() }
            }
            Frame::Ping { ack, .. } => H2Event::Ping { ack },
            Frame::WindowUpdate { increment } => H2Event::WindowUpdate { stream: h.stream, increment },
            Frame::Priority | Frame::Unknown => return,
        };
        sink.event(from, at, ev);
    }

    /// Adds a header block fragment; decodes the block when it is complete.
    fn fragment(&mut self, from: Role, mut block: Block, fragment: &[u8], end: bool, at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        if block.buf.len() + fragment.len() > MAX_BLOCK {
            block.dropped = true;
            block.buf = Vec::new();
        }
        if !block.dropped {
            block.buf.extend_from_slice(fragment);
        }
        if !end {
            d.block = Some(block);
            return;
        }
        let mut fields = Vec::new();
        let error = if block.dropped {
            d.hpack_broken = true;
            Some(HpackError::TooLarge)
        } else if d.hpack_broken {
            Some(HpackError::BadIndex(0))
        } else {
            let r = d.hpack.decode(&block.buf, &mut fields).err();
            if r.is_some() {
                d.hpack_broken = true;
            }
            r
        };
        let ev = match block.push {
            Some(promised) => H2Event::PushPromise { stream: block.stream, promised },
            None => H2Event::Headers { stream: block.stream, fields, end_stream: block.end_stream, error },
        };
        sink.event(from, at, ev);
    }

    /// Looks for two consecutive plausible frame headers in the bytes kept since the gap.
    fn resync(&mut self, from: Role, at: At, sink: &mut impl H2Sink) {
        let d = &mut self.dirs[ix(from)];
        let plausible = |b: &[u8]| -> Option<usize> {
            let hdr: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
            let h = FrameHeader::parse(hdr);
            let reserved = hdr[5] & 0x80 != 0;
            let ok_stream = match h.ty {
                FrameType::Data
                | FrameType::Headers
                | FrameType::Priority
                | FrameType::RstStream
                | FrameType::PushPromise
                | FrameType::Continuation => h.stream != 0 && h.stream <= d.max_stream.saturating_add(200),
                FrameType::Settings | FrameType::Ping | FrameType::GoAway => h.stream == 0,
                FrameType::WindowUpdate => h.stream <= d.max_stream.saturating_add(200),
                FrameType::Unknown(_) => false,
            };
            (!reserved && ok_stream && h.len <= d.max_frame).then_some(HEADER_LEN + h.len as usize)
        };
        let buf = &d.buf;
        let mut found = None;
        let mut p = d.scan;
        while p + HEADER_LEN <= buf.len() {
            if let Some(n) = plausible(&buf[p..]) {
                match buf.get(p + n..) {
                    Some(rest) if rest.len() >= HEADER_LEN => {
                        if plausible(rest).is_some() {
                            found = Some(p);
                            break;
                        }
                    }
                    // The next header is not here yet: look again with more bytes.
                    _ => break,
                }
            }
            p += 1;
        }
        d.scan = p;
        match found {
            Some(p) => {
                let rest = std::mem::take(&mut d.buf);
                let skipped = d.lost_bytes + p as u64;
                d.lost_bytes = 0;
                d.scan = 0;
                d.state = State::Header(0);
                sink.event(from, at, H2Event::Resync { skipped });
                self.data(from, &rest[p..], at, sink);
            }
            None if d.buf.len() >= RESYNC_WINDOW => {
                d.lost_bytes += d.buf.len() as u64 - HEADER_LEN as u64;
                let keep = d.buf.split_off(d.buf.len() - HEADER_LEN);
                d.buf = keep;
                d.scan = 0;
            }
            None => {}
        }
    }
}

/// The value of a header field by name (names are lowercase in HTTP/2).
pub fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

#[cfg(test)]
pub(crate) mod tests;
