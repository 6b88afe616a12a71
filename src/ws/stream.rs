//! The frames of one direction of a WebSocket connection, parsed from the reassembled byte
//! stream (RFC 6455 §5, RFC 7692): messages, control frames, closes and every breach, as typed
//! events. Data payloads are skipped, not stored; Close payloads and a short text preview are
//! kept.

use super::deflate::Inflater;
use super::frame::{self, FrameHeader, OpCode, parse_header};
use crate::units::At as Meta;
use crate::units::Role;

/// Payload bytes unmasked at a time.
const SCRATCH: usize = 4096;

thread_local! {
    /// Where payload bytes are unmasked, shared by every parser on the thread: one buffer that
    /// stays in cache, where one per connection was a cold line to write for every segment.
    static UNMASKED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(SCRATCH));
}

/// Bytes of a text message kept as its preview.
pub const PREVIEW: usize = 64;
/// The most a control-frame payload may hold (RFC 6455 §5.5).
pub const MAX_CONTROL: u64 = 125;
/// Bytes of a Close payload kept, even from an oversized one.
const MAX_CLOSE_KEPT: usize = 1024;

/// A breach of RFC 6455 / RFC 7692 by the sender of the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// §5.1: a client frame without a mask.
    UnmaskedClientFrame,
    /// §5.1: a server frame with a mask.
    MaskedServerFrame,
    /// §5.2: opcodes 3–7 and 11–15 are reserved.
    ReservedOpcode(u8),
    /// §5.2: RSV bits set without an extension that defines them.
    RsvWithoutExtension(u8),
    /// RFC 7692 §6: RSV1 on a control frame or a continuation frame.
    Rsv1OnNonFirstFrame,
    /// §5.5: control frame payload over 125 bytes.
    ControlFrameTooLong(u64),
    /// §5.5: control frames must not be fragmented.
    FragmentedControlFrame,
    /// §5.4: a continuation frame with no message in progress.
    ContinuationWithoutStart,
    /// §5.4: a new data frame while a fragmented message is still open.
    MessageInsideFragmented,
    /// §5.6, §8.1: a text message (or close reason) that is not UTF-8.
    InvalidUtf8,
    /// §7.4: a close code that must not be sent (1005, 1006, 1015, unassigned, out of range).
    InvalidCloseCode(u16),
    /// §5.5.1: a Close payload of exactly one byte.
    OneByteClosePayload,
    /// §5.2: a length not in its minimal encoding.
    NonMinimalLength,
    /// §5.2: a 64-bit length with its top bit set: framing is lost.
    LengthMsbSet,
    /// §5.5.1: a data frame after this side's Close.
    DataAfterClose,
    /// RFC 7692 §7.2.2: compressed data that does not inflate.
    InflateFailed,
}

impl Violation {
    pub fn describe(&self) -> String {
        match self {
            Violation::UnmaskedClientFrame => "client frame not masked (RFC 6455 §5.1)".into(),
            Violation::MaskedServerFrame => "server frame masked (RFC 6455 §5.1)".into(),
            Violation::ReservedOpcode(o) => format!("reserved opcode {o:#x} (RFC 6455 §5.2)"),
            Violation::RsvWithoutExtension(r) => {
                format!("RSV bits {r:03b} set without a negotiated extension (RFC 6455 §5.2)")
            }
            Violation::Rsv1OnNonFirstFrame => "RSV1 on a control or continuation frame (RFC 7692 §6)".into(),
            Violation::ControlFrameTooLong(n) => {
                format!("control frame with a {n}-byte payload, over 125 (RFC 6455 §5.5)")
            }
            Violation::FragmentedControlFrame => "fragmented control frame (RFC 6455 §5.5)".into(),
            Violation::ContinuationWithoutStart => {
                "continuation frame with no message in progress (RFC 6455 §5.4)".into()
            }
            Violation::MessageInsideFragmented => {
                "new data frame inside an unfinished fragmented message (RFC 6455 §5.4)".into()
            }
            Violation::InvalidUtf8 => "text that is not valid UTF-8 (RFC 6455 §8.1)".into(),
            Violation::InvalidCloseCode(c) => format!("close code {c} must not be sent (RFC 6455 §7.4)"),
            Violation::OneByteClosePayload => "Close payload of one byte (RFC 6455 §5.5.1)".into(),
            Violation::NonMinimalLength => "payload length not minimally encoded (RFC 6455 §5.2)".into(),
            Violation::LengthMsbSet => "64-bit payload length with its top bit set (RFC 6455 §5.2)".into(),
            Violation::DataAfterClose => "data frame after its sender's Close (RFC 6455 §5.5.1)".into(),
            Violation::InflateFailed => "compressed message does not inflate (RFC 7692 §7.2.2)".into(),
        }
    }

