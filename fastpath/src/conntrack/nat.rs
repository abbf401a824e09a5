//! NAT of tracked connections (`net/netfilter/nf_nat_core.c`, `get_unique_tuple()`;
//! `net/openvswitch/conntrack.c`, `ovs_ct_nat()`): the mapping a new connection gets from a
//! `ct(commit,nat(src|dst=...))`, and the rewrite each packet of a mapped connection needs.
//!
//! A mapping is chosen by the reply tuple it gives: a connection `t` whose source is
//! translated to `s'` has the reply tuple `invert(t with src = s')`, which must be unused;
//! the committing code tries the candidates in order until one commits.

use super::tuple::{is_icmp, Family, Tuple};
use super::Dir;

/// What a `ct`'s NAT attribute asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// `nat` without a type: translate packets of connections already mapped, map nothing
    /// new.
    Established,
    /// Source NAT for new connections.
    Src,
    /// Destination NAT for new connections.
    Dst,
}

/// A `ct`'s NAT attribute, compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatSpec {
    /// Which side new connections get translated.
    pub kind: NatKind,
    /// Address range, inclusive (`None`: the address stays).
    pub addrs: Option<(u128, u128)>,
    /// Port (or ICMP id) range, inclusive (`None`: the port stays unless it clashes).
    pub ports: Option<(u16, u16)>,
    /// The address depends on the source alone, not on the destination too.
    pub persistent: bool,
    /// Ports are picked at random (`PROTO_RANDOM`/`PROTO_HASH`) rather than keeping the
    /// original one first.
    pub random: bool,
}

/// `ct_state` bits of the sides a rewrite changes.
pub use super::state::{DST_NAT, SRC_NAT};

/// Connection status bits: which side the connection's mapping translates.
pub mod status {
    /// Source translated.
    pub const SRC: u8 = 1;
    /// Destination translated.
    pub const DST: u8 = 2;
}

fn has_ports(t: &Tuple) -> bool {
    matches!(t.proto, 6 | 17 | 132 | 136 | 33)
}

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31)
}

/// Candidates tried per new connection at most.
pub const ATTEMPTS: u32 = 64;

/// Candidate `k` (from 0) for connection `t` under `spec`: the tuple the original direction
/// looks like after translation, or `None` when there are no more. A DNAT whose own
/// candidates are taken moves the source port too (the kernel's null binding of the source:
/// two clients' connections sent to one backend port must not share a reply tuple).
pub fn candidate(t: &Tuple, spec: &NatSpec, k: u32, seed: u64) -> Option<Tuple> {
    if k >= ATTEMPTS {
        return None;
    }
    if spec.kind == NatKind::Dst && has_ports(t) {
        let span = spec
            .ports
            .map_or(1, |(lo, hi)| u32::from(hi.saturating_sub(lo)) + 1)
            .min(ATTEMPTS / 2);
        if k >= span {
            let mut n = mapping(t, spec, k % span, seed)?;
            #[allow(clippy::cast_possible_truncation)]
            let off = (mix(seed ^ 0x6e75_6c6c, t.hash(seed)) as u32).wrapping_add(k) % 64_512;
            n.src_port = 1024 + u16::try_from(off).unwrap_or(0);
            return Some(n);
        }
    }
    mapping(t, spec, k, seed)
}

