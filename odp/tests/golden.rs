//! Golden byte vectors for every command of every family.
//!
//! How they were derived: each vector is written from the kernel's layouts:
//! the framing of `include/uapi/linux/netlink.h` and `genetlink.h` (nlmsghdr
//! 16 B: len u32, type u16, flags u16, seq u32, pid u32; genlmsghdr 4 B: cmd,
//! version, 0u16; attributes: nla_len u16 (unpadded), nla_type u16, payload
//! padded to 4), `struct ovs_header` (dp_ifindex s32), attribute numbers,
//! payload types and key structs from `include/uapi/linux/openvswitch.h`, and
//! reply orders from the `ovs_*_cmd_fill_info()` functions of
//! `net/openvswitch/datapath.c`. The small `nla`/`msg` helpers below only
//! concatenate bytes (little-endian host order, as on x86-64) and are
//! independent of the crate. A few vectors are also spelled out as literal
//! bytes.
#![cfg(target_endian = "little")]

use odp::action::Action;
use odp::ctrl::{self, CtrlMessage, FamilyInfo, McastGroup, Op};
use odp::family::datapath::{DatapathAttrs, DpCmd, DpMegaflowStats, DpStats};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::vport::{UpcallStats, VportAttrs, VportCmd, VportOptions, VportStats, VportType};
use odp::family::{Body, FamilyIds, FlowStats, OvsMessage, Request};
use odp::key::{EthernetKey, FlowKey, Ipv4Key, TunnelKey};
use odp::nl;
use std::net::Ipv4Addr;

fn nla(ty: u16, p: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((p.len() + 4) as u16).to_le_bytes());
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(p);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}
fn nest(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    nla(ty, &parts.concat())
}
fn u32a(ty: u16, v: u32) -> Vec<u8> {
    nla(ty, &v.to_le_bytes())
}
fn u64a(ty: u16, v: u64) -> Vec<u8> {
    nla(ty, &v.to_le_bytes())
}
fn strz(ty: u16, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    nla(ty, &b)
}
#[allow(clippy::too_many_arguments)]
fn msg(
    family: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    cmd: u8,
    ver: u8,
    ifindex: i32,
    attrs: &[Vec<u8>],
) -> Vec<u8> {
    let body = attrs.concat();
    let len = 16 + 4 + 4 + body.len();
    let mut v = Vec::new();
    v.extend_from_slice(&(len as u32).to_le_bytes());
    v.extend_from_slice(&family.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&pid.to_le_bytes());
    v.extend_from_slice(&[cmd, ver, 0, 0]);
    v.extend_from_slice(&ifindex.to_le_bytes());
    v.extend_from_slice(&body);
    v
}

/// emit(x) == bytes and parse(bytes) == x.
fn check<T: Body + std::fmt::Debug + PartialEq>(m: &OvsMessage<T>, bytes: &[u8])
where
    T::Cmd: PartialEq,
{
    let out = m.to_bytes().expect("emit");
    assert_eq!(out, bytes, "emit mismatch for {m:?}");
    let back = OvsMessage::<T>::parse_datagram(bytes).expect("parse");
    assert_eq!(&back, m);
}

fn with_hdr<T: Body>(
    mut m: OvsMessage<T>,
    family: u16,
    flags: u16,
    seq: u32,
    pid: u32,
) -> OvsMessage<T> {
    m.family = family;
    m.flags = flags;
    m.seq = seq;
    m.pid = pid;
    m
}

const DP: u16 = 0x1a;
const VP: u16 = 0x1b;
const FL: u16 = 0x1c;
const PK: u16 = 0x1d;
const REQ_ECHO: u16 = nl::flags::REQUEST | nl::flags::ECHO;

