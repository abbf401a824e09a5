//! The upcall queue: packets every PMD hands the control thread (misses and `userspace`
//! actions), bounded and lock-free, never making a PMD wait, with a doorbell that wakes the
//! control thread when it sleeps.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;
use nix::sys::eventfd::{EfdFlags, EventFd};

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
    doorbell: Doorbell,
}

/// Wakes the consumer when it sleeps, at the cost of one atomic load per producer burst
/// while it is awake (it never sleeps while upcalls wait).
///
/// Consumer and producers follow the store-fence-load pattern on both sides: the consumer
/// raises `asleep` then looks at the queue, a producer fills the queue then looks at
/// `asleep`; with a SeqCst fence between each pair at least one of them sees the other's
/// write, so an upcall is never left waiting for the consumer's poll timeout.
#[derive(Debug)]
struct Doorbell {
    asleep: AtomicBool,
    fd: EventFd,
}

impl<T> UpcallQueue<T> {
    /// Room for `capacity` upcalls from `producers` PMDs.
    pub fn new(capacity: usize, producers: usize) -> Self {
        UpcallQueue {
            queue: ArrayQueue::new(capacity.max(1) + producers),
            margin: producers,
            doorbell: Doorbell {
                asleep: AtomicBool::new(false),
                // An eventfd cannot fail to open short of fd exhaustion at start-up.
                fd: EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                    .expect("eventfd for the upcall queue"),
            },
        }
    }

    /// After a producer's burst that queued upcalls: rings the doorbell if the consumer is
    /// asleep (one `write(2)` per sleep, never one per upcall).
    #[inline]
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        let bell = &self.doorbell;
        if bell.asleep.load(Ordering::Relaxed) && bell.asleep.swap(false, Ordering::Relaxed) {
            // A full counter (2^64 - 2 rings) still leaves the fd readable.
            let _ = bell.fd.write(1);
        }
    }

    /// The consumer is about to sleep on [`UpcallQueue::doorbell`]: returns false, and
    /// stays awake, if upcalls are already waiting.
    pub fn prepare_to_sleep(&self) -> bool {
        let bell = &self.doorbell;
        bell.asleep.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            return true;
        }
        bell.asleep.store(false, Ordering::Relaxed);
        false
    }

    /// The consumer woke (by the doorbell or otherwise): clears the bell.
    pub fn awake(&self) {
        let bell = &self.doorbell;
        bell.asleep.store(false, Ordering::Relaxed);
        // EAGAIN: nobody rang.
        let _ = bell.fd.read();
    }

    /// The fd that becomes readable when a producer rings.
    pub fn doorbell(&self) -> BorrowedFd<'_> {
        self.doorbell.fd.as_fd()
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

    fn rung(q: &UpcallQueue<u32>) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(q.doorbell(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).expect("poll") == 1
    }

    #[test]
    fn the_doorbell_rings_only_for_a_sleeping_consumer() {
        let q = UpcallQueue::new(4, 1);
        // Awake consumer: producers do not ring.
        q.push(1).expect("room");
        q.wake();
        assert!(!rung(&q));
        // Upcalls waiting: the consumer must not sleep.
        assert!(!q.prepare_to_sleep());
        q.wake();
        assert!(!rung(&q));
        assert_eq!(q.pop(), Some(1));
        // Asleep on an empty queue: the next burst rings, once.
        assert!(q.prepare_to_sleep());
        q.push(2).expect("room");
        q.wake();
        q.wake();
        assert!(rung(&q));
        q.awake();
        assert!(!rung(&q));
    }
}
