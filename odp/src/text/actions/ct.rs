//! The `ct(...)` action in both directions, with its `nat(...)` ranges.

use std::net::IpAddr;

use super::num32;
use crate::action::{Ct, Nat};
use crate::error::Result;
use crate::text::lex::{call, cx, hex_n, int, put_hex, split_top, syn, uint, vm};

fn u128_text(b: &[u8; 16]) -> String {
    put_hex(&u128::from_le_bytes(*b).to_be_bytes())
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

pub(super) fn format_ct(c: &Ct) -> String {
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

pub(super) fn parse_ct(args: &str) -> Result<Ct> {
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
