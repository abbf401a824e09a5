//! Faults around a running dpswitch, with real processes, sockets and devices:
//! - the upcall receiver stops reading, then closes its socket, under a miss flood;
//! - a TAP port deleted from the kernel side under traffic;
//! - SIGKILL and restart on hugepages (no `--in-memory`), and a netlink port id that a plain
//!   socket already holds;
//! - the standalone slow path flooded by 100k distinct MACs with a small flow limit.
//!
//! Throughout, the control plane has to answer a datapath GET within 100 ms.

use std::process::Command;
use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{
    bin, dpswitch_until_exit, fresh_netlink_pid, magic_frame, sh, unique, write_pcap, Dpswitch,
    TempFile,
};
use odp::action::Action;
use odp::family::datapath::{DatapathAttrs, DpCmd, DpStats};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::vport::{UpcallStats, VportAttrs, VportCmd, VportOptions, VportType};
use odp::key::{EthernetKey, FlowKey};
use odp::nl::flags;

/// The limit every control-plane round trip is held to.
const GET_LIMIT: Duration = Duration::from_millis(100);

/// The tests of this file run one at a time: each daemon spins a PMD on core 1 and the
/// 100 ms round-trip limits are about one daemon's control thread, not about six of them
/// sharing two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Raises the scheduling priority (nice -10) of the daemon's control thread (its main
/// thread) and of this test thread, the two ends of every timed GET. The box's two cores
/// are shared with other builds, tests and fuzzers: at a load average of 8-10, threads at
/// nice 0 wait 100+ ms for a core, which is the scheduler, not the daemon. PMD threads keep
/// their priority.
fn favour(sw: &Dpswitch) {
    // On Linux a priority set on a thread id applies to that thread only.
    let this = nix::unistd::gettid().as_raw().to_string();
    for tid in [sw.pid().to_string(), this] {
        let r = std::process::Command::new("renice")
            .args(["-n", "-10", "-p", &tid])
            .output()
            .expect("run renice");
        assert!(r.status.success(), "renice {tid}: {r:?}");
    }
}

/// One DP GET: the stats, the ifindex and how long the round trip took.
fn timed_get(c: &mut NlClient, dp: &str) -> (DpStats, i32, Duration) {
    let m = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.to_string()),
            ..DatapathAttrs::default()
        },
    );
    let t = Instant::now();
    let (r, e) = c.transact(m, 0);
    let rtt = t.elapsed();
    assert_eq!(e, 0, "DP GET {dp}");
    (r[0].body.stats.expect("stats"), r[0].dp_ifindex, rtt)
}

