//! The single-producer single-consumer rings AF_XDP shares with the kernel.
//!
//! A ring is a power-of-two array of entries plus three 32-bit words: `producer`,
//! `consumer` and `flags`. Indices are free-running `u32`s that wrap; entry `i` lives at
//! `i & (size - 1)`, and `producer - consumer` (wrapping) is how many entries are filled.
//! One side writes entries and then publishes them by storing `producer` (release); the
//! other reads `producer` (acquire), reads the entries and hands the space back by storing
//! `consumer` (release). Each side keeps a cached copy of the other side's index and only
//! reloads it when the cache says the ring looks full (producer) or empty (consumer), so
//! a burst costs one shared load and one shared store, not one per entry.
//!
//! We produce into the fill and TX rings ([`ProdRing`]) and consume from the RX and
//! completion rings ([`ConsRing`]).

use super::mem::Mapping;
use super::uapi::{XdpRingOffset, XDP_RING_NEED_WAKEUP};
use std::io;
use std::mem::{align_of, size_of};
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

/// Where one ring lives: its three index words and its entries.
#[derive(Debug)]
struct RingMem<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    /// The mapping the pointers point into (`None` in tests, where the caller owns it).
    _map: Option<Mapping>,
}

// SAFETY: the pointers lead into memory owned by `_map` (or, in tests, kept alive by the
// test); moving the ring moves its only user-space handle. The kernel side is synchronised
// through the atomic index words.
unsafe impl<T: Send> Send for RingMem<T> {}

impl<T: Copy> RingMem<T> {
    /// A ring of `size` entries laid out at `off` in `len` bytes from `base`.
    ///
    /// Offsets are checked against `len` and for alignment, and `size` must be a power of
    /// two.
    ///
    /// # Safety
    ///
    /// `base` must be valid for reads and writes of `len` bytes for as long as the ring
    /// lives (`map` owns it, or the caller keeps it alive), and shared only with the other
    /// side of the ring protocol.
    unsafe fn from_raw(
        base: *mut u8,
        len: usize,
        off: &XdpRingOffset,
        size: u32,
        map: Option<Mapping>,
    ) -> io::Result<RingMem<T>> {
        let bad = |what: &str| Err(io::Error::other(format!("ring layout: {what}")));
        if size == 0 || !size.is_power_of_two() {
            return bad("size is not a power of two");
        }
        let word_ok =
            |o: u64| o.is_multiple_of(4) && o.checked_add(4).is_some_and(|e| e <= len as u64);
        if !word_ok(off.producer) || !word_ok(off.consumer) || !word_ok(off.flags) {
            return bad("index word outside the mapping or misaligned");
        }
        let end = (size as u64)
            .checked_mul(size_of::<T>() as u64)
            .and_then(|b| b.checked_add(off.desc));
        if !off.desc.is_multiple_of(align_of::<T>() as u64) || end.is_none_or(|e| e > len as u64) {
            return bad("entries outside the mapping or misaligned");
        }
        if base.is_null() || !(base as usize).is_multiple_of(align_of::<T>().max(4)) {
            return bad("base misaligned");
        }
        let at = |o: u64| {
            // SAFETY: `o` was checked to lie inside the `len` bytes at `base`.
            unsafe { NonNull::new_unchecked(base.add(o as usize)) }
        };
        Ok(RingMem {
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            entries: at(off.desc).cast(),
            mask: size - 1,
            _map: map,
        })
    }

    /// Map the socket's ring at `pgoff` with `size` entries, laid out as `off` says.
    fn map(fd: &OwnedFd, off: &XdpRingOffset, size: u32, pgoff: i64) -> io::Result<RingMem<T>> {
        let len = off.desc as usize + size as usize * size_of::<T>();
        let map = Mapping::ring(fd, len, pgoff)?;
        let base = map.base();
        // SAFETY: `map` is a fresh mapping of `len` bytes, owned by the ring from now on.
        unsafe { Self::from_raw(base, len, off, size, Some(map)) }
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: checked in bounds and aligned at construction; lives as long as `self`.
        unsafe { self.producer.as_ref() }
    }

    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    #[inline]
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    #[inline]
    fn size(&self) -> u32 {
        self.mask + 1
    }

