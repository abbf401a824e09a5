//! A controller written in the test drives a real dpswitch over netlink: it points the TAP
//! ports' upcall pids at its own socket, receives MISS upcalls for a ping between two network
//! namespaces, installs megaflows with FLOW NEW and forwards the missed packets with PACKET
//! EXECUTE. Once the flows are in, later packets hit them: n_hit rises, n_missed does not.

use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{sh, unique, Dpswitch, Netns};
use odp::action::Action;
use odp::family::datapath::{features, DatapathAttrs, DpCmd, DpStats};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::vport::{VportAttrs, VportCmd};
use odp::family::OvsMessage;
use odp::key::FlowKey;
use odp::nl::flags;

fn stats(c: &mut NlClient, dp: &str) -> DpStats {
    let m = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.to_string()),
            ..DatapathAttrs::default()
        },
    );
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    r[0].body.stats.expect("stats")
}

struct Controller {
    up: NlClient,
    req: NlClient,
    ifindex: i32,
    ports: (u32, u32),
    misses: usize,
    installed: usize,
}

impl Controller {
    /// Handles the upcalls that arrive within `wait`.
    fn serve(&mut self, wait: Duration) {
        while let Some(d) = self.up.recv_dgram(wait) {
            let m = OvsMessage::<PacketAttrs>::parse_datagram(&d).expect("upcall decodes");
            assert_eq!(m.family, self.up.ids.packet);
            assert_eq!(m.cmd, PacketCmd::Miss);
            assert_eq!(m.dp_ifindex, self.ifindex);
            assert!(m.body.hash.is_some(), "HASH is always sent");
            let key = m.body.key.clone().expect("upcall key");
            let packet = m.body.packet.clone().expect("upcall packet");
            let in_port = key.in_port.expect("in_port in the key");
            let out = if in_port == self.ports.0 {
                self.ports.1
            } else {
                self.ports.0
            };
            self.misses += 1;
            // A megaflow on (in_port, eth_type): everything else wildcarded.
            let mask = FlowKey {
                in_port: Some(u32::MAX),
                eth_type: Some(0xffff),
                ..FlowKey::default()
            };
            let new = self.req.msg(
                FlowCmd::New,
                self.ifindex,
                FlowAttrs {
                    key: Some(key),
                    mask: Some(mask),
                    actions: Some(vec![Action::Output(out)]),
                    ..FlowAttrs::default()
                },
            );
            let (_, e) = self.req.transact(new, flags::CREATE);
            // EEXIST: a packet of the same megaflow missed before the flow was in.
            assert!(e == 0 || e == libc::EEXIST, "FLOW NEW: errno {e}");
            if e == 0 {
                self.installed += 1;
            }
            let exec = self.req.msg(
                PacketCmd::Execute,
                self.ifindex,
                PacketAttrs {
                    packet: Some(packet),
                    key: Some(FlowKey {
                        in_port: Some(in_port),
                        ..FlowKey::default()
                    }),
                    actions: Some(vec![Action::Output(out)]),
                    ..PacketAttrs::default()
                },
            );
            assert_eq!(self.req.transact(exec, 0).1, 0, "EXECUTE");
        }
    }
}

