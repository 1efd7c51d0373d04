//! `loadgen http` on a real link (root, a private namespace, a veth pair, AF_PACKET at
//! both ends): against our `web` server on one end, and against a kernel HTTP/1.0 server
//! (python's http.server) behind the kernel's address on the same end.
//!
//! - keep-alive and a new connection per request against `web`: every request answered,
//!   no socket or protocol error, the right status counts (a missing path gives 404s),
//!   the report in wrk's labels, and the server's own count agrees;
//! - the same against the kernel's HTTP/1.0 server, which closes after every response:
//!   loadgen reconnects each time;
//! - two runs back to back on the same four-tuples, the server holding them in
//!   TIME-WAIT: the second run is not slowed by refused SYNs (same ISN key from run to
//!   run; the tcpip timestamp offset fixed per tuple).
//!
//! Bounds: every loadgen run has `--count` and `--duration` and runs under a kill after
//! [`CLIENT_LIMIT`]; the servers stop by themselves after [`SERVER_LIFETIME`] s.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

const PYTHON: &str = "/usr/bin/python3";
const CLIENT_LIMIT: Duration = Duration::from_secs(60);
const SERVER_LIFETIME: &str = "120";
const SMALL: &[u8] = b"a small object for loadgen\n";
/// Sent by `web` as TSO super-frames, which the veth hands the other end whole.
const BIG: usize = 200_000;

/// A child process stopped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: `timeout` passes it on to the server it runs, where SIGKILL would
        // end `timeout` alone and leave python's server running (and holding its port).
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A namespace with a veth pair: `lgN a` carries our web server (10.62.N.2) and the
/// kernel's 10.62.N.1, `lgN b` the load generator (10.62.N.4).
struct Link {
    ns: NetNs,
    subnet: u8,
    dir: PathBuf,
}

