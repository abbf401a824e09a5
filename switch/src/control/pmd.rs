//! The `dpswitch_pmd` family (see [`odp::pmd_stats`] and `docs/protocol.md`): PMD
//! statistics, their baseline and the rx-queue assignment, answered on the control thread
//! from the counters PMDs publish.
//!
//! CLEAR does not touch a PMD's counters: as OVS does, it records the current counters as a
//! baseline that later GETs subtract. It does restart each PMD's longest-poll-round gauge,
//! which a baseline cannot.

use odp::nl::{self, NlMsgHeader};
use std::time::Instant;

use odp::pmd_stats::{self, cmd, PmdCounters, PmdInfo, RxqInfo};

use super::reply::Answer;
use crate::error::{Error, Result};
use crate::stats::usage::RxqUsage;
use crate::stats::view::lock;
use crate::stats::SwitchView;

/// The family's state: the baseline of the last CLEAR, per PMD, and the rx queues' usage
/// window.
#[derive(Debug, Default)]
pub struct PmdFamily {
    baseline: Vec<PmdCounters>,
    usage: RxqUsage,
}

impl PmdFamily {
    /// Samples the usage window when an interval has passed (call on every control-loop
    /// round).
    pub fn tick(&mut self, view: &SwitchView, now: Instant) {
        self.usage.tick(view, now);
    }

    /// Handles one request (the sender's port id already in `hdr`); returns the command's
    /// metric label and the answer.
    pub fn handle(
        &mut self,
        view: &SwitchView,
        hdr: &NlMsgHeader,
        payload: &[u8],
        admin: bool,
    ) -> (&'static str, Result<Answer>) {
        let genl = match nl::parse_genl(payload) {
            Ok((genl, _)) => genl,
            Err(e) => return ("parse", Err(e.into())),
        };
        match genl.cmd {
            cmd::GET => ("get", self.reply(view, hdr, cmd::GET)),
            cmd::RXQ => ("rxq", self.reply(view, hdr, cmd::RXQ)),
            cmd::CLEAR if !admin => ("clear", Err(Error::NotPermitted)),
            cmd::CLEAR => {
                self.baseline = view.pmd_counters();
                for p in &view.pmds {
                    p.shared
                        .restart_max_poll_gap
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                ("clear", Ok(Answer::None))
            }
            // genetlink's answer to a command the family does not have.
            _ => ("unknown", Err(Error::Unsupported("PMD family command"))),
        }
    }

    fn reply(&self, view: &SwitchView, hdr: &NlMsgHeader, which: u8) -> Result<Answer> {
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
                overhead: None,
                isolated: which == cmd::RXQ
                    && p.shared
                        .pinned_rxqs
                        .load(std::sync::atomic::Ordering::Relaxed)
                        != 0,
            })
            .collect();
        if which == cmd::GET {
            for (i, p) in pmds.iter_mut().enumerate() {
                let base = self.baseline.get(i).copied().unwrap_or_default();
                p.counters = Some(now[i].since(&base));
            }
        } else {
            for dp in lock(&view.dps).iter() {
                for port in lock(&dp.ports).iter() {
                    for (queue, &pmd) in port.rxq_pmd.iter().enumerate() {
                        let queue = u32::try_from(queue).unwrap_or(u32::MAX);
                        if let Some(p) = pmds.get_mut(pmd) {
                            p.rxqs.push(RxqInfo {
                                port: port.name.clone(),
                                queue,
                                usage: self.usage.usage(&(dp.name.clone(), port.port_no, queue)),
                            });
                        }
                    }
                }
            }
            for (i, p) in pmds.iter_mut().enumerate() {
                p.overhead = self.usage.overhead(i);
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
        )?;
        Ok(Answer::Msgs(out))
    }
}

#[cfg(test)]
mod tests {
    use odp::errno::{EOPNOTSUPP, EPERM};
    use odp::nl::{self, flags, GenlHeader};

    use super::*;
    use crate::control::testing::Harness;

    fn request(cmd: u8) -> Vec<u8> {
        let mut b = Vec::new();
        let start = nl::begin_genl_msg(
            &mut b,
            pmd_stats::FAMILY_ID,
            flags::REQUEST | flags::ACK,
            1,
            0,
            GenlHeader {
                cmd,
                version: pmd_stats::VERSION,
            },
        );
        nl::finish_msg(&mut b, start).unwrap();
        b
    }

    #[test]
    fn stats_for_everyone_clear_for_root_only() {
        let mut h = Harness::new();
        let (r, e) = h.raw(&request(cmd::GET), false);
        assert_eq!((r.len(), e), (1, Some(0)));
        assert_eq!(h.raw(&request(cmd::CLEAR), false).1, Some(EPERM));
        assert_eq!(h.raw(&request(cmd::CLEAR), true), (vec![], Some(0)));
        assert_eq!(h.raw(&request(99), true).1, Some(EOPNOTSUPP));
    }
}
