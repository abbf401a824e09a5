//! Key + mask validation with the kernel's rules and errno (`ovs_nla_get_match()`
//! and `match_validate()` in `net/openvswitch/flow_netlink.c`) and the kernel's
//! reply form of keys and masks (`ovs_nla_put_key()` and `ovs_nla_put_mask()`,
//! same file).
//!
//! The kernel merges ENCAP contents into one attribute set, so validation
//! works on a *flattened* view: outer metadata + up to two VLAN tags + the
//! innermost ethertype and L3/L4 attributes.

use crate::error::{Error, Result};
use crate::key::{FlowKey, FlowMask};
use crate::nl::AttrWriter;

mod flat;
mod mask;
mod reply;
mod rules;

pub use flat::{FlatKey, Tag};
pub use reply::unmasked_key_form;

use mask::{exact_mask, mask_flat, zero_attr};
use reply::kernel_form;
use rules::{check_match, check_values};

/// VLAN "tag present" (CFI/DEI) bit.
pub const VLAN_CFI: u16 = 0x1000;
/// `DP_MAX_PORTS`: internal "no in_port".
pub const NO_PORT: u32 = 65535;

/// A validated flow match: the masked key and the effective mask, both
/// flattened, plus what the reply form needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMatch {
    /// Masked key.
    pub key: FlatKey,
    /// Effective mask (forced bits applied, all-zero attributes dropped).
    pub mask: FlatKey,
    /// Whether the request carried IPV6_EXTHDRS (emitted back only then, so
    /// replies stay readable by OVS userspace, which does not know key 32).
    pub has_exthdrs: bool,
}

impl FlowMatch {
    /// Validate `key` and optional `mask` exactly as the kernel's
    /// `ovs_nla_get_match` does and compute the masked key.
    ///
    /// # Errors
    /// `EINVAL`-mapped errors for every rule of `ovs_nla_get_match()` and
    /// `match_validate()` (`net/openvswitch/flow_netlink.c`).
    pub fn new(key: &FlowKey, mask: Option<&FlowMask>) -> Result<FlowMatch> {
        check_values(key, false)?;
        let fk = FlatKey::from_key(key)?;
        let is_ethernet = fk.key.ethernet.is_some();
        if !is_ethernet && fk.key.eth_type.is_none() {
            return Err(Error::MissingKey("ethernet or eth_type"));
        }
        let has_exthdrs = fk.key.ipv6_exthdrs.is_some();
        let (mut fm, mtags) = match mask {
            None => {
                let mut m = exact_mask(&fk.key);
                if is_ethernet {
                    m.eth_type = Some(0xffff);
                }
                let tags = fk
                    .tags
                    .iter()
                    .map(|_| Tag {
                        tpid: 0xffff,
                        tci: 0xffff,
                    })
                    .collect();
                (m, tags)
            }
            Some(m) => {
                let mut m = m.clone();
                check_values(&m, true)?;
                zero_attr(&mut m);
                let (flat, had_encap, mut mtags) = FlatKey::mask_from(&m, fk.tags.len())?;
                let mut mk = flat.key;
                if mk.eth_type.is_some() {
                    mk.eth_type = Some(0xffff);
                }
                if had_encap {
                    for t in &mtags {
                        if t.tpid != 0xffff {
                            return Err(Error::Invalid("VLAN TPID must be exact in the mask"));
                        }
                        if t.tci & VLAN_CFI == 0 {
                            return Err(Error::Invalid("VLAN tag-present bit must be exact"));
                        }
                    }
                }
                for t in &mut mtags {
                    t.tpid = 0xffff;
                }
                if mk.in_port.is_some() {
                    mk.in_port = Some(u32::MAX);
                }
                (mk, mtags)
            }
        };
        if !is_ethernet {
            fm.ethernet = None;
        }
        check_match(&fk.key, &fm)?;
        // 802.2 frames: key without ETHERTYPE, mask exact on it.
        if is_ethernet && fk.key.eth_type.is_none() {
            fm.eth_type = Some(0xffff);
        }
        let masked = FlatKey {
            key: mask_flat(&fk.key, &fm),
            tags: fk
                .tags
                .iter()
                .zip(mtags.iter())
                .map(|(t, m)| Tag {
                    tpid: t.tpid,
                    tci: t.tci & m.tci,
                })
                .collect(),
        };
        Ok(FlowMatch {
            key: masked,
            mask: FlatKey {
                key: fm,
                tags: mtags,
            },
            has_exthdrs,
        })
    }

    /// The masked key in the kernel's reply form (nested, zero-filled).
    pub fn masked_key(&self) -> FlowKey {
        kernel_form(&self.key, &self.key, false, self.has_exthdrs)
    }

    /// The mask in the kernel's reply form.
    pub fn mask_form(&self) -> FlowMask {
        kernel_form(&self.key, &self.mask, true, self.has_exthdrs)
    }

    /// Emit the masked key attributes (kernel order).
    pub fn emit_key(&self, w: &mut AttrWriter<'_>) {
        self.masked_key().emit(w);
    }

    /// Emit the mask attributes (kernel order).
    pub fn emit_mask(&self, w: &mut AttrWriter<'_>) {
        self.mask_form().emit(w);
    }
}
