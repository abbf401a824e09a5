//! What a socket talking to dpswitch is owed, and what its receives may show.
//!
//! The kernel answers a generic-netlink request inside `sendmsg()`. OVS relies on it: it
//! reads the answers with `MSG_DONTWAIT` and takes `EAGAIN` as "no more answers, the rest
//! succeeded" (`lib/netlink-socket.c`, `nl_sock_transact_multiple__`) or as the end of a
//! dump (`nl_dump_refill`). dpswitch answers from another process a moment later, so the
//! library makes every request earn a terminal answer it can wait for:
//!
//! - [`Ledger::send`] sets `NLM_F_ACK` on every request without it (remembering which) and
//!   records each request as owed its terminal answer: `NLMSG_ERROR` for a request,
//!   `NLMSG_DONE` (or `NLMSG_ERROR`, when the dump cannot start) for a dump;
//! - [`Ledger::receive`] settles the answers in one received datagram, drops the success
//!   ACKs only the library asked for, and cuts the datagram where the kernel would have sent
//!   separate datagrams: each non-dump answer alone, a dump's consecutive `NLM_F_MULTI`
//!   messages (and its `NLMSG_DONE`) together. OVS reads one message per datagram in a
//!   transaction, so answers packed into one datagram would otherwise be lost.
//!
//! Answers are matched by sequence number, first owed first, whatever order the requests
//! left in; answers that match nothing (upcalls, notifications, stale answers) are shown
//! unchanged.

use std::collections::VecDeque;
use std::ops::Range;

use crate::nl::{self, Msg, F_ACK, F_MULTI, F_REQUEST, NLMSG_DONE, NLMSG_ERROR};

/// The most requests one socket may owe answers for; past it the oldest are forgotten (a
/// client that sends and never reads must not grow the ledger for ever).
const OWED_LIMIT: usize = 1 << 16;

/// How many requests the library stops waiting for (after a timeout) are still remembered,
/// so that their late ACKs are still swallowed.
const LATE_LIMIT: usize = 1024;

/// One request sent and not yet answered in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    id: u64,
    seq: u32,
    dump: bool,
    /// The library set `NLM_F_ACK`: a success ACK is its own and is not shown.
    added_ack: bool,
    /// Receives wait for its answer; false once the library gave up waiting.
    awaited: bool,
}

/// The requests of one datagram, as [`Ledger::send`] recorded them; hand it back to
/// [`Ledger::unsend`] when the datagram could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Sent {
    first: u64,
    end: u64,
}

/// The requests a socket has sent to dpswitch and not yet seen answered.
#[derive(Debug, Default)]
pub struct Ledger {
    owed: VecDeque<Owed>,
    next_id: u64,
}

impl Ledger {
    /// Prepares a datagram about to be sent (in place): `NLM_F_ACK` on every request that
    /// lacks it, and every request (or ACK-asking message) recorded as owed an answer.
    /// Messages after a malformed one are left alone: dpswitch does not answer them either.
    pub fn send(&mut self, datagram: &mut [u8]) -> Sent {
        let first = self.next_id;
        let msgs: Vec<Msg> = nl::walk(datagram).map_while(Result::ok).collect();
        for m in msgs {
            let f = m.hdr.flags;
            let added_ack = f & F_REQUEST != 0 && f & F_ACK == 0;
            if f & (F_REQUEST | F_ACK) == 0 {
                // Neither a request nor asking for an ACK: nothing comes back.
                continue;
            }
            if added_ack {
                nl::set_flag(datagram, m.start, F_ACK);
            }
            self.owed.push_back(Owed {
                id: self.next_id,
                seq: m.hdr.seq,
                dump: f & F_REQUEST != 0 && m.hdr.is_dump(),
                added_ack,
                awaited: true,
            });
            self.next_id += 1;
        }
        while self.owed.len() > OWED_LIMIT {
            self.owed.pop_front();
        }
        Sent {
            first,
            end: self.next_id,
        }
    }

    /// Forgets the requests of a datagram that was not sent after all.
    pub fn unsend(&mut self, sent: Sent) {
        self.owed
            .retain(|o| !(sent.first..sent.end).contains(&o.id));
    }

