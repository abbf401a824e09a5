//! dpswitch: the Open vSwitch kernel datapath re-implemented over DPDK poll-mode drivers.
//!
//! The per-packet path is the `fastpath` crate; this crate is the rest of the datapath:
//! the DPDK layer ([`dpdk`]), the authoritative model ([`model`]), the runtime that runs
//! PMD threads over DPDK ports ([`runtime`]), the netlink control plane ([`netlink`]) and
//! metrics ([`metrics`]). See `docs/architecture.md`.
#![warn(missing_docs)]

pub mod cli;
pub mod dpdk;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod runtime;
