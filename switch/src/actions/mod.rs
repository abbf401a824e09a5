//! Datapath actions: a plain description ([`Action`]), compiled once at flow install
//! into a flat, pre-masked form ([`CompiledActions`]) and executed per packet by
//! [`execute`].

pub mod csum;
mod exec;

pub use exec::{execute, DropReason, ExecContext, HotMeta, PacketState};

use std::sync::Arc;

use crate::packet::parse::TunnelMeta;

/// Maximum nesting of clone / sample / check_pkt_len / dec_ttl (the kernel's limit).
pub const MAX_NESTING: usize = 16;

/// A USERSPACE action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserspaceAction {
    /// Netlink port id to send the upcall to (non-zero).
    pub pid: u32,
    /// Opaque user data copied into the upcall. Shared, so that raising an upcall on a
    /// PMD takes a reference instead of allocating a copy.
    pub userdata: Option<Arc<[u8]>>,
    /// Tunnel port whose egress metadata is attached.
    pub egress_tun_port: Option<u32>,
    /// Whether the flow's actions are included in the upcall.
    pub include_actions: bool,
}

/// The target of a SET / SET_MASKED action, with the values (or, as the mask half of
/// a SET_MASKED, the mask bits). Addresses and ports are host-order integers of the
/// network-order fields, as in [`crate::flow::FlowKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetField {
    /// Ethernet addresses.
    Ethernet {
        /// Source.
        src: [u8; 6],
        /// Destination.
        dst: [u8; 6],
    },
    /// IPv4 header fields (`proto` and `frag` are not writable: they must be masked out
    /// in SET_MASKED and are ignored in SET).
    Ipv4 {
        /// Source address.
        src: u32,
        /// Destination address.
        dst: u32,
        /// Protocol (not writable).
        proto: u8,
        /// TOS byte.
        tos: u8,
        /// TTL.
        ttl: u8,
        /// Fragment type (not writable).
        frag: u8,
    },
    /// IPv6 header fields (`proto` and `frag` not writable).
    Ipv6 {
        /// Source.
        src: u128,
        /// Destination.
        dst: u128,
        /// Flow label (20 bits).
        label: u32,
        /// Next header (not writable).
        proto: u8,
        /// Traffic class.
        tclass: u8,
        /// Hop limit.
        hlimit: u8,
        /// Fragment type (not writable).
        frag: u8,
    },
    /// TCP ports.
    Tcp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// UDP ports.
    Udp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// SCTP ports.
    Sctp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// ICMP type and code.
    Icmp {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// ICMPv6 type and code.
    Icmpv6 {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// ARP fields.
    Arp {
        /// Sender IP.
        sip: u32,
        /// Target IP.
        tip: u32,
        /// Opcode.
        op: u16,
        /// Sender MAC.
        sha: [u8; 6],
        /// Target MAC.
        tha: [u8; 6],
    },
    /// Neighbour discovery target and link-layer options.
    Nd {
        /// Target address.
        target: u128,
        /// Source link-layer address option.
        sll: [u8; 6],
        /// Target link-layer address option.
        tll: [u8; 6],
    },
    /// Top MPLS label stack entry.
    Mpls {
        /// The LSE.
        lse: u32,
    },
    /// skb priority.
    Priority(u32),
    /// skb mark.
    SkbMark(u32),
    /// Egress tunnel metadata (SET only, never masked).
    Tunnel(TunnelMeta),
}

/// One datapath action, the compile input. Nested lists are plain vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to a port (a copy unless it is the last action).
    Output(u32),
    /// Explicit drop with a reason; must be last.
    Drop(u32),
    /// Send to userspace.
    Userspace(UserspaceAction),
    /// Overwrite a header field.
    Set(SetField),
    /// Masked write: `field = (field & !mask) | value` (value bits outside mask ignored).
    SetMasked {
        /// The value.
        value: SetField,
        /// The mask (same variant as `value`).
        mask: SetField,
    },
    /// Push an outer VLAN tag (`tci` must have the CFI bit 0x1000 set; it is cleared).
    PushVlan {
        /// 0x8100 or 0x88a8.
        tpid: u16,
        /// TCI with 0x1000 set.
        tci: u16,
    },
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Push an MPLS LSE after the MAC header.
    PushMpls {
        /// The LSE.
        lse: u32,
        /// 0x8847 or 0x8848.
        ethertype: u16,
    },
    /// Pop the top LSE and set the ethertype.
    PopMpls {
        /// Ethertype after the pop.
        ethertype: u16,
    },
    /// Push an MPLS LSE at the packet start, or after the MAC header with `l3_tunnel`.
    AddMpls {
        /// The LSE.
        lse: u32,
        /// 0x8847 or 0x8848.
        ethertype: u16,
        /// `OVS_MPLS_L3_TUNNEL_FLAG_MASK`.
        l3_tunnel: bool,
    },
    /// Recirculate with this recirc_id.
    Recirc(u32),
    /// Compute dp_hash from the packet hash (here: the flow-key hash from
    /// extraction, not the kernel's 5-tuple skb hash).
    Hash {
        /// Must be 0 (`OVS_HASH_ALG_L4`), as in the kernel.
        alg: u32,
        /// Hash basis.
        basis: u32,
    },
    /// Run the nested actions on a copy.
    Clone(Vec<Action>),
    /// Run the nested actions with a probability (`u32::MAX` = always, 0 = never).
    Sample {
        /// Probability in 1/2^32 units.
        probability: u32,
        /// Nested actions.
        actions: Vec<Action>,
    },
    /// Truncate copies sent by the next output / userspace action.
    Trunc(u32),
    /// Branch on packet length.
    CheckPktLen {
        /// Threshold: `len <= pkt_len` takes `if_less_equal`.
        pkt_len: u16,
        /// Actions if longer.
        if_greater: Vec<Action>,
        /// Actions if not longer.
        if_less_equal: Vec<Action>,
    },
    /// Decrement TTL / hop limit; at TTL <= 1 run the nested list instead and stop.
    DecTtl(Vec<Action>),
    /// Add an Ethernet header to an L3 packet.
    PushEth {
        /// Source.
        src: [u8; 6],
        /// Destination.
        dst: [u8; 6],
    },
    /// Strip the Ethernet header.
    PopEth,
    /// Forget conntrack state.
    CtClear,
}

