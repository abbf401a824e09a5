//! ctnetlink, the subset Open vSwitch manages a system datapath's tracker with
//! (`lib/netlink-conntrack.c`), served on a `NETLINK_NETFILTER` socket at dpswitch's port
//! id over the shared connection table, with the kernel's answers
//! (`net/netfilter/nf_conntrack_netlink.c`): dump (all, or a zone's or a family's), get one
//! by tuple, delete all, a zone's, or one by tuple (and id), and the global counts. The
//! redirect library sends vswitchd's and ovs-dpctl's ctnetlink requests here.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use fastpath::conntrack::netlink::{entry, from_netlink};
use fastpath::conntrack::table::{Conn, Found, Table};
use fastpath::conntrack::tuple::Family;
use odp::ctnetlink::{self as ctnl, msg, AF_UNSPEC};
use odp::nl::{self, flags, NlMsgHeader};

use super::dump::Dump;
use super::reply::{is_dump, push_error, Answer};
use super::{NetlinkSocket, Sender};
use crate::error::{Error, Result};
use crate::model::{Dataplane, Model};
use crate::stats::SwitchView;
use crate::Switch;

/// Receive buffer: requests are small.
const RX_BUF: usize = 16 * 1024;
/// Socket buffers.
const SOCK_BUF: usize = 4 << 20;
/// Datagrams handled per poll.
const RX_BUDGET: usize = 64;

/// The ctnetlink server.
#[derive(Debug)]
pub struct CtServer {
    sock: NetlinkSocket,
    rx: Vec<u8>,
    view: Arc<SwitchView>,
    /// Dumps being sent, by receiver port id.
    pending: HashMap<u32, Dump>,
}

impl CtServer {
    /// Serves at `port_id` (the same port id as the generic-netlink server: ports are per
    /// protocol), counting requests in `view`.
    ///
    /// # Errors
    /// From opening or binding the socket.
    pub fn bind(port_id: u32, view: Arc<SwitchView>) -> io::Result<CtServer> {
        let sock = NetlinkSocket::bind_protocol(nlio::NETLINK_NETFILTER, port_id, SOCK_BUF)?;
        sock.set_nonblocking(true)?;
        Ok(CtServer {
            sock,
            rx: vec![0; RX_BUF],
            view,
            pending: HashMap::new(),
        })
    }

    /// The socket (to wait on).
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// Answers what is waiting and pushes dumps on; returns how many datagrams came in.
    pub fn poll<D: Dataplane>(&mut self, sw: &mut Switch<D>) -> usize {
        let ports: Vec<u32> = self.pending.keys().copied().collect();
        for p in ports {
            self.pump(&sw.model, p);
        }
        let mut n = 0;
        while n < RX_BUDGET {
            let r = match self.sock.recv(&mut self.rx) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "ctnetlink receive failed");
                    break;
                }
            };
            n += 1;
            if r.sender.port_id == 0 || self.pending.contains_key(&r.sender.port_id) {
                // Not a request, or a sender still reading its dump (whose requests the
                // kernel would not have read either): dropped.
                continue;
            }
            let data = self.rx[..r.len].to_vec();
            self.datagram(sw, &data, r.sender);
        }
        n
    }

    fn datagram<D: Dataplane>(&mut self, sw: &mut Switch<D>, data: &[u8], sender: Sender) {
        let mut out = Vec::new();
        for m in nl::messages(data) {
            let Ok((hdr, payload)) = m else { break };
            let admin = sender.creds.is_some_and(|c| c.uid == 0);
            let rhdr = NlMsgHeader {
                pid: sender.port_id,
                ..hdr
            };
            let (name, r) = handle(sw.plane.conntrack(), &rhdr, payload, admin);
            let errno = r.as_ref().map_or_else(Error::errno, |_| 0);
            self.view
                .requests
                .with_label_values(&["ctnetlink", name, odp::errno::name(errno)])
                .inc();
            match r {
                Ok(Answer::Dump(d)) => {
                    super::send_each(&self.sock, sender.port_id, &out);
                    self.pending.insert(sender.port_id, d);
                    self.pump(&sw.model, sender.port_id);
                    return;
                }
                Ok(Answer::Msgs(m)) => {
                    out.extend_from_slice(&m);
                    if hdr.flags & flags::ACK != 0 {
                        push_error(&mut out, sender.port_id, &hdr, &[], 0);
                    }
                }
                Ok(Answer::None) => {
                    if hdr.flags & flags::ACK != 0 {
                        push_error(&mut out, sender.port_id, &hdr, &[], 0);
                    }
                }
                Err(e) => {
                    tracing::debug!(request = name, error = %e, "ctnetlink request refused");
                    push_error(&mut out, sender.port_id, &hdr, payload, errno);
                }
            }
        }
        super::send_each(&self.sock, sender.port_id, &out);
    }

    fn pump(&mut self, model: &Model, port: u32) {
        loop {
            let Some(d) = self.pending.get_mut(&port) else {
                return;
            };
            let Some(dgram) = d.next(model) else {
                self.pending.remove(&port);
                return;
            };
            match self.sock.send_to(port, dgram) {
                Ok(()) => d.sent(),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    return;
                }
                Err(_) => {
                    self.pending.remove(&port);
                    return;
                }
            }
        }
    }
}

