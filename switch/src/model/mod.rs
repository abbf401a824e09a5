//! The authoritative model of the datapaths, owned by the control thread: datapaths, their
//! vports and flows, and the kernel datapath's rules for changing them. Side effects on
//! devices and PMDs go through a [`Dataplane`], so every rule runs, and is tested, without
//! DPDK.

pub mod datapath;
pub mod dataplane;
pub mod flows;
#[cfg(test)]
pub mod memory;
pub mod vport;

use std::collections::BTreeMap;
use std::sync::Arc;

use fastpath::actions::CompiledActions;
use fastpath::dpcls::Dpcls;
use fastpath::flow::Flow;
use odp::family::vport::OVSP_LOCAL;

pub use datapath::{Datapath, DpStats};
pub use dataplane::{Dataplane, OpenedPort, PortRequest, Tables};
pub use flows::{
    Baseline, FlowPut, FlowRecord, FlowTable, FlowTableError, Flows, Ident, Origin, PutMode, Ufid,
    WireFlow,
};
pub use vport::{Vport, VportKind, VportSpec};

use crate::error::{Error, Result};
use crate::slowpath::Bridge;
use crate::stats::view::lock;
use crate::stats::{DpView, PortView, SwitchView};

/// Every datapath, by slot.
#[derive(Debug)]
pub struct Model {
    dps: Vec<Option<Datapath>>,
    /// The one flow id allocator: ids are unique in the process, whoever installs the flow.
    next_flow_id: u128,
    view: Arc<SwitchView>,
}

impl Model {
    /// No datapath yet; datapaths publish into `view`.
    pub fn new(view: Arc<SwitchView>) -> Self {
        Model {
            dps: Vec::new(),
            // Ids of other runs stay apart from this one's in a client's memory.
            next_flow_id: u128::from(std::process::id()) << 96,
            view,
        }
    }

    /// What other threads read.
    pub fn view(&self) -> &Arc<SwitchView> {
        &self.view
    }

    /// A fresh flow id.
    pub fn next_flow_id(&mut self) -> u128 {
        self.next_flow_id += 1;
        self.next_flow_id
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

    /// The authoritative classifier of datapath slot `dp`.
    pub fn classifier(&self, dp: usize) -> Option<&Dpcls> {
        self.datapath(dp).map(|d| d.flows.classifier())
    }

    /// Gives datapath `dp`'s mask cache `n` entries (a power of two, or 0 for none), in the
    /// authoritative classifier and every PMD's (`OVS_DP_ATTR_MASKS_CACHE_SIZE`).
    ///
    /// # Errors
    /// [`Error::NoDatapath`] if `dp` is gone.
    pub fn set_masks_cache_size<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        n: u32,
    ) -> Result<()> {
        let d = self.get_mut(dp)?;
        if d.masks_cache_size() == n {
            return Ok(());
        }
        d.flows.set_mask_cache_size(n as usize);
        plane.update_flows(dp, fastpath::pmd::FlowCmd::SetMaskCache(n), &|i| {
            self.classifier(i)
        });
        Ok(())
    }

    /// A datapath by slot.
    ///
    /// # Errors
    /// [`Error::NoDatapath`].
    pub fn get(&self, dp: usize) -> Result<&Datapath> {
        self.datapath(dp).ok_or(Error::NoDatapath)
    }

    /// A datapath by slot, mutably.
    ///
    /// # Errors
    /// [`Error::NoDatapath`].
    pub fn get_mut(&mut self, dp: usize) -> Result<&mut Datapath> {
        self.datapath_mut(dp).ok_or(Error::NoDatapath)
    }

    /// The slot of the datapath named `name`.
    pub fn find_datapath(&self, name: &str) -> Option<usize> {
        self.datapaths()
            .find(|(_, d)| d.name == name)
            .map(|(i, _)| i)
    }

    /// The datapath a request names: by `name` if it has one, else by the ifindex of its
    /// `ovs_header` (as `net/openvswitch/datapath.c`, `lookup_datapath()`).
    ///
    /// # Errors
    /// [`Error::NoDatapath`].
    pub fn lookup_datapath(&self, name: Option<&str>, dp_ifindex: i32) -> Result<usize> {
        match name {
            Some(n) => self.find_datapath(n),
            None => u32::try_from(dp_ifindex)
                .ok()
                .filter(|&i| i != 0)
                .and_then(|i| self.datapaths().find(|(_, d)| d.ifindex == i))
                .map(|(slot, _)| slot),
        }
        .ok_or(Error::NoDatapath)
    }

