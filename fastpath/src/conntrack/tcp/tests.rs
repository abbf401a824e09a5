use super::flags::{CWR, ECE, PSH, URG};
use super::segment::highest_sack;
use super::*;

const DAYS5: u32 = 5 * 24 * 3600;
const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

fn seg(flags: u8, seq: u32, ack: u32, payload: u32) -> Segment<'static> {
    Segment {
        seq,
        ack,
        win: 65535,
        flags,
        payload,
        options: &[],
    }
}

fn accept(timeout: u32) -> Verdict {
    Verdict::Accept {
        timeout: Some(timeout),
        assure: false,
    }
}

/// A connection as the generic tracker would hold it: state plus status bits.
struct Conn {
    tcp: TcpConn,
    status: Status,
    policy: TcpPolicy,
}

impl Conn {
    fn open(first: &Segment<'_>) -> (Conn, Verdict) {
        Conn::open_with(first, TcpPolicy::default())
    }

    fn open_with(first: &Segment<'_>, policy: TcpPolicy) -> (Conn, Verdict) {
        let tcp = TcpConn::new(first, &policy).expect("a segment that starts a connection");
        let mut c = Conn {
            tcp,
            status: Status::default(),
            policy,
        };
        let v = c.send(Dir::Original, first);
        (c, v)
    }

    /// Tracks `s` and keeps the status bits as the kernel's `nf_conntrack_in()` does.
    fn send(&mut self, dir: Dir, s: &Segment<'_>) -> Verdict {
        let v = self.tcp.packet(dir, s, self.status, &self.policy);
        if let Verdict::Accept { assure: true, .. } = v {
            self.status.assured = true;
        }
        if dir == Dir::Reply && v != Verdict::Invalid {
            self.status.seen_reply = true;
        }
        v
    }

    /// SYN, SYN+ACK, ACK.
    fn established() -> Conn {
        let (mut c, _) = Conn::open(&seg(SYN, C_ISN, 0, 0));
        c.send(Dir::Reply, &seg(SYN | ACK, S_ISN, C_ISN + 1, 0));
        c.send(Dir::Original, &seg(ACK, C_ISN + 1, S_ISN + 1, 0));
        assert_eq!(c.tcp.state(), TcpState::Established);
        c
    }
}

#[test]
fn the_three_way_handshake_establishes_and_assures_the_connection() {
    let (mut c, v) = Conn::open(&seg(SYN, C_ISN, 0, 0));
    assert_eq!(v, accept(120));
    assert_eq!(c.tcp.state(), TcpState::SynSent);
    let v = c.send(Dir::Reply, &seg(SYN | ACK, S_ISN, C_ISN + 1, 0));
    assert_eq!(v, accept(60));
    assert_eq!(c.tcp.state(), TcpState::SynRecv);
    let v = c.send(Dir::Original, &seg(ACK, C_ISN + 1, S_ISN + 1, 0));
    assert_eq!(
        v,
        Verdict::Accept {
            timeout: Some(DAYS5),
            assure: true
        }
    );
    assert_eq!(c.tcp.state(), TcpState::Established);
}

#[test]
fn unacknowledged_data_caps_the_timeout_until_it_is_acked() {
    let mut c = Conn::established();
    let v = c.send(Dir::Original, &seg(ACK | PSH, C_ISN + 1, S_ISN + 1, 100));
    assert_eq!(v, accept(300));
    let v = c.send(Dir::Reply, &seg(ACK, S_ISN + 1, C_ISN + 101, 0));
    assert_eq!(v, accept(DAYS5));
}

#[test]
fn only_segments_that_can_open_a_connection_start_one() {
    let p = TcpPolicy::default();
    assert!(TcpConn::new(&seg(SYN | ACK, S_ISN, C_ISN, 0), &p).is_none());
    assert!(TcpConn::new(&seg(FIN | ACK, C_ISN, S_ISN, 0), &p).is_none());
    assert!(TcpConn::new(&seg(RST, C_ISN, 0, 0), &p).is_none());
    assert!(TcpConn::new(&seg(ACK, C_ISN, S_ISN, 0), &p).is_some());
    let strict = TcpPolicy { loose: false, ..p };
    assert!(TcpConn::new(&seg(ACK, C_ISN, S_ISN, 0), &strict).is_none());
}

#[test]
fn a_connection_picked_up_mid_stream_is_liberal_and_short_lived_until_answered() {
    let (mut c, v) = Conn::open(&seg(ACK, C_ISN, S_ISN, 10));
    assert_eq!(c.tcp.state(), TcpState::Established);
    assert_eq!(v, accept(300), "no reply yet: not the ESTABLISHED timeout");
    // Far outside any window the tracker could know: accepted all the same.
    let v = c.send(Dir::Original, &seg(ACK, C_ISN + 50_000_000, S_ISN, 10));
    assert!(matches!(v, Verdict::Accept { .. }));
}

