//! Frames of the tests' own ethertype, and AF_PACKET sockets that send, count and capture
//! frames on a kernel interface.

use std::time::{Duration, Instant};

use crate::netns::Netns;

/// An ethertype from the IEEE local experimental range: frames of the tests' own, told apart
/// from anything else a kernel might send.
pub const MAGIC_ETHERTYPE: u16 = 0x88b5;

/// An Ethernet frame `dst src MAGIC_ETHERTYPE payload`, padded to the 60-byte minimum.
pub fn magic_frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60.max(14 + payload.len()));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&MAGIC_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

/// An AF_PACKET socket bound to one kernel interface: frames written into it enter that
/// interface (for a switch's TAP: the switch receives them); frames the interface receives
/// can be read back.
#[derive(Debug)]
pub struct PacketSocket {
    fd: std::os::fd::OwnedFd,
}

impl PacketSocket {
    /// Opens a socket on `ifname` inside `ns`.
    ///
    /// # Panics
    /// If the interface is not in the namespace or the socket cannot be opened.
    pub fn open(ns: &Netns, ifname: &str) -> PacketSocket {
        let ifname = ifname.to_string();
        let fd = ns.run_in(move || PacketSocket::open_here(&ifname));
        let s = PacketSocket { fd };
        // Room for a long burst of counted frames while the reader is busy (root: forced).
        if nix::sys::socket::setsockopt(&s.fd, nix::sys::socket::sockopt::RcvBufForce, &(8 << 20))
            .is_err()
        {
            let _ =
                nix::sys::socket::setsockopt(&s.fd, nix::sys::socket::sockopt::RcvBuf, &(8 << 20));
        }
        s.enable_auxdata();
        s.drain();
        s
    }

    /// Asks for PACKET_AUXDATA, which carries the 802.1Q tag the kernel strips from every
    /// received frame (`__netif_receive_skb_core` untags before packet taps see it).
    fn enable_auxdata(&self) {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a plain setsockopt on a socket this struct owns, with a pointer to a live
        // c_int and its exact size.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_AUXDATA,
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of_val(&one) as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "PACKET_AUXDATA: {}", std::io::Error::last_os_error());
    }

    /// The next frame the interface received (not one it sent) within `timeout` for which
    /// `want` holds, with the 802.1Q tag the kernel stripped put back in place.
    pub fn recv_frame(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        use nix::sys::socket::{
            recvmsg, setsockopt, sockopt, ControlMessageOwned, LinkAddr, MsgFlags,
        };
        const PACKET_OUTGOING: u8 = 4;
        const TP_STATUS_VLAN_VALID: u32 = 0x10;
        const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let tv = nix::sys::time::TimeVal::new(
                left.as_secs() as i64,
                i64::from(left.subsec_micros().max(1)),
            );
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv).expect("SO_RCVTIMEO");
            let mut cmsg = nix::cmsg_space!([u8; 64]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let Ok(msg) = recvmsg::<LinkAddr>(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::empty(),
            ) else {
                continue;
            };
            let n = msg.bytes;
            if msg.address.is_some_and(|a| a.pkttype() == PACKET_OUTGOING) || n < 14 {
                continue;
            }
            let mut tag = None;
            for c in msg.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::Unknown(u) = c {
                    let d = &u.data_bytes;
                    if u.cmsg_header.cmsg_level == libc::SOL_PACKET
                        && u.cmsg_header.cmsg_type == libc::PACKET_AUXDATA
                        && d.len() >= 20
                    {
                        let status = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
                        let tci = u16::from_ne_bytes([d[16], d[17]]);
                        let tpid = u16::from_ne_bytes([d[18], d[19]]);
                        if status & TP_STATUS_VLAN_VALID != 0 {
                            let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                                tpid
                            } else {
                                0x8100
                            };
                            tag = Some((tpid, tci));
                        }
                    }
                }
            }
            let mut frame = buf[..n].to_vec();
            if let Some((tpid, tci)) = tag {
                let mut t = tpid.to_be_bytes().to_vec();
                t.extend_from_slice(&tci.to_be_bytes());
                frame.splice(12..12, t);
            }
            if want(&frame) {
                return Some(frame);
            }
        }
    }

    /// Every received frame for which `want` holds, until none has arrived for `quiet`.
    pub fn collect_frames(
        &self,
        quiet: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(f) = self.recv_frame(quiet, &mut want) {
            got.push(f);
        }
        got
    }

    fn open_here(ifname: &str) -> std::os::fd::OwnedFd {
        use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockProtocol, SockType};
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .expect("AF_PACKET socket");
        // The interface's link-layer address names its ifindex; its zero protocol keeps the
        // socket's ETH_P_ALL.
        let link = nix::ifaddrs::getifaddrs()
            .expect("getifaddrs")
            .filter(|a| a.interface_name == ifname)
            .find_map(|a| a.address.and_then(|s| s.as_link_addr().copied()))
            .unwrap_or_else(|| panic!("no link address for {ifname}"));
        bind(fd.as_raw_fd(), &link).expect("bind AF_PACKET");
        fd
    }

    /// Writes one frame into the interface.
    pub fn send(&self, frame: &[u8]) {
        let n = nix::sys::socket::send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            frame,
            nix::sys::socket::MsgFlags::empty(),
        )
        .expect("AF_PACKET send");
        assert_eq!(n, frame.len());
    }

    /// The next frame of [`MAGIC_ETHERTYPE`] the interface received within `timeout`
    /// (other frames and our own transmissions are skipped).
    pub fn recv_magic(&self, timeout: Duration) -> Option<Vec<u8>> {
        use nix::sys::socket::{recvfrom, setsockopt, sockopt, LinkAddr};
        const PACKET_OUTGOING: u8 = 4;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let tv = nix::sys::time::TimeVal::new(
                left.as_secs() as i64,
                i64::from(left.subsec_micros().max(1)),
            );
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv).expect("SO_RCVTIMEO");
            let Ok((n, from)) =
                recvfrom::<LinkAddr>(std::os::fd::AsRawFd::as_raw_fd(&self.fd), &mut buf)
            else {
                continue;
            };
            if from.is_some_and(|a| a.pkttype() == PACKET_OUTGOING) || n < 14 {
                continue;
            }
            if u16::from_be_bytes([buf[12], buf[13]]) == MAGIC_ETHERTYPE {
                return Some(buf[..n].to_vec());
            }
        }
    }

    /// How many [`MAGIC_ETHERTYPE`] frames arrive until none has for `quiet`.
    pub fn count_magic(&self, quiet: Duration) -> usize {
        let mut n = 0;
        while self.recv_magic(quiet).is_some() {
            n += 1;
        }
        n
    }

    /// Discards whatever is queued.
    pub fn drain(&self) {
        let mut buf = vec![0u8; 65536];
        while nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .is_ok()
        {}
    }
}
