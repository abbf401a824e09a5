//! Per-packet execution of [`CompiledActions`].

mod ct;
mod hash;

use super::csum::{sctp_checksum, update128, update16, update32};
use super::{CompiledActions, Masked, Op, UserspaceAction, L4};
use crate::conntrack::action::CtDrop;
use crate::conntrack::table::Table;
use crate::flow::key::{FlowKey, FRAG_LATER};
use crate::packet::parse::CtMeta;
use crate::packet::parse::{
    ipproto, ExtractInfo, Metadata, TunnelMeta, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6,
    ETH_P_MPLS_MC, ETH_P_MPLS_UC,
};
use crate::packet::PacketBuf;

/// The next number of the xorshift64* sequence in `state`: cheap, and good enough for
/// SAMPLE probabilities ([`ExecContext::random_u32`]).
pub fn xorshift32(state: &mut u64) -> u32 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
}

/// Why a packet was dropped by the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// An explicit DROP action with its reason code.
    Explicit(u32),
    /// The action list ended without consuming the packet (includes the empty list).
    ActionsEnd,
    /// A header push ran out of headroom.
    NoHeadroom,
    /// The `ct` action refused the packet.
    Conntrack(CtDrop),
}

/// Side effects of action execution, implemented by the runtime (mbufs, tx batches,
/// upcall queue) and by tests.
pub trait ExecContext<B: PacketBuf> {
    /// Queues `pkt` for transmission on `port` (the caller batches per port).
    fn output(&mut self, port: u32, pkt: B, st: &PacketState<'_>);
    /// A copy of `pkt` for a non-final output / clone / recirculation; `None` skips it.
    fn clone_packet(&mut self, pkt: &B) -> Option<B>;
    /// Sends the first `len` bytes of `pkt` (fewer than its length after a `trunc`) to
    /// userspace; `pkt`'s offload state says what work its bytes still need.
    fn upcall(&mut self, pkt: &B, len: usize, st: &PacketState<'_>, u: &UserspaceAction);
    /// Re-injects `pkt` for classification with `st.md` (recirc_id already set); the
    /// runtime re-extracts the key.
    fn recirculate(&mut self, pkt: B, st: &PacketState<'_>);
    /// Frees a dropped packet.
    fn drop_packet(&mut self, pkt: B, reason: DropReason);
    /// A random number for SAMPLE.
    fn random_u32(&mut self) -> u32;
    /// The datapath's connection table (`None`: `ct` drops every packet).
    fn conntrack(&self) -> Option<&Table> {
        None
    }
    /// A `ct` found the packet invalid (`+trk+inv`): counted, the packet goes on.
    fn ct_invalid(&mut self) {}
}

/// The metadata fields actions change, copied per packet (the rest stays borrowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotMeta {
    /// Input port.
    pub in_port: u16,
    /// Recirculation id (set by RECIRC).
    pub recirc_id: u32,
    /// dp_hash (set by HASH).
    pub dp_hash: u32,
    /// skb mark.
    pub skb_mark: u32,
    /// skb priority.
    pub priority: u32,
    /// `Some(ethertype)` once the packet has no Ethernet header.
    pub l3_ethertype: Option<u16>,
    /// Connection tracking metadata, once a `ct` or `ct_clear` changed it.
    pub ct: Option<CtMeta>,
}

/// Mutable per-packet state during execution: metadata and header offsets. Small by
/// design: the full [`Metadata`] stays borrowed and only changed fields are copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketState<'a> {
    base: &'a Metadata,
    /// Metadata fields that actions modify.
    pub md: HotMeta,
    /// Egress tunnel metadata set by SET(TUNNEL).
    pub egress_tunnel: Option<TunnelMeta>,
    /// Offset of the L3 header (= MAC header length).
    pub l3_ofs: usize,
    /// Offset of the L4 header.
    pub l4_ofs: usize,
    /// Current ethertype of the L3 header.
    pub eth_type: u16,
    /// IP protocol from the key.
    pub ip_proto: u8,
    /// Fragment type from the key.
    pub frag: u8,
    /// Packet hash (input of HASH).
    pub hash: u64,
    /// The hash of the lookup a leading `ct` makes, computed ahead by the PMD.
    pub ct_hash: Option<u64>,
    trunc: Option<u32>,
}

impl<'a> PacketState<'a> {
    /// State for a packet with metadata `md`, extracted key `key` and extraction info.
    #[inline(always)]
    pub fn new(md: &'a Metadata, key: &FlowKey, info: &ExtractInfo) -> Self {
        Self {
            base: md,
            md: HotMeta {
                in_port: md.in_port,
                recirc_id: md.recirc_id,
                dp_hash: md.dp_hash,
                skb_mark: md.skb_mark,
                priority: md.priority,
                l3_ethertype: md.l3_ethertype,
                ct: None,
            },
            egress_tunnel: None,
            l3_ofs: usize::from(info.l3_ofs),
            l4_ofs: usize::from(info.l4_ofs),
            eth_type: key.eth_type(),
            ip_proto: key.ip_proto(),
            frag: key.ip_frag(),
            hash: info.hash,
            ct_hash: None,
            trunc: None,
        }
    }

