//! A PMD thread's poll loop: polls its rx queues on an EAL worker lcore, runs the fast path
//! on each burst and transmits per output port in bursts.
//!
//! Everything it needs arrives as [`PmdCmd`]s, applied between bursts; everything it reports
//! leaves as relaxed stores into [`PmdShared`] and as upcalls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fastpath::actions::{xorshift32, DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::conntrack::table::Table;
use fastpath::flow::FlowKey;
use fastpath::packet::{Metadata, PacketBuf};
use fastpath::pmd::{BurstMeta, PmdContext};
use fastpath::MAX_RECIRC_PASSES;

use super::commands::{Garbage, PmdCmd};
use super::idle::IdlePoll;
use super::rounds::{LongRound, MsClock, RoundStats};
use super::upcalls::{Queued, UpcallQueue};
use super::Pmd;
use crate::dpdk::{rdtsc, Mbuf, MbufArray, Pools, RxQueue, BURST_SIZE};
use crate::runtime::offload;
use crate::runtime::ports::TxSlot;
use crate::slowpath::{Upcall, UpcallKind};
use crate::stats::{DpPmdCounters, PmdShared, VportCounters};
/// Polls between housekeeping rounds (stats publication, classifier maintenance).
const HOUSEKEEPING_EVERY: u32 = 1024;
/// Commands applied per poll round at most: a burst of flow changes (a client pipelining
/// hundreds) is spread over rounds instead of stalling the queues for all of it.
const CMDS_PER_ROUND: u64 = 64;
pub(super) struct RxSlot {
    pub(super) dp: usize,
    pub(super) port_no: u32,
    pub(super) md: Metadata,
    pub(super) rxq: RxQueue,
    /// When a busy PMD polls it ([`IdlePoll`]).
    pub(super) idle: IdlePoll,
    /// Its packets may carry offload work ([`RxQueue::carries_offload`]).
    pub(super) offload: bool,
    /// TSC cycles its bursts took, from the poll to the last transmit.
    pub(super) busy: u64,
    /// `busy` as last published with the PMD's own counters, for `pmd-rxq-show`'s usage.
    pub(super) cycles: Arc<AtomicU64>,
}

pub(super) struct TxPort {
    pub(super) slot: TxSlot,
    /// The queue finishes offload work itself; other queues get it done first.
    pub(super) takes_offload: bool,
    pub(super) buf: MbufArray<BURST_SIZE>,
    pub(super) counters: Arc<VportCounters>,
}

#[derive(Default)]
pub(super) struct TxTable {
    /// Indexed by port number; grown only when a port is added.
    pub(super) ports: Vec<Option<TxPort>>,
    /// Ports with packets waiting, flushed at the end of every burst.
    dirty: Vec<u32>,
}

pub(super) struct DpSlot {
    pub(super) pmd: Pmd,
    pub(super) tx: TxTable,
    pub(super) counters: Arc<DpPmdCounters>,
}

/// A PMD's state; [`PmdThread::run`] is its lcore loop.
pub struct PmdThread {
    id: usize,
    pub(super) dps: Vec<Option<DpSlot>>,
    pub(super) rxqs: Vec<RxSlot>,
    cmds: rtrb::Consumer<PmdCmd>,
    pub(super) retired: rtrb::Producer<Garbage>,
    long_rounds: rtrb::Producer<LongRound>,
    upcalls: Arc<UpcallQueue>,
    conntrack: Arc<Table>,
    pools: Pools,
    shared: Arc<PmdShared>,
    rng: u64,
    /// TSC cycles per microsecond, for [`IdlePoll`] schedules.
    pub(super) cycles_per_us: u64,
}

/// A PMD's queues to and from the control thread.
pub struct PmdLinks {
    /// Commands in.
    pub cmds: rtrb::Consumer<PmdCmd>,
    /// What the PMD retired, out ([`Garbage`]).
    pub retired: rtrb::Producer<Garbage>,
    /// Long poll rounds, out, to be logged.
    pub long_rounds: rtrb::Producer<LongRound>,
    /// Upcalls out (shared by all PMDs).
    pub upcalls: Arc<UpcallQueue>,
    /// The connection table (shared by all PMDs and the control thread).
    pub conntrack: Arc<Table>,
}

impl std::fmt::Debug for PmdThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmdThread")
            .field("id", &self.id)
            .field("rxqs", &self.rxqs.len())
            .finish()
    }
}

