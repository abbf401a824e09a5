//! Ports backed by DPDK ethdev devices (PMDs).

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{Link, PortConfig, TxOutcome};
use crate::dpdk::{DpdkError, Eal, MbufArray, Mempool, Result};
use crate::stats::PortStats;

const MAX_QUEUES: u16 = 64;

#[derive(Debug)]
struct PortInner {
    id: u16,
    name: String,
    driver: String,
    device: *mut dpdk_sys::rte_device,
    n_rxq: u16,
    n_txq: u16,
    /// Bit q set = rx/tx queue q is held by a RxQueue/TxQueue handle.
    rxq_taken: AtomicU64,
    txq_taken: AtomicU64,
    /// Probed by us at run time, so removed by us too.
    hotplugged: bool,
    /// Started and not stopped since: stopping twice makes drivers complain.
    started: AtomicBool,
    _pool: Arc<Mempool>,
    _eal: Eal,
}

// SAFETY: the ethdev control functions used through &PortInner (stats, link, start/stop) are
// safe to call from any thread; the fast-path queues are handed out exclusively (bitmaps).
// `device` is only passed back to rte_dev_remove.
unsafe impl Send for PortInner {}
// SAFETY: as above.
unsafe impl Sync for PortInner {}

/// A configured ethdev port. Clones share the port; it is stopped and closed (and removed, if
/// it was hot-plugged) when the last clone and the last queue handle are gone.
#[derive(Debug, Clone)]
pub struct EthPort {
    inner: Arc<PortInner>,
}

impl EthPort {
    /// Ids of every ethdev port currently attached.
    pub fn ids() -> Vec<u16> {
        (0..dpdk_sys::RTE_MAX_ETHPORTS as u16)
            // SAFETY: plain validity check on a port id.
            .filter(|&id| unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 1)
            .collect()
    }

