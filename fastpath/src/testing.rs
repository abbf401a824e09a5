//! Frame builders and checksum verifiers for the tests, benchmarks and fuzz targets of the
//! fast path and of the crates that embed it (feature `testing`).
#![allow(missing_docs, clippy::cast_possible_truncation)]

use crate::actions::csum::{checksum, fold, sum};

pub const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
pub const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&ethertype.to_be_bytes());
    v
}

/// IPv4 header (with options if `opts` non-empty) with a correct checksum.
pub fn ipv4_hdr(
    src: u32,
    dst: u32,
    proto: u8,
    payload_len: usize,
    frag: u16,
    opts: &[u8],
) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let ihl = 5 + opts.len() / 4;
    let total = (ihl * 4 + payload_len) as u16;
    let mut h = vec![0x40 | ihl as u8, 0x10];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.to_be_bytes());
    h.extend_from_slice(&dst.to_be_bytes());
    h.extend_from_slice(opts);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

pub fn ipv6_hdr(src: u128, dst: u128, next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&(0x6000_0000u32 | (0x2a << 20) | 0x12345).to_be_bytes());
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src.to_be_bytes());
    h.extend_from_slice(&dst.to_be_bytes());
    h
}

pub fn udp_hdr(sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

pub fn tcp_hdr(sport: u16, dport: u16, flags: u16, opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let doff = (5 + opts.len() / 4) as u16;
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&1u32.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&((doff << 12) | flags).to_be_bytes());
    h.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    h.extend_from_slice(opts);
    h
}

/// Pseudo-header sum for IPv4.
fn pseudo4(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    let mut p = Vec::new();
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    sum(&p, 0)
}

fn pseudo6(src: u128, dst: u128, proto: u8, len: usize) -> u32 {
    let mut p = Vec::new();
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    sum(&p, 0)
}

