//! AF_PACKET backend: a memory-mapped receive ring (`TPACKET_V3` by default, `TPACKET_V2`
//! for low latency) and a `TPACKET_V2` transmit ring on a Linux network interface, with
//! optional fanout to spread one device over cores.
//!
//! # Receive rings
//!
//! [`AfPacketConfig::rx_ring`] picks one of two layouts; both are shared with the kernel
//! through `mmap` and read without a system call per frame or per burst
//! ([`Port::wait`](crate::Port::wait) polls the socket only when the next frame is not
//! ready yet). See the kernel's
//! `Documentation/networking/packet_mmap.rst`.
//!
//! | | [`RxRingKind::V3`] (default) | [`RxRingKind::V2`] |
//! |---|---|---|
//! | layout | variable-size frames packed in blocks | a fixed `rx_frame_size` slot each |
//! | user space owns | a block at a time | a slot at a time (per-frame status) |
//! | wake-ups | one per block, amortized | one per frame |
//! | latency, sparse traffic | up to `rx_retire_timeout_ms` | lowest: ready at once |
//! | ring bytes per small frame | a few more than the frame | a whole slot |
//! | largest frame | `rx_frame_size - 32` | `rx_frame_size - 66` |
//! | flow hash ([`RxMeta::rss_hash`]) | with [`FanoutMode::Hash`] | never (no field in V2) |
//!
//! V3 is the throughput mode, V2 the latency mode: a request/response service at a low
//! packet rate (a ping, an RPC) answers about a millisecond sooner with V2.
//!
//! A `TPACKET_V3` ring is `rx_block_count` blocks of `rx_block_size` bytes. Each block
//! starts with a descriptor (`tpacket_block_desc`: `block_status`, `num_pkts`,
//! `offset_to_first_pkt`) followed by variable-size frames, each a `tpacket3_hdr` (status,
//! lengths, timestamp, VLAN, flow hash, `tp_next_offset`) with the Ethernet frame `tp_mac`
//! bytes after it:
//!
//! ```text
//! block 0                     block 1                  ...  block N-1
//! +----------+------+------+-----+   +----------+------+-----+
//! | desc     | hdr3 | hdr3 | ... |   | desc     | hdr3 | ... |
//! | status   | mac..| mac..|     |   | status   | mac..|     |
//! +----------+------+------+-----+   +----------+------+-----+
//!  ^ owned by user space while block_status has TP_STATUS_USER
//! ```
//!
//! The kernel fills one block at a time and hands it over (`TP_STATUS_USER`) when it is full
//! or when `rx_retire_timeout_ms` passes, so small frames cost a few bytes of ring each
//! instead of a fixed slot, and one wake-up covers a whole block. [`AfPacketRx::recv_burst`]
//! walks the user-owned blocks in order, keeps its place inside a block between calls (so
//! `max` is honoured exactly) and gives a block back (`TP_STATUS_KERNEL`, release ordering)
//! only once every frame in it was handed up.
//!
//! A `TPACKET_V2` ring is the same blocks cut into `rx_block_size / rx_frame_size` slots
//! each (the block size must be a multiple of the frame size). Each slot starts with a
//! `tpacket2_hdr` (status, lengths, timestamp, VLAN) and holds one frame, `tp_mac` bytes in:
//!
//! ```text
//! slot 0           slot 1           ...  slot N-1
//! +------+------+  +------+------+       +------+------+
//! | hdr2 | mac..|  | hdr2 | mac..|       | hdr2 | mac..|
//! +------+------+  +------+------+       +------+------+
//!  ^ owned by user space while its tp_status has TP_STATUS_USER
//! ```
//!
//! The kernel marks each slot user-owned as soon as the frame is in it and wakes the
//! socket's poller per frame. [`AfPacketRx::recv_burst`] hands up the slots in order and
//! gives each back (`TP_STATUS_KERNEL`, release ordering) right after its callback.
//!
//! # Transmit ring
//!
//! Transmit uses a `TPACKET_V2` ring of fixed slots (`tx_frames` of `tx_frame_size` bytes:
//! a 32-byte `tpacket2_hdr`, with [`AfPacketConfig::tx_linear`] or TSO a 10-byte
//! `virtio_net_hdr`, then the frame). [`AfPacketTx::commit`] writes `tp_len` and sets
//! `TP_STATUS_SEND_REQUEST` (release ordering); [`AfPacketTx::flush`] is one
//! `sendto(fd, NULL, 0, MSG_DONTWAIT)` that makes the kernel send every requested slot in
//! ring order. The kernel sets a slot back to `TP_STATUS_AVAILABLE` when the skb built from
//! it is orphaned or freed, and [`AfPacketTx::tx_space`] reclaims completed slots from the
//! oldest onward, never scanning the whole ring. `PACKET_LOSS` is set so a frame the kernel
//! refuses cannot wedge the ring; frames too long for the device (above `mtu + 14`, or
//! `mtu + 18` with an 802.1Q tag) are counted in `tx_errors` at commit and not queued (the
//! kernel skips that check on a `PACKET_VNET_HDR` socket, so ours is the one that holds).
//!
//! How the kernel builds the skb decides how often a frame is copied. Left to itself
//! (`tx_linear` off), `tpacket_snd` copies only the link-layer header (`hard_header_len`,
//! 14 bytes) into the skb's buffer and lends it the rest as page fragments of the ring,
//! marking the skb zero-copy. A NIC would DMA those pages without a copy; but before a frame
//! reaches a local socket (over veth to a kernel TCP peer, say) the kernel must detach it
//! from user pages, and copies every fragment into newly allocated pages (`skb_copy_ubufs`,
//! called by `__dev_forward_skb2` in `veth_xmit`): two copies and a page allocation per
//! frame. With `tx_linear` the TX socket has `PACKET_VNET_HDR`, and each slot's
//! `virtio_net_hdr` (no offloads, `hdr_len` = the frame's length) makes the kernel copy the
//! whole frame into the skb's own buffer (`copylen` in `tpacket_snd`) and lend nothing: one
//! copy, as in AF_XDP's copy mode. It costs 10 bytes of each slot, and on a NIC a copy that
//! DMA from the ring would have saved, so by default it is chosen for interfaces not backed
//! by a device (veth, TAP, bridges; see the field's docs) and left off for NICs. On veth it
//! is the faster choice everywhere measured: the web server against a kernel client
//! (`bench/web.sh`, keep-alive) went from 38947 to 55772 requests/s for 16 KiB files and
//! from 2587 to 3601 for 256 KiB, `skb_copy_ubufs` from 20% of its samples (26% with its
//! memcpy) to 0.3%; small replies gained 12-14% with keep-alive, and the reflector's
//! 64-byte frames took 74% of a CPU instead of 86% at the same rate.
//!
//! # Checksums left to the device
//!
//! Where the slots carry a `virtio_net_hdr` (`tx_linear`, the default on veth and TAP, or
//! TSO) and the device has transmit checksumming on (`tx-checksum-ipv4` or
//! `tx-checksum-ip-generic`, read once at open), an ordinary frame holding TCP, or UDP with
//! a checksum, over unfragmented IPv4 leaves with its L4 checksum for the device to fill
//! in ([`AfPacketConfig::tx_csum_offload`], on by default): at commit the port stores the
//! pseudo-header sum in the checksum field, over whatever the upper layers computed, and
//! sets `VIRTIO_NET_HDR_F_NEEDS_CSUM` with `csum_start` and `csum_offset` (counted in
//! `tx_csum_offloaded`). The kernel makes the skb `CHECKSUM_PARTIAL`: a NIC fills the
//! checksum in, the kernel does it in software for a device that lost the feature since,
//! and veth hands the frame to its peer as it is, whose kernel stack or packet socket
//! (`TP_STATUS_CSUMNOTREADY`, our [`RxFlags::CSUM_PARTIAL`]) then need not sum the payload:
//! the kernel's own TCP sends that way, so a client on the same host verified our frames
//! and not a kernel server's. `bench/web.sh`, loadgen against our server at 1 KiB: the
//! client's `verify_checksum` (5% of its samples) is gone, but its first reads of each
//! response's lines move to the header parsing, and machine CPU per request stayed within
//! the noise (6.86-7.26 against 7.07-7.15 us, three pairs). Upper layers still compute every
//! checksum (the prepared images keep theirs, since only the TX slot's copy changes), and
//! a capture (`--pcap`) records the frames as they committed them. A wrapper that changes
//! frames after the upper layers (the impairment wrapper corrupting them) turns this off
//! with [`TxQueue::disable_csum_offload`].
//!
//! # Two sockets
//!
//! RX and TX are separate sockets. The receive socket is bound with `ETH_P_ALL` and sets
//! `PACKET_IGNORE_OUTGOING`, so frames this host sends on the device (ours and the
//! kernel's) are not copied back into our ring. The transmit socket is bound with protocol
//! 0, which attaches it to the device without registering a receive hook: it never queues
//! received frames and costs nothing on the receive path. With `qdisc_bypass` (default) the
//! transmit socket hands frames straight to the driver (`PACKET_QDISC_BYPASS`), skipping the
//! traffic-control layer; a busy driver makes the kick return early and the frames stay
//! queued for the next kick.
//!
//! # Frame sizes
//!
//! The largest frame this port hands up or sends ([`Capabilities::max_frame`]) is the
//! smaller of `rx_frame_size` less 32 bytes of ring header (2016 bytes with the defaults)
//! and `tx_frame_size` less 32, or less 42 with `tx_linear` (2006), enough for a 1500-byte
//! MTU with a VLAN tag. A `TPACKET_V2` RX slot also holds the kernel's `sockaddr_ll` and
//! alignment padding in front of the frame, so with [`RxRingKind::V2`] the RX side takes 66
//! bytes off `rx_frame_size` instead: 1982 bytes with the defaults. A one-instruction
//! socket filter caps what the kernel copies into the RX ring at that length, so a larger
//! frame (a GRO super-frame, a jumbo frame) arrives with `tp_snaplen < tp_len` and is
//! counted in `rx_truncated` instead of being handed up cut short (or, with
//! [`AfPacketConfig::rx_gso`], a GSO super-frame is taken and cut: see
//! [Receiving GSO super-frames](self#receiving-gso-super-frames)). Raise both frame sizes
//! for jumbo frames. With TSO the TX slots are larger (see below); the largest frame
//! handed up does not change.
//!
//! # TCP segmentation offload
//!
//! With [`AfPacketConfig::tso`] on a device that has TSO on (`tx-tcp-segmentation` in
//! `ethtool -k DEV`), [`TxQueue::commit_tso`] takes a TCP super-frame of up to
//! [`TxQueue::tso_max`] bytes (65,535 with the usual limits) and the device cuts it into
//! segments of `mss` payload bytes, filling in each one's sequence number, IPv4 length and
//! id and both checksums. One slot, one skb and one trip through the kernel then carry what
//! would be some 45 full-size segments: on veth, sending through 64 KiB slots this way took
//! 260-290 us of CPU per MB, against 1400-1600 us per MB as 1448-byte frames.
//!
//! The TX socket then has `PACKET_VNET_HDR` (with or without `tx_linear`), and a
//! super-frame's `virtio_net_hdr` asks for the offload: `VIRTIO_NET_HDR_F_NEEDS_CSUM` with
//! `csum_start` at the TCP header and `csum_offset` 16 (since Linux 6.11 the kernel refuses
//! any other offset for TCP GSO), `GSO_TCPV4` (with `GSO_ECN` when CWR is set) and
//! `gso_size` = `mss`. `hdr_len` is the whole frame with `tx_linear` (one copy into the
//! skb) and the headers without (the NIC reads the payload from the ring's pages). A frame
//! of one segment goes without GSO but still with the checksum left to the device.
//! Ordinary frames share the ring and go as before, with a `virtio_net_hdr` asking for
//! nothing.
//!
//! What the port guards against, since the kernel would not say:
//!
//! - **Silent drops with the qdisc bypass.** A super-frame the device cannot take is
//!   segmented in software on its way out (`validate_xmit_skb`), and with
//!   `PACKET_QDISC_BYPASS` (the default, [`AfPacketConfig::qdisc_bypass`]) the list of
//!   segments that comes back is dropped (`__dev_direct_xmit`) without an error or a
//!   counter. So the port takes super-frames only from a device with TSO on when it opened
//!   (read with `ETHTOOL_GFEATURES`), only under its `gso_max_size` (which counts the
//!   Ethernet header and must not be reached: `gso_features_check`), with at most
//!   `gso_max_segs` segments (both read with `RTM_GETLINK`: unlike /sys, netlink answers
//!   for the calling thread's namespace), and with CWR set only where the device has
//!   `tx-tcp-ecn-segmentation` or the qdisc is not bypassed. Anything else is refused at
//!   commit and counted in `tx_bad_len`. (A frame past `gso_max_size` would meet the
//!   same end, which is why `tso_max` stays under it.)
//! - **The device changing while the port is open.** Should TSO be turned off
//!   (`ethtool -K DEV tso off`), or only ECN segmentation, or `gso_max_size` or
//!   `gso_max_segs` be lowered, then with the qdisc bypass the kernel drops a pending
//!   super-frame the device no longer takes at the driver and puts it back in the ring for
//!   the next kick (`tpacket_snd` sets it back to `TP_STATUS_SEND_REQUEST` and returns
//!   `ENOBUFS`): it would hold up the ring behind it for good. So when a kick leaves a
//!   multi-segment super-frame first in line without progress, the port reads the device's
//!   TSO state again (one `ETHTOOL_GFEATURES` and one `RTM_GETLINK`: at once, then every
//!   64th stuck kick, so long congestion costs little; nothing on the normal path). What
//!   the device lost bounds later commits: with TSO off, [`TxQueue::tso_max`] is 0,
//!   [`TxQueue::commit_tso`] refuses every frame and [`AfPacketPort::tso_unavailable`] says
//!   why; with lower limits or without ECN segmentation, `tso_max` and the commit checks
//!   follow them. Each pending super-frame past them is given up and counted in `tx_errors`
//!   (TCP retransmits it): its `tp_len` is cut short of the `virtio_net_hdr`, which
//!   `tpacket_snd` refuses before building an skb, and with `PACKET_LOSS` the kernel gives
//!   the slot back and goes on, so the ordinary frames behind it go, in order, in the same
//!   `flush`. (Sending it without GSO instead would not do: the kernel skips the MTU check
//!   on a `PACKET_VNET_HDR` socket, and a driver such as veth drops the frame longer than
//!   the MTU, which the kernel puts back the same way.) A super-frame held up while the
//!   device still has what it needs (a busy driver, no carrier) stays queued and goes when
//!   the device takes it. TSO turned back on is used again once the port is reopened.
//! - **Slot size.** `tpacket_snd` refuses a frame longer than its slot less 32 bytes,
//!   `virtio_net_hdr` included, so TSO slots are 65,600 bytes, 15 to a 1 MiB ring block
//!   (the kernel allocates each block as a power-of-two run of pages: one slot rounded to
//!   pages, 69,632 bytes, would cost 128 KiB). The ring has
//!   [`AfPacketConfig::tso_tx_frames`] slots (256 by default, rounded up to whole blocks:
//!   270, 18 MiB) instead of `tx_frames`. With `tx_linear`, each super-frame in flight also
//!   holds a 128 KiB kernel buffer until the device is done with it. Prepared packets are
//!   still ordinary frames; their pool does not grow.
//! - **The MTU.** Ordinary frames keep the check above; a super-frame instead needs its
//!   headers plus `mss` within the MTU ([`crate::tso::check`]).
//!
//! A device without TSO does not stop the port from opening: it sends without it,
//! [`TxQueue::tso_max`] is 0, [`TxQueue::commit_tso`] refuses every frame, and
//! [`AfPacketPort::tso_unavailable`] says why (the backend selection prints it). On veth
//! the peer receives a super-frame whole, as one `CHECKSUM_PARTIAL` skb: a kernel TCP socket
//! takes it as it is, a router cuts it on its way out of a device without TSO, and an
//! AF_PACKET reader with ordinary frame sizes counts it in `rx_truncated`.
//!
//! # Receiving GSO super-frames
//!
//! A veth does not cut what its peer sends: a kernel TCP socket with TSO/GSO (a web
//! server's `sendfile`), or a port sending with TSO, hands our end whole super-frames of
//! up to 64 KiB, which ordinary frame sizes count in `rx_truncated` and lose (TCP then
//! stalls). With [`AfPacketConfig::rx_gso`] the port takes them and hands up what a NIC
//! would have put on the wire. The RX socket gets `PACKET_VNET_HDR` (either ring version:
//! `tpacket_rcv` writes the header just before each frame in V2 slots and V3 blocks alike)
//! and takes frames of up to 65,553 bytes (the socket filter's cap with it). Where they go
//! depends on the ring:
//!
//! - V2: the slots stay as without `rx_gso` (`rx_frame_size`, 10 bytes less of frame for
//!   the header) and the socket has `PACKET_COPY_THRESH`: a frame longer than its slot
//!   fills the slot cut short, marked `TP_STATUS_COPY`, and `tpacket_rcv` queues the whole
//!   skb on the socket, which the port reads (`recv`, the header in front) when the cursor
//!   reaches that slot: one system call per super-frame, none per ordinary frame. The
//!   queue holds [`AfPacketConfig::rx_gso_frames`] super-frames (`SO_RCVBUFFORCE`, else
//!   `SO_RCVBUF` capped by `net.core.rmem_max`); when it is full the kernel queues nothing
//!   and the cut-short slot is counted in `rx_truncated`.
//!   [`AfPacketPort::rx_gso_queued`] counts the frames read so. Ordinary slots matter:
//!   with one 64 KiB slot per frame, each small frame lands on its own pages (a TLB miss
//!   for the reader) and the ring is 18 MiB; a web load generator on veth made 228-243k
//!   requests/s that way and 268-270k with 2 KiB slots and the queue.
//! - V3: 1 MiB blocks, room for [`AfPacketConfig::rx_gso_frames`] 64 KiB frames (256 by
//!   default: 18 MiB), smaller frames packed densely in the same blocks (V3 has no copy
//!   path: a frame longer than a block's room is cut short by the kernel).
//!
//! For a super-frame from a TSO sender the kernel writes `NEEDS_CSUM` with
//! `csum_start` 34 and `csum_offset` 16, `gso_type` `TCPV4` (`| ECN` with CWR set),
//! `gso_size` the MSS and `hdr_len` the bytes in the skb's head; the TCP checksum field
//! holds only the pseudo-header sum.
//!
//! A `TCPV4` super-frame is cut in software ([`crate::tso::write_segment`]) into segments
//! of `gso_size` payload bytes, each with its IPv4 total length, id (+1 a segment) and
//! header checksum, its sequence number, FIN and PSH on the last only, CWR on the first
//! only, and a full TCP checksum summed afresh; segments go up with
//! [`RxFlags::CSUM_VALID`], not `CSUM_PARTIAL`. They are built one at a time in a buffer
//! the RX half owns: no allocation, lock or system call per frame. Each segment counts as
//! a frame against `recv_burst`'s `max` and in `rx_frames`; when `max` is reached part way
//! through a super-frame, its slot (V2) or block (V3) stays ours and the next burst goes
//! on from the next segment, so nothing is lost or repeated.
//! [`AfPacketPort::rx_gso_frames`] and [`AfPacketPort::rx_gso_segments`] count the work.
//! Segments must fit the device's MTU and the largest frame handed up
//! ([`Capabilities::max_frame`], still set by `rx_frame_size` and the TX slots).
//!
//! Frames without GSO are handed up as before, a small `CHECKSUM_PARTIAL` frame with
//! [`RxFlags::CSUM_PARTIAL`]; one longer than the largest frame handed up is counted in
//! `rx_truncated`. Other GSO types (UDP, TCP over IPv6) and super-frames that do not
//! parse as Ethernet/IPv4/TCP with segments within the MTU are counted in
//! `rx_other_drops`. (A GSO type the kernel cannot describe in the header at all is
//! dropped by the kernel and counted with the ring-full drops, `rx_ring_full`.)
//!
//! # What a real NIC needs
//!
//! AF_PACKET sees frames as the kernel's receive path has them. With GRO on, a NIC or veth
//! peer delivers coalesced frames far above the MTU (counted `rx_truncated`, or cut again
//! with [`AfPacketConfig::rx_gso`]), and a local
//! Linux peer with checksum offload sends `CHECKSUM_PARTIAL` frames, handed up with
//! [`RxFlags::CSUM_PARTIAL`] (counted `rx_csum_partial`): their L4 checksum is not filled
//! in. Either turn these off on the device the stack serves,
//!
//! ```text
//! ethtool -K DEV gro off lro off tx off tso off gso off
//! ```
//!
//! or accept `CSUM_PARTIAL` frames in the upper layers. Receive timestamps
//! ([`RxMeta::timestamp_ns`]) are the kernel's software timestamps on `CLOCK_REALTIME`.
//!
//! # Beside the kernel, not instead of it
//!
//! AF_PACKET copies frames out next to the kernel's own stack; it does not take them away
//! from it. Give the stack an IP address the kernel does not own on that interface (and no
//! route the kernel would answer for), or the kernel will answer the same packets too, with
//! RSTs for our TCP connections and port-unreachables for our UDP ports.
//!
//! # Keeping the kernel out
//!
//! Even for an address it does not own, the kernel still processes each frame after our
//! ring has its copy: `ip_rcv`, TCP early demux, a route lookup that allocates a dst entry
//! per frame, then a drop (or, with `ip_forward=1`, a forward back out of the same
//! interface and an ICMP redirect): some 10% of a CPU sending to the stack on veth. With
//! [`AfPacketConfig::kernel_drop`] set to the stack's addresses, the port attaches a tiny
//! tc ingress program to the device that drops untagged IPv4 frames to those addresses
//! (`TCX_DROP`) and passes everything else on (`TCX_NEXT`: ARP, IPv6, the kernel's own
//! addresses, VLAN-tagged frames). In `__netif_receive_skb_core` the `ptype_all` taps,
//! where our `ETH_P_ALL` receive socket (and its fanout group) sits, run before tc
//! ingress, so the ring still gets every frame and the kernel's IP layer never sees them.
//! This replaces an nftables rule dropping those addresses at prerouting (bench/lib.sh's
//! `stack_drop`), which still paid for `ip_rcv` and the netfilter hook.
//!
//! The program is attached with a tcx link (Linux 6.6 and later; needs `CAP_BPF` and
//! `CAP_NET_ADMIN`) at the end of the device's tc chain; its file descriptor belongs to the
//! port's receive half, so dropping the port, or the process dying however it dies,
//! detaches it, and nothing is pinned. Several ports on one device (a fanout group) each
//! attach their own. An address assigned to any interface of the host (the namespace's
//! `getifaddrs`) is refused: the kernel would lose its own traffic to it. When it cannot
//! be attached (an older kernel, no privilege, more than [`KERNEL_DROP_MAX_ADDRS`]
//! addresses, one of the host's own) the port opens anyway and works as without it;
//! [`AfPacketPort::kernel_drop`] says why in one line. Only frames arriving on this device
//! are dropped; the instruction listing is in `afpacket/kernel_drop.rs`.
//!
//! # Fanout
//!
//! With [`AfPacketConfig::fanout`] several ports opened on the same device with the same
//! group id share its traffic (`PACKET_FANOUT`): one port per core, flows kept together by
//! the kernel's flow hash ([`FanoutMode::Hash`], which with the V3 ring also fills
//! [`RxMeta::rss_hash`]), or split by receiving CPU, round robin or NIC queue. The kernel
//! does not say which member a socket is, so [`AfPacketConfig::queue_id`] is reported back
//! as [`Capabilities::queue_id`].

