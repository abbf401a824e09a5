//! Families dpswitch does not serve, and multicast notifications.
//!
//! - `ovs_meter` resolves to ENOENT, as on a kernel without it, and the stock ovs-dpctl
//!   (which probes meters on every open) carries on; `ovs_ct_limit` is served.
//! - GETFAMILY advertises, for `ovs_datapath`, `ovs_vport` and `ovs_flow`, group ids no
//!   kernel family holds (2–32, so a userspace sender can address them) and a plain socket
//!   can join. NEW/DEL/SET through dpctl reach a listener as the kernel's `genl_notify`
//!   sends them: the echo message (command of the request, requester's pid and seq). An
//!   echo requester that also listens gets one copy, not two; a requester that asked for
//!   nothing gets nothing but its ACK. A flow flush announces nothing.

use std::time::Duration;

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{ovs_dpctl_at, split_vlog, unique, Dpswitch};
use nlio::NetlinkSocket;
use odp::ctrl::CtrlMessage;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::vport::{VportAttrs, VportCmd, VportType};
use odp::family::OvsMessage;
use odp::nl::{self, flags, NlMsgHeader};

/// The multicast group ids GETFAMILY reports for `name`.
fn groups_of(c: &mut NlClient, name: &str) -> Result<Vec<(String, u32)>, i32> {
    let seq = c.next_seq();
    let mut m = CtrlMessage::get_family(name, seq);
    m.pid = c.port_id;
    let mut b = Vec::new();
    m.emit(&mut b).expect("encode");
    c.send_raw(&b).expect("send");
    let (msgs, err) = c.collect(seq, true);
    match err {
        Some(0) => {}
        Some(e) => return Err(e),
        None => panic!("no answer to GETFAMILY {name}"),
    }
    let (h, p) = &msgs[0];
    let r = CtrlMessage::parse(*h, p).expect("NEWFAMILY");
    Ok(r.info
        .mcast_groups
        .into_iter()
        .map(|g| (g.name, g.id))
        .collect())
}

/// A socket that joined netlink groups.
struct Listener {
    sock: NetlinkSocket,
}

impl Listener {
    fn join(groups: &[u32]) -> Listener {
        let sock = NetlinkSocket::open(0).expect("netlink socket");
        let _ = sock.set_recv_buffer(4 << 20);
        for &g in groups {
            sock.join_group(g)
                .unwrap_or_else(|e| panic!("NETLINK_ADD_MEMBERSHIP {g}: {e}"));
        }
        Listener { sock }
    }

    fn send_to(&self, port_id: u32, bytes: &[u8]) {
        self.sock.send_to_blocking(port_id, bytes).expect("send");
    }

    /// Every message received until `quiet` passes without one.
    fn drain(&self, quiet: Duration) -> Vec<(NlMsgHeader, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(r) = self.sock.recv_timeout(&mut buf, quiet) {
            for m in nl::messages(&buf[..r.len]) {
                let (h, p) = m.expect("well-formed notification");
                out.push((h, p.to_vec()));
            }
        }
        out
    }
}

/// (family id, genl command, dp_ifindex) of each message, keeping those of `ifindex`.
fn summary(msgs: &[(NlMsgHeader, Vec<u8>)], ifindex: i32) -> Vec<(u16, u8, i32)> {
    msgs.iter()
        .filter_map(|(h, p)| {
            let cmd = p[0];
            let dpi = i32::from_ne_bytes(p[4..8].try_into().expect("ovs_header"));
            (dpi == ifindex).then_some((h.ty, cmd, dpi))
        })
        .collect()
}

fn start() -> (Dpswitch, String) {
    let dp = unique("dg");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", "p0=net_null0,no-rx=1"]);
    (sw, dp)
}

fn ok(r: dpswitch_e2e::CtlRun) {
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:#?}");
}

