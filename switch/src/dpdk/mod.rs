//! The thin, safe layer over DPDK and the kernel devices ports need: EAL, mempools, mbufs,
//! ethdev ports, lcores and stand-in interfaces.
//!
//! Everything `unsafe` in dpswitch outside `dpdk-sys` lives in this module. The packet logic
//! (parse, classify, actions) never sees these types; the runtime hands it byte slices.

mod eal;
mod error;
mod mbuf;
mod mempool;
mod port;
mod standin;

pub use eal::{Eal, LcoreJob};
pub use error::{DpdkError, Result};
pub use mbuf::{Mbuf, MbufArray, BURST_SIZE};
pub use mempool::{Mempool, Pools};
pub use port::{Link, Port, PortConfig, RxQueue, TxOutcome, TxQueue};
pub use standin::{Promiscuity, StandIn};

/// TSC cycles since an arbitrary point: the clock PMD cycle accounting uses. Inlined (the
/// same instruction DPDK's `rte_rdtsc` issues) so a PMD's per-burst accounting costs no call.
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC exists on every x86_64 CPU and touches no memory.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: reads the time-stamp counter; no memory is touched.
    unsafe {
        dpdk_sys::shim_rte_rdtsc()
    }
}

/// Starts loading the cache line holding `r` into all cache levels and returns at once. A
/// hint: it never faults and changes nothing observable. It lives in this module because the
/// intrinsic is `unsafe`; the fast path gets it through [`Native`].
#[inline(always)]
fn prefetch<T: ?Sized>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, so the intrinsic's target feature is
    // always present; a prefetch of a live reference performs no architectural access.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// The CPU's own timestamp and prefetch instructions, for the fast path ([`fastpath::Cpu`]):
/// the runtime's PMDs are `Pmd<Native>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

impl fastpath::Cpu for Native {
    #[inline(always)]
    fn tsc() -> u64 {
        rdtsc()
    }

    #[inline(always)]
    fn prefetch<T: ?Sized>(r: &T) {
        prefetch(r);
    }
}

/// TSC ticks per second, measured against CLOCK_MONOTONIC once per process (50 ms), so cycle
/// figures do not depend on how well EAL calibrated itself in a VM.
pub fn tsc_hz() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        let (t0, c0) = (std::time::Instant::now(), rdtsc());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (dt, dc) = (t0.elapsed(), rdtsc().wrapping_sub(c0));
        (dc as f64 / dt.as_secs_f64()) as u64
    })
}

/// The version string of the DPDK library linked at run time, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_version()) };
    v.to_string_lossy().into_owned()
}
