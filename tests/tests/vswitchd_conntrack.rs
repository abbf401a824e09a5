//! The stock ovs-vswitchd driving dpswitch's connection tracker: the conntrack features
//! vswitchd probes for, and an OpenFlow stateful firewall (`ct(table=..)`, `ct_state`,
//! `ct(commit,exec(set_field:..->ct_mark))`) between workload namespaces, as OpenStack
//! security groups and OVN ACLs use it. Setup as in `vswitchd.rs` (`dpswitch_e2e::ovs`).

use std::net::SocketAddr;
use std::time::Duration;

use dpswitch_e2e::ovs::{Host, Ovs};
use dpswitch_e2e::{ping, tcp_exchange};

const BR: &str = "br0";

fn bridge_with_hosts(n: u8) -> (Ovs, Vec<Host>) {
    let ovs = Ovs::start();
    ovs.add_bridge(BR);
    let hosts = (1..=n).map(|i| ovs.add_host(BR, i, 1500)).collect();
    (ovs, hosts)
}

/// The `bytes:N` of one `dpctl/dump-flows` line.
fn bytes(line: &str) -> u64 {
    line.split(", ")
        .find_map(|f| f.strip_prefix("bytes:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no bytes: in {line:?}"))
}

/// vswitchd finds what the kernel datapath offers for conntrack, except NAT's actions,
/// which dpswitch refuses (the ct_state NAT bits are only keys, which it does carry).
#[test]
fn vswitchd_probes_find_the_conntrack_features() {
    let (ovs, _h) = bridge_with_hosts(1);
    let features = ovs.appctl(&["dpif/show-dp-features", BR]);
    for want in [
        "Conntrack eventmask: Yes",
        "Conntrack clear: Yes",
        "Conntrack timeout policy: Yes",
        "CT state: Yes",
        "CT zone: Yes",
        "CT mark: Yes",
        "CT label: Yes",
        "CT state NAT: Yes",
        "CT orig tuple: Yes",
        "CT orig tuple for IPv6: Yes",
    ] {
        assert!(features.contains(want), "{want} missing from\n{features}");
    }
    ovs.assert_log_clean();
}

/// Host 1 may open connections to host 2 and gets the replies; host 2 cannot start one.
/// Committed connections carry mark 0x2a, which the established-state rule requires.
#[test]
fn an_openflow_stateful_firewall_runs_on_the_datapath_tracker() {
    let (ovs, h) = bridge_with_hosts(2);
    let (inside, outside) = (&h[0], &h[1]);
    let flows = [
        "table=0,priority=10,ip,actions=ct(table=1,zone=7)".to_string(),
        "table=0,priority=1,actions=NORMAL".to_string(),
        format!(
            "table=1,priority=10,ip,ct_state=+trk+new,in_port={},\
             actions=ct(commit,zone=7,exec(set_field:0x2a->ct_mark)),NORMAL",
            inside.ofport
        ),
        "table=1,priority=10,ip,ct_state=+trk+est,ct_mark=0x2a,actions=NORMAL".to_string(),
        "table=1,priority=1,ip,actions=drop".to_string(),
    ];
    ovs.ofctl(&["del-flows", BR]);
    for f in &flows {
        ovs.ofctl(&["add-flow", BR, f]);
    }

    let r = ping(&inside.ns, &outside.ip4.to_string(), 64, 3);
    assert!(
        r.all_answered,
        "ping from inside:\n{}\n{}",
        r.output,
        ovs.diagnostics()
    );
    let addr = SocketAddr::new(outside.ip4.into(), 5201);
    tcp_exchange(
        &inside.ns,
        &outside.ns,
        addr,
        200_000,
        200_000,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("TCP from inside: {e}\n{}", ovs.diagnostics()));

    let r = ping(&outside.ns, &inside.ip4.to_string(), 64, 2);
    assert_eq!(
        r.output.matches("bytes from").count(),
        0,
        "ping from outside got in:\n{}",
        r.output
    );
    let addr = SocketAddr::new(inside.ip4.into(), 5202);
    let r = tcp_exchange(
        &outside.ns,
        &inside.ns,
        addr,
        10,
        10,
        Duration::from_secs(2),
    );
    assert!(r.is_err(), "a TCP connection from outside got in");

    // The datapath did the tracking: the established flows carried the bulk of the TCP
    // exchange, and the new-from-outside flow dropped what the outside started.
    let dump = ovs.dpctl_dump_flows();
    let text = dump.join("\n");
    let est: u64 = dump
        .iter()
        .filter(|l| l.contains("+est") && l.contains("ct_mark(0x2a)"))
        .map(|l| bytes(l))
        .sum();
    // (Counted in bytes: the veths' offloads carry the stream in 64 kB segments.)
    assert!(
        est >= 400_000,
        "200 kB each way went through +est flows:\n{text}"
    );
    let commit = dump
        .iter()
        .find(|l| l.contains("ct(commit,zone=7,mark=0x2a/0xffffffff)"))
        .unwrap_or_else(|| panic!("no committing flow:\n{text}"));
    assert!(commit.contains("+new"), "{commit}");
    assert!(
        dump.iter()
            .any(|l| l.contains(&format!("in_port({})", outside.port))
                && l.contains("+new")
                && l.ends_with("actions:drop")),
        "no drop flow for what the outside starts:\n{text}"
    );

    // vswitchd's conntrack management reaches dpswitch's table over ctnetlink.
    let ct = ovs.appctl(&["dpctl/dump-conntrack"]);
    let (a, b) = (inside.ip4, outside.ip4);
    let tcp = ct
        .lines()
        .find(|l| l.starts_with(&format!("tcp,orig=(src={a},dst={b},")))
        .unwrap_or_else(|| panic!("no TCP connection in\n{ct}"));
    assert!(tcp.contains(",dport=5201),reply=(src="), "{tcp}");
    assert!(tcp.contains(",zone=7,mark=42,protoinfo=(state="), "{tcp}");
    assert!(
        ct.lines()
            .any(|l| l.starts_with(&format!("icmp,orig=(src={a},dst={b},"))),
        "{ct}"
    );
    assert!(
        !ct.contains(&format!("orig=(src={b},dst={a}")),
        "nothing the outside started is tracked:\n{ct}"
    );
    assert_eq!(ovs.appctl(&["dpctl/dump-conntrack", "zone=8"]), "");
    ovs.appctl(&["dpctl/flush-conntrack", "zone=7"]);
    assert_eq!(ovs.appctl(&["dpctl/dump-conntrack"]), "");
    ovs.assert_log_clean();
}

