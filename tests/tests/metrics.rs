//! The Prometheus endpoint and the PMD statistics over netlink, end to end: a real dpswitch
//! with two TAP ports (each in its own namespace, IPv6 off, static neighbours, so the only
//! frames are the ones the test sends), real HTTP scrapes, `promtool check metrics`, and
//! `dpctl show -s` / `pmd-stats-show` / `pmd-stats-clear` / `pmd-rxq-show`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use dpswitch_e2e::prom::{free_port, get, samples, scrape};
use dpswitch_e2e::{long_round_lines, sh, unique, Dpswitch, Netns};

/// Echo requests sent; each crosses the switch, and so does its reply.
const PINGS: u64 = 5;

/// One test at a time: every daemon runs its PMD on core 1, and two PMDs sharing it would
/// time each other's poll rounds and commands.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn promtool_check(body: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian package prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- scrape ---\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number after `field:` in the line of `text` that contains `line_has`, after `after`.
fn field(text: &str, after: &str, line_has: &str, field: &str) -> u64 {
    let rest = &text[text
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {text}"))..];
    let line = rest
        .lines()
        .find(|l| l.contains(line_has))
        .unwrap_or_else(|| panic!("{line_has} in {rest}"));
    let v = &line[line.find(&format!("{field}:")).expect(field) + field.len() + 1..];
    v.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {line}"))
}

struct Setup {
    sw: Dpswitch,
    metrics: SocketAddr,
    dp: String,
    ports: [String; 2],
    ns: [Netns; 2],
}

fn setup() -> Setup {
    let (a, b) = (unique("ma"), unique("mb"));
    let dp = unique("dp");
    let metrics = free_port();
    let pa = format!("{a}=net_tap_{a},iface={a}");
    let pb = format!("{b}=net_tap_{b},iface={b}");
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &pa,
        "--port",
        &pb,
        "--metrics",
        &metrics.to_string(),
    ]);
    // The datapath's local port stays in the root namespace: silence its IPv6 there, or its
    // neighbour discovery is flooded to both taps.
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let ns = [Netns::new(), Netns::new()];
    for (n, (tap, ip)) in ns
        .iter()
        .zip([(&a, "10.214.0.1/24"), (&b, "10.214.0.2/24")])
    {
        sh(&["ip", "link", "set", tap, "netns", &n.name]);
        // No IPv6: no router/neighbour solicitations or MLD reports to disturb the counts.
        for k in ["all", "default", tap.as_str()] {
            n.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{k}.disable_ipv6=1"),
            ]);
        }
        n.exec(&["ip", "addr", "add", ip, "dev", tap]);
        n.exec(&["ip", "link", "set", tap, "up"]);
    }
    // Static neighbours: no ARP either.
    let mac = |n: &Netns, tap: &str| n.exec(&["cat", &format!("/sys/class/net/{tap}/address")]);
    let (ma, mb) = (mac(&ns[0], &a), mac(&ns[1], &b));
    ns[0].exec(&[
        "ip",
        "neigh",
        "replace",
        "10.214.0.2",
        "lladdr",
        mb.trim(),
        "dev",
        &a,
    ]);
    ns[1].exec(&[
        "ip",
        "neigh",
        "replace",
        "10.214.0.1",
        "lladdr",
        ma.trim(),
        "dev",
        &b,
    ]);
    // Let whatever the taps sent while still in the root namespace drain.
    std::thread::sleep(Duration::from_millis(500));
    Setup {
        sw,
        metrics,
        dp,
        ports: [a, b],
        ns,
    }
}

