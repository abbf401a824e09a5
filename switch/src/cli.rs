//! The `dpswitch` command line: dpswitch's own options mixed with EAL arguments, which pass
//! through untouched.

use std::net::SocketAddr;

pub use odp::dpswitch::DEFAULT_NETLINK_PID;

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Arguments for `rte_eal_init`.
    pub eal_args: Vec<String>,
    /// The datapath created at start (None: managed mode, no datapath until a client
    /// creates one).
    pub dp: Option<String>,
    /// Vport names a client may add by name alone, with the DPDK devargs that back them;
    /// each gets a stand-in kernel interface of its name.
    pub port_map: Vec<(String, String)>,
    /// Ports added at start: (vport name, devargs).
    pub ports: Vec<(String, String)>,
    /// Ports (by vport name, the datapath's name for its local port) the standalone bridge
    /// does not flood to.
    pub no_flood: Vec<String>,
    /// PMD lcores (default: every EAL worker lcore).
    pub pmd_cores: Option<Vec<u32>>,
    /// Netlink port id of the control plane.
    pub netlink_pid: u32,
    /// Where /metrics is served (None: off).
    pub metrics: Option<SocketAddr>,
    /// OVS `emc-insert-inv-prob`.
    pub emc_insert_inv_prob: u32,
    /// Flow limit of the slow path.
    pub flow_limit: usize,
    /// Packet buffers in the pool.
    pub mbufs: u32,
    /// 64 KiB buffers for long frames.
    pub jumbo_mbufs: u32,
    /// Connections the conntrack table holds at most (the kernel's `nf_conntrack_max`).
    pub ct_max_conns: u32,
    /// Seconds between status lines (0: none).
    pub status_interval: u64,
    /// Log filter (`RUST_LOG` syntax).
    pub log: Option<String>,
    /// Log lines as JSON.
    pub log_json: bool,
    /// Count PMD cycles per stage (OVS's `pmd-perf-metrics`).
    pub pmd_perf_metrics: bool,
    /// Print help and exit.
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            eal_args: Vec::new(),
            dp: Some("dp0".into()),
            port_map: Vec::new(),
            ports: Vec::new(),
            no_flood: Vec::new(),
            pmd_cores: None,
            netlink_pid: DEFAULT_NETLINK_PID,
            metrics: Some(
                crate::metrics::DEFAULT_METRICS_ADDR
                    .parse()
                    .expect("valid default address"),
            ),
            emc_insert_inv_prob: 100,
            flow_limit: 200_000,
            mbufs: 32768,
            jumbo_mbufs: 128,
            ct_max_conns: 262_144,
            status_interval: 5,
            log: None,
            log_json: false,
            pmd_perf_metrics: false,
            help: false,
        }
    }
}

/// The help text.
pub const USAGE: &str = "\
usage: dpswitch [OPTIONS] [EAL ARGUMENTS]