impl PmdThread {
    /// PMD number `id`.
    pub fn new(id: usize, links: PmdLinks, pools: Pools, shared: Arc<PmdShared>) -> Self {
        let PmdLinks {
            cmds,
            retired,
            long_rounds,
            upcalls,
            conntrack,
        } = links;
        PmdThread {
            id,
            dps: Vec::new(),
            rxqs: Vec::new(),
            cmds,
            retired,
            long_rounds,
            upcalls,
            conntrack,
            pools,
            shared,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1),
            cycles_per_us: (crate::dpdk::tsc_hz() / 1_000_000).max(1),
        }
    }

    /// The poll loop; returns when the control thread sets `quit`.
    pub fn run(mut self) -> i32 {
        let mut burst = MbufArray::<BURST_SIZE>::new();
        let mut pkts: [Option<Mbuf>; BURST_SIZE] = [const { None }; BURST_SIZE];
        let mut recirc = Recirc::default();
        let mut polls: u32 = 0;
        let (mut busy, mut idle, mut bursts, mut rx_packets) = (0u64, 0u64, 0u64, 0u64);
        let timing = self.shared.stage_timing.load(Ordering::Relaxed);
        let mut clock = MsClock::new();
        let (mut rx_cycles, mut tx_cycles) = (0u64, 0u64);
        let (mut tx_batches, mut tx_batch_packets) = (0u64, 0u64);
        let mut round_start = rdtsc();
        let mut round_stats = RoundStats::new();
        let mut applied = 0;
        // Packets received in the round (the next round is a busy one if any).
        let mut round_rx = 0;
        loop {
            let now = rdtsc();
            if let Some(long) = round_stats.record(round_start, now, applied != 0) {
                round_stats.unlogged += u64::from(self.long_rounds.push(long).is_err());
            }
            round_start = now;
            applied = 0;
            let mut t = now;
            while applied < CMDS_PER_ROUND {
                let Ok(cmd) = self.cmds.pop() else { break };
                self.apply(cmd);
                let done = rdtsc();
                round_stats.max_command = round_stats.max_command.max(done.wrapping_sub(t));
                t = done;
                applied += 1;
            }
            if applied != 0 {
                let done = self.shared.applied.load(Ordering::Relaxed) + applied;
                self.shared.applied.store(done, Ordering::Release);
                round_stats.max_apply = round_stats.max_apply.max(t.wrapping_sub(now));
            }
            if self.shared.quit.load(Ordering::Acquire) {
                break;
            }
            let was_busy = round_rx != 0;
            round_rx = 0;
            for r in 0..self.rxqs.len() {
                let rx = &mut self.rxqs[r];
                if rx.idle.skip(now, was_busy) {
                    continue;
                }
                let start = rdtsc();
                let n = rx.rxq.rx_burst(&mut burst);
                rx.idle.polled(start, n);
                if n == 0 {
                    idle += rdtsc().wrapping_sub(start);
                    continue;
                }
                round_rx += n;
                let (dp, md, offload) = (rx.dp, rx.md, rx.offload);
                let Some(Some(slot)) = self.dps.get_mut(dp) else {
                    burst.clear();
                    continue;
                };
                if timing {
                    rx_cycles += rdtsc().wrapping_sub(start);
                }
                let now_ms = clock.now(start);
                let DpSlot { pmd, tx, counters } = slot;
                let (lost, dropped) = match pmd.forward_simple(burst.as_slice(), &md, now_ms) {
                    // A whole plain burst for one output port: sent as received.
                    Some(port) => match tx.port(port) {
                        Some(p) if offload && !p.takes_offload => {
                            let lost = p.send_resolved(&mut burst, &self.pools);
                            (0, lost)
                        }
                        Some(p) => {
                            tx_batches += 1;
                            tx_batch_packets +=
                                timed(timing, &mut tx_cycles, || p.send(&mut burst));
                            (0, 0)
                        }
                        None => {
                            burst.clear();
                            (0, n as u64)
                        }
                    },
                    None => {
                        for (slot, m) in pkts.iter_mut().zip(burst.drain()) {
                            *slot = Some(m);
                        }
                        let mut ctx = Ctx {
                            dp,
                            pmd: self.id,
                            tx,
                            upcalls: &self.upcalls,
                            conntrack: &self.conntrack,
                            pools: &self.pools,
                            offload,
                            recirc: &mut recirc,
                            rng: &mut self.rng,
                            lost: 0,
                            queued: 0,
                            dropped: 0,
                            ct_invalid: 0,
                            tx_batches: 0,
                            tx_batch_packets: 0,
                        };
                        pmd.process_burst(&mut pkts[..n], BurstMeta::Shared(&md), now_ms, &mut ctx);
                        for _ in 0..MAX_RECIRC_PASSES {
                            if ctx.recirc.len == 0 {
                                break;
                            }
                            let (mut rpkts, rmd, rn) = ctx.recirc.take();
                            pmd.process_burst(
                                &mut rpkts[..rn],
                                BurstMeta::PerPacket(&rmd[..rn]),
                                now_ms,
                                &mut ctx,
                            );
                        }
                        // Whatever still wants to recirculate has looped too often.
                        ctx.dropped += ctx.recirc.clear() as u64;
                        timed(timing, &mut tx_cycles, || ctx.flush());
                        if ctx.queued != 0 {
                            ctx.upcalls.wake();
                        }
                        tx_batches += ctx.tx_batches;
                        tx_batch_packets += ctx.tx_batch_packets;
                        if ctx.ct_invalid != 0 {
                            let c = &self.shared.ct_invalid;
                            c.store(
                                c.load(Ordering::Relaxed) + ctx.ct_invalid,
                                Ordering::Relaxed,
                            );
                        }
                        (ctx.lost, ctx.dropped)
                    }
                };
                publish(pmd, counters, lost, dropped);
                bursts += 1;
                rx_packets += n as u64;
                let spent = rdtsc().wrapping_sub(start);
                busy += spent;
                self.rxqs[r].busy += spent;
            }
            polls = polls.wrapping_add(1);
            if polls % HOUSEKEEPING_EVERY == 0 {
                clock.anchor();
                for d in self.dps.iter_mut().flatten() {
                    d.pmd.maintain();
                }
                let s = &self.shared;
                s.busy_cycles.store(busy, Ordering::Relaxed);
                // With the PMD's own cycles, so usage shares compare like with like.
                for rx in &self.rxqs {
                    rx.cycles.store(rx.busy, Ordering::Relaxed);
                }
                s.idle_cycles.store(idle, Ordering::Relaxed);
                s.bursts.store(bursts, Ordering::Relaxed);
                s.rx_packets.store(rx_packets, Ordering::Relaxed);
                if timing {
                    let mut fast = fastpath::pmd::StageCycles::default();
                    for d in self.dps.iter().flatten() {
                        let c = d.pmd.stats().cycles;
                        fast.extract += c.extract;
                        fast.emc += c.emc;
                        fast.dpcls += c.dpcls;
                        fast.actions += c.actions;
                    }
                    let all = [
                        rx_cycles,
                        fast.extract,
                        fast.emc,
                        fast.dpcls,
                        fast.actions,
                        tx_cycles,
                    ];
                    for (cell, v) in s.stage_cycles.iter().zip(all) {
                        cell.store(v, Ordering::Relaxed);
                    }
                }
                s.tx_batches.store(tx_batches, Ordering::Relaxed);
                s.tx_batch_packets
                    .store(tx_batch_packets, Ordering::Relaxed);
                if s.restart_max_poll_gap.swap(false, Ordering::Relaxed) {
                    round_stats.restart_maxima();
                }
                round_stats.publish(s);
            }
        }
        0
    }
}

