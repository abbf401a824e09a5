//! The megaflow classifier (OVS's "dpcls"): tuple-space search over one hash table
//! per distinct mask.
//!
//! Each [`Dpcls`] is single-threaded: the control thread owns an authoritative one and
//! every PMD thread owns its own copy, updated with the same [`Dpcls::insert`] /
//! [`Dpcls::remove`] calls drained from a command queue between bursts. Flows are
//! shared as `Arc<Flow>`; lookups take `&self` and never allocate or lock.
//!
//! Subtables are kept in descending order of recent hits ([`Dpcls::sort_subtables`],
//! called periodically by [`Dpcls::maintain`]). Each subtable is an open-addressing
//! (linear probing, backward-shift deletion) table of the masked keys' significant
//! words. It grows incrementally: when it reaches 3/4 load a table twice as large is
//! allocated and entries migrate a few slots per update (and in [`Dpcls::maintain`]),
//! while lookups probe both tables, so no update ever rehashes a whole table at once.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::cpu::Cpu;
use crate::flow::key::{FlowKey, FlowMask, KEY_WORDS};
use crate::flow::Flow;

/// Maximum number of keys in one [`Dpcls::lookup_batch`] call.
pub const MAX_BATCH: usize = 32;

const EMPTY: u64 = 0;
const TOMB: u64 = 1;
const LIVE_BIT: u64 = 1 << 63;
const MIGRATE_STEP: usize = 32;
const MIN_CAP: usize = 16;
/// Lookups between automatic re-sorts in [`Dpcls::maintain`].
const SORT_INTERVAL: u64 = 1 << 20;
/// Entries of the mask cache by default (the kernel's per-CPU mask cache holds 256 by
/// default, `MC_DEFAULT_HASH_ENTRIES`; [`Dpcls::set_mask_cache_size`] changes it).
pub const DEFAULT_MASK_CACHE: usize = 4096;

#[inline(always)]
fn tag(h: u64) -> u64 {
    h | LIVE_BIT
}

/// Open-addressing table. Slot `i` is `slots[i * stride..][..stride]`: the tagged
/// hash followed by the masked key's significant words, so a probe reads one line.
struct Table {
    m: usize,
    nw: usize,
    stride: usize,
    slots: Vec<u64>,
    flows: Vec<Option<Arc<Flow>>>,
    len: usize,
}

impl Table {
    fn new(cap: usize, nw: usize) -> Self {
        debug_assert!(cap.is_power_of_two());
        Self {
            m: cap - 1,
            nw,
            stride: nw + 1,
            slots: vec![EMPTY; cap * (nw + 1)],
            flows: (0..cap).map(|_| None).collect(),
            len: 0,
        }
    }

    #[inline(always)]
    fn cap(&self) -> usize {
        self.m + 1
    }

    #[inline(always)]
    fn tag_at(&self, i: usize) -> u64 {
        self.slots[i * self.stride]
    }

    #[inline(always)]
    fn words_at(&self, i: usize) -> &[u64] {
        &self.slots[i * self.stride + 1..(i + 1) * self.stride]
    }

    #[inline(always)]
    fn key_eq(&self, slot: usize, key: &FlowKey, mask: &FlowMask) -> bool {
        let bits = &mask.bits().words;
        let mut acc = 0u64;
        for (&i, &s) in mask.word_indices().iter().zip(self.words_at(slot)) {
            let i = i as usize;
            acc |= (key.words[i] & bits[i]) ^ s;
        }
        acc == 0
    }

    /// Starts loading the home slot of hash `h` and its flow pointer, so a batch's
    /// probes overlap their cache misses instead of taking them one after another.
    #[inline(always)]
    fn prefetch_home<P: Cpu>(&self, h: u64) {
        let i = crate::hash_index(h, self.m);
        P::prefetch(&self.slots[i * self.stride]);
        P::prefetch(&self.flows[i]);
    }

