//! Prepared packets: long-lived packet images built once and sent many times.
//!
//! The pool here is the plain-memory one used by backends whose TX ring cannot point at
//! foreign buffers (AF_PACKET, TAP). Zero-copy backends keep the images where their NIC can
//! reach them (UMEM frames, mbufs, netmap extra buffers) but expose the same [`PreparedId`]
//! handles through [`crate::TxQueue`].

use crate::stats::PortStats;
use crate::Error;

/// Handle of a prepared packet in a port's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PreparedId(pub u32);

/// How `send_prepared` gets the bytes onto the wire (the two Sandstorm variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PrepMode {
    /// Rewrite the prepared buffer in place and send it by reference when the backend can;
    /// a buffer still in flight is cloned into a spare first.
    PreCopy,
    /// Copy the image into a TX slot, then rewrite the copy. The image never changes.
    #[default]
    Memcpy,
}

impl std::str::FromStr for PrepMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pre-copy" | "precopy" => Ok(PrepMode::PreCopy),
            "memcpy" => Ok(PrepMode::Memcpy),
            _ => Err(format!("unknown prepared mode {s:?} (pre-copy or memcpy)")),
        }
    }
}

/// A fixed-capacity arena of prepared packet images in plain memory.
///
/// One allocation at start-up; `insert` copies an image in after the previous one, at the
/// next cache-line boundary. Packed, a server's many short images (DNS answers of about
/// 100 bytes, against frame-sized slots of 2 KiB) take two cache lines and share pages, so
/// sending them at random costs fewer cache and TLB misses (perf of the DNS server with
/// 10,000 names: a fifth of its samples were the first touch of the image).
#[derive(Debug)]
pub struct PreparedPool {
    arena: Vec<u8>,
    /// Where each image starts in `arena`, and its length.
    spans: Vec<(usize, u32)>,
    /// Bytes of `arena` taken.
    used: usize,
    frame: usize,
    capacity: usize,
}

/// Images start at multiples of this (a cache line).
const ALIGN: usize = 64;

impl PreparedPool {
    /// A pool of `capacity` images of at most `frame` bytes each.
    pub fn new(capacity: usize, frame: usize) -> Self {
        PreparedPool {
            arena: Vec::new(),
            spans: Vec::new(),
            used: 0,
            frame,
            capacity,
        }
    }

    /// Copy an image in. Fails when the image exceeds a frame or the pool is full.
    pub fn insert(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        if image.is_empty() || image.len() > self.frame {
            return Err(Error::FrameTooLarge {
                len: image.len(),
                max: self.frame,
            });
        }
        if self.spans.len() >= self.capacity {
            return Err(Error::PoolFull {
                capacity: self.capacity,
            });
        }
        if self.arena.is_empty() {
            // Sized once, on first use, for `capacity` images of the largest size, so an
            // unused pool costs nothing and an insert never reallocates (pages not
            // written are never touched).
            self.arena = vec![0; self.capacity * self.frame.next_multiple_of(ALIGN)];
            self.spans.reserve_exact(self.capacity);
        }
        let id = self.spans.len();
        let off = self.used;
        self.arena[off..off + image.len()].copy_from_slice(image);
        self.used = (off + image.len()).next_multiple_of(ALIGN);
        self.spans.push((off, image.len() as u32));
        Ok(PreparedId(id as u32))
    }

    /// The image of `id`.
    #[inline]
    pub fn get(&self, id: PreparedId) -> Option<&[u8]> {
        let (off, len) = *self.spans.get(id.0 as usize)?;
        self.arena.get(off..off + len as usize)
    }

    /// The image of `id`, mutable (pre-copy rewrites it in place).
    #[inline]
    pub fn get_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        let (off, len) = *self.spans.get(id.0 as usize)?;
        self.arena.get_mut(off..off + len as usize)
    }

    /// Start loading the image of `id` into the caches: a hint, nothing for an unknown id.
    /// A sender of many images at random asks for the next ones before it writes the
    /// current one, so their misses overlap.
    #[inline]
    pub fn prefetch(&self, id: PreparedId) {
        if let Some(image) = self.get(id) {
            crate::prefetch(image);
        }
    }

    /// Images stored.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No images stored.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Largest image.
    pub fn frame_size(&self) -> usize {
        self.frame
    }
}