#[test]
fn the_originator_may_not_ack_before_the_syn_ack() {
    let (mut c, _) = Conn::open(&seg(SYN, C_ISN, 0, 0));
    assert_eq!(
        c.send(Dir::Original, &seg(ACK, C_ISN + 1, S_ISN + 1, 0)),
        Verdict::Invalid
    );
    assert_eq!(c.tcp.state(), TcpState::SynSent);
}

#[test]
fn a_retransmitted_syn_does_not_renew_the_timer() {
    let (mut c, _) = Conn::open(&seg(SYN, C_ISN, 0, 0));
    assert_eq!(
        c.send(Dir::Original, &seg(SYN, C_ISN, 0, 0)),
        Verdict::Accept {
            timeout: None,
            assure: false
        }
    );
}

#[test]
fn data_beyond_the_receivers_window_is_invalid_unless_liberal() {
    let mut c = Conn::established();
    let far = seg(ACK | PSH, C_ISN + 10_000_000, S_ISN + 1, 10);
    assert_eq!(c.send(Dir::Original, &far), Verdict::Invalid);
    let mut liberal = Conn::established();
    liberal.policy.be_liberal = true;
    assert!(matches!(
        liberal.send(Dir::Original, &far),
        Verdict::Accept { .. }
    ));
    // What the kernel datapath's ct does for established, assured connections.
    c.tcp.be_liberal();
    assert!(matches!(
        c.send(Dir::Original, &far),
        Verdict::Accept { .. }
    ));
}

#[test]
fn acking_data_never_sent_is_invalid() {
    let mut c = Conn::established();
    assert_eq!(
        c.send(Dir::Reply, &seg(ACK, S_ISN + 1, C_ISN + 501, 0)),
        Verdict::Invalid
    );
}

#[test]
fn a_retransmission_of_long_acknowledged_data_is_ignored() {
    let mut c = Conn::established();
    let old = seg(ACK | PSH, (C_ISN + 1).wrapping_sub(200_000), S_ISN + 1, 100);
    assert_eq!(c.send(Dir::Original, &old), Verdict::Ignore);
    assert_eq!(c.tcp.state(), TcpState::Established);
}

#[test]
fn the_close_handshake_walks_fin_wait_close_wait_last_ack_time_wait() {
    let mut c = Conn::established();
    let steps = [
        (
            Dir::Original,
            seg(FIN | ACK, C_ISN + 1, S_ISN + 1, 0),
            TcpState::FinWait,
            120,
        ),
        (
            Dir::Reply,
            seg(ACK, S_ISN + 1, C_ISN + 2, 0),
            TcpState::CloseWait,
            60,
        ),
        (
            Dir::Reply,
            seg(FIN | ACK, S_ISN + 1, C_ISN + 2, 0),
            TcpState::LastAck,
            30,
        ),
        (
            Dir::Original,
            seg(ACK, C_ISN + 2, S_ISN + 2, 0),
            TcpState::TimeWait,
            120,
        ),
    ];
    for (dir, s, state, timeout) in steps {
        assert_eq!(c.send(dir, &s), accept(timeout), "into {state:?}");
        assert_eq!(c.tcp.state(), state);
    }
    // A new SYN on the closed connection replaces it.
    assert_eq!(
        c.send(Dir::Original, &seg(SYN, C_ISN + 9000, 0, 0)),
        Verdict::Reopen
    );
}

#[test]
fn an_rst_in_sequence_closes_and_one_behind_the_acks_is_invalid() {
    let mut c = Conn::established();
    assert_eq!(
        c.send(Dir::Reply, &seg(RST | ACK, S_ISN - 1000, C_ISN + 1, 0)),
        Verdict::Invalid
    );
    assert_eq!(c.tcp.state(), TcpState::Established);
    assert_eq!(
        c.send(Dir::Reply, &seg(RST | ACK, S_ISN + 1, C_ISN + 1, 0)),
        accept(10)
    );
    assert_eq!(c.tcp.state(), TcpState::Close);
}

#[test]
fn an_rst_in_the_window_but_not_in_sequence_keeps_the_state_for_a_challenge_ack() {
    let mut c = Conn::established();
    assert_eq!(
        c.send(Dir::Reply, &seg(RST | ACK, S_ISN + 11, C_ISN + 1, 0)),
        accept(10)
    );
    assert_eq!(c.tcp.state(), TcpState::Established);
}

#[test]
fn an_rst_as_the_only_answer_kills_the_connection() {
    let (mut c, _) = Conn::open(&seg(SYN, C_ISN, 0, 0));
    assert_eq!(
        c.send(Dir::Reply, &seg(RST | ACK, 0, C_ISN + 1, 0)),
        Verdict::Kill
    );
}

