//! The TCP header (RFC 9293 3.1) and its options (RFC 9293 3.2, RFC 7323, RFC 2018): a
//! checked view and a value type.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      [Options, padded]                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             Data                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! TCP has no length field: the segment is whatever the IP layer hands up, already cut at
//! the IPv4 total length, so the view's buffer is exactly the segment and the checksum
//! covers all of it (with the IPv4 pseudo-header).
//!
//! Options are reported, not judged: an MSS on a non-SYN segment or a SACK block outside
//! the window is the state machine's business. Only malformed option bytes are an error
//! here (RFC 9293 3.1 MUST-7 asks a TCP to be prepared for an illegal option length).

use crate::seq::Seq;
use core::fmt;
use eth::checksum;
use eth::wire::{clamp, get_u16, put_u16, Ipv4Addr, WireError};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    /// Data offset in the high nibble; the low nibble is reserved.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Option kinds (RFC 9293 3.2, RFC 2018 2-3, RFC 7323 2.2 and 3.2).
mod kind {
    pub const END_OF_LIST: u8 = 0;
    pub const NO_OP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Bytes of the TCP header without options (data offset 5).
pub const HEADER_LEN: usize = 20;
/// Bytes of the largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Most option bytes a header can carry.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;
/// RFC 7323 2.3: the largest window scale shift count.
pub const MAX_WINDOW_SCALE: u8 = 14;

#[inline]
fn get_u32(buf: &[u8], range: core::ops::Range<usize>) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&buf[range]);
    u32::from_be_bytes(word)
}

#[inline]
fn put_u32(buf: &mut [u8], range: core::ops::Range<usize>, value: u32) {
    buf[range].copy_from_slice(&value.to_be_bytes());
}

bitflags::bitflags! {
    /// The control bits (RFC 9293 3.1; ECE and CWR from RFC 3168 23.2).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TcpFlags: u8 {
        const FIN = 0x01;
        const SYN = 0x02;
        const RST = 0x04;
        const PSH = 0x08;
        const ACK = 0x10;
        const URG = 0x20;
        const ECE = 0x40;
        const CWR = 0x80;
    }
}

/// A checked view of a TCP segment: header, options and payload, and nothing after.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checks; for emitting into at least `TcpRepr::buffer_len()`
    /// bytes. The fixed-field accessors panic on a buffer shorter than `HEADER_LEN`.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a received segment after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than 20 bytes; `BadHeaderLen` if the data
    /// offset is below 5 (RFC 9293 3.1: the header is at least 20 bytes); `Truncated` if
    /// the header, by its data offset, runs past the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    #[inline]
    pub fn seq(&self) -> Seq {
        Seq(get_u32(self.buffer.as_ref(), field::SEQ))
    }

    #[inline]
    pub fn ack(&self) -> Seq {
        Seq(get_u32(self.buffer.as_ref(), field::ACK))
    }

    /// Header length in bytes, options included (the data offset times 4). The reserved
    /// bits beside the data offset are ignored (RFC 9293 3.1).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits_retain(self.buffer.as_ref()[field::FLAGS])
    }

    #[inline]
    pub fn window(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn urgent(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes between the fixed header and the data offset (clamped to the
    /// buffer), to read with [`options_iter`] or [`TcpOptions::parse`].
    #[inline]
    pub fn options(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), HEADER_LEN, self.header_len())]
    }

    /// Everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        &buf[clamp(buf.len(), self.header_len().max(HEADER_LEN), buf.len())]
    }

    /// RFC 9293 3.3.1 SEG.LEN: payload bytes plus one each for SYN and FIN, the sequence
    /// space the segment occupies.
    #[inline]
    pub fn segment_len(&self) -> usize {
        let flags = self.flags();
        self.payload().len()
            + usize::from(flags.contains(TcpFlags::SYN))
            + usize::from(flags.contains(TcpFlags::FIN))
    }

    /// The checksum over the whole buffer with the pseudo-header of `src -> dst` verifies
    /// (RFC 9293 3.1 "Checksum").
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::l4_verify(
            src.octets(),
            dst.octets(),
            checksum::PROTO_TCP,
            self.buffer.as_ref(),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, v)
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, v)
    }

    #[inline]
    pub fn set_seq(&mut self, v: Seq) {
        put_u32(self.buffer.as_mut(), field::SEQ, v.0)
    }

    #[inline]
    pub fn set_ack(&mut self, v: Seq) {
        put_u32(self.buffer.as_mut(), field::ACK, v.0)
    }

    /// The data offset for a header of `len` bytes (a multiple of 4, 20..=60). Clears the
    /// reserved bits: RFC 9293 3.1 says they must be zero in generated segments.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(
            len & 3 == 0 && (HEADER_LEN..=MAX_HEADER_LEN).contains(&len),
            "TCP header length {len}"
        );
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8 & 0x0f) << 4;
    }

    #[inline]
    pub fn set_flags(&mut self, v: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = v.bits();
    }

    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::WINDOW, v)
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT, v)
    }

    /// The option bytes, mutably, as [`options`](TcpPacket::options) bounds them (so set
    /// the header length first).
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), HEADER_LEN, header_len);
        &mut buf[range]
    }

    /// The payload, mutably, as [`payload`](TcpPacket::payload) bounds it.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len().max(HEADER_LEN);
        let buf = self.buffer.as_mut();
        let range = clamp(buf.len(), start, buf.len());
        &mut buf[range]
    }

    /// Compute and store the checksum over the whole buffer for `src -> dst`.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum(
            src.octets(),
            dst.octets(),
            checksum::PROTO_TCP,
            self.buffer.as_ref(),
        );
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// One SACK block (RFC 2018 3): `left` is the first sequence number of a block the
/// receiver holds, `right` the one just past its end. Not checked for `left < right`; the
/// sender's scoreboard decides what to trust.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SackBlock {
    pub left: Seq,
    pub right: Seq,
}

/// Up to four SACK blocks, the most a header can carry (RFC 2018 3), without allocating.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; SackBlocks::MAX],
    len: u8,
}

impl SackBlocks {
    /// Blocks that fit in 40 option bytes: 2 + 8 * 4 = 34 (RFC 2018 3).
    pub const MAX: usize = 4;

