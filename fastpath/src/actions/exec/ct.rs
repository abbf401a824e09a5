//! The `ct` action in the executor: the packet as the tracker sees it, the tracker's
//! verdict into the packet's metadata, and the rewrite of a NAT mapping, with the same field
//! writers (and incremental checksum updates, partial checksums left partial) as `set`
//! actions.

use super::super::csum::{fold, pseudo_sum, sum, update128, update16, update32};
use super::super::{Masked, SetIpv6, L4};
use super::{
    fix_csum, get128, get16, get32, put128, put16, put32, set_ipv4, set_ipv6, set_ports, L4Csum,
    PacketState,
};
use super::{ExecContext, ETH_P_IP, ETH_P_IPV6};
use crate::conntrack::action::{self as ct, CtAction, CtDrop, IpPacket};
use crate::conntrack::nat::{Quoted, Rewrite};
use crate::conntrack::tuple::Family;
use crate::packet::parse::ipproto;

use crate::packet::PacketBuf;

/// The `ct` action on `pkt` (`ovs_ct_execute()`): whether the packet came out invalid; an
/// error drops it.
pub(super) fn conntrack<B: PacketBuf, C: ExecContext<B>>(
    a: &CtAction,
    pkt: &mut B,
    st: &mut PacketState<'_>,
    ctx: &C,
) -> Result<bool, CtDrop> {
    let table = ctx.conntrack().ok_or(CtDrop::NoTable)?;
    let family = match st.eth_type {
        ETH_P_IP => Family::V4,
        ETH_P_IPV6 => Family::V6,
        // Validation allows `ct` only on IP flows; anything else is not tracked.
        _ => return Ok(false),
    };
    let rw = {
        let mut p = IpPacket::of_frame(
            pkt.data(),
            family,
            st.l3_ofs,
            st.l4_ofs,
            st.ip_proto,
            st.frag,
        );
        p.checksum_trusted = pkt.offload().csum.is_some();
        let base = st.base.ct;
        let hash = st.ct_hash.take();
        let mut rw = Rewrite::default();
        ct::execute_nat(table, a, &p, st.md.ct.get_or_insert(base), hash, &mut rw)?;
        rw
    };
    if rw.is_some() {
        apply(pkt, st, &rw);
    }
    let invalid = st
        .md
        .ct
        .is_some_and(|m| m.state & crate::conntrack::state::INV != 0);
    Ok(invalid)
}

fn full<T: Copy + Default + core::ops::Not<Output = T>>(v: Option<T>) -> Masked<T> {
    match v {
        Some(v) => Masked {
            v,
            m: !T::default(),
        },
        None => Masked {
            v: T::default(),
            m: T::default(),
        },
    }
}

/// Applies `rw` to `pkt`, whose state is `st`.
fn apply<B: PacketBuf>(pkt: &mut B, st: &PacketState<'_>, rw: &Rewrite) {
    let csum = L4Csum::of(pkt);
    let none8 = Masked { v: 0u8, m: 0 };
    // IPv4 addresses live in the low 32 bits.
    #[allow(clippy::cast_possible_truncation)]
    let v4 = |a: Option<u128>| full(a.map(|a| a as u32));
    if rw.src.is_some() || rw.dst.is_some() {
        if rw.v6 {
            let s = SetIpv6 {
                src: full(rw.src),
                dst: full(rw.dst),
                label: Masked { v: 0, m: 0 },
                tclass: none8,
                hlimit: none8,
            };
            set_ipv6(pkt.data_mut(), st, csum, &s);
        } else {
            set_ipv4(
                pkt.data_mut(),
                st,
                csum,
                &v4(rw.src),
                &v4(rw.dst),
                &none8,
                &none8,
            );
        }
    }
    if rw.sport.is_some() || rw.dport.is_some() {
        let l4 = match st.ip_proto {
            ipproto::TCP => L4::Tcp,
            ipproto::UDP => L4::Udp,
            ipproto::SCTP => L4::Sctp,
            _ => return,
        };
        set_ports(
            pkt.data_mut(),
            st,
            csum,
            l4,
            &full(rw.sport),
            &full(rw.dport),
        );
    }
    if let Some(q) = &rw.quoted {
        translate_quoted(pkt.data_mut(), st, rw.v6, q);
    }
    if let Some(id) = rw.icmp_id {
        let o = st.l4_ofs;
        let d = pkt.data_mut();
        if st.l4_ok() && d.len() >= o + 8 {
            let old = get16(d, o + 4);
            put16(d, o + 4, id);
            fix_csum(d, o + 2, |c| update16(c, old, id));
        }
    }
}

