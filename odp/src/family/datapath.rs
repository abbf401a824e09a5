//! `ovs_datapath` (the `ovs_dp_cmd_*()` handlers in `net/openvswitch/datapath.c`).

use super::{commands, for_each_attr, u32_array, u32_bytes, u64_at, Body};
use crate::error::{Error, Result};
use crate::nl::AttrWriter;

commands!(
    /// `OVS_DP_CMD_*`.
    DpCmd {
        /// Create.
        New = 1,
        /// Delete.
        Del = 2,
        /// Get / dump.
        Get = 3,
        /// Set features.
        Set = 4,
    }
);

/// `OVS_DP_ATTR_*` numbers.
pub mod attr {
    #![allow(missing_docs)]
    pub const NAME: u16 = 1;
    pub const UPCALL_PID: u16 = 2;
    pub const STATS: u16 = 3;
    pub const MEGAFLOW_STATS: u16 = 4;
    pub const USER_FEATURES: u16 = 5;
    pub const PAD: u16 = 6;
    pub const MASKS_CACHE_SIZE: u16 = 7;
    pub const PER_CPU_PIDS: u16 = 8;
    pub const IFINDEX: u16 = 9;
    pub const MAX: u16 = 9;
}

/// `OVS_DP_F_*` user feature bits.
pub mod features {
    /// Upcall packets may be unpadded.
    pub const UNALIGNED: u32 = 1 << 0;
    /// Vport upcall pids reported as arrays.
    pub const VPORT_PIDS: u32 = 1 << 1;
    /// Share recirc ids with tc.
    pub const TC_RECIRC_SHARING: u32 = 1 << 2;
    /// Per-CPU upcall dispatch.
    pub const DISPATCH_UPCALL_PER_CPU: u32 = 1 << 3;
    /// Every bit the kernel knows.
    pub const ALL: u32 = UNALIGNED | VPORT_PIDS | TC_RECIRC_SHARING | DISPATCH_UPCALL_PER_CPU;
}

/// Datapath name limit (IFNAMSIZ − 1).
pub const NAME_MAX: usize = 15;
/// `OVS_DATAPATH_VERSION`.
pub const VERSION: u8 = 2;
/// Largest masks-cache size the attribute policy allows.
pub const MASKS_CACHE_SIZE_MAX: u32 = 4096;

/// `struct ovs_dp_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DpStats {
    /// Lookups that matched a flow.
    pub n_hit: u64,
    /// Lookups that missed.
    pub n_missed: u64,
    /// Upcalls that could not be delivered.
    pub n_lost: u64,
    /// Installed flows.
    pub n_flows: u64,
}

impl DpStats {
    /// Parse 32 bytes.
    pub fn parse(p: &[u8]) -> Result<Self> {
        if p.len() != 32 {
            return Err(Error::BadLength {
                what: "dp stats",
                len: p.len(),
            });
        }
        Ok(DpStats {
            n_hit: u64_at(p, 0),
            n_missed: u64_at(p, 8),
            n_lost: u64_at(p, 16),
            n_flows: u64_at(p, 24),
        })
    }
    /// Wire bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.n_hit, self.n_missed, self.n_lost, self.n_flows]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }
}

/// `struct ovs_dp_megaflow_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DpMegaflowStats {
    /// Masks probed over all lookups.
    pub n_mask_hit: u64,
    /// Number of masks.
    pub n_masks: u32,
    /// Mask-cache hits.
    pub n_cache_hit: u64,
}

impl DpMegaflowStats {
    /// Parse 32 bytes (padding ignored).
    pub fn parse(p: &[u8]) -> Result<Self> {
        if p.len() != 32 {
            return Err(Error::BadLength {
                what: "megaflow stats",
                len: p.len(),
            });
        }
        Ok(DpMegaflowStats {
            n_mask_hit: u64_at(p, 0),
            n_masks: u32::from_ne_bytes([p[8], p[9], p[10], p[11]]),
            n_cache_hit: u64_at(p, 16),
        })
    }
    /// Wire bytes (padding zero).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&self.n_mask_hit.to_ne_bytes());
        b[8..12].copy_from_slice(&self.n_masks.to_ne_bytes());
        b[16..24].copy_from_slice(&self.n_cache_hit.to_ne_bytes());
        b
    }
}

/// All `ovs_datapath` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatapathAttrs {
    /// `NAME`.
    pub name: Option<String>,
    /// `UPCALL_PID`.
    pub upcall_pid: Option<u32>,
    /// `STATS`.
    pub stats: Option<DpStats>,
    /// `MEGAFLOW_STATS`.
    pub megaflow_stats: Option<DpMegaflowStats>,
    /// `USER_FEATURES`.
    pub user_features: Option<u32>,
    /// `MASKS_CACHE_SIZE`.
    pub masks_cache_size: Option<u32>,
    /// `PER_CPU_PIDS`.
    pub per_cpu_pids: Option<Vec<u32>>,
    /// `IFINDEX`.
    pub ifindex: Option<i32>,
}

