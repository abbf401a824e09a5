//! Key + mask validation with the kernel's rules and errno (`ovs_nla_get_match()`
//! and `match_validate()` in `net/openvswitch/flow_netlink.c`) and the kernel's
//! reply form of keys and masks (`ovs_nla_put_key()` and `ovs_nla_put_mask()`,
//! same file).
//!
//! The kernel merges ENCAP contents into one attribute set, so validation
//! works on a *flattened* view: outer metadata + up to two VLAN tags + the
//! innermost ethertype and L3/L4 attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::key::{
    attr, eth_type as et, frag, FlowKey, FlowMask, KeyStruct, NshKey, TunnelKey, VxlanOpts,
};
use crate::nl::AttrWriter;

/// VLAN "tag present" (CFI/DEI) bit.
pub const VLAN_CFI: u16 = 0x1000;
/// `DP_MAX_PORTS`: internal "no in_port".
pub const NO_PORT: u32 = 65535;

/// One VLAN tag: TPID and TCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tag {
    /// Tag protocol id (0x8100 / 0x88a8).
    pub tpid: u16,
    /// Tag control information (with the CFI bit as "present").
    pub tci: u16,
}

/// A key flattened across ENCAP nests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlatKey {
    /// Every non-VLAN attribute; `eth_type` is the innermost ethertype,
    /// `vlan` and `encap` are always `None`.
    pub key: FlowKey,
    /// VLAN tags, outermost first (at most two).
    pub tags: Vec<Tag>,
}

fn is_vlan(t: u16) -> bool {
    t == et::VLAN || t == et::QINQ
}

macro_rules! merge_fields {
    ($dst:expr, $src:expr, $($f:ident),*) => {
        $(
            if let Some(v) = $src.$f.clone() {
                if $dst.$f.is_some() {
                    return Err(Error::Duplicate { what: "flow key", ty: 0 });
                }
                $dst.$f = Some(v);
            }
        )*
    };
}

fn merge(dst: &mut FlowKey, src: &FlowKey) -> Result<()> {
    merge_fields!(
        dst,
        src,
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
        tunnel,
        sctp,
        tcp_flags,
        dp_hash,
        recirc_id,
        mpls,
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
    Ok(())
}

impl FlatKey {
    /// Flatten a key, applying the kernel's VLAN structure rules
    /// (`parse_vlan_from_nlattrs()` in `net/openvswitch/flow_netlink.c`):
    /// a VLAN TPID needs VLAN and ENCAP, the TCI needs the CFI bit unless it
    /// is the truncated-header form (TCI 0, empty ENCAP), at most two tags.
    pub fn from_key(k: &FlowKey) -> Result<Self> {
        let mut flat = FlatKey::default();
        let mut cur = k.clone();
        let mut level = 0;
        loop {
            let encap = cur.encap.take();
            let vlan = cur.vlan.take();
            let ty = cur.eth_type.take();
            let tagged = level < 2
                && ty.is_some_and(is_vlan)
                && (level > 0 || flat.key.ethernet.is_some() || cur.ethernet.is_some());
            merge(&mut flat.key, &cur)?;
            if !tagged {
                if vlan.is_some() {
                    return Err(Error::Invalid("VLAN attribute unexpected"));
                }
                if encap.is_some() {
                    return Err(Error::UnknownAttr {
                        what: "flow key",
                        ty: attr::ENCAP,
                    });
                }
                flat.key.eth_type = ty;
                return Ok(flat);
            }
            let (Some(tci), Some(inner)) = (vlan, encap) else {
                return Err(Error::Invalid("VLAN frame without VLAN and ENCAP"));
            };
            let tpid = ty.unwrap_or_default();
            if tci & VLAN_CFI == 0 && !(tci == 0 && inner.is_empty()) {
                return Err(Error::Invalid("VLAN TCI without the tag-present bit"));
            }
            flat.tags.push(Tag { tpid, tci });
            if tci == 0 {
                // Truncated VLAN header: nothing follows.
                return Ok(flat);
            }
            cur = *inner;
            level += 1;
        }
    }

    /// Flatten a mask following the key's tag structure.
    fn mask_from(m: &FlowMask, key_tags: usize) -> Result<(Self, bool, Vec<Tag>)> {
        let mut flat = FlatKey::default();
        let mut cur = m.clone();
        let mut mtags = Vec::new();
        let mut had_encap = false;
        for _ in 0..=2 {
            let encap = cur.encap.take();
            let vlan = cur.vlan.take();
            let ty = cur.eth_type.take();
            merge(&mut flat.key, &cur)?;
            match encap {
                Some(inner) if mtags.len() < key_tags => {
                    had_encap = true;
                    mtags.push(Tag {
                        tpid: ty.unwrap_or(0),
                        tci: vlan.unwrap_or(0xffff),
                    });
                    cur = *inner;
                }
                Some(_) => return Err(Error::UnexpectedMask("encap mask for a non-VLAN frame")),
                None => {
                    if mtags.len() < key_tags {
                        // No ENCAP in the mask: the tag TPID/TCI masks still apply.
                        mtags.push(Tag {
                            tpid: ty.unwrap_or(0),
                            tci: vlan.unwrap_or(0xffff),
                        });
                        flat.key.eth_type = None;
                    } else {
                        if vlan.is_some() {
                            return Err(Error::UnexpectedMask("vlan"));
                        }
                        flat.key.eth_type = ty;
                    }
                    return Ok((flat, had_encap, mtags));
                }
            }
        }
        Err(Error::Invalid("mask encap nesting"))
    }
}

/// A validated flow match: the masked key and the effective mask, both
/// flattened, plus what the reply form needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMatch {
    /// Masked key.
    pub key: FlatKey,
    /// Effective mask (forced bits applied, all-zero attributes dropped).
    pub mask: FlatKey,
    /// Whether the request carried IPV6_EXTHDRS (emitted back only then, so
    /// replies stay readable by OVS userspace, which does not know key 32).
    pub has_exthdrs: bool,
}

