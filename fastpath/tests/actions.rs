//! Each action on golden frames: output bytes and checksums (verified by full
//! recomputation).

use fastpath::testing::*;

use fastpath::actions::csum::{checksum, sctp_checksum};
use fastpath::actions::{
    execute, CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction,
};
use fastpath::flow::FlowKey;
use fastpath::packet::offload::finish_checksum;
use fastpath::packet::{
    extract, CtMeta, Metadata, Offload, PacketBuf, PartialCsum, TunnelMeta, VecBuf,
};
use fastpath::Error;
use odp::action::{validate_actions, Action, Userspace};
use odp::validate::FlatKey;

/// What a test keeps of a packet's state at output / recirculation.
#[derive(Clone, Debug)]
struct Seen {
    md: Metadata,
    egress_tunnel: Option<TunnelMeta>,
    l3_ofs: usize,
}

fn seen(st: &PacketState<'_>) -> Seen {
    Seen {
        md: st.metadata(),
        egress_tunnel: st.egress_tunnel,
        l3_ofs: st.l3_ofs,
    }
}

#[derive(Default)]
struct Ctx {
    out: Vec<(u32, Vec<u8>, Seen)>,
    /// The output buffers themselves (with their offload state).
    out_bufs: Vec<VecBuf>,
    upcalls: Vec<(Vec<u8>, usize, Option<Vec<u8>>)>,
    recirc: Vec<(Vec<u8>, Seen)>,
    drops: Vec<DropReason>,
    rand: u32,
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, port: u32, pkt: VecBuf, st: &PacketState<'_>) {
        self.out.push((port, pkt.data().to_vec(), seen(st)));
        self.out_bufs.push(pkt);
    }
    fn clone_packet(&mut self, pkt: &VecBuf) -> Option<VecBuf> {
        Some(pkt.clone())
    }
    fn upcall(&mut self, pkt: &VecBuf, len: usize, _st: &PacketState<'_>, u: &UserspaceAction) {
        self.upcalls.push((
            pkt.data()[..len].to_vec(),
            pkt.len(),
            u.userdata.as_deref().map(<[u8]>::to_vec),
        ));
    }
    fn recirculate(&mut self, pkt: VecBuf, st: &PacketState<'_>) {
        self.recirc.push((pkt.data().to_vec(), seen(st)));
    }
    fn drop_packet(&mut self, _pkt: VecBuf, reason: DropReason) {
        self.drops.push(reason);
    }
    fn random_u32(&mut self) -> u32 {
        self.rand
    }
}

fn run_md(frame: &[u8], md: &Metadata, actions: &[Action]) -> Ctx {
    run_buf(VecBuf::new(frame), md, actions)
}

fn run_buf(buf: VecBuf, md: &Metadata, actions: &[Action]) -> Ctx {
    let compiled = CompiledActions::compile(actions).expect("valid actions");
    let mut key = FlowKey::ZERO;
    let info = extract(buf.data(), md, &mut key);
    let mut st = PacketState::new(md, &key, &info);
    let mut ctx = Ctx::default();
    execute(&compiled, buf, &mut st, &mut ctx);
    ctx
}

fn run(frame: &[u8], actions: &[Action]) -> Ctx {
    run_md(frame, &Metadata::for_port(1), actions)
}

fn only_output(ctx: &Ctx) -> &[u8] {
    assert_eq!(ctx.out.len(), 1, "exactly one output");
    &ctx.out[0].1
}

#[test]
fn output_and_implicit_drop() {
    let f = udp4_frame();
    let c = run(&f, &[Action::Output(3)]);
    assert_eq!(c.out[0].0, 3);
    assert_eq!(only_output(&c), &f[..]);
    assert!(c.drops.is_empty());
    let c = run(&f, &[Action::Output(1), Action::Output(2)]);
    assert_eq!(c.out.iter().map(|o| o.0).collect::<Vec<_>>(), vec![1, 2]);
    let c = run(&f, &[]);
    assert_eq!(c.drops, vec![DropReason::ActionsEnd]);
    let c = run(&f, &[Action::Output(1), Action::Drop(5)]);
    assert_eq!(
        (c.out.len(), c.drops.clone()),
        (1, vec![DropReason::Explicit(5)])
    );
}

