//! Actions (`OVS_ACTION_ATTR_*`, `include/uapi/linux/openvswitch.h`): typed
//! enum, parse, emit and the kernel's validation against the masked flow key
//! (`__ovs_nla_copy_actions()` in `net/openvswitch/flow_netlink.c`).

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::key::{attr as kattr, eth_type as et, FlowKey, KeyStruct, NshKey, TunnelKey};
use crate::nl::{attrs, Attr, AttrWriter};
use crate::validate::{FlatKey, NO_PORT, VLAN_CFI};

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

fn mac6(b: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

fn ip_from(b: &[u8], what: &'static str) -> Result<IpAddr> {
    match b.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(b).map_err(|_| Error::Invalid(what))?,
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(b).map_err(|_| Error::Invalid(what))?,
        )),
        len => Err(Error::BadLength { what, len }),
    }
}

fn short_str(a: &Attr<'_>, what: &'static str, max: usize) -> Result<String> {
    let s = a.string(what, max)?;
    if s.is_empty() {
        return Err(Error::Invalid(what));
    }
    Ok(s)
}

/// Parse an action list (the payload of `OVS_FLOW_ATTR_ACTIONS` etc.).
///
/// # Errors
/// `EOVERFLOW` beyond 16 nested lists; `EINVAL` for malformed attributes.
pub fn parse_actions(buf: &[u8]) -> Result<Vec<Action>> {
    parse_list(buf, 0)
}

fn parse_list(buf: &[u8], depth: usize) -> Result<Vec<Action>> {
    if depth > MAX_ACTIONS_DEPTH {
        return Err(Error::NestingTooDeep(MAX_ACTIONS_DEPTH));
    }
    let mut v = Vec::new();
    for a in attrs(buf) {
        v.push(parse_one(&a?, depth)?);
    }
    Ok(v)
}

fn parse_set_masked(a: &Attr<'_>) -> Result<Action> {
    let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
    let [k] = inner.as_slice() else {
        return Err(Error::Invalid("set_masked needs exactly one attribute"));
    };
    let mut key = FlowKey::default();
    let mut mask = FlowKey::default();
    if k.ty == kattr::NSH {
        let (kv, mv) = NshKey::parse_masked(k.payload)?;
        key.nsh = Some(kv);
        mask.nsh = Some(mv);
        return Ok(Action::SetMasked { key, mask });
    }
    if k.ty == kattr::TUNNEL || k.ty == kattr::ENCAP {
        return Err(Error::Invalid("masked set of a nested attribute"));
    }
    let p = k.payload;
    if p.len() % 2 != 0 {
        return Err(Error::BadLength {
            what: "set_masked",
            len: p.len(),
        });
    }
    let h = p.len() / 2;
    key.parse_one(
        &Attr {
            ty: k.ty,
            nested_flag: false,
            payload: &p[..h],
        },
        0,
    )?;
    mask.parse_one(
        &Attr {
            ty: k.ty,
            nested_flag: false,
            payload: &p[h..],
        },
        0,
    )?;
    Ok(Action::SetMasked { key, mask })
}

