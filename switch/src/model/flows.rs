//! The flows of one datapath: the control thread's authoritative classifier ([`FlowTable`])
//! and, per flow, what the control plane knows besides its fast-path form ([`FlowRecord`]),
//! together in [`Flows`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use fastpath::actions::CompiledActions;
use fastpath::dpcls::Dpcls;
use fastpath::flow::{Flow, FlowKey};
use fastpath::pmd::FlowCmd;
use fastpath::wire;
use odp::action::{actions_to_bytes, Action};

use crate::error::{Error, Result};

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

    /// Sizes the classifier's mask cache (what resynchronised PMDs copy).
    pub fn set_mask_cache_size(&mut self, n: usize) {
        self.cls.set_mask_cache_size(n);
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
    ) -> std::result::Result<Vec<FlowCmd>, FlowTableError> {
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

/// How a client names a flow: its UFID, or (without one) its unmasked key in the kernel's
/// form, as `net/openvswitch/datapath.c` does (`ovs_flow_cmd_new()`, `ufid_key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ident {
    /// A UFID of 1 to 16 bytes.
    Ufid(Ufid),
    /// The unmasked key's attribute bytes.
    Key(Vec<u8>),
}

/// A UFID, inline: a bridge install must not allocate for its flow's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ufid {
    len: u8,
    bytes: [u8; 16],
}

impl Ufid {
    /// A UFID of 1 to 16 bytes (None otherwise, which the kernel treats as absent).
    pub fn new(b: &[u8]) -> Option<Ufid> {
        if b.is_empty() || b.len() > 16 {
            return None;
        }
        let mut bytes = [0; 16];
        bytes[..b.len()].copy_from_slice(b);
        Some(Ufid {
            len: u8::try_from(b.len()).ok()?,
            bytes,
        })
    }

    /// The UFID dpswitch gives a flow it installed itself: its id, big-endian.
    pub fn of_id(id: u128) -> Ufid {
        Ufid {
            len: 16,
            bytes: id.to_be_bytes(),
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Statistics at the last CLEAR: the fast path has no reset, replies subtract this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Last use (CLOCK_MONOTONIC ms).
    pub used_ms: u64,
}

/// Who installed a flow, and what replies about it carry.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A netlink client: the kernel form of the key and mask it sent and its actions, as
    /// the kernel's replies carry them (`ovs_flow_cmd_fill_info()`).
    Netlink {
        /// Masked key attributes.
        key: Vec<u8>,
        /// Mask attributes.
        mask: Vec<u8>,
        /// Action attributes.
        actions: Vec<u8>,
    },
    /// The standalone bridge; key and mask are read back from the fast-path flow.
    Bridge {
        /// The actions (shared with the bridge's cache of compiled lists).
        actions: Arc<[Action]>,
    },
}

/// What the control plane knows of a flow besides its fast-path form.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// How clients name it.
    pub ident: Ident,
    /// Who installed it.
    pub origin: Origin,
    /// Statistics at the last CLEAR.
    pub base: Baseline,
}

/// A flow's key, mask and actions in wire form, for replies: borrowed from a client's
/// flow as it sent them, built for one the standalone bridge installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFlow<'a> {
    /// Masked key attributes.
    pub key: Cow<'a, [u8]>,
    /// Mask attributes.
    pub mask: Cow<'a, [u8]>,
    /// Action attributes.
    pub actions: Cow<'a, [u8]>,
}

/// How a put treats an existing flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Create only: any existing flow matching the key is EEXIST (NLM_F_CREATE|NLM_F_EXCL).
    Create,
    /// Create, or replace the actions of the same flow (FLOW NEW without CREATE/EXCL).
    CreateOrModify,
}

/// A FLOW NEW request, decoded and validated.
#[derive(Debug)]
pub struct FlowPut {
    /// How the client names the flow.
    pub ident: Ident,
    /// The key, unmasked: an existing flow overlaps if it matches it like a packet.
    pub key: FlowKey,
    /// The mask.
    pub mask: FlowKey,
    /// The actions, compiled.
    pub actions: CompiledActions,
    /// What replies about the flow carry.
    pub origin: Origin,
    /// Create only, or create or modify.
    pub mode: PutMode,
}

