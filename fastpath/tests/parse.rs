//! Golden frames → expected keys, and truncation at every length.

use fastpath::testing::*;

use fastpath::flow::key::{FlowKey, FRAG_FIRST, FRAG_LATER, FRAG_NONE, MAC_PROTO_NONE};
use fastpath::packet::parse::exthdr;
use fastpath::packet::{extract, CtMeta, ExtractInfo, Metadata, ParseStatus};

fn key_of(frame: &[u8], md: &Metadata) -> (FlowKey, ExtractInfo) {
    let mut k = FlowKey::default();
    let info = extract(frame, md, &mut k);
    assert_eq!(
        info.hash,
        k.hash(),
        "extraction hash must equal the full-key hash"
    );
    (k, info)
}

fn md() -> Metadata {
    Metadata {
        recirc_id: 7,
        skb_mark: 0x55,
        priority: 3,
        dp_hash: 9,
        ..Metadata::for_port(4)
    }
}

/// The key every Ethernet frame from MAC_A to MAC_B gets before L3.
fn l2_key(eth_type: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(4);
    k.set_recirc_id(7);
    k.set_skb_mark(0x55);
    k.set_priority(3);
    k.set_dp_hash(9);
    k.set_eth_src(MAC_A);
    k.set_eth_dst(MAC_B);
    k.set_eth_type(eth_type);
    k
}

/// Runs `frame[..len]` for every len, comparing to `expect(len)`.
fn truncation_sweep(frame: &[u8], expect: impl Fn(usize) -> (FlowKey, ParseStatus)) {
    for len in 0..=frame.len() {
        let (k, info) = key_of(&frame[..len], &md());
        let (want, status) = expect(len);
        assert_eq!(info.status, status, "status at len {len}");
        if status != ParseStatus::Drop {
            assert_eq!(k, want, "key at len {len}");
        }
    }
}

#[test]
fn udp4_golden_and_truncated() {
    let f = udp4_frame();
    assert_eq!(f.len(), 60);
    let mut l3 = l2_key(0x0800);
    l3.set_ipv4_src(IP_A);
    l3.set_ipv4_dst(IP_B);
    l3.set_ip_proto(17);
    l3.set_ip_tos(0x10);
    l3.set_ip_ttl(64);
    l3.set_ip_frag(FRAG_NONE);
    let mut full = l3;
    full.set_tp_src(1234);
    full.set_tp_dst(5678);
    let (k, info) = key_of(&f, &md());
    assert_eq!(k, full);
    assert_eq!(info.status, ParseStatus::Ok);
    assert_eq!((info.l3_ofs, info.l4_ofs), (14, 34));
    truncation_sweep(&f, |len| match len {
        0..=13 => (FlowKey::ZERO, ParseStatus::Drop),
        14..=33 => (l2_key(0x0800), ParseStatus::Partial),
        34..=41 => (l3, ParseStatus::Partial),
        _ => (full, ParseStatus::Ok),
    });
}

#[test]
fn tcp4_with_options_golden_and_truncated() {
    let f = tcp4_frame();
    let mut l3 = l2_key(0x0800);
    l3.set_ipv4_src(IP_A);
    l3.set_ipv4_dst(IP_B);
    l3.set_ip_proto(6);
    l3.set_ip_tos(0x10);
    l3.set_ip_ttl(64);
    let mut full = l3;
    full.set_tp_src(40000);
    full.set_tp_dst(80);
    full.set_tcp_flags(0x012);
    let (k, info) = key_of(&f, &md());
    assert_eq!(k, full);
    assert_eq!(info.l4_ofs, 14 + 24);
    // IP header is 24 bytes (options), TCP header 28 bytes (options).
    truncation_sweep(&f, |len| match len {
        0..=13 => (FlowKey::ZERO, ParseStatus::Drop),
        14..=37 => (l2_key(0x0800), ParseStatus::Partial),
        38..=65 => (l3, ParseStatus::Partial),
        _ => (full, ParseStatus::Ok),
    });
}