    /// The packet's full current metadata (for recirculation and upcalls).
    pub fn metadata(&self) -> Metadata {
        let mut m = *self.base;
        m.in_port = self.md.in_port;
        m.recirc_id = self.md.recirc_id;
        m.dp_hash = self.md.dp_hash;
        m.skb_mark = self.md.skb_mark;
        m.priority = self.md.priority;
        m.l3_ethertype = self.md.l3_ethertype;
        if let Some(ct) = self.md.ct {
            m.ct = ct;
        }
        m
    }

    #[inline(always)]
    fn shift(&mut self, delta: isize) {
        self.l3_ofs = self.l3_ofs.saturating_add_signed(delta);
        self.l4_ofs = self.l4_ofs.saturating_add_signed(delta);
    }

    #[inline(always)]
    fn has_eth(&self) -> bool {
        self.md.l3_ethertype.is_none()
    }

    #[inline(always)]
    fn l4_ok(&self) -> bool {
        self.frag != FRAG_LATER && self.l4_ofs > self.l3_ofs
    }
}

/// Executes `actions` on `pkt`. The packet is always consumed: output, recirculated or
/// dropped through `ctx`.
#[inline]
pub fn execute<B: PacketBuf, C: ExecContext<B>>(
    actions: &CompiledActions,
    pkt: B,
    st: &mut PacketState<'_>,
    ctx: &mut C,
) {
    // The most common list, a single output, skips the (recursive, not inlined) runner.
    if let [Op::Output(port)] = &*actions.ops {
        ctx.output(*port, pkt, st);
        return;
    }
    if let Some(p) = run(&actions.ops, pkt, st, ctx) {
        ctx.drop_packet(p, DropReason::ActionsEnd);
    }
}

/// Runs `sub` on the packet itself if `last`, else on a copy with a copy of the state.
#[inline]
fn clone_exec<B: PacketBuf, C: ExecContext<B>>(
    sub: &[Op],
    pkt: B,
    st: &mut PacketState<'_>,
    ctx: &mut C,
    last: bool,
) -> Option<B> {
    if last {
        return run(sub, pkt, st, ctx);
    }
    if let Some(c) = ctx.clone_packet(&pkt) {
        let mut st2 = st.clone();
        if let Some(p) = run(sub, c, &mut st2, ctx) {
            ctx.drop_packet(p, DropReason::ActionsEnd);
        }
    }
    Some(pkt)
}

/// Runs `ops`; returns the packet if it was not consumed.
fn run<B: PacketBuf, C: ExecContext<B>>(
    ops: &[Op],
    mut pkt: B,
    st: &mut PacketState<'_>,
    ctx: &mut C,
) -> Option<B> {
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        match op {
            Op::Output(port) => {
                let trunc = st.trunc.take();
                if i == ops.len() {
                    if let Some(t) = trunc {
                        pkt.truncate_to(t as usize);
                    }
                    ctx.output(*port, pkt, st);
                    return None;
                }
                if let Some(mut c) = ctx.clone_packet(&pkt) {
                    if let Some(t) = trunc {
                        c.truncate_to(t as usize);
                    }
                    ctx.output(*port, c, st);
                }
            }
            Op::Drop(reason) => {
                ctx.drop_packet(pkt, DropReason::Explicit(*reason));
                return None;
            }
            Op::Userspace(u) => {
                let full = pkt.len();
                let n = st.trunc.take().map_or(full, |t| full.min(t as usize));
                ctx.upcall(&pkt, n, st, u);
            }
            Op::SetEth { src, dst } => {
                if st.has_eth() {
                    let d = pkt.data_mut();
                    if d.len() >= 12 {
                        write_mac(&mut d[0..6], dst);
                        write_mac(&mut d[6..12], src);
                    }
                }
            }
            Op::SetIpv4 { src, dst, tos, ttl } => {
                let l4 = L4Csum::of(&pkt);
                set_ipv4(pkt.data_mut(), st, l4, src, dst, tos, ttl);
            }
            Op::SetIpv6(s) => {
                let l4 = L4Csum::of(&pkt);
                set_ipv6(pkt.data_mut(), st, l4, s);
            }
            Op::SetPorts { l4, src, dst } => {
                let csum = L4Csum::of(&pkt);
                set_ports(pkt.data_mut(), st, csum, *l4, src, dst);
            }
            Op::SetIcmp { v6, ty, code } => set_icmp(pkt.data_mut(), st, *v6, ty, code),
            Op::SetArp(a) => {
                let o = st.l3_ofs;
                let d = pkt.data_mut();
                if d.len() >= o + 28 {
                    put16(d, o + 6, a.op.apply(get16(d, o + 6)));
                    write_mac(&mut d[o + 8..o + 14], &a.sha);
                    put32(d, o + 14, a.sip.apply(get32(d, o + 14)));
                    write_mac(&mut d[o + 18..o + 24], &a.tha);
                    put32(d, o + 24, a.tip.apply(get32(d, o + 24)));
                }
            }
            Op::SetNd(nd) => set_nd(pkt.data_mut(), st, nd),
            Op::SetMpls(m) => {
                let o = st.l3_ofs;
                let d = pkt.data_mut();
                if is_mpls(st.eth_type) && d.len() >= o + 4 {
                    put32(d, o, m.apply(get32(d, o)));
                }
            }
            Op::SetPriority(m) => st.md.priority = m.apply(st.md.priority),
            Op::SetMark(m) => st.md.skb_mark = m.apply(st.md.skb_mark),
            Op::SetTunnel(t) => st.egress_tunnel = Some(**t),
            Op::PushVlan { tpid, tci } => {
                if !st.has_eth() || pkt.len() < 14 {
                    continue;
                }
                let Some(g) = pkt.insert_gap(12, 4) else {
                    ctx.drop_packet(pkt, DropReason::NoHeadroom);
                    return None;
                };
                g[0..2].copy_from_slice(&tpid.to_be_bytes());
                g[2..4].copy_from_slice(&tci.to_be_bytes());
                st.shift(4);
            }
            Op::PopVlan => {
                let d = pkt.data();
                if st.has_eth()
                    && d.len() >= 18
                    && matches!(get16(d, 12), ETH_P_8021Q | ETH_P_8021AD)
                    && pkt.remove_range(12, 4)
                {
                    st.shift(-4);
                }
            }
            Op::PushMpls {
                lse,
                ethertype,
                at_start,
            } => {
                let at = if *at_start { 0 } else { st.l3_ofs };
                let Some(g) = pkt.insert_gap(at, 4) else {
                    ctx.drop_packet(pkt, DropReason::NoHeadroom);
                    return None;
                };
                g.copy_from_slice(&lse.to_be_bytes());
                if *at_start {
                    st.md.l3_ethertype = Some(*ethertype);
                    st.l3_ofs = 0;
                } else if st.has_eth() && at >= 14 {
                    put16(pkt.data_mut(), at - 2, *ethertype);
                } else {
                    st.md.l3_ethertype = Some(*ethertype);
                }
                st.eth_type = *ethertype;
                st.l4_ofs = st.l3_ofs;
            }
            Op::PopMpls(ethertype) => {
                let o = st.l3_ofs;
                if is_mpls(st.eth_type) && pkt.len() >= o + 4 && pkt.remove_range(o, 4) {
                    if st.has_eth() && o >= 14 {
                        put16(pkt.data_mut(), o - 2, *ethertype);
                    } else {
                        st.md.l3_ethertype = Some(*ethertype);
                    }
                    st.eth_type = *ethertype;
                    st.l4_ofs = st.l3_ofs;
                }
            }
            Op::Recirc(id) => {
                st.md.recirc_id = *id;
                if i == ops.len() {
                    ctx.recirculate(pkt, st);
                    return None;
                }
                if let Some(c) = ctx.clone_packet(&pkt) {
                    ctx.recirculate(c, st);
                }
            }
            Op::Hash { basis, symmetric } => {
                let input = if *symmetric {
                    hash::symmetric_l4_hash(pkt.data(), st)
                } else {
                    st.hash
                };
                let h = hash::mix32(input, *basis);
                st.md.dp_hash = if h == 0 { 1 } else { h };
            }
            Op::Clone { len } => {
                let sub = &ops[i..i + *len as usize];
                i += *len as usize;
                pkt = clone_exec(sub, pkt, st, ctx, i == ops.len())?;
            }
            Op::Sample { probability, len } => {
                let sub = &ops[i..i + *len as usize];
                i += *len as usize;
                let p = *probability;
                if p == 0 || (p != u32::MAX && ctx.random_u32() > p) {
                    continue;
                }
                pkt = clone_exec(sub, pkt, st, ctx, i == ops.len())?;
            }
            Op::Trunc(n) => st.trunc = Some(*n),
            Op::CheckPktLen {
                pkt_len,
                greater,
                less_equal,
            } => {
                let (g, le) = (*greater as usize, *less_equal as usize);
                let sub = if pkt.len() > usize::from(*pkt_len) {
                    &ops[i..i + g]
                } else {
                    &ops[i + g..i + g + le]
                };
                i += g + le;
                pkt = clone_exec(sub, pkt, st, ctx, i == ops.len())?;
            }
            Op::DecTtl { len } => {
                let sub = &ops[i..i + *len as usize];
                i += *len as usize;
                if !dec_ttl(pkt.data_mut(), st) {
                    return run(sub, pkt, st, ctx);
                }
            }
            Op::PushEth { src, dst } => {
                if st.has_eth() {
                    continue;
                }
                let Some(g) = pkt.insert_gap(0, 14) else {
                    ctx.drop_packet(pkt, DropReason::NoHeadroom);
                    return None;
                };
                g[0..6].copy_from_slice(dst);
                g[6..12].copy_from_slice(src);
                g[12..14].copy_from_slice(&st.eth_type.to_be_bytes());
                st.md.l3_ethertype = None;
                st.shift(14);
            }
            Op::PopEth => {
                let d = pkt.data();
                if st.has_eth()
                    && d.len() >= 14
                    && !matches!(get16(d, 12), ETH_P_8021Q | ETH_P_8021AD)
                    && pkt.remove_range(0, 14)
                {
                    st.md.l3_ethertype = Some(st.eth_type);
                    st.shift(-14);
                }
            }
            Op::CtClear => st.md.ct = Some(CtMeta::default()),
            Op::Ct(a) => match ct::conntrack(a, &mut pkt, st, ctx) {
                Ok(true) => ctx.ct_invalid(),
                Ok(false) => {}
                Err(why) => {
                    ctx.drop_packet(pkt, DropReason::Conntrack(why));
                    return None;
                }
            },
        }
    }
    Some(pkt)
}

