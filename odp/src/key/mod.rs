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

use crate::error::{Error, Result};
use crate::nl::{attrs, Attr, AttrWriter};

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

fn ip4(b: &[u8], o: usize) -> Ipv4Addr {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    Ipv4Addr::from(a)
}
fn ip6(b: &[u8], o: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[o..o + 16]);
    Ipv6Addr::from(a)
}
fn mac(b: &[u8], o: usize) -> [u8; 6] {
    let mut a = [0u8; 6];
    a.copy_from_slice(&b[o..o + 6]);
    a
}
fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// A fixed-size key struct with a defined wire layout.
pub trait KeyStruct: Sized + Clone + Default + PartialEq {
    /// Size on the wire.
    const LEN: usize;
    /// Attribute name for errors.
    const NAME: &'static str;
    /// Decode from exactly `LEN` bytes (caller checked the length).
    fn decode(b: &[u8]) -> Self;
    /// Encode to `LEN` bytes appended to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Parse an attribute payload, checking its length.
    fn parse(b: &[u8]) -> Result<Self> {
        if b.len() != Self::LEN {
            return Err(Error::BadLength {
                what: Self::NAME,
                len: b.len(),
            });
        }
        Ok(Self::decode(b))
    }
    /// Wire length (`LEN`), for emitters.
    fn wire_len(&self) -> usize {
        Self::LEN
    }
    /// Wire bytes.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        self.encode(&mut v);
        v
    }
    /// Bitwise AND with a mask of the same shape.
    fn and(&self, mask: &Self) -> Self {
        let a = self.to_bytes();
        let m = mask.to_bytes();
        let v: Vec<u8> = a.iter().zip(m.iter()).map(|(x, y)| x & y).collect();
        Self::decode(&v)
    }
    /// All bits of the wire form are zero.
    fn is_zero(&self) -> bool {
        self.to_bytes().iter().all(|&b| b == 0)
    }
    /// All bits set (an exact mask).
    fn ones() -> Self {
        Self::decode(&vec![0xff; Self::LEN])
    }
}

macro_rules! key_struct {
    ($t:ident, $len:expr, $name:expr, |$b:ident| $dec:expr, |$s:ident, $o:ident| $enc:block) => {
        impl KeyStruct for $t {
            const LEN: usize = $len;
            const NAME: &'static str = $name;
            fn decode($b: &[u8]) -> Self {
                $dec
            }
            fn encode(&self, $o: &mut Vec<u8>) {
                let $s = self;
                $enc
            }
        }
    };
}

/// `struct ovs_key_ethernet` (source first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EthernetKey {
    /// Source MAC.
    pub src: [u8; 6],
    /// Destination MAC.
    pub dst: [u8; 6],
}
key_struct!(
    EthernetKey,
    12,
    "ethernet",
    |b| EthernetKey {
        src: mac(b, 0),
        dst: mac(b, 6)
    },
    |s, o| {
        o.extend_from_slice(&s.src);
        o.extend_from_slice(&s.dst);
    }
);

/// `struct ovs_key_ipv4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Key {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol.
    pub proto: u8,
    /// Whole TOS byte.
    pub tos: u8,
    /// TTL.
    pub ttl: u8,
    /// `OVS_FRAG_TYPE_*`.
    pub frag: u8,
}
impl Default for Ipv4Key {
    fn default() -> Self {
        Ipv4Key {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            proto: 0,
            tos: 0,
            ttl: 0,
            frag: 0,
        }
    }
}
key_struct!(
    Ipv4Key,
    12,
    "ipv4",
    |b| Ipv4Key {
        src: ip4(b, 0),
        dst: ip4(b, 4),
        proto: b[8],
        tos: b[9],
        ttl: b[10],
        frag: b[11]
    },
    |s, o| {
        o.extend_from_slice(&s.src.octets());
        o.extend_from_slice(&s.dst.octets());
        o.extend_from_slice(&[s.proto, s.tos, s.ttl, s.frag]);
    }
);

