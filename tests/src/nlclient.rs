//! A netlink client for the daemon's control plane: an [`nlio::Client`] with the helpers
//! tests assert with (errno results, 0 for success; panics where a test cannot go on).

use std::time::Duration;

use odp::family::{Body, FamilyIds, OvsMessage};
use odp::nl::flags;

/// One received netlink message: header and payload.
pub type Msg = nlio::Message;

/// How long [`NlClient::collect`] waits for each datagram of an answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// A client socket bound at a kernel-chosen port id, talking to the daemon's port id.
/// Answers to another request than the one waited for fail the test: the daemon answers
/// each request in order and nothing else.
#[derive(Debug)]
pub struct NlClient {
    c: nlio::Client,
    /// This socket's port id (where upcalls can be sent).
    pub port_id: u32,
    /// The daemon's port id.
    pub server: u32,
    /// Family ids resolved with GETFAMILY.
    pub ids: FamilyIds,
}

impl NlClient {
    /// Opens a socket (8 MiB receive buffer) and resolves the four OVS families.
    pub fn connect(server: u32) -> NlClient {
        let mut c = NlClient::raw(server);
        c.c.resolve_ovs_families()
            .unwrap_or_else(|e| panic!("{e} (errno {})", e.errno()));
        c.ids = c.c.ids;
        c
    }

    /// Opens a socket without resolving families.
    pub fn raw(server: u32) -> NlClient {
        let mut c = nlio::Client::open(server).expect("netlink socket");
        c.set_timeout(nlio::Timeout::Idle(ANSWER_WAIT));
        c.set_reject_stray(true);
        NlClient {
            port_id: c.port_id(),
            server,
            ids: FamilyIds::default(),
            c,
        }
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u32 {
        self.c.next_seq()
    }

    /// Sends raw bytes to the daemon.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), nlio::Error> {
        self.c.send_raw(bytes)
    }

    /// Receives one datagram (None on timeout or error).
    pub fn recv_dgram(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.c.recv_datagram(timeout).ok()
    }

    /// Receives one datagram if one is waiting (never blocks).
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        self.c.try_recv_datagram().ok().flatten()
    }

    /// Receives every message answering `seq` until its ACK, error or DONE: the data
    /// messages, and the final errno (0 for an ACK or DONE 0, None if neither came).
    /// With `want_end` false, a data message without `NLM_F_MULTI` ends it too.
    ///
    /// # Panics
    /// On an answer to another request, or one that does not parse.
    pub fn collect(&mut self, seq: u32, want_end: bool) -> (Vec<Msg>, Option<i32>) {
        let mut msgs = Vec::new();
        for r in self.c.replies(seq) {
            match r {
                Ok(m) => {
                    let last = !want_end && m.0.flags & flags::MULTI == 0;
                    msgs.push(m);
                    if last {
                        return (msgs, Some(0));
                    }
                }
                Err(nlio::Error::Remote(errno)) => return (msgs, Some(errno)),
                Err(nlio::Error::Timeout) => return (msgs, None),
                Err(e) => panic!("answer to seq {seq}: {e}"),
            }
        }
        (msgs, Some(0))
    }

    /// Sends `m` (REQUEST|ACK plus `extra` flags) and returns the decoded replies and
    /// the errno (0 = success).
    pub fn transact<T: Body>(
        &mut self,
        mut m: OvsMessage<T>,
        extra: u16,
    ) -> (Vec<OvsMessage<T>>, i32) {
        let seq = self.next_seq();
        m.seq = seq;
        m.pid = self.port_id;
        m.flags |= flags::REQUEST | flags::ACK | extra;
        let b = m.to_bytes().expect("encode");
        self.send_raw(&b).expect("send request");
        let (msgs, err) = self.collect(seq, true);
        let err = err.expect("an ACK, error or DONE");
        let decoded = msgs
            .into_iter()
            .map(|(h, p)| OvsMessage::<T>::parse(h, &p).expect("decode reply"))
            .collect();
        (decoded, err)
    }

    /// Resolves a family id (Err = errno).
    pub fn family(&mut self, name: &str) -> Result<u16, i32> {
        self.c.family(name).map_err(|e| e.errno())
    }

    /// A message of family `T` addressed with this client's family ids.
    pub fn msg<T: Body>(&self, cmd: T::Cmd, dp_ifindex: i32, body: T) -> OvsMessage<T> {
        let mut m = OvsMessage::new(cmd, dp_ifindex, body);
        m.family = match T::FAMILY_NAME {
            "ovs_datapath" => self.ids.datapath,
            "ovs_vport" => self.ids.vport,
            "ovs_flow" => self.ids.flow,
            _ => self.ids.packet,
        };
        m
    }
}
