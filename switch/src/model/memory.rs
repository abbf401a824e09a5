//! A dataplane in memory, for running the model and the control plane without DPDK: its
//! "devices" are records, its packets byte buffers, and everything sent or changed is kept
//! for a test to look at.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fastpath::conntrack::table::Table;
use fastpath::packet::{PacketBuf, VecBuf};
use fastpath::pmd::FlowCmd;

use super::dataplane::{Dataplane, OpenedPort, PortRequest, Tables};
use super::vport::VportKind;
use crate::error::{Error, Result};
use crate::stats::{DeviceStats, DpView, PortStats};

/// A device that counts nothing.
#[derive(Debug)]
struct Idle;

impl DeviceStats for Idle {
    fn stats(&self) -> PortStats {
        PortStats::default()
    }
}

/// The in-memory dataplane.
#[derive(Debug, Default)]
pub struct MemoryPlane {
    /// PMDs it pretends to run.
    pub n_pmds: usize,
    /// Kernel network interfaces it pretends exist, by name.
    pub netdevs: BTreeSet<String>,
    /// Datapath slots being forwarded.
    pub datapaths: BTreeSet<usize>,
    /// Open devices, by (datapath, port number): their vport's name and kind, and devargs.
    pub ports: BTreeMap<(usize, u32), (String, VportKind, String)>,
    /// Flow updates sent, by datapath.
    pub updates: BTreeMap<usize, usize>,
    /// Packets queued for transmission: (datapath, port, frame).
    pub queued: Vec<(usize, u32, Vec<u8>)>,
    /// Packets flushed out: (datapath, port, frame).
    pub sent: Vec<(usize, u32, Vec<u8>)>,
    /// Largest frame a buffer holds.
    pub mtu: usize,
    /// The connection table.
    pub conntrack: Arc<Table>,
}

impl MemoryPlane {
    /// A dataplane of `n_pmds` PMDs with 2 KiB buffers and no kernel interface.
    pub fn new(n_pmds: usize) -> Self {
        MemoryPlane {
            n_pmds,
            mtu: 2048,
            ..MemoryPlane::default()
        }
    }
}

impl Dataplane for MemoryPlane {
    type Packet = VecBuf;

    fn n_pmds(&self) -> usize {
        self.n_pmds
    }

    fn add_datapath(&mut self, dp: usize, _view: &Arc<DpView>) {
        self.datapaths.insert(dp);
    }

    fn remove_datapath(&mut self, dp: usize, _tables: Tables<'_>) {
        self.datapaths.remove(&dp);
    }

    fn open_port(&mut self, dp: usize, port_no: u32, req: &PortRequest<'_>) -> Result<OpenedPort> {
        let exists = self.netdevs.contains(req.name);
        match req.kind {
            VportKind::Internal if exists => {
                return Err(Error::Exists(format!("network device {}", req.name)));
            }
            VportKind::Netdev if req.devargs.is_none() && !exists => {
                return Err(Error::NoNetdev(req.name.to_string()));
            }
            _ => {}
        }
        let devargs = req.devargs.unwrap_or(req.name).to_string();
        self.ports.insert(
            (dp, port_no),
            (req.name.to_string(), req.kind, devargs.clone()),
        );
        // An internal port's device is a kernel interface of its name.
        if req.kind == VportKind::Internal {
            self.netdevs.insert(req.name.to_string());
        }
        Ok(OpenedPort {
            devargs,
            ifindex: 100 + port_no,
            device: Arc::new(Idle),
            rxq_pmd: vec![0],
            rxq_cycles: vec![Arc::default()],
        })
    }

    fn close_port(&mut self, dp: usize, port_no: u32, _tables: Tables<'_>) -> Result<()> {
        if let Some((name, VportKind::Internal, _)) = self.ports.remove(&(dp, port_no)) {
            self.netdevs.remove(&name);
        }
        Ok(())
    }

    fn port_stats(&self, _dp: usize, _port_no: u32) -> PortStats {
        PortStats::default()
    }

    fn update_flows(&mut self, dp: usize, _cmd: FlowCmd, _tables: Tables<'_>) {
        *self.updates.entry(dp).or_default() += 1;
    }

    fn packet(&mut self, frame: &[u8]) -> Result<VecBuf> {
        if frame.len() > self.mtu {
            return Err(Error::Invalid("packet larger than a buffer"));
        }
        Ok(VecBuf::new(frame))
    }

    fn transmit(&mut self, dp: usize, port_no: u32, pkt: VecBuf) {
        self.queued.push((dp, port_no, pkt.data().to_vec()));
    }

    fn flush(&mut self) {
        self.sent.append(&mut self.queued);
    }

    fn conntrack(&self) -> &Arc<Table> {
        &self.conntrack
    }
}
