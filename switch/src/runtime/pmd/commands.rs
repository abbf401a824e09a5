//! The changes the control thread asks of a PMD, how the PMD applies them, and the channel
//! that carries them: a wait-free ring per PMD with a backlog on the control side, so that a
//! command is never lost and the control thread never waits for a PMD.
//!
//! A PMD that falls behind (its core taken away, or flows changing faster than it applies
//! them) lets the backlog grow. Once it holds [`RESYNC_BACKLOG`] commands, the flow updates
//! queued for a datapath give way to one marker, and later updates of that datapath are
//! absorbed by it. When the marker reaches the ring it becomes a classifier built from the
//! authoritative table as it is then: the PMD is one command away from the current flows,
//! the backlog stays bounded by the port and datapath changes in it, and the table is copied
//! at most once per marker, however many updates it absorbed.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use fastpath::dpcls::Dpcls;
use fastpath::emc::Emc;
use fastpath::flow::Flow;
use fastpath::pmd::{FlowCmd, Pmd};
use fastpath::Cpu;

use fastpath::packet::Metadata;

use super::idle::{self, IdlePoll};
use super::thread::{DpSlot, PmdThread, RxSlot, TxPort, TxTable};
use crate::dpdk::{MbufArray, RxQueue};
use crate::runtime::ports::TxSlot;
use crate::stats::{DpPmdCounters, VportCounters};

/// Commands the control thread may have queued for one PMD before the flow updates of a
/// datapath are collapsed into one classifier.
pub const RESYNC_BACKLOG: usize = 4096;

/// What a PMD hands the control thread to drop: a flush's flows or a deleted datapath's
/// state, whose freeing would otherwise stall the PMD's queues.
pub type Garbage = Box<dyn Send>;

/// A change to one datapath's classifier and EMC on a PMD.
#[derive(Debug)]
pub enum FlowUpdate {
    /// Insert or remove one flow.
    Cmd(FlowCmd),
    /// Remove every flow, and replace the EMC with an empty one the control thread built
    /// (zeroing one in the poll loop would stall it).
    Flush {
        /// The new EMC.
        emc: Emc,
    },
    /// Replace the classifier with one the control thread built from the authoritative
    /// table, and the EMC with an empty one: brings a PMD that fell behind up to date.
    Replace {
        /// The new classifier.
        cls: Box<Dpcls>,
        /// The new EMC.
        emc: Emc,
    },
    /// Control side only: a [`FlowUpdate::Replace`] to build when it reaches the ring.
    Resync,
}

impl FlowUpdate {
    /// A classifier holding `flows`, as a PMD keeps it (no UFID index), with a mask cache
    /// of `mask_cache` entries.
    pub fn replace<'a>(
        flows: impl Iterator<Item = &'a Arc<Flow>>,
        mask_cache: usize,
        emc: Emc,
    ) -> Self {
        let mut cls = Dpcls::without_ufid_index();
        cls.set_mask_cache_size(mask_cache);
        for f in flows {
            cls.insert(Arc::clone(f));
        }
        FlowUpdate::Replace {
            cls: Box::new(cls),
            emc,
        }
    }

    /// Applies the update to a PMD's fast path of one datapath; returns what it retired, for
    /// the control thread to drop.
    pub fn apply<P: Cpu>(self, pmd: &mut Pmd<P>) -> Option<Garbage> {
        match self {
            FlowUpdate::Cmd(cmd) => pmd.apply(cmd).map(|r| Box::new(r) as Garbage),
            FlowUpdate::Flush { emc } => Some(Box::new(pmd.flush_replacing_emc(emc))),
            FlowUpdate::Replace { cls, emc } => Some(Box::new(pmd.replace_classifier(*cls, emc))),
            // Replaced by a classifier before it is sent.
            FlowUpdate::Resync => None,
        }
    }
}

