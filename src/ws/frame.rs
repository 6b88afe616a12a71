//! RFC 6455 §5.2 frame headers and §7.4 close codes, strictly: an analyzer must see every breach,
//! so nothing here is lenient the way a peer library may be.

/// A frame opcode; reserved values are kept, not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

impl OpCode {
    pub fn from_bits(b: u8) -> OpCode {
        match b & 0x0f {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            n => OpCode::Reserved(n),
        }
    }
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
            OpCode::Reserved(n) => n,
        }
    }
    /// Control frames have the high opcode bit set (RFC 6455 §5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x08 != 0
    }
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
            OpCode::Reserved(_) => "reserved",
        }
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1..RSV3 as the three low bits (RSV1 = 0b100).
    pub rsv: u8,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    /// Bytes the header takes: 2 to 14.
    pub header_len: usize,
    /// The length used a longer encoding than needed (RFC 6455 §5.2: "the minimal number of
    /// bytes MUST be used").
    pub non_minimal_len: bool,
}

/// A header that cannot be a frame header at all: framing is lost from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("64-bit payload length with the most significant bit set")]
    LengthMsbSet,
}

/// Parses a frame header from the start of `b`: `Ok(None)` if more bytes are needed.
pub fn parse_header(b: &[u8]) -> Result<Option<FrameHeader>, HeaderError> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    let rsv = (b[0] >> 4) & 0x07;
    let opcode = OpCode::from_bits(b[0]);
    let masked = b[1] & 0x80 != 0;
    let len7 = b[1] & 0x7f;
    let (len, mut at, non_minimal) = match len7 {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            let l = u64::from(u16::from_be_bytes([b[2], b[3]]));
            (l, 4, l < 126)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[2..10]);
            let l = u64::from_be_bytes(a);
            if l >> 63 != 0 {
                return Err(HeaderError::LengthMsbSet);
            }
            (l, 10, l <= 0xffff)
        }
        n => (u64::from(n), 2, false),
    };
    let mask = if masked {
        if b.len() < at + 4 {
            return Ok(None);
        }
        let m = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some(FrameHeader { fin, rsv, opcode, mask, len, header_len: at, non_minimal_len: non_minimal }))
}

/// XORs `data` with `mask`, where `data` starts at payload offset `offset`.
pub fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let shift = (offset % 4) as usize;
    let m = [mask[shift], mask[(shift + 1) % 4], mask[(shift + 2) % 4], mask[(shift + 3) % 4]];
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let Some(c) = c.first_chunk_mut::<8>() else { continue };
        *c = (u64::from_ne_bytes(*c) ^ word).to_ne_bytes();
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// May an endpoint send this close code (RFC 6455 §7.4.1, §7.4.2; IANA registry)?
/// 1005, 1006 and 1015 are for reporting only and must never appear on the wire.
pub fn close_code_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The registered meaning of a close code.
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status received",
        1006 => "abnormal closure",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake failure",
        3000..=3999 => "registered by a library or framework",
        4000..=4999 => "application-defined",
        _ => "not a valid close code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_truncation_of_every_length_form_needs_more() {
        let frames: [&[u8]; 4] = [
            &[0x81, 0x05],
            &[0x82, 0x7e, 0x01, 0x00],
            &[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4],
            &[0x88, 0x82, 9, 8, 7, 6],
        ];
        for f in frames {
            for cut in 0..f.len() {
                assert_eq!(parse_header(&f[..cut]), Ok(None), "{f:?} cut {cut}");
            }
            let h = parse_header(f).ok().flatten().expect("complete");
            assert_eq!(h.header_len, f.len());
        }
    }

    #[test]
    fn fields() {
        let h = parse_header(&[0x81, 0x05]).ok().flatten().expect("h");
        assert_eq!((h.fin, h.rsv, h.opcode, h.mask, h.len), (true, 0, OpCode::Text, None, 5));
        let h = parse_header(&[0x41, 0x7e, 0x01, 0x00]).ok().flatten().expect("h");
        assert_eq!((h.fin, h.rsv, h.len, h.non_minimal_len), (false, 4, 256, false));
        let h = parse_header(&[0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]).ok().flatten().expect("h");
        assert_eq!((h.len, h.mask), (1 << 32, Some([1, 2, 3, 4])));
        assert_eq!(parse_header(&[0x8b, 0x00]).ok().flatten().map(|h| h.opcode), Some(OpCode::Reserved(11)));
        assert_eq!(parse_header(&[0x82, 0x7e, 0, 5]).ok().flatten().map(|h| h.non_minimal_len), Some(true));
        assert_eq!(parse_header(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(HeaderError::LengthMsbSet));
    }

    #[test]
    fn unmask_at_any_offset() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let plain = b"Hello, WebSocket world!";
        let mut masked: Vec<u8> = plain.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        for split in 0..plain.len() {
            let mut m = masked.clone();
            let (a, b) = m.split_at_mut(split);
            unmask(a, mask, 0);
            unmask(b, mask, split as u64);
            assert_eq!(&m, plain);
        }
        unmask(&mut masked, mask, 0);
        assert_eq!(&masked, plain);
    }

    #[test]
    fn close_codes() {
        for c in [1000, 1001, 1011, 1012, 3000, 4001, 4999] {
            assert!(close_code_valid(c), "{c}");
        }
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 30840] {
            assert!(!close_code_valid(c), "{c}");
        }
    }
}
