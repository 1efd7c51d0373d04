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
use crate::backend::bpf::{self, BpfInsn, ProgSpec, BPF_PROG_TYPE_XDP, BPF_XDP};
pub(super) use crate::backend::bpf::{one_line_log, ProgError};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

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
    let [map_lo, map_hi] = BpfInsn::load_map_fd(1, map_fd);
    [
        BpfInsn::load(bpf::BPF_W, 2, 1, XDP_MD_RX_QUEUE_INDEX),
        map_lo,
        map_hi,
        BpfInsn::mov_imm(3, XDP_PASS),
        BpfInsn::call(BPF_FUNC_REDIRECT_MAP),
        BpfInsn::exit(),
    ]
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
        map_name: bpf::name16("nmio_xsks"),
        ..Default::default()
    };
    let map = bpf::bpf_fd(bpf::BPF_MAP_CREATE, &mut attr)
        .map_err(|e| ProgError::new("creating the XSKMAP", e))?;
    let key: u32 = queue;
    let value: u32 = sock.as_raw_fd() as u32;
    let mut upd = BpfMapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: BPF_ANY,
        ..Default::default()
    };
    bpf::bpf(bpf::BPF_MAP_UPDATE_ELEM, &mut upd)
        .map_err(|e| ProgError::new("putting the socket in the XSKMAP", e))?;
    let insns = program(map.as_raw_fd());
    let prog = bpf::load(ProgSpec {
        prog_type: BPF_PROG_TYPE_XDP,
        expected_attach_type: BPF_XDP,
        insns: &insns,
        name: "nmio_xsk",
        step: "loading the XDP program",
    })?;
    let link = |flags: u32| bpf::link_create(&prog, ifindex, BPF_XDP, flags);
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
}
