use super::*;
use crate::conntrack::nat::{NatKind, NatSpec, Rewrite};
use crate::conntrack::table::Policy;
use crate::conntrack::tcp::flags::{ACK, SYN};

const C: u32 = 0x0a00_0001;
const S: u32 = 0x0a00_0002;

/// An IPv4 packet from `src` to `dst` carrying `l4` with protocol `proto`.
struct Pkt {
    bytes: Vec<u8>,
    proto: u8,
}

impl Pkt {
    /// With a correct TCP or ICMP checksum (UDP goes without one).
    fn new(src: u32, dst: u32, proto: u8, l4: &[u8]) -> Pkt {
        let bytes = crate::conntrack::replay::ipv4(src.to_be_bytes(), dst.to_be_bytes(), proto, l4);
        Pkt { bytes, proto }
    }

    fn tcp(src: u32, dst: u32, sport: u16, dport: u16, flags: u8, seq: u32, ack: u32) -> Pkt {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&ack.to_be_bytes());
        h.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        Pkt::new(src, dst, tuple::proto::TCP, &h)
    }

    fn udp(src: u32, dst: u32, sport: u16, dport: u16) -> Pkt {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&[0, 12, 0, 0, 1, 2, 3, 4]);
        Pkt::new(src, dst, tuple::proto::UDP, &h)
    }

    fn icmp(src: u32, dst: u32, ty: u8, id: u16, body: &[u8]) -> Pkt {
        let mut h = vec![ty, 0, 0, 0];
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&[0, 1]);
        h.extend_from_slice(body);
        Pkt::new(src, dst, tuple::proto::ICMP, &h)
    }

    fn view(&self) -> IpPacket<'_> {
        IpPacket {
            family: Family::V4,
            l3: &self.bytes,
            l4: &self.bytes[20..],
            proto: self.proto,
            fragment: false,
            checksum_trusted: false,
        }
    }
}

fn ct(zone: u16, commit: bool) -> CtAction {
    CtAction {
        zone,
        commit,
        ..CtAction::default()
    }
}

fn table() -> Table {
    Table::new(1000, 7, Policy::default())
}

/// Runs `a` on `p` as a packet fresh from a port; returns its metadata.
fn run(t: &Table, a: &CtAction, p: &Pkt) -> CtMeta {
    let mut m = CtMeta::default();
    execute(t, a, &p.view(), &mut m).unwrap();
    m
}

#[test]
fn a_tcp_handshake_is_new_then_established_with_replies_marked() {
    let t = table();
    let syn = run(&t, &ct(1, true), &Pkt::tcp(C, S, 1234, 80, SYN, 100, 0));
    assert_eq!(syn.state, TRK | NEW);
    assert_eq!(
        (syn.orig_proto, syn.orig_ipv4, syn.orig_ports, syn.zone),
        (6, (C, S), (1234, 80), 1)
    );
    assert_eq!(t.count(), 1);
    let synack = run(
        &t,
        &ct(1, false),
        &Pkt::tcp(S, C, 80, 1234, SYN | ACK, 500, 101),
    );
    assert_eq!(synack.state, TRK | EST | RPL);
    // The orig tuple is the connection's, whichever way the packet goes.
    assert_eq!(synack.orig_ipv4, (C, S));
    let ack = run(&t, &ct(1, false), &Pkt::tcp(C, S, 1234, 80, ACK, 101, 501));
    assert_eq!(ack.state, TRK | EST);
}

#[test]
fn a_segment_outside_the_window_is_invalid() {
    let t = table();
    run(&t, &ct(0, true), &Pkt::tcp(C, S, 1, 2, SYN, 100, 0));
    run(
        &t,
        &ct(0, false),
        &Pkt::tcp(S, C, 2, 1, SYN | ACK, 500, 101),
    );
    let far = run(
        &t,
        &ct(0, false),
        &Pkt::tcp(C, S, 1, 2, ACK, 100 + (1 << 30), 501),
    );
    assert_eq!(far.state, TRK | INV);
    assert_eq!(far.orig_proto, 0);
}

#[test]
fn without_commit_a_new_connection_stays_out_of_the_table_until_a_later_ct_commits() {
    let t = table();
    let p = Pkt::udp(C, S, 5000, 53);
    let mut m = CtMeta::default();
    execute(&t, &ct(3, false), &p.view(), &mut m).unwrap();
    assert_eq!((m.state, t.count()), (TRK | NEW, 0));
    // After recirculation the same packet commits: still +new, now in the table.
    let mut a = ct(3, true);
    a.mark = Some((0x11, 0xff));
    execute(&t, &a, &p.view(), &mut m).unwrap();
    assert_eq!((m.state, m.mark, t.count()), (TRK | NEW, 0x11, 1));
    let reply = run(&t, &ct(3, false), &Pkt::udp(S, C, 53, 5000));
    assert_eq!((reply.state, reply.mark), (TRK | EST | RPL, 0x11));
}

