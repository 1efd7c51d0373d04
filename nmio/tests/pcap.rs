//! The `pcap` capture wrapper on a pipe pair: the file it writes is read back with a small
//! reader of our own (and by tshark when it is installed) and compared with what went over
//! the wire, record by record.

use nmio::backend::impair::{ImpairConfig, ImpairedPort};
use nmio::backend::impair_model::Impairments;
use nmio::backend::pcap::{PcapPort, PcapStats, MAGIC_NANOS, MIN_SNAPLEN};
use nmio::backend::pipe::{self, PipeConfig, PipePort};
use nmio::{Instant, Port, PrepMode, RxQueue, TxQueue, VirtualClock};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The global header, as read back.
#[derive(Debug, PartialEq, Eq)]
struct FileHeader {
    magic: u32,
    version: (u16, u16),
    thiszone: i32,
    sigfigs: u32,
    snaplen: u32,
    linktype: u32,
}

/// One record, as read back.
#[derive(Debug)]
struct Record {
    ts_ns: u64,
    orig_len: u32,
    data: Vec<u8>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// Parse a whole little-endian nanosecond pcap file; panics on anything malformed.
fn read_pcap(path: &Path) -> (FileHeader, Vec<Record>) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() >= 24, "file shorter than its header");
    let h = FileHeader {
        magic: u32_at(&b, 0),
        version: (
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
        ),
        thiszone: u32_at(&b, 8) as i32,
        sigfigs: u32_at(&b, 12),
        snaplen: u32_at(&b, 16),
        linktype: u32_at(&b, 20),
    };
    let mut recs = Vec::new();
    let mut off = 24;
    while off < b.len() {
        assert!(off + 16 <= b.len(), "cut record header at {off}");
        let (sec, nsec) = (u32_at(&b, off), u32_at(&b, off + 4));
        let (incl, orig) = (u32_at(&b, off + 8), u32_at(&b, off + 12));
        assert!(nsec < 1_000_000_000, "nanoseconds field {nsec}");
        assert!(incl <= orig && incl <= h.snaplen, "incl {incl} orig {orig}");
        let end = off + 16 + incl as usize;
        assert!(end <= b.len(), "cut record body at {off}");
        recs.push(Record {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
            orig_len: orig,
            data: b[off + 16..end].to_vec(),
        });
        off = end;
    }
    (h, recs)
}

fn capture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.pcap"))
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn vpair(ring_size: usize) -> (PipePort, PipePort) {
    pipe::pair(PipeConfig {
        clock: Some(VirtualClock::new(Instant::ZERO)),
        ring_size,
        ..Default::default()
    })
    .unwrap()
}

/// An Ethernet frame of `len` bytes from `src` to `dst` (local experimental EtherType),
/// its payload numbered by `tag`.
fn frame(dst: [u8; 6], src: [u8; 6], len: usize, tag: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_add(tag)).collect();
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

fn send<T: TxQueue>(tx: &mut T, f: &[u8]) -> bool {
    tx.send(|slot| {
        slot[..f.len()].copy_from_slice(f);
        f.len()
    })
}

fn recv_all<R: RxQueue>(rx: &mut R) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while rx.recv_burst(64, |f, _| got.push(f.to_vec())) > 0 {}
    got
}

fn assert_header(h: &FileHeader) {
    assert_eq!(
        h,
        &FileHeader {
            magic: MAGIC_NANOS,
            version: (2, 4),
            thiszone: 0,
            sigfigs: 0,
            snaplen: MIN_SNAPLEN as u32,
            linktype: 1,
        }
    );
}

fn assert_records(recs: &[Record], want: &[Vec<u8>]) {
    assert_eq!(recs.len(), want.len(), "record count");
    for (i, (r, w)) in recs.iter().zip(want).enumerate() {
        assert_eq!(r.orig_len as usize, w.len(), "record {i} length");
        assert_eq!(&r.data, w, "record {i} bytes");
    }
}

