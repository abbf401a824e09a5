//! Key (+mask) parser, following OVS `odp_flow_from_string`: a sub-field
//! omitted inside a struct attribute is wildcarded, a sub-field without
//! `/mask` is exact, an attribute not written is absent from key and mask.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::keyfmt::{ct_state_name, tcp_flag_name, tun_flag_name};
use super::lex::{call, fields, hex_n, ipv4, ipv6, mac, split_top, syn, uint, vm};
use super::PortNames;
use crate::error::{Error, Result};
use crate::key::{
    ArpKey, CtTupleIpv4, CtTupleIpv6, EthernetKey, FlowKey, FlowMask, IcmpKey, Ipv4Key, Ipv6Key,
    NdExtKey, NdKey, NshBase, NshKey, NshMd1, PortsKey, TunnelKey, VxlanOpts,
};

/// Longest text input accepted (a key must fit a 64 KiB attribute).
const MAX_TEXT: usize = 65535;
/// Parser nesting bound (OVS `MAX_ODP_NESTED`).
const MAX_NESTED: usize = 32;

/// Parse a flow in ODP text syntax into key and mask. A leading
/// `ufid:UUID` is skipped. `names` resolves `in_port(NAME)`.
///
/// # Errors
/// `EINVAL` ([`Error::Syntax`]) on malformed text, `E2BIG` when too long.
pub fn parse_key(s: &str, names: Option<&PortNames>) -> Result<(FlowKey, FlowMask)> {
    if s.len() > MAX_TEXT {
        return Err(Error::TextTooBig("flow key"));
    }
    let mut t = s.trim_start();
    if let Some((_, n)) = super::parse_ufid(t)? {
        t = t[n..].trim_start();
        t = t.strip_prefix(',').unwrap_or(t);
    }
    let mut k = FlowKey::default();
    let mut m = FlowKey::default();
    parse_list(t, &mut k, &mut m, names, 0)?;
    if k.to_bytes().len() > MAX_TEXT {
        return Err(Error::TextTooBig("flow key"));
    }
    Ok((k, m))
}

fn parse_list(
    s: &str,
    k: &mut FlowKey,
    m: &mut FlowKey,
    names: Option<&PortNames>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_NESTED {
        return Err(Error::TextTooBig("nested encap"));
    }
    for item in split_top(s)? {
        parse_item(item, k, m, names, depth)?;
    }
    Ok(())
}

fn dup(name: &str) -> Error {
    syn(0, format!("duplicate {name}"))
}

fn set<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<()> {
    if slot.is_some() {
        return Err(dup(name));
    }
    *slot = Some(v);
    Ok(())
}

/// `v[/m]` as an unsigned of `bits` bits, in a `T` at least that wide; the mask
/// defaults to all ones (of `bits` bits).
fn num<T: TryFrom<u64>>(s: &str, bits: u32) -> Result<(T, T)> {
    let (v, mk) = vm(s);
    let full = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mask = match mk {
        Some(x) => uint(x, bits)?,
        None => T::try_from(full).map_err(|_| syn(0, format!("'{s}' out of range")))?,
    };
    Ok((uint(v, bits)?, mask))
}

fn ip4m(s: &str) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let (v, mk) = vm(s);
    Ok((
        ipv4(v)?,
        mk.map(ipv4).transpose()?.unwrap_or(Ipv4Addr::BROADCAST),
    ))
}

fn ip6m(s: &str) -> Result<(Ipv6Addr, Ipv6Addr)> {
    let (v, mk) = vm(s);
    Ok((
        ipv6(v)?,
        mk.map(ipv6)
            .transpose()?
            .unwrap_or(Ipv6Addr::from(u128::MAX)),
    ))
}

fn macm(s: &str) -> Result<([u8; 6], [u8; 6])> {
    let (v, mk) = vm(s);
    Ok((mac(v)?, mk.map(mac).transpose()?.unwrap_or([0xff; 6])))
}

fn frag(s: &str) -> Result<(u8, u8)> {
    let v = match s {
        "no" => 0,
        "first" => 1,
        "later" => 2,
        _ => return Err(syn(0, format!("bad frag '{s}'"))),
    };
    Ok((v, 0xff))
}

