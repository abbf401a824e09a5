//! Request/reply exchanges with one netlink peer — a dpswitch daemon at its port id, or the
//! kernel at port 0: family resolution through nlctrl `GETFAMILY`, transactions answered by an
//! ACK or `NLMSG_ERROR`, dumps ended by `NLMSG_DONE` (collected or iterated as they arrive),
//! and raw datagrams for tools that send what no encoder would.
//!
//! Only the peer may answer a request: datagrams from other senders are dropped while
//! waiting for an answer. Messages for other sequence numbers (late answers to an earlier
//! request, such as an ACK after a dump's `NLMSG_DONE`) are skipped, or refused with
//! [`Error::Stray`] on a client that checks its peer's ordering
//! ([`Client::set_reject_stray`]).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use odp::ctrl::{self, CtrlMessage, FamilyInfo};
use odp::family::{Body, FamilyIds, OvsMessage};
use odp::nl::{self, flags, Control, NlMsgHeader};

use crate::error::Error;
use crate::socket::NetlinkSocket;

/// One received netlink message: its header and its payload (the bytes after the header).
pub type Message = (NlMsgHeader, Vec<u8>);

/// The largest datagram a client accepts: a dump packs many messages into one datagram, and
/// one flow with long actions can approach 64 KiB on its own.
pub const RECV_BUF: usize = 1 << 20;

/// The socket receive buffer a client asks for: dumps of large tables arrive as bursts.
pub const SOCKET_BUF: usize = 8 << 20;

/// Without another timeout, how long a silent peer is waited for.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(10);

/// The families of the OVS kernel datapath that `ovs-dpctl` needs.
pub const OVS_FAMILIES: [&str; 4] = ["ovs_datapath", "ovs_vport", "ovs_flow", "ovs_packet"];

/// How long to wait for answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Everything must be done by this instant.
    Deadline(Instant),
    /// Each datagram must arrive within this long of asking for it: a slow but alive peer
    /// (a dump of a huge table) is waited for, a silent one is not.
    Idle(Duration),
}

impl Timeout {
    fn left(&self) -> Duration {
        match *self {
            Timeout::Deadline(t) => t.saturating_duration_since(Instant::now()),
            Timeout::Idle(d) => d,
        }
    }
}

/// A client socket (bound at a port id the kernel picks) talking to one peer.
#[derive(Debug)]
pub struct Client {
    sock: NetlinkSocket,
    peer: u32,
    seq: u32,
    timeout: Timeout,
    reject_stray: bool,
    /// The peer's ids of the OVS families (0 until resolved, see
    /// [`Client::resolve_ovs_families`]); typed requests of family 0 are sent with these.
    pub ids: FamilyIds,
    /// Allocated once: every datagram is received into it (a mutex, so raw receives can
    /// take `&self`; exchanges hold `&mut self` and reach it without locking).
    buf: Mutex<Vec<u8>>,
    /// The part of `buf` not looked at yet.
    unread: std::ops::Range<usize>,
}

impl Client {
    /// Opens a socket at a kernel-chosen port id that talks to the peer at port id `peer`
    /// (0 for the kernel), waiting [`DEFAULT_IDLE`] for each answer.
    ///
    /// # Errors
    /// As `socket`/`bind`.
    pub fn open(peer: u32) -> Result<Client, Error> {
        Self::open_protocol(crate::NETLINK_GENERIC, peer)
    }

    /// [`Client::open`] on a socket of netlink `protocol` (e.g. `NETLINK_NETFILTER` for
    /// ctnetlink).
    ///
    /// # Errors
    /// As `socket`/`bind`.
    pub fn open_protocol(protocol: i32, peer: u32) -> Result<Client, Error> {
        let sock = NetlinkSocket::open_protocol(protocol, 0)
            .map_err(Error::io("opening a netlink socket"))?;
        // A smaller buffer only makes the peer wait (or drop): not worth failing for.
        let _ = sock.set_recv_buffer(SOCKET_BUF);
        Ok(Client {
            sock,
            peer,
            seq: std::process::id().wrapping_mul(65536),
            timeout: Timeout::Idle(DEFAULT_IDLE),
            reject_stray: false,
            ids: FamilyIds::default(),
            buf: Mutex::new(vec![0; RECV_BUF]),
            unread: 0..0,
        })
    }

    /// [`Client::open`] with `timeout`, then [`Client::resolve_ovs_families`].
    ///
    /// # Errors
    /// As those: `ECONNREFUSED` when nothing is bound at `peer`, [`Error::Timeout`] when it
    /// does not answer, [`Error::Family`] naming the family it failed to resolve.
    pub fn connect(peer: u32, timeout: Timeout) -> Result<Client, Error> {
        let mut c = Client::open(peer)?;
        c.set_timeout(timeout);
        c.resolve_ovs_families()?;
        Ok(c)
    }