#[test]
fn dp_new_as_ovs_sends_it() {
    // OVS dpif_netlink_open() (lib/dpif-netlink.c): NEW with NAME "dp0", UPCALL_PID 0,
    // USER_FEATURES UNALIGNED|VPORT_PIDS|1<<31, version 2, REQUEST|ECHO.
    #[rustfmt::skip]
    let lit: [u8; 48] = [
        48, 0, 0, 0, 0x1a, 0, 0x09, 0, 1, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
        1, 2, 0, 0,                                            // genl: NEW v2
        0, 0, 0, 0,                                            // dp_ifindex 0
        8, 0, 1, 0, b'd', b'p', b'0', 0,                        // NAME
        8, 0, 2, 0, 0, 0, 0, 0,                                 // UPCALL_PID 0
        8, 0, 5, 0, 3, 0, 0, 0x80,                              // USER_FEATURES
    ];
    let m = with_hdr(
        OvsMessage::new(
            DpCmd::New,
            0,
            DatapathAttrs {
                name: Some("dp0".into()),
                upcall_pid: Some(0),
                user_features: Some(0x8000_0003),
                ..Default::default()
            },
        ),
        DP,
        REQ_ECHO,
        1,
        0,
    );
    check(&m, &lit);
    assert_eq!(
        lit.to_vec(),
        msg(
            DP,
            REQ_ECHO,
            1,
            0,
            1,
            2,
            0,
            &[strz(1, "dp0"), u32a(2, 0), u32a(5, 0x8000_0003)]
        )
    );
    assert_eq!(
        odp::family::datapath::check_new(&m.body)
            .unwrap_err()
            .errno(),
        odp::errno::EOPNOTSUPP
    );
}

#[test]
fn dp_del_get_set_and_reply() {
    let del = with_hdr(
        OvsMessage::new(DpCmd::Del, 7, DatapathAttrs::default()),
        DP,
        5,
        2,
        100,
    );
    check(&del, &msg(DP, 5, 2, 100, 2, 2, 7, &[]));

    let get = with_hdr(
        OvsMessage::new(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some("ovs-system".into()),
                ..Default::default()
            },
        ),
        DP,
        1,
        3,
        100,
    );
    check(&get, &msg(DP, 1, 3, 100, 3, 2, 0, &[strz(1, "ovs-system")]));

    let set = with_hdr(
        OvsMessage::new(
            DpCmd::Set,
            7,
            DatapathAttrs {
                user_features: Some(9),
                masks_cache_size: Some(256),
                per_cpu_pids: Some(vec![11, 12]),
                ..Default::default()
            },
        ),
        DP,
        REQ_ECHO,
        4,
        100,
    );
    let mut pids = 11u32.to_le_bytes().to_vec();
    pids.extend(12u32.to_le_bytes());
    check(
        &set,
        &msg(
            DP,
            REQ_ECHO,
            4,
            100,
            4,
            2,
            7,
            &[u32a(5, 9), u32a(7, 256), nla(8, &pids)],
        ),
    );

    // Reply order (ovs_dp_cmd_fill_info()): NAME, STATS, MEGAFLOW_STATS, USER_FEATURES,
    // MASKS_CACHE_SIZE.
    let stats = DpStats {
        n_hit: 10,
        n_missed: 2,
        n_lost: 1,
        n_flows: 3,
    };
    let mf = DpMegaflowStats {
        n_mask_hit: 15,
        n_masks: 2,
        n_cache_hit: 7,
    };
    let reply = with_hdr(
        OvsMessage::new(
            DpCmd::Get,
            7,
            DatapathAttrs {
                name: Some("dp0".into()),
                stats: Some(stats),
                megaflow_stats: Some(mf),
                user_features: Some(9),
                masks_cache_size: Some(256),
                ..Default::default()
            },
        ),
        DP,
        0,
        3,
        100,
    );
    let mut sb = Vec::new();
    for v in [10u64, 2, 1, 3] {
        sb.extend(v.to_le_bytes());
    }
    let mut mb = 15u64.to_le_bytes().to_vec();
    mb.extend(2u32.to_le_bytes());
    mb.extend([0u8; 4]);
    mb.extend(7u64.to_le_bytes());
    mb.extend([0u8; 8]);
    check(
        &reply,
        &msg(
            DP,
            0,
            3,
            100,
            3,
            2,
            7,
            &[
                strz(1, "dp0"),
                nla(3, &sb),
                nla(4, &mb),
                u32a(5, 9),
                u32a(7, 256),
            ],
        ),
    );

    // A PAD attribute (type 6) before STATS is skipped.
    let padded = msg(
        DP,
        0,
        3,
        100,
        3,
        2,
        7,
        &[
            strz(1, "dp0"),
            nla(6, &[]),
            nla(3, &sb),
            nla(4, &mb),
            u32a(5, 9),
            u32a(7, 256),
        ],
    );
    assert_eq!(
        OvsMessage::<DatapathAttrs>::parse_datagram(&padded).unwrap(),
        reply
    );
}

