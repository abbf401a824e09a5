//! The connection table's metrics, read at scrape time from its counters (relaxed loads).
//! Connections by state would need a walk of the table per scrape, so they are not exported;
//! `dpctl ct-stats-show` gives them on demand.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use fastpath::conntrack::table::Table;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::stats::SwitchView;

/// A collector over the connection table.
pub struct ConntrackCollector {
    table: Arc<Table>,
    view: Arc<SwitchView>,
    invalid: IntCounterVec,
    connections: IntGauge,
    max: IntGauge,
    zone: IntGaugeVec,
    events: IntCounterVec,
    bytes_per_conn: IntGauge,
}

impl std::fmt::Debug for ConntrackCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConntrackCollector").finish_non_exhaustive()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("dpswitch")
}

impl ConntrackCollector {
    /// A collector over `table`.
    ///
    /// # Panics
    /// Never: the metric definitions are fixed and valid (a test builds them).
    pub fn new(table: Arc<Table>, view: Arc<SwitchView>) -> Self {
        ConntrackCollector {
            table,
            view,
            invalid: IntCounterVec::new(
                opts(
                    "conntrack_invalid_packets_total",
                    "Packets a PMD's ct found invalid (+trk+inv)",
                ),
                &["pmd"],
            )
            .expect("valid metric"),
            connections: IntGauge::with_opts(opts(
                "conntrack_connections",
                "Tracked (committed) connections",
            ))
            .expect("valid metric"),
            max: IntGauge::with_opts(opts(
                "conntrack_max_connections",
                "The global connection limit (--ct-max-conns)",
            ))
            .expect("valid metric"),
            zone: IntGaugeVec::new(
                opts(
                    "conntrack_zone_connections",
                    "Tracked connections per zone (non-empty zones)",
                ),
                &["zone"],
            )
            .expect("valid metric"),
            events: IntCounterVec::new(
                opts(
                    "conntrack_events_total",
                    "Connection events: created (committed), expired, and commits refused by a \
                     limit (limit), for want of an entry (full), by another connection's \
                     tuple (clash) or for want of a free NAT mapping (nat_exhausted)",
                ),
                &["event"],
            )
            .expect("valid metric"),
            bytes_per_conn: IntGauge::with_opts(opts(
                "conntrack_bytes_per_connection",
                "Memory per connection the table can hold: an entry and its share of the index",
            ))
            .expect("valid metric"),
        }
    }

    fn refresh(&self) {
        let t = &self.table;
        self.connections.set(i64::from(t.count()));
        self.max.set(i64::from(t.max_conns()));
        self.bytes_per_conn
            .set(i64::try_from(t.bytes_per_conn()).unwrap_or(i64::MAX));
        self.zone.reset();
        for z in 0..=u16::MAX {
            let n = t.zone_count(z);
            if n != 0 {
                self.zone
                    .with_label_values(&[&z.to_string()])
                    .set(i64::from(n));
            }
        }
        self.invalid.reset();
        for p in &self.view.pmds {
            self.invalid
                .with_label_values(&[&p.lcore.to_string()])
                .inc_by(p.shared.ct_invalid.load(Relaxed));
        }
        self.events.reset();
        let s = &t.stats;
        for (name, c) in [
            ("created", &s.created),
            ("expired", &s.expired),
            ("limit", &s.limit_drops),
            ("full", &s.full_drops),
            ("clash", &s.clashes),
            ("nat_exhausted", &s.nat_exhausted),
        ] {
            self.events
                .with_label_values(&[name])
                .inc_by(c.load(Relaxed));
        }
    }
}

impl Collector for ConntrackCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d = Vec::new();
        d.extend(self.connections.desc());
        d.extend(self.max.desc());
        d.extend(self.zone.desc());
        d.extend(self.events.desc());
        d.extend(self.bytes_per_conn.desc());
        d.extend(self.invalid.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        let mut out = self.connections.collect();
        out.extend(self.max.collect());
        out.extend(self.zone.collect());
        out.extend(self.events.collect());
        out.extend(self.bytes_per_conn.collect());
        out.extend(self.invalid.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath::conntrack::table::{Conn, ProtoState};
    use fastpath::conntrack::tuple::{Family, Tuple};

    #[test]
    fn scrapes_report_the_tables_counts() {
        let t = Arc::new(Table::default());
        let a = Tuple {
            zone: 7,
            family: Family::V4,
            src: 1,
            dst: 2,
            proto: 17,
            src_port: 1,
            dst_port: 2,
        };
        t.commit(
            Conn::new(a, a.invert().unwrap(), ProtoState::Udp, 0),
            30,
            |_, _, _| (),
        )
        .unwrap();
        let r = prometheus::Registry::new();
        let view = Arc::new(SwitchView::new(Vec::new(), 1_000_000_000));
        r.register(Box::new(ConntrackCollector::new(t, view)))
            .unwrap();
        let text = {
            let mut b = Vec::new();
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut b)
                .unwrap();
            String::from_utf8(b).unwrap()
        };
        for want in [
            "dpswitch_conntrack_connections 1",
            "dpswitch_conntrack_zone_connections{zone=\"7\"} 1",
            "dpswitch_conntrack_events_total{event=\"created\"} 1",
            "dpswitch_conntrack_max_connections 4096",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }
}
