//! The PMD pipeline end to end: control-thread updates, EMC + dpcls, statistics.

use fastpath::testing::*;

use dpswitch::model::{FlowTable, FlowTableError};
use fastpath::actions::{CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::emc::Emc;
use fastpath::flow::FlowKey;
use fastpath::packet::{Metadata, PacketBuf, VecBuf};
use fastpath::pmd::{BurstMeta, Pmd, PmdContext};
use fastpath::Portable;
use odp::action::Action;

#[derive(Default)]
struct Ctx {
    out: Vec<(u32, usize)>,
    misses: usize,
    malformed: usize,
    recirc: Vec<(VecBuf, Metadata)>,
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, port: u32, pkt: VecBuf, _st: &PacketState<'_>) {
        self.out.push((port, pkt.len()));
    }
    fn clone_packet(&mut self, pkt: &VecBuf) -> Option<VecBuf> {
        Some(pkt.clone())
    }
    fn upcall(&mut self, _: &VecBuf, _: usize, _: &PacketState<'_>, _: &UserspaceAction) {}
    fn recirculate(&mut self, pkt: VecBuf, st: &PacketState<'_>) {
        self.recirc.push((pkt, st.metadata()));
    }
    fn drop_packet(&mut self, _: VecBuf, _: DropReason) {}
    fn random_u32(&mut self) -> u32 {
        0
    }
}

impl PmdContext<VecBuf> for Ctx {
    fn miss(&mut self, _pkt: VecBuf, _key: &FlowKey, _md: &Metadata) {
        self.misses += 1;
    }
    fn malformed_drop(&mut self, _pkt: VecBuf) {
        self.malformed += 1;
    }
}

fn udp_flow_key_mask() -> (FlowKey, FlowKey) {
    let mut k = FlowKey::ZERO;
    k.set_in_port(1);
    k.set_eth_type(0x0800);
    k.set_ip_proto(17);
    let mut m = FlowKey::ZERO;
    m.set_in_port(0xffff);
    m.set_eth_type(0xffff);
    m.set_ip_proto(0xff);
    (k, m)
}

fn out(port: u32) -> CompiledActions {
    CompiledActions::compile(&[Action::Output(port)]).unwrap()
}

fn burst(pmd: &mut Pmd<Portable>, n: usize, ctx: &mut Ctx) {
    let f = udp4_frame();
    let mut pkts: Vec<Option<VecBuf>> = (0..n)
        .map(|i| {
            let mut g = f.clone();
            g[37] = i as u8; // distinct dst ports → distinct EMC entries
            Some(VecBuf::new(&g))
        })
        .collect();
    pmd.process_burst(
        &mut pkts,
        BurstMeta::Shared(&Metadata::for_port(1)),
        1000,
        ctx,
    );
    assert!(pkts.iter().all(Option::is_none), "every packet consumed");
}

#[test]
fn replaced_flow_is_never_executed_at_any_emc_probability() {
    for prob in [0u32, 1, 100] {
        let mut table = FlowTable::new(1);
        let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, prob));
        let (k, m) = udp_flow_key_mask();
        for cmd in table.put(1, &k, &m, out(5), true, true).unwrap() {
            pmd.apply(cmd);
        }
        let mut ctx = Ctx::default();
        for _ in 0..20 {
            burst(&mut pmd, 32, &mut ctx);
        }
        assert!(ctx.out.iter().all(|o| o.0 == 5));
        assert_eq!(ctx.out.len(), 640);
        // Exclusive create of an overlapping flow fails; modify replaces actions.
        assert_eq!(
            table.put(2, &k, &m, out(6), true, true).err(),
            Some(FlowTableError::Exists)
        );
        let cmds = table.put(1, &k, &m, out(6), false, true).unwrap();
        // Before the PMD drains the commands, the old flow must not run anywhere.
        let mut ctx = Ctx::default();
        burst(&mut pmd, 32, &mut ctx);
        assert!(
            ctx.out.is_empty(),
            "prob {prob}: old flow executed after replace"
        );
        assert_eq!(ctx.misses, 32);
        for cmd in cmds {
            pmd.apply(cmd);
        }
        let mut ctx = Ctx::default();
        for _ in 0..5 {
            burst(&mut pmd, 32, &mut ctx);
        }
        assert!(ctx.out.iter().all(|o| o.0 == 6) && ctx.out.len() == 160);
        // Stats were kept across the modify and summed over the PMD's cells.
        let flow = table.classifier().get(1).unwrap();
        let s = flow.stats().read();
        assert_eq!(s.packets, 640 + 160);
        assert_eq!(s.bytes, 60 * 800);
        assert_eq!(s.used_ms, 1000);
        let mut ctx = Ctx::default();
        burst(&mut pmd, 3, &mut ctx);
        let s = flow.stats().read();
        assert_eq!((s.packets, s.bytes), (803, 60 * 803));
        // Delete: no more output even before the command is applied.
        let (_, cmds) = table.del(1).unwrap();
        let mut ctx = Ctx::default();
        burst(&mut pmd, 32, &mut ctx);
        assert!(ctx.out.is_empty());
        for cmd in cmds {
            pmd.apply(cmd);
        }
        assert!(pmd.classifier().is_empty());
        let st = pmd.stats();
        assert_eq!(st.packets, st.emc_hit + st.megaflow_hit + st.miss);
        if prob == 0 {
            assert_eq!(st.emc_hit, 0);
        } else {
            assert!(st.emc_hit > 0);
        }
    }
}