#[test]
fn invalid_lists_are_refused_before_they_can_run() {
    // Every list is validated with the kernel's rules against its flow's key before it is
    // compiled: these never reach the compiler.
    let f = udp4_frame();
    let mut key = FlowKey::ZERO;
    extract(&f, &Metadata::for_port(1), &mut key);
    let flat = FlatKey::from_key(&fastpath::wire::key_to_odp(&key)).unwrap();
    let mut deep = vec![Action::Output(1)];
    for _ in 0..20 {
        deep = vec![Action::Clone(deep)];
    }
    let invalid: [&[Action]; 7] = [
        &[Action::Drop(0), Action::Output(1)],
        &[Action::Trunc(10)],
        &[Action::Output(0xffff)],
        &[Action::Hash { alg: 2, basis: 0 }],
        &[Action::PushVlan {
            tpid: 0x8100,
            tci: 5,
        }],
        &deep,
        &[Action::SetMasked {
            key: keys::tcp(1, 2),
            mask: keys::udp(1, 2),
        }],
    ];
    for list in invalid {
        assert!(validate_actions(list, &flat).is_err(), "{list:?}");
    }
    // What passes validation but the executor cannot do is refused by the compiler, and
    // its recursion stays bounded whatever it is given.
    let ftp = odp::action::Ct {
        commit: true,
        helper: Some("ftp".into()),
        ..odp::action::Ct::default()
    };
    assert_eq!(
        CompiledActions::compile(&[Action::Ct(ftp)]),
        Err(Error::Unsupported("ct helper"))
    );
    assert_eq!(
        CompiledActions::compile(&[Action::Hash { alg: 2, basis: 0 }]),
        Err(Error::Unsupported("hash algorithm"))
    );
    assert!(CompiledActions::compile(&deep).is_err());
    // A meter action passes packets through: dpswitch has no meters.
    assert!(CompiledActions::compile(&[Action::Meter(1)])
        .unwrap()
        .is_empty());
}

fn ipv4_masked(src: u32, src_m: u32, dst: u32, dst_m: u32, tos: u8, ttl: u8) -> Action {
    Action::SetMasked {
        key: keys::ipv4(src, dst, 0, tos, ttl, 0),
        mask: keys::ipv4(
            src_m,
            dst_m,
            0,
            if tos != 0 { 0xff } else { 0 },
            if ttl != 0 { 0xff } else { 0 },
            0,
        ),
    }
}

#[test]
fn set_masked_ipv4_updates_ip_and_udp_checksums() {
    let f = udp4_frame();
    let c = run(
        &f,
        &[
            ipv4_masked(0xc0a8_0000, 0xffff_0000, 0x0b0b_0b0b, !0, 0x2e, 7),
            Action::Output(2),
        ],
    );
    let o = only_output(&c);
    assert_eq!(&o[26..30], &[0xc0, 0xa8, 0x00, 0x01]);
    assert_eq!(&o[30..34], &[11, 11, 11, 11]);
    assert_eq!((o[15], o[22]), (0x2e, 7));
    assert!(verify_v4(o, 14));
    assert_eq!(o.len(), f.len());
    // The verifier itself catches a stale checksum.
    let mut stale = o.to_vec();
    stale[33] ^= 1;
    assert!(!verify_v4(&stale, 14));
}

#[test]
fn set_ipv4_on_tcp_with_options_and_zero_udp_checksum() {
    let f = tcp4_frame();
    let set = Action::Set(keys::ipv4(1, 2, 6, 0, 9, 0));
    let c = run(&f, &[set, Action::Output(1)]);
    let o = only_output(&c);
    assert!(verify_v4(o, 14));
    assert_eq!(o[23], 6, "proto not writable");

    let mut u = udp4_frame();
    u[40..42].copy_from_slice(&[0, 0]); // no UDP checksum
    let c = run(
        &u,
        &[ipv4_masked(0, 0, 0x0102_0304, !0, 0, 0), Action::Output(1)],
    );
    let o = only_output(&c);
    assert_eq!(&o[40..42], &[0, 0], "a zero UDP checksum stays zero");
    assert!(verify_v4(o, 14));
}

