//! Internet checksum helpers: incremental updates (RFC 1624) and full computation,
//! plus CRC32c for SCTP.

/// Folds a 32-bit one's-complement accumulator to 16 bits.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // two folds leave at most 16 bits
pub fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Updates checksum `csum` (as read from the packet, big-endian value) for a 16-bit
/// field changing from `old` to `new`: HC' = ~(~HC + ~m + m') (RFC 1624, eqn. 3).
#[inline(always)]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!csum) + u32::from(!old) + u32::from(new))
}

/// Updates `csum` for a 32-bit field changing from `old` to `new`.
#[inline(always)]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!csum)
        + u32::from(!hi16(old))
        + u32::from(!lo16(old))
        + (new >> 16)
        + (new & 0xffff);
    !fold(s)
}

/// Updates `csum` for a 128-bit field changing from `old` to `new`.
#[inline(always)]
pub fn update128(csum: u16, old: u128, new: u128) -> u16 {
    let (old, new) = (old.to_be_bytes(), new.to_be_bytes());
    let word = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let mut c = csum;
    for (o, n) in old.chunks_exact(4).zip(new.chunks_exact(4)) {
        c = update32(c, word(o), word(n));
    }
    c
}

#[inline(always)]
fn hi16(v: u32) -> u16 {
    let b = v.to_be_bytes();
    u16::from_be_bytes([b[0], b[1]])
}

#[inline(always)]
fn lo16(v: u32) -> u16 {
    let b = v.to_be_bytes();
    u16::from_be_bytes([b[2], b[3]])
}

/// One's-complement sum of `data` (big-endian 16-bit words, odd byte padded) added to
/// `init`, not folded.
pub fn sum(data: &[u8], init: u32) -> u32 {
    let mut s = u64::from(init);
    // Eight bytes at a time as two 32-bit words: a one's-complement sum of 32-bit words
    // folds to the same 16-bit sum, and 64 bits of accumulator hold any packet's worth.
    let mut wide = data.chunks_exact(8);
    for c in &mut wide {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut chunks = wide.remainder().chunks_exact(2);
    for c in &mut chunks {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        s += u64::from(*b) << 8;
    }
    while s >> 32 != 0 {
        s = (s & 0xffff_ffff) + (s >> 32);
    }
    u32::try_from(s).unwrap_or(u32::MAX)
}

/// The unfolded sum of a TCP/UDP/ICMPv6 pseudo header: `addrs` is the source and
/// destination addresses as they stand in the IP header (8 or 32 bytes), `len` the transport
/// length (IPv6's 32-bit form; an IPv4 length fits its low half).
pub fn pseudo_sum(addrs: &[u8], proto: u8, len: u32) -> u32 {
    sum(addrs, u32::from(proto) + (len >> 16) + (len & 0xffff))
}

/// The Internet checksum of `data` (to be stored; verifying data that includes a
/// correct checksum yields 0).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

const fn crc32c_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation)] // i < 256
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC32c (Castagnoli) of `data`, as SCTP uses it (stored little-endian in the header).
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// SCTP checksum of the SCTP packet `sctp` computed with its checksum field as zero.
pub fn sctp_checksum(sctp: &[u8]) -> u32 {
    if sctp.len() < 12 {
        return 0;
    }
    let mut c = !0u32;
    for (i, &b) in sctp.iter().enumerate() {
        let b = if (8..12).contains(&i) { 0 } else { b };
        c = CRC32C[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_matches_full_recompute() {
        let mut d = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&d);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&d), 0);
        let old = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
        let new = 0xc0a8_0101u32;
        d[12..16].copy_from_slice(&new.to_be_bytes());
        let c2 = update32(c, old, new);
        d[10..12].copy_from_slice(&c2.to_be_bytes());
        assert_eq!(checksum(&d), 0);
    }

    #[test]
    fn crc32c_known_vector() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }
}
