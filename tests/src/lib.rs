//! Helpers for end-to-end tests that run real `dpswitch` processes: unique names per test,
//! network namespaces, and cleanup (by pid) even when a test fails.
#![warn(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of a workspace binary (`dpswitch`, `dpctl`) next to the test executable's directory.
///
/// # Panics
/// When the binary is not built: `tests/run.sh` builds every binary before testing.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` (tests/run.sh does)",
        path.display()
    );
    path
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A netlink port id no other test (in this or a parallel test process) uses.
pub fn fresh_netlink_pid() -> u32 {
    0x4500_0000
        | (std::process::id() << 8 & 0x00ff_ff00)
        | (SEQ.fetch_add(1, Ordering::Relaxed) & 0xff)
}

/// The `dpswitch` command the harness runs: EAL on cores 0-1 in memory with `file_prefix`,
/// the control plane at `netlink_pid`, no metrics endpoint, a status line every second,
/// then `args`.
pub fn dpswitch_command(file_prefix: &str, netlink_pid: u32, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("dpswitch"));
    cmd.args([
        "-l",
        "0-1",
        "--in-memory",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        file_prefix,
    ])
    .args([
        "--netlink-pid",
        &netlink_pid.to_string(),
        "--metrics",
        "off",
        "--status-interval",
        "1",
    ])
    .args(args)
    .env("RUST_LOG", "info");
    cmd
}

