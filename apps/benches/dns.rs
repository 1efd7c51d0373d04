//! The DNS query path alone: one query in, one response written into a buffer (what the
//! server does per datagram, minus the frame headers and the I/O), in ns per query.
//!
//! - `dns/exact_a`: an A query for an existing name of a 10,000-name zone (one hash
//!   probe, a prepared answer copied behind the question).
//! - `dns/exact_a_edns`: the same with an EDNS0 OPT record (parsed, and ours appended).
//! - `dns/nxdomain`: a name that does not exist (a walk up the labels to the apex).
//! - `dns/mixed_case`: an existing name in mixed case (the key is lowercased, the
//!   question goes back as sent).
//!
//! `cargo bench -p apps --bench dns`

use apps::dns::prepare::prepare;
use apps::dns::server::DnsServer;
use apps::dns::wire::{Class, Counts, HeaderRepr, MessageBuilder, Name, Opcode, Rcode, Rtype};
use apps::dns::zone;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn query(name: &str, qtype: Rtype, edns: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf).unwrap();
    b.header(&HeaderRepr {
        id: 0x4242,
        qr: false,
        opcode: Opcode::QUERY,
        aa: false,
        tc: false,
        rd: true,
        ra: false,
        ad: false,
        cd: false,
        rcode: Rcode::NOERROR,
        counts: Counts::default(),
    });
    b.question(&Name::from_ascii(name).unwrap(), qtype, Class::IN)
        .unwrap();
    if edns {
        b.opt(1232, 0, 0, false).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn bench(c: &mut Criterion) {
    let text = zone::synthetic(10_000);
    let z = zone::load_str(&text, Path::new("synthetic.zone"), None).expect("synthetic zone");
    let mut server = DnsServer::new(std::rc::Rc::new(prepare(&[z]).expect("prepare")), 53);
    let mut out = vec![0u8; 1500];
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    for (name, q) in [
        ("exact_a", query("h4242.synthetic.test.", Rtype::A, false)),
        (
            "exact_a_edns",
            query("h4242.synthetic.test.", Rtype::A, true),
        ),
        ("nxdomain", query("nope.x.synthetic.test.", Rtype::A, false)),
        (
            "mixed_case",
            query("H4242.SyNtHeTiC.TeSt.", Rtype::A, false),
        ),
    ] {
        let n = server.answer(&q, &mut out).expect("answered");
        assert!(n > q.len());
        g.bench_function(name, |b| {
            b.iter(|| black_box(server.answer(black_box(&q), &mut out)))
        });
    }
    g.finish();
    let st = server.stats();
    assert!(st.noerror > 0 && st.nxdomain > 0 && st.formerr == 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
