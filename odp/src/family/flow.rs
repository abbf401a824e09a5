//! `ovs_flow` (the `ovs_flow_cmd_*()` handlers in `net/openvswitch/datapath.c`).

use super::{commands, for_each_attr, Body, FlowStats};
use crate::action::{emit_actions, parse_actions, Action};
use crate::error::{Error, Result};
use crate::key::FlowKey;
use crate::nl::AttrWriter;

commands!(
    /// `OVS_FLOW_CMD_*`.
    FlowCmd {
        /// Create (or modify without CREATE/EXCL).
        New = 1,
        /// Delete (flush without KEY/UFID).
        Del = 2,
        /// Get / dump.
        Get = 3,
        /// Modify.
        Set = 4,
    }
);

/// `OVS_FLOW_ATTR_*` numbers.
pub mod attr {
    #![allow(missing_docs)]
    pub const KEY: u16 = 1;
    pub const ACTIONS: u16 = 2;
    pub const STATS: u16 = 3;
    pub const TCP_FLAGS: u16 = 4;
    pub const USED: u16 = 5;
    pub const CLEAR: u16 = 6;
    pub const MASK: u16 = 7;
    pub const PROBE: u16 = 8;
    pub const UFID: u16 = 9;
    pub const UFID_FLAGS: u16 = 10;
    pub const PAD: u16 = 11;
    pub const MAX: u16 = 11;
}

/// `OVS_UFID_F_*`.
pub mod ufid_flags {
    /// Omit the key in replies.
    pub const OMIT_KEY: u32 = 1 << 0;
    /// Omit the mask.
    pub const OMIT_MASK: u32 = 1 << 1;
    /// Omit the actions.
    pub const OMIT_ACTIONS: u32 = 1 << 2;
}

/// `OVS_FLOW_VERSION`.
pub const VERSION: u8 = 1;
/// Longest UFID.
pub const UFID_MAX: usize = 16;

/// All `ovs_flow` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowAttrs {
    /// `UFID` (1..16 bytes).
    pub ufid: Option<Vec<u8>>,
    /// `UFID_FLAGS`.
    pub ufid_flags: Option<u32>,
    /// `KEY`.
    pub key: Option<FlowKey>,
    /// `MASK`.
    pub mask: Option<FlowKey>,
    /// `USED` (CLOCK_MONOTONIC ms).
    pub used: Option<u64>,
    /// `STATS`.
    pub stats: Option<FlowStats>,
    /// `TCP_FLAGS`.
    pub tcp_flags: Option<u8>,
    /// `ACTIONS` (`Some(vec![])` = present but empty).
    pub actions: Option<Vec<Action>>,
    /// `CLEAR`.
    pub clear: bool,
    /// `PROBE`.
    pub probe: bool,
}

impl FlowAttrs {
    /// The UFID if it is usable as an identifier (1..=16 bytes; longer is
    /// treated as absent, like the kernel).
    pub fn usable_ufid(&self) -> Option<&[u8]> {
        self.ufid
            .as_deref()
            .filter(|u| !u.is_empty() && u.len() <= UFID_MAX)
    }
}

impl Body for FlowAttrs {
    type Cmd = FlowCmd;
    const FAMILY_NAME: &'static str = "ovs_flow";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = attr::MAX;