    /// Resolves the four [`OVS_FAMILIES`] into [`Client::ids`]; all are needed.
    ///
    /// # Errors
    /// [`Error::Family`] for the first that fails.
    pub fn resolve_ovs_families(&mut self) -> Result<(), Error> {
        let mut resolved = [0; OVS_FAMILIES.len()];
        for (id, name) in resolved.iter_mut().zip(OVS_FAMILIES) {
            *id = self.family(name)?;
        }
        let [datapath, vport, flow, packet] = resolved;
        self.ids.datapath = datapath;
        self.ids.vport = vport;
        self.ids.flow = flow;
        self.ids.packet = packet;
        Ok(())
    }

    /// This socket's port id (where answers, and upcalls, are sent).
    pub fn port_id(&self) -> u32 {
        self.sock.port_id()
    }

    /// The peer's port id.
    pub fn peer(&self) -> u32 {
        self.peer
    }

    /// The socket, for what the client does not do itself (joining groups, buffer sizes).
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// How long answers are waited for.
    pub fn set_timeout(&mut self, timeout: Timeout) {
        self.timeout = timeout;
    }

    /// With `on`, an answer carrying another sequence number than the request's is an
    /// error ([`Error::Stray`]) instead of skipped: for clients that check their peer
    /// answers each request in order and nothing else.
    pub fn set_reject_stray(&mut self, on: bool) {
        self.reject_stray = on;
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends a datagram to the peer as it is, waiting while the peer's receive queue is full.
    ///
    /// # Errors
    /// `ECONNREFUSED` when nothing is bound at the peer's port id, `EPERM` without
    /// CAP_NET_ADMIN (for a peer other than the kernel), others as the kernel refuses.
    pub fn send_raw(&self, datagram: &[u8]) -> Result<(), Error> {
        self.sock
            .send_to_blocking(self.peer, datagram)
            .map_err(Error::io("sending"))
    }

    /// Receives the next datagram from anyone, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] when none arrived, [`Error::Oversized`] for one longer than
    /// [`RECV_BUF`], `ENOBUFS` when the kernel dropped datagrams for lack of buffer space.
    pub fn recv_datagram(&self, timeout: Duration) -> Result<Vec<u8>, Error> {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let r = self
            .sock
            .recv_timeout(&mut buf, timeout)
            .map_err(recv_error)?;
        datagram(&buf, r.len, r.truncated)
    }

    /// Receives a datagram from anyone if one is waiting.
    ///
    /// # Errors
    /// As [`Client::recv_datagram`], except that none waiting is `Ok(None)`.
    pub fn try_recv_datagram(&self) -> Result<Option<Vec<u8>>, Error> {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        match self.sock.try_recv(&mut buf) {
            Ok(r) => datagram(&buf, r.len, r.truncated).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(recv_error(e)),
        }
    }

    /// The answer to the request with sequence number `seq` (already sent), message by
    /// message as its datagrams arrive: its data messages, up to its ACK or `NLMSG_DONE`
    /// (the iterator ends) or its `NLMSG_ERROR` (an [`Error::Remote`] item, then the end).
    /// Whatever else a datagram holds after the end is dropped, and so is the rest of the
    /// datagram at hand when the iterator is dropped unfinished; later datagrams of an
    /// unfinished answer are stray to the next exchange.
    pub fn replies(&mut self, seq: u32) -> Replies<'_> {
        Replies {
            client: self,
            seq,
            done: false,
        }
    }

    /// Sends `request` (whose sequence number is `seq`) and collects the data messages of
    /// its answer (see [`Client::replies`]).
    ///
    /// # Errors
    /// The peer's errno ([`Error::Remote`]), or the transport's.
    pub fn exchange(&mut self, request: &[u8], seq: u32) -> Result<Vec<Message>, Error> {
        self.send_raw(request)?;
        self.replies(seq).collect()
    }

    /// `CTRL_CMD_GETFAMILY` for `name`: the family as the peer describes it (id, version,
    /// multicast groups...).
    ///
    /// # Errors
    /// [`Error::Family`]: `ENOENT` when the peer does not serve it.
    pub fn family_info(&mut self, name: &str) -> Result<FamilyInfo, Error> {
        self.get_family(name).map_err(|e| Error::Family {
            name: name.to_string(),
            source: Box::new(e),
        })
    }

