//! The running switch: the EAL, datapaths and their vports, PMD threads on worker lcores, and
//! the control thread's side of everything (see `docs/architecture.md`).

pub mod bridge;
pub mod pmd_thread;
pub mod shared;
pub mod vport;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hash maps of the control thread's per-miss work (MAC table, the bridge's flow indexes):
/// foldhash is several times cheaper than SipHash on these small keys and, like it, seeded
/// per process, so learned MACs cannot be picked to collide.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use crate::dpdk::{
    DpdkError, Eal, LcoreJob, Mbuf, MbufArray, Mempool, Port, PortConfig, BURST_SIZE,
};
use crate::model::{FlowTable, FlowTableError};
use bridge::{Decision, MacTable};
use fastpath::actions::{
    execute, CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction,
};
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{extract, ExtractInfo};
use fastpath::pmd::FlowCmd;
use odp::action::Action;
use pmd_thread::{
    DpPmdCounters, Garbage, LongRound, PmdCmd, PmdLinks, PmdShared, PmdThread, Upcall, UpcallKind,
    UpcallQueue, LONG_ROUND_LOG_TARGET,
};
use shared::{DpView, PmdView, PortView, SwitchView};
use vport::{TxSlot, Vport, VportCounters, VportKind, OVSP_LOCAL};

/// A control-plane failure with the errno the kernel would return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    /// Positive errno (EINVAL, ENODEV, EEXIST, ...).
    pub errno: i32,
    /// What failed, for logs and CLI messages.
    pub msg: String,
}

impl ControlError {
    /// An error with `errno` and a message.
    pub fn new(errno: i32, msg: impl Into<String>) -> Self {
        ControlError {
            errno,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.msg,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for ControlError {}

impl From<DpdkError> for ControlError {
    fn from(e: DpdkError) -> Self {
        let errno = match e.errno {
            libc::EEXIST => libc::EEXIST,
            libc::ENOMEM | libc::ENOSPC => libc::ENOMEM,
            libc::ENODEV | libc::ENOENT => libc::ENODEV,
            _ => libc::EINVAL,
        };
        ControlError::new(errno, e.to_string())
    }
}

type Result<T> = std::result::Result<T, ControlError>;

/// How the switch is sized and tuned.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// Worker lcores that run PMD threads (default: every worker lcore).
    pub pmd_lcores: Option<Vec<u32>>,
    /// Mbufs in the packet pool.
    pub n_mbufs: u32,
    /// EMC entries per PMD per datapath.
    pub emc_entries: usize,
    /// OVS's `emc-insert-inv-prob`: insert 1 in N megaflow hits (0 = EMC off).
    pub emc_insert_inv_prob: u32,
    /// Above this many flows the slow path still forwards misses but installs nothing.
    pub flow_limit: usize,
    /// Capacity of the PMD → control upcall queue.
    pub upcall_queue: usize,
    /// Receive queues per port.
    pub rxqs_per_port: u16,
    /// Count PMD cycles per stage (OVS's `pmd-perf-metrics`; a few TSC reads per burst).
    pub pmd_perf_metrics: bool,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            pmd_lcores: None,
            n_mbufs: 32768,
            emc_entries: 8192,
            emc_insert_inv_prob: 100,
            flow_limit: 200_000,
            upcall_queue: 8192,
            rxqs_per_port: 1,
            pmd_perf_metrics: false,
        }
    }
}

/// How a flow put treats an existing flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Create only: any existing flow matching the key is EEXIST (NLM_F_CREATE / NLM_F_EXCL).
    Create,
    /// Modify only: ENOENT when the flow does not exist (FLOW SET).
    Modify,
    /// Create, or replace the actions of the same flow (FLOW NEW without CREATE/EXCL).
    CreateOrModify,
}

/// What a new vport is made of.
#[derive(Debug, Clone)]
pub struct VportSpec {
    /// Name (at most 15 bytes).
    pub name: String,
    /// Netdev or internal.
    pub kind: VportKind,
    /// DPDK devargs; None picks the default for the kind (TAP / AF_PACKET by name).
    pub devargs: Option<String>,
    /// Requested port number (None or 0: the lowest free one).
    pub port_no: Option<u32>,
    /// Upcall port ids.
    pub upcall_pids: Vec<u32>,
    /// Other options, kept for display.
    pub options: BTreeMap<String, String>,
}

/// Datapath statistics as `ovs_dp_stats` + `ovs_dp_megaflow_stats` report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Lookups that matched a flow.
    pub n_hit: u64,
    /// Lookups that matched none.
    pub n_missed: u64,
    /// Upcalls that could not be delivered.
    pub n_lost: u64,
    /// Installed flows.
    pub n_flows: u64,
    /// Subtables probed over all lookups.
    pub n_mask_hit: u64,
    /// Distinct masks.
    pub n_masks: u32,
    /// Lookups answered by a cache (EMC).
    pub n_cache_hit: u64,
}

/// A datapath: its ports, flows and counters (owned by the control thread).
#[derive(Debug)]
pub struct Datapath {
    /// Name (also its local port's name).
    pub name: String,
    /// The local port's kernel ifindex (the kernel's `dp_ifindex`).
    pub ifindex: u32,
    /// Negotiated `OVS_DP_F_*` user features.
    pub user_features: u32,
    /// Mask cache size as last set (reported back; the EMC plays its role).
    pub masks_cache_size: u32,
    /// Per-CPU (per-PMD) upcall port ids.
    pub per_cpu_pids: Vec<u32>,
    /// Ports by number.
    pub vports: BTreeMap<u32, Vport>,
    /// Action lists of the flows the standalone bridge installed (for dumps), by UFID; may
    /// hold entries of flows deleted since.
    pub slow_actions: FastMap<u128, Arc<[Action]>>,
    /// UFIDs of the flows the standalone bridge installed, by the (VLAN, destination MAC)
    /// they match: what to revalidate when that MAC is learned or moves, without scanning
    /// every flow. May hold UFIDs of flows deleted since.
    slow_by_dst: FastMap<(u16, [u8; 6]), Vec<u128>>,
    /// The authoritative flow table.
    pub flows: FlowTable,
    view: Arc<DpView>,
    macs: MacTable,
}

impl Datapath {
    fn per_cpu(&self) -> bool {
        self.user_features & DP_F_DISPATCH_UPCALL_PER_CPU != 0
    }

