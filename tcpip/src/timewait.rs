//! TIME-WAIT records, kept apart from the open connections.
//!
//! The end that closes first holds each connection for 2 MSL after it closed (RFC 9293
//! 3.6): a web server closing 250,000 connections a second holds every slot of a
//! 16,384-entry table in TIME-WAIT at all times. Kept in the table of open connections,
//! those records decide which slot (and which of the application's per-connection state)
//! the next connection gets: the one a TIME-WAIT record just gave up, last touched 16,384
//! connections ago, so each new connection starts with cache misses, and with clients
//! whose ports come in no useful order every one does. Here they live in a table of their
//! own; the open connections' table then holds only open connections and reuses its few
//! busy slots (its free list is last in, first out).
//!
//! Every wait is `time_wait` long and a record is added when its wait begins, so the
//! records end in the order they were added; a wait that restarts (a retransmitted FIN) is
//! re-added at the back. A queue of handles in that order replaces a timer per record: the
//! front is the next to end, and when the table is full the front is the one ended early
//! to make room (RFC 9293 3.6.1 lets a host shorten TIME-WAIT; counted by the caller).
//! Records ended out of order (a new SYN took the four-tuple over, a reset) leave a stale
//! handle in the queue, skipped when it reaches the front; the queue is compacted when it
//! grows to twice the table's capacity, so it never grows past what `new` reserved.

use crate::siphash::Key;
use crate::table::{FourTuple, Handle, InsertError, Table};
use crate::tcb::TimeWaitState;
use nmio::Instant;
use std::collections::VecDeque;

/// TIME-WAIT records by four-tuple, in the order their waits end.
pub(crate) struct TimeWaits {
    table: Table<TimeWaitState>,
    /// Handles in the order the waits end; stale ones are records ended early.
    order: VecDeque<Handle>,
}

impl TimeWaits {
    /// Room for `capacity` records (0: none is kept), hashed under `key`.
    pub(crate) fn new(capacity: usize, key: Key) -> Self {
        let table = Table::new(capacity, key);
        let order = VecDeque::with_capacity(2 * table.capacity() + 1);
        TimeWaits { table, order }
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The record for `t`.
    #[cfg(test)]
    pub(crate) fn find(&self, t: &FourTuple) -> Option<Handle> {
        self.table.find(t)
    }

    /// The record for `t`, whose hash under the key given to `new` is `hash`.
    pub(crate) fn find_hashed(&self, t: &FourTuple, hash: u32) -> Option<Handle> {
        self.table.find_hashed(t, hash)
    }

    /// The record `h` names, if it still waits.
    pub(crate) fn get(&self, h: Handle) -> Option<&TimeWaitState> {
        self.table.get(h)
    }

    /// The four-tuple of the record `h` names.
    pub(crate) fn tuple(&self, h: Handle) -> Option<FourTuple> {
        self.table.tuple(h)
    }

    /// Put back a record that was looked at and keeps its place (its wait unchanged).
    pub(crate) fn update(&mut self, h: Handle, tw: TimeWaitState) {
        if let Some(r) = self.table.get_mut(h) {
            *r = tw;
        }
    }

    /// End a record before its time (a new connection took its four-tuple, a reset, a
    /// restarted wait about to be re-added); false if `h` is stale.
    pub(crate) fn remove(&mut self, h: Handle) -> bool {
        let r = self.table.discard(h);
        self.trim();
        r
    }

    /// Add a record whose wait began now (or restarted). Returns how many records were not
    /// kept for their whole wait: the oldest, ended early because the table was full, or
    /// this one when the table has no room at all (capacity 0).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, t: FourTuple, tw: TimeWaitState) -> u64 {
        let hash = self.table.hash_of(&t);
        self.insert_hashed(t, hash, tw)
    }

