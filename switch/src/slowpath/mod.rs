//! The control thread's packet work: upcalls from the PMDs, routed to a controller or to the
//! standalone bridge, and PACKET EXECUTE with its recirculation loop
//! ([`SlowPath::execute`]).

pub mod bridge;
mod execute;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use fastpath::actions::{self, CompiledActions, PacketState};
use fastpath::flow::FlowKey;
use fastpath::packet::{extract, ExtractInfo, Metadata, PacketBuf, ParseStatus};
use odp::action::Action;

pub use bridge::{Bridge, Decision, MacTable};

use crate::model::{Datapath, Dataplane, Model};
use crate::stats::VportCounters;
use execute::ControlExec;

/// Why the control thread gets a packet.
#[derive(Debug, Clone)]
pub enum UpcallKind {
    /// No flow matched.
    Miss,
    /// A `userspace` action.
    Action {
        /// Where the upcall goes.
        pid: u32,
        /// The action's user data.
        userdata: Option<Arc<[u8]>>,
        /// Length before truncation.
        orig_len: usize,
    },
}

/// A packet a PMD hands the control thread.
#[derive(Debug)]
pub struct Upcall<P> {
    /// Datapath slot.
    pub dp: usize,
    /// The PMD that sent it (the "CPU" of per-CPU dispatch).
    pub pmd: usize,
    /// Why.
    pub kind: UpcallKind,
    /// The packet.
    pub pkt: P,
    /// Its flow key.
    pub key: FlowKey,
    /// Its metadata.
    pub md: Metadata,
}

/// One upcall as it goes to a controller.
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

    /// A receiver recently refused an upcall for want of room: more upcalls now would be
    /// lost, so the caller had better let it catch up.
    fn refusing(&self) -> bool {
        false
    }
}

/// A sink for runs without a control plane: every controller upcall is lost.
#[derive(Debug, Default)]
pub struct NoUpcalls;

impl UpcallSink for NoUpcalls {
    fn deliver(&mut self, _msg: &UpcallMsg<'_>) -> bool {
        false
    }
}

/// Whether misses from `in_port` go to a controller. Per-CPU dispatch without a single
/// non-zero pid means none is listening (ovs-dpctl's open sequence leaves a datapath like
/// that): the standalone bridge keeps forwarding rather than losing every miss.
fn has_controller(d: &Datapath, in_port: u32) -> bool {
    (d.per_cpu() && d.per_cpu_pids.iter().any(|&p| p != 0))
        || d.vports.get(&in_port).is_some_and(|v| v.has_controller())
}

/// The per-CPU pid of `cpu` (a PMD; the control thread is 0), 0 if none.
fn cpu_pid(d: &Datapath, cpu: usize) -> u32 {
    match d.per_cpu_pids.len() {
        0 => 0,
        n => d.per_cpu_pids[cpu % n],
    }
}

/// Where a MISS upcall of a packet from `in_port` with `hash`, raised on `cpu`, goes, like
/// `net/openvswitch/datapath.c`, `ovs_dp_get_upcall_portid()`: the CPU's pid under per-CPU
/// dispatch, else one of the in_port's pids by hash (0: none).
fn miss_pid(d: &Datapath, in_port: u32, hash: u32, cpu: usize) -> u32 {
    if d.per_cpu() {
        cpu_pid(d, cpu)
    } else {
        d.vports
            .get(&in_port)
            .and_then(|v| v.upcall_pid(hash))
            .unwrap_or(0)
    }
}

/// Where an ACTION upcall raised on `cpu` for a userspace action naming `action_pid` goes:
/// the CPU's pid under per-CPU dispatch, else the action's.
fn action_pid(d: &Datapath, action_pid: u32, cpu: usize) -> u32 {
    if d.per_cpu() {
        cpu_pid(d, cpu)
    } else {
        action_pid
    }
}

/// An upcall of datapath `d`: MISS, or ACTION with `(userdata, original length)`.
fn upcall_msg<'a>(
    d: &Datapath,
    pid: u32,
    key: &'a FlowKey,
    packet: &'a [u8],
    action: Option<(Option<&'a [u8]>, usize)>,
) -> UpcallMsg<'a> {
    UpcallMsg {
        pid,
        action: action.is_some(),
        dp_ifindex: d.ifindex,
        unaligned: d.unaligned(),
        key,
        hash: upcall_hash(key),
        userdata: action.and_then(|(u, _)| u),
        orig_len: action.map(|(_, len)| len).filter(|&len| len > packet.len()),
        packet,
    }
}

/// The hash an upcall carries and MISS dispatch picks a pid by: the key's.
fn upcall_hash(key: &FlowKey) -> u32 {
    // The low half: the key hash mixes every word into both halves.
    (key.hash() & u64::from(u32::MAX)) as u32
}

/// Sends one upcall through `sink` and accounts for it like the kernel: a failure (pid 0,
/// full or missing receiver) is `n_lost` and the in_port's `upcall_fail`.
fn deliver(d: &Datapath, sink: &mut dyn UpcallSink, msg: &UpcallMsg<'_>, in_port: u32) {
    let ok = msg.pid != 0 && sink.deliver(msg);
    if !ok {
        d.view.ctl_lost.fetch_add(1, Relaxed);
    }
    if let Some(v) = d.vports.get(&in_port) {
        let c = if ok {
            &v.counters.upcall_success
        } else {
            &v.counters.upcall_fail
        };
        VportCounters::add(c, 1);
    }
}

/// Distinct action lists the slow path keeps compiled.
const COMPILED_CACHE: usize = 16;

