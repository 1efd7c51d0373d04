//! `pcap`: a wrapper that records every frame a port receives and sends to a pcap file.
//!
//! [`PcapPort`] stacks on any [`Port`] (as the `impair` wrapper does, through
//! [`Port::into_parts`]) and writes a classic libpcap file: nanosecond timestamps (magic
//! `0xa1b23c4d`), version 2.4, link type 1 (Ethernet), snap length 65535 or the port's
//! largest frame (a TX slot, a TSO super-frame) if that is larger, up to the 262,144 that
//! libpcap accepts for Ethernet. Wireshark, tshark and tcpdump read it as it is.
//!
//! # What is captured, and where
//!
//! - RX: each frame the inner port hands up, before the callback sees it (callbacks may
//!   rewrite received frames in place, e.g. a reflector swapping MACs). A VLAN tag the NIC
//!   stripped ([`RxFlags::VLAN_STRIPPED`](crate::RxFlags::VLAN_STRIPPED)) is put back, as
//!   libpcap does, so the record is the frame as it was on the wire.
//! - TX through `reserve`/`commit`: at `commit`, the slot is read back with a second
//!   `reserve` of the inner port (the [`TxQueue`] contract: a slot reserved and not
//!   committed is handed out again), so no copy is added to the send path beyond the
//!   capture's own.
//! - TX through `commit_tso`: the super-frame as committed, once, like tcpdump on a Linux
//!   host whose NIC does TSO: one frame of up to 65,549 bytes whose TCP checksum field holds
//!   only the pseudo-header sum (tshark flags it "incorrect", as it does there). The snap
//!   length is at least [`TxQueue::tso_max`] of the inner port, so the record is whole.
//!   [`TxQueue::tso_max`] and [`TxQueue::commit_tso`] are the inner port's.
//! - TX through `send_prepared`: inside the inner port's `rewrite` call, right after the
//!   caller's rewrite, so the record holds the final rewritten bytes in both
//!   [`PrepMode`]s on every backend: the pool image before a pre-copy reference or copy is
//!   queued (pipe, AF_PACKET, TAP, sink), the TX slot after a memcpy, the scratch frame
//!   of the impair wrapper. Zero-copy prepared sends stay zero-copy
//!   ([`Capabilities::zero_copy_prepared`] is passed through unchanged).
//! - A frame the inner TX refuses (ring full, bad length, unknown prepared id) is not
//!   recorded: the record is taken out again when `commit` or `send_prepared` fails.
//!   Frames the kernel refuses later, at `flush` (counted as `tx_errors`), are recorded:
//!   the capture shows what the stack sent.
//!
//! # Cost
//!
//! Records are appended to a buffer in each half and written to the file with one
//! `write` per RX burst (at its end) and per TX flush, so the per-frame path is a copy
//! into memory: no system call, no lock, no clock read. The clock (`CLOCK_REALTIME`) is
//! read once per non-empty burst and once per flush: received frames carry the time
//! their burst was taken, sent frames the time of the kick that handed them to the NIC
//! (their headers are stamped at flush). Empty polls cost nothing.
//! On the pipe pair (bursts of 64, output to `/dev/null`) capturing one direction adds
//! about 7-10 ns to a 64-byte frame and 40-50 ns to a 1514-byte one: the copy.
//!
//! # Order in the file
//!
//! Records are in the order of the writes: a burst's received frames, then the frames
//! kicked by the next flush. A flush made from inside a receive callback (a full TX ring)
//! holds its records until the burst ends, so replies never appear before the requests
//! of their burst and timestamps do not go backwards.
//!
//! # Errors
//!
//! A failed write (disk full) stops the capture, counts a
//! [`write_errors`](PcapStats::write_errors), calls the [`on_error`](PcapPort::on_error)
//! hook once, and from then on frames are only counted as
//! [`not_captured`](PcapStats::not_captured). Traffic never stops because of capture. The
//! file then ends where the failed write stopped (readers report a cut last record).