#[test]
fn tcp_with_bad_data_offset_keeps_l3_only() {
    let mut f = tcp4_frame();
    f[14 + 24 + 12] = 0x40; // doff 4 < 5
    let (k, info) = key_of(&f, &md());
    assert_eq!(info.status, ParseStatus::Partial);
    assert_eq!((k.tp_src(), k.tp_dst(), k.tcp_flags()), (0, 0, 0));
    assert_eq!(k.ip_proto(), 6);
}

#[test]
fn bad_ihl_zeroes_ip_fields() {
    let mut f = udp4_frame();
    f[14] = 0x44; // ihl 4
    let (k, info) = key_of(&f, &md());
    assert_eq!(info.status, ParseStatus::Partial);
    assert_eq!(k, l2_key(0x0800));
}

#[test]
fn ipv4_fragments() {
    let mut f = udp4_frame();
    // First fragment: MF set, offset 0: ports still parsed.
    f[20] = 0x20;
    let (k, _) = key_of(&f, &md());
    assert_eq!(k.ip_frag(), FRAG_FIRST);
    assert_eq!(k.tp_src(), 1234);
    // Later fragment: offset != 0: no L4.
    f[20] = 0x00;
    f[21] = 0x10;
    let (k, _) = key_of(&f, &md());
    assert_eq!(k.ip_frag(), FRAG_LATER);
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));
    assert_eq!(k.ip_proto(), 17);
}

#[test]
fn vlan_and_qinq() {
    let inner = udp4_frame();
    let mut f = inner[..12].to_vec();
    f.extend_from_slice(&[0x88, 0xa8, 0x20, 0x0a, 0x81, 0x00, 0x00, 0x14]);
    f.extend_from_slice(&inner[12..]);
    let (k, info) = key_of(&f, &md());
    assert_eq!(k.vlan_tpid(), 0x88a8);
    assert_eq!(k.vlan_tci(), 0x300a);
    assert_eq!(k.cvlan_tpid(), 0x8100);
    assert_eq!(k.cvlan_tci(), 0x1014);
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!(k.tp_dst(), 5678);
    assert_eq!(info.l3_ofs, 22);

    let mut outer = l2_key(0x88a8);
    outer.set_vlan_tpid(0x88a8);
    outer.set_vlan_tci(0x300a);
    let mut both = l2_key(0x0800);
    both.set_vlan_tpid(0x88a8);
    both.set_vlan_tci(0x300a);
    both.set_cvlan_tpid(0x8100);
    both.set_cvlan_tci(0x1014);
    let mut cvlan_trunc = both;
    cvlan_trunc.set_cvlan_tpid(0);
    cvlan_trunc.set_cvlan_tci(0);
    cvlan_trunc.set_eth_type(0x8100);
    for len in 14..=23 {
        let (k, info) = key_of(&f[..len], &md());
        let want = match len {
            14..=17 => {
                // Truncated outer tag: TCI 0, eth_type = TPID.
                let mut w = l2_key(0x88a8);
                w.set_vlan_tpid(0);
                w
            }
            18..=21 => cvlan_trunc,
            _ => both,
        };
        assert_eq!(k, want, "len {len}");
        assert_eq!(info.status, ParseStatus::Partial, "len {len}");
    }
    let _ = outer;
}

#[test]
fn llc_and_snap() {
    let mut f = eth(MAC_B, MAC_A, 0x0030);
    f.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]);
    assert_eq!(key_of(&f, &md()).0.eth_type(), 0x05ff);
    let mut s = eth(MAC_B, MAC_A, 0x0030);
    s.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06]);
    assert_eq!(key_of(&s, &md()).0.eth_type(), 0x0806);
    // Short LLC: 802.2.
    assert_eq!(key_of(&s[..20], &md()).0.eth_type(), 0x05ff);
}

