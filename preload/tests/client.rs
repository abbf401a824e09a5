//! A client that uses its sockets as OVS 3.1 does (see `common/ovs.rs`), run under the
//! library in a child copy of this executable, against a real dpswitch or against a netlink
//! peer the test scripts.
//!
//! Each test starts the child with a role; the test `role` is the child's entry and does
//! nothing in a normal run.

mod common;

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::ovs::{self, Families, OvsSock, DUMP_BUF, TRANSACT_BUF};
use common::{assert_ok, one_at_a_time, run_role, start_dpswitch};
use dpswitch_e2e::{fresh_netlink_pid, unique};
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use odp::family::flow::FlowCmd;
use odp::nl::{flags, NlMsgHeader};

/// The test the child runs: its role's body.
#[test]
fn role() {
    let Some(role) = common::role() else {
        return;
    };
    let dp = || std::env::var("DP").expect("DP");
    match role.as_str() {
        "dump_then_requests" => dump_then_requests(&dp()),
        "batch" => batch(&dp()),
        "high_fd" => high_fd(&dp()),
        "reused_fd" => reused_fd(&dp()),
        "silent_peer" => silent_peer(),
        "packed_answers" => packed_answers(),
        "fork_while_busy" => fork_while_busy(),
        "late_ack" => late_ack(),
        r => panic!("no role {r}"),
    }
}

/// Runs `role` against a fresh dpswitch with datapath `DP`.
fn against_dpswitch(role: &str) {
    let _turn = one_at_a_time();
    let dp = unique("pc");
    let sw = start_dpswitch(&dp);
    let r = run_role("role", role, sw.netlink_pid, &[("DP", &dp)]);
    let (status, log) = sw.stop_with_log();
    assert_ok(role, &r);
    assert!(status.success(), "dpswitch: {status}\n{log}");
    assert!(!r.stderr.contains("dpswitch-preload:"), "{}", r.stderr);
}

/// Installs flows `from..to` in batches of 25 requests without `NLM_F_ACK`: each batch must
/// get no answer at all (they all succeeded).
fn install(s: &mut OvsSock, fam: Families, dp: i32, flows: std::ops::Range<u32>) {
    let all: Vec<u32> = flows.collect();
    for chunk in all.chunks(25) {
        let mut b: Vec<Vec<u8>> = chunk
            .iter()
            .map(|&i| ovs::flow_new(fam, dp, i, flags::REQUEST | flags::CREATE))
            .collect();
        let (_, got) = s.transact(&mut b);
        assert!(got.is_empty(), "answers to successful puts: {got:?}");
    }
}

/// The flows a dump's datagrams hold.
fn flows_in(fam: Families, dump: &[ovs::Dgram]) -> usize {
    dump.iter()
        .flat_map(|d| d.msgs())
        .filter(|(h, _)| h.ty == fam.flow)
        .count()
}

/// Installs 300 flows, dumps them (datagrams far over OVS's 4 KiB first buffer), then sends
/// one request at a time: none may wait for an answer the dump left "owed" (accounting cut
/// by OVS's two receive buffers would stall each for the 5 s timeout).
fn dump_then_requests(dp_name: &str) {
    let mut s = OvsSock::open();
    let fam = s.families();
    let dp = s.dp_ifindex(fam, dp_name);
    install(&mut s, fam, dp, 0..300);
    let (dump, done) = s.dump(ovs::flow_dump(fam, dp));
    assert!(done, "the dump ended without NLMSG_DONE");
    assert_eq!(flows_in(fam, &dump), 300);
    let total: usize = dump.iter().map(|d| d.bytes.len()).sum();
    assert!(total > 4 * DUMP_BUF, "a dump of {total} bytes");
    assert!(
        dump.iter().any(|d| d.in_tail > 0),
        "no datagram reached the 64 KiB tail"
    );
    for i in 0..20 {
        let t = Instant::now();
        let (_, got) = s.transact(&mut [ovs::flow_by_key(fam, dp, FlowCmd::Del, i)]);
        let took = t.elapsed();
        assert!(got.iter().all(|d| d.error().is_none()), "{got:?}");
        assert!(took < Duration::from_secs(1), "FLOW_DEL {i} took {took:?}");
    }
    let (dump, done) = s.dump(ovs::flow_dump(fam, dp));
    assert!(done);
    assert_eq!(flows_in(fam, &dump), 280);
    // The dump left nothing behind: the next transaction sees only its own answers.
    let (base, got) = s.transact(&mut [ovs::flow_by_key(fam, dp, FlowCmd::Get, 100)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].first().seq, base);
}

