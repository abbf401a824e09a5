//! The client against a scripted peer (a socket at a test port id answering from a thread),
//! and against the kernel's own nlctrl at port 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nlio::{Client, Error, NetlinkSocket, Timeout};
use odp::ctrl::{self, CtrlMessage, FamilyInfo};
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::OvsMessage;
use odp::nl::{self, flags, ErrorMsg, NlMsgHeader};

/// Port ids well away from what the kernel assigns (process ids) and from other tests.
fn test_port(n: u32) -> u32 {
    0x7d00_0000 | (std::process::id() << 4) & 0x00ff_fff0 | n
}

const DATAPATH: u16 = 0x20;
const VPORT: u16 = 0x21;
const FLOW: u16 = 0x22;
const PACKET: u16 = 0x23;
const PRIVATE: u16 = 0x30;

/// A peer answering each message of each datagram it receives with the datagrams `answer`
/// returns, until dropped.
struct Peer {
    port_id: u32,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(
        port_id: u32,
        mut answer: impl FnMut(NlMsgHeader, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> Peer {
        let sock = NetlinkSocket::bind(port_id, 4 << 20).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while !stopped.load(Ordering::Relaxed) {
                let Ok(r) = sock.recv_timeout(&mut buf, Duration::from_millis(20)) else {
                    continue;
                };
                for m in nl::messages(&buf[..r.len]) {
                    let (h, p) = m.unwrap();
                    for d in answer(h, p) {
                        // A client that stopped at an error may be gone already.
                        let _ = sock.send_to(r.sender.port_id, &d);
                    }
                }
            }
        });
        Peer {
            port_id,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // The peer's own assertions fail the test too.
            if t.join().is_err() && !std::thread::panicking() {
                panic!("the peer panicked");
            }
        }
    }
}

fn ack(h: NlMsgHeader) -> Vec<u8> {
    let mut b = Vec::new();
    ErrorMsg::ack(h).emit(&mut b).unwrap();
    b
}

fn nack(h: NlMsgHeader, errno: Errno) -> Vec<u8> {
    let mut b = Vec::new();
    ErrorMsg {
        error: -(errno as i32),
        request: h,
        ..Default::default()
    }
    .emit(&mut b)
    .unwrap();
    b
}

fn done(h: NlMsgHeader, status: i32) -> Vec<u8> {
    let mut b = Vec::new();
    NlMsgHeader {
        len: 20,
        ty: nl::NLMSG_DONE,
        flags: flags::MULTI,
        seq: h.seq,
        pid: h.pid,
    }
    .emit(&mut b);
    b.extend_from_slice(&status.to_ne_bytes());
    b
}

fn datapath(h: NlMsgHeader, name: &str, multi: bool) -> Vec<u8> {
    let mut m = OvsMessage::new(
        DpCmd::Get,
        7,
        DatapathAttrs {
            name: Some(name.to_string()),
            ..Default::default()
        },
    );
    m.family = DATAPATH;
    m.seq = h.seq;
    m.pid = h.pid;
    m.flags = if multi { flags::MULTI } else { 0 };
    m.to_bytes().unwrap()
}

/// nlctrl's part of a peer: the OVS families and one private family, as dpswitch serves
/// them; `None` for other messages.
fn nlctrl(h: NlMsgHeader, p: &[u8]) -> Option<Vec<Vec<u8>>> {
    if h.ty != nl::GENL_ID_CTRL {
        return None;
    }
    let req = CtrlMessage::parse(h, p).unwrap();
    let name = req.info.name.unwrap_or_default();
    let id = match name.as_str() {
        "ovs_datapath" => DATAPATH,
        "ovs_vport" => VPORT,
        "ovs_flow" => FLOW,
        "ovs_packet" => PACKET,
        "test_private" => PRIVATE,
        _ => return Some(vec![nack(h, Errno::ENOENT)]),
    };
    let reply = CtrlMessage {
        flags: 0,
        seq: h.seq,
        pid: h.pid,
        cmd: ctrl::cmd::NEWFAMILY,
        version: 2,
        info: FamilyInfo {
            id: Some(id),
            name: Some(name),
            version: Some(1),
            ..Default::default()
        },
    };
    let mut b = Vec::new();
    reply.emit(&mut b).unwrap();
    Some(vec![b, ack(h)])
}

