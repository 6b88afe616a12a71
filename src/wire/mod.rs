//! Zero-copy decode of link, IP and TCP headers, lax on packets cut by a snaplen: the bytes that
//! were on the wire but not captured are counted (`missing`), never invented.

use crate::capture::Linktype;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP flag bits (RFC 9293 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// One end of a TCP connection as the decoder reads it: the address as four big-endian words
/// (IPv4 in its IPv4-mapped IPv6 form) and the port, with `v6` set for IPv6 so that an IPv4
/// address and its IPv4-mapped IPv6 form stay apart. Plain integers: building, comparing and
/// hashing one is a few instructions (a `SocketAddr` goes through its enum and, for IPv6, flow
/// info and scope id), and the flow table's keys are made of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// First: the ports of a connection's two ends almost always differ, so ordering two ends
    /// (for the flow key) mostly stops here.
    pub port: u16,
    pub v6: bool,
    pub ip: [u32; 4],
}

impl Endpoint {
    pub fn v4(ip: u32, port: u16) -> Endpoint {
        Endpoint { ip: [0, 0, 0xffff, ip], port, v6: false }
    }

    pub fn addr(&self) -> SocketAddr {
        let ip = if self.v6 {
            let [a, b, c, d] = self.ip;
            let w = (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d);
            IpAddr::V6(Ipv6Addr::from(w))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.ip[3]))
        };
        SocketAddr::new(ip, self.port)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Endpoint {
        match a {
            SocketAddr::V4(v4) => Endpoint::v4(u32::from(*v4.ip()), v4.port()),
            SocketAddr::V6(v6) => {
                let b = u128::from(*v6.ip());
                let ip = [(b >> 96) as u32, (b >> 64) as u32, (b >> 32) as u32, b as u32];
                Endpoint { ip, port: v6.port(), v6: true }
            }
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr().fmt(f)
    }
}

/// A decoded TCP segment borrowing the packet's bytes.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The IPv4 TTL or IPv6 hop limit it arrived with (who sent a RST: RFC 791, RFC 8200).
    pub ttl: u8,
    /// The captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire after `payload` but were not captured (snaplen).
    pub missing: u32,
}

impl TcpSegment<'_> {
    /// Sequence space the payload occupies on the wire (captured or not).
    pub fn wire_len(&self) -> u32 {
        self.payload.len() as u32 + self.missing
    }
}

/// The protocol layer a decode problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Link,
    Ipv4,
    Ipv6,
    Tcp,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Link => "link layer",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Tcp => "TCP",
        }
    }
}

/// What a packet turned out to be.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// Not TCP over IP (ARP, UDP, ICMP, LLDP…): ignored.
    NotTcp,
    /// ICMP "fragmentation needed" (RFC 792, RFC 1191) or ICMPv6 "packet too big" (RFC 4443)
    /// about a TCP segment: the segment's endpoints (as it was sent) and the MTU offered.
    TooBig {
        src: Endpoint,
        dst: Endpoint,
        mtu: u32,
    },
    /// An IP fragment: not reassembled, counted.
    Fragment,
    /// A link type wsdiag does not decode.
    UnsupportedLink(Linktype),
    /// Too short for its headers: `need` bytes were needed at `offset`, `got` were captured.
    Truncated {
        layer: Layer,
        offset: usize,
        need: usize,
        got: usize,
    },
    /// A header field that cannot be right.
    Malformed {
        layer: Layer,
        offset: usize,
        what: &'static str,
    },
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];

#[inline(always)]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}
#[inline(always)]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}
/// The same on a fixed-size header: the bounds are known, no checks.
#[inline(always)]
fn h16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([h[at], h[at + 1]])
}
#[inline(always)]
fn h32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

fn short(layer: Layer, offset: usize, need: usize, got: usize) -> Decoded<'static> {
    Decoded::Truncated { layer, offset, need, got }
}

