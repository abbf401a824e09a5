//! The table's hash index: tuple hash → (connection, direction), shared by every thread
//! without locks.
//!
//! Buckets of seven slots and an overflow count fill one cache line. A slot holds
//! `tag << 32 | dir << 31 | id` (0 = empty), where the tag is the hash's high half, so a
//! probe rejects other tuples without touching their connections. An insert takes the
//! first empty slot of its home bucket or the buckets after it (compare-and-swap), and
//! counts itself in the overflow of every full bucket it passes; a lookup goes on past a
//! bucket only while that count is non-zero, and a removal takes its counts back. Slots
//! are emptied outright (no tombstones), so probe chains never grow with churn (the
//! scheme of folly's F14 tables).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::conntrack::Dir;

/// Slots per bucket: seven and the overflow count make one 64-byte line.
const SLOTS: usize = 7;
const DIR_BIT: u64 = 1 << 31;
const ID_MASK: u64 = DIR_BIT - 1;

#[repr(align(64))]
#[derive(Default)]
struct Bucket {
    slots: [AtomicU64; SLOTS],
    /// Entries that passed this bucket full and live in a later one.
    overflow: AtomicU64,
}

/// The index.
pub(super) struct Index {
    buckets: Box<[Bucket]>,
    mask: usize,
}

/// The largest connection id a slot can hold.
pub(super) const MAX_ID: u32 = (1 << 31) - 1;

fn value(hash: u64, dir: Dir, id: u32) -> u64 {
    (hash & !0xffff_ffff) | (dir as u64) << 31 | u64::from(id)
}

impl Index {
    /// An index for `entries` keys (each connection has two) at most half full.
    pub(super) fn new(entries: usize) -> Index {
        let n = (entries * 2).div_ceil(SLOTS).next_power_of_two().max(2);
        Index {
            buckets: (0..n).map(|_| Bucket::default()).collect(),
            mask: n - 1,
        }
    }