/// A change the control thread asks a PMD to make.
#[derive(Debug)]
pub enum PmdCmd {
    /// Start serving datapath slot `dp` with this fast path.
    AddDp {
        /// Datapath slot.
        dp: usize,
        /// The datapath's fast path on this PMD, built by the control thread: allocating and
        /// zeroing its EMC in the poll loop would stall it.
        pmd: Box<super::Pmd>,
        /// Counters this PMD publishes for that datapath.
        counters: Arc<DpPmdCounters>,
    },
    /// Stop serving datapath slot `dp` (its ports are removed first).
    RemoveDp {
        /// Datapath slot.
        dp: usize,
    },
    /// Poll this rx queue as input port `port_no` of datapath `dp`.
    AddRxq {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
        /// The queue.
        rxq: RxQueue,
        /// An internal port's: the host's own stack, which a busy PMD polls least often.
        local: bool,
        /// Where the PMD adds the cycles this queue's bursts take.
        cycles: Arc<AtomicU64>,
    },
    /// Transmit to port `port_no` of datapath `dp` through `slot`.
    AddTx {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
        /// This PMD's queue on the port.
        slot: TxSlot,
        /// The port's software counters.
        counters: Arc<VportCounters>,
    },
    /// Forget port `port_no` of datapath `dp`: its rx queues and its tx queue.
    RemovePort {
        /// Datapath slot.
        dp: usize,
        /// Port number within the datapath.
        port_no: u32,
    },
    /// A classifier update for datapath `dp`.
    Flows {
        /// Datapath slot.
        dp: usize,
        /// The update.
        update: FlowUpdate,
    },
}

impl PmdCmd {
    /// The datapath the command is about.
    fn dp(&self) -> usize {
        match self {
            PmdCmd::AddDp { dp, .. }
            | PmdCmd::RemoveDp { dp }
            | PmdCmd::AddRxq { dp, .. }
            | PmdCmd::AddTx { dp, .. }
            | PmdCmd::RemovePort { dp, .. }
            | PmdCmd::Flows { dp, .. } => *dp,
        }
    }
}

/// Builds the [`FlowUpdate::Replace`] of a datapath's flows as they are now; None when it
/// cannot now (the caller lacks the table), and the marker waits.
pub type Snapshot<'a> = &'a mut dyn FnMut(usize) -> Option<FlowUpdate>;

/// The control thread's end of one PMD's commands.
#[derive(Debug)]
pub struct CommandChannel {
    /// Wait-free for both ends, so a control thread preempted in the middle of a push can
    /// never hold the PMD (an MPMC queue's pop waits for a push it has seen start).
    ring: rtrb::Producer<PmdCmd>,
    /// Commands the ring had no room for, oldest first: they go before any later one.
    backlog: VecDeque<PmdCmd>,
    /// Datapaths with a [`FlowUpdate::Resync`] marker in the backlog.
    resyncing: Vec<usize>,
    /// Commands pushed into the ring so far.
    sent: u64,
}

impl CommandChannel {
    /// The control end of `ring`.
    pub fn new(ring: rtrb::Producer<PmdCmd>) -> Self {
        CommandChannel {
            ring,
            backlog: VecDeque::new(),
            resyncing: Vec::new(),
            sent: 0,
        }
    }

    /// Sends `cmd` after everything sent before it (not a flow update: see
    /// [`CommandChannel::send_flows`]).
    pub fn send(&mut self, cmd: PmdCmd) {
        if let PmdCmd::AddDp { dp, .. } | PmdCmd::RemoveDp { dp } = cmd {
            // A marker before this belongs to the slot's previous life.
            self.resyncing.retain(|&d| d != dp);
        }
        self.backlog.push_back(cmd);
        self.pump(&mut |_| None);
    }

