//! Flow key extraction: the kernel's `key_extract()` semantics over a byte slice.
//!
//! The parser never reads out of bounds and never panics. A truncated or malformed
//! header yields exactly the key the kernel would produce (the fields parsed before
//! the problem, with the affected protocol's fields zeroed the way the kernel zeroes
//! them) and [`ParseStatus::Partial`]; frames the kernel refuses to extract a key
//! from (runt Ethernet frames, invalid NSH) report [`ParseStatus::Drop`].

use crate::flow::key::{
    hash_finish, hash_line0, hash_words, word_term, FlowKey, FRAG_FIRST, FRAG_LATER, FRAG_NONE,
    IN_PORT_NONE, MAC_PROTO_ETHERNET, MAC_PROTO_NONE,
};

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
    /// Conntrack state.
    pub ct_state: u8,
    /// Conntrack zone.
    pub ct_zone: u16,
    /// Conntrack mark.
    pub ct_mark: u32,
    /// Conntrack labels.
    pub ct_labels: u128,
    /// Conntrack original tuple protocol (0 = no tuple).
    pub ct_orig_proto: u8,
    /// Conntrack original tuple addresses, IPv4 (src, dst).
    pub ct_orig_ipv4: (u32, u32),
    /// Conntrack original tuple addresses, IPv6 (src, dst).
    pub ct_orig_ipv6: (u128, u128),
    /// Conntrack original tuple ports (src, dst).
    pub ct_orig_ports: (u16, u16),
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
            ct_state: 0,
            ct_zone: 0,
            ct_mark: 0,
            ct_labels: 0,
            ct_orig_proto: 0,
            ct_orig_ipv4: (0, 0),
            ct_orig_ipv6: (0, 0),
            ct_orig_ports: (0, 0),
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
    if md.l3_ethertype.is_none() && md.ct_orig_proto == 0 {
        if let Some(f) = fast_ipv4_words(frame) {
            let w0 = u64::from(md.recirc_id)
                | u64::from(md.in_port) << 32
                | u64::from(MAC_PROTO_ETHERNET) << 48
                | u64::from(md.ct_state) << 56;
            let l0 = [
                w0,
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                u64::from(md.dp_hash) | u64::from(md.skb_mark) << 32,
                u64::from(md.priority) | u64::from(md.ct_zone) << 32,
            ];
            key.words[..8].copy_from_slice(&l0);
            key.words[8..].fill(0);
            let map = MAP_LINE0 | write_ct_tunnel(md, key);
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
        t.set_ct_state(md.ct_state);
        t.set_dp_hash(md.dp_hash);
        t.set_skb_mark(md.skb_mark);
        t.set_priority(md.priority);
        t.set_ct_zone(md.ct_zone);
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
            fast_ok: md.l3_ethertype.is_none() && md.ct_orig_proto == 0,
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
fn fast_ipv4_words(b: &[u8]) -> Option<[u64; 5]> {
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
fn fast_ipv4(
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

/// Writes conntrack (except the original tuple) and tunnel metadata; returns the map
/// of words possibly written.
#[inline(always)]
fn write_ct_tunnel(md: &Metadata, key: &mut FlowKey) -> u32 {
    let mut map = 0;
    if md.ct_state != 0 || md.ct_zone != 0 || md.ct_mark != 0 || md.ct_labels != 0 {
        key.set_ct_state(md.ct_state);
        key.set_ct_zone(md.ct_zone);
        key.set_ct_mark(md.ct_mark);
        key.set_ct_labels(md.ct_labels);
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

/// The general extraction path (every protocol, truncation handling). [`extract`]
/// uses it for everything but the IPv4 TCP/UDP fast path; exposed so tests can check
/// that both paths agree.
pub fn extract_generic(frame: &[u8], md: &Metadata, key: &mut FlowKey) -> ExtractInfo {
    *key = FlowKey::ZERO;
    let mut map = MAP_LINE0;
    key.set_recirc_id(md.recirc_id);
    key.set_in_port(md.in_port);
    key.set_dp_hash(md.dp_hash);
    key.set_skb_mark(md.skb_mark);
    key.set_priority(md.priority);
    map |= write_ct_tunnel(md, key);

    let mut p = Parser {
        b: frame,
        key,
        map,
        status: ParseStatus::Ok,
        l3: 0,
        l4: 0,
    };
    p.run(md);
    if md.ct_orig_proto != 0 && p.status != ParseStatus::Drop {
        p.ct_orig(md);
    }
    let (hash, map, l3, l4, status) =
        (hash_words(&p.key.words, p.map), p.map, p.l3, p.l4, p.status);
    ExtractInfo {
        hash,
        map,
        // Header offsets: bounded by the parse depth, far below 64 KiB.
        l3_ofs: u16::try_from(l3).unwrap_or(u16::MAX),
        l4_ofs: u16::try_from(l4).unwrap_or(u16::MAX),
        status,
    }
}

struct Parser<'a, 'k> {
    b: &'a [u8],
    key: &'k mut FlowKey,
    map: u32,
    status: ParseStatus,
    l3: usize,
    l4: usize,
}

impl Parser<'_, '_> {
    /// The conntrack original-direction tuple, for IPv4 and IPv6 keys (it shares
    /// storage with ND fields, which win, like in the kernel).
    fn ct_orig(&mut self, md: &Metadata) {
        let k = &mut *self.key;
        match k.eth_type() {
            ETH_P_IP => {
                k.set_ct_orig_ipv4_src(md.ct_orig_ipv4.0);
                k.set_ct_orig_ipv4_dst(md.ct_orig_ipv4.1);
            }
            ETH_P_IPV6 if self.map & MAP_ND == 0 => {
                k.set_ct_orig_ipv6_src(md.ct_orig_ipv6.0);
                k.set_ct_orig_ipv6_dst(md.ct_orig_ipv6.1);
            }
            _ => return,
        }
        k.set_ct_orig_tp_src(md.ct_orig_ports.0);
        k.set_ct_orig_tp_dst(md.ct_orig_ports.1);
        k.set_ct_orig_proto(md.ct_orig_proto);
        self.map |= MAP_CT;
    }

    #[inline(always)]
    fn partial(&mut self) {
        if self.status == ParseStatus::Ok {
            self.status = ParseStatus::Partial;
        }
    }

    #[inline(always)]
    fn run(&mut self, md: &Metadata) {
        let b = self.b;
        let mut off;
        if let Some(et) = md.l3_ethertype {
            self.key.set_mac_proto(MAC_PROTO_NONE);
            self.key.set_eth_type(et);
            off = 0;
        } else {
            self.key.set_mac_proto(MAC_PROTO_ETHERNET);
            if b.len() < 14 {
                if b.len() >= 12 {
                    self.key.set_eth_dst(mac(b, 0));
                    self.key.set_eth_src(mac(b, 6));
                }
                self.status = ParseStatus::Drop;
                self.l3 = b.len();
                self.l4 = b.len();
                return;
            }
            self.key.set_eth_dst(mac(b, 0));
            self.key.set_eth_src(mac(b, 6));
            off = 12;
            // Up to two VLAN tags; a tag needs its 4 bytes plus the next ethertype.
            let tpid = be16(b, off);
            if is_vlan(tpid) {
                if b.len() >= off + 6 {
                    self.key.set_vlan_tpid(tpid);
                    self.key.set_vlan_tci(be16(b, off + 2) | 0x1000);
                    off += 4;
                    let tpid2 = be16(b, off);
                    if is_vlan(tpid2) {
                        if b.len() >= off + 6 {
                            self.key.set_cvlan_tpid(tpid2);
                            self.key.set_cvlan_tci(be16(b, off + 2) | 0x1000);
                            off += 4;
                        } else {
                            self.partial();
                        }
                    }
                } else {
                    self.partial();
                }
            }
            // parse_ethertype(): always at least 2 bytes here.
            let proto = be16(b, off);
            off += 2;
            let et = if proto >= 0x0600 {
                proto
            } else if b.len() < off + 8 {
                ETH_TYPE_802_2
            } else if b[off] == 0xaa
                && b[off + 1] == 0xaa
                && b[off + 2] == 0x03
                && b[off + 3] == 0
                && b[off + 4] == 0
                && b[off + 5] == 0
            {
                let t = be16(b, off + 6);
                if t >= 0x0600 {
                    off += 8;
                    t
                } else {
                    ETH_TYPE_802_2
                }
            } else {
                ETH_TYPE_802_2
            };
            self.key.set_eth_type(et);
        }
        self.l3 = off;
        self.l4 = off;
        match self.key.eth_type() {
            ETH_P_IP => self.ipv4(off),
            ETH_P_IPV6 => self.ipv6(off),
            ETH_P_ARP | ETH_P_RARP => self.arp(off),
            ETH_P_MPLS_UC | ETH_P_MPLS_MC => self.mpls(off),
            ETH_P_NSH => self.nsh(off),
            _ => {}
        }
    }

    #[inline(always)]
    fn ipv4(&mut self, off: usize) {
        let b = self.b;
        if b.len() < off + 20 {
            self.partial();
            return;
        }
        let ihl = usize::from(b[off] & 0x0f) * 4;
        if ihl < 20 || b.len() < off + ihl {
            self.partial();
            return;
        }
        let k = &mut *self.key;
        k.set_ipv4_src(be32(b, off + 12));
        k.set_ipv4_dst(be32(b, off + 16));
        let proto = b[off + 9];
        k.set_ip_proto(proto);
        k.set_ip_tos(b[off + 1]);
        k.set_ip_ttl(b[off + 8]);
        let frag_off = be16(b, off + 6);
        let l4 = off + ihl;
        self.l4 = l4;
        if frag_off & 0x1fff != 0 {
            k.set_ip_frag(FRAG_LATER);
            return;
        }
        k.set_ip_frag(if frag_off & 0x2000 != 0 {
            FRAG_FIRST
        } else {
            FRAG_NONE
        });
        match proto {
            ipproto::TCP => self.tcp(l4),
            ipproto::UDP => self.ports(l4, 8),
            ipproto::SCTP => self.ports(l4, 12),
            ipproto::ICMP => {
                if b.len() >= l4 + 8 {
                    self.key.set_tp_src(u16::from(b[l4]));
                    self.key.set_tp_dst(u16::from(b[l4 + 1]));
                } else {
                    self.partial();
                }
            }
            _ => {}
        }
    }

    #[inline(always)]
    fn tcp(&mut self, l4: usize) {
        let b = self.b;
        if b.len() >= l4 + 20 {
            let doff = usize::from(b[l4 + 12] >> 4) * 4;
            if doff >= 20 && b.len() >= l4 + doff {
                self.key.set_tp_src(be16(b, l4));
                self.key.set_tp_dst(be16(b, l4 + 2));
                self.key.set_tcp_flags(be16(b, l4 + 12) & 0x0fff);
                return;
            }
        }
        self.partial();
    }

    #[inline(always)]
    fn ports(&mut self, l4: usize, hdr_len: usize) {
        let b = self.b;
        if b.len() >= l4 + hdr_len {
            self.key.set_tp_src(be16(b, l4));
            self.key.set_tp_dst(be16(b, l4 + 2));
        } else {
            self.partial();
        }
    }

    fn arp(&mut self, off: usize) {
        let b = self.b;
        if b.len() >= off + 28
            && be16(b, off) == 1
            && be16(b, off + 2) == ETH_P_IP
            && b[off + 4] == 6
            && b[off + 5] == 4
        {
            self.map |= MAP_ARP;
            let op = be16(b, off + 6);
            let k = &mut *self.key;
            k.set_ip_proto(u8::try_from(op).unwrap_or(0));
            k.set_arp_sha(mac(b, off + 8));
            k.set_arp_sip(be32(b, off + 14));
            k.set_arp_tha(mac(b, off + 18));
            k.set_arp_tip(be32(b, off + 24));
        } else if b.len() < off + 28 {
            self.partial();
        }
    }

    fn mpls(&mut self, off: usize) {
        let b = self.b;
        self.map |= MAP_MPLS_NSH;
        let mut n = 0usize;
        loop {
            let o = off + n * 4;
            if b.len() < o + 4 {
                // Truncated stack: the labels read so far stay, but the count is 0.
                self.partial();
                return;
            }
            let lse = be32(b, o);
            match n {
                0 => self.key.set_mpls_lse0(lse),
                1 => self.key.set_mpls_lse1(lse),
                2 => self.key.set_mpls_lse2(lse),
                _ => {}
            }
            n += 1;
            if lse & 0x100 != 0 {
                break;
            }
        }
        self.key.set_mpls_depth(u8::try_from(n.min(3)).unwrap_or(3));
        self.l4 = off + n * 4;
    }

    fn nsh(&mut self, off: usize) {
        let b = self.b;
        self.map |= MAP_MPLS_NSH;
        if b.len() < off + 8 {
            self.status = ParseStatus::Drop;
            return;
        }
        let w = be16(b, off);
        let version = w >> 14;
        let len = usize::from(w & 0x3f) * 4;
        if version != 0 || b.len() < off + len {
            self.status = ParseStatus::Drop;
            return;
        }
        let mdtype = b[off + 2];
        let k = &mut *self.key;
        k.set_nsh_flags(((w >> 12) & 0x3) as u8);
        k.set_nsh_ttl(((w >> 6) & 0x3f) as u8);
        k.set_nsh_mdtype(mdtype);
        k.set_nsh_np(b[off + 3]);
        k.set_nsh_path_hdr(be32(b, off + 4));
        match mdtype {
            1 if len == 24 => {
                k.set_nsh_c0(be32(b, off + 8));
                k.set_nsh_c1(be32(b, off + 12));
                k.set_nsh_c2(be32(b, off + 16));
                k.set_nsh_c3(be32(b, off + 20));
            }
            2 => {}
            _ => self.status = ParseStatus::Drop,
        }
    }

    fn ipv6(&mut self, off: usize) {
        let b = self.b;
        if b.len() < off + 40 {
            self.partial();
            return;
        }
        self.map |= MAP_IPV6;
        let first = be32(b, off);
        let k = &mut *self.key;
        k.set_ipv6_exthdrs(ipv6_exthdrs(b, off));
        k.set_ip_proto(ipproto::NONE);
        k.set_ip_tos(((first >> 20) & 0xff) as u8);
        k.set_ip_ttl(b[off + 7]);
        k.set_ipv6_label(first & 0x000f_ffff);
        k.set_ipv6_src(be128(b, off + 8));
        k.set_ipv6_dst(be128(b, off + 24));

        // ipv6_find_hdr(target = -1).
        let mut nexthdr = b[off + 6];
        let mut start = off + 40;
        let mut is_frag = false;
        let found: Result<u8, ()> = loop {
            if !is_ext_hdr(nexthdr) || nexthdr == ipproto::NONE {
                break Ok(nexthdr);
            }
            let need = if nexthdr == ipproto::ROUTING { 4 } else { 2 };
            if b.len() < start + need {
                break Err(());
            }
            let hdrlen = if nexthdr == ipproto::FRAGMENT {
                is_frag = true;
                if b.len() < start + 4 {
                    break Err(());
                }
                let frag_off = be16(b, start + 2) & !7;
                if frag_off != 0 {
                    let nh = b[start];
                    if !is_ext_hdr(nh) || nh == ipproto::NONE {
                        self.key.set_ip_frag(FRAG_LATER);
                        self.key.set_ip_proto(ipproto::FRAGMENT);
                        self.l4 = off;
                        return;
                    }
                    break Err(());
                }
                8
            } else if nexthdr == ipproto::AH {
                (usize::from(b[start + 1]) + 2) * 4
            } else {
                (usize::from(b[start + 1]) + 1) * 8
            };
            nexthdr = b[start];
            start += hdrlen;
        };
        self.key
            .set_ip_frag(if is_frag { FRAG_FIRST } else { FRAG_NONE });
        let Ok(proto) = found else {
            // -EPROTO: keep the addresses, proto stays "none".
            self.partial();
            return;
        };
        self.key.set_ip_proto(proto);
        let l4 = start;
        self.l4 = l4;
        match proto {
            ipproto::TCP => self.tcp(l4),
            ipproto::UDP => self.ports(l4, 8),
            ipproto::SCTP => self.ports(l4, 12),
            ipproto::ICMPV6 => self.icmpv6(l4),
            _ => {}
        }
    }

    fn icmpv6(&mut self, l4: usize) {
        let b = self.b;
        if b.len() < l4 + 8 {
            self.partial();
            return;
        }
        let (ty, code) = (b[l4], b[l4 + 1]);
        self.key.set_tp_src(u16::from(ty));
        self.key.set_tp_dst(u16::from(code));
        if code != 0 || (ty != 135 && ty != 136) {
            return;
        }
        self.map |= MAP_ND;
        let mut icmp_len = b.len() - l4;
        if icmp_len < 24 {
            self.partial();
            return;
        }
        self.key.set_nd_target(be128(b, l4 + 8));
        icmp_len -= 24;
        let mut o = l4 + 24;
        let (mut sll, mut tll) = (None, None);
        while icmp_len >= 8 {
            let opt_len = usize::from(b[o + 1]) * 8;
            if opt_len == 0 || opt_len > icmp_len {
                self.partial();
                break;
            }
            let ty = b[o];
            if opt_len == 8 && (ty == 1 || ty == 2) {
                let slot = if ty == 1 { &mut sll } else { &mut tll };
                if slot.is_some_and(|m: [u8; 6]| m != [0; 6]) {
                    // Duplicate option: the kernel clears target, SLL and TLL.
                    self.key.set_nd_target(0);
                    self.key.set_nd_sll([0; 6]);
                    self.key.set_nd_tll([0; 6]);
                    self.partial();
                    return;
                }
                *slot = Some(mac(b, o + 2));
            }
            icmp_len -= opt_len;
            o += opt_len;
        }
        if let Some(m) = sll {
            self.key.set_nd_sll(m);
        }
        if let Some(m) = tll {
            self.key.set_nd_tll(m);
        }
    }
}

#[inline(always)]
fn is_vlan(tpid: u16) -> bool {
    tpid == ETH_P_8021Q || tpid == ETH_P_8021AD
}

#[inline(always)]
fn is_ext_hdr(nh: u8) -> bool {
    matches!(
        nh,
        ipproto::HOPOPTS
            | ipproto::ROUTING
            | ipproto::FRAGMENT
            | ipproto::AH
            | ipproto::NONE
            | ipproto::DSTOPTS
    )
}

/// The `IPV6_EXTHDRS` bits: which extension headers appear, repeated ones (two
/// destination-options headers are expected) and order violations against RFC 8200's
/// recommended order (hop, dest, routing, fragment, auth, esp, dest).
fn ipv6_exthdrs(b: &[u8], off: usize) -> u16 {
    let mut bits = 0u16;
    let mut next = b[off + 6];
    let mut start = off + 40;
    let mut dest_count = 0;
    let mut rank = 0u8; // position in the recommended order reached so far
    loop {
        let (bit, r) = match next {
            ipproto::NONE => return bits | exthdr::NONEXT,
            ipproto::HOPOPTS => (exthdr::HOP, 1),
            ipproto::DSTOPTS => {
                dest_count += 1;
                (
                    exthdr::DEST,
                    if dest_count == 1 && rank < 3 { 2 } else { 7 },
                )
            }
            ipproto::ROUTING => (exthdr::ROUTER, 3),
            ipproto::FRAGMENT => (exthdr::FRAG, 4),
            ipproto::AH => (exthdr::AUTH, 5),
            ipproto::ESP => (exthdr::ESP, 6),
            _ => return bits,
        };
        if bits & bit != 0 && !(bit == exthdr::DEST && dest_count == 2) {
            bits |= exthdr::UNREP;
        }
        if r < rank || (next == ipproto::HOPOPTS && bits != 0) || dest_count > 2 {
            bits |= exthdr::UNSEQ;
        }
        rank = rank.max(r);
        bits |= bit;
        if next == ipproto::ESP || b.len() < start + 2 {
            return bits;
        }
        let len = if next == ipproto::AH {
            (usize::from(b[start + 1]) + 2) * 4
        } else if next == ipproto::FRAGMENT {
            8
        } else {
            (usize::from(b[start + 1]) + 1) * 8
        };
        next = b[start];
        start += len;
    }
}
