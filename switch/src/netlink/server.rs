//! The generic-netlink control server: nlctrl GETFAMILY and the `ovs_datapath`, `ovs_vport`,
//! `ovs_flow` and `ovs_packet` families with the kernel's semantics (reference §1.4, §3–§5,
//! §8), answered on the control thread in arrival order.
//!
//! Replies go back to the sender's port id with its `seq` and `pid`; NEW/DEL/SET are answered
//! only with `NLM_F_ECHO`, GET always, ACKs only with `NLM_F_ACK`, errors always. Dumps are
//! `NLM_F_MULTI` messages packed into datagrams of up to [`DUMP_DATAGRAM`] bytes and ended by
//! `NLMSG_DONE`; when the requester's socket is full the dump is parked and resumed (and
//! later requests from that sender wait behind it, so order holds per sender), and a
//! requester that stops reading for [`DUMP_STALL`] loses the rest of its dump.
//!
//! Flows keep a side table per datapath: the identity the client used (UFID bytes or the
//! unmasked key), the kernel-form masked key and mask, and the actions as sent, so replies
//! carry what the kernel would return (§5.5). Flows the standalone bridge installed appear
//! in dumps (after the netlink ones) with a 16-byte UFID (their internal id, big-endian), a
//! kernel-form key and mask rebuilt from the fast path's, and their actions; GET and DEL
//! accept that UFID.
//!
//! # Wire conventions for clients (dpctl)
//!
//! - Send every request to the daemon's port id (`--netlink-pid`, default
//!   [`odp::dpswitch::DEFAULT_NETLINK_PID`]) instead of 0, from a `NETLINK_GENERIC` socket.
//!   Resolve the family ids with nlctrl `CTRL_CMD_GETFAMILY` sent to that same port id (the
//!   answers are [`FAMILY_IDS`], but do not hard-code them). `ovs_meter` and
//!   `ovs_ct_limit` answer ENOENT, like a kernel without them.
//! - `dp_ifindex` is the kernel ifindex of the datapath's local TAP (named like the
//!   datapath): take it from the `ovs_header` of a DP GET by name.
//! - DPDK devices and other settings travel inside `OVS_VPORT_ATTR_OPTIONS` as
//!   `odp::dpswitch` `key=value` attributes (type `VPORT_OPT_KV`); `devargs=…` names the
//!   device. Without devargs a NETDEV vport attaches the kernel interface of that name
//!   (`net_af_packet`), an INTERNAL vport is a TAP of that name. Replies always carry the
//!   vport's devargs and settings back the same way. Vport SET may change settings but not
//!   the devargs (EOPNOTSUPP). Tunnel vport types are EAFNOSUPPORT.
//! - Mutating commands need uid 0 in the sender's `SCM_CREDENTIALS` (EPERM otherwise).
//! - NEW/DEL/SET of datapaths, vports and flows are multicast to the family's group, as the
//!   kernel's `genl_notify` does: the message a `NLM_F_ECHO` requester gets (its `pid` and
//!   `seq`, the request's command), to every listener but an echo requester, which gets it
//!   unicast instead. The group ids are ones no kernel family holds ([`super::mcast`]);
//!   flow notifications go out even with no listener (the kernel's multicast of a message
//!   nobody joined costs little). A flush (flow DEL without key) announces nothing.
//!   Without CAP_NET_ADMIN (or free group ids) nothing is multicast.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use odp::action::{actions_to_bytes, validate_actions};
use odp::ctrl::{self, CtrlMessage};
use odp::family::datapath::{self as odp_dp, DatapathAttrs, DpCmd, DpMegaflowStats};
use odp::family::flow::{self as odp_flow, FlowAttrs, FlowCmd};
use odp::family::packet::{self as odp_packet, PacketAttrs, PacketCmd};
use odp::family::vport::{self as odp_vport, VportAttrs, VportCmd, VportLookup, VportType};
use odp::family::{self, Body, FlowStats, OvsMessage, Request};
use odp::nl::{self, flags, AttrWriter, ErrorMsg, GenlHeader, NlMsgHeader};
use odp::pmd_stats;
use odp::validate::{unmasked_key_form, FlatKey, FlowMatch};

use super::mcast::{self, Groups};
use super::pmd_family::PmdFamily;
use super::socket::{NetlinkSocket, Sender};
use crate::runtime::shared::SwitchView;
use crate::runtime::vport::VportKind;
use crate::runtime::{ControlError, PutMode, Switch, UpcallMsg, UpcallSink, VportSpec};
use fastpath::flow::FlowKey;
use fastpath::wire as odpconv;

pub use odp::dpswitch::FAMILY_IDS;

/// Multicast group ids reported by GETFAMILY when no free kernel group id could be found
/// (nothing is multicast then, and nobody can join these).
pub const MCAST_BASE: u32 = 0x4450_0000;

/// Types below this are netlink control messages (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// Largest dump datagram.
pub const DUMP_DATAGRAM: usize = 32 * 1024;
/// A dump whose requester has not read anything for this long is abandoned.
pub const DUMP_STALL: Duration = Duration::from_secs(10);
/// Requests a sender may queue behind its own unfinished dump.
const MAX_QUEUED: usize = 4096;
/// Receive buffer: large enough for EXECUTE of a 64 KiB packet plus key and actions.
const RX_BUF: usize = 128 * 1024;
/// Datagrams handled per [`Server::poll`] before upcalls get their turn.
const RX_BUDGET: usize = 256;

/// Internal flow ids of flows installed through netlink (distinct from the slow path's).
const ID_BASE: u128 = 0xC0DE << 112;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Ident {
    Ufid(Vec<u8>),
    Key(Vec<u8>),
}

#[derive(Debug, Clone, Copy, Default)]
struct Baseline {
    packets: u64,
    bytes: u64,
    used_ms: u64,
}

#[derive(Debug)]
struct FlowRec {
    ident: Ident,
    key: Vec<u8>,
    mask: Vec<u8>,
    actions: Vec<u8>,
    /// Stats at the last CLEAR (the fast path has no reset: replies subtract this).
    base: Baseline,
}

#[derive(Debug, Default)]
struct DpSide {
    flows: BTreeMap<u128, FlowRec>,
    ids: HashMap<Ident, u128>,
}

/// How a flow reply is framed.
#[derive(Debug, Clone, Copy)]
struct FlowReply {
    cmd: FlowCmd,
    hdr: NlMsgHeader,
    multi: bool,
    ufid_flags: u32,
}

/// A request's answer.
enum Answer {
    /// Nothing besides the ACK.
    None,
    /// Framed messages to send before the ACK.
    Msgs(Vec<u8>),
    /// A dump: the datagrams so far and, for flows, where to continue.
    Dump(Dump),
}

#[derive(Debug)]
struct FlowCursor {
    dp: usize,
    after: Option<u128>,
    ufid_flags: u32,
    /// Bridge-installed flows still to send (snapshot taken after the netlink flows).
    bridge: Option<VecDeque<u128>>,
}

#[derive(Debug)]
struct Dump {
    hdr: NlMsgHeader,
    ready: VecDeque<Vec<u8>>,
    flows: Option<FlowCursor>,
    done: bool,
}

