//! Flows: key, mask, compiled actions and per-PMD statistics.

pub mod key;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::actions::CompiledActions;
pub use key::{FlowKey, FlowMask};

/// Upper bound on PMD threads a flow keeps statistics cells for.
pub const MAX_PMDS: usize = 64;

/// One PMD's statistics cell. Written only by its owning PMD (plain relaxed
/// load + store, no read-modify-write), read by the control thread. A cache line each,
/// so PMDs never share one.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct StatsCell {
    packets: AtomicU64,
    bytes: AtomicU64,
    used_ms: AtomicU64,
    tcp_flags: AtomicU64,
}

/// A snapshot of a flow's statistics summed over PMDs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStatsSnapshot {
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
    /// Last use, CLOCK_MONOTONIC milliseconds (0 = never).
    pub used_ms: u64,
    /// TCP flags seen, ORed.
    pub tcp_flags: u16,
}

/// Per-flow statistics: one cache-line cell per PMD, in a single allocation, so recording
/// a hit costs one cache line beyond the flow itself. Cloning shares the cells (a modified
/// flow keeps its statistics, as in the kernel). There is no reset: OVS_FLOW_ATTR_CLEAR is
/// a baseline the control plane subtracts, which keeps the PMD's write a plain store.
#[derive(Clone, Debug)]
pub struct FlowStats {
    cells: Arc<[StatsCell]>,
}

impl FlowStats {
    /// Statistics with `n_pmds` cells (clamped to 1..=[`MAX_PMDS`]).
    pub fn new(n_pmds: usize) -> Self {
        let n = n_pmds.clamp(1, MAX_PMDS);
        Self {
            cells: (0..n).map(|_| StatsCell::default()).collect(),
        }
    }

    /// PMD `pmd`'s cell (indices beyond the cell count share the last cell, which is then
    /// no longer single-writer: size the stats for every PMD).
    #[inline(always)]
    pub fn cell(&self, pmd: usize) -> &StatsCell {
        &self.cells[pmd.min(self.cells.len() - 1)]
    }

    /// Adds a batch of `packets` packets / `bytes` bytes seen at `now_ms` with TCP
    /// flags `tcp_flags` to PMD `pmd`'s cell. Must only be called by that PMD.
    #[inline(always)]
    pub fn record(&self, pmd: usize, packets: u64, bytes: u64, now_ms: u64, tcp_flags: u16) {
        let r = Ordering::Relaxed;
        let c = self.cell(pmd);
        c.packets.store(c.packets.load(r) + packets, r);
        c.bytes.store(c.bytes.load(r) + bytes, r);
        c.used_ms.store(now_ms, r);
        if tcp_flags != 0 {
            c.tcp_flags
                .store(c.tcp_flags.load(r) | u64::from(tcp_flags), r);
        }
    }

    /// Sum over all PMDs (control thread).
    pub fn read(&self) -> FlowStatsSnapshot {
        let r = Ordering::Relaxed;
        let mut s = FlowStatsSnapshot::default();
        for c in self.cells.iter() {
            s.packets += c.packets.load(r);
            s.bytes += c.bytes.load(r);
            s.used_ms = s.used_ms.max(c.used_ms.load(r));
            // Cells only ever hold u16 flags ORed together.
            s.tcp_flags |= u16::try_from(c.tcp_flags.load(r)).unwrap_or(u16::MAX);
        }
        s
    }
}

/// An installed megaflow. Shared as `Arc<Flow>` between the control thread's table and
/// every PMD's classifier and EMC. Immutable except for liveness and statistics: a
/// modify installs a new `Flow` (sharing the statistics) and kills the old one.
#[derive(Debug)]
#[repr(C)]
pub struct Flow {
    // Hot fields first: liveness, actions and stats share the first cache line.
    dead: AtomicBool,
    actions: CompiledActions,
    stats: FlowStats,
    ufid: u128,
    key: FlowKey,
    mask: FlowKey,
}

impl Flow {
    /// A flow matching `key & mask`, identified by `ufid`, with fresh statistics for
    /// `n_pmds` PMDs.
    pub fn new(
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: CompiledActions,
        n_pmds: usize,
    ) -> Self {
        Self::with_stats(ufid, key, mask, actions, FlowStats::new(n_pmds))
    }

    /// Like [`Flow::new`] but sharing existing statistics (used when a flow's actions
    /// are replaced: the kernel keeps the stats).
    pub fn with_stats(
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: CompiledActions,
        stats: FlowStats,
    ) -> Self {
        Self {
            ufid,
            key: key.masked(mask),
            mask: *mask,
            actions,
            stats,
            dead: AtomicBool::new(false),
        }
    }

    /// The flow's UFID.
    #[inline(always)]
    pub fn ufid(&self) -> u128 {
        self.ufid
    }

    /// The masked key.
    #[inline(always)]
    pub fn key(&self) -> &FlowKey {
        &self.key
    }

    /// The mask.
    #[inline(always)]
    pub fn mask(&self) -> &FlowKey {
        &self.mask
    }

    /// The compiled actions.
    #[inline(always)]
    pub fn actions(&self) -> &CompiledActions {
        &self.actions
    }

    /// The statistics (shared with replacements of this flow).
    #[inline(always)]
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Whether the flow is still installed. Caches must not execute a dead flow.
    #[inline(always)]
    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Acquire)
    }

    /// Marks the flow deleted or replaced (control thread, before telling the PMDs).
    pub fn kill(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// Whether `key` (an unmasked packet key) matches this flow.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        let mut acc = 0u64;
        for ((k, m), f) in key.words.iter().zip(&self.mask.words).zip(&self.key.words) {
            acc |= (k & m) ^ f;
        }
        acc == 0
    }
}

/// CLOCK_MONOTONIC in milliseconds (what OVS expects in the USED attribute).
pub fn monotonic_ms() -> u64 {
    monotonic_ns() / 1_000_000
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; 0 ("never used") is the safe fallback anyway.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        let (s, ns) = (u64::try_from(ts.tv_sec()), u64::try_from(ts.tv_nsec()));
        s.unwrap_or(0) * 1_000_000_000 + ns.unwrap_or(0)
    })
}