#[inline(always)]
fn is_mpls(et: u16) -> bool {
    et == ETH_P_MPLS_UC || et == ETH_P_MPLS_MC
}

#[inline(always)]
fn get16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

#[inline(always)]
fn put16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
fn get32(d: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

#[inline(always)]
fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
fn get128(d: &[u8], o: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[o..o + 16]);
    u128::from_be_bytes(a)
}

#[inline(always)]
fn put128(d: &mut [u8], o: usize, v: u128) {
    d[o..o + 16].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
fn write_mac(d: &mut [u8], m: &Masked<u64>) {
    if m.m == 0 {
        return;
    }
    let old = u64::from_be_bytes([0, 0, d[0], d[1], d[2], d[3], d[4], d[5]]);
    let new = m.apply(old).to_be_bytes();
    d[..6].copy_from_slice(&new[2..8]);
}

/// Applies a checksum update to the 16-bit checksum at `o`.
#[inline(always)]
fn fix_csum(d: &mut [u8], o: usize, f: impl FnOnce(u16) -> u16) {
    let c = get16(d, o);
    put16(d, o, f(c));
}

/// What the L4 checksum field holds (`CHECKSUM_PARTIAL` or not): a complete checksum, or
/// the uncomplemented pseudo-header sum a transmitter will complete over the segment. In
/// the latter only pseudo-header fields change the field, and in the opposite sense
/// (`inet_proto_csum_replace4()` with `pseudohdr`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum L4Csum {
    Complete,
    Partial,
}

