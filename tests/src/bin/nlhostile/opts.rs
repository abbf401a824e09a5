//! The command line.

use std::time::Duration;

/// Command-line settings.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) netlink_pid: u32,
    pub(crate) requests: u64,
    pub(crate) sockets: usize,
    pub(crate) seed: u64,
    pub(crate) daemon_pid: Option<u32>,
    pub(crate) liveness_every: u64,
    pub(crate) dump_flows: u32,
    pub(crate) rss_growth_mib: u64,
    pub(crate) timeout: Duration,
    pub(crate) liveness_timeout: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: nlhostile --netlink-pid P [--requests N] [--sockets K] [--seed S] \
         [--daemon-pid D] [--liveness-every M] [--dump-flows F] [--rss-growth-mib G] \
         [--timeout-ms T] [--liveness-timeout-ms L]"
    );
    std::process::exit(2);
}

pub(crate) fn parse_opts() -> Opts {
    let mut o = Opts {
        netlink_pid: 0,
        requests: 100_000,
        sockets: 4,
        seed: 1,
        daemon_pid: None,
        liveness_every: 1000,
        dump_flows: 50_000,
        rss_growth_mib: 64,
        timeout: Duration::from_secs(10),
        liveness_timeout: Duration::from_secs(1),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--netlink-pid" => o.netlink_pid = val() as u32,
            "--requests" => o.requests = val(),
            "--sockets" => o.sockets = (val() as usize).max(1),
            "--seed" => o.seed = val(),
            "--daemon-pid" => o.daemon_pid = Some(val() as u32),
            "--liveness-every" => o.liveness_every = val().max(1),
            "--dump-flows" => o.dump_flows = val() as u32,
            "--rss-growth-mib" => o.rss_growth_mib = val(),
            "--timeout-ms" => o.timeout = Duration::from_millis(val()),
            "--liveness-timeout-ms" => o.liveness_timeout = Duration::from_millis(val()),
            _ => usage(),
        }
    }
    if o.netlink_pid == 0 {
        usage();
    }
    o
}