    #[inline(always)]
    fn find(&self, h: u64, key: &FlowKey, mask: &FlowMask) -> Option<usize> {
        let t = tag(h);
        let mut i = crate::hash_index(h, self.m);
        loop {
            let s = self.tag_at(i);
            if s == EMPTY {
                return None;
            }
            if s == t && self.key_eq(i, key, mask) {
                return Some(i);
            }
            i = (i + 1) & self.m;
        }
    }

    /// Inserts an entry known to be absent. `words` are the masked significant words;
    /// `h` is the hash (or an already tagged hash).
    fn insert_new(&mut self, h: u64, words: &[u64], flow: Arc<Flow>) {
        let mut i = crate::hash_index(h, self.m);
        while self.tag_at(i) != EMPTY {
            i = (i + 1) & self.m;
        }
        let st = self.stride;
        self.slots[i * st] = tag(h);
        self.slots[i * st + 1..(i + 1) * st].copy_from_slice(words);
        self.flows[i] = Some(flow);
        self.len += 1;
    }

    /// Removes slot `i` by shifting later members of the cluster back (no tombstones).
    fn remove_shift(&mut self, mut i: usize) -> Option<Arc<Flow>> {
        let out = self.flows[i].take();
        self.len -= 1;
        let m = self.m;
        let st = self.stride;
        loop {
            let mut j = i;
            loop {
                j = (j + 1) & m;
                if self.tag_at(j) == EMPTY {
                    self.slots[i * st] = EMPTY;
                    return out;
                }
                let home = crate::hash_index(self.tag_at(j), m);
                if (i.wrapping_sub(home) & m) < (j.wrapping_sub(home) & m) {
                    break;
                }
            }
            self.slots.copy_within(j * st..(j + 1) * st, i * st);
            self.flows[i] = self.flows[j].take();
            i = j;
        }
    }

    /// Removes slot `i` leaving a tombstone (used on a table being migrated away).
    fn remove_tomb(&mut self, i: usize) -> Option<Arc<Flow>> {
        self.slots[i * self.stride] = TOMB;
        self.len -= 1;
        self.flows[i].take()
    }
}

struct Subtable {
    mask: FlowMask,
    exact: bool,
    cur: Table,
    /// Table being migrated into `cur`, and the next slot to migrate.
    old: Option<(Table, usize)>,
    hits: Cell<u64>,
}

impl Subtable {
    fn new(mask: FlowMask) -> Self {
        let nw = mask.word_indices().len();
        Self {
            exact: mask.bits().same_as(&FlowKey::ONES),
            cur: Table::new(MIN_CAP, nw),
            old: None,
            hits: Cell::new(0),
            mask,
        }
    }

    fn len(&self) -> usize {
        self.cur.len + self.old.as_ref().map_or(0, |(t, _)| t.len)
    }

    #[inline(always)]
    fn find(&self, h: u64, key: &FlowKey) -> Option<&Arc<Flow>> {
        if let Some(i) = self.cur.find(h, key, &self.mask) {
            return self.cur.flows[i].as_ref();
        }
        if let Some((old, _)) = &self.old {
            if let Some(i) = old.find(h, key, &self.mask) {
                return old.flows[i].as_ref();
            }
        }
        None
    }

    fn words_of(&self, key: &FlowKey) -> [u64; KEY_WORDS] {
        let mut w = [0u64; KEY_WORDS];
        for (j, &i) in self.mask.word_indices().iter().enumerate() {
            w[j] = key.words[i as usize] & self.mask.bits().words[i as usize];
        }
        w
    }