    /// Sends a flow update of datapath `dp`, or lets a resynchronisation absorb it (see the
    /// module doc); `snapshot` builds one when a marker reaches the ring.
    pub fn send_flows(&mut self, dp: usize, update: FlowUpdate, snapshot: Snapshot<'_>) {
        if self.resyncing.contains(&dp) {
            return;
        }
        if self.backlog.len() < RESYNC_BACKLOG {
            self.backlog.push_back(PmdCmd::Flows { dp, update });
        } else {
            // Updates queued before the datapath was last added or removed belong to another
            // life of the slot: those stay, the later ones give way to the marker.
            let life = self
                .backlog
                .iter()
                .rposition(|c| {
                    matches!(c, PmdCmd::AddDp { .. } | PmdCmd::RemoveDp { .. }) && c.dp() == dp
                })
                .map_or(0, |i| i + 1);
            let mut i = life;
            while i < self.backlog.len() {
                if matches!(&self.backlog[i], PmdCmd::Flows { dp: d, .. } if *d == dp) {
                    self.backlog.remove(i);
                } else {
                    i += 1;
                }
            }
            self.backlog.push_back(PmdCmd::Flows {
                dp,
                update: FlowUpdate::Resync,
            });
            self.resyncing.push(dp);
        }
        self.pump(snapshot);
    }

    /// Moves what the backlog holds into the ring, as far as there is room and markers can
    /// be built; returns whether the backlog is empty.
    pub fn pump(&mut self, snapshot: Snapshot<'_>) -> bool {
        while let Some(mut cmd) = self.backlog.pop_front() {
            let mut resynced = None;
            if let PmdCmd::Flows { dp, update } = &mut cmd {
                if matches!(update, FlowUpdate::Resync) {
                    if self.ring.is_full() {
                        self.backlog.push_front(cmd);
                        return false;
                    }
                    match snapshot(*dp) {
                        Some(u) => *update = u,
                        None => {
                            self.backlog.push_front(cmd);
                            return false;
                        }
                    }
                    resynced = Some(*dp);
                }
            }
            match self.ring.push(cmd) {
                Ok(()) => {
                    self.sent += 1;
                    if let Some(dp) = resynced {
                        self.resyncing.retain(|&d| d != dp);
                    }
                }
                Err(rtrb::PushError::Full(cmd)) => {
                    self.backlog.push_front(cmd);
                    return false;
                }
            }
        }
        true
    }

    /// Commands pushed into the ring so far (the PMD counts those it applied).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Commands waiting for room in the ring.
    pub fn backlog(&self) -> usize {
        self.backlog.len()
    }
}

impl PmdThread {
    /// Applies one command between bursts.
    pub(super) fn apply(&mut self, cmd: PmdCmd) {
        match cmd {
            PmdCmd::AddDp { dp, pmd, counters } => {
                if self.dps.len() <= dp {
                    self.dps.resize_with(dp + 1, || None);
                }
                self.dps[dp] = Some(DpSlot {
                    pmd: *pmd,
                    tx: TxTable::default(),
                    counters,
                });
            }
            PmdCmd::RemoveDp { dp } => {
                self.rxqs.retain(|r| r.dp != dp);
                if let Some(old) = self.dps.get_mut(dp).and_then(Option::take) {
                    self.retire(Box::new(old));
                }
            }
            PmdCmd::AddRxq {
                dp,
                port_no,
                rxq,
                local,
                cycles,
            } => {
                let md = Metadata::for_port(u16::try_from(port_no).unwrap_or(u16::MAX));
                self.rxqs.push(RxSlot {
                    dp,
                    port_no,
                    md,
                    idle: if rxq.polls_by_syscall() {
                        let ceiling = if local {
                            idle::LOCAL_MAX_US
                        } else {
                            idle::MAX_US
                        };
                        let per_us = self.cycles_per_us;
                        IdlePoll::backed_off(idle::MIN_US * per_us, ceiling * per_us)
                    } else {
                        IdlePoll::ALWAYS
                    },
                    offload: rxq.carries_offload(),
                    busy: cycles.load(std::sync::atomic::Ordering::Relaxed),
                    cycles,
                    rxq,
                });
            }
            PmdCmd::AddTx {
                dp,
                port_no,
                slot,
                counters,
            } => {
                if let Some(Some(d)) = self.dps.get_mut(dp) {
                    let i = port_no as usize;
                    if d.tx.ports.len() <= i {
                        d.tx.ports.resize_with(i + 1, || None);
                    }
                    d.tx.ports[i] = Some(TxPort {
                        takes_offload: slot.takes_offload(),
                        slot,
                        buf: MbufArray::new(),
                        counters,
                    });
                }
            }
            PmdCmd::RemovePort { dp, port_no } => {
                self.rxqs.retain(|r| !(r.dp == dp && r.port_no == port_no));
                if let Some(Some(d)) = self.dps.get_mut(dp) {
                    if let Some(p) = d.tx.ports.get_mut(port_no as usize) {
                        *p = None;
                    }
                }
            }
            PmdCmd::Flows { dp, update } => {
                let retired = match self.dps.get_mut(dp) {
                    Some(Some(d)) => update.apply(&mut d.pmd),
                    _ => None,
                };
                if let Some(garbage) = retired {
                    self.retire(garbage);
                }
            }
        }
    }