/// Writes a correct L4 checksum (TCP/UDP/ICMPv6 with pseudo header, ICMP without)
/// into `l4` (the whole L4 segment) for an IPv4 packet.
pub fn fill_l4_csum_v4(src: u32, dst: u32, proto: u8, l4: &mut [u8]) {
    let off = csum_off(proto);
    l4[off..off + 2].copy_from_slice(&[0, 0]);
    let init = if proto == 1 {
        0
    } else {
        pseudo4(src, dst, proto, l4.len())
    };
    let mut c = !fold(sum(l4, init));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

pub fn fill_l4_csum_v6(src: u128, dst: u128, proto: u8, l4: &mut [u8]) {
    let off = csum_off(proto);
    l4[off..off + 2].copy_from_slice(&[0, 0]);
    let mut c = !fold(sum(l4, pseudo6(src, dst, proto, l4.len())));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

fn csum_off(proto: u8) -> usize {
    match proto {
        6 => 16,
        17 => 6,
        1 | 58 => 2,
        _ => panic!("no checksum for proto {proto}"),
    }
}

/// Full verification of an Ethernet/IPv4 frame's IP and L4 checksums (L3 at `l3`).
pub fn verify_v4(frame: &[u8], l3: usize) -> bool {
    let ihl = usize::from(frame[l3] & 0xf) * 4;
    if checksum(&frame[l3..l3 + ihl]) != 0 {
        return false;
    }
    let proto = frame[l3 + 9];
    let src = u32::from_be_bytes(frame[l3 + 12..l3 + 16].try_into().unwrap());
    let dst = u32::from_be_bytes(frame[l3 + 16..l3 + 20].try_into().unwrap());
    let l4 = &frame[l3 + ihl..];
    match proto {
        17 if l4[6..8] == [0, 0] => true,
        6 | 17 => fold(sum(l4, pseudo4(src, dst, proto, l4.len()))) == 0xffff,
        1 => fold(sum(l4, 0)) == 0xffff,
        _ => true,
    }
}

/// Full verification of an IPv6 frame's L4 checksum (no extension headers).
pub fn verify_v6(frame: &[u8], l3: usize) -> bool {
    let proto = frame[l3 + 6];
    let src = u128::from_be_bytes(frame[l3 + 8..l3 + 24].try_into().unwrap());
    let dst = u128::from_be_bytes(frame[l3 + 24..l3 + 40].try_into().unwrap());
    let l4 = &frame[l3 + 40..];
    fold(sum(l4, pseudo6(src, dst, proto, l4.len()))) == 0xffff
}

pub const IP_A: u32 = 0x0a00_0001;
pub const IP_B: u32 = 0x0a00_0002;
pub const IP6_A: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
pub const IP6_B: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

/// Ethernet/IPv4/UDP, 60 bytes (64 on the wire), valid checksums.
pub fn udp4_frame() -> Vec<u8> {
    let payload = [0xabu8; 18];
    let mut l4 = udp_hdr(1234, 5678, payload.len());
    l4.extend_from_slice(&payload);
    fill_l4_csum_v4(IP_A, IP_B, 17, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x0800);
    f.extend(ipv4_hdr(IP_A, IP_B, 17, l4.len(), 0, &[]));
    f.extend(l4);
    f
}

/// Ethernet/IPv4/TCP with IP and TCP options.
pub fn tcp4_frame() -> Vec<u8> {
    let mut l4 = tcp_hdr(40000, 80, 0x012, &[2, 4, 5, 0xb4, 1, 1, 1, 0]);
    l4.extend_from_slice(b"hello");
    fill_l4_csum_v4(IP_A, IP_B, 6, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x0800);
    f.extend(ipv4_hdr(IP_A, IP_B, 6, l4.len(), 0x4000, &[1, 1, 1, 0]));
    f.extend(l4);
    f
}

/// Ethernet/IPv6/TCP, no extension headers.
pub fn tcp6_frame() -> Vec<u8> {
    let mut l4 = tcp_hdr(40000, 443, 0x018, &[]);
    l4.extend_from_slice(b"data");
    fill_l4_csum_v6(IP6_A, IP6_B, 6, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x86dd);
    f.extend(ipv6_hdr(IP6_A, IP6_B, 6, l4.len()));
    f.extend(l4);
    f
}

/// Ethernet/IPv6/UDP.
pub fn udp6_frame() -> Vec<u8> {
    let mut l4 = udp_hdr(5353, 53, 4);
    l4.extend_from_slice(b"abcd");
    fill_l4_csum_v6(IP6_A, IP6_B, 17, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x86dd);
    f.extend(ipv6_hdr(IP6_A, IP6_B, 17, l4.len()));
    f.extend(l4);
    f
}

/// One-field `odp` keys, the operand of SET and SET_MASKED actions, from host-order values.
pub mod keys {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use odp::key::{ArpKey, EthernetKey, FlowKey, IcmpKey, Ipv4Key, Ipv6Key, NdKey, PortsKey};

    use crate::packet::TunnelMeta;

    pub fn ethernet(src: [u8; 6], dst: [u8; 6]) -> FlowKey {
        FlowKey {
            ethernet: Some(EthernetKey { src, dst }),
            ..FlowKey::default()
        }
    }

    pub fn ipv4(src: u32, dst: u32, proto: u8, tos: u8, ttl: u8, frag: u8) -> FlowKey {
        FlowKey {
            ipv4: Some(Ipv4Key {
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                proto,
                tos,
                ttl,
                frag,
            }),
            ..FlowKey::default()
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn ipv6(
        src: u128,
        dst: u128,
        label: u32,
        proto: u8,
        tclass: u8,
        hlimit: u8,
        frag: u8,
    ) -> FlowKey {
        FlowKey {
            ipv6: Some(Ipv6Key {
                src: Ipv6Addr::from(src),
                dst: Ipv6Addr::from(dst),
                label,
                proto,
                tclass,
                hlimit,
                frag,
            }),
            ..FlowKey::default()
        }
    }

    pub fn tcp(src: u16, dst: u16) -> FlowKey {
        FlowKey {
            tcp: Some(PortsKey { src, dst }),
            ..FlowKey::default()
        }
    }

    pub fn udp(src: u16, dst: u16) -> FlowKey {
        FlowKey {
            udp: Some(PortsKey { src, dst }),
            ..FlowKey::default()
        }
    }

    pub fn sctp(src: u16, dst: u16) -> FlowKey {
        FlowKey {
            sctp: Some(PortsKey { src, dst }),
            ..FlowKey::default()
        }
    }

    pub fn icmp(ty: u8, code: u8) -> FlowKey {
        FlowKey {
            icmp: Some(IcmpKey { ty, code }),
            ..FlowKey::default()
        }
    }

    pub fn icmpv6(ty: u8, code: u8) -> FlowKey {
        FlowKey {
            icmpv6: Some(IcmpKey { ty, code }),
            ..FlowKey::default()
        }
    }

    pub fn arp(sip: u32, tip: u32, op: u16, sha: [u8; 6], tha: [u8; 6]) -> FlowKey {
        FlowKey {
            arp: Some(ArpKey {
                sip: Ipv4Addr::from(sip),
                tip: Ipv4Addr::from(tip),
                op,
                sha,
                tha,
            }),
            ..FlowKey::default()
        }
    }

    pub fn nd(target: u128, sll: [u8; 6], tll: [u8; 6]) -> FlowKey {
        FlowKey {
            nd: Some(NdKey {
                target: Ipv6Addr::from(target),
                sll,
                tll,
            }),
            ..FlowKey::default()
        }
    }

    pub fn mpls(lse: u32) -> FlowKey {
        FlowKey {
            mpls: Some(vec![lse]),
            ..FlowKey::default()
        }
    }

    pub fn priority(v: u32) -> FlowKey {
        FlowKey {
            priority: Some(v),
            ..FlowKey::default()
        }
    }

    pub fn skb_mark(v: u32) -> FlowKey {
        FlowKey {
            skb_mark: Some(v),
            ..FlowKey::default()
        }
    }

    pub fn tunnel(t: &TunnelMeta) -> FlowKey {
        FlowKey {
            tunnel: Some(crate::wire::tunnel_key(t)),
            ..FlowKey::default()
        }
    }
}
