//! Wire to key: KEY and MASK nests and the tunnel and NSH nests inside them,
//! with the type, length, duplicate and ENCAP-depth checks made before the
//! semantic rules of [`crate::validate`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::structs::be32;
use super::{
    attr, nsh_attr, tun_attr, ArpKey, CtTupleIpv4, CtTupleIpv6, EthernetKey, FlowKey, IcmpKey,
    Ipv4Key, Ipv6Key, KeyStruct, NdExtKey, NdKey, NshBase, NshKey, NshMd1, PortsKey, TunnelKey,
    VxlanOpts, MAX_ENCAP_DEPTH, OVS_VXLAN_EXT_GBP,
};
use crate::error::{Error, Result};
use crate::nl::{attrs, Attr};

impl TunnelKey {
    /// Parse the nest payload.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        const W: &str = "tunnel key";
        let mut t = TunnelKey::default();
        let mut seen = 0u32;
        for a in attrs(payload) {
            let a = a?;
            if a.ty == tun_attr::PAD {
                continue;
            }
            if a.ty > tun_attr::MAX {
                return Err(Error::UnknownAttr { what: W, ty: a.ty });
            }
            if seen & (1 << a.ty) != 0 {
                return Err(Error::Duplicate { what: W, ty: a.ty });
            }
            seen |= 1 << a.ty;
            match a.ty {
                tun_attr::ID => t.id = Some(a.be64("tun_id")?),
                tun_attr::IPV4_SRC => t.ipv4_src = Some(Ipv4Addr::from(a.array::<4>("ipv4_src")?)),
                tun_attr::IPV4_DST => t.ipv4_dst = Some(Ipv4Addr::from(a.array::<4>("ipv4_dst")?)),
                tun_attr::IPV6_SRC => t.ipv6_src = Some(Ipv6Addr::from(a.array::<16>("ipv6_src")?)),
                tun_attr::IPV6_DST => t.ipv6_dst = Some(Ipv6Addr::from(a.array::<16>("ipv6_dst")?)),
                tun_attr::TOS => t.tos = Some(a.u8("tos")?),
                tun_attr::TTL => t.ttl = Some(a.u8("ttl")?),
                tun_attr::DONT_FRAGMENT => {
                    a.flag("dont_fragment")?;
                    t.dont_fragment = true
                }
                tun_attr::CSUM => {
                    a.flag("csum")?;
                    t.csum = true
                }
                tun_attr::OAM => {
                    a.flag("oam")?;
                    t.oam = true
                }
                tun_attr::GENEVE_OPTS => {
                    if a.payload.len() % 4 != 0 || a.payload.len() > 255 {
                        return Err(Error::BadLength {
                            what: "geneve_opts",
                            len: a.payload.len(),
                        });
                    }
                    t.geneve_opts = Some(a.payload.to_vec())
                }
                tun_attr::TP_SRC => t.tp_src = Some(a.be16("tp_src")?),
                tun_attr::TP_DST => t.tp_dst = Some(a.be16("tp_dst")?),
                tun_attr::VXLAN_OPTS => {
                    let mut v = VxlanOpts::default();
                    for n in a.nested() {
                        let n = n?;
                        match n.ty {
                            OVS_VXLAN_EXT_GBP => v.gbp = Some(n.u32("vxlan gbp")?),
                            ty => {
                                return Err(Error::UnknownAttr {
                                    what: "vxlan_opts",
                                    ty,
                                })
                            }
                        }
                    }
                    t.vxlan_opts = Some(v)
                }
                tun_attr::ERSPAN_OPTS => t.erspan_opts = Some(a.payload.to_vec()),
                tun_attr::IPV4_INFO_BRIDGE => {
                    a.flag("ipv4_info_bridge")?;
                    t.ipv4_info_bridge = true
                }
                ty => return Err(Error::UnknownAttr { what: W, ty }),
            }
        }
        Ok(t)
    }
}

fn parse_nsh(payload: &[u8], masked: bool) -> Result<(NshKey, Option<NshKey>)> {
    let mut k = NshKey::default();
    let mut m = NshKey::default();
    let mut seen = 0u8;
    for a in attrs(payload) {
        let a = a?;
        if a.ty == 0 || a.ty > nsh_attr::MD2 {
            return Err(Error::UnknownAttr {
                what: "nsh",
                ty: a.ty,
            });
        }
        if seen & (1 << a.ty) != 0 {
            return Err(Error::Duplicate {
                what: "nsh",
                ty: a.ty,
            });
        }
        seen |= 1 << a.ty;
        let p = a.payload;
        match a.ty {
            nsh_attr::BASE => {
                if masked {
                    if p.len() != 2 * NshBase::LEN {
                        return Err(Error::BadLength {
                            what: "nsh base",
                            len: p.len(),
                        });
                    }
                    k.base = Some(NshBase::decode(&p[..8]));
                    m.base = Some(NshBase::decode(&p[8..]));
                } else {
                    k.base = Some(NshBase::parse(p)?);
                }
            }
            nsh_attr::MD1 => {
                if masked {
                    if p.len() != 2 * NshMd1::LEN {
                        return Err(Error::BadLength {
                            what: "nsh md1",
                            len: p.len(),
                        });
                    }
                    k.md1 = Some(NshMd1::decode(&p[..16]));
                    m.md1 = Some(NshMd1::decode(&p[16..]));
                } else {
                    k.md1 = Some(NshMd1::parse(p)?);
                }
            }
            _ => {
                if masked {
                    if p.len() % 2 != 0 {
                        return Err(Error::BadLength {
                            what: "nsh md2",
                            len: p.len(),
                        });
                    }
                    let h = p.len() / 2;
                    k.md2 = Some(p[..h].to_vec());
                    m.md2 = Some(p[h..].to_vec());
                } else {
                    k.md2 = Some(p.to_vec());
                }
            }
        }
    }
    Ok((k, masked.then_some(m)))
}