#[test]
fn rx_and_tx_frames_are_recorded_in_order_with_final_prepared_bytes() {
    let path = capture_path("rx_tx_prepared");
    let t0 = now_ns();
    let (a, mut b) = vpair(8);
    let (mac_a, mac_b) = (a.caps().mac, b.caps().mac);
    let mut a = PcapPort::create(a, &path).unwrap();
    assert_eq!(a.caps().mac, mac_a, "capabilities pass through");
    assert!(
        a.caps().zero_copy_prepared,
        "capture keeps pre-copy zero-copy"
    );
    let mut want = Vec::new();

    // B -> A, one burst: recorded as A's stack saw it, even if the callback rewrites it.
    for i in 0..3 {
        assert!(send(b.tx(), &frame(mac_a, mac_b, 60 + i * 100, i as u8)));
    }
    b.tx().flush().unwrap();
    let n = a.rx().recv_burst(64, |f, _| {
        want.push(f.to_vec());
        f[0] = 0xee;
    });
    assert_eq!(n, 3);

    // A -> B: plain sends and prepared sends in both modes, the pre-copy one twice before
    // the kick (the second from a spare copy).
    let img = frame(mac_b, mac_a, 200, 50);
    let id = a.tx().prepare(&img).unwrap();
    assert!(send(a.tx(), &frame(mac_b, mac_a, 64, 7)));
    assert!(a.tx().send_prepared(id, PrepMode::Memcpy, |f| f[20] = 1));
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[21] = 2));
    assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[22] = 3));
    assert!(send(a.tx(), &frame(mac_b, mac_a, 1514, 9)));
    // What the inner port refuses is not recorded: a bad length, an unknown prepared id.
    assert!(a.tx().reserve().is_some());
    let too_long = a.tx().slot_size() + 1;
    assert!(!a.tx().commit(too_long));
    assert!(a.tx().reserve().is_some());
    assert!(!a.tx().commit(0), "an empty frame");
    assert!(!a
        .tx()
        .send_prepared(nmio::PreparedId(99), PrepMode::Memcpy, |_| {}));
    assert!(!a.tx().commit(60), "commit without a reservation");
    assert_eq!(a.tx().flush().unwrap(), 5);
    let sent = recv_all(b.rx());
    assert_eq!(sent.len(), 5);
    assert_eq!(
        sent[1][20..23],
        [1, 50 + 21, 50 + 22],
        "memcpy rewrote a copy"
    );
    assert_eq!(
        sent[2][20..23],
        [50 + 20, 2, 50 + 22],
        "pre-copy rewrote the image"
    );
    assert_eq!(
        sent[3][20..23],
        [50 + 20, 2, 3],
        "spare copy of the rewritten image"
    );
    want.extend(sent);

    // A full ring: the frames the inner TX drops are not recorded.
    let full = frame(mac_b, mac_a, 100, 77);
    for _ in 0..8 {
        assert!(send(a.tx(), &full));
    }
    assert!(!send(a.tx(), &full), "ring of 8 is full");
    assert!(!a.tx().send_prepared(id, PrepMode::Memcpy, |f| f[30] = 0));
    assert!(!a.tx().send_prepared(id, PrepMode::PreCopy, |f| f[30] = 0));
    assert_eq!(a.tx().flush().unwrap(), 8);
    let sent = recv_all(b.rx());
    assert_eq!(sent.len(), 8);
    want.extend(sent);

    // And B -> A again.
    assert!(send(b.tx(), &frame(mac_a, mac_b, 90, 200)));
    b.tx().flush().unwrap();
    want.extend(recv_all(a.rx()));

    let st = a.stats();
    assert_eq!(
        (st.rx_frames, st.tx_frames),
        (4, 13),
        "port counters pass through"
    );
    drop(a);
    let t1 = now_ns();

    let (h, recs) = read_pcap(&path);
    assert_header(&h);
    assert_records(&recs, &want);
    let ts: Vec<u64> = recs.iter().map(|r| r.ts_ns).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "timestamps go forward");
    assert!(
        t0 <= ts[0] && ts[ts.len() - 1] <= t1,
        "wall-clock timestamps"
    );
    assert!(
        ts[..3].iter().all(|&t| t == ts[0]),
        "one clock read per burst"
    );
    assert!(
        ts[3..8].iter().all(|&t| t == ts[3]),
        "one clock read per kick"
    );
    tshark_reads(&path, &want);
}

