//! The `ct` stage alone (`fastpath::conntrack::action::execute` on IPv4/UDP packets, as a
//! PMD runs it for every packet through `ct`): established connections found again, in
//! both directions, for 1k and 100k connections (the table bigger than the caches), and
//! new connections committed (CT2's per-connection cost on one core). Per-packet and
//! per-connection figures: every iteration handles 32.
//!
//! `cargo bench -p dpswitch --bench conntrack -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use fastpath::conntrack::action::{execute, CtAction, IpPacket};
use fastpath::conntrack::table::{Policy, Table};
use fastpath::conntrack::tuple::Family;
use fastpath::packet::CtMeta;

const BATCH: usize = 32;

/// IPv4/UDP packet of connection `i` (client 10.x.y.z:1000+ to 10.255.0.1:53), in its
/// original direction or as the reply.
fn packet(i: usize, reply: bool) -> Vec<u8> {
    let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let server = [10, 255, 0, 1];
    let (src, dst) = if reply {
        (server, client)
    } else {
        (client, server)
    };
    let (sp, dp) = if reply {
        (53u16, 1000 + (i % 30_000) as u16)
    } else {
        (1000 + (i % 30_000) as u16, 53u16)
    };
    let mut p = vec![0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&[0, 26, 0, 0]);
    p.extend_from_slice(&[0xab; 18]);
    p
}

fn view(p: &[u8]) -> IpPacket<'_> {
    IpPacket {
        family: Family::V4,
        l3: p,
        l4: &p[20..],
        proto: 17,
        fragment: false,
        // The datagrams carry no checksum (UDP over IPv4 may go without).
        checksum_trusted: false,
    }
}

fn action(commit: bool) -> CtAction {
    CtAction {
        zone: 1,
        commit,
        ..CtAction::default()
    }
}

/// A table holding `n` connections, each with its reply seen (established).
fn established(n: usize) -> (Table, Vec<Vec<u8>>) {
    let t = Table::new(u32::try_from(n * 2).unwrap(), 0x1234, Policy::default());
    t.preallocate(n);
    let mut pkts = Vec::with_capacity(2 * n);
    for i in 0..n {
        let (o, r) = (packet(i, false), packet(i, true));
        execute(&t, &action(true), &view(&o), &mut CtMeta::default()).unwrap();
        execute(&t, &action(false), &view(&r), &mut CtMeta::default()).unwrap();
        pkts.push(o);
        pkts.push(r);
    }
    assert_eq!(t.count() as usize, n);
    (t, pkts)
}

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct_established");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in [1_000usize, 100_000] {
        let (t, pkts) = established(n);
        // Visit connections in a scattered order, as traffic of many flows arrives.
        let order: Vec<usize> = (0..pkts.len()).map(|k| (k * 7919) % pkts.len()).collect();
        let a = action(false);
        let mut at = 0;
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let p = &pkts[order[at]];
                    at = (at + 1) % order.len();
                    let mut m = CtMeta::default();
                    let _ = execute(&t, &a, &view(p), &mut m);
                    black_box(m.state);
                }
            })
        });
    }
    g.finish();
}

fn bench_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct_commit");
    g.throughput(Throughput::Elements(BATCH as u64));
    const N: usize = 1 << 20;
    let pkts: Vec<Vec<u8>> = (0..N).map(|i| packet(i, false)).collect();
    let a = action(true);
    g.bench_function("new_connections", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters as usize * BATCH;
            while left > 0 {
                // A fresh table per million connections, allocated outside the timing.
                let t = Table::new(u32::try_from(N).unwrap(), 99, Policy::default());
                t.preallocate(N);
                let n = left.min(N);
                let start = Instant::now();
                for p in &pkts[..n] {
                    let mut m = CtMeta::default();
                    let _ = execute(&t, &a, &view(p), &mut m);
                    black_box(m.state);
                }
                spent += start.elapsed();
                left -= n;
                assert_eq!(t.count() as usize, n);
            }
            spent
        })
    });
    g.finish();
    let t = Table::new(1 << 20, 1, Policy::default());
    println!(
        "conntrack memory per connection: {} bytes",
        t.bytes_per_conn()
    );
}

criterion_group!(benches, bench_established, bench_commit);
criterion_main!(benches);
