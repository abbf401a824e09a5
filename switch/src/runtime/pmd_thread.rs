//! A PMD thread: polls its rx queues on an EAL worker lcore, runs the fast path
//! ([`fastpath::pmd::Pmd`]) on each burst and transmits per output port in bursts.
//!
//! Everything it needs arrives as [`PmdCmd`]s on its command queue, drained between bursts;
//! everything it reports leaves as relaxed stores into [`PmdShared`] and as [`Upcall`]s.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use super::vport::{TxSlot, VportCounters};
use crate::dpdk::{rdtsc, tsc_hz, Mbuf, MbufArray, Mempool, RxQueue, BURST_SIZE};
use fastpath::actions::{DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::emc::Emc;
use fastpath::flow::{monotonic_ms, monotonic_ns, FlowKey};
use fastpath::packet::Metadata;
use fastpath::pmd::{BurstMeta, FlowCmd};

/// The fast path of one datapath on one PMD, with the CPU's own instructions.
pub type Pmd = fastpath::pmd::Pmd<crate::dpdk::Native>;

/// How many times a packet may be recirculated before it is dropped (the kernel's limit).
const MAX_RECIRC_PASSES: usize = 4;
/// Polls between housekeeping rounds (stats publication, classifier maintenance).
const HOUSEKEEPING_EVERY: u32 = 1024;
/// Commands applied per poll round at most: a burst of flow changes (a client pipelining
/// hundreds) is spread over rounds instead of stalling the queues for all of it.
const CMDS_PER_ROUND: u64 = 64;
/// At most this many poll rounds skip an idle queue whose empty poll is a system call
/// (see [`RxSlot::idle_skip`]).
const MAX_IDLE_SKIP: u8 = 8;

/// A change the control thread asks a PMD to make.
#[derive(Debug)]
pub enum PmdCmd {
    /// Start serving datapath slot `dp` with a fresh classifier and EMC.
    AddDp {
        /// Datapath slot.
        dp: usize,
        /// The datapath's fast path on this PMD, built by the control thread: allocating and
        /// zeroing its EMC cost a PMD 0.4-1.5 ms of its poll loop.
        pmd: Box<Pmd>,
        /// Counters this PMD publishes for that datapath.
        counters: Arc<DpPmdCounters>,
    },
    /// Stop serving datapath slot `dp` (its ports must be removed first).
    RemoveDp {
        /// Datapath slot.
        dp: usize,
    },
    /// Poll this rx queue as input port `port_no` of datapath `dp`.
    AddRxq {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
        /// The queue.
        rxq: RxQueue,
    },
    /// Transmit to port `port_no` of datapath `dp` through `slot`.
    AddTx {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
        /// This PMD's queue on the port.
        slot: TxSlot,
        /// The port's software counters.
        counters: Arc<VportCounters>,
    },
    /// Forget port `port_no` of datapath `dp`: its rx queues and its tx queue.
    RemovePort {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
    },
    /// A classifier update for datapath `dp`.
    Flow {
        /// Datapath slot.
        dp: usize,
        /// The update.
        cmd: FlowCmd,
    },
    /// Remove every flow of datapath `dp`, and replace the EMC with `emc`, built empty by
    /// the control thread ([`Pmd::flush_replacing_emc`]).
    FlushFlows {
        /// Datapath slot.
        dp: usize,
        /// The new EMC.
        emc: Emc,
    },
}

/// What a PMD publishes per datapath (single writer: the PMD; readers: control, metrics).
#[derive(Debug, Default)]
pub struct DpPmdCounters {
    /// Packets looked up.
    pub packets: AtomicU64,
    /// EMC hits.
    pub emc_hit: AtomicU64,
    /// Megaflow (dpcls) hits, simple-match hits included.
    pub megaflow_hit: AtomicU64,
    /// Megaflow hits by simple match (OVS's "simple match hits").
    pub simple_hit: AtomicU64,
    /// Misses handed to the upcall queue.
    pub missed: AtomicU64,
    /// Misses dropped because the upcall queue was full.
    pub lost: AtomicU64,
    /// Subtables probed over all dpcls lookups.
    pub mask_hit: AtomicU64,
    /// Packets with malformed headers.
    pub malformed: AtomicU64,
    /// Packets dropped by actions, for unknown output ports, or by recirculation limits.
    pub dropped: AtomicU64,
}

/// What a PMD publishes about itself.
#[derive(Debug, Default)]
pub struct PmdShared {
    /// Commands applied so far (the control thread waits on this).
    pub applied: AtomicU64,
    /// Set by the control thread to stop the loop.
    pub quit: AtomicBool,
    /// TSC cycles spent in polls that received packets.
    pub busy_cycles: AtomicU64,
    /// TSC cycles spent in polls that received nothing.
    pub idle_cycles: AtomicU64,
    /// Bursts that carried packets.
    pub bursts: AtomicU64,
    /// Packets received.
    pub rx_packets: AtomicU64,
    /// Set before the PMD starts: count cycles per stage (OVS's `pmd-perf-metrics`).
    pub stage_timing: AtomicBool,
    /// TSC cycles per stage, in [`STAGES`] order (zero unless `stage_timing`).
    pub stage_cycles: [AtomicU64; STAGES.len()],
    /// Output batches handed to tx queues.
    pub tx_batches: AtomicU64,
    /// Packets in those batches (sent or refused).
    pub tx_batch_packets: AtomicU64,
    /// The longest poll round in TSC cycles since start or the last restart: how long a
    /// queue can wait between two polls (a stall of the PMD, e.g. applying a large command,
    /// or of its core, e.g. the kernel's per-CPU work, shows here).
    pub max_poll_gap_cycles: AtomicU64,
    /// Set to start measuring `max_poll_gap_cycles`, `max_apply_cycles` and
    /// `max_command_cycles` afresh (`pmd-stats-clear`).
    pub restart_max_poll_gap: AtomicBool,
    /// Poll rounds, by whether they applied control commands (0: no, 1: yes).
    pub rounds: [AtomicU64; 2],
    /// TSC cycles spent in poll rounds, by whether they applied commands: what the long
    /// rounds of each kind are a share of.
    pub round_cycles: [AtomicU64; 2],
    /// Poll rounds longer than each of [`LONG_ROUNDS`], by whether they applied control
    /// commands. Comparing the two rates tells stalls the PMD's own updates cause from
    /// those of its core (the kernel's or the hypervisor's work).
    pub long_rounds: [[AtomicU64; LONG_ROUNDS.len()]; 2],
    /// The longest time one round spent applying control commands (TSC cycles), since
    /// start or the last restart.
    pub max_apply_cycles: AtomicU64,
    /// The longest a single control command took to apply (TSC cycles), since start or the
    /// last restart: a command's own cost, unless the core was taken away meanwhile.
    pub max_command_cycles: AtomicU64,
    /// The most CPU time (ns) the PMD thread used between two reads of it (see
    /// [`CPU_READ_EVERY_US`]), since start or the last restart: at least the longest poll
    /// round's CPU time and at most that plus the read interval.
    pub max_round_cpu_ns: AtomicU64,
    /// Poll rounds that used more CPU time than each of [`LONG_ROUNDS`] longer than the read
    /// interval (the others stay zero), by whether they applied control commands: counted
    /// when the PMD thread used that much plus the read interval between two reads, which
    /// only the interval's last round can account for.
    pub long_cpu_rounds: [[AtomicU64; LONG_ROUNDS.len()]; 2],
    /// Long rounds ([`LongRound`]) not logged because the control thread's queue was full.
    pub long_rounds_unlogged: AtomicU64,
}

/// How often (µs) a PMD reads its thread's CPU time. Unlike the TSC, that clock stops while
/// the kernel runs another task on the core or the hypervisor reports the vCPU's time as
/// stolen, so a round's CPU time is the PMD's own work (and the interrupts its core handled
/// meanwhile). One read is a system call (~0.5 µs here): 0.25 % of the PMD.
pub const CPU_READ_EVERY_US: u64 = 200;

/// Whether rounds over `over_us` are counted by CPU time too: only lengths beyond the read
/// interval, which bounds a round's CPU time no closer.
pub const fn counted_in_cpu_time(over_us: u64) -> bool {
    over_us > CPU_READ_EVERY_US
}

/// This thread's CPU time in ns (0 if the clock cannot be read).
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        u64::try_from(Duration::from(t).as_nanos()).unwrap_or(u64::MAX)
    })
}

