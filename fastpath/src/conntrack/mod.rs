//! Connection tracking state per protocol, with the Linux kernel's semantics (what the
//! kernel datapath's `ct` action runs: `net/netfilter/nf_conntrack_proto_*.c`).
//!
//! [`tuple`] is what names a connection in each direction; [`tcp`] is the TCP state machine
//! and window check, [`udp`] the UDP rules, [`icmp`] how ICMP and ICMPv6 types pair up or
//! relate to other connections; every other IP protocol
//! is tracked by address and protocol alone, for [`OTHER_TIMEOUT`]. Each tracker works on
//! one connection's state, owned by the caller, and answers what the kernel's `packet()`
//! hook answers: accept (with the new timeout), ignore, invalid, or reopen/kill the
//! connection.

pub mod action;
pub mod icmp;
pub mod nat;
pub mod netlink;
#[cfg(any(test, feature = "testing"))]
pub mod replay;
pub mod table;
pub mod tcp;
pub mod tuple;
pub mod udp;

pub use table::ConnRef;

/// `ct_state` bits (`OVS_CS_F_*`, `odp::key::ct_state`) as a packet's metadata holds them.
pub mod state {
    use odp::key::ct_state as cs;

    /// The low 8 bits of a `ct_state` flag (all of them are there).
    #[allow(clippy::cast_possible_truncation)]
    const fn bit(v: u32) -> u8 {
        v as u8
    }

    /// New connection.
    pub const NEW: u8 = bit(cs::NEW);
    /// Established.
    pub const EST: u8 = bit(cs::ESTABLISHED);
    /// Related.
    pub const REL: u8 = bit(cs::RELATED);
    /// Reply direction.
    pub const RPL: u8 = bit(cs::REPLY_DIR);
    /// Invalid.
    pub const INV: u8 = bit(cs::INVALID);
    /// Tracked.
    pub const TRK: u8 = bit(cs::TRACKED);
    /// Source translated.
    pub const SRC_NAT: u8 = bit(cs::SRC_NAT);
    /// Destination translated.
    pub const DST_NAT: u8 = bit(cs::DST_NAT);
}

/// Timeout of a connection of any other IP protocol, in seconds
/// (`nf_conntrack_proto_generic.c`).
pub const OTHER_TIMEOUT: u32 = 600;

/// A packet's direction within its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// As the connection's first packet went.
    Original = 0,
    /// The other way.
    Reply = 1,
}

impl Dir {
    /// 0 for [`Dir::Original`], 1 for [`Dir::Reply`].
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The opposite direction.
    #[inline]
    pub fn other(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }
}

/// `a` comes before `b` in 32-bit sequence space (the kernel's `before()`).
#[inline]
pub(crate) fn seq_before(a: u32, b: u32) -> bool {
    // Sequence comparison is the sign of the wrapped difference.
    #[allow(clippy::cast_possible_wrap)]
    let d = a.wrapping_sub(b) as i32;
    d < 0
}

/// `a` comes after `b` in 32-bit sequence space (the kernel's `after()`).
#[inline]
pub(crate) fn seq_after(a: u32, b: u32) -> bool {
    seq_before(b, a)
}
