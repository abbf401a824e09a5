//! Key to wire, in the kernel's attribute order (`__ovs_nla_put_key()` and
//! `ip_tun_to_nlattr()` in `net/openvswitch/flow_netlink.c`).

use super::{attr, nsh_attr, tun_attr, FlowKey, KeyStruct, NshKey, TunnelKey, OVS_VXLAN_EXT_GBP};
use crate::nl::AttrWriter;

impl TunnelKey {
    /// Emit the nest contents in the kernel's order (`ip_tun_to_nlattr`).
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        if let Some(id) = self.id {
            w.be64(tun_attr::ID, id);
        }
        if self.ipv4_info_bridge {
            // The kernel puts this flag right after the id (bridge-mode
            // tunnel info carries nothing else; other fields, if present,
            // still follow so decoding stays lossless).
            w.flag(tun_attr::IPV4_INFO_BRIDGE);
        }
        if let Some(a) = self.ipv4_src {
            w.put(tun_attr::IPV4_SRC, &a.octets());
        }
        if let Some(a) = self.ipv4_dst {
            w.put(tun_attr::IPV4_DST, &a.octets());
        }
        if let Some(a) = self.ipv6_src {
            w.put(tun_attr::IPV6_SRC, &a.octets());
        }
        if let Some(a) = self.ipv6_dst {
            w.put(tun_attr::IPV6_DST, &a.octets());
        }
        if let Some(v) = self.tos {
            w.u8(tun_attr::TOS, v);
        }
        if let Some(v) = self.ttl {
            w.u8(tun_attr::TTL, v);
        }
        if self.dont_fragment {
            w.flag(tun_attr::DONT_FRAGMENT);
        }
        if self.csum {
            w.flag(tun_attr::CSUM);
        }
        if let Some(v) = self.tp_src {
            w.be16(tun_attr::TP_SRC, v);
        }
        if let Some(v) = self.tp_dst {
            w.be16(tun_attr::TP_DST, v);
        }
        if self.oam {
            w.flag(tun_attr::OAM);
        }
        if let Some(g) = &self.geneve_opts {
            w.put(tun_attr::GENEVE_OPTS, g);
        }
        if let Some(v) = &self.vxlan_opts {
            w.nest(tun_attr::VXLAN_OPTS, |w| {
                if let Some(g) = v.gbp {
                    w.u32(OVS_VXLAN_EXT_GBP, g);
                }
            });
        }
        if let Some(e) = &self.erspan_opts {
            w.put(tun_attr::ERSPAN_OPTS, e);
        }
    }
}

impl NshKey {
    /// Emit the nest contents.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        if let Some(b) = &self.base {
            w.put(nsh_attr::BASE, &b.to_bytes());
        }
        if let Some(b) = &self.md1 {
            w.put(nsh_attr::MD1, &b.to_bytes());
        }
        if let Some(b) = &self.md2 {
            w.put(nsh_attr::MD2, b);
        }
    }
    /// Emit value ‖ mask per attribute (SET_MASKED form).
    pub fn emit_masked(&self, mask: &NshKey, w: &mut AttrWriter<'_>) {
        if let Some(b) = &self.base {
            let mut v = b.to_bytes();
            v.extend(mask.base.unwrap_or_default().to_bytes());
            w.put(nsh_attr::BASE, &v);
        }
        if let Some(b) = &self.md1 {
            let mut v = b.to_bytes();
            v.extend(mask.md1.unwrap_or_default().to_bytes());
            w.put(nsh_attr::MD1, &v);
        }
        if let Some(b) = &self.md2 {
            let mut v = b.clone();
            let m = mask.md2.clone().unwrap_or_default();
            v.extend((0..b.len()).map(|i| m.get(i).copied().unwrap_or(0)));
            w.put(nsh_attr::MD2, &v);
        }
    }
}

impl FlowKey {
    /// Emit the attributes in the kernel's order (`__ovs_nla_put_key()` in
    /// `net/openvswitch/flow_netlink.c`), without an outer nest.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        use attr::*;
        if let Some(v) = self.recirc_id {
            w.u32(RECIRC_ID, v);
        }
        if let Some(v) = self.dp_hash {
            w.u32(DP_HASH, v);
        }
        if let Some(v) = self.priority {
            w.u32(PRIORITY, v);
        }
        if let Some(t) = &self.tunnel {
            w.nest(TUNNEL, |w| t.emit(w));
        }
        if let Some(v) = self.in_port {
            w.u32(IN_PORT, v);
        }
        if let Some(v) = self.skb_mark {
            w.u32(SKB_MARK, v);
        }
        if let Some(v) = self.ct_state {
            w.u32(CT_STATE, v);
        }
        if let Some(v) = self.ct_zone {
            w.u16(CT_ZONE, v);
        }
        if let Some(v) = self.ct_mark {
            w.u32(CT_MARK, v);
        }
        if let Some(v) = &self.ct_labels {
            w.put(CT_LABELS, v);
        }
        if let Some(v) = &self.ct_orig_tuple_ipv4 {
            w.put_with(CT_ORIG_TUPLE_IPV4, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.ct_orig_tuple_ipv6 {
            w.put_with(CT_ORIG_TUPLE_IPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.packet_type {
            w.be32(PACKET_TYPE, v);
        }
        if let Some(v) = &self.ethernet {
            w.put_with(ETHERNET, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.eth_type {
            w.be16(ETHERTYPE, v);
        }
        if let Some(v) = self.vlan {
            w.be16(VLAN, v);
        }
        if let Some(e) = &self.encap {
            w.nest(ENCAP, |w| e.emit(w));
        }
        if let Some(v) = &self.ipv4 {
            w.put_with(IPV4, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.ipv6 {
            w.put_with(IPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.ipv6_exthdrs {
            w.u16(IPV6_EXTHDRS, v);
        }
        if let Some(v) = &self.nsh {
            w.nest(NSH, |w| v.emit(w));
        }
        if let Some(v) = &self.arp {
            w.put_with(ARP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.mpls {
            w.put_with(MPLS, v.len() * 4, |b| {
                for l in v {
                    b.extend_from_slice(&l.to_be_bytes());
                }
            });
        }
        if let Some(v) = &self.tcp {
            w.put_with(TCP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.tcp_flags {
            w.be16(TCP_FLAGS, v);
        }
        if let Some(v) = &self.udp {
            w.put_with(UDP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.sctp {
            w.put_with(SCTP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.icmp {
            w.put_with(ICMP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.icmpv6 {
            w.put_with(ICMPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.nd {
            w.put_with(ND, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.nd_extensions {
            w.put_with(ND_EXTENSIONS, v.wire_len(), |b| v.encode(b));
        }
    }

    /// Emit into a fresh byte vector (attributes only).
    ///
    /// An attribute over 65535 bytes cannot be encoded and is written with
    /// `nla_len` 0. That happens only when the whole result is over 65535
    /// bytes, so putting it into an attribute fails with `EMSGSIZE`
    /// ([`Error::TooLarge`](crate::Error::TooLarge)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let mut w = AttrWriter::new(&mut v);
        self.emit(&mut w);
        v
    }
}
