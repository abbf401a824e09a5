//! dpswitch: the Open vSwitch kernel datapath re-implemented over DPDK poll-mode drivers.
//!
//! The fast path ([`packet`], [`flow`], [`dpcls`], [`emc`], [`actions`], [`pmd`]) is plain
//! Rust over byte buffers: no DPDK types, so it is unit-, property- and bench-testable
//! on its own. The DPDK runtime feeds it bursts of mbufs through [`packet::PacketBuf`].
#![warn(missing_docs)]

pub mod actions;
pub mod cli;
pub mod dpcls;
pub mod dpdk;
pub mod emc;
pub mod flow;
pub mod metrics;
pub mod netlink;
pub mod odpconv;
pub mod packet;
pub mod pmd;
pub mod runtime;