/// `send_prepared` for a backend that must copy every frame into its TX ring.
///
/// `reserve` lends the next slot (or `None` when full); `commit` queues `len` bytes of it.
/// Pre-copy rewrites the pool image first and copies the result; memcpy copies, then
/// rewrites the slot. Both put the same bytes on the wire; they differ in which buffer is
/// written and so in cache behaviour, which is what the benchmarks compare.
#[inline]
pub fn send_prepared_by_copy<R: FnOnce(&mut [u8])>(
    pool: &mut PreparedPool,
    stats: &mut PortStats,
    id: PreparedId,
    mode: PrepMode,
    rewrite: R,
    slot: Option<&mut [u8]>,
) -> Option<usize> {
    let Some(img_len) = pool.get(id).map(<[u8]>::len) else {
        stats.tx_bad_prepared += 1;
        return None;
    };
    let Some(slot) = slot else {
        stats.tx_ring_full += 1;
        return None;
    };
    if img_len > slot.len() {
        stats.tx_bad_len += 1;
        return None;
    }
    match mode {
        PrepMode::PreCopy => {
            let img = pool.get_mut(id)?;
            rewrite(img);
            slot[..img_len].copy_from_slice(img);
            stats.prepared_precopy += 1;
        }
        PrepMode::Memcpy => {
            slot[..img_len].copy_from_slice(pool.get(id)?);
            rewrite(&mut slot[..img_len]);
            stats.prepared_memcpy += 1;
        }
    }
    Some(img_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_stores_and_bounds_images() {
        let mut p = PreparedPool::new(2, 8);
        let a = p.insert(&[1, 2, 3]).unwrap();
        let b = p.insert(&[9; 8]).unwrap();
        assert_eq!(p.get(a), Some(&[1, 2, 3][..]));
        assert_eq!(p.get(b), Some(&[9; 8][..]));
        assert!(matches!(
            p.insert(&[0]),
            Err(Error::PoolFull { capacity: 2 })
        ));
        let mut q = PreparedPool::new(2, 8);
        assert!(matches!(
            q.insert(&[0; 9]),
            Err(Error::FrameTooLarge { len: 9, max: 8 })
        ));
        assert!(matches!(q.insert(&[]), Err(Error::FrameTooLarge { .. })));
        assert_eq!(p.get(PreparedId(7)), None);
    }

    #[test]
    fn images_are_packed_at_cache_lines_and_kept_apart() {
        let mut p = PreparedPool::new(4, 2048);
        let sizes = [100, 64, 2048, 1];
        let ids: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| p.insert(&vec![k as u8 + 1; n]).unwrap())
            .collect();
        let base = p.get(ids[0]).unwrap().as_ptr() as usize;
        let starts: Vec<usize> = ids
            .iter()
            .map(|&id| p.get(id).unwrap().as_ptr() as usize - base)
            .collect();
        // 100 bytes take two lines, 64 one, 2048 thirty-two.
        assert_eq!(starts, [0, 128, 192, 2240]);
        // Rewriting one image in place leaves its neighbours alone.
        p.get_mut(ids[1]).unwrap().fill(0xee);
        for (k, (&id, &n)) in ids.iter().zip(&sizes).enumerate() {
            let want = if k == 1 { 0xee } else { k as u8 + 1 };
            assert_eq!(p.get(id).unwrap(), &vec![want; n][..], "image {k}");
        }
    }

    #[test]
    fn copy_modes_send_the_same_bytes_and_differ_in_what_they_write() {
        let mut pool = PreparedPool::new(1, 16);
        let id = pool.insert(&[0, 0, 7, 7]).unwrap();
        let mut st = PortStats::default();
        let mut slot = [0u8; 16];
        let n = send_prepared_by_copy(
            &mut pool,
            &mut st,
            id,
            PrepMode::Memcpy,
            |b| b[0] = 5,
            Some(&mut slot),
        );
        assert_eq!(n, Some(4));
        assert_eq!(&slot[..4], &[5, 0, 7, 7]);
        assert_eq!(
            pool.get(id),
            Some(&[0, 0, 7, 7][..]),
            "memcpy leaves the image alone"
        );
        let mut slot2 = [0u8; 16];
        let n = send_prepared_by_copy(
            &mut pool,
            &mut st,
            id,
            PrepMode::PreCopy,
            |b| b[1] = 6,
            Some(&mut slot2),
        );
        assert_eq!(n, Some(4));
        assert_eq!(&slot2[..4], &[0, 6, 7, 7]);
        assert_eq!(
            pool.get(id),
            Some(&[0, 6, 7, 7][..]),
            "pre-copy rewrites the image"
        );
        assert_eq!((st.prepared_memcpy, st.prepared_precopy), (1, 1));
        assert_eq!(
            send_prepared_by_copy(&mut pool, &mut st, id, PrepMode::Memcpy, |_| {}, None),
            None
        );
        assert_eq!(st.tx_ring_full, 1);
        assert_eq!(
            send_prepared_by_copy(
                &mut pool,
                &mut st,
                PreparedId(3),
                PrepMode::Memcpy,
                |_| {},
                Some(&mut slot)
            ),
            None
        );
        assert_eq!(st.tx_bad_prepared, 1);
    }
}
