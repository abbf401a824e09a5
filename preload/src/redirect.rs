//! What the interposed calls do with a socket the library looks after: sends to dpswitch go
//! out with `NLM_F_ACK` where it was missing and are recorded as owed; receives on a socket
//! with answers owed wait for them and show exactly what the kernel would have queued by
//! the time `sendmsg()` returned.
//!
//! Where the waiting happens: in the receive, not the send. A datagram stays in the kernel's
//! socket buffer until the caller's receive takes it, so `poll()` and epoll report
//! readiness as they would with the kernel, dumps stream instead of piling up in memory, and
//! upcalls on a connected socket go past the library untouched. The library holds back only
//! the rest of a datagram dpswitch packed several answers into, until the next receive.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libc::c_int;

use crate::config::Config;
use crate::deliver::{deliver, Caller, Datagram};
use crate::nl::{self, SockaddrNl};
use crate::spoil;
use crate::sys;
use crate::table::{self, lock, Peer, RedirectState, Sock};

/// A caller's datagram to send, the safe form of its `struct msghdr`.
#[derive(Debug, Default)]
pub struct Outgoing<'a> {
    /// The iovecs, in order: one datagram.
    pub iovs: Vec<&'a [u8]>,
    /// `msg_name`, if given.
    pub name: Option<&'a [u8]>,
    /// `msg_control`, if given.
    pub control: Option<&'a [u8]>,
}

/// The socket behind `fd` if the library looks after it, finding out (once) for a netlink
/// socket it has not seen created: the caller is about to address it with `addr`.
pub fn sock_for(fd: RawFd, addr: Option<&[u8]>, cfg: &Config) -> Option<Arc<Sock>> {
    if let Some(s) = table::lookup(fd) {
        return Some(s);
    }
    SockaddrNl::parse(addr?)?;
    let (domain, protocol) = sys::socket_kind(fd)?;
    adopt(fd, domain, protocol, Peer::Unconnected, cfg)
}

/// Starts looking after `fd` if it is a netlink socket the library handles.
pub fn adopt(
    fd: RawFd,
    domain: c_int,
    protocol: c_int,
    peer: Peer,
    cfg: &Config,
) -> Option<Arc<Sock>> {
    if domain != libc::AF_NETLINK {
        return None;
    }
    let sock = match protocol {
        // ctnetlink too: dpswitch's connection tracker stands in for the kernel's.
        libc::NETLINK_GENERIC | libc::NETLINK_NETFILTER if cfg.redirects() => {
            Sock::redirected(peer)
        }
        libc::NETLINK_ROUTE if cfg.spoil_tunnels => Arc::new(Sock::Route),
        _ => return None,
    };
    table::insert(fd, sock.clone());
    Some(sock)
}

/// How a `connect()` on a generic-netlink socket is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect {
    /// Connect to dpswitch instead of the address given.
    pub redirect: bool,
    /// Where the socket's sends go once connected.
    pub peer: Peer,
}

/// Plans a `connect()` to `addr` on a socket the library looks after; None: carry it out as
/// asked and change nothing.
pub fn plan_connect(sock: &Sock, addr: &[u8], cfg: &Config) -> Option<Connect> {
    let Sock::Redirected(_) = sock else {
        return None;
    };
    let family = addr
        .get(0..2)
        .map(|f| c_int::from(u16::from_ne_bytes([f[0], f[1]])));
    if family == Some(libc::AF_UNSPEC) {
        // Dissolves the association: sends go to the kernel again.
        return Some(Connect {
            redirect: false,
            peer: Peer::Unconnected,
        });
    }
    let a = SockaddrNl::parse(addr)?;
    Some(if a.is_kernel() {
        Connect {
            redirect: true,
            peer: Peer::Dpswitch,
        }
    } else if a.pid == cfg.pid && a.groups == 0 {
        Connect {
            redirect: false,
            peer: Peer::Dpswitch,
        }
    } else {
        Connect {
            redirect: false,
            peer: Peer::Other,
        }
    })
}

