//! Fast-path micro-benchmarks. Per-packet figures: every benchmark processes batches
//! of 32 packets and reports throughput in elements (packets).
//!
//! Run briefly on a shared machine, e.g.
//! `cargo bench -p dpswitch --bench fastpath -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod common;
use common::*;
use dpswitch::dpdk::Native;
use fastpath::actions::{execute, CompiledActions, PacketState};
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{extract, Metadata};
use fastpath::pmd::{BurstMeta, Pmd};
use odp::action::Action;

fn bench_extract(c: &mut Criterion) {
    let fr = frames();
    let md = Metadata::for_port(1);
    let mut keys = vec![FlowKey::ZERO; BATCH];
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut base = 0;
    g.bench_function("udp64", |b| {
        b.iter(|| {
            base = (base + BATCH) % POOL;
            let mut acc = 0u64;
            for (i, k) in keys.iter_mut().enumerate() {
                acc ^= extract(&fr[base + i], &md, k).hash;
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn bench_dpcls(c: &mut Criterion) {
    let fr = frames();
    let mut g = c.benchmark_group("extract+dpcls_hit");
    g.throughput(Throughput::Elements(BATCH as u64));
    for masks in [1usize, 8, 32, 128] {
        for skewed in [false, true] {
            if masks == 1 && skewed {
                continue;
            }
            let ports = ports(masks, skewed);
            let mut cls = build_dpcls(masks, &fr, &ports);
            // Rank subtables by observed traffic, as the periodic re-sort would.
            let mut keys = vec![FlowKey::ZERO; POOL];
            let mds: Vec<Metadata> = ports.iter().map(|p| Metadata::for_port(*p)).collect();
            for i in 0..POOL {
                extract(&fr[i], &mds[i], &mut keys[i]);
                assert!(
                    cls.lookup(&keys[i]).is_some(),
                    "bench setup: every packet hits"
                );
            }
            cls.sort_subtables();
            let name = if skewed { "skewed" } else { "uniform" };
            if masks == 1 || (masks == 32 && skewed) {
                let hashes_all: Vec<u64> = keys.iter().map(FlowKey::hash).collect();
                let mut base = 0;
                g.bench_with_input(
                    BenchmarkId::new(format!("lookup_only_{name}"), masks),
                    &masks,
                    |b, _| {
                        b.iter(|| {
                            base = (base + BATCH) % POOL;
                            let mut out = [None; BATCH];
                            let hit = cls.lookup_batch::<Native>(
                                &keys[base..base + BATCH],
                                Some(&hashes_all[base..base + BATCH]),
                                u32::MAX,
                                &mut out,
                            );
                            black_box((hit, out[5].map(|f| f.ufid())))
                        })
                    },
                );
            }
            let mut base = 0;
            let mut bkeys = [FlowKey::ZERO; BATCH];
            let mut hashes = [0u64; BATCH];
            g.bench_with_input(BenchmarkId::new(name, masks), &masks, |b, _| {
                b.iter(|| {
                    base = (base + BATCH) % POOL;
                    for i in 0..BATCH {
                        hashes[i] = extract(&fr[base + i], &mds[base + i], &mut bkeys[i]).hash;
                    }
                    let mut out = [None; BATCH];
                    let hit = cls.lookup_batch::<Native>(&bkeys, Some(&hashes), u32::MAX, &mut out);
                    black_box((hit, out[5].map(|f| f.ufid())))
                })
            });
        }
    }
    g.finish();
}

fn bench_emc(c: &mut Criterion) {
    let fr = frames();
    let md = Metadata::for_port(1);
    let mut emc = Emc::new(8192, 1);
    let mut mask = FlowKey::ZERO;
    mask.set_eth_type(0xffff);
    let mut k0 = FlowKey::ZERO;
    k0.set_eth_type(0x0800);
    let flow = Arc::new(Flow::new(1, &k0, &mask, out_actions(), 1));
    for f in &fr {
        let mut k = FlowKey::ZERO;
        let info = extract(f, &md, &mut k);
        emc.insert(&k, info.hash, info.map, &flow);
    }
    let mut g = c.benchmark_group("extract+emc_hit");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut base = 0;
    let mut keys = [FlowKey::ZERO; BATCH];
    g.bench_function("udp64", |b| {
        b.iter(|| {
            base = (base + BATCH) % POOL;
            let mut hits = 0u32;
            for (i, k) in keys.iter_mut().enumerate() {
                let info = extract(&fr[base + i], &md, k);
                hits += u32::from(emc.lookup(k, info.hash, info.map).is_some());
            }
            black_box(hits)
        })
    });
    g.finish();
}

fn bench_pmd(c: &mut Criterion) {
    let fr = frames();
    let mut storage = vec![0u8; BUF_SIZE * BATCH];
    let mut g = c.benchmark_group("pmd_burst32");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, inv_prob) in [("emc", 1u32), ("dpcls_1mask", 0)] {
        let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, inv_prob));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_proto(0xff);
        let mut k = FlowKey::ZERO;
        extract(&fr[0], &Metadata::for_port(1), &mut k);
        let flow = Arc::new(Flow::new(1, &k, &mask, out_actions(), 1));
        pmd.apply(fastpath::pmd::FlowCmd::Insert(flow));
        let md = Metadata::for_port(1);
        let mut sink = Sink::default();
        let mut base = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                base = (base + BATCH) % POOL;
                let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
                refill(&mut pkts, &mut storage, &fr, base);
                pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 1, &mut sink);
            })
        });
        assert_eq!(sink.misses, 0);
    }
    g.finish();
}

