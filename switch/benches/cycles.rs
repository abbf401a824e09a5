//! Cycles per packet measured robustly on a shared machine: each scenario runs a
//! 32-packet batch many times and reports the **median** and **minimum** per-batch
//! time (a batch lasts ~1 µs, so preemption by other processes hits few samples and
//! barely moves the median, unlike criterion's mean). Cycles are TSC cycles at the rate
//! measured on this machine (`DPSWITCH_TSC_GHZ` overrides).
//!
//! `cargo bench -p dpswitch --bench cycles`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use dpswitch::dpdk::Native;
use fastpath::actions::{execute, CompiledActions, PacketState};
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{extract, extract_reuse, ExtractInfo, Metadata, PreparedMeta};
use fastpath::pmd::{BurstMeta, FlowCmd, Pmd};
use odp::action::Action;

mod common;
use common::*;

/// The daemon's allocator, so what frees and allocations cost here is what they cost there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flows (and distinct frames) of the many-flows scenarios; a multiple of the batch.
const MANY_FLOWS: usize = 10_240;

fn samples() -> usize {
    std::env::var("DPSWITCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

#[inline(never)]
fn extract_batch(
    fr: &[Vec<u8>],
    pm: &PreparedMeta<'_>,
    keys: &mut [FlowKey; BATCH],
    maps: &mut [u32; BATCH],
    infos: &mut [ExtractInfo; BATCH],
) {
    for i in 0..BATCH {
        infos[i] = extract_reuse(&fr[i], pm, &mut keys[i], &mut maps[i]);
    }
}

#[inline(never)]
fn extract_one(frame: &[u8], md: &Metadata, key: &mut FlowKey) -> ExtractInfo {
    extract(frame, md, key)
}

/// Installs one flow per frame: its key under `mask`, output to port 2.
fn install_per_frame(pmd: &mut Pmd<Native>, frames: &[Vec<u8>], mask: &FlowKey, md: &Metadata) {
    for (i, f) in frames.iter().enumerate() {
        let mut k = FlowKey::ZERO;
        extract(f, md, &mut k);
        let flow = Flow::new(i as u128 + 1, &k, mask, out_actions(), 1);
        pmd.apply(FlowCmd::Insert(Arc::new(flow)));
    }
}

/// Measures whole PMD bursts over `frames` taken in order (as a pcap replays them), each
/// burst refilled into `storage`; every packet must hit.
fn measure_bursts(
    name: &str,
    ghz: f64,
    base: f64,
    pmd: &mut Pmd<Native>,
    frames: &[Vec<u8>],
    storage: &mut [u8],
    md: &Metadata,
) {
    let mut sink = Sink::default();
    measure(name, ghz, base, |r| {
        let b = (r * BATCH) % frames.len();
        let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
        refill(&mut pkts, storage, frames, b);
        pmd.process_burst(&mut pkts, BurstMeta::Shared(md), 1, &mut sink);
    });
    assert_eq!(sink.misses, 0);
}

fn measure(name: &str, ghz: f64, base_ns: f64, mut f: impl FnMut(usize)) -> f64 {
    let n = samples();
    for r in 0..n / 10 {
        f(r);
    }
    let mut t = Vec::with_capacity(n);
    for r in 0..n {
        let s = Instant::now();
        f(r);
        t.push(s.elapsed().as_nanos() as f64);
    }
    t.sort_by(f64::total_cmp);
    let med = (t[n / 2] - base_ns).max(0.0) / BATCH as f64;
    let min = (t[0] - base_ns).max(0.0) / BATCH as f64;
    println!(
        "{name:<44} {med:>7.2} ns/pkt {:>6.1} cyc/pkt (min {min:>6.2} ns, {:>5.1} cyc)",
        med * ghz,
        min * ghz
    );
    med
}

fn main() {
    let ghz: f64 = std::env::var("DPSWITCH_TSC_GHZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| dpswitch::dpdk::tsc_hz() as f64 / 1e9);
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("TSC {ghz:.3} GHz");
    println!(
        "{:<44} {:>14} {:>14}",
        "scenario (32-packet batches)", "median", ""
    );
    // Timer overhead: an empty batch.
    let n = samples();
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            black_box(0);
            s.elapsed().as_nanos() as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let base = t[n / 2];
    println!("(timer overhead {base:.0} ns per batch, subtracted)");

    let fr = frames();
    let md = Metadata::for_port(1);
    let mut keys = [FlowKey::ZERO; BATCH];
    let mut infos = [ExtractInfo {
        hash: 0,
        map: 0,
        l3_ofs: 0,
        l4_ofs: 0,
        status: fastpath::packet::ParseStatus::Ok,
    }; BATCH];

    let mut maps = [u32::MAX; BATCH];
    let ex = measure("extract udp64", ghz, base, |r| {
        let b = (r * BATCH) % POOL;
        let pm = PreparedMeta::new(&md);
        extract_batch(&fr[b..b + BATCH], &pm, &mut keys, &mut maps, &mut infos);
        black_box(&infos);
    });

    // Same 32 frames every time: compute cost without cache misses on the frames.
    let hot: Vec<Vec<u8>> = fr[..BATCH].to_vec();
    measure("extract udp64 (32 hot frames)", ghz, base, |_| {
        for i in 0..BATCH {
            infos[i] = extract_one(&hot[i], &md, &mut keys[i]);
        }
        black_box(&infos);
    });

    // EMC hit.
    let mut emc = Emc::new(8192, 1);
    let mut m = FlowKey::ZERO;
    m.set_eth_type(0xffff);
    let flow = Arc::new(Flow::new(1, &FlowKey::ZERO, &m, out_actions(), 1));
    for f in &fr {
        let mut k = FlowKey::ZERO;
        let info = extract(f, &md, &mut k);
        emc.insert(&k, info.hash, info.map, &flow);
    }
    let mut hits = 0u64;
    measure("extract + EMC hit", ghz, base, |r| {
        let b = (r * BATCH) % POOL;
        let pm = PreparedMeta::new(&md);
        for i in 0..BATCH {
            let info = extract_reuse(&fr[b + i], &pm, &mut keys[i], &mut maps[i]);
            hits += u64::from(emc.lookup(&keys[i], info.hash, info.map).is_some());
        }
    });
    println!(
        "  (EMC hit rate {:.3})",
        hits as f64 / ((n + n / 10) * BATCH) as f64
    );
    // The same work the way the PMD does it: extract the whole batch, prefetch every key's
    // EMC ways, then probe.
    let mut batch_hits = 0u64;
    measure("extract + EMC hit (batched, as the PMD)", ghz, base, |r| {
        let b = (r * BATCH) % POOL;
        let pm = PreparedMeta::new(&md);
        extract_batch(&fr[b..b + BATCH], &pm, &mut keys, &mut maps, &mut infos);
        for info in &infos {
            emc.prefetch::<Native>(info.hash);
        }
        for i in 0..BATCH {
            batch_hits += u64::from(emc.lookup(&keys[i], infos[i].hash, infos[i].map).is_some());
        }
    });
    black_box(batch_hits);

    // dpcls.
    let mut one_mask = 0.0;
    for masks in [1usize, 8, 32, 128] {
        for skewed in [false, true] {
            if masks == 1 && skewed {
                continue;
            }
            let ports = ports(masks, skewed);
            let mut cls = build_dpcls(masks, &fr, &ports);
            let mds: Vec<Metadata> = ports.iter().map(|p| Metadata::for_port(*p)).collect();
            let mut all = vec![FlowKey::ZERO; POOL];
            for i in 0..POOL {
                extract(&fr[i], &mds[i], &mut all[i]);
                assert!(cls.lookup(&all[i]).is_some());
            }
            cls.sort_subtables();
            let name = format!(
                "extract + dpcls hit, {masks} masks{}",
                if skewed {
                    " skewed"
                } else if masks > 1 {
                    " uniform"
                } else {
                    ""
                }
            );
            let mut hashes = [0u64; BATCH];
            let ns = measure(&name, ghz, base, |r| {
                let b = (r * BATCH) % POOL;
                for i in 0..BATCH {
                    hashes[i] = extract(&fr[b + i], &mds[b + i], &mut keys[i]).hash;
                }
                let mut out = [None; BATCH];
                let hit = cls.lookup_batch::<Native>(&keys, Some(&hashes), u32::MAX, &mut out);
                black_box((hit, out[3].map(|f| f.ufid())));
            });
            if masks == 1 {
                one_mask = ns;
            }
            if masks == 32 && skewed {
                println!("  (32 masks skewed / 1 mask = {:.2}x)", ns / one_mask);
            }
        }
    }

    // Whole PMD burst.
    let mut storage = vec![0u8; BUF_SIZE * BATCH];
    measure("  harness: pmd burst refill only", ghz, base, |r| {
        let b = (r * BATCH) % POOL;
        let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
        refill(&mut pkts, &mut storage, &fr, b);
        black_box(&mut pkts);
    });
    for (name, inv, simple) in [
        ("pmd burst: EMC hit + output", 1u32, false),
        ("pmd burst: dpcls 1 mask + output", 0, false),
        ("pmd burst: simple match + output", 1, true),
    ] {
        let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, inv));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        if simple {
            // in_port, eth_type, frag: the S1 megaflow; simple match applies
            mask.set_ip_frag(0xff);
        } else {
            mask.set_ip_proto(0xff);
        }
        install_per_frame(&mut pmd, &fr[..1], &mask, &md);
        measure_bursts(name, ghz, base, &mut pmd, &fr, &mut storage, &md);
    }
    {
        // What the PMD thread runs for a plain burst of a single-output simple flow: no
        // refill (the frames stay as received), only the classification of the burst.
        let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, 1));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_frag(0xff);
        install_per_frame(&mut pmd, &fr[..1], &mask, &md);
        let bufs: Vec<BenchBuf<'_>> = storage
            .chunks_exact_mut(BUF_SIZE)
            .zip(&fr)
            .map(|(chunk, f)| BenchBuf::fill(chunk, f))
            .collect();
        measure("pmd burst: whole-burst simple match", ghz, base, |_| {
            assert_eq!(pmd.forward_simple(black_box(&bufs), &md, 1), Some(2));
        });
    }
    {
        // What the PMD thread runs for a plain burst of a simple flow that outputs twice:
        // the whole-burst path declines, and the burst takes the full path.
        let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, 1));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_frag(0xff);
        let mut k = FlowKey::ZERO;
        extract(&fr[0], &md, &mut k);
        let two = CompiledActions::compile(&[Action::Output(2), Action::Output(3)]).unwrap();
        pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(1, &k, &mask, two, 1))));
        let mut sink = Sink::default();
        measure(
            "pmd burst: simple mask, 2 outputs (declined, full path)",
            ghz,
            base,
            |r| {
                let b = r * BATCH;
                let mut chunks = storage.chunks_exact_mut(BUF_SIZE);
                let bufs: [BenchBuf<'_>; BATCH] = std::array::from_fn(|i| {
                    let chunk = chunks.next().expect("storage holds a burst");
                    BenchBuf::fill(chunk, &fr[(b + i) % fr.len()])
                });
                assert_eq!(pmd.forward_simple(black_box(&bufs), &md, 1), None);
                let mut pkts = bufs.map(Some);
                pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 1, &mut sink);
            },
        );
        assert_eq!(sink.misses, 0);
    }

    // Many flows: one megaflow per source address (10,240 of them, one mask), the
    // frames cycled in order as a pcap replays them, so flow, stats and table lines come
    // from L2/L3 rather than L1 (perf S4 / S4e).
    let many: Vec<Vec<u8>> = (0..MANY_FLOWS).map(udp_frame).collect();
    for (name, inv) in [
        ("pmd burst: 10k flows, dpcls (EMC off) + output", 0u32),
        ("pmd burst: 10k flows, EMC 1/100 + output", 100),
    ] {
        let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, inv));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_proto(0xff);
        mask.set_ipv4_src(u32::MAX);
        install_per_frame(&mut pmd, &many, &mask, &md);
        for _ in 0..64 {
            pmd.maintain();
        }
        measure_bursts(name, ghz, base, &mut pmd, &many, &mut storage, &md);
    }

    // Actions.
    let parsed: Vec<(FlowKey, ExtractInfo)> = fr
        .iter()
        .map(|f| {
            let mut k = FlowKey::ZERO;
            let info = extract(f, &md, &mut k);
            (k, info)
        })
        .collect();
    let harness = measure("  harness: buffer refill + PacketState", ghz, base, |r| {
        let b = (r * BATCH) % POOL;
        let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
        refill(&mut pkts, &mut storage, &fr, b);
        for (i, p) in pkts.iter_mut().enumerate() {
            let (k, info) = &parsed[b + i];
            black_box((p.take(), PacketState::new(&md, k, info)));
        }
    });
    let set = Action::SetMasked {
        key: fastpath::testing::keys::ipv4(0, 0xc0a8_0001, 0, 0, 0, 0),
        mask: fastpath::testing::keys::ipv4(0, u32::MAX, 0, 0, 0, 0),
    };
    for (name, acts) in [
        (
            "actions: output (incl. harness)",
            CompiledActions::compile(&[Action::Output(2)]).unwrap(),
        ),
        (
            "actions: set_masked(ipv4)+output (incl. harness)",
            CompiledActions::compile(&[set.clone(), Action::Output(2)]).unwrap(),
        ),
    ] {
        let mut sink = Sink::default();
        let ns = measure(name, ghz, base, |r| {
            let b = (r * BATCH) % POOL;
            let mut pkts: [Option<BenchBuf<'_>>; BATCH] = [const { None }; BATCH];
            refill(&mut pkts, &mut storage, &fr, b);
            for (i, p) in pkts.iter_mut().enumerate() {
                let (k, info) = &parsed[b + i];
                let mut st = PacketState::new(&md, k, info);
                if let Some(p) = p.take() {
                    execute(&acts, p, &mut st, &mut sink);
                }
            }
        });
        println!(
            "  (net of harness: {:.2} ns, {:.1} cyc)",
            ns - harness,
            (ns - harness) * ghz
        );
        black_box(sink.out);
    }
    let _ = ex;
    commands(&md);
}

