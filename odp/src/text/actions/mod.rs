//! Action formatter and parser, following OVS `format_odp_actions` and
//! `odp_actions_from_string`.

use std::net::IpAddr;

use super::keyfmt::{format_vlan_tci, mpls_lse};
use super::lex::{
    call, cx, fields, fmt_mac, hex_bytes, hex_n, int, mac, put_hex, split_top, syn, uint, vm,
};
use super::{FormatOptions, PortNames};
use crate::action::{is_fully_masked, Action, Ct, Nat, Userspace};
use crate::error::{Error, Result};
use crate::key::{FlowKey, NshKey};

const MAX_TEXT: usize = 65535;
const MAX_NESTED: usize = 32;

fn port(p: u32, names: Option<&PortNames>) -> String {
    names
        .and_then(|n| n.name(p))
        .map_or_else(|| p.to_string(), str::to_owned)
}

/// Format an action list; an empty list prints `drop`.
pub fn format_actions(list: &[Action], names: Option<&PortNames>) -> String {
    if list.is_empty() {
        return "drop".into();
    }
    list.iter()
        .map(|a| format_action(a, names))
        .collect::<Vec<_>>()
        .join(",")
}

fn u128_text(b: &[u8; 16]) -> String {
    put_hex(&u128::from_le_bytes(*b).to_be_bytes())
}