/// Runs a dpswitch that is expected to exit by itself (a refused start): its exit code
/// (-1 for a signal) and everything it printed.
///
/// # Panics
/// If it is still running after `timeout` (it is killed first).
pub fn dpswitch_until_exit(
    file_prefix: &str,
    netlink_pid: u32,
    args: &[&str],
    timeout: Duration,
) -> (i32, String) {
    let mut child = dpswitch_command(file_prefix, netlink_pid, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dpswitch");
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait for dpswitch").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap dpswitch");
            panic!(
                "dpswitch did not exit within {timeout:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("reap dpswitch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The lines of dpswitch's long-round log (`--log info,dpswitch::long_rounds=debug`) in
/// `log`.
pub fn long_round_lines(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .filter(|l| l.contains("dpswitch::long_rounds") && l.contains("long poll round"))
}

/// A short name unique to this test process and call: `<prefix><pid%10000><n>`, at most 15
/// bytes so it can name a kernel netdev.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}{n}", std::process::id() % 10000);
    assert!(name.len() <= 15, "{name} is too long for a netdev name");
    name
}

/// A running `dpswitch` process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Dpswitch {
    child: Child,
    /// The netlink port id it serves.
    pub netlink_pid: u32,
    /// Its EAL file prefix.
    pub file_prefix: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Dpswitch {
    /// Starts dpswitch with its own file prefix, netlink port id and no metrics endpoint,
    /// plus `args`, and waits until it forwards.
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start(args: &[&str]) -> Dpswitch {
        Dpswitch::start_at(&unique("e2e"), fresh_netlink_pid(), args)
    }

    /// Like [`Dpswitch::start`] with a given EAL file prefix and netlink port id.
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start_at(file_prefix: &str, netlink_pid: u32, args: &[&str]) -> Dpswitch {
        let file_prefix = file_prefix.to_string();
        let mut cmd = dpswitch_command(&file_prefix, netlink_pid, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dpswitch");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let sw = Dpswitch {
            child,
            netlink_pid,
            file_prefix,
            log,
        };
        if !sw.wait_for_log("forwarding", Duration::from_secs(20)) {
            panic!("dpswitch did not start:\n{}", sw.log_text());
        }
        sw
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills it with SIGKILL (no cleanup of its own runs) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it with SIGTERM and returns its exit status (SIGKILL after 10 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// Stops the daemon like [`Dpswitch::stop`] and also returns its whole log (including
    /// the shutdown), for failure messages.
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String) {
        let st = self.terminate();
        // The reader threads finish once the pipes close.
        std::thread::sleep(Duration::from_millis(100));
        (st, self.log_text())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().expect("reap dpswitch")
    }
}

impl Drop for Dpswitch {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A network namespace, deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with a unique name.
    ///
    /// # Panics
    /// If `ip netns add` fails.
    pub fn new() -> Netns {
        let name = unique("ns");
        sh(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// Moves the interface `ifname` into the namespace, gives it `cidr` and brings it up.
    pub fn adopt(&self, ifname: &str, cidr: &str) {
        sh(&["ip", "link", "set", ifname, "netns", &self.name]);
        self.exec(&["ip", "addr", "add", cidr, "dev", ifname]);
        self.exec(&["ip", "link", "set", ifname, "up"]);
    }

    /// Runs a command inside the namespace; panics unless it succeeds.
    pub fn exec(&self, argv: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        sh(&full)
    }

    /// Runs a command inside the namespace and returns whether it succeeded, and its output.
    pub fn try_exec(&self, argv: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .expect("run ip netns exec");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs a command; panics with its output unless it succeeds.
pub fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{argv:?} failed: {text}");
    text
}

/// A netlink client for the daemon's control plane: an [`nlio::Client`] with the helpers
/// tests assert with (errno results, 0 for success; panics where a test cannot go on).
pub mod nlclient {
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
}

/// What one `dpctl` run printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlRun {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `dpctl --netlink-pid PID ARGS` with `stdin` as its input.
///
/// # Panics
/// If dpctl cannot be spawned.
pub fn dpctl_at(pid: u32, args: &[&str], stdin: &str) -> CtlRun {
    let mut cmd = Command::new(bin("dpctl"));
    cmd.arg(format!("--netlink-pid={pid}"))
        .args(args)
        .env_remove("DPSWITCH_NETLINK_PID");
    run_ctl(cmd, stdin)
}

/// Runs a control client with `stdin` as its input and collects what it printed.
///
/// # Panics
/// If it cannot be spawned.
fn run_ctl(mut cmd: Command, stdin: &str) -> CtlRun {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .expect("wait for the control client");
    CtlRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Dpswitch {
    /// Runs `dpctl ARGS` against this daemon.
    pub fn dpctl(&self, args: &[&str]) -> CtlRun {
        dpctl_at(self.netlink_pid, args, "")
    }

    /// Runs `dpctl ARGS` against this daemon, feeding `stdin`.
    pub fn dpctl_stdin(&self, args: &[&str], stdin: &str) -> CtlRun {
        dpctl_at(self.netlink_pid, args, stdin)
    }
}

impl Netns {
    /// Moves the interface `ifname` into the namespace with IPv6 off (no ND/MLD/RS noise into
    /// the switch) and no address, and brings it up: a quiet port for counted frames.
    pub fn take_quiet(&self, ifname: &str) {
        self.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        self.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        sh(&["ip", "link", "set", ifname, "netns", &self.name]);
        self.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
        ]);
        self.exec(&["ip", "link", "set", ifname, "up"]);
    }

    /// Runs `f` on a thread that has entered this namespace (sockets it opens stay in it).
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("netns thread")
    }
}

/// An ethertype from the IEEE local experimental range: frames of the tests' own, told apart
/// from anything else a kernel might send.
pub const MAGIC_ETHERTYPE: u16 = 0x88b5;

/// An Ethernet frame `dst src MAGIC_ETHERTYPE payload`, padded to the 60-byte minimum.
pub fn magic_frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60.max(14 + payload.len()));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&MAGIC_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

/// An AF_PACKET socket bound to one kernel interface: frames written into it enter that
/// interface (for a switch's TAP: the switch receives them); frames the interface receives
/// can be read back.
#[derive(Debug)]
pub struct PacketSocket {
    fd: std::os::fd::OwnedFd,
}

impl PacketSocket {
    /// Opens a socket on `ifname` inside `ns`.
    ///
    /// # Panics
    /// If the interface is not in the namespace or the socket cannot be opened.
    pub fn open(ns: &Netns, ifname: &str) -> PacketSocket {
        let ifname = ifname.to_string();
        let fd = ns.run_in(move || PacketSocket::open_here(&ifname));
        let s = PacketSocket { fd };
        // Room for a long burst of counted frames while the reader is busy (root: forced).
        if nix::sys::socket::setsockopt(&s.fd, nix::sys::socket::sockopt::RcvBufForce, &(8 << 20))
            .is_err()
        {
            let _ =
                nix::sys::socket::setsockopt(&s.fd, nix::sys::socket::sockopt::RcvBuf, &(8 << 20));
        }
        s.drain();
        s
    }

    fn open_here(ifname: &str) -> std::os::fd::OwnedFd {
        use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockProtocol, SockType};
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .expect("AF_PACKET socket");
        // The interface's link-layer address names its ifindex; its zero protocol keeps the
        // socket's ETH_P_ALL.
        let link = nix::ifaddrs::getifaddrs()
            .expect("getifaddrs")
            .filter(|a| a.interface_name == ifname)
            .find_map(|a| a.address.and_then(|s| s.as_link_addr().copied()))
            .unwrap_or_else(|| panic!("no link address for {ifname}"));
        bind(fd.as_raw_fd(), &link).expect("bind AF_PACKET");
        fd
    }

    /// Writes one frame into the interface.
    pub fn send(&self, frame: &[u8]) {
        let n = nix::sys::socket::send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            frame,
            nix::sys::socket::MsgFlags::empty(),
        )
        .expect("AF_PACKET send");
        assert_eq!(n, frame.len());
    }

    /// The next frame of [`MAGIC_ETHERTYPE`] the interface received within `timeout`
    /// (other frames and our own transmissions are skipped).
    pub fn recv_magic(&self, timeout: Duration) -> Option<Vec<u8>> {
        use nix::sys::socket::{recvfrom, setsockopt, sockopt, LinkAddr};
        const PACKET_OUTGOING: u8 = 4;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let tv = nix::sys::time::TimeVal::new(
                left.as_secs() as i64,
                i64::from(left.subsec_micros().max(1)),
            );
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv).expect("SO_RCVTIMEO");
            let Ok((n, from)) =
                recvfrom::<LinkAddr>(std::os::fd::AsRawFd::as_raw_fd(&self.fd), &mut buf)
            else {
                continue;
            };
            if from.is_some_and(|a| a.pkttype() == PACKET_OUTGOING) || n < 14 {
                continue;
            }
            if u16::from_be_bytes([buf[12], buf[13]]) == MAGIC_ETHERTYPE {
                return Some(buf[..n].to_vec());
            }
        }
    }

    /// How many [`MAGIC_ETHERTYPE`] frames arrive until none has for `quiet`.
    pub fn count_magic(&self, quiet: Duration) -> usize {
        let mut n = 0;
        while self.recv_magic(quiet).is_some() {
            n += 1;
        }
        n
    }

    /// Discards whatever is queued.
    pub fn drain(&self) {
        let mut buf = vec![0u8; 2048];
        while nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .is_ok()
        {}
    }
}

