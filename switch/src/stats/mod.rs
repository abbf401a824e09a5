//! The counters threads share: what PMDs publish (single writer, relaxed stores, read by the
//! control thread, the metrics endpoint and the PMD family) and what the control thread adds
//! for rare events. Plain atomics, no DPDK types, so everything that reads them can be
//! tested without EAL. [`view`] is how other threads find them.

pub mod usage;
pub mod view;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use view::{DeviceStats, DpView, PmdView, PortView, SwitchView};

/// The device's basic counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets dropped by the device because no descriptor was free.
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Counters the PMDs and the control thread add to (rare events only: drops, upcalls).
#[derive(Debug, Default)]
pub struct VportCounters {
    /// Packets the device refused to transmit (freed).
    pub tx_dropped: AtomicU64,
    /// Packets received on this port that were dropped in software (no flow room, malformed).
    pub rx_dropped: AtomicU64,
    /// Upcalls for packets from this port delivered to a controller.
    pub upcall_success: AtomicU64,
    /// Upcalls for packets from this port that could not be delivered.
    pub upcall_fail: AtomicU64,
}

impl VportCounters {
    /// A port's receive and transmit drops as the vport reports them, everywhere (netlink
    /// vport stats, /metrics): the device's missed packets and mbuf allocation failures plus
    /// the software's drops on receive; the device's refusals on transmit.
    pub fn dropped(&self, dev: &PortStats) -> (u64, u64) {
        (
            dev.rx_missed + dev.rx_nombuf + self.rx_dropped.load(Ordering::Relaxed),
            self.tx_dropped.load(Ordering::Relaxed),
        )
    }

    /// Adds `n` to a counter (rare events: a plain atomic add is fine).
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
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
    /// Packets its `ct` actions found invalid (`+trk+inv`).
    pub ct_invalid: AtomicU64,
    /// Rx queues pinned to it by `pmd-rxq-affinity` (the control thread keeps this): a PMD
    /// with any is isolated, polling no other queue.
    pub pinned_rxqs: AtomicU64,
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
    /// Long rounds not logged because the control thread's queue was full.
    pub long_rounds_unlogged: AtomicU64,
}

/// How often (µs) a PMD reads its thread's CPU time. Unlike the TSC, that clock stops while
/// the kernel runs another task on the core or the hypervisor reports the vCPU's time as
/// stolen, so a round's CPU time is the PMD's own work (and the interrupts its core handled
/// meanwhile). One read is a system call (~0.5 µs): 0.25 % of the PMD.
pub const CPU_READ_EVERY_US: u64 = 200;

/// Whether rounds over `over_us` are counted by CPU time too: only lengths beyond the read
/// interval, which bounds a round's CPU time no closer.
pub const fn counted_in_cpu_time(over_us: u64) -> bool {
    over_us > CPU_READ_EVERY_US
}

/// The poll-round lengths, in µs, beyond which [`PmdShared::long_rounds`] counts a round,
/// with their metric labels.
pub const LONG_ROUNDS: [(u64, &str); 3] = [(100, "100us"), (1_000, "1ms"), (10_000, "10ms")];

/// The stages of a busy poll whose cycles a PMD counts when `stage_timing` is on: receive
/// (the rx burst), the fast path's four ([`fastpath::pmd::StageCycles`]) and transmit (the
/// flush of the per-port tx batches).
pub const STAGES: [&str; 6] = ["rx", "extract", "emc", "dpcls", "actions", "tx"];
