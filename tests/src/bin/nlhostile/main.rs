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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpswitch_e2e::nlclient::NlClient;
use nlio::NetlinkSocket;
use odp::action::Action;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::vport::{VportAttrs, VportCmd, VportOptions, VportType};
use odp::family::FamilyIds;
use odp::key::{EthernetKey, FlowKey, Ipv4Key, PortsKey};
use odp::nl::{self, flags};

/// What the dump thread hands back: its tally, its failure, and the socket it left stalled.
type DumpOutcome = (Tally, Option<String>, Vec<NetlinkSocket>);

/// Command-line settings.
#[derive(Debug, Clone)]
struct Opts {
    netlink_pid: u32,
    requests: u64,
    sockets: usize,
    seed: u64,
    daemon_pid: Option<u32>,
    liveness_every: u64,
    dump_flows: u32,
    rss_growth_mib: u64,
    timeout: Duration,
    liveness_timeout: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: nlhostile --netlink-pid P [--requests N] [--sockets K] [--seed S] \
         [--daemon-pid D] [--liveness-every M] [--dump-flows F] [--rss-growth-mib G] \
         [--timeout-ms T] [--liveness-timeout-ms L]"
    );
    std::process::exit(2);
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        netlink_pid: 0,
        requests: 100_000,
        sockets: 4,
        seed: 1,
        daemon_pid: None,
        liveness_every: 1000,
        dump_flows: 50_000,
        rss_growth_mib: 64,
        timeout: Duration::from_secs(10),
        liveness_timeout: Duration::from_secs(1),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--netlink-pid" => o.netlink_pid = val() as u32,
            "--requests" => o.requests = val(),
            "--sockets" => o.sockets = (val() as usize).max(1),
            "--seed" => o.seed = val(),
            "--daemon-pid" => o.daemon_pid = Some(val() as u32),
            "--liveness-every" => o.liveness_every = val().max(1),
            "--dump-flows" => o.dump_flows = val() as u32,
            "--rss-growth-mib" => o.rss_growth_mib = val(),
            "--timeout-ms" => o.timeout = Duration::from_millis(val()),
            "--liveness-timeout-ms" => o.liveness_timeout = Duration::from_millis(val()),
            _ => usage(),
        }
    }
    if o.netlink_pid == 0 {
        usage();
    }
    o
}

/// xorshift64: reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Counters of one thread, merged at the end.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    datagrams: u64,
    answered: u64,
    silences: BTreeMap<&'static str, u64>,
    errors: BTreeMap<i32, u64>,
    unanswered: u64,
    unanswered_examples: Vec<String>,
    send_refused: BTreeMap<i32, u64>,
    stray: u64,
    max_rtt: Duration,
    flows_dumped: Vec<u64>,
    dumps_abandoned: u64,
    /// How long each step of the dump phase took (its requests' round trips).
    phases: Vec<(&'static str, Duration)>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.requests += o.requests;
        self.datagrams += o.datagrams;
        self.answered += o.answered;
        for (k, v) in o.silences {
            *self.silences.entry(k).or_default() += v;
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.unanswered += o.unanswered;
        self.unanswered_examples.extend(o.unanswered_examples);
        self.unanswered_examples.truncate(10);
        for (k, v) in o.send_refused {
            *self.send_refused.entry(k).or_default() += v;
        }
        self.stray += o.stray;
        self.max_rtt = self.max_rtt.max(o.max_rtt);
        self.flows_dumped.extend(o.flows_dumped);
        self.dumps_abandoned += o.dumps_abandoned;
        self.phases.extend(o.phases);
    }
}

/// What the kernel's rules say about one message.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Required,
    Optional(&'static str),
}

/// What every thread needs to build requests.
#[derive(Debug, Clone)]
struct Ctx {
    ids: FamilyIds,
    /// The scratch datapath and its ifindex.
    dp: String,
    ifindex: i32,
    /// Port number of the scratch datapath's net_null vport.
    null_port: u32,
}