/// An OpenFlow load-balancer VIP (as OVN writes one): `ct(commit,nat(dst=backend))` for new
/// connections to the VIP, `ct(nat)` for everything after, so the backend sees the client
/// and the client only ever talks to the VIP.
#[test]
fn an_openflow_dnat_vip_reaches_its_backend() {
    let (ovs, h) = bridge_with_hosts(2);
    let (client, backend) = (&h[0], &h[1]);
    let vip = "10.214.0.100";
    let be = backend.ip4;
    let flows = [
        format!("table=0,priority=10,ip,nw_dst={vip},actions=ct(table=1,zone=5,nat)"),
        format!("table=0,priority=10,ip,nw_src={be},actions=ct(table=1,zone=5,nat)"),
        "table=0,priority=1,actions=NORMAL".to_string(),
        format!(
            "table=1,priority=10,ct_state=+trk+new,ip,nw_dst={vip},\
             actions=ct(commit,zone=5,nat(dst={be}:8080)),NORMAL"
        ),
        "table=1,priority=10,ct_state=+trk+est,ip,actions=NORMAL".to_string(),
        "table=1,priority=1,ip,actions=drop".to_string(),
    ];
    ovs.ofctl(&["del-flows", BR]);
    for f in &flows {
        ovs.ofctl(&["add-flow", BR, f]);
    }
    // The VIP answers no ARP: the client reaches it through the backend's MAC.
    client.ns.exec(&[
        "ip",
        "neigh",
        "add",
        vip,
        "lladdr",
        &backend.mac_str(),
        "dev",
        "eth0",
    ]);
    let listen = SocketAddr::new(be.into(), 8080);
    let l = backend
        .ns
        .run_in(move || std::net::TcpListener::bind(listen).expect("bind 8080"));
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, peer) = l.accept().expect("accept");
        let mut b = [0u8; 4];
        s.read_exact(&mut b).expect("read");
        s.write_all(&b).expect("write");
        peer
    });
    let to: SocketAddr = format!("{vip}:80").parse().unwrap();
    let mut c = client
        .ns
        .run_in(move || std::net::TcpStream::connect_timeout(&to, Duration::from_secs(3)))
        .unwrap_or_else(|e| panic!("connect to the VIP: {e}\n{}", ovs.diagnostics()));
    {
        use std::io::{Read, Write};
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).expect("answer through the VIP");
        assert_eq!(&b, b"ping");
    }
    assert_eq!(
        server.join().unwrap().ip(),
        std::net::IpAddr::from(client.ip4)
    );
    let ct = ovs.appctl(&["dpctl/dump-conntrack", "zone=5"]);
    let sport = c.local_addr().unwrap().port();
    let want = format!(
        "tcp,orig=(src={},dst={vip},sport={sport},dport=80),reply=(src={be},dst={},sport=8080,dport={sport}),zone=5",
        client.ip4, client.ip4
    );
    assert!(ct.contains(&want), "{want} not in\n{ct}");
    ovs.assert_log_clean();
}