/// `struct ovs_key_ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Key {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Flow label (20 bits).
    pub label: u32,
    /// Final next header.
    pub proto: u8,
    /// Traffic class.
    pub tclass: u8,
    /// Hop limit.
    pub hlimit: u8,
    /// `OVS_FRAG_TYPE_*`.
    pub frag: u8,
}
impl Default for Ipv6Key {
    fn default() -> Self {
        Ipv6Key {
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::UNSPECIFIED,
            label: 0,
            proto: 0,
            tclass: 0,
            hlimit: 0,
            frag: 0,
        }
    }
}
key_struct!(
    Ipv6Key,
    40,
    "ipv6",
    |b| Ipv6Key {
        src: ip6(b, 0),
        dst: ip6(b, 16),
        label: be32(b, 32),
        proto: b[36],
        tclass: b[37],
        hlimit: b[38],
        frag: b[39]
    },
    |s, o| {
        o.extend_from_slice(&s.src.octets());
        o.extend_from_slice(&s.dst.octets());
        o.extend_from_slice(&s.label.to_be_bytes());
        o.extend_from_slice(&[s.proto, s.tclass, s.hlimit, s.frag]);
    }
);

/// `struct ovs_key_tcp` / `udp` / `sctp`: two be16 ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortsKey {
    /// Source port.
    pub src: u16,
    /// Destination port.
    pub dst: u16,
}
key_struct!(
    PortsKey,
    4,
    "ports",
    |b| PortsKey {
        src: be16(b, 0),
        dst: be16(b, 2)
    },
    |s, o| {
        o.extend_from_slice(&s.src.to_be_bytes());
        o.extend_from_slice(&s.dst.to_be_bytes());
    }
);

/// `struct ovs_key_icmp` / `icmpv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IcmpKey {
    /// Type.
    pub ty: u8,
    /// Code.
    pub code: u8,
}
key_struct!(
    IcmpKey,
    2,
    "icmp",
    |b| IcmpKey {
        ty: b[0],
        code: b[1]
    },
    |s, o| {
        o.extend_from_slice(&[s.ty, s.code]);
    }
);

/// `struct ovs_key_arp` (24 bytes with padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpKey {
    /// Sender IP.
    pub sip: Ipv4Addr,
    /// Target IP.
    pub tip: Ipv4Addr,
    /// Opcode (≤ 0xff in keys).
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Target hardware address.
    pub tha: [u8; 6],
}
impl Default for ArpKey {
    fn default() -> Self {
        ArpKey {
            sip: Ipv4Addr::UNSPECIFIED,
            tip: Ipv4Addr::UNSPECIFIED,
            op: 0,
            sha: [0; 6],
            tha: [0; 6],
        }
    }
}
key_struct!(
    ArpKey,
    24,
    "arp",
    |b| ArpKey {
        sip: ip4(b, 0),
        tip: ip4(b, 4),
        op: be16(b, 8),
        sha: mac(b, 10),
        tha: mac(b, 16)
    },
    |s, o| {
        o.extend_from_slice(&s.sip.octets());
        o.extend_from_slice(&s.tip.octets());
        o.extend_from_slice(&s.op.to_be_bytes());
        o.extend_from_slice(&s.sha);
        o.extend_from_slice(&s.tha);
        o.extend_from_slice(&[0, 0]);
    }
);

/// `struct ovs_key_nd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdKey {
    /// Target address.
    pub target: Ipv6Addr,
    /// Source link-layer address.
    pub sll: [u8; 6],
    /// Target link-layer address.
    pub tll: [u8; 6],
}
impl Default for NdKey {
    fn default() -> Self {
        NdKey {
            target: Ipv6Addr::UNSPECIFIED,
            sll: [0; 6],
            tll: [0; 6],
        }
    }
}
key_struct!(
    NdKey,
    28,
    "nd",
    |b| NdKey {
        target: ip6(b, 0),
        sll: mac(b, 16),
        tll: mac(b, 22)
    },
    |s, o| {
        o.extend_from_slice(&s.target.octets());
        o.extend_from_slice(&s.sll);
        o.extend_from_slice(&s.tll);
    }
);

/// `struct ovs_key_nd_extensions` (userspace only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdExtKey {
    /// Reserved field (be32).
    pub reserved: u32,
    /// Options type.
    pub options_type: u8,
}
key_struct!(
    NdExtKey,
    8,
    "nd_extensions",
    |b| NdExtKey {
        reserved: be32(b, 0),
        options_type: b[4]
    },
    |s, o| {
        o.extend_from_slice(&s.reserved.to_be_bytes());
        o.extend_from_slice(&[s.options_type, 0, 0, 0]);
    }
);

