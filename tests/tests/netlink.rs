//! The netlink control plane against real dpswitch processes over real NETLINK_GENERIC
//! sockets, with the `odp` crate as the client codec: family resolution, every error path,
//! the kernel-style datapath open sequence, access control, flows (CRUD, dumps of 100k),
//! a burst of malformed requests, and the FLOW NEW rate.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{bin, unique, Dpswitch, Netns};
use odp::action::Action;
use odp::family::datapath::{features, DatapathAttrs, DpCmd};
use odp::family::flow::{ufid_flags, FlowAttrs, FlowCmd};
use odp::family::vport::{VportAttrs, VportCmd, VportOptions, VportType};
use odp::key::{EthernetKey, FlowKey, Ipv4Key, PortsKey};
use odp::nl::flags;

const EPERM: i32 = libc::EPERM;
const ENOENT: i32 = libc::ENOENT;
const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;
const EINVAL: i32 = libc::EINVAL;
const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
const EBUSY: i32 = libc::EBUSY;

/// A daemon whose datapath has two net_null ports (no kernel devices besides the local TAP).
fn start_null() -> (Dpswitch, String) {
    let dp = unique("dp");
    let n0 = unique("nul");
    let n1 = unique("nul");
    let p0 = format!("{n0}=net_null_{n0},no-rx=1");
    let p1 = format!("{n1}=net_null_{n1},no-rx=1");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &p0, "--port", &p1]);
    (sw, dp)
}

fn dp_get(c: &mut NlClient, name: &str) -> (Vec<odp::family::OvsMessage<DatapathAttrs>>, i32) {
    let m = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(name.to_string()),
            ..DatapathAttrs::default()
        },
    );
    c.transact(m, 0)
}

fn dp_ifindex(c: &mut NlClient, name: &str) -> i32 {
    let (r, e) = dp_get(c, name);
    assert_eq!(e, 0, "DP GET {name}");
    r[0].dp_ifindex
}

fn udp_key(in_port: u32, src: Ipv4Addr) -> FlowKey {
    FlowKey {
        in_port: Some(in_port),
        ethernet: Some(EthernetKey {
            src: [2, 0, 0, 0, 0, 1],
            dst: [2, 0, 0, 0, 0, 2],
        }),
        eth_type: Some(0x0800),
        ipv4: Some(Ipv4Key {
            src,
            dst: Ipv4Addr::new(10, 9, 9, 9),
            proto: 17,
            tos: 0,
            ttl: 64,
            frag: 0,
        }),
        udp: Some(PortsKey { src: 1, dst: 2 }),
        ..FlowKey::default()
    }
}

fn ufid(i: u32) -> Vec<u8> {
    let mut u = vec![0xab; 16];
    u[..4].copy_from_slice(&i.to_ne_bytes());
    u
}

