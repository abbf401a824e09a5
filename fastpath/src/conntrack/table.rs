//! The connection table every PMD and the control thread share.
//!
//! - **Connections** live in an arena of fixed entries, allocated in chunks by the control
//!   thread ahead of need ([`Table::grow`]) and handed out from a lock-free free list, so
//!   committing a connection on a PMD never allocates.
//! - **Lookups** go through [`index`], which holds both directions' tuples of every
//!   connection and is read and written with atomics only.
//! - **A connection's state** (tuples, protocol state, mark, labels) is changed only by a
//!   thread that has claimed it: a try-lock that never waits in the kernel, retried a few
//!   hundred times at most. Claims last a tracker update (tens of nanoseconds); a PMD that
//!   still cannot claim gives up and treats the packet as one the tracker ignores (`+inv`,
//!   as the kernel reports an ignored segment) instead of stalling.
//! - **Entries are reused, never freed**: an id read from the index may meet a different
//!   connection by the time it is claimed, so every claim checks the entry is live and
//!   holds the tuple looked for, and a [`ConnRef`] carries the entry's generation.
//! - **Expiry** is a deadline each accepted packet stores; the control thread sweeps the
//!   arena in bounded slices ([`Table::sweep`]) and unlinks what is due, so idle
//!   connections cost the PMDs nothing.

mod index;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use super::tcp::{TcpConn, TcpPolicy};
use super::tuple::{Family, Tuple};
use super::udp::UdpTimeouts;
use super::{icmp, Dir, OTHER_TIMEOUT};
use crate::cpu::Cpu;
use index::Index;

/// Entries per arena chunk.
pub const CHUNK: usize = 4096;
/// Claim attempts before a PMD gives up on a connection another thread holds.
const CLAIM_TRIES: usize = 256;
/// `zone_limit` value for a zone that has none of its own.
const ZONE_DEFAULT: u32 = u32::MAX;

/// A connection as one packet saw it: its entry and that entry's generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnRef {
    id: u32,
    gen: u32,
}

impl ConnRef {
    /// No connection.
    pub const NONE: ConnRef = ConnRef { id: 0, gen: 0 };

    /// Whether this names a connection.
    pub fn is_some(self) -> bool {
        self.id != 0
    }

    /// The connection's id (unique among live connections, reused after).
    pub fn id(self) -> u32 {
        self.id
    }
}

/// Per-protocol tracking state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoState {
    /// TCP: the state machine and windows.
    Tcp(TcpConn),
    /// UDP, UDP-Lite.
    Udp,
    /// An ICMP or ICMPv6 query.
    Icmp,
    /// Any other protocol.
    Other,
}

/// Timeouts and TCP knobs (the kernel's per-namespace defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// TCP.
    pub tcp: TcpPolicy,
    /// UDP.
    pub udp: UdpTimeouts,
    /// ICMP queries, seconds.
    pub icmp: u32,
    /// Other protocols, seconds.
    pub other: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            tcp: TcpPolicy::default(),
            udp: UdpTimeouts::default(),
            icmp: icmp::TIMEOUT,
            other: OTHER_TIMEOUT,
        }
    }
}

/// One connection's state: what a claim protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    gen: u32,
    live: bool,
    /// The tuple of each direction, indexed by [`Dir::index`].
    pub tuples: [Tuple; 2],
    /// Protocol state.
    pub proto: ProtoState,
    /// Connection mark.
    pub mark: u32,
    /// Connection labels.
    pub labels: u128,
    /// A reply-direction packet has been accepted.
    pub seen_reply: bool,
    /// Assured (kept under pressure, never early-dropped).
    pub assured: bool,
    /// When the connection was created, in the table's milliseconds.
    pub created_ms: u64,
    /// Which sides its mapping translates ([`super::nat::status`] bits; 0: none).
    pub nat: u8,
}

const VACANT_TUPLE: Tuple = Tuple {
    zone: 0,
    family: Family::V4,
    src: 0,
    dst: 0,
    proto: 0,
    src_port: 0,
    dst_port: 0,
};