    /// Breaches a real peer fails the connection for (not mere style, like a long length form).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Violation::NonMinimalLength)
    }

    pub fn key(&self) -> &'static str {
        match self {
            Violation::UnmaskedClientFrame => "unmasked_client_frame",
            Violation::MaskedServerFrame => "masked_server_frame",
            Violation::ReservedOpcode(_) => "reserved_opcode",
            Violation::RsvWithoutExtension(_) => "rsv_without_extension",
            Violation::Rsv1OnNonFirstFrame => "rsv1_on_non_first_frame",
            Violation::ControlFrameTooLong(_) => "control_frame_too_long",
            Violation::FragmentedControlFrame => "fragmented_control_frame",
            Violation::ContinuationWithoutStart => "continuation_without_start",
            Violation::MessageInsideFragmented => "message_inside_fragmented",
            Violation::InvalidUtf8 => "invalid_utf8",
            Violation::InvalidCloseCode(_) => "invalid_close_code",
            Violation::OneByteClosePayload => "one_byte_close_payload",
            Violation::NonMinimalLength => "non_minimal_length",
            Violation::LengthMsbSet => "length_msb_set",
            Violation::DataAfterClose => "data_after_close",
            Violation::InflateFailed => "inflate_failed",
        }
    }
}

/// Something one direction's frames said.
#[derive(Clone, Debug, PartialEq)]
pub enum WsEvent {
    /// A complete data message.
    Message {
        opcode: OpCode,
        /// Payload bytes on the wire, all frames.
        wire_len: u64,
        /// Inflated size, for compressed messages that were inflated.
        inflated_len: Option<u64>,
        frames: u32,
        compressed: bool,
        /// The first bytes of a text message (inflated), lossy UTF-8.
        preview: Option<String>,
        /// Part of the payload fell in a capture gap.
        incomplete: bool,
        meta: Meta,
    },
    Ping {
        len: u64,
        meta: Meta,
    },
    Pong {
        len: u64,
        meta: Meta,
    },
    Close {
        code: Option<u16>,
        reason: Option<String>,
        payload_len: u64,
        incomplete: bool,
        meta: Meta,
    },
    Violation {
        violation: Violation,
        meta: Meta,
    },
    /// Framing lost after a gap: the bytes from here cannot be located as frames.
    Desync {
        meta: Meta,
    },
    /// Framing found again at a segment start after a loss.
    Resync {
        skipped: u64,
        meta: Meta,
    },
}

/// Frame counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    pub text: u32,
    pub binary: u32,
    pub continuation: u32,
    pub ping: u32,
    pub pong: u32,
    pub close: u32,
    pub reserved: u32,
    /// Messages (not frames).
    pub text_messages: u32,
    pub binary_messages: u32,
    pub compressed_messages: u32,
    /// Bytes that could not be located as frames (after a gap).
    pub unknown_bytes: u64,
    /// Compressed and inflated payload bytes (RFC 7692), to report inflate cost.
    pub deflated_in: u64,
    pub inflated_out: u64,
}

/// Incremental UTF-8 validation across chunk boundaries.
#[derive(Clone, Debug, Default)]
struct Utf8Check {
    carry: Vec<u8>,
    bad: bool,
}

impl Utf8Check {
    fn feed(&mut self, mut data: &[u8]) {
        if self.bad {
            return;
        }
        while !self.carry.is_empty() && !data.is_empty() {
            self.carry.push(data[0]);
            data = &data[1..];
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(e) if e.error_len().is_some() => {
                    self.bad = true;
                    return;
                }
                Err(_) if self.carry.len() >= 4 => {
                    self.bad = true;
                    return;
                }
                Err(_) => {}
            }
        }
        if data.is_empty() {
            return;
        }
        // The fast check first (SIMD where the CPU has it); where it fails, the exact one says
        // whether the text is wrong or only cut inside a character.
        if simdutf8::basic::from_utf8(data).is_ok() {
            return;
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => {}
            Err(e) if e.error_len().is_some() => self.bad = true,
            Err(e) => self.carry.extend_from_slice(&data[e.valid_up_to()..]),
        }
    }
    fn finish(&mut self) -> bool {
        let ok = !self.bad && self.carry.is_empty();
        self.carry.clear();
        self.bad = false;
        ok
    }
}

/// Text bytes of a message (unmasked, inflated): checked as UTF-8, the first kept as preview.
fn see_text(utf8: &mut Utf8Check, preview: &mut Vec<u8>, text: &[u8]) {
    utf8.feed(text);
    let room = PREVIEW.saturating_sub(preview.len());
    preview.extend_from_slice(&text[..room.min(text.len())]);
}

