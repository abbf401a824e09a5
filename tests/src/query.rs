//! What a running dpswitch reports over netlink: datapath attributes and ifindex, vport
//! statistics, and lookup counters that have stopped moving.

use std::time::{Duration, Instant};

use crate::dpswitch::Dpswitch;
use crate::nlclient;

impl Dpswitch {
    /// The datapath's attributes from a netlink GET (stats and megaflow stats included).
    ///
    /// # Panics
    /// If the GET fails.
    pub fn dp_attrs(&self, dp: &str) -> odp::family::datapath::DatapathAttrs {
        self.dp_get(dp).body
    }

    /// The datapath's `dp_ifindex` (the `ovs_header` of its GET reply), which requests of the
    /// other families address it by.
    ///
    /// # Panics
    /// If the GET fails.
    pub fn dp_ifindex(&self, dp: &str) -> i32 {
        self.dp_get(dp).dp_ifindex
    }

    fn dp_get(&self, dp: &str) -> odp::family::OvsMessage<odp::family::datapath::DatapathAttrs> {
        use odp::family::datapath::{DatapathAttrs, DpCmd};
        let mut c = nlclient::NlClient::connect(self.netlink_pid);
        let m = c.msg(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(dp.to_string()),
                ..DatapathAttrs::default()
            },
        );
        let (r, e) = c.transact(m, 0);
        assert_eq!(e, 0, "DP GET {dp}");
        r.into_iter().next().expect("DP GET reply")
    }

    /// Waits until the datapath's lookup counters stop moving for `quiet` (at most `max`):
    /// whatever the kernel sent while ports were being set up has been handled.
    pub fn settle(&self, dp: &str, quiet: Duration, max: Duration) {
        let lookups = |s: &Dpswitch| {
            let st = s.dp_attrs(dp).stats.unwrap_or_default();
            (st.n_hit, st.n_missed, st.n_lost)
        };
        let deadline = Instant::now() + max;
        let mut last = lookups(self);
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = lookups(self);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// The vport `name`'s statistics from a netlink GET.
    ///
    /// # Panics
    /// If the GET fails or carries no statistics.
    pub fn vport_stats(&self, dp: &str, name: &str) -> odp::family::vport::VportStats {
        use odp::family::vport::{VportAttrs, VportCmd};
        let ifindex = self.dp_ifindex(dp);
        let mut c = nlclient::NlClient::connect(self.netlink_pid);
        let m = c.msg(
            VportCmd::Get,
            ifindex,
            VportAttrs {
                name: Some(name.to_string()),
                ..VportAttrs::default()
            },
        );
        let (r, e) = c.transact(m, 0);
        assert_eq!(e, 0, "VPORT GET {name}");
        r[0].body.stats.expect("vport stats")
    }
}
