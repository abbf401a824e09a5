//! A generic-netlink client that uses its socket the way OVS 3.1's `lib/netlink-socket.c`
//! does, to run under the library in a child process:
//! - the socket is `connect()`ed to the kernel, port id 0 (`nl_sock_create`);
//! - a batch of requests is one `sendmsg()` with one iovec per request and consecutive
//!   seqs (`nl_sock_transact_multiple__`), a dump request one `send()` (`nl_dump_start`);
//! - every receive is a `recvmsg()` with `MSG_DONTWAIT` into a small first iovec (1 KiB
//!   for transactions, 4 KiB for dumps) and a 64 KiB tail (`nl_sock_recv__`), and `EAGAIN`
//!   means "nothing more": the rest succeeded, or the dump is over (`nl_dump_refill`).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use odp::ctrl::CtrlMessage;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::{Body, OvsMessage};
use odp::nl::{self, flags, NlMsgHeader};

/// `nl_sock_transact_multiple__`'s first receive buffer.
pub const TRANSACT_BUF: usize = 1024;
/// `NL_DUMP_BUFSIZE`: a dump's first receive buffer.
pub const DUMP_BUF: usize = 4096;
/// `nl_sock_recv__`'s tail.
pub const TAIL: usize = 65536;

/// One received datagram.
#[derive(Debug, Clone)]
pub struct Dgram {
    /// Its bytes, first iovec and tail joined.
    pub bytes: Vec<u8>,
    /// How many bytes landed in the tail.
    pub in_tail: usize,
    /// The source port id.
    pub from: u32,
}

impl Dgram {
    /// Its messages.
    pub fn msgs(&self) -> Vec<(NlMsgHeader, Vec<u8>)> {
        nl::messages(&self.bytes)
            .map(|m| {
                let (h, p) = m.expect("well-formed datagram");
                (h, p.to_vec())
            })
            .collect()
    }

    /// The first message's header.
    pub fn first(&self) -> NlMsgHeader {
        NlMsgHeader::parse(&self.bytes).expect("a header")
    }

    /// The error of an `NLMSG_ERROR` first message (0 for an ACK); None for anything else.
    pub fn error(&self) -> Option<i32> {
        let (h, p) = self.msgs().into_iter().next()?;
        (h.ty == 2).then(|| i32::from_ne_bytes(p[0..4].try_into().expect("error code")))
    }
}

/// A netlink socket used as OVS uses it.
#[derive(Debug)]
pub struct OvsSock {
    fd: OwnedFd,
    seq: u32,
}

/// The family ids a client resolves with `GETFAMILY`.
#[derive(Debug, Clone, Copy)]
pub struct Families {
    /// `ovs_datapath`.
    pub datapath: u16,
    /// `ovs_flow`.
    pub flow: u16,
}

