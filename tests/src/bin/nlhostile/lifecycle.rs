//! Valid creation, change and removal of a datapath and a vport, now and then among the
//! hostile traffic.

use std::time::Duration;

use dpswitch_e2e::nlclient::NlClient;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::vport::{VportAttrs, VportCmd, VportOptions, VportType};
use odp::nl::flags;

use crate::ask::ask;
use crate::worker::Worker;

impl Worker {
    /// Valid NEW/SET/DEL of a datapath and of a vport of a safe type (net_null, no rx):
    /// DP NEW, VPORT NEW (echo), VPORT SET, VPORT GET, VPORT DEL, DP DEL, each acknowledged.
    pub(crate) fn lifecycle(&mut self, n: u64) {
        let dp = format!("{}{}", &self.ctx.dp[..self.ctx.dp.len().min(9)], self.id);
        let port = format!("{dp}p{}", n % 100);
        let t = Duration::from_secs(10);
        let mut steps = 0;
        let fail = |w: &mut Worker, what: &str, e: String| {
            w.t.unanswered += 1;
            if w.t.unanswered_examples.len() < 10 {
                w.t.unanswered_examples.push(format!("{what}: {e}"));
            }
        };
        let new = self.c.msg(
            DpCmd::New,
            0,
            DatapathAttrs {
                name: Some(dp.clone()),
                upcall_pid: Some(0),
                ..DatapathAttrs::default()
            },
        );
        let ifindex = match ask(&mut self.c, new, flags::ECHO, t) {
            Ok(_) => {
                steps += 1;
                let get = self.c.msg(
                    DpCmd::Get,
                    0,
                    DatapathAttrs {
                        name: Some(dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                let (r, e) = self.c.transact(get, 0);
                steps += 1;
                if e != 0 {
                    fail(self, "DP GET", format!("errno {e}"));
                    return;
                }
                r[0].dp_ifindex
            }
            Err(e) => return fail(self, "DP NEW", e),
        };
        let mut o = VportOptions::default();
        odp::dpswitch::push_setting(
            &mut o,
            odp::dpswitch::DEVARGS,
            &format!("net_null_{port},no-rx=1"),
        );
        let vnew = self.c.msg(
            VportCmd::New,
            ifindex,
            VportAttrs {
                ty: Some(VportType::Netdev),
                name: Some(port.clone()),
                options: Some(o),
                upcall_pids: Some(vec![0]),
                ..VportAttrs::default()
            },
        );
        let named = |c: &NlClient, cmd| {
            c.msg(
                cmd,
                ifindex,
                VportAttrs {
                    name: Some(port.clone()),
                    ..VportAttrs::default()
                },
            )
        };
        for (what, m) in [
            ("VPORT NEW", vnew),
            ("VPORT SET", {
                let mut m = named(&self.c, VportCmd::Set);
                m.body.upcall_pids = Some(vec![0]);
                m
            }),
            ("VPORT GET", named(&self.c, VportCmd::Get)),
            ("VPORT DEL", named(&self.c, VportCmd::Del)),
        ] {
            steps += 1;
            if let Err(e) = ask(&mut self.c, m, 0, t) {
                fail(self, what, e);
            }
        }
        let del = self.c.msg(
            DpCmd::Del,
            0,
            DatapathAttrs {
                name: Some(dp),
                ..DatapathAttrs::default()
            },
        );
        steps += 1;
        if let Err(e) = ask(&mut self.c, del, 0, t) {
            fail(self, "DP DEL", e);
        }
        self.t.requests += steps;
        self.t.answered += steps;
        self.t.datagrams += steps;
    }
}
