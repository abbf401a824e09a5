//! The stock `ovs-dpctl`, run against dpswitch for interoperability checks.

use std::path::PathBuf;
use std::process::Command;

use crate::dpctl::{run_ctl, CtlRun};

/// Where `dpdk-sys/install-deps.sh --tests` leaves the stock ovs-dpctl when it is not
/// installed system-wide (unpacked from Debian's openvswitch-switch, never installed).
pub const OVS_DPCTL_CACHE: &str = "/var/cache/dpswitch-tests/ovs/usr/bin/ovs-dpctl";

/// The stock ovs-dpctl binary: `/usr/bin/ovs-dpctl`, else [`OVS_DPCTL_CACHE`].
///
/// # Panics
/// If neither exists (the tests that need it fail rather than skip).
pub fn ovs_dpctl_path() -> PathBuf {
    ["/usr/bin/ovs-dpctl", OVS_DPCTL_CACHE]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the stock ovs-dpctl is missing (neither /usr/bin/ovs-dpctl nor \
                 {OVS_DPCTL_CACHE}); run `dpdk-sys/install-deps.sh --tests`"
            )
        })
}

/// Runs the stock `ovs-dpctl ARGS` against the dpswitch at netlink port `pid` (through the
/// preload library, [`crate::ovs::preload_library`]) with `stdin` as its input.
///
/// # Panics
/// If ovs-dpctl is missing or cannot be spawned.
pub fn ovs_dpctl_at(pid: u32, args: &[&str], stdin: &str) -> CtlRun {
    let mut cmd = Command::new(ovs_dpctl_path());
    cmd.args(args)
        .env("LD_PRELOAD", crate::ovs::preload_library())
        .env("DPSWITCH_NETLINK_PID", pid.to_string());
    run_ctl(cmd, stdin)
}

/// Splits ovs-dpctl's stderr into its vlog lines (`TIMESTAMP|SEQ|module|LEVEL|text`, returned
/// as `module|LEVEL|text`) and everything else.
pub fn split_vlog(stderr: &str) -> (Vec<String>, String) {
    let mut log = Vec::new();
    let mut rest = String::new();
    for l in stderr.lines() {
        let f: Vec<&str> = l.splitn(3, '|').collect();
        let is_vlog = f.len() == 3
            && f[0].len() == 20
            && f[0].ends_with('Z')
            && f[1].len() == 5
            && f[1].bytes().all(|b| b.is_ascii_digit());
        if is_vlog {
            log.push(f[2].to_string());
        } else {
            rest.push_str(l);
            rest.push('\n');
        }
    }
    (log, rest)
}