use crate::backend::sys::{self, NEED_NET_ADMIN};
use crate::backend::vnet::{
    cut_rx, has_cwr, RxCut, VnetHdr, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_NONE, VNET_HDR_LEN,
};
use crate::csum;
use crate::error::check_ifname;
use crate::port::{Capabilities, RxFlags, RxMeta, RxQueue, TxQueue};
use crate::prepared::{send_prepared_by_copy, PrepMode, PreparedId, PreparedPool};
use crate::stats::PortStats;
use crate::tso;
use crate::Error;
use std::cell::Cell;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod kernel_drop;

pub use kernel_drop::{KernelDrop, MAX_ADDRS as KERNEL_DROP_MAX_ADDRS};

/// How a fanout group spreads frames over its members (`PACKET_FANOUT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanoutMode {
    /// By the kernel's flow hash: both directions of a flow reach the same member, and the
    /// hash is reported in [`RxMeta::rss_hash`].
    Hash,
    /// By the CPU that received the frame (pairs with NIC RSS and IRQ affinity).
    Cpu,
    /// Round robin.
    Lb,
    /// By the NIC queue the frame arrived on.
    Qm,
}

impl FanoutMode {
    fn kernel_mode(self) -> u32 {
        match self {
            FanoutMode::Hash => libc::PACKET_FANOUT_HASH,
            FanoutMode::Cpu => libc::PACKET_FANOUT_CPU,
            FanoutMode::Lb => libc::PACKET_FANOUT_LB,
            FanoutMode::Qm => libc::PACKET_FANOUT_QM,
        }
    }
}

impl std::str::FromStr for FanoutMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hash" => Ok(FanoutMode::Hash),
            "cpu" => Ok(FanoutMode::Cpu),
            "lb" => Ok(FanoutMode::Lb),
            "qm" => Ok(FanoutMode::Qm),
            _ => Err(format!("unknown fanout mode {s:?} (hash, cpu, lb or qm)")),
        }
    }
}

/// The layout of the receive ring (see [Receive rings](self#receive-rings)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxRingKind {
    /// `TPACKET_V3`, the throughput mode: variable-size frames packed in blocks and one
    /// wake-up per block, but a frame may wait up to `rx_retire_timeout_ms` for its block
    /// to be handed over when traffic is sparse.
    #[default]
    V3,
    /// `TPACKET_V2`, the latency mode: fixed `rx_frame_size` slots, each with its own status
    /// word, and a wake-up per frame. No flow hash ([`Capabilities::rss`] is false).
    V2,
}

impl std::str::FromStr for RxRingKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v3" => Ok(RxRingKind::V3),
            "v2" => Ok(RxRingKind::V2),
            _ => Err(format!("unknown RX ring {s:?} (v2 or v3)")),
        }
    }
}

/// Settings of an AF_PACKET port. Start from [`AfPacketConfig::new`] and change fields.
///
/// The defaults suit a small machine: a `TPACKET_V3` RX ring of 4 MiB (16 blocks of
/// 256 KiB), 1024 TX slots of 2 KiB (with TSO, 270 slots of 64 KiB: 18 MiB), blocks handed
/// over after at most 1 ms so low-rate traffic is not held back for the kernel's default of
/// several milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// The network interface to open.
    pub ifname: String,
    /// The RX ring's layout: [`RxRingKind::V3`] for throughput (default) or
    /// [`RxRingKind::V2`] for latency.
    pub rx_ring: RxRingKind,
    /// Bytes per RX block; a multiple of the page size, larger than `rx_frame_size` (with
    /// [`RxRingKind::V2`], a multiple of it).
    pub rx_block_size: usize,
    /// RX blocks in the ring.
    pub rx_block_count: usize,
    /// RX frame size (a multiple of 16): with [`RxRingKind::V2`] the size of each ring slot,
    /// with V3 a nominal size. With `tx_frame_size` it sets the largest frame handed up (see
    /// [`Capabilities::max_frame`]) and the ring size reported.
    pub rx_frame_size: usize,
    /// Longest a partly filled RX block waits before the kernel hands it over
    /// (`tp_retire_blk_tov`), in milliseconds. 0 lets the kernel choose from the link speed.
    /// Only for [`RxRingKind::V3`].
    pub rx_retire_timeout_ms: u32,
    /// TX slots in the ring (rounded up to fill whole ring blocks).
    pub tx_frames: usize,
    /// Bytes per TX slot including the 32-byte ring header (and with `tx_linear` the
    /// 10-byte `virtio_net_hdr`); a multiple of 16.
    pub tx_frame_size: usize,
    /// Have the kernel copy each sent frame whole into its buffer (`PACKET_VNET_HDR` with
    /// the header length set to the frame's), instead of lending it the ring's pages: one
    /// copy in all, where a frame delivered to a local socket would otherwise be copied a
    /// second time (see [Transmit ring](self#transmit-ring)); costs 10 bytes of each TX
    /// slot. `None` (the default) chooses by the interface: lend the pages when it is
    /// backed by a device (`/sys/class/net/IF/device` exists: a NIC DMAs the ring's pages
    /// with no copy), copy whole otherwise (veth, TAP, bridges, and any interface this
    /// process's /sys does not show, as inside a namespace entered with `setns`).
    pub tx_linear: Option<bool>,
    /// Hand frames straight to the driver, bypassing the qdisc (`PACKET_QDISC_BYPASS`).
    pub qdisc_bypass: bool,
    /// Leave the TCP and UDP checksums of IPv4 frames to the device where the slots carry
    /// a `virtio_net_hdr` (`tx_linear` or TSO) and the device has transmit checksumming on
    /// (`tx-checksum-ipv4` or `tx-checksum-ip-generic`): see
    /// [Checksums left to the device](self#checksums-left-to-the-device).
    /// [`Capabilities::tx_csum_offload`] says whether it is in use.
    pub tx_csum_offload: bool,
    /// TCP segmentation offload: take TCP super-frames of up to 64 KiB through
    /// [`TxQueue::commit_tso`] and let the device cut them into segments (see
    /// [TCP segmentation offload](self#tcp-segmentation-offload)). Only where the device
    /// has TSO on; elsewhere the port opens without it and
    /// [`AfPacketPort::tso_unavailable`] says why. With TSO every TX slot holds a whole
    /// super-frame, so the ring has `tso_tx_frames` slots instead of `tx_frames`, and
    /// `tx_frame_size` does not apply.
    pub tso: bool,
    /// TX slots in the ring when TSO is in use, each 65,600 bytes, about 68 KiB of memory a
    /// slot (rounded up to fill whole 1 MiB ring blocks of 15 slots: 256 asked for gives
    /// 270 slots, 18 MiB).
    pub tso_tx_frames: usize,
    /// Receive GSO super-frames and cut them into ordinary segments in software, as a NIC
    /// would have put them on the wire (see
    /// [Receiving GSO super-frames](self#receiving-gso-super-frames)): for a veth whose
    /// peer sends with TSO/GSO (a kernel TCP socket, or a port with [`Self::tso`]). The RX
    /// socket then has `PACKET_VNET_HDR`; a V2 ring keeps its slots and takes super-frames
    /// through the socket's queue, a V3 ring becomes `rx_gso_frames` 64 KiB frames' worth
    /// of 1 MiB blocks instead of `rx_block_size` x `rx_block_count`. `rx_frame_size` still
    /// bounds the frames handed up. Either ring layout.
    pub rx_gso: bool,
    /// With `rx_gso`, super-frames that may wait at once. V2: in the socket's queue, 72 KiB
    /// of receive buffer each (256: 18 MiB at most, taken only while frames wait). V3: 64
    /// KiB of ring each, rounded up to whole 1 MiB blocks of 15 (256 asked for gives 270,
    /// 18 MiB), shared with the smaller frames packed densely in the same blocks.
    pub rx_gso_frames: usize,
    /// Join fanout group `.0` with mode `.1`.
    pub fanout: Option<(u16, FanoutMode)>,
    /// This port's index among the members of its fanout group, reported in
    /// [`Capabilities::queue_id`] (the kernel does not tell).
    pub queue_id: u16,
    /// MAC address the stack uses; `None` takes the interface's own.
    pub mac: Option<[u8; 6]>,
    /// Capacity of the prepared-packet pool (memory is taken on the first `prepare`).
    pub prepared_capacity: usize,
    /// The stack's own IPv4 addresses on this device, for the kernel to drop the frames
    /// sent to them once this port's receive ring has its copy: a tc ingress program (tcx
    /// link, Linux 6.6) held by the port, so the kernel's IP layer never looks them up only
    /// to drop or forward them (see [Keeping the kernel out](self#keeping-the-kernel-out)).
    /// It replaces an nftables drop rule for these addresses (bench/lib.sh `stack_drop`).
    /// Empty (the default): off. At most [`KERNEL_DROP_MAX_ADDRS`]. If the program cannot
    /// be attached the port opens anyway, and [`AfPacketPort::kernel_drop`] says why.
    /// An address the host itself has on any interface is refused (nothing is attached,
    /// and the reason names it): the kernel would stop answering it.
    pub kernel_drop: Vec<std::net::Ipv4Addr>,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig {
            ifname: String::new(),
            rx_ring: RxRingKind::V3,
            rx_block_size: 256 * 1024,
            rx_block_count: 16,
            rx_frame_size: 2048,
            rx_retire_timeout_ms: 1,
            tx_frames: 1024,
            tx_frame_size: 2048,
            tx_linear: None,
            qdisc_bypass: true,
            tx_csum_offload: true,
            tso: false,
            tso_tx_frames: 256,
            rx_gso: false,
            rx_gso_frames: 256,
            fanout: None,
            queue_id: 0,
            mac: None,
            prepared_capacity: 4096,
            kernel_drop: Vec::new(),
        }
    }
}

impl AfPacketConfig {
    /// Defaults for interface `ifname`.
    pub fn new(ifname: impl Into<String>) -> Self {
        AfPacketConfig {
            ifname: ifname.into(),
            ..Default::default()
        }
    }

    /// Whether TX frames are copied whole into the kernel's skbs (`tx_linear`, or the
    /// choice by interface it documents when `None`).
    pub fn linear_tx(&self) -> bool {
        self.tx_linear.unwrap_or_else(|| {
            !std::path::Path::new("/sys/class/net")
                .join(&self.ifname)
                .join("device")
                .exists()
        })
    }
}

