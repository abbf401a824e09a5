//! The stock Open vSwitch 3.1 daemons driving dpswitch as a `system` datapath: one [`Ovs`]
//! per test is a "chassis" network namespace holding a dpswitch, an ovsdb-server and an
//! ovs-vswitchd (netlink port ids, TAPs and AF_PACKET bindings are per namespace), with a
//! private directory every `OVS_*` variable points at. Workload namespaces ([`Host`]) attach
//! by veth pairs whose switch-side end is a `system` port.

mod host;
mod install;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::dpswitch::Dpswitch;
use crate::exec::bin;
use crate::names::{fresh_netlink_pid, unique};
use crate::netns::Netns;

pub use host::Host;
pub use install::{ovs_bin, ovs_pkgdatadir, ovs_root, preload_library};

/// vswitchd log lines at WARN or worse that come from running without the kernel module
/// itself rather than from anything dpswitch answers: (substring, why it is inherent).
/// Empty so far: the missing `/sys/module/openvswitch/version` and the missing `ovs_meter`
/// family are logged at INFO, and nothing else was seen.
const LOG_ALLOWLIST: &[(&str, &str)] = &[];

/// How long a daemon may take to come up or go away.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(30);

/// What a chassis starts with.
#[derive(Debug, Clone, Default)]
pub struct OvsOptions {
    /// `(NAME, DEVARGS)`: when vswitchd adds the `system` port NAME, dpswitch opens the DPDK
    /// device DEVARGS for it (`--port-map`, which needs dpswitch's managed mode).
    pub port_map: Vec<(String, String)>,
}

/// A finished OVS command.
#[derive(Debug, Clone)]
pub struct OvsRun {
    /// Exit status 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// One chassis: dpswitch, ovsdb-server and ovs-vswitchd (with the preload library) in their
/// own namespace and directory. Dropping it runs `ovs-appctl exit --cleanup`, stops the
/// processes it started by their pids, and removes the directory (kept after a failure or
/// with `DPSWITCH_E2E_KEEP` set, for its logs) and the namespace.
#[derive(Debug)]
pub struct Ovs {
    /// The chassis namespace.
    pub ns: Netns,
    /// OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR and OVS_SYSCONFDIR.
    pub dir: PathBuf,
    /// The netlink port id dpswitch serves and the preload library points at.
    pub netlink_pid: u32,
    file_prefix: String,
    options: OvsOptions,
    dpswitch: Option<Dpswitch>,
    /// Logs of dpswitch processes of this chassis that were stopped.
    dpswitch_history: String,
    ovsdb: Option<Child>,
    vswitchd: Option<Child>,
}

impl Ovs {
    /// Starts a chassis with the default options.
    ///
    /// # Panics
    /// If a daemon does not come up (its log is in the message).
    pub fn start() -> Ovs {
        Ovs::start_with(OvsOptions::default())
    }

    /// Starts dpswitch first (vswitchd looks the genl families up once, at its start), then
    /// ovsdb-server on a fresh database, then ovs-vswitchd.
    ///
    /// # Panics
    /// If a daemon does not come up, or `options` need a dpswitch feature this one lacks.
    pub fn start_with(options: OvsOptions) -> Ovs {
        let ns = Netns::new();
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        let dir = std::env::temp_dir().join(format!("dpsw-{}", unique("ovs")));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut ovs = Ovs {
            ns,
            dir,
            netlink_pid: fresh_netlink_pid(),
            file_prefix: unique("ovsdp"),
            options,
            dpswitch: None,
            dpswitch_history: String::new(),
            ovsdb: None,
            vswitchd: None,
        };
        ovs.start_dpswitch();
        ovs.start_ovsdb();
        ovs.start_vswitchd();
        ovs
    }

