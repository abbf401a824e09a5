//! Connection tracking end to end: a stateful firewall written as datapath flows with
//! dpctl (`ct`, `recirc`, `ct_state`, `ct_mark`), between two network namespaces whose
//! kernels speak real TCP, UDP and ICMP through a running dpswitch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use dpswitch_e2e::{ovs_dpctl_at, split_vlog, unique, CtlRun, Dpswitch, Netns, PacketSocket};

const A_IP: &str = "10.216.0.1";
const B_IP: &str = "10.216.0.2";

fn ok(r: CtlRun) -> String {
    assert_eq!(r.code, 0, "dpctl failed: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// Packets a dump line reports.
fn packets(line: &str) -> u64 {
    line.split_once("packets:")
        .and_then(|(_, r)| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {line}"))
}

/// The dump line of the flow whose key contains every part of `want`.
fn flow_line<'a>(dump: &'a str, want: &[&str]) -> &'a str {
    dump.lines()
        .find(|l| want.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("no flow with {want:?} in\n{dump}"))
}

/// A firewall between port `a` (inside) and `b` (outside): connections from `a` are
/// committed with mark 0x2a in zone 5 and their replies let back in; anything `b` starts,
/// and anything invalid, is dropped.
fn firewall(sw: &Dpswitch, a: &str, b: &str) {
    let ip = "eth(),eth_type(0x0800),ipv4(frag=no)";
    let flows = [
        (
            format!("in_port({a}),eth(),eth_type(0x0806),arp()"),
            b.to_string(),
        ),
        (
            format!("in_port({b}),eth(),eth_type(0x0806),arp()"),
            a.to_string(),
        ),
        (
            format!("recirc_id(0),in_port({a}),{ip}"),
            "ct(zone=5),recirc(1)".into(),
        ),
        (
            format!("recirc_id(0),in_port({b}),{ip}"),
            "ct(zone=5),recirc(2)".into(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk+new),{ip}"),
            format!("ct(commit,zone=5,mark=0x2a/0xff),{b}"),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new+est),ct_mark(0x2a/0xff),{ip}"),
            b.to_string(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new-est),{ip}"),
            "drop".into(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk+est+rpl),ct_mark(0x2a/0xff),{ip}"),
            a.to_string(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk-est),{ip}"),
            "drop".into(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk+est-rpl),{ip}"),
            "drop".into(),
        ),
    ];
    for (key, actions) in flows {
        ok(sw.dpctl(&["add-flow", &key, &actions]));
    }
}

struct Lab {
    sw: Dpswitch,
    a: String,
    b: String,
    nsa: Netns,
    nsb: Netns,
}

fn lab() -> Lab {
    lab_with(&[])
}

/// [`lab`] with more dpswitch options.
fn lab_with(extra: &[&str]) -> Lab {
    let (a, b) = (unique("cta"), unique("ctb"));
    let dp = unique("dpct");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let mut args = vec!["--dp", &dp, "--port", &pa, "--port", &pb];
    args.extend_from_slice(extra);
    let sw = Dpswitch::start(&args);
    let (nsa, nsb) = (Netns::new(), Netns::new());
    for (ns, ifname, ip) in [(&nsa, &a, A_IP), (&nsb, &b, B_IP)] {
        ns.take_quiet(ifname);
        ns.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", ifname]);
    }
    firewall(&sw, &a, &b);
    Lab { sw, a, b, nsa, nsb }
}

/// A TCP listener in `ns` that echoes one connection's bytes back.
fn echo_server(ns: &Netns, ip: &str) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    let l = ns.run_in(move || TcpListener::bind(addr).expect("bind"));
    let at = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    s.write_all(&buf[..n]).expect("echo");
                }
            }
        }
        got
    });
    (at, h)
}

fn connect(ns: &Netns, to: SocketAddr) -> std::io::Result<TcpStream> {
    ns.run_in(move || TcpStream::connect_timeout(&to, Duration::from_secs(2)))
}

