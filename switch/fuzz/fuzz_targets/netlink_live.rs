//! A live dpswitch under generated netlink traffic: each input becomes one or more datagrams
//! of requests to all four OVS families, the private PMD family and nlctrl — valid templates
//! (datapath/vport/flow NEW, DEL, GET, SET, dumps, PACKET EXECUTE) with fuzzed fields, then
//! mutated (extra and nested attributes, bit flips, truncation, length lies, several messages
//! per datagram). After every input the daemon must answer a datapath GET (after all the
//! answers to the input, since it serves strictly in order) within a minute and still be
//! running; answers slower than a second are reported.
//!
//! The daemon is a child process: coverage guidance only sees this generator, so this is a
//! structure-aware random campaign against the real server; the decoders themselves are
//! coverage-fuzzed in-process by `odp/fuzz`.
//!
//! Run it as root in a network namespace of its own (`unshare --net`): generated vport
//! requests create TAP devices and may attach kernel interfaces by name, which must not be
//! the host's. The target refuses to start in the host's namespace. `DPSWITCH_BIN` overrides
//! the daemon binary (default: the workspace's `target/release/dpswitch`).
#![no_main]

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use nlio::Client;
use odp::dpswitch::FAMILY_IDS;
use odp::nl;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const GENL_ID_CTRL: u16 = 0x10;
const NLA_F_NESTED: u16 = 0x8000;
/// The datapath every liveness GET asks for (it may have been deleted: ENODEV is an answer).
const DP: &str = "fz0";
/// Names the generator picks from, so that requests hit each other's objects.
const NAMES: [&str; 4] = [DP, "fz1", "fzv0", "fzv1"];

struct Live {
    child: Child,
    /// Talks to the daemon: the fuzz input's datagrams and the liveness GETs.
    client: Client,
    /// The liveness GETs' sequence numbers, far from the 7 every generated request carries.
    seq: u32,
    /// The datapath's `dp_ifindex`, from the last GET's answer (0 once it is deleted).
    dp_ifindex: i32,
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn live() -> &'static Mutex<Live> {
    static LIVE: OnceLock<Mutex<Live>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(start()))
}

fn start() -> Live {
    let ns = |p: &str| std::fs::read_link(p).ok();
    assert!(
        ns("/proc/self/ns/net") != ns("/proc/1/ns/net"),
        "netlink_live creates and attaches network devices: run it under `unshare --net`"
    );
    let bin = std::env::var("DPSWITCH_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/dpswitch").to_string()
    });
    let server = 0x4600_0000 | (std::process::id() & 0xffff);
    let prefix = format!("fzlive{}", std::process::id());
    // setpriv --pdeathsig: the daemon dies with the fuzzer, however the fuzzer ends.
    let child = Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--", &bin])
        .args(["-l", "0-1", "--no-huge", "--no-shconf", "--no-pci", "--no-telemetry"])
        .args(["--file-prefix", &prefix, "--netlink-pid", &server.to_string()])
        .args(["--metrics", "off", "--status-interval", "0", "--mbufs", "8192"])
        .args(["--dp", DP, "--port", "n0=net_null0,no-rx=1"])
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    // An 8 MiB receive buffer: the answers to a whole input wait there until the next GET.
    let client = Client::open(server).expect("netlink socket");
    let mut live = Live {
        child,
        client,
        seq: 1 << 30,
        dp_ifindex: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !live.answers_get(Duration::from_millis(200)) {
        if let Ok(Some(st)) = live.child.try_wait() {
            panic!("dpswitch exited at start: {st}");
        }
        assert!(Instant::now() < deadline, "dpswitch never answered");
    }
    live
}

