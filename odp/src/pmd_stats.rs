//! `dpswitch_pmd`: dpswitch's private generic-netlink family for PMD statistics (what
//! OVS-DPDK shows with `dpif-netdev/pmd-stats-show`, `pmd-stats-clear` and `pmd-rxq-show`).
//!
//! Plain generic netlink (no `ovs_header`). Every command is a DO request without attributes;
//! GET and RXQ answer one message holding one nested [`attr::PMD`] per PMD thread, CLEAR
//! (which, like every mutating request dpswitch serves, needs a sender with uid 0) answers with
//! an ACK only.

use crate::ctrl::{op_flags, FamilyInfo, Op};
use crate::nl::{self, AttrWriter, GenlHeader};
use crate::{Error, Result};

/// Family name resolved with nlctrl GETFAMILY.
pub const FAMILY_NAME: &str = "dpswitch_pmd";
/// Family version.
pub const VERSION: u8 = 1;
/// The family id dpswitch assigns (the one after its `ovs_packet`,
/// [`crate::dpswitch::FAMILY_IDS`]); clients resolve it by [`FAMILY_NAME`].
pub const FAMILY_ID: u16 = 0x34;

/// Commands.
pub mod cmd {
    /// Per-PMD counters since the last CLEAR.
    pub const GET: u8 = 1;
    /// Take a new baseline: later GETs count from now.
    pub const CLEAR: u8 = 2;
    /// Rx queues polled by each PMD.
    pub const RXQ: u8 = 3;
}

/// Top-level attributes.
pub mod attr {
    /// One PMD (nested [`super::pmd_attr`]); repeated.
    pub const PMD: u16 = 1;
}

/// Attributes inside [`attr::PMD`]; the counters are `u64`.
pub mod pmd_attr {
    #![allow(missing_docs)]
    pub const ID: u16 = 1;
    pub const CORE: u16 = 2;
    pub const NUMA: u16 = 3;
    /// Packets received from rx queues.
    pub const PACKETS: u16 = 4;
    /// Datapath passes (lookups), received packets plus recirculations.
    pub const PASSES: u16 = 5;
    pub const EMC_HIT: u16 = 6;
    pub const MEGAFLOW_HIT: u16 = 7;
    /// Subtables probed over all megaflow lookups.
    pub const MASK_HIT: u16 = 8;
    /// Misses handed to the control thread (a successful upcall).
    pub const MISS: u16 = 9;
    /// Misses dropped because the upcall queue was full (a failed upcall).
    pub const LOST: u16 = 10;
    pub const BUSY_CYCLES: u16 = 11;
    pub const IDLE_CYCLES: u16 = 12;
    /// Rx bursts that carried packets.
    pub const BURSTS: u16 = 13;
    /// One polled rx queue (nested [`super::rxq_attr`]); repeated.
    pub const RXQ: u16 = 14;
    /// Output batches handed to tx queues.
    pub const TX_BATCHES: u16 = 15;
    /// Packets in those batches.
    pub const TX_BATCH_PACKETS: u16 = 16;
    /// Megaflow hits by simple match (a subset of [`MEGAFLOW_HIT`]).
    pub const SIMPLE_HIT: u16 = 17;
    /// Percent of the PMD's cycles over the usage window not spent on any rx queue (u8,
    /// RXQ only, absent until a window has been measured).
    pub const OVERHEAD: u16 = 18;
    /// The PMD polls only the queues pinned to it (u8 1; RXQ only, absent when not).
    pub const ISOLATED: u16 = 19;
}

/// Attributes inside [`pmd_attr::RXQ`].
pub mod rxq_attr {
    /// Port name (string).
    pub const PORT: u16 = 1;
    /// Queue id (u32).
    pub const QUEUE: u16 = 2;
    /// Percent of the PMD's cycles over the usage window spent on this queue (u8, absent
    /// until a window has been measured).
    pub const USAGE: u16 = 3;
}