#[test]
fn connections_from_inside_pass_with_their_replies_and_outside_ones_are_dropped() {
    let l = lab();
    let log = || l.sw.log_text();

    // ICMP echo: the request commits, the reply is +est+rpl.
    let (pinged, out) = l
        .nsa
        .try_exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", B_IP]);
    assert!(pinged, "ping from inside failed:\n{out}\n{}", log());

    // TCP from inside: handshake, 64 KiB each way, teardown.
    let (at, server) = echo_server(&l.nsb, B_IP);
    let mut c = connect(&l.nsa, at).unwrap_or_else(|e| panic!("connect: {e}\n{}", log()));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let data: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; data.len()];
    let writer = {
        let mut w = c.try_clone().unwrap();
        let d = data.clone();
        std::thread::spawn(move || w.write_all(&d))
    };
    c.read_exact(&mut back)
        .unwrap_or_else(|e| panic!("echo: {e}\n{}", log()));
    writer.join().unwrap().unwrap();
    assert_eq!(back, data);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), data);

    // UDP from inside and its answer.
    let ub = l
        .nsb
        .run_in(move || UdpSocket::bind(format!("{B_IP}:0")).unwrap());
    let ua = l
        .nsa
        .run_in(move || UdpSocket::bind(format!("{A_IP}:0")).unwrap());
    ub.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    ua.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    ua.send_to(b"ping", ub.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = ub.recv_from(&mut buf).expect("UDP from inside");
    assert_eq!(&buf[..n], b"ping");
    ub.send_to(b"pong", from).unwrap();
    let (n, _) = ua.recv_from(&mut buf).expect("UDP reply");
    assert_eq!(&buf[..n], b"pong");

    // Outside in: a TCP SYN from b is +new in the reply port's pipeline and dropped, and so
    // is a UDP datagram to a port inside that never sent anything.
    let (at_a, _server_a) = echo_server(&l.nsa, A_IP);
    assert!(
        connect(&l.nsb, at_a).is_err(),
        "a connection from outside got in"
    );
    let ua2 = l
        .nsa
        .run_in(move || UdpSocket::bind(format!("{A_IP}:0")).unwrap());
    ua2.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    ub.send_to(b"in?", ua2.local_addr().unwrap()).unwrap();
    assert!(
        ua2.recv_from(&mut buf).is_err(),
        "an unsolicited datagram got in"
    );

    let dump = ok(l.sw.dpctl(&["dump-flows", "--names"]));
    let (a, b) = (&l.a, &l.b);
    let commit = flow_line(&dump, &[&format!("recirc_id(0x1),in_port({a})"), "+new"]);
    assert!(
        commit.ends_with(&format!("actions:ct(commit,zone=5,mark=0x2a/0xff),{b}")),
        "{dump}"
    );
    // The first packet of each connection: an echo request (the second one is +est, a
    // reply having been seen), a SYN and a datagram.
    assert!(packets(commit) >= 3, "{dump}");
    let est_out = flow_line(&dump, &[&format!("recirc_id(0x1),in_port({a})"), "+est"]);
    let est_back = flow_line(
        &dump,
        &[&format!("recirc_id(0x2),in_port({b})"), "+est+rpl"],
    );
    assert!(
        packets(est_out) >= 40,
        "64 KiB went out on the connection: {dump}"
    );
    assert!(packets(est_back) >= 40, "64 KiB came back: {dump}");
    let dropped = flow_line(&dump, &[&format!("recirc_id(0x2),in_port({b})"), "-est"]);
    assert!(
        packets(dropped) >= 2,
        "SYN (and retries) and datagram from outside: {dump}"
    );
    println!("--- dpctl dump-flows ---\n{dump}");
    assert!(l.sw.stop().success());
}