fn get(name: &str) -> OvsMessage<DatapathAttrs> {
    OvsMessage::new(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(name.to_string()),
            ..Default::default()
        },
    )
}

#[test]
fn connect_resolves_the_ovs_families_and_transactions_collect_the_answer() {
    let peer = Peer::start(test_port(1), |h, p| {
        if let Some(a) = nlctrl(h, p) {
            return a;
        }
        assert_eq!(h.ty, DATAPATH, "the resolved id is used");
        assert_eq!(h.flags, flags::REQUEST | flags::ACK | flags::ECHO);
        let m = OvsMessage::<DatapathAttrs>::parse(h, p).unwrap();
        vec![datapath(h, m.body.name.as_deref().unwrap(), false), ack(h)]
    });
    let mut c = Client::connect(peer.port_id, Timeout::Idle(Duration::from_secs(10))).unwrap();
    assert_eq!(
        (c.ids.datapath, c.ids.vport, c.ids.flow, c.ids.packet),
        (DATAPATH, VPORT, FLOW, PACKET)
    );
    assert_eq!(c.peer(), peer.port_id);
    assert_ne!(c.port_id(), 0);
    let mut m = get("dp0");
    m.flags = flags::ECHO;
    let r = c.transact(m).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body.name.as_deref(), Some("dp0"));
    assert_eq!((r[0].dp_ifindex, r[0].pid), (7, c.port_id()));
}

#[test]
fn dumps_span_datagrams_and_end_at_done() {
    let peer = Peer::start(test_port(2), |h, p| {
        if let Some(a) = nlctrl(h, p) {
            return a;
        }
        assert_eq!(h.flags & flags::DUMP, flags::DUMP);
        // Three datagrams of two entries, then DONE, then a late ACK (the daemon's answer to
        // the ACK flag of a dump request).
        let mut out: Vec<Vec<u8>> = (0..3)
            .map(|d| {
                let mut b = datapath(h, &format!("dp{}", 2 * d), true);
                b.extend(datapath(h, &format!("dp{}", 2 * d + 1), true));
                b
            })
            .collect();
        out.push(done(h, 0));
        out.push(ack(h));
        out
    });
    let mut c = Client::open(peer.port_id).unwrap();
    let names: Vec<String> = c
        .dump_iter(get("ignored"))
        .unwrap()
        .map(|m| m.unwrap().body.name.unwrap())
        .collect();
    assert_eq!(names, ["dp0", "dp1", "dp2", "dp3", "dp4", "dp5"]);
    // The late ACK is skipped by the next exchange, which gets its own answer.
    assert_eq!(c.dump(get("again")).unwrap().len(), 6);
}

#[test]
fn a_dump_left_unfinished_leaves_the_next_exchange_its_own_answer() {
    let peer = Peer::start(test_port(11), |h, _| {
        if h.flags & flags::DUMP == flags::DUMP {
            // One datagram: three entries and DONE.
            let mut a = datapath(h, "a0", true);
            a.extend(datapath(h, "a1", true));
            a.extend(datapath(h, "a2", true));
            a.extend(done(h, 0));
            vec![a]
        } else {
            vec![datapath(h, "get", false), ack(h)]
        }
    });
    for reject_stray in [false, true] {
        let mut c = Client::open(peer.port_id).unwrap();
        c.set_reject_stray(reject_stray);
        let mut m = get("x");
        m.family = DATAPATH;
        let first = c.dump_iter(m.clone()).unwrap().next().unwrap().unwrap();
        assert_eq!(first.body.name.as_deref(), Some("a0"));
        // The rest of that datagram went with the iterator.
        let r = c.transact(m).unwrap();
        assert_eq!(r[0].body.name.as_deref(), Some("get"), "{reject_stray}");
    }
}

