//! A datapath as the model keeps it: settings, vports, flows and the standalone bridge's
//! state, with the counters its PMDs publish.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use odp::family::datapath::features;

use super::flows::Flows;
use super::vport::Vport;
use crate::slowpath::Bridge;
use crate::stats::DpView;

/// Datapath statistics as `ovs_dp_stats` + `ovs_dp_megaflow_stats` report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Lookups that matched a flow.
    pub n_hit: u64,
    /// Lookups that matched none.
    pub n_missed: u64,
    /// Upcalls that could not be delivered.
    pub n_lost: u64,
    /// Installed flows.
    pub n_flows: u64,
    /// Subtables probed over all lookups.
    pub n_mask_hit: u64,
    /// Distinct masks.
    pub n_masks: u32,
    /// Lookups answered by a cache (EMC).
    pub n_cache_hit: u64,
}

/// A datapath.
#[derive(Debug)]
pub struct Datapath {
    /// Name (also its local port's name).
    pub name: String,
    /// The local port's kernel ifindex (the kernel's `dp_ifindex`).
    pub ifindex: u32,
    /// Negotiated `OVS_DP_F_*` user features.
    pub user_features: u32,
    /// Per-CPU (per-PMD) upcall port ids.
    pub per_cpu_pids: Vec<u32>,
    /// Ports by number.
    pub vports: BTreeMap<u32, Vport>,
    /// Flows.
    pub flows: Flows,
    /// The standalone bridge's MAC table and flow index.
    pub bridge: Bridge,
    /// What other threads read.
    pub view: Arc<DpView>,
}

impl Datapath {
    /// Entries of the mask cache (`OVS_DP_ATTR_MASKS_CACHE_SIZE`): the authoritative
    /// classifier's, which every PMD's copies.
    pub fn masks_cache_size(&self) -> u32 {
        u32::try_from(self.flows.classifier().mask_cache_size()).unwrap_or(u32::MAX)
    }

    /// Whether upcalls are dispatched per CPU (`OVS_DP_F_DISPATCH_UPCALL_PER_CPU`).
    pub fn per_cpu(&self) -> bool {
        self.user_features & features::DISPATCH_UPCALL_PER_CPU != 0
    }

    /// Whether upcall packets go unpadded (`OVS_DP_F_UNALIGNED`).
    pub fn unaligned(&self) -> bool {
        self.user_features & features::UNALIGNED != 0
    }

    /// The vport named `name`.
    pub fn vport_named(&self, name: &str) -> Option<&Vport> {
        self.vports.values().find(|v| v.name == name)
    }

    /// Statistics, summed over PMDs.
    pub fn stats(&self) -> DpStats {
        let c = self.flows.classifier();
        let mut s = DpStats {
            n_flows: c.len() as u64,
            n_masks: u32::try_from(c.n_masks()).unwrap_or(u32::MAX),
            n_lost: self.view.ctl_lost.load(Relaxed),
            ..DpStats::default()
        };
        for c in &self.view.pmd {
            let emc = c.emc_hit.load(Relaxed);
            s.n_hit += emc + c.megaflow_hit.load(Relaxed);
            s.n_cache_hit += emc;
            s.n_missed += c.missed.load(Relaxed);
            s.n_lost += c.lost.load(Relaxed);
            s.n_mask_hit += c.mask_hit.load(Relaxed);
        }
        s
    }

    /// Publishes the flow and mask counts for the metrics endpoint.
    pub fn publish_flow_counts(&self) {
        let c = self.flows.classifier();
        self.view.n_flows.store(c.len() as u64, Relaxed);
        self.view.n_masks.store(c.n_masks() as u64, Relaxed);
    }
}
