//! One request in, its answer out: decoding, the privilege check, dispatch to the family
//! handlers, and the reply rules every family shares (`docs/protocol.md`): replies with the
//! request's `seq` and the sender's port id, NEW/DEL/SET answered only with `NLM_F_ECHO`,
//! GET always, ACKs only with `NLM_F_ACK`, errors always, and the change multicast to the
//! family's group as the kernel's `genl_notify()` does.

use std::sync::Arc;

use odp::dpswitch::FAMILY_IDS;
use odp::family::datapath::DpCmd;
use odp::family::flow::FlowCmd;
use odp::family::packet::PacketCmd;
use odp::family::vport::VportCmd;
use odp::family::{self, Request};
use odp::nl::{self, flags, NlMsgHeader};
use odp::{ct_limit, pmd_stats};

use super::dump::Dump;
use super::mcast::Groups;
use super::pmd::PmdFamily;
use super::reply::{object_cmd_name, push_error, Answer};
use super::{ctrl, datapath, flow, packet, vport};
use crate::error::{Error, Result};
use crate::model::Dataplane;
use crate::slowpath::UpcallSink;
use crate::stats::SwitchView;
use crate::Switch;
use nlio::Sender;

/// Types below this are netlink control messages (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// A change to multicast to a family's group.
#[derive(Debug)]
pub struct Note {
    /// The group.
    pub group: u32,
    /// The message: what an `NLM_F_ECHO` requester gets.
    pub msg: Vec<u8>,
    /// The requester asked for an echo: it gets the message unicast, not multicast.
    pub echo: bool,
}

/// What one message produced.
#[derive(Debug)]
pub enum Outcome {
    /// Messages for the requester (replies, then the ACK or error) and a change to announce.
    Reply {
        /// Framed messages, possibly none.
        msgs: Vec<u8>,
        /// The notification, sent before `msgs` when the requester asked for an echo.
        note: Option<Note>,
    },
    /// A dump, to send as the requester reads it.
    Dump(Dump),
}

/// Answers requests; owns what the families keep between requests.
#[derive(Debug)]
pub struct Handler {
    view: Arc<SwitchView>,
    groups: Option<Groups>,
    pmd: PmdFamily,
}

impl Handler {
    /// Periodic work between requests: the PMD family's usage window.
    pub fn tick(&mut self) {
        self.pmd.tick(&self.view, std::time::Instant::now());
    }

    /// A handler counting requests in `view`, announcing changes to `groups` (None: not
    /// multicasting).
    pub fn new(view: Arc<SwitchView>, groups: Option<Groups>) -> Self {
        Handler {
            view,
            groups,
            pmd: PmdFamily::default(),
        }
    }

    /// The groups changes are announced to.
    pub fn groups(&self) -> Option<Groups> {
        self.groups
    }

    /// Stops announcing (multicast turned out not to be permitted).
    pub fn stop_announcing(&mut self) {
        self.groups = None;
    }

    /// Answers one message from `sender`; userspace actions that PACKET EXECUTE runs go to
    /// `sink`.
    pub fn message<D: Dataplane>(
        &mut self,
        sw: &mut Switch<D>,
        hdr: &NlMsgHeader,
        payload: &[u8],
        sender: Sender,
        sink: &mut dyn UpcallSink,
    ) -> Outcome {
        let mut msgs = Vec::new();
        let ack = hdr.flags & flags::ACK != 0;
        if hdr.flags & flags::REQUEST == 0 || hdr.ty < NLMSG_MIN_TYPE {
            // Control messages (NOOP ...) and non-requests: acked if asked, in order.
            if ack {
                push_error(&mut msgs, sender.port_id, hdr, &[], 0);
            }
            return Outcome::Reply { msgs, note: None };
        }
        let admin = sender.creds.is_some_and(|c| c.uid == 0);
        // Replies go out with the sender's real port id, as the kernel's do.
        let rhdr = NlMsgHeader {
            pid: sender.port_id,
            ..*hdr
        };
        let mut probe = false;
        let mut group = None;
        let (fam, cmd, result) = if hdr.ty == pmd_stats::FAMILY_ID {
            let (cmd, r) = self.pmd.handle(&self.view, &rhdr, payload, admin);
            (pmd_stats::FAMILY_NAME, cmd, r)
        } else if hdr.ty == ct_limit::FAMILY_ID {
            let (cmd, r) = super::ct_limit::handle(sw.plane.conntrack(), &rhdr, payload, admin);
            (ct_limit::FAMILY_NAME, cmd, r)
        } else {
            match family::parse_request(&FAMILY_IDS, *hdr, payload) {
                Ok(mut req) => {
                    // PROBE (feature probing by OVS): failures are expected, keep them quiet.
                    probe = match &req {
                        Request::Flow(m) => m.body.probe,
                        Request::Packet(m) => m.body.probe,
                        _ => false,
                    };
                    set_pid(&mut req, sender.port_id);
                    // A change to announce is answered as if echo was asked; the answer
                    // becomes the notification.
                    group = self.groups.and_then(|g| notify_group(&mut req, g));
                    self.dispatch(sw, &rhdr, req, admin, sink)
                }
                Err(e) => {
                    // An id no family has is ENOENT (genetlink's answer).
                    let known = [
                        nl::GENL_ID_CTRL,
                        FAMILY_IDS.datapath,
                        FAMILY_IDS.vport,
                        FAMILY_IDS.flow,
                        FAMILY_IDS.packet,
                    ]
                    .contains(&hdr.ty);
                    let e = if known {
                        Error::from(e)
                    } else {
                        Error::NoFamily
                    };
                    ("unknown", "parse", Err(e))
                }
            }
        };
        let errno = result.as_ref().map_or_else(Error::errno, |_| 0);
        self.count(fam, cmd, errno);
        match result {
            Ok(Answer::Dump(mut d)) => {
                d.address(rhdr);
                return Outcome::Dump(d);
            }
            Ok(Answer::Msgs(m)) => {
                let note = match group {
                    Some(group) => Some(Note {
                        group,
                        msg: m,
                        echo: hdr.flags & flags::ECHO != 0,
                    }),
                    None => {
                        msgs.extend_from_slice(&m);
                        None
                    }
                };
                if ack {
                    push_error(&mut msgs, sender.port_id, hdr, &[], 0);
                }
                return Outcome::Reply { msgs, note };
            }
            Ok(Answer::None) => {
                if ack {
                    push_error(&mut msgs, sender.port_id, hdr, &[], 0);
                }
            }
            Err(e) => {
                if !probe {
                    tracing::debug!(
                        family = fam,
                        command = cmd,
                        errno,
                        error = %e,
                        seq = hdr.seq,
                        port_id = sender.port_id,
                        "request refused"
                    );
                }
                push_error(&mut msgs, sender.port_id, hdr, payload, errno);
            }
        }
        Outcome::Reply { msgs, note: None }
    }

