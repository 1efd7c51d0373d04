//! Prepared packets in netmap extra buffers, sent by swapping buffer indices (pre-copy).
//!
//! Every buffer index the TX half has is in exactly one place:
//!
//! - in a TX ring slot (the slot's own buffer, or a prepared image's buffer *placed* there
//!   by a pre-copy send),
//! - in `spares`: a TX slot's own buffer, displaced by a placed image (so there are always
//!   as many spares as placed images),
//! - in `free`: an extra buffer no image uses yet,
//! - or as the buffer of an image that is not placed.
//!
//! A pre-copy send *places* the image's buffer in the next TX slot (`buf_idx` swapped,
//! `NS_BUF_CHANGED` set) and keeps the slot's own buffer as a spare. The buffer stays in
//! that slot after the NIC sent it; when the slot is taken for another frame, a spare goes
//! back into it first ([`SwapPool::restore`]), and the image is home again, unchanged.
//! While the slot is in flight (queued, or owned by the kernel) the image is not rewritten:
//! another pre-copy send copies it into a slot instead (a clone), and
//! [`SwapPool::detach`] moves the image to a spare when the application changes it.

use super::abi::NS_BUF_CHANGED;
use super::ring::Ring;
use crate::PreparedId;

/// A prepared image: its buffer and length, and the TX slot it is placed in, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) buf: u32,
    pub(crate) len: u32,
    pub(crate) slot: Option<u32>,
}

/// The buffer bookkeeping of a TX half (see the module docs).
#[derive(Debug)]
pub(crate) struct SwapPool {
    images: Vec<Image>,
    free: Vec<u32>,
    spares: Vec<u32>,
    /// Per TX slot: the image whose buffer the slot points at.
    placed: Vec<Option<u32>>,
}

impl SwapPool {
    /// A pool over the extra buffers `extra`, for a TX ring of `slots` slots.
    pub(crate) fn new(mut extra: Vec<u32>, slots: u32) -> Self {
        // Hand out the lowest index first, so images sit in the order they were prepared.
        extra.reverse();
        SwapPool {
            images: Vec::with_capacity(extra.len()),
            spares: Vec::with_capacity(extra.len()),
            free: extra,
            placed: vec![None; slots as usize],
        }
    }

    /// Images the pool can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.images.len() + self.free.len()
    }

    /// Take a free extra buffer for a new image of `len` bytes.
    pub(crate) fn add(&mut self, len: usize) -> Option<(PreparedId, u32)> {
        let buf = self.free.pop()?;
        let id = self.images.len() as u32;
        self.images.push(Image {
            buf,
            len: len as u32,
            slot: None,
        });
        Some((PreparedId(id), buf))
    }

    #[inline]
    pub(crate) fn image(&self, id: PreparedId) -> Option<Image> {
        self.images.get(id.0 as usize).copied()
    }

    /// Give slot `i` a buffer of its own again if an image is placed in it. The slot must
    /// be free (owned by user space, not queued).
    #[inline]
    pub(crate) fn restore(&mut self, ring: &Ring, i: u32) {
        let Some(img) = self.placed[i as usize].take() else {
            return;
        };
        // There is a spare for every placed image.
        let Some(spare) = self.spares.pop() else {
            debug_assert!(false, "no spare buffer for a placed image");
            return;
        };
        let flags = ring.slot(i).flags | NS_BUF_CHANGED;
        ring.set_buf(i, spare, flags);
        self.images[img as usize].slot = None;
    }

    /// Put image `id`'s buffer in free slot `i`, keeping what `i` pointed at. The image must
    /// not be placed in any other slot.
    #[inline]
    pub(crate) fn place(&mut self, ring: &Ring, id: PreparedId, i: u32) {
        let img = &mut self.images[id.0 as usize];
        debug_assert_eq!(img.slot, None);
        let old = ring.slot(i);
        match self.placed[i as usize].replace(id.0) {
            // Another image's buffer: that image is simply home again.
            Some(other) => self.images[other as usize].slot = None,
            None => self.spares.push(old.buf_idx),
        }
        let img = &mut self.images[id.0 as usize];
        img.slot = Some(i);
        ring.set_buf(i, img.buf, old.flags | NS_BUF_CHANGED);
    }

    /// Move image `id`, placed in a slot still in flight, to a spare buffer: the slot keeps
    /// the old buffer (and the frame queued in it) as its own. Returns `(old, new)`; the
    /// caller copies the image's bytes from `old` to `new`.
    pub(crate) fn detach(&mut self, id: PreparedId) -> Option<(u32, u32)> {
        let i = id.0 as usize;
        let img = *self.images.get(i)?;
        let slot = img.slot?;
        let new = self.spares.pop()?;
        self.placed[slot as usize] = None;
        self.images[i] = Image {
            buf: new,
            len: img.len,
            slot: None,
        };
        Some((img.buf, new))
    }

    /// Every buffer the pool holds outside the ring: free extra buffers, spares and the
    /// buffers of images not placed in a slot.
    pub(crate) fn owned(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.free.len() + self.spares.len() + self.images.len());
        v.extend_from_slice(&self.free);
        v.extend_from_slice(&self.spares);
        v.extend(
            self.images
                .iter()
                .filter(|m| m.slot.is_none())
                .map(|m| m.buf),
        );
        v
    }
}