impl Link {
    fn new(test: &str, subnet: u8) -> Link {
        let ns = NetNs::new(&format!("lgh{subnet}")).unwrap();
        let (a, b) = (format!("lg{subnet}a"), format!("lg{subnet}b"));
        ns.veth_pair(&a, &b).unwrap();
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("10.62.{subnet}.1/24"),
            "dev",
            &a,
        ])
        .unwrap();
        let dir = std::env::temp_dir().join(format!("loadgen-http-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("small"), SMALL).unwrap();
        std::fs::write(dir.join("index.html"), b"<p>index</p>\n").unwrap();
        std::fs::write(dir.join("big"), vec![b'x'; BIG]).unwrap();
        Link { ns, subnet, dir }
    }

    fn dev(&self, end: char) -> String {
        format!("lg{}{end}", self.subnet)
    }

    fn ip(&self, host: u8) -> String {
        format!("10.62.{}.{host}", self.subnet)
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns.name(), program]);
        c
    }

    /// Our web server on end a, serving `dir`.
    fn web(&self) -> Proc {
        let log = std::fs::File::create(self.dir.join("web.log")).unwrap();
        let child = self
            .cmd(env!("CARGO_BIN_EXE_web"))
            .args(["--backend", "afpacket", "--iface", &self.dev('a')])
            .args(["--addr", &format!("{}/24", self.ip(2))])
            .args(["--root", self.dir.to_str().unwrap(), "--quiet"])
            .args(["--duration", SERVER_LIFETIME])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// python's HTTP/1.0 file server on the kernel's address, port 8080.
    fn kernel_server(&self) -> Proc {
        let child = self
            .cmd("timeout")
            .args([SERVER_LIFETIME, PYTHON, "-m", "http.server", "8080"])
            .args([
                "--bind",
                &self.ip(1),
                "--directory",
                self.dir.to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// Wait until `url` answers 200 to curl from the kernel (python's server), at most
    /// 10 s.
    fn wait_for(&self, url: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let out = self
                .cmd("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    "1",
                    "-w",
                    "%{http_code}",
                    url,
                ])
                .output()
                .unwrap();
            if out.stdout == b"200" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{url} never answered 200");
    }

    /// Wait until our web server has prepared its responses (its `try:` line), at most
    /// 10 s. (The kernel cannot probe it: its address is on the same end.)
    fn wait_for_web(&self) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let log = std::fs::read_to_string(self.dir.join("web.log")).unwrap_or_default();
            if log.contains("try: curl") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("web never came up");
    }

    /// `loadgen http` on end b with these options; its stdout and whether it exited 0.
    fn loadgen(&self, args: &[&str]) -> (String, bool) {
        let mut child = self
            .cmd(env!("CARGO_BIN_EXE_loadgen"))
            .args(["http", "--backend", "afpacket", "--iface", &self.dev('b')])
            .args(["--addr", &format!("{}/24", self.ip(4)), "--quiet"])
            .args(["--duration", "30"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed() > CLIENT_LIMIT {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (text, out.status.success())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The numbers of the report's "Sent S, completed C (1xx a, 2xx b, 3xx c, 4xx d, ...),
/// N connections" line: [S, C, 1xx, 2xx, 3xx, 4xx, 5xx, other, N].
fn sent_line(report: &str) -> Vec<u64> {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with("Sent "))
        .unwrap_or_else(|| panic!("no Sent line in:\n{report}"));
    let line = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        .iter()
        .fold(line.to_string(), |l, class| l.replace(class, ""));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

/// `loadgen http` with `args`: it exits 0 with no socket or protocol error; its report
/// and the numbers of its Sent line.
fn clean_run(link: &Link, args: &[&str]) -> (String, Vec<u64>) {
    let (out, ok) = link.loadgen(args);
    assert!(ok, "{out}");
    no_errors(&out);
    // The stats line ends with the port's counters.
    let frames: u64 = out
        .split("port.rx_frames=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no port.rx_frames in:\n{out}"));
    assert!(frames > 0, "{out}");
    let n = sent_line(&out);
    (out, n)
}

fn no_errors(report: &str) {
    assert!(!report.contains("Socket errors"), "{report}");
    assert!(!report.contains("Protocol errors"), "{report}");
}

/// A link with our web server up on it, and the server's `IP:80`; `None` (with the reason
/// printed) where the test cannot run.
fn web_link(test: &str, tag: &str, subnet: u8, tso: bool) -> Option<(Link, Proc, String)> {
    if !require_root(test, &["ip"]) {
        return None;
    }
    let link = Link::new(tag, subnet);
    if tso {
        link.ns.tso_on(&link.dev('a')).unwrap();
    }
    let web = link.web();
    link.wait_for_web();
    let server = format!("{}:80", link.ip(2));
    Some((link, web, server))
}

#[test]
fn keep_alive_and_new_connections_against_our_web_server() {
    let test = "keep_alive_and_new_connections_against_our_web_server";
    let Some((link, _web, server)) = web_link(test, "web", 1, false) else {
        return;
    };
    // Keep-alive: 64 connections, every third request for a missing path.
    let (out, n) = clean_run(
        &link,
        &[
            "--server",
            &server,
            "--path",
            "/small",
            "--path",
            "/index.html",
            "--path",
            "/nope",
            "--connections",
            "64",
            "--count",
            "30000",
        ],
    );
    assert_eq!(&n[..2], &[30_000, 30_000], "{out}");
    assert_eq!((n[3], n[5]), (20_000, 10_000), "2xx and 4xx: {out}");
    assert_eq!(n[8], 64, "connections: {out}");
    assert!(out.contains("30000 requests in "), "{out}");
    assert!(out.contains("Non-2xx or 3xx responses: 10000"), "{out}");
    assert!(out.contains("Requests/sec: "), "{out}");
    // A new connection per request.
    let (out, n) = clean_run(
        &link,
        &[
            "--server",
            &server,
            "--path",
            "/small",
            "--connections",
            "32",
            "--count",
            "20000",
            "--close",
        ],
    );
    assert_eq!(&n[..2], &[20_000, 20_000], "{out}");
    assert_eq!(n[3], 20_000, "{out}");
    assert_eq!(n[8], 20_000, "a connection each: {out}");
    assert!(!out.contains("Non-2xx"), "{out}");
}

/// The web server sends `/big` in TSO super-frames; the veth passes them whole; loadgen's
/// port cuts them into segments (`--rx-gso`, on by default for loadgen).
#[test]
fn large_responses_in_super_frames_are_read_whole() {
    let test = "large_responses_in_super_frames_are_read_whole";
    let Some((link, _web, server)) = web_link(test, "big", 4, true) else {
        return;
    };
    for close in [false, true] {
        let mut args = vec![
            "--server",
            &server,
            "--path",
            "/big",
            "--connections",
            "8",
            "--count",
            "300",
        ];
        if close {
            args.push("--close");
        }
        let (out, n) = clean_run(&link, &args);
        assert_eq!(&n[..2], &[300, 300], "close {close}: {out}");
        assert_eq!(n[3], 300, "close {close}: {out}");
        // Every body byte, plus the heads.
        let read: u64 = out
            .lines()
            .find_map(|l| {
                l.split(" bytes read")
                    .next()
                    .filter(|_| l.contains(" bytes read"))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no bytes read in {out}"));
        assert!(
            read > 300 * BIG as u64 && read < 300 * (BIG as u64 + 400),
            "{read}: {out}"
        );
    }
    let log = std::fs::read_to_string(link.dir.join("web.log")).unwrap();
    assert!(
        log.contains("TSO up to"),
        "the web server had no TSO: {log}"
    );
}

#[test]
fn a_second_run_on_the_same_tuples_is_not_held_up_by_time_wait() {
    let test = "a_second_run_on_the_same_tuples_is_not_held_up_by_time_wait";
    let Some((link, _web, server)) = web_link(test, "tw", 2, false) else {
        return;
    };
    let args = [
        "--server",
        &server,
        "--path",
        "/small",
        "--connections",
        "16",
        "--count",
        "20000",
        "--close",
        "--timeout",
        "0.5",
    ];
    // 20,000 connections over the 16,384 ephemeral ports: the first run already reuses
    // tuples the server holds in TIME-WAIT, the second starts on them all.
    for run in 0..2 {
        let t = Instant::now();
        let (out, n) = clean_run(&link, &args);
        assert_eq!(&n[..2], &[20_000, 20_000], "run {run}: {out}");
        // A refused SYN costs a second (the SYN retransmission): a handful would show.
        assert!(
            !out.contains("syn_retransmits"),
            "run {run}: SYNs were retransmitted: {out}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "run {run}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn the_kernels_http_1_0_server_closes_and_loadgen_reconnects() {
    let test = "the_kernels_http_1_0_server_closes_and_loadgen_reconnects";
    if !require_root(test, &["ip", "curl", PYTHON]) {
        return;
    }
    let link = Link::new("kernel", 3);
    let _server = link.kernel_server();
    link.wait_for(&format!("http://{}:8080/small", link.ip(1)));
    let server = format!("{}:8080", link.ip(1));
    // Keep-alive asked, but HTTP/1.0 responses close: a connection per response.
    let (out, n) = clean_run(
        &link,
        &[
            "--server",
            &server,
            "--path",
            "/small",
            "--path",
            "/missing",
            "--connections",
            "4",
            "--count",
            "400",
        ],
    );
    assert_eq!(&n[..2], &[400, 400], "{out}");
    assert_eq!((n[3], n[5]), (200, 200), "{out}");
    assert_eq!(n[8], 400, "{out}");
}