#[test]
fn a_flush_inside_a_receive_burst_is_written_after_that_burst() {
    let path = capture_path("flush_in_burst");
    let (a, mut b) = vpair(64);
    let (mac_a, mac_b) = (a.caps().mac, b.caps().mac);
    let mut a = PcapPort::create(a, &path).unwrap();
    for i in 0..4 {
        assert!(send(b.tx(), &frame(mac_a, mac_b, 80, i)));
    }
    b.tx().flush().unwrap();
    let mut rx_frames = Vec::new();
    let (rx, tx) = a.split();
    rx.recv_burst(64, |f, _| {
        rx_frames.push(f.to_vec());
        let mut reply = f.to_vec();
        reply[..6].copy_from_slice(&mac_b);
        reply[6..12].copy_from_slice(&mac_a);
        assert!(send(tx, &reply));
        // A reply kicked at once, before the rest of the burst is handed up.
        tx.flush().unwrap();
    });
    let replies = recv_all(b.rx());
    assert_eq!(replies.len(), 4);
    let stats = a.capture_stats();
    drop(a);
    assert_eq!(
        stats,
        PcapStats {
            frames: 8,
            bytes: 8 * (16 + 80),
            ..Default::default()
        }
    );
    let (h, recs) = read_pcap(&path);
    assert_header(&h);
    let want: Vec<Vec<u8>> = rx_frames.into_iter().chain(replies).collect();
    assert_records(&recs, &want);
    assert!(recs.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    tshark_reads(&path, &want);
}

#[test]
fn capture_outside_impair_shows_what_the_stack_sent_and_saw() {
    let path = capture_path("over_impair");
    let clock = VirtualClock::new(Instant::ZERO);
    let (a, mut b) = pipe::pair(PipeConfig {
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .unwrap();
    let (mac_a, mac_b) = (a.caps().mac, b.caps().mac);
    let cfg = ImpairConfig {
        tx: Impairments::parse("loss=1").unwrap(),
        rx: Impairments::parse("loss=1").unwrap(),
        ..Default::default()
    };
    let imp = ImpairedPort::new(a, clock, cfg).unwrap();
    let mut a = PcapPort::create(imp, &path).unwrap();
    let out = frame(mac_b, mac_a, 70, 1);
    assert!(send(a.tx(), &out));
    a.tx().flush().unwrap();
    assert!(recv_all(b.rx()).is_empty(), "the impaired wire lost it");
    assert!(send(b.tx(), &frame(mac_a, mac_b, 70, 2)));
    b.tx().flush().unwrap();
    assert!(recv_all(a.rx()).is_empty(), "and lost the way in");
    drop(a);
    let (_, recs) = read_pcap(&path);
    assert_records(&recs, &[out]);
}

/// A writer that takes `room` bytes, then fails as a full disk does.
struct FullDisk {
    room: usize,
    taken: Arc<AtomicUsize>,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.room - self.taken.load(Ordering::Relaxed));
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.taken.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_stops_the_capture_and_traffic_goes_on() {
    let (a, mut b) = vpair(64);
    let (mac_a, mac_b) = (a.caps().mac, b.caps().mac);
    let taken = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let e2 = errors.clone();
    // Room for the header and two 100-byte records, not a third.
    let disk = FullDisk {
        room: 24 + 2 * 116 + 50,
        taken: taken.clone(),
    };
    let mut a = PcapPort::with_writer(a, disk).unwrap().on_error(move |e| {
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        e2.fetch_add(1, Ordering::Relaxed);
    });
    let f = frame(mac_b, mac_a, 100, 3);
    for _ in 0..2 {
        assert!(send(a.tx(), &f));
    }
    a.tx().flush().unwrap();
    for _ in 0..3 {
        assert!(send(a.tx(), &f));
    }
    a.tx().flush().unwrap(); // this write fails
    for _ in 0..4 {
        assert!(send(a.tx(), &f));
        let id = a.tx().prepare(&f).unwrap();
        assert!(a.tx().send_prepared(id, PrepMode::PreCopy, |_| {}));
    }
    a.tx().flush().unwrap();
    assert!(send(b.tx(), &frame(mac_a, mac_b, 100, 4)));
    b.tx().flush().unwrap();
    assert_eq!(recv_all(a.rx()).len(), 1, "receiving goes on");
    assert_eq!(recv_all(b.rx()).len(), 13, "sending goes on");
    assert_eq!(
        a.capture_stats(),
        PcapStats {
            frames: 2,
            bytes: 2 * 116,
            not_captured: 3 + 8 + 1,
            write_errors: 1,
            ..Default::default()
        }
    );
    assert_eq!(errors.load(Ordering::Relaxed), 1, "told once");
    drop(a);
    assert_eq!(taken.load(Ordering::Relaxed), 24 + 2 * 116 + 50);
}

#[test]
fn an_unwritable_capture_file_is_a_start_up_error_naming_it() {
    let (a, _b) = vpair(8);
    let dir = capture_path("no_such_dir");
    let path = dir.join("x.pcap");
    let e = PcapPort::create(a, &path).err().expect("no such directory");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    if Path::new("/dev/full").exists() {
        let (a, _b) = vpair(8);
        let msg = PcapPort::create(a, "/dev/full").err().unwrap().to_string();
        assert!(msg.contains("/dev/full"), "{msg}");
    }
}

/// When tshark is installed, check that it reads every record with the same lengths.
fn tshark_reads(path: &Path, want: &[Vec<u8>]) {
    let tshark = Path::new("/usr/bin/tshark");
    if !tshark.exists() {
        // CI installs it (scripts/setup.sh): there a missing tshark is a failure.
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "tshark is not installed in CI");
        eprintln!("skipped the tshark check: /usr/bin/tshark is not installed (scripts/setup.sh installs it)");
        return;
    }
    let run = |args: &[&str]| {
        let out = Command::new(tshark)
            .arg("-r")
            .arg(path)
            .args(args)
            .env("HOME", env!("CARGO_TARGET_TMPDIR"))
            .output()
            .expect("run tshark");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "tshark failed: {stderr}");
        assert!(
            !stderr.contains("cut short") && !stderr.contains("appears to be damaged"),
            "tshark: {stderr}"
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let n = want.len().to_string();
    assert_eq!(
        run(&["-c", &n]).lines().count(),
        want.len(),
        "tshark -c {n}"
    );
    let lens = run(&["-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"]);
    let got: Vec<String> = lens.lines().map(str::to_owned).collect();
    let expect: Vec<String> = want
        .iter()
        .map(|f| format!("{}\t{}", f.len(), f.len()))
        .collect();
    assert_eq!(got, expect, "tshark's frame lengths");
}
