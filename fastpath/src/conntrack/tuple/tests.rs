use super::*;
use crate::flow::key::FRAG_FIRST;

const A: u32 = 0x0a00_0001;
const B: u32 = 0x0a00_0002;

fn v4_key(p: u8, sport: u16, dport: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_eth_type(0x0800);
    k.set_ipv4_src(A);
    k.set_ipv4_dst(B);
    k.set_ip_proto(p);
    k.set_tp_src(sport);
    k.set_tp_dst(dport);
    k
}

/// An ICMP header: type, code, checksum 0, identifier, sequence 1.
fn icmp_hdr(ty: u8, code: u8, id: u16) -> [u8; 8] {
    let [i0, i1] = id.to_be_bytes();
    [ty, code, 0, 0, i0, i1, 0, 1]
}

#[test]
fn a_tcp_tuple_inverts_by_swapping_ends() {
    let t = Tuple::of_packet(&v4_key(proto::TCP, 40000, 80), 7, &[0; 20]).expect("tcp");
    assert_eq!(
        (t.zone, t.family, t.src, t.dst, t.src_port, t.dst_port),
        (7, Family::V4, u128::from(A), u128::from(B), 40000, 80)
    );
    let r = t.invert().expect("invertible");
    assert_eq!(
        (r.src, r.dst, r.src_port, r.dst_port),
        (t.dst, t.src, 80, 40000)
    );
    assert_eq!(r.invert(), Some(t));
}

#[test]
fn an_icmp_query_is_keyed_by_id_type_and_code_and_its_reply_by_the_paired_type() {
    let k = v4_key(proto::ICMP, 8, 0);
    let t = Tuple::of_packet(&k, 0, &icmp_hdr(8, 0, 0x1234)).expect("echo request");
    assert_eq!((t.src_port, t.dst_port), (0x1234, 0x0800));
    let r = t.invert().expect("echo pairs with echo reply");
    assert_eq!(
        (r.src, r.dst, r.src_port, r.dst_port),
        (t.dst, t.src, 0x1234, 0x0000)
    );
    assert_eq!(r.invert(), Some(t));
    // The reply on its own is a tuple too (it finds the request's connection).
    let reply = Tuple::of_packet(&v4_key(proto::ICMP, 0, 0), 0, &icmp_hdr(0, 0, 9));
    assert!(reply.is_ok());
}

#[test]
fn packets_without_a_tuple_of_their_own_say_why() {
    let unreachable = v4_key(proto::ICMP, 3, 1);
    assert_eq!(
        Tuple::of_packet(&unreachable, 0, &icmp_hdr(3, 1, 0)),
        Err(NoTuple::Icmp)
    );
    let mut frag = v4_key(proto::UDP, 1, 2);
    frag.set_ip_frag(FRAG_FIRST);
    assert_eq!(Tuple::of_packet(&frag, 0, &[0; 8]), Err(NoTuple::Fragment));
    let mut arp = FlowKey::ZERO;
    arp.set_eth_type(0x0806);
    assert_eq!(Tuple::of_packet(&arp, 0, &[]), Err(NoTuple::NotIp));
    assert_eq!(
        Tuple::of_packet(&v4_key(proto::TCP, 1, 2), 0, &[0; 3]),
        Err(NoTuple::Truncated)
    );
    assert_eq!(
        Tuple::of_packet(&v4_key(proto::ICMP, 8, 0), 0, &[8, 0, 0, 0]),
        Err(NoTuple::Truncated)
    );
}

#[test]
fn other_protocols_are_keyed_by_addresses_alone() {
    let t = Tuple::of_packet(&v4_key(47, 0, 0), 0, &[]).expect("gre");
    assert_eq!((t.proto, t.src_port, t.dst_port), (47, 0, 0));
    assert_eq!(t.invert().map(|r| (r.src, r.dst)), Some((t.dst, t.src)));
}

#[test]
fn the_hash_covers_the_zone_and_both_ends() {
    let t = Tuple::of_packet(&v4_key(proto::UDP, 1000, 53), 0, &[0; 8]).expect("udp");
    let other_zone = Tuple { zone: 1, ..t };
    let reply = t.invert().expect("udp");
    assert_eq!(t.hash(5), t.hash(5));
    assert_ne!(t.hash(5), other_zone.hash(5));
    assert_ne!(t.hash(5), reply.hash(5));
    assert_ne!(t.hash(5), t.hash(6));
}

#[test]
fn the_original_tuple_goes_into_the_key_with_icmp_type_and_code_as_ports() {
    let t = Tuple::of_packet(&v4_key(proto::TCP, 40000, 80), 0, &[0; 20]).expect("tcp");
    let mut k = FlowKey::ZERO;
    t.write_orig(&mut k);
    assert_eq!(
        (
            k.ct_orig_ipv4_src(),
            k.ct_orig_ipv4_dst(),
            k.ct_orig_proto(),
            k.ct_orig_tp_src(),
            k.ct_orig_tp_dst()
        ),
        (A, B, proto::TCP, 40000, 80)
    );
    let echo = Tuple::of_packet(&v4_key(proto::ICMP, 8, 0), 0, &icmp_hdr(8, 0, 77)).expect("echo");
    echo.write_orig(&mut k);
    assert_eq!((k.ct_orig_tp_src(), k.ct_orig_tp_dst()), (8, 0));
}

/// The quoted IPv4 header of a UDP datagram from A:1000 to B:53.
fn quoted_v4_udp(frag_off: u16) -> Vec<u8> {
    let mut q = vec![0x45, 0, 0, 28, 0, 0];
    q.extend(frag_off.to_be_bytes());
    q.extend([64, proto::UDP, 0, 0]);
    q.extend(A.to_be_bytes());
    q.extend(B.to_be_bytes());
    q.extend(1000u16.to_be_bytes());
    q.extend(53u16.to_be_bytes());
    q.extend([0, 8, 0, 0]);
    q
}

#[test]
fn an_icmp_error_names_the_connection_of_the_packet_it_quotes() {
    let t = quoted(Family::V4, 3, &quoted_v4_udp(0)).expect("a quoted datagram");
    assert_eq!(
        (t.zone, t.src, t.dst, t.proto, t.src_port, t.dst_port),
        (3, u128::from(A), u128::from(B), proto::UDP, 1000, 53)
    );
    // A later fragment quotes no ports; a cut quote names nothing.
    assert_eq!(quoted(Family::V4, 0, &quoted_v4_udp(185)), None);
    assert_eq!(quoted(Family::V4, 0, &quoted_v4_udp(0)[..22]), None);
}

#[test]
fn an_icmpv6_error_quote_is_read_past_its_extension_headers() {
    let (src, dst) = (0x2001_0db8u128 << 96 | 1, 0x2001_0db8u128 << 96 | 2);
    let mut q = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
    q.extend(src.to_be_bytes());
    q.extend(dst.to_be_bytes());
    // Hop-by-hop options (8 bytes), then TCP.
    q.extend([proto::TCP, 0, 1, 4, 0, 0, 0, 0]);
    q.extend(443u16.to_be_bytes());
    q.extend(50000u16.to_be_bytes());
    q.extend([0, 0, 0, 0]);
    let t = quoted(Family::V6, 0, &q).expect("a quoted segment");
    assert_eq!(
        (t.family, t.src, t.dst, t.proto, t.src_port, t.dst_port),
        (Family::V6, src, dst, proto::TCP, 443, 50000)
    );
}
