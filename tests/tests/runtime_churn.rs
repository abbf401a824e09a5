//! Full-rate forwarding under flow churn: a net_pcap port replaying plain UDP frames
//! (`infinite_rx`) into a net_null sink, forwarded by one megaflow, while a netlink client
//! adds, modifies and deletes other flows at random as fast as the daemon takes them.
//! Afterwards: the daemon answers, every received packet is accounted for (hit + missed +
//! lost, and every hit transmitted or counted as a tx drop), and once the source port is gone
//! the packet pool is back to the mbufs it had in use before the traffic started.
//!
//! The soak adds port hot-plug every few seconds and dumps running alongside, and
//! samples RSS, mempool use and the PMD's longest poll round: `SOAK_SECS=1800` (perf/soak.sh)
//! for the 30-minute run, 40 s by default.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::prom::{free_port, get, samples, scrape};
use dpswitch_e2e::{dpctl_at, long_round_lines, sh, unique, write_pcap, Dpswitch, TempFile};
use odp::action::Action;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::key::{EthernetKey, FlowKey};
use odp::nl::flags;

/// Seconds from the environment variable `var`, else `default`.
fn secs_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Flow changes per pipelined batch.
const BATCH: u32 = 256;
/// At most this many churn flows are installed at once.
const MAX_LIVE: usize = 4096;

/// Both tests want core 1 to themselves (full rate, the poll-gap bound): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Ethernet/IPv4/UDP frame `i`, 60 bytes: a plain frame the traffic megaflow matches.
fn udp_frame(i: u32) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    f.extend_from_slice(&[0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 10, 1, 0, 1]);
    f.extend_from_slice(&(1000 + i as u16).to_be_bytes());
    f.extend_from_slice(&[0x07, 0xd0, 0, 26, 0, 0]);
    f.resize(60, 0xab);
    f
}

/// A churn flow: from the sink port (which receives nothing) to a distinct destination MAC,
/// so it never matches the traffic.
fn churn_key(in_port: u32, i: u32) -> (FlowKey, FlowKey) {
    let dst = [
        0x02,
        0xcc,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ];
    let key = FlowKey {
        in_port: Some(in_port),
        ethernet: Some(EthernetKey {
            src: [0x02, 0xcc, 0, 0, 0, 1],
            dst,
        }),
        eth_type: Some(0x88b5),
        ..FlowKey::default()
    };
    let mask = FlowKey {
        in_port: Some(u32::MAX),
        ethernet: Some(EthernetKey {
            src: [0; 6],
            dst: [0xff; 6],
        }),
        eth_type: Some(0xffff),
        ..FlowKey::default()
    };
    (key, mask)
}

/// Random flow changes: NEW (a fresh key), SET (a live flow's actions flip between output
/// and drop) and DEL (a live flow), pipelined without ACKs in batches closed by a GET, which
/// is answered after all of them (so an error, answered before it, fails the batch).
struct Churner {
    nl: NlClient,
    ifindex: i32,
    in_port: u32,
    live: Vec<u32>,
    next: u32,
    rng: u64,
    changes: u64,
}

