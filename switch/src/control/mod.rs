//! The generic-netlink control plane (`docs/protocol.md`): a socket bound at dpswitch's port
//! id, answered on the control thread in arrival order. [`request`] turns one request into
//! its answer; each family has its own module ([`ctrl`], [`datapath`], [`vport`], [`flow`],
//! [`packet`], [`pmd`]), written against the model and a [`crate::model::Dataplane`], so
//! their kernel semantics are tested without DPDK. [`Server`] owns the socket: datagrams
//! in, answers and notifications out, and dumps pumped as fast as each requester reads.
//!
//! A dump whose requester's socket is full is parked and resumed, and later requests from
//! that sender wait behind it, so order holds per sender; a requester that stops reading for
//! [`DUMP_STALL`] loses the rest of its dump.

mod ct_limit;
pub mod ctnetlink;
pub mod ctrl;
pub mod datapath;
pub mod dump;
pub mod flow;
pub mod mcast;
pub mod packet;
pub mod pmd;
pub mod reply;
pub mod request;
mod upcall;
pub mod vport;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use odp::nl::{self, NlMsgHeader};

pub use dump::{Dump, DUMP_DATAGRAM};
pub use nlio::{Creds, NetlinkSocket, Sender};
pub use request::{Handler, Note, Outcome};

use crate::model::Dataplane;
use crate::slowpath::{UpcallMsg, UpcallSink};
use crate::stats::SwitchView;
use crate::Switch;
use mcast::Groups;
use reply::push_error;
use upcall::{UpcallOut, Upcalls};

/// A dump whose requester has not read anything for this long is abandoned.
pub const DUMP_STALL: Duration = Duration::from_secs(10);
/// Requests a sender may queue behind its own unfinished dump.
const MAX_QUEUED: usize = 4096;
/// Receive buffer: large enough for EXECUTE of a 64 KiB packet plus key and actions.
const RX_BUF: usize = 128 * 1024;
/// Datagrams handled per [`Server::poll`] before upcalls get their turn.
const RX_BUDGET: usize = 256;

/// A dump being sent, and what its sender asked for meanwhile.
#[derive(Debug)]
struct Pending {
    dump: Dump,
    queued: VecDeque<(Vec<u8>, Sender)>,
    progress: Instant,
}

/// The control server.
pub struct Server {
    sock: NetlinkSocket,
    rx: Vec<u8>,
    handler: Handler,
    pending: HashMap<u32, Pending>,
    /// Upcall encoding and receiver back-off.
    up: UpcallOut,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("port_id", &self.sock.port_id())
            .field("pending_dumps", &self.pending.len())
            .finish()
    }
}