/// What one control command costs a PMD: flow inserts and removes (the soak's churn) on a
/// classifier holding 4,096 flows under one mask, each removed flow dropped on the PMD as
/// it is there. Prints the distribution, whose tail shows any slow case (table growth, an
/// allocator's purge) next to the core's own interruptions.
fn commands(md: &Metadata) {
    const LIVE: usize = 4096;
    let n = samples() * 5;
    let mut mask = FlowKey::ZERO;
    mask.set_in_port(0xffff);
    mask.set_eth_type(0xffff);
    mask.set_eth_dst([0xff; 6]);
    let flow = |i: usize| {
        let mut k = FlowKey::ZERO;
        k.set_in_port(md.in_port);
        k.set_eth_type(0x0800);
        k.set_eth_dst([2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        Arc::new(Flow::new(i as u128 + 1, &k, &mask, out_actions(), 1))
    };
    let mut pmd = Pmd::<Native>::new(0, Emc::new(8192, 100));
    let mut live: std::collections::VecDeque<Arc<Flow>> = (0..LIVE).map(flow).collect();
    for f in &live {
        pmd.apply(FlowCmd::Insert(Arc::clone(f)));
    }
    let mut t = Vec::with_capacity(2 * n);
    for i in LIVE..LIVE + n {
        let new = flow(i);
        let s = Instant::now();
        pmd.apply(FlowCmd::Insert(Arc::clone(&new)));
        t.push(s.elapsed().as_nanos() as f64);
        live.push_back(new);
        let old = live.pop_front().expect("live flows");
        old.kill();
        let s = Instant::now();
        pmd.apply(FlowCmd::Remove(old));
        t.push(s.elapsed().as_nanos() as f64);
    }
    t.sort_by(f64::total_cmp);
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize] / 1000.0;
    println!(
        "control commands (insert/remove, {LIVE} flows), {} commands: median {:.2} us, \
         p99 {:.2} us, p99.99 {:.2} us, max {:.1} us",
        t.len(),
        q(0.5),
        q(0.99),
        q(0.9999),
        q(1.0)
    );
}
