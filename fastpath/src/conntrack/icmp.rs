//! ICMP and ICMPv6 in connection tracking (`net/netfilter/nf_conntrack_proto_icmp.c`,
//! `nf_conntrack_proto_icmpv6.c`): queries (echo and the like) are connections keyed by
//! their id, type and code, whose replies carry the paired type; errors never start a
//! connection but relate to the one whose packet they quote.

/// What an ICMP type is to the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request that may start a connection; its reply has this type.
    Request {
        /// The reply's type.
        reply: u8,
    },
    /// A reply to a request (tracked only on the request's connection).
    Reply {
        /// The request's type.
        request: u8,
    },
    /// An error quoting the packet it is about (`+rel` to that packet's connection).
    Error,
    /// Anything else: never tracked (invalid on its own).
    Other,
}

/// The ICMP (IPv4) type `t` (`invmap` and `valid_new` of the IPv4 tracker).
pub fn kind_v4(t: u8) -> Kind {
    match t {
        8 => Kind::Request { reply: 0 },
        13 => Kind::Request { reply: 14 },
        15 => Kind::Request { reply: 16 },
        17 => Kind::Request { reply: 18 },
        0 => Kind::Reply { request: 8 },
        14 => Kind::Reply { request: 13 },
        16 => Kind::Reply { request: 15 },
        18 => Kind::Reply { request: 17 },
        // Destination unreachable, source quench, redirect, time exceeded, parameter
        // problem (`icmp_error_message()`).
        3 | 4 | 5 | 11 | 12 => Kind::Error,
        _ => Kind::Other,
    }
}

/// The ICMPv6 type `t`. Only echo and node information queries start connections.
pub fn kind_v6(t: u8) -> Kind {
    match t {
        128 => Kind::Request { reply: 129 },
        139 => Kind::Request { reply: 140 },
        129 => Kind::Reply { request: 128 },
        140 => Kind::Reply { request: 139 },
        // Destination unreachable, packet too big, time exceeded, parameter problem: the
        // error types are those below 128.
        1..=4 => Kind::Error,
        _ => Kind::Other,
    }
}

/// Timeout of an ICMP or ICMPv6 query connection, in seconds (the kernel's default).
pub const TIMEOUT: u32 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_pair_up_both_ways() {
        for t in 0..=255u8 {
            if let Kind::Request { reply } = kind_v4(t) {
                assert_eq!(kind_v4(reply), Kind::Reply { request: t });
            }
            if let Kind::Request { reply } = kind_v6(t) {
                assert_eq!(kind_v6(reply), Kind::Reply { request: t });
            }
        }
        assert_eq!(kind_v4(8), Kind::Request { reply: 0 });
        assert_eq!(kind_v6(128), Kind::Request { reply: 129 });
    }

    #[test]
    fn errors_are_the_kernels_error_types() {
        for t in [3, 4, 5, 11, 12] {
            assert_eq!(kind_v4(t), Kind::Error);
        }
        for t in 1..=4 {
            assert_eq!(kind_v6(t), Kind::Error);
        }
        // Router advertisement and neighbour solicitation are neither.
        assert_eq!(kind_v6(134), Kind::Other);
        assert_eq!(kind_v6(135), Kind::Other);
        assert_eq!(kind_v4(9), Kind::Other);
    }
}
