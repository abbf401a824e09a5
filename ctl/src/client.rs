//! Request/reply exchanges with the daemon: family resolution through nlctrl `GETFAMILY` (sent
//! to the daemon's port id, which serves nlctrl for its own families), transactions answered by
//! an ACK or `NLMSG_ERROR`, and multi-part dumps ended by `NLMSG_DONE`.
//!
//! Errors are positive errno values, as the kernel reports them, so callers can print them the
//! way `ovs-dpctl` does.

use std::time::{Duration, Instant};

use odp::ctrl::CtrlMessage;
use odp::family::{Body, FamilyIds, OvsMessage};
use odp::nl::{self, flags, Control, NlMsgHeader};

use crate::sock::NlSocket;

/// `EPROTO`: the daemon's answer could not be decoded.
pub const EPROTO: i32 = 71;
/// `ETIMEDOUT`.
pub const ETIMEDOUT: i32 = 110;
/// `ENOENT`.
pub const ENOENT: i32 = 2;

/// How long to wait for answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Everything must be done by this instant (`-t SECS`).
    Total(Instant),
    /// Each answer must arrive within this long of the previous one (no `-t`): a slow but
    /// alive daemon (a dump of a huge table) is waited for, a silent one is not.
    Idle(Duration),
}

/// Without `-t`, how long a silent daemon is waited for.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(10);

impl Timeout {
    fn deadline(&self) -> Instant {
        match *self {
            Timeout::Total(t) => t,
            Timeout::Idle(d) => Instant::now() + d,
        }
    }
}

/// Why the daemon could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// What failed, for the error line.
    pub context: String,
    /// The errno.
    pub errno: i32,
}

/// A connection to one daemon with its resolved family ids.
#[derive(Debug)]
pub struct Client {
    sock: NlSocket,
    seq: u32,
    timeout: Timeout,
    /// The daemon's family ids.
    pub ids: FamilyIds,
    buf: Vec<u8>,
}

fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EPROTO)
}

/// The families `ovs-dpctl` needs; all are mandatory (the kernel module is "not loaded"
/// without any of them).
const FAMILIES: [&str; 4] = ["ovs_datapath", "ovs_vport", "ovs_flow", "ovs_packet"];

impl Client {
    /// Opens a socket and resolves the OVS families at the daemon's port id `daemon`.
    ///
    /// # Errors
    /// `ECONNREFUSED` when nothing listens at `daemon`, `ETIMEDOUT` when it does not answer,
    /// `ENOENT` when it does not serve a family.
    pub fn connect(daemon: u32, timeout: Timeout) -> Result<Client, ConnectError> {
        let sock = NlSocket::open(daemon).map_err(|e| ConnectError {
            context: "opening a generic netlink socket".into(),
            errno: io_errno(&e),
        })?;
        let mut c = Client {
            sock,
            seq: std::process::id().wrapping_mul(65536),
            timeout,
            ids: FamilyIds::default(),
            // Allocated (and zeroed) once: every answer is received into it.
            buf: vec![0; crate::sock::RECV_BUF],
        };
        for name in FAMILIES {
            let id = c.resolve(name).map_err(|errno| ConnectError {
                context: match errno {
                    111 => format!("no dpswitch is listening at netlink port id {daemon}"),
                    // The kernel lets only CAP_NET_ADMIN send to another socket of this
                    // protocol.
                    1 => format!(
                        "sending to dpswitch at netlink port id {daemon} is not permitted (needs CAP_NET_ADMIN)"
                    ),
                    ETIMEDOUT => format!(
                        "dpswitch at netlink port id {daemon} did not answer within {}",
                        match timeout {
                            Timeout::Total(_) => "the timeout".to_string(),
                            Timeout::Idle(d) => format!("{} s", d.as_secs()),
                        }
                    ),
                    _ => format!(
                        "resolving generic netlink family {name} at netlink port id {daemon} failed"
                    ),
                },
                errno,
            })?;
            match name {
                "ovs_datapath" => c.ids.datapath = id,
                "ovs_vport" => c.ids.vport = id,
                "ovs_flow" => c.ids.flow = id,
                _ => c.ids.packet = id,
            }
        }
        Ok(c)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// `CTRL_CMD_GETFAMILY` for `name`: its family id.
    fn resolve(&mut self, name: &str) -> Result<u16, i32> {
        let seq = self.next_seq();
        let mut m = CtrlMessage::get_family(name, seq);
        m.pid = self.sock.local_pid();
        let mut req = Vec::new();
        m.emit(&mut req).map_err(|e| e.errno())?;
        let replies = self.exchange(&req, seq)?;
        for (h, p) in &replies {
            let r = CtrlMessage::parse(*h, p).map_err(|_| EPROTO)?;
            if r.info.name.as_deref() == Some(name) || r.info.name.is_none() {
                if let Some(id) = r.info.id {
                    return Ok(id);
                }
            }
        }
        Err(ENOENT)
    }

    /// Sends `req` (whose sequence number is `seq`) and collects the data messages answering
    /// it, up to the ACK / `NLMSG_ERROR` (transactions) or `NLMSG_DONE` (dumps; a dump ended
    /// by a bare ACK has ended too). Messages for other sequence numbers (late answers to an
    /// earlier request, e.g. an ACK after a dump's `NLMSG_DONE`) are skipped.
    fn exchange(&mut self, req: &[u8], seq: u32) -> Result<Vec<(NlMsgHeader, Vec<u8>)>, i32> {
        self.sock.send(req).map_err(|e| io_errno(&e))?;
        let mut out = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            let len = match self.sock.recv(&mut buf, self.timeout.deadline()) {
                Ok(n) => n,
                Err(e) => break Err(io_errno(&e)),
            };
            let mut finished = None;
            for m in nl::messages(&buf[..len]) {
                let Ok((h, p)) = m else {
                    finished = Some(Err(EPROTO));
                    break;
                };
                if h.seq != seq {
                    continue;
                }
                match nl::classify(&h, p) {
                    Ok(Control::Data(_)) => out.push((h, p.to_vec())),
                    Ok(Control::Error(e)) => {
                        finished = Some(if e.error == 0 { Ok(()) } else { Err(-e.error) });
                        break;
                    }
                    Ok(Control::Done(status)) => {
                        finished = Some(if status < 0 { Err(-status) } else { Ok(()) });
                        break;
                    }
                    Ok(Control::Noop) => {}
                    Ok(Control::Overrun) | Err(_) => {
                        finished = Some(Err(EPROTO));
                        break;
                    }
                }
            }
            match finished {
                Some(Ok(())) => break Ok(()),
                Some(Err(e)) => break Err(e),
                None => {}
            }
        };
        self.buf = buf;
        result.map(|()| out)
    }