/// Copies the fast path's counters into the published cells (relaxed stores: one writer).
fn publish(pmd: &Pmd, c: &DpPmdCounters, lost: u64, dropped: u64) {
    let s = pmd.stats();
    c.packets.store(s.packets, Ordering::Relaxed);
    c.emc_hit.store(s.emc_hit, Ordering::Relaxed);
    c.megaflow_hit.store(s.megaflow_hit, Ordering::Relaxed);
    c.simple_hit.store(s.simple_hit, Ordering::Relaxed);
    c.missed.store(s.miss, Ordering::Relaxed);
    c.malformed.store(s.malformed, Ordering::Relaxed);
    c.mask_hit.store(
        pmd.classifier().stats().mask_hit + s.simple_mask_hit,
        Ordering::Relaxed,
    );
    if lost != 0 {
        c.lost
            .store(c.lost.load(Ordering::Relaxed) + lost, Ordering::Relaxed);
    }
    if dropped != 0 {
        c.dropped.store(
            c.dropped.load(Ordering::Relaxed) + dropped,
            Ordering::Relaxed,
        );
    }
}

/// Packets waiting to be recirculated after the current pass.
struct Recirc {
    len: usize,
    pkts: [Option<Mbuf>; BURST_SIZE],
    md: [Metadata; BURST_SIZE],
}

