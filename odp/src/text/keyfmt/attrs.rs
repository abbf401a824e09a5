//! Per-attribute bookkeeping for the formatter: which attributes a key holds
//! and in what order, their text names, one attribute taken alone, and
//! whether its mask is exact or a wildcard.

use crate::key::{attr, FlowKey, NshKey, TunnelKey};

/// Attribute types present in `k`, in emission order.
pub(crate) fn attr_order(k: &FlowKey) -> Vec<u16> {
    use attr::*;
    let mut v = Vec::new();
    let mut p = |c: bool, t: u16| {
        if c {
            v.push(t)
        }
    };
    p(k.recirc_id.is_some(), RECIRC_ID);
    p(k.dp_hash.is_some(), DP_HASH);
    p(k.priority.is_some(), PRIORITY);
    p(k.tunnel.is_some(), TUNNEL);
    p(k.in_port.is_some(), IN_PORT);
    p(k.skb_mark.is_some(), SKB_MARK);
    p(k.ct_state.is_some(), CT_STATE);
    p(k.ct_zone.is_some(), CT_ZONE);
    p(k.ct_mark.is_some(), CT_MARK);
    p(k.ct_labels.is_some(), CT_LABELS);
    p(k.ct_orig_tuple_ipv4.is_some(), CT_ORIG_TUPLE_IPV4);
    p(k.ct_orig_tuple_ipv6.is_some(), CT_ORIG_TUPLE_IPV6);
    p(k.packet_type.is_some(), PACKET_TYPE);
    p(k.ethernet.is_some(), ETHERNET);
    p(k.eth_type.is_some(), ETHERTYPE);
    p(k.vlan.is_some(), VLAN);
    p(k.encap.is_some(), ENCAP);
    p(k.ipv4.is_some(), IPV4);
    p(k.ipv6.is_some(), IPV6);
    p(k.ipv6_exthdrs.is_some(), IPV6_EXTHDRS);
    p(k.nsh.is_some(), NSH);
    p(k.arp.is_some(), ARP);
    p(k.mpls.is_some(), MPLS);
    p(k.tcp.is_some(), TCP);
    p(k.tcp_flags.is_some(), TCP_FLAGS);
    p(k.udp.is_some(), UDP);
    p(k.sctp.is_some(), SCTP);
    p(k.icmp.is_some(), ICMP);
    p(k.icmpv6.is_some(), ICMPV6);
    p(k.nd.is_some(), ND);
    p(k.nd_extensions.is_some(), ND_EXTENSIONS);
    v
}

/// The text name of a key attribute.
pub(crate) fn attr_name(t: u16) -> String {
    use attr::*;
    match t {
        ENCAP => "encap",
        PRIORITY => "skb_priority",
        IN_PORT => "in_port",
        ETHERNET => "eth",
        VLAN => "vlan",
        ETHERTYPE => "eth_type",
        IPV4 => "ipv4",
        IPV6 => "ipv6",
        TCP => "tcp",
        UDP => "udp",
        ICMP => "icmp",
        ICMPV6 => "icmpv6",
        ARP => "arp",
        ND => "nd",
        SKB_MARK => "skb_mark",
        TUNNEL => "tunnel",
        SCTP => "sctp",
        TCP_FLAGS => "tcp_flags",
        DP_HASH => "dp_hash",
        RECIRC_ID => "recirc_id",
        MPLS => "mpls",
        CT_STATE => "ct_state",
        CT_ZONE => "ct_zone",
        CT_MARK => "ct_mark",
        CT_LABELS => "ct_label",
        CT_ORIG_TUPLE_IPV4 => "ct_tuple4",
        CT_ORIG_TUPLE_IPV6 => "ct_tuple6",
        NSH => "nsh",
        PACKET_TYPE => "packet_type",
        ND_EXTENSIONS => "nd_ext",
        _ => return format!("key{t}"),
    }
    .to_owned()
}

/// Wire payload of one attribute of `k` (for generic checks).
pub(super) fn payload(k: &FlowKey, t: u16) -> Vec<u8> {
    let b = single(k, t).to_bytes();
    crate::nl::attrs(&b)
        .next()
        .and_then(|a| a.ok())
        .map(|a| a.payload.to_vec())
        .unwrap_or_default()
}

