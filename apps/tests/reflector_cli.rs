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
