//! A JSON writer for serde that writes what serde_json writes, byte for byte, into a `Vec<u8>`:
//! pretty (two spaces, starting at any depth) or compact. serde_json's own serializer goes
//! through `io::Write` and its `Formatter` for every key, colon and comma, and escapes strings a
//! byte at a time; a connection's record is some 200 fields, so that was most of the cost of
//! `--json` after the analysis itself. Tests compare every capture's connections with
//! serde_json's rendering, and strings of every byte with its escaping.

use serde::ser::{self, Serialize};
use std::fmt;

/// Why serialization stopped (only a map with keys that are not strings or numbers).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::other(e)
    }
}

type Result<T = ()> = std::result::Result<T, Error>;

/// The `serialize_i8` … `serialize_u128` methods of a serializer, each handing its number to
/// `$write` (a method taking `self` and the number).
macro_rules! integers {
    ($write:ident) => {
        integers!($write, serialize_i8 i8, serialize_i16 i16, serialize_i32 i32, serialize_i64 i64,
            serialize_i128 i128, serialize_u8 u8, serialize_u16 u16, serialize_u32 u32,
            serialize_u64 u64, serialize_u128 u128);
    };
    ($write:ident, $($name:ident $t:ty),*) => {
        $(fn $name(self, v: $t) -> Result {
            self.$write(v);
            Ok(())
        })*
    };
}

/// Appends `value` as serde_json's pretty printer writes it when nested `depth` levels deep.
pub fn pretty(value: &impl Serialize, depth: usize, out: &mut Vec<u8>) -> Result {
    write(value, depth, true, out)
}

/// Appends `value` as `serde_json::to_writer` writes it.
pub fn compact(value: &impl Serialize, out: &mut Vec<u8>) -> Result {
    write(value, 0, false, out)
}

fn write(value: &impl Serialize, level: usize, pretty: bool, out: &mut Vec<u8>) -> Result {
    thread_local! {
        static KEYS: std::cell::RefCell<Keys> = std::cell::RefCell::new(Keys::default());
    }
    KEYS.with(|keys| {
        let mut mine = None;
        let mut borrowed = keys.try_borrow_mut();
        // A `Serialize` that writes JSON of its own while being written: a cache of its own.
        let keys = match borrowed.as_deref_mut() {
            Ok(k) => k,
            Err(_) => mine.insert(Keys::default()),
        };
        value.serialize(&mut Writer { out, level, pretty, keys })
    })
}

pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    level: usize,
    pretty: bool,
    keys: &'a mut Keys,
}

/// What goes before a struct field's value — the comma, the line and its indent, the quoted
/// name and the colon — kept per field name, level and place: a struct's field names are
/// `&'static str`, so where one is in memory says what it is. Most of a record is these.
struct Keys {
    slots: Vec<KeySlot>,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, Default)]
struct KeySlot {
    ptr: usize,
    len: usize,
    /// Level, first field or not, pretty or not; 0 for an empty slot.
    tag: usize,
    at: u32,
    n: u32,
}

impl Default for Keys {
    fn default() -> Self {
        Keys { slots: vec![KeySlot::default(); Keys::SLOTS], bytes: Vec::new() }
    }
}

impl Keys {
    const SLOTS: usize = 1024;
    /// Past this the prefixes start over, so that memory stays bounded.
    const MAX_BYTES: usize = 256 << 10;
}

impl Writer<'_> {
    /// Before an element or a key: the comma, and in pretty output the line and its indent.
    #[inline]
    fn element(&mut self, first: bool) {
        if !first {
            self.out.push(b',');
        }
        if self.pretty {
            self.newline();
        }
    }

    #[inline]
    fn newline(&mut self) {
        let n = self.out.len();
        self.out.resize(n + 1 + self.level * 2, b' ');
        self.out[n] = b'\n';
    }

    #[inline]
    fn open(&mut self, c: u8) {
        self.level += 1;
        self.out.push(c);
    }

    /// Closes a container; `empty` if nothing was written in it (`[]`, `{}` on one line).
    #[inline]
    fn close(&mut self, c: u8, empty: bool) {
        self.level = self.level.saturating_sub(1);
        if self.pretty && !empty {
            self.newline();
        }
        self.out.push(c);
    }

    #[inline]
    fn colon(&mut self) {
        self.out.extend_from_slice(if self.pretty { b": " } else { b":" });
    }

    fn key(&mut self, first: bool, key: &str) {
        self.element(first);
        write_str(self.out, key);
        self.colon();
    }

    /// [`Writer::key`] for a struct's field, from [`Keys`].
    fn field(&mut self, first: bool, key: &'static str) {
        let ptr = key.as_ptr() as usize;
        let tag = (self.level << 3) | (usize::from(first) << 2) | (usize::from(self.pretty) << 1) | 1;
        let h = (ptr >> 3) ^ (ptr >> 13) ^ key.len() ^ tag.wrapping_mul(0x9e37_79b9);
        let i = h % Keys::SLOTS;
        let slot = self.keys.slots[i];
        if slot.ptr == ptr
            && slot.len == key.len()
            && slot.tag == tag
            && let Some(b) = self.keys.bytes.get(slot.at as usize..(slot.at + slot.n) as usize)
        {
            self.out.extend_from_slice(b);
            return;
        }
        let start = self.out.len();
        self.key(first, key);
        if self.keys.bytes.len() > Keys::MAX_BYTES {
            self.keys.bytes.clear();
            self.keys.slots.fill(KeySlot::default());
        }
        let at = self.keys.bytes.len();
        self.keys.bytes.extend_from_slice(&self.out[start..]);
        self.keys.slots[i] = KeySlot { ptr, len: key.len(), tag, at: at as u32, n: (self.out.len() - start) as u32 };
    }

    fn int(&mut self, v: impl itoa::Integer) {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
}

