//! The server's netlink socket: `AF_NETLINK`/`NETLINK_GENERIC` bound at a fixed port id, with
//! `SO_PASSCRED` so every request carries its sender's credentials (the kernel fills them in;
//! they cannot be forged by an unprivileged sender).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recvmsg, sendto, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned,
    MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// Who sent a datagram, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The sender socket's netlink port id (where replies go).
    pub port_id: u32,
    /// The sending process's credentials (`SCM_CREDENTIALS`), if the kernel attached them.
    pub creds: Option<Creds>,
}

/// Process credentials of a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    /// Process id.
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes placed in the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (and was cut).
    pub truncated: bool,
    /// Its sender.
    pub sender: Sender,
}

/// A generic-netlink socket bound at a well-known port id.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    port_id: u32,
}

/// `NETLINK_GENERIC`.
pub const NETLINK_GENERIC: i32 = 16;

impl NetlinkSocket {
    /// Opens a `NETLINK_GENERIC` socket bound at `port_id` (0 lets the kernel pick one),
    /// with credentials passing on and receive/send buffers of `buf_bytes`.
    ///
    /// # Errors
    /// `EADDRINUSE` when another socket holds `port_id`; other socket errors as they come.
    pub fn bind(port_id: u32, buf_bytes: usize) -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkGeneric,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(port_id, 0))?;
        setsockopt(&fd, sockopt::PassCred, &true)?;
        // Root may exceed net.core.rmem_max; anyone else gets what the sysctl allows.
        if setsockopt(&fd, sockopt::RcvBufForce, &buf_bytes).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &buf_bytes)?;
        }
        if setsockopt(&fd, sockopt::SndBufForce, &buf_bytes).is_err() {
            setsockopt(&fd, sockopt::SndBuf, &buf_bytes)?;
        }
        let bound: NetlinkAddr = nix::sys::socket::getsockname(fd.as_raw_fd())?;
        Ok(NetlinkSocket {
            fd,
            port_id: bound.pid(),
        })
    }

    /// The port id the socket is bound at.
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Switches between blocking and non-blocking receive.
    ///
    /// # Errors
    /// As `fcntl`.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = OFlag::from_bits_truncate(fcntl(&self.fd, FcntlArg::F_GETFL)?);
        let flags = if on {
            flags | OFlag::O_NONBLOCK
        } else {
            flags - OFlag::O_NONBLOCK
        };
        fcntl(&self.fd, FcntlArg::F_SETFL(flags))?;
        Ok(())
    }

    /// Sets a receive timeout (None = block forever).
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_recv_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        let tv = nix::sys::time::TimeVal::from(libc::timeval {
            tv_sec: timeout.map_or(0, |t| t.as_secs() as libc::time_t),
            tv_usec: timeout.map_or(0, |t| libc::suseconds_t::from(t.subsec_micros())),
        });
        setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv)?;
        Ok(())
    }

    /// Receives one datagram into `buf`.
    ///
    /// # Errors
    /// `EAGAIN`/`EWOULDBLOCK` when non-blocking and empty or on timeout, `ENOBUFS` when the
    /// kernel dropped datagrams because the receive buffer overflowed, others as they come.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let cap = buf.len();
        let mut cmsg = nix::cmsg_space!(libc::ucred);
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = recvmsg::<NetlinkAddr>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_TRUNC,
        )?;
        let mut creds = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmCredentials(uc) = c {
                creds = Some(Creds {
                    pid: uc.pid(),
                    uid: uc.uid(),
                    gid: uc.gid(),
                });
            }
        }
        let port_id = msg.address.map_or(0, |a| a.pid());
        let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
        Ok(Received {
            len: msg.bytes.min(cap),
            truncated,
            sender: Sender { port_id, creds },
        })
    }

    /// Sends one datagram to the socket at `port_id`.
    ///
    /// # Errors
    /// `ECONNREFUSED` when no socket has that port id, `EAGAIN`/`ENOBUFS` when its receive
    /// queue is full (non-blocking send), others as they come.
    pub fn send_to(&self, port_id: u32, datagram: &[u8]) -> io::Result<()> {
        let addr = NetlinkAddr::new(port_id, 0);
        let sent = sendto(self.fd.as_raw_fd(), datagram, &addr, MsgFlags::MSG_DONTWAIT)?;
        if sent != datagram.len() {
            return Err(io::Error::from(Errno::EMSGSIZE));
        }
        Ok(())
    }
}

impl NetlinkSocket {
    /// Multicasts one datagram to `group` (1–32) and unicasts it to `port_id`, which the
    /// multicast leaves out: the kernel's `nlmsg_notify`. Port 0 is the kernel, which ignores
    /// a message that is not a request. Needs CAP_NET_ADMIN.
    ///
    /// # Errors
    /// `EPERM` without CAP_NET_ADMIN; `ECONNREFUSED`/`EAGAIN` from the unicast part (the
    /// multicast has gone out by then); others as they come.
    pub fn send_group(&self, port_id: u32, group: u32, datagram: &[u8]) -> io::Result<()> {
        if !(1..=32).contains(&group) {
            return Err(io::Error::from(Errno::EINVAL));
        }
        let addr = NetlinkAddr::new(port_id, 1 << (group - 1));
        let sent = sendto(self.fd.as_raw_fd(), datagram, &addr, MsgFlags::MSG_DONTWAIT)?;
        if sent != datagram.len() {
            return Err(io::Error::from(Errno::EMSGSIZE));
        }
        Ok(())
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Port ids well away from what the kernel assigns (process ids) and from other tests.
    fn test_port(n: u32) -> u32 {
        0x7e00_0000 | (std::process::id() << 4) & 0x00ff_fff0 | n
    }

    #[test]
    fn datagrams_arrive_with_sender_port_and_credentials() {
        let server = NetlinkSocket::bind(test_port(1), 1 << 20).unwrap();
        let client = NetlinkSocket::bind(0, 1 << 16).unwrap();
        assert_ne!(client.port_id(), 0, "kernel assigns a port id");
        client.send_to(server.port_id(), b"hello netlink").unwrap();
        let mut buf = [0u8; 64];
        let got = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], b"hello netlink");
        assert!(!got.truncated);
        assert_eq!(got.sender.port_id, client.port_id());
        let creds = got.sender.creds.expect("SO_PASSCRED attaches credentials");
        assert_eq!(creds.pid, std::process::id() as i32);
        assert_eq!(creds.uid, nix::unistd::geteuid().as_raw());

        // And back: replies go to the sender's port id.
        server.send_to(got.sender.port_id, b"reply").unwrap();
        let back = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..back.len], b"reply");
        assert_eq!(back.sender.port_id, server.port_id());
    }

    #[test]
    fn a_taken_port_id_is_refused() {
        let first = NetlinkSocket::bind(test_port(2), 1 << 16).unwrap();
        let err = NetlinkSocket::bind(first.port_id(), 1 << 16).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    }

    #[test]
    fn long_datagrams_are_reported_truncated() {
        let server = NetlinkSocket::bind(test_port(3), 1 << 16).unwrap();
        let client = NetlinkSocket::bind(0, 1 << 16).unwrap();
        client.send_to(server.port_id(), &[7u8; 100]).unwrap();
        let mut small = [0u8; 10];
        let got = server.recv(&mut small).unwrap();
        assert!(got.truncated);
        assert_eq!(got.len, 10);
    }

    #[test]
    fn sending_to_a_missing_port_fails() {
        let client = NetlinkSocket::bind(0, 1 << 16).unwrap();
        let err = client.send_to(test_port(15), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    }
}
