//! `ovs_meter` (spec §10).

use super::{commands, for_each_attr, Body, FlowStats};
use crate::error::{Error, Result};
use crate::nl::AttrWriter;

commands!(
    /// `OVS_METER_CMD_*`.
    MeterCmd {
        /// Query limits.
        Features = 1,
        /// Add or modify.
        Set = 2,
        /// Delete.
        Del = 3,
        /// Get.
        Get = 4,
    }
);

/// `OVS_METER_ATTR_*`.
pub mod attr {
    #![allow(missing_docs)]
    pub const ID: u16 = 1;
    pub const KBPS: u16 = 2;
    pub const STATS: u16 = 3;
    pub const BANDS: u16 = 4;
    pub const USED: u16 = 5;
    pub const CLEAR: u16 = 6;
    pub const MAX_METERS: u16 = 7;
    pub const MAX_BANDS: u16 = 8;
    pub const PAD: u16 = 9;
    pub const MAX: u16 = 9;
}

/// `OVS_BAND_ATTR_*`.
pub mod band_attr {
    #![allow(missing_docs)]
    pub const TYPE: u16 = 1;
    pub const RATE: u16 = 2;
    pub const BURST: u16 = 3;
    pub const STATS: u16 = 4;
}

/// `OVS_METER_BAND_TYPE_DROP`.
pub const BAND_TYPE_DROP: u32 = 1;
/// `OVS_METER_VERSION`.
pub const VERSION: u8 = 1;

/// One meter band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Band {
    /// Band type.
    pub ty: Option<u32>,
    /// Rate.
    pub rate: Option<u32>,
    /// Burst.
    pub burst: Option<u32>,
    /// Stats.
    pub stats: Option<FlowStats>,
}

/// All `ovs_meter` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterAttrs {
    /// `ID`.
    pub id: Option<u32>,
    /// `KBPS`.
    pub kbps: bool,
    /// `STATS`.
    pub stats: Option<FlowStats>,
    /// `BANDS`.
    pub bands: Option<Vec<Band>>,
    /// `USED`.
    pub used: Option<u64>,
    /// `CLEAR`.
    pub clear: bool,
    /// `MAX_METERS`.
    pub max_meters: Option<u32>,
    /// `MAX_BANDS`.
    pub max_bands: Option<u32>,
}

impl Body for MeterAttrs {
    type Cmd = MeterCmd;
    const FAMILY_NAME: &'static str = "ovs_meter";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = attr::MAX;

    fn parse(_cmd: MeterCmd, buf: &[u8]) -> Result<Self> {
        let mut m = MeterAttrs::default();
        for_each_attr(buf, attr::PAD, attr::MAX, |a| {
            match a.ty {
                attr::ID => m.id = Some(a.u32("OVS_METER_ATTR_ID")?),
                attr::KBPS => m.kbps = true,
                attr::STATS => m.stats = Some(FlowStats::parse(a.payload)?),
                attr::BANDS => {
                    let mut v = Vec::new();
                    for b in a.nested() {
                        let b = b?;
                        let mut band = Band::default();
                        for x in b.nested() {
                            let x = x?;
                            match x.ty {
                                band_attr::TYPE => band.ty = Some(x.u32("band type")?),
                                band_attr::RATE => band.rate = Some(x.u32("band rate")?),
                                band_attr::BURST => band.burst = Some(x.u32("band burst")?),
                                band_attr::STATS => band.stats = Some(FlowStats::parse(x.payload)?),
                                _ => {}
                            }
                        }
                        v.push(band);
                    }
                    m.bands = Some(v)
                }
                attr::USED => m.used = Some(a.u64("OVS_METER_ATTR_USED")?),
                attr::CLEAR => m.clear = true,
                attr::MAX_METERS => m.max_meters = Some(a.u32("OVS_METER_ATTR_MAX_METERS")?),
                attr::MAX_BANDS => m.max_bands = Some(a.u32("OVS_METER_ATTR_MAX_BANDS")?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(m)
    }

    fn emit(&self, _cmd: MeterCmd, w: &mut AttrWriter<'_>) {
        if let Some(v) = self.id {
            w.u32(attr::ID, v);
        }
        if self.kbps {
            w.flag(attr::KBPS);
        }
        if let Some(s) = &self.stats {
            w.put(attr::STATS, &s.to_bytes());
        }
        if let Some(v) = self.used {
            w.u64(attr::USED, v);
        }
        if self.clear {
            w.flag(attr::CLEAR);
        }
        if let Some(v) = self.max_meters {
            w.u32(attr::MAX_METERS, v);
        }
        if let Some(v) = self.max_bands {
            w.u32(attr::MAX_BANDS, v);
        }
        if let Some(bands) = &self.bands {
            w.nest(attr::BANDS, |w| {
                for b in bands {
                    // Band nests use type 0 (OVS_BAND_ATTR_UNSPEC).
                    w.nest(0, |w| {
                        if let Some(v) = b.ty {
                            w.u32(band_attr::TYPE, v);
                        }
                        if let Some(v) = b.rate {
                            w.u32(band_attr::RATE, v);
                        }
                        if let Some(v) = b.burst {
                            w.u32(band_attr::BURST, v);
                        }
                        if let Some(s) = &b.stats {
                            w.put(band_attr::STATS, &s.to_bytes());
                        }
                    });
                }
            });
        }
    }
}

/// Check a meter SET request (§10): ID ⇒ else `ENODEV`; BANDS with TYPE,
/// RATE (non-zero) and BURST, at most `max_bands` ⇒ else `EINVAL`.
pub fn check_set(m: &MeterAttrs, max_bands: usize) -> Result<()> {
    if m.id.is_none() {
        return Err(Error::NoDevice);
    }
    let bands = m
        .bands
        .as_ref()
        .ok_or(Error::Missing("OVS_METER_ATTR_BANDS"))?;
    if bands.len() > max_bands {
        return Err(Error::Invalid("too many meter bands"));
    }
    for b in bands {
        if b.ty.is_none() || b.burst.is_none() || b.rate.unwrap_or(0) == 0 {
            return Err(Error::Invalid("meter band"));
        }
    }
    Ok(())
}
