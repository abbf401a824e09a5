//! The effective mask: all-zero attributes dropped, the exact mask of a
//! request without one, and applying it while keeping the key's structure.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::NO_PORT;
use crate::key::{FlowKey, KeyStruct, NshKey, TunnelKey, VxlanOpts};

pub(super) fn zero_attr(m: &mut FlowKey) {
    fn z<T: KeyStruct>(o: &mut Option<T>) {
        if o.as_ref().is_some_and(|v| v.is_zero()) {
            *o = None;
        }
    }
    fn zn<T: Default + PartialEq>(o: &mut Option<T>) {
        if o.as_ref().is_some_and(|v| *v == T::default()) {
            *o = None;
        }
    }
    zn(&mut m.priority);
    zn(&mut m.in_port);
    z(&mut m.ethernet);
    zn(&mut m.vlan);
    zn(&mut m.eth_type);
    z(&mut m.ipv4);
    z(&mut m.ipv6);
    z(&mut m.tcp);
    z(&mut m.udp);
    z(&mut m.icmp);
    z(&mut m.icmpv6);
    z(&mut m.arp);
    z(&mut m.nd);
    zn(&mut m.skb_mark);
    if m.tunnel
        .as_ref()
        .is_some_and(|t| *t == TunnelKey::default())
    {
        m.tunnel = None;
    }
    z(&mut m.sctp);
    zn(&mut m.tcp_flags);
    zn(&mut m.dp_hash);
    zn(&mut m.recirc_id);
    if m.mpls.as_ref().is_some_and(|v| v.iter().all(|&x| x == 0)) {
        m.mpls = None;
    }
    zn(&mut m.ct_state);
    zn(&mut m.ct_zone);
    zn(&mut m.ct_mark);
    zn(&mut m.ct_labels);
    z(&mut m.ct_orig_tuple_ipv4);
    z(&mut m.ct_orig_tuple_ipv6);
    if m.nsh.as_ref().is_some_and(|n| *n == NshKey::default()) {
        m.nsh = None;
    }
    zn(&mut m.packet_type);
    z(&mut m.nd_extensions);
    zn(&mut m.ipv6_exthdrs);
    if let Some(e) = &mut m.encap {
        zero_attr(e);
        if e.is_empty() {
            m.encap = None;
        }
    }
}
fn exact_tunnel(t: &TunnelKey) -> TunnelKey {
    let v6 = t.ipv6_src.is_some() || t.ipv6_dst.is_some();
    TunnelKey {
        id: Some(u64::MAX),
        ipv4_src: (!v6).then_some(Ipv4Addr::BROADCAST),
        ipv4_dst: (!v6).then_some(Ipv4Addr::BROADCAST),
        ipv6_src: v6.then_some(Ipv6Addr::from(u128::MAX)),
        ipv6_dst: v6.then_some(Ipv6Addr::from(u128::MAX)),
        tos: Some(0xff),
        ttl: Some(0xff),
        dont_fragment: true,
        csum: true,
        oam: true,
        geneve_opts: t.geneve_opts.as_ref().map(|g| vec![0xff; g.len()]),
        tp_src: Some(0xffff),
        tp_dst: Some(0xffff),
        vxlan_opts: t.vxlan_opts.map(|v| VxlanOpts {
            gbp: v.gbp.map(|_| u32::MAX),
        }),
        erspan_opts: t.erspan_opts.as_ref().map(|g| vec![0xff; g.len()]),
        ipv4_info_bridge: false,
    }
}

