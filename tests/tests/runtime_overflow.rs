//! The standalone slow path flooded with far more misses than it can handle, no controller:
//! a net_pcap port replays (infinite_rx) 2000 frames with distinct source MACs, more keys
//! than the small --flow-limit lets the bridge install, so nearly every packet misses. The
//! upcall queue overflows and n_lost rises; the flow count never passes the limit; the
//! control plane still answers a GET within 100 ms; once the port is removed, n_lost stops
//! rising and the switch forwards between its TAPs again.

use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{magic_frame, sh, unique, write_pcap, Dpswitch, Netns, PacketSocket, TempFile};
use odp::family::datapath::{DatapathAttrs, DpCmd, DpStats};

const FLOW_LIMIT: u64 = 32;
const DISTINCT_SOURCES: usize = 2000;

/// One DP GET: the stats and how long the round trip took.
fn timed_get(c: &mut NlClient, dp: &str) -> (DpStats, Duration) {
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
    assert_eq!(e, 0, "DP GET");
    (r[0].body.stats.expect("stats"), rtt)
}

#[test]
fn a_miss_flood_overflows_the_upcall_queue_and_the_switch_recovers() {
    let dp = unique("dpo");
    let (ta, tb) = (unique("oa"), unique("ob"));
    let pa = format!("{ta}=net_tap_{ta},iface={ta}");
    let pb = format!("{tb}=net_tap_{tb},iface={tb}");
    let limit = FLOW_LIMIT.to_string();
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &pa,
        "--port",
        &pb,
        "--flow-limit",
        &limit,
    ]);
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let (na, nb) = (Netns::new(), Netns::new());
    na.take_quiet(&ta);
    nb.take_quiet(&tb);

    // Every source is new; every destination is the first source, learned on the flood
    // port itself, so the bridge's decision is "drop" (nothing floods onto the TAPs) and
    // each distinct source needs a megaflow of its own.
    let first = [0x02, 0xe2, 0xe3, 0, 0, 0];
    let frames: Vec<Vec<u8>> = (0..DISTINCT_SOURCES)
        .map(|i| {
            let src = [0x02, 0xe2, 0xe3, 0, (i >> 8) as u8, i as u8];
            magic_frame(first, src, b"flood")
        })
        .collect();
    let pcap = TempFile::new(".pcap");
    write_pcap(&pcap.path, &frames);

    let mut c = NlClient::connect(sw.netlink_pid);
    let (before, _) = timed_get(&mut c, &dp);
    let flood = unique("fl");
    sw.dpctl_ok(&[
        "add-if",
        &dp,
        &format!(
            "{flood},type=dpdk,devargs=net_pcap_{flood},rx_pcap={},infinite_rx=1",
            pcap.path.display()
        ),
    ]);

    // While flooded: losses keep growing, flows stay within the limit, GETs come back fast.
    std::thread::sleep(Duration::from_millis(500));
    let mut rtts = Vec::new();
    let mut lost = Vec::new();
    for _ in 0..20 {
        let (s, rtt) = timed_get(&mut c, &dp);
        assert!(
            s.n_flows <= FLOW_LIMIT,
            "{} flows > limit {FLOW_LIMIT}",
            s.n_flows
        );
        rtts.push(rtt);
        lost.push(s.n_lost);
        std::thread::sleep(Duration::from_millis(50));
    }
    rtts.sort();
    eprintln!(
        "GET round trip under flood: median {:?}, max {:?}; n_lost {} -> {}",
        rtts[rtts.len() / 2],
        rtts[rtts.len() - 1],
        lost[0],
        lost[lost.len() - 1]
    );
    assert!(
        rtts[rtts.len() - 1] < Duration::from_millis(100),
        "a GET took {:?} under flood",
        rtts[rtts.len() - 1]
    );
    assert!(lost[0] > before.n_lost, "no loss under flood: {lost:?}");
    assert!(
        lost[lost.len() - 1] > lost[0],
        "n_lost stopped rising while flooded: {lost:?}"
    );
    let (during, _) = timed_get(&mut c, &dp);
    assert!(
        during.n_missed > before.n_missed + DISTINCT_SOURCES as u64,
        "the flood did not miss: {before:?} -> {during:?}"
    );
    // More distinct keys than the limit: the bridge filled the table exactly to it.
    assert_eq!(during.n_flows, FLOW_LIMIT);

    // Recovery: with the flood port gone, what is queued drains and nothing more is lost.
    sw.dpctl_ok(&["del-if", &dp, &flood]);
    std::thread::sleep(Duration::from_millis(500));
    let (after, _) = timed_get(&mut c, &dp);
    std::thread::sleep(Duration::from_secs(1));
    let (later, _) = timed_get(&mut c, &dp);
    assert_eq!(
        later.n_lost, after.n_lost,
        "n_lost still rising after the flood"
    );
    assert!(later.n_flows <= FLOW_LIMIT);

    // And the TAPs are forwarded between again.
    let (a, b) = (PacketSocket::open(&na, &ta), PacketSocket::open(&nb, &tb));
    let hello = magic_frame([0xff; 6], [0x02, 0xe2, 0xe3, 1, 0, 0x0a], b"after flood");
    a.send(&hello);
    assert_eq!(
        b.recv_magic(Duration::from_secs(2)).as_deref(),
        Some(hello.as_slice()),
        "no forwarding after the flood:\n{}",
        sw.log_text()
    );
    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}
