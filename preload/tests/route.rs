//! NETLINK_ROUTE under the library: iproute2 works as without it, except that creating a
//! kernel tunnel device fails with EOPNOTSUPP (so vswitchd 3.1 creates typed tunnel vports
//! in dpswitch instead), unless `DPSWITCH_PRELOAD_TUNNELS=kernel`. Run in fresh network
//! namespaces; no dpswitch is needed.

mod common;

use std::process::Command;

use common::{preloaded, run, Run};
use dpswitch_e2e::{fresh_netlink_pid, Netns};

/// `ip ARGS` in `ns` under the library, with `env` added.
fn ip_preloaded(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, "ip"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(preloaded(cmd, fresh_netlink_pid()), "")
}

#[test]
fn iproute2_reads_the_same_under_the_library() {
    let ns = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
    ]);
    ns.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", "va"]);
    ns.exec(&["ip", "link", "set", "va", "up"]);
    for args in [
        &["-d", "link", "show"][..],
        &["addr", "show"],
        &["route", "show", "table", "all"],
    ] {
        let mut plain = vec!["ip"];
        plain.extend_from_slice(args);
        let want = ns.exec(&plain);
        let got = ip_preloaded(&ns, args, &[]);
        assert_eq!(got.code, 0, "ip {args:?}: {got:#?}");
        assert_eq!(got.stdout, want, "ip {args:?}");
        assert_eq!(got.stderr, "");
    }
    // Changes other than tunnel creation go through.
    let r = ip_preloaded(
        &ns,
        &["link", "add", "vc", "type", "veth", "peer", "name", "vd"],
        &[],
    );
    assert_eq!(r.code, 0, "{r:#?}");
    let r = ip_preloaded(&ns, &["link", "set", "vc", "mtu", "1400"], &[]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(ns
        .exec(&["ip", "link", "show", "vc"])
        .contains(" mtu 1400 "));
}

#[test]
fn creating_a_kernel_tunnel_device_fails_under_the_library() {
    let ns = Netns::new();
    let vxlan = [
        "link", "add", "vx0", "type", "vxlan", "id", "5", "dstport", "4789",
    ];
    // This kernel can: without the library the device is made.
    let mut plain = vec!["ip"];
    plain.extend_from_slice(&vxlan);
    ns.exec(&plain);
    ns.exec(&["ip", "link", "del", "vx0"]);
    let r = ip_preloaded(&ns, &vxlan, &[]);
    assert_ne!(r.code, 0, "{r:#?}");
    assert!(
        r.stderr.contains("Unknown device type") || r.stderr.contains("not supported"),
        "{r:#?}"
    );
    let (exists, _) = ns.try_exec(&["ip", "link", "show", "vx0"]);
    assert!(!exists, "vx0 was created");
    // Unless tunnels are left to the kernel.
    let r = ip_preloaded(&ns, &vxlan, &[("DPSWITCH_PRELOAD_TUNNELS", "kernel")]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(ns
        .exec(&["ip", "-d", "link", "show", "vx0"])
        .contains("vxlan id 5"));
}
