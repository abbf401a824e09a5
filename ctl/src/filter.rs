//! `dump-flows filter=…`: an OpenFlow-style exact match (`tcp,tp_dst=80`, `in_port=p0`,
//! `dl_src=…`) that a dumped flow passes when, on every field the filter names, the flow's
//! value and the filter's value agree under the flow's own mask — so a field the flow
//! wildcards never excludes it (as `ovs-dpctl` compares through the flow's wildcards).

use std::net::{Ipv4Addr, Ipv6Addr};

use odp::key::{FlowKey, FlowMask};
use odp::text::PortNames;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    InPort,
    DlSrc,
    DlDst,
    DlType,
    DlVlan,
    DlVlanPcp,
    NwSrc,
    NwDst,
    NwProto,
    NwTos,
    NwTtl,
    Ipv6Src,
    Ipv6Dst,
    TpSrc,
    TpDst,
    IcmpType,
    IcmpCode,
    ArpSpa,
    ArpTpa,
    ArpOp,
    RecircId,
    SkbMark,
    SkbPriority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Num(u32),
    /// A 16-bit transport port whose prerequisite is this IP protocol.
    Tp(u8),
    Mac,
    V4,
    V6,
    Port,
}

fn field(name: &str) -> Option<(Field, Kind)> {
    use Field::*;
    Some(match name {
        "in_port" => (InPort, Kind::Port),
        "dl_src" | "eth_src" => (DlSrc, Kind::Mac),
        "dl_dst" | "eth_dst" => (DlDst, Kind::Mac),
        "dl_type" | "eth_type" => (DlType, Kind::Num(16)),
        "dl_vlan" | "vlan_vid" => (DlVlan, Kind::Num(12)),
        "dl_vlan_pcp" | "vlan_pcp" => (DlVlanPcp, Kind::Num(3)),
        "nw_src" | "ip_src" => (NwSrc, Kind::V4),
        "nw_dst" | "ip_dst" => (NwDst, Kind::V4),
        "nw_proto" | "ip_proto" => (NwProto, Kind::Num(8)),
        "nw_tos" => (NwTos, Kind::Num(8)),
        "nw_ttl" => (NwTtl, Kind::Num(8)),
        "ipv6_src" => (Ipv6Src, Kind::V6),
        "ipv6_dst" => (Ipv6Dst, Kind::V6),
        // OVS's `tp_src`/`tp_dst` are aliases of `tcp_src`/`tcp_dst` (prerequisite TCP).
        "tp_src" | "tcp_src" => (TpSrc, Kind::Tp(6)),
        "tp_dst" | "tcp_dst" => (TpDst, Kind::Tp(6)),
        "udp_src" => (TpSrc, Kind::Tp(17)),
        "udp_dst" => (TpDst, Kind::Tp(17)),
        "sctp_src" => (TpSrc, Kind::Tp(132)),
        "sctp_dst" => (TpDst, Kind::Tp(132)),
        "icmp_type" | "icmpv6_type" => (IcmpType, Kind::Num(8)),
        "icmp_code" | "icmpv6_code" => (IcmpCode, Kind::Num(8)),
        "arp_spa" => (ArpSpa, Kind::V4),
        "arp_tpa" => (ArpTpa, Kind::V4),
        "arp_op" => (ArpOp, Kind::Num(16)),
        "recirc_id" => (RecircId, Kind::Num(32)),
        "pkt_mark" | "skb_mark" => (SkbMark, Kind::Num(32)),
        "skb_priority" => (SkbPriority, Kind::Num(32)),
        _ => return None,
    })
}

/// Protocol shorthands: (ethertype, IP protocol).
fn shorthand(name: &str) -> Option<(u16, Option<u8>)> {
    Some(match name {
        "ip" | "ipv4" => (0x0800, None),
        "ipv6" => (0x86dd, None),
        "arp" => (0x0806, None),
        "rarp" => (0x8035, None),
        "mpls" => (0x8847, None),
        "mplsm" => (0x8848, None),
        "icmp" => (0x0800, Some(1)),
        "tcp" => (0x0800, Some(6)),
        "udp" => (0x0800, Some(17)),
        "sctp" => (0x0800, Some(132)),
        "icmp6" => (0x86dd, Some(58)),
        "tcp6" => (0x86dd, Some(6)),
        "udp6" => (0x86dd, Some(17)),
        "sctp6" => (0x86dd, Some(132)),
        _ => return None,
    })
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    conds: Vec<(Field, u128)>,
}

fn parse_num(s: &str, bits: u32) -> Option<u128> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16).ok()?
    } else {
        s.parse::<u128>().ok()?
    };
    (bits >= 128 || v >> bits == 0).then_some(v)
}

fn parse_mac(s: &str) -> Option<u128> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut v = 0u128;
    for p in parts {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        v = v << 8 | u128::from(u8::from_str_radix(p, 16).ok()?);
    }
    Some(v)
}

