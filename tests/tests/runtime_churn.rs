//! Full-rate forwarding under flow churn: a net_pcap port replaying plain UDP frames
//! (`infinite_rx`) into a net_null sink, forwarded by one megaflow, while a netlink client
//! inserts and deletes other flows as fast as the daemon takes them for 30 s. Afterwards:
//! the daemon answers, every received packet is accounted for (hit + missed + lost, and
//! every hit transmitted or counted as a tx drop), and once the source port is gone the
//! packet pool is back to the mbufs it had in use before the traffic started.

use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::prom::{free_port, get, samples, scrape};
use dpswitch_e2e::{sh, unique, write_pcap, Dpswitch, TempFile};
use odp::action::Action;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::key::{EthernetKey, FlowKey};
use odp::nl::flags;

/// How long the churn runs (the 30 s; CHURN_SECS shortens it when iterating).
fn churn_secs() -> u64 {
    std::env::var("CHURN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// Flows per pipelined batch: that many NEWs, then the same keys' DELs.
const BATCH: u32 = 256;

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

#[test]
fn full_rate_forwarding_survives_flow_churn_and_leaks_no_mbufs() {
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
    ]);
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let in_use = || get(&samples(&scrape(metrics)), "dpswitch_mempool_in_use_mbufs");
    // (hit, missed, lost, packets received by PMDs, p1 tx, p1 tx dropped), so the accounting
    // below covers only this test's traffic, not what the local port sent at start-up.
    let counters = || {
        let st = sw.dp_attrs(&dp).stats.expect("datapath stats");
        let s = samples(&scrape(metrics));
        let pmd_packets: u64 = s
            .iter()
            .filter(|(k, _)| k.starts_with("dpswitch_pmd_packets_total{"))
            .map(|(_, v)| *v as u64)
            .sum();
        let port = |what: &str| {
            get(
                &s,
                &format!("dpswitch_port_{what}_total{{dp=\"{dp}\",port=\"p1\"}}"),
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
    };
    sw.settle(&dp, Duration::from_millis(500), Duration::from_secs(10));
    let before = counters();
    let baseline = in_use();

    // The source: 256 distinct plain frames replayed forever, forwarded by one megaflow.
    let pcap = TempFile::new(".pcap");
    write_pcap(&pcap.path, &(0..256).map(udp_frame).collect::<Vec<_>>());
    let flow = sw.dpctl(&[
        "add-flow",
        &dp,
        "in_port(2),eth(),eth_type(0x0800),ipv4(frag=no)",
        "1",
    ]);
    assert_eq!(flow.code, 0, "{flow:#?}");
    let src = format!(
        "p0,type=dpdk,port_no=2,devargs=net_pcap_{dp},rx_pcap={},infinite_rx=1",
        pcap.path.display()
    );
    let add = sw.dpctl(&["add-if", &dp, &src]);
    assert_eq!(add.code, 0, "{add:#?}");

    let mut nl = NlClient::connect(sw.netlink_pid);
    let ifindex = {
        let get = nl.msg(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(dp.clone()),
                ..DatapathAttrs::default()
            },
        );
        let (replies, e) = nl.transact(get, 0);
        assert_eq!(e, 0);
        replies[0].dp_ifindex
    };
    let tx_before = get(
        &samples(&scrape(metrics)),
        &format!("dpswitch_port_tx_packets_total{{dp=\"{dp}\",port=\"p1\"}}"),
    );

    // Churn: BATCH NEWs then BATCH DELs, pipelined without ACKs (only an error would be
    // answered), each round closed by a GET that answers after all of them.
    let start = Instant::now();
    let (mut changes, mut n) = (0u64, 0u32);
    while start.elapsed() < Duration::from_secs(churn_secs()) {
        for cmd in [FlowCmd::New, FlowCmd::Del] {
            for i in n..n + BATCH {
                let (key, mask) = churn_key(1, i);
                let attrs = match cmd {
                    FlowCmd::New => FlowAttrs {
                        key: Some(key),
                        mask: Some(mask),
                        actions: Some(vec![Action::Output(1)]),
                        ..FlowAttrs::default()
                    },
                    _ => FlowAttrs {
                        key: Some(key),
                        ..FlowAttrs::default()
                    },
                };
                let mut m = nl.msg(cmd, ifindex, attrs);
                m.seq = nl.next_seq();
                m.flags |= flags::REQUEST
                    | if cmd == FlowCmd::New {
                        flags::CREATE
                    } else {
                        0
                    };
                nl.send_raw(&m.to_bytes().expect("encode")).expect("send");
            }
        }
        let sync = nl.msg(DpCmd::Get, ifindex, DatapathAttrs::default());
        let (replies, e) = nl.transact(sync, 0);
        assert_eq!(
            e, 0,
            "a flow change failed (its error answered before the GET)"
        );
        assert_eq!(replies.len(), 1);
        changes += 2 * u64::from(BATCH);
        n += BATCH;
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = changes as f64 / secs;
    let s = samples(&scrape(metrics));
    let forwarded = get(
        &s,
        &format!("dpswitch_port_tx_packets_total{{dp=\"{dp}\",port=\"p1\"}}"),
    ) - tx_before;
    eprintln!(
        "churn: {changes} flow changes in {secs:.1} s = {rate:.0}/s; {forwarded} packets \
         forwarded meanwhile ({:.2} Mpps)",
        forwarded as f64 / secs / 1e6
    );
    assert!(forwarded > 0, "forwarding stopped during the churn");
    assert!(rate >= 10_000.0, "only {rate:.0} flow changes/s");

    // Stop the traffic, let the PMD drain, then account for every packet.
    let del = sw.dpctl(&["del-if", &dp, "p0"]);
    assert_eq!(del.code, 0, "{del:#?}");
    sw.settle(&dp, Duration::from_millis(500), Duration::from_secs(10));
    let after = counters();
    let [hit, missed, lost, received, tx, tx_dropped] =
        [0, 1, 2, 3, 4, 5].map(|i| after[i] - before[i]);
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
    let flows = sw.dpctl(&["dump-flows", &dp]).stdout;
    assert_eq!(flows.lines().count(), 1, "churn flows left:\n{flows}");

    // Every mbuf the source and the forwarding took is back (within a few seconds: the
    // device's queues are released with the port).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = in_use();
    while now != baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = in_use();
    }
    assert_eq!(
        now, baseline,
        "mbufs in use: {baseline} before the traffic, {now} after"
    );
    assert!(sw.stop().success());
}