#[test]
fn errors_carry_the_peers_errno() {
    let peer = Peer::start(test_port(3), |h, p| {
        if let Some(a) = nlctrl(h, p) {
            return a;
        }
        if h.flags & flags::DUMP == flags::DUMP {
            vec![datapath(h, "dp0", true), done(h, -(Errno::ENODEV as i32))]
        } else {
            vec![nack(h, Errno::EEXIST)]
        }
    });
    let mut c = Client::open(peer.port_id).unwrap();
    let e = c.transact(get("dp0")).unwrap_err();
    assert!(matches!(e, Error::Remote(17)), "{e:?}");
    assert_eq!(e.errno(), Errno::EEXIST as i32);
    let e = c.dump(get("dp0")).unwrap_err();
    assert_eq!(e.errno(), Errno::ENODEV as i32, "DONE's status");
    // Iterated, the entries before the error still arrive.
    let items: Vec<_> = c.dump_iter(get("dp0")).unwrap().collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().errno(), Errno::ENODEV as i32);
    // Functions returning Result<_, i32> take the errno with `?`.
    let mut errno = || -> Result<(), i32> {
        c.transact(get("dp0"))?;
        Ok(())
    };
    assert_eq!(errno(), Err(Errno::EEXIST as i32));
}

#[test]
fn families_are_resolved_by_name_and_unknown_ones_are_enoent() {
    let peer = Peer::start(test_port(4), |h, p| {
        if let Some(a) = nlctrl(h, p) {
            return a;
        }
        assert_eq!(h.ty, PRIVATE);
        let mut d = Vec::new();
        NlMsgHeader {
            len: 20,
            ty: PRIVATE,
            flags: 0,
            seq: h.seq,
            pid: h.pid,
        }
        .emit(&mut d);
        d.extend_from_slice(&p[..4]);
        vec![d, ack(h)]
    });
    let mut c = Client::open(peer.port_id).unwrap();
    assert_eq!(c.family("ovs_flow").unwrap(), FLOW);
    let e = c.family("ovs_meter").unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT as i32);
    assert!(
        matches!(&e, Error::Family { name, .. } if name == "ovs_meter"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "resolving generic netlink family ovs_meter: the peer answered: No such file or directory"
    );
    // A request of a family known only by name, built by the caller.
    let answer = c
        .family_request("test_private", |buf, family, seq, pid| {
            NlMsgHeader {
                len: 20,
                ty: family,
                flags: flags::REQUEST | flags::ACK,
                seq,
                pid,
            }
            .emit(buf);
            buf.extend_from_slice(&[9, 1, 0, 0]);
            Ok(())
        })
        .unwrap();
    assert_eq!(answer.len(), 1);
    assert_eq!(
        (answer[0].0.ty, answer[0].1.as_slice()),
        (PRIVATE, &[9, 1, 0, 0][..])
    );
}

#[test]
fn nothing_listening_is_econnrefused() {
    let mut c = Client::open(test_port(5)).unwrap();
    let e = c.family("ovs_datapath").unwrap_err();
    assert_eq!(e.errno(), Errno::ECONNREFUSED as i32, "{e}");
    let e = Client::connect(test_port(5), Timeout::Idle(Duration::from_secs(1))).unwrap_err();
    assert_eq!(e.errno(), Errno::ECONNREFUSED as i32, "{e}");
}

#[test]
fn a_silent_peer_times_out() {
    let silent = NetlinkSocket::bind(test_port(6), 1 << 16).unwrap();
    let mut c = Client::open(silent.port_id()).unwrap();
    c.set_timeout(Timeout::Idle(Duration::from_millis(100)));
    let t = Instant::now();
    let e = c.family("ovs_datapath").unwrap_err();
    assert_eq!(e.errno(), Errno::ETIMEDOUT as i32, "{e}");
    assert!(t.elapsed() >= Duration::from_millis(100));
    c.set_timeout(Timeout::Deadline(Instant::now()));
    let e = c.transact(get("dp0")).unwrap_err();
    assert!(matches!(e, Error::Family { .. }), "{e:?}");
    assert_eq!(e.errno(), Errno::ETIMEDOUT as i32);
    let e = c.recv_datagram(Duration::from_millis(10)).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
}

