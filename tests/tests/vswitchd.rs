//! The stock Debian 12 ovs-vswitchd (OVS 3.1) driving dpswitch as its `system` datapath,
//! end to end: ovsdb-server, ovs-vswitchd (LD_PRELOADed to dpswitch's netlink port id) and
//! dpswitch in a private chassis namespace per test (`dpswitch_e2e::ovs`), workload
//! namespaces on veth pairs added as `system` ports with their default offloads on, and real
//! traffic checked on the wire in the receiving namespace.
//!
//! Every test holds dpswitch to what the kernel datapath (`net/openvswitch`) does under the
//! same vswitchd, and every test ends with vswitchd's log free of warnings: vswitchd warns
//! about every datapath answer it did not expect. Wire checks come first, so a failure names
//! the first thing that went wrong.
//!
//! Run (root, after `dpdk-sys/install-deps.sh --tests` and `cargo build --workspace --bins`;
//! `tests/run.sh` does both): `cargo test -p dpswitch-e2e --test vswitchd`. A failing test
//! keeps its chassis directory (vswitchd's and ovsdb-server's logs) and names it;
//! `DPSWITCH_E2E_KEEP=1` keeps it for passing tests too, `DPSWITCH_E2E_PRELOAD=/path/lib.so`
//! runs vswitchd under another preload library, `DPSWITCH_E2E_VLOG="netlink_socket:file:dbg"`
//! adds vlog settings (here: every netlink message vswitchd sends and receives, in its log),
//! `DPSWITCH_OVS_CACHE` points at another unpacked OVS.
//!
//! The switch-side veth ends have IPv6 off (a bridge port has no IP stack of its own), so
//! the chassis' chatter stays out of the other tests; `system_port_does_not_take_in_its_own_
//! transmissions` checks that such chatter would not be switched anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dpswitch_e2e::ovs::{Host, Ovs, OvsOptions};
use dpswitch_e2e::{
    bin, mac_str, ping, ping_fragmented, snmp_counter, tcp4_frame, tcp_exchange, udp4_frame,
    udp_burst, with_vlan, Frame, Ip4Spec, PacketSocket,
};

const BR: &str = "br0";
/// How long a frame may take to cross the switch, first packet (upcall) included.
const WIRE: Duration = Duration::from_secs(3);

/// A chassis with `br0` (`datapath_type=system`) and `n` hosts on veth pairs of MTU `mtu`.
fn bridge_with_hosts(n: u8, mtu: u32) -> (Ovs, Vec<Host>) {
    let ovs = Ovs::start();
    ovs.add_bridge(BR);
    let hosts = (1..=n).map(|i| ovs.add_host(BR, i, mtu)).collect();
    (ovs, hosts)
}

#[track_caller]
fn assert_ping(ovs: &Ovs, from: &Host, to: &str, ip_len: usize) {
    let r = ping(&from.ns, to, ip_len, 3);
    // A duplicate reply means a frame was delivered twice (flooded to a port that also
    // had it, or taken in by the chassis' own stack as well as the switch).
    assert!(
        r.all_answered && !r.output.contains("duplicates"),
        "ping {to} ({ip_len} bytes) from {}:\n{}\n{}",
        from.ns.name,
        r.output,
        ovs.diagnostics()
    );
}

/// The `packets:N` of one `dpctl/dump-flows` line.
fn packets(line: &str) -> u64 {
    line.split(", ")
        .find_map(|f| f.strip_prefix("packets:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packets: in {line:?}"))
}

/// The `actions:` part of one `dpctl/dump-flows` line.
fn actions(line: &str) -> &str {
    line.rsplit_once("actions:").map_or("", |(_, a)| a)
}

