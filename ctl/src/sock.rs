//! The client's netlink socket: `AF_NETLINK`/`NETLINK_GENERIC`, bound at a port id the kernel
//! picks, talking to the daemon's well-known port id instead of the kernel (port id 0).

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, getsockname, recvmsg, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags,
    NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// Largest datagram accepted: a dump reply packs many messages into one datagram, and a single
/// flow with long actions can approach 64 KiB on its own.
pub const RECV_BUF: usize = 1 << 20;

/// A generic-netlink socket connected (logically) to one daemon.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
    local: u32,
    daemon: u32,
}

impl NlSocket {
    /// Opens a socket with an auto-assigned port id that talks to `daemon`.
    ///
    /// # Errors
    /// As `socket`/`bind`/`getsockname`.
    pub fn open(daemon: u32) -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkGeneric,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        // Dumps of large tables arrive as bursts of datagrams: give them room. Failing to grow
        // the buffer is not fatal (the daemon then waits or drops; we report what arrives).
        let _ = setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
        let local: NetlinkAddr = getsockname(fd.as_raw_fd())?;
        Ok(NlSocket {
            fd,
            local: local.pid(),
            daemon,
        })
    }

    /// Our own port id (what the daemon answers to).
    pub fn local_pid(&self) -> u32 {
        self.local
    }

    /// The daemon's port id.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon
    }

    /// Sends one datagram to the daemon.
    ///
    /// # Errors
    /// `ECONNREFUSED` when no socket is bound at the daemon's port id.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        let addr = NetlinkAddr::new(self.daemon, 0);
        loop {
            match sendto(self.fd.as_raw_fd(), buf, &addr, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives the next datagram from the daemon into `buf`, returning its length, waiting
    /// until `deadline`. Datagrams from anyone else are dropped: only the daemon may answer
    /// our requests.
    ///
    /// # Errors
    /// `ETIMEDOUT` at the deadline, `EMSGSIZE` if a datagram exceeds `buf`, `ENOBUFS` if the
    /// kernel dropped datagrams for lack of buffer space.
    pub fn recv(&self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Errno::ETIMEDOUT.into());
            }
            let ms = u32::try_from(left.as_millis().max(1)).unwrap_or(u32::MAX);
            let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let cap = buf.len();
            let (len, from, truncated) = {
                let mut iov = [IoSliceMut::new(buf)];
                let msg = match recvmsg::<NetlinkAddr>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    None,
                    MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(m) => m,
                    Err(Errno::EINTR | Errno::EAGAIN) => continue,
                    Err(e) => return Err(e.into()),
                };
                (
                    msg.bytes,
                    msg.address.map(|a| a.pid()),
                    msg.flags.contains(MsgFlags::MSG_TRUNC),
                )
            };
            if from != Some(self.daemon) {
                continue;
            }
            if truncated || len > cap {
                return Err(Errno::EMSGSIZE.into());
            }
            return Ok(len);
        }
    }
}
