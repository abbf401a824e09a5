//! What each thread counts, merged into the summary at the end.

use std::collections::BTreeMap;
use std::time::Duration;

/// Counters of one thread, merged at the end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) datagrams: u64,
    pub(crate) answered: u64,
    pub(crate) silences: BTreeMap<&'static str, u64>,
    pub(crate) errors: BTreeMap<i32, u64>,
    pub(crate) unanswered: u64,
    pub(crate) unanswered_examples: Vec<String>,
    pub(crate) send_refused: BTreeMap<i32, u64>,
    pub(crate) stray: u64,
    pub(crate) max_rtt: Duration,
    pub(crate) flows_dumped: Vec<u64>,
    pub(crate) dumps_abandoned: u64,
    /// How long each step of the dump phase took (its requests' round trips).
    pub(crate) phases: Vec<(&'static str, Duration)>,
}

impl Tally {
    pub(crate) fn merge(&mut self, o: Tally) {
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
