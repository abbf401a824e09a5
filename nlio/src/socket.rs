//! A `NETLINK_GENERIC` (or `NETLINK_NETFILTER`) socket: bound at a port id (0 lets the kernel pick one), sending to
//! a port id or a multicast group, receiving one datagram at a time with its sender's port id,
//! its credentials and whether it was cut.
//!
//! The socket itself, binding, unicast and group sends, group membership, the plain receive
//! buffer size and non-blocking mode are netlink-sys's `Socket`. What that type has no call
//! for goes through nix on the same descriptor:
//! - `recvmsg` with a control buffer and `MSG_TRUNC`: netlink-sys receives with `recvfrom`,
//!   which returns no `SCM_CREDENTIALS` and no `MSG_TRUNC` flag;
//! - `SO_PASSCRED`, `SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`, `SO_SNDBUF`, `SO_RCVTIMEO`:
//!   netlink-sys sets only `SO_RCVBUF` and `NETLINK_*` options, and its generic
//!   `setsockopt` is private;
//! - `poll`, to wait for a datagram until a deadline: netlink-sys has blocking and
//!   non-blocking calls only (or async runtimes).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders,
    NetlinkAddr, UnixCredentials,
};
use nix::sys::time::{TimeVal, TimeValLike};

/// The netlink protocol of [`NetlinkSocket::open`] and [`NetlinkSocket::bind`].
pub const NETLINK_GENERIC: i32 = netlink_sys::protocols::NETLINK_GENERIC as i32;
/// The netlink protocol of ctnetlink ([`NetlinkSocket::open_protocol`]).
pub const NETLINK_NETFILTER: i32 = netlink_sys::protocols::NETLINK_NETFILTER as i32;

/// Who sent a datagram, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The sender socket's netlink port id (where replies go; 0 is the kernel).
    pub port_id: u32,
    /// The sending process's credentials (`SCM_CREDENTIALS`), if the kernel attached them
    /// (it does when the receiving socket has `SO_PASSCRED` on).
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

/// A netlink socket bound at a port id (`NETLINK_GENERIC` unless opened otherwise).
#[derive(Debug)]
pub struct NetlinkSocket {
    inner: Socket,
    port_id: u32,
}

impl NetlinkSocket {
    /// Opens a socket bound at `port_id` (0 lets the kernel pick one) with the kernel's
    /// default buffers and no credentials passing.
    ///
    /// # Errors
    /// `EADDRINUSE` when another socket holds `port_id`; other socket errors as they come.
    pub fn open(port_id: u32) -> io::Result<Self> {
        Self::open_protocol(NETLINK_GENERIC, port_id)
    }

    /// [`NetlinkSocket::open`] for netlink `protocol`.
    ///
    /// # Errors
    /// `EADDRINUSE` when another socket of `protocol` holds `port_id`; `EPROTONOSUPPORT`
    /// for a protocol the kernel lacks; other socket errors as they come.
    pub fn open_protocol(protocol: i32, port_id: u32) -> io::Result<Self> {
        let protocol =
            isize::try_from(protocol).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut inner = Socket::new(protocol)?;
        inner.bind(&SocketAddr::new(port_id, 0))?;
        let mut bound = SocketAddr::new(0, 0);
        inner.get_address(&mut bound)?;
        Ok(NetlinkSocket {
            inner,
            port_id: bound.port_number(),
        })
    }

    /// A server's socket: bound at `port_id` (0 lets the kernel pick one), with credentials
    /// passing on and receive and send buffers of `buf_bytes` (forced past the sysctl
    /// limits when the process may).
    ///
    /// # Errors
    /// `EADDRINUSE` when another socket holds `port_id`; other socket errors as they come.
    pub fn bind(port_id: u32, buf_bytes: usize) -> io::Result<Self> {
        Self::bind_protocol(NETLINK_GENERIC, port_id, buf_bytes)
    }

    /// [`NetlinkSocket::bind`] for netlink `protocol`.
    ///
    /// # Errors
    /// As [`NetlinkSocket::open_protocol`].
    pub fn bind_protocol(protocol: i32, port_id: u32, buf_bytes: usize) -> io::Result<Self> {
        let s = Self::open_protocol(protocol, port_id)?;
        s.set_passcred(true)?;
        s.set_recv_buffer(buf_bytes)?;
        s.set_send_buffer(buf_bytes)?;
        Ok(s)
    }

    /// The port id the socket is bound at.
    pub fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Turns `SO_PASSCRED` on or off: with it, every datagram received carries its sender's
    /// credentials, filled in by the kernel (an unprivileged sender cannot forge them).
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_passcred(&self, on: bool) -> io::Result<()> {
        setsockopt(&self.inner, sockopt::PassCred, &on)?;
        Ok(())
    }

