//! The running dataplane: the EAL, the packet pool, PMD threads on worker lcores and the
//! DPDK devices behind vports (see `docs/architecture.md`). [`Runtime`] is the daemon's
//! [`Dataplane`]: the model calls it to open and close devices and to update the PMDs, the
//! slow path to send packets.

pub mod offload;
pub mod pmd;
pub mod ports;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::hash::BuildHasher;

use fastpath::conntrack::table::{Policy, Table};
use fastpath::emc::Emc;
use fastpath::pmd::FlowCmd;

use crate::dpdk::{
    rdtsc, tsc_hz, Eal, Mbuf, MbufArray, Mempool, Pools, Port, PortConfig, Promiscuity, StandIn,
    BURST_SIZE,
};
use crate::error::{Error, Result};
use crate::metrics::DropWarnings;
use crate::model::{Dataplane, Model, OpenedPort, PortRequest, Tables, VportKind};
use crate::slowpath::{Upcall, UpcallKind, UpcallSink};
use crate::stats::view::lock;
use crate::stats::{DpView, PmdShared, PmdView, PortStats, SwitchView, VportCounters};
use crate::Switch;
use pmd::commands::{CommandChannel, FlowUpdate, PmdCmd};
use pmd::rounds::LONG_ROUND_LOG_TARGET;
use pmd::thread::{PmdLinks, PmdThread};
use pmd::upcalls::UpcallQueue;
use pmd::{Pmd, PmdHandle};
use ports::TxSlot;

/// How the runtime is sized and tuned.
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker lcores that run PMD threads (default: every worker lcore).
    pub pmd_lcores: Option<Vec<u32>>,
    /// Mbufs in the packet pool.
    pub n_mbufs: u32,
    /// 64 KiB buffers for frames longer than the pool's (0: such frames are dropped).
    pub n_jumbo_mbufs: u32,
    /// EMC entries per PMD per datapath.
    pub emc_entries: usize,
    /// OVS's `emc-insert-inv-prob`: insert 1 in N megaflow hits (0 = EMC off).
    pub emc_insert_inv_prob: u32,
    /// Capacity of the PMD → control upcall queue.
    pub upcall_queue: usize,
    /// Receive queues per port.
    pub rxqs_per_port: u16,
    /// Count PMD cycles per stage (OVS's `pmd-perf-metrics`; a few TSC reads per burst).
    pub pmd_perf_metrics: bool,
    /// Netdev vport names that are DPDK devices: name → devargs (`--port-map`).
    pub port_map: BTreeMap<String, String>,
    /// Connections the conntrack table can hold (its memory is reserved as it fills).
    pub ct_capacity: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pmd_lcores: None,
            n_mbufs: 32768,
            n_jumbo_mbufs: 128,
            emc_entries: 8192,
            emc_insert_inv_prob: 100,
            upcall_queue: 8192,
            rxqs_per_port: 1,
            pmd_perf_metrics: false,
            port_map: BTreeMap::new(),
            // The kernel's `nf_conntrack_max` on a machine with this much memory.
            ct_capacity: 262_144,
        }
    }
}

