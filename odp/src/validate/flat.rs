//! The flattened view of a key or mask: ENCAP levels merged into one
//! attribute set and the VLAN tags listed apart, with the kernel's rules for
//! the VLAN structure.

use super::VLAN_CFI;
use crate::error::{Error, Result};
use crate::key::{attr, eth_type as et, FlowKey, FlowMask};

/// One VLAN tag: TPID and TCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tag {
    /// Tag protocol id (0x8100 / 0x88a8).
    pub tpid: u16,
    /// Tag control information (with the CFI bit as "present").
    pub tci: u16,
}

/// A key flattened across ENCAP nests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlatKey {
    /// Every non-VLAN attribute; `eth_type` is the innermost ethertype,
    /// `vlan` and `encap` are always `None`.
    pub key: FlowKey,
    /// VLAN tags, outermost first (at most two).
    pub tags: Vec<Tag>,
}

fn is_vlan(t: u16) -> bool {
    t == et::VLAN || t == et::QINQ
}

macro_rules! merge_fields {
    ($dst:expr, $src:expr, $($f:ident),*) => {
        $(
            if let Some(v) = $src.$f.clone() {
                if $dst.$f.is_some() {
                    return Err(Error::Duplicate { what: "flow key", ty: 0 });
                }
                $dst.$f = Some(v);
            }
        )*
    };
}

fn merge(dst: &mut FlowKey, src: &FlowKey) -> Result<()> {
    merge_fields!(
        dst,
        src,
        priority,
        in_port,
        ethernet,
        ipv4,
        ipv6,
        tcp,
        udp,
        icmp,
        icmpv6,
        arp,
        nd,
        skb_mark,
        tunnel,
        sctp,
        tcp_flags,
        dp_hash,
        recirc_id,
        mpls,
        ct_state,
        ct_zone,
        ct_mark,
        ct_labels,
        ct_orig_tuple_ipv4,
        ct_orig_tuple_ipv6,
        nsh,
        packet_type,
        nd_extensions,
        ipv6_exthdrs
    );
    Ok(())
}

impl FlatKey {
    /// Flatten a key, applying the kernel's VLAN structure rules
    /// (`parse_vlan_from_nlattrs()` in `net/openvswitch/flow_netlink.c`):
    /// a VLAN TPID needs VLAN and ENCAP, the TCI needs the CFI bit unless it
    /// is the truncated-header form (TCI 0, empty ENCAP), at most two tags.
    pub fn from_key(k: &FlowKey) -> Result<Self> {
        let mut flat = FlatKey::default();
        let mut cur = k.clone();
        let mut level = 0;
        loop {
            let encap = cur.encap.take();
            let vlan = cur.vlan.take();
            let ty = cur.eth_type.take();
            let tagged = level < 2
                && ty.is_some_and(is_vlan)
                && (level > 0 || flat.key.ethernet.is_some() || cur.ethernet.is_some());
            merge(&mut flat.key, &cur)?;
            if !tagged {
                if vlan.is_some() {
                    return Err(Error::Invalid("VLAN attribute unexpected"));
                }
                if encap.is_some() {
                    return Err(Error::UnknownAttr {
                        what: "flow key",
                        ty: attr::ENCAP,
                    });
                }
                flat.key.eth_type = ty;
                return Ok(flat);
            }
            let (Some(tci), Some(inner)) = (vlan, encap) else {
                return Err(Error::Invalid("VLAN frame without VLAN and ENCAP"));
            };
            let tpid = ty.unwrap_or_default();
            if tci & VLAN_CFI == 0 && !(tci == 0 && inner.is_empty()) {
                return Err(Error::Invalid("VLAN TCI without the tag-present bit"));
            }
            flat.tags.push(Tag { tpid, tci });
            if tci == 0 {
                // Truncated VLAN header: nothing follows.
                return Ok(flat);
            }
            cur = *inner;
            level += 1;
        }
    }

    /// Flatten a mask following the key's tag structure.
    pub(super) fn mask_from(m: &FlowMask, key_tags: usize) -> Result<(Self, bool, Vec<Tag>)> {
        let mut flat = FlatKey::default();
        let mut cur = m.clone();
        let mut mtags = Vec::new();
        let mut had_encap = false;
        for _ in 0..=2 {
            let encap = cur.encap.take();
            let vlan = cur.vlan.take();
            let ty = cur.eth_type.take();
            merge(&mut flat.key, &cur)?;
            match encap {
                Some(inner) if mtags.len() < key_tags => {
                    had_encap = true;
                    mtags.push(Tag {
                        tpid: ty.unwrap_or(0),
                        tci: vlan.unwrap_or(0xffff),
                    });
                    cur = *inner;
                }
                Some(_) => return Err(Error::UnexpectedMask("encap mask for a non-VLAN frame")),
                None => {
                    if mtags.len() < key_tags {
                        // No ENCAP in the mask: the tag TPID/TCI masks still apply.
                        mtags.push(Tag {
                            tpid: ty.unwrap_or(0),
                            tci: vlan.unwrap_or(0xffff),
                        });
                        flat.key.eth_type = None;
                    } else {
                        if vlan.is_some() {
                            return Err(Error::UnexpectedMask("vlan"));
                        }
                        flat.key.eth_type = ty;
                    }
                    return Ok((flat, had_encap, mtags));
                }
            }
        }
        Err(Error::Invalid("mask encap nesting"))
    }
}