impl Server {
    /// Serves on `sock` (made non-blocking here), counting requests in `view`, and picks the
    /// multicast groups notifications go to.
    ///
    /// # Errors
    /// From setting the socket non-blocking.
    pub fn new(sock: NetlinkSocket, view: Arc<SwitchView>) -> io::Result<Server> {
        sock.set_nonblocking(true)?;
        let groups = match mcast::kernel_groups() {
            Ok(k) => mcast::pick(&k),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the kernel's netlink groups");
                None
            }
        };
        match groups {
            Some(g) => tracing::info!(
                datapath = g.datapath,
                vport = g.vport,
                flow = g.flow,
                "netlink notification groups"
            ),
            None => tracing::warn!("no free netlink group ids: notifications are not sent"),
        }
        Ok(Server {
            sock,
            rx: vec![0; RX_BUF],
            handler: Handler::new(view, groups),
            pending: HashMap::new(),
            up: UpcallOut::default(),
        })
    }

    /// The multicast groups advertised for the datapath, vport and flow families.
    pub fn groups(&self) -> Option<Groups> {
        self.handler.groups()
    }

    /// The socket (for poll(2)).
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// Receives and answers what is waiting, and pushes parked dumps on; returns how many
    /// datagrams were handled (0 = idle).
    pub fn poll<D: Dataplane>(&mut self, sw: &mut Switch<D>) -> usize {
        self.handler.tick();
        let ports: Vec<u32> = self.pending.keys().copied().collect();
        for p in ports {
            self.pump(sw, p);
        }
        let mut n = 0;
        while n < RX_BUDGET {
            let r = match self.sock.recv(&mut self.rx) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!("netlink receive buffer overflowed: requests were lost");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "netlink receive failed");
                    break;
                }
            };
            n += 1;
            if r.sender.port_id == 0 {
                // From the kernel (e.g. a broadcast): not a request.
                continue;
            }
            let data = self.rx[..r.len].to_vec();
            if let Some(p) = self.pending.get_mut(&r.sender.port_id) {
                // A sender that floods requests while not reading its dump loses the excess,
                // as an overflowing socket buffer would lose them.
                if p.queued.len() < MAX_QUEUED {
                    p.queued.push_back((data, r.sender));
                } else {
                    tracing::debug!(port_id = r.sender.port_id, "request dropped behind a dump");
                }
                continue;
            }
            self.datagram(sw, &data, r.sender);
        }
        n
    }

    /// Sends each netlink message of `msgs` in a datagram of its own, as the kernel queues
    /// each reply and each ACK as its own skb (`net/netlink/af_netlink.c`, `netlink_ack()`):
    /// clients such as `ovs-vswitchd` read only the first message of every datagram
    /// (`lib/netlink-socket.c`, `nl_sock_transact_multiple__()`). One `sendmmsg(2)` for the
    /// lot: the client wakes once for a batch's answers, not once per answer.
    fn send_each(&self, to: u32, msgs: &[u8]) {
        send_each(&self.sock, to, msgs);
    }

    /// Multicasts `note`; an echo requester also gets it unicast (`genl_notify()` with
    /// `NLM_F_ECHO`).
    fn announce(&mut self, to: u32, note: Note) {
        let dst = if note.echo { to } else { 0 };
        if let Err(e) = self.sock.send_group(dst, note.group, &note.msg) {
            if e.raw_os_error() == Some(libc::EPERM) {
                tracing::warn!("no CAP_NET_ADMIN: netlink notifications are not sent");
                self.handler.stop_announcing();
            } else {
                tracing::debug!(group = note.group, error = %e, "notification not delivered");
            }
        }
    }

    /// Answers every message of one datagram in order, each answer in datagrams of its own;
    /// a dump parks the rest of the datagram behind the dump.
    fn datagram<D: Dataplane>(&mut self, sw: &mut Switch<D>, data: &[u8], sender: Sender) {
        // The datagram's answers, sent together when it is done or before anything that
        // must come after them (a notification, a dump).
        let mut answers = Vec::new();
        let mut off = 0;
        while off < data.len() {
            let rest = &data[off..];
            let Ok(hdr) = NlMsgHeader::parse(rest) else {
                // Fewer than 16 bytes: nothing to echo, the kernel drops it silently.
                tracing::debug!(len = rest.len(), "runt netlink datagram dropped");
                break;
            };
            let len = hdr.len as usize;
            if len < nl::NLMSG_HDRLEN || len > rest.len() {
                push_error(&mut answers, sender.port_id, &hdr, &[], libc::EINVAL);
                self.handler.count("netlink", "frame", libc::EINVAL);
                break;
            }
            let payload = &rest[nl::NLMSG_HDRLEN..len];
            off += nl::align(len).min(rest.len());
            let mut sink = Upcalls {
                sock: &self.sock,
                out: &mut self.up,
            };
            match self.handler.message(sw, &hdr, payload, sender, &mut sink) {
                Outcome::Dump(dump) => {
                    self.send_each(sender.port_id, &answers);
                    // The rest of the datagram waits behind the dump.
                    let queued = if off < data.len() {
                        VecDeque::from([(data[off..].to_vec(), sender)])
                    } else {
                        VecDeque::new()
                    };
                    let p = Pending {
                        dump,
                        queued,
                        progress: Instant::now(),
                    };
                    self.pending.insert(sender.port_id, p);
                    self.pump(sw, sender.port_id);
                    return;
                }
                Outcome::Reply { msgs, note } => {
                    if let Some(note) = note {
                        self.send_each(sender.port_id, &answers);
                        answers.clear();
                        self.announce(sender.port_id, note);
                    }
                    answers.extend_from_slice(&msgs);
                }
            }
        }
        self.send_each(sender.port_id, &answers);
    }

    /// Sends as much of `port`'s dump as its socket takes; when the dump is done, answers the
    /// requests that queued behind it.
    fn pump<D: Dataplane>(&mut self, sw: &mut Switch<D>, port: u32) {
        loop {
            let Some(p) = self.pending.get_mut(&port) else {
                return;
            };
            let Some(dgram) = p.dump.next(&sw.model) else {
                // Complete: serve what waited behind it.
                let Some(p) = self.pending.remove(&port) else {
                    return;
                };
                for (data, sender) in p.queued {
                    match self.pending.get_mut(&port) {
                        // Another dump started: keep the rest queued behind it.
                        Some(q) => q.queued.push_back((data, sender)),
                        None => self.datagram(sw, &data, sender),
                    }
                }
                return;
            };
            match self.sock.send_to(port, dgram) {
                Ok(()) => {
                    p.dump.sent();
                    p.progress = Instant::now();
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    if p.progress.elapsed() > DUMP_STALL {
                        tracing::warn!(port_id = port, "dump receiver stalled: dump abandoned");
                        self.pending.remove(&port);
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(port_id = port, error = %e, "dump receiver gone");
                    self.pending.remove(&port);
                    return;
                }
            }
        }
    }
}