/// Bytes of ring header in front of every TX frame (`TPACKET_ALIGN(sizeof(tpacket2_hdr))`,
/// the data offset the kernel uses without `PACKET_TX_HAS_OFF`), also taken off the V3 RX
/// frame size so both directions agree on the largest frame.
const FRAME_HDR: usize = tpacket_align(size_of::<libc::tpacket2_hdr>());
/// Where the first frame of an RX block may start (the block descriptor, 8-byte aligned).
const BLOCK_HDR: usize = (size_of::<libc::tpacket_block_desc>() + 7) & !7;
/// Offset of an Ethernet frame's first byte from its ring header: the kernel puts the
/// header and a `sockaddr_ll` (`TPACKETn_HDRLEN`) first and aligns the network header,
/// 14 bytes in, to 16 after them and at least 16 bytes of room.
const V3_MAC_OFF: usize = tpacket_align(libc::TPACKET3_HDRLEN + 16) - ETH_HLEN;
const V2_MAC_OFF: usize = tpacket_align(libc::TPACKET2_HDRLEN + 16) - ETH_HLEN;
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_MIN_FRAME: usize = 60;
/// The largest IPv4 packet (its 16-bit total length).
const IPV4_MAX: usize = 65_535;
/// A TX slot with TSO: the ring header, the `virtio_net_hdr` and the largest untagged IPv4
/// frame, rounded up to 16 (`tpacket_snd` refuses a frame above `tp_frame_size` - 32 with
/// the `virtio_net_hdr` counted in it).
const TSO_FRAME_SIZE: usize =
    (FRAME_HDR + VNET_HDR_LEN + ETH_HLEN + IPV4_MAX).next_multiple_of(libc::TPACKET_ALIGNMENT);
/// A TX ring block with TSO. The kernel allocates each ring block as a power-of-two run of
/// pages (`alloc_pg_vec` with `get_order(tp_block_size)`), so a block of one slot rounded
/// to pages (69,632 bytes) would cost 128 KiB; 1 MiB holds 15 slots (94% used). Falls back
/// to vmalloc in the kernel when no 1 MiB of contiguous pages is free.
const TSO_BLOCK_SIZE: usize = 1 << 20;
/// With `rx_gso`, the longest frame the RX ring takes: the largest IPv4 packet, its
/// Ethernet header and a tag left in the frame.
const RX_GSO_SNAP: usize = ETH_HLEN + VLAN_HLEN + IPV4_MAX;
/// With `rx_gso`, an RX slot of a V2 ring (its `tp_frame_size`, nominal for V3): the
/// ring header, `sockaddr_ll` and padding, the `virtio_net_hdr`, then the frame
/// (`tpacket_rcv` puts the frame at `macoff`, which grows by the header's 10 bytes).
const RX_GSO_FRAME_SIZE: usize =
    (V2_MAC_OFF + VNET_HDR_LEN + RX_GSO_SNAP).next_multiple_of(libc::TPACKET_ALIGNMENT);
/// With `rx_gso`, an RX ring block: 15 slots (V2), as for TX with TSO.
const RX_GSO_BLOCK_SIZE: usize = 1 << 20;
/// What one queued super-frame is charged against the socket's receive buffer (its skb's
/// `truesize`: 64 KiB of page fragments, the head and the `sk_buff`), to size `SO_RCVBUF`
/// for `rx_gso_frames` of them.
const RX_GSO_TRUESIZE: usize = 72 * 1024;

/// Offsets of the block descriptor fields read on the hot path.
const BD_STATUS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, block_status);
const BD_NUM_PKTS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const BD_FIRST: usize = offset_of!(libc::tpacket_block_desc, hdr)
    + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
const TX_LEN: usize = offset_of!(libc::tpacket2_hdr, tp_len);

const fn tpacket_align(x: usize) -> usize {
    (x + libc::TPACKET_ALIGNMENT - 1) & !(libc::TPACKET_ALIGNMENT - 1)
}

/// Ring sizes derived from a config, checked before anything is opened.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    rx_block: usize,
    rx_blocks: usize,
    rx_frame: usize,
    /// Largest frame handed up.
    rx_snap: usize,
    /// Largest frame the ring takes (the socket filter's cap): `rx_snap`, or with
    /// `rx_gso` a 64 KiB super-frame.
    rx_ring_snap: usize,
    /// RX frames carry a `virtio_net_hdr` in front (`rx_gso`).
    rx_vnet: bool,
    /// Frames longer than a slot wait whole in the socket's queue (`PACKET_COPY_THRESH`),
    /// `rx_queue_bytes` of it (`SO_RCVBUF`): `rx_gso` with a V2 ring.
    rx_queue: bool,
    rx_queue_bytes: usize,
    tx_block: usize,
    tx_blocks: usize,
    tx_frame: usize,
    tx_per_block: usize,
    /// Offset of a frame's first byte from its TX slot's start.
    tx_data_off: usize,
    /// TX slots start with a `virtio_net_hdr` (`PACKET_VNET_HDR`): with `tx_linear` or TSO.
    tx_vnet: bool,
}

impl Geometry {
    /// The rings for `cfg`, with TX slots for TSO super-frames when `tso` (the device has
    /// TSO and `cfg.tso` asks for it).
    fn new(cfg: &AfPacketConfig, tso: bool) -> Result<Geometry, Error> {
        let bad = |what: String| Err(Error::InvalidConfig { what });
        let page = page_size();
        if cfg.rx_gso && cfg.rx_ring == RxRingKind::V3 {
            return Geometry::new_rx_gso(cfg, tso);
        }
        // V2 with rx_gso: ordinary slots, a virtio_net_hdr before each frame, and the
        // super-frames (longer than a slot) through the socket's queue.
        let queue = cfg.rx_gso;
        if queue && cfg.rx_gso_frames == 0 {
            return bad("rx_gso_frames must be at least 1".into());
        }
        let (rb, rn, rf) = (cfg.rx_block_size, cfg.rx_block_count, cfg.rx_frame_size);
        if rb == 0 || rb % page != 0 {
            return bad(format!(
                "rx_block_size {rb} must be a non-zero multiple of the page size {page}"
            ));
        }
        if rn == 0 {
            return bad("rx_block_count must be at least 1".into());
        }
        // Bytes of an RX frame that do not carry the Ethernet frame.
        let rx_hdr = match cfg.rx_ring {
            RxRingKind::V3 => FRAME_HDR,
            RxRingKind::V2 if queue => V2_MAC_OFF + VNET_HDR_LEN,
            RxRingKind::V2 => V2_MAC_OFF,
        };
        if rf % libc::TPACKET_ALIGNMENT != 0 || rf < rx_hdr + ETH_MIN_FRAME {
            return bad(format!(
                "rx_frame_size {rf} must be a multiple of 16 and at least {}",
                rx_hdr + ETH_MIN_FRAME
            ));
        }
        let rx_snap = rf - rx_hdr;
        let queue_bytes = cfg.rx_gso_frames.saturating_mul(RX_GSO_TRUESIZE);
        match cfg.rx_ring {
            RxRingKind::V3 if BLOCK_HDR + V3_MAC_OFF + rx_snap > rb => {
                return bad(format!(
                    "rx_block_size {rb} cannot hold one {rf}-byte frame with its headers"
                ));
            }
            // Slots then tile each block exactly, so slot i starts at i * rf.
            RxRingKind::V2 if rb % rf != 0 => {
                return bad(format!(
                    "rx_block_size {rb} must be a multiple of rx_frame_size {rf} \
                     with the v2 RX ring"
                ));
            }
            _ => {}
        }
        let ring_ok = rb
            .checked_mul(rn)
            .is_some_and(|total| total <= u32::MAX as usize);
        if !ring_ok {
            return bad(format!(
                "RX ring of {rn} blocks of {rb} bytes is larger than 4 GiB"
            ));
        }
        Geometry::with_tx(
            cfg,
            tso,
            Geometry {
                rx_block: rb,
                rx_blocks: rn,
                rx_frame: rf,
                // With the queue, frames handed up are as long as with the V3 ring's
                // rx_gso (the longer ones arrive through the queue).
                rx_snap: if queue { rf - FRAME_HDR } else { rx_snap },
                rx_ring_snap: if queue { RX_GSO_SNAP } else { rx_snap },
                rx_vnet: queue,
                rx_queue: queue,
                rx_queue_bytes: if queue { queue_bytes } else { 0 },
                tx_block: 0,
                tx_blocks: 0,
                tx_frame: 0,
                tx_per_block: 0,
                tx_data_off: 0,
                tx_vnet: false,
            },
        )
    }

    /// The V3 RX ring with `rx_gso`: room for 64 KiB super-frames in 1 MiB blocks.
    fn new_rx_gso(cfg: &AfPacketConfig, tso: bool) -> Result<Geometry, Error> {
        let bad = |what: String| Err(Error::InvalidConfig { what });
        let rf = cfg.rx_frame_size;
        if !rf.is_multiple_of(libc::TPACKET_ALIGNMENT) || rf < FRAME_HDR + ETH_MIN_FRAME {
            return bad(format!(
                "rx_frame_size {rf} must be a multiple of 16 and at least {}",
                FRAME_HDR + ETH_MIN_FRAME
            ));
        }
        if cfg.rx_gso_frames == 0 {
            return bad("rx_gso_frames must be at least 1".into());
        }
        let block = RX_GSO_BLOCK_SIZE.next_multiple_of(page_size());
        let blocks = cfg.rx_gso_frames.div_ceil(block / RX_GSO_FRAME_SIZE);
        if block
            .checked_mul(blocks)
            .is_none_or(|t| t > u32::MAX as usize)
        {
            return bad(format!(
                "RX ring of {} super-frames is larger than 4 GiB",
                cfg.rx_gso_frames
            ));
        }
        Geometry::with_tx(
            cfg,
            tso,
            Geometry {
                rx_block: block,
                rx_blocks: blocks,
                rx_frame: RX_GSO_FRAME_SIZE,
                rx_snap: (rf - FRAME_HDR).min(RX_GSO_SNAP),
                rx_ring_snap: RX_GSO_SNAP,
                rx_vnet: true,
                rx_queue: false,
                rx_queue_bytes: 0,
                tx_block: 0,
                tx_blocks: 0,
                tx_frame: 0,
                tx_per_block: 0,
                tx_data_off: 0,
                tx_vnet: false,
            },
        )
    }

    /// `rx` (its RX fields set) with the TX ring for `cfg` filled in.
    fn with_tx(cfg: &AfPacketConfig, tso: bool, rx: Geometry) -> Result<Geometry, Error> {
        let bad = |what: String| Err(Error::InvalidConfig { what });
        let page = page_size();
        let (tn, tf) = if tso {
            (cfg.tso_tx_frames, TSO_FRAME_SIZE)
        } else {
            (cfg.tx_frames, cfg.tx_frame_size)
        };
        if tn == 0 {
            let what = if tso { "tso_tx_frames" } else { "tx_frames" };
            return bad(format!("{what} must be at least 1"));
        }
        let tx_vnet = tso || cfg.linear_tx();
        let tx_data_off = FRAME_HDR + if tx_vnet { VNET_HDR_LEN } else { 0 };
        if tf % libc::TPACKET_ALIGNMENT != 0 || tf < tx_data_off + ETH_MIN_FRAME {
            return bad(format!(
                "tx_frame_size {tf} must be a multiple of 16 and at least {}",
                (tx_data_off + ETH_MIN_FRAME).next_multiple_of(libc::TPACKET_ALIGNMENT)
            ));
        }
        // One block per slot size rounded up to pages: small, always allocatable, and with
        // 2 KiB slots on 4 KiB pages no byte is wasted. TSO slots share larger blocks (see
        // TSO_BLOCK_SIZE).
        let tx_block = if tso {
            TSO_BLOCK_SIZE.next_multiple_of(page)
        } else {
            tf.div_ceil(page) * page
        };
        let tx_per_block = tx_block / tf;
        let tx_blocks = tn.div_ceil(tx_per_block);
        let ring_ok = tx_block
            .checked_mul(tx_blocks)
            .is_some_and(|total| total <= u32::MAX as usize);
        if !ring_ok {
            return bad(format!(
                "TX ring of {tn} slots of {tf} bytes is larger than 4 GiB"
            ));
        }
        Ok(Geometry {
            tx_block,
            tx_blocks,
            tx_frame: tf,
            tx_per_block,
            tx_data_off,
            tx_vnet,
            ..rx
        })
    }

    /// RX slots per block (V2; nominal for V3).
    fn rx_per_block(&self) -> usize {
        self.rx_block / self.rx_frame
    }

    /// RX frames the ring holds: the slot count of a V2 ring, nominal for V3.
    fn rx_frames(&self) -> usize {
        self.rx_block / self.rx_frame * self.rx_blocks
    }

    fn tx_frames(&self) -> usize {
        self.tx_per_block * self.tx_blocks
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// A shared mapping of a packet ring, unmapped on drop.
#[derive(Debug)]
struct Ring {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone; moving it to another
// thread moves the only handle to it. The kernel's side synchronises through the status
// words, which are accessed atomically.
unsafe impl Send for Ring {}

impl Ring {
    fn map(fd: &OwnedFd, len: usize, what: &str, dev: &str) -> Result<Ring, Error> {
        // SAFETY: a fresh shared mapping of the socket's ring (no address hint); the kernel
        // checks `len` against the ring it set up and the result is checked before use.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os(
                format!("mmap of the {what} ring on {dev:?}"),
                dev,
                NEED_NET_ADMIN,
            ));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| Error::Io {
            what: format!("mmap of the {what} ring on {dev:?}"),
            source: io::Error::other("mapped at address 0"),
        })?;
        Ok(Ring { base, len })
    }

    #[inline]
    fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.len);
        // SAFETY: callers pass offsets inside the mapping (block and slot arithmetic is
        // bounded by the geometry the ring was created with).
        unsafe { self.base.as_ptr().add(off) }
    }

    /// The 32-bit status word at `off`, shared with the kernel.
    #[inline]
    fn status(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off + 4 <= self.len && off & 3 == 0);
        // SAFETY: `off` is the offset of a block or slot status word: inside the mapping,
        // 4-byte aligned (blocks are page aligned, slots 16-byte aligned) and alive as long
        // as `self`. The kernel accesses it with plain stores and loads ordered by barriers,
        // which is the protocol of the ring.
        unsafe { AtomicU32::from_ptr(self.at(off).cast::<u32>()) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned, and no borrow of the mapping
        // outlives `self` (frames lent to callbacks and reservations borrow the port).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

fn packet_socket(dev: &str, what: &str) -> Result<OwnedFd, Error> {
    // Protocol 0: nothing is queued to the socket until bind names the protocol, so frames
    // of other devices never slip in before the bind.
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os(
            format!("AF_PACKET {what} socket on {dev:?}"),
            dev,
            NEED_NET_ADMIN,
        ));
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_opt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
    what: &str,
    dev: &str,
) -> Result<(), Error> {
    // SAFETY: `val` points to a live `T` of the size passed, which is the option's type.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::last_os(
            format!("{what} on {dev:?}"),
            dev,
            NEED_NET_ADMIN,
        ));
    }
    Ok(())
}

fn bind_ll(fd: &OwnedFd, ifindex: i32, proto: u16, what: &str, dev: &str) -> Result<(), Error> {
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::last_os(
            format!("bind of the AF_PACKET {what} socket to {dev:?}"),
            dev,
            NEED_NET_ADMIN,
        ));
    }
    Ok(())
}

/// Read and so clear the socket's pending error (`ENETDOWN` after the device went down),
/// which would otherwise make every `poll` return at once.
fn clear_socket_error(fd: RawFd) {
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for SO_ERROR's int-sized result.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        );
    }
}

/// Let the socket queue `bytes` of received skbs (the kernel doubles what it is given,
/// for its own overhead, so half is asked for): `SO_RCVBUFFORCE`, which needs
/// `CAP_NET_ADMIN`, else `SO_RCVBUF`, which `net.core.rmem_max` caps.
fn set_rcvbuf(fd: &OwnedFd, bytes: usize, dev: &str) -> Result<(), Error> {
    let half = libc::c_int::try_from(bytes / 2).unwrap_or(libc::c_int::MAX / 2);
    let what = "SO_RCVBUFFORCE for rx_gso super-frames";
    match set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &half, what, dev) {
        Ok(()) => Ok(()),
        Err(_) => set_opt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &half,
            "SO_RCVBUF for rx_gso super-frames",
            dev,
        ),
    }
}

/// The receive half: a `TPACKET_V3` or `TPACKET_V2` ring.
#[derive(Debug)]
pub struct AfPacketRx {
    ring: Ring,
    fd: OwnedFd,
    cursor: Cursor,
    /// Largest frame handed up.
    snap: usize,
    /// Largest frame taken from the ring (the socket filter's cap).
    ring_snap: usize,
    /// With `rx_gso`: what cutting super-frames needs.
    gso: Option<RxGso>,
    stats: PortStats,
    /// Kernel ring-full drops read so far (reading `PACKET_STATISTICS` resets them).
    kernel_drops: Cell<u64>,
    /// Interface name, for error lines.
    dev: String,
    /// Whether the kernel drops the stack's frames, and the link that keeps the program
    /// attached: held by the receive half, so it lasts as long as the ring that takes
    /// those frames, also after [`Port::into_parts`](crate::Port::into_parts).
    kernel_drop: KernelDrop,
    _kernel_drop_link: Option<OwnedFd>,
}

/// The reader's place in the RX ring, in the ring's own layout.
#[derive(Debug)]
enum Cursor {
    Blocks(BlockCursor),
    Slots(SlotCursor),
}

/// `TPACKET_V3`: walks the frames of user-owned blocks.
#[derive(Debug)]
struct BlockCursor {
    block_size: usize,
    block_count: usize,
    /// The block the cursor is in: the oldest one not yet given back to the kernel.
    block: usize,
    /// The cursor block was found user-owned and is being walked.
    open: bool,
    /// Frames of the open block not yet looked at.
    left: u32,
    /// Offset in the open block of the next frame header.
    next_off: usize,
    /// `tp_rxhash` is filled in (fanout by hash).
    rss: bool,
}