fn parse_one(a: &Attr<'_>, depth: usize) -> Result<Action> {
    let p = a.payload;
    Ok(match a.ty {
        attr::OUTPUT => Action::Output(a.u32("output")?),
        attr::USERSPACE => {
            let mut u = Userspace::default();
            let mut pid = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    userspace_attr::PID => pid = Some(n.u32("userspace pid")?),
                    userspace_attr::USERDATA => u.userdata = Some(n.payload.to_vec()),
                    userspace_attr::EGRESS_TUN_PORT => {
                        u.egress_tun_port = Some(n.u32("egress tun port")?)
                    }
                    userspace_attr::ACTIONS => {
                        n.flag("userspace actions")?;
                        u.actions = true
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "userspace",
                            ty,
                        })
                    }
                }
            }
            u.pid = pid.ok_or(Error::Missing("OVS_USERSPACE_ATTR_PID"))?;
            Action::Userspace(u)
        }
        attr::SET => {
            let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
            let [k] = inner.as_slice() else {
                return Err(Error::Invalid("set needs exactly one attribute"));
            };
            if k.ty == kattr::ENCAP {
                return Err(Error::Invalid("set of encap"));
            }
            let mut key = FlowKey::default();
            key.parse_one(k, 0)?;
            Action::Set(key)
        }
        attr::SET_MASKED => parse_set_masked(a)?,
        attr::PUSH_VLAN => {
            let b: [u8; 4] = a.array("push_vlan")?;
            Action::PushVlan {
                tpid: u16::from_be_bytes([b[0], b[1]]),
                tci: u16::from_be_bytes([b[2], b[3]]),
            }
        }
        attr::POP_VLAN => {
            a.flag("pop_vlan")?;
            Action::PopVlan
        }
        attr::SAMPLE => {
            let mut prob = None;
            let mut acts = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    sample_attr::PROBABILITY => prob = Some(n.u32("sample probability")?),
                    sample_attr::ACTIONS => acts = Some(parse_list(n.payload, depth + 1)?),
                    ty => return Err(Error::UnknownAttr { what: "sample", ty }),
                }
            }
            Action::Sample {
                probability: prob.ok_or(Error::Missing("OVS_SAMPLE_ATTR_PROBABILITY"))?,
                actions: acts.ok_or(Error::Missing("OVS_SAMPLE_ATTR_ACTIONS"))?,
            }
        }
        attr::RECIRC => Action::Recirc(a.u32("recirc")?),
        attr::HASH => {
            let b: [u8; 8] = a.array("hash")?;
            Action::Hash {
                alg: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                basis: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            }
        }
        attr::PUSH_MPLS => {
            let b: [u8; 8] = a.array("push_mpls")?;
            Action::PushMpls {
                lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                ethertype: u16::from_be_bytes([b[4], b[5]]),
            }
        }
        attr::POP_MPLS => Action::PopMpls(a.be16("pop_mpls")?),
        attr::CT => Action::Ct(parse_ct(a)?),
        attr::TRUNC => Action::Trunc(a.u32("trunc")?),
        attr::PUSH_ETH => {
            let b: [u8; 12] = a.array("push_eth")?;
            Action::PushEth {
                src: mac6(&b[..6]),
                dst: mac6(&b[6..]),
            }
        }
        attr::POP_ETH => {
            a.flag("pop_eth")?;
            Action::PopEth
        }
        attr::CT_CLEAR => {
            a.flag("ct_clear")?;
            Action::CtClear
        }
        attr::PUSH_NSH => {
            let inner: Vec<Attr<'_>> = a.nested().collect::<Result<_>>()?;
            let nsh_attr = inner
                .iter()
                .find(|x| x.ty == kattr::NSH)
                .ok_or(Error::Missing("push_nsh key"))?;
            if inner.len() != 1 {
                return Err(Error::Invalid("push_nsh needs exactly one attribute"));
            }
            Action::PushNsh(NshKey::parse(nsh_attr.payload)?)
        }
        attr::POP_NSH => {
            a.flag("pop_nsh")?;
            Action::PopNsh
        }
        attr::METER => Action::Meter(a.u32("meter")?),
        attr::CLONE => Action::Clone(parse_list(p, depth + 1)?),
        attr::CHECK_PKT_LEN => {
            let (mut len, mut gt, mut le) = (None, None, None);
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    check_pkt_len_attr::PKT_LEN => len = Some(n.u16("check_pkt_len")?),
                    check_pkt_len_attr::ACTIONS_IF_GREATER => {
                        gt = Some(parse_list(n.payload, depth + 1)?)
                    }
                    check_pkt_len_attr::ACTIONS_IF_LESS_EQUAL => {
                        le = Some(parse_list(n.payload, depth + 1)?)
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "check_pkt_len",
                            ty,
                        })
                    }
                }
            }
            Action::CheckPktLen {
                pkt_len: len.ok_or(Error::Missing("OVS_CHECK_PKT_LEN_ATTR_PKT_LEN"))?,
                gt: gt.ok_or(Error::Missing("OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_GREATER"))?,
                le: le.ok_or(Error::Missing(
                    "OVS_CHECK_PKT_LEN_ATTR_ACTIONS_IF_LESS_EQUAL",
                ))?,
            }
        }
        attr::ADD_MPLS => {
            let b: [u8; 8] = a.array("add_mpls")?;
            Action::AddMpls {
                lse: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                ethertype: u16::from_be_bytes([b[4], b[5]]),
                tun_flags: u16::from_ne_bytes([b[6], b[7]]),
            }
        }
        attr::DEC_TTL => {
            let mut acts = None;
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    DEC_TTL_ATTR_ACTION => acts = Some(parse_list(n.payload, depth + 1)?),
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "dec_ttl",
                            ty,
                        })
                    }
                }
            }
            Action::DecTtl(acts.ok_or(Error::Missing("OVS_DEC_TTL_ATTR_ACTION"))?)
        }
        attr::DROP => Action::Drop(a.u32("drop")?),
        attr::PSAMPLE => {
            let (mut group, mut cookie) = (None, None);
            for n in a.nested() {
                let n = n?;
                match n.ty {
                    PSAMPLE_ATTR_GROUP => group = Some(n.u32("psample group")?),
                    PSAMPLE_ATTR_COOKIE => {
                        if n.payload.len() > PSAMPLE_COOKIE_MAX {
                            return Err(Error::BadLength {
                                what: "psample cookie",
                                len: n.payload.len(),
                            });
                        }
                        cookie = Some(n.payload.to_vec())
                    }
                    ty => {
                        return Err(Error::UnknownAttr {
                            what: "psample",
                            ty,
                        })
                    }
                }
            }
            Action::Psample {
                group: group.ok_or(Error::Missing("OVS_PSAMPLE_ATTR_GROUP"))?,
                cookie,
            }
        }
        ty => Action::Unknown {
            ty,
            payload: p.to_vec(),
        },
    })
}