impl NshKey {
    /// Parse an NSH nest.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        Ok(parse_nsh(payload, false)?.0)
    }
    /// Parse a masked NSH nest (value ‖ mask in each attribute, SET_MASKED).
    pub fn parse_masked(payload: &[u8]) -> Result<(Self, Self)> {
        let (k, m) = parse_nsh(payload, true)?;
        Ok((k, m.unwrap_or_default()))
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, ty: u16) -> Result<()> {
    if slot.is_some() {
        return Err(Error::Duplicate {
            what: "flow key",
            ty,
        });
    }
    *slot = Some(v);
    Ok(())
}

impl FlowKey {
    /// Parse a KEY or MASK nest payload. Checks types, lengths, duplicates
    /// and ENCAP depth; semantic rules are in [`crate::validate`].
    pub fn parse(payload: &[u8]) -> Result<Self> {
        Self::parse_depth(payload, 0)
    }

    fn parse_depth(payload: &[u8], depth: usize) -> Result<Self> {
        let mut k = FlowKey::default();
        for a in attrs(payload) {
            let a = a?;
            k.parse_one(&a, depth)?;
        }
        Ok(k)
    }

    /// Parse a single key attribute into this key (used for SET actions).
    pub fn parse_one(&mut self, a: &Attr<'_>, depth: usize) -> Result<()> {
        use attr::*;
        let p = a.payload;
        let ty = a.ty;
        match ty {
            ENCAP => {
                if depth >= MAX_ENCAP_DEPTH {
                    return Err(Error::Invalid("encap nesting"));
                }
                let inner = FlowKey::parse_depth(p, depth + 1)?;
                set_once(&mut self.encap, Box::new(inner), ty)
            }
            PRIORITY => set_once(&mut self.priority, a.u32("priority")?, ty),
            IN_PORT => set_once(&mut self.in_port, a.u32("in_port")?, ty),
            ETHERNET => set_once(&mut self.ethernet, EthernetKey::parse(p)?, ty),
            VLAN => set_once(&mut self.vlan, a.be16("vlan")?, ty),
            ETHERTYPE => set_once(&mut self.eth_type, a.be16("eth_type")?, ty),
            IPV4 => set_once(&mut self.ipv4, Ipv4Key::parse(p)?, ty),
            IPV6 => set_once(&mut self.ipv6, Ipv6Key::parse(p)?, ty),
            TCP => set_once(&mut self.tcp, PortsKey::parse(p)?, ty),
            UDP => set_once(&mut self.udp, PortsKey::parse(p)?, ty),
            SCTP => set_once(&mut self.sctp, PortsKey::parse(p)?, ty),
            ICMP => set_once(&mut self.icmp, IcmpKey::parse(p)?, ty),
            ICMPV6 => set_once(&mut self.icmpv6, IcmpKey::parse(p)?, ty),
            ARP => set_once(&mut self.arp, ArpKey::parse(p)?, ty),
            ND => set_once(&mut self.nd, NdKey::parse(p)?, ty),
            SKB_MARK => set_once(&mut self.skb_mark, a.u32("skb_mark")?, ty),
            TUNNEL => set_once(&mut self.tunnel, TunnelKey::parse(p)?, ty),
            TCP_FLAGS => set_once(&mut self.tcp_flags, a.be16("tcp_flags")?, ty),
            DP_HASH => set_once(&mut self.dp_hash, a.u32("dp_hash")?, ty),
            RECIRC_ID => set_once(&mut self.recirc_id, a.u32("recirc_id")?, ty),
            MPLS => {
                if p.is_empty() || p.len() % 4 != 0 || p.len() > 12 {
                    return Err(Error::BadLength {
                        what: "mpls",
                        len: p.len(),
                    });
                }
                let v = p.chunks_exact(4).map(|c| be32(c, 0)).collect();
                set_once(&mut self.mpls, v, ty)
            }
            CT_STATE => set_once(&mut self.ct_state, a.u32("ct_state")?, ty),
            CT_ZONE => set_once(&mut self.ct_zone, a.u16("ct_zone")?, ty),
            CT_MARK => set_once(&mut self.ct_mark, a.u32("ct_mark")?, ty),
            CT_LABELS => set_once(&mut self.ct_labels, a.array::<16>("ct_labels")?, ty),
            CT_ORIG_TUPLE_IPV4 => {
                set_once(&mut self.ct_orig_tuple_ipv4, CtTupleIpv4::parse(p)?, ty)
            }
            CT_ORIG_TUPLE_IPV6 => {
                set_once(&mut self.ct_orig_tuple_ipv6, CtTupleIpv6::parse(p)?, ty)
            }
            NSH => set_once(&mut self.nsh, NshKey::parse(p)?, ty),
            PACKET_TYPE => set_once(&mut self.packet_type, a.be32("packet_type")?, ty),
            ND_EXTENSIONS => set_once(&mut self.nd_extensions, NdExtKey::parse(p)?, ty),
            IPV6_EXTHDRS => set_once(&mut self.ipv6_exthdrs, a.u16("ipv6_exthdrs")?, ty),
            _ => Err(Error::UnknownAttr {
                what: "flow key",
                ty,
            }),
        }
    }
}
