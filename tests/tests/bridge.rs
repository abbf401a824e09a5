//! The default standalone bridge, end to end: a real dpswitch with two TAP ports, each moved
//! into its own network namespace, forwards a ping between them.

use std::time::Duration;

use dpswitch_e2e::{unique, Dpswitch, Netns};

#[test]
fn ping_crosses_the_switch_between_two_namespaces() {
    let (a, b) = (unique("ta"), unique("tb"));
    let dp = unique("dp");
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    let (nsa, nsb) = (Netns::new(), Netns::new());
    nsa.adopt(&a, "10.213.0.1/24");
    nsb.adopt(&b, "10.213.0.2/24");
    let (ok, out) = nsa.try_exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.213.0.2"]);
    assert!(
        ok,
        "ping failed:\n{out}\n--- dpswitch log ---\n{}",
        sw.log_text()
    );
    assert!(out.contains("3 received"), "{out}");
    // The unicast replies were learned and installed as megaflows: later status lines show
    // flows and hits.
    assert!(sw.wait_for_log(" flows ", Duration::from_secs(3)));
    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}
