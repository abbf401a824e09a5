//! Fires hostile netlink traffic at a running dpswitch and checks that it keeps answering.
//!
//! `nlhostile --netlink-pid P [--requests N] [--sockets K] [--seed S] [--daemon-pid D]
//! [--liveness-every M] [--dump-flows F] [--rss-growth-mib G] [--timeout-ms T]
//! [--liveness-timeout-ms L]`
//!
//! Each of K threads owns a socket and sends datagrams mixing valid requests of the four OVS
//! families (aimed at a scratch datapath the tool creates, so the daemon's own datapath and
//! its traffic are never touched) and mutations of them: bit flips, truncations, inserted
//! bytes, `nlmsg_len`/`nla_len` lies, attribute nests thousands deep, unknown families and
//! commands, client-sent NOOP/ERROR/DONE/OVERRUN, requests without `NLM_F_REQUEST`, several
//! messages per datagram. Every message gets a unique `seq`. After each datagram the thread
//! sends a barrier (NOOP|REQUEST|ACK): the daemon answers a sender's messages in order, so
//! once the barrier's ACK is in, every answer to the datagram has arrived.
//!
//! Every message is classified the way the kernel's `netlink_rcv_skb` would treat it:
//! - answer required: `NLM_F_ACK`, a GET (data, DONE or error), or a non-request with ACK;
//! - documented silences: a tail shorter than 16 bytes (dropped), a non-request or control
//!   type without ACK (ignored), a NEW/SET/DEL/EXECUTE without ACK that succeeded, what
//!   follows a bad `nlmsg_len` in a datagram (the kernel stops there; dpswitch answers the
//!   bad frame itself with EINVAL).
//!
//! A required answer missing when the barrier arrives is "unanswered" (a violation). Every
//! M requests (and every 50 ms while the dump phase runs) the main thread sends a datapath
//! GET on its own socket and requires an answer within L ms, default 1000 (liveness). Once,
//! half-way, a thread installs F flows on a datapath of its own, dumps them on four sockets
//! at once, and deletes that datapath (its flows with it):
//! two read to the end (and must see all F), one is closed after two datagrams, one stops
//! reading with a 4 KiB receive buffer and stays open to the end (the daemon must park that
//! dump and give it up after its stall timeout, serving everyone else meanwhile).
//!
//! The summary ends with one `RESULT key=value ...` line; the exit status is 1 on any
//! violation: unanswered requests, a failed liveness check, the daemon gone, or VmRSS
//! beyond its bound.
//!
//! The RSS bound (G, default 64 MiB): packet memory is in hugepages, which VmRSS leaves
//! out, so VmRSS is the control plane's heap. Until the dump phase, VmRSS may not rise more
//! than G above its level after set-up: with 500k requests behind it, a leak of 128 bytes
//! per request would exceed that. The dump phase raises it by ~100 MiB (50k flows, their
//! side table, dump datagrams), and the allocator keeps a varying part of that peak after
//! the flows are gone (measured between 22 and 74 MiB at the end of 1M-request runs;
//! back-to-back runs level off at the peak), so from then on the end is held to G above
//! the level right after the dumps.
//!
//! The code, by module: `opts` (the command line), `worker` (one thread's socket and its mix
//! of messages), `generate` and `mutate` (valid and hostile messages), `barrier` (sending a
//! datagram and accounting for its answers), `lifecycle` (valid datapath and vport changes),
//! `dump` (the dump phase), `scratch` (the scratch datapath), `ask` (one acknowledged
//! request), `tally` (the counters), `daemon` (its process in `/proc`), `rng`.

mod ask;
mod barrier;
mod daemon;
mod dump;
mod generate;
mod lifecycle;
mod mutate;
mod opts;
mod rng;
mod scratch;
mod tally;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use nlio::NetlinkSocket;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};

use ask::ask;
use daemon::{alive, find_daemon, vmrss_kib};
use dump::huge_dumps;
use opts::parse_opts;
use rng::Rng;
use scratch::{scratch, teardown};
use tally::Tally;
use worker::Worker;

/// What the dump thread hands back: its tally, its failure, and the socket it left stalled.
type DumpOutcome = (Tally, Option<String>, Vec<NetlinkSocket>);

