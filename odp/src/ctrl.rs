//! nlctrl `CTRL_CMD_GETFAMILY` (`ctrl_getfamily()` and `ctrl_fill_info()` in the
//! kernel's `net/netlink/genetlink.c`), and the family descriptions a server
//! must report for the four OVS families it serves.

use crate::error::{Error, Result};
use crate::family::{datapath, flow, packet, vport, Body};
use crate::nl::{self, AttrWriter, GenlHeader, NlMsgHeader};

/// `CTRL_CMD_*`.
pub mod cmd {
    #![allow(missing_docs)]
    pub const NEWFAMILY: u8 = 1;
    pub const DELFAMILY: u8 = 2;
    pub const GETFAMILY: u8 = 3;
}

/// `CTRL_ATTR_*`.
pub mod attr {
    #![allow(missing_docs)]
    pub const FAMILY_ID: u16 = 1;
    pub const FAMILY_NAME: u16 = 2;
    pub const VERSION: u16 = 3;
    pub const HDRSIZE: u16 = 4;
    pub const MAXATTR: u16 = 5;
    pub const OPS: u16 = 6;
    pub const MCAST_GROUPS: u16 = 7;
    pub const OP_ID: u16 = 1;
    pub const OP_FLAGS: u16 = 2;
    pub const MCAST_GRP_NAME: u16 = 1;
    pub const MCAST_GRP_ID: u16 = 2;
}

/// `GENL_*` op flags reported in `CTRL_ATTR_OP_FLAGS`.
pub mod op_flags {
    #![allow(missing_docs)]
    pub const ADMIN_PERM: u32 = 0x01;
    pub const CMD_CAP_DO: u32 = 0x02;
    pub const CMD_CAP_DUMP: u32 = 0x04;
    pub const CMD_CAP_HASPOL: u32 = 0x08;
    pub const UNS_ADMIN_PERM: u32 = 0x10;
}

/// nlctrl's own version.
pub const CTRL_VERSION: u8 = 2;

/// One operation entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Op {
    /// Command number.
    pub id: u32,
    /// `GENL_*` flags.
    pub flags: u32,
}

/// One multicast group entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct McastGroup {
    /// Group name.
    pub name: String,
    /// Group id.
    pub id: u32,
}

/// Attributes of a GETFAMILY request or NEWFAMILY reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyInfo {
    /// `CTRL_ATTR_FAMILY_ID`.
    pub id: Option<u16>,
    /// `CTRL_ATTR_FAMILY_NAME`.
    pub name: Option<String>,
    /// `CTRL_ATTR_VERSION`.
    pub version: Option<u32>,
    /// `CTRL_ATTR_HDRSIZE`.
    pub hdrsize: Option<u32>,
    /// `CTRL_ATTR_MAXATTR`.
    pub maxattr: Option<u32>,
    /// `CTRL_ATTR_OPS`.
    pub ops: Vec<Op>,
    /// `CTRL_ATTR_MCAST_GROUPS`.
    pub mcast_groups: Vec<McastGroup>,
}

/// An nlctrl message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtrlMessage {
    /// Flags.
    pub flags: u16,
    /// Sequence.
    pub seq: u32,
    /// Port id.
    pub pid: u32,
    /// Command.
    pub cmd: u8,
    /// Version byte.
    pub version: u8,
    /// Attributes.
    pub info: FamilyInfo,
}

impl CtrlMessage {
    /// A GETFAMILY request for `name`.
    pub fn get_family(name: &str, seq: u32) -> Self {
        CtrlMessage {
            flags: nl::flags::REQUEST | nl::flags::ACK,
            seq,
            pid: 0,
            cmd: cmd::GETFAMILY,
            version: 1,
            info: FamilyInfo {
                name: Some(name.to_owned()),
                ..Default::default()
            },
        }
    }

    /// Parse from header + payload.
    pub fn parse(hdr: NlMsgHeader, payload: &[u8]) -> Result<Self> {
        let (g, rest) = nl::parse_genl(payload)?;
        let mut info = FamilyInfo::default();
        for a in nl::attrs(rest) {
            let a = a?;
            match a.ty {
                attr::FAMILY_ID => info.id = Some(a.u16("CTRL_ATTR_FAMILY_ID")?),
                attr::FAMILY_NAME => info.name = Some(a.string("CTRL_ATTR_FAMILY_NAME", 15)?),
                attr::VERSION => info.version = Some(a.u32("CTRL_ATTR_VERSION")?),
                attr::HDRSIZE => info.hdrsize = Some(a.u32("CTRL_ATTR_HDRSIZE")?),
                attr::MAXATTR => info.maxattr = Some(a.u32("CTRL_ATTR_MAXATTR")?),
                attr::OPS => {
                    for e in a.nested() {
                        let e = e?;
                        let mut op = Op { id: 0, flags: 0 };
                        for x in e.nested() {
                            let x = x?;
                            match x.ty {
                                attr::OP_ID => op.id = x.u32("CTRL_ATTR_OP_ID")?,
                                attr::OP_FLAGS => op.flags = x.u32("CTRL_ATTR_OP_FLAGS")?,
                                _ => {}
                            }
                        }
                        info.ops.push(op);
                    }
                }
                attr::MCAST_GROUPS => {
                    for e in a.nested() {
                        let e = e?;
                        let mut g = McastGroup {
                            name: String::new(),
                            id: 0,
                        };
                        for x in e.nested() {
                            let x = x?;
                            match x.ty {
                                attr::MCAST_GRP_NAME => {
                                    g.name = x.string("CTRL_ATTR_MCAST_GRP_NAME", 15)?
                                }
                                attr::MCAST_GRP_ID => g.id = x.u32("CTRL_ATTR_MCAST_GRP_ID")?,
                                _ => {}
                            }
                        }
                        info.mcast_groups.push(g);
                    }
                }
                _ => {}
            }
        }
        Ok(CtrlMessage {
            flags: hdr.flags,
            seq: hdr.seq,
            pid: hdr.pid,
            cmd: g.cmd,
            version: g.version,
            info,
        })
    }

