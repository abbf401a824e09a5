//! Action list to text (OVS `format_odp_actions()`).

use super::cookie::format_cookie;
use super::ct::format_ct;
use super::{port, rd32};
use crate::action::Action;
use crate::text::keyfmt::{format_vlan_tci, mpls_lse};
use crate::text::lex::{cx, fmt_mac, put_hex};
use crate::text::{FormatOptions, PortNames};

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
            format!("set({})", crate::text::format_key(k, None, &opts))
        }
        Action::SetMasked { key, mask } => {
            if let Some(n) = &key.nsh {
                // OVS format_odp_set_nsh: parts absent from the mask are zero.
                let m = mask.nsh.clone().unwrap_or_default();
                let s = crate::text::keyfmt::nsh_masked(
                    &n.base.unwrap_or_default(),
                    &n.md1.unwrap_or_default().context,
                    &m.base.unwrap_or_default(),
                    &m.md1.unwrap_or_default().context,
                );
                return format!("set(nsh({s}))");
            }
            format!(
                "set({})",
                crate::text::format_key(key, Some(mask), &FormatOptions::default())
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