/// Flags: numeric `v[/m]`, exact `a|b`, or masked `+a-b`.
fn flags(
    s: &str,
    names: &dyn Fn(u32) -> Option<&'static str>,
    bits: u32,
    max: u32,
) -> Result<(u32, u32)> {
    let s = s.trim();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return num::<u32>(s, bits);
    }
    let lookup = |n: &str| -> Result<u32> {
        (0..32)
            .map(|i| 1u32 << i)
            .find(|&b| names(b) == Some(n))
            .ok_or_else(|| syn(0, format!("unknown flag '{n}'")))
    };
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u32, 0u32);
        let mut rest = s;
        while !rest.is_empty() {
            let sign = rest.as_bytes()[0];
            if sign != b'+' && sign != b'-' {
                return Err(syn(0, format!("bad flags '{s}'")));
            }
            rest = &rest[1..];
            let end = rest.find(['+', '-']).unwrap_or(rest.len());
            let b = lookup(&rest[..end])?;
            m |= b;
            if sign == b'+' {
                v |= b;
            }
            rest = &rest[end..];
        }
        return Ok((v, m));
    }
    let mut v = 0u32;
    for n in s.split('|') {
        v |= lookup(n.trim())?;
    }
    Ok((v, max))
}

pub(crate) fn parse_item(
    item: &str,
    k: &mut FlowKey,
    m: &mut FlowKey,
    names: Option<&PortNames>,
    depth: usize,
) -> Result<()> {
    let (name, args) =
        call(item).ok_or_else(|| syn(0, format!("expected name(...) at '{item}'")))?;
    match name {
        "skb_priority" | "skb_mark" | "dp_hash" | "ct_mark" => {
            let (v, mk) = num::<u32>(args, 32)?;
            let (ks, ms) = match name {
                "skb_priority" => (&mut k.priority, &mut m.priority),
                "skb_mark" => (&mut k.skb_mark, &mut m.skb_mark),
                "dp_hash" => (&mut k.dp_hash, &mut m.dp_hash),
                _ => (&mut k.ct_mark, &mut m.ct_mark),
            };
            set(ks, v, name)?;
            *ms = Some(mk);
        }
        "recirc_id" => {
            set(&mut k.recirc_id, uint(args, 32)?, name)?;
            m.recirc_id = Some(u32::MAX);
        }
        "ct_zone" => {
            let (v, mk) = num::<u16>(args, 16)?;
            set(&mut k.ct_zone, v, name)?;
            m.ct_zone = Some(mk);
        }
        "ct_state" => {
            let (v, mk) = flags(args, &ct_state_name, 32, u32::MAX)?;
            set(&mut k.ct_state, v, name)?;
            m.ct_state = Some(mk);
        }
        "ct_label" => {
            let (v, mk) = vm(args);
            let to_wire = |x: &[u8]| -> [u8; 16] {
                let mut a = [0u8; 16];
                a.copy_from_slice(x);
                u128::from_be_bytes(a).to_le_bytes()
            };
            let val = to_wire(&hex_n(v, 16)?);
            let msk = match mk {
                Some(x) => to_wire(&hex_n(x, 16)?),
                None => [0xff; 16],
            };
            set(&mut k.ct_labels, val, name)?;
            m.ct_labels = Some(msk);
        }
        "ct_tuple4" => {
            let (mut kv, mut mv) = (CtTupleIpv4::default(), CtTupleIpv4::default());
            for (f, v) in fields(args)? {
                match f {
                    "src" => (kv.src, mv.src) = ip4m(v)?,
                    "dst" => (kv.dst, mv.dst) = ip4m(v)?,
                    "proto" => (kv.proto, mv.proto) = num(v, 8)?,
                    "tp_src" => (kv.src_port, mv.src_port) = num(v, 16)?,
                    "tp_dst" => (kv.dst_port, mv.dst_port) = num(v, 16)?,
                    _ => return Err(syn(0, format!("unknown ct_tuple4 field '{f}'"))),
                }
            }
            set(&mut k.ct_orig_tuple_ipv4, kv, name)?;
            m.ct_orig_tuple_ipv4 = Some(mv);
        }
        "ct_tuple6" => {
            let (mut kv, mut mv) = (CtTupleIpv6::default(), CtTupleIpv6::default());
            for (f, v) in fields(args)? {
                match f {
                    "src" => (kv.src, mv.src) = ip6m(v)?,
                    "dst" => (kv.dst, mv.dst) = ip6m(v)?,
                    "proto" => (kv.proto, mv.proto) = num(v, 8)?,
                    // OVS prints src_port/dst_port but parses tp_src/tp_dst: accept both.
                    "tp_src" | "src_port" => (kv.src_port, mv.src_port) = num(v, 16)?,
                    "tp_dst" | "dst_port" => (kv.dst_port, mv.dst_port) = num(v, 16)?,
                    _ => return Err(syn(0, format!("unknown ct_tuple6 field '{f}'"))),
                }
            }
            set(&mut k.ct_orig_tuple_ipv6, kv, name)?;
            m.ct_orig_tuple_ipv6 = Some(mv);
        }
        "tunnel" => {
            let (t, tm) = parse_tunnel(args)?;
            set(&mut k.tunnel, t, name)?;
            m.tunnel = Some(tm);
        }
        "in_port" => {
            let (v, mk) = vm(args);
            let port = match names.and_then(|n| n.number(v.trim())) {
                Some(p) => p,
                None => uint(v, 32)?,
            };
            let mask = match mk {
                Some(x) => uint(x, 32)?,
                None => u32::MAX,
            };
            set(&mut k.in_port, port, name)?;
            m.in_port = Some(mask);
        }
        "eth" => {
            let (mut kv, mut mv) = (EthernetKey::default(), EthernetKey::default());
            for (f, v) in fields(args)? {
                match f {
                    "src" => (kv.src, mv.src) = macm(v)?,
                    "dst" => (kv.dst, mv.dst) = macm(v)?,
                    _ => return Err(syn(0, format!("unknown eth field '{f}'"))),
                }
            }
            set(&mut k.ethernet, kv, name)?;
            m.ethernet = Some(mv);
        }
        "vlan" => {
            // TCI starts with CFI set in both key and mask (OVS SCAN_BEGIN_INIT).
            let (mut tci, mut tm) = (0x1000u16, 0x1000u16);
            for (f, v) in fields(args)? {
                let (shift, bits) = match f {
                    "vid" => (0, 12),
                    "pcp" => (13, 3),
                    "cfi" => (12, 1),
                    _ => return Err(syn(0, format!("unknown vlan field '{f}'"))),
                };
                let (a, b) = num::<u16>(v, bits)?;
                let fm = ((1u16 << bits) - 1) << shift;
                tci = (tci & !fm) | (a << shift);
                tm = (tm & !fm) | (b << shift);
            }
            set(&mut k.vlan, tci, name)?;
            m.vlan = Some(tm);
        }
        "eth_type" => {
            let (v, mk) = num::<u16>(args, 16)?;
            set(&mut k.eth_type, v, name)?;
            m.eth_type = Some(mk);
        }
        "encap" => {
            if k.encap.is_some() {
                return Err(dup(name));
            }
            let mut ik = FlowKey::default();
            let mut im = FlowKey::default();
            parse_list(args, &mut ik, &mut im, names, depth + 1)?;
            k.encap = Some(Box::new(ik));
            m.encap = Some(Box::new(im));
        }
        "mpls" => {
            let mut lk: Vec<u32> = Vec::new();
            let mut lm: Vec<u32> = Vec::new();
            let mut seen = 0u8;
            for (f, v) in fields(args)? {
                let (shift, bits, bit) = match f {
                    "label" => (12, 20, 1u8),
                    "tc" => (9, 3, 2),
                    "ttl" => (0, 8, 4),
                    "bos" => (8, 1, 8),
                    _ => return Err(syn(0, format!("unknown mpls field '{f}'"))),
                };
                if lk.is_empty() || seen & bit != 0 {
                    if lk.len() == 3 {
                        return Err(syn(0, "too many MPLS labels"));
                    }
                    lk.push(0);
                    lm.push(0);
                    seen = 0;
                }
                seen |= bit;
                let (a, b) = num::<u32>(v, bits)?;
                let fm = ((1u32 << bits) - 1) << shift;
                if let (Some(x), Some(y)) = (lk.last_mut(), lm.last_mut()) {
                    *x = (*x & !fm) | (a << shift);
                    *y = (*y & !fm) | (b << shift);
                }
            }
            if lk.is_empty() {
                return Err(syn(0, "empty mpls()"));
            }
            set(&mut k.mpls, lk, name)?;
            m.mpls = Some(lm);
        }
        "ipv4" => {
            let (mut kv, mut mv) = (Ipv4Key::default(), Ipv4Key::default());
            for (f, v) in fields(args)? {
                match f {
                    "src" => (kv.src, mv.src) = ip4m(v)?,
                    "dst" => (kv.dst, mv.dst) = ip4m(v)?,
                    "proto" | "tos" | "ttl" => {
                        let (a, b) = num::<u8>(v, 8)?;
                        let (x, y) = match f {
                            "proto" => (&mut kv.proto, &mut mv.proto),
                            "tos" => (&mut kv.tos, &mut mv.tos),
                            _ => (&mut kv.ttl, &mut mv.ttl),
                        };
                        (*x, *y) = (a, b)
                    }
                    "frag" => (kv.frag, mv.frag) = frag(v)?,
                    _ => return Err(syn(0, format!("unknown ipv4 field '{f}'"))),
                }
            }
            set(&mut k.ipv4, kv, name)?;
            m.ipv4 = Some(mv);
        }
        "ipv6" => {
            let (mut kv, mut mv) = (Ipv6Key::default(), Ipv6Key::default());
            for (f, v) in fields(args)? {
                match f {
                    "src" => (kv.src, mv.src) = ip6m(v)?,
                    "dst" => (kv.dst, mv.dst) = ip6m(v)?,
                    "label" => {
                        let (a, b) = vm(v);
                        kv.label = uint(a, 32)?;
                        mv.label = match b {
                            Some(x) => uint(x, 32)?,
                            None => u32::MAX,
                        };
                    }
                    "proto" | "tclass" | "hlimit" => {
                        let (a, b) = num::<u8>(v, 8)?;
                        let (x, y) = match f {
                            "proto" => (&mut kv.proto, &mut mv.proto),
                            "tclass" => (&mut kv.tclass, &mut mv.tclass),
                            _ => (&mut kv.hlimit, &mut mv.hlimit),
                        };
                        (*x, *y) = (a, b)
                    }
                    "frag" => (kv.frag, mv.frag) = frag(v)?,
                    _ => return Err(syn(0, format!("unknown ipv6 field '{f}'"))),
                }
            }
            set(&mut k.ipv6, kv, name)?;
            m.ipv6 = Some(mv);
        }
        "tcp" | "udp" | "sctp" => {
            let (mut kv, mut mv) = (PortsKey::default(), PortsKey::default());
            for (f, v) in fields(args)? {
                let (a, b) = num::<u16>(v, 16)?;
                match f {
                    "src" => (kv.src, mv.src) = (a, b),
                    "dst" => (kv.dst, mv.dst) = (a, b),
                    _ => return Err(syn(0, format!("unknown {name} field '{f}'"))),
                }
            }
            let (ks, ms) = match name {
                "tcp" => (&mut k.tcp, &mut m.tcp),
                "udp" => (&mut k.udp, &mut m.udp),
                _ => (&mut k.sctp, &mut m.sctp),
            };
            set(ks, kv, name)?;
            *ms = Some(mv);
        }
        "tcp_flags" => {
            let (v, mk) = flags(args, &tcp_flag_name, 16, 0xffff)?;
            // Numbers are parsed as 16 bits and the named flags are the low 12.
            let bits16 =
                |x: u32| u16::try_from(x).map_err(|_| syn(0, format!("bad tcp_flags '{args}'")));
            set(&mut k.tcp_flags, bits16(v)?, name)?;
            m.tcp_flags = Some(bits16(mk)?);
        }
        "icmp" | "icmpv6" => {
            let (mut kv, mut mv) = (IcmpKey::default(), IcmpKey::default());
            for (f, v) in fields(args)? {
                let (a, b) = num::<u8>(v, 8)?;
                match f {
                    "type" => (kv.ty, mv.ty) = (a, b),
                    "code" => (kv.code, mv.code) = (a, b),
                    _ => return Err(syn(0, format!("unknown {name} field '{f}'"))),
                }
            }
            let (ks, ms) = if name == "icmp" {
                (&mut k.icmp, &mut m.icmp)
            } else {
                (&mut k.icmpv6, &mut m.icmpv6)
            };
            set(ks, kv, name)?;
            *ms = Some(mv);
        }
        "arp" => {
            let (mut kv, mut mv) = (ArpKey::default(), ArpKey::default());
            for (f, v) in fields(args)? {
                match f {
                    "sip" => (kv.sip, mv.sip) = ip4m(v)?,
                    "tip" => (kv.tip, mv.tip) = ip4m(v)?,
                    "op" => (kv.op, mv.op) = num(v, 16)?,
                    "sha" => (kv.sha, mv.sha) = macm(v)?,
                    "tha" => (kv.tha, mv.tha) = macm(v)?,
                    _ => return Err(syn(0, format!("unknown arp field '{f}'"))),
                }
            }
            set(&mut k.arp, kv, name)?;
            m.arp = Some(mv);
        }
        "nd" => {
            let (mut kv, mut mv) = (NdKey::default(), NdKey::default());
            for (f, v) in fields(args)? {
                match f {
                    "target" => (kv.target, mv.target) = ip6m(v)?,
                    "sll" => (kv.sll, mv.sll) = macm(v)?,
                    "tll" => (kv.tll, mv.tll) = macm(v)?,
                    _ => return Err(syn(0, format!("unknown nd field '{f}'"))),
                }
            }
            set(&mut k.nd, kv, name)?;
            m.nd = Some(mv);
        }
        "nd_ext" => {
            let (mut kv, mut mv) = (NdExtKey::default(), NdExtKey::default());
            for (f, v) in fields(args)? {
                match f {
                    "nd_reserved" => (kv.reserved, mv.reserved) = num(v, 32)?,
                    "nd_options_type" => (kv.options_type, mv.options_type) = num(v, 8)?,
                    _ => return Err(syn(0, format!("unknown nd_ext field '{f}'"))),
                }
            }
            set(&mut k.nd_extensions, kv, name)?;
            m.nd_extensions = Some(mv);
        }
        "packet_type" => {
            let (mut kv, mut mv) = (0u32, 0u32);
            for (f, v) in fields(args)? {
                let (a, b) = num::<u32>(v, 16)?;
                match f {
                    "ns" => {
                        kv = (kv & 0xffff) | (a << 16);
                        mv = (mv & 0xffff) | (b << 16);
                    }
                    "id" => {
                        kv = (kv & 0xffff_0000) | a;
                        mv = (mv & 0xffff_0000) | b;
                    }
                    _ => return Err(syn(0, format!("unknown packet_type field '{f}'"))),
                }
            }
            set(&mut k.packet_type, kv, name)?;
            m.packet_type = Some(mv);
        }
        "nsh" => {
            let (kv, mv) = parse_nsh_fields(args)?;
            set(&mut k.nsh, kv, name)?;
            m.nsh = Some(mv);
        }
        // IPV6_EXTHDRS is unknown to OVS, which prints it generically.
        "key32" => {
            let (v, mk) = vm(args);
            let two = |x: &str| -> Result<u16> {
                let b = super::lex::hex_bytes(x)?;
                let a: [u8; 2] = b
                    .as_slice()
                    .try_into()
                    .map_err(|_| syn(0, "key32 needs 2 bytes"))?;
                Ok(u16::from_ne_bytes(a))
            };
            set(&mut k.ipv6_exthdrs, two(v)?, name)?;
            m.ipv6_exthdrs = Some(match mk {
                Some(x) => two(x)?,
                None => 0xffff,
            });
        }
        _ => return Err(syn(0, format!("unknown key attribute '{name}'"))),
    }
    Ok(())
}

