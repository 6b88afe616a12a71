//! The flow table: canonical 4-tuple keys, one live connection per key, bounded in size.

use crate::units::Side;
use std::collections::HashMap;

/// A fast hasher with a per-process random seed (a crafted capture cannot aim collisions).
type Hasher = foldhash::fast::RandomState;
use std::net::SocketAddr;

/// A 4-tuple with its two endpoints in a canonical order, so both directions find one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: SocketAddr,
    hi: SocketAddr,
}

impl FlowKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> Self {
        if a <= b { FlowKey { lo: a, hi: b } } else { FlowKey { lo: b, hi: a } }
    }
}

/// Maps live flows to slots in a connection arena. Values are boxed: a slot costs a pointer
/// until its flow arrives, and growing the arena never moves (or doubles) the connections.
pub struct FlowTable<T> {
    map: HashMap<FlowKey, usize, Hasher>,
    slots: Vec<Option<(FlowKey, Box<T>)>>,
    free: Vec<usize>,
}

impl<T> Default for FlowTable<T> {
    fn default() -> Self {
        FlowTable { map: HashMap::default(), slots: Vec::new(), free: Vec::new() }
    }
}

impl<T> FlowTable<T> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &FlowKey) -> Option<usize> {
        self.map.get(key).copied()
    }

    pub fn slot_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot).and_then(|s| s.as_mut()).map(|(_, t)| &mut **t)
    }

    pub fn insert(&mut self, key: FlowKey, value: T) -> usize {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some((key, Box::new(value)));
                i
            }
            None => {
                self.slots.push(Some((key, Box::new(value))));
                self.slots.len() - 1
            }
        };
        self.map.insert(key, slot);
        slot
    }

    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let (key, value) = self.slots.get_mut(slot)?.take()?;
        self.map.remove(&key);
        self.free.push(slot);
        Some(*value)
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
pub fn side_of(a: SocketAddr, src: SocketAddr) -> Side {
    if src == a { Side::A } else { Side::B }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(side_of(a, b), Side::B);
    }
}
