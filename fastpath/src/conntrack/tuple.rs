//! Connection tuples: what identifies a connection in one direction (the kernel's
//! `struct nf_conntrack_tuple` plus the zone, `nf_ct_get_tuple()`), their inversion
//! (`nf_ct_invert_tuple()`), the tuple an ICMP error quotes, and the original-direction
//! tuple as flow keys carry it (`OVS_KEY_ATTR_CT_ORIG_TUPLE_*`).

use crate::flow::key::{FlowKey, FRAG_NONE};
use crate::packet::parse::CtMeta;

use super::icmp::{self, Kind};

/// IP protocol numbers the tracker tells apart.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP (tracked by its ports, as OVS's userspace tracker does).
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
    /// DCCP.
    pub const DCCP: u8 = 33;
}

/// The address family of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: addresses in the low 32 bits.
    V4,
    /// IPv6.
    V6,
}

/// A connection's identity in one direction.
///
/// For protocols with ports, `src_port`/`dst_port` are the ports. For ICMP and ICMPv6
/// queries `src_port` is the identifier and `dst_port` is `type << 8 | code`, as the
/// kernel keys them (`src.u.icmp.id`, `dst.u.icmp.{type,code}`). Other protocols have 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Conntrack zone.
    pub zone: u16,
    /// IPv4 or IPv6.
    pub family: Family,
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol.
    pub proto: u8,
    /// Source port, or ICMP identifier.
    pub src_port: u16,
    /// Destination port, or ICMP `type << 8 | code`.
    pub dst_port: u16,
}

/// Why a packet has no tuple of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoTuple {
    /// Not IPv4 or IPv6.
    #[error("not an IP packet")]
    NotIp,
    /// An IP fragment: reassembly comes first.
    #[error("IP fragment")]
    Fragment,
    /// The transport header is shorter than the tracker needs.
    #[error("truncated transport header")]
    Truncated,
    /// An ICMP type that never belongs to a connection of its own (an error, or one the
    /// tracker does not pair); errors are related to the connection they quote instead.
    #[error("ICMP type without a connection of its own")]
    Icmp,
}

fn has_ports(p: u8) -> bool {
    matches!(
        p,
        proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE | proto::DCCP
    )
}

impl Tuple {
    /// The tuple of a packet whose flow key is `key` (as extracted, before any `ct`) in
    /// `zone`; `l4` is its transport header onwards (the ICMP identifier is read from it).
    ///
    /// # Errors
    /// [`NoTuple`]: not IP, a fragment, a truncated transport header, or an ICMP type that
    /// does not start or answer a query.
    pub fn of_packet(key: &FlowKey, zone: u16, l4: &[u8]) -> Result<Tuple, NoTuple> {
        let (family, src, dst) = match key.eth_type() {
            0x0800 => (
                Family::V4,
                u128::from(key.ipv4_src()),
                u128::from(key.ipv4_dst()),
            ),
            0x86dd => (Family::V6, key.ipv6_src(), key.ipv6_dst()),
            _ => return Err(NoTuple::NotIp),
        };
        if key.ip_frag() != FRAG_NONE {
            return Err(NoTuple::Fragment);
        }
        let p = key.ip_proto();
        let ids = transport_ids(family, p, l4)?;
        // Ports as the key has them (the key is what flows matched the packet on).
        let (src_port, dst_port) = if has_ports(p) {
            (key.tp_src(), key.tp_dst())
        } else {
            ids
        };
        Ok(Tuple {
            zone,
            family,
            src,
            dst,
            proto: p,
            src_port,
            dst_port,
        })
    }

    /// The tuple of an unfragmented IP packet as it is now: `l3` is its IP header onwards,
    /// `l4` its transport header onwards, `p` the transport protocol, in `zone`.
    ///
    /// # Errors
    /// [`NoTuple`]: a header too short, or an ICMP type without a connection of its own.
    pub fn of_ip(family: Family, l3: &[u8], l4: &[u8], p: u8, zone: u16) -> Result<Tuple, NoTuple> {
        let addr = |o: usize, n: usize| -> Result<u128, NoTuple> {
            let b = l3.get(o..o + n).ok_or(NoTuple::Truncated)?;
            Ok(b.iter().fold(0u128, |a, &x| a << 8 | u128::from(x)))
        };
        let (src, dst) = match family {
            Family::V4 => (addr(12, 4)?, addr(16, 4)?),
            Family::V6 => (addr(8, 16)?, addr(24, 16)?),
        };
        let (src_port, dst_port) = transport_ids(family, p, l4)?;
        Ok(Tuple {
            zone,
            family,
            src,
            dst,
            proto: p,
            src_port,
            dst_port,
        })
    }