/// NSH fields (`flags=,ttl=,mdtype=,np=,spi=,si=,c1..c4=`), also used by
/// `push_nsh` and `set(nsh(...))`.
pub(crate) fn parse_nsh_fields(args: &str) -> Result<(NshKey, NshKey)> {
    let (mut b, mut bm) = (NshBase::default(), NshBase::default());
    let (mut md1, mut md1m) = (NshMd1::default(), NshMd1::default());
    let mut has_md1 = false;
    let mut md2 = None;
    for (f, v) in fields(args)? {
        match f {
            "flags" | "ttl" | "mdtype" | "np" | "si" => {
                let (a, c) = num::<u8>(v, 8)?;
                match f {
                    "flags" => (b.flags, bm.flags) = (a, c),
                    "ttl" => (b.ttl, bm.ttl) = (a, c),
                    "mdtype" => (b.mdtype, bm.mdtype) = (a, c),
                    "np" => (b.np, bm.np) = (a, c),
                    _ => {
                        b.path_hdr = (b.path_hdr & !0xff) | u32::from(a);
                        bm.path_hdr = (bm.path_hdr & !0xff) | u32::from(c);
                    }
                }
            }
            "spi" => {
                let (a, c) = num::<u32>(v, 24)?;
                b.path_hdr = (b.path_hdr & 0xff) | (a << 8);
                bm.path_hdr = (bm.path_hdr & 0xff) | (c << 8);
            }
            "c1" | "c2" | "c3" | "c4" => {
                let i = usize::from(f.as_bytes()[1] - b'1');
                let (a, c) = num::<u32>(v, 32)?;
                md1.context[i] = a;
                md1m.context[i] = c;
                has_md1 = true;
            }
            "md2" => md2 = Some(super::lex::hex_bytes(v.trim_start_matches("0x"))?),
            _ => return Err(syn(0, format!("unknown nsh field '{f}'"))),
        }
    }
    let k = NshKey {
        base: Some(b),
        md1: has_md1.then_some(md1),
        md2: md2.clone(),
    };
    let m = NshKey {
        base: Some(bm),
        md1: has_md1.then_some(md1m),
        md2: md2.map(|d| vec![0xff; d.len()]),
    };
    Ok((k, m))
}