use crate::prepared::{PrepMode, PreparedId};
use crate::{Capabilities, Error, Port, PortStats, RxFlags, RxMeta, RxQueue, TxQueue};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Magic number of a classic pcap file with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// The smallest snap length written (and the usual one).
pub const MIN_SNAPLEN: usize = 65_535;
/// The largest snap length readers accept for Ethernet.
const MAX_SNAPLEN: usize = 262_144;
const VLAN_TAG_LEN: usize = 4;
/// Room reserved up front in each half's buffer, so the first bursts do not allocate.
const INITIAL_BUFFER: usize = 256 * 1024;

/// What the capture did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Frames written to the file.
    pub frames: u64,
    /// Bytes written to the file (headers included).
    pub bytes: u64,
    /// Frames written cut to the snap length.
    pub truncated: u64,
    /// Frames received or sent after the capture stopped (or lost with the failed write).
    pub not_captured: u64,
    /// Failed writes (at most 1: the first one stops the capture).
    pub write_errors: u64,
}

/// The file end, shared by the two halves and locked once per burst or flush.
struct Sink {
    /// `None` once a write has failed.
    out: Option<Box<dyn Write + Send>>,
    /// Records of a flush made while a receive burst was in progress (see the module docs).
    deferred: Records,
    stats: PcapStats,
    on_error: Option<ErrorHook>,
}

/// Told once when a write fails and the capture stops.
type ErrorHook = Box<dyn FnMut(&io::Error) + Send>;

impl Sink {
    /// Write whole records; on failure stop the capture and count what was lost.
    fn write(&mut self, recs: &Records) {
        if recs.count == 0 {
            return;
        }
        let Some(out) = self.out.as_mut() else {
            self.stats.not_captured += recs.count;
            return;
        };
        match out.write_all(&recs.buf) {
            Ok(()) => {
                self.stats.frames += recs.count;
                self.stats.bytes += recs.buf.len() as u64;
                self.stats.truncated += recs.truncated;
            }
            Err(e) => {
                self.stats.write_errors += 1;
                self.stats.not_captured += recs.count;
                self.out = None;
                if let Some(f) = self.on_error.as_mut() {
                    f(&e);
                }
            }
        }
    }

    fn write_deferred(&mut self) {
        if self.deferred.count > 0 {
            let d = std::mem::replace(&mut self.deferred, Records::new(0, 0));
            self.write(&d);
            self.deferred = d;
            self.deferred.clear();
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.write_deferred();
        if let Some(out) = self.out.as_mut() {
            // Nothing is left to tell at drop; a `BufWriter` given by the caller is flushed.
            let _ = out.flush();
        }
    }
}

struct Shared {
    sink: Mutex<Sink>,
    /// A receive burst is handing frames up (flushes from its callbacks are deferred).
    rx_active: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sink> {
        // Counters and a writer only: a panic elsewhere leaves nothing inconsistent.
        self.sink.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A run of pcap records in memory, waiting for their write.
struct Records {
    buf: Vec<u8>,
    count: u64,
    truncated: u64,
    snaplen: usize,
}

/// Where a [`Records`] was, to take back a record whose send failed.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    count: u64,
    truncated: u64,
}

/// Seconds and nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
fn realtime() -> [u8; 8] {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    // The pcap format has 32-bit seconds: good until 2106.
    let mut ts = [0u8; 8];
    ts[..4].copy_from_slice(&(d.as_secs() as u32).to_le_bytes());
    ts[4..].copy_from_slice(&d.subsec_nanos().to_le_bytes());
    ts
}

impl Records {
    fn new(capacity: usize, snaplen: usize) -> Self {
        Records {
            buf: Vec::with_capacity(capacity),
            count: 0,
            truncated: 0,
            snaplen,
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
        self.truncated = 0;
    }

    #[inline]
    fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            count: self.count,
            truncated: self.truncated,
        }
    }

    #[inline]
    fn rollback(&mut self, m: Mark) {
        self.buf.truncate(m.len);
        self.count = m.count;
        self.truncated = m.truncated;
    }

