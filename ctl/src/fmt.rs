//! Output formats, byte for byte as `ovs-dpctl` prints them (OVS `lib/dpctl.c`: `show_dpif()`,
//! `format_dpif_flow()`): `show` (with `-s`), cache sizes, flow statistics, and error lines.

use odp::family::datapath::DatapathAttrs;
use odp::family::flow::FlowAttrs;
use odp::family::vport::{UpcallStats, VportAttrs, VportStats, VportType};
use odp::text::{format_tcp_flags_short, format_used};

/// The program name in error lines.
pub const PROGRAM: &str = "dpctl";

/// The C library's message for `errno` (`strerror`), without Rust's "(os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An error line: `dpctl: MSG (strerror)` — the suffix only for a non-zero errno.
pub fn error_line(errno: i32, msg: &str) -> String {
    if errno == 0 {
        format!("{PROGRAM}: {msg}\n")
    } else {
        format!("{PROGRAM}: {msg} ({})\n", strerror(errno))
    }
}

/// ` (1.5 KiB)`-style suffix for byte counters; empty below 1024 and for unknown (`None`).
pub fn human_size(v: Option<u64>) -> String {
    const K: f64 = 1024.0;
    let Some(v) = v else {
        return String::new();
    };
    let f = v as f64;
    if v >= 1 << 40 {
        format!(" ({:.1} TiB)", f / (K * K * K * K))
    } else if v >= 1 << 30 {
        format!(" ({:.1} GiB)", f / (K * K * K))
    } else if v >= 1 << 20 {
        format!(" ({:.1} MiB)", f / (K * K))
    } else if v >= 1 << 10 {
        format!(" ({:.1} KiB)", f / K)
    } else {
        String::new()
    }
}

fn stat(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_string(), |n| n.to_string())
}

/// The devargs dpswitch gives a `system` port (a kernel interface through a packet socket):
/// such a port shows as `system`, like the interface `add-if` named.
fn system_devargs(p: &VportAttrs) -> String {
    let n = p.name.as_deref().unwrap_or("");
    format!("system,iface={n}")
}

/// The type name `show` prints for a port: a NETDEV port made from DPDK devargs is `dpdk`
/// (what `add-if …,type=dpdk` created), other NETDEV ports are `system`.
pub fn port_type(p: &VportAttrs) -> String {
    match p.ty {
        Some(VportType::Netdev) | None => {
            let system = system_devargs(p);
            let dpdk = p.options.as_ref().is_some_and(|o| {
                odp::dpswitch::settings(o)
                    .iter()
                    .any(|(k, v)| k == odp::dpswitch::DEVARGS && !v.is_empty() && *v != system)
            });
            if dpdk { "dpdk" } else { "system" }.to_string()
        }
        Some(t) => t.name().to_string(),
    }
}

/// A port's configuration as `key=value` pairs sorted by key: the dpswitch settings plus the
/// tunnel destination port. Empty settings are unset ones. An internal port's device is the
/// datapath's own business (OVS shows internal ports without configuration), so its devargs
/// are left out.
pub fn port_config(p: &VportAttrs) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Some(o) = &p.options {
        let internal = p.ty == Some(VportType::Internal);
        v.extend(
            odp::dpswitch::settings(o)
                .into_iter()
                .filter(|(k, val)| !(val.is_empty() || internal && k == odp::dpswitch::DEVARGS)),
        );
        if let Some(d) = o.dst_port {
            v.push(("dst_port".to_string(), d.to_string()));
        }
    }
    v.sort();
    v
}

/// One `show` port line without the newline: `  port N: NAME[ (TYPE[: k=v, k=v])]`.
pub fn port_line(p: &VportAttrs) -> String {
    let mut s = format!(
        "  port {}: {}",
        p.port_no.unwrap_or(0),
        p.name.as_deref().unwrap_or("")
    );
    let ty = port_type(p);
    if ty != "system" {
        s.push_str(&format!(" ({ty}"));
        for (i, (k, v)) in port_config(p).iter().enumerate() {
            s.push_str(&format!("{} {k}={v}", if i == 0 { ':' } else { ',' }));
        }
        s.push(')');
    }
    s
}

