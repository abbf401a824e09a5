//! Ethernet/IPv4/UDP/TCP frames the tests write into an interface, and a parser for what
//! arrives on the other side, so rewritten fields and checksums can be checked on the wire.

use std::net::Ipv4Addr;

/// The Internet checksum (RFC 1071) of `data`, folded, starting from a partial `sum`.
fn csum(mut sum: u32, data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv4 pseudo-header sum for an L4 checksum.
fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(proto),
        u16::try_from(len).expect("L4 length"),
    ]
    .iter()
    .map(|&w| u32::from(w))
    .sum()
}

/// What goes into an IPv4 test frame.
#[derive(Debug, Clone)]
pub struct Ip4Spec {
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// L4 source port.
    pub sport: u16,
    /// L4 destination port.
    pub dport: u16,
}

fn ip4_frame(s: &Ip4Spec, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + l4.len());
    f.extend_from_slice(&s.dst_mac);
    f.extend_from_slice(&s.src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = u16::try_from(20 + l4.len()).expect("IPv4 length");
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = s.ttl;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&s.src.octets());
    ip[16..20].copy_from_slice(&s.dst.octets());
    let c = csum(0, &ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f.resize(f.len().max(60), 0);
    f
}

/// An Ethernet + IPv4 + UDP frame with correct checksums.
pub fn udp4_frame(s: &Ip4Spec, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&s.sport.to_be_bytes());
    u.extend_from_slice(&s.dport.to_be_bytes());
    u.extend_from_slice(&u16::try_from(len).expect("UDP length").to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = match csum(pseudo4(s.src, s.dst, 17, len), &u) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ip4_frame(s, 17, &u)
}

/// An Ethernet + IPv4 + TCP frame (flags PSH|ACK, no options) with correct checksums.
pub fn tcp4_frame(s: &Ip4Spec, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&s.sport.to_be_bytes());
    t[2..4].copy_from_slice(&s.dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x18;
    t[14..16].copy_from_slice(&8192u16.to_be_bytes());
    t.extend_from_slice(payload);
    let c = csum(pseudo4(s.src, s.dst, 6, t.len()), &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ip4_frame(s, 6, &t)
}

/// `frame` with an 802.1Q tag (TPID 0x8100, `tci`) inserted after the MAC addresses.
pub fn with_vlan(frame: &[u8], tci: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// An L4 header and payload as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4 {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Whether the checksum verifies (a zero UDP checksum counts as valid).
    pub csum_ok: bool,
    /// What follows the header, without Ethernet padding.
    pub payload: Vec<u8>,
}

/// An IPv4 header as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip4 {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Protocol.
    pub proto: u8,
    /// Whether the header checksum verifies.
    pub csum_ok: bool,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub frag_offset: usize,
    /// Total length.
    pub total_len: usize,
}

/// One received frame, parsed as far as the tests look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Ethernet destination.
    pub dst: [u8; 6],
    /// Ethernet source.
    pub src: [u8; 6],
    /// The 802.1Q tag's TCI, if tagged.
    pub vlan: Option<u16>,
    /// The ethertype after any tag.
    pub ethertype: u16,
    /// The IPv4 header, for IPv4.
    pub ip4: Option<Ip4>,
    /// UDP, for an unfragmented IPv4 UDP packet.
    pub udp: Option<L4>,
    /// TCP, for an unfragmented IPv4 TCP packet.
    pub tcp: Option<L4>,
    /// The frame's length.
    pub len: usize,
}

impl Frame {
    /// Parses Ethernet (with at most one 802.1Q tag), IPv4 and UDP or TCP; `None` for a runt.
    pub fn parse(b: &[u8]) -> Option<Frame> {
        if b.len() < 14 {
            return None;
        }
        let mut f = Frame {
            dst: b[0..6].try_into().ok()?,
            src: b[6..12].try_into().ok()?,
            vlan: None,
            ethertype: u16::from_be_bytes([b[12], b[13]]),
            ip4: None,
            udp: None,
            tcp: None,
            len: b.len(),
        };
        let mut off = 14;
        if f.ethertype == 0x8100 && b.len() >= 18 {
            f.vlan = Some(u16::from_be_bytes([b[14], b[15]]));
            f.ethertype = u16::from_be_bytes([b[16], b[17]]);
            off = 18;
        }
        if f.ethertype != 0x0800 || b.len() < off + 20 {
            return Some(f);
        }
        let ip = &b[off..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ihl < 20 || ip.len() < ihl || total_len < ihl || ip.len() < total_len {
            return Some(f);
        }
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        let h = Ip4 {
            src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            ttl: ip[8],
            proto: ip[9],
            csum_ok: csum(0, &ip[..ihl]) == 0,
            more_fragments: frag & 0x2000 != 0,
            frag_offset: usize::from(frag & 0x1fff) * 8,
            total_len,
        };
        let l4 = &ip[ihl..total_len];
        let whole = !h.more_fragments && h.frag_offset == 0;
        let pseudo = pseudo4(h.src, h.dst, h.proto, l4.len());
        if whole && h.proto == 17 && l4.len() >= 8 {
            let stored = u16::from_be_bytes([l4[6], l4[7]]);
            f.udp = Some(L4 {
                sport: u16::from_be_bytes([l4[0], l4[1]]),
                dport: u16::from_be_bytes([l4[2], l4[3]]),
                csum_ok: stored == 0 || csum(pseudo, l4) == 0,
                payload: l4[8..].to_vec(),
            });
        } else if whole && h.proto == 6 && l4.len() >= 20 {
            let doff = usize::from(l4[12] >> 4) * 4;
            f.tcp = Some(L4 {
                sport: u16::from_be_bytes([l4[0], l4[1]]),
                dport: u16::from_be_bytes([l4[2], l4[3]]),
                csum_ok: csum(pseudo, l4) == 0,
                payload: l4.get(doff..).unwrap_or_default().to_vec(),
            });
        }
        f.ip4 = Some(h);
        Some(f)
    }

    /// The UDP or TCP payload, if any.
    pub fn l4_payload(&self) -> Option<&[u8]> {
        self.udp
            .as_ref()
            .or(self.tcp.as_ref())
            .map(|l| l.payload.as_slice())
    }
}

/// `aa:bb:..` for a MAC address.
pub fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Ip4Spec {
        Ip4Spec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(10, 1, 2, 3),
            dst: Ipv4Addr::new(10, 4, 5, 6),
            ttl: 64,
            sport: 1234,
            dport: 5678,
        }
    }

    #[test]
    fn built_frames_parse_back_with_valid_checksums() {
        let u = Frame::parse(&udp4_frame(&spec(), b"hello")).unwrap();
        let ip = u.ip4.unwrap();
        assert!(ip.csum_ok);
        assert_eq!((ip.src, ip.dst, ip.ttl), (spec().src, spec().dst, 64));
        let l4 = u.udp.unwrap();
        assert!(l4.csum_ok);
        assert_eq!(
            (l4.sport, l4.dport, &l4.payload[..]),
            (1234, 5678, &b"hello"[..])
        );
        let t = Frame::parse(&with_vlan(&tcp4_frame(&spec(), b"x"), 100)).unwrap();
        assert_eq!(t.vlan, Some(100));
        assert!(t.tcp.unwrap().csum_ok);
    }

    #[test]
    fn a_changed_address_breaks_the_checksums() {
        let mut b = udp4_frame(&spec(), b"hello");
        b[29] ^= 1; // last byte of the IPv4 source
        let f = Frame::parse(&b).unwrap();
        assert!(!f.ip4.unwrap().csum_ok);
        assert!(!f.udp.unwrap().csum_ok);
    }
}