/// The `tracing` target of the long-round log ([`LongRound`]), at debug level:
/// `--log info,dpswitch::long_rounds=debug` turns it on.
pub const LONG_ROUND_LOG_TARGET: &str = "dpswitch::long_rounds";

/// A poll round longer than [`LONG_ROUND_LOG_US`], which the PMD hands the control thread
/// to log (as OVS's `pmd-perf-log` logs suspicious iterations). Its end is a
/// `CLOCK_MONOTONIC` time, the clock ftrace calls `mono`, so a trace of the core's
/// scheduling and interrupts tells what held it up (`perf/gap_attribution.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongRound {
    /// When the round ended, `CLOCK_MONOTONIC` ns.
    pub end_mono_ns: u64,
    /// Its length by the TSC, ns.
    pub wall_ns: u64,
    /// The PMD thread's CPU time over the round and under [`CPU_READ_EVERY_US`] before it, ns.
    pub cpu_ns: u64,
    /// Whether it applied control-thread commands.
    pub commands: bool,
}

/// Which of [`LONG_ROUNDS`] is logged ([`LongRound`]): 1 ms, the stall bound of issue 9.
const LONG_ROUND_LOG: usize = 1;
/// Rounds longer than this (µs) are logged ([`LongRound`]).
pub const LONG_ROUND_LOG_US: u64 = LONG_ROUNDS[LONG_ROUND_LOG].0;

