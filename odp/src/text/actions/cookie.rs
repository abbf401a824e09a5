//! OVS's typed userspace cookies (`sFlow(...)`, `slow_path(...)`,
//! `flow_sample(...)`, `ipfix(...)`, `controller(...)`) in both directions.

use super::{num32, port, rd16, rd32};
use crate::error::Result;
use crate::text::lex::{cx, fields, syn, uint};
use crate::text::PortNames;

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

/// OVS's typed userspace cookies (`struct user_action_cookie`, 48 bytes:
/// type u16 @0, in-port u16 @2, ofproto uuid @4, union @20), recognised only
/// at exactly that size, as OVS does.
pub(super) fn format_cookie(d: &[u8], names: Option<&PortNames>) -> Option<String> {
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

pub(super) fn parse_cookie(kind: &str, args: &str) -> Result<Vec<u8>> {
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