    /// Inserts `flow`, replacing (and returning) an entry with the same masked key.
    fn insert(&mut self, flow: Arc<Flow>) -> Option<Arc<Flow>> {
        let h = self.mask.hash_masked(flow.key());
        if let Some(i) = self.cur.find(h, flow.key(), &self.mask) {
            return self.cur.flows[i].replace(flow);
        }
        let mut replaced = None;
        if let Some((old, _)) = &mut self.old {
            if let Some(i) = old.find(h, flow.key(), &self.mask) {
                replaced = old.remove_tomb(i);
            }
        }
        if (self.cur.len + 1) * 4 > self.cur.cap() * 3 {
            self.finish_migration();
            let bigger = Table::new(self.cur.cap() * 2, self.cur.nw);
            let old = std::mem::replace(&mut self.cur, bigger);
            self.old = Some((old, 0));
        }
        let w = self.words_of(flow.key());
        self.cur.insert_new(h, &w[..self.cur.nw], flow);
        self.migrate(MIGRATE_STEP);
        replaced
    }

    fn remove(&mut self, flow: &Flow) -> Option<Arc<Flow>> {
        let h = self.mask.hash_masked(flow.key());
        let out = if let Some(i) = self.cur.find(h, flow.key(), &self.mask) {
            if self.cur.flows[i]
                .as_ref()
                .is_some_and(|f| f.ufid() == flow.ufid())
            {
                self.cur.remove_shift(i)
            } else {
                None
            }
        } else if let Some((old, _)) = &mut self.old {
            match old.find(h, flow.key(), &self.mask) {
                Some(i)
                    if old.flows[i]
                        .as_ref()
                        .is_some_and(|f| f.ufid() == flow.ufid()) =>
                {
                    old.remove_tomb(i)
                }
                _ => None,
            }
        } else {
            None
        };
        self.migrate(MIGRATE_STEP);
        out
    }

    fn migrate(&mut self, mut budget: usize) {
        let Some((old, next)) = &mut self.old else {
            return;
        };
        while *next < old.cap() && budget > 0 {
            let i = *next;
            *next += 1;
            budget -= 1;
            let h = old.tag_at(i);
            if h != EMPTY && h != TOMB {
                if let Some(f) = old.flows[i].take() {
                    self.cur.insert_new(h, old.words_at(i), f);
                }
            }
        }
        if *next >= old.cap() {
            self.old = None;
        }
    }

    fn finish_migration(&mut self) {
        self.migrate(usize::MAX);
    }
}

/// Flows held by `subtables`.
fn flow_count(subtables: &[Subtable]) -> usize {
    subtables.iter().map(Subtable::len).sum()
}

/// Flows taken out of a classifier by [`Dpcls::retire_all`]; they are released when this
/// is dropped.
pub struct RetiredFlows {
    subtables: Vec<Subtable>,
    by_ufid: Option<HashMap<u128, Arc<Flow>>>,
}

impl RetiredFlows {
    /// How many flows.
    pub fn len(&self) -> usize {
        flow_count(&self.subtables)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for RetiredFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetiredFlows")
            .field("flows", &self.len())
            .field("by_ufid", &self.by_ufid.as_ref().map(HashMap::len))
            .finish()
    }
}

/// Classifier statistics (for the megaflow stats of `OVS_DP_ATTR_MEGAFLOW_STATS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpclsStats {
    /// Lookups that found a flow.
    pub hit: u64,
    /// Lookups that found none.
    pub missed: u64,
    /// Subtables probed, summed over all lookups (`n_mask_hit`).
    pub mask_hit: u64,
    /// Lookups answered by the subtable the mask cache named (`n_cache_hit`).
    pub cache_hit: u64,
}

/// The megaflow classifier. See the module documentation.
///
/// Besides the ranked subtables it keeps a mask cache, as the kernel does: the packet
/// hash (from extraction) indexes a small table remembering which subtable matched
/// last, which is probed first. With many masks and traffic spread over them this
/// turns ~n/2 subtable probes into ~1. A stale entry only costs one extra probe.
pub struct Dpcls {
    subtables: Vec<Subtable>,
    /// Flows by UFID, for the control thread's GET/DEL by UFID and dumps. A PMD's copy has
    /// none: its commands carry the flow itself, and a hash map's occasional whole-table
    /// rehash (growth, or clearing tombstones under churn) would stall its queues.
    by_ufid: Option<HashMap<u128, Arc<Flow>>>,
    mask_cache: Box<[Cell<u16>]>,
    hit: Cell<u64>,
    missed: Cell<u64>,
    mask_hit: Cell<u64>,
    cache_hit: Cell<u64>,
    lookups_at_sort: u64,
}

