//! Work a packet's sender left to its transmitter, as a Linux `CHECKSUM_PARTIAL` / GSO
//! skb carries it and a virtio-net header describes it (`include/linux/virtio_net.h`):
//! an L4 checksum to finish, and a TCP segment larger than the MTU to cut.
//!
//! A packet from a veth or TAP whose sender relies on offloads arrives this way through a
//! packet socket's virtio-net header. The kernel datapath carries that state to the egress
//! device, which finishes it; dpswitch does the same: a `system` port hands it back to the
//! kernel in the header, and anything else (DPDK devices, upcalls) gets the work done here
//! first (`skb_checksum_help()`, `skb_gso_segment()`).

use crate::actions::csum::{fold, sum};

/// An L4 checksum still to be computed: the one's-complement sum of everything from
/// `start` to the end of the packet goes, complemented, at `start + offset`. The field
/// holds the pseudo-header sum meanwhile (uncomplemented).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialCsum {
    /// Where the summed bytes begin (the L4 header), from the packet's first byte.
    pub start: u16,
    /// The checksum field's offset from `start` (16 for TCP, 6 for UDP).
    pub offset: u16,
}

/// What kind of segment a GSO packet is (`VIRTIO_NET_HDR_GSO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP, to be cut into IP fragments (UFO).
    Udp,
    /// UDP, to be cut into datagrams (USO).
    UdpL4,
}

/// A packet to be cut into segments of `size` payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// Segment kind.
    pub kind: GsoKind,
    /// Payload bytes per segment (the MSS for TCP).
    pub size: u16,
    /// `VIRTIO_NET_HDR_GSO_ECN`: TCP segments after the first keep CWR clear.
    pub ecn: bool,
}

/// The offload state a packet carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// Checksum to finish.
    pub csum: Option<PartialCsum>,
    /// Segmentation to do.
    pub gso: Option<Gso>,
}

impl Offload {
    /// No work left.
    pub const NONE: Offload = Offload {
        csum: None,
        gso: None,
    };

    /// Whether any work is left.
    #[inline]
    pub fn is_none(&self) -> bool {
        self.csum.is_none() && self.gso.is_none()
    }
}

/// Why offload work could not be done: the packet is dropped and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadError {
    /// The checksum range or field lies outside the packet.
    BadChecksumRange,
    /// A GSO packet that is not a TCP segment this module can cut (UDP fragmentation
    /// offload, or headers it cannot find).
    UnsupportedGso,
}