/// The datapath flows (`--names`) whose text contains every one of `parts`.
fn flows_with(ovs: &Ovs, parts: &[&str]) -> Vec<String> {
    ovs.dpctl_dump_flows()
        .into_iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

/// The match of the IPv4 flow from host `a` to host `b` as dpctl prints it.
fn ip_flow_match(a: &Host, b: &Host) -> [String; 3] {
    [
        format!("in_port({})", a.port),
        format!("eth(src={},dst={})", a.mac_str(), b.mac_str()),
        "eth_type(0x0800)".to_string(),
    ]
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Polls `cond` every 250 ms until it holds or `timeout` passes; whether it held.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `ovs-appctl fdb/show` as (OpenFlow port, MAC) pairs.
fn fdb(ovs: &Ovs) -> BTreeSet<(String, String)> {
    ovs.appctl(&["fdb/show", BR])
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

/// The `<...>` flags of a link in a namespace.
fn link_flags(ns: &dpswitch_e2e::Netns, ifname: &str) -> BTreeSet<String> {
    let out = ns.exec(&["ip", "-o", "link", "show", ifname]);
    let inner = out
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map_or("", |(f, _)| f);
    inner.split(',').map(str::to_string).collect()
}

/// The promiscuity count of `ifname` (`ip -d link`: `promiscuity N`). A kernel user of an
/// interface (the kernel datapath, a packet socket's membership) adds to it without the
/// `PROMISC` flag, which only a user's own request sets (`dev_get_flags()`).
fn promiscuity(ns: &dpswitch_e2e::Netns, ifname: &str) -> u32 {
    let out = ns.exec(&["ip", "-d", "-o", "link", "show", ifname]);
    let mut words = out.split_whitespace();
    words
        .find(|w| *w == "promiscuity")
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no promiscuity count for {ifname}: {out}"))
}

// ---------------------------------------------------------------------------------------
// add-br, ports, NORMAL

#[test]
fn add_br_creates_the_system_datapath_with_its_local_port() {
    let ovs = Ovs::start();
    ovs.add_bridge(BR);
    let show = ovs.appctl(&["dpctl/show"]);
    assert!(show.starts_with("system@ovs-system:"), "{show}");
    assert!(show.contains("port 0: ovs-system (internal)"), "{show}");
    assert!(show.contains(&format!("port 1: {BR} (internal)")), "{show}");
    assert!(
        !show.contains("dp0"),
        "dpswitch's own datapath survived: {show}"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", BR, "datapath_type"]).trim(),
        "system"
    );
    assert_eq!(ovs.ofport(BR), 65534);
    let log = ovs.log();
    assert!(log.contains("Datapath dispatch mode: per-cpu"), "{log}");
    assert!(!log.contains("does not exist"), "{log}");
    ovs.assert_log_clean();
}

/// The kernel registers an internal port's netdev and leaves it down (vswitchd never brings
/// it up; the user does), and makes it promiscuous (`vport-internal_dev.c:
/// internal_dev_create`, `dev_set_promiscuity(dev, 1)`).
#[test]
fn internal_port_netdev_is_created_down_and_promiscuous() {
    let ovs = Ovs::start();
    ovs.add_bridge(BR);
    let flags = link_flags(&ovs.ns, BR);
    assert!(!flags.contains("UP"), "{BR} was brought up: {flags:?}");
    assert_eq!(promiscuity(&ovs.ns, BR), 1, "{BR} is not promiscuous");
    assert!(
        !flags.contains("PROMISC"),
        "a user's flag, not the kernel's: {flags:?}"
    );
    ovs.assert_log_clean();
}

/// The kernel makes a `system` port's netdev promiscuous when it attaches it
/// (`vport-netdev.c:ovs_netdev_link`).
#[test]
fn system_port_netdev_is_made_promiscuous() {
    let (ovs, h) = bridge_with_hosts(1, 1500);
    assert_eq!(promiscuity(&ovs.ns, &h[0].port), 1, "{}", h[0].port);
    ovs.assert_log_clean();
}

#[test]
fn normal_forwards_ping_between_veth_hosts() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    assert_ping(&ovs, &h[1], &h[0].ip4.to_string(), 84);
    assert_ping(&ovs, &h[0], &h[1].ip6.to_string(), 104);
    ovs.assert_log_clean();
}

#[test]
fn normal_learns_macs_visible_in_fdb_show() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let table = fdb(&ovs);
    for host in &h {
        assert!(
            table.contains(&(host.ofport.to_string(), host.mac_str())),
            "{} not learned on port {}: {table:?}",
            host.mac_str(),
            host.ofport
        );
    }
    ovs.assert_log_clean();
}

#[test]
fn normal_installs_megaflows_that_count_packets() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let r = ping(&h[0].ns, &h[1].ip4.to_string(), 84, 5);
    assert!(r.all_answered, "{}\n{}", r.output, ovs.diagnostics());
    for (a, b) in [(&h[0], &h[1]), (&h[1], &h[0])] {
        let m = ip_flow_match(a, b);
        let f = flows_with(&ovs, &as_refs(&m));
        assert_eq!(f.len(), 1, "one megaflow {m:?}:\n{}", ovs.diagnostics());
        assert!(f[0].starts_with("recirc_id(0),"), "{}", f[0]);
        assert_eq!(actions(&f[0]), b.port, "{}", f[0]);
        // The first echo went up as a miss; the other four hit the flow.
        assert!(packets(&f[0]) >= 3, "{}", f[0]);
    }
    ovs.assert_log_clean();
}

#[test]
fn normal_carries_tcp_connections_both_ways() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    for (c, s) in [(&h[0], &h[1]), (&h[1], &h[0])] {
        let addr = SocketAddr::new(s.ip4.into(), 8080);
        let r = tcp_exchange(&c.ns, &s.ns, addr, 300, 2000, Duration::from_secs(10));
        assert!(
            r.is_ok(),
            "TCP {} -> {addr}: {r:?}\nreceiver TcpInCsumErrors={}\n{}",
            c.ns.name,
            snmp_counter(&s.ns, "Tcp", "InCsumErrors"),
            ovs.diagnostics()
        );
    }
    ovs.assert_log_clean();
}

/// The bridge's local port, given an address in the chassis namespace, talks to the hosts.
#[test]
fn local_port_reaches_the_hosts() {
    let (ovs, h) = bridge_with_hosts(1, 1500);
    let local = Host::ip4_of(254);
    ovs.ns.exec(&["ip", "link", "set", BR, "up"]);
    ovs.ns
        .exec(&["ip", "addr", "add", &format!("{local}/24"), "dev", BR]);
    assert_ping(&ovs, &h[0], &local.to_string(), 84);
    let addr = SocketAddr::new(local.into(), 8080);
    let r = tcp_exchange(&h[0].ns, &ovs.ns, addr, 1000, 1000, Duration::from_secs(10));
    assert!(
        r.is_ok(),
        "host -> local port: {r:?}\nchassis TcpInCsumErrors={}\n{}",
        snmp_counter(&ovs.ns, "Tcp", "InCsumErrors"),
        ovs.diagnostics()
    );
    let addr = SocketAddr::new(h[0].ip4.into(), 8081);
    let r = tcp_exchange(&ovs.ns, &h[0].ns, addr, 1000, 1000, Duration::from_secs(10));
    assert!(
        r.is_ok(),
        "local port -> host: {r:?}\n{}",
        ovs.diagnostics()
    );
    ovs.assert_log_clean();
}

/// A DPDK device as a `system` port by the name map: `--port-map dpdk0=net_tap...` makes
/// dpswitch create a stand-in netdev `dpdk0` at start, so vswitchd's netdev layer finds it,
/// and open the TAP PMD when vswitchd adds `dpdk0`. The TAP's own netdev stays in the
/// chassis namespace with an address; a veth host reaches it through the bridge.
///
/// Needs dpswitch's managed mode (`--managed`, `--port-map`).
#[test]
fn dpdk_port_by_port_map_forwards() {
    let tap_if = "dtap0";
    let ovs = Ovs::start_with(OvsOptions {
        port_map: vec![("dpdk0".into(), format!("net_tap_e2edpdk,iface={tap_if}"))],
    });
    ovs.add_bridge(BR);
    let h = ovs.add_host(BR, 1, 1500);
    ovs.vsctl(&["add-port", BR, "dpdk0"]);
    let ofport = ovs.ofport("dpdk0");
    assert!(ofport > 0);
    let tap_ip = Host::ip4_of(3);
    ovs.ns
        .exec(&["ip", "addr", "add", &format!("{tap_ip}/24"), "dev", tap_if]);
    ovs.ns.exec(&["ip", "link", "set", tap_if, "up"]);
    assert_ping(&ovs, &h, &tap_ip.to_string(), 84);
    let show = ovs.appctl(&["dpctl/show"]);
    assert!(show.contains(": dpdk0"), "{show}");
    ovs.assert_log_clean();
}