    /// Append one record. `vlan_tci` puts back an 802.1Q tag the NIC stripped.
    #[inline]
    fn push(&mut self, ts: [u8; 8], frame: &[u8], vlan_tci: Option<u16>) {
        let tag = match vlan_tci {
            Some(tci) if frame.len() >= 12 => {
                let t = tci.to_be_bytes();
                Some([0x81, 0x00, t[0], t[1]])
            }
            _ => None,
        };
        let orig = frame.len() + tag.map_or(0, |_| VLAN_TAG_LEN);
        let incl = orig.min(self.snaplen);
        if incl < orig {
            self.truncated += 1;
        }
        self.buf.reserve(RECORD_HEADER_LEN + incl);
        self.buf.extend_from_slice(&ts);
        self.buf.extend_from_slice(&(incl as u32).to_le_bytes());
        self.buf.extend_from_slice(&(orig as u32).to_le_bytes());
        match tag {
            None => self.buf.extend_from_slice(&frame[..incl]),
            Some(tag) => {
                let mut left = incl;
                for part in [&frame[..12], &tag[..], &frame[12..]] {
                    let k = part.len().min(left);
                    self.buf.extend_from_slice(&part[..k]);
                    left -= k;
                }
            }
        }
        self.count += 1;
    }

    /// Set the timestamp of every record.
    fn stamp(&mut self, ts: [u8; 8]) {
        let mut off = 0;
        while off + RECORD_HEADER_LEN <= self.buf.len() {
            self.buf[off..off + 8].copy_from_slice(&ts);
            let incl = u32::from_le_bytes([
                self.buf[off + 8],
                self.buf[off + 9],
                self.buf[off + 10],
                self.buf[off + 11],
            ]) as usize;
            off += RECORD_HEADER_LEN + incl;
        }
    }
}

/// The 24-byte file header.
pub fn file_header(snaplen: u32) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs (8..16) stay 0.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// Receive half of a [`PcapPort`].
pub struct PcapRx<R> {
    inner: R,
    shared: Arc<Shared>,
    recs: Records,
    /// Cached from the sink after each write: the capture is still running.
    on: bool,
    not_captured: u64,
}

impl<R> PcapRx<R> {
    /// Write the burst's records, then whatever a flush inside the burst held back.
    fn end_burst(&mut self) {
        let mut sink = self.shared.lock();
        sink.write(&self.recs);
        sink.write_deferred();
        self.shared.rx_active.store(false, Ordering::Relaxed);
        self.on = sink.out.is_some();
        drop(sink);
        self.recs.clear();
    }
}

impl<R: RxQueue> RxQueue for PcapRx<R> {
    #[inline]
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, mut f: F) -> usize {
        if !self.on {
            let n = self.inner.recv_burst(max, f);
            self.not_captured += n as u64;
            return n;
        }
        let (recs, shared) = (&mut self.recs, &self.shared);
        let mut ts = None;
        let n = self.inner.recv_burst(max, |frame, meta| {
            let t = *ts.get_or_insert_with(|| {
                shared.rx_active.store(true, Ordering::Relaxed);
                realtime()
            });
            let vlan = meta
                .flags
                .contains(RxFlags::VLAN_STRIPPED)
                .then_some(meta.vlan_tci);
            recs.push(t, frame, vlan);
            f(frame, meta)
        });
        if ts.is_some() {
            self.end_burst();
        }
        n
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.inner.wait(timeout)
    }

    fn stats(&self) -> PortStats {
        self.inner.stats()
    }
}

/// Transmit half of a [`PcapPort`].
pub struct PcapTx<T> {
    inner: T,
    shared: Arc<Shared>,
    recs: Records,
    on: bool,
    /// The caller holds a reservation of the inner port.
    reserved: bool,
    not_captured: u64,
}

