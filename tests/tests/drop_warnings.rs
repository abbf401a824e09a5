//! Lost upcalls produce rate-limited warnings: a real dpswitch whose flow sends every packet
//! from a tap to a userspace pid nobody listens at loses each one; the JSON log then has at
//! most one "upcalls lost" line per second, whose counts add up to the datapath's `lost`.

use std::time::{Duration, Instant};

use dpswitch_e2e::{sh, unique, Dpswitch, Netns};

/// Frames sent; each is lost on its way to userspace.
const FRAMES: u64 = 25;

#[test]
fn lost_upcalls_warn_at_most_once_per_second_with_the_count() {
    let (a, dp) = (unique("wa"), unique("dpw"));
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--log-format", "json"]);
    let show = sw.dpctl(&["show"]).stdout;
    let port_no = show
        .lines()
        .find_map(|l| {
            let (no, rest) = l.trim().strip_prefix("port ")?.split_once(": ")?;
            (rest.split(' ').next() == Some(a.as_str())).then(|| no.to_string())
        })
        .unwrap_or_else(|| panic!("port {a} in {show}"));
    // No process has this netlink port id: every upcall to it fails.
    let add = sw.dpctl(&[
        "add-flow",
        &dp,
        &format!("in_port({port_no}),eth(),eth_type(0x0800),ipv4()"),
        "userspace(pid=3999999999)",
    ]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let ns = Netns::new();
    sh(&["ip", "link", "set", &a, "netns", &ns.name]);
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    ns.exec(&["ip", "addr", "add", "10.215.0.1/24", "dev", &a]);
    ns.exec(&["ip", "link", "set", &a, "up"]);
    ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.215.0.2",
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        &a,
    ]);
    let started = Instant::now();
    // No replies come back: ping fails, but its requests were sent.
    let _ = ns.try_exec(&[
        "ping",
        "-c",
        &FRAMES.to_string(),
        "-i",
        "0.1",
        "-W",
        "1",
        "10.215.0.2",
    ]);
    // The last interval's warning comes within a second.
    std::thread::sleep(Duration::from_millis(1500));
    let elapsed = started.elapsed().as_secs();
    let shown = sw.dpctl(&["show"]).stdout;
    let lost: u64 = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("lookups: "))
        .and_then(|l| l.split("lost:").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("lost in {shown}"));
    assert!(lost >= FRAMES, "{shown}");
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "{log}");
    let mut counts = Vec::new();
    for line in log.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let f = &v["fields"];
        if f["message"] == "upcalls lost" {
            assert_eq!(v["level"], "WARN", "{line}");
            assert_eq!(f["dp"], dp.as_str(), "{line}");
            assert_eq!(f["interval_s"], 1, "{line}");
            counts.push(
                f["count"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("count in {line}")),
            );
        }
    }
    // Every loss is reported, in a few lines rather than one per packet.
    assert_eq!(counts.iter().sum::<u64>(), lost, "{counts:?}\n{log}");
    assert!(
        (2..=elapsed as usize + 2).contains(&counts.len()),
        "{} warnings in {elapsed} s: {counts:?}",
        counts.len()
    );
}