impl Conn {
    /// A connection about to be committed: `orig` and `reply` tuples, protocol state.
    pub fn new(orig: Tuple, reply: Tuple, proto: ProtoState, now_ms: u64) -> Conn {
        Conn {
            gen: 0,
            live: false,
            tuples: [orig, reply],
            proto,
            mark: 0,
            labels: 0,
            seen_reply: false,
            assured: false,
            created_ms: now_ms,
            nat: 0,
        }
    }

    fn vacant() -> Conn {
        Conn::new(VACANT_TUPLE, VACANT_TUPLE, ProtoState::Other, 0)
    }

    /// The zone (both tuples carry it).
    pub fn zone(&self) -> u16 {
        self.tuples[0].zone
    }
}

/// One arena entry.
pub struct Entry {
    /// Deadline in the table's milliseconds (0: not live).
    expires_ms: AtomicU64,
    next_free: AtomicU32,
    conn: Mutex<Conn>,
}

impl Entry {
    /// Sets the deadline `timeout_s` seconds after `now_ms`.
    #[inline]
    pub fn set_timeout(&self, now_ms: u64, timeout_s: u32) {
        // 0 means "not live".
        let d = (now_ms + u64::from(timeout_s) * 1000).max(1);
        self.expires_ms.store(d, Relaxed);
    }

    /// The deadline, in the table's milliseconds.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms.load(Relaxed)
    }
}

/// Why a connection was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The global or the zone's connection limit is reached.
    Limit,
    /// No free entry (the control thread has not grown the arena yet, or it is at
    /// capacity).
    Full,
    /// The tuple of one direction belongs to another connection.
    Clash,
}

/// Counters of events off the per-packet path.
#[derive(Debug, Default)]
pub struct TableStats {
    /// Connections committed.
    pub created: AtomicU64,
    /// Connections removed at their deadline.
    pub expired: AtomicU64,
    /// Commits refused by a limit.
    pub limit_drops: AtomicU64,
    /// Commits refused for want of a free entry.
    pub full_drops: AtomicU64,
    /// Commits that met another connection's tuple.
    pub clashes: AtomicU64,
    /// NAT commits that found every mapping of their range taken.
    pub nat_exhausted: AtomicU64,
}

/// The shared connection table.
pub struct Table {
    seed: u64,
    index: Index,
    chunks: Box<[OnceLock<Box<[Entry]>>]>,
    grown: AtomicU32,
    /// Free-list head: `tag << 32 | id`; the tag defeats ABA.
    free: AtomicU64,
    n_free: AtomicU32,
    count: AtomicU32,
    max_conns: AtomicU32,
    zone_count: Box<[AtomicU32]>,
    zone_limit: Box<[AtomicU32]>,
    default_limit: AtomicU32,
    now_ms: AtomicU64,
    sweep_at: AtomicU32,
    policy: Policy,
    /// Event counters.
    pub stats: TableStats,
}

impl Table {
    /// A table for at most `capacity` connections (also the initial global limit), hashing
    /// with `seed` (random per datapath, against hash flooding).
    pub fn new(capacity: u32, seed: u64, policy: Policy) -> Table {
        let capacity = capacity.clamp(1, index::MAX_ID);
        let n_chunks = (capacity as usize).div_ceil(CHUNK);
        let t = Table {
            seed,
            index: Index::new(n_chunks * CHUNK),
            chunks: (0..n_chunks).map(|_| OnceLock::new()).collect(),
            grown: AtomicU32::new(0),
            free: AtomicU64::new(0),
            n_free: AtomicU32::new(0),
            count: AtomicU32::new(0),
            max_conns: AtomicU32::new(capacity),
            zone_count: (0..=u16::MAX).map(|_| AtomicU32::new(0)).collect(),
            zone_limit: (0..=u16::MAX)
                .map(|_| AtomicU32::new(ZONE_DEFAULT))
                .collect(),
            default_limit: AtomicU32::new(0),
            now_ms: AtomicU64::new(0),
            sweep_at: AtomicU32::new(0),
            policy,
            stats: TableStats::default(),
        };
        t.grow();
        t
    }

