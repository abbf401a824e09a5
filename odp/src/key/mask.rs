//! Masking: a key ANDed with a mask of the same shape, field by field.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{FlowKey, FlowMask, KeyStruct, NshKey, TunnelKey, VxlanOpts};

impl TunnelKey {
    /// Field-wise AND with a mask (absent mask fields wildcard the key's).
    pub fn and(&self, m: &TunnelKey) -> TunnelKey {
        fn o<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(f(x, y)),
                _ => None,
            }
        }
        let and_bytes = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| match (a, b) {
            (Some(x), Some(y)) => Some(
                x.iter()
                    .zip(y.iter().chain(std::iter::repeat(&0)))
                    .map(|(p, q)| p & q)
                    .collect(),
            ),
            _ => None,
        };
        TunnelKey {
            id: o(self.id, m.id, |a, b| a & b),
            ipv4_src: o(self.ipv4_src, m.ipv4_src, |a, b| {
                Ipv4Addr::from(u32::from(a) & u32::from(b))
            }),
            ipv4_dst: o(self.ipv4_dst, m.ipv4_dst, |a, b| {
                Ipv4Addr::from(u32::from(a) & u32::from(b))
            }),
            ipv6_src: o(self.ipv6_src, m.ipv6_src, |a, b| {
                Ipv6Addr::from(u128::from(a) & u128::from(b))
            }),
            ipv6_dst: o(self.ipv6_dst, m.ipv6_dst, |a, b| {
                Ipv6Addr::from(u128::from(a) & u128::from(b))
            }),
            tos: o(self.tos, m.tos, |a, b| a & b),
            ttl: o(self.ttl, m.ttl, |a, b| a & b),
            dont_fragment: self.dont_fragment && m.dont_fragment,
            csum: self.csum && m.csum,
            oam: self.oam && m.oam,
            geneve_opts: and_bytes(&self.geneve_opts, &m.geneve_opts),
            tp_src: o(self.tp_src, m.tp_src, |a, b| a & b),
            tp_dst: o(self.tp_dst, m.tp_dst, |a, b| a & b),
            vxlan_opts: match (&self.vxlan_opts, &m.vxlan_opts) {
                (Some(a), Some(b)) => Some(VxlanOpts {
                    gbp: o(a.gbp, b.gbp, |x, y| x & y),
                }),
                _ => None,
            },
            erspan_opts: and_bytes(&self.erspan_opts, &m.erspan_opts),
            ipv4_info_bridge: self.ipv4_info_bridge && m.ipv4_info_bridge,
        }
    }
}

impl NshKey {
    fn and(&self, m: &NshKey) -> NshKey {
        NshKey {
            base: match (&self.base, &m.base) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            md1: match (&self.md1, &m.md1) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            md2: match (&self.md2, &m.md2) {
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .zip(b.iter().chain(std::iter::repeat(&0)))
                        .map(|(x, y)| x & y)
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

impl FlowKey {
    /// Field-wise `self & mask`; attributes absent from the mask are
    /// dropped (they are wildcarded).
    pub fn and(&self, m: &FlowMask) -> FlowKey {
        fn s<T: KeyStruct>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.and(y)),
                _ => None,
            }
        }
        fn n<T: Copy + core::ops::BitAnd<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x & y),
                _ => None,
            }
        }
        FlowKey {
            encap: match (&self.encap, &m.encap) {
                (Some(a), Some(b)) => Some(Box::new(a.and(b))),
                _ => None,
            },
            priority: n(self.priority, m.priority),
            in_port: n(self.in_port, m.in_port),
            ethernet: s(&self.ethernet, &m.ethernet),
            vlan: n(self.vlan, m.vlan),
            eth_type: n(self.eth_type, m.eth_type),
            ipv4: s(&self.ipv4, &m.ipv4),
            ipv6: s(&self.ipv6, &m.ipv6),
            tcp: s(&self.tcp, &m.tcp),
            udp: s(&self.udp, &m.udp),
            icmp: s(&self.icmp, &m.icmp),
            icmpv6: s(&self.icmpv6, &m.icmpv6),
            arp: s(&self.arp, &m.arp),
            nd: s(&self.nd, &m.nd),
            skb_mark: n(self.skb_mark, m.skb_mark),
            tunnel: match (&self.tunnel, &m.tunnel) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            sctp: s(&self.sctp, &m.sctp),
            tcp_flags: n(self.tcp_flags, m.tcp_flags),
            dp_hash: n(self.dp_hash, m.dp_hash),
            recirc_id: n(self.recirc_id, m.recirc_id),
            mpls: match (&self.mpls, &m.mpls) {
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .zip(b.iter().chain(std::iter::repeat(&0)))
                        .map(|(x, y)| x & y)
                        .collect(),
                ),
                _ => None,
            },
            ct_state: n(self.ct_state, m.ct_state),
            ct_zone: n(self.ct_zone, m.ct_zone),
            ct_mark: n(self.ct_mark, m.ct_mark),
            ct_labels: match (&self.ct_labels, &m.ct_labels) {
                (Some(a), Some(b)) => {
                    let mut r = [0u8; 16];
                    for i in 0..16 {
                        r[i] = a[i] & b[i];
                    }
                    Some(r)
                }
                _ => None,
            },
            ct_orig_tuple_ipv4: s(&self.ct_orig_tuple_ipv4, &m.ct_orig_tuple_ipv4),
            ct_orig_tuple_ipv6: s(&self.ct_orig_tuple_ipv6, &m.ct_orig_tuple_ipv6),
            nsh: match (&self.nsh, &m.nsh) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            packet_type: n(self.packet_type, m.packet_type),
            nd_extensions: s(&self.nd_extensions, &m.nd_extensions),
            ipv6_exthdrs: n(self.ipv6_exthdrs, m.ipv6_exthdrs),
        }
    }
}
