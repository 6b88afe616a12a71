//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte header and the payloads of the frame types
//! that are read whole. DATA payloads are streamed by the connection parser, not read here.

use std::fmt;

/// The client's connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADER_LEN: usize = 9;

/// A frame type; unknown ones are kept as their value (RFC 9113 §5.5: ignored by peers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl FrameType {
    pub fn from_u8(t: u8) -> FrameType {
        match t {
            0 => FrameType::Data,
            1 => FrameType::Headers,
            2 => FrameType::Priority,
            3 => FrameType::RstStream,
            4 => FrameType::Settings,
            5 => FrameType::PushPromise,
            6 => FrameType::Ping,
            7 => FrameType::GoAway,
            8 => FrameType::WindowUpdate,
            9 => FrameType::Continuation,
            n => FrameType::Unknown(n),
        }
    }

    /// Its index among the counted types (unknown ones share the last).
    pub fn index(self) -> usize {
        match self {
            FrameType::Data => 0,
            FrameType::Headers => 1,
            FrameType::Priority => 2,
            FrameType::RstStream => 3,
            FrameType::Settings => 4,
            FrameType::PushPromise => 5,
            FrameType::Ping => 6,
            FrameType::GoAway => 7,
            FrameType::WindowUpdate => 8,
            FrameType::Continuation => 9,
            FrameType::Unknown(_) => 10,
        }
    }

    /// The names of the counted types, by [`FrameType::index`].
    pub const NAMES: [&'static str; 11] = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
        "unknown",
    ];
}

pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// A frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub ty: FrameType,
    pub flags: u8,
    /// The stream identifier, without the reserved bit.
    pub stream: u32,
}

impl FrameHeader {
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            ty: FrameType::from_u8(b[3]),
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// An HTTP/2 error code (RFC 9113 §7); unknown ones keep their value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    pub const NO_ERROR: ErrorCode = ErrorCode(0);
    pub const CANCEL: ErrorCode = ErrorCode(8);

    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "error 0x{:x}", self.0),
        }
    }
}

/// SETTINGS identifiers this tool names (RFC 9113 §6.5.2, RFC 8441 §3).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 1;
    pub const ENABLE_PUSH: u16 = 2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 3;
    pub const INITIAL_WINDOW_SIZE: u16 = 4;
    pub const MAX_FRAME_SIZE: u16 = 5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 8;

    pub fn name(id: u16) -> Option<&'static str> {
        Some(match id {
            1 => "HEADER_TABLE_SIZE",
            2 => "ENABLE_PUSH",
            3 => "MAX_CONCURRENT_STREAMS",
            4 => "INITIAL_WINDOW_SIZE",
            5 => "MAX_FRAME_SIZE",
            6 => "MAX_HEADER_LIST_SIZE",
            8 => "ENABLE_CONNECT_PROTOCOL",
            9 => "NO_RFC7540_PRIORITIES",
            _ => return None,
        })
    }
}

/// What is wrong with a frame (RFC 9113 §4.2, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The payload is shorter or longer than its type requires.
    Size { ty: FrameType, len: u32 },
    /// The padding is longer than the payload.
    Padding { ty: FrameType },
    /// A frame on stream 0 that needs a stream, or on a stream that must be 0.
    Stream { ty: FrameType, stream: u32 },
    /// A CONTINUATION where none was due, or another frame where one was.
    Continuation,
    /// A frame being read (or a header block) was dropped to keep within the memory budget.
    Shed { ty: FrameType },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |t: &FrameType| FrameType::NAMES[t.index()];
        match self {
            FrameError::Size { ty, len } => write!(f, "{} frame of {len} bytes has the wrong size", name(ty)),
            FrameError::Padding { ty } => write!(f, "{} frame padding longer than its payload", name(ty)),
            FrameError::Stream { ty, stream } => write!(f, "{} frame on stream {stream}", name(ty)),
            FrameError::Continuation => write!(f, "header block interrupted (CONTINUATION out of place)"),
            FrameError::Shed { ty } => {
                write!(f, "{} frame not read: its bytes were dropped to stay within the memory budget", name(ty))
            }
        }
    }
}

