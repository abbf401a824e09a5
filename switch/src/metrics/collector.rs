//! The switch's metrics, read at scrape time from the counters PMDs and the control thread
//! publish (relaxed loads; no PMD is stopped or slowed).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::runtime::pmd::rounds::{LONG_ROUND_LOG_TARGET, LONG_ROUND_LOG_US};
use crate::stats::{counted_in_cpu_time, SwitchView, CPU_READ_EVERY_US, LONG_ROUNDS, STAGES};

/// A `prometheus` collector over a [`SwitchView`].
pub struct SwitchCollector {
    view: Arc<SwitchView>,
    dp_lookups: IntCounterVec,
    dp_flows: IntGaugeVec,
    dp_masks: IntGaugeVec,
    dp_mask_hits: IntCounterVec,
    dp_cache_hits: IntCounterVec,
    port_packets: [IntCounterVec; 2],
    port_bytes: [IntCounterVec; 2],
    port_errors: [IntCounterVec; 2],
    port_dropped: [IntCounterVec; 2],
    port_upcalls: IntCounterVec,
    pmd_cycles: IntCounterVec,
    pmd_packets: IntCounterVec,
    pmd_stage_cycles: IntCounterVec,
    pmd_emc_hits: IntCounterVec,
    pmd_megaflow_hits: IntCounterVec,
    pmd_simple_hits: IntCounterVec,
    pmd_upcalls: IntCounterVec,
    pmd_lookups_per_hit: GaugeVec,
    pmd_cycles_per_packet: GaugeVec,
    pmd_batch_size: GaugeVec,
    pmd_max_poll_gap: GaugeVec,
    pmd_max_apply: GaugeVec,
    pmd_max_command: GaugeVec,
    pmd_max_round_cpu: GaugeVec,
    pmd_rounds: IntCounterVec,
    pmd_round_cycles: IntCounterVec,
    pmd_long_rounds: IntCounterVec,
    pmd_long_cpu_rounds: IntCounterVec,
    pmd_long_rounds_unlogged: IntCounterVec,
    upcall_queue_depth: IntGauge,
    mempool_in_use: IntGauge,
    upcalls_lost: IntCounterVec,
}

impl std::fmt::Debug for SwitchCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchCollector").finish_non_exhaustive()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help).namespace("dpswitch"), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help).namespace("dpswitch"), labels).expect("valid metric")
}

fn fgauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help).namespace("dpswitch"), labels).expect("valid metric")
}

fn dir_pair(what: &str, help: &str) -> [IntCounterVec; 2] {
    ["rx", "tx"].map(|d| {
        counter(
            &format!("port_{d}_{what}_total"),
            &format!("{help} ({d})"),
            &["dp", "port"],
        )
    })
}