impl L4Csum {
    #[inline(always)]
    fn of<B: PacketBuf>(pkt: &B) -> L4Csum {
        if pkt.offload().csum.is_some() {
            L4Csum::Partial
        } else {
            L4Csum::Complete
        }
    }

    /// The field after a pseudo-header word changed from `old` to `new`, given `update`
    /// (an RFC 1624 update of a complete checksum).
    #[inline(always)]
    fn pseudo_update(self, field: u16, update: impl FnOnce(u16) -> u16) -> u16 {
        match self {
            L4Csum::Complete => update(field),
            L4Csum::Partial => !update(!field),
        }
    }
}

/// Offset of the L4 checksum covering the pseudo-header, if present in the packet.
/// UDP checksum 0 (none, IPv4) yields `None` unless the field is a partial sum.
#[inline(always)]
fn pseudo_csum_ofs(
    d: &[u8],
    st: &PacketState<'_>,
    v6: bool,
    csum: L4Csum,
) -> Option<(usize, bool)> {
    if !st.l4_ok() {
        return None;
    }
    let l4 = st.l4_ofs;
    match st.ip_proto {
        ipproto::TCP if d.len() >= l4 + 20 => Some((l4 + 16, false)),
        ipproto::UDP if d.len() >= l4 + 8 => {
            if get16(d, l4 + 6) == 0 && !v6 && csum == L4Csum::Complete {
                None
            } else {
                Some((l4 + 6, true))
            }
        }
        ipproto::ICMPV6 if v6 && d.len() >= l4 + 4 => Some((l4 + 2, false)),
        _ => None,
    }
}