/// `struct ovs_key_ct_tuple_ipv4` (16 bytes with padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtTupleIpv4 {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Protocol.
    pub proto: u8,
}
impl Default for CtTupleIpv4 {
    fn default() -> Self {
        CtTupleIpv4 {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            src_port: 0,
            dst_port: 0,
            proto: 0,
        }
    }
}
key_struct!(
    CtTupleIpv4,
    16,
    "ct_tuple4",
    |b| CtTupleIpv4 {
        src: ip4(b, 0),
        dst: ip4(b, 4),
        src_port: be16(b, 8),
        dst_port: be16(b, 10),
        proto: b[12]
    },
    |s, o| {
        o.extend_from_slice(&s.src.octets());
        o.extend_from_slice(&s.dst.octets());
        o.extend_from_slice(&s.src_port.to_be_bytes());
        o.extend_from_slice(&s.dst_port.to_be_bytes());
        o.extend_from_slice(&[s.proto, 0, 0, 0]);
    }
);

/// `struct ovs_key_ct_tuple_ipv6` (40 bytes with padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtTupleIpv6 {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Protocol.
    pub proto: u8,
}
impl Default for CtTupleIpv6 {
    fn default() -> Self {
        CtTupleIpv6 {
            src: Ipv6Addr::UNSPECIFIED,
            dst: Ipv6Addr::UNSPECIFIED,
            src_port: 0,
            dst_port: 0,
            proto: 0,
        }
    }
}
key_struct!(
    CtTupleIpv6,
    40,
    "ct_tuple6",
    |b| CtTupleIpv6 {
        src: ip6(b, 0),
        dst: ip6(b, 16),
        src_port: be16(b, 32),
        dst_port: be16(b, 34),
        proto: b[36]
    },
    |s, o| {
        o.extend_from_slice(&s.src.octets());
        o.extend_from_slice(&s.dst.octets());
        o.extend_from_slice(&s.src_port.to_be_bytes());
        o.extend_from_slice(&s.dst_port.to_be_bytes());
        o.extend_from_slice(&[s.proto, 0, 0, 0]);
    }
);

/// `struct ovs_nsh_key_base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NshBase {
    /// Flags.
    pub flags: u8,
    /// TTL.
    pub ttl: u8,
    /// MD type.
    pub mdtype: u8,
    /// Next protocol.
    pub np: u8,
    /// Path header: SPI (upper 24 bits) and SI (low 8 bits).
    pub path_hdr: u32,
}
key_struct!(
    NshBase,
    8,
    "nsh base",
    |b| NshBase {
        flags: b[0],
        ttl: b[1],
        mdtype: b[2],
        np: b[3],
        path_hdr: be32(b, 4)
    },
    |s, o| {
        o.extend_from_slice(&[s.flags, s.ttl, s.mdtype, s.np]);
        o.extend_from_slice(&s.path_hdr.to_be_bytes());
    }
);

/// `struct ovs_nsh_key_md1`: four be32 context words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NshMd1 {
    /// Context headers c1..c4.
    pub context: [u32; 4],
}
key_struct!(
    NshMd1,
    16,
    "nsh md1",
    |b| NshMd1 {
        context: [be32(b, 0), be32(b, 4), be32(b, 8), be32(b, 12)]
    },
    |s, o| {
        for c in s.context {
            o.extend_from_slice(&c.to_be_bytes());
        }
    }
);

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

