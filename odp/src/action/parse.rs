//! Wire to [`Action`]: an action list's attributes, checked for the types,
//! lengths and nesting the kernel accepts.

use std::net::IpAddr;

use super::{
    attr, check_pkt_len_attr, ct_attr, nat_attr, sample_attr, userspace_attr, Action, Ct, Nat,
    Userspace, DEC_TTL_ATTR_ACTION, MAX_ACTIONS_DEPTH, PSAMPLE_ATTR_COOKIE, PSAMPLE_ATTR_GROUP,
    PSAMPLE_COOKIE_MAX,
};
use crate::error::{Error, Result};
use crate::key::{attr as kattr, FlowKey, NshKey};
use crate::nl::{attrs, Attr};

fn mac6(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

fn ip_from(b: &[u8], what: &'static str) -> Result<IpAddr> {
    match b.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(b).map_err(|_| Error::Invalid(what))?,
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(b).map_err(|_| Error::Invalid(what))?,
        )),
        len => Err(Error::BadLength { what, len }),
    }
}

fn short_str(a: &Attr<'_>, what: &'static str, max: usize) -> Result<String> {
    let s = a.string(what, max)?;
    if s.is_empty() {
        return Err(Error::Invalid(what));
    }
    Ok(s)
}

/// Parse an action list (the payload of `OVS_FLOW_ATTR_ACTIONS` etc.).
///
/// # Errors
/// `EOVERFLOW` beyond 16 nested lists; `EINVAL` for malformed attributes.
pub fn parse_actions(buf: &[u8]) -> Result<Vec<Action>> {
    parse_list(buf, 0)
}

fn parse_list(buf: &[u8], depth: usize) -> Result<Vec<Action>> {
    if depth > MAX_ACTIONS_DEPTH {
        return Err(Error::NestingTooDeep(MAX_ACTIONS_DEPTH));
    }
    let mut v = Vec::new();
    for a in attrs(buf) {
        v.push(parse_one(&a?, depth)?);
    }
    Ok(v)
}

fn parse_set_masked(a: &Attr<'_>) -> Result<Action> {
    let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
    let [k] = inner.as_slice() else {
        return Err(Error::Invalid("set_masked needs exactly one attribute"));
    };
    let mut key = FlowKey::default();
    let mut mask = FlowKey::default();
    if k.ty == kattr::NSH {
        let (kv, mv) = NshKey::parse_masked(k.payload)?;
        key.nsh = Some(kv);
        mask.nsh = Some(mv);
        return Ok(Action::SetMasked { key, mask });
    }
    if k.ty == kattr::TUNNEL || k.ty == kattr::ENCAP {
        return Err(Error::Invalid("masked set of a nested attribute"));
    }
    let p = k.payload;
    if p.len() % 2 != 0 {
        return Err(Error::BadLength {
            what: "set_masked",
            len: p.len(),
        });
    }
    let h = p.len() / 2;
    key.parse_one(
        &Attr {
            ty: k.ty,
            nested_flag: false,
            payload: &p[..h],
        },
        0,
    )?;
    mask.parse_one(
        &Attr {
            ty: k.ty,
            nested_flag: false,
            payload: &p[h..],
        },
        0,
    )?;
    Ok(Action::SetMasked { key, mask })
}

