//! Each rx queue's share of its PMD's cycles over a window, for `pmd-rxq-show`, measured as
//! OVS-DPDK measures it (`lib/dpif-netdev.c`): the cycles of the queue's bursts against all
//! of the PMD's polling cycles, over the last [`INTERVALS`] intervals of [`INTERVAL`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::view::lock;
use super::SwitchView;

/// How often the counters are sampled (OVS's `PMD_INTERVAL_LEN`, 5 s).
pub const INTERVAL: Duration = Duration::from_secs(5);
/// How many intervals the window holds (OVS's `PMD_INTERVAL_MAX`, 12: one minute).
pub const INTERVALS: usize = 12;

/// An rx queue: datapath name, port number, queue id.
pub type RxqKey = (String, u32, u32);

/// Cycles in one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interval {
    /// Each PMD's polling cycles (busy and idle).
    pub pmd: Vec<u64>,
    /// Each PMD's busy cycles: polls that received packets.
    pub busy: Vec<u64>,
    /// Each rx queue's PMD and the cycles its bursts took.
    pub rxq: HashMap<RxqKey, (usize, u64)>,
}

/// Counters as read at one instant.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    at: Option<Instant>,
    pmd: Vec<u64>,
    busy: Vec<u64>,
    rxq: HashMap<RxqKey, (usize, u64)>,
}

impl Snapshot {
    fn read(view: &SwitchView, at: Instant) -> Snapshot {
        let busy: Vec<u64> = view
            .pmds
            .iter()
            .map(|p| p.shared.busy_cycles.load(Relaxed))
            .collect();
        let pmd = view
            .pmds
            .iter()
            .zip(&busy)
            .map(|(p, b)| b + p.shared.idle_cycles.load(Relaxed))
            .collect();
        let mut rxq = HashMap::new();
        for dp in lock(&view.dps).iter() {
            for port in lock(&dp.ports).iter() {
                for (q, (c, &pmd)) in port.rxq_cycles.iter().zip(&port.rxq_pmd).enumerate() {
                    let queue = u32::try_from(q).unwrap_or(u32::MAX);
                    rxq.insert(
                        (dp.name.clone(), port.port_no, queue),
                        (pmd, c.load(Relaxed)),
                    );
                }
            }
        }
        Snapshot {
            at: Some(at),
            pmd,
            busy,
            rxq,
        }
    }
}

/// The sampled window.
#[derive(Debug, Default)]
pub struct RxqUsage {
    last: Snapshot,
    window: VecDeque<Interval>,
}

impl RxqUsage {
    /// Samples the counters if an interval has passed since the last sample (call often).
    pub fn tick(&mut self, view: &SwitchView, now: Instant) {
        match self.last.at {
            Some(t) if now.duration_since(t) < INTERVAL => return,
            None => {
                self.last = Snapshot::read(view, now);
                return;
            }
            Some(_) => {}
        }
        let next = Snapshot::read(view, now);
        let delta = |now: &[u64], then: &[u64]| -> Vec<u64> {
            now.iter()
                .enumerate()
                .map(|(i, &c)| c.saturating_sub(then.get(i).copied().unwrap_or(c)))
                .collect()
        };
        let pmd = delta(&next.pmd, &self.last.pmd);
        let busy = delta(&next.busy, &self.last.busy);
        // A queue seen for the first time (or moved to another PMD) starts its history here.
        let rxq = next
            .rxq
            .iter()
            .filter_map(|(k, &(p, c))| match self.last.rxq.get(k) {
                Some(&(lp, lc)) if lp == p => Some((k.clone(), (p, c.saturating_sub(lc)))),
                _ => None,
            })
            .collect();
        self.window.push_back(Interval { pmd, busy, rxq });
        while self.window.len() > INTERVALS {
            self.window.pop_front();
        }
        self.last = next;
    }

    /// The queue's percent of its PMD's cycles over the window, or `None` before it has
    /// been measured for an interval.
    pub fn usage(&self, key: &RxqKey) -> Option<u8> {
        usage(&self.window, key)
    }

    /// The percent of PMD `pmd`'s cycles that were busy but on no rx queue over the window.
    pub fn overhead(&self, pmd: usize) -> Option<u8> {
        overhead(&self.window, pmd)
    }
}

fn percent(part: u64, whole: u64) -> Option<u8> {
    (whole != 0)
        .then(|| u8::try_from((u128::from(part) * 100 / u128::from(whole)).min(100)).unwrap_or(100))
}

/// `key`'s share of its PMD's cycles in the intervals it was measured in.
pub fn usage(window: &VecDeque<Interval>, key: &RxqKey) -> Option<u8> {
    let (mut part, mut whole) = (0u64, 0u64);
    for i in window {
        if let Some(&(pmd, c)) = i.rxq.get(key) {
            part += c;
            whole += i.pmd.get(pmd).copied().unwrap_or(0);
        }
    }
    percent(part, whole)
}

/// PMD `pmd`'s busy cycles spent on no rx queue, as a share of all its cycles in the window
/// (OVS's "overhead").
pub fn overhead(window: &VecDeque<Interval>, pmd: usize) -> Option<u8> {
    let (mut queues, mut busy, mut whole) = (0u64, 0u64, 0u64);
    for i in window {
        whole += i.pmd.get(pmd).copied().unwrap_or(0);
        busy += i.busy.get(pmd).copied().unwrap_or(0);
        queues += i
            .rxq
            .values()
            .filter(|(p, _)| *p == pmd)
            .map(|(_, c)| c)
            .sum::<u64>();
    }
    percent(busy.saturating_sub(queues), whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: u32) -> RxqKey {
        ("dp0".to_string(), 1, q)
    }

    #[test]
    fn usage_and_overhead_are_shares_of_the_pmds_cycles_over_the_window() {
        let mut w = VecDeque::new();
        assert_eq!(usage(&w, &key(0)), None, "nothing measured yet");
        assert_eq!(overhead(&w, 0), None);
        // Two intervals of 1000 cycles on PMD 0: queue 0 took 300 then 500, queue 1 100
        // then 0, of 450 and 550 busy cycles; queue 2 only appears in the second interval,
        // on PMD 1.
        w.push_back(Interval {
            pmd: vec![1000, 1000],
            busy: vec![450, 0],
            rxq: HashMap::from([(key(0), (0, 300)), (key(1), (0, 100))]),
        });
        w.push_back(Interval {
            pmd: vec![1000, 400],
            busy: vec![550, 100],
            rxq: HashMap::from([(key(0), (0, 500)), (key(1), (0, 0)), (key(2), (1, 100))]),
        });
        assert_eq!(usage(&w, &key(0)), Some(40));
        assert_eq!(usage(&w, &key(1)), Some(5));
        assert_eq!(
            usage(&w, &key(2)),
            Some(25),
            "measured over its own interval only"
        );
        assert_eq!(usage(&w, &key(9)), None);
        // Busy but on no queue: 1000 - 900 of 2000 cycles; none on PMD 1.
        assert_eq!(overhead(&w, 0), Some(5));
        assert_eq!(overhead(&w, 1), Some(0));
    }
}