/// A frame the chassis itself sends out of a `system` port's netdev leaves by that device
/// only; the kernel datapath sees only frames the device receives
/// (`vport-netdev.c:netdev_frame_hook` is an rx handler), so it is neither switched to other
/// ports nor learned.
#[test]
fn system_port_does_not_take_in_its_own_transmissions() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (rx1, rx2) = (h[0].socket(), h[1].socket());
    let chassis_side = PacketSocket::open(&ovs.ns, &h[1].port);
    let src = [0x02, 0x99, 0, 0, 0, 0x42];
    let frame = dpswitch_e2e::magic_frame([0xff; 6], src, b"sent by the chassis");
    chassis_side.send(&frame);
    assert!(
        rx2.recv_magic(WIRE).is_some(),
        "the frame did not even leave through the veth"
    );
    assert!(
        rx1.recv_magic(Duration::from_secs(1)).is_none(),
        "the chassis' own transmission on {} was switched to {}\n{}",
        h[1].port,
        h[0].port,
        ovs.diagnostics()
    );
    let table = fdb(&ovs);
    assert!(
        !table.iter().any(|(_, m)| *m == mac_str(src)),
        "learned from a transmitted frame: {table:?}"
    );
    ovs.assert_log_clean();
}

// ---------------------------------------------------------------------------------------
// Explicit OpenFlow pipelines, checked on the wire

/// Replaces br0's flows with `flows` (OpenFlow 1.5, so every action below is available).
fn install_flows(ovs: &Ovs, flows: &[String]) {
    ovs.ofctl(&["-O", "OpenFlow15", "del-flows", BR]);
    for f in flows {
        ovs.ofctl(&["-O", "OpenFlow15", "add-flow", BR, f]);
    }
}

/// A UDP test frame from host `a` to host `b`.
fn spec(a: &Host, b: &Host, dport: u16) -> Ip4Spec {
    Ip4Spec {
        src_mac: a.mac,
        dst_mac: b.mac,
        src: a.ip4,
        dst: b.ip4,
        ttl: 64,
        sport: 40000,
        dport,
    }
}

/// A payload no other frame carries.
fn tag(name: &str, i: usize) -> Vec<u8> {
    format!("dpswitch-e2e {name} {i}").into_bytes()
}

/// The next frame at `sock` carrying `payload` as its L4 payload.
fn recv_tagged(sock: &PacketSocket, payload: &[u8], timeout: Duration) -> Option<Frame> {
    sock.recv_frame(timeout, |b| {
        Frame::parse(b).is_some_and(|f| f.l4_payload() == Some(payload))
    })
    .and_then(|b| Frame::parse(&b))
}

/// Sends `count` frames built by `frame(i)` (tagged `tag(name, i)`) from `from`, 300 ms
/// apart (the first goes up as a miss, the rest use the installed flow), and returns what
/// `to` received of each.
fn send_and_capture(
    from: &Host,
    to: &PacketSocket,
    name: &str,
    count: usize,
    frame: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<Option<Frame>> {
    let tx = from.socket();
    (0..count)
        .map(|i| {
            let t = tag(name, i);
            tx.send(&frame(&t));
            let got = recv_tagged(to, &t, WIRE);
            std::thread::sleep(Duration::from_millis(300));
            got
        })
        .collect()
}

#[track_caller]
fn all_arrived(ovs: &Ovs, got: Vec<Option<Frame>>) -> Vec<Frame> {
    let n = got.len();
    let arrived: Vec<Frame> = got.into_iter().flatten().collect();
    assert_eq!(
        arrived.len(),
        n,
        "{} of {n} frames arrived\n{}",
        arrived.len(),
        ovs.diagnostics()
    );
    arrived
}

#[test]
fn openflow_tables_with_goto_table_and_resubmit() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    install_flows(
        &ovs,
        &[
            format!("table=0,in_port={p1},udp,actions=goto_table:1"),
            "table=1,priority=10,udp,tp_dst=7001,actions=resubmit(,2)".into(),
            "table=1,priority=0,actions=drop".into(),
            format!("table=2,actions=output:{p2}"),
        ],
    );
    let rx = h[1].socket();
    let got = send_and_capture(&h[0], &rx, "tables", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        assert_eq!(f.udp.as_ref().map(|u| u.dport), Some(7001));
    }
    let missed = send_and_capture(&h[0], &rx, "tables-miss", 2, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7002), t)
    });
    assert!(
        missed.iter().all(Option::is_none),
        "a frame table 1 drops arrived"
    );
    ovs.assert_log_clean();
}

#[test]
fn openflow_mod_dl_src_and_dst() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    let (src, dst) = ("02:aa:00:00:00:01", "02:aa:00:00:00:02");
    install_flows(
        &ovs,
        &[format!(
            "in_port={p1},udp,actions=mod_dl_src:{src},mod_dl_dst:{dst},output:{p2}"
        )],
    );
    let rx = h[1].socket();
    let got = send_and_capture(&h[0], &rx, "dl", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        assert_eq!((mac_str(f.src), mac_str(f.dst)), (src.into(), dst.into()));
        assert!(f.udp.as_ref().is_some_and(|u| u.csum_ok));
    }
    ovs.assert_log_clean();
}

#[test]
fn openflow_mod_nw_src_and_dst_keep_checksums_valid() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    let (src, dst) = (Ipv4Addr::new(10, 214, 9, 1), Ipv4Addr::new(10, 214, 9, 2));
    install_flows(
        &ovs,
        &[format!(
            "in_port={p1},udp,actions=mod_nw_src:{src},mod_nw_dst:{dst},output:{p2}"
        )],
    );
    let rx = h[1].socket();
    let got = send_and_capture(&h[0], &rx, "nw", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        let ip = f.ip4.as_ref().expect("IPv4");
        assert_eq!((ip.src, ip.dst), (src, dst));
        assert!(ip.csum_ok, "IPv4 header checksum not updated: {f:?}");
        assert!(
            f.udp.as_ref().is_some_and(|u| u.csum_ok),
            "UDP checksum not updated for the pseudo-header: {f:?}"
        );
    }
    ovs.assert_log_clean();
}

