//! The per-PMD exact-match cache (EMC).
//!
//! 2-way set-associative by the full-key hash (so flows differing only in MAC
//! addresses spread over the cache, unlike OVS's 5-tuple RSS index). Each entry holds
//! the complete key and an `Arc<Flow>`; a hit requires the same hash, an identical key
//! and a live flow, so a deleted or replaced flow is never returned even before the
//! PMD drains its update queue. Insertion is probabilistic, as OVS's
//! `emc-insert-inv-prob`.

use std::cell::Cell;
use std::sync::Arc;

use crate::flow::key::FlowKey;
use crate::flow::Flow;

/// Default number of entries.
pub const EMC_DEFAULT_ENTRIES: usize = 8192;
/// Default inverse insertion probability (1/100).
pub const EMC_DEFAULT_INV_PROB: u32 = 100;

/// Header first, then the key: the header line and the key's first line are adjacent,
/// so a hit on an L2-L4 key touches two neighbouring cache lines.
#[repr(C)]
struct Entry {
    hash: u64,
    map: u32,
    flow: Option<Arc<Flow>>,
    key: FlowKey,
}

/// Whether `a == b` given that every word of `a` outside `map_a` and of `b` outside
/// `map_b` is zero: compares line 0 and only the other words either map names.
#[inline(always)]
fn keys_equal(a: &FlowKey, map_a: u32, b: &FlowKey, map_b: u32) -> bool {
    let mut acc = 0u64;
    for (x, y) in a.words[..8].iter().zip(&b.words[..8]) {
        acc |= x ^ y;
    }
    let mut m = (map_a | map_b) & !0xff;
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        acc |= a.words[i] ^ b.words[i];
    }
    acc == 0
}

/// EMC counters. Hits and misses are the PMD's to count ([`crate::pmd::PmdStats`]): a
/// lookup stays free of bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmcStats {
    /// Insertions performed.
    pub inserted: u64,
}

/// A per-PMD exact-match cache. Not `Sync`: one per PMD thread.
pub struct Emc {
    entries: Box<[Entry]>,
    m: usize,
    inv_prob: u32,
    rng: Cell<u64>,
    inserted: u64,
}

impl core::fmt::Debug for Emc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Emc")
            .field("entries", &self.entries.len())
            .field("inv_prob", &self.inv_prob)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Emc {
    fn default() -> Self {
        Self::new(EMC_DEFAULT_ENTRIES, EMC_DEFAULT_INV_PROB)
    }
}

impl Emc {
    /// A cache of `entries` entries (rounded up to a power of two, at least 2) with
    /// inverse insertion probability `inv_prob` (0 = never insert, 1 = always).
    pub fn new(entries: usize, inv_prob: u32) -> Self {
        let n = entries.max(2).next_power_of_two();
        Self {
            entries: (0..n)
                .map(|_| Entry {
                    key: FlowKey::ZERO,
                    hash: 0,
                    map: 0,
                    flow: None,
                })
                .collect(),
            m: n - 1,
            inv_prob,
            rng: Cell::new(0x853c_49e6_748f_ea9b),
            inserted: 0,
        }
    }

    /// Sets `emc-insert-inv-prob` (0 = off, 1 = always, N = 1/N).
    pub fn set_inv_prob(&mut self, inv_prob: u32) {
        self.inv_prob = inv_prob;
    }

    /// The inverse insertion probability ([`Emc::set_inv_prob`]).
    pub fn inv_prob(&self) -> u32 {
        self.inv_prob
    }

    /// Whether the cache is in use (`emc-insert-inv-prob` != 0). Like OVS, a PMD skips
    /// EMC lookups entirely while insertion is off.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.inv_prob != 0
    }

    /// Seeds the insertion PRNG (e.g. with the PMD's core id).
    pub fn seed(&mut self, seed: u64) {
        self.rng.set(seed | 1);
    }

    /// Counters.
    pub fn stats(&self) -> EmcStats {
        EmcStats {
            inserted: self.inserted,
        }
    }

    #[inline(always)]
    fn ways(&self, hash: u64) -> (usize, usize) {
        let a = crate::hash_index(hash, self.m);
        let mut b = (hash >> 32) as usize & self.m;
        if b == a {
            b ^= 1;
        }
        (a, b)
    }

    /// Starts loading both ways `hash` may occupy, so a batch's lookups overlap their
    /// cache misses.
    #[inline(always)]
    pub fn prefetch<P: crate::cpu::Cpu>(&self, hash: u64) {
        let (a, b) = self.ways(hash);
        P::prefetch(&self.entries[a]);
        P::prefetch(&self.entries[b]);
    }

    /// Looks `key` (with [`FlowKey::hash`] `hash` and possibly-non-zero word map
    /// `map`, both from [`crate::packet::ExtractInfo`]; pass `u32::MAX` as `map` if
    /// unknown) up; returns a live flow or `None`.
    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey, hash: u64, map: u32) -> Option<&Arc<Flow>> {
        let (a, b) = self.ways(hash);
        for i in [a, b] {
            let e = &self.entries[i];
            if e.hash == hash && keys_equal(&e.key, e.map, key, map) {
                if let Some(f) = &e.flow {
                    if f.is_alive() {
                        return e.flow.as_ref();
                    }
                }
            }
        }
        None
    }

    #[inline(always)]
    fn next_rand(&self) -> u32 {
        // xorshift64*
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// Whether this miss should insert, per the insertion probability.
    #[inline(always)]
    pub fn should_insert(&self) -> bool {
        match self.inv_prob {
            0 => false,
            1 => true,
            n => (u64::from(self.next_rand()) * u64::from(n)) >> 32 == 0,
        }
    }

    /// Inserts `key → flow` if the insertion probability allows (call after a dpcls
    /// hit). Prefers the way already holding `key`, then an empty or dead way, then a
    /// pseudo-random victim.
    #[inline]
    pub fn maybe_insert(&mut self, key: &FlowKey, hash: u64, map: u32, flow: &Arc<Flow>) {
        if self.should_insert() {
            self.insert(key, hash, map, flow);
        }
    }

    /// Unconditionally inserts `key → flow` (`hash` and `map` as for [`Emc::lookup`]).
    pub fn insert(&mut self, key: &FlowKey, hash: u64, map: u32, flow: &Arc<Flow>) {
        let (a, b) = self.ways(hash);
        let usable = |e: &Entry| !e.flow.as_ref().is_some_and(|f| f.is_alive());
        let same = |e: &Entry| e.hash == hash && keys_equal(&e.key, e.map, key, map);
        let slot = if same(&self.entries[a]) {
            a
        } else if same(&self.entries[b]) {
            b
        } else if usable(&self.entries[a]) {
            a
        } else if usable(&self.entries[b]) {
            b
        } else if self.next_rand() & 1 == 0 {
            a
        } else {
            b
        };
        let e = &mut self.entries[slot];
        e.key = *key;
        e.hash = hash;
        e.map = map;
        e.flow = Some(Arc::clone(flow));
        self.inserted += 1;
    }

    /// Drops every entry referring to a dead flow (releases their memory; optional,
    /// lookups already ignore them).
    pub fn sweep_dead(&mut self) {
        for e in self.entries.iter_mut() {
            if e.flow.as_ref().is_some_and(|f| !f.is_alive()) {
                e.flow = None;
            }
        }
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        for e in self.entries.iter_mut() {
            e.flow = None;
            e.hash = 0;
        }
    }
}
