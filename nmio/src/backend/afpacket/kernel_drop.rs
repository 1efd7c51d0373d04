//! The tc ingress program that has the kernel drop the frames meant for the stack, loaded
//! without libbpf (see [Keeping the kernel out](super#keeping-the-kernel-out)).
//!
//! Hand-assembled, `14 + n` instructions for `n` addresses (here two, `A0` and `A1`):
//!
//! ```text
//!  0: r2 = *(u32 *)(r1 + 76)     ; skb->data: the Ethernet header
//!  1: r3 = *(u32 *)(r1 + 80)     ; skb->data_end
//!  2: r0 = -1                    ; TCX_NEXT: other tc programs, then the kernel, as usual
//!  3: r4 = *(u32 *)(r1 + 20)     ; skb->vlan_present: a tag the driver took off
//!  4: if r4 != 0 goto 13
//!  5: r4 = r2
//!  6: r4 += 34                   ; Ethernet header + IPv4 header up to its destination
//!  7: if r4 > r3 goto 13         ; shorter: not ours (the bounds check the verifier needs)
//!  8: r4 = *(u16 *)(r2 + 12)     ; ethertype (an in-band 802.1Q tag shows here as 0x8100)
//!  9: if r4 != 0x0008 goto 13    ; 0x0800, IPv4, as a little-endian load sees it
//! 10: r4 = *(u32 *)(r2 + 30)     ; IPv4 destination address, as loaded
//! 11: if w4 == A0 goto 14        ; 32-bit compares: no sign extension of the immediate
//! 12: if w4 == A1 goto 14
//! 13: exit                       ; TCX_NEXT
//! 14: r0 = 2                     ; TCX_DROP
//! 15: exit
//! ```
//!
//! `data`/`data_end` span the skb's linear part only: a frame whose first 34 bytes are not
//! all in it (drivers pull the headers in, veth has frames whole) is passed on, the safe
//! side, rather than read with a helper.
//!
//! The addresses are immediates, so the program needs no map; one is the common case and
//! at most [`MAX_ADDRS`] are taken. It calls no helper. It is a `BPF_PROG_TYPE_SCHED_CLS`
//! program reading the packet directly (`__sk_buff` `data`/`data_end`), attached to the
//! device's tc ingress hook with a tcx link (`BPF_LINK_CREATE`, `BPF_TCX_INGRESS`, Linux
//! 6.6 and later) at the end of the device's tcx chain, so tcx programs attached before
//! it still see every frame first (filters of a classic `clsact` qdisc run after the tcx
//! chain, and no longer see the frames it drops). The link is a file descriptor held
//! by the port's receive half: dropping the port (or the process dying, however it dies)
//! detaches the program. Nothing is pinned.

use crate::backend::bpf::{
    self, BpfInsn, ProgError, ProgSpec, BPF_H, BPF_JEQ, BPF_JGT, BPF_JNE, BPF_PROG_TYPE_SCHED_CLS,
    BPF_TCX_INGRESS, BPF_W,
};
use std::fmt;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

/// Addresses the program compares a frame's destination with, at most.
pub const MAX_ADDRS: usize = 8;

/// tc verdicts (`enum tcx_action_base`): go on to the next program (and then the kernel),
/// or drop the frame.
const TCX_NEXT: i32 = -1;
const TCX_DROP: i32 = 2;

// Offsets in `struct __sk_buff` (`linux/bpf.h`): the verifier rewrites these reads into
// reads of the kernel's `struct sk_buff`.
const SKB_VLAN_PRESENT: i16 = 20;
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

/// Ethernet header, and the IPv4 destination address's offset in the frame.
const ETH_HLEN: i16 = 14;
const IPV4_DST: i16 = ETH_HLEN + 16;

/// Whether the kernel drops the frames meant for the stack on this port's device
/// ([`AfPacketConfig::kernel_drop`](super::AfPacketConfig::kernel_drop)).
///
/// Its `Display` is one line for an application to print: "attached for 10.0.0.2",
/// "not asked for", or "not attached: " and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelDrop {
    /// `kernel_drop` was empty: the kernel processes every frame as before.
    NotAsked,
    /// The program is attached and drops IPv4 frames to these addresses after the port's
    /// receive ring has its copy.
    Attached {
        /// The addresses dropped.
        addrs: Vec<Ipv4Addr>,
    },
    /// Asked for, but the program could not be loaded or attached (a kernel without tcx,
    /// no `CAP_BPF`, too many addresses, ...): why, in one line. The port works as without
    /// it, and the kernel processes (and drops or forwards) the stack's frames too.
    Failed(String),
}

impl KernelDrop {
    /// The program is attached.
    pub fn is_attached(&self) -> bool {
        matches!(self, KernelDrop::Attached { .. })
    }
}

