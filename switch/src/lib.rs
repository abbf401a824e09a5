//! dpswitch: the Open vSwitch kernel datapath re-implemented over DPDK poll-mode drivers.
#![warn(missing_docs)]

pub mod dpdk;
pub mod metrics;
pub mod netlink;