impl Dpswitch {
    /// The datapath's attributes from a netlink GET (stats and megaflow stats included).
    ///
    /// # Panics
    /// If the GET fails.
    pub fn dp_attrs(&self, dp: &str) -> odp::family::datapath::DatapathAttrs {
        self.dp_get(dp).body
    }

    /// The datapath's `dp_ifindex` (the `ovs_header` of its GET reply), which requests of the
    /// other families address it by.
    ///
    /// # Panics
    /// If the GET fails.
    pub fn dp_ifindex(&self, dp: &str) -> i32 {
        self.dp_get(dp).dp_ifindex
    }

    fn dp_get(&self, dp: &str) -> odp::family::OvsMessage<odp::family::datapath::DatapathAttrs> {
        use odp::family::datapath::{DatapathAttrs, DpCmd};
        let mut c = nlclient::NlClient::connect(self.netlink_pid);
        let m = c.msg(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(dp.to_string()),
                ..DatapathAttrs::default()
            },
        );
        let (r, e) = c.transact(m, 0);
        assert_eq!(e, 0, "DP GET {dp}");
        r.into_iter().next().expect("DP GET reply")
    }

    /// Waits until the datapath's lookup counters stop moving for `quiet` (at most `max`):
    /// whatever the kernel sent while ports were being set up has been handled.
    pub fn settle(&self, dp: &str, quiet: Duration, max: Duration) {
        let lookups = |s: &Dpswitch| {
            let st = s.dp_attrs(dp).stats.unwrap_or_default();
            (st.n_hit, st.n_missed, st.n_lost)
        };
        let deadline = Instant::now() + max;
        let mut last = lookups(self);
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = lookups(self);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }
}

/// Writes `frames` as a classic little-endian pcap file (Ethernet link type), e.g. for a
/// `net_pcap` port's `rx_pcap=`.
///
/// # Panics
/// If the file cannot be written.
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    const LINKTYPE_ETHERNET: u32 = 1;
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for f in frames {
        let len = u32::try_from(f.len()).expect("frame length");
        out.extend_from_slice(&[0u8; 8]); // timestamp
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A file removed when dropped.
#[derive(Debug)]
pub struct TempFile {
    /// Its path.
    pub path: PathBuf,
}

impl TempFile {
    /// A unique path under the system temporary directory, ending in `suffix`.
    pub fn new(suffix: &str) -> TempFile {
        TempFile {
            path: std::env::temp_dir().join(format!("{}{suffix}", unique("dpsw"))),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Real HTTP scrapes of dpswitch's Prometheus endpoint.
pub mod prom {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    /// A loopback address with a port nothing listens on (for `--metrics`).
    pub fn free_port() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        l.local_addr().expect("local addr")
    }

    /// `GET /metrics` over a real TCP connection; the body.
    ///
    /// # Panics
    /// Unless the answer is HTTP 200.
    pub fn scrape(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).expect("connect to /metrics");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read response");
        let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
        assert!(head.contains(" 200 "), "{head}");
        body.to_string()
    }

    /// Samples by `name{labels}` (labels as the encoder prints them, sorted by name).
    pub fn samples(body: &str) -> HashMap<String, f64> {
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// The sample `key`.
    ///
    /// # Panics
    /// If the scrape has no such sample.
    pub fn get(s: &HashMap<String, f64>, key: &str) -> u64 {
        *s.get(key)
            .unwrap_or_else(|| panic!("no sample {key} in {s:#?}")) as u64
    }
}

// --- ovs-dpctl interop helpers ---

/// Where `dpdk-sys/install-deps.sh --tests` leaves the stock ovs-dpctl when it is not
/// installed system-wide (unpacked from Debian's openvswitch-switch, never installed).
pub const OVS_DPCTL_CACHE: &str = "/var/cache/dpswitch-tests/ovs/usr/bin/ovs-dpctl";

/// The stock ovs-dpctl binary: `/usr/bin/ovs-dpctl`, else [`OVS_DPCTL_CACHE`].
///
/// # Panics
/// If neither exists (the tests that need it fail rather than skip).
pub fn ovs_dpctl_path() -> PathBuf {
    ["/usr/bin/ovs-dpctl", OVS_DPCTL_CACHE]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the stock ovs-dpctl is missing (neither /usr/bin/ovs-dpctl nor \
                 {OVS_DPCTL_CACHE}); run `dpdk-sys/install-deps.sh --tests`"
            )
        })
}