fn parse_ct(a: &Attr<'_>) -> Result<Ct> {
    let mut c = Ct::default();
    for n in a.nested() {
        let n = n?;
        match n.ty {
            ct_attr::COMMIT => {
                n.flag("ct commit")?;
                c.commit = true
            }
            ct_attr::FORCE_COMMIT => {
                n.flag("ct force_commit")?;
                c.force_commit = true
            }
            ct_attr::ZONE => c.zone = Some(n.u16("ct zone")?),
            ct_attr::MARK => {
                let b: [u8; 8] = n.array("ct mark")?;
                c.mark = Some((
                    u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                ));
            }
            ct_attr::LABELS => {
                let b: [u8; 32] = n.array("ct labels")?;
                let mut v = [0u8; 16];
                let mut m = [0u8; 16];
                v.copy_from_slice(&b[..16]);
                m.copy_from_slice(&b[16..]);
                c.labels = Some((v, m));
            }
            ct_attr::HELPER => c.helper = Some(short_str(&n, "ct helper", 15)?),
            ct_attr::TIMEOUT => c.timeout = Some(short_str(&n, "ct timeout", 31)?),
            ct_attr::EVENTMASK => c.eventmask = Some(n.u32("ct eventmask")?),
            ct_attr::NAT => {
                let mut nat = Nat::default();
                for x in n.nested() {
                    let x = x?;
                    match x.ty {
                        nat_attr::SRC => nat.src = true,
                        nat_attr::DST => nat.dst = true,
                        nat_attr::IP_MIN => nat.ip_min = Some(ip_from(x.payload, "nat ip_min")?),
                        nat_attr::IP_MAX => nat.ip_max = Some(ip_from(x.payload, "nat ip_max")?),
                        nat_attr::PROTO_MIN => nat.proto_min = Some(x.u16("nat proto_min")?),
                        nat_attr::PROTO_MAX => nat.proto_max = Some(x.u16("nat proto_max")?),
                        nat_attr::PERSISTENT => nat.persistent = true,
                        nat_attr::PROTO_HASH => nat.proto_hash = true,
                        nat_attr::PROTO_RANDOM => nat.proto_random = true,
                        ty => return Err(Error::UnknownAttr { what: "nat", ty }),
                    }
                    if matches!(
                        x.ty,
                        nat_attr::SRC
                            | nat_attr::DST
                            | nat_attr::PERSISTENT
                            | nat_attr::PROTO_HASH
                            | nat_attr::PROTO_RANDOM
                    ) {
                        x.flag("nat flag")?;
                    }
                }
                c.nat = Some(nat);
            }
            ty => return Err(Error::UnknownAttr { what: "ct", ty }),
        }
    }
    Ok(c)
}

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(x) => x.octets().to_vec(),
        IpAddr::V6(x) => x.octets().to_vec(),
    }
}

