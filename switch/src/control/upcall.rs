//! MISS and ACTION upcalls on the wire (`net/openvswitch/datapath.c`, `queue_userspace_packet()`),
//! sent without blocking: a full or missing receiver loses the upcall, as in the kernel.
//!
//! A receiver whose queue was full stays full until it reads, which takes it far longer
//! than the control thread takes to build and send the next upcall; the kernel pays for
//! each doomed attempt in softirq context, but here every one would be an encode and a
//! `sendto(2)` on the core the receiver itself needs (a miss storm spent most of the control
//! thread in them). So for [`FULL_BACKOFF`] after an `EAGAIN`, upcalls to that receiver are
//! counted lost without being built.

use std::time::{Duration, Instant};

use fastpath::wire;
use odp::dpswitch::FAMILY_IDS;
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::OvsMessage;

use crate::slowpath::{UpcallMsg, UpcallSink};
use nlio::NetlinkSocket;

/// How long a receiver that refused an upcall for want of room is left alone: well under
/// the time vswitchd takes to handle the upcalls that filled it (a receive buffer holds
/// hundreds, each about 10 µs of a handler's time), so it never runs dry.
pub(super) const FULL_BACKOFF: Duration = Duration::from_millis(1);

/// The upcall encoder's reused buffer and the receiver last found full.
#[derive(Debug, Default)]
pub(super) struct UpcallOut {
    buf: Vec<u8>,
    /// The receiver that last refused an upcall for want of room, and its back-off's end.
    /// Another full receiver takes its place on its own first refusal.
    full: Option<(u32, Instant)>,
}

impl UpcallOut {
    /// The receiver last found full is in its back-off.
    pub(super) fn refusing(&self) -> bool {
        self.full.is_some_and(|(_, until)| Instant::now() < until)
    }
}

/// Encodes upcalls into a reused buffer and sends them on the server's socket.
#[derive(Debug)]
pub(super) struct Upcalls<'a> {
    pub(super) sock: &'a NetlinkSocket,
    pub(super) out: &'a mut UpcallOut,
}

impl UpcallSink for Upcalls<'_> {
    fn refusing(&self) -> bool {
        self.out.refusing()
    }

    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
        let now = Instant::now();
        if self
            .out
            .full
            .is_some_and(|(pid, until)| pid == msg.pid && now < until)
        {
            return false;
        }
        let body = PacketAttrs {
            packet: Some(msg.packet.to_vec()),
            key: Some(wire::key_to_odp(msg.key)),
            userdata: msg.userdata.map(<[u8]>::to_vec),
            len: msg.orig_len.and_then(|l| u32::try_from(l).ok()),
            // Low 32 bits: the hash; bit 32: a software hash.
            hash: Some(u64::from(msg.hash) | 1 << 32),
            unaligned: msg.unaligned,
            ..PacketAttrs::default()
        };
        let cmd = if msg.action {
            PacketCmd::Action
        } else {
            PacketCmd::Miss
        };
        let mut m = OvsMessage::new(cmd, i32::try_from(msg.dp_ifindex).unwrap_or(0), body);
        m.family = FAMILY_IDS.packet;
        let buf = &mut self.out.buf;
        buf.clear();
        if m.emit(buf).is_err() {
            // Too large for one attribute: EFBIG in the kernel, a lost upcall.
            return false;
        }
        match self.sock.send_to(msg.pid, buf) {
            Ok(()) => true,
            Err(e) => {
                if e.raw_os_error() == Some(libc::EAGAIN) {
                    self.out.full = Some((msg.pid, now + FULL_BACKOFF));
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fastpath::flow::FlowKey;

    use super::*;

    fn miss<'a>(pid: u32, key: &'a FlowKey, packet: &'a [u8]) -> UpcallMsg<'a> {
        UpcallMsg {
            pid,
            action: false,
            dp_ifindex: 1,
            unaligned: false,
            key,
            hash: 7,
            userdata: None,
            orig_len: None,
            packet,
        }
    }

    /// A full receiver refuses the upcall; for the back-off the next ones are lost without
    /// a send even though it has room again, then they flow.
    #[test]
    fn a_full_receiver_is_left_alone_for_the_back_off() {
        let server = NetlinkSocket::open(0).expect("server socket");
        let receiver = NetlinkSocket::open(0).expect("receiver socket");
        receiver.set_recv_buffer(4096).expect("small buffer");
        let mut out = UpcallOut::default();
        let mut up = Upcalls {
            sock: &server,
            out: &mut out,
        };
        let (key, packet) = (FlowKey::ZERO, [0u8; 600]);
        let msg = miss(receiver.port_id(), &key, &packet);
        let mut sent = 0;
        while up.deliver(&msg) {
            sent += 1;
            assert!(sent < 10_000, "a 4 KiB receive buffer never filled");
        }
        let refused = Instant::now();
        let mut buf = vec![0u8; 65536];
        for _ in 0..sent {
            receiver.recv(&mut buf).expect("a queued upcall");
        }
        let lost_quietly = !up.deliver(&msg);
        let refusing = up.refusing();
        if refused.elapsed() < FULL_BACKOFF {
            assert!(lost_quietly, "an upcall was sent inside the back-off");
            assert!(refusing);
        }
        std::thread::sleep(FULL_BACKOFF * 2);
        assert!(!up.refusing());
        assert!(
            up.deliver(&msg),
            "the receiver has room and the back-off is over"
        );
        receiver
            .recv(&mut buf)
            .expect("the upcall after the back-off");
    }
}