    /// The id of generic netlink family `name` at the peer.
    ///
    /// # Errors
    /// As [`Client::family_info`].
    pub fn family(&mut self, name: &str) -> Result<u16, Error> {
        self.family_info(name)?.id.ok_or_else(|| Error::Family {
            name: name.to_string(),
            source: Box::new(Error::NotServed(name.to_string())),
        })
    }

    fn get_family(&mut self, name: &str) -> Result<FamilyInfo, Error> {
        let seq = self.next_seq();
        let mut m = CtrlMessage::get_family(name, seq);
        m.pid = self.port_id();
        let mut req = Vec::new();
        m.emit(&mut req).map_err(Error::Encode)?;
        for (h, p) in self.exchange(&req, seq)? {
            let r = CtrlMessage::parse(h, &p).map_err(Error::Malformed)?;
            if r.info.id.is_some() && r.info.name.as_deref().is_none_or(|n| n == name) {
                return Ok(r.info);
            }
        }
        Err(Error::NotServed(name.to_string()))
    }

    /// Every generic netlink family the peer serves (a `CTRL_CMD_GETFAMILY` dump); from the
    /// kernel (peer 0), every family of the network namespace with its multicast groups.
    ///
    /// # Errors
    /// The peer's errno, or the transport's; [`Error::Malformed`] for an entry that does
    /// not parse.
    pub fn families(&mut self) -> Result<Vec<FamilyInfo>, Error> {
        let seq = self.next_seq();
        let req = CtrlMessage {
            flags: flags::REQUEST | flags::DUMP,
            seq,
            pid: self.port_id(),
            cmd: ctrl::cmd::GETFAMILY,
            version: 1,
            info: FamilyInfo::default(),
        };
        let mut b = Vec::new();
        req.emit(&mut b).map_err(Error::Encode)?;
        self.exchange(&b, seq)?
            .into_iter()
            .map(|(h, p)| {
                CtrlMessage::parse(h, &p)
                    .map(|m| m.info)
                    .map_err(Error::Malformed)
            })
            .collect()
    }

    /// A request of a family the client only knows by name (such as dpswitch's
    /// `dpswitch_pmd`): resolves `family`, lets `build` append the request for the given
    /// family id, sequence number and local port id, and returns the answer's data messages.
    ///
    /// # Errors
    /// As [`Client::family`] and [`Client::exchange`]; [`Error::Encode`] when `build` fails.
    pub fn family_request(
        &mut self,
        family: &str,
        build: impl FnOnce(&mut Vec<u8>, u16, u32, u32) -> odp::Result<()>,
    ) -> Result<Vec<Message>, Error> {
        let id = self.family(family)?;
        let seq = self.next_seq();
        let mut req = Vec::new();
        build(&mut req, id, seq, self.port_id()).map_err(Error::Encode)?;
        self.exchange(&req, seq)
    }

    /// The id requests of family `name` are sent with: a resolved OVS family's, else
    /// resolved now.
    fn family_id(&mut self, name: &str) -> Result<u16, Error> {
        let known = match name {
            "ovs_datapath" => self.ids.datapath,
            "ovs_vport" => self.ids.vport,
            "ovs_flow" => self.ids.flow,
            "ovs_packet" => self.ids.packet,
            _ => 0,
        };
        match known {
            0 => self.family(name),
            id => Ok(id),
        }
    }

    /// Stamps `msg` as this client's next request (family filled in when 0, REQUEST and ACK
    /// added to its flags with `extra_flags`), sends it and returns its sequence number.
    fn send_typed<T: Body>(
        &mut self,
        mut msg: OvsMessage<T>,
        extra_flags: u16,
    ) -> Result<u32, Error> {
        if msg.family == 0 {
            msg.family = self.family_id(T::FAMILY_NAME)?;
        }
        let seq = self.next_seq();
        msg.flags |= flags::REQUEST | flags::ACK | extra_flags;
        msg.seq = seq;
        msg.pid = self.port_id();
        let req = msg.to_bytes().map_err(Error::Encode)?;
        self.send_raw(&req)?;
        Ok(seq)
    }

    /// One transaction: `msg` (its flags kept, REQUEST and ACK added; a family of 0 filled
    /// in); returns the answer's objects (those asked for with `NLM_F_ECHO`, or a GET's).
    ///
    /// # Errors
    /// The peer's errno ([`Error::Remote`]), or the transport's; [`Error::Malformed`] for an
    /// object that does not parse.
    pub fn transact<T: Body>(&mut self, msg: OvsMessage<T>) -> Result<Vec<OvsMessage<T>>, Error> {
        self.dump_iter_flags(msg, 0)?.collect()
    }

