//! Simple match: with only masks that ignore everything a plain IPv4 TCP/UDP frame varies
//! in, a burst's plain frames share one classification. Checked against a per-packet oracle
//! (full extraction + a linear scan of the flows) on random mixes of plain and other
//! frames, and for flows whose actions read the key (which must take the full path).

use fastpath::testing::*;

use std::sync::Arc;

use fastpath::actions::{CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{extract, simple_match_mask, Metadata, PacketBuf, VecBuf};
use fastpath::pmd::{BurstMeta, FlowCmd, Pmd, PmdContext};
use fastpath::Portable;
use odp::action::Action;
use proptest::prelude::*;

#[derive(Default)]
struct Ctx {
    out: Vec<(u32, Vec<u8>)>,
    misses: Vec<Vec<u8>>,
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, port: u32, pkt: VecBuf, _st: &PacketState<'_>) {
        self.out.push((port, pkt.data().to_vec()));
    }
    fn clone_packet(&mut self, pkt: &VecBuf) -> Option<VecBuf> {
        Some(pkt.clone())
    }
    fn upcall(&mut self, _: &VecBuf, _: usize, _: &PacketState<'_>, _: &UserspaceAction) {}
    fn recirculate(&mut self, _: VecBuf, _: &PacketState<'_>) {}
    fn drop_packet(&mut self, _: VecBuf, _: DropReason) {}
    fn random_u32(&mut self) -> u32 {
        0
    }
}

impl PmdContext<VecBuf> for Ctx {
    fn miss(&mut self, pkt: VecBuf, _key: &FlowKey, _md: &Metadata) {
        self.misses.push(pkt.data().to_vec());
    }
    fn malformed_drop(&mut self, _pkt: VecBuf) {}
}

const IN_PORT: u16 = 1;

/// The masks simple match accepts, and one it must refuse.
fn mask(kind: u8) -> FlowKey {
    let mut m = FlowKey::ZERO;
    m.set_in_port(0xffff);
    m.set_eth_type(0xffff);
    match kind {
        0 => {}
        1 => m.set_ip_frag(0xff),
        2 => {
            // what a flow from netlink gets: VLAN fields exact (none), mac_proto exact
            m.set_recirc_id(u32::MAX);
            m.set_mac_proto(0xff);
            m.set_vlan_tci(0xffff);
            m.set_cvlan_tci(0xffff);
            m.set_vlan_tpid(0xffff);
            m.set_cvlan_tpid(0xffff);
            m.set_ip_frag(0xff);
        }
        _ => m.set_ip_proto(0xff),
    }
    m
}

/// Flows for IPv4 (port 2), IPv6 (3) and ARP (4) under `mask(kind)`.
fn flows(kind: u8) -> Vec<Arc<Flow>> {
    let m = mask(kind);
    [(0x0800u16, 2u32), (0x86dd, 3), (0x0806, 4)]
        .iter()
        .enumerate()
        .map(|(i, &(ty, port))| {
            let mut k = FlowKey::ZERO;
            k.set_in_port(IN_PORT);
            k.set_eth_type(ty);
            if kind == 3 {
                k.set_ip_proto(17);
            }
            let acts = CompiledActions::compile(&[Action::Output(port)]).unwrap();
            Arc::new(Flow::new(i as u128 + 1, &k, &m, acts, 1))
        })
        .collect()
}

/// A frame of kind `kind % 8` with fields from `v`: plain UDP, plain TCP (with and without
/// TCP options), IPv4 with IP options, a fragment, IPv6, ARP, VLAN-tagged, or truncated.
fn frame(kind: u8, v: u32, flags: u16) -> Vec<u8> {
    let (src, dst) = (0x0a00_0000 | v, 0x0b00_0000 ^ v.rotate_left(7));
    let ipv4 = |proto: u8, mut l4: Vec<u8>, frag: u16, opts: &[u8]| {
        fill_l4_csum_v4(src, dst, proto, &mut l4);
        let mut f = eth(MAC_B, MAC_A, 0x0800);
        f.extend(ipv4_hdr(src, dst, proto, l4.len(), frag, opts));
        f.extend(l4);
        f
    };
    match kind % 9 {
        0 => ipv4(17, udp_hdr(v as u16, (v >> 16) as u16, 0), 0x4000, &[]),
        1 => ipv4(6, tcp_hdr(v as u16, 80, flags, &[]), 0, &[]),
        2 => ipv4(6, tcp_hdr(v as u16, 443, flags, &[1, 1, 1, 0]), 0, &[]),
        3 => ipv4(17, udp_hdr(1, 2, 0), 0, &[1, 1, 1, 0]),
        4 => ipv4(17, udp_hdr(1, 2, 0), 0x2000 | (v as u16 & 0xff), &[]),
        5 => udp6_frame(),
        6 => {
            let mut f = eth([0xff; 6], MAC_A, 0x0806);
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&[0; 20]);
            f
        }
        7 => {
            let mut f = udp4_frame();
            f.splice(12..12, [0x81, 0x00, 0x00, (v & 0xff) as u8]);
            f
        }
        _ => {
            let f = ipv4(6, tcp_hdr(1, 2, flags, &[]), 0, &[]);
            f[..(34 + (v as usize % 20))].to_vec()
        }
    }
}

/// The oracle: each frame's own key, the one flow it matches, its output port.
fn expected(fl: &[Arc<Flow>], frames: &[Vec<u8>]) -> (Vec<(u32, Vec<u8>)>, usize) {
    let md = Metadata::for_port(IN_PORT);
    let mut out = Vec::new();
    let mut misses = 0;
    for f in frames {
        let mut k = FlowKey::ZERO;
        extract(f, &md, &mut k);
        let hits: Vec<_> = fl.iter().filter(|fl| fl.matches(&k)).collect();
        assert!(hits.len() <= 1, "the test's flows overlap");
        match hits.first() {
            Some(flow) => {
                let port = (2..=4).find(|p| {
                    flow.actions() == &CompiledActions::compile(&[Action::Output(*p)]).unwrap()
                });
                out.push((port.unwrap(), f.clone()));
            }
            None => misses += 1,
        }
    }
    (out, misses)
}

/// Untagged IPv4 without options, not a fragment, UDP or TCP with complete headers.
fn is_plain(f: &[u8]) -> bool {
    let ip = f.len() >= 42 && f[12..14] == [8, 0] && f[14] == 0x45 && f[20] & 0x3f == 0;
    let tcp_ok = |f: &[u8]| {
        f.len() >= 54 && {
            let doff = usize::from(f[46] >> 4) * 4;
            doff >= 20 && f.len() >= 34 + doff
        }
    };
    ip && f[21] == 0 && (f[23] == 17 || (f[23] == 6 && tcp_ok(f)))
}

#[test]
fn simple_masks_are_recognised() {
    assert!(simple_match_mask(&mask(0)));
    assert!(simple_match_mask(&mask(1)));
    assert!(simple_match_mask(&mask(2)));
    assert!(!simple_match_mask(&mask(3)));
    for set in [
        |m: &mut FlowKey| m.set_eth_dst([0, 0, 0, 0, 0, 1]),
        |m: &mut FlowKey| m.set_eth_src([0, 0, 0, 0, 0, 1]),
        |m: &mut FlowKey| m.set_ipv4_dst(1),
        |m: &mut FlowKey| m.set_tp_src(1),
        |m: &mut FlowKey| m.set_tcp_flags(1),
        |m: &mut FlowKey| m.set_ip_ttl(1),
    ] {
        let mut m = mask(1);
        set(&mut m);
        assert!(!simple_match_mask(&m));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Same outputs, in order, the same misses and the same per-flow statistics (packets,
    /// bytes, TCP flags) as classifying every packet on its own; and simple match is
    /// really used when its masks are installed.
    #[test]
    fn simple_match_agrees_with_per_packet_classification(
        kind in 0u8..4,
        emc_inv in prop::sample::select(vec![0u32, 1, 100]),
        spec in prop::collection::vec((0u8..9, any::<u32>(), 0u16..0x200), 1..=32),
    ) {
        let fl = flows(kind);
        let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, emc_inv));
        for f in &fl {
            pmd.apply(FlowCmd::Insert(Arc::clone(f)));
        }
        let frames: Vec<Vec<u8>> = spec.iter().map(|&(k, v, fg)| frame(k, v, fg)).collect();
        let mut pkts: Vec<Option<VecBuf>> = frames.iter().map(|f| Some(VecBuf::new(f))).collect();
        let mut ctx = Ctx::default();
        let md = Metadata::for_port(IN_PORT);
        pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 7, &mut ctx);
        let (want, misses) = expected(&fl, &frames);
        prop_assert_eq!(&ctx.out, &want);
        prop_assert_eq!(ctx.misses.len(), misses);
        for f in &fl {
            let md = Metadata::for_port(IN_PORT);
            let (mut packets, mut bytes, mut tcp) = (0u64, 0u64, 0u16);
            for fr in &frames {
                let mut k = FlowKey::ZERO;
                extract(fr, &md, &mut k);
                if f.matches(&k) {
                    packets += 1;
                    bytes += fr.len() as u64;
                    tcp |= k.tcp_flags();
                }
            }
            let s = f.stats().read();
            prop_assert_eq!((s.packets, s.bytes, s.tcp_flags), (packets, bytes, tcp));
        }
        let st = pmd.stats();
        let plain_hits = want.iter().filter(|(_, f)| is_plain(f)).count() as u64;
        if kind == 3 {
            prop_assert_eq!(st.simple_hit, 0);
        } else {
            prop_assert_eq!(st.simple_hit, plain_hits);
        }
        prop_assert_eq!(st.packets, st.emc_hit + st.megaflow_hit + st.miss);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The whole-burst fast path takes a burst only when every frame is plain and the flow
    /// is one output, and then leaves the statistics process_burst would; otherwise it
    /// counts nothing (the burst then goes to process_burst).
    #[test]
    fn forward_simple_agrees_with_process_burst(
        kind in 0u8..4,
        all_plain in any::<bool>(),
        spec in prop::collection::vec((0u8..9, any::<u32>(), 0u16..0x200), 1..=32),
    ) {
        let fl = flows(kind);
        let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 1));
        for f in &fl {
            pmd.apply(FlowCmd::Insert(Arc::clone(f)));
        }
        let frames: Vec<Vec<u8>> = spec
            .iter()
            .map(|&(k, v, fg)| frame(if all_plain { k % 3 } else { k }, v, fg))
            .collect();
        let bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
        let md = Metadata::for_port(IN_PORT);
        let got = pmd.forward_simple(&bufs, &md, 7);
        let (want, misses) = expected(&fl, &frames);
        let st = pmd.stats();
        match got {
            Some(port) => {
                prop_assert!(kind != 3 && frames.iter().all(|f| is_plain(f)));
                prop_assert_eq!(misses, 0);
                prop_assert!(want.iter().all(|(p, _)| *p == port));
                let bytes: usize = frames.iter().map(Vec::len).sum();
                let tcp = frames.iter().fold(0u16, |a, f| {
                    let mut k = FlowKey::ZERO;
                    extract(f, &md, &mut k);
                    a | k.tcp_flags()
                });
                let s = fl[0].stats().read();
                prop_assert_eq!((s.packets, s.bytes, s.tcp_flags), (frames.len() as u64, bytes as u64, tcp));
                let n = frames.len() as u64;
                prop_assert_eq!((st.packets, st.megaflow_hit, st.simple_hit), (n, n, n));
            }
            None => {
                prop_assert!(kind == 3 || !frames.iter().all(|f| is_plain(f)));
                prop_assert_eq!(st, Default::default());
                for f in &fl {
                    prop_assert_eq!(f.stats().read().packets, 0);
                }
            }
        }
    }
}