/// The `show -s` statistics block of a port. Counters a vport does not report (overruns,
/// frame, aborted, carrier, collisions; upcalls from an older datapath) print `?`, as OVS
/// prints its "unknown" value.
pub fn port_stats(stats: Option<&VportStats>, upcalls: Option<&UpcallStats>) -> String {
    let g = |f: fn(&VportStats) -> u64| stats.map(f);
    let mut s = String::new();
    s.push_str(&format!(
        "    RX packets:{} errors:{} dropped:{} overruns:? frame:?\n",
        stat(g(|s| s.rx_packets)),
        stat(g(|s| s.rx_errors)),
        stat(g(|s| s.rx_dropped)),
    ));
    s.push_str(&format!(
        "    TX packets:{} errors:{} dropped:{} aborted:? carrier:?\n",
        stat(g(|s| s.tx_packets)),
        stat(g(|s| s.tx_errors)),
        stat(g(|s| s.tx_dropped)),
    ));
    s.push_str("    collisions:?\n");
    s.push_str(&format!(
        "    RX bytes:{}{}  TX bytes:{}{}\n",
        stat(g(|s| s.rx_bytes)),
        human_size(g(|s| s.rx_bytes)),
        stat(g(|s| s.tx_bytes)),
        human_size(g(|s| s.tx_bytes)),
    ));
    s.push_str(&format!(
        "    UPCALL packets:{} errors:{}\n",
        stat(upcalls.map(|u| u.success)),
        stat(upcalls.map(|u| u.fail)),
    ));
    s
}

/// The `caches:` block (`cache-get-size` and `show`), empty when the datapath does not report
/// a masks-cache size.
pub fn caches(a: &DatapathAttrs) -> String {
    match a.masks_cache_size {
        Some(n) => format!("  caches:\n    masks-cache: size:{n}\n"),
        None => String::new(),
    }
}

/// The datapath part of `show`: lookups, flows, masks, cache hit rate, caches.
pub fn dp_summary(a: &DatapathAttrs) -> String {
    let st = a.stats.unwrap_or_default();
    let mut s = format!(
        "  lookups: hit:{} missed:{} lost:{}\n  flows: {}\n",
        st.n_hit, st.n_missed, st.n_lost, st.n_flows
    );
    if let Some(m) = &a.megaflow_stats {
        let pkts = st.n_hit.wrapping_add(st.n_missed);
        let avg = if pkts != 0 {
            m.n_mask_hit as f64 / pkts as f64
        } else {
            0.0
        };
        s.push_str(&format!(
            "  masks: hit:{} total:{} hit/pkt:{avg:.2}\n",
            m.n_mask_hit, m.n_masks
        ));
        // A datapath that does not count cache hits reports 0; OVS then hides the line.
        if m.n_cache_hit != 0 {
            let rate = if pkts != 0 {
                m.n_cache_hit as f64 / pkts as f64 * 100.0
            } else {
                0.0
            };
            s.push_str(&format!(
                "  cache: hit:{} hit-rate:{rate:.2}%\n",
                m.n_cache_hit
            ));
        }
    }
    s
}

/// The whole `show` text of one datapath. `attrs` is `None` when its GET failed (OVS then
/// prints no lookups lines). Ports are sorted by number.
pub fn show(
    full_name: &str,
    attrs: Option<&DatapathAttrs>,
    ports: &[VportAttrs],
    stats: bool,
) -> String {
    let mut s = format!("{full_name}:\n");
    if let Some(a) = attrs {
        s.push_str(&dp_summary(a));
        s.push_str(&caches(a));
    }
    let mut sorted: Vec<&VportAttrs> = ports.iter().collect();
    sorted.sort_by_key(|p| p.port_no.unwrap_or(u32::MAX));
    for p in sorted {
        s.push_str(&port_line(p));
        s.push('\n');
        if stats {
            s.push_str(&port_stats(p.stats.as_ref(), p.upcall_stats.as_ref()));
        }
    }
    s
}