/// Why [`CompiledActions::compile`] refused an action list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Output or tunnel port out of range.
    #[error("port {0} out of range")]
    BadPort(u32),
    /// DROP not the last action.
    #[error("drop must be the last action")]
    DropNotLast,
    /// TRUNC below 14 bytes.
    #[error("trunc length {0} below 14")]
    BadTrunc(u32),
    /// Unknown HASH algorithm.
    #[error("unsupported hash algorithm {0}")]
    BadHashAlg(u32),
    /// USERSPACE with pid 0.
    #[error("userspace action without pid")]
    NoPid,
    /// Invalid VLAN TPID or TCI without CFI.
    #[error("invalid push_vlan")]
    BadVlan,
    /// MPLS ethertype not 0x8847/0x8848.
    #[error("invalid MPLS ethertype {0:#06x}")]
    BadMplsEthertype(u16),
    /// SET_MASKED value and mask of different kinds, or a masked tunnel set, or a
    /// write to a read-only field.
    #[error("invalid set action")]
    BadSet,
    /// Nesting deeper than [`MAX_NESTING`].
    #[error("actions nested too deeply")]
    TooDeep,
    /// CHECK_PKT_LEN with length 0.
    #[error("check_pkt_len with zero length")]
    BadPktLen,
}

/// `(value, mask)` pair with `value` already restricted to `mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Masked<T> {
    pub(crate) v: T,
    pub(crate) m: T,
}

impl<T> Masked<T>
where
    T: Copy
        + core::ops::BitAnd<Output = T>
        + core::ops::BitOr<Output = T>
        + core::ops::Not<Output = T>,
{
    fn new(v: T, m: T) -> Self {
        Self { v: v & m, m }
    }

    #[inline(always)]
    pub(crate) fn apply(&self, old: T) -> T {
        (old & !self.m) | self.v
    }
}

fn mac64(m: [u8; 6]) -> u64 {
    crate::flow::key::mac_to_u64(m)
}

/// The L4 protocol a compiled port rewrite targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Tcp,
    Udp,
    Sctp,
}

/// Compiled IPv6 rewrite (boxed: large).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetIpv6 {
    pub(crate) src: Masked<u128>,
    pub(crate) dst: Masked<u128>,
    pub(crate) label: Masked<u32>,
    pub(crate) tclass: Masked<u8>,
    pub(crate) hlimit: Masked<u8>,
}

/// Compiled ARP rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetArp {
    pub(crate) sip: Masked<u32>,
    pub(crate) tip: Masked<u32>,
    pub(crate) op: Masked<u16>,
    pub(crate) sha: Masked<u64>,
    pub(crate) tha: Masked<u64>,
}

