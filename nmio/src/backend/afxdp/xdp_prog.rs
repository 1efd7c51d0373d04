//! The XDP program that steers a queue's frames to our socket, loaded without libbpf.
//!
//! Five instructions, built here:
//!
//! ```text
//! r2 = *(u32 *)(r1 + 16)        ; ctx->rx_queue_index
//! r1 = xsks_map ll              ; ld_imm64 with the map's fd (BPF_PSEUDO_MAP_FD)
//! r3 = XDP_PASS                 ; fallback when the map has no socket at that index
//! call bpf_redirect_map         ; helper 51: XDP_REDIRECT to the socket, or r3
//! exit                          ; return r0
//! ```
//!
//! The map is an `XSKMAP` with one entry per device queue; this port puts its socket at
//! its own queue index, so frames of other queues go to the kernel as usual. The program is
//! attached with a BPF link (`BPF_LINK_CREATE`): the link is a file descriptor, and closing
//! it, which the kernel does when the process exits however it exits, detaches the
//! program. Nothing is pinned in bpffs.

use super::uapi::*;
use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`), before an skb exists. Refused by drivers
    /// without XDP support.
    Native,
    /// In the generic receive path, after the skb is built (`XDP_FLAGS_SKB_MODE`). Works
    /// on every device; slower.
    Generic,
    /// Native if the driver takes it, else generic; the reason native was refused is kept
    /// ([`crate::backend::afxdp::AfXdpPort::xdp_fallback`]).
    #[default]
    Auto,
}

impl XdpMode {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
            XdpMode::Auto => "auto",
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for XdpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            "auto" => Ok(XdpMode::Auto),
            _ => Err(format!("unknown XDP mode {s:?} (native, generic or auto)")),
        }
    }
}

/// Why a step of loading or attaching the program failed.
#[derive(Debug)]
pub(super) struct ProgError {
    pub step: &'static str,
    pub source: io::Error,
    /// The verifier's log, when the load was refused.
    pub log: Option<String>,
}

impl ProgError {
    fn new(step: &'static str, source: io::Error) -> Self {
        ProgError {
            step,
            source,
            log: None,
        }
    }
}

/// The loaded program, its map and the link that keeps it attached. Dropping it detaches
/// the program (the link goes first).
#[derive(Debug)]
pub(super) struct XdpProgram {
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    /// Native or generic: where it ended up.
    pub mode: XdpMode,
    /// With [`XdpMode::Auto`], why native was refused.
    pub fallback: Option<String>,
}

/// The program's instructions for the map `map_fd`.
pub(super) fn program(map_fd: i32) -> [BpfInsn; 6] {
    const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const BPF_LD_IMM_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
    const BPF_ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const BPF_JMP_CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const BPF_JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    let regs = |dst: u8, src: u8| dst | (src << 4);
    [
        BpfInsn {
            code: BPF_LDX_MEM_W,
            regs: regs(2, 1),
            off: XDP_MD_RX_QUEUE_INDEX,
            imm: 0,
        },
        BpfInsn {
            code: BPF_LD_IMM_DW,
            regs: regs(1, BPF_PSEUDO_MAP_FD),
            off: 0,
            imm: map_fd,
        },
        // Second half of the 16-byte ld_imm64: the upper 32 bits of the immediate.
        BpfInsn::default(),
        BpfInsn {
            code: BPF_ALU64_MOV_K,
            regs: regs(3, 0),
            off: 0,
            imm: XDP_PASS,
        },
        BpfInsn {
            code: BPF_JMP_CALL,
            regs: 0,
            off: 0,
            imm: BPF_FUNC_REDIRECT_MAP,
        },
        BpfInsn {
            code: BPF_JMP_EXIT,
            regs: 0,
            off: 0,
            imm: 0,
        },
    ]
}

/// bpf(2) with the attribute `attr`; the new file descriptor on success.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
    let rc = bpf_raw(cmd, attr)?;
    // SAFETY: the commands used with this helper return a new file descriptor, owned by
    // nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(rc) })
}

fn bpf_raw<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<i32> {
    // SAFETY: `attr` is a live, initialised `T` whose layout is the kernel's attribute
    // struct for `cmd` (uapi.rs), and the size passed is its size; the kernel reads it and
    // may write into buffers it points to, which are also live.
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

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, b) in n.iter_mut().zip(s.bytes().take(15)) {
        *d = b;
    }
    n
}

/// Create the `XSKMAP`, put `sock` at `queue`, load the program and attach it to `ifindex`
/// in `mode`.
pub(super) fn attach(
    ifindex: u32,
    queue: u32,
    entries: u32,
    sock: &OwnedFd,
    mode: XdpMode,
) -> Result<XdpProgram, ProgError> {
    let mut attr = BpfMapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries.max(queue + 1),
        map_name: name16("nmio_xsks"),
        ..Default::default()
    };
    let map =
        bpf(BPF_MAP_CREATE, &mut attr).map_err(|e| ProgError::new("creating the XSKMAP", e))?;
    let key: u32 = queue;
    let value: u32 = sock.as_raw_fd() as u32;
    let mut upd = BpfMapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: BPF_ANY,
        ..Default::default()
    };
    bpf_raw(BPF_MAP_UPDATE_ELEM, &mut upd)
        .map_err(|e| ProgError::new("putting the socket in the XSKMAP", e))?;
    let prog = load(map.as_raw_fd())?;
    let link = |flags: u32| {
        let mut attr = BpfLinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags,
        };
        bpf(BPF_LINK_CREATE, &mut attr)
    };
    let (link, mode, fallback) = match mode {
        XdpMode::Native => (
            link(XDP_FLAGS_DRV_MODE)
                .map_err(|e| ProgError::new("attaching the XDP program (native mode)", e))?,
            XdpMode::Native,
            None,
        ),
        XdpMode::Generic => (
            link(XDP_FLAGS_SKB_MODE)
                .map_err(|e| ProgError::new("attaching the XDP program (generic mode)", e))?,
            XdpMode::Generic,
            None,
        ),
        XdpMode::Auto => match link(XDP_FLAGS_DRV_MODE) {
            Ok(l) => (l, XdpMode::Native, None),
            // Another program holds the device: generic mode would be refused just the same.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EEXIST)) => {
                return Err(ProgError::new("attaching the XDP program (native mode)", e))
            }
            Err(native) => {
                let l = link(XDP_FLAGS_SKB_MODE).map_err(|e| {
                    ProgError::new(
                        "attaching the XDP program (native refused, then generic)",
                        e,
                    )
                })?;
                (
                    l,
                    XdpMode::Generic,
                    Some(format!("native XDP refused: {native}")),
                )
            }
        },
    };
    Ok(XdpProgram {
        _link: link,
        _prog: prog,
        _map: map,
        mode,
        fallback,
    })
}

/// Load the program; on refusal load it again with the verifier's log on and keep it.
fn load(map_fd: i32) -> Result<OwnedFd, ProgError> {
    let insns = program(map_fd);
    // The program calls no GPL-only helper, so the project's own licence will do.
    let license = b"MIT OR Apache-2.0\0";
    let attr = |log: &mut [u8]| BpfProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name16("nmio_xsk"),
        expected_attach_type: BPF_XDP,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr(&mut [])) {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM)) => {
            Err(ProgError::new("loading the XDP program", e))
        }
        Err(_) => {
            // Start-up only: the log buffer is allocated on this failure path alone.
            let mut log = vec![0u8; 64 * 1024];
            let second = bpf(BPF_PROG_LOAD, &mut attr(&mut log));
            let text =
                String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
                    .into_owned();
            match second {
                Ok(fd) => Ok(fd),
                Err(e) => Err(ProgError {
                    step: "loading the XDP program",
                    source: e,
                    log: Some(text),
                }),
            }
        }
    }
}

/// The verifier log as one line: its last lines joined with " | " (the reason is at the
/// end), at most about 400 characters.
pub(super) fn one_line_log(log: &str) -> String {
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

    #[test]
    fn the_program_reads_the_queue_and_redirects_with_pass_as_fallback() {
        let p = program(7);
        assert_eq!(p.len(), 6);
        assert_eq!(
            (p[0].code, p[0].regs, p[0].off),
            (0x61, 0x12, 16),
            "r2 = ctx->rx_queue_index"
        );
        assert_eq!(
            (p[1].code, p[1].regs, p[1].imm),
            (0x18, 0x11, 7),
            "r1 = map"
        );
        assert_eq!(p[2], BpfInsn::default());
        assert_eq!((p[3].code, p[3].regs, p[3].imm), (0xb7, 0x03, XDP_PASS));
        assert_eq!((p[4].code, p[4].imm), (0x85, 51));
        assert_eq!(p[5].code, 0x95);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("native".parse::<XdpMode>(), Ok(XdpMode::Native));
        assert_eq!("skb".parse::<XdpMode>(), Ok(XdpMode::Generic));
        assert_eq!("auto".parse::<XdpMode>(), Ok(XdpMode::Auto));
        assert!("hw".parse::<XdpMode>().is_err());
        assert_eq!(XdpMode::default(), XdpMode::Auto);
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
