//! What the integration tests share: the built library, dpswitch processes, programs run
//! under `LD_PRELOAD`, and test roles run in a child copy of the test executable.
#![allow(dead_code)] // Each test file uses a part.

pub mod ovs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use dpswitch_e2e::{bin, fresh_netlink_pid, unique, Dpswitch};

/// The file name of the library `cargo build` makes of the `preload` crate.
pub const LIBRARY: &str = "libdpswitch_preload.so";
/// Selects the role a child copy of a test executable plays (see [`run_role`]).
pub const ROLE_ENV: &str = "DPSWITCH_PRELOAD_TEST_ROLE";

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let cand = if p.is_dir() {
            newest(&p)
        } else {
            e.metadata().ok()?.modified().ok().map(|t| (t, p))
        };
        if let Some(c) = cand {
            if best.as_ref().is_none_or(|b| c.0 > b.0) {
                best = Some(c);
            }
        }
    }
    best
}

/// The library built next to the test executable (`target/<profile>/`). Cargo does not build
/// a cdylib for its integration tests, so `cargo build --workspace` (or `-p
/// dpswitch-preload`) must have, after the last change to its sources.
///
/// # Panics
/// When it is missing or older than a source file, saying what to run.
pub fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let lib = dir.join(LIBRARY);
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let how = if profile == "debug" {
        "cargo build -p dpswitch-preload".to_string()
    } else {
        format!("cargo build --profile {profile} -p dpswitch-preload")
    };
    let built = std::fs::metadata(&lib)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is not built: cargo does not build a cdylib for integration tests; run \
                 `{how}` (or `cargo build --workspace`) first",
                lib.display()
            )
        });
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let Some((t, p)) = newest(&src) {
        assert!(
            t <= built,
            "{} is older than {}: run `{how}` (or `cargo build --workspace`) first",
            lib.display(),
            p.display()
        );
    }
    lib
}

/// dpswitch busy-polls a core: tests that start one take turns.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A dpswitch with datapath `dp` and one DPDK port (`net_null`, no traffic), without
/// hugepages, at a fresh netlink port id.
pub fn start_dpswitch(dp: &str) -> Dpswitch {
    let prefix = unique("pl");
    let pid = fresh_netlink_pid();
    let mut cmd = Command::new(bin("dpswitch"));
    cmd.args(["-l", "0-1", "--no-huge", "--no-shconf", "-m", "512"])
        .args(["--no-pci", "--no-telemetry", "--file-prefix", &prefix])
        .args(["--netlink-pid", &pid.to_string(), "--metrics", "off"])
        .args(["--status-interval", "1", "--dp", dp])
        .args(["--port", "p0=net_null0,no-rx=1"])
        .env("RUST_LOG", "info");
    Dpswitch::start_command(cmd, &prefix, pid)
}

/// How a program run ended and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` to the end with `stdin` as its input.
pub fn run(mut cmd: Command, stdin: &str) -> Run {
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
    let out = child.wait_with_output().expect("wait for the child");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cmd` with the library preloaded and pointed at netlink port id `pid`.
pub fn preloaded(mut cmd: Command, pid: u32) -> Command {
    cmd.env("LD_PRELOAD", library())
        .env("DPSWITCH_NETLINK_PID", pid.to_string());
    cmd
}

/// The role this process plays, when it is a child started by [`run_role`].
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Runs the test executable again with the library preloaded, pointed at `pid`, to play
/// `role` in its test `entry` (which does nothing in a normal run), with `env` added. The
/// role fails by panicking.
pub fn run_role(entry: &str, role: &str, pid: u32, env: &[(&str, &str)]) -> Run {
    let exe = std::env::current_exe().expect("test executable path");
    let mut cmd = Command::new(exe);
    cmd.args([entry, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ROLE_ENV, role);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(preloaded(cmd, pid), "")
}

/// Panics with the child's output unless it succeeded.
pub fn assert_ok(what: &str, r: &Run) {
    assert_eq!(
        r.code, 0,
        "{what} failed:\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
}