#[test]
fn set_ports_tcp_udp_sctp() {
    let c = run(
        &tcp4_frame(),
        &[Action::Set(keys::tcp(1, 2)), Action::Output(1)],
    );
    let o = only_output(&c);
    assert_eq!(&o[38..42], &[0, 1, 0, 2]);
    assert!(verify_v4(o, 14));

    let masked = Action::SetMasked {
        key: keys::udp(0, 0x0900),
        mask: keys::udp(0, 0xff00),
    };
    let c = run(&udp4_frame(), &[masked, Action::Output(1)]);
    let o = only_output(&c);
    assert_eq!(&o[34..38], &[0x04, 0xd2, 0x09, 0x2e]);
    assert!(verify_v4(o, 14));

    let c = run(
        &udp6_frame(),
        &[Action::Set(keys::udp(7, 8)), Action::Output(1)],
    );
    assert!(verify_v6(only_output(&c), 14));

    let mut s = eth(MAC_B, MAC_A, 0x0800);
    s.extend(ipv4_hdr(IP_A, IP_B, 132, 16, 0, &[]));
    let mut sctp = vec![0x0b, 0xb8, 0x0b, 0xb9, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    let crc = sctp_checksum(&sctp);
    sctp[8..12].copy_from_slice(&crc.to_le_bytes());
    s.extend(sctp);
    let c = run(&s, &[Action::Set(keys::sctp(80, 443)), Action::Output(1)]);
    let o = only_output(&c);
    assert_eq!(&o[34..38], &[0, 80, 1, 0xbb]);
    let stored = u32::from_le_bytes(o[42..46].try_into().unwrap());
    assert_eq!(stored, sctp_checksum(&o[34..]));
}

#[test]
fn set_ipv6_fields() {
    let set = Action::SetMasked {
        key: keys::ipv6(IP6_B, 0, 0xabcde, 0, 0x11, 3, 0),
        mask: keys::ipv6(!0, 0, 0xfffff, 0, 0xff, 0xff, 0),
    };
    for f in [tcp6_frame(), udp6_frame()] {
        let c = run(&f, &[set.clone(), Action::Output(1)]);
        let o = only_output(&c);
        assert_eq!(&o[22..38], &IP6_B.to_be_bytes());
        assert_eq!(
            &o[14..18],
            &(0x6000_0000u32 | (0x11 << 20) | 0xabcde).to_be_bytes()
        );
        assert_eq!(o[21], 3);
        assert!(verify_v6(o, 14));
    }
}

fn icmp4_frame() -> Vec<u8> {
    let mut l4 = vec![8, 0, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb];
    fill_l4_csum_v4(IP_A, IP_B, 1, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x0800);
    f.extend(ipv4_hdr(IP_A, IP_B, 1, l4.len(), 0, &[]));
    f.extend(l4);
    f
}

#[test]
fn set_icmp_arp_eth() {
    let c = run(
        &icmp4_frame(),
        &[Action::Set(keys::icmp(0, 3)), Action::Output(1)],
    );
    let o = only_output(&c);
    assert_eq!(&o[34..36], &[0, 3]);
    assert!(verify_v4(o, 14));

    let mut a = eth([0xff; 6], MAC_A, 0x0806);
    a.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    a.extend_from_slice(&MAC_A);
    a.extend_from_slice(&IP_A.to_be_bytes());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&IP_B.to_be_bytes());
    let set = Action::Set(keys::arp(1, 2, 2, MAC_B, MAC_A));
    let c = run(&a, &[set, Action::Output(1)]);
    let o = only_output(&c);
    assert_eq!(&o[20..22], &[0, 2]);
    assert_eq!(&o[22..28], &MAC_B);
    assert_eq!(&o[28..32], &1u32.to_be_bytes());
    assert_eq!(&o[32..38], &MAC_A);
    assert_eq!(&o[38..42], &2u32.to_be_bytes());

    let set = Action::SetMasked {
        key: keys::ethernet([0; 6], [0x02, 0, 0, 0, 0, 0]),
        mask: keys::ethernet([0; 6], [0xff, 0, 0, 0, 0, 0]),
    };
    let c = run(&udp4_frame(), &[set, Action::Output(1)]);
    let o = only_output(&c);
    assert_eq!(&o[0..6], &[0x02, 0x77, 0x88, 0x99, 0xaa, 0xbb]);
    assert_eq!(&o[6..12], &MAC_A);
}

