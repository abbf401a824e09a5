//! The stock Debian ovs-dpctl (3.1, from openvswitch-switch; `dpdk-sys/install-deps.sh
//! --tests` unpacks it) as a client of dpswitch, through the preload library
//! (`libdpswitch_preload.so`, as ovs-vswitchd in `vswitchd.rs`), and our `dpctl` held to its
//! output.
//!
//! One scenario (datapath, port, flow, cache and error commands) runs twice from the same
//! start: once with ovs-dpctl against one dpswitch, once with dpctl against a fresh one. Every
//! step must give the same exit status, the same stdout and the same stderr (ovs-dpctl's
//! `ovs-dpctl:` prefix read as `dpctl:`), after masking only what moves by itself (datapath
//! hit/miss counters, port counters, flows the kernel's traffic on internal ports installs).
//!
//! Known, asserted differences:
//! - ovs-dpctl logs through vlog on stderr: "The kernel module does not support meters."
//!   (dpswitch has no `ovs_meter` family, like a kernel without meter support; ovs-dpctl probes
//!   it on every open and must carry on), "Datapath dispatch mode: per-cpu" on add-dp, and
//!   "could not open netdev P type system" for ports that are not kernel netdevs, "could not
//!   create netdev P of unknown type T" before its EAFNOSUPPORT, and "system@DP: failed to
//!   put/flow_get/flow_del/add P…" or "requested port N is in use" before the error line
//!   both print, and "ioctl(…) on D device failed: No such device" about kernel netdevs that
//!   went away while it ran (it follows rtnetlink link events). Only these are allowed.
//! - `drop` as an action: ovs-dpctl 3.1 predates the kernel's OVS_ACTION_ATTR_DROP (24) and
//!   sends its own userspace-only number (25), which the kernel and dpswitch refuse (EINVAL);
//!   it prints the kernel's 24 as `tnl_pop(0)`. dpctl uses 24.
//! - A DPDK port is a NETDEV vport whose netdev is not a kernel interface: ovs-dpctl's `show`
//!   prints it without a `(type: config)` part, ours prints `(dpdk: devargs=…)`; ovs-dpctl
//!   cannot create one (`type=dpdk` is not one of its netdev classes).
//! - Duplicate key attributes (`in_port(1),in_port(2)`): ovs-dpctl sends both and the
//!   datapath says EINVAL; our parser refuses the text, with a different message.
//! - `dump-dps` with two datapaths: ovs-dpctl prints them in its hash-set order, dpctl in
//!   the datapath dump's; compared as sets.
//! - `show -s`: ovs-dpctl 3.1 has no `UPCALL packets` line, reads the counters a vport lacks
//!   through rtnetlink for kernel netdevs (`overruns:0` where dpctl prints `?`), and prints
//!   `, open failed (No such device)` for a DPDK port (see [`show_stats_as_ovs`]).
//! - Tunnel ports are not compared: ovs-dpctl checks `remote_ip` itself and, given one,
//!   would create kernel tunnel netdevs over rtnetlink. `set-if` with settings on a `system`
//!   port: ovs-dpctl says "arguments provided to device that is not configurable", dpswitch
//!   takes them (its af_packet ports have settings); not compared.

use dpswitch_e2e::{dpctl_at, ovs_dpctl_at, sh, split_vlog, unique, CtlRun, Dpswitch};

/// One command of the scenario, and how ovs-dpctl's answer relates to ours.
struct Step {
    args: Vec<String>,
    stdin: String,
    known: Known,
}

#[derive(Clone, Copy, PartialEq)]
enum Known {
    /// Byte for byte.
    Same,
    /// `show`: ovs-dpctl prints no `(dpdk: …)` part for DPDK ports.
    NoDpdkConfig,
    /// `show -s`: see [`show_stats_as_ovs`].
    ShowStats,
    /// `dump-dps` of several datapaths: ovs-dpctl lists them in the order of its string hash
    /// set (`SSET_FOR_EACH`), dpctl in the datapath dump's order; the same lines.
    AnyOrder,
}