fn main() {
    let o = parse_opts();
    let daemon = o.daemon_pid.or_else(|| find_daemon(o.netlink_pid));
    let Some(daemon) = daemon else {
        eprintln!(
            "nlhostile: no dpswitch process with --netlink-pid {} (pass --daemon-pid)",
            o.netlink_pid
        );
        std::process::exit(2);
    };
    let mut main_c = NlClient::connect(o.netlink_pid);
    let name = format!("hst{}{}", std::process::id() % 10000, o.seed % 100);
    let ctx = match scratch(&mut main_c, &name, o.timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nlhostile: set-up failed: {e}");
            std::process::exit(2);
        }
    };
    let rss_start = vmrss_kib(daemon).unwrap_or(0);
    let rss_max = Arc::new(AtomicU64::new(rss_start));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(Mutex::new(Tally::default()));
    let t0 = Instant::now();

    let per = o.requests / o.sockets as u64;
    let mut handles = Vec::new();
    for k in 0..o.sockets {
        let mut c = NlClient::raw(o.netlink_pid);
        c.ids = ctx.ids;
        let mut w = Worker {
            c,
            ctx: ctx.clone(),
            rng: Rng::new(o.seed.wrapping_add(k as u64 * 7919)),
            id: k as u32 + 1,
            seq: 1,
            t: Tally::default(),
            timeout: o.timeout,
            ufids: 512,
        };
        let (sent, stop, total) = (sent.clone(), stop.clone(), total.clone());
        let server = o.netlink_pid;
        let ifindex = ctx.ifindex;
        handles.push(std::thread::spawn(move || {
            let mut since_flush = 0u64;
            let mut since_cycle = 0u64;
            while w.t.requests < per && !stop.load(Ordering::Relaxed) {
                let d = w.datagram();
                let before = w.t.requests;
                w.round(d);
                sent.fetch_add(w.t.requests - before, Ordering::Relaxed);
                since_flush += w.t.requests - before;
                since_cycle += w.t.requests - before;
                if since_cycle >= 5_000 {
                    since_cycle = 0;
                    w.lifecycle(w.t.requests);
                }
                if since_flush >= 20_000 {
                    // Mutated NEWs leave flows of random identities: flush them now and then.
                    since_flush = 0;
                    let m = w.c.msg(FlowCmd::Del, ifindex, FlowAttrs::default());
                    match ask(&mut w.c, m, 0, Duration::from_secs(30)) {
                        Ok(_) => {
                            w.t.requests += 1;
                            w.t.answered += 1;
                        }
                        Err(e) => {
                            w.t.unanswered += 1;
                            w.t.unanswered_examples.push(format!("flush: {e}"));
                        }
                    }
                }
                if w.t.unanswered > 100 {
                    eprintln!(
                        "nlhostile: socket {server}/{}: too many unanswered",
                        w.c.port_id
                    );
                    stop.store(true, Ordering::Relaxed);
                }
            }
            total.lock().expect("tally").merge(w.t);
        }));
    }

    // Liveness on the main thread; the huge-dump phase once, half-way, on a thread of its
    // own so liveness is checked while it runs too.
    let mut live = (0u64, 0u64, Duration::ZERO);
    let mut next_check = o.liveness_every;
    let mut dumper: Option<std::thread::JoinHandle<DumpOutcome>> = None;
    let mut rss_pre_dump = None;
    let mut dead = false;
    let liveness = |c: &mut NlClient, live: &mut (u64, u64, Duration)| {
        let m = c.msg(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(ctx.dp.clone()),
                ..DatapathAttrs::default()
            },
        );
        live.0 += 1;
        match ask(c, m, 0, o.liveness_timeout) {
            Ok((msgs, rtt)) if !msgs.is_empty() => live.2 = live.2.max(rtt),
            Ok(_) => {
                live.1 += 1;
                eprintln!("nlhostile: liveness GET answered without data");
            }
            Err(e) => {
                live.1 += 1;
                eprintln!("nlhostile: liveness GET failed: {e}");
            }
        }
    };
    let start_dumps = |rss_pre_dump: &mut Option<u64>| {
        *rss_pre_dump = vmrss_kib(daemon);
        let (server, ctx, n) = (o.netlink_pid, ctx.clone(), o.dump_flows);
        std::thread::spawn(move || {
            let mut t = Tally::default();
            let mut held = Vec::new();
            let r = huge_dumps(server, &ctx, n, &mut t, &mut held).err();
            if let Some(e) = &r {
                eprintln!("nlhostile: huge dumps: {e}");
            }
            (t, r, held)
        })
    };
    while handles.iter().any(|h| !h.is_finished())
        || dumper.as_ref().is_some_and(|d| !d.is_finished())
    {
        let n = sent.load(Ordering::Relaxed);
        if let Some(r) = vmrss_kib(daemon) {
            rss_max.fetch_max(r, Ordering::Relaxed);
        }
        if !alive(daemon) {
            dead = true;
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if n >= next_check {
            next_check = n + o.liveness_every;
            liveness(&mut main_c, &mut live);
        } else if dumper.as_ref().is_some_and(|d| !d.is_finished()) {
            // No requests counted while the workers wait behind a flush: keep checking.
            liveness(&mut main_c, &mut live);
            std::thread::sleep(Duration::from_millis(50));
        }
        if dumper.is_none() && o.dump_flows > 0 && n >= o.requests / 2 {
            dumper = Some(start_dumps(&mut rss_pre_dump));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for h in handles {
        let _ = h.join();
    }
    if dumper.is_none() && o.dump_flows > 0 && !dead {
        dumper = Some(start_dumps(&mut rss_pre_dump));
    }
    let elapsed = t0.elapsed();
    let mut t = std::mem::take(&mut *total.lock().expect("tally"));
    let mut dump_err = None;
    let mut held = Vec::new();
    if let Some(d) = dumper {
        match d.join() {
            Ok((dt, e, h)) => {
                t.merge(dt);
                dump_err = e;
                held = h;
            }
            Err(_) => dump_err = Some("the dump thread panicked".to_string()),
        }
    }
    let rss_after_dumps = vmrss_kib(daemon).unwrap_or(0);
    dead |= !alive(daemon);
    if !dead {
        // A final liveness check after everything, then remove the scratch datapath.
        liveness(&mut main_c, &mut live);
        teardown(&mut main_c, &ctx, o.timeout);
    }
    drop(held);
    let rss_end = vmrss_kib(daemon).unwrap_or(0);
    rss_max.fetch_max(rss_end, Ordering::Relaxed);
    let rss_max = rss_max.load(Ordering::Relaxed);
    let rss_pre = rss_pre_dump.unwrap_or(rss_end);

    let silences: u64 = t.silences.values().sum();
    println!(
        "nlhostile: {} requests in {} datagrams on {} sockets in {:.1} s ({:.0} requests/s)",
        t.requests,
        t.datagrams,
        o.sockets,
        elapsed.as_secs_f64(),
        t.requests as f64 / elapsed.as_secs_f64()
    );
    println!("  answered: {}", t.answered);
    println!("  documented silences: {silences}");
    for (k, v) in &t.silences {
        println!("    {v:>9}  {k}");
    }
    println!("  errors by errno:");
    for (k, v) in &t.errors {
        println!(
            "    {v:>9}  {} ({k})",
            nix::errno::Errno::from_raw(*k).desc()
        );
    }
    for (k, v) in &t.send_refused {
        println!("  refused by the kernel on send: errno {k}: {v}");
    }
    println!("  stray messages (no matching seq): {}", t.stray);
    println!(
        "  huge dumps: {} flows each on {:?} complete dumps, {} abandoned{}",
        o.dump_flows,
        t.flows_dumped,
        t.dumps_abandoned,
        dump_err
            .as_deref()
            .map(|e| format!(" (FAILED: {e})"))
            .unwrap_or_default()
    );
    for (what, d) in &t.phases {
        println!("  dump phase: {what}: {d:?}");
    }
    println!(
        "  liveness GETs: {} ({} failed, max round trip {:?}); max request round trip {:?}",
        live.0, live.1, live.2, t.max_rtt
    );
    println!("  unanswered: {}", t.unanswered);
    for ex in &t.unanswered_examples {
        println!("    {ex}");
    }
    println!(
        "  daemon {daemon}: {}; VmRSS start {rss_start} KiB, before the dumps {rss_pre} KiB, \
         after them {rss_after_dumps} KiB, max {rss_max} KiB, end {rss_end} KiB",
        if dead { "DEAD" } else { "alive" }
    );
    // Before the dump phase the mix alone must stay within the bound of the level after
    // set-up; after it, the allocator keeps part of the dump's peak, so the end is held to
    // the bound above the level right after the dumps.
    let bound = o.rss_growth_mib * 1024;
    let growth_ok =
        rss_pre <= rss_start + bound && rss_end <= rss_start.max(rss_after_dumps) + bound;
    println!(
        "RESULT requests={} datagrams={} answered={} silences={} unanswered={} liveness={} \
         liveness_failed={} liveness_max_us={} rss_start_kib={} rss_pre_dump_kib={} \
         rss_after_dumps_kib={} rss_max_kib={} rss_end_kib={} \
         seconds={:.1} rps={:.0} alive={} dumps_ok={}",
        t.requests,
        t.datagrams,
        t.answered,
        silences,
        t.unanswered,
        live.0,
        live.1,
        live.2.as_micros(),
        rss_start,
        rss_pre,
        rss_after_dumps,
        rss_max,
        rss_end,
        elapsed.as_secs_f64(),
        t.requests as f64 / elapsed.as_secs_f64(),
        !dead,
        dump_err.is_none()
    );
    let mut bad = Vec::new();
    if t.unanswered > 0 {
        bad.push(format!("{} unanswered", t.unanswered));
    }
    if live.1 > 0 {
        bad.push(format!("{} liveness checks failed", live.1));
    }
    if dead {
        bad.push("the daemon died".to_string());
    }
    if !growth_ok {
        bad.push(format!(
            "VmRSS grew beyond {} MiB: start {rss_start}, before the dumps {rss_pre}, \
             after them {rss_after_dumps}, end {rss_end} KiB",
            o.rss_growth_mib
        ));
    }
    if let Some(e) = dump_err {
        bad.push(format!("huge dumps: {e}"));
    }
    if !bad.is_empty() {
        println!("nlhostile: FAILED: {}", bad.join("; "));
        std::process::exit(1);
    }
}