    /// The port id of the device named `name` (e.g. `net_tap0`), if attached.
    pub fn find(name: &str) -> Option<u16> {
        let cname = CString::new(name).ok()?;
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer.
        (unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) } == 0)
            .then_some(id)
    }

    /// The device name of port `id`, if attached.
    pub fn find_name(id: u16) -> Option<String> {
        // SAFETY: plain validity check on a port id.
        (unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 1).then(|| port_name(id))
    }

    /// Configures port `id` with rx queues fed from `pool`; the port is left stopped.
    ///
    /// # Errors
    /// ENODEV for an unknown port, or the device's error from configure/queue setup.
    pub fn open(eal: &Eal, id: u16, cfg: &PortConfig, pool: Arc<Mempool>) -> Result<EthPort> {
        Self::open_inner(eal, id, cfg, pool, false)
    }

    /// Probes a device from `devargs` (e.g. `net_ring_hp0` or `net_tap1,iface=dp1`) while the
    /// switch runs, then configures it like [`Port::open`].
    ///
    /// # Errors
    /// EEXIST if the device is already attached, or the driver's probe/configure error.
    pub fn hotplug(
        eal: &Eal,
        devargs: &str,
        cfg: &PortConfig,
        pool: Arc<Mempool>,
    ) -> Result<EthPort> {
        let name = devargs.split(',').next().unwrap_or_default();
        if Self::find(name).is_some() {
            return Err(DpdkError::new("rte_dev_probe", libc::EEXIST).context(name));
        }
        pcap_fits(devargs, &pool)?;
        let cargs =
            CString::new(devargs).map_err(|_| DpdkError::new("rte_dev_probe", libc::EINVAL))?;
        // SAFETY: valid C string; EAL is initialised.
        let ret = unsafe { dpdk_sys::rte_dev_probe(cargs.as_ptr()) };
        if ret != 0 {
            return Err(DpdkError::new("rte_dev_probe", ret).context(devargs));
        }
        let Some(id) = Self::find(name) else {
            return Err(DpdkError::new("rte_eth_dev_get_port_by_name", libc::ENODEV).context(name));
        };
        Self::open_inner(eal, id, cfg, pool, true).inspect_err(|_| unprobe(id))
    }

    fn open_inner(
        eal: &Eal,
        id: u16,
        cfg: &PortConfig,
        pool: Arc<Mempool>,
        hotplugged: bool,
    ) -> Result<EthPort> {
        // SAFETY: plain validity check.
        if unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } != 1 {
            return Err(
                DpdkError::new("rte_eth_dev_configure", libc::ENODEV).context(format!("port {id}"))
            );
        }
        let info = dev_info(id)?;
        let mut n_rxq = cfg.n_rxq.clamp(1, info.max_rx_queues.clamp(1, MAX_QUEUES));
        let mut n_txq = cfg.n_txq.clamp(1, info.max_tx_queues.clamp(1, MAX_QUEUES));

        let mut conf = dpdk_sys::rte_eth_conf::default();
        if n_rxq > 1 {
            // SAFETY: reads constants exported by the shim.
            let wanted = unsafe {
                dpdk_sys::SHIM_RTE_ETH_RSS_IP
                    | dpdk_sys::SHIM_RTE_ETH_RSS_TCP
                    | dpdk_sys::SHIM_RTE_ETH_RSS_UDP
            };
            let hf = wanted & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
            }
        }
        // SAFETY: conf is a valid, initialised configuration for a valid port.
        let mut ret = unsafe { dpdk_sys::rte_eth_dev_configure(id, n_rxq, n_txq, &conf) };
        let both = n_rxq.max(n_txq);
        if ret != 0 && n_rxq != n_txq && both <= info.max_rx_queues && both <= info.max_tx_queues {
            // Some drivers (net_tap) insist on as many rx as tx queues: the larger count for
            // both, so the rx queues asked for are all there and every sender keeps a tx
            // queue of its own; the caller polls every rx queue the port ends up with.
            n_rxq = both;
            n_txq = both;
            // SAFETY: as above.
            ret = unsafe { dpdk_sys::rte_eth_dev_configure(id, n_rxq, n_txq, &conf) };
        }
        if ret != 0 {
            return Err(DpdkError::new("rte_eth_dev_configure", ret).context(format!("port {id}")));
        }
        let (mut rx_desc, mut tx_desc) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port and out-pointers.
        let ret =
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(DpdkError::new("rte_eth_dev_adjust_nb_rx_tx_desc", ret)
                .context(format!("port {id}")));
        }
        // SAFETY: valid port.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) } as u32; // -1 (any) wraps, as DPDK expects
        for q in 0..n_rxq {
            // SAFETY: valid port/queue; a null rxconf means the driver defaults; the pool
            // outlives the port (held in PortInner).
            let ret = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if ret != 0 {
                return Err(DpdkError::new("rte_eth_rx_queue_setup", ret)
                    .context(format!("port {id} queue {q}")));
            }
        }
        for q in 0..n_txq {
            // SAFETY: valid port/queue; null txconf = driver defaults.
            let ret = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null())
            };
            if ret != 0 {
                return Err(DpdkError::new("rte_eth_tx_queue_setup", ret)
                    .context(format!("port {id} queue {q}")));
            }
        }
        let port = EthPort {
            inner: Arc::new(PortInner {
                id,
                name: port_name(id),
                driver: cstr_or_empty(info.driver_name),
                device: info.device,
                n_rxq,
                n_txq,
                rxq_taken: AtomicU64::new(0),
                txq_taken: AtomicU64::new(0),
                hotplugged,
                started: AtomicBool::new(false),
                _pool: pool,
                _eal: eal.clone(),
            }),
        };
        if cfg.promiscuous {
            port.set_promiscuous(true)?;
        }
        Ok(port)
    }

    /// The ethdev port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The device name, e.g. `net_tap0`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The driver name, e.g. `net_tap`.
    pub fn driver(&self) -> &str {
        &self.inner.driver
    }

    /// Configured rx queues.
    pub fn n_rxq(&self) -> u16 {
        self.inner.n_rxq
    }

    /// Configured tx queues.
    pub fn n_txq(&self) -> u16 {
        self.inner.n_txq
    }

    /// Starts the device.
    ///
    /// # Errors
    /// The driver's start error.
    pub fn start(&self) -> Result<()> {
        // SAFETY: valid, configured port.
        let ret = unsafe { dpdk_sys::rte_eth_dev_start(self.inner.id) };
        if ret != 0 {
            return Err(DpdkError::new("rte_eth_dev_start", ret).context(self.inner.name.clone()));
        }
        self.inner.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the device (queues keep their configuration).
    ///
    /// # Errors
    /// The driver's stop error.
    pub fn stop(&self) -> Result<()> {
        // SAFETY: valid port.
        let ret = unsafe { dpdk_sys::rte_eth_dev_stop(self.inner.id) };
        if ret != 0 {
            return Err(DpdkError::new("rte_eth_dev_stop", ret).context(self.inner.name.clone()));
        }
        self.inner.started.store(false, Ordering::Release);
        Ok(())
    }

    /// Sets the link administratively up or down; a TAP's kernel interface follows.
    ///
    /// # Errors
    /// The driver's error (`ENOTSUP` for drivers without link control).
    pub fn set_link_up(&self, up: bool) -> Result<()> {
        let ret = if up {
            // SAFETY: valid, started port.
            unsafe { dpdk_sys::rte_eth_dev_set_link_up(self.inner.id) }
        } else {
            // SAFETY: valid, started port.
            unsafe { dpdk_sys::rte_eth_dev_set_link_down(self.inner.id) }
        };
        if ret != 0 {
            return Err(
                DpdkError::new("rte_eth_dev_set_link", ret).context(self.inner.name.clone())
            );
        }
        Ok(())
    }

    /// Turns promiscuous mode on or off (ignored by drivers that do not support it).
    ///
    /// # Errors
    /// The driver's error other than ENOTSUP.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        // SAFETY: valid port.
        let ret = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.inner.id)
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.inner.id)
            }
        };
        if ret != 0 && ret != -libc::ENOTSUP {
            return Err(
                DpdkError::new("rte_eth_promiscuous_enable", ret).context(self.inner.name.clone())
            );
        }
        Ok(())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port and out-pointer.
        unsafe { dpdk_sys::rte_eth_macaddr_get(self.inner.id, &mut addr) };
        addr.addr_bytes
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(&self) -> Link {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port and out-pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.inner.id, &mut link) };
        Link {
            up: u32::from(link.link_status()) == dpdk_sys::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == dpdk_sys::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }

    /// The device's counters.
    ///
    /// # Errors
    /// The driver's error.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port and out-pointer.
        let ret = unsafe { dpdk_sys::rte_eth_stats_get(self.inner.id, &mut s) };
        if ret != 0 {
            return Err(DpdkError::new("rte_eth_stats_get", ret).context(self.inner.name.clone()));
        }
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zeroes the device's counters.
    pub fn reset_stats(&self) {
        // SAFETY: valid port.
        unsafe { dpdk_sys::rte_eth_stats_reset(self.inner.id) };
    }

    /// The driver's extended statistics, by name.
    ///
    /// # Errors
    /// The driver's error.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        let id = self.inner.id;
        // SAFETY: a null array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        let Ok(n) = u32::try_from(n) else {
            return Err(
                DpdkError::new("rte_eth_xstats_get_names", n).context(self.inner.name.clone())
            );
        };
        let mut names = vec![dpdk_sys::rte_eth_xstat_name { name: [0; 64] }; n as usize];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: both arrays hold `n` entries.
        let got_names = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n) };
        // SAFETY: as above.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get(id, values.as_mut_ptr(), n) };
        if got_names < 0 || got < 0 {
            return Err(DpdkError::new("rte_eth_xstats_get", got.min(got_names))
                .context(self.inner.name.clone()));
        }
        let count = (got as usize).min(got_names as usize).min(n as usize);
        Ok(values[..count]
            .iter()
            .filter_map(|v| {
                let name = names.get(usize::try_from(v.id).ok()?)?;
                // SAFETY: DPDK NUL-terminates xstat names within the 64-byte array.
                let name = unsafe { CStr::from_ptr(name.name.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                Some((name, v.value))
            })
            .collect())
    }

    /// Takes exclusive use of rx queue `q` (one thread polls a queue).
    ///
    /// # Errors
    /// EINVAL for a queue the port does not have, EBUSY if another handle holds it.
    pub fn rx_queue(&self, q: u16) -> Result<EthRxQueue> {
        take_queue(&self.inner.rxq_taken, q, self.inner.n_rxq, "rx queue")?;
        Ok(EthRxQueue {
            port: self.inner.clone(),
            queue: q,
            _not_sync: PhantomData,
        })
    }

    /// Takes exclusive use of tx queue `q`.
    ///
    /// # Errors
    /// EINVAL for a queue the port does not have, EBUSY if another handle holds it.
    pub fn tx_queue(&self, q: u16) -> Result<EthTxQueue> {
        take_queue(&self.inner.txq_taken, q, self.inner.n_txq, "tx queue")?;
        Ok(EthTxQueue {
            port: self.inner.clone(),
            queue: q,
            _not_sync: PhantomData,
        })
    }

    /// Stops, closes and (for hot-plugged devices) removes the port now.
    ///
    /// # Errors
    /// EBUSY while other clones or queue handles still exist (the port stays); otherwise the
    /// first error of stop/close/remove.
    pub fn remove(self) -> Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                let result = inner.shutdown();
                inner.hotplugged = false;
                inner.device = std::ptr::null_mut();
                // Drop will find nothing left to do.
                inner.id = u16::MAX;
                result
            }
            Err(inner) => Err(DpdkError::new("rte_dev_remove", libc::EBUSY)
                .context(format!("{} is still in use", inner.name))),
        }
    }
}

