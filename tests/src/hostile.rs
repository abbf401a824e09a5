//! Runs of `nlhostile` against a daemon, and its `RESULT` line.

use std::process::Command;

use crate::exec::bin;

/// Runs `tests`' `nlhostile` against the daemon at `netlink_pid` (pid `daemon`) with `args`
/// after those two: its exit code and its summary (stdout and stderr).
pub fn nlhostile(netlink_pid: u32, daemon: u32, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("nlhostile"))
        .args(["--netlink-pid", &netlink_pid.to_string()])
        .args(["--daemon-pid", &daemon.to_string()])
        .args(args)
        .output()
        .expect("run nlhostile");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The `key=value` fields of nlhostile's `RESULT` line.
pub fn result_fields(summary: &str) -> std::collections::HashMap<String, String> {
    summary
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
