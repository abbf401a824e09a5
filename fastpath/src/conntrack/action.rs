//! The datapath's `ct` action on one packet, as the kernel runs it
//! (`net/openvswitch/conntrack.c`, `ovs_ct_execute()`): find the packet's connection (or
//! reuse the one an earlier `ct` in the same zone found), run its protocol tracker, commit
//! it when asked, and leave the verdict in the packet's [`CtMeta`] for flows to match.

use std::sync::atomic::Ordering::Relaxed;

use super::nat::{self, NatKind, NatSpec, Rewrite};
use super::table::{Conn, ConnRef, Entry, Found, ProtoState, Refused, Table};
use super::tcp::{Segment, Status, TcpConn, Verdict};
use super::tuple::{self, Family, NoTuple, Tuple};
use super::{icmp, udp, Dir};
use crate::packet::parse::CtMeta;

use super::state::{EST, INV, NEW, REL, RPL, TRK};

/// A `ct` action, compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtAction {
    /// Zone.
    pub zone: u16,
    /// Commit the connection.
    pub commit: bool,
    /// Force commit: a connection found in the reply direction is replaced.
    pub force: bool,
    /// Mark value and mask, set on commit.
    pub mark: Option<(u32, u32)>,
    /// Labels value and mask, set on commit.
    pub labels: Option<(u128, u128)>,
    /// NAT.
    pub nat: Option<NatSpec>,
}

/// Why `ct` drops a packet (the kernel's `OVS_DROP_CONNTRACK` cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtDrop {
    /// A commit refused by the global or the zone's limit.
    Limit,
    /// A commit with no free table entry.
    Full,
    /// A commit whose reply tuple belongs to another connection.
    Clash,
    /// A NAT commit for which every mapping of the range is taken.
    NoMapping,
    /// The datapath has no connection table.
    NoTable,
    /// An IP fragment: the tracker needs the reassembled packet, which dpswitch does not
    /// build yet.
    Fragment,
}

/// The packet as `ct` sees it.
#[derive(Clone, Copy, Debug)]
pub struct IpPacket<'a> {
    /// IPv4 or IPv6.
    pub family: Family,
    /// From the IP header to the packet's end.
    pub l3: &'a [u8],
    /// From the transport header to the IP payload's end.
    pub l4: &'a [u8],
    /// Transport protocol.
    pub proto: u8,
    /// A fragment.
    pub fragment: bool,
    /// The transport checksum need not be verified: its packet carries it unfinished, for
    /// the transmitter (offload), which the kernel takes as good.
    pub checksum_trusted: bool,
}

impl<'a> IpPacket<'a> {
    /// The packet in `frame` whose IP header is at `l3_ofs` and transport header at
    /// `l4_ofs` (equal when it has none): `proto` and `frag` as its key has them. The
    /// payload ends where the IP header says (Ethernet padding is not payload).
    pub fn of_frame(
        frame: &'a [u8],
        family: Family,
        l3_ofs: usize,
        l4_ofs: usize,
        proto: u8,
        frag: u8,
    ) -> IpPacket<'a> {
        let l3 = frame.get(l3_ofs..).unwrap_or(&[]);
        let be16 = |o: usize| {
            l3.get(o..o + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        };
        let ip_end = match family {
            Family::V4 => be16(2),
            Family::V6 => be16(4).map(|n| n + 40),
        };
        let l3 = &l3[..ip_end.unwrap_or(0).min(l3.len())];
        let l4 = if l4_ofs > l3_ofs {
            l3.get(l4_ofs - l3_ofs..).unwrap_or(&[])
        } else {
            &[]
        };
        IpPacket {
            family,
            l3,
            l4,
            proto,
            fragment: frag != 0,
            checksum_trusted: false,
        }
    }
}

/// The hash the lookup of packet `p` under `a` will use, for a PMD to prefetch ahead of
/// running `a` ([`Table::prefetch_bucket`]); `None` when `a` will not look the packet up
/// (tracked in this zone already, a fragment, no tuple).
pub fn lookup_hash(table: &Table, a: &CtAction, p: &IpPacket<'_>, ct: &CtMeta) -> Option<u64> {
    if p.fragment || (ct.state & TRK != 0 && ct.zone == a.zone) {
        return None;
    }
    packet_tuple(p, a.zone).ok().map(|t| table.hash(&t))
}