    /// Whether misses from `in_port` go to a controller. Per-CPU dispatch without a single
    /// non-zero pid means none is listening (ovs-dpctl's open sequence leaves a datapath
    /// like that): the standalone bridge keeps forwarding rather than losing every miss.
    fn has_controller(&self, in_port: u32) -> bool {
        (self.per_cpu() && self.per_cpu_pids.iter().any(|&p| p != 0))
            || self
                .vports
                .get(&in_port)
                .is_some_and(|v| v.upcall_pids.iter().any(|&p| p != 0))
    }

    fn cpu_pid(&self, cpu: usize) -> u32 {
        match self.per_cpu_pids.len() {
            0 => 0,
            n => self.per_cpu_pids[cpu % n],
        }
    }

    /// Where a MISS upcall of a packet from `in_port` with `hash`, raised on `cpu` (a PMD;
    /// the control thread is 0), goes, like the kernel's `ovs_dp_get_upcall_portid`: the
    /// CPU's pid under per-CPU dispatch, else one of the in_port's pids by hash (0: none).
    fn miss_pid(&self, in_port: u32, hash: u32, cpu: usize) -> u32 {
        if self.per_cpu() {
            self.cpu_pid(cpu)
        } else {
            self.vports
                .get(&in_port)
                .and_then(|v| v.upcall_pid(hash))
                .unwrap_or(0)
        }
    }

    /// Where an ACTION upcall raised on `cpu` for a userspace action naming `action_pid`
    /// goes: the CPU's pid under per-CPU dispatch, else the action's.
    fn action_pid(&self, action_pid: u32, cpu: usize) -> u32 {
        if self.per_cpu() {
            self.cpu_pid(cpu)
        } else {
            action_pid
        }
    }

    /// An upcall of this datapath: MISS, or ACTION with `(userdata, original length)`.
    fn upcall<'a>(
        &self,
        pid: u32,
        key: &'a FlowKey,
        hash: u32,
        packet: &'a [u8],
        action: Option<(Option<&'a [u8]>, usize)>,
    ) -> UpcallMsg<'a> {
        UpcallMsg {
            pid,
            action: action.is_some(),
            dp_ifindex: self.ifindex,
            unaligned: self.user_features & DP_F_UNALIGNED != 0,
            key,
            hash,
            userdata: action.and_then(|(u, _)| u),
            orig_len: action.map(|(_, len)| len).filter(|&len| len > packet.len()),
            packet,
        }
    }
}

struct PmdHandle {
    lcore: u32,
    /// The PMD's command ring: wait-free for both ends, so a control thread preempted in
    /// the middle of a push can never hold the PMD (an MPMC queue's pop waits for a push
    /// it has seen start).
    cmds: rtrb::Producer<PmdCmd>,
    /// What the PMD retired for this thread to drop ([`Switch::reclaim`]).
    retired: rtrb::Consumer<Garbage>,
    /// The PMD's long poll rounds, for this thread to log ([`Switch::log_long_rounds`]).
    long_rounds: rtrb::Consumer<LongRound>,
    shared: Arc<PmdShared>,
    job: Option<LcoreJob>,
    sent: u64,
}

/// The switch: EAL, packet pool, PMDs, datapaths.
pub struct Switch {
    eal: Eal,
    pool: Arc<Mempool>,
    pmds: Vec<PmdHandle>,
    upcalls: Arc<UpcallQueue>,
    dps: Vec<Option<Datapath>>,
    rr: usize,
    cfg: SwitchConfig,
    next_ufid: u128,
    view: Arc<SwitchView>,
    /// The slow path's recent action lists, compiled: a bridge decides between a handful of
    /// lists (forward to p, flood from p), so misses reuse these instead of allocating.
    slow_compiled: Vec<(Arc<[Action]>, Arc<CompiledActions>)>,
    /// Reused buffer for the action list the bridge builds per miss.
    slow_scratch: Vec<Action>,
    drop_warnings: crate::metrics::DropWarnings,
}