#[test]
fn repeated_identical_acks_cap_the_timeout_at_the_retransmission_timeout() {
    let mut c = Conn::established();
    let dup = seg(ACK, C_ISN + 1, S_ISN + 1, 0);
    // The handshake's ACK was the first; the third repeat reaches max_retrans.
    assert_eq!(c.send(Dir::Original, &dup), accept(DAYS5));
    assert_eq!(c.send(Dir::Original, &dup), accept(DAYS5));
    assert_eq!(c.send(Dir::Original, &dup), accept(300));
}

#[test]
fn window_scaling_applies_only_when_both_sides_offer_it() {
    const WS7: &[u8] = &[1, 3, 3, 7];
    let offer = |flags, seq, ack, options| Segment {
        seq,
        ack,
        win: 512,
        flags,
        payload: 0,
        options,
    };
    let (mut both, _) = Conn::open(&offer(SYN, C_ISN, 0, WS7));
    both.send(Dir::Reply, &offer(SYN | ACK, S_ISN, C_ISN + 1, WS7));
    assert_eq!((both.tcp.seen[0].scale, both.tcp.seen[1].scale), (7, 7));
    let (mut one, _) = Conn::open(&offer(SYN, C_ISN, 0, WS7));
    one.send(Dir::Reply, &offer(SYN | ACK, S_ISN, C_ISN + 1, &[]));
    assert_eq!((one.tcp.seen[0].scale, one.tcp.seen[1].scale), (0, 0));
}

#[test]
fn an_ignored_syn_answered_by_the_peer_resynchronises_the_tracker() {
    // The tracker holds a connection in TIME_WAIT-less limbo: ESTABLISHED, yet the client
    // opens anew with the same ports. The SYN is ignored, the server's SYN+ACK for it
    // shows both ends agree, and the tracker follows them into SYN_RECV.
    let mut c = Conn::established();
    let syn = seg(SYN, 90_000, 0, 0);
    assert_eq!(c.send(Dir::Original, &syn), Verdict::Ignore);
    let v = c.send(Dir::Reply, &seg(SYN | ACK, 700_000, 90_001, 0));
    assert!(matches!(v, Verdict::Accept { .. }), "{v:?}");
    assert_eq!(c.tcp.state(), TcpState::SynRecv);
}

#[test]
fn segments_with_impossible_flags_or_short_headers_are_malformed() {
    let mut hdr = [0u8; 20];
    hdr[12] = 5 << 4;
    for (flags, ok) in [
        (SYN, true),
        (SYN | ACK | PSH | ECE | CWR, true),
        (FIN | ACK | URG, true),
        (SYN | FIN, false),
        (0, false),
        (FIN, false),
        (SYN | RST, false),
    ] {
        hdr[13] = flags;
        assert_eq!(Segment::parse(&hdr).is_ok(), ok, "flags {flags:#x}");
    }
    hdr[13] = ACK;
    assert_eq!(Segment::parse(&hdr[..19]), Err(Malformed::Truncated));
    hdr[12] = 6 << 4;
    assert_eq!(Segment::parse(&hdr), Err(Malformed::Truncated));
    hdr[12] = 4 << 4;
    assert_eq!(Segment::parse(&hdr), Err(Malformed::Truncated));
}

#[test]
fn a_segment_parses_its_numbers_options_and_payload() {
    let mut tcp = vec![0u8; 24 + 7];
    tcp[4..8].copy_from_slice(&7u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&9u32.to_be_bytes());
    tcp[12] = 6 << 4;
    tcp[13] = SYN | ACK;
    tcp[14..16].copy_from_slice(&1234u16.to_be_bytes());
    tcp[20..24].copy_from_slice(&[1, 3, 3, 2]);
    let s = Segment::parse(&tcp).expect("valid");
    assert_eq!((s.seq, s.ack, s.win, s.payload), (7, 9, 1234, 7));
    assert_eq!(s.options, &[1, 3, 3, 2]);
    assert_eq!(s.end(), 7 + 7 + 1);
}

#[test]
fn the_highest_sack_edge_beyond_the_ack_is_used() {
    // NOP, NOP, SACK with two blocks.
    let mut opts = vec![1, 1, 5, 18];
    for (l, r) in [(100u32, 200u32), (300, 400)] {
        opts.extend(l.to_be_bytes());
        opts.extend(r.to_be_bytes());
    }
    assert_eq!(highest_sack(&opts, 50), 400);
    assert_eq!(highest_sack(&opts, 500), 500);
    // A malformed SACK length is skipped.
    assert_eq!(highest_sack(&[5, 7, 0, 0, 0, 0, 0], 50), 50);
}
