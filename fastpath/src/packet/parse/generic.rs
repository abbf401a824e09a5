//! The general extraction path: every protocol the kernel's `key_extract()` knows
//! (`net/openvswitch/flow.c`), with its handling of truncated and malformed headers.

use super::*;

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
    if md.ct.orig_proto != 0 && p.status != ParseStatus::Drop {
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
                k.set_ct_orig_ipv4_src(md.ct.orig_ipv4.0);
                k.set_ct_orig_ipv4_dst(md.ct.orig_ipv4.1);
            }
            ETH_P_IPV6 if self.map & MAP_ND == 0 => {
                k.set_ct_orig_ipv6_src(md.ct.orig_ipv6.0);
                k.set_ct_orig_ipv6_dst(md.ct.orig_ipv6.1);
            }
            _ => return,
        }
        k.set_ct_orig_tp_src(md.ct.orig_ports.0);
        k.set_ct_orig_tp_dst(md.ct.orig_ports.1);
        k.set_ct_orig_proto(md.ct.orig_proto);
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