fn format_action(a: &Action, names: Option<&PortNames>) -> String {
    match a {
        Action::Output(p) => port(*p, names),
        Action::Meter(m) => format!("meter({m})"),
        Action::Trunc(n) => format!("trunc({n})"),
        Action::Recirc(r) => format!("recirc({})", cx(*r as u64)),
        Action::Hash { alg, basis } => match alg {
            0 => format!("hash(l4({basis}))"),
            1 => format!("hash(sym_l4({basis}))"),
            _ => format!("hash(Unknown hash algorithm({alg}))"),
        },
        Action::Userspace(u) => {
            let mut s = format!("userspace(pid={}", u.pid);
            if let Some(d) = &u.userdata {
                match format_cookie(d, names) {
                    Some(c) => s.push_str(&c),
                    None => {
                        s.push_str(",userdata(");
                        s.extend(d.iter().map(|b| format!("{b:02x}")));
                        s.push(')');
                    }
                }
            }
            if u.actions {
                s.push_str(",actions");
            }
            if let Some(p) = u.egress_tun_port {
                s.push_str(&format!(",tunnel_out_port={}", port(p, names)));
            }
            s.push(')');
            s
        }
        Action::Set(k) => {
            let opts = FormatOptions {
                verbose: true,
                names: None,
            };
            format!("set({})", super::format_key(k, None, &opts))
        }
        Action::SetMasked { key, mask } => {
            if let Some(n) = &key.nsh {
                // OVS format_odp_set_nsh: parts absent from the mask are zero.
                let m = mask.nsh.clone().unwrap_or_default();
                let s = super::keyfmt::nsh_masked(
                    &n.base.unwrap_or_default(),
                    &n.md1.unwrap_or_default().context,
                    &m.base.unwrap_or_default(),
                    &m.md1.unwrap_or_default().context,
                );
                return format!("set(nsh({s}))");
            }
            format!(
                "set({})",
                super::format_key(key, Some(mask), &FormatOptions::default())
            )
        }
        Action::PushEth { src, dst } => {
            format!("push_eth(src={},dst={})", fmt_mac(src), fmt_mac(dst))
        }
        Action::PopEth => "pop_eth".into(),
        Action::PushVlan { tpid, tci } => {
            let mut s = "push_vlan(".to_owned();
            if *tpid != 0x8100 {
                s.push_str(&format!("tpid=0x{tpid:04x},"));
            }
            format_vlan_tci(&mut s, *tci, 0xffff, false);
            s.push(')');
            s
        }
        Action::PopVlan => "pop_vlan".into(),
        Action::PushMpls { lse, ethertype } => {
            format!("push_mpls({},eth_type=0x{:x})", mpls_lse(*lse), ethertype)
        }
        Action::AddMpls { lse, ethertype, .. } => {
            format!("add_mpls({},eth_type=0x{:x})", mpls_lse(*lse), ethertype)
        }
        Action::PopMpls(e) => format!("pop_mpls(eth_type=0x{e:x})"),
        Action::Sample {
            probability,
            actions,
        } => {
            let pct = 100.0 * (*probability as f64) / (u32::MAX as f64);
            format!(
                "sample(sample={:.1}%,actions({}))",
                pct,
                format_actions(actions, names)
            )
        }
        Action::Ct(c) => format_ct(c),
        Action::CtClear => "ct_clear".into(),
        Action::Clone(l) => format!("clone({})", format_actions(l, names)),
        Action::PushNsh(n) => {
            let b = n.base.unwrap_or_default();
            let mut s = format!(
                "push_nsh(flags={},ttl={},mdtype={},np={},spi=0x{:x},si={}",
                b.flags,
                b.ttl,
                b.mdtype,
                b.np,
                b.path_hdr >> 8,
                b.path_hdr & 0xff
            );
            if b.mdtype == 1 {
                let c = n.md1.unwrap_or_default().context;
                for (i, v) in c.iter().enumerate() {
                    s.push_str(&format!(",c{}=0x{:x}", i + 1, v));
                }
            } else if b.mdtype == 2 {
                s.push_str(",md2=");
                s.push_str(&put_hex(n.md2.as_deref().unwrap_or(&[])));
            }
            s.push(')');
            s
        }
        Action::PopNsh => "pop_nsh()".into(),
        Action::CheckPktLen { pkt_len, gt, le } => format!(
            "check_pkt_len(size={},gt({}),le({}))",
            pkt_len,
            format_actions(gt, names),
            format_actions(le, names)
        ),
        Action::DecTtl(l) => format!("dec_ttl(le_1({}))", format_actions(l, names)),
        Action::Drop(_) => "drop".into(),
        Action::Psample { group, cookie } => {
            let mut s = format!("psample(group={group}");
            if let Some(c) = cookie {
                s.push_str(",cookie=");
                s.push_str(&put_hex(c));
            }
            s.push(')');
            s
        }
        // Userspace-datapath-only actions with a u32 port (kernel rejects them).
        Action::Unknown { ty: 27, payload } if payload.len() == 4 => {
            format!("tnl_pop({})", port(rd32(payload, 0), names))
        }
        Action::Unknown { ty: 28, payload } if payload.len() == 4 => {
            format!("lb_output({})", rd32(payload, 0))
        }
        Action::Unknown { ty, payload } => {
            let mut s = format!("action{ty}");
            if !payload.is_empty() {
                s.push('(');
                s.push_str(
                    &payload
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                s.push(')');
            }
            s
        }
    }
}

/// IPv6 NAT addresses are bracketed only when a port follows (OVS
/// `ipv6_format_addr_bracket`).
fn ip_text(a: &IpAddr, bracket: bool) -> String {
    match a {
        IpAddr::V4(x) => x.to_string(),
        IpAddr::V6(x) if bracket => format!("[{x}]"),
        IpAddr::V6(x) => x.to_string(),
    }
}

fn format_ct(c: &Ct) -> String {
    let mut parts: Vec<String> = Vec::new();
    if c.commit {
        parts.push("commit".into());
    }
    if c.force_commit {
        parts.push("force_commit".into());
    }
    if let Some(z) = c.zone.filter(|&z| z != 0) {
        parts.push(format!("zone={z}"));
    }
    if let Some((v, m)) = c.mark {
        parts.push(format!("mark={}/{}", cx(v as u64), cx(m as u64)));
    }
    if let Some((v, m)) = &c.labels {
        let mut s = format!("label={}", u128_text(v));
        if *m != [0xff; 16] {
            s.push('/');
            s.push_str(&u128_text(m));
        }
        parts.push(s);
    }
    if let Some(h) = &c.helper {
        parts.push(format!("helper={h}"));
    }
    if let Some(t) = &c.timeout {
        parts.push(format!("timeout={t}"));
    }
    if let Some(n) = &c.nat {
        let mut s = "nat".to_owned();
        if n.src || n.dst {
            s.push('(');
            s.push_str(if n.src { "src" } else { "dst" });
            if let Some(min) = &n.ip_min {
                let br = n.proto_min.is_some_and(|p| p != 0);
                s.push('=');
                s.push_str(&ip_text(min, br));
                if let Some(max) = n
                    .ip_max
                    .as_ref()
                    .filter(|m| *m != min && !m.is_unspecified())
                {
                    s.push('-');
                    s.push_str(&ip_text(max, br));
                }
                if let Some(p) = n.proto_min.filter(|&p| p != 0) {
                    s.push_str(&format!(":{p}"));
                    if let Some(q) = n.proto_max.filter(|&q| q != 0 && q != p) {
                        s.push_str(&format!("-{q}"));
                    }
                }
            }
            let mut flags = Vec::new();
            if n.persistent {
                flags.push("persistent");
            }
            if n.proto_hash {
                flags.push("hash");
            }
            if n.proto_random {
                flags.push("random");
            }
            for f in flags {
                s.push(',');
                s.push_str(f);
            }
            s.push(')');
        }
        parts.push(s);
    }
    if parts.is_empty() {
        "ct".into()
    } else {
        format!("ct({})", parts.join(","))
    }
}

/// Parse an action list in ODP text syntax. `drop` alone gives the explicit
/// DROP action (what current OVS sends); an empty string gives no actions.
///
/// # Errors
/// `EINVAL` ([`Error::Syntax`]) on malformed text, `E2BIG` when too long.
pub fn parse_actions(s: &str, names: Option<&PortNames>) -> Result<Vec<Action>> {
    if s.len() > MAX_TEXT {
        return Err(Error::TextTooBig("actions"));
    }
    let t = s.trim();
    if t.eq_ignore_ascii_case("drop") {
        return Ok(vec![Action::Drop(0)]);
    }
    let v = parse_list(t, names, 0)?;
    if crate::action::actions_to_bytes(&v).len() > MAX_TEXT {
        return Err(Error::TextTooBig("actions"));
    }
    Ok(v)
}

fn parse_list(s: &str, names: Option<&PortNames>, depth: usize) -> Result<Vec<Action>> {
    if depth > MAX_NESTED {
        return Err(Error::TextTooBig("nested actions"));
    }
    if s.trim() == "drop" && depth > 0 {
        return Ok(Vec::new());
    }
    split_top(s)?
        .into_iter()
        .map(|a| parse_one(a, names, depth))
        .collect()
}

/// The SAMPLE probability of `sample=P%`, P in [0, 100], computed like OVS's
/// `parse_odp_action__()` (`lib/odp-util.c`): `floor(UINT32_MAX * (P / 100) + .5)`.
/// The order of the operations matters: `UINT32_MAX * P / 100` can round
/// differently in the last bit.
fn sample_probability(pct: f64) -> u32 {
    // For P in [0, 100] this is a whole number in [0, u32::MAX]: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = (f64::from(u32::MAX) * (pct / 100.0) + 0.5).floor() as u32;
    p
}

fn num32(s: &str) -> Result<u32> {
    uint(s, 32)
}

fn parse_one(s: &str, names: Option<&PortNames>, depth: usize) -> Result<Action> {
    match s {
        "pop_vlan" => return Ok(Action::PopVlan),
        "pop_eth" => return Ok(Action::PopEth),
        "ct_clear" => return Ok(Action::CtClear),
        "ct" => return Ok(Action::Ct(Ct::default())),
        "drop" => return Ok(Action::Drop(0)),
        "pop_nsh()" | "pop_nsh" => return Ok(Action::PopNsh),
        _ => {}
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(Action::Output(num32(s)?));
    }
    let Some((name, args)) = call(s) else {
        if let Some(p) = names.and_then(|n| n.number(s)) {
            return Ok(Action::Output(p));
        }
        return Err(syn(0, format!("unknown action '{s}'")));
    };
    Ok(match name {
        "meter" => Action::Meter(num32(args)?),
        "trunc" => Action::Trunc(num32(args)?),
        "recirc" => Action::Recirc(num32(args)?),
        "hash" => {
            let (alg, basis) = call(args).ok_or_else(|| syn(0, "expected hash(l4(N))"))?;
            let alg = match alg {
                "l4" => 0,
                "sym_l4" => 1,
                _ => return Err(syn(0, format!("unknown hash algorithm '{alg}'"))),
            };
            Action::Hash {
                alg,
                basis: num32(basis)?,
            }
        }
        "userspace" => {
            let mut u = Userspace::default();
            let mut pid = None;
            for (f, v) in fields(args)? {
                match f {
                    "pid" => pid = Some(num32(v)?),
                    "actions" => u.actions = true,
                    "tunnel_out_port" => {
                        u.egress_tun_port = Some(match names.and_then(|n| n.number(v)) {
                            Some(p) => p,
                            None => num32(v)?,
                        })
                    }
                    other => match call(other) {
                        Some(("userdata", hex)) => {
                            // OVS pads USERDATA to at least 8 bytes (old
                            // kernels required exactly 8).
                            let mut d = hex_bytes(hex)?;
                            if d.len() < 8 {
                                d.resize(8, 0);
                            }
                            u.userdata = Some(d)
                        }
                        Some((kind, args)) => u.userdata = Some(parse_cookie(kind, args)?),
                        None => {
                            return Err(syn(0, format!("unsupported userspace argument '{other}'")))
                        }
                    },
                }
            }
            u.pid = pid.ok_or_else(|| syn(0, "userspace needs pid="))?;
            Action::Userspace(u)
        }
        "set" => {
            let mut k = FlowKey::default();
            let mut m = FlowKey::default();
            super::keyparse::parse_item(args, &mut k, &mut m, names, 0)?;
            if k.tunnel.is_some() {
                Action::Set(k)
            } else if let Some(n) = &k.nsh {
                let mm = m.nsh.clone().unwrap_or_default();
                if nsh_full(&mm) {
                    Action::Set(k)
                } else {
                    let kn = n.clone();
                    Action::SetMasked {
                        key: FlowKey {
                            nsh: Some(kn),
                            ..Default::default()
                        },
                        mask: FlowKey {
                            nsh: Some(mm),
                            ..Default::default()
                        },
                    }
                }
            } else if is_fully_masked(&m) && plain_full(&m) {
                Action::Set(k)
            } else {
                Action::SetMasked { key: k, mask: m }
            }
        }
        "push_eth" => {
            let (mut src, mut dst) = ([0u8; 6], [0u8; 6]);
            for (f, v) in fields(args)? {
                match f {
                    "src" => src = mac(v)?,
                    "dst" => dst = mac(v)?,
                    _ => return Err(syn(0, format!("unknown push_eth field '{f}'"))),
                }
            }
            Action::PushEth { src, dst }
        }
        "push_vlan" => {
            let (mut tpid, mut vid, mut pcp, mut cfi) = (0x8100u16, 0u16, 0u16, 1u16);
            for (f, v) in fields(args)? {
                match f {
                    "tpid" => tpid = uint::<u16>(v, 16)?,
                    "vid" => vid = uint::<u16>(v, 12)?,
                    "pcp" => pcp = uint::<u16>(v, 3)?,
                    "cfi" => cfi = uint::<u16>(v, 1)?,
                    _ => return Err(syn(0, format!("unknown push_vlan field '{f}'"))),
                }
            }
            Action::PushVlan {
                tpid,
                tci: vid | (pcp << 13) | (cfi << 12),
            }
        }
        "push_mpls" | "add_mpls" => {
            let (mut lse, mut et) = (0u32, None);
            for (f, v) in fields(args)? {
                match f {
                    "label" => lse |= uint::<u32>(v, 20)? << 12,
                    "tc" => lse |= uint::<u32>(v, 3)? << 9,
                    "ttl" => lse |= uint::<u32>(v, 8)?,
                    "bos" => lse |= uint::<u32>(v, 1)? << 8,
                    "eth_type" => et = Some(uint::<u16>(v, 16)?),
                    _ => return Err(syn(0, format!("unknown {name} field '{f}'"))),
                }
            }
            let ethertype = et.ok_or_else(|| syn(0, "missing eth_type"))?;
            if name == "push_mpls" {
                Action::PushMpls { lse, ethertype }
            } else {
                Action::AddMpls {
                    lse,
                    ethertype,
                    tun_flags: 0,
                }
            }
        }
        "pop_mpls" => {
            let v = args
                .strip_prefix("eth_type=")
                .ok_or_else(|| syn(0, "expected eth_type="))?;
            Action::PopMpls(uint::<u16>(v, 16)?)
        }
        "sample" => {
            let items = split_top(args)?;
            let [p, acts] = items.as_slice() else {
                return Err(syn(0, "expected sample(sample=P%,actions(...))"));
            };
            let pct = p
                .strip_prefix("sample=")
                .and_then(|x| x.strip_suffix('%'))
                .ok_or_else(|| syn(0, "expected sample=P%"))?;
            let pct: f64 = pct.parse().map_err(|_| syn(0, "bad percentage"))?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(syn(0, "percentage out of range"));
            }
            let (an, al) = call(acts).ok_or_else(|| syn(0, "expected actions(...)"))?;
            if an != "actions" {
                return Err(syn(0, "expected actions(...)"));
            }
            Action::Sample {
                probability: sample_probability(pct),
                actions: parse_list(al, names, depth + 1)?,
            }
        }
        "clone" => Action::Clone(parse_list(args, names, depth + 1)?),
        "check_pkt_len" => {
            let (mut size, mut gt, mut le) = (None, None, None);
            for it in split_top(args)? {
                if let Some(v) = it.strip_prefix("size=") {
                    size = Some(uint::<u16>(v, 16)?);
                } else if let Some(("gt", l)) = call(it) {
                    gt = Some(parse_list(l, names, depth + 1)?);
                } else if let Some(("le", l)) = call(it) {
                    le = Some(parse_list(l, names, depth + 1)?);
                } else {
                    return Err(syn(0, format!("bad check_pkt_len argument '{it}'")));
                }
            }
            Action::CheckPktLen {
                pkt_len: size.ok_or_else(|| syn(0, "missing size="))?,
                gt: gt.ok_or_else(|| syn(0, "missing gt()"))?,
                le: le.ok_or_else(|| syn(0, "missing le()"))?,
            }
        }
        "dec_ttl" => match call(args) {
            Some(("le_1", l)) => Action::DecTtl(parse_list(l, names, depth + 1)?),
            _ => return Err(syn(0, "expected dec_ttl(le_1(...))")),
        },
        "psample" => {
            let (mut group, mut cookie) = (None, None);
            for (f, v) in fields(args)? {
                match f {
                    "group" => group = Some(num32(v)?),
                    "cookie" => {
                        let h = v.trim_start_matches("0x");
                        let padded = if h.len() % 2 == 1 {
                            format!("0{h}")
                        } else {
                            h.to_owned()
                        };
                        let b = hex_bytes(&padded)?;
                        if b.len() > crate::action::PSAMPLE_COOKIE_MAX {
                            return Err(syn(0, "psample cookie too long"));
                        }
                        cookie = Some(b)
                    }
                    _ => return Err(syn(0, format!("unknown psample field '{f}'"))),
                }
            }
            Action::Psample {
                group: group.ok_or_else(|| syn(0, "missing group="))?,
                cookie,
            }
        }
        "push_nsh" => {
            let (k, _) = super::keyparse::parse_nsh_fields(args)?;
            let mut k: NshKey = k;
            if k.base.is_some_and(|b| b.mdtype != 1) {
                k.md1 = None;
            }
            Action::PushNsh(k)
        }
        "ct" => Action::Ct(parse_ct(args)?),
        "tnl_pop" | "lb_output" => {
            let p = match names.and_then(|n| n.number(args)) {
                Some(p) => p,
                None => num32(args)?,
            };
            Action::Unknown {
                ty: if name == "tnl_pop" {
                    crate::action::attr::TUNNEL_POP
                } else {
                    crate::action::attr::LB_OUTPUT
                },
                payload: p.to_ne_bytes().to_vec(),
            }
        }
        other => {
            if let Some(n) = other.strip_prefix("action") {
                let ty = uint::<u16>(n, 16)?;
                let payload = args
                    .split_whitespace()
                    .map(|b| u8::from_str_radix(b, 16).map_err(|_| syn(0, "bad hex")))
                    .collect::<Result<Vec<u8>>>()?;
                Action::Unknown { ty, payload }
            } else {
                return Err(syn(0, format!("unknown action '{other}'")));
            }
        }
    })
}