/// Answers one ctnetlink message (`hdr` already carries the sender's port id).
pub(super) fn handle(
    table: &Table,
    hdr: &NlMsgHeader,
    payload: &[u8],
    admin: bool,
) -> (&'static str, Result<Answer>) {
    if hdr.ty >> 8 != ctnl::SUBSYS {
        return ("subsystem", Err(Error::Unsupported("netfilter subsystem")));
    }
    let req = match ctnl::parse_request(hdr, payload) {
        Ok(r) => r,
        Err(e) => return ("parse", Err(e.into())),
    };
    if req.other_filter && matches!(req.msg, msg::GET | msg::DELETE) {
        // The kernel would select by mark, labels or status: acting on every connection
        // instead would flush or list more than asked.
        return (
            "filter",
            Err(Error::Unsupported("ctnetlink mark, label or status filter")),
        );
    }
    match req.msg {
        msg::GET if is_dump(hdr.flags) => ("dump", Ok(Answer::Dump(dump(table, hdr, &req)))),
        msg::GET => ("get", get(table, hdr, &req)),
        msg::DELETE if !admin => ("delete", Err(Error::NotPermitted)),
        msg::DELETE => ("delete", delete(table, &req).map(|()| Answer::None)),
        msg::GET_STATS => {
            let mut b = Vec::new();
            let r = ctnl::emit_stats(&mut b, hdr.seq, hdr.pid, table.count(), table.max_conns());
            ("stats", r.map(|()| Answer::Msgs(b)).map_err(Error::from))
        }
        _ => ("unknown", Err(Error::Unsupported("ctnetlink message"))),
    }
}

/// Whether `c` is a connection `req` selects (by zone and family).
fn selects(req: &ctnl::Request, c: &Conn) -> bool {
    let v6 = c.tuples[0].family == Family::V6;
    req.zone.is_none_or(|z| z == c.zone())
        && (req.family == AF_UNSPEC || (req.family == ctnl::AF_INET6) == v6)
}

fn dump(table: &Table, hdr: &NlMsgHeader, req: &ctnl::Request) -> Dump {
    let mut d = Dump::new(*hdr);
    let now = table.now_ms();
    let mut b = Vec::new();
    table.for_each(|id, c, expires| {
        if !selects(req, c) {
            return;
        }
        b.clear();
        let e = entry(id, c, expires, now);
        if ctnl::emit_entry(&mut b, flags::MULTI, hdr.seq, hdr.pid, &e).is_ok() {
            d.push(&b);
        }
    });
    d.finish(0);
    d
}