    /// Sets the receive buffer to `bytes`: `SO_RCVBUFFORCE` (past `net.core.rmem_max`, for
    /// CAP_NET_ADMIN), else `SO_RCVBUF` (capped by the sysctl). The kernel doubles the value
    /// for its bookkeeping.
    ///
    /// # Errors
    /// As `setsockopt` of `SO_RCVBUF`.
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<()> {
        if setsockopt(&self.inner, sockopt::RcvBufForce, &bytes).is_err() {
            self.inner
                .set_rx_buf_sz(i32::try_from(bytes).unwrap_or(i32::MAX))?;
        }
        Ok(())
    }

    /// Sets the send buffer to `bytes`: `SO_SNDBUFFORCE` (past `net.core.wmem_max`, for
    /// CAP_NET_ADMIN), else `SO_SNDBUF` (capped by the sysctl).
    ///
    /// # Errors
    /// As `setsockopt` of `SO_SNDBUF`.
    pub fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        if setsockopt(&self.inner, sockopt::SndBufForce, &bytes).is_err() {
            setsockopt(&self.inner, sockopt::SndBuf, &bytes)?;
        }
        Ok(())
    }

    /// The receive buffer size in force (as the kernel reports it: twice what was set).
    ///
    /// # Errors
    /// As `getsockopt`.
    pub fn recv_buffer(&self) -> io::Result<usize> {
        self.inner.get_rx_buf_sz()
    }

    /// Switches between blocking and non-blocking receive and send.
    ///
    /// # Errors
    /// As `ioctl(FIONBIO)`.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.inner.set_non_blocking(on)
    }

    /// Sets how long a blocking [`NetlinkSocket::recv`] waits (`None` = forever). A zero
    /// duration waits one microsecond: the kernel reads a zero timeout as "forever".
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let us = timeout.map_or(0, |t| {
            i64::try_from(t.as_micros()).unwrap_or(i64::MAX).max(1)
        });
        setsockopt(
            &self.inner,
            sockopt::ReceiveTimeout,
            &TimeVal::microseconds(us),
        )?;
        Ok(())
    }

    /// Joins multicast group `group` (`NETLINK_ADD_MEMBERSHIP`).
    ///
    /// # Errors
    /// `EINVAL` for a group beyond the protocol's count; `EPERM` for a kernel family's group
    /// that needs a capability the process lacks.
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        self.inner.add_membership(group)
    }

    /// Leaves multicast group `group`.
    ///
    /// # Errors
    /// As `setsockopt`.
    pub fn leave_group(&self, group: u32) -> io::Result<()> {
        self.inner.drop_membership(group)
    }

    /// Receives one datagram into `buf`, blocking or not as the socket is set.
    ///
    /// # Errors
    /// `EAGAIN`/`EWOULDBLOCK` when non-blocking and empty or on timeout, `ENOBUFS` when the
    /// kernel dropped datagrams because the receive buffer overflowed, others as they come.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, MsgFlags::empty())
    }

    /// Receives one datagram if one is waiting, whatever the socket's mode.
    ///
    /// # Errors
    /// `EAGAIN` when none is waiting; otherwise as [`NetlinkSocket::recv`].
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, MsgFlags::MSG_DONTWAIT)
    }

    /// Receives one datagram, waiting at most `timeout` for it, whatever the socket's mode.
    ///
    /// # Errors
    /// `ETIMEDOUT` when none arrived in time; otherwise as [`NetlinkSocket::recv`].
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Received> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.try_recv(buf) {
                Err(e) if e.raw_os_error() == Some(Errno::EINTR as i32) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return Err(Errno::ETIMEDOUT.into());
            }
            self.wait_readable(left)?;
        }
    }

    /// Waits until a datagram is waiting or `timeout` has passed.
    fn wait_readable(&self, timeout: Duration) -> io::Result<()> {
        // Rounded up: poll counts whole milliseconds, and 0 would not wait at all.
        let ms = timeout.as_micros().div_ceil(1000);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.inner.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn recv_flags(&self, buf: &mut [u8], flags: MsgFlags) -> io::Result<Received> {
        let cap = buf.len();
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        let mut iov = [io::IoSliceMut::new(buf)];
        // MSG_TRUNC: the kernel returns the datagram's real length and flags a cut one.
        let msg = recvmsg::<NetlinkAddr>(
            self.inner.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            flags | MsgFlags::MSG_TRUNC,
        )?;
        let mut creds = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmCredentials(uc) = c {
                creds = Some(Creds {
                    pid: uc.pid(),
                    uid: uc.uid(),
                    gid: uc.gid(),
                });
            }
        }
        Ok(Received {
            len: msg.bytes.min(cap),
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC) || msg.bytes > cap,
            sender: Sender {
                port_id: msg.address.map_or(0, |a| a.pid()),
                creds,
            },
        })
    }

    /// Sends one datagram to the socket at `port_id` without waiting (0 is the kernel).
    ///
    /// # Errors
    /// `ECONNREFUSED` when no socket has that port id, `EAGAIN`/`ENOBUFS` when its receive
    /// queue is full, `EPERM` without CAP_NET_ADMIN for another socket than the kernel's,
    /// others as they come.
    pub fn send_to(&self, port_id: u32, datagram: &[u8]) -> io::Result<()> {
        self.send_addr(
            &SocketAddr::new(port_id, 0),
            datagram,
            MsgFlags::MSG_DONTWAIT,
        )
    }

    /// Sends each of `datagrams` to the socket at `port_id` without waiting, in order, in one
    /// `sendmmsg(2)` where the receiver takes them all: the receiver is woken once for the
    /// lot instead of once per datagram. A datagram that fails (receiver full or gone, too
    /// large) is skipped, as [`NetlinkSocket::send_to`] would lose it, and the rest still
    /// go; returns how many were delivered.
    pub fn send_each_to(&self, port_id: u32, datagrams: &[&[u8]]) -> usize {
        let addr = NetlinkAddr::new(port_id, 0);
        let mut delivered = 0;
        let mut rest = datagrams;
        while !rest.is_empty() {
            let iovs: Vec<[io::IoSlice<'_>; 1]> =
                rest.iter().map(|d| [io::IoSlice::new(d)]).collect();
            let addrs = vec![Some(addr); rest.len()];
            let mut headers = MultiHeaders::<NetlinkAddr>::preallocate(rest.len(), None);
            let sent = match sendmmsg(
                self.inner.as_raw_fd(),
                &mut headers,
                &iovs,
                addrs,
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => results.count(),
                Err(Errno::EINTR) => continue,
                // The first datagram was refused: skip it.
                Err(_) => 0,
            };
            delivered += sent;
            // sendmmsg stops at the first datagram that fails; that one is lost.
            rest = rest.get(sent + 1..).unwrap_or(&[]);
        }
        delivered
    }

    /// Sends one datagram to the socket at `port_id`, waiting while its receive queue is full
    /// (unless the socket is non-blocking): what a client does, so that a busy server slows
    /// it down instead of failing its request.
    ///
    /// # Errors
    /// As [`NetlinkSocket::send_to`], without `EAGAIN` on a blocking socket.
    pub fn send_to_blocking(&self, port_id: u32, datagram: &[u8]) -> io::Result<()> {
        let addr = SocketAddr::new(port_id, 0);
        loop {
            match self.send_addr(&addr, datagram, MsgFlags::empty()) {
                Err(e) if e.raw_os_error() == Some(Errno::EINTR as i32) => continue,
                done => return done,
            }
        }
    }

    /// Multicasts one datagram to `group` (1–32) and unicasts it to `port_id`, which the
    /// multicast leaves out: the kernel's `nlmsg_notify`. Port 0 is the kernel, which ignores
    /// a message that is not a request. Needs CAP_NET_ADMIN.
    ///
    /// # Errors
    /// `EINVAL` for a group outside 1–32 (the address holds a 32-bit group mask); `EPERM`
    /// without CAP_NET_ADMIN; `ECONNREFUSED`/`EAGAIN` from the unicast part (the multicast
    /// has gone out by then); others as they come.
    pub fn send_group(&self, port_id: u32, group: u32, datagram: &[u8]) -> io::Result<()> {
        if !(1..=32).contains(&group) {
            return Err(Errno::EINVAL.into());
        }
        let addr = SocketAddr::new(port_id, 1 << (group - 1));
        self.send_addr(&addr, datagram, MsgFlags::MSG_DONTWAIT)
    }

    fn send_addr(&self, addr: &SocketAddr, datagram: &[u8], flags: MsgFlags) -> io::Result<()> {
        let sent = self.inner.send_to(datagram, addr, flags.bits())?;
        if sent != datagram.len() {
            return Err(Errno::EMSGSIZE.into());
        }
        Ok(())
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch arrives as separate datagrams, in order; one the receiver cannot take is lost
    /// and the ones after it still arrive.
    #[test]
    fn send_each_to_delivers_datagrams_apart_and_skips_a_refused_one() {
        let tx = NetlinkSocket::open(0).expect("sender");
        let rx = NetlinkSocket::open(0).expect("receiver");
        let big = vec![7u8; 300_000];
        let msgs: [&[u8]; 3] = [b"first", &big, b"third"];
        // The default receive buffer (about 200 KiB) cannot take 300 KB.
        assert_eq!(tx.send_each_to(rx.port_id(), &msgs), 2);
        let mut buf = vec![0u8; 400_000];
        let got = rx.recv(&mut buf).expect("first");
        assert_eq!(&buf[..got.len], b"first");
        let got = rx.recv(&mut buf).expect("third");
        assert_eq!(&buf[..got.len], b"third");
        assert_eq!(tx.send_each_to(rx.port_id(), &[]), 0);
    }

    /// Port ids well away from what the kernel assigns (process ids) and from other tests.
    fn test_port(n: u32) -> u32 {
        0x7e00_0000 | (std::process::id() << 4) & 0x00ff_fff0 | n
    }

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn sockets_and_clients_can_move_to_and_be_shared_by_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<NetlinkSocket>();
        send_sync::<crate::Client>();
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
        assert_eq!(err.raw_os_error(), Some(Errno::EADDRINUSE as i32));
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
        assert_eq!(err.raw_os_error(), Some(Errno::ECONNREFUSED as i32));
        let err = client.send_to_blocking(test_port(15), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::ECONNREFUSED as i32));
    }

    #[test]
    fn a_plain_socket_gets_no_credentials() {
        let server = NetlinkSocket::open(test_port(4)).unwrap();
        let client = NetlinkSocket::open(0).unwrap();
        client.send_to_blocking(server.port_id(), b"x").unwrap();
        let got = server.recv(&mut [0u8; 8]).unwrap();
        assert_eq!(got.sender.port_id, client.port_id());
        assert_eq!(got.sender.creds, None);
    }

    #[test]
    fn empty_sockets_do_not_block_when_told_not_to() {
        let s = NetlinkSocket::open(0).unwrap();
        let mut buf = [0u8; 16];
        // Non-blocking mode.
        s.set_nonblocking(true).unwrap();
        let e = s.recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        // A blocking socket with a receive timeout.
        s.set_recv_timeout(Some(Duration::from_millis(30))).unwrap();
        let t = Instant::now();
        let e = s.recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(
            t.elapsed() >= Duration::from_millis(25),
            "{:?}",
            t.elapsed()
        );
        s.set_recv_timeout(None).unwrap();
        // One call that never waits, and one that waits a while, on a blocking socket.
        let e = s.try_recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let t = Instant::now();
        let e = s
            .recv_timeout(&mut buf, Duration::from_millis(30))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::ETIMEDOUT as i32));
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_timed_receive_takes_what_arrives_meanwhile() {
        let server = NetlinkSocket::open(test_port(5)).unwrap();
        let port = server.port_id();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let c = NetlinkSocket::open(0).unwrap();
            c.send_to(port, b"late").unwrap();
        });
        let mut buf = [0u8; 16];
        let got = server
            .recv_timeout(&mut buf, Duration::from_secs(10))
            .unwrap();
        assert_eq!(&buf[..got.len], b"late");
        sender.join().unwrap();
    }

    #[test]
    fn buffers_can_be_forced_past_the_sysctl_limits() {
        let s = NetlinkSocket::open(0).unwrap();
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let want = rmem_max * 2;
        s.set_recv_buffer(want).unwrap();
        s.set_send_buffer(want).unwrap();
        // The kernel reports twice what was set (its bookkeeping share).
        let got = s.recv_buffer().unwrap();
        if root() {
            assert_eq!(got, 2 * want);
        } else {
            assert_eq!(got, 2 * rmem_max, "capped without CAP_NET_ADMIN");
        }
    }

    /// A group no kernel family holds (joining one of theirs may need privileges).
    fn free_group() -> u32 {
        let held: Vec<u32> = crate::Client::open(0)
            .unwrap()
            .families()
            .unwrap()
            .iter()
            .flat_map(|f| f.mcast_groups.iter().map(|g| g.id))
            .collect();
        (2..=32)
            .rev()
            .find(|g| !held.contains(g))
            .expect("a free group")
    }

    #[test]
    fn group_sends_reach_members_once_and_the_port_they_name() {
        if !root() {
            eprintln!("skipped: multicast sends need CAP_NET_ADMIN");
            return;
        }
        let group = free_group();
        let sender = NetlinkSocket::open(0).unwrap();
        let member = NetlinkSocket::open(0).unwrap();
        let addressed = NetlinkSocket::open(0).unwrap();
        member.join_group(group).unwrap();
        addressed.join_group(group).unwrap();
        sender
            .send_group(addressed.port_id(), group, b"note")
            .unwrap();
        let mut buf = [0u8; 16];
        for s in [&member, &addressed] {
            let got = s.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap();
            assert_eq!(&buf[..got.len], b"note");
            assert_eq!(got.sender.port_id, sender.port_id());
        }
        // The addressed member got the unicast copy only: the multicast leaves it out.
        let e = addressed.try_recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        member.leave_group(group).unwrap();
        sender.send_group(0, group, b"again").unwrap();
        let e = member.try_recv(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "left the group");

        for bad in [0, 33] {
            let e = sender.send_group(0, bad, b"x").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(Errno::EINVAL as i32));
        }
    }
}
