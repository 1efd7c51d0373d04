//! The per-core connection table: TCBs (or anything else) found by their four-tuple.
//!
//! One table per core, sized at start-up (design.md: "TCB table: open-addressing hash on the
//! 4-tuple, sized at start-up, per core"). Nothing allocates after [`Table::new`]; when the
//! table is full, [`Table::insert`] hands the value back and the TCP layer counts the drop
//! (or answers with a SYN cookie). The table counts nothing itself.
//!
//! Two arrays, both allocated in `new`:
//!
//! * a slab of entries with a LIFO free list. An entry never moves while it lives, so a
//!   [`Handle`] (slab index plus generation) names it without a lookup. Removing an entry
//!   bumps its slot's generation, so a stale handle (kept by a timer, say) finds nothing
//!   instead of the connection that later reuses the slot. The most recently freed slot
//!   is reused first: a table sized for 16,384 connections that holds a few hundred at a
//!   time keeps using the same few hundred slots (and the caller's side arrays indexed by
//!   [`Handle::index`]), all in the cache, instead of cycling through every slot. The
//!   price is that a busy slot's generation moves on quickly: at 4,000 reuses a second a
//!   24-bit generation comes round in about 70 minutes, so a handle kept that long after
//!   its connection ended could name a new one (the TCP core cancels a connection's timer
//!   when it frees it; an application is told when a connection closes).
//! * a hash index: a power-of-two array of at least twice the capacity (load factor at most
//!   1/2) holding a slab index and 32 bits of the entry's hash. Linear probing from
//!   `hash & mask`; a probe touches the slab only when the stored hash bits match, so a miss
//!   usually costs one or two cache lines of the index alone.
//!
//! Deletion shifts the following entries of the probe run back into the hole (Knuth, TAOCP
//! vol. 3, 6.4, Algorithm R) instead of leaving a tombstone. With tombstones, a table that
//! churns through short connections fills up with dead markers that every lookup must step
//! over until a rebuild; with backward shift the index after any sequence of inserts and
//! removals is laid out exactly as if the live entries had been inserted afresh, so probe
//! lengths stay those of a table at its current load, however long the server runs.
//!
//! The hash is SipHash-2-4 of the 12 tuple bytes under the table's secret [`Key`]. The
//! remote address and port are chosen by the peer; with an unkeyed hash an attacker could
//! pick tuples that all land in one probe run and turn every lookup into a scan of the
//! table. Without the key, where a tuple lands is unpredictable to them.

use crate::siphash::{siphash24, Key};
use core::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The largest capacity [`Table::new`] grants; larger requests are clamped to it. Slab
/// indices and the index positions must fit the 32 bits stored per bucket.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Marks an empty index bucket and the end of the free list.
const NIL: u32 = u32::MAX;

/// Generations wrap at 24 bits so that a handle fits a 56-bit token.
const GENERATION_MASK: u32 = (1 << 24) - 1;

/// The connection's addresses, as seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl FourTuple {
    /// The 12 bytes hashed: local address, local port, remote address, remote port, in
    /// network byte order.
    #[inline]
    pub fn bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.local.ip().octets());
        b[4..6].copy_from_slice(&self.local.port().to_be_bytes());
        b[6..10].copy_from_slice(&self.remote.ip().octets());
        b[10..].copy_from_slice(&self.remote.port().to_be_bytes());
        b
    }
}

/// A stable name for a table entry: its slab index and the slot's generation. A handle
/// outlives its entry harmlessly: once the entry is removed, every lookup by the handle
/// returns `None`, even after the slot holds another connection.
///
/// Generations are 24 bits, so a handle could alias again only after its slot has been
/// reused 2^24 times while the handle was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

impl Handle {
    /// The slab index, `0..capacity`: a dense key for per-connection side arrays.
    #[inline]
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// The handle as a 56-bit number (index in the low 32 bits, generation in the next
    /// 24), for timer tokens. The top 8 bits are zero and free for the caller.
    #[inline]
    pub fn to_token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The handle a token came from; `None` if any of the top 8 bits is set.
    #[inline]
    pub fn from_token(token: u64) -> Option<Handle> {
        if token >> 56 != 0 {
            return None;
        }
        Some(Handle {
            index: token as u32,
            generation: (token >> 32) as u32,
        })
    }
}