    /// Counts a request in `dpswitch_control_requests_total`.
    pub fn count(&self, family: &str, command: &str, errno: i32) {
        self.view
            .requests
            .with_label_values(&[family, command, odp::errno::name(errno)])
            .inc();
    }

    fn dispatch<D: Dataplane>(
        &mut self,
        sw: &mut Switch<D>,
        hdr: &NlMsgHeader,
        req: Request,
        admin: bool,
        sink: &mut dyn UpcallSink,
    ) -> (&'static str, &'static str, Result<Answer>) {
        // Mutations need uid 0 (`docs/protocol.md`); reads are answered for everyone.
        let permit = |read: bool| {
            if read || admin {
                Ok(())
            } else {
                Err(Error::NotPermitted)
            }
        };
        match req {
            Request::Ctrl(m) => ("nlctrl", "getfamily", ctrl::handle(self.groups, hdr, &m)),
            Request::Datapath(m) => (
                "ovs_datapath",
                object_cmd_name(m.cmd),
                permit(m.cmd == DpCmd::Get).and_then(|()| datapath::handle(sw, &m)),
            ),
            Request::Vport(m) => (
                "ovs_vport",
                object_cmd_name(m.cmd),
                permit(m.cmd == VportCmd::Get).and_then(|()| vport::handle(sw, &m)),
            ),
            Request::Flow(m) => (
                "ovs_flow",
                object_cmd_name(m.cmd),
                permit(m.cmd == FlowCmd::Get).and_then(|()| flow::handle(sw, &m)),
            ),
            Request::Packet(m) => (
                "ovs_packet",
                "execute",
                // MISS and ACTION are refused for everyone: they go to userspace only.
                permit(m.cmd != PacketCmd::Execute).and_then(|()| packet::handle(sw, &m, sink)),
            ),
            _ => ("unknown", "unknown", Err(Error::NoFamily)),
        }
    }
}

/// Sets the pid a request's replies carry.
fn set_pid(req: &mut Request, pid: u32) {
    match req {
        Request::Ctrl(m) => m.pid = pid,
        Request::Datapath(m) => m.pid = pid,
        Request::Vport(m) => m.pid = pid,
        Request::Flow(m) => m.pid = pid,
        Request::Packet(m) => m.pid = pid,
        _ => {}
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

#[cfg(test)]
mod tests {
    use odp::errno::{EINVAL, ENOENT};
    use odp::family::datapath::DatapathAttrs;
    use odp::family::OvsMessage;

    use super::*;
    use crate::control::testing::Harness;

    #[test]
    fn unknown_families_are_enoent_and_malformed_requests_einval() {
        let mut h = Harness::new();
        // vswitchd sends 0xfffe for a family it could not resolve.
        let mut m = OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
        m.family = 0xfffe;
        assert_eq!(h.errno(m), ENOENT);
        let mut m = OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
        m.family = FAMILY_IDS.datapath;
        m.flags = flags::REQUEST | flags::ACK;
        let mut b = m.to_bytes().unwrap();
        b.truncate(b.len() - 2);
        let len = u32::try_from(b.len()).unwrap();
        b[..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(h.raw(&b, true).1, Some(EINVAL), "a cut genl header");
    }

    #[test]
    fn non_requests_are_acked_only_if_asked() {
        let mut h = Harness::new();
        let noop = |flags: u16| {
            let mut b = Vec::new();
            NlMsgHeader {
                len: 16,
                ty: 1,
                flags,
                seq: 1,
                pid: 0,
            }
            .emit(&mut b);
            b
        };
        assert_eq!(
            h.raw(&noop(flags::REQUEST | flags::ACK), true),
            (vec![], Some(0))
        );
        assert_eq!(h.raw(&noop(flags::REQUEST), true), (vec![], None));
    }
}
