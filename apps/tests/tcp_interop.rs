//! Our TCP against the Linux kernel's (root, a private namespace, a veth pair, the
//! afpacket backend), under the four impairment profiles applied by the `impair`
//! wrapper on our port in both directions (this kernel has no netem):
//!
//! - `curl` on the kernel side downloads objects of 0 B, 1 B, 1448 B, 1449 B, 64 KiB,
//!   1 MiB and 16 MiB from `tcp-serve`, stream and prepared; each body must equal the
//!   object byte for byte (and its SHA-256, printed, follows).
//! - `tcp-fetch` downloads the same objects from a kernel-side HTTP server
//!   (`python3 -m http.server`).
//!
//! Bounds: every curl has `--max-time` [`PER_FETCH`]; a whole profile must finish within
//! [`PER_PROFILE`].

use apps::tcp_test::object;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

const SIZES: [usize; 7] = [0, 1, 1448, 1449, 65_536, 1 << 20, 16 << 20];
const PER_FETCH: Duration = Duration::from_secs(60);
const PER_PROFILE: Duration = Duration::from_secs(240);

/// The four profiles of the issue, as `--impair` specs.
const NONE: &str = "";
const LOSS1: &str = "loss=0.01";
const LOSS5: &str = "loss=0.05,reorder=0.25,dup=0.01";
const DELAY: &str = "delay=20ms,jitter=5ms";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn impair_args(spec: &str) -> Vec<String> {
    if spec.is_empty() {
        Vec::new()
    } else {
        vec![
            "--impair".into(),
            spec.into(),
            "--impair-seed".into(),
            "7".into(),
        ]
    }
}

fn sha256(path: &Path) -> String {
    Command::new("sha256sum")
        .arg(path)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

fn check_file(path: &Path, size: usize, what: &str) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(got.len(), size, "{what}: length");
    assert!(got == object(size), "{what}: bytes differ");
    let tmp = path.with_extension("expected");
    std::fs::write(&tmp, object(size)).unwrap();
    assert_eq!(sha256(path), sha256(&tmp), "{what}: sha256");
    let _ = std::fs::remove_file(tmp);
}

