//! nlctrl `CTRL_CMD_GETFAMILY` for dpswitch's own families, answered at dpswitch's port id the
//! way the kernel's nlctrl answers for its families (`net/netlink/genetlink.c`,
//! `ctrl_getfamily()` and `ctrl_dumpfamily()`).

use odp::ctrl::{self, CtrlMessage, FamilyInfo};
use odp::dpswitch::FAMILY_IDS;
use odp::nl::NlMsgHeader;
use odp::{ct_limit, pmd_stats};

use super::dump::Dump;
use super::mcast::Groups;
use super::reply::{is_dump, Answer};
use crate::error::{Error, Result};

/// The OVS families dpswitch serves, by id.
const FAMILIES: [(&str, u16); 4] = [
    ("ovs_datapath", FAMILY_IDS.datapath),
    ("ovs_vport", FAMILY_IDS.vport),
    ("ovs_flow", FAMILY_IDS.flow),
    ("ovs_packet", FAMILY_IDS.packet),
];

/// Multicast group ids reported when no free kernel group id could be found (nothing is
/// multicast then, and nobody can join these).
pub const MCAST_BASE: u32 = 0x4450_0000;

/// The group id GETFAMILY reports for family `id`.
fn group_of(groups: Option<Groups>, id: u16) -> u32 {
    match groups {
        Some(g) if id == FAMILY_IDS.datapath => g.datapath,
        Some(g) if id == FAMILY_IDS.vport => g.vport,
        Some(g) if id == FAMILY_IDS.flow => g.flow,
        _ => MCAST_BASE + u32::from(id),
    }
}

/// The description of the family named `name` or with id `id` (`name` wins).
fn family(groups: Option<Groups>, name: Option<&str>, id: Option<u16>) -> Result<FamilyInfo> {
    if name == Some(pmd_stats::FAMILY_NAME) || (name.is_none() && id == Some(pmd_stats::FAMILY_ID))
    {
        return Ok(pmd_stats::family_info(pmd_stats::FAMILY_ID));
    }
    if name == Some(ct_limit::FAMILY_NAME) || (name.is_none() && id == Some(ct_limit::FAMILY_ID)) {
        let fid = ct_limit::FAMILY_ID;
        return Ok(ct_limit::family_info(fid, group_of(groups, fid)));
    }
    let (fname, fid) = FAMILIES
        .iter()
        .copied()
        .find(|&(n, i)| match name {
            Some(want) => want == n,
            None => id == Some(i),
        })
        .ok_or(Error::NoFamily)?;
    Ok(ctrl::family_info(fname, fid, group_of(groups, fid))?)
}

fn message(hdr: &NlMsgHeader, flags: u16, info: FamilyInfo) -> Result<Vec<u8>> {
    let msg = CtrlMessage {
        flags,
        seq: hdr.seq,
        pid: hdr.pid,
        cmd: ctrl::cmd::NEWFAMILY,
        version: ctrl::CTRL_VERSION,
        info,
    };
    let mut b = Vec::new();
    msg.emit(&mut b)?;
    Ok(b)
}

/// Handles one nlctrl request (the sender's port id already in `hdr`).
///
/// # Errors
/// ENOENT for a family dpswitch does not serve (`ovs_meter`, anything else), EOPNOTSUPP for commands other than GETFAMILY.
pub(super) fn handle(groups: Option<Groups>, hdr: &NlMsgHeader, m: &CtrlMessage) -> Result<Answer> {
    if m.cmd != ctrl::cmd::GETFAMILY {
        return Err(Error::Unsupported("nlctrl command"));
    }
    if is_dump(hdr.flags) {
        let mut d = Dump::new(*hdr);
        for (name, _) in FAMILIES {
            d.push(&message(
                hdr,
                odp::nl::flags::MULTI,
                family(groups, Some(name), None)?,
            )?);
        }
        let pmd = pmd_stats::family_info(pmd_stats::FAMILY_ID);
        d.push(&message(hdr, odp::nl::flags::MULTI, pmd)?);
        let ct = family(groups, Some(ct_limit::FAMILY_NAME), None)?;
        d.push(&message(hdr, odp::nl::flags::MULTI, ct)?);
        d.finish(0);
        return Ok(Answer::Dump(d));
    }
    let info = family(groups, m.info.name.as_deref(), m.info.id)?;
    Ok(Answer::Msgs(message(hdr, 0, info)?))
}

#[cfg(test)]
mod tests {
    use odp::errno::{ENOENT, EOPNOTSUPP};
    use odp::nl::flags;

    use super::*;
    use crate::control::testing::Harness;

    fn getfamily(h: &mut Harness, name: &str, extra: u16) -> (Vec<CtrlMessage>, Option<i32>) {
        let mut m = CtrlMessage::get_family(name, 1);
        m.flags |= flags::ACK | extra;
        let mut b = Vec::new();
        m.emit(&mut b).unwrap();
        let (msgs, errno) = h.raw(&b, false);
        let msgs = msgs
            .into_iter()
            .map(|(h, p)| CtrlMessage::parse(h, &p).unwrap())
            .collect();
        (msgs, errno)
    }

    #[test]
    fn families_resolve_by_name_and_unserved_ones_are_enoent() {
        let mut h = Harness::new();
        for (name, id) in FAMILIES {
            let (r, e) = getfamily(&mut h, name, 0);
            assert_eq!(e, Some(0));
            assert_eq!(r[0].info.id, Some(id), "{name}");
        }
        let (r, _) = getfamily(&mut h, pmd_stats::FAMILY_NAME, 0);
        assert_eq!(r[0].info.id, Some(pmd_stats::FAMILY_ID));
        let (r, _) = getfamily(&mut h, ct_limit::FAMILY_NAME, 0);
        assert_eq!(r[0].info.id, Some(ct_limit::FAMILY_ID));
        assert_eq!(r[0].info.hdrsize, Some(4));
        for name in ["ovs_meter", "nl80211"] {
            assert_eq!(getfamily(&mut h, name, 0).1, Some(ENOENT), "{name}");
        }
        let (r, e) = getfamily(&mut h, "", flags::DUMP);
        assert_eq!((r.len(), e), (6, Some(0)), "a dump lists the six families");
    }

    #[test]
    fn other_nlctrl_commands_are_eopnotsupp() {
        let mut h = Harness::new();
        let mut m = CtrlMessage::get_family("ovs_flow", 1);
        m.cmd = ctrl::cmd::NEWFAMILY;
        m.flags |= flags::ACK;
        let mut b = Vec::new();
        m.emit(&mut b).unwrap();
        assert_eq!(h.raw(&b, true).1, Some(EOPNOTSUPP));
    }
}