#[test]
fn vport_commands() {
    // NEW: TYPE vxlan, NAME, UPCALL_PID array, OPTIONS{DST_PORT 4789 host order}.
    let opts = VportOptions {
        dst_port: Some(4789),
        extension: Some(vec![1]),
        other: vec![],
    };
    let new = with_hdr(
        OvsMessage::new(
            VportCmd::New,
            7,
            VportAttrs {
                ty: Some(VportType::Vxlan),
                name: Some("vxlan_sys_4789".into()),
                upcall_pids: Some(vec![5, 6]),
                options: Some(opts),
                ..Default::default()
            },
        ),
        VP,
        REQ_ECHO,
        9,
        100,
    );
    let mut pids = 5u32.to_le_bytes().to_vec();
    pids.extend(6u32.to_le_bytes());
    let bytes = msg(
        VP,
        REQ_ECHO,
        9,
        100,
        1,
        1,
        7,
        &[
            u32a(2, 4),
            strz(3, "vxlan_sys_4789"),
            nla(5, &pids),
            nest(
                4,
                &[nla(1, &4789u16.to_le_bytes()), nest(2, &[nla(1, &[])])],
            ),
        ],
    );
    check(&new, &bytes);
    odp::family::vport::check_new(&new.body).unwrap();

    let del = with_hdr(
        OvsMessage::new(
            VportCmd::Del,
            7,
            VportAttrs {
                port_no: Some(3),
                ..Default::default()
            },
        ),
        VP,
        5,
        10,
        100,
    );
    check(&del, &msg(VP, 5, 10, 100, 2, 1, 7, &[u32a(1, 3)]));

    let get = with_hdr(
        OvsMessage::new(
            VportCmd::Get,
            0,
            VportAttrs {
                name: Some("eth0".into()),
                ..Default::default()
            },
        ),
        VP,
        1,
        11,
        100,
    );
    check(&get, &msg(VP, 1, 11, 100, 3, 1, 0, &[strz(3, "eth0")]));

    let set = with_hdr(
        OvsMessage::new(
            VportCmd::Set,
            7,
            VportAttrs {
                port_no: Some(3),
                ty: Some(VportType::Netdev),
                upcall_pids: Some(vec![0]),
                ..Default::default()
            },
        ),
        VP,
        REQ_ECHO,
        12,
        100,
    );
    check(
        &set,
        &msg(
            VP,
            REQ_ECHO,
            12,
            100,
            4,
            1,
            7,
            &[u32a(1, 3), u32a(2, 1), u32a(5, 0)],
        ),
    );

    // Reply (ovs_vport_cmd_fill_info() order): PORT_NO, TYPE, NAME, IFINDEX, STATS,
    // UPCALL_STATS{SUCCESS=type 0, FAIL}, UPCALL_PID.
    let st = VportStats {
        rx_packets: 1,
        tx_packets: 2,
        rx_bytes: 3,
        tx_bytes: 4,
        rx_errors: 5,
        tx_errors: 6,
        rx_dropped: 7,
        tx_dropped: 8,
    };
    let reply = with_hdr(
        OvsMessage::new(
            VportCmd::Get,
            7,
            VportAttrs {
                port_no: Some(1),
                ty: Some(VportType::Netdev),
                name: Some("eth0".into()),
                ifindex: Some(2),
                stats: Some(st),
                upcall_stats: Some(UpcallStats {
                    success: 10,
                    fail: 1,
                }),
                upcall_pids: Some(vec![5]),
                ..Default::default()
            },
        ),
        VP,
        0,
        11,
        100,
    );
    let sb: Vec<u8> = (1u64..=8).flat_map(|v| v.to_le_bytes()).collect();
    check(
        &reply,
        &msg(
            VP,
            0,
            11,
            100,
            3,
            1,
            7,
            &[
                u32a(1, 1),
                u32a(2, 1),
                strz(3, "eth0"),
                u32a(8, 2),
                nla(6, &sb),
                nest(10, &[u64a(0, 10), u64a(1, 1)]),
                u32a(5, 5),
            ],
        ),
    );
}