    pub const fn new() -> Self {
        SackBlocks {
            blocks: [SackBlock {
                left: Seq(0),
                right: Seq(0),
            }; SackBlocks::MAX],
            len: 0,
        }
    }

    /// The first [`MAX`](Self::MAX) of `blocks`. RFC 2018 4 puts the most recent block
    /// first, so the ones dropped are the oldest.
    pub fn from_slice(blocks: &[SackBlock]) -> Self {
        let mut s = Self::new();
        for &b in blocks.iter().take(Self::MAX) {
            s.push(b);
        }
        s
    }

    /// Appends a block; false (and no change) when four are held already.
    pub fn push(&mut self, block: SackBlock) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = block;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        *self = Self::new();
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }

    pub fn iter(&self) -> core::slice::Iter<'_, SackBlock> {
        self.as_slice().iter()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<'a> IntoIterator for &'a SackBlocks {
    type Item = &'a SackBlock;
    type IntoIter = core::slice::Iter<'a, SackBlock>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One option as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: the options end here; what follows up to the data offset is padding.
    EndOfList,
    /// Kind 1: one byte of padding between options.
    NoOp,
    /// Kind 2 (RFC 9293 3.2, 3.7.1): the largest segment the sender can receive.
    Mss(u16),
    /// Kind 3 (RFC 7323 2.2): the shift count as sent, not clamped.
    WindowScale(u8),
    /// Kind 4 (RFC 2018 2).
    SackPermitted,
    /// Kind 5 (RFC 2018 3): one to four blocks.
    Sack(SackBlocks),
    /// Kind 8 (RFC 7323 3.2).
    Timestamps { tsval: u32, tsecr: u32 },
    /// Any other kind with a well-formed length; `data` excludes kind and length bytes.
    Unknown { kind: u8, data: &'a [u8] },
}

/// The options in `bytes` in order. Stops after `EndOfList`; a malformed option yields one
/// `Err(WireError::BadOption)` and ends the iteration.
pub fn options_iter(bytes: &[u8]) -> TcpOptionIter<'_> {
    TcpOptionIter { rest: bytes }
}