/// Decodes one packet down to TCP. `orig_len` is the packet's length on the wire.
#[inline]
pub fn decode(linktype: Linktype, data: &[u8], orig_len: u32) -> Decoded<'_> {
    let (net_off, ethertype) = match linktype {
        Linktype::ETHERNET => {
            let mut at = 12;
            loop {
                if data.len() < at + 2 {
                    return short(Layer::Link, 0, at + 2, data.len());
                }
                let t = be16(data, at);
                if ETH_VLAN.contains(&t) {
                    at += 4;
                    continue;
                }
                break (at + 2, t);
            }
        }
        Linktype::LINUX_SLL => {
            if data.len() < 16 {
                return short(Layer::Link, 0, 16, data.len());
            }
            (16, be16(data, 14))
        }
        Linktype::LINUX_SLL2 => {
            if data.len() < 20 {
                return short(Layer::Link, 0, 20, data.len());
            }
            (20, be16(data, 0))
        }
        Linktype::NULL | Linktype::LOOP => {
            if data.len() < 4 {
                return short(Layer::Link, 0, 4, data.len());
            }
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let be = be32(data, 0);
            let af = if le < 256 { le } else { be };
            match af {
                2 => (4, ETH_IPV4),
                10 | 24 | 28 | 30 => (4, ETH_IPV6),
                _ => return Decoded::NotTcp,
            }
        }
        Linktype::RAW | Linktype::RAW_ALT12 | Linktype::RAW_ALT14 => match data.first() {
            Some(v) if v >> 4 == 4 => (0, ETH_IPV4),
            Some(v) if v >> 4 == 6 => (0, ETH_IPV6),
            Some(_) => {
                return Decoded::Malformed {
                    layer: Layer::Link,
                    offset: 0,
                    what: "raw IP packet with an IP version other than 4 or 6",
                };
            }
            None => return short(Layer::Link, 0, 1, 0),
        },
        Linktype::IPV4 => (0, ETH_IPV4),
        Linktype::IPV6 => (0, ETH_IPV6),
        other => return Decoded::UnsupportedLink(other),
    };
    // Bytes on the wire from the network header on.
    let wire_net = (orig_len as usize).max(data.len()).saturating_sub(net_off);
    match ethertype {
        ETH_IPV4 => decode_ipv4(data, net_off, wire_net),
        ETH_IPV6 => decode_ipv6(data, net_off, wire_net),
        _ => Decoded::NotTcp,
    }
}

/// Why a checked view could not be made.
enum Check {
    /// `need` bytes were needed, `got` were captured.
    Short {
        need: usize,
        got: usize,
    },
    Malformed(&'static str),
}

impl Check {
    fn at(self, layer: Layer, offset: usize) -> Decoded<'static> {
        match self {
            Check::Short { need, got } => short(layer, offset, need, got),
            Check::Malformed(what) => Decoded::Malformed { layer, offset, what },
        }
    }
}

/// A checked view of an IPv4 header (RFC 791 §3.1): `new_checked` makes sure the fixed part
/// and the options the IHL announces are captured, so no accessor can read out of bounds.
struct Ipv4Header<'a> {
    fixed: &'a [u8; 20],
    header_len: usize,
}

impl<'a> Ipv4Header<'a> {
    fn new_checked(buf: &'a [u8]) -> Result<Self, Check> {
        let Some(fixed) = buf.first_chunk::<20>() else { return Err(Check::Short { need: 20, got: buf.len() }) };
        if fixed[0] >> 4 != 4 {
            return Err(Check::Malformed("version is not 4"));
        }
        let header_len = usize::from(fixed[0] & 0x0f) * 4;
        if header_len < 20 {
            return Err(Check::Malformed("header length below 20"));
        }
        if buf.len() < header_len {
            return Err(Check::Short { need: header_len, got: buf.len() });
        }
        Ok(Ipv4Header { fixed, header_len })
    }

    /// The total length field; 0 (TSO on the capturing host) means "unknown".
    fn total_len(&self) -> usize {
        usize::from(h16(self.fixed, 2))
    }

    /// More fragments, or a fragment offset: a piece of a fragmented datagram.
    fn is_fragment(&self) -> bool {
        h16(self.fixed, 6) & 0x3fff != 0
    }

    fn protocol(&self) -> u8 {
        self.fixed[9]
    }

    fn ttl(&self) -> u8 {
        self.fixed[8]
    }

