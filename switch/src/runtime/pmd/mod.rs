//! PMD threads: the control thread's handle on each ([`PmdHandle`]), the commands that
//! update them ([`commands`]), the poll loop ([`thread`]) and when it polls kernel-backed
//! queues (`idle`), the upcall queue they share ([`upcalls`]) and their round diagnostics
//! ([`rounds`]).

pub mod commands;
mod idle;
pub mod rounds;
pub mod thread;
pub mod upcalls;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dpdk::LcoreJob;
use crate::stats::PmdShared;
use commands::{CommandChannel, Garbage, Snapshot};
use rounds::LongRound;

/// The fast path of one datapath on one PMD, with the CPU's own instructions.
pub type Pmd = fastpath::pmd::Pmd<crate::dpdk::Native>;

/// The control thread's handle on one PMD thread.
pub struct PmdHandle {
    /// The PMD's lcore.
    pub lcore: u32,
    /// Its commands.
    pub cmds: CommandChannel,
    /// What the PMD retired for this thread to drop.
    pub retired: rtrb::Consumer<Garbage>,
    /// The PMD's long poll rounds, for this thread to log.
    pub long_rounds: rtrb::Consumer<LongRound>,
    /// What the PMD publishes.
    pub shared: Arc<PmdShared>,
    /// The running thread.
    pub job: Option<LcoreJob>,
}

impl std::fmt::Debug for PmdHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmdHandle")
            .field("lcore", &self.lcore)
            .field("backlog", &self.cmds.backlog())
            .finish()
    }
}

impl PmdHandle {
    /// Whether the PMD has applied every command pushed to it so far.
    pub fn caught_up(&self) -> bool {
        self.shared.applied.load(Ordering::Acquire) >= self.cmds.sent()
    }

    /// Waits until the PMD has applied every command sent so far, pushing its backlog as
    /// room appears (building resynchronisations with `snapshot`), for at most `timeout`;
    /// returns whether it caught up.
    pub fn sync(&mut self, timeout: Duration, snapshot: Snapshot<'_>) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let pushed = self.cmds.pump(snapshot);
            if pushed && self.caught_up() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
        }
    }
}