/// Emit an action list (attributes only; the caller provides the nest).
pub fn emit_actions(list: &[Action], w: &mut AttrWriter<'_>) {
    for a in list {
        a.emit(w);
    }
}

/// Emit an action list into a fresh byte vector.
///
/// An attribute over 65535 bytes cannot be encoded and is written with
/// `nla_len` 0. That happens only when the whole result is over 65535 bytes,
/// which [`validate_actions`] rejects (`EMSGSIZE`) and which putting it into
/// an attribute fails with ([`Error::TooLarge`]).
pub fn actions_to_bytes(list: &[Action]) -> Vec<u8> {
    let mut v = Vec::new();
    let mut w = AttrWriter::new(&mut v);
    emit_actions(list, &mut w);
    v
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

    /// Emit this action as one attribute.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        let ty = self.kind();
        match self {
            Action::Output(p)
            | Action::Recirc(p)
            | Action::Trunc(p)
            | Action::Meter(p)
            | Action::Drop(p) => w.u32(ty, *p),
            Action::Userspace(u) => w.nest(ty, |w| {
                w.u32(userspace_attr::PID, u.pid);
                if let Some(d) = &u.userdata {
                    w.put(userspace_attr::USERDATA, d);
                }
                if let Some(p) = u.egress_tun_port {
                    w.u32(userspace_attr::EGRESS_TUN_PORT, p);
                }
                if u.actions {
                    w.flag(userspace_attr::ACTIONS);
                }
            }),
            Action::Set(k) => w.nest(ty, |w| k.emit(w)),
            Action::SetMasked { key, mask } => {
                let at = w.nest_start(ty);
                emit_masked_attr(key, mask, w);
                w.nest_end(at);
            }
            Action::PushVlan { tpid, tci } => {
                let mut b = [0u8; 4];
                b[..2].copy_from_slice(&tpid.to_be_bytes());
                b[2..].copy_from_slice(&tci.to_be_bytes());
                w.put(ty, &b)
            }
            Action::PopVlan | Action::PopEth | Action::CtClear | Action::PopNsh => w.flag(ty),
            Action::Sample {
                probability,
                actions,
            } => w.nest(ty, |w| {
                w.u32(sample_attr::PROBABILITY, *probability);
                w.nest(sample_attr::ACTIONS, |w| emit_actions(actions, w));
            }),
            Action::Hash { alg, basis } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&alg.to_ne_bytes());
                b[4..].copy_from_slice(&basis.to_ne_bytes());
                w.put(ty, &b)
            }
            Action::PushMpls { lse, ethertype } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&lse.to_be_bytes());
                b[4..6].copy_from_slice(&ethertype.to_be_bytes());
                w.put(ty, &b)
            }
            Action::AddMpls {
                lse,
                ethertype,
                tun_flags,
            } => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&lse.to_be_bytes());
                b[4..6].copy_from_slice(&ethertype.to_be_bytes());
                b[6..].copy_from_slice(&tun_flags.to_ne_bytes());
                w.put(ty, &b)
            }
            Action::PopMpls(e) => w.be16(ty, *e),
            Action::Ct(c) => w.nest(ty, |w| emit_ct(c, w)),
            Action::PushEth { src, dst } => {
                let mut b = [0u8; 12];
                b[..6].copy_from_slice(src);
                b[6..].copy_from_slice(dst);
                w.put(ty, &b)
            }
            Action::PushNsh(n) => w.nest(ty, |w| w.nest(kattr::NSH, |w| n.emit(w))),
            Action::Clone(l) => w.nest(ty, |w| emit_actions(l, w)),
            Action::CheckPktLen { pkt_len, gt, le } => w.nest(ty, |w| {
                w.u16(check_pkt_len_attr::PKT_LEN, *pkt_len);
                w.nest(check_pkt_len_attr::ACTIONS_IF_GREATER, |w| {
                    emit_actions(gt, w)
                });
                w.nest(check_pkt_len_attr::ACTIONS_IF_LESS_EQUAL, |w| {
                    emit_actions(le, w)
                });
            }),
            Action::DecTtl(l) => {
                w.nest(ty, |w| w.nest(DEC_TTL_ATTR_ACTION, |w| emit_actions(l, w)))
            }
            Action::Psample { group, cookie } => w.nest(ty, |w| {
                w.u32(PSAMPLE_ATTR_GROUP, *group);
                if let Some(c) = cookie {
                    w.put(PSAMPLE_ATTR_COOKIE, c);
                }
            }),
            Action::Unknown { payload, .. } => w.put(ty, payload),
        }
    }
}

