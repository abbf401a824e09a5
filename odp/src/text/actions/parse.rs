//! Text to action list (OVS `odp_actions_from_string()`).

use super::cookie::parse_cookie;
use super::ct::parse_ct;
use super::num32;
use crate::action::{is_fully_masked, Action, Ct, Userspace};
use crate::error::{Error, Result};
use crate::key::{FlowKey, NshKey};
use crate::text::lex::{call, fields, hex_bytes, mac, split_top, syn, uint};
use crate::text::PortNames;

const MAX_TEXT: usize = 65535;
const MAX_NESTED: usize = 32;

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
            crate::text::keyparse::parse_item(args, &mut k, &mut m, names, 0)?;
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
            let (k, _) = crate::text::keyparse::parse_nsh_fields(args)?;
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