/// The iterator of [`options_iter`].
#[derive(Clone, Debug)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.rest;
        let (&kind, after) = bytes.split_first()?;
        // RFC 9293 3.1: End of Option List and No-Operation are single bytes; every other
        // option has a length byte that counts the kind and length bytes too.
        if kind == kind::END_OF_LIST {
            self.rest = &[];
            return Some(Ok(TcpOption::EndOfList));
        }
        if kind == kind::NO_OP {
            self.rest = after;
            return Some(Ok(TcpOption::NoOp));
        }
        match parse_option(kind, bytes) {
            Ok((option, len)) => {
                self.rest = &bytes[len..];
                Some(Ok(option))
            }
            Err(e) => {
                // Past a bad length nothing can be framed, so nothing more is read.
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for TcpOptionIter<'_> {}

/// An option with a length byte at the start of `bytes`, and its length.
fn parse_option(kind: u8, bytes: &[u8]) -> Result<(TcpOption<'_>, usize), WireError> {
    let len = usize::from(*bytes.get(1).ok_or(WireError::BadOption)?);
    if len < 2 || len > bytes.len() {
        return Err(WireError::BadOption);
    }
    let data = &bytes[2..len];
    let option = match kind {
        kind::MSS => match data {
            [hi, lo] => TcpOption::Mss(u16::from_be_bytes([*hi, *lo])),
            _ => return Err(WireError::BadOption),
        },
        kind::WINDOW_SCALE => match data {
            [shift] => TcpOption::WindowScale(*shift),
            _ => return Err(WireError::BadOption),
        },
        kind::SACK_PERMITTED if data.is_empty() => TcpOption::SackPermitted,
        kind::SACK => {
            // RFC 2018 3: length 8n + 2 for n blocks; 40 option bytes hold at most 4.
            let n = data.len() / 8;
            if n * 8 != data.len() || !(1..=SackBlocks::MAX).contains(&n) {
                return Err(WireError::BadOption);
            }
            let mut blocks = SackBlocks::new();
            for b in data.chunks_exact(8) {
                blocks.push(SackBlock {
                    left: Seq(get_u32(b, 0..4)),
                    right: Seq(get_u32(b, 4..8)),
                });
            }
            TcpOption::Sack(blocks)
        }
        kind::TIMESTAMPS if data.len() == 8 => TcpOption::Timestamps {
            tsval: get_u32(data, 0..4),
            tsecr: get_u32(data, 4..8),
        },
        kind::SACK_PERMITTED | kind::TIMESTAMPS => return Err(WireError::BadOption),
        _ => TcpOption::Unknown { kind, data },
    };
    Ok((option, len))
}

/// The options this stack speaks, as values. Absent means "not sent".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// RFC 9293 3.7.1 and RFC 6691: the largest payload the sender will accept, not
    /// counting IP and TCP headers or options.
    pub mss: Option<u16>,
    /// RFC 7323 2: the shift count for the window the sender advertises. Parsing clamps
    /// it to 14, and so does emitting.
    pub window_scale: Option<u8>,
    /// RFC 2018 2: SACK may be used on this connection (meaningful on a SYN).
    pub sack_permitted: bool,
    /// RFC 7323 3.2: `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
    /// RFC 2018 3: the blocks received out of order, most recent first.
    pub sack: SackBlocks,
}

impl TcpOptions {
    /// Read the option bytes of a header. Unknown kinds are skipped (RFC 9293 3.1 MUST-6);
    /// when an option is repeated the last one wins; a malformed option is `BadOption`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut o = TcpOptions::default();
        for option in options_iter(bytes) {
            match option? {
                TcpOption::Mss(v) => o.mss = Some(v),
                // RFC 7323 2.3: a shift above 14 is used as 14 (the SHOULD to log it is
                // left to the caller, who sees the raw value through `options_iter`).
                TcpOption::WindowScale(v) => o.window_scale = Some(v.min(MAX_WINDOW_SCALE)),
                TcpOption::SackPermitted => o.sack_permitted = true,
                TcpOption::Sack(blocks) => o.sack = blocks,
                TcpOption::Timestamps { tsval, tsecr } => o.timestamps = Some((tsval, tsecr)),
                TcpOption::EndOfList | TcpOption::NoOp | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(o)
    }

    /// Option bytes before any SACK blocks; every piece is a multiple of 4.
    fn fixed_len(&self) -> usize {
        let mss = if self.mss.is_some() { 4 } else { 0 };
        let ts_or_sack_ok = match (self.timestamps, self.sack_permitted) {
            (Some(_), _) => 12,
            (None, true) => 4,
            (None, false) => 0,
        };
        let ws = if self.window_scale.is_some() { 4 } else { 0 };
        mss + ts_or_sack_ok + ws
    }

    /// How many SACK blocks `emit` writes: all that fit in 40 bytes after the other
    /// options and the 4 bytes of NOP, NOP, kind and length (RFC 2018 3: 3 with
    /// timestamps).
    pub fn sack_blocks_sent(&self) -> usize {
        let room = MAX_OPTIONS_LEN - self.fixed_len();
        self.sack.len().min(room.saturating_sub(4) / 8)
    }

    /// Bytes `emit` writes: a multiple of 4, at most 40.
    pub fn buffer_len(&self) -> usize {
        match self.sack_blocks_sent() {
            0 => self.fixed_len(),
            n => self.fixed_len() + 4 + 8 * n,
        }
    }

    /// Write the options as Linux lays them out, so 4-byte fields stay 4-byte aligned
    /// (RFC 7323 Appendix A): MSS; then SACK-permitted with timestamps (`4 2 8 10 ...`),
    /// or `NOP NOP` and whichever of the two is present; then `NOP` and window scale;
    /// then `NOP NOP` and the SACK blocks that fit. A Linux SYN is thus
    /// MSS(4) + SACKOK(2) TS(10) + NOP WS(3) = 20 bytes, and an ACK NOP NOP TS(10).
    /// Returns the bytes written, [`buffer_len`](Self::buffer_len).
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        const NOP: u8 = kind::NO_OP;
        let mut out = [0u8; MAX_OPTIONS_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            put(&[kind::MSS, 4, hi, lo]);
        }
        match (self.timestamps, self.sack_permitted) {
            (Some((tsval, tsecr)), sack_ok) => {
                if sack_ok {
                    put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    put(&[NOP, NOP]);
                }
                put(&[kind::TIMESTAMPS, 10]);
                put(&tsval.to_be_bytes());
                put(&tsecr.to_be_bytes());
            }
            (None, true) => put(&[NOP, NOP, kind::SACK_PERMITTED, 2]),
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            put(&[NOP, kind::WINDOW_SCALE, 3, shift.min(MAX_WINDOW_SCALE)]);
        }
        let n = self.sack_blocks_sent();
        if n > 0 {
            put(&[NOP, NOP, kind::SACK, (2 + 8 * n) as u8]);
            for b in &self.sack.as_slice()[..n] {
                put(&b.left.0.to_be_bytes());
                put(&b.right.0.to_be_bytes());
            }
        }
        buf[..at].copy_from_slice(&out[..at]);
        at
    }
}

/// A TCP header as a value; the payload is passed to `emit` separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: Seq,
    pub ack: Seq,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    /// Bytes after the header.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Check lengths (`Truncated`, `BadHeaderLen`), the checksum (`BadChecksum`) and the
    /// options (`BadOption`), in that order.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq(),
            ack: packet.ack(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: TcpOptions::parse(packet.options())?,
            payload_len: packet.payload().len(),
        })
    }

    /// Header bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// RFC 9293 3.3.1 SEG.LEN of the segment this emits.
    pub fn segment_len(&self) -> usize {
        self.payload_len
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Write header, options, `payload` (of `payload_len` bytes) and the checksum for
    /// `src -> dst`.
    ///
    /// # Panics
    /// As [`emit_header`](Self::emit_header), or if `payload.len() != payload_len`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
    ) {
        assert_eq!(payload.len(), self.payload_len, "TCP payload length");
        let start = self.header_len();
        packet.buffer.as_mut()[start..start + payload.len()].copy_from_slice(payload);
        self.emit_header(packet, src, dst);
    }

    /// Write the header and options in front of `payload_len` bytes already in place, and
    /// the checksum. The segment is the first `buffer_len()` bytes of the buffer, which may
    /// be longer (a TX slot); the checksum covers the segment only.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`, or the segment exceeds 65,535 bytes (a
    /// caller bug: no IPv4 packet carries it).
    #[inline]
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        let end = self.buffer_len();
        assert!(
            end <= usize::from(u16::MAX),
            "TCP segment above 65535 bytes"
        );
        self.write_fields(packet);
        let c = checksum::l4_checksum(
            src.octets(),
            dst.octets(),
            checksum::PROTO_TCP,
            &packet.buffer.as_ref()[..end],
        );
        packet.set_checksum(c);
    }

    /// Write the header and options with the checksum field zero, for a sink that fills the
    /// checksum in itself (offload). The buffer must hold `header_len()` bytes.
    #[inline]
    pub fn emit_header_unsummed<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        self.write_fields(packet);
    }

    /// Every header field and the options, with the checksum zero.
    #[inline]
    fn write_fields<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq(self.seq);
        packet.set_ack(self.ack);
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window(self.window);
        packet.set_checksum(0);
        packet.set_urgent(self.urgent);
        self.options.emit(packet.options_mut());
    }

    /// [`emit_header`](Self::emit_header) for a payload whose one's complement sum
    /// (`eth::checksum::sum(payload, 0)`) is known, as a prepared object's is: the checksum
    /// then costs a pass over the header only. The payload must already be in place.
    #[inline]
    pub fn emit_header_summed<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_sum: u32,
    ) {
        let end = self.buffer_len();
        assert!(
            end <= usize::from(u16::MAX),
            "TCP segment above 65535 bytes"
        );
        self.write_fields(packet);
        let pseudo = checksum::pseudo_header_sum(
            src.octets(),
            dst.octets(),
            checksum::PROTO_TCP,
            end as u16,
        );
        // The header length is a multiple of 4, so the payload's words line up.
        let header = checksum::sum(&packet.buffer.as_ref()[..self.header_len()], pseudo);
        let total = u64::from(header) + u64::from(payload_sum);
        let folded = ((total & 0xFFFF) + (total >> 16)) as u32;
        packet.set_checksum(checksum::finish(folded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const CLIENT_ISN: Seq = Seq(0x9a3c_1f00);
    const SERVER_ISN: Seq = Seq(0x5f3a_0c81);
    const CLIENT_TS: u32 = 0x0046_1c2a;
    const SERVER_TS: u32 = 0x7c30_a1b2;

    /// A SYN as Linux sends it, 192.0.2.1:40000 -> 192.0.2.2:80: window 64240, MSS 1460,
    /// SACK-permitted, timestamps (TSval 0x00461c2a, TSecr 0), NOP, window scale 7.
    /// Checksum: pseudo-header c000 + 0201 + c000 + 0202 + 0006 + 0028 = 0x18431 -> 0x8432;
    /// the segment's words with the checksum zero sum to 0x324fc -> 0x24ff;
    /// 0x8432 + 0x24ff = 0xa931, complement 0x56ce.
    #[rustfmt::skip]
    static SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, // 40000 -> 80
        0x9a, 0x3c, 0x1f, 0x00, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
        0x56, 0xce, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, 0x08, 0x0a, // SACK-permitted, timestamps...
        0x00, 0x46, 0x1c, 0x2a, // TSval
        0x00, 0x00, 0x00, 0x00, // TSecr
        0x01, 0x03, 0x03, 0x07, // NOP, window scale 7
    ];

    /// The SYN-ACK, 192.0.2.2:80 -> 192.0.2.1:40000: window 65160, the same options with
    /// TSval 0x7c30a1b2 and TSecr echoing the SYN's TSval.
    /// Checksum: pseudo-header 0x18431 -> 0x8432 (same addresses and length);
    /// segment 0x4b242 -> 0xb246; 0x8432 + 0xb246 = 0x13678 -> 0x3679, complement 0xc986.
    #[rustfmt::skip]
    static SYN_ACK: [u8; 40] = [
        0x00, 0x50, 0x9c, 0x40, // 80 -> 40000
        0x5f, 0x3a, 0x0c, 0x81, // seq
        0x9a, 0x3c, 0x1f, 0x01, // ack: the client's ISN + 1
        0xa0, 0x12, 0xfe, 0x88, // data offset 10, SYN|ACK, window 65160
        0xc9, 0x86, 0x00, 0x00,
        0x02, 0x04, 0x05, 0xb4,
        0x04, 0x02, 0x08, 0x0a,
        0x7c, 0x30, 0xa1, 0xb2,
        0x00, 0x46, 0x1c, 0x2a,
        0x01, 0x03, 0x03, 0x07,
    ];

    /// The client's pure ACK completing the handshake: window 502 (x128), NOP NOP
    /// timestamps. Checksum: pseudo-header c000 + 0201 + c000 + 0202 + 0006 + 0020 =
    /// 0x18429 -> 0x842a; segment 0x386ed -> 0x86f0; 0x842a + 0x86f0 = 0x10b1a -> 0x0b1b,
    /// complement 0xf4e4.
    #[rustfmt::skip]
    static ACK: [u8; 32] = [
        0x9c, 0x40, 0x00, 0x50,
        0x9a, 0x3c, 0x1f, 0x01,
        0x5f, 0x3a, 0x0c, 0x82,
        0x80, 0x10, 0x01, 0xf6, // data offset 8, ACK, window 502
        0xf4, 0xe4, 0x00, 0x00,
        0x01, 0x01, 0x08, 0x0a, // NOP, NOP, timestamps...
        0x00, 0x46, 0x1c, 0x2b,
        0x7c, 0x30, 0xa1, 0xb2,
    ];

    /// The client sends "ping" (PSH|ACK) while reporting two holes in what the server sent:
    /// it acknowledges server ISN+1+1448 and SACKs [ISN+1+2896, ISN+1+4344) and
    /// [ISN+1+5792, ISN+1+7240). Options NOP NOP TS, NOP NOP SACK(2 blocks).
    /// Checksum: pseudo-header ... + 0006 + 0038 = 0x18441 -> 0x8442; segment 0x6bfae ->
    /// 0xbfb4; 0x8442 + 0xbfb4 = 0x143f6 -> 0x43f7, complement 0xbc08.
    #[rustfmt::skip]
    static DATA_WITH_SACK: [u8; 56] = [
        0x9c, 0x40, 0x00, 0x50,
        0x9a, 0x3c, 0x1f, 0x01,
        0x5f, 0x3a, 0x12, 0x2a,
        0xd0, 0x18, 0x01, 0xf5, // data offset 13, PSH|ACK, window 501
        0xbc, 0x08, 0x00, 0x00,
        0x01, 0x01, 0x08, 0x0a,
        0x00, 0x46, 0x1c, 0x33,
        0x7c, 0x30, 0xa1, 0xb9,
        0x01, 0x01, 0x05, 0x12, // NOP, NOP, SACK length 18
        0x5f, 0x3a, 0x17, 0xd2,
        0x5f, 0x3a, 0x1d, 0x7a,
        0x5f, 0x3a, 0x23, 0x22,
        0x5f, 0x3a, 0x28, 0xca,
        b'p', b'i', b'n', b'g',
    ];

    fn linux_syn_options(tsval: u32, tsecr: u32) -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((tsval, tsecr)),
            sack: SackBlocks::new(),
        }
    }

    fn syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: CLIENT_ISN,
            ack: Seq(0),
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: linux_syn_options(CLIENT_TS, 0),
            payload_len: 0,
        }
    }

    fn syn_ack_repr() -> TcpRepr {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SERVER_ISN,
            ack: CLIENT_ISN + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65160,
            urgent: 0,
            options: linux_syn_options(SERVER_TS, CLIENT_TS),
            payload_len: 0,
        }
    }

    fn ack_repr() -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: CLIENT_ISN + 1,
            ack: SERVER_ISN + 1,
            flags: TcpFlags::ACK,
            window: 502,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((CLIENT_TS + 1, SERVER_TS)),
                ..TcpOptions::default()
            },
            payload_len: 0,
        }
    }

    fn data_repr() -> TcpRepr {
        let base = SERVER_ISN + 1;
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: CLIENT_ISN + 1,
            ack: base + 1448,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 501,
            urgent: 0,
            options: TcpOptions {
                timestamps: Some((CLIENT_TS + 9, SERVER_TS + 7)),
                sack: SackBlocks::from_slice(&[
                    SackBlock {
                        left: base + 2896,
                        right: base + 4344,
                    },
                    SackBlock {
                        left: base + 5792,
                        right: base + 7240,
                    },
                ]),
                ..TcpOptions::default()
            },
            payload_len: 4,
        }
    }

    /// A literal segment with its repr, the addresses it travels between, and its payload.
    type Literal = (&'static [u8], TcpRepr, (Ipv4Addr, Ipv4Addr), &'static [u8]);

    fn literals() -> [Literal; 4] {
        [
            (&SYN, syn_repr(), (CLIENT, SERVER), b""),
            (&SYN_ACK, syn_ack_repr(), (SERVER, CLIENT), b""),
            (&ACK, ack_repr(), (CLIENT, SERVER), b""),
            (&DATA_WITH_SACK, data_repr(), (CLIENT, SERVER), b"ping"),
        ]
    }

    /// A segment CLIENT -> SERVER with `options` (a multiple of 4 bytes) and a valid
    /// checksum, so parsing fails on the options alone.
    fn with_options(options: &[u8]) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let mut buf = vec![0; HEADER_LEN + options.len()];
        buf[HEADER_LEN..].copy_from_slice(options);
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(40000);
        p.set_dst_port(80);
        p.set_header_len(HEADER_LEN + options.len());
        p.set_flags(TcpFlags::ACK);
        p.fill_checksum(CLIENT, SERVER);
        buf
    }

    fn parse_options_of(segment: &[u8]) -> Result<TcpRepr, WireError> {
        TcpRepr::parse(&TcpPacket::new_checked(segment)?, CLIENT, SERVER)
    }

    fn iter(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, WireError>> {
        options_iter(bytes).collect()
    }

    #[test]
    fn parses_the_linux_syn_field_by_field() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq(), p.ack()), (CLIENT_ISN, Seq(0)));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!((p.window(), p.checksum(), p.urgent()), (64240, 0x56ce, 0));
        assert_eq!(p.options(), &SYN[20..]);
        assert_eq!(p.payload(), b"");
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum(CLIENT, SERVER));
        assert!(!p.verify_checksum(CLIENT, Ipv4Addr::new(192, 0, 2, 3)));
        assert_eq!(
            iter(p.options()),
            [
                Ok(TcpOption::Mss(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps {
                    tsval: CLIENT_TS,
                    tsecr: 0
                }),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
        assert_eq!(TcpRepr::parse(&p, CLIENT, SERVER), Ok(syn_repr()));
    }

    #[test]
    fn parses_every_literal_segment() {
        for (bytes, repr, (src, dst), payload) in literals() {
            let p = TcpPacket::new_checked(bytes).unwrap();
            assert_eq!(TcpRepr::parse(&p, src, dst), Ok(repr), "{repr:?}");
            assert_eq!(p.payload(), payload);
            assert_eq!(p.segment_len(), repr.segment_len());
        }
        let p = TcpPacket::new_checked(&DATA_WITH_SACK[..]).unwrap();
        assert_eq!(p.segment_len(), 4);
        let sacks: Vec<_> = options_iter(p.options()).collect();
        assert_eq!(sacks.len(), 6, "NOP NOP TS NOP NOP SACK: {sacks:?}");
        let Ok(TcpOption::Sack(blocks)) = sacks[5] else {
            panic!("{sacks:?}")
        };
        assert_eq!(blocks.as_slice(), data_repr().options.sack.as_slice());
        assert_eq!(
            blocks
                .iter()
                .map(|b| b.right.dist_from(b.left))
                .sum::<u32>(),
            2 * 1448
        );
    }

    #[test]
    fn emits_every_literal_segment() {
        for (bytes, repr, (src, dst), payload) in literals() {
            assert_eq!(repr.buffer_len(), bytes.len());
            assert_eq!(repr.header_len(), bytes.len() - payload.len());
            let mut buf = vec![0xaa; bytes.len()];
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut buf[..]),
                src,
                dst,
                payload,
            );
            assert_eq!(buf, bytes, "{repr:?}");
        }
    }

    #[test]
    fn emit_header_leaves_payload_in_place_and_ignores_the_slot_tail() {
        let repr = data_repr();
        let mut slot = [0x55u8; 128];
        slot[repr.header_len()..repr.buffer_len()].copy_from_slice(b"ping");
        repr.emit_header(&mut TcpPacket::new_unchecked(&mut slot[..]), CLIENT, SERVER);
        assert_eq!(&slot[..repr.buffer_len()], &DATA_WITH_SACK[..]);
        assert!(slot[repr.buffer_len()..].iter().all(|&b| b == 0x55));
    }

    #[test]
    fn setters_write_every_field() {
        let mut buf = [0u8; 40];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(40000);
        p.set_dst_port(80);
        p.set_seq(CLIENT_ISN);
        p.set_ack(Seq(0));
        p.set_header_len(40);
        p.set_flags(TcpFlags::SYN);
        p.set_window(64240);
        p.set_urgent(0);
        p.options_mut().copy_from_slice(&SYN[20..]);
        assert!(p.payload_mut().is_empty());
        p.fill_checksum(CLIENT, SERVER);
        assert_eq!(p.checksum(), 0x56ce);
        assert_eq!(p.into_inner(), &SYN[..]);
    }

    #[test]
    fn payload_mut_is_after_the_options() {
        let mut seg = DATA_WITH_SACK;
        let mut p = TcpPacket::new_unchecked(&mut seg[..]);
        p.payload_mut().copy_from_slice(b"pong");
        assert_eq!(p.payload(), b"pong");
        assert!(!p.verify_checksum(CLIENT, SERVER));
        p.fill_checksum(CLIENT, SERVER);
        assert!(p.verify_checksum(CLIENT, SERVER));
    }

    #[test]
    fn reserved_bits_are_ignored_and_cleared() {
        // RFC 9293 3.1: reserved bits are ignored on receive, zero on send.
        let mut seg = ACK;
        seg[12] |= 0x0f;
        let mut p = TcpPacket::new_unchecked(&mut seg[..]);
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.options(), &ACK[20..]);
        p.set_header_len(32);
        assert_eq!(seg[12], 0x80);
    }

    #[test]
    fn segment_len_counts_syn_and_fin() {
        let mut seg = DATA_WITH_SACK;
        seg[13] = (TcpFlags::FIN | TcpFlags::ACK).bits();
        assert_eq!(TcpPacket::new_checked(&seg[..]).unwrap().segment_len(), 5);
        seg[13] = (TcpFlags::SYN | TcpFlags::FIN).bits();
        assert_eq!(TcpPacket::new_checked(&seg[..]).unwrap().segment_len(), 6);
        assert_eq!(TcpPacket::new_checked(&ACK[..]).unwrap().segment_len(), 0);
    }

    #[test]
    fn every_flag_bit_has_its_rfc_position() {
        let all = [
            (TcpFlags::FIN, 0x01),
            (TcpFlags::SYN, 0x02),
            (TcpFlags::RST, 0x04),
            (TcpFlags::PSH, 0x08),
            (TcpFlags::ACK, 0x10),
            (TcpFlags::URG, 0x20),
            (TcpFlags::ECE, 0x40),
            (TcpFlags::CWR, 0x80),
        ];
        for (flag, bit) in all {
            assert_eq!(flag.bits(), bit);
        }
        assert_eq!(TcpFlags::all().bits(), 0xff);
    }

    #[test]
    fn option_length_zero_is_malformed() {
        let opts = [30, 0, 1, 1];
        assert_eq!(iter(&opts), [Err(WireError::BadOption)]);
        assert_eq!(TcpOptions::parse(&opts), Err(WireError::BadOption));
        assert_eq!(
            parse_options_of(&with_options(&opts)),
            Err(WireError::BadOption)
        );
    }

    #[test]
    fn option_length_one_is_malformed() {
        let opts = [1, 30, 1, 1];
        assert_eq!(
            iter(&opts),
            [Ok(TcpOption::NoOp), Err(WireError::BadOption)]
        );
        assert_eq!(
            parse_options_of(&with_options(&opts)),
            Err(WireError::BadOption)
        );
    }

    #[test]
    fn option_overrunning_the_header_is_malformed() {
        // Length 6 with 2 bytes left.
        let opts = [1, 1, 30, 6];
        assert_eq!(
            iter(&opts),
            [
                Ok(TcpOption::NoOp),
                Ok(TcpOption::NoOp),
                Err(WireError::BadOption)
            ]
        );
        assert_eq!(
            parse_options_of(&with_options(&opts)),
            Err(WireError::BadOption)
        );
        // The length byte itself missing: an MSS kind as the last option byte.
        let opts = [1, 1, 1, 2];
        assert_eq!(iter(&opts).last(), Some(&Err(WireError::BadOption)));
        assert_eq!(
            parse_options_of(&with_options(&opts)),
            Err(WireError::BadOption)
        );
        // Options end at the data offset even when the buffer goes on: MSS cut by it.
        let mut seg = with_options(&[1, 1, 2, 4]);
        seg.extend_from_slice(&[0x05, 0xb4]);
        let p = TcpPacket::new_unchecked(&mut seg[..]);
        assert_eq!(TcpOptions::parse(p.options()), Err(WireError::BadOption));
    }

    #[test]
    fn mss_with_wrong_length_is_malformed() {
        for opts in [[2, 3, 5, 1], [2, 2, 1, 1]] {
            assert_eq!(iter(&opts), [Err(WireError::BadOption)], "{opts:?}");
        }
        let opts = [2, 6, 0x05, 0xb4, 0, 0, 1, 1];
        assert_eq!(iter(&opts), [Err(WireError::BadOption)]);
        assert_eq!(
            parse_options_of(&with_options(&opts)),
            Err(WireError::BadOption)
        );
    }

    #[test]
    fn known_options_with_wrong_length_are_malformed() {
        let cases: [&[u8]; 7] = [
            &[3, 2, 1, 1],                       // window scale needs 3
            &[3, 4, 7, 0],                       // ... not 4
            &[4, 3, 0, 1],                       // SACK-permitted needs 2
            &[8, 8, 0, 0, 0, 0, 0, 0],           // timestamps need 10
            &[5, 2, 1, 1],                       // SACK with no block
            &[5, 6, 0, 0, 0, 0],                 // SACK with half a block
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 9 bytes of blocks
        ];
        for opts in cases {
            assert_eq!(iter(opts), [Err(WireError::BadOption)], "{opts:?}");
        }
        // Five blocks (42 bytes) cannot fit in a header (RFC 2018 3).
        let mut five = vec![5, 42];
        five.extend_from_slice(&[0; 40]);
        assert_eq!(iter(&five), [Err(WireError::BadOption)]);
    }

    #[test]
    fn nop_and_eol_need_no_length() {
        assert_eq!(
            iter(&[1, 1, 1, 0]),
            [
                Ok(TcpOption::NoOp),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::EndOfList)
            ]
        );
        assert_eq!(iter(&[1]), [Ok(TcpOption::NoOp)]);
        assert_eq!(iter(&[0]), [Ok(TcpOption::EndOfList)]);
        assert_eq!(iter(&[]), []);
        assert_eq!(TcpOptions::parse(&[1, 1, 1, 0]), Ok(TcpOptions::default()));
    }

    #[test]
    fn end_of_list_ends_the_options() {
        // What follows EOL is padding, even if it would be malformed as options.
        let opts = [2, 4, 0x05, 0xb4, 0, 30, 0, 2];
        assert_eq!(
            iter(&opts),
            [Ok(TcpOption::Mss(1460)), Ok(TcpOption::EndOfList)]
        );
        let r = parse_options_of(&with_options(&opts)).unwrap();
        assert_eq!(r.options.mss, Some(1460));
    }

    #[test]
    fn unknown_option_is_skipped() {
        // RFC 9293 3.1 MUST-6: ignore options not implemented, using their length.
        let opts = [30, 4, 0xde, 0xad, 2, 4, 0x05, 0xb4, 31, 2, 1, 1];
        assert_eq!(
            iter(&opts),
            [
                Ok(TcpOption::Unknown {
                    kind: 30,
                    data: &[0xde, 0xad]
                }),
                Ok(TcpOption::Mss(1460)),
                Ok(TcpOption::Unknown {
                    kind: 31,
                    data: &[]
                }),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::NoOp),
            ]
        );
        let r = parse_options_of(&with_options(&opts)).unwrap();
        assert_eq!(
            r.options,
            TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            }
        );
    }

    #[test]
    fn window_scale_above_14_is_clamped_not_malformed() {
        // RFC 7323 2.3: use 14, may log; the raw value stays visible to the iterator.
        let opts = [1, 3, 3, 15];
        assert_eq!(
            iter(&opts),
            [Ok(TcpOption::NoOp), Ok(TcpOption::WindowScale(15))]
        );
        assert_eq!(TcpOptions::parse(&opts).unwrap().window_scale, Some(14));
        let o = TcpOptions {
            window_scale: Some(200),
            ..TcpOptions::default()
        };
        let mut buf = [0; 4];
        assert_eq!(o.emit(&mut buf), 4);
        assert_eq!(buf, [1, 3, 3, 14]);
    }

    #[test]
    fn repeated_option_last_wins() {
        let opts = [2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18];
        assert_eq!(TcpOptions::parse(&opts).unwrap().mss, Some(536));
    }

    #[test]
    fn option_layouts_match_linux() {
        let cases: [(TcpOptions, &[u8]); 5] = [
            (
                TcpOptions {
                    mss: Some(1460),
                    ..TcpOptions::default()
                },
                &[2, 4, 0x05, 0xb4],
            ),
            (
                TcpOptions {
                    mss: Some(1460),
                    sack_permitted: true,
                    window_scale: Some(7),
                    ..TcpOptions::default()
                },
                &[2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7],
            ),
            (
                TcpOptions {
                    timestamps: Some((1, 2)),
                    ..TcpOptions::default()
                },
                &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
            (
                TcpOptions {
                    sack: SackBlocks::from_slice(&[SackBlock {
                        left: Seq(1),
                        right: Seq(2),
                    }]),
                    ..TcpOptions::default()
                },
                &[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
            (TcpOptions::default(), &[]),
        ];
        for (o, bytes) in cases {
            let mut buf = [0xaa; MAX_OPTIONS_LEN];
            assert_eq!(o.buffer_len(), bytes.len(), "{o:?}");
            assert_eq!(o.emit(&mut buf), bytes.len(), "{o:?}");
            assert_eq!(&buf[..bytes.len()], bytes, "{o:?}");
            assert_eq!(TcpOptions::parse(bytes), Ok(o));
        }
    }

    fn blocks(n: u32) -> SackBlocks {
        let mut s = SackBlocks::new();
        for i in 0..n {
            assert!(s.push(SackBlock {
                left: Seq(i * 100),
                right: Seq(i * 100 + 50),
            }));
        }
        s
    }

    #[test]
    fn four_sack_blocks_fit_without_timestamps() {
        let o = TcpOptions {
            sack: blocks(4),
            ..TcpOptions::default()
        };
        assert_eq!(o.sack_blocks_sent(), 4);
        assert_eq!(o.buffer_len(), 36);
        let mut buf = [0; MAX_OPTIONS_LEN];
        let n = o.emit(&mut buf);
        assert_eq!(TcpOptions::parse(&buf[..n]), Ok(o));
    }

    #[test]
    fn timestamps_leave_room_for_three_sack_blocks() {
        // RFC 2018 3: 10 bytes of timestamps plus 2 of padding leave room for 3 blocks.
        let o = TcpOptions {
            timestamps: Some((7, 8)),
            sack: blocks(4),
            ..TcpOptions::default()
        };
        assert_eq!(o.sack_blocks_sent(), 3);
        assert_eq!(o.buffer_len(), 40);
        let mut buf = [0; MAX_OPTIONS_LEN];
        assert_eq!(o.emit(&mut buf), 40);
        let parsed = TcpOptions::parse(&buf).unwrap();
        assert_eq!(
            parsed.sack,
            SackBlocks::from_slice(&blocks(4).as_slice()[..3])
        );
        // With every SYN option too, two still fit; a full header never overflows.
        let o = TcpOptions {
            sack: blocks(4),
            ..linux_syn_options(1, 2)
        };
        assert_eq!((o.sack_blocks_sent(), o.buffer_len()), (2, 40));
    }

    #[test]
    fn sack_blocks_hold_at_most_four() {
        let mut s = blocks(4);
        assert!(!s.push(SackBlock::default()));
        assert_eq!(s.len(), 4);
        let long: Vec<_> = blocks(4).iter().chain(blocks(2).iter()).copied().collect();
        assert_eq!(SackBlocks::from_slice(&long), blocks(4));
        assert_eq!((&s).into_iter().count(), 4);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s, SackBlocks::new());
        assert_eq!(
            format!("{:?}", blocks(1)),
            "[SackBlock { left: 0, right: 50 }]"
        );
    }

    #[test]
    fn data_offset_below_five_is_bad_header_len() {
        for offset in 0..5u8 {
            let mut seg = SYN;
            seg[12] = offset << 4;
            assert_eq!(
                TcpPacket::new_checked(&seg[..]).err(),
                Some(WireError::BadHeaderLen)
            );
        }
        // The unchecked view still reads without panicking.
        let mut seg = SYN;
        seg[12] = 0x20;
        let p = TcpPacket::new_unchecked(&seg[..]);
        assert_eq!((p.options(), p.payload()), (&[][..], &SYN[20..]));
    }

    #[test]
    fn data_offset_past_the_buffer_is_truncated() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).err(),
            Some(WireError::Truncated)
        );
        let mut seg = ACK;
        seg[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&seg[..]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(parse_options_of(&seg), Err(WireError::Truncated));
    }

    #[test]
    fn bad_checksum_is_named() {
        let mut seg = DATA_WITH_SACK;
        seg[55] ^= 1;
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert!(!p.verify_checksum(CLIENT, SERVER));
        assert_eq!(
            TcpRepr::parse(&p, CLIENT, SERVER),
            Err(WireError::BadChecksum)
        );
        // Right bytes, wrong pseudo-header.
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, CLIENT, Ipv4Addr::new(192, 0, 2, 3)),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn checksum_is_checked_before_options() {
        let mut seg = with_options(&[30, 0, 1, 1]);
        seg[18] ^= 1; // urgent pointer: breaks the checksum only
        assert_eq!(parse_options_of(&seg), Err(WireError::BadChecksum));
    }

    /// The expected result of emitting then parsing `o`: the SACK blocks that fit in 40
    /// bytes, worked out independently of `emit`, and window scale at most 14.
    fn fitted(o: TcpOptions) -> TcpOptions {
        let mut fixed = 0;
        fixed += if o.mss.is_some() { 4 } else { 0 };
        fixed += if o.timestamps.is_some() {
            12
        } else if o.sack_permitted {
            4
        } else {
            0
        };
        fixed += if o.window_scale.is_some() { 4 } else { 0 };
        let mut n = o.sack.len();
        while n > 0 && fixed + 4 + 8 * n > MAX_OPTIONS_LEN {
            n -= 1;
        }
        TcpOptions {
            window_scale: o.window_scale.map(|w| w.min(14)),
            sack: SackBlocks::from_slice(&o.sack.as_slice()[..n]),
            ..o
        }
    }

    fn options_strategy() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
        )
            .prop_map(|(mss, window_scale, sack_permitted, timestamps, sack)| {
                let sack: Vec<_> = sack
                    .into_iter()
                    .map(|(l, r)| SackBlock {
                        left: Seq(l),
                        right: Seq(r),
                    })
                    .collect();
                TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps,
                    sack: SackBlocks::from_slice(&sack),
                }
            })
    }

    fn addr() -> impl Strategy<Value = Ipv4Addr> {
        any::<[u8; 4]>().prop_map(Ipv4Addr::from)
    }

    proptest! {
        #[test]
        fn options_emit_then_parse_round_trips(o in options_strategy()) {
            let mut buf = [0xaa; MAX_OPTIONS_LEN];
            let n = o.emit(&mut buf);
            prop_assert_eq!(n, o.buffer_len());
            prop_assert!(n <= MAX_OPTIONS_LEN && n & 3 == 0);
            prop_assert_eq!(o.sack_blocks_sent(), fitted(o).sack.len());
            prop_assert_eq!(TcpOptions::parse(&buf[..n]), Ok(fitted(o)));
            // Fitted options emit whole.
            prop_assert_eq!(fitted(o).buffer_len(), n);
            for option in options_iter(&buf[..n]) {
                let ok = !matches!(option, Err(_) | Ok(TcpOption::Unknown { .. })
                    | Ok(TcpOption::EndOfList));
                prop_assert!(ok, "{:?}", option);
            }
        }

        #[test]
        fn repr_emit_then_parse_round_trips(
            src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8,
            window: u16, urgent: u16,
            options in options_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
            src in addr(), dst in addr(),
        ) {
            let r = TcpRepr {
                src_port, dst_port, seq: Seq(seq), ack: Seq(ack),
                flags: TcpFlags::from_bits_retain(flags), window, urgent,
                options: fitted(options),
                payload_len: payload.len(),
            };
            let mut buf = vec![0; r.buffer_len()];
            r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, &payload);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&p, src, dst), Ok(r));
            prop_assert_eq!(p.payload(), &payload[..]);
            prop_assert_eq!(p.header_len(), r.header_len());
            prop_assert_eq!(p.segment_len(), r.segment_len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..100),
            src in addr(), dst in addr(),
        ) {
            if data.len() >= HEADER_LEN {
                let p = TcpPacket::new_unchecked(&data[..]);
                let _ = (p.src_port(), p.dst_port(), p.seq(), p.ack(), p.header_len());
                let _ = (p.flags(), p.window(), p.checksum(), p.urgent());
                let _ = (p.options(), p.payload(), p.segment_len());
                let _ = p.verify_checksum(src, dst);
                let _ = options_iter(p.options()).count();
                let mut copy = data.clone();
                let mut m = TcpPacket::new_unchecked(&mut copy[..]);
                let _ = (m.options_mut().len(), m.payload_mut().len());
                m.fill_checksum(src, dst);
            }
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                prop_assert_eq!(p.options().len(), p.header_len() - HEADER_LEN);
                prop_assert_eq!(p.header_len() + p.payload().len(), data.len());
                let _ = TcpRepr::parse(&p, src, dst);
            }
            let _ = TcpOptions::parse(&data);
        }

        #[test]
        fn options_iter_ends_after_an_error_and_parse_agrees(
            data in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(2), Just(4), Just(5), Just(8), any::<u8>()],
                0..40,
            ),
        ) {
            let items: Vec<_> = options_iter(&data).collect();
            let first_err = items.iter().position(|i| i.is_err());
            if let Some(i) = first_err {
                prop_assert_eq!(i, items.len() - 1);
            }
            if let Some(i) = items.iter().position(|i| *i == Ok(TcpOption::EndOfList)) {
                prop_assert_eq!(i, items.len() - 1);
            }
            prop_assert_eq!(TcpOptions::parse(&data).is_err(), first_err.is_some());
        }

        #[test]
        fn emit_header_summed_matches_emit(
            payload in proptest::collection::vec(any::<u8>(), 0..1500),
            seq: u32, ack: u32, window: u16, ts: Option<(u32, u32)>,
        ) {
            let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 9, 8, 7));
            let repr = TcpRepr {
                src_port: 80,
                dst_port: 51000,
                seq: Seq(seq),
                ack: Seq(ack),
                flags: TcpFlags::ACK | TcpFlags::PSH,
                window,
                urgent: 0,
                options: TcpOptions { timestamps: ts, ..TcpOptions::default() },
                payload_len: payload.len(),
            };
            let mut a = vec![0u8; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut a[..]), src, dst, &payload);
            let mut b = vec![0u8; repr.buffer_len() + 7];
            let h = repr.header_len();
            b[h..h + payload.len()].copy_from_slice(&payload);
            let s = eth::checksum::sum(&payload, 0);
            repr.emit_header_summed(&mut TcpPacket::new_unchecked(&mut b[..]), src, dst, s);
            prop_assert_eq!(&a[..], &b[..repr.buffer_len()]);
        }
    }
}
