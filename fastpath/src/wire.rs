//! Flow keys and masks between the wire (`odp` netlink keys) and the fast path
//! ([`FlowKey`] words), in both directions.
//!
//! Wire → fast serves FLOW NEW/SET (a validated [`FlowMatch`] becomes a fast-path key and
//! mask) and PACKET EXECUTE (the packet's metadata). Fast → wire builds the keys of MISS and
//! ACTION upcalls in the kernel's form, metadata always present and VLANs as ENCAP nests
//! (`net/openvswitch/flow_netlink.c`, `__ovs_nla_put_key()`), and the keys and masks of the
//! flows the standalone bridge installs. Replies to flow requests carry the bytes the client
//! sent, as the kernel's do, so they do not come through here.
//!
//! What the fast path cannot represent (Geneve/ERSPAN tunnel options, NSH MD2) is refused
//! with EOPNOTSUPP rather than silently matched differently.

use std::net::{Ipv4Addr, Ipv6Addr};

use odp::key::{
    ArpKey, CtTupleIpv4, CtTupleIpv6, EthernetKey, FlowKey as OKey, IcmpKey, Ipv4Key, Ipv6Key,
    NdKey, NshBase, NshKey, NshMd1, PortsKey, TunnelKey, VxlanOpts,
};
use odp::validate::{FlatKey, FlowMatch};

use crate::flow::key::{FlowKey, IN_PORT_NONE, MAC_PROTO_ETHERNET, MAC_PROTO_NONE};
use crate::packet::parse::{CtMeta, TunnelMeta, ETH_TYPE_802_2};
use crate::packet::Metadata;
use crate::Error;

/// Kernel `TUNNEL_*` flag bits as kept in [`FlowKey::tun_flags`].
pub mod tun_flags {
    /// Checksum present.
    pub const CSUM: u16 = 0x0001;
    /// Key (tunnel id) present.
    pub const KEY: u16 = 0x0004;
    /// Don't fragment.
    pub const DONT_FRAGMENT: u16 = 0x0100;
    /// OAM frame.
    pub const OAM: u16 = 0x0200;
}

/// A port number as the fast path keeps it: below `DP_MAX_PORTS` (65535), as the kernel
/// requires of a key's or an EXECUTE's in_port (`net/openvswitch/flow_netlink.c`,
/// `metadata_from_nlattrs()`).
fn port16(p: u32) -> Result<u16, Error> {
    u16::try_from(p)
        .ok()
        .filter(|&p| p != IN_PORT_NONE)
        .ok_or(Error::Invalid("in_port"))
}

fn ip4(a: Ipv4Addr) -> u32 {
    u32::from(a)
}
fn ip6(a: Ipv6Addr) -> u128 {
    u128::from(a)
}

