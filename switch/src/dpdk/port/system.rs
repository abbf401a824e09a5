//! `system` ports: a kernel network interface attached as the kernel datapath attaches a
//! netdev vport (`net/openvswitch/vport-netdev.c`), through an `AF_PACKET` socket of
//! dpswitch's own rather than DPDK's `net_af_packet`, because that driver cannot be made to
//! behave like a vport:
//!
//! - it receives the frames the host sends out of the interface too; a vport never sees
//!   those (`PACKET_IGNORE_OUTGOING` here);
//! - it joins a fanout group with `PACKET_FANOUT_FLAG_DEFRAG`, so IPv4 fragments arrive
//!   reassembled into packets larger than the egress MTU; a vport forwards fragments as
//!   they came (no fanout here);
//! - it has no virtio-net header, so a veth's partial checksums and GSO packets reach it
//!   unfinished and leave unfinished; the kernel datapath carries that state to the egress
//!   device, and so does dpswitch (`PACKET_VNET_HDR` on both directions, and
//!   [`fastpath::packet::Offload`] in between).
//!
//! Packets are moved with `recvmmsg`/`sendmmsg`, a burst per system call. The receive
//! writes straight into mbufs; a frame longer than an mbuf's room (a GSO packet, a jumbo
//! frame) spills into a per-slot tail buffer and is copied into a buffer of the jumbo pool.

use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fastpath::packet::{Gso, GsoKind, Offload, PacketBuf, PartialCsum};

use super::{Link, PortConfig, TxOutcome};
use crate::dpdk::{DpdkError, Eal, Mbuf, MbufArray, Mempool, Result, BURST_SIZE};
use crate::stats::PortStats;

/// The driver name `system` ports report, and the first word of their devargs
/// (`system,iface=NAME`).
pub const DRIVER: &str = "system";

/// `struct virtio_net_hdr` (`include/uapi/linux/virtio_net.h`), the header the socket puts
/// before every frame with `PACKET_VNET_HDR`.
const VNET_HDR_LEN: usize = 10;
const VNET_F_NEEDS_CSUM: u8 = 1;
const VNET_GSO_NONE: u8 = 0;
const VNET_GSO_TCPV4: u8 = 1;
const VNET_GSO_UDP: u8 = 3;
const VNET_GSO_TCPV6: u8 = 4;
const VNET_GSO_UDP_L4: u8 = 5;
const VNET_GSO_ECN: u8 = 0x80;

/// Bytes a receive may spill past an mbuf's room: the largest GSO packet.
const TAIL_LEN: usize = 64 * 1024;
/// Room for one `PACKET_AUXDATA` control message.
const CMSG_LEN: usize = 64;
/// Socket buffers: a burst of jumbo frames, or a few hundred small ones, wait in them.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Counters of one system port (the device statistics of other ports).
#[derive(Debug, Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    /// Frames dropped on receive: no buffer, or longer than any buffer.
    rx_nombuf: AtomicU64,
    /// Frames the kernel dropped because the socket was full (`PACKET_STATISTICS`).
    rx_missed: AtomicU64,
    rx_errors: AtomicU64,
    tx_errors: AtomicU64,
}

/// A kernel interface attached through a packet socket.
#[derive(Debug)]
pub struct SystemPort {
    iface: String,
    ifindex: libc::c_int,
    sock: OwnedFd,
    n_txq: u16,
    rxq_taken: AtomicBool,
    txq_taken: AtomicU64,
    counters: Counters,
    pool: Arc<Mempool>,
    jumbo: Option<Arc<Mempool>>,
    _eal: Eal,
}

/// The interface a `system,iface=NAME` devargs names, if it is one.
pub fn iface_of(devargs: &str) -> Option<&str> {
    let mut args = devargs.split(',');
    if args.next()? != DRIVER {
        return None;
    }
    args.find_map(|kv| kv.strip_prefix("iface="))
}

fn os_err(what: &'static str, name: &str) -> DpdkError {
    let errno = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    DpdkError::new(what, -errno).context(name.to_string())
}

fn set_opt<T>(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: &T) -> bool {
    let len = libc::socklen_t::try_from(size_of::<T>()).unwrap_or(0);
    // SAFETY: `v` points at `len` readable bytes for the duration of the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            std::ptr::from_ref(v).cast(),
            len,
        ) == 0
    }
}