dpswitch options (everything else goes to DPDK's EAL: -l, --vdev, --no-huge, --in-memory,
--file-prefix, -m, --log-level, ...):
  --dp NAME                  datapath created at start (default dp0)
  --managed                  start with no datapath and no port: a controller such as
                             ovs-vswitchd creates them (not with --dp, --port, --no-flood)
  --port-map NAME=DEVARGS    a netdev port a client adds by NAME alone is the DPDK device
                             DEVARGS, e.g. --port-map p0=0000:03:00.0 (repeatable); dpswitch
                             keeps a stand-in kernel interface (a TAP) named NAME meanwhile,
                             so that ovs-vswitchd finds the port it is asked to add
  --port [NAME=]DEVARGS      add a port backed by a DPDK device, e.g.
                             --port p0=net_tap0,iface=p0  --port net_null0,no-rx=1
                             (repeatable; NAME defaults to the iface= or device name)
  --no-flood NAME            keep port NAME (the datapath name for its local port) out of the
                             standalone bridge's floods, like OVS's no-flood (repeatable)
  --pmd-cores LIST           lcores that run PMD threads, e.g. 1 or 1,2 (default: all workers)
  --netlink-pid N            netlink port id of the control plane (default 1146114903, 0x44505357)
  --metrics ADDR|off         serve Prometheus metrics at http://ADDR/metrics (default 127.0.0.1:9476)
  --emc-insert-inv-prob N    insert 1 in N megaflow hits into the EMC; 0 = EMC off (default 100)
  --flow-limit N             most megaflows the slow path installs (default 200000)
  --mbufs N                  packet buffers in the pool (default 32768)
  --jumbo-mbufs N            64 KiB buffers for frames longer than 2 KiB: jumbo frames and
                             GSO packets from system ports (default 128; 0 drops them)
  --ct-max-conns N           most tracked connections (default 262144, the kernel's
                             nf_conntrack_max; the table's memory grows as it fills)
  --status-interval SECS     one status line every SECS seconds, 0 = none (default 5)
  --log FILTER               log level/filter, e.g. info or dpswitch=debug (default: $RUST_LOG or info)
  --log-format text|json     log line format (default text)
  --pmd-perf-metrics         count PMD cycles per stage (rx, extract, emc, dpcls, actions, tx)
                             into dpswitch_pmd_stage_cycles_total; costs a few TSC reads a burst
  -h, --help                 this help

With no EAL arguments dpswitch runs on cores 0-1 (-l 0-1) in memory (--in-memory), or without
hugepages (--no-huge --no-shconf -m 512) when none are free. With no --port (and without
--managed) it creates two TAP ports, dptap0 and dptap1, and forwards between them as a
MAC-learning bridge.
A second dpswitch on the same --file-prefix (locked in /run/dpswitch/PREFIX.lock) or the
same --netlink-pid refuses to start.
";

fn parse_num<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, String> {
    let v = v.trim();
    let parsed = if let Some(hex) = v.strip_prefix("0x") {
        u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok())
    } else {
        v.parse().ok()
    };
    parsed.ok_or_else(|| format!("{opt}: bad number {v:?}"))
}

