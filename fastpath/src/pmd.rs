//! The per-PMD fast path: burst → keys → EMC → dpcls → actions, and the commands through
//! which the control thread updates a PMD's private classifier.
//!
//! The control thread kills a deleted or replaced flow *before* it sends the [`FlowCmd`]s,
//! so no cache on any PMD executes it once the PMD observes the kill. [`Pmd::apply`] takes
//! commands between bursts, [`Pmd::process_burst`] classifies and executes up to 32 packets.

use std::sync::Arc;

use crate::actions::{execute, ExecContext, PacketState};
use crate::conntrack::action::lookup_hash_of_frame;
use crate::cpu::Cpu;
use crate::dpcls::{Dpcls, RetiredFlows, MAX_BATCH};
use crate::emc::Emc;
use crate::flow::{Flow, FlowKey};
use crate::packet::{
    extract, extract_reuse, simple_match_frame, simple_match_mask, ExtractInfo, Metadata,
    PacketBuf, ParseStatus, PreparedMeta,
};

/// A classifier update sent from the control thread to a PMD.
#[derive(Debug, Clone)]
pub enum FlowCmd {
    /// Install (or replace the same-UFID / same-masked-key flow with) this flow.
    Insert(Arc<Flow>),
    /// Remove this flow (found by its key and mask: a PMD keeps no UFID index).
    Remove(Arc<Flow>),
    /// Remove every flow.
    Flush,
    /// Change `emc-insert-inv-prob`.
    SetEmcInvProb(u32),
    /// Give the classifier's mask cache this many entries (0: none).
    SetMaskCache(u32),
}

/// Where each packet's metadata comes from in a burst.
#[derive(Clone, Copy, Debug)]
pub enum BurstMeta<'a> {
    /// The same metadata for every packet (a burst from one rx queue).
    Shared(&'a Metadata),
    /// One entry per packet (recirculated packets).
    PerPacket(&'a [Metadata]),
}

impl BurstMeta<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> &Metadata {
        match self {
            BurstMeta::Shared(m) => m,
            BurstMeta::PerPacket(v) => &v[i],
        }
    }
}

/// What a PMD needs from the runtime besides action side effects.
pub trait PmdContext<B: PacketBuf>: ExecContext<B> {
    /// A packet that matched no flow: queue an upcall (MISS) with its key.
    fn miss(&mut self, pkt: B, key: &FlowKey, md: &Metadata);
    /// A packet the kernel's key extraction rejects.
    fn malformed_drop(&mut self, pkt: B);
}

/// TSC cycles a PMD spent in each fast-path stage, counted only while stage timing is
/// on ([`Pmd::set_stage_timing`]; it costs a few timestamp reads per burst).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageCycles {
    /// Key extraction and hashing.
    pub extract: u64,
    /// EMC lookups.
    pub emc: u64,
    /// Megaflow classifier lookups and queuing misses.
    pub dpcls: u64,
    /// Statistics, action execution (up to handing packets to the tx batches) and EMC
    /// insertion.
    pub actions: u64,
}

/// Per-PMD counters (`pmd-stats-show` style).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmdStats {
    /// Packets received.
    pub packets: u64,
    /// EMC hits.
    pub emc_hit: u64,
    /// Megaflow (dpcls) hits, including simple-match hits.
    pub megaflow_hit: u64,
    /// Megaflow hits by simple match: packets classified by their burst's shared lookup.
    pub simple_hit: u64,
    /// Subtable probes simple-match packets stand for (each as many as its burst's one
    /// lookup made), so `n_mask_hit` per packet means the same with simple match on.
    pub simple_mask_hit: u64,
    /// Misses (upcalls).
    pub miss: u64,
    /// Packets with a truncated / malformed header (still forwarded).
    pub malformed: u64,
    /// Packets dropped because no key could be extracted.
    pub extract_drop: u64,
    /// Cycles by stage (zero unless stage timing is on).
    pub cycles: StageCycles,
}