    /// A request of a family outside the four OVS ones (dpswitch's private
    /// [`odp::pmd_stats`] family): resolves `family` by name, lets `build` append the request
    /// for the given family id, sequence number and local port id, and returns the payloads
    /// (after `nlmsghdr`) of the data messages answering it.
    ///
    /// # Errors
    /// `ENOENT` when the daemon does not serve `family`; otherwise as [`Client::transact`].
    pub fn private_request(
        &mut self,
        family: &str,
        build: impl FnOnce(&mut Vec<u8>, u16, u32, u32) -> odp::Result<()>,
    ) -> Result<Vec<Vec<u8>>, i32> {
        let id = self.resolve(family)?;
        let seq = self.next_seq();
        let mut req = Vec::new();
        build(&mut req, id, seq, self.sock.local_pid()).map_err(|e| e.errno())?;
        Ok(self
            .exchange(&req, seq)?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    fn family_of<T: Body>(&self) -> u16 {
        match T::FAMILY_NAME {
            "ovs_datapath" => self.ids.datapath,
            "ovs_vport" => self.ids.vport,
            "ovs_flow" => self.ids.flow,
            _ => self.ids.packet,
        }
    }

    fn send_typed<T: Body>(
        &mut self,
        mut msg: OvsMessage<T>,
        extra_flags: u16,
    ) -> Result<Vec<OvsMessage<T>>, i32> {
        let seq = self.next_seq();
        msg.family = self.family_of::<T>();
        msg.flags |= flags::REQUEST | flags::ACK | extra_flags;
        msg.seq = seq;
        msg.pid = self.sock.local_pid();
        let req = msg.to_bytes().map_err(|e| e.errno())?;
        let replies = self.exchange(&req, seq)?;
        replies
            .into_iter()
            .map(|(h, p)| OvsMessage::<T>::parse(h, &p).map_err(|_| EPROTO))
            .collect()
    }

    /// One transaction: `msg` (its flags are kept, REQUEST and ACK added); returns the reply
    /// objects (those asked for with `NLM_F_ECHO`, or a GET's answer).
    ///
    /// # Errors
    /// The errno of the daemon's `NLMSG_ERROR`, or of the transport.
    pub fn transact<T: Body>(&mut self, msg: OvsMessage<T>) -> Result<Vec<OvsMessage<T>>, i32> {
        self.send_typed(msg, 0)
    }

    /// A dump: every object, across as many datagrams as the daemon sends.
    ///
    /// # Errors
    /// As [`Client::transact`]; an error status in `NLMSG_DONE` counts as an error.
    pub fn dump<T: Body>(&mut self, msg: OvsMessage<T>) -> Result<Vec<OvsMessage<T>>, i32> {
        self.send_typed(msg, flags::DUMP)
    }
}