fn sample_key() -> FlowKey {
    FlowKey {
        in_port: Some(1),
        ethernet: Some(EthernetKey {
            src: [0, 1, 2, 3, 4, 5],
            dst: [0x10, 0x11, 0x12, 0x13, 0x14, 0x15],
        }),
        eth_type: Some(0x0800),
        ipv4: Some(Ipv4Key {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            proto: 17,
            tos: 0,
            ttl: 64,
            frag: 0,
        }),
        udp: Some(odp::key::PortsKey { src: 1000, dst: 53 }),
        ..Default::default()
    }
}

fn sample_key_bytes() -> Vec<Vec<u8>> {
    vec![
        u32a(3, 1),
        nla(4, &[0, 1, 2, 3, 4, 5, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]),
        nla(6, &[0x08, 0x00]),
        nla(7, &[10, 0, 0, 1, 10, 0, 0, 2, 17, 0, 64, 0]),
        nla(10, &[0x03, 0xe8, 0x00, 0x35]),
    ]
}

#[test]
fn flow_commands() {
    let ufid: Vec<u8> = (1..=16).collect();
    // NEW + CREATE: KEY, MASK (in_port exact, eth wildcarded), ACTIONS output:2.
    let mask = FlowKey {
        in_port: Some(u32::MAX),
        eth_type: Some(0xffff),
        ..Default::default()
    };
    let new = with_hdr(
        OvsMessage::new(
            FlowCmd::New,
            7,
            FlowAttrs {
                ufid: Some(ufid.clone()),
                key: Some(sample_key()),
                mask: Some(mask),
                actions: Some(vec![Action::Output(2)]),
                ..Default::default()
            },
        ),
        FL,
        nl::flags::REQUEST | nl::flags::ECHO | nl::flags::CREATE,
        20,
        100,
    );
    check(
        &new,
        &msg(
            FL,
            0x409,
            20,
            100,
            1,
            1,
            7,
            &[
                nla(9, &ufid),
                nest(1, &sample_key_bytes()),
                nest(7, &[u32a(3, u32::MAX), nla(6, &[0xff, 0xff])]),
                nest(2, &[u32a(1, 2)]),
            ],
        ),
    );

    let del = with_hdr(
        OvsMessage::new(
            FlowCmd::Del,
            7,
            FlowAttrs {
                ufid: Some(ufid.clone()),
                ..Default::default()
            },
        ),
        FL,
        5,
        21,
        100,
    );
    check(&del, &msg(FL, 5, 21, 100, 2, 1, 7, &[nla(9, &ufid)]));

    let flush = with_hdr(
        OvsMessage::new(FlowCmd::Del, 7, FlowAttrs::default()),
        FL,
        5,
        22,
        100,
    );
    check(&flush, &msg(FL, 5, 22, 100, 2, 1, 7, &[]));

    let get = with_hdr(
        OvsMessage::new(
            FlowCmd::Get,
            7,
            FlowAttrs {
                ufid: Some(ufid.clone()),
                ufid_flags: Some(7),
                ..Default::default()
            },
        ),
        FL,
        0x301,
        23,
        100,
    );
    check(
        &get,
        &msg(FL, 0x301, 23, 100, 3, 1, 7, &[nla(9, &ufid), u32a(10, 7)]),
    );

    let set = with_hdr(
        OvsMessage::new(
            FlowCmd::Set,
            7,
            FlowAttrs {
                key: Some(sample_key()),
                actions: Some(vec![]),
                clear: true,
                ..Default::default()
            },
        ),
        FL,
        REQ_ECHO,
        24,
        100,
    );
    check(
        &set,
        &msg(
            FL,
            REQ_ECHO,
            24,
            100,
            4,
            1,
            7,
            &[nest(1, &sample_key_bytes()), nla(2, &[]), nla(6, &[])],
        ),
    );

    // Reply: UFID, KEY, MASK, USED, STATS, TCP_FLAGS, ACTIONS.
    let reply = with_hdr(
        OvsMessage::new(
            FlowCmd::Get,
            7,
            FlowAttrs {
                ufid: Some(ufid.clone()),
                key: Some(sample_key()),
                used: Some(123_456),
                stats: Some(FlowStats {
                    n_packets: 10,
                    n_bytes: 600,
                }),
                tcp_flags: Some(0x12),
                actions: Some(vec![Action::Output(2)]),
                ..Default::default()
            },
        ),
        FL,
        2,
        23,
        100,
    );
    let mut fs = 10u64.to_le_bytes().to_vec();
    fs.extend(600u64.to_le_bytes());
    check(
        &reply,
        &msg(
            FL,
            2,
            23,
            100,
            3,
            1,
            7,
            &[
                nla(9, &ufid),
                nest(1, &sample_key_bytes()),
                u64a(5, 123_456),
                nla(3, &fs),
                nla(4, &[0x12]),
                nest(2, &[u32a(1, 2)]),
            ],
        ),
    );
}