/// Scratch space for one burst, allocated once per PMD.
struct Scratch {
    keys: [FlowKey; MAX_BATCH],
    hashes: [u64; MAX_BATCH],
    infos: [ExtractInfo; MAX_BATCH],
    /// Words of `keys[i]` that may be non-zero (see [`extract_reuse`]).
    maps: [u32; MAX_BATCH],
}

/// One PMD thread's fast-path state: its own classifier copy and EMC. `P` supplies the
/// CPU's timestamp and prefetch instructions.
pub struct Pmd<P: Cpu> {
    id: usize,
    cls: Dpcls,
    emc: Emc,
    stats: PmdStats,
    scratch: Box<Scratch>,
    stage_timing: bool,
    /// Every subtable's mask passes [`simple_match_mask`] (recomputed on each update).
    simple_masks: bool,
    /// [`Pmd::forward_simple`]'s recent classifications by input port (cleared on each
    /// update): a plain burst's flow depends only on its metadata, so a port's bursts reuse
    /// one lookup until the classifier changes or the flow dies.
    simple_memo: [Option<SimpleMemo>; SIMPLE_MEMO_SLOTS],
    cpu: std::marker::PhantomData<P>,
}

/// Slots of [`Pmd`]'s simple-match memo (direct-mapped by input port).
const SIMPLE_MEMO_SLOTS: usize = 4;

/// A whole-burst simple-match classification: bursts with metadata `md` match `flow`, and
/// go to `port` if its actions are a single OUTPUT (if not, the bursts take the full path).
#[derive(Debug)]
struct SimpleMemo {
    md: Metadata,
    flow: Arc<Flow>,
    port: Option<u32>,
    /// Subtables the lookup probed (what each packet stands for in `n_mask_hit`).
    probes: u64,
}

impl<P: Cpu> core::fmt::Debug for Pmd<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pmd")
            .field("id", &self.id)
            .field("cls", &self.cls)
            .field("emc", &self.emc)
            .field("stats", &self.stats)
            .field("stage_timing", &self.stage_timing)
            .finish()
    }
}

impl<P: Cpu> Pmd<P> {
    /// PMD number `id` (its statistics cell index in every flow) with `emc`.
    pub fn new(id: usize, emc: Emc) -> Self {
        Self {
            id,
            cls: Dpcls::without_ufid_index(),
            emc,
            stats: PmdStats::default(),
            scratch: Box::new(Scratch {
                keys: [FlowKey::ZERO; MAX_BATCH],
                hashes: [0; MAX_BATCH],
                maps: [u32::MAX; MAX_BATCH],
                infos: [ExtractInfo {
                    hash: 0,
                    map: 0,
                    l3_ofs: 0,
                    l4_ofs: 0,
                    status: ParseStatus::Ok,
                }; MAX_BATCH],
            }),
            stage_timing: false,
            simple_masks: false,
            simple_memo: Default::default(),
            cpu: std::marker::PhantomData,
        }
    }

    /// Turns per-stage cycle accounting ([`PmdStats::cycles`]) on or off.
    pub fn set_stage_timing(&mut self, on: bool) {
        self.stage_timing = on;
    }

    /// This PMD's classifier.
    pub fn classifier(&self) -> &Dpcls {
        &self.cls
    }

    /// This PMD's EMC.
    pub fn emc(&self) -> &Emc {
        &self.emc
    }

    /// Counters.
    pub fn stats(&self) -> PmdStats {
        self.stats
    }

