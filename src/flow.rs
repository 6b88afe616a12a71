//! The flow table: canonical 4-tuple keys, one live connection per key, bounded in size.

use crate::units::Side;
use std::collections::HashMap;

/// A fast hasher with a per-process random seed (a crafted capture cannot aim collisions).
type Hasher = foldhash::fast::RandomState;
use crate::wire::Endpoint;

/// A 4-tuple with its two endpoints in a canonical order, so both directions find one entry.
/// 40 bytes, no 16-byte alignment: a flow table entry is 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
}

impl FlowKey {
    pub fn new(a: impl Into<Endpoint>, b: impl Into<Endpoint>) -> Self {
        Self::of(a.into(), b.into())
    }

    /// The key of a segment from `src` to `dst`.
    #[inline]
    pub fn of(src: Endpoint, dst: Endpoint) -> Self {
        if src <= dst { FlowKey { lo: src, hi: dst } } else { FlowKey { lo: dst, hi: src } }
    }
}

/// Maps live flows to slots in an arena of values. Values are kept inline: a large value should
/// box its large part (growing the arena moves the values).
pub struct FlowTable<T> {
    map: HashMap<FlowKey, usize, Hasher>,
    slots: Vec<Option<(FlowKey, T)>>,
    free: Vec<usize>,
    /// The flow found last: consecutive packets mostly belong to one flow (a burst of segments
    /// of one message), and comparing a key is cheaper than hashing it.
    last: Option<(FlowKey, usize)>,
}

impl<T> Default for FlowTable<T> {
    fn default() -> Self {
        FlowTable { map: HashMap::default(), slots: Vec::new(), free: Vec::new(), last: None }
    }
}

impl<T> FlowTable<T> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&mut self, key: &FlowKey) -> Option<usize> {
        if let Some((k, slot)) = self.last
            && k == *key
        {
            return Some(slot);
        }
        let slot = self.map.get(key).copied()?;
        self.last = Some((*key, slot));
        Some(slot)
    }

    pub fn slot_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot).and_then(|s| s.as_mut()).map(|(_, t)| t)
    }

    pub fn insert(&mut self, key: FlowKey, value: T) -> usize {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some((key, value));
                i
            }
            None => {
                self.slots.push(Some((key, value)));
                self.slots.len() - 1
            }
        };
        self.map.insert(key, slot);
        self.last = Some((key, slot));
        slot
    }

    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let (key, value) = self.slots.get_mut(slot)?.take()?;
        self.map.remove(&key);
        if self.last.is_some_and(|(_, s)| s == slot) {
            self.last = None;
        }
        self.free.push(slot);
        Some(value)
    }

    /// Slots for which `pred` holds.
    pub fn select(&self, mut pred: impl FnMut(&T) -> bool) -> Vec<usize> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.as_ref().filter(|(_, t)| pred(t)).map(|_| i)).collect()
    }

    /// All live slots.
    pub fn slots(&self) -> Vec<usize> {
        self.select(|_| true)
    }
}

/// Which side of a connection whose side A is `a` sent a segment from `src`.
pub fn side_of(a: Endpoint, src: Endpoint) -> Side {
    if src == a { Side::A } else { Side::B }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn both_directions_share_a_key_and_slots_are_reused() {
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
        let mut t = FlowTable::default();
        let s = t.insert(FlowKey::new(a, b), 1u32);
        assert_eq!(t.get(&FlowKey::new(b, a)), Some(s));
        assert_eq!(t.remove(s), Some(1));
        assert!(t.is_empty());
        assert_eq!(t.insert(FlowKey::new(a, b), 2), s);
        assert_eq!(side_of(a.into(), b.into()), Side::B);
    }

    #[test]
    fn the_last_flow_found_is_forgotten_when_removed() {
        let p = |s: &str| s.parse::<SocketAddr>().unwrap_or_else(|_| unreachable!());
        let ka = FlowKey::new(p("10.0.0.1:5000"), p("10.0.0.2:80"));
        let kb = FlowKey::new(p("10.0.0.1:5001"), p("10.0.0.2:80"));
        let mut t = FlowTable::default();
        let sa = t.insert(ka, 'a');
        assert_eq!(t.get(&ka), Some(sa));
        assert_eq!(t.remove(sa), Some('a'));
        assert_eq!(t.get(&ka), None);
        let sb = t.insert(kb, 'b');
        assert_eq!(sb, sa, "the slot is reused");
        assert_eq!(t.get(&ka), None, "a stale cache entry would find b's slot");
        assert_eq!(t.get(&kb), Some(sb));
        let sa2 = t.insert(ka, 'c');
        assert_eq!(t.get(&kb), Some(sb));
        assert_eq!(t.get(&ka), Some(sa2));
        assert_eq!(t.slot_mut(sa2).copied(), Some('c'));
    }

    /// Both directions make one key and different pairs different keys, also when ports and
    /// last address words tie (an IPv4 address and its IPv4-mapped IPv6 form, same port).
    #[test]
    fn keys_are_canonical_and_distinct() {
        let mut rand = crate::xorshift(9);
        let mut ends = Vec::new();
        for _ in 0..40 {
            let (port, last) = (rand(3) as u16, rand(3) as u32);
            ends.push(Endpoint { port, v6: rand(2) == 1, ip: [rand(2) as u32, 0, 0xffff, last] });
        }
        for a in &ends {
            for b in &ends {
                assert_eq!(FlowKey::of(*a, *b), FlowKey::of(*b, *a));
                for c in &ends {
                    for d in &ends {
                        let same = (a == c && b == d) || (a == d && b == c);
                        assert_eq!(FlowKey::of(*a, *b) == FlowKey::of(*c, *d), same, "{a:?} {b:?} {c:?} {d:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn keys_are_small() {
        assert!(std::mem::size_of::<FlowKey>() <= 40, "{}", std::mem::size_of::<FlowKey>());
    }

    #[test]
    fn ipv4_and_its_mapped_ipv6_form_are_different_flows() {
        let p = |s: &str| s.parse::<SocketAddr>().unwrap_or_else(|_| unreachable!());
        let v4 = FlowKey::new(p("10.0.0.1:5000"), p("10.0.0.2:80"));
        let mapped = FlowKey::new(p("[::ffff:10.0.0.1]:5000"), p("[::ffff:10.0.0.2]:80"));
        assert_ne!(v4, mapped);
        assert_eq!(mapped, FlowKey::new(p("[::ffff:10.0.0.2]:80"), p("[::ffff:10.0.0.1]:5000")));
        assert_ne!(
            FlowKey::new(p("10.0.0.1:5000"), p("10.0.0.2:80")),
            FlowKey::new(p("10.0.0.1:5001"), p("10.0.0.2:80"))
        );
    }
}
