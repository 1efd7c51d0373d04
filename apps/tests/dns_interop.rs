//! The `dns` server against dig and raw UDP (root, a private namespace, a veth pair, the
//! afpacket backend); dig and python run on the kernel's end of the pair.
//!
//! - Every record type of `example.com.zone` (and its `$INCLUDE`) answered with the zone's
//!   data and TTLs, AA set, with the additional records the server documents.
//! - NXDOMAIN and NODATA with the SOA in authority (TTL min(SOA TTL, MINIMUM)), the
//!   referral for `sub`, wildcards, CNAME chains, REFUSED outside the zones, and the
//!   question's case kept.
//! - EDNS0: OPT echoed, BADVERS for version 1, the 600-octet TXT of `prepare.test.zone`
//!   truncated (TC) without EDNS and whole with a 4096 buffer.
//! - Malformed queries from python's raw socket get FORMERR or are dropped, the server
//!   keeps answering, and its counters (printed at SIGTERM) show them.
//! - Two zones at once: the child zone answers for its names.
//! - dnsperf for 10 s at 10,000 queries/s over a 10,000-name zone, then 3 s with EDNS:
//!   no query lost, every answer NOERROR, all sent as prepared frames.
//!
//! Every check runs twice, once per `--mode` of the server (`pre-copy`, `memcpy`).
//!
//! Every server stops by SIGTERM or SIGINT, and its final counters are checked.
//!
//! Bounds: every dig has `+time=2 +tries=1` and runs under `timeout`; every server stops
//! by itself after [`SERVER_LIFETIME`] s if a test dies without dropping it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tests::netns::{require_root, NetNs};

/// Absolute paths: a pyenv shim on PATH may not resolve under `ip netns exec`.
const DIG: &str = "/usr/bin/dig";
const PYTHON: &str = "/usr/bin/python3";
/// Options of every dig: no recursion wanted, one try of 2 s, every section and the
/// header comments, the message size.
const DIG_OPTS: [&str; 10] = [
    "+norec",
    "+time=2",
    "+tries=1",
    "+noall",
    "+comments",
    "+question",
    "+answer",
    "+authority",
    "+additional",
    "+stats",
];
/// `timeout` for any client command, in seconds.
const CLIENT_LIMIT: &str = "15";
/// `--duration` of every server: a safety net, the tests stop it long before.
const SERVER_LIFETIME: &str = "120";

/// SOA of example.com as the answer to its own query.
const EXAMPLE_SOA: &str = "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. \
                           2024010101 7200 3600 1209600 300";
/// The same SOA in a negative answer: TTL min(3600, MINIMUM 300) (RFC 2308 3, 5).
const EXAMPLE_NEG: &str = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. \
                           2024010101 7200 3600 1209600 300";
/// prepare.test's SOA in a negative answer: TTL min(600, MINIMUM 900).
const PREPARE_NEG: &str = "prepare.test. 600 IN SOA ns1.prepare.test. hostmaster.prepare.test. \
                           1 7200 3600 1209600 900";
/// child.prepare.test's SOA in a negative answer: TTL min(300, MINIMUM 60).
const CHILD_NEG: &str = "child.prepare.test. 60 IN SOA ns.child.prepare.test. \
                         hostmaster.child.prepare.test. 1 7200 3600 1209600 60";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two tests per check, one per `--mode` of the server (answers at existing names sent
/// as prepared frames rewritten in place, or copied first): `subnet` for pre-copy,
/// `subnet + 100` for memcpy.
macro_rules! both_modes {
    ($($check:ident: $subnet:expr;)*) => {$(
        mod $check {
            #[test]
            fn pre_copy() {
                super::$check(concat!(stringify!($check), "::pre_copy"), $subnet, "pre-copy");
            }
            #[test]
            fn memcpy() {
                super::$check(concat!(stringify!($check), "::memcpy"), $subnet + 100, "memcpy");
            }
        }
    )*};
}

both_modes! {
    every_record_type_is_answered_with_the_zones_data_and_aa: 40;
    nxdomain_nodata_referral_wildcard_cname_refused_and_the_questions_case: 41;
    edns_echoed_badvers_for_version_1_and_tc_without_edns: 42;
    malformed_queries_get_formerr_or_are_dropped_and_are_counted: 43;
    two_zones_at_once_the_child_answers_for_its_names: 44;
    ds_for_a_served_child_apex_is_answered_from_the_parent: 47;
    tcp_answers_whole_and_carries_several_queries: 45;
    rate_limiting_answers_the_rate_then_slips_and_drops: 46;
    dnsperf_sustains_a_rate_without_loss: 48;
}

fn zone_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zones")
        .join(file)
}

