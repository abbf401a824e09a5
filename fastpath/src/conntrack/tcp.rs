//! TCP connection tracking as the kernel does it (`net/netfilter/nf_conntrack_proto_tcp.c`):
//! the flag check of `tcp_error()`, the pick-up rules of `tcp_new()`, the state table
//! `tcp_conntracks`, the special cases of `nf_conntrack_tcp_packet()` (reopening closed
//! connections, resynchronising on ignored SYNs, RST validation, challenge ACKs) and the
//! window check of `tcp_in_window()` after Guido van Rooij's "Real Stateful TCP Packet
//! Filtering in IP Filter", with the kernel's timeouts and their caps.
//!
//! Sequence numbers are not adjusted for NAT: nothing that rewrites payload lengths (a
//! helper) runs before this.

use super::{seq_before, Dir};

mod segment;
mod window;

use flags::{ACK, FIN, RST, SYN};
pub use segment::{flags, Malformed, Segment};
use window::{Peer, Window};

/// The kernel's TCP connection states (`enum tcp_conntrack`), in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpState {
    /// Nothing seen yet.
    None = 0,
    /// SYN seen.
    SynSent,
    /// SYN+ACK seen.
    SynRecv,
    /// ACK seen after the SYN+ACK (or a connection picked up in the middle).
    Established,
    /// FIN seen.
    FinWait,
    /// ACK seen after a FIN.
    CloseWait,
    /// FIN seen after a FIN.
    LastAck,
    /// Last ACK seen.
    TimeWait,
    /// Closed (RST).
    Close,
    /// SYN seen from the reply direction too (simultaneous open).
    SynSent2,
}

/// Which of RST/SYN/FIN/ACK decides a segment's row in the state table
/// (`get_conntrack_index()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Index {
    Syn = 0,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

impl Index {
    fn of(f: u8) -> Index {
        if f & RST != 0 {
            Index::Rst
        } else if f & SYN != 0 {
            if f & ACK != 0 {
                Index::SynAck
            } else {
                Index::Syn
            }
        } else if f & FIN != 0 {
            Index::Fin
        } else if f & ACK != 0 {
            Index::Ack
        } else {
            Index::None
        }
    }
}

/// A state-table cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(TcpState),
    /// Let it through without a state change (`sIG`).
    Ignore,
    /// Not a segment of this connection (`sIV`).
    Invalid,
}

/// `tcp_conntracks[dir][index][state]`, the kernel's table: for each direction and segment
/// kind, the next state from each of the ten states (columns in [`TcpState`] order).
const TABLE: [[[Next; 10]; 6]; 2] = {
    use Next::{Ignore as IG, Invalid as IV};
    use TcpState as S;
    const NO: Next = Next::To(S::None);
    const SS: Next = Next::To(S::SynSent);
    const SR: Next = Next::To(S::SynRecv);
    const ES: Next = Next::To(S::Established);
    const FW: Next = Next::To(S::FinWait);
    const CW: Next = Next::To(S::CloseWait);
    const LA: Next = Next::To(S::LastAck);
    const TW: Next = Next::To(S::TimeWait);
    const CL: Next = Next::To(S::Close);
    const S2: Next = Next::To(S::SynSent2);
    let _ = NO;
    [
        // Original direction.     NO  SS  SR  ES  FW  CW  LA  TW  CL  S2
        [
            /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
            /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
            /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
            /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
            /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
            /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
        ],
        // Reply direction.        NO  SS  SR  ES  FW  CW  LA  TW  CL  S2
        [
            /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
            /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
            /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
            /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
            /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
            /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
        ],
    ]
};

// Per-direction flags (`IP_CT_TCP_FLAG_*`).
const WINDOW_SCALE: u8 = 0x01;
const SACK_PERM: u8 = 0x02;
const CLOSE_INIT: u8 = 0x04;
const BE_LIBERAL: u8 = 0x08;
const DATA_UNACKNOWLEDGED: u8 = 0x10;
const MAXACK_SET: u8 = 0x20;
// Flags of the last ignored segment.
const SIMULTANEOUS_OPEN: u8 = 0x04;
const CHALLENGE_ACK: u8 = 0x40;

/// The largest window scale (RFC 7323).
const MAX_WSCALE: u8 = 14;
/// The lower bound of an acceptable ACK lies this far (or the peer's largest window, if
/// larger) below the highest sequence number seen.
const MAX_ACK_WINDOW: u32 = 66_000;

/// The last segment that changed the connection, or that it let through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Last {
    dir: Dir,
    index: Index,
    seq: u32,
    ack: u32,
    end: u32,
    win: u16,
    wscale: u8,
    flags: u8,
    /// Identical ACKs in a row.
    retrans: u8,
}

