//! The eBPF system call as far as nmio's own programs use it, without libbpf: instruction
//! encoding, `BPF_PROG_LOAD` with the verifier's log kept on refusal, `BPF_LINK_CREATE`
//! and (for tests) `BPF_PROG_TEST_RUN`.
//!
//! Two backends load programs through it: AF_XDP's redirect program (`afxdp/xdp_prog.rs`)
//! and AF_PACKET's tc ingress program that keeps the kernel from processing the stack's
//! frames (`afpacket/kernel_drop.rs`). Programs are attached with BPF links only: a link is
//! a file descriptor, and closing it, which the kernel does when the process exits however
//! it exits, detaches the program. Nothing is pinned in bpffs.
//!
//! Layouts and numbers are written out from `linux/bpf.h` (the `libc` crate lacks most of
//! it); the attribute structs are the `union bpf_attr` members used, checked against the C
//! sizes in the tests below. The kernel zero-fills the rest of the union.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// bpf(2) commands (`enum bpf_cmd`).
#[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
pub(crate) const BPF_MAP_CREATE: libc::c_int = 0;
#[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
pub(crate) const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
pub(crate) const BPF_PROG_LOAD: libc::c_int = 5;
#[cfg(test)]
pub(crate) const BPF_PROG_TEST_RUN: libc::c_int = 10;
pub(crate) const BPF_LINK_CREATE: libc::c_int = 28;

// Program types (`enum bpf_prog_type`).
pub(crate) const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
#[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
pub(crate) const BPF_PROG_TYPE_XDP: u32 = 6;

// Attach types (`enum bpf_attach_type`). `BPF_TCX_INGRESS` is newer than Debian 12's
// headers (Linux 6.6: tcx, the link-based tc hook): 46, after `BPF_LSM_CGROUP` (43),
// `BPF_STRUCT_OPS` (44) and `BPF_NETFILTER` (45).
#[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
pub(crate) const BPF_XDP: u32 = 37;
pub(crate) const BPF_TCX_INGRESS: u32 = 46;

/// One eBPF instruction (`struct bpf_insn`): the register nibbles are `dst | src << 4` on
/// little-endian machines.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcode parts (`linux/bpf_common.h`, `linux/bpf.h`): class | size | mode for loads,
// class | op | source for ALU and jumps.
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_JMP32: u8 = 0x06;
const BPF_ALU64: u8 = 0x07;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_ADD: u8 = 0x00;
const BPF_MOV: u8 = 0xb0;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;

/// Load and store widths.
pub(crate) const BPF_W: u8 = 0x00;
pub(crate) const BPF_H: u8 = 0x08;

/// Jump conditions.
pub(crate) const BPF_JEQ: u8 = 0x10;
pub(crate) const BPF_JGT: u8 = 0x20;
pub(crate) const BPF_JNE: u8 = 0x50;

/// `ld_imm64` source register marking the immediate as a map file descriptor.
#[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
pub(crate) const BPF_PSEUDO_MAP_FD: u8 = 1;