fn parse_one(a: &Attr<'_>, depth: usize) -> Result<Action> {
    let p = a.payload;
    Ok(match a.ty {
        attr::OUTPUT => Action::Output(a.u32("output")?),
        attr::USERSPACE => {
            let mut u = Userspace::default();
            let mut pid = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    userspace_attr::PID => pid = Some(n.u32("userspace pid")?),
                    userspace_attr::USERDATA => u.userdata = Some(n.payload.to_vec()),
                    userspace_attr::EGRESS_TUN_PORT => {
                        u.egress_tun_port = Some(n.u32("egress tun port")?)
                    }
                    userspace_attr::ACTIONS => {
                        n.flag("userspace actions")?;
                        u.actions = true
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "userspace",
                            ty,
                        })
                    }
                }
            }
            u.pid = pid.ok_or(Error::Missing("OVS_USERSPACE_ATTR_PID"))?;
            Action::Userspace(u)
        }
        attr::SET => {
            let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
            let [k] = inner.as_slice() else {
                return Err(Error::Invalid("set needs exactly one attribute"));
            };
            if k.ty == kattr::ENCAP {
                return Err(Error::Invalid("set of encap"));
            }
            let mut key = FlowKey::default();
            key.parse_one(k, 0)?;
            Action::Set(key)
        }
        attr::SET_MASKED => parse_set_masked(a)?,
        attr::PUSH_VLAN => {
            let b: [u8; 4] = a.array("push_vlan")?;
            Action::PushVlan {
                tpid: u16::from_be_bytes([b[0], b[1]]),
                tci: u16::from_be_bytes([b[2], b[3]]),
            }
        }
        attr::POP_VLAN => {
            a.flag("pop_vlan")?;
            Action::PopVlan
        }
        attr::SAMPLE => {
            let mut prob = None;
            let mut acts = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    sample_attr::PROBABILITY => prob = Some(n.u32("sample probability")?),
                    sample_attr::ACTIONS => acts = Some(parse_list(n.payload, depth + 1)?),
                    ty => return Err(Error::UnknownAttr { what: "sample", ty }),
                }
            }
            Action::Sample {
                probability: prob.ok_or(Error::Missing("OVS_SAMPLE_ATTR_PROBABILITY"))?,
                actions: acts.ok_or(Error::Missing("OVS_SAMPLE_ATTR_ACTIONS"))?,
            }
        }
        attr::RECIRC => Action::Recirc(a.u32("recirc")?),
        attr::HASH => {
            let b: [u8; 8] = a.array("hash")?;
            Action::Hash {
                alg: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                basis: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            }
        }
        attr::PUSH_MPLS => {
            let b: [u8; 8] = a.array("push_mpls")?;
            Action::PushMpls {
                lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                ethertype: u16::from_be_bytes([b[4], b[5]]),
            }
        }
        attr::POP_MPLS => Action::PopMpls(a.be16("pop_mpls")?),
        attr::CT => Action::Ct(parse_ct(a)?),
        attr::TRUNC => Action::Trunc(a.u32("trunc")?),
        attr::PUSH_ETH => {
            let b: [u8; 12] = a.array("push_eth")?;
            Action::PushEth {
                src: mac6(&b[..6]),
                dst: mac6(&b[6..]),
            }
        }
        attr::POP_ETH => {
            a.flag("pop_eth")?;
            Action::PopEth
        }
        attr::CT_CLEAR => {
            a.flag("ct_clear")?;
            Action::CtClear
        }
        attr::PUSH_NSH => {
            let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
            let nsh_attr = inner
                .iter()
                .find(|x| x.ty == kattr::NSH)
                .ok_or(Error::Missing("push_nsh key"))?;
            if inner.len() != 1 {
                return Err(Error::Invalid("push_nsh needs exactly one attribute"));
            }
            Action::PushNsh(NshKey::parse(nsh_attr.payload)?)
        }
        attr::POP_NSH => {
            a.flag("pop_nsh")?;
            Action::PopNsh
        }
        attr::METER => Action::Meter(a.u32("meter")?),
        attr::CLONE => Action::Clone(parse_list(p, depth + 1)?),
        attr::CHECK_PKT_LEN => {
            let (mut len, mut gt, mut le) = (None, None, None);
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    check_pkt_len_attr::PKT_LEN => len = Some(n.u16("check_pkt_len")?),
                    check_pkt_len_attr::ACTIONS_IF_GREATER => {
                        gt = Some(parse_list(n.payload, depth + 1)?)
                    }
                    check_pkt_len_attr::ACTIONS_IF_LESS_EQUAL => {
                        le = Some(parse_list(n.payload, depth + 1)?)
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "check_pkt_len",
                            ty,
                        })
                    }
                }
            }
            Action::CheckPktLen {
                pkt_len: len.ok_or(Error::Missing("OVS_CHECK_PKT_LEN_ATTR_PKT_LEN"))?,
                gt: gt.ok_or(Error::Missing("OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_GREATER"))?,
                le: le.ok_or(Error::Missing(
                    "OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_LESS_EQUAL",
                ))?,
            }
        }
        attr::ADD_MPLS => {
            let b: [u8; 8] = a.array("add_mpls")?;
            Action::AddMpls {
                lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                ethertype: u16::from_be_bytes([b[4], b[5]]),
                tun_flags: u16::from_ne_bytes([b[6], b[7]]),
            }
        }
        attr::DEC_TTL => {
            let mut acts = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    DEC_TTL_ATTR_ACTION => acts = Some(parse_list(n.payload, depth + 1)?),
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "dec_ttl",
                            ty,
                        })
                    }
                }
            }
            Action::DecTtl(acts.ok_or(Error::Missing("OVS_DEC_TTL_ATTR_ACTION"))?)
        }
        attr::DROP => Action::Drop(a.u32("drop")?),
        attr::PSAMPLE => {
            let (mut group, mut cookie) = (None, None);
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    PSAMPLE_ATTR_GROUP => group = Some(n.u32("psample group")?),
                    PSAMPLE_ATTR_COOKIE => {
                        if n.payload.len() > PSAMPLE_COOKIE_MAX {
                            return Err(Error::BadLength {
                                what: "psample cookie",
                                len: n.payload.len(),
                            });
                        }
                        cookie = Some(n.payload.to_vec())
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "psample",
                            ty,
                        })
                    }
                }
            }
            Action::Psample {
                group: group.ok_or(Error::Missing("OVS_PSAMPLE_ATTR_GROUP"))?,
                cookie,
            }
        }
        ty => Action::Unknown {
            ty,
            payload: p.to_vec(),
        },
    })
}