/// A vport's upcall counters and packet statistics.
fn vport(
    c: &mut NlClient,
    ifindex: i32,
    name: &str,
) -> (UpcallStats, odp::family::vport::VportStats) {
    let m = c.msg(
        VportCmd::Get,
        ifindex,
        VportAttrs {
            name: Some(name.to_string()),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0, "VPORT GET {name}");
    let b = &r[0].body;
    (
        b.upcall_stats.unwrap_or_default(),
        b.stats.expect("vport stats"),
    )
}

/// Adds a DPDK vport over netlink with `upcall_pid`; its port number.
fn add_dpdk_vport(
    c: &mut NlClient,
    ifindex: i32,
    name: &str,
    devargs: &str,
    upcall_pid: u32,
) -> u32 {
    let mut o = VportOptions::default();
    odp::dpswitch::push_setting(&mut o, odp::dpswitch::DEVARGS, devargs);
    let m = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            ty: Some(VportType::Netdev),
            name: Some(name.to_string()),
            options: Some(o),
            upcall_pids: Some(vec![upcall_pid]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!(e, 0, "VPORT NEW {name} ({devargs})");
    r[0].body.port_no.expect("port_no in the echo")
}

/// Installs an exact-on-(in_port, eth, eth_type) flow sending to `out`.
fn install(
    c: &mut NlClient,
    ifindex: i32,
    in_port: u32,
    src: [u8; 6],
    dst: [u8; 6],
    out: Vec<Action>,
) {
    let key = FlowKey {
        in_port: Some(in_port),
        ethernet: Some(EthernetKey { src, dst }),
        eth_type: Some(dpswitch_e2e::MAGIC_ETHERTYPE),
        ..FlowKey::default()
    };
    let mask = FlowKey {
        in_port: Some(u32::MAX),
        ethernet: Some(EthernetKey {
            src: [0xff; 6],
            dst: [0xff; 6],
        }),
        eth_type: Some(0xffff),
        ..FlowKey::default()
    };
    let m = c.msg(
        FlowCmd::New,
        ifindex,
        FlowAttrs {
            key: Some(key),
            mask: Some(mask),
            actions: Some(out),
            ..FlowAttrs::default()
        },
    );
    assert_eq!(c.transact(m, flags::CREATE).1, 0, "FLOW NEW");
}

/// A flow's packet count, by its key (as installed by [`install`]).
fn flow_packets(c: &mut NlClient, ifindex: i32, in_port: u32, src: [u8; 6], dst: [u8; 6]) -> u64 {
    let m = c.msg(
        FlowCmd::Get,
        ifindex,
        FlowAttrs {
            key: Some(FlowKey {
                in_port: Some(in_port),
                ethernet: Some(EthernetKey { src, dst }),
                eth_type: Some(dpswitch_e2e::MAGIC_ETHERTYPE),
                ..FlowKey::default()
            }),
            ..FlowAttrs::default()
        },
    );
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0, "FLOW GET");
    r[0].body.stats.map_or(0, |s| s.n_packets)
}

/// Watches the datapath for `span`, one GET every 50 ms: the slowest round trip and the
/// first and last stats.
fn watch(c: &mut NlClient, dp: &str, span: Duration) -> (Duration, DpStats, DpStats, usize) {
    let end = Instant::now() + span;
    let (first, _, mut worst) = timed_get(c, dp);
    let mut last = first;
    let mut n = 1;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        let (s, _, rtt) = timed_get(c, dp);
        worst = worst.max(rtt);
        last = s;
        n += 1;
    }
    (worst, first, last, n)
}

#[test]
fn an_upcall_receiver_that_stops_reading_then_closes_loses_misses_only() {
    let _serial = serial();
    let dp = unique("dpu");
    let snk = unique("us");
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    let mut sw = Dpswitch::start(&["--dp", &dp, "--port", &pn]);
    favour(&sw);
    let mut c = NlClient::connect(sw.netlink_pid);
    let (_, ifindex, _) = timed_get(&mut c, &dp);

    // Half the frames belong to one pre-installed flow; the other half have 4000 distinct
    // source MACs that all miss.
    let (hs, hd) = ([2, 0xa0, 0, 0, 0, 1], [2, 0xa0, 0, 0, 0, 2]);
    let mut frames = Vec::new();
    for i in 0..4000u32 {
        frames.push(magic_frame(hd, hs, b"hit"));
        let src = [2, 0xa1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        frames.push(magic_frame([2, 0xa2, 0, 0, 0, 1], src, b"miss"));
    }
    let pcap = TempFile::new(".pcap");
    write_pcap(&pcap.path, &frames);

    // The receiver: a socket that never reads.
    let receiver = NlClient::raw(sw.netlink_pid);
    let src = unique("uf");
    // The pcap port will be number 2; its flow goes in first so no hit frame ever misses.
    install(&mut c, ifindex, 2, hs, hd, vec![Action::Output(1)]);
    let port = add_dpdk_vport(
        &mut c,
        ifindex,
        &src,
        &format!(
            "net_pcap_{src},rx_pcap={},infinite_rx=1",
            pcap.path.display()
        ),
        receiver.port_id,
    );
    assert_eq!(port, 2);

    // Stage 1: the receiver's buffer fills; from then on every upcall fails.
    let (worst1, s0, s1, n1) = watch(&mut c, &dp, Duration::from_secs(3));
    let (up1, _) = vport(&mut c, ifindex, &src);
    let hits1 = flow_packets(&mut c, ifindex, 2, hs, hd);
    // Some upcalls were delivered until the buffer was full, then they failed.
    assert!(up1.success > 0, "no upcall reached the receiver: {up1:?}");
    // The datapath counters are published every so often: look again a little later.
    std::thread::sleep(Duration::from_millis(500));
    let (s1b, _, _) = timed_get(&mut c, &dp);
    let (up1b, src1b) = vport(&mut c, ifindex, &src);
    assert!(
        up1b.fail > up1.fail && s1b.n_lost > s1.n_lost,
        "upcalls to a full receiver are not failing: {up1:?} -> {up1b:?}, {s1:?} -> {s1b:?}; \
         source {src1b:?}\n{}",
        sw.log_text()
    );
    assert!(
        s1.n_hit > s0.n_hit,
        "the installed flow stopped hitting: {s0:?} -> {s1:?}"
    );

    // Stage 2: the receiver is closed.
    drop(receiver);
    let (worst2, s2a, s2, n2) = watch(&mut c, &dp, Duration::from_secs(2));
    let (up2, _) = vport(&mut c, ifindex, &src);
    let hits2 = flow_packets(&mut c, ifindex, 2, hs, hd);
    let (_, sink) = vport(&mut c, ifindex, &snk);
    eprintln!(
        "full receiver: {n1} GETs, max {worst1:?}; closed receiver: {n2} GETs, max {worst2:?}; \
         upcalls {up1:?} -> {up2:?}; n_lost {} -> {} -> {}; flow hits {hits1} -> {hits2}; \
         sink tx {}",
        s0.n_lost, s1.n_lost, s2.n_lost, sink.tx_packets
    );
    let warns: Vec<String> = sw
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_string)
        .collect();
    eprintln!("daemon warnings: {warns:#?}");
    assert!(
        s2.n_lost > s2a.n_lost,
        "closed receiver: no loss counted: {s2a:?} -> {s2:?}"
    );
    assert!(up2.fail > up1b.fail, "closed receiver: {up1b:?} -> {up2:?}");
    assert!(
        hits2 > hits1,
        "the installed flow stopped forwarding ({hits1} -> {hits2})"
    );
    assert!(s2.n_hit > s2a.n_hit, "{s2a:?} -> {s2:?}");
    assert!(
        sink.tx_packets >= hits1,
        "the sink got {} < {hits1}",
        sink.tx_packets
    );
    assert!(
        worst1 < GET_LIMIT && worst2 < GET_LIMIT,
        "a GET took {worst1:?} / {worst2:?}"
    );
    assert!(sw.is_running());
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}