impl Default for Recirc {
    fn default() -> Self {
        Recirc {
            len: 0,
            pkts: [const { None }; BURST_SIZE],
            md: [Metadata::default(); BURST_SIZE],
        }
    }
}

impl Recirc {
    fn take(&mut self) -> ([Option<Mbuf>; BURST_SIZE], [Metadata; BURST_SIZE], usize) {
        let n = std::mem::replace(&mut self.len, 0);
        let pkts = std::mem::replace(&mut self.pkts, [const { None }; BURST_SIZE]);
        (pkts, self.md, n)
    }

    fn clear(&mut self) -> usize {
        let n = std::mem::replace(&mut self.len, 0);
        self.pkts.iter_mut().for_each(|p| *p = None);
        n
    }
}

/// The fast path's view of the runtime for one burst.
struct Ctx<'a> {
    dp: usize,
    pmd: usize,
    tx: &'a mut TxTable,
    upcalls: &'a UpcallQueue,
    conntrack: &'a Table,
    pools: &'a Pools,
    /// The burst came from a queue whose packets may carry offload work.
    offload: bool,
    recirc: &'a mut Recirc,
    rng: &'a mut u64,
    lost: u64,
    /// Upcalls queued this burst (the control thread is woken once for them).
    queued: u32,
    dropped: u64,
    /// Packets `ct` found invalid this burst.
    ct_invalid: u64,
    tx_batches: u64,
    tx_batch_packets: u64,
}

impl TxPort {
    /// Transmits `pkts` (emptied), after anything already batched so order is kept;
    /// returns the packets handed to the queue (sent or refused).
    #[inline]
    fn send(&mut self, pkts: &mut MbufArray<BURST_SIZE>) -> u64 {
        let queued = if self.buf.is_empty() { 0 } else { self.flush() };
        queued + transmit(&mut self.slot, &self.counters, pkts)
    }

    /// Transmits the batch; returns the packets handed to the queue (sent or refused).
    #[inline]
    fn flush(&mut self) -> u64 {
        transmit(&mut self.slot, &self.counters, &mut self.buf)
    }

    /// Batches `pkt` after doing its offload work (this queue takes none); returns the
    /// packets lost doing it. A full batch is sent first.
    fn push_resolved(&mut self, pkt: Mbuf, pools: &Pools) -> (u64, u64) {
        let mut sent = 0;
        let lost = offload::resolve(pkt, pools, |m| {
            if self.buf.spare() == 0 {
                sent += self.flush();
            }
            let _ = self.buf.push(m);
        });
        (sent, lost)
    }

    /// [`TxPort::send`] for a burst whose offload work must be done first; returns the
    /// packets lost doing it.
    fn send_resolved(&mut self, pkts: &mut MbufArray<BURST_SIZE>, pools: &Pools) -> u64 {
        let mut lost = 0;
        for m in pkts.drain() {
            lost += self.push_resolved(m, pools).1;
        }
        self.flush();
        lost
    }
}

/// Hands `pkts` to the queue, counting refused ones as the port's tx drops; returns the
/// packets handed over (sent or refused).
#[inline]
fn transmit(slot: &mut TxSlot, counters: &VportCounters, pkts: &mut MbufArray<BURST_SIZE>) -> u64 {
    let out = slot.send(pkts);
    VportCounters::add(&counters.tx_dropped, out.dropped as u64);
    (out.sent + out.dropped) as u64
}

/// Runs `f`, adding the TSC cycles it took to `acc` when stage timing is `on`.
#[inline(always)]
fn timed<R>(on: bool, acc: &mut u64, f: impl FnOnce() -> R) -> R {
    let start = if on { rdtsc() } else { 0 };
    let r = f();
    if on {
        *acc += rdtsc().wrapping_sub(start);
    }
    r
}