/// The whole-burst fast path never forwards by a deleted flow, nor by one whose actions
/// are more than one output.
#[test]
fn forward_simple_refuses_dead_and_multi_action_flows() {
    let frames: Vec<VecBuf> = (0..8u32).map(|v| VecBuf::new(&frame(0, v, 0))).collect();
    let md = Metadata::for_port(IN_PORT);
    let fl = flows(1);
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 0));
    for f in &fl {
        pmd.apply(FlowCmd::Insert(Arc::clone(f)));
    }
    assert_eq!(pmd.forward_simple(&frames, &md, 1), Some(2));
    assert_eq!(pmd.forward_simple(&frames, &md, 1), Some(2));
    // One probe per packet, whether the burst's lookup was made or remembered.
    let probes = pmd.stats().simple_mask_hit + pmd.classifier().stats().mask_hit;
    assert_eq!(probes, 16);
    fl[0].kill();
    assert_eq!(pmd.forward_simple(&frames, &md, 1), None);
    // Its replacement (as a SET sends it) is used from the next burst on.
    let mut k = FlowKey::ZERO;
    k.set_in_port(IN_PORT);
    k.set_eth_type(0x0800);
    let to5 = CompiledActions::compile(&[Action::Output(5)]).unwrap();
    pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(
        1,
        &k,
        &mask(1),
        to5,
        1,
    ))));
    assert_eq!(pmd.forward_simple(&frames, &md, 1), Some(5));
    // Another port's bursts are classified by their own metadata.
    let other = Metadata::for_port(IN_PORT + 4);
    assert_eq!(pmd.forward_simple(&frames, &other, 1), None);
    assert_eq!(pmd.forward_simple(&frames, &md, 1), Some(5));

    let mut k = FlowKey::ZERO;
    k.set_in_port(IN_PORT);
    k.set_eth_type(0x0800);
    let two = CompiledActions::compile(&[Action::Output(2), Action::Output(3)]).unwrap();
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 0));
    pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(
        1,
        &k,
        &mask(1),
        two,
        1,
    ))));
    assert_eq!(pmd.forward_simple(&frames, &md, 1), None);
    assert_eq!(pmd.stats().packets, 0);
    // The refusal is remembered: later bursts decline without another lookup.
    let probes = pmd.classifier().stats().mask_hit;
    assert_eq!(pmd.forward_simple(&frames, &md, 1), None);
    assert_eq!(pmd.forward_simple(&frames, &md, 1), None);
    assert_eq!(pmd.classifier().stats().mask_hit, probes);
    assert_eq!(pmd.stats().packets, 0);
}

