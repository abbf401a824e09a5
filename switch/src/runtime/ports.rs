//! The devices behind vports: how one is made from a vport's request, and the transmit
//! queues threads use on it.

use std::sync::{Arc, Mutex};

use crate::dpdk::{MbufArray, Port, TxOutcome, TxQueue};
use crate::model::VportKind;
use crate::stats::{DeviceStats, PortStats};

/// A transmit queue as a PMD or the control thread sees it: its own, or one shared with
/// other threads when the device has too few queues (locked only for that port).
#[derive(Debug)]
pub enum TxSlot {
    /// A queue used by this thread alone.
    Exclusive(TxQueue),
    /// A queue shared by several threads.
    Shared(Arc<Mutex<TxQueue>>),
}

impl TxSlot {
    /// Transmits `pkts` (emptied); refused packets are freed and returned in the outcome.
    #[inline]
    pub fn send<const N: usize>(&mut self, pkts: &mut MbufArray<N>) -> TxOutcome {
        match self {
            TxSlot::Exclusive(q) => q.tx_burst(pkts),
            TxSlot::Shared(q) => match q.lock() {
                Ok(mut q) => q.tx_burst(pkts),
                Err(poisoned) => poisoned.into_inner().tx_burst(pkts),
            },
        }
    }
}

/// Devargs for a vport that was given only a name: a TAP for internal ports, AF_PACKET
/// on the kernel interface of that name for netdev ports.
pub fn default_devargs(kind: VportKind, name: &str) -> String {
    match kind {
        VportKind::Internal => format!("net_tap_{name},iface={name}"),
        VportKind::Netdev => format!("net_af_packet_{name},iface={name}"),
    }
}

impl DeviceStats for Port {
    fn stats(&self) -> PortStats {
        Port::stats(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_only_ports_get_tap_or_af_packet() {
        assert_eq!(
            default_devargs(VportKind::Internal, "br0"),
            "net_tap_br0,iface=br0"
        );
        assert_eq!(
            default_devargs(VportKind::Netdev, "eth1"),
            "net_af_packet_eth1,iface=eth1"
        );
    }
}
