//! Flow key extraction: the kernel's `key_extract()` semantics over a byte slice.
//!
//! The parser never reads out of bounds and never panics. A truncated or malformed
//! header yields exactly the key the kernel would produce (the fields parsed before
//! the problem, with the affected protocol's fields zeroed the way the kernel zeroes
//! them) and [`ParseStatus::Partial`]; frames the kernel refuses to extract a key
//! from (runt Ethernet frames, invalid NSH) report [`ParseStatus::Drop`].

mod fast;
mod generic;

use crate::flow::key::{
    hash_finish, hash_line0, hash_words, word_term, FlowKey, FRAG_FIRST, FRAG_LATER, FRAG_NONE,
    IN_PORT_NONE, MAC_PROTO_ETHERNET, MAC_PROTO_NONE,
};
use fast::{fast_ipv4, fast_ipv4_words};
pub use fast::{simple_match_frame, simple_match_mask};
pub use generic::extract_generic;

/// Ethernet type of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Ethernet type of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Ethernet type of RARP.
pub const ETH_P_RARP: u16 = 0x8035;
/// Ethernet type of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// 802.1Q TPID.
pub const ETH_P_8021Q: u16 = 0x8100;
/// 802.1ad TPID.
pub const ETH_P_8021AD: u16 = 0x88a8;
/// MPLS unicast.
pub const ETH_P_MPLS_UC: u16 = 0x8847;
/// MPLS multicast.
pub const ETH_P_MPLS_MC: u16 = 0x8848;
/// NSH.
pub const ETH_P_NSH: u16 = 0x894f;
/// Internal ethertype of 802.2 (LLC, non-SNAP) frames; such flows carry no ETHERTYPE
/// attribute on the wire.
pub const ETH_TYPE_802_2: u16 = 0x05ff;

/// IP protocol numbers used by the parser.
pub mod ipproto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// IPsec ESP.
    pub const ESP: u8 = 50;
    /// IPsec AH.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 no next header.
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// `IPV6_EXTHDRS` bits (OpenFlow 1.2 encoding).
pub mod exthdr {
    /// No next header seen.
    pub const NONEXT: u16 = 1 << 0;
    /// ESP.
    pub const ESP: u16 = 1 << 1;
    /// Authentication header.
    pub const AUTH: u16 = 1 << 2;
    /// Destination options.
    pub const DEST: u16 = 1 << 3;
    /// Fragment.
    pub const FRAG: u16 = 1 << 4;
    /// Routing.
    pub const ROUTER: u16 = 1 << 5;
    /// Hop-by-hop.
    pub const HOP: u16 = 1 << 6;
    /// Unexpected repeat.
    pub const UNREP: u16 = 1 << 7;
    /// Unexpected order.
    pub const UNSEQ: u16 = 1 << 8;
}

/// Tunnel metadata of a received packet (decapsulated by the runtime).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelMeta {
    /// Tunnel id.
    pub id: u64,
    /// Outer IPv4 source (0 if IPv6).
    pub ipv4_src: u32,
    /// Outer IPv4 destination.
    pub ipv4_dst: u32,
    /// Outer IPv6 source (0 if IPv4).
    pub ipv6_src: u128,
    /// Outer IPv6 destination.
    pub ipv6_dst: u128,
    /// Tunnel flags.
    pub flags: u16,
    /// Outer TOS.
    pub tos: u8,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer UDP source port.
    pub tp_src: u16,
    /// Outer UDP destination port.
    pub tp_dst: u16,
    /// VXLAN GBP.
    pub gbp: u32,
}

/// A packet's connection-tracking metadata: what the last `ct` action found, as flows match
/// it (`OVS_KEY_ATTR_CT_*`), and the connection it found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtMeta {
    /// `ct_state` bits (`OVS_CS_F_*`).
    pub state: u8,
    /// Zone.
    pub zone: u16,
    /// Connection mark.
    pub mark: u32,
    /// Connection labels.
    pub labels: u128,
    /// Original-direction tuple protocol (0 = no tuple).
    pub orig_proto: u8,
    /// Original-direction tuple addresses, IPv4 (src, dst).
    pub orig_ipv4: (u32, u32),
    /// Original-direction tuple addresses, IPv6 (src, dst).
    pub orig_ipv6: (u128, u128),
    /// Original-direction tuple ports (src, dst; ICMP type and code).
    pub orig_ports: (u16, u16),
    /// The connection the last `ct` found, kept so that a later `ct` in the same zone does
    /// not track the same packet twice (never reported).
    pub conn: crate::conntrack::ConnRef,
}