impl<T> PcapTx<T> {
    /// Stamp the records of this kick and write them (or hold them for the end of a
    /// receive burst in progress).
    fn write_out(&mut self) {
        if self.recs.count == 0 {
            return;
        }
        self.recs.stamp(realtime());
        let mut sink = self.shared.lock();
        if self.shared.rx_active.load(Ordering::Relaxed) && sink.out.is_some() {
            sink.deferred.buf.extend_from_slice(&self.recs.buf);
            sink.deferred.count += self.recs.count;
            sink.deferred.truncated += self.recs.truncated;
        } else {
            sink.write(&self.recs);
        }
        self.on = sink.out.is_some();
        drop(sink);
        self.recs.clear();
    }
}

impl<T: TxQueue> PcapTx<T> {
    /// Record the reserved slot's first `len` bytes, then `commit` it on the inner port;
    /// the record is taken back if the inner port refuses.
    #[inline]
    fn record_commit(&mut self, len: usize, commit: impl FnOnce(&mut T) -> bool) -> bool {
        if !std::mem::take(&mut self.reserved) || !self.on {
            // Without our reservation the inner commit fails and counts it; re-reserving
            // here would turn a caller's mistake into a send.
            let ok = commit(&mut self.inner);
            self.not_captured += u64::from(ok && !self.on);
            return ok;
        }
        let mark = self.recs.mark();
        // The slot just filled, lent again (see the module docs). Timestamps come at flush.
        if let Some(slot) = self.inner.reserve() {
            if len <= slot.len() {
                self.recs.push([0; 8], &slot[..len], None);
            }
        }
        let ok = commit(&mut self.inner);
        if !ok {
            self.recs.rollback(mark);
        }
        ok
    }
}

impl<T> Drop for PcapTx<T> {
    fn drop(&mut self) {
        // Frames committed and never kicked: the stack sent them, so they are recorded.
        self.write_out();
    }
}

impl<T: TxQueue> TxQueue for PcapTx<T> {
    #[inline]
    fn tx_space(&mut self) -> usize {
        self.inner.tx_space()
    }

    #[inline]
    fn slot_size(&self) -> usize {
        self.inner.slot_size()
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        let slot = self.inner.reserve();
        self.reserved = slot.is_some();
        slot
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        self.record_commit(len, |tx| tx.commit(len))
    }

    fn disable_csum_offload(&mut self) {
        self.inner.disable_csum_offload();
    }

    #[inline]
    fn tso_max(&self) -> usize {
        self.inner.tso_max()
    }

    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        self.record_commit(len, |tx| tx.commit_tso(len, mss))
    }

    fn pending(&self) -> usize {
        // Frames held by an inner wrapper (impair delays) are committed but not pending
        // there; counting our unwritten records makes the loop flush, which writes them.
        self.inner.pending().max(self.recs.count as usize)
    }

    fn flush(&mut self) -> Result<usize, Error> {
        let r = self.inner.flush();
        self.write_out();
        r
    }

    fn prepare(&mut self, image: &[u8]) -> Result<PreparedId, Error> {
        self.inner.prepare(image)
    }

    fn prepared(&self, id: PreparedId) -> Option<&[u8]> {
        self.inner.prepared(id)
    }

    fn prepared_mut(&mut self, id: PreparedId) -> Option<&mut [u8]> {
        self.inner.prepared_mut(id)
    }

    #[inline]
    fn send_prepared<Rw: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: Rw,
    ) -> bool {
        self.reserved = false;
        if !self.on {
            let ok = self.inner.send_prepared(id, mode, rewrite);
            self.not_captured += u64::from(ok);
            return ok;
        }
        let mark = self.recs.mark();
        let recs = &mut self.recs;
        let mut seen = false;
        let ok = self.inner.send_prepared(id, mode, |frame| {
            rewrite(frame);
            recs.push([0; 8], frame, None);
            seen = true;
        });
        if !ok {
            self.recs.rollback(mark);
        } else if !seen {
            // A backend that sent without calling `rewrite` sent the image as it is.
            if let Some(img) = self.inner.prepared(id) {
                self.recs.push([0; 8], img, None);
            }
        }
        ok
    }

    fn stats(&self) -> PortStats {
        self.inner.stats()
    }
}

