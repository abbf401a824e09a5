//! MISS and ACTION upcalls on the wire (`net/openvswitch/datapath.c`, `queue_userspace_packet()`),
//! sent without blocking: a full or missing receiver loses the upcall, as in the kernel.

use fastpath::wire;
use odp::dpswitch::FAMILY_IDS;
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::OvsMessage;

use crate::slowpath::{UpcallMsg, UpcallSink};
use nlio::NetlinkSocket;

/// Encodes upcalls into a reused buffer and sends them on the server's socket.
#[derive(Debug)]
pub(super) struct Upcalls<'a> {
    pub(super) sock: &'a NetlinkSocket,
    pub(super) buf: &'a mut Vec<u8>,
}

impl UpcallSink for Upcalls<'_> {
    fn deliver(&mut self, msg: &UpcallMsg<'_>) -> bool {
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
        self.buf.clear();
        if m.emit(self.buf).is_err() {
            // Too large for one attribute: EFBIG in the kernel, a lost upcall.
            return false;
        }
        self.sock.send_to(msg.pid, self.buf).is_ok()
    }
}