/// Timeouts in seconds per state and for the two caps (`tcp_timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTimeouts {
    /// SYN_SENT.
    pub syn_sent: u32,
    /// SYN_RECV.
    pub syn_recv: u32,
    /// ESTABLISHED.
    pub established: u32,
    /// FIN_WAIT.
    pub fin_wait: u32,
    /// CLOSE_WAIT.
    pub close_wait: u32,
    /// LAST_ACK.
    pub last_ack: u32,
    /// TIME_WAIT.
    pub time_wait: u32,
    /// CLOSE.
    pub close: u32,
    /// SYN_SENT2.
    pub syn_sent2: u32,
    /// Cap after [`TcpPolicy::max_retrans`] retransmissions or a zero window.
    pub retrans: u32,
    /// Cap while data is unacknowledged, or a picked-up connection has no reply.
    pub unack: u32,
}

impl Default for TcpTimeouts {
    /// The kernel's defaults.
    fn default() -> Self {
        TcpTimeouts {
            syn_sent: 120,
            syn_recv: 60,
            established: 5 * 24 * 3600,
            fin_wait: 120,
            close_wait: 60,
            last_ack: 30,
            time_wait: 120,
            close: 10,
            syn_sent2: 120,
            retrans: 300,
            unack: 300,
        }
    }
}

impl TcpTimeouts {
    /// The timeout of `state` (NONE: SYN_SENT's, as the kernel's `timeouts[0]`).
    pub fn of(&self, state: TcpState) -> u32 {
        match state {
            TcpState::None | TcpState::SynSent => self.syn_sent,
            TcpState::SynRecv => self.syn_recv,
            TcpState::Established => self.established,
            TcpState::FinWait => self.fin_wait,
            TcpState::CloseWait => self.close_wait,
            TcpState::LastAck => self.last_ack,
            TcpState::TimeWait => self.time_wait,
            TcpState::Close => self.close,
            TcpState::SynSent2 => self.syn_sent2,
        }
    }
}

/// The knobs of the kernel's `nf_tcp_net`, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPolicy {
    /// Timeouts.
    pub timeouts: TcpTimeouts,
    /// Pick up connections in the middle (`nf_conntrack_tcp_loose`, default on).
    pub loose: bool,
    /// Accept out-of-window segments (`nf_conntrack_tcp_be_liberal`, default off).
    pub be_liberal: bool,
    /// Identical ACKs after which the retransmission cap applies (default 3).
    pub max_retrans: u8,
}

impl Default for TcpPolicy {
    fn default() -> Self {
        TcpPolicy {
            timeouts: TcpTimeouts::default(),
            loose: true,
            be_liberal: false,
            max_retrans: 3,
        }
    }
}

/// The connection-level status bits the generic tracker keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// A reply-direction packet was accepted before this one (`IPS_SEEN_REPLY`; set only
    /// after a reply is accepted, so the first reply still sees it clear).
    pub seen_reply: bool,
    /// The connection is assured (`IPS_ASSURED`).
    pub assured: bool,
}

/// What the tracker makes of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Part of the connection: its timer restarts at `timeout` seconds (`None`: it keeps
    /// running, as for a retransmitted SYN), and it is assured from now on if `assure`.
    Accept {
        /// New timeout in seconds.
        timeout: Option<u32>,
        /// The connection becomes assured.
        assure: bool,
    },
    /// Let through as part of the connection without changing it.
    Ignore,
    /// Not a valid segment of the connection: it travels untracked (OVS: `+inv`).
    Invalid,
    /// A SYN reopening a closed connection: delete it and track the segment as new.
    Reopen,
    /// Part of the connection, which ends now (an RST before any reply).
    Kill,
}

/// One TCP connection's tracking state (`struct ip_ct_tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConn {
    state: TcpState,
    seen: [Peer; 2],
    last: Last,
}

impl TcpConn {
    /// The state for a connection whose first packet is `seg` (`tcp_new()`), or `None`
    /// when the segment cannot start one (it is then invalid). [`TcpConn::packet`] is
    /// then run for the same segment, as the kernel does.
    pub fn new(seg: &Segment<'_>, policy: &TcpPolicy) -> Option<TcpConn> {
        let mut first = Peer {
            end: seg.end(),
            maxwin: u32::from(seg.win).max(1),
            ..Peer::default()
        };
        let mut reply = Peer::default();
        match TABLE[0][Index::of(seg.flags) as usize][TcpState::None as usize] {
            Next::To(TcpState::SynSent) => {
                first.maxend = first.end;
                first.read_options(seg.options);
            }
            Next::To(_) if policy.loose => {
                // Picked up in the middle: the history is lost, so assume SACK and accept
                // any window until both sides have been seen.
                first.maxend = first.end.wrapping_add(first.maxwin);
                first.flags = SACK_PERM | BE_LIBERAL;
                reply.flags = SACK_PERM | BE_LIBERAL;
            }
            _ => return None,
        }
        Some(TcpConn {
            state: TcpState::None,
            seen: [first, reply],
            last: Last {
                dir: Dir::Original,
                index: Index::None,
                seq: 0,
                ack: 0,
                end: 0,
                win: 0,
                wscale: 0,
                flags: 0,
                retrans: 0,
            },
        })
    }