/// A flow whose actions read the packet (set_masked on IPv4) gets no shared key: every
/// packet is rewritten from its own headers, with correct checksums.
#[test]
fn key_dependent_actions_take_the_full_path() {
    let mut k = FlowKey::ZERO;
    k.set_in_port(IN_PORT);
    k.set_eth_type(0x0800);
    let field = |dst| keys::ipv4(0, dst, 0, 0, 0, 0);
    let acts = CompiledActions::compile(&[
        Action::SetMasked {
            key: field(0xc0a8_0001),
            mask: field(u32::MAX),
        },
        Action::Output(2),
    ])
    .unwrap();
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 1));
    pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(
        1,
        &k,
        &mask(1),
        acts,
        1,
    ))));
    let frames: Vec<Vec<u8>> = (0..32u32).map(|v| frame(v as u8 % 3, v, 0x18)).collect();
    let mut pkts: Vec<Option<VecBuf>> = frames.iter().map(|f| Some(VecBuf::new(f))).collect();
    let mut ctx = Ctx::default();
    let md = Metadata::for_port(IN_PORT);
    pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 1, &mut ctx);
    assert_eq!(ctx.out.len(), 32);
    for ((port, out), orig) in ctx.out.iter().zip(&frames) {
        assert_eq!(*port, 2);
        assert_eq!(&out[30..34], &[192, 168, 0, 1]);
        assert_eq!(&out[26..30], &orig[26..30], "source address untouched");
        assert!(verify_v4(out, 14), "checksums after rewrite");
    }
    assert_eq!(pmd.stats().simple_hit, 0);
}

/// A deleted flow is never executed through simple match, even before the PMD hears of it.
#[test]
fn dead_flow_is_not_executed_by_simple_match() {
    let fl = flows(1);
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 0));
    for f in &fl {
        pmd.apply(FlowCmd::Insert(Arc::clone(f)));
    }
    fl[0].kill();
    let frames: Vec<Vec<u8>> = (0..8u32).map(|v| frame(0, v, 0)).collect();
    let mut pkts: Vec<Option<VecBuf>> = frames.iter().map(|f| Some(VecBuf::new(f))).collect();
    let mut ctx = Ctx::default();
    let md = Metadata::for_port(IN_PORT);
    pmd.process_burst(&mut pkts, BurstMeta::Shared(&md), 1, &mut ctx);
    assert!(ctx.out.is_empty());
    assert_eq!(ctx.misses.len(), 8);
}