#[derive(Debug)]
struct Pending {
    dump: Dump,
    queued: VecDeque<(Vec<u8>, Sender)>,
    progress: Instant,
}

type Res<T> = Result<T, i32>;

fn ctl(e: ControlError) -> i32 {
    e.errno
}

fn odp_err(e: odp::Error) -> i32 {
    e.errno()
}

/// The control server.
pub struct Server {
    sock: NetlinkSocket,
    rx: Vec<u8>,
    side: HashMap<usize, DpSide>,
    next_id: u128,
    pending: HashMap<u32, Pending>,
    view: Arc<SwitchView>,
    upbuf: Vec<u8>,
    pmd_family: PmdFamily,
    /// The multicast groups notifications go to (None: not multicasting).
    groups: Option<Groups>,
    /// The notification the last [`Server::handle_message`] produced.
    note: Option<Note>,
}

/// A notification to multicast.
#[derive(Debug)]
struct Note {
    group: u32,
    msg: Vec<u8>,
    /// The requester asked for an echo: it gets the message unicast, not multicast.
    echo: bool,
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
    /// Serves on `sock` (made non-blocking here), counting requests in `view`.
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
            side: HashMap::new(),
            next_id: ID_BASE,
            pending: HashMap::new(),
            view,
            upbuf: Vec::with_capacity(4096),
            pmd_family: PmdFamily::default(),
            groups,
            note: None,
        })
    }

    /// The multicast groups advertised for the datapath, vport and flow families.
    pub fn groups(&self) -> Option<Groups> {
        self.groups
    }

    /// The group id GETFAMILY reports for family `id`.
    fn group_of(&self, id: u16) -> u32 {
        match self.groups {
            Some(g) if id == FAMILY_IDS.datapath => g.datapath,
            Some(g) if id == FAMILY_IDS.vport => g.vport,
            Some(g) if id == FAMILY_IDS.flow => g.flow,
            _ => MCAST_BASE + u32::from(id),
        }
    }

    /// Sends the last message's notification, if any: first what is queued for the
    /// requester (`out`), so that an echo keeps its place among the replies.
    fn send_note(&mut self, to: u32, out: &mut Vec<u8>) {
        let Some(n) = self.note.take() else {
            return;
        };
        let dst = if n.echo {
            self.send(to, out);
            out.clear();
            to
        } else {
            0
        };
        if let Err(e) = self.sock.send_group(dst, n.group, &n.msg) {
            if e.raw_os_error() == Some(libc::EPERM) {
                tracing::warn!("no CAP_NET_ADMIN: netlink notifications are not sent");
                self.groups = None;
            } else {
                tracing::debug!(group = n.group, error = %e, "notification not delivered");
            }
        }
    }

    /// The socket (for poll(2)).
    pub fn socket(&self) -> &NetlinkSocket {
        &self.sock
    }

    /// Receives and answers what is waiting, and pushes parked dumps on; returns how many
    /// datagrams were handled (0 = idle).
    pub fn poll(&mut self, sw: &mut Switch) -> usize {
        self.pump_pending(sw);
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
            let data = self.rx[..r.len].to_vec();
            if r.sender.port_id == 0 {
                // From the kernel (e.g. a broadcast): not a request.
                continue;
            }
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
            self.handle_datagram(sw, &data, r.sender);
        }
        n
    }

    fn send(&self, to: u32, dgram: &[u8]) {
        if dgram.is_empty() {
            return;
        }
        if let Err(e) = self.sock.send_to(to, dgram) {
            // The kernel drops unicast replies to a full or closed socket too.
            tracing::debug!(port_id = to, error = %e, "reply not delivered");
        }
    }

    fn handle_datagram(&mut self, sw: &mut Switch, data: &[u8], sender: Sender) {
        let mut out = Vec::new();
        let mut off = 0;
        while off < data.len() {
            let rest = &data[off..];
            let hdr = match NlMsgHeader::parse(rest) {
                Ok(h) => h,
                Err(_) => {
                    // Fewer than 16 bytes: nothing to echo, the kernel drops it silently.
                    tracing::debug!(len = rest.len(), "runt netlink datagram dropped");
                    break;
                }
            };
            let len = hdr.len as usize;
            if len < nl::NLMSG_HDRLEN || len > rest.len() {
                push_error(&mut out, sender.port_id, &hdr, &[], libc::EINVAL);
                self.count("netlink", "frame", libc::EINVAL);
                break;
            }
            let payload = &rest[nl::NLMSG_HDRLEN..len];
            off += nl::align(len).min(rest.len());
            match self.handle_message(sw, &hdr, payload, sender) {
                Some(dump) => {
                    // Send what precedes the dump, then the dump; the rest of the datagram
                    // waits behind it.
                    self.send(sender.port_id, &out);
                    out.clear();
                    let queued: VecDeque<(Vec<u8>, Sender)> = if off < data.len() {
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
                    self.pump_one(sw, sender.port_id);
                    return;
                }
                None => {
                    self.send_note(sender.port_id, &mut out);
                    if let Some(o) = self.take_out() {
                        out.extend_from_slice(&o);
                    }
                }
            }
            // Keep datagrams below a size any receiver can take.
            if out.len() > DUMP_DATAGRAM {
                self.send(sender.port_id, &out);
                out.clear();
            }
        }
        self.send(sender.port_id, &out);
    }

    /// Messages produced by the last [`Server::handle_message`] (a scratch buffer so the
    /// common path does not allocate per request).
    fn take_out(&mut self) -> Option<Vec<u8>> {
        if self.upbuf.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.upbuf))
        }
    }

    fn count(&self, family: &str, command: &str, errno: i32) {
        self.view
            .requests
            .with_label_values(&[family, command, odp::errno::name(errno)])
            .inc();
    }

    /// Handles one message; its output lands in `self.upbuf`, or a dump is returned.
    fn handle_message(
        &mut self,
        sw: &mut Switch,
        hdr: &NlMsgHeader,
        payload: &[u8],
        sender: Sender,
    ) -> Option<Dump> {
        let mut out = Vec::new();
        if hdr.flags & flags::REQUEST == 0 || hdr.ty < NLMSG_MIN_TYPE {
            // Control messages (NOOP ...) and non-requests: acked if asked, in order.
            if hdr.flags & flags::ACK != 0 {
                push_error(&mut out, sender.port_id, hdr, &[], 0);
            }
            self.upbuf = out;
            return None;
        }
        let admin = sender.creds.is_some_and(|c| c.uid == 0);
        let mut probe = false;
        let mut notify = None;
        let (fam, cmd, result) = if hdr.ty == pmd_stats::FAMILY_ID {
            let rhdr = NlMsgHeader {
                pid: sender.port_id,
                ..*hdr
            };
            let (cmd, r) = self.pmd_family.handle(&self.view, &rhdr, payload, admin);
            (pmd_stats::FAMILY_NAME, cmd, r.map(Answer::Msgs))
        } else {
            match family::parse_request(&FAMILY_IDS, *hdr, payload) {
                Ok(mut req) => {
                    // PROBE (feature probing by OVS): failures are expected, keep them quiet.
                    probe = match &req {
                        Request::Flow(m) => m.body.probe,
                        Request::Packet(m) => m.body.probe,
                        _ => false,
                    };
                    // Replies go out with the sender's real port id, as the kernel's do.
                    let pid = sender.port_id;
                    match &mut req {
                        Request::Ctrl(m) => m.pid = pid,
                        Request::Datapath(m) => m.pid = pid,
                        Request::Vport(m) => m.pid = pid,
                        Request::Flow(m) => m.pid = pid,
                        Request::Packet(m) => m.pid = pid,
                        _ => {}
                    }
                    let rhdr = NlMsgHeader { pid, ..*hdr };
                    // A change to announce is answered as if echo was asked; the answer
                    // becomes the notification.
                    notify = self.groups.and_then(|g| notify_group(&mut req, g));
                    self.dispatch(sw, &rhdr, req, admin)
                }
                Err(e) => {
                    let known = [
                        nl::GENL_ID_CTRL,
                        FAMILY_IDS.datapath,
                        FAMILY_IDS.vport,
                        FAMILY_IDS.flow,
                        FAMILY_IDS.packet,
                    ]
                    .contains(&hdr.ty);
                    // An unknown family id is ENOENT (genetlink's answer).
                    let errno = if known { odp_err(e) } else { libc::ENOENT };
                    ("unknown", "parse", Err(errno))
                }
            }
        };
        let errno = match &result {
            Ok(_) => 0,
            Err(e) => *e,
        };
        self.count(fam, cmd, errno);
        if errno != 0 && !probe {
            tracing::debug!(
                family = fam,
                command = cmd,
                errno,
                seq = hdr.seq,
                port_id = sender.port_id,
                "request refused"
            );
        }
        match result {
            Ok(Answer::Dump(mut d)) => {
                d.hdr = NlMsgHeader {
                    pid: sender.port_id,
                    ..*hdr
                };
                return Some(d);
            }
            Ok(Answer::Msgs(m)) => {
                if let Some(group) = notify {
                    self.note = Some(Note {
                        group,
                        msg: m,
                        echo: hdr.flags & flags::ECHO != 0,
                    });
                } else {
                    out.extend_from_slice(&m);
                }
                if hdr.flags & flags::ACK != 0 {
                    push_error(&mut out, sender.port_id, hdr, &[], 0);
                }
            }
            Ok(Answer::None) => {
                if hdr.flags & flags::ACK != 0 {
                    push_error(&mut out, sender.port_id, hdr, &[], 0);
                }
            }
            Err(e) => push_error(&mut out, sender.port_id, hdr, payload, e),
        }
        self.upbuf = out;
        None
    }

    fn dispatch(
        &mut self,
        sw: &mut Switch,
        hdr: &NlMsgHeader,
        req: Request,
        admin: bool,
    ) -> (&'static str, &'static str, Res<Answer>) {
        let needs_admin = |ok: bool| {
            if ok || admin {
                Ok(())
            } else {
                Err(libc::EPERM)
            }
        };
        match req {
            Request::Ctrl(m) => ("nlctrl", "getfamily", self.getfamily(hdr, &m)),
            Request::Datapath(m) => {
                let name = object_cmd_name(m.cmd);
                let r = needs_admin(m.cmd == DpCmd::Get).and_then(|()| self.datapath(sw, &m));
                ("ovs_datapath", name, r)
            }
            Request::Vport(m) => {
                let name = object_cmd_name(m.cmd);
                let r = needs_admin(m.cmd == VportCmd::Get).and_then(|()| self.vport(sw, &m));
                ("ovs_vport", name, r)
            }
            Request::Flow(m) => {
                let name = object_cmd_name(m.cmd);
                let r = needs_admin(m.cmd == FlowCmd::Get).and_then(|()| self.flow(sw, &m));
                ("ovs_flow", name, r)
            }
            Request::Packet(m) => {
                let r = match m.cmd {
                    PacketCmd::Execute => needs_admin(false).and_then(|()| self.execute(sw, &m)),
                    // MISS / ACTION go from the datapath to userspace only.
                    _ => Err(libc::EOPNOTSUPP),
                };
                ("ovs_packet", "execute", r)
            }
            _ => ("unknown", "unknown", Err(libc::ENOENT)),
        }
    }

    // ---------------------------------------------------------------- nlctrl

    fn getfamily(&self, hdr: &NlMsgHeader, m: &CtrlMessage) -> Res<Answer> {
        if m.cmd != ctrl::cmd::GETFAMILY {
            return Err(libc::EOPNOTSUPP);
        }
        if hdr.flags & flags::DUMP == flags::DUMP {
            // A family dump lists the four families.
            let mut d = Dump::new(*hdr);
            for (i, name) in ["ovs_datapath", "ovs_vport", "ovs_flow", "ovs_packet"]
                .iter()
                .enumerate()
            {
                let id = FAMILY_IDS.datapath + i as u16;
                let info = ctrl::family_info(name, id, self.group_of(id)).map_err(odp_err)?;
                let msg = CtrlMessage {
                    flags: flags::MULTI,
                    seq: hdr.seq,
                    pid: hdr.pid,
                    cmd: ctrl::cmd::NEWFAMILY,
                    version: ctrl::CTRL_VERSION,
                    info,
                };
                let mut b = Vec::new();
                msg.emit(&mut b).map_err(odp_err)?;
                d.push(&b);
            }
            let info = pmd_stats::family_info(pmd_stats::FAMILY_ID);
            let msg = CtrlMessage {
                flags: flags::MULTI,
                seq: hdr.seq,
                pid: hdr.pid,
                cmd: ctrl::cmd::NEWFAMILY,
                version: ctrl::CTRL_VERSION,
                info,
            };
            let mut b = Vec::new();
            msg.emit(&mut b).map_err(odp_err)?;
            d.push(&b);
            d.finish(0);
            return Ok(Answer::Dump(d));
        }
        let name = m.info.name.as_deref();
        if name == Some(pmd_stats::FAMILY_NAME)
            || (name.is_none() && m.info.id == Some(pmd_stats::FAMILY_ID))
        {
            let msg = CtrlMessage {
                flags: 0,
                seq: hdr.seq,
                pid: hdr.pid,
                cmd: ctrl::cmd::NEWFAMILY,
                version: ctrl::CTRL_VERSION,
                info: pmd_stats::family_info(pmd_stats::FAMILY_ID),
            };
            let mut b = Vec::new();
            msg.emit(&mut b).map_err(odp_err)?;
            return Ok(Answer::Msgs(b));
        }
        let id = match name {
            Some("ovs_datapath") => FAMILY_IDS.datapath,
            Some("ovs_vport") => FAMILY_IDS.vport,
            Some("ovs_flow") => FAMILY_IDS.flow,
            Some("ovs_packet") => FAMILY_IDS.packet,
            Some(_) => return Err(libc::ENOENT),
            None => match m.info.id {
                Some(i) if (FAMILY_IDS.datapath..=FAMILY_IDS.packet).contains(&i) => i,
                _ => return Err(libc::ENOENT),
            },
        };
        let fname = ["ovs_datapath", "ovs_vport", "ovs_flow", "ovs_packet"]
            [usize::from(id - FAMILY_IDS.datapath)];
        let info = ctrl::family_info(fname, id, self.group_of(id)).map_err(odp_err)?;
        let msg = CtrlMessage {
            flags: 0,
            seq: hdr.seq,
            pid: hdr.pid,
            cmd: ctrl::cmd::NEWFAMILY,
            version: ctrl::CTRL_VERSION,
            info,
        };
        let mut b = Vec::new();
        msg.emit(&mut b).map_err(odp_err)?;
        Ok(Answer::Msgs(b))
    }

    // ---------------------------------------------------------------- datapath

    fn find_dp(sw: &Switch, name: Option<&str>, ifindex: i32) -> Res<usize> {
        match name {
            Some(n) => sw.find_datapath(n).ok_or(libc::ENODEV),
            None => u32::try_from(ifindex)
                .ok()
                .filter(|&i| i != 0)
                .and_then(|i| sw.find_datapath_by_ifindex(i))
                .ok_or(libc::ENODEV),
        }
    }

    fn dp_msg(
        sw: &Switch,
        dp: usize,
        cmd: DpCmd,
        hdr: &NlMsgHeader,
        multi: bool,
        out: &mut Vec<u8>,
    ) -> Res<()> {
        let d = sw.datapath(dp).ok_or(libc::ENODEV)?;
        let s = sw.dp_stats(dp).unwrap_or_default();
        let per_cpu = d.user_features & odp_dp::features::DISPATCH_UPCALL_PER_CPU != 0;
        let body = DatapathAttrs {
            name: Some(d.name.clone()),
            stats: Some(odp_dp::DpStats {
                n_hit: s.n_hit,
                n_missed: s.n_missed,
                n_lost: s.n_lost,
                n_flows: s.n_flows,
            }),
            megaflow_stats: Some(DpMegaflowStats {
                n_mask_hit: s.n_mask_hit,
                n_masks: s.n_masks,
                n_cache_hit: s.n_cache_hit,
            }),
            user_features: Some(d.user_features),
            masks_cache_size: Some(d.masks_cache_size),
            per_cpu_pids: (per_cpu && !d.per_cpu_pids.is_empty()).then(|| d.per_cpu_pids.clone()),
            ..DatapathAttrs::default()
        };
        reply(FAMILY_IDS.datapath, cmd, d.ifindex as i32, hdr, multi, body)
            .emit(out)
            .map_err(odp_err)
    }

    fn datapath(&mut self, sw: &mut Switch, m: &OvsMessage<DatapathAttrs>) -> Res<Answer> {
        let hdr = header_of(m);
        let echo = m.flags & flags::ECHO != 0;
        let a = &m.body;
        match m.cmd {
            DpCmd::New => {
                odp_dp::check_new(a).map_err(odp_err)?;
                let name = a.name.as_deref().unwrap_or_default();
                if let Some(existing) = sw.find_datapath(name) {
                    if m.version < odp_dp::VERSION {
                        // Legacy userspace: the kernel resets the features of the existing
                        // datapath before failing.
                        if let Some(d) = sw.datapath_mut(existing) {
                            d.user_features = 0;
                        }
                    }
                    return Err(libc::EEXIST);
                }
                let features = a.user_features.unwrap_or(0);
                let dp = sw
                    .add_datapath(name, a.upcall_pid.unwrap_or(0), features)
                    .map_err(ctl)?;
                if let Some(d) = sw.datapath_mut(dp) {
                    if let Some(n) = a.masks_cache_size {
                        d.masks_cache_size = n;
                    }
                    if features & odp_dp::features::DISPATCH_UPCALL_PER_CPU != 0 {
                        d.per_cpu_pids = a.per_cpu_pids.clone().unwrap_or_default();
                    }
                }
                self.side.insert(dp, DpSide::default());
                tracing::info!(dp = name, features, "datapath created over netlink");
                if echo {
                    let mut out = Vec::new();
                    Self::dp_msg(sw, dp, DpCmd::New, &hdr, false, &mut out)?;
                    return Ok(Answer::Msgs(out));
                }
                Ok(Answer::None)
            }
            DpCmd::Del => {
                let dp = Self::find_dp(sw, a.name.as_deref(), m.dp_ifindex)?;
                let mut out = Vec::new();
                if echo {
                    Self::dp_msg(sw, dp, DpCmd::Del, &hdr, false, &mut out)?;
                }
                sw.del_datapath(dp).map_err(ctl)?;
                self.side.remove(&dp);
                Ok(if echo {
                    Answer::Msgs(out)
                } else {
                    Answer::None
                })
            }
            DpCmd::Get if m.flags & flags::DUMP == flags::DUMP => {
                let mut d = Dump::new(hdr);
                let dps: Vec<usize> = sw.datapaths().map(|(i, _)| i).collect();
                for dp in dps {
                    let mut b = Vec::new();
                    Self::dp_msg(sw, dp, DpCmd::Get, &hdr, true, &mut b)?;
                    d.push(&b);
                }
                d.finish(0);
                Ok(Answer::Dump(d))
            }
            DpCmd::Get => {
                let dp = Self::find_dp(sw, a.name.as_deref(), m.dp_ifindex)?;
                let mut out = Vec::new();
                Self::dp_msg(sw, dp, DpCmd::Get, &hdr, false, &mut out)?;
                Ok(Answer::Msgs(out))
            }
            DpCmd::Set => {
                let dp = Self::find_dp(sw, a.name.as_deref(), m.dp_ifindex)?;
                // Validate everything before changing anything.
                let features = a.user_features.unwrap_or(0);
                odp_dp::check_user_features(features).map_err(odp_err)?;
                if let Some(n) = a.masks_cache_size {
                    odp_dp::check_masks_cache_size(n).map_err(odp_err)?;
                }
                let d = sw.datapath_mut(dp).ok_or(libc::ENODEV)?;
                d.user_features = features;
                if let Some(n) = a.masks_cache_size {
                    d.masks_cache_size = n;
                }
                if features & odp_dp::features::DISPATCH_UPCALL_PER_CPU != 0 {
                    if let Some(p) = &a.per_cpu_pids {
                        d.per_cpu_pids = p.clone();
                    }
                }
                if echo {
                    let mut out = Vec::new();
                    Self::dp_msg(sw, dp, DpCmd::Set, &hdr, false, &mut out)?;
                    return Ok(Answer::Msgs(out));
                }
                Ok(Answer::None)
            }
        }
    }

    // ---------------------------------------------------------------- vport

    fn vport_msg(
        sw: &Switch,
        dp: usize,
        port_no: u32,
        cmd: VportCmd,
        hdr: &NlMsgHeader,
        multi: bool,
        out: &mut Vec<u8>,
    ) -> Res<()> {
        let d = sw.datapath(dp).ok_or(libc::ENODEV)?;
        let v = d.vports.get(&port_no).ok_or(libc::ENODEV)?;
        let st = v.port.stats().unwrap_or_default();
        let (rx_dropped, tx_dropped) = v.counters.dropped(&st);
        let rel = std::sync::atomic::Ordering::Relaxed;
        let stats = odp_vport::VportStats {
            rx_packets: st.rx_packets,
            tx_packets: st.tx_packets,
            rx_bytes: st.rx_bytes,
            tx_bytes: st.tx_bytes,
            rx_errors: st.rx_errors,
            tx_errors: st.tx_errors,
            rx_dropped,
            tx_dropped,
        };
        let pids = if d.user_features & odp_dp::features::VPORT_PIDS != 0 {
            if v.upcall_pids.is_empty() {
                vec![0]
            } else {
                v.upcall_pids.clone()
            }
        } else {
            vec![v.upcall_pids.first().copied().unwrap_or(0)]
        };
        let mut options = odp_vport::VportOptions::default();
        odp::dpswitch::push_setting(&mut options, odp::dpswitch::DEVARGS, &v.devargs);
        for (k, val) in &v.options {
            if k != odp::dpswitch::DEVARGS {
                odp::dpswitch::push_setting(&mut options, k, val);
            }
        }
        let body = VportAttrs {
            port_no: Some(port_no),
            ty: Some(match v.kind {
                VportKind::Netdev => VportType::Netdev,
                VportKind::Internal => VportType::Internal,
            }),
            name: Some(v.name.clone()),
            ifindex: Some(v.ifindex),
            stats: Some(stats),
            upcall_stats: Some(odp_vport::UpcallStats {
                success: v.counters.upcall_success.load(rel),
                fail: v.counters.upcall_fail.load(rel),
            }),
            upcall_pids: Some(pids),
            options: Some(options),
            ..VportAttrs::default()
        };
        reply(FAMILY_IDS.vport, cmd, d.ifindex as i32, hdr, multi, body)
            .emit(out)
            .map_err(odp_err)
    }

    fn lookup_vport(sw: &Switch, m: &OvsMessage<VportAttrs>) -> Res<(usize, u32)> {
        match odp_vport::lookup(&m.body).map_err(odp_err)? {
            VportLookup::Name(n) => {
                let (dp, port) = sw.find_vport(n).ok_or(libc::ENODEV)?;
                let ifindex = sw.datapath(dp).map_or(0, |d| d.ifindex);
                if m.dp_ifindex != 0 && m.dp_ifindex as u32 != ifindex {
                    return Err(libc::ENODEV);
                }
                Ok((dp, port))
            }
            VportLookup::PortNo(p) => {
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let d = sw.datapath(dp).ok_or(libc::ENODEV)?;
                if !d.vports.contains_key(&p) {
                    return Err(libc::ENODEV);
                }
                Ok((dp, p))
            }
        }
    }

    fn vport(&mut self, sw: &mut Switch, m: &OvsMessage<VportAttrs>) -> Res<Answer> {
        let hdr = header_of(m);
        let echo = m.flags & flags::ECHO != 0;
        let a = &m.body;
        let one = |sw: &Switch, dp, port, cmd| -> Res<Answer> {
            let mut out = Vec::new();
            Self::vport_msg(sw, dp, port, cmd, &hdr, false, &mut out)?;
            Ok(Answer::Msgs(out))
        };
        match m.cmd {
            VportCmd::New => {
                odp_vport::check_new(a).map_err(odp_err)?;
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let kind = match a.ty {
                    Some(VportType::Netdev) => VportKind::Netdev,
                    Some(VportType::Internal) => VportKind::Internal,
                    // Tunnel vports need a kernel tunnel device dpswitch does not have.
                    _ => return Err(libc::EAFNOSUPPORT),
                };
                let settings = a
                    .options
                    .as_ref()
                    .map(odp::dpswitch::settings)
                    .unwrap_or_default();
                let mut options = BTreeMap::new();
                let mut devargs = None;
                for (k, v) in settings {
                    if k == odp::dpswitch::DEVARGS {
                        devargs = Some(v.clone());
                    }
                    options.insert(k, v);
                }
                let spec = VportSpec {
                    name: a.name.clone().unwrap_or_default(),
                    kind,
                    devargs,
                    port_no: a.port_no,
                    upcall_pids: a.upcall_pids.clone().unwrap_or_default(),
                    options,
                };
                let port = sw.add_vport(dp, spec).map_err(ctl)?;
                if echo {
                    return one(sw, dp, port, VportCmd::New);
                }
                Ok(Answer::None)
            }
            VportCmd::Del => {
                let (dp, port) = Self::lookup_vport(sw, m)?;
                if port == odp_vport::OVSP_LOCAL {
                    return Err(libc::EINVAL);
                }
                let ans = if echo {
                    one(sw, dp, port, VportCmd::Del)?
                } else {
                    Answer::None
                };
                sw.del_vport(dp, port).map_err(ctl)?;
                Ok(ans)
            }
            VportCmd::Get if m.flags & flags::DUMP == flags::DUMP => {
                let dp = Self::find_dp(sw, None, m.dp_ifindex);
                let mut d = Dump::new(hdr);
                match dp {
                    Ok(dp) => {
                        let ports: Vec<u32> = sw
                            .datapath(dp)
                            .map(|d| d.vports.keys().copied().collect())
                            .unwrap_or_default();
                        for p in ports {
                            let mut b = Vec::new();
                            Self::vport_msg(sw, dp, p, VportCmd::Get, &hdr, true, &mut b)?;
                            d.push(&b);
                        }
                        d.finish(0);
                    }
                    Err(e) => d.finish(-e),
                }
                Ok(Answer::Dump(d))
            }
            VportCmd::Get => {
                let (dp, port) = Self::lookup_vport(sw, m)?;
                one(sw, dp, port, VportCmd::Get)
            }
            VportCmd::Set => {
                let (dp, port) = Self::lookup_vport(sw, m)?;
                let d = sw.datapath_mut(dp).ok_or(libc::ENODEV)?;
                let v = d.vports.get_mut(&port).ok_or(libc::ENODEV)?;
                let cur = match v.kind {
                    VportKind::Netdev => VportType::Netdev,
                    VportKind::Internal => VportType::Internal,
                };
                if a.ty.is_some_and(|t| t != cur) {
                    return Err(libc::EINVAL);
                }
                if let Some(o) = &a.options {
                    let settings = odp::dpswitch::settings(o);
                    // The device cannot be swapped under a running port.
                    if settings
                        .iter()
                        .any(|(k, val)| k == odp::dpswitch::DEVARGS && *val != v.devargs)
                    {
                        return Err(libc::EOPNOTSUPP);
                    }
                    if settings.is_empty() && (o.dst_port.is_some() || o.extension.is_some()) {
                        return Err(libc::EOPNOTSUPP);
                    }
                    for (k, val) in settings {
                        if val.is_empty() {
                            v.options.remove(&k);
                        } else {
                            v.options.insert(k, val);
                        }
                    }
                }
                if let Some(p) = &a.upcall_pids {
                    v.upcall_pids = p.clone();
                }
                if echo {
                    return one(sw, dp, port, VportCmd::Set);
                }
                Ok(Answer::None)
            }
        }
    }

    // ---------------------------------------------------------------- flow

    fn alloc_id(&mut self) -> u128 {
        self.next_id += 1;
        self.next_id
    }

    fn flow_msg(
        sw: &Switch,
        dp: usize,
        id: u128,
        rec: &FlowRec,
        how: FlowReply,
        out: &mut Vec<u8>,
    ) -> Res<()> {
        let d = sw.datapath(dp).ok_or(libc::ENODEV)?;
        let FlowReply {
            cmd,
            hdr,
            multi,
            ufid_flags,
        } = how;
        let snap = d
            .flows
            .classifier()
            .get(id)
            .map(|f| f.stats().read())
            .unwrap_or_default();
        let start = nl::begin_ovs_msg(
            out,
            FAMILY_IDS.flow,
            if multi { flags::MULTI } else { 0 },
            hdr.seq,
            hdr.pid,
            GenlHeader {
                cmd: cmd as u8,
                version: odp_flow::VERSION,
            },
            d.ifindex as i32,
        );
        let mut w = AttrWriter::new(out);
        use odp_flow::attr;
        match &rec.ident {
            Ident::Ufid(u) => {
                w.put(attr::UFID, u);
                if ufid_flags & odp_flow::ufid_flags::OMIT_KEY == 0 {
                    w.put(attr::KEY, &rec.key);
                }
            }
            Ident::Key(k) => w.put(attr::KEY, k),
        }
        if ufid_flags & odp_flow::ufid_flags::OMIT_MASK == 0 {
            w.put(attr::MASK, &rec.mask);
        }
        let packets = snap.packets.saturating_sub(rec.base.packets);
        let bytes = snap.bytes.saturating_sub(rec.base.bytes);
        if snap.used_ms != 0 && snap.used_ms != rec.base.used_ms {
            w.u64(attr::USED, snap.used_ms);
        }
        if packets != 0 {
            w.put(
                attr::STATS,
                &FlowStats {
                    n_packets: packets,
                    n_bytes: bytes,
                }
                .to_bytes(),
            );
        }
        // Flags seen since the last CLEAR are not separable from earlier ones; after a
        // CLEAR they come back with the next packet that carries them.
        let tcp = (snap.tcp_flags & 0xff) as u8;
        if tcp != 0 && packets != 0 {
            w.u8(attr::TCP_FLAGS, tcp);
        }
        if ufid_flags & odp_flow::ufid_flags::OMIT_ACTIONS == 0 {
            w.put(attr::ACTIONS, &rec.actions);
        }
        let r = w.finish();
        if r.is_err() {
            out.truncate(start);
            return Err(libc::EMSGSIZE);
        }
        nl::finish_msg(out, start).map_err(odp_err)
    }

    fn ident_of(a: &FlowAttrs) -> Res<Option<Ident>> {
        if let Some(u) = a.usable_ufid() {
            return Ok(Some(Ident::Ufid(u.to_vec())));
        }
        match &a.key {
            Some(k) => {
                let form = unmasked_key_form(k).map_err(odp_err)?;
                Ok(Some(Ident::Key(form.to_bytes())))
            }
            None => Ok(None),
        }
    }

    /// The internal id of the flow `ident` names: one installed over netlink, or (by its
    /// 16-byte UFID) one the standalone bridge installed.
    fn find_id(&self, sw: &Switch, dp: usize, ident: &Ident) -> Res<u128> {
        let side = self.side.get(&dp);
        if let Some(id) = side.and_then(|s| s.ids.get(ident)) {
            return Ok(*id);
        }
        if let Ident::Ufid(u) = ident {
            if let Ok(b) = <[u8; 16]>::try_from(u.as_slice()) {
                let id = u128::from_be_bytes(b);
                let installed = sw
                    .datapath(dp)
                    .is_some_and(|d| d.flows.classifier().get(id).is_some());
                if installed && !side.is_some_and(|s| s.flows.contains_key(&id)) {
                    return Ok(id);
                }
            }
        }
        Err(libc::ENOENT)
    }

    fn flow(&mut self, sw: &mut Switch, m: &OvsMessage<FlowAttrs>) -> Res<Answer> {
        let hdr = header_of(m);
        let echo = m.flags & flags::ECHO != 0;
        let a = &m.body;
        if m.cmd == FlowCmd::Get && m.flags & flags::DUMP == flags::DUMP {
            let mut d = Dump::new(hdr);
            match Self::find_dp(sw, None, m.dp_ifindex) {
                Ok(dp) => {
                    d.flows = Some(FlowCursor {
                        dp,
                        after: None,
                        ufid_flags: a.ufid_flags.unwrap_or(0),
                        bridge: None,
                    })
                }
                Err(e) => d.finish(-e),
            }
            return Ok(Answer::Dump(d));
        }
        match m.cmd {
            FlowCmd::New => {
                odp_flow::check_new(a).map_err(odp_err)?;
                let key = a.key.as_ref().ok_or(libc::EINVAL)?;
                let fm = FlowMatch::new(key, a.mask.as_ref()).map_err(odp_err)?;
                let acts = a.actions.as_deref().unwrap_or_default();
                validate_actions(acts, &fm.key).map_err(odp_err)?;
                let (_, fmask) = odpconv::match_to_fast(&fm).map_err(|e| e.errno())?;
                // The overlap rule looks the unmasked key up like a packet.
                let unmasked = FlowMatch::new(key, None)
                    .ok()
                    .and_then(|x| odpconv::match_to_fast(&x).ok())
                    .map_or_else(|| odpconv::match_to_fast(&fm).map(|x| x.0), |x| Ok(x.0))
                    .map_err(|e| e.errno())?;
                let ident = Self::ident_of(a)?.ok_or(libc::EINVAL)?;
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let create = m.flags & (flags::CREATE | flags::EXCL) != 0;
                let existing = self.side.get(&dp).and_then(|s| s.ids.get(&ident)).copied();
                let id = match existing {
                    Some(id) => id,
                    None => self.alloc_id(),
                };
                let mode = if create {
                    PutMode::Create
                } else {
                    PutMode::CreateOrModify
                };
                sw.put_flow(dp, id, &unmasked, &fmask, acts, mode)
                    .map_err(ctl)?;
                let side = self.side.entry(dp).or_default();
                let actions = actions_to_bytes(acts);
                match side.flows.get_mut(&id) {
                    Some(rec) => rec.actions = actions,
                    None => {
                        side.flows.insert(
                            id,
                            FlowRec {
                                ident: ident.clone(),
                                key: fm.masked_key().to_bytes(),
                                mask: fm.mask_form().to_bytes(),
                                actions,
                                base: Baseline::default(),
                            },
                        );
                        side.ids.insert(ident, id);
                    }
                }
                if echo {
                    return self.flow_reply(sw, dp, id, FlowCmd::New, &hdr);
                }
                Ok(Answer::None)
            }
            FlowCmd::Set => {
                odp_flow::check_set(a).map_err(odp_err)?;
                let mut fast_actions = None;
                if let (Some(key), Some(acts)) = (&a.key, &a.actions) {
                    let fm = FlowMatch::new(key, a.mask.as_ref()).map_err(odp_err)?;
                    validate_actions(acts, &fm.key).map_err(odp_err)?;
                    fast_actions = Some(acts);
                }
                let ident = Self::ident_of(a)?.ok_or(libc::EINVAL)?;
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let id = self
                    .side
                    .get(&dp)
                    .and_then(|s| s.ids.get(&ident))
                    .copied()
                    .ok_or(libc::ENOENT)?;
                if let Some(fa) = fast_actions {
                    let (k, mk): (FlowKey, FlowKey) = {
                        let d = sw.datapath(dp).ok_or(libc::ENODEV)?;
                        let f = d.flows.classifier().get(id).ok_or(libc::ENOENT)?;
                        (*f.key(), *f.mask())
                    };
                    sw.put_flow(dp, id, &k, &mk, fa, PutMode::Modify)
                        .map_err(ctl)?;
                    if let Some(rec) = self.side.get_mut(&dp).and_then(|s| s.flows.get_mut(&id)) {
                        rec.actions = actions_to_bytes(a.actions.as_deref().unwrap_or_default());
                    }
                }
                let ans = if echo {
                    self.flow_reply(sw, dp, id, FlowCmd::Set, &hdr)?
                } else {
                    Answer::None
                };
                if a.clear {
                    let snap = sw
                        .datapath(dp)
                        .and_then(|d| d.flows.classifier().get(id).map(|f| f.stats().read()))
                        .unwrap_or_default();
                    if let Some(rec) = self.side.get_mut(&dp).and_then(|s| s.flows.get_mut(&id)) {
                        rec.base = Baseline {
                            packets: snap.packets,
                            bytes: snap.bytes,
                            used_ms: snap.used_ms,
                        };
                    }
                }
                Ok(ans)
            }
            FlowCmd::Get => {
                let ident = Self::ident_of(a)?.ok_or(libc::EINVAL)?;
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let id = self.find_id(sw, dp, &ident)?;
                self.flow_reply(sw, dp, id, FlowCmd::Get, &hdr)
            }
            FlowCmd::Del => {
                let ident = Self::ident_of(a)?;
                let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
                let Some(ident) = ident else {
                    sw.flush_flows(dp).map_err(ctl)?;
                    self.side.insert(dp, DpSide::default());
                    return Ok(Answer::None);
                };
                let id = self.find_id(sw, dp, &ident)?;
                let ans = if echo {
                    self.flow_reply(sw, dp, id, FlowCmd::Del, &hdr)?
                } else {
                    Answer::None
                };
                let r = sw.del_flow(dp, id);
                if let Some(s) = self.side.get_mut(&dp) {
                    s.flows.remove(&id);
                    s.ids.remove(&ident);
                }
                r.map_err(ctl)?;
                Ok(ans)
            }
        }
    }

    fn flow_reply(
        &self,
        sw: &Switch,
        dp: usize,
        id: u128,
        cmd: FlowCmd,
        hdr: &NlMsgHeader,
    ) -> Res<Answer> {
        let bridge;
        let rec = match self.side.get(&dp).and_then(|s| s.flows.get(&id)) {
            Some(r) => r,
            None => {
                bridge = bridge_rec(sw, dp, id).ok_or(libc::ENOENT)?;
                &bridge
            }
        };
        let mut out = Vec::new();
        Self::flow_msg(
            sw,
            dp,
            id,
            rec,
            FlowReply {
                cmd,
                hdr: *hdr,
                multi: false,
                ufid_flags: 0,
            },
            &mut out,
        )?;
        Ok(Answer::Msgs(out))
    }

    // ---------------------------------------------------------------- packet

    fn execute(&mut self, sw: &mut Switch, m: &OvsMessage<PacketAttrs>) -> Res<Answer> {
        let a = &m.body;
        odp_packet::check_execute(a).map_err(odp_err)?;
        let (Some(frame), Some(key), Some(acts)) = (&a.packet, &a.key, &a.actions) else {
            return Err(libc::EINVAL);
        };
        let dp = Self::find_dp(sw, None, m.dp_ifindex)?;
        let in_port = FlatKey::from_key(key)
            .map_err(odp_err)?
            .key
            .in_port
            .unwrap_or(0);
        let known = sw
            .datapath(dp)
            .is_some_and(|d| d.vports.contains_key(&in_port));
        let md = odpconv::execute_metadata(key, !known).map_err(|e| e.errno())?;
        // Actions are validated against the packet's own key, as the kernel does.
        let mut pk = FlowKey::ZERO;
        fastpath::packet::extract(frame, &md, &mut pk);
        let flat = FlatKey::from_key(&odpconv::key_to_odp(&pk)).map_err(odp_err)?;
        validate_actions(acts, &flat).map_err(odp_err)?;
        let mut sink = Upcalls {
            sock: &self.sock,
            buf: Vec::new(),
        };
        sw.execute(dp, frame, &md, acts, a.upcall_pid, &mut sink)
            .map_err(ctl)?;
        Ok(Answer::None)
    }

    // ---------------------------------------------------------------- dumps

    fn pump_pending(&mut self, sw: &mut Switch) {
        let ports: Vec<u32> = self.pending.keys().copied().collect();
        for p in ports {
            self.pump_one(sw, p);
        }
    }

    /// Sends as much of `port`'s dump as its socket takes; when the dump is done, runs the
    /// requests that queued behind it.
    fn pump_one(&mut self, sw: &mut Switch, port: u32) {
        loop {
            let Some(p) = self.pending.get_mut(&port) else {
                return;
            };
            if p.dump.ready.is_empty() && !p.dump.done {
                let side = self
                    .side
                    .get(&p.dump.flows.as_ref().map_or(usize::MAX, |c| c.dp));
                p.dump.fill_flows(sw, side);
            }
            let Some(dgram) = p.dump.ready.front() else {
                // Complete: serve what waited behind it.
                let Some(p) = self.pending.remove(&port) else {
                    return;
                };
                for (data, sender) in p.queued {
                    if self.pending.contains_key(&port) {
                        // Another dump started: keep the rest queued behind it.
                        if let Some(q) = self.pending.get_mut(&port) {
                            q.queued.push_back((data, sender));
                        }
                    } else {
                        self.handle_datagram(sw, &data, sender);
                    }
                }
                return;
            };
            match self.sock.send_to(port, dgram) {
                Ok(()) => {
                    p.dump.ready.pop_front();
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

impl Dump {
    fn new(hdr: NlMsgHeader) -> Dump {
        Dump {
            hdr,
            ready: VecDeque::new(),
            flows: None,
            done: false,
        }
    }

    /// Appends one framed message, opening a new datagram when the current one is full.
    fn push(&mut self, msg: &[u8]) {
        match self.ready.back_mut() {
            Some(last) if last.len() + msg.len() <= DUMP_DATAGRAM => last.extend_from_slice(msg),
            _ => self.ready.push_back(msg.to_vec()),
        }
    }

    fn finish(&mut self, status: i32) {
        let mut b = Vec::with_capacity(20);
        nl::emit_done(&mut b, self.hdr.seq, self.hdr.pid, status);
        self.push(&b);
        self.flows = None;
        self.done = true;
    }

    /// Produces the next datagram of a flow dump: first the flows installed over netlink
    /// (resuming after the last one sent), then those the standalone bridge installed.
    fn fill_flows(&mut self, sw: &Switch, side: Option<&DpSide>) {
        let Some(c) = &self.flows else {
            self.finish(0);
            return;
        };
        let (dp, after, ufid_flags) = (c.dp, c.after, c.ufid_flags);
        let Some(d) = sw.datapath(dp) else {
            self.finish(-libc::ENODEV);
            return;
        };
        let hdr = self.hdr;
        let how = FlowReply {
            cmd: FlowCmd::Get,
            hdr,
            multi: true,
            ufid_flags,
        };
        let mut dgram = Vec::with_capacity(DUMP_DATAGRAM);
        let mut msg = Vec::with_capacity(1024);
        let empty = DpSide::default();
        let side = side.unwrap_or(&empty);
        if c.bridge.is_none() {
            let range = match after {
                Some(a) => side
                    .flows
                    .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
                None => side.flows.range(..),
            };
            let mut last = after;
            for (&id, rec) in range {
                msg.clear();
                if Server::flow_msg(sw, dp, id, rec, how, &mut msg).is_err() {
                    last = Some(id);
                    continue;
                }
                if !dgram.is_empty() && dgram.len() + msg.len() > DUMP_DATAGRAM {
                    self.ready.push_back(dgram);
                    if let Some(c) = &mut self.flows {
                        c.after = last;
                    }
                    return;
                }
                dgram.extend_from_slice(&msg);
                last = Some(id);
            }
            // Netlink flows done: snapshot the bridge's flows.
            let mut ids: Vec<u128> = d
                .flows
                .classifier()
                .flows()
                .map(|f| f.ufid())
                .filter(|id| !side.flows.contains_key(id))
                .collect();
            ids.sort_unstable();
            if let Some(c) = &mut self.flows {
                c.bridge = Some(ids.into());
            }
        }
        while let Some(id) = self
            .flows
            .as_mut()
            .and_then(|c| c.bridge.as_mut())
            .and_then(|q| q.front().copied())
        {
            msg.clear();
            let ok = bridge_rec(sw, dp, id)
                .is_some_and(|rec| Server::flow_msg(sw, dp, id, &rec, how, &mut msg).is_ok());
            if ok && !dgram.is_empty() && dgram.len() + msg.len() > DUMP_DATAGRAM {
                self.ready.push_back(dgram);
                return;
            }
            if ok {
                dgram.extend_from_slice(&msg);
            }
            if let Some(q) = self.flows.as_mut().and_then(|c| c.bridge.as_mut()) {
                q.pop_front();
            }
        }
        if !dgram.is_empty() {
            self.ready.push_back(dgram);
        }
        self.finish(0);
    }
}

/// The reply form of a flow the standalone bridge installed: identified by its internal
/// UFID (16 bytes, big-endian), key and mask rebuilt from the fast path's.
fn bridge_rec(sw: &Switch, dp: usize, id: u128) -> Option<FlowRec> {
    let d = sw.datapath(dp)?;
    let f = d.flows.classifier().get(id)?;
    let actions = d
        .slow_actions
        .get(&id)
        .map(|a| actions_to_bytes(a))
        .unwrap_or_default();
    Some(FlowRec {
        ident: Ident::Ufid(id.to_be_bytes().to_vec()),
        key: odpconv::key_to_odp(f.key()).to_bytes(),
        mask: odpconv::mask_to_odp(f.key(), f.mask()).to_bytes(),
        actions,
        base: Baseline::default(),
    })
}

impl UpcallSink for Server {
    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
        let mut s = Upcalls {
            sock: &self.sock,
            buf: std::mem::take(&mut self.upbuf),
        };
        let ok = s.deliver(msg);
        self.upbuf = s.buf;
        self.upbuf.clear();
        ok
    }
}

/// Builds and sends MISS / ACTION upcalls (§8.3) without blocking.
struct Upcalls<'a> {
    sock: &'a NetlinkSocket,
    buf: Vec<u8>,
}

impl UpcallSink for Upcalls<'_> {
    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
        let body = PacketAttrs {
            packet: Some(msg.packet.to_vec()),
            key: Some(odpconv::key_to_odp(msg.key)),
            userdata: msg.userdata.map(<[u8]>::to_vec),
            len: msg.orig_len.and_then(|l| u32::try_from(l).ok()),
            // Low 32 bits: the hash; bit 32: a software hash.
            hash: Some(u64::from(msg.hash) | 1 << 32),
            unaligned: msg.unaligned,
            ..PacketAttrs::default()
        };
        let mut m = OvsMessage::new(
            if msg.action {
                PacketCmd::Action
            } else {
                PacketCmd::Miss
            },
            msg.dp_ifindex as i32,
            body,
        );
        m.family = FAMILY_IDS.packet;
        self.buf.clear();
        if m.emit(&mut self.buf).is_err() {
            // Too large for one attribute: EFBIG in the kernel, a lost upcall.
            return false;
        }
        self.sock.send_to(msg.pid, &self.buf).is_ok()
    }
}

