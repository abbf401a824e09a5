//! The straight-line extraction of plain frames (untagged Ethernet, IPv4 without options,
//! not a fragment, TCP or UDP) and simple match, which classifies a burst of them once.

use super::*;

#[inline(always)]
fn be64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}

/// The L4 fields of a *plain* frame — untagged Ethernet, IPv4 without options, not a
/// fragment, TCP or UDP with complete headers: (protocol, both ports as read, TCP flags).
/// `None` for anything else. The frames the fast extraction and simple match handle.
#[inline(always)]
fn plain_ipv4_l4(b: &[u8]) -> Option<(u8, u32, u16)> {
    if b.len() < 42 || be16(b, 12) != ETH_P_IP || b[14] != 0x45 || be16(b, 20) & 0x3fff != 0 {
        return None;
    }
    let proto = b[23];
    let (ports, flags) = match proto {
        ipproto::UDP => (be32(b, 34), 0u16),
        ipproto::TCP => {
            if b.len() < 54 {
                return None;
            }
            let doff = usize::from(b[46] >> 4) * 4;
            if doff < 20 || b.len() < 34 + doff {
                return None;
            }
            (be32(b, 34), be16(b, 46) & 0x0fff)
        }
        _ => return None,
    };
    Some((proto, ports, flags))
}

/// Words 1-5 of the key of a plain frame ([`plain_ipv4_l4`]); `None` for anything else.
#[inline(always)]
pub(super) fn fast_ipv4_words(b: &[u8]) -> Option<[u64; 5]> {
    let (proto, ports, flags) = plain_ipv4_l4(b)?;
    Some([
        (be64(b, 0) >> 16) | u64::from(ETH_P_IP) << 48,
        be64(b, 4) & 0xffff_ffff_ffff,
        // proto | tos << 8 | ttl << 16 | frag (none) << 24 | tp_src << 32 | tp_dst << 48
        u64::from(proto)
            | u64::from(b[15]) << 8
            | u64::from(b[22]) << 16
            | u64::from(ports >> 16) << 32
            | u64::from(ports & 0xffff) << 48,
        u64::from(be32(b, 26)) | u64::from(be32(b, 30)) << 32,
        u64::from(flags),
    ])
}

#[inline(always)]
pub(super) fn fast_ipv4(
    b: &[u8],
    pm: &PreparedMeta<'_>,
    key: &mut FlowKey,
    old_map: u32,
) -> Option<ExtractInfo> {
    let f = fast_ipv4_words(b)?;
    let t = &pm.template.words;
    let l0 = [t[0], f[0], f[1], f[2], f[3], f[4], t[6], t[7]];
    key.words[..8].copy_from_slice(&l0);
    if pm.map & !MAP_LINE0 != 0 {
        key.words[8..].copy_from_slice(&t[8..]);
    } else if old_map & !MAP_LINE0 != 0 {
        key.words[8..].fill(0);
    }
    debug_assert!(key.words[8..].iter().zip(&t[8..]).all(|(a, b)| a == b));
    Some(ExtractInfo {
        hash: hash_finish(hash_line0(&l0).wrapping_add(pm.extra_hash)),
        map: pm.map,
        l3_ofs: 14,
        l4_ofs: 34,
        status: ParseStatus::Ok,
    })
}

/// Simple match (after OVS's): the TCP flags of `frame` if it is plain ([`plain_ipv4_l4`])
/// and `pm` allows the fast extraction. Every such frame's key is `pm`'s template in words 0
/// and 6 and up, and in words 1-5 differs from another's only in fields a
/// [`simple_match_mask`] ignores; so under such masks all of a burst's plain frames share
/// one masked key and one classification, and need no key of their own.
#[inline(always)]
pub fn simple_match_frame(frame: &[u8], pm: &PreparedMeta<'_>) -> Option<u16> {
    if !pm.fast_ok {
        return None;
    }
    plain_ipv4_l4(frame).map(|(_, _, flags)| flags)
}

/// Whether `mask` matches nothing in words 1-5 of a plain frame's key but fields that are
/// the same for every plain frame: the EtherType (IPv4), the VLAN TCIs and TPIDs (none) and
/// the fragment type (none). Metadata words are free: a burst shares its metadata.
pub fn simple_match_mask(mask: &FlowKey) -> bool {
    const TOP16: u64 = 0xffff << 48;
    const FRAG: u64 = 0xff << 24;
    const TCP_FLAGS: u64 = 0xffff;
    let w = &mask.words;
    w[1] & !TOP16 == 0
        && w[2] & !TOP16 == 0
        && w[3] & !FRAG == 0
        && w[4] == 0
        && w[5] & TCP_FLAGS == 0
}