#[inline(always)]
fn l4_update32(d: &mut [u8], st: &PacketState<'_>, csum: L4Csum, old: u32, new: u32) {
    if let Some((o, udp)) = pseudo_csum_ofs(d, st, false, csum) {
        let mut c = csum.pseudo_update(get16(d, o), |c| update32(c, old, new));
        if udp && c == 0 && csum == L4Csum::Complete {
            c = 0xffff;
        }
        put16(d, o, c);
    }
}

fn set_ipv4(
    d: &mut [u8],
    st: &PacketState<'_>,
    csum: L4Csum,
    src: &Masked<u32>,
    dst: &Masked<u32>,
    tos: &Masked<u8>,
    ttl: &Masked<u8>,
) {
    let o = st.l3_ofs;
    if st.eth_type != ETH_P_IP || d.len() < o + 20 {
        return;
    }
    for (m, fo) in [(src, o + 12), (dst, o + 16)] {
        if m.m != 0 {
            let old = get32(d, fo);
            let new = m.apply(old);
            if new != old {
                put32(d, fo, new);
                fix_csum(d, o + 10, |c| update32(c, old, new));
                l4_update32(d, st, csum, old, new);
            }
        }
    }
    if tos.m != 0 {
        let old = get16(d, o);
        let new = (old & 0xff00) | u16::from(tos.apply(old.to_be_bytes()[1]));
        put16(d, o, new);
        fix_csum(d, o + 10, |c| update16(c, old, new));
    }
    if ttl.m != 0 {
        let old = get16(d, o + 8);
        let new = (u16::from(ttl.apply((old >> 8) as u8)) << 8) | (old & 0xff);
        put16(d, o + 8, new);
        fix_csum(d, o + 10, |c| update16(c, old, new));
    }
}