#[test]
fn malformed_and_runt_frames_are_counted() {
    let mut pmd = Pmd::<Portable>::new(0, Emc::default());
    let mut ctx = Ctx::default();
    let f = udp4_frame();
    let mut pkts = vec![
        Some(VecBuf::new(&f[..10])),
        Some(VecBuf::new(&f[..30])),
        None,
        Some(VecBuf::new(&f)),
    ];
    pmd.process_burst(
        &mut pkts,
        BurstMeta::Shared(&Metadata::for_port(1)),
        0,
        &mut ctx,
    );
    let st = pmd.stats();
    assert_eq!(
        (st.packets, st.extract_drop, st.malformed, st.miss),
        (3, 1, 1, 2)
    );
    assert_eq!((ctx.malformed, ctx.misses), (1, 2));
}

#[test]
fn modify_of_missing_flow_is_enoent() {
    let mut table = FlowTable::new(1);
    let (k, m) = udp_flow_key_mask();
    assert_eq!(
        table.put(1, &k, &m, out(1), false, false).err(),
        Some(FlowTableError::NotFound)
    );
    table.put(1, &k, &m, out(1), true, true).unwrap();
    let mut narrower = k;
    narrower.set_tp_dst(53);
    let mut nm = m;
    nm.set_tp_dst(0xffff);
    // Different UFID whose key the existing flow matches: modify refused.
    assert_eq!(
        table.put(2, &narrower, &nm, out(1), false, true).err(),
        Some(FlowTableError::NotFound)
    );
    assert_eq!(table.flush().len(), 1);
    assert!(table.classifier().is_empty());
}

#[test]
fn recirculation_reclassifies_with_recirc_id() {
    let mut table = FlowTable::new(1);
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(64, 1));
    let (k, m) = udp_flow_key_mask();
    let first =
        CompiledActions::compile(&[Action::Hash { alg: 0, basis: 1 }, Action::Recirc(5)]).unwrap();
    let mut k2 = k;
    k2.set_recirc_id(5);
    let mut m2 = m;
    m2.set_recirc_id(u32::MAX);
    let mut m1 = m;
    m1.set_recirc_id(u32::MAX);
    for cmd in table.put(1, &k, &m1, first, true, true).unwrap() {
        pmd.apply(cmd);
    }
    for cmd in table.put(2, &k2, &m2, out(3), true, true).unwrap() {
        pmd.apply(cmd);
    }
    let mut ctx = Ctx::default();
    burst(&mut pmd, 4, &mut ctx);
    assert!(ctx.out.is_empty());
    assert_eq!(ctx.recirc.len(), 4);
    // The runtime re-injects recirculated packets with their own metadata.
    let (bufs, mds): (Vec<VecBuf>, Vec<Metadata>) =
        std::mem::take(&mut ctx.recirc).into_iter().unzip();
    assert!(mds
        .iter()
        .all(|m| m.recirc_id == 5 && m.dp_hash != 0 && m.in_port == 1));
    let mut pkts: Vec<Option<VecBuf>> = bufs.into_iter().map(Some).collect();
    pmd.process_burst(&mut pkts, BurstMeta::PerPacket(&mds), 2, &mut ctx);
    assert_eq!(ctx.out, vec![(3, 60); 4]);
    assert_eq!(ctx.misses, 0);
}