/// The slow path's own state.
#[derive(Debug)]
pub struct SlowPath {
    /// Above this many flows in a datapath the bridge still forwards misses but installs
    /// nothing.
    flow_limit: usize,
    /// Recent action lists, compiled: a bridge decides between a handful of lists (forward
    /// to p, flood from p), so misses reuse these instead of compiling and allocating.
    compiled: Vec<(Arc<[Action]>, Arc<CompiledActions>)>,
    /// Reused buffer for the action list the bridge builds per miss.
    scratch: Vec<Action>,
    /// State of the pseudo-random numbers SAMPLE draws.
    rng: u64,
}

impl SlowPath {
    /// A slow path whose bridge installs flows up to `flow_limit` per datapath.
    pub fn new(flow_limit: usize) -> Self {
        SlowPath {
            flow_limit,
            compiled: Vec::new(),
            scratch: Vec::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Handles one upcall: to the controller of its datapath or in_port if there is one,
    /// else through the standalone bridge, which forwards the packet and installs the
    /// megaflow OVS's NORMAL action would. Packets go out at the caller's next
    /// [`Dataplane::flush`].
    pub fn handle<D: Dataplane>(
        &mut self,
        model: &mut Model,
        plane: &mut D,
        up: Upcall<D::Packet>,
        now: Instant,
        sink: &mut dyn UpcallSink,
    ) {
        let Upcall {
            dp,
            pmd,
            kind,
            pkt,
            key,
            md,
        } = up;
        let in_port = u32::from(md.in_port);
        let Some(d) = model.datapath(dp) else {
            return;
        };
        match kind {
            UpcallKind::Action {
                pid,
                userdata,
                orig_len,
            } => {
                let action = Some((userdata.as_deref(), orig_len));
                let msg = upcall_msg(d, action_pid(d, pid, pmd), &key, pkt.data(), action);
                deliver(d, sink, &msg, in_port);
                return;
            }
            UpcallKind::Miss if has_controller(d, in_port) => {
                let pid = miss_pid(d, in_port, upcall_hash(&key), pmd);
                let msg = upcall_msg(d, pid, &key, pkt.data(), None);
                deliver(d, sink, &msg, in_port);
                return;
            }
            UpcallKind::Miss => {}
        }
        self.bridge(model, plane, dp, pkt, &key, &md, now);
    }

    /// The standalone bridge's answer to a miss.
    #[allow(clippy::too_many_arguments)]
    fn bridge<D: Dataplane>(
        &mut self,
        model: &mut Model,
        plane: &mut D,
        dp: usize,
        pkt: D::Packet,
        key: &FlowKey,
        md: &Metadata,
        now: Instant,
    ) {
        let in_port = u32::from(md.in_port);
        let Some(d) = model.datapath_mut(dp) else {
            return;
        };
        let (decision, changed) = d.bridge.macs.decide(key, now);
        if changed {
            // The source MAC is new or moved: flows that sent to it elsewhere are wrong now.
            let stale = d.bridge.take_flows_to(bridge::vlan_of(key), key.eth_src());
            let cmds: Vec<_> = stale
                .into_iter()
                .filter_map(|id| d.flows.del(id).ok().map(|(_, _, cmd)| cmd))
                .collect();
            d.publish_flow_counts();
            for cmd in cmds {
                plane.update_flows(dp, cmd, &|i| model.classifier(i));
            }
        }
        let Some(d) = model.datapath(dp) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.scratch);
        actions.clear();
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
        let Some((list, compiled)) = self.compiled(&actions) else {
            self.scratch = actions;
            return;
        };
        self.scratch = actions;
        // A flow matching this packet may exist already: one installed for an earlier
        // packet of the same flow that the PMDs had not applied when this one missed. Then
        // there is nothing to install.
        let cls = d.flows.classifier();
        if cls.len() < self.flow_limit && cls.find_overlap(key).is_none() {
            let id = model.next_flow_id();
            let d = model.datapath_mut(dp).expect("looked up above");
            let mask = bridge::normal_mask();
            let cmd = d
                .flows
                .insert_bridge(id, key, &mask, list, (*compiled).clone());
            d.bridge.installed(bridge::vlan_of(key), key.eth_dst(), id);
            let n_flows = d.flows.len();
            let flows = &d.flows;
            d.bridge.prune(n_flows, |id| flows.record(id).is_some());
            d.publish_flow_counts();
            plane.update_flows(dp, cmd, &|i| model.classifier(i));
        }
        // The bridge's actions are outputs only: they read neither the key nor the parse
        // state, so the upcall's key stands in and the frame is not parsed again.
        let info = if compiled.is_key_independent() {
            ExtractInfo {
                hash: 0,
                map: u32::MAX,
                l3_ofs: 0,
                l4_ofs: 0,
                status: ParseStatus::Ok,
            }
        } else {
            let mut k = FlowKey::ZERO;
            extract(pkt.data(), md, &mut k)
        };
        let mut st = PacketState::new(md, key, &info);
        let mut exec = ControlExec::new(plane, dp, &mut self.rng);
        actions::execute(&compiled, pkt, &mut st, &mut exec);
    }

    /// `actions` compiled, from the cache or compiled and cached now.
    fn compiled(&mut self, actions: &[Action]) -> Option<(Arc<[Action]>, Arc<CompiledActions>)> {
        if let Some((a, c)) = self.compiled.iter().find(|(a, _)| **a == *actions) {
            return Some((Arc::clone(a), Arc::clone(c)));
        }
        match CompiledActions::compile(actions) {
            Ok(c) => {
                if self.compiled.len() == COMPILED_CACHE {
                    self.compiled.remove(0);
                }
                let entry: (Arc<[Action]>, _) = (actions.into(), Arc::new(c));
                self.compiled.push(entry.clone());
                Some(entry)
            }
            Err(e) => {
                tracing::warn!(error = %e, "slow path built actions it cannot compile");
                None
            }
        }
    }
}