fn vmrss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The pid of the process whose command line names `--netlink-pid P`.
fn find_daemon(netlink_pid: u32) -> Option<u32> {
    let want = netlink_pid.to_string();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_dpswitch = argv
            .first()
            .is_some_and(|a| a.ends_with(b"dpswitch") || a.ends_with(b"/dpswitch"));
        let names = argv.windows(2).any(|w| {
            (w[0] == b"--netlink-pid" && w[1] == want.as_bytes())
                || w[0] == format!("--netlink-pid={want}").as_bytes()
        }) || argv
            .iter()
            .any(|a| *a == format!("--netlink-pid={want}").as_bytes());
        if is_dpswitch && names {
            return Some(pid);
        }
    }
    None
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // State is the field after the parenthesised command name.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// Frames of a datagram as the daemon (and the kernel) walk them: `(offset, expectation)` for
/// every message with a header, plus the silences of what could not be framed.
fn frames(d: &[u8], ids: &FamilyIds) -> (Vec<(usize, Expect)>, Vec<&'static str>) {
    let mut out = Vec::new();
    let mut silent = Vec::new();
    let mut off = 0;
    while off < d.len() {
        let rest = &d[off..];
        if rest.len() < nl::NLMSG_HDRLEN {
            silent.push("runt tail < 16 bytes (dropped)");
            break;
        }
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let ty = u16::from_ne_bytes([rest[4], rest[5]]);
        let fl = u16::from_ne_bytes([rest[6], rest[7]]);
        if len < nl::NLMSG_HDRLEN || len > rest.len() {
            // The kernel drops the rest of the datagram silently; dpswitch answers EINVAL.
            out.push((off, Expect::Optional("nlmsg_len lie (kernel drops)")));
            break;
        }
        let e = if fl & flags::REQUEST == 0 || ty < 0x10 {
            if fl & flags::ACK != 0 {
                Expect::Required
            } else if ty < 0x10 {
                Expect::Optional("control type without ACK (ignored)")
            } else {
                Expect::Optional("no NLM_F_REQUEST, no ACK (ignored)")
            }
        } else if fl & flags::ACK != 0 {
            Expect::Required
        } else {
            let cmd = if len > nl::NLMSG_HDRLEN {
                Some(rest[16])
            } else {
                None
            };
            let get_family = [ids.datapath, ids.vport, ids.flow, nl::GENL_ID_CTRL].contains(&ty);
            if get_family && cmd == Some(3) {
                Expect::Required
            } else {
                Expect::Optional("no ACK and success (silent)")
            }
        };
        out.push((off, e));
        off += nl::align(len).min(rest.len());
    }
    (out, silent)
}

/// One thread's socket and its request stream.
struct Worker {
    c: NlClient,
    ctx: Ctx,
    rng: Rng,
    id: u32,
    seq: u32,
    t: Tally,
    timeout: Duration,
    ufids: u32,
}

impl Worker {
    fn ufid(&self, i: u32) -> Vec<u8> {
        let mut u = vec![0x5a; 16];
        u[..4].copy_from_slice(&self.id.to_ne_bytes());
        u[4..8].copy_from_slice(&i.to_ne_bytes());
        u
    }

    fn key(&mut self, i: u32) -> FlowKey {
        FlowKey {
            in_port: Some(self.ctx.null_port),
            ethernet: Some(EthernetKey {
                src: [2, 0, self.id as u8, 0, (i >> 8) as u8, i as u8],
                dst: [2, 0xff, 0, 0, 0, 2],
            }),
            eth_type: Some(0x0800),
            ipv4: Some(Ipv4Key {
                src: std::net::Ipv4Addr::from(0x0a00_0000 | i),
                dst: std::net::Ipv4Addr::new(10, 255, 0, 1),
                proto: 17,
                tos: 0,
                ttl: 64,
                frag: 0,
            }),
            udp: Some(PortsKey {
                src: self.rng.below(65535) as u16,
                dst: 53,
            }),
            ..FlowKey::default()
        }
    }