fn get(table: &Table, hdr: &NlMsgHeader, req: &ctnl::Request) -> Result<Answer> {
    let t = req
        .orig
        .as_ref()
        .ok_or(Error::Invalid("ctnetlink get without a tuple"))?;
    let t = from_netlink(t, req.zone.unwrap_or(0));
    let now = table.now_ms();
    match table.find(&t, |r, _, c, e| entry(r.id(), c, e.expires_ms(), now)) {
        Found::Yes(e) => {
            let mut b = Vec::new();
            // A single answer, not part of a dump.
            ctnl::emit_entry(&mut b, 0, hdr.seq, hdr.pid, &e)?;
            Ok(Answer::Msgs(b))
        }
        Found::No | Found::Busy => Err(Error::NoConnection),
    }
}

fn delete(table: &Table, req: &ctnl::Request) -> Result<()> {
    let Some(t) = &req.orig else {
        table.flush(|_, c| selects(req, c));
        return Ok(());
    };
    let t = from_netlink(t, req.zone.unwrap_or(0));
    let found = table.find(&t, |r, _, _, _| r);
    match found {
        Found::Yes(r) if req.id.is_none_or(|id| id == r.id()) => {
            table.remove(r);
            Ok(())
        }
        _ => Err(Error::NoConnection),
    }
}

#[cfg(test)]
mod tests {
    use fastpath::conntrack::table::{Conn, ProtoState};
    use fastpath::conntrack::tuple::{proto, Family, Tuple};
    use odp::errno::{EINVAL, ENOENT, EOPNOTSUPP, EPERM};

    use super::*;

    fn udp(zone: u16, sport: u16) -> Tuple {
        Tuple {
            zone,
            family: Family::V4,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            proto: proto::UDP,
            src_port: sport,
            dst_port: 53,
        }
    }

    fn table() -> Table {
        let t = Table::default();
        for (zone, sport) in [(1, 10), (1, 11), (2, 10)] {
            let a = udp(zone, sport);
            let c = Conn::new(a, a.invert().unwrap(), ProtoState::Udp, 0);
            t.commit(c, 30, |_, _, _| ()).unwrap();
        }
        t
    }

    fn ask(t: &Table, r: &ctnl::Request, f: u16, admin: bool) -> Result<Answer> {
        let mut b = Vec::new();
        ctnl::emit_request(&mut b, flags::REQUEST | f, 1, 7, r).unwrap();
        let (hdr, payload) = nl::messages(&b).next().unwrap().unwrap();
        handle(t, &hdr, payload, admin).1
    }

    fn req(m: u8, zone: Option<u16>, orig: Option<Tuple>) -> ctnl::Request {
        ctnl::Request {
            msg: m,
            family: if orig.is_some() {
                ctnl::AF_INET
            } else {
                AF_UNSPEC
            },
            zone,
            orig: orig.map(|t| fastpath::conntrack::netlink::to_netlink(&t)),
            id: None,
            other_filter: false,
        }
    }

    fn errno(r: Result<Answer>) -> i32 {
        r.map_or_else(|e| e.errno(), |_| 0)
    }

