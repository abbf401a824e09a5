//! The kernel's reply form of keys and masks (`ovs_nla_put_key()` and
//! `ovs_nla_put_mask()`): nested again, metadata zero-filled.

use super::{FlatKey, Tag, NO_PORT};
use crate::error::Result;
use crate::key::{eth_type as et, frag, FlowKey, TunnelKey};

/// The kernel's form of an *unmasked* key (flow identity without UFID):
/// validated, flattened and re-emitted with zero-filled metadata.
pub fn unmasked_key_form(key: &FlowKey) -> Result<FlowKey> {
    let f = FlatKey::from_key(key)?;
    let ex = f.key.ipv6_exthdrs.is_some();
    Ok(kernel_form(&f, &f, false, ex))
}

fn canon_tunnel(t: &TunnelKey) -> TunnelKey {
    let mut t = t.clone();
    if t.ipv4_src.is_some_and(|a| a.is_unspecified()) {
        t.ipv4_src = None;
    }
    if t.ipv4_dst.is_some_and(|a| a.is_unspecified()) {
        t.ipv4_dst = None;
    }
    if t.ipv6_src.is_some_and(|a| a.is_unspecified()) {
        t.ipv6_src = None;
    }
    if t.ipv6_dst.is_some_and(|a| a.is_unspecified()) {
        t.ipv6_dst = None;
    }
    if t.tos == Some(0) {
        t.tos = None;
    }
    if t.tp_src == Some(0) {
        t.tp_src = None;
    }
    if t.tp_dst == Some(0) {
        t.tp_dst = None;
    }
    if t.ttl.is_none() {
        t.ttl = Some(0);
    }
    t
}

/// Build the nested key/mask the kernel emits (`__ovs_nla_put_key()` in
/// `net/openvswitch/flow_netlink.c`): structure decided by
/// `sk` (the masked key), values taken from `out` (key or mask).
pub(super) fn kernel_form(sk: &FlatKey, out: &FlatKey, is_mask: bool, exthdrs: bool) -> FlowKey {
    let s = &sk.key;
    let o = &out.key;
    let mut r = FlowKey {
        recirc_id: Some(o.recirc_id.unwrap_or(0)),
        dp_hash: Some(o.dp_hash.unwrap_or(0)),
        priority: Some(o.priority.unwrap_or(0)),
        skb_mark: Some(o.skb_mark.unwrap_or(0)),
        ct_state: Some(o.ct_state.unwrap_or(0)),
        ct_zone: Some(o.ct_zone.unwrap_or(0)),
        ct_mark: Some(o.ct_mark.unwrap_or(0)),
        ct_labels: Some(o.ct_labels.unwrap_or([0; 16])),
        ..Default::default()
    };
    if s.tunnel.is_some() || is_mask {
        let mut t = o.tunnel.clone().unwrap_or_default();
        if is_mask {
            // Options are emitted with the key's length.
            if let Some(kg) = s.tunnel.as_ref().and_then(|x| x.geneve_opts.as_ref()) {
                let mut g = t.geneve_opts.take().unwrap_or_default();
                g.resize(kg.len(), 0);
                t.geneve_opts = Some(g);
            }
        }
        r.tunnel = Some(canon_tunnel(&t));
    }
    match s.in_port {
        Some(p) if p != NO_PORT => {
            let v = o.in_port.unwrap_or(0) & 0xffff;
            r.in_port = Some(if is_mask { 0xffff_0000 | v } else { v });
        }
        _ => {
            if is_mask && o.in_port.is_some_and(|v| v & 0xffff == 0xffff) {
                r.in_port = Some(u32::MAX);
            }
        }
    }
    if let Some(t) = &s.ct_orig_tuple_ipv4 {
        if t.proto != 0 {
            r.ct_orig_tuple_ipv4 = Some(o.ct_orig_tuple_ipv4.unwrap_or_default());
        }
    }
    if let Some(t) = &s.ct_orig_tuple_ipv6 {
        if t.proto != 0 {
            r.ct_orig_tuple_ipv6 = Some(o.ct_orig_tuple_ipv6.unwrap_or_default());
        }
    }
    let ethernet = s.ethernet.is_some();
    // Build innermost content first, then wrap it in the VLAN levels.
    let mut inner = FlowKey::default();
    let mut truncated = false;
    if ethernet {
        r.ethernet = Some(o.ethernet.unwrap_or_default());
        if sk.tags.iter().any(|t| t.tci == 0) {
            truncated = true;
        }
    }
    let ety = s.eth_type;
    if !truncated {
        if ethernet && ety.is_none() {
            if is_mask {
                inner.eth_type = Some(0xffff);
            }
        } else {
            inner.eth_type = Some(if is_mask { 0xffff } else { ety.unwrap_or(0) });
            fill_l3(s, o, &mut inner, exthdrs);
        }
    }
    // Wrap: tags outermost first; each level = ETHERTYPE(tpid), VLAN, ENCAP.
    let tags: Vec<(Tag, Tag)> = sk
        .tags
        .iter()
        .zip(out.tags.iter().chain(std::iter::repeat(&Tag::default())))
        .map(|(a, b)| (*a, *b))
        .collect();
    let mut cur = inner;
    for (_ktag, otag) in tags.iter().rev() {
        let level = FlowKey {
            eth_type: Some(if is_mask { 0xffff } else { otag.tpid }),
            vlan: Some(otag.tci),
            encap: Some(Box::new(cur)),
            ..Default::default()
        };
        cur = level;
    }
    r.eth_type = cur.eth_type;
    r.vlan = cur.vlan;
    r.encap = cur.encap;
    r.ipv4 = cur.ipv4;
    r.ipv6 = cur.ipv6;
    r.ipv6_exthdrs = cur.ipv6_exthdrs;
    r.nsh = cur.nsh;
    r.arp = cur.arp;
    r.mpls = cur.mpls;
    r.tcp = cur.tcp;
    r.tcp_flags = cur.tcp_flags;
    r.udp = cur.udp;
    r.sctp = cur.sctp;
    r.icmp = cur.icmp;
    r.icmpv6 = cur.icmpv6;
    r.nd = cur.nd;
    r
}