fn emit_masked_attr(key: &FlowKey, mask: &FlowKey, w: &mut AttrWriter<'_>) {
    if let Some(n) = &key.nsh {
        let m = mask.nsh.clone().unwrap_or_default();
        w.nest(kattr::NSH, |w| n.emit_masked(&m, w));
        return;
    }
    // Value and mask are the single attribute's payloads, concatenated.
    let kb = key.to_bytes();
    let mb = mask.to_bytes();
    let Some(ka) = attrs(&kb).next().and_then(|r| r.ok()) else {
        return;
    };
    let mp = attrs(&mb)
        .next()
        .and_then(|r| r.ok())
        .map(|a| a.payload.to_vec())
        .unwrap_or_default();
    let mut p = ka.payload.to_vec();
    p.extend((0..ka.payload.len()).map(|i| mp.get(i).copied().unwrap_or(0)));
    w.put(ka.ty, &p);
}

fn emit_ct(c: &Ct, w: &mut AttrWriter<'_>) {
    if c.commit {
        w.flag(ct_attr::COMMIT);
    }
    if c.force_commit {
        w.flag(ct_attr::FORCE_COMMIT);
    }
    if let Some(z) = c.zone {
        w.u16(ct_attr::ZONE, z);
    }
    if let Some((v, m)) = c.mark {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&v.to_ne_bytes());
        b[4..].copy_from_slice(&m.to_ne_bytes());
        w.put(ct_attr::MARK, &b);
    }
    if let Some((v, m)) = &c.labels {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(v);
        b[16..].copy_from_slice(m);
        w.put(ct_attr::LABELS, &b);
    }
    if let Some(h) = &c.helper {
        w.string(ct_attr::HELPER, h);
    }
    if let Some(e) = c.eventmask {
        w.u32(ct_attr::EVENTMASK, e);
    }
    if let Some(t) = &c.timeout {
        w.string(ct_attr::TIMEOUT, t);
    }
    if let Some(n) = &c.nat {
        w.nest(ct_attr::NAT, |w| {
            if n.src {
                w.flag(nat_attr::SRC);
            }
            if n.dst {
                w.flag(nat_attr::DST);
            }
            if let Some(a) = &n.ip_min {
                w.put(nat_attr::IP_MIN, &ip_bytes(a));
            }
            if let Some(a) = &n.ip_max {
                w.put(nat_attr::IP_MAX, &ip_bytes(a));
            }
            if let Some(p) = n.proto_min {
                w.u16(nat_attr::PROTO_MIN, p);
            }
            if let Some(p) = n.proto_max {
                w.u16(nat_attr::PROTO_MAX, p);
            }
            if n.persistent {
                w.flag(nat_attr::PERSISTENT);
            }
            if n.proto_hash {
                w.flag(nat_attr::PROTO_HASH);
            }
            if n.proto_random {
                w.flag(nat_attr::PROTO_RANDOM);
            }
        });
    }
}