pub(super) fn exact_mask(k: &FlowKey) -> FlowKey {
    fn o<T: KeyStruct>(a: &Option<T>) -> Option<T> {
        a.as_ref().map(|_| T::ones())
    }
    FlowKey {
        encap: None,
        priority: k.priority.map(|_| u32::MAX),
        in_port: k.in_port.map(|_| u32::MAX),
        ethernet: o(&k.ethernet),
        vlan: None,
        eth_type: k.eth_type.map(|_| 0xffff),
        ipv4: o(&k.ipv4),
        ipv6: o(&k.ipv6),
        tcp: o(&k.tcp),
        udp: o(&k.udp),
        icmp: o(&k.icmp),
        icmpv6: o(&k.icmpv6),
        arp: o(&k.arp),
        nd: o(&k.nd),
        skb_mark: k.skb_mark.map(|_| u32::MAX),
        tunnel: k.tunnel.as_ref().map(exact_tunnel),
        sctp: o(&k.sctp),
        tcp_flags: k.tcp_flags.map(|_| 0xffff),
        dp_hash: k.dp_hash.map(|_| u32::MAX),
        recirc_id: k.recirc_id.map(|_| u32::MAX),
        mpls: k.mpls.as_ref().map(|v| vec![u32::MAX; v.len()]),
        ct_state: k.ct_state.map(|_| crate::key::ct_state::SUPPORTED),
        ct_zone: k.ct_zone.map(|_| 0xffff),
        ct_mark: k.ct_mark.map(|_| u32::MAX),
        ct_labels: k.ct_labels.map(|_| [0xff; 16]),
        ct_orig_tuple_ipv4: o(&k.ct_orig_tuple_ipv4),
        ct_orig_tuple_ipv6: o(&k.ct_orig_tuple_ipv6),
        nsh: k.nsh.as_ref().map(|n| NshKey {
            base: o(&n.base),
            md1: o(&n.md1),
            md2: n.md2.as_ref().map(|m| vec![0xff; m.len()]),
        }),
        packet_type: None,
        nd_extensions: None,
        ipv6_exthdrs: k.ipv6_exthdrs.map(|_| 0xffff),
    }
}

pub(super) fn mask_flat(k: &FlowKey, m: &FlowKey) -> FlowKey {
    // Attributes present in the key stay present in the masked key (zeroed
    // when wildcarded), like the kernel's fixed sw_flow_key: e.g. the
    // Ethernet-vs-L3 nature and the protocol structure survive masking.
    let mut full = m.clone();
    fill_zero(&mut full, k);
    let mut r = k.and(&full);
    // ETHERTYPE is always exact.
    r.eth_type = k.eth_type;
    // in_port is 16 bits inside the kernel, NO_PORT when absent; the masked
    // value is NO_PORT ("no port") only if the mask matches it exactly.
    let kp = k.in_port.unwrap_or(NO_PORT) & 0xffff;
    let mp = m.in_port.unwrap_or(0) & 0xffff;
    let p = kp & mp;
    r.in_port = if p == NO_PORT { None } else { Some(p) };
    r
}

macro_rules! fill_fields {
    ($m:expr, $k:expr, $($f:ident),*) => {
        $(
            if $m.$f.is_none() && $k.$f.is_some() {
                $m.$f = Some(Default::default());
            }
        )*
    };
}

fn fill_zero(m: &mut FlowKey, k: &FlowKey) {
    fill_fields!(
        m,
        k,
        priority,
        in_port,
        ethernet,
        ipv4,
        ipv6,
        tcp,
        udp,
        icmp,
        icmpv6,
        arp,
        nd,
        skb_mark,
        sctp,
        tcp_flags,
        dp_hash,
        recirc_id,
        ct_state,
        ct_zone,
        ct_mark,
        ct_labels,
        ct_orig_tuple_ipv4,
        ct_orig_tuple_ipv6,
        nsh,
        packet_type,
        nd_extensions,
        ipv6_exthdrs
    );
    if m.tunnel.is_none() {
        if let Some(t) = &k.tunnel {
            // Keep the address family (always exact) with zeroed values.
            m.tunnel = Some(TunnelKey {
                ipv4_src: t.ipv4_src.map(|_| Ipv4Addr::UNSPECIFIED),
                ipv4_dst: t.ipv4_dst.map(|_| Ipv4Addr::UNSPECIFIED),
                ipv6_src: t.ipv6_src.map(|_| Ipv6Addr::UNSPECIFIED),
                ipv6_dst: t.ipv6_dst.map(|_| Ipv6Addr::UNSPECIFIED),
                ..Default::default()
            });
        }
    }
    if m.mpls.is_none() {
        if let Some(v) = &k.mpls {
            m.mpls = Some(vec![0; v.len()]);
        }
    }
}