    /// The connection's state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// Accepts any window from now on in both directions: what the kernel datapath's `ct`
    /// does for confirmed, established, assured connections (`net/openvswitch/conntrack.c`,
    /// `__ovs_ct_lookup()`), so later out-of-window segments are not `+inv`.
    pub fn be_liberal(&mut self) {
        self.seen[0].flags |= BE_LIBERAL;
        self.seen[1].flags |= BE_LIBERAL;
    }

    /// Whether the connection is ESTABLISHED (and, with `status.assured`, assured).
    pub fn established(&self) -> bool {
        self.state == TcpState::Established
    }

    /// Tracks `seg`, going in direction `dir`, on this connection whose status is `status`
    /// (`nf_conntrack_tcp_packet()`).
    pub fn packet(
        &mut self,
        dir: Dir,
        seg: &Segment<'_>,
        status: Status,
        policy: &TcpPolicy,
    ) -> Verdict {
        let index = Index::of(seg.flags);
        let mut old = self.state;
        let mut new = TABLE[dir.index()][index as usize][old as usize];
        let mut check_window = true;
        match new {
            Next::To(TcpState::SynSent) if old >= TcpState::TimeWait => {
                let closing = (self.seen[0].flags | self.seen[1].flags) & CLOSE_INIT != 0;
                if closing || (self.last.dir == dir && self.last.index == Index::Rst) {
                    return Verdict::Reopen;
                }
                match self.ignored(dir, index, seg, old) {
                    Some(v) => return v,
                    None => (old, new) = (TcpState::SynSent, Next::To(TcpState::SynRecv)),
                }
            }
            Next::Ignore => match self.ignored(dir, index, seg, old) {
                Some(v) => return v,
                None => (old, new) = (TcpState::SynSent, Next::To(TcpState::SynRecv)),
            },
            Next::Invalid => return Verdict::Invalid,
            Next::To(TcpState::TimeWait)
                if old == TcpState::LastAck
                    && index == Index::Ack
                    && self.last.dir != dir
                    && self.last.index == Index::Syn
                    && self.last.flags & CHALLENGE_ACK != 0 =>
            {
                // An RFC 5961 challenge ACK answering a SYN, not the ACK of the last FIN.
                self.last.flags &= !CHALLENGE_ACK;
                return Verdict::Ignore;
            }
            Next::To(TcpState::SynSent2) => self.last.flags |= SIMULTANEOUS_OPEN,
            Next::To(TcpState::SynRecv)
                if dir == Dir::Reply
                    && index == Index::Ack
                    && self.last.flags & SIMULTANEOUS_OPEN != 0 =>
            {
                new = Next::To(TcpState::Established);
            }
            Next::To(TcpState::Close) if index == Index::Rst => {
                let r = self.rst(dir, seg, status, old);
                if r.invalid {
                    return Verdict::Invalid;
                }
                if r.keep_state {
                    new = Next::To(old);
                }
                check_window = !r.skip_window;
            }
            _ => {}
        }
        let Next::To(new) = new else {
            return Verdict::Invalid;
        };
        if check_window {
            match self.in_window(dir, index, seg, policy) {
                Window::Accept => {}
                Window::Ignore => return Verdict::Ignore,
                Window::Invalid => return Verdict::Invalid,
            }
        }
        self.last.index = index;
        self.last.dir = dir;
        self.state = new;
        if old != new && new == TcpState::FinWait {
            self.seen[dir.index()].flags |= CLOSE_INIT;
        }
        let t = &policy.timeouts;
        let unacked = (self.seen[0].flags | self.seen[1].flags) & DATA_UNACKNOWLEDGED != 0;
        let mut timeout = if self.last.retrans >= policy.max_retrans && t.of(new) > t.retrans {
            t.retrans
        } else if index == Index::Rst {
            t.close
        } else if unacked && t.of(new) > t.unack {
            t.unack
        } else if self.last.win == 0 && t.of(new) > t.retrans {
            t.retrans
        } else {
            t.of(new)
        };
        let mut assure = false;
        if !status.seen_reply {
            // An RST as the only answer: no connection worth keeping.
            if seg.has(RST) {
                return Verdict::Kill;
            }
            // A retransmitted SYN does not renew the timer, or port reuse could keep an
            // unanswered entry alive for ever.
            if index == Index::Syn && old == TcpState::SynSent {
                return Verdict::Accept {
                    timeout: None,
                    assure: false,
                };
            }
            // Picked up without a reply: not for the ESTABLISHED timeout.
            if new == TcpState::Established {
                timeout = timeout.min(t.unack);
            }
        } else if !status.assured
            && matches!(old, TcpState::SynRecv | TcpState::Established)
            && new == TcpState::Established
        {
            assure = true;
        }
        Verdict::Accept {
            timeout: Some(timeout),
            assure,
        }
    }