#[test]
fn openflow_mod_tp_dst_for_udp_and_tcp() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    install_flows(
        &ovs,
        &[
            format!("in_port={p1},udp,actions=mod_tp_dst:9999,output:{p2}"),
            format!("in_port={p1},tcp,actions=mod_tp_dst:8888,output:{p2}"),
        ],
    );
    let rx = h[1].socket();
    let got = send_and_capture(&h[0], &rx, "tp-udp", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        let u = f.udp.as_ref().expect("UDP");
        assert_eq!(u.dport, 9999);
        assert!(u.csum_ok, "{f:?}");
    }
    let got = send_and_capture(&h[0], &rx, "tp-tcp", 3, |t| {
        tcp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        let t = f.tcp.as_ref().expect("TCP");
        assert_eq!(t.dport, 8888);
        assert!(t.csum_ok, "{f:?}");
    }
    ovs.assert_log_clean();
}

#[test]
fn openflow_push_vlan_and_strip_vlan() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    install_flows(
        &ovs,
        &[
            // 4196 = OFPVID_PRESENT | 100.
            format!(
                "in_port={p1},udp,actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:{p2}"
            ),
            format!("in_port={p2},dl_vlan=100,actions=strip_vlan,output:{p1}"),
        ],
    );
    let rx2 = h[1].socket();
    let got = send_and_capture(&h[0], &rx2, "push", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        assert_eq!(f.vlan.map(|tci| tci & 0x0fff), Some(100), "{f:?}");
    }
    let rx1 = h[0].socket();
    let got = send_and_capture(&h[1], &rx1, "strip", 3, |t| {
        with_vlan(&udp4_frame(&spec(&h[1], &h[0], 7001), t), 100)
    });
    for f in all_arrived(&ovs, got) {
        assert_eq!(f.vlan, None, "{f:?}");
        assert_eq!(f.ethertype, 0x0800);
    }
    ovs.assert_log_clean();
}

#[test]
fn openflow_dec_ttl() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    install_flows(
        &ovs,
        &[format!("in_port={p1},udp,actions=dec_ttl,output:{p2}")],
    );
    let rx = h[1].socket();
    let got = send_and_capture(&h[0], &rx, "ttl", 3, |t| {
        udp4_frame(&spec(&h[0], &h[1], 7001), t)
    });
    for f in all_arrived(&ovs, got) {
        let ip = f.ip4.as_ref().expect("IPv4");
        assert_eq!(ip.ttl, 63);
        assert!(ip.csum_ok, "{f:?}");
    }
    // TTL 1 would reach 0: OpenFlow sends it to the controller (none here) instead.
    let expired = send_and_capture(&h[0], &rx, "ttl-1", 2, |t| {
        udp4_frame(
            &Ip4Spec {
                ttl: 1,
                ..spec(&h[0], &h[1], 7001)
            },
            t,
        )
    });
    assert!(
        expired.iter().all(Option::is_none),
        "a TTL 1 frame was forwarded"
    );
    ovs.assert_log_clean();
}

#[test]
fn openflow_multiple_outputs_in_action_order() {
    let (ovs, h) = bridge_with_hosts(3, 1500);
    let (p1, p2, p3) = (h[0].ofport, h[1].ofport, h[2].ofport);
    let changed = "02:aa:00:00:00:03";
    install_flows(
        &ovs,
        &[format!(
            "in_port={p1},udp,actions=output:{p2},mod_dl_dst:{changed},output:{p3}"
        )],
    );
    let (rx2, rx3) = (h[1].socket(), h[2].socket());
    let tx = h[0].socket();
    for i in 0..3 {
        let t = tag("outputs", i);
        tx.send(&udp4_frame(&spec(&h[0], &h[1], 7001), &t));
        let a = recv_tagged(&rx2, &t, WIRE);
        let b = recv_tagged(&rx3, &t, WIRE);
        assert!(
            a.is_some() && b.is_some(),
            "frame {i}: at {}: {a:?}, at {}: {b:?}\n{}",
            h[1].port,
            h[2].port,
            ovs.diagnostics()
        );
        assert_eq!(
            a.map(|f| f.dst),
            Some(h[1].mac),
            "the first copy left unchanged"
        );
        assert_eq!(b.map(|f| mac_str(f.dst)), Some(changed.to_string()));
        std::thread::sleep(Duration::from_millis(300));
    }
    ovs.assert_log_clean();
}

#[test]
fn openflow_drop() {
    let (ovs, h) = bridge_with_hosts(3, 1500);
    let p1 = h[0].ofport;
    install_flows(&ovs, &[format!("in_port={p1},udp,actions=drop")]);
    let (rx2, rx3) = (h[1].socket(), h[2].socket());
    let tx = h[0].socket();
    for i in 0..4 {
        let t = tag("drop", i);
        let mut s = spec(&h[0], &h[1], 7001);
        s.dst_mac = [0xff; 6];
        tx.send(&udp4_frame(&s, &t));
        assert!(recv_tagged(&rx2, &t, Duration::from_millis(500)).is_none());
        assert!(recv_tagged(&rx3, &t, Duration::from_millis(500)).is_none());
    }
    let m = format!("in_port({})", h[0].port);
    let f = flows_with(&ovs, &[&m, "eth_type(0x0800)"]);
    assert!(
        f.iter().any(|l| actions(l) == "drop" && packets(l) >= 2),
        "no dropping megaflow that counted the later frames: {f:?}"
    );
    ovs.assert_log_clean();
}