    fn src(&self) -> u32 {
        h32(self.fixed, 12)
    }

    fn dst(&self) -> u32 {
        h32(self.fixed, 16)
    }
}

#[inline(always)]
fn decode_ipv4(d: &[u8], off: usize, wire_net: usize) -> Decoded<'_> {
    let h = match Ipv4Header::new_checked(d.get(off..).unwrap_or_default()) {
        Ok(h) => h,
        Err(e) => return e.at(Layer::Ipv4, off),
    };
    // TSO on the capturing host can leave total length 0: then the wire length counts.
    let total = match h.total_len() {
        0 => wire_net,
        n => n,
    };
    if total < h.header_len {
        return Decoded::Malformed { layer: Layer::Ipv4, offset: off, what: "total length below header length" };
    }
    if h.is_fragment() {
        return Decoded::Fragment;
    }
    if h.protocol() == 1 {
        return icmp_too_big(d.get(off + h.header_len..).unwrap_or_default(), false);
    }
    if h.protocol() != 6 {
        return Decoded::NotTcp;
    }
    let (src, dst) = ([0, 0, 0xffff, h.src()], [0, 0, 0xffff, h.dst()]);
    decode_tcp(d, off + h.header_len, total - h.header_len, (src, dst, false), h.ttl())
}

fn decode_ipv6(d: &[u8], off: usize, wire_net: usize) -> Decoded<'_> {
    let Some(h) = d.get(off..).and_then(|h| h.first_chunk::<40>()) else {
        return short(Layer::Ipv6, off, 40, d.len().saturating_sub(off));
    };
    if h[0] >> 4 != 6 {
        return Decoded::Malformed { layer: Layer::Ipv6, offset: off, what: "version is not 6" };
    }
    let plen = usize::from(h16(h, 4));
    let plen = if plen == 0 { wire_net.saturating_sub(40) } else { plen };
    let src = [h32(h, 8), h32(h, 12), h32(h, 16), h32(h, 20)];
    let dst = [h32(h, 24), h32(h, 28), h32(h, 32), h32(h, 36)];
    let mut next = h[6];
    let mut at = off + 40;
    let mut left = plen;
    // RFC 8200 §4: walk the extension headers up to TCP.
    for _ in 0..16 {
        match next {
            6 => return decode_tcp(d, at, left, (src, dst, true), h[7]),
            58 => return icmp_too_big(d.get(at..).unwrap_or_default(), true),
            0 | 43 | 60 | 51 | 44 => {
                if d.len() < at + 8 {
                    return short(Layer::Ipv6, at, 8, d.len().saturating_sub(at));
                }
                let len = match next {
                    44 => {
                        let fo = be16(d, at + 2);
                        if fo & 0xfff9 != 0 {
                            return Decoded::Fragment;
                        }
                        8
                    }
                    51 => (usize::from(d[at + 1]) + 2) * 4,
                    _ => (usize::from(d[at + 1]) + 1) * 8,
                };
                if len > left {
                    return Decoded::Malformed {
                        layer: Layer::Ipv6,
                        offset: at,
                        what: "extension header longer than the payload",
                    };
                }
                next = d[at];
                at += len;
                left -= len;
            }
            _ => return Decoded::NotTcp,
        }
    }
    Decoded::Malformed { layer: Layer::Ipv6, offset: at, what: "more than 16 extension headers" }
}

