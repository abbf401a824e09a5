//! [`Action`] to wire: attributes in the layout the kernel parses.

use std::net::IpAddr;

use super::{
    check_pkt_len_attr, ct_attr, nat_attr, sample_attr, userspace_attr, Action, Ct,
    DEC_TTL_ATTR_ACTION, PSAMPLE_ATTR_COOKIE, PSAMPLE_ATTR_GROUP,
};
use crate::key::{attr as kattr, FlowKey};
use crate::nl::{attrs, AttrWriter};

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(x) => x.octets().to_vec(),
        IpAddr::V6(x) => x.octets().to_vec(),
    }
}

/// Emit an action list (attributes only; the caller provides the nest).
pub fn emit_actions(list: &[Action], w: &mut AttrWriter<'_>) {
    for a in list {
        a.emit(w);
    }
}

/// Emit an action list into a fresh byte vector.
///
/// An attribute over 65535 bytes cannot be encoded and is written with
/// `nla_len` 0. That happens only when the whole result is over 65535 bytes,
/// which [`validate_actions`](super::validate_actions) rejects (`EMSGSIZE`) and
/// which putting it into an attribute fails with
/// ([`Error::TooLarge`](crate::Error::TooLarge)).
pub fn actions_to_bytes(list: &[Action]) -> Vec<u8> {
    let mut v = Vec::new();
    let mut w = AttrWriter::new(&mut v);
    emit_actions(list, &mut w);
    v
}

impl Action {
    /// Emit this action as one attribute.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        let ty = self.kind();
        match self {
            Action::Output(p)
            | Action::Recirc(p)
            | Action::Trunc(p)
            | Action::Meter(p)
            | Action::Drop(p) => w.u32(ty, *p),
            Action::Userspace(u) => w.nest(ty, |w| {
                w.u32(userspace_attr::PID, u.pid);
                if let Some(d) = &u.userdata {
                    w.put(userspace_attr::USERDATA, d);
                }
                if let Some(p) = u.egress_tun_port {
                    w.u32(userspace_attr::EGRESS_TUN_PORT, p);
                }
                if u.actions {
                    w.flag(userspace_attr::ACTIONS);
                }
            }),
            Action::Set(k) => w.nest(ty, |w| k.emit(w)),
            Action::SetMasked { key, mask } => {
                let at = w.nest_start(ty);
                emit_masked_attr(key, mask, w);
                w.nest_end(at);
            }
            Action::PushVlan { tpid, tci } => {
                let mut b = [0u8; 4];
                b[..2].copy_from_slice(&tpid.to_be_bytes());
                b[2..].copy_from_slice(&tci.to_be_bytes());
                w.put(ty, &b)
            }
            Action::PopVlan | Action::PopEth | Action::CtClear | Action::PopNsh => w.flag(ty),
            Action::Sample {
                probability,
                actions,
            } => w.nest(ty, |w| {
                w.u32(sample_attr::PROBABILITY, *probability);
                w.nest(sample_attr::ACTIONS, |w| emit_actions(actions, w));
            }),
            Action::Hash { alg, basis } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&alg.to_ne_bytes());
                b[4..].copy_from_slice(&basis.to_ne_bytes());
                w.put(ty, &b)
            }
            Action::PushMpls { lse, ethertype } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&lse.to_be_bytes());
                b[4..6].copy_from_slice(&ethertype.to_be_bytes());
                w.put(ty, &b)
            }
            Action::AddMpls {
                lse,
                ethertype,
                tun_flags,
            } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&lse.to_be_bytes());
                b[4..6].copy_from_slice(&ethertype.to_be_bytes());
                b[6..].copy_from_slice(&tun_flags.to_ne_bytes());
                w.put(ty, &b)
            }
            Action::PopMpls(e) => w.be16(ty, *e),
            Action::Ct(c) => w.nest(ty, |w| emit_ct(c, w)),
            Action::PushEth { src, dst } => {
                let mut b = [0u8; 12];
                b[..6].copy_from_slice(src);
                b[6..].copy_from_slice(dst);
                w.put(ty, &b)
            }
            Action::PushNsh(n) => w.nest(ty, |w| w.nest(kattr::NSH, |w| n.emit(w))),
            Action::Clone(l) => w.nest(ty, |w| emit_actions(l, w)),
            Action::CheckPktLen { pkt_len, gt, le } => w.nest(ty, |w| {
                w.u16(check_pkt_len_attr::PKT_LEN, *pkt_len);
                w.nest(check_pkt_len_attr::ACTIONS_IF_GREATER, |w| {
                    emit_actions(gt, w)
                });
                w.nest(check_pkt_len_attr::ACTIONS_IF_LESS_EQUAL, |w| {
                    emit_actions(le, w)
                });
            }),
            Action::DecTtl(l) => {
                w.nest(ty, |w| w.nest(DEC_TTL_ATTR_ACTION, |w| emit_actions(l, w)))
            }
            Action::Psample { group, cookie } => w.nest(ty, |w| {
                w.u32(PSAMPLE_ATTR_GROUP, *group);
                if let Some(c) = cookie {
                    w.put(PSAMPLE_ATTR_COOKIE, c);
                }
            }),
            Action::Unknown { payload, .. } => w.put(ty, payload),
        }
    }
}