fn nsh_full(m: &NshKey) -> bool {
    let b = m.base.unwrap_or_default();
    [b.flags, b.ttl, b.mdtype, b.np].iter().all(|&x| x == 0xff)
        && b.path_hdr == u32::MAX
        && m.md1
            .is_none_or(|x| x.context.iter().all(|&c| c == u32::MAX))
}

/// Plain (non-struct) masks must be all ones for an unmasked SET.
fn plain_full(m: &FlowKey) -> bool {
    m.ct_zone.is_none_or(|v| v == 0xffff)
        && m.eth_type.is_none_or(|v| v == 0xffff)
        && m.vlan.is_none_or(|v| v == 0xffff)
        && m.tcp_flags.is_none_or(|v| v == 0xffff)
        && m.in_port.is_none_or(|v| v == u32::MAX)
        && m.dp_hash.is_none_or(|v| v == u32::MAX)
        && m.recirc_id.is_none_or(|v| v == u32::MAX)
        && m.ct_state.is_none_or(|v| v == u32::MAX)
        && m.ct_orig_tuple_ipv4.is_none_or(|v| v.to_bytes_full())
        && m.ct_orig_tuple_ipv6.is_none_or(|v| v.to_bytes_full())
        && m.nd_extensions.is_none_or(|v| v.to_bytes_full())
        && m.packet_type.is_none_or(|v| v == u32::MAX)
}