#[test]
fn families_datapaths_vports_flows_and_their_errors() {
    let (sw, dp) = start_null();
    let mut c = NlClient::connect(sw.netlink_pid);

    // GETFAMILY: the four families and ovs_ct_limit resolve to distinct ids; others are
    // ENOENT.
    let ids = [c.ids.datapath, c.ids.vport, c.ids.flow, c.ids.packet];
    assert!(ids.iter().all(|&i| i > 0x10), "{ids:?}");
    let mut sorted = ids.to_vec();
    sorted.dedup();
    assert_eq!(sorted.len(), 4);
    assert_eq!(c.family("ovs_meter"), Err(ENOENT));
    let ct_limit = c.family("ovs_ct_limit").expect("ovs_ct_limit is served");
    assert!(!ids.contains(&ct_limit));
    assert_eq!(c.family("nonesuch"), Err(ENOENT));

    // The default datapath is there; its ifindex is its local TAP's.
    let ifindex = dp_ifindex(&mut c, &dp);
    let tap = std::fs::read_to_string(format!("/sys/class/net/{dp}/ifindex")).expect("local tap");
    assert_eq!(tap.trim().parse::<i32>().unwrap(), ifindex);
    assert_eq!(dp_get(&mut c, "nonesuch").1, ENODEV);
    let by_index = c.msg(DpCmd::Get, 999_999, DatapathAttrs::default());
    assert_eq!(c.transact(by_index, 0).1, ENODEV);

    // The open sequence of OVS's `dpif_netlink_open()` (`lib/dpif-netlink.c`): bit 31 must
    // fail, the retry succeeds.
    let name = unique("kdp");
    let new = |f: u32| DatapathAttrs {
        name: Some(name.clone()),
        upcall_pid: Some(0),
        user_features: Some(f),
        ..DatapathAttrs::default()
    };
    let probe = c.msg(
        DpCmd::New,
        0,
        new(features::UNALIGNED | features::VPORT_PIDS | 1 << 31),
    );
    assert_eq!(c.transact(probe, flags::ECHO).1, EOPNOTSUPP);
    assert_eq!(
        dp_get(&mut c, &name).1,
        ENODEV,
        "a failed NEW leaves nothing"
    );
    let tc = c.msg(DpCmd::New, 0, new(features::TC_RECIRC_SHARING));
    assert_eq!(c.transact(tc, 0).1, EOPNOTSUPP);
    let retry = c.msg(
        DpCmd::New,
        0,
        new(features::UNALIGNED | features::DISPATCH_UPCALL_PER_CPU),
    );
    let (r, e) = c.transact(retry, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r.len(), 1, "ECHO gives the new datapath");
    assert_eq!(r[0].body.name.as_deref(), Some(name.as_str()));
    assert_eq!(
        r[0].body.user_features,
        Some(features::UNALIGNED | features::DISPATCH_UPCALL_PER_CPU)
    );
    assert!(r[0].body.stats.is_some() && r[0].body.megaflow_stats.is_some());
    assert_eq!(r[0].body.upcall_pid, None, "UPCALL_PID is never reported");
    // Without ECHO: just the ACK.
    let dup = c.msg(DpCmd::New, 0, new(0));
    assert_eq!(c.transact(dup, 0), (vec![], EEXIST));
    let no_pid = c.msg(
        DpCmd::New,
        0,
        DatapathAttrs {
            name: Some(unique("kdp")),
            ..DatapathAttrs::default()
        },
    );
    assert_eq!(c.transact(no_pid, 0).1, EINVAL);
    // SET: a bad cache size is EINVAL; a SET without USER_FEATURES clears them.
    let bad = c.msg(
        DpCmd::Set,
        0,
        DatapathAttrs {
            name: Some(name.clone()),
            masks_cache_size: Some(3),
            ..DatapathAttrs::default()
        },
    );
    assert_eq!(c.transact(bad, 0).1, EINVAL);
    let set = c.msg(
        DpCmd::Set,
        0,
        DatapathAttrs {
            name: Some(name.clone()),
            masks_cache_size: Some(1024),
            ..DatapathAttrs::default()
        },
    );
    let (r, e) = c.transact(set, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.user_features, Some(0));
    assert_eq!(r[0].body.masks_cache_size, Some(1024));
    // The dump lists both datapaths and ends with DONE.
    let dump = c.msg(DpCmd::Get, 0, DatapathAttrs::default());
    let (r, e) = c.transact(dump, flags::DUMP);
    assert_eq!(e, 0);
    let names: Vec<_> = r.iter().filter_map(|m| m.body.name.clone()).collect();
    assert!(names.contains(&dp) && names.contains(&name), "{names:?}");
    let del = c.msg(
        DpCmd::Del,
        0,
        DatapathAttrs {
            name: Some(name.clone()),
            ..DatapathAttrs::default()
        },
    );
    assert_eq!(c.transact(del, 0).1, 0);
    assert_eq!(dp_get(&mut c, &name).1, ENODEV);

    // Vports.
    let vname = unique("vn");
    let mut opts = VportOptions::default();
    odp::dpswitch::push_setting(
        &mut opts,
        odp::dpswitch::DEVARGS,
        &format!("net_null_{vname}"),
    );
    odp::dpswitch::push_setting(&mut opts, "no-flood", "true");
    // A setting dpswitch has no use for is refused, not stored without effect.
    let mut colored = opts.clone();
    odp::dpswitch::push_setting(&mut colored, "color", "blue");
    let netdev = |options: VportOptions, port_no: Option<u32>| VportAttrs {
        name: Some(vname.clone()),
        ty: Some(VportType::Netdev),
        upcall_pids: Some(vec![0]),
        options: Some(options),
        port_no,
        ..VportAttrs::default()
    };
    let refused = c.msg(VportCmd::New, ifindex, netdev(colored, None));
    assert_eq!(c.transact(refused, 0).1, EINVAL);
    let vnew = c.msg(VportCmd::New, ifindex, netdev(opts.clone(), Some(7)));
    let (r, e) = c.transact(vnew, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.port_no, Some(7));
    assert_eq!(r[0].dp_ifindex, ifindex);
    let settings = odp::dpswitch::settings(r[0].body.options.as_ref().expect("options"));
    assert!(settings.contains(&("devargs".into(), format!("net_null_{vname}"))));
    assert!(settings.contains(&("no-flood".into(), "true".into())));
    let busy = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            name: Some(unique("vn")),
            ty: Some(VportType::Netdev),
            upcall_pids: Some(vec![0]),
            options: Some(opts.clone()),
            port_no: Some(7),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(busy, 0).1, EBUSY);
    let nodp = c.msg(
        VportCmd::New,
        424_242,
        VportAttrs {
            name: Some(unique("vn")),
            ty: Some(VportType::Netdev),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(nodp, 0).1, ENODEV);
    let get = |n: &str| VportAttrs {
        name: Some(n.to_string()),
        ..VportAttrs::default()
    };
    let m = c.msg(VportCmd::Get, 0, get("nonesuch"));
    assert_eq!(c.transact(m, 0).1, ENODEV);
    let m = c.msg(
        VportCmd::Get,
        ifindex,
        VportAttrs {
            port_no: Some(4242),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, ENODEV);
    let m = c.msg(VportCmd::Get, ifindex, VportAttrs::default());
    assert_eq!(c.transact(m, 0).1, EINVAL, "neither name nor number");
    let m = c.msg(VportCmd::Get, 0, get(&vname));
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.port_no, Some(7));
    assert!(r[0].body.stats.is_some() && r[0].body.upcall_stats.is_some());
    // Upcall pid arrays: malformed → EINVAL; a SET replaces them (one u32 without
    // VPORT_PIDS).
    let mut raw = c.msg(VportCmd::Set, 0, get(&vname));
    raw.seq = c.next_seq();
    raw.flags = flags::REQUEST | flags::ACK;
    raw.pid = c.port_id;
    let mut bytes = raw.to_bytes().unwrap();
    // Append an UPCALL_PID attribute of 3 bytes.
    bytes.extend_from_slice(&[7, 0, 5, 0, 1, 2, 3, 0]);
    let total = bytes.len() as u32;
    bytes[..4].copy_from_slice(&total.to_ne_bytes());
    c.send_raw(&bytes).unwrap();
    assert_eq!(c.collect(raw.seq, true).1, Some(EINVAL));
    let m = c.msg(
        VportCmd::Set,
        0,
        VportAttrs {
            name: Some(vname.clone()),
            upcall_pids: Some(vec![11, 12]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.upcall_pids, Some(vec![11]));
    let m = c.msg(
        VportCmd::Set,
        0,
        VportAttrs {
            name: Some(vname.clone()),
            ty: Some(VportType::Internal),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, EINVAL, "type mismatch");
    let m = c.msg(VportCmd::Get, ifindex, VportAttrs::default());
    let (r, e) = c.transact(m, flags::DUMP);
    assert_eq!(e, 0);
    let mut ports: Vec<u32> = r.iter().filter_map(|m| m.body.port_no).collect();
    ports.sort();
    assert_eq!(ports, [0, 1, 2, 7]);
    let m = c.msg(
        VportCmd::Del,
        ifindex,
        VportAttrs {
            port_no: Some(0),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, EINVAL, "the local port stays");
    let m = c.msg(VportCmd::Del, 0, get(&vname));
    assert_eq!(c.transact(m, 0).1, 0);
    let m = c.msg(VportCmd::Get, 0, get(&vname));
    assert_eq!(c.transact(m, 0).1, ENODEV);

    // An INTERNAL vport is a TAP named like the port; its IFINDEX is that netdev's.
    let iname = unique("in");
    let m = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            name: Some(iname.clone()),
            ty: Some(VportType::Internal),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!(e, 0, "{}", sw.log_text());
    let idx = std::fs::read_to_string(format!("/sys/class/net/{iname}/ifindex")).expect("tap");
    assert_eq!(r[0].body.ifindex, Some(idx.trim().parse().unwrap()));
    assert_eq!(r[0].body.ty, Some(VportType::Internal));
    // A NETDEV vport without devargs attaches the kernel interface of that name.
    let veth = unique("ve");
    let peer = unique("vp");
    dpswitch_e2e::sh(&[
        "ip", "link", "add", &veth, "type", "veth", "peer", "name", &peer,
    ]);
    dpswitch_e2e::sh(&["ip", "link", "set", &veth, "up"]);
    let m = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            name: Some(veth.clone()),
            ty: Some(VportType::Netdev),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(m, flags::ECHO);
    let _ = std::process::Command::new("ip")
        .args(["link", "del", &veth])
        .status();
    assert_eq!(e, 0, "{}", sw.log_text());
    let settings = odp::dpswitch::settings(r[0].body.options.as_ref().expect("options"));
    assert!(
        settings
            .iter()
            .any(|(k, v)| k == "devargs" && *v == format!("system,iface={veth}")),
        "{settings:?}"
    );
    let m = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            name: Some(unique("gr")),
            ty: Some(VportType::Gre),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, libc::EAFNOSUPPORT, "no tunnel vports");

    // Flows.
    let fk = udp_key(1, Ipv4Addr::new(10, 0, 0, 1));
    let out2 = vec![Action::Output(2)];
    let add = |k: &FlowKey, m: Option<FlowKey>, u: Option<Vec<u8>>| FlowAttrs {
        key: Some(k.clone()),
        mask: m,
        ufid: u,
        actions: Some(out2.clone()),
        ..FlowAttrs::default()
    };
    let m = c.msg(FlowCmd::New, ifindex, add(&fk, None, None));
    let (r, e) = c.transact(m, flags::CREATE | flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body.actions, Some(out2.clone()));
    assert!(r[0].body.ufid.is_none() && r[0].body.key.is_some() && r[0].body.mask.is_some());
    let m = c.msg(FlowCmd::New, ifindex, add(&fk, None, None));
    assert_eq!(c.transact(m, flags::CREATE).1, EEXIST);
    // Overlap: a broader flow that matches the installed one's key is EEXIST too.
    let wide_mask = FlowKey {
        in_port: Some(u32::MAX),
        eth_type: Some(0xffff),
        ..FlowKey::default()
    };
    let m = c.msg(
        FlowCmd::New,
        ifindex,
        add(
            &udp_key(1, Ipv4Addr::new(10, 0, 0, 1)),
            Some(wide_mask.clone()),
            Some(ufid(1)),
        ),
    );
    assert_eq!(c.transact(m, flags::CREATE).1, EEXIST);
    let m = c.msg(FlowCmd::New, 4242, add(&fk, None, None));
    assert_eq!(c.transact(m, flags::CREATE).1, ENODEV);
    // Malformed keys and masks.
    let mut no_ipv4 = fk.clone();
    no_ipv4.ipv4 = None;
    no_ipv4.udp = None;
    let m = c.msg(FlowCmd::New, ifindex, add(&no_ipv4, None, None));
    assert_eq!(c.transact(m, flags::CREATE).1, EINVAL, "missing key");
    let mut tcp_mask = wide_mask.clone();
    tcp_mask.tcp = Some(PortsKey {
        src: 0xffff,
        dst: 0,
    });
    let m = c.msg(FlowCmd::New, ifindex, add(&fk, Some(tcp_mask), None));
    assert_eq!(c.transact(m, flags::CREATE).1, EINVAL, "unexpected mask");
    let m = c.msg(
        FlowCmd::New,
        ifindex,
        FlowAttrs {
            key: Some(fk.clone()),
            ..FlowAttrs::default()
        },
    );
    assert_eq!(c.transact(m, flags::CREATE).1, EINVAL, "no actions");
    // A UFID flow with a wildcard mask on another in_port.
    let k2 = udp_key(2, Ipv4Addr::new(10, 0, 0, 2));
    let m = c.msg(
        FlowCmd::New,
        ifindex,
        add(&k2, Some(wide_mask.clone()), Some(ufid(2))),
    );
    assert_eq!(c.transact(m, flags::CREATE).1, 0);
    let by_ufid = |u: Vec<u8>, fl: Option<u32>| FlowAttrs {
        ufid: Some(u),
        ufid_flags: fl,
        ..FlowAttrs::default()
    };
    let m = c.msg(FlowCmd::Get, ifindex, by_ufid(ufid(2), None));
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.ufid, Some(ufid(2)));
    let masked = r[0].body.key.clone().expect("masked key");
    assert_eq!(masked.in_port, Some(2));
    assert_eq!(
        masked.ipv4.map(|i| i.src),
        Some(Ipv4Addr::UNSPECIFIED),
        "masked"
    );
    let m = c.msg(FlowCmd::Get, ifindex, by_ufid(ufid(99), None));
    assert_eq!(c.transact(m, 0).1, ENOENT);
    let m = c.msg(FlowCmd::Get, ifindex, FlowAttrs::default());
    assert_eq!(c.transact(m, 0).1, EINVAL);
    // GET by (unmasked) key returns the key as sent.
    let m = c.msg(
        FlowCmd::Get,
        ifindex,
        FlowAttrs {
            key: Some(fk.clone()),
            ..FlowAttrs::default()
        },
    );
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    let got = r[0].body.key.clone().unwrap();
    assert_eq!(got.ipv4, fk.ipv4);
    assert_eq!(got.in_port, Some(1));
    // SET replaces actions; SET of a missing flow is ENOENT.
    let m = c.msg(
        FlowCmd::Set,
        ifindex,
        FlowAttrs {
            key: Some(k2.clone()),
            mask: Some(wide_mask.clone()),
            ufid: Some(ufid(2)),
            actions: Some(vec![Action::Output(1)]),
            clear: true,
            ..FlowAttrs::default()
        },
    );
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].body.actions, Some(vec![Action::Output(1)]));
    let m = c.msg(FlowCmd::Set, ifindex, by_ufid(ufid(77), None));
    assert_eq!(c.transact(m, 0).1, ENOENT);
    // Dump with UFID flags that omit key, mask and actions.
    let all = ufid_flags::OMIT_KEY | ufid_flags::OMIT_MASK | ufid_flags::OMIT_ACTIONS;
    let m = c.msg(FlowCmd::Get, ifindex, by_ufid(vec![0], Some(all)));
    let (r, e) = c.transact(m, flags::DUMP);
    assert_eq!(e, 0);
    // (The local TAP's own chatter may add standalone-bridge flows to the dump.)
    assert!(r.len() >= 2);
    let u = r
        .iter()
        .find(|m| m.body.ufid == Some(ufid(2)))
        .expect("ufid flow");
    assert!(u.body.key.is_none() && u.body.mask.is_none() && u.body.actions.is_none());
    let k = r.iter().find(|m| m.body.ufid.is_none()).expect("key flow");
    assert!(k.body.key.is_some(), "a key flow is identified by its key");
    let m = c.msg(FlowCmd::Get, 4242, FlowAttrs::default());
    assert_eq!(
        c.transact(m, flags::DUMP).1,
        ENODEV,
        "reported in NLMSG_DONE"
    );
    // DEL by UFID, DEL of a missing flow, flush.
    let m = c.msg(FlowCmd::Del, ifindex, by_ufid(ufid(2), None));
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!((r.len(), e), (1, 0));
    let m = c.msg(FlowCmd::Del, ifindex, by_ufid(ufid(2), None));
    assert_eq!(c.transact(m, 0).1, ENOENT);
    let m = c.msg(FlowCmd::Del, ifindex, FlowAttrs::default());
    assert_eq!(c.transact(m, 0).1, 0);
    let (r, _) = dp_get(&mut c, &dp);
    assert_eq!(r[0].body.stats.map(|s| s.n_flows), Some(0));

    // Replies carry the sender's real port id even when the request's nlmsg_pid is 0
    // (OVS sends 0), and echo its seq.
    let mut get = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    get.seq = c.next_seq();
    get.pid = 0;
    get.flags = flags::REQUEST | flags::ACK;
    c.send_raw(&get.to_bytes().unwrap()).unwrap();
    let (msgs, e) = c.collect(get.seq, true);
    assert_eq!(e, Some(0));
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].0.pid, msgs[0].0.seq), (c.port_id, get.seq));
    assert_eq!(msgs[0].0.ty, c.ids.datapath, "message type = family id");

    // NOOP with ACK is acked in order.
    let seq = c.next_seq();
    let mut noop = Vec::new();
    odp::nl::NlMsgHeader {
        len: 16,
        ty: odp::nl::NLMSG_NOOP,
        flags: flags::REQUEST | flags::ACK,
        seq,
        pid: c.port_id,
    }
    .emit(&mut noop);
    c.send_raw(&noop).unwrap();
    assert_eq!(c.collect(seq, true).1, Some(0));

    // An unprivileged sender (uid 65534 that kept CAP_NET_ADMIN) may read but not change.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=+net_admin",
            "--ambient-caps=+net_admin",
        ])
        .arg(bin("nlprobe"))
        .args([sw.netlink_pid.to_string(), unique("pdp")])
        .output()
        .expect("run nlprobe under setpriv");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("new={EPERM} dump=0 dps=1")),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(sw);
}

