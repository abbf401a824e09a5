//! Arbitrary packet sequences through `ct`, for fuzzing and randomised tests: bytes become
//! packets of a few connections (TCP with any flags and sequence numbers, UDP, ICMP echoes
//! and errors quoting earlier packets, cut short at any length), in three zones, with and
//! without commit, force and mark; time passes and the table is swept and flushed on the
//! way. After every step the table must be consistent: its count matches its live
//! connections, every live connection is found from both its tuples, and the zone counts
//! add up.

use super::action::{execute, CtAction, IpPacket};
use super::nat::{NatKind, NatSpec};
use super::table::{Found, Policy, Table};
use super::tuple::Family;
use super::Dir;
use crate::packet::parse::CtMeta;

const CLIENTS: usize = 6;

/// An IPv4 packet with a correct TCP or ICMP checksum (UDP goes without one).
pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    use crate::actions::csum::{fold, pseudo_sum, sum};
    let mut l4 = l4.to_vec();
    let len = u32::try_from(l4.len()).unwrap_or(0);
    let field = match proto {
        6 => Some((16, pseudo_sum(&[src, dst].concat(), 6, len))),
        1 => Some((2, 0)),
        _ => None,
    };
    if let Some((o, pseudo)) = field {
        if l4.len() >= o + 2 {
            l4[o..o + 2].copy_from_slice(&[0, 0]);
            let c = !fold(sum(&l4, pseudo));
            l4[o..o + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
    let l4 = &l4[..];
    let total = u16::try_from(20 + l4.len()).unwrap_or(u16::MAX);
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

/// Replays `data`; panics when the table is inconsistent. Returns the table for more checks.
///
/// # Panics
/// On an inconsistency (the point of it).
pub fn replay(data: &[u8]) -> Table {
    // Small limits, so that the sequences reach them: 24 in all, 3 in zone 2.
    let table = Table::new(24, 0x5eed, Policy::default());
    table.set_zone_limit(2, Some(3));
    let mut now = 1_000u64;
    table.tick(now);
    let mut seq = [[0u32; 2]; CLIENTS];
    let mut last: Vec<u8> = Vec::new();
    for (step, op) in data.chunks(8).enumerate() {
        let b = |i: usize| op.get(i).copied().unwrap_or(0);
        let conn = usize::from(b(1)) % CLIENTS;
        let dir = if b(1) & 0x80 != 0 {
            Dir::Reply
        } else {
            Dir::Original
        };
        let client = [10, 0, 0, 1 + u8::try_from(conn).unwrap_or(0)];
        let server = [10, 0, 1, 1];
        let (src, dst) = match dir {
            Dir::Original => (client, server),
            Dir::Reply => (server, client),
        };
        let (sp, dp) = match dir {
            Dir::Original => (4000 + u16::from(b(1) & 1), 80u16),
            Dir::Reply => (80, 4000 + u16::from(b(1) & 1)),
        };
        let pkt = match b(0) % 10 {
            0..=3 => {
                let s = seq[conn][dir.index()].wrapping_add(u32::from(b(3)) << (b(4) % 24));
                seq[conn][dir.index()] = s;
                let ack = seq[conn][dir.other().index()].wrapping_add(u32::from(b(5)));
                let mut t = Vec::new();
                t.extend_from_slice(&sp.to_be_bytes());
                t.extend_from_slice(&dp.to_be_bytes());
                t.extend_from_slice(&s.to_be_bytes());
                t.extend_from_slice(&ack.to_be_bytes());
                t.extend_from_slice(&[0x50, b(2), 0xff, 0xff, 0, 0, 0, 0]);
                t.extend(std::iter::repeat_n(0xaa, usize::from(b(5) % 4)));
                ipv4(src, dst, 6, &t)
            }
            4 | 5 => {
                let mut u = Vec::new();
                u.extend_from_slice(&sp.to_be_bytes());
                u.extend_from_slice(&dp.to_be_bytes());
                u.extend_from_slice(&[0, 12, 0, 0, 1, 2, 3, 4]);
                ipv4(src, dst, 17, &u)
            }
            6 => {
                let ty = if dir == Dir::Original { 8 } else { 0 };
                ipv4(src, dst, 1, &[ty, 0, 0, 0, 0, b(2) % 3, 0, 1])
            }
            7 => {
                // An error quoting the last packet, sent back to its source, or elsewhere.
                let mut e = vec![3, 3, 0, 0, 0, 0, 0, 0];
                e.extend_from_slice(&last[..last.len().min(28)]);
                let to = if b(2) & 1 == 0 && last.len() >= 20 {
                    [last[12], last[13], last[14], last[15]]
                } else {
                    client
                };
                ipv4(server, to, 1, &e)
            }
            8 => {
                now += u64::from(b(2)) * 1000;
                table.tick(now);
                table.sweep(usize::from(b(3)) * 16);
                table.grow();
                check(&table, step);
                continue;
            }
            _ => {
                let zone = u16::from(b(2) % 3);
                table.flush(|_, c| c.zone() == zone);
                check(&table, step);
                continue;
            }
        };
        // Now and then a checksum goes bad on the way.
        let mut pkt = pkt;
        if b(4) & 0x80 != 0 {
            if let Some(x) = pkt.get_mut(20 + usize::from(b(3)) % 8) {
                *x ^= 0x5a;
            }
        }
        // Cut short sometimes: every length must be handled.
        let len = if b(7) & 0x80 != 0 {
            usize::from(b(6)) % pkt.len()
        } else {
            pkt.len()
        };
        let p = &pkt[..len];
        let a = CtAction {
            zone: u16::from(b(6) % 3),
            commit: b(7) & 1 != 0,
            force: b(7) & 2 != 0,
            mark: (b(7) & 4 != 0).then_some((u32::from(b(3)), 0xff)),
            labels: (b(7) & 8 != 0).then_some((u128::from(b(4)), 0xff)),
            // NAT: none, established only, SNAT to 3 ports of one address, DNAT to two.
            nat: match b(5) % 4 {
                0 => None,
                1 => Some(NatSpec {
                    kind: NatKind::Established,
                    addrs: None,
                    ports: None,
                    persistent: false,
                    random: false,
                }),
                2 => Some(NatSpec {
                    kind: NatKind::Src,
                    addrs: Some((0x0a00_0201, 0x0a00_0201)),
                    ports: Some((7000, 7002)),
                    persistent: b(5) & 0x10 != 0,
                    random: b(5) & 0x20 != 0,
                }),
                _ => Some(NatSpec {
                    kind: NatKind::Dst,
                    addrs: Some((0x0a00_0301, 0x0a00_0302)),
                    ports: None,
                    persistent: false,
                    random: false,
                }),
            },
        };
        let view = IpPacket {
            family: Family::V4,
            l3: p,
            l4: p.get(20..).unwrap_or(&[]),
            proto: pkt[9],
            fragment: b(7) & 0x40 != 0,
            checksum_trusted: b(6) & 0x40 != 0,
        };
        let mut m = CtMeta::default();
        let _ = execute(&table, &a, &view, &mut m);
        // The same packet again after recirculation, in the same zone or another.
        if b(7) & 0x10 != 0 {
            let a2 = CtAction {
                commit: true,
                zone: if b(7) & 0x20 != 0 {
                    a.zone
                } else {
                    (a.zone + 1) % 3
                },
                ..a
            };
            let _ = execute(&table, &a2, &view, &mut m);
        }
        last = pkt;
        if step % 4 == 0 {
            check(&table, step);
        }
    }
    check(&table, usize::MAX);
    table
}

/// Panics unless the table is consistent.
fn check(t: &Table, step: usize) {
    let mut live = 0u32;
    let mut zones = [0u32; 3];
    t.for_each(|_, c, _| {
        live += 1;
        if let Some(z) = zones.get_mut(usize::from(c.zone())) {
            *z += 1;
        }
        for dir in [Dir::Original, Dir::Reply] {
            let tuple = c.tuples[dir.index()];
            let found = t.find(&tuple, |_, d, _, _| d);
            assert_eq!(found, Found::Yes(dir), "step {step}: {tuple:?} not found");
        }
    });
    assert_eq!(t.count(), live, "step {step}: count");
    for (z, n) in zones.iter().enumerate() {
        assert_eq!(
            t.zone_count(u16::try_from(z).unwrap_or(0)),
            *n,
            "step {step}: zone {z}"
        );
    }
    assert!(t.count() <= t.max_conns());
}

#[cfg(test)]
mod tests {
    /// Thousands of random sequences (a fixed seed, so a failure reproduces).
    #[test]
    fn random_sequences_keep_the_table_consistent() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let (mut created, mut expired, mut full) = (0, 0, 0);
        for _ in 0..300 {
            let len = 64 + (crate::actions::xorshift32(&mut s) % 1500) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| crate::actions::xorshift32(&mut s).to_le_bytes()[0])
                .collect();
            let t = super::replay(&data);
            created += t.stats.created.load(Relaxed);
            expired += t.stats.expired.load(Relaxed);
            full += t.stats.limit_drops.load(Relaxed);
        }
        // The sequences reach what they are meant to: commits, expiry, the global limit.
        assert!(
            created > 1000 && expired > 100 && full > 0,
            "{created} {expired} {full}"
        );
    }
}