impl Churner {
    fn new(sw: &Dpswitch, dp: &str, in_port: u32) -> Churner {
        Churner {
            ifindex: sw.dp_ifindex(dp),
            nl: NlClient::connect(sw.netlink_pid),
            in_port,
            live: Vec::new(),
            next: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            changes: 0,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: reproducible, and enough for picking operations.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn send(&mut self, cmd: FlowCmd, i: u32, output: bool) {
        let (key, mask) = churn_key(self.in_port, i);
        let actions = Some(if output {
            vec![Action::Output(1)]
        } else {
            vec![]
        });
        let attrs = match cmd {
            FlowCmd::New => FlowAttrs {
                key: Some(key),
                mask: Some(mask),
                actions,
                ..FlowAttrs::default()
            },
            FlowCmd::Set => FlowAttrs {
                key: Some(key),
                actions,
                ..FlowAttrs::default()
            },
            _ => FlowAttrs {
                key: Some(key),
                ..FlowAttrs::default()
            },
        };
        let mut m = self.nl.msg(cmd, self.ifindex, attrs);
        m.seq = self.nl.next_seq();
        m.flags |= flags::REQUEST
            | if cmd == FlowCmd::New {
                flags::CREATE
            } else {
                0
            };
        self.nl
            .send_raw(&m.to_bytes().expect("encode"))
            .expect("send");
        self.changes += 1;
    }

    /// One batch of random changes.
    fn round(&mut self) {
        for _ in 0..BATCH {
            let r = self.random();
            let pick = (r >> 8) as usize % self.live.len().max(1);
            if self.live.is_empty() || (r % 10 < 4 && self.live.len() < MAX_LIVE) {
                let i = self.next;
                self.next += 1;
                self.live.push(i);
                self.send(FlowCmd::New, i, true);
            } else if r % 10 < 7 {
                let i = self.live[pick];
                self.send(FlowCmd::Set, i, r & 0x100 != 0);
            } else {
                let i = self.live.swap_remove(pick);
                self.send(FlowCmd::Del, i, false);
            }
        }
        self.sync();
    }

    /// Deletes every live churn flow.
    fn finish(&mut self) {
        for i in std::mem::take(&mut self.live) {
            self.send(FlowCmd::Del, i, false);
        }
        self.sync();
    }

    fn sync(&mut self) {
        let sync = self
            .nl
            .msg(DpCmd::Get, self.ifindex, DatapathAttrs::default());
        let (replies, e) = self.nl.transact(sync, 0);
        assert_eq!(
            e, 0,
            "a flow change failed (its error answered before the GET)"
        );
        assert_eq!(replies.len(), 1);
    }
}

/// A switch forwarding a pcap source (port 2, 256 plain UDP frames replayed forever) to a
/// net_null sink (port 1) through one megaflow, with /metrics.
struct Rig {
    sw: Dpswitch,
    dp: String,
    metrics: std::net::SocketAddr,
    _pcap: TempFile,
    /// (hit, missed, lost, packets received by PMDs, p1 tx, p1 tx dropped) before the
    /// source started, so the accounting covers only the test's traffic.
    before: [u64; 6],
    /// Mbufs in use before the source started.
    baseline: u64,
}

impl Rig {
    fn start() -> Rig {
        let dp = unique("dpc");
        let metrics = free_port();
        let sink = format!("p1=net_null_{dp},no-rx=1");
        let sw = Dpswitch::start(&[
            "--dp",
            &dp,
            "--port",
            &sink,
            "--no-flood",
            &dp,
            "--flow-limit",
            "0",
            "--metrics",
            &metrics.to_string(),
            // The long-round log, for perf/soak.sh to attribute each long round.
            "--log",
            "info,dpswitch::long_rounds=debug",
        ]);
        sh(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
        ]);
        sw.settle(&dp, Duration::from_millis(500), Duration::from_secs(10));
        let mut rig = Rig {
            sw,
            dp,
            metrics,
            _pcap: TempFile::new(".pcap"),
            before: [0; 6],
            baseline: 0,
        };
        rig.before = rig.counters();
        rig.baseline = rig.in_use();
        write_pcap(
            &rig._pcap.path,
            &(0..256).map(udp_frame).collect::<Vec<_>>(),
        );
        let flow = rig.sw.dpctl(&[
            "add-flow",
            &rig.dp,
            "in_port(2),eth(),eth_type(0x0800),ipv4(frag=no)",
            "1",
        ]);
        assert_eq!(flow.code, 0, "{flow:#?}");
        let src = format!(
            "p0,type=dpdk,port_no=2,devargs=net_pcap_{},rx_pcap={},infinite_rx=1",
            rig.dp,
            rig._pcap.path.display()
        );
        let add = rig.sw.dpctl(&["add-if", &rig.dp, &src]);
        assert_eq!(add.code, 0, "{add:#?}");
        rig
    }

    fn in_use(&self) -> u64 {
        get(
            &samples(&scrape(self.metrics)),
            "dpswitch_mempool_in_use_mbufs",
        )
    }

    /// The metric of packets the sink transmitted.
    fn sink_tx_key(&self) -> String {
        format!(
            "dpswitch_port_tx_packets_total{{dp=\"{}\",port=\"p1\"}}",
            self.dp
        )
    }

    fn sink_tx(&self) -> u64 {
        get(&samples(&scrape(self.metrics)), &self.sink_tx_key())
    }

    fn counters(&self) -> [u64; 6] {
        let st = self.sw.dp_attrs(&self.dp).stats.expect("datapath stats");
        let s = samples(&scrape(self.metrics));
        let pmd_packets: u64 = s
            .iter()
            .filter(|(k, _)| k.starts_with("dpswitch_pmd_packets_total{"))
            .map(|(_, v)| *v as u64)
            .sum();
        let port = |what: &str| {
            get(
                &s,
                &format!(
                    "dpswitch_port_{what}_total{{dp=\"{}\",port=\"p1\"}}",
                    self.dp
                ),
            )
        };
        [
            st.n_hit,
            st.n_missed,
            st.n_lost,
            pmd_packets,
            port("tx_packets"),
            port("tx_dropped"),
        ]
    }

    /// Stops the source, lets the PMD drain, and checks that every packet is accounted
    /// for, no churn flow is left and every mbuf is back in the pool.
    fn stop_and_account(self) {
        let del = self.sw.dpctl(&["del-if", &self.dp, "p0"]);
        assert_eq!(del.code, 0, "{del:#?}");
        self.sw.settle(
            &self.dp,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        let after = self.counters();
        let [hit, missed, lost, received, tx, tx_dropped] =
            [0, 1, 2, 3, 4, 5].map(|i| after[i] - self.before[i]);
        assert_eq!(
            hit + missed + lost,
            received,
            "lookups (hit {hit} missed {missed} lost {lost}) vs {received} packets received"
        );
        assert_eq!(missed + lost, 0, "traffic missed its megaflow");
        assert_eq!(
            tx + tx_dropped,
            hit,
            "hits neither sent nor counted as dropped"
        );
        eprintln!("accounting: {received} received = {hit} hit (tx {tx} + tx dropped {tx_dropped}) + {missed} missed + {lost} lost");
        let flows = self.sw.dpctl(&["dump-flows", &self.dp]).stdout;
        assert_eq!(flows.lines().count(), 1, "churn flows left:\n{flows}");
        // Every mbuf the source and the forwarding took is back (within a few seconds: the
        // device's queues are released with the port).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut now = self.in_use();
        while now != self.baseline && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            now = self.in_use();
        }
        assert_eq!(
            now, self.baseline,
            "mbufs in use: {} before the traffic, {now} after",
            self.baseline
        );
        assert!(self.sw.stop().success());
    }
}

/// The flow-change rate the churn must keep up: 10k/s in the optimised build
/// (perf/soak.sh); the unoptimised daemon and client of a CI run manage a few times less.
const MIN_CHANGES_PER_S: f64 = if cfg!(debug_assertions) {
    5_000.0
} else {
    10_000.0
};

#[test]
fn full_rate_forwarding_survives_flow_churn_and_leaks_no_mbufs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::start();
    let mut churn = Churner::new(&rig.sw, &rig.dp, 1);
    let tx_before = rig.sink_tx();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs_from_env("CHURN_SECS", 30)) {
        churn.round();
    }
    let secs = start.elapsed().as_secs_f64();
    churn.finish();
    let rate = churn.changes as f64 / secs;
    let forwarded = rig.sink_tx() - tx_before;
    eprintln!(
        "churn: {} flow changes in {secs:.1} s = {rate:.0}/s; {forwarded} packets \
         forwarded meanwhile ({:.2} Mpps)",
        churn.changes,
        forwarded as f64 / secs / 1e6
    );
    assert!(forwarded > 0, "forwarding stopped during the churn");
    assert!(rate >= MIN_CHANGES_PER_S, "only {rate:.0} flow changes/s");
    rig.stop_and_account();
}