#[test]
fn packet_commands() {
    let frame: Vec<u8> = (0..60).collect();
    let exec = with_hdr(
        OvsMessage::new(
            PacketCmd::Execute,
            7,
            PacketAttrs {
                packet: Some(frame.clone()),
                key: Some(FlowKey {
                    in_port: Some(1),
                    ..Default::default()
                }),
                actions: Some(vec![Action::Output(2)]),
                upcall_pid: Some(77),
                ..Default::default()
            },
        ),
        PK,
        nl::flags::REQUEST,
        30,
        100,
    );
    check(
        &exec,
        &msg(
            PK,
            1,
            30,
            100,
            3,
            1,
            7,
            &[
                nla(1, &frame),
                nest(2, &[u32a(3, 1)]),
                nest(2 + 1, &[u32a(1, 2)]),
                u32a(12, 77),
            ],
        ),
    );

    // MISS upcall, UNALIGNED: KEY, HASH, PACKET last and unpadded (61 bytes).
    let odd: Vec<u8> = (0..61).collect();
    let miss = with_hdr(
        OvsMessage::new(
            PacketCmd::Miss,
            7,
            PacketAttrs {
                key: Some(FlowKey {
                    in_port: Some(1),
                    ..Default::default()
                }),
                hash: Some(0x1_2345_6789),
                packet: Some(odd.clone()),
                unaligned: true,
                ..Default::default()
            },
        ),
        PK,
        0,
        0,
        0,
    );
    let mut b = msg(
        PK,
        0,
        0,
        0,
        1,
        1,
        7,
        &[nest(2, &[u32a(3, 1)]), u64a(11, 0x1_2345_6789)],
    );
    b.extend_from_slice(&65u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&odd);
    let total = b.len() as u32;
    b[..4].copy_from_slice(&total.to_le_bytes());
    let out = miss.to_bytes().unwrap();
    assert_eq!(out, b);
    let mut back = OvsMessage::<PacketAttrs>::parse_datagram(&b).unwrap();
    back.body.unaligned = true;
    assert_eq!(back, miss);

    // ACTION upcall: KEY, USERDATA, ACTIONS, LEN, HASH, PACKET (padded).
    let act = with_hdr(
        OvsMessage::new(
            PacketCmd::Action,
            7,
            PacketAttrs {
                key: Some(FlowKey {
                    in_port: Some(1),
                    ..Default::default()
                }),
                userdata: Some(vec![1, 2, 3, 4, 5, 6, 7, 8]),
                actions: Some(vec![Action::Output(2)]),
                len: Some(1500),
                hash: Some(5),
                packet: Some(odd.clone()),
                ..Default::default()
            },
        ),
        PK,
        0,
        0,
        0,
    );
    check(
        &act,
        &msg(
            PK,
            0,
            0,
            0,
            2,
            1,
            7,
            &[
                nest(2, &[u32a(3, 1)]),
                nla(4, &[1, 2, 3, 4, 5, 6, 7, 8]),
                nest(3, &[u32a(1, 2)]),
                u32a(10, 1500),
                u64a(11, 5),
                nla(1, &odd),
            ],
        ),
    );
}