/// Compiled ND rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetNd {
    pub(crate) target: Masked<u128>,
    pub(crate) sll: Masked<u64>,
    pub(crate) tll: Masked<u64>,
}

/// One compiled operation. Nested lists follow their head op inline (`len` ops).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Output(u32),
    Drop(u32),
    Userspace(Box<UserspaceAction>),
    SetEth {
        src: Masked<u64>,
        dst: Masked<u64>,
    },
    SetIpv4 {
        src: Masked<u32>,
        dst: Masked<u32>,
        tos: Masked<u8>,
        ttl: Masked<u8>,
    },
    SetIpv6(Box<SetIpv6>),
    SetPorts {
        l4: L4,
        src: Masked<u16>,
        dst: Masked<u16>,
    },
    SetIcmp {
        v6: bool,
        ty: Masked<u8>,
        code: Masked<u8>,
    },
    SetArp(Box<SetArp>),
    SetNd(Box<SetNd>),
    SetMpls(Masked<u32>),
    SetPriority(Masked<u32>),
    SetMark(Masked<u32>),
    SetTunnel(Box<TunnelMeta>),
    PushVlan {
        tpid: u16,
        tci: u16,
    },
    PopVlan,
    PushMpls {
        lse: u32,
        ethertype: u16,
        at_start: bool,
    },
    PopMpls(u16),
    Recirc(u32),
    Hash {
        basis: u32,
    },
    Clone {
        len: u32,
    },
    Sample {
        probability: u32,
        len: u32,
    },
    Trunc(u32),
    CheckPktLen {
        pkt_len: u16,
        greater: u32,
        less_equal: u32,
    },
    DecTtl {
        len: u32,
    },
    PushEth {
        src: [u8; 6],
        dst: [u8; 6],
    },
    PopEth,
    CtClear,
}

/// An action list compiled for execution: flat, nested lists inline, set masks
/// precomputed. Cheap to execute, immutable, shared by all PMDs through the flow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompiledActions {
    pub(crate) ops: Box<[Op]>,
}

impl CompiledActions {
    /// Whether executing never looks at the packet's key or parse state: only outputs and
    /// drops (so a simple-match burst may share one key among its packets).
    pub fn is_key_independent(&self) -> bool {
        self.ops
            .iter()
            .all(|op| matches!(op, Op::Output(_) | Op::Drop(_)))
    }

    /// The compiled program (for prefetching before execution).
    #[inline(always)]
    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Compiles `actions`. An empty list means drop.
    pub fn compile(actions: &[Action]) -> Result<Self, CompileError> {
        let mut ops = Vec::new();
        compile_list(actions, &mut ops, 0)?;
        Ok(Self {
            ops: ops.into_boxed_slice(),
        })
    }

    /// Whether the list is empty (drop).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// If the list is a single OUTPUT, its port (lets the runtime skip the executor).
    #[inline(always)]
    pub fn single_output(&self) -> Option<u32> {
        match &*self.ops {
            [Op::Output(p)] => Some(*p),
            _ => None,
        }
    }
}