    fn frame(&mut self) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, self.id as u8, 0, 0, 9, 0x08, 0x06]);
        f.resize(60, 0);
        f
    }

    /// A valid request of one of the four families (or nlctrl), with `flags` on top of
    /// REQUEST: (bytes, may it be mutated as a whole).
    fn valid(&mut self, extra: u16) -> Vec<u8> {
        let ifx = self.ctx.ifindex;
        let ids = self.ctx.ids;
        let fl = flags::REQUEST | extra;
        let i = self.rng.below(u64::from(self.ufids)) as u32;
        let bytes = match self.rng.below(16) {
            0 => {
                let mut m = odp::family::OvsMessage::new(
                    DpCmd::Get,
                    0,
                    DatapathAttrs {
                        name: Some(self.ctx.dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                m.family = ids.datapath;
                m.flags = fl;
                m.to_bytes()
            }
            1 => {
                let mut m = odp::family::OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
                m.family = ids.datapath;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            2 => {
                // SET of the scratch datapath with nothing to change.
                let mut m = odp::family::OvsMessage::new(
                    DpCmd::Set,
                    0,
                    DatapathAttrs {
                        name: Some(self.ctx.dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                m.family = ids.datapath;
                m.flags = fl;
                m.to_bytes()
            }
            3 => {
                let mut m = odp::family::OvsMessage::new(
                    VportCmd::Get,
                    ifx,
                    VportAttrs {
                        port_no: Some(self.rng.below(4) as u32),
                        ..VportAttrs::default()
                    },
                );
                m.family = ids.vport;
                m.flags = fl;
                m.to_bytes()
            }
            4 => {
                let mut m = odp::family::OvsMessage::new(VportCmd::Get, ifx, VportAttrs::default());
                m.family = ids.vport;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            5..=7 => {
                let key = self.key(i);
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::New,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        key: Some(key),
                        actions: Some(vec![Action::Output(self.ctx.null_port)]),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl
                    | if self.rng.chance(50) {
                        flags::CREATE
                    } else {
                        0
                    };
                m.to_bytes()
            }
            8 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Set,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        actions: Some(vec![]),
                        clear: self.rng.chance(50),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            9 | 10 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Get,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            11 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Del,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            12 => {
                // A dump of the scratch datapath's flows (a few thousand at most).
                let mut m = odp::family::OvsMessage::new(FlowCmd::Get, ifx, FlowAttrs::default());
                m.family = ids.flow;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            13 | 14 => {
                let frame = self.frame();
                let out = if self.rng.chance(50) {
                    Action::Output(self.ctx.null_port)
                } else {
                    Action::Trunc(60)
                };
                let mut m = odp::family::OvsMessage::new(
                    PacketCmd::Execute,
                    ifx,
                    PacketAttrs {
                        packet: Some(frame),
                        key: Some(FlowKey {
                            in_port: Some(self.ctx.null_port),
                            ..FlowKey::default()
                        }),
                        actions: Some(vec![out]),
                        ..PacketAttrs::default()
                    },
                );
                m.family = ids.packet;
                m.flags = fl;
                m.to_bytes()
            }
            _ => {
                let mut m = odp::ctrl::CtrlMessage::get_family(
                    [
                        "ovs_datapath",
                        "ovs_vport",
                        "ovs_flow",
                        "ovs_packet",
                        "nope",
                    ][self.rng.below(5) as usize],
                    0,
                );
                m.flags = fl;
                let mut b = Vec::new();
                m.emit(&mut b).map(|()| b)
            }
        };
        bytes.expect("encode a valid request")
    }

    /// A flow NEW (or EXECUTE) whose KEY (or ACTIONS) attribute nests `depth` levels deep.
    fn deep_nest(&mut self) -> Vec<u8> {
        let depth = if self.rng.chance(10) {
            16_000
        } else {
            100 + self.rng.below(700) as usize
        };
        let (family, cmd, attr, inner) = if self.rng.chance(50) {
            // OVS_FLOW_ATTR_KEY { ENCAP { ENCAP { ... } } }
            (self.ctx.ids.flow, 1u8, 1u16, 1u16)
        } else {
            // OVS_PACKET_ATTR_ACTIONS { CLONE { CLONE { ... } } }
            (self.ctx.ids.packet, 3u8, 3u16, 20u16)
        };
        let mut nest: Vec<u8> = Vec::new();
        for _ in 0..depth {
            let len = (nest.len() + 4) as u16;
            let mut n = Vec::with_capacity(nest.len() + 4);
            n.extend_from_slice(&len.to_ne_bytes());
            n.extend_from_slice(&(inner | nl::NLA_F_NESTED).to_ne_bytes());
            n.extend_from_slice(&nest);
            nest = n;
        }
        let mut m = Vec::new();
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[cmd, 1, 0, 0]);
        m.extend_from_slice(&self.ctx.ifindex.to_ne_bytes());
        let alen = (nest.len() + 4) as u16;
        m.extend_from_slice(&alen.to_ne_bytes());
        m.extend_from_slice(&(attr | nl::NLA_F_NESTED).to_ne_bytes());
        m.extend_from_slice(&nest);
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&family.to_ne_bytes());
        m[6..8].copy_from_slice(&(flags::REQUEST | flags::ACK).to_ne_bytes());
        m
    }

    /// One message of the hostile mix.
    fn message(&mut self) -> Vec<u8> {
        let ack = if self.rng.chance(70) { flags::ACK } else { 0 };
        let kind = self.rng.below(100);
        if kind < 30 {
            return self.valid(ack);
        }
        let mut m = self.hostile(kind, ack);
        self.guard(&mut m);
        m
    }

    /// A message of the hostile kinds 30..100.
    fn hostile(&mut self, kind: u64, ack: u16) -> Vec<u8> {
        match kind {
            0..=59 => {
                // Mutations of a valid request: bit flips, random bytes, truncation, insertion.
                let mut v = self.valid(ack);
                for _ in 0..1 + self.rng.below(4) {
                    if v.len() <= 4 {
                        break;
                    }
                    let at = 4 + self.rng.below((v.len() - 4) as u64) as usize;
                    match self.rng.below(4) {
                        0 => v[at] ^= 1 << self.rng.below(8),
                        1 => v[at] = self.rng.next() as u8,
                        2 => v.truncate(at),
                        _ => v.insert(at, self.rng.next() as u8),
                    }
                }
                v
            }
            60..=66 => {
                // An nla_len lie in the first attribute: past the message, or below 4.
                let mut v = self.valid(ack);
                if v.len() >= 28 {
                    let lie: u16 = match self.rng.below(3) {
                        0 => v.len() as u16 + 1 + self.rng.below(1000) as u16,
                        1 => self.rng.below(4) as u16,
                        _ => u16::MAX,
                    };
                    v[24..26].copy_from_slice(&lie.to_ne_bytes());
                }
                v
            }
            67..=71 => self.deep_nest(),
            72..=77 => {
                // Unknown family or unknown command of a known family.
                let mut v = self.valid(flags::ACK);
                if self.rng.chance(50) {
                    let ty = 0x40 + self.rng.below(0xffbf) as u16;
                    v[4..6].copy_from_slice(&ty.to_ne_bytes());
                } else if v.len() > 16 {
                    v[16] = 5 + self.rng.below(250) as u8;
                }
                v
            }
            78..=85 => {
                // Client-sent control types and non-requests.
                let mut v = self.valid(0);
                if self.rng.chance(60) {
                    let ty = 1 + self.rng.below(4) as u16; // NOOP ERROR DONE OVERRUN
                    v[4..6].copy_from_slice(&ty.to_ne_bytes());
                }
                let mut f = if self.rng.chance(50) {
                    flags::REQUEST
                } else {
                    0
                };
                if self.rng.chance(50) {
                    f |= flags::ACK;
                }
                if self.rng.chance(20) {
                    f |= flags::MULTI | flags::DUMP;
                }
                v[6..8].copy_from_slice(&f.to_ne_bytes());
                v
            }
            86..=93 => {
                // Random bytes, sometimes behind a plausible header.
                let len = 1 + self.rng.below(200) as usize;
                let mut v: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
                if len >= 20 && self.rng.chance(50) {
                    v[..4].copy_from_slice(&(len as u32).to_ne_bytes());
                    let fam = [
                        self.ctx.ids.datapath,
                        self.ctx.ids.vport,
                        self.ctx.ids.flow,
                        self.ctx.ids.packet,
                    ][self.rng.below(4) as usize];
                    v[4..6].copy_from_slice(&fam.to_ne_bytes());
                    v[6..8].copy_from_slice(&(flags::REQUEST | flags::ACK).to_ne_bytes());
                }
                v
            }
            _ => {
                // nlmsg_len lie: larger than the datagram, or below the header.
                let mut v = self.valid(ack);
                let lie: u32 = match self.rng.below(4) {
                    0 => v.len() as u32 + 1 + self.rng.below(4096) as u32,
                    1 => self.rng.below(16) as u32,
                    2 => u32::MAX,
                    _ => v.len() as u32 - 1,
                };
                v[..4].copy_from_slice(&lie.to_ne_bytes());
                v
            }
        }
    }

    /// Keeps a mutated message away from what could harm the daemon's own datapath:
    /// datapath, vport and PMD-statistics messages become GETs, flow and packet messages
    /// are aimed at the scratch datapath.
    fn guard(&self, m: &mut [u8]) {
        let ids = self.ctx.ids;
        if m.len() < 6 {
            return;
        }
        let ty = u16::from_ne_bytes([m[4], m[5]]);
        if m.len() > 16 && (ty == ids.datapath || ty == ids.vport || ty == 0x34) {
            m[16] = 3;
        }
        if m.len() >= 24 && (ty == ids.flow || ty == ids.packet) {
            m[20..24].copy_from_slice(&self.ctx.ifindex.to_ne_bytes());
        }
    }

    /// Stamps a fresh seq on every framed message; their expectations.
    fn stamp(&mut self, d: &mut [u8]) -> Vec<(u32, Expect)> {
        let (fr, _) = frames(d, &self.ctx.ids);
        let mut seqs = Vec::new();
        for (off, e) in fr {
            self.seq = self.seq.wrapping_add(1).max(2);
            d[off + 8..off + 12].copy_from_slice(&self.seq.to_ne_bytes());
            seqs.push((self.seq, e));
        }
        seqs
    }

    /// Sends one datagram and a barrier; tallies what came back.
    fn round(&mut self, mut d: Vec<u8>) {
        let expect = self.stamp(&mut d);
        let (_, silent) = frames(&d, &self.ctx.ids);
        self.t.requests += expect.len() as u64 + silent.len() as u64;
        for s in silent {
            *self.t.silences.entry(s).or_default() += 1;
        }
        self.t.datagrams += 1;
        let t0 = Instant::now();
        if let Err(e) = self.c.send_raw(&d) {
            // The kernel refuses some datagrams itself (none reach the daemon).
            *self.t.send_refused.entry(e.errno()).or_default() += 1;
            if e.errno() == nix::errno::Errno::ECONNREFUSED as i32 {
                self.t.unanswered += expect.len() as u64;
            }
            return;
        }
        let mut pending: HashMap<u32, (Expect, bool)> =
            expect.into_iter().map(|(s, e)| (s, (e, false))).collect();
        self.seq = self.seq.wrapping_add(1).max(2);
        let barrier = self.seq;
        let mut b = Vec::with_capacity(16);
        nl::NlMsgHeader {
            len: 16,
            ty: nl::NLMSG_NOOP,
            flags: flags::REQUEST | flags::ACK,
            seq: barrier,
            pid: 0,
        }
        .emit(&mut b);
        if self.c.send_raw(&b).is_err() {
            self.t.unanswered += 1;
            return;
        }
        let deadline = Instant::now() + self.timeout;
        let mut done = false;
        while !done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(dg) = self.c.recv_dgram(left) else {
                break;
            };
            for m in nl::messages(&dg) {
                let Ok((h, p)) = m else { break };
                if h.seq == barrier {
                    done = true;
                    continue;
                }
                match pending.get_mut(&h.seq) {
                    Some(slot) => {
                        if !slot.1 {
                            slot.1 = true;
                            self.t.answered += 1;
                        }
                        if h.ty == nl::NLMSG_ERROR && p.len() >= 4 {
                            let e = -i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                            if e != 0 {
                                *self.t.errors.entry(e).or_default() += 1;
                            }
                        }
                    }
                    None => self.t.stray += 1,
                }
            }
        }
        self.t.max_rtt = self.t.max_rtt.max(t0.elapsed());
        if !done {
            self.t.unanswered += 1;
            self.t
                .unanswered_examples
                .push(format!("barrier seq {barrier} after {d:02x?}"));
        }
        for (seq, (e, got)) in pending {
            if got {
                continue;
            }
            match e {
                Expect::Required => {
                    self.t.unanswered += 1;
                    if self.t.unanswered_examples.len() < 10 {
                        self.t
                            .unanswered_examples
                            .push(format!("seq {seq} in {:02x?}", &d[..d.len().min(96)]));
                    }
                }
                Expect::Optional(why) => *self.t.silences.entry(why).or_default() += 1,
            }
        }
    }

    /// Valid NEW/SET/DEL of a datapath and of a vport of a safe type (net_null, no rx):
    /// DP NEW, VPORT NEW (echo), VPORT SET, VPORT GET, VPORT DEL, DP DEL, each acknowledged.
    fn lifecycle(&mut self, n: u64) {
        let dp = format!("{}{}", &self.ctx.dp[..self.ctx.dp.len().min(9)], self.id);
        let port = format!("{dp}p{}", n % 100);
        let t = Duration::from_secs(10);
        let mut steps = 0;
        let fail = |w: &mut Worker, what: &str, e: String| {
            w.t.unanswered += 1;
            if w.t.unanswered_examples.len() < 10 {
                w.t.unanswered_examples.push(format!("{what}: {e}"));
            }
        };
        let new = self.c.msg(
            DpCmd::New,
            0,
            DatapathAttrs {
                name: Some(dp.clone()),
                upcall_pid: Some(0),
                ..DatapathAttrs::default()
            },
        );
        let ifindex = match ask(&mut self.c, new, flags::ECHO, t) {
            Ok(_) => {
                steps += 1;
                let get = self.c.msg(
                    DpCmd::Get,
                    0,
                    DatapathAttrs {
                        name: Some(dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                let (r, e) = self.c.transact(get, 0);
                steps += 1;
                if e != 0 {
                    fail(self, "DP GET", format!("errno {e}"));
                    return;
                }
                r[0].dp_ifindex
            }
            Err(e) => return fail(self, "DP NEW", e),
        };
        let mut o = VportOptions::default();
        odp::dpswitch::push_setting(
            &mut o,
            odp::dpswitch::DEVARGS,
            &format!("net_null_{port},no-rx=1"),
        );
        let vnew = self.c.msg(
            VportCmd::New,
            ifindex,
            VportAttrs {
                ty: Some(VportType::Netdev),
                name: Some(port.clone()),
                options: Some(o),
                upcall_pids: Some(vec![0]),
                ..VportAttrs::default()
            },
        );
        let named = |c: &NlClient, cmd| {
            c.msg(
                cmd,
                ifindex,
                VportAttrs {
                    name: Some(port.clone()),
                    ..VportAttrs::default()
                },
            )
        };
        for (what, m) in [
            ("VPORT NEW", vnew),
            ("VPORT SET", {
                let mut m = named(&self.c, VportCmd::Set);
                m.body.upcall_pids = Some(vec![0]);
                m
            }),
            ("VPORT GET", named(&self.c, VportCmd::Get)),
            ("VPORT DEL", named(&self.c, VportCmd::Del)),
        ] {
            steps += 1;
            if let Err(e) = ask(&mut self.c, m, 0, t) {
                fail(self, what, e);
            }
        }
        let del = self.c.msg(
            DpCmd::Del,
            0,
            DatapathAttrs {
                name: Some(dp),
                ..DatapathAttrs::default()
            },
        );
        steps += 1;
        if let Err(e) = ask(&mut self.c, del, 0, t) {
            fail(self, "DP DEL", e);
        }
        self.t.requests += steps;
        self.t.answered += steps;
        self.t.datagrams += steps;
    }

    /// One datagram of 1..=6 messages (mostly one).
    fn datagram(&mut self) -> Vec<u8> {
        let n = if self.rng.chance(80) {
            1
        } else {
            2 + self.rng.below(5)
        };
        let mut d = Vec::new();
        for _ in 0..n {
            let m = self.message();
            d.extend_from_slice(&m);
            // Messages start aligned; a lying one may leave odd bytes (a tail the walk sees).
            d.resize(nl::align(d.len()), 0);
        }
        if self.rng.chance(3) {
            // A runt tail.
            let k = 1 + self.rng.below(15) as usize;
            d.extend((0..k).map(|_| self.rng.next() as u8));
        }
        d
    }
}

/// One acknowledged request on `c`: Ok(rtt) or Err(description).
fn ask<T: odp::family::Body>(
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

/// Sets up the scratch datapath with one net_null vport; returns the context.
fn scratch(c: &mut NlClient, dp: &str, timeout: Duration) -> Result<Ctx, String> {
    let dp = dp.to_string();
    let new = c.msg(
        DpCmd::New,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            upcall_pid: Some(0),
            ..DatapathAttrs::default()
        },
    );
    ask(c, new, 0, timeout).map_err(|e| format!("DP NEW {dp}: {e}"))?;
    let get = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    // The ifindex travels in the reply's ovs_header: decode it with a plain transact.
    let (r, e) = c.transact(get, 0);
    if e != 0 {
        return Err(format!("DP GET {dp}: errno {e}"));
    }
    let ifindex = r[0].dp_ifindex;
    let null = format!("{dp}n");
    let mut o = VportOptions::default();
    odp::dpswitch::push_setting(
        &mut o,
        odp::dpswitch::DEVARGS,
        &format!("net_null_{null},no-rx=1"),
    );
    let vnew = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            ty: Some(VportType::Netdev),
            name: Some(null.clone()),
            options: Some(o),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(vnew, flags::ECHO);
    if e != 0 {
        return Err(format!("VPORT NEW {null}: errno {e}"));
    }
    let null_port = r
        .first()
        .and_then(|m| m.body.port_no)
        .ok_or("VPORT NEW echo without port_no")?;
    Ok(Ctx {
        ids: c.ids,
        dp,
        ifindex,
        null_port,
    })
}

fn teardown(c: &mut NlClient, ctx: &Ctx, timeout: Duration) {
    let del = c.msg(
        DpCmd::Del,
        0,
        DatapathAttrs {
            name: Some(ctx.dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    if let Err(e) = ask(c, del, 0, timeout) {
        eprintln!("nlhostile: DP DEL {}: {e}", ctx.dp);
    }
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

/// The huge-dump phase: `n` flows dumped on four sockets at once; two read to the end,
/// one is closed mid-way, one stops reading.
fn huge_dumps(
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