/// Packet state tracked while validating (what the kernel tracks).
#[derive(Debug, Clone, Copy)]
struct State {
    eth_type: u16,
    vlan_tci: u16,
    ethernet: bool,
    mpls_labels: usize,
    ip_proto: u8,
    ip_frag: u8,
}

/// Validate an action list against a validated flow match, with the
/// kernel's rules (`ovs_nla_copy_actions()` and `__ovs_nla_copy_actions()` in
/// `net/openvswitch/flow_netlink.c`).
///
/// # Errors
/// `EMSGSIZE` above 32 KiB, `EOVERFLOW` beyond 16 nesting levels, `EINVAL`
/// for every other rule.
pub fn validate_actions(list: &[Action], key: &FlatKey) -> Result<()> {
    if actions_to_bytes(list).len() > MAX_ACTIONS_BUFSIZE {
        return Err(Error::ActionsTooLarge(MAX_ACTIONS_BUFSIZE));
    }
    let k = &key.key;
    let (ip_proto, ip_frag) = match (k.ipv4, k.ipv6) {
        (Some(v), _) => (v.proto, v.frag),
        (_, Some(v)) => (v.proto, v.frag),
        _ => (0, 0),
    };
    let st = State {
        eth_type: k.eth_type.unwrap_or(if k.ethernet.is_some() {
            et::ETH_P_802_2
        } else {
            0
        }),
        vlan_tci: key.tags.first().map_or(0, |t| t.tci),
        ethernet: k.ethernet.is_some(),
        mpls_labels: k.mpls.as_ref().map_or(0, |v| v.len()),
        ip_proto,
        ip_frag,
    };
    validate_list(list, key, st, 0)
}

fn is_mpls(t: u16) -> bool {
    t == et::MPLS || t == et::MPLS_MCAST
}

