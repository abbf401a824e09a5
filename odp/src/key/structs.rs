//! The fixed-size key attributes (`struct ovs_key_*` and the NSH base and
//! MD1 structs): their fields and wire layout, behind [`KeyStruct`].

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

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
pub(super) fn be32(b: &[u8], o: usize) -> u32 {
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