/// Any port, with every frame it receives and sends written to a pcap file.
pub struct PcapPort<P: Port> {
    rx: PcapRx<P::Rx>,
    tx: PcapTx<P::Tx>,
    caps: Capabilities,
}

impl<P: Port> PcapPort<P> {
    /// Wrap `inner`, capturing to a new file at `path` (replaced if it exists).
    pub fn create(inner: P, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| Error::Io {
            what: format!("create capture file {}", path.display()),
            source: e,
        })?;
        Self::with_writer(inner, file).map_err(|e| match e {
            Error::Io { source, .. } => Error::Io {
                what: format!("write capture file {}", path.display()),
                source,
            },
            e => e,
        })
    }

    /// Wrap `inner`, capturing to `out` (the file header is written at once). `out` sees
    /// one `write_all` per burst or flush; give it a plain `File`, not a `BufWriter`, so
    /// the file is whole up to the last burst even if the process is killed.
    pub fn with_writer(inner: P, mut out: impl Write + Send + 'static) -> Result<Self, Error> {
        let (rx, tx, caps) = inner.into_parts();
        let snaplen = MIN_SNAPLEN
            .max(caps.max_frame + VLAN_TAG_LEN)
            .max(tx.slot_size())
            .max(tx.tso_max())
            .min(MAX_SNAPLEN);
        out.write_all(&file_header(snaplen as u32))
            .map_err(|e| Error::Io {
                what: "write capture file header".into(),
                source: e,
            })?;
        let shared = Arc::new(Shared {
            sink: Mutex::new(Sink {
                out: Some(Box::new(out)),
                deferred: Records::new(0, snaplen),
                stats: PcapStats::default(),
                on_error: None,
            }),
            rx_active: AtomicBool::new(false),
        });
        Ok(PcapPort {
            rx: PcapRx {
                inner: rx,
                shared: shared.clone(),
                recs: Records::new(INITIAL_BUFFER, snaplen),
                on: true,
                not_captured: 0,
            },
            tx: PcapTx {
                inner: tx,
                shared,
                recs: Records::new(INITIAL_BUFFER, snaplen),
                on: true,
                reserved: false,
                not_captured: 0,
            },
            caps,
        })
    }

    /// Call `f` once, with the error, if a write fails and the capture stops (to tell the
    /// user; traffic goes on either way).
    pub fn on_error(self, f: impl FnMut(&io::Error) + Send + 'static) -> Self {
        self.rx.shared.lock().on_error = Some(Box::new(f));
        self
    }

    /// What the capture has done so far (frames still buffered are not counted yet).
    pub fn capture_stats(&self) -> PcapStats {
        let mut s = self.rx.shared.lock().stats;
        s.not_captured += self.rx.not_captured + self.tx.not_captured;
        s
    }

    /// The snap length written in the file header.
    pub fn snaplen(&self) -> usize {
        self.rx.recs.snaplen
    }
}

