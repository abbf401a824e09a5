//! The `dpswitch_pmd` family (see [`odp::pmd_stats`]): PMD statistics, their baseline and the
//! rx-queue assignment, answered on the control thread from the counters PMDs publish.
//!
//! CLEAR does not touch a PMD's counters: as OVS does, it records the current counters as a
//! baseline that later GETs subtract. It does restart each PMD's longest-poll-round gauge,
//! which a baseline cannot.

use odp::nl::{self, NlMsgHeader};
use odp::pmd_stats::{self, cmd, PmdCounters, PmdInfo};

use crate::runtime::shared::SwitchView;

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
                self.baseline = view.pmd_counters();
                for p in &view.pmds {
                    p.shared
                        .restart_max_poll_gap
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                ("clear", Ok(Vec::new()))
            }
            // genetlink's answer to a command the family does not have.
            _ => ("unknown", Err(libc::EOPNOTSUPP)),
        }
    }

    fn reply(&self, view: &SwitchView, hdr: &NlMsgHeader, which: u8) -> Result<Vec<u8>, i32> {
        let now = view.pmd_counters();
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
        pmd_stats::emit_reply(
            &mut out,
            pmd_stats::FAMILY_ID,
            which,
            hdr.seq,
            hdr.pid,
            &pmds,
        )
        .map_err(|e| e.errno())?;
        Ok(out)
    }
}
