//! Validation tables written from the kernel's rules (`ovs_nla_get_match()`,
//! `match_validate()` and `__ovs_nla_copy_actions()` in
//! `net/openvswitch/flow_netlink.c`): each row is an input and the kernel's
//! expected answer (accept, or errno).

use odp::action::{self, Action};
use odp::errno::*;
use odp::key::{FlowKey, TunnelKey};
use odp::text;
use odp::validate::{unmasked_key_form, FlowMatch};
use std::net::Ipv4Addr;

fn check(key: &str, with_mask: bool) -> Result<FlowMatch, i32> {
    let (k, m) = text::parse_key(key, None).unwrap_or_else(|e| panic!("{key}: {e}"));
    FlowMatch::new(&k, if with_mask { Some(&m) } else { None }).map_err(|e| e.errno())
}

#[test]
fn key_mask_table() {
    // (key text, send the text's mask?, expected errno or 0)
    let rows: &[(&str, bool, i32)] = &[
        ("in_port(1),eth(),eth_type(0x0800),ipv4(src=1.1.1.1,frag=no)", true, 0),
        ("in_port(1),eth(),eth_type(0x0800),ipv4(src=1.1.1.1,frag=no)", false, 0),
        ("in_port(1)", true, EINVAL),                                   // neither ETHERNET nor ETHERTYPE
        ("eth(),eth_type(0x0500)", true, EINVAL),                        // ethertype < 0x600
        ("eth_type(0x0800),ipv4(frag=no)", true, 0),                     // L3 packet (no MAC header)
        ("eth()", true, 0),                                              // 802.2
        ("eth(),eth_type(0x0800)", true, EINVAL),                        // missing IPV4
        ("eth(),eth_type(0x0806)", true, EINVAL),                        // missing ARP
        ("eth(),eth_type(0x8847)", true, EINVAL),                        // missing MPLS
        ("eth(),eth_type(0x86dd)", true, EINVAL),                        // missing IPV6
        ("eth(),eth_type(0x894f)", true, EINVAL),                        // missing NSH
        ("eth(),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(src=1)", true, EINVAL), // TCP needs TCP_FLAGS
        ("eth(),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(src=1),tcp_flags(0/0)", true, 0),
        ("eth(),eth_type(0x0800),ipv4(proto=6,frag=later)", true, 0),    // later fragments: no L4
        ("eth(),eth_type(0x0800),ipv4(proto=17,frag=no)", true, EINVAL), // missing UDP
        ("eth(),eth_type(0x0800),ipv4(proto=132,frag=no)", true, EINVAL),
        ("eth(),eth_type(0x0800),ipv4(proto=1,frag=no)", true, EINVAL),
        ("eth(),eth_type(0x86dd),ipv6(proto=58,frag=no)", true, EINVAL),
        ("eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135,code=0)", true, EINVAL), // ND required
        ("eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135,code=0),nd(target=::1)", true, 0),
        ("eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=135/0xf0,code=0),nd(target=::1)", true, EINVAL), // ND mask needs exact type
        ("eth(),eth_type(0x0800/0),ipv4(src=1.1.1.1)", true, EINVAL),   // IPV4 mask without exact eth_type
        ("eth(),eth_type(0x0800),ipv4()", true, 0),                      // all-zero IPV4 mask dropped
        ("eth(),eth_type(0x0800),ipv4(proto=6/0xf0,frag=no),tcp(src=1),tcp_flags(0/0)", true, EINVAL), // TCP mask needs exact proto
        ("eth(),eth_type(0x8100)", true, EINVAL),                        // VLAN TPID without VLAN/ENCAP
        ("eth(),eth_type(0x8100),vlan(vid=1,cfi=0),encap(eth_type(0x0800),ipv4(frag=no))", true, EINVAL),
        ("eth(),eth_type(0x8100),vlan(cfi=0),encap()", true, 0),         // truncated VLAN header
        ("eth(),eth_type(0x8100),vlan(vid=1),encap(eth_type(0x0800),ipv4(frag=no))", true, 0),
        ("eth(),eth_type(0x88a8),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),encap(eth_type(0x0800),ipv4(frag=no)))", true, 0), // QinQ
        ("eth(),eth_type(0x0800),vlan(vid=1),ipv4(frag=no)", true, EINVAL), // VLAN without VLAN ethertype
        ("in_port(65535),eth()", true, EINVAL),
        ("in_port(65534),eth()", true, 0),
        ("ct_state(0x100),eth()", true, EINVAL),
        ("ct_state(+trk),eth()", true, 0),
        ("packet_type(ns=0,id=0x800),eth()", true, EINVAL),              // userspace-only
        ("eth(),eth_type(0x86dd),ipv6(label=0x100000,frag=no)", true, EINVAL),
        ("eth(),eth_type(0x0806),arp(op=256)", true, EINVAL),
        ("eth(),eth_type(0x0800),ipv4(frag=later)", true, 0),
        ("tunnel(src=1.1.1.1,ttl=64),eth()", true, EINVAL),              // no tunnel dst
        ("tunnel(dst=1.1.1.1),eth()", true, EINVAL),                     // no tunnel TTL
        ("tunnel(dst=0.0.0.0,ttl=64),eth()", true, EINVAL),              // zero dst
        ("tunnel(dst=1.1.1.1,ipv6_src=::1,ttl=64),eth()", true, EINVAL), // mixed families
        ("tunnel(tun_id=0x5,dst=1.1.1.1,ttl=64,flags(key)),eth()", true, 0),
        ("tunnel(ipv6_dst=::2,ttl=64),eth()", false, 0),
        ("eth(),eth_type(0x8847),mpls(label=1,tc=0,ttl=1,bos=1)", true, 0),
    ];
    for (k, m, want) in rows {
        let got = check(k, *m);
        match (got, *want) {
            (Ok(_), 0) => {}
            (Err(e), w) if e == w => {}
            (g, w) => panic!("{k}: got {g:?}, want {w}"),
        }
    }
}