#[test]
fn a_packet_tracked_in_a_zone_is_not_tracked_twice_there() {
    let t = table();
    let syn = Pkt::tcp(C, S, 1, 2, SYN, 100, 0);
    let mut m = CtMeta::default();
    execute(&t, &ct(1, true), &syn.view(), &mut m).unwrap();
    let synack = Pkt::tcp(S, C, 2, 1, SYN | ACK, 500, 101);
    let mut r = CtMeta::default();
    execute(&t, &ct(1, false), &synack.view(), &mut r).unwrap();
    // The same SYN-ACK through `ct` again (after recirculation): a second tracker run
    // would see a retransmission; the cached verdict stands, and commit sets the mark.
    let mut a = ct(1, true);
    a.mark = Some((7, 0xffff_ffff));
    execute(&t, &a, &synack.view(), &mut r).unwrap();
    assert_eq!((r.state, r.mark), (TRK | EST | RPL, 7));
    // In another zone the packet is looked up afresh: no connection there, and a SYN-ACK
    // cannot start one.
    execute(&t, &ct(2, false), &synack.view(), &mut r).unwrap();
    assert_eq!((r.state, r.zone), (TRK | INV, 2));
}

#[test]
fn metadata_from_userspace_finds_the_connection_without_a_tracker_run() {
    let t = table();
    run(&t, &ct(0, true), &Pkt::udp(C, S, 9, 10));
    let reply = Pkt::udp(S, C, 10, 9);
    // What EXECUTE carries after a MISS upcall of a reply: the state, no connection.
    let mut m = CtMeta {
        state: TRK | EST | RPL,
        ..CtMeta::default()
    };
    let mut a = ct(0, true);
    a.labels = Some((1 << 100, 1 << 100));
    execute(&t, &a, &reply.view(), &mut m).unwrap();
    assert_eq!((m.state, m.labels), (TRK | EST | RPL, 1 << 100));
    assert!(m.conn.is_some());
    // The reply was not tracked: the next original packet is still +new.
    assert_eq!(
        run(&t, &ct(0, false), &Pkt::udp(C, S, 9, 10)).state,
        TRK | NEW
    );
}

#[test]
fn mark_and_labels_are_set_under_their_masks_on_commit_only() {
    let t = table();
    let p = Pkt::udp(C, S, 1, 2);
    let mut a = ct(0, true);
    a.mark = Some((0xab00, 0xff00));
    a.labels = Some((0xf0, 0xff));
    let m = run(&t, &a, &p);
    assert_eq!((m.mark, m.labels), (0xab00, 0xf0));
    a.mark = Some((0x00cd, 0x00ff));
    a.labels = Some((0x0f, 0x0f));
    let m = run(&t, &a, &p);
    assert_eq!((m.mark, m.labels), (0xabcd, 0xff));
    a.commit = false;
    a.mark = Some((0, 0xffff_ffff));
    assert_eq!(run(&t, &a, &p).mark, 0xabcd);
}

#[test]
fn force_commit_from_the_reply_direction_starts_a_connection_that_way() {
    let t = table();
    run(&t, &ct(0, true), &Pkt::udp(C, S, 1, 2));
    let reply = Pkt::udp(S, C, 2, 1);
    let mut m = CtMeta::default();
    execute(&t, &ct(0, false), &reply.view(), &mut m).unwrap();
    assert_eq!(m.state, TRK | EST | RPL);
    let mut a = ct(0, true);
    a.force = true;
    execute(&t, &a, &reply.view(), &mut m).unwrap();
    assert_eq!((m.state, m.orig_ipv4, t.count()), (TRK | NEW, (S, C), 1));
}

#[test]
fn icmp_echo_pairs_and_errors_are_related_to_the_connection_they_quote() {
    let t = table();
    assert_eq!(
        run(&t, &ct(0, true), &Pkt::icmp(C, S, 8, 77, &[])).state,
        TRK | NEW
    );
    let echo_reply = run(&t, &ct(0, false), &Pkt::icmp(S, C, 0, 77, &[]));
    assert_eq!(echo_reply.state, TRK | EST | RPL);
    assert_eq!(echo_reply.orig_ports, (8, 0));
    // A reply nobody asked for starts nothing.
    assert_eq!(
        run(&t, &ct(0, true), &Pkt::icmp(S, C, 0, 78, &[])).state,
        TRK | INV
    );

    let udp = Pkt::udp(C, S, 4000, 69);
    run(&t, &ct(0, true), &udp);
    // Port unreachable from S, quoting the UDP packet C sent.
    let quote = &udp.bytes[..28];
    let err = run(&t, &ct(0, false), &Pkt::icmp(S, C, 3, 0, quote));
    assert_eq!(err.state, TRK | REL | RPL);
    assert_eq!((err.orig_proto, err.orig_ports), (17, (4000, 69)));
    // Sent to someone other than the quoted packet's source: invalid.
    let stray = run(&t, &ct(0, false), &Pkt::icmp(S, 0x0a00_0009, 3, 0, quote));
    assert_eq!(stray.state, TRK | INV);
    // Quoting a packet of no connection: invalid.
    let other = Pkt::udp(C, S, 4001, 69);
    let err = run(
        &t,
        &ct(0, false),
        &Pkt::icmp(S, C, 3, 0, &other.bytes[..28]),
    );
    assert_eq!(err.state, TRK | INV);
}