/// A PMD holding 1000 flows (UDP ports 0x1500..0x1900 to port 2) after one burst through
/// an always-inserting EMC; with the table and the subtable probes that burst made.
fn pmd_with_1000_flows() -> (FlowTable, Pmd<Portable>, u64) {
    let mut table = FlowTable::new(1);
    let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 1));
    let mut m = FlowKey::ZERO;
    m.set_in_port(0xffff);
    m.set_eth_type(0xffff);
    m.set_ip_proto(0xff);
    m.set_tp_dst(0xffff);
    // burst() sends to UDP ports 0x1600 + i
    for port in 0x1500..0x1500 + 1000u16 {
        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        k.set_eth_type(0x0800);
        k.set_ip_proto(17);
        k.set_tp_dst(port);
        for cmd in table
            .put(u128::from(port), &k, &m, out(2), true, true)
            .unwrap()
        {
            assert!(pmd.apply(cmd).is_none());
        }
    }
    let mut ctx = Ctx::default();
    burst(&mut pmd, 32, &mut ctx);
    assert_eq!(ctx.out.len(), 32);
    let probes = pmd.classifier().stats().mask_hit;
    assert!(probes > 0);
    (table, pmd, probes)
}

/// After a flush: the retired set holds a flow's last reference but `one`'s, and the PMD
/// now misses every packet.
fn last_reference_goes_with_retired(
    pmd: &mut Pmd<Portable>,
    retired: fastpath::dpcls::RetiredFlows,
    one: &std::sync::Arc<fastpath::flow::Flow>,
) {
    drop(retired);
    assert_eq!(std::sync::Arc::strong_count(one), 1);
    let mut ctx = Ctx::default();
    burst(pmd, 32, &mut ctx);
    assert_eq!((ctx.out.len(), ctx.misses), (0, 32));
}

/// A flush hands the PMD's flows back instead of freeing them in its poll loop: the
/// retired set holds the last reference of each, the classifier is empty at once, and its
/// statistics (published as running totals) carry on.
#[test]
fn flush_retires_flows_for_the_caller_to_drop() {
    let (mut table, mut pmd, probes) = pmd_with_1000_flows();
    let one = std::sync::Arc::clone(table.classifier().get(0x1600).unwrap());
    let cmds = table.flush();
    let mut retired = None;
    for cmd in cmds {
        retired = pmd.apply(cmd).or(retired);
    }
    let retired = retired.expect("a flush retires the flows");
    assert_eq!(retired.len(), 1000);
    assert!(pmd.classifier().is_empty());
    assert_eq!(pmd.classifier().stats().mask_hit, probes);
    // The control table and the EMC let go; the retired set and this test hold the flow.
    assert_eq!(std::sync::Arc::strong_count(&one), 2);
    last_reference_goes_with_retired(&mut pmd, retired, &one);
}

/// The runtime's flush swaps in an EMC built elsewhere: the old one comes back with the
/// flows, still holding its references (so the caller frees both off the poll loop), and
/// the new one keeps the PMD's insertion probability.
#[test]
fn flush_replacing_emc_hands_back_the_old_cache() {
    let (mut table, mut pmd, _) = pmd_with_1000_flows();
    let one = std::sync::Arc::clone(table.classifier().get(0x1600).unwrap());
    let _ = table.flush();
    let (old_emc, retired) = pmd.flush_replacing_emc(Emc::new(1024, 0));
    assert_eq!(retired.len(), 1000);
    assert!(pmd.classifier().is_empty());
    assert_eq!(pmd.emc().inv_prob(), 1);
    assert_eq!(old_emc.inv_prob(), 1);
    // This test, the retired set and the old EMC's entry.
    assert_eq!(std::sync::Arc::strong_count(&one), 3);
    drop(old_emc);
    assert_eq!(std::sync::Arc::strong_count(&one), 2);
    last_reference_goes_with_retired(&mut pmd, retired, &one);
}