impl TxTable {
    #[inline]
    fn port(&mut self, port_no: u32) -> Option<&mut TxPort> {
        self.ports.get_mut(port_no as usize)?.as_mut()
    }
}

impl Ctx<'_> {
    fn flush(&mut self) {
        for port_no in self.tx.dirty.drain(..) {
            if let Some(Some(p)) = self.tx.ports.get_mut(port_no as usize) {
                self.tx_batches += 1;
                self.tx_batch_packets += p.flush();
            }
        }
    }
}

impl ExecContext<Mbuf> for Ctx<'_> {
    #[inline]
    fn output(&mut self, port: u32, pkt: Mbuf, _st: &PacketState<'_>) {
        let Some(Some(p)) = self.tx.ports.get_mut(port as usize) else {
            self.dropped += 1;
            return;
        };
        if p.buf.is_empty() {
            self.tx.dirty.push(port);
        }
        if self.offload && !p.takes_offload {
            let (sent, lost) = p.push_resolved(pkt, self.pools);
            if sent != 0 {
                self.tx_batches += 1;
                self.tx_batch_packets += sent;
            }
            self.dropped += lost;
            return;
        }
        if let Err(pkt) = p.buf.push(pkt) {
            self.tx_batches += 1;
            self.tx_batch_packets += p.flush();
            let _ = p.buf.push(pkt);
        }
    }

    fn clone_packet(&mut self, pkt: &Mbuf) -> Option<Mbuf> {
        self.pools.copy(pkt, pkt.len())
    }

    fn upcall(&mut self, pkt: &Mbuf, len: usize, st: &PacketState<'_>, u: &UserspaceAction) {
        let orig_len = pkt.len();
        // Offload work is done on the whole packet before it is cut, as the kernel finishes
        // a checksum before it copies `cutlen` bytes to userspace.
        let whole = if pkt.offload().is_none() {
            len
        } else {
            orig_len
        };
        let Some(mut copy) = self.pools.copy(pkt, whole) else {
            self.lost += 1;
            return;
        };
        if whole != len {
            if let Some(c) = copy.offload().csum {
                let _ = fastpath::packet::offload::finish_checksum(copy.data_mut(), c);
            }
            copy.set_offload(fastpath::packet::Offload::NONE);
            copy.truncate_to(len);
        }
        let mut key = FlowKey::ZERO;
        let md = st.metadata();
        fastpath::packet::extract(copy.data(), &md, &mut key);
        let up = Queued {
            up: Upcall {
                dp: self.dp,
                pmd: self.pmd,
                kind: UpcallKind::Action {
                    pid: u.pid,
                    userdata: u.userdata.clone(),
                    orig_len,
                },
                pkt: copy,
                key,
                md,
            },
            tsc: rdtsc(),
        };
        match self.upcalls.push(up) {
            Ok(()) => self.queued += 1,
            Err(_) => self.lost += 1,
        }
    }

    fn recirculate(&mut self, pkt: Mbuf, st: &PacketState<'_>) {
        let r = &mut *self.recirc;
        if r.len == BURST_SIZE {
            self.dropped += 1;
            return;
        }
        r.pkts[r.len] = Some(pkt);
        r.md[r.len] = st.metadata();
        r.len += 1;
    }

    fn drop_packet(&mut self, pkt: Mbuf, _reason: DropReason) {
        self.dropped += 1;
        drop(pkt);
    }

    fn random_u32(&mut self) -> u32 {
        xorshift32(self.rng)
    }

    #[inline]
    fn conntrack(&self) -> Option<&Table> {
        Some(self.conntrack)
    }

    fn ct_invalid(&mut self) {
        self.ct_invalid += 1;
    }
}

impl PmdContext<Mbuf> for Ctx<'_> {
    #[inline]
    fn miss(&mut self, pkt: Mbuf, key: &FlowKey, md: &Metadata) {
        let up = Queued {
            up: Upcall {
                dp: self.dp,
                pmd: self.pmd,
                kind: UpcallKind::Miss,
                pkt,
                key: *key,
                md: *md,
            },
            tsc: rdtsc(),
        };
        match self.upcalls.push(up) {
            Ok(()) => self.queued += 1,
            Err(_) => self.lost += 1,
        }
    }

    fn malformed_drop(&mut self, pkt: Mbuf) {
        self.dropped += 1;
        drop(pkt);
    }
}