#[test]
fn a_zone_at_its_limit_drops_the_committing_packet() {
    let t = table();
    t.set_zone_limit(5, Some(1));
    run(&t, &ct(5, true), &Pkt::udp(C, S, 1, 2));
    let mut m = CtMeta::default();
    let r = execute(&t, &ct(5, true), &Pkt::udp(C, S, 3, 2).view(), &mut m);
    assert_eq!(r, Err(CtDrop::Limit));
    // Without commit it is only +new.
    assert_eq!(
        run(&t, &ct(5, false), &Pkt::udp(C, S, 3, 2)).state,
        TRK | NEW
    );
}

#[test]
fn fragments_and_truncated_headers_do_not_panic() {
    let t = table();
    let p = Pkt::tcp(C, S, 1, 2, SYN, 1, 0);
    let mut v = p.view();
    v.fragment = true;
    assert_eq!(
        execute(&t, &ct(0, true), &v, &mut CtMeta::default()),
        Err(CtDrop::Fragment)
    );
    for n in 0..p.bytes.len() {
        let v = IpPacket {
            family: Family::V4,
            l3: &p.bytes[..n],
            l4: p.bytes.get(20..n).unwrap_or(&[]),
            proto: 6,
            fragment: false,
            checksum_trusted: false,
        };
        let mut m = CtMeta::default();
        execute(&t, &ct(0, true), &v, &mut m).unwrap();
        assert_eq!(m.state, TRK | INV, "{n} bytes");
    }
}

fn dnat(lo: u32, hi: u32, port: u16) -> CtAction {
    CtAction {
        zone: 0,
        commit: true,
        nat: Some(NatSpec {
            kind: NatKind::Dst,
            addrs: Some((u128::from(lo), u128::from(hi))),
            ports: Some((port, port)),
            persistent: false,
            random: false,
        }),
        ..CtAction::default()
    }
}

fn run_nat(t: &Table, a: &CtAction, p: &Pkt) -> (CtMeta, Rewrite) {
    let mut m = CtMeta::default();
    let mut rw = Rewrite::default();
    execute_nat(t, a, &p.view(), &mut m, None, &mut rw).unwrap();
    (m, rw)
}

#[test]
fn dnat_spreads_connections_over_the_backends_and_replies_come_back_from_the_vip() {
    let t = table();
    const VIP: u32 = 0x0a00_0064;
    let a = dnat(0x0a00_00c8, 0x0a00_00cb, 8080);
    let mut backends = std::collections::BTreeSet::new();
    for sport in 1000..1040 {
        let (m, rw) = run_nat(&t, &a, &Pkt::udp(C, VIP, sport, 80));
        assert_eq!(m.state, TRK | NEW | crate::conntrack::nat::DST_NAT);
        // The original tuple is the one before translation.
        assert_eq!(m.orig_ipv4, (C, VIP));
        let to = u32::try_from(rw.dst.expect("destination translated")).unwrap();
        assert!((0x0a00_00c8..=0x0a00_00cb).contains(&to));
        assert_eq!((rw.src, rw.dport, rw.sport), (None, Some(8080), None));
        backends.insert(to);
        // The backend's reply: source translated back to the VIP.
        let nat_only = CtAction {
            nat: Some(NatSpec {
                kind: NatKind::Established,
                addrs: None,
                ports: None,
                persistent: false,
                random: false,
            }),
            ..CtAction::default()
        };
        let (r, back) = run_nat(&t, &nat_only, &Pkt::udp(to, C, 8080, sport));
        assert_eq!(r.state, TRK | EST | RPL | crate::conntrack::nat::SRC_NAT);
        assert_eq!(
            (back.src, back.sport, back.dst),
            (Some(u128::from(VIP)), Some(80), None)
        );
        // Without a NAT attribute nothing is translated, even on a mapped connection.
        let (_, none) = run_nat(&t, &CtAction::default(), &Pkt::udp(to, C, 8080, sport));
        assert!(!none.is_some());
    }
    assert!(backends.len() >= 3, "connections spread: {backends:?}");
}