#[test]
fn arp_golden_and_truncated() {
    let mut f = eth([0xff; 6], MAC_A, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&IP_A.to_be_bytes());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&IP_B.to_be_bytes());
    let (k, _) = key_of(&f, &md());
    assert_eq!(k.ip_proto(), 1);
    assert_eq!(k.arp_sip(), IP_A);
    assert_eq!(k.arp_tip(), IP_B);
    assert_eq!(k.arp_sha(), MAC_A);
    assert_eq!(k.arp_tha(), [0; 6]);
    let mut base = l2_key(0x0806);
    base.set_eth_dst([0xff; 6]);
    for len in 14..f.len() {
        assert_eq!(key_of(&f[..len], &md()).0, base, "len {len}");
    }
    // Opcode > 0xff: proto 0, addresses kept.
    f[20] = 1;
    let (k, _) = key_of(&f, &md());
    assert_eq!(k.ip_proto(), 0);
    assert_eq!(k.arp_sip(), IP_A);
}

#[test]
fn ipv6_tcp_with_extension_headers() {
    let base = tcp6_frame();
    let mut f = base[..14].to_vec();
    let mut ip = base[14..54].to_vec();
    ip[6] = 0; // hop-by-hop
    f.extend(ip);
    f.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // HBH → dest opts
    f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // dest opts → TCP
    f.extend_from_slice(&base[54..]);
    let (k, info) = key_of(&f, &md());
    assert_eq!(info.status, ParseStatus::Ok);
    assert_eq!(k.ip_proto(), 6);
    assert_eq!(k.ipv6_src(), IP6_A);
    assert_eq!(k.ipv6_dst(), IP6_B);
    assert_eq!(k.ipv6_label(), 0x12345);
    assert_eq!(k.ip_tos(), 0x2a);
    assert_eq!(k.ip_ttl(), 64);
    assert_eq!(k.tp_dst(), 443);
    assert_eq!(k.tcp_flags(), 0x018);
    assert_eq!(k.ipv6_exthdrs(), exthdr::HOP | exthdr::DEST);
    assert_eq!(info.l4_ofs, 14 + 40 + 16);

    let mut l3 = l2_key(0x86dd);
    l3.set_ipv6_src(IP6_A);
    l3.set_ipv6_dst(IP6_B);
    l3.set_ipv6_label(0x12345);
    l3.set_ip_tos(0x2a);
    l3.set_ip_ttl(64);
    for len in 0..=f.len() {
        let (k, info) = key_of(&f[..len], &md());
        let mut want = l3;
        match len {
            0..=13 => {
                assert_eq!(info.status, ParseStatus::Drop);
                continue;
            }
            14..=53 => want = l2_key(0x86dd),
            54..=63 => {
                // The walk needs the first 2 bytes of each extension header; without
                // them it fails: proto "none", exthdrs as far as readable.
                want.set_ip_proto(59);
                want.set_ipv6_exthdrs(if len >= 56 {
                    exthdr::HOP | exthdr::DEST
                } else {
                    exthdr::HOP
                });
            }
            _ => {
                want.set_ip_proto(6);
                want.set_ipv6_exthdrs(exthdr::HOP | exthdr::DEST);
                if len >= 90 {
                    want.set_tp_src(40000);
                    want.set_tp_dst(443);
                    want.set_tcp_flags(0x018);
                }
            }
        }
        assert_eq!(k, want, "len {len}");
    }
}

#[test]
fn ipv6_fragments() {
    let base = udp6_frame();
    let mk = |off_flags: u16| {
        let mut f = base[..14].to_vec();
        let mut ip = base[14..54].to_vec();
        ip[6] = 44;
        f.extend(ip);
        f.push(17);
        f.push(0);
        f.extend_from_slice(&off_flags.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1]);
        f.extend_from_slice(&base[54..]);
        f
    };
    let (k, _) = key_of(&mk(0x0001), &md());
    assert_eq!(k.ip_frag(), FRAG_FIRST);
    assert_eq!(k.ip_proto(), 17);
    assert_eq!(k.tp_src(), 5353);
    assert_eq!(k.ipv6_exthdrs(), exthdr::FRAG);
    let (k, info) = key_of(&mk(0x0100), &md());
    assert_eq!(k.ip_frag(), FRAG_LATER);
    assert_eq!(
        k.ip_proto(),
        44,
        "kernel reports later IPv6 fragments as proto 44"
    );
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));
    assert_eq!(info.status, ParseStatus::Ok);
}

