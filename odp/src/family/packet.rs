//! `ovs_packet`: EXECUTE requests (`ovs_packet_cmd_execute()` in
//! `net/openvswitch/datapath.c`) and MISS/ACTION upcalls
//! (`queue_userspace_packet()`, same file).

use super::{commands, for_each_attr, Body};
use crate::action::{emit_actions, parse_actions, Action};
use crate::error::{Error, Result};
use crate::key::{FlowKey, TunnelKey};
use crate::nl::AttrWriter;

commands!(
    /// `OVS_PACKET_CMD_*`.
    PacketCmd {
        /// Flow-table miss upcall.
        Miss = 1,
        /// Userspace-action upcall.
        Action = 2,
        /// Execute actions on a packet.
        Execute = 3,
    }
);

/// `OVS_PACKET_ATTR_*` numbers.
pub mod attr {
    #![allow(missing_docs)]
    pub const PACKET: u16 = 1;
    pub const KEY: u16 = 2;
    pub const ACTIONS: u16 = 3;
    pub const USERDATA: u16 = 4;
    pub const EGRESS_TUN_KEY: u16 = 5;
    pub const UNUSED1: u16 = 6;
    pub const UNUSED2: u16 = 7;
    pub const PROBE: u16 = 8;
    pub const MRU: u16 = 9;
    pub const LEN: u16 = 10;
    pub const HASH: u16 = 11;
    pub const UPCALL_PID: u16 = 12;
    pub const MAX: u16 = 12;
}

/// `OVS_PACKET_VERSION`.
pub const VERSION: u8 = 1;
/// Minimum packet length (Ethernet header).
pub const MIN_PACKET: usize = 14;

/// All `ovs_packet` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PacketAttrs {
    /// `PACKET`.
    pub packet: Option<Vec<u8>>,
    /// `KEY`.
    pub key: Option<FlowKey>,
    /// `ACTIONS`.
    pub actions: Option<Vec<Action>>,
    /// `USERDATA`.
    pub userdata: Option<Vec<u8>>,
    /// `EGRESS_TUN_KEY`.
    pub egress_tun_key: Option<TunnelKey>,
    /// `PROBE`.
    pub probe: bool,
    /// `MRU`.
    pub mru: Option<u16>,
    /// `LEN`.
    pub len: Option<u32>,
    /// `HASH`.
    pub hash: Option<u64>,
    /// `UPCALL_PID`.
    pub upcall_pid: Option<u32>,
    /// Upcalls only: leave PACKET unpadded (`OVS_DP_F_UNALIGNED`).
    pub unaligned: bool,
}

impl Body for PacketAttrs {
    type Cmd = PacketCmd;
    const FAMILY_NAME: &'static str = "ovs_packet";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = attr::MAX;

    fn parse(cmd: PacketCmd, buf: &[u8]) -> Result<Self> {
        let mut p = PacketAttrs::default();
        for_each_attr(buf, 0, attr::MAX, |a| {
            match a.ty {
                attr::PACKET => {
                    if cmd == PacketCmd::Execute && a.payload.len() < MIN_PACKET {
                        return Err(Error::OutOfRange("OVS_PACKET_ATTR_PACKET"));
                    }
                    p.packet = Some(a.payload.to_vec())
                }
                attr::KEY => p.key = Some(FlowKey::parse(a.payload)?),
                attr::ACTIONS => p.actions = Some(parse_actions(a.payload)?),
                attr::USERDATA => p.userdata = Some(a.payload.to_vec()),
                attr::EGRESS_TUN_KEY => p.egress_tun_key = Some(TunnelKey::parse(a.payload)?),
                attr::PROBE => p.probe = true,
                attr::MRU => p.mru = Some(a.u16("OVS_PACKET_ATTR_MRU")?),
                attr::LEN => p.len = Some(a.u32("OVS_PACKET_ATTR_LEN")?),
                attr::HASH => p.hash = Some(a.u64("OVS_PACKET_ATTR_HASH")?),
                attr::UPCALL_PID => p.upcall_pid = Some(a.u32("OVS_PACKET_ATTR_UPCALL_PID")?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(p)
    }

    /// EXECUTE: PACKET, KEY, ACTIONS, PROBE, MRU, HASH, UPCALL_PID (OVS
    /// order). Upcalls: KEY, USERDATA, EGRESS_TUN_KEY, ACTIONS, MRU, LEN,
    /// HASH, PACKET last (kernel order).
    fn emit(&self, cmd: PacketCmd, w: &mut AttrWriter<'_>) {
        let exec = cmd == PacketCmd::Execute;
        if exec {
            if let Some(p) = &self.packet {
                w.put(attr::PACKET, p);
            }
        }
        if let Some(k) = &self.key {
            w.nest(attr::KEY, |w| k.emit(w));
        }
        if exec {
            if let Some(a) = &self.actions {
                w.nest(attr::ACTIONS, |w| emit_actions(a, w));
            }
        }
        // PROBE only means something in EXECUTE, but whatever was decoded
        // must re-encode (found by the netlink fuzz target).
        if self.probe {
            w.flag(attr::PROBE);
        }
        if let Some(u) = &self.userdata {
            w.put(attr::USERDATA, u);
        }
        if let Some(t) = &self.egress_tun_key {
            w.nest(attr::EGRESS_TUN_KEY, |w| t.emit(w));
        }
        if !exec {
            if let Some(a) = &self.actions {
                w.nest(attr::ACTIONS, |w| emit_actions(a, w));
            }
        }
        if let Some(v) = self.mru {
            w.u16(attr::MRU, v);
        }
        if let Some(v) = self.len {
            w.u32(attr::LEN, v);
        }
        if let Some(v) = self.hash {
            w.u64(attr::HASH, v);
        }
        if let Some(v) = self.upcall_pid {
            w.u32(attr::UPCALL_PID, v);
        }
        if !exec {
            if let Some(p) = &self.packet {
                if self.unaligned {
                    w.put_unpadded(attr::PACKET, p);
                } else {
                    w.put(attr::PACKET, p);
                }
            }
        }
    }
}

/// Check an EXECUTE request: PACKET, KEY and ACTIONS required, as in
/// `ovs_packet_cmd_execute()`.
pub fn check_execute(p: &PacketAttrs) -> Result<()> {
    if p.packet.is_none() {
        return Err(Error::Missing("OVS_PACKET_ATTR_PACKET"));
    }
    if p.key.is_none() {
        return Err(Error::Missing("OVS_PACKET_ATTR_KEY"));
    }
    if p.actions.is_none() {
        return Err(Error::Missing("OVS_PACKET_ATTR_ACTIONS"));
    }
    Ok(())
}
