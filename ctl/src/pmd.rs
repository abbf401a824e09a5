//! `pmd-stats-show`, `pmd-stats-clear` and `pmd-rxq-show` text, in the layout of OVS-DPDK
//! 3.1's `ovs-appctl dpif-netdev/pmd-stats-show` / `pmd-rxq-show`.

use std::fmt::Write;

use odp::pmd_stats::{PmdCounters, PmdInfo};

fn header(p: &PmdInfo) -> String {
    format!("pmd thread numa_id {} core_id {}:\n", p.numa, p.core)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// One PMD's `pmd-stats-show` section.
///
/// Lines for OVS features dpswitch lacks (partial hardware offload, miniflow-extract
/// optimisation, the signature match cache) print 0, as OVS does with them off. As in OVS,
/// "megaflow hits" excludes the simple-match hits printed above it.
pub fn stats_section(p: &PmdInfo) -> String {
    let c = p.counters.unwrap_or_default();
    let PmdCounters {
        packets,
        passes,
        emc_hit,
        megaflow_hit,
        simple_hit,
        mask_hit,
        miss,
        lost,
        busy_cycles,
        idle_cycles,
        tx_batches,
        tx_batch_packets,
        ..
    } = c;
    let recirc = passes.saturating_sub(packets);
    let mut s = header(p);
    let _ = write!(
        s,
        "  packets received: {packets}\n  \
         packet recirculations: {recirc}\n  \
         avg. datapath passes per packet: {:.2}\n  \
         phwol hits: 0\n  \
         mfex opt hits: 0\n  \
         simple match hits: {simple_hit}\n  \
         emc hits: {emc_hit}\n  \
         smc hits: 0\n  \
         megaflow hits: {}\n  \
         avg. subtable lookups per megaflow hit: {:.2}\n  \
         miss with success upcall: {miss}\n  \
         miss with failed upcall: {lost}\n  \
         avg. packets per output batch: {:.2}\n",
        ratio(packets + recirc, packets),
        megaflow_hit.saturating_sub(simple_hit),
        ratio(mask_hit, megaflow_hit),
        ratio(tx_batch_packets, tx_batches),
    );
    let total = idle_cycles + busy_cycles;
    if total == 0 {
        return s;
    }
    let _ = write!(
        s,
        "  idle cycles: {idle_cycles} ({:.2}%)\n  processing cycles: {busy_cycles} ({:.2}%)\n",
        ratio(idle_cycles, total) * 100.0,
        ratio(busy_cycles, total) * 100.0,
    );
    if packets == 0 {
        return s;
    }
    let _ = write!(
        s,
        "  avg cycles per packet: {:.2} ({total}/{packets})\n  \
         avg processing cycles per packet: {:.2} ({busy_cycles}/{packets})\n",
        ratio(total, packets),
        ratio(busy_cycles, packets),
    );
    s
}

/// One PMD's `pmd-rxq-show` section: each queue's share of the PMD's cycles over the usage
/// window, and the share spent on none, or "NOT AVAIL" before a window has been measured,
/// as OVS prints.
pub fn rxq_section(p: &PmdInfo) -> String {
    let pct = |v: Option<u8>| v.map_or_else(|| "NOT AVAIL".to_string(), |v| format!("{v:>2} %"));
    let mut s = header(p);
    let _ = writeln!(s, "  isolated : {}", p.isolated);
    for q in &p.rxqs {
        let _ = writeln!(
            s,
            "  port: {:<16}  queue-id: {:>2} (enabled)   pmd usage: {}",
            q.port,
            q.queue,
            pct(q.usage)
        );
    }
    let _ = writeln!(s, "  overhead: {}", pct(p.overhead));
    s
}

/// PMDs in OVS's order: by NUMA node, then core.
pub fn sorted(mut pmds: Vec<PmdInfo>) -> Vec<PmdInfo> {
    pmds.sort_by_key(|p| (p.numa, p.core));
    pmds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_section_has_ovs_layout_and_ratios() {
        let p = PmdInfo {
            id: 0,
            core: 1,
            numa: 0,
            counters: Some(PmdCounters {
                packets: 100,
                passes: 150,
                emc_hit: 90,
                megaflow_hit: 8,
                simple_hit: 3,
                mask_hit: 12,
                miss: 2,
                lost: 1,
                busy_cycles: 250,
                idle_cycles: 750,
                bursts: 10,
                tx_batches: 40,
                tx_batch_packets: 98,
            }),
            ..PmdInfo::default()
        };
        let s = stats_section(&p);
        assert!(s.starts_with("pmd thread numa_id 0 core_id 1:\n  packets received: 100\n"));
        assert!(s.contains("  packet recirculations: 50\n"));
        assert!(s.contains("  avg. datapath passes per packet: 1.50\n"));
        // Simple-match hits print on their own line and out of the megaflow hits.
        assert!(s.contains(
            "  simple match hits: 3\n  emc hits: 90\n  smc hits: 0\n  megaflow hits: 5\n"
        ));
        assert!(s.contains("  avg. subtable lookups per megaflow hit: 1.50\n"));
        assert!(s.contains("  miss with success upcall: 2\n  miss with failed upcall: 1\n"));
        assert!(s.contains("  avg. packets per output batch: 2.45\n"));
        assert!(s.contains("  idle cycles: 750 (75.00%)\n  processing cycles: 250 (25.00%)\n"));
        assert!(s.ends_with(
            "  avg cycles per packet: 10.00 (1000/100)\n  avg processing cycles per packet: 2.50 (250/100)\n"
        ));
    }

    #[test]
    fn idle_pmd_stops_after_the_counts() {
        let s = stats_section(&PmdInfo::default());
        assert!(
            s.ends_with("  avg. packets per output batch: 0.00\n"),
            "{s}"
        );
    }

    #[test]
    fn rxq_section_lists_queues() {
        let p = PmdInfo {
            core: 3,
            rxqs: vec![odp::pmd_stats::RxqInfo {
                port: "p0".into(),
                queue: 0,
                usage: None,
            }],
            ..PmdInfo::default()
        };
        assert_eq!(
            rxq_section(&p),
            "pmd thread numa_id 0 core_id 3:\n  isolated : false\n  port: p0                queue-id:  0 (enabled)   pmd usage: NOT AVAIL\n  overhead: NOT AVAIL\n"
        );
        let measured = PmdInfo {
            core: 3,
            rxqs: vec![
                odp::pmd_stats::RxqInfo {
                    port: "p0".into(),
                    queue: 0,
                    usage: Some(42),
                },
                odp::pmd_stats::RxqInfo {
                    port: "p1".into(),
                    queue: 1,
                    usage: Some(5),
                },
            ],
            overhead: Some(3),
            ..PmdInfo::default()
        };
        assert_eq!(
            rxq_section(&measured),
            "pmd thread numa_id 0 core_id 3:\n  isolated : false\n  port: p0                queue-id:  0 (enabled)   pmd usage: 42 %\n  port: p1                queue-id:  1 (enabled)   pmd usage:  5 %\n  overhead:  3 %\n"
        );
    }
}