trait Full {
    fn to_bytes_full(&self) -> bool;
}
impl<T: crate::key::KeyStruct> Full for T {
    fn to_bytes_full(&self) -> bool {
        self.to_bytes().iter().all(|&b| b == 0xff)
    }
}

fn parse_ip(s: &str) -> Result<IpAddr> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    t.parse().map_err(|_| syn(0, format!("bad address '{s}'")))
}

/// `src|dst[=IP[-IP]][:PORT[-PORT]]`.
fn parse_nat_range(n: &mut Nat, spec: &str) -> Result<()> {
    let (addrs, ports) = if let Some(rest) = spec.strip_prefix('[') {
        // IPv6 in brackets: "[a]-[b]:p-q" or "[a]:p".
        let close = rest.rfind(']').ok_or_else(|| syn(0, "unterminated '['"))?;
        let (a, tail) = spec.split_at(close + 2);
        match tail.strip_prefix(':') {
            Some(p) => (a, Some(p)),
            None if tail.is_empty() => (a, None),
            None => return Err(syn(0, format!("bad nat range '{spec}'"))),
        }
    } else if spec.matches(':').count() > 1 {
        // Unbracketed IPv6: no port part.
        (spec, None)
    } else {
        match spec.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (spec, None),
        }
    };
    let (lo, hi) = match addrs.split_once("]-[") {
        Some((a, b)) => (format!("{a}]"), Some(format!("[{b}"))),
        None => match addrs.split_once('-') {
            Some((a, b)) if !addrs.starts_with('[') => (a.to_owned(), Some(b.to_owned())),
            _ => (addrs.to_owned(), None),
        },
    };
    n.ip_min = Some(parse_ip(&lo)?);
    n.ip_max = hi.as_deref().map(parse_ip).transpose()?;
    if let Some(p) = ports {
        let (a, b) = match p.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (p, None),
        };
        n.proto_min = Some(uint::<u16>(a, 16)?);
        n.proto_max = b.map(|x| uint(x, 16)).transpose()?;
    }
    Ok(())
}

