//! Actions (`OVS_ACTION_ATTR_*`, `include/uapi/linux/openvswitch.h`): typed
//! enum, parse, emit and the kernel's validation against the masked flow key
//! (`__ovs_nla_copy_actions()` in `net/openvswitch/flow_netlink.c`).

use std::net::IpAddr;

use crate::key::{FlowKey, KeyStruct, NshKey};

mod emit;
mod parse;
mod validate;

pub use emit::{actions_to_bytes, emit_actions};
pub use parse::parse_actions;
pub use validate::validate_actions;

/// `OVS_ACTION_ATTR_*` numbers.
pub mod attr {
    #![allow(missing_docs)]
    pub const UNSPEC: u16 = 0;
    pub const OUTPUT: u16 = 1;
    pub const USERSPACE: u16 = 2;
    pub const SET: u16 = 3;
    pub const PUSH_VLAN: u16 = 4;
    pub const POP_VLAN: u16 = 5;
    pub const SAMPLE: u16 = 6;
    pub const RECIRC: u16 = 7;
    pub const HASH: u16 = 8;
    pub const PUSH_MPLS: u16 = 9;
    pub const POP_MPLS: u16 = 10;
    pub const SET_MASKED: u16 = 11;
    pub const CT: u16 = 12;
    pub const TRUNC: u16 = 13;
    pub const PUSH_ETH: u16 = 14;
    pub const POP_ETH: u16 = 15;
    pub const CT_CLEAR: u16 = 16;
    pub const PUSH_NSH: u16 = 17;
    pub const POP_NSH: u16 = 18;
    pub const METER: u16 = 19;
    pub const CLONE: u16 = 20;
    pub const CHECK_PKT_LEN: u16 = 21;
    pub const ADD_MPLS: u16 = 22;
    pub const DEC_TTL: u16 = 23;
    pub const DROP: u16 = 24;
    pub const PSAMPLE: u16 = 25;
    /// Userspace-only.
    pub const TUNNEL_PUSH: u16 = 26;
    /// Userspace-only.
    pub const TUNNEL_POP: u16 = 27;
    /// Userspace-only.
    pub const LB_OUTPUT: u16 = 28;
    /// Highest action the kernel accepts.
    pub const MAX_KERNEL: u16 = 25;
}

/// `OVS_USERSPACE_ATTR_*`.
pub mod userspace_attr {
    #![allow(missing_docs)]
    pub const PID: u16 = 1;
    pub const USERDATA: u16 = 2;
    pub const EGRESS_TUN_PORT: u16 = 3;
    pub const ACTIONS: u16 = 4;
}

/// `OVS_SAMPLE_ATTR_*`.
pub mod sample_attr {
    #![allow(missing_docs)]
    pub const PROBABILITY: u16 = 1;
    pub const ACTIONS: u16 = 2;
}

/// `OVS_CHECK_PKT_LEN_ATTR_*`.
pub mod check_pkt_len_attr {
    #![allow(missing_docs)]
    pub const PKT_LEN: u16 = 1;
    pub const ACTIONS_IF_GREATER: u16 = 2;
    pub const ACTIONS_IF_LESS_EQUAL: u16 = 3;
}

/// `OVS_CT_ATTR_*`.
pub mod ct_attr {
    #![allow(missing_docs)]
    pub const COMMIT: u16 = 1;
    pub const ZONE: u16 = 2;
    pub const MARK: u16 = 3;
    pub const LABELS: u16 = 4;
    pub const HELPER: u16 = 5;
    pub const NAT: u16 = 6;
    pub const FORCE_COMMIT: u16 = 7;
    pub const EVENTMASK: u16 = 8;
    pub const TIMEOUT: u16 = 9;
}

/// `OVS_NAT_ATTR_*`.
pub mod nat_attr {
    #![allow(missing_docs)]
    pub const SRC: u16 = 1;
    pub const DST: u16 = 2;
    pub const IP_MIN: u16 = 3;
    pub const IP_MAX: u16 = 4;
    pub const PROTO_MIN: u16 = 5;
    pub const PROTO_MAX: u16 = 6;
    pub const PERSISTENT: u16 = 7;
    pub const PROTO_HASH: u16 = 8;
    pub const PROTO_RANDOM: u16 = 9;
}