impl SwitchCollector {
    /// A collector reading `view`.
    pub fn new(view: Arc<SwitchView>) -> Self {
        let pmd = &["pmd"];
        SwitchCollector {
            view,
            dp_lookups: counter(
                "dp_lookups_total",
                "Flow table lookups by result (hit, missed, lost)",
                &["dp", "result"],
            ),
            dp_flows: gauge("dp_flows", "Installed megaflows", &["dp"]),
            dp_masks: gauge("dp_masks", "Distinct megaflow masks", &["dp"]),
            dp_mask_hits: counter(
                "dp_mask_hits_total",
                "Subtables probed over all lookups",
                &["dp"],
            ),
            dp_cache_hits: counter(
                "dp_cache_hits_total",
                "Lookups answered by the exact-match cache",
                &["dp"],
            ),
            port_packets: dir_pair("packets", "Packets"),
            port_bytes: dir_pair("bytes", "Bytes"),
            port_errors: dir_pair("errors", "Errors reported by the device"),
            port_dropped: dir_pair("dropped", "Packets dropped by the device or the switch"),
            port_upcalls: counter(
                "port_upcalls_total",
                "Upcalls for packets from the port, by result",
                &["dp", "port", "result"],
            ),
            pmd_cycles: counter(
                "pmd_cycles_total",
                "TSC cycles of the PMD loop by state (busy, idle)",
                &["pmd", "state"],
            ),
            pmd_packets: counter("pmd_packets_total", "Packets received by the PMD", pmd),
            pmd_stage_cycles: counter(
                "pmd_stage_cycles_total",
                "TSC cycles of busy polls by stage (with --pmd-perf-metrics)",
                &["pmd", "stage"],
            ),
            pmd_emc_hits: counter("pmd_emc_hits_total", "Exact-match cache hits", pmd),
            pmd_megaflow_hits: counter("pmd_megaflow_hits_total", "Megaflow classifier hits", pmd),
            pmd_simple_hits: counter(
                "pmd_simple_match_hits_total",
                "Megaflow hits by simple match (included in pmd_megaflow_hits_total)",
                pmd,
            ),
            pmd_upcalls: counter(
                "pmd_upcalls_total",
                "Misses sent to the control thread",
                pmd,
            ),
            pmd_lookups_per_hit: fgauge(
                "pmd_subtable_lookups_per_megaflow_hit",
                "Average subtables probed per megaflow hit",
                pmd,
            ),
            pmd_cycles_per_packet: fgauge(
                "pmd_cycles_per_packet",
                "Average busy TSC cycles per packet",
                pmd,
            ),
            pmd_batch_size: fgauge("pmd_batch_size", "Average packets per received burst", pmd),
            pmd_max_poll_gap: fgauge(
                "pmd_max_poll_gap_seconds",
                "Longest poll round since start or the last pmd-stats-clear: the longest a queue waited between two polls",
                pmd,
            ),
            pmd_max_apply: fgauge(
                "pmd_max_apply_seconds",
                "Longest time one poll round spent applying control commands (flow and port updates) since start or the last pmd-stats-clear",
                pmd,
            ),
            pmd_max_command: fgauge(
                "pmd_max_command_seconds",
                "Longest time one control command took to apply since start or the last pmd-stats-clear",
                pmd,
            ),
            pmd_max_round_cpu: fgauge(
                "pmd_max_poll_round_cpu_seconds",
                &format!("The PMD thread's CPU time in its longest poll round (plus up to {CPU_READ_EVERY_US} us) since start or the last pmd-stats-clear: its own work between two polls, without the time its core was given to others"),
                pmd,
            ),
            pmd_rounds: counter(
                "pmd_poll_rounds_total",
                "Poll rounds, by whether they applied control commands",
                &["pmd", "commands"],
            ),
            pmd_round_cycles: counter(
                "pmd_poll_round_cycles_total",
                "TSC cycles spent in poll rounds, by whether they applied control commands",
                &["pmd", "commands"],
            ),
            pmd_long_rounds: counter(
                "pmd_long_poll_rounds_total",
                "Poll rounds longer than `over`, by whether they applied control commands",
                &["pmd", "over", "commands"],
            ),
            pmd_long_cpu_rounds: counter(
                "pmd_long_poll_rounds_cpu_total",
                &format!("Poll rounds that used more than `over` of the PMD thread's CPU time (the thread used over `over` plus {CPU_READ_EVERY_US} us between two reads of its CPU time), by whether they applied control commands"),
                &["pmd", "over", "commands"],
            ),
            pmd_long_rounds_unlogged: counter(
                "pmd_long_poll_rounds_unlogged_total",
                &format!("Poll rounds over {LONG_ROUND_LOG_US} us left out of the long-round log (target {LONG_ROUND_LOG_TARGET}) because its queue was full"),
                pmd,
            ),
            upcall_queue_depth: IntGauge::with_opts(
                Opts::new(
                    "upcall_queue_depth",
                    "Upcalls waiting for the control thread",
                )
                .namespace("dpswitch"),
            )
            .expect("valid metric"),
            mempool_in_use: IntGauge::with_opts(
                Opts::new(
                    "mempool_in_use_mbufs",
                    "Packet buffers taken from the pool (in rings, queues or flight)",
                )
                .namespace("dpswitch"),
            )
            .expect("valid metric"),
            upcalls_lost: counter(
                "upcalls_lost_total",
                "Upcalls dropped (queue full or undeliverable)",
                &["dp"],
            ),
        }
    }

    fn counter_vecs(&self) -> Vec<&IntCounterVec> {
        let mut v = vec![
            &self.dp_lookups,
            &self.dp_mask_hits,
            &self.dp_cache_hits,
            &self.port_upcalls,
            &self.pmd_cycles,
            &self.pmd_packets,
            &self.pmd_stage_cycles,
            &self.pmd_emc_hits,
            &self.pmd_megaflow_hits,
            &self.pmd_simple_hits,
            &self.pmd_upcalls,
            &self.pmd_rounds,
            &self.pmd_round_cycles,
            &self.pmd_long_rounds,
            &self.pmd_long_cpu_rounds,
            &self.pmd_long_rounds_unlogged,
            &self.upcalls_lost,
        ];
        for pair in [
            &self.port_packets,
            &self.port_bytes,
            &self.port_errors,
            &self.port_dropped,
        ] {
            v.extend(pair.iter());
        }
        v
    }

