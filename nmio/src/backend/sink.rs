//! A TX half that goes nowhere: frames are counted and the last one kept.
//!
//! For benchmarks of the layers above `nmio` (the cost of a receive path without any I/O)
//! and for tests that drive a [`Handler`](crate::Handler) directly through
//! [`Context::new`](crate::Context::new). Its slots never run out, so the measured path is
//! the protocol code alone.

use crate::port::TxQueue;
use crate::prepared::{self, PrepMode, PreparedId, PreparedPool};
use crate::stats::PortStats;
use crate::Error;

/// A transmit half that discards what is committed. See the [module docs](self).
pub struct SinkTx {
    slot: Vec<u8>,
    last_len: usize,
    reserved: bool,
    pending: usize,
    pool: PreparedPool,
    stats: PortStats,
}

impl SinkTx {
    /// A sink with `slot_size`-byte slots and room for `prepared` prepared packets.
    pub fn new(slot_size: usize, prepared: usize) -> Self {
        SinkTx {
            slot: vec![0; slot_size],
            last_len: 0,
            reserved: false,
            pending: 0,
            pool: PreparedPool::new(prepared, slot_size),
            stats: PortStats::default(),
        }
    }

    /// The last frame committed (empty before the first).
    pub fn last(&self) -> &[u8] {
        &self.slot[..self.last_len]
    }
}

impl TxQueue for SinkTx {
    #[inline]
    fn tx_space(&mut self) -> usize {
        usize::MAX
    }

    fn slot_size(&self) -> usize {
        self.slot.len()
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        self.reserved = true;
        Some(&mut self.slot)
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        if !std::mem::take(&mut self.reserved) || len == 0 || len > self.slot.len() {
            self.stats.tx_bad_len += 1;
            return false;
        }
        self.last_len = len;
        self.pending += 1;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn flush(&mut self) -> Result<usize, Error> {
        Ok(std::mem::take(&mut self.pending))
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        self.pool.insert(image)
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        self.pool.get(id)
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        self.pool.get_mut(id)
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        let slot = Some(&mut self.slot[..]);
        match prepared::send_prepared_by_copy(
            &mut self.pool,
            &mut self.stats,
            id,
            mode,
            rewrite,
            slot,
        ) {
            Some(len) => {
                self.reserved = true;
                self.commit(len)
            }
            None => false,
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_keeps_the_last_frame() {
        let mut s = SinkTx::new(64, 2);
        assert!(s.send(|b| {
            b[..3].copy_from_slice(b"abc");
            3
        }));
        assert!(!s.commit(3), "commit without a reservation");
        let id = s.prepare(b"hello").unwrap();
        assert!(s.send_prepared(id, PrepMode::Memcpy, |b| b[0] = b'j'));
        assert_eq!(s.last(), b"jello");
        assert_eq!(s.pending(), 2);
        assert_eq!(s.flush().unwrap(), 2);
        let st = TxQueue::stats(&s);
        assert_eq!((st.tx_frames, st.tx_bad_len), (2, 1));
    }
}