#[test]
fn nlctrl_getfamily_request_and_reply() {
    // Request: nlmsghdr type 0x10, genl GETFAMILY v1, FAMILY_NAME "ovs_flow".
    let req = CtrlMessage::get_family("ovs_flow", 1);
    let mut b = Vec::new();
    req.emit(&mut b).unwrap();
    let mut exp = Vec::new();
    let attrs = strz(2, "ovs_flow");
    exp.extend(((20 + attrs.len()) as u32).to_le_bytes());
    exp.extend(0x10u16.to_le_bytes());
    exp.extend(5u16.to_le_bytes());
    exp.extend(1u32.to_le_bytes());
    exp.extend(0u32.to_le_bytes());
    exp.extend([3, 1, 0, 0]);
    exp.extend(&attrs);
    assert_eq!(b, exp);
    let (h, p) = nl::messages(&b).next().unwrap().unwrap();
    assert_eq!(CtrlMessage::parse(h, p).unwrap(), req);

    // Reply (cmd NEWFAMILY, kernel order): NAME, ID, VERSION, HDRSIZE, MAXATTR, OPS, MCAST_GROUPS.
    let info = ctrl::family_info("ovs_flow", FL, 9).unwrap();
    assert_eq!(
        info,
        FamilyInfo {
            id: Some(FL),
            name: Some("ovs_flow".into()),
            version: Some(1),
            hdrsize: Some(4),
            maxattr: Some(11),
            ops: vec![
                Op { id: 1, flags: 0x1a },
                Op { id: 2, flags: 0x1a },
                Op { id: 3, flags: 0x0e },
                Op { id: 4, flags: 0x1a }
            ],
            mcast_groups: vec![McastGroup {
                name: "ovs_flow".into(),
                id: 9
            }],
        }
    );
    let rep = CtrlMessage {
        flags: 0,
        seq: 1,
        pid: 100,
        cmd: ctrl::cmd::NEWFAMILY,
        version: 2,
        info,
    };
    let mut b = Vec::new();
    rep.emit(&mut b).unwrap();
    let ops: Vec<Vec<u8>> = [(1u32, 0x1au32), (2, 0x1a), (3, 0x0e), (4, 0x1a)]
        .iter()
        .enumerate()
        .map(|(i, (id, f))| nest(i as u16 + 1, &[u32a(1, *id), u32a(2, *f)]))
        .collect();
    let attrs = [
        strz(2, "ovs_flow"),
        nla(1, &FL.to_le_bytes()),
        u32a(3, 1),
        u32a(4, 4),
        u32a(5, 11),
        nest(6, &ops),
        nest(7, &[nest(1, &[u32a(2, 9), strz(1, "ovs_flow")])]),
    ]
    .concat();
    let mut exp = Vec::new();
    exp.extend(((20 + attrs.len()) as u32).to_le_bytes());
    exp.extend(0x10u16.to_le_bytes());
    exp.extend(0u16.to_le_bytes());
    exp.extend(1u32.to_le_bytes());
    exp.extend(100u32.to_le_bytes());
    exp.extend([1, 2, 0, 0]);
    exp.extend(&attrs);
    assert_eq!(b, exp);
    let (h, p) = nl::messages(&b).next().unwrap().unwrap();
    assert_eq!(CtrlMessage::parse(h, p).unwrap(), rep);
    for name in ["nope", "ovs_meter", "ovs_ct_limit"] {
        assert_eq!(
            ctrl::family_info(name, 1, 1).unwrap_err().errno(),
            odp::errno::ENOENT
        );
    }
}