fn lossy(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The server in its namespace, with the kernel's end of the veth pair at `.1`.
struct Dns {
    // Dropped first: the server goes before its namespace.
    server: Proc,
    ns: NetNs,
    ip: String,
    dir: PathBuf,
    test: &'static str,
}

impl Dns {
    /// Starts `dns` on 10.91.`subnet`.2 with `zones`, and waits until `probe` (a name
    /// and type dig understands) is answered.
    fn start(
        test: &'static str,
        subnet: u8,
        mode: &'static str,
        zones: &[&str],
        probe: &str,
    ) -> Dns {
        Dns::start_with(test, subnet, mode, zones, probe, &[])
    }

    /// [`Dns::start`] with `extra` options for the server.
    fn start_with(
        test: &'static str,
        subnet: u8,
        mode: &'static str,
        zones: &[&str],
        probe: &str,
        extra: &[&str],
    ) -> Dns {
        let ns = NetNs::new(&format!("dnst{subnet}")).unwrap();
        let (ours, kernel) = (format!("dn{subnet}a"), format!("dn{subnet}b"));
        ns.veth_pair(&ours, &kernel).unwrap();
        // veth's default, which the pair turns off: our port then leaves the UDP and TCP
        // checksums to the device, and dig's kernel takes them unverified.
        ns.exec(&["ethtool", "-K", &ours, "tx", "on"]).unwrap();
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("10.91.{subnet}.1/24"),
            "dev",
            &kernel,
        ])
        .unwrap();
        let ip = format!("10.91.{subnet}.2");
        let dir = std::env::temp_dir().join(format!("dns-interop-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name()])
            .arg(env!("CARGO_BIN_EXE_dns"))
            .args(["--backend", &tests::interop_backend(), "--iface", &ours])
            .args(["--addr", &format!("{ip}/24")]);
        for z in zones {
            cmd.arg("--zone").arg(zone_path(z));
        }
        cmd.args(["--mode", mode]).args(extra);
        let server = Proc(
            cmd.args(["--duration", SERVER_LIFETIME, "--quiet", "--tcp-idle", "2"])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join("out")).unwrap())
                .stderr(std::fs::File::create(dir.join("err")).unwrap())
                .spawn()
                .expect("start dns"),
        );
        let mut dns = Dns {
            server,
            ns,
            ip,
            dir,
            test,
        };
        // Loading and preparing the zones takes a moment: wait for the line it prints
        // once it serves, then for an answer (the first one needs ARP).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dns.stderr().contains("dns: up on") {
            if let Some(status) = dns.server.0.try_wait().unwrap() {
                panic!(
                    "{test}: dns exited ({status}) before serving:\n{}",
                    dns.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{test}: dns never said it serves:\n{}",
                dns.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        loop {
            let mut args: Vec<&str> = probe.split_whitespace().collect();
            args.push("+time=1");
            let out = dns.dig_output(&args);
            if String::from_utf8_lossy(&out.stdout).contains(";; Got answer:") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{test}: dns never answered {probe}: {}\n{}",
                lossy(&out),
                dns.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dns
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("out")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("err")).unwrap_or_default()
    }

    fn log(&self) -> String {
        format!("dns's output:\n{}{}", self.stdout(), self.stderr())
    }

    /// `program` inside the namespace, under `timeout`.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns.name()]).args([
            "timeout",
            "-k",
            "2",
            CLIENT_LIMIT,
            program,
        ]);
        c.stdin(Stdio::null());
        c
    }

    /// dig's output for `args` (a name, a type, options), with [`DIG_OPTS`] before them.
    fn dig_output(&self, args: &[&str]) -> Output {
        self.cmd(DIG)
            .arg(format!("@{}", self.ip))
            .args(DIG_OPTS)
            .args(args)
            .output()
            .expect("run dig")
    }

    /// The answer to `query` (`"name TYPE [+option ...]"`), which must come.
    fn dig(&self, query: &str) -> Reply {
        let args: Vec<&str> = query.split_whitespace().collect();
        let out = self.dig_output(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains(";; Got answer:"),
            "{}: dig {query}: no answer: {}\n{}",
            self.test,
            lossy(&out),
            self.log()
        );
        Reply::parse(&format!("dig {query}"), &text)
    }

    /// Whether the server is still running.
    fn alive(&mut self) -> bool {
        self.server.0.try_wait().unwrap().is_none()
    }

    /// Stops the server with `signal` (`TERM` or `INT`) and returns the counters it prints
    /// on the way out.
    fn stop(&mut self, signal: &str) -> HashMap<String, u64> {
        assert!(self.alive(), "{}: dns died:\n{}", self.test, self.log());
        let pid = self.server.0.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.server.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: dns ignored SIG{signal}",
                self.test
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "{}: dns exited with {status} at SIG{signal}:\n{}",
            self.test,
            self.log()
        );
        counters(&self.stdout())
            .unwrap_or_else(|| panic!("{}: no DnsStats line:\n{}", self.test, self.log()))
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The fields of the `dns: DnsStats { noerror: 3, ... }` line the server prints at exit.
fn counters(stdout: &str) -> Option<HashMap<String, u64>> {
    let line = stdout.lines().find(|l| l.starts_with("dns: DnsStats {"))?;
    let inner = line.split_once('{')?.1.trim_end().strip_suffix('}')?;
    inner
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// One response as dig printed it (`+noall +comments +question +answer +authority
/// +additional +stats`). Records are `owner ttl class type rdata`, single-spaced between
/// the fields, rdata as dig wrote it.
struct Reply {
    what: String,
    text: String,
    status: String,
    flags: String,
    question: Vec<String>,
    answer: Vec<String>,
    authority: Vec<String>,
    additional: Vec<String>,
    /// dig's `; EDNS: ...` line (our OPT), if any.
    edns: Option<String>,
    /// `MSG SIZE rcvd`.
    size: usize,
}

impl Reply {
    fn parse(what: &str, text: &str) -> Reply {
        let mut r = Reply {
            what: what.to_string(),
            text: text.to_string(),
            status: String::new(),
            flags: String::new(),
            question: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            edns: None,
            size: 0,
        };
        let mut section = "";
        for line in text.lines() {
            if let Some(h) = line.strip_prefix(";; ->>HEADER<<- ") {
                r.status = field(h, "status: ", ',');
            } else if let Some(f) = line.strip_prefix(";; flags: ") {
                r.flags = f.split(';').next().unwrap_or_default().trim().to_string();
            } else if line.starts_with("; EDNS: ") {
                r.edns = Some(line.to_string());
            } else if let Some(s) = line.strip_prefix(";; MSG SIZE  rcvd: ") {
                r.size = s.trim().parse().unwrap_or(0);
            } else if let Some(s) = line.strip_prefix(";; ").and_then(|s| s.strip_suffix(':')) {
                section = match s {
                    "QUESTION SECTION" => "question",
                    "ANSWER SECTION" => "answer",
                    "AUTHORITY SECTION" => "authority",
                    "ADDITIONAL SECTION" => "additional",
                    _ => "",
                };
            } else if line.trim().is_empty() {
                section = "";
            } else if section == "question" {
                let q = line.trim_start_matches(';');
                r.question
                    .push(q.split_whitespace().collect::<Vec<_>>().join(" "));
            } else if !line.starts_with(';') {
                let rr = record(line);
                match section {
                    "answer" => r.answer.push(rr),
                    "authority" => r.authority.push(rr),
                    "additional" => r.additional.push(rr),
                    _ => panic!("{what}: record outside a section: {line:?}\n{text}"),
                }
            }
        }
        assert!(!r.status.is_empty(), "{what}: no header in:\n{text}");
        r
    }

    /// Asserts the whole response: RCODE, header flags and the three sections.
    fn expect(
        &self,
        status: &str,
        flags: &str,
        answer: &[&str],
        authority: &[&str],
        additional: &[&str],
    ) {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = (
            self.status.as_str(),
            self.flags.as_str(),
            self.answer.clone(),
            self.authority.clone(),
            self.additional.clone(),
        );
        let want = (
            status,
            flags,
            owned(answer),
            owned(authority),
            owned(additional),
        );
        assert_eq!(
            got, want,
            "{}: (status, flags, answer, authority, additional)\n{}",
            self.what, self.text
        );
    }
}

/// The text after `key` in `s` up to `end`.
fn field(s: &str, key: &str, end: char) -> String {
    s.split_once(key)
        .map(|(_, rest)| {
            rest.split(end)
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// `owner ttl class type rdata` from one of dig's record lines (tabs between the first
/// four fields, rdata kept as printed).
fn record(line: &str) -> String {
    let mut rest = line.trim();
    let mut fields = Vec::new();
    for _ in 0..4 {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        fields.push(rest);
    }
    fields.join(" ")
}

/// Every record type of example.com.zone and its `$INCLUDE`: (query, answer, additional).
/// Additional records: A then AAAA of in-zone NS, MX and SRV targets (RFC 1035 3.3.9,
/// 3.3.11, RFC 2782).
const EXAMPLE_DATA: &[(&str, &[&str], &[&str])] = &[
    ("example.com SOA", &[EXAMPLE_SOA], &[]),
    (
        "example.com NS",
        &[
            "example.com. 3600 IN NS ns1.example.com.",
            "example.com. 3600 IN NS ns2.example.net.",
        ],
        &[
            "ns1.example.com. 3600 IN A 192.0.2.1",
            "ns1.example.com. 3600 IN AAAA 2001:db8::1",
        ],
    ),
    (
        "example.com MX",
        &["example.com. 3600 IN MX 10 mail.example.com."],
        &["mail.example.com. 600 IN A 192.0.2.2"],
    ),
    (
        "example.com CAA",
        &["example.com. 3600 IN CAA 0 issue \"ca.example.net\""],
        &[],
    ),
    (
        "ns1.example.com A",
        &["ns1.example.com. 3600 IN A 192.0.2.1"],
        &[],
    ),
    (
        "ns1.example.com AAAA",
        &["ns1.example.com. 3600 IN AAAA 2001:db8::1"],
        &[],
    ),
    (
        "mail.example.com A",
        &["mail.example.com. 600 IN A 192.0.2.2"],
        &[],
    ),
    (
        "host.example.com A",
        &["host.example.com. 3600 IN A 192.0.2.3"],
        &[],
    ),
    (
        "www.example.com CNAME",
        &["www.example.com. 3600 IN CNAME alias.example.com."],
        &[],
    ),
    (
        "alias.example.com CNAME",
        &["alias.example.com. 3600 IN CNAME Host.example.com."],
        &[],
    ),
    // "\065\066C\\" in the zone is the octets `ABC\`.
    (
        "txt.example.com TXT",
        &[r#"txt.example.com. 3600 IN TXT "v=spf1 -all" "say \"hi\"; not a comment" "ABC\\""#],
        &[],
    ),
    (
        "_sip._tcp.example.com SRV",
        &["_sip._tcp.example.com. 3600 IN SRV 10 60 5060 host.example.com."],
        // The target's owner as the zone spells it.
        &["Host.example.com. 3600 IN A 192.0.2.3"],
    ),
    (
        "1.example.com PTR",
        &["1.example.com. 3600 IN PTR host.example.com."],
        &[],
    ),
    (
        "secure.example.com DS",
        &["secure.example.com. 3600 IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"],
        &[],
    ),
    (
        "info.example.com HINFO",
        &["info.example.com. 3600 IN HINFO \"PC\" \"Linux\""],
        &[],
    ),
    (
        "inc.example.com TXT",
        &["inc.example.com. 3600 IN TXT \"included\""],
        &[],
    ),
    (
        "mx.inc.example.com MX",
        &["mx.inc.example.com. 60 IN MX 5 mail.example.com."],
        &["mail.example.com. 600 IN A 192.0.2.2"],
    ),
    (
        "x.other.example.com A",
        &["x.other.example.com. 3600 IN A 192.0.2.77"],
        &[],
    ),
    (
        "after.example.com A",
        &["after.example.com. 3600 IN A 192.0.2.99"],
        &[],
    ),
];

fn every_record_type_is_answered_with_the_zones_data_and_aa(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(test, &["ip", "ethtool", "dig", "timeout", "kill"]) {
        return;
    }
    let t = Instant::now();
    let mut dns = Dns::start(test, subnet, mode, &["example.com.zone"], "example.com SOA");
    for (query, answer, additional) in EXAMPLE_DATA {
        let r = dns.dig(query);
        r.expect("NOERROR", "qr aa", answer, &[], additional);
        assert!(
            r.edns.as_deref().is_some_and(|e| e.contains("version: 0")),
            "{query}: our OPT\n{}",
            r.text
        );
        let name = query.split(' ').next().unwrap();
        assert_eq!(
            r.question,
            [format!("{name}. IN {}", query.split(' ').nth(1).unwrap())],
            "{query}: the question as sent"
        );
    }
    let st = dns.stop("TERM");
    assert!(st["noerror"] >= EXAMPLE_DATA.len() as u64, "{st:?}");
    assert_eq!((st["formerr"], st["dropped"]), (0, 0), "{st:?}");
    eprintln!(
        "{test}: {} queries in {:.2} s",
        EXAMPLE_DATA.len(),
        t.elapsed().as_secs_f64()
    );
}

fn nxdomain_nodata_referral_wildcard_cname_refused_and_the_questions_case(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(test, &["ip", "ethtool", "dig", "timeout", "kill"]) {
        return;
    }
    let t = Instant::now();
    let mut dns = Dns::start(test, subnet, mode, &["example.com.zone"], "example.com SOA");

    // RFC 2308 2.1: NXDOMAIN with the SOA, whose TTL is min(TTL, MINIMUM) (RFC 2308 3).
    for q in ["nope.example.com A", "a.b.nope.example.com TXT"] {
        dns.dig(q)
            .expect("NXDOMAIN", "qr aa", &[], &[EXAMPLE_NEG], &[]);
    }
    // RFC 2308 2.2: NODATA, at the apex, at a name with other types, at empty
    // non-terminals (RFC 8020: they exist) and at a wildcard's owner.
    for q in [
        "example.com A",
        "ns1.example.com MX",
        "_tcp.example.com SRV",
        "other.example.com A",
        "wild.example.com A",
        "foo.wild.example.com AAAA",
    ] {
        dns.dig(q)
            .expect("NOERROR", "qr aa", &[], &[EXAMPLE_NEG], &[]);
    }
    // RFC 1034 4.3.2: a referral at and below the cut, glue in additional, AA clear.
    for q in [
        "sub.example.com A",
        "sub.example.com NS",
        "host.sub.example.com A",
        "ns.sub.example.com A",
        "deep.host.sub.example.com MX",
    ] {
        dns.dig(q).expect(
            "NOERROR",
            "qr",
            &[],
            &["sub.example.com. 3600 IN NS ns.sub.example.com."],
            &["ns.sub.example.com. 3600 IN A 192.0.2.53"],
        );
    }
    // RFC 4035 3.1.4.1: DS at the cut belongs to the parent, which has none.
    dns.dig("sub.example.com DS")
        .expect("NOERROR", "qr aa", &[], &[EXAMPLE_NEG], &[]);
    // RFC 4592 3.3.1: the wildcard's records with the query name as owner, as sent.
    for name in [
        "foo.wild.example.com",
        "a.b.wild.example.com",
        "Foo.WILD.Example.COM",
    ] {
        let r = dns.dig(&format!("{name} A"));
        r.expect(
            "NOERROR",
            "qr aa",
            &[&format!("{name}. 3600 IN A 192.0.2.10")],
            &[],
            &[],
        );
    }
    // RFC 1034 4.3.2 step 3a: the chain is followed inside the zone.
    let www = "www.example.com. 3600 IN CNAME alias.example.com.";
    let alias = "alias.example.com. 3600 IN CNAME Host.example.com.";
    let host = "Host.example.com. 3600 IN A 192.0.2.3";
    dns.dig("www.example.com A")
        .expect("NOERROR", "qr aa", &[www, alias, host], &[], &[]);
    dns.dig("alias.example.com A")
        .expect("NOERROR", "qr aa", &[alias, host], &[], &[]);
    // RFC 2308 2.2: a chain ending at a name without the type: NODATA after the CNAMEs.
    dns.dig("www.example.com AAAA")
        .expect("NOERROR", "qr aa", &[www, alias], &[EXAMPLE_NEG], &[]);
    // Outside every zone, or another class: REFUSED, nothing else.
    for q in [
        "example.org A",
        "com SOA",
        ". NS",
        "xexample.com A",
        "example.com SOA -c CH",
    ] {
        dns.dig(q).expect("REFUSED", "qr", &[], &[], &[]);
    }
    // RFC 1035 7.3 / RFC 4343: the question comes back as sent, and names compressed
    // against it (the owners) take its case.
    let r = dns.dig("ExAmPlE.CoM SOA");
    assert_eq!(r.question, ["ExAmPlE.CoM. IN SOA"], "{}", r.text);
    assert_eq!(r.answer.len(), 1, "{}", r.text);
    assert!(
        r.answer[0].starts_with("ExAmPlE.CoM. 3600 IN SOA "),
        "{}",
        r.text
    );
    assert!(r.answer[0].eq_ignore_ascii_case(EXAMPLE_SOA), "{}", r.text);
    assert_eq!(r.flags, "qr aa");
    let r = dns.dig("WWW.Example.COM A");
    assert_eq!(r.question, ["WWW.Example.COM. IN A"], "{}", r.text);
    assert!(
        r.answer[0].starts_with("WWW.Example.COM. 3600 IN CNAME "),
        "{}",
        r.text
    );
    let want = [www, alias, host];
    assert!(
        r.answer.len() == 3
            && r.answer
                .iter()
                .zip(want)
                .all(|(a, w)| a.eq_ignore_ascii_case(w)),
        "{}",
        r.text
    );
    let r = dns.dig("NoPe.EXAMPLE.com A");
    assert_eq!(r.question, ["NoPe.EXAMPLE.com. IN A"], "{}", r.text);
    assert_eq!((r.status.as_str(), r.flags.as_str()), ("NXDOMAIN", "qr aa"));

    let st = dns.stop("TERM");
    assert_eq!((st["nxdomain"], st["refused"]), (3, 5), "{st:?}");
    assert_eq!((st["formerr"], st["dropped"]), (0, 0), "{st:?}");
    eprintln!("{test}: {:.2} s", t.elapsed().as_secs_f64());
}

fn edns_echoed_badvers_for_version_1_and_tc_without_edns(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(test, &["ip", "ethtool", "dig", "timeout", "kill"]) {
        return;
    }
    let t = Instant::now();
    let mut dns = Dns::start(
        test,
        subnet,
        mode,
        &["prepare.test.zone"],
        "prepare.test SOA",
    );
    let soa = "prepare.test. 600 IN SOA ns1.prepare.test. hostmaster.prepare.test. \
               1 7200 3600 1209600 900";

    // RFC 6891 6.1.1: an OPT in the query gets ours, version 0, with our UDP size.
    let r = dns.dig("prepare.test SOA");
    r.expect("NOERROR", "qr aa", &[soa], &[], &[]);
    let edns = r.edns.clone().unwrap_or_default();
    assert!(edns.starts_with("; EDNS: version: 0"), "{}", r.text);
    assert!(edns.contains("udp: 1232"), "{}", r.text);
    // Without one, none back.
    let r = dns.dig("prepare.test SOA +noedns");
    r.expect("NOERROR", "qr aa", &[soa], &[], &[]);
    assert_eq!(r.edns, None, "{}", r.text);
    // RFC 6891 6.1.3: a version we do not speak gets BADVERS and our version (0).
    let r = dns.dig("prepare.test SOA +edns=1 +noednsneg");
    r.expect("BADVERS", "qr", &[], &[], &[]);
    assert!(
        r.edns
            .as_deref()
            .is_some_and(|e| e.starts_with("; EDNS: version: 0")),
        "{}",
        r.text
    );

    // The TXT RRset of `big` is about 650 octets. RFC 1035 4.2.1: without EDNS a UDP
    // answer is at most 512 octets, cut at a record boundary with TC set (RFC 2181 9).
    let big_answer = dns.dig("big.prepare.test TXT +bufsize=4096 +ignore");
    let r = dns.dig("big.prepare.test TXT +noedns +ignore");
    assert_eq!(
        (r.status.as_str(), r.flags.as_str()),
        ("NOERROR", "qr aa tc"),
        "{}",
        r.text
    );
    assert!(r.size <= 512, "{} octets\n{}", r.size, r.text);
    assert!(big_answer.answer.starts_with(&r.answer), "{}", r.text);
    assert_eq!(r.edns, None, "{}", r.text);
    // Without +ignore dig says it saw TC and retries over TCP (tested in
    // `tcp_answers_whole_and_carries_several_queries`).
    let out = dns.dig_output(&["big.prepare.test", "TXT", "+noedns"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(";; Truncated, retrying in TCP mode."),
        "dig without +ignore: {}",
        lossy(&out)
    );
    // An EDNS size of 512 limits the answer the same way, OPT included.
    let r = dns.dig("big.prepare.test TXT +bufsize=512 +ignore");
    assert_eq!(r.flags, "qr aa tc", "{}", r.text);
    assert!(r.size <= 512 && r.edns.is_some(), "{}", r.text);
    // With a 4096 buffer (we answer up to our 1232) it comes whole.
    let big = format!("\"{}\"", "b".repeat(200));
    big_answer.expect(
        "NOERROR",
        "qr aa",
        &[
            &format!("big.prepare.test. 600 IN TXT {big} {big} {big}"),
            "big.prepare.test. 600 IN TXT \"small\"",
        ],
        &[],
        &[],
    );
    assert!(
        big_answer.size > 512 && big_answer.size <= 1232,
        "{} octets",
        big_answer.size
    );

    let st = dns.stop("TERM");
    assert_eq!((st["badvers"], st["truncated"]), (1, 3), "{st:?}");
    assert_eq!((st["formerr"], st["dropped"]), (0, 0), "{st:?}");
    eprintln!("{test}: {:.2} s", t.elapsed().as_secs_f64());
}

/// Sends each hex-encoded datagram in turn and prints the hex of the reply, or `-` when
/// none came within the timeout.
const RAW_CLIENT_PY: &str = r#"
import socket, sys
host, wait = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(wait)
for q in sys.argv[3:]:
    s.sendto(bytes.fromhex(q), (host, 53))
    try:
        print(s.recv(65535).hex(), flush=True)
    except socket.timeout:
        print("-", flush=True)
"#;

/// A query header: id, flags (QR|opcode|AA|TC|RD), QD/AN/NS/AR counts.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut h = Vec::from(id.to_be_bytes());
    h.extend(flags.to_be_bytes());
    for c in counts {
        h.extend(c.to_be_bytes());
    }
    h
}

/// A wire-format name from its labels, root label included.
fn wire_name(labels: &[&[u8]]) -> Vec<u8> {
    let mut n = Vec::new();
    for l in labels {
        n.push(l.len() as u8);
        n.extend_from_slice(l);
    }
    n.push(0);
    n
}

/// `example.com. SOA IN`.
fn soa_question() -> Vec<u8> {
    let mut q = wire_name(&[b"example", b"com"]);
    q.extend([0, 6, 0, 1]);
    q
}

const FORMERR: u8 = 1;
const REFUSED: u8 = 5;

/// QD/AN/NS/AR counts of a query with one question.
const ONE: [u16; 4] = [1, 0, 0, 0];
/// QTYPE A, QCLASS IN.
const TYPE_A: [u8; 4] = [0, 1, 0, 1];
/// A label of the largest size.
const LONG: &[u8] = &[b'a'; 63];
/// An OPT record: root owner, UDP size 4096, version 0, no options.
const OPT: [u8; 11] = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0];

/// A query with `counts` (QD/AN/NS/AR) and `body` after the header.
fn query(counts: [u16; 4], body: &[&[u8]]) -> Vec<u8> {
    let mut q = header(0, 0, counts);
    q.extend(body.concat());
    q
}

/// (what, query, `Some(rcode)` or `None` for dropped). Every query's id is its index + 1.
fn malformed_queries() -> Vec<(&'static str, Vec<u8>, Option<u8>)> {
    let example = wire_name(&[b"example", b"com"]);
    let name_255 = wire_name(&[LONG, LONG, LONG, &[b'b'; 61]]);
    let name_256 = wire_name(&[LONG, LONG, LONG, &[b'b'; 62]]);
    assert_eq!((name_255.len(), name_256.len()), (255, 256));
    let mut response = query(ONE, &[&soa_question()]);
    response[2] = 0x84;
    let mut list = vec![
        // RFC 1035 4.1.1: without a whole header there is no id to answer with.
        ("a 5-octet header", vec![0, 0, 1, 0, 0], None),
        // Answering a response invites loops.
        ("a response (QR set)", response, None),
        (
            "a pointer to itself",
            query(ONE, &[&[0xc0, 12], &TYPE_A]),
            Some(FORMERR),
        ),
        (
            "a pointer loop through a label",
            query(ONE, &[&[1, b'a', 0xc0, 12], &TYPE_A]),
            Some(FORMERR),
        ),
        (
            "a pointer past the end",
            query(ONE, &[&[0xc0, 0xff], &TYPE_A]),
            Some(FORMERR),
        ),
        // RFC 1035 4.1.4: a pointer refers to a prior occurrence.
        (
            "a forward pointer",
            query(ONE, &[&[0xc0, 18], &TYPE_A, &example]),
            Some(FORMERR),
        ),
        // RFC 1035 2.3.4: labels are 63 octets or less.
        (
            "a 64-octet label",
            query(ONE, &[&wire_name(&[&[b'a'; 64]]), &TYPE_A]),
            Some(FORMERR),
        ),
        // RFC 6891 5: the extended label types are not to be used.
        (
            "label type 0b01",
            query(ONE, &[&[0x41, b'a', 0], &TYPE_A]),
            Some(FORMERR),
        ),
        // RFC 1035 2.3.4: names are 255 octets or less. 255 is answered (REFUSED: not
        // ours), 256 and more are not.
        (
            "a 255-octet name",
            query(ONE, &[&name_255, &TYPE_A]),
            Some(REFUSED),
        ),
        (
            "a 256-octet name",
            query(ONE, &[&name_256, &TYPE_A]),
            Some(FORMERR),
        ),
        (
            "a 268-octet name",
            query(
                ONE,
                &[&wire_name(&[LONG, LONG, LONG, LONG, &[b'b'; 10]]), &TYPE_A],
            ),
            Some(FORMERR),
        ),
        // RFC 1035 4.1.1 (and RFC 9619): one question exactly.
        (
            "QDCOUNT 2",
            query([2, 0, 0, 0], &[&soa_question(), &soa_question()]),
            Some(FORMERR),
        ),
        ("QDCOUNT 0", query([0, 0, 0, 0], &[]), Some(FORMERR)),
        (
            "a name without its root label",
            query(ONE, &[b"\x07example\x03com"]),
            Some(FORMERR),
        ),
        (
            "a question without type and class",
            query(ONE, &[&example]),
            Some(FORMERR),
        ),
        (
            "ANCOUNT 1 and no record",
            query([1, 1, 0, 0], &[&soa_question()]),
            Some(FORMERR),
        ),
        (
            "ARCOUNT 1 and no record",
            query([1, 0, 0, 1], &[&soa_question()]),
            Some(FORMERR),
        ),
        // RFC 6891 6.1.1: more than one OPT is FORMERR.
        (
            "two OPT records",
            query([1, 0, 0, 2], &[&soa_question(), &OPT, &OPT]),
            Some(FORMERR),
        ),
        // RFC 6891 6.1.2: the OPT's owner is the root.
        (
            "an OPT owned by a.",
            query([1, 0, 0, 1], &[&soa_question(), &[1, b'a'], &OPT]),
            Some(FORMERR),
        ),
        (
            "an OPT option longer than its RDATA",
            query(
                [1, 0, 0, 1],
                &[&soa_question(), &OPT[..9], &[0, 4, 0, 10, 0, 9]],
            ),
            Some(FORMERR),
        ),
    ];
    for (i, (_, q, _)) in list.iter_mut().enumerate() {
        q[..2].copy_from_slice(&(i as u16 + 1).to_be_bytes());
    }
    list
}

fn malformed_queries_get_formerr_or_are_dropped_and_are_counted(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(
        test,
        &["ip", "ethtool", "dig", "python3", "timeout", "kill"],
    ) {
        return;
    }
    let t = Instant::now();
    let mut dns = Dns::start(test, subnet, mode, &["example.com.zone"], "example.com SOA");
    let queries = malformed_queries();
    let mut args: Vec<String> = vec![dns.ip.clone(), "0.5".into()];
    args.extend(queries.iter().map(|(_, q, _)| hex(q)));
    // A well-formed query last, from the same socket.
    let ok_id = queries.len() as u16 + 1;
    args.push(hex(
        &[header(ok_id, 0, [1, 0, 0, 0]), soa_question()].concat()
    ));
    let out = dns
        .cmd(PYTHON)
        .args(["-c", RAW_CLIENT_PY])
        .args(&args)
        .output()
        .expect("run python");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python: {}\n{}",
        lossy(&out),
        dns.log()
    );
    let replies: Vec<&str> = text.lines().collect();
    assert_eq!(replies.len(), queries.len() + 1, "python: {text}");
    for (i, (what, query, want)) in queries.iter().enumerate() {
        let got = replies[i];
        match want {
            None => assert_eq!(got, "-", "{what} ({}): must be dropped", hex(query)),
            Some(rcode) => {
                let r = unhex(got);
                assert!(r.len() >= 12, "{what} ({}): reply {got}", hex(query));
                assert_eq!(&r[..2], &query[..2], "{what}: the query's id");
                assert_eq!(r[2] & 0xf8, 0x80, "{what}: QR set, opcode QUERY: {got}");
                assert_eq!(r[3] & 0x0f, *rcode, "{what} ({}): RCODE: {got}", hex(query));
            }
        }
    }
    let ok = unhex(replies[queries.len()]);
    assert!(ok.len() > 12, "the well-formed query: {text}");
    assert_eq!(u16::from_be_bytes([ok[0], ok[1]]), ok_id);
    assert_eq!((ok[2] & 0x84, ok[3] & 0x0f), (0x84, 0), "QR AA NOERROR");

    // The server lived through it and still answers dig.
    assert!(dns.alive(), "dns died:\n{}", dns.log());
    dns.dig("example.com SOA")
        .expect("NOERROR", "qr aa", &[EXAMPLE_SOA], &[], &[]);

    let formerr = queries.iter().filter(|q| q.2 == Some(FORMERR)).count() as u64;
    let dropped = queries.iter().filter(|q| q.2.is_none()).count() as u64;
    let st = dns.stop("TERM");
    assert_eq!(
        (st["formerr"], st["dropped"], st["refused"]),
        (formerr, dropped, 1),
        "{st:?}"
    );
    assert!(st["noerror"] >= 2, "{st:?}");
    eprintln!(
        "{test}: {} malformed queries, {:.2} s",
        queries.len(),
        t.elapsed().as_secs_f64()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

const BOTH_ZONES: [&str; 2] = ["prepare.test.zone", "child.prepare.test.zone"];

fn two_zones_at_once_the_child_answers_for_its_names(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(test, &["ip", "ethtool", "dig", "timeout", "kill"]) {
        return;
    }
    let t = Instant::now();
    let mut dns = Dns::start(test, subnet, mode, &BOTH_ZONES, "child.prepare.test SOA");
    let ns = "child.prepare.test. 300 IN NS ns.child.prepare.test.";
    let glue = "ns.child.prepare.test. 300 IN A 192.0.2.40";
    // The child's own data, authoritatively: no referral from the parent.
    dns.dig("child.prepare.test SOA").expect(
        "NOERROR",
        "qr aa",
        &["child.prepare.test. 300 IN SOA ns.child.prepare.test. \
           hostmaster.child.prepare.test. 1 7200 3600 1209600 60"],
        &[],
        &[],
    );
    dns.dig("child.prepare.test NS")
        .expect("NOERROR", "qr aa", &[ns], &[], &[glue]);
    dns.dig("www.child.prepare.test A").expect(
        "NOERROR",
        "qr aa",
        &["www.child.prepare.test. 300 IN A 192.0.2.42"],
        &[],
        &[],
    );
    // The child's TTL (300), not the parent's glue (600).
    dns.dig("ns.child.prepare.test A")
        .expect("NOERROR", "qr aa", &[glue], &[], &[]);
    // old.child is occluded in the parent; the child has no such name.
    for q in ["old.child.prepare.test A", "nope.child.prepare.test A"] {
        dns.dig(q)
            .expect("NXDOMAIN", "qr aa", &[], &[CHILD_NEG], &[]);
    }
    dns.dig("www.child.prepare.test MX")
        .expect("NOERROR", "qr aa", &[], &[CHILD_NEG], &[]);
    // The parent still answers for the rest, its other delegation included.
    dns.dig("nope.prepare.test A")
        .expect("NXDOMAIN", "qr aa", &[], &[PREPARE_NEG], &[]);
    dns.dig("x.sec.prepare.test A").expect(
        "NOERROR",
        "qr",
        &[],
        &[
            "sec.prepare.test. 600 IN NS ns.sec.prepare.test.",
            "sec.prepare.test. 600 IN NS ns1.prepare.test.",
        ],
        &[
            "ns.sec.prepare.test. 600 IN A 192.0.2.20",
            "ns1.prepare.test. 600 IN A 192.0.2.1",
            "ns1.prepare.test. 600 IN AAAA 2001:db8::1",
        ],
    );

    let st = dns.stop("INT");
    assert_eq!(st["nxdomain"], 3, "{st:?}");
    assert_eq!((st["formerr"], st["dropped"]), (0, 0), "{st:?}");
    eprintln!("{test}: {:.2} s", t.elapsed().as_secs_f64());
}

/// RFC 4035 3.1.4.1: the DS RRset of a zone cut lives in the parent; a server
/// authoritative for both zones answers a DS query for the child's apex from the parent
/// (here: NODATA with the parent's SOA, as the parent has no DS for `child`).
fn ds_for_a_served_child_apex_is_answered_from_the_parent(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(test, &["ip", "ethtool", "dig", "timeout", "kill"]) {
        return;
    }
    let mut dns = Dns::start(test, subnet, mode, &BOTH_ZONES, "child.prepare.test SOA");
    dns.dig("child.prepare.test DS")
        .expect("NOERROR", "qr aa", &[], &[PREPARE_NEG], &[]);
    dns.dig("sec.prepare.test DS").expect(
        "NOERROR",
        "qr aa",
        &["sec.prepare.test. 600 IN DS 12345 8 2 \
           49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE1B1E6B6A5C2A0A5F 6A8B9C0D"],
        &[],
        &[],
    );
    dns.stop("TERM");
}

/// RFC 7766 / RFC 1035 4.2.2: DNS over TCP on the same port: a large TXT answer truncated
/// over UDP comes whole over TCP (dig retries there by itself on TC), several queries share
/// one connection (`+keepopen`), and an idle connection is closed by the server after
/// `--tcp-idle` seconds.
fn tcp_answers_whole_and_carries_several_queries(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(
        test,
        &["ip", "ethtool", "dig", "timeout", "kill", "python3"],
    ) {
        return;
    }
    let mut dns = Dns::start(
        test,
        subnet,
        mode,
        &["prepare.test.zone"],
        "prepare.test SOA",
    );
    let soa = "prepare.test. 600 IN SOA ns1.prepare.test. hostmaster.prepare.test. \
               1 7200 3600 1209600 900";
    let r = dns.dig("prepare.test SOA +tcp");
    r.expect("NOERROR", "qr aa", &[soa], &[], &[]);
    // The big TXT: truncated over UDP, whole over TCP (both records, over 512 octets).
    let udp = dns.dig("big.prepare.test TXT +noedns +ignore");
    assert_eq!(udp.flags, "qr aa tc", "{}", udp.text);
    let tcp = dns.dig("big.prepare.test TXT +noedns +tcp");
    assert_eq!(tcp.flags, "qr aa", "{}", tcp.text);
    assert_eq!(tcp.answer.len(), 2, "{}", tcp.text);
    assert!(tcp.size > 512, "{}", tcp.text);
    // dig's own fallback: TC over UDP, then the same answer over TCP.
    let out = dns.dig_output(&["big.prepare.test", "TXT", "+noedns"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(";; Truncated, retrying in TCP mode."),
        "{text}"
    );
    assert!(
        text.contains("flags: qr aa;") && text.contains("ANSWER: 2"),
        "{text}"
    );
    // Two length-prefixed queries in one segment on one connection, answered in order;
    // then the connection, left idle, is closed by the server within ~2-4 s.
    let script = r#"
import socket, struct, sys, time
def q(i, name, t):
    h = struct.pack(">HHHHHH", i, 0, 1, 0, 0, 0)
    n = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
    m = h + n + struct.pack(">HH", t, 1)
    return struct.pack(">H", len(m)) + m
s = socket.create_connection((sys.argv[1], 53), timeout=10)
s.sendall(q(7, "prepare.test", 6) + q(8, "prepare.test", 2))
buf = b""
ids = []
while len(ids) < 2:
    buf += s.recv(65536)
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
        n = struct.unpack(">H", buf[:2])[0]
        ids.append(struct.unpack(">H", buf[2:4])[0])
        buf = buf[2 + n:]
t = time.time()
s.settimeout(10)
try:
    closed = s.recv(1) == b""
except ConnectionResetError:
    closed = True
print("ids", ids[0], ids[1], "closed", closed, "after", round(time.time() - t, 1))
"#;
    let out = dns
        .cmd(PYTHON)
        .args(["-c", script, &dns.ip])
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        &words[..6],
        ["ids", "7", "8", "closed", "True", "after"],
        "{text} {}",
        lossy(&out)
    );
    let after: f64 = words[6].parse().unwrap();
    assert!((1.5..=5.0).contains(&after), "idle close after {after} s");
    assert!(dns.alive());
    let c = dns.stop("TERM");
    assert!(c["truncated"] >= 2, "{c:?}");
}

/// Response rate limiting (off by default): with `--rrl 5`, 20 queries from one client in
/// well under a second get 5 full answers, then every second one an empty TC=1 answer (so a
/// real client would retry over TCP) and the rest nothing; the server counts both.
fn rate_limiting_answers_the_rate_then_slips_and_drops(
    test: &'static str,
    subnet: u8,
    mode: &'static str,
) {
    if !require_root(
        test,
        &["ip", "ethtool", "dig", "timeout", "kill", "python3"],
    ) {
        return;
    }
    let mut dns = Dns::start_with(
        test,
        subnet,
        mode,
        &["example.com.zone"],
        "example.com SOA",
        &["--rrl", "5", "--rrl-slip", "2"],
    );
    // Start just after a second boundary of the server's clock: let the probe's second go.
    std::thread::sleep(Duration::from_millis(1100));
    let script = r#"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
q = lambda i: struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
for i in range(20):
    s.sendto(q(i), (sys.argv[1], 53))
full = tc = 0
try:
    while True:
        r, _ = s.recvfrom(4096)
        if struct.unpack(">H", r[2:4])[0] & 0x0200:
            tc += 1
        else:
            full += 1
except socket.timeout:
    pass
print(full, tc)
"#;
    let out = dns
        .cmd(PYTHON)
        .args(["-c", script, &dns.ip])
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(v.len(), 2, "{text} {}", lossy(&out));
    let (full, tc) = (v[0], v[1]);
    // The 20 may straddle one second boundary: then a second budget of 5 applies.
    assert!((5..=10).contains(&full), "full answers: {full}");
    assert!(tc >= 4 && full + tc < 20, "slips: {tc}, full {full}");
    let c = dns.stop("TERM");
    assert_eq!(c["rrl_slipped"], tc, "{c:?}");
    assert_eq!(c["rrl_dropped"] + c["rrl_slipped"] + full, 20, "{c:?}");
}

/// Queries per second [`dnsperf_sustains_a_rate_without_loss`] asks for: well under what
/// even a debug build of the server answers on one CPU.
const DNSPERF_RATE: u64 = 10_000;

/// dnsperf for 10 s at [`DNSPERF_RATE`] over a 10,000-name zone, then 3 s with EDNS:
/// every query answered, none lost, and in a prepared mode answered by frames.
fn dnsperf_sustains_a_rate_without_loss(test: &'static str, subnet: u8, mode: &'static str) {
    if !require_root(
        test,
        &["ip", "ethtool", "dig", "timeout", "kill", "dnsperf"],
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("dnsperf-{subnet}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("synthetic.test.zone");
    std::fs::write(&zone, apps::dns::zone::synthetic(10_000)).unwrap();
    let mut queries = String::new();
    for i in (0..10_000).step_by(7) {
        queries.push_str(&format!("h{i}.synthetic.test A\n"));
    }
    let queries_path = dir.join("queries");
    std::fs::write(&queries_path, queries).unwrap();
    let zone_arg = zone.to_str().unwrap().to_string();
    let mut dns = Dns::start(test, subnet, mode, &[&zone_arg], "h1.synthetic.test A");
    let perf = |secs: u64, edns: bool| {
        let mut c = dns.cmd("dnsperf");
        c.args(["-s", &dns.ip, "-d", queries_path.to_str().unwrap()])
            .args(["-l", &secs.to_string(), "-c", "4", "-q", "64", "-t", "2"])
            .args(["-Q", &(DNSPERF_RATE).to_string()]);
        if edns {
            c.arg("-e");
        }
        let out = c.output().expect("run dnsperf");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let num = |key: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| panic!("{test}: no {key:?} in dnsperf's output:\n{text}"));
            line[line.find(':').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (sent, completed, lost) = (
            num("Queries sent:"),
            num("Queries completed:"),
            num("Queries lost:"),
        );
        eprintln!("{test}: dnsperf (edns {edns}): sent {sent}, completed {completed}, lost {lost}");
        assert_eq!(lost, 0, "{test}: lost queries\n{text}\n{}", lossy(&out));
        assert_eq!(sent, completed, "{test}:\n{text}");
        // dnsperf paces itself to the rate; on a busy machine (tests run in parallel) it
        // may fall behind: at least half of it, every query answered.
        assert!(
            completed >= DNSPERF_RATE * secs / 2,
            "{test}: only {completed} in {secs} s\n{text}"
        );
        assert!(
            text.contains(&format!("NOERROR {completed} (100.00%)")),
            "{test}: every answer NOERROR\n{text}"
        );
        completed
    };
    let total = perf(10, false) + perf(3, true);
    let st = dns.stop("TERM");
    assert!(st["noerror"] > total, "{st:?}");
    assert_eq!(
        (st["formerr"], st["dropped"], st["truncated"]),
        (0, 0, 0),
        "{st:?}"
    );
    // Every answer here is at an existing name, with or without EDNS: all frames (the
    // probe's dig has a cookie option and a larger size: a frame too).
    assert!(st["prepared"] >= total, "{st:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