    /// [`insert`](Self::insert) for `t` whose hash under the key given to `new` is `hash`.
    pub(crate) fn insert_hashed(&mut self, t: FourTuple, hash: u32, tw: TimeWaitState) -> u64 {
        let mut ended = 0;
        if self.table.is_full() {
            self.trim();
            if let Some(oldest) = self.order.pop_front() {
                self.table.discard(oldest);
                ended += 1;
                self.trim();
            }
        }
        let h = match self.table.insert_hashed(t, hash, tw) {
            Ok(h) => h,
            Err(InsertError::Exists(old, tw)) => {
                // Not expected (the caller removes a record before the connection lives
                // again), but a four-tuple has one record: the new one replaces it.
                self.table.discard(old);
                self.trim();
                match self.table.insert_hashed(t, hash, tw) {
                    Ok(h) => h,
                    Err(_) => return ended + 1,
                }
            }
            Err(InsertError::Full(_)) => return ended + 1,
        };
        if self.order.len() >= 2 * self.table.capacity() {
            let table = &self.table;
            self.order.retain(|&h| table.get(h).is_some());
        }
        self.order.push_back(h);
        ended
    }

    /// When the next wait ends.
    pub(crate) fn next_end(&self) -> Option<Instant> {
        let h = self.order.front()?;
        self.table.get(*h).map(|tw| tw.wait_at)
    }

    /// End the next wait if it is over by `now`; true if one ended.
    pub(crate) fn end_next(&mut self, now: Instant) -> bool {
        match self.next_end() {
            Some(at) if at <= now => {
                if let Some(h) = self.order.pop_front() {
                    self.table.discard(h);
                }
                self.trim();
                true
            }
            _ => false,
        }
    }

    /// Drop stale handles from the front, so the front always names a waiting record.
    fn trim(&mut self) {
        while let Some(&h) = self.order.front() {
            if self.table.get(h).is_some() {
                break;
            }
            self.order.pop_front();
        }
    }