impl Body for DatapathAttrs {
    type Cmd = DpCmd;
    const FAMILY_NAME: &'static str = "ovs_datapath";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = attr::MAX;

    fn parse(_cmd: DpCmd, buf: &[u8]) -> Result<Self> {
        let mut d = DatapathAttrs::default();
        for_each_attr(buf, attr::PAD, attr::MAX, |a| {
            match a.ty {
                attr::NAME => d.name = Some(a.string("OVS_DP_ATTR_NAME", NAME_MAX)?),
                attr::UPCALL_PID => d.upcall_pid = Some(a.u32("OVS_DP_ATTR_UPCALL_PID")?),
                attr::STATS => d.stats = Some(DpStats::parse(a.payload)?),
                attr::MEGAFLOW_STATS => d.megaflow_stats = Some(DpMegaflowStats::parse(a.payload)?),
                attr::USER_FEATURES => d.user_features = Some(a.u32("OVS_DP_ATTR_USER_FEATURES")?),
                attr::MASKS_CACHE_SIZE => {
                    let v = a.u32("OVS_DP_ATTR_MASKS_CACHE_SIZE")?;
                    if v > MASKS_CACHE_SIZE_MAX {
                        return Err(Error::OutOfRange("OVS_DP_ATTR_MASKS_CACHE_SIZE"));
                    }
                    d.masks_cache_size = Some(v)
                }
                attr::PER_CPU_PIDS => {
                    d.per_cpu_pids = Some(u32_array(a.payload, "OVS_DP_ATTR_PER_CPU_PIDS")?)
                }
                attr::IFINDEX => {
                    let v = i32::from_ne_bytes(a.array("OVS_DP_ATTR_IFINDEX")?);
                    if v < 0 {
                        return Err(Error::OutOfRange("OVS_DP_ATTR_IFINDEX"));
                    }
                    d.ifindex = Some(v)
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(d)
    }

    fn emit(&self, _cmd: DpCmd, w: &mut AttrWriter<'_>) {
        if let Some(n) = &self.name {
            w.string(attr::NAME, n);
        }
        if let Some(v) = self.upcall_pid {
            w.u32(attr::UPCALL_PID, v);
        }
        if let Some(s) = &self.stats {
            w.put(attr::STATS, &s.to_bytes());
        }
        if let Some(s) = &self.megaflow_stats {
            w.put(attr::MEGAFLOW_STATS, &s.to_bytes());
        }
        if let Some(v) = self.user_features {
            w.u32(attr::USER_FEATURES, v);
        }
        if let Some(v) = self.masks_cache_size {
            w.u32(attr::MASKS_CACHE_SIZE, v);
        }
        if let Some(v) = &self.per_cpu_pids {
            w.put(attr::PER_CPU_PIDS, &u32_bytes(v));
        }
        if let Some(v) = self.ifindex {
            w.put(attr::IFINDEX, &v.to_ne_bytes());
        }
    }
}

/// Check requested user features like the kernel's `ovs_dp_change()`
/// (`net/openvswitch/datapath.c`): unknown bits and TC recirc sharing (no tc
/// offload here) ⇒ `EOPNOTSUPP`.
pub fn check_user_features(f: u32) -> Result<()> {
    if f & !features::ALL != 0 {
        return Err(Error::NotSupported("datapath feature bits"));
    }
    if f & features::TC_RECIRC_SHARING != 0 {
        return Err(Error::NotSupported("OVS_DP_F_TC_RECIRC_SHARING"));
    }
    Ok(())
}

/// Check a masks-cache size: at most 4096 (`datapath_policy` in
/// `net/openvswitch/datapath.c`) ⇒ else `ERANGE`, 0 or a power of two
/// (`ovs_flow_tbl_masks_cache_resize()` in `net/openvswitch/flow_table.c`)
/// ⇒ else `EINVAL`.
pub fn check_masks_cache_size(n: u32) -> Result<()> {
    if n > MASKS_CACHE_SIZE_MAX {
        return Err(Error::OutOfRange("masks cache size"));
    }
    if n != 0 && !n.is_power_of_two() {
        return Err(Error::Invalid("masks cache size must be a power of two"));
    }
    Ok(())
}

/// Check a datapath NEW request's required attributes, as `ovs_dp_cmd_new()`
/// does.
pub fn check_new(a: &DatapathAttrs) -> Result<()> {
    if a.name.is_none() {
        return Err(Error::Missing("OVS_DP_ATTR_NAME"));
    }
    if a.upcall_pid.is_none() {
        return Err(Error::Missing("OVS_DP_ATTR_UPCALL_PID"));
    }
    if let Some(f) = a.user_features {
        check_user_features(f)?;
    }
    if let Some(n) = a.masks_cache_size {
        check_masks_cache_size(n)?;
    }
    Ok(())
}