fn take_queue(bits: &AtomicU64, q: u16, n: u16, what: &str) -> Result<()> {
    if q >= n {
        return Err(DpdkError::new("queue", libc::EINVAL).context(format!("{what} {q} of {n}")));
    }
    let bit = 1u64 << q;
    if bits.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
        return Err(DpdkError::new("queue", libc::EBUSY).context(format!("{what} {q} is taken")));
    }
    Ok(())
}

impl PortInner {
    fn shutdown(&mut self) -> Result<()> {
        if self.id == u16::MAX {
            return Ok(());
        }
        let id = self.id;
        let stop = if self.started.swap(false, Ordering::AcqRel) {
            // SAFETY: valid port; no queue handle exists (they hold the Arc we own uniquely).
            unsafe { dpdk_sys::rte_eth_dev_stop(id) }
        } else {
            0
        };
        // SAFETY: as above; the port id is invalid afterwards.
        let close = unsafe { dpdk_sys::rte_eth_dev_close(id) };
        let mut result = Ok(());
        if stop != 0 {
            result = Err(DpdkError::new("rte_eth_dev_stop", stop).context(self.name.clone()));
        } else if close != 0 {
            result = Err(DpdkError::new("rte_eth_dev_close", close).context(self.name.clone()));
        }
        if self.hotplugged && !self.device.is_null() {
            // SAFETY: the device was probed by us and its only port is closed.
            let ret = unsafe { dpdk_sys::rte_dev_remove(self.device) };
            if ret != 0 && result.is_ok() {
                result = Err(DpdkError::new("rte_dev_remove", ret).context(self.name.clone()));
            }
        }
        result
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(port = %self.name, error = %e, "closing port failed");
        }
    }
}