fn parse_tunnel(args: &str) -> Result<(TunnelKey, TunnelKey)> {
    let mut t = TunnelKey::default();
    let mut m = TunnelKey::default();
    for (f, v) in fields(args)? {
        match f {
            "tun_id" => {
                let (a, b) = num::<u64>(v, 64)?;
                t.id = Some(a);
                m.id = Some(b);
            }
            "src" => {
                let (a, b) = ip4m(v)?;
                (t.ipv4_src, m.ipv4_src) = (Some(a), Some(b))
            }
            "dst" => {
                let (a, b) = ip4m(v)?;
                (t.ipv4_dst, m.ipv4_dst) = (Some(a), Some(b))
            }
            "ipv6_src" => {
                let (a, b) = ip6m(v)?;
                (t.ipv6_src, m.ipv6_src) = (Some(a), Some(b))
            }
            "ipv6_dst" => {
                let (a, b) = ip6m(v)?;
                (t.ipv6_dst, m.ipv6_dst) = (Some(a), Some(b))
            }
            "tos" | "ttl" => {
                let (a, b) = num::<u8>(v, 8)?;
                if f == "tos" {
                    (t.tos, m.tos) = (Some(a), Some(b));
                } else {
                    (t.ttl, m.ttl) = (Some(a), Some(b));
                }
            }
            "tp_src" | "tp_dst" => {
                let (a, b) = num::<u16>(v, 16)?;
                if f == "tp_src" {
                    (t.tp_src, m.tp_src) = (Some(a), Some(b));
                } else {
                    (t.tp_dst, m.tp_dst) = (Some(a), Some(b));
                }
            }
            other => {
                let (name, inner) =
                    call(other).ok_or_else(|| syn(0, format!("unknown tunnel field '{other}'")))?;
                match name {
                    "flags" => {
                        let (fv, fm) = flags(inner, &tun_flag_name, 16, 0xf)?;
                        t.oam = fv & 1 != 0;
                        t.dont_fragment = fv & 2 != 0;
                        t.csum = fv & 4 != 0;
                        m.oam = fm & 1 != 0;
                        m.dont_fragment = fm & 2 != 0;
                        m.csum = fm & 4 != 0;
                    }
                    "vxlan" => {
                        let (gn, ga) =
                            call(inner).ok_or_else(|| syn(0, "expected vxlan(gbp(...))"))?;
                        if gn != "gbp" {
                            return Err(syn(0, "expected gbp"));
                        }
                        let (mut g, mut gm) = (0u32, 0u32);
                        for (x, y) in fields(ga)? {
                            match x {
                                "id" => {
                                    let (a, b) = num::<u32>(y, 16)?;
                                    g |= a;
                                    gm |= b;
                                }
                                "flags" => {
                                    let (a, b) = num::<u32>(y, 8)?;
                                    g |= a << 16;
                                    gm |= b << 16;
                                }
                                _ => return Err(syn(0, format!("unknown gbp field '{x}'"))),
                            }
                        }
                        t.vxlan_opts = Some(VxlanOpts { gbp: Some(g) });
                        m.vxlan_opts = Some(VxlanOpts { gbp: Some(gm) });
                    }
                    "geneve" => {
                        let (g, gm) = parse_geneve(inner)?;
                        t.geneve_opts = Some(g);
                        m.geneve_opts = Some(gm);
                    }
                    "erspan" => {
                        let (e, em) = parse_erspan(inner)?;
                        t.erspan_opts = Some(e);
                        m.erspan_opts = Some(em);
                    }
                    _ => return Err(syn(0, format!("unknown tunnel field '{name}'"))),
                }
            }
        }
    }
    Ok((t, m))
}

