//! `ovs_ct_limit` (spec §10).

use super::{commands, for_each_attr, Body};
use crate::error::{Error, Result};
use crate::nl::AttrWriter;

commands!(
    /// `OVS_CT_LIMIT_CMD_*`.
    CtLimitCmd {
        /// Set limits.
        Set = 1,
        /// Delete limits.
        Del = 2,
        /// Get limits.
        Get = 3,
    }
);

/// `OVS_CT_LIMIT_ATTR_ZONE_LIMIT`.
pub const ATTR_ZONE_LIMIT: u16 = 1;
/// `OVS_ZONE_LIMIT_DEFAULT_ZONE`.
pub const DEFAULT_ZONE: i32 = -1;
/// `OVS_CT_LIMIT_VERSION`.
pub const VERSION: u8 = 1;

/// `struct ovs_zone_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ZoneLimit {
    /// Zone (−1 = default).
    pub zone_id: i32,
    /// Limit (0 = unlimited).
    pub limit: u32,
    /// Current count (GET replies).
    pub count: u32,
}

/// All `ovs_ct_limit` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtLimitAttrs {
    /// `ZONE_LIMIT` array (`None` = attribute absent).
    pub zone_limits: Option<Vec<ZoneLimit>>,
}

impl Body for CtLimitAttrs {
    type Cmd = CtLimitCmd;
    const FAMILY_NAME: &'static str = "ovs_ct_limit";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = 1;

    fn parse(_cmd: CtLimitCmd, buf: &[u8]) -> Result<Self> {
        let mut c = CtLimitAttrs::default();
        for_each_attr(buf, 0, 1, |a| {
            if a.ty == ATTR_ZONE_LIMIT {
                if a.payload.len() % 12 != 0 {
                    return Err(Error::BadLength {
                        what: "OVS_CT_LIMIT_ATTR_ZONE_LIMIT",
                        len: a.payload.len(),
                    });
                }
                c.zone_limits = Some(
                    a.payload
                        .chunks_exact(12)
                        .map(|z| ZoneLimit {
                            zone_id: i32::from_ne_bytes([z[0], z[1], z[2], z[3]]),
                            limit: u32::from_ne_bytes([z[4], z[5], z[6], z[7]]),
                            count: u32::from_ne_bytes([z[8], z[9], z[10], z[11]]),
                        })
                        .collect(),
                );
            }
            Ok(())
        })?;
        Ok(c)
    }

    fn emit(&self, _cmd: CtLimitCmd, w: &mut AttrWriter<'_>) {
        if let Some(v) = &self.zone_limits {
            let mut b = Vec::with_capacity(v.len() * 12);
            for z in v {
                b.extend_from_slice(&z.zone_id.to_ne_bytes());
                b.extend_from_slice(&z.limit.to_ne_bytes());
                b.extend_from_slice(&z.count.to_ne_bytes());
            }
            w.put(ATTR_ZONE_LIMIT, &b);
        }
    }
}
