//! `loadgen dns` against our `dns` server (root, a private namespace, a veth pair, both
//! programs on the afpacket backend, one on each end, each with its own address; the
//! kernel's ends have none, the two stacks find each other by ARP).
//!
//! - One name that exists, 3 s: queries answered, none lost, none unexpected, every
//!   answer NOERROR.
//! - A data file mixing names that exist (one in another case) with one that does not:
//!   NOERROR and NXDOMAIN in the file's proportions, none lost.
//!
//! Bounds: the server stops by itself after [`SERVER_LIFETIME`] s if a test dies without
//! dropping it; loadgen runs under `timeout`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

/// `--duration` of every server: a safety net, the tests stop it long before.
const SERVER_LIFETIME: &str = "60";
/// `timeout` for loadgen, in seconds.
const CLIENT_LIMIT: &str = "30";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server on one end of a veth pair in a namespace of its own, at 10.61.`subnet`.2;
/// loadgen goes on the other end at .3.
struct Bench {
    // Dropped first: the server goes before its namespace.
    server: Proc,
    ns: NetNs,
    subnet: u8,
    client_if: String,
    dir: PathBuf,
    test: &'static str,
}

impl Bench {
    fn start(test: &'static str, subnet: u8) -> Bench {
        let ns = NetNs::new(&format!("lgd{subnet}")).unwrap();
        let (server_if, client_if) = (format!("lg{subnet}s"), format!("lg{subnet}c"));
        ns.veth_pair(&server_if, &client_if).unwrap();
        let dir = std::env::temp_dir().join(format!("loadgen-dns-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/example.com.zone");
        let server = Proc(
            Command::new("ip")
                .args(["netns", "exec", ns.name()])
                .arg(env!("CARGO_BIN_EXE_dns"))
                .args([
                    "--backend",
                    &tests::interop_backend(),
                    "--iface",
                    &server_if,
                ])
                .args(["--addr", &format!("10.61.{subnet}.2/24")])
                .arg("--zone")
                .arg(&zone)
                .args(["--duration", SERVER_LIFETIME, "--quiet"])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join("out")).unwrap())
                .stderr(std::fs::File::create(dir.join("err")).unwrap())
                .spawn()
                .expect("start dns"),
        );
        let mut b = Bench {
            server,
            ns,
            subnet,
            client_if,
            dir,
            test,
        };
        // Loading and preparing the zone takes a moment: wait for the line it prints once
        // it serves.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !b.server_log().contains("dns: up on") {
            if let Some(status) = b.server.0.try_wait().unwrap() {
                panic!("{test}: dns exited ({status}):\n{}", b.server_log());
            }
            assert!(
                Instant::now() < deadline,
                "{test}: dns never said it serves:\n{}",
                b.server_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    fn server_log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!("{}{}", read("out"), read("err"))
    }

