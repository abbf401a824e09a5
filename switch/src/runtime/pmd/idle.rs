//! When a busy PMD polls a queue whose empty poll is a system call.
//!
//! An empty poll of a kernel-backed queue (TAP, AF_PACKET, system port) costs as much as
//! forwarding a dozen packets, and every bridge has two such local ports. So while such a
//! queue stays empty and other queues keep the PMD busy, it is polled again only after 1,
//! 2, 4, ... µs up to a ceiling; a packet resets it to every round, and an idle PMD polls
//! every queue every round (latency is all that matters then). OVS-DPDK keeps its bridges'
//! TAP ports off the PMDs altogether, on its main thread.

/// First back-off after an empty poll.
pub(super) const MIN_US: u64 = 1;
/// Ceiling for a port carrying other hosts' traffic (system ports, DPDK's TAP and
/// AF_PACKET devices).
pub(super) const MAX_US: u64 = 16;
/// Ceiling for an internal port: the host's own stack (ND, management traffic).
pub(super) const LOCAL_MAX_US: u64 = 128;

/// One rx queue's polling schedule, in TSC cycles.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdlePoll {
    /// No poll before this TSC while the PMD is busy.
    until: u64,
    /// The back-off after the next empty poll (0: a queue polled every round).
    next: u64,
    min: u64,
    max: u64,
}

impl IdlePoll {
    /// A queue polled every round (its empty poll costs no system call).
    pub(super) const ALWAYS: IdlePoll = IdlePoll {
        until: 0,
        next: 0,
        min: 0,
        max: 0,
    };

    /// A queue backed off from `min` up to `max` cycles.
    pub(super) fn backed_off(min: u64, max: u64) -> IdlePoll {
        let min = min.max(1);
        IdlePoll {
            until: 0,
            next: min,
            min,
            max: max.max(min),
        }
    }

    /// Whether to leave the queue alone in a round starting at `now`, after a round that
    /// received packets (`busy`) or not.
    #[inline(always)]
    pub(super) fn skip(&self, now: u64, busy: bool) -> bool {
        busy && now < self.until
    }

    /// The queue was polled at `at` and gave `got` packets.
    #[inline(always)]
    pub(super) fn polled(&mut self, at: u64, got: usize) {
        if self.min == 0 {
            return;
        }
        if got == 0 {
            self.until = at.wrapping_add(self.next);
            self.next = (self.next * 2).min(self.max);
        } else {
            self.next = self.min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdlePoll;

    #[test]
    fn a_queue_without_backoff_is_polled_every_round() {
        let mut q = IdlePoll::ALWAYS;
        q.polled(100, 0);
        assert!(!q.skip(101, true));
    }

    #[test]
    fn an_empty_queue_backs_off_while_busy_up_to_its_ceiling_and_a_packet_resets_it() {
        let mut q = IdlePoll::backed_off(10, 40);
        let mut at = 1000;
        // Back-offs 10, 20, 40, 40.
        for expect in [10, 20, 40, 40] {
            q.polled(at, 0);
            assert!(q.skip(at + expect - 1, true));
            assert!(!q.skip(at + expect, true));
            at += expect;
        }
        // An idle PMD polls it every round whatever the schedule.
        q.polled(at, 0);
        assert!(!q.skip(at + 1, false));
        // A packet: back to the shortest back-off.
        q.polled(at, 3);
        q.polled(at + 1, 0);
        assert!(!q.skip(at + 11, true));
    }
}
