//! Fast-path micro-benchmarks. Per-packet figures: every benchmark processes batches
//! of 32 packets and reports throughput in elements (packets).
//!
//! Run briefly on a shared machine, e.g.
//! `cargo bench -p dpswitch --bench fastpath -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dpswitch::actions::{
    execute, Action, CompiledActions, DropReason, ExecContext, PacketState, SetField,
    UserspaceAction,
};
use dpswitch::dpcls::Dpcls;
use dpswitch::emc::Emc;
use dpswitch::flow::{Flow, FlowKey};
use dpswitch::packet::{extract, Metadata, PacketBuf};
use dpswitch::pmd::{BurstMeta, Pmd, PmdContext};

const BATCH: usize = 32;
const POOL: usize = 1024;

/// A fixed-size mbuf stand-in: 64 bytes of headroom, refilled by a 60-byte copy.
#[derive(Clone)]
struct BenchBuf {
    buf: [u8; 192],
    start: usize,
    end: usize,
}

impl BenchBuf {
    fn new(frame: &[u8]) -> Self {
        let mut b = Self {
            buf: [0; 192],
            start: 64,
            end: 64 + frame.len(),
        };
        b.buf[64..64 + frame.len()].copy_from_slice(frame);
        b
    }
}

impl PacketBuf for BenchBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..self.end])
    }
    fn pull_front(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim_back(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
}

#[derive(Default)]
struct Sink {
    out: u64,
    bytes: u64,
    misses: u64,
}

impl<B: PacketBuf> ExecContext<B> for Sink {
    fn output(&mut self, port: u32, pkt: B, _st: &PacketState) {
        self.out += u64::from(port);
        self.bytes += pkt.data()[33] as u64;
    }
    fn clone_packet(&mut self, _pkt: &B) -> Option<B> {
        None
    }
    fn upcall(&mut self, _: &[u8], _: usize, _: &PacketState, _: &UserspaceAction) {}
    fn recirculate(&mut self, _: B, _: &PacketState) {}
    fn drop_packet(&mut self, _: B, _: DropReason) {}
    fn random_u32(&mut self) -> u32 {
        0
    }
}

impl<B: PacketBuf> PmdContext<B> for Sink {
    fn miss(&mut self, _: B, _: &FlowKey, _: &Metadata) {
        self.misses += 1;
    }
    fn malformed_drop(&mut self, _: B) {}
}

fn csum(d: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in d.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet/IPv4/UDP, 60 bytes, flow `i` (distinct addresses and ports).
fn udp_frame(i: usize) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 8, 0,
    ];
    let ip = [
        0x45,
        0,
        0,
        46,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        (i >> 8) as u8,
        i as u8,
        10,
        1,
        0,
        1,
    ];
    f.extend_from_slice(&ip);
    let c = csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&(1000 + i as u16).to_be_bytes());
    f.extend_from_slice(&(2000 + (i as u16 % 7)).to_be_bytes());
    f.extend_from_slice(&[0, 26, 0, 0]);
    f.extend_from_slice(&[0xab; 18]);
    f
}

fn out_actions() -> CompiledActions {
    CompiledActions::compile(&[Action::Output(2)]).unwrap()
}

fn frames() -> Vec<Vec<u8>> {
    (0..POOL).map(udp_frame).collect()
}

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