#[test]
fn a_tap_deleted_from_the_kernel_side_under_traffic() {
    let _serial = serial();
    let dp = unique("dpt");
    let (tap, snk) = (unique("tk"), unique("tn"));
    let pt = format!("{tap}=net_tap_{tap},iface={tap}");
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    // Port 1: the TAP, port 2: the sink, port 3 (added below): the source.
    let mut sw = Dpswitch::start(&["--dp", &dp, "--port", &pt, "--port", &pn]);
    favour(&sw);
    sh(&["ip", "link", "set", &tap, "up"]);
    let mut c = NlClient::connect(sw.netlink_pid);
    let (_, ifindex, _) = timed_get(&mut c, &dp);
    let (s, d) = ([2, 0xb0, 0, 0, 0, 1], [2, 0xb0, 0, 0, 0, 2]);
    let pcap = TempFile::new(".pcap");
    write_pcap(&pcap.path, &[magic_frame(d, s, b"to tap and sink")]);
    // Every frame goes to the TAP and to the sink.
    install(
        &mut c,
        ifindex,
        3,
        s,
        d,
        vec![Action::Output(1), Action::Output(2)],
    );
    let src = unique("tf");
    let port = add_dpdk_vport(
        &mut c,
        ifindex,
        &src,
        &format!(
            "net_pcap_{src},rx_pcap={},infinite_rx=1",
            pcap.path.display()
        ),
        0,
    );
    assert_eq!(port, 3);
    let (_, tap0) = vport(&mut c, ifindex, &tap);
    let (_, sink0) = vport(&mut c, ifindex, &snk);
    std::thread::sleep(Duration::from_millis(500));
    let (_, tap1) = vport(&mut c, ifindex, &tap);
    assert!(
        tap1.tx_packets > tap0.tx_packets,
        "nothing reached the TAP: {tap1:?}"
    );

    // The kernel side goes away.
    sh(&["ip", "link", "del", &tap]);
    let (worst, _, _, _) = watch(&mut c, &dp, Duration::from_secs(2));
    assert!(sw.is_running(), "dpswitch died:\n{}", sw.log_text());
    let (_, tap2) = vport(&mut c, ifindex, &tap);
    std::thread::sleep(Duration::from_millis(500));
    let (_, tap3) = vport(&mut c, ifindex, &tap);
    let (_, sink3) = vport(&mut c, ifindex, &snk);
    let show = sw.dpctl(&["show", "-s", &dp]);
    eprintln!(
        "after ip link del: max GET {worst:?}\nTAP stats {tap1:?}\n  -> {tap2:?}\n  -> {tap3:?}\n\
         dpctl show -s:\n{}{}",
        show.stdout, show.stderr
    );
    assert_eq!(show.code, 0, "{show:#?}");
    assert!(show.stdout.contains(&format!(": {tap} (")), "{show:#?}");
    assert!(
        sink3.tx_packets > sink0.tx_packets,
        "the sink stopped: {sink0:?} -> {sink3:?}"
    );
    // What the TAP reports: it stays listed, its TX packets stop, and every frame output
    // to it counts as a transmit error (DPDK's oerrors: the write fails) and, refused by
    // the burst, as a transmit drop too: the same frames show in both counters.
    let errors = tap3.tx_errors - tap2.tx_errors;
    let dropped = tap3.tx_dropped - tap2.tx_dropped;
    eprintln!(
        "deleted TAP over 500 ms: tx_packets +{}, tx_errors +{errors}, tx_dropped +{dropped}",
        tap3.tx_packets - tap2.tx_packets
    );
    assert_eq!(
        tap3.tx_packets, tap2.tx_packets,
        "a deleted TAP still transmits"
    );
    assert!(
        errors > 0 && dropped > 0,
        "a deleted TAP reports no failures: {tap2:?} -> {tap3:?}"
    );
    assert!(worst < GET_LIMIT, "a GET took {worst:?}");

    let del = sw.dpctl(&["del-if", &dp, &tap]);
    assert_eq!((del.code, del.stderr.as_str()), (0, ""), "{del:#?}");
    let show = sw.dpctl(&["show", &dp]);
    assert!(!show.stdout.contains(&format!(": {tap} (")), "{show:#?}");
    let (_, sink4) = vport(&mut c, ifindex, &snk);
    std::thread::sleep(Duration::from_millis(300));
    let (_, sink5) = vport(&mut c, ifindex, &snk);
    assert!(
        sink5.tx_packets > sink4.tx_packets,
        "the sink stopped after del-if"
    );
    let (_, _, rtt) = timed_get(&mut c, &dp);
    assert!(rtt < GET_LIMIT);
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}