/// A counted ping from the first namespace to the second.
fn ping(s: &Setup) {
    let (ok, out) = s.ns[0].try_exec(&[
        "ping",
        "-c",
        &PINGS.to_string(),
        "-i",
        "0.2",
        "-W",
        "2",
        "10.214.0.2",
    ]);
    assert!(
        ok && out.contains(&format!("{PINGS} received")),
        "ping failed:\n{out}\n--- dpswitch log ---\n{}",
        s.sw.log_text()
    );
    // PMD counters are published every few polls: give them a moment.
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn scrape_counts_exactly_the_frames_sent_and_agrees_with_dpctl() {
    let _serial = serial();
    let s = setup();
    let dp = s.dp.as_str();
    let port =
        |p: &str, what: &str| format!("dpswitch_port_{what}_total{{dp=\"{dp}\",port=\"{p}\"}}");
    let before = samples(&scrape(s.metrics));
    ping(&s);
    let body = scrape(s.metrics);
    let shown = s.sw.dpctl(&["show", "-s"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let show = shown.stdout;
    promtool_check(&body);
    let after = samples(&body);
    let delta = |k: &str| get(&after, k) - get(&before, k);

    // Requests enter at the first port and leave at the second; replies the other way.
    let [a, b] = &s.ports;
    for p in [a, b] {
        assert_eq!(delta(&port(p, "rx_packets")), PINGS, "{p} rx\n{body}");
        assert_eq!(delta(&port(p, "tx_packets")), PINGS, "{p} tx\n{body}");
        // 98-byte ICMP echo frames (14 + 20 + 8 + 56).
        assert_eq!(delta(&port(p, "rx_bytes")), 98 * PINGS, "{p} rx bytes");
        assert_eq!(delta(&port(p, "tx_bytes")), 98 * PINGS, "{p} tx bytes");
        // The scrape and `dpctl show -s` report the same counters.
        let after_port = format!("port {}: {p}", port_no(&show, p));
        for (dir, what) in [("RX packets", "rx_packets"), ("TX packets", "tx_packets")] {
            assert_eq!(
                field(&show, &after_port, dir, "packets"),
                get(&after, &port(p, what)),
                "{p} {dir}:\n{show}\n{body}"
            );
        }
    }
    let lookups = |r: &str| format!("dpswitch_dp_lookups_total{{dp=\"{dp}\",result=\"{r}\"}}");
    // Every frame was looked up once: a hit or a miss, none lost.
    assert_eq!(
        delta(&lookups("hit")) + delta(&lookups("missed")),
        2 * PINGS,
        "{body}"
    );
    assert_eq!(delta(&lookups("lost")), 0);
    assert!(delta(&lookups("missed")) >= 1, "the first frame misses");
    for (r, f) in [("hit", "hit"), ("missed", "missed"), ("lost", "lost")] {
        assert_eq!(
            field(&show, "lookups:", "lookups:", f),
            get(&after, &lookups(r)),
            "{show}\n{body}"
        );
    }
    let flows = get(&after, &format!("dpswitch_dp_flows{{dp=\"{dp}\"}}"));
    assert!(flows >= 1, "{body}");
    assert_eq!(field(&show, "flows:", "flows:", "flows"), flows, "{show}");

    // The PMD view over the private netlink family agrees with the scrape.
    let stats = s.sw.dpctl(&["pmd-stats-show"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let out = &stats.stdout;
    assert!(out.starts_with("pmd thread numa_id "), "{out}");
    let core = out
        .lines()
        .next()
        .and_then(|l| l.split("core_id ").nth(1))
        .map(|c| c.trim_end_matches(':').to_string())
        .expect("core id");
    let pmd = |m: &str| get(&after, &format!("dpswitch_pmd_{m}_total{{pmd=\"{core}\"}}"));
    // The PMD has been polling for seconds, so its longest round is measured and positive;
    // on an otherwise idle PMD it stays far below a second.
    let gap = after[&format!("dpswitch_pmd_max_poll_gap_seconds{{pmd=\"{core}\"}}")];
    assert!(gap > 0.0 && gap < 1.0, "max poll gap {gap} s");
    let line = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    assert_eq!(line("packets received"), pmd("packets"), "{out}\n{body}");
    assert!(line("packets received") >= 2 * PINGS, "{out}");
    assert_eq!(line("emc hits"), pmd("emc_hits"), "{out}");
    assert_eq!(line("megaflow hits"), pmd("megaflow_hits"), "{out}");
    assert_eq!(line("miss with success upcall"), pmd("upcalls"), "{out}");
    assert_eq!(line("miss with failed upcall"), 0, "{out}");
    // One ping at a time: every output batch holds the one frame.
    assert!(
        out.contains("  avg. packets per output batch: 1.00\n"),
        "{out}"
    );
    assert!(out.contains("  processing cycles: "), "{out}");
    assert!(
        out.contains("  avg processing cycles per packet: "),
        "{out}"
    );
    let one = s.sw.dpctl(&["pmd-stats-show", "-pmd", &core]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout.starts_with("pmd thread numa_id "),
        "{}",
        one.stdout
    );
    let none = s.sw.dpctl(&["pmd-stats-show", "-pmd", "999"]);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));

    // Clearing takes a baseline: the counts restart from zero and count new frames only.
    let clear = s.sw.dpctl(&["pmd-stats-clear"]);
    assert_eq!(clear.code, 0, "{}", clear.stderr);
    let cleared = s.sw.dpctl(&["pmd-stats-show"]).stdout;
    assert!(cleared.contains("  packets received: 0\n"), "{cleared}");
    ping(&s);
    let again = s.sw.dpctl(&["pmd-stats-show"]).stdout;
    assert!(
        again.contains(&format!("  packets received: {}\n", 2 * PINGS)),
        "{again}"
    );
    // ... while the Prometheus counters never go back.
    let later = samples(&scrape(s.metrics));
    assert_eq!(
        get(&later, &port(a, "rx_packets")) - get(&before, &port(a, "rx_packets")),
        2 * PINGS
    );

    // Each port's single rx queue is polled by the one PMD.
    let rxq = s.sw.dpctl(&["pmd-rxq-show"]);
    assert_eq!(rxq.code, 0, "{}", rxq.stderr);
    for p in [a, b] {
        assert!(
            rxq.stdout
                .contains(&format!("  port: {p:<16}  queue-id:  0 (enabled)")),
            "{}",
            rxq.stdout
        );
    }
    let (status, log) = s.sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}\n{log}");
}

/// The port number `dpctl show` prints for `name`.
fn port_no(show: &str, name: &str) -> u32 {
    show.lines()
        .find_map(|l| {
            let l = l.trim().strip_prefix("port ")?;
            let (no, rest) = l.split_once(": ")?;
            (rest.split(' ').next() == Some(name)).then(|| no.parse().ok())?
        })
        .unwrap_or_else(|| panic!("port {name} in {show}"))
}

/// Adding a datapath costs a PMD nothing it would notice: the control thread builds the new
/// datapath's fast path (its EMC alone is about 1 MB to zero; a PMD that built it spent
/// 0.4-1.5 ms in that one command, optimised), and the PMD only takes it over. So no
/// command a PMD applies during `add-dp` takes a millisecond, even unoptimised. The
/// CPU-time view of the PMD's rounds is served too.
#[test]
fn adding_a_datapath_applies_no_long_pmd_command() {
    let _serial = serial();
    let port = free_port();
    let dp = unique("dpa");
    let sink = format!("{dp}n=net_null_{dp}n,no-rx=1");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &sink, "--metrics", &port.to_string()]);
    let longest = |name: &str| -> f64 {
        samples(&scrape(port))
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("dpswitch_pmd_{name}{{")))
            .map(|(_, v)| *v)
            .fold(f64::NAN, f64::max)
    };
    for i in 0..3 {
        let other = format!("{dp}{i}");
        assert_eq!(sw.dpctl(&["pmd-stats-clear"]).code, 0);
        let add = sw.dpctl(&["add-dp", &other]);
        assert_eq!(add.code, 0, "{add:#?}");
        // The PMD applies the commands within a poll round; metrics are published every
        // few thousand rounds.
        std::thread::sleep(Duration::from_millis(200));
        let command = longest("max_command_seconds");
        assert!(
            command > 0.0 && command < 1e-3,
            "add-dp {i}: a PMD command took {command} s"
        );
        let cpu = longest("max_poll_round_cpu_seconds");
        eprintln!(
            "add-dp {i}: longest PMD command {:.1} us, longest round {:.1} us of CPU time",
            command * 1e6,
            cpu * 1e6
        );
        assert!(cpu > 0.0 && cpu < 1.0, "round CPU time {cpu} s");
        let del = sw.dpctl(&["del-dp", &other]);
        assert_eq!(del.code, 0, "{del:#?}");
    }
    assert!(sw.stop().success());
}

