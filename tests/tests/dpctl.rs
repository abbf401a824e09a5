//! `dpctl` end to end: every command against a real dpswitch over real netlink, checked
//! against ovs-dpctl-format text, and every error path with its exact error line and exit
//! status. Numbers that move on their own (lookups on a live datapath, byte counters of a
//! port the kernel talks on) are masked; everything else is compared byte for byte.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dpswitch_e2e::{dpctl_at, unique, CtlRun, Dpswitch};

/// Asserts a run's exit status and exact outputs.
#[track_caller]
fn expect(r: &CtlRun, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (code, stdout, stderr),
        "{r:#?}"
    );
}

/// Asserts success and returns stdout.
#[track_caller]
fn ok(r: CtlRun) -> String {
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:#?}");
    r.stdout
}

/// Replaces every run of digits with `N` on the datapath summary lines, whose counters move
/// with whatever the kernel sends on the internal port; the `cache:` line, present only once
/// a cache hit happened, is dropped.
fn mask_summary(show: &str) -> String {
    show.lines()
        .filter(|l| !l.starts_with("  cache: "))
        .map(|l| {
            if l.starts_with("  lookups:") || l.starts_with("  flows:") || l.starts_with("  masks:")
            {
                digits_to_n(l)
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn digits_to_n(l: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in l.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// Flows of the test's ports only: the local port (0, named like the datapath) carries
/// whatever the kernel sends on it, which the standalone bridge installs flows for.
fn flows(sw: &Dpswitch, dp: &str, args: &[&str]) -> String {
    let local = format!("in_port({dp})");
    ok(sw.dpctl(args))
        .lines()
        .filter(|l| !l.contains("in_port(0)") && !l.contains(&local))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn null_port(name: &str, n: u32) -> String {
    format!("{name}=net_null{n},no-rx=1")
}

#[test]
fn datapath_and_port_commands() {
    let dp = unique("dpc");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &null_port("p0", 0)]);

    expect(&sw.dpctl(&["dump-dps"]), 0, &format!("system@{dp}\n"), "");
    let want = format!(
        "system@{dp}:
  lookups: hit:N missed:N lost:N
  flows: N
  masks: hit:N total:N hit/pkt:N.N
  caches:
    masks-cache: size:4096
  port 0: {dp} (internal)
  port 1: p0 (dpdk: devargs=net_null0,no-rx=1)
"
    );
    assert_eq!(mask_summary(&ok(sw.dpctl(&["show"]))), want);
    assert_eq!(mask_summary(&ok(sw.dpctl(&["show", &dp]))), want);
    assert_eq!(
        mask_summary(&ok(sw.dpctl(&["show", &format!("system@{dp}")]))),
        want
    );

    // show -s: a port that receives nothing and was never sent to has exact zeros.
    let stats = ok(sw.dpctl(&["show", "-s"]));
    let p0 = stats
        .split_once("  port 1: p0 (dpdk: devargs=net_null0,no-rx=1)\n")
        .map(|(_, rest)| rest.to_string())
        .expect("port 1 in show -s");
    assert!(
        p0.starts_with(
            "    RX packets:0 errors:0 dropped:0 overruns:? frame:?
    TX packets:"
        ),
        "{stats}"
    );
    let lines: Vec<&str> = p0.lines().collect();
    assert_eq!(lines.len(), 5, "{stats}");
    assert!(
        lines[1].ends_with(" errors:0 dropped:0 aborted:? carrier:?"),
        "{stats}"
    );
    assert_eq!(lines[2], "    collisions:?");
    assert!(lines[3].starts_with("    RX bytes:0  TX bytes:"), "{stats}");
    assert_eq!(lines[4], "    UPCALL packets:0 errors:0");

    // add-if: a DPDK device (devargs with commas run to the end), an internal port with a
    // requested number.
    let int = unique("ip");
    ok(sw.dpctl(&[
        "add-if",
        &dp,
        &format!("{int},type=internal,port_no=7"),
        "p1,type=dpdk,devargs=net_null1,no-rx=1",
    ]));
    let show = ok(sw.dpctl(&["show", &dp]));
    assert!(
        show.ends_with(&format!(
            "  port 0: {dp} (internal)
  port 1: p0 (dpdk: devargs=net_null0,no-rx=1)
  port 2: p1 (dpdk: devargs=net_null1,no-rx=1)
  port 7: {int} (internal)
"
        )),
        "{show}"
    );

    // add-if errors: duplicate name, taken number, unknown type, missing kernel interface.
    expect(
        &sw.dpctl(&["add-if", &dp, "p1,type=dpdk,devargs=net_null9,no-rx=1"]),
        1,
        "",
        &format!("dpctl: adding p1 to {dp} failed (File exists)\n"),
    );
    expect(
        &sw.dpctl(&[
            "add-if",
            &dp,
            "p9,type=dpdk,port_no=7,devargs=net_null9,no-rx=1",
        ]),
        1,
        "",
        &format!("dpctl: adding p9 to {dp} failed (Device or resource busy)\n"),
    );
    expect(
        &sw.dpctl(&["add-if", &dp, "g0,type=frobnicator"]),
        1,
        "",
        "dpctl: g0: failed to open network device (Address family not supported by protocol)\n",
    );
    expect(
        &sw.dpctl(&["add-if", "nodp", "p9"]),
        1,
        "",
        "dpctl: opening datapath (No such device)\n",
    );

    // set-if: settings added and removed; type and number cannot change.
    ok(sw.dpctl(&["set-if", &dp, "p1,no-flood=true"]));
    assert!(ok(sw.dpctl(&["show", &dp]))
        .contains("  port 2: p1 (dpdk: devargs=net_null1,no-rx=1, no-flood=true)\n"));
    ok(sw.dpctl(&["set-if", &dp, "p1,no-flood=,type=dpdk,port_no=2"]));
    assert!(
        ok(sw.dpctl(&["show", &dp])).contains("  port 2: p1 (dpdk: devargs=net_null1,no-rx=1)\n")
    );
    // A setting dpswitch has no use for, or a value its key cannot take, is refused rather
    // than stored without effect.
    for bad in ["p1,mtu=1500", "p1,no-flood=maybe", "p1,n_rxq=0"] {
        let r = sw.dpctl(&["set-if", &dp, bad]);
        assert_eq!(r.code, 1, "{bad}: {r:?}");
        assert!(
            r.stderr.contains("(Invalid argument)"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = sw.dpctl(&[
        "add-if",
        &dp,
        "p8,type=dpdk,mtu=9000,devargs=net_null8,no-rx=1",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(Invalid argument)"), "{}", r.stderr);
    assert!(!ok(sw.dpctl(&["show", &dp])).contains(": p8 ("));

    // n_rxq: the device opens that many rx queues, each polled by a PMD; they cannot change
    // under the running port.
    ok(sw.dpctl(&[
        "add-if",
        &dp,
        "p4,type=dpdk,n_rxq=2,devargs=net_null4,no-rx=1",
    ]));
    assert!(ok(sw.dpctl(&["show", &dp])).contains("p4 (dpdk: devargs=net_null4,no-rx=1, n_rxq=2)"));
    let rxq = ok(sw.dpctl(&["pmd-rxq-show"]));
    for q in 0..2 {
        assert!(
            rxq.contains(&format!("  port: {:<16}  queue-id:  {q} (enabled)", "p4")),
            "{rxq}"
        );
    }
    let r = sw.dpctl(&["set-if", &dp, "p4,n_rxq=1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("(Operation not supported)"),
        "{}",
        r.stderr
    );
    ok(sw.dpctl(&["del-if", &dp, "p4"]));
    expect(
        &sw.dpctl(&["set-if", &dp, "p1,type=internal"]),
        1,
        "",
        "dpctl: p1: can't change type from dpdk to internal\n",
    );
    expect(
        &sw.dpctl(&["set-if", &dp, "p1,port_no=5"]),
        1,
        "",
        "dpctl: p1: can't change port number from 2 to 5\n",
    );
    expect(
        &sw.dpctl(&["set-if", &dp, "nope"]),
        1,
        "",
        &format!("dpctl: nope: failed to query port in {dp} (No such device)\n"),
    );

    // del-if by name and by number; errors keep going over the remaining ports.
    expect(
        &sw.dpctl(&["del-if", &dp, "nope", "p1", "7", "0"]),
        1,
        "",
        &format!(
            "dpctl: no port named nope\ndpctl: deleting port 0 from {dp} failed (Invalid argument)\n"
        ),
    );
    assert!(ok(sw.dpctl(&["show", &dp])).ends_with(&format!(
        "  port 0: {dp} (internal)\n  port 1: p0 (dpdk: devargs=net_null0,no-rx=1)\n"
    )));

    // A second datapath, created with a port.
    let dp2 = unique("dpd");
    ok(sw.dpctl(&["add-dp", &dp2, "q0,type=dpdk,devargs=net_null2,no-rx=1"]));
    let mut both = [format!("system@{dp}\n"), format!("system@{dp2}\n")];
    both.sort();
    expect(&sw.dpctl(&["dump-dps"]), 0, &both.concat(), "");
    assert_eq!(
        mask_summary(&ok(sw.dpctl(&["show", &format!("system@{dp2}")]))),
        format!(
            "system@{dp2}:
  lookups: hit:N missed:N lost:N
  flows: N
  masks: hit:N total:N hit/pkt:N.N
  caches:
    masks-cache: size:4096
  port 0: {dp2} (internal)
  port 1: q0 (dpdk: devargs=net_null2,no-rx=1)
"
        )
    );
    // show without arguments covers every datapath.
    let all = ok(sw.dpctl(&["show"]));
    assert!(all.contains(&format!("system@{dp}:\n")), "{all}");
    assert!(all.contains(&format!("system@{dp2}:\n")), "{all}");
    expect(
        &sw.dpctl(&["add-dp", &dp2]),
        1,
        "",
        "dpctl: add_dp (File exists)\n",
    );
    expect(
        &sw.dpctl(&["dump-flows"]),
        1,
        "",
        "dpctl: multiple datapaths, specify one\ndpctl: datapath not found (Invalid argument)\n",
    );
    let r = sw.dpctl(&["show", &dp2, "nosuchdp"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "dpctl: opening datapath nosuchdp failed (No such device)\n"
    );
    assert!(r.stdout.starts_with(&format!("system@{dp2}:\n")));
    expect(
        &sw.dpctl(&["show", "netdev@x"]),
        1,
        "",
        "dpctl: opening datapath netdev@x failed (Address family not supported by protocol)\n",
    );
    ok(sw.dpctl(&["del-dp", &format!("system@{dp2}")]));
    expect(
        &sw.dpctl(&["del-dp", &dp2]),
        1,
        "",
        "dpctl: opening datapath (No such device)\n",
    );
    expect(&sw.dpctl(&["dump-dps"]), 0, &format!("system@{dp}\n"), "");

    // Masks cache.
    let caches = |n: u32| format!("system@{dp}:\n  caches:\n    masks-cache: size:{n}\n");
    expect(&sw.dpctl(&["cache-get-size"]), 0, &caches(4096), "");
    expect(
        &sw.dpctl(&["cache-set-size", &dp, "masks-cache", "100"]),
        0,
        "Setting cache size successful, new size 128\n",
        "",
    );
    expect(&sw.dpctl(&["cache-get-size", &dp]), 0, &caches(128), "");
    expect(
        &sw.dpctl(&["cache-set-size", &dp, "masks-cache", "8192"]),
        1,
        "",
        "dpctl: Setting cache size failed (Numerical result out of range)\n",
    );
    expect(
        &sw.dpctl(&["cache-set-size", &dp, "flow-cache", "8"]),
        1,
        "",
        "dpctl: Cache name \"flow-cache\" not found on dpif (Invalid argument)\n",
    );
    expect(
        &sw.dpctl(&["cache-set-size", &dp, "masks-cache", "many"]),
        1,
        "",
        "dpctl: size is malformed (Invalid argument)\n",
    );
    expect(
        &sw.dpctl(&["cache-get-size", "nodp"]),
        1,
        "",
        "dpctl: Opening datapath nodp failed (No such device)\n",
    );
    ok(sw.dpctl(&["cache-set-size", &dp, "masks-cache", "256"]));

    // The daemon survived all of it.
    expect(&sw.dpctl(&["dump-dps"]), 0, &format!("system@{dp}\n"), "");
    assert!(sw.stop().success());
}

const ARP1: &str = "in_port(1),eth(),eth_type(0x0806),arp()";
const ARP2: &str = "in_port(2),eth(),eth_type(0x0806),arp()";
const UFID: &str = "ufid:11111111-2222-3333-4444-555555555555";

#[test]
fn flow_commands() {
    let dp = unique("dpf");
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &null_port("p1", 0),
        "--port",
        &null_port("p2", 1),
    ]);

    // add-flow with and without the datapath argument, by number and by port name.
    ok(sw.dpctl(&["add-flow", ARP1, "2"]));
    ok(sw.dpctl(&["add-flow", &dp, &format!("{UFID},{ARP2}"), "p1"]));
    assert_eq!(
        flows(&sw, &dp, &["dump-flows"]),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:2
in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1
"
    );
    assert_eq!(
        flows(&sw, &dp, &["dump-flows", "--names", &dp]),
        "in_port(p1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:p2
in_port(p2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:p1
"
    );
    let verbose = flows(&sw, &dp, &["dump-flows", "-m"]);
    let ufid_line = verbose
        .lines()
        .find(|l| l.starts_with("ufid:"))
        .expect("the UFID flow shows its UFID with -m");
    assert!(
        ufid_line.starts_with(&format!("{UFID}, recirc_id(0/0),")),
        "{verbose}"
    );
    assert!(
        ufid_line.contains(",in_port(p2),"),
        "-m implies --names: {verbose}"
    );
    assert!(
        ufid_line.ends_with(", packets:0, bytes:0, used:never, dp:ovs, actions:p1"),
        "{verbose}"
    );

    // get-flow by UFID.
    expect(
        &sw.dpctl(&["get-flow", UFID]),
        0,
        "in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1\n",
        "",
    );
    expect(
        &sw.dpctl(&["get-flow", &dp, "ufid:11111111-2222-3333-4444-555555555556"]),
        1,
        "",
        "dpctl: getting flow (No such file or directory)\n",
    );
    // ovs-dpctl reports a missing UFID with errno 0, and exits 0.
    expect(
        &sw.dpctl(&["get-flow", "in_port(1)"]),
        0,
        "",
        "dpctl: parsing flow ufid\n",
    );

    // Duplicates, malformed keys and actions, and keys the datapath rejects.
    expect(
        &sw.dpctl(&["add-flow", ARP1, "2"]),
        1,
        "",
        "dpctl: updating flow table (File exists)\n",
    );
    let r = sw.dpctl(&["add-flow", "in_port(1),bogus(3)", "2"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("dpctl: parsing flow key (")
            && r.stderr.ends_with(") (Invalid argument)\n"),
        "{r:?}"
    );
    expect(
        &sw.dpctl(&["add-flow", ARP1, "frobnicate(1)"]),
        1,
        "",
        "dpctl: parsing actions (Invalid argument)\n",
    );
    // TCP without its TCP attributes: "missing key" in the kernel's words.
    expect(
        &sw.dpctl(&[
            "add-flow",
            "in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=no)",
            "2",
        ]),
        1,
        "",
        "dpctl: updating flow table (Invalid argument)\n",
    );
    // An IPv4 mask without an exact IPv4 ethertype: "unexpected mask".
    expect(
        &sw.dpctl(&[
            "add-flow",
            "in_port(1),eth(),eth_type(0x0806),ipv4(src=1.2.3.4)",
            "2",
        ]),
        1,
        "",
        "dpctl: updating flow table (Invalid argument)\n",
    );
    expect(
        &sw.dpctl(&["add-flow", "nodp", ARP1, "2"]),
        1,
        "",
        "dpctl: datapath not found (Invalid argument)\n",
    );

    // mod-flow: SET needs an existing flow; --may-create creates; -s prints the stats.
    expect(
        &sw.dpctl(&["mod-flow", "-s", ARP1, "2,p2"]),
        0,
        "packets:0, bytes:0, used:never\n",
        "",
    );
    let arp3 = "in_port(3),eth(),eth_type(0x0806),arp()";
    expect(
        &sw.dpctl(&["mod-flow", arp3, "1"]),
        1,
        "",
        "dpctl: updating flow table (No such file or directory)\n",
    );
    ok(sw.dpctl(&["mod-flow", "--may-create", arp3, "1"]));
    ok(sw.dpctl(&["mod-flow", "--clear", arp3, "drop"]));
    assert_eq!(
        flows(&sw, &dp, &["dump-flows", &dp]),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:2,2
in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1
in_port(3),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:drop
"
    );

    // dump-flows filter=.
    assert_eq!(
        flows(&sw, &dp, &["dump-flows", "filter=in_port=p2"]),
        "in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1\n"
    );
    assert_eq!(flows(&sw, &dp, &["dump-flows", &dp, "filter=tcp"]), "");
    // type= selects datapath flows (ovs, non-offloaded); none are offloaded.
    assert_eq!(flows(&sw, &dp, &["dump-flows", "type=offloaded"]), "");
    assert_eq!(
        flows(&sw, &dp, &["dump-flows", "type=ovs", "filter=in_port=2"]),
        "in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1\n"
    );
    expect(
        &sw.dpctl(&["dump-flows", "type=bogus"]),
        1,
        "",
        "dpctl: Failed to parse type (bogus) (Invalid argument)\n",
    );
    expect(
        &sw.dpctl(&["dump-flows", "filter=bogus=1"]),
        1,
        "",
        "dpctl: Failed to parse filter (bogus=1: unknown field bogus)\n",
    );

    // del-flow: by key, by UFID, -s, and the UFID hint for a key that matches nothing.
    expect(
        &sw.dpctl(&["del-flow", "-s", arp3]),
        0,
        "packets:0, bytes:0, used:never\n",
        "",
    );
    expect(
        &sw.dpctl(&["del-flow", arp3]),
        1,
        "Perhaps you need to specify a UFID?\n",
        "dpctl: deleting flow (No such file or directory)\n",
    );
    expect(
        &sw.dpctl(&[
            "del-flow",
            "ufid:11111111-2222-3333-4444-555555555599,in_port(9),eth(),eth_type(0x0806),arp()",
        ]),
        1,
        "",
        "dpctl: deleting flow (No such file or directory)\n",
    );
    ok(sw.dpctl(&["del-flow", &dp, &format!("{UFID},{ARP2}")]));
    assert_eq!(
        flows(&sw, &dp, &["dump-flows"]),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:2,2\n"
    );

    // del-flows flushes.
    ok(sw.dpctl(&["del-flows"]));
    assert_eq!(flows(&sw, &dp, &["dump-flows"]), "");

    // add-flows / mod-flows / del-flows from a file and from stdin.
    let file = std::env::temp_dir().join(format!("{}.flows", unique("f")));
    std::fs::write(
        &file,
        format!(
            "# a comment line
add {ARP1} 2

{ARP2} 1  # a trailing comment
modify {ARP1} drop
delete {ARP2}
delete {ARP1} 2
"
        ),
    )
    .expect("write flows file");
    let path = file.to_string_lossy().into_owned();
    // ovs-dpctl prints each failed line and exits 0 once the datapath is open.
    expect(
        &sw.dpctl(&["add-flows", &path]),
        0,
        "",
        "dpctl: Failed parsing line number 7, skipped!\n",
    );
    assert_eq!(
        flows(&sw, &dp, &["dump-flows"]),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:drop\n"
    );
    std::fs::write(&file, format!("{ARP1} 1\n")).expect("write flows file");
    ok(sw.dpctl(&["mod-flows", &dp, &path]));
    assert_eq!(
        flows(&sw, &dp, &["dump-flows"]),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1\n"
    );
    ok(sw.dpctl_stdin(&["add-flows", "-"], &format!("{ARP2} 1\n")));
    // A delete line has no actions.
    std::fs::write(&file, format!("{ARP1}\n")).expect("write flows file");
    ok(sw.dpctl(&["del-flows", &path]));
    assert_eq!(
        flows(&sw, &dp, &["dump-flows"]),
        "in_port(2),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:1\n"
    );
    expect(
        &sw.dpctl(&["add-flows", &dp, "/nonexistent/flows"]),
        0,
        "",
        "dpctl: Opening file \"/nonexistent/flows\" failed (No such file or directory)\n",
    );
    let _ = std::fs::remove_file(&file);
    assert!(sw.stop().success());
}

#[test]
fn local_errors_need_no_daemon() {
    // Nothing listens at this port id: commands that need no daemon still work.
    let pid = 0x4500_0001;
    let r = dpctl_at(pid, &["-h"], "");
    assert_eq!(r.code, 0);
    for c in [
        "add-dp",
        "del-dp",
        "add-if",
        "del-if",
        "set-if",
        "dump-dps",
        "show",
        "dump-flows",
        "add-flow",
        "mod-flow",
        "get-flow",
        "del-flow",
        "add-flows",
        "mod-flows",
        "del-flows",
        "cache-get-size",
        "cache-set-size",
        "--netlink-pid",
    ] {
        assert!(r.stdout.contains(c), "-h lacks {c}");
    }
    let l = dpctl_at(pid, &["list-commands"], "");
    assert!(l
        .stdout
        .starts_with("The available commands are:\n  add-dp                  dp [iface...]\n"));
    expect(
        &dpctl_at(pid, &[], ""),
        1,
        "",
        "dpctl: missing command name; use --help for help\n",
    );
    expect(
        &dpctl_at(pid, &["frob"], ""),
        1,
        "",
        "dpctl: unknown command 'frob'; use --help for help\n",
    );
    expect(
        &dpctl_at(pid, &["add-flow", "x"], ""),
        1,
        "",
        "dpctl: 'add-flow' command requires at least 2 arguments\n",
    );
    expect(
        &dpctl_at(pid, &["del-dp", "a", "b"], ""),
        1,
        "",
        "dpctl: 'del-dp' command takes at most 1 arguments\n",
    );
    expect(
        &dpctl_at(pid, &["--read-only", "add-dp", "x"], ""),
        1,
        "",
        "dpctl: 'add-dp' command does not work in read only mode\n",
    );
    expect(
        &dpctl_at(pid, &["--frob", "show"], ""),
        1,
        "",
        "dpctl: unrecognized option '--frob'\n",
    );
    expect(
        &dpctl_at(pid, &["show"], ""),
        1,
        "",
        &format!("dpctl: no dpswitch is listening at netlink port id {pid} (Connection refused)\n"),
    );
}

#[test]
fn a_silent_daemon_times_out() {
    // A real netlink socket that never answers.
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import socket,sys,time\n\
             s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,16)\n\
             s.bind((0,0))\n\
             print(s.getsockname()[0],flush=True)\n\
             time.sleep(30)\n",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut line = String::new();
    BufReader::new(py.stdout.take().expect("python stdout"))
        .read_line(&mut line)
        .expect("read the silent socket's port id");
    let pid: u32 = line.trim().parse().expect("port id");
    let t = Instant::now();
    let r = dpctl_at(pid, &["-t", "1", "show"], "");
    let took = t.elapsed();
    let _ = py.kill();
    let _ = py.wait();
    expect(
        &r,
        1,
        "",
        &format!(
            "dpctl: dpswitch at netlink port id {pid} did not answer within the timeout (Connection timed out)\n"
        ),
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn unprivileged_users_cannot_change_the_datapath() {
    let dp = unique("dpu");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &null_port("p1", 0)]);
    let pid = sw.netlink_pid.to_string();
    let as_nobody = |caps: &[&str], args: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(caps)
            .arg(dpswitch_e2e::bin("dpctl"))
            .arg(format!("--netlink-pid={pid}"))
            .args(args)
            .output()
            .expect("run dpctl as nobody");
        CtlRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    // Without CAP_NET_ADMIN the kernel refuses to deliver to another netlink socket.
    expect(
        &as_nobody(&[], &["dump-dps"]),
        1,
        "",
        &format!("dpctl: sending to dpswitch at netlink port id {pid} is not permitted (needs CAP_NET_ADMIN) (Operation not permitted)\n"),
    );
    // With it but without uid 0, the daemon answers reads and refuses changes. Like
    // ovs-dpctl, every open negotiates features with a SET, so even `show` is refused.
    let cap = ["--inh-caps=+net_admin", "--ambient-caps=+net_admin"];
    expect(
        &as_nobody(&cap, &["show", &dp]),
        1,
        "",
        &format!("dpctl: opening datapath {dp} failed (Operation not permitted)\n"),
    );
    expect(
        &as_nobody(&cap, &["add-dp", "x9"]),
        1,
        "",
        "dpctl: add_dp (Operation not permitted)\n",
    );
    // Nothing changed.
    expect(&sw.dpctl(&["dump-dps"]), 0, &format!("system@{dp}\n"), "");
    assert!(sw.stop().success());
}

/// A `system` port names a kernel interface; the kernel answers ENODEV when there is none
/// (`ovs_netdev_link()`, `net/openvswitch/vport-netdev.c`), and so must dpswitch. dpctl, like
/// ovs-dpctl, finds the netdev missing itself first and says so in ovs-dpctl's words.
#[test]
fn adding_a_missing_kernel_interface_is_enodev() {
    let dp = unique("dpe");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &null_port("p1", 0)]);
    expect(
        &sw.dpctl(&["add-if", &dp, "nosuchif9"]),
        1,
        "",
        "dpctl: nosuchif9: failed to open network device (No such device)\n",
    );
    let mut c = dpswitch_e2e::nlclient::NlClient::connect(sw.netlink_pid);
    let get = c.msg(
        odp::family::datapath::DpCmd::Get,
        0,
        odp::family::datapath::DatapathAttrs {
            name: Some(dp.clone()),
            ..Default::default()
        },
    );
    let ifindex = c.transact(get, 0).0[0].dp_ifindex;
    let m = c.msg(
        odp::family::vport::VportCmd::New,
        ifindex,
        odp::family::vport::VportAttrs {
            name: Some("nosuchif9".to_string()),
            ty: Some(odp::family::vport::VportType::Netdev),
            upcall_pids: Some(vec![0]),
            ..Default::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, libc::ENODEV);
    assert!(sw.stop().success());
}

/// Two TAP ports in their own namespaces ping each other through flows installed with
/// dpctl; `show -s` and `dump-flows` then report the traffic.
#[test]
fn traffic_through_dpctl_flows_shows_in_stats_and_dumps() {
    let (a, b) = (unique("ca"), unique("cb"));
    let dp = unique("dpt");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let (nsa, nsb) = (dpswitch_e2e::Netns::new(), dpswitch_e2e::Netns::new());
    nsa.adopt(&a, "10.214.0.1/24");
    nsb.adopt(&b, "10.214.0.2/24");
    for (from, to) in [(&a, &b), (&b, &a)] {
        for key in [
            format!("in_port({from}),eth(),eth_type(0x0806),arp()"),
            format!("in_port({from}),eth(),eth_type(0x0800),ipv4(frag=no)"),
        ] {
            ok(sw.dpctl(&["add-flow", &key, to]));
        }
    }
    let (ok_ping, out) = nsa.try_exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.214.0.2"]);
    assert!(
        ok_ping,
        "ping failed:\n{out}\n--- dpswitch log ---\n{}",
        sw.log_text()
    );

    let dump = flows(&sw, &dp, &["dump-flows", "--names", "filter=ip"]);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 2, "{dump}");
    for (l, (from, to)) in lines.iter().zip([(&a, &b), (&b, &a)]) {
        let head = format!("in_port({from}),eth(),eth_type(0x0800),ipv4(frag=no), packets:");
        assert!(l.starts_with(&head), "{dump}");
        assert!(l.ends_with(&format!(", actions:{to}")), "{dump}");
        let n: u64 = l[head.len()..]
            .split(',')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("packet count");
        assert!(n >= 3, "3 echo requests and replies each way: {dump}");
        assert!(!l.contains("used:never"), "{dump}");
    }
    let show = ok(sw.dpctl(&["show", "-s", &dp]));
    let after_a = show
        .split_once(&format!(
            "  port 1: {a} (dpdk: devargs=net_tap_{a},iface={a})\n"
        ))
        .map(|(_, r)| r.to_string())
        .expect("port 1 in show -s");
    let rx: u64 = after_a
        .strip_prefix("    RX packets:")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("RX packets");
    assert!(rx >= 4, "ARP and 3 echo requests came in on {a}:\n{show}");
    println!(
        "--- dpctl show -s ---\n{show}--- dpctl dump-flows ---\n{}",
        ok(sw.dpctl(&["dump-flows"]))
    );
    assert!(sw.stop().success());
}

/// Every dpctl command opens the datapath the way ovs-dpctl does (OVS `lib/dpif-netlink.c`,
/// `dpif_netlink_open()`), negotiating per-CPU upcall dispatch without giving any upcall
/// socket. That must not cost a switch without a controller its forwarding: the standalone
/// bridge still forwards a ping afterwards.
#[test]
fn dpctl_show_keeps_the_standalone_bridge_forwarding() {
    let (a, b) = (unique("sa"), unique("sb"));
    let dp = unique("dps");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let (nsa, nsb) = (dpswitch_e2e::Netns::new(), dpswitch_e2e::Netns::new());
    nsa.adopt(&a, "10.216.0.1/24");
    nsb.adopt(&b, "10.216.0.2/24");
    ok(sw.dpctl(&["show"]));
    let (ok_ping, out) = nsa.try_exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.216.0.2"]);
    assert!(
        ok_ping,
        "ping failed after dpctl show:\n{out}\n{}",
        ok(sw.dpctl(&["show", "-s"]))
    );
    assert!(sw.stop().success());
}

/// dpctl opens and creates datapaths with ovs-dpctl's feature negotiation: the impossible
/// bit is refused with EOPNOTSUPP, per-CPU dispatch is then taken, TC recirculation sharing
/// is refused, and the datapath ends with UNALIGNED | DISPATCH_UPCALL_PER_CPU.
#[test]
fn opening_negotiates_features_like_ovs_dpctl() {
    use odp::family::datapath::{features, DatapathAttrs, DpCmd};
    let dp = unique("dpn");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &null_port("p1", 0)]);
    let mut c = dpswitch_e2e::nlclient::NlClient::connect(sw.netlink_pid);
    let get = |c: &mut dpswitch_e2e::nlclient::NlClient, name: &str| {
        let body = DatapathAttrs {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let (r, e) = c.transact(c.msg(DpCmd::Get, 0, body), 0);
        assert_eq!(e, 0, "GET {name}");
        r.first().and_then(|m| m.body.user_features).unwrap_or(0)
    };
    let negotiated = features::UNALIGNED | features::DISPATCH_UPCALL_PER_CPU;

    ok(sw.dpctl(&["dump-dps"]));
    assert_eq!(get(&mut c, &dp), negotiated);

    let dp2 = unique("dpn");
    ok(sw.dpctl(&["add-dp", &dp2]));
    assert_eq!(get(&mut c, &dp2), negotiated);

    // The probe dpctl relies on: unknown bits are refused and change nothing.
    let body = DatapathAttrs {
        name: Some(dp.clone()),
        user_features: Some(features::UNALIGNED | features::VPORT_PIDS | 1 << 31),
        ..Default::default()
    };
    let (_, e) = c.transact(c.msg(DpCmd::Set, 0, body), 0);
    assert_eq!(e, 95, "EOPNOTSUPP");
    assert_eq!(get(&mut c, &dp), negotiated);
    assert!(sw.stop().success());
}