    /// Append the message (kernel attribute order: NAME, ID, VERSION,
    /// HDRSIZE, MAXATTR, OPS, MCAST_GROUPS).
    pub fn emit(&self, buf: &mut Vec<u8>) -> Result<()> {
        let start = nl::begin_genl_msg(
            buf,
            nl::GENL_ID_CTRL,
            self.flags,
            self.seq,
            self.pid,
            GenlHeader {
                cmd: self.cmd,
                version: self.version,
            },
        );
        let i = &self.info;
        let mut w = AttrWriter::new(buf);
        if let Some(n) = &i.name {
            w.string(attr::FAMILY_NAME, n);
        }
        if let Some(v) = i.id {
            w.u16(attr::FAMILY_ID, v);
        }
        if let Some(v) = i.version {
            w.u32(attr::VERSION, v);
        }
        if let Some(v) = i.hdrsize {
            w.u32(attr::HDRSIZE, v);
        }
        if let Some(v) = i.maxattr {
            w.u32(attr::MAXATTR, v);
        }
        // Entries are nests numbered from 1, like the kernel's. More than the
        // 14-bit type space cannot fit one 64 KiB attribute anyway (the writer
        // reports that), so running out of numbers drops nothing that fits.
        if !i.ops.is_empty() {
            w.nest(attr::OPS, |w| {
                for (n, op) in (1..=nl::NLA_TYPE_MASK).zip(&i.ops) {
                    w.nest(n, |w| {
                        w.u32(attr::OP_ID, op.id);
                        w.u32(attr::OP_FLAGS, op.flags);
                    });
                }
            });
        }
        if !i.mcast_groups.is_empty() {
            w.nest(attr::MCAST_GROUPS, |w| {
                for (n, g) in (1..=nl::NLA_TYPE_MASK).zip(&i.mcast_groups) {
                    w.nest(n, |w| {
                        w.u32(attr::MCAST_GRP_ID, g.id);
                        w.string(attr::MCAST_GRP_NAME, &g.name);
                    });
                }
            });
        }
        w.finish()?;
        nl::finish_msg(buf, start)
    }
}

/// [`nl::OVS_HDRLEN`], the `CTRL_ATTR_HDRSIZE` of every OVS family.
const OVS_HDRLEN_U32: u32 = 4;
const _: () = assert!(OVS_HDRLEN_U32 as usize == nl::OVS_HDRLEN);

const ADMIN_DO: u32 = op_flags::UNS_ADMIN_PERM | op_flags::CMD_CAP_DO | op_flags::CMD_CAP_HASPOL;
const GET_DO_DUMP: u32 = op_flags::CMD_CAP_DO | op_flags::CMD_CAP_DUMP | op_flags::CMD_CAP_HASPOL;

fn std_ops() -> Vec<Op> {
    vec![
        Op {
            id: 1,
            flags: ADMIN_DO,
        },
        Op {
            id: 2,
            flags: ADMIN_DO,
        },
        Op {
            id: 3,
            flags: GET_DO_DUMP,
        },
        Op {
            id: 4,
            flags: ADMIN_DO,
        },
    ]
}

/// The nlctrl description of an OVS family, given the id and (for families
/// with one) the multicast group id the server assigned.
///
/// # Errors
/// `ENOENT` for any other name, `ovs_meter` and `ovs_ct_limit` included (what
/// nlctrl answers for a family the kernel does not have).
pub fn family_info(name: &str, id: u16, mcast_id: u32) -> Result<FamilyInfo> {
    let (version, maxattr, ops, group): (u8, u16, Vec<Op>, bool) = match name {
        datapath::DatapathAttrs::FAMILY_NAME => {
            (datapath::VERSION, datapath::attr::MAX, std_ops(), true)
        }
        vport::VportAttrs::FAMILY_NAME => (vport::VERSION, vport::attr::MAX, std_ops(), true),
        flow::FlowAttrs::FAMILY_NAME => (flow::VERSION, flow::attr::MAX, std_ops(), true),
        packet::PacketAttrs::FAMILY_NAME => (
            packet::VERSION,
            packet::attr::MAX,
            vec![Op {
                id: 3,
                flags: ADMIN_DO,
            }],
            false,
        ),
        _ => return Err(Error::NotFound),
    };
    Ok(FamilyInfo {
        id: Some(id),
        name: Some(name.to_owned()),
        version: Some(version.into()),
        hdrsize: Some(OVS_HDRLEN_U32),
        maxattr: Some(maxattr.into()),
        ops,
        mcast_groups: if group {
            vec![McastGroup {
                name: name.to_owned(),
                id: mcast_id,
            }]
        } else {
            Vec::new()
        },
    })
}