/// The counters of one PMD; differences of two snapshots are what GET reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PmdCounters {
    /// Packets received.
    pub packets: u64,
    /// Datapath passes.
    pub passes: u64,
    /// EMC hits.
    pub emc_hit: u64,
    /// Megaflow hits, simple-match hits included.
    pub megaflow_hit: u64,
    /// Megaflow hits by simple match.
    pub simple_hit: u64,
    /// Subtables probed.
    pub mask_hit: u64,
    /// Successful upcalls.
    pub miss: u64,
    /// Failed upcalls.
    pub lost: u64,
    /// Cycles in polls that received packets.
    pub busy_cycles: u64,
    /// Cycles in empty polls.
    pub idle_cycles: u64,
    /// Non-empty rx bursts.
    pub bursts: u64,
    /// Output batches.
    pub tx_batches: u64,
    /// Packets in output batches.
    pub tx_batch_packets: u64,
}

impl PmdCounters {
    /// `self - base`, field by field (saturating: a counter never goes below its baseline).
    pub fn since(&self, base: &PmdCounters) -> PmdCounters {
        PmdCounters {
            packets: self.packets.saturating_sub(base.packets),
            passes: self.passes.saturating_sub(base.passes),
            emc_hit: self.emc_hit.saturating_sub(base.emc_hit),
            megaflow_hit: self.megaflow_hit.saturating_sub(base.megaflow_hit),
            simple_hit: self.simple_hit.saturating_sub(base.simple_hit),
            mask_hit: self.mask_hit.saturating_sub(base.mask_hit),
            miss: self.miss.saturating_sub(base.miss),
            lost: self.lost.saturating_sub(base.lost),
            busy_cycles: self.busy_cycles.saturating_sub(base.busy_cycles),
            idle_cycles: self.idle_cycles.saturating_sub(base.idle_cycles),
            bursts: self.bursts.saturating_sub(base.bursts),
            tx_batches: self.tx_batches.saturating_sub(base.tx_batches),
            tx_batch_packets: self.tx_batch_packets.saturating_sub(base.tx_batch_packets),
        }
    }

    fn fields(&self) -> [(u16, u64); 13] {
        use pmd_attr::*;
        [
            (PACKETS, self.packets),
            (PASSES, self.passes),
            (EMC_HIT, self.emc_hit),
            (MEGAFLOW_HIT, self.megaflow_hit),
            (SIMPLE_HIT, self.simple_hit),
            (MASK_HIT, self.mask_hit),
            (MISS, self.miss),
            (LOST, self.lost),
            (BUSY_CYCLES, self.busy_cycles),
            (IDLE_CYCLES, self.idle_cycles),
            (BURSTS, self.bursts),
            (TX_BATCHES, self.tx_batches),
            (TX_BATCH_PACKETS, self.tx_batch_packets),
        ]
    }

    fn set(&mut self, ty: u16, v: u64) {
        use pmd_attr::*;
        let f = match ty {
            PACKETS => &mut self.packets,
            PASSES => &mut self.passes,
            EMC_HIT => &mut self.emc_hit,
            MEGAFLOW_HIT => &mut self.megaflow_hit,
            SIMPLE_HIT => &mut self.simple_hit,
            MASK_HIT => &mut self.mask_hit,
            MISS => &mut self.miss,
            LOST => &mut self.lost,
            BUSY_CYCLES => &mut self.busy_cycles,
            IDLE_CYCLES => &mut self.idle_cycles,
            BURSTS => &mut self.bursts,
            TX_BATCHES => &mut self.tx_batches,
            TX_BATCH_PACKETS => &mut self.tx_batch_packets,
            _ => return,
        };
        *f = v;
    }
}