/// The poll-round lengths, in µs, beyond which [`PmdShared::long_rounds`] counts a round,
/// with their metric labels.
pub const LONG_ROUNDS: [(u64, &str); 3] = [(100, "100us"), (1_000, "1ms"), (10_000, "10ms")];

/// A PMD's poll-round statistics, kept locally and published at housekeeping.
struct RoundStats {
    /// [`LONG_ROUNDS`] in TSC cycles.
    long_cycles: [u64; LONG_ROUNDS.len()],
    rounds: [u64; 2],
    /// TSC cycles spent in rounds, by whether they applied commands.
    round_cycles: [u64; 2],
    long: [[u64; LONG_ROUNDS.len()]; 2],
    max_round: u64,
    max_apply: u64,
    max_command: u64,
    /// [`CPU_READ_EVERY_US`] in TSC cycles.
    cpu_read_every: u64,
    /// The TSC and the thread's CPU time (ns) at the last CPU-time read.
    cpu_read_tsc: u64,
    cpu_read_ns: u64,
    max_round_cpu_ns: u64,
    long_cpu: [[u64; LONG_ROUNDS.len()]; 2],
    /// Long rounds the control thread's queue had no room for.
    unlogged: u64,
}

impl RoundStats {
    /// On the PMD's own thread, whose CPU time it reads.
    fn new() -> Self {
        RoundStats {
            long_cycles: LONG_ROUNDS.map(|(us, _)| tsc_hz() / 1_000_000 * us),
            rounds: [0; 2],
            round_cycles: [0; 2],
            long: [[0; LONG_ROUNDS.len()]; 2],
            max_round: 0,
            max_apply: 0,
            max_command: 0,
            cpu_read_every: tsc_hz() / 1_000_000 * CPU_READ_EVERY_US,
            cpu_read_tsc: rdtsc(),
            cpu_read_ns: thread_cpu_ns(),
            max_round_cpu_ns: 0,
            long_cpu: [[0; LONG_ROUNDS.len()]; 2],
            unlogged: 0,
        }
    }