    /// The datapath slot and port number of the vport named `name`, in any datapath.
    pub fn find_vport(&self, name: &str) -> Option<(usize, u32)> {
        self.datapaths()
            .find_map(|(i, d)| d.vport_named(name).map(|v| (i, v.port_no)))
    }

    /// Creates a datapath and its local port 0 (an internal port named `name`).
    ///
    /// # Errors
    /// [`Error::BadName`], [`Error::Exists`] if the name is taken (by a datapath, a vport or
    /// a kernel netdev), or the local port's device error.
    pub fn add_datapath<D: Dataplane>(
        &mut self,
        plane: &mut D,
        name: &str,
        upcall_pid: u32,
        user_features: u32,
    ) -> Result<usize> {
        vport::check_name(name)?;
        if self.find_datapath(name).is_some() || self.find_vport(name).is_some() {
            return Err(Error::Exists(name.to_string()));
        }
        let slot = match self.dps.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.dps.push(None);
                self.dps.len() - 1
            }
        };
        let view = Arc::new(DpView::new(name, plane.n_pmds()));
        self.dps[slot] = Some(Datapath {
            name: name.to_string(),
            ifindex: 0,
            user_features,
            per_cpu_pids: Vec::new(),
            vports: BTreeMap::new(),
            flows: Flows::new(plane.n_pmds()),
            bridge: Bridge::default(),
            view: view.clone(),
        });
        plane.add_datapath(slot, &view);
        let local = VportSpec {
            name: name.to_string(),
            kind: VportKind::Internal,
            devargs: None,
            port_no: Some(OVSP_LOCAL),
            upcall_pids: vec![upcall_pid],
            options: BTreeMap::new(),
        };
        match self.add_port(plane, slot, local, true) {
            Ok(_) => {
                let d = self.dps[slot].as_mut().expect("just created");
                d.ifindex = d.vports[&OVSP_LOCAL].ifindex;
                tracing::info!(dp = name, ifindex = d.ifindex, "datapath created");
                lock(&self.view.dps).push(view);
                Ok(slot)
            }
            Err(e) => {
                plane.remove_datapath(slot, &|i| self.classifier(i));
                self.dps[slot] = None;
                Err(e)
            }
        }
    }

    /// Deletes a datapath: its ports (the local port last), flows and counters.
    ///
    /// # Errors
    /// [`Error::NoDatapath`].
    pub fn del_datapath<D: Dataplane>(&mut self, plane: &mut D, dp: usize) -> Result<()> {
        let ports: Vec<u32> = self.get(dp)?.vports.keys().rev().copied().collect();
        for port_no in ports {
            if let Err(e) = self.remove_port(plane, dp, port_no) {
                tracing::warn!(dp, port_no, error = %e, "removing port of deleted datapath");
            }
        }
        // Kill the flows for anyone still holding one. The PMDs need no flush of their own:
        // removing the datapath hands their whole fast path back to be dropped.
        let _ = self.get_mut(dp)?.flows.flush();
        plane.remove_datapath(dp, &|i| self.classifier(i));
        if let Some(d) = self.dps[dp].take() {
            lock(&self.view.dps).retain(|v| !Arc::ptr_eq(v, &d.view));
            tracing::info!(dp = %d.name, "datapath deleted");
        }
        Ok(())
    }

    /// Adds a vport to datapath `dp` and starts forwarding on it.
    ///
    /// # Errors
    /// [`Error::NoDatapath`], [`Error::BadName`], [`Error::Exists`] (name taken),
    /// [`Error::PortBusy`] / [`Error::PortRange`] (port number), or the device's error.
    pub fn add_vport<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        spec: VportSpec,
    ) -> Result<u32> {
        self.add_port(plane, dp, spec, false)
    }

    fn add_port<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        spec: VportSpec,
        local: bool,
    ) -> Result<u32> {
        vport::check_name(&spec.name)?;
        let d = self.get(dp)?;
        let port_no = if local {
            if d.vports.contains_key(&OVSP_LOCAL) {
                return Err(Error::PortBusy(OVSP_LOCAL));
            }
            OVSP_LOCAL
        } else {
            vport::allocate_port_no(&d.vports, spec.port_no)?
        };
        // The local port carries its datapath's name.
        if self.find_vport(&spec.name).is_some()
            || (!local && self.find_datapath(&spec.name).is_some())
        {
            return Err(Error::Exists(spec.name));
        }
        let counters = Arc::default();
        let affinity = vport::rxq_affinity(&spec.options);
        let opened = plane.open_port(
            dp,
            port_no,
            &PortRequest {
                name: &spec.name,
                kind: spec.kind,
                devargs: spec.devargs.as_deref(),
                n_rxq: vport::n_rxq(&spec.options),
                rxq_affinity: &affinity,
                counters: &counters,
            },
        )?;
        let v = Vport {
            port_no,
            name: spec.name,
            kind: spec.kind,
            devargs: opened.devargs,
            upcall_pids: spec.upcall_pids,
            ifindex: opened.ifindex,
            options: spec.options,
            counters,
        };
        tracing::info!(dp, port_no, port = %v.name, devargs = %v.devargs, "port added");
        let d = self.get_mut(dp)?;
        lock(&d.view.ports).push(PortView {
            port_no,
            name: v.name.clone(),
            device: opened.device,
            counters: v.counters.clone(),
            rxq_pmd: opened.rxq_pmd,
            rxq_cycles: opened.rxq_cycles,
        });
        d.vports.insert(port_no, v);
        Ok(port_no)
    }

    /// Removes a vport other than the local port.
    ///
    /// # Errors
    /// [`Error::LocalPort`], [`Error::NoDatapath`], [`Error::NoPort`].
    pub fn del_vport<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        port_no: u32,
    ) -> Result<()> {
        if port_no == OVSP_LOCAL {
            return Err(Error::LocalPort);
        }
        self.remove_port(plane, dp, port_no)
    }

    fn remove_port<D: Dataplane>(&mut self, plane: &mut D, dp: usize, port_no: u32) -> Result<()> {
        let d = self.get_mut(dp)?;
        let v = d
            .vports
            .remove(&port_no)
            .ok_or_else(|| Error::NoPort(port_no.to_string()))?;
        // Readers let go of the device before it closes.
        lock(&d.view.ports).retain(|p| p.port_no != port_no);
        d.bridge.forget_port(port_no);
        plane.close_port(dp, port_no, &|i| self.classifier(i))?;
        tracing::info!(dp, port_no, port = %v.name, "port removed");
        Ok(())
    }

    /// Installs a flow, or modifies the one the request names ([`Flows::put`]), and sends
    /// it to the PMDs; returns its id.
    ///
    /// # Errors
    /// [`Error::NoDatapath`], [`Error::FlowExists`], [`Error::NoFlow`].
    pub fn put_flow<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        put: FlowPut,
    ) -> Result<u128> {
        let id = self.next_flow_id();
        let d = self.get_mut(dp)?;
        let (id, cmd) = d.flows.put(id, put)?;
        d.publish_flow_counts();
        plane.update_flows(dp, cmd, &|i| self.classifier(i));
        Ok(id)
    }

    /// Replaces the actions of flow `id` ([`Flows::set_actions`]) on every PMD.
    ///
    /// # Errors
    /// [`Error::NoDatapath`], [`Error::NoFlow`].
    pub fn set_flow_actions<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        id: u128,
        compiled: CompiledActions,
        actions: Vec<u8>,
    ) -> Result<()> {
        let d = self.get_mut(dp)?;
        let cmd = d.flows.set_actions(id, compiled, actions)?;
        plane.update_flows(dp, cmd, &|i| self.classifier(i));
        Ok(())
    }

    /// Deletes flow `id` everywhere; returns it, for its final statistics, and its record.
    ///
    /// # Errors
    /// [`Error::NoDatapath`], [`Error::NoFlow`].
    pub fn del_flow<D: Dataplane>(
        &mut self,
        plane: &mut D,
        dp: usize,
        id: u128,
    ) -> Result<(Arc<Flow>, FlowRecord)> {
        let d = self.get_mut(dp)?;
        let (flow, rec, cmd) = d.flows.del(id)?;
        d.publish_flow_counts();
        plane.update_flows(dp, cmd, &|i| self.classifier(i));
        Ok((flow, rec))
    }

    /// Deletes every flow of datapath `dp`.
    ///
    /// # Errors
    /// [`Error::NoDatapath`].
    pub fn flush_flows<D: Dataplane>(&mut self, plane: &mut D, dp: usize) -> Result<()> {
        let d = self.get_mut(dp)?;
        let cmd = d.flows.flush();
        d.publish_flow_counts();
        plane.update_flows(dp, cmd, &|i| self.classifier(i));
        Ok(())
    }
}
