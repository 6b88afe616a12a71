//! Newtypes for the quantities every stage passes around (STYLE habit 8).

use serde::Serialize;
use std::fmt;
use std::ops::{Index, IndexMut};

/// A packet number: 1-based, as Wireshark numbers frames in the file it is in. The pieces of a
/// rotation set (`tcpdump -C/-G/-W`, `editcap -c`), read as one capture, are numbered per file:
/// the low 40 bits are the number in the file, the bits above it the piece from the second on
/// (0 in the first piece, or a capture of one file), shown as `2:17` for packet 17 of the
/// second piece.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketNo(pub u64);

impl PacketNo {
    const NUMBER_BITS: u32 = 40;

    /// The first packet of piece `piece` (from 1) of a capture.
    pub fn first_of(piece: u32) -> PacketNo {
        let piece = if piece > 1 { u64::from(piece) } else { 0 };
        PacketNo((piece << Self::NUMBER_BITS) | 1)
    }

    /// Its number in its file, as Wireshark shows it when that file is opened.
    pub fn number(self) -> u64 {
        self.0 & ((1 << Self::NUMBER_BITS) - 1)
    }

    /// Its piece of a rotation set from the second on; 0 in the first piece.
    pub fn piece(self) -> u32 {
        (self.0 >> Self::NUMBER_BITS) as u32
    }
}

impl fmt::Display for PacketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through `Display` of the number or `pad`, so that widths and alignment hold.
        match self.piece() {
            0 => fmt::Display::fmt(&self.number(), f),
            piece => f.pad(&format!("{piece}:{}", self.number())),
        }
    }
}

/// In JSON a packet is its number in its file (the record's `input` names the file).
impl Serialize for PacketNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.number())
    }
}

/// In the schema a packet is an unsigned integer, as the `u64` it was before it knew pieces.
impl schemars::JsonSchema for PacketNo {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        u64::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        u64::json_schema(generator)
    }
}

/// When and where: a packet reference (its capture time and number). Every layer's events
/// carry one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    pub ts: Timestamp,
    pub packet: PacketNo,
}

/// A capture timestamp in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds from `earlier` to `self`, as the report writes them.
    pub fn ms_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e6
    }

    /// The time of day with milliseconds, UTC (`10:00:00.123`), as a capture viewer shows it.
    pub fn time_of_day(self) -> String {
        self.rfc3339().get(11..23).unwrap_or("").to_string()
    }

    /// RFC 3339 with microseconds, UTC: `2026-11-22T10:00:00.123456Z`.
    pub fn rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        // By hand: `format!` was a visible share of a connection's report. An i64 of
        // nanoseconds spans the years 1677 to 2262, so four digits always hold the year.
        let year = y.clamp(0, 9999) as u64;
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, u64::from(m));
        put(8, 2, u64::from(d));
        put(11, 2, (rem / 3600) as u64);
        put(14, 2, ((rem / 60) % 60) as u64);
        put(17, 2, (rem % 60) as u64);
        put(20, 6, micros as u64);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One of the two sides of a TCP connection, in the order the flow table first saw them.
/// Which side is the client is decided per connection (SYN, HTTP request, masking).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    #[default]
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
    pub const BOTH: [Side; 2] = [Side::A, Side::B];
}

/// The role of a side once the client is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value per side, indexed by [`Side`] instead of twin fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerSide<T>(pub [T; 2]);

impl<T> Index<Side> for PerSide<T> {
    type Output = T;
    fn index(&self, s: Side) -> &T {
        &self.0[s.idx()]
    }
}
impl<T> IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, s: Side) -> &mut T {
        &mut self.0[s.idx()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-11-22T10:00:00.123456Z
        let t = Timestamp(1_795_341_600_123_456_000);
        assert_eq!(t.rfc3339(), "2026-11-22T10:00:00.123456Z");
        assert_eq!(Timestamp(951_782_400_000_000_000).rfc3339(), "2000-02-29T00:00:00.000000Z");
        assert_eq!(Timestamp(-1).rfc3339(), "1969-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp(i64::MIN).rfc3339(), "1677-09-21T00:12:43.145224Z");
        assert_eq!(Timestamp(i64::MAX).rfc3339(), "2262-04-11T23:47:16.854775Z");
    }

    #[test]
    fn ms_since_is_signed_safe() {
        assert_eq!(Timestamp(2_500_000).ms_since(Timestamp(0)), 2.5);
        assert_eq!(Timestamp(0).ms_since(Timestamp(1_000_000)), -1.0);
    }
}