fn bench_actions(c: &mut Criterion) {
    let fr = frames();
    let mut storage = vec![0u8; BUF_SIZE * BATCH];
    let md = Metadata::for_port(1);
    let parsed: Vec<(FlowKey, fastpath::packet::ExtractInfo)> = fr
        .iter()
        .map(|f| {
            let mut k = FlowKey::ZERO;
            let info = extract(f, &md, &mut k);
            (k, info)
        })
        .collect();
    let set = Action::SetMasked {
        key: fastpath::testing::keys::ipv4(0, 0xc0a8_0001, 0, 0, 0, 0),
        mask: fastpath::testing::keys::ipv4(0, u32::MAX, 0, 0, 0, 0),
    };
    let lists = [
        (
            "output",
            CompiledActions::compile(&[Action::Output(2)]).unwrap(),
        ),
        (
            "set_masked_ipv4+output",
            CompiledActions::compile(&[set, Action::Output(2)]).unwrap(),
        ),
    ];
    let mut g = c.benchmark_group("actions");
    g.throughput(Throughput::Elements(BATCH as u64));
    // Harness cost alone (buffer refill + state), to subtract from the rows below.
    let mut base = 0;
    g.bench_function("baseline_refill", |b| {
        b.iter(|| {
            base = (base + BATCH) % POOL;
            let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
            refill(&mut pkts, &mut storage, &fr, base);
            for (i, p) in pkts.iter_mut().enumerate() {
                let (k, info) = &parsed[base + i];
                black_box((p.take(), PacketState::new(&md, k, info)));
            }
        })
    });
    for (name, acts) in &lists {
        let mut sink = Sink::default();
        let mut base = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                base = (base + BATCH) % POOL;
                let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
                refill(&mut pkts, &mut storage, &fr, base);
                for (i, p) in pkts.iter_mut().enumerate() {
                    let (k, info) = &parsed[base + i];
                    let mut st = PacketState::new(&md, k, info);
                    if let Some(p) = p.take() {
                        execute(acts, p, &mut st, &mut sink);
                    }
                }
            })
        });
        black_box(sink.out + sink.bytes);
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_extract,
    bench_emc,
    bench_dpcls,
    bench_pmd,
    bench_actions
);
criterion_main!(benches);