/// `packets:N, bytes:N, used:T[, flags:F]` for `-s` on flow commands.
pub fn flow_stats(f: &FlowAttrs, now_ms: u64) -> String {
    let st = f.stats.unwrap_or_default();
    let mut s = format!(
        "packets:{}, bytes:{}, {}",
        st.n_packets,
        st.n_bytes,
        format_used(now_ms, f.used)
    );
    let tf = u16::from(f.tcp_flags.unwrap_or(0));
    if tf != 0 {
        s.push_str(", flags:");
        s.push_str(&format_tcp_flags_short(tf));
    }
    s
}

/// Current CLOCK_MONOTONIC milliseconds, the clock of flows' `used` times.
pub fn now_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| (t.tv_sec() as u64).saturating_mul(1000) + (t.tv_nsec() as u64) / 1_000_000)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use odp::family::datapath::{DpMegaflowStats, DpStats};
    use odp::family::vport::VportOptions;
    use odp::family::FlowStats;

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(None), "");
        assert_eq!(human_size(Some(0)), "");
        assert_eq!(human_size(Some(1023)), "");
        assert_eq!(human_size(Some(1024)), " (1.0 KiB)");
        assert_eq!(human_size(Some(1536)), " (1.5 KiB)");
        assert_eq!(human_size(Some(1 << 20)), " (1.0 MiB)");
        assert_eq!(human_size(Some(1_288_490_189)), " (1.2 GiB)");
        assert_eq!(human_size(Some(5 << 30)), " (5.0 GiB)");
        assert_eq!(human_size(Some(3 << 40)), " (3.0 TiB)");
    }

    #[test]
    fn error_lines() {
        assert_eq!(
            error_line(19, "adding eth9 to system@dp0 failed"),
            "dpctl: adding eth9 to system@dp0 failed (No such device)\n"
        );
        assert_eq!(
            error_line(2, "deleting flow"),
            "dpctl: deleting flow (No such file or directory)\n"
        );
        assert_eq!(error_line(17, "add_dp"), "dpctl: add_dp (File exists)\n");
        assert_eq!(
            error_line(22, "datapath not found"),
            "dpctl: datapath not found (Invalid argument)\n"
        );
        assert_eq!(error_line(95, "x"), "dpctl: x (Operation not supported)\n");
        assert_eq!(
            error_line(0, "no datapaths exist"),
            "dpctl: no datapaths exist\n"
        );
    }

    fn port(no: u32, name: &str, ty: VportType, settings: &[(&str, &str)]) -> VportAttrs {
        let options = (!settings.is_empty()).then(|| {
            let mut o = VportOptions::default();
            for (k, v) in settings {
                odp::dpswitch::push_setting(&mut o, k, v);
            }
            o
        });
        VportAttrs {
            port_no: Some(no),
            ty: Some(ty),
            name: Some(name.into()),
            options,
            ..Default::default()
        }
    }

    fn dp_attrs() -> DatapathAttrs {
        DatapathAttrs {
            name: Some("dp0".into()),
            stats: Some(DpStats {
                n_hit: 10,
                n_missed: 2,
                n_lost: 1,
                n_flows: 3,
            }),
            megaflow_stats: Some(DpMegaflowStats {
                n_mask_hit: 24,
                n_masks: 2,
                n_cache_hit: 6,
            }),
            masks_cache_size: Some(256),
            ..Default::default()
        }
    }

    fn ports() -> Vec<VportAttrs> {
        vec![
            port(
                2,
                "p1",
                VportType::Netdev,
                &[("n_rxq", "2"), ("devargs", "net_tap0,iface=p1")],
            ),
            port(
                0,
                "dp0",
                VportType::Internal,
                &[("devargs", "net_tap_dp0,iface=dp0")],
            ),
            port(1, "eth0", VportType::Netdev, &[]),
        ]
    }

    #[test]
    fn show_golden() {
        let s = show("system@dp0", Some(&dp_attrs()), &ports(), false);
        assert_eq!(
            s,
            "system@dp0:
  lookups: hit:10 missed:2 lost:1
  flows: 3
  masks: hit:24 total:2 hit/pkt:2.00
  cache: hit:6 hit-rate:50.00%
  caches:
    masks-cache: size:256
  port 0: dp0 (internal)
  port 1: eth0
  port 2: p1 (dpdk: devargs=net_tap0,iface=p1, n_rxq=2)
"
        );
    }

    #[test]
    fn show_hides_what_the_datapath_does_not_report() {
        let mut a = dp_attrs();
        a.megaflow_stats = Some(DpMegaflowStats {
            n_mask_hit: 0,
            n_masks: 0,
            n_cache_hit: 0,
        });
        a.masks_cache_size = None;
        a.stats = Some(DpStats::default());
        let s = show("system@dp0", Some(&a), &ports()[1..2], false);
        assert_eq!(
            s,
            "system@dp0:
  lookups: hit:0 missed:0 lost:0
  flows: 0
  masks: hit:0 total:0 hit/pkt:0.00
  port 0: dp0 (internal)
"
        );
        a.megaflow_stats = None;
        let s = show("system@dp0", Some(&a), &[], false);
        assert_eq!(
            s,
            "system@dp0:\n  lookups: hit:0 missed:0 lost:0\n  flows: 0\n"
        );
        assert_eq!(show("system@dp0", None, &[], false), "system@dp0:\n");
    }

    #[test]
    fn show_statistics_golden() {
        let mut p = port(1, "eth0", VportType::Netdev, &[]);
        p.stats = Some(VportStats {
            rx_packets: 5,
            tx_packets: 7,
            rx_bytes: 1536,
            tx_bytes: 700,
            rx_errors: 0,
            tx_errors: 0,
            rx_dropped: 1,
            tx_dropped: 0,
        });
        p.upcall_stats = Some(UpcallStats {
            success: 2,
            fail: 0,
        });
        let q = port(3, "p3", VportType::Netdev, &[]);
        let s = show("system@dp0", None, &[q, p], true);
        assert_eq!(
            s,
            "system@dp0:
  port 1: eth0
    RX packets:5 errors:0 dropped:1 overruns:? frame:?
    TX packets:7 errors:0 dropped:0 aborted:? carrier:?
    collisions:?
    RX bytes:1536 (1.5 KiB)  TX bytes:700
    UPCALL packets:2 errors:0
  port 3: p3
    RX packets:? errors:? dropped:? overruns:? frame:?
    TX packets:? errors:? dropped:? aborted:? carrier:?
    collisions:?
    RX bytes:?  TX bytes:?
    UPCALL packets:? errors:?
"
        );
    }

    #[test]
    fn port_types_and_config() {
        let mut v = port(4, "vx", VportType::Vxlan, &[]);
        v.options = Some(VportOptions {
            dst_port: Some(4789),
            ..Default::default()
        });
        assert_eq!(port_line(&v), "  port 4: vx (vxlan: dst_port=4789)");
        assert_eq!(
            port_type(&port(1, "a", VportType::Netdev, &[("x", "1")])),
            "system"
        );
        assert_eq!(
            port_line(&port(
                1,
                "a",
                VportType::Netdev,
                &[("devargs", "net_null0")]
            )),
            "  port 1: a (dpdk: devargs=net_null0)"
        );
        let empty = port(1, "a", VportType::Netdev, &[("devargs", "")]);
        assert_eq!(port_type(&empty), "system");
        let sys = [("devargs", "system,iface=veth7")];
        assert_eq!(
            port_line(&port(1, "veth7", VportType::Netdev, &sys)),
            "  port 1: veth7"
        );
    }

    #[test]
    fn flow_statistics() {
        let f = FlowAttrs {
            stats: Some(FlowStats {
                n_packets: 3,
                n_bytes: 180,
            }),
            used: Some(10_000),
            tcp_flags: Some(0x1a),
            ..Default::default()
        };
        assert_eq!(
            flow_stats(&f, 10_500),
            "packets:3, bytes:180, used:0.500s, flags:SP."
        );
        assert_eq!(
            flow_stats(&FlowAttrs::default(), 10_500),
            "packets:0, bytes:0, used:never"
        );
        let f = FlowAttrs {
            used: Some(1_000),
            ..Default::default()
        };
        assert_eq!(flow_stats(&f, 62_345), "packets:0, bytes:0, used:61.345s");
        assert!(now_ms() > 0);
    }
}