#[test]
fn meter_is_absent_and_ovs_dpctl_copes() {
    let (sw, dp) = start();
    let mut c = NlClient::raw(sw.netlink_pid);
    assert_eq!(c.family("ovs_meter"), Err(libc::ENOENT));
    assert!(c.family("ovs_ct_limit").is_ok());
    assert!(c.family("ovs_flow").is_ok());
    let r = ovs_dpctl_at(sw.netlink_pid, &["show", &dp], "");
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(r.stdout.starts_with(&format!("system@{dp}:\n")), "{r:#?}");
    let (log, rest) = split_vlog(&r.stderr);
    assert_eq!(rest, "");
    assert_eq!(
        log.first().map(String::as_str),
        Some("dpif_netlink|INFO|The kernel module does not support meters.")
    );
    assert!(sw.stop().success());
}

#[test]
fn getfamily_advertises_joinable_unused_groups() {
    let (sw, _dp) = start();
    let mut c = NlClient::raw(sw.netlink_pid);
    let mut ids = Vec::new();
    for name in ["ovs_datapath", "ovs_vport", "ovs_flow"] {
        let g = groups_of(&mut c, name).expect("family");
        assert_eq!(g.len(), 1, "{name}: {g:?}");
        assert_eq!(g[0].0, name);
        assert!((2..=32).contains(&g[0].1), "{name}: {g:?}");
        ids.push(g[0].1);
    }
    assert_eq!(groups_of(&mut c, "ovs_packet").expect("family"), vec![]);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    // No kernel family holds them (the kernel's nlctrl, asked directly).
    let mut k = NlClient::raw(0);
    let seq = k.next_seq();
    let dump = CtrlMessage {
        flags: flags::REQUEST | flags::DUMP,
        seq,
        pid: k.port_id,
        cmd: odp::ctrl::cmd::GETFAMILY,
        version: 1,
        info: Default::default(),
    };
    let mut b = Vec::new();
    dump.emit(&mut b).expect("encode");
    k.send_raw(&b).expect("send");
    let (fams, err) = k.collect(seq, true);
    assert_eq!(err, Some(0));
    for (h, p) in fams {
        let f = CtrlMessage::parse(h, &p).expect("family");
        for g in f.info.mcast_groups {
            assert!(
                !ids.contains(&g.id),
                "kernel family {:?} holds {g:?}",
                f.info.name
            );
        }
    }
    // Anyone can join them.
    let _l = Listener::join(&ids);
    assert!(sw.stop().success());
}