/// [`lookup_hash`] of a packet as the PMD has it: its frame, extracted key and offsets,
/// and metadata.
pub fn lookup_hash_of_frame(
    table: &Table,
    a: &CtAction,
    frame: &[u8],
    key: &crate::flow::FlowKey,
    info: &crate::packet::parse::ExtractInfo,
    md: &crate::packet::parse::Metadata,
) -> Option<u64> {
    let family = match key.eth_type() {
        0x0800 => Family::V4,
        0x86dd => Family::V6,
        _ => return None,
    };
    let p = IpPacket::of_frame(
        frame,
        family,
        usize::from(info.l3_ofs),
        usize::from(info.l4_ofs),
        key.ip_proto(),
        key.ip_frag(),
    );
    lookup_hash(table, a, &p, &md.ct)
}

/// Runs `a` on packet `p`, whose ct metadata is `ct` (updated).
///
/// # Errors
/// [`CtDrop`]: the packet is to be dropped.
pub fn execute(
    table: &Table,
    a: &CtAction,
    p: &IpPacket<'_>,
    ct: &mut CtMeta,
) -> Result<(), CtDrop> {
    execute_hashed(table, a, p, ct, None)
}

/// [`execute`] with the lookup's hash computed already ([`lookup_hash`] of the same packet,
/// action and metadata).
///
/// # Errors
/// [`CtDrop`]: the packet is to be dropped.
pub fn execute_hashed(
    table: &Table,
    a: &CtAction,
    p: &IpPacket<'_>,
    ct: &mut CtMeta,
    hash: Option<u64>,
) -> Result<(), CtDrop> {
    execute_nat(table, a, p, ct, hash, &mut Rewrite::default())
}

/// [`execute_hashed`], leaving in `rw` how the packet's headers must change when its
/// connection is translated (NAT): the caller rewrites them.
///
/// # Errors
/// [`CtDrop`]: the packet is to be dropped.
pub fn execute_nat(
    table: &Table,
    a: &CtAction,
    p: &IpPacket<'_>,
    ct: &mut CtMeta,
    hash: Option<u64>,
    rw: &mut Rewrite,
) -> Result<(), CtDrop> {
    if p.fragment {
        return Err(CtDrop::Fragment);
    }
    let same_zone = ct.state & TRK != 0 && ct.state & INV == 0 && ct.zone == a.zone;
    if same_zone {
        if ct.conn.is_some() {
            // Tracked by an earlier `ct` in this zone: not tracked twice.
            let reply = ct.state & RPL != 0;
            if a.force && reply {
                table.remove(ct.conn);
            } else if let Found::Yes(()) = table.get(ct.conn, |c, _| commit_fields(a, c, ct)) {
                return Ok(());
            }
        } else if ct.state & NEW != 0 && ct.state & (EST | REL) == 0 {
            // New and not committed by the earlier `ct`: committing creates it.
            if !a.commit {
                return Ok(());
            }
        } else if let Ok(t) = packet_tuple(p, a.zone) {
            // Tracked before an upcall (EXECUTE): found again without a second tracker run
            // (`ovs_ct_find_existing()`).
            let found = table.find(&t, |r, dir, c, _| {
                if (dir == Dir::Reply) == (ct.state & RPL != 0) {
                    ct.conn = r;
                    commit_fields(a, c, ct);
                    true
                } else {
                    false
                }
            });
            if found == Found::Yes(true) {
                return Ok(());
            }
        }
    }
    *ct = CtMeta {
        state: TRK,
        zone: a.zone,
        ..CtMeta::default()
    };
    if !checksum_ok(p) {
        return untracked(ct);
    }
    let t = match packet_tuple(p, a.zone) {
        Ok(t) => t,
        Err(NoTuple::Icmp) => {
            related(table, a, p, ct, rw);
            return Ok(());
        }
        Err(_) => return untracked(ct),
    };
    let now = table.now_ms();
    let h = hash.unwrap_or_else(|| table.hash(&t));
    match table.find_hashed(&t, h, |r, dir, c, e| {
        track(table, a, p, (r, dir), c, e, ct, now, rw)
    }) {
        Found::Yes(Tracked::Done) => Ok(()),
        Found::Yes(Tracked::Kill(r)) => {
            table.remove(r);
            Ok(())
        }
        Found::Yes(Tracked::Reopen(r)) => {
            table.remove(r);
            new_connection(table, a, p, t, ct, now, rw)
        }
        Found::No => new_connection(table, a, p, t, ct, now, rw),
        Found::Busy => untracked(ct),
    }
}