    /// `loadgen dns` on the other end with `args` after the link options, to the server.
    fn loadgen(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .args(["timeout", "-k", "2", CLIENT_LIMIT])
            .arg(env!("CARGO_BIN_EXE_loadgen"))
            .arg("dns")
            .args([
                "--backend",
                &tests::interop_backend(),
                "--iface",
                &self.client_if,
            ])
            .args(["--addr", &format!("10.61.{}.3/24", self.subnet)])
            .args(["--server", &format!("10.61.{}.2", self.subnet)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run loadgen")
    }

    /// The report of a successful loadgen run, as `label -> numbers on its line`.
    fn report(&self, args: &[&str]) -> Report {
        let out = self.loadgen(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{}: loadgen dns {args:?} failed ({}):\n{stdout}{stderr}\n{}",
            self.test,
            out.status,
            self.server_log()
        );
        eprintln!("{}: loadgen dns {args:?}:\n{stdout}{stderr}", self.test);
        // Failure messages show the whole output: the start line names the rings, the
        // last line the stack's and the port's drop counters.
        Report::parse(&format!("{stdout}{stderr}"))
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// dnsperf-style report lines, read as a script would.
struct Report {
    text: String,
    rcodes: HashMap<String, u64>,
}

impl Report {
    fn parse(text: &str) -> Report {
        let mut rcodes = HashMap::new();
        if let Some(line) = text.lines().find(|l| l.contains("Response codes:")) {
            let list = line.split_once("Response codes:").unwrap().1;
            for item in list.split(',') {
                let mut w = item.split_whitespace();
                let (Some(name), Some(n)) = (w.next(), w.next()) else {
                    continue;
                };
                rcodes.insert(name.to_string(), n.parse().unwrap());
            }
        }
        Report {
            text: text.to_string(),
            rcodes,
        }
    }

    /// The first number after `label` (awk '/label/ {print $N}').
    fn number(&self, label: &str) -> f64 {
        let line = self
            .text
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", self.text));
        let rest = line.split_once(label).unwrap().1;
        rest.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no number after {label:?}: {line}"))
    }

    fn count(&self, label: &str) -> u64 {
        self.number(label) as u64
    }

    fn rcode(&self, name: &str) -> u64 {
        self.rcodes.get(name).copied().unwrap_or(0)
    }
}

#[test]
fn one_existing_name_for_3_s_is_all_noerror_and_nothing_is_lost() {
    let test = "one_existing_name";
    if !require_root(test, &["ip", "ethtool", "timeout"]) {
        return;
    }
    let b = Bench::start(test, 1);
    let r = b.report(&["--query", "www.example.com A", "--duration", "3"]);
    let (sent, completed) = (r.count("Queries sent:"), r.count("Queries completed:"));
    assert!(completed > 0, "{test}: nothing answered:\n{}", r.text);
    assert_eq!(r.count("Queries lost:"), 0, "{test}:\n{}", r.text);
    assert_eq!(sent, completed, "{test}:\n{}", r.text);
    assert_eq!(r.count("Unexpected answers:"), 0, "{test}:\n{}", r.text);
    assert_eq!(r.count("Truncated:"), 0, "{test}:\n{}", r.text);
    assert_eq!(r.rcode("NOERROR"), completed, "{test}:\n{}", r.text);
    let qps = r.number("Queries per second:");
    let run_time = r.number("Run time (s):");
    assert!(
        (2.5..=3.5).contains(&run_time),
        "{test}: run time {run_time}"
    );
    assert!(qps > 0.0);
}

#[test]
fn a_query_file_mixing_names_gives_noerror_and_nxdomain_in_its_proportions() {
    let test = "query_file_mix";
    if !require_root(test, &["ip", "ethtool", "timeout"]) {
        return;
    }
    let b = Bench::start(test, 2);
    let file = b.dir.join("queries.txt");
    std::fs::write(
        &file,
        "# two that exist, one in another case, and one that does not\n\
         www.example.com A\n\
         HOST.EXAMPLE.COM A\n\
         \n\
         example.com MX\n\
         nope.example.com A\n",
    )
    .unwrap();
    let r = b.report(&[
        "--queries",
        file.to_str().unwrap(),
        "--duration",
        "3",
        "--edns",
        "1232",
        "--outstanding",
        "256",
        "--sources",
        "4",
    ]);
    let completed = r.count("Queries completed:");
    assert!(completed > 0, "{test}: nothing answered:\n{}", r.text);
    assert_eq!(r.count("Queries lost:"), 0, "{test}:\n{}", r.text);
    assert_eq!(r.count("Unexpected answers:"), 0, "{test}:\n{}", r.text);
    let (noerror, nxdomain) = (r.rcode("NOERROR"), r.rcode("NXDOMAIN"));
    assert_eq!(noerror + nxdomain, completed, "{test}:\n{}", r.text);
    // One query in four is the missing name; the window ends anywhere in the cycle.
    let diff = (noerror as i64 - 3 * nxdomain as i64).abs();
    assert!(diff <= 3, "{test}: {noerror} NOERROR, {nxdomain} NXDOMAIN");
}

#[test]
fn a_bad_query_file_line_is_one_error_line_with_its_place() {
    let test = "bad_query_file";
    if !require_root(test, &["ip", "ethtool", "timeout"]) {
        return;
    }
    let b = Bench::start(test, 3);
    let file = b.dir.join("bad.txt");
    std::fs::write(&file, "www.example.com A\nwww.example.com NOPE\n").unwrap();
    let out = b.loadgen(&["--queries", file.to_str().unwrap(), "--duration", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:2: unknown query type \"NOPE\"", file.display());
    assert!(
        stderr.lines().count() == 1 && stderr.contains(&want),
        "{test}: {stderr}"
    );
}
