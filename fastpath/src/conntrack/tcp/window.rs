//! The window check (`tcp_in_window()`, after Guido van Rooij's "Real Stateful TCP Packet
//! Filtering in IP Filter"): what each direction has sent and may send, and whether a
//! segment fits.

use super::segment::{
    flags::{ACK, RST, SYN},
    for_each_option, highest_sack, Segment,
};
use super::{
    Index, TcpConn, TcpPolicy, TcpState, BE_LIBERAL, DATA_UNACKNOWLEDGED, MAXACK_SET,
    MAX_ACK_WINDOW, MAX_WSCALE, SACK_PERM, WINDOW_SCALE,
};
use crate::conntrack::{seq_after, seq_before, Dir};

/// What one direction has sent (`struct ip_ct_tcp_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Peer {
    /// Highest sequence number sent, plus one.
    pub(super) end: u32,
    /// Highest sequence number the other side's window allows.
    pub(super) maxend: u32,
    /// Largest window seen.
    pub(super) maxwin: u32,
    /// Highest ACK sent.
    pub(super) maxack: u32,
    pub(super) scale: u8,
    pub(super) flags: u8,
}

impl Peer {
    /// Reads window scaling and SACK permission from a SYN's options (`tcp_options()`).
    pub(super) fn read_options(&mut self, opts: &[u8]) {
        self.scale = 0;
        self.flags &= BE_LIBERAL;
        for_each_option(opts, |kind, data| match (kind, data.len()) {
            (4, 0) => self.flags |= SACK_PERM,
            (3, 1) => {
                self.scale = data[0].min(MAX_WSCALE);
                self.flags |= WINDOW_SCALE;
            }
            _ => {}
        });
    }

    /// A SYN from this side (or a SYN+ACK) sets its view afresh (`tcp_init_sender()`).
    fn init_sender(&mut self, receiver: &mut Peer, seg: &Segment<'_>, dir: Dir) {
        self.end = seg.end();
        self.maxend = self.end;
        self.maxwin = u32::from(seg.win).max(1);
        self.read_options(seg.options);
        // RFC 7323: scaling only if both sides offered it.
        if dir == Dir::Reply && (self.flags & receiver.flags & WINDOW_SCALE) == 0 {
            self.scale = 0;
            receiver.scale = 0;
        }
    }

    fn max_ack_window(&self) -> u32 {
        self.maxwin.max(MAX_ACK_WINDOW)
    }
}