#[test]
fn mask_semantics() {
    // Key bits outside the mask are cleared.
    let m = check(
        "in_port(1),eth(),eth_type(0x0800),ipv4(src=1.2.3.4/255.255.255.0,frag=no)",
        true,
    )
    .unwrap();
    assert_eq!(m.key.key.ipv4.unwrap().src, Ipv4Addr::new(1, 2, 3, 0));
    // in_port: any non-zero mask widened to exact; replies carry 0xffff upper bits.
    let m = check("in_port(1/0xff),eth()", true).unwrap();
    assert_eq!(m.mask.key.in_port, Some(u32::MAX));
    let mf = m.mask_form();
    assert_eq!(mf.in_port, Some(0xffff_ffff));
    // Wildcarded in_port reads back as 0xffff0000.
    let (k, mut mm) = text::parse_key("in_port(1),eth()", None).unwrap();
    mm.in_port = None;
    let m = FlowMatch::new(&k, Some(&mm)).unwrap();
    assert_eq!(m.mask_form().in_port, Some(0xffff_0000));
    assert_eq!(m.masked_key().in_port, Some(0));
    // A port-less key with a wildcarded in_port reads back as in_port 0 with
    // mask 0xffff0000 (the masked 16-bit port is 0, not "no port"); with an
    // exact in_port mask it stays port-less and the mask is all ones.
    let (k, mm) = text::parse_key("eth()", None).unwrap();
    let m = FlowMatch::new(&k, Some(&mm)).unwrap();
    assert_eq!(
        (m.masked_key().in_port, m.mask_form().in_port),
        (Some(0), Some(0xffff_0000))
    );
    let mut mm2 = mm.clone();
    mm2.in_port = Some(0xffff);
    let m = FlowMatch::new(&k, Some(&mm2)).unwrap();
    assert_eq!(
        (m.masked_key().in_port, m.mask_form().in_port),
        (None, Some(u32::MAX))
    );
    // 802.2: no ETHERTYPE in key, 0xffff in mask.
    let m = check("eth()", true).unwrap();
    assert_eq!(m.masked_key().eth_type, None);
    assert_eq!(m.mask_form().eth_type, Some(0xffff));
    // Metadata is always present in replies (zero-filled), tunnel always in masks.
    let mk = m.masked_key();
    assert_eq!(
        (mk.recirc_id, mk.dp_hash, mk.priority, mk.skb_mark),
        (Some(0), Some(0), Some(0), Some(0))
    );
    assert_eq!(
        m.mask_form().tunnel,
        Some(TunnelKey {
            ttl: Some(0),
            ..Default::default()
        })
    );
    // VLAN TCI mask defaults to exact when a mask is supplied.
    let (k, mut mm) = text::parse_key(
        "eth(),eth_type(0x8100),vlan(vid=1),encap(eth_type(0x0800),ipv4(frag=no))",
        None,
    )
    .unwrap();
    mm.vlan = None;
    let m = FlowMatch::new(&k, Some(&mm)).unwrap();
    assert_eq!(m.mask.tags[0].tci, 0xffff);
    assert_eq!(m.mask_form().vlan, Some(0xffff));
    // Exact mask when MASK is absent: whole tunnel key exact.
    let m = check("tunnel(dst=1.1.1.1,ttl=64),eth()", false).unwrap();
    let t = m.mask.key.tunnel.clone().unwrap();
    assert_eq!(t.id, Some(u64::MAX));
    assert_eq!(t.ipv4_src, Some(Ipv4Addr::BROADCAST));
    // Encap mask with an untagged key.
    let (k, mut mm) = text::parse_key("eth(),eth_type(0x0800),ipv4(frag=no)", None).unwrap();
    mm.encap = Some(Box::new(FlowKey {
        eth_type: Some(0xffff),
        ..Default::default()
    }));
    assert_eq!(FlowMatch::new(&k, Some(&mm)).unwrap_err().errno(), EINVAL);
    // A mask attribute not in the key.
    let (k, mut mm) = text::parse_key("eth()", None).unwrap();
    mm.skb_mark = Some(1);
    assert_eq!(FlowMatch::new(&k, Some(&mm)).unwrap_err().errno(), EINVAL);
    // Reply emission round-trips through the wire form.
    let m = check(
        "in_port(2),eth(),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(dst=80),tcp_flags(0/0)",
        true,
    )
    .unwrap();
    let kb = m.masked_key().to_bytes();
    assert_eq!(FlowKey::parse(&kb).unwrap(), m.masked_key());
    // Unmasked identity form.
    let (k, _) = text::parse_key("in_port(2),eth(),eth_type(0x0800),ipv4(frag=no)", None).unwrap();
    assert_eq!(unmasked_key_form(&k).unwrap().in_port, Some(2));
}