/// A `select` group with `selection_method=dp_hash`: vswitchd emits `hash(..)` and
/// `recirc(..)` and one flow per hash bucket; different 5-tuples spread over both buckets,
/// and each frame leaves exactly once.
#[test]
fn openflow_select_group_spreads_by_dp_hash() {
    let (ovs, h) = bridge_with_hosts(3, 1500);
    let (p1, p2, p3) = (h[0].ofport, h[1].ofport, h[2].ofport);
    ovs.ofctl(&["-O", "OpenFlow15", "del-flows", BR]);
    ovs.ofctl(&[
        "-O",
        "OpenFlow15",
        "add-group",
        BR,
        &format!(
            "group_id=1,type=select,selection_method=dp_hash,\
             bucket=bucket_id=0,actions=output:{p2},bucket=bucket_id=1,actions=output:{p3}"
        ),
    ]);
    ovs.ofctl(&[
        "-O",
        "OpenFlow15",
        "add-flow",
        BR,
        &format!("in_port={p1},udp,actions=group:1"),
    ]);
    let (rx2, rx3) = (h[1].socket(), h[2].socket());
    let tx = h[0].socket();
    let n = 24;
    for i in 0..n {
        let mut s = spec(&h[0], &h[1], 7001);
        s.sport = 41000 + u16::try_from(i).expect("i");
        tx.send(&udp4_frame(&s, &tag("select", i)));
        std::thread::sleep(Duration::from_millis(30));
    }
    let count = |rx: &PacketSocket| {
        rx.collect_frames(Duration::from_secs(2), |b| {
            Frame::parse(b)
                .and_then(|f| {
                    f.l4_payload()
                        .map(|p| p.starts_with(b"dpswitch-e2e select "))
                })
                .unwrap_or(false)
        })
        .len()
    };
    let (c2, c3) = (count(&rx2), count(&rx3));
    assert_eq!(
        c2 + c3,
        n,
        "{c2} + {c3} of {n} frames arrived\n{}",
        ovs.diagnostics()
    );
    assert!(c2 > 0 && c3 > 0, "no spread: {c2} / {c3}");
    let all = ovs.dpctl_dump_flows().join("\n");
    assert!(all.contains("hash("), "no hash action:\n{all}");
    assert!(all.contains("recirc("), "no recirculation:\n{all}");
    assert!(all.contains("dp_hash("), "no flow matching dp_hash:\n{all}");
    ovs.assert_log_clean();
}

/// `learn`: a frame from host 2 teaches table 1 where host 2's MAC lives; afterwards a frame
/// to that MAC goes to host 2 only, where before it flooded.
#[test]
fn openflow_learn_installs_a_flow_that_forwards() {
    let (ovs, h) = bridge_with_hosts(3, 1500);
    // Only the test's frames (UDP to 7001) learn or pass: the hosts' own IPv6 chatter would
    // teach table 1 their MACs before the test does.
    install_flows(
        &ovs,
        &[
            "table=0,priority=10,udp,tp_dst=7001,actions=learn(table=1,priority=10,\
             hard_timeout=300,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),\
             resubmit(,1)"
                .into(),
            "table=0,priority=0,actions=drop".into(),
            "table=1,priority=0,actions=flood".into(),
        ],
    );
    let (rx2, rx3) = (h[1].socket(), h[2].socket());
    // Before: host 2 unknown, flooded to both.
    let t = tag("learn-flood", 0);
    h[0].socket()
        .send(&udp4_frame(&spec(&h[0], &h[1], 7001), &t));
    assert!(
        recv_tagged(&rx2, &t, WIRE).is_some(),
        "{}",
        ovs.diagnostics()
    );
    assert!(
        recv_tagged(&rx3, &t, WIRE).is_some(),
        "{}",
        ovs.diagnostics()
    );
    // Host 2 speaks: learned.
    let t = tag("learn-teach", 0);
    h[1].socket()
        .send(&udp4_frame(&spec(&h[1], &h[0], 7001), &t));
    let learned = wait_until(WIRE, || {
        ovs.ofctl(&["dump-flows", BR, "table=1"])
            .contains(&format!("dl_dst={}", h[1].mac_str()))
    });
    assert!(
        learned,
        "nothing learned:\n{}",
        ovs.ofctl(&["dump-flows", BR])
    );
    // After: host 2 only.
    for i in 0..3 {
        let t = tag("learn-after", i);
        h[0].socket()
            .send(&udp4_frame(&spec(&h[0], &h[1], 7001), &t));
        assert!(
            recv_tagged(&rx2, &t, WIRE).is_some(),
            "{}",
            ovs.diagnostics()
        );
        assert!(
            recv_tagged(&rx3, &t, Duration::from_millis(500)).is_none(),
            "still flooded after learning\n{}",
            ovs.diagnostics()
        );
    }
    ovs.assert_log_clean();
}

// ---------------------------------------------------------------------------------------
// Revalidation

/// vswitchd's default max-idle is 10 s: an unused megaflow is deleted after that, not
/// before (its `used` time, in the datapath's monotonic milliseconds, drives it).
#[test]
fn idle_datapath_flows_expire_after_ten_seconds() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let r = ping(&h[0].ns, &h[1].ip4.to_string(), 84, 3);
    assert!(r.all_answered, "{}\n{}", r.output, ovs.diagnostics());
    let last = Instant::now();
    let m = ip_flow_match(&h[0], &h[1]);
    assert_eq!(
        flows_with(&ovs, &as_refs(&m)).len(),
        1,
        "{}",
        ovs.diagnostics()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        flows_with(&ovs, &as_refs(&m)).len(),
        1,
        "expired after 5 s idle\n{}",
        ovs.diagnostics()
    );
    let gone = wait_until(Duration::from_secs(20), || {
        flows_with(&ovs, &as_refs(&m)).is_empty()
    });
    assert!(
        gone,
        "still there {:?} after the last packet\n{}",
        last.elapsed(),
        ovs.diagnostics()
    );
    assert!(
        last.elapsed() >= Duration::from_secs(9),
        "gone after {:?}",
        last.elapsed()
    );
    ovs.assert_log_clean();
}