/// Why [`Table::insert`] refused; either way the value comes back.
///
/// `Debug` leaves the value out (a whole TCB is noise in a panic message), so `unwrap`
/// works for any `T`.
#[derive(PartialEq, Eq)]
pub enum InsertError<T> {
    /// Every slot is taken.
    Full(T),
    /// The tuple already has an entry, named by the handle.
    Exists(Handle, T),
}

impl<T> InsertError<T> {
    /// The value that was not inserted.
    pub fn into_value(self) -> T {
        match self {
            InsertError::Full(v) | InsertError::Exists(_, v) => v,
        }
    }
}

impl<T> fmt::Debug for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Full(_) => f.write_str("Full(..)"),
            InsertError::Exists(h, _) => write!(f, "Exists({h:?}, ..)"),
        }
    }
}

impl<T> fmt::Display for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Full(_) => f.write_str("connection table full"),
            InsertError::Exists(..) => f.write_str("four-tuple already in the connection table"),
        }
    }
}

impl<T> std::error::Error for InsertError<T> {}

/// One index bucket: a slab index (or [`NIL`]) and the low 32 bits of the entry's hash.
/// The position a bucket's entry wants is `hash & mask`, so the index alone is enough to
/// probe and to shift back on deletion.
#[derive(Clone, Copy)]
struct Bucket {
    slot: u32,
    hash: u32,
}

const EMPTY: Bucket = Bucket { slot: NIL, hash: 0 };

/// A slab slot. `repr(C)` keeps what a lookup reads (generation, tuple) together at the
/// front: left to itself the compiler may put the generation after a large `T`, and every
/// hit would then cost a second cache line. Aligned to a cache line, so that the header and
/// the start of the value share the slot's first line (an open connection's whole slot,
/// 64 bytes, is one line).
#[repr(C, align(64))]
struct Slot<T> {
    generation: u32,
    /// The tuple's hash while occupied, for deletion without rehashing.
    hash: u32,
    /// The next free slot (or [`NIL`]) while vacant.
    next_free: u32,
    /// The last tuple stored here; meaningful only while `value` is `Some`.
    tuple: FourTuple,
    value: Option<T>,
}

impl<T> Slot<T> {
    #[inline]
    fn live(&self, generation: u32) -> Option<&T> {
        if self.generation == generation {
            self.value.as_ref()
        } else {
            None
        }
    }
}

/// An open-addressing hash table from [`FourTuple`] to `T` with a fixed capacity.
pub struct Table<T> {
    slab: Vec<Slot<T>>,
    index: Vec<Bucket>,
    mask: usize,
    len: usize,
    free_head: u32,
    key: Key,
}

impl<T> fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("buckets", &self.index.len())
            .finish()
    }
}

impl<T> Table<T> {
    /// A table for up to `max_entries` entries (at most [`MAX_CAPACITY`]), hashing under
    /// `key`, which must be secret (see the module doc). All memory is allocated here.
    pub fn new(max_entries: usize, key: Key) -> Self {
        let cap = max_entries.min(MAX_CAPACITY);
        let buckets = (2 * cap).max(1).next_power_of_two();
        let unspecified = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let slab = (0..cap)
            .map(|i| Slot {
                generation: 0,
                hash: 0,
                next_free: if i + 1 < cap { (i + 1) as u32 } else { NIL },
                tuple: FourTuple {
                    local: unspecified,
                    remote: unspecified,
                },
                value: None,
            })
            .collect();
        Table {
            slab,
            index: vec![EMPTY; buckets],
            mask: buckets - 1,
            len: 0,
            free_head: if cap > 0 { 0 } else { NIL },
            key,
        }
    }