/// An ICMP message (`v6`: ICMPv6) that says a TCP segment was too big for a link: type 3
/// code 4 with the next-hop MTU (RFC 1191 §4), or ICMPv6 type 2 with the MTU (RFC 4443 §3.2).
/// The offending packet's IP header and the first 8 bytes of its TCP header follow.
fn icmp_too_big(m: &[u8], v6: bool) -> Decoded<'_> {
    let Some(head) = m.first_chunk::<8>() else { return Decoded::NotTcp };
    let (too_big, mtu) = if v6 {
        (head[0] == 2 && head[1] == 0, h32(head, 4))
    } else {
        (head[0] == 3 && head[1] == 4, u32::from(h16(head, 6)))
    };
    if !too_big {
        return Decoded::NotTcp;
    }
    let inner = &m[8..];
    let (src, dst, tcp) = if v6 {
        let Some(h) = inner.first_chunk::<40>() else { return Decoded::NotTcp };
        if h[0] >> 4 != 6 || h[6] != 6 {
            return Decoded::NotTcp;
        }
        (
            [h32(h, 8), h32(h, 12), h32(h, 16), h32(h, 20)],
            [h32(h, 24), h32(h, 28), h32(h, 32), h32(h, 36)],
            &inner[40..],
        )
    } else {
        let Ok(h) = Ipv4Header::new_checked(inner) else { return Decoded::NotTcp };
        if h.protocol() != 6 {
            return Decoded::NotTcp;
        }
        ([0, 0, 0xffff, h.src()], [0, 0, 0xffff, h.dst()], &inner[h.header_len..])
    };
    let Some(ports) = tcp.first_chunk::<4>() else { return Decoded::NotTcp };
    Decoded::TooBig {
        src: Endpoint { ip: src, port: h16(ports, 0), v6 },
        dst: Endpoint { ip: dst, port: h16(ports, 2), v6 },
        mtu,
    }
}

/// A checked view of a TCP header's fixed part (RFC 9293 §3.1): its 20 bytes are captured and
/// its data offset fits the segment. Options a small snaplen cut are not needed.
struct TcpHeader<'a> {
    fixed: &'a [u8; 20],
    header_len: usize,
}

impl<'a> TcpHeader<'a> {
    fn new_checked(buf: &'a [u8], seg_len: usize) -> Result<Self, Check> {
        let Some(fixed) = buf.first_chunk::<20>() else { return Err(Check::Short { need: 20, got: buf.len() }) };
        let header_len = usize::from(fixed[12] >> 4) * 4;
        if header_len < 20 || header_len > seg_len {
            return Err(Check::Malformed("data offset outside the segment"));
        }
        Ok(TcpHeader { fixed, header_len })
    }
    fn src_port(&self) -> u16 {
        h16(self.fixed, 0)
    }
    fn dst_port(&self) -> u16 {
        h16(self.fixed, 2)
    }
    fn seq(&self) -> u32 {
        h32(self.fixed, 4)
    }
    fn ack(&self) -> u32 {
        h32(self.fixed, 8)
    }
    fn flags(&self) -> TcpFlags {
        TcpFlags(self.fixed[13])
    }
    fn window(&self) -> u16 {
        h16(self.fixed, 14)
    }
}