impl fmt::Display for KernelDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelDrop::NotAsked => f.write_str("not asked for"),
            KernelDrop::Attached { addrs } => {
                f.write_str("attached for ")?;
                for (i, a) in addrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
            KernelDrop::Failed(why) => write!(f, "not attached: {why}"),
        }
    }
}

/// The program's instructions for `addrs` (1 to [`MAX_ADDRS`] of them).
pub(super) fn program(addrs: &[Ipv4Addr]) -> Vec<BpfInsn> {
    let n = addrs.len() as i16;
    // Jump offsets count from the instruction after the jump.
    let out = 11 + n;
    let drop = out + 1;
    let to = |target: i16, from: i16| target - from - 1;
    let mut p = vec![
        BpfInsn::load(BPF_W, 2, 1, SKB_DATA),
        BpfInsn::load(BPF_W, 3, 1, SKB_DATA_END),
        BpfInsn::mov_imm(0, TCX_NEXT),
        BpfInsn::load(BPF_W, 4, 1, SKB_VLAN_PRESENT),
        BpfInsn::jump_imm(BPF_JNE, 4, 0, to(out, 4)),
        BpfInsn::mov_reg(4, 2),
        BpfInsn::add_imm(4, i32::from(IPV4_DST) + 4),
        BpfInsn::jump_reg(BPF_JGT, 4, 3, to(out, 7)),
        BpfInsn::load(BPF_H, 4, 2, ETH_HLEN - 2),
        // The loads read network byte order as they are, so the constants are laid out
        // the same way in memory (from_ne_bytes).
        BpfInsn::jump_imm(
            BPF_JNE,
            4,
            i32::from(u16::from_ne_bytes([0x08, 0x00])),
            to(out, 9),
        ),
        BpfInsn::load(BPF_W, 4, 2, IPV4_DST),
    ];
    for (k, a) in addrs.iter().enumerate() {
        let at = 11 + k as i16;
        p.push(BpfInsn::jump32_imm(
            BPF_JEQ,
            4,
            u32::from_ne_bytes(a.octets()) as i32,
            to(drop, at),
        ));
    }
    p.push(BpfInsn::exit());
    p.push(BpfInsn::mov_imm(0, TCX_DROP));
    p.push(BpfInsn::exit());
    p
}

/// Load the program for `addrs`.
pub(super) fn load(addrs: &[Ipv4Addr]) -> Result<OwnedFd, ProgError> {
    let insns = program(addrs);
    bpf::load(ProgSpec {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        expected_attach_type: BPF_TCX_INGRESS,
        insns: &insns,
        name: "nmio_kdrop",
        step: "loading the tc program",
    })
}

/// Load the program for `addrs` and attach it to the tc ingress of device `ifindex` (in
/// the calling thread's network namespace): the link, or why not in one line.
pub(super) fn attach(ifindex: u32, addrs: &[Ipv4Addr]) -> Result<OwnedFd, String> {
    if addrs.len() > MAX_ADDRS {
        return Err(format!(
            "{} addresses given, the program compares at most {MAX_ADDRS}",
            addrs.len()
        ));
    }
    let prog = load(addrs).map_err(|e| reason(&e))?;
    // The link holds the program; its own descriptor can go.
    bpf::link_create(&prog, ifindex, BPF_TCX_INGRESS, 0).map_err(|e| {
        reason(&ProgError::new(
            "attaching the tc program (tcx ingress link)",
            e,
        ))
    })
}

