//! `nlhostile` at a CI-friendly size against a forwarding dpswitch: 20,000 hostile requests
//! (valid requests of every family, mutations, length lies, deep nests, client-sent control
//! messages, several messages per datagram) on three sockets, and a 10,000-flow dump on four
//! sockets at once with two of them abandoned, while a net_pcap source floods a net_null
//! sink. Every request the kernel would answer is answered, the daemon stays alive with a
//! bounded VmRSS, and forwarding carries on throughout.

use std::time::Instant;

use dpswitch_e2e::{nlhostile, result_fields, unique, write_pcap, Dpswitch, TempFile};

#[test]
fn twenty_thousand_hostile_requests_under_traffic() {
    let dp = unique("dph");
    let (src, snk) = (unique("hs"), unique("hn"));
    // 64 flows of plain Ethernet frames, replayed without end.
    let frames: Vec<Vec<u8>> = (0..64u8)
        .map(|i| dpswitch_e2e::magic_frame([2, 0xaa, 0, 0, 0, i], [2, 0xbb, 0, 0, 0, i], b"h"))
        .collect();
    let pcap = TempFile::new(".pcap");
    write_pcap(&pcap.path, &frames);
    let ps = format!(
        "{src}=net_pcap_{src},rx_pcap={},infinite_rx=1",
        pcap.path.display()
    );
    let pn = format!("{snk}=net_null_{snk},no-rx=1");
    let mut sw = Dpswitch::start(&["--dp", &dp, "--port", &ps, "--port", &pn]);
    let before = (sw.vport_stats(&dp, &src), sw.vport_stats(&dp, &snk));

    let t = Instant::now();
    let (code, out) = nlhostile(
        sw.netlink_pid,
        sw.pid(),
        &[
            "--requests",
            "20000",
            "--sockets",
            "3",
            "--seed",
            &std::process::id().to_string(),
            "--dump-flows",
            "10000",
            "--liveness-every",
            "500",
            "--rss-growth-mib",
            "64",
            // Deleting the dump's datapath deletes its flows one PMD command at a time while
            // the control thread waits: ~1 s for 10k flows in a debug build on a busy box.
            "--liveness-timeout-ms",
            "2000",
        ],
    );
    eprintln!("{out}\n(nlhostile took {:?})", t.elapsed());
    let r = result_fields(&out);
    assert_eq!(code, 0, "nlhostile failed:\n{out}\n{}", sw.log_text());
    assert_eq!(r["unanswered"], "0", "{out}");
    assert_eq!(r["liveness_failed"], "0", "{out}");
    assert_eq!(r["alive"], "true", "{out}");
    assert_eq!(r["dumps_ok"], "true", "{out}");
    let requests: u64 = r["requests"].parse().expect("requests");
    assert!(requests >= 20_000, "{out}");
    let answered: u64 = r["answered"].parse().expect("answered");
    assert!(
        answered > requests / 2,
        "most requests want an answer: {out}"
    );
    let kib = |k: &str| -> u64 { r[k].parse().expect("VmRSS figure") };
    let (start, pre, after, end) = (
        kib("rss_start_kib"),
        kib("rss_pre_dump_kib"),
        kib("rss_after_dumps_kib"),
        kib("rss_end_kib"),
    );
    // Bounded before the dump phase by the mix alone, and after it by what the dumps left.
    assert!(
        pre <= start + 64 * 1024,
        "VmRSS {start} -> {pre} KiB before the dumps"
    );
    assert!(
        end <= after.max(start) + 64 * 1024,
        "VmRSS {after} -> {end} KiB after the dumps"
    );

    assert!(sw.is_running(), "dpswitch died:\n{}", sw.log_text());
    let after = (sw.vport_stats(&dp, &src), sw.vport_stats(&dp, &snk));
    assert!(
        after.0.rx_packets > before.0.rx_packets && after.1.tx_packets > before.1.tx_packets,
        "forwarding stopped: {before:?} -> {after:?}"
    );
    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "dpswitch exited with {status}:\n{log}");
}