    /// A segment the table ignores: either the SYN+ACK that shows the ends are in sync
    /// after a SYN the tracker ignored (then `None`: go on as SYN_SENT → SYN_RECV, with the
    /// ignored SYN's view restored), or it is noted and let through unchanged.
    fn ignored(
        &mut self,
        dir: Dir,
        index: Index,
        seg: &Segment<'_>,
        old: TcpState,
    ) -> Option<Verdict> {
        let l = self.last;
        if index == Index::SynAck && l.index == Index::Syn && l.dir != dir && seg.ack == l.end {
            let other = &mut self.seen[l.dir.index()];
            other.end = l.end;
            other.maxend = l.end;
            other.maxwin = u32::from(l.win).max(1);
            other.scale = l.wscale;
            self.last.flags &= !CHALLENGE_ACK;
            other.flags = self.last.flags;
            let this = &mut self.seen[dir.index()];
            *this = Peer {
                flags: this.flags & BE_LIBERAL,
                ..Peer::default()
            };
            return None;
        }
        self.last.index = index;
        self.last.dir = dir;
        self.last.seq = seg.seq;
        self.last.end = seg.end();
        self.last.win = seg.win;
        if index == Index::Syn && dir == Dir::Original {
            // Keep the SYN's options in case the peer answers it: then the ends are in
            // sync and this connection is not.
            let mut syn = Peer::default();
            syn.read_options(seg.options);
            self.last.flags = syn.flags & (WINDOW_SCALE | SACK_PERM);
            self.last.wscale = if syn.flags & WINDOW_SCALE != 0 {
                syn.scale
            } else {
                0
            };
            // A challenge ACK may follow, which must not count as ACKing the last FIN.
            if old == TcpState::LastAck {
                self.last.flags |= CHALLENGE_ACK;
            }
        }
        if old == TcpState::SynSent && index == Index::Ack && dir == Dir::Reply {
            // Possibly a challenge ACK answering the SYN.
            self.last.ack = seg.ack;
        }
        Some(Verdict::Ignore)
    }

    /// The extra checks an RST gets before it may close the connection.
    fn rst(&self, dir: Dir, seg: &Segment<'_>, status: Status, old: TcpState) -> RstCheck {
        let window = RstCheck::default();
        // Closing already: the tuple may be in use again, the window data is stale.
        if matches!(
            old,
            TcpState::FinWait
                | TcpState::LastAck
                | TcpState::TimeWait
                | TcpState::Close
                | TcpState::CloseWait
        ) {
            return RstCheck {
                skip_window: true,
                ..window
            };
        }
        let peer = &self.seen[dir.other().index()];
        let mut keep_state = false;
        if peer.flags & MAXACK_SET != 0 && self.last.index != Index::Syn {
            let established = old == TcpState::Established && status.assured;
            // SEQ 0 before establishment: an answer to a SYN let through.
            if seg.seq == 0 && !established {
                return window;
            }
            if seq_before(seg.seq, peer.maxack) {
                return RstCheck {
                    invalid: true,
                    ..window
                };
            }
            // The RST ending a train of data: its seq is where the data ended.
            let train =
                self.last.index == Index::Ack && self.last.dir == dir && seg.seq == self.last.end;
            if !established || seg.seq == peer.maxack || train {
                return window;
            }
            // Not exactly in sequence: keep the state for a challenge ACK.
            keep_state = true;
        }
        // An RST answering a SYN or ACK we let through (a half-open connection), or a
        // challenge ACK let through in SYN_SENT: no window check, it may acknowledge what
        // was ignored.
        let answers_ignored = ((status.seen_reply && self.last.index == Index::Syn)
            || (!status.assured && self.last.index == Index::Ack))
            && seg.ack == self.last.end;
        let answers_challenge = old == TcpState::SynSent
            && self.last.index == Index::Ack
            && self.last.dir == Dir::Reply
            && seg.seq == self.last.ack;
        RstCheck {
            invalid: false,
            keep_state,
            skip_window: answers_ignored || answers_challenge,
        }
    }
}

/// What the RST checks decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RstCheck {
    /// Out of sequence.
    invalid: bool,
    /// The state stays (a challenge ACK may follow).
    keep_state: bool,
    /// Accepted without the window check.
    skip_window: bool,
}

#[cfg(test)]
mod tests;