/// Runs the stock `ovs-dpctl ARGS` against the dpswitch at netlink port `pid` (through the
/// `tests/shim/nlredirect.c` LD_PRELOAD shim) with `stdin` as its input.
///
/// # Panics
/// If ovs-dpctl is missing or cannot be spawned.
pub fn ovs_dpctl_at(pid: u32, args: &[&str], stdin: &str) -> CtlRun {
    let mut cmd = Command::new(ovs_dpctl_path());
    cmd.args(args)
        .env("LD_PRELOAD", env!("NLREDIRECT_SO"))
        .env("DPSWITCH_NETLINK_PID", pid.to_string());
    run_ctl(cmd, stdin)
}

/// Splits ovs-dpctl's stderr into its vlog lines (`TIMESTAMP|SEQ|module|LEVEL|text`, returned
/// as `module|LEVEL|text`) and everything else.
pub fn split_vlog(stderr: &str) -> (Vec<String>, String) {
    let mut log = Vec::new();
    let mut rest = String::new();
    for l in stderr.lines() {
        let f: Vec<&str> = l.splitn(3, '|').collect();
        let is_vlog = f.len() == 3
            && f[0].len() == 20
            && f[0].ends_with('Z')
            && f[1].len() == 5
            && f[1].bytes().all(|b| b.is_ascii_digit());
        if is_vlog {
            log.push(f[2].to_string());
        } else {
            rest.push_str(l);
            rest.push('\n');
        }
    }
    (log, rest)
}

// --- hostile/fault helpers ---

impl Dpswitch {
    /// Starts dpswitch from a complete command line (e.g. without `--in-memory`, which
    /// [`dpswitch_command`] always passes) and waits until it forwards; stopped on drop like
    /// one from [`Dpswitch::start`].
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start_command(mut cmd: Command, file_prefix: &str, netlink_pid: u32) -> Dpswitch {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dpswitch");
        let log = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let sw = Dpswitch {
            child,
            netlink_pid,
            file_prefix: file_prefix.to_string(),
            log,
        };
        if !sw.wait_for_log("forwarding", Duration::from_secs(20)) {
            panic!("dpswitch did not start:\n{}", sw.log_text());
        }
        sw
    }

    /// The vport `name`'s statistics from a netlink GET.
    ///
    /// # Panics
    /// If the GET fails or carries no statistics.
    pub fn vport_stats(&self, dp: &str, name: &str) -> odp::family::vport::VportStats {
        use odp::family::vport::{VportAttrs, VportCmd};
        let ifindex = self.dp_ifindex(dp);
        let mut c = nlclient::NlClient::connect(self.netlink_pid);
        let m = c.msg(
            VportCmd::Get,
            ifindex,
            VportAttrs {
                name: Some(name.to_string()),
                ..VportAttrs::default()
            },
        );
        let (r, e) = c.transact(m, 0);
        assert_eq!(e, 0, "VPORT GET {name}");
        r[0].body.stats.expect("vport stats")
    }
}

/// Runs `tests`' `nlhostile` against the daemon at `netlink_pid` (pid `daemon`) with `args`
/// after those two: its exit code and its summary (stdout and stderr).
pub fn nlhostile(netlink_pid: u32, daemon: u32, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("nlhostile"))
        .args(["--netlink-pid", &netlink_pid.to_string()])
        .args(["--daemon-pid", &daemon.to_string()])
        .args(args)
        .output()
        .expect("run nlhostile");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The `key=value` fields of nlhostile's `RESULT` line.
pub fn result_fields(summary: &str) -> std::collections::HashMap<String, String> {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
