//! The `ct` action in the executor: the packet as the tracker sees it, the tracker's
//! verdict into the packet's metadata, and the rewrite of a NAT mapping, with the same field
//! writers (and incremental checksum updates, partial checksums left partial) as `set`
//! actions.

use super::super::csum::update16;
use super::super::{Masked, SetIpv6, L4};
use super::{fix_csum, get16, put16, set_ipv4, set_ipv6, set_ports, L4Csum, PacketState};
use super::{ExecContext, ETH_P_IP, ETH_P_IPV6};
use crate::conntrack::action::{self as ct, CtAction, CtDrop, IpPacket};
use crate::conntrack::nat::Rewrite;
use crate::conntrack::tuple::Family;
use crate::packet::parse::ipproto;

/// `OVS_CS_F_INVALID`.
const INVALID: u8 = 0x10;
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
        let p = IpPacket::of_frame(
            pkt.data(),
            family,
            st.l3_ofs,
            st.l4_ofs,
            st.ip_proto,
            st.frag,
        );
        let base = st.base.ct;
        let hash = st.ct_hash.take();
        let mut rw = Rewrite::default();
        ct::execute_nat(table, a, &p, st.md.ct.get_or_insert(base), hash, &mut rw)?;
        rw
    };
    if rw.is_some() {
        apply(pkt, st, &rw);
    }
    let invalid = st.md.ct.is_some_and(|m| m.state & INVALID != 0);
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
