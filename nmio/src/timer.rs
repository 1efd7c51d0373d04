//! A hashed timing wheel: O(1) schedule and cancel, no allocation after construction.
//!
//! # Design
//!
//! This is scheme 6 of Varghese and Lauck, "Hashed and Hierarchical Timing Wheels: Data
//! Structures for the Efficient Implementation of a Timer Facility" (SOSP 1987): time is cut
//! into ticks, tick `k` hashes to slot `k mod slots`, and each slot holds an unsorted list of
//! the timers whose tick maps to it. Instead of a remaining-rounds count, each entry keeps
//! its absolute tick, which is the same test ("is this entry due in this revolution?")
//! without decrementing anything while visiting a slot.
//!
//! A network stack runs one of these per core with tens of thousands of timers (RTO, delayed
//! ACK, TIME_WAIT, ARP expiry), nearly all cancelled or re-armed before they fire, so
//! schedule, cancel and reschedule must be O(1) and free of allocation:
//!
//! - all entries live in one slab allocated by [`TimerWheel::new`], linked into per-slot
//!   intrusive doubly-linked lists by index, with a free list threading the unused ones;
//! - a [`TimerHandle`] is a slab index plus a generation, so a handle kept after its timer
//!   fired or was cancelled is recognized as stale and rejected (no ABA reuse);
//! - a bitmap of non-empty slots lets [`TimerWheel::advance`] and
//!   [`TimerWheel::next_deadline`] skip empty slots 64 at a time.
//!
//! # Timing contract
//!
//! A deadline is rounded *up* to the tick boundary at or after it; tick `k` becomes due once
//! `now >= start + k * tick`. So a timer never fires before its deadline, fires at the first
//! [`expire`](TimerWheel::expire) whose `now` has reached its rounded-up deadline, and is thus
//! at most one tick late. A timer scheduled for a tick the wheel has already passed (a
//! deadline in the past) goes into the next tick not yet processed.
//!
//! Timers due in one `expire` call fire in tick order; within one tick, in the order they
//! were (re)scheduled.
//!
//! # Bounded catch-up
//!
//! When `now` jumps far ahead (a suspended process, a simulation skipping an hour), the wheel
//! does not walk the ticks. An `advance` that covers at most one revolution visits each
//! non-empty slot of that span once, in tick order. A longer jump takes every due entry out
//! of the slots in a single pass and puts them in tick order with a merge sort of their
//! intrusive links (stable, in place, no allocation). So one `expire` costs at most
//! O(slots / 64 + timers held + d log d) for d due timers, whatever the size of the jump.

use crate::clock::Instant;
use std::time::Duration;

/// End of a list / no entry.
const NIL: u32 = u32::MAX;
/// `list` value of an entry on the free list.
const FREE: u32 = u32::MAX;

/// A scheduled timer. Stale once the timer fired or was cancelled: every call that takes a
/// handle then returns `false`/`None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    idx: u32,
    gen: u32,
}

/// Counters of a [`TimerWheel`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Timers scheduled.
    pub scheduled: u64,
    /// `schedule` calls refused because every entry was in use.
    pub full: u64,
    /// Timers cancelled before they fired.
    pub cancelled: u64,
    /// Successful `reschedule` calls.
    pub rescheduled: u64,
    /// Timers fired (handed out by `expire` or `pop_expired`).
    pub fired: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry<T> {
    /// Deadline as asked, in ns on the wheel's clock.
    at: u64,
    /// Absolute tick at which the entry fires.
    tick: u64,
    next: u32,
    prev: u32,
    /// Slot index, `expired_list()` for the due list, or `FREE`.
    list: u32,
    gen: u32,
    token: Option<T>,
}

/// A hashed timing wheel of at most `capacity` timers carrying a `T` token each.
///
/// See the [module docs](self) for the design and the timing contract.
#[derive(Debug)]
pub struct TimerWheel<T: Copy> {
    entries: Vec<Entry<T>>,
    /// List heads and tails: one per slot, then the due list (entries collected by
    /// `advance` and not yet popped).
    heads: Vec<u32>,
    tails: Vec<u32>,
    /// Bit `s` set when slot `s` is non-empty.
    occupied: Vec<u64>,
    free: u32,
    mask: u64,
    start: u64,
    tick_ns: u64,
    /// Lowest tick not yet processed. Every entry in a slot has `tick >= cur`.
    cur: u64,
    /// Entries in slots (not counting the due list).
    in_wheel: usize,
    /// Entries on the due list.
    due_len: usize,
    /// Lower bound of the deadlines on the due list (valid while it is non-empty).
    due_min_at: u64,
    stats: TimerStats,
}