/// Every flow of one datapath: the authoritative classifier and one record per flow, under
/// one id (the fast path's UFID field).
#[derive(Debug, Default)]
pub struct Flows {
    table: FlowTable,
    records: BTreeMap<u128, FlowRecord>,
    /// Ids of the flows clients installed, by the identity they use.
    by_ident: HashMap<Ident, u128>,
}

impl Flows {
    /// No flows; statistics cells for `n_pmds` PMDs.
    pub fn new(n_pmds: usize) -> Self {
        Flows {
            table: FlowTable::new(n_pmds),
            ..Flows::default()
        }
    }

    /// The authoritative classifier.
    pub fn classifier(&self) -> &Dpcls {
        self.table.classifier()
    }

    /// Sizes the authoritative classifier's mask cache.
    pub fn set_mask_cache_size(&mut self, n: usize) {
        self.table.set_mask_cache_size(n);
    }

    /// Installed flows.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is installed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The id of the flow `ident` names: one a client installed under that identity, or one
    /// dpswitch installed, by the UFID it reports ([`Ufid::of_id`]).
    pub fn find(&self, ident: &Ident) -> Option<u128> {
        if let Some(&id) = self.by_ident.get(ident) {
            return Some(id);
        }
        let Ident::Ufid(u) = ident else { return None };
        let id = u128::from_be_bytes(<[u8; 16]>::try_from(u.as_bytes()).ok()?);
        matches!(
            self.records.get(&id),
            Some(FlowRecord {
                origin: Origin::Bridge { .. },
                ..
            })
        )
        .then_some(id)
    }

    /// A flow's record.
    pub fn record(&self, id: u128) -> Option<&FlowRecord> {
        self.records.get(&id)
    }

    /// A flow's fast-path form.
    pub fn flow(&self, id: u128) -> Option<&Arc<Flow>> {
        self.table.classifier().get(id)
    }