/// One PMD thread as GET / RXQ report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PmdInfo {
    /// PMD number.
    pub id: u32,
    /// Its lcore (OVS's "core_id").
    pub core: u32,
    /// Its NUMA node.
    pub numa: u32,
    /// Counters (GET only).
    pub counters: Option<PmdCounters>,
    /// Polled rx queues (RXQ only).
    pub rxqs: Vec<RxqInfo>,
    /// Percent of its cycles spent on no rx queue over the usage window (RXQ only; `None`
    /// until measured).
    pub overhead: Option<u8>,
    /// It polls only queues pinned to it (RXQ only).
    pub isolated: bool,
}

/// One polled rx queue as RXQ reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RxqInfo {
    /// Port name.
    pub port: String,
    /// Queue id.
    pub queue: u32,
    /// Percent of the PMD's cycles spent on it over the usage window (`None` until
    /// measured).
    pub usage: Option<u8>,
}

/// The nlctrl description of the family, under id `id`.
pub fn family_info(id: u16) -> FamilyInfo {
    let get = op_flags::CMD_CAP_DO | op_flags::CMD_CAP_HASPOL;
    let admin = op_flags::UNS_ADMIN_PERM | get;
    FamilyInfo {
        id: Some(id),
        name: Some(FAMILY_NAME.to_owned()),
        version: Some(u32::from(VERSION)),
        hdrsize: Some(0),
        maxattr: Some(u32::from(attr::PMD)),
        ops: vec![
            Op {
                id: u32::from(cmd::GET),
                flags: get,
            },
            Op {
                id: u32::from(cmd::CLEAR),
                flags: admin,
            },
            Op {
                id: u32::from(cmd::RXQ),
                flags: get,
            },
        ],
        mcast_groups: Vec::new(),
    }
}

/// Appends a request for `cmd` to `buf`.
pub fn emit_request(buf: &mut Vec<u8>, family: u16, cmd: u8, seq: u32, pid: u32) -> Result<()> {
    let genl = GenlHeader {
        cmd,
        version: VERSION,
    };
    let start = nl::begin_genl_msg(
        buf,
        family,
        nl::flags::REQUEST | nl::flags::ACK,
        seq,
        pid,
        genl,
    );
    nl::finish_msg(buf, start)
}

/// Appends the reply to a GET or RXQ (`cmd`) listing `pmds` to `buf`.
pub fn emit_reply(
    buf: &mut Vec<u8>,
    family: u16,
    cmd: u8,
    seq: u32,
    pid: u32,
    pmds: &[PmdInfo],
) -> Result<()> {
    let genl = GenlHeader {
        cmd,
        version: VERSION,
    };
    let start = nl::begin_genl_msg(buf, family, 0, seq, pid, genl);
    let mut w = AttrWriter::new(buf);
    for p in pmds {
        w.nest(attr::PMD, |w| {
            w.u32(pmd_attr::ID, p.id);
            w.u32(pmd_attr::CORE, p.core);
            w.u32(pmd_attr::NUMA, p.numa);
            if let Some(c) = &p.counters {
                for (ty, v) in c.fields() {
                    w.u64(ty, v);
                }
            }
            for q in &p.rxqs {
                w.nest(pmd_attr::RXQ, |w| {
                    w.string(rxq_attr::PORT, &q.port);
                    w.u32(rxq_attr::QUEUE, q.queue);
                    if let Some(u) = q.usage {
                        w.u8(rxq_attr::USAGE, u);
                    }
                });
            }
            if let Some(o) = p.overhead {
                w.u8(pmd_attr::OVERHEAD, o);
            }
            if p.isolated {
                w.u8(pmd_attr::ISOLATED, 1);
            }
        });
    }
    w.finish()?;
    nl::finish_msg(buf, start)
}