/// A failed step as one line, with what usually causes it.
fn reason(e: &ProgError) -> String {
    let hint = match e.source.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) if e.log.is_none() => {
            " (needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN: run as root)"
        }
        // An attach type the kernel does not know: tcx arrived in Linux 6.6.
        Some(libc::EINVAL) if e.log.is_none() && e.step.starts_with("attaching") => {
            " (tcx needs Linux 6.6 or later)"
        }
        _ => "",
    };
    match &e.log {
        Some(log) if !log.is_empty() => format!(
            "{}: {}{hint}; verifier log: {}",
            e.step,
            e.source,
            bpf::one_line_log(log)
        ),
        _ => format!("{}: {}{hint}", e.step, e.source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    const A: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
    /// Its little-endian load has the top bit set: a 64-bit compare would sign-extend the
    /// immediate and miss it.
    const B: Ipv4Addr = Ipv4Addr::new(10, 9, 8, 200);

    #[test]
    fn the_program_checks_the_frame_then_compares_each_address_once() {
        for n in 1..=MAX_ADDRS {
            let addrs: Vec<Ipv4Addr> = (0..n as u8).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
            let p = program(&addrs);
            assert_eq!(p.len(), 14 + n);
            let (out, drop) = (11 + n, 12 + n);
            let target = |i: usize| (i as i64 + 1 + i64::from(p[i].off)) as usize;
            for i in [4, 7, 9] {
                assert_eq!(target(i), out, "check {i} goes to TCX_NEXT");
            }
            for (k, a) in addrs.iter().enumerate() {
                let i = 11 + k;
                assert_eq!(p[i].code, 0x16, "jmp32 jeq imm");
                assert_eq!(p[i].imm.to_ne_bytes(), a.octets());
                assert_eq!(target(i), drop);
            }
            assert_eq!(p[out].code, 0x95);
            assert_eq!((p[drop].code, p[drop].imm), (0xb7, TCX_DROP));
            assert_eq!(p[drop + 1].code, 0x95);
        }
        let p = program(&[A]);
        assert_eq!(
            (p[0].code, p[0].regs, p[0].off),
            (0x61, 0x12, 76),
            "r2 = data"
        );
        assert_eq!(
            (p[1].code, p[1].regs, p[1].off),
            (0x61, 0x13, 80),
            "r3 = data_end"
        );
        assert_eq!((p[2].code, p[2].imm), (0xb7, -1), "r0 = TCX_NEXT");
        assert_eq!((p[3].code, p[3].regs, p[3].off), (0x61, 0x14, 20));
        assert_eq!((p[6].code, p[6].imm), (0x07, 34));
        assert_eq!((p[8].code, p[8].regs, p[8].off), (0x69, 0x24, 12));
        assert_eq!(p[9].imm.to_ne_bytes()[..2], [0x08, 0x00]);
        assert_eq!((p[10].code, p[10].regs, p[10].off), (0x61, 0x24, 30));
    }

    #[test]
    fn failures_read_as_one_line_with_the_likely_cause() {
        assert_eq!(
            attach(1, &[A; MAX_ADDRS + 1]).unwrap_err(),
            "9 addresses given, the program compares at most 8"
        );
        let e = ProgError::new(
            "attaching the tc program (tcx ingress link)",
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert!(
            reason(&e).ends_with("(tcx needs Linux 6.6 or later)"),
            "{}",
            reason(&e)
        );
        let e = ProgError::new(
            "loading the tc program",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(reason(&e).contains("needs CAP_BPF"), "{}", reason(&e));
        let e = ProgError {
            step: "loading the tc program",
            source: io::Error::from_raw_os_error(libc::EACCES),
            log: Some("11: (16) if w4 == 0x3020110 goto pc+2\ninvalid access to packet\n".into()),
        };
        let r = reason(&e);
        assert!(r.ends_with("invalid access to packet"), "{r}");
        assert!(!r.contains('\n'));
        assert_eq!(
            KernelDrop::Attached { addrs: vec![A, B] }.to_string(),
            "attached for 10.1.2.3, 10.9.8.200"
        );
        assert_eq!(
            KernelDrop::Failed("why".into()).to_string(),
            "not attached: why"
        );
    }

    /// An Ethernet frame to `dst` with ethertype `ty` and an IPv4/UDP body to `ip`.
    fn frame(ty: u16, ip: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&ty.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&46u16.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 9]);
        f[30..34].copy_from_slice(&ip.octets());
        f
    }

    /// The kernel runs the loaded program on crafted frames (`BPF_PROG_TEST_RUN`, root).
    #[test]
    fn the_kernel_drops_ipv4_to_our_addresses_and_passes_everything_else_on() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "SKIP the_kernel_drops_ipv4_to_our_addresses_and_passes_everything_else_on: \
                 BPF_PROG_TEST_RUN needs root"
            );
            return;
        }
        let prog = load(&[A, B]).unwrap_or_else(|e| panic!("{}", reason(&e)));
        let other = Ipv4Addr::new(10, 1, 2, 4);
        let mut vlan = frame(0x8100, A);
        vlan.splice(14..14, [0x00, 0x05, 0x08, 0x00]);
        let mut arp = frame(0x0806, A);
        arp[14..16].copy_from_slice(&1u16.to_be_bytes());
        let cases: Vec<(&str, Vec<u8>, u32)> = vec![
            ("IPv4 to A", frame(0x0800, A), 2),
            ("IPv4 to B", frame(0x0800, B), 2),
            ("IPv4 to A, 34 bytes", frame(0x0800, A)[..34].to_vec(), 2),
            ("IPv4 to another address", frame(0x0800, other), u32::MAX),
            ("ARP", arp, u32::MAX),
            ("IPv6", frame(0x86dd, A), u32::MAX),
            // The test harness refuses an IPv4 frame shorter than an IPv4 header (EINVAL),
            // so the short frames carry another ethertype; the program checks the length
            // before it reads the ethertype.
            ("20 bytes", frame(0x88b5, A)[..20].to_vec(), u32::MAX),
            ("33 bytes", frame(0x88b5, A)[..33].to_vec(), u32::MAX),
            ("802.1Q-tagged IPv4 to A", vlan, u32::MAX),
        ];
        for (what, f, want) in cases {
            let got = bpf::test_run(&prog, &f).unwrap_or_else(|e| panic!("{what}: {e}"));
            eprintln!("{what}: verdict {got:#x}");
            assert_eq!(got, want, "{what}");
        }
    }
}
