//! HPACK (RFC 7541): the header compression of HTTP/2, decoding only. One [`Decoder`] per
//! direction keeps that direction's dynamic table. A passive observer cannot refuse what a peer
//! accepted, so limits here are the ones that keep memory bounded, not the peer's settings.

use std::collections::VecDeque;
use std::fmt;

/// The largest dynamic table this decoder keeps (a peer may allow more; past it, decoding stops).
pub const MAX_TABLE: usize = 256 * 1024;
/// The most header bytes one block may decode to (names and values).
pub const MAX_DECODED: usize = 256 * 1024;

/// Why a header block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer longer than any real one.
    IntegerOverflow,
    /// Index 0, or one past the static and dynamic tables.
    BadIndex(u64),
    /// A Huffman string with a bad code, EOS, or padding that is not a prefix of EOS.
    BadHuffman,
    /// A dynamic table size update over [`MAX_TABLE`], or one not at the start of the block.
    BadTableSize(u64),
    /// The block decodes to more than [`MAX_DECODED`] bytes.
    TooLarge,
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackError::Truncated => write!(f, "header block ends inside a field"),
            HpackError::IntegerOverflow => write!(f, "integer too large"),
            HpackError::BadIndex(i) => write!(f, "index {i} is in no table"),
            HpackError::BadHuffman => write!(f, "invalid Huffman string"),
            HpackError::BadTableSize(n) => write!(f, "dynamic table size update to {n} not allowed here"),
            HpackError::TooLarge => write!(f, "header list too large"),
        }
    }
}

/// One decoded header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The decoding state of one direction: its dynamic table (RFC 7541 §2.3.2).
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Newest first.
    table: VecDeque<Field>,
    /// Its size as RFC 7541 §4.1 counts it (32 bytes of overhead per entry).
    size: usize,
    max: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { table: VecDeque::new(), size: 0, max: 4096 }
    }
}

impl Decoder {
    /// The dynamic table's size (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// Decodes one complete header block into `out`. On an error the table may have been
    /// changed by the fields before it, as a real decoder's would: the caller stops trusting it.
    pub fn decode(&mut self, block: &[u8], out: &mut Vec<Field>) -> Result<(), HpackError> {
        let mut r = block;
        let mut decoded = 0usize;
        let mut first = true;
        while let Some(&b) = r.first() {
            if b & 0x80 != 0 {
                // §6.1 Indexed Header Field.
                let i = integer(&mut r, 7)?;
                let f = self.get(i)?;
                decoded += f.name.len() + f.value.len();
                out.push(f);
            } else if b & 0xe0 == 0x20 {
                // §6.3 Dynamic Table Size Update: only before the first field.
                let n = integer(&mut r, 5)?;
                if !first || n > MAX_TABLE as u64 {
                    return Err(HpackError::BadTableSize(n));
                }
                self.max = n as usize;
                self.evict(0);
                continue;
            } else {
                // §6.2 Literal Header Field: with incremental indexing (01), without (0000)
                // or never indexed (0001).
                let (prefix, index) = if b & 0xc0 == 0x40 { (6, true) } else { (4, false) };
                let i = integer(&mut r, prefix)?;
                let name = if i == 0 { string(&mut r)? } else { self.get(i)?.name };
                let value = string(&mut r)?;
                decoded += name.len() + value.len();
                let f = Field { name, value };
                if index {
                    self.insert(f.clone());
                }
                out.push(f);
            }
            first = false;
            if decoded > MAX_DECODED {
                return Err(HpackError::TooLarge);
            }
        }
        Ok(())
    }

    fn get(&self, i: u64) -> Result<Field, HpackError> {
        let bad = HpackError::BadIndex(i);
        let i = usize::try_from(i).map_err(|_| bad)?;
        if i == 0 {
            return Err(bad);
        }
        if let Some((n, v)) = STATIC.get(i - 1) {
            return Ok(Field { name: n.to_string(), value: v.to_string() });
        }
        self.table.get(i - 1 - STATIC.len()).cloned().ok_or(bad)
    }