fn header_of<T: Body>(m: &OvsMessage<T>) -> NlMsgHeader {
    NlMsgHeader {
        len: 0,
        ty: m.family,
        flags: m.flags,
        seq: m.seq,
        pid: m.pid,
    }
}

fn reply<T: Body>(
    family: u16,
    cmd: T::Cmd,
    dp_ifindex: i32,
    hdr: &NlMsgHeader,
    multi: bool,
    body: T,
) -> OvsMessage<T> {
    OvsMessage {
        family,
        flags: if multi { flags::MULTI } else { 0 },
        seq: hdr.seq,
        pid: hdr.pid,
        cmd,
        version: T::VERSION,
        dp_ifindex,
        body,
    }
}

/// Appends an NLMSG_ERROR (ack when `errno` is 0) for `hdr`; errors echo the request
/// payload, as the kernel does by default.
///
/// Like every reply, it carries the sender's real port id (the kernel's `snd_portid`), while
/// the echoed request header keeps whatever `nlmsg_pid` the request had.
fn push_error(out: &mut Vec<u8>, to: u32, hdr: &NlMsgHeader, payload: &[u8], errno: i32) {
    let start = out.len();
    let m = ErrorMsg {
        error: -errno,
        request: *hdr,
        request_payload: if errno == 0 {
            Vec::new()
        } else {
            payload.to_vec()
        },
        ..ErrorMsg::default()
    };
    if m.emit(out).is_err() {
        tracing::warn!("could not frame an NLMSG_ERROR");
        return;
    }
    if let Some(pid) = out.get_mut(start + 12..start + 16) {
        pid.copy_from_slice(&to.to_ne_bytes());
    }
}

/// Metric label of the NEW/DEL/GET/SET commands the datapath, vport and flow families share
/// (the same numbers in all three).
fn object_cmd_name(cmd: impl odp::family::Command) -> &'static str {
    match cmd.to_u8() {
        1 => "new",
        2 => "del",
        3 => "get",
        4 => "set",
        _ => "unknown",
    }
}

/// The group a request's change is announced on, with `NLM_F_ECHO` set on the request so that
/// its handler builds the message (NEW/DEL/SET of datapaths, vports and flows).
fn notify_group(req: &mut Request, g: Groups) -> Option<u32> {
    let (f, group) = match req {
        Request::Datapath(m) if m.cmd != DpCmd::Get => (&mut m.flags, g.datapath),
        Request::Vport(m) if m.cmd != VportCmd::Get => (&mut m.flags, g.vport),
        Request::Flow(m) if m.cmd != FlowCmd::Get => (&mut m.flags, g.flow),
        _ => return None,
    };
    *f |= flags::ECHO;
    Some(group)
}