/// A key holding only attribute `t` of `k`.
pub(crate) fn single(k: &FlowKey, t: u16) -> FlowKey {
    use attr::*;
    let mut r = FlowKey::default();
    match t {
        ENCAP => r.encap = k.encap.clone(),
        PRIORITY => r.priority = k.priority,
        IN_PORT => r.in_port = k.in_port,
        ETHERNET => r.ethernet = k.ethernet,
        VLAN => r.vlan = k.vlan,
        ETHERTYPE => r.eth_type = k.eth_type,
        IPV4 => r.ipv4 = k.ipv4,
        IPV6 => r.ipv6 = k.ipv6,
        TCP => r.tcp = k.tcp,
        UDP => r.udp = k.udp,
        ICMP => r.icmp = k.icmp,
        ICMPV6 => r.icmpv6 = k.icmpv6,
        ARP => r.arp = k.arp,
        ND => r.nd = k.nd,
        SKB_MARK => r.skb_mark = k.skb_mark,
        TUNNEL => r.tunnel = k.tunnel.clone(),
        SCTP => r.sctp = k.sctp,
        TCP_FLAGS => r.tcp_flags = k.tcp_flags,
        DP_HASH => r.dp_hash = k.dp_hash,
        RECIRC_ID => r.recirc_id = k.recirc_id,
        MPLS => r.mpls = k.mpls.clone(),
        CT_STATE => r.ct_state = k.ct_state,
        CT_ZONE => r.ct_zone = k.ct_zone,
        CT_MARK => r.ct_mark = k.ct_mark,
        CT_LABELS => r.ct_labels = k.ct_labels,
        CT_ORIG_TUPLE_IPV4 => r.ct_orig_tuple_ipv4 = k.ct_orig_tuple_ipv4,
        CT_ORIG_TUPLE_IPV6 => r.ct_orig_tuple_ipv6 = k.ct_orig_tuple_ipv6,
        NSH => r.nsh = k.nsh.clone(),
        PACKET_TYPE => r.packet_type = k.packet_type,
        ND_EXTENSIONS => r.nd_extensions = k.nd_extensions,
        IPV6_EXTHDRS => r.ipv6_exthdrs = k.ipv6_exthdrs,
        _ => {}
    }
    r
}

/// The all-zero mask of attribute `t` shaped like `k`'s (OVS
/// `generate_all_wildcard_mask`).
pub(super) fn zero_like(k: &FlowKey, t: u16) -> FlowKey {
    use attr::*;
    let mut r = FlowKey::default();
    match t {
        ENCAP => r.encap = Some(Box::default()),
        PRIORITY => r.priority = Some(0),
        IN_PORT => r.in_port = Some(0),
        ETHERNET => r.ethernet = Some(Default::default()),
        VLAN => r.vlan = Some(0),
        ETHERTYPE => r.eth_type = Some(0),
        IPV4 => r.ipv4 = Some(Default::default()),
        IPV6 => r.ipv6 = Some(Default::default()),
        TCP => r.tcp = Some(Default::default()),
        UDP => r.udp = Some(Default::default()),
        ICMP => r.icmp = Some(Default::default()),
        ICMPV6 => r.icmpv6 = Some(Default::default()),
        ARP => r.arp = Some(Default::default()),
        ND => r.nd = Some(Default::default()),
        SKB_MARK => r.skb_mark = Some(0),
        TUNNEL => r.tunnel = Some(TunnelKey::default()),
        SCTP => r.sctp = Some(Default::default()),
        TCP_FLAGS => r.tcp_flags = Some(0),
        DP_HASH => r.dp_hash = Some(0),
        RECIRC_ID => r.recirc_id = Some(0),
        MPLS => r.mpls = Some(vec![0; k.mpls.as_ref().map_or(1, Vec::len)]),
        CT_STATE => r.ct_state = Some(0),
        CT_ZONE => r.ct_zone = Some(0),
        CT_MARK => r.ct_mark = Some(0),
        CT_LABELS => r.ct_labels = Some([0; 16]),
        CT_ORIG_TUPLE_IPV4 => r.ct_orig_tuple_ipv4 = Some(Default::default()),
        CT_ORIG_TUPLE_IPV6 => r.ct_orig_tuple_ipv6 = Some(Default::default()),
        NSH => r.nsh = Some(NshKey::default()),
        PACKET_TYPE => r.packet_type = Some(0),
        ND_EXTENSIONS => r.nd_extensions = Some(Default::default()),
        IPV6_EXTHDRS => r.ipv6_exthdrs = Some(0),
        _ => {}
    }
    r
}

pub(super) fn has(k: &FlowKey, t: u16) -> bool {
    attr_order(k).contains(&t)
}

pub(super) fn is_nested(t: u16) -> bool {
    matches!(t, attr::ENCAP | attr::TUNNEL | attr::NSH)
}

/// OVS `odp_mask_is_constant__` with `ones` = exact / zero = wildcard.
pub(super) fn mask_is_const(m: &FlowKey, t: u16, ones: bool) -> bool {
    use attr::*;
    let c: u8 = if ones { 0xff } else { 0 };
    let all = |b: &[u8]| b.iter().all(|&x| x == c);
    match t {
        ENCAP => false,
        TCP_FLAGS => {
            let v = m.tcp_flags.unwrap_or(0) & 0x0fff;
            v == if ones { 0x0fff } else { 0 }
        }
        IPV6 => {
            let Some(v) = m.ipv6 else { return !ones };
            let lab = if ones { 0x000f_ffff } else { 0 };
            v.label & 0x000f_ffff == lab
                && [v.proto, v.tclass, v.hlimit, v.frag]
                    .iter()
                    .all(|&x| x == c)
                && all(&v.src.octets())
                && all(&v.dst.octets())
        }
        ARP => all(&payload(m, t)[..22.min(payload(m, t).len())]),
        CT_ORIG_TUPLE_IPV4 => all(&payload(m, t)[..13.min(payload(m, t).len())]),
        CT_ORIG_TUPLE_IPV6 => all(&payload(m, t)[..37.min(payload(m, t).len())]),
        _ => all(&payload(m, t)),
    }
}