    /// Applies one control-thread command (call between bursts). A flush returns the
    /// flows it removed, for the caller to drop where freeing them cannot stall the
    /// queues (tens of thousands of frees take milliseconds).
    pub fn apply(&mut self, cmd: FlowCmd) -> Option<RetiredFlows> {
        let mut retired = None;
        match cmd {
            FlowCmd::Insert(f) => {
                self.cls.insert(f);
            }
            FlowCmd::Remove(f) => {
                self.cls.remove_flow(&f);
            }
            FlowCmd::Flush => {
                // The EMC's references go first: the retired flows still hold every flow,
                // so none of these is the last.
                self.emc.clear();
                retired = Some(self.cls.retire_all());
            }
            FlowCmd::SetEmcInvProb(p) => self.emc.set_inv_prob(p),
            FlowCmd::SetMaskCache(n) => self.cls.set_mask_cache_size(n as usize),
        }
        self.classifier_changed();
        retired
    }

    /// [`FlowCmd::Flush`] that swaps in `fresh`, an empty EMC built off the poll loop,
    /// instead of clearing this one in place: walking 8192 entries and dropping their flow
    /// references cost a PMD about 0.12 ms. `fresh` takes this EMC's insertion
    /// probability. Returns the old EMC and the flows, for the caller to drop elsewhere.
    pub fn flush_replacing_emc(&mut self, mut fresh: Emc) -> (Emc, RetiredFlows) {
        fresh.set_inv_prob(self.emc.inv_prob());
        let old = std::mem::replace(&mut self.emc, fresh);
        let retired = self.cls.retire_all();
        self.classifier_changed();
        (old, retired)
    }

    /// Replaces the whole classifier with `cls` (built off the poll loop with
    /// [`Dpcls::without_ufid_index`]) and the EMC with `fresh`: how a PMD that fell behind
    /// its updates is brought to the authoritative table in one step. `fresh` takes this
    /// EMC's insertion probability. Returns the old classifier and EMC, for the caller to
    /// drop elsewhere.
    pub fn replace_classifier(&mut self, cls: Dpcls, mut fresh: Emc) -> (Dpcls, Emc) {
        fresh.set_inv_prob(self.emc.inv_prob());
        let old_emc = std::mem::replace(&mut self.emc, fresh);
        let old_cls = std::mem::replace(&mut self.cls, cls);
        self.classifier_changed();
        (old_cls, old_emc)
    }

    fn classifier_changed(&mut self) {
        self.simple_masks = !self.cls.is_empty() && self.cls.all_masks(simple_match_mask);
        self.simple_memo = Default::default();
    }

    /// Between-burst housekeeping (classifier growth and ranking).
    pub fn maintain(&mut self) {
        self.cls.maintain();
    }

    /// The simple-match fast path for a whole burst from one rx queue: when only simple
    /// masks are installed, every packet is a plain frame ([`simple_match_frame`]) and the
    /// burst's flow is a single OUTPUT, records the burst in the statistics and returns the
    /// output port, and the caller hands the packets to it as they are. Otherwise returns
    /// `None` having counted nothing, and the burst takes [`Pmd::process_burst`].
    ///
    /// This is OVS's "simple match" taken one step further: no per-packet key, EMC probe,
    /// action program or output call, only a header check per packet.
    #[inline]
    pub fn forward_simple<B: PacketBuf>(
        &mut self,
        pkts: &[B],
        md: &Metadata,
        now_ms: u64,
    ) -> Option<u32> {
        if !self.simple_masks || pkts.is_empty() || pkts.len() > MAX_BATCH {
            return None;
        }
        let slot = usize::from(md.in_port) % SIMPLE_MEMO_SLOTS;
        let memo_port = self.simple_memo[slot]
            .as_ref()
            .filter(|m| m.md == *md && m.flow.is_alive())
            .map(|m| m.port);
        // The port's flow is not a single OUTPUT: decline before scanning any header.
        if memo_port == Some(None) {
            return None;
        }
        let t_start = if self.stage_timing { P::tsc() } else { 0 };
        let pm = PreparedMeta::new(md);
        let (mut bytes, mut flags) = (0u64, 0u16);
        for p in pkts {
            flags |= simple_match_frame(p.data(), &pm)?;
            bytes += p.len() as u64;
        }
        let t_extracted = if self.stage_timing { P::tsc() } else { 0 };
        let memo = &mut self.simple_memo[slot];
        // Subtable probes already in the classifier's count (a lookup made for this burst).
        let mut counted = 0;
        if memo_port.is_none() {
            let Scratch {
                keys, hashes, maps, ..
            } = &mut *self.scratch;
            let info = extract_reuse(pkts[0].data(), &pm, &mut keys[0], &mut maps[0]);
            hashes[0] = info.hash;
            let before = self.cls.stats().mask_hit;
            let mut out = [None];
            self.cls
                .lookup_batch::<P>(&keys[..1], Some(&hashes[..1]), 1, &mut out);
            let flow = out[0]?;
            counted = self.cls.stats().mask_hit - before;
            *memo = Some(SimpleMemo {
                md: *md,
                flow: Arc::clone(flow),
                port: flow.actions().single_output(),
                probes: counted,
            });
        }
        let SimpleMemo {
            flow, port, probes, ..
        } = memo.as_ref()?;
        let (flow, port, probes) = (flow, (*port)?, *probes);
        let n = pkts.len() as u64;
        flow.stats().record(self.id, n, bytes, now_ms, flags);
        let s = &mut self.stats;
        s.packets += n;
        s.megaflow_hit += n;
        s.simple_hit += n;
        s.simple_mask_hit += n * probes - counted;
        if self.stage_timing {
            let c = &mut s.cycles;
            c.extract += t_extracted.wrapping_sub(t_start);
            c.dpcls += P::tsc().wrapping_sub(t_extracted);
        }
        Some(port)
    }