/// Exclusive handle on one rx queue of a port.
#[derive(Debug)]
pub struct EthRxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl EthRxQueue {
    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Whether polling this queue enters the kernel (a `read` on a TAP fd or an AF_PACKET
    /// socket), so that an empty poll costs a system call rather than a ring check.
    pub fn polls_by_syscall(&self) -> bool {
        matches!(self.port.driver.as_str(), "net_tap" | "net_af_packet")
    }

    /// Receives up to `out.spare()` packets, appending them to `out`; returns how many.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, out: &mut MbufArray<N>) -> usize {
        let spare = out.spare().min(usize::from(u16::MAX)) as u16;
        if spare == 0 {
            return 0;
        }
        // SAFETY: we hold the queue exclusively; the spare slots have room for `spare`
        // pointers, and the driver writes exactly the returned number of owned mbufs.
        unsafe {
            let n =
                dpdk_sys::shim_rte_eth_rx_burst(self.port.id, self.queue, out.spare_ptr(), spare);
            out.assume_filled(usize::from(n));
            usize::from(n)
        }
    }
}

impl Drop for EthRxQueue {
    fn drop(&mut self) {
        self.port
            .rxq_taken
            .fetch_and(!(1u64 << self.queue), Ordering::AcqRel);
    }
}

/// Exclusive handle on one tx queue of a port.
#[derive(Debug)]
pub struct EthTxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl EthTxQueue {
    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Transmits everything in `pkts`; what the device refuses is freed and counted.
    /// `pkts` is empty afterwards.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, pkts: &mut MbufArray<N>) -> TxOutcome {
        let n = pkts.len().min(usize::from(u16::MAX)) as u16;
        if n == 0 {
            return TxOutcome::default();
        }
        // SAFETY: we hold the queue exclusively; the first `n` slots are owned mbufs, and
        // the driver takes ownership of exactly the `sent` first ones.
        let sent = unsafe {
            let sent =
                dpdk_sys::shim_rte_eth_tx_burst(self.port.id, self.queue, pkts.base_ptr(), n);
            pkts.consume_front(usize::from(sent));
            usize::from(sent)
        };
        let dropped = pkts.len();
        pkts.clear();
        TxOutcome { sent, dropped }
    }
}