#[test]
fn a_dump_leaves_no_answer_owed() {
    against_dpswitch("dump_then_requests");
}

/// Batches of requests in one `sendmsg()`, one failing: every answer there at once, in
/// order, one per datagram, the error not lost and nothing else shown.
fn batch(dp_name: &str) {
    let mut s = OvsSock::open();
    let fam = s.families();
    let dp = s.dp_ifindex(fam, dp_name);
    let new = |i, f| ovs::flow_new(fam, dp, i, flags::REQUEST | flags::CREATE | f);
    // A success without answer, a failure (no such datapath), a reply, a caller's ACK.
    let mut b = vec![
        new(1000, 0),
        ovs::flow_new(fam, dp + 1000, 1001, flags::REQUEST | flags::CREATE),
        ovs::flow_by_key(fam, dp, FlowCmd::Get, 1000),
        new(1002, flags::ACK),
    ];
    let (base, got) = s.transact(&mut b);
    let seen: Vec<(u32, Option<i32>, usize)> = got
        .iter()
        .map(|d| (d.first().seq - base, d.error(), d.msgs().len()))
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].2), (1, 1), "{seen:?}");
    assert!(seen[0].1.is_some_and(|e| e < 0), "{seen:?}");
    assert_eq!(seen[1], (2, None, 1), "the reply, alone");
    assert_eq!(got[1].first().ty, fam.flow);
    assert_eq!(seen[2], (3, Some(0), 1), "the ACK the caller asked for");
    // A malformed request (no key) between two good ones: its EINVAL alone.
    let mut keyless = ovs::flow_new(fam, dp, 0, flags::REQUEST | flags::CREATE);
    keyless = strip_key(keyless);
    let mut b = vec![new(1003, 0), keyless, new(1004, 0)];
    let (base, got) = s.transact(&mut b);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].first().seq, base + 1);
    assert_eq!(got[0].error(), Some(-libc::EINVAL));
    // The good ones were installed.
    let (dump, done) = s.dump(ovs::flow_dump(fam, dp));
    assert!(done);
    assert_eq!(flows_in(fam, &dump), 4);
}

/// `msg` (a FLOW_NEW) without its KEY attribute.
fn strip_key(msg: Vec<u8>) -> Vec<u8> {
    // nlmsghdr (16) + genlmsghdr (4) + ovs_header (4), then attributes.
    let mut out = msg[..24].to_vec();
    let mut off = 24;
    while off + 4 <= msg.len() {
        let len = usize::from(u16::from_ne_bytes([msg[off], msg[off + 1]]));
        let ty = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]) & 0x3fff;
        let next = (off + len + 3) & !3;
        if ty != odp::family::flow::attr::KEY {
            out.extend_from_slice(&msg[off..next.min(msg.len())]);
        }
        off = next;
    }
    let n = u32::try_from(out.len()).expect("length");
    out[0..4].copy_from_slice(&n.to_ne_bytes());
    out
}

#[test]
fn a_batch_shows_every_answer_in_order() {
    against_dpswitch("batch");
}

/// The socket at descriptor 5000 (past any fixed-size table): its answers are there as soon
/// as `sendmsg()` returns.
fn high_fd(dp_name: &str) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft <= 5000 {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard).expect("raise RLIMIT_NOFILE");
    }
    let low = OvsSock::open().into_fd();
    // SAFETY: 5000 is not open in this process; the returned OwnedFd becomes its only owner.
    let high = unsafe { nix::unistd::dup2_raw(&low, 5000) }.expect("dup2 to 5000");
    drop(low);
    let mut s = OvsSock::with_fd(high);
    assert_eq!(s.fd(), 5000);
    // Replies read with MSG_DONTWAIT right after the send: found only if the library
    // follows descriptor 5000.
    let fam = s.families();
    let dp = s.dp_ifindex(fam, dp_name);
    install(&mut s, fam, dp, 0..40);
    let (dump, done) = s.dump(ovs::flow_dump(fam, dp));
    assert!(done);
    assert_eq!(flows_in(fam, &dump), 40);
}

#[test]
fn descriptors_above_4096_work() {
    against_dpswitch("high_fd");
}