    /// Processes up to 32 packets: extracts keys (hashing once), probes the EMC, looks
    /// the rest up in the classifier as one batch, updates flow statistics, executes
    /// actions (outputs go to `ctx`, which batches per port) and hands misses to
    /// `ctx.miss`. Every `Some` packet in `pkts[..n]` is consumed, where `n` is at most
    /// 32 and, for [`BurstMeta::PerPacket`], at most the number of metadata entries.
    pub fn process_burst<B: PacketBuf, C: PmdContext<B>>(
        &mut self,
        pkts: &mut [Option<B>],
        md: BurstMeta<'_>,
        now_ms: u64,
        ctx: &mut C,
    ) {
        let mut n = pkts.len().min(MAX_BATCH);
        if let BurstMeta::PerPacket(v) = md {
            n = n.min(v.len());
        }
        let Self {
            id,
            cls,
            emc,
            stats,
            scratch,
            stage_timing,
            simple_masks,
            ..
        } = self;
        let timing = *stage_timing;
        let clock = || if timing { P::tsc() } else { 0 };
        let t_start = clock();
        let Scratch {
            keys,
            hashes,
            infos,
            maps,
        } = &mut **scratch;
        let mut todo = 0u32;
        let shared = match md {
            BurstMeta::Shared(m) => Some(PreparedMeta::new(m)),
            BurstMeta::PerPacket(_) => None,
        };
        // Simple match: with only simple masks installed, plain frames skip extraction and
        // the EMC; one of them is classified for all (see `simple_match_frame`).
        let mut simple = 0u32;
        let mut simple_flags = [0u16; MAX_BATCH];
        let simple_pm = shared.as_ref().filter(|_| *simple_masks);
        for i in 0..n {
            let Some(p) = &pkts[i] else { continue };
            stats.packets += 1;
            if let Some(flags) = simple_pm.and_then(|pm| simple_match_frame(p.data(), pm)) {
                simple_flags[i] = flags;
                simple |= 1 << i;
                continue;
            }
            let info = match &shared {
                Some(pm) => extract_reuse(p.data(), pm, &mut keys[i], &mut maps[i]),
                None => {
                    let info = extract(p.data(), md.get(i), &mut keys[i]);
                    maps[i] = info.map;
                    info
                }
            };
            match info.status {
                ParseStatus::Ok => {}
                ParseStatus::Partial => stats.malformed += 1,
                ParseStatus::Drop => {
                    stats.extract_drop += 1;
                    if let Some(p) = pkts[i].take() {
                        ctx.malformed_drop(p);
                    }
                    continue;
                }
            }
            hashes[i] = info.hash;
            infos[i] = info;
            todo |= 1 << i;
        }

        let mut flows: [Option<&Arc<Flow>>; MAX_BATCH] = [None; MAX_BATCH];
        if let (Some(pm), true) = (simple_pm, simple != 0) {
            let r = simple.trailing_zeros() as usize;
            let rep = pkts[r].as_ref().map(|p| p.data()).unwrap_or_default();
            let info = extract_reuse(rep, pm, &mut keys[r], &mut maps[r]);
            hashes[r] = info.hash;
            infos[r] = info;
            let probes = cls.stats().mask_hit;
            let mut out: [Option<&Arc<Flow>>; MAX_BATCH] = [None; MAX_BATCH];
            cls.lookup_batch::<P>(&keys[..n], Some(&hashes[..n]), 1 << r, &mut out);
            match out[r] {
                Some(f) if f.actions().is_key_independent() => {
                    let others = u64::from(simple.count_ones() - 1);
                    stats.megaflow_hit += others + 1;
                    stats.simple_hit += others + 1;
                    stats.simple_mask_hit += others * (cls.stats().mask_hit - probes);
                    let mut m = simple;
                    while m != 0 {
                        let i = m.trailing_zeros() as usize;
                        m &= m - 1;
                        flows[i] = Some(f);
                    }
                }
                _ => {
                    // A miss, or actions that read the key: classify them one by one. The
                    // representative's lookup is repeated; this is the rare case.
                    let mut m = simple;
                    while m != 0 {
                        let i = m.trailing_zeros() as usize;
                        m &= m - 1;
                        let data = pkts[i].as_ref().map(|p| p.data()).unwrap_or_default();
                        let info = extract_reuse(data, pm, &mut keys[i], &mut maps[i]);
                        hashes[i] = info.hash;
                        infos[i] = info;
                    }
                    todo |= simple;
                    simple = 0;
                }
            }
        }
        let t_extracted = clock();
        let mut need_cls = 0u32;
        let mut m = todo;
        if !emc.is_enabled() {
            need_cls = todo;
            m = 0;
        }
        if m.count_ones() > 1 {
            let mut p = m;
            while p != 0 {
                let i = p.trailing_zeros() as usize;
                p &= p - 1;
                emc.prefetch::<P>(hashes[i]);
            }
        }
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            match emc.lookup(&keys[i], hashes[i], infos[i].map) {
                Some(f) => flows[i] = Some(f),
                None => need_cls |= 1 << i,
            }
        }
        stats.emc_hit += u64::from((todo & !need_cls).count_ones());
        let t_emc = clock();