fn nd_frame(ty: u8, opts: &[u8]) -> Vec<u8> {
    let mut l4 = vec![ty, 0, 0, 0, 0, 0, 0, 0];
    l4.extend_from_slice(&IP6_B.to_be_bytes());
    l4.extend_from_slice(opts);
    fill_l4_csum_v6(IP6_A, IP6_B, 58, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x86dd);
    f.extend(ipv6_hdr(IP6_A, IP6_B, 58, l4.len()));
    f.extend(l4);
    f
}

#[test]
fn icmpv6_nd() {
    let mut opts = vec![1, 1];
    opts.extend_from_slice(&MAC_A);
    opts.extend_from_slice(&[2, 1]);
    opts.extend_from_slice(&MAC_B);
    let f = nd_frame(135, &opts);
    let (k, info) = key_of(&f, &md());
    assert_eq!(info.status, ParseStatus::Ok);
    assert_eq!((k.tp_src(), k.tp_dst()), (135, 0));
    assert_eq!(k.nd_target(), IP6_B);
    assert_eq!(k.nd_sll(), MAC_A);
    assert_eq!(k.nd_tll(), MAC_B);
    // Truncated inside the options: target kept, options only when complete.
    let (k, _) = key_of(&f[..f.len() - 8], &md());
    assert_eq!(k.nd_sll(), MAC_A);
    assert_eq!(k.nd_tll(), [0; 6]);
    let (k, _) = key_of(&f[..f.len() - 9], &md());
    assert_eq!(k.nd_target(), IP6_B);
    assert_eq!(k.nd_sll(), [0; 6]);
    // ND shorter than 24 bytes: type/code only.
    let (k, _) = key_of(&f[..54 + 20], &md());
    assert_eq!((k.tp_src(), k.nd_target()), (135, 0));
    // Duplicate SLL: the kernel clears the ND fields.
    let mut dup = vec![1, 1];
    dup.extend_from_slice(&MAC_A);
    dup.extend_from_slice(&[1, 1]);
    dup.extend_from_slice(&MAC_B);
    let (k, _) = key_of(&nd_frame(136, &dup), &md());
    assert_eq!((k.nd_target(), k.nd_sll(), k.nd_tll()), (0, [0; 6], [0; 6]));
    assert_eq!(k.tp_src(), 136);
    // Zero-length option stops parsing but keeps the target.
    let (k, _) = key_of(&nd_frame(135, &[1, 0, 0, 0, 0, 0, 0, 0]), &md());
    assert_eq!(k.nd_target(), IP6_B);
    // Echo request: no ND fields.
    let (k, _) = key_of(&nd_frame(128, &[]), &md());
    assert_eq!((k.tp_src(), k.nd_target()), (128, 0));
}

#[test]
fn icmp4_and_sctp() {
    let mut l4 = vec![8, 0, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb];
    fill_l4_csum_v4(IP_A, IP_B, 1, &mut l4);
    let mut f = eth(MAC_B, MAC_A, 0x0800);
    f.extend(ipv4_hdr(IP_A, IP_B, 1, l4.len(), 0, &[]));
    f.extend(l4);
    let (k, _) = key_of(&f, &md());
    assert_eq!((k.ip_proto(), k.tp_src(), k.tp_dst()), (1, 8, 0));
    assert_eq!(key_of(&f[..41], &md()).0.tp_src(), 0, "ICMP needs 8 bytes");

    let mut s = eth(MAC_B, MAC_A, 0x0800);
    s.extend(ipv4_hdr(IP_A, IP_B, 132, 12, 0, &[]));
    s.extend_from_slice(&[0x0b, 0xb8, 0x0b, 0xb9, 0, 0, 0, 1, 0, 0, 0, 0]);
    let (k, _) = key_of(&s, &md());
    assert_eq!((k.tp_src(), k.tp_dst()), (3000, 3001));
    assert_eq!(key_of(&s[..45], &md()).0.tp_src(), 0);
}

