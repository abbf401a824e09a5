//! Flow keys and masks (`OVS_KEY_ATTR_*`, `include/uapi/linux/openvswitch.h`):
//! typed values, wire parse and emission in the kernel's order (that of
//! `__ovs_nla_put_key()` in `net/openvswitch/flow_netlink.c`).
//!
//! A [`FlowKey`] holds one `Option` per attribute; a mask uses the same type
//! ([`FlowMask`]) with mask values in the fields. Packet fields are stored in
//! host representation (`Ipv4Addr`, `u16` ports, …) and converted to network
//! order on the wire; metadata (priority, mark, ct_zone, …) is host order on
//! the wire too, as in the kernel.

use std::net::{Ipv4Addr, Ipv6Addr};

mod emit;
mod mask;
mod parse;
mod structs;

pub use structs::{
    ArpKey, CtTupleIpv4, CtTupleIpv6, EthernetKey, IcmpKey, Ipv4Key, Ipv6Key, KeyStruct, NdExtKey,
    NdKey, NshBase, NshMd1, PortsKey,
};

/// `OVS_KEY_ATTR_*` numbers (kernel numbering).
pub mod attr {
    #![allow(missing_docs)]
    pub const UNSPEC: u16 = 0;
    pub const ENCAP: u16 = 1;
    pub const PRIORITY: u16 = 2;
    pub const IN_PORT: u16 = 3;
    pub const ETHERNET: u16 = 4;
    pub const VLAN: u16 = 5;
    pub const ETHERTYPE: u16 = 6;
    pub const IPV4: u16 = 7;
    pub const IPV6: u16 = 8;
    pub const TCP: u16 = 9;
    pub const UDP: u16 = 10;
    pub const ICMP: u16 = 11;
    pub const ICMPV6: u16 = 12;
    pub const ARP: u16 = 13;
    pub const ND: u16 = 14;
    pub const SKB_MARK: u16 = 15;
    pub const TUNNEL: u16 = 16;
    pub const SCTP: u16 = 17;
    pub const TCP_FLAGS: u16 = 18;
    pub const DP_HASH: u16 = 19;
    pub const RECIRC_ID: u16 = 20;
    pub const MPLS: u16 = 21;
    pub const CT_STATE: u16 = 22;
    pub const CT_ZONE: u16 = 23;
    pub const CT_MARK: u16 = 24;
    pub const CT_LABELS: u16 = 25;
    pub const CT_ORIG_TUPLE_IPV4: u16 = 26;
    pub const CT_ORIG_TUPLE_IPV6: u16 = 27;
    pub const NSH: u16 = 28;
    /// Userspace-only (OVS); the kernel rejects it.
    pub const PACKET_TYPE: u16 = 29;
    /// Userspace-only (OVS); the kernel rejects it.
    pub const ND_EXTENSIONS: u16 = 30;
    /// Kernel-internal.
    pub const TUNNEL_INFO: u16 = 31;
    pub const IPV6_EXTHDRS: u16 = 32;
    /// Highest key attribute number.
    pub const MAX: u16 = 32;
}

/// `OVS_TUNNEL_KEY_ATTR_*` numbers (numbering starts at 0).
pub mod tun_attr {
    #![allow(missing_docs)]
    pub const ID: u16 = 0;
    pub const IPV4_SRC: u16 = 1;
    pub const IPV4_DST: u16 = 2;
    pub const TOS: u16 = 3;
    pub const TTL: u16 = 4;
    pub const DONT_FRAGMENT: u16 = 5;
    pub const CSUM: u16 = 6;
    pub const OAM: u16 = 7;
    pub const GENEVE_OPTS: u16 = 8;
    pub const TP_SRC: u16 = 9;
    pub const TP_DST: u16 = 10;
    pub const VXLAN_OPTS: u16 = 11;
    pub const IPV6_SRC: u16 = 12;
    pub const IPV6_DST: u16 = 13;
    pub const PAD: u16 = 14;
    pub const ERSPAN_OPTS: u16 = 15;
    /// Kernel meaning of 16 (userspace's GTPU_OPTS collides).
    pub const IPV4_INFO_BRIDGE: u16 = 16;
    pub const MAX: u16 = 16;
}

/// `OVS_NSH_KEY_ATTR_*` numbers.
pub mod nsh_attr {
    #![allow(missing_docs)]
    pub const BASE: u16 = 1;
    pub const MD1: u16 = 2;
    pub const MD2: u16 = 3;
}

/// `OVS_VXLAN_EXT_GBP` inside `VXLAN_OPTS`.
pub const OVS_VXLAN_EXT_GBP: u16 = 1;

/// `OVS_FRAG_TYPE_*`.
pub mod frag {
    #![allow(missing_docs)]
    pub const NONE: u8 = 0;
    pub const FIRST: u8 = 1;
    pub const LATER: u8 = 2;
}

/// `OVS_CS_F_*` conntrack state bits.
pub mod ct_state {
    #![allow(missing_docs)]
    pub const NEW: u32 = 0x01;
    pub const ESTABLISHED: u32 = 0x02;
    pub const RELATED: u32 = 0x04;
    pub const REPLY_DIR: u32 = 0x08;
    pub const INVALID: u32 = 0x10;
    pub const TRACKED: u32 = 0x20;
    pub const SRC_NAT: u32 = 0x40;
    pub const DST_NAT: u32 = 0x80;
    /// All bits the kernel supports.
    pub const SUPPORTED: u32 = 0xff;
}

