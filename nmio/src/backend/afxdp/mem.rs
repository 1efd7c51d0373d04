//! Memory mappings: the UMEM area and the four rings the kernel shares with us.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::{self, NonNull};

/// A memory mapping, unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone; moving it to another
// thread moves the only handle to it.
unsafe impl Send for Mapping {}
// SAFETY: `Mapping` hands out raw pointers only; every user documents which part of the
// memory it alone touches (the UMEM frames are partitioned between the RX half, the TX
// half and the prepared pool), and the kernel's side synchronises through the rings.
unsafe impl Sync for Mapping {}

/// Size of a huge page for `MAP_HUGETLB` (the x86-64 and arm64 default).
const HUGE_PAGE: usize = 2 << 20;

impl Mapping {
    /// A private anonymous area of at least `len` bytes for the UMEM, on huge pages if
    /// `huge` (then rounded up to whole huge pages). Zero-filled.
    pub(super) fn anonymous(len: usize, huge: bool) -> io::Result<Mapping> {
        let (len, extra) = if huge {
            (len.div_ceil(HUGE_PAGE) * HUGE_PAGE, libc::MAP_HUGETLB)
        } else {
            (len, 0)
        };
        // SAFETY: a fresh anonymous mapping with no address hint; the result is checked.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE | extra,
                -1,
                0,
            )
        };
        Self::checked(p, len)
    }

    /// Map `len` bytes of one of the socket's rings at page offset `pgoff`.
    pub(super) fn ring(fd: &OwnedFd, len: usize, pgoff: i64) -> io::Result<Mapping> {
        // SAFETY: a shared mapping of the socket's ring with no address hint; the kernel
        // checks `len` and `pgoff` against the ring it created, and the result is checked.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff,
            )
        };
        Self::checked(p, len)
    }

    fn checked(p: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mapped at address 0"))?;
        Ok(Mapping { base, len })
    }

    #[inline]
    pub(super) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are what mmap returned; no pointer into the mapping outlives
        // its owner (rings and frame slices borrow the port that owns the mapping).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}
