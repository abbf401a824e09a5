//! UDP connection tracking as the kernel does it (`net/netfilter/nf_conntrack_proto_udp.c`,
//! `udp_error()` and `nf_conntrack_udp_packet()`): a connection is NEW until a reply is
//! seen; a connection that still carries traffic both ways two seconds after it started is
//! a stream, assured and kept for the longer timeout.

/// Timeouts in seconds (`udp_timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpTimeouts {
    /// Before a reply, and for replied connections younger than [`STREAM_AFTER_MS`].
    pub unreplied: u32,
    /// Streams.
    pub replied: u32,
}

impl Default for UdpTimeouts {
    /// The kernel's defaults.
    fn default() -> Self {
        UdpTimeouts {
            unreplied: 30,
            replied: 120,
        }
    }
}

/// A replied connection becomes a stream once it is this old.
pub const STREAM_AFTER_MS: u64 = 2000;

/// Why a datagram is invalid before any connection is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Shorter than its header, or a length field that disagrees with the IP payload.
    #[error("truncated or malformed UDP header")]
    Length,
}

/// Checks the UDP header at the start of `udp` (the IP payload). Checksums are the
/// caller's to check (a packet may still carry offload work).
///
/// # Errors
/// [`Malformed::Length`] when the header is cut or its length field is under 8 or over
/// the IP payload, as `udp_error()` marks such datagrams invalid.
pub fn check(udp: &[u8]) -> Result<(), Malformed> {
    if udp.len() < 8 {
        return Err(Malformed::Length);
    }
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if len < 8 || len > udp.len() {
        return Err(Malformed::Length);
    }
    Ok(())
}

/// The verdict for an accepted datagram: the new timeout in seconds and whether the
/// connection becomes assured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// New timeout in seconds.
    pub timeout: u32,
    /// The connection becomes assured.
    pub assure: bool,
}

/// Tracks a datagram on a connection created at `created_ms` (same clock as `now_ms`),
/// which has seen a reply before this datagram (`seen_reply`) and is `assured` or not.
pub fn packet(
    created_ms: u64,
    now_ms: u64,
    seen_reply: bool,
    assured: bool,
    t: &UdpTimeouts,
) -> Verdict {
    if !seen_reply {
        return Verdict {
            timeout: t.unreplied,
            assure: false,
        };
    }
    if now_ms > created_ms.saturating_add(STREAM_AFTER_MS) {
        Verdict {
            timeout: t.replied,
            assure: !assured,
        }
    } else {
        Verdict {
            timeout: t.unreplied,
            assure: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_that_disagree_with_the_payload_are_malformed() {
        let mut d = [0u8; 12];
        d[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(check(&d), Ok(()));
        assert_eq!(check(&d[..7]), Err(Malformed::Length));
        d[4..6].copy_from_slice(&13u16.to_be_bytes());
        assert_eq!(check(&d), Err(Malformed::Length));
        d[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(check(&d), Err(Malformed::Length));
        // A length under the payload: trailing bytes (padding) are allowed.
        d[4..6].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(check(&d), Ok(()));
    }

    #[test]
    fn a_connection_is_short_lived_until_it_is_a_stream_then_assured_once() {
        let t = UdpTimeouts::default();
        let unreplied = Verdict {
            timeout: 30,
            assure: false,
        };
        assert_eq!(packet(0, 10, false, false, &t), unreplied);
        // Replied but young: not a stream yet.
        assert_eq!(packet(0, 1500, true, false, &t), unreplied);
        assert_eq!(
            packet(0, 2500, true, false, &t),
            Verdict {
                timeout: 120,
                assure: true
            }
        );
        assert_eq!(
            packet(0, 9000, true, true, &t),
            Verdict {
                timeout: 120,
                assure: false
            }
        );
    }
}
