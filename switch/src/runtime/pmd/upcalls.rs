//! The upcall queue: packets every PMD hands the control thread (misses and `userspace`
//! actions), bounded and lock-free, never making a PMD wait.

use crossbeam_queue::ArrayQueue;

use crate::dpdk::Mbuf;
use crate::slowpath::Upcall;

/// An upcall as it waits in the queue.
#[derive(Debug)]
pub struct Queued {
    /// The upcall.
    pub up: Upcall<Mbuf>,
    /// TSC when the PMD queued it (for the handling-latency histogram).
    pub tsc: u64,
}

/// The upcalls of every PMD to the control thread: crossbeam's bounded lock-free
/// `ArrayQueue`, kept short of full.
///
/// A push into a full `ArrayQueue` fails at once, but one into the slot the consumer is
/// still reading (it has claimed the slot and not yet released it) spins until the read
/// ends. That slot is the one a push wants only when the queue was full as the read began;
/// the control thread, preempted in mid-read, would then stall a PMD for as long as it is
/// off its core. So a push is refused (the upcall is lost, as on a full queue) once fewer
/// free slots remain than there are producers: a PMD then never needs that slot, unless
/// other PMDs fill the margin within the few instructions of its own push.
#[derive(Debug)]
pub struct UpcallQueue<T = Queued> {
    queue: ArrayQueue<T>,
    /// One slot per producer, kept free.
    margin: usize,
}

impl<T> UpcallQueue<T> {
    /// Room for `capacity` upcalls from `producers` PMDs.
    pub fn new(capacity: usize, producers: usize) -> Self {
        UpcallQueue {
            queue: ArrayQueue::new(capacity.max(1) + producers),
            margin: producers,
        }
    }

    /// Queues `up`, or hands it back if the queue is (nearly) full.
    ///
    /// # Errors
    /// `up`, when fewer slots than the margin are free.
    #[inline]
    pub fn push(&self, up: T) -> Result<(), T> {
        if self.queue.len() + self.margin >= self.queue.capacity() {
            return Err(up);
        }
        self.queue.push(up)
    }

    /// The oldest upcall.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Upcalls waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many upcalls it holds at most.
    pub fn capacity(&self) -> usize {
        self.queue.capacity() - self.margin
    }
}

#[cfg(test)]
mod tests {
    use super::UpcallQueue;

    #[test]
    fn upcall_queue_holds_its_capacity_and_keeps_a_slot_per_producer_free() {
        let q = UpcallQueue::new(4, 2);
        assert_eq!(q.capacity(), 4);
        for i in 0..4 {
            assert_eq!(q.push(i), Ok(()));
        }
        // Full as far as producers can tell, with two slots still free underneath.
        assert_eq!(q.push(4), Err(4));
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop(), Some(0));
        assert_eq!(q.push(5), Ok(()));
        assert_eq!(q.push(6), Err(6));
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [1, 2, 3, 5]);
        assert!(q.is_empty());
    }
}