#[test]
fn mpls_stack() {
    let mut f = eth(MAC_B, MAC_A, 0x8847);
    f.extend_from_slice(&0x0001_4040u32.to_be_bytes()); // label 20, no BoS
    f.extend_from_slice(&0x0002_5140u32.to_be_bytes()); // label 37, BoS
    f.extend_from_slice(&[0x45; 20]);
    let (k, info) = key_of(&f, &md());
    assert_eq!(k.mpls_depth(), 2);
    assert_eq!(k.mpls_lse0(), 0x0001_4040);
    assert_eq!(k.mpls_lse1(), 0x0002_5140);
    assert_eq!(info.status, ParseStatus::Ok);
    // Truncated after the first label: it stays but the count is 0 (kernel quirk).
    let (k, info) = key_of(&f[..20], &md());
    assert_eq!((k.mpls_depth(), k.mpls_lse0()), (0, 0x0001_4040));
    assert_eq!(info.status, ParseStatus::Partial);
    for len in 0..f.len() {
        let _ = key_of(&f[..len], &md());
    }
}

#[test]
fn nsh_md1_and_invalid() {
    let mut f = eth(MAC_B, MAC_A, 0x894f);
    // ver 0, flags 0, ttl 63, len 6 words; md type 1; np 1 (IPv4); SPI 0x123, SI 255.
    f.extend_from_slice(&((63u16 << 6) | 6).to_be_bytes());
    f.extend_from_slice(&[1, 1]);
    f.extend_from_slice(&((0x123u32 << 8) | 255).to_be_bytes());
    for c in 1..=4u32 {
        f.extend_from_slice(&c.to_be_bytes());
    }
    let (k, info) = key_of(&f, &md());
    assert_eq!(info.status, ParseStatus::Ok);
    assert_eq!((k.nsh_ttl(), k.nsh_mdtype(), k.nsh_np()), (63, 1, 1));
    assert_eq!(k.nsh_path_hdr(), (0x123 << 8) | 255);
    assert_eq!((k.nsh_c0(), k.nsh_c3()), (1, 4));
    assert_eq!(key_of(&f[..30], &md()).1.status, ParseStatus::Drop);
    let mut bad = f.clone();
    bad[14] |= 0x40; // version 1
    assert_eq!(key_of(&bad, &md()).1.status, ParseStatus::Drop);
}

#[test]
fn l3_packet_without_ethernet() {
    let f = udp4_frame();
    let m = Metadata {
        l3_ethertype: Some(0x0800),
        ..md()
    };
    let (k, info) = key_of(&f[14..], &m);
    assert_eq!(k.mac_proto(), MAC_PROTO_NONE);
    assert_eq!(k.eth_src(), [0; 6]);
    assert_eq!((k.eth_type(), k.tp_dst()), (0x0800, 5678));
    assert_eq!(info.l3_ofs, 0);
}

#[test]
fn metadata_enters_key() {
    let m = Metadata {
        ct: CtMeta {
            state: 0x22,
            zone: 5,
            mark: 0xdead,
            labels: 1 << 100,
            ..CtMeta::default()
        },
        tunnel: Some(fastpath::packet::TunnelMeta {
            id: 42,
            ipv4_dst: IP_B,
            ttl: 64,
            ..Default::default()
        }),
        ..md()
    };
    let (k, _) = key_of(&udp4_frame(), &m);
    assert_eq!((k.ct_state(), k.ct_zone(), k.ct_mark()), (0x22, 5, 0xdead));
    assert_eq!(k.ct_labels(), 1 << 100);
    assert_eq!((k.tun_id(), k.tun_ipv4_dst(), k.tun_ttl()), (42, IP_B, 64));
    let m = Metadata {
        ct: CtMeta {
            state: 0x21,
            orig_proto: 17,
            orig_ipv4: (IP_B, IP_A),
            orig_ports: (1, 2),
            ..m.ct
        },
        ..m
    };
    let (k, _) = key_of(&udp4_frame(), &m);
    assert_eq!((k.ct_orig_ipv4_src(), k.ct_orig_ipv4_dst()), (IP_B, IP_A));
    assert_eq!(
        (k.ct_orig_tp_src(), k.ct_orig_tp_dst(), k.ct_orig_proto()),
        (1, 2, 17)
    );
    assert_eq!(k.tp_dst(), 5678);
}

