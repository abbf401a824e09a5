//! The runtime end to end with exact frame counts: raw frames written into the kernel side
//! of dpswitch's TAP ports (AF_PACKET, the `rawframe` tool) in quiet network namespaces.

use std::time::{Duration, Instant};

use dpswitch_e2e::{sh, unique, Dpswitch, Netns, ShowStats};

const ETH: u16 = 0x88b5; // IEEE local experimental: nothing else on the wire uses it
const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const BROADCAST: &str = "ff:ff:ff:ff:ff:ff";

fn tap(name: &str) -> String {
    format!("{name}=net_tap_{name},iface={name}")
}

/// The port number `dpctl show DP` lists for `name`.
fn port_no(sw: &Dpswitch, dp: &str, name: &str) -> u32 {
    let show = sw.dpctl(&["show", dp]).stdout;
    show.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("port ")?;
            let (no, n) = rest.split_once(": ")?;
            (n.split_whitespace().next() == Some(name)).then(|| no.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no port {name} in:\n{show}"))
}

fn stats(sw: &Dpswitch, dp: &str) -> ShowStats {
    ShowStats::parse(&sw.dpctl(&["show", dp]).stdout)
}

/// Keeps the kernel from sending IPv6 housekeeping out of the datapath's own TAP port.
fn quiet_local_port(dp: &str) {
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
}

/// Three TAP ports in three namespaces: a broadcast floods to both others, and so does a
/// frame to a MAC not learned yet; a reply to a learned MAC goes to one port only; once the
/// destination is learned, the flood megaflow towards it is gone and a stream follows the
/// unicast megaflow the bridge installed (visible in dump-flows); with every hit inserted
/// into the EMC, later frames are EMC hits — all counted exactly from `dpctl show`.
#[test]
fn frames_flood_then_follow_a_megaflow_then_hit_the_emc() {
    let (a, b, c) = (unique("fa"), unique("fb"), unique("fc"));
    let dp = unique("dp");
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &tap(&a),
        "--port",
        &tap(&b),
        "--port",
        &tap(&c),
        "--no-flood",
        &dp,
        "--emc-insert-inv-prob",
        "1",
    ]);
    quiet_local_port(&dp);
    let (na, nb, nc) = (Netns::quiet(), Netns::quiet(), Netns::quiet());
    na.adopt_up(&a);
    nb.adopt_up(&b);
    nc.adopt_up(&c);
    let win = 1.5;

    // A broadcast from A reaches B and C once each.
    let rb = nb.receive_frames(&b, ETH, win, MAC_A);
    let rc = nc.receive_frames(&c, ETH, win, MAC_A);
    na.send_frames(&a, BROADCAST, MAC_A, ETH, 1, 0);
    assert_eq!(rb.finish(), (1, 1), "broadcast to B");
    assert_eq!(rc.finish(), (1, 1), "broadcast to C");

    // A to B, whose MAC is unknown yet: flooded to B and C (and a flood megaflow for
    // dst=B installed).
    let rb = nb.receive_frames(&b, ETH, win, MAC_A);
    let rc = nc.receive_frames(&c, ETH, win, MAC_A);
    na.send_frames(&a, MAC_B, MAC_A, ETH, 1, 0);
    assert_eq!(rb.finish(), (1, 1), "unknown unicast to B");
    assert_eq!(rc.finish(), (1, 1), "unknown unicast to C");

    // B answers A, whose MAC the bridge learned: A only. Learning B revalidates the
    // flood megaflow towards B, so the stream below is no longer flooded.
    let ra = na.receive_frames(&a, ETH, win, MAC_B);
    let rc = nc.receive_frames(&c, ETH, win, MAC_B);
    nb.send_frames(&b, MAC_A, MAC_B, ETH, 1, 0);
    assert_eq!(ra.finish(), (1, 1), "unicast to A");
    assert_eq!(rc.finish(), (0, 0), "unicast leaked to C");

    // A stream A -> B: every frame at B, none at C, carried by a megaflow to B's port.
    let rb = nb.receive_frames(&b, ETH, win, MAC_A);
    let rc = nc.receive_frames(&c, ETH, win, MAC_A);
    na.send_frames(&a, MAC_B, MAC_A, ETH, 100, 1);
    assert_eq!(rb.finish(), (100, 100), "stream to B");
    assert_eq!(rc.finish(), (0, 0), "stream leaked to C");
    let flows = sw.dpctl(&["dump-flows", &dp]).stdout;
    let to_b = format!("actions:{}", port_no(&sw, &dp, &b));
    assert!(
        flows.lines().any(
            |l| l.contains("eth(src=02:00:00:00:00:0a,dst=02:00:00:00:00:0b)")
                && l.trim_end().ends_with(&to_b)
        ),
        "no megaflow A->B with {to_b}:\n{flows}"
    );

    // One more frame makes sure the EMC holds the flow (a hit inserts with probability 1);
    // then 50 frames: 50 hits, all of them EMC hits, no miss.
    na.send_frames(&a, MAC_B, MAC_A, ETH, 1, 500);
    std::thread::sleep(Duration::from_millis(300));
    let before = stats(&sw, &dp);
    let rb = nb.receive_frames(&b, ETH, win, MAC_A);
    na.send_frames(&a, MAC_B, MAC_A, ETH, 50, 1000);
    assert_eq!(rb.finish(), (50, 50), "second stream to B");
    let after = stats(&sw, &dp);
    assert_eq!(after.hit - before.hit, 50, "{before:?} -> {after:?}");
    assert_eq!(after.missed, before.missed, "{before:?} -> {after:?}");
    assert_eq!(
        after.cache_hit - before.cache_hit,
        50,
        "{before:?} -> {after:?}"
    );
    assert!(sw.stop().success());
}

