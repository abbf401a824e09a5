//! Key (+mask) formatter, following OVS `odp_flow_format`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lex::{cx, fmt_mac, put_hex};
use super::FormatOptions;
use crate::key::{attr, FlowKey, FlowMask, NshBase, NshKey, TunnelKey};

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
fn payload(k: &FlowKey, t: u16) -> Vec<u8> {
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
fn zero_like(k: &FlowKey, t: u16) -> FlowKey {
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

fn has(k: &FlowKey, t: u16) -> bool {
    attr_order(k).contains(&t)
}

fn is_nested(t: u16) -> bool {
    matches!(t, attr::ENCAP | attr::TUNNEL | attr::NSH)
}

/// OVS `odp_mask_is_constant__` with `ones` = exact / zero = wildcard.
fn mask_is_const(m: &FlowKey, t: u16, ones: bool) -> bool {
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

struct F<'a> {
    s: String,
    verbose: bool,
    opts: &'a FormatOptions<'a>,
}

impl F<'_> {
    fn field(&mut self, name: &str, val: String, mask_str: Option<String>, empty: bool) {
        if self.verbose || !empty {
            self.s.push_str(name);
            self.s.push('=');
            self.s.push_str(&val);
            if let Some(m) = mask_str {
                self.s.push('/');
                self.s.push_str(&m);
            }
            self.s.push(',');
        }
    }
    fn u8u(&mut self, name: &str, k: u8, m: Option<u8>) {
        let ms = m.filter(|&x| x != 0xff).map(|x| cx(x as u64));
        self.field(name, k.to_string(), ms, m == Some(0));
    }
    fn u8x(&mut self, name: &str, k: u8, m: Option<u8>) {
        let ms = m.filter(|&x| x != 0xff).map(|x| cx(x as u64));
        self.field(name, cx(k as u64), ms, m == Some(0));
    }
    fn be16(&mut self, name: &str, k: u16, m: Option<u16>) {
        let ms = m.filter(|&x| x != 0xffff).map(|x| cx(x as u64));
        self.field(name, k.to_string(), ms, m == Some(0));
    }
    fn be16x(&mut self, name: &str, k: u16, m: Option<u16>) {
        let ms = m.filter(|&x| x != 0xffff).map(|x| cx(x as u64));
        self.field(name, cx(k as u64), ms, m == Some(0));
    }
    fn ipv4(&mut self, name: &str, k: Ipv4Addr, m: Option<Ipv4Addr>) {
        let ms = m
            .filter(|x| *x != Ipv4Addr::BROADCAST)
            .map(|x| x.to_string());
        self.field(name, k.to_string(), ms, m == Some(Ipv4Addr::UNSPECIFIED));
    }
    fn in6(&mut self, name: &str, k: Ipv6Addr, m: Option<Ipv6Addr>) {
        let ms = m
            .filter(|x| u128::from(*x) != u128::MAX)
            .map(|x| x.to_string());
        self.field(name, k.to_string(), ms, m == Some(Ipv6Addr::UNSPECIFIED));
    }
    fn eth(&mut self, name: &str, k: [u8; 6], m: Option<[u8; 6]>) {
        let empty = m == Some([0; 6]);
        if self.verbose || !empty {
            match m {
                Some(mm) if mm != [0xff; 6] => {
                    self.s
                        .push_str(&format!("{}={}/{},", name, fmt_mac(&k), fmt_mac(&mm)));
                }
                _ => self.s.push_str(&format!("{}={},", name, fmt_mac(&k))),
            }
        }
    }
    fn chomp(&mut self) {
        if self.s.ends_with(',') {
            self.s.pop();
        }
    }
}

fn flags_str(v: u32, names: &dyn Fn(u32) -> Option<&'static str>, del: char) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut s = String::new();
    let mut bad = 0u32;
    let mut f = v;
    while f != 0 {
        let bit = f & f.wrapping_neg();
        match names(bit) {
            Some(n) => {
                s.push_str(n);
                s.push(del);
            }
            None => bad |= bit,
        }
        f &= !bit;
    }
    if bad != 0 {
        s.push_str(&format!("0x{bad:x}{del}"));
    }
    s.pop();
    s
}

fn flags_masked(v: u32, m: u32, max: u32, names: &dyn Fn(u32) -> Option<&'static str>) -> String {
    if m == max {
        return flags_str(v, names, '|');
    }
    if m == 0 {
        return "0/0".into();
    }
    let mut s = String::new();
    let mut mm = m;
    while mm != 0 {
        let bit = mm & mm.wrapping_neg();
        s.push(if v & bit != 0 { '+' } else { '-' });
        s.push_str(names(bit).unwrap_or("[Unknown]"));
        mm &= !bit;
    }
    s
}

pub(crate) fn ct_state_name(b: u32) -> Option<&'static str> {
    Some(match b {
        0x08 => "rpl",
        0x20 => "trk",
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x10 => "inv",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

pub(crate) fn tcp_flag_name(b: u32) -> Option<&'static str> {
    Some(match b {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
    })
}

pub(crate) fn tun_flag_name(b: u32) -> Option<&'static str> {
    Some(match b {
        1 => "oam",
        2 => "df",
        4 => "csum",
        8 => "key",
        _ => return None,
    })
}

fn hex_plain(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn u128_le(b: &[u8; 16]) -> [u8; 16] {
    // Read as a host (little-endian) u128 and print big-endian.
    u128::from_le_bytes(*b).to_be_bytes()
}

/// Format a key with an optional mask (`None` = pure key, everything exact).
pub fn format_key(key: &FlowKey, mask: Option<&FlowMask>, opts: &FormatOptions<'_>) -> String {
    let mut f = F {
        s: String::new(),
        verbose: opts.verbose,
        opts,
    };
    format_into(&mut f, key, mask);
    f.s
}

fn format_into(f: &mut F<'_>, key: &FlowKey, mask: Option<&FlowMask>) {
    let order = attr_order(key);
    if order.is_empty() {
        f.s.push_str("<empty>");
        return;
    }
    let mut first = true;
    for t in order.iter().copied() {
        let ma: Option<FlowKey> = mask.map(|m| {
            if has(m, t) {
                single(m, t)
            } else {
                zero_like(key, t)
            }
        });
        let is_wild = match (&mask, &ma) {
            (Some(m), Some(x)) => !has(m, t) || mask_is_const(x, t, false),
            _ => false,
        };
        if f.verbose || !is_wild || is_nested(t) {
            if !first {
                f.s.push(',');
            }
            format_attr(f, key, ma.as_ref(), t);
            first = false;
        } else if t == attr::ETHERNET && key.packet_type.is_none() {
            if !first {
                f.s.push(',');
            }
            f.s.push_str("eth()");
            first = false;
        }
    }
    if key.eth_type.is_none() {
        if let Some(et) = mask.and_then(|m| m.eth_type) {
            f.s.push_str(&format!(",eth_type(0/0x{et:04x})"));
        }
    }
}

fn format_attr(f: &mut F<'_>, k: &FlowKey, ma: Option<&FlowKey>, t: u16) {
    use attr::*;
    let exact = ma.is_none_or(|m| mask_is_const(m, t, true));
    f.s.push_str(&attr_name(t));
    f.s.push('(');
    let mask_empty = ma.is_none_or(|m| mask_is_const(m, t, false));
    match t {
        ENCAP => {
            let inner = k.encap.as_deref().cloned().unwrap_or_default();
            if !inner.is_empty() {
                let im = ma
                    .and_then(|m| m.encap.as_deref())
                    .filter(|m| !m.is_empty());
                let mut sub = F {
                    s: String::new(),
                    verbose: f.verbose,
                    opts: f.opts,
                };
                format_into(&mut sub, &inner, im);
                f.s.push_str(&sub.s);
            }
        }
        PRIORITY | SKB_MARK | DP_HASH | RECIRC_ID => {
            let get = |x: &FlowKey| match t {
                PRIORITY => x.priority,
                SKB_MARK => x.skb_mark,
                DP_HASH => x.dp_hash,
                _ => x.recirc_id,
            };
            f.s.push_str(&cx(get(k).unwrap_or(0) as u64));
            if !exact {
                f.s.push_str(&format!("/{}", cx(ma.and_then(get).unwrap_or(0) as u64)));
            }
        }
        CT_MARK | CT_ZONE => {
            let get = |x: &FlowKey| {
                if t == CT_MARK {
                    x.ct_mark.map(u64::from)
                } else {
                    x.ct_zone.map(u64::from)
                }
            };
            if f.verbose || !mask_empty {
                f.s.push_str(&cx(get(k).unwrap_or(0)));
                if !exact {
                    f.s.push_str(&format!("/{}", cx(ma.and_then(get).unwrap_or(0))));
                }
            }
        }
        CT_STATE => {
            let v = k.ct_state.unwrap_or(0);
            let m = if mask_empty {
                0
            } else {
                ma.and_then(|x| x.ct_state).unwrap_or(0)
            };
            if f.verbose {
                f.s.push_str(&cx(v as u64));
                if !exact {
                    f.s.push_str(&format!("/{}", cx(m as u64)));
                }
            } else if !exact {
                f.s.push_str(&flags_masked(v, m, u32::MAX, &ct_state_name));
            } else {
                f.s.push_str(&flags_str(v, &ct_state_name, '|'));
            }
        }
        CT_LABELS => {
            let v = k.ct_labels.unwrap_or([0; 16]);
            let m = ma.map(|x| x.ct_labels.unwrap_or([0; 16]));
            if f.verbose || m.is_some_and(|m| m != [0; 16]) {
                f.s.push_str(&put_hex(&u128_le(&v)));
                if let Some(m) = m.filter(|m| *m != [0xff; 16]) {
                    f.s.push('/');
                    f.s.push_str(&put_hex(&u128_le(&m)));
                }
            }
        }
        CT_ORIG_TUPLE_IPV4 => {
            let v = k.ct_orig_tuple_ipv4.unwrap_or_default();
            let m = ma.map(|x| x.ct_orig_tuple_ipv4.unwrap_or_default());
            f.ipv4("src", v.src, m.map(|m| m.src));
            f.ipv4("dst", v.dst, m.map(|m| m.dst));
            f.u8u("proto", v.proto, m.map(|m| m.proto));
            f.be16("tp_src", v.src_port, m.map(|m| m.src_port));
            f.be16("tp_dst", v.dst_port, m.map(|m| m.dst_port));
            f.chomp();
        }
        CT_ORIG_TUPLE_IPV6 => {
            let v = k.ct_orig_tuple_ipv6.unwrap_or_default();
            let m = ma.map(|x| x.ct_orig_tuple_ipv6.unwrap_or_default());
            f.in6("src", v.src, m.map(|m| m.src));
            f.in6("dst", v.dst, m.map(|m| m.dst));
            f.u8u("proto", v.proto, m.map(|m| m.proto));
            f.be16("src_port", v.src_port, m.map(|m| m.src_port));
            f.be16("dst_port", v.dst_port, m.map(|m| m.dst_port));
            f.chomp();
        }
        TUNNEL => format_tunnel(
            f,
            k.tunnel.as_ref(),
            ma.map(|m| m.tunnel.clone().unwrap_or_default()),
        ),
        IN_PORT => {
            let v = k.in_port.unwrap_or(0);
            if exact {
                match f.opts.names.and_then(|n| n.name(v)) {
                    Some(n) => f.s.push_str(n),
                    None => f.s.push_str(&v.to_string()),
                }
            } else {
                f.s.push_str(&format!(
                    "{}/{}",
                    v,
                    cx(ma.and_then(|m| m.in_port).unwrap_or(0) as u64)
                ));
            }
        }
        PACKET_TYPE => {
            let v = k.packet_type.unwrap_or(0);
            let m = ma.map_or(u32::MAX, |x| x.packet_type.unwrap_or(0));
            // packet_type is ns << 16 | id: each half is 16 bits.
            f.be16("ns", (v >> 16) as u16, Some((m >> 16) as u16));
            f.be16x("id", (v & 0xffff) as u16, Some((m & 0xffff) as u16));
            f.chomp();
        }
        ETHERNET => {
            let v = k.ethernet.unwrap_or_default();
            let m = ma.map(|x| x.ethernet.unwrap_or_default());
            f.eth("src", v.src, m.map(|m| m.src));
            f.eth("dst", v.dst, m.map(|m| m.dst));
            f.chomp();
        }
        VLAN => {
            let tci = k.vlan.unwrap_or(0);
            let m = ma.map_or(0xffff, |x| x.vlan.unwrap_or(0));
            format_vlan_tci(&mut f.s, tci, m, f.verbose);
        }
        MPLS => {
            let v = k.mpls.clone().unwrap_or_default();
            let m = if exact {
                None
            } else {
                ma.and_then(|x| x.mpls.clone())
            };
            let parts: Vec<String> = v
                .iter()
                .enumerate()
                .map(|(i, &l)| match &m {
                    None => mpls_lse(l),
                    Some(mm) => {
                        let x = mm.get(i).copied().unwrap_or(0);
                        format!(
                            "label={}/0x{:x},tc={}/{:x},ttl={}/0x{:x},bos={}/{:x}",
                            l >> 12,
                            x >> 12,
                            (l >> 9) & 7,
                            (x >> 9) & 7,
                            l & 0xff,
                            x & 0xff,
                            (l >> 8) & 1,
                            (x >> 8) & 1
                        )
                    }
                })
                .collect();
            f.s.push_str(&parts.join(","));
        }
        ETHERTYPE => {
            f.s.push_str(&format!("0x{:04x}", k.eth_type.unwrap_or(0)));
            if !exact {
                f.s.push_str(&format!(
                    "/0x{:04x}",
                    ma.and_then(|m| m.eth_type).unwrap_or(0)
                ));
            }
        }
        IPV4 => {
            let v = k.ipv4.unwrap_or_default();
            let m = ma.map(|x| x.ipv4.unwrap_or_default());
            f.ipv4("src", v.src, m.map(|m| m.src));
            f.ipv4("dst", v.dst, m.map(|m| m.dst));
            f.u8u("proto", v.proto, m.map(|m| m.proto));
            f.u8x("tos", v.tos, m.map(|m| m.tos));
            f.u8u("ttl", v.ttl, m.map(|m| m.ttl));
            format_frag(f, v.frag, m.map(|m| m.frag));
            f.chomp();
        }
        IPV6 => {
            let v = k.ipv6.unwrap_or_default();
            let m = ma.map(|x| x.ipv6.unwrap_or_default());
            f.in6("src", v.src, m.map(|m| m.src));
            f.in6("dst", v.dst, m.map(|m| m.dst));
            let lm = m.map(|m| m.label);
            if f.verbose || lm != Some(0) {
                f.s.push_str(&format!("label={}", cx(v.label as u64)));
                if let Some(l) = lm.filter(|l| l & 0x000f_ffff != 0x000f_ffff) {
                    f.s.push_str(&format!("/{}", cx(l as u64)));
                }
                f.s.push(',');
            }
            f.u8u("proto", v.proto, m.map(|m| m.proto));
            f.u8x("tclass", v.tclass, m.map(|m| m.tclass));
            f.u8u("hlimit", v.hlimit, m.map(|m| m.hlimit));
            format_frag(f, v.frag, m.map(|m| m.frag));
            f.chomp();
        }
        TCP | UDP | SCTP => {
            let get = |x: &FlowKey| match t {
                TCP => x.tcp,
                UDP => x.udp,
                _ => x.sctp,
            };
            let v = get(k).unwrap_or_default();
            let m = ma.map(|x| get(x).unwrap_or_default());
            f.be16("src", v.src, m.map(|m| m.src));
            f.be16("dst", v.dst, m.map(|m| m.dst));
            f.chomp();
        }
        TCP_FLAGS => {
            let v = k.tcp_flags.unwrap_or(0) as u32;
            if !exact {
                let m = ma.and_then(|x| x.tcp_flags).unwrap_or(0) as u32 & 0x0fff;
                f.s.push_str(&flags_masked(v, m, 0x0fff, &tcp_flag_name));
            } else {
                f.s.push_str(&flags_str(v, &tcp_flag_name, '|'));
            }
        }
        ICMP | ICMPV6 => {
            let get = |x: &FlowKey| if t == ICMP { x.icmp } else { x.icmpv6 };
            let v = get(k).unwrap_or_default();
            let m = ma.map(|x| get(x).unwrap_or_default());
            f.u8u("type", v.ty, m.map(|m| m.ty));
            f.u8u("code", v.code, m.map(|m| m.code));
            f.chomp();
        }
        ARP => {
            let v = k.arp.unwrap_or_default();
            let m = ma.map(|x| x.arp.unwrap_or_default());
            f.ipv4("sip", v.sip, m.map(|m| m.sip));
            f.ipv4("tip", v.tip, m.map(|m| m.tip));
            f.be16("op", v.op, m.map(|m| m.op));
            f.eth("sha", v.sha, m.map(|m| m.sha));
            f.eth("tha", v.tha, m.map(|m| m.tha));
            f.chomp();
        }
        ND => {
            let v = k.nd.unwrap_or_default();
            let m = ma.map(|x| x.nd.unwrap_or_default());
            f.in6("target", v.target, m.map(|m| m.target));
            f.eth("sll", v.sll, m.map(|m| m.sll));
            f.eth("tll", v.tll, m.map(|m| m.tll));
            f.chomp();
        }
        ND_EXTENSIONS => {
            let v = k.nd_extensions.unwrap_or_default();
            let m = ma.map(|x| x.nd_extensions.unwrap_or_default());
            f.s.push_str(&format!("nd_reserved=0x{:x},", v.reserved));
            f.u8u("nd_options_type", v.options_type, m.map(|m| m.options_type));
            f.chomp();
        }
        NSH => format_nsh_key(f, k.nsh.as_ref(), ma.and_then(|m| m.nsh.as_ref())),
        _ => {
            f.s.push_str(&hex_plain(&payload(k, t)));
            if !exact {
                if let Some(m) = ma {
                    f.s.push('/');
                    f.s.push_str(&hex_plain(&payload(m, t)));
                }
            }
        }
    }
    f.s.push(')');
}

pub(crate) fn mpls_lse(l: u32) -> String {
    format!(
        "label={},tc={},ttl={},bos={}",
        l >> 12,
        (l >> 9) & 7,
        l & 0xff,
        (l >> 8) & 1
    )
}

pub(crate) fn format_vlan_tci(s: &mut String, tci: u16, m: u16, verbose: bool) {
    let vid = tci & 0x0fff;
    let mvid = m & 0x0fff;
    let pcp = tci >> 13;
    let mpcp = m >> 13;
    if verbose || vid != 0 || mvid != 0 {
        s.push_str(&format!("vid={vid}"));
        if mvid != 0x0fff {
            s.push_str(&format!("/0x{mvid:x}"));
        }
        s.push(',');
    }
    if verbose || pcp != 0 || mpcp != 0 {
        s.push_str(&format!("pcp={pcp}"));
        if mpcp != 7 {
            s.push_str(&format!("/0x{mpcp:x}"));
        }
        s.push(',');
    }
    if tci & 0x1000 == 0 {
        s.push_str("cfi=0,");
    }
    if s.ends_with(',') {
        s.pop();
    }
}

fn format_frag(f: &mut F<'_>, k: u8, m: Option<u8>) {
    let empty = m == Some(0);
    let full = m.is_none_or(|x| x == 0xff);
    if !empty && !full {
        f.s.push_str(&format!(
            "error: partial mask not supported for frag ({}),",
            cx(m.unwrap_or(0) as u64)
        ));
    } else if !empty {
        let name = match k {
            0 => "no",
            1 => "first",
            2 => "later",
            _ => "<error>",
        };
        f.s.push_str(&format!("frag={name},"));
    }
}

fn format_tunnel(f: &mut F<'_>, t: Option<&TunnelKey>, m: Option<TunnelKey>) {
    let t = t.cloned().unwrap_or_default();
    let mut flags = 0u32;
    let mut mflags = 0u32;
    let mm = m.as_ref();
    if let Some(id) = t.id {
        let mv = mm.map(|x| x.id.unwrap_or(0));
        if f.verbose || mv != Some(0) {
            f.s.push_str(&format!("tun_id=0x{id:x}"));
            if let Some(x) = mv.filter(|x| *x != u64::MAX) {
                f.s.push_str(&format!("/{}", cx(x)));
            }
            f.s.push(',');
        }
        flags |= 8;
        if mm.is_some() {
            mflags |= 8;
        }
    }
    let z4 = Ipv4Addr::UNSPECIFIED;
    let z6 = Ipv6Addr::UNSPECIFIED;
    if let Some(a) = t.ipv4_src {
        f.ipv4("src", a, mm.map(|x| x.ipv4_src.unwrap_or(z4)));
    }
    if let Some(a) = t.ipv4_dst {
        f.ipv4("dst", a, mm.map(|x| x.ipv4_dst.unwrap_or(z4)));
    }
    if let Some(a) = t.ipv6_src {
        f.in6("ipv6_src", a, mm.map(|x| x.ipv6_src.unwrap_or(z6)));
    }
    if let Some(a) = t.ipv6_dst {
        f.in6("ipv6_dst", a, mm.map(|x| x.ipv6_dst.unwrap_or(z6)));
    }
    if let Some(v) = t.tos {
        f.u8x("tos", v, mm.map(|x| x.tos.unwrap_or(0)));
    }
    if let Some(v) = t.ttl {
        f.u8u("ttl", v, mm.map(|x| x.ttl.unwrap_or(0)));
    }
    if t.dont_fragment {
        flags |= 2;
    }
    if t.csum {
        flags |= 4;
    }
    if let Some(v) = t.tp_src {
        f.be16("tp_src", v, mm.map(|x| x.tp_src.unwrap_or(0)));
    }
    if let Some(v) = t.tp_dst {
        f.be16("tp_dst", v, mm.map(|x| x.tp_dst.unwrap_or(0)));
    }
    if t.oam {
        flags |= 1;
    }
    if let Some(g) = &t.geneve_opts {
        f.s.push_str("geneve(");
        let gm = mm.map(|x| x.geneve_opts.clone().unwrap_or_else(|| vec![0; g.len()]));
        format_geneve(f, g, gm.as_deref());
        f.s.push_str("),");
    }
    if let Some(v) = &t.vxlan_opts {
        f.s.push_str("vxlan(");
        if let Some(g) = v.gbp {
            let gm = mm.map(|x| x.vxlan_opts.and_then(|o| o.gbp).unwrap_or(0));
            f.s.push_str("gbp(");
            // The GBP word is flags << 16 | id; OVS shows the id's 16 bits and
            // 8 flag bits, and so do we.
            f.be16("id", (g & 0xffff) as u16, gm.map(|m| (m & 0xffff) as u16));
            f.u8x(
                "flags",
                ((g >> 16) & 0xff) as u8,
                gm.map(|m| ((m >> 16) & 0xff) as u8),
            );
            f.chomp();
            f.s.push_str("),");
        }
        f.chomp();
        f.s.push_str("),");
    }
    if let Some(e) = &t.erspan_opts {
        let em = mm.map(|x| x.erspan_opts.clone().unwrap_or_else(|| vec![0; e.len()]));
        format_erspan(f, e, em.as_deref());
    }
    if let Some(m) = mm {
        if m.dont_fragment {
            mflags |= 2;
        }
        if m.csum {
            mflags |= 4;
        }
        if m.oam {
            mflags |= 1;
        }
    }
    let mask_empty = mm.is_some() && mflags == 0;
    if f.verbose || !mask_empty {
        f.s.push_str("flags(");
        if mm.is_some() {
            f.s.push_str(&flags_masked(flags, mflags & 0xf, 0xf, &tun_flag_name));
        } else {
            f.s.push_str(&flags_str(flags, &tun_flag_name, '|'));
        }
        f.s.push_str("),");
    }
    f.chomp();
}

/// `struct erspan_metadata`: `int version` (host order), then v1 `be32
/// index` or v2 `erspan_md2` (dir = bit 3, hwid = bits 4..7 of byte 11).
fn format_erspan(f: &mut F<'_>, e: &[u8], m: Option<&[u8]>) {
    if e.len() != 12 || m.is_some_and(|m| m.len() != 12) {
        f.s.push_str(&format!("erspan({}),", hex_plain(e)));
        return;
    }
    let ver = e[0];
    f.s.push_str("erspan(");
    f.u8u("ver", ver, m.map(|m| m[0]));
    let ver_full = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
    if ver_full == 1 {
        let idx = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
        match m {
            Some(m) => {
                let mi = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                f.s.push_str(&format!("idx={}/{},", cx(idx as u64), cx(mi as u64)));
            }
            None => f.s.push_str(&format!("idx={},", cx(idx as u64))),
        }
    } else if ver_full == 2 {
        f.u8u("dir", (e[11] >> 3) & 1, m.map(|m| (m[11] >> 3) & 1));
        f.u8x("hwid", e[11] >> 4, m.map(|m| m[11] >> 4));
    }
    f.chomp();
    f.s.push_str("),");
}

fn format_geneve(f: &mut F<'_>, g: &[u8], m: Option<&[u8]>) {
    let mut off = 0;
    while off < g.len() {
        if g.len() - off < 4 {
            f.s.push_str(&format!("opt len {} less than minimum 4", g.len() - off));
            return;
        }
        let class = u16::from_be_bytes([g[off], g[off + 1]]);
        let ty = g[off + 2];
        // The option length is 5 bits of 4-byte words: at most 124 bytes.
        let dlen_u8 = (g[off + 3] & 0x1f) * 4;
        let dlen = usize::from(dlen_u8);
        let mo = m.map(|m| {
            let b = |i: usize| m.get(off + i).copied().unwrap_or(0);
            (u16::from_be_bytes([b(0), b(1)]), b(2), b(3) & 0x1f)
        });
        if off + 4 + dlen > g.len() {
            f.s.push_str(&format!(
                "opt len {} greater than remaining {}",
                4 + dlen,
                g.len() - off
            ));
            return;
        }
        f.s.push('{');
        f.be16x("class", class, mo.map(|x| x.0));
        f.u8x("type", ty, mo.map(|x| x.1));
        let lm = mo.map(|x| if x.2 == 0x1f { 0xff } else { x.2 });
        f.u8u("len", dlen_u8, lm);
        let data = &g[off + 4..off + 4 + dlen];
        let mdata: Option<Vec<u8>> = m.map(|m| {
            (0..dlen)
                .map(|i| m.get(off + 4 + i).copied().unwrap_or(0))
                .collect()
        });
        if dlen > 0 && (f.verbose || mdata.as_ref().is_none_or(|d| d.iter().any(|&x| x != 0))) {
            f.s.push_str(&put_hex(data));
            if let Some(d) = mdata.filter(|d| d.iter().any(|&x| x != 0xff)) {
                f.s.push('/');
                f.s.push_str(&put_hex(&d));
            }
        } else {
            f.chomp();
        }
        f.s.push('}');
        off += 4 + dlen;
    }
}

fn format_nsh_key(f: &mut F<'_>, k: Option<&NshKey>, m: Option<&NshKey>) {
    let k = k.cloned().unwrap_or_default();
    let b = k.base.unwrap_or_default();
    let ctx = k.md1.unwrap_or_default().context;
    match m {
        None => f.s.push_str(&nsh_plain(&b, &ctx)),
        Some(m) => {
            // Parts missing from the mask count as exact (OVS
            // format_odp_nsh_attr starts from an all-ones mask).
            let mb = m.base.unwrap_or(NshBase {
                flags: 0xff,
                ttl: 0xff,
                mdtype: 0xff,
                np: 0xff,
                path_hdr: u32::MAX,
            });
            let mc = m.md1.map_or([u32::MAX; 4], |x| x.context);
            f.s.push_str(&nsh_masked(&b, &ctx, &mb, &mc));
        }
    }
}

/// OVS `format_nsh_key`.
pub(crate) fn nsh_plain(b: &NshBase, ctx: &[u32; 4]) -> String {
    let mut s = format!(
        "flags={},ttl={},mdtype={},np={},spi=0x{:x},si={}",
        b.flags,
        b.ttl,
        b.mdtype,
        b.np,
        b.path_hdr >> 8,
        b.path_hdr & 0xff
    );
    if b.mdtype == 1 {
        for (i, c) in ctx.iter().enumerate() {
            s.push_str(&format!(",c{}=0x{:x}", i + 1, c));
        }
    }
    s
}

/// OVS `format_nsh_key_mask`: zero-mask fields omitted, full masks plain.
pub(crate) fn nsh_masked(b: &NshBase, ctx: &[u32; 4], mb: &NshBase, mc: &[u32; 4]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let u8m = |parts: &mut Vec<String>, name: &str, v: u8, m: u8| match m {
        0 => {}
        0xff => parts.push(format!("{name}={v}")),
        _ => parts.push(format!("{name}=0x{v:02x}/0x{m:02x}")),
    };
    let u32m = |parts: &mut Vec<String>, name: &str, v: u32, m: u32| match m {
        0 => {}
        u32::MAX => parts.push(format!("{name}=0x{v:x}")),
        _ => parts.push(format!("{name}=0x{v:x}/0x{m:08x}")),
    };
    u8m(&mut parts, "flags", b.flags, mb.flags);
    u8m(&mut parts, "ttl", b.ttl, mb.ttl);
    u8m(&mut parts, "mdtype", b.mdtype, mb.mdtype);
    u8m(&mut parts, "np", b.np, mb.np);
    let spi_m = mb.path_hdr >> 8;
    u32m(
        &mut parts,
        "spi",
        b.path_hdr >> 8,
        if spi_m == 0x00ff_ffff {
            u32::MAX
        } else {
            spi_m
        },
    );
    u8m(
        &mut parts,
        "si",
        (b.path_hdr & 0xff) as u8,
        (mb.path_hdr & 0xff) as u8,
    );
    for i in 0..4 {
        u32m(&mut parts, &format!("c{}", i + 1), ctx[i], mc[i]);
    }
    parts.join(",")
}