/// `TPACKET_V2`: one frame per fixed slot, each with its own status word.
#[derive(Debug)]
struct SlotCursor {
    frame_size: usize,
    block_size: usize,
    /// Slots per block (the last slot of a block may leave some bytes unused).
    per_block: usize,
    frames: usize,
    /// The oldest slot not yet given back to the kernel.
    slot: usize,
}

/// The two frame-length limits of the RX half.
#[derive(Clone, Copy, Debug)]
struct Snap {
    /// Largest frame handed up.
    up: usize,
    /// Largest frame taken from the ring: `up`, or with `rx_gso` a 64 KiB super-frame.
    ring: usize,
}

/// What the ring header of one received frame says, whichever the ring version.
struct FrameHdr {
    status: u32,
    len: u32,
    snaplen: u32,
    /// Offset of the frame's first byte from the header.
    mac: usize,
    sec: u32,
    nsec: u32,
    vlan_tci: u16,
    rss_hash: Option<u32>,
}

impl FrameHdr {
    #[inline]
    fn v3(h: &libc::tpacket3_hdr, rss: bool) -> FrameHdr {
        FrameHdr {
            status: h.tp_status,
            len: h.tp_len,
            snaplen: h.tp_snaplen,
            mac: h.tp_mac as usize,
            sec: h.tp_sec,
            nsec: h.tp_nsec,
            vlan_tci: h.hv1.tp_vlan_tci as u16,
            rss_hash: rss.then_some(h.hv1.tp_rxhash),
        }
    }

    #[inline]
    fn v2(h: &libc::tpacket2_hdr) -> FrameHdr {
        FrameHdr {
            status: h.tp_status,
            len: h.tp_len,
            snaplen: h.tp_snaplen,
            mac: usize::from(h.tp_mac),
            sec: h.tp_sec,
            nsec: h.tp_nsec,
            vlan_tci: h.tp_vlan_tci,
            rss_hash: None,
        }
    }
}

/// Check a frame whose header has `room` bytes of its block or slot from the header on and
/// whose first byte must be at least `front` bytes after the header, and describe it for
/// the callback; or count why it is not handed up.
#[inline]
fn frame_meta(
    h: &FrameHdr,
    room: usize,
    front: usize,
    snap_max: usize,
    stats: &mut PortStats,
) -> Option<RxMeta> {
    let snap = h.snaplen as usize;
    if h.mac + snap > room || h.mac < front {
        stats.rx_other_drops += 1;
        return None;
    }
    if snap < h.len as usize || snap > snap_max {
        stats.rx_truncated += 1;
        return None;
    }
    Some(rx_meta(h, h.snaplen))
}

/// What the callback is told of a frame of `len` bytes with ring header `h`.
#[inline]
fn rx_meta(h: &FrameHdr, len: u32) -> RxMeta {
    let mut meta = RxMeta {
        len,
        rss_hash: h.rss_hash,
        timestamp_ns: u64::from(h.sec) * 1_000_000_000 + u64::from(h.nsec),
        vlan_tci: 0,
        flags: RxFlags::empty(),
    };
    if h.status & libc::TP_STATUS_CSUMNOTREADY != 0 {
        meta.flags |= RxFlags::CSUM_PARTIAL;
    }
    if h.status & libc::TP_STATUS_CSUM_VALID != 0 {
        meta.flags |= RxFlags::CSUM_VALID;
    }
    if h.status & libc::TP_STATUS_VLAN_VALID != 0 {
        meta.flags |= RxFlags::VLAN_STRIPPED;
        meta.vlan_tci = h.vlan_tci;
    }
    meta
}

/// What cutting received super-frames needs (`rx_gso`), owned by the RX half so the hot
/// path neither allocates nor shares.
#[derive(Debug)]
struct RxGso {
    /// One segment is built here before it is handed up.
    scratch: Box<[u8]>,
    /// IP MTU the segments fit: the device's, or less when the frames handed up must be
    /// shorter.
    mtu: usize,
    /// The next segment of the super-frame at the cursor, when a burst's `max` stopped
    /// its cut part way (0 otherwise).
    next: usize,
    /// Super-frames cut.
    frames: u64,
    /// Segments handed up from them.
    segments: u64,
    /// V2 ring: a super-frame read from the socket's queue (its `virtio_net_hdr`, then
    /// the frame), `queued_len` bytes of it; `None` with a V3 ring.
    queued: Option<Box<[u8]>>,
    queued_len: usize,
    /// The RX socket, whose queue `queued` is read from (owned by the RX half).
    fd: RawFd,
    /// Frames read from the socket's queue.
    from_queue: u64,
}

impl RxGso {
    /// Hand up the frame of a V2 slot the kernel marked `TP_STATUS_COPY` (too long for the
    /// slot): the whole frame is the next skb in the socket's queue. Read it on the first
    /// call for the slot, then cut it as [`deliver`] does, keeping it between bursts until
    /// all its segments are up. One system call per such frame, none for the others.
    fn deliver_queued<F: FnMut(&mut [u8], &RxMeta)>(
        &mut self,
        h: &FrameHdr,
        snap: usize,
        budget: usize,
        stats: &mut PortStats,
        f: &mut F,
    ) -> (usize, bool) {
        let Some(mut buf) = self.queued.take() else {
            // Not asked for (no PACKET_COPY_THRESH): the slot holds only the frame's start.
            stats.rx_truncated += 1;
            return (0, true);
        };
        if self.next == 0 {
            self.queued_len = 0;
            match recv_queued(self.fd, &mut buf) {
                Ok(len) if len > VNET_HDR_LEN + ETH_HLEN && len <= buf.len() => {
                    self.queued_len = len;
                    self.from_queue += 1;
                }
                // Longer than any IPv4 frame (or too short to be one): consumed, counted.
                Ok(_) => stats.rx_truncated += 1,
                // Nothing queued for the slot: the ring and the queue disagree.
                Err(_) => stats.rx_other_drops += 1,
            }
        }
        let len = self.queued_len;
        let done = if len == 0 {
            (0, true)
        } else {
            let meta = rx_meta(h, (len - VNET_HDR_LEN) as u32);
            deliver(&mut buf[..len], &meta, snap, Some(self), budget, stats, f)
        };
        self.queued = Some(buf);
        done
    }
}

/// Take the next skb off the socket's queue into `buf` without waiting: its length, which
/// is more than `buf` holds when it was cut short (`MSG_TRUNC`).
fn recv_queued(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call, and the
    // kernel writes no more than that.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Hand up one received frame from the ring: `buf` is the frame, with `rx_gso` preceded
/// by the kernel's `virtio_net_hdr`. Ordinary frames go up as they are; with `gso`, a TCP
/// super-frame goes up as its segments, at most `budget` of them now. Returns the frames
/// handed up and whether the ring frame is done with (`false`: call again with the same
/// frame for the rest of its segments before moving on).
#[inline]
fn deliver<F: FnMut(&mut [u8], &RxMeta)>(
    buf: &mut [u8],
    meta: &RxMeta,
    snap: usize,
    gso: Option<&mut RxGso>,
    budget: usize,
    stats: &mut PortStats,
    f: &mut F,
) -> (usize, bool) {
    let Some(gso) = gso else {
        return (plain(buf, meta, stats, f), true);
    };
    let (vnet, frame) = buf.split_at_mut(VNET_HDR_LEN);
    let Ok(vnet) = <&[u8; VNET_HDR_LEN]>::try_from(&*vnet) else {
        stats.rx_other_drops += 1;
        return (0, true);
    };
    let hdr = VnetHdr::from_bytes(vnet);
    let mut seg_meta = *meta;
    // The segments' checksums are summed here: complete and right.
    seg_meta.flags.remove(RxFlags::CSUM_PARTIAL);
    seg_meta.flags.insert(RxFlags::CSUM_VALID);
    let mut bytes = 0u64;
    let from = gso.next;
    let cut = cut_rx(
        &hdr,
        frame,
        gso.mtu,
        &mut gso.scratch,
        from,
        budget,
        |seg| {
            seg_meta.len = seg.len() as u32;
            bytes += seg.len() as u64;
            f(seg, &seg_meta);
        },
    );
    stats.rx_bytes += bytes;
    match cut {
        RxCut::Plain => {
            if frame.len() > snap {
                // A frame the ring takes for GSO's sake but too long to hand up.
                stats.rx_truncated += 1;
                return (0, true);
            }
            (plain(frame, meta, stats, f), true)
        }
        RxCut::Cut { next, segments } => {
            let done = next == segments;
            gso.next = if done { 0 } else { next };
            if done {
                gso.frames += 1;
                gso.segments += segments as u64;
            }
            (next - from, done)
        }
        RxCut::Bad => {
            gso.next = 0;
            stats.rx_other_drops += 1;
            (0, true)
        }
    }
}

/// Hand up an ordinary frame as it is.
#[inline]
fn plain<F: FnMut(&mut [u8], &RxMeta)>(
    frame: &mut [u8],
    meta: &RxMeta,
    stats: &mut PortStats,
    f: &mut F,
) -> usize {
    if meta.flags.contains(RxFlags::CSUM_PARTIAL) {
        stats.rx_csum_partial += 1;
    }
    stats.rx_bytes += frame.len() as u64;
    let mut meta = *meta;
    meta.len = frame.len() as u32;
    f(frame, &meta);
    1
}

impl BlockCursor {
    #[inline]
    fn block_status<'r>(&self, ring: &'r Ring) -> &'r AtomicU32 {
        ring.status(self.block * self.block_size + BD_STATUS)
    }

    #[inline]
    fn ready(&self, ring: &Ring) -> bool {
        (self.open && self.left > 0)
            || self.block_status(ring).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Give the cursor block back to the kernel and move to the next one.
    #[inline]
    fn release_block(&mut self, ring: &Ring) {
        // Release: every read of the block's frames happens before the kernel may refill it.
        self.block_status(ring)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.open = false;
        self.left = 0;
        self.block = if self.block + 1 == self.block_count {
            0
        } else {
            self.block + 1
        };
    }

    #[inline]
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(
        &mut self,
        ring: &Ring,
        snap: Snap,
        stats: &mut PortStats,
        mut gso: Option<&mut RxGso>,
        max: usize,
        mut f: F,
    ) -> usize {
        let vnet = if gso.is_some() { VNET_HDR_LEN } else { 0 };
        let front = size_of::<libc::tpacket3_hdr>() + vnet;
        let mut n = 0;
        while n < max {
            let block_off = self.block * self.block_size;
            if !self.open {
                if self.block_status(ring).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                    break;
                }
                // SAFETY: the block is user-owned (acquire above), so the kernel does not
                // write its descriptor until it is released; both fields lie in the
                // block's 48-byte descriptor, 4-byte aligned.
                let (num, first) = unsafe {
                    (
                        ptr::read(ring.at(block_off + BD_NUM_PKTS).cast::<u32>()),
                        ptr::read(ring.at(block_off + BD_FIRST).cast::<u32>()),
                    )
                };
                self.open = true;
                // A block cannot hold more headers than fit in it: bound a bogus count.
                let most = (self.block_size - BLOCK_HDR) / size_of::<libc::tpacket3_hdr>();
                self.left = num.min(most as u32);
                self.next_off = first as usize;
            }
            if self.left == 0 {
                self.release_block(ring);
                continue;
            }
            self.left -= 1;
            let off = self.next_off;
            if off < BLOCK_HDR || off + size_of::<libc::tpacket3_hdr>() > self.block_size {
                // A frame offset outside the block: nothing more in it can be trusted.
                stats.rx_other_drops += u64::from(self.left) + 1;
                self.release_block(ring);
                continue;
            }
            // SAFETY: `off` leaves room for a whole header inside the user-owned block
            // (checked above). The kernel aligns headers, but `off` comes from the ring, so
            // read without assuming it.
            let h = unsafe {
                ptr::read_unaligned(ring.at(block_off + off).cast::<libc::tpacket3_hdr>())
            };
            if h.tp_next_offset == 0 && self.left > 0 {
                // A chain that does not move on would hand up the same frame again.
                stats.rx_other_drops += u64::from(self.left) + 1;
                self.release_block(ring);
                continue;
            }
            self.next_off = off.saturating_add(h.tp_next_offset as usize);
            if self.left > 0 && self.next_off < self.block_size {
                // The next frame of the block, filled by the kernel on another CPU: start
                // loading its header and start while this one is handled.
                let len = (self.block_size - self.next_off).min(sys::PREFETCH_BYTES);
                prefetch(ring, block_off + self.next_off, len);
            }
            let hdr = FrameHdr::v3(&h, self.rss);
            let room = self.block_size - off;
            let Some(meta) = frame_meta(&hdr, room, front, snap.ring, stats) else {
                continue;
            };
            // SAFETY: the frame and the `vnet` bytes before it lie inside the user-owned
            // block after its header (`frame_meta` checked both ends against the rest of
            // the block); nothing else borrows them, and the slice does not outlive this
            // call of `deliver`.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(
                    ring.at(block_off + off + hdr.mac - vnet),
                    vnet + meta.len as usize,
                )
            };
            let gso = gso.as_deref_mut();
            let (handed, done) = deliver(buf, &meta, snap.up, gso, max - n, stats, &mut f);
            n += handed;
            if !done {
                // The burst is full with segments of this super-frame left: start from it
                // again next time (its block stays open).
                self.left += 1;
                self.next_off = off;
                break;
            }
        }
        if self.open && self.left == 0 {
            // Hand a consumed block back at once rather than at the next burst.
            self.release_block(ring);
        }
        n
    }
}

impl SlotCursor {
    /// Where the cursor slot starts in the ring (`packet_lookup_frame`'s arithmetic).
    #[inline]
    fn slot_off(&self) -> usize {
        self.off_of(self.slot)
    }

    /// The slot after the cursor's, wrapping at the ring's end.
    #[inline]
    fn next_slot(&self) -> usize {
        if self.slot + 1 == self.frames {
            0
        } else {
            self.slot + 1
        }
    }

    #[inline]
    fn off_of(&self, slot: usize) -> usize {
        slot / self.per_block * self.block_size + slot % self.per_block * self.frame_size
    }

    #[inline]
    fn slot_status<'r>(&self, ring: &'r Ring) -> &'r AtomicU32 {
        // tp_status is the first field of the slot's tpacket2_hdr.
        ring.status(self.slot_off())
    }

    #[inline]
    fn ready(&self, ring: &Ring) -> bool {
        self.slot_status(ring).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    #[inline]
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(
        &mut self,
        ring: &Ring,
        snap: Snap,
        stats: &mut PortStats,
        mut gso: Option<&mut RxGso>,
        max: usize,
        mut f: F,
    ) -> usize {
        let vnet = if gso.is_some() { VNET_HDR_LEN } else { 0 };
        let front = size_of::<libc::tpacket2_hdr>() + vnet;
        let mut n = 0;
        while n < max {
            if self.slot_status(ring).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            let off = self.slot_off();
            // The kernel fills the ring from another CPU, so the next slot's header and
            // frame start are cache misses: start loading them while this frame is handled
            // (in a burst the next frame is usually there already).
            prefetch(
                ring,
                self.off_of(self.next_slot()),
                self.frame_size.min(sys::PREFETCH_BYTES),
            );
            // SAFETY: the slot is user-owned (acquire above), so the kernel does not write
            // it until it is handed back; its header lies at the slot's start, inside the
            // ring and 16-byte aligned.
            let h = unsafe { ptr::read(ring.at(off).cast::<libc::tpacket2_hdr>()) };
            let hdr = FrameHdr::v2(&h);
            if hdr.status & libc::TP_STATUS_COPY != 0 {
                let (handed, done) = match gso.as_deref_mut() {
                    Some(g) => g.deliver_queued(&hdr, snap.up, max - n, stats, &mut f),
                    None => {
                        stats.rx_truncated += 1;
                        (0, true)
                    }
                };
                n += handed;
                if !done {
                    break;
                }
            } else if let Some(meta) = frame_meta(&hdr, self.frame_size, front, snap.ring, stats) {
                // SAFETY: the frame and the `vnet` bytes before it lie inside the
                // user-owned slot after its header (`frame_meta` checked both ends against
                // the slot); nothing else borrows them, and the slice does not outlive this
                // call of `deliver`.
                let buf = unsafe {
                    std::slice::from_raw_parts_mut(
                        ring.at(off + hdr.mac - vnet),
                        vnet + meta.len as usize,
                    )
                };
                let gso = gso.as_deref_mut();
                let (handed, done) = deliver(buf, &meta, snap.up, gso, max - n, stats, &mut f);
                n += handed;
                if !done {
                    // The burst is full with segments of this super-frame left: the slot
                    // stays ours until they are handed up.
                    break;
                }
            }
            // Release: every read of the slot happens before the kernel may refill it.
            self.slot_status(ring)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.slot = self.next_slot();
        }
        n
    }
}

/// Start loading `len` bytes of the ring at `off` into the cache.
#[inline]
fn prefetch(ring: &Ring, off: usize, len: usize) {
    sys::prefetch(ring.at(off), len);
}