#[test]
fn dump_of_100k_flows_and_flow_new_rate() {
    let (sw, dp) = start_null();
    let mut c = NlClient::connect(sw.netlink_pid);
    let ifindex = dp_ifindex(&mut c, &dp);
    const N: u32 = 100_000;
    const WINDOW: u32 = 256;
    let mask = FlowKey {
        in_port: Some(u32::MAX),
        eth_type: Some(0xffff),
        ipv4: Some(Ipv4Key {
            src: Ipv4Addr::BROADCAST,
            ..Ipv4Key::default()
        }),
        ..FlowKey::default()
    };
    // Pipelined FLOW NEW: up to WINDOW outstanding requests, each acked.
    let started = Instant::now();
    let mut first_seq = 0;
    let mut acked = 0u32;
    let mut sent = 0u32;
    while acked < N {
        while sent < N && sent - acked < WINDOW {
            let k = udp_key(1, Ipv4Addr::from(0x0a00_0000 + sent));
            let mut m = c.msg(
                FlowCmd::New,
                ifindex,
                FlowAttrs {
                    key: Some(k),
                    mask: Some(mask.clone()),
                    ufid: Some(ufid(sent)),
                    actions: Some(vec![Action::Output(2)]),
                    ..FlowAttrs::default()
                },
            );
            let seq = c.next_seq();
            if sent == 0 {
                first_seq = seq;
            }
            m.seq = seq;
            m.pid = c.port_id;
            m.flags = flags::REQUEST | flags::ACK | flags::CREATE;
            c.send_raw(&m.to_bytes().unwrap()).unwrap();
            sent += 1;
        }
        let d = c
            .recv_dgram(Duration::from_secs(10))
            .expect("acks keep coming");
        for msg in odp::nl::messages(&d) {
            let (h, p) = msg.unwrap();
            match odp::nl::classify(&h, p).unwrap() {
                odp::nl::Control::Error(e) => {
                    assert_eq!(e.error, 0, "FLOW NEW seq {} failed", h.seq);
                    assert_eq!(h.seq, first_seq + acked, "acks in order");
                    acked += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "FLOW NEW: {N} flows in {secs:.2} s = {:.0} flows/s (one client, window {WINDOW})",
        f64::from(N) / secs
    );
    // The local TAP's own chatter (IPv6 ND) may add a few standalone-bridge flows.
    let (r, _) = dp_get(&mut c, &dp);
    let n_flows = r[0].body.stats.map_or(0, |s| s.n_flows);
    assert!(n_flows >= u64::from(N), "n_flows {n_flows}");

    // The dump returns every flow exactly once.
    let m = c.msg(
        FlowCmd::Get,
        ifindex,
        FlowAttrs {
            ufid_flags: Some(ufid_flags::OMIT_ACTIONS),
            ..FlowAttrs::default()
        },
    );
    let started = Instant::now();
    let (r, e) = c.transact(m, flags::DUMP);
    assert_eq!(e, 0);
    let mut seen = std::collections::HashSet::new();
    for m in &r {
        let u = m.body.ufid.clone().expect("ufid");
        assert!(m.body.key.is_some() && m.body.mask.is_some() && m.body.actions.is_none());
        assert!(seen.insert(u), "duplicate in dump");
    }
    for i in 0..N {
        assert!(seen.contains(&ufid(i)), "flow {i} missing from the dump");
    }
    println!(
        "dump of {N} flows: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    drop(sw);
}

#[test]
fn malformed_burst_leaves_the_daemon_serving_and_forwarding() {
    let (a, b) = (unique("ta"), unique("tb"));
    let dp = unique("dp");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let mut c = NlClient::connect(sw.netlink_pid);
    let ifindex = dp_ifindex(&mut c, &dp);

    // Valid requests to mutate: flow NEW/GET/DEL, EXECUTE, DP GET, VPORT GET.
    let fk = udp_key(1, Ipv4Addr::new(10, 1, 1, 1));
    let mut seeds: Vec<(Vec<u8>, bool)> = Vec::new();
    let flow = c.msg(
        FlowCmd::New,
        ifindex,
        FlowAttrs {
            key: Some(fk.clone()),
            ufid: Some(ufid(5)),
            actions: Some(vec![Action::Output(2)]),
            ..FlowAttrs::default()
        },
    );
    seeds.push((flow.to_bytes().unwrap(), true));
    let get = c.msg(
        FlowCmd::Get,
        ifindex,
        FlowAttrs {
            key: Some(fk.clone()),
            ..FlowAttrs::default()
        },
    );
    seeds.push((get.to_bytes().unwrap(), true));
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x06]);
    frame.extend_from_slice(&[0; 28]);
    let exec = c.msg(
        odp::family::packet::PacketCmd::Execute,
        ifindex,
        odp::family::packet::PacketAttrs {
            packet: Some(frame),
            key: Some(FlowKey {
                in_port: Some(1),
                ..FlowKey::default()
            }),
            actions: Some(vec![Action::Trunc(60)]),
            ..Default::default()
        },
    );
    seeds.push((exec.to_bytes().unwrap(), true));
    // Datapath / vport requests are mutated only after their headers, so no mutation turns
    // them into a DEL of the datapath under test.
    let dpget = c.msg(
        DpCmd::Get,
        ifindex,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    seeds.push((dpget.to_bytes().unwrap(), false));
    let vget = c.msg(
        VportCmd::Get,
        ifindex,
        VportAttrs {
            name: Some(a.clone()),
            ..VportAttrs::default()
        },
    );
    seeds.push((vget.to_bytes().unwrap(), false));

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut replies = 0usize;
    for i in 0..10_000u32 {
        let msg = if i % 4 == 0 {
            // Random bytes, sometimes with a plausible header.
            let len = (next() % 200) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 16 && i % 8 == 0 {
                v[..4].copy_from_slice(&(len as u32).to_ne_bytes());
                v[4..6].copy_from_slice(&(0x30 + (next() % 5) as u16).to_ne_bytes());
                v[6..8].copy_from_slice(&(flags::REQUEST | flags::ACK).to_ne_bytes());
            }
            v
        } else {
            let (seed, whole) = &seeds[(next() % seeds.len() as u64) as usize];
            let mut v = seed.clone();
            let lo = if *whole { 4 } else { 24 };
            for _ in 0..1 + next() % 4 {
                if v.len() <= lo {
                    break;
                }
                let at = lo + (next() as usize) % (v.len() - lo);
                match next() % 4 {
                    0 => v[at] ^= 1 << (next() % 8),
                    1 => v[at] = next() as u8,
                    2 => v.truncate(at.max(lo)),
                    _ => v.insert(at, next() as u8),
                }
            }
            // Ask for acks so the daemon answers every message.
            if v.len() >= 8 {
                let f = u16::from_ne_bytes([v[6], v[7]]) | flags::REQUEST | flags::ACK;
                v[6..8].copy_from_slice(&f.to_ne_bytes());
            }
            v
        };
        // The kernel itself refuses some datagrams (e.g. empty); that is fine.
        let _ = c.send_raw(&msg);
        // Drain what came back so our receive buffer never fills.
        while let Some(d) = c.try_recv() {
            replies += d.len().min(1);
        }
    }
    while let Some(d) = c.recv_dgram(Duration::from_millis(300)) {
        replies += d.len().min(1);
    }
    assert!(replies > 5_000, "the daemon answered the burst ({replies})");

    // Still serving...
    let (r, e) = dp_get(&mut c, &dp);
    assert_eq!(e, 0, "log:\n{}", sw.log_text());
    assert_eq!(r[0].body.name.as_deref(), Some(dp.as_str()));
    // ... and forwarding (standalone bridge: remove any flows and pids the burst left).
    let m = c.msg(FlowCmd::Del, ifindex, FlowAttrs::default());
    assert_eq!(c.transact(m, 0).1, 0);
    for p in [&a, &b] {
        let m = c.msg(
            VportCmd::Set,
            0,
            VportAttrs {
                name: Some(p.to_string()),
                upcall_pids: Some(vec![0]),
                ..VportAttrs::default()
            },
        );
        assert_eq!(c.transact(m, 0).1, 0);
    }
    let m = c.msg(
        DpCmd::Set,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, 0);
    let (nsa, nsb) = (Netns::new(), Netns::new());
    nsa.adopt(&a, "10.214.0.1/24");
    nsb.adopt(&b, "10.214.0.2/24");
    let (ok, out) = nsa.try_exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.214.0.2"]);
    assert!(ok, "ping failed after the burst:\n{out}\n{}", sw.log_text());
    // The standalone bridge's megaflows show up in dumps (UFID-identified, with actions),
    // and can be fetched and deleted by that UFID.
    let m = c.msg(FlowCmd::Get, ifindex, FlowAttrs::default());
    let (r, e) = c.transact(m, flags::DUMP);
    assert_eq!(e, 0);
    let learned = r
        .iter()
        .find(|m| {
            m.body
                .actions
                .as_ref()
                .is_some_and(|a| a.len() == 1 && matches!(a[0], Action::Output(_)))
        })
        .expect("a learned unicast flow in the dump");
    let u = learned.body.ufid.clone().expect("bridge flows have a UFID");
    assert!(learned.body.key.as_ref().and_then(|k| k.ethernet).is_some());
    let m = c.msg(
        FlowCmd::Get,
        ifindex,
        FlowAttrs {
            ufid: Some(u.clone()),
            ..FlowAttrs::default()
        },
    );
    let (g, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    assert_eq!(g[0].body.mask, learned.body.mask);
    let m = c.msg(
        FlowCmd::Del,
        ifindex,
        FlowAttrs {
            ufid: Some(u),
            ..FlowAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, 0);
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}

#[test]
fn requests_are_counted_by_family_command_and_result() {
    let port = 20000 + (std::process::id() % 20000) as u16;
    let addr = format!("127.0.0.1:{port}");
    let dp = unique("dp");
    let n0 = unique("nul");
    let p0 = format!("{n0}=net_null_{n0},no-rx=1");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &p0, "--metrics", &addr]);
    let mut c = NlClient::connect(sw.netlink_pid);
    assert_eq!(dp_get(&mut c, &dp).1, 0);
    assert_eq!(dp_get(&mut c, "nonesuch").1, ENODEV);
    let scrape = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("metrics endpoint");
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let line = |result: &str| {
        scrape
            .lines()
            .find(|l| {
                l.starts_with("dpswitch_control_requests_total")
                    && l.contains("family=\"ovs_datapath\"")
                    && l.contains("command=\"get\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .map(str::to_string)
    };
    assert!(line("ok").is_some_and(|l| l.ends_with(" 1")), "{scrape}");
    assert!(
        line("ENODEV").is_some_and(|l| l.ends_with(" 1")),
        "{scrape}"
    );
    assert!(
        scrape.contains("family=\"nlctrl\""),
        "GETFAMILY is counted too"
    );
    drop(sw);
}

/// Vport SET as the kernel's `ovs_vport_cmd_set`: lookup errors (ENODEV for an unknown name
/// or number or a name in another datapath, EFBIG past 65534, EOPNOTSUPP for IFINDEX, EINVAL
/// without name or number); TYPE must match (EINVAL); UPCALL_PID must be a non-empty array
/// of whole u32s (EINVAL). OPTIONS: the kernel's vports have no `set_options`
/// (EOPNOTSUPP); dpswitch lets a port's `key=value` settings change, but not its device
/// (devargs: EOPNOTSUPP, a live port keeps its device) nor tunnel options (EOPNOTSUPP). A
/// refused SET changes nothing.
#[test]
fn vport_set_follows_ovs_vport_cmd_set() {
    let (sw, dp) = start_null();
    let mut c = NlClient::connect(sw.netlink_pid);
    let ifindex = dp_ifindex(&mut c, &dp);
    let by_no = |p: u32| VportAttrs {
        port_no: Some(p),
        ..VportAttrs::default()
    };
    let m = c.msg(VportCmd::Get, ifindex, by_no(1));
    let (r, e) = c.transact(m, 0);
    assert_eq!(e, 0);
    let before = r[0].body.clone();
    let p1 = before.name.clone().expect("port 1 name");
    let named = |extra: VportAttrs| VportAttrs {
        name: Some(p1.clone()),
        ..extra
    };
    let mut set = |hdr_ifindex: i32, a: VportAttrs| {
        let m = c.msg(VportCmd::Set, hdr_ifindex, a);
        c.transact(m, 0).1
    };
    let nonesuch = VportAttrs {
        name: Some("nonesuch".into()),
        ..VportAttrs::default()
    };
    assert_eq!(set(0, nonesuch), ENODEV);
    assert_eq!(set(ifindex, by_no(4242)), ENODEV);
    assert_eq!(set(ifindex, by_no(65535)), libc::EFBIG);
    assert_eq!(set(ifindex + 1000, named(VportAttrs::default())), ENODEV);
    let with_ifindex = VportAttrs {
        ifindex: Some(ifindex as u32),
        ..VportAttrs::default()
    };
    assert_eq!(set(ifindex, named(with_ifindex)), EOPNOTSUPP);
    assert_eq!(set(ifindex, VportAttrs::default()), EINVAL);
    let internal = VportAttrs {
        ty: Some(VportType::Internal),
        upcall_pids: Some(vec![99]),
        ..VportAttrs::default()
    };
    assert_eq!(set(0, named(internal)), EINVAL, "type mismatch");
    let mut devargs = VportOptions::default();
    odp::dpswitch::push_setting(&mut devargs, "devargs", "net_null_other,no-rx=1");
    odp::dpswitch::push_setting(&mut devargs, "no-flood", "false");
    let swap = VportAttrs {
        options: Some(devargs),
        upcall_pids: Some(vec![99]),
        ..VportAttrs::default()
    };
    assert_eq!(set(0, named(swap)), EOPNOTSUPP, "devargs of a live port");
    let tunnel = VportAttrs {
        options: Some(VportOptions {
            dst_port: Some(4789),
            ..VportOptions::default()
        }),
        ..VportAttrs::default()
    };
    assert_eq!(set(0, named(tunnel)), EOPNOTSUPP, "tunnel options");
    // An UPCALL_PID attribute with no ids.
    let mut raw = c.msg(VportCmd::Set, 0, named(VportAttrs::default()));
    raw.seq = c.next_seq();
    raw.flags = flags::REQUEST | flags::ACK;
    raw.pid = c.port_id;
    let mut bytes = raw.to_bytes().expect("encode");
    bytes.extend_from_slice(&[4, 0, 5, 0]);
    let total = bytes.len() as u32;
    bytes[..4].copy_from_slice(&total.to_ne_bytes());
    c.send_raw(&bytes).expect("send");
    assert_eq!(
        c.collect(raw.seq, true).1,
        Some(EINVAL),
        "empty upcall pid array"
    );
    let get = |c: &mut NlClient| {
        let m = c.msg(VportCmd::Get, ifindex, by_no(1));
        let (r, e) = c.transact(m, 0);
        assert_eq!(e, 0);
        r[0].body.clone()
    };
    let after = get(&mut c);
    assert_eq!(
        (&after.options, &after.upcall_pids, after.ty),
        (&before.options, &before.upcall_pids, before.ty),
        "refused SETs changed nothing"
    );
    // Settings may change, with the type repeated and the same devargs.
    let mut no_flood = VportOptions::default();
    odp::dpswitch::push_setting(&mut no_flood, "no-flood", "true");
    let ok = VportAttrs {
        ty: Some(VportType::Netdev),
        options: Some(no_flood),
        upcall_pids: Some(vec![5]),
        ..VportAttrs::default()
    };
    let m = c.msg(VportCmd::Set, ifindex, named(ok));
    let (r, e) = c.transact(m, flags::ECHO);
    assert_eq!(e, 0);
    assert_eq!(r[0].cmd, VportCmd::Set);
    let after = get(&mut c);
    let settings = odp::dpswitch::settings(after.options.as_ref().expect("options"));
    assert!(
        settings.contains(&("no-flood".to_string(), "true".to_string())),
        "{settings:?}"
    );
    assert_eq!(after.upcall_pids, Some(vec![5]));
    assert!(sw.stop().success());
}

/// `OVS_DP_ATTR_MASKS_CACHE_SIZE` as the kernel bounds it: the attribute policy caps it at
/// PCPU_MIN_UNIT_SIZE / sizeof(struct mask_cache_entry) = 32768 / 8 = 4096 (ERANGE, on any
/// command), and `ovs_flow_tbl_masks_cache_resize` wants 0 (off) or a power of two
/// (EINVAL). DP NEW applies it too (`ovs_dp_change`), before finding the name taken.
#[test]
fn masks_cache_size_bounds_match_the_kernel() {
    let (sw, dp) = start_null();
    let mut c = NlClient::connect(sw.netlink_pid);
    let attrs = |name: &str, n: u32| DatapathAttrs {
        name: Some(name.to_string()),
        masks_cache_size: Some(n),
        ..DatapathAttrs::default()
    };
    for (n, want) in [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, EINVAL),
        (6, EINVAL),
        (2048, 0),
        (4095, EINVAL),
        (4096, 0),
        (4097, libc::ERANGE),
        (8192, libc::ERANGE),
        (u32::MAX, libc::ERANGE),
        (256, 0),
    ] {
        let m = c.msg(DpCmd::Set, 0, attrs(&dp, n));
        assert_eq!(c.transact(m, 0).1, want, "SET {n}");
        let (r, e) = dp_get(&mut c, &dp);
        assert_eq!(e, 0);
        if want == 0 {
            assert_eq!(r[0].body.masks_cache_size, Some(n), "after SET {n}");
        }
    }
    let new = |name: &str, n: u32| DatapathAttrs {
        upcall_pid: Some(0),
        ..attrs(name, n)
    };
    let m = c.msg(DpCmd::New, 0, new(&dp, 3));
    assert_eq!(
        c.transact(m, 0).1,
        EINVAL,
        "checked before the name is found taken"
    );
    let m = c.msg(DpCmd::New, 0, new(&dp, 8192));
    assert_eq!(c.transact(m, 0).1, libc::ERANGE);
    let dp2 = unique("mc");
    let m = c.msg(DpCmd::New, 0, new(&dp2, 5));
    assert_eq!(c.transact(m, 0).1, EINVAL);
    assert_eq!(
        dp_get(&mut c, &dp2).1,
        ENODEV,
        "a refused NEW leaves nothing"
    );
    let m = c.msg(DpCmd::New, 0, new(&dp2, 1024));
    assert_eq!(c.transact(m, 0).1, 0);
    assert_eq!(dp_get(&mut c, &dp2).0[0].body.masks_cache_size, Some(1024));
    let m = c.msg(
        DpCmd::Del,
        0,
        DatapathAttrs {
            name: Some(dp2.clone()),
            ..DatapathAttrs::default()
        },
    );
    assert_eq!(c.transact(m, 0).1, 0);
    assert!(sw.stop().success());
}