    /// The tuple of the other direction (`nf_ct_invert_tuple()`): addresses and ports
    /// swapped; for ICMP the paired query type. `None` for an ICMP type without a pair.
    pub fn invert(&self) -> Option<Tuple> {
        let mut t = Tuple {
            src: self.dst,
            dst: self.src,
            ..*self
        };
        if is_icmp(self.family, self.proto) {
            let ty = (self.dst_port >> 8) as u8;
            let code = self.dst_port & 0xff;
            let other = match kind(self.family, ty) {
                Kind::Request { reply } => reply,
                Kind::Reply { request } => request,
                Kind::Error | Kind::Other => return None,
            };
            t.dst_port = u16::from(other) << 8 | code;
        } else {
            t.src_port = self.dst_port;
            t.dst_port = self.src_port;
        }
        Some(t)
    }

    /// Whether this is an ICMP or ICMPv6 query's tuple.
    pub fn is_icmp(&self) -> bool {
        is_icmp(self.family, self.proto)
    }

    /// A 64-bit hash of every field, mixed with `seed`.
    pub fn hash(&self, seed: u64) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(K).rotate_left(29);
        let fam = match self.family {
            Family::V4 => 4,
            Family::V6 => 6,
        };
        let mut h = mix(
            seed,
            u64::from(self.zone) << 32 | fam << 8 | u64::from(self.proto),
        );
        // Every address word goes through the keyed mix (no folding first, which would let
        // colliding tuples be built without the seed); IPv4's two fit one word.
        // Splitting the 128-bit addresses into their halves: the truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        match self.family {
            Family::V4 => h = mix(h, (self.src as u64) << 32 | self.dst as u64),
            Family::V6 => {
                for v in [
                    self.src as u64,
                    (self.src >> 64) as u64,
                    self.dst as u64,
                    (self.dst >> 64) as u64,
                ] {
                    h = mix(h, v);
                }
            }
        }
        h = mix(h, u64::from(self.src_port) << 16 | u64::from(self.dst_port));
        h ^ (h >> 31)
    }

    /// Writes this tuple, taken as a connection's original direction, into `key`'s
    /// `ct_orig_*` fields as the kernel reports them (`__ovs_ct_update_key()`: for ICMP
    /// the port fields carry the type and the code).
    pub fn write_orig(&self, key: &mut FlowKey) {
        // IPv4 addresses live in the low 32 bits by construction.
        #[allow(clippy::cast_possible_truncation)]
        match self.family {
            Family::V4 => {
                key.set_ct_orig_ipv4_src(self.src as u32);
                key.set_ct_orig_ipv4_dst(self.dst as u32);
            }
            Family::V6 => {
                key.set_ct_orig_ipv6_src(self.src);
                key.set_ct_orig_ipv6_dst(self.dst);
            }
        }
        key.set_ct_orig_proto(self.proto);
        let (src, dst) = self.orig_ports();
        key.set_ct_orig_tp_src(src);
        key.set_ct_orig_tp_dst(dst);
    }

    /// [`Tuple::write_orig`] into a packet's ct metadata, which the key is made from.
    pub fn write_orig_meta(&self, ct: &mut CtMeta) {
        // IPv4 addresses live in the low 32 bits by construction.
        #[allow(clippy::cast_possible_truncation)]
        match self.family {
            Family::V4 => ct.orig_ipv4 = (self.src as u32, self.dst as u32),
            Family::V6 => ct.orig_ipv6 = (self.src, self.dst),
        }
        ct.orig_proto = self.proto;
        ct.orig_ports = self.orig_ports();
    }

    /// The port fields of the original-direction tuple as flows see them: for ICMP the type
    /// and the code.
    fn orig_ports(&self) -> (u16, u16) {
        if self.is_icmp() {
            (self.dst_port >> 8, self.dst_port & 0xff)
        } else {
            (self.src_port, self.dst_port)
        }
    }
}

