//! dpswitch: the Open vSwitch kernel datapath re-implemented over DPDK poll-mode drivers.
//!
//! The per-packet path is the `fastpath` crate; this crate is the rest of the datapath (see
//! `docs/architecture.md`):
//! - [`model`]: the authoritative datapaths, vports and flows, and the kernel's rules for
//!   changing them, over a [`model::Dataplane`];
//! - [`slowpath`]: upcalls (to a controller or the standalone MAC-learning bridge) and
//!   PACKET EXECUTE;
//! - [`control`]: the generic-netlink server, one module per family;
//! - [`runtime`]: EAL, DPDK ports and PMD threads, the [`model::Dataplane`] of the daemon;
//! - [`dpdk`]: the safe layer over DPDK, where this crate's `unsafe` lives;
//! - [`stats`] and [`metrics`]: the counters threads share, and Prometheus.
#![warn(missing_docs)]

pub mod cli;
pub mod control;
pub mod dpdk;
pub mod error;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod slowpath;
pub mod stats;

pub use error::{Error, Result};

use model::{Dataplane, Model};
use slowpath::SlowPath;

/// The control thread's whole state: the model, the dataplane under it and the slow path.
#[derive(Debug)]
pub struct Switch<D: Dataplane> {
    /// Datapaths, vports and flows.
    pub model: Model,
    /// Devices and PMDs.
    pub plane: D,
    /// Upcall handling and PACKET EXECUTE.
    pub slow: SlowPath,
}
