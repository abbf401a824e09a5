//! vhost-user ports: dpswitch serves a vhost-user socket (DPDK `net_vhost`, server mode) and
//! a virtual machine's stand-in, `dpdk-testpmd` with `net_virtio_user` on that socket,
//! exchanges frames with a TAP port in a namespace through the standalone bridge. Frames
//! cross both ways, and a guest that goes away and comes back (a new testpmd on the same
//! socket) is served again.
//!
//! testpmd's memory must be shareable with dpswitch in one piece: hugepages with
//! `--single-file-segments`. Without free hugepages the test says so and passes, unless
//! `DPSWITCH_REQUIRE_HUGEPAGES=1` (set by `tests/run.sh`, which reserves them).

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpswitch_e2e::{capture_lines, magic_frame, unique, Dpswitch, Netns, PacketSocket};

/// The guest's MAC (given to virtio-user, so frames can be told apart).
const GUEST: [u8; 6] = [0x02, 0xe2, 0xe3, 0, 0, 0x01];
const HOST: [u8; 6] = [0x02, 0xe2, 0xe3, 0, 0, 0x02];
/// Frames the host sends the guest per run.
const FRAMES: u64 = 50;

/// Whether the test can run: enough free hugepages for the guest, or (unless
/// `DPSWITCH_REQUIRE_HUGEPAGES=1` makes it a failure) a note that it did not.
fn hugepages_for_a_guest() -> bool {
    if free_2m_hugepages() >= 256 {
        return true;
    }
    assert!(
        std::env::var("DPSWITCH_REQUIRE_HUGEPAGES").as_deref() != Ok("1"),
        "fewer than 256 free 2 MiB hugepages; run ./hugepages.sh"
    );
    println!("not run: fewer than 256 free 2 MiB hugepages (./hugepages.sh reserves them)");
    false
}