/// Sets `net.ipv6.conf.default.disable_ipv6` and puts the old value back when dropped.
struct Ipv6OffForNewNetdevs(String);

impl Ipv6OffForNewNetdevs {
    const KEY: &'static str = "net.ipv6.conf.default.disable_ipv6";

    fn new() -> Self {
        let old = sh(&["sysctl", "-n", Self::KEY]).trim().to_string();
        sh(&["sysctl", "-qw", &format!("{}=1", Self::KEY)]);
        Ipv6OffForNewNetdevs(old)
    }
}

impl Drop for Ipv6OffForNewNetdevs {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds.
        let _ = std::process::Command::new("sysctl")
            .args(["-qw", &format!("{}={}", Self::KEY, self.0)])
            .status();
    }
}

/// One point of the soak's curve.
struct Sample {
    t: f64,
    rss_kib: u64,
    mbufs_in_use: u64,
    max_poll_gap_us: f64,
    tx_mpps: f64,
    flows: u64,
    changes_per_s: f64,
    /// Time the hypervisor took core 1 (the PMD's) away since the soak began (`steal` in
    /// /proc/stat): a VM's poll rounds cannot be shorter than what it is not given.
    steal_ms: u64,
}

/// Core 1's cumulative steal time in ms (USER_HZ is 100).
fn steal_ms_cpu1() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu1 "))
                .and_then(|l| l.split_whitespace().nth(8))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |ticks| ticks * 10)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resident KiB per mapping of `pid` (address range and path, from /proc/PID/smaps).
