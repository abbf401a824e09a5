//! The control thread's authoritative flow table of one datapath.

use std::sync::Arc;

use fastpath::actions::CompiledActions;
use fastpath::dpcls::Dpcls;
use fastpath::flow::{Flow, FlowKey};
use fastpath::pmd::FlowCmd;

/// Errors of [`FlowTable::put`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowTableError {
    /// A flow matching the key exists and creation was exclusive (`EEXIST`).
    #[error("flow exists")]
    Exists,
    /// Modify of a flow that does not exist (`ENOENT`).
    #[error("no such flow")]
    NotFound,
}

/// The control thread's authoritative flow table.
#[derive(Debug, Default)]
pub struct FlowTable {
    cls: Dpcls,
    n_pmds: usize,
}

impl FlowTable {
    /// A table whose flows keep statistics for `n_pmds` PMDs.
    pub fn new(n_pmds: usize) -> Self {
        Self {
            cls: Dpcls::new(),
            n_pmds,
        }
    }

    /// The underlying classifier (for dumps, GET, and `n_masks`).
    pub fn classifier(&self) -> &Dpcls {
        &self.cls
    }

    /// OVS_FLOW_CMD_NEW / SET. `create`: NLM_F_CREATE|NLM_F_EXCL semantics (fail if any
    /// installed flow matches the unmasked `key`); otherwise create-or-modify, where a
    /// modify keeps the statistics. `allow_create = false` is SET (modify only).
    /// Returns the commands for every PMD.
    pub fn put(
        &mut self,
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: CompiledActions,
        create: bool,
        allow_create: bool,
    ) -> Result<Vec<FlowCmd>, FlowTableError> {
        let existing = self
            .cls
            .get(ufid)
            .or_else(|| self.cls.find_overlap(key))
            .cloned();
        let flow = match existing {
            Some(_) if create => return Err(FlowTableError::Exists),
            Some(old) => {
                if old.ufid() != ufid || !old.key().same_as(&key.masked(mask)) {
                    return Err(FlowTableError::NotFound);
                }
                Flow::with_stats(ufid, key, old.mask(), actions, old.stats().clone())
            }
            None if !allow_create => return Err(FlowTableError::NotFound),
            None => Flow::new(ufid, key, mask, actions, self.n_pmds),
        };
        let flow = Arc::new(flow);
        if let Some(old) = self.cls.insert(Arc::clone(&flow)) {
            old.kill();
        }
        Ok(vec![FlowCmd::Insert(flow)])
    }

    /// Installs a flow the caller has just checked for: `ufid` is unused and no installed
    /// flow matches `key` (the slow path, which looked before deciding to install). Saves
    /// [`FlowTable::put`]'s lookups; returns the command for every PMD.
    pub fn insert_new(
        &mut self,
        ufid: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: CompiledActions,
    ) -> FlowCmd {
        let flow = Arc::new(Flow::new(ufid, key, mask, actions, self.n_pmds));
        if let Some(old) = self.cls.insert(Arc::clone(&flow)) {
            old.kill();
        }
        FlowCmd::Insert(flow)
    }

    /// OVS_FLOW_CMD_DEL by UFID: the removed flow (for its final stats) and commands.
    pub fn del(&mut self, ufid: u128) -> Option<(Arc<Flow>, Vec<FlowCmd>)> {
        let f = self.cls.remove(ufid)?;
        f.kill();
        Some((Arc::clone(&f), vec![FlowCmd::Remove(f)]))
    }

    /// DEL without key: flush.
    pub fn flush(&mut self) -> Vec<FlowCmd> {
        for f in self.cls.flows() {
            f.kill();
        }
        self.cls.clear();
        vec![FlowCmd::Flush]
    }
}