impl TcpConn {
    /// The window check (`tcp_in_window()`); updates both directions' views on success.
    pub(super) fn in_window(
        &mut self,
        dir: Dir,
        index: Index,
        seg: &Segment<'_>,
        p: &TcpPolicy,
    ) -> Window {
        let state = self.state;
        let [a, b] = &mut self.seen;
        let (sender, receiver) = match dir {
            Dir::Original => (a, b),
            Dir::Reply => (b, a),
        };
        let last = &mut self.last;
        let mut seq = seg.seq;
        let mut ack = seg.ack;
        let mut end = seg.end();
        let mut win = u32::from(seg.win);
        let mut sack = if receiver.flags & SACK_PERM != 0 {
            highest_sack(seg.options, ack)
        } else {
            ack
        };
        if sender.maxwin == 0 {
            if seg.has(SYN) {
                // The SYN+ACK answering a SYN, or the reply side's SYN of a simultaneous open.
                sender.init_sender(receiver, seg, dir);
                if !seg.has(ACK) {
                    return Window::Accept;
                }
            } else {
                // Picked up in the middle: take what the segment says.
                sender.end = end;
                let swin = win << sender.scale;
                sender.maxwin = swin.max(1);
                sender.maxend = end.wrapping_add(sender.maxwin);
                if receiver.maxwin == 0 {
                    // Nothing seen the other way yet: let the ACK bounds pass until then.
                    receiver.end = sack;
                    receiver.maxend = sack;
                } else if sack == receiver.end.wrapping_add(1) {
                    // Likely the answer to a keepalive.
                    receiver.end = receiver.end.wrapping_add(1);
                }
            }
        } else if seg.has(SYN)
            && seq_after(end, sender.end)
            && matches!(state, TcpState::SynSent | TcpState::SynRecv)
        {
            // A reinitialised TCP may send a new SYN (RFC 793) with higher numbers.
            sender.init_sender(receiver, seg, dir);
            if dir == Dir::Reply && !seg.has(ACK) {
                return Window::Accept;
            }
        }
        if !seg.has(ACK) || (seg.has(ACK) && seg.has(RST) && ack == 0) {
            // No ACK (or the zero ACK of broken stacks' RSTs): pretend it acked all.
            ack = receiver.end;
            sack = ack;
        }
        if seg.has(RST) && seq == 0 && state == TcpState::SynSent {
            // An RST answering the SYN.
            seq = sender.end;
            end = sender.end;
        }
        let liberal = sender.flags & BE_LIBERAL != 0 || p.be_liberal;
        let fail = |w: Window| if liberal { Window::Accept } else { w };
        let ack_window = sender.max_ack_window();
        let ack_floor = receiver.end.wrapping_sub(ack_window).wrapping_sub(1);
        if !seq_before(seq, sender.maxend.wrapping_add(1)) {
            // Beyond the receiver's window. A sender overshooting by less than a window,
            // with a sane ACK, is tolerated and its data noted, so the ACK for it passes.
            let overshot = end.wrapping_sub(sender.maxend).wrapping_add(1);
            let in_recv_win = receiver.maxwin != 0
                && seq_after(
                    end,
                    sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
                );
            if in_recv_win
                && seq_after(sack, ack_floor)
                && overshot <= receiver.maxwin
                && seq_before(sack, receiver.end.wrapping_add(1))
            {
                sender.end = end;
                sender.flags |= DATA_UNACKNOWLEDGED;
                return fail(Window::Ignore);
            }
            return fail(Window::Invalid);
        }
        // Acknowledging data not seen yet.
        if !seq_before(sack, receiver.end.wrapping_add(1)) {
            return fail(Window::Invalid);
        }
        // Entirely below the window: a retransmission of acknowledged data.
        let in_recv_win = receiver.maxwin == 0
            || seq_after(
                end,
                sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
            );
        if !in_recv_win {
            return fail(Window::Ignore);
        }
        // An ACK too old to matter.
        if !seq_after(sack, ack_floor) {
            return fail(Window::Ignore);
        }
        if !seg.has(SYN) {
            win <<= sender.scale;
        }
        let swin = win.wrapping_add(sack.wrapping_sub(ack));
        sender.maxwin = sender.maxwin.max(swin);
        if seq_after(end, sender.end) {
            sender.end = end;
            sender.flags |= DATA_UNACKNOWLEDGED;
        }
        if seg.has(ACK) {
            if sender.flags & MAXACK_SET == 0 {
                sender.maxack = ack;
                sender.flags |= MAXACK_SET;
            } else if seq_after(ack, sender.maxack) {
                sender.maxack = ack;
            }
        }
        if receiver.maxwin != 0 && seq_after(end, sender.maxend) {
            receiver.maxwin = receiver
                .maxwin
                .wrapping_add(end.wrapping_sub(sender.maxend));
        }
        if seq_after(sack.wrapping_add(win), receiver.maxend.wrapping_sub(1)) {
            receiver.maxend = sack.wrapping_add(win);
            if win == 0 {
                receiver.maxend = receiver.maxend.wrapping_add(1);
            }
        }
        if ack == receiver.end {
            receiver.flags &= !DATA_UNACKNOWLEDGED;
        }
        if index == Index::Ack {
            let same = last.dir == dir
                && last.seq == seq
                && last.ack == ack
                && last.end == end
                && last.win == seg.win;
            if same {
                last.retrans = last.retrans.saturating_add(1);
            } else {
                last.dir = dir;
                last.seq = seq;
                last.ack = ack;
                last.end = end;
                last.win = seg.win;
                last.retrans = 0;
            }
        }
        Window::Accept
    }
}

/// The window check's answer (`enum nf_ct_tcp_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    Accept,
    Ignore,
    Invalid,
}