/// The conntrack commands against the table the traffic filled: `dump-conntrack` (ours and
/// the stock ovs-dpctl's, through the redirect library, print the same lines), counts and
/// statistics, zone limits refusing the next connection, and flushes by tuple and by zone.
#[test]
fn dpctl_and_ovs_dpctl_show_count_limit_and_flush_the_connections() {
    let metrics = dpswitch_e2e::prom::free_port();
    let l = lab_with(&["--metrics", &metrics.to_string()]);
    let sw = &l.sw;
    let (pinged, out) = l.nsa.try_exec(&["ping", "-c", "1", "-W", "2", B_IP]);
    assert!(pinged, "{out}");
    let ub = l
        .nsb
        .run_in(move || UdpSocket::bind(format!("{B_IP}:0")).unwrap());
    let ua = l
        .nsa
        .run_in(move || UdpSocket::bind(format!("{A_IP}:4000")).unwrap());
    ub.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let bport = ub.local_addr().unwrap().port();
    ua.send_to(b"1", ub.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 8];
    ub.recv_from(&mut buf).expect("first datagram");

    let dump = ok(sw.dpctl(&["dump-conntrack"]));
    let mut lines: Vec<&str> = dump.lines().collect();
    lines.sort_unstable();
    let udp = format!(
        "udp,orig=(src={A_IP},dst={B_IP},sport=4000,dport={bport}),\
         reply=(src={B_IP},dst={A_IP},sport={bport},dport=4000),zone=5,mark=42"
    );
    assert_eq!(lines.len(), 2, "{dump}");
    assert!(
        lines[0].starts_with(&format!("icmp,orig=(src={A_IP},dst={B_IP},id="))
            && lines[0].ends_with(",type=0,code=0),zone=5,mark=42"),
        "{dump}"
    );
    assert_eq!(lines[1], udp, "{dump}");
    // The stock ovs-dpctl reads the same table over ctnetlink.
    let stock = ovs_dpctl_at(sw.netlink_pid, &["dump-conntrack"], "");
    assert_eq!(stock.code, 0, "{stock:#?}");
    let mut stock_lines: Vec<&str> = stock.stdout.lines().collect();
    stock_lines.sort_unstable();
    assert_eq!(stock_lines, lines);
    let (log, rest) = split_vlog(&stock.stderr);
    assert_eq!(rest, "", "{log:?}");

    assert_eq!(ok(sw.dpctl(&["dump-conntrack", "zone=6"])), "");
    assert!(
        ok(sw.dpctl(&["-m", "dump-conntrack", "zone=5"])).contains(",status=SEEN_REPLY|CONFIRMED")
    );
    assert_eq!(ok(sw.dpctl(&["ct-get-nconns"])), "2\n");
    assert_eq!(ok(sw.dpctl(&["ct-get-maxconns"])), "262144\n");
    assert_eq!(
        ok(sw.dpctl(&["ct-stats-show"])),
        "Connections Stats:\n    Total: 2\n  UDP: 1\n  ICMP: 1\n"
    );

    // Zone 5 may hold 2: the next connection from inside is dropped at its commit.
    ok(sw.dpctl(&["ct-set-limits", "zone=5,limit=2"]));
    assert_eq!(
        ok(sw.dpctl(&["ct-get-limits", "zone=5"])),
        "default limit=0\nzone=5,limit=2,count=2\n"
    );
    let stock = ovs_dpctl_at(sw.netlink_pid, &["ct-get-limits"], "");
    assert_eq!(
        stock.stdout, "default limit=0\nzone=5,limit=2,count=2\n",
        "{stock:#?}"
    );
    let ua2 = l
        .nsa
        .run_in(move || UdpSocket::bind(format!("{A_IP}:4001")).unwrap());
    ua2.send_to(b"2", ub.local_addr().unwrap()).unwrap();
    ub.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        ub.recv_from(&mut buf).is_err(),
        "a connection beyond the zone's limit got through"
    );
    assert_eq!(ok(sw.dpctl(&["ct-get-nconns"])), "2\n");
    let m = dpswitch_e2e::prom::samples(&dpswitch_e2e::prom::scrape(metrics));
    assert_eq!(
        dpswitch_e2e::prom::get(&m, "dpswitch_conntrack_connections"),
        2
    );
    assert_eq!(
        dpswitch_e2e::prom::get(&m, "dpswitch_conntrack_zone_connections{zone=\"5\"}"),
        2
    );
    assert_eq!(
        dpswitch_e2e::prom::get(&m, "dpswitch_conntrack_events_total{event=\"created\"}"),
        2
    );
    assert!(dpswitch_e2e::prom::get(&m, "dpswitch_conntrack_events_total{event=\"limit\"}") >= 1);
    ok(sw.dpctl(&["ct-del-limits", "zone=5"]));
    assert_eq!(ok(sw.dpctl(&["ct-get-limits"])), "default limit=0\n");

    // Flush the UDP connection by its tuple, then the zone.
    let tuple = format!(
        "ct_nw_src={A_IP},ct_nw_dst={B_IP},ct_nw_proto=17,ct_tp_src=4000,ct_tp_dst={bport}"
    );
    ok(sw.dpctl(&["flush-conntrack", "zone=5", &tuple]));
    let r = sw.dpctl(&["flush-conntrack", "zone=5", &tuple]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stderr
            .contains("failed to flush conntrack (No such file or directory)"),
        "{r:#?}"
    );
    assert_eq!(ok(sw.dpctl(&["ct-get-nconns"])), "1\n");
    let stock = ovs_dpctl_at(sw.netlink_pid, &["flush-conntrack", "zone=5"], "");
    assert_eq!((stock.code, stock.stdout.as_str()), (0, ""), "{stock:#?}");
    assert_eq!(ok(sw.dpctl(&["ct-get-nconns"])), "0\n");
    assert!(l.sw.stop().success());
}