/// A logged long poll round: (length, CPU time), ns.
fn logged_long_rounds(log: &str) -> Vec<(u64, u64)> {
    let field = |line: &str, name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    long_round_lines(log)
        .map(|l| {
            assert!(field(l, "end_mono_ns") > 0, "{l}");
            (field(l, "wall_ns"), field(l, "cpu_ns"))
        })
        .collect()
}

/// Every poll round over 1 ms is logged (`dpswitch::long_rounds` at debug level) with its
/// end, its length and the PMD's CPU time over it, and the log agrees with the counters:
/// rounds logged + left unlogged = rounds over 1 ms. A busy process sharing the PMD's core
/// makes such rounds: the kernel gives it the core for a millisecond or more at a time,
/// which the PMD is not charged for, so those rounds log much less CPU time than length.
#[test]
fn long_poll_rounds_are_logged_with_their_cpu_time() {
    let _serial = serial();
    let port = free_port();
    let dp = unique("dpl");
    let sink = format!("{dp}n=net_null_{dp}n,no-rx=1");
    let sw = Dpswitch::start(&[
        "--dp",
        &dp,
        "--port",
        &sink,
        "--metrics",
        &port.to_string(),
        "--log",
        "info,dpswitch::long_rounds=debug",
    ]);
    let hog = Command::new("taskset")
        .args([
            "-c",
            "1",
            "timeout",
            "0.5",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .status()
        .expect("run a busy loop on core 1");
    // timeout's status when it had to stop the loop.
    assert_eq!(hog.code(), Some(124));
    // The counters are published every few thousand rounds, the log within a millisecond:
    // compare once both have settled (a round the host makes long meanwhile moves both).
    let mut last = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let before = logged_long_rounds(&sw.log_text()).len() as u64;
        let s = samples(&scrape(port));
        let counted: u64 = ["no", "yes"]
            .iter()
            .map(|c| {
                get(
                    &s,
                    &format!(
                        "dpswitch_pmd_long_poll_rounds_total{{commands=\"{c}\",over=\"1ms\",pmd=\"1\"}}"
                    ),
                )
            })
            .sum();
        let unlogged = get(
            &s,
            "dpswitch_pmd_long_poll_rounds_unlogged_total{pmd=\"1\"}",
        );
        let after = logged_long_rounds(&sw.log_text()).len() as u64;
        last = format!("logged {before}..{after}, unlogged {unlogged}, counted {counted}");
        if before == after && before + unlogged == counted {
            break;
        }
        last.push_str(" (not settled)");
    }
    assert!(!last.ends_with("(not settled)"), "{last}");
    let rounds = logged_long_rounds(&sw.log_text());
    eprintln!(
        "{last}; rounds (wall us, cpu us): {:?}",
        rounds
            .iter()
            .map(|(w, c)| (w / 1000, c / 1000))
            .collect::<Vec<_>>()
    );
    assert!(
        rounds.iter().all(|&(wall, _)| wall > 1_000_000),
        "{rounds:?}"
    );
    assert!(
        rounds.iter().any(|&(wall, cpu)| cpu < wall / 2),
        "no round the busy loop took the core from: {rounds:?}"
    );
    assert!(sw.stop().success());
}