impl SystemPort {
    /// Opens the interface `iface` of this network namespace.
    ///
    /// # Errors
    /// ENODEV when there is no such interface; the kernel's error when the socket cannot be
    /// set up (EPERM without CAP_NET_RAW).
    pub fn open(
        eal: &Eal,
        iface: &str,
        cfg: &PortConfig,
        pool: Arc<Mempool>,
        jumbo: Option<Arc<Mempool>>,
    ) -> Result<SystemPort> {
        let cname =
            CString::new(iface).map_err(|_| DpdkError::new("if_nametoindex", -libc::EINVAL))?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        let ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
        if ifindex == 0 {
            return Err(DpdkError::new("if_nametoindex", -libc::ENODEV).context(iface.to_string()));
        }
        // Protocol 0 until bound: the socket receives nothing from other interfaces meanwhile.
        // SAFETY: plain socket creation.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(os_err("socket(AF_PACKET)", iface));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let one: libc::c_int = 1;
        for (opt, what) in [
            (libc::PACKET_VNET_HDR, "PACKET_VNET_HDR"),
            (libc::PACKET_IGNORE_OUTGOING, "PACKET_IGNORE_OUTGOING"),
            (libc::PACKET_AUXDATA, "PACKET_AUXDATA"),
        ] {
            if !set_opt(&sock, libc::SOL_PACKET, opt, &one) {
                return Err(os_err(what, iface));
            }
        }
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if !set_opt(&sock, libc::SOL_SOCKET, force, &SOCKET_BUFFER) {
                set_opt(&sock, libc::SOL_SOCKET, plain, &SOCKET_BUFFER);
            }
        }
        // SAFETY: sockaddr_ll is plain data.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as libc::c_ushort;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex;
        let alen = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(0);
        // SAFETY: `addr` is a valid sockaddr_ll of `alen` bytes.
        if unsafe { libc::bind(sock.as_raw_fd(), std::ptr::from_ref(&addr).cast(), alen) } != 0 {
            return Err(os_err("bind(AF_PACKET)", iface));
        }
        let port = SystemPort {
            iface: iface.to_string(),
            ifindex,
            sock,
            n_txq: cfg.n_txq.max(1),
            rxq_taken: AtomicBool::new(false),
            txq_taken: AtomicU64::new(0),
            counters: Counters::default(),
            pool,
            jumbo,
            _eal: eal.clone(),
        };
        if cfg.promiscuous {
            port.set_promiscuous(true)?;
        }
        Ok(port)
    }

    /// The interface name.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Transmit queues (all share the socket).
    pub fn n_txq(&self) -> u16 {
        self.n_txq
    }

    /// Puts the interface in promiscuous mode for as long as the socket lives (refcounted
    /// by the kernel, as `dev_set_promiscuity()` for a vport).
    ///
    /// # Errors
    /// The kernel's error.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        // SAFETY: packet_mreq is plain data.
        let mut mr: libc::packet_mreq = unsafe { zeroed() };
        mr.mr_ifindex = self.ifindex;
        mr.mr_type = libc::PACKET_MR_PROMISC as libc::c_ushort;
        let opt = if on {
            libc::PACKET_ADD_MEMBERSHIP
        } else {
            libc::PACKET_DROP_MEMBERSHIP
        };
        if !set_opt(&self.sock, libc::SOL_PACKET, opt, &mr) {
            return Err(os_err("PACKET_MR_PROMISC", &self.iface));
        }
        Ok(())
    }

    fn ifreq(&self) -> libc::ifreq {
        // SAFETY: ifreq is plain data.
        let mut req: libc::ifreq = unsafe { zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(self.iface.bytes().take(15)) {
            *d = s as libc::c_char;
        }
        req
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut req = self.ifreq();
        // SAFETY: SIOCGIFHWADDR fills the ifreq it is given.
        if unsafe { libc::ioctl(self.sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } != 0 {
            return [0; 6];
        }
        // SAFETY: the kernel filled the hardware address member.
        let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(sa.sa_data) {
            *d = s as u8;
        }
        mac
    }

    /// Link state: the interface is up and has a carrier.
    pub fn link(&self) -> Link {
        let mut req = self.ifreq();
        // SAFETY: SIOCGIFFLAGS fills the ifreq it is given.
        let ok = unsafe { libc::ioctl(self.sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } == 0;
        let flags = if ok {
            // SAFETY: the kernel filled the flags member.
            unsafe { req.ifr_ifru.ifru_flags }
        } else {
            0
        };
        Link {
            up: i32::from(flags) & libc::IFF_RUNNING != 0,
            speed_mbps: 0,
            full_duplex: true,
        }
    }

    /// The port's counters.
    pub fn stats(&self) -> PortStats {
        // PACKET_STATISTICS reads and resets the kernel's counters.
        // SAFETY: tpacket_stats is plain data.
        let mut st: libc::tpacket_stats = unsafe { zeroed() };
        let mut len = libc::socklen_t::try_from(size_of::<libc::tpacket_stats>()).unwrap_or(0);
        // SAFETY: `st` has `len` writable bytes.
        let ok = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                std::ptr::from_mut(&mut st).cast(),
                &mut len,
            )
        } == 0;
        let c = &self.counters;
        if ok {
            c.rx_missed
                .fetch_add(u64::from(st.tp_drops), Ordering::Relaxed);
        }
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PortStats {
            rx_packets: get(&c.rx_packets),
            tx_packets: get(&c.tx_packets),
            rx_bytes: get(&c.rx_bytes),
            tx_bytes: get(&c.tx_bytes),
            rx_missed: get(&c.rx_missed),
            rx_errors: get(&c.rx_errors),
            tx_errors: get(&c.tx_errors),
            rx_nombuf: get(&c.rx_nombuf),
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        let _ = self.stats();
        let c = &self.counters;
        for a in [
            &c.rx_packets,
            &c.rx_bytes,
            &c.tx_packets,
            &c.tx_bytes,
            &c.rx_nombuf,
            &c.rx_missed,
            &c.rx_errors,
            &c.tx_errors,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Takes the receive queue (there is one).
    ///
    /// # Errors
    /// EINVAL for a queue other than 0, EBUSY when it is taken.
    pub fn rx_queue(self: &Arc<Self>, q: u16) -> Result<SysRxQueue> {
        if q != 0 {
            return Err(DpdkError::new("queue", libc::EINVAL).context(format!("rx queue {q} of 1")));
        }
        if self.rxq_taken.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::new("queue", libc::EBUSY).context("rx queue 0 is taken"));
        }
        Ok(SysRxQueue {
            port: self.clone(),
            stash: [const { None }; BURST_SIZE],
            hdrs: [[0; VNET_HDR_LEN]; BURST_SIZE],
            cmsgs: [[0; CMSG_LEN / 8]; BURST_SIZE],
            tails: vec![0; BURST_SIZE * TAIL_LEN].into_boxed_slice(),
            _not_sync: PhantomData,
        })
    }

    /// Takes transmit queue `q`.
    ///
    /// # Errors
    /// EINVAL for a queue the port does not have, EBUSY when it is taken.
    pub fn tx_queue(self: &Arc<Self>, q: u16) -> Result<SysTxQueue> {
        if q >= self.n_txq {
            return Err(DpdkError::new("queue", libc::EINVAL)
                .context(format!("tx queue {q} of {}", self.n_txq)));
        }
        let bit = 1u64 << q;
        if self.txq_taken.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(
                DpdkError::new("queue", libc::EBUSY).context(format!("tx queue {q} is taken"))
            );
        }
        Ok(SysTxQueue {
            port: self.clone(),
            queue: q,
            _not_sync: PhantomData,
        })
    }
}