    /// How many entries the table holds at most.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// How many entries the table holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The table holds no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every slot is taken: the next [`insert`](Self::insert) of a new tuple fails.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.slab.len()
    }

    #[inline]
    fn hash(&self, t: &FourTuple) -> u32 {
        siphash24(&self.key, &t.bytes()) as u32
    }

    /// `t`'s hash under this table's key, for [`find_hashed`](Self::find_hashed) and
    /// [`insert_hashed`](Self::insert_hashed) here or in another table built with the same
    /// key (one hash for several lookups of one tuple).
    #[inline]
    pub fn hash_of(&self, t: &FourTuple) -> u32 {
        self.hash(t)
    }

    /// The hash stored with the entry `h` names (its tuple's [`hash_of`](Self::hash_of)).
    #[inline]
    pub fn hash_at(&self, h: Handle) -> Option<u32> {
        let slot = self.slab.get(h.index())?;
        slot.live(h.generation).map(|_| slot.hash)
    }

    /// The index position holding `t`'s bucket, or the empty position where its probe run
    /// ends. `None` only if the index had no empty bucket, which the load factor rules out.
    #[inline]
    fn probe(&self, t: &FourTuple, hash: u32) -> Option<(usize, Option<Handle>)> {
        let mut pos = hash as usize & self.mask;
        for _ in 0..self.index.len() {
            let b = self.index[pos];
            if b.slot == NIL {
                return Some((pos, None));
            }
            // Buckets point only at live slots, so the tuple alone decides.
            if b.hash == hash {
                if let Some(slot) = self.slab.get(b.slot as usize) {
                    if slot.tuple == *t {
                        let h = Handle {
                            index: b.slot,
                            generation: slot.generation,
                        };
                        return Some((pos, Some(h)));
                    }
                }
            }
            pos = (pos + 1) & self.mask;
        }
        debug_assert!(false, "index has no empty bucket");
        None
    }

    /// The entry for `t`, if there is one.
    #[inline]
    pub fn find(&self, t: &FourTuple) -> Option<Handle> {
        self.find_hashed(t, self.hash(t))
    }

    /// [`find`](Self::find) with `t`'s [`hash_of`](Self::hash_of) already computed (by this
    /// table or one with the same key; another hash finds nothing, or the wrong bucket
    /// run).
    #[inline]
    pub fn find_hashed(&self, t: &FourTuple, hash: u32) -> Option<Handle> {
        debug_assert_eq!(hash, self.hash(t), "hash under another key");
        self.probe(t, hash).and_then(|(_, h)| h)
    }

    /// Adds `v` under `t`. Fails, giving `v` back, if `t` already has an entry
    /// ([`InsertError::Exists`], checked first) or the table is full.
    pub fn insert(&mut self, t: FourTuple, v: T) -> Result<Handle, InsertError<T>> {
        self.insert_hashed(t, self.hash(&t), v)
    }

    /// [`insert`](Self::insert) with `t`'s [`hash_of`](Self::hash_of) already computed (as
    /// for [`find_hashed`](Self::find_hashed)).
    pub fn insert_hashed(
        &mut self,
        t: FourTuple,
        hash: u32,
        v: T,
    ) -> Result<Handle, InsertError<T>> {
        debug_assert_eq!(hash, self.hash(&t), "hash under another key");
        let pos = match self.probe(&t, hash) {
            Some((_, Some(h))) => return Err(InsertError::Exists(h, v)),
            Some((pos, None)) => pos,
            None => return Err(InsertError::Full(v)),
        };
        let index = self.free_head;
        let Some(slot) = self.slab.get_mut(index as usize) else {
            return Err(InsertError::Full(v));
        };
        if slot.value.is_some() {
            debug_assert!(false, "occupied slot on the free list");
            return Err(InsertError::Full(v));
        }
        self.free_head = slot.next_free;
        slot.next_free = NIL;
        slot.hash = hash;
        slot.tuple = t;
        slot.value = Some(v);
        let generation = slot.generation;
        self.index[pos] = Bucket { slot: index, hash };
        self.len += 1;
        Ok(Handle { index, generation })
    }

    /// Removes the entry `h` names, dropping its value where it lies instead of moving it
    /// out (for a large value in a cold entry, the lines after the first need not be
    /// read); false if `h` is stale.
    pub fn discard(&mut self, h: Handle) -> bool {
        let Some(slot) = self.slab.get_mut(h.index()) else {
            return false;
        };
        if slot.generation != h.generation || slot.value.is_none() {
            return false;
        }
        slot.value = None;
        self.release(h.index);
        true
    }

    /// Removes the entry `h` names and returns it; `None` if `h` is stale.
    pub fn remove(&mut self, h: Handle) -> Option<(FourTuple, T)> {
        let slot = self.slab.get_mut(h.index())?;
        if slot.generation != h.generation {
            return None;
        }
        let value = slot.value.take()?;
        let tuple = slot.tuple;
        self.release(h.index);
        Some((tuple, value))
    }

    /// Frees slot `index`, whose value is gone: its generation moves on (so handles to it
    /// find nothing), it goes on the free list and its bucket leaves the index.
    fn release(&mut self, index: u32) {
        let Some(slot) = self.slab.get_mut(index as usize) else {
            return;
        };
        let hash = slot.hash;
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        slot.next_free = self.free_head;
        self.free_head = index;
        self.len -= 1;
        self.unindex(index, hash);
    }

    /// Deletes the bucket of slab entry `slot` (hashed to `hash`) by backward shift: each
    /// later entry of the run whose wanted position is not between the hole and itself
    /// moves into the hole, leaving a hole where it was.
    fn unindex(&mut self, slot: u32, hash: u32) {
        let mask = self.mask;
        let mut hole = hash as usize & mask;
        let mut found = false;
        for _ in 0..self.index.len() {
            let b = self.index[hole];
            if b.slot == slot {
                found = true;
                break;
            }
            if b.slot == NIL {
                break;
            }
            hole = (hole + 1) & mask;
        }
        debug_assert!(found, "live entry missing from the index");
        if !found {
            return;
        }
        let mut pos = hole;
        for _ in 0..self.index.len() {
            pos = (pos + 1) & mask;
            let b = self.index[pos];
            if b.slot == NIL {
                break;
            }
            let want = b.hash as usize & mask;
            // Distance from the wanted position to `pos` against distance from the hole:
            // the entry may move back unless it wants a position after the hole.
            if (pos.wrapping_sub(want) & mask) >= (pos.wrapping_sub(hole) & mask) {
                self.index[hole] = b;
                hole = pos;
            }
        }
        self.index[hole] = EMPTY;
    }

    /// The value `h` names; `None` if `h` is stale.
    #[inline]
    pub fn get(&self, h: Handle) -> Option<&T> {
        self.slab.get(h.index())?.live(h.generation)
    }

    /// The value `h` names, mutably; `None` if `h` is stale.
    #[inline]
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        let slot = self.slab.get_mut(h.index())?;
        if slot.generation == h.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// The four-tuple of the entry `h` names; `None` if `h` is stale.
    #[inline]
    pub fn tuple(&self, h: Handle) -> Option<FourTuple> {
        let slot = self.slab.get(h.index())?;
        slot.live(h.generation).map(|_| slot.tuple)
    }

    /// The live entry in slab slot `index`, if any. Walking `0..capacity()` with this
    /// visits every entry without borrowing the table, so the walk may remove entries.
    #[inline]
    pub fn handle_at(&self, index: usize) -> Option<Handle> {
        let slot = self.slab.get(index)?;
        slot.value.as_ref().map(|_| Handle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Every entry, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &FourTuple, &T)> + '_ {
        self.slab.iter().enumerate().filter_map(|(i, s)| {
            let h = Handle {
                index: i as u32,
                generation: s.generation,
            };
            s.value.as_ref().map(|v| (h, &s.tuple, v))
        })
    }

    /// Every entry, in slab order, with the values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Handle, &FourTuple, &mut T)> + '_ {
        self.slab.iter_mut().enumerate().filter_map(|(i, s)| {
            let h = Handle {
                index: i as u32,
                generation: s.generation,
            };
            s.value.as_mut().map(|v| (h, &s.tuple, v))
        })
    }

    /// The handles of every entry, in slab order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.iter().map(|(h, _, _)| h)
    }

    /// The longest probe (buckets looked at) any live entry's lookup takes.
    #[cfg(test)]
    fn max_probe(&self) -> usize {
        self.index
            .iter()
            .enumerate()
            .filter(|(_, b)| b.slot != NIL)
            .map(|(pos, b)| (pos.wrapping_sub(b.hash as usize) & self.mask) + 1)
            .max()
            .unwrap_or(0)
    }

    /// The index position `t` wants.
    #[cfg(test)]
    fn home(&self, t: &FourTuple) -> usize {
        self.hash(t) as usize & self.mask
    }

    /// Checks every structural invariant; panics (this is for tests) on a violation.
    #[cfg(test)]
    fn check_invariants(&self) {
        let occupied: Vec<usize> = (0..self.capacity())
            .filter(|&i| self.handle_at(i).is_some())
            .collect();
        assert_eq!(occupied.len(), self.len, "len");
        assert!(self.index.len() >= 2 * self.capacity(), "load factor");
        assert!(self.index.len().is_power_of_two());
        // Every live entry has exactly one bucket, reachable from its wanted position
        // without crossing an empty bucket.
        let mut seen = vec![false; self.capacity()];
        for (pos, b) in self.index.iter().enumerate() {
            if b.slot == NIL {
                continue;
            }
            let i = b.slot as usize;
            assert!(!seen[i], "slot {i} indexed twice");
            seen[i] = true;
            let slot = &self.slab[i];
            assert!(slot.value.is_some(), "bucket {pos} points at free slot {i}");
            assert_eq!(slot.hash, b.hash);
            assert_eq!(self.hash(&slot.tuple), b.hash);
            let mut p = b.hash as usize & self.mask;
            while p != pos {
                assert!(self.index[p].slot != NIL, "gap before bucket {pos}");
                p = (p + 1) & self.mask;
            }
        }
        assert_eq!(seen.iter().filter(|&&s| s).count(), self.len);
        // The free list links every free slot once.
        let mut free = 0;
        let mut at = self.free_head;
        while at != NIL {
            let slot = &self.slab[at as usize];
            assert!(slot.value.is_none(), "occupied slot {at} on the free list");
            free += 1;
            assert!(free <= self.capacity(), "free list loops");
            at = slot.next_free;
        }
        assert_eq!(free + self.len, self.capacity());
    }
}