fn smaps_rss_kib(pid: u32) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut maps: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some(kib) = line.strip_prefix("Rss:") {
            if let Some(last) = maps.last_mut() {
                last.1 = kib
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
        } else if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = words.nth(4).unwrap_or("[anon]");
            maps.push((format!("{first} {path}"), 0));
        }
    }
    maps
}

/// Where resident memory moved between two [`smaps_rss_kib`] snapshots: the total change
/// and the mappings that changed most, so a step in the RSS curve can be attributed
/// (allocator arenas, the DPDK heap, thread stacks, ...).
fn rss_movers(before: &[(String, u64)], after: &[(String, u64)]) -> String {
    let mut delta: std::collections::BTreeMap<&str, i64> = Default::default();
    for (k, v) in before {
        *delta.entry(k).or_default() -= *v as i64;
    }
    for (k, v) in after {
        *delta.entry(k).or_default() += *v as i64;
    }
    let total: i64 = delta.values().sum();
    let mut moved: Vec<_> = delta.into_iter().filter(|(_, d)| *d != 0).collect();
    moved.sort_by_key(|(_, d)| std::cmp::Reverse(d.abs()));
    let mut out = format!("RSS change after warm-up: {total:+} KiB; largest by mapping:\n");
    for (k, d) in moved.iter().take(12) {
        out += &format!("  {d:+8} KiB  {k}\n");
    }
    out
}