/// Stand-in interfaces for the mapped names that are not kernel interfaces already.
fn stand_ins(map: &BTreeMap<String, String>) -> Result<Vec<StandIn>> {
    let mut made = Vec::new();
    for name in map.keys() {
        if nix::net::if_::if_nametoindex(name.as_str()).is_ok() {
            tracing::info!(port = %name, "mapped port has a kernel interface already");
            continue;
        }
        let s = StandIn::create(name).map_err(|e| Error::StandIn {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        tracing::info!(port = %name, devargs = %map[name], "stand-in interface created");
        made.push(s);
    }
    Ok(made)
}

/// Connection-table entries examined for expiry per millisecond: the whole default table
/// every 64 ms at most.
const CT_SWEEP_SLICE: usize = 4096;
/// Commands a PMD's ring holds; more wait in the control thread's backlog.
const CMD_QUEUE: usize = 16384;
/// Retired items a PMD can hand back before the control thread drops them (a full ring
/// makes the PMD drop the item itself: slower, never lost).
const RETIRED_QUEUE: usize = 64;
/// Long poll rounds a PMD can queue for logging: the control thread drains them within a
/// millisecond, and a PMD cannot have more than one long round per millisecond.
const LONG_ROUND_QUEUE: usize = 256;
/// How long a change that needs every PMD's acknowledgement (closing a device) waits.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// A device open for a vport.
#[derive(Debug)]
struct OpenPort {
    port: Port,
    /// The control thread's transmit queue (slow path, EXECUTE).
    ctl_tx: TxSlot,
    counters: Arc<VportCounters>,
    /// An internal port's hold on its interface's promiscuity.
    _promiscuity: Option<Promiscuity>,
    /// The PMDs its pinned rx queues went to (one entry per queue).
    pinned: Vec<usize>,
}

/// The daemon's dataplane.
pub struct Runtime {
    eal: Eal,
    pools: Pools,
    pool: Arc<Mempool>,
    pmds: Vec<PmdHandle>,
    upcalls: Arc<UpcallQueue>,
    ports: HashMap<(usize, u32), OpenPort>,
    /// Packets the control thread queued for transmission, by (datapath, port).
    tx: Vec<(usize, u32, MbufArray<BURST_SIZE>)>,
    /// The next PMD to get an rx queue.
    rr: usize,
    cfg: Config,
    view: Arc<SwitchView>,
    drop_warnings: DropWarnings,
    conntrack: Arc<Table>,
    /// When the connection table was last swept (CLOCK_MONOTONIC ms).
    ct_swept_ms: u64,
    /// Kernel interfaces standing in for the mapped DPDK devices.
    _stand_ins: Vec<StandIn>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("pmds", &self.pmd_lcores())
            .field("ports", &self.ports.len())
            .finish()
    }
}

impl Runtime {
    /// Creates the packet pool and starts one PMD thread per PMD lcore.
    ///
    /// # Errors
    /// [`Error::Invalid`] without a worker lcore to run a PMD on; the DPDK error when the
    /// pool cannot be made or a thread launched.
    pub fn start(eal: Eal, cfg: Config) -> Result<Runtime> {
        let lcores = cfg
            .pmd_lcores
            .clone()
            .unwrap_or_else(|| eal.worker_lcores());
        if lcores.is_empty() {
            return Err(Error::Invalid(
                "lcore set: give EAL at least two cores (e.g. -l 0-1), one for a PMD thread",
            ));
        }
        let stand_ins = stand_ins(&cfg.port_map)?;
        let pool = Arc::new(Mempool::new(&eal, "dpswitch_pkts", cfg.n_mbufs, 256, -1)?);
        let large = match cfg.n_jumbo_mbufs {
            0 => None,
            n => Some(Arc::new(Mempool::with_data_room(
                &eal,
                "dpswitch_jumbo",
                n,
                0,
                u16::MAX,
                -1,
            )?)),
        };
        let pools = Pools {
            small: pool.clone(),
            large,
        };
        let upcalls = Arc::new(UpcallQueue::new(cfg.upcall_queue, lcores.len()));
        let seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        let conntrack = Arc::new(Table::new(cfg.ct_capacity, seed, Policy::default()));
        let mut pmds = Vec::with_capacity(lcores.len());
        for (id, &lcore) in lcores.iter().enumerate() {
            let (cmds, pmd_cmds) = rtrb::RingBuffer::new(CMD_QUEUE);
            let (pmd_retired, retired) = rtrb::RingBuffer::new(RETIRED_QUEUE);
            let (pmd_long_rounds, long_rounds) = rtrb::RingBuffer::new(LONG_ROUND_QUEUE);
            let shared = Arc::new(PmdShared::default());
            shared
                .stage_timing
                .store(cfg.pmd_perf_metrics, Ordering::Relaxed);
            let thread = PmdThread::new(
                id,
                PmdLinks {
                    cmds: pmd_cmds,
                    retired: pmd_retired,
                    long_rounds: pmd_long_rounds,
                    upcalls: upcalls.clone(),
                    conntrack: conntrack.clone(),
                },
                pools.clone(),
                shared.clone(),
            );
            let job = eal.launch(lcore, move || thread.run())?;
            tracing::info!(pmd = id, lcore, "PMD thread started");
            pmds.push(PmdHandle {
                lcore,
                cmds: CommandChannel::new(cmds),
                retired,
                long_rounds,
                shared,
                job: Some(job),
            });
        }
        let view = Arc::new(SwitchView::new(
            pmds.iter()
                .enumerate()
                .map(|(id, h)| PmdView {
                    id,
                    lcore: h.lcore,
                    numa: eal.lcore_socket(h.lcore),
                    shared: h.shared.clone(),
                })
                .collect(),
            tsc_hz(),
        ));
        Ok(Runtime {
            eal,
            pools,
            pool,
            pmds,
            upcalls,
            ports: HashMap::new(),
            tx: Vec::new(),
            rr: 0,
            cfg,
            view,
            drop_warnings: DropWarnings::default(),
            conntrack,
            ct_swept_ms: 0,
            _stand_ins: stand_ins,
        })
    }

    /// The EAL.
    pub fn eal(&self) -> &Eal {
        &self.eal
    }

    /// The lcore of each PMD.
    pub fn pmd_lcores(&self) -> Vec<u32> {
        self.pmds.iter().map(|p| p.lcore).collect()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// What other threads (metrics) may read.
    pub fn view(&self) -> &Arc<SwitchView> {
        &self.view
    }

    /// The device of port `port_no` of datapath `dp`.
    pub fn port(&self, dp: usize, port_no: u32) -> Option<&Port> {
        self.ports.get(&(dp, port_no)).map(|p| &p.port)
    }

    /// An empty EMC for a PMD's fast path of datapath slot `dp`. Built here: allocating and
    /// zeroing one (about 1 MB) would stall a poll loop for up to 1.5 ms.
    fn new_emc(&self, dp: usize, pmd: usize) -> Emc {
        new_emc(self.cfg.emc_entries, self.cfg.emc_insert_inv_prob, dp, pmd)
    }

    /// Advances the connection table's clock, keeps free entries ahead of the PMDs and
    /// removes expired connections, a slice per millisecond.
    fn maintain_conntrack(&mut self) {
        let now = fastpath::flow::monotonic_ms();
        if now == self.ct_swept_ms {
            return;
        }
        self.ct_swept_ms = now;
        let ct = &self.conntrack;
        ct.tick(now);
        ct.grow();
        ct.sweep(CT_SWEEP_SLICE);
    }

    /// Waits until every PMD has applied every command sent so far.
    fn sync_pmds(&mut self, tables: Tables<'_>) {
        let (entries, inv_prob) = (self.cfg.emc_entries, self.cfg.emc_insert_inv_prob);
        for (pmd, h) in self.pmds.iter_mut().enumerate() {
            let mut snapshot = |dp| Some(resync(tables, entries, inv_prob, dp, pmd));
            if !h.sync(SYNC_TIMEOUT, &mut snapshot) {
                tracing::warn!(pmd, "PMD did not apply its commands within 5 s");
            }
        }
    }

    /// The control thread's periodic work: pushes the PMDs' command backlogs on (building
    /// resynchronisations from `model`), drops what they retired, logs their long rounds,
    /// and publishes the gauges readers see.
    pub fn maintain(&mut self, model: &Model) {
        self.maintain_conntrack();
        let (entries, inv_prob) = (self.cfg.emc_entries, self.cfg.emc_insert_inv_prob);
        let tables = |dp| model.classifier(dp);
        for (pmd, h) in self.pmds.iter_mut().enumerate() {
            h.cmds
                .pump(&mut |dp| Some(resync(&tables, entries, inv_prob, dp, pmd)));
            while let Ok(garbage) = h.retired.pop() {
                drop(garbage);
            }
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
            }
        }
        let v = &self.view;
        v.upcall_backlog
            .store(self.upcalls.len() as u64, Ordering::Relaxed);
        v.mbufs_in_use
            .store(u64::from(self.pool.in_use()), Ordering::Relaxed);
    }
}

impl Runtime {
    /// Sleeps up to `ms` milliseconds for whichever comes first: something readable on one
    /// of `fds` (the control sockets) or, unless `upcalls_held` (their receiver is full), an
    /// upcall (the PMDs ring the queue's doorbell). Returns at once if upcalls are waiting
    /// and not held.
    pub fn wait(&self, fds: &[std::os::fd::BorrowedFd<'_>], ms: u16, upcalls_held: bool) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut polled: Vec<PollFd<'_>> = fds
            .iter()
            .map(|&fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        if upcalls_held {
            let _ = poll(&mut polled, PollTimeout::from(ms));
            return;
        }
        if !self.upcalls.prepare_to_sleep() {
            return;
        }
        polled.push(PollFd::new(self.upcalls.doorbell(), PollFlags::POLLIN));
        // EINTR (a signal) just ends the wait early.
        let _ = poll(&mut polled, PollTimeout::from(ms));
        self.upcalls.awake();
    }
}

/// The next PMD after `rr`, round robin, among those with no pinned queue (OVS's
/// isolation); any of them if every PMD has one.
fn next_unpinned_pmd(rr: &mut usize, view: &SwitchView) -> usize {
    let n = view.pmds.len().max(1);
    let free = |p: usize| {
        view.pmds
            .get(p)
            .is_some_and(|v| v.shared.pinned_rxqs.load(Ordering::Relaxed) == 0)
    };
    let p = (0..n)
        .map(|i| (*rr + i) % n)
        .find(|&p| free(p))
        .unwrap_or_else(|| {
            tracing::warn!("every PMD has pinned queues: an unpinned queue shares one");
            *rr % n
        });
    *rr = p + 1;
    p
}

/// An empty EMC of `entries` for PMD `pmd`'s fast path of datapath `dp`, seeded apart from
/// the others.
fn new_emc(entries: usize, inv_prob: u32, dp: usize, pmd: usize) -> Emc {
    let mut emc = Emc::new(entries, inv_prob);
    emc.seed(rdtsc() ^ ((dp as u64) << 32) ^ pmd as u64);
    emc
}

/// The classifier PMD `pmd` resynchronises datapath `dp` to: the authoritative one, with an
/// empty EMC (an empty classifier for a datapath that is gone: its removal follows).
fn resync(tables: Tables<'_>, entries: usize, inv_prob: u32, dp: usize, pmd: usize) -> FlowUpdate {
    let emc = new_emc(entries, inv_prob, dp, pmd);
    match tables(dp) {
        Some(cls) => FlowUpdate::replace(cls.flows(), cls.mask_cache_size(), emc),
        None => FlowUpdate::replace(std::iter::empty(), 0, emc),
    }
}

/// Handles up to `max` queued upcalls through `sw`'s slow path; returns how many. Upcalls
/// for ports (or datapaths, with per-CPU dispatch) that have a controller go to `sink`; the
/// rest go through the standalone bridge.
pub fn handle_upcalls(sw: &mut Switch<Runtime>, max: usize, sink: &mut dyn UpcallSink) -> usize {
    let now = Instant::now();
    // Called every control-loop round, so drops are reported within about a second.
    sw.plane.drop_warnings.check(&sw.plane.view, now);
    let mut n = 0;
    // While a receiver is full the upcalls stay queued (and the PMDs count what no longer
    // fits as lost): draining them now would only lose them here, on the core that the
    // receiver needs to catch up.
    while n < max && !sink.refusing() {
        let Some(q) = sw.plane.upcalls.pop() else {
            break;
        };
        n += 1;
        if q.up.pkt.offload().is_none() {
            sw.slow
                .handle(&mut sw.model, &mut sw.plane, q.up, now, sink);
        } else {
            // Userspace gets finished checksums, and a GSO packet as its segments, each an
            // upcall of its own (`queue_gso_packets()`).
            let Upcall {
                dp,
                pmd,
                kind,
                pkt,
                key,
                md,
            } = q.up;
            let mut segs = Vec::new();
            let lost = offload::resolve(pkt, &sw.plane.pools, |m| segs.push(m));
            if let Some(d) = sw.model.datapath(dp) {
                d.view.ctl_lost.fetch_add(lost, Ordering::Relaxed);
            }
            for seg in segs {
                let kind = match &kind {
                    UpcallKind::Action { pid, userdata, .. } => UpcallKind::Action {
                        pid: *pid,
                        userdata: userdata.clone(),
                        orig_len: seg.len(),
                    },
                    UpcallKind::Miss => UpcallKind::Miss,
                };
                let up = Upcall {
                    dp,
                    pmd,
                    kind,
                    pkt: seg,
                    key,
                    md,
                };
                sw.slow.handle(&mut sw.model, &mut sw.plane, up, now, sink);
            }
        }
        let cycles = rdtsc().wrapping_sub(q.tsc);
        let view = &sw.plane.view;
        view.upcall_latency
            .observe(cycles as f64 / view.tsc_hz as f64);
    }
    if n != 0 {
        sw.plane.flush();
    }
    n
}

impl Dataplane for Runtime {
    type Packet = Mbuf;

    fn n_pmds(&self) -> usize {
        self.pmds.len()
    }

    fn add_datapath(&mut self, dp: usize, view: &Arc<DpView>) {
        for p in 0..self.pmds.len() {
            let mut pmd = Box::new(Pmd::new(p, self.new_emc(dp, p)));
            pmd.set_stage_timing(self.cfg.pmd_perf_metrics);
            let counters = view.pmd[p].clone();
            self.pmds[p].cmds.send(PmdCmd::AddDp { dp, pmd, counters });
        }
    }

    fn remove_datapath(&mut self, dp: usize, tables: Tables<'_>) {
        for h in &mut self.pmds {
            h.cmds.send(PmdCmd::RemoveDp { dp });
        }
        // Their fast paths come back through the retired queues.
        self.sync_pmds(tables);
    }

    fn open_port(&mut self, dp: usize, port_no: u32, req: &PortRequest<'_>) -> Result<OpenedPort> {
        let kernel_ifindex = |name: &str| nix::net::if_::if_nametoindex(name).ok();
        let mapped = match (req.kind, req.devargs) {
            (VportKind::Netdev, None) => self.cfg.port_map.get(req.name).map(String::as_str),
            _ => None,
        };
        let req = &PortRequest {
            devargs: req.devargs.or(mapped),
            ..*req
        };
        match req.kind {
            VportKind::Internal if kernel_ifindex(req.name).is_some() => {
                return Err(Error::Exists(format!("network device {}", req.name)));
            }
            // A name-only netdev port attaches the kernel interface of that name, as the
            // kernel does; like the kernel, a missing interface is ENODEV.
            VportKind::Netdev if req.devargs.is_none() && kernel_ifindex(req.name).is_none() => {
                return Err(Error::NoNetdev(req.name.to_string()));
            }
            _ => {}
        }
        let devargs = req.devargs.map_or_else(
            || ports::default_devargs(req.kind, req.name),
            str::to_string,
        );
        let n_pmds = self.pmds.len();
        let internal = req.kind == VportKind::Internal;
        let cfg = PortConfig {
            n_rxq: req.n_rxq.unwrap_or(self.cfg.rxqs_per_port).max(1),
            n_txq: u16::try_from(n_pmds + 1).unwrap_or(u16::MAX),
            // An internal port's promiscuity is a hold of its own (below), as the kernel
            // takes one, not the flag a user sets, which the TAP driver would set.
            promiscuous: !internal,
            jumbo: self.pools.large.clone(),
            ..PortConfig::default()
        };
        let port = Port::hotplug(&self.eal, &devargs, &cfg, self.pool.clone())?;
        port.start()?;
        // The kernel creates internal ports down and promiscuous (`internal_dev_create()`);
        // the host brings them up, after the controller has associated the port.
        let promiscuity = if internal {
            if let Err(e) = port.set_link_up(false) {
                tracing::warn!(port = req.name, error = %e, "internal port left up");
            }
            Promiscuity::hold(req.name)
                .inspect_err(|e| tracing::warn!(port = req.name, error = %e, "internal port not promiscuous"))
                .ok()
        } else {
            None
        };
        let ifindex = match (req.kind, mapped) {
            (VportKind::Internal, _) | (VportKind::Netdev, Some(_)) => kernel_ifindex(req.name),
            (VportKind::Netdev, None) => devargs
                .split(',')
                .find_map(|kv| kv.strip_prefix("iface="))
                .and_then(kernel_ifindex),
        }
        .unwrap_or(0);
        // A tx queue per PMD plus one for the control thread, or one shared queue.
        let shared = if usize::from(port.n_txq()) > n_pmds {
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
        // Pinned queues first: their PMDs are then isolated from the others.
        let mut placed = vec![None; rxqs.len()];
        for &(q, core) in req.rxq_affinity {
            let Some(slot) = placed.get_mut(usize::from(q)) else {
                return Err(Error::Invalid(
                    "pmd-rxq-affinity names a queue the port lacks",
                ));
            };
            let pmd = self
                .pmds
                .iter()
                .position(|h| h.lcore == core)
                .ok_or(Error::Invalid(
                    "pmd-rxq-affinity names a core that runs no PMD",
                ))?;
            *slot = Some(pmd);
        }
        let pinned: Vec<usize> = placed.iter().flatten().copied().collect();
        for &p in &pinned {
            self.view.pmds[p]
                .shared
                .pinned_rxqs
                .fetch_add(1, Ordering::Relaxed);
        }
        for (p, slot) in pmd_tx.into_iter().enumerate() {
            self.pmds[p].cmds.send(PmdCmd::AddTx {
                dp,
                port_no,
                slot,
                counters: req.counters.clone(),
            });
        }
        let mut rxq_pmd = Vec::with_capacity(rxqs.len());
        let mut rxq_cycles = Vec::with_capacity(rxqs.len());
        for (rxq, pin) in rxqs.into_iter().zip(placed) {
            let p = match pin {
                Some(p) => p,
                None => next_unpinned_pmd(&mut self.rr, &self.view),
            };
            rxq_pmd.push(p);
            tracing::info!(
                dp,
                port_no,
                port = req.name,
                queue = rxq.queue(),
                pmd = p,
                "rx queue assigned"
            );
            let cycles = Arc::new(AtomicU64::new(0));
            rxq_cycles.push(cycles.clone());
            self.pmds[p].cmds.send(PmdCmd::AddRxq {
                dp,
                port_no,
                rxq,
                local: req.kind == VportKind::Internal,
                cycles,
            });
        }
        tracing::debug!(
            dp,
            port_no,
            port = req.name,
            driver = port.driver(),
            "device opened"
        );
        let device = Arc::new(port.clone());
        self.ports.insert(
            (dp, port_no),
            OpenPort {
                port,
                ctl_tx,
                counters: req.counters.clone(),
                _promiscuity: promiscuity,
                pinned,
            },
        );
        Ok(OpenedPort {
            devargs,
            ifindex,
            device,
            rxq_pmd,
            rxq_cycles,
        })
    }

    fn close_port(&mut self, dp: usize, port_no: u32, tables: Tables<'_>) -> Result<()> {
        let Some(p) = self.ports.remove(&(dp, port_no)) else {
            return Ok(());
        };
        for h in &mut self.pmds {
            h.cmds.send(PmdCmd::RemovePort { dp, port_no });
        }
        // The PMDs must let go of the queues before the device can close.
        self.sync_pmds(tables);
        self.tx.retain(|(d, n, _)| !(*d == dp && *n == port_no));
        for &pmd in &p.pinned {
            self.view.pmds[pmd]
                .shared
                .pinned_rxqs
                .fetch_sub(1, Ordering::Relaxed);
        }
        let OpenPort { port, ctl_tx, .. } = p;
        drop(ctl_tx);
        port.remove()?;
        Ok(())
    }

    fn port_stats(&self, dp: usize, port_no: u32) -> PortStats {
        self.ports
            .get(&(dp, port_no))
            .and_then(|p| p.port.stats().ok())
            .unwrap_or_default()
    }

    fn update_flows(&mut self, dp: usize, cmd: FlowCmd, tables: Tables<'_>) {
        for p in 0..self.pmds.len() {
            let update = match &cmd {
                FlowCmd::Flush => FlowUpdate::Flush {
                    emc: self.new_emc(dp, p),
                },
                c => FlowUpdate::Cmd(c.clone()),
            };
            let (entries, inv_prob) = (self.cfg.emc_entries, self.cfg.emc_insert_inv_prob);
            let mut snapshot = |d| Some(resync(tables, entries, inv_prob, d, p));
            self.pmds[p].cmds.send_flows(dp, update, &mut snapshot);
        }
    }

    fn packet(&mut self, frame: &[u8]) -> Result<Mbuf> {
        let mut m = self
            .pools
            .alloc_for(frame.len())
            .ok_or(Error::NoMemory("packet buffers"))?;
        if !m.set_len(frame.len()) {
            return Err(Error::Invalid("packet larger than a buffer"));
        }
        m.data_mut().copy_from_slice(frame);
        Ok(m)
    }

    fn transmit(&mut self, dp: usize, port_no: u32, pkt: Mbuf) {
        let i = match self
            .tx
            .iter()
            .position(|(d, p, a)| *d == dp && *p == port_no && a.spare() > 0)
        {
            Some(i) => i,
            None => {
                self.tx.push((dp, port_no, MbufArray::new()));
                self.tx.len() - 1
            }
        };
        let _ = self.tx[i].2.push(pkt);
    }

    fn flush(&mut self) {
        for (dp, port_no, mut pkts) in self.tx.drain(..) {
            match self.ports.get_mut(&(dp, port_no)) {
                Some(p) => {
                    let out = p.ctl_tx.send(&mut pkts);
                    VportCounters::add(&p.counters.tx_dropped, out.dropped as u64);
                }
                None => pkts.clear(),
            }
        }
    }

    fn conntrack(&self) -> &Arc<Table> {
        &self.conntrack
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for h in &self.pmds {
            h.shared.quit.store(true, Ordering::Release);
        }
        for h in &mut self.pmds {
            if let Some(job) = h.job.take() {
                job.wait();
            }
        }
        self.tx.clear();
        // Readers hold clones of the devices: let go of them first, or the devices stay
        // "in use" and are not removed. Local ports (number 0) go last.
        for dp in lock(&self.view.dps).iter() {
            lock(&dp.ports).clear();
        }
        let mut ports: Vec<_> = self.ports.drain().collect();
        ports.sort_by_key(|((dp, port_no), _)| (*dp, std::cmp::Reverse(*port_no)));
        for ((dp, port_no), p) in ports {
            let OpenPort { port, ctl_tx, .. } = p;
            drop(ctl_tx);
            if let Err(e) = port.remove() {
                tracing::warn!(dp, port_no, error = %e, "closing port at shutdown");
            }
        }
        while self.upcalls.pop().is_some() {}
    }
}