/// The size of a table entry holding a `T` (for layout tests).
#[cfg(test)]
pub(crate) fn entry_size<T>() -> usize {
    std::mem::size_of::<Slot<T>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    const KEY: Key = Key([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]);

    /// Server side of the `n`th client connection to 192.0.2.2:80.
    fn tuple(n: u32) -> FourTuple {
        let [a, b, c, d] = (0xc633_6400 + (n >> 16)).to_be_bytes(); // 198.51.100.0/22 and up
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), n as u16),
        }
    }

    #[test]
    fn inserted_tuples_are_found_and_removed_ones_are_not() {
        let mut t = Table::new(4, KEY);
        assert!(t.is_empty() && !t.is_full());
        assert_eq!(t.capacity(), 4);
        let h1 = t.insert(tuple(1), "one").unwrap();
        let h2 = t.insert(tuple(2), "two").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.find(&tuple(1)), Some(h1));
        assert_eq!(t.find(&tuple(2)), Some(h2));
        assert_eq!(t.find(&tuple(3)), None);
        assert_eq!(t.get(h1), Some(&"one"));
        assert_eq!(t.tuple(h2), Some(tuple(2)));
        *t.get_mut(h2).unwrap() = "deux";
        assert_eq!(t.remove(h2), Some((tuple(2), "deux")));
        assert_eq!(t.find(&tuple(2)), None);
        assert_eq!(t.find(&tuple(1)), Some(h1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(h2), None, "removing twice");
        t.check_invariants();
    }

    #[test]
    fn direction_matters() {
        let mut t = Table::new(4, KEY);
        let a = tuple(7);
        let b = FourTuple {
            local: a.remote,
            remote: a.local,
        };
        let ha = t.insert(a, 1).unwrap();
        let hb = t.insert(b, 2).unwrap();
        assert_ne!(ha, hb);
        assert_eq!(t.find(&b), Some(hb));
    }

    #[test]
    fn full_table_gives_the_value_back() {
        let mut t = Table::new(3, KEY);
        for n in 0..3 {
            t.insert(tuple(n), n).unwrap();
        }
        assert!(t.is_full());
        assert_eq!(t.insert(tuple(9), 9), Err(InsertError::Full(9)));
        assert_eq!(t.len(), 3);
        assert_eq!(t.find(&tuple(9)), None);
        // A freed slot is usable again.
        t.remove(t.find(&tuple(1)).unwrap()).unwrap();
        assert!(t.insert(tuple(9), 9).is_ok());
        t.check_invariants();
    }

    #[test]
    fn duplicate_tuple_reports_the_existing_handle() {
        let mut t = Table::new(2, KEY);
        let h = t.insert(tuple(5), 'a').unwrap();
        t.insert(tuple(6), 'b').unwrap();
        // Exists takes precedence over Full.
        let err = t.insert(tuple(5), 'c').unwrap_err();
        assert_eq!(err, InsertError::Exists(h, 'c'));
        assert_eq!(err.into_value(), 'c');
        assert_eq!(t.get(h), Some(&'a'));
        assert_eq!(
            InsertError::<()>::Full(()).to_string(),
            "connection table full"
        );
        assert_eq!(
            format!("{:?}", InsertError::Exists(h, 'c')),
            format!("Exists({h:?}, ..)")
        );
    }

    #[test]
    fn stale_handle_after_remove_and_reinsert_is_none() {
        let mut t = Table::new(1, KEY);
        let old = t.insert(tuple(1), 10).unwrap();
        t.remove(old).unwrap();
        let new = t.insert(tuple(1), 20).unwrap();
        assert_eq!(old.index(), new.index(), "the only slot is reused");
        assert_ne!(old, new);
        assert_eq!(t.get(old), None);
        assert_eq!(t.get_mut(old), None);
        assert_eq!(t.tuple(old), None);
        assert_eq!(t.remove(old), None);
        assert_eq!(t.get(new), Some(&20));
    }

    #[test]
    fn freed_slots_are_reused_newest_first() {
        let mut t = Table::new(4, KEY);
        let h: Vec<_> = (0..3).map(|n| t.insert(tuple(n), n).unwrap()).collect();
        t.remove(h[2]).unwrap();
        t.remove(h[0]).unwrap();
        assert_eq!(t.insert(tuple(10), 10).unwrap().index(), h[0].index());
        assert_eq!(t.insert(tuple(11), 11).unwrap().index(), h[2].index());
        // Then the slot never used.
        assert_eq!(t.insert(tuple(12), 12).unwrap().index(), 3);
        assert!(t.is_full());
    }

    /// A table far larger than its load keeps reusing the same slots.
    #[test]
    fn churn_at_low_load_stays_in_a_few_slots() {
        let mut t = Table::new(1024, KEY);
        let mut live = std::collections::VecDeque::new();
        let mut used = std::collections::HashSet::new();
        for n in 0..10_000u32 {
            let h = t.insert(tuple(n), n).unwrap();
            used.insert(h.index());
            live.push_back(h);
            if live.len() > 8 {
                t.remove(live.pop_front().unwrap()).unwrap();
            }
        }
        assert!(used.len() <= 9, "{} slots used", used.len());
    }

    #[test]
    fn discard_removes_like_remove() {
        let mut t = Table::new(4, KEY);
        let a = t.insert(tuple(1), 10).unwrap();
        let b = t.insert(tuple(2), 20).unwrap();
        assert!(t.discard(a));
        assert!(!t.discard(a), "stale");
        assert_eq!(t.find(&tuple(1)), None);
        assert_eq!(t.get(b), Some(&20));
        assert_eq!(t.len(), 1);
        let c = t.insert(tuple(1), 30).unwrap();
        assert_eq!(c.index(), a.index(), "the freed slot comes back first");
        assert_eq!(t.get(a), None);
        t.check_invariants();
    }

    /// Entries start on a cache line; a header and a 40-byte value with a spare bit
    /// pattern for "empty" (an open connection's entry in the TCP core) fill exactly one.
    #[test]
    fn entries_are_cache_line_aligned() {
        assert_eq!(std::mem::align_of::<Slot<u8>>(), 64);
        assert_eq!(entry_size::<(Box<u8>, [u64; 4])>(), 64);
        let t: Table<u8> = Table::new(3, KEY);
        assert_eq!(t.slab.as_ptr() as usize % 64, 0);
    }

    #[test]
    fn generations_wrap_at_24_bits_and_stay_tokenizable() {
        let mut t = Table::new(1, KEY);
        t.slab[0].generation = GENERATION_MASK;
        let h = t.insert(tuple(1), ()).unwrap();
        assert_eq!(Handle::from_token(h.to_token()), Some(h));
        t.remove(h).unwrap();
        let h2 = t.insert(tuple(1), ()).unwrap();
        assert_eq!(h2.generation, 0);
        assert_eq!(Handle::from_token(h2.to_token()), Some(h2));
    }

    #[test]
    fn handle_token_round_trips_in_56_bits() {
        let h = Handle {
            index: u32::MAX - 1,
            generation: GENERATION_MASK,
        };
        let tok = h.to_token();
        assert_eq!(tok >> 56, 0);
        assert_eq!(Handle::from_token(tok), Some(h));
        assert_eq!(Handle::from_token(tok | 1 << 60), None);
        assert_eq!(h.index(), (u32::MAX - 1) as usize);
        // A token naming a slot past the end is just stale.
        let t: Table<u8> = Table::new(2, KEY);
        assert_eq!(t.get(Handle::from_token(tok).unwrap()), None);
    }

    #[test]
    fn zero_capacity_table_is_always_full() {
        let mut t = Table::new(0, KEY);
        assert!(t.is_empty() && t.is_full());
        assert_eq!(t.find(&tuple(1)), None);
        assert_eq!(t.insert(tuple(1), 1), Err(InsertError::Full(1)));
        assert_eq!(t.handle_at(0), None);
        t.check_invariants();
    }

    #[test]
    fn iteration_visits_every_entry_once() {
        let mut t = Table::new(8, KEY);
        let hs: Vec<_> = (0..6).map(|n| t.insert(tuple(n), n).unwrap()).collect();
        t.remove(hs[3]).unwrap();
        let mut seen: Vec<_> = t.iter().map(|(h, tup, &v)| (h, *tup, v)).collect();
        seen.sort_by_key(|&(_, _, v)| v);
        let want: Vec<_> = [0, 1, 2, 4, 5]
            .map(|n| (hs[n as usize], tuple(n), n))
            .into();
        assert_eq!(seen, want);
        for (_, _, v) in t.iter_mut() {
            *v += 100;
        }
        assert_eq!(t.get(hs[5]), Some(&105));
        assert_eq!(t.handles().count(), 5);
        // Walking by slab index lets the walk remove what it visits.
        for i in 0..t.capacity() {
            if let Some(h) = t.handle_at(i) {
                t.remove(h).unwrap();
            }
        }
        assert!(t.is_empty());
        t.check_invariants();
    }

    /// Tuples wanting index position `want` in a table like `t`.
    fn tuples_at(t: &Table<u32>, want: usize, count: usize) -> Vec<FourTuple> {
        (0..)
            .map(tuple)
            .filter(|x| t.home(x) == want)
            .take(count)
            .collect()
    }

    #[test]
    fn colliding_run_wraps_and_survives_removal_from_its_middle() {
        let mut t: Table<u32> = Table::new(4, KEY);
        let last = t.index.len() - 1;
        // Three tuples wanting the last position: they wrap to positions 0 and 1.
        let c = tuples_at(&t, last, 3);
        // One wanting position 0 lands behind them, at 2.
        let z = tuples_at(&t, 0, 1)[0];
        let hc: Vec<_> = c.iter().map(|&x| t.insert(x, 0).unwrap()).collect();
        let hz = t.insert(z, 1).unwrap();
        assert_eq!(t.max_probe(), 3);
        t.check_invariants();
        // Removing the head of the run shifts all three back, across the wrap.
        t.remove(hc[0]).unwrap();
        t.check_invariants();
        assert_eq!(t.find(&c[1]), Some(hc[1]));
        assert_eq!(t.find(&c[2]), Some(hc[2]));
        assert_eq!(t.find(&z), Some(hz));
        assert_eq!(t.find(&c[0]), None);
        assert_eq!(t.index[last].slot, hc[1].index);
        assert_eq!(t.index[0].slot, hc[2].index);
        assert_eq!(t.index[1].slot, hz.index);
        assert_eq!(t.index[2].slot, NIL);
        // Removing the one at its own wanted position leaves the other in place.
        t.remove(hz).unwrap();
        t.remove(hc[1]).unwrap();
        t.check_invariants();
        assert_eq!(t.index[last].slot, hc[2].index);
        assert_eq!(t.find(&c[2]), Some(hc[2]));
    }

    #[test]
    fn probe_lengths_stay_short_under_churn() {
        const CAP: usize = 1000;
        let mut t = Table::new(CAP, KEY);
        let mut live: Vec<(u32, Handle)> = Vec::with_capacity(CAP);
        let mut next = 0u32;
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut worst = 0;
        for step in 0..100_000 {
            // xorshift64
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if live.len() == CAP || (!live.is_empty() && rng & 1 == 0 && live.len() > CAP / 2) {
                let (n, h) = live.swap_remove((rng >> 8) as usize % live.len());
                assert_eq!(t.remove(h), Some((tuple(n), n)));
            } else {
                let h = t.insert(tuple(next), next).unwrap();
                live.push((next, h));
                next += 1;
            }
            if step % 1000 == 0 {
                worst = worst.max(t.max_probe());
            }
        }
        t.check_invariants();
        for &(n, h) in &live {
            assert_eq!(t.find(&tuple(n)), Some(h));
        }
        // At load <= 1/2 the expected longest run among 1000 entries is around ten;
        // tombstones would have driven it towards the table size.
        assert!(worst <= 24, "max probe {worst}");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32),
        Remove(u32),
        Find(u32),
    }

    fn ops(pool: u32) -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (0..pool).prop_map(Op::Insert),
                2 => (0..pool).prop_map(Op::Remove),
                1 => (0..pool).prop_map(Op::Find),
            ],
            0..200,
        )
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(
            cap in prop_oneof![0usize..=8, Just(64usize)],
            pool in 1u32..100,
            ops in ops(100),
            key: [u64; 2],
        ) {
            let mut t = Table::new(cap, Key(key));
            let mut reference: HashMap<FourTuple, (Handle, u32)> = HashMap::new();
            let mut stale: Vec<Handle> = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                let value = i as u32;
                match op {
                    Op::Insert(n) => {
                        let x = tuple(n % pool);
                        let got = t.insert(x, value);
                        match reference.get(&x) {
                            Some(&(h, _)) => prop_assert_eq!(got, Err(InsertError::Exists(h, value))),
                            None if reference.len() == cap => {
                                prop_assert_eq!(got, Err(InsertError::Full(value)))
                            }
                            None => {
                                let h = got.unwrap();
                                prop_assert!(h.index() < cap);
                                reference.insert(x, (h, value));
                            }
                        }
                    }
                    Op::Remove(n) => {
                        let x = tuple(n % pool);
                        match reference.remove(&x) {
                            Some((h, v)) => {
                                prop_assert_eq!(t.remove(h), Some((x, v)));
                                prop_assert_eq!(t.remove(h), None);
                                stale.push(h);
                            }
                            None => prop_assert_eq!(t.find(&x), None),
                        }
                    }
                    Op::Find(n) => {
                        let x = tuple(n % pool);
                        prop_assert_eq!(t.find(&x), reference.get(&x).map(|&(h, _)| h));
                    }
                }
                prop_assert_eq!(t.len(), reference.len());
                prop_assert_eq!(t.is_full(), reference.len() == cap);
                for n in 0..pool {
                    let x = tuple(n);
                    prop_assert_eq!(t.find(&x), reference.get(&x).map(|&(h, _)| h));
                }
                for (x, &(h, v)) in &reference {
                    prop_assert_eq!(t.get(h), Some(&v));
                    prop_assert_eq!(t.tuple(h), Some(*x));
                }
                for &h in &stale {
                    prop_assert_eq!(t.get(h), None);
                }
                t.check_invariants();
            }
        }
    }
}