/// Records where a connected socket's sends now go.
pub fn connected(sock: &Sock, peer: Peer) {
    if let Sock::Redirected(st) = sock {
        lock(st).peer = peer;
    }
}

/// Sends `out` on a socket the library looks after; None: the call goes to libc unchanged.
pub fn send(
    fd: RawFd,
    sock: &Sock,
    out: &Outgoing<'_>,
    flags: c_int,
    cfg: &Config,
) -> Option<Result<usize, c_int>> {
    match sock {
        Sock::Route => {
            let bytes = spoil_copy(&out.iovs)?;
            Some(sys::send_datagram(fd, &bytes, out.name, out.control, flags))
        }
        Sock::Redirected(st) => send_genl(fd, st, out, flags, cfg),
    }
}

/// The datagram to send instead of `iovs` when it creates a tunnel device.
fn spoil_copy(iovs: &[&[u8]]) -> Option<Vec<u8>> {
    let found = match iovs {
        [one] => spoil::tunnel_kinds(one),
        _ => spoil::tunnel_kinds(&iovs.concat()),
    };
    if found.is_empty() {
        return None;
    }
    let mut bytes = iovs.concat();
    spoil::spoil(&mut bytes, &found);
    Some(bytes)
}

fn send_genl(
    fd: RawFd,
    st: &Mutex<RedirectState>,
    out: &Outgoing<'_>,
    flags: c_int,
    cfg: &Config,
) -> Option<Result<usize, c_int>> {
    // Where the datagram goes: to the kernel (redirected), to dpswitch, or elsewhere.
    let redirect = match out.name {
        Some(raw) => {
            let a = SockaddrNl::parse(raw)?;
            if a.is_kernel() {
                true
            } else if a.pid == cfg.pid && a.groups == 0 {
                false
            } else {
                return None;
            }
        }
        None => match lock(st).peer {
            Peer::Unconnected => true,
            Peer::Dpswitch => false,
            Peer::Other => return None,
        },
    };
    let mut bytes = out.iovs.concat();
    let sent = lock(st).ledger.send(&mut bytes);
    let dpswitch = SockaddrNl {
        pid: cfg.pid,
        groups: 0,
    }
    .to_bytes();
    let name = if redirect {
        Some(&dpswitch[..])
    } else {
        out.name
    };
    let r = sys::send_datagram(fd, &bytes, name, out.control, flags);
    if let Err(e) = r {
        lock(st).ledger.unsend(sent);
        if e == libc::ECONNREFUSED {
            warn_once(
                &ABSENT,
                &format!(
                    "nothing listens at netlink port id {:#x} (is dpswitch running, in this \
                     network namespace?)",
                    cfg.pid
                ),
            );
        }
    }
    Some(r)
}

static ABSENT: AtomicBool = AtomicBool::new(false);
static SILENT: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, msg: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        crate::warn(msg);
    }
}

/// A received source address as the kernel's would read: dpswitch's port id shows as 0.
pub fn mask_source(name: &mut [u8], cfg: &Config) {
    nl::mask_source(name, cfg.pid);
}