        let mut to_cache: [Option<Arc<Flow>>; MAX_BATCH] = [const { None }; MAX_BATCH];
        if need_cls != 0 {
            let mut cls_out: [Option<&Arc<Flow>>; MAX_BATCH] = [None; MAX_BATCH];
            let found =
                cls.lookup_batch::<P>(&keys[..n], Some(&hashes[..n]), need_cls, &mut cls_out);
            stats.megaflow_hit += u64::from(found.count_ones());
            let mut m = found;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                flows[i] = cls_out[i];
                if emc.should_insert() {
                    to_cache[i] = cls_out[i].cloned();
                }
            }
            let mut missed = need_cls & !found;
            stats.miss += u64::from(missed.count_ones());
            while missed != 0 {
                let i = missed.trailing_zeros() as usize;
                missed &= missed - 1;
                if let Some(p) = pkts[i].take() {
                    ctx.miss(p, &keys[i], md.get(i));
                }
            }
        }

        let t_dpcls = clock();
        // Start loading each matched flow's statistics cell and actions, then execute,
        // accumulating statistics over runs of packets of the same flow.
        let mut last: Option<&Arc<Flow>> = None;
        for f in flows[..n].iter().flatten() {
            if !last.is_some_and(|l| Arc::ptr_eq(l, f)) {
                P::prefetch(f.stats().cell(*id));
                P::prefetch(f.actions().ops());
                last = Some(f);
            }
        }
        // Connection lookups of flows that start with `ct`, in two stages over the burst:
        // hash every packet's tuple and start loading its index bucket, then start loading
        // the connections the buckets name, so that executing finds both in the cache.
        let mut ct_hashes = [None; MAX_BATCH];
        if let Some(table) = ctx.conntrack() {
            for i in 0..n {
                let (Some(f), Some(p)) = (flows[i], &pkts[i]) else {
                    continue;
                };
                if let Some(a) = f.actions().leading_ct() {
                    let h =
                        lookup_hash_of_frame(table, a, p.data(), &keys[i], &infos[i], md.get(i));
                    if let Some(h) = h {
                        table.prefetch_bucket::<P>(h);
                    }
                    ct_hashes[i] = h;
                }
            }
            for h in ct_hashes[..n].iter().flatten() {
                table.prefetch_conns::<P>(*h);
            }
        }
        let mut run: Option<(&Arc<Flow>, u64, u64, u16)> = None;
        // Simple-match packets share one flow: one state for all of them, statistics recorded
        // once, and a single-output flow hands them straight to the tx batch.
        let rep = simple.trailing_zeros() as usize;
        let simple_flow = if simple != 0 { flows[rep] } else { None };
        let simple_out = simple_flow.and_then(|f| f.actions().single_output());
        let rep_state = simple_flow.map(|_| PacketState::new(md.get(rep), &keys[rep], &infos[rep]));
        let (mut s_pk, mut s_by, mut s_fl) = (0u64, 0u64, 0u16);
        for i in 0..n {
            let Some(flow) = flows[i] else { continue };
            let Some(p) = pkts[i].take() else { continue };
            let bytes = p.len() as u64;
            if simple & (1 << i) != 0 {
                s_pk += 1;
                s_by += bytes;
                s_fl |= simple_flags[i];
                match (simple_out, &rep_state) {
                    (Some(port), Some(st)) => ctx.output(port, p, st),
                    _ => {
                        // Key-independent actions: the representative's key stands in.
                        let mut st = PacketState::new(md.get(i), &keys[rep], &infos[rep]);
                        execute(flow.actions(), p, &mut st, ctx);
                    }
                }
                continue;
            }
            let flags = keys[i].tcp_flags();
            match &mut run {
                Some((f, pk, by, fl)) if Arc::ptr_eq(f, flow) => {
                    *pk += 1;
                    *by += bytes;
                    *fl |= flags;
                }
                _ => {
                    if let Some((f, pk, by, fl)) = run.take() {
                        f.stats().record(*id, pk, by, now_ms, fl);
                    }
                    run = Some((flow, 1, bytes, flags));
                }
            }
            let mut st = PacketState::new(md.get(i), &keys[i], &infos[i]);
            st.ct_hash = ct_hashes[i];
            execute(flow.actions(), p, &mut st, ctx);
        }
        if let (Some(f), true) = (simple_flow, s_pk != 0) {
            f.stats().record(*id, s_pk, s_by, now_ms, s_fl);
        }
        if let Some((f, pk, by, fl)) = run {
            f.stats().record(*id, pk, by, now_ms, fl);
        }
        for i in 0..n {
            if let Some(f) = to_cache[i].take() {
                emc.insert(&keys[i], hashes[i], infos[i].map, &f);
            }
        }
        if timing {
            let c = &mut stats.cycles;
            c.extract += t_extracted.wrapping_sub(t_start);
            c.emc += t_emc.wrapping_sub(t_extracted);
            c.dpcls += t_dpcls.wrapping_sub(t_emc);
            c.actions += clock().wrapping_sub(t_dpcls);
        }
    }
}