/// Per-packet metadata that enters the key besides the frame bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Input datapath port ([`IN_PORT_NONE`] = none).
    pub in_port: u16,
    /// Recirculation id.
    pub recirc_id: u32,
    /// dp_hash from a previous HASH action.
    pub dp_hash: u32,
    /// skb mark.
    pub skb_mark: u32,
    /// skb priority.
    pub priority: u32,
    /// Connection tracking: what the last `ct` action found.
    pub ct: CtMeta,
    /// Tunnel the packet arrived on.
    pub tunnel: Option<TunnelMeta>,
    /// `Some(ethertype)` for a layer-3 packet without an Ethernet header.
    pub l3_ethertype: Option<u16>,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            in_port: IN_PORT_NONE,
            recirc_id: 0,
            dp_hash: 0,
            skb_mark: 0,
            priority: 0,
            ct: CtMeta::default(),
            tunnel: None,
            l3_ethertype: None,
        }
    }
}

impl Metadata {
    /// Metadata of a packet received on `port`, all else zero.
    pub fn for_port(port: u16) -> Self {
        Self {
            in_port: port,
            ..Self::default()
        }
    }
}

/// How far key extraction got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseStatus {
    /// Every header the key covers was parsed.
    Ok,
    /// A header was truncated or malformed; the key holds what the kernel parses
    /// before giving up on that header (count it as malformed, forward normally).
    Partial,
    /// The kernel's extraction fails for this frame: drop it.
    Drop,
}

/// Side results of key extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractInfo {
    /// [`FlowKey::hash`] of the extracted key (computed while extracting).
    pub hash: u64,
    /// Words of the key that may be non-zero (bit i = word i; words 0-7 always set);
    /// every word outside it is zero. Lets the EMC compare only these words.
    pub map: u32,
    /// Offset of the L3 header (= MAC header length; start of the MPLS stack or NSH).
    pub l3_ofs: u16,
    /// Offset of the L4 header (equals `l3_ofs` when there is none).
    pub l4_ofs: u16,
    /// Parse outcome.
    pub status: ParseStatus,
}

#[inline(always)]
fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

#[inline(always)]
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

#[inline(always)]
fn be128(b: &[u8], o: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[o..o + 16]);
    u128::from_be_bytes(a)
}

#[inline(always)]
fn mac(b: &[u8], o: usize) -> [u8; 6] {
    [b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]]
}

/// Words always hashed: the first cache line.
const MAP_LINE0: u32 = 0xff;
const MAP_IPV6: u32 = (0b11111) << 8; // words 8..=12
const MAP_ND: u32 = (0b1111) << 13; // words 13..=16
const MAP_MPLS_NSH: u32 = 0b111 << 8; // words 8..=10
const MAP_ARP: u32 = 0b11 << 15; // words 15..=16
const MAP_CT: u32 = (1 << 12) | (0b111111 << 13) | (0b11 << 18);
const MAP_TUN: u32 = 0xff << 20;

/// Extracts the flow key of `frame` with metadata `md` into `key` (fully overwritten).
///
/// Untagged Ethernet/IPv4 (no options, not a fragment) TCP and UDP take a
/// straight-line fast path that composes the first cache line in registers; everything
/// else goes through [`extract_generic`]. Both produce identical keys. For a burst
/// sharing metadata, prepare it once with [`PreparedMeta`] and call
/// [`extract_prepared`].
#[inline]
pub fn extract(frame: &[u8], md: &Metadata, key: &mut FlowKey) -> ExtractInfo {
    if md.l3_ethertype.is_none() {
        if let Some(f) = fast_ipv4_words(frame) {
            let w0 = u64::from(md.recirc_id)
                | u64::from(md.in_port) << 32
                | u64::from(MAC_PROTO_ETHERNET) << 48
                | u64::from(md.ct.state) << 56;
            let l0 = [
                w0,
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                u64::from(md.dp_hash) | u64::from(md.skb_mark) << 32,
                u64::from(md.priority) | u64::from(md.ct.zone) << 32,
            ];
            key.words[..8].copy_from_slice(&l0);
            key.words[8..].fill(0);
            let mut map = MAP_LINE0 | write_ct_tunnel(md, key);
            if md.ct.orig_proto != 0 {
                // After `ct`, a recirculated packet's key carries its connection's original
                // tuple: the IPv4 form, this being an IPv4 packet.
                key.set_ct_orig_ipv4_src(md.ct.orig_ipv4.0);
                key.set_ct_orig_ipv4_dst(md.ct.orig_ipv4.1);
                key.set_ct_orig_tp_src(md.ct.orig_ports.0);
                key.set_ct_orig_tp_dst(md.ct.orig_ports.1);
                key.set_ct_orig_proto(md.ct.orig_proto);
                map |= MAP_CT;
            }
            return ExtractInfo {
                hash: hash_words(&key.words, map),
                map,
                l3_ofs: 14,
                l4_ofs: 34,
                status: ParseStatus::Ok,
            };
        }
    }
    extract_generic(frame, md, key)
}

