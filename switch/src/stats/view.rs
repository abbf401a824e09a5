//! What the control thread shares with readers on other threads (the metrics endpoint) and
//! with the PMD family: live counters behind `Arc`s and short-lived locks taken only on
//! control-plane changes and scrapes, never by a PMD.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use odp::pmd_stats::PmdCounters;

use super::{DpPmdCounters, PmdShared, PortStats, VportCounters};

/// A device whose counters can be read from any thread (DPDK's stats reads are
/// thread-safe).
pub trait DeviceStats: Send + Sync + std::fmt::Debug {
    /// The device's counters now.
    fn stats(&self) -> PortStats;
    /// Whether its link is up (a down port drops what it is given, as a down internal
    /// port does in the kernel).
    fn link_up(&self) -> bool {
        true
    }
}

/// A port as readers see it.
#[derive(Debug)]
pub struct PortView {
    /// Port number.
    pub port_no: u32,
    /// Vport name.
    pub name: String,
    /// The device, for its counters.
    pub device: Arc<dyn DeviceStats>,
    /// Software counters.
    pub counters: Arc<VportCounters>,
    /// The PMD (index into [`SwitchView::pmds`]) polling each rx queue, by queue id.
    pub rxq_pmd: Vec<usize>,
    /// TSC cycles each rx queue's bursts took its PMD, by queue id.
    pub rxq_cycles: Vec<Arc<AtomicU64>>,
}

/// A datapath as readers see it.
#[derive(Debug)]
pub struct DpView {
    /// Name.
    pub name: String,
    /// Per-PMD fast-path counters.
    pub pmd: Vec<Arc<DpPmdCounters>>,
    /// Upcalls lost on the control thread (send failures).
    pub ctl_lost: AtomicU64,
    /// Installed flows (kept current by the control thread).
    pub n_flows: AtomicU64,
    /// Distinct masks.
    pub n_masks: AtomicU64,
    /// Ports; the control thread removes an entry before it closes the device.
    pub ports: Mutex<Vec<PortView>>,
}

impl DpView {
    /// A datapath's counters, zero, for `n_pmds` PMDs.
    pub fn new(name: &str, n_pmds: usize) -> Self {
        DpView {
            name: name.to_string(),
            pmd: (0..n_pmds).map(|_| Arc::default()).collect(),
            ctl_lost: AtomicU64::new(0),
            n_flows: AtomicU64::new(0),
            n_masks: AtomicU64::new(0),
            ports: Mutex::new(Vec::new()),
        }
    }
}

/// A PMD as readers see it.
#[derive(Debug, Clone)]
pub struct PmdView {
    /// PMD number.
    pub id: usize,
    /// Its lcore.
    pub lcore: u32,
    /// The NUMA node of its lcore.
    pub numa: u32,
    /// Its published counters.
    pub shared: Arc<PmdShared>,
}

/// Everything readers can see.
#[derive(Debug)]
pub struct SwitchView {
    /// Datapaths.
    pub dps: Mutex<Vec<Arc<DpView>>>,
    /// PMDs.
    pub pmds: Vec<PmdView>,
    /// Upcalls waiting for the control thread (published by it every round).
    pub upcall_backlog: AtomicU64,
    /// Packet buffers taken from the pool (published by the control thread every round).
    pub mbufs_in_use: AtomicU64,
    /// TSC ticks per second, to turn cycles into seconds.
    pub tsc_hz: u64,
    /// Time from a PMD queuing an upcall to the control thread finishing it.
    pub upcall_latency: prometheus::Histogram,
    /// Control requests by family, command and result.
    pub requests: prometheus::IntCounterVec,
}

/// Locks a mutex shared with readers; a reader that panicked left nothing half-written (they
/// only read), so a poisoned lock is used as is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SwitchView {
    /// A view of `pmds`, with no datapath yet.
    pub fn new(pmds: Vec<PmdView>, tsc_hz: u64) -> Self {
        SwitchView {
            dps: Mutex::new(Vec::new()),
            pmds,
            upcall_backlog: AtomicU64::new(0),
            mbufs_in_use: AtomicU64::new(0),
            tsc_hz,
            upcall_latency: prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "dpswitch_upcall_handling_seconds",
                    "Time from a PMD queuing an upcall until the control thread has handled it",
                )
                .buckets(prometheus::exponential_buckets(1e-6, 4.0, 10).expect("valid buckets")),
            )
            .expect("valid histogram"),
            requests: prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "dpswitch_control_requests_total",
                    "Netlink control requests by family, command and result",
                ),
                &["family", "command", "result"],
            )
            .expect("valid counter"),
        }
    }

    /// Every PMD's counters now, summed over the datapaths it serves (for /metrics and
    /// `pmd-stats-show`). `passes` are the packets it looked up (received plus
    /// recirculated); `packets` those it received.
    pub fn pmd_counters(&self) -> Vec<PmdCounters> {
        let mut out: Vec<PmdCounters> = self
            .pmds
            .iter()
            .map(|p| {
                let s = &p.shared;
                PmdCounters {
                    packets: s.rx_packets.load(Relaxed),
                    busy_cycles: s.busy_cycles.load(Relaxed),
                    idle_cycles: s.idle_cycles.load(Relaxed),
                    bursts: s.bursts.load(Relaxed),
                    tx_batches: s.tx_batches.load(Relaxed),
                    tx_batch_packets: s.tx_batch_packets.load(Relaxed),
                    ..PmdCounters::default()
                }
            })
            .collect();
        for dp in lock(&self.dps).iter() {
            for (c, d) in out.iter_mut().zip(&dp.pmd) {
                c.passes += d.packets.load(Relaxed);
                c.emc_hit += d.emc_hit.load(Relaxed);
                c.megaflow_hit += d.megaflow_hit.load(Relaxed);
                c.simple_hit += d.simple_hit.load(Relaxed);
                c.mask_hit += d.mask_hit.load(Relaxed);
                c.miss += d.missed.load(Relaxed);
                c.lost += d.lost.load(Relaxed);
            }
        }
        out
    }
}