/// Writes the fields `src` carries into `dst` (flat: no VLAN nesting). Shared by keys and
/// masks: both are plain field values in the same layout.
fn fill_fields(dst: &mut FlowKey, src: &OKey) -> Result<(), Error> {
    if let Some(v) = src.recirc_id {
        dst.set_recirc_id(v);
    }
    if let Some(v) = src.dp_hash {
        dst.set_dp_hash(v);
    }
    if let Some(v) = src.priority {
        dst.set_priority(v);
    }
    if let Some(v) = src.skb_mark {
        dst.set_skb_mark(v);
    }
    if let Some(v) = src.ct_state {
        // Validation leaves only the eight defined state bits.
        dst.set_ct_state(u8::try_from(v).map_err(|_| Error::Invalid("ct_state"))?);
    }
    if let Some(v) = src.ct_zone {
        dst.set_ct_zone(v);
    }
    if let Some(v) = src.ct_mark {
        dst.set_ct_mark(v);
    }
    if let Some(v) = src.ct_labels {
        dst.set_ct_labels(u128::from_be_bytes(v));
    }
    if let Some(t) = &src.ct_orig_tuple_ipv4 {
        dst.set_ct_orig_ipv4_src(ip4(t.src));
        dst.set_ct_orig_ipv4_dst(ip4(t.dst));
        dst.set_ct_orig_tp_src(t.src_port);
        dst.set_ct_orig_tp_dst(t.dst_port);
        dst.set_ct_orig_proto(t.proto);
    }
    if let Some(t) = &src.ct_orig_tuple_ipv6 {
        dst.set_ct_orig_ipv6_src(ip6(t.src));
        dst.set_ct_orig_ipv6_dst(ip6(t.dst));
        dst.set_ct_orig_tp_src(t.src_port);
        dst.set_ct_orig_tp_dst(t.dst_port);
        dst.set_ct_orig_proto(t.proto);
    }
    if let Some(t) = &src.tunnel {
        fill_tunnel(dst, t)?;
    }
    if let Some(e) = &src.ethernet {
        dst.set_eth_src(e.src);
        dst.set_eth_dst(e.dst);
    }
    if let Some(k) = &src.ipv4 {
        dst.set_ipv4_src(ip4(k.src));
        dst.set_ipv4_dst(ip4(k.dst));
        dst.set_ip_proto(k.proto);
        dst.set_ip_tos(k.tos);
        dst.set_ip_ttl(k.ttl);
        dst.set_ip_frag(k.frag);
    }
    if let Some(k) = &src.ipv6 {
        dst.set_ipv6_src(ip6(k.src));
        dst.set_ipv6_dst(ip6(k.dst));
        dst.set_ipv6_label(k.label);
        dst.set_ip_proto(k.proto);
        dst.set_ip_tos(k.tclass);
        dst.set_ip_ttl(k.hlimit);
        dst.set_ip_frag(k.frag);
    }
    if let Some(v) = src.ipv6_exthdrs {
        dst.set_ipv6_exthdrs(v);
    }
    for p in [&src.tcp, &src.udp, &src.sctp].into_iter().flatten() {
        dst.set_tp_src(p.src);
        dst.set_tp_dst(p.dst);
    }
    if let Some(v) = src.tcp_flags {
        dst.set_tcp_flags(v);
    }
    for i in [&src.icmp, &src.icmpv6].into_iter().flatten() {
        dst.set_tp_src(u16::from(i.ty));
        dst.set_tp_dst(u16::from(i.code));
    }
    if let Some(a) = &src.arp {
        dst.set_arp_sip(ip4(a.sip));
        dst.set_arp_tip(ip4(a.tip));
        // The opcode lives in the IP protocol byte, as in the kernel's `sw_flow_key`: keys
        // are validated below 256, a mask's high byte has nothing to match.
        dst.set_ip_proto((a.op & 0xff) as u8);
        dst.set_arp_sha(a.sha);
        dst.set_arp_tha(a.tha);
    }
    if let Some(n) = &src.nd {
        dst.set_nd_target(ip6(n.target));
        dst.set_nd_sll(n.sll);
        dst.set_nd_tll(n.tll);
    }
    if let Some(m) = &src.mpls {
        let l = |i: usize| m.get(i).copied().unwrap_or(0);
        dst.set_mpls_lse0(l(0));
        dst.set_mpls_lse1(l(1));
        dst.set_mpls_lse2(l(2));
    }
    if let Some(n) = &src.nsh {
        if n.md2.is_some() {
            return Err(Error::Unsupported("NSH MD2 context"));
        }
        if let Some(b) = &n.base {
            dst.set_nsh_flags(b.flags);
            dst.set_nsh_ttl(b.ttl);
            dst.set_nsh_mdtype(b.mdtype);
            dst.set_nsh_np(b.np);
            dst.set_nsh_path_hdr(b.path_hdr);
        }
        if let Some(m) = &n.md1 {
            dst.set_nsh_c0(m.context[0]);
            dst.set_nsh_c1(m.context[1]);
            dst.set_nsh_c2(m.context[2]);
            dst.set_nsh_c3(m.context[3]);
        }
    }
    Ok(())
}