impl BpfInsn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        BpfInsn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub(crate) const fn load(size: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_LDX | size | BPF_MEM, dst, src, off, 0)
    }

    /// `dst = imm` (64-bit, the immediate sign-extended).
    pub(crate) const fn mov_imm(dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }

    /// `dst = src` (64-bit).
    pub(crate) const fn mov_reg(dst: u8, src: u8) -> Self {
        Self::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    /// `dst += imm` (64-bit).
    pub(crate) const fn add_imm(dst: u8, imm: i32) -> Self {
        Self::new(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
    }

    /// `if dst <op> imm goto +off`, comparing all 64 bits (the immediate sign-extended).
    pub(crate) const fn jump_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_K, dst, 0, off, imm)
    }

    /// `if dst <op> src goto +off` (64-bit).
    pub(crate) const fn jump_reg(op: u8, dst: u8, src: u8, off: i16) -> Self {
        Self::new(BPF_JMP | op | BPF_X, dst, src, off, 0)
    }

    /// `if (u32)dst <op> (u32)imm goto +off`: compares the low 32 bits only, so an
    /// immediate with its top bit set is not sign-extended against a zero-extended load.
    pub(crate) const fn jump32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Self {
        Self::new(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
    }

    /// `dst = map` (`ld_imm64` with [`BPF_PSEUDO_MAP_FD`]): two instruction slots, the
    /// second holding the (zero) upper half of the immediate.
    #[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
    pub(crate) const fn load_map_fd(dst: u8, map_fd: i32) -> [Self; 2] {
        [
            Self::new(BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_FD, 0, map_fd),
            Self::new(0, 0, 0, 0, 0),
        ]
    }

    /// Call helper number `helper`.
    #[cfg_attr(not(feature = "afxdp"), allow(dead_code))] // AF_XDP only
    pub(crate) const fn call(helper: i32) -> Self {
        Self::new(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
    }

    /// Return `r0`.
    pub(crate) const fn exit() -> Self {
        Self::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// The `BPF_PROG_LOAD` member of `union bpf_attr` (up to `expected_attach_type`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_LINK_CREATE` member of `union bpf_attr`, up to `flags`: enough for an XDP
/// link and for a tcx link appended at the end of the device's chain (no relative
/// program, no expected revision).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// The `BPF_PROG_TEST_RUN` member of `union bpf_attr`.
#[cfg(test)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Tail padding made a field, so it is zero: the kernel refuses an attribute with
    /// anything set past the command's last field.
    _pad: u32,
}

/// bpf(2) with the attribute `attr`, for a command that returns a new file descriptor.
pub(crate) fn bpf_fd<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
    let rc = bpf(cmd, attr)?;
    // SAFETY: the commands used with this helper return a new file descriptor, owned by
    // nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(rc) })
}

/// bpf(2) with the attribute `attr`: its non-negative result.
///
/// `T` must have no padding bytes (make tail padding a field): their contents are
/// undefined, and the kernel refuses (`EINVAL`) an attribute with anything set past the
/// command's last field.
pub(crate) fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<i32> {
    // SAFETY: `attr` is a live, initialised `T` whose layout is the kernel's attribute
    // struct for `cmd` (this module and afxdp/uapi.rs), and the size passed is its size;
    // the kernel reads it and may write into it and into buffers it points to, which the
    // callers keep alive across the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as i32)
}

/// A kernel object name (`BPF_OBJ_NAME_LEN`): at most 15 bytes and a NUL.
pub(crate) fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, b) in n.iter_mut().zip(s.bytes().take(15)) {
        *d = b;
    }
    n
}

/// Why a step of loading or attaching a program failed.
#[derive(Debug)]
pub(crate) struct ProgError {
    /// What was being done ("loading the XDP program").
    pub step: &'static str,
    pub source: io::Error,
    /// The verifier's log, when the load was refused.
    pub log: Option<String>,
}

impl ProgError {
    pub(crate) fn new(step: &'static str, source: io::Error) -> Self {
        ProgError {
            step,
            source,
            log: None,
        }
    }
}

/// What [`load`] loads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProgSpec<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub insns: &'a [BpfInsn],
    /// The name `bpftool prog` shows (15 bytes at most are kept).
    pub name: &'a str,
    /// The step a failure is reported as ("loading the XDP program").
    pub step: &'static str,
}

/// Load a program; on refusal load it again with the verifier's log on and keep the log.
pub(crate) fn load(spec: ProgSpec<'_>) -> Result<OwnedFd, ProgError> {
    // nmio's programs call no GPL-only helper, so the project's own licence will do.
    let license = b"MIT OR Apache-2.0\0";
    let attr = |log: &mut [u8]| ProgLoadAttr {
        prog_type: spec.prog_type,
        insn_cnt: spec.insns.len() as u32,
        insns: spec.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name16(spec.name),
        expected_attach_type: spec.expected_attach_type,
        ..Default::default()
    };
    match bpf_fd(BPF_PROG_LOAD, &mut attr(&mut [])) {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM)) => {
            Err(ProgError::new(spec.step, e))
        }
        Err(_) => {
            // Start-up only: the log buffer is allocated on this failure path alone.
            let mut log = vec![0u8; 64 * 1024];
            let second = bpf_fd(BPF_PROG_LOAD, &mut attr(&mut log));
            let text =
                String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
                    .into_owned();
            match second {
                Ok(fd) => Ok(fd),
                Err(e) => Err(ProgError {
                    step: spec.step,
                    source: e,
                    log: Some(text),
                }),
            }
        }
    }
}