/// An OpenFlow change reaches the installed megaflows: the revalidators re-translate them
/// and fix their actions, without waiting for them to expire.
#[test]
fn openflow_changes_update_datapath_flows() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let m = ip_flow_match(&h[0], &h[1]);
    let drop_flow = format!("priority=100,ip,in_port={}", h[0].ofport);
    ovs.ofctl(&["add-flow", BR, &format!("{drop_flow},actions=drop")]);
    let updated = wait_until(Duration::from_secs(5), || {
        flows_with(&ovs, &as_refs(&m))
            .iter()
            .all(|l| actions(l) == "drop")
    });
    assert!(
        updated,
        "megaflow not revalidated to drop\n{}",
        ovs.diagnostics()
    );
    let r = ping(&h[0].ns, &h[1].ip4.to_string(), 84, 2);
    assert!(
        r.output.contains(" 0 received"),
        "still forwarded: {}",
        r.output
    );
    ovs.ofctl(&["--strict", "del-flows", BR, &drop_flow]);
    let restored = wait_until(Duration::from_secs(5), || {
        ping(&h[0].ns, &h[1].ip4.to_string(), 84, 1).all_answered
    });
    assert!(restored, "not forwarded again\n{}", ovs.diagnostics());
    ovs.assert_log_clean();
}

#[test]
fn revalidator_purge_empties_the_datapath_flows() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let ufids = |ovs: &Ovs| -> BTreeSet<String> {
        ovs.appctl(&["dpctl/dump-flows", "-m"])
            .lines()
            .filter_map(|l| l.split(',').next())
            .filter(|u| u.starts_with("ufid:"))
            .map(str::to_string)
            .collect()
    };
    let before = ufids(&ovs);
    assert!(before.len() >= 2, "{before:?}\n{}", ovs.diagnostics());
    ovs.appctl(&["revalidator/purge"]);
    // Anything new is from traffic after the purge; nothing from before may remain.
    let after = ufids(&ovs);
    let left: Vec<_> = before.intersection(&after).collect();
    assert!(
        left.is_empty(),
        "survived the purge: {left:?}\n{}",
        ovs.diagnostics()
    );
    ovs.assert_log_clean();
}

/// The statistics of flows the revalidators delete reach the OpenFlow counters: vswitchd
/// deletes them in one batch (one datagram of FLOW_DEL requests with ECHO) and takes each
/// flow's final counts from its own reply, reading one answer per datagram
/// (`netlink-socket.c:nl_sock_transact_multiple__`). Periodic dumps are pushed out to 10 s
/// (`other_config:max-revalidator`), so the packets sent just before the purge are known to
/// vswitchd only through those replies.
#[test]
fn purged_flows_report_their_packets_to_openflow_counters() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let (p1, p2) = (h[0].ofport, h[1].ofport);
    ovs.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "other_config:max-revalidator=10000",
    ]);
    let ports = [7001u16, 7002, 7003, 7004];
    install_flows(
        &ovs,
        &ports
            .iter()
            .map(|d| format!("in_port={p1},udp,tp_dst={d},actions=output:{p2}"))
            .collect::<Vec<_>>(),
    );
    // Let the revalidation the flow change triggers pass before the traffic.
    std::thread::sleep(Duration::from_secs(1));
    let (tx, rx) = (h[0].socket(), h[1].socket());
    let per_flow = 5;
    for (k, d) in ports.iter().enumerate() {
        for i in 0..per_flow {
            let t = tag("stats", k * 100 + i);
            tx.send(&udp4_frame(&spec(&h[0], &h[1], *d), &t));
            assert!(
                recv_tagged(&rx, &t, WIRE).is_some(),
                "{}",
                ovs.diagnostics()
            );
        }
    }
    ovs.appctl(&["revalidator/purge"]);
    let counters = ovs.ofctl(&["dump-flows", BR]);
    for d in ports {
        let line = counters
            .lines()
            .find(|l| l.contains(&format!("tp_dst={d}")))
            .unwrap_or_else(|| panic!("no rule for {d}:\n{counters}"));
        assert!(
            line.contains(&format!("n_packets={per_flow},")),
            "rule tp_dst={d} did not count all {per_flow} packets:\n{counters}\n{}",
            ovs.diagnostics()
        );
    }
    ovs.assert_log_clean();
}

// ---------------------------------------------------------------------------------------
// Restarts