    /// Counts a round that ran from `start` to `end` (TSC), which applied commands or not;
    /// returns it if it is one to log.
    #[inline]
    fn record(&mut self, start: u64, end: u64, applied: bool) -> Option<LongRound> {
        let cycles = end.wrapping_sub(start);
        let a = usize::from(applied);
        self.rounds[a] += 1;
        self.round_cycles[a] += cycles;
        self.max_round = self.max_round.max(cycles);
        if cycles > self.long_cycles[0] {
            for (n, &t) in self.long[a].iter_mut().zip(&self.long_cycles) {
                *n += u64::from(cycles > t);
            }
        }
        // The CPU time since the last read covers this round and earlier ones that took
        // less than the read interval in all: this round's own CPU time, to that interval.
        // A round longer than the read interval always ends with a read (the last one was
        // at or before its start), so a logged round has its CPU time.
        let mut used = 0;
        if end.wrapping_sub(self.cpu_read_tsc) >= self.cpu_read_every {
            let now_ns = thread_cpu_ns();
            used = now_ns.saturating_sub(self.cpu_read_ns);
            (self.cpu_read_tsc, self.cpu_read_ns) = (end, now_ns);
            self.max_round_cpu_ns = self.max_round_cpu_ns.max(used);
            for (n, (us, _)) in self.long_cpu[a].iter_mut().zip(LONG_ROUNDS) {
                *n += u64::from(counted_in_cpu_time(us) && used > (us + CPU_READ_EVERY_US) * 1000);
            }
        }
        (cycles > self.long_cycles[LONG_ROUND_LOG]).then(|| LongRound {
            end_mono_ns: monotonic_ns(),
            wall_ns: u64::try_from(u128::from(cycles) * 1_000_000_000 / u128::from(tsc_hz()))
                .unwrap_or(u64::MAX),
            cpu_ns: used,
            commands: applied,
        })
    }

    /// Starts the maxima afresh (`pmd-stats-clear`); the counts are running totals.
    fn restart_maxima(&mut self) {
        self.max_round = 0;
        self.max_apply = 0;
        self.max_command = 0;
        self.max_round_cpu_ns = 0;
    }

    fn publish(&self, s: &PmdShared) {
        s.max_poll_gap_cycles
            .store(self.max_round, Ordering::Relaxed);
        for a in 0..2 {
            s.rounds[a].store(self.rounds[a], Ordering::Relaxed);
            s.round_cycles[a].store(self.round_cycles[a], Ordering::Relaxed);
            for (cell, &v) in s.long_rounds[a].iter().zip(&self.long[a]) {
                cell.store(v, Ordering::Relaxed);
            }
        }
        s.max_apply_cycles.store(self.max_apply, Ordering::Relaxed);
        s.max_command_cycles
            .store(self.max_command, Ordering::Relaxed);
        s.max_round_cpu_ns
            .store(self.max_round_cpu_ns, Ordering::Relaxed);
        s.long_rounds_unlogged
            .store(self.unlogged, Ordering::Relaxed);
        for (cells, values) in s.long_cpu_rounds.iter().zip(&self.long_cpu) {
            for (cell, &v) in cells.iter().zip(values) {
                cell.store(v, Ordering::Relaxed);
            }
        }
    }
}

/// The stages of a busy poll whose cycles a PMD counts when `stage_timing` is on: receive
/// (the rx burst), the fast path's four ([`fastpath::pmd::StageCycles`]) and transmit (the
/// flush of the per-port tx batches).
pub const STAGES: [&str; 6] = ["rx", "extract", "emc", "dpcls", "actions", "tx"];

/// Why the control thread gets a packet.
#[derive(Debug)]
pub enum UpcallKind {
    /// No flow matched.
    Miss,
    /// A `userspace` action.
    Action {
        /// Where the upcall goes.
        pid: u32,
        /// The action's user data.
        userdata: Option<Arc<[u8]>>,
        /// Length before truncation.
        orig_len: usize,
    },
}