/// ERSPAN metadata `ver=1,idx=N` or `ver=2,dir=N,hwid=N` (12 bytes).
fn parse_erspan(s: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut k = vec![0u8; 12];
    let mut m = vec![0u8; 12];
    for (f, v) in fields(s)? {
        match f {
            "ver" => {
                // `struct erspan_metadata` starts with `int version`.
                let (a, b) = num::<i32>(v, 8)?;
                k[..4].copy_from_slice(&a.to_ne_bytes());
                m[..4].copy_from_slice(&b.to_ne_bytes());
            }
            "idx" => {
                let (a, b) = num::<u32>(v, 32)?;
                k[4..8].copy_from_slice(&a.to_be_bytes());
                m[4..8].copy_from_slice(&b.to_be_bytes());
            }
            "dir" => {
                let (a, b) = num::<u8>(v, 1)?;
                k[11] = (k[11] & !0x08) | (a << 3);
                m[11] = (m[11] & !0x08) | (b << 3);
            }
            "hwid" => {
                let (a, b) = num::<u8>(v, 4)?;
                k[11] = (k[11] & 0x0f) | (a << 4);
                m[11] = (m[11] & 0x0f) | (b << 4);
            }
            _ => return Err(syn(0, format!("unknown erspan field '{f}'"))),
        }
    }
    Ok((k, m))
}

