//! The kernel's rules for an action list against the flow it is installed
//! with: the packet state each action needs and the state it leaves.

use super::{actions_to_bytes, Action, MAX_ACTIONS_BUFSIZE, MAX_ACTIONS_DEPTH, PSAMPLE_COOKIE_MAX};
use crate::error::{Error, Result};
use crate::key::{eth_type as et, FlowKey, TunnelKey};
use crate::validate::{FlatKey, NO_PORT, VLAN_CFI};

/// Packet state tracked while validating (what the kernel tracks).
#[derive(Debug, Clone, Copy)]
struct State {
    eth_type: u16,
    vlan_tci: u16,
    ethernet: bool,
    mpls_labels: usize,
    ip_proto: u8,
    ip_frag: u8,
}

/// Validate an action list against a validated flow match, with the
/// kernel's rules (`ovs_nla_copy_actions()` and `__ovs_nla_copy_actions()` in
/// `net/openvswitch/flow_netlink.c`).
///
/// # Errors
/// `EMSGSIZE` above 32 KiB, `EOVERFLOW` beyond 16 nesting levels, `EINVAL`
/// for every other rule.
pub fn validate_actions(list: &[Action], key: &FlatKey) -> Result<()> {
    if actions_to_bytes(list).len() > MAX_ACTIONS_BUFSIZE {
        return Err(Error::ActionsTooLarge(MAX_ACTIONS_BUFSIZE));
    }
    let k = &key.key;
    let (ip_proto, ip_frag) = match (k.ipv4, k.ipv6) {
        (Some(v), _) => (v.proto, v.frag),
        (_, Some(v)) => (v.proto, v.frag),
        _ => (0, 0),
    };
    let st = State {
        eth_type: k.eth_type.unwrap_or(if k.ethernet.is_some() {
            et::ETH_P_802_2
        } else {
            0
        }),
        vlan_tci: key.tags.first().map_or(0, |t| t.tci),
        ethernet: k.ethernet.is_some(),
        mpls_labels: k.mpls.as_ref().map_or(0, |v| v.len()),
        ip_proto,
        ip_frag,
    };
    validate_list(list, key, st, 0)
}

fn is_mpls(t: u16) -> bool {
    t == et::MPLS || t == et::MPLS_MCAST
}

