//! Sending a datagram and its barrier, and accounting for the answers: which messages the
//! kernel's rules require an answer to, and which of those came before the barrier's ACK.

use std::collections::HashMap;
use std::time::Instant;

use odp::family::FamilyIds;
use odp::nl::{self, flags};

use crate::worker::Worker;

/// What the kernel's rules say about one message.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Required,
    Optional(&'static str),
}

/// Frames of a datagram as the daemon (and the kernel) walk them: `(offset, expectation)` for
/// every message with a header, plus the silences of what could not be framed.
fn frames(d: &[u8], ids: &FamilyIds) -> (Vec<(usize, Expect)>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut silent = Vec::new();
    let mut off = 0;
    while off < d.len() {
        let rest = &d[off..];
        if rest.len() < nl::NLMSG_HDRLEN {
            silent.push("runt tail < 16 bytes (dropped)");
            break;
        }
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let ty = u16::from_ne_bytes([rest[4], rest[5]]);
        let fl = u16::from_ne_bytes([rest[6], rest[7]]);
        if len < nl::NLMSG_HDRLEN || len > rest.len() {
            // The kernel drops the rest of the datagram silently; dpswitch answers EINVAL.
            out.push((off, Expect::Optional("nlmsg_len lie (kernel drops)")));
            break;
        }
        let e = if fl & flags::REQUEST == 0 || ty < 0x10 {
            if fl & flags::ACK != 0 {
                Expect::Required
            } else if ty < 0x10 {
                Expect::Optional("control type without ACK (ignored)")
            } else {
                Expect::Optional("no NLM_F_REQUEST, no ACK (ignored)")
            }
        } else if fl & flags::ACK != 0 {
            Expect::Required
        } else {
            let cmd = if len > nl::NLMSG_HDRLEN {
                Some(rest[16])
            } else {
                None
            };
            let get_family = [ids.datapath, ids.vport, ids.flow, nl::GENL_ID_CTRL].contains(&ty);
            if get_family && cmd == Some(3) {
                Expect::Required
            } else {
                Expect::Optional("no ACK and success (silent)")
            }
        };
        out.push((off, e));
        off += nl::align(len).min(rest.len());
    }
    (out, silent)
}

impl Worker {
    /// Stamps a fresh seq on every framed message; their expectations.
    fn stamp(&mut self, d: &mut [u8]) -> Vec<(u32, Expect)> {
        let (fr, _) = frames(d, &self.ctx.ids);
        let mut seqs = Vec::new();
        for (off, e) in fr {
            self.seq = self.seq.wrapping_add(1).max(2);
            d[off + 8..off + 12].copy_from_slice(&self.seq.to_ne_bytes());
            seqs.push((self.seq, e));
        }
        seqs
    }

    /// Sends one datagram and a barrier; tallies what came back.
    pub(crate) fn round(&mut self, mut d: Vec<u8>) {
        let expect = self.stamp(&mut d);
        let (_, silent) = frames(&d, &self.ctx.ids);
        self.t.requests += expect.len() as u64 + silent.len() as u64;
        for s in silent {
            *self.t.silences.entry(s).or_default() += 1;
        }
        self.t.datagrams += 1;
        let t0 = Instant::now();
        if let Err(e) = self.c.send_raw(&d) {
            // The kernel refuses some datagrams itself (none reach the daemon).
            *self.t.send_refused.entry(e.errno()).or_default() += 1;
            if e.errno() == nix::errno::Errno::ECONNREFUSED as i32 {
                self.t.unanswered += expect.len() as u64;
            }
            return;
        }
        let mut pending: HashMap<u32, (Expect, bool)> =
            expect.into_iter().map(|(s, e)| (s, (e, false))).collect();
        self.seq = self.seq.wrapping_add(1).max(2);
        let barrier = self.seq;
        let mut b = Vec::with_capacity(16);
        nl::NlMsgHeader {
            len: 16,
            ty: nl::NLMSG_NOOP,
            flags: flags::REQUEST | flags::ACK,
            seq: barrier,
            pid: 0,
        }
        .emit(&mut b);
        if self.c.send_raw(&b).is_err() {
            self.t.unanswered += 1;
            return;
        }
        let deadline = Instant::now() + self.timeout;
        let mut done = false;
        while !done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(dg) = self.c.recv_dgram(left) else {
                break;
            };
            for m in nl::messages(&dg) {
                let Ok((h, p)) = m else { break };
                if h.seq == barrier {
                    done = true;
                    continue;
                }
                match pending.get_mut(&h.seq) {
                    Some(slot) => {
                        if !slot.1 {
                            slot.1 = true;
                            self.t.answered += 1;
                        }
                        if h.ty == nl::NLMSG_ERROR && p.len() >= 4 {
                            let e = -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                            if e != 0 {
                                *self.t.errors.entry(e).or_default() += 1;
                            }
                        }
                    }
                    None => self.t.stray += 1,
                }
            }
        }
        self.t.max_rtt = self.t.max_rtt.max(t0.elapsed());
        if !done {
            self.t.unanswered += 1;
            self.t
                .unanswered_examples
                .push(format!("barrier seq {barrier} after {d:02x?}"));
        }
        for (seq, (e, got)) in pending {
            if got {
                continue;
            }
            match e {
                Expect::Required => {
                    self.t.unanswered += 1;
                    if self.t.unanswered_examples.len() < 10 {
                        self.t
                            .unanswered_examples
                            .push(format!("seq {seq} in {:02x?}", &d[..d.len().min(96)]));
                    }
                }
                Expect::Optional(why) => *self.t.silences.entry(why).or_default() += 1,
            }
        }
    }
}