    fn parse(_cmd: FlowCmd, buf: &[u8]) -> Result<Self> {
        let mut f = FlowAttrs::default();
        for_each_attr(buf, attr::PAD, attr::MAX, |a| {
            match a.ty {
                attr::KEY => f.key = Some(FlowKey::parse(a.payload)?),
                attr::ACTIONS => f.actions = Some(parse_actions(a.payload)?),
                attr::STATS => f.stats = Some(FlowStats::parse(a.payload)?),
                attr::TCP_FLAGS => f.tcp_flags = Some(a.u8("OVS_FLOW_ATTR_TCP_FLAGS")?),
                attr::USED => f.used = Some(a.u64("OVS_FLOW_ATTR_USED")?),
                attr::CLEAR => f.clear = true,
                attr::MASK => f.mask = Some(FlowKey::parse(a.payload)?),
                attr::PROBE => f.probe = true,
                attr::UFID => {
                    if a.payload.is_empty() {
                        return Err(Error::BadLength {
                            what: "OVS_FLOW_ATTR_UFID",
                            len: 0,
                        });
                    }
                    f.ufid = Some(a.payload.to_vec())
                }
                attr::UFID_FLAGS => f.ufid_flags = Some(a.u32("OVS_FLOW_ATTR_UFID_FLAGS")?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(f)
    }

    fn emit(&self, _cmd: FlowCmd, w: &mut AttrWriter<'_>) {
        if let Some(u) = &self.ufid {
            w.put(attr::UFID, u);
        }
        if let Some(v) = self.ufid_flags {
            w.u32(attr::UFID_FLAGS, v);
        }
        if let Some(k) = &self.key {
            w.nest(attr::KEY, |w| k.emit(w));
        }
        if let Some(k) = &self.mask {
            w.nest(attr::MASK, |w| k.emit(w));
        }
        if let Some(v) = self.used {
            w.u64(attr::USED, v);
        }
        if let Some(s) = &self.stats {
            w.put(attr::STATS, &s.to_bytes());
        }
        if let Some(v) = self.tcp_flags {
            w.u8(attr::TCP_FLAGS, v);
        }
        if let Some(a) = &self.actions {
            w.nest(attr::ACTIONS, |w| emit_actions(a, w));
        }
        if self.clear {
            w.flag(attr::CLEAR);
        }
        if self.probe {
            w.flag(attr::PROBE);
        }
    }
}

/// How a flow request identifies its flow: by a usable UFID
/// (`ovs_nla_get_ufid()` in `net/openvswitch/flow_netlink.c`), else by its
/// unmasked key, as `ovs_flow_cmd_get()`, `ovs_flow_cmd_set()` and
/// `ovs_flow_cmd_del()` look flows up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowId<'a> {
    /// By UFID.
    Ufid(&'a [u8]),
    /// By unmasked key.
    Key(&'a FlowKey),
    /// Neither: DEL flushes; GET/SET ⇒ `EINVAL`.
    None,
}

/// The identifier a GET/SET/DEL request uses.
pub fn flow_id(a: &FlowAttrs) -> FlowId<'_> {
    if let Some(u) = a.usable_ufid() {
        FlowId::Ufid(u)
    } else if let Some(k) = &a.key {
        FlowId::Key(k)
    } else {
        FlowId::None
    }
}

/// Check a flow NEW request: KEY and ACTIONS required, as in `ovs_flow_cmd_new()`.
pub fn check_new(a: &FlowAttrs) -> Result<()> {
    if a.key.is_none() {
        return Err(Error::Missing("OVS_FLOW_ATTR_KEY"));
    }
    if a.actions.is_none() {
        return Err(Error::Missing("OVS_FLOW_ATTR_ACTIONS"));
    }
    Ok(())
}

/// Check a flow SET request: KEY or UFID; ACTIONS need KEY, as in
/// `ovs_flow_cmd_set()`.
pub fn check_set(a: &FlowAttrs) -> Result<()> {
    if a.key.is_none() && a.usable_ufid().is_none() {
        return Err(Error::Missing("OVS_FLOW_ATTR_KEY or OVS_FLOW_ATTR_UFID"));
    }
    if a.actions.is_some() && a.key.is_none() {
        return Err(Error::Missing("OVS_FLOW_ATTR_KEY"));
    }
    Ok(())
}

/// What a flow reply is built from (see [`build_reply`]).
#[derive(Debug, Clone, Copy)]
pub struct FlowReplyParts<'a> {
    /// The flow's UFID, if it was installed with one.
    pub ufid: Option<&'a [u8]>,
    /// The validated match (masked key and mask).
    pub flow_match: &'a crate::validate::FlowMatch,
    /// The original unmasked key in kernel form (identifier of non-UFID flows).
    pub unmasked_key: &'a FlowKey,
    /// The actions as userspace sent them.
    pub actions: &'a [Action],
    /// Statistics.
    pub stats: FlowStats,
    /// Last use (CLOCK_MONOTONIC ms), `None` if never used.
    pub used: Option<u64>,
    /// OR of TCP flags seen.
    pub tcp_flags: u8,
    /// `OVS_UFID_F_*` from the request.
    pub ufid_flags: u32,
}

/// Compose a flow reply body like the kernel's `ovs_flow_cmd_fill_info()`
/// (`net/openvswitch/datapath.c`): identifier (UFID or
/// unmasked KEY), masked KEY for UFID flows unless OMIT_KEY, MASK unless
/// OMIT_MASK, USED/STATS/TCP_FLAGS when non-zero, ACTIONS unless
/// OMIT_ACTIONS.
pub fn build_reply(p: &FlowReplyParts<'_>) -> FlowAttrs {
    let mut r = FlowAttrs::default();
    match p.ufid {
        Some(u) => {
            r.ufid = Some(u.to_vec());
            if p.ufid_flags & ufid_flags::OMIT_KEY == 0 {
                r.key = Some(p.flow_match.masked_key());
            }
        }
        None => r.key = Some(p.unmasked_key.clone()),
    }
    if p.ufid_flags & ufid_flags::OMIT_MASK == 0 {
        r.mask = Some(p.flow_match.mask_form());
    }
    r.used = p.used.filter(|&u| u != 0);
    r.stats = (p.stats.n_packets != 0).then_some(p.stats);
    r.tcp_flags = (p.tcp_flags != 0).then_some(p.tcp_flags);
    if p.ufid_flags & ufid_flags::OMIT_ACTIONS == 0 {
        r.actions = Some(p.actions.to_vec());
    }
    r
}
