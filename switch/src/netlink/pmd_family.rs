//! The `dpswitch_pmd` family (see [`odp::pmd_stats`]): PMD statistics, their baseline and the
//! rx-queue assignment, answered on the control thread from the counters PMDs publish.
//!
//! CLEAR does not touch a PMD: as OVS does, it records the current counters as a baseline
//! that later GETs subtract.

use std::sync::atomic::Ordering::Relaxed;

use odp::nl::{self, NlMsgHeader};
use odp::pmd_stats::{self, cmd, PmdCounters, PmdInfo};

use crate::runtime::shared::SwitchView;

/// The family id dpswitch assigns (the next one after `ovs_packet`).
pub const FAMILY_ID: u16 = 0x34;

/// The family's state: the baseline of the last CLEAR, per PMD.
#[derive(Debug, Default)]
pub struct PmdFamily {
    baseline: Vec<PmdCounters>,
}

impl PmdFamily {
    /// Handles one request; returns the command's metric label and the reply bytes (empty
    /// for CLEAR) or the errno.
    pub fn handle(
        &mut self,
        view: &SwitchView,
        hdr: &NlMsgHeader,
        payload: &[u8],
        admin: bool,
    ) -> (&'static str, Result<Vec<u8>, i32>) {
        let Ok((genl, _)) = nl::parse_genl(payload) else {
            return ("parse", Err(libc::EINVAL));
        };
        match genl.cmd {
            cmd::GET => ("get", self.reply(view, hdr, cmd::GET)),
            cmd::RXQ => ("rxq", self.reply(view, hdr, cmd::RXQ)),
            cmd::CLEAR if !admin => ("clear", Err(libc::EPERM)),
            cmd::CLEAR => {
                self.baseline = current(view);
                ("clear", Ok(Vec::new()))
            }
            // genetlink's answer to a command the family does not have.
            _ => ("unknown", Err(libc::EOPNOTSUPP)),
        }
    }

    fn reply(&self, view: &SwitchView, hdr: &NlMsgHeader, which: u8) -> Result<Vec<u8>, i32> {
        let now = current(view);
        let mut pmds: Vec<PmdInfo> = view
            .pmds
            .iter()
            .map(|p| PmdInfo {
                id: p.id as u32,
                core: p.lcore,
                numa: p.numa,
                counters: None,
                rxqs: Vec::new(),
            })
            .collect();
        if which == cmd::GET {
            for (i, p) in pmds.iter_mut().enumerate() {
                let base = self.baseline.get(i).copied().unwrap_or_default();
                p.counters = Some(now[i].since(&base));
            }
        } else {
            let dps = view
                .dps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for dp in dps.iter() {
                let ports = dp
                    .ports
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for port in ports.iter() {
                    for (queue, &pmd) in port.rxq_pmd.iter().enumerate() {
                        if let Some(p) = pmds.get_mut(pmd) {
                            p.rxqs.push((port.name.clone(), queue as u32));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        pmd_stats::emit_reply(&mut out, FAMILY_ID, which, hdr.seq, hdr.pid, &pmds)
            .map_err(|e| e.errno())?;
        Ok(out)
    }
}

/// Every PMD's counters now, summed over the datapaths it serves.
fn current(view: &SwitchView) -> Vec<PmdCounters> {
    let mut out: Vec<PmdCounters> = view
        .pmds
        .iter()
        .map(|p| {
            let s = &p.shared;
            PmdCounters {
                packets: s.rx_packets.load(Relaxed),
                busy_cycles: s.busy_cycles.load(Relaxed),
                idle_cycles: s.idle_cycles.load(Relaxed),
                bursts: s.bursts.load(Relaxed),
                tx_batches: s.tx_batches.load(Relaxed),
                tx_batch_packets: s.tx_batch_packets.load(Relaxed),
                ..PmdCounters::default()
            }
        })
        .collect();
    let dps = view
        .dps
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for dp in dps.iter() {
        for (c, d) in out.iter_mut().zip(&dp.pmd) {
            c.passes += d.packets.load(Relaxed);
            c.emc_hit += d.emc_hit.load(Relaxed);
            c.megaflow_hit += d.megaflow_hit.load(Relaxed);
            c.simple_hit += d.simple_hit.load(Relaxed);
            c.mask_hit += d.mask_hit.load(Relaxed);
            c.miss += d.missed.load(Relaxed);
            c.lost += d.lost.load(Relaxed);
        }
    }
    out
}