#[derive(Debug)]
struct Message {
    opcode: OpCode,
    compressed: bool,
    frames: u32,
    wire_len: u64,
    inflated: u64,
    preview: Vec<u8>,
    utf8: Utf8Check,
    incomplete: bool,
    inflate_ok: bool,
    inflate_failed: bool,
    first_meta: Meta,
}

#[derive(Debug)]
enum State {
    Header { buf: [u8; 14], have: usize },
    Payload { hdr: FrameHeader, done: u64 },
    Lost,
}

/// Parser for the frames one side sends.
pub struct FrameParser {
    sender: Role,
    /// RSV1 means "compressed" (permessage-deflate negotiated).
    deflate: bool,
    inflater: Option<Inflater>,
    state: State,
    msg: Option<Message>,
    control: Vec<u8>,
    control_incomplete: bool,
    closed: bool,
    lost_at: u64,
    /// While lost: a segment start whose frames run past its captured end, kept to check
    /// against the size of the gap that follows (a snaplen cut).
    candidate: Option<(Vec<u8>, u64, Meta)>,
    pub counts: FrameCounts,
}

/// How the bytes at a segment start line up with frames.
enum Tiling {
    No,
    /// Whole frames, ending exactly at the end.
    Exact,
    /// Whole frames, then one whose header is complete and whose payload needs `n` more bytes.
    Short(u64),
}

impl FrameParser {
    /// A parser for frames sent by `sender`. `inflater` is present when permessage-deflate was
    /// negotiated and inflation is wanted.
    pub fn new(sender: Role, deflate: bool, inflater: Option<Inflater>) -> Self {
        FrameParser {
            sender,
            deflate,
            inflater,
            state: State::Header { buf: [0; 14], have: 0 },
            msg: None,
            control: Vec::new(),
            control_incomplete: false,
            closed: false,
            lost_at: 0,
            candidate: None,
            counts: FrameCounts::default(),
        }
    }

    /// True while framing is lost after a gap.
    pub fn lost(&self) -> bool {
        matches!(self.state, State::Lost)
    }

    /// Framing is unknown from here (a head cut short): frames are found at a segment start.
    pub fn set_lost(&mut self) {
        self.state = State::Lost;
        self.msg = None;
    }