/// Sends a FLOW_GET and reads only the reply, as OVS does for a one-request transaction:
/// the ACK the library added is still owed. Returns its seq.
fn leave_an_ack_owed(s: &mut OvsSock, fam: Families, dp: i32) -> u32 {
    let seq = s.send_batch(&mut [ovs::flow_by_key(fam, dp, FlowCmd::Get, 0)]);
    let reply = s.recv(TRANSACT_BUF).expect("the reply");
    assert_eq!(
        (reply.first().seq, reply.first().ty),
        (seq, fam.flow),
        "{reply:?}"
    );
    seq
}

/// A datagram socket pair: what is sent on one end arrives on the other unchanged.
fn unix_pair() -> (OwnedFd, OwnedFd) {
    // socketpair is not interposed: the library sees these descriptors only through the
    // calls made on them.
    socket::socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::empty(),
    )
    .expect("socketpair")
}

/// `fd` is not taken for the netlink socket that had its number: a netlink request sent on
/// it arrives at `peer` unchanged, and an ACK-looking datagram from `peer` for `owed_seq` is
/// received, not swallowed.
fn passes_untouched(fd: &OwnedFd, peer: &OwnedFd, owed_seq: u32) {
    let mut req = ovs::flow_by_key(
        Families {
            datapath: 0x30,
            flow: 0x32,
        },
        1,
        FlowCmd::Get,
        1,
    );
    req[8..12].copy_from_slice(&owed_seq.to_ne_bytes());
    socket::send(fd.as_raw_fd(), &req, MsgFlags::empty()).expect("send");
    let mut buf = vec![0u8; 4096];
    let n = socket::recv(peer.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).expect("recv");
    assert_eq!(&buf[..n], &req[..], "the request was changed on its way");
    let mut ack = Vec::new();
    NlMsgHeader {
        len: 36,
        ty: 2,
        flags: 0,
        seq: owed_seq,
        pid: 0,
    }
    .emit(&mut ack);
    ack.extend_from_slice(&0i32.to_ne_bytes());
    ack.extend_from_slice(&req[..16]);
    socket::send(peer.as_raw_fd(), &ack, MsgFlags::empty()).expect("send");
    let n = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT)
        .expect("the ACK-looking datagram was swallowed");
    assert_eq!(&buf[..n], &ack[..]);
}

/// A descriptor closed (or replaced by dup2) while its netlink socket was owed an answer,
/// then reused for a Unix socket: the library forgot it.
fn reused_fd(dp_name: &str) {
    let mut s = OvsSock::open();
    let fam = s.families();
    let dp = s.dp_ifindex(fam, dp_name);
    install(&mut s, fam, dp, 0..1);
    let owed = leave_an_ack_owed(&mut s, fam, dp);
    let number = s.fd();
    drop(s);
    let (a, b) = unix_pair();
    assert_eq!(a.as_raw_fd(), number, "the lowest free number is reused");
    passes_untouched(&a, &b, owed);

    let mut s = OvsSock::open();
    let owed = leave_an_ack_owed(&mut s, fam, dp);
    let mut fd = s.into_fd();
    let (c, d) = unix_pair();
    nix::unistd::dup2(&c, &mut fd).expect("dup2");
    passes_untouched(&fd, &d, owed);
}

#[test]
fn a_reused_descriptor_is_not_taken_for_the_old_socket() {
    against_dpswitch("reused_fd");
}

/// A netlink socket bound at a fresh port id in this process: the peer the child talks to.
fn peer_socket() -> (OwnedFd, u32) {
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::empty(),
        SockProtocol::NetlinkGeneric,
    )
    .expect("netlink socket");
    let pid = fresh_netlink_pid();
    socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(pid, 0)).expect("bind");
    (fd, pid)
}

/// Requests to a peer that never answers: each receive gives up after the timeout
/// (`DPSWITCH_PRELOAD_TIMEOUT_MS=300`) with EAGAIN, as if the kernel had queued nothing.
fn silent_peer() {
    let mut s = OvsSock::open();
    let fam = Families {
        datapath: 0x30,
        flow: 0x32,
    };
    for _ in 0..2 {
        let t = Instant::now();
        s.send_batch(&mut [ovs::flow_new(fam, 1, 1, flags::REQUEST)]);
        assert_eq!(s.recv(TRANSACT_BUF).err(), Some(Errno::EAGAIN));
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(280) && took < Duration::from_secs(3),
            "gave up after {took:?}"
        );
    }
}