impl AfPacketRx {
    fn read_kernel_drops(&self) {
        // PACKET_STATISTICS returns tpacket_stats_v3 for a V3 ring and tpacket_stats for
        // V1/V2; both start with tp_packets, tp_drops.
        let drops = match self.cursor {
            Cursor::Blocks(_) => {
                let mut st = libc::tpacket_stats_v3 {
                    tp_packets: 0,
                    tp_drops: 0,
                    tp_freeze_q_cnt: 0,
                };
                // SAFETY: a tpacket_stats_v3 is what this TPACKET_V3 socket returns.
                unsafe { packet_statistics(&self.fd, &mut st) }.then_some(st.tp_drops)
            }
            Cursor::Slots(_) => {
                let mut st = libc::tpacket_stats {
                    tp_packets: 0,
                    tp_drops: 0,
                };
                // SAFETY: a tpacket_stats is what this TPACKET_V2 socket returns.
                unsafe { packet_statistics(&self.fd, &mut st) }.then_some(st.tp_drops)
            }
        };
        if let Some(d) = drops {
            self.kernel_drops
                .set(self.kernel_drops.get() + u64::from(d));
        }
    }

    fn open(cfg: &AfPacketConfig, geo: &Geometry, ifindex: i32) -> Result<AfPacketRx, Error> {
        let dev = cfg.ifname.as_str();
        let fd = packet_socket(dev, "RX")?;
        let (version, what) = match cfg.rx_ring {
            RxRingKind::V3 => (libc::tpacket_versions::TPACKET_V3, "PACKET_VERSION 3"),
            RxRingKind::V2 => (libc::tpacket_versions::TPACKET_V2, "PACKET_VERSION 2"),
        };
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(version as libc::c_int),
            what,
            dev,
        )?;
        let one: libc::c_int = 1;
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &one,
            "PACKET_IGNORE_OUTGOING",
            dev,
        )?;
        if geo.rx_vnet {
            // Before the ring is set up (the kernel refuses it after): `tpacket_rcv` then
            // writes a virtio_net_hdr (`virtio_net_hdr_from_skb`) just before each frame,
            // in both ring versions, saying whether and how a super-frame is to be cut.
            set_opt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_VNET_HDR,
                &one,
                "PACKET_VNET_HDR on the RX socket",
                dev,
            )?;
        }
        if geo.rx_queue {
            // A frame longer than its slot still fills the slot (cut short, with
            // TP_STATUS_COPY), and tpacket_rcv queues the whole skb on the socket while the
            // receive buffer has room: read back with recv for that slot.
            set_opt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_COPY_THRESH,
                &one,
                "PACKET_COPY_THRESH",
                dev,
            )?;
            set_rcvbuf(&fd, geo.rx_queue_bytes, dev)?;
        }
        // A filter that accepts everything but only `snap` bytes of it: longer frames
        // arrive with tp_snaplen < tp_len and are counted, not copied whole into the ring.
        let mut prog = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: geo.rx_ring_snap as u32,
        }];
        let fprog = libc::sock_fprog {
            len: 1,
            filter: prog.as_mut_ptr(),
        };
        set_opt(
            &fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog,
            "snap-length socket filter",
            dev,
        )?;
        let cursor = match cfg.rx_ring {
            RxRingKind::V3 => {
                let rss = matches!(cfg.fanout, Some((_, FanoutMode::Hash)));
                let req = libc::tpacket_req3 {
                    tp_block_size: geo.rx_block as u32,
                    tp_block_nr: geo.rx_blocks as u32,
                    tp_frame_size: geo.rx_frame as u32,
                    tp_frame_nr: geo.rx_frames() as u32,
                    tp_retire_blk_tov: cfg.rx_retire_timeout_ms,
                    tp_sizeof_priv: 0,
                    tp_feature_req_word: if rss { libc::TP_FT_REQ_FILL_RXHASH } else { 0 },
                };
                set_opt(
                    &fd,
                    libc::SOL_PACKET,
                    libc::PACKET_RX_RING,
                    &req,
                    &format!(
                        "PACKET_RX_RING ({} blocks of {} bytes)",
                        geo.rx_blocks, geo.rx_block
                    ),
                    dev,
                )?;
                Cursor::Blocks(BlockCursor {
                    block_size: geo.rx_block,
                    block_count: geo.rx_blocks,
                    block: 0,
                    open: false,
                    left: 0,
                    next_off: 0,
                    rss,
                })
            }
            RxRingKind::V2 => {
                let req = libc::tpacket_req {
                    tp_block_size: geo.rx_block as u32,
                    tp_block_nr: geo.rx_blocks as u32,
                    tp_frame_size: geo.rx_frame as u32,
                    tp_frame_nr: geo.rx_frames() as u32,
                };
                set_opt(
                    &fd,
                    libc::SOL_PACKET,
                    libc::PACKET_RX_RING,
                    &req,
                    &format!(
                        "PACKET_RX_RING ({} slots of {} bytes)",
                        geo.rx_frames(),
                        geo.rx_frame
                    ),
                    dev,
                )?;
                Cursor::Slots(SlotCursor {
                    frame_size: geo.rx_frame,
                    block_size: geo.rx_block,
                    per_block: geo.rx_per_block(),
                    frames: geo.rx_frames(),
                    slot: 0,
                })
            }
        };
        let ring = Ring::map(&fd, geo.rx_block * geo.rx_blocks, "RX", dev)?;
        bind_ll(&fd, ifindex, libc::ETH_P_ALL as u16, "RX", dev)?;
        if let Some((group, mode)) = cfg.fanout {
            // Members of a group share the group's hook, which does not look at the
            // socket's own PACKET_IGNORE_OUTGOING: the group needs the flag itself.
            let flags = mode.kernel_mode() | libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
            let arg = (group as u32 | (flags << 16)) as libc::c_int;
            set_opt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                &arg,
                &format!("joining fanout group {group} ({mode:?})"),
                dev,
            )?;
        }
        // A device that is down at bind leaves ENETDOWN pending on the socket.
        clear_socket_error(fd.as_raw_fd());
        Ok(AfPacketRx {
            ring,
            fd,
            cursor,
            snap: geo.rx_snap,
            ring_snap: geo.rx_ring_snap,
            gso: None,
            stats: PortStats::default(),
            kernel_drops: Cell::new(0),
            dev: cfg.ifname.clone(),
            kernel_drop: KernelDrop::NotAsked,
            _kernel_drop_link: None,
        })
    }

    /// [`RxMeta::rss_hash`] is filled in: fanout by hash on a V3 ring.
    fn rss(&self) -> bool {
        matches!(self.cursor, Cursor::Blocks(BlockCursor { rss: true, .. }))
    }

    /// A frame is waiting in the ring without asking the kernel.
    #[inline]
    fn ready(&self) -> bool {
        match &self.cursor {
            Cursor::Blocks(c) => c.ready(&self.ring),
            Cursor::Slots(c) => c.ready(&self.ring),
        }
    }
}

/// Read `PACKET_STATISTICS` (which also resets the kernel's counters) into `out`.
///
/// # Safety
///
/// `T` must be the structure the socket's ring version returns (`tpacket_stats` or
/// `tpacket_stats_v3`: plain integers, valid for any bytes the kernel writes).
unsafe fn packet_statistics<T>(fd: &OwnedFd, out: &mut T) -> bool {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `out` and `len` describe a writable `T`; the kernel writes at most `len`
    // bytes, and any bytes are a valid `T` (the caller's contract).
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (out as *mut T).cast(),
            &mut len,
        )
    };
    rc == 0
}

impl RxQueue for AfPacketRx {
    fn recv_burst<F: FnMut(&mut [u8], &RxMeta)>(&mut self, max: usize, f: F) -> usize {
        let snap = Snap {
            up: self.snap,
            ring: self.ring_snap,
        };
        let (stats, gso) = (&mut self.stats, self.gso.as_mut());
        let n = match &mut self.cursor {
            Cursor::Blocks(c) => c.recv_burst(&self.ring, snap, stats, gso, max, f),
            Cursor::Slots(c) => c.recv_burst(&self.ring, snap, stats, gso, max, f),
        };
        if n > 0 {
            self.stats.rx_frames += n as u64;
            self.stats.rx_bursts += 1;
        }
        n
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        if self.ready() {
            return Ok(true);
        }
        let fd = self.fd.as_raw_fd();
        let woke = sys::poll_readable(fd, timeout).map_err(|e| Error::Io {
            what: format!("poll of the AF_PACKET ring on {:?}", self.dev),
            source: e,
        })?;
        if woke && !self.ready() {
            // Woken by a socket error (device went down), not by a frame.
            clear_socket_error(fd);
        }
        Ok(woke)
    }

    /// One `getsockopt(PACKET_STATISTICS)` to collect the kernel's ring-full drops: a
    /// system call per stats read, never per frame or burst.
    fn stats(&self) -> PortStats {
        self.read_kernel_drops();
        let mut s = self.stats;
        s.rx_ring_full += self.kernel_drops.get();
        s
    }
}

/// What the device allows a TSO super-frame, read once at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TsoLimits {
    /// Largest GSO packet from the IP header on (`gso_max_size`, for IPv4 also
    /// `gso_ipv4_max_size`).
    max_size: usize,
    /// Most segments per super-frame (`gso_max_segs`).
    max_segs: usize,
    /// The device keeps CWR to the first segment itself (`tx-tcp-ecn-segmentation`).
    ecn: bool,
}

/// ethtool's name for `NETIF_F_TSO` (TCP over IPv4) and `NETIF_F_TSO_ECN`.
const FEATURE_TSO: &str = "tx-tcp-segmentation";
const FEATURE_TSO_ECN: &str = "tx-tcp-ecn-segmentation";
const FEATURE_TX_CSUM_IPV4: &str = "tx-checksum-ipv4";
const FEATURE_TX_CSUM_GENERIC: &str = "tx-checksum-ip-generic";

/// Whether `dev` (in the calling thread's namespace) can take TSO super-frames, its
/// limits and where to read its TSO features again; or one line saying why not.
fn probe_tso(dev: &str, ifindex: i32, mtu: usize) -> Result<(TsoLimits, FeatureMap<2>), String> {
    let map = feature_map(dev, &[FEATURE_TSO, FEATURE_TSO_ECN])
        .map_err(|e| format!("cannot read the offload features of {dev:?}: {e}"))?;
    match tso_limits(ifindex, mtu, &map, dev)? {
        Ok(limits) => Ok((limits, map)),
        Err(NoTso::Off) => Err(format!(
            "{dev:?} has TCP segmentation offload off ({FEATURE_TSO}; \
             `ethtool -K {dev} tso on` where the device has it)"
        )),
        Err(NoTso::Limits(gso)) => Err(format!(
            "{dev:?} takes GSO packets of at most {} bytes and {} segments",
            gso.max_size, gso.max_segs
        )),
    }
}

/// Whether `dev` fills in the TCP and UDP checksums of IPv4 frames now
/// (`tx-checksum-ipv4` or `tx-checksum-ip-generic` active). A device whose features cannot
/// be read is taken to have neither.
fn tx_csum_on(dev: &str) -> bool {
    feature_map(dev, &[FEATURE_TX_CSUM_IPV4, FEATURE_TX_CSUM_GENERIC])
        .and_then(|map| active_features(dev, &map))
        .is_ok_and(|on| on.contains(&true))
}

/// Why a device cannot take super-frames from the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoTso {
    /// `tx-tcp-segmentation` is off.
    Off,
    /// These GSO limits leave no room for a frame of two segments.
    Limits(TsoLimits),
}

/// The TSO limits device `dev` (index `ifindex`) has now, or why it cannot take
/// super-frames: one `ETHTOOL_GFEATURES` request and, with TSO on, one `RTM_GETLINK`.
/// The outer error, one line: they could not be read.
fn tso_limits(
    ifindex: i32,
    mtu: usize,
    map: &FeatureMap<2>,
    dev: &str,
) -> Result<Result<TsoLimits, NoTso>, String> {
    let on = active_features(dev, map)
        .map_err(|e| format!("cannot read the offload features of {dev:?}: {e}"))?;
    if !on[0] {
        return Ok(Err(NoTso::Off));
    }
    let gso = link_gso_limits(ifindex)
        .map_err(|e| format!("cannot read the GSO limits of {dev:?}: {e}"))?;
    if gso.max_size <= ETH_HLEN + mtu + 1 || gso.max_segs < 2 {
        return Ok(Err(NoTso::Limits(gso)));
    }
    Ok(Ok(TsoLimits { ecn: on[1], ..gso }))
}

// ethtool ioctl commands and string sets (include/uapi/linux/ethtool.h).
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;

/// `struct ethtool_sset_info` with room for one count.
#[repr(C)]
struct EthtoolSsetInfo {
    cmd: u32,
    reserved: u32,
    sset_mask: u64,
    count: u32,
}

/// One `SIOCETHTOOL` request on `dev`.
///
/// # Safety
///
/// `arg` must be the structure the command in its first 4 bytes reads and writes, with
/// room for everything the kernel writes for it.
unsafe fn ethtool<T>(dev: &str, arg: *mut T) -> io::Result<()> {
    let mut ifr = sys::ifreq(dev).map_err(|e| io::Error::other(e.to_string()))?;
    ifr.ifr_ifru.ifru_data = arg.cast();
    sys::ifreq_ioctl(libc::SIOCETHTOOL, &mut ifr)
}

/// Where some of a device's features are in its `ETHTOOL_GFEATURES` answer. The kernel
/// names features from one table for every device, so the places do not change while
/// the device exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FeatureMap<const N: usize> {
    /// Features the kernel knows (`ETH_SS_FEATURES` strings).
    count: usize,
    /// Index of each wanted feature; `None` for a name the kernel does not know.
    index: [Option<usize>; N],
}

/// Where the features `names` (ethtool's names, as `ethtool -k` prints them) are in
/// `dev`'s feature words: two `SIOCETHTOOL` requests, the number of features and their
/// names.
fn feature_map<const N: usize>(dev: &str, names: &[&str; N]) -> io::Result<FeatureMap<N>> {
    let mut info = EthtoolSsetInfo {
        cmd: ETHTOOL_GSSET_INFO,
        reserved: 0,
        sset_mask: 1 << ETH_SS_FEATURES,
        count: 0,
    };
    // SAFETY: ETHTOOL_GSSET_INFO with one bit in the mask writes the header and one count.
    unsafe { ethtool(dev, &mut info)? };
    if info.sset_mask & (1 << ETH_SS_FEATURES) == 0 {
        return Err(io::Error::other("no feature list"));
    }
    let count = info.count as usize;
    let words = ETH_GSTRING_LEN / 4;
    // struct ethtool_gstrings: cmd, string_set, len, then `len` names of 32 bytes.
    let mut strings = vec![0u32; 3 + count * words];
    strings[0] = ETHTOOL_GSTRINGS;
    strings[1] = ETH_SS_FEATURES;
    strings[2] = count as u32;
    // SAFETY: the kernel writes the 3-word header and as many names as the set has, which
    // is `count` (the same kernel table answered both requests); the buffer holds them.
    unsafe { ethtool(dev, strings.as_mut_ptr())? };
    let names_len = (strings[2] as usize).min(count);
    let name_bytes: Vec<u8> = strings[3..3 + names_len * words]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    Ok(FeatureMap {
        count,
        index: names.map(|name| feature_index(&name_bytes, name)),
    })
}

/// Whether each feature of `map` is active on `dev` now: one `SIOCETHTOOL` request.
fn active_features<const N: usize>(dev: &str, map: &FeatureMap<N>) -> io::Result<[bool; N]> {
    // struct ethtool_gfeatures: cmd, size, then `size` blocks of available, requested,
    // active and never_changed bits.
    let blocks = map.count.div_ceil(32);
    let mut feats = vec![0u32; 2 + 4 * blocks];
    feats[0] = ETHTOOL_GFEATURES;
    feats[1] = blocks as u32;
    // SAFETY: the kernel writes the 2-word header and at most `size` blocks (it reads
    // `size` first), which the buffer holds.
    unsafe { ethtool(dev, feats.as_mut_ptr())? };
    Ok(map.index.map(|i| {
        i.is_some_and(|i| {
            let active = feats.get(2 + 4 * (i / 32) + 2).copied().unwrap_or(0);
            active & (1 << (i % 32)) != 0
        })
    }))
}

/// Whether each of the features `names` is active on `dev`; a name the kernel does not
/// know is off.
#[cfg(test)]
fn device_features<const N: usize>(dev: &str, names: &[&str; N]) -> io::Result<[bool; N]> {
    active_features(dev, &feature_map(dev, names)?)
}

/// The index of feature `name` in an `ETHTOOL_GSTRINGS` answer (NUL-padded 32-byte names).
fn feature_index(names: &[u8], name: &str) -> Option<usize> {
    names.chunks_exact(ETH_GSTRING_LEN).position(|n| {
        let end = n.iter().position(|&b| b == 0).unwrap_or(n.len());
        &n[..end] == name.as_bytes()
    })
}

// rtnetlink link attributes (include/uapi/linux/if_link.h).
const IFLA_GSO_MAX_SEGS: u16 = 40;
const IFLA_GSO_MAX_SIZE: u16 = 41;
const IFLA_GSO_IPV4_MAX_SIZE: u16 = 63;
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;