#[inline(always)]
fn decode_tcp(d: &[u8], off: usize, seg_len: usize, ends: ([u32; 4], [u32; 4], bool), ttl: u8) -> Decoded<'_> {
    let (src, dst, v6) = ends;
    let buf = d.get(off..).unwrap_or_default();
    let h = match TcpHeader::new_checked(buf, seg_len) {
        Ok(h) => h,
        Err(e) => return e.at(Layer::Tcp, off),
    };
    // Captured payload: after the header, before the end of the IP payload (Ethernet padding
    // after it is not TCP payload).
    let payload = buf.get(h.header_len..seg_len.min(buf.len())).unwrap_or_default();
    Decoded::Tcp(TcpSegment {
        src: Endpoint { ip: src, port: h.src_port(), v6 },
        dst: Endpoint { ip: dst, port: h.dst_port(), v6 },
        seq: h.seq(),
        ack: h.ack(),
        flags: h.flags(),
        window: h.window(),
        ttl,
        missing: (seg_len - h.header_len - payload.len()) as u32,
        payload,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IPv4/TCP packet (no link header) with the given fields.
    #[allow(clippy::too_many_arguments)]
    pub fn ipv4_tcp(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let total = 40 + payload.len();
        let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0];
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ack.to_be_bytes());
        v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    fn eth(ethertype: u16, vlan: bool, ip: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        if vlan {
            v.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(ip);
        v
    }

    fn tcp(d: Decoded<'_>) -> TcpSegment<'_> {
        match d {
            Decoded::Tcp(t) => t,
            other => panic!("not TCP: {other:?}"),
        }
    }

    /// ICMP "fragmentation needed" (MTU 1400) from a router about the segment `inner`.
    fn icmp_frag_needed(inner: &[u8]) -> Vec<u8> {
        let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0x78];
        msg.extend_from_slice(&inner[..inner.len().min(28)]);
        let total = 20 + msg.len();
        let mut v =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 255, 1, 0, 0, 198, 18, 2, 1, 198, 18, 2, 2];
        v.extend_from_slice(&msg);
        v
    }

    #[test]
    fn icmp_fragmentation_needed_names_the_segment_at_every_length() {
        let seg = ipv4_tcp([198, 18, 2, 2], 8765, [198, 18, 1, 2], 58364, 1, 2, 0x10, &[0; 1448]);
        let pkt = icmp_frag_needed(&seg);
        match decode(Linktype::RAW, &pkt, pkt.len() as u32) {
            Decoded::TooBig { src, dst, mtu } => {
                assert_eq!((src.port, dst.port, mtu), (8765, 58364, 1400));
                assert_eq!(src.ip[3], u32::from_be_bytes([198, 18, 2, 2]));
            }
            other => panic!("{other:?}"),
        }
        // Cut anywhere before the inner ports: not a TooBig, never a panic.
        for cut in 0..pkt.len() {
            let d = decode(Linktype::RAW, &pkt[..cut], pkt.len() as u32);
            assert!(!matches!(d, Decoded::TooBig { .. }) || cut >= 20 + 8 + 20 + 4, "cut {cut}: {d:?}");
        }
        // Another ICMP (echo request): not a TooBig.
        let mut echo = pkt.clone();
        echo[20] = 8;
        echo[21] = 0;
        assert!(matches!(decode(Linktype::RAW, &echo, echo.len() as u32), Decoded::NotTcp));
    }

    #[test]
    fn ethernet_vlan_ipv4_tcp() {
        let ip = ipv4_tcp([10, 0, 0, 1], 5000, [10, 0, 0, 2], 80, 7, 9, 0x18, b"hello");
        for vlan in [false, true] {
            let p = eth(ETH_IPV4, vlan, &ip);
            let t = tcp(decode(Linktype::ETHERNET, &p, p.len() as u32));
            assert_eq!(t.src.to_string(), "10.0.0.1:5000");
            assert_eq!(t.dst.to_string(), "10.0.0.2:80");
            assert_eq!((t.seq, t.ack, t.flags.0, t.payload, t.missing), (7, 9, 0x18, &b"hello"[..], 0));
        }
    }

    /// An IPv4 header with options (IHL 6: a Router Alert, RFC 2113) decodes like one without,
    /// and cut at every length it is "too short" until its options and the TCP header's fixed
    /// part are in, then TCP with the rest counted missing.
    #[test]
    fn ipv4_options_cut_at_every_length() {
        let plain = ipv4_tcp([10, 0, 0, 1], 5000, [10, 0, 0, 2], 80, 7, 9, 0x18, b"hello");
        let mut ip = vec![0x46];
        ip.extend_from_slice(&plain[1..20]);
        ip.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        ip.extend_from_slice(&plain[20..]);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let full = eth(ETH_IPV4, false, &ip);
        let t = tcp(decode(Linktype::ETHERNET, &full, full.len() as u32));
        assert_eq!(t.src.to_string(), "10.0.0.1:5000");
        assert_eq!((t.seq, t.ack, t.flags.0, t.payload, t.missing), (7, 9, 0x18, &b"hello"[..], 0));
        for cut in 0..=full.len() {
            let d = decode(Linktype::ETHERNET, &full[..cut], full.len() as u32);
            match (cut, d) {
                (0..=13, Decoded::Truncated { layer: Layer::Link, .. }) => {}
                (14..=33, Decoded::Truncated { layer: Layer::Ipv4, offset: 14, need: 20, got }) => {
                    assert_eq!(got, cut - 14)
                }
                (34..=37, Decoded::Truncated { layer: Layer::Ipv4, offset: 14, need: 24, got }) => {
                    assert_eq!(got, cut - 14)
                }
                (38..=57, Decoded::Truncated { layer: Layer::Tcp, offset: 38, need: 20, got }) => {
                    assert_eq!(got, cut - 38)
                }
                (58.., Decoded::Tcp(t)) => {
                    assert_eq!(t.payload, &b"hello"[..cut - 58]);
                    assert_eq!(t.missing as usize, full.len() - cut);
                    assert_eq!((t.seq, t.flags.0), (7, 0x18));
                }
                (cut, d) => panic!("cut at {cut}: {d:?}"),
            }
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let ip = ipv4_tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0, 0, 0x10, b"");
        let mut p = eth(ETH_IPV4, false, &ip);
        p.extend_from_slice(&[0; 6]);
        let t = tcp(decode(Linktype::ETHERNET, &p, p.len() as u32));
        assert!(t.payload.is_empty());
        assert_eq!(t.missing, 0);
    }

    #[test]
    fn snaplen_cut_payload_is_counted_missing() {
        let ip = ipv4_tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0, 0, 0x18, &[7u8; 100]);
        let p = eth(ETH_IPV4, false, &ip);
        let full = p.len() as u32;
        for cut in 54..p.len() {
            let t = tcp(decode(Linktype::ETHERNET, &p[..cut], full));
            assert_eq!(t.payload.len(), cut - 54);
            assert_eq!(t.payload.len() as u32 + t.missing, 100);
        }
        for cut in 0..54 {
            assert!(matches!(decode(Linktype::ETHERNET, &p[..cut], full), Decoded::Truncated { .. }), "cut {cut}");
        }
    }

    #[test]
    fn sll2_and_sll_and_null() {
        let ip = ipv4_tcp([127, 0, 0, 1], 4444, [127, 0, 0, 1], 8765, 1, 2, 0x02, b"");
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend_from_slice(&ip);
        let t = tcp(decode(Linktype::LINUX_SLL2, &sll2, sll2.len() as u32));
        assert_eq!(t.dst.port, 8765);
        assert!(t.flags.syn());
        // SLL with ARPHRD 772 (loopback), which etherparse refuses.
        let mut sll = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        assert_eq!(tcp(decode(Linktype::LINUX_SLL, &sll, sll.len() as u32)).src.port, 4444);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(tcp(decode(Linktype::NULL, &null, null.len() as u32)).src.port, 4444);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ip);
        assert_eq!(tcp(decode(Linktype::LOOP, &lo, lo.len() as u32)).src.port, 4444);
    }

    #[test]
    fn ipv6_with_extension_headers() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        ip.extend_from_slice(&[0; 15]);
        ip.push(1);
        ip.extend_from_slice(&[0; 15]);
        ip.push(2);
        // hop-by-hop (8 bytes) -> dest opts (16 bytes) -> TCP
        let mut ext = vec![60, 0, 0, 0, 0, 0, 0, 0, 6, 1];
        ext.extend_from_slice(&[0; 14]);
        let t4 = ipv4_tcp([0; 4], 1234, [0; 4], 9033, 5, 6, 0x18, b"xyz");
        let tcp_part = &t4[20..];
        let plen = ext.len() + tcp_part.len();
        ip[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
        ip.extend_from_slice(&ext);
        ip.extend_from_slice(tcp_part);
        let t = tcp(decode(Linktype::RAW, &ip, ip.len() as u32));
        assert_eq!(t.src.to_string(), "[::1]:1234");
        assert_eq!(t.dst.to_string(), "[::2]:9033");
        assert_eq!(t.payload, b"xyz");
        for cut in 0..ip.len() - 3 {
            assert!(
                !matches!(decode(Linktype::RAW, &ip[..cut], ip.len() as u32), Decoded::Tcp(t) if t.wire_len() != 3)
            );
        }
    }

    #[test]
    fn fragments_and_others() {
        let mut ip = ipv4_tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 0, 0, 0x10, b"abc");
        ip[6] = 0x20; // MF
        assert!(matches!(decode(Linktype::RAW, &ip, ip.len() as u32), Decoded::Fragment));
        ip[6] = 0x40;
        ip[9] = 17;
        assert!(matches!(decode(Linktype::RAW, &ip, ip.len() as u32), Decoded::NotTcp));
        assert!(matches!(decode(Linktype(127), &ip, ip.len() as u32), Decoded::UnsupportedLink(Linktype(127))));
    }
}