impl Drop for EthTxQueue {
    fn drop(&mut self) {
        self.port
            .txq_taken
            .fetch_and(!(1u64 << self.queue), Ordering::AcqRel);
    }
}

/// net_pcap with `infinite_rx=1` copies its whole `rx_pcap` file into mbufs at queue set-up.
/// When the pool has too few, DPDK 22.11's driver frees its ring but keeps the pointer, and
/// closing the device frees it again (a segfault): refuse such a device before probing it.
fn pcap_fits(devargs: &str, pool: &Mempool) -> Result<()> {
    let mut args = devargs.split(',');
    if !args.next().unwrap_or_default().starts_with("net_pcap") {
        return Ok(());
    }
    let kv: Vec<(&str, &str)> = args.filter_map(|a| a.split_once('=')).collect();
    if !kv.iter().any(|&(k, v)| k == "infinite_rx" && v == "1") {
        return Ok(());
    }
    let Some(&(_, path)) = kv.iter().find(|&&(k, _)| k == "rx_pcap") else {
        return Ok(());
    };
    let Some(packets) = pcap_records(std::path::Path::new(path)) else {
        // Unreadable or not a pcap file: the driver says what is wrong with it.
        return Ok(());
    };
    let free = u64::from(pool.available());
    if packets > free {
        return Err(
            DpdkError::new("net_pcap infinite_rx", libc::ENOBUFS).context(format!(
                "{path} holds {packets} packets, one mbuf each, and the pool has {free} free \
             (raise --mbufs)"
            )),
        );
    }
    Ok(())
}

/// The number of records in a classic pcap file (None if it is not one).
fn pcap_records(path: &std::path::Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut hdr = [0u8; 24];
    f.read_exact(&mut hdr).ok()?;
    let magic = [hdr[0], hdr[1], hdr[2], hdr[3]];
    let le = match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        _ if matches!(u32::from_be_bytes(magic), 0xa1b2_c3d4 | 0xa1b2_3c4d) => false,
        _ => return None,
    };
    let mut n = 0;
    let mut rec = [0u8; 16];
    while f.read_exact(&mut rec).is_ok() {
        let b = [rec[8], rec[9], rec[10], rec[11]];
        let caplen = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        };
        f.seek(SeekFrom::Current(i64::from(caplen))).ok()?;
        n += 1;
    }
    Some(n)
}

/// Closes and removes a device [`Port::hotplug`] probed but could not set up. Left behind,
/// it would keep its name taken, and its driver would be removed at EAL cleanup in that
/// half-configured state (net_pcap whose `infinite_rx` queue found too few mbufs segfaults
/// there).
fn unprobe(id: u16) {
    let device = dev_info(id)
        .map(|i| i.device)
        .unwrap_or(std::ptr::null_mut());
    // SAFETY: valid port, never started; no queue handle exists (no Port was built).
    let close = unsafe { dpdk_sys::rte_eth_dev_close(id) };
    let remove = if device.is_null() {
        0
    } else {
        // SAFETY: the device was probed by us and its only port is closed.
        unsafe { dpdk_sys::rte_dev_remove(device) }
    };
    if close != 0 || remove != 0 {
        tracing::warn!(
            port = id,
            close,
            remove,
            "could not remove a device that failed to set up"
        );
    }
}

fn dev_info(id: u16) -> Result<dpdk_sys::rte_eth_dev_info> {
    // SAFETY: rte_eth_dev_info is plain data; all-zero is a valid initial value.
    let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    let ret = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
    if ret != 0 {
        return Err(DpdkError::new("rte_eth_dev_info_get", ret).context(format!("port {id}")));
    }
    Ok(info)
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes, as the API requires.
    if unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) } != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK NUL-terminated the name within the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn cstr_or_empty(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null driver names are static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
