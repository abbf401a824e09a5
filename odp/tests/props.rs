//! Property tests: random keys, masks and action lists round-trip through
//! netlink and text, and both paths agree.

use std::net::{Ipv4Addr, Ipv6Addr};

use odp::action::{actions_to_bytes, parse_actions, Action, Ct, Userspace};
use odp::key::*;
use odp::text::{self, FormatOptions};
use odp::validate::FlowMatch;
use proptest::prelude::*;

fn ip4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}
fn ip6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn l3l4() -> impl Strategy<Value = FlowKey> {
    prop_oneof![
        (
            ip4(),
            ip4(),
            any::<u8>(),
            any::<u8>(),
            0u8..3,
            any::<u16>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(s, d, tos, ttl, frag, sp, dp, fl)| FlowKey {
                eth_type: Some(0x0800),
                ipv4: Some(Ipv4Key {
                    src: s,
                    dst: d,
                    proto: 6,
                    tos,
                    ttl,
                    frag
                }),
                tcp: Some(PortsKey { src: sp, dst: dp }),
                tcp_flags: Some(fl & 0x0fff),
                ..Default::default()
            }),
        (
            ip6(),
            ip6(),
            0u32..0x100000,
            any::<u8>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(s, d, l, h, sp, dp)| FlowKey {
                eth_type: Some(0x86dd),
                ipv6: Some(Ipv6Key {
                    src: s,
                    dst: d,
                    label: l,
                    proto: 17,
                    tclass: 0,
                    hlimit: h,
                    frag: 0
                }),
                udp: Some(PortsKey { src: sp, dst: dp }),
                ..Default::default()
            }),
        (ip4(), ip4(), 0u16..256, any::<[u8; 6]>(), any::<[u8; 6]>()).prop_map(
            |(s, t, op, sha, tha)| FlowKey {
                eth_type: Some(0x0806),
                arp: Some(ArpKey {
                    sip: s,
                    tip: t,
                    op,
                    sha,
                    tha
                }),
                ..Default::default()
            }
        ),
        prop::collection::vec(any::<u32>(), 1..=3).prop_map(|v| FlowKey {
            eth_type: Some(0x8847),
            mpls: Some(v),
            ..Default::default()
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(t, c)| FlowKey {
            eth_type: Some(0x0800),
            ipv4: Some(Ipv4Key {
                proto: 1,
                ..Default::default()
            }),
            icmp: Some(IcmpKey { ty: t, code: c }),
            ..Default::default()
        }),
    ]
}

fn tunnel() -> impl Strategy<Value = TunnelKey> {
    (
        any::<u64>(),
        ip4(),
        ip4(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
    )
        .prop_map(|(id, s, d, tos, ttl, df, csum, tp)| TunnelKey {
            id: Some(id),
            ipv4_src: Some(s),
            ipv4_dst: Some(d),
            tos: Some(tos),
            ttl: Some(ttl),
            dont_fragment: df,
            csum,
            tp_dst: Some(tp),
            ..Default::default()
        })
}

fn key() -> impl Strategy<Value = FlowKey> {
    (
        l3l4(),
        proptest::option::of(0u32..65535),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(tunnel()),
        proptest::option::of(0u16..4096),
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of(0u32..256),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(|(l, port, mark, recirc, tun, vid, src, dst, cts, labels)| {
            let mut k = FlowKey {
                in_port: port,
                skb_mark: mark,
                recirc_id: recirc,
                tunnel: tun,
                ethernet: Some(EthernetKey { src, dst }),
                ct_state: cts,
                ct_labels: labels,
                ..Default::default()
            };
            match vid {
                Some(v) => {
                    k.eth_type = Some(0x8100);
                    k.vlan = Some(0x1000 | v);
                    k.encap = Some(Box::new(l));
                }
                None => {
                    let mut l = l;
                    l.in_port = k.in_port;
                    l.skb_mark = k.skb_mark;
                    l.recirc_id = k.recirc_id;
                    l.tunnel = k.tunnel.clone();
                    l.ethernet = k.ethernet;
                    l.ct_state = k.ct_state;
                    l.ct_labels = k.ct_labels;
                    k = l;
                }
            }
            k
        })
}

/// A random mask of the same shape: each attribute exact, wildcarded or random.
fn mask_for(k: &FlowKey, seed: u64) -> FlowKey {
    let mut m = FlowKey::default();
    let mut r = seed;
    let mut next = || {
        r = r
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        r >> 33
    };
    if let Some(v) = k.in_port {
        let _ = v;
        m.in_port = Some(u32::MAX);
    }
    m.skb_mark = k.skb_mark.map(|_| next() as u32);
    m.recirc_id = k.recirc_id.map(|_| u32::MAX);
    m.ethernet = k.ethernet.map(|_| EthernetKey {
        src: [0xff; 6],
        dst: [next() as u8; 6],
    });
    m.eth_type = k.eth_type.map(|_| 0xffff);
    m.vlan = k.vlan.map(|_| 0xffff);
    m.ct_state = k.ct_state.map(|_| (next() as u32) & 0xff);
    m.ct_labels = k.ct_labels.map(|_| [0xff; 16]);
    m.tunnel = k.tunnel.as_ref().map(|t| TunnelKey {
        id: t.id.map(|_| u64::MAX),
        ipv4_src: t.ipv4_src.map(|_| Ipv4Addr::from(next() as u32)),
        ipv4_dst: t.ipv4_dst.map(|_| Ipv4Addr::BROADCAST),
        tos: t.tos.map(|_| 0xff),
        ttl: t.ttl.map(|_| 0xff),
        dont_fragment: true,
        csum: true,
        oam: true,
        tp_dst: t.tp_dst.map(|_| 0xffff),
        ..Default::default()
    });
    let inner = |k: &FlowKey, m: &mut FlowKey, n: u64| {
        m.eth_type = k.eth_type.map(|_| 0xffff);
        m.ipv4 = k.ipv4.map(|_| Ipv4Key {
            src: Ipv4Addr::from(n as u32),
            proto: 0xff,
            frag: 0xff,
            ..Ipv4Key::default()
        });
        m.ipv6 = k.ipv6.map(|_| Ipv6Key {
            dst: Ipv6Addr::from(u128::MAX),
            proto: 0xff,
            frag: 0xff,
            ..Ipv6Key::default()
        });
        m.tcp = k.tcp.map(|_| PortsKey {
            src: n as u16,
            dst: 0xffff,
        });
        m.tcp_flags = k.tcp_flags.map(|_| 0x0fff);
        m.udp = k.udp.map(|_| PortsKey {
            src: 0xffff,
            dst: 0,
        });
        m.arp = k.arp.map(|_| ArpKey {
            sip: Ipv4Addr::BROADCAST,
            op: 0xffff,
            ..Default::default()
        });
        m.mpls = k.mpls.as_ref().map(|v| vec![u32::MAX; v.len()]);
        m.icmp = k.icmp.map(|_| IcmpKey {
            ty: 0xff,
            code: 0xff,
        });
    };
    let n = next();
    match &k.encap {
        Some(e) => {
            let mut im = FlowKey::default();
            inner(e, &mut im, n);
            m.encap = Some(Box::new(im));
        }
        None => inner(k, &mut m, n),
    }
    m
}

fn leaf_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u32..65535).prop_map(Action::Output),
        any::<u32>().prop_map(Action::Recirc),
        any::<u32>().prop_map(Action::Meter),
        (14u32..100000).prop_map(Action::Trunc),
        any::<u32>().prop_map(|b| Action::Hash { alg: 0, basis: b }),
        Just(Action::PopVlan),
        Just(Action::PopEth),
        Just(Action::CtClear),
        (0u16..4096, 0u16..8).prop_map(|(v, p)| Action::PushVlan {
            tpid: 0x8100,
            tci: v | (p << 13) | 0x1000
        }),
        (any::<[u8; 6]>(), any::<[u8; 6]>()).prop_map(|(s, d)| Action::PushEth { src: s, dst: d }),
        (
            1u32..,
            prop::collection::vec(any::<u8>(), 8..20),
            any::<bool>()
        )
            .prop_map(|(p, d, a)| Action::Userspace(Userspace {
                pid: p,
                userdata: Some(d),
                egress_tun_port: None,
                actions: a
            })),
        (1u16.., any::<u32>(), any::<u32>()).prop_map(|(z, v, m)| Action::Ct(Ct {
            commit: true,
            zone: Some(z),
            mark: Some((v, m)),
            ..Default::default()
        })),
        (0u32..0x100000, 0u32..8, any::<u8>()).prop_map(|(l, tc, ttl)| Action::PushMpls {
            lse: (l << 12) | (tc << 9) | (1 << 8) | ttl as u32,
            ethertype: 0x8847
        }),
        (ip4(), ip4()).prop_map(|(s, d)| Action::SetMasked {
            key: FlowKey {
                ipv4: Some(Ipv4Key {
                    src: s,
                    dst: d,
                    ..Default::default()
                }),
                ..Default::default()
            },
            mask: FlowKey {
                ipv4: Some(Ipv4Key {
                    src: Ipv4Addr::BROADCAST,
                    dst: Ipv4Addr::BROADCAST,
                    ..Default::default()
                }),
                ..Default::default()
            },
        }),
    ]
}

