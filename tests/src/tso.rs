//! TCP/IPv4 super-frames as `TxQueue::commit_tso` takes them, and the sending side of the
//! AF_PACKET TSO tests (`afpacket_tso`, `afpacket_rx_gso`): both build, commit and flush
//! the same frames.

use eth::checksum;
use nmio::{Port, TxQueue};
use std::time::{Duration, Instant};

/// IPv4 header without options.
pub const IP_HLEN: usize = 20;
/// TCP header with the timestamps option (NOP, NOP, TS: 12 bytes), as a Linux peer's
/// segments carry it: 1448 + 20 + 32 = a 1500-byte MTU.
pub const TCP_HLEN: usize = 32;
/// Ethernet, IPv4 and TCP headers.
pub const HDRS: usize = 14 + IP_HLEN + TCP_HLEN;

/// Payload byte `i`: varies with the position so a lost, repeated or moved byte shows.
pub fn payload_byte(i: usize) -> u8 {
    ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8
}

/// Addresses and header fields of a super-frame.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    /// Destination and source MAC.
    pub macs: ([u8; 6], [u8; 6]),
    /// Source and destination IPv4 address.
    pub ips: ([u8; 4], [u8; 4]),
    /// Source and destination port.
    pub ports: (u16, u16),
    /// IPv4 identification.
    pub ip_id: u16,
}

impl Flow {
    /// A super-frame of this flow: Ethernet, IPv4 (DF, valid header checksum, the total
    /// length of the whole packet) and TCP with the timestamps option, sequence number
    /// `seq`, `flags`, and `payload` bytes of [`payload_byte`]; the TCP checksum field
    /// holds the pseudo-header sum over the whole TCP length, folded, not complemented
    /// (the `commit_tso` contract). `proto` other than 6 makes it not TCP.
    pub fn super_frame(&self, seq: u32, payload: usize, flags: u8, proto: u8) -> Vec<u8> {
        let (src_ip, dst_ip) = self.ips;
        let mut f = vec![0u8; HDRS + payload];
        f[0..6].copy_from_slice(&self.macs.0);
        f[6..12].copy_from_slice(&self.macs.1);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip_len = IP_HLEN + TCP_HLEN + payload;
        write_ipv4(
            &mut f[14..14 + IP_HLEN],
            ip_len,
            self.ip_id,
            proto,
            self.ips,
        );
        let tcp = &mut f[14 + IP_HLEN..HDRS];
        tcp[0..2].copy_from_slice(&self.ports.0.to_be_bytes());
        tcp[2..4].copy_from_slice(&self.ports.1.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&5000u32.to_be_bytes());
        tcp[12] = ((TCP_HLEN / 4) as u8) << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&502u16.to_be_bytes());
        // NOP, NOP, timestamps (kind 8, length 10): TSval 0x01020304, TSecr 0x05060708.
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        let pseudo = checksum::pseudo_header_sum(src_ip, dst_ip, 6, (TCP_HLEN + payload) as u16);
        tcp[16..18].copy_from_slice(&(pseudo as u16).to_be_bytes());
        for (i, b) in f[HDRS..].iter_mut().enumerate() {
            *b = payload_byte(i);
        }
        f
    }
}

/// Write an IPv4 header without options into `ip` (20 bytes): total length `len`,
/// identification `id`, DF, TTL 64, protocol `proto`, source and destination `ips`, and a
/// valid header checksum.
pub fn write_ipv4(ip: &mut [u8], len: usize, id: u16, proto: u8, ips: ([u8; 4], [u8; 4])) {
    ip[..IP_HLEN].fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&ips.0);
    ip[16..20].copy_from_slice(&ips.1);
    let c = checksum::checksum(&ip[..IP_HLEN]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Copy `frame` into a reserved slot and commit it as a super-frame cut at `mss`.
pub fn commit_tso<P: Port>(port: &mut P, frame: &[u8], mss: u16) -> bool {
    let tx = port.tx();
    let Some(buf) = tx.reserve() else {
        panic!("TX ring full");
    };
    buf[..frame.len()].copy_from_slice(frame);
    tx.commit_tso(frame.len(), mss)
}

/// Kick until nothing is pending (a full send buffer leaves frames for the next kick),
/// failing after `within`; returns the frames the kicks sent.
pub fn flush_all<P: Port>(port: &mut P, within: Duration) -> usize {
    let end = Instant::now() + within;
    let mut sent = 0;
    while port.tx().pending() > 0 {
        sent += port.tx().flush().unwrap();
        assert!(Instant::now() < end, "frames stayed pending");
        if port.tx().pending() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent
}
