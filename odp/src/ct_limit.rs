//! The `ovs_ct_limit` generic-netlink family: per-zone connection limits of the datapath's
//! connection tracker (`net/openvswitch/conntrack.c`, `ovs_ct_limit_cmd_*()`).
//!
//! Messages are `genlmsghdr + ovs_header + attributes`; the one attribute, `ZONE_LIMIT`,
//! holds a packed array of `struct ovs_zone_limit` (`zone_id` s32, `limit` u32, `count`
//! u32, host order), without attribute headers inside the nest.

use crate::ctrl::{op_flags, FamilyInfo, McastGroup, Op};
use crate::error::{Error, Result};
use crate::nl::{self, AttrWriter, GenlHeader, NlMsgHeader, OvsFrame};

/// Family name.
pub const FAMILY_NAME: &str = "ovs_ct_limit";
/// Family version.
pub const VERSION: u8 = 1;
/// The id dpswitch gives the family.
pub const FAMILY_ID: u16 = 0x35;

/// Commands.
pub mod cmd {
    /// Set limits.
    pub const SET: u8 = 1;
    /// Delete limits.
    pub const DEL: u8 = 2;
    /// Get limits and counts.
    pub const GET: u8 = 3;
}

/// `OVS_CT_LIMIT_ATTR_ZONE_LIMIT`.
pub const ATTR_ZONE_LIMIT: u16 = 1;
/// `OVS_ZONE_LIMIT_DEFAULT_ZONE`: the entry of the default limit.
pub const DEFAULT_ZONE: i32 = -1;
const ENTRY_LEN: usize = 12;

/// `struct ovs_zone_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneLimit {
    /// Zone, or [`DEFAULT_ZONE`].
    pub zone_id: i32,
    /// Connections allowed (0: unlimited).
    pub limit: u32,
    /// Connections now (replies only).
    pub count: u32,
}

/// A request or reply of the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtLimitMsg {
    /// Command.
    pub cmd: u8,
    /// `ovs_header.dp_ifindex` (echoed, otherwise unused: limits are per namespace).
    pub dp_ifindex: i32,
    /// The `ZONE_LIMIT` entries, `None` without the attribute. Trailing bytes that do not
    /// make a whole entry are ignored, as the kernel ignores them.
    pub limits: Option<Vec<ZoneLimit>>,
}

impl CtLimitMsg {
    /// Parses a message's payload (after `nlmsghdr`).
    ///
    /// # Errors
    /// A payload too short for the genl and OVS headers.
    pub fn parse(hdr: NlMsgHeader, payload: &[u8]) -> Result<CtLimitMsg> {
        let f = OvsFrame::parse(hdr, payload)?;
        let mut limits = None;
        for a in nl::attrs(f.attrs) {
            let Ok(a) = a else { break };
            if a.ty == ATTR_ZONE_LIMIT {
                limits = Some(
                    a.payload
                        .chunks_exact(ENTRY_LEN)
                        .map(|c| ZoneLimit {
                            zone_id: i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
                            limit: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                            count: u32::from_ne_bytes([c[8], c[9], c[10], c[11]]),
                        })
                        .collect(),
                );
            }
        }
        Ok(CtLimitMsg {
            cmd: f.genl.cmd,
            dp_ifindex: f.dp_ifindex,
            limits,
        })
    }

    /// Parses a message's payload (after `nlmsghdr`) when its header is not at hand.
    ///
    /// # Errors
    /// As [`CtLimitMsg::parse`].
    pub fn parse_payload(payload: &[u8]) -> Result<CtLimitMsg> {
        let len = u32::try_from(payload.len() + nl::NLMSG_HDRLEN)
            .map_err(|_| Error::TooLarge("ct limit message"))?;
        let hdr = NlMsgHeader {
            len,
            ty: FAMILY_ID,
            flags: 0,
            seq: 0,
            pid: 0,
        };
        Self::parse(hdr, payload)
    }