impl<T: Copy> TimerWheel<T> {
    /// A wheel of `capacity` timers, `slots` slots of `tick` each, whose tick 0 is `start`.
    ///
    /// One revolution covers `slots * tick`; timers further out stay in their slot until
    /// their revolution comes. `slots` is rounded up to a power of two (at least 1), a zero
    /// `tick` is taken as 1 ns, and `capacity` is capped at `u32::MAX - 1`. This is the only
    /// allocation the wheel ever makes.
    pub fn new(capacity: usize, tick: Duration, slots: usize, start: Instant) -> Self {
        let capacity = capacity.min(u32::MAX as usize - 1);
        let slots = slots.max(1).next_power_of_two().min(1 << 31);
        let tick_ns = (tick.as_nanos().min(u64::MAX as u128) as u64).max(1);
        let entries = (0..capacity)
            .map(|i| Entry {
                at: 0,
                tick: 0,
                next: if i + 1 < capacity { i as u32 + 1 } else { NIL },
                prev: NIL,
                list: FREE,
                gen: 0,
                token: None,
            })
            .collect();
        TimerWheel {
            entries,
            heads: vec![NIL; slots + 1],
            tails: vec![NIL; slots + 1],
            occupied: vec![0; slots.div_ceil(64)],
            free: if capacity > 0 { 0 } else { NIL },
            mask: slots as u64 - 1,
            start: start.as_nanos(),
            tick_ns,
            cur: 0,
            in_wheel: 0,
            due_len: 0,
            due_min_at: u64::MAX,
            stats: TimerStats::default(),
        }
    }

    /// Timers scheduled and not yet fired or cancelled (including due ones not yet popped).
    #[inline]
    pub fn len(&self) -> usize {
        self.in_wheel + self.due_len
    }