/// The upcalls of every PMD to the control thread: crossbeam's bounded lock-free
/// `ArrayQueue`, kept short of full.
///
/// A push into a full `ArrayQueue` fails at once, but one into the slot the consumer is
/// still reading (it has claimed the slot and not yet released it) spins until the read
/// ends. That slot is the one a push wants only when the queue was full as the read began;
/// the control thread, preempted in mid-read, would then stall a PMD for as long as it is
/// off its core. So a push is refused (the upcall is lost, as on a full queue) once fewer
/// free slots remain than there are producers: a PMD then never needs that slot, unless
/// other PMDs fill the margin within the few instructions of its own push.
#[derive(Debug)]
pub struct UpcallQueue<T = Upcall> {
    queue: ArrayQueue<T>,
    /// One slot per producer, kept free.
    margin: usize,
}

impl<T> UpcallQueue<T> {
    /// Room for `capacity` upcalls from `producers` PMDs.
    pub fn new(capacity: usize, producers: usize) -> Self {
        UpcallQueue {
            queue: ArrayQueue::new(capacity.max(1) + producers),
            margin: producers,
        }
    }

    /// Queues `up`, or hands it back if the queue is (nearly) full.
    ///
    /// # Errors
    /// `up`, when fewer slots than the margin are free.
    #[inline]
    pub fn push(&self, up: T) -> Result<(), T> {
        if self.queue.len() + self.margin >= self.queue.capacity() {
            return Err(up);
        }
        self.queue.push(up)
    }

    /// The oldest upcall.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Upcalls waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many upcalls it holds at most.
    pub fn capacity(&self) -> usize {
        self.queue.capacity() - self.margin
    }
}

/// A packet for the control thread.
#[derive(Debug)]
pub struct Upcall {
    /// Datapath slot.
    pub dp: usize,
    /// The PMD that sent it (the "CPU" of per-CPU dispatch).
    pub pmd: usize,
    /// Why.
    pub kind: UpcallKind,
    /// The packet.
    pub pkt: Mbuf,
    /// Its flow key.
    pub key: FlowKey,
    /// Its metadata.
    pub md: Metadata,
    /// TSC when the PMD queued it (for the handling-latency histogram).
    pub queued_tsc: u64,
}

struct RxSlot {
    dp: usize,
    port_no: u32,
    md: Metadata,
    rxq: RxQueue,
    /// Poll rounds to skip this queue. An empty poll of a kernel-backed queue (TAP,
    /// AF_PACKET) is a system call costing as much as forwarding a few dozen packets, so
    /// while such a queue stays empty it is polled every 2nd, 4th, ... up to every
    /// [`MAX_IDLE_SKIP`]+1th round; a packet resets it to every round. Like OVS-DPDK keeping
    /// its bridges' TAP ports off the PMDs, it keeps local ports from taxing busy queues.
    idle_skip: u8,
    /// Rounds to skip after the next empty poll (0 for queues polled without a syscall).
    idle_backoff: u8,
}

struct TxPort {
    slot: TxSlot,
    buf: MbufArray<BURST_SIZE>,
    counters: Arc<VportCounters>,
}

#[derive(Default)]
struct TxTable {
    /// Indexed by port number; grown only when a port is added.
    ports: Vec<Option<TxPort>>,
    /// Ports with packets waiting, flushed at the end of every burst.
    dirty: Vec<u32>,
}

struct DpSlot {
    pmd: Pmd,
    tx: TxTable,
    counters: Arc<DpPmdCounters>,
}

/// A PMD's state; [`PmdThread::run`] is its lcore loop.
pub struct PmdThread {
    id: usize,
    dps: Vec<Option<DpSlot>>,
    rxqs: Vec<RxSlot>,
    cmds: rtrb::Consumer<PmdCmd>,
    retired: rtrb::Producer<Garbage>,
    long_rounds: rtrb::Producer<LongRound>,
    upcalls: Arc<UpcallQueue>,
    pool: Arc<Mempool>,
    shared: Arc<PmdShared>,
    rng: u64,
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
}

