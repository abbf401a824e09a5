//! The dump phase: many flows on a datapath of its own, dumped on four sockets at once.

use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use nlio::NetlinkSocket;
use odp::action::Action;
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::key::{EthernetKey, FlowKey};
use odp::nl::{self, flags};

use crate::ask::ask;
use crate::scratch::{scratch, teardown, Ctx};
use crate::tally::Tally;

/// The huge-dump phase: `n` flows dumped on four sockets at once; two read to the end,
/// one is closed mid-way, one stops reading.
pub(crate) fn huge_dumps(
    server: u32,
    ctx: &Ctx,
    n: u32,
    t: &mut Tally,
    held: &mut Vec<NetlinkSocket>,
) -> Result<(), String> {
    // A datapath of its own: the workers' mutated flow DELs flush the scratch one.
    let mut c = NlClient::connect(server);
    let ctx = &scratch(&mut c, &format!("{}d", ctx.dp), Duration::from_secs(10))?;
    let r = dump_on(&mut c, server, ctx, n, t, held);
    let t0 = Instant::now();
    teardown(&mut c, ctx, Duration::from_secs(30));
    t.phases
        .push(("DP DEL of the emptied datapath", t0.elapsed()));
    r
}

fn dump_on(
    c: &mut NlClient,
    server: u32,
    ctx: &Ctx,
    n: u32,
    t: &mut Tally,
    held: &mut Vec<NetlinkSocket>,
) -> Result<(), String> {
    let t0 = Instant::now();
    install_flows(c, ctx, n, t)?;
    t.phases
        .push(("install (100 FLOW NEW per datagram)", t0.elapsed()));
    let t0 = Instant::now();
    // The fourth never reads, from a socket with the smallest receive buffer, so the daemon's
    // dump to it stalls at once and has to be abandoned while everything else goes on.
    held.push(stalled_dump(server, ctx)?);
    let mut socks: Vec<(NlClient, u32)> = (0..3)
        .map(|_| {
            let mut s = NlClient::raw(server);
            s.ids = ctx.ids;
            (s, 0)
        })
        .collect();
    for (s, seq) in &mut socks {
        let mut m = s.msg(FlowCmd::Get, ctx.ifindex, FlowAttrs::default());
        *seq = s.next_seq();
        m.seq = *seq;
        m.flags = flags::REQUEST | flags::DUMP;
        s.send_raw(&m.to_bytes().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        t.requests += 1;
        t.datagrams += 1;
    }
    // Interleave: one datagram from each reader in turn.
    let mut counts = [0u64; 3];
    let mut dgrams = [0u32; 3];
    let mut finished = [false; 3];
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(finished[0] && finished[1]) {
        if Instant::now() > deadline {
            return Err(format!("huge dumps did not finish: {counts:?}"));
        }
        for k in 0..3 {
            if finished[k] || (k == 2 && dgrams[2] >= 2) {
                continue;
            }
            let (s, seq) = &socks[k];
            let Some(d) = s.recv_dgram(Duration::from_secs(10)) else {
                return Err(format!("dump {k} stalled after {} flows", counts[k]));
            };
            dgrams[k] += 1;
            for m in nl::messages(&d) {
                let Ok((h, p)) = m else { break };
                if h.seq != *seq {
                    continue;
                }
                match h.ty {
                    nl::NLMSG_DONE => finished[k] = true,
                    nl::NLMSG_ERROR => {
                        let e = -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                        return Err(format!("dump {k}: errno {e}"));
                    }
                    _ => counts[k] += 1,
                }
            }
        }
    }
    t.answered += 2;
    t.flows_dumped.extend_from_slice(&counts[..2]);
    // Abandon the other two: close one mid-dump, and the other without ever reading.
    t.dumps_abandoned += 2;
    *t.silences
        .entry("dump abandoned by the client")
        .or_default() += 2;
    drop(socks);
    t.phases.push(("dumps, interleaved", t0.elapsed()));
    let flush = c.msg(FlowCmd::Del, ctx.ifindex, FlowAttrs::default());
    let (_, rtt) =
        ask(c, flush, 0, Duration::from_secs(30)).map_err(|e| format!("flow flush: {e}"))?;
    t.phases.push(("FLOW DEL of all flows (one request)", rtt));
    t.requests += 1;
    t.answered += 1;
    for (k, &got) in counts[..2].iter().enumerate() {
        if got < u64::from(n) {
            return Err(format!("dump {k} returned {got} of {n} flows"));
        }
    }
    Ok(())
}

/// Installs `n` flows on the scratch datapath in batches of 100 messages per datagram.
fn install_flows(c: &mut NlClient, ctx: &Ctx, n: u32, t: &mut Tally) -> Result<(), String> {
    let mut i = 0;
    while i < n {
        let mut d = Vec::new();
        let first = c.next_seq();
        let batch = (n - i).min(100);
        for k in 0..batch {
            let j = i + k;
            let mut u = vec![0xd0; 16];
            u[..4].copy_from_slice(&j.to_ne_bytes());
            let mut m = c.msg(
                FlowCmd::New,
                ctx.ifindex,
                FlowAttrs {
                    ufid: Some(u),
                    key: Some(FlowKey {
                        in_port: Some(ctx.null_port),
                        ethernet: Some(EthernetKey {
                            src: [2, 0xd0, 0, (j >> 16) as u8, (j >> 8) as u8, j as u8],
                            dst: [2, 0xd1, 0, 0, 0, 1],
                        }),
                        eth_type: Some(0x88b5),
                        ..FlowKey::default()
                    }),
                    actions: Some(vec![Action::Output(ctx.null_port)]),
                    ..FlowAttrs::default()
                },
            );
            m.seq = first + k;
            m.flags = flags::REQUEST | flags::ACK | flags::CREATE;
            m.emit(&mut d).map_err(|e| format!("encode: {e}"))?;
        }
        for _ in 1..batch {
            c.next_seq();
        }
        c.send_raw(&d).map_err(|e| format!("send: {e}"))?;
        t.requests += u64::from(batch);
        t.datagrams += 1;
        let mut acked = 0;
        while acked < batch {
            let Some(dg) = c.recv_dgram(Duration::from_secs(10)) else {
                return Err(format!("{} of {batch} flow NEWs unanswered", batch - acked));
            };
            for m in nl::messages(&dg) {
                let Ok((h, p)) = m else { break };
                if h.ty == nl::NLMSG_ERROR && h.seq >= first && h.seq < first + batch {
                    acked += 1;
                    t.answered += 1;
                    let e = -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                    if e != 0 {
                        *t.errors.entry(e).or_default() += 1;
                    }
                }
            }
        }
        i += batch;
    }
    Ok(())
}

/// A socket with a tiny receive buffer that asks for a flow dump and never reads.
fn stalled_dump(server: u32, ctx: &Ctx) -> Result<NetlinkSocket, String> {
    let sock = NetlinkSocket::open(0).map_err(|e| e.to_string())?;
    sock.set_recv_buffer(4096).map_err(|e| e.to_string())?;
    let mut m = odp::family::OvsMessage::new(FlowCmd::Get, ctx.ifindex, FlowAttrs::default());
    m.family = ctx.ids.flow;
    m.seq = 1;
    m.flags = flags::REQUEST | flags::DUMP;
    let b = m.to_bytes().map_err(|e| e.to_string())?;
    sock.send_to_blocking(server, &b)
        .map_err(|e| e.to_string())?;
    Ok(sock)
}
