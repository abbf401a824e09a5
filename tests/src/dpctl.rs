//! Runs of `dpctl` against a daemon, and what they printed.

use std::process::{Command, Stdio};

use crate::dpswitch::Dpswitch;
use crate::exec::bin;

/// What one `dpctl` run printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlRun {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `dpctl --netlink-pid PID ARGS` with `stdin` as its input.
///
/// # Panics
/// If dpctl cannot be spawned.
pub fn dpctl_at(pid: u32, args: &[&str], stdin: &str) -> CtlRun {
    let mut cmd = Command::new(bin("dpctl"));
    cmd.arg(format!("--netlink-pid={pid}"))
        .args(args)
        .env_remove("DPSWITCH_NETLINK_PID");
    run_ctl(cmd, stdin)
}

/// Runs a control client with `stdin` as its input and collects what it printed.
///
/// # Panics
/// If it cannot be spawned.
pub(crate) fn run_ctl(mut cmd: Command, stdin: &str) -> CtlRun {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .expect("wait for the control client");
    CtlRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Dpswitch {
    /// Runs `dpctl ARGS` against this daemon.
    pub fn dpctl(&self, args: &[&str]) -> CtlRun {
        dpctl_at(self.netlink_pid, args, "")
    }

    /// Runs `dpctl ARGS` against this daemon and returns its output, which must come with
    /// exit code 0 and nothing on stderr.
    ///
    /// # Panics
    /// If dpctl fails or complains.
    #[track_caller]
    pub fn dpctl_ok(&self, args: &[&str]) -> String {
        let r = self.dpctl(args);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (0, ""),
            "dpctl {args:?}: {r:#?}"
        );
        r.stdout
    }

    /// Runs `dpctl ARGS` against this daemon, feeding `stdin`.
    pub fn dpctl_stdin(&self, args: &[&str], stdin: &str) -> CtlRun {
        dpctl_at(self.netlink_pid, args, stdin)
    }
}