#[test]
fn set_nd_target_and_sll() {
    let mut l4 = vec![135, 0, 0, 0, 0, 0, 0, 0];
    l4.extend_from_slice(&IP6_B.to_be_bytes());
    l4.extend_from_slice(&[1, 1]);
    l4.extend_from_slice(&MAC_A);
    fill_l4_csum_v6(IP6_A, IP6_B, 58, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x86dd);
    f.extend(ipv6_hdr(IP6_A, IP6_B, 58, l4.len()));
    f.extend(l4);
    let set = Action::Set(keys::nd(IP6_A, MAC_B, [0; 6]));
    let c = run(&f, &[set, Action::Output(1)]);
    let o = only_output(&c);
    assert_eq!(&o[62..78], &IP6_A.to_be_bytes());
    assert_eq!(&o[80..86], &MAC_B);
    assert!(verify_v6(o, 14));
    let c = run(&f, &[Action::Set(keys::icmpv6(136, 0)), Action::Output(1)]);
    assert!(verify_v6(only_output(&c), 14));
}

#[test]
fn push_pop_vlan() {
    let f = udp4_frame();
    let c = run(
        &f,
        &[
            Action::PushVlan {
                tpid: 0x8100,
                tci: 0x1000 | 42,
            },
            Action::Output(1),
        ],
    );
    let o = only_output(&c).to_vec();
    assert_eq!(
        &o[12..16],
        &[0x81, 0x00, 0x00, 42],
        "CFI cleared in the pushed tag"
    );
    assert_eq!(&o[16..], &f[12..]);
    assert_eq!(c.out[0].2.l3_ofs, 18);
    // Pushing then setting IPv4 still finds the (shifted) IP header.
    let c = run(
        &f,
        &[
            Action::PushVlan {
                tpid: 0x88a8,
                tci: 0x1000,
            },
            ipv4_masked(0, 0, 5, !0, 0, 0),
            Action::Output(1),
        ],
    );
    assert!(verify_v4(only_output(&c), 18));
    let c = run(&o, &[Action::PopVlan, Action::Output(1)]);
    assert_eq!(only_output(&c), &f[..]);
    // Pop on an untagged frame is a no-op.
    let c = run(&f, &[Action::PopVlan, Action::Output(1)]);
    assert_eq!(only_output(&c), &f[..]);
}

#[test]
fn push_pop_add_mpls() {
    let f = udp4_frame();
    let lse = (100 << 12) | 0x100 | 64;
    let c = run(
        &f,
        &[
            Action::PushMpls {
                lse,
                ethertype: 0x8847,
            },
            Action::Output(1),
        ],
    );
    let o = only_output(&c).to_vec();
    assert_eq!(&o[12..14], &[0x88, 0x47]);
    assert_eq!(&o[14..18], &lse.to_be_bytes());
    assert_eq!(&o[18..], &f[14..]);
    let c = run(
        &o,
        &[
            Action::Set(keys::mpls(lse ^ 0xff)),
            Action::PopMpls(0x0800),
            Action::Output(1),
        ],
    );
    assert_eq!(only_output(&c), &f[..]);
    let c = run(
        &o,
        &[
            Action::SetMasked {
                key: keys::mpls(5),
                mask: keys::mpls(0xff),
            },
            Action::Output(1),
        ],
    );
    assert_eq!(&only_output(&c)[14..18], &((lse & !0xff) | 5).to_be_bytes());

    let c = run(
        &f,
        &[
            Action::AddMpls {
                lse,
                ethertype: 0x8848,
                tun_flags: 0,
            },
            Action::Output(1),
        ],
    );
    let o = only_output(&c);
    assert_eq!(&o[0..4], &lse.to_be_bytes());
    assert_eq!(&o[4..], &f[..]);
    assert_eq!(c.out[0].2.md.l3_ethertype, Some(0x8848));
    let c = run(
        &f,
        &[
            Action::AddMpls {
                lse,
                ethertype: 0x8847,
                tun_flags: 1,
            },
            Action::Output(1),
        ],
    );
    assert_eq!(
        &only_output(&c)[12..18],
        &[0x88, 0x47, 0x00, 0x06, 0x41, 0x40]
    );
}

