//! Ports: DPDK ethdev devices ([`ethdev`]) and kernel interfaces attached through a packet
//! socket of dpswitch's own ([`system`]), behind one handle and one pair of queue types, so
//! the runtime treats them alike.

mod ethdev;
pub mod system;

use std::sync::Arc;

use super::{Eal, MbufArray, Mempool, Result};
use crate::stats::PortStats;
use ethdev::{EthPort, EthRxQueue, EthTxQueue};
use system::{SysRxQueue, SysTxQueue, SystemPort};

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// Receive queues wanted (clamped to what the device supports, at most 64).
    pub n_rxq: u16,
    /// Transmit queues wanted (clamped likewise).
    pub n_txq: u16,
    /// Descriptors per rx queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// Descriptors per tx queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Put the port in promiscuous mode (a switch port must see every frame).
    pub promiscuous: bool,
    /// Buffers for frames longer than the main pool's (system ports: GSO and jumbo frames).
    pub jumbo: Option<Arc<Mempool>>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            n_rxq: 1,
            n_txq: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            promiscuous: true,
            jumbo: None,
        }
    }
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Result of a transmit burst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Packets the device accepted.
    pub sent: usize,
    /// Packets it refused; they were freed.
    pub dropped: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Ethdev(EthPort),
    System(Arc<SystemPort>),
}

/// A configured port. Clones share it; an ethdev port is stopped and closed (and removed, if
/// it was hot-plugged) when the last clone and the last queue handle are gone, a system
/// port's socket closed.
#[derive(Debug, Clone)]
pub struct Port {
    kind: Kind,
}

impl Port {
    /// Ids of every ethdev port currently attached.
    pub fn ids() -> Vec<u16> {
        EthPort::ids()
    }

    /// The ethdev port id of the device named `name` (e.g. `net_tap0`), if attached.
    pub fn find(name: &str) -> Option<u16> {
        EthPort::find(name)
    }

    /// The device name of ethdev port `id`, if attached.
    pub fn find_name(id: u16) -> Option<String> {
        EthPort::find_name(id)
    }

    /// Configures ethdev port `id` with rx queues fed from `pool`; the port is left stopped.
    ///
    /// # Errors
    /// ENODEV for an unknown port, or the device's error from configure/queue setup.
    pub fn open(eal: &Eal, id: u16, cfg: &PortConfig, pool: Arc<Mempool>) -> Result<Port> {
        Ok(Port {
            kind: Kind::Ethdev(EthPort::open(eal, id, cfg, pool)?),
        })
    }

    /// Opens the device `devargs` describe while the switch runs: `system,iface=NAME` for a
    /// kernel interface, anything else for a DPDK device to probe (e.g. `net_ring_hp0` or
    /// `net_tap1,iface=dp1`), configured like [`Port::open`].
    ///
    /// # Errors
    /// EEXIST if the device is already attached, ENODEV for a missing interface, or the
    /// driver's probe/configure error.
    pub fn hotplug(eal: &Eal, devargs: &str, cfg: &PortConfig, pool: Arc<Mempool>) -> Result<Port> {
        let kind = match system::iface_of(devargs) {
            Some(iface) => Kind::System(Arc::new(SystemPort::open(
                eal,
                iface,
                cfg,
                pool,
                cfg.jumbo.clone(),
            )?)),
            None => Kind::Ethdev(EthPort::hotplug(eal, devargs, cfg, pool)?),
        };
        Ok(Port { kind })
    }

    /// The ethdev port id (None for a system port).
    pub fn id(&self) -> Option<u16> {
        match &self.kind {
            Kind::Ethdev(p) => Some(p.id()),
            Kind::System(_) => None,
        }
    }