    /// The bucket `hash` starts at: its low bits.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let low = hash as usize;
        low & self.mask
    }

    /// The home bucket of `hash` (for prefetching).
    #[inline]
    pub(super) fn home_bucket(&self, hash: u64) -> &impl Sized {
        &self.buckets[self.home(hash)]
    }

    /// Calls `f(id)` for each entry of `hash`'s home bucket whose tag is `hash`'s.
    #[inline]
    pub(super) fn home_ids(&self, hash: u64, mut f: impl FnMut(u32)) {
        let tag = hash >> 32;
        for s in &self.buckets[self.home(hash)].slots {
            let v = s.load(SeqCst);
            if v != 0 && v >> 32 == tag {
                #[allow(clippy::cast_possible_truncation)]
                f((v & ID_MASK) as u32);
            }
        }
    }

    /// Bytes the index takes.
    pub(super) fn bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
    }

    /// Calls `f(id, dir)` for each entry whose hash may be `hash`, until it returns true
    /// (then `true`).
    #[inline]
    pub(super) fn probe(&self, hash: u64, mut f: impl FnMut(u32, Dir) -> bool) -> bool {
        let tag = hash >> 32;
        let mut b = self.home(hash);
        for _ in 0..=self.mask {
            let bucket = &self.buckets[b];
            for s in &bucket.slots {
                let v = s.load(SeqCst);
                if v != 0 && v >> 32 == tag {
                    #[allow(clippy::cast_possible_truncation)]
                    let id = (v & ID_MASK) as u32;
                    let dir = if v & DIR_BIT != 0 {
                        Dir::Reply
                    } else {
                        Dir::Original
                    };
                    if f(id, dir) {
                        return true;
                    }
                }
            }
            if bucket.overflow.load(SeqCst) == 0 {
                return false;
            }
            b = (b + 1) & self.mask;
        }
        false
    }

    /// Publishes `(id, dir)` under `hash`. `false` if the index is full.
    pub(super) fn insert(&self, hash: u64, dir: Dir, id: u32) -> bool {
        let v = value(hash, dir, id);
        let mut b = self.home(hash);
        for _ in 0..=self.mask {
            for s in &self.buckets[b].slots {
                if s.load(SeqCst) == 0 && s.compare_exchange(0, v, SeqCst, SeqCst).is_ok() {
                    return true;
                }
            }
            self.buckets[b].overflow.fetch_add(1, SeqCst);
            b = (b + 1) & self.mask;
        }
        // Passed every bucket: take back the count each got.
        for bucket in self.buckets.iter() {
            bucket.overflow.fetch_sub(1, SeqCst);
        }
        false
    }

    /// Withdraws `(id, dir)` published under `hash`; `false` if it was not there.
    pub(super) fn remove(&self, hash: u64, dir: Dir, id: u32) -> bool {
        let v = value(hash, dir, id);
        let home = self.home(hash);
        let mut b = home;
        for _ in 0..=self.mask {
            for s in &self.buckets[b].slots {
                if s.load(SeqCst) == v && s.compare_exchange(v, 0, SeqCst, SeqCst).is_ok() {
                    self.uncount(home, b);
                    return true;
                }
            }
            if self.buckets[b].overflow.load(SeqCst) == 0 {
                return false;
            }
            b = (b + 1) & self.mask;
        }
        false
    }

    /// Whether no slot is taken and no count is left.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.buckets
            .iter()
            .all(|b| b.overflow.load(SeqCst) == 0 && b.slots.iter().all(|s| s.load(SeqCst) == 0))
    }

    /// Takes back the overflow counts of an entry homed at `home` that lives in `at`.
    fn uncount(&self, home: usize, at: usize) {
        let mut b = home;
        while b != at {
            self.buckets[b].overflow.fetch_sub(1, SeqCst);
            b = (b + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ix: &Index, h: u64) -> Vec<(u32, Dir)> {
        let mut v = Vec::new();
        ix.probe(h, |id, d| {
            v.push((id, d));
            false
        });
        v
    }

    #[test]
    fn entries_past_a_full_bucket_stay_reachable_and_removal_shortens_the_chain() {
        let ix = Index::new(16);
        // Twelve entries homed on bucket 0 with one tag: seven fill it, five overflow.
        let h = 0xabcd_0000_0000_0000u64;
        for id in 1..=12 {
            assert!(ix.insert(h, Dir::Original, id));
        }
        assert_eq!(ids(&ix, h).len(), 12);
        assert_eq!(ix.buckets[0].overflow.load(SeqCst), 5);
        for id in 8..=12 {
            assert!(ix.remove(h, Dir::Original, id));
        }
        assert_eq!(ix.buckets[0].overflow.load(SeqCst), 0);
        assert_eq!(ids(&ix, h).len(), 7);
        assert!(!ix.remove(h, Dir::Original, 12));
        // Another tag in the same bucket is not reported.
        assert!(ids(&ix, 0x1234_0000_0000_0000).is_empty());
    }

    #[test]
    fn direction_and_id_come_back_as_inserted() {
        let ix = Index::new(4);
        assert!(ix.insert(77, Dir::Reply, MAX_ID));
        assert_eq!(ids(&ix, 77), vec![(MAX_ID, Dir::Reply)]);
    }

    #[test]
    fn a_full_index_refuses_and_leaves_no_counts_behind() {
        let ix = Index::new(1);
        let n = ix.buckets.len() * SLOTS;
        for id in 1..=n {
            assert!(ix.insert(5, Dir::Original, u32::try_from(id).unwrap()));
        }
        assert!(!ix.insert(5, Dir::Original, 999));
        for id in 1..=n {
            assert!(ix.remove(5, Dir::Original, u32::try_from(id).unwrap()));
        }
        assert!(ix.buckets.iter().all(|b| b.overflow.load(SeqCst) == 0));
    }
}
