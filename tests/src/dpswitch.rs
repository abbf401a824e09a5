//! The process harness: a running `dpswitch` ([`Dpswitch`]), started with its own EAL file
//! prefix and netlink port id and stopped when dropped, and one that must exit by itself.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::exec::{bin, capture_lines};
use crate::names::{fresh_netlink_pid, unique};

/// The `dpswitch` command the harness runs: EAL on cores 0-1 in memory with `file_prefix`,
/// the control plane at `netlink_pid`, no metrics endpoint, a status line every second,
/// then `args`.
pub fn dpswitch_command(file_prefix: &str, netlink_pid: u32, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("dpswitch"));
    cmd.args([
        "-l",
        "0-1",
        "--in-memory",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        file_prefix,
    ])
    .args([
        "--netlink-pid",
        &netlink_pid.to_string(),
        "--metrics",
        "off",
        "--status-interval",
        "1",
    ])
    .args(args)
    .env("RUST_LOG", "info");
    cmd
}

/// Runs a dpswitch that is expected to exit by itself (a refused start): its exit code
/// (-1 for a signal) and everything it printed.
///
/// # Panics
/// If it is still running after `timeout` (it is killed first).
pub fn dpswitch_until_exit(
    file_prefix: &str,
    netlink_pid: u32,
    args: &[&str],
    timeout: Duration,
) -> (i32, String) {
    let mut child = dpswitch_command(file_prefix, netlink_pid, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dpswitch");
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("wait for dpswitch").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap dpswitch");
            panic!(
                "dpswitch did not exit within {timeout:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("reap dpswitch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The lines of dpswitch's long-round log (`--log info,dpswitch::long_rounds=debug`) in
/// `log`.
pub fn long_round_lines(log: &str) -> impl Iterator<Item = &str> {
    log.lines()
        .filter(|l| l.contains("dpswitch::long_rounds") && l.contains("long poll round"))
}

/// A running `dpswitch` process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Dpswitch {
    child: Child,
    /// The netlink port id it serves.
    pub netlink_pid: u32,
    /// Its EAL file prefix.
    pub file_prefix: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Dpswitch {
    /// Starts dpswitch with its own file prefix, netlink port id and no metrics endpoint,
    /// plus `args`, and waits until it forwards.
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start(args: &[&str]) -> Dpswitch {
        Dpswitch::start_at(&unique("e2e"), fresh_netlink_pid(), args)
    }

    /// Like [`Dpswitch::start`] with a given EAL file prefix and netlink port id.
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start_at(file_prefix: &str, netlink_pid: u32, args: &[&str]) -> Dpswitch {
        let cmd = dpswitch_command(file_prefix, netlink_pid, args);
        Dpswitch::start_command(cmd, file_prefix, netlink_pid)
    }

    /// Starts dpswitch from a complete command line (e.g. without `--in-memory`, which
    /// [`dpswitch_command`] always passes) and waits until it forwards; stopped on drop like
    /// one from [`Dpswitch::start`].
    ///
    /// # Panics
    /// If it does not come up within 20 s (its log is printed).
    pub fn start_command(cmd: Command, file_prefix: &str, netlink_pid: u32) -> Dpswitch {
        Dpswitch::start_command_until(cmd, file_prefix, netlink_pid, "forwarding")
    }

    /// Like [`Dpswitch::start_command`], but waits for a log line containing `ready` (a
    /// dpswitch with no datapath never logs "forwarding").
    ///
    /// # Panics
    /// If no such line comes within 20 s (its log is printed).
    pub fn start_command_until(
        mut cmd: Command,
        file_prefix: &str,
        netlink_pid: u32,
        ready: &str,
    ) -> Dpswitch {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dpswitch");
        let log = capture_lines(&mut child);
        let sw = Dpswitch {
            child,
            netlink_pid,
            file_prefix: file_prefix.to_string(),
            log,
        };
        if !sw.wait_for_log(ready, Duration::from_secs(20)) {
            panic!("dpswitch did not start:\n{}", sw.log_text());
        }
        sw
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills it with SIGKILL (no cleanup of its own runs) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it with SIGTERM and returns its exit status (SIGKILL after 10 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// Stops the daemon like [`Dpswitch::stop`] and also returns its whole log (including
    /// the shutdown), for failure messages.
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String) {
        let st = self.terminate();
        // The reader threads finish once the pipes close.
        std::thread::sleep(Duration::from_millis(100));
        (st, self.log_text())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().expect("reap dpswitch")
    }
}

impl Drop for Dpswitch {
    fn drop(&mut self) {
        self.terminate();
    }
}