#[test]
fn soak_full_rate_with_churn_hotplug_and_dumps() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let secs = secs_from_env("SOAK_SECS", 40);
    let every = Duration::from_secs((secs / 30).clamp(2, 60));
    let rig = Rig::start();
    let mut churn = Churner::new(&rig.sw, &rig.dp, 1);
    // The longest poll round is measured from here: set-up (the datapath's TAP, the ports)
    // is not part of the soak.
    let clear = rig.sw.dpctl(&["pmd-stats-clear"]);
    assert_eq!(clear.code, 0, "{clear:#?}");
    std::thread::sleep(Duration::from_millis(100));
    let stop = Arc::new(AtomicBool::new(false));
    let (plugs, dumps) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let pid = rig.sw.netlink_pid;
    let dp = rig.dp.clone();
    // Port hot-plug: a net_null or a TAP port comes and goes every 3 s. A new TAP would
    // send IPv6 router solicitations and MLD reports of its own, slow-path packets that the
    // exact accounting below would have to tell apart: new netdevs start without IPv6 for
    // the length of the soak.
    let _no_ipv6 = Ipv6OffForNewNetdevs::new();
    let hotplug = {
        let (stop, plugs, dp) = (stop.clone(), plugs.clone(), dp.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("{dp}h");
                let spec = if n % 2 == 0 {
                    format!("{name},type=dpdk,devargs=net_null_{name},no-rx=1")
                } else {
                    format!("{name},type=internal")
                };
                let add = dpctl_at(pid, &["add-if", &dp, &spec], "");
                assert_eq!(add.code, 0, "{add:#?}");
                std::thread::sleep(Duration::from_millis(1500));
                let del = dpctl_at(pid, &["del-if", &dp, &name], "");
                assert_eq!(del.code, 0, "{del:#?}");
                plugs.fetch_add(1, Ordering::Relaxed);
                n += 1;
                std::thread::sleep(Duration::from_millis(1500));
            }
        })
    };
    // Dumps and stats reads, once a second.
    let dumper = {
        let (stop, dumps, dp) = (stop.clone(), dumps.clone(), dp.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for args in [
                    &["dump-flows", dp.as_str()][..],
                    &["show", "-s", dp.as_str()],
                ] {
                    let r = dpctl_at(pid, args, "");
                    assert_eq!(r.code, 0, "{args:?}: {r:#?}");
                }
                dumps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    let daemon = rig.sw.pid();
    let steal0 = steal_ms_cpu1();
    let sample = |t: Duration, tx: (u64, Instant), changes: (u64, u64)| {
        let s = samples(&scrape(rig.metrics));
        let gap = s
            .iter()
            .filter(|(k, _)| k.starts_with("dpswitch_pmd_max_poll_gap_seconds{"))
            .map(|(_, v)| *v)
            .fold(0.0, f64::max);
        let dt = tx.1.elapsed().as_secs_f64();
        let sink = get(&s, &rig.sink_tx_key());
        let point = Sample {
            t: t.as_secs_f64(),
            rss_kib: rss_kib(daemon),
            mbufs_in_use: get(&s, "dpswitch_mempool_in_use_mbufs"),
            max_poll_gap_us: gap * 1e6,
            tx_mpps: (sink - tx.0) as f64 / dt / 1e6,
            flows: get(&s, &format!("dpswitch_dp_flows{{dp=\"{}\"}}", rig.dp)),
            changes_per_s: (changes.1 - changes.0) as f64 / dt,
            steal_ms: steal_ms_cpu1() - steal0,
        };
        (point, sink)
    };
    let start = Instant::now();
    let mut curve = Vec::new();
    let mut last = (rig.sink_tx(), Instant::now(), churn.changes);
    // Per-mapping residency where the RSS check's window begins, to attribute any movement.
    let mut warm_maps = None;
    while start.elapsed() < Duration::from_secs(secs) {
        churn.round();
        if last.1.elapsed() >= every {
            let (s, sink) = sample(start.elapsed(), (last.0, last.1), (last.2, churn.changes));
            last = (sink, Instant::now(), churn.changes);
            curve.push(s);
            if warm_maps.is_none() && start.elapsed().as_secs() >= secs / 4 {
                warm_maps = Some(smaps_rss_kib(daemon));
            }
        }
    }
    let movers = rss_movers(&warm_maps.unwrap_or_default(), &smaps_rss_kib(daemon));
    let elapsed = start.elapsed().as_secs_f64();
    let rounds = RoundReport::read(&samples(&scrape(rig.metrics)));
    stop.store(true, Ordering::Relaxed);
    hotplug.join().expect("hot-plug thread");
    dumper.join().expect("dump thread");
    churn.finish();

    let mut table =
        String::from("t_s,rss_kib,mbufs_in_use,max_poll_gap_us,tx_mpps,flows,flow_changes_per_s\n");
    for s in &curve {
        table += &format!(
            "{:.0},{},{},{:.1},{:.2},{},{:.0},{}\n",
            s.t,
            s.rss_kib,
            s.mbufs_in_use,
            s.max_poll_gap_us,
            s.tx_mpps,
            s.flows,
            s.changes_per_s,
            s.steal_ms
        );
    }
    eprint!("{table}");
    if let Ok(path) = std::env::var("SOAK_CSV") {
        std::fs::write(&path, &table).expect("write SOAK_CSV");
    }
    if let Ok(path) = std::env::var("SOAK_LONG_ROUNDS") {
        let log = rig.sw.log_text();
        let long: String = long_round_lines(&log).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, long).expect("write SOAK_LONG_ROUNDS");
    }
    let rate = churn.changes as f64 / elapsed;
    let (plugs, dumps) = (plugs.load(Ordering::Relaxed), dumps.load(Ordering::Relaxed));
    eprintln!(
        "soak: {elapsed:.0} s, {} flow changes ({rate:.0}/s), {plugs} port add/remove cycles, \
         {dumps} dump+show rounds",
        churn.changes
    );
    // Everything measured is printed before the first check, so a failed run still reports.
    eprintln!("{rounds}");
    eprint!("{movers}");
    assert!(curve.len() >= 4, "too few samples");
    assert!(rate >= MIN_CHANGES_PER_S, "only {rate:.0} flow changes/s");
    assert!(plugs >= secs / 4, "only {plugs} hot-plug cycles");
    assert!(curve.iter().all(|s| s.tx_mpps > 0.1), "forwarding stalled");
    // Flat memory: after the first quarter (allocator and tables warmed up), RSS moves by
    // less than 8 MiB, while millions of flow changes go through.
    let warm = &curve[curve.len() / 4..];
    let lo = warm.iter().map(|s| s.rss_kib).min().unwrap_or(0);
    let hi = warm.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    assert!(hi - lo < 8 * 1024, "RSS grew from {lo} to {hi} KiB");
    // Every packet accounted for and every mbuf back, before the stall check below.
    rig.stop_and_account();
    // Stalls. What the PMD's own work costs shows in its rounds that apply control
    // commands (flow changes, port hot-plug): in the optimised build they must not be long
    // much more often than the rounds that do not. A command alone takes 0.2 us (median;
    // the cycles bench's "control commands" row: max ~0.1 ms in-process); the longest round
    // and the longest command here also hold whatever the core's kernel and hypervisor took
    // (cpu1 steal above; perf/soak.sh measures a bare clock loop on the core next to it), so
    // they are bounded only to catch hangs (1 s: this VM's core has gone 319 ms without
    // being scheduled), unless SOAK_MAX_GAP_US asks for more.
    if !cfg!(debug_assertions) {
        let per_million =
            |a: usize| rounds.long[a][1] as f64 * 1e6 / rounds.rounds[a].max(1) as f64;
        let (with, without) = (per_million(1), per_million(0));
        // Commands lengthen a round, so a core's interruptions land in it somewhat more often.
        assert!(
            with <= 5.0 * without + 50.0,
            "rounds applying commands are over 1 ms {with:.1} per million, others {without:.1}"
        );
    }
    assert!(
        rounds.max_command_us < 1_000_000.0,
        "one command took {:.0} us",
        rounds.max_command_us
    );
    assert!(rounds.rounds[1] > 0, "no round applied a command");
    let bound = secs_from_env("SOAK_MAX_GAP_US", 1_000_000) as f64;
    let gap = curve.last().map(|s| s.max_poll_gap_us).unwrap_or(0.0);
    assert!(
        gap < bound,
        "longest PMD poll round {gap:.0} us (bound {bound} us)"
    );
}