#[test]
fn only_the_peer_may_answer() {
    let peer = Peer::start(test_port(7), |h, p| {
        if let Some(a) = nlctrl(h, p) {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
        vec![datapath(h, "real", false), ack(h)]
    });
    let mut c = Client::open(peer.port_id).unwrap();
    let seq = c.next_seq() + 1;
    // Another socket answers first, with the right sequence number.
    let other = NetlinkSocket::open(0).unwrap();
    let mut impostor = get("impostor");
    impostor.seq = seq;
    other
        .send_to(c.port_id(), &impostor.to_bytes().unwrap())
        .unwrap();
    let mut m = get("x");
    m.family = DATAPATH;
    let r = c.transact(m).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body.name.as_deref(), Some("real"));
}

#[test]
fn stray_answers_are_skipped_or_refused() {
    let peer = Peer::start(test_port(8), |h, _| {
        let mut stray = h;
        stray.seq = h.seq.wrapping_sub(1);
        vec![ack(stray), datapath(h, "mine", false), ack(h)]
    });
    let mut c = Client::open(peer.port_id).unwrap();
    let mut m = get("x");
    m.family = DATAPATH;
    assert_eq!(c.transact(m.clone()).unwrap().len(), 1, "skipped");
    c.set_reject_stray(true);
    let e = c.transact(m).unwrap_err();
    assert!(matches!(e, Error::Stray { .. }), "{e:?}");
    assert_eq!(e.errno(), Errno::EPROTO as i32);
}

#[test]
fn a_datagram_beyond_the_receive_buffer_is_emsgsize() {
    let peer = Peer::start(test_port(9), |h, _| {
        let mut big = datapath(h, "big", false);
        big.resize(nlio::RECV_BUF + 64, 0);
        let len = big.len() as u32;
        big[..4].copy_from_slice(&len.to_ne_bytes());
        vec![big]
    });
    let mut c = Client::open(peer.port_id).unwrap();
    let mut m = get("x");
    m.family = DATAPATH;
    let e = c.transact(m).unwrap_err();
    assert!(matches!(e, Error::Oversized { .. }), "{e:?}");
    assert_eq!(e.errno(), Errno::EMSGSIZE as i32);
}

#[test]
fn raw_datagrams_go_and_come_as_they_are() {
    let peer = Peer::start(test_port(10), |h, p| {
        // Echo the message back, whatever it is.
        let mut b = Vec::new();
        h.emit(&mut b);
        b.extend_from_slice(p);
        vec![b]
    });
    let c = Client::open(peer.port_id).unwrap();
    assert!(c.try_recv_datagram().unwrap().is_none());
    let mut junk = Vec::new();
    NlMsgHeader {
        len: 19,
        ty: 0x7777,
        flags: 0,
        seq: 1,
        pid: 0,
    }
    .emit(&mut junk);
    junk.extend_from_slice(&[1, 2, 3]);
    c.send_raw(&junk).unwrap();
    let got = c.recv_datagram(Duration::from_secs(10)).unwrap();
    assert_eq!(got, junk);
    c.send_raw(&junk).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        if let Some(d) = c.try_recv_datagram().unwrap() {
            break d;
        }
        assert!(Instant::now() < deadline, "no echo");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(got, junk);
}

#[test]
fn the_kernel_answers_at_port_0() {
    let mut k = Client::open(0).unwrap();
    assert_eq!(k.family("nlctrl").unwrap(), nl::GENL_ID_CTRL);
    let e = k.family("nonesuch").unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT as i32);
    let all = k.families().unwrap();
    let ctrl = all
        .iter()
        .find(|f| f.name.as_deref() == Some("nlctrl"))
        .expect("nlctrl in the kernel's dump");
    assert_eq!(ctrl.id, Some(nl::GENL_ID_CTRL));
    assert!(
        ctrl.mcast_groups.iter().any(|g| g.name == "notify"),
        "{ctrl:?}"
    );
}
