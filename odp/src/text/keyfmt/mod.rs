//! Key (+mask) formatter, following OVS `odp_flow_format`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lex::{cx, fmt_mac, put_hex};
use super::FormatOptions;
use crate::key::{attr, FlowKey, FlowMask};

mod attrs;
mod flags;
mod nsh;
mod tunnel;

pub(crate) use flags::{ct_state_name, tcp_flag_name, tun_flag_name};
pub(crate) use nsh::nsh_masked;

use attrs::{attr_name, attr_order, has, is_nested, mask_is_const, payload, single, zero_like};
use flags::{flags_masked, flags_str};
use nsh::format_nsh_key;
use tunnel::format_tunnel;

// The field writer every attribute formatter shares; defined at the root so
// that the child modules can use its private fields and methods.
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
