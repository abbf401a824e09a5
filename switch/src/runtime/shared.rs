//! What the control thread shares with readers on other threads (the metrics endpoint): live
//! counters behind `Arc`s and short-lived locks taken only on control-plane changes and
//! scrapes, never by a PMD.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use odp::pmd_stats::PmdCounters;
use std::sync::{Arc, Mutex};

use super::pmd_thread::{DpPmdCounters, PmdShared, UpcallQueue};
use super::vport::VportCounters;
use crate::dpdk::Port;

/// A port as readers see it.
#[derive(Debug)]
pub struct PortView {
    /// Port number.
    pub port_no: u32,
    /// Vport name.
    pub name: String,
    /// The device (for its counters; DPDK stats reads are thread-safe).
    pub port: Port,
    /// Software counters.
    pub counters: Arc<VportCounters>,
    /// The PMD (index into [`SwitchView::pmds`]) polling each rx queue, by queue id.
    pub rxq_pmd: Vec<usize>,
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
    /// The upcall queue (for its depth).
    pub upcalls: Arc<UpcallQueue>,
    /// The packet pool (for its mbufs in use).
    pub pool: Arc<crate::dpdk::Mempool>,
    /// TSC ticks per second, to turn cycles into seconds.
    pub tsc_hz: u64,
    /// Time from a PMD queuing an upcall to the control thread finishing it.
    pub upcall_latency: prometheus::Histogram,
    /// Control requests by family, command and result.
    pub requests: prometheus::IntCounterVec,
}

impl SwitchView {
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
        let dps = self
            .dps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for dp in dps.iter() {
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