    /// Timeouts and TCP knobs.
    #[inline]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The table's clock, in milliseconds; the control thread advances it ([`Table::tick`]).
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.now_ms.load(Relaxed)
    }

    /// Advances the clock to `now_ms` (monotonic milliseconds).
    pub fn tick(&self, now_ms: u64) {
        self.now_ms.fetch_max(now_ms, Relaxed);
    }

    /// Committed connections.
    pub fn count(&self) -> u32 {
        self.count.load(Relaxed)
    }

    /// The global connection limit.
    pub fn max_conns(&self) -> u32 {
        self.max_conns.load(Relaxed)
    }

    /// Sets the global limit (at most the capacity).
    pub fn set_max_conns(&self, n: u32) {
        let cap = u32::try_from(self.chunks.len() * CHUNK).unwrap_or(u32::MAX);
        self.max_conns.store(n.min(cap), Relaxed);
    }

    /// Connections in `zone`.
    pub fn zone_count(&self, zone: u16) -> u32 {
        self.zone_count[usize::from(zone)].load(Relaxed)
    }

    /// The limit of `zone`: its own, or else the default (0: unlimited); and whether it
    /// is its own.
    pub fn zone_limit(&self, zone: u16) -> (u32, bool) {
        match self.zone_limit[usize::from(zone)].load(Relaxed) {
            ZONE_DEFAULT => (self.default_limit.load(Relaxed), false),
            n => (n, true),
        }
    }

    /// Sets (`Some`) or removes (`None`) `zone`'s own limit.
    pub fn set_zone_limit(&self, zone: u16, limit: Option<u32>) {
        let v = limit.map_or(ZONE_DEFAULT, |n| n.min(ZONE_DEFAULT - 1));
        self.zone_limit[usize::from(zone)].store(v, Relaxed);
    }

    /// The default zone limit (0: unlimited).
    pub fn default_limit(&self) -> u32 {
        self.default_limit.load(Relaxed)
    }

    /// Sets the default zone limit.
    pub fn set_default_limit(&self, n: u32) {
        self.default_limit.store(n, Relaxed);
    }

    /// Zones that have a limit of their own.
    pub fn limited_zones(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&z| self.zone_limit[usize::from(z)].load(Relaxed) != ZONE_DEFAULT)
    }

    /// Bytes of memory per connection the table can hold: an entry and its share of the
    /// index.
    pub fn bytes_per_conn(&self) -> usize {
        std::mem::size_of::<Entry>() + self.index.bytes() / (self.chunks.len() * CHUNK)
    }

    /// Allocates the next arena chunk when less than a chunk of entries is free (control
    /// thread, often enough that PMDs committing at full speed do not run out). Returns
    /// whether it did.
    pub fn grow(&self) -> bool {
        (self.n_free.load(Relaxed) as usize) < CHUNK && self.add_chunk()
    }

    /// Allocates the next chunk (control thread); `false` at capacity.
    fn add_chunk(&self) -> bool {
        let c = self.grown.load(Relaxed) as usize;
        let Some(slot) = self.chunks.get(c) else {
            return false;
        };
        let first = u32::try_from(c * CHUNK + 1).unwrap_or(u32::MAX);
        slot.get_or_init(|| {
            (0..CHUNK)
                .map(|_| Entry {
                    expires_ms: AtomicU64::new(0),
                    next_free: AtomicU32::new(0),
                    conn: Mutex::new(Conn::vacant()),
                })
                .collect()
        });
        self.grown
            .store(u32::try_from(c + 1).unwrap_or(u32::MAX), SeqCst);
        for i in (0..CHUNK).rev() {
            self.push_free(first + u32::try_from(i).unwrap_or(0));
        }
        true
    }

    /// Entries allocated so far (ids `1..=` this).
    fn allocated(&self) -> u32 {
        let n = self.grown.load(SeqCst) as usize * CHUNK;
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Allocates chunks until at least `n` entries exist (or the capacity is reached), so
    /// that `n` commits need no [`Table::grow`] on the way (benchmarks, a daemon that wants
    /// its memory up front).
    pub fn preallocate(&self, n: usize) {
        while (self.allocated() as usize) < n && self.add_chunk() {}
    }

    #[inline]
    fn entry(&self, id: u32) -> Option<&Entry> {
        let i = (id as usize).checked_sub(1)?;
        self.chunks.get(i / CHUNK)?.get()?.get(i % CHUNK)
    }

    fn push_free(&self, id: u32) {
        let Some(e) = self.entry(id) else { return };
        let mut head = self.free.load(SeqCst);
        loop {
            #[allow(clippy::cast_possible_truncation)]
            e.next_free.store(head as u32, SeqCst);
            let new = ((head >> 32) + 1) << 32 | u64::from(id);
            match self.free.compare_exchange(head, new, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        self.n_free.fetch_add(1, Relaxed);
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free.load(SeqCst);
        loop {
            #[allow(clippy::cast_possible_truncation)]
            let id = head as u32;
            let next = self.entry(id)?.next_free.load(SeqCst);
            let new = ((head >> 32) + 1) << 32 | u64::from(next);
            match self.free.compare_exchange(head, new, SeqCst, SeqCst) {
                Ok(_) => {
                    self.n_free.fetch_sub(1, Relaxed);
                    return Some(id);
                }
                Err(h) => head = h,
            }
        }
    }

    /// Claims `e`, trying a bounded number of times.
    #[inline]
    fn claim(e: &Entry) -> Option<MutexGuard<'_, Conn>> {
        for _ in 0..CLAIM_TRIES {
            match e.conn.try_lock() {
                Ok(g) => return Some(g),
                Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
            }
        }
        None
    }

    /// Claims `e` however long it takes (control thread only).
    fn claim_wait(e: &Entry) -> MutexGuard<'_, Conn> {
        e.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The hash lookups of `t` use.
    #[inline]
    pub fn hash(&self, t: &Tuple) -> u64 {
        t.hash(self.seed)
    }

    /// Starts loading the index bucket a lookup of `hash` reads first: the first stage of
    /// a burst's lookups, which a PMD runs for all its packets before any of them.
    #[inline]
    pub fn prefetch_bucket<P: Cpu>(&self, hash: u64) {
        P::prefetch(self.index.home_bucket(hash));
    }

    /// Starts loading the connections `hash`'s home bucket names under its tag: the second
    /// stage, once the buckets are in the cache.
    #[inline]
    pub fn prefetch_conns<P: Cpu>(&self, hash: u64) {
        self.index.home_ids(hash, |id| {
            if let Some(e) = self.entry(id) {
                P::prefetch(e);
            }
        });
    }

    /// Finds the connection one of whose tuples is `t` and runs `f` on it, claimed, with
    /// the direction `t` goes in.
    #[inline]
    pub fn find<R>(
        &self,
        t: &Tuple,
        f: impl FnOnce(ConnRef, Dir, &mut Conn, &Entry) -> R,
    ) -> Found<R> {
        self.find_hashed(t, t.hash(self.seed), f)
    }

    /// [`Table::find`] with `t`'s hash already computed ([`Table::hash`]).
    #[inline]
    pub fn find_hashed<R>(
        &self,
        t: &Tuple,
        hash: u64,
        f: impl FnOnce(ConnRef, Dir, &mut Conn, &Entry) -> R,
    ) -> Found<R> {
        let mut f = Some(f);
        let mut out = None;
        let mut busy = false;
        self.index.probe(hash, |id, dir| {
            let Some(e) = self.entry(id) else {
                return false;
            };
            let Some(mut c) = Self::claim(e) else {
                busy = true;
                return false;
            };
            if !c.live || c.tuples[dir.index()] != *t {
                return false;
            }
            let r = ConnRef { id, gen: c.gen };
            if let Some(f) = f.take() {
                out = Some(f(r, dir, &mut c, e));
            }
            true
        });
        match out {
            Some(r) => Found::Yes(r),
            None if busy => Found::Busy,
            None => Found::No,
        }
    }

    /// Runs `f` on the connection `r` names, claimed, if it is still that connection.
    #[inline]
    pub fn get<R>(&self, r: ConnRef, f: impl FnOnce(&mut Conn, &Entry) -> R) -> Found<R> {
        let Some(e) = self.entry(r.id) else {
            return Found::No;
        };
        let Some(mut c) = Self::claim(e) else {
            return Found::Busy;
        };
        if !c.live || c.gen != r.gen {
            return Found::No;
        }
        Found::Yes(f(&mut c, e))
    }

    /// Commits `conn` with a deadline `timeout_s` from now, then runs `f` on it (still
    /// claimed by the committing thread, so that no other packet sees it half set up).
    ///
    /// # Errors
    /// [`Refused`]: a limit, no free entry, or a tuple already in use. A connection with
    /// the same original tuple committed concurrently by another thread is a clash too:
    /// at most one of them stays.
    pub fn commit<R>(
        &self,
        conn: Conn,
        timeout_s: u32,
        f: impl FnOnce(ConnRef, &mut Conn, &Entry) -> R,
    ) -> Result<R, Refused> {
        let zone = conn.zone();
        self.reserve(zone)?;
        let Some(id) = self.pop_free() else {
            self.unreserve(zone);
            self.stats.full_drops.fetch_add(1, Relaxed);
            return Err(Refused::Full);
        };
        let Some(e) = self.entry(id) else {
            self.unreserve(zone);
            return Err(Refused::Full);
        };
        // A free entry is claimed only by lookups holding a stale id, briefly; a PMD still
        // never waits for one (the commit fails as if no entry were free).
        let Some(mut c) = Self::claim(e) else {
            self.push_free(id);
            self.unreserve(zone);
            self.stats.full_drops.fetch_add(1, Relaxed);
            return Err(Refused::Full);
        };
        let gen = c.gen.wrapping_add(1);
        *c = Conn {
            gen,
            live: true,
            ..conn
        };
        e.set_timeout(self.now_ms(), timeout_s);
        let r = ConnRef { id, gen };
        let hashes = [c.tuples[0].hash(self.seed), c.tuples[1].hash(self.seed)];
        for (n, dir) in [Dir::Original, Dir::Reply].into_iter().enumerate() {
            let published = self.index.insert(hashes[n], dir, id);
            if !published || self.taken_by_other(&c.tuples[n], id) {
                if published {
                    self.index.remove(hashes[n], dir, id);
                }
                if n == 1 {
                    self.index.remove(hashes[0], Dir::Original, id);
                }
                c.live = false;
                e.expires_ms.store(0, Relaxed);
                drop(c);
                self.push_free(id);
                self.unreserve(zone);
                self.stats.clashes.fetch_add(1, Relaxed);
                return Err(Refused::Clash);
            }
        }
        self.stats.created.fetch_add(1, Relaxed);
        Ok(f(r, &mut c, e))
    }

    /// Whether a live connection other than `id` has `t` as a tuple. One that cannot be
    /// claimed counts as having it: giving up a commit is safe, a duplicate is not.
    fn taken_by_other(&self, t: &Tuple, id: u32) -> bool {
        self.index.probe(t.hash(self.seed), |other, dir| {
            if other == id {
                return false;
            }
            let Some(e) = self.entry(other) else {
                return false;
            };
            match Self::claim(e) {
                Some(c) => c.live && c.tuples[dir.index()] == *t,
                None => true,
            }
        })
    }

    fn reserve(&self, zone: u16) -> Result<(), Refused> {
        if self.count.fetch_add(1, SeqCst) >= self.max_conns.load(Relaxed) {
            self.count.fetch_sub(1, SeqCst);
            self.stats.limit_drops.fetch_add(1, Relaxed);
            return Err(Refused::Limit);
        }
        let (limit, _) = self.zone_limit(zone);
        let n = self.zone_count[usize::from(zone)].fetch_add(1, SeqCst);
        if limit != 0 && n >= limit {
            self.unreserve(zone);
            self.stats.limit_drops.fetch_add(1, Relaxed);
            return Err(Refused::Limit);
        }
        Ok(())
    }

    fn unreserve(&self, zone: u16) {
        self.zone_count[usize::from(zone)].fetch_sub(1, SeqCst);
        self.count.fetch_sub(1, SeqCst);
    }

    /// Removes the claimed connection `c` (entry `e`, id `r`): no lookup finds it after
    /// this returns. The entry goes back to the free list once `c` is released, so the
    /// caller passes its guard in.
    fn unlink(&self, id: u32, mut c: MutexGuard<'_, Conn>, e: &Entry) {
        if !c.live {
            return;
        }
        c.live = false;
        e.expires_ms.store(0, Relaxed);
        for (n, dir) in [Dir::Original, Dir::Reply].into_iter().enumerate() {
            self.index.remove(c.tuples[n].hash(self.seed), dir, id);
        }
        let zone = c.zone();
        drop(c);
        self.unreserve(zone);
        self.push_free(id);
    }

    /// Removes the connection `r` names, if it still exists (a TCP reopen, a forced
    /// commit in the other direction). `false` if it could not be claimed.
    pub fn remove(&self, r: ConnRef) -> bool {
        let Some(e) = self.entry(r.id) else {
            return true;
        };
        let Some(c) = Self::claim(e) else {
            return false;
        };
        if c.live && c.gen == r.gen {
            self.unlink(r.id, c, e);
        }
        true
    }

    /// Examines up to `budget` entries from where the last sweep stopped and removes the
    /// connections past their deadline (control thread). Returns how many it removed.
    pub fn sweep(&self, budget: usize) -> usize {
        let total = self.grown.load(SeqCst) as usize * CHUNK;
        if total == 0 {
            return 0;
        }
        let now = self.now_ms();
        let mut at = self.sweep_at.load(Relaxed) as usize % total;
        let mut removed = 0;
        for _ in 0..budget.min(total) {
            let id = u32::try_from(at + 1).unwrap_or(u32::MAX);
            at = (at + 1) % total;
            let Some(e) = self.entry(id) else { continue };
            let d = e.expires_ms.load(Relaxed);
            if d == 0 || d > now {
                continue;
            }
            let Some(c) = Self::claim(e) else { continue };
            if c.live && e.expires_ms.load(Relaxed) <= now {
                self.unlink(id, c, e);
                removed += 1;
            }
        }
        self.sweep_at.store(u32::try_from(at).unwrap_or(0), Relaxed);
        self.stats.expired.fetch_add(removed as u64, Relaxed);
        removed
    }

    /// Removes every connection for which `pick(id, connection)` is true (control thread).
    /// Returns how many.
    pub fn flush(&self, mut pick: impl FnMut(u32, &Conn) -> bool) -> usize {
        let mut removed = 0;
        for id in 1..=self.allocated() {
            let Some(e) = self.entry(id) else { continue };
            if e.expires_ms.load(Relaxed) == 0 {
                continue;
            }
            let c = Self::claim_wait(e);
            if c.live && pick(id, &c) {
                self.unlink(id, c, e);
                removed += 1;
            }
        }
        removed
    }

    /// Calls `f` with the id, a copy and the deadline of every live connection (control
    /// thread). An id is unique among live connections.
    pub fn for_each(&self, mut f: impl FnMut(u32, &Conn, u64)) {
        for id in 1..=self.allocated() {
            let Some(e) = self.entry(id) else { continue };
            if e.expires_ms.load(Relaxed) == 0 {
                continue;
            }
            let c = Self::claim_wait(e).clone();
            if c.live {
                f(id, &c, e.expires_ms.load(Relaxed));
            }
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("count", &self.count())
            .field("max_conns", &self.max_conns())
            .finish_non_exhaustive()
    }
}

impl Default for Table {
    /// A table of one chunk with the default policy and a fixed seed, for in-memory
    /// dataplanes.
    fn default() -> Self {
        Table::new(4096, 0x6a09_e667_f3bc_c908, Policy::default())
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<R> {
    /// The connection, and what the caller's function made of it.
    Yes(R),
    /// No such connection.
    No,
    /// A candidate stayed claimed by another thread.
    Busy,
}

#[cfg(test)]
mod tests;