/// `gso_max_size` and `gso_max_segs` of interface `ifindex`, from one `RTM_GETLINK`. The
/// netlink socket lives in the calling thread's namespace, so this is right where /sys is
/// not (it shows the namespace it was mounted in).
fn link_gso_limits(ifindex: i32) -> io::Result<TsoLimits> {
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    const SEQ: u32 = 1;
    let req = getlink_request(ifindex, SEQ);
    // SAFETY: sends the bytes of `req`; with no address netlink sends to the kernel.
    let n = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // rtnetlink answers in the sender's context, so the reply is queued by now.
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: receives into `buf`, at most its length.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize > buf.len() {
        return Err(io::Error::other("RTM_GETLINK reply truncated"));
    }
    parse_getlink_reply(&buf[..n as usize], SEQ)
}

/// An `RTM_GETLINK` request for one interface: `nlmsghdr` then `ifinfomsg`.
fn getlink_request(ifindex: i32, seq: u32) -> [u8; NLMSG_HDRLEN + IFINFOMSG_LEN] {
    let mut r = [0u8; NLMSG_HDRLEN + IFINFOMSG_LEN];
    r[0..4].copy_from_slice(&((NLMSG_HDRLEN + IFINFOMSG_LEN) as u32).to_ne_bytes());
    r[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    r[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    r[8..12].copy_from_slice(&seq.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC, type 0, then the index.
    r[NLMSG_HDRLEN + 4..NLMSG_HDRLEN + 8].copy_from_slice(&ifindex.to_ne_bytes());
    r
}

/// The GSO limits in an `RTM_NEWLINK` answer to request `seq`, or the error it carries.
fn parse_getlink_reply(mut buf: &[u8], seq: u32) -> io::Result<TsoLimits> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"));
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(bad("message length out of bounds"));
        }
        let (msg, rest) = buf.split_at(len);
        buf = rest.get(len.next_multiple_of(4) - len..).unwrap_or(&[]);
        if u32_at(msg, 8) != seq {
            continue;
        }
        match u16_at(msg, 4) {
            t if t == libc::NLMSG_ERROR as u16 && msg.len() >= NLMSG_HDRLEN + 4 => {
                let err = u32_at(msg, NLMSG_HDRLEN) as i32;
                return Err(if err < 0 {
                    io::Error::from_raw_os_error(-err)
                } else {
                    bad("acknowledgement instead of the link")
                });
            }
            libc::RTM_NEWLINK => {}
            _ => continue,
        }
        let (mut size, mut size4, mut segs) = (None, None, None);
        let mut attrs = msg.get(NLMSG_HDRLEN + IFINFOMSG_LEN..).unwrap_or(&[]);
        while attrs.len() >= 4 {
            let alen = usize::from(u16_at(attrs, 0));
            if alen < 4 || alen > attrs.len() {
                return Err(bad("attribute length out of bounds"));
            }
            // The top two bits are the nested and byte-order flags.
            let kind = u16_at(attrs, 2) & 0x3fff;
            if alen >= 8 {
                let v = Some(u32_at(attrs, 4) as usize);
                match kind {
                    IFLA_GSO_MAX_SIZE => size = v,
                    IFLA_GSO_IPV4_MAX_SIZE => size4 = v,
                    IFLA_GSO_MAX_SEGS => segs = v,
                    _ => {}
                }
            }
            attrs = attrs.get(alen.next_multiple_of(4)..).unwrap_or(&[]);
        }
        let (Some(size), Some(segs)) = (size, segs) else {
            return Err(bad("no gso_max_size or gso_max_segs for the link"));
        };
        return Ok(TsoLimits {
            // Since 6.3 IPv4 has its own limit (BIG TCP), never above gso_max_size for a
            // packet of at most 64 KiB.
            max_size: size4.map_or(size, |s4| s4.min(size)),
            max_segs: segs,
            ecn: false,
        });
    }
    Err(bad("no answer for the link"))
}

/// The transmit half: a `TPACKET_V2` ring, plus the prepared-packet pool.
#[derive(Debug)]
pub struct AfPacketTx {
    ring: Ring,
    fd: OwnedFd,
    dev: String,
    frames: usize,
    frame_size: usize,
    block_size: usize,
    per_block: usize,
    /// Bytes of a slot callers may fill: `frame_size - data_off`.
    slot: usize,
    /// Offset of the frame from the slot's start: the ring header, then with `tx_linear`
    /// or TSO the `virtio_net_hdr`.
    data_off: usize,
    /// Each slot carries a `virtio_net_hdr` ahead of the frame (`tx_linear` or TSO).
    vnet: bool,
    /// `tx_linear`: the kernel copies each frame whole instead of lending it ring pages.
    linear: bool,
    /// Ordinary TCP and UDP frames go with their checksum left to the device.
    csum_offload: bool,
    /// Longest untagged frame the kernel accepts on the device (`mtu + 14`).
    max_wire: usize,
    /// The device's IP MTU, which each TSO segment must fit.
    mtu: usize,
    /// Largest TSO super-frame, 0 without TSO.
    tso_max: usize,
    /// Most segments per TSO super-frame.
    tso_max_segs: usize,
    /// A super-frame with CWR set may be cut by the device (it clears CWR after the first
    /// segment, or the qdisc path would segment such a frame in software).
    tso_cwr_ok: bool,
    /// With TSO and the qdisc bypass: where to read the device's TSO features again when
    /// a super-frame stalls (see [`AfPacketTx::recheck_tso`]).
    tso_watch: Option<FeatureMap<2>>,
    ifindex: i32,
    qdisc_bypass: bool,
    /// Consecutive kicks that left a multi-segment super-frame first in line.
    tso_stalls: u32,
    /// Why TSO stopped while the port was open.
    tso_lost: Option<String>,
    /// Next slot to fill.
    head: usize,
    /// First committed slot the kernel has not taken yet.
    kick: usize,
    /// Oldest slot not yet seen completed.
    tail: usize,
    /// Slots committed and not reclaimed (`head - tail`).
    in_flight: usize,
    /// Slots committed and not taken by the kernel (`head - kick`).
    pending: usize,
    /// Bytes of the pending slots.
    pending_bytes: u64,
    reserved: bool,
    pool: PreparedPool,
    stats: PortStats,
}

/// Largest super-frame for slots of `slot` bytes (copied whole with `linear`) on a device
/// with `limits`.
fn tso_max_for(slot: usize, linear: bool, limits: &TsoLimits) -> usize {
    // The kernel takes GSO away from an skb of gso_max_size bytes or more, its Ethernet
    // header included (gso_features_check), and the kernel would then segment it in
    // software, which the qdisc bypass drops.
    let mut max = slot.min(limits.max_size - 1).min(ETH_HLEN + IPV4_MAX);
    if linear {
        // hdr_len is 16 bits: a longer frame would have its tail lent from the ring, and
        // copied again on its way to a local socket.
        max = max.min(usize::from(u16::MAX));
    }
    max
}

/// Kicks between two readings of the device's features while a super-frame stays stuck
/// first in line (the first stuck kick reads them at once). Each reading is an ethtool
/// request, which takes the kernel's RTNL lock: not once per kick of a long congestion.
const TSO_RECHECK_EVERY: u32 = 64;

impl AfPacketTx {
    fn open(
        cfg: &AfPacketConfig,
        geo: &Geometry,
        ifindex: i32,
        mtu: usize,
        tso: Option<(TsoLimits, FeatureMap<2>)>,
    ) -> Result<AfPacketTx, Error> {
        let dev = cfg.ifname.as_str();
        let fd = packet_socket(dev, "TX")?;
        let v2 = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &v2,
            "PACKET_VERSION 2",
            dev,
        )?;
        // Without PACKET_LOSS a frame the kernel refuses stays TP_STATUS_WRONG_FORMAT and
        // the kernel's ring position stops at it for good; with it the kernel skips it.
        let one: libc::c_int = 1;
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_LOSS,
            &one,
            "PACKET_LOSS",
            dev,
        )?;
        if cfg.qdisc_bypass {
            set_opt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &one,
                "PACKET_QDISC_BYPASS",
                dev,
            )?;
        }
        if geo.tx_vnet {
            // Before the ring is set up (the kernel refuses it after): every slot then
            // starts with a virtio_net_hdr whose hdr_len says how much to copy and, for a
            // TSO super-frame, how to cut it.
            set_opt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_VNET_HDR,
                &one,
                "PACKET_VNET_HDR",
                dev,
            )?;
        }
        // Frames in flight are charged to the socket's send buffer; let the whole ring be
        // in flight. SO_SNDBUFFORCE passes wmem_max with CAP_NET_ADMIN; without it the
        // capped SO_SNDBUF only makes kicks stop earlier, so failures are ignored. An skb
        // is charged its buffer's allocation, a power of two for a 64 KiB TSO frame.
        let charge = geo.tx_frame.next_power_of_two().max(geo.tx_frame + 1024);
        let want = (geo.tx_frames() * charge).min(i32::MAX as usize / 2) as libc::c_int;
        if set_opt(
            &fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            &want,
            "SO_SNDBUFFORCE",
            dev,
        )
        .is_err()
        {
            let _ = set_opt(
                &fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                &want,
                "SO_SNDBUF",
                dev,
            );
        }
        let req = libc::tpacket_req {
            tp_block_size: geo.tx_block as u32,
            tp_block_nr: geo.tx_blocks as u32,
            tp_frame_size: geo.tx_frame as u32,
            tp_frame_nr: geo.tx_frames() as u32,
        };
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_TX_RING,
            &req,
            &format!(
                "PACKET_TX_RING ({} slots of {} bytes)",
                geo.tx_frames(),
                geo.tx_frame
            ),
            dev,
        )?;
        let ring = Ring::map(&fd, geo.tx_block * geo.tx_blocks, "TX", dev)?;
        // Protocol 0: bound to the device for sending, no receive hook registered.
        bind_ll(&fd, ifindex, 0, "TX", dev)?;
        let slot = geo.tx_frame - geo.tx_data_off;
        let linear = cfg.linear_tx();
        let tso_max = tso.map_or(0, |(t, _)| tso_max_for(slot, linear, &t));
        // Prepared images are ordinary frames: a pool sized by a TSO slot would take
        // 64 KiB per image.
        let prepared_frame = slot.min(cfg.tx_frame_size.saturating_sub(geo.tx_data_off));
        Ok(AfPacketTx {
            ring,
            fd,
            dev: dev.to_string(),
            frames: geo.tx_frames(),
            frame_size: geo.tx_frame,
            block_size: geo.tx_block,
            per_block: geo.tx_per_block,
            slot,
            data_off: geo.tx_data_off,
            vnet: geo.tx_vnet,
            linear,
            csum_offload: geo.tx_vnet && cfg.tx_csum_offload && tx_csum_on(dev),
            max_wire: mtu + ETH_HLEN,
            mtu,
            tso_max,
            tso_max_segs: tso.map_or(0, |(t, _)| t.max_segs),
            tso_cwr_ok: tso.is_some_and(|(t, _)| t.ecn) || !cfg.qdisc_bypass,
            // Through the qdisc a super-frame the device cannot take is segmented in
            // software and sent; only the bypass drops it.
            tso_watch: tso.filter(|_| cfg.qdisc_bypass).map(|(_, map)| map),
            ifindex,
            qdisc_bypass: cfg.qdisc_bypass,
            tso_stalls: 0,
            tso_lost: None,
            head: 0,
            kick: 0,
            tail: 0,
            in_flight: 0,
            pending: 0,
            pending_bytes: 0,
            reserved: false,
            pool: PreparedPool::new(cfg.prepared_capacity, prepared_frame),
            stats: PortStats::default(),
        })
    }

    /// Offset of slot `i`'s header in the ring (slots never straddle a ring block).
    #[inline]
    fn slot_off(&self, i: usize) -> usize {
        (i / self.per_block) * self.block_size + (i % self.per_block) * self.frame_size
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.frames {
            0
        } else {
            i + 1
        }
    }

    /// Move `tail` past slots the kernel has finished with, oldest first.
    #[inline]
    fn reclaim(&mut self) {
        let mut sent = self.in_flight - self.pending;
        while sent > 0 {
            let status = self.ring.status(self.slot_off(self.tail));
            let st = status.load(Ordering::Acquire);
            if st & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 {
                break;
            }
            if st & libc::TP_STATUS_WRONG_FORMAT != 0 {
                self.stats.tx_errors += 1;
                status.store(libc::TP_STATUS_AVAILABLE, Ordering::Relaxed);
            }
            self.tail = self.next(self.tail);
            self.in_flight -= 1;
            sent -= 1;
        }
    }

    /// The data area of the slot at `head` if the ring has room (reclaiming when it looks
    /// full). Not counted: callers count a full ring their own way.
    #[inline]
    fn free_slot(&mut self) -> Option<*mut u8> {
        if self.in_flight == self.frames {
            self.reclaim();
            if self.in_flight == self.frames {
                return None;
            }
        }
        Some(self.ring.at(self.slot_off(self.head) + self.data_off))
    }

    /// Queue the first `len` bytes of the slot at `head` (already known to fit the slot).
    #[inline]
    fn queue(&mut self, len: usize) -> bool {
        let off = self.slot_off(self.head);
        if len < ETH_HLEN {
            self.stats.tx_bad_len += 1;
            return false;
        }
        if len > self.max_wire {
            // The kernel sends at most mtu + 14 bytes, 4 more for an 802.1Q-tagged frame
            // (af_packet.c, packet_extra_vlan_len_allowed); it would drop this one.
            // SAFETY: bytes 12..14 of the slot's data area, which holds at least 14 bytes.
            let ethertype = unsafe {
                u16::from_be_bytes(ptr::read(
                    self.ring.at(off + self.data_off + 12).cast::<[u8; 2]>(),
                ))
            };
            if ethertype != libc::ETH_P_8021Q as u16 || len > self.max_wire + VLAN_HLEN {
                self.stats.tx_errors += 1;
                return false;
            }
        }
        // No offloads (flags 0, GSO_NONE). With tx_linear hdr_len = the whole frame, so
        // the kernel copies all of it into the skb's own buffer (tpacket_snd's `copylen`;
        // it must not exceed the frame, __packet_snd_vnet_parse) and lends no ring page (a
        // jumbo frame past 64 KiB gets a shorter hdr_len: still valid, only paged).
        // Without, 0: the kernel copies the Ethernet header and lends the rest, as it does
        // for a socket without PACKET_VNET_HDR.
        let hdr_len = if self.linear {
            len.min(usize::from(u16::MAX)) as u16
        } else {
            0
        };
        let mut hdr = VnetHdr::plain(hdr_len);
        if self.csum_offload {
            // SAFETY: the slot's data area holds the `len` bytes just filled (len <= slot,
            // checked by the callers), it is not in flight, and the borrow ends here.
            let frame =
                unsafe { std::slice::from_raw_parts_mut(self.ring.at(off + self.data_off), len) };
            if let Some(at) = csum::offload_l4(frame) {
                hdr = VnetHdr::partial(hdr_len, at);
                self.stats.tx_csum_offloaded += 1;
            }
        }
        self.queue_slot(len, hdr);
        true
    }

    /// Hand the slot at `head`, holding a frame of `len` bytes, to the kernel, with `hdr`
    /// in front of it when the slots carry a `virtio_net_hdr`.
    #[inline]
    fn queue_slot(&mut self, len: usize, hdr: VnetHdr) {
        let off = self.slot_off(self.head);
        let mut tp_len = len;
        if self.vnet {
            // SAFETY: the slot is ours (as below); its 10 header bytes lie between the ring
            // header and the frame, inside the slot.
            unsafe {
                ptr::write(
                    self.ring.at(off + FRAME_HDR).cast::<[u8; VNET_HDR_LEN]>(),
                    hdr.to_bytes(),
                )
            };
            tp_len += VNET_HDR_LEN;
        }
        // SAFETY: the slot is ours (in_flight < frames: reclaimed or never used), tp_len is
        // inside its header and 4-byte aligned.
        unsafe { ptr::write(self.ring.at(off + TX_LEN).cast::<u32>(), tp_len as u32) };
        // Release: the frame bytes and tp_len are visible before the kernel sees the request.
        self.ring
            .status(off)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head = self.next(self.head);
        self.in_flight += 1;
        self.pending += 1;
        self.pending_bytes += len as u64;
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }

    /// Check the reserved frame of `len` bytes as a TSO super-frame for segments of `mss`
    /// bytes and describe it for the kernel; `None` when the port cannot send it so.
    #[inline]
    fn tso_hdr(&self, len: usize, mss: u16) -> Option<VnetHdr> {
        if len > self.tso_max {
            return None;
        }
        // SAFETY: the reserved slot at `head` is ours (not in flight) and holds at least
        // `tso_max` >= `len` bytes after its headers; the slice ends with this call.
        let frame = unsafe {
            std::slice::from_raw_parts(self.ring.at(self.slot_off(self.head) + self.data_off), len)
        };
        let t = tso::check(frame, mss, self.mtu).ok()?;
        if t.segments > self.tso_max_segs {
            return None;
        }
        let cwr = has_cwr(frame, &t);
        if cwr && t.segments > 1 && !self.tso_cwr_ok {
            // The device would leave CWR on every segment; the kernel would then segment
            // the frame in software, which PACKET_QDISC_BYPASS drops without a word.
            return None;
        }
        // With tx_linear the whole frame is copied (tso_max keeps it within hdr_len's 16
        // bits); else only the headers, and the device reads the payload from the ring.
        let hdr_len = if self.linear { len } else { t.payload_at };
        Some(VnetHdr::tso(&t, mss, hdr_len as u16, cwr))
    }

    /// After a kick, move `kick` past the slots the kernel took (those no longer
    /// requesting). A slot the driver refused is set back to requesting by the kernel and
    /// goes on the next kick.
    fn account_taken(&mut self, sent_bytes: Option<u64>) -> usize {
        if sent_bytes == Some(self.pending_bytes) {
            let n = self.pending;
            self.kick = self.head;
            self.pending = 0;
            self.pending_bytes = 0;
            return n;
        }
        let mut n = 0;
        while n < self.pending {
            let off = self.slot_off(self.kick);
            if self.ring.status(off).load(Ordering::Acquire) & libc::TP_STATUS_SEND_REQUEST != 0 {
                break;
            }
            let tp_len = self.slot_tp_len(off);
            // The kernel counts frame bytes only, as pending_bytes does.
            let len =
                u64::from(tp_len).saturating_sub(if self.vnet { VNET_HDR_LEN as u64 } else { 0 });
            self.pending_bytes -= len.min(self.pending_bytes);
            self.kick = self.next(self.kick);
            n += 1;
        }
        self.pending -= n;
        n
    }

    /// One `sendto`: the kernel sends the requested slots in ring order until one fails.
    /// Returns how many slots it took, and the error it stopped with.
    fn kick(&mut self) -> (usize, Option<io::Error>) {
        // SAFETY: sendto with no buffer and no address: the kernel sends the ring's
        // requested slots on the bound device.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        let err = (rc < 0).then(io::Error::last_os_error);
        let taken = self.account_taken((rc >= 0).then_some(rc as u64));
        if taken > 0 {
            self.stats.tx_kicks += 1;
        }
        (taken, err)
    }

    /// After a kick that left frames pending with no progress or `ENOBUFS`: if the first
    /// of them is a multi-segment super-frame, count the stuck kick, and on the first and
    /// every [`TSO_RECHECK_EVERY`]-th ask the device again ([`Self::recheck_tso`]).
    /// Whether pending frames were given up.
    #[cold]
    fn tso_stalled(&mut self) -> bool {
        if self.slot_vnet_hdr(self.slot_off(self.kick))[1] == VIRTIO_NET_HDR_GSO_NONE {
            self.tso_stalls = 0;
            return false;
        }
        self.tso_stalls = self.tso_stalls.wrapping_add(1);
        self.tso_stalls % TSO_RECHECK_EVERY == 1 && self.recheck_tso() > 0
    }

    /// Read the device's TSO state again. What it lost since the port opened (TSO itself,
    /// ECN segmentation, room in `gso_max_size` or `gso_max_segs`) now bounds later
    /// commits, and each pending super-frame it no longer fits is given up (counted in
    /// `tx_errors`): the driver would drop it and the kernel put it back in the ring for
    /// the next kick, holding up every frame behind it for good. With everything as it
    /// was (plain congestion: a busy or carrier-less device) nothing changes and the
    /// frame goes on a later kick. Returns how many frames were given up.
    fn recheck_tso(&mut self) -> usize {
        let Some(map) = self.tso_watch else {
            return 0;
        };
        match tso_limits(self.ifindex, self.mtu, &map, &self.dev) {
            // Not readable now (the device going away, say): try again later.
            Err(_) => return 0,
            Ok(Err(no)) => {
                let dev = &self.dev;
                let what = match no {
                    NoTso::Off => format!("TSO was turned off on {dev:?} ({FEATURE_TSO})"),
                    NoTso::Limits(gso) => format!(
                        "the GSO limits of {dev:?} fell to {} bytes and {} segments",
                        gso.max_size, gso.max_segs
                    ),
                };
                self.tso_lost = Some(format!(
                    "{what} while the port was open; super-frames are refused until it is \
                     reopened"
                ));
                self.tso_max = 0;
                self.tso_watch = None;
            }
            Ok(Ok(limits)) => {
                // Lowered only: the port does not start taking what it refused.
                let max = tso_max_for(self.slot, self.linear, &limits);
                self.tso_max = self.tso_max.min(max);
                self.tso_max_segs = self.tso_max_segs.min(limits.max_segs);
                self.tso_cwr_ok &= limits.ecn || !self.qdisc_bypass;
            }
        }
        self.drop_unsendable()
    }

    /// Turn every pending super-frame the port would no longer accept into a slot the
    /// kernel skips, and count it in `tx_errors`. Ordinary frames keep their place.
    fn drop_unsendable(&mut self) -> usize {
        let mut dropped = 0;
        let mut i = self.kick;
        for _ in 0..self.pending {
            let off = self.slot_off(i);
            let waiting =
                self.ring.status(off).load(Ordering::Acquire) & libc::TP_STATUS_SEND_REQUEST != 0;
            if waiting && !self.still_sendable(off) {
                let tp_len = self.slot_tp_len(off);
                // A tp_len shorter than the virtio_net_hdr fails tpacket_snd's first check
                // of the slot (EINVAL before any skb is built), and with PACKET_LOSS the
                // kernel gives the slot back (TP_STATUS_AVAILABLE) and goes on to the next
                // one, quietly; the kick then takes it as sent. The kernel reads the slot
                // only inside our own sendto, so writing it between kicks is safe.
                // SAFETY: tp_len of a slot we own the writing of, 4-byte aligned.
                unsafe { ptr::write(self.ring.at(off + TX_LEN).cast::<u32>(), 0) };
                let len = u64::from(tp_len).saturating_sub(VNET_HDR_LEN as u64);
                self.pending_bytes -= len.min(self.pending_bytes);
                self.stats.tx_errors += 1;
                dropped += 1;
            }
            i = self.next(i);
        }
        dropped
    }

    /// Whether the pending slot at `off` is an ordinary frame or a super-frame within the
    /// port's TSO limits as they are now.
    fn still_sendable(&self, off: usize) -> bool {
        let hdr = self.slot_vnet_hdr(off);
        let gso_type = hdr[1];
        if gso_type == VIRTIO_NET_HDR_GSO_NONE {
            return true;
        }
        let len = (self.slot_tp_len(off) as usize).saturating_sub(VNET_HDR_LEN);
        if len > self.tso_max || (gso_type & VIRTIO_NET_HDR_GSO_ECN != 0 && !self.tso_cwr_ok) {
            return false;
        }
        let mss = u16::from_ne_bytes([hdr[4], hdr[5]]);
        // SAFETY: the slot is pending, so its frame (len <= tso_max <= slot bytes) stays as
        // we wrote it; the slice ends with this call.
        let frame = unsafe { std::slice::from_raw_parts(self.ring.at(off + self.data_off), len) };
        tso::check(frame, mss, self.mtu).is_ok_and(|t| t.segments <= self.tso_max_segs)
    }

    /// The `virtio_net_hdr` of the slot at `off` (slots carry one with TSO).
    fn slot_vnet_hdr(&self, off: usize) -> [u8; VNET_HDR_LEN] {
        debug_assert!(self.vnet);
        // SAFETY: the 10 bytes between the ring header and the frame, inside the slot; we
        // wrote them before handing the slot over and the kernel does not change them.
        unsafe { ptr::read(self.ring.at(off + FRAME_HDR).cast::<[u8; VNET_HDR_LEN]>()) }
    }

    /// `tp_len` of the slot at `off`.
    fn slot_tp_len(&self, off: usize) -> u32 {
        // SAFETY: tp_len of a slot we wrote, inside its header and 4-byte aligned; the
        // kernel does not change it.
        unsafe { ptr::read(self.ring.at(off + TX_LEN).cast::<u32>()) }
    }
}