/// `OVS_DEC_TTL_ATTR_ACTION`.
pub const DEC_TTL_ATTR_ACTION: u16 = 1;
/// `OVS_PSAMPLE_ATTR_GROUP`.
pub const PSAMPLE_ATTR_GROUP: u16 = 1;
/// `OVS_PSAMPLE_ATTR_COOKIE`.
pub const PSAMPLE_ATTR_COOKIE: u16 = 2;
/// Maximum psample cookie size.
pub const PSAMPLE_COOKIE_MAX: usize = 16;
/// Kernel cap on the internal copy of an action list.
pub const MAX_ACTIONS_BUFSIZE: usize = 32 * 1024;
/// Kernel nesting limit for nested action lists.
pub const MAX_ACTIONS_DEPTH: usize = 16;

/// `OVS_ACTION_ATTR_USERSPACE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Userspace {
    /// Netlink port id for the upcall (non-zero).
    pub pid: u32,
    /// Opaque cookie copied to the upcall.
    pub userdata: Option<Vec<u8>>,
    /// Tunnel port whose egress metadata to attach.
    pub egress_tun_port: Option<u32>,
    /// Include the flow's actions in the upcall.
    pub actions: bool,
}

/// `OVS_CT_ATTR_NAT` nest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Nat {
    /// Source NAT.
    pub src: bool,
    /// Destination NAT.
    pub dst: bool,
    /// Minimum address.
    pub ip_min: Option<IpAddr>,
    /// Maximum address.
    pub ip_max: Option<IpAddr>,
    /// Minimum port (host order).
    pub proto_min: Option<u16>,
    /// Maximum port.
    pub proto_max: Option<u16>,
    /// Persistent flag.
    pub persistent: bool,
    /// Hash flag.
    pub proto_hash: bool,
    /// Random flag.
    pub proto_random: bool,
}

/// `OVS_ACTION_ATTR_CT` nest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ct {
    /// Commit.
    pub commit: bool,
    /// Force commit.
    pub force_commit: bool,
    /// Zone.
    pub zone: Option<u16>,
    /// Mark value and mask.
    pub mark: Option<(u32, u32)>,
    /// Labels value and mask.
    pub labels: Option<([u8; 16], [u8; 16])>,
    /// ALG helper name.
    pub helper: Option<String>,
    /// NAT.
    pub nat: Option<Nat>,
    /// Event mask.
    pub eventmask: Option<u32>,
    /// Timeout policy name.
    pub timeout: Option<String>,
}

/// One datapath action.
// Set/SetMasked carry a whole FlowKey; actions are parsed at flow setup, not
// per packet, so boxing would only add indirection for the common variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Output to a port.
    Output(u32),
    /// Send to userspace.
    Userspace(Userspace),
    /// Set one key field (exactly one attribute in the key).
    Set(FlowKey),
    /// Masked set: value and mask with the same single attribute.
    SetMasked {
        /// Value.
        key: FlowKey,
        /// Mask.
        mask: FlowKey,
    },
    /// Push a VLAN tag.
    PushVlan {
        /// TPID.
        tpid: u16,
        /// TCI (with the CFI bit set).
        tci: u16,
    },
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Probabilistic sampling.
    Sample {
        /// Probability (`u32::MAX` = always).
        probability: u32,
        /// Nested actions.
        actions: Vec<Action>,
    },
    /// Recirculate with this id.
    Recirc(u32),
    /// Compute dp_hash.
    Hash {
        /// Algorithm (0 = L4).
        alg: u32,
        /// Basis.
        basis: u32,
    },
    /// Push an MPLS label.
    PushMpls {
        /// Label stack entry.
        lse: u32,
        /// New ethertype.
        ethertype: u16,
    },
    /// Pop an MPLS label.
    PopMpls(u16),
    /// Connection tracking.
    Ct(Ct),
    /// Truncate copies sent by the next output.
    Trunc(u32),
    /// Push an Ethernet header.
    PushEth {
        /// Source MAC.
        src: [u8; 6],
        /// Destination MAC.
        dst: [u8; 6],
    },
    /// Pop the Ethernet header.
    PopEth,
    /// Forget conntrack state.
    CtClear,
    /// Push an NSH header.
    PushNsh(NshKey),
    /// Pop NSH.
    PopNsh,
    /// Apply a meter.
    Meter(u32),
    /// Run actions on a clone.
    Clone(Vec<Action>),
    /// Branch on packet length.
    CheckPktLen {
        /// Length threshold.
        pkt_len: u16,
        /// Actions if longer.
        gt: Vec<Action>,
        /// Actions if shorter or equal.
        le: Vec<Action>,
    },
    /// Add MPLS at L2 or L3 start.
    AddMpls {
        /// Label stack entry.
        lse: u32,
        /// Ethertype.
        ethertype: u16,
        /// Tunnel flags (bit 0 = L3).
        tun_flags: u16,
    },
    /// Decrement TTL; on expiry run the nested list.
    DecTtl(Vec<Action>),
    /// Explicit drop with a reason code.
    Drop(u32),
    /// Sample to psample.
    Psample {
        /// Group id.
        group: u32,
        /// Cookie.
        cookie: Option<Vec<u8>>,
    },
    /// Any other type (userspace-only actions, future kernels): kept raw.
    Unknown {
        /// Action type.
        ty: u16,
        /// Raw payload.
        payload: Vec<u8>,
    },
}

