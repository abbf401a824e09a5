//! Two PMDs (functional, not speed: on this two-core machine both share the second core):
//! a TAP port with `n_rxq=4` has its four rx queues spread over both PMDs, the kernel
//! spreads flows over the queues, both PMDs forward, and the per-PMD statistics add up to
//! exactly what crossed the switch; `pmd-rxq-show` then reports each queue's usage.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use dpswitch_e2e::{
    bin, fresh_netlink_pid, magic_frame, sh, udp4_frame, unique, Dpswitch, Ip4Spec, Netns,
    PacketSocket,
};

const MAC_A: [u8; 6] = [0x02, 0xe2, 0xe4, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0xe2, 0xe4, 0, 0, 0x0b];
/// Frames sent, each a flow of its own.
const FRAMES: u64 = 400;

/// The ports (with queue ids) `pmd-rxq-show` lists under each PMD, in order.
fn rxqs_by_pmd(show: &str) -> Vec<Vec<String>> {
    let mut pmds: Vec<Vec<String>> = Vec::new();
    for l in show.lines() {
        if l.starts_with("pmd thread") {
            pmds.push(Vec::new());
        } else if let (Some(p), Some(rest)) = (pmds.last_mut(), l.trim().strip_prefix("port: ")) {
            let mut w = rest.split_whitespace();
            let port = w.next().unwrap_or_default();
            let queue = w.nth(1).unwrap_or_default();
            p.push(format!("{port}/{queue}"));
        }
    }
    pmds
}

/// The RX packets of every port of `dp`, summed, from `dpctl show -s`.
fn ports_rx(sw: &Dpswitch, dp: &str) -> u64 {
    sw.dpctl_ok(&["show", "-s", dp])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("RX packets:"))
        .map(|r| {
            r.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("a count")
        })
        .sum()
}

/// Every PMD's `packets received` from `pmd-stats-show`.
fn received_by_pmd(show: &str) -> Vec<u64> {
    show.lines()
        .filter_map(|l| l.trim().strip_prefix("packets received: "))
        .map(|n| n.parse().expect("a count"))
        .collect()
}

/// A dpswitch with two PMD threads, on lcores 1 and 2 (both on the second core), datapath
/// `dp` and `ports` (`NAME=DEVARGS`).
fn two_pmds(dp: &str, ports: &[&str]) -> Dpswitch {
    let prefix = unique("e2e");
    let pid = fresh_netlink_pid();
    let mut cmd = Command::new(bin("dpswitch"));
    // Two worker lcores on the second core: two PMD threads.
    cmd.args([
        "--lcores",
        "0@0,1@1,2@1",
        "--main-lcore",
        "0",
        "--in-memory",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        &prefix,
        "--netlink-pid",
        &pid.to_string(),
        "--metrics",
        "off",
        "--status-interval",
        "1",
        "--dp",
        dp,
        "--no-flood",
        dp,
    ])
    .env("RUST_LOG", "info");
    for p in ports {
        cmd.args(["--port", p]);
    }
    Dpswitch::start_command(cmd, &prefix, pid)
}