impl TunnelKey {
    /// Parse the nest payload.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        const W: &str = "tunnel key";
        let mut t = TunnelKey::default();
        let mut seen = 0u32;
        for a in attrs(payload) {
            let a = a?;
            if a.ty == tun_attr::PAD {
                continue;
            }
            if a.ty > tun_attr::MAX {
                return Err(Error::UnknownAttr { what: W, ty: a.ty });
            }
            if seen & (1 << a.ty) != 0 {
                return Err(Error::Duplicate { what: W, ty: a.ty });
            }
            seen |= 1 << a.ty;
            match a.ty {
                tun_attr::ID => t.id = Some(a.be64("tun_id")?),
                tun_attr::IPV4_SRC => t.ipv4_src = Some(Ipv4Addr::from(a.array::<4>("ipv4_src")?)),
                tun_attr::IPV4_DST => t.ipv4_dst = Some(Ipv4Addr::from(a.array::<4>("ipv4_dst")?)),
                tun_attr::IPV6_SRC => t.ipv6_src = Some(Ipv6Addr::from(a.array::<16>("ipv6_src")?)),
                tun_attr::IPV6_DST => t.ipv6_dst = Some(Ipv6Addr::from(a.array::<16>("ipv6_dst")?)),
                tun_attr::TOS => t.tos = Some(a.u8("tos")?),
                tun_attr::TTL => t.ttl = Some(a.u8("ttl")?),
                tun_attr::DONT_FRAGMENT => {
                    a.flag("dont_fragment")?;
                    t.dont_fragment = true
                }
                tun_attr::CSUM => {
                    a.flag("csum")?;
                    t.csum = true
                }
                tun_attr::OAM => {
                    a.flag("oam")?;
                    t.oam = true
                }
                tun_attr::GENEVE_OPTS => {
                    if a.payload.len() % 4 != 0 || a.payload.len() > 255 {
                        return Err(Error::BadLength {
                            what: "geneve_opts",
                            len: a.payload.len(),
                        });
                    }
                    t.geneve_opts = Some(a.payload.to_vec())
                }
                tun_attr::TP_SRC => t.tp_src = Some(a.be16("tp_src")?),
                tun_attr::TP_DST => t.tp_dst = Some(a.be16("tp_dst")?),
                tun_attr::VXLAN_OPTS => {
                    let mut v = VxlanOpts::default();
                    for n in a.nested() {
                        let n = n?;
                        match n.ty {
                            OVS_VXLAN_EXT_GBP => v.gbp = Some(n.u32("vxlan gbp")?),
                            ty => {
                                return Err(Error::UnknownAttr {
                                    what: "vxlan_opts",
                                    ty,
                                })
                            }
                        }
                    }
                    t.vxlan_opts = Some(v)
                }
                tun_attr::ERSPAN_OPTS => t.erspan_opts = Some(a.payload.to_vec()),
                tun_attr::IPV4_INFO_BRIDGE => {
                    a.flag("ipv4_info_bridge")?;
                    t.ipv4_info_bridge = true
                }
                ty => return Err(Error::UnknownAttr { what: W, ty }),
            }
        }
        Ok(t)
    }

    /// Emit the nest contents in the kernel's order (`ip_tun_to_nlattr`).
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        if let Some(id) = self.id {
            w.be64(tun_attr::ID, id);
        }
        if self.ipv4_info_bridge {
            // The kernel puts this flag right after the id (bridge-mode
            // tunnel info carries nothing else; other fields, if present,
            // still follow so decoding stays lossless).
            w.flag(tun_attr::IPV4_INFO_BRIDGE);
        }
        if let Some(a) = self.ipv4_src {
            w.put(tun_attr::IPV4_SRC, &a.octets());
        }
        if let Some(a) = self.ipv4_dst {
            w.put(tun_attr::IPV4_DST, &a.octets());
        }
        if let Some(a) = self.ipv6_src {
            w.put(tun_attr::IPV6_SRC, &a.octets());
        }
        if let Some(a) = self.ipv6_dst {
            w.put(tun_attr::IPV6_DST, &a.octets());
        }
        if let Some(v) = self.tos {
            w.u8(tun_attr::TOS, v);
        }
        if let Some(v) = self.ttl {
            w.u8(tun_attr::TTL, v);
        }
        if self.dont_fragment {
            w.flag(tun_attr::DONT_FRAGMENT);
        }
        if self.csum {
            w.flag(tun_attr::CSUM);
        }
        if let Some(v) = self.tp_src {
            w.be16(tun_attr::TP_SRC, v);
        }
        if let Some(v) = self.tp_dst {
            w.be16(tun_attr::TP_DST, v);
        }
        if self.oam {
            w.flag(tun_attr::OAM);
        }
        if let Some(g) = &self.geneve_opts {
            w.put(tun_attr::GENEVE_OPTS, g);
        }
        if let Some(v) = &self.vxlan_opts {
            w.nest(tun_attr::VXLAN_OPTS, |w| {
                if let Some(g) = v.gbp {
                    w.u32(OVS_VXLAN_EXT_GBP, g);
                }
            });
        }
        if let Some(e) = &self.erspan_opts {
            w.put(tun_attr::ERSPAN_OPTS, e);
        }
    }

    /// Field-wise AND with a mask (absent mask fields wildcard the key's).
    pub fn and(&self, m: &TunnelKey) -> TunnelKey {
        fn o<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(f(x, y)),
                _ => None,
            }
        }
        let and_bytes = |a: &Option<Vec<u8>>, b: &Option<Vec<u8>>| match (a, b) {
            (Some(x), Some(y)) => Some(
                x.iter()
                    .zip(y.iter().chain(std::iter::repeat(&0)))
                    .map(|(p, q)| p & q)
                    .collect(),
            ),
            _ => None,
        };
        TunnelKey {
            id: o(self.id, m.id, |a, b| a & b),
            ipv4_src: o(self.ipv4_src, m.ipv4_src, |a, b| {
                Ipv4Addr::from(u32::from(a) & u32::from(b))
            }),
            ipv4_dst: o(self.ipv4_dst, m.ipv4_dst, |a, b| {
                Ipv4Addr::from(u32::from(a) & u32::from(b))
            }),
            ipv6_src: o(self.ipv6_src, m.ipv6_src, |a, b| {
                Ipv6Addr::from(u128::from(a) & u128::from(b))
            }),
            ipv6_dst: o(self.ipv6_dst, m.ipv6_dst, |a, b| {
                Ipv6Addr::from(u128::from(a) & u128::from(b))
            }),
            tos: o(self.tos, m.tos, |a, b| a & b),
            ttl: o(self.ttl, m.ttl, |a, b| a & b),
            dont_fragment: self.dont_fragment && m.dont_fragment,
            csum: self.csum && m.csum,
            oam: self.oam && m.oam,
            geneve_opts: and_bytes(&self.geneve_opts, &m.geneve_opts),
            tp_src: o(self.tp_src, m.tp_src, |a, b| a & b),
            tp_dst: o(self.tp_dst, m.tp_dst, |a, b| a & b),
            vxlan_opts: match (&self.vxlan_opts, &m.vxlan_opts) {
                (Some(a), Some(b)) => Some(VxlanOpts {
                    gbp: o(a.gbp, b.gbp, |x, y| x & y),
                }),
                _ => None,
            },
            erspan_opts: and_bytes(&self.erspan_opts, &m.erspan_opts),
            ipv4_info_bridge: self.ipv4_info_bridge && m.ipv4_info_bridge,
        }
    }
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