fn vflow(s: &str) -> odp::validate::FlatKey {
    check(s, true).unwrap().key
}

fn acts(s: &str) -> Vec<Action> {
    text::parse_actions(s, None).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn action_table() {
    let ip_tcp =
        vflow("in_port(1),eth(),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(),tcp_flags(0/0)");
    let ip_any = vflow("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)");
    let arp = vflow("in_port(1),eth(),eth_type(0x0806),arp()");
    let l3 = vflow("eth_type(0x0800),ipv4(frag=no)");
    let mpls = vflow("eth(),eth_type(0x8847),mpls(label=1,tc=0,ttl=1,bos=1)");
    let other = vflow("in_port(1),eth(),eth_type(0x1234)");
    let rows: Vec<(&str, &odp::validate::FlatKey, i32)> = vec![
        ("1,2", &ip_any, 0),
        ("drop", &ip_any, 0),
        ("1,drop", &ip_any, 0),
        ("drop,1", &ip_any, EINVAL),
        ("65535", &ip_any, EINVAL),
        ("trunc(13)", &ip_any, EINVAL),
        ("trunc(14)", &ip_any, 0),
        ("hash(sym_l4(0))", &ip_any, 0),
        ("hash(l4(0))", &ip_any, 0),
        ("userspace(pid=0)", &ip_any, EINVAL),
        ("push_vlan(vid=1,pcp=0)", &ip_any, 0),
        ("push_vlan(vid=1,pcp=0)", &l3, EINVAL),
        ("push_vlan(tpid=0x9100,vid=1,pcp=0)", &ip_any, EINVAL),
        ("push_vlan(vid=1,pcp=0,cfi=0)", &ip_any, EINVAL),
        ("pop_eth", &ip_any, 0),
        ("push_vlan(vid=1,pcp=0),pop_eth", &ip_any, EINVAL),
        (
            "push_eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02)",
            &l3,
            0,
        ),
        (
            "push_eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02)",
            &ip_any,
            EINVAL,
        ),
        ("set(tcp(src=1,dst=2))", &ip_tcp, 0),
        ("set(tcp(src=1))", &ip_tcp, 0),
        ("set(tcp(src=1,dst=2))", &ip_any, EINVAL),
        (
            "set(ipv4(src=1.1.1.1,dst=2.2.2.2,proto=6,tos=0,ttl=1,frag=no))",
            &ip_tcp,
            0,
        ),
        (
            "set(ipv4(src=1.1.1.1,dst=2.2.2.2,proto=17,tos=0,ttl=1,frag=no))",
            &ip_tcp,
            EINVAL,
        ),
        ("set(ipv4(src=1.1.1.1))", &ip_tcp, 0),
        ("set(ipv4(proto=17))", &ip_tcp, EINVAL),
        ("set(ipv4(src=1.1.1.1))", &arp, EINVAL),
        ("set(in_port(2))", &ip_any, EINVAL),
        ("set(eth_type(0x0800))", &ip_any, EINVAL),
        (
            "set(eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02))",
            &ip_any,
            0,
        ),
        (
            "set(eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02))",
            &l3,
            EINVAL,
        ),
        ("set(skb_mark(0x1))", &l3, 0),
        (
            "set(tunnel(tun_id=0x1,dst=1.1.1.1,ttl=64,flags(key)))",
            &ip_any,
            0,
        ),
        ("set(tunnel(tun_id=0x1,ttl=64,flags(key)))", &ip_any, EINVAL),
        ("set(mpls(label=2,tc=0,ttl=1,bos=1))", &mpls, 0),
        ("set(mpls(label=2,tc=0,ttl=1,bos=1))", &ip_any, EINVAL),
        ("ct(commit)", &ip_any, 0),
        ("ct(commit)", &arp, EINVAL),
        ("ct(commit,nat(src=10.0.0.1))", &ip_any, 0),
        (
            "push_mpls(label=1,tc=0,ttl=1,bos=1,eth_type=0x8847)",
            &ip_any,
            0,
        ),
        (
            "push_mpls(label=1,tc=0,ttl=1,bos=1,eth_type=0x0800)",
            &ip_any,
            EINVAL,
        ),
        // Without the L3-tunnel flag the label goes in front of the frame: any Ethernet
        // packet takes it, and it is no longer Ethernet afterwards.
        (
            "add_mpls(label=1,tc=0,ttl=1,bos=1,eth_type=0x8847)",
            &other,
            0,
        ),
        (
            "add_mpls(label=1,tc=0,ttl=1,bos=1,eth_type=0x8847),push_vlan(vid=1,pcp=0)",
            &ip_any,
            EINVAL,
        ),
        (
            "add_mpls(label=1,tc=0,ttl=1,bos=1,eth_type=0x0800)",
            &ip_any,
            EINVAL,
        ),
        ("pop_mpls(eth_type=0x800)", &ip_any, EINVAL),
        ("pop_mpls(eth_type=0x800)", &mpls, 0),
        (
            "pop_mpls(eth_type=0x800),set(mpls(label=2,tc=0,ttl=1,bos=1))",
            &mpls,
            EINVAL,
        ),
        ("clone(drop,1)", &ip_any, EINVAL),
        ("sample(sample=50.0%,actions(65535))", &ip_any, EINVAL),
        (
            "check_pkt_len(size=100,gt(1),le(set(in_port(1))))",
            &ip_any,
            EINVAL,
        ),
        ("dec_ttl(le_1(drop))", &ip_any, 0),
        ("action26(00 00 00 00)", &ip_any, EINVAL),
        ("tnl_pop(4)", &ip_any, EINVAL), // userspace-only
        ("lb_output(1)", &ip_any, EINVAL),
    ];
    for (s, f, want) in rows {
        let got = action::validate_actions(&acts(s), f).map_err(|e| e.errno());
        match (got, want) {
            (Ok(()), 0) => {}
            (Err(e), w) if e == w => {}
            (g, w) => panic!("{s}: got {g:?}, want {w}"),
        }
    }
    // With OVS_MPLS_L3_TUNNEL_FLAG_MASK the label goes after the MAC header, as push_mpls
    // does, so only the ethertypes push_mpls takes are allowed.
    let add_l3 = |ethertype| Action::AddMpls {
        lse: 1 << 12,
        ethertype,
        tun_flags: 1,
    };
    assert_eq!(action::validate_actions(&[add_l3(0x8847)], &ip_any), Ok(()));
    assert_eq!(
        action::validate_actions(&[add_l3(0x8847)], &other)
            .unwrap_err()
            .errno(),
        EINVAL
    );
    // Hash algorithms past OVS_HASH_ALG_SYM_L4 do not exist.
    assert_eq!(
        action::validate_actions(&[Action::Hash { alg: 2, basis: 0 }], &ip_any)
            .unwrap_err()
            .errno(),
        EINVAL
    );
    // Masked set with value bits outside the mask.
    let bad = Action::SetMasked {
        key: FlowKey {
            skb_mark: Some(3),
            ..Default::default()
        },
        mask: FlowKey {
            skb_mark: Some(1),
            ..Default::default()
        },
    };
    assert_eq!(
        action::validate_actions(&[bad], &ip_any)
            .unwrap_err()
            .errno(),
        EINVAL
    );
    // Masked tunnel set is refused at parse time (kernel: EINVAL).
    let t = FlowKey {
        tunnel: Some(TunnelKey {
            ttl: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut b = Vec::new();
    let mut w = odp::nl::AttrWriter::new(&mut b);
    w.nest(action::attr::SET_MASKED, |w| {
        w.nest(16, |w| t.tunnel.as_ref().unwrap().emit(w))
    });
    assert_eq!(action::parse_actions(&b).unwrap_err().errno(), EINVAL);
}

#[test]
fn nesting_and_size_limits() {
    // 16 nested clones are fine, 17 overflow (EOVERFLOW).
    let nest = |n: usize| {
        let mut a = vec![Action::Output(1)];
        for _ in 0..n {
            a = vec![Action::Clone(a)];
        }
        a
    };
    let ok = action::actions_to_bytes(&nest(16));
    assert!(action::parse_actions(&ok).is_ok());
    let deep = action::actions_to_bytes(&nest(17));
    assert_eq!(action::parse_actions(&deep).unwrap_err().errno(), EOVERFLOW);
    let f = vflow("eth(),eth_type(0x0800),ipv4(frag=no)");
    assert_eq!(
        action::validate_actions(&nest(17), &f).unwrap_err().errno(),
        EOVERFLOW
    );
    // More than 32 KiB of actions: EMSGSIZE.
    let big: Vec<Action> = (0..4097).map(|_| Action::Output(1)).collect();
    assert_eq!(
        action::validate_actions(&big, &f).unwrap_err().errno(),
        EMSGSIZE
    );
    let fine: Vec<Action> = (0..4000).map(|_| Action::Output(1)).collect();
    assert!(action::validate_actions(&fine, &f).is_ok());
}

#[test]
fn family_checks() {
    use odp::family::{datapath, flow, vport};
    assert_eq!(
        datapath::check_user_features(1 << 31).unwrap_err().errno(),
        EOPNOTSUPP
    );
    assert_eq!(
        datapath::check_user_features(datapath::features::TC_RECIRC_SHARING)
            .unwrap_err()
            .errno(),
        EOPNOTSUPP
    );
    assert!(datapath::check_user_features(9).is_ok());
    assert_eq!(
        datapath::check_masks_cache_size(3).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(
        datapath::check_masks_cache_size(8192).unwrap_err().errno(),
        ERANGE
    );
    assert!(datapath::check_masks_cache_size(0).is_ok());
    assert_eq!(
        datapath::check_new(&Default::default())
            .unwrap_err()
            .errno(),
        EINVAL
    );
    let v = vport::VportAttrs {
        ifindex: Some(3),
        ..Default::default()
    };
    assert_eq!(vport::lookup(&v).unwrap_err().errno(), EOPNOTSUPP);
    let v = vport::VportAttrs {
        port_no: Some(65535),
        ..Default::default()
    };
    assert_eq!(vport::lookup(&v).unwrap_err().errno(), EFBIG);
    assert_eq!(
        vport::lookup(&Default::default()).unwrap_err().errno(),
        EINVAL
    );
    let v = vport::VportAttrs {
        name: Some("x".into()),
        ty: Some(vport::VportType::Other(110)),
        upcall_pids: Some(vec![1]),
        ..Default::default()
    };
    assert_eq!(vport::check_new(&v).unwrap_err().errno(), EAFNOSUPPORT);
    assert_eq!(
        flow::check_new(&Default::default()).unwrap_err().errno(),
        EINVAL
    );
    assert_eq!(
        flow::check_set(&Default::default()).unwrap_err().errno(),
        EINVAL
    );
    let f = flow::FlowAttrs {
        ufid: Some(vec![0; 17]),
        ..Default::default()
    };
    assert_eq!(flow::flow_id(&f), flow::FlowId::None); // >16 bytes treated as absent
}

#[test]
fn flow_reply_composition() {
    use odp::family::flow::{build_reply, ufid_flags, FlowReplyParts};
    use odp::family::FlowStats;
    let (k, m) = text::parse_key("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)", None).unwrap();
    let fm = FlowMatch::new(&k, Some(&m)).unwrap();
    let unmasked = unmasked_key_form(&k).unwrap();
    let acts = vec![Action::Output(2)];
    let u = [9u8; 16];
    let mut parts = FlowReplyParts {
        ufid: Some(&u),
        flow_match: &fm,
        unmasked_key: &unmasked,
        actions: &acts,
        stats: FlowStats::default(),
        used: None,
        tcp_flags: 0,
        ufid_flags: 0,
    };
    let r = build_reply(&parts);
    assert_eq!(r.ufid.as_deref(), Some(&u[..]));
    assert_eq!(r.key, Some(fm.masked_key()));
    assert!(r.stats.is_none() && r.used.is_none() && r.tcp_flags.is_none());
    parts.ufid_flags = ufid_flags::OMIT_KEY | ufid_flags::OMIT_MASK | ufid_flags::OMIT_ACTIONS;
    parts.stats = FlowStats {
        n_packets: 1,
        n_bytes: 60,
    };
    let r = build_reply(&parts);
    assert!(r.key.is_none() && r.mask.is_none() && r.actions.is_none());
    assert_eq!(
        r.stats,
        Some(FlowStats {
            n_packets: 1,
            n_bytes: 60
        })
    );
    // Without UFID the unmasked key identifies the flow; OMIT_KEY has no effect.
    parts.ufid = None;
    let r = build_reply(&parts);
    assert_eq!(r.key, Some(unmasked));
}