/// Distinct action lists the slow path keeps compiled.
const SLOW_COMPILED: usize = 16;

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field(
                "pmds",
                &self.pmds.iter().map(|p| p.lcore).collect::<Vec<_>>(),
            )
            .field(
                "dps",
                &self
                    .dps
                    .iter()
                    .flatten()
                    .map(|d| &d.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

const CMD_QUEUE: usize = 16384;
/// Retired items a PMD can hand back before the control thread drops them (a full ring
/// makes the PMD drop the item itself: slower, never lost).
const RETIRED_QUEUE: usize = 64;
/// Long poll rounds a PMD can queue for logging: the control thread drains them within a
/// millisecond, and a PMD cannot have more than one long round per millisecond.
const LONG_ROUND_QUEUE: usize = 256;

impl Switch {
    /// Creates the packet pool and starts one PMD thread per PMD lcore.
    ///
    /// # Errors
    /// EINVAL without a worker lcore to run a PMD on; ENOMEM when the pool cannot be made.
    pub fn start(eal: Eal, cfg: SwitchConfig) -> Result<Switch> {
        let lcores = cfg
            .pmd_lcores
            .clone()
            .unwrap_or_else(|| eal.worker_lcores());
        if lcores.is_empty() {
            return Err(ControlError::new(
                libc::EINVAL,
                "no worker lcore for a PMD thread: give EAL at least two cores, e.g. -l 0-1",
            ));
        }
        let pool = Arc::new(Mempool::new(&eal, "dpswitch_pkts", cfg.n_mbufs, 256, -1)?);
        let upcalls = Arc::new(UpcallQueue::new(cfg.upcall_queue, lcores.len()));
        let mut pmds = Vec::with_capacity(lcores.len());
        for (id, &lcore) in lcores.iter().enumerate() {
            let (cmds, pmd_cmds) = rtrb::RingBuffer::new(CMD_QUEUE);
            let (pmd_retired, retired) = rtrb::RingBuffer::new(RETIRED_QUEUE);
            let (pmd_long_rounds, long_rounds) = rtrb::RingBuffer::new(LONG_ROUND_QUEUE);
            let shared = Arc::new(PmdShared::default());
            shared
                .stage_timing
                .store(cfg.pmd_perf_metrics, std::sync::atomic::Ordering::Relaxed);
            let thread = PmdThread::new(
                id,
                PmdLinks {
                    cmds: pmd_cmds,
                    retired: pmd_retired,
                    long_rounds: pmd_long_rounds,
                    upcalls: upcalls.clone(),
                },
                pool.clone(),
                shared.clone(),
            );
            let job = eal.launch(lcore, move || thread.run())?;
            tracing::info!(pmd = id, lcore, "PMD thread started");
            pmds.push(PmdHandle {
                lcore,
                cmds,
                retired,
                long_rounds,
                shared,
                job: Some(job),
                sent: 0,
            });
        }
        let view = Arc::new(SwitchView {
            dps: Mutex::new(Vec::new()),
            pmds: pmds
                .iter()
                .enumerate()
                .map(|(id, h)| PmdView {
                    id,
                    lcore: h.lcore,
                    numa: eal.lcore_socket(h.lcore),
                    shared: h.shared.clone(),
                })
                .collect(),
            upcalls: upcalls.clone(),
            pool: pool.clone(),
            tsc_hz: crate::dpdk::tsc_hz(),
            upcall_latency: prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "dpswitch_upcall_handling_seconds",
                    "Time from a PMD queuing an upcall until the control thread has handled it",
                )
                .buckets(prometheus::exponential_buckets(1e-6, 4.0, 10).expect("valid buckets")),
            )
            .expect("valid histogram"),
            requests: prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "dpswitch_control_requests_total",
                    "Netlink control requests by family, command and result",
                ),
                &["family", "command", "result"],
            )
            .expect("valid counter"),
        });
        Ok(Switch {
            eal,
            pool,
            pmds,
            upcalls,
            dps: Vec::new(),
            rr: 0,
            cfg,
            next_ufid: u128::from(std::process::id()) << 96,
            drop_warnings: crate::metrics::DropWarnings::default(),
            view,
            slow_compiled: Vec::new(),
            slow_scratch: Vec::new(),
        })
    }

    /// The EAL.
    pub fn eal(&self) -> &Eal {
        &self.eal
    }

    /// The packet pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.pool
    }

    /// Number of PMD threads.
    pub fn n_pmds(&self) -> usize {
        self.pmds.len()
    }

    /// The lcore of each PMD.
    pub fn pmd_lcores(&self) -> Vec<u32> {
        self.pmds.iter().map(|p| p.lcore).collect()
    }

    /// Published per-PMD loop counters.
    pub fn pmd_shared(&self, pmd: usize) -> Option<&PmdShared> {
        self.pmds.get(pmd).map(|p| &*p.shared)
    }

    /// The configuration.
    pub fn config(&self) -> &SwitchConfig {
        &self.cfg
    }

    /// What other threads (metrics) may read.
    pub fn view(&self) -> &Arc<SwitchView> {
        &self.view
    }

    fn publish_flow_counts(&self, dp: usize) {
        if let Some(d) = self.datapath(dp) {
            let c = d.flows.classifier();
            d.view.n_flows.store(c.len() as u64, Ordering::Relaxed);
            d.view.n_masks.store(c.n_masks() as u64, Ordering::Relaxed);
        }
    }

    /// Upcalls waiting for the control thread.
    pub fn upcall_backlog(&self) -> usize {
        self.upcalls.len()
    }

    fn send(&mut self, pmd: usize, mut cmd: PmdCmd) {
        let h = &mut self.pmds[pmd];
        let mut deadline = None;
        loop {
            match h.cmds.push(cmd) {
                Ok(()) => break,
                // The PMD drains between bursts, so room comes back within microseconds.
                Err(rtrb::PushError::Full(back)) => {
                    cmd = back;
                    let d =
                        *deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
                    if Instant::now() > d {
                        // A PMD that has not drained for seconds is gone: the control thread
                        // must keep serving (and be able to shut down) rather than wait.
                        tracing::error!(pmd, "PMD command queue stuck: command dropped");
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
        h.sent += 1;
    }

    fn broadcast_flow(&mut self, dp: usize, cmds: impl IntoIterator<Item = FlowCmd>) {
        for cmd in cmds {
            for p in 0..self.pmds.len() {
                let pmd_cmd = match cmd {
                    FlowCmd::Flush => PmdCmd::FlushFlows {
                        dp,
                        emc: self.new_emc(dp, p),
                    },
                    ref cmd => PmdCmd::Flow {
                        dp,
                        cmd: cmd.clone(),
                    },
                };
                self.send(p, pmd_cmd);
            }
        }
    }

    /// An empty EMC for PMD `p`'s fast path of datapath slot `dp`. Built here: allocating
    /// and zeroing one (about 1 MB) would stall a poll loop for up to 1.5 ms.
    fn new_emc(&self, dp: usize, p: usize) -> Emc {
        let mut emc = Emc::new(self.cfg.emc_entries, self.cfg.emc_insert_inv_prob);
        emc.seed(crate::dpdk::rdtsc() ^ ((dp as u64) << 32) ^ p as u64);
        emc
    }

    /// Drops what the PMDs retired (a flush's flows, a deleted datapath's classifier), so
    /// their memory is freed here rather than in a poll loop. Returns how many items.
    pub fn reclaim(&mut self) -> usize {
        let mut n = 0;
        for h in &mut self.pmds {
            while let Ok(garbage) = h.retired.pop() {
                drop(garbage);
                n += 1;
            }
        }
        n
    }

    /// Logs the PMDs' long poll rounds ([`LongRound`]) at debug level under
    /// [`LONG_ROUND_LOG_TARGET`]; returns how many.
    pub fn log_long_rounds(&mut self) -> usize {
        let mut n = 0;
        for (pmd, h) in self.pmds.iter_mut().enumerate() {
            while let Ok(r) = h.long_rounds.pop() {
                tracing::debug!(
                    target: LONG_ROUND_LOG_TARGET,
                    pmd,
                    lcore = h.lcore,
                    end_mono_ns = r.end_mono_ns,
                    wall_ns = r.wall_ns,
                    cpu_ns = r.cpu_ns,
                    commands = r.commands,
                    "long poll round"
                );
                n += 1;
            }
        }
        n
    }

    /// Waits until every PMD has applied every command sent so far.
    pub fn sync_pmds(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for (i, h) in self.pmds.iter().enumerate() {
            while h.shared.applied.load(Ordering::Acquire) < h.sent {
                if Instant::now() > deadline {
                    tracing::warn!(pmd = i, "PMD did not apply its commands within 5 s");
                    break;
                }
                std::thread::yield_now();
            }
        }
    }

    /// Datapath slots in use.
    pub fn datapaths(&self) -> impl Iterator<Item = (usize, &Datapath)> {
        self.dps
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.as_ref().map(|d| (i, d)))
    }

    /// A datapath by slot.
    pub fn datapath(&self, dp: usize) -> Option<&Datapath> {
        self.dps.get(dp).and_then(Option::as_ref)
    }

    /// A datapath by slot, mutably.
    pub fn datapath_mut(&mut self, dp: usize) -> Option<&mut Datapath> {
        self.dps.get_mut(dp).and_then(Option::as_mut)
    }

    /// The slot of the datapath named `name`.
    pub fn find_datapath(&self, name: &str) -> Option<usize> {
        self.datapaths()
            .find(|(_, d)| d.name == name)
            .map(|(i, _)| i)
    }

    /// The slot of the datapath whose local port has `ifindex`.
    pub fn find_datapath_by_ifindex(&self, ifindex: u32) -> Option<usize> {
        self.datapaths()
            .find(|(_, d)| d.ifindex == ifindex)
            .map(|(i, _)| i)
    }

    /// The datapath slot and port number of the vport named `name`, in any datapath.
    pub fn find_vport(&self, name: &str) -> Option<(usize, u32)> {
        self.datapaths().find_map(|(i, d)| {
            d.vports
                .values()
                .find(|v| v.name == name)
                .map(|v| (i, v.port_no))
        })
    }

    /// Creates a datapath and its local port 0 (an internal TAP port named `name`).
    ///
    /// # Errors
    /// EINVAL for a bad name, EEXIST if the name is taken (by a datapath, a vport or a kernel
    /// netdev), or the device error of the local port.
    pub fn add_datapath(
        &mut self,
        name: &str,
        upcall_pid: u32,
        user_features: u32,
    ) -> Result<usize> {
        if !vport::valid_name(name) {
            return Err(ControlError::new(
                libc::EINVAL,
                format!("bad datapath name {name:?}"),
            ));
        }
        if self.find_datapath(name).is_some() || self.find_vport(name).is_some() {
            return Err(ControlError::new(
                libc::EEXIST,
                format!("{name} already exists"),
            ));
        }
        let slot = match self.dps.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.dps.push(None);
                self.dps.len() - 1
            }
        };
        let counters: Vec<Arc<DpPmdCounters>> =
            (0..self.pmds.len()).map(|_| Arc::default()).collect();
        let view = Arc::new(DpView {
            name: name.to_string(),
            pmd: counters.clone(),
            ctl_lost: AtomicU64::new(0),
            n_flows: AtomicU64::new(0),
            n_masks: AtomicU64::new(0),
            ports: Mutex::new(Vec::new()),
        });
        self.dps[slot] = Some(Datapath {
            name: name.to_string(),
            ifindex: 0,
            user_features,
            masks_cache_size: 256,
            per_cpu_pids: Vec::new(),
            vports: BTreeMap::new(),
            flows: FlowTable::new(self.pmds.len()),
            view: view.clone(),
            macs: MacTable::default(),
            slow_actions: FastMap::default(),
            slow_by_dst: FastMap::default(),
        });
        for (p, c) in counters.into_iter().enumerate() {
            let mut pmd = Box::new(pmd_thread::Pmd::new(p, self.new_emc(slot, p)));
            pmd.set_stage_timing(self.pmds[p].shared.stage_timing.load(Ordering::Relaxed));
            self.send(
                p,
                PmdCmd::AddDp {
                    dp: slot,
                    pmd,
                    counters: c,
                },
            );
        }
        let local = VportSpec {
            name: name.to_string(),
            kind: VportKind::Internal,
            devargs: None,
            port_no: Some(OVSP_LOCAL),
            upcall_pids: vec![upcall_pid],
            options: BTreeMap::new(),
        };
        match self.add_vport_inner(slot, local, true) {
            Ok(_) => {
                let dp = self.dps[slot].as_mut().expect("just created");
                dp.ifindex = dp.vports[&OVSP_LOCAL].ifindex;
                tracing::info!(dp = name, ifindex = dp.ifindex, "datapath created");
                lock(&self.view.dps).push(view);
                Ok(slot)
            }
            Err(e) => {
                for p in 0..self.pmds.len() {
                    self.send(p, PmdCmd::RemoveDp { dp: slot });
                }
                self.sync_pmds();
                self.dps[slot] = None;
                Err(e)
            }
        }
    }

    /// Deletes a datapath: its ports (the local port last), flows and counters.
    ///
    /// # Errors
    /// ENODEV for an unknown slot.
    pub fn del_datapath(&mut self, dp: usize) -> Result<()> {
        let ports: Vec<u32> = match self.datapath(dp) {
            Some(d) => d.vports.keys().rev().copied().collect(),
            None => return Err(ControlError::new(libc::ENODEV, "no such datapath")),
        };
        for port_no in ports {
            if let Err(e) = self.remove_vport(dp, port_no) {
                tracing::warn!(dp, port_no, error = %e, "removing port of deleted datapath");
            }
        }
        // Kill the flows for anyone still holding one; the PMDs need no flush of their own:
        // RemoveDp hands their whole fast path (classifier and EMC) back to be dropped here.
        if let Some(d) = self.dps[dp].as_mut() {
            d.flows.flush();
        }
        for p in 0..self.pmds.len() {
            self.send(p, PmdCmd::RemoveDp { dp });
        }
        self.sync_pmds();
        if let Some(d) = self.dps[dp].take() {
            lock(&self.view.dps).retain(|v| !Arc::ptr_eq(v, &d.view));
            tracing::info!(dp = %d.name, "datapath deleted");
        }
        Ok(())
    }

    /// Adds a vport to datapath `dp` and starts forwarding on it.
    ///
    /// # Errors
    /// ENODEV (no datapath), EINVAL (bad name), EEXIST (name taken), EBUSY/EFBIG (port number),
    /// or the DPDK device's error.
    pub fn add_vport(&mut self, dp: usize, spec: VportSpec) -> Result<u32> {
        self.add_vport_inner(dp, spec, false)
    }

    fn add_vport_inner(&mut self, dp: usize, spec: VportSpec, local: bool) -> Result<u32> {
        if !vport::valid_name(&spec.name) {
            return Err(ControlError::new(
                libc::EINVAL,
                format!("bad port name {:?}", spec.name),
            ));
        }
        let (local_taken, existing) = match self.datapath(dp) {
            Some(d) => (d.vports.contains_key(&OVSP_LOCAL), &d.vports),
            None => return Err(ControlError::new(libc::ENODEV, "no such datapath")),
        };
        let requested = if local {
            Some(OVSP_LOCAL)
        } else {
            spec.port_no
        };
        let port_no = if local {
            if local_taken {
                return Err(ControlError::new(libc::EBUSY, "local port exists"));
            }
            OVSP_LOCAL
        } else {
            vport::allocate_port_no(existing, requested)
                .map_err(|e| ControlError::new(e, format!("port number for {}", spec.name)))?
        };
        if self.find_vport(&spec.name).is_some()
            || (!local && self.find_datapath(&spec.name).is_some())
        {
            return Err(ControlError::new(
                libc::EEXIST,
                format!("{} already exists", spec.name),
            ));
        }
        if spec.kind == VportKind::Internal
            && nix::net::if_::if_nametoindex(spec.name.as_str()).is_ok()
        {
            return Err(ControlError::new(
                libc::EEXIST,
                format!("a network device named {} already exists", spec.name),
            ));
        }
        if spec.kind == VportKind::Netdev
            && spec.devargs.is_none()
            && nix::net::if_::if_nametoindex(spec.name.as_str()).is_err()
        {
            // A name-only netdev port attaches the kernel interface of that name, as the
            // kernel does; like the kernel, a missing interface is ENODEV.
            return Err(ControlError::new(
                libc::ENODEV,
                format!("no network device named {}", spec.name),
            ));
        }
        let devargs = spec
            .devargs
            .clone()
            .unwrap_or_else(|| vport::default_devargs(spec.kind, &spec.name));
        let n_pmds = self.pmds.len();
        let cfg = PortConfig {
            n_rxq: self.cfg.rxqs_per_port.max(1),
            n_txq: u16::try_from(n_pmds + 1).unwrap_or(u16::MAX),
            ..PortConfig::default()
        };
        let port = Port::hotplug(&self.eal, &devargs, &cfg, self.pool.clone())?;
        port.start()?;
        let ifindex = match spec.kind {
            VportKind::Internal => nix::net::if_::if_nametoindex(spec.name.as_str()).unwrap_or(0),
            VportKind::Netdev => devargs
                .split(',')
                .find_map(|kv| kv.strip_prefix("iface="))
                .and_then(|i| nix::net::if_::if_nametoindex(i).ok())
                .unwrap_or(0),
        };
        let counters = Arc::new(VportCounters::default());
        // A tx queue per PMD plus one for the control thread, or one shared queue.
        let exclusive = usize::from(port.n_txq()) > n_pmds;
        let shared = if exclusive {
            None
        } else {
            Some(Arc::new(Mutex::new(port.tx_queue(0)?)))
        };
        let slot_for = |q: usize| -> Result<TxSlot> {
            Ok(match &shared {
                None => TxSlot::Exclusive(port.tx_queue(u16::try_from(q).unwrap_or(0))?),
                Some(s) => TxSlot::Shared(s.clone()),
            })
        };
        let ctl_tx = slot_for(n_pmds)?;
        let mut pmd_tx = Vec::with_capacity(n_pmds);
        for p in 0..n_pmds {
            pmd_tx.push(slot_for(p)?);
        }
        let mut rxqs = Vec::new();
        for q in 0..port.n_rxq() {
            rxqs.push(port.rx_queue(q)?);
        }
        for (p, slot) in pmd_tx.into_iter().enumerate() {
            self.send(
                p,
                PmdCmd::AddTx {
                    dp,
                    port_no,
                    slot,
                    counters: counters.clone(),
                },
            );
        }
        let mut rxq_pmd = Vec::with_capacity(rxqs.len());
        for rxq in rxqs {
            let p = self.rr % n_pmds;
            self.rr += 1;
            rxq_pmd.push(p);
            tracing::info!(dp, port_no, port = %spec.name, queue = rxq.queue(), pmd = p, "rx queue assigned");
            self.send(p, PmdCmd::AddRxq { dp, port_no, rxq });
        }
        let v = Vport {
            port_no,
            name: spec.name.clone(),
            kind: spec.kind,
            devargs,
            upcall_pids: spec.upcall_pids,
            ifindex,
            options: spec.options,
            port,
            ctl_tx,
            counters,
        };
        tracing::info!(dp, port_no, port = %v.name, devargs = %v.devargs, driver = v.port.driver(), "port added");
        if let Some(d) = self.datapath_mut(dp) {
            lock(&d.view.ports).push(PortView {
                port_no,
                name: v.name.clone(),
                port: v.port.clone(),
                counters: v.counters.clone(),
                rxq_pmd,
            });
            d.vports.insert(port_no, v);
        }
        Ok(port_no)
    }

    /// Removes a non-local vport.
    ///
    /// # Errors
    /// ENODEV (no such datapath or port), EINVAL (the local port).
    pub fn del_vport(&mut self, dp: usize, port_no: u32) -> Result<()> {
        if port_no == OVSP_LOCAL {
            return Err(ControlError::new(
                libc::EINVAL,
                "the local port goes only with its datapath",
            ));
        }
        self.remove_vport(dp, port_no)
    }

    fn remove_vport(&mut self, dp: usize, port_no: u32) -> Result<()> {
        if !self
            .datapath(dp)
            .is_some_and(|d| d.vports.contains_key(&port_no))
        {
            return Err(ControlError::new(
                libc::ENODEV,
                format!("no port {port_no}"),
            ));
        }
        for p in 0..self.pmds.len() {
            self.send(p, PmdCmd::RemovePort { dp, port_no });
        }
        // The PMDs must let go of the queues before the device can close.
        self.sync_pmds();
        let d = self.datapath_mut(dp).expect("checked above");
        let v = d.vports.remove(&port_no).expect("checked above");
        // Readers let go of the device before it closes.
        lock(&d.view.ports).retain(|p| p.port_no != port_no);
        d.macs.forget_port(port_no);
        let name = v.name.clone();
        let Vport { port, ctl_tx, .. } = v;
        drop(ctl_tx);
        port.remove()?;
        tracing::info!(dp, port_no, port = %name, "port removed");
        Ok(())
    }

    /// Installs or modifies a flow with the kernel's FLOW NEW / SET semantics.
    ///
    /// # Errors
    /// ENODEV (datapath), EEXIST, ENOENT, EINVAL (actions).
    pub fn put_flow(
        &mut self,
        dp: usize,
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: &[Action],
        mode: PutMode,
    ) -> Result<()> {
        let (create, allow_create) = match mode {
            PutMode::Create => (true, true),
            PutMode::Modify => (false, false),
            PutMode::CreateOrModify => (false, true),
        };
        let compiled = CompiledActions::compile(actions)
            .map_err(|e| ControlError::new(e.errno(), format!("actions: {e}")))?;
        let d = self
            .datapath_mut(dp)
            .ok_or_else(|| ControlError::new(libc::ENODEV, "no such datapath"))?;
        let cmds = d
            .flows
            .put(ufid, key, mask, compiled, create, allow_create)
            .map_err(|e| match e {
                FlowTableError::Exists => ControlError::new(libc::EEXIST, "flow exists"),
                FlowTableError::NotFound => ControlError::new(libc::ENOENT, "no such flow"),
            })?;
        self.broadcast_flow(dp, cmds);
        self.publish_flow_counts(dp);
        Ok(())
    }

    /// Deletes one flow and returns it (for its final statistics).
    ///
    /// # Errors
    /// ENODEV (datapath), ENOENT (flow).
    pub fn del_flow(&mut self, dp: usize, ufid: u128) -> Result<Arc<Flow>> {
        let d = self
            .datapath_mut(dp)
            .ok_or_else(|| ControlError::new(libc::ENODEV, "no such datapath"))?;
        let (flow, cmds) = d
            .flows
            .del(ufid)
            .ok_or_else(|| ControlError::new(libc::ENOENT, "no such flow"))?;
        self.broadcast_flow(dp, cmds);
        self.publish_flow_counts(dp);
        Ok(flow)
    }

    /// Deletes every flow of a datapath.
    ///
    /// # Errors
    /// ENODEV (datapath).
    pub fn flush_flows(&mut self, dp: usize) -> Result<()> {
        let d = self
            .datapath_mut(dp)
            .ok_or_else(|| ControlError::new(libc::ENODEV, "no such datapath"))?;
        let cmds = d.flows.flush();
        self.broadcast_flow(dp, cmds);
        self.publish_flow_counts(dp);
        Ok(())
    }

    /// Datapath statistics, summed over PMDs.
    pub fn dp_stats(&self, dp: usize) -> Option<DpStats> {
        let d = self.datapath(dp)?;
        let mut s = DpStats {
            n_flows: d.flows.classifier().len() as u64,
            n_masks: u32::try_from(d.flows.classifier().n_masks()).unwrap_or(u32::MAX),
            n_lost: d.view.ctl_lost.load(Ordering::Relaxed),
            ..DpStats::default()
        };
        for c in &d.view.pmd {
            let emc = c.emc_hit.load(Ordering::Relaxed);
            let mf = c.megaflow_hit.load(Ordering::Relaxed);
            s.n_hit += emc + mf;
            s.n_cache_hit += emc;
            s.n_missed += c.missed.load(Ordering::Relaxed);
            s.n_lost += c.lost.load(Ordering::Relaxed);
            s.n_mask_hit += c.mask_hit.load(Ordering::Relaxed);
        }
        Some(s)
    }

    /// Per-PMD counters of a datapath.
    pub fn dp_pmd_counters(&self, dp: usize) -> &[Arc<DpPmdCounters>] {
        self.datapath(dp).map_or(&[], |d| &d.view.pmd)
    }

    /// Handles up to `max` queued upcalls; returns how many. Upcalls for ports (or datapaths,
    /// with per-CPU dispatch) that have a controller go to `sink`; the rest go through the
    /// standalone bridge.
    pub fn handle_upcalls(&mut self, max: usize, sink: &mut dyn UpcallSink) -> usize {
        let mut n = 0;
        let mut out = CtlTx {
            pool: Some(self.pool.clone()),
            ..CtlTx::default()
        };
        let now = Instant::now();
        // Called every control-loop round, so drops are reported within about a second.
        self.drop_warnings.check(&self.view, now);
        while n < max {
            let Some(up) = self.upcalls.pop() else { break };
            n += 1;
            let queued = up.queued_tsc;
            self.handle_upcall(up, now, &mut out, sink);
            let cycles = crate::dpdk::rdtsc().wrapping_sub(queued);
            self.view
                .upcall_latency
                .observe(cycles as f64 / self.view.tsc_hz as f64);
        }
        if n != 0 {
            out.flush(self);
        }
        n
    }

    /// Sends one upcall through `sink` and accounts for it like the kernel: a failure (pid 0,
    /// full or missing receiver) is `n_lost` and the in_port's `upcall_fail`.
    fn deliver(dp: &Datapath, sink: &mut dyn UpcallSink, msg: &UpcallMsg<'_>, in_port: u32) {
        let ok = msg.pid != 0 && sink.deliver(msg);
        if !ok {
            dp.view.ctl_lost.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(v) = dp.vports.get(&in_port) {
            let c = if ok {
                &v.counters.upcall_success
            } else {
                &v.counters.upcall_fail
            };
            VportCounters::add(c, 1);
        }
    }

    fn handle_upcall(
        &mut self,
        up: Upcall,
        now: Instant,
        out: &mut CtlTx,
        sink: &mut dyn UpcallSink,
    ) {
        let Upcall {
            dp,
            pmd,
            kind,
            pkt,
            key,
            md,
            ..
        } = up;
        let in_port = u32::from(md.in_port);
        let Some(d) = self.dps.get_mut(dp).and_then(Option::as_mut) else {
            return;
        };
        let hash = key.hash() as u32;
        match kind {
            UpcallKind::Action {
                pid,
                userdata,
                orig_len,
            } => {
                let action = Some((userdata.as_deref(), orig_len));
                let msg = d.upcall(d.action_pid(pid, pmd), &key, hash, pkt.data(), action);
                Self::deliver(d, sink, &msg, in_port);
                return;
            }
            UpcallKind::Miss => {
                if d.has_controller(in_port) {
                    let msg =
                        d.upcall(d.miss_pid(in_port, hash, pmd), &key, hash, pkt.data(), None);
                    Self::deliver(d, sink, &msg, in_port);
                    return;
                }
            }
        }
        // Standalone: the MAC-learning bridge decides, a megaflow makes it stick.
        let (decision, changed) = d.macs.decide(&key, now);
        if changed {
            let stale = d
                .slow_by_dst
                .remove(&(bridge::vlan_of(&key), key.eth_src()))
                .unwrap_or_default();
            let mut cmds = Vec::new();
            for ufid in stale {
                if let Some((_, c)) = d.flows.del(ufid) {
                    cmds.extend(c);
                }
            }
            self.broadcast_flow(dp, cmds);
            self.publish_flow_counts(dp);
        }
        let mut actions = std::mem::take(&mut self.slow_scratch);
        actions.clear();
        let Some(d) = self.datapath(dp) else { return };
        match decision {
            Decision::Forward(p) => actions.push(Action::Output(p)),
            Decision::Flood => actions.extend(
                d.vports
                    .values()
                    .filter(|v| v.port_no != in_port && v.floods())
                    .map(|v| Action::Output(v.port_no)),
            ),
            Decision::Drop => {}
        }
        // A flow matching this packet may exist already: one installed for an earlier packet
        // of the same flow that the PMDs had not applied when this one missed. Then there is
        // nothing to install (and nothing to compile for it).
        let install = d.flows.classifier().len() < self.cfg.flow_limit
            && d.flows.classifier().find_overlap(&key).is_none();
        let (list, compiled) = match self.slow_compiled.iter().position(|(a, _)| **a == *actions) {
            Some(i) => {
                let (a, c) = &self.slow_compiled[i];
                (Arc::clone(a), Arc::clone(c))
            }
            None => match CompiledActions::compile(&actions) {
                Ok(c) => {
                    if self.slow_compiled.len() == SLOW_COMPILED {
                        self.slow_compiled.remove(0);
                    }
                    let entry: (Arc<[Action]>, _) = (actions.as_slice().into(), Arc::new(c));
                    self.slow_compiled.push(entry.clone());
                    entry
                }
                Err(e) => {
                    tracing::warn!(error = %e, "slow path built invalid actions");
                    self.slow_scratch = actions;
                    return;
                }
            },
        };
        if install {
            self.next_ufid += 1;
            let ufid = self.next_ufid;
            if let Some(d) = self.datapath_mut(dp) {
                // Fresh UFID, and no flow matches the key (checked above).
                let cmd =
                    d.flows
                        .insert_new(ufid, &key, &bridge::normal_mask(), (*compiled).clone());
                d.slow_actions.insert(ufid, list);
                d.slow_by_dst
                    .entry((bridge::vlan_of(&key), key.eth_dst()))
                    .or_default()
                    .push(ufid);
                // Forget flows that are gone (deleted, flushed, moved).
                if d.slow_actions.len() > 2 * d.flows.classifier().len() + 1024 {
                    let cls = d.flows.classifier();
                    d.slow_actions.retain(|id, _| cls.get(*id).is_some());
                    d.slow_by_dst.retain(|_, ids| {
                        ids.retain(|id| cls.get(*id).is_some());
                        !ids.is_empty()
                    });
                }
                self.broadcast_flow(dp, [cmd]);
                self.publish_flow_counts(dp);
            }
        }
        // The bridge's actions are outputs only: they read neither the key nor the parse
        // state, so the upcall's key stands in and the frame is not parsed again.
        let info = if compiled.is_key_independent() {
            ExtractInfo {
                hash: 0,
                map: u32::MAX,
                l3_ofs: 0,
                l4_ofs: 0,
                status: fastpath::packet::ParseStatus::Ok,
            }
        } else {
            let mut k = FlowKey::ZERO;
            extract(pkt.data(), &md, &mut k)
        };
        let mut st = PacketState::new(&md, &key, &info);
        out.dp = dp;
        execute(&compiled, pkt, &mut st, out);
        self.slow_scratch = actions;
    }
}

impl Switch {
    /// Runs `actions` on `frame` with metadata `md` on the control thread (PACKET EXECUTE),
    /// transmitting through the vports' control tx queues. Userspace actions become ACTION
    /// upcalls through `sink` (to `upcall_pid` when the request named one).
    ///
    /// # Errors
    /// ENODEV (datapath), EINVAL (actions the fast path refuses), ENOMEM (no mbuf).
    pub fn execute(
        &mut self,
        dp: usize,
        frame: &[u8],
        md: &fastpath::packet::Metadata,
        actions: &[Action],
        upcall_pid: Option<u32>,
        sink: &mut dyn UpcallSink,
    ) -> Result<()> {
        if self.datapath(dp).is_none() {
            return Err(ControlError::new(libc::ENODEV, "no such datapath"));
        }
        let compiled = CompiledActions::compile(actions)
            .map_err(|e| ControlError::new(e.errno(), format!("actions: {e}")))?;
        let mut m = self
            .pool
            .alloc()
            .ok_or_else(|| ControlError::new(libc::ENOMEM, "no mbuf for EXECUTE"))?;
        if !m.set_data(frame) {
            return Err(ControlError::new(
                libc::EINVAL,
                "packet does not fit an mbuf",
            ));
        }
        let mut k = FlowKey::ZERO;
        let info = extract(frame, md, &mut k);
        let mut st = PacketState::new(md, &k, &info);
        let mut out = CtlTx {
            dp,
            pool: Some(self.pool.clone()),
            ..CtlTx::default()
        };
        execute(&compiled, m, &mut st, &mut out);
        let ups = std::mem::take(&mut out.upcalls);
        let recirc = std::mem::take(&mut out.recirc);
        out.flush(self);
        self.recirculate(dp, recirc, sink);
        if let Some(d) = self.datapath(dp) {
            let hash = k.hash() as u32;
            for (pid, userdata, data, orig_len) in ups {
                // The control thread stands for CPU 0 in per-CPU dispatch.
                let pid = upcall_pid.unwrap_or_else(|| d.action_pid(pid, 0));
                let action = Some((userdata.as_deref(), orig_len));
                let msg = d.upcall(pid, &k, hash, &data, action);
                Self::deliver(d, sink, &msg, u32::from(md.in_port));
            }
        }
        Ok(())
    }
}

impl Switch {
    /// Looks recirculated packets up again in the control thread's table (the kernel's
    /// `ovs_dp_process_packet`): a hit runs the flow's actions, a miss goes to the
    /// controller as a MISS upcall (or is dropped without one). At most
    /// [`MAX_RECIRC_PASSES`] rounds, like the kernel's recursion limit.
    fn recirculate(
        &mut self,
        dp: usize,
        mut pending: Vec<(Mbuf, fastpath::packet::Metadata)>,
        sink: &mut dyn UpcallSink,
    ) {
        for _ in 0..MAX_RECIRC_PASSES {
            if pending.is_empty() {
                return;
            }
            let mut out = CtlTx {
                dp,
                pool: Some(self.pool.clone()),
                ..CtlTx::default()
            };
            for (pkt, md) in pending.drain(..) {
                let Some(d) = self.datapath(dp) else { return };
                let mut k = FlowKey::ZERO;
                let info = extract(pkt.data(), &md, &mut k);
                match d.flows.classifier().lookup(&k).cloned() {
                    Some(flow) => {
                        let mut st = PacketState::new(&md, &k, &info);
                        execute(flow.actions(), pkt, &mut st, &mut out);
                    }
                    None => {
                        let in_port = u32::from(md.in_port);
                        let hash = k.hash() as u32;
                        let pid = d.miss_pid(in_port, hash, 0);
                        let msg = d.upcall(pid, &k, hash, pkt.data(), None);
                        Self::deliver(d, sink, &msg, in_port);
                    }
                }
            }
            pending = std::mem::take(&mut out.recirc);
            out.flush(self);
        }
        if !pending.is_empty() {
            tracing::debug!(
                dp,
                n = pending.len(),
                "recirculation limit: packets dropped"
            );
        }
    }
}

/// Lookups a packet may go through on the control thread (the kernel's recursion limit).
const MAX_RECIRC_PASSES: usize = 4;

/// `OVS_DP_F_UNALIGNED`.
pub const DP_F_UNALIGNED: u32 = 1 << 0;
/// `OVS_DP_F_DISPATCH_UPCALL_PER_CPU`.
pub const DP_F_DISPATCH_UPCALL_PER_CPU: u32 = 1 << 3;

/// One upcall as the control thread hands it to the netlink server.
#[derive(Debug)]
pub struct UpcallMsg<'a> {
    /// Netlink port id to send to (non-zero).
    pub pid: u32,
    /// ACTION (userspace action) rather than MISS.
    pub action: bool,
    /// The datapath's ifindex (`ovs_header`).
    pub dp_ifindex: u32,
    /// `OVS_DP_F_UNALIGNED` negotiated: the packet attribute goes unpadded.
    pub unaligned: bool,
    /// The packet's flow key.
    pub key: &'a FlowKey,
    /// The packet's hash.
    pub hash: u32,
    /// The userspace action's user data.
    pub userdata: Option<&'a [u8]>,
    /// Length before truncation, when truncated.
    pub orig_len: Option<usize>,
    /// The frame.
    pub packet: &'a [u8],
}