impl Filter {
    /// Parses `FIELD=VALUE` and shorthand items separated by commas (or spaces). `names`
    /// resolves `in_port=NAME`.
    ///
    /// # Errors
    /// The reason, for `Failed to parse filter (REASON)`.
    pub fn parse(s: &str, names: &PortNames) -> Result<Filter, String> {
        let mut f = Filter::default();
        for item in s.split([',', ' ', '\t']).filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item.trim(), None),
            };
            let Some(value) = value else {
                let (et, proto) =
                    shorthand(name).ok_or_else(|| format!("{s}: unknown field {name}"))?;
                f.conds.push((Field::DlType, u128::from(et)));
                if let Some(p) = proto {
                    f.conds.push((Field::NwProto, u128::from(p)));
                }
                continue;
            };
            let (fld, kind) = field(name).ok_or_else(|| format!("{s}: unknown field {name}"))?;
            let bad = || format!("{value}: invalid value for field {name}");
            let v = match kind {
                Kind::Num(bits) => parse_num(value, bits).ok_or_else(bad)?,
                Kind::Tp(proto) => {
                    if !f.conds.contains(&(Field::NwProto, u128::from(proto))) {
                        return Err(format!("{s}: prerequisites not met for setting {name}"));
                    }
                    parse_num(value, 16).ok_or_else(bad)?
                }
                Kind::Mac => parse_mac(value).ok_or_else(bad)?,
                Kind::V4 => u128::from(u32::from(value.parse::<Ipv4Addr>().map_err(|_| bad())?)),
                Kind::V6 => u128::from(value.parse::<Ipv6Addr>().map_err(|_| bad())?),
                Kind::Port => match parse_num(value, 32) {
                    Some(n) => n,
                    None => u128::from(names.number(value).ok_or_else(bad)?),
                },
            };
            f.conds.push((fld, v));
        }
        Ok(f)
    }

    /// Whether a dumped flow (key and mask) passes.
    pub fn matches(&self, key: &FlowKey, mask: Option<&FlowMask>) -> bool {
        self.conds.iter().all(|&(fld, want)| {
            let (v, m) = extract(fld, key, mask);
            v & m == want & m
        })
    }
}

fn mac(b: &[u8; 6]) -> u128 {
    b.iter().fold(0u128, |a, &x| a << 8 | u128::from(x))
}

