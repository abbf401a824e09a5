//! Dumps: `NLM_F_MULTI` messages packed into datagrams of up to [`DUMP_DATAGRAM`] bytes and
//! ended by `NLMSG_DONE`. Flow dumps are produced a datagram at a time, resuming after the
//! last flow sent, so a dump of any size costs the control thread one datagram per turn.

use std::collections::VecDeque;

use odp::nl::{self, NlMsgHeader};

use super::flow::{flow_msg, FlowReply};
use crate::model::Model;

/// Largest dump datagram.
pub const DUMP_DATAGRAM: usize = 32 * 1024;

/// Where a flow dump continues.
#[derive(Debug)]
struct FlowCursor {
    dp: usize,
    after: Option<u128>,
    ufid_flags: u32,
}

/// A dump in progress.
#[derive(Debug)]
pub struct Dump {
    hdr: NlMsgHeader,
    ready: VecDeque<Vec<u8>>,
    flows: Option<FlowCursor>,
    done: bool,
}

impl Dump {
    /// A dump answering `hdr`, filled by [`Dump::push`] and ended by [`Dump::finish`].
    pub fn new(hdr: NlMsgHeader) -> Dump {
        Dump {
            hdr,
            ready: VecDeque::new(),
            flows: None,
            done: false,
        }
    }

    /// A dump of datapath `dp`'s flows, produced as it is sent.
    pub fn flows(hdr: NlMsgHeader, dp: usize, ufid_flags: u32) -> Dump {
        Dump {
            flows: Some(FlowCursor {
                dp,
                after: None,
                ufid_flags,
            }),
            ..Dump::new(hdr)
        }
    }

    /// Sets the header replies carry (the sender's port id and the request's seq).
    pub fn address(&mut self, hdr: NlMsgHeader) {
        self.hdr = hdr;
    }

    /// Appends one framed message, opening a new datagram when the current one is full.
    pub fn push(&mut self, msg: &[u8]) {
        match self.ready.back_mut() {
            Some(last) if last.len() + msg.len() <= DUMP_DATAGRAM => last.extend_from_slice(msg),
            _ => self.ready.push_back(msg.to_vec()),
        }
    }

    /// Ends the dump with `NLMSG_DONE` carrying `status` (0 or a negative errno).
    pub fn finish(&mut self, status: i32) {
        let mut b = Vec::with_capacity(20);
        nl::emit_done(&mut b, self.hdr.seq, self.hdr.pid, status);
        self.push(&b);
        self.flows = None;
        self.done = true;
    }

    /// The next datagram to send, producing it if need be; None once everything is sent.
    pub fn next(&mut self, model: &Model) -> Option<&[u8]> {
        if self.ready.is_empty() && !self.done {
            self.fill_flows(model);
        }
        self.ready.front().map(Vec::as_slice)
    }

    /// The datagram [`Dump::next`] returned has been sent.
    pub fn sent(&mut self) {
        self.ready.pop_front();
    }

    /// Produces the next datagram of a flow dump, resuming after the last flow sent.
    fn fill_flows(&mut self, model: &Model) {
        let Some(c) = &self.flows else {
            self.finish(0);
            return;
        };
        let (dp, after, ufid_flags) = (c.dp, c.after, c.ufid_flags);
        let Some(d) = model.datapath(dp) else {
            self.finish(-libc::ENODEV);
            return;
        };
        let how = FlowReply {
            cmd: odp::family::flow::FlowCmd::Get,
            hdr: self.hdr,
            multi: true,
            ufid_flags,
        };
        let mut dgram = Vec::with_capacity(DUMP_DATAGRAM);
        let mut msg = Vec::with_capacity(1024);
        let mut last = after;
        for (id, rec) in d.flows.records_after(after) {
            msg.clear();
            if flow_msg(d, id, rec, how, &mut msg).is_ok() {
                if !dgram.is_empty() && dgram.len() + msg.len() > DUMP_DATAGRAM {
                    self.ready.push_back(dgram);
                    if let Some(c) = &mut self.flows {
                        c.after = last;
                    }
                    return;
                }
                dgram.extend_from_slice(&msg);
            }
            last = Some(id);
        }
        if !dgram.is_empty() {
            self.ready.push_back(dgram);
        }
        self.finish(0);
    }
}
