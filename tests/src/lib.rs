//! Helpers for end-to-end tests that run real `dpswitch` processes: unique names per test,
//! network namespaces, and cleanup (by pid) even when a test fails.
//!
//! Tests use the helpers from here, and the netlink client and the metrics scrapes as the
//! modules [`nlclient`] and [`prom`]. Where each lives: the process harness ([`Dpswitch`]) in
//! `dpswitch`, its netlink queries in `query`; runs of `dpctl` and of the stock `ovs-dpctl`
//! in `dpctl` and `ovs_dpctl`; network namespaces in `netns`; packet sockets and test frames
//! in `packet`; pcap and temporary files in `files`; unique names in `names`; other programs
//! in `exec`; `nlhostile` runs in `hostile`. The stock ovsdb-server and ovs-vswitchd driving
//! dpswitch, one chassis namespace per test, are the module [`ovs`]; the traffic run through
//! them (ping, TCP, UDP, SNMP counters) is in `traffic`, and the frames built and parsed on
//! the wire in `wire`.
#![warn(missing_docs)]

mod dpctl;
mod dpswitch;
mod exec;
mod files;
mod hostile;
mod names;
mod netns;
pub mod nlclient;
pub mod ovs;
mod ovs_dpctl;
mod packet;
pub mod prom;
mod query;
mod traffic;
mod wire;

pub use dpctl::{dpctl_at, CtlRun};
pub use dpswitch::{dpswitch_command, dpswitch_until_exit, long_round_lines, Dpswitch};
pub use exec::{bin, capture_lines, sh};
pub use files::{write_pcap, TempFile};
pub use hostile::{nlhostile, result_fields};
pub use names::{fresh_netlink_pid, unique};
pub use netns::Netns;
pub use ovs_dpctl::{ovs_dpctl_at, ovs_dpctl_path, split_vlog, OVS_DPCTL_CACHE};
pub use packet::{magic_frame, PacketSocket, MAGIC_ETHERTYPE};
pub use traffic::{
    ping, ping_fragmented, snmp_counter, tcp_exchange, udp_burst, PingResult, UdpOutcome,
};
pub use wire::{mac_str, tcp4_frame, udp4_frame, with_vlan, Frame, Ip4, Ip4Spec, L4};