impl Live {
    /// Sends a datapath GET and waits for the answer to it; everything received before it
    /// (answers to the fuzz input) is discarded.
    fn answers_get(&mut self, timeout: Duration) -> bool {
        self.seq += 1;
        let seq = self.seq;
        let mut m = Msg::new(FAMILY_IDS.datapath, NLM_F_REQUEST, 3, 0);
        m.seq = seq;
        m.attr(1, &nul(DP));
        let _ = self.client.send_raw(&m.bytes());
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let d = match self.client.recv_datagram(left) {
                Ok(d) => d,
                Err(nlio::Error::Timeout) => return false,
                // ENOBUFS after a huge dump: the GET's answer is still to come.
                Err(_) => continue,
            };
            for m in nl::messages(&d) {
                let Ok((h, p)) = m else { break };
                if h.seq == seq && h.ty != nl::NLMSG_DONE {
                    self.dp_ifindex = match p.get(4..8) {
                        Some(ifindex) if h.ty == FAMILY_IDS.datapath => {
                            i32::from_ne_bytes(ifindex.try_into().unwrap())
                        }
                        _ => 0,
                    };
                    return h.ty == nl::NLMSG_ERROR || h.ty == FAMILY_IDS.datapath;
                }
            }
        }
    }

    fn send(&self, dgram: &[u8]) {
        let _ = self.client.send_raw(dgram);
    }
}

fn nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// One generic-netlink message being built.
struct Msg {
    family: u16,
    flags: u16,
    cmd: u8,
    seq: u32,
    dp_ifindex: i32,
    ovs_header: bool,
    attrs: Vec<u8>,
}

impl Msg {
    fn new(family: u16, flags: u16, cmd: u8, dp_ifindex: i32) -> Msg {
        Msg {
            family,
            flags,
            cmd,
            seq: 0,
            dp_ifindex,
            ovs_header: family != GENL_ID_CTRL,
            attrs: Vec::new(),
        }
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) {
        put_attr(&mut self.attrs, ty, payload);
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24 + self.attrs.len());
        let len = 16 + 4 + if self.ovs_header { 4 } else { 0 } + self.attrs.len();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&self.family.to_ne_bytes());
        b.extend_from_slice(&self.flags.to_ne_bytes());
        b.extend_from_slice(&self.seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&[self.cmd, 1, 0, 0]);
        if self.ovs_header {
            b.extend_from_slice(&self.dp_ifindex.to_ne_bytes());
        }
        b.extend_from_slice(&self.attrs);
        b
    }
}

fn put_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len.min(0xffff) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize((out.len() + 3) & !3, 0);
}

/// `ovs_key_ipv4`: source, destination, protocol, TOS, TTL, fragment type.
type Ipv4Fields = ([u8; 4], [u8; 4], u8, u8, u8, u8);

/// A flow key or mask as OVS_KEY_ATTR_* attributes, from fuzzed field values.
#[derive(Arbitrary, Debug)]
struct KeyFields {
    in_port: Option<u32>,
    eth: Option<([u8; 6], [u8; 6])>,
    eth_type: Option<u16>,
    ipv4: Option<Ipv4Fields>,
    udp: Option<(u16, u16)>,
    recirc: Option<u32>,
}

impl KeyFields {
    fn encode(&self) -> Vec<u8> {
        let mut k = Vec::new();
        if let Some(p) = self.in_port {
            put_attr(&mut k, 3, &(p % 8).to_ne_bytes());
        }
        if let Some((src, dst)) = self.eth {
            put_attr(&mut k, 4, &[src, dst].concat());
        }
        if let Some(t) = self.eth_type {
            put_attr(&mut k, 6, &t.to_be_bytes());
        }
        if let Some((s, d, proto, tos, ttl, frag)) = self.ipv4 {
            put_attr(&mut k, 7, &[&s[..], &d[..], &[proto, tos, ttl, frag % 3]].concat());
        }
        if let Some((s, d)) = self.udp {
            put_attr(&mut k, 10, &[s.to_be_bytes(), d.to_be_bytes()].concat());
        }
        if let Some(r) = self.recirc {
            put_attr(&mut k, 20, &r.to_ne_bytes());
        }
        k
    }
}

#[derive(Arbitrary, Debug)]
enum Act {
    Output(u8),
    Userspace(u32),
    Recirc(u32),
    PushVlan(u16),
    PopVlan,
    Hash(u32),
    Raw(u16, Vec<u8>),
}