/// The names one scenario uses; both runs use the same.
struct Names {
    dp: String,
    dp2: String,
    int1: String,
    int2: String,
    /// One end of a veth pair: a `system` port.
    veth: String,
}

/// A veth pair, deleted when dropped.
struct Veth(String);

impl Veth {
    fn new(name: &str, peer: &str) -> Veth {
        sh(&[
            "ip", "link", "add", name, "type", "veth", "peer", "name", peer,
        ]);
        Veth(name.to_string())
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .status();
    }
}

const F1: &str = "in_port(1),eth(src=00:01:02:03:04:05,dst=10:11:12:13:14:15),eth_type(0x0800),\
ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)";
const F2: &str = "in_port(1),eth(src=00:01:02:03:04:06,dst=10:11:12:13:14:15),eth_type(0x0800),\
ipv4(src=10.0.0.3,dst=10.0.0.4,proto=6,tos=0,ttl=64,frag=no),tcp(src=80,dst=8080),tcp_flags(0)";
const UFID: &str = "1a2b3c4d-0000-1111-2222-333344445555";
const F3: &str = "in_port(1),eth(src=00:01:02:03:04:07,dst=10:11:12:13:14:15),eth_type(0x1234)";
/// Missing the `tcp_flags` a TCP key needs, and IPv6 without `ipv6()`: the datapath's EINVAL.
const BAD_TCP: &str = "in_port(1),eth(),eth_type(0x0800),ipv4(src=10.0.0.3,proto=6),tcp(src=80)";
const BAD_V6: &str = "in_port(1),eth(),eth_type(0x86dd)";