/// A TCP segment 98 → 99 (or back) with `flags`, `seq`, `ack`, between addresses nobody
/// owns, so neither namespace's stack answers the raw frames: only the tracker sees them.
fn segment(from_a: bool, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let (src, dst) = if from_a {
        ([10, 216, 0, 98], [10, 216, 0, 99])
    } else {
        ([10, 216, 0, 99], [10, 216, 0, 98])
    };
    let (sp, dp) = if from_a {
        (40000u16, 8080u16)
    } else {
        (8080, 40000)
    };
    let mut t = Vec::new();
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    // The TCP checksum over the pseudo header.
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src);
    add(&dst);
    add(&[0, 6, 0, 20]);
    add(&t);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    t[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut s: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    ip[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    let mut f = vec![0xff; 12];
    f.extend_from_slice(&[8, 0]);
    f.extend(ip);
    f.extend(t);
    f
}

/// Before a connection is established (not yet liberal), a segment far outside the window
/// is `+inv` and the firewall drops it; the handshake's segments and an in-window ACK pass.
#[test]
fn an_out_of_window_segment_is_invalid_and_dropped() {
    let metrics = dpswitch_e2e::prom::free_port();
    let l = lab_with(&["--metrics", &metrics.to_string()]);
    let (pa, pb) = (
        PacketSocket::open(&l.nsa, &l.a),
        PacketSocket::open(&l.nsb, &l.b),
    );
    let is_seg = |want_seq: u32| {
        move |f: &[u8]| f.len() >= 54 && f[23] == 6 && f[38..42] == want_seq.to_be_bytes()
    };
    pa.send(&segment(true, 0x02, 1000, 0)); // SYN
    assert!(
        pb.recv_frame(Duration::from_secs(2), is_seg(1000))
            .is_some(),
        "SYN"
    );
    pb.send(&segment(false, 0x12, 5000, 1001)); // SYN-ACK
    assert!(
        pa.recv_frame(Duration::from_secs(2), is_seg(5000))
            .is_some(),
        "SYN-ACK"
    );
    let far = 1001u32.wrapping_add(1 << 30);
    pa.send(&segment(true, 0x10, far, 5001)); // ACK far outside the window
    assert!(
        pb.recv_frame(Duration::from_millis(500), is_seg(far))
            .is_none(),
        "the out-of-window segment got through"
    );
    pa.send(&segment(true, 0x10, 1001, 5001)); // the right ACK
    assert!(
        pb.recv_frame(Duration::from_secs(2), is_seg(1001))
            .is_some(),
        "in-window ACK"
    );
    let dump = ok(l.sw.dpctl(&["dump-flows", "--names"]));
    let dropped = flow_line(
        &dump,
        &[&format!("recirc_id(0x1),in_port({})", l.a), "-est"],
    );
    assert!(packets(dropped) >= 1, "{dump}");
    assert!(ok(l.sw.dpctl(&["dump-conntrack"])).contains("protoinfo=(state=ESTABLISHED)"));
    let m = dpswitch_e2e::prom::samples(&dpswitch_e2e::prom::scrape(metrics));
    let invalid = "dpswitch_conntrack_invalid_packets_total{pmd=\"1\"}";
    assert_eq!(
        dpswitch_e2e::prom::get(&m, invalid),
        1,
        "the out-of-window segment"
    );
    assert!(l.sw.stop().success());
}

/// DNAT as a load balancer's VIP: connections to 10.216.0.100:80 from the inside go to the
/// backend 10.216.0.2:8080, whose replies come back from the VIP; the dump shows the
/// mapping.
#[test]
fn dnat_sends_connections_for_a_vip_to_the_backend_and_replies_come_from_the_vip() {
    let (a, b) = (unique("cna"), unique("cnb"));
    let dp = unique("dpnat");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let (nsa, nsb) = (Netns::new(), Netns::new());
    for (ns, ifname, ip) in [(&nsa, &a, A_IP), (&nsb, &b, B_IP)] {
        ns.take_quiet(ifname);
        ns.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", ifname]);
    }
    // The VIP answers to no ARP: the client reaches it through the backend's MAC.
    let b_mac = nsb.exec(&["cat", &format!("/sys/class/net/{b}/address")]);
    nsa.exec(&[
        "ip",
        "neigh",
        "add",
        "10.216.0.100",
        "lladdr",
        b_mac.trim(),
        "dev",
        &a,
    ]);
    let ip = "eth(),eth_type(0x0800),ipv4(frag=no)";
    for (key, actions) in [
        (
            format!("in_port({a}),eth(),eth_type(0x0806),arp()"),
            b.clone(),
        ),
        (
            format!("in_port({b}),eth(),eth_type(0x0806),arp()"),
            a.clone(),
        ),
        (
            format!("recirc_id(0),in_port({a}),{ip}"),
            "ct(zone=9,nat),recirc(1)".into(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk+new),{ip}"),
            format!("ct(commit,zone=9,nat(dst=10.216.0.2:8080)),{b}"),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new+est),{ip}"),
            b.clone(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new-est),{ip}"),
            "drop".into(),
        ),
        (
            format!("recirc_id(0),in_port({b}),{ip}"),
            "ct(zone=9,nat),recirc(2)".into(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk+est),{ip}"),
            a.clone(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk-est),{ip}"),
            "drop".into(),
        ),
    ] {
        ok(sw.dpctl(&["add-flow", &key, &actions]));
    }
    let backend: SocketAddr = format!("{B_IP}:8080").parse().unwrap();
    let l = nsb.run_in(move || TcpListener::bind(backend).expect("bind 8080"));
    let server = std::thread::spawn(move || {
        let (mut s, peer) = l.accept().expect("accept");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("read");
        s.write_all(&buf).expect("write");
        peer
    });
    let vip: SocketAddr = "10.216.0.100:80".parse().unwrap();
    let mut c =
        connect(&nsa, vip).unwrap_or_else(|e| panic!("connect to the VIP: {e}\n{}", sw.log_text()));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).expect("echo through the VIP");
    assert_eq!(&back, b"hello");
    // The backend saw the client's own address; the client, the VIP (its socket is
    // connected to it and got the answer).
    let peer = server.join().unwrap();
    assert_eq!(peer.ip().to_string(), A_IP);
    assert_eq!(c.peer_addr().unwrap(), vip);
    let dump = ok(sw.dpctl(&["dump-conntrack"]));
    let sport = c.local_addr().unwrap().port();
    let want = format!(
        "tcp,orig=(src={A_IP},dst=10.216.0.100,sport={sport},dport=80),\
         reply=(src={B_IP},dst={A_IP},sport=8080,dport={sport}),zone=9,protoinfo=(state="
    );
    assert!(dump.starts_with(&want), "{dump}");
    assert!(ok(sw.dpctl(&["-m", "dump-conntrack"])).contains("CONFIRMED|DST_NAT"));
    println!("--- dpctl dump-conntrack after DNAT ---\n{dump}");
    drop(c);
    assert!(sw.stop().success());
}

