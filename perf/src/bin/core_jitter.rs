//! The platform's share of a PMD's poll gaps: spins reading the clock on one core (pin it
//! with `taskset -c CORE`) and counts the gaps longer than 100 µs, 1 ms and 10 ms, as
//! dpswitch's `dpswitch_pmd_long_poll_rounds_total` does for its poll rounds. A loop that
//! does nothing but read the clock is only ever stalled by the kernel's or the
//! hypervisor's work on its core, so its gaps are the floor under the PMD's.
//!
//! It also reads its thread's CPU time (every 100 µs, and after every long gap) to tell
//! what kind of gap it was. Time the kernel gave another task, and time the hypervisor
//! reports as steal, are not charged to the thread. Interrupt handling on the core is
//! charged to it, and so is time the hypervisor takes without reporting it as steal.
//! A long gap that the thread was charged for anyway therefore points at the host.
//!
//! Each gap over 1 ms goes to stderr as `long gap end_mono_ns=.. wall_ns=.. cpu_ns=..`
//! (the fields of dpswitch's long-round log), for `perf/gap_attribution.py`.
//!
//! `taskset -c 1 core_jitter [SECONDS] [CORE-FOR-STEAL]` (defaults 60 and 1)

use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

const OVER_US: [u64; 3] = [100, 1_000, 10_000];

/// Cumulative steal time of `cpu` in ms from /proc/stat (USER_HZ is 100).
fn steal_ms(cpu: usize) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(ticks * 10)
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// How often the thread's CPU time is read; a gap's CPU time is known to within this.
const CPU_EVERY: Duration = Duration::from_micros(100);

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60.0);
    let cpu: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let limits = OVER_US.map(Duration::from_micros);
    let steal0 = steal_ms(cpu);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let (mut prev, mut max, mut loops) = (start, Duration::ZERO, 0u64);
    let mut over = [0u64; OVER_US.len()];
    // Gaps whose CPU time (less the CPU_EVERY uncertainty) was over the same limits.
    let mut over_charged = [0u64; OVER_US.len()];
    let (mut cpu_read_at, mut cpu_used) = (start, thread_cpu());
    let cpu_start = cpu_used;
    loop {
        let now = Instant::now();
        let gap = now - prev;
        prev = now;
        loops += 1;
        if now - cpu_read_at >= CPU_EVERY {
            let c = thread_cpu();
            // The block since the last read holds this gap and under CPU_EVERY besides.
            let charged = (c - cpu_used).saturating_sub(now - cpu_read_at - gap);
            (cpu_read_at, cpu_used) = (now, c);
            if gap > limits[0] {
                for (n, l) in over_charged.iter_mut().zip(&limits) {
                    *n += u64::from(charged > *l);
                }
            }
            // A gap over the read interval always ends with a read.
            if gap > limits[1] {
                let end =
                    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(Duration::ZERO, Duration::from);
                eprintln!(
                    "long gap end_mono_ns={} wall_ns={} cpu_ns={}",
                    end.as_nanos(),
                    gap.as_nanos(),
                    charged.as_nanos()
                );
            }
        }
        if gap > limits[0] {
            max = max.max(gap);
            for (n, l) in over.iter_mut().zip(&limits) {
                *n += u64::from(gap > *l);
            }
        }
        if now >= end {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_min = |n: u64| n as f64 * 60.0 / elapsed;
    println!(
        "{elapsed:.1} s, {loops} clock reads, longest gap {:.1} us",
        max.as_secs_f64() * 1e6
    );
    for ((us, n), c) in OVER_US.iter().zip(over).zip(over_charged) {
        println!(
            "gaps over {us:>5} us: {n:>8} ({:.2}/min), charged to the thread as CPU time: {c}",
            per_min(n)
        );
    }
    println!(
        "thread CPU time {:.2} s of {elapsed:.2} s",
        (thread_cpu() - cpu_start).as_secs_f64()
    );
    if let (Some(a), Some(b)) = (steal0, steal_ms(cpu)) {
        println!("cpu{cpu} steal during the run: {} ms", b - a);
    }
}