/// Rewrites the packet an ICMP error quotes to `q` (its IP header with its checksum, its
/// ports or ICMP id with the checksum the quote holds), then recomputes the error's own
/// ICMP checksum, which covers the quote (`nf_nat_icmp_reply_translation()`).
fn translate_quoted(d: &mut [u8], st: &PacketState<'_>, v6: bool, q: &Quoted) {
    let l4 = st.l4_ofs;
    let o = l4 + 8;
    // The IP payload ends where the outer header says (not at Ethernet padding).
    let l3 = st.l3_ofs;
    let end = if v6 {
        d.get(l3 + 4..l3 + 6)
            .map(|b| l3 + 40 + usize::from(u16::from_be_bytes([b[0], b[1]])))
    } else {
        d.get(l3 + 2..l3 + 4)
            .map(|b| l3 + usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let Some(end) = end.filter(|&e| e <= d.len() && e >= o) else {
        return;
    };
    // IPv4 addresses live in the low 32 bits.
    #[allow(clippy::cast_possible_truncation)]
    let (proto, ql4, old_s, old_d) = if v6 {
        if end < o + 40 {
            return;
        }
        let (old_s, old_d) = (get128(d, o + 8), get128(d, o + 24));
        put128(d, o + 8, q.src);
        put128(d, o + 24, q.dst);
        (d[o + 6], o + 40, old_s, old_d)
    } else {
        let ihl = usize::from(d[o] & 0x0f) * 4;
        if ihl < 20 || end < o + ihl {
            return;
        }
        let (old_s, old_d) = (get32(d, o + 12), get32(d, o + 16));
        put32(d, o + 12, q.src as u32);
        put32(d, o + 16, q.dst as u32);
        let c = get16(d, o + 10);
        let c = update32(update32(c, old_s, q.src as u32), old_d, q.dst as u32);
        put16(d, o + 10, c);
        (d[o + 9], o + ihl, u128::from(old_s), u128::from(old_d))
    };
    match proto {
        ipproto::TCP | ipproto::UDP | ipproto::SCTP if end >= ql4 + 4 => {
            let (old_sp, old_dp) = (get16(d, ql4), get16(d, ql4 + 2));
            put16(d, ql4, q.sport);
            put16(d, ql4 + 2, q.dport);
            // A quoted UDP checksum (in the first 8 bytes) follows its pseudo header and
            // ports; a TCP one rarely fits the quote and is left as quoted.
            if proto == ipproto::UDP && end >= ql4 + 8 && get16(d, ql4 + 6) != 0 {
                fix_csum(d, ql4 + 6, |c| {
                    let c = update16(update16(c, old_sp, q.sport), old_dp, q.dport);
                    update128(update128(c, old_s, q.src), old_d, q.dst)
                });
            }
        }
        ipproto::ICMP | ipproto::ICMPV6 if end >= ql4 + 8 => {
            let old = get16(d, ql4 + 4);
            put16(d, ql4 + 4, q.sport);
            fix_csum(d, ql4 + 2, |c| update16(c, old, q.sport));
        }
        _ => {}
    }
    // The error's checksum, recomputed over the whole message (and ICMPv6's pseudo header).
    d[l4 + 2] = 0;
    d[l4 + 3] = 0;
    let body = sum(&d[l4..end], 0);
    let total = if v6 {
        let len = u32::try_from(end - l4).unwrap_or(0);
        body + pseudo_sum(&d[l3 + 8..l3 + 40], ipproto::ICMPV6, len)
    } else {
        body
    };
    put16(d, l4 + 2, !fold(total));
}