/// What a PMD hands the control thread to drop: a flush's flows or a deleted datapath's
/// state, whose freeing would otherwise stall the PMD's queues.
pub type Garbage = Box<dyn Send>;

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
    pub fn new(id: usize, links: PmdLinks, pool: Arc<Mempool>, shared: Arc<PmdShared>) -> Self {
        let PmdLinks {
            cmds,
            retired,
            long_rounds,
            upcalls,
        } = links;
        PmdThread {
            id,
            dps: Vec::new(),
            rxqs: Vec::new(),
            cmds,
            retired,
            long_rounds,
            upcalls,
            pool,
            shared,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1),
        }
    }

    fn apply(&mut self, cmd: PmdCmd) {
        match cmd {
            PmdCmd::AddDp { dp, pmd, counters } => {
                if self.dps.len() <= dp {
                    self.dps.resize_with(dp + 1, || None);
                }
                self.dps[dp] = Some(DpSlot {
                    pmd: *pmd,
                    tx: TxTable::default(),
                    counters,
                });
            }
            PmdCmd::RemoveDp { dp } => {
                self.rxqs.retain(|r| r.dp != dp);
                if let Some(old) = self.dps.get_mut(dp).and_then(Option::take) {
                    self.retire(Box::new(old));
                }
            }
            PmdCmd::AddRxq { dp, port_no, rxq } => {
                let md = Metadata::for_port(u16::try_from(port_no).unwrap_or(u16::MAX));
                self.rxqs.push(RxSlot {
                    dp,
                    port_no,
                    md,
                    idle_skip: 0,
                    idle_backoff: u8::from(rxq.polls_by_syscall()),
                    rxq,
                });
            }
            PmdCmd::AddTx {
                dp,
                port_no,
                slot,
                counters,
            } => {
                if let Some(Some(d)) = self.dps.get_mut(dp) {
                    let i = port_no as usize;
                    if d.tx.ports.len() <= i {
                        d.tx.ports.resize_with(i + 1, || None);
                    }
                    d.tx.ports[i] = Some(TxPort {
                        slot,
                        buf: MbufArray::new(),
                        counters,
                    });
                }
            }
            PmdCmd::RemovePort { dp, port_no } => {
                self.rxqs.retain(|r| !(r.dp == dp && r.port_no == port_no));
                if let Some(Some(d)) = self.dps.get_mut(dp) {
                    if let Some(p) = d.tx.ports.get_mut(port_no as usize) {
                        *p = None;
                    }
                }
            }
            PmdCmd::Flow { dp, cmd } => {
                let retired = match self.dps.get_mut(dp) {
                    Some(Some(d)) => d.pmd.apply(cmd),
                    _ => None,
                };
                if let Some(flows) = retired {
                    self.retire(Box::new(flows));
                }
            }
            PmdCmd::FlushFlows { dp, emc } => {
                if let Some(Some(d)) = self.dps.get_mut(dp) {
                    let old = d.pmd.flush_replacing_emc(emc);
                    self.retire(Box::new(old));
                }
            }
        }
    }

    /// Hands `garbage` to the control thread to drop, or drops it here if its ring is full.
    fn retire(&mut self, garbage: Garbage) {
        if let Err(rtrb::PushError::Full(garbage)) = self.retired.push(garbage) {
            drop(garbage);
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
            for r in 0..self.rxqs.len() {
                let rx = &mut self.rxqs[r];
                if rx.idle_skip != 0 {
                    rx.idle_skip -= 1;
                    continue;
                }
                let start = rdtsc();
                let n = rx.rxq.rx_burst(&mut burst);
                if n == 0 {
                    if rx.idle_backoff != 0 {
                        rx.idle_skip = rx.idle_backoff;
                        rx.idle_backoff = (rx.idle_backoff * 2).min(MAX_IDLE_SKIP);
                    }
                    idle += rdtsc().wrapping_sub(start);
                    continue;
                }
                if rx.idle_backoff != 0 {
                    rx.idle_backoff = 1;
                }
                let (dp, md) = (rx.dp, rx.md);
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
                            pool: &self.pool,
                            recirc: &mut recirc,
                            rng: &mut self.rng,
                            lost: 0,
                            dropped: 0,
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
                        tx_batches += ctx.tx_batches;
                        tx_batch_packets += ctx.tx_batch_packets;
                        (ctx.lost, ctx.dropped)
                    }
                };
                publish(pmd, counters, lost, dropped);
                bursts += 1;
                rx_packets += n as u64;
                busy += rdtsc().wrapping_sub(start);
            }
            polls = polls.wrapping_add(1);
            if polls % HOUSEKEEPING_EVERY == 0 {
                clock.anchor();
                for d in self.dps.iter_mut().flatten() {
                    d.pmd.maintain();
                }
                let s = &self.shared;
                s.busy_cycles.store(busy, Ordering::Relaxed);
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

/// CLOCK_MONOTONIC milliseconds for flows' `used` times without a clock_gettime per burst:
/// extrapolated from the TSC, re-anchored every housekeeping round, never going backwards.
struct MsClock {
    base_ms: u64,
    base_tsc: u64,
    tsc_per_ms: u64,
    last: u64,
}

impl MsClock {
    fn new() -> Self {
        let mut c = MsClock {
            base_ms: 0,
            base_tsc: 0,
            tsc_per_ms: (tsc_hz() / 1000).max(1),
            last: 0,
        };
        c.anchor();
        c
    }

    fn anchor(&mut self) {
        self.base_ms = monotonic_ms();
        self.base_tsc = rdtsc();
    }

    /// The time at TSC reading `tsc`.
    #[inline]
    fn now(&mut self, tsc: u64) -> u64 {
        let ms = self.base_ms + tsc.wrapping_sub(self.base_tsc) / self.tsc_per_ms;
        self.last = self.last.max(ms);
        self.last
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
    pool: &'a Mempool,
    recirc: &'a mut Recirc,
    rng: &'a mut u64,
    lost: u64,
    dropped: u64,
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
        if let Err(pkt) = p.buf.push(pkt) {
            self.tx_batches += 1;
            self.tx_batch_packets += p.flush();
            let _ = p.buf.push(pkt);
        }
    }

    fn clone_packet(&mut self, pkt: &Mbuf) -> Option<Mbuf> {
        let mut copy = self.pool.alloc()?;
        copy.set_data(pkt.data()).then_some(copy)
    }

    fn upcall(&mut self, data: &[u8], orig_len: usize, st: &PacketState<'_>, u: &UserspaceAction) {
        let Some(mut copy) = self.pool.alloc() else {
            self.lost += 1;
            return;
        };
        if !copy.set_data(data) {
            self.lost += 1;
            return;
        }
        let mut key = FlowKey::ZERO;
        let md = st.metadata();
        fastpath::packet::extract(data, &md, &mut key);
        let up = Upcall {
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
            queued_tsc: rdtsc(),
        };
        if self.upcalls.push(up).is_err() {
            self.lost += 1;
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
        // xorshift64*: cheap and good enough for SAMPLE probabilities.
        let mut x = *self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

impl fastpath::pmd::PmdContext<Mbuf> for Ctx<'_> {
    #[inline]
    fn miss(&mut self, pkt: Mbuf, key: &FlowKey, md: &Metadata) {
        let up = Upcall {
            dp: self.dp,
            pmd: self.pmd,
            kind: UpcallKind::Miss,
            pkt,
            key: *key,
            md: *md,
            queued_tsc: rdtsc(),
        };
        if self.upcalls.push(up).is_err() {
            self.lost += 1;
        }
    }

    fn malformed_drop(&mut self, pkt: Mbuf) {
        self.dropped += 1;
        drop(pkt);
    }
}

#[cfg(test)]
mod tests {
    use super::UpcallQueue;

    #[test]
    fn upcall_queue_holds_its_capacity_and_keeps_a_slot_per_producer_free() {
        let q = UpcallQueue::new(4, 2);
        assert_eq!(q.capacity(), 4);
        for i in 0..4 {
            assert_eq!(q.push(i), Ok(()));
        }
        // Full as far as producers can tell, with two slots still free underneath.
        assert_eq!(q.push(4), Err(4));
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop(), Some(0));
        assert_eq!(q.push(5), Ok(()));
        assert_eq!(q.push(6), Err(6));
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [1, 2, 3, 5]);
        assert!(q.is_empty());
    }
}