fn validate_list(list: &[Action], key: &FlatKey, mut st: State, depth: usize) -> Result<()> {
    if depth > MAX_ACTIONS_DEPTH {
        return Err(Error::NestingTooDeep(MAX_ACTIONS_DEPTH));
    }
    for (i, a) in list.iter().enumerate() {
        match a {
            Action::Output(p) => {
                if *p >= NO_PORT {
                    return Err(Error::Invalid("output port"));
                }
            }
            Action::Userspace(u) => {
                if u.pid == 0 {
                    return Err(Error::Invalid("userspace pid"));
                }
            }
            Action::Trunc(n) => {
                if *n < 14 {
                    return Err(Error::Invalid("trunc max_len"));
                }
            }
            Action::Hash { alg, .. } => {
                // OVS_HASH_ALG_L4 and OVS_HASH_ALG_SYM_L4.
                if *alg > 1 {
                    return Err(Error::Invalid("hash algorithm"));
                }
            }
            Action::PushVlan { tpid, tci } => {
                if !st.ethernet {
                    return Err(Error::Invalid("push_vlan on a non-Ethernet flow"));
                }
                if (*tpid != et::VLAN && *tpid != et::QINQ) || tci & VLAN_CFI == 0 {
                    return Err(Error::Invalid("push_vlan"));
                }
                st.vlan_tci = *tci;
            }
            Action::PopVlan => {
                if !st.ethernet {
                    return Err(Error::Invalid("pop_vlan on a non-Ethernet flow"));
                }
                st.vlan_tci = 0;
            }
            Action::PushEth { .. } => {
                if st.ethernet {
                    return Err(Error::Invalid("push_eth on an Ethernet flow"));
                }
                st.ethernet = true;
            }
            Action::PopEth => {
                if !st.ethernet || st.vlan_tci & VLAN_CFI != 0 {
                    return Err(Error::Invalid("pop_eth"));
                }
                st.ethernet = false;
            }
            Action::PushMpls { ethertype, .. } => {
                if !is_mpls(*ethertype) {
                    return Err(Error::Invalid("push_mpls ethertype"));
                }
                if st.vlan_tci & VLAN_CFI != 0 || !mpls_pushable(st.eth_type) {
                    return Err(Error::Invalid("push_mpls on this packet type"));
                }
                st.eth_type = *ethertype;
                st.mpls_labels += 1;
            }
            Action::AddMpls {
                ethertype,
                tun_flags,
                ..
            } => {
                if !is_mpls(*ethertype) {
                    return Err(Error::Invalid("add_mpls ethertype"));
                }
                // With OVS_MPLS_L3_TUNNEL_FLAG_MASK the label goes after the MAC header, as
                // push_mpls; without it, in front of the whole frame, which stops being
                // Ethernet (`net/openvswitch/flow_netlink.c`, `__ovs_nla_copy_actions()`).
                if tun_flags & 1 != 0 {
                    if st.vlan_tci & VLAN_CFI != 0 || !mpls_pushable(st.eth_type) {
                        return Err(Error::Invalid("add_mpls on this packet type"));
                    }
                    st.mpls_labels += 1;
                } else if st.ethernet {
                    st.mpls_labels = 1;
                    st.ethernet = false;
                } else {
                    st.mpls_labels += 1;
                }
                st.eth_type = *ethertype;
            }
            Action::PopMpls(proto) => {
                if st.vlan_tci & VLAN_CFI != 0 || !is_mpls(st.eth_type) {
                    return Err(Error::Invalid("pop_mpls on a non-MPLS packet"));
                }
                if *proto == 0x6558 && st.ethernet {
                    return Err(Error::Invalid("pop_mpls to TEB on an Ethernet packet"));
                }
                st.mpls_labels = st.mpls_labels.saturating_sub(1);
                st.eth_type = if !is_mpls(*proto) || st.mpls_labels == 0 {
                    0
                } else {
                    *proto
                };
            }
            Action::Set(k) => validate_set(k, None, key, &st)?,
            Action::SetMasked { key: k, mask } => validate_set(k, Some(mask), key, &st)?,
            Action::Ct(c) => {
                if st.eth_type != et::IPV4 && st.eth_type != et::IPV6 {
                    return Err(Error::Invalid("ct on a non-IP flow"));
                }
                if let Some(n) = &c.nat {
                    if n.src && n.dst {
                        return Err(Error::Invalid("nat src and dst"));
                    }
                    let range = n.ip_min.is_some()
                        || n.ip_max.is_some()
                        || n.proto_min.is_some()
                        || n.proto_max.is_some();
                    if range && !(n.src || n.dst) {
                        return Err(Error::Invalid("nat range without src or dst"));
                    }
                }
            }
            Action::PushNsh(_) => {
                st.eth_type = et::NSH;
                st.ethernet = false;
            }
            Action::PopNsh => {
                if st.eth_type != et::NSH {
                    return Err(Error::Invalid("pop_nsh on a non-NSH packet"));
                }
                st.eth_type = 0;
            }
            Action::Sample { actions, .. } => validate_list(actions, key, st, depth + 1)?,
            Action::Clone(l) | Action::DecTtl(l) => validate_list(l, key, st, depth + 1)?,
            Action::CheckPktLen { gt, le, .. } => {
                validate_list(gt, key, st, depth + 1)?;
                validate_list(le, key, st, depth + 1)?;
            }
            Action::Drop(_) => {
                if i + 1 != list.len() {
                    return Err(Error::Invalid("drop must be the last action"));
                }
            }
            Action::Psample { cookie, .. } => {
                if cookie
                    .as_ref()
                    .is_some_and(|c| c.len() > PSAMPLE_COOKIE_MAX)
                {
                    return Err(Error::Invalid("psample cookie"));
                }
            }
            Action::Recirc(_) | Action::Meter(_) | Action::CtClear => {}
            Action::Unknown { ty, .. } => {
                return Err(Error::UnknownAttr {
                    what: "actions",
                    ty: *ty,
                });
            }
        }
    }
    Ok(())
}

fn mpls_pushable(t: u16) -> bool {
    matches!(t, et::IPV4 | et::IPV6 | et::ARP | et::RARP) || is_mpls(t)
}

