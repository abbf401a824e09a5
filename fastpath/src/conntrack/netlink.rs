//! Connections as ctnetlink reports them (`odp::ctnetlink`), and ctnetlink tuples as the
//! table's: what `net/netfilter/nf_conntrack_netlink.c` puts in a dump entry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use odp::ctnetlink::{self as ctnl, status, L4};

use super::table::{Conn, ProtoState};
use super::tuple::{self, Family, Tuple};

/// The dump entry of connection `id`, whose deadline is `expires_ms`, at `now_ms`.
pub fn entry(id: u32, c: &Conn, expires_ms: u64, now_ms: u64) -> ctnl::Entry {
    let mut st = status::CONFIRMED;
    if c.seen_reply {
        st |= status::SEEN_REPLY;
    }
    if c.assured {
        st |= status::ASSURED;
    }
    if c.nat & super::nat::status::SRC != 0 {
        st |= status::SRC_NAT;
    }
    if c.nat & super::nat::status::DST != 0 {
        st |= status::DST_NAT;
    }
    let left_s = expires_ms.saturating_sub(now_ms) / 1000;
    ctnl::Entry {
        orig: to_netlink(&c.tuples[0]),
        reply: to_netlink(&c.tuples[1]),
        status: st,
        id,
        zone: c.zone(),
        timeout: u32::try_from(left_s).unwrap_or(u32::MAX),
        mark: c.mark,
        labels: c.labels.to_be_bytes(),
        tcp_state: match &c.proto {
            ProtoState::Tcp(t) => Some(t.state() as u8),
            _ => None,
        },
    }
}

fn addr(family: Family, a: u128) -> IpAddr {
    match family {
        // IPv4 addresses live in the low 32 bits.
        #[allow(clippy::cast_possible_truncation)]
        Family::V4 => IpAddr::V4(Ipv4Addr::from(a as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

/// A table tuple as ctnetlink carries it.
pub fn to_netlink(t: &Tuple) -> ctnl::Tuple {
    let l4 = if t.is_icmp() {
        L4::Icmp {
            id: t.src_port,
            ty: (t.dst_port >> 8) as u8,
            code: (t.dst_port & 0xff) as u8,
        }
    } else if matches!(
        t.proto,
        tuple::proto::TCP
            | tuple::proto::UDP
            | tuple::proto::SCTP
            | tuple::proto::UDPLITE
            | tuple::proto::DCCP
    ) {
        L4::Ports {
            src: t.src_port,
            dst: t.dst_port,
        }
    } else {
        L4::None
    };
    ctnl::Tuple {
        src: addr(t.family, t.src),
        dst: addr(t.family, t.dst),
        proto: t.proto,
        l4,
    }
}

/// A ctnetlink tuple in `zone` as the table keys it.
pub fn from_netlink(t: &ctnl::Tuple, zone: u16) -> Tuple {
    let (family, src, dst) = match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            Family::V4,
            u128::from(u32::from(s)),
            u128::from(u32::from(d)),
        ),
        (s, d) => (Family::V6, v6(s), v6(d)),
    };
    let (src_port, dst_port) = match t.l4 {
        L4::Ports { src, dst } => (src, dst),
        L4::Icmp { id, ty, code } => (id, u16::from(ty) << 8 | u16::from(code)),
        L4::None => (0, 0),
    };
    Tuple {
        zone,
        family,
        src,
        dst,
        proto: t.proto,
        src_port,
        dst_port,
    }
}

fn v6(a: IpAddr) -> u128 {
    match a {
        IpAddr::V6(a) => u128::from(a),
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_survive_the_trip_through_ctnetlink() {
        for t in [
            Tuple {
                zone: 3,
                family: Family::V4,
                src: 0x0a00_0001,
                dst: 0x0a00_0002,
                proto: tuple::proto::UDP,
                src_port: 5,
                dst_port: 53,
            },
            Tuple {
                zone: 0,
                family: Family::V6,
                src: 1,
                dst: 2,
                proto: tuple::proto::ICMPV6,
                src_port: 77,
                dst_port: 128 << 8,
            },
            Tuple {
                zone: 9,
                family: Family::V4,
                src: 1,
                dst: 2,
                proto: 47,
                src_port: 0,
                dst_port: 0,
            },
        ] {
            assert_eq!(from_netlink(&to_netlink(&t), t.zone), t);
        }
    }
}
