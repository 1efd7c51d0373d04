//! Small Linux helpers shared by the kernel backends: interface look-ups and `poll`.

use crate::error::check_ifname;
use crate::Error;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// What a raw socket or TAP open needs, said once for every error line.
pub(crate) const NEED_NET_ADMIN: &str = "needs CAP_NET_RAW/CAP_NET_ADMIN: run as root";

/// A `struct ifreq` with the name filled in (after checking it like the kernel does).
pub(crate) fn ifreq(name: &str) -> Result<libc::ifreq, Error> {
    check_ifname(name)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// Run one `SIOC[GS]IF*` request through a throw-away datagram socket.
pub(crate) fn ifreq_ioctl(req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `sock` was just returned by socket(2) and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: the SIOC[GS]IF* requests used in this crate read and write one
    // `struct ifreq`, which `ifr` is.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), req as _, ifr as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ioctl_ifreq(name: &str, req: libc::c_ulong, what: &str) -> Result<libc::ifreq, Error> {
    let mut ifr = ifreq(name)?;
    ifreq_ioctl(req, &mut ifr).map_err(|e| {
        Error::from_io(
            format!("{what} of interface {name:?}"),
            name,
            NEED_NET_ADMIN,
            e,
        )
    })?;
    Ok(ifr)
}

/// The interface index of `name`.
pub(crate) fn if_index(name: &str) -> Result<i32, Error> {
    let ifr = ioctl_ifreq(name, libc::SIOCGIFINDEX, "index")?;
    // SAFETY: SIOCGIFINDEX filled the ifru_ifindex member.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex })
}

/// The MTU of `name`.
pub(crate) fn if_mtu(name: &str) -> Result<usize, Error> {
    let ifr = ioctl_ifreq(name, libc::SIOCGIFMTU, "MTU")?;
    // SAFETY: SIOCGIFMTU filled the ifru_mtu member.
    Ok(unsafe { ifr.ifr_ifru.ifru_mtu } as usize)
}

/// The hardware address of `name`.
pub(crate) fn if_mac(name: &str) -> Result<[u8; 6], Error> {
    let ifr = ioctl_ifreq(name, libc::SIOCGIFHWADDR, "hardware address")?;
    // SAFETY: SIOCGIFHWADDR filled the ifru_hwaddr member.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Wait up to `timeout` for `fd` to become readable. `Ok(true)` when it is.
pub(crate) fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up: a wait of 300 us must not become a zero-timeout poll (a busy loop).
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        n if n > 0 => Ok(pfd.revents & (libc::POLLIN | libc::POLLERR) != 0),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// A random locally administered unicast MAC, for ports that sit behind a kernel device
/// whose own MAC belongs to the kernel (TAP) or to tests.
pub(crate) fn random_local_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    // SAFETY: getrandom writes at most 6 bytes into a 6-byte buffer.
    let n = unsafe { libc::getrandom(mac.as_mut_ptr().cast(), mac.len(), 0) };
    if n != 6 {
        // Not worth failing for: fall back to the PID, still locally administered.
        let pid = std::process::id().to_be_bytes();
        mac[2..6].copy_from_slice(&pid);
    }
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

/// The IPv4 addresses assigned to this network namespace's interfaces, each with its
/// interface's name (`getifaddrs`). An error if the kernel refuses the list.
pub(crate) fn host_ipv4_addrs() -> io::Result<Vec<(Ipv4Addr, String)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        let mut v4 = None;
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr of the list.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: an AF_INET address of getifaddrs is a sockaddr_in.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                v4 = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
        }
        if let Some(a) = v4 {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
            out.push((a, name.to_string_lossy().into_owned()));
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once, after the last use.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Bytes of the next received frame the receive paths [`prefetch`]: with AF_PACKET the
/// ring header, `sockaddr_ll` and the first 180-odd bytes of the frame (its headers and a
/// short payload). 1536 was no better in the web benchmark (worse at 1 KiB).
pub(crate) const PREFETCH_BYTES: usize = 256;

/// Ask the CPU to start loading the `len` bytes at `p` into its caches, a line at a time:
/// a hint that never faults and changes nothing the program can see. Receive paths use it
/// on the next frame of a ring the kernel fills from another CPU, whose lines are cache
/// misses, while the current frame is handled.
#[inline]
pub(crate) fn prefetch(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut o = 0;
        while o < len {
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch does not
            // dereference its address (any address is allowed, none faults).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(o).cast::<i8>()) };
            o += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// [`prefetch`] for any value: starts loading every cache line `r` spans (an unaligned
/// value may start late in one line and end in the next). The public face is
/// [`crate::prefetch`]: an application that will touch several unrelated cold lines (one
/// per query of a burst, say) asks for all of them first, so the misses overlap.
#[inline]
pub fn prefetch_ref<T: ?Sized>(r: &T) {
    let p = std::ptr::from_ref(r).cast::<u8>();
    let skew = p as usize & 63;
    prefetch(p.wrapping_sub(skew), std::mem::size_of_val(r) + skew);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_missing_devices_are_named() {
        assert!(if_index("lo").unwrap() > 0);
        assert!(if_mtu("lo").unwrap() >= 1500);
        let e = if_index("nmio-nonexist").unwrap_err();
        assert_eq!(e.to_string(), "no such network device \"nmio-nonexist\"");
        let e = if_mtu("bad/name").unwrap_err();
        assert!(e.to_string().starts_with("invalid interface name"), "{e}");
    }

    #[test]
    fn local_macs_are_unicast_and_locally_administered() {
        let m = random_local_mac();
        assert_eq!(m[0] & 0x03, 0x02);
    }
}