fn parse_nsh(payload: &[u8], masked: bool) -> Result<(NshKey, Option<NshKey>)> {
    let mut k = NshKey::default();
    let mut m = NshKey::default();
    let mut seen = 0u8;
    for a in attrs(payload) {
        let a = a?;
        if a.ty == 0 || a.ty > nsh_attr::MD2 {
            return Err(Error::UnknownAttr {
                what: "nsh",
                ty: a.ty,
            });
        }
        if seen & (1 << a.ty) != 0 {
            return Err(Error::Duplicate {
                what: "nsh",
                ty: a.ty,
            });
        }
        seen |= 1 << a.ty;
        let p = a.payload;
        match a.ty {
            nsh_attr::BASE => {
                if masked {
                    if p.len() != 2 * NshBase::LEN {
                        return Err(Error::BadLength {
                            what: "nsh base",
                            len: p.len(),
                        });
                    }
                    k.base = Some(NshBase::decode(&p[..8]));
                    m.base = Some(NshBase::decode(&p[8..]));
                } else {
                    k.base = Some(NshBase::parse(p)?);
                }
            }
            nsh_attr::MD1 => {
                if masked {
                    if p.len() != 2 * NshMd1::LEN {
                        return Err(Error::BadLength {
                            what: "nsh md1",
                            len: p.len(),
                        });
                    }
                    k.md1 = Some(NshMd1::decode(&p[..16]));
                    m.md1 = Some(NshMd1::decode(&p[16..]));
                } else {
                    k.md1 = Some(NshMd1::parse(p)?);
                }
            }
            _ => {
                if masked {
                    if p.len() % 2 != 0 {
                        return Err(Error::BadLength {
                            what: "nsh md2",
                            len: p.len(),
                        });
                    }
                    let h = p.len() / 2;
                    k.md2 = Some(p[..h].to_vec());
                    m.md2 = Some(p[h..].to_vec());
                } else {
                    k.md2 = Some(p.to_vec());
                }
            }
        }
    }
    Ok((k, masked.then_some(m)))
}