impl Default for Dpcls {
    fn default() -> Self {
        Self {
            subtables: Vec::new(),
            by_ufid: Some(HashMap::new()),
            mask_cache: empty_mask_cache(DEFAULT_MASK_CACHE),
            hit: Cell::new(0),
            missed: Cell::new(0),
            mask_hit: Cell::new(0),
            cache_hit: Cell::new(0),
            lookups_at_sort: 0,
        }
    }
}

/// A mask cache of `n` entries, all empty.
fn empty_mask_cache(n: usize) -> Box<[Cell<u16>]> {
    (0..n).map(|_| Cell::new(0)).collect()
}

impl core::fmt::Debug for Dpcls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dpcls")
            .field("flows", &self.len())
            .field("masks", &self.n_masks())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Dpcls {
    /// An empty classifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty classifier without the UFID index (a PMD's copy): [`Dpcls::get`],
    /// [`Dpcls::flows`] and [`Dpcls::remove`] find nothing; remove with
    /// [`Dpcls::remove_flow`].
    pub fn without_ufid_index() -> Self {
        Self {
            by_ufid: None,
            ..Self::default()
        }
    }

    /// Number of installed flows.
    pub fn len(&self) -> usize {
        match &self.by_ufid {
            Some(m) => m.len(),
            None => flow_count(&self.subtables),
        }
    }

    /// Whether no flow is installed (a subtable goes with its last flow).
    pub fn is_empty(&self) -> bool {
        self.subtables.is_empty()
    }

    /// Number of distinct masks (subtables), `n_masks`.
    pub fn n_masks(&self) -> usize {
        self.subtables.len()
    }

    /// Hit / miss / mask-hit counters.
    pub fn stats(&self) -> DpclsStats {
        DpclsStats {
            hit: self.hit.get(),
            missed: self.missed.get(),
            mask_hit: self.mask_hit.get(),
            cache_hit: self.cache_hit.get(),
        }
    }

    /// Whether every subtable's mask satisfies `pred`.
    pub fn all_masks(&self, pred: impl Fn(&FlowKey) -> bool) -> bool {
        self.subtables.iter().all(|s| pred(s.mask.bits()))
    }

    /// Entries of the mask cache (0: none).
    pub fn mask_cache_size(&self) -> usize {
        self.mask_cache.len()
    }

    /// Gives the mask cache `n` entries, a power of two, or none for 0 (the datapath's
    /// `masks-cache-size`, `OVS_DP_ATTR_MASKS_CACHE_SIZE`): then every lookup probes the
    /// subtables in rank order.
    pub fn set_mask_cache_size(&mut self, n: usize) {
        debug_assert!(n == 0 || n.is_power_of_two());
        if n != self.mask_cache.len() {
            self.mask_cache = empty_mask_cache(n);
        }
    }

    fn clear_mask_cache(&self) {
        for c in self.mask_cache.iter() {
            c.set(0);
        }
    }

    /// The flow with this UFID.
    pub fn get(&self, ufid: u128) -> Option<&Arc<Flow>> {
        self.by_ufid.as_ref()?.get(&ufid)
    }

    /// Iterates over all installed flows (no particular order).
    pub fn flows(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.by_ufid.iter().flat_map(|m| m.values())
    }

    /// Installs `flow`. A flow with the same UFID, or with the same mask and masked
    /// key, is replaced and returned (the caller kills it). Overlap with flows of other
    /// masks is not checked here: use [`Dpcls::find_overlap`] first, as the kernel does.
    pub fn insert(&mut self, flow: Arc<Flow>) -> Option<Arc<Flow>> {
        // Without the index, a same-UFID flow is a modify: same mask and key, so the
        // subtable replaces it below.
        let mut replaced = self.remove(flow.ufid());
        let mask = flow.mask();
        let idx = match self
            .subtables
            .iter()
            .position(|s| s.mask.bits().same_as(mask))
        {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable::new(FlowMask::new(*mask)));
                self.subtables.len() - 1
            }
        };
        if let Some(m) = &mut self.by_ufid {
            m.insert(flow.ufid(), Arc::clone(&flow));
        }
        if let Some(other) = self.subtables[idx].insert(flow) {
            if let Some(m) = &mut self.by_ufid {
                m.remove(&other.ufid());
            }
            replaced = Some(other);
        }
        replaced
    }

    /// Removes the flow with UFID `ufid` and returns it (nothing without the UFID index).
    pub fn remove(&mut self, ufid: u128) -> Option<Arc<Flow>> {
        let flow = self.by_ufid.as_mut()?.remove(&ufid)?;
        self.remove_from_subtable(&flow);
        Some(flow)
    }

    /// Removes `flow` (this very flow: same key, mask and UFID) and returns it.
    pub fn remove_flow(&mut self, flow: &Flow) -> Option<Arc<Flow>> {
        if let Some(m) = &mut self.by_ufid {
            m.remove(&flow.ufid());
        }
        self.remove_from_subtable(flow)
    }

    fn remove_from_subtable(&mut self, flow: &Flow) -> Option<Arc<Flow>> {
        let i = self
            .subtables
            .iter()
            .position(|s| s.mask.bits().same_as(flow.mask()))?;
        let out = self.subtables[i].remove(flow);
        if self.subtables[i].len() == 0 {
            self.subtables.remove(i);
            self.clear_mask_cache();
        }
        out
    }

    /// Removes every flow.
    pub fn clear(&mut self) {
        drop(self.retire_all());
    }

    /// Empties the classifier like [`Dpcls::clear`] (statistics stay), handing its flows
    /// over instead of releasing them: a PMD flushing tens of thousands of flows would
    /// otherwise free them all in its poll loop, so it passes them to the control thread.
    pub fn retire_all(&mut self) -> RetiredFlows {
        let retired = RetiredFlows {
            subtables: std::mem::take(&mut self.subtables),
            by_ufid: self.by_ufid.as_mut().map(std::mem::take),
        };
        self.clear_mask_cache();
        retired
    }

    /// The kernel's NEW duplicate check: an installed flow (live or not) that matches
    /// the unmasked `key`, looked up as if `key` were a packet. No counters change.
    pub fn find_overlap(&self, key: &FlowKey) -> Option<&Arc<Flow>> {
        self.subtables
            .iter()
            .find_map(|s| s.find(s.mask.hash_masked(key), key))
    }

    /// Looks up one packet key. Dead flows are skipped.
    pub fn lookup(&self, key: &FlowKey) -> Option<&Arc<Flow>> {
        let mut out = [None];
        self.lookup_batch::<crate::cpu::Portable>(core::slice::from_ref(key), None, 1, &mut out);
        out[0]
    }

    /// Batch lookup, subtable by subtable. `todo` selects the keys to classify (bit i =
    /// `keys[i]`; at most [`MAX_BATCH`] keys); `key_hashes` optionally carries
    /// [`FlowKey::hash`] of each key (from extraction) and is reused by an exact-mask
    /// subtable (ignored if shorter than the batch). Matches are written to `out[i]`;
    /// returns the bitmap of hits.
    #[inline]
    pub fn lookup_batch<'a, P: Cpu>(
        &'a self,
        keys: &[FlowKey],
        key_hashes: Option<&[u64]>,
        todo: u32,
        out: &mut [Option<&'a Arc<Flow>>],
    ) -> u32 {
        let n = keys.len().min(MAX_BATCH).min(out.len());
        let key_hashes = key_hashes.filter(|h| h.len() >= n);
        let valid = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        let todo = todo & valid;
        let mut remaining = todo;
        let mut mask_hit = 0u64;
        let mut hashes = [0u64; MAX_BATCH];
        let cache_m = self.mask_cache.len().wrapping_sub(1);
        let cached = !self.mask_cache.is_empty();
        if let (Some(kh), true) = (key_hashes, cached && self.subtables.len() > 1) {
            let mut cache_hit = 0u64;
            let mut m = remaining;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                let c = usize::from(self.mask_cache[crate::hash_index(kh[i], cache_m)].get());
                let Some(st) = c.checked_sub(1).and_then(|c| self.subtables.get(c)) else {
                    continue;
                };
                mask_hit += 1;
                let h = if st.exact {
                    kh[i]
                } else {
                    st.mask.hash_masked(&keys[i])
                };
                if let Some(f) = st.find(h, &keys[i]) {
                    if f.is_alive() {
                        out[i] = Some(f);
                        remaining &= !(1 << i);
                        st.hits.set(st.hits.get() + 1);
                        cache_hit += 1;
                    }
                }
            }
            self.cache_hit.set(self.cache_hit.get() + cache_hit);
        }
        for (idx, st) in self.subtables.iter().enumerate() {
            if remaining == 0 {
                break;
            }
            mask_hit += u64::from(remaining.count_ones());
            let mut m = remaining;
            match key_hashes {
                Some(kh) if st.exact => {
                    while m != 0 {
                        let i = m.trailing_zeros() as usize;
                        m &= m - 1;
                        hashes[i] = kh[i];
                    }
                }
                _ => {
                    while m != 0 {
                        let i = m.trailing_zeros() as usize;
                        m &= m - 1;
                        hashes[i] = st.mask.hash_masked(&keys[i]);
                    }
                }
            }
            // Three passes over the batch, each starting the next one's cache misses:
            // prefetch home slots, probe (prefetching the matched flows), check liveness.
            if remaining.count_ones() > 1 {
                let mut m = remaining;
                while m != 0 {
                    let i = m.trailing_zeros() as usize;
                    m &= m - 1;
                    st.cur.prefetch_home::<P>(hashes[i]);
                }
            }
            let mut m = remaining;
            let mut matched = 0u32;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(f) = st.find(hashes[i], &keys[i]) {
                    P::prefetch(&**f);
                    out[i] = Some(f);
                    matched |= 1 << i;
                }
            }
            let mut hits = 0u64;
            let mut m = matched;
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                m &= m - 1;
                if out[i].is_some_and(|f| f.is_alive()) {
                    remaining &= !(1 << i);
                    hits += 1;
                    if let (Some(kh), Ok(tag), true) = (key_hashes, u16::try_from(idx + 1), cached)
                    {
                        self.mask_cache[crate::hash_index(kh[i], cache_m)].set(tag);
                    }
                } else {
                    out[i] = None;
                }
            }
            st.hits.set(st.hits.get() + hits);
        }
        let found = todo & !remaining;
        self.hit.set(self.hit.get() + u64::from(found.count_ones()));
        self.missed
            .set(self.missed.get() + u64::from(remaining.count_ones()));
        self.mask_hit.set(self.mask_hit.get() + mask_hit);
        found
    }

    /// Re-ranks subtables by hits since the previous sort (most hit first) and starts a
    /// new counting period.
    pub fn sort_subtables(&mut self) {
        self.subtables
            .sort_by_key(|s| core::cmp::Reverse(s.hits.get()));
        for s in &self.subtables {
            s.hits.set(0);
        }
        self.clear_mask_cache();
        self.lookups_at_sort = self.hit.get() + self.missed.get();
    }

    /// Housekeeping between bursts: advances incremental table growth and re-sorts
    /// the subtables every 2^20 lookups.
    pub fn maintain(&mut self) {
        for s in &mut self.subtables {
            s.migrate(4 * MIGRATE_STEP);
        }
        if self.hit.get() + self.missed.get() - self.lookups_at_sort >= SORT_INTERVAL {
            self.sort_subtables();
        }
    }
}