/// Removes a file prefix's hugepage files and runtime directory when dropped (a SIGKILLed
/// dpswitch leaves them, and hugepage files hold their pages until deleted).
struct PrefixFiles(String);

impl PrefixFiles {
    fn hugepage_files(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir("/dev/hugepages")
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&format!("{}map_", self.0)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn runtime_dir(&self) -> std::path::PathBuf {
        std::path::Path::new("/var/run/dpdk").join(&self.0)
    }
}

impl Drop for PrefixFiles {
    fn drop(&mut self) {
        for f in self.hugepage_files() {
            let _ = std::fs::remove_file(f);
        }
        let _ = std::fs::remove_dir_all(self.runtime_dir());
    }
}

fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// dpswitch on hugepages: like the harness's command without `--in-memory`.
fn on_hugepages(prefix: &str, netlink_pid: u32, dp: &str, ports: &[&str]) -> Command {
    let mut cmd = Command::new(bin("dpswitch"));
    cmd.args([
        "-l",
        "0-1",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        prefix,
    ])
    .args(["--netlink-pid", &netlink_pid.to_string()])
    .args(["--metrics", "off", "--status-interval", "1", "--dp", dp])
    .env("RUST_LOG", "info");
    for p in ports {
        cmd.args(["--port", p]);
    }
    cmd
}

#[test]
fn sigkill_on_hugepages_then_restart_on_the_same_prefix_and_port_id() {
    let _serial = serial();
    if free_hugepages() == 0 {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        sh(&[root.join("hugepages.sh").to_str().expect("path"), "setup"]);
    }
    assert!(free_hugepages() > 0, "no free hugepages");
    let prefix = unique("hk");
    let files = PrefixFiles(prefix.clone());
    let nlpid = fresh_netlink_pid();
    let dp = unique("dpk");
    let (src, snk) = (unique("ks"), unique("kn"));
    let pcap = TempFile::new(".pcap");
    write_pcap(
        &pcap.path,
        &[magic_frame(
            [2, 0xc0, 0, 0, 0, 2],
            [2, 0xc0, 0, 0, 0, 1],
            b"k",
        )],
    );
    let ps = format!(
        "{src}=net_pcap_{src},rx_pcap={},infinite_rx=1",
        pcap.path.display()
    );
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    let first = Dpswitch::start_command(
        on_hugepages(&prefix, nlpid, &dp, &[&ps, &pn]),
        &prefix,
        nlpid,
    );
    let s0 = first.vport_stats(&dp, &snk).tx_packets;
    first.kill();
    let stale = files.hugepage_files();
    eprintln!(
        "after SIGKILL: {} hugepage files of {prefix}, runtime dir exists: {}",
        stale.len(),
        files.runtime_dir().exists()
    );
    assert!(
        !stale.is_empty(),
        "the test did not leave stale hugepage files"
    );

    let t = Instant::now();
    let mut again = Dpswitch::start_command(
        on_hugepages(&prefix, nlpid, &dp, &[&ps, &pn]),
        &prefix,
        nlpid,
    );
    let up = t.elapsed();
    let mut c = NlClient::connect(nlpid);
    let (st, _, rtt) = timed_get(&mut c, &dp);
    let a = again.vport_stats(&dp, &snk).tx_packets;
    std::thread::sleep(Duration::from_millis(300));
    let b = again.vport_stats(&dp, &snk).tx_packets;
    eprintln!("restart up in {up:?}; GET {rtt:?}; sink tx {a} -> {b} (first run: {s0}); {st:?}");
    assert!(b > a, "the restarted switch does not forward");
    assert!(again.is_running());
    let (status, log) = again.stop_with_log();
    assert!(
        status.success(),
        "restarted dpswitch exited with {status}:\n{log}"
    );
    drop(files);
}

#[test]
fn a_netlink_port_id_held_by_a_plain_socket_is_refused_quickly() {
    let _serial = serial();
    let pid = fresh_netlink_pid();
    let holder = nlio::NetlinkSocket::open(pid).expect("bind the port id");
    let t = Instant::now();
    let (code, out) = dpswitch_until_exit(
        &unique("pfx"),
        pid,
        &["--dp", &unique("dpb"), "--port", "p0=net_null0,no-rx=1"],
        Duration::from_secs(20),
    );
    let took = t.elapsed();
    eprintln!("refused in {took:?}:\n{out}");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("dpswitch: ") && l.contains(&pid.to_string())),
        "no error line naming {pid}:\n{out}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(holder);
}