    fn insert(&mut self, f: Field) {
        let size = entry_size(&f);
        self.evict(size);
        // An entry larger than the table empties it and is not added (§4.4).
        if size <= self.max {
            self.size += size;
            self.table.push_front(f);
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some(old) => self.size -= entry_size(&old),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

fn entry_size(f: &Field) -> usize {
    f.name.len() + f.value.len() + 32
}

/// An integer with an `n`-bit prefix (RFC 7541 §5.1), advancing `r` past it.
fn integer(r: &mut &[u8], n: u32) -> Result<u64, HpackError> {
    let (&first, mut rest) = r.split_first().ok_or(HpackError::Truncated)?;
    let mask = ((1u16 << n) - 1) as u8;
    let mut v = u64::from(first & mask);
    if v == u64::from(mask) {
        let mut shift = 0u32;
        loop {
            let (&b, tail) = rest.split_first().ok_or(HpackError::Truncated)?;
            rest = tail;
            if shift > 28 {
                return Err(HpackError::IntegerOverflow);
            }
            v += u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    *r = rest;
    Ok(v)
}

/// A string literal (RFC 7541 §5.2), Huffman-coded or not, advancing `r` past it.
fn string(r: &mut &[u8]) -> Result<String, HpackError> {
    let huffman = r.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(r, 7)?;
    let len = usize::try_from(len).map_err(|_| HpackError::Truncated)?;
    if len > r.len() {
        return Err(HpackError::Truncated);
    }
    if len > MAX_DECODED {
        return Err(HpackError::TooLarge);
    }
    let (bytes, rest) = r.split_at(len);
    *r = rest;
    let raw = if huffman { huffman_decode(bytes)? } else { bytes.to_vec() };
    Ok(match String::from_utf8(raw) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The code lengths of RFC 7541 Appendix B, symbols 0-255 then EOS. The code is canonical
/// (codes of one length are consecutive, in symbol order, shorter codes first), so the lengths
/// define it.
const CODE_LEN: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12,
    10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6,
    5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22,
    22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20,
    22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28,
    27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28,
    27, 27, 27, 27, 27, 26, 30,
];

const EOS: u16 = 256;

/// The canonical code as decoding tables: per length, the first code and where its symbols
/// start in `symbols`.
struct Canonical {
    first: [u32; 31],
    count: [u16; 31],
    offset: [u16; 31],
    symbols: [u16; 257],
}

fn canonical() -> &'static Canonical {
    static TABLE: std::sync::OnceLock<Canonical> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut c = Canonical { first: [0; 31], count: [0; 31], offset: [0; 31], symbols: [0; 257] };
        for &l in &CODE_LEN {
            c.count[usize::from(l)] += 1;
        }
        let (mut code, mut off) = (0u32, 0u16);
        for l in 1..31 {
            c.first[l] = code;
            c.offset[l] = off;
            code = (code + u32::from(c.count[l])) << 1;
            off += c.count[l];
        }
        let mut next = c.offset;
        for l in 1..31u8 {
            for (sym, &len) in CODE_LEN.iter().enumerate() {
                if len == l {
                    c.symbols[usize::from(next[usize::from(l)])] = sym as u16;
                    next[usize::from(l)] += 1;
                }
            }
        }
        c
    })
}

/// Decodes a Huffman-coded string (RFC 7541 §5.2): up to 7 bits of padding, all ones.
pub fn huffman_decode(bytes: &[u8]) -> Result<Vec<u8>, HpackError> {
    let c = canonical();
    let mut out = Vec::with_capacity(bytes.len() * 8 / 5);
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in bytes {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            if len > 30 {
                return Err(HpackError::BadHuffman);
            }
            let idx = code.wrapping_sub(c.first[len]);
            if code >= c.first[len] && idx < u32::from(c.count[len]) {
                let sym = c.symbols[usize::from(c.offset[len]) + idx as usize];
                if sym == EOS {
                    return Err(HpackError::BadHuffman);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HpackError::BadHuffman);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
    }

    fn fields(list: &[(&str, &str)]) -> Vec<Field> {
        list.iter().map(|(n, v)| Field { name: n.to_string(), value: v.to_string() }).collect()
    }

    fn decode(d: &mut Decoder, block: &str) -> Vec<Field> {
        let mut out = Vec::new();
        let r = d.decode(&hex(block), &mut out);
        assert_eq!(r, Ok(()), "{block}");
        out
    }

    #[test]
    fn the_canonical_code_is_the_rfcs() {
        // Kraft equality: a complete prefix code.
        let sum: f64 = CODE_LEN.iter().map(|&l| 0.5f64.powi(i32::from(l))).sum();
        assert!((sum - 1.0).abs() < 1e-12, "{sum}");
        // A few codes of Appendix B, rebuilt from the lengths.
        let c = canonical();
        let code_of = |sym: u16| {
            let l = usize::from(CODE_LEN[usize::from(sym)]);
            let pos = (0..usize::from(c.count[l]))
                .find(|&i| c.symbols[usize::from(c.offset[l]) + i] == sym)
                .unwrap_or(usize::MAX);
            c.first[l] + pos as u32
        };
        assert_eq!(code_of(0), 0x1ff8);
        assert_eq!(code_of(1), 0x7fffd8);
        assert_eq!(code_of(u16::from(b' ')), 0x14);
        assert_eq!(code_of(u16::from(b'0')), 0x0);
        assert_eq!(code_of(u16::from(b'a')), 0x3);
        assert_eq!(code_of(255), 0x3ffffee);
        assert_eq!(code_of(EOS), 0x3fffffff);
    }

    #[test]
    fn integers_of_rfc_7541_c1() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at an octet.
        let mut r: &[u8] = &[0x0a];
        assert_eq!(integer(&mut r, 5), Ok(10));
        let mut r: &[u8] = &[0x1f, 0x9a, 0x0a];
        assert_eq!(integer(&mut r, 5), Ok(1337));
        assert!(r.is_empty());
        let mut r: &[u8] = &[0x2a];
        assert_eq!(integer(&mut r, 8), Ok(42));
        let mut r: &[u8] = &[0x1f, 0x9a];
        assert_eq!(integer(&mut r, 5), Err(HpackError::Truncated));
        let mut r: &[u8] = &[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(integer(&mut r, 5), Err(HpackError::IntegerOverflow));
    }

    #[test]
    fn literals_of_rfc_7541_c2() {
        // C.2.1 Literal Header Field with Indexing.
        let mut d = Decoder::default();
        let out = decode(&mut d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(out, fields(&[("custom-key", "custom-header")]));
        assert_eq!(d.table_size(), 55);
        // C.2.2 without indexing.
        let mut d = Decoder::default();
        assert_eq!(decode(&mut d, "040c 2f73 616d 706c 652f 7061 7468"), fields(&[(":path", "/sample/path")]));
        assert_eq!(d.table_size(), 0);
        // C.2.3 never indexed.
        let mut d = Decoder::default();
        assert_eq!(decode(&mut d, "1008 7061 7373 776f 7264 0673 6563 7265 74"), fields(&[("password", "secret")]));
        assert_eq!(d.table_size(), 0);
        // C.2.4 indexed.
        let mut d = Decoder::default();
        assert_eq!(decode(&mut d, "82"), fields(&[(":method", "GET")]));
    }

    /// C.3 (plain) and C.4 (Huffman): three requests on one connection.
    #[test]
    fn requests_of_rfc_7541_c3_and_c4() {
        let first = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
        let second = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ];
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        for blocks in [
            [
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
            [
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
        ] {
            let mut d = Decoder::default();
            assert_eq!(decode(&mut d, blocks[0]), fields(&first));
            assert_eq!(d.table_size(), 57);
            assert_eq!(decode(&mut d, blocks[1]), fields(&second));
            assert_eq!(d.table_size(), 110);
            assert_eq!(decode(&mut d, blocks[2]), fields(&third));
            assert_eq!(d.table_size(), 164);
        }
    }

    /// C.5 (plain) and C.6 (Huffman): three responses with a 256-byte table, so entries are
    /// evicted.
    #[test]
    fn responses_of_rfc_7541_c5_and_c6_evict() {
        let first = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ];
        let second = [
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ];
        let third = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
        ];
        for blocks in [
            [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
            ],
            [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
        ] {
            let mut d = Decoder { max: 256, ..Decoder::default() };
            assert_eq!(decode(&mut d, blocks[0]), fields(&first));
            assert_eq!(d.table_size(), 222);
            assert_eq!(decode(&mut d, blocks[1]), fields(&second));
            assert_eq!(d.table_size(), 222);
            assert_eq!(decode(&mut d, blocks[2]), fields(&third));
            assert_eq!(d.table_size(), 215);
        }
    }

    #[test]
    fn every_truncation_of_a_block_is_an_error_not_a_panic() {
        let block = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        let mut seed = Decoder::default();
        let _ = decode(&mut seed, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
        let _ = decode(&mut seed, "8286 84be 5886 a8eb 1064 9cbf");
        for n in 0..block.len() {
            let mut d = seed.clone();
            let mut out = Vec::new();
            let r = d.decode(&block[..n], &mut out);
            // A cut between fields is a shorter valid block; inside one it is an error.
            if r.is_ok() {
                assert!(out.len() < 5, "{n}");
            }
        }
        // Cuts inside the literal (after 0x40 0x88 ...) must fail.
        let mut d = seed.clone();
        assert_eq!(d.decode(&block[..6], &mut Vec::new()), Err(HpackError::Truncated));
    }

    #[test]
    fn bad_inputs() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        assert_eq!(d.decode(&[0x80], &mut out), Err(HpackError::BadIndex(0)));
        assert_eq!(d.decode(&[0xbe], &mut out), Err(HpackError::BadIndex(62)), "no dynamic entry yet");
        // A size update after a field.
        assert_eq!(d.decode(&[0x82, 0x20], &mut out), Err(HpackError::BadTableSize(0)));
        // Over the memory cap: 001 11111 then 2^20.
        assert!(matches!(d.decode(&[0x3f, 0xe1, 0xff, 0x3f], &mut out), Err(HpackError::BadTableSize(_))));
        // Huffman: EOS inside a string, and padding that is zeros.
        assert_eq!(huffman_decode(&[0xff, 0xff, 0xff, 0xff]), Err(HpackError::BadHuffman));
        assert_eq!(huffman_decode(&[0x00]), Err(HpackError::BadHuffman), "'0' then zero padding");
        assert_eq!(huffman_decode(&[0x07]), Ok(b"0".to_vec()), "'0' (00000) then 111 padding");
        // A size update to 0 empties the table.
        let mut d = Decoder::default();
        let _ = decode(&mut d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(decode(&mut d, "20"), vec![]);
        assert_eq!(d.table_size(), 0);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut d = Decoder { max: 40, ..Decoder::default() };
        let _ = decode(&mut d, "4001 6101 62"); // a: b, 34 bytes
        assert_eq!(d.table_size(), 34);
        let _ = decode(&mut d, "4001 6109 6262 6262 6262 6262 62"); // a: bbbbbbbbb, 42 bytes
        assert_eq!(d.table_size(), 0);
        let mut out = Vec::new();
        assert_eq!(d.decode(&[0xbe], &mut out), Err(HpackError::BadIndex(62)));
    }
}