/// The flow's (value, mask) for a field; (0, 0) when the flow has no such attribute. A flow
/// without a mask is exact on everything it has.
fn extract(fld: Field, key: &FlowKey, mask: Option<&FlowMask>) -> (u128, u128) {
    fn pick<T>(
        k: Option<&T>,
        m: Option<Option<&T>>,
        full: u128,
        f: impl Fn(&T) -> u128,
    ) -> (u128, u128) {
        match (k, m) {
            (None, _) => (0, 0),
            (Some(k), None) => (f(k), full),
            (Some(k), Some(None)) => (f(k), 0),
            (Some(k), Some(Some(m))) => (f(k), f(m)),
        }
    }
    let ik = key.innermost();
    let im = mask.map(|m| m.innermost());
    const F8: u128 = 0xff;
    const F16: u128 = 0xffff;
    const F32: u128 = 0xffff_ffff;
    const F48: u128 = 0xffff_ffff_ffff;
    match fld {
        Field::InPort => pick(
            key.in_port.as_ref(),
            mask.map(|m| m.in_port.as_ref()),
            F32,
            |v| u128::from(*v),
        ),
        Field::RecircId => pick(
            key.recirc_id.as_ref(),
            mask.map(|m| m.recirc_id.as_ref()),
            F32,
            |v| u128::from(*v),
        ),
        Field::SkbMark => pick(
            key.skb_mark.as_ref(),
            mask.map(|m| m.skb_mark.as_ref()),
            F32,
            |v| u128::from(*v),
        ),
        Field::SkbPriority => pick(
            key.priority.as_ref(),
            mask.map(|m| m.priority.as_ref()),
            F32,
            |v| u128::from(*v),
        ),
        Field::DlSrc => pick(
            key.ethernet.as_ref(),
            mask.map(|m| m.ethernet.as_ref()),
            F48,
            |e| mac(&e.src),
        ),
        Field::DlDst => pick(
            key.ethernet.as_ref(),
            mask.map(|m| m.ethernet.as_ref()),
            F48,
            |e| mac(&e.dst),
        ),
        // The ethertype is always exact in a datapath flow.
        Field::DlType => pick(ik.eth_type.as_ref(), None, F16, |v| u128::from(*v)),
        Field::DlVlan => pick(
            key.vlan.as_ref(),
            mask.map(|m| m.vlan.as_ref()),
            0xfff,
            |v| u128::from(*v & 0xfff),
        ),
        Field::DlVlanPcp => pick(key.vlan.as_ref(), mask.map(|m| m.vlan.as_ref()), 0x7, |v| {
            u128::from(*v >> 13)
        }),
        Field::NwSrc => pick(ik.ipv4.as_ref(), im.map(|m| m.ipv4.as_ref()), F32, |v| {
            u128::from(u32::from(v.src))
        }),
        Field::NwDst => pick(ik.ipv4.as_ref(), im.map(|m| m.ipv4.as_ref()), F32, |v| {
            u128::from(u32::from(v.dst))
        }),
        Field::NwProto => match ik.ipv4 {
            Some(_) => pick(ik.ipv4.as_ref(), im.map(|m| m.ipv4.as_ref()), F8, |v| {
                u128::from(v.proto)
            }),
            None => pick(ik.ipv6.as_ref(), im.map(|m| m.ipv6.as_ref()), F8, |v| {
                u128::from(v.proto)
            }),
        },
        Field::NwTos => match ik.ipv4 {
            Some(_) => pick(ik.ipv4.as_ref(), im.map(|m| m.ipv4.as_ref()), F8, |v| {
                u128::from(v.tos)
            }),
            None => pick(ik.ipv6.as_ref(), im.map(|m| m.ipv6.as_ref()), F8, |v| {
                u128::from(v.tclass)
            }),
        },
        Field::NwTtl => match ik.ipv4 {
            Some(_) => pick(ik.ipv4.as_ref(), im.map(|m| m.ipv4.as_ref()), F8, |v| {
                u128::from(v.ttl)
            }),
            None => pick(ik.ipv6.as_ref(), im.map(|m| m.ipv6.as_ref()), F8, |v| {
                u128::from(v.hlimit)
            }),
        },
        Field::Ipv6Src => pick(
            ik.ipv6.as_ref(),
            im.map(|m| m.ipv6.as_ref()),
            u128::MAX,
            |v| u128::from(v.src),
        ),
        Field::Ipv6Dst => pick(
            ik.ipv6.as_ref(),
            im.map(|m| m.ipv6.as_ref()),
            u128::MAX,
            |v| u128::from(v.dst),
        ),
        Field::TpSrc | Field::TpDst => {
            let src = fld == Field::TpSrc;
            let f = move |p: &odp::key::PortsKey| u128::from(if src { p.src } else { p.dst });
            if ik.tcp.is_some() {
                pick(ik.tcp.as_ref(), im.map(|m| m.tcp.as_ref()), F16, f)
            } else if ik.udp.is_some() {
                pick(ik.udp.as_ref(), im.map(|m| m.udp.as_ref()), F16, f)
            } else {
                pick(ik.sctp.as_ref(), im.map(|m| m.sctp.as_ref()), F16, f)
            }
        }
        Field::IcmpType | Field::IcmpCode => {
            let ty = fld == Field::IcmpType;
            let f = move |i: &odp::key::IcmpKey| u128::from(if ty { i.ty } else { i.code });
            if ik.icmp.is_some() {
                pick(ik.icmp.as_ref(), im.map(|m| m.icmp.as_ref()), F8, f)
            } else {
                pick(ik.icmpv6.as_ref(), im.map(|m| m.icmpv6.as_ref()), F8, f)
            }
        }
        Field::ArpSpa => pick(ik.arp.as_ref(), im.map(|m| m.arp.as_ref()), F32, |a| {
            u128::from(u32::from(a.sip))
        }),
        Field::ArpTpa => pick(ik.arp.as_ref(), im.map(|m| m.arp.as_ref()), F32, |a| {
            u128::from(u32::from(a.tip))
        }),
        Field::ArpOp => pick(ik.arp.as_ref(), im.map(|m| m.arp.as_ref()), F16, |a| {
            u128::from(a.op)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(s: &str) -> (FlowKey, FlowMask) {
        odp::text::parse_key(s, None).unwrap()
    }

    #[test]
    fn shorthand_and_fields_match_through_the_flows_mask() {
        let names = PortNames::new();
        let (k, m) = flow("in_port(1),eth(src=00:01:02:03:04:05,dst=00:0a:0b:0c:0d:0e),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=6,frag=no),tcp(dst=80),tcp_flags(0/0)");
        let yes = |s: &str| Filter::parse(s, &names).unwrap().matches(&k, Some(&m));
        assert!(yes("tcp"));
        assert!(yes("tcp,tp_dst=80"));
        assert!(!yes("tcp,tp_dst=81"));
        assert!(!yes("udp"));
        assert!(!yes("arp"));
        assert!(yes("ip,nw_src=10.0.0.1"));
        assert!(!yes("nw_dst=10.0.0.9"));
        assert!(yes("in_port=1"));
        assert!(!yes("in_port=2"));
        assert!(yes("dl_src=00:01:02:03:04:05"));
        // tp_src is wildcarded by the flow: it never excludes it.
        assert!(yes("tcp,tp_src=1234"));
    }

    #[test]
    fn port_names_and_errors() {
        let mut names = PortNames::new();
        names.insert(3, "p0");
        let (k, m) = flow("in_port(3),eth(),eth_type(0x0806),arp()");
        assert!(Filter::parse("in_port=p0", &names)
            .unwrap()
            .matches(&k, Some(&m)));
        assert!(Filter::parse("arp", &names).unwrap().matches(&k, Some(&m)));
        assert!(Filter::parse("bogus=1", &names).is_err());
        assert!(Filter::parse("frobnicate", &names).is_err());
        assert!(Filter::parse("in_port=nosuch", &names).is_err());
        assert!(Filter::parse("dl_src=zz", &names).is_err());
        assert!(Filter::parse("nw_proto=300", &names).is_err());
    }
}