/// Attach `prog` to device `ifindex` (in the calling thread's network namespace) at
/// `attach_type` with a BPF link; the link's file descriptor keeps it attached.
pub(crate) fn link_create(
    prog: &OwnedFd,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags,
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
}

/// Run `prog` once on `frame` (`BPF_PROG_TEST_RUN`, root only) and return its verdict.
/// For a tc program the frame starts at the Ethernet header, as at tc ingress.
#[cfg(test)]
pub(crate) fn test_run(prog: &OwnedFd, frame: &[u8]) -> io::Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat: 1,
        ..Default::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

/// A verifier log as one line: its last lines joined with " | " (the reason is at the
/// end), at most about 400 characters.
pub(crate) fn one_line_log(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = String::new();
    for l in lines.iter().rev() {
        if out.len() + l.len() + 3 > 400 {
            break;
        }
        out = if out.is_empty() {
            l.to_string()
        } else {
            format!("{l} | {out}")
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// Sizes and offsets of the C structs (`linux/bpf.h`).
    #[test]
    fn layouts_match_the_c_headers() {
        assert_eq!(size_of::<BpfInsn>(), 8);
        assert_eq!(offset_of!(ProgLoadAttr, insns), 8);
        assert_eq!(offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
        assert_eq!(offset_of!(TestRunAttr, retval), 4);
        assert_eq!(offset_of!(TestRunAttr, data_in), 16);
        assert_eq!(offset_of!(TestRunAttr, repeat), 32);
        assert_eq!(offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(offset_of!(TestRunAttr, batch_size), 72);
        assert_eq!(size_of::<TestRunAttr>(), 80);
    }

    /// Encodings as `bpftool prog dump xlated` / the kernel's own macros produce them.
    #[test]
    fn instructions_encode_as_the_kernel_macros_do() {
        let i = BpfInsn::load(BPF_W, 2, 1, 76);
        assert_eq!((i.code, i.regs, i.off), (0x61, 0x12, 76));
        assert_eq!(BpfInsn::load(BPF_H, 4, 2, 12).code, 0x69);
        assert_eq!(BpfInsn::mov_imm(0, -1), BpfInsn::new(0xb7, 0, 0, 0, -1));
        assert_eq!(BpfInsn::mov_reg(4, 2).code, 0xbf);
        assert_eq!(BpfInsn::mov_reg(4, 2).regs, 0x24);
        assert_eq!(BpfInsn::add_imm(4, 34).code, 0x07);
        assert_eq!(BpfInsn::jump_imm(BPF_JNE, 4, 0, 3).code, 0x55);
        assert_eq!(BpfInsn::jump_reg(BPF_JGT, 4, 3, 1).code, 0x2d);
        assert_eq!(BpfInsn::jump32_imm(BPF_JEQ, 4, 7, 1).code, 0x16);
        let [lo, hi] = BpfInsn::load_map_fd(1, 9);
        assert_eq!((lo.code, lo.regs, lo.imm), (0x18, 0x11, 9));
        assert_eq!(hi, BpfInsn::default());
        assert_eq!(BpfInsn::call(51).code, 0x85);
        assert_eq!(BpfInsn::exit().code, 0x95);
    }

    #[test]
    fn names_are_cut_to_15_bytes_and_a_nul() {
        assert_eq!(&name16("nmio_xsk")[..9], b"nmio_xsk\0");
        let n = name16("a_name_much_longer_than_fifteen");
        assert_eq!(&n[..15], b"a_name_much_lon");
        assert_eq!(n[15], 0);
    }

    #[test]
    fn verifier_logs_become_one_line_ending_with_the_reason() {
        let log = "0: (61) r2 = *(u32 *)(r1 +16)\n\nR1 type=ctx\ninvalid access\n";
        let l = one_line_log(log);
        assert!(!l.contains('\n'));
        assert!(l.ends_with("invalid access"), "{l}");
        assert!(one_line_log(&"x\n".repeat(1000)).len() <= 400);
    }
}