/// [`candidate`] without the null binding.
fn mapping(t: &Tuple, spec: &NatSpec, k: u32, seed: u64) -> Option<Tuple> {
    let src_side = match spec.kind {
        NatKind::Src => true,
        NatKind::Dst => false,
        NatKind::Established => return None,
    };
    let mut n = *t;
    if let Some((lo, hi)) = spec.addrs {
        let span = hi.saturating_sub(lo).saturating_add(1);
        // IPv4 addresses live in the low 32 bits; the mix only needs their spread.
        #[allow(clippy::cast_possible_truncation)]
        let key = if spec.persistent {
            mix(seed, t.src as u64)
        } else {
            mix(mix(seed, t.src as u64), t.dst as u64)
        };
        let a = lo.saturating_add(u128::from(key) % span.max(1));
        if src_side {
            n.src = a;
        } else {
            n.dst = a;
        }
    }
    // The ICMP id rides in `src_port` both ways; ports only exist for some protocols.
    let icmp = is_icmp(t.family, t.proto);
    let movable = has_ports(t) || icmp;
    let current = if src_side || icmp {
        t.src_port
    } else {
        t.dst_port
    };
    let port = match spec.ports {
        Some((lo, hi)) if movable => {
            let span = u32::from(hi.saturating_sub(lo)) + 1;
            let keep = !spec.random && (lo..=hi).contains(&current);
            if k == 0 && keep {
                current
            } else {
                #[allow(clippy::cast_possible_truncation)]
                let off = (mix(seed, t.hash(seed)) as u32).wrapping_add(k) % span;
                lo + u16::try_from(off).unwrap_or(0)
            }
        }
        // No range: the port stays; a source may move to an unprivileged one on a clash.
        _ if k == 0 || !movable || !src_side => {
            if k > 0 {
                return None;
            }
            current
        }
        _ => {
            #[allow(clippy::cast_possible_truncation)]
            let off = (mix(seed, t.hash(seed)) as u32).wrapping_add(k) % 64_512;
            1024 + u16::try_from(off).unwrap_or(0)
        }
    };
    if src_side || icmp {
        n.src_port = port;
    } else {
        n.dst_port = port;
    }
    Some(n)
}

/// What a packet's headers become: each field that changes, with its new value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// New source address.
    pub src: Option<u128>,
    /// New destination address.
    pub dst: Option<u128>,
    /// New source port.
    pub sport: Option<u16>,
    /// New destination port.
    pub dport: Option<u16>,
    /// New ICMP query id.
    pub icmp_id: Option<u16>,
    /// IPv6 addresses.
    pub v6: bool,
    /// An ICMP error about a mapped connection: what the packet it quotes must look like.
    pub quoted: Option<Quoted>,
}

/// The headers of the packet an ICMP error quotes, as the error's receiver must see them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quoted {
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// Source port, or ICMP id.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl Rewrite {
    /// Whether the packet changes at all.
    pub fn is_some(&self) -> bool {
        self.src.is_some()
            || self.dst.is_some()
            || self.sport.is_some()
            || self.dport.is_some()
            || self.icmp_id.is_some()
            || self.quoted.is_some()
    }
}

/// The rewrite of an ICMP error going in `dir` about a packet of the connection whose
/// tuples are `tuples` (`nf_nat_icmp_reply_translation()`): the outer addresses as any
/// packet of that direction, and the quoted packet, which went the other way already
/// translated, back as it was before translation.
pub fn related_rewrite(tuples: &[Tuple; 2], dir: Dir) -> Rewrite {
    let outer = rewrite(tuples, dir);
    let q = tuples[dir.other().index()];
    Rewrite {
        src: outer.src,
        dst: outer.dst,
        v6: outer.v6,
        quoted: Some(Quoted {
            src: q.src,
            dst: q.dst,
            sport: q.src_port,
            dport: q.dst_port,
        }),
        ..Rewrite::default()
    }
}

/// The rewrite of a packet going in `dir` on a connection whose tuples are `tuples`: it
/// must leave looking like the inverse of the other direction's tuple.
pub fn rewrite(tuples: &[Tuple; 2], dir: Dir) -> Rewrite {
    let now = tuples[dir.index()];
    let Some(want) = tuples[dir.other().index()].invert() else {
        return Rewrite::default();
    };
    let differ = |a: u128, b: u128| (a != b).then_some(b);
    let differ16 = |a: u16, b: u16| (a != b).then_some(b);
    let mut r = Rewrite {
        src: differ(now.src, want.src),
        dst: differ(now.dst, want.dst),
        v6: now.family == Family::V6,
        ..Rewrite::default()
    };
    if now.is_icmp() {
        // The id rides in the source slot both ways; type and code never change.
        r.icmp_id = differ16(now.src_port, want.src_port);
    } else if has_ports(&now) {
        r.sport = differ16(now.src_port, want.src_port);
        r.dport = differ16(now.dst_port, want.dst_port);
    }
    r
}