/// What tracking a packet on its connection came to.
enum Tracked {
    Done,
    /// Accepted, and the connection ends now.
    Kill(ConnRef),
    /// The connection is over; the packet starts a new one.
    Reopen(ConnRef),
}

/// Whether the transport checksum is right, as `tcp_error()`, `udp_error()`,
/// `icmp_error()` and `icmpv6_error()` check it for a packet entering the stack
/// (`nf_conntrack_checksum`, on by default): a UDP datagram without a checksum passes, and
/// headers too short to hold one are the trackers' to judge.
fn checksum_ok(p: &IpPacket<'_>) -> bool {
    use crate::actions::csum::{fold, pseudo_sum, sum};
    if p.checksum_trusted {
        return true;
    }
    let field = match (p.family, p.proto) {
        (_, tuple::proto::TCP) => 16,
        (_, tuple::proto::UDP) => 6,
        (Family::V4, tuple::proto::ICMP) | (Family::V6, tuple::proto::ICMPV6) => 2,
        _ => return true,
    };
    let l4 = p.l4;
    if l4.len() < field + 2 || (p.proto == tuple::proto::UDP && l4[6..8] == [0, 0]) {
        return true;
    }
    let len = u32::try_from(l4.len()).unwrap_or(0);
    // ICMP over IPv4 is the one without a pseudo header.
    let pseudo = if p.family == Family::V4 && p.proto == tuple::proto::ICMP {
        0
    } else {
        let addrs = match p.family {
            Family::V4 => p.l3.get(12..20),
            Family::V6 => p.l3.get(8..40),
        };
        let Some(a) = addrs else { return true };
        pseudo_sum(a, p.proto, len)
    };
    fold(sum(l4, pseudo)) == 0xffff
}

fn packet_tuple(p: &IpPacket<'_>, zone: u16) -> Result<Tuple, NoTuple> {
    Tuple::of_ip(p.family, p.l3, p.l4, p.proto, zone)
}

fn invalid(ct: &mut CtMeta) {
    ct.state = TRK | INV;
    ct.conn = ConnRef::NONE;
}

/// [`invalid`], as the result of the action (not an error: the packet goes on untracked).
#[allow(clippy::unnecessary_wraps)]
fn untracked(ct: &mut CtMeta) -> Result<(), CtDrop> {
    invalid(ct);
    Ok(())
}

