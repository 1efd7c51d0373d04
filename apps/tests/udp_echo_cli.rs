//! The udp-echo binary as a user meets it: the embedded pipe demo's client gets every
//! datagram back byte for byte, and bad settings give one clear error line.

use std::process::{Command, Output};

fn udp_echo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udp-echo"))
        .args(args)
        .output()
        .expect("run udp-echo")
}

/// Assert a failed run printed exactly one line on stderr, containing `want`.
fn one_error_line(out: &Output, want: &str) {
    tests::cli::one_error_line(out, "udp-echo: ", want);
}

#[test]
fn embedded_default_echoes_every_size_to_the_built_in_client() {
    let out = udp_echo(&["--count", "1500"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1500 echoed byte-exact, 0 corrupt, 0 lost"),
        "{stdout}"
    );
    assert!(stdout.contains("echoed 1500 datagrams"), "{stdout}");
    assert!(stdout.contains("udp.rx_delivered=1500"), "{stdout}");
}

#[test]
fn several_ports_and_a_small_window_work_too() {
    let out = udp_echo(&[
        "--count", "50", "--window", "1", "--port", "9000", "--port", "7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // The client uses the lowest port.
    assert!(stdout.contains("to 192.0.2.2:7,"), "{stdout}");
    assert!(stdout.contains("50 echoed byte-exact"), "{stdout}");
}

#[test]
fn bad_settings_are_one_line() {
    one_error_line(&udp_echo(&["--port", "0"]), "--port 0 cannot be bound");
    one_error_line(&udp_echo(&["--window", "0"]), "--window must be at least 1");
    one_error_line(
        &udp_echo(&["--backend", "afpacket"]),
        "--backend afpacket needs --addr IP/PREFIX",
    );
    one_error_line(&udp_echo(&["--port", "70000"]), "70000");
}