fn free_2m_hugepages() -> u64 {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A running testpmd guest on the vhost-user socket.
struct Guest {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<String>>>,
}

impl Guest {
    /// Starts testpmd forwarding in `mode` (`rxonly` or `txonly`) on `sock` and waits until
    /// it runs; with `server` it listens on the socket (dpswitch then connects as client),
    /// as QEMU does for OVS's `dpdkvhostuserclient` ports.
    fn start(sock: &str, mode: &str, server: bool) -> Guest {
        let mac = GUEST.map(|b| format!("{b:02x}")).join(":");
        // Line-buffered, so its prompt reaches the pipe before it waits on stdin.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "dpdk-testpmd"])
            .args([
                "-l",
                "0,1",
                "--no-pci",
                "--no-telemetry",
                "--in-memory",
                "--single-file-segments",
                "-m",
                "256",
                "--file-prefix",
                &unique("guest"),
                "--vdev",
                &format!(
                    "net_virtio_user0,path={sock},queues=1,mac={mac},server={}",
                    u8::from(server)
                ),
                "--",
                &format!("--forward-mode={mode}"),
                "--auto-start",
                "--txpkts=64",
                "--total-num-mbufs=8192",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dpdk-testpmd (package dpdk-dev)");
        let out = capture_lines(&mut child);
        let stdin = child.stdin.take();
        let g = Guest { child, stdin, out };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !g.text().contains("Press enter to exit") {
            assert!(
                Instant::now() < deadline,
                "testpmd did not start:\n{}",
                g.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        g
    }

    fn text(&self) -> String {
        self.out.lock().expect("output").join("\n")
    }

    /// Stops forwarding (Enter, as testpmd asks) and returns the packets it received.
    fn stop(mut self) -> u64 {
        if let Some(mut i) = self.stdin.take() {
            let _ = i.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait().expect("testpmd").is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "testpmd did not stop:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The reader threads finish with the pipes.
        std::thread::sleep(Duration::from_millis(200));
        let text = self.text();
        let tail = text
            .split("Accumulated forward statistics for all ports")
            .nth(1)
            .unwrap_or_else(|| panic!("no statistics from testpmd:\n{text}"));
        tail.split("RX-packets:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no RX-packets in testpmd's statistics:\n{text}"))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the guest [`FRAMES`] frames from the host and returns what the guest counted.
fn host_to_guest(sock: &str, host: &PacketSocket, server: bool) -> u64 {
    let g = Guest::start(sock, "rxonly", server);
    // The guest's link comes up as the driver starts: give the first frames a moment.
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..FRAMES {
        host.send(&magic_frame(GUEST, HOST, &i.to_be_bytes()));
    }
    std::thread::sleep(Duration::from_millis(500));
    g.stop()
}

/// A dpswitch whose port `vh0` is a vhost-user socket (`net_vhost` with `vhost_args` after
/// the socket path) and whose other port is a TAP in a quiet namespace, the host.
struct Switch {
    sw: Dpswitch,
    dp: String,
    sock: String,
    dir: std::path::PathBuf,
    host: PacketSocket,
    _ns: Netns,
}

impl Switch {
    fn start(name: &str, vhost_args: &str) -> Switch {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).expect("socket directory");
        let sock = dir.join("vh0.sock").to_string_lossy().into_owned();
        let dp = unique("dpv");
        let tap = unique("pv");
        let sw = Dpswitch::start(&[
            "--dp",
            &dp,
            "--no-flood",
            &dp,
            "--port",
            &format!("vh0=net_vhost_{tap},iface={sock},{vhost_args}"),
            "--port",
            &format!("{tap}=net_tap_{tap},iface={tap}"),
        ]);
        // The datapath's local port stays quiet too (no IPv6 solicitations into the bridge).
        dpswitch_e2e::sh(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
        ]);
        let ns = Netns::new();
        ns.take_quiet(&tap);
        let host = PacketSocket::open(&ns, &tap);
        Switch {
            sw,
            dp,
            sock,
            dir,
            host,
            _ns: ns,
        }
    }

    /// Stops dpswitch, which must exit cleanly, and removes the socket's directory.
    fn stop(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let (status, log) = self.sw.stop_with_log();
        assert!(status.success(), "dpswitch exited with {status}\n{log}");
    }
}

#[test]
fn vhost_user_carries_frames_both_ways_and_serves_a_guest_that_comes_back() {
    if !hugepages_for_a_guest() {
        return;
    }
    let s = Switch::start("vhost", "queues=1");
    let (sock, host) = (&s.sock, &s.host);

    // Host to guest, then again with a new guest on the same socket.
    let first = host_to_guest(sock, host, false);
    assert!(
        (FRAMES..FRAMES + 10).contains(&first),
        "first guest got {first}"
    );
    let second = host_to_guest(sock, host, false);
    assert!(
        (FRAMES..FRAMES + 10).contains(&second),
        "second guest got {second}"
    );

    // Guest to host: testpmd sends as fast as it can; the host sees its frames.
    let g = Guest::start(sock, "txonly", false);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = 0;
    while Instant::now() < deadline {
        if host
            .recv_frame(Duration::from_millis(100), |f| f[6..12] == GUEST)
            .is_some()
        {
            seen += 1;
        }
    }
    drop(g);
    assert!(seen >= 10, "the host saw {seen} of the guest's frames");
    println!("guests received {first} and {second} of {FRAMES}; the host saw {seen} frames");

    let show = s.sw.dpctl(&["show", "-s", &s.dp]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout.contains("vh0 (dpdk: devargs=net_vhost_"),
        "{}",
        show.stdout
    );
    s.stop();
}

/// Client mode (`client=1`): the guest owns the socket and dpswitch connects to it, and
/// reconnects when a new guest listens there after the first went away.
#[test]
fn a_vhost_user_client_port_reconnects_to_a_restarted_guest() {
    if !hugepages_for_a_guest() {
        return;
    }
    let s = Switch::start("vhostc", "queues=1,client=1");
    let first = host_to_guest(&s.sock, &s.host, true);
    let second = host_to_guest(&s.sock, &s.host, true);
    println!("client mode: guests received {first} and {second} of {FRAMES}");
    assert!(
        (FRAMES..FRAMES + 10).contains(&first),
        "first guest got {first}"
    );
    assert!(
        (FRAMES..FRAMES + 10).contains(&second),
        "second guest got {second}"
    );
    s.stop();
}