/// vswitchd restarted (`ovs-appctl exit`, keeping the datapath) while a ping runs: the new
/// vswitchd re-opens `ovs-system`, re-learns the MACs and forwards.
#[test]
fn vswitchd_restart_under_traffic_relearns_and_forwards() {
    let (mut ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let ns = h[0].ns.name.clone();
    let dst = h[1].ip4.to_string();
    let bg = std::thread::spawn(move || {
        std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns, "ping", "-c", "60", "-i", "0.1", "-W", "1", &dst,
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    });
    std::thread::sleep(Duration::from_secs(1));
    ovs.restart_vswitchd();
    let bg = bg.join().expect("ping thread").expect("ping");
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let table = fdb(&ovs);
    for host in &h {
        assert!(
            table.contains(&(host.ofport.to_string(), host.mac_str())),
            "{} not re-learned: {table:?}\nbackground ping: {bg}",
            host.mac_str()
        );
    }
    ovs.assert_log_clean();
}

/// dpswitch restarted under a running vswitchd. vswitchd does not recover by itself: while
/// dpswitch is down its transactions fail (`transaction error (Connection refused)`); after,
/// its datapath and ports are gone (`get_stats failed (No such device)` every second, "could
/// not add network device ... (No such device)") and it never recreates them, and its genl
/// family ids are cached for its lifetime (`dpif-netlink.c:dpif_netlink_init`). The procedure is the one
/// for reloading the kernel module: restart vswitchd after dpswitch. The new vswitchd
/// recreates `ovs-system`, its local port and every port in OVSDB, and the bridge forwards.
#[test]
fn dpswitch_restart_then_vswitchd_restart_restores_the_bridge() {
    let (mut ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    ovs.restart_dpswitch();
    // The documented procedure.
    assert!(ovs.stop_vswitchd(false), "vswitchd did not exit");
    let mark = ovs.log().lines().count();
    ovs.start_vswitchd();
    let show = ovs.appctl(&["dpctl/show"]);
    for p in [BR, &h[0].port, &h[1].port] {
        assert!(show.contains(&format!(": {p}")), "{p} missing:\n{show}");
    }
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    assert_ping(&ovs, &h[1], &h[0].ip4.to_string(), 84);
    let problems: Vec<String> = ovs
        .log()
        .lines()
        .skip(mark)
        .filter(|l| {
            ["|WARN|", "|ERR|", "|EMER|"]
                .iter()
                .any(|lv| l.contains(lv))
        })
        .map(str::to_string)
        .collect();
    assert!(
        problems.is_empty(),
        "the new vswitchd warned:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Feature probes

/// `ovs-appctl dpif/show-dp-features`: what vswitchd's probes concluded. A probe the kernel
/// would refuse (or that dpswitch cannot honour) must be refused, a probe for something
/// dpswitch implements accepted. Expected: the Debian 12 kernel's answers, and
/// `Max dp_hash algorithm: 1` (`hash(sym_l4)`, which newer kernels accept too).
/// The kernel accepts the add_mpls probe (no L3-tunnel flag on an Ethernet key:
/// `flow_netlink.c:__ovs_nla_copy_actions`), and dpswitch executes add_mpls.
#[test]
fn dp_features_match_what_dpswitch_implements() {
    let ovs = Ovs::start();
    ovs.add_bridge(BR);
    let seen: BTreeMap<String, String> = ovs
        .appctl(&["dpif/show-dp-features", BR])
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let expected: BTreeMap<String, String> = [
        ("Masked set action", "Yes"),
        ("Tunnel push pop", "No"),
        ("Ufid", "Yes"),
        ("Truncate action", "Yes"),
        ("Clone action", "Yes"),
        ("Sample nesting", "10"),
        ("Conntrack eventmask", "Yes"),
        ("Conntrack clear", "Yes"),
        ("Max dp_hash algorithm", "1"),
        ("Check pkt length action", "Yes"),
        ("Conntrack timeout policy", "Yes"),
        ("Explicit Drop action", "No"),
        ("Optimized Balance TCP mode", "No"),
        ("Conntrack all-zero IP SNAT", "Yes"),
        ("MPLS Label add", "Yes"),
        ("Max VLAN headers", "2"),
        ("Max MPLS depth", "3"),
        ("Recirc", "Yes"),
        ("CT state", "Yes"),
        ("CT zone", "Yes"),
        ("CT mark", "Yes"),
        ("CT label", "Yes"),
        ("CT state NAT", "Yes"),
        ("CT orig tuple", "Yes"),
        ("CT orig tuple for IPv6", "Yes"),
        ("IPv6 ND Extension", "No"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let diff: Vec<String> = expected
        .keys()
        .chain(seen.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != seen.get(*k))
        .map(|k| {
            format!(
                "{k}: expected {:?}, seen {:?}",
                expected.get(k),
                seen.get(k)
            )
        })
        .collect();
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    ovs.assert_log_clean();
}

// ---------------------------------------------------------------------------------------
// Veth system ports with their default offloads on (TX checksum offload: partial checksums)

#[test]
fn tcp_streams_of_megabytes_both_ways_over_offloading_veths() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let mb = 4 << 20;
    for (c, s) in [(&h[0], &h[1]), (&h[1], &h[0])] {
        let addr = SocketAddr::new(s.ip4.into(), 8080);
        let r = tcp_exchange(&c.ns, &s.ns, addr, mb, mb, Duration::from_secs(30));
        assert!(
            r.is_ok(),
            "TCP {} -> {addr}: {r:?}\nreceiver TcpInCsumErrors={}\n{}",
            c.ns.name,
            snmp_counter(&s.ns, "Tcp", "InCsumErrors"),
            ovs.diagnostics()
        );
    }
    let addr = SocketAddr::new(h[1].ip6.into(), 8086);
    let r = tcp_exchange(&h[0].ns, &h[1].ns, addr, mb, mb, Duration::from_secs(30));
    assert!(r.is_ok(), "TCP over IPv6: {r:?}\n{}", ovs.diagnostics());
    ovs.assert_log_clean();
}

#[test]
fn ipv4_ping_1600_bytes_with_mtu_9000() {
    let (ovs, h) = bridge_with_hosts(2, 9000);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 1600);
    ovs.assert_log_clean();
}

#[test]
fn ipv4_ping_9000_bytes_with_mtu_9000() {
    let (ovs, h) = bridge_with_hosts(2, 9000);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 9000);
    ovs.assert_log_clean();
}

#[test]
fn ipv6_ping_1600_bytes_with_mtu_9000() {
    let (ovs, h) = bridge_with_hosts(2, 9000);
    assert_ping(&ovs, &h[0], &h[1].ip6.to_string(), 1600);
    ovs.assert_log_clean();
}

#[test]
fn ipv6_ping_9000_bytes_with_mtu_9000() {
    let (ovs, h) = bridge_with_hosts(2, 9000);
    assert_ping(&ovs, &h[0], &h[1].ip6.to_string(), 9000);
    ovs.assert_log_clean();
}

/// IPv4 fragments cross as the fragments they are: the kernel datapath switches each one
/// (`frag=first/later` keys) and never reassembles, so a receiver with MTU 1500 gets
/// frames that fit its MTU.
#[test]
fn ipv4_fragments_cross_unreassembled() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    let rx = h[1].socket();
    let r = ping_fragmented(&h[0].ns, &h[1].ip4.to_string(), 4000, 2);
    let frags = rx.collect_frames(Duration::from_millis(500), |b| {
        Frame::parse(b).is_some_and(|f| {
            f.ip4
                .as_ref()
                .is_some_and(|ip| ip.src == h[0].ip4 && ip.proto == 1)
        })
    });
    let parsed: Vec<Frame> = frags.iter().filter_map(|b| Frame::parse(b)).collect();
    let lengths: Vec<usize> = parsed.iter().map(|f| f.len).collect();
    assert!(
        r.all_answered,
        "{}\nICMP frames from {} at the receiver, by length: {lengths:?}\n{}",
        r.output,
        h[0].ip4,
        ovs.diagnostics()
    );
    assert!(
        parsed
            .iter()
            .any(|f| f.ip4.as_ref().is_some_and(|ip| ip.more_fragments)),
        "no fragment arrived as a fragment: lengths {lengths:?}"
    );
    assert!(
        parsed.iter().all(|f| f.len <= 1514),
        "oversized frames arrived"
    );
    ovs.assert_log_clean();
}

/// UDP sent through a veth with TX checksum offload leaves the sender with a partial
/// checksum (CHECKSUM_PARTIAL); the kernel datapath forwards the skb as such and the
/// receiver verifies a complete checksum. Every datagram must arrive intact and the
/// receiver's checksum error counter must not move.
#[test]
fn udp4_with_partial_checksums_arrives_intact() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    let before = snmp_counter(&h[1].ns, "Udp", "InCsumErrors");
    let addr = SocketAddr::new(h[1].ip4.into(), 9000);
    let out = udp_burst(&h[0].ns, &h[1].ns, addr, 50, 1000);
    let after = snmp_counter(&h[1].ns, "Udp", "InCsumErrors");
    assert_eq!(
        (out.intact, out.corrupt, after - before),
        (out.sent, 0, 0),
        "{out:?}; UdpInCsumErrors {before} -> {after}\n{}",
        ovs.diagnostics()
    );
    ovs.assert_log_clean();
}

#[test]
fn udp6_with_partial_checksums_arrives_intact() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip6.to_string(), 104);
    let before = snmp_counter(&h[1].ns, "Udp6", "InCsumErrors");
    let addr = SocketAddr::new(h[1].ip6.into(), 9000);
    let out = udp_burst(&h[0].ns, &h[1].ns, addr, 50, 1000);
    let after = snmp_counter(&h[1].ns, "Udp6", "InCsumErrors");
    assert_eq!(
        (out.intact, out.corrupt, after - before),
        (out.sent, 0, 0),
        "{out:?}; Udp6InCsumErrors {before} -> {after}\n{}",
        ovs.diagnostics()
    );
    ovs.assert_log_clean();
}