fn fill_tunnel(dst: &mut FlowKey, t: &TunnelKey) -> Result<(), Error> {
    if t.geneve_opts.is_some() || t.erspan_opts.is_some() {
        return Err(Error::Unsupported("tunnel options (Geneve/ERSPAN)"));
    }
    let m = tunnel_meta(t);
    dst.set_tun_id(m.id);
    dst.set_tun_ipv4_src(m.ipv4_src);
    dst.set_tun_ipv4_dst(m.ipv4_dst);
    dst.set_tun_ipv6_src(m.ipv6_src);
    dst.set_tun_ipv6_dst(m.ipv6_dst);
    dst.set_tun_flags(m.flags);
    dst.set_tun_tos(m.tos);
    dst.set_tun_ttl(m.ttl);
    dst.set_tun_tp_src(m.tp_src);
    dst.set_tun_tp_dst(m.tp_dst);
    dst.set_tun_gbp(m.gbp);
    Ok(())
}

/// The fast path's tunnel metadata of an odp tunnel key.
pub fn tunnel_meta(t: &TunnelKey) -> TunnelMeta {
    let mut flags = 0;
    if t.id.is_some() {
        flags |= tun_flags::KEY;
    }
    if t.csum {
        flags |= tun_flags::CSUM;
    }
    if t.dont_fragment {
        flags |= tun_flags::DONT_FRAGMENT;
    }
    if t.oam {
        flags |= tun_flags::OAM;
    }
    TunnelMeta {
        id: t.id.unwrap_or(0),
        ipv4_src: t.ipv4_src.map_or(0, ip4),
        ipv4_dst: t.ipv4_dst.map_or(0, ip4),
        ipv6_src: t.ipv6_src.map_or(0, ip6),
        ipv6_dst: t.ipv6_dst.map_or(0, ip6),
        flags,
        tos: t.tos.unwrap_or(0),
        ttl: t.ttl.unwrap_or(0),
        tp_src: t.tp_src.unwrap_or(0),
        tp_dst: t.tp_dst.unwrap_or(0),
        gbp: t.vxlan_opts.as_ref().and_then(|v| v.gbp).unwrap_or(0),
    }
}

/// The odp tunnel key of fast-path tunnel metadata, with the attributes the kernel emits
/// (`net/openvswitch/flow_netlink.c`, `__ip_tun_to_nlattr()`).
pub fn tunnel_key(m: &TunnelMeta) -> TunnelKey {
    TunnelKey {
        id: (m.flags & tun_flags::KEY != 0).then_some(m.id),
        ipv4_src: (m.ipv4_src != 0).then(|| Ipv4Addr::from(m.ipv4_src)),
        ipv4_dst: (m.ipv4_dst != 0).then(|| Ipv4Addr::from(m.ipv4_dst)),
        ipv6_src: (m.ipv6_src != 0).then(|| Ipv6Addr::from(m.ipv6_src)),
        ipv6_dst: (m.ipv6_dst != 0).then(|| Ipv6Addr::from(m.ipv6_dst)),
        tos: (m.tos != 0).then_some(m.tos),
        ttl: Some(m.ttl),
        dont_fragment: m.flags & tun_flags::DONT_FRAGMENT != 0,
        csum: m.flags & tun_flags::CSUM != 0,
        oam: m.flags & tun_flags::OAM != 0,
        tp_src: (m.tp_src != 0).then_some(m.tp_src),
        tp_dst: (m.tp_dst != 0).then_some(m.tp_dst),
        vxlan_opts: (m.gbp != 0).then_some(VxlanOpts { gbp: Some(m.gbp) }),
        ..TunnelKey::default()
    }
}