fn scenario(n: &Names) -> Vec<Step> {
    let dp = n.dp.as_str();
    let f3u = format!("ufid:{UFID},{F3}");
    let by_ufid = format!("ufid:{UFID}");
    let veth_internal = format!("{},type=internal", n.veth);
    let int1 = format!("{},type=internal", n.int1);
    let veth_port_no = format!("{},port_no=9", n.veth);
    let int2_at_9 = format!("{},type=internal,port_no=9", n.int2);
    let flows_file = format!(
        "add {F1} 1\nadd {F2} 1\nmodify {F1} 2\ndelete {F2}\ndelete {F2}\nadd {BAD_TCP} 1\nfrob\n"
    );
    let steps: Vec<(Vec<&str>, &str, Known)> = vec![
        // Datapaths.
        (vec!["dump-dps"], "", Known::Same),
        (vec!["show"], "", Known::NoDpdkConfig),
        (vec!["show", dp], "", Known::NoDpdkConfig),
        (vec!["show", "nodp"], "", Known::Same),
        (vec!["add-dp", &n.dp2], "", Known::Same),
        (vec!["add-dp", &n.dp2], "", Known::Same),
        (vec!["dump-dps"], "", Known::AnyOrder),
        (vec!["show", &n.dp2], "", Known::Same),
        (vec!["del-dp", &n.dp2], "", Known::Same),
        (vec!["del-dp", &n.dp2], "", Known::Same),
        (vec!["dump-dps"], "", Known::Same),
        // Ports.
        (vec!["add-if", dp, &int1], "", Known::Same),
        (vec!["add-if", dp, &int1], "", Known::Same),
        (vec!["add-if", dp, &n.int1], "", Known::Same),
        (vec!["add-if", dp, "nosuchif9"], "", Known::Same),
        (vec!["add-if", dp, "g0,type=frobnicator"], "", Known::Same),
        (vec!["add-if", "nodp", "x"], "", Known::Same),
        (
            vec!["add-if", dp, "ip9,type=internal,port_no=1"],
            "",
            Known::Same,
        ),
        (vec!["show", dp], "", Known::NoDpdkConfig),
        // A kernel interface as a `system` port.
        (vec!["add-if", dp, &n.veth], "", Known::Same),
        (vec!["add-if", dp, &n.veth], "", Known::Same),
        (vec!["set-if", dp, &n.veth], "", Known::Same),
        (vec!["set-if", dp, &veth_internal], "", Known::Same),
        (vec!["set-if", dp, &veth_port_no], "", Known::Same),
        (vec!["set-if", dp, "nope"], "", Known::Same),
        (vec!["show", dp], "", Known::NoDpdkConfig),
        (vec!["show", "-s", dp], "", Known::ShowStats),
        (vec!["del-if", dp, &n.veth], "", Known::Same),
        (vec!["del-if", dp, "nope"], "", Known::Same),
        (vec!["del-if", "nodp", "nope"], "", Known::Same),
        (vec!["del-dp", "nodp"], "", Known::Same),
        (vec!["show", dp], "", Known::NoDpdkConfig),
        // Flows.
        (vec!["add-flow", dp, F1, "1"], "", Known::Same),
        (vec!["add-flow", dp, F1, "1"], "", Known::Same),
        (
            vec!["add-flow", dp, "in_port(1),eth(", "1"],
            "",
            Known::Same,
        ),
        (
            vec!["add-flow", dp, "in_port(1)),eth()", "1"],
            "",
            Known::Same,
        ),
        (
            vec!["add-flow", dp, "in_port(1),frob(1)", "1"],
            "",
            Known::Same,
        ),
        (
            vec![
                "add-flow",
                dp,
                "in_port(1),eth(),eth_type(0x0800),ipv4(src=1.2.3.4,proto=6),udp(src=1)",
                "1",
            ],
            "",
            Known::Same,
        ),
        (
            vec!["add-flow", dp, "in_port(1),eth()", "set(ipv4(src=1.1.1.1))"],
            "",
            Known::Same,
        ),
        (
            vec!["add-flow", dp, "ufid:1234,in_port(1)", "1"],
            "",
            Known::Same,
        ),
        (vec!["add-flow", dp, BAD_TCP, "1"], "", Known::Same),
        (vec!["add-flow", dp, BAD_V6, "1"], "", Known::Same),
        (vec!["add-flow", "nodp", F1, "1"], "", Known::Same),
        (vec!["mod-flow", dp, F1, "2"], "", Known::Same),
        (vec!["mod-flow", "-s", dp, F1, "1"], "", Known::Same),
        (
            vec!["mod-flow", "--clear", "-s", dp, F1, "1"],
            "",
            Known::Same,
        ),
        (vec!["mod-flow", dp, F2, "1"], "", Known::Same),
        (
            vec!["mod-flow", "--may-create", dp, F2, "1"],
            "",
            Known::Same,
        ),
        (vec!["add-flow", dp, &f3u, "1,2"], "", Known::Same),
        (vec!["get-flow", dp, &by_ufid], "", Known::Same),
        (
            vec!["get-flow", dp, "ufid:00000000-0000-0000-0000-000000000001"],
            "",
            Known::Same,
        ),
        (vec!["get-flow", dp, F1], "", Known::Same),
        (vec!["dump-flows", dp], "", Known::Same),
        (vec!["dump-flows"], "", Known::Same),
        (vec!["dump-flows", "-m", dp], "", Known::Same),
        (vec!["dump-flows", "--names", dp], "", Known::Same),
        (
            vec!["dump-flows", dp, "filter=udp,tp_src=1"],
            "",
            Known::Same,
        ),
        (
            vec!["dump-flows", dp, "filter=udp,udp_src=1"],
            "",
            Known::Same,
        ),
        (
            vec!["dump-flows", dp, "filter=tcp,tp_dst=8080"],
            "",
            Known::Same,
        ),
        (vec!["dump-flows", dp, "filter=tcp"], "", Known::Same),
        (vec!["dump-flows", dp, "filter=frob"], "", Known::Same),
        (vec!["dump-flows", "nodp"], "", Known::Same),
        (vec!["del-flow", dp, F1], "", Known::Same),
        (vec!["del-flow", dp, F1], "", Known::Same),
        (vec!["del-flow", "-s", dp, F2], "", Known::Same),
        (vec!["del-flow", dp, "in_port(1),eth("], "", Known::Same),
        (vec!["add-flows", dp, "-"], &flows_file, Known::Same),
        (vec!["dump-flows", dp], "", Known::Same),
        (vec!["add-flows", dp, "-"], &flows_file, Known::Same),
        (vec!["del-flows", dp], "", Known::Same),
        (vec!["dump-flows", dp], "", Known::Same),
        (vec!["del-flows", "nodp"], "", Known::Same),
        (vec!["del-flows", dp, "/nonexistent/flows"], "", Known::Same),
        // Masks cache (kernel: 0 disables; powers of two up to 4096).
        (vec!["cache-get-size", dp], "", Known::Same),
        (vec!["cache-get-size"], "", Known::Same),
        (
            vec!["cache-set-size", dp, "masks-cache", "512"],
            "",
            Known::Same,
        ),
        (vec!["cache-get-size", dp], "", Known::Same),
        (
            vec!["cache-set-size", dp, "masks-cache", "4096"],
            "",
            Known::Same,
        ),
        (
            vec!["cache-set-size", dp, "masks-cache", "8192"],
            "",
            Known::Same,
        ),
        (
            vec!["cache-set-size", dp, "masks-cache", "3"],
            "",
            Known::Same,
        ),
        (
            vec!["cache-set-size", dp, "masks-cache", "0"],
            "",
            Known::Same,
        ),
        (vec!["cache-get-size", dp], "", Known::Same),
        (
            vec!["cache-set-size", dp, "masks-cache", "1"],
            "",
            Known::Same,
        ),
        (vec!["cache-get-size", dp], "", Known::Same),
        (vec!["cache-set-size", dp, "frob", "1"], "", Known::Same),
        (
            vec!["cache-set-size", "nodp", "masks-cache", "1"],
            "",
            Known::Same,
        ),
        // Ports go again.
        (vec!["add-if", dp, &int2_at_9], "", Known::Same),
        (vec!["del-if", dp, &n.int1], "", Known::Same),
        (vec!["del-if", dp, &n.int1], "", Known::Same),
        (vec!["show", dp], "", Known::NoDpdkConfig),
        (vec!["del-if", dp, &n.int2], "", Known::Same),
        (vec!["show", dp], "", Known::NoDpdkConfig),
    ];
    steps
        .into_iter()
        .map(|(a, s, k)| Step {
            args: a.into_iter().map(str::to_string).collect(),
            stdin: s.to_string(),
            known: k,
        })
        .collect()
}

