//! The fixed-width, word-aligned flow key ([`FlowKey`]) and its masks ([`FlowMask`]).
//!
//! Layout: 32 little 64-bit words (256 bytes, four cache lines). Every field sits at a
//! fixed (word, shift, width); all values are stored in **host order** (addresses and
//! ports converted from network order on extraction). Masking is a word-wise AND,
//! equality a word-wise compare, hashing one pass over the words a mask makes
//! significant. The first cache line (words 0-7) holds what L2-L4 flows match on:
//! metadata, Ethernet, VLAN, IPv4/ARP addresses, IP proto/tos/ttl/frag, L4 ports and
//! TCP flags.
//!
//! Like the kernel's `sw_flow_key`, some words are shared between protocols that can
//! never occur together because `eth_type` is always matched exactly: IPv6 source
//! (words 8-9) with the MPLS label stack and the NSH header; ND target/SLL/TLL
//! (words 13-16) with the ARP SHA/THA and the conntrack original-direction tuple.
//!
//! | word | contents (bit offset) |
//! |---|---|
//! | 0 | recirc_id u32 @0, in_port u16 @32, mac_proto u8 @48, ct_state u8 @56 |
//! | 1 | eth_dst 48 @0, eth_type u16 @48 |
//! | 2 | eth_src 48 @0, vlan_tci u16 @48 |
//! | 3 | ip_proto @0, ip_tos @8, ip_ttl @16, ip_frag @24, tp_src u16 @32, tp_dst u16 @48 |
//! | 4 | ipv4_src (= arp_sip) u32 @0, ipv4_dst (= arp_tip) u32 @32 |
//! | 5 | tcp_flags u16 @0, vlan_tpid @16, cvlan_tci @32, cvlan_tpid @48 |
//! | 6 | dp_hash u32 @0, skb_mark u32 @32 |
//! | 7 | priority u32 @0, ct_zone u16 @32, ipv6_exthdrs u16 @48 |
//! | 8-9 | ipv6_src; or mpls lse0 @0/lse1 @32, lse2 @64, mpls_depth @96; or NSH base + context |
//! | 10-11 | ipv6_dst (NSH context words 2-3 in word 10) |
//! | 12 | ipv6_label u32 @0, ct_mark u32 @32 |
//! | 13-14 | nd_target / ct_orig_ipv6_src |
//! | 15 | nd_sll / arp_sha (48), or ct_orig_ipv4 src@0 dst@32, or ct_orig_ipv6_dst high |
//! | 16 | nd_tll / arp_tha (48), or ct_orig_ipv6_dst low |
//! | 17 | ct_orig_tp_src @0, ct_orig_tp_dst @16, ct_orig_proto @32 |
//! | 18-19 | ct_labels |
//! | 20 | tun_id |
//! | 21 | tun_ipv4_src @0, tun_ipv4_dst @32 |
//! | 22-25 | tun_ipv6_src, tun_ipv6_dst |
//! | 26 | tun_flags u16 @0, tun_tos @16, tun_ttl @24, tun_tp_src @32, tun_tp_dst @48 |
//! | 27 | tun_gbp u32 @0 (VXLAN group policy) |
//! | 28-31 | reserved, always zero |

/// Number of 64-bit words in a [`FlowKey`].
pub const KEY_WORDS: usize = 32;

/// `mac_proto` value for frames that start with an Ethernet header.
pub const MAC_PROTO_ETHERNET: u8 = 0;
/// `mac_proto` value for layer-3 packets (no MAC header).
pub const MAC_PROTO_NONE: u8 = 1;

/// `ip_frag`: not a fragment.
pub const FRAG_NONE: u8 = 0;
/// `ip_frag`: first fragment (offset 0, more fragments follow).
pub const FRAG_FIRST: u8 = 1;
/// `ip_frag`: later fragment (non-zero offset).
pub const FRAG_LATER: u8 = 2;

/// `in_port` value meaning "no port" (the kernel's `DP_MAX_PORTS`-ish sentinel 65535).
pub const IN_PORT_NONE: u16 = 0xffff;

