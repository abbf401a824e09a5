//! The two CPU instructions the per-packet path wants and safe Rust cannot issue: reading
//! the time-stamp counter (stage timing) and prefetching a cache line (overlapping a
//! burst's cache misses). The runtime supplies them through [`Cpu`], so this crate stays
//! free of `unsafe`; [`Portable`] stands in where no runtime is (unit tests, tools).

/// CPU helpers, as static functions so a `Pmd<P>` pays nothing to reach them.
pub trait Cpu {
    /// A cycle counter: monotonic on one core, the unit of every cycle figure.
    fn tsc() -> u64;

    /// Starts loading the cache line holding `r` and returns at once. A hint: it never
    /// faults and changes nothing observable.
    fn prefetch<T: ?Sized>(r: &T);
}

/// No prefetching, and nanoseconds of `CLOCK_MONOTONIC` as the cycle counter: correct
/// everywhere, for code that runs without the runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl Cpu for Portable {
    #[inline]
    fn tsc() -> u64 {
        crate::flow::monotonic_ns()
    }

    #[inline(always)]
    fn prefetch<T: ?Sized>(_r: &T) {}
}