#[test]
fn parse_request_dispatches_by_family() {
    let ids = FamilyIds {
        datapath: DP,
        vport: VP,
        flow: FL,
        packet: PK,
    };
    let b = msg(FL, 5, 21, 100, 2, 1, 7, &[]);
    let (h, p) = nl::messages(&b).next().unwrap().unwrap();
    assert!(matches!(
        odp::family::parse_request(&ids, h, p).unwrap(),
        Request::Flow(_)
    ));
    let b = msg(0x55, 5, 21, 100, 2, 1, 7, &[]);
    let (h, p) = nl::messages(&b).next().unwrap().unwrap();
    assert_eq!(
        odp::family::parse_request(&ids, h, p).unwrap_err().errno(),
        odp::errno::EOPNOTSUPP
    );
    // Unknown command.
    let b = msg(FL, 5, 21, 100, 9, 1, 7, &[]);
    let (h, p) = nl::messages(&b).next().unwrap().unwrap();
    assert!(odp::family::parse_request(&ids, h, p).is_err());
}

#[test]
fn tunnel_key_type_zero_and_nested_flag_accepted() {
    // TUNNEL nest sent with NLA_F_NESTED by some client; ID is type 0.
    let tun = [
        nla(0, &0x1234u64.to_be_bytes()),
        nla(2, &[192, 168, 0, 1]),
        nla(4, &[64]),
    ]
    .concat();
    let mut attr = nla(16, &tun);
    attr[2..4].copy_from_slice(&(16u16 | 0x8000).to_le_bytes());
    let k = FlowKey::parse(&attr).unwrap();
    let t = k.tunnel.clone().unwrap();
    assert_eq!(
        t,
        TunnelKey {
            id: Some(0x1234),
            ipv4_dst: Some(Ipv4Addr::new(192, 168, 0, 1)),
            ttl: Some(64),
            ..Default::default()
        }
    );
    // Emitted back without the flag.
    assert_eq!(k.to_bytes(), nla(16, &tun));
}