    /// A dump: every object, across as many datagrams as the peer sends.
    ///
    /// # Errors
    /// As [`Client::transact`]; an error status in `NLMSG_DONE` is an error.
    pub fn dump<T: Body>(&mut self, msg: OvsMessage<T>) -> Result<Vec<OvsMessage<T>>, Error> {
        self.dump_iter(msg)?.collect()
    }

    /// A dump whose objects are decoded one by one as they arrive, for tables too large to
    /// hold twice.
    ///
    /// # Errors
    /// Sending the request; the items carry the answer's errors.
    pub fn dump_iter<T: Body>(
        &mut self,
        msg: OvsMessage<T>,
    ) -> Result<impl Iterator<Item = Result<OvsMessage<T>, Error>> + '_, Error> {
        self.dump_iter_flags(msg, flags::DUMP)
    }

    fn dump_iter_flags<T: Body>(
        &mut self,
        msg: OvsMessage<T>,
        extra_flags: u16,
    ) -> Result<impl Iterator<Item = Result<OvsMessage<T>, Error>> + '_, Error> {
        let seq = self.send_typed(msg, extra_flags)?;
        Ok(self
            .replies(seq)
            .map(|r| r.and_then(|(h, p)| OvsMessage::<T>::parse(h, &p).map_err(Error::Malformed))))
    }

    /// Receives the peer's next datagram into the client's buffer.
    fn fill(&mut self) -> Result<(), Error> {
        let wait = self.timeout.left();
        let deadline = Instant::now().checked_add(wait);
        let buf = self.buf.get_mut().unwrap_or_else(PoisonError::into_inner);
        loop {
            let left = deadline.map_or(wait, |d| d.saturating_duration_since(Instant::now()));
            let r = self.sock.recv_timeout(buf, left).map_err(recv_error)?;
            if r.sender.port_id != self.peer {
                continue;
            }
            if r.truncated {
                return Err(Error::Oversized {
                    len: r.len,
                    cap: buf.len(),
                });
            }
            self.unread = 0..r.len;
            return Ok(());
        }
    }
}

fn recv_error(e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(nix::errno::Errno::ETIMEDOUT as i32) {
        Error::Timeout
    } else {
        Error::Io {
            op: "receiving",
            source: e,
        }
    }
}

/// A copy of the `len` bytes received into `buf`.
fn datagram(buf: &[u8], len: usize, truncated: bool) -> Result<Vec<u8>, Error> {
    if truncated {
        return Err(Error::Oversized {
            len,
            cap: buf.len(),
        });
    }
    Ok(buf[..len].to_vec())
}

/// The answer to one request, message by message (see [`Client::replies`]).
#[derive(Debug)]
pub struct Replies<'c> {
    client: &'c mut Client,
    seq: u32,
    done: bool,
}

impl Replies<'_> {
    fn finish(&mut self, last: Option<Result<Message, Error>>) -> Option<Result<Message, Error>> {
        self.done = true;
        self.client.unread = 0..0;
        last
    }
}

impl Drop for Replies<'_> {
    fn drop(&mut self) {
        self.client.unread = 0..0;
    }
}

impl Iterator for Replies<'_> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.client.unread.is_empty() {
                if let Err(e) = self.client.fill() {
                    return self.finish(Some(Err(e)));
                }
                continue;
            }
            let buf = self
                .client
                .buf
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            let data = &buf[self.client.unread.clone()];
            let (h, payload) = match nl::messages(data).next() {
                Some(Ok(m)) => m,
                Some(Err(e)) => return self.finish(Some(Err(Error::Malformed(e)))),
                None => {
                    self.client.unread = 0..0;
                    continue;
                }
            };
            self.client.unread.start += nl::align(h.len as usize).min(data.len());
            if h.seq != self.seq {
                if self.client.reject_stray {
                    let stray = Error::Stray {
                        got: h.seq,
                        want: self.seq,
                    };
                    return self.finish(Some(Err(stray)));
                }
                continue;
            }
            match nl::classify(&h, payload) {
                Ok(Control::Data(p)) => return Some(Ok((h, p.to_vec()))),
                Ok(Control::Noop) => {}
                Ok(Control::Error(e)) if e.error == 0 => return self.finish(None),
                Ok(Control::Error(e)) => return self.finish(Some(Err(Error::Remote(-e.error)))),
                Ok(Control::Done(status)) if status < 0 => {
                    return self.finish(Some(Err(Error::Remote(-status))))
                }
                Ok(Control::Done(_)) => return self.finish(None),
                Ok(Control::Overrun) => {
                    let e = odp::Error::Invalid("NLMSG_OVERRUN in an answer");
                    return self.finish(Some(Err(Error::Malformed(e))));
                }
                Err(e) => return self.finish(Some(Err(Error::Malformed(e)))),
            }
        }
        None
    }
}