/// Where controller upcalls go (the netlink server); `deliver` must not block.
pub trait UpcallSink {
    /// Sends one upcall; false when it could not be delivered.
    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool;
}

/// A sink for runs without a control plane: every controller upcall is lost.
#[derive(Debug, Default)]
pub struct NoUpcalls;

impl UpcallSink for NoUpcalls {
    fn deliver(&mut self, _msg: &UpcallMsg<'_>) -> bool {
        false
    }
}

/// Locks a mutex shared with readers; a reader that panicked left nothing half-written (they
/// only read), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A userspace-action upcall raised by EXECUTE: (pid, userdata, data, original length).
type ExecUpcall = (u32, Option<Arc<[u8]>>, Vec<u8>, usize);

/// Packets the control thread sends, batched per port until the end of an upcall batch.
#[derive(Default)]
struct CtlTx {
    dp: usize,
    pool: Option<Arc<Mempool>>,
    queued: Vec<(usize, u32, MbufArray<BURST_SIZE>)>,
    dropped: u64,
    /// Userspace-action upcalls raised by EXECUTE: (pid, userdata, data, original length).
    upcalls: Vec<ExecUpcall>,
    /// Packets a RECIRC action sent back for another lookup, with their metadata.
    recirc: Vec<(Mbuf, fastpath::packet::Metadata)>,
}