#[test]
fn changes_are_multicast_like_genl_notify() {
    let (sw, dp) = start();
    let mut c = NlClient::connect(sw.netlink_pid);
    let group = |c: &mut NlClient, n: &str| groups_of(c, n).expect("family")[0].1;
    let (gd, gv, gf) = (
        group(&mut c, "ovs_datapath"),
        group(&mut c, "ovs_vport"),
        group(&mut c, "ovs_flow"),
    );
    let get = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..Default::default()
        },
    );
    let ifindex = c.transact(get, 0).0[0].dp_ifindex;
    let l = Listener::join(&[gd, gv, gf]);
    let quiet = Duration::from_millis(300);
    let ids = c.ids;
    let (vnew, vdel, vset) = (1u8, 2u8, 4u8);

    // Vports: add-if, set-if, del-if. dpctl's open sends a DP SET (feature negotiation),
    // which is announced too.
    let int = unique("gi");
    ok(sw.dpctl(&["add-if", &dp, &format!("{int},type=internal")]));
    let got = l.drain(quiet);
    let vports: Vec<_> = summary(&got, ifindex)
        .into_iter()
        .filter(|m| m.0 == ids.vport)
        .collect();
    assert_eq!(vports, vec![(ids.vport, vnew, ifindex)], "{got:?}");
    let (h, p) = got
        .iter()
        .find(|(h, p)| h.ty == ids.vport && p[4..8] == ifindex.to_ne_bytes())
        .expect("vport notification");
    let v = OvsMessage::<VportAttrs>::parse(*h, p).expect("vport message");
    assert_eq!(v.body.name.as_deref(), Some(int.as_str()));
    assert_eq!(v.body.ty, Some(VportType::Internal));
    assert_eq!(v.body.port_no, Some(2));
    assert_eq!(h.flags, 0, "{h:?}");
    assert_ne!(h.pid, 0, "the requester's port id, as genl_notify's");
    assert!(
        summary(&got, ifindex).contains(&(ids.datapath, 4, ifindex)),
        "{got:?}"
    );

    ok(sw.dpctl(&["set-if", &dp, "p0,no-flood=true"]));
    let got = l.drain(quiet);
    let v: Vec<_> = summary(&got, ifindex)
        .into_iter()
        .filter(|m| m.0 == ids.vport)
        .collect();
    assert_eq!(v, vec![(ids.vport, vset, ifindex)], "{got:?}");

    ok(sw.dpctl(&["del-if", &dp, &int]));
    let got = l.drain(quiet);
    let v: Vec<_> = summary(&got, ifindex)
        .into_iter()
        .filter(|m| m.0 == ids.vport)
        .collect();
    assert_eq!(v, vec![(ids.vport, vdel, ifindex)], "{got:?}");

    // Flows: NEW, SET (mod-flow), DEL; a flush announces nothing.
    let f = "in_port(1),eth(src=00:01:02:03:04:05,dst=10:11:12:13:14:15),eth_type(0x1234)";
    let flows = |got: &[(NlMsgHeader, Vec<u8>)]| -> Vec<u8> {
        summary(got, ifindex)
            .into_iter()
            .filter(|m| m.0 == ids.flow)
            .map(|m| m.1)
            .collect()
    };
    ok(sw.dpctl(&["add-flow", &dp, f, "1"]));
    assert_eq!(flows(&l.drain(quiet)), vec![1]);
    ok(sw.dpctl(&["mod-flow", &dp, f, "2"]));
    assert_eq!(flows(&l.drain(quiet)), vec![4]);
    ok(sw.dpctl(&["del-flow", &dp, f]));
    assert_eq!(flows(&l.drain(quiet)), vec![2]);
    ok(sw.dpctl(&["add-flow", &dp, f, "1"]));
    assert_eq!(flows(&l.drain(quiet)), vec![1]);
    ok(sw.dpctl(&["del-flows", &dp]));
    assert_eq!(flows(&l.drain(quiet)), Vec::<u8>::new());
    // A refused change announces nothing.
    assert_eq!(sw.dpctl(&["del-flow", &dp, f]).code, 1);
    assert_eq!(flows(&l.drain(quiet)), Vec::<u8>::new());

    // Datapaths: add-dp, cache-set-size (SET), del-dp, picked out by name.
    let dp2 = unique("dh");
    let dps = |got: &[(NlMsgHeader, Vec<u8>)]| -> Vec<u8> {
        got.iter()
            .filter(|(h, _)| h.ty == ids.datapath)
            .filter_map(|(h, p)| OvsMessage::<DatapathAttrs>::parse(*h, p).ok())
            .filter(|m| m.body.name.as_deref() == Some(dp2.as_str()))
            .map(|m| m.cmd as u8)
            .collect()
    };
    ok(sw.dpctl(&["add-dp", &dp2]));
    let got = dps(&l.drain(quiet));
    assert_eq!(got.first(), Some(&1), "{got:?}");
    ok(sw.dpctl(&["cache-set-size", &dp2, "masks-cache", "512"]));
    assert_eq!(dps(&l.drain(quiet)).last(), Some(&4));
    ok(sw.dpctl(&["del-dp", &dp2]));
    assert_eq!(dps(&l.drain(quiet)).last(), Some(&2));

    // Echo: a requester that listens gets one copy (unicast, before its ACK); another
    // listener gets it multicast. Without echo the requester gets only the ACK.
    let mut me = NlClient::connect(sw.netlink_pid);
    let int2 = unique("gj");
    let new = |name: &str| VportAttrs {
        name: Some(name.to_string()),
        ty: Some(VportType::Internal),
        upcall_pids: Some(vec![0]),
        ..Default::default()
    };
    let m = me.msg(VportCmd::New, ifindex, new(&int2));
    let (replies, e) = me.transact(m, flags::ECHO);
    assert_eq!((replies.len(), e), (1, 0));
    assert_eq!(replies[0].cmd, VportCmd::New);
    let got = l.drain(quiet);
    let v: Vec<_> = summary(&got, ifindex)
        .into_iter()
        .filter(|m| m.0 == ids.vport)
        .collect();
    assert_eq!(v, vec![(ids.vport, vnew, ifindex)], "{got:?}");
    let del = me.msg(
        VportCmd::Del,
        ifindex,
        VportAttrs {
            name: Some(int2.clone()),
            ..Default::default()
        },
    );
    let (replies, e) = me.transact(del, 0);
    assert_eq!(
        (replies.len(), e),
        (0, 0),
        "no unasked unicast: {replies:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(me.try_recv().is_none());
    assert_eq!(
        summary(&l.drain(quiet), ifindex)
            .into_iter()
            .filter(|m| m.0 == ids.vport)
            .map(|m| m.1)
            .collect::<Vec<_>>(),
        vec![vdel]
    );
    assert!(sw.stop().success());
}