impl NshKey {
    /// Parse an NSH nest.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        Ok(parse_nsh(payload, false)?.0)
    }
    /// Parse a masked NSH nest (value ‖ mask in each attribute, SET_MASKED).
    pub fn parse_masked(payload: &[u8]) -> Result<(Self, Self)> {
        let (k, m) = parse_nsh(payload, true)?;
        Ok((k, m.unwrap_or_default()))
    }
    /// Emit the nest contents.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        if let Some(b) = &self.base {
            w.put(nsh_attr::BASE, &b.to_bytes());
        }
        if let Some(b) = &self.md1 {
            w.put(nsh_attr::MD1, &b.to_bytes());
        }
        if let Some(b) = &self.md2 {
            w.put(nsh_attr::MD2, b);
        }
    }
    /// Emit value ‖ mask per attribute (SET_MASKED form).
    pub fn emit_masked(&self, mask: &NshKey, w: &mut AttrWriter<'_>) {
        if let Some(b) = &self.base {
            let mut v = b.to_bytes();
            v.extend(mask.base.unwrap_or_default().to_bytes());
            w.put(nsh_attr::BASE, &v);
        }
        if let Some(b) = &self.md1 {
            let mut v = b.to_bytes();
            v.extend(mask.md1.unwrap_or_default().to_bytes());
            w.put(nsh_attr::MD1, &v);
        }
        if let Some(b) = &self.md2 {
            let mut v = b.clone();
            let m = mask.md2.clone().unwrap_or_default();
            v.extend((0..b.len()).map(|i| m.get(i).copied().unwrap_or(0)));
            w.put(nsh_attr::MD2, &v);
        }
    }
    fn and(&self, m: &NshKey) -> NshKey {
        NshKey {
            base: match (&self.base, &m.base) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            md1: match (&self.md1, &m.md1) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            md2: match (&self.md2, &m.md2) {
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .zip(b.iter().chain(std::iter::repeat(&0)))
                        .map(|(x, y)| x & y)
                        .collect(),
                ),
                _ => None,
            },
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, ty: u16) -> Result<()> {
    if slot.is_some() {
        return Err(Error::Duplicate {
            what: "flow key",
            ty,
        });
    }
    *slot = Some(v);
    Ok(())
}

impl FlowKey {
    /// Parse a KEY or MASK nest payload. Checks types, lengths, duplicates
    /// and ENCAP depth; semantic rules are in [`crate::validate`].
    pub fn parse(payload: &[u8]) -> Result<Self> {
        Self::parse_depth(payload, 0)
    }

    fn parse_depth(payload: &[u8], depth: usize) -> Result<Self> {
        let mut k = FlowKey::default();
        for a in attrs(payload) {
            let a = a?;
            k.parse_one(&a, depth)?;
        }
        Ok(k)
    }