    /// Entry slot of free-running index `i`.
    #[inline]
    fn slot(&self, i: u32) -> *mut T {
        // SAFETY: `i & mask` < size, and the entries were checked to fit the mapping.
        unsafe { self.entries.as_ptr().add((i & self.mask) as usize) }
    }
}

/// A ring we fill (fill ring, TX ring).
#[derive(Debug)]
pub(super) struct ProdRing<T> {
    mem: RingMem<T>,
    /// Our next producer index; entries before it are written.
    head: u32,
    /// The producer index last stored for the kernel to see.
    published: u32,
    /// The consumer index last read.
    cons: u32,
}

impl<T: Copy> ProdRing<T> {
    /// Map the socket's ring (see [`RingMem::map`]).
    pub(super) fn map(
        fd: &OwnedFd,
        off: &XdpRingOffset,
        size: u32,
        pgoff: i64,
    ) -> io::Result<Self> {
        Ok(Self::new(RingMem::map(fd, off, size, pgoff)?))
    }

    fn new(mem: RingMem<T>) -> Self {
        let head = mem.producer().load(Ordering::Relaxed);
        let cons = mem.consumer().load(Ordering::Acquire);
        ProdRing {
            mem,
            head,
            published: head,
            cons,
        }
    }

    /// Entries in the ring.
    pub(super) fn size(&self) -> u32 {
        self.mem.size()
    }

    /// Free entries, reading the kernel's consumer index again only if the cached one
    /// shows fewer than `want`.
    #[inline]
    pub(super) fn free(&mut self, want: u32) -> u32 {
        let size = self.mem.size();
        let free = size.saturating_sub(self.head.wrapping_sub(self.cons));
        if free >= want {
            return free;
        }
        self.cons = self.mem.consumer().load(Ordering::Acquire);
        size.saturating_sub(self.head.wrapping_sub(self.cons))
    }

    /// Write `v` into the next entry (not yet visible to the kernel). `false` if full.
    #[inline]
    pub(super) fn push(&mut self, v: T) -> bool {
        if self.free(1) == 0 {
            return false;
        }
        // SAFETY: the entry at `head` is free (the kernel consumed it or never had it), so
        // the kernel does not read it until we publish `head + 1`.
        unsafe { self.mem.slot(self.head).write(v) };
        self.head = self.head.wrapping_add(1);
        true
    }

    /// Publish every pushed entry to the kernel.
    #[inline]
    pub(super) fn submit(&mut self) {
        if self.published != self.head {
            // Release: the entries are written before the kernel can see the new index.
            self.mem.producer().store(self.head, Ordering::Release);
            self.published = self.head;
        }
    }

    /// Published entries the kernel has not consumed yet.
    #[inline]
    pub(super) fn outstanding(&mut self) -> u32 {
        self.cons = self.mem.consumer().load(Ordering::Acquire);
        self.published.wrapping_sub(self.cons).min(self.mem.size())
    }