#[test]
fn snat_past_its_port_range_drops_the_next_connection_and_counts_it() {
    let t = table();
    let a = CtAction {
        commit: true,
        nat: Some(NatSpec {
            kind: NatKind::Src,
            addrs: Some((0x0a00_0032, 0x0a00_0032)),
            ports: Some((7000, 7001)),
            persistent: false,
            random: false,
        }),
        ..CtAction::default()
    };
    let mut ports = Vec::new();
    for sport in [5000, 5001] {
        let (_, rw) = run_nat(&t, &a, &Pkt::udp(C, S, sport, 53));
        assert_eq!(rw.src, Some(0x0a00_0032));
        ports.push(rw.sport.unwrap());
    }
    ports.sort_unstable();
    assert_eq!(ports, [7000, 7001]);
    let mut m = CtMeta::default();
    let r = execute_nat(
        &t,
        &a,
        &Pkt::udp(C, S, 5002, 53).view(),
        &mut m,
        None,
        &mut Rewrite::default(),
    );
    assert_eq!(r, Err(CtDrop::NoMapping));
    assert_eq!(
        t.stats
            .nat_exhausted
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(t.count(), 2);
}

#[test]
fn snat_of_icmp_echo_moves_the_id_both_ways() {
    let t = table();
    let a = CtAction {
        commit: true,
        nat: Some(NatSpec {
            kind: NatKind::Src,
            addrs: Some((0x0a00_0032, 0x0a00_0032)),
            ports: Some((100, 100)),
            persistent: false,
            random: false,
        }),
        ..CtAction::default()
    };
    let (_, rw) = run_nat(&t, &a, &Pkt::icmp(C, S, 8, 7, &[]));
    assert_eq!((rw.src, rw.icmp_id), (Some(0x0a00_0032), Some(100)));
    let mut est = a.clone();
    est.commit = false;
    let (m, back) = run_nat(&t, &est, &Pkt::icmp(S, 0x0a00_0032, 0, 100, &[]));
    assert_eq!(m.state & (EST | RPL), EST | RPL);
    assert_eq!((back.dst, back.icmp_id), (Some(u128::from(C)), Some(7)));
}

#[test]
fn a_bad_transport_checksum_is_invalid_unless_offload_left_it_unfinished() {
    let t = table();
    let mut p = Pkt::tcp(C, S, 1, 2, SYN, 100, 0);
    p.bytes[20 + 16] ^= 0xff;
    let mut m = CtMeta::default();
    execute(&t, &ct(0, true), &p.view(), &mut m).unwrap();
    assert_eq!((m.state, t.count()), (TRK | INV, 0));
    let mut v = p.view();
    v.checksum_trusted = true;
    let mut m = CtMeta::default();
    execute(&t, &ct(0, true), &v, &mut m).unwrap();
    assert_eq!((m.state, t.count()), (TRK | NEW, 1));
    // A UDP datagram without a checksum passes; with a wrong one it does not.
    assert_eq!(
        run(&t, &ct(0, false), &Pkt::udp(C, S, 7, 8)).state,
        TRK | NEW
    );
    let mut u = Pkt::udp(C, S, 7, 8);
    u.bytes[26] = 0x12;
    assert_eq!(run(&t, &ct(0, false), &u).state, TRK | INV);
}

#[test]
fn two_vips_sending_one_clients_port_to_one_backend_do_not_clash() {
    let t = table();
    // C:1000 -> VIP1:80 and C:1000 -> VIP2:80, both to B:8080: the second connection's
    // reply tuple would be the first's, so its source port moves.
    let a = dnat(S, S, 8080);
    let (_, first) = run_nat(&t, &a, &Pkt::udp(C, 0x0a00_0064, 1000, 80));
    assert_eq!((first.dst, first.sport), (Some(u128::from(S)), None));
    let (m, second) = run_nat(&t, &a, &Pkt::udp(C, 0x0a00_0065, 1000, 80));
    let moved = second.sport.expect("source port moved");
    assert_ne!(moved, 1000);
    let both = crate::conntrack::nat::SRC_NAT | crate::conntrack::nat::DST_NAT;
    assert_eq!(m.state & both, both);
    assert_eq!(t.count(), 2);
    // The backend's reply to the moved port goes back to the client's own port, from VIP2.
    let nat_only = CtAction {
        nat: a.nat,
        commit: false,
        ..CtAction::default()
    };
    let (_, back) = run_nat(&t, &nat_only, &Pkt::udp(S, C, 8080, moved));
    assert_eq!((back.src, back.sport), (Some(0x0a00_0065), Some(80)));
    assert_eq!(back.dport, Some(1000));
}
