//! The HASH action's hashes.

use super::{get16, PacketState};
use crate::flow::key::FRAG_LATER;
use crate::packet::parse::{ipproto, ETH_P_IP, ETH_P_IPV6};

#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // both halves are folded into the low one
pub(super) fn mix32(h: u64, basis: u32) -> u32 {
    let x = (h ^ u64::from(basis).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd);
    ((x >> 32) ^ x) as u32
}

/// A hash of the packet's addresses, IP protocol and TCP/UDP/SCTP ports that is the same in
/// both directions of a connection (the kernel hashes the same fields with
/// `__skb_get_hash_symmetric()` for OVS_HASH_ALG_SYM_L4): each address and port pair is
/// ordered before it is hashed. Non-IP packets hash their Ethernet addresses the same way.
pub(super) fn symmetric_l4_hash(d: &[u8], st: &PacketState<'_>) -> u64 {
    let l3 = st.l3_ofs;
    let (a, b, proto) = match st.eth_type {
        ETH_P_IP if d.len() >= l3 + 20 => (&d[l3 + 12..l3 + 16], &d[l3 + 16..l3 + 20], st.ip_proto),
        ETH_P_IPV6 if d.len() >= l3 + 40 => {
            (&d[l3 + 8..l3 + 24], &d[l3 + 24..l3 + 40], st.ip_proto)
        }
        _ if st.has_eth() && d.len() >= 12 => (&d[0..6], &d[6..12], 0),
        _ => return 0,
    };
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = fold_bytes(0x5bd1_e995, lo);
    h = fold_bytes(h, hi);
    h = fold_bytes(h, &[proto]);
    let first_fragment = st.frag != FRAG_LATER;
    if matches!(proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP)
        && first_fragment
        && d.len() >= st.l4_ofs + 4
    {
        let (sp, dp) = (get16(d, st.l4_ofs), get16(d, st.l4_ofs + 2));
        h = fold_bytes(h, &sp.min(dp).to_be_bytes());
        h = fold_bytes(h, &sp.max(dp).to_be_bytes());
    }
    h
}

/// Folds `bytes` into the running hash `h` (FNV-1a steps over 64 bits).
fn fold_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}