fn action_list() -> impl Strategy<Value = Vec<Action>> {
    let leaf = prop::collection::vec(leaf_action(), 1..5);
    leaf.prop_recursive(4, 64, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|l| vec![Action::Clone(l)]),
            (inner.clone(), inner.clone(), 1u16..).prop_map(|(g, l, n)| vec![
                Action::CheckPktLen {
                    pkt_len: n,
                    gt: g,
                    le: l
                }
            ]),
            inner.clone().prop_map(|l| vec![Action::DecTtl(l)]),
            (inner.clone(), inner).prop_map(|(mut a, b)| {
                a.extend(b);
                a
            }),
        ]
    })
}

proptest! {
    #[test]
    fn key_netlink_round_trip(k in key(), seed in any::<u64>()) {
        let b = k.to_bytes();
        prop_assert_eq!(FlowKey::parse(&b).unwrap(), k.clone());
        let m = mask_for(&k, seed);
        prop_assert_eq!(FlowKey::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn key_text_and_netlink_agree(k in key(), seed in any::<u64>(), verbose in any::<bool>()) {
        let m = mask_for(&k, seed);
        let opts = FormatOptions { verbose, names: None };
        let s = text::format_key(&k, Some(&m), &opts);
        let (k2, m2) = text::parse_key(&s, None).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        // Text is a fixpoint, and formatting after a netlink trip gives the same text.
        prop_assert_eq!(text::format_key(&k2, Some(&m2), &opts), s.clone());
        let kb = FlowKey::parse(&k2.to_bytes()).unwrap();
        let mb = FlowKey::parse(&m2.to_bytes()).unwrap();
        prop_assert_eq!(text::format_key(&kb, Some(&mb), &opts), s);
        // The matched bits agree with the original.
        prop_assert_eq!(k2.and(&m2).to_bytes().len() <= k.to_bytes().len() + 64, true);
    }

    #[test]
    fn pure_key_text_round_trip(k in key()) {
        // Without a mask every field is exact, except ct_* which OVS prints only
        // with a mask: compare with an all-ones mask instead.
        let mut k = k;
        k.ct_labels = None;
        let s = text::format_key(&k, None, &FormatOptions::default());
        let (k2, _) = text::parse_key(&s, None).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(k2, k);
    }

    #[test]
    fn validated_reply_forms_round_trip(k in key(), seed in any::<u64>()) {
        let m = mask_for(&k, seed);
        let r = FlowMatch::new(&k, Some(&m));
        if let Ok(fm) = r {
            let mk = fm.masked_key();
            let mf = fm.mask_form();
            prop_assert_eq!(FlowKey::parse(&mk.to_bytes()).unwrap(), mk.clone());
            prop_assert_eq!(FlowKey::parse(&mf.to_bytes()).unwrap(), mf.clone());
            // The reply form validates again (as the kernel would accept it back).
            prop_assert!(FlowMatch::new(&mk, Some(&mf)).is_ok());
        }
    }

    #[test]
    fn actions_round_trip(a in action_list()) {
        let b = actions_to_bytes(&a);
        prop_assert_eq!(parse_actions(&b).unwrap(), a.clone());
        let s = text::format_actions(&a, None);
        let a2 = text::parse_actions(&s, None).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(&a2, &a);
        prop_assert_eq!(actions_to_bytes(&a2), b);
    }

    #[test]
    fn parsers_never_panic(b in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = FlowKey::parse(&b);
        let _ = parse_actions(&b);
        let _ = odp::nl::messages(&b).count();
        let s = String::from_utf8_lossy(&b);
        let _ = text::parse_key(&s, None);
        let _ = text::parse_actions(&s, None);
    }
}

mod families {
    use odp::family::datapath::{DatapathAttrs, DpCmd, DpMegaflowStats, DpStats};
    use odp::family::packet::{PacketAttrs, PacketCmd};
    use odp::family::vport::{
        UpcallStats, VportAttrs, VportCmd, VportOptions, VportStats, VportType,
    };
    use odp::family::OvsMessage;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9_]{1,15}"
    }

    proptest! {
        #[test]
        fn datapath_messages_round_trip(
            n in proptest::option::of(name()),
            pid in proptest::option::of(any::<u32>()),
            st in proptest::option::of(any::<[u64; 4]>()),
            mf in proptest::option::of((any::<u64>(), any::<u32>(), any::<u64>())),
            feat in proptest::option::of(any::<u32>()),
            mcs in proptest::option::of(0u32..=4096),
            pids in proptest::option::of(prop::collection::vec(any::<u32>(), 1..8)),
            ifi in proptest::option::of(0i32..),
            seq in any::<u32>(),
        ) {
            let mut m = OvsMessage::new(DpCmd::Set, 3, DatapathAttrs {
                name: n,
                upcall_pid: pid,
                stats: st.map(|s| DpStats { n_hit: s[0], n_missed: s[1], n_lost: s[2], n_flows: s[3] }),
                megaflow_stats: mf.map(|(a, b, c)| DpMegaflowStats { n_mask_hit: a, n_masks: b, n_cache_hit: c }),
                user_features: feat,
                masks_cache_size: mcs,
                per_cpu_pids: pids,
                ifindex: ifi,
            });
            m.seq = seq;
            let b = m.to_bytes().unwrap();
            prop_assert_eq!(OvsMessage::parse_datagram(&b).unwrap(), m);
        }

        #[test]
        fn vport_messages_round_trip(
            port in proptest::option::of(any::<u32>()),
            ty in proptest::option::of(1u32..8),
            n in proptest::option::of(name()),
            dst in proptest::option::of(any::<u16>()),
            pids in proptest::option::of(prop::collection::vec(any::<u32>(), 1..8)),
            st in proptest::option::of(any::<[u64; 8]>()),
            up in proptest::option::of((any::<u64>(), any::<u64>())),
        ) {
            let m = OvsMessage::new(VportCmd::New, 9, VportAttrs {
                port_no: port,
                ty: ty.map(VportType::from_u32),
                name: n,
                options: dst.map(|d| VportOptions { dst_port: Some(d), extension: Some(vec![1]), other: vec![] }),
                upcall_pids: pids,
                stats: st.map(|s| VportStats {
                    rx_packets: s[0], tx_packets: s[1], rx_bytes: s[2], tx_bytes: s[3],
                    rx_errors: s[4], tx_errors: s[5], rx_dropped: s[6], tx_dropped: s[7],
                }),
                ifindex: None,
                netnsid: None,
                upcall_stats: up.map(|(a, b)| UpcallStats { success: a, fail: b }),
            });
            let b = m.to_bytes().unwrap();
            prop_assert_eq!(OvsMessage::parse_datagram(&b).unwrap(), m);
        }

        #[test]
        fn upcalls_round_trip(
            k in super::key(),
            pkt in prop::collection::vec(any::<u8>(), 14..200),
            ud in proptest::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            hash in any::<u64>(),
            unaligned in any::<bool>(),
            miss in any::<bool>(),
        ) {
            let mut m = OvsMessage::new(if miss { PacketCmd::Miss } else { PacketCmd::Action }, 9, PacketAttrs {
                packet: Some(pkt),
                key: Some(k),
                userdata: ud,
                hash: Some(hash),
                unaligned,
                ..Default::default()
            });
            let b = m.to_bytes().unwrap();
            let mut back = OvsMessage::<PacketAttrs>::parse_datagram(&b).unwrap();
            back.body.unaligned = unaligned;
            m.body.unaligned = unaligned;
            prop_assert_eq!(back, m);
        }
    }
}