    /// Hands `garbage` to the control thread to drop, or drops it here if its ring is full.
    fn retire(&mut self, garbage: Garbage) {
        if let Err(rtrb::PushError::Full(garbage)) = self.retired.push(garbage) {
            drop(garbage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath::actions::CompiledActions;
    use fastpath::dpcls::DEFAULT_MASK_CACHE;
    use fastpath::flow::FlowKey;
    use fastpath::Portable;

    use crate::model::FlowTable;

    fn key(i: u32) -> (FlowKey, FlowKey) {
        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        k.set_eth_type(0x0800);
        k.set_ipv4_dst(i);
        let mut m = FlowKey::ZERO;
        m.set_in_port(u16::MAX);
        m.set_eth_type(u16::MAX);
        m.set_ipv4_dst(u32::MAX);
        (k, m)
    }

    /// Drains `ring` into `pmd` the way a PMD thread does, stopping at `budget` commands.
    fn drain(ring: &mut rtrb::Consumer<PmdCmd>, pmd: &mut Pmd<Portable>, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let Ok(cmd) = ring.pop() else { break };
            if let PmdCmd::Flows { update, .. } = cmd {
                drop(update.apply(pmd));
            }
            n += 1;
        }
        n
    }

    /// A PMD that stops draining for longer than its ring lasts loses no flow update: when it
    /// drains again it ends with exactly the authoritative flows, and the control side's
    /// backlog never grew past the resync bound.
    #[test]
    fn a_pmd_that_stops_draining_catches_up_with_every_flow_update() {
        let (tx, mut rx) = rtrb::RingBuffer::new(64);
        let mut ch = CommandChannel::new(tx);
        let mut table = FlowTable::new(1);
        let mut pmd = Pmd::<Portable>::new(0, Emc::new(1024, 1));
        let mut ring_max = 0;
        // 20,000 changes while the PMD is stalled: installs, and every third one deleted.
        for i in 0..20_000u32 {
            let (k, m) = key(i);
            let id = u128::from(i) + 1;
            let mut cmds = table
                .put(id, &k, &m, CompiledActions::default(), true, true)
                .unwrap();
            if i % 3 == 0 {
                cmds.extend(table.del(id).unwrap().1);
            }
            for c in cmds {
                ch.send_flows(0, FlowUpdate::Cmd(c), &mut |_| {
                    Some(FlowUpdate::replace(
                        table.classifier().flows(),
                        DEFAULT_MASK_CACHE,
                        Emc::new(1024, 1),
                    ))
                });
            }
            ring_max = ring_max.max(ch.backlog());
        }
        assert!(ring_max <= RESYNC_BACKLOG, "backlog grew to {ring_max}");
        assert!(ch.backlog() > 0, "the ring filled up: the PMD was behind");
        // The PMD resumes: it drains, the control side pumps, until both are done.
        loop {
            let drained = drain(&mut rx, &mut pmd, 64);
            let empty = ch.pump(&mut |_| {
                Some(FlowUpdate::replace(
                    table.classifier().flows(),
                    DEFAULT_MASK_CACHE,
                    Emc::new(1024, 1),
                ))
            });
            if drained == 0 && empty {
                break;
            }
        }
        // The PMD classifies every key as the authoritative table does.
        assert_eq!(table.classifier().len(), 13_333);
        assert_eq!(pmd.classifier().len(), table.classifier().len());
        for i in 0..20_000u32 {
            let (k, _) = key(i);
            let want = table.classifier().lookup(&k).map(|f| f.ufid());
            let got = pmd.classifier().lookup(&k).map(|f| f.ufid());
            assert!(want == got, "flow {i}: PMD has {got:?}, the table {want:?}");
        }
    }

    /// Below the resync bound every command arrives, in order, whatever the ring's room.
    #[test]
    fn commands_keep_their_order_through_the_backlog() {
        let (tx, mut rx) = rtrb::RingBuffer::new(4);
        let mut ch = CommandChannel::new(tx);
        for dp in 0..100 {
            ch.send(PmdCmd::RemoveDp { dp });
        }
        assert_eq!(ch.backlog(), 96);
        let mut seen = Vec::new();
        while seen.len() < 100 {
            while let Ok(c) = rx.pop() {
                seen.push(c.dp());
            }
            ch.pump(&mut |_| None);
        }
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(ch.sent(), 100);
    }

    /// A marker that cannot be built yet holds the commands behind it, in order, and the
    /// flow updates after it are absorbed until it goes; a new life of the datapath slot
    /// starts with updates of its own.
    #[test]
    fn a_marker_waits_for_its_snapshot_and_keeps_the_order() {
        let (tx, mut rx) = rtrb::RingBuffer::new(RESYNC_BACKLOG);
        let mut ch = CommandChannel::new(tx);
        let flush = || FlowUpdate::Cmd(FlowCmd::Flush);
        let mut none = |_: usize| None;
        // Fill the ring and the backlog up to the bound.
        for _ in 0..2 * RESYNC_BACKLOG {
            ch.send_flows(3, flush(), &mut none);
        }
        assert_eq!(ch.backlog(), RESYNC_BACKLOG);
        ch.send_flows(3, flush(), &mut none);
        assert_eq!(
            ch.backlog(),
            1,
            "the backlog's updates gave way to one marker"
        );
        ch.send_flows(3, flush(), &mut none);
        ch.send(PmdCmd::RemovePort { dp: 3, port_no: 1 });
        assert_eq!(ch.backlog(), 2, "updates absorbed, the port command queued");
        // The PMD drains its ring; the marker still cannot be built.
        while rx.pop().is_ok() {}
        assert!(!ch.pump(&mut none));
        assert_eq!(ch.backlog(), 2);
        let mut built = 0;
        assert!(ch.pump(&mut |dp| {
            built += 1;
            assert_eq!(dp, 3);
            Some(FlowUpdate::replace(
                std::iter::empty(),
                DEFAULT_MASK_CACHE,
                Emc::new(16, 1),
            ))
        }));
        assert_eq!(built, 1, "one snapshot for every update it absorbed");
        let order: Vec<_> = std::iter::from_fn(|| rx.pop().ok())
            .map(|c| match c {
                PmdCmd::Flows {
                    update: FlowUpdate::Replace { .. },
                    ..
                } => "replace",
                PmdCmd::RemovePort { .. } => "remove-port",
                _ => "other",
            })
            .collect();
        assert_eq!(order, ["replace", "remove-port"]);
        ch.send(PmdCmd::RemoveDp { dp: 3 });
        ch.send_flows(3, flush(), &mut none);
        assert_eq!(
            ch.sent(),
            2 * RESYNC_BACKLOG as u64 - RESYNC_BACKLOG as u64 + 4
        );
    }
}