// ---------------------------------------------------------------------------------------
// Observability

/// dpswitch's own `dpctl`, run in the chassis namespace against its dpswitch.
fn our_dpctl(ovs: &Ovs, args: &[&str]) -> String {
    let pid = ovs.netlink_pid.to_string();
    let dpctl = bin("dpctl");
    let mut argv = vec![dpctl.to_str().expect("path"), "--netlink-pid", &pid];
    argv.extend_from_slice(args);
    ovs.ns.exec(&argv)
}

/// Every number that follows `label` in `text`, in order.
fn numbers_after(text: &str, label: &str) -> Vec<u64> {
    text.split(label)
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// What both `dpctl show -s` outputs say of the datapath: lookups, flows, and every port's
/// packet and byte counters, in port order.
fn show_counters(show: &str) -> Vec<Vec<u64>> {
    [
        "hit:",
        "missed:",
        "lost:",
        "flows: ",
        "RX packets:",
        "TX packets:",
        "RX bytes:",
        "TX bytes:",
    ]
    .iter()
    .map(|l| numbers_after(show, l))
    .collect()
}

/// vswitchd's views of the datapath agree with dpswitch's own: `ovs-appctl dpctl/show -s`
/// (lookups, flows, port counters) and `ovs-ofctl dump-ports` (the vports' counters, which
/// vswitchd reads from the datapath) with dpswitch's `dpctl show -s`, and `upcall/show`'s
/// flow count with its `dpctl dump-flows`. Read until two rounds agree, since hosts may
/// still send a frame between the reads.
#[test]
fn vswitchd_views_agree_with_dpswitchs() {
    let (ovs, h) = bridge_with_hosts(2, 1500);
    assert_ping(&ovs, &h[0], &h[1].ip4.to_string(), 84);
    assert_ping(&ovs, &h[1], &h[0].ip4.to_string(), 84);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let theirs = ovs.appctl(&["dpctl/show", "-s"]);
        let ours = our_dpctl(&ovs, &["show", "-s"]);
        let dump_ports = ovs.ofctl(&["dump-ports", BR]);
        let upcall = ovs.appctl(&["upcall/show"]);
        let flows = our_dpctl(&ovs, &["dump-flows"]);
        let ours_again = our_dpctl(&ovs, &["show", "-s"]);
        let mut problems = Vec::new();
        if show_counters(&theirs) != show_counters(&ours) {
            problems.push(format!("dpctl/show -s:\n{theirs}\ndpctl show -s:\n{ours}"));
        }
        for host in &h {
            // ovs-ofctl's rx/tx are the port's; dpctl's are the vport's: the same counters.
            let line = dump_ports
                .split("port ")
                .find(|p| p.trim_start().starts_with(&format!("{}:", host.ofport)))
                .unwrap_or_else(|| panic!("port {} in {dump_ports}", host.ofport));
            let of = (
                numbers_after(line, "rx pkts="),
                numbers_after(line, "tx pkts="),
            );
            let block = ours
                .split("  port ")
                .find(|p| p.split_whitespace().nth(1) == Some(host.port.as_str()))
                .unwrap_or_else(|| panic!("port {} in {ours}", host.port));
            let dp = (
                numbers_after(block, "RX packets:"),
                numbers_after(block, "TX packets:"),
            );
            if of != dp {
                problems.push(format!("{}: dump-ports {of:?}, dpctl {dp:?}", host.port));
            }
        }
        let current = numbers_after(&upcall, "(current ");
        let dumped = flows.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        if current != [dumped] {
            problems.push(format!(
                "upcall/show {current:?}, dump-flows {dumped}:\n{flows}"
            ));
        }
        if problems.is_empty() && show_counters(&ours) == show_counters(&ours_again) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "vswitchd and dpswitch disagree:\n{}",
            problems.join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let show = our_dpctl(&ovs, &["show", "-s"]);
    let c = show_counters(&show);
    assert!(
        c[0].first().is_some_and(|&n| n > 0),
        "the pings hit flows: {show}"
    );
    assert_eq!(c[4].len(), 4, "ovs-system, {BR} and two hosts: {show}");
    assert!(
        c[4].iter().filter(|&&n| n >= 6).count() >= 2,
        "both hosts sent: {show}"
    );
    ovs.assert_log_clean();
}