/// Sends each netlink message of `msgs` on `sock` to port `to` in a datagram of its own
/// ([`Server`]'s answers, and the ctnetlink server's), in one `sendmmsg(2)`.
pub(crate) fn send_each(sock: &NetlinkSocket, to: u32, msgs: &[u8]) {
    let mut each = Vec::new();
    let mut off = 0;
    while off < msgs.len() {
        let rest = &msgs[off..];
        let len = NlMsgHeader::parse(rest).map_or(rest.len(), |h| h.len as usize);
        let len = len.clamp(nl::NLMSG_HDRLEN, rest.len());
        each.push(&rest[..len]);
        off += nl::align(len).min(rest.len());
    }
    let sent = sock.send_each_to(to, &each);
    if sent != each.len() {
        // The kernel drops unicast replies to a full or closed socket too.
        tracing::debug!(
            port_id = to,
            lost = each.len() - sent,
            "replies not delivered"
        );
    }
}

impl UpcallSink for Server {
    fn refusing(&self) -> bool {
        self.up.refusing()
    }

    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
        Upcalls {
            sock: &self.sock,
            out: &mut self.up,
        }
        .deliver(msg)
    }
}
#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use odp::dpswitch::FAMILY_IDS;
    use odp::errno::ENODEV;
    use odp::family::datapath::{DatapathAttrs, DpCmd};
    use odp::family::OvsMessage;
    use odp::nl::{self, flags, Control};

    use super::*;
    use crate::control::testing::Harness;

    fn dp_request(cmd: DpCmd, name: &str, seq: u32) -> Vec<u8> {
        let mut m = OvsMessage::new(
            cmd,
            0,
            DatapathAttrs {
                name: Some(name.to_string()),
                upcall_pid: Some(0),
                ..Default::default()
            },
        );
        m.family = FAMILY_IDS.datapath;
        m.flags = flags::REQUEST | flags::ACK;
        m.seq = seq;
        m.to_bytes().expect("encodes")
    }

    /// ovs-vswitchd batches requests in one sendmsg() and reads one message per answer
    /// datagram, so every answer must come in a datagram of its own, in order, and an error
    /// in the middle of a batch must neither be lost nor stop the rest.
    #[test]
    fn a_batch_gets_one_datagram_per_answer() {
        let mut h = Harness::new();
        let sock = NetlinkSocket::bind(0, 1 << 20).expect("server socket");
        let server_port = sock.port_id();
        let mut server = Server::new(sock, h.view.clone()).expect("server");
        let client = NetlinkSocket::open(0).expect("client socket");
        let mut batch = dp_request(DpCmd::New, "a", 1);
        batch.extend(dp_request(DpCmd::Get, "missing", 2));
        batch.extend(dp_request(DpCmd::New, "b", 3));
        client.send_to(server_port, &batch).expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.poll(&mut h.sw) == 0 {
            assert!(Instant::now() < deadline, "the batch never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut buf = vec![0; 64 * 1024];
        let mut answers = Vec::new();
        while let Ok(r) = client.recv_timeout(&mut buf, Duration::from_millis(200)) {
            let msgs: Vec<_> = nl::messages(&buf[..r.len])
                .map(|m| m.expect("well-formed"))
                .map(|(hdr, p)| match nl::classify(&hdr, p).expect("answer") {
                    Control::Error(e) => (hdr.seq, -e.error),
                    other => panic!("unexpected answer {other:?}"),
                })
                .collect();
            assert_eq!(msgs.len(), 1, "one message per datagram");
            answers.push(msgs[0]);
        }
        assert_eq!(answers, vec![(1, 0), (2, ENODEV), (3, 0)]);
        assert!(h.sw.model.find_datapath("b").is_some(), "the batch went on");
    }
}