fn compile_list(actions: &[Action], ops: &mut Vec<Op>, depth: usize) -> Result<(), CompileError> {
    if depth > MAX_NESTING {
        return Err(CompileError::TooDeep);
    }
    for (i, a) in actions.iter().enumerate() {
        let last = i + 1 == actions.len();
        match a {
            Action::Output(p) => {
                if *p >= 0xffff {
                    return Err(CompileError::BadPort(*p));
                }
                ops.push(Op::Output(*p));
            }
            Action::Drop(r) => {
                if !last {
                    return Err(CompileError::DropNotLast);
                }
                ops.push(Op::Drop(*r));
            }
            Action::Userspace(u) => {
                if u.pid == 0 {
                    return Err(CompileError::NoPid);
                }
                ops.push(Op::Userspace(Box::new(u.clone())));
            }
            Action::Set(f) => {
                let full = full_mask(f);
                ops.push(compile_set(f, &full, false)?);
            }
            Action::SetMasked { value, mask } => ops.push(compile_set(value, mask, true)?),
            Action::PushVlan { tpid, tci } => {
                if !matches!(*tpid, 0x8100 | 0x88a8) || tci & 0x1000 == 0 {
                    return Err(CompileError::BadVlan);
                }
                ops.push(Op::PushVlan {
                    tpid: *tpid,
                    tci: tci & !0x1000,
                });
            }
            Action::PopVlan => ops.push(Op::PopVlan),
            Action::PushMpls { lse, ethertype } | Action::AddMpls { lse, ethertype, .. } => {
                if !matches!(*ethertype, 0x8847 | 0x8848) {
                    return Err(CompileError::BadMplsEthertype(*ethertype));
                }
                let at_start = matches!(
                    a,
                    Action::AddMpls {
                        l3_tunnel: false,
                        ..
                    }
                );
                ops.push(Op::PushMpls {
                    lse: *lse,
                    ethertype: *ethertype,
                    at_start,
                });
            }
            Action::PopMpls { ethertype } => ops.push(Op::PopMpls(*ethertype)),
            Action::Recirc(id) => ops.push(Op::Recirc(*id)),
            Action::Hash { alg, basis } => {
                // The kernel accepts only OVS_HASH_ALG_L4 (0).
                if *alg != 0 {
                    return Err(CompileError::BadHashAlg(*alg));
                }
                ops.push(Op::Hash { basis: *basis });
            }
            Action::Clone(sub) => nested(ops, sub, depth, |len| Op::Clone { len })?,
            Action::Sample {
                probability,
                actions,
            } => nested(ops, actions, depth, |len| Op::Sample {
                probability: *probability,
                len,
            })?,
            Action::Trunc(n) => {
                if *n < 14 {
                    return Err(CompileError::BadTrunc(*n));
                }
                ops.push(Op::Trunc(*n));
            }
            Action::CheckPktLen {
                pkt_len,
                if_greater,
                if_less_equal,
            } => {
                if *pkt_len == 0 {
                    return Err(CompileError::BadPktLen);
                }
                let head = ops.len();
                ops.push(Op::CtClear);
                let start = ops.len();
                compile_list(if_greater, ops, depth + 1)?;
                let greater = (ops.len() - start) as u32;
                let start = ops.len();
                compile_list(if_less_equal, ops, depth + 1)?;
                let less_equal = (ops.len() - start) as u32;
                ops[head] = Op::CheckPktLen {
                    pkt_len: *pkt_len,
                    greater,
                    less_equal,
                };
            }
            Action::DecTtl(sub) => nested(ops, sub, depth, |len| Op::DecTtl { len })?,
            Action::PushEth { src, dst } => ops.push(Op::PushEth {
                src: *src,
                dst: *dst,
            }),
            Action::PopEth => ops.push(Op::PopEth),
            Action::CtClear => ops.push(Op::CtClear),
        }
    }
    Ok(())
}

fn nested(
    ops: &mut Vec<Op>,
    sub: &[Action],
    depth: usize,
    head: impl FnOnce(u32) -> Op,
) -> Result<(), CompileError> {
    let at = ops.len();
    ops.push(Op::CtClear);
    compile_list(sub, ops, depth + 1)?;
    ops[at] = head((ops.len() - at - 1) as u32);
    Ok(())
}

fn full_mask(f: &SetField) -> SetField {
    const M6: [u8; 6] = [0xff; 6];
    match f {
        SetField::Ethernet { .. } => SetField::Ethernet { src: M6, dst: M6 },
        SetField::Ipv4 { .. } => SetField::Ipv4 {
            src: !0,
            dst: !0,
            proto: 0,
            tos: !0,
            ttl: !0,
            frag: 0,
        },
        SetField::Ipv6 { .. } => SetField::Ipv6 {
            src: !0,
            dst: !0,
            label: 0x000f_ffff,
            proto: 0,
            tclass: !0,
            hlimit: !0,
            frag: 0,
        },
        SetField::Tcp { .. } => SetField::Tcp { src: !0, dst: !0 },
        SetField::Udp { .. } => SetField::Udp { src: !0, dst: !0 },
        SetField::Sctp { .. } => SetField::Sctp { src: !0, dst: !0 },
        SetField::Icmp { .. } => SetField::Icmp {
            icmp_type: !0,
            code: !0,
        },
        SetField::Icmpv6 { .. } => SetField::Icmpv6 {
            icmp_type: !0,
            code: !0,
        },
        SetField::Arp { .. } => SetField::Arp {
            sip: !0,
            tip: !0,
            op: !0,
            sha: M6,
            tha: M6,
        },
        SetField::Nd { .. } => SetField::Nd {
            target: !0,
            sll: M6,
            tll: M6,
        },
        SetField::Mpls { .. } => SetField::Mpls { lse: !0 },
        SetField::Priority(_) => SetField::Priority(!0),
        SetField::SkbMark(_) => SetField::SkbMark(!0),
        SetField::Tunnel(t) => SetField::Tunnel(*t),
    }
}