fn parse_ct(args: &str) -> Result<Ct> {
    let mut c = Ct::default();
    for it in split_top(args)? {
        match it {
            "commit" => c.commit = true,
            "force_commit" => c.force_commit = true,
            "nat" => c.nat = Some(Nat::default()),
            _ => {
                if let Some(("nat", inner)) = call(it) {
                    let mut n = Nat::default();
                    for x in split_top(inner)? {
                        match x {
                            "persistent" => n.persistent = true,
                            "hash" => n.proto_hash = true,
                            "random" => n.proto_random = true,
                            "src" => n.src = true,
                            "dst" => n.dst = true,
                            _ => {
                                if let Some(r) = x.strip_prefix("src=") {
                                    n.src = true;
                                    parse_nat_range(&mut n, r)?;
                                } else if let Some(r) = x.strip_prefix("dst=") {
                                    n.dst = true;
                                    parse_nat_range(&mut n, r)?;
                                } else {
                                    return Err(syn(0, format!("bad nat argument '{x}'")));
                                }
                            }
                        }
                    }
                    c.nat = Some(n);
                    continue;
                }
                let (f, v) = it
                    .split_once('=')
                    .ok_or_else(|| syn(0, format!("bad ct argument '{it}'")))?;
                match f {
                    "zone" => c.zone = Some(uint::<u16>(v, 16)?),
                    "mark" => {
                        let (a, b) = vm(v);
                        c.mark = Some((num32(a)?, b.map(num32).transpose()?.unwrap_or(u32::MAX)));
                    }
                    "label" => {
                        let (a, b) = vm(v);
                        let conv = |x: &str| -> Result<[u8; 16]> {
                            let bytes = hex_n(x, 16)?;
                            let mut arr = [0u8; 16];
                            arr.copy_from_slice(&bytes);
                            Ok(u128::from_be_bytes(arr).to_le_bytes())
                        };
                        let val = if a.starts_with("0x") || a.starts_with("0X") {
                            conv(a)?
                        } else {
                            (int(a)? as u128).to_le_bytes()
                        };
                        let msk = match b {
                            Some(x) => conv(x)?,
                            None => [0xff; 16],
                        };
                        c.labels = Some((val, msk));
                    }
                    "helper" => c.helper = Some(v.to_owned()),
                    "timeout" => c.timeout = Some(v.to_owned()),
                    _ => return Err(syn(0, format!("bad ct argument '{it}'"))),
                }
            }
        }
    }
    Ok(c)
}

