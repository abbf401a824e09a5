//! One acknowledged request and its round trip.

use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use odp::nl::{self, flags};

/// One acknowledged request on `c`: Ok(rtt) or Err(description).
pub(crate) fn ask<T: odp::family::Body>(
    c: &mut NlClient,
    m: odp::family::OvsMessage<T>,
    extra: u16,
    timeout: Duration,
) -> Result<(Vec<nl::NlMsgHeader>, Duration), String> {
    let mut m = m;
    let seq = c.next_seq();
    m.seq = seq;
    m.flags |= flags::REQUEST | flags::ACK | extra;
    let b = m.to_bytes().map_err(|e| format!("encode: {e}"))?;
    let t0 = Instant::now();
    c.send_raw(&b).map_err(|e| format!("send: {e}"))?;
    let deadline = t0 + timeout;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer to seq {seq} within {timeout:?}"));
        }
        let Some(d) = c.recv_dgram(left) else {
            return Err(format!("no answer to seq {seq} within {timeout:?}"));
        };
        for m in nl::messages(&d) {
            let Ok((h, p)) = m else { break };
            if h.seq != seq {
                continue;
            }
            if h.ty == nl::NLMSG_ERROR || h.ty == nl::NLMSG_DONE {
                let e = if p.len() >= 4 {
                    -i32::from_ne_bytes([p[0], p[1], p[2], p[3]])
                } else {
                    0
                };
                if e != 0 {
                    return Err(format!("errno {e}"));
                }
                return Ok((got, t0.elapsed()));
            }
            got.push(h);
        }
    }
}