#[test]
fn push_pop_eth() {
    let f = udp4_frame();
    let c = run(&f, &[Action::PopEth, Action::Output(1)]);
    let o = only_output(&c).to_vec();
    assert_eq!(&o[..], &f[14..]);
    assert_eq!(c.out[0].2.md.l3_ethertype, Some(0x0800));
    let md = Metadata {
        l3_ethertype: Some(0x0800),
        ..Metadata::for_port(1)
    };
    let c = run_md(
        &o,
        &md,
        &[
            Action::PushEth {
                src: MAC_A,
                dst: MAC_B,
            },
            ipv4_masked(3, !0, 0, 0, 0, 0),
            Action::Output(1),
        ],
    );
    let o = only_output(&c);
    assert_eq!(&o[..14], &f[..14]);
    assert_eq!(&o[26..30], &3u32.to_be_bytes());
    assert!(verify_v4(o, 14));
}

#[test]
fn dec_ttl_and_exception() {
    let f = udp4_frame();
    let c = run(
        &f,
        &[Action::DecTtl(vec![Action::Output(9)]), Action::Output(1)],
    );
    let o = only_output(&c);
    assert_eq!((c.out[0].0, o[22]), (1, 63));
    assert!(verify_v4(o, 14));
    let mut t1 = f.clone();
    t1[22] = 1;
    t1[24..26].copy_from_slice(&[0, 0]);
    let cs = checksum(&t1[14..34]);
    t1[24..26].copy_from_slice(&cs.to_be_bytes());
    let c = run(
        &t1,
        &[Action::DecTtl(vec![Action::Output(9)]), Action::Output(1)],
    );
    assert_eq!(
        c.out.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![9],
        "list stops after the exception"
    );
    let c = run(&tcp6_frame(), &[Action::DecTtl(vec![]), Action::Output(1)]);
    assert_eq!(only_output(&c)[21], 63);
}

#[test]
fn trunc_clone_sample_check_pkt_len() {
    let f = udp4_frame();
    let c = run(
        &f,
        &[Action::Trunc(20), Action::Output(1), Action::Output(2)],
    );
    assert_eq!((c.out[0].1.len(), c.out[1].1.len()), (20, 60));

    let c = run(
        &f,
        &[
            Action::Clone(vec![ipv4_masked(0, 0, 9, !0, 0, 0), Action::Output(1)]),
            Action::Output(2),
        ],
    );
    assert_eq!(&c.out[0].1[30..34], &9u32.to_be_bytes());
    assert_eq!(c.out[1].1, f, "clone leaves the original untouched");

    let ctx_rand = |rand: u32, prob: u32| {
        let compiled = CompiledActions::compile(&[
            Action::Sample {
                probability: prob,
                actions: vec![Action::Output(7)],
            },
            Action::Output(1),
        ])
        .unwrap();
        let md = Metadata::for_port(1);
        let mut key = FlowKey::ZERO;
        let info = extract(&f, &md, &mut key);
        let mut st = PacketState::new(&md, &key, &info);
        let mut ctx = Ctx {
            rand,
            ..Ctx::default()
        };
        execute(&compiled, VecBuf::new(&f), &mut st, &mut ctx);
        ctx.out.iter().map(|o| o.0).collect::<Vec<_>>()
    };
    assert_eq!(ctx_rand(0, 0), vec![1]);
    assert_eq!(ctx_rand(u32::MAX, u32::MAX), vec![7, 1]);
    assert_eq!(ctx_rand(10, 100), vec![7, 1]);
    assert_eq!(ctx_rand(1000, 100), vec![1]);

    let cpl = |pkt_len| {
        run(
            &f,
            &[Action::CheckPktLen {
                pkt_len,
                gt: vec![Action::Output(10)],
                le: vec![Action::Output(20)],
            }],
        )
        .out
        .iter()
        .map(|o| o.0)
        .collect::<Vec<_>>()
    };
    assert_eq!(cpl(59), vec![10]);
    assert_eq!(cpl(60), vec![20]);
}