    #[test]
    fn dump_get_delete_and_stats_answer_as_the_kernel_does() {
        let t = table();
        let Ok(Answer::Dump(mut d)) = ask(&t, &req(msg::GET, Some(1), None), flags::DUMP, false)
        else {
            panic!("a dump");
        };
        let h = crate::control::testing::Harness::new();
        let mut entries = Vec::new();
        while let Some(dgram) = d.next(&h.sw.model) {
            for m in nl::messages(dgram) {
                let (h, p) = m.unwrap();
                if h.ty == ctnl::msg_type(msg::NEW) {
                    entries.push(ctnl::parse_entry(p).unwrap());
                }
            }
            d.sent();
        }
        assert_eq!(entries.len(), 2, "zone 1 only");
        assert!(entries.iter().all(|e| e.zone == 1 && e.timeout == 30));

        assert!(matches!(
            ask(&t, &req(msg::GET, Some(2), Some(udp(2, 10))), 0, false),
            Ok(Answer::Msgs(_))
        ));
        assert_eq!(
            errno(ask(&t, &req(msg::GET, Some(2), Some(udp(2, 11))), 0, false)),
            ENOENT
        );
        assert_eq!(errno(ask(&t, &req(msg::GET, None, None), 0, false)), EINVAL);

        let del = req(msg::DELETE, Some(1), Some(udp(1, 10)));
        assert_eq!(errno(ask(&t, &del, 0, false)), EPERM);
        assert_eq!(errno(ask(&t, &del, 0, true)), 0);
        assert_eq!(errno(ask(&t, &del, 0, true)), ENOENT);
        let mut wrong_id = req(msg::DELETE, Some(1), Some(udp(1, 11)));
        wrong_id.id = Some(999_999);
        assert_eq!(errno(ask(&t, &wrong_id, 0, true)), ENOENT);
        assert_eq!(t.count(), 2);
        assert_eq!(errno(ask(&t, &req(msg::DELETE, Some(2), None), 0, true)), 0);
        assert_eq!((t.count(), t.zone_count(1)), (1, 1));

        let Ok(Answer::Msgs(m)) = ask(&t, &req(msg::GET_STATS, None, None), 0, false) else {
            panic!("stats");
        };
        let (_, p) = nl::messages(&m).next().unwrap().unwrap();
        assert_eq!(ctnl::parse_stats(p).unwrap(), (1, 4096));
        assert_eq!(errno(ask(&t, &req(msg::DELETE, None, None), 0, true)), 0);
        assert_eq!(t.count(), 0);
        assert_eq!(errno(ask(&t, &req(9, None, None), 0, true)), EOPNOTSUPP);
        // A flush by mark is refused rather than taken for a flush of everything.
        t.commit(
            Conn::new(udp(1, 20), udp(1, 20).invert().unwrap(), ProtoState::Udp, 0),
            30,
            |_, _, _| (),
        )
        .unwrap();
        let mut by_mark = Vec::new();
        let start = ctnl::begin(&mut by_mark, msg::DELETE, flags::REQUEST, 1, 7, AF_UNSPEC);
        let mut w = nl::AttrWriter::new(&mut by_mark);
        w.be32(ctnl::cta::MARK, 5);
        w.finish().unwrap();
        nl::finish_msg(&mut by_mark, start).unwrap();
        let (hdr, payload) = nl::messages(&by_mark).next().unwrap().unwrap();
        assert_eq!(
            handle(&t, &hdr, payload, true)
                .1
                .map_or_else(|e| e.errno(), |_| 0),
            EOPNOTSUPP
        );
        assert_eq!(t.count(), 1);
    }
}

#[cfg(test)]
mod hostile {
    use fastpath::actions::xorshift32;

    use super::*;

    /// Arbitrary payloads under every message type (and attribute soups that look like
    /// tuples) get an errno or an answer, never a panic, from both conntrack families.
    #[test]
    fn arbitrary_payloads_never_panic() {
        let t = Table::default();
        let mut s = 0x1234_5678_9abc_def1u64;
        for n in 0..5000u32 {
            let len = (xorshift32(&mut s) % 96) as usize;
            let mut payload: Vec<u8> = (0..len)
                .map(|_| xorshift32(&mut s).to_le_bytes()[0])
                .collect();
            // Half the time, something shaped like attributes after the 4-byte header.
            if n % 2 == 0 && payload.len() > 8 {
                let l = u16::try_from(payload.len() - 4).unwrap_or(0);
                payload[4..6].copy_from_slice(&l.to_ne_bytes());
                payload[6] = (n % 24) as u8;
                payload[7] = if n % 4 == 0 { 0x80 } else { 0 };
            }
            let msg = u16::try_from(n % 8).unwrap_or(0);
            for ty in [ctnl::SUBSYS << 8 | msg, 8 << 8 | msg] {
                let hdr = NlMsgHeader {
                    len: u32::try_from(payload.len() + 16).unwrap_or(0),
                    ty,
                    flags: if n % 3 == 0 { flags::DUMP } else { 0 },
                    seq: n,
                    pid: 9,
                };
                let _ = handle(&t, &hdr, &payload, n % 5 != 0);
            }
            let hdr = NlMsgHeader {
                len: u32::try_from(payload.len() + 16).unwrap_or(0),
                ty: odp::ct_limit::FAMILY_ID,
                flags: 0,
                seq: n,
                pid: 9,
            };
            let _ = super::super::ct_limit::handle(&t, &hdr, &payload, true);
        }
    }
}