/// An echo requester that has joined the group gets the notification once (unicast, before
/// its ACK), as the kernel's `nlmsg_notify` leaves the requester out of the multicast; one
/// that asked for no echo gets the multicast copy like any listener.
#[test]
fn an_echo_requester_that_listens_gets_one_copy() {
    let (sw, dp) = start();
    let mut c = NlClient::connect(sw.netlink_pid);
    let gv = groups_of(&mut c, "ovs_vport").expect("family")[0].1;
    let get = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..Default::default()
        },
    );
    let ifindex = c.transact(get, 0).0[0].dp_ifindex;
    let me = Listener::join(&[gv]);
    let name = unique("gk");
    let mut m = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            name: Some(name.clone()),
            ty: Some(VportType::Internal),
            upcall_pids: Some(vec![0]),
            ..Default::default()
        },
    );
    m.seq = 4242;
    m.flags = flags::REQUEST | flags::ACK | flags::ECHO;
    me.send_to(sw.netlink_pid, &m.to_bytes().expect("encode"));
    let got: Vec<(u16, u32)> = me
        .drain(Duration::from_millis(300))
        .iter()
        .filter(|(h, p)| {
            h.ty == nl::NLMSG_ERROR
                || i32::from_ne_bytes(p[4..8].try_into().expect("hdr")) == ifindex
        })
        .map(|(h, _)| (h.ty, h.seq))
        .collect();
    assert_eq!(
        got,
        vec![(c.ids.vport, 4242), (nl::NLMSG_ERROR, 4242)],
        "one echo, then the ACK"
    );
    // Without echo, a listening requester gets the multicast copy, as any listener does.
    let mut m = c.msg(
        VportCmd::Del,
        ifindex,
        VportAttrs {
            name: Some(name),
            ..Default::default()
        },
    );
    m.seq = 4243;
    m.flags = flags::REQUEST | flags::ACK;
    me.send_to(sw.netlink_pid, &m.to_bytes().expect("encode"));
    // Removing a TAP takes a while: collect until the ACK.
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !all
        .iter()
        .any(|(h, _): &(NlMsgHeader, Vec<u8>)| h.seq == 4243 && h.ty == nl::NLMSG_ERROR)
        && std::time::Instant::now() < deadline
    {
        all.extend(me.drain(Duration::from_millis(300)));
    }
    let got: Vec<(u16, u32, u8)> = all
        .iter()
        .filter(|(h, p)| {
            h.ty == nl::NLMSG_ERROR
                || i32::from_ne_bytes(p[4..8].try_into().expect("hdr")) == ifindex
        })
        .map(|(h, p)| (h.ty, h.seq, if h.ty == nl::NLMSG_ERROR { 0 } else { p[0] }))
        .collect();
    assert_eq!(
        got,
        vec![(c.ids.vport, 4243, 2), (nl::NLMSG_ERROR, 4243, 0)],
        "the multicast copy, then the ACK"
    );
    assert!(sw.stop().success());
}