/// The vport name for a `--port` value without `NAME=`: the iface= or the device name.
fn port_name(devargs: &str) -> String {
    devargs
        .split(',')
        .find_map(|kv| kv.strip_prefix("iface="))
        .unwrap_or_else(|| devargs.split(',').next().unwrap_or(devargs))
        .to_string()
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A message naming the option whose value is missing or malformed.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut o = Options::default();
    let (mut managed, mut start_dp) = (false, false);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let own = matches!(
            name.as_str(),
            "--dp"
                | "--port-map"
                | "--port"
                | "--no-flood"
                | "--pmd-cores"
                | "--netlink-pid"
                | "--metrics"
                | "--emc-insert-inv-prob"
                | "--flow-limit"
                | "--mbufs"
                | "--jumbo-mbufs"
                | "--ct-max-conns"
                | "--status-interval"
                | "--log"
                | "--log-format"
        );
        if a == "-h" || a == "--help" {
            o.help = true;
            continue;
        }
        if a == "--pmd-perf-metrics" {
            o.pmd_perf_metrics = true;
            continue;
        }
        if a == "--managed" {
            managed = true;
            continue;
        }
        if !own {
            o.eal_args.push(a);
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| format!("{name} needs a value"))?,
        };
        match name.as_str() {
            "--dp" => {
                o.dp = Some(value);
                start_dp = true;
            }
            "--port-map" => {
                let (pname, devargs) = value
                    .split_once('=')
                    .filter(|(n, d)| !n.is_empty() && !n.contains(',') && !d.is_empty())
                    .ok_or_else(|| format!("--port-map: {value:?} is not NAME=DEVARGS"))?;
                if o.port_map.iter().any(|(n, _)| n == pname) {
                    return Err(format!("--port-map: {pname} is mapped twice"));
                }
                o.port_map.push((pname.to_string(), devargs.to_string()));
            }
            "--port" => {
                // Devargs start with the device name, which never holds '=': an '=' before
                // the first ',' therefore separates a vport NAME.
                let (pname, devargs) = match value.split_once('=') {
                    Some((n, d)) if !n.contains(',') => (n.to_string(), d.to_string()),
                    _ => (port_name(&value), value.clone()),
                };
                o.ports.push((pname, devargs));
            }
            "--no-flood" => o.no_flood.push(value),
            "--pmd-cores" => {
                let cores: Result<Vec<u32>, String> = value
                    .split(',')
                    .map(|c| parse_num("--pmd-cores", c))
                    .collect();
                o.pmd_cores = Some(cores?);
            }
            "--netlink-pid" => o.netlink_pid = parse_num("--netlink-pid", &value)?,
            "--metrics" => {
                o.metrics = if value == "off" {
                    None
                } else {
                    Some(value.parse().map_err(|_| {
                        format!("--metrics: bad address {value:?} (want IP:PORT or off)")
                    })?)
                }
            }
            "--emc-insert-inv-prob" => o.emc_insert_inv_prob = parse_num(&name, &value)?,
            "--flow-limit" => o.flow_limit = parse_num(&name, &value)?,
            "--mbufs" => o.mbufs = parse_num(&name, &value)?,
            "--jumbo-mbufs" => o.jumbo_mbufs = parse_num(&name, &value)?,
            "--ct-max-conns" => o.ct_max_conns = parse_num(&name, &value)?,
            "--status-interval" => o.status_interval = parse_num(&name, &value)?,
            "--log" => o.log = Some(value),
            "--log-format" => {
                o.log_json = match value.as_str() {
                    "json" => true,
                    "text" => false,
                    _ => return Err(format!("--log-format: {value:?} is neither text nor json")),
                }
            }
            _ => unreachable!("every own option is matched"),
        }
    }
    if managed {
        if start_dp || !o.ports.is_empty() || !o.no_flood.is_empty() {
            return Err(
                "--managed starts without a datapath: --dp, --port and --no-flood do not apply"
                    .to_string(),
            );
        }
        o.dp = None;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn own_options_are_taken_and_the_rest_goes_to_eal() {
        let o = p(&[
            "-l",
            "0-1",
            "--dp",
            "br0",
            "--vdev",
            "net_null0",
            "--port",
            "p0=net_tap0,iface=p0",
            "--port",
            "net_null1,no-rx=1",
            "--netlink-pid=0x100",
            "--metrics",
            "off",
            "--pmd-cores",
            "1",
        ])
        .unwrap();
        assert_eq!(o.eal_args, ["-l", "0-1", "--vdev", "net_null0"]);
        assert_eq!(o.dp.as_deref(), Some("br0"));
        assert_eq!(
            o.ports,
            [
                ("p0".to_string(), "net_tap0,iface=p0".to_string()),
                ("net_null1".to_string(), "net_null1,no-rx=1".to_string())
            ]
        );
        assert_eq!(o.netlink_pid, 0x100);
        assert_eq!(o.metrics, None);
        assert_eq!(o.pmd_cores, Some(vec![1]));
    }

    #[test]
    fn managed_mode_has_no_start_datapath_and_maps_names() {
        let o = p(&[
            "--managed",
            "--port-map",
            "p0=net_pcap0,rx_pcap=a.pcap",
            "--port-map=p1=0000:03:00.0",
        ])
        .unwrap();
        assert_eq!(o.dp, None);
        assert_eq!(
            o.port_map,
            [
                ("p0".to_string(), "net_pcap0,rx_pcap=a.pcap".to_string()),
                ("p1".to_string(), "0000:03:00.0".to_string())
            ]
        );
        assert!(p(&["--managed", "--dp", "x"]).is_err());
        assert!(p(&["--managed", "--port", "net_null0"]).is_err());
        assert!(p(&["--port-map", "p0"]).is_err());
        assert!(p(&["--port-map", "p0=a", "--port-map", "p0=b"]).is_err());
        assert_eq!(p(&[]).unwrap().dp.as_deref(), Some("dp0"));
    }

    #[test]
    fn no_flood_is_repeatable() {
        let o = p(&["--no-flood", "dp0", "--no-flood=p1"]).unwrap();
        assert_eq!(o.no_flood, ["dp0", "p1"]);
    }

    #[test]
    fn iface_names_the_port() {
        let o = p(&["--port", "net_tap3,iface=left"]).unwrap();
        assert_eq!(
            o.ports,
            [("left".to_string(), "net_tap3,iface=left".to_string())]
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            p(&["--flow-limit", "many"]).unwrap_err(),
            "--flow-limit: bad number \"many\""
        );
        assert_eq!(p(&["--dp"]).unwrap_err(), "--dp needs a value");
        assert!(p(&["--metrics", "nowhere"])
            .unwrap_err()
            .starts_with("--metrics"));
        assert!(p(&["--log-format", "xml"]).is_err());
    }
}