/// The `ct_state` NAT bits of a packet going in `dir` on a connection whose mapping is
/// `status` ([`status`] bits): the side it translates in the original direction, the other
/// side in the reply direction (`ovs_ct_nat()` sets the bit of the manipulation it did).
pub fn state_bits(status: u8, dir: Dir) -> u8 {
    let (s, d) = (status & status::SRC != 0, status & status::DST != 0);
    let (src_nat, dst_nat) = match dir {
        Dir::Original => (s, d),
        Dir::Reply => (d, s),
    };
    (if src_nat { SRC_NAT } else { 0 }) | (if dst_nat { DST_NAT } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(src: u128, sp: u16, dst: u128, dp: u16) -> Tuple {
        Tuple {
            zone: 0,
            family: Family::V4,
            src,
            dst,
            proto: 17,
            src_port: sp,
            dst_port: dp,
        }
    }

    #[test]
    fn dnat_maps_the_destination_and_replies_come_back_from_the_backend() {
        let t = udp(1, 4000, 100, 80);
        let spec = NatSpec {
            kind: NatKind::Dst,
            addrs: Some((200, 203)),
            ports: Some((8080, 8080)),
            persistent: false,
            random: false,
        };
        let n = candidate(&t, &spec, 0, 7).unwrap();
        assert!((200..=203).contains(&n.dst) && n.dst_port == 8080 && n.src == 1);
        let tuples = [t, n.invert().unwrap()];
        let out = rewrite(&tuples, Dir::Original);
        assert_eq!(
            (out.src, out.dst, out.sport, out.dport),
            (None, Some(n.dst), None, Some(8080))
        );
        assert_eq!(state_bits(status::DST, Dir::Original), DST_NAT);
        let back = rewrite(&tuples, Dir::Reply);
        assert_eq!(
            (back.src, back.dst, back.sport, back.dport),
            (Some(100), None, Some(80), None)
        );
        assert_eq!(state_bits(status::DST, Dir::Reply), SRC_NAT);
    }

    #[test]
    fn snat_keeps_an_in_range_port_first_then_walks_the_range() {
        let t = udp(1, 5000, 9, 53);
        let spec = NatSpec {
            kind: NatKind::Src,
            addrs: Some((50, 50)),
            ports: Some((5000, 5003)),
            persistent: false,
            random: false,
        };
        let first = candidate(&t, &spec, 0, 1).unwrap();
        assert_eq!((first.src, first.src_port), (50, 5000));
        let ports: std::collections::BTreeSet<u16> = (1..5)
            .map(|k| candidate(&t, &spec, k, 1).unwrap().src_port)
            .collect();
        assert_eq!(ports.len(), 4, "the next candidates cover the range");
        assert!(candidate(&t, &spec, ATTEMPTS, 1).is_none());
        // Without a range a destination port never moves: past the first candidate, the
        // source port does (the null binding).
        let d = NatSpec {
            kind: NatKind::Dst,
            addrs: Some((7, 7)),
            ports: None,
            ..spec
        };
        let first = candidate(&t, &d, 0, 1).unwrap();
        assert_eq!((first.dst, first.dst_port, first.src_port), (7, 53, 5000));
        let next = candidate(&t, &d, 1, 1).unwrap();
        assert_eq!((next.dst, next.dst_port), (7, 53));
        assert!(next.src_port >= 1024 && next.src_port != 5000);
    }
}