/// Well-known ethertypes used by the validation rules.
pub mod eth_type {
    #![allow(missing_docs)]
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MCAST: u16 = 0x8848;
    pub const NSH: u16 = 0x894f;
    /// Internal 802.2 marker (key without ETHERTYPE).
    pub const ETH_P_802_2: u16 = 0x0004;
}

/// The NSH key nest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NshKey {
    /// Base header.
    pub base: Option<NshBase>,
    /// MD type 1 context.
    pub md1: Option<NshMd1>,
    /// MD type 2 TLVs (raw).
    pub md2: Option<Vec<u8>>,
}

/// `OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS` nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VxlanOpts {
    /// `OVS_VXLAN_EXT_GBP` (host-order u32).
    pub gbp: Option<u32>,
}

/// The tunnel key nest (`OVS_TUNNEL_KEY_ATTR_*`). In a mask, flags set mean
/// "this flag bit is matched".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TunnelKey {
    /// Tunnel id (be64 on the wire; also means the "key" flag).
    pub id: Option<u64>,
    /// IPv4 source.
    pub ipv4_src: Option<Ipv4Addr>,
    /// IPv4 destination.
    pub ipv4_dst: Option<Ipv4Addr>,
    /// IPv6 source.
    pub ipv6_src: Option<Ipv6Addr>,
    /// IPv6 destination.
    pub ipv6_dst: Option<Ipv6Addr>,
    /// TOS.
    pub tos: Option<u8>,
    /// TTL.
    pub ttl: Option<u8>,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// Checksum flag.
    pub csum: bool,
    /// OAM flag.
    pub oam: bool,
    /// Raw Geneve option TLVs.
    pub geneve_opts: Option<Vec<u8>>,
    /// UDP source port.
    pub tp_src: Option<u16>,
    /// UDP destination port.
    pub tp_dst: Option<u16>,
    /// VXLAN extension options.
    pub vxlan_opts: Option<VxlanOpts>,
    /// Raw `struct erspan_metadata`.
    pub erspan_opts: Option<Vec<u8>>,
    /// Kernel `IPV4_INFO_BRIDGE` flag.
    pub ipv4_info_bridge: bool,
}

/// A flow key (or, as [`FlowMask`], a mask): one optional value per
/// `OVS_KEY_ATTR_*`. For 802.1Q frames `eth_type` is the TPID, `vlan` the TCI
/// and `encap` the inner key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// `ENCAP`: attributes after a VLAN tag.
    pub encap: Option<Box<FlowKey>>,
    /// `PRIORITY` (skb priority).
    pub priority: Option<u32>,
    /// `IN_PORT`.
    pub in_port: Option<u32>,
    /// `ETHERNET`.
    pub ethernet: Option<EthernetKey>,
    /// `VLAN` TCI (host value of the be16 field).
    pub vlan: Option<u16>,
    /// `ETHERTYPE`.
    pub eth_type: Option<u16>,
    /// `IPV4`.
    pub ipv4: Option<Ipv4Key>,
    /// `IPV6`.
    pub ipv6: Option<Ipv6Key>,
    /// `TCP`.
    pub tcp: Option<PortsKey>,
    /// `UDP`.
    pub udp: Option<PortsKey>,
    /// `ICMP`.
    pub icmp: Option<IcmpKey>,
    /// `ICMPV6`.
    pub icmpv6: Option<IcmpKey>,
    /// `ARP`.
    pub arp: Option<ArpKey>,
    /// `ND`.
    pub nd: Option<NdKey>,
    /// `SKB_MARK`.
    pub skb_mark: Option<u32>,
    /// `TUNNEL`.
    pub tunnel: Option<TunnelKey>,
    /// `SCTP`.
    pub sctp: Option<PortsKey>,
    /// `TCP_FLAGS` (be16 on the wire).
    pub tcp_flags: Option<u16>,
    /// `DP_HASH`.
    pub dp_hash: Option<u32>,
    /// `RECIRC_ID`.
    pub recirc_id: Option<u32>,
    /// `MPLS`: label stack entries, outermost first.
    pub mpls: Option<Vec<u32>>,
    /// `CT_STATE`.
    pub ct_state: Option<u32>,
    /// `CT_ZONE`.
    pub ct_zone: Option<u16>,
    /// `CT_MARK`.
    pub ct_mark: Option<u32>,
    /// `CT_LABELS` (raw bytes).
    pub ct_labels: Option<[u8; 16]>,
    /// `CT_ORIG_TUPLE_IPV4`.
    pub ct_orig_tuple_ipv4: Option<CtTupleIpv4>,
    /// `CT_ORIG_TUPLE_IPV6`.
    pub ct_orig_tuple_ipv6: Option<CtTupleIpv6>,
    /// `NSH`.
    pub nsh: Option<NshKey>,
    /// `PACKET_TYPE` (userspace only).
    pub packet_type: Option<u32>,
    /// `ND_EXTENSIONS` (userspace only).
    pub nd_extensions: Option<NdExtKey>,
    /// `IPV6_EXTHDRS` (host-order u16 bits).
    pub ipv6_exthdrs: Option<u16>,
}

/// A mask has the same shape as a key.
pub type FlowMask = FlowKey;

/// Maximum ENCAP depth the kernel parses (two VLAN tags).
pub const MAX_ENCAP_DEPTH: usize = 2;

impl FlowKey {
    /// True when no attribute is present.
    pub fn is_empty(&self) -> bool {
        *self == FlowKey::default()
    }

    /// The innermost key level (following ENCAP nests).
    pub fn innermost(&self) -> &FlowKey {
        let mut k = self;
        while let Some(e) = &k.encap {
            k = e;
        }
        k
    }
}
