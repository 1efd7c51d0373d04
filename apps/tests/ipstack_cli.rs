//! The ipstack binary as a user meets it: the embedded pipe demo answers its built-in peer,
//! and bad settings give one clear error line naming the problem.

use std::process::{Command, Output};

fn ipstack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipstack"))
        .args(args)
        .output()
        .expect("run ipstack")
}

/// Assert a failed run printed exactly one line on stderr, containing `want`.
fn one_error_line(out: &Output, want: &str) {
    tests::cli::one_error_line(out, "ipstack: ", want);
}

#[test]
fn embedded_default_answers_the_built_in_peer_five_times() {
    let out = ipstack(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("echo reply from 192.0.2.2"))
        .collect();
    assert_eq!(replies.len(), 5, "{stdout}");
    for (seq, line) in (1..=5).zip(&replies) {
        assert!(line.contains(&format!("icmp_seq={seq} ")), "{line}");
    }
    assert!(
        stdout.contains("192.0.2.2 is at 02:00:00:00:00:0a"),
        "{stdout}"
    );
    assert!(stdout.contains("icmp.echo_replied=5"), "{stdout}");
    assert!(
        stdout.contains("192.0.2.1       02:00:00:00:00:0b reachable"),
        "the ARP table lists the peer: {stdout}"
    );
}

#[test]
fn real_backend_without_an_address_is_one_line() {
    one_error_line(
        &ipstack(&["--backend", "afpacket"]),
        "--backend afpacket needs --addr IP/PREFIX",
    );
}

#[test]
fn bad_prefix_length_is_named() {
    one_error_line(
        &ipstack(&["--addr", "1.2.3.4/40"]),
        "prefix length /40 is not in 1..=32",
    );
    one_error_line(&ipstack(&["--addr", "1.2.3.4"]), "expected IP/PREFIX");
}

#[test]
fn bad_neighbour_settings_are_named() {
    one_error_line(
        &ipstack(&["--static-arp", "192.0.2.9=02:00:00:00:09"]),
        "--static-arp \"192.0.2.9=02:00:00:00:09\": expected IP=MAC",
    );
    one_error_line(
        &ipstack(&["--arp-reachable", "90"]),
        "expire must not be shorter than reachable",
    );
    one_error_line(&ipstack(&["--count", "x"]), "'--count <COUNT>'");
}