mod fuzz {
    use super::*;
    use fastpath::packet::parse::extract_generic;
    use fastpath::packet::{extract_reuse, PreparedMeta};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Extracting a sequence of different frames and metadata into one reused key
        /// buffer gives the same keys as extracting each into a fresh buffer.
        #[test]
        fn reused_key_buffer_equals_fresh(seq in prop::collection::vec((0usize..5, any::<bool>()), 1..20)) {
            let frames = [udp4_frame(), tcp4_frame(), tcp6_frame(), udp6_frame(), udp4_frame()[..30].to_vec()];
            let mut key = FlowKey::ZERO;
            let mut map = 0xff;
            for (f, tun) in seq {
                let m = Metadata {
                    tunnel: tun.then(|| fastpath::packet::TunnelMeta { id: 9, ipv4_dst: 1, ttl: 2, ..Default::default() }),
                    ..md()
                };
                let pm = PreparedMeta::new(&m);
                let info = extract_reuse(&frames[f], &pm, &mut key, &mut map);
                let mut fresh = FlowKey::ONES;
                let want = extract_generic(&frames[f], &m, &mut fresh);
                prop_assert_eq!(key, fresh);
                prop_assert_eq!(info, want);
                prop_assert_eq!(map, want.map);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The IPv4 TCP/UDP fast path and the generic parser agree on every input,
        /// including near-miss headers (options, fragments, short TCP) and metadata.
        #[test]
        fn fast_path_equals_generic(
            proto in prop::sample::select(vec![6u8, 17, 1, 132]),
            vhl in prop::sample::select(vec![0x45u8, 0x46, 0x44, 0x55]),
            frag in prop::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001]),
            doff in 0u8..16,
            body in prop::collection::vec(any::<u8>(), 0..60),
            tun in any::<bool>(),
            ct in any::<u32>(),
            orig in any::<bool>(),
        ) {
            let mut f = eth(MAC_B, MAC_A, 0x0800);
            let mut ip = ipv4_hdr(IP_A, IP_B, proto, body.len(), frag, &[]);
            ip[0] = vhl;
            f.extend(ip);
            let mut body = body;
            if body.len() > 12 {
                body[12] = doff << 4;
            }
            f.extend(body);
            let m = Metadata {
                ct: CtMeta {
                    state: (ct & 0xff) as u8,
                    mark: ct >> 8,
                    // After `ct`: the original tuple, which the fast path writes too.
                    orig_proto: if orig { 17 } else { 0 },
                    orig_ipv4: (ct, !ct),
                    orig_ipv6: (u128::from(ct), 1),
                    orig_ports: ((ct >> 16) as u16, ct as u16),
                    ..CtMeta::default()
                },
                tunnel: tun.then(|| fastpath::packet::TunnelMeta { id: 1, ipv4_dst: 2, ttl: 3, ..Default::default() }),
                ..md()
            };
            for len in [f.len(), 41, 42, 53, 54] {
                let g = &f[..len.min(f.len())];
                let (mut a, mut b) = (FlowKey::ZERO, FlowKey::ZERO);
                let ia = extract(g, &m, &mut a);
                let ib = extract_generic(g, &m, &mut b);
                prop_assert_eq!(a, b);
                prop_assert_eq!(ia, ib);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Arbitrary bytes after an arbitrary ethertype never panic, and the hash
        /// always equals the full-key hash (checked in `key_of`).
        #[test]
        fn never_panics(et in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8847, 0x894f, 0x8100, 0x88a8, 0x0030]),
                        body in prop::collection::vec(any::<u8>(), 0..120)) {
            let mut f = eth(MAC_B, MAC_A, et);
            f.extend(body);
            for len in [0, 13, 14, f.len()] {
                let _ = key_of(&f[..len.min(f.len())], &md());
            }
        }
    }
}