fn emit_masked_attr(key: &FlowKey, mask: &FlowKey, w: &mut AttrWriter<'_>) {
    if let Some(n) = &key.nsh {
        let m = mask.nsh.clone().unwrap_or_default();
        w.nest(kattr::NSH, |w| n.emit_masked(&m, w));
        return;
    }
    // Value and mask are the single attribute's payloads, concatenated.
    let kb = key.to_bytes();
    let mb = mask.to_bytes();
    let Some(ka) = attrs(&kb).next().and_then(|r| r.ok()) else {
        return;
    };
    let mp = attrs(&mb)
        .next()
        .and_then(|r| r.ok())
        .map(|a| a.payload.to_vec())
        .unwrap_or_default();
    let mut p = ka.payload.to_vec();
    p.extend((0..ka.payload.len()).map(|i| mp.get(i).copied().unwrap_or(0)));
    w.put(ka.ty, &p);
}

fn emit_ct(c: &Ct, w: &mut AttrWriter<'_>) {
    if c.commit {
        w.flag(ct_attr::COMMIT);
    }
    if c.force_commit {
        w.flag(ct_attr::FORCE_COMMIT);
    }
    if let Some(z) = c.zone {
        w.u16(ct_attr::ZONE, z);
    }
    if let Some((v, m)) = c.mark {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&v.to_ne_bytes());
        b[4..].copy_from_slice(&m.to_ne_bytes());
        w.put(ct_attr::MARK, &b);
    }
    if let Some((v, m)) = &c.labels {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(v);
        b[16..].copy_from_slice(m);
        w.put(ct_attr::LABELS, &b);
    }
    if let Some(h) = &c.helper {
        w.string(ct_attr::HELPER, h);
    }
    if let Some(e) = c.eventmask {
        w.u32(ct_attr::EVENTMASK, e);
    }
    if let Some(t) = &c.timeout {
        w.string(ct_attr::TIMEOUT, t);
    }
    if let Some(n) = &c.nat {
        w.nest(ct_attr::NAT, |w| {
            if n.src {
                w.flag(nat_attr::SRC);
            }
            if n.dst {
                w.flag(nat_attr::DST);
            }
            if let Some(a) = &n.ip_min {
                w.put(nat_attr::IP_MIN, &ip_bytes(a));
            }
            if let Some(a) = &n.ip_max {
                w.put(nat_attr::IP_MAX, &ip_bytes(a));
            }
            if let Some(p) = n.proto_min {
                w.u16(nat_attr::PROTO_MIN, p);
            }
            if let Some(p) = n.proto_max {
                w.u16(nat_attr::PROTO_MAX, p);
            }
            if n.persistent {
                w.flag(nat_attr::PERSISTENT);
            }
            if n.proto_hash {
                w.flag(nat_attr::PROTO_HASH);
            }
            if n.proto_random {
                w.flag(nat_attr::PROTO_RANDOM);
            }
        });
    }
}