impl CtlTx {
    fn flush(&mut self, sw: &mut Switch) {
        for (dp, port_no, mut pkts) in self.queued.drain(..) {
            match sw.datapath_mut(dp).and_then(|d| d.vports.get_mut(&port_no)) {
                Some(v) => {
                    let out = v.ctl_tx.send(&mut pkts);
                    VportCounters::add(&v.counters.tx_dropped, out.dropped as u64);
                }
                None => pkts.clear(),
            }
        }
    }
}

impl ExecContext<Mbuf> for CtlTx {
    fn output(&mut self, port: u32, pkt: Mbuf, _st: &PacketState<'_>) {
        let dp = self.dp;
        let i = match self
            .queued
            .iter()
            .position(|(d, p, a)| *d == dp && *p == port && a.spare() > 0)
        {
            Some(i) => i,
            None => {
                self.queued.push((dp, port, MbufArray::new()));
                self.queued.len() - 1
            }
        };
        let _ = self.queued[i].2.push(pkt);
    }

    fn clone_packet(&mut self, pkt: &Mbuf) -> Option<Mbuf> {
        let mut m = self.pool.as_ref()?.alloc()?;
        m.set_data(pkt.data()).then_some(m)
    }

    fn upcall(&mut self, data: &[u8], orig_len: usize, _st: &PacketState<'_>, u: &UserspaceAction) {
        self.upcalls
            .push((u.pid, u.userdata.clone(), data.to_vec(), orig_len));
    }