fn zero_attr(m: &mut FlowKey) {
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

fn check_values(k: &FlowKey, is_mask: bool) -> Result<()> {
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

fn exact_mask(k: &FlowKey) -> FlowKey {
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

fn check_match(k: &FlowKey, m: &FlowKey) -> Result<()> {
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

impl FlowMatch {
    /// Validate `key` and optional `mask` exactly as the kernel's
    /// `ovs_nla_get_match` does and compute the masked key.
    ///
    /// # Errors
    /// `EINVAL`-mapped errors for every rule of `ovs_nla_get_match()` and
    /// `match_validate()` (`net/openvswitch/flow_netlink.c`).
    pub fn new(key: &FlowKey, mask: Option<&FlowMask>) -> Result<FlowMatch> {
        check_values(key, false)?;
        let fk = FlatKey::from_key(key)?;
        let is_ethernet = fk.key.ethernet.is_some();
        if !is_ethernet && fk.key.eth_type.is_none() {
            return Err(Error::MissingKey("ethernet or eth_type"));
        }
        let has_exthdrs = fk.key.ipv6_exthdrs.is_some();
        let (mut fm, mtags) = match mask {
            None => {
                let mut m = exact_mask(&fk.key);
                if is_ethernet {
                    m.eth_type = Some(0xffff);
                }
                let tags = fk
                    .tags
                    .iter()
                    .map(|_| Tag {
                        tpid: 0xffff,
                        tci: 0xffff,
                    })
                    .collect();
                (m, tags)
            }
            Some(m) => {
                let mut m = m.clone();
                check_values(&m, true)?;
                zero_attr(&mut m);
                let (flat, had_encap, mut mtags) = FlatKey::mask_from(&m, fk.tags.len())?;
                let mut mk = flat.key;
                if mk.eth_type.is_some() {
                    mk.eth_type = Some(0xffff);
                }
                if had_encap {
                    for t in &mtags {
                        if t.tpid != 0xffff {
                            return Err(Error::Invalid("VLAN TPID must be exact in the mask"));
                        }
                        if t.tci & VLAN_CFI == 0 {
                            return Err(Error::Invalid("VLAN tag-present bit must be exact"));
                        }
                    }
                }
                for t in &mut mtags {
                    t.tpid = 0xffff;
                }
                if mk.in_port.is_some() {
                    mk.in_port = Some(u32::MAX);
                }
                (mk, mtags)
            }
        };
        if !is_ethernet {
            fm.ethernet = None;
        }
        check_match(&fk.key, &fm)?;
        // 802.2 frames: key without ETHERTYPE, mask exact on it.
        if is_ethernet && fk.key.eth_type.is_none() {
            fm.eth_type = Some(0xffff);
        }
        let masked = FlatKey {
            key: mask_flat(&fk.key, &fm),
            tags: fk
                .tags
                .iter()
                .zip(mtags.iter())
                .map(|(t, m)| Tag {
                    tpid: t.tpid,
                    tci: t.tci & m.tci,
                })
                .collect(),
        };
        Ok(FlowMatch {
            key: masked,
            mask: FlatKey {
                key: fm,
                tags: mtags,
            },
            has_exthdrs,
        })
    }

    /// The masked key in the kernel's reply form (nested, zero-filled).
    pub fn masked_key(&self) -> FlowKey {
        kernel_form(&self.key, &self.key, false, self.has_exthdrs)
    }

    /// The mask in the kernel's reply form.
    pub fn mask_form(&self) -> FlowMask {
        kernel_form(&self.key, &self.mask, true, self.has_exthdrs)
    }

    /// Emit the masked key attributes (kernel order).
    pub fn emit_key(&self, w: &mut AttrWriter<'_>) {
        self.masked_key().emit(w);
    }

    /// Emit the mask attributes (kernel order).
    pub fn emit_mask(&self, w: &mut AttrWriter<'_>) {
        self.mask_form().emit(w);
    }
}

/// The kernel's form of an *unmasked* key (flow identity without UFID):
/// validated, flattened and re-emitted with zero-filled metadata.
pub fn unmasked_key_form(key: &FlowKey) -> Result<FlowKey> {
    let f = FlatKey::from_key(key)?;
    let ex = f.key.ipv6_exthdrs.is_some();
    Ok(kernel_form(&f, &f, false, ex))
}

fn mask_flat(k: &FlowKey, m: &FlowKey) -> FlowKey {
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
fn kernel_form(sk: &FlatKey, out: &FlatKey, is_mask: bool, exthdrs: bool) -> FlowKey {
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