/// A validated match as the fast path's (masked key, mask).
///
/// The kernel's forced mask bits carry over: ethertype and the Ethernet-vs-L3 nature exact,
/// in_port exact only when the mask names it, VLAN TCIs exact unless the mask says otherwise
/// (so a key without a VLAN matches only untagged frames).
///
/// # Errors
/// EOPNOTSUPP for match fields the fast path has no room for.
pub fn match_to_fast(m: &FlowMatch) -> Result<(FlowKey, FlowKey), Error> {
    let (k, mk) = (&m.key, &m.mask);
    let mut key = FlowKey::ZERO;
    let mut mask = FlowKey::ZERO;
    fill_fields(&mut key, &k.key)?;
    fill_fields(&mut mask, &mk.key)?;
    let in_port = k.key.in_port.map_or(Ok(IN_PORT_NONE), port16)?;
    key.set_in_port(in_port);
    mask.set_in_port(if mk.key.in_port.is_some_and(|p| p != 0) {
        0xffff
    } else {
        0
    });
    let ethernet = k.key.ethernet.is_some();
    key.set_mac_proto(if ethernet {
        MAC_PROTO_ETHERNET
    } else {
        MAC_PROTO_NONE
    });
    mask.set_mac_proto(0xff);
    key.set_eth_type(k.key.eth_type.unwrap_or(ETH_TYPE_802_2));
    mask.set_eth_type(0xffff);
    if let Some(labels) = &k.key.mpls {
        let depth = u8::try_from(labels.len()).map_err(|_| Error::Invalid("MPLS depth"))?;
        key.set_mpls_depth(depth);
        mask.set_mpls_depth(if mk.key.mpls.is_some() { 0xff } else { 0 });
    }
    // VLAN TCIs default to exact (the kernel's 0xffff default when a mask is given).
    mask.set_vlan_tci(0xffff);
    mask.set_cvlan_tci(0xffff);
    if let Some(t) = k.tags.first() {
        key.set_vlan_tpid(t.tpid);
        key.set_vlan_tci(t.tci);
        mask.set_vlan_tpid(0xffff);
        mask.set_vlan_tci(mk.tags.first().map_or(0xffff, |t| t.tci));
    }
    if let Some(t) = k.tags.get(1) {
        key.set_cvlan_tpid(t.tpid);
        key.set_cvlan_tci(t.tci);
        mask.set_cvlan_tpid(0xffff);
        mask.set_cvlan_tci(mk.tags.get(1).map_or(0xffff, |t| t.tci));
    }
    Ok((key.masked(&mask), mask))
}

/// Packet metadata from the key of a PACKET EXECUTE: only the metadata attributes count,
/// the rest is extracted from the packet (`net/openvswitch/flow.c`,
/// `ovs_flow_key_extract_userspace()`).
///
/// # Errors
/// EOPNOTSUPP for tunnel options the fast path cannot carry.
pub fn execute_metadata(k: &OKey, local_port: bool) -> Result<Metadata, Error> {
    let flat = FlatKey::from_key(k).map_err(|_| Error::Invalid("execute key"))?;
    let f = &flat.key;
    let mut md = Metadata {
        in_port: f.in_port.map_or(Ok(0), port16)?,
        recirc_id: f.recirc_id.unwrap_or(0),
        dp_hash: f.dp_hash.unwrap_or(0),
        skb_mark: f.skb_mark.unwrap_or(0),
        priority: f.priority.unwrap_or(0),
        ct: CtMeta {
            state: u8::try_from(f.ct_state.unwrap_or(0)).map_err(|_| Error::Invalid("ct_state"))?,
            zone: f.ct_zone.unwrap_or(0),
            mark: f.ct_mark.unwrap_or(0),
            labels: f.ct_labels.map_or(0, u128::from_be_bytes),
            ..CtMeta::default()
        },
        ..Metadata::default()
    };
    if let Some(t) = &f.ct_orig_tuple_ipv4 {
        md.ct.orig_proto = t.proto;
        md.ct.orig_ipv4 = (ip4(t.src), ip4(t.dst));
        md.ct.orig_ports = (t.src_port, t.dst_port);
    } else if let Some(t) = &f.ct_orig_tuple_ipv6 {
        md.ct.orig_proto = t.proto;
        md.ct.orig_ipv6 = (ip6(t.src), ip6(t.dst));
        md.ct.orig_ports = (t.src_port, t.dst_port);
    }
    if local_port {
        md.in_port = 0;
    }
    if let Some(t) = &f.tunnel {
        if t.geneve_opts.is_some() || t.erspan_opts.is_some() {
            return Err(Error::Unsupported("tunnel options (Geneve/ERSPAN)"));
        }
        md.tunnel = Some(tunnel_meta(t));
    }
    if f.ethernet.is_none() {
        md.l3_ethertype = f.eth_type;
    }
    Ok(md)
}