    /// No timer pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most timers the wheel holds at once.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Length of one tick (the wheel's granularity).
    pub fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_ns)
    }

    /// Slots per revolution.
    pub fn slots(&self) -> usize {
        self.mask as usize + 1
    }

    /// Counters.
    pub fn stats(&self) -> TimerStats {
        self.stats
    }

    /// The deadline a pending timer was scheduled for, `None` if the handle is stale.
    pub fn deadline(&self, h: TimerHandle) -> Option<Instant> {
        self.live(h)
            .then(|| Instant(self.entries[h.idx as usize].at))
    }

    /// Schedule `token` to fire at `at`. `None` when all `capacity` entries are in use
    /// (counted in [`TimerStats::full`]).
    pub fn schedule(&mut self, at: Instant, token: T) -> Option<TimerHandle> {
        if self.free == NIL {
            self.stats.full += 1;
            return None;
        }
        let idx = self.free;
        let e = &mut self.entries[idx as usize];
        self.free = e.next;
        e.token = Some(token);
        let gen = e.gen;
        self.place(idx, at.as_nanos());
        self.stats.scheduled += 1;
        Some(TimerHandle { idx, gen })
    }

    /// Cancel a pending timer. `false` if the handle is stale (fired, cancelled, or from a
    /// timer whose entry was reused since).
    pub fn cancel(&mut self, h: TimerHandle) -> bool {
        if !self.live(h) {
            return false;
        }
        self.unlink(h.idx);
        self.release(h.idx);
        self.stats.cancelled += 1;
        true
    }

    /// Move a pending timer to a new deadline, keeping its handle and token. `false` if the
    /// handle is stale. A timer already collected as due is taken back.
    pub fn reschedule(&mut self, h: TimerHandle, at: Instant) -> bool {
        if !self.live(h) {
            return false;
        }
        self.unlink(h.idx);
        self.place(h.idx, at.as_nanos());
        self.stats.rescheduled += 1;
        true
    }

    /// Fire every timer due at `now`, in tick order, handing each one's handle (now stale)
    /// and token to `f`. Returns how many fired.
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(TimerHandle, T)) -> usize {
        self.advance(now);
        let mut n = 0;
        while let Some((h, t)) = self.pop_expired() {
            f(h, t);
            n += 1;
        }
        n
    }

    /// Move every timer due at `now` to the due list, in tick order, and return the length of
    /// that list. Pair with [`pop_expired`](Self::pop_expired) when the code handling a timer
    /// needs the wheel itself (to re-arm, say): timers scheduled meanwhile, even with a past
    /// deadline, land in a later tick and never on the list being drained, so a handler that
    /// re-arms at `now` cannot make the drain loop forever.
    pub fn advance(&mut self, now: Instant) -> usize {
        let now = now.as_nanos();
        if now < self.start {
            return self.due_len;
        }
        let due = (now - self.start) / self.tick_ns;
        if due < self.cur {
            return self.due_len;
        }
        if self.in_wheel > 0 {
            if due - self.cur > self.mask {
                self.collect_all_due(due);
            } else {
                // At most one revolution: each slot is visited at most once, in tick order.
                let mut t = self.cur;
                while let Some(k) = self.next_occupied(t, due) {
                    self.collect_slot(k);
                    if k == due {
                        break;
                    }
                    t = k + 1;
                }
            }
        }
        self.cur = due.saturating_add(1);
        self.due_len
    }

    /// Take the oldest timer off the due list filled by [`advance`](Self::advance).
    pub fn pop_expired(&mut self) -> Option<(TimerHandle, T)> {
        let idx = self.heads[self.due_list()];
        if idx == NIL {
            return None;
        }
        self.unlink(idx);
        let e = &self.entries[idx as usize];
        let h = TimerHandle { idx, gen: e.gen };
        let token = e.token;
        self.release(idx);
        self.stats.fired += 1;
        token.map(|t| (h, t))
    }

    /// When the next `expire` can have work: `None` when no timer is pending, otherwise an
    /// instant that is never later than the moment the earliest pending timer becomes due
    /// (its deadline rounded up to the tick, see the [module docs](self)).
    ///
    /// It is exactly that moment when the nearest non-empty slot holds a timer of the current
    /// revolution, and earlier when that slot only holds timers of later revolutions; an
    /// event loop that sleeps until it, then calls `expire` and asks again, never delays a
    /// timer beyond the wheel's one-tick granularity and never spins. Due timers not yet
    /// popped give an instant at or before their deadlines. Cost: at most `slots / 64 + 1`
    /// word reads.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.due_len > 0 {
            return Some(Instant(self.due_min_at));
        }
        if self.in_wheel == 0 {
            return None;
        }
        let k = self.next_occupied(self.cur, self.cur.saturating_add(self.mask))?;
        Some(self.tick_instant(k))
    }

    #[inline]
    fn due_list(&self) -> usize {
        self.mask as usize + 1
    }

    #[inline]
    fn live(&self, h: TimerHandle) -> bool {
        self.entries
            .get(h.idx as usize)
            .is_some_and(|e| e.gen == h.gen && e.list != FREE)
    }

    fn tick_instant(&self, k: u64) -> Instant {
        Instant(self.start.saturating_add(k.saturating_mul(self.tick_ns)))
    }

    /// The tick at or after `at` (rounded up), or the first unprocessed tick if later.
    #[inline]
    fn tick_for(&self, at: u64) -> u64 {
        let off = at.saturating_sub(self.start);
        let k = off.div_ceil(self.tick_ns);
        k.max(self.cur)
    }

    /// Link entry `idx` into the slot of the tick for `at`.
    fn place(&mut self, idx: u32, at: u64) {
        let tick = self.tick_for(at);
        let slot = (tick & self.mask) as usize;
        let e = &mut self.entries[idx as usize];
        e.at = at;
        e.tick = tick;
        self.push_back(slot, idx);
        self.in_wheel += 1;
        self.occupied[slot / 64] |= 1 << (slot % 64);
    }

    /// Append `idx` to list `list` (a slot or the due list).
    #[inline]
    fn push_back(&mut self, list: usize, idx: u32) {
        let tail = self.tails[list];
        {
            let e = &mut self.entries[idx as usize];
            e.list = list as u32;
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.heads[list] = idx;
        } else {
            self.entries[tail as usize].next = idx;
        }
        self.tails[list] = idx;
    }

    /// Take `idx` off whatever list it is on, keeping the counters and bitmap right.
    fn unlink(&mut self, idx: u32) {
        let Entry {
            next, prev, list, ..
        } = self.entries[idx as usize];
        let list = list as usize;
        if prev == NIL {
            self.heads[list] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.tails[list] = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if list == self.due_list() {
            self.due_len -= 1;
            if self.due_len == 0 {
                self.due_min_at = u64::MAX;
            }
        } else {
            self.in_wheel -= 1;
            if self.heads[list] == NIL {
                self.occupied[list / 64] &= !(1 << (list % 64));
            }
        }
    }

    /// Return `idx` to the free list; its generation moves on so old handles go stale.
    fn release(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        e.list = FREE;
        e.gen = e.gen.wrapping_add(1);
        e.token = None;
        e.next = self.free;
        e.prev = NIL;
        self.free = idx;
    }

    /// Put an unlinked entry at the end of the due list.
    fn push_due(&mut self, idx: u32) {
        self.push_back(self.due_list(), idx);
        self.due_len += 1;
        self.due_min_at = self.due_min_at.min(self.entries[idx as usize].at);
    }

    /// Move the entries of tick `k`'s slot that are due by tick `k` to the due list.
    fn collect_slot(&mut self, k: u64) {
        let slot = (k & self.mask) as usize;
        let mut idx = self.heads[slot];
        while idx != NIL {
            let e = self.entries[idx as usize];
            if e.tick <= k {
                self.unlink(idx);
                self.push_due(idx);
            }
            idx = e.next;
        }
    }

    /// A jump of more than one revolution: take every entry due by tick `due` out of the
    /// slots in one pass, sort them by tick, and append them to the due list.
    fn collect_all_due(&mut self, due: u64) {
        let (mut head, mut tail, mut n) = (NIL, NIL, 0);
        for w in 0..self.occupied.len() {
            let mut bits = self.occupied[w];
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let mut idx = self.heads[slot];
                while idx != NIL {
                    let e = self.entries[idx as usize];
                    if e.tick <= due {
                        self.unlink(idx);
                        self.entries[idx as usize].next = NIL;
                        if tail == NIL {
                            head = idx;
                        } else {
                            self.entries[tail as usize].next = idx;
                        }
                        tail = idx;
                        n += 1;
                    }
                    idx = e.next;
                }
            }
        }
        let mut idx = self.sort_by_tick(head, n);
        while idx != NIL {
            let next = self.entries[idx as usize].next;
            self.push_due(idx);
            idx = next;
        }
    }

    /// Stable bottom-up merge sort by tick of a chain of `n` entries linked through `next`.
    ///
    /// Stability keeps the (re)schedule order within a tick: entries of one tick share a
    /// slot and were gathered in that slot's order.
    fn sort_by_tick(&mut self, mut head: u32, n: usize) -> u32 {
        let mut width = 1;
        while width < n {
            let (mut out_head, mut out_tail) = (NIL, NIL);
            let mut rest = head;
            while rest != NIL {
                let a = rest;
                let b = self.cut_after(a, width);
                rest = self.cut_after(b, width);
                let (h, t) = self.merge(a, b);
                if out_tail == NIL {
                    out_head = h;
                } else {
                    self.entries[out_tail as usize].next = h;
                }
                out_tail = t;
            }
            head = out_head;
            width *= 2;
        }
        head
    }

    /// Cut a chain after its first `n` entries and return the rest.
    fn cut_after(&mut self, head: u32, n: usize) -> u32 {
        let mut idx = head;
        for _ in 1..n {
            if idx == NIL {
                return NIL;
            }
            idx = self.entries[idx as usize].next;
        }
        if idx == NIL {
            return NIL;
        }
        std::mem::replace(&mut self.entries[idx as usize].next, NIL)
    }

    /// Merge two tick-sorted chains, `a` first on ties; returns head and tail.
    fn merge(&mut self, mut a: u32, mut b: u32) -> (u32, u32) {
        let (mut head, mut tail) = (NIL, NIL);
        while a != NIL || b != NIL {
            let take_a = b == NIL
                || (a != NIL && self.entries[a as usize].tick <= self.entries[b as usize].tick);
            let idx = if take_a { a } else { b };
            let next = self.entries[idx as usize].next;
            if take_a {
                a = next;
            } else {
                b = next;
            }
            if tail == NIL {
                head = idx;
            } else {
                self.entries[tail as usize].next = idx;
            }
            tail = idx;
        }
        if tail != NIL {
            self.entries[tail as usize].next = NIL;
        }
        (head, tail)
    }

    /// The first tick in `[from, to]` (at most one revolution) whose slot is non-empty.
    fn next_occupied(&self, from: u64, to: u64) -> Option<u64> {
        if to < from {
            return None;
        }
        let slots = self.mask + 1;
        let span = (to - from).min(self.mask) + 1;
        let mut off = 0;
        while off < span {
            let pos = (from + off) & self.mask;
            let bit = pos % 64;
            let w = self.occupied[(pos / 64) as usize] >> bit;
            if w != 0 {
                let hit = off + u64::from(w.trailing_zeros());
                return (hit < span).then_some(from + hit);
            }
            // Bits past `slots` are never set, so stepping to the wheel's end is safe.
            off += (64 - bit).min(slots - pos);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MS: Duration = Duration::from_millis(1);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn fired(w: &mut TimerWheel<u32>, now: Instant) -> Vec<u32> {
        let mut v = Vec::new();
        w.expire(now, |_, t| v.push(t));
        v
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = TimerWheel::new(16, MS, 64, ms(0));
        w.schedule(ms(10), 7).unwrap();
        assert!(fired(&mut w, Instant(ms(10).0 - 1)).is_empty());
        assert_eq!(fired(&mut w, ms(10)), [7]);
        assert!(w.is_empty());
    }

    #[test]
    fn deadline_inside_a_tick_rounds_up_to_the_next_boundary() {
        let mut w = TimerWheel::new(16, MS, 64, ms(0));
        w.schedule(Instant(ms(10).0 + 1), 1).unwrap();
        assert!(fired(&mut w, Instant(ms(10).0 + 500_000)).is_empty());
        assert_eq!(w.next_deadline(), Some(ms(11)));
        assert_eq!(fired(&mut w, ms(11)), [1]);
    }

    #[test]
    fn timers_fire_in_tick_order_within_one_expire() {
        let mut w = TimerWheel::new(64, MS, 8, ms(0));
        // Same slot (mod 8), different revolutions, scheduled latest first.
        for (i, t) in [25u64, 17, 9, 1, 3, 2].iter().enumerate() {
            w.schedule(ms(*t), i as u32).unwrap();
        }
        let order: Vec<u32> = fired(&mut w, ms(30));
        assert_eq!(order, [3, 5, 4, 2, 1, 0]);
    }

    #[test]
    fn same_tick_fires_in_schedule_order() {
        let mut w = TimerWheel::new(8, MS, 8, ms(0));
        for i in 0..5 {
            w.schedule(ms(3), i).unwrap();
        }
        assert_eq!(fired(&mut w, ms(3)), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn timers_beyond_one_revolution_wait_for_their_round() {
        let mut w = TimerWheel::new(8, MS, 4, ms(0));
        w.schedule(ms(9), 1).unwrap(); // slot 1, third revolution
        for t in 0..9 {
            assert!(fired(&mut w, ms(t)).is_empty(), "fired early at {t} ms");
        }
        assert_eq!(fired(&mut w, ms(9)), [1]);
    }

    #[test]
    fn cancelled_timer_never_fires_and_its_handle_goes_stale() {
        let mut w = TimerWheel::new(4, MS, 8, ms(0));
        let h = w.schedule(ms(5), 1).unwrap();
        assert!(w.cancel(h));
        assert!(!w.cancel(h));
        assert!(!w.reschedule(h, ms(6)));
        assert!(fired(&mut w, ms(100)).is_empty());
        assert_eq!(w.stats().cancelled, 1);
    }

    #[test]
    fn handle_of_a_fired_timer_is_rejected_after_its_entry_is_reused() {
        let mut w = TimerWheel::new(1, MS, 8, ms(0));
        let old = w.schedule(ms(1), 1).unwrap();
        assert_eq!(fired(&mut w, ms(1)), [1]);
        let new = w.schedule(ms(5), 2).unwrap();
        assert_ne!(old, new);
        assert!(!w.cancel(old));
        assert_eq!(w.deadline(new), Some(ms(5)));
        assert!(w.cancel(new));
    }

    #[test]
    fn schedule_when_full_returns_none_and_counts() {
        let mut w = TimerWheel::new(2, MS, 8, ms(0));
        assert!(w.schedule(ms(1), 0).is_some());
        assert!(w.schedule(ms(1), 1).is_some());
        assert!(w.schedule(ms(1), 2).is_none());
        assert_eq!(w.stats().full, 1);
        assert_eq!(fired(&mut w, ms(1)).len(), 2);
        assert!(w.schedule(ms(2), 3).is_some());
    }

    #[test]
    fn zero_capacity_wheel_refuses_everything() {
        let mut w = TimerWheel::<u32>::new(0, MS, 8, ms(0));
        assert!(w.schedule(ms(1), 0).is_none());
        assert_eq!(w.next_deadline(), None);
        assert!(fired(&mut w, ms(10)).is_empty());
    }

    #[test]
    fn reschedule_moves_a_timer_later_and_earlier() {
        let mut w = TimerWheel::new(4, MS, 8, ms(0));
        let h = w.schedule(ms(3), 9).unwrap();
        assert!(w.reschedule(h, ms(20)));
        assert!(fired(&mut w, ms(19)).is_empty());
        assert!(w.reschedule(h, ms(21)));
        assert!(fired(&mut w, ms(20)).is_empty());
        assert_eq!(fired(&mut w, ms(21)), [9]);
    }

    #[test]
    fn past_deadline_fires_on_the_next_tick_not_retroactively() {
        let mut w = TimerWheel::new(4, MS, 8, ms(0));
        assert!(fired(&mut w, Instant(ms(5).0 + 10)).is_empty());
        w.schedule(ms(1), 1).unwrap();
        assert_eq!(w.next_deadline(), Some(ms(6)));
        assert!(fired(&mut w, Instant(ms(5).0 + 20)).is_empty());
        assert_eq!(fired(&mut w, ms(6)), [1]);
    }

    #[test]
    fn rearming_from_a_drain_does_not_loop() {
        let mut w = TimerWheel::new(4, MS, 8, ms(0));
        w.schedule(ms(1), 1).unwrap();
        let now = ms(1);
        let n = w.advance(now);
        assert_eq!(n, 1);
        let mut count = 0;
        while let Some((_, t)) = w.pop_expired() {
            count += 1;
            w.schedule(now, t).unwrap();
        }
        assert_eq!(count, 1);
        assert_eq!(w.len(), 1);
        assert_eq!(fired(&mut w, ms(2)), [1]);
    }

    #[test]
    fn clock_going_back_or_before_start_fires_nothing() {
        let mut w = TimerWheel::new(4, MS, 8, ms(100));
        w.schedule(ms(50), 1).unwrap(); // before start: tick 0
        assert!(fired(&mut w, ms(99)).is_empty());
        assert_eq!(fired(&mut w, ms(100)), [1]);
        w.schedule(ms(110), 2).unwrap();
        assert!(fired(&mut w, ms(105)).is_empty());
        assert!(fired(&mut w, ms(101)).is_empty());
        assert_eq!(fired(&mut w, ms(110)), [2]);
    }

    #[test]
    fn hour_long_jump_is_cheap_and_ordered() {
        let mut w = TimerWheel::new(8, MS, 4096, ms(0));
        w.schedule(ms(1_800_000), 2).unwrap();
        w.schedule(ms(5), 0).unwrap();
        w.schedule(ms(3_599_999), 3).unwrap();
        w.schedule(ms(900_000), 1).unwrap();
        w.schedule(ms(3_600_001), 4).unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(fired(&mut w, ms(3_600_000)), [0, 1, 2, 3]);
        // Walking 3.6 million ticks would take milliseconds; skipping takes microseconds.
        assert!(t0.elapsed() < Duration::from_millis(50));
        assert_eq!(w.next_deadline(), Some(ms(3_600_001)));
        assert_eq!(fired(&mut w, ms(3_600_001)), [4]);
    }

    #[test]
    fn jump_over_a_huge_span_with_an_empty_wheel_is_constant_time() {
        let mut w = TimerWheel::<u32>::new(8, Duration::from_nanos(1), 8, ms(0));
        assert!(fired(&mut w, Instant(u64::MAX)).is_empty());
        // Everything after the last tick lands at the first unprocessed tick.
        w.schedule(Instant(u64::MAX), 1).unwrap();
        assert!(w.next_deadline().is_some());
    }

    #[test]
    fn next_deadline_is_the_nearest_nonempty_tick() {
        let mut w = TimerWheel::new(8, MS, 16, ms(0));
        assert_eq!(w.next_deadline(), None);
        let a = w.schedule(ms(40), 1).unwrap(); // slot 8, later revolution
                                                // Only a later-revolution timer in slot 8: the bound is the slot's tick this round.
        assert_eq!(w.next_deadline(), Some(ms(8)));
        w.schedule(ms(12), 2).unwrap();
        assert_eq!(w.next_deadline(), Some(ms(8)));
        assert!(fired(&mut w, ms(8)).is_empty());
        assert_eq!(w.next_deadline(), Some(ms(12)));
        assert_eq!(fired(&mut w, ms(12)), [2]);
        assert_eq!(w.next_deadline(), Some(ms(24)));
        assert!(w.cancel(a));
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn next_deadline_of_collected_but_unpopped_timers_is_not_later_than_them() {
        let mut w = TimerWheel::new(8, MS, 16, ms(0));
        w.schedule(Instant(ms(2).0 - 300), 1).unwrap();
        w.schedule(Instant(ms(2).0 - 100), 2).unwrap();
        assert_eq!(w.advance(ms(5)), 2);
        assert_eq!(w.next_deadline(), Some(Instant(ms(2).0 - 300)));
        assert!(w.pop_expired().is_some());
        assert!(w.next_deadline().unwrap() <= Instant(ms(2).0 - 100));
        assert!(w.pop_expired().is_some());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn small_wheels_and_odd_slot_counts_work() {
        for slots in [1, 3, 5, 64, 100] {
            let mut w = TimerWheel::new(8, MS, slots, ms(0));
            assert!(w.slots().is_power_of_two());
            w.schedule(ms(7), 7).unwrap();
            w.schedule(ms(2), 2).unwrap();
            w.schedule(ms(300), 300).unwrap();
            assert!(w.next_deadline().unwrap() <= ms(2));
            assert_eq!(fired(&mut w, ms(7)), [2, 7], "slots {slots}");
            assert!(w.next_deadline().unwrap() <= ms(300));
            assert!(fired(&mut w, ms(299)).is_empty());
            assert_eq!(fired(&mut w, ms(300)), [300]);
        }
    }

    // --- Model-based property test ---------------------------------------------------------

    #[derive(Clone, Debug)]
    enum Op {
        Schedule(u64),
        Cancel(usize),
        CancelStale(usize),
        Reschedule(usize, u64),
        Expire(u64),
        Jump(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Tick 1000 ns, 8 slots: one revolution is 8000 ns.
        prop_oneof![
            4 => (0u64..40_000).prop_map(Op::Schedule),
            2 => any::<usize>().prop_map(Op::Cancel),
            1 => any::<usize>().prop_map(Op::CancelStale),
            2 => (any::<usize>(), 0u64..40_000).prop_map(|(i, d)| Op::Reschedule(i, d)),
            3 => (0u64..3_000).prop_map(Op::Expire),
            1 => (0u64..200_000).prop_map(Op::Jump),
        ]
    }

    const START: u64 = 1_000_000_007;
    const TICK: u64 = 1_000;
    const CAP: usize = 12;

    struct Model {
        /// id -> (deadline, effective tick, schedule sequence)
        live: BTreeMap<u32, (u64, u64, u64)>,
        handles: BTreeMap<u32, TimerHandle>,
        dead: Vec<TimerHandle>,
        /// First tick not yet processed.
        cur: u64,
        now: u64,
        seq: u64,
        next_id: u32,
    }

    impl Model {
        fn eff_tick(&self, at: u64) -> u64 {
            let off = at.saturating_sub(START);
            off.div_ceil(TICK).max(self.cur)
        }
    }

    fn run_ops(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut w = TimerWheel::<u32>::new(CAP, Duration::from_nanos(TICK), 8, Instant(START));
        let mut m = Model {
            live: BTreeMap::new(),
            handles: BTreeMap::new(),
            dead: Vec::new(),
            cur: 0,
            now: START - 5_000,
            seq: 0,
            next_id: 0,
        };
        let mut full = 0;
        for op in ops {
            match op {
                Op::Schedule(d) => {
                    // Deadlines from a little in the past to five revolutions ahead.
                    let at = (m.now + d).saturating_sub(5_000);
                    let id = m.next_id;
                    m.next_id += 1;
                    match w.schedule(Instant(at), id) {
                        Some(h) => {
                            prop_assert!(m.live.len() < CAP);
                            m.seq += 1;
                            m.live.insert(id, (at, m.eff_tick(at), m.seq));
                            m.handles.insert(id, h);
                        }
                        None => {
                            prop_assert_eq!(m.live.len(), CAP);
                            full += 1;
                        }
                    }
                }
                Op::Cancel(i) => {
                    if m.live.is_empty() {
                        continue;
                    }
                    let id = *m.live.keys().nth(i % m.live.len()).unwrap();
                    let h = m.handles.remove(&id).unwrap();
                    prop_assert!(w.cancel(h));
                    m.live.remove(&id);
                    m.dead.push(h);
                }
                Op::CancelStale(i) => {
                    if !m.dead.is_empty() {
                        let h = m.dead[i % m.dead.len()];
                        prop_assert!(!w.cancel(h));
                        prop_assert!(!w.reschedule(h, Instant(m.now)));
                    }
                }
                Op::Reschedule(i, d) => {
                    if m.live.is_empty() {
                        continue;
                    }
                    let id = *m.live.keys().nth(i % m.live.len()).unwrap();
                    let at = (m.now + d).saturating_sub(5_000);
                    prop_assert!(w.reschedule(m.handles[&id], Instant(at)));
                    m.seq += 1;
                    let e = (at, m.eff_tick(at), m.seq);
                    m.live.insert(id, e);
                }
                Op::Expire(d) | Op::Jump(d) => {
                    m.now += d;
                    let mut got = Vec::new();
                    w.expire(Instant(m.now), |h, id| got.push((h, id)));
                    let due_tick = (m.now >= START).then(|| (m.now - START) / TICK);
                    let mut want: Vec<(u64, u64, u32)> = m
                        .live
                        .iter()
                        .filter(|(_, e)| due_tick.is_some_and(|k| e.1 <= k))
                        .map(|(id, e)| (e.1, e.2, *id))
                        .collect();
                    want.sort();
                    let got_ids: Vec<u32> = got.iter().map(|g| g.1).collect();
                    let want_ids: Vec<u32> = want.iter().map(|w| w.2).collect();
                    // Exactly the due ones, none twice, none cancelled, in tick order.
                    prop_assert_eq!(&got_ids, &want_ids, "now {}", m.now);
                    for (h, id) in got {
                        let (at, _, _) = m.live.remove(&id).unwrap();
                        // Never early; at most one tick late relative to this expire.
                        prop_assert!(at <= m.now, "timer {} at {} fired at {}", id, at, m.now);
                        prop_assert_eq!(m.handles.remove(&id), Some(h));
                        m.dead.push(h);
                    }
                    if let Some(k) = due_tick {
                        m.cur = m.cur.max(k + 1);
                    }
                }
            }
            prop_assert_eq!(w.len(), m.live.len());
            prop_assert_eq!(w.stats().full, full);
            // next_deadline never later than the earliest moment a timer becomes due.
            let earliest = m.live.values().map(|e| START + e.1 * TICK).min();
            match (w.next_deadline(), earliest) {
                (None, None) => {}
                (Some(n), Some(e)) => prop_assert!(n.0 <= e, "next {} > due {}", n.0, e),
                (n, e) => prop_assert!(false, "next_deadline {:?}, model {:?}", n, e),
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn wheel_matches_reference_model(ops in proptest::collection::vec(op(), 1..200)) {
            run_ops(ops)?;
        }
    }
}
