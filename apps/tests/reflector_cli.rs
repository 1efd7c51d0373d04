//! The reflector binary as a user meets it: the embedded default runs, and bad input gives
//! one clear error line naming the problem.

use std::process::{Command, Output};

fn reflector(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reflector"))
        .args(args)
        .output()
        .expect("run reflector")
}

/// Run the reflector as user nobody, without capabilities.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_reflector"))
        .args(args)
        .output()
        .expect("setpriv")
}

/// Assert a failed run printed exactly one line on stderr, containing `want`.
fn one_error_line(out: &Output, want: &str) {
    tests::cli::one_error_line(out, "", want);
}

#[test]
fn embedded_default_reflects_the_built_in_generator() {
    let out = reflector(&["--duration", "0.5", "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .expect("RESULT line");
    let field = |k: &str| -> u64 {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {result}"))
    };
    assert!(field("rx_frames") > 1000, "{result}");
    assert_eq!(
        field("rx_frames"),
        field("tx_frames"),
        "every frame reflected: {result}"
    );
    assert!(stdout.contains("came back"));
}

#[test]
fn malformed_interface_name_is_one_line() {
    one_error_line(
        &reflector(&["--backend", "afpacket", "--iface", "bad/name"]),
        "invalid interface name \"bad/name\"",
    );
    one_error_line(
        &reflector(&["--backend", "tap", "--iface", "much-too-long-name0"]),
        "invalid interface name",
    );
}

#[test]
fn missing_interface_argument_is_one_line() {
    one_error_line(
        &reflector(&["--backend", "afpacket"]),
        "--backend afpacket needs --iface NAME",
    );
}

#[test]
fn missing_device_is_one_line() {
    if !tests::netns::require_root("missing_device_is_one_line", &[]) {
        return;
    }
    one_error_line(
        &reflector(&["--backend", "afpacket", "--iface", "nmio-nodev0"]),
        "no such network device \"nmio-nodev0\"",
    );
}

#[test]
fn missing_privilege_is_one_line() {
    if !tests::netns::require_root("missing_privilege_is_one_line", &["setpriv"]) {
        return;
    }
    one_error_line(
        &as_nobody(&["--backend", "afpacket", "--iface", "lo"]),
        "permission denied",
    );
    one_error_line(
        &as_nobody(&["--backend", "tap", "--iface", "nmtapx0"]),
        "permission denied",
    );
}

/// netmap's module cannot be loaded on this project's machines: the backend says so.
#[cfg(feature = "netmap")]
#[test]
fn netmap_without_its_module_is_one_line() {
    if std::path::Path::new("/dev/netmap").exists() {
        eprintln!("netmap_without_its_module_is_one_line: SKIP: /dev/netmap exists here");
        return;
    }
    one_error_line(
        &reflector(&["--backend", "netmap", "--iface", "lo"]),
        "netmap is not loaded: /dev/netmap missing",
    );
}

#[test]
fn reflected_frames_keep_their_bytes_even_a_bad_checksum() {
    use std::time::{Duration, Instant};
    use tests::netns::{require_root, NetNs};
    use tests::packet_socket::PacketSocket;
    let test = "reflected_frames_keep_their_bytes_even_a_bad_checksum";
    if !require_root(test, &["ip", "ethtool"]) {
        return;
    }
    let ns = NetNs::new("rfl").unwrap();
    ns.veth_pair("rfa", "rfb").unwrap();
    // The reflector's end could fill in checksums (veth's default): it must not, here.
    ns.exec(&["ethtool", "-K", "rfa", "tx", "on"]).unwrap();
    let _inside = ns.enter().unwrap();
    // Spawned from this thread, the reflector runs in the namespace.
    let mut child = Command::new(env!("CARGO_BIN_EXE_reflector"))
        .args(["--backend", "afpacket", "--iface", "rfa"])
        .args(["--duration", "5", "--quiet"])
        .spawn()
        .expect("start reflector");
    let sock = PacketSocket::bind("rfb", 0x0800);
    // UDP over IPv4 with a wrong checksum (0x1234) and a marker in the payload.
    let mut frame = vec![0u8; 14 + 20 + 8 + 16];
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0a]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x0b]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    tests::tso::write_ipv4(
        &mut frame[14..34],
        44,
        7,
        17,
        ([10, 92, 0, 1], [10, 92, 0, 2]),
    );
    frame[34..42].copy_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 24, 0x12, 0x34]);
    frame[42..].copy_from_slice(b"reflect-me-as-is");
    let mut want = frame.clone();
    want[..6].copy_from_slice(&frame[6..12]);
    want[6..12].copy_from_slice(&frame[..6]);
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut buf = vec![0u8; 2048];
    let mut got = None;
    // The reflector may still be opening its port: send again until one comes back.
    while got.is_none() && Instant::now() < deadline {
        sock.send(&frame);
        while let Some(n) = sock.recv(&mut buf) {
            if buf[..n].ends_with(b"reflect-me-as-is") && buf[..6] == want[..6] {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let got = got.expect("the frame did not come back");
    assert_eq!(got, want, "reflected with only the MACs swapped");
}
