//! Flows: key, mask, compiled actions and per-PMD statistics.

pub mod key;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::actions::CompiledActions;
pub use key::{FlowKey, FlowMask};

/// Upper bound on PMD threads a flow keeps statistics cells for.
pub const MAX_PMDS: usize = 64;

/// One PMD's statistics cell. Written only by its owning PMD (plain relaxed
/// load + store, no read-modify-write), read by the control thread.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct StatsCell {
    packets: AtomicU64,
    bytes: AtomicU64,
    used_ms: AtomicU64,
    tcp_flags: AtomicU64,
    /// The [`FlowStats`] clear epoch these counters belong to.
    epoch: AtomicU64,
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

/// Per-flow statistics: one cache-line cell per PMD, plus a clear epoch bumped by the
/// control thread (OVS_FLOW_ATTR_CLEAR). A PMD resets its own cell the first time it
/// records after a clear; readers ignore cells still in an older epoch.
#[derive(Debug)]
pub struct FlowStats {
    epoch: AtomicU64,
    cells: Box<[StatsCell]>,
}

impl FlowStats {
    /// Statistics with `n_pmds` cells (clamped to 1..=[`MAX_PMDS`]).
    pub fn new(n_pmds: usize) -> Self {
        let n = n_pmds.clamp(1, MAX_PMDS);
        Self {
            epoch: AtomicU64::new(0),
            cells: (0..n).map(|_| StatsCell::default()).collect(),
        }
    }

    /// Adds a batch of `packets` packets / `bytes` bytes seen at `now_ms` with TCP
    /// flags `tcp_flags` to PMD `pmd`'s cell (indices beyond the cell count share the
    /// last cell, which is then no longer single-writer: size the stats for every PMD).
    /// Must only be called by that PMD.
    #[inline(always)]
    pub fn record(&self, pmd: usize, packets: u64, bytes: u64, now_ms: u64, tcp_flags: u16) {
        let r = Ordering::Relaxed;
        let c = &self.cells[pmd.min(self.cells.len() - 1)];
        let epoch = self.epoch.load(r);
        let (p0, b0, f0) = if c.epoch.load(r) == epoch {
            (c.packets.load(r), c.bytes.load(r), c.tcp_flags.load(r))
        } else {
            (0, 0, 0)
        };
        c.packets.store(p0 + packets, r);
        c.bytes.store(b0 + bytes, r);
        c.used_ms.store(now_ms, r);
        c.tcp_flags.store(f0 | u64::from(tcp_flags), r);
        // Release: a reader that sees the new epoch sees the reset counters.
        c.epoch.store(epoch, Ordering::Release);
    }

    /// Sum over all PMDs (control thread).
    pub fn read(&self) -> FlowStatsSnapshot {
        let r = Ordering::Relaxed;
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut s = FlowStatsSnapshot::default();
        for c in self.cells.iter() {
            if c.epoch.load(Ordering::Acquire) != epoch {
                continue;
            }
            s.packets += c.packets.load(r);
            s.bytes += c.bytes.load(r);
            s.used_ms = s.used_ms.max(c.used_ms.load(r));
            s.tcp_flags |= c.tcp_flags.load(r) as u16;
        }
        s
    }

    /// Zeroes the statistics (control thread; OVS_FLOW_ATTR_CLEAR).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
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
    stats: Arc<FlowStats>,
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
        Self::with_stats(ufid, key, mask, actions, Arc::new(FlowStats::new(n_pmds)))
    }

    /// Like [`Flow::new`] but sharing existing statistics (used when a flow's actions
    /// are replaced: the kernel keeps the stats).
    pub fn with_stats(
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: CompiledActions,
        stats: Arc<FlowStats>,
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
    pub fn stats(&self) -> &Arc<FlowStats> {
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
    // CLOCK_MONOTONIC cannot fail on Linux; 0 ("never used") is the safe fallback anyway.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        (ts.tv_sec() as u64) * 1000 + (ts.tv_nsec() as u64) / 1_000_000
    })
}
