//! The stock Debian ovs-dpctl (OVS 3.1; `dpdk-sys/install-deps.sh --tests` unpacks it)
//! driving dpswitch through the library: datapaths, a few hundred flows, a dump far over
//! one receive buffer, and deletes, each command well under a second.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{one_at_a_time, preloaded, run, start_dpswitch, Run};
use dpswitch_e2e::{ovs_dpctl_path, unique};

/// Runs `ovs-dpctl ARGS` under the library against the dpswitch at `pid`; panics unless it
/// succeeds quickly and the library had nothing to warn about.
fn ovs_dpctl(pid: u32, args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(ovs_dpctl_path());
    cmd.args(args);
    let t = Instant::now();
    let r = run(preloaded(cmd, pid), stdin);
    let took = t.elapsed();
    assert_eq!(r.code, 0, "ovs-dpctl {args:?}: {r:#?}");
    assert!(
        took < Duration::from_secs(1),
        "ovs-dpctl {args:?} took {took:?}"
    );
    assert!(!r.stderr.contains("dpswitch-preload:"), "{}", r.stderr);
    r
}

/// The flow lines of a `dump-flows`, without the flows dpswitch's standalone bridge installs
/// for traffic on the local port (exact `recirc_id(0)` keys).
fn flow_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| !l.contains("recirc_id(0),"))
        .collect()
}

#[test]
fn stock_ovs_dpctl_manages_hundreds_of_flows() {
    let _turn = one_at_a_time();
    let sw = start_dpswitch(&unique("pd"));
    let pid = sw.netlink_pid;
    let dp = unique("po");
    ovs_dpctl(pid, &["add-dp", &dp], "");
    let show = ovs_dpctl(pid, &["show", &dp], "");
    assert!(
        show.stdout.starts_with(&format!("system@{dp}:\n")),
        "{show:#?}"
    );
    let key = |i: u32| {
        format!(
            "in_port(1),eth(src=00:01:02:03:{:02x}:{:02x},dst=10:11:12:13:14:15),eth_type(0x1234)",
            i >> 8,
            i & 255
        )
    };
    let flows: String = (0..400).map(|i| format!("add {} 1\n", key(i))).collect();
    ovs_dpctl(pid, &["add-flows", &dp, "-"], &flows);
    let dump = ovs_dpctl(pid, &["dump-flows", &dp], "");
    assert_eq!(flow_lines(&dump.stdout).len(), 400, "{}", dump.stdout);
    assert!(dump.stdout.len() > 4096 * 4, "{} bytes", dump.stdout.len());
    assert!(dump.stdout.contains(&format!(
        "{}, packets:0, bytes:0, used:never, actions:1\n",
        key(399)
    )));
    // One flow by key, then the rest.
    ovs_dpctl(pid, &["del-flow", &dp, &key(7)], "");
    let dump = ovs_dpctl(pid, &["dump-flows", &dp], "");
    assert_eq!(flow_lines(&dump.stdout).len(), 399);
    assert!(!dump.stdout.contains(&key(7)), "flow 7 is still there");
    ovs_dpctl(pid, &["del-flows", &dp], "");
    let dump = ovs_dpctl(pid, &["dump-flows", &dp], "");
    assert_eq!(flow_lines(&dump.stdout), Vec::<&str>::new());
    ovs_dpctl(pid, &["del-dp", &dp], "");
    let dps = ovs_dpctl(pid, &["dump-dps"], "");
    assert!(!dps.stdout.contains(&dp), "{dps:#?}");
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch: {status}\n{log}");
}