#[test]
fn controller_handles_misses_installs_megaflows_and_executes() {
    let (a, b) = (unique("ca"), unique("cb"));
    let dp = unique("dp");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    // Keep the host side of the local port quiet (no IPv6 chatter into the datapath).
    let _ = sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let mut req = NlClient::connect(sw.netlink_pid);
    let up = NlClient::connect(sw.netlink_pid);
    // Open the datapath the way OVS does: features renegotiated with SET.
    let set = req.msg(
        DpCmd::Set,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            user_features: Some(features::UNALIGNED | features::VPORT_PIDS),
            ..DatapathAttrs::default()
        },
    );
    let (r, e) = req.transact(set, flags::ECHO);
    assert_eq!(e, 0);
    let ifindex = r[0].dp_ifindex;
    let mut ports = Vec::new();
    for name in [&a, &b] {
        let m = req.msg(
            VportCmd::Set,
            0,
            VportAttrs {
                name: Some(name.to_string()),
                upcall_pids: Some(vec![up.port_id]),
                ..VportAttrs::default()
            },
        );
        let (r, e) = req.transact(m, flags::ECHO);
        assert_eq!(e, 0);
        assert_eq!(r[0].body.upcall_pids, Some(vec![up.port_id]));
        ports.push(r[0].body.port_no.expect("port number"));
    }
    let mut ctl = Controller {
        up,
        req,
        ifindex,
        ports: (ports[0], ports[1]),
        misses: 0,
        installed: 0,
    };

    let (nsa, nsb) = (Netns::new(), Netns::new());
    for ns in [&nsa, &nsb] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    }
    nsa.adopt(&a, "10.215.0.1/24");
    nsb.adopt(&b, "10.215.0.2/24");

    // First ping: everything starts as a miss the controller resolves.
    let ping = |count: &str| {
        let ns = nsa.name.clone();
        let count = count.to_string();
        std::thread::spawn(move || {
            let out = std::process::Command::new("ip")
                .args([
                    "netns", "exec", &ns, "ping", "-c", &count, "-i", "0.1", "-W", "2",
                ])
                .arg("10.215.0.2")
                .output()
                .expect("ping");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let first = ping("5");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !first.is_finished() && Instant::now() < deadline {
        ctl.serve(Duration::from_millis(50));
    }
    let out = first.join().expect("ping thread");
    assert!(
        out.contains("5 received"),
        "first ping: {out}\n{}",
        sw.log_text()
    );
    assert!(ctl.misses >= 2, "misses seen: {}", ctl.misses);
    assert!(ctl.installed >= 2, "flows installed: {}", ctl.installed);
    ctl.serve(Duration::from_millis(300));

    // Second ping: the megaflows carry it; the controller sees (almost) nothing.
    let before = stats(&mut ctl.req, &dp);
    let misses_before = ctl.misses;
    let second = ping("20");
    while !second.is_finished() {
        ctl.serve(Duration::from_millis(50));
    }
    let out = second.join().expect("ping thread");
    assert!(out.contains("20 received"), "second ping: {out}");
    std::thread::sleep(Duration::from_millis(300));
    let after = stats(&mut ctl.req, &dp);
    println!(
        "first ping: {} misses, {} flows; second ping: hit {} -> {}, missed {} -> {}",
        misses_before, ctl.installed, before.n_hit, after.n_hit, before.n_missed, after.n_missed
    );
    assert!(
        after.n_hit >= before.n_hit + 40,
        "20 requests + 20 replies hit the megaflows: {before:?} -> {after:?}"
    );
    assert!(
        after.n_missed <= before.n_missed + 2,
        "misses stopped rising: {before:?} -> {after:?}"
    );
    assert!(ctl.misses <= misses_before + 2);
    // Upcall statistics on the ports count the delivered upcalls.
    let m = ctl.req.msg(
        VportCmd::Get,
        0,
        VportAttrs {
            name: Some(a.clone()),
            ..VportAttrs::default()
        },
    );
    let (r, e) = ctl.req.transact(m, 0);
    assert_eq!(e, 0);
    let us = r[0].body.upcall_stats.expect("upcall stats");
    assert!(us.success >= 1, "{us:?}");

    // EXECUTE with a userspace action: an ACTION upcall with the user data reaches the pid.
    let frame = {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x06]);
        f.extend_from_slice(&[0; 28]);
        f
    };
    let exec = ctl.req.msg(
        PacketCmd::Execute,
        ifindex,
        PacketAttrs {
            packet: Some(frame.clone()),
            key: Some(FlowKey {
                in_port: Some(ports[0]),
                ..FlowKey::default()
            }),
            actions: Some(vec![Action::Userspace(odp::action::Userspace {
                pid: ctl.up.port_id,
                userdata: Some(vec![1, 2, 3, 4, 5]),
                ..odp::action::Userspace::default()
            })]),
            ..PacketAttrs::default()
        },
    );
    assert_eq!(ctl.req.transact(exec, 0).1, 0);
    let mut got = None;
    while let Some(d) = ctl.up.recv_dgram(Duration::from_secs(2)) {
        let m = OvsMessage::<PacketAttrs>::parse_datagram(&d).expect("upcall decodes");
        if m.cmd == PacketCmd::Action {
            got = Some(m);
            break;
        }
    }
    let m = got.expect("an ACTION upcall");
    assert_eq!(m.body.userdata, Some(vec![1, 2, 3, 4, 5]));
    assert_eq!(m.body.packet, Some(frame));
    assert_eq!(m.body.key.and_then(|k| k.in_port), Some(ports[0]));

    // Per-CPU dispatch: MISS upcalls go to PER_CPU_PIDS, whatever the vports say.
    let percpu = NlClient::connect(sw.netlink_pid);
    let set = ctl.req.msg(
        DpCmd::Set,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            user_features: Some(features::UNALIGNED | features::DISPATCH_UPCALL_PER_CPU),
            per_cpu_pids: Some(vec![percpu.port_id]),
            ..DatapathAttrs::default()
        },
    );
    let (r, e) = ctl.req.transact(set, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.per_cpu_pids, Some(vec![percpu.port_id]));
    let flush = ctl.req.msg(FlowCmd::Del, ifindex, FlowAttrs::default());
    assert_eq!(ctl.req.transact(flush, 0).1, 0);
    let third = ping("1");
    let d = percpu
        .recv_dgram(Duration::from_secs(5))
        .expect("a MISS on the per-CPU socket");
    let m = OvsMessage::<PacketAttrs>::parse_datagram(&d).expect("upcall decodes");
    assert_eq!(m.cmd, PacketCmd::Miss);
    // UNALIGNED: the packet attribute is the last one and unpadded.
    let pkt = m.body.packet.expect("packet");
    let tail = &d[d.len() - pkt.len()..];
    assert_eq!(tail, &pkt[..]);
    let _ = third.join();
    // EXECUTE with RECIRC: the packet is looked up again with its new recirc_id; no flow
    // matches, so the controller gets a MISS whose key carries recirc_id 5.
    let exec = ctl.req.msg(
        PacketCmd::Execute,
        ifindex,
        PacketAttrs {
            packet: Some(pkt.clone()),
            key: Some(FlowKey {
                in_port: Some(ports[0]),
                ..FlowKey::default()
            }),
            actions: Some(vec![Action::Recirc(5)]),
            ..PacketAttrs::default()
        },
    );
    assert_eq!(ctl.req.transact(exec, 0).1, 0);
    let mut recirc_miss = false;
    while let Some(d) = percpu.recv_dgram(Duration::from_secs(2)) {
        let m = OvsMessage::<PacketAttrs>::parse_datagram(&d).expect("upcall decodes");
        if m.body.key.as_ref().and_then(|k| k.recirc_id) == Some(5) {
            assert_eq!(m.cmd, PacketCmd::Miss);
            assert_eq!(m.body.packet.as_ref(), Some(&pkt));
            recirc_miss = true;
            break;
        }
    }
    assert!(recirc_miss, "a MISS for the recirculated packet");
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}