/// A string as serde_json escapes it: `"` and `\`, the short escapes for `\b \t \n \f \r`,
/// `\u00xx` (lower-case hex) for the other control characters; everything else as it is.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let Some(first) = first_escaped(b) else {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    };
    // Room for the worst case (every byte from the first escape on as `\u00xx`), written by
    // index, cut to what was written.
    let at = out.len();
    out.resize(at + 2 + first + (b.len() - first) * 6, 0);
    let buf = &mut out[at..];
    buf[0] = b'"';
    buf[1..1 + first].copy_from_slice(&b[..first]);
    let mut k = 1 + first;
    for &c in &b[first..] {
        match ESCAPE[usize::from(c)] {
            0 => {
                buf[k] = c;
                k += 1;
            }
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf[k..k + 6].copy_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
                k += 6;
            }
            short => {
                buf[k] = b'\\';
                buf[k + 1] = short;
                k += 2;
            }
        }
    }
    buf[k] = b'"';
    out.truncate(at + k + 1);
}

/// What follows a backslash for each byte serde_json escapes (`u` for `\u00xx`); 0: as it is.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Where the first byte that needs escaping is: eight bytes at a time, then the tail.
#[inline]
fn first_escaped(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let m = escape_mask(u64::from_le_bytes(*chunk));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| ESCAPE[usize::from(c)] != 0).map(|p| i + p)
}

/// The high bit of each of eight bytes that is below 0x20, a quote or a backslash. Exact for
/// the lowest such byte (a borrow runs only upwards from a byte that matched), so its position
/// is the first byte to escape; bytes above it may be flagged wrongly.
#[inline]
fn escape_mask(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    below | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\')))
}

pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An array, object or map being written.
pub struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    /// A variant's `{"Name": …}` around the container, closed after it.
    wrapped: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    fn new(w: &'w mut Writer<'a>, c: u8, wrapped: bool) -> Self {
        w.open(c);
        Compound { w, first: true, wrapped }
    }

    fn element(&mut self, value: &(impl Serialize + ?Sized)) -> Result {
        self.w.element(self.first);
        self.first = false;
        value.serialize(&mut *self.w)
    }

    fn field(&mut self, key: &'static str, value: &(impl Serialize + ?Sized)) -> Result {
        self.w.field(self.first, key);
        self.first = false;
        value.serialize(&mut *self.w)
    }

    fn end(self, c: u8) -> Result {
        self.w.close(c, self.first);
        if self.wrapped {
            self.w.close(b'}', false);
        }
        Ok(())
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(int);
    fn serialize_f32(self, v: f32) -> Result {
        write_f32(self.out, v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result {
        write_f64(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open(b'{');
        self.key(true, variant);
        value.serialize(&mut *self)?;
        self.close(b'}', false);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Ok(Compound::new(self, b'[', false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        self.open(b'{');
        self.key(true, variant);
        Ok(Compound::new(self, b'[', true))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(Compound::new(self, b'{', false))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Ok(Compound::new(self, b'{', false))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        self.open(b'{');
        self.key(true, variant);
        Ok(Compound::new(self, b'{', true))
    }
}

/// The serde traits of a container: arrays take elements, structs take named fields.
macro_rules! containers {
    (array: $($trait:ident $method:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                Compound::end(self, b']')
            }
        })*
    };
    (struct: $($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
                self.field(key, value)
            }
            fn end(self) -> Result {
                Compound::end(self, b'}')
            }
        })*
    };
}

containers!(array: SerializeSeq serialize_element, SerializeTuple serialize_element,
    SerializeTupleStruct serialize_field, SerializeTupleVariant serialize_field);
containers!(struct: SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.w.element(self.first);
        self.first = false;
        key.serialize(KeyWriter(&mut *self.w.out))?;
        self.w.colon();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result {
        Compound::end(self, b'}')
    }
}

/// A map key: strings as they are, numbers, booleans and characters quoted, as serde_json
/// does; anything else is an error.
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl KeyWriter<'_> {
    fn quoted(self, s: &str) -> Result {
        write_str(self.0, s);
        Ok(())
    }

    fn quoted_int(self, v: impl itoa::Integer) {
        write_str(self.0, itoa::Buffer::new().format(v));
    }
}