    /// Whether nothing is owed: receives need no help.
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// Whether an answer is still awaited: a receive that finds nothing waits for it.
    pub fn awaited(&self) -> bool {
        self.owed.iter().any(|o| o.awaited)
    }

    /// Stops waiting for every owed answer (dpswitch went silent, or answers were lost to a
    /// receive buffer overflow); the most recent are still remembered so that their ACKs,
    /// if they come late, are still swallowed.
    pub fn give_up(&mut self) {
        for o in &mut self.owed {
            o.awaited = false;
        }
        while self.owed.len() > LATE_LIMIT {
            self.owed.pop_front();
        }
    }

    /// The first owed request with `seq` that `fits`, removed.
    fn settle(&mut self, seq: u32, fits: impl Fn(&Owed) -> bool) -> Option<Owed> {
        let i = self.owed.iter().position(|o| o.seq == seq && fits(o))?;
        self.owed.remove(i)
    }

    /// Settles the answers in one received datagram and returns the parts of it to show, in
    /// order, each as the kernel would have sent it: one datagram per non-dump answer, dump
    /// parts of one dump together. Swallowed ACKs are in no part; an empty result means the
    /// whole datagram was swallowed.
    pub fn receive(&mut self, datagram: &[u8]) -> Vec<Range<usize>> {
        if datagram.is_empty() {
            return std::iter::once(0..0).collect();
        }
        let mut parts: Vec<Range<usize>> = Vec::new();
        // The seq of the dump whose parts the last part collects, while it may grow.
        let mut open_dump: Option<u32> = None;
        for step in nl::walk(datagram) {
            let m = match step {
                Ok(m) => m,
                Err(at) => {
                    // Bytes no peer should send: shown as they are, with what precedes them.
                    match parts.last_mut() {
                        Some(p) if p.end == at => p.end = datagram.len(),
                        _ => parts.push(at..datagram.len()),
                    }
                    break;
                }
            };
            let seq = m.hdr.seq;
            let grows = |parts: &[Range<usize>]| {
                open_dump == Some(seq) && parts.last().is_some_and(|p| p.end == m.start)
            };
            match m.hdr.ty {
                NLMSG_ERROR => {
                    open_dump = None;
                    let settled = self.settle(seq, |_| true);
                    let ok = nl::error_code(datagram, &m) == Some(0);
                    if settled.is_some_and(|o| o.added_ack) && ok {
                        continue;
                    }
                    parts.push(m.start..m.end);
                }
                NLMSG_DONE => {
                    self.settle(seq, |o| o.dump);
                    if grows(&parts) {
                        if let Some(p) = parts.last_mut() {
                            p.end = m.end;
                        }
                    } else {
                        parts.push(m.start..m.end);
                    }
                    open_dump = None;
                }
                _ if m.hdr.flags & F_MULTI != 0 => {
                    if grows(&parts) {
                        if let Some(p) = parts.last_mut() {
                            p.end = m.end;
                        }
                    } else {
                        parts.push(m.start..m.end);
                        open_dump = Some(seq);
                    }
                }
                _ => {
                    open_dump = None;
                    parts.push(m.start..m.end);
                }
            }
        }
        parts
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::nl::build::{done, error, genl};
    use crate::nl::{Header, F_DUMP};

    /// One part: the whole datagram of `n` bytes.
    pub(crate) fn whole(n: usize) -> Vec<Range<usize>> {
        std::iter::once(0..n).collect()
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn flags_of(d: &[u8]) -> Vec<u16> {
        nl::walk(d).map(|s| s.unwrap().hdr.flags).collect()
    }

    /// The parts of `d` as byte vectors.
    fn shown(d: &[u8], parts: &[Range<usize>]) -> Vec<Vec<u8>> {
        parts.iter().map(|r| d[r.clone()].to_vec()).collect()
    }

    #[test]
    fn requests_without_ack_get_one_and_dumps_keep_theirs() {
        let mut l = Ledger::default();
        let mut d = cat(&[
            genl(F_REQUEST, 1, 8),
            genl(F_REQUEST | F_ACK, 2, 8),
            genl(F_REQUEST | F_DUMP | F_ACK, 3, 0),
            genl(0, 4, 0),
        ]);
        let _ = l.send(&mut d);
        assert_eq!(
            flags_of(&d),
            [
                F_REQUEST | F_ACK,
                F_REQUEST | F_ACK,
                F_REQUEST | F_DUMP | F_ACK,
                0
            ]
        );
        // The message that is neither request nor asks for an ACK is owed nothing.
        assert_eq!(l.owed.len(), 3);
        assert!(l.awaited());
    }

    #[test]
    fn only_the_acks_the_library_added_are_swallowed() {
        let mut l = Ledger::default();
        let mut d = cat(&[genl(F_REQUEST, 1, 8), genl(F_REQUEST | F_ACK, 2, 8)]);
        let _ = l.send(&mut d);
        assert_eq!(l.receive(&error(1, 0)), Vec::<Range<usize>>::new());
        assert!(!l.is_empty());
        let ack2 = error(2, 0);
        assert_eq!(l.receive(&ack2), whole(ack2.len()));
        assert!(l.is_empty());
    }

    #[test]
    fn errors_mid_batch_are_shown_and_the_rest_swallowed() {
        let mut l = Ledger::default();
        let batch = || {
            cat(&[
                genl(F_REQUEST, 10, 8),
                genl(F_REQUEST, 11, 8),
                genl(F_REQUEST, 12, 8),
            ])
        };
        let _ = l.send(&mut batch());
        // One datagram per answer (the kernel's way) ...
        assert!(l.receive(&error(10, 0)).is_empty());
        let e = error(11, -libc::ENODEV);
        assert_eq!(l.receive(&e), whole(e.len()));
        assert!(l.receive(&error(12, 0)).is_empty());
        assert!(l.is_empty());
        // ... or all packed in one: the error alone is shown.
        let _ = l.send(&mut batch());
        let packed = cat(&[error(10, 0), e.clone(), error(12, 0)]);
        let parts = l.receive(&packed);
        assert_eq!(shown(&packed, &parts), [e]);
        assert!(l.is_empty());
    }

    #[test]
    fn packed_answers_are_cut_one_per_datagram() {
        let mut l = Ledger::default();
        let mut d = cat(&[
            genl(F_REQUEST, 1, 8),
            genl(F_REQUEST | F_ACK, 2, 8),
            genl(F_REQUEST, 3, 8),
        ]);
        let _ = l.send(&mut d);
        let (r1, r2, r3) = (genl(0, 1, 40), genl(0, 2, 40), genl(0, 3, 3));
        let packed = cat(&[
            r1.clone(),
            error(1, 0),
            r2.clone(),
            error(2, 0),
            r3.clone(),
            error(3, -libc::EINVAL),
        ]);
        let parts = l.receive(&packed);
        assert_eq!(
            shown(&packed, &parts),
            [r1, r2, error(2, 0), r3, error(3, -libc::EINVAL)]
        );
        assert!(l.is_empty());
    }

    #[test]
    fn a_reply_leaves_its_ack_owed_until_it_comes() {
        let mut l = Ledger::default();
        let mut d = genl(F_REQUEST, 5, 8);
        let _ = l.send(&mut d);
        let r = genl(0, 5, 100);
        assert_eq!(l.receive(&r), whole(r.len()));
        assert!(l.awaited(), "the ACK is still to come");
        assert!(l.receive(&error(5, 0)).is_empty());
        assert!(l.is_empty());
    }

    #[test]
    fn a_dump_stays_together_and_ends_at_done() {
        let mut l = Ledger::default();
        let mut d = genl(F_REQUEST | F_DUMP | F_ACK, 7, 0);
        let _ = l.send(&mut d);
        // First datagram: parts of the dump only.
        let a = cat(&[genl(F_MULTI, 7, 500), genl(F_MULTI, 7, 700)]);
        assert_eq!(l.receive(&a), whole(a.len()));
        assert!(l.awaited(), "no DONE yet");
        // Last: more parts and DONE, shown as one datagram.
        let b = cat(&[genl(F_MULTI, 7, 300), done(7)]);
        assert_eq!(l.receive(&b), whole(b.len()));
        assert!(l.is_empty());
    }

    #[test]
    fn a_dump_refused_at_the_start_ends_with_its_error() {
        let mut l = Ledger::default();
        let mut d = genl(F_REQUEST | F_DUMP | F_ACK, 7, 0);
        let _ = l.send(&mut d);
        let e = error(7, -libc::EOPNOTSUPP);
        assert_eq!(l.receive(&e), whole(e.len()));
        assert!(l.is_empty());
    }

    #[test]
    fn answers_before_a_dump_in_one_datagram_are_cut_from_it() {
        let mut l = Ledger::default();
        let mut d = cat(&[
            genl(F_REQUEST, 1, 8),
            genl(F_REQUEST | F_DUMP | F_ACK, 2, 0),
        ]);
        let _ = l.send(&mut d);
        let r1 = genl(0, 1, 20);
        let dump = cat(&[genl(F_MULTI, 2, 20), done(2)]);
        let packed = cat(&[r1.clone(), error(1, 0), dump.clone()]);
        let parts = l.receive(&packed);
        assert_eq!(shown(&packed, &parts), [r1, dump]);
        assert!(l.is_empty());
    }

    #[test]
    fn stray_messages_pass_unchanged_and_settle_nothing() {
        let mut l = Ledger::default();
        let mut d = genl(F_REQUEST, 1, 8);
        let _ = l.send(&mut d);
        // An upcall (seq 0), a stale ACK and a DONE of no dump of ours.
        let upcall = genl(0, 0, 64);
        let stale = error(99, 0);
        let stray_done = done(1);
        for m in [&upcall, &stale, &stray_done] {
            assert_eq!(l.receive(m), whole(m.len()));
        }
        assert!(l.awaited(), "request 1 is still owed its ACK");
    }

    #[test]
    fn same_seq_requests_are_settled_in_order() {
        let mut l = Ledger::default();
        let mut d = cat(&[genl(F_REQUEST, 0, 8), genl(F_REQUEST | F_ACK, 0, 8)]);
        let _ = l.send(&mut d);
        // The first answer settles the first request: its ACK was added and is swallowed.
        assert!(l.receive(&error(0, 0)).is_empty());
        let ack = error(0, 0);
        assert_eq!(l.receive(&ack), whole(ack.len()));
        assert!(l.is_empty());
    }

    #[test]
    fn unsend_forgets_exactly_that_datagram() {
        let mut l = Ledger::default();
        let mut a = genl(F_REQUEST, 1, 8);
        let mut b = cat(&[genl(F_REQUEST, 2, 8), genl(F_REQUEST, 3, 8)]);
        let _ = l.send(&mut a);
        let sent = l.send(&mut b);
        l.unsend(sent);
        assert_eq!(l.owed.iter().map(|o| o.seq).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn after_giving_up_late_acks_are_still_swallowed_but_not_awaited() {
        let mut l = Ledger::default();
        for seq in 0..(LATE_LIMIT as u32 + 10) {
            let _ = l.send(&mut genl(F_REQUEST, seq, 0));
        }
        l.give_up();
        assert!(!l.awaited());
        assert!(!l.is_empty());
        assert_eq!(l.owed.len(), LATE_LIMIT, "the oldest are forgotten");
        assert!(l.receive(&error(LATE_LIMIT as u32 + 9, 0)).is_empty());
        // Forgotten: shown.
        let e = error(0, 0);
        assert_eq!(l.receive(&e), whole(e.len()));
    }

    #[test]
    fn malformed_bytes_are_shown_with_what_precedes_them() {
        let mut l = Ledger::default();
        let r = genl(F_MULTI, 4, 8);
        let mut d = r.clone();
        d.extend_from_slice(&[0xff; 6]);
        assert_eq!(l.receive(&d), whole(d.len()));
        let junk = [1u8, 2, 3];
        assert_eq!(l.receive(&junk), whole(3));
        assert_eq!(l.receive(&[]), whole(0), "an empty datagram is shown");
    }

    #[test]
    fn a_malformed_request_stops_the_ledger_there() {
        let mut l = Ledger::default();
        let mut d = genl(F_REQUEST, 1, 8);
        let mut bad = genl(F_REQUEST, 2, 8);
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        d.extend(bad);
        let _ = l.send(&mut d);
        assert_eq!(l.owed.len(), 1);
        assert_eq!(
            Header::parse(&d[d.len() - 28..]).unwrap().flags,
            F_REQUEST,
            "left as it was"
        );
    }
}