/// The PMD's poll rounds over a soak: how many, how many were long (over 100 µs, 1 ms and
/// 10 ms), split by whether the round applied control commands, and the longest time
/// spent applying them; and by the PMD thread's CPU time, the longest round and how many
/// used over 1 ms and 10 ms.
struct RoundReport {
    rounds: [u64; 2],
    long: [[u64; 3]; 2],
    max_apply_us: f64,
    max_command_us: f64,
    max_round_cpu_us: f64,
    /// Like `long`, by CPU time (only 1 ms and 10 ms are counted that way).
    long_cpu: [[u64; 3]; 2],
    /// TSC cycles spent in the rounds of each kind.
    cycles: [u64; 2],
}

impl RoundReport {
    const OVER: [&'static str; 3] = ["100us", "1ms", "10ms"];

    fn read(s: &std::collections::HashMap<String, f64>) -> Self {
        let sum = |prefix: &str, labels: &[&str]| -> u64 {
            s.iter()
                .filter(|(k, _)| k.starts_with(prefix) && labels.iter().all(|l| k.contains(l)))
                .map(|(_, v)| *v as u64)
                .sum()
        };
        let max_us = |name: &str| {
            s.iter()
                .filter(|(k, _)| k.starts_with(name))
                .map(|(_, v)| *v * 1e6)
                .fold(0.0, f64::max)
        };
        let mut r = RoundReport {
            rounds: [0; 2],
            long: [[0; 3]; 2],
            max_apply_us: max_us("dpswitch_pmd_max_apply_seconds{"),
            max_command_us: max_us("dpswitch_pmd_max_command_seconds{"),
            max_round_cpu_us: max_us("dpswitch_pmd_max_poll_round_cpu_seconds{"),
            long_cpu: [[0; 3]; 2],
            cycles: [0; 2],
        };
        for (a, cmds) in ["commands=\"no\"", "commands=\"yes\""].iter().enumerate() {
            r.rounds[a] = sum("dpswitch_pmd_poll_rounds_total{", &[cmds]);
            r.cycles[a] = sum("dpswitch_pmd_poll_round_cycles_total{", &[cmds]);
            for (i, over) in Self::OVER.iter().enumerate() {
                let over = format!("over=\"{over}\"");
                r.long[a][i] = sum("dpswitch_pmd_long_poll_rounds_total{", &[cmds, &over]);
                r.long_cpu[a][i] = sum("dpswitch_pmd_long_poll_rounds_cpu_total{", &[cmds, &over]);
            }
        }
        r
    }
}

impl std::fmt::Display for RoundReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (a, what) in ["without commands", "applying commands"].iter().enumerate() {
            let n = self.rounds[a].max(1) as f64;
            write!(f, "poll rounds {what}: {}", self.rounds[a])?;
            for (i, over) in Self::OVER.iter().enumerate() {
                let k = self.long[a][i];
                write!(
                    f,
                    ", over {over} {k} ({:.2} per million)",
                    k as f64 * 1e6 / n
                )?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "longest command application in a round: {:.1} us",
            self.max_apply_us
        )?;
        write!(
            f,
            "by the PMD thread's CPU time: longest round at most {:.1} us (at least that less \
             200 us); rounds that used over 1 ms / 10 ms: {} / {} without commands, {} / {} \
             applying commands",
            self.max_round_cpu_us,
            self.long_cpu[0][1],
            self.long_cpu[0][2],
            self.long_cpu[1][1],
            self.long_cpu[1][2]
        )?;
        // Interruptions that land anywhere in time land in each kind of round in proportion
        // to the time spent in it; a kind long more often than that is long by its work.
        let share = |pair: [u64; 2]| 100.0 * pair[1] as f64 / (pair[0] + pair[1]).max(1) as f64;
        write!(
            f,
            "\nshare applying commands: {:.1} % of the PMD's time in rounds; {:.1} % of the \
             rounds over 1 ms by the wall clock, {:.1} % of those by CPU time",
            share(self.cycles),
            share([self.long[0][1], self.long[1][1]]),
            share([self.long_cpu[0][1], self.long_cpu[1][1]])
        )
    }
}