fn set_ipv6(d: &mut [u8], st: &PacketState<'_>, csum: L4Csum, s: &super::SetIpv6) {
    let o = st.l3_ofs;
    if st.eth_type != ETH_P_IPV6 || d.len() < o + 40 {
        return;
    }
    for (m, fo) in [(&s.src, o + 8), (&s.dst, o + 24)] {
        if m.m != 0 {
            let old = get128(d, fo);
            let new = m.apply(old);
            if new != old {
                put128(d, fo, new);
                if let Some((co, udp)) = pseudo_csum_ofs(d, st, true, csum) {
                    let mut c = csum.pseudo_update(get16(d, co), |c| update128(c, old, new));
                    if udp && c == 0 && csum == L4Csum::Complete {
                        c = 0xffff;
                    }
                    put16(d, co, c);
                }
            }
        }
    }
    if s.tclass.m != 0 || s.label.m != 0 {
        let w = get32(d, o);
        let tc = u32::from(s.tclass.apply(((w >> 20) & 0xff) as u8));
        let label = s.label.apply(w & 0x000f_ffff);
        put32(d, o, (w & 0xf000_0000) | (tc << 20) | label);
    }
    if s.hlimit.m != 0 {
        d[o + 7] = s.hlimit.apply(d[o + 7]);
    }
}

fn set_ports(
    d: &mut [u8],
    st: &PacketState<'_>,
    csum: L4Csum,
    l4: L4,
    src: &Masked<u16>,
    dst: &Masked<u16>,
) {
    let proto = match l4 {
        L4::Tcp => ipproto::TCP,
        L4::Udp => ipproto::UDP,
        L4::Sctp => ipproto::SCTP,
    };
    let o = st.l4_ofs;
    let need = match l4 {
        L4::Tcp => 20,
        L4::Udp => 8,
        L4::Sctp => 12,
    };
    if st.ip_proto != proto || !st.l4_ok() || d.len() < o + need {
        return;
    }
    let (old_s, old_d) = (get16(d, o), get16(d, o + 2));
    let (new_s, new_d) = (src.apply(old_s), dst.apply(old_d));
    if (new_s, new_d) == (old_s, old_d) {
        return;
    }
    match l4 {
        L4::Sctp => {
            let old_field = u32::from_le_bytes([d[o + 8], d[o + 9], d[o + 10], d[o + 11]]);
            let old_correct = sctp_checksum(&d[o..]);
            put16(d, o, new_s);
            put16(d, o + 2, new_d);
            let new = sctp_checksum(&d[o..]) ^ (old_field ^ old_correct);
            d[o + 8..o + 12].copy_from_slice(&new.to_le_bytes());
        }
        _ => {
            put16(d, o, new_s);
            put16(d, o + 2, new_d);
            if csum == L4Csum::Partial {
                // Ports are not in the pseudo-header: the transmitter's sum covers them.
                return;
            }
            let co = if l4 == L4::Tcp { o + 16 } else { o + 6 };
            let c = get16(d, co);
            if l4 == L4::Udp && c == 0 && st.eth_type == ETH_P_IP {
                return;
            }
            let mut c = update16(update16(c, old_s, new_s), old_d, new_d);
            if l4 == L4::Udp && c == 0 {
                c = 0xffff;
            }
            put16(d, co, c);
        }
    }
}