    /// The kernel asks to be woken (`XDP_RING_NEED_WAKEUP`).
    #[inline]
    pub(super) fn needs_wakeup(&self) -> bool {
        // The kernel sets the flag and then looks at the ring once more; we published and
        // now look at the flag. Without a full fence both could miss the other's store.
        fence(Ordering::SeqCst);
        self.mem.flags().load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring the kernel fills and we drain (RX ring, completion ring).
#[derive(Debug)]
pub(super) struct ConsRing<T> {
    mem: RingMem<T>,
    /// Our consumer index; entries before it are handed back.
    tail: u32,
    /// The producer index last read.
    prod: u32,
}

impl<T: Copy> ConsRing<T> {
    /// Map the socket's ring (see [`RingMem::map`]).
    pub(super) fn map(
        fd: &OwnedFd,
        off: &XdpRingOffset,
        size: u32,
        pgoff: i64,
    ) -> io::Result<Self> {
        Ok(Self::new(RingMem::map(fd, off, size, pgoff)?))
    }

    fn new(mem: RingMem<T>) -> Self {
        let tail = mem.consumer().load(Ordering::Relaxed);
        let prod = mem.producer().load(Ordering::Acquire);
        ConsRing { mem, tail, prod }
    }

    /// Entries in the ring.
    pub(super) fn size(&self) -> u32 {
        self.mem.size()
    }

    /// Filled entries, up to `max`, reading the kernel's producer index again only if the
    /// cached one shows fewer than `max`.
    #[inline]
    pub(super) fn available(&mut self, max: u32) -> u32 {
        let size = self.mem.size();
        let n = self.prod.wrapping_sub(self.tail).min(size);
        if n >= max {
            return max;
        }
        self.prod = self.mem.producer().load(Ordering::Acquire);
        // A producer index more than a ring ahead would be a kernel bug: never read more
        // than one ring's worth.
        self.prod.wrapping_sub(self.tail).min(size).min(max)
    }

    /// Entry `i` of those [`available`](Self::available) reported (`i` below that count).
    #[inline]
    pub(super) fn get(&self, i: u32) -> T {
        // SAFETY: the entry lies between our consumer index and the producer index read
        // with acquire ordering, so the kernel wrote it and does not touch it until we
        // release it.
        unsafe { self.mem.slot(self.tail.wrapping_add(i)).read() }
    }

    /// Hand the first `n` available entries back to the kernel.
    #[inline]
    pub(super) fn release(&mut self, n: u32) {
        if n > 0 {
            self.tail = self.tail.wrapping_add(n);
            // Release: our reads of the entries happen before the kernel may reuse them.
            self.mem.consumer().store(self.tail, Ordering::Release);
        }
    }

    /// Whether an entry is waiting, without changing the cached index.
    #[inline]
    pub(super) fn ready(&self) -> bool {
        self.prod != self.tail || self.mem.producer().load(Ordering::Acquire) != self.tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring in plain memory: index words at 0, 8 and 16, entries from 64. The test plays
    /// the kernel by touching the words directly.
    struct Plain {
        buf: Vec<u64>,
    }

    const OFF: XdpRingOffset = XdpRingOffset {
        producer: 0,
        consumer: 8,
        flags: 16,
        desc: 64,
    };

    impl Plain {
        fn new(size: u32, prod: u32, cons: u32) -> Plain {
            let mut p = Plain {
                buf: vec![0; 8 + size as usize],
            };
            p.word(0).store(prod, Ordering::Relaxed);
            p.word(8).store(cons, Ordering::Relaxed);
            p
        }

        fn len(&self) -> usize {
            self.buf.len() * 8
        }

        fn word(&mut self, off: usize) -> &AtomicU32 {
            let p = self.buf.as_mut_ptr().cast::<u8>();
            // SAFETY: `off` is one of the 8-byte-aligned word offsets inside `buf`.
            unsafe { AtomicU32::from_ptr(p.add(off).cast()) }
        }

        fn entry(&self, i: u32, size: u32) -> u64 {
            self.buf[8 + (i & (size - 1)) as usize]
        }

        fn set_entry(&mut self, i: u32, size: u32, v: u64) {
            self.buf[8 + (i & (size - 1)) as usize] = v;
        }

        fn mem(&mut self, size: u32) -> RingMem<u64> {
            let len = self.len();
            // SAFETY: `buf` outlives the ring in every test and is not reallocated.
            unsafe { RingMem::from_raw(self.buf.as_mut_ptr().cast(), len, &OFF, size, None) }
                .unwrap()
        }
    }

    #[test]
    fn producer_indices_wrap_around_u32() {
        let size = 4;
        let start = u32::MAX - 1;
        let mut k = Plain::new(size, start, start);
        let mut r = ProdRing::new(k.mem(size));
        assert_eq!(r.free(1), 4);
        for v in 10..14 {
            assert!(r.push(v), "entry {v} fits");
        }
        assert!(!r.push(99), "a full ring refuses");
        assert_eq!(
            k.word(0).load(Ordering::Relaxed),
            start,
            "nothing published before submit"
        );
        r.submit();
        assert_eq!(k.word(0).load(Ordering::Relaxed), start.wrapping_add(4));
        assert_eq!(
            k.word(0).load(Ordering::Relaxed),
            2,
            "wrapped past u32::MAX"
        );
        // Entries sit at index & mask: start = ...FE -> slots 2, 3, 0, 1.
        for (i, v) in (10..14).enumerate() {
            assert_eq!(k.entry(start.wrapping_add(i as u32), size), v);
        }
        assert_eq!(r.outstanding(), 4);
        // The kernel consumes two.
        k.word(8).store(start.wrapping_add(2), Ordering::Release);
        assert_eq!(
            r.free(1),
            2,
            "cached consumer reloaded when the ring looks full"
        );
        assert_eq!(r.outstanding(), 2);
        assert!(r.push(14) && r.push(15) && !r.push(16));
        r.submit();
        assert_eq!(k.entry(start.wrapping_add(4), size), 14);
        assert_eq!(k.entry(start.wrapping_add(5), size), 15);
        k.word(8).store(start.wrapping_add(6), Ordering::Release);
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.free(4), 4);
    }

    #[test]
    fn consumer_indices_wrap_around_u32() {
        let size = 8;
        let start = u32::MAX - 2;
        let mut k = Plain::new(size, start, start);
        let mut r = ConsRing::new(k.mem(size));
        assert_eq!(r.available(16), 0);
        assert!(!r.ready());
        // The kernel produces five entries across the wrap.
        for i in 0..5 {
            k.set_entry(start.wrapping_add(i), size, 100 + u64::from(i));
        }
        k.word(0).store(start.wrapping_add(5), Ordering::Release);
        assert!(r.ready());
        assert_eq!(r.available(3), 3, "bounded by max");
        assert_eq!(r.available(16), 5);
        let got: Vec<u64> = (0..5).map(|i| r.get(i)).collect();
        assert_eq!(got, vec![100, 101, 102, 103, 104]);
        r.release(2);
        assert_eq!(k.word(8).load(Ordering::Relaxed), start.wrapping_add(2));
        assert_eq!(r.available(16), 3);
        assert_eq!(r.get(0), 102);
        r.release(3);
        assert_eq!(
            k.word(8).load(Ordering::Relaxed),
            2,
            "wrapped past u32::MAX"
        );
        assert_eq!(r.available(16), 0);
    }

    #[test]
    fn a_producer_index_far_ahead_never_reads_more_than_a_ring() {
        let size = 4;
        let mut k = Plain::new(size, 0, 0);
        let mut r = ConsRing::new(k.mem(size));
        k.word(0).store(1000, Ordering::Release);
        assert_eq!(r.available(64), 4);
        let mut p = ProdRing::new(k.mem(size));
        // Producer 1000, consumer 0: the ring looks overfull, so no room.
        assert_eq!(p.free(1), 0);
        assert!(!p.push(1));
    }

    #[test]
    fn need_wakeup_follows_the_flag_word() {
        let mut k = Plain::new(4, 0, 0);
        let r = ProdRing::new(k.mem(4));
        assert!(!r.needs_wakeup());
        k.word(16).store(XDP_RING_NEED_WAKEUP, Ordering::Release);
        assert!(r.needs_wakeup());
    }

    #[test]
    fn bad_layouts_are_refused() {
        let mut k = Plain::new(4, 0, 0);
        let len = k.len();
        let base = k.buf.as_mut_ptr().cast::<u8>();
        let check = |off: XdpRingOffset, size: u32, len: usize| {
            // SAFETY: `base` is valid for `len` bytes (or fewer) while `k` lives.
            unsafe { RingMem::<u64>::from_raw(base, len, &off, size, None) }.is_err()
        };
        assert!(check(OFF, 3, len), "size not a power of two");
        assert!(check(OFF, 0, len), "size zero");
        assert!(check(OFF, 8, len), "entries past the end");
        assert!(
            check(XdpRingOffset { consumer: 6, ..OFF }, 4, len),
            "misaligned word"
        );
        assert!(
            check(
                XdpRingOffset {
                    flags: len as u64,
                    ..OFF
                },
                4,
                len
            ),
            "word past the end"
        );
        assert!(
            check(XdpRingOffset { desc: 68, ..OFF }, 2, len),
            "misaligned entries"
        );
        assert!(!check(OFF, 4, len));
    }
}