/// curl downloads every object from tcp-serve in `mode` under `spec`.
fn curl_from_us(test: &str, subnet: u8, mode: &str, spec: &str) {
    if !require_root(test, &["ip", "ethtool", "curl", "sha256sum"]) {
        return;
    }
    let tag = format!("tcps{subnet}");
    let (ours, kernel) = (format!("ts{subnet}a"), format!("ts{subnet}b"));
    let ns = NetNs::new(&tag).unwrap();
    ns.veth_pair(&ours, &kernel).unwrap();
    ns.exec(&[
        "ip",
        "addr",
        "add",
        &format!("10.91.{subnet}.1/24"),
        "dev",
        &kernel,
    ])
    .unwrap();
    let server_ip = format!("10.91.{subnet}.2");
    let _server = Proc(
        Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(env!("CARGO_BIN_EXE_tcp-serve"))
            .args(["--backend", &tests::interop_backend(), "--iface", &ours])
            .args(["--addr", &format!("{server_ip}/24"), "--port", "80"])
            .args(["--mode", mode, "--duration", "600", "--quiet"])
            .args(impair_args(spec))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tcp-serve"),
    );
    let dir = std::env::temp_dir().join(format!("tcp-interop-{tag}-{mode}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The server needs a moment to open its socket: wait until it answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = ns.exec(&[
            "curl",
            "-sS",
            "--max-time",
            "2",
            "-o",
            "/dev/null",
            &format!("http://{server_ip}/0"),
        ]);
        if r.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "tcp-serve never answered: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let start = Instant::now();
    for size in SIZES {
        let out = dir.join(format!("{size}"));
        let t = Instant::now();
        let r = Command::new("ip")
            .args(["netns", "exec", ns.name(), "curl", "-sS", "--fail"])
            .args(["--connect-timeout", "5"])
            .args(["--max-time", &PER_FETCH.as_secs().to_string()])
            .args(["-o", out.to_str().unwrap()])
            .arg(format!("http://{server_ip}/{size}"))
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "curl /{size} ({mode}, {spec:?}): {}",
            String::from_utf8_lossy(&r.stderr)
        );
        check_file(&out, size, &format!("curl /{size} ({mode}, {spec:?})"));
        eprintln!("{test}: /{size} in {:.2} s", t.elapsed().as_secs_f64());
    }
    assert!(
        start.elapsed() < PER_PROFILE,
        "profile took {:?}",
        start.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// tcp-fetch downloads every object from a kernel HTTP server under `spec`.
fn fetch_from_kernel(test: &str, subnet: u8, spec: &str) {
    if !require_root(test, &["ip", "ethtool", "python3", "sha256sum"]) {
        return;
    }
    let tag = format!("tcpf{subnet}");
    let (ours, kernel) = (format!("tf{subnet}a"), format!("tf{subnet}b"));
    let ns = NetNs::new(&tag).unwrap();
    ns.veth_pair(&ours, &kernel).unwrap();
    let kernel_ip = format!("10.91.{subnet}.1");
    ns.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{kernel_ip}/24"),
        "dev",
        &kernel,
    ])
    .unwrap();
    let root = std::env::temp_dir().join(format!("tcp-interop-{tag}-root"));
    let got = std::env::temp_dir().join(format!("tcp-interop-{tag}-got"));
    for d in [&root, &got] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    for size in SIZES {
        std::fs::write(root.join(format!("{size}")), object(size)).unwrap();
    }
    let _http = Proc(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "python3", "-m", "http.server"])
            .args([
                "--bind",
                &kernel_ip,
                "8080",
                "--directory",
                root.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 http.server"),
    );
    // Wait for the kernel server to listen.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ns
        .exec(&[
            "python3",
            "-c",
            &format!("import socket; socket.create_connection(('{kernel_ip}', 8080), 1)"),
        ])
        .is_err()
    {
        assert!(Instant::now() < deadline, "http.server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let paths: Vec<String> = SIZES
        .iter()
        .flat_map(|s| ["--path".to_string(), format!("/{s}")])
        .collect();
    let start = Instant::now();
    let r = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(env!("CARGO_BIN_EXE_tcp-fetch"))
        .args(["--backend", &tests::interop_backend(), "--iface", &ours])
        .args(["--addr", &format!("10.91.{subnet}.2/24")])
        .args(["--server", &format!("{kernel_ip}:8080")])
        .args(paths)
        .args(["--out-dir", got.to_str().unwrap()])
        .args(["--timeout", &PER_PROFILE.as_secs().to_string()])
        .args(impair_args(spec))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(r.status.success(), "tcp-fetch ({spec:?}): {text}");
    for size in SIZES {
        check_file(
            &got.join(format!("{size}")),
            size,
            &format!("tcp-fetch /{size} ({spec:?})"),
        );
    }
    eprintln!("{test}: {:.2} s\n{text}", start.elapsed().as_secs_f64());
    assert!(start.elapsed() < PER_PROFILE);
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&got);
}

macro_rules! curl_tests {
    ($($(#[$attr:meta])* $name:ident: $subnet:expr, $mode:expr, $spec:expr;)*) => {$(
        #[test]
        $(#[$attr])*
        fn $name() {
            curl_from_us(stringify!($name), $subnet, $mode, $spec);
        }
    )*};
}

curl_tests! {
    curl_stream_clean: 10, "stream", NONE;
    curl_prepared_clean: 11, "prepared", NONE;
    curl_stream_loss1: 12, "stream", LOSS1;
    curl_prepared_loss1: 13, "prepared", LOSS1;
    curl_stream_loss5_reorder_dup: 14, "stream", LOSS5;
    curl_prepared_loss5_reorder_dup: 15, "prepared", LOSS5;
    curl_stream_delay20_jitter5: 16, "stream", DELAY;
    curl_prepared_delay20_jitter5: 17, "prepared", DELAY;
}

#[test]
fn fetch_from_kernel_clean() {
    fetch_from_kernel("fetch_from_kernel_clean", 20, NONE);
}

#[test]
fn fetch_from_kernel_loss1() {
    fetch_from_kernel("fetch_from_kernel_loss1", 21, LOSS1);
}

#[test]
fn fetch_from_kernel_loss5_reorder_dup() {
    fetch_from_kernel("fetch_from_kernel_loss5_reorder_dup", 22, LOSS5);
}

#[test]
fn fetch_from_kernel_delay20_jitter5() {
    fetch_from_kernel("fetch_from_kernel_delay20_jitter5", 23, DELAY);
}