#[test]
fn a_silent_dpswitch_costs_a_bounded_wait_and_one_warning() {
    let (_peer, pid) = peer_socket();
    let r = run_role(
        "role",
        "silent_peer",
        pid,
        &[("DPSWITCH_PRELOAD_TIMEOUT_MS", "300")],
    );
    assert_ok("silent_peer", &r);
    let warnings = r.stderr.matches("dpswitch-preload: no answer").count();
    assert_eq!(warnings, 1, "{}", r.stderr);
}

/// The peer's half of `packed_answers`: answers a batch of three requests a moment late,
/// all in one datagram after an unsolicited message, then sends another unsolicited one.
fn pack_answers(fd: &OwnedFd) {
    let mut buf = vec![0u8; 65536];
    let (n, child) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let r = socket::recvmsg::<NetlinkAddr>(fd.as_raw_fd(), &mut iov, None, MsgFlags::empty())
            .expect("the batch");
        (r.bytes, r.address.expect("source").pid())
    };
    let reqs: Vec<NlMsgHeader> = odp::nl::messages(&buf[..n])
        .map(|m| m.expect("request").0)
        .collect();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter().all(|h| h.flags & flags::ACK != 0),
        "the library asks for every ACK"
    );
    let msg = |ty: u16, f: u16, seq: u32, payload: &[u8]| {
        let mut v = Vec::new();
        NlMsgHeader {
            len: u32::try_from(16 + payload.len()).expect("len"),
            ty,
            flags: f,
            seq,
            pid: child,
        }
        .emit(&mut v);
        v.extend_from_slice(payload);
        v
    };
    let err = |seq: u32, e: i32| {
        let mut p = e.to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; 16]);
        msg(2, 0, seq, &p)
    };
    let send = |bytes: &[u8]| {
        socket::sendmsg(
            fd.as_raw_fd(),
            &[IoSlice::new(bytes)],
            &[],
            MsgFlags::empty(),
            Some(&NetlinkAddr::new(child, 0)),
        )
        .expect("send to the child");
    };
    std::thread::sleep(Duration::from_millis(200));
    send(&msg(0x33, 0, 0, &[1, 1, 0, 0, 0, 0, 0, 0]));
    let (a, b, c) = (reqs[0].seq, reqs[1].seq, reqs[2].seq);
    let packed = [
        msg(0x32, 0, a, &[1, 1, 0, 0, 7, 0, 0, 0]),
        err(a, 0),
        err(b, -libc::EINVAL),
        err(c, 0),
    ]
    .concat();
    send(&packed);
    std::thread::sleep(Duration::from_millis(100));
    send(&msg(0x33, 0, 0, &[2, 1, 0, 0, 0, 0, 0, 0]));
}

/// The child's half: the batch's answers come one per datagram, the added ACK gone, the
/// source shown as the kernel (port id 0), and a later unsolicited message too.
fn packed_answers() {
    let mut s = OvsSock::open();
    let fam = Families {
        datapath: 0x30,
        flow: 0x32,
    };
    let mut b = vec![
        ovs::flow_by_key(fam, 1, FlowCmd::Get, 1),
        ovs::flow_new(fam, 1, 2, flags::REQUEST),
        ovs::flow_new(fam, 1, 3, flags::REQUEST | flags::ACK),
    ];
    let (base, got) = s.transact(&mut b);
    let seen: Vec<(u16, u32, Option<i32>, usize, u32)> = got
        .iter()
        .map(|d| {
            let h = d.first();
            (h.ty, h.seq, d.error(), d.msgs().len(), d.from)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0x33, 0, None, 1, 0),
            (0x32, base, None, 1, 0),
            (2, base + 1, Some(-libc::EINVAL), 1, 0),
            (2, base + 2, Some(0), 1, 0),
        ]
    );
    // Nothing owed any more: a blocking receive goes straight to the kernel.
    let mut buf = vec![0u8; 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let r = socket::recvmsg::<NetlinkAddr>(s.fd(), &mut iov, None, MsgFlags::empty())
        .expect("the second unsolicited message");
    assert_eq!((r.bytes, r.address.map(|a| a.pid())), (24, Some(0)));
}

#[test]
fn packed_answers_are_shown_one_per_datagram() {
    let (peer, pid) = peer_socket();
    let script = std::thread::spawn(move || pack_answers(&peer));
    let r = run_role("role", "packed_answers", pid, &[]);
    assert_ok("packed_answers", &r);
    script.join().expect("the scripted peer");
}