/// A frame read whole (everything but DATA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The header block fragment, without padding and priority fields.
    Headers {
        fragment: &'a [u8],
    },
    Priority,
    RstStream {
        code: ErrorCode,
    },
    Settings {
        ack: bool,
        params: Vec<(u16, u32)>,
    },
    PushPromise {
        promised: u32,
        fragment: &'a [u8],
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    WindowUpdate {
        increment: u32,
    },
    Continuation {
        fragment: &'a [u8],
    },
    Unknown,
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// Removes the padding of a PADDED frame (RFC 9113 §6.1).
fn unpad<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(p);
    }
    let (&pad, rest) = p.split_first().ok_or(FrameError::Size { ty: h.ty, len: h.len })?;
    let keep = rest.len().checked_sub(usize::from(pad)).ok_or(FrameError::Padding { ty: h.ty })?;
    Ok(&rest[..keep])
}

/// Parses the payload of a frame of any type but DATA; `p` holds exactly `h.len` bytes.
pub fn parse<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    let size = || FrameError::Size { ty: h.ty, len: h.len };
    let on_stream = |want_stream: bool| {
        if (h.stream != 0) == want_stream { Ok(()) } else { Err(FrameError::Stream { ty: h.ty, stream: h.stream }) }
    };
    Ok(match h.ty {
        FrameType::Data => return Err(FrameError::Stream { ty: h.ty, stream: h.stream }),
        FrameType::Headers => {
            on_stream(true)?;
            let mut f = unpad(h, p)?;
            if h.has(flags::PRIORITY) {
                f = f.get(5..).ok_or_else(size)?;
            }
            Frame::Headers { fragment: f }
        }
        FrameType::Priority => {
            on_stream(true)?;
            if p.len() != 5 {
                return Err(size());
            }
            Frame::Priority
        }
        FrameType::RstStream => {
            on_stream(true)?;
            if p.len() != 4 {
                return Err(size());
            }
            Frame::RstStream { code: ErrorCode(be32(p)) }
        }
        FrameType::Settings => {
            on_stream(false)?;
            let ack = h.has(flags::ACK);
            if !p.len().is_multiple_of(6) || (ack && !p.is_empty()) {
                return Err(size());
            }
            let params = p.chunks_exact(6).map(|c| (u16::from_be_bytes([c[0], c[1]]), be32(&c[2..]))).collect();
            Frame::Settings { ack, params }
        }
        FrameType::PushPromise => {
            on_stream(true)?;
            let f = unpad(h, p)?;
            if f.len() < 4 {
                return Err(size());
            }
            Frame::PushPromise { promised: be32(f) & 0x7fff_ffff, fragment: &f[4..] }
        }
        FrameType::Ping => {
            on_stream(false)?;
            let data: [u8; 8] = p.try_into().map_err(|_| size())?;
            Frame::Ping { ack: h.has(flags::ACK), data }
        }
        FrameType::GoAway => {
            on_stream(false)?;
            if p.len() < 8 {
                return Err(size());
            }
            Frame::GoAway { last_stream: be32(p) & 0x7fff_ffff, code: ErrorCode(be32(&p[4..])), debug: &p[8..] }
        }
        FrameType::WindowUpdate => {
            if p.len() != 4 {
                return Err(size());
            }
            Frame::WindowUpdate { increment: be32(p) & 0x7fff_ffff }
        }
        FrameType::Continuation => {
            on_stream(true)?;
            Frame::Continuation { fragment: p }
        }
        FrameType::Unknown(_) => Frame::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, ty: u8, flags: u8, stream: u32) -> FrameHeader {
        let mut b = [0u8; 9];
        b[..3].copy_from_slice(&len.to_be_bytes()[1..]);
        b[3] = ty;
        b[4] = flags;
        b[5..].copy_from_slice(&(stream | 0x8000_0000).to_be_bytes());
        FrameHeader::parse(&b)
    }

    #[test]
    fn the_header_drops_the_reserved_bit() {
        let h = header(0x01_02_03, 4, 1, 5);
        assert_eq!(h, FrameHeader { len: 0x010203, ty: FrameType::Settings, flags: 1, stream: 5 });
        assert_eq!(FrameType::from_u8(0xfa), FrameType::Unknown(0xfa));
        assert_eq!(FrameType::NAMES[FrameType::Unknown(0xfa).index()], "unknown");
    }

    #[test]
    fn each_type_parses_and_each_wrong_length_is_refused() {
        fn ok(ty: u8, flags: u8, stream: u32, p: &[u8]) -> Result<Frame<'_>, FrameError> {
            parse(&header(p.len() as u32, ty, flags, stream), p)
        }
        assert_eq!(ok(3, 0, 1, &[0, 0, 0, 8]), Ok(Frame::RstStream { code: ErrorCode::CANCEL }));
        assert_eq!(
            ok(4, 0, 0, &[0, 8, 0, 0, 0, 1, 0, 1, 0, 0, 0x10, 0]),
            Ok(Frame::Settings { ack: false, params: vec![(8, 1), (1, 4096)] })
        );
        assert_eq!(ok(4, 1, 0, &[]), Ok(Frame::Settings { ack: true, params: vec![] }));
        assert_eq!(
            ok(6, 1, 0, &[1, 2, 3, 4, 5, 6, 7, 8]),
            Ok(Frame::Ping { ack: true, data: [1, 2, 3, 4, 5, 6, 7, 8] })
        );
        assert_eq!(
            ok(7, 0, 0, &[0x80, 0, 0, 3, 0, 0, 0, 0, b'b', b'y', b'e']),
            Ok(Frame::GoAway { last_stream: 3, code: ErrorCode::NO_ERROR, debug: b"bye" })
        );
        assert_eq!(ok(8, 0, 3, &[0, 0, 0x40, 0]), Ok(Frame::WindowUpdate { increment: 0x4000 }));
        assert_eq!(ok(2, 0, 3, &[0, 0, 0, 1, 16]), Ok(Frame::Priority));
        assert_eq!(ok(9, 4, 3, b"xy"), Ok(Frame::Continuation { fragment: b"xy" }));
        assert_eq!(ok(0x77, 0, 0, b"any"), Ok(Frame::Unknown));
        assert_eq!(ok(5, 4, 1, &[0, 0, 0, 2, 0x82]), Ok(Frame::PushPromise { promised: 2, fragment: &[0x82] }));
        // Every shorter and one longer payload of the fixed-size types.
        for (ty, stream, full) in [
            (3u8, 1u32, vec![0u8; 4]),
            (6, 0, vec![0; 8]),
            (8, 0, vec![0; 4]),
            (2, 1, vec![0; 5]),
            (7, 0, vec![0; 8]),
            (5, 1, vec![0; 4]),
        ] {
            for n in 0..full.len() {
                assert!(ok(ty, 0, stream, &full[..n]).is_err(), "type {ty} cut to {n}");
            }
            let mut longer = full.clone();
            longer.push(0);
            let r = ok(ty, 0, stream, &longer);
            assert_eq!(r.is_err(), ![7u8, 5].contains(&ty), "type {ty} one byte longer");
        }
        assert!(ok(4, 0, 0, &[0; 5]).is_err(), "SETTINGS not a multiple of 6");
        assert!(ok(4, 1, 0, &[0; 6]).is_err(), "SETTINGS ACK with a payload");
        assert!(ok(4, 0, 1, &[]).is_err(), "SETTINGS on a stream");
        assert!(ok(1, 0, 0, b"x").is_err(), "HEADERS on stream 0");
        assert!(ok(3, 0, 0, &[0; 4]).is_err(), "RST_STREAM on stream 0");
    }

    #[test]
    fn headers_lose_their_padding_and_priority() {
        let p = [2u8, 0, 0, 0, 0, 16, 0x82, 0x84, 0, 0];
        let h = header(p.len() as u32, 1, flags::PADDED | flags::PRIORITY | flags::END_HEADERS, 1);
        assert_eq!(parse(&h, &p), Ok(Frame::Headers { fragment: &[0x82, 0x84] }));
        for n in 0..p.len() {
            let h = header(n as u32, 1, flags::PADDED | flags::PRIORITY, 1);
            let r = parse(&h, &p[..n]);
            // The pad length (2) and the 5 priority bytes need 8 bytes at least.
            assert_eq!(r.is_ok(), n >= 8, "{n}: {r:?}");
        }
        let h = header(3, 1, flags::PADDED, 1);
        assert_eq!(parse(&h, &[5, 1, 2]), Err(FrameError::Padding { ty: FrameType::Headers }));
    }

    #[test]
    fn error_codes_have_their_names() {
        assert_eq!(ErrorCode(8).to_string(), "CANCEL");
        assert_eq!(ErrorCode(0xd).to_string(), "HTTP_1_1_REQUIRED");
        assert_eq!(ErrorCode(0x99).to_string(), "error 0x99");
        assert_eq!(setting::name(setting::ENABLE_CONNECT_PROTOCOL), Some("ENABLE_CONNECT_PROTOCOL"));
    }
}
