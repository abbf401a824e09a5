//! The `dpswitch` daemon: EAL, PMD threads, the datapath, the standalone slow path and the
//! status line. See `dpswitch --help`.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpswitch::cli::{self, Options};
use dpswitch::control::ctnetlink::CtServer;
use dpswitch::control::{NetlinkSocket, Server};
use dpswitch::dpdk::{self, Eal};
use dpswitch::metrics::{self, MetricsServer};
use dpswitch::model::vport::NO_FLOOD;
use dpswitch::model::{Dataplane, Model, VportKind, VportSpec};
use dpswitch::runtime::{self, Config, Runtime};
use dpswitch::slowpath::{SlowPath, UpcallSink};
use dpswitch::Switch;

fn init_logging(o: &Options) {
    let filter = match &o.log {
        Some(f) => tracing_subscriber::EnvFilter::new(f),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    // Colour only for a terminal: escape codes in a log file get in the way of every reader.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if o.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn free_hugepages() -> u64 {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// EAL arguments when the user gave none: two cores, hugepages if there are some.
fn default_eal_args() -> Vec<String> {
    let mut args = vec!["-l".to_string(), "0-1".to_string()];
    if free_hugepages() >= 256 {
        args.push("--in-memory".into());
    } else {
        args.extend(["--no-huge", "--no-shconf", "-m", "512"].map(String::from));
    }
    args
}

/// mimalloc rather than glibc malloc: a PMD that drops the last reference to a flow the
/// control thread allocated frees it into mimalloc's lock-free cross-thread list, where glibc
/// takes the control thread's arena lock (and waits while that thread, busy with flow
/// changes on the other core, holds it).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut o = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dpswitch: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    if o.help {
        print!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    init_logging(&o);
    if o.eal_args.is_empty() {
        o.eal_args = default_eal_args();
    }
    if o.ports.is_empty() && o.dp.is_some() {
        o.ports = ["dptap0", "dptap1"]
            .iter()
            .map(|n| (n.to_string(), format!("net_tap_{n},iface={n}")))
            .collect();
    }
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpswitch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    // Claim the control plane's port id first: a second instance must fail before it touches
    // devices another instance owns.
    let netlink = NetlinkSocket::bind(o.netlink_pid, 4 << 20).map_err(|e| {
        if e.raw_os_error() == Some(libc::EADDRINUSE) {
            format!(
                "netlink port id {} is taken: is another dpswitch running? (pick another with --netlink-pid)",
                o.netlink_pid
            )
        } else {
            format!("cannot open the netlink socket: {e}")
        }
    })?;
    // EAL makes no runtime directory (and so takes no lock) under --in-memory: our own lock
    // per file prefix is what keeps two instances off the same devices and hugepage names.
    let _prefix_lock = PrefixLock::acquire(&file_prefix(&o.eal_args))?;
    let eal = Eal::init(&o.eal_args).map_err(|e| {
        if e.errno == libc::EACCES || e.errno == libc::EAGAIN {
            format!("{e}: another DPDK process may hold this --file-prefix")
        } else {
            e.to_string()
        }
    })?;
    tracing::info!(dpdk = %dpdk::version(), eal_args = ?o.eal_args, "EAL initialised");
    let cfg = Config {
        pmd_lcores: o.pmd_cores.clone(),
        n_mbufs: o.mbufs,
        n_jumbo_mbufs: o.jumbo_mbufs,
        ct_capacity: o.ct_max_conns,
        emc_insert_inv_prob: o.emc_insert_inv_prob,
        pmd_perf_metrics: o.pmd_perf_metrics,
        port_map: o.port_map.iter().cloned().collect(),
        ..Config::default()
    };
    let runtime = Runtime::start(eal.clone(), cfg).map_err(|e| e.to_string())?;
    let view = runtime.view().clone();
    let mut sw = Switch {
        model: Model::new(view.clone()),
        plane: runtime,
        slow: SlowPath::new(o.flow_limit),
    };
    let _metrics = match o.metrics {
        Some(addr) => {
            let registry = metrics::registry(&dpdk::version()).map_err(|e| e.to_string())?;
            metrics::register(&registry, &view).map_err(|e| e.to_string())?;
            let ct = metrics::ConntrackCollector::new(sw.plane.conntrack().clone(), view.clone());
            registry.register(Box::new(ct)).map_err(|e| e.to_string())?;
            let srv = MetricsServer::start(addr, registry)
                .map_err(|e| format!("metrics on {addr}: {e}"))?;
            tracing::info!(addr = %srv.addr(), "serving /metrics");
            Some(srv)
        }
        None => None,
    };
    tracing::info!(main_lcore = eal.main_lcore(), pmd_lcores = ?sw.plane.pmd_lcores(), "lcores");
    match &o.dp {
        Some(name) => start_datapath(&mut sw, name, o)?,
        None => tracing::info!("managed mode: no datapath until a client creates one"),
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut server =
        Server::new(netlink, view.clone()).map_err(|e| format!("netlink server: {e}"))?;
    tracing::info!(port_id = o.netlink_pid, "netlink control plane serving");
    let mut ct_server = CtServer::bind(o.netlink_pid, view)
        .map_err(|e| format!("ctnetlink server at port id {}: {e}", o.netlink_pid))?;
    let mut status = Status::new(o.status_interval);
    // Requests and upcalls alternate; only when both are idle does the thread wait, in
    // poll(2) on the netlink socket and the upcall doorbell, for at most 1 ms (the periodic
    // work: PMD commands, drop warnings, the status line). Upcalls whose receiver is full
    // also wait, for a request or the end of its back-off.
    while !stop.load(Ordering::Relaxed) {
        let requests = server.poll(&mut sw) + ct_server.poll(&mut sw);
        let upcalls = runtime::handle_upcalls(&mut sw, 256, &mut server);
        sw.plane.maintain(&sw.model);
        status.tick(&sw);
        let held = server.refusing();
        if requests == 0 && (upcalls == 0 || held) {
            let fds = [server.socket().as_fd(), ct_server.socket().as_fd()];
            sw.plane.wait(&fds, 1, held);
        }
    }
    tracing::info!("stopping: PMDs, ports, EAL");
    drop(sw);
    Ok(())
}

/// Creates the start datapath `name` with the `--port` ports and `--no-flood` settings.
fn start_datapath(sw: &mut Switch<Runtime>, name: &str, o: &Options) -> Result<(), String> {
    let dp = sw
        .model
        .add_datapath(&mut sw.plane, name, 0, 0)
        .map_err(|e| format!("datapath {name}: {e}"))?;
    for (pname, devargs) in &o.ports {
        let spec = VportSpec {
            name: pname.clone(),
            kind: VportKind::Netdev,
            devargs: Some(devargs.clone()),
            port_no: None,
            upcall_pids: Vec::new(),
            options: BTreeMap::from([("devargs".to_string(), devargs.clone())]),
        };
        sw.model
            .add_vport(&mut sw.plane, dp, spec)
            .map_err(|e| format!("port {pname} ({devargs}): {e}"))?;
    }
    for flood_off in &o.no_flood {
        let port = sw
            .model
            .datapath_mut(dp)
            .and_then(|d| d.vports.values_mut().find(|v| &v.name == flood_off))
            .ok_or_else(|| format!("--no-flood {flood_off}: no such port in {name}"))?;
        port.options
            .insert(NO_FLOOD.to_string(), "true".to_string());
    }
    tracing::info!(dp = %name, ports = o.ports.len(), "forwarding");
    Ok(())
}

/// The EAL `--file-prefix` in `eal_args` (EAL's default is `rte`).
fn file_prefix(eal_args: &[String]) -> String {
    let mut prefix = "rte".to_string();
    let mut it = eal_args.iter();
    while let Some(a) = it.next() {
        if a == "--file-prefix" {
            if let Some(v) = it.next() {
                prefix = v.clone();
            }
        } else if let Some(v) = a.strip_prefix("--file-prefix=") {
            prefix = v.to_string();
        }
    }
    prefix
}

/// Where the per-prefix lock files live.
const LOCK_DIR: &str = "/run/dpswitch";

/// An exclusive `flock` on `/run/dpswitch/<prefix>.lock`, held for the life of the process:
/// the kernel drops it when the process dies however it dies, so a restart after SIGKILL
/// finds it free. The file is removed on a clean exit.
struct PrefixLock {
    path: std::path::PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl PrefixLock {
    fn acquire(prefix: &str) -> Result<PrefixLock, String> {
        use nix::fcntl::{Flock, FlockArg};
        use std::io::Write;
        use std::os::unix::fs::MetadataExt;
        if prefix.is_empty() || prefix.contains('/') {
            return Err(format!("--file-prefix {prefix:?} is not a valid file name"));
        }
        std::fs::create_dir_all(LOCK_DIR).map_err(|e| format!("{LOCK_DIR}: {e}"))?;
        let path = std::path::Path::new(LOCK_DIR).join(format!("{prefix}.lock"));
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    let by = if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    };
                    return Err(format!(
                        "--file-prefix {prefix} is in use by another dpswitch{by}; pick another --file-prefix"
                    ));
                }
                Err((_, e)) => return Err(format!("lock {}: {e}", path.display())),
            };
            // A previous holder may have unlinked the file between our open and lock: then
            // the lock is on an orphan inode and we must take the file now at the path.
            let same = match (lock.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            lock.set_len(0)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let _ = writeln!(&mut *lock, "{}", std::process::id());
            return Ok(PrefixLock { path, _lock: lock });
        }
    }
}

