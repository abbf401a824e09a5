//! Actions run on the control thread: the bridge's for a miss, and PACKET EXECUTE, whose
//! recirculated packets are looked up again in the authoritative classifier, as
//! `net/openvswitch/datapath.c`, `ovs_packet_cmd_execute()` runs them through
//! `ovs_execute_actions()` and the kernel's recirculation does.

use std::sync::Arc;

use fastpath::actions::UserspaceAction;
use fastpath::actions::{self, xorshift32, CompiledActions, DropReason, ExecContext, PacketState};
use fastpath::conntrack::table::Table;
use fastpath::flow::FlowKey;
use fastpath::packet::{extract, Metadata, PacketBuf};
use fastpath::MAX_RECIRC_PASSES;
use odp::action::Action;

use super::{action_pid, deliver, miss_pid, upcall_hash, upcall_msg, SlowPath, UpcallSink};
use crate::error::Result;
use crate::model::{Dataplane, Model};

/// A userspace-action upcall raised on the control thread: (pid, userdata, data, original
/// length).
type ExecUpcall = (u32, Option<Arc<[u8]>>, Vec<u8>, usize);

/// The executor's view of the control thread: outputs through the dataplane's queues,
/// upcalls and recirculations collected for after the run.
pub(super) struct ControlExec<'a, D: Dataplane> {
    plane: &'a mut D,
    dp: usize,
    rng: &'a mut u64,
    upcalls: Vec<ExecUpcall>,
    recirc: Vec<(D::Packet, Metadata)>,
}

impl<'a, D: Dataplane> ControlExec<'a, D> {
    pub(super) fn new(plane: &'a mut D, dp: usize, rng: &'a mut u64) -> Self {
        ControlExec {
            plane,
            dp,
            rng,
            upcalls: Vec::new(),
            recirc: Vec::new(),
        }
    }
}

impl<D: Dataplane> ExecContext<D::Packet> for ControlExec<'_, D> {
    fn output(&mut self, port: u32, pkt: D::Packet, _st: &PacketState<'_>) {
        self.plane.transmit(self.dp, port, pkt);
    }

    fn clone_packet(&mut self, pkt: &D::Packet) -> Option<D::Packet> {
        self.plane.packet(pkt.data()).ok()
    }

    fn upcall(&mut self, pkt: &D::Packet, len: usize, _st: &PacketState<'_>, u: &UserspaceAction) {
        // Packets from EXECUTE carry no offload work: they came as complete bytes.
        self.upcalls.push((
            u.pid,
            u.userdata.clone(),
            pkt.data()[..len].to_vec(),
            pkt.len(),
        ));
    }

    fn recirculate(&mut self, pkt: D::Packet, st: &PacketState<'_>) {
        self.recirc.push((pkt, st.metadata()));
    }

    fn drop_packet(&mut self, pkt: D::Packet, _reason: DropReason) {
        drop(pkt);
    }

    fn random_u32(&mut self) -> u32 {
        xorshift32(self.rng)
    }

    fn conntrack(&self) -> Option<&Table> {
        Some(self.plane.conntrack())
    }
}

impl SlowPath {
    /// PACKET EXECUTE: runs `actions` (validated by the caller) on `frame` with metadata
    /// `md` in datapath `dp`, transmitting through the dataplane. Userspace actions become
    /// ACTION upcalls through `sink` (to `upcall_pid` when the request named one);
    /// recirculated packets are looked up again, and a miss becomes a MISS upcall.
    ///
    /// # Errors
    /// [`crate::Error::NoDatapath`], [`crate::Error::Fastpath`] for actions the fast path
    /// cannot run, the dataplane's error when no buffer holds the frame.
    #[allow(clippy::too_many_arguments)]
    pub fn execute<D: Dataplane>(
        &mut self,
        model: &Model,
        plane: &mut D,
        dp: usize,
        frame: &[u8],
        md: &Metadata,
        actions: &[Action],
        upcall_pid: Option<u32>,
        sink: &mut dyn UpcallSink,
    ) -> Result<()> {
        model.get(dp)?;
        let compiled = CompiledActions::compile(actions)?;
        let pkt = plane.packet(frame)?;
        let mut key = FlowKey::ZERO;
        let info = extract(frame, md, &mut key);
        let mut st = PacketState::new(md, &key, &info);
        let mut exec = ControlExec::new(plane, dp, &mut self.rng);
        actions::execute(&compiled, pkt, &mut st, &mut exec);
        let ControlExec {
            upcalls, recirc, ..
        } = exec;
        self.deliver_upcalls(model, dp, &key, md, upcalls, upcall_pid, sink);
        self.recirculate(model, plane, dp, recirc, sink);
        plane.flush();
        Ok(())
    }

    /// Looks recirculated packets up again in the authoritative classifier: a hit runs the
    /// flow's actions, a miss goes to the controller as a MISS upcall (or is dropped
    /// without one). At most [`MAX_RECIRC_PASSES`] rounds.
    fn recirculate<D: Dataplane>(
        &mut self,
        model: &Model,
        plane: &mut D,
        dp: usize,
        mut pending: Vec<(D::Packet, Metadata)>,
        sink: &mut dyn UpcallSink,
    ) {
        let Some(d) = model.datapath(dp) else { return };
        for _ in 0..MAX_RECIRC_PASSES {
            if pending.is_empty() {
                return;
            }
            let mut next = Vec::new();
            for (pkt, md) in pending.drain(..) {
                let mut key = FlowKey::ZERO;
                let info = extract(pkt.data(), &md, &mut key);
                let in_port = u32::from(md.in_port);
                let Some(flow) = d.flows.classifier().lookup(&key).cloned() else {
                    let pid = miss_pid(d, in_port, upcall_hash(&key), 0);
                    deliver(
                        d,
                        sink,
                        &upcall_msg(d, pid, &key, pkt.data(), None),
                        in_port,
                    );
                    continue;
                };
                let mut st = PacketState::new(&md, &key, &info);
                let mut exec = ControlExec::new(plane, dp, &mut self.rng);
                actions::execute(flow.actions(), pkt, &mut st, &mut exec);
                let ControlExec {
                    upcalls, recirc, ..
                } = exec;
                self.deliver_upcalls(model, dp, &key, &md, upcalls, None, sink);
                next.extend(recirc);
            }
            pending = next;
        }
        if !pending.is_empty() {
            tracing::debug!(
                dp,
                n = pending.len(),
                "recirculation limit: packets dropped"
            );
        }
    }

    /// Sends the ACTION upcalls a run on the control thread raised: to `upcall_pid` if the
    /// request named one, else where the action says (the control thread stands for CPU 0
    /// under per-CPU dispatch).
    #[allow(clippy::too_many_arguments)]
    fn deliver_upcalls(
        &self,
        model: &Model,
        dp: usize,
        key: &FlowKey,
        md: &Metadata,
        upcalls: Vec<ExecUpcall>,
        upcall_pid: Option<u32>,
        sink: &mut dyn UpcallSink,
    ) {
        let Some(d) = model.datapath(dp) else { return };
        for (pid, userdata, data, orig_len) in upcalls {
            let pid = upcall_pid.unwrap_or_else(|| action_pid(d, pid, 0));
            let msg = upcall_msg(d, pid, key, &data, Some((userdata.as_deref(), orig_len)));
            deliver(d, sink, &msg, u32::from(md.in_port));
        }
    }
}
