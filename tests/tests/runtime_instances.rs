//! A second dpswitch on resources a running one holds (its EAL file prefix, its netlink port
//! id) refuses to start with a one-line message naming them, and leaves the first instance
//! serving. The prefix lock dies with its holder: a restart after SIGKILL comes up.

use std::time::Duration;

use dpswitch_e2e::{dpswitch_until_exit, fresh_netlink_pid, unique, Dpswitch};

/// The first instance still answers its control plane and is still running.
fn assert_unharmed(sw: &mut Dpswitch, dp: &str) {
    assert!(sw.is_running(), "first instance died:\n{}", sw.log_text());
    let show = sw.dpctl(&["show", dp]);
    assert_eq!(show.code, 0, "{show:#?}");
    assert!(
        show.stdout.starts_with(&format!("system@{dp}:\n")),
        "{show:#?}"
    );
}

/// The one `dpswitch: ...` error line of a refused start.
fn error_line(out: &str) -> &str {
    let errors: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("dpswitch: "))
        .collect();
    assert_eq!(errors.len(), 1, "want one error line:\n{out}");
    errors[0]
}

#[test]
fn a_second_instance_on_the_same_file_prefix_is_refused() {
    let dp = unique("dpi");
    let prefix = unique("pfx");
    let mut first = Dpswitch::start_at(
        &prefix,
        fresh_netlink_pid(),
        &["--dp", &dp, "--port", "p0=net_null0,no-rx=1"],
    );
    // The same prefix (under --in-memory, where EAL itself detects nothing), another
    // datapath name and netlink port id.
    let (code, out) = dpswitch_until_exit(
        &prefix,
        fresh_netlink_pid(),
        &["--dp", &unique("dpj"), "--port", "p0=net_null0,no-rx=1"],
        Duration::from_secs(20),
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        error_line(&out),
        format!(
            "dpswitch: --file-prefix {prefix} is in use by another dpswitch (pid {}); pick another --file-prefix",
            first.pid()
        )
    );
    assert!(
        !out.contains("EAL initialised"),
        "refused before EAL: {out}"
    );
    assert_unharmed(&mut first, &dp);

    // SIGKILL runs none of dpswitch's cleanup: the kernel still drops the lock, so the same
    // prefix starts again.
    first.kill();
    let mut again = Dpswitch::start_at(
        &prefix,
        fresh_netlink_pid(),
        &["--dp", &dp, "--port", "p0=net_null0,no-rx=1"],
    );
    assert_unharmed(&mut again, &dp);
    let status = again.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn a_second_instance_on_the_same_netlink_port_id_is_refused() {
    let dp = unique("dpn");
    let pid = fresh_netlink_pid();
    let mut first = Dpswitch::start_at(
        &unique("pfx"),
        pid,
        &["--dp", &dp, "--port", "p0=net_null0,no-rx=1"],
    );
    let (code, out) = dpswitch_until_exit(
        &unique("pfx"),
        pid,
        &["--dp", &unique("dpm"), "--port", "p0=net_null0,no-rx=1"],
        Duration::from_secs(20),
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        error_line(&out),
        format!(
            "dpswitch: netlink port id {pid} is taken: is another dpswitch running? (pick another with --netlink-pid)"
        )
    );
    assert_unharmed(&mut first, &dp);
    let status = first.stop();
    assert!(status.success(), "{status}");
}
