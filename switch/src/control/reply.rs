//! What a request gets back, and the framing every family shares: replies addressed like the
//! request, NLMSG_ERROR / ACK, and the metric label of the object commands.

use odp::family::{Body, Command, OvsMessage};
use odp::nl::{flags, ErrorMsg, NlMsgHeader};

use super::dump::Dump;

/// A request's answer, before the ACK the request may ask for.
#[derive(Debug)]
pub enum Answer {
    /// Nothing besides the ACK.
    None,
    /// Framed messages.
    Msgs(Vec<u8>),
    /// A dump: the datagrams so far and, for flows, where to continue.
    Dump(Dump),
}

/// One message in reply to `hdr` (its `seq`, and its `pid`, which the server sets to the
/// sender's port id), `NLM_F_MULTI` inside dumps.
pub(super) fn reply<T: Body>(
    family: u16,
    cmd: T::Cmd,
    dp_ifindex: i32,
    hdr: &NlMsgHeader,
    multi: bool,
    body: T,
) -> OvsMessage<T> {
    OvsMessage {
        family,
        flags: if multi { flags::MULTI } else { 0 },
        seq: hdr.seq,
        pid: hdr.pid,
        cmd,
        version: T::VERSION,
        dp_ifindex,
        body,
    }
}

/// The header a reply to `m` answers.
pub(super) fn header_of<T: Body>(m: &OvsMessage<T>) -> NlMsgHeader {
    NlMsgHeader {
        len: 0,
        ty: m.family,
        flags: m.flags,
        seq: m.seq,
        pid: m.pid,
    }
}

/// Whether `hdr` asks for a dump.
pub(super) fn is_dump(flags: u16) -> bool {
    flags & flags::DUMP == flags::DUMP
}

/// Appends an NLMSG_ERROR (an ACK when `errno` is 0) for `hdr`; errors echo the request
/// payload, as the kernel does by default (`net/netlink/af_netlink.c`, `netlink_ack()`).
///
/// Like every reply, it carries the sender's real port id (the kernel's `snd_portid`), while
/// the echoed request header keeps whatever `nlmsg_pid` the request had.
pub(super) fn push_error(
    out: &mut Vec<u8>,
    to: u32,
    hdr: &NlMsgHeader,
    payload: &[u8],
    errno: i32,
) {
    let start = out.len();
    let m = ErrorMsg {
        error: -errno,
        request: *hdr,
        request_payload: if errno == 0 {
            Vec::new()
        } else {
            payload.to_vec()
        },
        ..ErrorMsg::default()
    };
    if m.emit(out).is_err() {
        tracing::warn!("could not frame an NLMSG_ERROR");
        return;
    }
    if let Some(pid) = out.get_mut(start + 12..start + 16) {
        pid.copy_from_slice(&to.to_ne_bytes());
    }
}

/// Metric label of the NEW/DEL/GET/SET commands the datapath, vport and flow families share
/// (the same numbers in all three).
pub(super) fn object_cmd_name(cmd: impl Command) -> &'static str {
    match cmd.to_u8() {
        1 => "new",
        2 => "del",
        3 => "get",
        4 => "set",
        _ => "unknown",
    }
}