fn validate_list(list: &[Action], key: &FlatKey, mut st: State, depth: usize) -> Result<()> {
    if depth > MAX_ACTIONS_DEPTH {
        return Err(Error::NestingTooDeep(MAX_ACTIONS_DEPTH));
    }
    for (i, a) in list.iter().enumerate() {
        match a {
            Action::Output(p) => {
                if *p >= NO_PORT {
                    return Err(Error::Invalid("output port"));
                }
            }
            Action::Userspace(u) => {
                if u.pid == 0 {
                    return Err(Error::Invalid("userspace pid"));
                }
            }
            Action::Trunc(n) => {
                if *n < 14 {
                    return Err(Error::Invalid("trunc max_len"));
                }
            }
            Action::Hash { alg, .. } => {
                if *alg != 0 {
                    return Err(Error::Invalid("hash algorithm"));
                }
            }
            Action::PushVlan { tpid, tci } => {
                if !st.ethernet {
                    return Err(Error::Invalid("push_vlan on a non-Ethernet flow"));
                }
                if (*tpid != et::VLAN && *tpid != et::QINQ) || tci & VLAN_CFI == 0 {
                    return Err(Error::Invalid("push_vlan"));
                }
                st.vlan_tci = *tci;
            }
            Action::PopVlan => {
                if !st.ethernet {
                    return Err(Error::Invalid("pop_vlan on a non-Ethernet flow"));
                }
                st.vlan_tci = 0;
            }
            Action::PushEth { .. } => {
                if st.ethernet {
                    return Err(Error::Invalid("push_eth on an Ethernet flow"));
                }
                st.ethernet = true;
            }
            Action::PopEth => {
                if !st.ethernet || st.vlan_tci & VLAN_CFI != 0 {
                    return Err(Error::Invalid("pop_eth"));
                }
                st.ethernet = false;
            }
            Action::PushMpls { ethertype, .. } => {
                if !is_mpls(*ethertype) {
                    return Err(Error::Invalid("push_mpls ethertype"));
                }
                if st.vlan_tci & VLAN_CFI != 0 || !mpls_pushable(st.eth_type) {
                    return Err(Error::Invalid("push_mpls on this packet type"));
                }
                st.eth_type = *ethertype;
                st.mpls_labels += 1;
            }
            Action::AddMpls {
                ethertype,
                tun_flags,
                ..
            } => {
                if !is_mpls(*ethertype) {
                    return Err(Error::Invalid("add_mpls ethertype"));
                }
                if tun_flags & 1 == 0 {
                    if st.vlan_tci & VLAN_CFI != 0 || !mpls_pushable(st.eth_type) {
                        return Err(Error::Invalid("add_mpls on this packet type"));
                    }
                    st.mpls_labels += 1;
                } else if st.ethernet {
                    st.mpls_labels = 1;
                    st.ethernet = false;
                } else {
                    st.mpls_labels += 1;
                }
                st.eth_type = *ethertype;
            }
            Action::PopMpls(proto) => {
                if st.vlan_tci & VLAN_CFI != 0 || !is_mpls(st.eth_type) {
                    return Err(Error::Invalid("pop_mpls on a non-MPLS packet"));
                }
                if *proto == 0x6558 && st.ethernet {
                    return Err(Error::Invalid("pop_mpls to TEB on an Ethernet packet"));
                }
                st.mpls_labels = st.mpls_labels.saturating_sub(1);
                st.eth_type = if !is_mpls(*proto) || st.mpls_labels == 0 {
                    0
                } else {
                    *proto
                };
            }
            Action::Set(k) => validate_set(k, None, key, &st)?,
            Action::SetMasked { key: k, mask } => validate_set(k, Some(mask), key, &st)?,
            Action::Ct(c) => {
                if st.eth_type != et::IPV4 && st.eth_type != et::IPV6 {
                    return Err(Error::Invalid("ct on a non-IP flow"));
                }
                if let Some(n) = &c.nat {
                    if n.src && n.dst {
                        return Err(Error::Invalid("nat src and dst"));
                    }
                    let range = n.ip_min.is_some()
                        || n.ip_max.is_some()
                        || n.proto_min.is_some()
                        || n.proto_max.is_some();
                    if range && !(n.src || n.dst) {
                        return Err(Error::Invalid("nat range without src or dst"));
                    }
                }
            }
            Action::PushNsh(_) => {
                st.eth_type = et::NSH;
                st.ethernet = false;
            }
            Action::PopNsh => {
                if st.eth_type != et::NSH {
                    return Err(Error::Invalid("pop_nsh on a non-NSH packet"));
                }
                st.eth_type = 0;
            }
            Action::Sample { actions, .. } => validate_list(actions, key, st, depth + 1)?,
            Action::Clone(l) | Action::DecTtl(l) => validate_list(l, key, st, depth + 1)?,
            Action::CheckPktLen { gt, le, .. } => {
                validate_list(gt, key, st, depth + 1)?;
                validate_list(le, key, st, depth + 1)?;
            }
            Action::Drop(_) => {
                if i + 1 != list.len() {
                    return Err(Error::Invalid("drop must be the last action"));
                }
            }
            Action::Psample { cookie, .. } => {
                if cookie
                    .as_ref()
                    .is_some_and(|c| c.len() > PSAMPLE_COOKIE_MAX)
                {
                    return Err(Error::Invalid("psample cookie"));
                }
            }
            Action::Recirc(_) | Action::Meter(_) | Action::CtClear => {}
            Action::Unknown { ty, .. } => {
                return Err(Error::UnknownAttr {
                    what: "actions",
                    ty: *ty,
                });
            }
        }
    }
    Ok(())
}

fn mpls_pushable(t: u16) -> bool {
    matches!(t, et::IPV4 | et::IPV6 | et::ARP | et::RARP) || is_mpls(t)
}