/// The reply direction of `f` (Ethernet/IPv4 or IPv6, TCP or UDP without IP options):
/// addresses and ports swapped.
fn reversed(f: &[u8]) -> Vec<u8> {
    let mut r = f.to_vec();
    r.copy_within(6..12, 0);
    r[6..12].copy_from_slice(&f[0..6]);
    let (l3, alen) = if f[12..14] == [0x08, 0x00] {
        (14, 4)
    } else {
        (14, 16)
    };
    let (src, l4) = if alen == 4 {
        (l3 + 12, l3 + 20)
    } else {
        (l3 + 8, l3 + 40)
    };
    r[src..src + alen].copy_from_slice(&f[src + alen..src + 2 * alen]);
    r[src + alen..src + 2 * alen].copy_from_slice(&f[src..src + alen]);
    r[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
    r[l4 + 2..l4 + 4].copy_from_slice(&f[l4..l4 + 2]);
    r
}

fn dp_hash(f: &[u8], alg: u32, basis: u32) -> u32 {
    let c = run(f, &[Action::Hash { alg, basis }, Action::Recirc(1)]);
    c.recirc[0].1.md.dp_hash
}

#[test]
fn symmetric_l4_hash_is_the_same_both_ways() {
    for f in [udp4_frame(), udp6_frame(), tcp6_frame()] {
        let r = reversed(&f);
        assert_eq!(dp_hash(&f, 1, 7), dp_hash(&r, 1, 7), "{f:02x?}");
        assert_ne!(dp_hash(&f, 1, 7), 0);
        assert_ne!(dp_hash(&f, 1, 7), dp_hash(&f, 1, 8), "the basis counts");
        // Another port pair is another connection.
        let mut g = f.clone();
        let l4 = if f[12..14] == [0x08, 0x00] { 34 } else { 54 };
        g[l4] ^= 0x40;
        assert_ne!(dp_hash(&f, 1, 7), dp_hash(&g, 1, 7));
    }
}

/// `frame` (Ethernet/IPv4 or IPv6/TCP or UDP) as a sender relying on checksum offload hands
/// it over: the L4 checksum field holds the pseudo-header sum, and the buffer says so.
fn partial(frame: &[u8]) -> VecBuf {
    let v4 = frame[12..14] == [0x08, 0x00];
    let l3 = 14;
    let l4 = if v4 {
        l3 + usize::from(frame[l3] & 0xf) * 4
    } else {
        l3 + 40
    };
    let proto = if v4 { frame[l3 + 9] } else { frame[l3 + 6] };
    let field = l4 + if proto == 6 { 16 } else { 6 };
    let len = u32::try_from(frame.len() - l4).unwrap();
    let pseudo = if v4 {
        fastpath::actions::csum::sum(&frame[l3 + 12..l3 + 20], u32::from(proto) + len)
    } else {
        fastpath::actions::csum::sum(&frame[l3 + 8..l3 + 40], u32::from(proto) + len)
    };
    let mut f = frame.to_vec();
    f[field..field + 2].copy_from_slice(&fastpath::actions::csum::fold(pseudo).to_be_bytes());
    let mut b = VecBuf::new(&f);
    let c = PartialCsum {
        start: u16::try_from(l4).unwrap(),
        offset: u16::try_from(field - l4).unwrap(),
    };
    assert!(b.set_offload(Offload {
        csum: Some(c),
        gso: None
    }));
    b
}

/// Finishes `b`'s partial checksum, as the transmitter would.
fn finished(mut b: VecBuf) -> Vec<u8> {
    let c = b.offload().csum.expect("still partial");
    finish_checksum(b.data_mut(), c).unwrap();
    b.data().to_vec()
}

#[test]
fn rewrites_keep_a_partial_checksum_partial_and_right() {
    for f in [tcp4_frame(), udp4_frame(), tcp6_frame(), udp6_frame()] {
        let v4 = f[12..14] == [0x08, 0x00];
        let proto = if v4 { f[23] } else { f[20] };
        let mut actions = vec![if v4 {
            ipv4_masked(0x0a09_0807, u32::MAX, 0, 0, 0, 0)
        } else {
            Action::SetMasked {
                key: keys::ipv6(7, 0, 0, 0, 0, 0, 0),
                mask: keys::ipv6(u128::MAX, 0, 0, 0, 0, 0, 0),
            }
        }];
        actions.push(Action::Set(if proto == 6 {
            keys::tcp(1111, 2222)
        } else {
            keys::udp(1111, 2222)
        }));
        actions.push(Action::Output(1));
        // A VLAN tag pushed in front moves the checksum start with the L4 header.
        actions.insert(
            0,
            Action::PushVlan {
                tpid: 0x8100,
                tci: 0x1005,
            },
        );
        let complete = run(&f, &actions);
        let c = run_buf(partial(&f), &Metadata::for_port(1), &actions);
        let out = c.out_bufs.into_iter().next().unwrap();
        let l4 = 14 + if v4 { usize::from(f[14] & 0xf) * 4 } else { 40 };
        let start = out.offload().csum.map(|c| usize::from(c.start));
        assert_eq!(start, Some(l4 + 4));
        assert_eq!(finished(out), only_output(&complete), "{f:02x?}");
    }
}

#[test]
fn recirc_hash_userspace_metadata() {
    let f = udp4_frame();
    let c = run(&f, &[Action::Hash { alg: 0, basis: 5 }, Action::Recirc(17)]);
    assert_eq!(c.recirc.len(), 1);
    let st = &c.recirc[0].1;
    assert_eq!(st.md.recirc_id, 17);
    assert_ne!(st.md.dp_hash, 0);
    let c = run(&f, &[Action::Recirc(3), Action::Output(1)]);
    assert_eq!((c.recirc.len(), c.out.len()), (1, 1));

    let u = Userspace {
        pid: 7,
        userdata: Some(vec![1u8, 2, 3]),
        egress_tun_port: None,
        actions: false,
    };
    let c = run(
        &f,
        &[
            Action::Trunc(30),
            Action::Userspace(u.clone()),
            Action::Userspace(u),
        ],
    );
    assert_eq!(c.upcalls[0].0.len(), 30);
    assert_eq!(c.upcalls[0].1, 60);
    assert_eq!(c.upcalls[0].2, Some(vec![1, 2, 3]));
    assert_eq!(
        c.upcalls[1].0.len(),
        60,
        "trunc only affects the next action"
    );
    assert_eq!(c.drops, vec![DropReason::ActionsEnd]);

    let c = run_md(
        &f,
        &Metadata {
            ct: CtMeta {
                state: 0x21,
                zone: 3,
                ..CtMeta::default()
            },
            ..Metadata::for_port(1)
        },
        &[Action::CtClear, Action::Output(1)],
    );
    assert_eq!((c.out[0].2.md.ct.state, c.out[0].2.md.ct.zone), (0, 0));

    let tun = TunnelMeta {
        id: 5,
        flags: fastpath::wire::tun_flags::KEY,
        ipv4_dst: IP_B,
        ttl: 64,
        ..TunnelMeta::default()
    };
    let c = run(
        &f,
        &[
            Action::Set(keys::priority(4)),
            Action::SetMasked {
                key: keys::skb_mark(0x10),
                mask: keys::skb_mark(0xf0),
            },
            Action::Set(keys::tunnel(&tun)),
            Action::Output(1),
        ],
    );
    let st = &c.out[0].2;
    assert_eq!((st.md.priority, st.md.skb_mark), (4, 0x10));
    assert_eq!(st.egress_tunnel, Some(tun));
    assert_eq!(only_output(&c), &f[..]);
}

#[test]
fn push_fails_cleanly_without_headroom() {
    let f = udp4_frame();
    let compiled = CompiledActions::compile(&[
        Action::PushVlan {
            tpid: 0x8100,
            tci: 0x1000,
        },
        Action::Output(1),
    ])
    .unwrap();
    let md = Metadata::for_port(1);
    let mut key = FlowKey::ZERO;
    let info = extract(&f, &md, &mut key);
    let mut st = PacketState::new(&md, &key, &info);
    let mut ctx = Ctx::default();
    execute(&compiled, VecBuf::with_headroom(&f, 2), &mut st, &mut ctx);
    assert_eq!(
        (ctx.out.len(), ctx.drops.clone()),
        (0, vec![DropReason::NoHeadroom])
    );
}