/// A tuple's transport identifiers from `l4`, the transport header onwards: the ports, or
/// for ICMP the identifier and `type << 8 | code`, or none (zeros) for other protocols;
/// `None` if `l4` is too short to hold them.
fn l4_ids(family: Family, p: u8, l4: &[u8]) -> Option<(u16, u16)> {
    if has_ports(p) {
        let h = l4.get(..4)?;
        Some((
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[2], h[3]]),
        ))
    } else if is_icmp(family, p) {
        let h = l4.get(..8)?;
        Some((
            u16::from_be_bytes([h[4], h[5]]),
            u16::from(h[0]) << 8 | u16::from(h[1]),
        ))
    } else {
        Some((0, 0))
    }
}

/// [`l4_ids`] of a packet that has a connection of its own: an ICMP type that neither asks
/// nor answers a query has none.
fn transport_ids(family: Family, p: u8, l4: &[u8]) -> Result<(u16, u16), NoTuple> {
    let ids = l4_ids(family, p, l4).ok_or(NoTuple::Truncated)?;
    if is_icmp(family, p)
        && !matches!(
            kind(family, l4[0]),
            Kind::Request { .. } | Kind::Reply { .. }
        )
    {
        return Err(NoTuple::Icmp);
    }
    Ok(ids)
}

/// Whether `p` is the ICMP of `family`.
pub fn is_icmp(family: Family, p: u8) -> bool {
    matches!(
        (family, p),
        (Family::V4, proto::ICMP) | (Family::V6, proto::ICMPV6)
    )
}

/// What ICMP type `ty` of `family` is to the tracker.
pub fn kind(family: Family, ty: u8) -> Kind {
    match family {
        Family::V4 => icmp::kind_v4(ty),
        Family::V6 => icmp::kind_v6(ty),
    }
}

/// The tuple of the packet an ICMP error quotes, in `zone`: `body` is what follows the
/// 8-byte ICMP header (the quoted IP header and at least 8 bytes of its transport header).
/// `None` if the quote is too short to name a connection, or is itself a fragment that is
/// not the first.
pub fn quoted(family: Family, zone: u16, body: &[u8]) -> Option<Tuple> {
    let (src, dst, mut p, mut l4) = match family {
        Family::V4 => {
            let ihl = usize::from(*body.first()? & 0x0f) * 4;
            if body.len() < ihl || ihl < 20 || body[0] >> 4 != 4 {
                return None;
            }
            // A later fragment quotes no transport header.
            if u16::from_be_bytes([body[6], body[7]]) & 0x1fff != 0 {
                return None;
            }
            let addr = |o: usize| {
                u128::from(u32::from_be_bytes([
                    body[o],
                    body[o + 1],
                    body[o + 2],
                    body[o + 3],
                ]))
            };
            (addr(12), addr(16), body[9], &body[ihl..])
        }
        Family::V6 => {
            if body.len() < 40 || body[0] >> 4 != 6 {
                return None;
            }
            let addr = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[o..o + 16]);
                u128::from_be_bytes(a)
            };
            (addr(8), addr(24), body[6], &body[40..])
        }
    };
    if family == Family::V6 {
        // Skip the extension headers to the transport header (`ipv6_skip_exthdr()`).
        loop {
            match p {
                0 | 43 | 60 => {
                    let len = (usize::from(*l4.get(1)?) + 1) * 8;
                    p = *l4.first()?;
                    l4 = l4.get(len..)?;
                }
                44 => {
                    // Only the first fragment carries the transport header.
                    if u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]) & 0xfff8 != 0 {
                        return None;
                    }
                    p = *l4.first()?;
                    l4 = l4.get(8..)?;
                }
                _ => break,
            }
        }
    }
    let (src_port, dst_port) = l4_ids(family, p, l4)?;
    Some(Tuple {
        zone,
        family,
        src,
        dst,
        proto: p,
        src_port,
        dst_port,
    })
}

#[cfg(test)]
mod tests;