fn validate_set(k: &FlowKey, mask: Option<&FlowKey>, flow: &FlatKey, st: &State) -> Result<()> {
    let masked = mask.is_some();
    // Value bits outside the mask are an error.
    if let Some(m) = mask {
        if k.and(m) != *k {
            return Err(Error::Invalid("set_masked value bits outside the mask"));
        }
    }
    let ip_l4 = |proto: u8| -> Result<()> {
        if (st.eth_type != et::IPV4 && st.eth_type != et::IPV6) || st.ip_proto != proto {
            return Err(Error::Invalid("set of L4 field without matching protocol"));
        }
        Ok(())
    };
    let _ = flow;
    if k.priority.is_some() || k.skb_mark.is_some() || k.ct_mark.is_some() || k.ct_labels.is_some()
    {
        return Ok(());
    }
    if k.ethernet.is_some() {
        return if st.ethernet {
            Ok(())
        } else {
            Err(Error::Invalid("set ethernet on an L3 flow"))
        };
    }
    if let Some(t) = &k.tunnel {
        if masked {
            return Err(Error::Invalid("masked tunnel set"));
        }
        return validate_tunnel_set(t);
    }
    if let Some(v) = &k.ipv4 {
        if st.eth_type != et::IPV4 {
            return Err(Error::Invalid("set ipv4 on a non-IPv4 flow"));
        }
        match mask.and_then(|m| m.ipv4) {
            Some(m) if m.proto != 0 || m.frag != 0 => {
                return Err(Error::Invalid("ipv4 proto/frag not writable"))
            }
            Some(_) => {}
            None if masked => {}
            None => {
                if v.proto != st.ip_proto || v.frag != st.ip_frag {
                    return Err(Error::Invalid("ipv4 proto/frag not writable"));
                }
            }
        }
        return Ok(());
    }
    if let Some(v) = &k.ipv6 {
        if st.eth_type != et::IPV6 {
            return Err(Error::Invalid("set ipv6 on a non-IPv6 flow"));
        }
        match mask.and_then(|m| m.ipv6) {
            Some(m) => {
                if m.proto != 0 || m.frag != 0 {
                    return Err(Error::Invalid("ipv6 proto/frag not writable"));
                }
                if m.label & 0xfff0_0000 != 0 {
                    return Err(Error::Invalid("ipv6 label mask"));
                }
            }
            None if masked => {}
            None => {
                if v.proto != st.ip_proto || v.frag != st.ip_frag {
                    return Err(Error::Invalid("ipv6 proto/frag not writable"));
                }
            }
        }
        if v.label & 0xfff0_0000 != 0 {
            return Err(Error::Invalid("ipv6 label"));
        }
        return Ok(());
    }
    if k.tcp.is_some() {
        return ip_l4(6);
    }
    if k.udp.is_some() {
        return ip_l4(17);
    }
    if k.sctp.is_some() {
        return ip_l4(132);
    }
    if k.mpls.is_some() {
        return if is_mpls(st.eth_type) {
            Ok(())
        } else {
            Err(Error::Invalid("set mpls on a non-MPLS flow"))
        };
    }
    if k.nsh.is_some() {
        return if st.eth_type == et::NSH {
            Ok(())
        } else {
            Err(Error::Invalid("set nsh on a non-NSH flow"))
        };
    }
    Err(Error::Invalid("set of a non-writable field"))
}

fn validate_tunnel_set(t: &TunnelKey) -> Result<()> {
    let v4 = t.ipv4_src.is_some() || t.ipv4_dst.is_some();
    let v6 = t.ipv6_src.is_some() || t.ipv6_dst.is_some();
    if v4 && v6 {
        return Err(Error::Invalid("mixed IPv4 and IPv6 tunnel attributes"));
    }
    let dst = t.ipv4_dst.is_some_and(|a| !a.is_unspecified())
        || t.ipv6_dst.is_some_and(|a| !a.is_unspecified());
    if !dst {
        return Err(Error::Invalid("tunnel destination"));
    }
    if t.ttl.is_none() {
        return Err(Error::Invalid("tunnel TTL"));
    }
    Ok(())
}
