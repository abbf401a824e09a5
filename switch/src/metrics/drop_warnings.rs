//! Rate-limited warnings for packets the switch loses: at most one line per kind and port
//! (per datapath for lost upcalls) each interval, carrying the count since the previous
//! check. Run on the control thread from the counters PMDs already publish, so no PMD ever
//! logs.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::stats::SwitchView;

/// How often the counters are compared (so at most one warning per kind and port per second).
pub const DROP_WARN_INTERVAL: Duration = Duration::from_secs(1);

/// What was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Packets the device or the switch could not transmit.
    TxDropped,
    /// Packets the device or the switch dropped on receive (ring full, no mbuf).
    RxDropped,
    /// Misses or userspace actions dropped before reaching userspace.
    UpcallsLost,
}

impl Kind {
    fn message(self) -> &'static str {
        match self {
            Kind::TxDropped => "packets dropped on transmit",
            Kind::RxDropped => "packets dropped on receive",
            Kind::UpcallsLost => "upcalls lost",
        }
    }
}

/// The totals seen at the last check, by (kind, datapath, port).
#[derive(Debug)]
pub struct DropWarnings {
    last_check: Instant,
    seen: HashMap<(Kind, String, String), u64>,
}

impl Default for DropWarnings {
    fn default() -> Self {
        DropWarnings {
            last_check: Instant::now(),
            seen: HashMap::new(),
        }
    }
}

impl DropWarnings {
    /// Compares the counters with the last check, at most once per [`DROP_WARN_INTERVAL`],
    /// and warns about every one that grew.
    pub fn check(&mut self, view: &SwitchView, now: Instant) {
        if now.duration_since(self.last_check) < DROP_WARN_INTERVAL {
            return;
        }
        self.last_check = now;
        let dps = view
            .dps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for dp in dps.iter() {
            let lost = dp.ctl_lost.load(Relaxed)
                + dp.pmd.iter().map(|c| c.lost.load(Relaxed)).sum::<u64>();
            self.update(Kind::UpcallsLost, &dp.name, "", lost, false);
            let ports = dp
                .ports
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for p in ports.iter() {
                let st = p.device.stats();
                let rx = st.rx_missed + st.rx_nombuf + p.counters.rx_dropped.load(Relaxed);
                self.update(Kind::RxDropped, &dp.name, &p.name, rx, false);
                let tx = p.counters.tx_dropped.load(Relaxed);
                // What a port that is down drops is expected (an internal port the host has
                // not brought up): counted, not warned about.
                let quiet = !p.device.link_up();
                self.update(Kind::TxDropped, &dp.name, &p.name, tx, quiet);
            }
        }
    }

    fn update(&mut self, kind: Kind, dp: &str, port: &str, total: u64, quiet: bool) {
        let key = (kind, dp.to_string(), port.to_string());
        // Counters start at zero with their port or datapath, so a new one's whole value is
        // news.
        let last = self.seen.get(&key).copied().unwrap_or(0);
        self.seen.insert(key, total);
        let count = total.saturating_sub(last);
        if count == 0 {
            return;
        }
        let interval_s = DROP_WARN_INTERVAL.as_secs();
        if quiet {
            tracing::debug!(
                dp,
                port,
                count,
                interval_s,
                "{} (link down)",
                kind.message()
            );
        } else if port.is_empty() {
            tracing::warn!(dp, count, interval_s, "{}", kind.message());
        } else {
            tracing::warn!(dp, port, count, interval_s, "{}", kind.message());
        }
    }
}