/// The receive queue of a system port.
pub struct SysRxQueue {
    port: Arc<SystemPort>,
    /// Buffers ready for the next receive: kept across polls, so an empty poll costs the
    /// system call and no allocation.
    stash: [Option<Mbuf>; BURST_SIZE],
    hdrs: [[u8; VNET_HDR_LEN]; BURST_SIZE],
    /// u64 words: control messages need their alignment.
    cmsgs: [[u64; CMSG_LEN / 8]; BURST_SIZE],
    /// Where each slot's frame continues past its mbuf.
    tails: Box<[u8]>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for SysRxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysRxQueue")
            .field("iface", &self.port.iface)
            .finish()
    }
}

impl Drop for SysRxQueue {
    fn drop(&mut self) {
        self.port.rxq_taken.store(false, Ordering::Release);
    }
}

impl SysRxQueue {
    /// Receives up to `out.spare()` frames into `out`; returns how many.
    pub fn rx_burst<const N: usize>(&mut self, out: &mut MbufArray<N>) -> usize {
        let want = out.spare().min(BURST_SIZE);
        if want == 0 {
            return 0;
        }
        let port = &*self.port;
        let empty = self.stash[..want].iter().filter(|m| m.is_none()).count();
        if empty != 0 {
            let mut fresh = MbufArray::<BURST_SIZE>::new();
            if !port.pool.alloc_bulk(&mut fresh, empty) {
                port.counters.rx_nombuf.fetch_add(1, Ordering::Relaxed);
                return 0;
            }
            for (slot, m) in self.stash[..want]
                .iter_mut()
                .filter(|m| m.is_none())
                .zip(fresh.drain())
            {
                *slot = Some(m);
            }
        }
        // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
        let mut iov: [[libc::iovec; 3]; BURST_SIZE] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BURST_SIZE] = unsafe { zeroed() };
        let mut rooms = [0usize; BURST_SIZE];
        let (hdrs, cmsgs, tails) = (&mut self.hdrs, &mut self.cmsgs, &mut self.tails);
        let tail_chunks = tails.chunks_exact_mut(TAIL_LEN);
        for (i, ((m, tail), (hdr, cmsg))) in self.stash[..want]
            .iter_mut()
            .flatten()
            .zip(tail_chunks)
            .zip(hdrs.iter_mut().zip(cmsgs.iter_mut()))
            .enumerate()
        {
            let room = m.room_mut();
            rooms[i] = room.len();
            iov[i] = [
                libc::iovec {
                    iov_base: hdr.as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                },
                libc::iovec {
                    iov_base: room.as_mut_ptr().cast(),
                    iov_len: room.len(),
                },
                libc::iovec {
                    iov_base: tail.as_mut_ptr().cast(),
                    iov_len: TAIL_LEN,
                },
            ];
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = iov[i].as_mut_ptr();
            h.msg_iovlen = 3;
            h.msg_control = cmsg.as_mut_ptr().cast();
            h.msg_controllen = CMSG_LEN;
        }
        let n = u32::try_from(want).unwrap_or(0);
        // SAFETY: `msgs[..want]` describe buffers that live (mbufs owned by the stash, this
        // queue's arrays) and are not otherwise accessed until the call returns.
        let got = unsafe {
            libc::recvmmsg(
                port.sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                n,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let Ok(got) = usize::try_from(got) else {
            let e = std::io::Error::last_os_error().raw_os_error();
            if !matches!(e, Some(libc::EAGAIN | libc::EINTR)) {
                port.counters.rx_errors.fetch_add(1, Ordering::Relaxed);
            }
            return 0;
        };
        let mut taken = 0;
        let mut bytes = 0u64;
        for i in 0..got {
            let msg = &msgs[i];
            let total = msg.msg_len as usize;
            if total < VNET_HDR_LEN + 14 || msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                port.counters.rx_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let len = total - VNET_HDR_LEN;
            let vlan = auxdata_vlan(&self.cmsgs[i], msg.msg_hdr.msg_controllen);
            let tail = &self.tails[i * TAIL_LEN..(i + 1) * TAIL_LEN];
            let Some(mut m) = take_frame(port, &mut self.stash[i], rooms[i], len, tail) else {
                port.counters.rx_nombuf.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let offload = offload_from_vnet(&self.hdrs[i]);
            if !offload.is_none() && !m.set_offload(offload) {
                // No room to carry it: do the work now.
                if let Some(c) = offload.csum.filter(|_| offload.gso.is_none()) {
                    let _ = fastpath::packet::offload::finish_checksum(m.data_mut(), c);
                }
            }
            if let Some((tpid, tci)) = vlan {
                // The kernel hands over a tag it stripped into skb metadata apart from the
                // frame; the datapath sees it in the frame, as a vport's flow key does.
                match m.insert_gap(12, 4) {
                    Some(g) => {
                        g[..2].copy_from_slice(&tpid.to_be_bytes());
                        g[2..].copy_from_slice(&tci.to_be_bytes());
                    }
                    None => {
                        port.counters.rx_nombuf.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            bytes += m.len() as u64;
            if out.push(m).is_err() {
                break;
            }
            taken += 1;
        }
        port.counters
            .rx_packets
            .fetch_add(taken as u64, Ordering::Relaxed);
        port.counters.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
        taken
    }
}

/// The received frame of a slot as one mbuf: the slot's own when it fits, else a copy into
/// a jumbo buffer of its room part and its tail part (the slot keeps its buffer).
fn take_frame(
    port: &SystemPort,
    slot: &mut Option<Mbuf>,
    room: usize,
    len: usize,
    tail: &[u8],
) -> Option<Mbuf> {
    if len <= room {
        let mut m = slot.take()?;
        return m.set_len(len).then_some(m);
    }
    let mut j = port.jumbo.as_ref()?.alloc()?;
    let dst = j.room_mut();
    if dst.len() < len {
        return None;
    }
    let head = slot.as_mut()?.room_mut();
    dst[..room].copy_from_slice(&head[..room]);
    dst[room..len].copy_from_slice(&tail[..len - room]);
    j.set_len(len).then_some(j)
}

/// The VLAN tag the kernel reported apart from the frame (`PACKET_AUXDATA`), if any.
fn auxdata_vlan(cmsg: &[u64; CMSG_LEN / 8], len: usize) -> Option<(u16, u16)> {
    // SAFETY: reinterprets this aligned buffer as bytes.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(cmsg.as_ptr().cast::<u8>(), CMSG_LEN) };
    let hdr = size_of::<libc::cmsghdr>();
    if len < hdr + size_of::<libc::tpacket_auxdata>() || len > CMSG_LEN {
        return None;
    }
    let word = |o: usize| u32::from_ne_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let half = |o: usize| u16::from_ne_bytes([bytes[o], bytes[o + 1]]);
    // cmsghdr: len (usize), level (i32), type (i32).
    let (level, ty) = (word(8) as i32, word(12) as i32);
    if level != libc::SOL_PACKET || ty != libc::PACKET_AUXDATA {
        return None;
    }
    // tpacket_auxdata: status, len, snaplen (u32), mac, net (u16), vlan_tci, vlan_tpid (u16).
    let status = word(hdr);
    if status & libc::TP_STATUS_VLAN_VALID == 0 {
        return None;
    }
    let tci = half(hdr + 16);
    let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
        half(hdr + 18)
    } else {
        0x8100
    };
    Some((tpid, tci))
}

/// The offload state a received virtio-net header describes.
fn offload_from_vnet(h: &[u8; VNET_HDR_LEN]) -> Offload {
    let le16 = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
    let csum = (h[0] & VNET_F_NEEDS_CSUM != 0).then(|| PartialCsum {
        start: le16(6),
        offset: le16(8),
    });
    let kind = match h[1] & !VNET_GSO_ECN {
        VNET_GSO_TCPV4 => Some(GsoKind::TcpV4),
        VNET_GSO_TCPV6 => Some(GsoKind::TcpV6),
        VNET_GSO_UDP => Some(GsoKind::Udp),
        VNET_GSO_UDP_L4 => Some(GsoKind::UdpL4),
        _ => None,
    };
    let gso = kind.map(|kind| Gso {
        kind,
        size: le16(4),
        ecn: h[1] & VNET_GSO_ECN != 0,
    });
    Offload { csum, gso }
}

/// The virtio-net header that hands `o` to the kernel with a frame.
fn vnet_from_offload(o: &Offload, hdr_len: u16) -> [u8; VNET_HDR_LEN] {
    let mut h = [0u8; VNET_HDR_LEN];
    if let Some(c) = o.csum {
        h[0] = VNET_F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&c.start.to_le_bytes());
        h[8..10].copy_from_slice(&c.offset.to_le_bytes());
    }
    if let Some(g) = o.gso {
        h[1] = match g.kind {
            GsoKind::TcpV4 => VNET_GSO_TCPV4,
            GsoKind::TcpV6 => VNET_GSO_TCPV6,
            GsoKind::Udp => VNET_GSO_UDP,
            GsoKind::UdpL4 => VNET_GSO_UDP_L4,
        } | if g.ecn { VNET_GSO_ECN } else { 0 };
        h[2..4].copy_from_slice(&hdr_len.to_le_bytes());
        h[4..6].copy_from_slice(&g.size.to_le_bytes());
    } else {
        h[1] = VNET_GSO_NONE;
    }
    h
}

/// A transmit queue of a system port (every queue shares the socket).
pub struct SysTxQueue {
    port: Arc<SystemPort>,
    queue: u16,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for SysTxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysTxQueue")
            .field("iface", &self.port.iface)
            .field("queue", &self.queue)
            .finish()
    }
}

impl Drop for SysTxQueue {
    fn drop(&mut self) {
        self.port
            .txq_taken
            .fetch_and(!(1u64 << self.queue), Ordering::AcqRel);
    }
}

impl SysTxQueue {
    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Sends everything in `pkts` (emptied), each frame with its offload work in its
    /// virtio-net header for the kernel to finish.
    pub fn tx_burst<const N: usize>(&mut self, pkts: &mut MbufArray<N>) -> TxOutcome {
        let port = &*self.port;
        let mut out = TxOutcome::default();
        let all = pkts.as_slice();
        let mut done = 0;
        while done < all.len() {
            let chunk = &all[done..all.len().min(done + BURST_SIZE)];
            let mut hdrs = [[0u8; VNET_HDR_LEN]; BURST_SIZE];
            // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
            let mut iov: [[libc::iovec; 2]; BURST_SIZE] = unsafe { zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BURST_SIZE] = unsafe { zeroed() };
            for (i, m) in chunk.iter().enumerate() {
                let o = m.offload();
                if !o.is_none() {
                    let hdr_len = gso_header_len(m.data(), &o);
                    hdrs[i] = vnet_from_offload(&o, hdr_len);
                }
                let data = m.data();
                iov[i] = [
                    libc::iovec {
                        iov_base: hdrs[i].as_mut_ptr().cast(),
                        iov_len: VNET_HDR_LEN,
                    },
                    libc::iovec {
                        // The kernel only reads through this pointer.
                        iov_base: data.as_ptr().cast_mut().cast(),
                        iov_len: data.len(),
                    },
                ];
                msgs[i].msg_hdr.msg_iov = iov[i].as_mut_ptr();
                msgs[i].msg_hdr.msg_iovlen = 2;
            }
            let mut k = 0;
            while k < chunk.len() {
                let left = u32::try_from(chunk.len() - k).unwrap_or(0);
                // SAFETY: `msgs[k..]` describe live buffers (the mbufs in `pkts`, `hdrs`)
                // that nothing writes during the call.
                let r = unsafe {
                    libc::sendmmsg(
                        port.sock.as_raw_fd(),
                        msgs[k..].as_mut_ptr(),
                        left,
                        libc::MSG_DONTWAIT,
                    )
                };
                match usize::try_from(r) {
                    Ok(sent) if sent > 0 => {
                        let bytes: u64 = chunk[k..k + sent].iter().map(|m| m.len() as u64).sum();
                        port.counters.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
                        out.sent += sent;
                        k += sent;
                    }
                    _ => {
                        let e = std::io::Error::last_os_error().raw_os_error();
                        if matches!(e, Some(libc::EAGAIN | libc::ENOBUFS)) {
                            // The device's queue is full: the rest of the burst is lost, as
                            // a full qdisc loses it.
                            out.dropped += chunk.len() - k;
                            break;
                        }
                        // This frame is refused (e.g. EMSGSIZE, longer than the MTU).
                        port.counters.tx_errors.fetch_add(1, Ordering::Relaxed);
                        out.dropped += 1;
                        k += 1;
                    }
                }
            }
            done += chunk.len();
        }
        port.counters
            .tx_packets
            .fetch_add(out.sent as u64, Ordering::Relaxed);
        pkts.clear();
        out
    }
}

/// `hdr_len` of a GSO frame's virtio-net header: its headers' length (a hint the kernel
/// checks against the frame).
fn gso_header_len(data: &[u8], o: &Offload) -> u16 {
    match (o.gso, o.csum) {
        (Some(_), Some(c)) => {
            let l4 = usize::from(c.start);
            let tcp = matches!(o.gso.map(|g| g.kind), Some(GsoKind::TcpV4 | GsoKind::TcpV6));
            let len = if tcp && data.len() > l4 + 12 {
                l4 + usize::from(data[l4 + 12] >> 4) * 4
            } else {
                l4 + 8
            };
            u16::try_from(len).unwrap_or(0)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnet_headers_round_trip_offload_state() {
        let o = Offload {
            csum: Some(PartialCsum {
                start: 34,
                offset: 16,
            }),
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
                ecn: true,
            }),
        };
        let h = vnet_from_offload(&o, 66);
        assert_eq!(h[0], VNET_F_NEEDS_CSUM);
        assert_eq!(h[1], VNET_GSO_TCPV4 | VNET_GSO_ECN);
        assert_eq!(u16::from_le_bytes([h[2], h[3]]), 66);
        assert_eq!(offload_from_vnet(&h), o);
        assert_eq!(offload_from_vnet(&[0; VNET_HDR_LEN]), Offload::NONE);
        assert_eq!(vnet_from_offload(&Offload::NONE, 0), [0; VNET_HDR_LEN]);
    }

    #[test]
    fn devargs_name_the_interface() {
        assert_eq!(iface_of("system,iface=veth1"), Some("veth1"));
        assert_eq!(iface_of("net_af_packet0,iface=veth1"), None);
        assert_eq!(iface_of("system"), None);
    }
}