    /// Parse a single key attribute into this key (used for SET actions).
    pub fn parse_one(&mut self, a: &Attr<'_>, depth: usize) -> Result<()> {
        use attr::*;
        let p = a.payload;
        let ty = a.ty;
        match ty {
            ENCAP => {
                if depth >= MAX_ENCAP_DEPTH {
                    return Err(Error::Invalid("encap nesting"));
                }
                let inner = FlowKey::parse_depth(p, depth + 1)?;
                set_once(&mut self.encap, Box::new(inner), ty)
            }
            PRIORITY => set_once(&mut self.priority, a.u32("priority")?, ty),
            IN_PORT => set_once(&mut self.in_port, a.u32("in_port")?, ty),
            ETHERNET => set_once(&mut self.ethernet, EthernetKey::parse(p)?, ty),
            VLAN => set_once(&mut self.vlan, a.be16("vlan")?, ty),
            ETHERTYPE => set_once(&mut self.eth_type, a.be16("eth_type")?, ty),
            IPV4 => set_once(&mut self.ipv4, Ipv4Key::parse(p)?, ty),
            IPV6 => set_once(&mut self.ipv6, Ipv6Key::parse(p)?, ty),
            TCP => set_once(&mut self.tcp, PortsKey::parse(p)?, ty),
            UDP => set_once(&mut self.udp, PortsKey::parse(p)?, ty),
            SCTP => set_once(&mut self.sctp, PortsKey::parse(p)?, ty),
            ICMP => set_once(&mut self.icmp, IcmpKey::parse(p)?, ty),
            ICMPV6 => set_once(&mut self.icmpv6, IcmpKey::parse(p)?, ty),
            ARP => set_once(&mut self.arp, ArpKey::parse(p)?, ty),
            ND => set_once(&mut self.nd, NdKey::parse(p)?, ty),
            SKB_MARK => set_once(&mut self.skb_mark, a.u32("skb_mark")?, ty),
            TUNNEL => set_once(&mut self.tunnel, TunnelKey::parse(p)?, ty),
            TCP_FLAGS => set_once(&mut self.tcp_flags, a.be16("tcp_flags")?, ty),
            DP_HASH => set_once(&mut self.dp_hash, a.u32("dp_hash")?, ty),
            RECIRC_ID => set_once(&mut self.recirc_id, a.u32("recirc_id")?, ty),
            MPLS => {
                if p.is_empty() || p.len() % 4 != 0 || p.len() > 12 {
                    return Err(Error::BadLength {
                        what: "mpls",
                        len: p.len(),
                    });
                }
                let v = p.chunks_exact(4).map(|c| be32(c, 0)).collect();
                set_once(&mut self.mpls, v, ty)
            }
            CT_STATE => set_once(&mut self.ct_state, a.u32("ct_state")?, ty),
            CT_ZONE => set_once(&mut self.ct_zone, a.u16("ct_zone")?, ty),
            CT_MARK => set_once(&mut self.ct_mark, a.u32("ct_mark")?, ty),
            CT_LABELS => set_once(&mut self.ct_labels, a.array::<16>("ct_labels")?, ty),
            CT_ORIG_TUPLE_IPV4 => {
                set_once(&mut self.ct_orig_tuple_ipv4, CtTupleIpv4::parse(p)?, ty)
            }
            CT_ORIG_TUPLE_IPV6 => {
                set_once(&mut self.ct_orig_tuple_ipv6, CtTupleIpv6::parse(p)?, ty)
            }
            NSH => set_once(&mut self.nsh, NshKey::parse(p)?, ty),
            PACKET_TYPE => set_once(&mut self.packet_type, a.be32("packet_type")?, ty),
            ND_EXTENSIONS => set_once(&mut self.nd_extensions, NdExtKey::parse(p)?, ty),
            IPV6_EXTHDRS => set_once(&mut self.ipv6_exthdrs, a.u16("ipv6_exthdrs")?, ty),
            _ => Err(Error::UnknownAttr {
                what: "flow key",
                ty,
            }),
        }
    }

