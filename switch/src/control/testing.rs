//! Runs requests through the control plane in process: the real handlers and model over an
//! in-memory dataplane, with requests and answers on the wire format.

use std::sync::Arc;

use odp::dpswitch::FAMILY_IDS;
use odp::family::{Body, OvsMessage};
use odp::nl::{self, flags, Control, NlMsgHeader};

use super::request::{Handler, Outcome};
use crate::model::memory::MemoryPlane;
use crate::model::Model;
use crate::slowpath::{SlowPath, UpcallMsg, UpcallSink};
use crate::stats::{PmdShared, PmdView, SwitchView};
use crate::Switch;
use nlio::{Creds, Sender};

/// Upcalls as they would have been sent: (pid, ACTION?, packet).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) upcalls: Vec<(u32, bool, Vec<u8>)>,
}

impl UpcallSink for Recorder {
    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
        self.upcalls
            .push((msg.pid, msg.action, msg.packet.to_vec()));
        true
    }
}

/// A switch with its control plane, in memory.
pub(crate) struct Harness {
    pub(crate) sw: Switch<MemoryPlane>,
    pub(crate) handler: Handler,
    pub(crate) upcalls: Recorder,
    pub(crate) view: Arc<SwitchView>,
    seq: u32,
}

/// The port id test requests come from.
pub(crate) const CLIENT: u32 = 4242;

impl Harness {
    /// A switch of two PMDs without a datapath.
    pub(crate) fn new() -> Self {
        let pmds = (0..2)
            .map(|id| PmdView {
                id,
                lcore: u32::try_from(id).unwrap_or(0) + 1,
                numa: 0,
                shared: Arc::new(PmdShared::default()),
            })
            .collect();
        let view = Arc::new(SwitchView::new(pmds, 1_000_000_000));
        Harness {
            sw: Switch {
                model: Model::new(view.clone()),
                plane: MemoryPlane::new(2),
                slow: SlowPath::new(1000),
            },
            handler: Handler::new(view.clone(), None),
            upcalls: Recorder::default(),
            view,
            seq: 0,
        }
    }

    /// A switch of two PMDs with datapath `dp0` (`dp_ifindex` 100, its local port's).
    pub(crate) fn with_dp() -> Self {
        let mut h = Harness::new();
        let dp = odp::family::datapath::DatapathAttrs {
            name: Some("dp0".to_string()),
            upcall_pid: Some(0),
            ..Default::default()
        };
        let m = OvsMessage::new(odp::family::datapath::DpCmd::New, 0, dp);
        assert_eq!(h.errno(m), 0);
        h
    }

    /// Sends one raw message from a sender with uid 0 (`admin`) or 1000; returns the
    /// messages it got back and the final errno (ACK, error or DONE; None if none came).
    pub(crate) fn raw(
        &mut self,
        bytes: &[u8],
        admin: bool,
    ) -> (Vec<(NlMsgHeader, Vec<u8>)>, Option<i32>) {
        let (hdr, payload) = nl::messages(bytes)
            .next()
            .expect("one message")
            .expect("well-formed");
        let sender = Sender {
            port_id: CLIENT,
            creds: Some(Creds {
                pid: 1,
                uid: if admin { 0 } else { 1000 },
                gid: 0,
            }),
        };
        let mut out = Vec::new();
        match self
            .handler
            .message(&mut self.sw, &hdr, payload, sender, &mut self.upcalls)
        {
            Outcome::Reply { msgs, note } => {
                if let Some(n) = note {
                    out.extend(n.msg);
                }
                out.extend(msgs);
            }
            Outcome::Dump(mut d) => {
                while let Some(dgram) = d.next(&self.sw.model) {
                    out.extend_from_slice(dgram);
                    d.sent();
                }
            }
        }
        let mut msgs = Vec::new();
        let mut errno = None;
        for m in nl::messages(&out) {
            let (h, p) = m.expect("well-formed answer");
            assert_eq!(h.seq, hdr.seq, "answers carry the request's seq");
            assert_eq!(h.pid, CLIENT, "answers go to the sender's port id");
            match nl::classify(&h, p).expect("answer") {
                Control::Error(e) => errno = Some(-e.error),
                Control::Done(s) => errno = Some(-s),
                Control::Data(_) => msgs.push((h, p.to_vec())),
                Control::Noop | Control::Overrun => {}
            }
        }
        (msgs, errno)
    }

    /// Sends `m` (REQUEST|ACK plus its own flags) and decodes what comes back; returns the
    /// replies and the errno (0: success).
    pub(crate) fn request<T: Body>(
        &mut self,
        mut m: OvsMessage<T>,
        admin: bool,
    ) -> (Vec<OvsMessage<T>>, i32) {
        self.seq += 1;
        m.seq = self.seq;
        m.pid = CLIENT;
        m.flags |= flags::REQUEST | flags::ACK;
        if m.family == 0 {
            m.family = match T::FAMILY_NAME {
                "ovs_datapath" => FAMILY_IDS.datapath,
                "ovs_vport" => FAMILY_IDS.vport,
                "ovs_flow" => FAMILY_IDS.flow,
                _ => FAMILY_IDS.packet,
            };
        }
        let (msgs, errno) = self.raw(&m.to_bytes().expect("encodes"), admin);
        let replies = msgs
            .into_iter()
            .map(|(h, p)| OvsMessage::<T>::parse(h, &p).expect("reply decodes"))
            .collect();
        (replies, errno.expect("an ACK, an error or DONE"))
    }

    /// The errno `m` gets from uid 0.
    pub(crate) fn errno<T: Body>(&mut self, m: OvsMessage<T>) -> i32 {
        self.request(m, true).1
    }
}
