//! A raw AF_PACKET socket for tests that watch or inject frames beside a port under test.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A raw AF_PACKET socket bound to one interface and one ethertype.
pub struct PacketSocket(OwnedFd);

impl PacketSocket {
    /// Opened in the calling thread's namespace.
    pub fn bind(ifname: &str, proto: u16) -> PacketSocket {
        PacketSocket::open(ifname, proto, false)
    }

    /// [`bind`](Self::bind) with `PACKET_VNET_HDR`: each frame received comes after the
    /// kernel's 10-byte `virtio_net_hdr`, and GSO super-frames come whole.
    pub fn bind_vnet(ifname: &str, proto: u16) -> PacketSocket {
        PacketSocket::open(ifname, proto, true)
    }

    fn open(ifname: &str, proto: u16, vnet: bool) -> PacketSocket {
        let cname = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        assert!(ifindex > 0, "no interface {ifname}");
        // SAFETY: plain socket(2) call; checked below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto.to_be()),
            )
        };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if vnet {
            let one: libc::c_int = 1;
            // SAFETY: an int option of its own size on our socket.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_VNET_HDR,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            assert_eq!(
                rc,
                0,
                "PACKET_VNET_HDR: {}",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        PacketSocket(fd)
    }

    /// Send one whole frame.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: `frame` is a live buffer of `frame.len()` bytes.
        let n = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send {} bytes: {}",
            frame.len(),
            std::io::Error::last_os_error()
        );
    }

    /// The next frame received (not sent) on the interface, waiting at most 2 s.
    pub fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buf` and `from` are live buffers of the sizes passed.
            let n = unsafe {
                libc::recvfrom(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if n >= 0 && from.sll_pkttype != libc::PACKET_OUTGOING {
                return Some(n as usize);
            }
        }
    }
}