/// The kernel-form odp key of a packet's fast-path key, as MISS and ACTION upcalls carry it
/// (`net/openvswitch/datapath.c`, `queue_userspace_packet()`).
pub fn key_to_odp(k: &FlowKey) -> OKey {
    to_odp(k, k, false)
}

/// The kernel-form odp mask of an installed flow (`key` gives the structure: which L3/L4
/// attributes, VLAN levels, tunnel; `mask` the values), as FLOW replies carry it.
pub fn mask_to_odp(key: &FlowKey, mask: &FlowKey) -> OKey {
    to_odp(key, mask, true)
}

/// Builds an odp key whose attribute structure follows `s` and whose values come from `v`
/// (`v == s` for keys, the mask for masks).
fn to_odp(s: &FlowKey, v: &FlowKey, is_mask: bool) -> OKey {
    let mut r = OKey {
        recirc_id: Some(v.recirc_id()),
        dp_hash: Some(v.dp_hash()),
        priority: Some(v.priority()),
        skb_mark: Some(v.skb_mark()),
        ct_state: Some(u32::from(v.ct_state())),
        ct_zone: Some(v.ct_zone()),
        ct_mark: Some(v.ct_mark()),
        ct_labels: Some(v.ct_labels().to_be_bytes()),
        ..OKey::default()
    };
    if is_mask || s.tun_ipv4_dst() != 0 || s.tun_ipv6_dst() != 0 {
        r.tunnel = Some(tunnel_key(&TunnelMeta {
            id: v.tun_id(),
            ipv4_src: v.tun_ipv4_src(),
            ipv4_dst: v.tun_ipv4_dst(),
            ipv6_src: v.tun_ipv6_src(),
            ipv6_dst: v.tun_ipv6_dst(),
            flags: v.tun_flags() | if v.tun_id() != 0 { tun_flags::KEY } else { 0 },
            tos: v.tun_tos(),
            ttl: v.tun_ttl(),
            tp_src: v.tun_tp_src(),
            tp_dst: v.tun_tp_dst(),
            gbp: v.tun_gbp(),
        }));
    }
    if s.in_port() != IN_PORT_NONE {
        let p = u32::from(v.in_port());
        // Masks read back with the upper 16 bits set (the kernel stores 16 bits).
        r.in_port = Some(if is_mask { 0xffff_0000 | p } else { p });
    } else if is_mask && v.in_port() == 0xffff {
        r.in_port = Some(u32::MAX);
    }
    if s.ct_orig_proto() != 0 {
        if s.eth_type() == 0x86dd {
            r.ct_orig_tuple_ipv6 = Some(CtTupleIpv6 {
                src: Ipv6Addr::from(v.ct_orig_ipv6_src()),
                dst: Ipv6Addr::from(v.ct_orig_ipv6_dst()),
                src_port: v.ct_orig_tp_src(),
                dst_port: v.ct_orig_tp_dst(),
                proto: v.ct_orig_proto(),
            });
        } else {
            r.ct_orig_tuple_ipv4 = Some(CtTupleIpv4 {
                src: Ipv4Addr::from(v.ct_orig_ipv4_src()),
                dst: Ipv4Addr::from(v.ct_orig_ipv4_dst()),
                src_port: v.ct_orig_tp_src(),
                dst_port: v.ct_orig_tp_dst(),
                proto: v.ct_orig_proto(),
            });
        }
    }
    let ethernet = s.mac_proto() == MAC_PROTO_ETHERNET;
    let mut inner = OKey::default();
    if !(ethernet && s.eth_type() == ETH_TYPE_802_2) || is_mask {
        // 802.2 keys carry no ETHERTYPE; their masks do (exact).
        inner.eth_type = Some(v.eth_type());
    }
    l3_to_odp(s, v, &mut inner);
    if !ethernet {
        merge_into(&mut r, inner);
        return r;
    }
    r.ethernet = Some(EthernetKey {
        src: v.eth_src(),
        dst: v.eth_dst(),
    });
    let tags: Vec<(u16, u16)> = [
        (s.vlan_tpid(), s.vlan_tci(), v.vlan_tpid(), v.vlan_tci()),
        (s.cvlan_tpid(), s.cvlan_tci(), v.cvlan_tpid(), v.cvlan_tci()),
    ]
    .into_iter()
    .take_while(|&(tpid, tci, _, _)| tpid != 0 || tci != 0)
    // The kernel keeps VLAN TPIDs exact in masks.
    .map(|(_, _, vt, vc)| (if is_mask { 0xffff } else { vt }, vc))
    .collect();
    // Wrap the innermost content in one ENCAP per tag, innermost tag first.
    let mut cur = inner;
    for &(tpid, tci) in tags.iter().rev() {
        cur = OKey {
            eth_type: Some(tpid),
            vlan: Some(tci),
            encap: Some(Box::new(cur)),
            ..OKey::default()
        };
    }
    merge_into(&mut r, cur);
    r
}