impl TxQueue for AfPacketTx {
    #[inline]
    fn tx_space(&mut self) -> usize {
        self.reclaim();
        self.frames - self.in_flight
    }

    #[inline]
    fn slot_size(&self) -> usize {
        self.slot
    }

    #[inline]
    fn reserve(&mut self) -> Option<&mut [u8]> {
        let Some(p) = self.free_slot() else {
            self.stats.tx_ring_full += 1;
            self.reserved = false;
            return None;
        };
        self.reserved = true;
        // SAFETY: the slot's data area (`slot` bytes inside the ring) is not in flight, and
        // the returned borrow of `self` keeps anything else from touching it meanwhile.
        Some(unsafe { std::slice::from_raw_parts_mut(p, self.slot) })
    }

    #[inline]
    fn commit(&mut self, len: usize) -> bool {
        if !self.reserved || len == 0 || len > self.slot {
            self.stats.tx_bad_len += 1;
            self.reserved = false;
            return false;
        }
        self.reserved = false;
        self.queue(len)
    }

    /// The smallest of the TX slot (65,558 bytes), one byte less than the device's GSO size
    /// limit (which counts the Ethernet header: 65,535 by default), and the largest IPv4
    /// frame (65,549; 65,535 with `tx_linear`, so the kernel copies the frame whole); 0
    /// without TSO.
    #[inline]
    fn tso_max(&self) -> usize {
        self.tso_max
    }

    /// Besides the trait's checks, refuses (counted in `tx_bad_len`) a frame of more
    /// segments than the device's `gso_max_segs`, and one with CWR set on a device without
    /// `tx-tcp-ecn-segmentation` when the qdisc is bypassed (send CWR in a lone segment).
    #[inline]
    fn commit_tso(&mut self, len: usize, mss: u16) -> bool {
        let reserved = std::mem::replace(&mut self.reserved, false);
        let hdr = if reserved {
            self.tso_hdr(len, mss)
        } else {
            None
        };
        let Some(hdr) = hdr else {
            self.stats.tx_bad_len += 1;
            return false;
        };
        self.queue_slot(len, hdr);
        self.stats.tx_tso += 1;
        true
    }

    fn disable_csum_offload(&mut self) {
        self.csum_offload = false;
    }

    fn pending(&self) -> usize {
        self.pending
    }

    fn flush(&mut self) -> Result<usize, Error> {
        if self.pending == 0 {
            return Ok(0);
        }
        let (mut taken, mut err) = self.kick();
        let stuck = self.pending > 0
            && (taken == 0
                || err.as_ref().and_then(io::Error::raw_os_error) == Some(libc::ENOBUFS));
        if !stuck || self.tso_watch.is_none() {
            self.tso_stalls = 0;
        } else if self.tso_stalled() {
            // The frames the device can no longer take are now ones the kernel skips:
            // what was queued behind them goes at once.
            let (more, e) = self.kick();
            taken += more;
            err = e;
        }
        match err {
            None => Ok(taken),
            // A full send buffer or a busy driver: what was not taken goes next time.
            Some(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR | libc::ENOMEM)
                ) =>
            {
                Ok(taken)
            }
            Some(e) => Err(Error::from_io(
                format!("AF_PACKET transmit on {:?}", self.dev),
                &self.dev,
                NEED_NET_ADMIN,
                e,
            )),
        }
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

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn send_prepared<R: FnOnce(&mut [u8])>(
        &mut self,
        id: PreparedId,
        mode: PrepMode,
        rewrite: R,
    ) -> bool {
        let slot_len = self.slot;
        // SAFETY: as in `reserve`: the slot is not in flight, lies in the ring (not in
        // `pool` or `stats`, which are borrowed beside it) and the slice ends with this call.
        let slot = self
            .free_slot()
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p, slot_len) });
        self.reserved = false;
        match send_prepared_by_copy(&mut self.pool, &mut self.stats, id, mode, rewrite, slot) {
            Some(len) => self.queue(len),
            None => false,
        }
    }
}

/// An AF_PACKET port: one device, one RX ring and one TX ring (see the module docs).
#[derive(Debug)]
pub struct AfPacketPort {
    rx: AfPacketRx,
    tx: AfPacketTx,
    caps: Capabilities,
    /// Why TSO was asked for and is not in use.
    tso_unavailable: Option<String>,
}

impl AfPacketPort {
    /// Open `cfg.ifname` (in the calling thread's network namespace).
    ///
    /// Errors, each one line: a malformed name ([`Error::InvalidInterfaceName`]), an
    /// unusable setting ([`Error::InvalidConfig`]), no such device ([`Error::NoSuchDevice`]),
    /// no `CAP_NET_RAW` ([`Error::PermissionDenied`]), or a failed ring set-up
    /// ([`Error::Io`] naming the step).
    pub fn open(cfg: AfPacketConfig) -> Result<Self, Error> {
        check_ifname(&cfg.ifname)?;
        // Chosen once, so the ring's layout and the socket option agree.
        let cfg = AfPacketConfig {
            tx_linear: Some(cfg.linear_tx()),
            ..cfg
        };
        // Both layouts checked before the device is looked at: which one is used depends
        // on the device.
        let mut geo = Geometry::new(&cfg, false)?;
        let tso_geo = if cfg.tso {
            Some(Geometry::new(&cfg, true)?)
        } else {
            None
        };
        let dev = cfg.ifname.as_str();
        let ifindex = sys::if_index(dev)?;
        let mtu = sys::if_mtu(dev)?;
        let mac = match cfg.mac {
            Some(m) => m,
            None => sys::if_mac(dev)?,
        };
        let mut tso_unavailable = None;
        let mut tso = None;
        if let Some(tso_geo) = tso_geo {
            match probe_tso(dev, ifindex, mtu) {
                Ok(probed) => {
                    tso = Some(probed);
                    geo = tso_geo;
                }
                Err(why) => tso_unavailable = Some(why),
            }
        }
        let mut rx = AfPacketRx::open(&cfg, &geo, ifindex)?;
        let tx = AfPacketTx::open(&cfg, &geo, ifindex, mtu, tso)?;
        // Never hand up a frame that could not be sent back out of a TX slot.
        rx.snap = rx.snap.min(tx.slot);
        if !geo.rx_vnet {
            // Without rx_gso the ring takes no frame it would not hand up.
            rx.ring_snap = rx.snap;
        } else {
            rx.gso = Some(RxGso {
                scratch: vec![0; rx.snap].into_boxed_slice(),
                // Segments no longer than the frames handed up.
                mtu: mtu.min(rx.snap - ETH_HLEN),
                next: 0,
                frames: 0,
                segments: 0,
                queued: geo
                    .rx_queue
                    .then(|| vec![0; VNET_HDR_LEN + RX_GSO_SNAP].into_boxed_slice()),
                queued_len: 0,
                from_queue: 0,
                fd: rx.fd.as_raw_fd(),
            });
        }
        if !cfg.kernel_drop.is_empty() {
            // Only now that the RX socket is bound: the program must never drop a frame
            // the ring would not have had first.
            // Never the kernel's own addresses: it would lose its traffic to them (an
            // operator who gave the stack the host's address by mistake, or on purpose
            // to share it, keeps a working host).
            let refused = match sys::host_ipv4_addrs() {
                Ok(host) => cfg.kernel_drop.iter().find_map(|a| {
                    host.iter().find(|(h, _)| h == a).map(|(_, on)| {
                        format!(
                            "{a} is this host's own address (on {on}): the kernel would \
                             lose its traffic to it"
                        )
                    })
                }),
                Err(e) => Some(format!("cannot list this host's addresses: {e}")),
            };
            let attached = match refused {
                Some(why) => Err(why),
                None => kernel_drop::attach(ifindex as u32, &cfg.kernel_drop),
            };
            match attached {
                Ok(link) => {
                    rx.kernel_drop = KernelDrop::Attached {
                        addrs: cfg.kernel_drop.clone(),
                    };
                    rx._kernel_drop_link = Some(link);
                }
                Err(why) => rx.kernel_drop = KernelDrop::Failed(why),
            }
        }
        let caps = Capabilities {
            mac,
            mtu,
            max_frame: rx.snap,
            rx_queues: 1,
            tx_queues: 1,
            queue_id: cfg.queue_id,
            rx_ring_size: geo.rx_frames(),
            tx_ring_size: tx.frames,
            zero_copy_prepared: false,
            rx_csum_offload: true,
            tx_csum_offload: tx.csum_offload,
            rss: rx.rss(),
        };
        Ok(AfPacketPort {
            rx,
            tx,
            caps,
            tso_unavailable,
        })
    }

    /// Why the port sends without TSO although [`AfPacketConfig::tso`] asked for it (the
    /// device has it off, or its limits could not be read, or TSO was turned off on the
    /// device while the port was open), for the application to print; `None` when TSO is
    /// in use or was not asked for. Without TSO, [`TxQueue::tso_max`] is 0 and
    /// [`TxQueue::commit_tso`] refuses every frame.
    pub fn tso_unavailable(&self) -> Option<&str> {
        self.tso_unavailable
            .as_deref()
            .or(self.tx.tso_lost.as_deref())
    }

    /// Whether the kernel drops the frames for [`AfPacketConfig::kernel_drop`]'s addresses
    /// (attached, not asked for, or why it failed), for the application to print.
    pub fn kernel_drop(&self) -> &KernelDrop {
        &self.rx.kernel_drop
    }

    /// With [`AfPacketConfig::rx_gso`]: GSO super-frames received and cut into segments
    /// so far (each segment counts once in `rx_frames`, its bytes in `rx_bytes`).
    pub fn rx_gso_frames(&self) -> u64 {
        self.rx.gso.as_ref().map_or(0, |g| g.frames)
    }

    /// With [`AfPacketConfig::rx_gso`]: segments handed up from the super-frames of
    /// [`AfPacketPort::rx_gso_frames`].
    pub fn rx_gso_segments(&self) -> u64 {
        self.rx.gso.as_ref().map_or(0, |g| g.segments)
    }