#[test]
fn dump_datagram_with_multi_and_done() {
    // Two NLM_F_MULTI flow entries then NLMSG_DONE(0) in one datagram, the
    // shape of a kernel dump reply.
    let mut dg = Vec::new();
    for port in [1u32, 2] {
        let m = with_hdr(
            OvsMessage::new(
                FlowCmd::Get,
                7,
                FlowAttrs {
                    key: Some(FlowKey {
                        in_port: Some(port),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            FL,
            nl::flags::MULTI,
            5,
            100,
        );
        m.emit(&mut dg).unwrap();
    }
    nl::emit_done(&mut dg, 5, 100, 0);
    let mut expect = msg(FL, 2, 5, 100, 3, 1, 7, &[nest(1, &[u32a(3, 1)])]);
    expect.extend(msg(FL, 2, 5, 100, 3, 1, 7, &[nest(1, &[u32a(3, 2)])]));
    expect.extend([
        20, 0, 0, 0, 3, 0, 2, 0, 5, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0,
    ]);
    assert_eq!(dg, expect);
    let parts: Vec<_> = nl::messages(&dg).collect::<odp::Result<_>>().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        nl::classify(&parts[2].0, parts[2].1).unwrap(),
        nl::Control::Done(0)
    );
    let first = OvsMessage::<FlowAttrs>::parse(parts[0].0, parts[0].1).unwrap();
    assert_eq!(first.body.key.unwrap().in_port, Some(1));
}

#[test]
fn dp_reply_with_per_cpu_pids_and_execute_checks() {
    let reply = with_hdr(
        OvsMessage::new(
            DpCmd::Get,
            7,
            DatapathAttrs {
                name: Some("dp0".into()),
                user_features: Some(9),
                per_cpu_pids: Some(vec![1, 2, 3]),
                ..Default::default()
            },
        ),
        DP,
        0,
        1,
        100,
    );
    let pids: Vec<u8> = [1u32, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    check(
        &reply,
        &msg(
            DP,
            0,
            1,
            100,
            3,
            2,
            7,
            &[strz(1, "dp0"), u32a(5, 9), nla(8, &pids)],
        ),
    );
    // PER_CPU_PIDS must be a non-empty multiple of 4 bytes.
    let bad = msg(DP, 0, 1, 100, 4, 2, 7, &[nla(8, &[1, 0, 0])]);
    assert_eq!(
        OvsMessage::<DatapathAttrs>::parse_datagram(&bad)
            .unwrap_err()
            .errno(),
        odp::errno::EINVAL
    );
    // A name longer than 15 characters is refused.
    let long = msg(DP, 0, 1, 100, 1, 2, 0, &[strz(1, "sixteen-chars-xx")]);
    assert_eq!(
        OvsMessage::<DatapathAttrs>::parse_datagram(&long)
            .unwrap_err()
            .errno(),
        odp::errno::EINVAL
    );
    // EXECUTE with a packet shorter than an Ethernet header: policy error.
    let short = msg(PK, 1, 1, 100, 3, 1, 7, &[nla(1, &[0; 13])]);
    assert_eq!(
        OvsMessage::<PacketAttrs>::parse_datagram(&short)
            .unwrap_err()
            .errno(),
        odp::errno::ERANGE
    );
    let no_actions = msg(
        PK,
        1,
        1,
        100,
        3,
        1,
        7,
        &[nla(1, &[0; 14]), nest(2, &[u32a(3, 1)])],
    );
    let m = OvsMessage::<PacketAttrs>::parse_datagram(&no_actions).unwrap();
    assert_eq!(
        odp::family::packet::check_execute(&m.body)
            .unwrap_err()
            .errno(),
        odp::errno::EINVAL
    );
    // Leftover bytes after the last attribute are ignored at the top level
    // (the kernel only warns), but not inside a flow key.
    let mut trailing = msg(DP, 0, 1, 100, 3, 2, 7, &[strz(1, "dp0")]);
    trailing.extend([9, 9]);
    let n = trailing.len() as u32;
    trailing[..4].copy_from_slice(&n.to_le_bytes());
    assert_eq!(
        OvsMessage::<DatapathAttrs>::parse_datagram(&trailing)
            .unwrap()
            .body
            .name
            .as_deref(),
        Some("dp0")
    );
    let bad_key = msg(
        FL,
        0,
        1,
        100,
        3,
        1,
        7,
        &[nla(1, &[8, 0, 3, 0, 1, 0, 0, 0, 9, 9])],
    );
    assert_eq!(
        OvsMessage::<FlowAttrs>::parse_datagram(&bad_key)
            .unwrap_err()
            .errno(),
        odp::errno::EINVAL
    );
    // Attributes above a family's maximum are ignored (liberal parsing).
    let extra = msg(DP, 0, 1, 100, 3, 2, 7, &[strz(1, "dp0"), u32a(40, 1)]);
    assert_eq!(
        OvsMessage::<DatapathAttrs>::parse_datagram(&extra)
            .unwrap()
            .body
            .name
            .as_deref(),
        Some("dp0")
    );
}