impl Drop for PrefixLock {
    fn drop(&mut self) {
        // Unlinked while still locked, so no other instance can be holding this inode.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The periodic one-line status: packets per second per port, hits, misses, flows.
struct Status {
    every: Option<Duration>,
    last: Instant,
    prev: BTreeMap<(usize, u32), (u64, u64)>,
}

impl Status {
    fn new(secs: u64) -> Self {
        Status {
            every: (secs > 0).then(|| Duration::from_secs(secs)),
            last: Instant::now(),
            prev: BTreeMap::new(),
        }
    }

    /// One line per datapath, every `every`.
    fn tick(&mut self, sw: &Switch<Runtime>) {
        let Some(every) = self.every else { return };
        let elapsed = self.last.elapsed();
        if elapsed < every {
            return;
        }
        self.last = Instant::now();
        let secs = elapsed.as_secs_f64();
        let mut seen = BTreeMap::new();
        for (dp, d) in sw.model.datapaths() {
            let s = d.stats();
            let mut ports = Vec::new();
            for v in d.vports.values() {
                let st = sw.plane.port_stats(dp, v.port_no);
                let now = (st.rx_packets, st.tx_packets);
                let (prx, ptx) = self.prev.get(&(dp, v.port_no)).copied().unwrap_or(now);
                seen.insert((dp, v.port_no), now);
                ports.push(format!(
                    "{} rx {:.0} tx {:.0}",
                    v.name,
                    st.rx_packets.saturating_sub(prx) as f64 / secs,
                    st.tx_packets.saturating_sub(ptx) as f64 / secs
                ));
            }
            tracing::info!(
                "{}: pps [{}] hit {} missed {} lost {} flows {}",
                d.name,
                ports.join(", "),
                s.n_hit,
                s.n_missed,
                s.n_lost,
                s.n_flows
            );
        }
        // Ports and datapaths that are gone are forgotten.
        self.prev = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_file_prefix_is_eals_in_either_spelling_or_rte() {
        assert_eq!(file_prefix(&args(&["-l", "0-1"])), "rte");
        assert_eq!(file_prefix(&args(&["--file-prefix", "a", "-l", "1"])), "a");
        assert_eq!(file_prefix(&args(&["--file-prefix=b"])), "b");
        assert_eq!(
            file_prefix(&args(&["--file-prefix=b", "--file-prefix", "c"])),
            "c",
            "the last one wins, as in EAL's getopt loop"
        );
    }

    #[test]
    fn a_held_prefix_lock_refuses_a_second_holder_until_released() {
        let prefix = format!("unit{}", std::process::id());
        let first = PrefixLock::acquire(&prefix).expect("free prefix");
        let err = PrefixLock::acquire(&prefix).err().expect("held prefix");
        assert_eq!(
            err,
            format!(
                "--file-prefix {prefix} is in use by another dpswitch (pid {}); pick another --file-prefix",
                std::process::id()
            )
        );
        drop(first);
        assert!(PrefixLock::acquire(&prefix).is_ok());
        assert!(PrefixLock::acquire("a/b").is_err());
    }
}