impl Action {
    /// The `OVS_ACTION_ATTR_*` type of this action.
    pub fn kind(&self) -> u16 {
        match self {
            Action::Output(_) => attr::OUTPUT,
            Action::Userspace(_) => attr::USERSPACE,
            Action::Set(_) => attr::SET,
            Action::SetMasked { .. } => attr::SET_MASKED,
            Action::PushVlan { .. } => attr::PUSH_VLAN,
            Action::PopVlan => attr::POP_VLAN,
            Action::Sample { .. } => attr::SAMPLE,
            Action::Recirc(_) => attr::RECIRC,
            Action::Hash { .. } => attr::HASH,
            Action::PushMpls { .. } => attr::PUSH_MPLS,
            Action::PopMpls(_) => attr::POP_MPLS,
            Action::Ct(_) => attr::CT,
            Action::Trunc(_) => attr::TRUNC,
            Action::PushEth { .. } => attr::PUSH_ETH,
            Action::PopEth => attr::POP_ETH,
            Action::CtClear => attr::CT_CLEAR,
            Action::PushNsh(_) => attr::PUSH_NSH,
            Action::PopNsh => attr::POP_NSH,
            Action::Meter(_) => attr::METER,
            Action::Clone(_) => attr::CLONE,
            Action::CheckPktLen { .. } => attr::CHECK_PKT_LEN,
            Action::AddMpls { .. } => attr::ADD_MPLS,
            Action::DecTtl(_) => attr::DEC_TTL,
            Action::Drop(_) => attr::DROP,
            Action::Psample { .. } => attr::PSAMPLE,
            Action::Unknown { ty, .. } => *ty,
        }
    }
}

/// Fixed-size key attributes valid as SET targets: the struct length, used by
/// the text parser to build a SET vs SET_MASKED decision.
pub fn is_fully_masked(mask: &FlowKey) -> bool {
    fn full<T: KeyStruct>(o: &Option<T>) -> bool {
        o.as_ref()
            .is_none_or(|v| v.to_bytes().iter().all(|&b| b == 0xff))
    }
    let m = mask;
    full(&m.ethernet)
        && full(&m.ipv4)
        && full(&m.ipv6)
        && full(&m.tcp)
        && full(&m.udp)
        && full(&m.sctp)
        && full(&m.arp)
        && full(&m.nd)
        && full(&m.icmp)
        && full(&m.icmpv6)
        && m.priority.is_none_or(|v| v == u32::MAX)
        && m.skb_mark.is_none_or(|v| v == u32::MAX)
        && m.ct_mark.is_none_or(|v| v == u32::MAX)
        && m.ct_labels.is_none_or(|v| v == [0xff; 16])
        && m.mpls
            .as_ref()
            .is_none_or(|v| v.iter().all(|&x| x == u32::MAX))
}