    /// The device name, e.g. `net_tap0`, or the interface of a system port.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Ethdev(p) => p.name(),
            Kind::System(p) => p.iface(),
        }
    }

    /// The driver name, e.g. `net_tap`, or [`system::DRIVER`].
    pub fn driver(&self) -> &str {
        match &self.kind {
            Kind::Ethdev(p) => p.driver(),
            Kind::System(_) => system::DRIVER,
        }
    }

    /// Configured rx queues.
    pub fn n_rxq(&self) -> u16 {
        match &self.kind {
            Kind::Ethdev(p) => p.n_rxq(),
            Kind::System(_) => 1,
        }
    }

    /// Configured tx queues.
    pub fn n_txq(&self) -> u16 {
        match &self.kind {
            Kind::Ethdev(p) => p.n_txq(),
            Kind::System(p) => p.n_txq(),
        }
    }

    /// Starts the device (a system port's socket is live from the start).
    ///
    /// # Errors
    /// The driver's start error.
    pub fn start(&self) -> Result<()> {
        match &self.kind {
            Kind::Ethdev(p) => p.start(),
            Kind::System(_) => Ok(()),
        }
    }

    /// Stops the device (queues keep their configuration).
    ///
    /// # Errors
    /// The driver's stop error.
    pub fn stop(&self) -> Result<()> {
        match &self.kind {
            Kind::Ethdev(p) => p.stop(),
            Kind::System(_) => Ok(()),
        }
    }

    /// Sets the link administratively up or down; a TAP's kernel interface follows. A
    /// system port's interface belongs to the host: `ENOTSUP`.
    ///
    /// # Errors
    /// The driver's error (`ENOTSUP` for drivers without link control).
    pub fn set_link_up(&self, up: bool) -> Result<()> {
        match &self.kind {
            Kind::Ethdev(p) => p.set_link_up(up),
            Kind::System(_) => Err(super::DpdkError::new("set_link", -libc::ENOTSUP)),
        }
    }

    /// Turns promiscuous mode on or off (ignored by drivers that do not support it).
    ///
    /// # Errors
    /// The driver's error other than ENOTSUP.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        match &self.kind {
            Kind::Ethdev(p) => p.set_promiscuous(on),
            Kind::System(p) => p.set_promiscuous(on),
        }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        match &self.kind {
            Kind::Ethdev(p) => p.mac(),
            Kind::System(p) => p.mac(),
        }
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(&self) -> Link {
        match &self.kind {
            Kind::Ethdev(p) => p.link(),
            Kind::System(p) => p.link(),
        }
    }

    /// The device's counters.
    ///
    /// # Errors
    /// The driver's error.
    pub fn stats(&self) -> Result<PortStats> {
        match &self.kind {
            Kind::Ethdev(p) => p.stats(),
            Kind::System(p) => Ok(p.stats()),
        }
    }

    /// Zeroes the device's counters.
    pub fn reset_stats(&self) {
        match &self.kind {
            Kind::Ethdev(p) => p.reset_stats(),
            Kind::System(p) => p.reset_stats(),
        }
    }

    /// The driver's extended statistics, by name (none for system ports).
    ///
    /// # Errors
    /// The driver's error.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        match &self.kind {
            Kind::Ethdev(p) => p.xstats(),
            Kind::System(_) => Ok(Vec::new()),
        }
    }

    /// Takes exclusive use of rx queue `q` (one thread polls a queue).
    ///
    /// # Errors
    /// EINVAL for a queue the port does not have, EBUSY if another handle holds it.
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue> {
        Ok(match &self.kind {
            Kind::Ethdev(p) => RxQueue::Ethdev(p.rx_queue(q)?),
            Kind::System(p) => RxQueue::System(Box::new(p.rx_queue(q)?)),
        })
    }

    /// Takes exclusive use of tx queue `q`.
    ///
    /// # Errors
    /// EINVAL for a queue the port does not have, EBUSY if another handle holds it.
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue> {
        Ok(match &self.kind {
            Kind::Ethdev(p) => TxQueue::Ethdev(p.tx_queue(q)?),
            Kind::System(p) => TxQueue::System(p.tx_queue(q)?),
        })
    }

    /// Stops, closes and (for hot-plugged devices) removes the port now.
    ///
    /// # Errors
    /// EBUSY while other clones or queue handles still exist (the port stays); otherwise the
    /// first error of stop/close/remove.
    pub fn remove(self) -> Result<()> {
        match self.kind {
            Kind::Ethdev(p) => p.remove(),
            Kind::System(p) => match Arc::try_unwrap(p) {
                Ok(_) => Ok(()),
                Err(p) => Err(super::DpdkError::new("close", libc::EBUSY)
                    .context(format!("{} is still in use", p.iface()))),
            },
        }
    }
}

/// Exclusive handle on one rx queue of a port.
#[derive(Debug)]
pub enum RxQueue {
    /// An ethdev queue.
    Ethdev(EthRxQueue),
    /// A system port's socket (boxed: it keeps a burst of buffers).
    System(Box<SysRxQueue>),
}

impl RxQueue {
    /// The queue number.
    pub fn queue(&self) -> u16 {
        match self {
            RxQueue::Ethdev(q) => q.queue(),
            RxQueue::System(_) => 0,
        }
    }

    /// Whether polling this queue enters the kernel (a `read` on a TAP fd or a packet
    /// socket), so that an empty poll costs a system call rather than a ring check.
    pub fn polls_by_syscall(&self) -> bool {
        match self {
            RxQueue::Ethdev(q) => q.polls_by_syscall(),
            RxQueue::System(_) => true,
        }
    }

    /// Whether packets from this queue may carry offload work
    /// ([`fastpath::packet::Offload`]) that a device taking none must have done first.
    pub fn carries_offload(&self) -> bool {
        matches!(self, RxQueue::System(_))
    }

    /// Receives up to `out.spare()` packets, appending them to `out`; returns how many.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, out: &mut MbufArray<N>) -> usize {
        match self {
            RxQueue::Ethdev(q) => q.rx_burst(out),
            RxQueue::System(q) => q.rx_burst(out),
        }
    }
}

/// Exclusive handle on one tx queue of a port.
#[derive(Debug)]
pub enum TxQueue {
    /// An ethdev queue.
    Ethdev(EthTxQueue),
    /// A system port (queues share its socket).
    System(SysTxQueue),
}

impl TxQueue {
    /// The queue number.
    pub fn queue(&self) -> u16 {
        match self {
            TxQueue::Ethdev(q) => q.queue(),
            TxQueue::System(q) => q.queue(),
        }
    }

    /// Whether the device finishes offload work itself (a system port hands it to the
    /// kernel in the virtio-net header); other queues need it done before transmit.
    pub fn takes_offload(&self) -> bool {
        matches!(self, TxQueue::System(_))
    }

    /// Transmits everything in `pkts`; what the device refuses is freed and counted.
    /// `pkts` is empty afterwards.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, pkts: &mut MbufArray<N>) -> TxOutcome {
        match self {
            TxQueue::Ethdev(q) => q.tx_burst(pkts),
            TxQueue::System(q) => q.tx_burst(pkts),
        }
    }
}