fn compile_set(v: &SetField, m: &SetField, masked: bool) -> Result<Op, CompileError> {
    use SetField as F;
    Ok(match (v, m) {
        (F::Ethernet { src, dst }, F::Ethernet { src: ms, dst: md }) => Op::SetEth {
            src: Masked::new(mac64(*src), mac64(*ms)),
            dst: Masked::new(mac64(*dst), mac64(*md)),
        },
        (
            F::Ipv4 {
                src, dst, tos, ttl, ..
            },
            F::Ipv4 {
                src: ms,
                dst: md,
                proto: mp,
                tos: mt,
                ttl: ml,
                frag: mf,
            },
        ) => {
            if *mp != 0 || *mf != 0 {
                return Err(CompileError::BadSet);
            }
            Op::SetIpv4 {
                src: Masked::new(*src, *ms),
                dst: Masked::new(*dst, *md),
                tos: Masked::new(*tos, *mt),
                ttl: Masked::new(*ttl, *ml),
            }
        }
        (
            F::Ipv6 {
                src,
                dst,
                label,
                tclass,
                hlimit,
                ..
            },
            F::Ipv6 {
                src: ms,
                dst: md,
                label: mlab,
                proto: mp,
                tclass: mt,
                hlimit: mh,
                frag: mf,
            },
        ) => {
            if *mp != 0 || *mf != 0 || *label > 0x000f_ffff {
                return Err(CompileError::BadSet);
            }
            Op::SetIpv6(Box::new(SetIpv6 {
                src: Masked::new(*src, *ms),
                dst: Masked::new(*dst, *md),
                label: Masked::new(*label, mlab & 0x000f_ffff),
                tclass: Masked::new(*tclass, *mt),
                hlimit: Masked::new(*hlimit, *mh),
            }))
        }
        (F::Tcp { src, dst }, F::Tcp { src: ms, dst: md }) => ports(L4::Tcp, *src, *dst, *ms, *md),
        (F::Udp { src, dst }, F::Udp { src: ms, dst: md }) => ports(L4::Udp, *src, *dst, *ms, *md),
        (F::Sctp { src, dst }, F::Sctp { src: ms, dst: md }) => {
            ports(L4::Sctp, *src, *dst, *ms, *md)
        }
        (
            F::Icmp { icmp_type, code },
            F::Icmp {
                icmp_type: mt,
                code: mc,
            },
        ) => Op::SetIcmp {
            v6: false,
            ty: Masked::new(*icmp_type, *mt),
            code: Masked::new(*code, *mc),
        },
        (
            F::Icmpv6 { icmp_type, code },
            F::Icmpv6 {
                icmp_type: mt,
                code: mc,
            },
        ) => Op::SetIcmp {
            v6: true,
            ty: Masked::new(*icmp_type, *mt),
            code: Masked::new(*code, *mc),
        },
        (
            F::Arp {
                sip,
                tip,
                op,
                sha,
                tha,
            },
            F::Arp {
                sip: ms,
                tip: mt,
                op: mo,
                sha: mh,
                tha: ma,
            },
        ) => Op::SetArp(Box::new(SetArp {
            sip: Masked::new(*sip, *ms),
            tip: Masked::new(*tip, *mt),
            op: Masked::new(*op, *mo),
            sha: Masked::new(mac64(*sha), mac64(*mh)),
            tha: Masked::new(mac64(*tha), mac64(*ma)),
        })),
        (
            F::Nd { target, sll, tll },
            F::Nd {
                target: mt,
                sll: ms,
                tll: ml,
            },
        ) => Op::SetNd(Box::new(SetNd {
            target: Masked::new(*target, *mt),
            sll: Masked::new(mac64(*sll), mac64(*ms)),
            tll: Masked::new(mac64(*tll), mac64(*ml)),
        })),
        (F::Mpls { lse }, F::Mpls { lse: m }) => Op::SetMpls(Masked::new(*lse, *m)),
        (F::Priority(p), F::Priority(m)) => Op::SetPriority(Masked::new(*p, *m)),
        (F::SkbMark(p), F::SkbMark(m)) => Op::SetMark(Masked::new(*p, *m)),
        (F::Tunnel(t), F::Tunnel(_)) if !masked => Op::SetTunnel(Box::new(*t)),
        _ => return Err(CompileError::BadSet),
    })
}

fn ports(l4: L4, src: u16, dst: u16, ms: u16, md: u16) -> Op {
    Op::SetPorts {
        l4,
        src: Masked::new(src, ms),
        dst: Masked::new(dst, md),
    }
}