fn fill_l3(s: &FlowKey, o: &FlowKey, r: &mut FlowKey, exthdrs: bool) {
    let mut ip = None;
    match s.eth_type {
        Some(et::IPV4) => {
            r.ipv4 = Some(o.ipv4.unwrap_or_default());
            ip = s.ipv4.map(|v| (v.proto, v.frag, false));
        }
        Some(et::IPV6) => {
            r.ipv6 = Some(o.ipv6.unwrap_or_default());
            if exthdrs {
                r.ipv6_exthdrs = Some(o.ipv6_exthdrs.unwrap_or(0));
            }
            ip = s.ipv6.map(|v| (v.proto, v.frag, true));
        }
        Some(et::NSH) => r.nsh = Some(o.nsh.clone().unwrap_or_default()),
        Some(et::ARP) | Some(et::RARP) => r.arp = Some(o.arp.unwrap_or_default()),
        Some(et::MPLS) | Some(et::MPLS_MCAST) => {
            let n = s.mpls.as_ref().map_or(1, |v| v.len());
            let mut v = o.mpls.clone().unwrap_or_default();
            v.resize(n, 0);
            r.mpls = Some(v);
        }
        _ => {}
    }
    if let Some((proto, fr, v6)) = ip {
        if fr == frag::LATER {
            return;
        }
        match proto {
            6 => {
                r.tcp = Some(o.tcp.unwrap_or_default());
                r.tcp_flags = Some(o.tcp_flags.unwrap_or(0));
            }
            17 => r.udp = Some(o.udp.unwrap_or_default()),
            132 => r.sctp = Some(o.sctp.unwrap_or_default()),
            1 if !v6 => r.icmp = Some(o.icmp.unwrap_or_default()),
            58 if v6 => {
                r.icmpv6 = Some(o.icmpv6.unwrap_or_default());
                let t = s.icmpv6.map_or(0, |i| i.ty);
                if t == 135 || t == 136 {
                    r.nd = Some(o.nd.unwrap_or_default());
                }
            }
            _ => {}
        }
    }
}