    fn recirculate(&mut self, pkt: Mbuf, st: &PacketState<'_>) {
        self.recirc.push((pkt, st.metadata()));
    }

    fn drop_packet(&mut self, pkt: Mbuf, _reason: DropReason) {
        self.dropped += 1;
        drop(pkt);
    }

    fn random_u32(&mut self) -> u32 {
        (crate::dpdk::rdtsc() as u32).rotate_left(13)
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        for h in &self.pmds {
            h.shared.quit.store(true, Ordering::Release);
        }
        for h in &mut self.pmds {
            if let Some(job) = h.job.take() {
                job.wait();
            }
        }
        // PMDs are gone; close every port (local ports last) and drop the flows.
        for dp in (0..self.dps.len()).rev() {
            if let Some(d) = self.dps[dp].take() {
                // The metrics view holds clones of the ports: let go of them first, or the
                // devices stay "in use" and are not removed.
                d.view
                    .ports
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
                let mut vports = d.vports;
                while let Some((_, v)) = vports.pop_last() {
                    let Vport {
                        port, ctl_tx, name, ..
                    } = v;
                    drop(ctl_tx);
                    if let Err(e) = port.remove() {
                        tracing::warn!(port = %name, error = %e, "closing port at shutdown");
                    }
                }
            }
        }
        while self.upcalls.pop().is_some() {}
    }
}
