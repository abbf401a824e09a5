//! The netlink sockets the library looks after, by file descriptor, with no limit on the
//! descriptor's number.
//!
//! Locking: the table's lock is held only to look an entry up or change it, never across a
//! system call; a socket's own lock is held across non-blocking calls only. A descriptor
//! that is not in the table costs one atomic load while the table is empty, else one
//! uncontended read lock and a hash lookup.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once, PoisonError, RwLock, RwLockWriteGuard};

use crate::deliver::Datagram;
use crate::ledger::Ledger;

/// Where a generic-netlink socket's sends go when they name no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Not connected: to the kernel, so the library addresses them to dpswitch.
    Unconnected,
    /// Connected to dpswitch (OVS's `connect()` to port 0, redirected).
    Dpswitch,
    /// Connected somewhere else: left alone.
    Other,
}

/// A generic-netlink socket's state.
#[derive(Debug)]
pub struct RedirectState {
    /// Where its unaddressed sends go.
    pub peer: Peer,
    /// The requests it owes answers for.
    pub ledger: Ledger,
    /// Received datagrams (or parts of one) not yet handed to the caller.
    pub queue: VecDeque<Datagram>,
}

impl RedirectState {
    /// Whether receives need the library: something is owed or held back.
    pub fn busy(&self) -> bool {
        !self.ledger.is_empty() || !self.queue.is_empty()
    }
}

/// A socket the library looks after. Descriptors duplicated from one share it, as they
/// share the kernel socket.
#[derive(Debug)]
pub enum Sock {
    /// NETLINK_GENERIC or NETLINK_NETFILTER: redirected to dpswitch.
    Redirected(Mutex<RedirectState>),
    /// NETLINK_ROUTE: tunnel creation spoiled.
    Route,
}

impl Sock {
    /// A fresh redirected socket.
    pub fn redirected(peer: Peer) -> Arc<Sock> {
        Arc::new(Sock::Redirected(Mutex::new(RedirectState {
            peer,
            ledger: Ledger::default(),
            queue: VecDeque::new(),
        })))
    }
}

/// Locks a generic-netlink socket's state. A panic cannot leave it half-changed in a way
/// that matters more than stopping would (and the library is built to abort on panic).
pub fn lock(m: &Mutex<RedirectState>) -> MutexGuard<'_, RedirectState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Table = HashMap<RawFd, Arc<Sock>>;

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| {
    // A child forked while another thread held the lock would block in its first close()
    // or dup2(); holding it across fork() makes sure the child's copy is unlocked.
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        crate::sys::at_fork(crate::sys::ForkHooks {
            prepare: fork_prepare,
            parent: fork_done,
            child: fork_done,
        })
    });
    RwLock::new(HashMap::new())
});

thread_local! {
    /// The table's lock, held by the thread calling fork() from just before to just after.
    static HELD: RefCell<Option<RwLockWriteGuard<'static, Table>>> = const { RefCell::new(None) };
}

fn fork_prepare() {
    let g = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    HELD.with(|h| *h.borrow_mut() = Some(g));
}

/// In the parent and in the child: the lock is released (the child's thread is a copy of
/// the forking one, with its thread-local copy of the guard).
fn fork_done() {
    HELD.with(|h| h.borrow_mut().take());
}
/// How many descriptors the table holds: the fast path for processes with none.
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// The socket behind `fd`, if the library looks after it.
pub fn lookup(fd: RawFd) -> Option<Arc<Sock>> {
    if ENTRIES.load(Ordering::Acquire) == 0 {
        return None;
    }
    TABLE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&fd)
        .cloned()
}

/// Records `fd` as `sock` (replacing whatever a reused number held).
pub fn insert(fd: RawFd, sock: Arc<Sock>) {
    let mut t = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    if t.insert(fd, sock).is_none() {
        ENTRIES.fetch_add(1, Ordering::Release);
    }
}

/// Forgets `fd` (closed, or about to be replaced by another open file).
pub fn forget(fd: RawFd) {
    if lookup(fd).is_none() {
        // Most closes are of descriptors the library never saw: no write lock for them.
        return;
    }
    let mut t = TABLE.write().unwrap_or_else(PoisonError::into_inner);
    if t.remove(&fd).is_some() {
        ENTRIES.fetch_sub(1, Ordering::Release);
    }
}