    /// The dpswitch command line, in the chassis namespace: managed mode (no datapath, no
    /// ports until vswitchd asks), with the test's `--port-map` names.
    fn dpswitch_command(&self) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name])
            .arg(bin("dpswitch"))
            // No hugepages: several chassis (and other test binaries' switches) must fit at
            // once whatever the machine has reserved.
            .args(["-l", "0-1", "--no-huge", "--no-shconf", "-m", "512"])
            .args([
                "--no-pci",
                "--no-telemetry",
                "--file-prefix",
                &self.file_prefix,
            ])
            .args(["--netlink-pid", &self.netlink_pid.to_string()])
            .args(["--metrics", "off", "--status-interval", "0", "--managed"])
            .env("RUST_LOG", "info");
        for (name, devargs) in &self.options.port_map {
            cmd.args(["--port-map", &format!("{name}={devargs}")]);
        }
        cmd
    }

    fn start_dpswitch(&mut self) {
        let cmd = self.dpswitch_command();
        self.dpswitch = Some(Dpswitch::start_command_until(
            cmd,
            &self.file_prefix,
            self.netlink_pid,
            "netlink control plane serving",
        ));
    }

    /// Stops dpswitch (SIGTERM) under vswitchd; its log stays in [`Ovs::dpswitch_log`].
    pub fn stop_dpswitch(&mut self) -> ExitStatus {
        let sw = self.dpswitch.take().expect("dpswitch is running");
        let (status, log) = sw.stop_with_log();
        self.dpswitch_history.push_str(&log);
        self.dpswitch_history
            .push_str("\n--- dpswitch stopped ---\n");
        status
    }

    /// Starts dpswitch again with the same options, netlink port id and file prefix.
    pub fn restart_dpswitch(&mut self) {
        if self.dpswitch.is_some() {
            self.stop_dpswitch();
        }
        self.start_dpswitch();
    }

    /// Everything the chassis' dpswitch processes logged.
    pub fn dpswitch_log(&self) -> String {
        let now = self.dpswitch.as_ref().map(Dpswitch::log_text);
        format!("{}{}", self.dpswitch_history, now.unwrap_or_default())
    }

    /// A command with every OVS directory variable pointing at this chassis.
    fn ovs_env(&self, cmd: &mut Command) {
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            cmd.env(var, &self.dir);
        }
        cmd.env("OVS_PKGDATADIR", ovs_pkgdatadir())
            .env_remove("LD_PRELOAD");
    }

    /// `prog` as a daemon of this chassis: in its namespace, with its environment, output
    /// appended to `<dir>/<name>.out` (vlog goes to the log file; this catches crashes).
    fn daemon(&self, prog: &str, args: &[String]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name])
            .arg(ovs_bin(prog))
            .args(args);
        self.ovs_env(&mut cmd);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{prog}.out")))
            .expect("daemon output file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        cmd
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn start_ovsdb(&mut self) {
        let db = self.path("conf.db");
        let schema = ovs_pkgdatadir().join("vswitch.ovsschema");
        let r = self.run(
            "ovsdb-tool",
            &["create", &db, &schema.display().to_string()],
        );
        assert!(r.ok, "ovsdb-tool create: {r:?}");
        let args: Vec<String> = [
            db.as_str(),
            &format!("--remote=punix:{}", self.path("db.sock")),
            "--pidfile",
            "--log-file",
            "--no-chdir",
            "-vconsole:off",
            "-vsyslog:off",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = self
            .daemon("ovsdb-server", &args)
            .spawn()
            .expect("spawn ovsdb-server");
        self.ovsdb = Some(child);
        let sock = self.dir.join("db.sock");
        self.wait_daemon("ovsdb-server", |o| sock.exists() && o.ovsdb_running());
        self.vsctl(&["--no-wait", "init"]);
    }

    fn ovsdb_running(&mut self) -> bool {
        self.ovsdb
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until `ready` holds; panics with the daemon's output if it does not.
    fn wait_daemon(&mut self, prog: &str, mut ready: impl FnMut(&mut Ovs) -> bool) {
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "{prog} did not come up within {DAEMON_TIMEOUT:?}:\n{}\n--- log ---\n{}",
                read(&self.dir.join(format!("{prog}.out"))),
                read(&self.dir.join(format!("{prog}.log"))),
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts ovs-vswitchd with the preload library aimed at this chassis' dpswitch, and
    /// waits until it answers `ovs-appctl version`.
    ///
    /// # Panics
    /// If it exits or does not answer within 30 s.
    pub fn start_vswitchd(&mut self) {
        assert!(self.vswitchd.is_none(), "vswitchd is already running");
        let args: Vec<String> = [
            format!("unix:{}", self.path("db.sock")),
            "--pidfile".into(),
            "--log-file".into(),
            "--no-chdir".into(),
            "-vconsole:off".into(),
            "-vsyslog:off".into(),
        ]
        .into();
        // Extra vlog settings for debugging, e.g. DPSWITCH_E2E_VLOG=netlink_socket:file:dbg.
        let mut args = args;
        if let Ok(v) = std::env::var("DPSWITCH_E2E_VLOG") {
            args.extend(v.split_whitespace().map(|s| format!("-v{s}")));
        }
        let mut cmd = self.daemon("ovs-vswitchd", &args);
        cmd.env("LD_PRELOAD", preload_library())
            .env("DPSWITCH_NETLINK_PID", self.netlink_pid.to_string());
        self.vswitchd = Some(cmd.spawn().expect("spawn ovs-vswitchd"));
        self.wait_daemon("ovs-vswitchd", |o| {
            let running = o
                .vswitchd
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
            assert!(
                running,
                "ovs-vswitchd exited:\n{}\n{}",
                read(&o.dir.join("ovs-vswitchd.out")),
                o.log()
            );
            o.run("ovs-appctl", &["-T", "5", "version"]).ok
        });
    }

    /// Stops ovs-vswitchd with `ovs-appctl exit` (`--cleanup` removes its datapath, ports
    /// and flows; without it they stay for the next vswitchd). Returns whether it exited by
    /// itself within 30 s (otherwise it is killed).
    pub fn stop_vswitchd(&mut self, cleanup: bool) -> bool {
        let Some(mut child) = self.vswitchd.take() else {
            return true;
        };
        let mut args = vec!["-T", "30", "exit"];
        if cleanup {
            args.push("--cleanup");
        }
        let _ = self.run("ovs-appctl", &args);
        let exited = wait_child(&mut child, DAEMON_TIMEOUT);
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
        }
        exited
    }

    /// `ovs-appctl exit` (keeping the datapath), then a fresh ovs-vswitchd.
    pub fn restart_vswitchd(&mut self) {
        assert!(self.stop_vswitchd(false), "ovs-vswitchd did not exit");
        self.start_vswitchd();
    }

    /// Whether ovs-vswitchd is still running.
    pub fn vswitchd_running(&mut self) -> bool {
        self.vswitchd
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Runs one OVS program (not a daemon) with this chassis' environment.
    pub fn run(&self, prog: &str, args: &[&str]) -> OvsRun {
        let mut cmd = Command::new(ovs_bin(prog));
        cmd.args(args).stdin(Stdio::null());
        self.ovs_env(&mut cmd);
        let out = cmd.output().unwrap_or_else(|e| panic!("{prog}: {e}"));
        OvsRun {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn must(&self, prog: &str, args: &[&str]) -> String {
        let r = self.run(prog, args);
        assert!(
            r.ok,
            "{prog} {args:?} failed:\n{}{}\n{}",
            r.stdout,
            r.stderr,
            self.diagnostics()
        );
        r.stdout
    }

    /// `ovs-vsctl --timeout=30 ARGS`; panics unless it succeeds.
    #[track_caller]
    pub fn vsctl(&self, args: &[&str]) -> String {
        let mut a = vec!["--timeout=30"];
        a.extend_from_slice(args);
        self.must("ovs-vsctl", &a)
    }

    /// `ovs-vsctl --timeout=30 ARGS`, whatever its outcome.
    pub fn try_vsctl(&self, args: &[&str]) -> OvsRun {
        let mut a = vec!["--timeout=30"];
        a.extend_from_slice(args);
        self.run("ovs-vsctl", &a)
    }

    /// `ovs-ofctl ARGS`; panics unless it succeeds.
    #[track_caller]
    pub fn ofctl(&self, args: &[&str]) -> String {
        self.must("ovs-ofctl", args)
    }

    /// `ovs-appctl -T 30 ARGS` (to ovs-vswitchd); panics unless it succeeds.
    #[track_caller]
    pub fn appctl(&self, args: &[&str]) -> String {
        let mut a = vec!["-T", "30"];
        a.extend_from_slice(args);
        self.must("ovs-appctl", &a)
    }

    /// `ovs-appctl -T 30 ARGS`, whatever its outcome.
    pub fn try_appctl(&self, args: &[&str]) -> OvsRun {
        let mut a = vec!["-T", "30"];
        a.extend_from_slice(args);
        self.run("ovs-appctl", &a)
    }

    /// `ovs-vsctl add-br NAME -- set bridge NAME datapath_type=system`.
    #[track_caller]
    pub fn add_bridge(&self, name: &str) {
        self.vsctl(&[
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=system",
        ]);
    }

    /// The OpenFlow port number of interface `name`.
    ///
    /// # Panics
    /// If vswitchd has not given it one (`-1`: its netdev could not be opened).
    #[track_caller]
    pub fn ofport(&self, name: &str) -> u16 {
        let s = self.vsctl(&["get", "Interface", name, "ofport"]);
        s.trim().parse().unwrap_or_else(|_| {
            panic!(
                "interface {name} has ofport {s:?}; error: {}\n{}",
                self.vsctl(&["get", "Interface", name, "error"]).trim(),
                self.diagnostics()
            )
        })
    }

    /// The datapath flows, one line each (`ovs-appctl dpctl/dump-flows --names`: ports by
    /// name).
    pub fn dpctl_dump_flows(&self) -> Vec<String> {
        self.appctl(&["dpctl/dump-flows", "--names"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Attaches a workload namespace to `bridge` by a veth pair (MTU `mtu`) as host
    /// `index` (1..=250): see [`Host`].
    #[track_caller]
    pub fn add_host(&self, bridge: &str, index: u8, mtu: u32) -> Host {
        Host::attach(self, bridge, index, mtu)
    }

    /// vswitchd's log so far (every vswitchd of this chassis appends to it).
    pub fn log(&self) -> String {
        read(&self.dir.join("ovs-vswitchd.log"))
    }

    /// The lines of vswitchd's log at WARN, ERR or EMER not in [`LOG_ALLOWLIST`].
    pub fn log_problems(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| {
                ["|WARN|", "|ERR|", "|EMER|"]
                    .iter()
                    .any(|lv| l.contains(lv))
            })
            .filter(|l| !LOG_ALLOWLIST.iter().any(|(s, _)| l.contains(s)))
            .map(str::to_string)
            .collect()
    }

    /// Asserts that vswitchd logged nothing at WARN or worse (vswitchd warns about every
    /// datapath answer it did not expect).
    #[track_caller]
    pub fn assert_log_clean(&self) {
        let bad = self.log_problems();
        assert!(
            bad.is_empty(),
            "ovs-vswitchd logged {} warnings or errors:\n{}\n--- dpswitch log (last 30 lines) ---\n{}",
            bad.len(),
            bad.join("\n"),
            tail(&self.dpswitch_log(), 30)
        );
    }

    /// What helps explain a failure: datapath ports and flows, the MAC table, vswitchd's
    /// warnings and the end of dpswitch's log.
    pub fn diagnostics(&self) -> String {
        let show = |args: &[&str]| {
            let mut a = vec!["-T", "5"];
            a.extend_from_slice(args);
            let r = self.run("ovs-appctl", &a);
            format!(
                "--- ovs-appctl {} ---\n{}{}",
                args.join(" "),
                r.stdout,
                r.stderr
            )
        };
        let bad = self.log_problems();
        format!(
            "{}\n{}\n--- vswitchd warnings ({}; last 15) ---\n{}\n--- dpswitch log (last 25) ---\n{}",
            show(&["dpctl/show"]),
            show(&["dpctl/dump-flows", "--names"]),
            bad.len(),
            bad[bad.len().saturating_sub(15)..].join("\n"),
            tail(&self.dpswitch_log(), 25)
        )
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        self.stop_vswitchd(true);
        if let Some(mut db) = self.ovsdb.take() {
            let pid = nix::unistd::Pid::from_raw(db.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if !wait_child(&mut db, Duration::from_secs(5)) {
                let _ = db.kill();
                let _ = db.wait();
            }
        }
        self.dpswitch.take();
        if std::thread::panicking() || std::env::var_os("DPSWITCH_E2E_KEEP").is_some() {
            eprintln!("ovs: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Waits up to `timeout` for a child to exit; whether it did.
fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