fn validate_set(k: &FlowKey, mask: Option<&FlowKey>, flow: &FlatKey, st: &State) -> Result<()> {
    let masked = mask.is_some();
    // Value bits outside the mask are an error.
    if let Some(m) = mask {
        if k.and(m) != *k {
            return Err(Error::Invalid("set_masked value bits outside the mask"));
        }
    }
    let ip_l4 = |proto: u8| -> Result<()> {
        if (st.eth_type != et::IPV4 && st.eth_type != et::IPV6) || st.ip_proto != proto {
            return Err(Error::Invalid("set of L4 field without matching protocol"));
        }
        Ok(())
    };
    let _ = flow;
    if k.priority.is_some() || k.skb_mark.is_some() || k.ct_mark.is_some() || k.ct_labels.is_some()
    {
        return Ok(());
    }
    if k.ethernet.is_some() {
        return if st.ethernet {
            Ok(())
        } else {
            Err(Error::Invalid("set ethernet on an L3 flow"))
        };
    }
    if let Some(t) = &k.tunnel {
        if masked {
            return Err(Error::Invalid("masked tunnel set"));
        }
        return validate_tunnel_set(t);
    }
    if let Some(v) = &k.ipv4 {
        if st.eth_type != et::IPV4 {
            return Err(Error::Invalid("set ipv4 on a non-IPv4 flow"));
        }
        match mask.and_then(|m| m.ipv4) {
            Some(m) if m.proto != 0 || m.frag != 0 => {
                return Err(Error::Invalid("ipv4 proto/frag not writable"))
            }
            Some(_) => {}
            None if masked => {}
            None => {
                if v.proto != st.ip_proto || v.frag != st.ip_frag {
                    return Err(Error::Invalid("ipv4 proto/frag not writable"));
                }
            }
        }
        return Ok(());
    }
    if let Some(v) = &k.ipv6 {
        if st.eth_type != et::IPV6 {
            return Err(Error::Invalid("set ipv6 on a non-IPv6 flow"));
        }
        match mask.and_then(|m| m.ipv6) {
            Some(m) => {
                if m.proto != 0 || m.frag != 0 {
                    return Err(Error::Invalid("ipv6 proto/frag not writable"));
                }
                if m.label & 0xfff0_0000 != 0 {
                    return Err(Error::Invalid("ipv6 label mask"));
                }
            }
            None if masked => {}
            None => {
                if v.proto != st.ip_proto || v.frag != st.ip_frag {
                    return Err(Error::Invalid("ipv6 proto/frag not writable"));
                }
            }
        }
        if v.label & 0xfff0_0000 != 0 {
            return Err(Error::Invalid("ipv6 label"));
        }
        return Ok(());
    }
    if k.tcp.is_some() {
        return ip_l4(6);
    }
    if k.udp.is_some() {
        return ip_l4(17);
    }
    if k.sctp.is_some() {
        return ip_l4(132);
    }
    if k.mpls.is_some() {
        return if is_mpls(st.eth_type) {
            Ok(())
        } else {
            Err(Error::Invalid("set mpls on a non-MPLS flow"))
        };
    }
    if k.nsh.is_some() {
        return if st.eth_type == et::NSH {
            Ok(())
        } else {
            Err(Error::Invalid("set nsh on a non-NSH flow"))
        };
    }
    Err(Error::Invalid("set of a non-writable field"))
}

fn validate_tunnel_set(t: &TunnelKey) -> Result<()> {
    let v4 = t.ipv4_src.is_some() || t.ipv4_dst.is_some();
    let v6 = t.ipv6_src.is_some() || t.ipv6_dst.is_some();
    if v4 && v6 {
        return Err(Error::Invalid("mixed IPv4 and IPv6 tunnel attributes"));
    }
    let dst = t.ipv4_dst.is_some_and(|a| !a.is_unspecified())
        || t.ipv6_dst.is_some_and(|a| !a.is_unspecified());
    if !dst {
        return Err(Error::Invalid("tunnel destination"));
    }
    if t.ttl.is_none() {
        return Err(Error::Invalid("tunnel TTL"));
    }
    Ok(())
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