/// Receives on a generic-netlink socket with answers owed or held back (see the module
/// comment); what `recvmsg()` returns, or its errno.
pub fn recv_redirected(
    fd: RawFd,
    st: &Mutex<RedirectState>,
    to: &mut Caller<'_>,
    flags: c_int,
    cfg: &Config,
) -> Result<usize, c_int> {
    // When the current wait for dpswitch began.
    let mut waiting_since: Option<Instant> = None;
    loop {
        let awaited = {
            let mut g = lock(st);
            if let Some(d) = g.queue.front() {
                let n = deliver(d, to, flags);
                if flags & libc::MSG_PEEK == 0 {
                    g.queue.pop_front();
                }
                return Ok(n);
            }
            if g.ledger.is_empty() {
                drop(g);
                let n = sys::recv_into(fd, to, flags)?;
                if let Some(name) = to.name.as_deref_mut() {
                    mask_source(name, cfg);
                }
                return Ok(n);
            }
            g.ledger.awaited()
        };
        // While an answer is awaited, never block in the kernel: the wait is bounded below.
        // Otherwise block as the caller asked (only late ACKs are left to swallow).
        let peek = if awaited {
            libc::MSG_DONTWAIT
        } else {
            flags & libc::MSG_DONTWAIT
        };
        match sys::peek_len(fd, peek) {
            Ok(len) => {
                let mut g = lock(st);
                match sys::recv_datagram(
                    fd,
                    len,
                    libc::MSG_DONTWAIT | (flags & libc::MSG_CMSG_CLOEXEC),
                ) {
                    Ok(d) => {
                        take(&mut g, d, cfg);
                        waiting_since = None;
                    }
                    // Another thread took it first.
                    Err(libc::EAGAIN) => {}
                    Err(e) => return Err(overflowed(&mut g, e)),
                }
            }
            Err(libc::EAGAIN | libc::EINTR) if awaited => {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                let left = cfg.timeout.saturating_sub(since.elapsed());
                if left.is_zero() {
                    lock(st).ledger.give_up();
                    warn_once(
                        &SILENT,
                        &format!(
                            "no answer from dpswitch (netlink port id {:#x}) within {} ms; \
                             carrying on as if none were due (is dpswitch running?)",
                            cfg.pid,
                            cfg.timeout.as_millis()
                        ),
                    );
                    continue;
                }
                sys::poll_in(fd, left);
            }
            Err(e) => return Err(overflowed(&mut lock(st), e)),
        }
    }
}

/// At most this long, a closing socket waits for the answers still owed to it.
const DRAIN_MAX: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes in the answers still owed to a socket that is about to be closed. The kernel
/// answers inside `sendmsg()`, so its answers never outlive the socket; dpswitch's can, and
/// one arriving after the close goes to whichever socket next gets the same port id (the
/// kernel hands a process's first netlink socket its pid each time), where it would pass for
/// the answer to that socket's own first request: OVS opens a socket per family lookup,
/// each numbering its requests from 1, and an ACK the library added to one lookup then ended
/// the next one's wait before its reply came.
pub fn drain(fd: RawFd, st: &Mutex<RedirectState>, cfg: &Config) {
    let deadline = Instant::now() + cfg.timeout.min(DRAIN_MAX);
    while lock(st).ledger.awaited() {
        match sys::peek_len(fd, libc::MSG_DONTWAIT) {
            Ok(len) => {
                let mut g = lock(st);
                match sys::recv_datagram(fd, len, libc::MSG_DONTWAIT) {
                    Ok(d) => {
                        let _ = g.ledger.receive(&d.bytes);
                    }
                    Err(libc::EAGAIN) => {}
                    Err(_) => return,
                }
            }
            Err(libc::EAGAIN | libc::EINTR) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                sys::poll_in(fd, left);
            }
            Err(_) => return,
        }
    }
}

/// A receive error, after forgetting the answers a receive buffer overflow (`ENOBUFS`) may
/// have lost: the caller sees the error and sends again, as it would with the kernel.
fn overflowed(g: &mut RedirectState, e: c_int) -> c_int {
    if e == libc::ENOBUFS {
        g.ledger.give_up();
    }
    e
}

/// Settles a received datagram and queues the parts to show.
fn take(g: &mut RedirectState, mut d: Datagram, cfg: &Config) {
    mask_source(&mut d.name, cfg);
    let parts = g.ledger.receive(&d.bytes);
    if let [only] = parts.as_slice() {
        if *only == (0..d.bytes.len()) {
            g.queue.push_back(d);
            return;
        }
    }
    for p in parts {
        g.queue.push_back(Datagram {
            bytes: d.bytes[p].to_vec(),
            name: d.name,
            control: d.control.clone(),
        });
    }
}