/// The firewall over IPv6: ping6 and a TCP connection from inside pass with their replies,
/// one from outside is dropped. Neighbour discovery goes around ct, as OVN sends it.
#[test]
fn the_firewall_tracks_ipv6_too() {
    let (a, b) = (unique("c6a"), unique("c6b"));
    let dp = unique("dpct6");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let (nsa, nsb) = (Netns::new(), Netns::new());
    for (ns, ifname, ip) in [(&nsa, &a, "fd16::1"), (&nsb, &b, "fd16::2")] {
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        dpswitch_e2e::sh(&["ip", "link", "set", ifname, "netns", &ns.name]);
        ns.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{ip}/64"),
            "dev",
            ifname,
            "nodad",
        ]);
        ns.exec(&["ip", "link", "set", ifname, "up"]);
    }
    let ip6 = "eth(),eth_type(0x86dd),ipv6(frag=no)";
    // ND's solicitations and advertisements carry an nd() key of their own.
    let nd = |ty: u8| {
        let nd_key = if matches!(ty, 135 | 136) { ",nd()" } else { "" };
        format!("eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type={ty}){nd_key}")
    };
    let mut flows = Vec::new();
    for (from, to) in [(&a, &b), (&b, &a)] {
        for ty in [133u8, 134, 135, 136, 143] {
            flows.push((
                format!("recirc_id(0),in_port({from}),{}", nd(ty)),
                to.clone(),
            ));
        }
    }
    flows.extend([
        (
            format!("recirc_id(0),in_port({a}),{ip6}"),
            "ct(zone=6),recirc(1)".to_string(),
        ),
        (
            format!("recirc_id(0),in_port({b}),{ip6}"),
            "ct(zone=6),recirc(2)".to_string(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk+new),{ip6}"),
            format!("ct(commit,zone=6),{b}"),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new+est),{ip6}"),
            b.clone(),
        ),
        (
            format!("recirc_id(1),in_port({a}),ct_state(+trk-new-est),{ip6}"),
            "drop".into(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk+est+rpl),{ip6}"),
            a.clone(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk-est),{ip6}"),
            "drop".into(),
        ),
        (
            format!("recirc_id(2),in_port({b}),ct_state(+trk+est-rpl),{ip6}"),
            "drop".into(),
        ),
    ]);
    for (key, actions) in &flows {
        ok(sw.dpctl(&["add-flow", key, actions]));
    }
    let (pinged, out) = nsa.try_exec(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd16::2"]);
    assert!(pinged, "ping6 from inside:\n{out}\n{}", sw.log_text());
    let (at, server) = echo_server(&nsb, "[fd16::2]");
    let mut c = connect(&nsa, at).unwrap_or_else(|e| panic!("connect over IPv6: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"six").unwrap();
    let mut back = [0u8; 3];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"six");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), b"six");
    let (at_a, _srv) = echo_server(&nsa, "[fd16::1]");
    assert!(
        connect(&nsb, at_a).is_err(),
        "a connection from outside got in"
    );
    let dump = ok(sw.dpctl(&["dump-conntrack"]));
    assert!(
        dump.contains("icmpv6,orig=(src=fd16::1,dst=fd16::2,id="),
        "{dump}"
    );
    assert!(
        dump.contains(",type=128,code=0),reply=(src=fd16::2,dst=fd16::1,"),
        "{dump}"
    );
    assert!(
        dump.contains("tcp,orig=(src=fd16::1,dst=fd16::2,"),
        "{dump}"
    );
    assert!(!dump.contains("orig=(src=fd16::2"), "{dump}");
    assert!(sw.stop().success());
}