impl OvsSock {
    /// A NETLINK_GENERIC socket connected to the kernel (port id 0), as `nl_sock_create`
    /// makes it.
    pub fn open() -> OvsSock {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::empty(),
            SockProtocol::NetlinkGeneric,
        )
        .expect("netlink socket");
        socket::connect(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).expect("connect to port 0");
        OvsSock { fd, seq: 1 }
    }

    /// The socket, to use at another descriptor.
    pub fn with_fd(fd: OwnedFd) -> OvsSock {
        OvsSock { fd, seq: 1000 }
    }

    /// Its descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Gives the descriptor up.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Numbers `msgs` with consecutive seqs and sends them in one `sendmsg()`, one iovec
    /// each; returns the first seq.
    pub fn send_batch(&mut self, msgs: &mut [Vec<u8>]) -> u32 {
        let base = self.seq;
        for (i, m) in msgs.iter_mut().enumerate() {
            let seq = base + u32::try_from(i).expect("batch size");
            m[8..12].copy_from_slice(&seq.to_ne_bytes());
        }
        self.seq += u32::try_from(msgs.len()).expect("batch size");
        let iov: Vec<IoSlice<'_>> = msgs.iter().map(|m| IoSlice::new(m)).collect();
        socket::sendmsg::<NetlinkAddr>(self.fd(), &iov, &[], MsgFlags::empty(), None)
            .expect("sendmsg");
        base
    }

    /// Sends one request with `send()`, as a dump starts; returns its seq.
    pub fn send_one(&mut self, mut msg: Vec<u8>) -> u32 {
        let seq = self.seq;
        self.seq += 1;
        msg[8..12].copy_from_slice(&seq.to_ne_bytes());
        socket::send(self.fd(), &msg, MsgFlags::empty()).expect("send");
        seq
    }

    /// One `recvmsg(MSG_DONTWAIT)` into a `first`-byte buffer plus the 64 KiB tail.
    pub fn recv(&self, first: usize) -> Result<Dgram, Errno> {
        let mut a = vec![0u8; first];
        let mut tail = vec![0u8; TAIL];
        let mut iov = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut tail)];
        let r = socket::recvmsg::<NetlinkAddr>(self.fd(), &mut iov, None, MsgFlags::MSG_DONTWAIT)?;
        assert!(
            !r.flags.contains(MsgFlags::MSG_TRUNC),
            "a datagram longer than {} bytes",
            first + TAIL
        );
        let (n, from) = (r.bytes, r.address.map_or(u32::MAX, |a| a.pid()));
        let mut bytes = a;
        bytes.truncate(n.min(first));
        let in_tail = n.saturating_sub(first);
        bytes.extend_from_slice(&tail[..in_tail]);
        Ok(Dgram {
            bytes,
            in_tail,
            from,
        })
    }

    /// Sends `msgs` as one batch and receives until `EAGAIN`, as a transaction does: every
    /// datagram the batch got.
    pub fn transact(&mut self, msgs: &mut [Vec<u8>]) -> (u32, Vec<Dgram>) {
        let base = self.send_batch(msgs);
        let mut got = Vec::new();
        loop {
            match self.recv(TRANSACT_BUF) {
                Ok(d) => got.push(d),
                Err(Errno::EAGAIN) => return (base, got),
                Err(e) => panic!("recvmsg: {e}"),
            }
        }
    }

    /// Sends a dump request and receives until its `NLMSG_DONE`, an error, or `EAGAIN` (which
    /// OVS takes for the end): the datagrams, and whether `NLMSG_DONE` was seen.
    pub fn dump(&mut self, request: Vec<u8>) -> (Vec<Dgram>, bool) {
        let seq = self.send_one(request);
        let mut got = Vec::new();
        loop {
            match self.recv(DUMP_BUF) {
                Ok(d) => {
                    let mine = d.first().seq == seq;
                    let end = d.msgs().iter().any(|(h, _)| h.ty == 3) || d.error().is_some();
                    if mine {
                        got.push(d);
                    }
                    if mine && end {
                        return (got, true);
                    }
                }
                Err(Errno::EAGAIN) => return (got, false),
                Err(e) => panic!("recvmsg: {e}"),
            }
        }
    }

    /// Resolves the families the tests use.
    pub fn families(&mut self) -> Families {
        let mut id = |name: &str| {
            let mut m = Vec::new();
            CtrlMessage::get_family(name, 0)
                .emit(&mut m)
                .expect("GETFAMILY");
            let (_, got) = self.transact(&mut [m]);
            let (h, p) = got[0].msgs().remove(0);
            let reply = CtrlMessage::parse(h, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
            reply.info.id.unwrap_or_else(|| panic!("{name}: no id"))
        };
        Families {
            datapath: id("ovs_datapath"),
            flow: id("ovs_flow"),
        }
    }

    /// The `dp_ifindex` of datapath `name`.
    pub fn dp_ifindex(&mut self, fam: Families, name: &str) -> i32 {
        let mut m = msg(
            fam.datapath,
            flags::REQUEST,
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(name.to_string()),
                ..Default::default()
            },
        );
        let (_, got) = self.transact(std::slice::from_mut(&mut m));
        assert_eq!(got.len(), 1, "{got:?}");
        let (h, p) = got[0].msgs().remove(0);
        OvsMessage::<DatapathAttrs>::parse(h, &p)
            .expect("DP_GET reply")
            .dp_ifindex
    }
}

/// A request of an OVS family, ready to send (its seq is set when it is sent).
pub fn msg<T: Body>(family: u16, f: u16, cmd: T::Cmd, dp_ifindex: i32, body: T) -> Vec<u8> {
    let mut m = OvsMessage::new(cmd, dp_ifindex, body);
    m.family = family;
    m.flags = f;
    m.to_bytes().expect("emit")
}

/// The key of test flow number `i`: one MAC source address each.
pub fn flow_key(i: u32) -> String {
    format!(
        "in_port(1),eth(src=00:01:02:{:02x}:{:02x}:{:02x},dst=10:11:12:13:14:15),eth_type(0x1234)",
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    )
}

/// `FLOW_NEW` of flow `i` (output to port 1) with flags `f`, as ovs-dpctl's add-flow sends
/// it: no `NLM_F_ACK`.
pub fn flow_new(fam: Families, dp: i32, i: u32, f: u16) -> Vec<u8> {
    let (key, _) = odp::text::parse_key(&flow_key(i), None).expect("key");
    let actions = odp::text::parse_actions("1", None).expect("actions");
    msg(
        fam.flow,
        f,
        FlowCmd::New,
        dp,
        FlowAttrs {
            key: Some(key),
            actions: Some(actions),
            ..Default::default()
        },
    )
}

/// `FLOW_GET` or `FLOW_DEL` of flow `i` by key, no `NLM_F_ACK`.
pub fn flow_by_key(fam: Families, dp: i32, cmd: FlowCmd, i: u32) -> Vec<u8> {
    let (key, _) = odp::text::parse_key(&flow_key(i), None).expect("key");
    msg(
        fam.flow,
        flags::REQUEST,
        cmd,
        dp,
        FlowAttrs {
            key: Some(key),
            ..Default::default()
        },
    )
}

/// A flow dump request of datapath `dp`, as `nl_dump_start` sends it.
pub fn flow_dump(fam: Families, dp: i32) -> Vec<u8> {
    msg(
        fam.flow,
        flags::REQUEST | flags::DUMP | flags::ACK,
        FlowCmd::Get,
        dp,
        FlowAttrs::default(),
    )
}