    /// With [`AfPacketConfig::rx_gso`] on a V2 ring: frames too long for a slot, read whole
    /// from the socket's queue (see [Receiving GSO super-frames](self#receiving-gso-super-frames)).
    pub fn rx_gso_queued(&self) -> u64 {
        self.rx.gso.as_ref().map_or(0, |g| g.from_queue)
    }

    /// The receive socket, for an event loop that polls several ports at once (readable
    /// when a ring block (V3) or frame (V2) is ready).
    pub fn rx_fd(&self) -> RawFd {
        self.rx.fd.as_raw_fd()
    }

    /// The interface this port is open on.
    pub fn ifname(&self) -> &str {
        &self.tx.dev
    }
}

crate::port::port_from_fields!(impl[] AfPacketPort => AfPacketRx, AfPacketTx);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::vnet::*;

    #[test]
    fn a_v3_rx_gso_ring_holds_64_kib_super_frames_in_1_mib_blocks() {
        let cfg = AfPacketConfig {
            rx_gso: true,
            rx_ring: RxRingKind::V3,
            ..AfPacketConfig::new("x")
        };
        let geo = Geometry::new(&cfg, false).unwrap();
        assert!(geo.rx_vnet && !geo.rx_queue);
        assert_eq!(geo.rx_frame, 65_632);
        // tpacket_rcv's macoff with the header: the frame must end inside the block.
        assert!(V3_MAC_OFF + VNET_HDR_LEN + geo.rx_ring_snap <= geo.rx_block - BLOCK_HDR);
        assert_eq!(geo.rx_ring_snap, 14 + 4 + 65_535);
        assert_eq!((geo.rx_block, geo.rx_per_block()), (1 << 20, 15));
        assert_eq!((geo.rx_blocks, geo.rx_frames()), (18, 270));
        // Frames handed up stay as without rx_gso (less the ring header).
        assert_eq!(geo.rx_snap, 2016);
        // The TX ring is not touched.
        assert_eq!(geo.tx_frames(), 1024);
        assert!(!geo.tx_vnet || cfg.linear_tx());
        let none = AfPacketConfig {
            rx_gso_frames: 0,
            ..cfg.clone()
        };
        assert!(Geometry::new(&none, false).is_err());
        let one = AfPacketConfig {
            rx_gso_frames: 1,
            ..none
        };
        assert_eq!(Geometry::new(&one, false).unwrap().rx_frames(), 15);
    }

    #[test]
    fn a_v2_rx_gso_ring_keeps_ordinary_slots_and_queues_super_frames_on_the_socket() {
        let cfg = AfPacketConfig {
            rx_gso: true,
            rx_ring: RxRingKind::V2,
            ..AfPacketConfig::new("x")
        };
        let plain = Geometry::new(
            &AfPacketConfig {
                rx_gso: false,
                ..cfg.clone()
            },
            false,
        )
        .unwrap();
        let geo = Geometry::new(&cfg, false).unwrap();
        assert!(geo.rx_vnet && geo.rx_queue);
        // The same slots as without rx_gso: 2 KiB each, 2048 of them (4 MiB, not 18).
        assert_eq!(
            (geo.rx_frame, geo.rx_frames()),
            (plain.rx_frame, plain.rx_frames())
        );
        assert_eq!((geo.rx_frame, geo.rx_frames()), (2048, 16 * 128));
        // A VLAN-tagged 1500-byte frame still fits a slot behind both headers; anything
        // up to the largest super-frame passes the filter (to be queued whole).
        assert!(V2_MAC_OFF + VNET_HDR_LEN + 1500 + ETH_HLEN + VLAN_HLEN <= geo.rx_frame);
        assert_eq!(geo.rx_ring_snap, 14 + 4 + 65_535);
        assert_eq!(geo.rx_snap, 2016);
        // 256 super-frames of 72 KiB may wait in the socket's queue.
        assert_eq!(geo.rx_queue_bytes, 256 * 72 * 1024);
        let none = AfPacketConfig {
            rx_gso_frames: 0,
            ..cfg
        };
        assert!(Geometry::new(&none, false).is_err());
        assert!(!plain.rx_queue && !plain.rx_vnet && plain.rx_queue_bytes == 0);
    }

    #[test]
    fn default_geometry_fits_a_vlan_tagged_1500_byte_frame() {
        let geo = Geometry::new(&AfPacketConfig::new("x"), false).unwrap();
        assert_eq!(FRAME_HDR, 32);
        assert_eq!(geo.rx_snap, 2016);
        assert!(geo.rx_snap >= 1500 + ETH_HLEN + VLAN_HLEN);
        assert_eq!(geo.tx_frames(), 1024);
        assert_eq!(geo.rx_frames(), 16 * 128);
    }

    #[test]
    fn tx_linear_defaults_to_copying_whole_on_virtual_interfaces_and_can_be_forced() {
        // Loopback (like veth) has no backing device: frames reach local sockets.
        assert!(AfPacketConfig::new("lo").linear_tx());
        let forced = |v| AfPacketConfig {
            tx_linear: Some(v),
            ..AfPacketConfig::new("lo")
        };
        assert!(!forced(false).linear_tx());
        assert!(forced(true).linear_tx());
        // A NIC (its /sys entry has a `device` link) lends the ring's pages by default.
        for nic in std::fs::read_dir("/sys/class/net")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = nic.file_name().to_string_lossy().into_owned();
            let has_device = nic.path().join("device").exists();
            assert_eq!(AfPacketConfig::new(name).linear_tx(), !has_device);
        }
    }

    #[test]
    fn a_linear_tx_slot_puts_the_frame_after_a_virtio_net_hdr() {
        let geo = Geometry::new(&AfPacketConfig::new("x"), false).unwrap();
        assert_eq!(geo.tx_data_off, 32 + VNET_HDR_LEN);
        assert!(geo.tx_frame - geo.tx_data_off >= 1500 + ETH_HLEN + VLAN_HLEN);
        let paged = AfPacketConfig {
            tx_linear: Some(false),
            ..AfPacketConfig::new("x")
        };
        assert_eq!(Geometry::new(&paged, false).unwrap().tx_data_off, 32);
        // 96 bytes hold a 60-byte frame behind the ring header, not behind both headers.
        let small = AfPacketConfig {
            tx_frame_size: 96,
            ..paged
        };
        assert!(Geometry::new(&small, false).is_ok());
        let e = Geometry::new(
            &AfPacketConfig {
                tx_linear: Some(true),
                ..small
            },
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 112"), "{e}");
    }

    #[test]
    fn tx_slots_round_up_to_whole_blocks_and_never_straddle_them() {
        let cfg = AfPacketConfig {
            tx_frames: 5,
            tx_frame_size: 3008,
            ..AfPacketConfig::new("x")
        };
        let geo = Geometry::new(&cfg, false).unwrap();
        assert!(geo.tx_per_block * geo.tx_frame <= geo.tx_block);
        assert!(geo.tx_frames() >= 5);
    }

    #[test]
    fn unusable_ring_settings_are_one_line_config_errors() {
        let base = AfPacketConfig::new("x");
        for cfg in [
            AfPacketConfig {
                rx_block_size: 1000,
                ..base.clone()
            },
            AfPacketConfig {
                rx_block_count: 0,
                ..base.clone()
            },
            AfPacketConfig {
                rx_frame_size: 2040,
                ..base.clone()
            },
            AfPacketConfig {
                rx_block_size: 4096,
                rx_frame_size: 4096,
                ..base.clone()
            },
            AfPacketConfig {
                tx_frames: 0,
                ..base.clone()
            },
            AfPacketConfig {
                tx_frame_size: 64,
                ..base.clone()
            },
        ] {
            let e = Geometry::new(&cfg, false).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn a_v2_ring_tiles_its_blocks_with_slots_that_hold_a_vlan_tagged_frame() {
        let cfg = AfPacketConfig {
            rx_ring: RxRingKind::V2,
            ..AfPacketConfig::new("x")
        };
        let geo = Geometry::new(&cfg, false).unwrap();
        assert_eq!(V2_MAC_OFF, 66);
        assert_eq!(geo.rx_snap, 2048 - 66);
        assert!(geo.rx_snap >= 1500 + ETH_HLEN + VLAN_HLEN);
        assert_eq!(geo.rx_frames(), 16 * 128);
        let untiled = AfPacketConfig {
            rx_block_size: 8192,
            rx_frame_size: 3072,
            ..cfg.clone()
        };
        let e = Geometry::new(&untiled, false).unwrap_err();
        assert!(
            e.to_string().contains("multiple of rx_frame_size 3072"),
            "{e}"
        );
        let tiny = AfPacketConfig {
            rx_frame_size: 112,
            ..cfg
        };
        assert!(
            Geometry::new(&tiny, false).is_err(),
            "no room for a minimum frame"
        );
    }

    #[test]
    fn tso_slots_hold_the_largest_ipv4_frame_behind_both_headers() {
        for linear in [true, false] {
            let cfg = AfPacketConfig {
                tso: true,
                tx_linear: Some(linear),
                ..AfPacketConfig::new("x")
            };
            let geo = Geometry::new(&cfg, true).unwrap();
            // The virtio_net_hdr is there with or without tx_linear: it carries the GSO
            // request.
            assert!(geo.tx_vnet);
            assert_eq!(geo.tx_data_off, 32 + VNET_HDR_LEN);
            assert_eq!(geo.tx_frame, 65_600);
            assert!(geo.tx_frame - geo.tx_data_off >= ETH_HLEN + 65_535);
            // 15 slots to a 1 MiB block; 256 asked for round up to 18 blocks.
            assert_eq!((geo.tx_block, geo.tx_per_block), (1 << 20, 15));
            assert_eq!(geo.tx_frames(), 270);
            assert!(geo.tx_per_block * geo.tx_frame <= geo.tx_block);
            // The RX side does not change.
            assert_eq!(geo.rx_snap, Geometry::new(&cfg, false).unwrap().rx_snap);
        }
        let cfg = AfPacketConfig {
            tso: true,
            tso_tx_frames: 1,
            tx_frames: 4096,
            tx_frame_size: 96,
            ..AfPacketConfig::new("x")
        };
        let geo = Geometry::new(&cfg, true).unwrap();
        assert_eq!(
            geo.tx_frames(),
            15,
            "tx_frames and tx_frame_size do not apply"
        );
        assert_eq!(geo.tx_frame, 65_600);
        let e = Geometry::new(
            &AfPacketConfig {
                tso_tx_frames: 0,
                ..cfg
            },
            true,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("tso_tx_frames must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn an_ordinary_frame_asks_for_no_offload_and_a_copy_of_hdr_len_bytes() {
        let h = VnetHdr::plain(1514).to_bytes();
        assert_eq!(h[..2], [0, 0], "no flags, GSO_NONE");
        assert_eq!(h[2..4], 1514u16.to_ne_bytes());
        assert_eq!(h[4..], [0; 6]);
        assert_eq!(VnetHdr::plain(0).to_bytes(), [0; VNET_HDR_LEN]);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn a_tso_frame_asks_for_tcpv4_segments_and_a_partial_checksum() {
        // 20,000 bytes of payload behind Ethernet, IPv4 and TCP headers of 14, 20 and 32
        // bytes, cut at 1448: 14 segments.
        let t = tso::TsoFrame {
            tcp_at: 34,
            payload_at: 66,
            payload_len: 20_000,
            segments: 14,
        };
        assert_eq!(
            VnetHdr::tso(&t, 1448, 20_066, false).to_bytes(),
            [
                1, // VIRTIO_NET_HDR_F_NEEDS_CSUM
                1, // VIRTIO_NET_HDR_GSO_TCPV4
                0x62, 0x4e, // hdr_len 20066: the whole frame is copied
                0xa8, 0x05, // gso_size 1448
                34, 0, // csum_start: the TCP header
                16, 0, // csum_offset: TCP's checksum field
            ]
        );
        // CWR set: the device must clear it after the first segment.
        assert_eq!(
            VnetHdr::tso(&t, 1448, 66, true).to_bytes()[..4],
            [1, 0x81, 66, 0]
        );
        // One segment: no GSO, but the checksum is still left to the device.
        let one = tso::TsoFrame {
            payload_len: 1000,
            segments: 1,
            ..t
        };
        assert_eq!(
            VnetHdr::tso(&one, 1448, 1066, true).to_bytes(),
            [1, 0, 0x2a, 0x04, 0, 0, 34, 0, 16, 0]
        );
    }

    #[test]
    fn features_are_found_by_their_ethtool_name() {
        let mut names = vec![0u8; 3 * ETH_GSTRING_LEN];
        for (i, n) in ["tx-scatter-gather", FEATURE_TSO, FEATURE_TSO_ECN]
            .iter()
            .enumerate()
        {
            names[i * ETH_GSTRING_LEN..][..n.len()].copy_from_slice(n.as_bytes());
        }
        assert_eq!(feature_index(&names, FEATURE_TSO), Some(1));
        assert_eq!(feature_index(&names, FEATURE_TSO_ECN), Some(2));
        assert_eq!(feature_index(&names, "tx-tcp"), None, "whole names only");
        assert_eq!(feature_index(&names[..40], FEATURE_TSO), None);
    }

    #[test]
    fn loopback_has_tso_and_reports_its_gso_limits() {
        // Neither request needs privileges.
        let on = device_features("lo", &[FEATURE_TSO, "no-such-feature"]).unwrap();
        assert_eq!(on, [true, false]);
        let lo = sys::if_index("lo").unwrap();
        let limits = link_gso_limits(lo).unwrap();
        assert!(limits.max_size >= 16 * 1024, "{limits:?}");
        assert!(limits.max_segs >= 2, "{limits:?}");
        let e = link_gso_limits(i32::MAX).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
    }

    /// One netlink message of `kind` for request `seq` with `body` after the header.
    fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 2]);
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&[0; 4]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn u32_attr(kind: u16, v: u32) -> Vec<u8> {
        let mut a = 8u16.to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(&v.to_ne_bytes());
        a
    }

    #[test]
    fn getlink_replies_give_the_gso_limits_or_the_error() {
        let mut link = vec![0u8; IFINFOMSG_LEN];
        // IFLA_IFNAME "veth0\0" (6 bytes, padded to 8), then the limits.
        link.extend_from_slice(&10u16.to_ne_bytes());
        link.extend_from_slice(&3u16.to_ne_bytes());
        link.extend_from_slice(b"veth0\0\0\0");
        link.extend(u32_attr(IFLA_GSO_MAX_SEGS, 65_535));
        link.extend(u32_attr(IFLA_GSO_MAX_SIZE, 65_536));
        let reply = nlmsg(libc::RTM_NEWLINK, 7, &link);
        let limits = parse_getlink_reply(&reply, 7).unwrap();
        assert_eq!((limits.max_size, limits.max_segs), (65_536, 65_535));
        // A lower IPv4 limit wins; a message for another request is skipped.
        let mut lower = link.clone();
        lower.extend(u32_attr(IFLA_GSO_IPV4_MAX_SIZE, 32_768));
        let mut two = nlmsg(libc::RTM_NEWLINK, 6, &link);
        two.extend(nlmsg(libc::RTM_NEWLINK, 7, &lower));
        assert_eq!(parse_getlink_reply(&two, 7).unwrap().max_size, 32_768);
        // An error reply carries a negative errno.
        let err = nlmsg(libc::NLMSG_ERROR as u16, 7, &(-libc::ENODEV).to_ne_bytes());
        let e = parse_getlink_reply(&err, 7).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        // Malformed: cut short, an attribute running past its message, no limits.
        assert!(parse_getlink_reply(&reply[..reply.len() - 4], 7).is_err());
        let mut long_attr = link.clone();
        long_attr.extend_from_slice(&64u16.to_ne_bytes());
        long_attr.extend_from_slice(&[0; 6]);
        assert!(parse_getlink_reply(&nlmsg(libc::RTM_NEWLINK, 7, &long_attr), 7).is_err());
        let bare = nlmsg(libc::RTM_NEWLINK, 7, &[0u8; IFINFOMSG_LEN]);
        assert!(parse_getlink_reply(&bare, 7).is_err());
        assert!(parse_getlink_reply(&[], 7).is_err());
    }

    #[test]
    fn a_getlink_request_names_the_interface() {
        let r = getlink_request(5, 9);
        assert_eq!(r.len(), 32);
        assert_eq!(r[0..4], 32u32.to_ne_bytes());
        assert_eq!(r[4..6], libc::RTM_GETLINK.to_ne_bytes());
        assert_eq!(r[8..12], 9u32.to_ne_bytes());
        assert_eq!(r[20..24], 5i32.to_ne_bytes());
    }

    #[test]
    fn rx_ring_kinds_parse() {
        assert_eq!("v2".parse::<RxRingKind>(), Ok(RxRingKind::V2));
        assert_eq!("v3".parse::<RxRingKind>(), Ok(RxRingKind::V3));
        assert_eq!(RxRingKind::default(), RxRingKind::V3);
        assert_eq!(
            "v4".parse::<RxRingKind>(),
            Err("unknown RX ring \"v4\" (v2 or v3)".to_string())
        );
    }

    #[test]
    fn fanout_modes_parse() {
        assert_eq!("hash".parse::<FanoutMode>(), Ok(FanoutMode::Hash));
        assert!("rr".parse::<FanoutMode>().is_err());
    }
}