    /// True between frames (nothing half-parsed).
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header { have: 0, .. })
    }

    /// The next bytes of the stream, `segment_start` when they begin a TCP segment.
    pub fn data(&mut self, mut data: &[u8], meta: Meta, segment_start: bool, out: &mut Vec<WsEvent>) {
        if self.lost() {
            if let Some((bytes, _, _)) = self.candidate.take() {
                self.lost_at = self.lost_at.saturating_add(bytes.len() as u64);
                self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(bytes.len() as u64);
            }
            match if segment_start { self.tiles(data) } else { Tiling::No } {
                Tiling::Exact => self.resync(meta, out),
                Tiling::Short(n) if data.len() <= 4096 => {
                    self.candidate = Some((data.to_vec(), n, meta));
                    return;
                }
                _ => {
                    self.lost_at = self.lost_at.saturating_add(data.len() as u64);
                    self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(data.len() as u64);
                    return;
                }
            }
        }
        while !data.is_empty() {
            match &mut self.state {
                State::Lost => {
                    self.lost_at = self.lost_at.saturating_add(data.len() as u64);
                    self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(data.len() as u64);
                    return;
                }
                State::Header { buf, have } => {
                    let take = (14 - *have).min(data.len());
                    buf[*have..*have + take].copy_from_slice(&data[..take]);
                    let total = *have + take;
                    match parse_header(&buf[..total]) {
                        Ok(None) => {
                            *have = total;
                            data = &data[take..];
                        }
                        Ok(Some(hdr)) => {
                            let used = hdr.header_len - *have;
                            data = &data[used..];
                            self.start_frame(hdr, meta, out);
                            if hdr.len == 0 {
                                self.end_frame(hdr, meta, out);
                            }
                        }
                        Err(_) => {
                            out.push(WsEvent::Violation { violation: Violation::LengthMsbSet, meta });
                            self.lose(meta, out);
                        }
                    }
                }
                State::Payload { hdr, done } => {
                    let hdr = *hdr;
                    let left = hdr.len - *done;
                    let take = left.min(data.len() as u64) as usize;
                    let offset = *done;
                    *done += take as u64;
                    let finished = *done == hdr.len;
                    self.payload(&hdr, offset, &data[..take]);
                    data = &data[take..];
                    if finished {
                        self.end_frame(hdr, meta, out);
                    }
                }
            }
        }
    }

    fn resync(&mut self, meta: Meta, out: &mut Vec<WsEvent>) {
        out.push(WsEvent::Resync { skipped: self.lost_at, meta });
        self.lost_at = 0;
        self.state = State::Header { buf: [0; 14], have: 0 };
        self.msg = None;
    }

    /// `len` bytes the capture does not have.
    pub fn gap(&mut self, len: u64, meta: Meta, out: &mut Vec<WsEvent>) {
        if let Some((bytes, need, cmeta)) = self.candidate.take() {
            if need == len {
                // The frames at the segment start end exactly where the segment did.
                self.resync(cmeta, out);
                self.data(&bytes, cmeta, false, out);
            } else {
                self.lost_at = self.lost_at.saturating_add(bytes.len() as u64);
                self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(bytes.len() as u64);
            }
        }
        match &mut self.state {
            State::Lost => {
                self.lost_at = self.lost_at.saturating_add(len);
                self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(len);
            }
            State::Payload { hdr, done } if hdr.len - *done >= len => {
                // The gap falls inside a payload: framing survives, the payload is incomplete.
                let hdr = *hdr;
                *done += len;
                let finished = *done == hdr.len;
                if hdr.opcode.is_control() {
                    self.control_incomplete = true;
                } else if let Some(m) = self.msg.as_mut() {
                    m.incomplete = true;
                    m.wire_len = m.wire_len.saturating_add(len);
                    if m.compressed {
                        // A hole in a compressed stream breaks the shared window for good.
                        m.inflate_ok = false;
                        self.inflater = None;
                    }
                }
                if finished {
                    self.end_frame(hdr, meta, out);
                }
            }
            _ => {
                self.lose(meta, out);
                self.lost_at = self.lost_at.saturating_add(len);
                self.counts.unknown_bytes = self.counts.unknown_bytes.saturating_add(len);
            }
        }
    }

    fn lose(&mut self, meta: Meta, out: &mut Vec<WsEvent>) {
        if !self.lost() {
            out.push(WsEvent::Desync { meta });
        }
        self.state = State::Lost;
        self.msg = None;
        self.inflater = None;
    }

    /// Do `data` hold a run of plausible frames from their first byte? Then framing may be
    /// found again.
    fn tiles(&self, data: &[u8]) -> Tiling {
        let mut at = 0usize;
        while at < data.len() {
            let Ok(Some(h)) = parse_header(&data[at..]) else { return Tiling::No };
            let masked_ok = h.mask.is_some() == (self.sender == Role::Client);
            let rsv_ok = h.rsv == 0 || (self.deflate && h.rsv == 4);
            let op_ok = !matches!(h.opcode, OpCode::Reserved(_));
            let ctl_ok = !h.opcode.is_control() || (h.fin && h.len <= MAX_CONTROL);
            if !(masked_ok && rsv_ok && op_ok && ctl_ok) {
                return Tiling::No;
            }
            let body = at + h.header_len;
            if h.opcode == OpCode::Close && h.len >= 2 && data.len() >= body + 2 {
                let mut code = [data[body], data[body + 1]];
                if let Some(m) = h.mask {
                    frame::unmask(&mut code, m, 0);
                }
                if !frame::close_code_valid(u16::from_be_bytes(code)) {
                    return Tiling::No;
                }
            }
            let Some(end) = (at as u64).checked_add(h.header_len as u64 + h.len) else { return Tiling::No };
            if end > data.len() as u64 {
                return Tiling::Short(end - data.len() as u64);
            }
            at = end as usize;
        }
        if at > 0 { Tiling::Exact } else { Tiling::No }
    }

    fn violation(&self, v: Violation, meta: Meta, out: &mut Vec<WsEvent>) {
        out.push(WsEvent::Violation { violation: v, meta });
    }

    fn start_frame(&mut self, hdr: FrameHeader, meta: Meta, out: &mut Vec<WsEvent>) {
        self.state = State::Payload { hdr, done: 0 };
        let c = &mut self.counts;
        match hdr.opcode {
            OpCode::Text => c.text += 1,
            OpCode::Binary => c.binary += 1,
            OpCode::Continuation => c.continuation += 1,
            OpCode::Ping => c.ping += 1,
            OpCode::Pong => c.pong += 1,
            OpCode::Close => c.close += 1,
            OpCode::Reserved(_) => c.reserved += 1,
        }
        match (self.sender, hdr.mask.is_some()) {
            (Role::Client, false) => self.violation(Violation::UnmaskedClientFrame, meta, out),
            (Role::Server, true) => self.violation(Violation::MaskedServerFrame, meta, out),
            _ => {}
        }
        if hdr.non_minimal_len {
            self.violation(Violation::NonMinimalLength, meta, out);
        }
        if let OpCode::Reserved(o) = hdr.opcode {
            self.violation(Violation::ReservedOpcode(o), meta, out);
        }
        let rsv_other = hdr.rsv & 0b011;
        let rsv1 = hdr.rsv & 0b100 != 0;
        if rsv_other != 0 || (rsv1 && !self.deflate) {
            self.violation(Violation::RsvWithoutExtension(hdr.rsv), meta, out);
        } else if rsv1 && matches!(hdr.opcode, OpCode::Continuation | OpCode::Close | OpCode::Ping | OpCode::Pong) {
            self.violation(Violation::Rsv1OnNonFirstFrame, meta, out);
        }
        if hdr.opcode.is_control() {
            if hdr.len > MAX_CONTROL {
                self.violation(Violation::ControlFrameTooLong(hdr.len), meta, out);
            }
            if !hdr.fin {
                self.violation(Violation::FragmentedControlFrame, meta, out);
            }
            self.control.clear();
            self.control_incomplete = false;
            return;
        }
        if self.closed && !matches!(hdr.opcode, OpCode::Reserved(_)) {
            self.violation(Violation::DataAfterClose, meta, out);
        }
        match hdr.opcode {
            OpCode::Continuation => {
                if let Some(m) = self.msg.as_mut() {
                    m.frames += 1;
                } else {
                    self.violation(Violation::ContinuationWithoutStart, meta, out);
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.msg.is_some() {
                    self.violation(Violation::MessageInsideFragmented, meta, out);
                }
                let compressed = rsv1 && self.deflate;
                self.msg = Some(Message {
                    opcode: hdr.opcode,
                    compressed,
                    frames: 1,
                    wire_len: 0,
                    inflated: 0,
                    preview: Vec::new(),
                    utf8: Utf8Check::default(),
                    incomplete: false,
                    inflate_ok: compressed && self.inflater.is_some(),
                    inflate_failed: false,
                    first_meta: meta,
                });
            }
            _ => {}
        }
    }

    fn payload(&mut self, hdr: &FrameHeader, offset: u64, data: &[u8]) {
        if hdr.opcode.is_control() {
            // An oversized Close is kept whole up to a bound, to show what it said.
            let keep = if hdr.opcode == OpCode::Close { MAX_CLOSE_KEPT } else { MAX_CONTROL as usize };
            let room = keep.saturating_sub(self.control.len());
            let take = room.min(data.len());
            let start = self.control.len();
            self.control.extend_from_slice(&data[..take]);
            if let Some(mask) = hdr.mask {
                frame::unmask(&mut self.control[start..], mask, offset);
            }
            return;
        }
        let Some(m) = self.msg.as_mut() else { return };
        m.wire_len += data.len() as u64;
        let wants_text = m.opcode == OpCode::Text;
        if !(wants_text || m.inflate_ok) {
            return;
        }
        if hdr.mask.is_none() && !m.compressed {
            see_text(&mut m.utf8, &mut m.preview, data);
            return;
        }
        // Unmask into a small shared buffer, chunk by chunk: payloads are never stored.
        let (inflater, counts) = (&mut self.inflater, &mut self.counts);
        UNMASKED.with_borrow_mut(|scratch| {
            let mut off = offset;
            for chunk in data.chunks(SCRATCH) {
                scratch.clear();
                scratch.extend_from_slice(chunk);
                let buf = &mut scratch[..];
                if let Some(mask) = hdr.mask {
                    frame::unmask(buf, mask, off);
                }
                off += chunk.len() as u64;
                if !m.compressed {
                    see_text(&mut m.utf8, &mut m.preview, buf);
                    continue;
                }
                if !m.inflate_ok {
                    continue;
                }
                let Some(inf) = inflater.as_mut() else { continue };
                counts.deflated_in += buf.len() as u64;
                let (utf8, preview) = (&mut m.utf8, &mut m.preview);
                match inf.feed(buf, false, |out| {
                    if wants_text {
                        see_text(utf8, preview, out);
                    }
                }) {
                    Ok(n) => {
                        m.inflated += n;
                        counts.inflated_out += n;
                    }
                    Err(_) => {
                        m.inflate_ok = false;
                        m.inflate_failed = true;
                        *inflater = None;
                    }
                }
            }
        });
    }

    fn end_frame(&mut self, hdr: FrameHeader, meta: Meta, out: &mut Vec<WsEvent>) {
        self.state = State::Header { buf: [0; 14], have: 0 };
        match hdr.opcode {
            OpCode::Ping => out.push(WsEvent::Ping { len: hdr.len, meta }),
            OpCode::Pong => out.push(WsEvent::Pong { len: hdr.len, meta }),
            OpCode::Close => self.end_close(hdr, meta, out),
            OpCode::Reserved(_) => {}
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if hdr.fin {
                    self.end_message(meta, out);
                }
            }
        }
    }

    fn end_close(&mut self, hdr: FrameHeader, meta: Meta, out: &mut Vec<WsEvent>) {
        let p = std::mem::take(&mut self.control);
        let incomplete = self.control_incomplete || hdr.len > p.len() as u64;
        let (code, reason) = match p.len() {
            0 if hdr.len == 0 => (None, None),
            0 => (None, None),
            1 => {
                if !incomplete {
                    self.violation(Violation::OneByteClosePayload, meta, out);
                }
                (None, None)
            }
            _ => {
                let code = u16::from_be_bytes([p[0], p[1]]);
                let reason_bytes = &p[2..];
                if std::str::from_utf8(reason_bytes).is_err() && !incomplete {
                    self.violation(Violation::InvalidUtf8, meta, out);
                }
                let reason = Some(String::from_utf8_lossy(reason_bytes).into_owned());
                if !frame::close_code_valid(code) {
                    self.violation(Violation::InvalidCloseCode(code), meta, out);
                }
                (Some(code), reason)
            }
        };
        self.closed = true;
        out.push(WsEvent::Close { code, reason, payload_len: hdr.len, incomplete, meta });
        self.control = p;
        self.control.clear();
    }

    fn end_message(&mut self, meta: Meta, out: &mut Vec<WsEvent>) {
        let Some(mut m) = self.msg.take() else { return };
        let mut inflated_len = None;
        if m.compressed
            && m.inflate_ok
            && let Some(inf) = self.inflater.as_mut()
        {
            // RFC 7692 §7.2.2: append 00 00 ff ff to the message's compressed bytes.
            let is_text = m.opcode == OpCode::Text;
            let (utf8, preview) = (&mut m.utf8, &mut m.preview);
            let capped_before = inf.capped();
            let r = inf.feed(&[0x00, 0x00, 0xff, 0xff], true, |tail| {
                if is_text {
                    see_text(utf8, preview, tail);
                }
            });
            match r {
                Ok(n) => {
                    m.inflated += n;
                    self.counts.inflated_out += n;
                    if capped_before || m.inflated > super::deflate::MAX_INFLATED {
                        m.inflate_ok = false;
                    } else {
                        inflated_len = Some(m.inflated);
                    }
                }
                Err(_) => {
                    m.inflate_ok = false;
                    if !m.incomplete {
                        self.violation(Violation::InflateFailed, meta, out);
                    }
                    self.inflater = None;
                }
            }
        }
        if m.inflate_failed && !m.incomplete {
            self.violation(Violation::InflateFailed, meta, out);
        }
        let readable = !m.compressed || m.inflate_ok;
        if m.opcode == OpCode::Text && readable && !m.incomplete && !m.utf8.finish() {
            self.violation(Violation::InvalidUtf8, meta, out);
        }
        match m.opcode {
            OpCode::Text => self.counts.text_messages += 1,
            _ => self.counts.binary_messages += 1,
        }
        if m.compressed {
            self.counts.compressed_messages += 1;
        }
        // The preview's own buffer becomes the string when it is whole UTF-8 (the usual case).
        let preview = (m.opcode == OpCode::Text && readable).then(|| {
            String::from_utf8(std::mem::take(&mut m.preview))
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        });
        let _ = m.first_meta;
        out.push(WsEvent::Message {
            opcode: m.opcode,
            wire_len: m.wire_len,
            inflated_len,
            frames: m.frames,
            compressed: m.compressed,
            preview,
            incomplete: m.incomplete,
            meta,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{PacketNo, Timestamp};

    fn meta(n: u64) -> Meta {
        Meta { packet: PacketNo(n), ts: Timestamp(0) }
    }

    /// A frame as a peer would send it.
    pub fn frame(fin: bool, rsv: u8, op: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(u8::from(fin) << 7) | (rsv << 4) | op];
        let mbit = if mask.is_some() { 0x80 } else { 0 };
        let n = payload.len();
        if n < 126 {
            v.push(mbit | n as u8);
        } else if n <= 0xffff {
            v.push(mbit | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(mbit | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mut p = payload.to_vec();
        if let Some(m) = mask {
            v.extend_from_slice(&m);
            frame::unmask(&mut p, m, 0);
        }
        v.extend_from_slice(&p);
        v
    }

    fn parse(sender: Role, bytes: &[u8], step: usize) -> Vec<WsEvent> {
        let mut p = FrameParser::new(sender, false, None);
        let mut out = Vec::new();
        for (i, c) in bytes.chunks(step).enumerate() {
            p.data(c, meta(i as u64 + 1), true, &mut out);
        }
        out
    }

    const M: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    #[test]
    fn messages_and_close_any_chunking() {
        let mut s = frame(true, 0, 1, M, "héllo wörld".as_bytes());
        s.extend(frame(false, 0, 2, M, &[0; 300]));
        s.extend(frame(true, 0, 9, M, b"hb"));
        s.extend(frame(true, 0, 0, M, &[1; 70000]));
        let mut close = 4001u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"unauthorized");
        s.extend(frame(true, 0, 8, M, &close));
        for step in [1, 2, 3, 7, 100, s.len()] {
            let ev = parse(Role::Client, &s, step);
            let kinds: Vec<String> =
                ev.iter().map(|e| format!("{e:?}").split([' ', '{']).next().unwrap_or("").to_string()).collect();
            assert_eq!(kinds, ["Message", "Ping", "Message", "Close"], "step {step}");
            match &ev[0] {
                WsEvent::Message { opcode, preview, wire_len, .. } => {
                    assert_eq!(*opcode, OpCode::Text);
                    assert_eq!(preview.as_deref(), Some("héllo wörld"));
                    assert_eq!(*wire_len, 13);
                }
                e => panic!("{e:?}"),
            }
            match &ev[2] {
                WsEvent::Message { opcode, frames, wire_len, .. } => {
                    assert_eq!((*opcode, *frames, *wire_len), (OpCode::Binary, 2, 70300))
                }
                e => panic!("{e:?}"),
            }
            match &ev[3] {
                WsEvent::Close { code, reason, .. } => {
                    assert_eq!(*code, Some(4001));
                    assert_eq!(reason.as_deref(), Some("unauthorized"));
                }
                e => panic!("{e:?}"),
            }
        }
    }

    fn violations(ev: &[WsEvent]) -> Vec<Violation> {
        ev.iter()
            .filter_map(|e| match e {
                WsEvent::Violation { violation, .. } => Some(violation.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_violation() {
        let cases: Vec<(Role, Vec<u8>, Violation)> = vec![
            (Role::Client, frame(true, 0, 1, None, b"x"), Violation::UnmaskedClientFrame),
            (Role::Server, frame(true, 0, 1, M, b"x"), Violation::MaskedServerFrame),
            (Role::Server, frame(true, 0, 3, None, b""), Violation::ReservedOpcode(3)),
            (Role::Server, frame(true, 4, 1, None, b"x"), Violation::RsvWithoutExtension(4)),
            (Role::Server, frame(true, 0, 9, None, &[0; 126]), Violation::ControlFrameTooLong(126)),
            (Role::Server, frame(false, 0, 9, None, b""), Violation::FragmentedControlFrame),
            (Role::Server, frame(true, 0, 0, None, b"x"), Violation::ContinuationWithoutStart),
            (
                Role::Server,
                [frame(false, 0, 1, None, b"a"), frame(true, 0, 1, None, b"b")].concat(),
                Violation::MessageInsideFragmented,
            ),
            (Role::Server, frame(true, 0, 1, None, &[0xff, 0xfe]), Violation::InvalidUtf8),
            (Role::Server, frame(true, 0, 8, None, &1006u16.to_be_bytes()), Violation::InvalidCloseCode(1006)),
            (Role::Server, frame(true, 0, 8, None, &[3]), Violation::OneByteClosePayload),
            (Role::Server, vec![0x82, 0x7e, 0, 1, 0], Violation::NonMinimalLength),
            (Role::Server, vec![0x82, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 0], Violation::LengthMsbSet),
            (
                Role::Server,
                [frame(true, 0, 8, None, &1000u16.to_be_bytes()), frame(true, 0, 1, None, b"x")].concat(),
                Violation::DataAfterClose,
            ),
        ];
        for (role, bytes, want) in cases {
            let v = violations(&parse(role, &bytes, 1));
            assert!(v.contains(&want), "{want:?} not in {v:?}");
            let v = violations(&parse(role, &bytes, bytes.len()));
            assert!(v.contains(&want), "{want:?} not in {v:?}");
        }
    }

    /// The incremental check agrees with std's check of the whole text, however it is cut
    /// (every pair of cut points), for valid text, wrong bytes and text cut inside a character.
    #[test]
    fn utf8_check_agrees_with_std_at_every_cut() {
        let long_ascii = "a".repeat(70) + "é" + &"b".repeat(40);
        let cases: Vec<Vec<u8>> = vec![
            "€uro ✓ 𝄞 plain".into(),
            long_ascii.into_bytes(),
            b"ok \xc3\xa9 then \xc3".to_vec(), // cut inside a character at the end
            b"bad \xc3\x28 continuation".to_vec(),
            b"overlong \xc0\xaf".to_vec(),
            b"surrogate \xed\xa0\x80".to_vec(),
            b"too big \xf4\x90\x80\x80".to_vec(),
            b"\xf0\x9d\x84".to_vec(),
            b"\x80".to_vec(),
            Vec::new(),
        ];
        for b in &cases {
            let want = std::str::from_utf8(b).is_ok();
            for i in 0..=b.len() {
                for j in i..=b.len() {
                    let mut u = Utf8Check::default();
                    u.feed(&b[..i]);
                    u.feed(&b[i..j]);
                    u.feed(&b[j..]);
                    assert_eq!(u.finish(), want, "{b:?} cut at {i}, {j}");
                }
            }
        }
    }

    #[test]
    fn utf8_split_across_frames_and_chunks_is_valid() {
        let text = "€uro ✓ 𝄞";
        let b = text.as_bytes();
        let s =
            [frame(false, 0, 1, None, &b[..2]), frame(false, 0, 0, None, &b[2..9]), frame(true, 0, 0, None, &b[9..])]
                .concat();
        for step in 1..s.len() {
            let ev = parse(Role::Server, &s, step);
            assert!(violations(&ev).is_empty(), "step {step}");
            assert!(matches!(&ev[0], WsEvent::Message { preview: Some(p), frames: 3, .. } if p == text));
        }
    }

    #[test]
    fn empty_close_has_no_code() {
        let ev = parse(Role::Client, &frame(true, 0, 8, M, b""), 1);
        assert_eq!(
            ev,
            vec![WsEvent::Close { code: None, reason: None, payload_len: 0, incomplete: false, meta: meta(6) }]
        );
    }

    #[test]
    fn gap_inside_payload_keeps_framing() {
        let mut p = FrameParser::new(Role::Server, false, None);
        let mut out = Vec::new();
        let f = frame(true, 0, 2, None, &[7; 1000]);
        p.data(&f[..100], meta(1), true, &mut out);
        p.gap(800, meta(2), &mut out);
        p.data(&f[900..], meta(3), true, &mut out);
        p.data(&frame(true, 0, 8, None, &1000u16.to_be_bytes()), meta(4), true, &mut out);
        assert!(matches!(out[0], WsEvent::Message { incomplete: true, wire_len: 1000, .. }));
        assert!(matches!(out[1], WsEvent::Close { code: Some(1000), .. }));
    }

    #[test]
    fn snaplen_cut_frames_resync_when_the_gap_matches() {
        let mut p = FrameParser::new(Role::Server, false, None);
        p.set_lost();
        let mut out = Vec::new();
        let f = frame(true, 0, 1, None, &[b'a'; 200]);
        // 30 bytes captured, 174 missing: exactly the rest of the 204-byte frame.
        p.data(&f[..30], meta(1), true, &mut out);
        p.gap(174, meta(1), &mut out);
        let c = frame(true, 0, 8, None, &[0x03, 0xe8]);
        p.data(&c, meta(2), true, &mut out);
        assert!(matches!(out[0], WsEvent::Resync { .. }), "{out:?}");
        assert!(matches!(out[1], WsEvent::Message { incomplete: true, wire_len: 200, .. }), "{out:?}");
        assert!(matches!(out[2], WsEvent::Close { code: Some(1000), .. }), "{out:?}");
        // A gap of another size is not trusted.
        let mut p = FrameParser::new(Role::Server, false, None);
        p.set_lost();
        let mut out = Vec::new();
        p.data(&f[..30], meta(1), true, &mut out);
        p.gap(173, meta(1), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn gap_across_headers_loses_sync_and_never_invents_frames() {
        let mut p = FrameParser::new(Role::Server, false, None);
        let mut out = Vec::new();
        p.data(&frame(true, 0, 1, None, b"a")[..2], meta(1), true, &mut out);
        p.gap(500, meta(2), &mut out);
        // Payload bytes that happen to look like a Close 30840 frame header, mid-segment.
        p.data(b"\x88\x02\x78\x78 and more payload", meta(3), true, &mut out);
        assert!(!out.iter().any(|e| matches!(e, WsEvent::Close { .. })));
        assert!(matches!(out[0], WsEvent::Desync { .. }));
        // A segment made of whole frames brings framing back.
        p.data(&frame(true, 0, 8, None, &1001u16.to_be_bytes()), meta(4), true, &mut out);
        assert!(matches!(out[1], WsEvent::Resync { .. }));
        assert!(matches!(out[2], WsEvent::Close { code: Some(1001), .. }));
    }
}