fn no_key() -> Error {
    Error("a map key must be a string or a number".into())
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(if v { "true" } else { "false" })
    }
    integers!(quoted_int);
    fn serialize_f32(self, _v: f32) -> Result {
        Err(no_key())
    }
    fn serialize_f64(self, _v: f64) -> Result {
        Err(no_key())
    }
    fn serialize_char(self, v: char) -> Result {
        self.quoted(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        self.quoted(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(no_key())
    }
    fn serialize_none(self) -> Result {
        Err(no_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result {
        Err(no_key())
    }
    fn serialize_unit(self) -> Result {
        Err(no_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(no_key())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.quoted(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(no_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(no_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(no_key())
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Err(no_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(no_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(no_key())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(no_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(no_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    fn both(v: &impl Serialize) {
        let want = serde_json::to_vec(v).unwrap_or_default();
        let mut got = Vec::new();
        compact(v, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
        let want = serde_json::to_vec_pretty(v).unwrap_or_default();
        got.clear();
        pretty(v, 0, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    }

    /// Every byte value, at every position of an 8-byte chunk and in the tail.
    #[test]
    fn strings_escape_as_serde_json_does() {
        for c in 0..=0x7fu8 {
            for at in 0..20 {
                let mut s = "a".repeat(at);
                s.push(char::from(c));
                s.push_str("bcdefghij");
                both(&s);
                s.truncate(at + 1);
                both(&s);
            }
        }
        for s in ["", "é", "𝄞𝄞𝄞𝄞 \u{7f}\u{80}\u{9f}\"", "\\\\\\\\\\\\\\\\\"", "\u{1b}[31mred\u{1b}[0m\r\n"]
        {
            both(&s);
        }
        let mut rand = crate::xorshift(0x1234_5678_9abc_def0);
        for _ in 0..2000 {
            let len = rand(40) as usize;
            let s: String = (0..len)
                .map(|_| match rand(6) {
                    0 => char::from(rand(0x20) as u8),
                    1 => '"',
                    2 => '\\',
                    3 => 'é',
                    _ => char::from(b'a' + rand(26) as u8),
                })
                .collect();
            both(&s);
        }
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { a: Vec<u8>, b: Option<f64> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Odd<'a> {
        empty_vec: Vec<u32>,
        empty_map: BTreeMap<String, u8>,
        empty_struct: Empty,
        nested: Vec<Vec<Empty>>,
        numbers: (i8, i64, u128, f32, f64, f64, f64, f64),
        map: BTreeMap<u16, Vec<E>>,
        chars: [char; 3],
        bytes: &'a serde_bytes_like::Bytes,
        unit: (),
        unit_struct: Unit,
        none: Option<String>,
        yes: bool,
    }

    #[derive(Serialize)]
    struct Empty {}

    mod serde_bytes_like {
        pub struct Bytes(pub [u8; 3]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
    }

    /// Every shape serde can hand a serializer, empty and nested, as serde_json writes it.
    #[test]
    fn every_shape_is_serde_jsons() {
        let mut map = BTreeMap::new();
        map.insert(7, vec![E::Unit, E::New(3), E::Tuple(1, "t".into())]);
        map.insert(65535, vec![E::Struct { a: vec![], b: None }, E::Struct { a: vec![1, 2], b: Some(0.1 + 0.2) }]);
        map.insert(0, vec![]);
        let v = Odd {
            empty_vec: vec![],
            empty_map: BTreeMap::new(),
            empty_struct: Empty {},
            nested: vec![vec![], vec![Empty {}, Empty {}]],
            numbers: (-128, i64::MIN, u128::MAX, 1.5e-7, 1e21, -0.0, f64::NAN, f64::INFINITY),
            map,
            chars: ['"', '\u{1}', '𝄞'],
            bytes: &serde_bytes_like::Bytes([0, 127, 255]),
            unit: (),
            unit_struct: Unit,
            none: None,
            yes: true,
        };
        both(&v);
        both(&E::Unit);
        both(&vec![E::New(1)]);
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1u8);
        assert!(compact(&bad, &mut Vec::new()).is_err());
    }

    /// Nested at a depth: every line after the first indented by that many more levels.
    #[test]
    fn nested_depth_indents_every_line() {
        let v = vec![E::Struct { a: vec![1], b: Some(2.5) }];
        let flat = serde_json::to_string_pretty(&v).unwrap_or_default();
        for depth in [1, 3, 70] {
            let mut got = Vec::new();
            pretty(&v, depth, &mut got).unwrap_or_else(|e| panic!("{e}"));
            let want = flat.replace('\n', &format!("\n{}", "  ".repeat(depth)));
            assert_eq!(String::from_utf8_lossy(&got), want, "depth {depth}");
        }
    }
}
