//! Action executor: structurally generated `odp` action lists (every action kind the
//! executor has, nested lists included), compiled without validation, run on arbitrary
//! frames without panicking; every packet ends exactly once (output, upcall-free drop or
//! recirculation) and no output grows beyond what the pushes in the list allow. Lists the
//! control plane would refuse are run too: the executor must not rely on validation.
#![no_main]

use fastpath::actions::{
    execute, CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction,
};
use fastpath::testing::keys;
use fastpath::flow::FlowKey;
use fastpath::packet::{extract, Metadata, PacketBuf, TunnelMeta, VecBuf};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use odp::action::{Action, Userspace};
use odp::key::FlowKey as OKey;

#[derive(Arbitrary, Debug)]
enum F {
    Ethernet([u8; 6], [u8; 6]),
    Ipv4(u32, u32, u8, u8, u8, u8),
    Ipv6(u128, u128, u32, u8, u8, u8, u8),
    Tcp(u16, u16),
    Udp(u16, u16),
    Sctp(u16, u16),
    Icmp(u8, u8),
    Icmpv6(u8, u8),
    Arp(u32, u32, u16, [u8; 6], [u8; 6]),
    Nd(u128, [u8; 6], [u8; 6]),
    Mpls(u32),
    Priority(u32),
    SkbMark(u32),
    Tunnel(u64, u32, u32, u16, u8, u8, u16, u16),
}