/// The PMDs in a GET or RXQ reply payload (the bytes after `nlmsghdr`).
///
/// # Errors
/// Truncated or malformed attributes.
pub fn parse_reply(payload: &[u8]) -> Result<Vec<PmdInfo>> {
    let (_, attrs) = nl::parse_genl(payload)?;
    let mut out = Vec::new();
    for a in nl::attrs(attrs) {
        let a = a?;
        if a.ty != attr::PMD {
            continue;
        }
        let mut p = PmdInfo::default();
        let mut counters = PmdCounters::default();
        let mut has_counters = false;
        for f in a.nested() {
            let f = f?;
            match f.ty {
                pmd_attr::ID => p.id = f.u32("pmd id")?,
                pmd_attr::CORE => p.core = f.u32("pmd core")?,
                pmd_attr::NUMA => p.numa = f.u32("pmd numa")?,
                pmd_attr::OVERHEAD => p.overhead = Some(f.u8("pmd overhead")?),
                pmd_attr::ISOLATED => p.isolated = f.u8("pmd isolated")? != 0,
                pmd_attr::RXQ => {
                    let (mut port, mut queue, mut usage) = (None, None, None);
                    for q in f.nested() {
                        let q = q?;
                        match q.ty {
                            rxq_attr::PORT => port = Some(q.string("rxq port", 256)?),
                            rxq_attr::QUEUE => queue = Some(q.u32("rxq queue")?),
                            rxq_attr::USAGE => usage = Some(q.u8("rxq usage")?),
                            _ => {}
                        }
                    }
                    match (port, queue) {
                        (Some(port), Some(queue)) => p.rxqs.push(RxqInfo { port, queue, usage }),
                        _ => return Err(Error::Missing("rxq port or queue")),
                    }
                }
                ty => {
                    counters.set(ty, f.u64("pmd counter")?);
                    has_counters = true;
                }
            }
        }
        p.counters = has_counters.then_some(counters);
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trips_counters_and_rxqs() {
        let pmds = vec![
            PmdInfo {
                id: 0,
                core: 1,
                numa: 0,
                counters: Some(PmdCounters {
                    packets: 10,
                    passes: 12,
                    emc_hit: 7,
                    megaflow_hit: 3,
                    simple_hit: 2,
                    mask_hit: 4,
                    miss: 2,
                    lost: 1,
                    busy_cycles: 1000,
                    idle_cycles: 9000,
                    bursts: 5,
                    tx_batches: 4,
                    tx_batch_packets: 9,
                }),
                rxqs: Vec::new(),
                overhead: None,
                isolated: false,
            },
            PmdInfo {
                id: 1,
                core: 2,
                numa: 1,
                counters: None,
                rxqs: vec![
                    RxqInfo {
                        port: "p0".into(),
                        queue: 0,
                        usage: None,
                    },
                    RxqInfo {
                        port: "p1".into(),
                        queue: 3,
                        usage: Some(42),
                    },
                ],
                overhead: Some(7),
                isolated: true,
            },
        ];
        let mut buf = Vec::new();
        emit_reply(&mut buf, 0x34, cmd::GET, 7, 9, &pmds).unwrap();
        let hdr = nl::NlMsgHeader::parse(&buf).unwrap();
        assert_eq!(hdr.len as usize, buf.len());
        assert_eq!(parse_reply(&buf[nl::NLMSG_HDRLEN..]).unwrap(), pmds);
    }

    #[test]
    fn since_never_goes_below_the_baseline() {
        let base = PmdCounters {
            packets: 5,
            ..PmdCounters::default()
        };
        let now = PmdCounters {
            packets: 8,
            emc_hit: 2,
            ..PmdCounters::default()
        };
        assert_eq!(now.since(&base).packets, 3);
        assert_eq!(now.since(&base).emc_hit, 2);
        assert_eq!(base.since(&now).packets, 0);
    }

    #[test]
    fn truncated_reply_is_an_error() {
        let mut buf = Vec::new();
        emit_reply(&mut buf, 0x34, cmd::RXQ, 1, 1, &[PmdInfo::default()]).unwrap();
        let cut = &buf[nl::NLMSG_HDRLEN..buf.len() - 2];
        assert!(parse_reply(cut).is_err());
    }
}