/// Runs the protocol tracker of `c` for the packet going in `dir`.
#[allow(clippy::too_many_arguments)]
fn track(
    table: &Table,
    a: &CtAction,
    p: &IpPacket<'_>,
    (r, dir): (ConnRef, Dir),
    c: &mut Conn,
    e: &Entry,
    ct: &mut CtMeta,
    now: u64,
    rw: &mut Rewrite,
) -> Tracked {
    let policy = table.policy();
    let status = Status {
        seen_reply: c.seen_reply,
        assured: c.assured,
    };
    let verdict = match &mut c.proto {
        ProtoState::Tcp(tcp) => match Segment::parse(p.l4) {
            Ok(seg) => tcp.packet(dir, &seg, status, &policy.tcp),
            Err(_) => Verdict::Invalid,
        },
        ProtoState::Udp => {
            if udp::check(p.l4).is_err() {
                Verdict::Invalid
            } else {
                let v = udp::packet(c.created_ms, now, c.seen_reply, c.assured, &policy.udp);
                Verdict::Accept {
                    timeout: Some(v.timeout),
                    assure: v.assure,
                }
            }
        }
        ProtoState::Icmp => Verdict::Accept {
            timeout: Some(policy.icmp),
            assure: false,
        },
        ProtoState::Other => Verdict::Accept {
            timeout: Some(policy.other),
            assure: false,
        },
    };
    let (timeout, assure) = match verdict {
        Verdict::Accept { timeout, assure } => (timeout, assure),
        Verdict::Kill => (None, false),
        Verdict::Ignore | Verdict::Invalid => {
            invalid(ct);
            return Tracked::Done;
        }
        Verdict::Reopen => return Tracked::Reopen(r),
    };
    if let Some(s) = timeout {
        e.set_timeout(now, s);
    }
    c.assured |= assure;
    ct.state = TRK
        | match dir {
            Dir::Reply => EST | RPL,
            Dir::Original if c.seen_reply => EST,
            Dir::Original => NEW,
        };
    if dir == Dir::Reply {
        c.seen_reply = true;
    }
    // Established, assured TCP connections accept any window from then on
    // (`__ovs_ct_lookup()`).
    if let ProtoState::Tcp(tcp) = &mut c.proto {
        if c.assured && tcp.established() {
            tcp.be_liberal();
        }
    }
    // A mapped connection's packets are translated whenever the action has NAT, even an
    // empty one (`ovs_ct_nat()`).
    if a.nat.is_some() && c.nat != 0 {
        *rw = nat::rewrite(&c.tuples, dir);
        ct.state |= nat::state_bits(c.nat, dir);
    }
    ct.conn = r;
    commit_fields(a, c, ct);
    if verdict == Verdict::Kill {
        Tracked::Kill(r)
    } else {
        Tracked::Done
    }
}

/// The first packet `t` of a connection not in the table: `+new` if it may start one, and
/// committed if `a` commits.
fn new_connection(
    table: &Table,
    a: &CtAction,
    p: &IpPacket<'_>,
    t: Tuple,
    ct: &mut CtMeta,
    now: u64,
    rw: &mut Rewrite,
) -> Result<(), CtDrop> {
    let policy = table.policy();
    let (proto, timeout) = match t.proto {
        tuple::proto::TCP => {
            let Ok(seg) = Segment::parse(p.l4) else {
                return untracked(ct);
            };
            let Some(mut tcp) = TcpConn::new(&seg, &policy.tcp) else {
                return untracked(ct);
            };
            match tcp.packet(Dir::Original, &seg, Status::default(), &policy.tcp) {
                Verdict::Accept { timeout, .. } => (
                    ProtoState::Tcp(tcp),
                    timeout.unwrap_or(policy.tcp.timeouts.syn_sent),
                ),
                _ => return untracked(ct),
            }
        }
        tuple::proto::UDP | tuple::proto::UDPLITE => {
            if udp::check(p.l4).is_err() {
                return untracked(ct);
            }
            (ProtoState::Udp, policy.udp.unreplied)
        }
        _ if t.is_icmp() => {
            // Only a query starts an ICMP connection.
            if !matches!(tuple::kind(t.family, p.l4[0]), icmp::Kind::Request { .. }) {
                return untracked(ct);
            }
            (ProtoState::Icmp, policy.icmp)
        }
        _ => (ProtoState::Other, policy.other),
    };
    ct.state = TRK | NEW;
    ct.zone = a.zone;
    t.write_orig_meta(ct);
    if !a.commit {
        return Ok(());
    }
    // Without NAT the reply tuple is the inverse; with it, the first candidate mapping
    // whose reply tuple is free (`get_unique_tuple()`).
    let mapping = a.nat.filter(|n| n.kind != NatKind::Established);
    let seed = table.hash(&t);
    for k in 0.. {
        let (seen, status) = match &mapping {
            Some(spec) => {
                let Some(n) = nat::candidate(&t, spec, k, seed) else {
                    table.stats.nat_exhausted.fetch_add(1, Relaxed);
                    return Err(CtDrop::NoMapping);
                };
                let mut bit = if spec.kind == NatKind::Src {
                    nat::status::SRC
                } else {
                    nat::status::DST
                };
                // A DNAT whose source port moved too (null binding) translates both sides.
                if n.src != t.src || n.src_port != t.src_port {
                    bit |= nat::status::SRC;
                }
                (n, bit)
            }
            None => (t, 0),
        };
        let Some(reply) = seen.invert() else {
            return untracked(ct);
        };
        let mut conn = Conn::new(t, reply, proto.clone(), now);
        conn.nat = status;
        match table.commit(conn, timeout, |r, c, _| {
            ct.conn = r;
            commit_fields(a, c, ct);
        }) {
            Ok(()) => {
                if status != 0 {
                    *rw = nat::rewrite(&[t, reply], Dir::Original);
                    ct.state |= nat::state_bits(status, Dir::Original);
                }
                return Ok(());
            }
            Err(Refused::Clash) => {
                // Committed meanwhile by another packet (another PMD, or after this
                // packet's first `ct`): the packet belongs to that one.
                let found = table.find(&t, |r, dir, c, _| {
                    if dir == Dir::Original {
                        ct.conn = r;
                        commit_fields(a, c, ct);
                        if a.nat.is_some() && c.nat != 0 {
                            *rw = nat::rewrite(&c.tuples, dir);
                            ct.state |= nat::state_bits(c.nat, dir);
                        }
                    }
                    dir == Dir::Original
                });
                if found == Found::Yes(true) {
                    return Ok(());
                }
                if mapping.is_none() {
                    return Err(CtDrop::Clash);
                }
                // The mapping's reply tuple is taken: try the next.
            }
            Err(Refused::Limit) => return Err(CtDrop::Limit),
            Err(Refused::Full) => return Err(CtDrop::Full),
        }
    }
    Err(CtDrop::NoMapping)
}