/// A flow key (or, as the content of a [`FlowMask`], a mask). See the module docs for
/// the layout. All-zero words are meaningful: an absent protocol reads as zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct FlowKey {
    /// The raw words. Prefer the named accessors; the words are public so that masks,
    /// hashing and tests can work on them directly.
    pub words: [u64; KEY_WORDS],
}

impl Default for FlowKey {
    fn default() -> Self {
        Self::ZERO
    }
}

impl core::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut m = f.debug_map();
        for (i, w) in self.words.iter().enumerate() {
            if *w != 0 {
                m.entry(&i, &format_args!("{w:#018x}"));
            }
        }
        m.finish()
    }
}

const fn low_bits(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

macro_rules! scalar_fields {
    ($( $(#[$doc:meta])* $get:ident / $set:ident : $ty:ty = ($w:expr, $sh:expr, $bits:expr); )*) => {
        impl FlowKey {
            $(
                $(#[$doc])*
                #[inline(always)]
                // The field is `$bits` wide, no wider than `$ty`.
                #[allow(clippy::cast_possible_truncation)]
                pub fn $get(&self) -> $ty {
                    ((self.words[$w] >> $sh) & low_bits($bits)) as $ty
                }
                #[doc = concat!("Sets the field read by [`FlowKey::", stringify!($get), "`].")]
                #[inline(always)]
                pub fn $set(&mut self, v: $ty) {
                    let m = low_bits($bits) << $sh;
                    self.words[$w] = (self.words[$w] & !m) | ((u64::from(v) << $sh) & m);
                }
            )*
        }
    };
}

scalar_fields! {
    /// Recirculation id (0 = first pass).
    recirc_id / set_recirc_id: u32 = (0, 0, 32);
    /// Datapath input port ([`IN_PORT_NONE`] = none).
    in_port / set_in_port: u16 = (0, 32, 16);
    /// [`MAC_PROTO_ETHERNET`] or [`MAC_PROTO_NONE`].
    mac_proto / set_mac_proto: u8 = (0, 48, 8);
    /// Conntrack state bits (`OVS_CS_F_*`).
    ct_state / set_ct_state: u8 = (0, 56, 8);
    /// Ethernet type of the innermost parsed header (after at most two VLAN tags);
    /// `0x05ff` for 802.2 frames without SNAP, the TPID for a truncated VLAN tag.
    eth_type / set_eth_type: u16 = (1, 48, 16);
    /// Outer VLAN TCI with the CFI bit (0x1000) set when a tag is present; 0 = none.
    vlan_tci / set_vlan_tci: u16 = (2, 48, 16);
    /// IP protocol (IPv4/IPv6 final next header) or the low 8 bits of the ARP opcode.
    ip_proto / set_ip_proto: u8 = (3, 0, 8);
    /// IPv4 TOS byte / IPv6 traffic class.
    ip_tos / set_ip_tos: u8 = (3, 8, 8);
    /// IPv4 TTL / IPv6 hop limit.
    ip_ttl / set_ip_ttl: u8 = (3, 16, 8);
    /// Fragment type ([`FRAG_NONE`], [`FRAG_FIRST`], [`FRAG_LATER`]).
    ip_frag / set_ip_frag: u8 = (3, 24, 8);
    /// L4 source port; ICMP/ICMPv6 type.
    tp_src / set_tp_src: u16 = (3, 32, 16);
    /// L4 destination port; ICMP/ICMPv6 code.
    tp_dst / set_tp_dst: u16 = (3, 48, 16);
    /// IPv4 source address (host order).
    ipv4_src / set_ipv4_src: u32 = (4, 0, 32);
    /// IPv4 destination address (host order).
    ipv4_dst / set_ipv4_dst: u32 = (4, 32, 32);
    /// ARP sender protocol address (shares storage with `ipv4_src`).
    arp_sip / set_arp_sip: u32 = (4, 0, 32);
    /// ARP target protocol address (shares storage with `ipv4_dst`).
    arp_tip / set_arp_tip: u32 = (4, 32, 32);
    /// TCP flags (low 12 bits of the flags word).
    tcp_flags / set_tcp_flags: u16 = (5, 0, 16);
    /// Outer VLAN TPID (0x8100 / 0x88a8), 0 when untagged.
    vlan_tpid / set_vlan_tpid: u16 = (5, 16, 16);
    /// Inner (customer) VLAN TCI with CFI set; 0 = none.
    cvlan_tci / set_cvlan_tci: u16 = (5, 32, 16);
    /// Inner VLAN TPID.
    cvlan_tpid / set_cvlan_tpid: u16 = (5, 48, 16);
    /// Datapath hash computed by a HASH action (0 = not computed).
    dp_hash / set_dp_hash: u32 = (6, 0, 32);
    /// skb mark.
    skb_mark / set_skb_mark: u32 = (6, 32, 32);
    /// skb priority.
    priority / set_priority: u32 = (7, 0, 32);
    /// Conntrack zone.
    ct_zone / set_ct_zone: u16 = (7, 32, 16);
    /// IPv6 extension-header bits (`OFPIEH12_*`).
    ipv6_exthdrs / set_ipv6_exthdrs: u16 = (7, 48, 16);
    /// MPLS label stack entry 0 (outermost).
    mpls_lse0 / set_mpls_lse0: u32 = (8, 0, 32);
    /// MPLS label stack entry 1.
    mpls_lse1 / set_mpls_lse1: u32 = (8, 32, 32);
    /// MPLS label stack entry 2.
    mpls_lse2 / set_mpls_lse2: u32 = (9, 0, 32);
    /// Number of MPLS labels in the key (0..=3; 0 = label stack truncated).
    mpls_depth / set_mpls_depth: u8 = (9, 32, 8);
    /// NSH base flags.
    nsh_flags / set_nsh_flags: u8 = (8, 0, 8);
    /// NSH TTL.
    nsh_ttl / set_nsh_ttl: u8 = (8, 8, 8);
    /// NSH MD type.
    nsh_mdtype / set_nsh_mdtype: u8 = (8, 16, 8);
    /// NSH next protocol.
    nsh_np / set_nsh_np: u8 = (8, 24, 8);
    /// NSH path header (SPI << 8 | SI).
    nsh_path_hdr / set_nsh_path_hdr: u32 = (8, 32, 32);
    /// NSH MD1 context word 0.
    nsh_c0 / set_nsh_c0: u32 = (9, 0, 32);
    /// NSH MD1 context word 1.
    nsh_c1 / set_nsh_c1: u32 = (9, 32, 32);
    /// NSH MD1 context word 2.
    nsh_c2 / set_nsh_c2: u32 = (10, 0, 32);
    /// NSH MD1 context word 3.
    nsh_c3 / set_nsh_c3: u32 = (10, 32, 32);
    /// IPv6 flow label (20 bits).
    ipv6_label / set_ipv6_label: u32 = (12, 0, 32);
    /// Conntrack mark.
    ct_mark / set_ct_mark: u32 = (12, 32, 32);
    /// Conntrack original-direction IPv4 source (shares storage with ND SLL).
    ct_orig_ipv4_src / set_ct_orig_ipv4_src: u32 = (15, 0, 32);
    /// Conntrack original-direction IPv4 destination.
    ct_orig_ipv4_dst / set_ct_orig_ipv4_dst: u32 = (15, 32, 32);
    /// Conntrack original-direction L4 source port.
    ct_orig_tp_src / set_ct_orig_tp_src: u16 = (17, 0, 16);
    /// Conntrack original-direction L4 destination port.
    ct_orig_tp_dst / set_ct_orig_tp_dst: u16 = (17, 16, 16);
    /// Conntrack original-direction IP protocol.
    ct_orig_proto / set_ct_orig_proto: u8 = (17, 32, 8);
    /// Tunnel id (VNI / key).
    tun_id / set_tun_id: u64 = (20, 0, 64);
    /// Tunnel outer IPv4 source.
    tun_ipv4_src / set_tun_ipv4_src: u32 = (21, 0, 32);
    /// Tunnel outer IPv4 destination.
    tun_ipv4_dst / set_tun_ipv4_dst: u32 = (21, 32, 32);
    /// Tunnel flags (`TUNNEL_*` bits: key, csum, df, oam ...).
    tun_flags / set_tun_flags: u16 = (26, 0, 16);
    /// Tunnel outer TOS.
    tun_tos / set_tun_tos: u8 = (26, 16, 8);
    /// Tunnel outer TTL.
    tun_ttl / set_tun_ttl: u8 = (26, 24, 8);
    /// Tunnel outer L4 source port.
    tun_tp_src / set_tun_tp_src: u16 = (26, 32, 16);
    /// Tunnel outer L4 destination port.
    tun_tp_dst / set_tun_tp_dst: u16 = (26, 48, 16);
    /// VXLAN group-based-policy option.
    tun_gbp / set_tun_gbp: u32 = (27, 0, 32);
}

macro_rules! mac_fields {
    ($( $(#[$doc:meta])* $get:ident / $set:ident = $w:expr; )*) => {
        impl FlowKey {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $get(&self) -> [u8; 6] {
                    let b = (self.words[$w] & low_bits(48)).to_be_bytes();
                    [b[2], b[3], b[4], b[5], b[6], b[7]]
                }
                #[doc = concat!("Sets the field read by [`FlowKey::", stringify!($get), "`].")]
                #[inline(always)]
                pub fn $set(&mut self, v: [u8; 6]) {
                    self.words[$w] = (self.words[$w] & !low_bits(48)) | mac_to_u64(v);
                }
            )*
        }
    };
}

mac_fields! {
    /// Ethernet destination address.
    eth_dst / set_eth_dst = 1;
    /// Ethernet source address.
    eth_src / set_eth_src = 2;
    /// ND source link-layer address option.
    nd_sll / set_nd_sll = 15;
    /// ND target link-layer address option.
    nd_tll / set_nd_tll = 16;
    /// ARP sender hardware address (shares storage with `nd_sll`).
    arp_sha / set_arp_sha = 15;
    /// ARP target hardware address (shares storage with `nd_tll`).
    arp_tha / set_arp_tha = 16;
}

macro_rules! u128_fields {
    ($( $(#[$doc:meta])* $get:ident / $set:ident = $w:expr; )*) => {
        impl FlowKey {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $get(&self) -> u128 {
                    (u128::from(self.words[$w]) << 64) | u128::from(self.words[$w + 1])
                }
                #[doc = concat!("Sets the field read by [`FlowKey::", stringify!($get), "`].")]
                #[inline(always)]
                pub fn $set(&mut self, v: u128) {
                    let b = v.to_be_bytes();
                    self.words[$w] = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    self.words[$w + 1] =
                        u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
                }
            )*
        }
    };
}

u128_fields! {
    /// IPv6 source address (host-order integer of the 16 network-order bytes).
    ipv6_src / set_ipv6_src = 8;
    /// IPv6 destination address.
    ipv6_dst / set_ipv6_dst = 10;
    /// ND target address.
    nd_target / set_nd_target = 13;
    /// Conntrack original-direction IPv6 source (shares storage with `nd_target`).
    ct_orig_ipv6_src / set_ct_orig_ipv6_src = 13;
    /// Conntrack original-direction IPv6 destination (shares storage with SLL/TLL).
    ct_orig_ipv6_dst / set_ct_orig_ipv6_dst = 15;
    /// Conntrack labels.
    ct_labels / set_ct_labels = 18;
    /// Tunnel outer IPv6 source.
    tun_ipv6_src / set_tun_ipv6_src = 22;
    /// Tunnel outer IPv6 destination.
    tun_ipv6_dst / set_tun_ipv6_dst = 24;
}

/// Packs a MAC address into the low 48 bits of a word (network order → integer).
#[inline(always)]
pub fn mac_to_u64(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

impl FlowKey {
    /// The all-zero key (also the all-wildcard mask).
    pub const ZERO: FlowKey = FlowKey {
        words: [0; KEY_WORDS],
    };

    /// The all-ones mask content (exact match on every bit).
    pub const ONES: FlowKey = FlowKey {
        words: [u64::MAX; KEY_WORDS],
    };

    /// Returns `self & mask`, word by word.
    #[inline]
    pub fn masked(&self, mask: &FlowKey) -> FlowKey {
        let mut out = FlowKey::ZERO;
        for ((o, a), b) in out.words.iter_mut().zip(&self.words).zip(&mask.words) {
            *o = a & b;
        }
        out
    }

    /// Bitmap of the words that are non-zero.
    #[inline]
    pub fn nonzero_map(&self) -> u32 {
        let mut map = 0u32;
        for (i, w) in self.words.iter().enumerate() {
            map |= u32::from(*w != 0) << i;
        }
        map
    }

    /// Branch-free full equality (faster than a derived `==` for the common equal case).
    #[inline(always)]
    pub fn same_as(&self, other: &FlowKey) -> bool {
        let mut acc = 0u64;
        for (a, b) in self.words.iter().zip(&other.words) {
            acc |= a ^ b;
        }
        acc == 0
    }

    /// Hash of the whole key. Equal keys hash equal; identical to
    /// [`FlowMask::hash_masked`] with an exact mask, and to the hash returned by
    /// packet extraction.
    #[inline]
    pub fn hash(&self) -> u64 {
        hash_words(&self.words, self.nonzero_map())
    }
}

/// Per-word multipliers: odd 64-bit constants from splitmix64.
const HASH_K: [u64; KEY_WORDS] = {
    let mut k = [0u64; KEY_WORDS];
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < KEY_WORDS {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        k[i] = z | 1;
        i += 1;
    }
    k
};

/// The contribution of word `i >= 8` holding `w` to a key hash. `word_term(0, i) == 0`,
/// so words known to be zero can be skipped without changing the hash: this is what
/// lets extraction hash only the words it wrote and a subtable only the words its mask
/// keeps. (Words 0-7, the first cache line, are always hashed, see [`hash_line0`].)
#[inline(always)]
pub fn word_term(w: u64, i: usize) -> u64 {
    fold_mul(w, HASH_K[i])
}

#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // the product's halves, folded
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Hash contribution of the first cache line (words 0-7): four folded 64x64→128
/// multiplies of word pairs, always computed.
#[inline(always)]
pub fn hash_line0(w: &[u64; 8]) -> u64 {
    let k = &HASH_K;
    fold_mul(w[0] ^ k[0], w[1] ^ k[1])
        .wrapping_add(fold_mul(w[2] ^ k[2], w[3] ^ k[3]))
        .wrapping_add(fold_mul(w[4] ^ k[4], w[5] ^ k[5]))
        .wrapping_add(fold_mul(w[6] ^ k[6], w[7] ^ k[7]))
}

#[inline(always)]
fn line0(words: &[u64; KEY_WORDS]) -> &[u64; 8] {
    words[..8].try_into().expect("8 words")
}

/// Final avalanche of an accumulated hash.
#[inline(always)]
pub fn hash_finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hashes words 0-7 and the words >= 8 selected by `map` (bit i = word i). Words
/// outside `map` must be zero for the result to equal [`FlowKey::hash`].
#[inline(always)]
pub fn hash_words(words: &[u64; KEY_WORDS], map: u32) -> u64 {
    let mut h = hash_line0(line0(words));
    let mut map = map & !0xff;
    while map != 0 {
        let i = map.trailing_zeros() as usize;
        map &= map - 1;
        h = h.wrapping_add(word_term(words[i], i));
    }
    hash_finish(h)
}

/// A megaflow mask with its precomputed list of significant (non-zero) words.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FlowMask {
    bits: FlowKey,
    map: u32,
    idx: [u8; KEY_WORDS],
    n: u8,
    n_line0: u8,
}

impl core::fmt::Debug for FlowMask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("FlowMask").field(&self.bits).finish()
    }
}

impl FlowMask {
    /// Builds a mask from its bits (a 1 bit = "must match").
    pub fn new(bits: FlowKey) -> Self {
        let map = bits.nonzero_map();
        let mut idx = [0u8; KEY_WORDS];
        let mut n = 0u8;
        // KEY_WORDS (32) word indexes and counts fit a u8.
        for (i, w) in (0u8..).zip(bits.words.iter()) {
            if *w != 0 {
                idx[usize::from(n)] = i;
                n += 1;
            }
        }
        let n_line0 = u8::try_from((map & 0xff).count_ones()).unwrap_or(8);
        Self {
            bits,
            map,
            idx,
            n,
            n_line0,
        }
    }

    /// An exact mask (all bits significant).
    pub fn exact() -> Self {
        Self::new(FlowKey::ONES)
    }

    /// The mask bits.
    #[inline(always)]
    pub fn bits(&self) -> &FlowKey {
        &self.bits
    }

    /// Bitmap of significant words.
    #[inline(always)]
    pub fn map(&self) -> u32 {
        self.map
    }

    /// Indices of the significant words, ascending.
    #[inline(always)]
    pub fn word_indices(&self) -> &[u8] {
        &self.idx[..self.n as usize]
    }

    /// Hash of `key & self`, equal to `key.masked(self.bits()).hash()`.
    #[inline(always)]
    pub fn hash_masked(&self, key: &FlowKey) -> u64 {
        let mut l0 = [0u64; 8];
        for (o, (k, m)) in l0.iter_mut().zip(key.words.iter().zip(&self.bits.words)) {
            *o = k & m;
        }
        let mut h = hash_line0(&l0);
        for &i in &self.idx[self.n_line0 as usize..self.n as usize] {
            let i = i as usize;
            h = h.wrapping_add(word_term(key.words[i] & self.bits.words[i], i));
        }
        hash_finish(h)
    }

    /// Whether `key & self == masked_key` (where `masked_key` is already masked).
    #[inline(always)]
    pub fn matches(&self, key: &FlowKey, masked_key: &FlowKey) -> bool {
        let mut acc = 0u64;
        for &i in self.word_indices() {
            let i = i as usize;
            acc |= (key.words[i] & self.bits.words[i]) ^ masked_key.words[i];
        }
        acc == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_round_trip_and_do_not_clobber_neighbours() {
        let mut k = FlowKey::ZERO;
        k.set_eth_dst([1, 2, 3, 4, 5, 6]);
        k.set_eth_type(0x0800);
        k.set_tp_src(1234);
        k.set_tp_dst(80);
        k.set_ip_proto(6);
        k.set_ipv6_src(0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(k.eth_dst(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(k.eth_type(), 0x0800);
        assert_eq!(k.tp_src(), 1234);
        assert_eq!(k.tp_dst(), 80);
        assert_eq!(k.ip_proto(), 6);
        assert_eq!(k.ipv6_src(), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        k.set_tp_src(0xffff);
        assert_eq!(k.tp_dst(), 80);
        assert_eq!(k.ip_frag(), 0);
    }

    #[test]
    fn masked_hash_equals_hash_of_masked_key() {
        let mut k = FlowKey::ZERO;
        for (i, w) in k.words.iter_mut().enumerate() {
            *w = (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1);
        }
        let mut m = FlowKey::ZERO;
        m.words[1] = 0xffff_0000_0000_ffff;
        m.words[7] = u64::MAX;
        let mask = FlowMask::new(m);
        assert_eq!(mask.hash_masked(&k), k.masked(&m).hash());
        assert_eq!(FlowMask::exact().hash_masked(&k), k.hash());
        assert!(mask.matches(&k, &k.masked(&m)));
        let mut k2 = k;
        k2.words[2] ^= 1;
        assert!(mask.matches(&k2, &k.masked(&m)));
        k2.words[1] ^= 1;
        assert!(!mask.matches(&k2, &k.masked(&m)));
    }
}