/// Geneve options `{class=,type=,len=,HEX[/HEX]}...`.
fn parse_geneve(s: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut k = Vec::new();
    let mut m = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let inner_end = rest
            .find('}')
            .ok_or_else(|| syn(0, "unterminated geneve option"))?;
        let body = rest
            .get(1..inner_end)
            .filter(|_| rest.starts_with('{'))
            .ok_or_else(|| syn(0, "expected '{'"))?;
        let (mut class, mut cm, mut ty, mut tm, mut len, mut lm) = (0u16, 0u16, 0u8, 0u8, 0u8, 0u8);
        let mut data: Vec<u8> = Vec::new();
        let mut dm: Option<Vec<u8>> = None;
        for (f, v) in fields(body)? {
            match f {
                "class" => (class, cm) = num(v, 16)?,
                "type" => (ty, tm) = num(v, 8)?,
                "len" => (len, lm) = num(v, 8)?,
                hex => {
                    let (a, b) = vm(hex);
                    let n = len as usize;
                    data = hex_n(a, n)?;
                    dm = b.map(|x| hex_n(x, n)).transpose()?;
                }
            }
        }
        if len % 4 != 0 || len > 124 {
            return Err(syn(0, "bad geneve option length"));
        }
        data.resize(len as usize, 0);
        let dm = dm.unwrap_or_else(|| vec![0xff; len as usize]);
        k.extend_from_slice(&class.to_be_bytes());
        k.push(ty);
        k.push(len / 4);
        k.extend_from_slice(&data);
        m.extend_from_slice(&cm.to_be_bytes());
        m.push(tm);
        m.push(if lm == 0xff { 0x1f } else { lm & 0x1f });
        m.extend_from_slice(&dm);
        rest = rest[inner_end + 1..].trim_start_matches(',').trim();
    }
    if k.len() > 255 {
        return Err(syn(0, "geneve options too long"));
    }
    Ok((k, m))
}