    /// Appends the message, as family id `family`, with netlink `flags`, `seq` and `pid`, to
    /// `buf`.
    ///
    /// # Errors
    /// `EMSGSIZE` if the entries do not fit one attribute.
    pub fn emit(
        &self,
        buf: &mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        pid: u32,
    ) -> Result<()> {
        let genl = GenlHeader {
            cmd: self.cmd,
            version: VERSION,
        };
        let start = nl::begin_ovs_msg(buf, family, flags, seq, pid, genl, self.dp_ifindex);
        let mut w = AttrWriter::new(buf);
        if let Some(l) = &self.limits {
            let bytes: Vec<u8> = l
                .iter()
                .flat_map(|z| {
                    let mut b = [0u8; ENTRY_LEN];
                    b[..4].copy_from_slice(&z.zone_id.to_ne_bytes());
                    b[4..8].copy_from_slice(&z.limit.to_ne_bytes());
                    b[8..].copy_from_slice(&z.count.to_ne_bytes());
                    b
                })
                .collect();
            w.put(ATTR_ZONE_LIMIT, &bytes);
        }
        w.finish()?;
        nl::finish_msg(buf, start)
    }
}

/// The family as nlctrl describes it (`dp_ct_limit_genl_family`).
pub fn family_info(id: u16, mcast_id: u32) -> FamilyInfo {
    let get = op_flags::CMD_CAP_DO | op_flags::CMD_CAP_HASPOL;
    let admin = op_flags::UNS_ADMIN_PERM | get;
    FamilyInfo {
        id: Some(id),
        name: Some(FAMILY_NAME.to_owned()),
        version: Some(u32::from(VERSION)),
        hdrsize: Some(u32::try_from(nl::OVS_HDRLEN).unwrap_or(4)),
        maxattr: Some(u32::from(ATTR_ZONE_LIMIT)),
        ops: vec![
            Op {
                id: u32::from(cmd::SET),
                flags: admin,
            },
            Op {
                id: u32::from(cmd::DEL),
                flags: admin,
            },
            Op {
                id: u32::from(cmd::GET),
                flags: get,
            },
        ],
        mcast_groups: vec![McastGroup {
            name: FAMILY_NAME.to_owned(),
            id: mcast_id,
        }],
    }
}

/// A zone id of a request as a zone: `None` for the default entry or an id outside
/// 0..=65535 (which the kernel logs and skips).
pub fn zone_of(zone_id: i32) -> Option<u16> {
    u16::try_from(zone_id).ok()
}

/// Refuses a SET or DEL without entries, as the kernel does.
///
/// # Errors
/// `EINVAL` without a `ZONE_LIMIT` attribute.
pub fn require_limits(m: &CtLimitMsg) -> Result<&[ZoneLimit]> {
    m.limits
        .as_deref()
        .ok_or(Error::Invalid("ct limit request without zone limits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_partial_ones_are_ignored() {
        let m = CtLimitMsg {
            cmd: cmd::GET,
            dp_ifindex: 7,
            limits: Some(vec![
                ZoneLimit {
                    zone_id: DEFAULT_ZONE,
                    limit: 10,
                    count: 0,
                },
                ZoneLimit {
                    zone_id: 3,
                    limit: 5,
                    count: 2,
                },
            ]),
        };
        let mut b = Vec::new();
        m.emit(&mut b, FAMILY_ID, 0, 1, 2).unwrap();
        let hdr = NlMsgHeader::parse(&b).unwrap();
        assert_eq!(CtLimitMsg::parse(hdr, &b[16..]).unwrap(), m);
        // A 12-byte entry plus 4 stray bytes: the stray ones are dropped.
        let mut raw = Vec::new();
        let start = nl::begin_ovs_msg(
            &mut raw,
            FAMILY_ID,
            0,
            1,
            2,
            GenlHeader {
                cmd: cmd::SET,
                version: 1,
            },
            0,
        );
        let mut w = AttrWriter::new(&mut raw);
        let mut p = [0u8; 16];
        p[..4].copy_from_slice(&9i32.to_ne_bytes());
        w.put(ATTR_ZONE_LIMIT, &p);
        w.finish().unwrap();
        nl::finish_msg(&mut raw, start).unwrap();
        let hdr = NlMsgHeader::parse(&raw).unwrap();
        let got = CtLimitMsg::parse(hdr, &raw[16..]).unwrap();
        assert_eq!(got.limits.map(|l| l.len()), Some(1));
        assert_eq!(zone_of(-1), None);
        assert_eq!(zone_of(65536), None);
        assert_eq!(zone_of(65535), Some(65535));
    }
}
