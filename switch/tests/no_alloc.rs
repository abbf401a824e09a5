//! The PMD hot path does not allocate: bursts through EMC hits, classifier hits (with
//! EMC insertion) and action execution, packets with partial checksums (from system ports)
//! among them, counted per thread by a global allocator (the test harness's own threads
//! may allocate at any time).

use fastpath::testing::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use dpswitch::dpdk::Native;
use fastpath::actions::{CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::conntrack::table::{Policy, Table};
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{Metadata, Offload, PacketBuf, PartialCsum, VecBuf};
use fastpath::pmd::{BurstMeta, FlowCmd, Pmd, PmdContext};
use odp::action::Action;

struct Counting;

thread_local! {
    // Const-initialised, so counting never allocates.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: delegates every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keeps output packets in a pre-reserved vector (the runtime's tx batch), and each
/// upcall's user data as the runtime's upcall does.
struct Ctx {
    out: Vec<VecBuf>,
    upcalls: usize,
    userdata: Option<Arc<[u8]>>,
    conntrack: Option<Table>,
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, _port: u32, pkt: VecBuf, _st: &PacketState<'_>) {
        self.out.push(pkt);
    }
    fn clone_packet(&mut self, _pkt: &VecBuf) -> Option<VecBuf> {
        None
    }
    fn upcall(&mut self, _: &VecBuf, _: usize, _: &PacketState<'_>, u: &UserspaceAction) {
        self.upcalls += 1;
        self.userdata = u.userdata.clone();
    }
    fn recirculate(&mut self, _: VecBuf, _: &PacketState<'_>) {}
    fn drop_packet(&mut self, _: VecBuf, _: DropReason) {}
    fn random_u32(&mut self) -> u32 {
        0
    }
    fn conntrack(&self) -> Option<&Table> {
        self.conntrack.as_ref()
    }
}

impl PmdContext<VecBuf> for Ctx {
    fn miss(&mut self, _: VecBuf, _: &FlowKey, _: &Metadata) {}
    fn malformed_drop(&mut self, _: VecBuf) {}
}

#[test]
fn burst_processing_does_not_allocate() {
    let mut pmd = Pmd::<Native>::new(0, Emc::new(1024, 2));
    let mut k = FlowKey::ZERO;
    k.set_in_port(1);
    k.set_eth_type(0x0800);
    let mut m = FlowKey::ZERO;
    m.set_in_port(0xffff);
    m.set_eth_type(0xffff);
    let set = Action::SetMasked {
        key: keys::ipv4(0, 7, 0, 0, 0, 0),
        mask: keys::ipv4(0, !0, 0, 0, 0, 0),
    };
    let acts = CompiledActions::compile(&[
        set,
        Action::Hash { alg: 1, basis: 3 },
        Action::PushVlan {
            tpid: 0x8100,
            tci: 0x1005,
        },
        Action::Userspace(odp::action::Userspace {
            pid: 7,
            userdata: Some(b"cookie".to_vec()),
            egress_tun_port: None,
            actions: false,
        }),
        Action::Output(2),
    ])
    .unwrap();
    pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(1, &k, &m, acts, 1))));

    let frame = udp4_frame();
    let md = Metadata::for_port(1);
    let mut ctx = Ctx {
        out: Vec::with_capacity(64),
        upcalls: 0,
        userdata: None,
        conntrack: None,
    };
    let mut bufs: Vec<Option<VecBuf>> = (0..32).map(|_| Some(VecBuf::new(&frame))).collect();
    for round in 0..50u8 {
        // Refill in place (the rx path's job; VecBuf::reset reuses the capacity).
        for (i, slot) in bufs.iter_mut().enumerate() {
            let mut b = ctx.out.pop().unwrap_or_else(|| VecBuf::new(&frame));
            let mut f = frame.clone();
            f[37] = i as u8 ^ round;
            b.reset(&f, 128);
            if i % 2 == 0 {
                // A packet from a system port with its UDP checksum left partial: rewrites
                // keep it partial.
                let csum = PartialCsum {
                    start: 34,
                    offset: 6,
                };
                b.set_offload(Offload {
                    csum: Some(csum),
                    gso: None,
                });
            }
            *slot = Some(b);
        }
        let before = allocs();
        pmd.process_burst(&mut bufs, BurstMeta::Shared(&md), 1, &mut ctx);
        let after = allocs();
        if round > 0 {
            assert_eq!(after, before, "round {round}: the burst allocated");
        }
        assert_eq!(ctx.out.len(), 32);
        assert_eq!(&ctx.out[0].data()[12..14], &[0x81, 0x00]);
        let partial = ctx.out.iter().filter(|b| b.offload().csum.is_some());
        assert_eq!(
            partial.count(),
            16,
            "offload state kept through the actions"
        );
    }
    assert_eq!(ctx.upcalls, 50 * 32);
    assert_eq!(ctx.userdata.as_deref(), Some(&b"cookie"[..]));
    let st = pmd.stats();
    assert!(
        st.emc_hit > 0 && st.megaflow_hit > 0,
        "both paths exercised: {st:?}"
    );
}

/// The `ct` stage: lookups of existing connections, new connections committed (entries
/// come from the table's free list), and their metadata handed on, without allocating.
#[test]
fn conntrack_does_not_allocate() {
    let mut pmd = Pmd::<Native>::new(0, Emc::new(1024, 2));
    let mut k = FlowKey::ZERO;
    k.set_in_port(1);
    k.set_eth_type(0x0800);
    let mut m = FlowKey::ZERO;
    m.set_in_port(0xffff);
    m.set_eth_type(0xffff);
    let ct = odp::action::Ct {
        commit: true,
        zone: Some(9),
        mark: Some((5, 0xff)),
        ..odp::action::Ct::default()
    };
    let acts = CompiledActions::compile(&[Action::Ct(ct), Action::Output(2)]).unwrap();
    pmd.apply(FlowCmd::Insert(Arc::new(Flow::new(1, &k, &m, acts, 1))));

    let frame = udp4_frame();
    let md = Metadata::for_port(1);
    let mut ctx = Ctx {
        out: Vec::with_capacity(64),
        upcalls: 0,
        userdata: None,
        conntrack: Some(Table::new(4096, 1, Policy::default())),
    };
    let mut bufs: Vec<Option<VecBuf>> = (0..32).map(|_| Some(VecBuf::new(&frame))).collect();
    for round in 0..40u16 {
        // Rounds 0-3 start 128 connections; later rounds find them again.
        for (i, slot) in bufs.iter_mut().enumerate() {
            let mut b = ctx.out.pop().unwrap_or_else(|| VecBuf::new(&frame));
            let mut f = frame.clone();
            let sport = 1000 + (round % 4) * 32 + i as u16;
            f[34..36].copy_from_slice(&sport.to_be_bytes());
            // No UDP checksum (IPv4 allows it): ct verifies one that is there.
            f[40..42].copy_from_slice(&[0, 0]);
            b.reset(&f, 128);
            *slot = Some(b);
        }
        let before = allocs();
        pmd.process_burst(&mut bufs, BurstMeta::Shared(&md), 1, &mut ctx);
        let after = allocs();
        if round > 0 {
            assert_eq!(after, before, "round {round}: the burst allocated");
        }
        assert_eq!(ctx.out.len(), 32);
    }
    let t = ctx.conntrack.as_ref().unwrap();
    assert_eq!((t.count(), t.zone_count(9)), (128, 128));
}