impl F {
    fn field(&self) -> OKey {
        match *self {
            F::Ethernet(src, dst) => keys::ethernet(src, dst),
            F::Ipv4(src, dst, proto, tos, ttl, frag) => keys::ipv4(src, dst, proto, tos, ttl, frag),
            F::Ipv6(src, dst, label, proto, tclass, hlimit, frag) => keys::ipv6(src, dst, label, proto, tclass, hlimit, frag),
            F::Tcp(src, dst) => keys::tcp(src, dst),
            F::Udp(src, dst) => keys::udp(src, dst),
            F::Sctp(src, dst) => keys::sctp(src, dst),
            F::Icmp(icmp_type, code) => keys::icmp(icmp_type, code),
            F::Icmpv6(icmp_type, code) => keys::icmpv6(icmp_type, code),
            F::Arp(sip, tip, op, sha, tha) => keys::arp(sip, tip, op, sha, tha),
            F::Nd(target, sll, tll) => keys::nd(target, sll, tll),
            F::Mpls(lse) => keys::mpls(lse),
            F::Priority(v) => keys::priority(v),
            F::SkbMark(v) => keys::skb_mark(v),
            F::Tunnel(id, src, dst, flags, tos, ttl, tp_src, tp_dst) => {
                keys::tunnel(&TunnelMeta {
                    id,
                    ipv4_src: src,
                    ipv4_dst: dst,
                    flags,
                    tos,
                    ttl,
                    tp_src,
                    tp_dst,
                    ..TunnelMeta::default()
                })
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum A {
    Output(u8),
    Drop(u32),
    Userspace(u32, Option<Vec<u8>>, bool),
    Set(F),
    SetMasked(F, F),
    PushVlan(bool, u16),
    PopVlan,
    PushMpls(u32, bool),
    PopMpls(u16),
    AddMpls(u32, bool, bool),
    Recirc(u32),
    Hash(u32, u32),
    Clone(Vec<A>),
    Sample(u32, Vec<A>),
    Trunc(u32),
    CheckPktLen(u16, Vec<A>, Vec<A>),
    DecTtl(Vec<A>),
    PushEth([u8; 6], [u8; 6]),
    PopEth,
    CtClear,
}

/// Bytes the list may add to a packet at most (pushes, anywhere in it).
fn growth(list: &[A]) -> usize {
    list.iter()
        .map(|a| match a {
            A::PushVlan(..) | A::PushMpls(..) | A::AddMpls(..) => 4,
            A::PushEth(..) => 14,
            A::Clone(l) | A::Sample(_, l) | A::DecTtl(l) => growth(l),
            A::CheckPktLen(_, g, l) => growth(g).max(growth(l)),
            _ => 0,
        })
        .sum()
}

fn convert(list: &[A]) -> Vec<Action> {
    list.iter()
        .map(|a| match a {
            A::Output(p) => Action::Output(u32::from(*p)),
            A::Drop(r) => Action::Drop(*r),
            A::Userspace(pid, userdata, include_actions) => Action::Userspace(Userspace {
                pid: *pid,
                userdata: userdata.clone(),
                egress_tun_port: None,
                actions: *include_actions,
            }),
            A::Set(f) => Action::Set(f.field()),
            A::SetMasked(v, m) => Action::SetMasked {
                key: v.field(),
                mask: m.field(),
            },
            A::PushVlan(qinq, tci) => Action::PushVlan {
                tpid: if *qinq { 0x88a8 } else { 0x8100 },
                tci: *tci | 0x1000,
            },
            A::PopVlan => Action::PopVlan,
            A::PushMpls(lse, mc) => Action::PushMpls {
                lse: *lse,
                ethertype: if *mc { 0x8848 } else { 0x8847 },
            },
            A::PopMpls(et) => Action::PopMpls(*et),
            A::AddMpls(lse, mc, l3) => Action::AddMpls {
                lse: *lse,
                ethertype: if *mc { 0x8848 } else { 0x8847 },
                tun_flags: u16::from(*l3),
            },
            A::Recirc(id) => Action::Recirc(*id),
            A::Hash(alg, basis) => Action::Hash {
                alg: *alg,
                basis: *basis,
            },
            A::Clone(l) => Action::Clone(convert(l)),
            A::Sample(p, l) => Action::Sample {
                probability: *p,
                actions: convert(l),
            },
            A::Trunc(n) => Action::Trunc(*n),
            A::CheckPktLen(n, g, l) => Action::CheckPktLen {
                pkt_len: *n,
                gt: convert(g),
                le: convert(l),
            },
            A::DecTtl(l) => Action::DecTtl(convert(l)),
            A::PushEth(src, dst) => Action::PushEth {
                src: *src,
                dst: *dst,
            },
            A::PopEth => Action::PopEth,
            A::CtClear => Action::CtClear,
        })
        .collect()
}

struct Ctx {
    max_len: usize,
    ends: usize,
    clones: usize,
    rand: u32,
}

impl Ctx {
    fn check(&self, len: usize) {
        assert!(
            len <= self.max_len,
            "packet grew to {len} > {}",
            self.max_len
        );
    }
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, _port: u32, pkt: VecBuf, _st: &PacketState<'_>) {
        self.check(pkt.data().len());
        self.ends += 1;
    }
    fn clone_packet(&mut self, pkt: &VecBuf) -> Option<VecBuf> {
        self.clones += 1;
        Some(pkt.clone())
    }
    fn upcall(
        &mut self,
        data: &[u8],
        orig_len: usize,
        _st: &PacketState<'_>,
        _u: &UserspaceAction,
    ) {
        assert!(data.len() <= orig_len, "upcall data longer than the packet");
        self.check(orig_len);
    }
    fn recirculate(&mut self, pkt: VecBuf, _st: &PacketState<'_>) {
        self.check(pkt.data().len());
        self.ends += 1;
    }
    fn drop_packet(&mut self, pkt: VecBuf, _reason: DropReason) {
        self.check(pkt.data().len());
        self.ends += 1;
    }
    fn random_u32(&mut self) -> u32 {
        self.rand = self
            .rand
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        self.rand
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    in_port: u16,
    seed: u32,
    actions: Vec<A>,
    frame: Vec<u8>,
}

fuzz_target!(|inp: Input| {
    let Ok(compiled) = CompiledActions::compile(&convert(&inp.actions)) else {
        return;
    };
    let md = Metadata::for_port(inp.in_port);
    let mut key = FlowKey::ZERO;
    let info = extract(&inp.frame, &md, &mut key);
    let mut st = PacketState::new(&md, &key, &info);
    let mut ctx = Ctx {
        max_len: inp.frame.len() + growth(&inp.actions),
        ends: 0,
        clones: 0,
        rand: inp.seed,
    };
    execute(&compiled, VecBuf::new(&inp.frame), &mut st, &mut ctx);
    // Every packet (the original and each copy) is consumed exactly once.
    assert_eq!(
        ctx.ends,
        ctx.clones + 1,
        "a packet was lost or consumed twice"
    );
});