/// The datapath the scenario runs against: one DPDK (net_null) port.
fn start(dp: &str) -> Dpswitch {
    Dpswitch::start(&["--dp", dp, "--port", "p0=net_null0,no-rx=1"])
}

/// Masks what moves by itself: datapath counters, port counters (and the `?` dpctl prints
/// for those a vport does not carry) and the flows of the local port.
fn normalise(dp: &str, out: &str) -> String {
    let local = format!("in_port({dp})");
    out.lines()
        .filter(|l| !l.starts_with("  cache: "))
        // Flows the standalone bridge installs for what the kernel sends on internal ports
        // (random MACs): the only ones with an exact recirc_id(0).
        .filter(|l| {
            !l.contains("in_port(0)") && !l.contains(&local) && !l.contains("recirc_id(0),")
        })
        .map(|l| {
            let counters = [
                "    RX ",
                "    TX ",
                "    collisions:",
                "    UPCALL ",
                "  lookups:",
                "  flows:",
                "  masks:",
            ];
            if counters.iter().any(|p| l.starts_with(p)) {
                // Every number (or `?`) becomes one N; byte counts lose their human-readable
                // size, present from 1 KiB on.
                let mut m = String::new();
                for c in l.chars() {
                    if c.is_ascii_digit() || c == '?' {
                        if !m.ends_with('N') {
                            m.push('N');
                        }
                    } else {
                        m.push(c);
                    }
                }
                ["KiB", "MiB", "GiB", "TiB"]
                    .iter()
                    .fold(m, |m, u| m.replace(&format!(" (N.N {u})"), ""))
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// The vlog lines ovs-dpctl may print (see the file comment).
fn allowed_vlog(line: &str) -> bool {
    let dpif_warn = line
        .strip_prefix("dpif|WARN|system@")
        .and_then(|l| l.split_once(": "));
    matches!(dpif_warn, Some((_, w)) if w.starts_with("failed to "))
        || matches!(
            line.strip_prefix("dpif_netlink|INFO|system@").and_then(|l| l.split_once(": ")),
            Some((_, w)) if w.starts_with("requested port ") && w.ends_with(" is in use")
        )
        || line == "dpif_netlink|INFO|The kernel module does not support meters."
        || line == "dpif_netlink|INFO|Datapath dispatch mode: per-cpu"
        // Its netdev layer follows rtnetlink link events, including other tests' TAPs
        // coming and going.
        || (line.starts_with("netdev_linux|INFO|ioctl(") && line.ends_with(": No such device"))
        || (line.starts_with("netdev|WARN|could not create netdev ")
            && line.contains(" of unknown type "))
        || (line.starts_with("dpif|WARN|could not open netdev ")
            && line.ends_with(" type system: No such device"))
}

/// ovs-dpctl's run as ours would print it (vlog lines dropped, `ovs-dpctl:` read as
/// `dpctl:`), and the vlog lines not allowed.
fn from_ovs(r: &CtlRun) -> (CtlRun, Vec<String>) {
    let (log, rest) = split_vlog(&r.stderr);
    let stderr = rest
        .lines()
        .map(|l| {
            l.strip_prefix("ovs-dpctl: ")
                .map_or(l.to_string(), |x| format!("dpctl: {x}"))
        })
        .map(|l| l + "\n")
        .collect();
    let run = CtlRun {
        code: r.code,
        stdout: r.stdout.clone(),
        stderr,
    };
    (run, log.into_iter().filter(|l| !allowed_vlog(l)).collect())
}

/// Our run as ovs-dpctl would print it, for a step with a known difference.
fn as_ovs_would(known: Known, r: &CtlRun, theirs: &CtlRun) -> CtlRun {
    let mut r = r.clone();
    if known == Known::ShowStats {
        r.stdout = show_stats_as_ovs(&r.stdout);
    }
    if known == Known::AnyOrder {
        fn sorted(s: &str) -> Vec<&str> {
            let mut l: Vec<&str> = s.lines().collect();
            l.sort_unstable();
            l
        }
        if sorted(&r.stdout) == sorted(&theirs.stdout) {
            r.stdout.clone_from(&theirs.stdout);
        }
    }
    if known == Known::NoDpdkConfig {
        r.stdout = r
            .stdout
            .lines()
            .map(|l| match l.find(" (dpdk: ") {
                Some(i) => l[..i].to_string(),
                None => l.to_string(),
            })
            .map(|l| l + "\n")
            .collect();
    }
    r
}

/// `show -s` as ovs-dpctl 3.1 prints it, from ours (counters already masked): no `UPCALL`
/// line (3.1 predates vport upcall stats), and a DPDK port, which ovs-dpctl takes for a
/// `system` port it cannot open, gets its bare name and `, open failed (No such device)` with
/// no newline instead of the `(dpdk: …)` part and counters. ovs-dpctl reads the counters a
/// vport lacks (overruns, frame, aborted, carrier, collisions) from the kernel netdev over
/// rtnetlink where dpctl prints `?`; both are masked.
fn show_stats_as_ovs(ours: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for l in ours.lines() {
        if l.starts_with("    UPCALL ") {
            continue;
        }
        if l.starts_with("  port ") {
            skipping = false;
            if let Some(i) = l.find(" (dpdk: ") {
                out.push_str(&l[..i]);
                out.push_str("\n, open failed (No such device)");
                skipping = true;
                continue;
            }
        } else if skipping {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn run_all(
    names: &Names,
    steps: &[Step],
    run: impl Fn(u32, &[&str], &str) -> CtlRun,
) -> Vec<CtlRun> {
    let sw = start(&names.dp);
    let out = steps
        .iter()
        .map(|s| {
            let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
            let mut r = run(sw.netlink_pid, &args, &s.stdin);
            r.stdout = normalise(&names.dp, &r.stdout);
            r
        })
        .collect();
    assert!(sw.stop().success());
    out
}

#[test]
fn stock_ovs_dpctl_and_dpctl_agree() {
    let names = Names {
        dp: unique("ovd"),
        dp2: unique("ovx"),
        int1: unique("oi"),
        int2: unique("oj"),
        veth: unique("ov"),
    };
    let _veth = Veth::new(&names.veth, &format!("{}p", names.veth));
    let steps = scenario(&names);
    let theirs = run_all(&names, &steps, ovs_dpctl_at);
    // Every ovs-dpctl run that opened a datapath probed ovs_meter, got ENOENT and went on.
    let probed = theirs
        .iter()
        .filter(|r| {
            r.stderr
                .contains("The kernel module does not support meters.")
        })
        .count();
    assert!(probed >= steps.len() / 2, "{theirs:#?}");
    let ours = run_all(&names, &steps, |pid, args, stdin| {
        dpctl_at(pid, args, stdin)
    });
    let mut bad = Vec::new();
    for ((s, t), o) in steps.iter().zip(&theirs).zip(&ours) {
        let want = as_ovs_would(s.known, o, t);
        let (got, log) = from_ovs(t);
        if got != want || !log.is_empty() {
            bad.push(format!(
                "{:?}\n  ovs-dpctl: {got:?}\n  dpctl:     {want:?}\n  log: {log:?}",
                s.args
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Regressions the comparison found: a missing kernel netdev, or a name taken by a port of
    // another type, is refused before the datapath is asked, in ovs-dpctl's words; a key that
    // does not parse names the attribute.
    let at = |args: &[&str]| {
        let i = steps
            .iter()
            .position(|s| s.args.iter().map(String::as_str).eq(args.iter().copied()))
            .expect("step");
        &ours[i]
    };
    // The scenario did what it says: an internal and a system port were added, the latter
    // shown with counters.
    let int1 = format!("{},type=internal", names.int1);
    assert_eq!(at(&["add-if", &names.dp, &int1]).code, 0);
    assert_eq!(at(&["add-if", &names.dp, &names.veth]).code, 0);
    let stats = &at(&["show", "-s", &names.dp]).stdout;
    assert!(
        stats.contains(&format!("  port 3: {}\n    RX packets:N ", names.veth)),
        "{stats}"
    );
    assert_eq!(
        at(&["add-if", &names.dp, "nosuchif9"]).stderr,
        "dpctl: nosuchif9: failed to open network device (No such device)\n"
    );
    assert_eq!(
        at(&["add-if", &names.dp, &names.int1]).stderr,
        format!(
            "dpctl: {}: failed to open network device (File exists)\n",
            names.int1
        ),
        "a name the datapath has as a port of another type"
    );
    assert_eq!(
        at(&["add-flow", &names.dp, "in_port(1)),eth()", "1"]).stderr,
        "dpctl: parsing flow key (syntax error at ),eth()) (Invalid argument)\n"
    );
}

/// The known differences outside the shared scenario: DPDK ports (dpctl only), duplicate key
/// attributes (kernel EINVAL for ovs-dpctl, a parse error for dpctl), and the `drop` action.
#[test]
fn known_differences() {
    let dp = unique("ovk");
    let sw = start(&dp);
    let pid = sw.netlink_pid;
    let t = ovs_dpctl_at(
        pid,
        &["add-if", &dp, "q2,type=dpdk,devargs=net_null5,no-rx=1"],
        "",
    );
    let (log, rest) = split_vlog(&t.stderr);
    assert_eq!(t.code, 1, "{t:#?}");
    assert!(
        log.iter()
            .any(|l| l == "netdev|WARN|could not create netdev q2 of unknown type dpdk"),
        "{t:#?}"
    );
    assert_eq!(
        rest,
        "ovs-dpctl: q2: failed to open network device (Address family not supported by protocol)\n"
    );
    let o = dpctl_at(
        pid,
        &["add-if", &dp, "q2,type=dpdk,devargs=net_null5,no-rx=1"],
        "",
    );
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:#?}");
    // ovs-dpctl sees the new port as a `system` port it cannot open.
    let t = ovs_dpctl_at(pid, &["show", &dp], "");
    assert!(t.stdout.ends_with("  port 1: p0\n  port 2: q2\n"), "{t:#?}");
    assert!(split_vlog(&t.stderr)
        .0
        .contains(&"dpif|WARN|could not open netdev q2 type system: No such device".to_string()));
    let o = dpctl_at(pid, &["show", &dp], "");
    assert!(
        o.stdout.ends_with(
            "  port 1: p0 (dpdk: devargs=net_null0,no-rx=1)\n  port 2: q2 (dpdk: devargs=net_null5,no-rx=1)\n"
        ),
        "{o:#?}"
    );
    let dup = "in_port(1),in_port(2)";
    let t = ovs_dpctl_at(pid, &["add-flow", &dp, dup, "1"], "");
    assert_eq!(
        (t.code, split_vlog(&t.stderr).1.as_str()),
        (1, "ovs-dpctl: updating flow table (Invalid argument)\n")
    );
    let o = dpctl_at(pid, &["add-flow", &dp, dup, "1"], "");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "dpctl: parsing flow key (syntax error at in_port(2)) (Invalid argument)\n"
        )
    );
    // `drop`: ovs-dpctl 3.1 predates the kernel's OVS_ACTION_ATTR_DROP (24); it sends its
    // userspace-only number (25, a u32) that the kernel and dpswitch refuse with EINVAL, and
    // it prints the kernel's 24 as `tnl_pop(…)`. dpctl sends and prints the kernel's 24.
    let t = ovs_dpctl_at(pid, &["add-flow", &dp, F1, "drop"], "");
    assert_eq!(
        (t.code, split_vlog(&t.stderr).1.as_str()),
        (1, "ovs-dpctl: updating flow table (Invalid argument)\n")
    );
    let o = dpctl_at(pid, &["add-flow", &dp, F1, "drop"], "");
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:#?}");
    let line = |actions: &str| format!("{F1}, packets:0, bytes:0, used:never, actions:{actions}\n");
    let t = ovs_dpctl_at(pid, &["dump-flows", &dp], "");
    assert!(t.stdout.contains(&line("tnl_pop(0)")), "{t:#?}");
    let o = dpctl_at(pid, &["dump-flows", &dp], "");
    assert!(o.stdout.contains(&line("drop")), "{o:#?}");
    assert!(sw.stop().success());
}

/// Many flows through the preload library: 2000 one-line transactions without ACK (add-flows), then a
/// dump of many datagrams, the same from both tools.
#[test]
fn thousands_of_flows_through_the_shim() {
    let dp = unique("ovm");
    let sw = start(&dp);
    let pid = sw.netlink_pid;
    let lines: String = (0..2000)
        .map(|i| {
            format!(
                "in_port(1),eth(src=00:01:02:03:{:02x}:{:02x},dst=10:11:12:13:14:15),\
                 eth_type(0x1234) 1\n",
                i >> 8,
                i & 255
            )
        })
        .collect();
    let t = ovs_dpctl_at(pid, &["add-flows", &dp, "-"], &lines);
    assert_eq!(
        (t.code, split_vlog(&t.stderr).1.as_str()),
        (0, ""),
        "{t:#?}"
    );
    let t = ovs_dpctl_at(pid, &["dump-flows", &dp], "");
    let o = dpctl_at(pid, &["dump-flows", &dp], "");
    assert_eq!((t.code, o.code), (0, 0));
    let (t, o) = (normalise(&dp, &t.stdout), normalise(&dp, &o.stdout));
    assert_eq!(t.lines().count(), 2000);
    assert_eq!(t, o);
    let t = ovs_dpctl_at(pid, &["del-flows", &dp], "");
    assert_eq!(t.code, 0, "{t:#?}");
    assert_eq!(
        normalise(&dp, &dpctl_at(pid, &["dump-flows", &dp], "").stdout),
        ""
    );
    assert!(sw.stop().success());
}
