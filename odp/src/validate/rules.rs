//! The kernel's rules on attribute values, and `match_validate()`'s: which
//! attributes a key needs for its protocol and which mask attributes it allows.

use super::NO_PORT;
use crate::error::{Error, Result};
use crate::key::{attr, eth_type as et, frag, FlowKey, TunnelKey};

fn check_tunnel(t: &TunnelKey, is_mask: bool) -> Result<()> {
    let v4 = t.ipv4_src.is_some() || t.ipv4_dst.is_some();
    let v6 = t.ipv6_src.is_some() || t.ipv6_dst.is_some();
    if v4 && v6 {
        return Err(Error::Invalid("mixed IPv4 and IPv6 tunnel attributes"));
    }
    let nopts = [
        t.geneve_opts.is_some(),
        t.vxlan_opts.is_some(),
        t.erspan_opts.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if nopts > 1 {
        return Err(Error::Invalid("multiple tunnel metadata blocks"));
    }
    if !is_mask {
        let dst_ok = match (t.ipv4_dst, t.ipv6_dst) {
            (Some(a), _) => !a.is_unspecified(),
            (_, Some(a)) => !a.is_unspecified(),
            _ => false,
        };
        if !dst_ok {
            return Err(Error::Invalid("tunnel destination address missing or zero"));
        }
        if t.ttl.is_none() {
            return Err(Error::Invalid("tunnel TTL not specified"));
        }
    }
    Ok(())
}

pub(super) fn check_values(k: &FlowKey, is_mask: bool) -> Result<()> {
    if k.packet_type.is_some() {
        return Err(Error::UnknownAttr {
            what: "flow key",
            ty: attr::PACKET_TYPE,
        });
    }
    if k.nd_extensions.is_some() {
        return Err(Error::UnknownAttr {
            what: "flow key",
            ty: attr::ND_EXTENSIONS,
        });
    }
    if let Some(v) = &k.ipv6 {
        if v.label & 0xfff0_0000 != 0 {
            return Err(Error::Invalid("IPv6 flow label"));
        }
    }
    if let Some(s) = k.ct_state {
        if s & !crate::key::ct_state::SUPPORTED != 0 {
            return Err(Error::Invalid("ct_state flags"));
        }
    }
    if let Some(t) = &k.tunnel {
        check_tunnel(t, is_mask)?;
    }
    if !is_mask {
        if let Some(p) = k.in_port {
            if p >= NO_PORT {
                return Err(Error::Invalid("in_port"));
            }
        }
        if let Some(t) = k.eth_type {
            if t < 0x0600 {
                return Err(Error::Invalid("EtherType below 0x0600"));
            }
        }
        if k.ipv4.is_some_and(|v| v.frag > frag::LATER)
            || k.ipv6.is_some_and(|v| v.frag > frag::LATER)
        {
            return Err(Error::Invalid("frag type"));
        }
        if k.arp.is_some_and(|a| a.op & 0xff00 != 0) {
            return Err(Error::Invalid("ARP opcode"));
        }
    }
    if let Some(e) = &k.encap {
        check_values(e, is_mask)?;
    }
    Ok(())
}

pub(super) fn check_match(k: &FlowKey, m: &FlowKey) -> Result<()> {
    let mask_et_exact = m.eth_type == Some(0xffff);
    let ety = k.eth_type;
    let mut need: Vec<(bool, &'static str)> = Vec::new();
    // Protocol attributes present in the mask, each cleared once allowed.
    let mut allow_ipv4 = false;
    let mut allow_ipv6 = false;
    let mut allow_arp = false;
    let mut allow_mpls = false;
    let mut allow_nsh = false;
    let mut allow_l4 = [false; 5]; // tcp, udp, sctp, icmp, icmpv6
    let mut allow_nd = false;
    let mut allow_ct6 = false;
    let mut allow_ct4 = false;
    let l4 = |proto: u8,
              pm: u8,
              v6: bool,
              need: &mut Vec<(bool, &'static str)>,
              allow: &mut [bool; 5]| {
        let exact = pm == 0xff;
        match proto {
            6 => {
                need.push((k.tcp.is_some(), "tcp"));
                need.push((k.tcp_flags.is_some(), "tcp_flags"));
                allow[0] = exact;
            }
            17 => {
                need.push((k.udp.is_some(), "udp"));
                allow[1] = exact;
            }
            132 => {
                need.push((k.sctp.is_some(), "sctp"));
                allow[2] = exact;
            }
            1 if !v6 => {
                need.push((k.icmp.is_some(), "icmp"));
                allow[3] = exact;
            }
            58 if v6 => {
                need.push((k.icmpv6.is_some(), "icmpv6"));
                allow[4] = exact;
            }
            _ => {}
        }
    };
    match ety {
        Some(et::ARP) | Some(et::RARP) => {
            need.push((k.arp.is_some(), "arp"));
            allow_arp = mask_et_exact;
        }
        Some(et::MPLS) | Some(et::MPLS_MCAST) => {
            need.push((k.mpls.is_some(), "mpls"));
            allow_mpls = mask_et_exact;
        }
        Some(et::IPV4) => {
            need.push((k.ipv4.is_some(), "ipv4"));
            allow_ipv4 = mask_et_exact;
            allow_ct4 = mask_et_exact;
            let v = k.ipv4.unwrap_or_default();
            if v.frag != frag::LATER {
                l4(
                    v.proto,
                    m.ipv4.map_or(0, |x| x.proto),
                    false,
                    &mut need,
                    &mut allow_l4,
                );
            }
        }
        Some(et::IPV6) => {
            need.push((k.ipv6.is_some(), "ipv6"));
            allow_ipv6 = mask_et_exact;
            allow_ct6 = mask_et_exact;
            let v = k.ipv6.unwrap_or_default();
            if v.frag != frag::LATER {
                l4(
                    v.proto,
                    m.ipv6.map_or(0, |x| x.proto),
                    true,
                    &mut need,
                    &mut allow_l4,
                );
                if v.proto == 58 {
                    let t = k.icmpv6.map_or(0, |i| i.ty);
                    if t == 135 || t == 136 {
                        need.push((k.nd.is_some(), "nd"));
                        allow_ct6 = false;
                        allow_nd = m.icmpv6.is_some_and(|i| i.ty == 0xff);
                    }
                }
            }
        }
        Some(et::NSH) => {
            need.push((k.nsh.is_some(), "nsh"));
            allow_nsh = mask_et_exact;
        }
        _ => {}
    }
    for (ok, what) in need {
        if !ok {
            return Err(Error::MissingKey(what));
        }
    }
    // Mask attributes: allowed if in the key (generic) or per the rules above.
    let chk = |present_mask: bool, in_key: bool, allowed: bool, what: &'static str| -> Result<()> {
        if present_mask && !(in_key && allowed) {
            return Err(Error::UnexpectedMask(what));
        }
        Ok(())
    };
    chk(m.ipv4.is_some(), k.ipv4.is_some(), allow_ipv4, "ipv4")?;
    chk(m.ipv6.is_some(), k.ipv6.is_some(), allow_ipv6, "ipv6")?;
    chk(m.arp.is_some(), k.arp.is_some(), allow_arp, "arp")?;
    chk(m.mpls.is_some(), k.mpls.is_some(), allow_mpls, "mpls")?;
    chk(m.nsh.is_some(), k.nsh.is_some(), allow_nsh, "nsh")?;
    chk(m.tcp.is_some(), k.tcp.is_some(), allow_l4[0], "tcp")?;
    chk(
        m.tcp_flags.is_some(),
        k.tcp_flags.is_some(),
        allow_l4[0],
        "tcp_flags",
    )?;
    chk(m.udp.is_some(), k.udp.is_some(), allow_l4[1], "udp")?;
    chk(m.sctp.is_some(), k.sctp.is_some(), allow_l4[2], "sctp")?;
    chk(m.icmp.is_some(), k.icmp.is_some(), allow_l4[3], "icmp")?;
    chk(
        m.icmpv6.is_some(),
        k.icmpv6.is_some(),
        allow_l4[4],
        "icmpv6",
    )?;
    chk(m.nd.is_some(), k.nd.is_some(), allow_nd, "nd")?;
    chk(
        m.ct_orig_tuple_ipv4.is_some(),
        k.ct_orig_tuple_ipv4.is_some(),
        allow_ct4,
        "ct_tuple4",
    )?;
    chk(
        m.ct_orig_tuple_ipv6.is_some(),
        k.ct_orig_tuple_ipv6.is_some(),
        allow_ct6,
        "ct_tuple6",
    )?;
    let generic = [
        (m.priority.is_some(), k.priority.is_some(), "priority"),
        (m.ethernet.is_some(), k.ethernet.is_some(), "ethernet"),
        (m.skb_mark.is_some(), k.skb_mark.is_some(), "skb_mark"),
        (m.dp_hash.is_some(), k.dp_hash.is_some(), "dp_hash"),
        (m.recirc_id.is_some(), k.recirc_id.is_some(), "recirc_id"),
        (m.ct_state.is_some(), k.ct_state.is_some(), "ct_state"),
        (m.ct_zone.is_some(), k.ct_zone.is_some(), "ct_zone"),
        (m.ct_mark.is_some(), k.ct_mark.is_some(), "ct_mark"),
        (m.ct_labels.is_some(), k.ct_labels.is_some(), "ct_labels"),
        (
            m.ipv6_exthdrs.is_some(),
            k.ipv6_exthdrs.is_some(),
            "ipv6_exthdrs",
        ),
    ];
    for (pm, pk, what) in generic {
        chk(pm, pk, true, what)?;
    }
    if let (Some(kt), Some(mt)) = (&k.tunnel, &m.tunnel) {
        if let (Some(kg), Some(mg)) = (&kt.geneve_opts, &mt.geneve_opts) {
            if kg.len() != mg.len() {
                return Err(Error::Invalid("geneve option mask length"));
            }
        }
    }
    Ok(())
}