fn set_icmp(d: &mut [u8], st: &PacketState<'_>, v6: bool, ty: &Masked<u8>, code: &Masked<u8>) {
    let o = st.l4_ofs;
    let proto = if v6 { ipproto::ICMPV6 } else { ipproto::ICMP };
    if st.ip_proto != proto || !st.l4_ok() || d.len() < o + 4 {
        return;
    }
    let old = get16(d, o);
    let [t, c] = old.to_be_bytes();
    let new = u16::from_be_bytes([ty.apply(t), code.apply(c)]);
    if new != old {
        put16(d, o, new);
        fix_csum(d, o + 2, |c| update16(c, old, new));
    }
}

fn set_nd(d: &mut [u8], st: &PacketState<'_>, nd: &super::SetNd) {
    let o = st.l4_ofs;
    if st.ip_proto != ipproto::ICMPV6 || !st.l4_ok() || d.len() < o + 24 {
        return;
    }
    if !matches!(d[o], 135 | 136) {
        return;
    }
    if nd.target.m != 0 {
        let old = get128(d, o + 8);
        let new = nd.target.apply(old);
        if new != old {
            put128(d, o + 8, new);
            fix_csum(d, o + 2, |c| update128(c, old, new));
        }
    }
    // Walk the options; rewrite SLL (type 1) / TLL (type 2) options of length 1.
    let mut p = o + 24;
    while p + 8 <= d.len() {
        let len = usize::from(d[p + 1]) * 8;
        if len == 0 || p + len > d.len() {
            break;
        }
        let m = match d[p] {
            1 if len == 8 => Some(&nd.sll),
            2 if len == 8 => Some(&nd.tll),
            _ => None,
        };
        if let Some(m) = m.filter(|m| m.m != 0) {
            // Update over the 6 MAC bytes as three 16-bit words.
            let old: [u16; 3] = [get16(d, p + 2), get16(d, p + 4), get16(d, p + 6)];
            write_mac(&mut d[p + 2..p + 8], m);
            for (k, old_w) in old.iter().enumerate() {
                let new_w = get16(d, p + 2 + 2 * k);
                fix_csum(d, o + 2, |c| update16(c, *old_w, new_w));
            }
        }
        p += len;
    }
}

/// Decrements TTL / hop limit; `false` if it would reach <= 1 (exception path).
fn dec_ttl(d: &mut [u8], st: &PacketState<'_>) -> bool {
    let o = st.l3_ofs;
    match st.eth_type {
        ETH_P_IP if d.len() >= o + 20 => {
            let old = get16(d, o + 8);
            if old >> 8 <= 1 {
                return false;
            }
            let new = old - 0x100;
            put16(d, o + 8, new);
            fix_csum(d, o + 10, |c| update16(c, old, new));
            true
        }
        ETH_P_IPV6 if d.len() >= o + 40 => {
            if d[o + 7] <= 1 {
                return false;
            }
            d[o + 7] -= 1;
            true
        }
        _ => true,
    }
}