fn parse_ct(a: &Attr<'_>) -> Result<Ct> {
    let mut c = Ct::default();
    for n in a.nested() {
        let n = n?;
        match n.ty {
            ct_attr::COMMIT => {
                n.flag("ct commit")?;
                c.commit = true
            }
            ct_attr::FORCE_COMMIT => {
                n.flag("ct force_commit")?;
                c.force_commit = true
            }
            ct_attr::ZONE => c.zone = Some(n.u16("ct zone")?),
            ct_attr::MARK => {
                let b: [u8; 8] = n.array("ct mark")?;
                let mask = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
                if mask == 0 {
                    return Err(Error::Invalid("ct mark with a zero mask"));
                }
                c.mark = Some((u32::from_ne_bytes([b[0], b[1], b[2], b[3]]), mask));
            }
            ct_attr::LABELS => {
                let b: [u8; 32] = n.array("ct labels")?;
                let mut v = [0u8; 16];
                let mut m = [0u8; 16];
                v.copy_from_slice(&b[..16]);
                m.copy_from_slice(&b[16..]);
                if m == [0; 16] {
                    return Err(Error::Invalid("ct labels with a zero mask"));
                }
                c.labels = Some((v, m));
            }
            ct_attr::HELPER => c.helper = Some(short_str(&n, "ct helper", 15)?),
            ct_attr::TIMEOUT => c.timeout = Some(short_str(&n, "ct timeout", 31)?),
            ct_attr::EVENTMASK => c.eventmask = Some(n.u32("ct eventmask")?),
            ct_attr::NAT => {
                let mut nat = Nat::default();
                for x in n.nested() {
                    let x = x?;
                    match x.ty {
                        nat_attr::SRC => nat.src = true,
                        nat_attr::DST => nat.dst = true,
                        nat_attr::IP_MIN => nat.ip_min = Some(ip_from(x.payload, "nat ip_min")?),
                        nat_attr::IP_MAX => nat.ip_max = Some(ip_from(x.payload, "nat ip_max")?),
                        nat_attr::PROTO_MIN => nat.proto_min = Some(x.u16("nat proto_min")?),
                        nat_attr::PROTO_MAX => nat.proto_max = Some(x.u16("nat proto_max")?),
                        nat_attr::PERSISTENT => nat.persistent = true,
                        nat_attr::PROTO_HASH => nat.proto_hash = true,
                        nat_attr::PROTO_RANDOM => nat.proto_random = true,
                        ty => return Err(Error::UnknownAttr { what: "nat", ty }),
                    }
                    if matches!(
                        x.ty,
                        nat_attr::SRC
                            | nat_attr::DST
                            | nat_attr::PERSISTENT
                            | nat_attr::PROTO_HASH
                            | nat_attr::PROTO_RANDOM
                    ) {
                        x.flag("nat flag")?;
                    }
                }
                // The kernel checks against the attributes parsed so far: COMMIT must
                // come first (`parse_nat()`).
                if (nat.src || nat.dst) && !(c.commit || c.force_commit) {
                    return Err(Error::Invalid("ct nat without commit"));
                }
                c.nat = Some(nat);
            }
            ty => return Err(Error::UnknownAttr { what: "ct", ty }),
        }
    }
    if (c.mark.is_some() || c.labels.is_some()) && !(c.commit || c.force_commit) {
        return Err(Error::Invalid("ct mark or labels without commit"));
    }
    Ok(c)
}