    /// The per-PMD float gauges, reset and collected together.
    fn pmd_gauges(&self) -> [&GaugeVec; 7] {
        [
            &self.pmd_lookups_per_hit,
            &self.pmd_cycles_per_packet,
            &self.pmd_batch_size,
            &self.pmd_max_poll_gap,
            &self.pmd_max_apply,
            &self.pmd_max_command,
            &self.pmd_max_round_cpu,
        ]
    }

    fn refresh(&self) {
        for c in self.counter_vecs() {
            c.reset();
        }
        for g in [&self.dp_flows, &self.dp_masks] {
            g.reset();
        }
        for g in self.pmd_gauges() {
            g.reset();
        }
        let view = &self.view;
        self.upcall_queue_depth
            .set(view.upcall_backlog.load(Relaxed) as i64);
        self.mempool_in_use
            .set(view.mbufs_in_use.load(Relaxed) as i64);
        let dps = view
            .dps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for dp in dps.iter() {
            let name = dp.name.as_str();
            let (mut hit, mut missed, mut lost, mut mask_hit, mut cache) =
                (0, 0, dp.ctl_lost.load(Relaxed), 0, 0);
            for c in &dp.pmd {
                let (emc, mf, miss) = (
                    c.emc_hit.load(Relaxed),
                    c.megaflow_hit.load(Relaxed),
                    c.missed.load(Relaxed),
                );
                hit += emc + mf;
                cache += emc;
                missed += miss;
                lost += c.lost.load(Relaxed);
                mask_hit += c.mask_hit.load(Relaxed);
            }
            self.dp_lookups
                .with_label_values(&[name, "hit"])
                .inc_by(hit);
            self.dp_lookups
                .with_label_values(&[name, "missed"])
                .inc_by(missed);
            self.dp_lookups
                .with_label_values(&[name, "lost"])
                .inc_by(lost);
            self.upcalls_lost.with_label_values(&[name]).inc_by(lost);
            self.dp_mask_hits
                .with_label_values(&[name])
                .inc_by(mask_hit);
            self.dp_cache_hits.with_label_values(&[name]).inc_by(cache);
            self.dp_flows
                .with_label_values(&[name])
                .set(dp.n_flows.load(Relaxed) as i64);
            self.dp_masks
                .with_label_values(&[name])
                .set(dp.n_masks.load(Relaxed) as i64);
            let ports = dp
                .ports
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for p in ports.iter() {
                let labels = [name, p.name.as_str()];
                let st = p.device.stats();
                let sw = &p.counters;
                self.port_packets[0]
                    .with_label_values(&labels)
                    .inc_by(st.rx_packets);
                self.port_packets[1]
                    .with_label_values(&labels)
                    .inc_by(st.tx_packets);
                self.port_bytes[0]
                    .with_label_values(&labels)
                    .inc_by(st.rx_bytes);
                self.port_bytes[1]
                    .with_label_values(&labels)
                    .inc_by(st.tx_bytes);
                self.port_errors[0]
                    .with_label_values(&labels)
                    .inc_by(st.rx_errors);
                self.port_errors[1]
                    .with_label_values(&labels)
                    .inc_by(st.tx_errors);
                let (rx_dropped, tx_dropped) = sw.dropped(&st);
                self.port_dropped[0]
                    .with_label_values(&labels)
                    .inc_by(rx_dropped);
                self.port_dropped[1]
                    .with_label_values(&labels)
                    .inc_by(tx_dropped);
                self.port_upcalls
                    .with_label_values(&[name, p.name.as_str(), "success"])
                    .inc_by(sw.upcall_success.load(Relaxed));
                self.port_upcalls
                    .with_label_values(&[name, p.name.as_str(), "fail"])
                    .inc_by(sw.upcall_fail.load(Relaxed));
            }
        }
        drop(dps);
        for (pmd, p) in view.pmds.iter().zip(view.pmd_counters()) {
            let label = pmd.lcore.to_string();
            let l = [label.as_str()];
            let s = &pmd.shared;
            let (busy, idle, bursts, rx) = (p.busy_cycles, p.idle_cycles, p.bursts, p.packets);
            self.pmd_cycles
                .with_label_values(&[label.as_str(), "busy"])
                .inc_by(busy);
            self.pmd_cycles
                .with_label_values(&[label.as_str(), "idle"])
                .inc_by(idle);
            self.pmd_packets.with_label_values(&l).inc_by(p.passes);
            if s.stage_timing.load(Relaxed) {
                for (stage, c) in STAGES.iter().zip(&s.stage_cycles) {
                    self.pmd_stage_cycles
                        .with_label_values(&[label.as_str(), stage])
                        .inc_by(c.load(Relaxed));
                }
            }
            self.pmd_emc_hits.with_label_values(&l).inc_by(p.emc_hit);
            self.pmd_megaflow_hits
                .with_label_values(&l)
                .inc_by(p.megaflow_hit);
            self.pmd_simple_hits
                .with_label_values(&l)
                .inc_by(p.simple_hit);
            self.pmd_upcalls.with_label_values(&l).inc_by(p.miss);
            let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            self.pmd_lookups_per_hit
                .with_label_values(&l)
                .set(ratio(p.mask_hit, p.megaflow_hit));
            self.pmd_cycles_per_packet
                .with_label_values(&l)
                .set(ratio(busy, rx));
            self.pmd_batch_size
                .with_label_values(&l)
                .set(ratio(rx, bursts));
            self.pmd_max_poll_gap
                .with_label_values(&l)
                .set(ratio(s.max_poll_gap_cycles.load(Relaxed), view.tsc_hz));
            self.pmd_max_apply
                .with_label_values(&l)
                .set(ratio(s.max_apply_cycles.load(Relaxed), view.tsc_hz));
            self.pmd_max_command
                .with_label_values(&l)
                .set(ratio(s.max_command_cycles.load(Relaxed), view.tsc_hz));
            self.pmd_max_round_cpu
                .with_label_values(&l)
                .set(s.max_round_cpu_ns.load(Relaxed) as f64 / 1e9);
            self.pmd_long_rounds_unlogged
                .with_label_values(&l)
                .inc_by(s.long_rounds_unlogged.load(Relaxed));
            for (a, commands) in ["no", "yes"].into_iter().enumerate() {
                self.pmd_rounds
                    .with_label_values(&[label.as_str(), commands])
                    .inc_by(s.rounds[a].load(Relaxed));
                self.pmd_round_cycles
                    .with_label_values(&[label.as_str(), commands])
                    .inc_by(s.round_cycles[a].load(Relaxed));
                for ((_, over), n) in LONG_ROUNDS.iter().zip(&s.long_rounds[a]) {
                    self.pmd_long_rounds
                        .with_label_values(&[label.as_str(), over, commands])
                        .inc_by(n.load(Relaxed));
                }
                for ((us, over), n) in LONG_ROUNDS.iter().zip(&s.long_cpu_rounds[a]) {
                    if counted_in_cpu_time(*us) {
                        self.pmd_long_cpu_rounds
                            .with_label_values(&[label.as_str(), over, commands])
                            .inc_by(n.load(Relaxed));
                    }
                }
            }
        }
    }
}

