//! Test network namespaces and veth pairs that clean up after themselves.
//!
//! Every namespace gets a unique name (`nmt-<tag>-<pid>-<n>`), so tests run in parallel
//! and leftovers of a crashed run never collide with a new one. The namespace (and with it
//! every veth end inside) is deleted on drop, also when the test panics.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the tests run in CI (`CI` set to anything but empty/`false`/`0`).
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false)
}

/// Return `true` if a test that needs root (and `tools`) can run. Otherwise print one line
/// saying why it is skipped and return `false`. In CI a missing requirement is a failure,
/// not a skip, because CI runs as root with every tool installed.
pub fn require_root(test: &str, tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces, raw sockets)".to_string());
    }
    for t in tools {
        if !tool_exists(t) {
            missing.push(format!("the `{t}` tool"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("SKIP {test}: needs {}", missing.join(", "));
    if in_ci() {
        panic!("{msg} (CI must run this test)");
    }
    eprintln!("{msg}");
    false
}

/// Whether `tool` is on PATH (or in /usr/sbin, /sbin).
pub fn tool_exists(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| std::path::Path::new(d).join(tool).is_file());
    found
}

/// Run a command, returning its stdout, or an error line with its stderr.
pub fn run(cmd: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace owned by a test.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Create a namespace with `lo` up and IPv6 off (so the kernel sends no router or
    /// neighbour solicitations of its own onto test links).
    pub fn new(tag: &str) -> Result<NetNs, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("nmt-{tag}-{}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        let ns = NetNs { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run a command inside the namespace.
    pub fn exec(&self, cmd: &[&str]) -> Result<String, String> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(cmd);
        run(&full)
    }

    /// Create a veth pair `a` <-> `b` with both ends in this namespace, up, with checksum
    /// offload, TSO/GSO and GRO off (so AF_PACKET sees finished, MTU-sized frames).
    pub fn veth_pair(&self, a: &str, b: &str) -> Result<(), String> {
        self.exec(&["ip", "link", "add", a, "type", "veth", "peer", "name", b])?;
        for dev in [a, b] {
            self.exec(&["ip", "link", "set", dev, "up"])?;
            offloads_off(self, dev)?;
        }
        Ok(())
    }

    /// Let `dev` cut the TCP super-frames sent through it (checksum offload, scatter-gather
    /// and TSO on again after [`veth_pair`](Self::veth_pair)); what it receives is
    /// unchanged. For a port opened with TSO on that end.
    pub fn tso_on(&self, dev: &str) -> Result<(), String> {
        self.exec(&["ethtool", "-K", dev, "tx", "on", "sg", "on", "tso", "on"])?;
        Ok(())
    }

    /// Create a veth pair with `a` here and `b` in `other`.
    pub fn veth_to(&self, a: &str, other: &NetNs, b: &str) -> Result<(), String> {
        self.exec(&[
            "ip",
            "link",
            "add",
            a,
            "type",
            "veth",
            "peer",
            "name",
            b,
            "netns",
            other.name(),
        ])?;
        self.exec(&["ip", "link", "set", a, "up"])?;
        other.exec(&["ip", "link", "set", b, "up"])?;
        offloads_off(self, a)?;
        offloads_off(other, b)?;
        Ok(())
    }

    /// Move the calling thread into this namespace until the guard drops. Sockets and
    /// devices opened meanwhile stay bound to this namespace afterwards.
    pub fn enter(&self) -> Result<NsGuard, String> {
        let here = File::open("/proc/thread-self/ns/net").map_err(|e| format!("own netns: {e}"))?;
        let there = File::open(format!("/run/netns/{}", self.name))
            .map_err(|e| format!("netns {}: {e}", self.name))?;
        setns(&there)?;
        Ok(NsGuard { back: here })
    }
}

fn offloads_off(ns: &NetNs, dev: &str) -> Result<(), String> {
    if tool_exists("ethtool") {
        ns.exec(&[
            "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
        ])?;
        Ok(())
    } else {
        Err("the `ethtool` tool is needed to turn veth offloads off".into())
    }
}

fn setns(f: &File) -> Result<(), String> {
    // SAFETY: `f` is an open namespace file; setns only changes this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!("setns: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.name]) {
            eprintln!("cleanup of namespace {}: {e}", self.name);
        }
    }
}

/// Returns the thread to the namespace it came from on drop.
#[derive(Debug)]
pub struct NsGuard {
    back: File,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.back) {
            eprintln!("leaving test namespace: {e}");
        }
    }
}