fn encode_actions(acts: &[Act]) -> Vec<u8> {
    let mut a = Vec::new();
    for act in acts.iter().take(16) {
        match act {
            Act::Output(p) => put_attr(&mut a, 1, &u32::from(p % 8).to_ne_bytes()),
            Act::Userspace(pid) => {
                let mut n = Vec::new();
                put_attr(&mut n, 1, &pid.to_ne_bytes());
                put_attr(&mut a, 2 | NLA_F_NESTED, &n);
            }
            Act::Recirc(id) => put_attr(&mut a, 7, &id.to_ne_bytes()),
            Act::PushVlan(tci) => {
                put_attr(&mut a, 4, &[0x81, 0x00, (tci >> 8) as u8 | 0x10, *tci as u8])
            }
            Act::PopVlan => put_attr(&mut a, 5, &[]),
            Act::Hash(b) => put_attr(&mut a, 8, &[1u32.to_ne_bytes(), b.to_ne_bytes()].concat()),
            Act::Raw(t, p) => put_attr(&mut a, *t, &p[..p.len().min(64)]),
        }
    }
    a
}

#[derive(Arbitrary, Debug)]
enum Template {
    DpNew { name: u8, upcall_pid: u32, features: Option<u32> },
    DpDel { name: u8 },
    DpSet { features: Option<u32>, masks_cache: Option<u32> },
    DpDump,
    VportNew { name: u8, port_no: Option<u8>, ty: u8, upcall_pids: Vec<u32> },
    VportDel { port_no: Option<u8>, name: Option<u8> },
    VportSet { port_no: u8, upcall_pids: Vec<u32> },
    VportGet { port_no: Option<u8>, name: Option<u8> },
    VportDump,
    FlowNew { key: KeyFields, mask: Option<KeyFields>, actions: Vec<Act>, ufid: Option<u128>, create: bool },
    FlowSet { key: KeyFields, actions: Vec<Act>, clear: bool },
    FlowDel { key: Option<KeyFields>, ufid: Option<u128> },
    FlowGet { key: KeyFields, ufid: Option<u128> },
    FlowDump { ufid_flags: Option<u32> },
    Execute { frame: Vec<u8>, key: KeyFields, actions: Vec<Act> },
    PmdStats { cmd: u8 },
    GetFamily { name: u8 },
    Raw { family: u16, cmd: u8, attrs: Vec<(u16, Vec<u8>)> },
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    None,
    /// Extra attributes appended (unknown types, wrong sizes).
    Append(Vec<(u16, Vec<u8>)>),
    /// One attribute nested `depth` levels deep.
    Deep { ty: u16, depth: u16 },
    FlipBit(u16),
    Truncate(u16),
    /// `nlmsg_len` set to this (shorter or longer than the bytes).
    LieLength(u32),
    /// The first attribute's `nla_len` set to this.
    LieAttrLength(u16),
    /// A different `nlmsg_type` / flags.
    Header { ty: Option<u16>, flags: Option<u16> },
}

#[derive(Arbitrary, Debug)]
struct Request {
    template: Template,
    ack: bool,
    echo: bool,
    dp_ifindex: Option<i32>,
    mutation: Mutation,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Each inner list is one datagram (several messages packed back to back).
    datagrams: Vec<Vec<Request>>,
}

fn name(i: u8) -> Vec<u8> {
    nul(NAMES[usize::from(i) % NAMES.len()])
}

fn upcall_pids(p: &[u32]) -> Vec<u8> {
    p.iter().take(8).flat_map(|x| x.to_ne_bytes()).collect()
}