crate::port::port_from_fields!(impl[P: Port] PcapPort<P> => PcapRx<P::Rx>, PcapTx<P::Tx>);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(r: &Records, i: usize) -> (u32, u32, Vec<u8>) {
        let mut off = 0;
        let mut n = 0;
        loop {
            let h = &r.buf[off..off + RECORD_HEADER_LEN];
            let incl = u32::from_le_bytes(h[8..12].try_into().unwrap());
            let orig = u32::from_le_bytes(h[12..16].try_into().unwrap());
            let body = &r.buf[off + 16..off + 16 + incl as usize];
            if n == i {
                return (incl, orig, body.to_vec());
            }
            off += 16 + incl as usize;
            n += 1;
        }
    }

    #[test]
    fn stripped_vlan_tag_is_put_back_after_the_macs() {
        let mut r = Records::new(0, MIN_SNAPLEN);
        let frame: Vec<u8> = (0..20).collect();
        r.push([0; 8], &frame, Some(0x2064));
        let (incl, orig, body) = record(&r, 0);
        assert_eq!((incl, orig), (24, 24));
        assert_eq!(&body[..12], &frame[..12]);
        assert_eq!(&body[12..16], &[0x81, 0x00, 0x20, 0x64]);
        assert_eq!(&body[16..], &frame[12..]);
    }

    #[test]
    fn frames_above_the_snap_length_are_cut_and_keep_their_length() {
        let mut r = Records::new(0, 16);
        r.push([0; 8], &[7; 40], None);
        r.push([0; 8], &[9; 20], Some(5));
        assert_eq!(r.truncated, 2);
        assert_eq!(record(&r, 0), (16, 40, vec![7; 16]));
        let (incl, orig, body) = record(&r, 1);
        assert_eq!((incl, orig), (16, 24));
        assert_eq!(&body[12..16], &[0x81, 0, 0, 5]);
    }

    #[test]
    fn stamping_and_rollback_keep_records_whole() {
        let mut r = Records::new(0, MIN_SNAPLEN);
        r.push([0; 8], &[1; 30], None);
        let m = r.mark();
        r.push([0; 8], &[2; 50], None);
        r.rollback(m);
        r.push([0; 8], &[3; 10], None);
        r.stamp([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(r.count, 2);
        assert_eq!(r.buf.len(), 2 * 16 + 40);
        assert_eq!(&r.buf[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&r.buf[46..54], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(record(&r, 1).2, vec![3; 10]);
    }

    /// A capture file in memory, shared with the test.
    #[derive(Clone, Default)]
    struct MemFile(Arc<Mutex<Vec<u8>>>);

    impl Write for MemFile {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn tso_super_frame_is_recorded_whole_as_committed() {
        use crate::backend::pipe::{pair, PipeConfig};
        use crate::tso;
        let (a, mut b) = pair(PipeConfig {
            tso_max: tso::MAX_FRAME,
            clock: Some(crate::VirtualClock::new(crate::Instant::ZERO)),
            ..Default::default()
        })
        .unwrap();
        let file = MemFile::default();
        let mut a = PcapPort::with_writer(a, file.clone()).unwrap();
        assert_eq!(a.tx().tso_max(), tso::MAX_FRAME);
        assert!(a.snaplen() >= tso::MAX_FRAME);

        // The largest super-frame there is: 65,535 bytes of IPv4.
        let f = tso::tests::super_frame(65_535 - 40, 0x18, 1, 1, &[]);
        assert_eq!(f.len(), tso::MAX_FRAME);
        let mut send = |mss: u16| {
            let slot = a.tx().reserve().unwrap();
            slot[..f.len()].copy_from_slice(&f);
            a.tx().commit_tso(f.len(), mss)
        };
        assert!(!send(1461), "refused by the pipe: no record");
        assert!(send(1448));
        a.tx().flush().unwrap();
        let mut segs = 0;
        while b.rx().recv_burst(64, |s, _| {
            assert!(s.len() <= 1514);
            segs += 1;
        }) > 0
        {}
        assert_eq!(segs, (65_535 - 40usize).div_ceil(1448));

        let out = file.0.lock().unwrap().clone();
        let snaplen = u32::from_le_bytes(out[16..20].try_into().unwrap()) as usize;
        assert!(snaplen >= tso::MAX_FRAME, "{snaplen}");
        let h = &out[FILE_HEADER_LEN..FILE_HEADER_LEN + RECORD_HEADER_LEN];
        let incl = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
        assert_eq!((incl, orig), (f.len(), f.len()));
        let body = &out[FILE_HEADER_LEN + RECORD_HEADER_LEN..];
        assert_eq!(body, &f[..], "one record, the super-frame as committed");
        assert_eq!(a.capture_stats().frames, 1);
        assert_eq!(a.capture_stats().truncated, 0);
        assert_eq!(a.stats().tx_tso, 1);
    }
}
