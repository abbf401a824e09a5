//! The standalone bridge with three TAP ports, driven by frames written into the TAPs' kernel
//! netdevs with AF_PACKET sockets (each TAP in its own network namespace, IPv6 off, so only
//! the test's frames cross the switch): a broadcast is flooded to exactly the two other
//! ports; a unicast to a learned MAC goes only to its port, through one miss; after that a
//! megaflow forwards it (dump-flows shows it with the exact packet count) and, with every
//! megaflow hit inserted into the EMC, all later frames hit the EMC (`n_cache_hit`).

use std::time::Duration;

use dpswitch_e2e::{magic_frame, sh, unique, Dpswitch, Netns, PacketSocket};

const MAC_A: [u8; 6] = [0x02, 0xe2, 0xe0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0xe2, 0xe0, 0, 0, 0x0b];
const BROADCAST: [u8; 6] = [0xff; 6];
/// Long enough for a frame to cross the switch, short enough to keep the test quick.
const WAIT: Duration = Duration::from_secs(2);
/// How long "nothing else arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// A dpswitch with three TAP ports, each moved into its own quiet namespace with a packet
/// socket on it, its local port quiet too, and whatever the TAPs sent while being set up
/// already handled. Returns the switch, its datapath name, the namespaces (deleted when
/// dropped) and the sockets for ports 1, 2 and 3.
fn three_taps(extra: &[&str]) -> (Dpswitch, String, Vec<Netns>, [PacketSocket; 3]) {
    let dp = unique("dpb");
    let taps = [unique("ba"), unique("bb"), unique("bc")];
    let mut args = vec!["--dp".to_string(), dp.clone()];
    for t in &taps {
        args.push("--port".into());
        args.push(format!("{t}=net_tap_{t},iface={t}"));
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let sw = Dpswitch::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // The local port stays in this namespace: keep its kernel side quiet.
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let ns: Vec<Netns> = taps.iter().map(|_| Netns::new()).collect();
    for (n, t) in ns.iter().zip(&taps) {
        n.take_quiet(t);
    }
    let socks = [0, 1, 2].map(|i| PacketSocket::open(&ns[i], &taps[i]));
    sw.settle(&dp, Duration::from_secs(1), Duration::from_secs(15));
    (sw, dp, ns, socks)
}

#[test]
fn tap_frames_flood_learn_then_hit_megaflow_and_emc() {
    let (sw, dp, _ns, [a, b, c]) = three_taps(&["--emc-insert-inv-prob", "1"]);
    let before = sw.dp_attrs(&dp);

    // A broadcast from A reaches B and C once each, and never comes back to A.
    a.send(&magic_frame(BROADCAST, MAC_A, b"flood"));
    for (name, s) in [("B", &b), ("C", &c)] {
        let f = s
            .recv_magic(WAIT)
            .unwrap_or_else(|| panic!("broadcast did not reach {name}:\n{}", sw.log_text()));
        assert_eq!(&f[..12], [BROADCAST, MAC_A].concat().as_slice());
        assert_eq!(s.count_magic(QUIET), 0, "{name} got extra copies");
    }
    assert_eq!(
        a.count_magic(QUIET),
        0,
        "the broadcast came back to its sender"
    );

    // MAC_A is learned on A: a unicast from B to it goes to A only (one miss, forwarded by
    // the slow path, which installs the megaflow).
    let unicast = magic_frame(MAC_A, MAC_B, b"unicast");
    b.send(&unicast);
    assert_eq!(a.recv_magic(WAIT).as_deref(), Some(unicast.as_slice()));
    // Give the new megaflow time to reach the PMD's classifier before the next frame.
    std::thread::sleep(Duration::from_millis(200));

    // The same frame again, one at a time: the first hits the megaflow in the classifier
    // and is inserted into the EMC, the other nine hit the EMC.
    const REPEATS: u64 = 10;
    for i in 0..REPEATS {
        b.send(&unicast);
        assert_eq!(
            a.recv_magic(WAIT).as_deref(),
            Some(unicast.as_slice()),
            "repeat {i} lost"
        );
    }
    for (name, s) in [("A", &a), ("B", &b), ("C", &c)] {
        assert_eq!(s.count_magic(QUIET), 0, "{name} got frames it should not");
    }

    let after = sw.dp_attrs(&dp);
    let (s0, s1) = (before.stats.unwrap(), after.stats.unwrap());
    let (m0, m1) = (
        before.megaflow_stats.unwrap(),
        after.megaflow_stats.unwrap(),
    );
    assert_eq!(
        (
            s1.n_missed - s0.n_missed,
            s1.n_hit - s0.n_hit,
            m1.n_cache_hit - m0.n_cache_hit,
            s1.n_lost - s0.n_lost,
            s1.n_flows - s0.n_flows,
        ),
        (2, REPEATS, REPEATS - 1, 0, 2),
        "(missed, hit, EMC hit, lost, flows) deltas; log:\n{}",
        sw.log_text()
    );

    // The unicast megaflow matches what the bridge looked at (in_port, both MACs, the
    // ethertype), counted every fast-path packet (the missed one went through the slow
    // path) and outputs to A (port 1).
    let dump = sw.dpctl(&["dump-flows", &dp]);
    assert_eq!(dump.code, 0, "{dump:#?}");
    let flow = dump
        .stdout
        .lines()
        .find(|l| l.contains("eth(src=02:e2:e0:00:00:0b,dst=02:e2:e0:00:00:0a)"))
        .unwrap_or_else(|| panic!("no unicast megaflow in:\n{}", dump.stdout));
    assert!(flow.contains("in_port(2),"), "{flow}");
    assert!(flow.contains("eth_type(0x88b5)"), "{flow}");
    assert!(
        flow.contains(&format!(", packets:{REPEATS}, bytes:{}, ", REPEATS * 60)),
        "{flow}"
    );
    assert!(flow.ends_with(", actions:1"), "{flow}");
    // The broadcast's flood megaflow: every port but A (and the local port 0).
    let flood = dump
        .stdout
        .lines()
        .find(|l| l.contains("eth(src=02:e2:e0:00:00:0a,dst=ff:ff:ff:ff:ff:ff)"))
        .unwrap_or_else(|| panic!("no flood megaflow in:\n{}", dump.stdout));
    assert!(flood.contains(", packets:0, "), "{flood}");
    assert!(flood.ends_with(", actions:0,2,3"), "{flood}");

    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}

/// A frame to a MAC the bridge has not learned is flooded, and the bridge installs a flood
/// megaflow for that destination; once the MAC is learned that megaflow is revalidated
/// away, so later frames reach only the destination's port.
#[test]
fn learning_a_destination_replaces_its_flood_megaflow() {
    let (sw, dp, _ns, [a, b, c]) = three_taps(&[]);

    // B is unknown: A's frame to it is flooded to B and C.
    let to_b = magic_frame(MAC_B, MAC_A, b"unknown");
    a.send(&to_b);
    for (name, s) in [("B", &b), ("C", &c)] {
        assert_eq!(
            s.recv_magic(WAIT).as_deref(),
            Some(to_b.as_slice()),
            "not flooded to {name}"
        );
    }
    // B speaks: the bridge learns it (and A's reply goes to A only).
    let to_a = magic_frame(MAC_A, MAC_B, b"reply");
    b.send(&to_a);
    assert_eq!(a.recv_magic(WAIT).as_deref(), Some(to_a.as_slice()));
    std::thread::sleep(Duration::from_millis(200));
    // Now A's frames to B go to B only: the flood megaflow towards B is gone.
    for i in 0..5 {
        a.send(&to_b);
        assert_eq!(
            b.recv_magic(WAIT).as_deref(),
            Some(to_b.as_slice()),
            "frame {i} to B lost"
        );
    }
    assert_eq!(
        c.count_magic(QUIET),
        0,
        "frames to a learned MAC still flooded"
    );
    let dump = sw.dpctl(&["dump-flows", &dp]).stdout;
    assert!(
        !dump
            .lines()
            .any(|l| l.contains("dst=02:e2:e0:00:00:0b)") && l.contains("actions:2,3")),
        "the flood megaflow towards B survived:\n{dump}"
    );
    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}
