//! Datapath actions: an `odp` action list, validated with the kernel's rules, is compiled once
//! at flow install into a flat, pre-masked program ([`CompiledActions`]) that [`execute`]
//! runs per packet.

pub mod csum;
mod exec;

pub use exec::{execute, xorshift32, DropReason, ExecContext, HotMeta, PacketState};

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use odp::action::{Action, MAX_ACTIONS_DEPTH};
use odp::key::FlowKey as OKey;

use crate::conntrack::action::CtAction;
use crate::conntrack::nat::{NatKind, NatSpec};
use crate::packet::parse::TunnelMeta;
use crate::Error;

/// A USERSPACE action as the executor hands it to [`ExecContext::upcall`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserspaceAction {
    /// Netlink port id to send the upcall to.
    pub pid: u32,
    /// Opaque user data copied into the upcall. Shared, so that raising an upcall on a
    /// PMD takes a reference instead of allocating a copy.
    pub userdata: Option<Arc<[u8]>>,
    /// Tunnel port whose egress metadata is attached.
    pub egress_tun_port: Option<u32>,
    /// Whether the flow's actions are included in the upcall.
    pub include_actions: bool,
}

/// The CFI bit a PUSH_VLAN TCI carries on the wire (`VLAN_CFI_MASK`) and not in the frame.
const VLAN_CFI: u16 = 0x1000;
/// `OVS_MPLS_L3_TUNNEL_FLAG_MASK` of ADD_MPLS: the label goes after the MAC header.
const MPLS_L3_TUNNEL: u16 = 1;
/// The 20 bits of an IPv6 flow label.
const IPV6_LABEL: u32 = 0x000f_ffff;

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
        symmetric: bool,
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
    Ct(Box<CtAction>),
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

    /// Lowers `actions` into the program [`execute`] runs; an empty list drops. The list
    /// is the control plane's, checked with `odp::action::validate_actions` (the kernel's
    /// rules): lowering checks nothing that validation does.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for what the executor cannot do: `ct`, NSH, `psample`, a hash
    /// algorithm other than L4, tunnel options in `set(tunnel)`, userspace-only actions.
    pub fn compile(actions: &[Action]) -> Result<Self, Error> {
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

    /// The `ct` the list starts with, if it does (its lookups can be prefetched a burst at a
    /// time: nothing before it changes the packet).
    #[inline(always)]
    pub fn leading_ct(&self) -> Option<&CtAction> {
        match self.ops.first() {
            Some(Op::Ct(a)) => Some(a),
            _ => None,
        }
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

fn compile_list(actions: &[Action], ops: &mut Vec<Op>, depth: usize) -> Result<(), Error> {
    // Validation bounds nesting; this bound only keeps the recursion finite for any input.
    if depth > MAX_ACTIONS_DEPTH {
        return Err(Error::Invalid("action nesting"));
    }
    for a in actions {
        match a {
            Action::Output(p) => ops.push(Op::Output(*p)),
            Action::Drop(r) => ops.push(Op::Drop(*r)),
            Action::Userspace(u) => ops.push(Op::Userspace(Box::new(UserspaceAction {
                pid: u.pid,
                userdata: u.userdata.as_deref().map(Arc::from),
                egress_tun_port: u.egress_tun_port,
                include_actions: u.actions,
            }))),
            Action::Set(k) => ops.push(compile_set(k, None)?),
            Action::SetMasked { key, mask } => ops.push(compile_set(key, Some(mask))?),
            Action::PushVlan { tpid, tci } => ops.push(Op::PushVlan {
                tpid: *tpid,
                tci: tci & !VLAN_CFI,
            }),
            Action::PopVlan => ops.push(Op::PopVlan),
            Action::PushMpls { lse, ethertype } => ops.push(Op::PushMpls {
                lse: *lse,
                ethertype: *ethertype,
                at_start: false,
            }),
            Action::AddMpls {
                lse,
                ethertype,
                tun_flags,
            } => ops.push(Op::PushMpls {
                lse: *lse,
                ethertype: *ethertype,
                at_start: tun_flags & MPLS_L3_TUNNEL == 0,
            }),
            Action::PopMpls(ethertype) => ops.push(Op::PopMpls(*ethertype)),
            Action::Recirc(id) => ops.push(Op::Recirc(*id)),
            Action::Hash { alg: 0, basis } => ops.push(Op::Hash {
                basis: *basis,
                symmetric: false,
            }),
            Action::Hash { alg: 1, basis } => ops.push(Op::Hash {
                basis: *basis,
                symmetric: true,
            }),
            Action::Hash { .. } => return Err(Error::Unsupported("hash algorithm")),
            Action::Clone(sub) => nested(ops, sub, depth, |len| Op::Clone { len })?,
            Action::Sample {
                probability,
                actions,
            } => nested(ops, actions, depth, |len| Op::Sample {
                probability: *probability,
                len,
            })?,
            Action::Trunc(n) => ops.push(Op::Trunc(*n)),
            Action::CheckPktLen { pkt_len, gt, le } => {
                let head = ops.len();
                ops.push(Op::CtClear);
                let greater = sub_len(ops, gt, depth)?;
                let less_equal = sub_len(ops, le, depth)?;
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
            // dpswitch has no meters, and the kernel passes a packet through a meter action
            // whose meter does not exist (`net/openvswitch/meter.c`, `ovs_meter_execute()`).
            Action::Meter(_) => {}
            Action::Ct(c) => ops.push(Op::Ct(Box::new(compile_ct(c)?))),
            Action::PushNsh(_) | Action::PopNsh => return Err(Error::Unsupported("NSH actions")),
            Action::Psample { .. } => return Err(Error::Unsupported("psample action")),
            _ => return Err(Error::Unsupported("action")),
        }
    }
    Ok(())
}

/// A `ct` action as the executor runs it. Helpers are refused: dpswitch does not implement
/// them yet. A timeout policy name is accepted as the kernel accepts a name it has no policy
/// for; the event mask is accepted as the kernel does with no one listening for conntrack
/// events.
fn compile_ct(c: &odp::action::Ct) -> Result<CtAction, Error> {
    if c.helper.is_some() {
        return Err(Error::Unsupported("ct helper"));
    }
    let nat = c.nat.as_ref().map(|n| {
        let ip = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        let addrs = n.ip_min.map(|lo| (ip(lo), n.ip_max.map_or(ip(lo), ip)));
        let ports = n
            .proto_min
            .map(|lo| (lo, n.proto_max.unwrap_or(lo).max(lo)));
        NatSpec {
            kind: if n.src {
                NatKind::Src
            } else if n.dst {
                NatKind::Dst
            } else {
                NatKind::Established
            },
            addrs: addrs.map(|(lo, hi)| (lo, hi.max(lo))),
            ports,
            persistent: n.persistent,
            random: n.proto_hash || n.proto_random,
        }
    });
    Ok(CtAction {
        zone: c.zone.unwrap_or(0),
        commit: c.commit || c.force_commit,
        force: c.force_commit,
        mark: c.mark,
        labels: c
            .labels
            .map(|(v, m)| (u128::from_be_bytes(v), u128::from_be_bytes(m))),
        nat,
    })
}

/// Compiles a nested list after its head op; returns its length in ops.
fn sub_len(ops: &mut Vec<Op>, sub: &[Action], depth: usize) -> Result<u32, Error> {
    let start = ops.len();
    compile_list(sub, ops, depth + 1)?;
    u32::try_from(ops.len() - start).map_err(|_| Error::Invalid("action list length"))
}

fn nested(
    ops: &mut Vec<Op>,
    sub: &[Action],
    depth: usize,
    head: impl FnOnce(u32) -> Op,
) -> Result<(), Error> {
    let at = ops.len();
    ops.push(Op::CtClear);
    let len = sub_len(ops, sub, depth)?;
    ops[at] = head(len);
    Ok(())
}

fn ip4(a: Ipv4Addr) -> u32 {
    u32::from(a)
}

fn ip6(a: Ipv6Addr) -> u128 {
    u128::from(a)
}

/// `Masked` of a SET's field: `mask` is SET_MASKED's, or all ones (SET).
fn m<
    T: Copy
        + core::ops::Not<Output = T>
        + core::ops::BitAnd<Output = T>
        + core::ops::BitOr<Output = T>
        + Default,
>(
    v: T,
    mask: Option<T>,
) -> Masked<T> {
    Masked::new(v, mask.unwrap_or(!T::default()))
}

/// The program of a SET (`mask` None: every writable bit) or SET_MASKED of the one field
/// `key` holds. IP protocol and fragment type are never written: the kernel refuses masked
/// writes to them and ignores them in SET.
fn compile_set(key: &OKey, mask: Option<&OKey>) -> Result<Op, Error> {
    if let Some(v) = key.priority {
        return Ok(Op::SetPriority(m(v, mask.map(|k| k.priority.unwrap_or(0)))));
    }
    if let Some(v) = key.skb_mark {
        return Ok(Op::SetMark(m(v, mask.map(|k| k.skb_mark.unwrap_or(0)))));
    }
    if let Some(e) = &key.ethernet {
        let me = mask.map(|k| k.ethernet.unwrap_or_default());
        return Ok(Op::SetEth {
            src: m(mac64(e.src), me.map(|x| mac64(x.src))),
            dst: m(mac64(e.dst), me.map(|x| mac64(x.dst))),
        });
    }
    if let Some(v) = &key.ipv4 {
        let mv = mask.map(|k| k.ipv4.unwrap_or_default());
        return Ok(Op::SetIpv4 {
            src: m(ip4(v.src), mv.map(|x| ip4(x.src))),
            dst: m(ip4(v.dst), mv.map(|x| ip4(x.dst))),
            tos: m(v.tos, mv.map(|x| x.tos)),
            ttl: m(v.ttl, mv.map(|x| x.ttl)),
        });
    }
    if let Some(v) = &key.ipv6 {
        let mv = mask.map(|k| k.ipv6.unwrap_or_default());
        return Ok(Op::SetIpv6(Box::new(SetIpv6 {
            src: m(ip6(v.src), mv.map(|x| ip6(x.src))),
            dst: m(ip6(v.dst), mv.map(|x| ip6(x.dst))),
            label: Masked::new(v.label, mv.map_or(IPV6_LABEL, |x| x.label & IPV6_LABEL)),
            tclass: m(v.tclass, mv.map(|x| x.tclass)),
            hlimit: m(v.hlimit, mv.map(|x| x.hlimit)),
        })));
    }
    for (l4, v, mv) in [
        (L4::Tcp, &key.tcp, mask.map(|k| k.tcp.unwrap_or_default())),
        (L4::Udp, &key.udp, mask.map(|k| k.udp.unwrap_or_default())),
        (
            L4::Sctp,
            &key.sctp,
            mask.map(|k| k.sctp.unwrap_or_default()),
        ),
    ] {
        if let Some(p) = v {
            return Ok(Op::SetPorts {
                l4,
                src: m(p.src, mv.map(|x| x.src)),
                dst: m(p.dst, mv.map(|x| x.dst)),
            });
        }
    }
    for (v6, v, mv) in [
        (false, &key.icmp, mask.map(|k| k.icmp.unwrap_or_default())),
        (
            true,
            &key.icmpv6,
            mask.map(|k| k.icmpv6.unwrap_or_default()),
        ),
    ] {
        if let Some(i) = v {
            return Ok(Op::SetIcmp {
                v6,
                ty: m(i.ty, mv.map(|x| x.ty)),
                code: m(i.code, mv.map(|x| x.code)),
            });
        }
    }
    if let Some(a) = &key.arp {
        let ma = mask.map(|k| k.arp.unwrap_or_default());
        return Ok(Op::SetArp(Box::new(SetArp {
            sip: m(ip4(a.sip), ma.map(|x| ip4(x.sip))),
            tip: m(ip4(a.tip), ma.map(|x| ip4(x.tip))),
            op: m(a.op, ma.map(|x| x.op)),
            sha: m(mac64(a.sha), ma.map(|x| mac64(x.sha))),
            tha: m(mac64(a.tha), ma.map(|x| mac64(x.tha))),
        })));
    }
    if let Some(n) = &key.nd {
        let mn = mask.map(|k| k.nd.unwrap_or_default());
        return Ok(Op::SetNd(Box::new(SetNd {
            target: m(ip6(n.target), mn.map(|x| ip6(x.target))),
            sll: m(mac64(n.sll), mn.map(|x| mac64(x.sll))),
            tll: m(mac64(n.tll), mn.map(|x| mac64(x.tll))),
        })));
    }
    if let Some(l) = &key.mpls {
        let top = |s: &Vec<u32>| s.first().copied().unwrap_or(0);
        let ml = mask.map(|k| k.mpls.as_ref().map_or(0, top));
        return Ok(Op::SetMpls(m(top(l), ml)));
    }
    if let Some(t) = &key.tunnel {
        if mask.is_some() {
            return Err(Error::Invalid("masked tunnel set"));
        }
        if t.geneve_opts.is_some() || t.erspan_opts.is_some() {
            return Err(Error::Unsupported("set(tunnel) with options"));
        }
        return Ok(Op::SetTunnel(Box::new(crate::wire::tunnel_meta(t))));
    }
    Err(Error::Unsupported("set of this field"))
}