/// Makes `path` a FIFO and writes a pcap stream of `frames`, repeated until the reader goes
/// away, into it from a thread.
fn pcap_stream(path: &std::path::Path, frames: Vec<Vec<u8>>) -> std::thread::JoinHandle<()> {
    use std::io::Write;
    sh(&["mkfifo", path.to_str().expect("path")]);
    let whole = TempFile::new(".pcap");
    write_pcap(&whole.path, &frames);
    let bytes = std::fs::read(&whole.path).expect("pcap");
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return;
        };
        if f.write_all(&bytes).is_err() {
            return;
        }
        // The records again and again, without the 24-byte file header.
        while f.write_all(&bytes[24..]).is_ok() {}
    })
}

/// 100k sources: more than the bridge's MAC table holds (65536), so once it is full every
/// miss learns a new MAC into a full table and evicts one. (Until `MacTable` kept its entries
/// in recency order, each such miss scanned the whole table twice and GETs took 0.4 s median,
/// 3.7-7.2 s max.)
#[test]
fn a_flood_of_100k_distinct_macs_with_a_small_flow_limit() {
    let _serial = serial();
    flood(100_000);
}

/// A net_pcap source streaming `sources` distinct source MACs at full rate into a datapath
/// with `--flow-limit 1000` and no controller: flows stay at the limit, n_lost rises, and
/// 50 GETs during the flood each come back within 100 ms.
fn flood(sources: u32) {
    const LIMIT: u64 = 1000;

    let dp = unique("dpf");
    let snk = unique("fn");
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    let limit = LIMIT.to_string();
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pn, "--flow-limit", &limit]);
    favour(&sw);
    let frames: Vec<Vec<u8>> = (0..sources)
        .map(|i| {
            let src = [
                2,
                0xf0,
                (i >> 24) as u8,
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
            ];
            magic_frame([2, 0xf1, 0, 0, 0, (i % 7) as u8], src, b"flood")
        })
        .collect();
    // net_pcap's infinite_rx keeps every frame in an mbuf (100k would empty the pool), so
    // the frames stream through a FIFO, written over and over by a thread.
    let fifo = TempFile::new(".pcap");
    let _writer = pcap_stream(&fifo.path, frames);
    let mut c = NlClient::connect(sw.netlink_pid);
    let (before, ifindex, _) = timed_get(&mut c, &dp);
    let src = unique("ff");
    add_dpdk_vport(
        &mut c,
        ifindex,
        &src,
        &format!("net_pcap_{src},rx_pcap={}", fifo.path.display()),
        0,
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut rtts = Vec::new();
    let mut lost = Vec::new();
    let mut flows = 0;
    for _ in 0..50 {
        let (s, _, rtt) = timed_get(&mut c, &dp);
        rtts.push(rtt);
        lost.push(s.n_lost);
        flows = flows.max(s.n_flows);
        assert!(s.n_flows <= LIMIT, "{} flows > limit {LIMIT}", s.n_flows);
        std::thread::sleep(Duration::from_millis(40));
    }
    let (_, rx) = vport(&mut c, ifindex, &src);
    rtts.sort();
    eprintln!(
        "{sources}-MAC flood: {} GETs, median {:?}, max {:?}; n_lost {} -> {}; flows max {flows}; \
         source rx {} packets",
        rtts.len(),
        rtts[rtts.len() / 2],
        rtts[rtts.len() - 1],
        lost[0],
        lost[lost.len() - 1],
        rx.rx_packets
    );
    assert!(
        rtts[rtts.len() - 1] < GET_LIMIT,
        "a GET took {:?} under flood",
        rtts[rtts.len() - 1]
    );
    assert!(lost[0] > before.n_lost, "no loss under flood: {lost:?}");
    assert!(
        lost[lost.len() - 1] > lost[0],
        "n_lost stopped rising: {lost:?}"
    );
    assert_eq!(
        flows, LIMIT,
        "the bridge did not fill the table to the limit"
    );
    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}