/// An ICMP error: `+rel` to the connection of the packet it quotes, else `+inv`
/// (`nf_conntrack_inet_error()`).
fn related(table: &Table, a: &CtAction, p: &IpPacket<'_>, ct: &mut CtMeta, rw: &mut Rewrite) {
    let is_error = p.l4.first().is_some_and(|&ty| {
        tuple::is_icmp(p.family, p.proto) && tuple::kind(p.family, ty) == icmp::Kind::Error
    });
    let quoted =
        p.l4.get(8..)
            .and_then(|b| tuple::quoted(p.family, a.zone, b));
    let Some(inner) = quoted
        .filter(|_| is_error)
        .and_then(|q| q.invert().map(|i| (q, i)))
    else {
        return invalid(ct);
    };
    let (q, this_way) = inner;
    let outer_dst = match Tuple::of_ip(p.family, p.l3, &[0; 8], 0, a.zone) {
        Ok(o) => o.dst,
        Err(_) => return invalid(ct),
    };
    let found = table.find(&this_way, |r, dir, c, _| {
        // The error goes back to whoever sent the quoted packet.
        if outer_dst != q.src {
            return false;
        }
        ct.state = TRK | REL | if dir == Dir::Reply { RPL } else { 0 };
        // Errors about a mapped connection are translated, quoted packet included: those
        // coming back always, those going out only with commit (`ovs_ct_nat()`).
        if a.nat.is_some() && c.nat != 0 && (dir == Dir::Reply || a.commit) {
            *rw = nat::related_rewrite(&c.tuples, dir);
            ct.state |= nat::state_bits(c.nat, dir);
        }
        ct.conn = r;
        commit_fields(a, c, ct);
        true
    });
    if found != Found::Yes(true) {
        invalid(ct);
    }
}

/// Applies a commit's mark and labels to `c` (`ovs_ct_set_mark()`, `ovs_ct_set_labels()`)
/// and copies the connection's fields into the packet's metadata.
fn commit_fields(a: &CtAction, c: &mut Conn, ct: &mut CtMeta) {
    if a.commit {
        if let Some((v, m)) = a.mark {
            c.mark = v | (c.mark & !m);
        }
        if let Some((v, m)) = a.labels {
            c.labels = (c.labels & !m) | (v & m);
        }
    }
    ct.zone = c.zone();
    ct.mark = c.mark;
    ct.labels = c.labels;
    c.tuples[0].write_orig_meta(ct);
}

#[cfg(test)]
mod tests;