/// Forks while another thread keeps the library's descriptor table busy (netlink sockets
/// opened and closed): every child must be able to close() a descriptor and exit.
fn fork_while_busy() {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(OvsSock::open());
            }
        })
    };
    let keep = OvsSock::open();
    for _ in 0..300 {
        // SAFETY: the child only calls close() (async-signal-safe in libc; the library's
        // version takes its table lock, which is what is tested) and _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                // SAFETY: a descriptor of this process, closed once, in the child only.
                unsafe { libc::close(keep.fd()) };
                // SAFETY: ends the child at once, without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => {
                let t = Instant::now();
                loop {
                    match waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::StillAlive) if t.elapsed() < Duration::from_secs(5) => {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Ok(WaitStatus::StillAlive) => {
                            let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
                            let _ = waitpid(child, None);
                            panic!("a forked child hung in close()");
                        }
                        Ok(WaitStatus::Exited(_, 0)) => break,
                        other => panic!("child: {other:?}"),
                    }
                }
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().expect("churn thread");
}

#[test]
fn a_child_forked_by_a_threaded_process_does_not_hang() {
    let r = run_role("role", "fork_while_busy", fresh_netlink_pid(), &[]);
    assert_ok("fork_while_busy", &r);
}

/// The peer's half of `late_ack`: answers each of two single requests with a reply and its
/// ACK 150 ms later, as dpswitch's ACK can trail its reply; the second reply comes 100 ms
/// after the first ACK.
fn answer_with_late_ack(fd: &OwnedFd) {
    let mut buf = vec![0u8; 65536];
    for round in 0..2 {
        let (n, child) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r =
                socket::recvmsg::<NetlinkAddr>(fd.as_raw_fd(), &mut iov, None, MsgFlags::empty())
                    .expect("a request");
            (r.bytes, r.address.expect("source").pid())
        };
        let (req, _) = odp::nl::messages(&buf[..n])
            .next()
            .expect("one request")
            .expect("well-formed");
        assert!(req.flags & flags::ACK != 0, "the library asks for the ACK");
        let msg = |ty: u16, payload: &[u8]| {
            let mut v = Vec::new();
            NlMsgHeader {
                len: u32::try_from(16 + payload.len()).expect("len"),
                ty,
                flags: 0,
                seq: req.seq,
                pid: child,
            }
            .emit(&mut v);
            v.extend_from_slice(payload);
            v
        };
        let send = |bytes: &[u8]| {
            // The socket it was meant for may be gone: that is the point.
            let _ = socket::sendmsg(
                fd.as_raw_fd(),
                &[IoSlice::new(bytes)],
                &[],
                MsgFlags::empty(),
                Some(&NetlinkAddr::new(child, 0)),
            );
        };
        if round == 1 {
            // The second reply comes well after the first ACK.
            std::thread::sleep(Duration::from_millis(100));
        }
        send(&msg(0x32, &[1, 1, 0, 0, 7, 0, 0, 0]));
        std::thread::sleep(Duration::from_millis(150));
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&[0; 16]);
        send(&msg(2, &ack));
    }
}

/// The child's half: two sockets one after the other, as OVS opens one per family lookup.
/// The second gets the first's port id and numbers its requests from the same seq, so the
/// first's ACK, were it still on its way when the first closed, would end the second's wait
/// before its reply came; closing takes it in first.
fn late_ack() {
    let fam = Families {
        datapath: 0x30,
        flow: 0x32,
    };
    let mut ports = Vec::new();
    for _ in 0..2 {
        let mut s = OvsSock::open();
        let addr: NetlinkAddr = socket::getsockname(s.fd()).expect("bound");
        ports.push(addr.pid());
        // As `nl_sock_transact_multiple__()`: read until the reply, then stop.
        let seq = s.send_batch(&mut [ovs::flow_by_key(fam, 1, FlowCmd::Get, 1)]);
        let d = s.recv(TRANSACT_BUF).expect("the reply");
        assert_eq!((d.first().ty, d.first().seq), (0x32, seq));
    }
    assert_eq!(ports[0], ports[1], "the second socket reuses the port id");
}

#[test]
fn a_closed_socket_takes_its_late_ack_with_it() {
    let (peer, pid) = peer_socket();
    let script = std::thread::spawn(move || answer_with_late_ack(&peer));
    let r = run_role("role", "late_ack", pid, &[]);
    assert_ok("late_ack", &r);
    script.join().expect("the scripted peer");
}