impl Collector for SwitchCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d: Vec<&Desc> = self
            .counter_vecs()
            .into_iter()
            .flat_map(Collector::desc)
            .collect();
        d.extend(self.dp_flows.desc());
        d.extend(self.dp_masks.desc());
        d.extend(self.pmd_gauges().into_iter().flat_map(Collector::desc));
        d.extend(self.upcall_queue_depth.desc());
        d.extend(self.mempool_in_use.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        let mut out: Vec<MetricFamily> = self
            .counter_vecs()
            .into_iter()
            .flat_map(Collector::collect)
            .collect();
        out.extend(self.dp_flows.collect());
        out.extend(self.dp_masks.collect());
        out.extend(self.pmd_gauges().into_iter().flat_map(Collector::collect));
        out.extend(self.upcall_queue_depth.collect());
        out.extend(self.mempool_in_use.collect());
        out
    }
}

/// Registers the switch's collector and its directly-updated metrics in `registry`.
///
/// # Errors
/// When a metric is registered twice.
pub fn register(registry: &prometheus::Registry, view: &Arc<SwitchView>) -> prometheus::Result<()> {
    registry.register(Box::new(SwitchCollector::new(view.clone())))?;
    registry.register(Box::new(view.upcall_latency.clone()))?;
    registry.register(Box::new(view.requests.clone()))?;
    Ok(())
}
