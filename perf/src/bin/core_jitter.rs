//! The platform's share of a PMD's poll gaps: spins reading the clock on one core (pin it
//! with `taskset -c CORE`) and counts the gaps longer than 100 µs, 1 ms and 10 ms, as
//! dpswitch's `dpswitch_pmd_long_poll_rounds_total` does for its poll rounds. A loop that
//! does nothing but read the clock is only ever stalled by the kernel's or the
//! hypervisor's work on its core, so its gaps are the floor under the PMD's.
//!
//! `taskset -c 1 core_jitter [SECONDS] [CORE-FOR-STEAL]` (defaults 60 and 1)

use std::time::{Duration, Instant};

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
    loop {
        let now = Instant::now();
        let gap = now - prev;
        prev = now;
        loops += 1;
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
    for (us, n) in OVER_US.iter().zip(over) {
        println!("gaps over {us:>5} us: {n:>8} ({:.2}/min)", per_min(n));
    }
    if let (Some(a), Some(b)) = (steal0, steal_ms(cpu)) {
        println!("cpu{cpu} steal during the run: {} ms", b - a);
    }
}