    /// Handles queued, stale ones included (for tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::Seq;
    use crate::tcb::Tcb;
    use crate::TcpConfig;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const KEY: Key = Key([7, 11]);

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), port),
        }
    }

    /// A record whose wait ends at `end` ms.
    fn record(end: u64) -> TimeWaitState {
        let cfg = TcpConfig::default();
        let t = tuple(1);
        let now = Instant::from_millis(end);
        Tcb::blank(t.local, t.remote, Seq(1), &cfg, cfg.cc, now).time_wait_state(now)
    }

    #[test]
    fn waits_end_in_order_at_their_time() {
        let mut w = TimeWaits::new(8, KEY);
        for (port, end) in [(1, 100), (2, 200), (3, 300)] {
            assert_eq!(w.insert(tuple(port), record(end)), 0);
        }
        assert_eq!(w.next_end(), Some(Instant::from_millis(100)));
        assert!(!w.end_next(Instant::from_millis(99)));
        assert!(w.end_next(Instant::from_millis(100)));
        assert!(w.find(&tuple(1)).is_none());
        assert!(!w.end_next(Instant::from_millis(100)));
        assert!(w.end_next(Instant::from_millis(1000)));
        assert!(w.end_next(Instant::from_millis(1000)));
        assert!(!w.end_next(Instant::from_millis(1000)));
        assert_eq!((w.len(), w.next_end()), (0, None));
    }

    #[test]
    fn a_full_table_ends_the_oldest_wait_early() {
        let mut w = TimeWaits::new(2, KEY);
        assert_eq!(w.insert(tuple(1), record(100)), 0);
        assert_eq!(w.insert(tuple(2), record(200)), 0);
        assert_eq!(w.insert(tuple(3), record(300)), 1);
        assert!(w.find(&tuple(1)).is_none());
        assert!(w.find(&tuple(2)).is_some() && w.find(&tuple(3)).is_some());
        assert_eq!(w.next_end(), Some(Instant::from_millis(200)));
    }

    #[test]
    fn no_room_keeps_nothing_and_says_so() {
        let mut w = TimeWaits::new(0, KEY);
        assert_eq!(w.insert(tuple(1), record(100)), 1);
        assert_eq!((w.len(), w.next_end()), (0, None));
    }

    #[test]
    fn records_ended_early_are_skipped_and_the_queue_stays_bounded() {
        let mut w = TimeWaits::new(4, KEY);
        // One long wait at the front, then many records each ended early behind it.
        w.insert(tuple(1), record(100));
        for port in 2..10_000u16 {
            w.insert(tuple(port), record(200));
            let h = w.find(&tuple(port)).unwrap();
            assert!(w.remove(h));
            assert!(w.queued() <= 2 * 4 + 1, "{} queued", w.queued());
        }
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_end(), Some(Instant::from_millis(100)));
        // Removing the front skips to the next waiting record.
        w.insert(tuple(20_000), record(300));
        let front = w.find(&tuple(1)).unwrap();
        w.remove(front);
        assert_eq!(w.next_end(), Some(Instant::from_millis(300)));
        assert_eq!(w.queued(), 1);
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A wait begins for this port, `n` ms after the previous operation.
        Begin(u16, u64),
        /// The record for this port ends early (a SYN took it over, a reset).
        End(u16),
        /// Time passes, waits end.
        Pass(u64),
    }

    proptest! {
        /// Against a model (a list in order of ending): the records held, their number,
        /// when the next ends, which end early and which are counted as ended early.
        #[test]
        fn behaves_like_a_list_in_order_of_ending(
            cap in 0usize..6,
            ops in prop::collection::vec(
                prop_oneof![
                    3 => (0u16..8, 0u64..20).prop_map(|(p, d)| Op::Begin(p, d)),
                    1 => (0u16..8).prop_map(Op::End),
                    1 => (0u64..200).prop_map(Op::Pass),
                ],
                0..150,
            ),
        ) {
            const WAIT: u64 = 100;
            let mut w = TimeWaits::new(cap, KEY);
            let mut model: Vec<(u16, u64)> = Vec::new();
            let mut now = 1_000u64;
            for op in ops {
                match op {
                    Op::Begin(port, d) => {
                        now += d;
                        // The caller ends a four-tuple's record before it waits again.
                        if let Some(h) = w.find(&tuple(port)) {
                            prop_assert!(w.remove(h));
                        }
                        model.retain(|&(p, _)| p != port);
                        let mut early = 0;
                        if model.len() == cap && cap > 0 {
                            model.remove(0);
                            early = 1;
                        }
                        if cap == 0 {
                            early = 1;
                        } else {
                            model.push((port, now + WAIT));
                        }
                        prop_assert_eq!(w.insert(tuple(port), record(now + WAIT)), early);
                    }
                    Op::End(port) => {
                        let had = model.iter().position(|&(p, _)| p == port);
                        let h = w.find(&tuple(port));
                        prop_assert_eq!(h.is_some(), had.is_some());
                        if let (Some(i), Some(h)) = (had, h) {
                            model.remove(i);
                            prop_assert!(w.remove(h));
                        }
                    }
                    Op::Pass(d) => {
                        now += d;
                        let mut ended = 0;
                        while w.end_next(Instant::from_millis(now)) {
                            ended += 1;
                        }
                        let before = model.len();
                        model.retain(|&(_, end)| end > now);
                        prop_assert_eq!(ended, before - model.len());
                    }
                }
                prop_assert_eq!(w.len(), model.len());
                prop_assert_eq!(
                    w.next_end(),
                    model.first().map(|&(_, end)| Instant::from_millis(end))
                );
                for port in 0..8 {
                    let held = model.iter().any(|&(p, _)| p == port);
                    prop_assert_eq!(w.find(&tuple(port)).is_some(), held);
                }
                prop_assert!(w.queued() <= 2 * cap + 1);
            }
        }
    }

    #[test]
    fn a_four_tuple_has_one_record() {
        let mut w = TimeWaits::new(4, KEY);
        w.insert(tuple(1), record(100));
        w.insert(tuple(1), record(500));
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_end(), Some(Instant::from_millis(500)));
    }
}
