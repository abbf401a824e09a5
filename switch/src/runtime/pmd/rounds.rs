//! A PMD's round diagnostics: how long each poll round took by the TSC and by the thread's
//! CPU time, the long rounds counted and handed to the control thread to log, and the
//! millisecond clock flows' `used` times come from.

use std::time::Duration;

use fastpath::flow::{monotonic_ms, monotonic_ns};

use crate::dpdk::{rdtsc, tsc_hz};
use crate::stats::{counted_in_cpu_time, PmdShared, CPU_READ_EVERY_US, LONG_ROUNDS};
use std::sync::atomic::Ordering;

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

/// Which of [`LONG_ROUNDS`] is logged ([`LongRound`]): 1 ms, the longest a queue should
/// wait between two polls.
const LONG_ROUND_LOG: usize = 1;
/// Rounds longer than this (µs) are logged ([`LongRound`]).
pub const LONG_ROUND_LOG_US: u64 = LONG_ROUNDS[LONG_ROUND_LOG].0;

/// A PMD's poll-round statistics, kept locally and published at housekeeping.
pub(super) struct RoundStats {
    /// [`LONG_ROUNDS`] in TSC cycles.
    long_cycles: [u64; LONG_ROUNDS.len()],
    rounds: [u64; 2],
    /// TSC cycles spent in rounds, by whether they applied commands.
    round_cycles: [u64; 2],
    long: [[u64; LONG_ROUNDS.len()]; 2],
    max_round: u64,
    pub(super) max_apply: u64,
    pub(super) max_command: u64,
    /// [`CPU_READ_EVERY_US`] in TSC cycles.
    cpu_read_every: u64,
    /// The TSC and the thread's CPU time (ns) at the last CPU-time read.
    cpu_read_tsc: u64,
    cpu_read_ns: u64,
    max_round_cpu_ns: u64,
    long_cpu: [[u64; LONG_ROUNDS.len()]; 2],
    /// Long rounds the control thread's queue had no room for.
    pub(super) unlogged: u64,
}

impl RoundStats {
    /// On the PMD's own thread, whose CPU time it reads.
    pub(super) fn new() -> Self {
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
    pub(super) fn record(&mut self, start: u64, end: u64, applied: bool) -> Option<LongRound> {
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
    pub(super) fn restart_maxima(&mut self) {
        self.max_round = 0;
        self.max_apply = 0;
        self.max_command = 0;
        self.max_round_cpu_ns = 0;
    }

    pub(super) fn publish(&self, s: &PmdShared) {
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

/// CLOCK_MONOTONIC milliseconds for flows' `used` times without a clock_gettime per burst:
/// extrapolated from the TSC, re-anchored every housekeeping round, never going backwards.
pub(super) struct MsClock {
    base_ms: u64,
    base_tsc: u64,
    tsc_per_ms: u64,
    last: u64,
}

impl MsClock {
    pub(super) fn new() -> Self {
        let mut c = MsClock {
            base_ms: 0,
            base_tsc: 0,
            tsc_per_ms: (tsc_hz() / 1000).max(1),
            last: 0,
        };
        c.anchor();
        c
    }

    pub(super) fn anchor(&mut self) {
        self.base_ms = monotonic_ms();
        self.base_tsc = rdtsc();
    }

    /// The time at TSC reading `tsc`.
    #[inline]
    pub(super) fn now(&mut self, tsc: u64) -> u64 {
        let ms = self.base_ms + tsc.wrapping_sub(self.base_tsc) / self.tsc_per_ms;
        self.last = self.last.max(ms);
        self.last
    }
}