fn merge_into(r: &mut OKey, c: OKey) {
    r.eth_type = c.eth_type;
    r.vlan = c.vlan;
    r.encap = c.encap;
    r.ipv4 = c.ipv4;
    r.ipv6 = c.ipv6;
    r.ipv6_exthdrs = c.ipv6_exthdrs;
    r.tcp = c.tcp;
    r.tcp_flags = c.tcp_flags;
    r.udp = c.udp;
    r.sctp = c.sctp;
    r.icmp = c.icmp;
    r.icmpv6 = c.icmpv6;
    r.nd = c.nd;
    r.arp = c.arp;
    r.mpls = c.mpls;
    r.nsh = c.nsh;
}

fn l3_to_odp(s: &FlowKey, v: &FlowKey, o: &mut OKey) {
    let ports = PortsKey {
        src: v.tp_src(),
        dst: v.tp_dst(),
    };
    // ICMP type and code sit in the low bytes of the port fields.
    let icmp = IcmpKey {
        ty: v.tp_src().to_be_bytes()[1],
        code: v.tp_dst().to_be_bytes()[1],
    };
    let l4 = s.ip_frag() != odp::key::frag::LATER;
    match s.eth_type() {
        0x0800 => {
            o.ipv4 = Some(Ipv4Key {
                src: Ipv4Addr::from(v.ipv4_src()),
                dst: Ipv4Addr::from(v.ipv4_dst()),
                proto: v.ip_proto(),
                tos: v.ip_tos(),
                ttl: v.ip_ttl(),
                frag: v.ip_frag(),
            });
            if l4 {
                match s.ip_proto() {
                    6 => {
                        o.tcp = Some(ports);
                        o.tcp_flags = Some(v.tcp_flags());
                    }
                    17 => o.udp = Some(ports),
                    132 => o.sctp = Some(ports),
                    1 => o.icmp = Some(icmp),
                    _ => {}
                }
            }
        }
        0x86dd => {
            o.ipv6 = Some(Ipv6Key {
                src: Ipv6Addr::from(v.ipv6_src()),
                dst: Ipv6Addr::from(v.ipv6_dst()),
                label: v.ipv6_label(),
                proto: v.ip_proto(),
                tclass: v.ip_tos(),
                hlimit: v.ip_ttl(),
                frag: v.ip_frag(),
            });
            if l4 {
                match s.ip_proto() {
                    6 => {
                        o.tcp = Some(ports);
                        o.tcp_flags = Some(v.tcp_flags());
                    }
                    17 => o.udp = Some(ports),
                    132 => o.sctp = Some(ports),
                    58 => {
                        o.icmpv6 = Some(icmp);
                        if s.tp_dst() == 0 && matches!(s.tp_src(), 135 | 136) {
                            o.nd = Some(NdKey {
                                target: Ipv6Addr::from(v.nd_target()),
                                sll: v.nd_sll(),
                                tll: v.nd_tll(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        0x0806 | 0x8035 => {
            o.arp = Some(ArpKey {
                sip: Ipv4Addr::from(v.arp_sip()),
                tip: Ipv4Addr::from(v.arp_tip()),
                op: u16::from(v.ip_proto()),
                sha: v.arp_sha(),
                tha: v.arp_tha(),
            });
        }
        0x8847 | 0x8848 => {
            let all = [v.mpls_lse0(), v.mpls_lse1(), v.mpls_lse2()];
            let n = usize::from(s.mpls_depth()).clamp(1, 3);
            o.mpls = Some(all[..n].to_vec());
        }
        0x894f => {
            o.nsh = Some(NshKey {
                base: Some(NshBase {
                    flags: v.nsh_flags(),
                    ttl: v.nsh_ttl(),
                    mdtype: v.nsh_mdtype(),
                    np: v.nsh_np(),
                    path_hdr: v.nsh_path_hdr(),
                }),
                md1: (s.nsh_mdtype() == 1).then(|| NshMd1 {
                    context: [v.nsh_c0(), v.nsh_c1(), v.nsh_c2(), v.nsh_c3()],
                }),
                md2: None,
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::extract;

    /// The megaflow ovs-dpctl users (and perf S1) write for "all IPv4 from a port" comes
    /// out of the conversion with a mask simple match accepts.
    #[test]
    fn usual_port_megaflow_is_a_simple_match() {
        let text = "in_port(2),eth(),eth_type(0x0800),ipv4(frag=no)";
        let (k, m) = odp::text::parse_key(text, None).unwrap();
        let (_, mask) = match_to_fast(&FlowMatch::new(&k, Some(&m)).unwrap()).unwrap();
        assert!(crate::packet::simple_match_mask(&mask));
        let text = "in_port(2),eth(),eth_type(0x0800),ipv4(proto=17,frag=no),udp()";
        let (k, m) = odp::text::parse_key(text, None).unwrap();
        let (_, mask) = match_to_fast(&FlowMatch::new(&k, Some(&m)).unwrap()).unwrap();
        assert!(!crate::packet::simple_match_mask(&mask));
    }
    use proptest::prelude::*;

    fn eth_ipv4_tcp() -> OKey {
        OKey {
            in_port: Some(3),
            ethernet: Some(EthernetKey {
                src: [2, 0, 0, 0, 0, 1],
                dst: [2, 0, 0, 0, 0, 2],
            }),
            eth_type: Some(0x0800),
            ipv4: Some(Ipv4Key {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                proto: 6,
                tos: 0,
                ttl: 64,
                frag: 0,
            }),
            tcp: Some(PortsKey { src: 1000, dst: 80 }),
            tcp_flags: Some(0x002),
            ..OKey::default()
        }
    }

    /// A frame that `extract` turns into the same key as [`eth_ipv4_tcp`].
    fn frame() -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let tcp = [
            0x03, 0xe8, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        f.append(&mut ip);
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn exact_match_equals_the_extracted_packet_key() {
        let m = FlowMatch::new(&eth_ipv4_tcp(), None).unwrap();
        let (key, mask) = match_to_fast(&m).unwrap();
        let md = Metadata {
            in_port: 3,
            ..Metadata::default()
        };
        let mut pk = FlowKey::ZERO;
        extract(&frame(), &md, &mut pk);
        assert_eq!(pk.masked(&mask), key, "packet {pk:?}");
    }

    #[test]
    fn wildcarded_in_port_and_ipv4_fields() {
        let mut mask = OKey {
            ethernet: Some(EthernetKey::default()),
            eth_type: Some(0xffff),
            ipv4: Some(Ipv4Key {
                dst: Ipv4Addr::new(255, 255, 255, 0),
                ..Ipv4Key::default()
            }),
            ..OKey::default()
        };
        mask.in_port = None;
        let m = FlowMatch::new(&eth_ipv4_tcp(), Some(&mask)).unwrap();
        let (key, fm) = match_to_fast(&m).unwrap();
        assert_eq!(fm.in_port(), 0);
        assert_eq!(fm.ipv4_dst(), 0xffff_ff00);
        assert_eq!(fm.ipv4_src(), 0);
        assert_eq!(fm.vlan_tci(), 0xffff, "untagged only");
        assert_eq!(key.ipv4_dst(), 0x0a00_0000);
        let md = Metadata {
            in_port: 9,
            ..Metadata::default()
        };
        let mut pk = FlowKey::ZERO;
        extract(&frame(), &md, &mut pk);
        assert_eq!(pk.masked(&fm), key);
    }

    #[test]
    fn upcall_key_is_the_kernel_form() {
        let md = Metadata {
            in_port: 3,
            ..Metadata::default()
        };
        let mut pk = FlowKey::ZERO;
        extract(&frame(), &md, &mut pk);
        let o = key_to_odp(&pk);
        let m = FlowMatch::new(&eth_ipv4_tcp(), None).unwrap();
        assert_eq!(o, m.masked_key());
    }

    fn mac() -> impl Strategy<Value = [u8; 6]> {
        any::<[u8; 6]>()
    }

    prop_compose! {
        fn l4()(proto in prop::sample::select(vec![6u8, 17, 132, 1, 47]),
                src in any::<u16>(), dst in any::<u16>(), flags in 0u16..0x1000,
                icmp in any::<(u8, u8)>()) -> (u8, OKey) {
            let p = PortsKey { src, dst };
            let mut k = OKey::default();
            match proto {
                6 => { k.tcp = Some(p); k.tcp_flags = Some(flags); }
                17 => k.udp = Some(p),
                132 => k.sctp = Some(p),
                1 => k.icmp = Some(IcmpKey { ty: icmp.0, code: icmp.1 }),
                _ => {}
            }
            (proto, k)
        }
    }

    prop_compose! {
        fn kernel_key()(in_port in (0u32..65535).prop_map(Some), mark in any::<u32>(),
                        prio in any::<u32>(), recirc in any::<u32>(), hash in any::<u32>(),
                        src in mac(), dst in mac(),
                        ip in any::<(u32, u32, u8, u8)>(), frag in 0u8..3,
                        (proto, l4) in l4(),
                        vlan in prop::option::of(0u16..0x1000),
                        arp in any::<bool>(), arpv in any::<(u32, u32, u8)>(), sha in mac()) -> OKey {
            let mut inner = OKey::default();
            if arp {
                inner.eth_type = Some(0x0806);
                inner.arp = Some(ArpKey {
                    sip: Ipv4Addr::from(arpv.0), tip: Ipv4Addr::from(arpv.1),
                    op: u16::from(arpv.2), sha, tha: src,
                });
            } else {
                inner.eth_type = Some(0x0800);
                inner.ipv4 = Some(Ipv4Key {
                    src: Ipv4Addr::from(ip.0), dst: Ipv4Addr::from(ip.1), proto,
                    tos: ip.2, ttl: ip.3, frag,
                });
                if frag != 2 {
                    inner.tcp = l4.tcp; inner.tcp_flags = l4.tcp_flags;
                    inner.udp = l4.udp; inner.sctp = l4.sctp; inner.icmp = l4.icmp;
                }
            }
            let mut k = OKey {
                recirc_id: Some(recirc), dp_hash: Some(hash), priority: Some(prio),
                in_port, skb_mark: Some(mark), ct_state: Some(0), ct_zone: Some(0),
                ct_mark: Some(0), ct_labels: Some([0; 16]),
                ethernet: Some(EthernetKey { src, dst }),
                ..OKey::default()
            };
            match vlan {
                Some(vid) => {
                    k.eth_type = Some(0x8100);
                    k.vlan = Some(0x1000 | vid);
                    k.encap = Some(Box::new(inner));
                }
                None => merge_into(&mut k, inner),
            }
            k
        }
    }

    proptest! {
        #[test]
        fn key_round_trips_through_the_fast_path(k in kernel_key()) {
            let m = FlowMatch::new(&k, None).unwrap();
            let (fk, _) = match_to_fast(&m).unwrap();
            prop_assert_eq!(key_to_odp(&fk), m.masked_key());
        }
    }
}
