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
    /// Whether the queue finishes offload work itself ([`TxQueue::takes_offload`]).
    pub fn takes_offload(&self) -> bool {
        match self {
            TxSlot::Exclusive(q) => q.takes_offload(),
            TxSlot::Shared(q) => match q.lock() {
                Ok(q) => q.takes_offload(),
                Err(poisoned) => poisoned.into_inner().takes_offload(),
            },
        }
    }

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

/// Devargs for a vport that was given only a name: a TAP for internal ports, the kernel
/// interface of that name through a packet socket (a system port) for netdev ports.
pub fn default_devargs(kind: VportKind, name: &str) -> String {
    match kind {
        VportKind::Internal => format!("net_tap_{name},iface={name}"),
        VportKind::Netdev => format!("system,iface={name}"),
    }
}

impl DeviceStats for Port {
    fn stats(&self) -> PortStats {
        Port::stats(self).unwrap_or_default()
    }

    fn link_up(&self) -> bool {
        self.link().up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_only_ports_get_tap_or_a_system_port() {
        assert_eq!(
            default_devargs(VportKind::Internal, "br0"),
            "net_tap_br0,iface=br0"
        );
        assert_eq!(
            default_devargs(VportKind::Netdev, "eth1"),
            "system,iface=eth1"
        );
    }
}