/// A port added and removed over and over while a counted stream crosses two others: not
/// one frame of the stream is lost, and the switch still answers afterwards.
#[test]
fn port_churn_loses_nothing_on_other_ports() {
    let (a, b) = (unique("ga"), unique("gb"));
    let dp = unique("dp");
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &tap(&a),
        "--port",
        &tap(&b),
        "--no-flood",
        &dp,
    ]);
    quiet_local_port(&dp);
    let (na, nb) = (Netns::quiet(), Netns::quiet());
    na.adopt_up(&a);
    nb.adopt_up(&b);
    // Teach the bridge where B is, so the stream is unicast from its first frame.
    let ra = na.receive_frames(&a, ETH, 1.0, MAC_B);
    nb.send_frames(&b, MAC_A, MAC_B, ETH, 1, 0);
    assert_eq!(ra.finish().0, 1);

    const ROUNDS: u32 = 20;
    const PER_ROUND: u32 = 500;
    let rb = nb.receive_frames(&b, ETH, 12.0, MAC_A);
    let churn = {
        let (pid, dp) = (sw.netlink_pid, dp.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            let secs = std::env::var("CHURN_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(8);
            let deadline = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < deadline {
                let name = format!("x{n}");
                // no-rx: a null device's rx would replay stale mbuf contents
                let port = format!("{name},type=dpdk,devargs=net_null_{name}{n},no-rx=1");
                let add = dpswitch_e2e::dpctl_at(pid, &["add-if", &dp, &port], "");
                assert_eq!(add.code, 0, "add-if: {}", add.stderr);
                let del = dpswitch_e2e::dpctl_at(pid, &["del-if", &dp, &name], "");
                assert_eq!(del.code, 0, "del-if: {}", del.stderr);
                n += 1;
            }
            n
        })
    };
    for r in 0..ROUNDS {
        na.send_frames(&a, MAC_B, MAC_A, ETH, PER_ROUND, r * PER_ROUND);
        std::thread::sleep(Duration::from_millis(200));
    }
    let cycles = churn.join().expect("churn thread");
    let (n, distinct) = rb.finish();
    assert!(
        cycles >= 5 || std::env::var("CHURN_SECS").is_ok(),
        "only {cycles} add/remove cycles"
    );
    assert_eq!(
        (n, distinct),
        (u64::from(ROUNDS * PER_ROUND), u64::from(ROUNDS * PER_ROUND)),
        "frames lost or duplicated while ports came and went ({cycles} cycles)"
    );
    let show = sw.dpctl(&["show", &dp]);
    assert_eq!(show.code, 0);
    assert!(
        !show.stdout.contains(": x"),
        "a churned port is left:\n{}",
        show.stdout
    );
    assert!(sw.stop().success());
}