/// Metadata turned into key words once per burst: a key template holding every
/// metadata-derived word (the rest zero) and the map of words it may set.
#[derive(Clone, Debug)]
pub struct PreparedMeta<'a> {
    md: &'a Metadata,
    template: FlowKey,
    map: u32,
    /// Hash contribution of the template's words beyond the first line.
    extra_hash: u64,
    fast_ok: bool,
}

impl<'a> PreparedMeta<'a> {
    /// Prepares `md`.
    #[inline]
    pub fn new(md: &'a Metadata) -> Self {
        let mut t = FlowKey::ZERO;
        t.set_recirc_id(md.recirc_id);
        t.set_in_port(md.in_port);
        t.set_mac_proto(MAC_PROTO_ETHERNET);
        t.set_ct_state(md.ct.state);
        t.set_dp_hash(md.dp_hash);
        t.set_skb_mark(md.skb_mark);
        t.set_priority(md.priority);
        t.set_ct_zone(md.ct.zone);
        let map = MAP_LINE0 | write_ct_tunnel(md, &mut t);
        let mut extra_hash = 0u64;
        let mut m = map & !MAP_LINE0;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            extra_hash = extra_hash.wrapping_add(word_term(t.words[i], i));
        }
        Self {
            md,
            template: t,
            map,
            extra_hash,
            fast_ok: md.l3_ethertype.is_none() && md.ct.orig_proto == 0,
        }
    }

    /// The metadata.
    pub fn metadata(&self) -> &'a Metadata {
        self.md
    }
}

/// [`extract`] with metadata prepared once per burst.
#[inline]
pub fn extract_prepared(frame: &[u8], pm: &PreparedMeta<'_>, key: &mut FlowKey) -> ExtractInfo {
    let mut map = u32::MAX;
    extract_reuse(frame, pm, key, &mut map)
}

/// [`extract_prepared`] into a reused key buffer: `key_map` must name (at least) every
/// word of `key` that may be non-zero (e.g. the `map` of the previous extraction into
/// it, or `u32::MAX`), and is updated to the new key's map. Lets the fast path skip
/// clearing the upper three cache lines when they are already zero.
#[inline]
pub fn extract_reuse(
    frame: &[u8],
    pm: &PreparedMeta<'_>,
    key: &mut FlowKey,
    key_map: &mut u32,
) -> ExtractInfo {
    if pm.fast_ok {
        if let Some(info) = fast_ipv4(frame, pm, key, *key_map) {
            *key_map = info.map;
            return info;
        }
    }
    let info = extract_generic(frame, pm.md, key);
    *key_map = info.map;
    info
}

/// Writes conntrack (except the original tuple) and tunnel metadata; returns the map
/// of words possibly written.
#[inline(always)]
fn write_ct_tunnel(md: &Metadata, key: &mut FlowKey) -> u32 {
    let mut map = 0;
    if md.ct.state != 0 || md.ct.zone != 0 || md.ct.mark != 0 || md.ct.labels != 0 {
        key.set_ct_state(md.ct.state);
        key.set_ct_zone(md.ct.zone);
        key.set_ct_mark(md.ct.mark);
        key.set_ct_labels(md.ct.labels);
        map |= MAP_CT;
    }
    if let Some(t) = &md.tunnel {
        key.set_tun_id(t.id);
        key.set_tun_ipv4_src(t.ipv4_src);
        key.set_tun_ipv4_dst(t.ipv4_dst);
        key.set_tun_ipv6_src(t.ipv6_src);
        key.set_tun_ipv6_dst(t.ipv6_dst);
        key.set_tun_flags(t.flags);
        key.set_tun_tos(t.tos);
        key.set_tun_ttl(t.ttl);
        key.set_tun_tp_src(t.tp_src);
        key.set_tun_tp_dst(t.tp_dst);
        key.set_tun_gbp(t.gbp);
        map |= MAP_TUN;
    }
    map
}