/// A classifier with one exact-match-ish megaflow per pool frame under `masks` masks.
/// Mask m matches in_port exactly (in_port = m) plus a distinct set of L3/L4 fields, so
/// every packet matches exactly one flow, in subtable `port`.
fn build_dpcls(masks: usize, fr: &[Vec<u8>], ports: &[u16]) -> Dpcls {
    let mut cls = Dpcls::new();
    for m in 0..masks {
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_proto(0xff);
        let plen = 16 + (m % 17) as u32; // /16 .. /32
        mask.set_ipv4_src(u32::MAX << (32 - plen));
        if m / 17 % 2 == 1 {
            mask.set_tp_dst(0xffff);
        }
        if m / 34 % 2 == 1 {
            mask.set_ip_ttl(0xff);
        }
        if m / 68 % 2 == 1 {
            mask.set_ip_tos(0xff);
        }
        for (i, f) in fr.iter().enumerate() {
            if usize::from(ports[i]) != m {
                continue;
            }
            let mut k = FlowKey::ZERO;
            extract(f, &Metadata::for_port(m as u16), &mut k);
            if cls.find_overlap(&k).is_none() {
                let ufid = (m as u128) << 32 | i as u128;
                cls.insert(Arc::new(Flow::new(ufid, &k, &mask, out_actions(), 1)));
            }
        }
    }
    cls
}

/// Input port (= subtable) of each pool packet: uniform, or skewed (90 % to subtable
/// 0, the rest uniform).
fn ports(masks: usize, skewed: bool) -> Vec<u16> {
    let mut x = 12345u64;
    (0..POOL)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            if skewed && r % 10 != 0 {
                0
            } else {
                (r % masks) as u16
            }
        })
        .collect()
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
                            let hit = cls.lookup_batch(
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
                    let hit = cls.lookup_batch(&bkeys, Some(&hashes), u32::MAX, &mut out);
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
    let bufs: Vec<BenchBuf> = fr.iter().map(|f| BenchBuf::new(f)).collect();
    let mut g = c.benchmark_group("pmd_burst32");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, inv_prob) in [("emc", 1u32), ("dpcls_1mask", 0)] {
        let mut pmd = Pmd::new(0, Emc::new(8192, inv_prob));
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_proto(0xff);
        let mut k = FlowKey::ZERO;
        extract(&fr[0], &Metadata::for_port(1), &mut k);
        let flow = Arc::new(Flow::new(1, &k, &mask, out_actions(), 1));
        pmd.apply(dpswitch::pmd::FlowCmd::Insert(flow));
        let md = Metadata::for_port(1);
        let mut sink = Sink::default();
        let mut pkts: [Option<BenchBuf>; BATCH] = std::array::from_fn(|_| None);
        let mut base = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                base = (base + BATCH) % POOL;
                for (i, p) in pkts.iter_mut().enumerate() {
                    *p = Some(bufs[base + i].clone());
                }
                pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 1, &mut sink);
            })
        });
        assert_eq!(sink.misses, 0);
    }
    g.finish();
}

fn bench_actions(c: &mut Criterion) {
    let fr = frames();
    let bufs: Vec<BenchBuf> = fr.iter().map(|f| BenchBuf::new(f)).collect();
    let md = Metadata::for_port(1);
    let parsed: Vec<(FlowKey, dpswitch::packet::ExtractInfo)> = fr
        .iter()
        .map(|f| {
            let mut k = FlowKey::ZERO;
            let info = extract(f, &md, &mut k);
            (k, info)
        })
        .collect();
    let set = Action::SetMasked {
        value: SetField::Ipv4 {
            src: 0,
            dst: 0xc0a8_0001,
            proto: 0,
            tos: 0,
            ttl: 0,
            frag: 0,
        },
        mask: SetField::Ipv4 {
            src: 0,
            dst: u32::MAX,
            proto: 0,
            tos: 0,
            ttl: 0,
            frag: 0,
        },
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
            for i in 0..BATCH {
                let (k, info) = &parsed[base + i];
                let st = PacketState::new(&md, k, info);
                black_box((bufs[base + i].clone(), st));
            }
        })
    });
    for (name, acts) in &lists {
        let mut sink = Sink::default();
        let mut base = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                base = (base + BATCH) % POOL;
                for i in 0..BATCH {
                    let (k, info) = &parsed[base + i];
                    let mut st = PacketState::new(&md, k, info);
                    execute(acts, bufs[base + i].clone(), &mut st, &mut sink);
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
