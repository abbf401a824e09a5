//! Vports: datapath ports backed by DPDK ethdevs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::dpdk::{MbufArray, Port, PortStats, TxOutcome, TxQueue};

/// Port number of a datapath's local port.
pub const OVSP_LOCAL: u32 = 0;
/// Port numbers are below this (the kernel's `DP_MAX_PORTS`).
pub const MAX_PORT_NO: u32 = 65535;
/// Longest vport / datapath name (`IFNAMSIZ - 1`).
pub const MAX_NAME_LEN: usize = 15;

/// What backs a vport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VportKind {
    /// Any DPDK device given by devargs (OVS "system"/netdev ports).
    Netdev,
    /// A datapath-owned TAP device whose kernel netdev carries the vport's name.
    Internal,
}

/// Counters the PMDs and the control thread add to (rare events only: drops, upcalls).
#[derive(Debug, Default)]
pub struct VportCounters {
    /// Packets the device refused to transmit (freed).
    pub tx_dropped: AtomicU64,
    /// Packets received on this port that were dropped in software (no flow room, malformed).
    pub rx_dropped: AtomicU64,
    /// Upcalls for packets from this port delivered to a controller.
    pub upcall_success: AtomicU64,
    /// Upcalls for packets from this port that could not be delivered.
    pub upcall_fail: AtomicU64,
}

impl VportCounters {
    /// A port's receive and transmit drops as the vport reports them, everywhere (netlink
    /// vport stats, /metrics): the device's missed packets and mbuf allocation failures plus
    /// the software's drops on receive; the device's refusals on transmit.
    pub fn dropped(&self, dev: &PortStats) -> (u64, u64) {
        (
            dev.rx_missed + dev.rx_nombuf + self.rx_dropped.load(Ordering::Relaxed),
            self.tx_dropped.load(Ordering::Relaxed),
        )
    }

    /// Adds `n` to a counter (rare events: a plain atomic add is fine).
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

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

/// A port of a datapath.
#[derive(Debug)]
pub struct Vport {
    /// Port number within the datapath.
    pub port_no: u32,
    /// Vport name (the TAP netdev's name for internal ports).
    pub name: String,
    /// What backs it.
    pub kind: VportKind,
    /// The DPDK devargs it was created from.
    pub devargs: String,
    /// Netlink port ids MISS upcalls for packets from this port go to (empty or `[0]`: none; any non-zero id puts the port under a controller).
    pub upcall_pids: Vec<u32>,
    /// Kernel ifindex of the backing netdev (TAP ports), 0 if it has none.
    pub ifindex: u32,
    /// Options given at creation (printed by `dpctl show`).
    pub options: BTreeMap<String, String>,
    /// The DPDK port.
    pub port: Port,
    /// The control thread's transmit queue (slow path, EXECUTE).
    pub ctl_tx: TxSlot,
    /// Software counters.
    pub counters: Arc<VportCounters>,
}

/// The vport setting that keeps a port out of the standalone bridge's floods (OVS's
/// `no-flood`), e.g. for the local port on a benchmark or an uplink.
pub const NO_FLOOD: &str = "no-flood";

impl Vport {
    /// Whether the standalone bridge floods to this port.
    pub fn floods(&self) -> bool {
        !matches!(
            self.options.get(NO_FLOOD).map(String::as_str),
            Some("true" | "1" | "yes")
        )
    }

    /// The upcall port id for a packet with `hash`, or None when upcalls are off.
    pub fn upcall_pid(&self, hash: u32) -> Option<u32> {
        let n = self.upcall_pids.len();
        if n == 0 {
            return None;
        }
        let pid = self.upcall_pids[hash as usize % n];
        (pid != 0).then_some(pid)
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

/// Checks a vport or datapath name as the kernel does (non-empty, at most 15 bytes, no NUL
/// or '/').
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.contains(['\0', '/', ' ', ','])
}

/// Picks a port number: the requested one if free (EBUSY if taken, EFBIG if too large), else
/// the lowest free number from 1 (EFBIG if none is left).
pub fn allocate_port_no<V>(used: &BTreeMap<u32, V>, requested: Option<u32>) -> Result<u32, i32> {
    match requested {
        Some(n) if n != 0 => {
            if n >= MAX_PORT_NO {
                Err(libc::EFBIG)
            } else if used.contains_key(&n) {
                Err(libc::EBUSY)
            } else {
                Ok(n)
            }
        }
        _ => {
            let mut want = 1;
            for &n in used.keys() {
                if n < want {
                    continue;
                }
                if n != want {
                    break;
                }
                want += 1;
            }
            if want >= MAX_PORT_NO {
                Err(libc::EFBIG)
            } else {
                Ok(want)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_numbers_follow_the_kernels_rules() {
        let mut used: BTreeMap<u32, ()> = BTreeMap::new();
        used.insert(0, ());
        assert_eq!(allocate_port_no(&used, None), Ok(1));
        used.insert(1, ());
        used.insert(3, ());
        assert_eq!(allocate_port_no(&used, None), Ok(2));
        assert_eq!(allocate_port_no(&used, Some(0)), Ok(2), "0 means pick one");
        assert_eq!(allocate_port_no(&used, Some(3)), Err(libc::EBUSY));
        assert_eq!(allocate_port_no(&used, Some(7)), Ok(7));
        assert_eq!(allocate_port_no(&used, Some(65535)), Err(libc::EFBIG));
        let full: BTreeMap<u32, ()> = (0..MAX_PORT_NO).map(|n| (n, ())).collect();
        assert_eq!(allocate_port_no(&full, None), Err(libc::EFBIG));
    }

    #[test]
    fn names_follow_ifnamsiz() {
        assert!(valid_name("dp0"));
        assert!(valid_name("a23456789012345"));
        assert!(!valid_name("a234567890123456"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
    }

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