/// Size of OVS's private `struct user_action_cookie`.
const COOKIE_LEN: usize = 48;
/// `OFPP_NONE`, the cookie's in-port when built from text.
const OFPP_NONE: u16 = 0xffff;

fn slow_path_name(b: u32) -> Option<&'static str> {
    Some(match b {
        1 => "cfm",
        2 => "bfd",
        4 => "lacp",
        8 => "stp",
        16 => "lldp",
        32 => "action",
        64 => "match",
        _ => return None,
    })
}

fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([d[o], d[o + 1]])
}
fn rd32(d: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

/// OVS's typed userspace cookies (`struct user_action_cookie`, 48 bytes:
/// type u16 @0, in-port u16 @2, ofproto uuid @4, union @20), recognised only
/// at exactly that size, as OVS does.
fn format_cookie(d: &[u8], names: Option<&PortNames>) -> Option<String> {
    if d.len() != COOKIE_LEN {
        return None;
    }
    Some(match rd16(d, 0) {
        1 => {
            let tci = u16::from_be_bytes([d[20], d[21]]);
            format!(
                ",sFlow(vid={},pcp={},output={})",
                tci & 0xfff,
                tci >> 13,
                rd32(d, 24)
            )
        }
        2 => {
            let r = rd32(d, 24);
            let s = if r == 0 {
                "0".to_owned()
            } else {
                let mut out = Vec::new();
                let mut bad = 0;
                let mut f = r;
                while f != 0 {
                    let bit = f & f.wrapping_neg();
                    match slow_path_name(bit) {
                        Some(n) => out.push(n.to_owned()),
                        None => bad |= bit,
                    }
                    f &= !bit;
                }
                if bad != 0 {
                    out.push(format!("0x{bad:x}"));
                }
                out.join(",")
            };
            format!(",slow_path({s})")
        }
        3 => {
            let mut s = format!(
                ",flow_sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={},output_port={}",
                rd16(d, 20),
                rd32(d, 24),
                rd32(d, 28),
                rd32(d, 32),
                port(rd32(d, 36), names)
            );
            match rd32(d, 40) {
                1 => s.push_str(",ingress"),
                2 => s.push_str(",egress"),
                _ => {}
            }
            s.push(')');
            s
        }
        4 => format!(",ipfix(output_port={})", port(rd32(d, 20), names)),
        5 => {
            let mut c = [0u8; 8];
            c.copy_from_slice(&d[28..36]);
            format!(
                ",controller(reason={},dont_send={},continuation={},recirc_id={},rule_cookie={},controller_id={},max_len={})",
                rd16(d, 22),
                u8::from(d[20] != 0),
                u8::from(d[21] != 0),
                rd32(d, 24),
                cx(u64::from_be_bytes(c)),
                rd16(d, 36),
                rd16(d, 38)
            )
        }
        _ => return None,
    })
}

fn parse_cookie(kind: &str, args: &str) -> Result<Vec<u8>> {
    let mut c = vec![0u8; COOKIE_LEN];
    c[2..4].copy_from_slice(&OFPP_NONE.to_ne_bytes());
    let f = fields(args)?;
    let get = |name: &str| -> Result<&str> {
        f.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| syn(0, format!("{kind} needs {name}=")))
    };
    let put16 = |c: &mut [u8], o: usize, v: u16| c[o..o + 2].copy_from_slice(&v.to_ne_bytes());
    let put32 = |c: &mut [u8], o: usize, v: u32| c[o..o + 4].copy_from_slice(&v.to_ne_bytes());
    match kind {
        "sFlow" => {
            put16(&mut c, 0, 1);
            let vid = uint::<u16>(get("vid")?, 12)?;
            let pcp = uint::<u16>(get("pcp")?, 3)?;
            let mut tci = vid | (pcp << 13);
            if tci != 0 {
                tci |= 0x1000;
            }
            c[20..22].copy_from_slice(&tci.to_be_bytes());
            put32(&mut c, 24, num32(get("output")?)?);
        }
        "slow_path" => {
            put16(&mut c, 0, 2);
            let mut r = 0u32;
            for (name, _) in &f {
                if *name == "0" {
                    continue;
                }
                r |= (0..7)
                    .map(|i| 1u32 << i)
                    .find(|&b| slow_path_name(b) == Some(*name))
                    .ok_or_else(|| syn(0, format!("unknown slow_path reason '{name}'")))?;
            }
            put32(&mut c, 24, r);
        }
        "flow_sample" => {
            put16(&mut c, 0, 3);
            put16(&mut c, 20, uint::<u16>(get("probability")?, 16)?);
            put32(&mut c, 24, num32(get("collector_set_id")?)?);
            put32(&mut c, 28, num32(get("obs_domain_id")?)?);
            put32(&mut c, 32, num32(get("obs_point_id")?)?);
            put32(&mut c, 36, num32(get("output_port")?)?);
            let dir = if f.iter().any(|(k, _)| *k == "ingress") {
                1
            } else if f.iter().any(|(k, _)| *k == "egress") {
                2
            } else {
                0
            };
            put32(&mut c, 40, dir);
        }
        "ipfix" => {
            put16(&mut c, 0, 4);
            put32(&mut c, 20, num32(get("output_port")?)?);
        }
        "controller" => {
            put16(&mut c, 0, 5);
            c[20] = u8::from(uint::<u8>(get("dont_send")?, 8)? != 0);
            c[21] = u8::from(uint::<u8>(get("continuation")?, 8)? != 0);
            put16(&mut c, 22, uint::<u16>(get("reason")?, 16)?);
            put32(&mut c, 24, num32(get("recirc_id")?)?);
            let rc = get("rule_cookie")?;
            let rc = u64::from_str_radix(rc.trim_start_matches("0x"), 16)
                .map_err(|_| syn(0, "bad rule_cookie"))?;
            c[28..36].copy_from_slice(&rc.to_be_bytes());
            put16(&mut c, 36, uint::<u16>(get("controller_id")?, 16)?);
            put16(&mut c, 38, uint::<u16>(get("max_len")?, 16)?);
        }
        _ => return Err(syn(0, format!("unsupported userspace argument '{kind}'"))),
    }
    Ok(c)
}
