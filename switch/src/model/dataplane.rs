//! What the model needs from the machinery that forwards packets: the runtime (DPDK ports
//! and PMD threads) in the daemon, an in-memory stand-in in the control plane's unit tests.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use fastpath::conntrack::table::Table;

use fastpath::dpcls::Dpcls;
use fastpath::packet::PacketBuf;
use fastpath::pmd::FlowCmd;

use super::vport::VportKind;
use crate::error::Result;
use crate::stats::{DeviceStats, DpView, PortStats, VportCounters};

/// Every datapath's authoritative classifier, by slot: what a PMD that fell behind on its
/// updates is brought up to ([`crate::model::Model::classifier`]).
pub type Tables<'a> = &'a dyn Fn(usize) -> Option<&'a Dpcls>;

/// A device to open for a vport.
#[derive(Debug, Clone)]
pub struct PortRequest<'a> {
    /// The vport's name.
    pub name: &'a str,
    /// What backs it.
    pub kind: VportKind,
    /// DPDK devargs; None: the default for the kind (a TAP for internal ports, the kernel
    /// interface of that name for netdev ports).
    pub devargs: Option<&'a str>,
    /// Rx queues to open (None: the dataplane's default); a device with fewer opens all it
    /// has.
    pub n_rxq: Option<u16>,
    /// Rx queues pinned to the PMD on an lcore, as (queue, lcore).
    pub rxq_affinity: &'a [(u16, u32)],
    /// The vport's software counters, which the PMDs add to.
    pub counters: &'a Arc<VportCounters>,
}

/// A device opened for a vport.
#[derive(Debug, Clone)]
pub struct OpenedPort {
    /// The devargs it was made from.
    pub devargs: String,
    /// The kernel ifindex of its netdev, 0 if it has none.
    pub ifindex: u32,
    /// Its counters, readable from any thread.
    pub device: Arc<dyn DeviceStats>,
    /// The PMD polling each of its rx queues, by queue id.
    pub rxq_pmd: Vec<usize>,
    /// TSC cycles each rx queue's bursts took its PMD, by queue id (for usage shares).
    pub rxq_cycles: Vec<Arc<AtomicU64>>,
}

/// The forwarding machinery under the model: devices, the PMDs' fast paths, and packet I/O
/// for the control thread's slow path.
pub trait Dataplane {
    /// The control thread's packet buffers.
    type Packet: PacketBuf;

    /// PMD threads (each flow keeps a statistics cell per PMD).
    fn n_pmds(&self) -> usize;

    /// Starts forwarding for datapath slot `dp`, publishing into `view`'s counters.
    fn add_datapath(&mut self, dp: usize, view: &Arc<DpView>);

    /// Stops forwarding for datapath slot `dp` (its ports are closed already).
    fn remove_datapath(&mut self, dp: usize, tables: Tables<'_>);

    /// Opens the device of port `port_no` of datapath `dp` and starts forwarding on it.
    ///
    /// # Errors
    /// [`crate::Error::Exists`] when an internal port's name is taken by a kernel netdev,
    /// [`crate::Error::NoNetdev`] when a netdev port without devargs names no kernel
    /// interface, [`crate::Error::Device`] when the device cannot be made.
    fn open_port(&mut self, dp: usize, port_no: u32, req: &PortRequest<'_>) -> Result<OpenedPort>;

    /// Stops forwarding on port `port_no` of datapath `dp` and closes its device.
    ///
    /// # Errors
    /// [`crate::Error::Device`] when the device does not close cleanly (it is gone anyway).
    fn close_port(&mut self, dp: usize, port_no: u32, tables: Tables<'_>) -> Result<()>;

    /// The device counters of port `port_no` of datapath `dp` (zero if unknown).
    fn port_stats(&self, dp: usize, port_no: u32) -> PortStats;

    /// Applies a classifier update of datapath `dp` on every PMD. Updates are never lost
    /// and keep their order; a PMD that fell behind is brought up to `tables` (with the
    /// update in it) in one step instead.
    fn update_flows(&mut self, dp: usize, cmd: FlowCmd, tables: Tables<'_>);

    /// A packet buffer holding `frame`, for the slow path.
    ///
    /// # Errors
    /// [`crate::Error::NoMemory`] when the pool is empty, [`crate::Error::Invalid`] when the
    /// frame does not fit a buffer.
    fn packet(&mut self, frame: &[u8]) -> Result<Self::Packet>;

    /// Queues `pkt` for transmission on port `port_no` of datapath `dp` (dropped and counted
    /// if the port is unknown).
    fn transmit(&mut self, dp: usize, port_no: u32, pkt: Self::Packet);

    /// Sends what [`Dataplane::transmit`] queued.
    fn flush(&mut self);

    /// The connection table every datapath's `ct` actions share (the kernel's is per
    /// network namespace; this process is one).
    fn conntrack(&self) -> &Arc<Table>;
}