fn build(r: &Request, dp_ifindex: i32) -> Vec<u8> {
    let ids = FAMILY_IDS;
    let ifx = r.dp_ifindex.unwrap_or(dp_ifindex);
    let flags = NLM_F_REQUEST | if r.ack { NLM_F_ACK } else { 0 } | if r.echo { 0x8 } else { 0 };
    let mut m = match &r.template {
        Template::DpNew { name: n, upcall_pid, features } => {
            let mut m = Msg::new(ids.datapath, flags, 1, 0);
            m.attr(1, &name(*n));
            m.attr(2, &upcall_pid.to_ne_bytes());
            if let Some(f) = features {
                m.attr(5, &f.to_ne_bytes());
            }
            m
        }
        Template::DpDel { name: n } => {
            let mut m = Msg::new(ids.datapath, flags, 2, 0);
            m.attr(1, &name(*n));
            m
        }
        Template::DpSet { features, masks_cache } => {
            let mut m = Msg::new(ids.datapath, flags, 4, ifx);
            if let Some(f) = features {
                m.attr(5, &f.to_ne_bytes());
            }
            if let Some(c) = masks_cache {
                m.attr(7, &c.to_ne_bytes());
            }
            m
        }
        Template::DpDump => Msg::new(ids.datapath, flags | NLM_F_DUMP, 3, 0),
        Template::VportNew { name: n, port_no, ty, upcall_pids: p } => {
            let mut m = Msg::new(ids.vport, flags, 1, ifx);
            m.attr(3, &name(*n));
            // Internal (TAP) and the types a kernel knows but dpswitch may refuse; never a
            // netdev: without devargs that attaches a kernel interface.
            m.attr(2, &[2u32, 3, 4, 5][usize::from(*ty) % 4].to_ne_bytes());
            if let Some(p) = port_no {
                m.attr(1, &u32::from(*p).to_ne_bytes());
            }
            m.attr(5, &upcall_pids(p));
            m
        }
        Template::VportDel { port_no, name: n } => {
            let mut m = Msg::new(ids.vport, flags, 2, ifx);
            if let Some(p) = port_no {
                m.attr(1, &u32::from(*p).to_ne_bytes());
            }
            if let Some(n) = n {
                m.attr(3, &name(*n));
            }
            m
        }
        Template::VportSet { port_no, upcall_pids: p } => {
            let mut m = Msg::new(ids.vport, flags, 4, ifx);
            m.attr(1, &u32::from(*port_no).to_ne_bytes());
            m.attr(5, &upcall_pids(p));
            m
        }
        Template::VportGet { port_no, name: n } => {
            let mut m = Msg::new(ids.vport, flags, 3, ifx);
            if let Some(p) = port_no {
                m.attr(1, &u32::from(*p).to_ne_bytes());
            }
            if let Some(n) = n {
                m.attr(3, &name(*n));
            }
            m
        }
        Template::VportDump => Msg::new(ids.vport, flags | NLM_F_DUMP, 3, ifx),
        Template::FlowNew { key, mask, actions, ufid, create } => {
            let f = if *create { flags | 0x600 } else { flags | 0x400 };
            let mut m = Msg::new(ids.flow, f, 1, ifx);
            m.attr(1 | NLA_F_NESTED, &key.encode());
            if let Some(mk) = mask {
                m.attr(7 | NLA_F_NESTED, &mk.encode());
            }
            m.attr(2 | NLA_F_NESTED, &encode_actions(actions));
            if let Some(u) = ufid {
                m.attr(9, &u.to_ne_bytes());
            }
            m
        }
        Template::FlowSet { key, actions, clear } => {
            let mut m = Msg::new(ids.flow, flags, 4, ifx);
            m.attr(1 | NLA_F_NESTED, &key.encode());
            m.attr(2 | NLA_F_NESTED, &encode_actions(actions));
            if *clear {
                m.attr(6, &[]);
            }
            m
        }
        Template::FlowDel { key, ufid } => {
            let mut m = Msg::new(ids.flow, flags, 2, ifx);
            if let Some(k) = key {
                m.attr(1 | NLA_F_NESTED, &k.encode());
            }
            if let Some(u) = ufid {
                m.attr(9, &u.to_ne_bytes());
            }
            m
        }
        Template::FlowGet { key, ufid } => {
            let mut m = Msg::new(ids.flow, flags, 3, ifx);
            m.attr(1 | NLA_F_NESTED, &key.encode());
            if let Some(u) = ufid {
                m.attr(9, &u.to_ne_bytes());
            }
            m
        }
        Template::FlowDump { ufid_flags } => {
            let mut m = Msg::new(ids.flow, flags | NLM_F_DUMP, 3, ifx);
            if let Some(f) = ufid_flags {
                m.attr(10, &f.to_ne_bytes());
            }
            m
        }
        Template::Execute { frame, key, actions } => {
            let mut m = Msg::new(ids.packet, flags, 3, ifx);
            m.attr(1, &frame[..frame.len().min(2048)]);
            m.attr(2 | NLA_F_NESTED, &key.encode());
            m.attr(3 | NLA_F_NESTED, &encode_actions(actions));
            m
        }
        Template::PmdStats { cmd } => Msg::new(0x34, flags | NLM_F_DUMP, *cmd % 4, 0),
        Template::GetFamily { name: n } => {
            let fams = ["ovs_datapath", "ovs_vport", "ovs_flow", "ovs_packet", "ovs_meter", "nope"];
            let mut m = Msg::new(GENL_ID_CTRL, flags, 3, 0);
            m.attr(2, &nul(fams[usize::from(*n) % fams.len()]));
            m
        }
        Template::Raw { family, cmd, attrs } => {
            let mut m = Msg::new(*family, flags, *cmd, ifx);
            for (t, p) in attrs.iter().take(16) {
                m.attr(*t, &p[..p.len().min(256)]);
            }
            m
        }
    };
    m.seq = 7;
    match &r.mutation {
        Mutation::Append(extra) => {
            for (t, p) in extra.iter().take(16) {
                m.attr(*t, &p[..p.len().min(256)]);
            }
        }
        Mutation::Deep { ty, depth } => {
            let mut inner = Vec::new();
            for _ in 0..(*depth % 512) {
                let mut outer = Vec::new();
                put_attr(&mut outer, (*ty & 0x3fff) | NLA_F_NESTED, &inner);
                inner = outer;
            }
            m.attrs.extend_from_slice(&inner);
        }
        Mutation::Header { ty, flags } => {
            if let Some(t) = ty {
                m.family = *t;
            }
            if let Some(f) = flags {
                m.flags = *f;
            }
        }
        _ => {}
    }
    let mut b = m.bytes();
    let hdr = if m.ovs_header { 24 } else { 20 };
    match r.mutation {
        Mutation::FlipBit(i) if !b.is_empty() => {
            let i = usize::from(i) % (b.len() * 8);
            b[i / 8] ^= 1 << (i % 8);
        }
        Mutation::Truncate(n) => b.truncate(usize::from(n) % (b.len() + 1)),
        Mutation::LieLength(l) => b[..4].copy_from_slice(&l.to_ne_bytes()),
        Mutation::LieAttrLength(l) if b.len() >= hdr + 4 => {
            b[hdr..hdr + 2].copy_from_slice(&l.to_ne_bytes())
        }
        _ => {}
    }
    b
}

fuzz_target!(|input: Input| {
    let mut live = live().lock().unwrap_or_else(|e| e.into_inner());
    for reqs in input.datagrams.iter().take(8) {
        let mut dgram = Vec::new();
        for r in reqs.iter().take(8) {
            dgram.extend_from_slice(&build(r, live.dp_ifindex));
            dgram.resize((dgram.len() + 3) & !3, 0);
        }
        live.send(&dgram);
    }
    // A loaded machine (the campaign runs at nice 19 next to other work) can delay the
    // answer by seconds; a minute without one is a hang.
    let asked = Instant::now();
    if !live.answers_get(Duration::from_secs(60)) {
        match live.child.try_wait() {
            Ok(Some(st)) => panic!("dpswitch died: {st}"),
            _ => panic!("dpswitch did not answer a datapath GET within 60 s"),
        }
    }
    if asked.elapsed() > Duration::from_secs(1) {
        eprintln!("slow answer: {:.1} s", asked.elapsed().as_secs_f64());
    }
});