#[test]
fn two_pmds_poll_a_multi_queue_port_and_their_counts_add_up() {
    let dp = unique("dpm");
    let (ta, tb) = (unique("ma"), unique("mb"));
    let sw = two_pmds(&dp, &[&format!("{tb}=net_tap_{tb},iface={tb}")]);
    sw.dpctl_ok(&[
        "add-if",
        &dp,
        &format!("{ta},type=dpdk,n_rxq=4,devargs=net_tap_{ta},iface={ta}"),
    ]);
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let (na, nb) = (Netns::new(), Netns::new());
    na.take_quiet(&ta);
    nb.take_quiet(&tb);
    let (a, b) = (PacketSocket::open(&na, &ta), PacketSocket::open(&nb, &tb));

    // A has the 4 rx queues it asked for, spread over both PMDs.
    let placement = rxqs_by_pmd(&sw.dpctl_ok(&["pmd-rxq-show"]));
    assert_eq!(placement.len(), 2, "{placement:?}");
    let a_queues = placement
        .iter()
        .flatten()
        .filter(|q| q.starts_with(&format!("{ta}/")))
        .count();
    assert_eq!(a_queues, 4, "{placement:?}");
    for (i, queues) in placement.iter().enumerate() {
        assert!(
            queues.iter().any(|q| q.starts_with(&format!("{ta}/"))),
            "PMD {i} polls none of {ta}'s queues: {placement:?}"
        );
    }

    // B announces itself, so A's frames go to B alone.
    b.send(&magic_frame([0xff; 6], MAC_B, b"hello"));
    assert!(a.recv_magic(Duration::from_secs(5)).is_some(), "B's hello");
    sw.dpctl_ok(&["pmd-stats-clear"]);
    let rx_before = ports_rx(&sw, &dp);

    for i in 0..FRAMES {
        let spec = Ip4Spec {
            src_mac: MAC_A,
            dst_mac: MAC_B,
            src: Ipv4Addr::new(10, 4, 0, 1),
            dst: Ipv4Addr::new(10, 4, 0, 2),
            ttl: 64,
            sport: 1000 + u16::try_from(i).expect("port"),
            dport: 9,
        };
        a.send(&udp4_frame(&spec, b"spread"));
    }
    let mut arrived = 0;
    while b
        .recv_frame(Duration::from_millis(500), |f| f[6..12] == MAC_A)
        .is_some()
    {
        arrived += 1;
    }
    assert_eq!(arrived, FRAMES, "frames through the switch");

    // The PMDs' counts add up to what the ports received in the same span: the test's
    // frames, and whatever the kernel itself sent into a port meanwhile.
    let (per_pmd, received) = loop {
        let per_pmd = received_by_pmd(&sw.dpctl_ok(&["pmd-stats-show"]));
        let received = ports_rx(&sw, &dp) - rx_before;
        if received_by_pmd(&sw.dpctl_ok(&["pmd-stats-show"])) == per_pmd {
            break (per_pmd, received);
        }
    };
    println!("packets received per PMD: {per_pmd:?}; placement {placement:?}");
    assert_eq!(per_pmd.len(), 2, "{per_pmd:?}");
    assert!(
        per_pmd.iter().all(|&n| n > 0),
        "both PMDs forwarded: {per_pmd:?}"
    );
    assert_eq!(per_pmd.iter().sum::<u64>(), received, "{per_pmd:?}");
    assert!(received >= FRAMES, "{received} received");

    // Once the first 5 s usage interval is measured, every queue shows its share of its
    // PMD's cycles and every PMD its overhead, as OVS prints them.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let shares = loop {
        let show = sw.dpctl_ok(&["pmd-rxq-show"]);
        if !show.contains("NOT AVAIL") {
            break show;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage never measured:\n{show}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    println!("{shares}");
    for l in shares
        .lines()
        .filter(|l| l.contains("pmd usage:") || l.contains("overhead:"))
    {
        let pct: u32 = l
            .rsplit(':')
            .next()
            .and_then(|v| v.trim().strip_suffix('%'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a percentage: {l}"));
        assert!(pct <= 100, "{l}");
    }
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}\n{log}");
}

/// The lines of `pmd-rxq-show`'s section for the PMD on `core`.
fn section(show: &str, core: u32) -> Vec<String> {
    let head = format!("pmd thread numa_id 0 core_id {core}:");
    show.lines()
        .skip_while(|l| *l != head)
        .skip(1)
        .take_while(|l| !l.starts_with("pmd thread"))
        .map(str::to_string)
        .collect()
}

/// `pmd-rxq-affinity` pins queues to the PMD on a core, which then polls no queue added
/// later; pins that cannot be honoured are refused, and cannot change under a running port.
#[test]
fn pinned_rx_queues_stay_on_their_pmd_which_is_then_isolated() {
    let dp = unique("dpa");
    let (ta, tb) = (unique("aa"), unique("ab"));
    let sw = two_pmds(&dp, &[]);
    let refused = |arg: &str| {
        let r = sw.dpctl(&["add-if", &dp, arg]);
        assert_eq!(r.code, 1, "{arg}: {r:?}");
        assert!(
            r.stderr.contains("(Invalid argument)"),
            "{arg}: {}",
            r.stderr
        );
    };
    refused(&format!(
        "{ta},type=dpdk,pmd-rxq-affinity=0:5,devargs=net_tap_{ta},iface={ta}"
    ));
    refused(&format!(
        "{ta},type=dpdk,pmd-rxq-affinity=7:2,devargs=net_tap_{ta},iface={ta}"
    ));
    refused(&format!(
        "{ta},type=dpdk,pmd-rxq-affinity=0-2,devargs=net_tap_{ta},iface={ta}"
    ));
    // The refused adds left the device free.
    sw.dpctl_ok(&[
        "add-if",
        &dp,
        &format!(
            "{ta},type=dpdk,n_rxq=2,pmd-rxq-affinity=\"0:2,1:2\",devargs=net_tap_{ta},iface={ta}"
        ),
    ]);
    sw.dpctl_ok(&[
        "add-if",
        &dp,
        &format!("{tb},type=dpdk,devargs=net_tap_{tb},iface={tb}"),
    ]);
    let show = sw.dpctl_ok(&["pmd-rxq-show"]);
    let (one, two) = (section(&show, 1), section(&show, 2));
    assert!(two.contains(&"  isolated : true".to_string()), "{show}");
    assert!(one.contains(&"  isolated : false".to_string()), "{show}");
    for q in [0, 1] {
        let line = format!("  port: {ta:<16}  queue-id:  {q} (enabled)");
        assert!(
            two.iter().any(|l| l.starts_with(&line)),
            "{ta}/{q} not on core 2:\n{show}"
        );
    }
    // Queues nobody pinned go to the PMD that is not isolated.
    assert!(
        !two.iter().any(|l| l.contains(&format!("port: {tb} "))),
        "{show}"
    );
    assert!(
        one.iter().any(|l| l.contains(&format!("port: {tb} "))),
        "{show}"
    );
    let r = sw.dpctl(&["set-if", &dp, &format!("{ta},pmd-rxq-affinity=0:1")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("(Operation not supported)"),
        "{}",
        r.stderr
    );
    // Without its pinned queues the PMD is no longer isolated.
    sw.dpctl_ok(&["del-if", &dp, &ta]);
    let show = sw.dpctl_ok(&["pmd-rxq-show"]);
    assert!(
        section(&show, 2).contains(&"  isolated : false".to_string()),
        "{show}"
    );
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}\n{log}");
}