#[test]
fn a_pcap_port_too_big_for_the_pool_is_refused_and_the_switch_still_exits_cleanly() {
    let _serial = serial();
    // net_pcap's infinite_rx keeps every frame of the file in an mbuf: 40,000 frames do not
    // fit the default pool of 32,768. DPDK 22.11's driver then leaves a dangling ring that
    // its close frees again, which used to segfault dpswitch at exit.
    let dp = unique("dpp");
    let snk = unique("pn");
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pn]);
    let big = TempFile::new(".pcap");
    let frames: Vec<Vec<u8>> = (0..40_000u32)
        .map(|i| {
            magic_frame(
                [2, 0xe0, 0, 0, 0, 1],
                [2, 0xe1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8],
                b"big",
            )
        })
        .collect();
    write_pcap(&big.path, &frames);
    let small = TempFile::new(".pcap");
    write_pcap(&small.path, &frames[..16]);
    let dev = unique("pp");
    let add = |file: &TempFile| {
        sw.dpctl(&[
            "add-if",
            &dp,
            &format!(
                "{dev},type=dpdk,devargs=net_pcap_{dev},rx_pcap={},infinite_rx=1",
                file.path.display()
            ),
        ])
    };
    let refused = add(&big);
    assert_ne!(refused.code, 0, "{refused:#?}");
    // The refused device left nothing behind: its name can be used again.
    let ok = add(&small);
    assert_eq!(
        (ok.code, ok.stderr.as_str()),
        (0, ""),
        "{ok:#?}\n{}",
        sw.log_text()
    );
    let a = sw.vport_stats(&dp, &dev).rx_packets;
    std::thread::sleep(Duration::from_millis(200));
    let b = sw.vport_stats(&dp, &dev).rx_packets;
    assert!(b > a, "the re-added pcap port does not receive");
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}
