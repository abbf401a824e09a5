//! TCP segments as the tracker reads them: numbers, flags, options (`tcp_error()`,
//! `tcp_options()`, `tcp_sack()`).

use crate::conntrack::seq_after;

/// TCP header flags.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}
use flags::{ACK, CWR, ECE, FIN, PSH, RST, SYN};

/// A TCP segment as the tracker needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Window field, unscaled.
    pub win: u16,
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Payload bytes after the header.
    pub payload: u32,
    /// The options bytes.
    pub options: &'a [u8],
}

/// Why a segment is invalid before any connection is consulted (`tcp_error()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Shorter than its header, or a data offset under 5 words.
    #[error("truncated TCP header")]
    Truncated,
    /// A combination of SYN/FIN/RST/ACK/URG no TCP sends.
    #[error("invalid TCP flag combination")]
    Flags,
}

impl<'a> Segment<'a> {
    /// Parses `tcp`: the TCP header and payload, up to the IP payload's end. Checksums are
    /// the caller's to check (a packet may still carry offload work).
    ///
    /// # Errors
    /// [`Malformed`], as the kernel marks such segments invalid.
    pub fn parse(tcp: &'a [u8]) -> Result<Segment<'a>, Malformed> {
        if tcp.len() < 20 {
            return Err(Malformed::Truncated);
        }
        let hlen = usize::from(tcp[12] >> 4) * 4;
        if hlen < 20 || tcp.len() < hlen {
            return Err(Malformed::Truncated);
        }
        let f = tcp[13];
        if !valid_flags(f) {
            return Err(Malformed::Flags);
        }
        let word = |o: usize| u32::from_be_bytes([tcp[o], tcp[o + 1], tcp[o + 2], tcp[o + 3]]);
        Ok(Segment {
            seq: word(4),
            ack: word(8),
            win: u16::from_be_bytes([tcp[14], tcp[15]]),
            flags: f,
            payload: u32::try_from(tcp.len() - hlen).unwrap_or(u32::MAX),
            options: &tcp[20..hlen],
        })
    }

    /// The sequence number after this segment (SYN and FIN count one each).
    pub(super) fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload)
            .wrapping_add(u32::from(self.flags & SYN != 0))
            .wrapping_add(u32::from(self.flags & FIN != 0))
    }

    pub(super) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Whether `f`, ignoring PSH, ECE and CWR, is one of the combinations TCP uses.
fn valid_flags(f: u8) -> bool {
    matches!(
        f & !(PSH | ECE | CWR),
        SYN | 0x22 /* SYN|URG */
            | 0x12 /* SYN|ACK */
            | RST
            | 0x14 /* RST|ACK */
            | 0x11 /* FIN|ACK */
            | 0x31 /* FIN|ACK|URG */
            | ACK
            | 0x30 /* ACK|URG */
    )
}

/// Calls `f(kind, data)` for each option up to the first malformed one or EOL.
pub(super) fn for_each_option(mut opts: &[u8], mut f: impl FnMut(u8, &[u8])) {
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => return,
            1 => opts = rest,
            _ => {
                let Some(&size) = rest.first() else { return };
                let size = usize::from(size);
                if size < 2 || size > opts.len() {
                    return;
                }
                f(kind, &opts[2..size]);
                opts = &opts[size..];
            }
        }
    }
}

/// The highest right edge of the segment's SACK blocks if beyond `ack` (`tcp_sack()`).
pub(super) fn highest_sack(opts: &[u8], ack: u32) -> u32 {
    let mut sack = ack;
    let mut done = false;
    for_each_option(opts, |kind, data| {
        if done || kind != 5 || data.is_empty() || data.len() % 8 != 0 {
            return;
        }
        for block in data.chunks_exact(8) {
            let right = u32::from_be_bytes([block[4], block[5], block[6], block[7]]);
            if seq_after(right, sack) {
                sack = right;
            }
        }
        done = true;
    });
    sack
}
