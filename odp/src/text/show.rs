//! `ovs-dpctl show` output (spec §12.1).

use crate::family::datapath::{DpMegaflowStats, DpStats};
use crate::family::vport::{UpcallStats, VportStats};

/// One port line of `show`.
#[derive(Debug, Clone, Default)]
pub struct ShowPort {
    /// Port number.
    pub port_no: u32,
    /// Port name.
    pub name: String,
    /// Userspace type name (`system`, `internal`, `vxlan`, …).
    pub type_name: String,
    /// Netdev configuration `key=value` pairs (printed sorted by key).
    pub config: Vec<(String, String)>,
    /// Port statistics (`-s`).
    pub stats: Option<VportStats>,
    /// Upcall statistics (`-s`).
    pub upcall: Option<UpcallStats>,
}

/// Datapath-level inputs of `show`.
#[derive(Debug, Clone, Default)]
pub struct ShowDatapath {
    /// Datapath name (printed as `system@NAME:`).
    pub name: String,
    /// `OVS_DP_ATTR_STATS`.
    pub stats: DpStats,
    /// `OVS_DP_ATTR_MEGAFLOW_STATS`, if the reply had it.
    pub megaflow: Option<DpMegaflowStats>,
    /// `OVS_DP_ATTR_MASKS_CACHE_SIZE`, if the reply had it.
    pub masks_cache_size: Option<u32>,
    /// Ports (sorted by number when printed).
    pub ports: Vec<ShowPort>,
}

fn human(bytes: u64) -> String {
    let v = bytes as f64;
    const K: f64 = 1024.0;
    if v >= K * K * K * K {
        format!(" ({:.1} TiB)", v / (K * K * K * K))
    } else if v >= K * K * K {
        format!(" ({:.1} GiB)", v / (K * K * K))
    } else if v >= K * K {
        format!(" ({:.1} MiB)", v / (K * K))
    } else if v >= K {
        format!(" ({:.1} KiB)", v / K)
    } else {
        String::new()
    }
}

/// Format one datapath like `ovs-dpctl show [-s]`.
pub fn format_show(dp: &ShowDatapath, with_stats: bool) -> String {
    let s = &dp.stats;
    let mut o = format!("system@{}:\n", dp.name);
    o.push_str(&format!(
        "  lookups: hit:{} missed:{} lost:{}\n",
        s.n_hit, s.n_missed, s.n_lost
    ));
    o.push_str(&format!("  flows: {}\n", s.n_flows));
    let pkts = s.n_hit.saturating_add(s.n_missed);
    if let Some(m) = &dp.megaflow {
        let per = if pkts == 0 {
            0.0
        } else {
            m.n_mask_hit as f64 / pkts as f64
        };
        o.push_str(&format!(
            "  masks: hit:{} total:{} hit/pkt:{:.2}\n",
            m.n_mask_hit, m.n_masks, per
        ));
        if m.n_cache_hit != 0 {
            let rate = if pkts == 0 {
                0.0
            } else {
                m.n_cache_hit as f64 / pkts as f64 * 100.0
            };
            o.push_str(&format!(
                "  cache: hit:{} hit-rate:{:.2}%\n",
                m.n_cache_hit, rate
            ));
        }
    }
    if let Some(n) = dp.masks_cache_size {
        o.push_str(&format!("  caches:\n    masks-cache: size:{n}\n"));
    }
    let mut ports: Vec<&ShowPort> = dp.ports.iter().collect();
    ports.sort_by_key(|p| p.port_no);
    for p in ports {
        o.push_str(&format!("  port {}: {}", p.port_no, p.name));
        if p.type_name != "system" {
            o.push_str(&format!(" ({}", p.type_name));
            if !p.config.is_empty() {
                let mut c = p.config.clone();
                c.sort();
                let kv: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
                o.push_str(&format!(": {}", kv.join(", ")));
            }
            o.push(')');
        }
        o.push('\n');
        if with_stats {
            let q = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |x| x.to_string());
            let st = p.stats;
            o.push_str(&format!(
                "    RX packets:{} errors:{} dropped:{} overruns:? frame:?\n",
                q(st.map(|x| x.rx_packets)),
                q(st.map(|x| x.rx_errors)),
                q(st.map(|x| x.rx_dropped))
            ));
            o.push_str(&format!(
                "    TX packets:{} errors:{} dropped:{} aborted:? carrier:?\n",
                q(st.map(|x| x.tx_packets)),
                q(st.map(|x| x.tx_errors)),
                q(st.map(|x| x.tx_dropped))
            ));
            o.push_str("    collisions:?\n");
            let rx = st.map(|x| x.rx_bytes);
            let tx = st.map(|x| x.tx_bytes);
            o.push_str(&format!(
                "    RX bytes:{}{}  TX bytes:{}{}\n",
                q(rx),
                rx.map(human).unwrap_or_default(),
                q(tx),
                tx.map(human).unwrap_or_default()
            ));
            if let Some(u) = p.upcall {
                o.push_str(&format!(
                    "    UPCALL packets:{} errors:{}\n",
                    u.success, u.fail
                ));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_layout() {
        let dp = ShowDatapath {
            name: "dp0".into(),
            stats: DpStats {
                n_hit: 3,
                n_missed: 1,
                n_lost: 0,
                n_flows: 2,
            },
            megaflow: Some(DpMegaflowStats {
                n_mask_hit: 6,
                n_masks: 2,
                n_cache_hit: 1,
            }),
            masks_cache_size: Some(256),
            ports: vec![
                ShowPort {
                    port_no: 5,
                    name: "vxlan0".into(),
                    type_name: "vxlan".into(),
                    config: vec![
                        ("remote_ip".into(), "1.1.1.1".into()),
                        ("key".into(), "5".into()),
                    ],
                    ..Default::default()
                },
                ShowPort {
                    port_no: 0,
                    name: "dp0".into(),
                    type_name: "internal".into(),
                    ..Default::default()
                },
                ShowPort {
                    port_no: 1,
                    name: "eth0".into(),
                    type_name: "system".into(),
                    stats: Some(VportStats {
                        rx_packets: 10,
                        rx_bytes: 1536,
                        tx_bytes: 3 << 20,
                        ..Default::default()
                    }),
                    upcall: Some(UpcallStats {
                        success: 4,
                        fail: 0,
                    }),
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            format_show(&dp, false),
            "system@dp0:\n  lookups: hit:3 missed:1 lost:0\n  flows: 2\n  masks: hit:6 total:2 hit/pkt:1.50\n  cache: hit:1 hit-rate:25.00%\n  caches:\n    masks-cache: size:256\n  port 0: dp0 (internal)\n  port 1: eth0\n  port 5: vxlan0 (vxlan: key=5, remote_ip=1.1.1.1)\n"
        );
        let s = format_show(&dp, true);
        assert!(
            s.contains("  port 1: eth0\n    RX packets:10 errors:0 dropped:0 overruns:? frame:?\n")
        );
        assert!(s.contains("    RX bytes:1536 (1.5 KiB)  TX bytes:3145728 (3.0 MiB)\n    UPCALL packets:4 errors:0\n"));
        assert!(s.contains("  port 0: dp0 (internal)\n    RX packets:? errors:? dropped:?"));
    }
}