    /// Emit the attributes in the kernel's order (`__ovs_nla_put_key()` in
    /// `net/openvswitch/flow_netlink.c`), without an outer nest.
    pub fn emit(&self, w: &mut AttrWriter<'_>) {
        use attr::*;
        if let Some(v) = self.recirc_id {
            w.u32(RECIRC_ID, v);
        }
        if let Some(v) = self.dp_hash {
            w.u32(DP_HASH, v);
        }
        if let Some(v) = self.priority {
            w.u32(PRIORITY, v);
        }
        if let Some(t) = &self.tunnel {
            w.nest(TUNNEL, |w| t.emit(w));
        }
        if let Some(v) = self.in_port {
            w.u32(IN_PORT, v);
        }
        if let Some(v) = self.skb_mark {
            w.u32(SKB_MARK, v);
        }
        if let Some(v) = self.ct_state {
            w.u32(CT_STATE, v);
        }
        if let Some(v) = self.ct_zone {
            w.u16(CT_ZONE, v);
        }
        if let Some(v) = self.ct_mark {
            w.u32(CT_MARK, v);
        }
        if let Some(v) = &self.ct_labels {
            w.put(CT_LABELS, v);
        }
        if let Some(v) = &self.ct_orig_tuple_ipv4 {
            w.put_with(CT_ORIG_TUPLE_IPV4, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.ct_orig_tuple_ipv6 {
            w.put_with(CT_ORIG_TUPLE_IPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.packet_type {
            w.be32(PACKET_TYPE, v);
        }
        if let Some(v) = &self.ethernet {
            w.put_with(ETHERNET, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.eth_type {
            w.be16(ETHERTYPE, v);
        }
        if let Some(v) = self.vlan {
            w.be16(VLAN, v);
        }
        if let Some(e) = &self.encap {
            w.nest(ENCAP, |w| e.emit(w));
        }
        if let Some(v) = &self.ipv4 {
            w.put_with(IPV4, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.ipv6 {
            w.put_with(IPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.ipv6_exthdrs {
            w.u16(IPV6_EXTHDRS, v);
        }
        if let Some(v) = &self.nsh {
            w.nest(NSH, |w| v.emit(w));
        }
        if let Some(v) = &self.arp {
            w.put_with(ARP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.mpls {
            w.put_with(MPLS, v.len() * 4, |b| {
                for l in v {
                    b.extend_from_slice(&l.to_be_bytes());
                }
            });
        }
        if let Some(v) = &self.tcp {
            w.put_with(TCP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = self.tcp_flags {
            w.be16(TCP_FLAGS, v);
        }
        if let Some(v) = &self.udp {
            w.put_with(UDP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.sctp {
            w.put_with(SCTP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.icmp {
            w.put_with(ICMP, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.icmpv6 {
            w.put_with(ICMPV6, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.nd {
            w.put_with(ND, v.wire_len(), |b| v.encode(b));
        }
        if let Some(v) = &self.nd_extensions {
            w.put_with(ND_EXTENSIONS, v.wire_len(), |b| v.encode(b));
        }
    }

    /// Emit into a fresh byte vector (attributes only).
    ///
    /// An attribute over 65535 bytes cannot be encoded and is written with
    /// `nla_len` 0. That happens only when the whole result is over 65535
    /// bytes, so putting it into an attribute fails with `EMSGSIZE`
    /// ([`Error::TooLarge`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let mut w = AttrWriter::new(&mut v);
        self.emit(&mut w);
        v
    }

    /// True when no attribute is present.
    pub fn is_empty(&self) -> bool {
        *self == FlowKey::default()
    }

    /// Field-wise `self & mask`; attributes absent from the mask are
    /// dropped (they are wildcarded).
    pub fn and(&self, m: &FlowMask) -> FlowKey {
        fn s<T: KeyStruct>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.and(y)),
                _ => None,
            }
        }
        fn n<T: Copy + core::ops::BitAnd<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x & y),
                _ => None,
            }
        }
        FlowKey {
            encap: match (&self.encap, &m.encap) {
                (Some(a), Some(b)) => Some(Box::new(a.and(b))),
                _ => None,
            },
            priority: n(self.priority, m.priority),
            in_port: n(self.in_port, m.in_port),
            ethernet: s(&self.ethernet, &m.ethernet),
            vlan: n(self.vlan, m.vlan),
            eth_type: n(self.eth_type, m.eth_type),
            ipv4: s(&self.ipv4, &m.ipv4),
            ipv6: s(&self.ipv6, &m.ipv6),
            tcp: s(&self.tcp, &m.tcp),
            udp: s(&self.udp, &m.udp),
            icmp: s(&self.icmp, &m.icmp),
            icmpv6: s(&self.icmpv6, &m.icmpv6),
            arp: s(&self.arp, &m.arp),
            nd: s(&self.nd, &m.nd),
            skb_mark: n(self.skb_mark, m.skb_mark),
            tunnel: match (&self.tunnel, &m.tunnel) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            sctp: s(&self.sctp, &m.sctp),
            tcp_flags: n(self.tcp_flags, m.tcp_flags),
            dp_hash: n(self.dp_hash, m.dp_hash),
            recirc_id: n(self.recirc_id, m.recirc_id),
            mpls: match (&self.mpls, &m.mpls) {
                (Some(a), Some(b)) => Some(
                    a.iter()
                        .zip(b.iter().chain(std::iter::repeat(&0)))
                        .map(|(x, y)| x & y)
                        .collect(),
                ),
                _ => None,
            },
            ct_state: n(self.ct_state, m.ct_state),
            ct_zone: n(self.ct_zone, m.ct_zone),
            ct_mark: n(self.ct_mark, m.ct_mark),
            ct_labels: match (&self.ct_labels, &m.ct_labels) {
                (Some(a), Some(b)) => {
                    let mut r = [0u8; 16];
                    for i in 0..16 {
                        r[i] = a[i] & b[i];
                    }
                    Some(r)
                }
                _ => None,
            },
            ct_orig_tuple_ipv4: s(&self.ct_orig_tuple_ipv4, &m.ct_orig_tuple_ipv4),
            ct_orig_tuple_ipv6: s(&self.ct_orig_tuple_ipv6, &m.ct_orig_tuple_ipv6),
            nsh: match (&self.nsh, &m.nsh) {
                (Some(a), Some(b)) => Some(a.and(b)),
                _ => None,
            },
            packet_type: n(self.packet_type, m.packet_type),
            nd_extensions: s(&self.nd_extensions, &m.nd_extensions),
            ipv6_exthdrs: n(self.ipv6_exthdrs, m.ipv6_exthdrs),
        }
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