/// Finishes the partial checksum of `data` described by `c`.
///
/// # Errors
/// [`OffloadError::BadChecksumRange`] when the range or the field is not in the packet.
pub fn finish_checksum(data: &mut [u8], c: PartialCsum) -> Result<(), OffloadError> {
    let start = usize::from(c.start);
    let field = start + usize::from(c.offset);
    if field + 2 > data.len() {
        return Err(OffloadError::BadChecksumRange);
    }
    let mut v = !fold(sum(&data[start..], 0));
    // A UDP checksum that computes to zero is sent as all ones (RFC 768).
    if c.offset == 6 && v == 0 {
        v = 0xffff;
    }
    data[field..field + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Where a TCP GSO packet's headers end: `(l3, l4, headers)` offsets of the IP header, the
/// TCP header and the payload.
///
/// # Errors
/// [`OffloadError::UnsupportedGso`] for anything but TCP over IPv4/IPv6 with consistent
/// headers.
pub fn tcp_headers(data: &[u8], o: &Offload) -> Result<(usize, usize, usize), OffloadError> {
    let bad = OffloadError::UnsupportedGso;
    let (Some(gso), Some(c)) = (o.gso, o.csum) else {
        return Err(bad);
    };
    let v4 = match gso.kind {
        GsoKind::TcpV4 => true,
        GsoKind::TcpV6 => false,
        GsoKind::Udp | GsoKind::UdpL4 => return Err(bad),
    };
    let l4 = usize::from(c.start);
    if c.offset != 16 || data.len() < l4 + 20 || gso.size == 0 {
        return Err(bad);
    }
    let hdrs = l4 + usize::from(data[l4 + 12] >> 4) * 4;
    if hdrs < l4 + 20 || hdrs > data.len() {
        return Err(bad);
    }
    // The IP header ends at the TCP header; find its start from the version nibble of the
    // fixed-size IPv6 header, or the IPv4 header length.
    let l3 = if v4 {
        (14..l4)
            .step_by(2)
            .find(|&o| data[o] >> 4 == 4 && o + usize::from(data[o] & 0xf) * 4 == l4)
    } else {
        l4.checked_sub(40).filter(|&o| data[o] >> 4 == 6)
    }
    .ok_or(bad)?;
    Ok((l3, l4, hdrs))
}

/// The number of segments a TCP GSO packet is cut into.
pub fn tcp_segment_count(data: &[u8], hdrs: usize, mss: u16) -> usize {
    let payload = data.len().saturating_sub(hdrs);
    payload.div_ceil(usize::from(mss).max(1)).max(1)
}

/// Writes segment `i` of the TCP GSO packet `data` (whose offsets [`tcp_headers`] found)
/// into `out` and returns its length: the headers with the IP length and id, the sequence
/// number and the flags fixed for this segment, then its share of the payload, with the IP
/// and TCP checksums complete (`tcp_gso_segment()`, `inet_gso_segment()`).
///
/// # Panics
/// If `out` is shorter than the headers plus one segment's payload.
pub fn write_tcp_segment(
    data: &[u8],
    (l3, l4, hdrs): (usize, usize, usize),
    gso: Gso,
    i: usize,
    out: &mut [u8],
) -> usize {
    let mss = usize::from(gso.size).max(1);
    let payload = &data[hdrs..];
    let first = i * mss;
    let chunk = &payload[first.min(payload.len())..(first + mss).min(payload.len())];
    let last = first + mss >= payload.len();
    let len = hdrs + chunk.len();
    out[..hdrs].copy_from_slice(&data[..hdrs]);
    out[hdrs..len].copy_from_slice(chunk);
    let seg = &mut out[..len];
    let v4 = seg[l3] >> 4 == 4;
    let l3_len = u16::try_from(len - l3).unwrap_or(u16::MAX);
    if v4 {
        seg[l3 + 2..l3 + 4].copy_from_slice(&l3_len.to_be_bytes());
        let id = u16::from_be_bytes([seg[l3 + 4], seg[l3 + 5]]);
        let id = id.wrapping_add(u16::try_from(i & 0xffff).unwrap_or(0));
        seg[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
        seg[l3 + 10..l3 + 12].fill(0);
        let ihl = usize::from(seg[l3] & 0xf) * 4;
        let c = !fold(sum(&seg[l3..l3 + ihl], 0));
        seg[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    } else {
        let plen = u16::try_from(len - l3 - 40).unwrap_or(u16::MAX);
        seg[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
    }
    let seq = u32::from_be_bytes([seg[l4 + 4], seg[l4 + 5], seg[l4 + 6], seg[l4 + 7]]);
    let seq = seq.wrapping_add(u32::try_from(first).unwrap_or(u32::MAX));
    seg[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
    // FIN and PSH only on the last segment; CWR only on the first.
    const FIN: u8 = 0x01;
    const PSH: u8 = 0x08;
    const CWR: u8 = 0x80;
    if !last {
        seg[l4 + 13] &= !(FIN | PSH);
    }
    if i > 0 {
        seg[l4 + 13] &= !CWR;
    }
    // The checksum over the pseudo-header, computed from scratch for this segment.
    let tcp_len = u32::try_from(len - l4).unwrap_or(u32::MAX);
    let pseudo = if v4 {
        sum(&seg[l3 + 12..l3 + 20], 6 + tcp_len)
    } else {
        sum(&seg[l3 + 8..l3 + 40], 6 + tcp_len)
    };
    seg[l4 + 16..l4 + 18].fill(0);
    let c = !fold(sum(&seg[l4..], pseudo));
    seg[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        eth, fill_l4_csum_v4, fill_l4_csum_v6, ipv4_hdr, ipv6_hdr, tcp_hdr, verify_v4, verify_v6,
        IP6_A, IP6_B, IP_A, IP_B, MAC_A, MAC_B,
    };

    /// A TCP packet as a sender relying on offloads hands it over: the checksum field holds
    /// the pseudo-header sum.
    fn partial_tcp(v4: bool, payload: usize) -> (Vec<u8>, Offload) {
        let mut l4 = tcp_hdr(40000, 80, 0x018, &[]);
        l4.extend((0..payload).map(|i| u8::try_from(i % 251).unwrap()));
        let tcp_len = u32::try_from(l4.len()).unwrap();
        let (mut f, pseudo) = if v4 {
            let mut f = eth(MAC_B, MAC_A, 0x0800);
            f.extend(ipv4_hdr(IP_A, IP_B, 6, l4.len(), 0x4000, &[]));
            let p = sum(&f[26..34], 6 + tcp_len);
            (f, p)
        } else {
            let mut f = eth(MAC_B, MAC_A, 0x86dd);
            f.extend(ipv6_hdr(IP6_A, IP6_B, 6, l4.len()));
            let p = sum(&f[22..54], 6 + tcp_len);
            (f, p)
        };
        l4[16..18].copy_from_slice(&fold(pseudo).to_be_bytes());
        let start = u16::try_from(f.len()).unwrap();
        f.extend(l4);
        let o = Offload {
            csum: Some(PartialCsum { start, offset: 16 }),
            gso: Some(Gso {
                kind: if v4 { GsoKind::TcpV4 } else { GsoKind::TcpV6 },
                size: 1000,
                ecn: false,
            }),
        };
        (f, o)
    }

    #[test]
    fn a_finished_partial_checksum_is_the_full_checksum() {
        for v4 in [true, false] {
            let (mut f, o) = partial_tcp(v4, 333);
            let mut want = f.clone();
            if v4 {
                fill_l4_csum_v4(IP_A, IP_B, 6, &mut want[34..]);
            } else {
                fill_l4_csum_v6(IP6_A, IP6_B, 6, &mut want[54..]);
            }
            finish_checksum(&mut f, o.csum.unwrap()).unwrap();
            assert_eq!(f, want);
            assert!(if v4 {
                verify_v4(&f, 14)
            } else {
                verify_v6(&f, 14)
            });
        }
        let mut short = vec![0u8; 20];
        let c = PartialCsum {
            start: 10,
            offset: 16,
        };
        assert_eq!(
            finish_checksum(&mut short, c),
            Err(OffloadError::BadChecksumRange)
        );
    }

    #[test]
    fn tcp_segments_carry_the_payload_in_order_with_valid_headers() {
        for v4 in [true, false] {
            let (f, o) = partial_tcp(v4, 2500);
            let offs = tcp_headers(&f, &o).unwrap();
            let (l3, l4, hdrs) = offs;
            assert_eq!((l3, l4), (14, if v4 { 34 } else { 54 }));
            let n = tcp_segment_count(&f, hdrs, 1000);
            assert_eq!(n, 3);
            let mut payload = Vec::new();
            for i in 0..n {
                let mut out = vec![0u8; 2000];
                let len = write_tcp_segment(&f, offs, o.gso.unwrap(), i, &mut out);
                let s = &out[..len];
                assert_eq!(len, hdrs + if i < 2 { 1000 } else { 500 });
                assert!(if v4 {
                    verify_v4(s, 14)
                } else {
                    verify_v6(s, 14)
                });
                let seq = u32::from_be_bytes([s[l4 + 4], s[l4 + 5], s[l4 + 6], s[l4 + 7]]);
                assert_eq!(seq, 1 + u32::try_from(i * 1000).unwrap());
                assert_eq!(s[l4 + 13] & 0x08 != 0, i == 2, "PSH on the last only");
                payload.extend_from_slice(&s[hdrs..]);
            }
            assert_eq!(payload, &f[hdrs..]);
        }
        let (f, mut o) = partial_tcp(true, 10);
        o.gso = Some(Gso {
            kind: GsoKind::Udp,
            size: 100,
            ecn: false,
        });
        assert_eq!(tcp_headers(&f, &o), Err(OffloadError::UnsupportedGso));
    }
}
