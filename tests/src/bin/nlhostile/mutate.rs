//! The hostile messages: mutations of valid requests, lies in lengths, deep nests, unknown
//! families and commands, client-sent control types, random bytes; and the guard that keeps
//! them off the daemon's own datapath.

use odp::nl::{self, flags};

use crate::worker::Worker;

impl Worker {
    /// A message of the hostile kinds 30..100.
    pub(crate) fn hostile(&mut self, kind: u64, ack: u16) -> Vec<u8> {
        match kind {
            0..=59 => {
                // Mutations of a valid request: bit flips, random bytes, truncation, insertion.
                let mut v = self.valid(ack);
                for _ in 0..1 + self.rng.below(4) {
                    if v.len() <= 4 {
                        break;
                    }
                    let at = 4 + self.rng.below((v.len() - 4) as u64) as usize;
                    match self.rng.below(4) {
                        0 => v[at] ^= 1 << self.rng.below(8),
                        1 => v[at] = self.rng.next() as u8,
                        2 => v.truncate(at),
                        _ => v.insert(at, self.rng.next() as u8),
                    }
                }
                v
            }
            60..=66 => {
                // An nla_len lie in the first attribute: past the message, or below 4.
                let mut v = self.valid(ack);
                if v.len() >= 28 {
                    let lie: u16 = match self.rng.below(3) {
                        0 => v.len() as u16 + 1 + self.rng.below(1000) as u16,
                        1 => self.rng.below(4) as u16,
                        _ => u16::MAX,
                    };
                    v[24..26].copy_from_slice(&lie.to_ne_bytes());
                }
                v
            }
            67..=71 => self.deep_nest(),
            72..=77 => {
                // Unknown family or unknown command of a known family.
                let mut v = self.valid(flags::ACK);
                if self.rng.chance(50) {
                    let ty = 0x40 + self.rng.below(0xffbf) as u16;
                    v[4..6].copy_from_slice(&ty.to_ne_bytes());
                } else if v.len() > 16 {
                    v[16] = 5 + self.rng.below(250) as u8;
                }
                v
            }
            78..=85 => {
                // Client-sent control types and non-requests.
                let mut v = self.valid(0);
                if self.rng.chance(60) {
                    let ty = 1 + self.rng.below(4) as u16; // NOOP ERROR DONE OVERRUN
                    v[4..6].copy_from_slice(&ty.to_ne_bytes());
                }
                let mut f = if self.rng.chance(50) {
                    flags::REQUEST
                } else {
                    0
                };
                if self.rng.chance(50) {
                    f |= flags::ACK;
                }
                if self.rng.chance(20) {
                    f |= flags::MULTI | flags::DUMP;
                }
                v[6..8].copy_from_slice(&f.to_ne_bytes());
                v
            }
            86..=93 => {
                // Random bytes, sometimes behind a plausible header.
                let len = 1 + self.rng.below(200) as usize;
                let mut v: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
                if len >= 20 && self.rng.chance(50) {
                    v[..4].copy_from_slice(&(len as u32).to_ne_bytes());
                    let fam = [
                        self.ctx.ids.datapath,
                        self.ctx.ids.vport,
                        self.ctx.ids.flow,
                        self.ctx.ids.packet,
                    ][self.rng.below(4) as usize];
                    v[4..6].copy_from_slice(&fam.to_ne_bytes());
                    v[6..8].copy_from_slice(&(flags::REQUEST | flags::ACK).to_ne_bytes());
                }
                v
            }
            _ => {
                // nlmsg_len lie: larger than the datagram, or below the header.
                let mut v = self.valid(ack);
                let lie: u32 = match self.rng.below(4) {
                    0 => v.len() as u32 + 1 + self.rng.below(4096) as u32,
                    1 => self.rng.below(16) as u32,
                    2 => u32::MAX,
                    _ => v.len() as u32 - 1,
                };
                v[..4].copy_from_slice(&lie.to_ne_bytes());
                v
            }
        }
    }

    /// A flow NEW (or EXECUTE) whose KEY (or ACTIONS) attribute nests `depth` levels deep.
    fn deep_nest(&mut self) -> Vec<u8> {
        let depth = if self.rng.chance(10) {
            16_000
        } else {
            100 + self.rng.below(700) as usize
        };
        let (family, cmd, attr, inner) = if self.rng.chance(50) {
            // OVS_FLOW_ATTR_KEY { ENCAP { ENCAP { ... } } }
            (self.ctx.ids.flow, 1u8, 1u16, 1u16)
        } else {
            // OVS_PACKET_ATTR_ACTIONS { CLONE { CLONE { ... } } }
            (self.ctx.ids.packet, 3u8, 3u16, 20u16)
        };
        let mut nest: Vec<u8> = Vec::new();
        for _ in 0..depth {
            let len = (nest.len() + 4) as u16;
            let mut n = Vec::with_capacity(nest.len() + 4);
            n.extend_from_slice(&len.to_ne_bytes());
            n.extend_from_slice(&(inner | nl::NLA_F_NESTED).to_ne_bytes());
            n.extend_from_slice(&nest);
            nest = n;
        }
        let mut m = Vec::new();
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[cmd, 1, 0, 0]);
        m.extend_from_slice(&self.ctx.ifindex.to_ne_bytes());
        let alen = (nest.len() + 4) as u16;
        m.extend_from_slice(&alen.to_ne_bytes());
        m.extend_from_slice(&(attr | nl::NLA_F_NESTED).to_ne_bytes());
        m.extend_from_slice(&nest);
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&family.to_ne_bytes());
        m[6..8].copy_from_slice(&(flags::REQUEST | flags::ACK).to_ne_bytes());
        m
    }

    /// Keeps a mutated message away from what could harm the daemon's own datapath:
    /// datapath, vport and PMD-statistics messages become GETs, flow and packet messages
    /// are aimed at the scratch datapath.
    pub(crate) fn guard(&self, m: &mut [u8]) {
        let ids = self.ctx.ids;
        if m.len() < 6 {
            return;
        }
        let ty = u16::from_ne_bytes([m[4], m[5]]);
        if m.len() > 16 && (ty == ids.datapath || ty == ids.vport || ty == 0x34) {
            m[16] = 3;
        }
        if m.len() >= 24 && (ty == ids.flow || ty == ids.packet) {
            m[20..24].copy_from_slice(&self.ctx.ifindex.to_ne_bytes());
        }
    }
}