    /// The records from the one after `after` on, in id order (dumps resume there).
    pub fn records_after(
        &self,
        after: Option<u128>,
    ) -> impl Iterator<Item = (u128, &FlowRecord)> + '_ {
        let range = match after {
            Some(a) => self.records.range((Bound::Excluded(a), Bound::Unbounded)),
            None => self.records.range(..),
        };
        range.map(|(&id, r)| (id, r))
    }

    /// OVS_FLOW_CMD_NEW: installs a flow, or (unless [`PutMode::Create`]) replaces the
    /// actions of the flow the request names, keeping its statistics. `id` names a new flow.
    ///
    /// # Errors
    /// [`Error::FlowExists`] when creation is exclusive and a flow matches the key;
    /// [`Error::NoFlow`] when the flow matching the key has another identity or mask.
    pub fn put(&mut self, id: u128, put: FlowPut) -> Result<(u128, FlowCmd)> {
        let FlowPut {
            ident,
            key,
            mask,
            actions,
            origin,
            mode,
        } = put;
        let id = self.by_ident.get(&ident).copied().unwrap_or(id);
        let create = mode == PutMode::Create;
        let cmd = table_result(self.table.put(id, &key, &mask, actions, create, true))?;
        match self.records.get_mut(&id) {
            Some(rec) => {
                // A modify keeps the key and mask the flow was created with.
                if let (
                    Origin::Netlink { actions: old, .. },
                    Origin::Netlink { actions: new, .. },
                ) = (&mut rec.origin, origin)
                {
                    *old = new;
                }
            }
            None => {
                self.by_ident.insert(ident.clone(), id);
                self.records.insert(
                    id,
                    FlowRecord {
                        ident,
                        origin,
                        base: Baseline::default(),
                    },
                );
            }
        }
        Ok((id, cmd))
    }

    /// OVS_FLOW_CMD_SET with actions: replaces the actions of flow `id`, keeping its key,
    /// mask and statistics.
    ///
    /// # Errors
    /// [`Error::NoFlow`].
    pub fn set_actions(
        &mut self,
        id: u128,
        compiled: CompiledActions,
        actions: Vec<u8>,
    ) -> Result<FlowCmd> {
        let (key, mask) = {
            let f = self.flow(id).ok_or(Error::NoFlow)?;
            (*f.key(), *f.mask())
        };
        let cmd = table_result(self.table.put(id, &key, &mask, compiled, false, false))?;
        if let Some(FlowRecord {
            origin: Origin::Netlink { actions: old, .. },
            ..
        }) = self.records.get_mut(&id)
        {
            *old = actions;
        }
        Ok(cmd)
    }

    /// OVS_FLOW_ATTR_CLEAR: later replies count statistics from now.
    pub fn clear_stats(&mut self, id: u128) {
        let snap = self.flow(id).map(|f| f.stats().read()).unwrap_or_default();
        if let Some(rec) = self.records.get_mut(&id) {
            rec.base = Baseline {
                packets: snap.packets,
                bytes: snap.bytes,
                used_ms: snap.used_ms,
            };
        }
    }

    /// OVS_FLOW_CMD_DEL of one flow: the flow (for its final statistics), its record and
    /// the command for the PMDs.
    ///
    /// # Errors
    /// [`Error::NoFlow`].
    pub fn del(&mut self, id: u128) -> Result<(Arc<Flow>, FlowRecord, FlowCmd)> {
        let rec = self.records.remove(&id).ok_or(Error::NoFlow)?;
        self.by_ident.remove(&rec.ident);
        let (flow, cmds) = self.table.del(id).ok_or(Error::NoFlow)?;
        Ok((flow, rec, one(cmds)))
    }

    /// OVS_FLOW_CMD_DEL without a key: every flow goes.
    pub fn flush(&mut self) -> FlowCmd {
        self.records.clear();
        self.by_ident.clear();
        one(self.table.flush())
    }

    /// Installs a flow of the standalone bridge under `id`. The caller has checked that no
    /// installed flow matches `key`, so nothing is looked up.
    pub fn insert_bridge(
        &mut self,
        id: u128,
        key: &FlowKey,
        mask: &FlowKey,
        actions: Arc<[Action]>,
        compiled: CompiledActions,
    ) -> FlowCmd {
        let cmd = self.table.insert_new(id, key, mask, compiled);
        self.records.insert(
            id,
            FlowRecord {
                ident: Ident::Ufid(Ufid::of_id(id)),
                origin: Origin::Bridge { actions },
                base: Baseline::default(),
            },
        );
        cmd
    }

    /// Flow `id`'s key, mask and actions as replies carry them.
    pub fn wire(&self, id: u128) -> Option<WireFlow<'_>> {
        self.wire_of(id, self.records.get(&id)?)
    }

    /// [`Flows::wire`] for a record in hand (a dump walking the records).
    pub fn wire_of<'a>(&'a self, id: u128, rec: &'a FlowRecord) -> Option<WireFlow<'a>> {
        Some(match &rec.origin {
            Origin::Netlink { key, mask, actions } => WireFlow {
                key: Cow::Borrowed(key),
                mask: Cow::Borrowed(mask),
                actions: Cow::Borrowed(actions),
            },
            Origin::Bridge { actions } => {
                let f = self.flow(id)?;
                WireFlow {
                    key: Cow::Owned(wire::key_to_odp(f.key()).to_bytes()),
                    mask: Cow::Owned(wire::mask_to_odp(f.key(), f.mask()).to_bytes()),
                    actions: Cow::Owned(actions_to_bytes(actions)),
                }
            }
        })
    }
}

/// The one command a table change makes.
fn one(mut cmds: Vec<FlowCmd>) -> FlowCmd {
    debug_assert_eq!(cmds.len(), 1);
    cmds.pop().unwrap_or(FlowCmd::Flush)
}

fn table_result(r: std::result::Result<Vec<FlowCmd>, FlowTableError>) -> Result<FlowCmd> {
    match r {
        Ok(cmds) => Ok(one(cmds)),
        Err(FlowTableError::Exists) => Err(Error::FlowExists),
        Err(FlowTableError::NotFound) => Err(Error::NoFlow),
    }
}
