use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{DpdkError, Result};

/// Only one EAL per process: DPDK keeps it in globals.
static EAL_ACTIVE: AtomicBool = AtomicBool::new(false);

/// The initialised DPDK Environment Abstraction Layer.
///
/// Cheap to clone; every mempool, port and lcore job holds a clone, so `rte_eal_cleanup` runs
/// only after the last of them is gone.
#[derive(Clone, Debug)]
pub struct Eal {
    inner: Arc<EalInner>,
}

#[derive(Debug)]
struct EalInner {
    /// EAL keeps pointers into argv for its lifetime (telemetry, `rte_eal_get_args`-style
    /// introspection), so the strings live as long as the EAL.
    _argv: Vec<CString>,
    args: Vec<String>,
}

impl Eal {
    /// Initialises the EAL with `args` (without the program name), e.g.
    /// `["-l", "0-1", "--no-huge", "--in-memory", "--vdev", "net_null0"]`.
    ///
    /// # Errors
    /// EALREADY if an EAL is already running in this process; otherwise the `rte_errno` of the
    /// failed `rte_eal_init` (bad arguments, no hugepages, file prefix in use, ...). A failed
    /// init is not fatal to the process.
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if EAL_ACTIVE
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::new("rte_eal_init", libc::EALREADY)
                .context("the EAL is already initialised in this process"));
        }
        let args: Vec<String> = std::iter::once("dpswitch".to_string())
            .chain(args.into_iter().map(|a| a.as_ref().to_string()))
            .collect();
        let argv: Vec<CString> = match args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<std::result::Result<_, _>>()
        {
            Ok(v) => v,
            Err(_) => {
                EAL_ACTIVE.store(false, Ordering::Release);
                return Err(DpdkError::new("rte_eal_init", libc::EINVAL)
                    .context("an argument contains a NUL byte"));
            }
        };
        // EAL permutes the pointer array (getopt), never the strings.
        let mut ptrs: Vec<*mut c_char> = argv.iter().map(|s| s.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(ptrs.len()).unwrap_or(c_int::MAX);
        // SAFETY: argc/argv describe valid NUL-terminated strings that outlive the EAL (kept
        // in EalInner); EAL_ACTIVE guarantees no concurrent or repeated call from this API.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, ptrs.as_mut_ptr()) };
        if ret < 0 {
            let err = DpdkError::from_rte_errno("rte_eal_init").context(args[1..].join(" "));
            remove_runtime_dir_if_empty();
            EAL_ACTIVE.store(false, Ordering::Release);
            return Err(err);
        }
        Ok(Eal {
            inner: Arc::new(EalInner { _argv: argv, args }),
        })
    }

    /// The arguments the EAL was initialised with (program name first).
    pub fn args(&self) -> &[String] {
        &self.inner.args
    }

    /// The main lcore: the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: plain getter, valid after init.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The worker lcores enabled by `-l`/`-c`, in ascending order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        let mut i = u32::MAX; // rte_get_next_lcore starts after `i`; -1 means "from the start".
        loop {
            // SAFETY: plain iteration over EAL's lcore table, valid after init.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                return lcores;
            }
            lcores.push(i);
        }
    }

    /// The NUMA socket of an lcore.
    pub fn lcore_socket(&self, lcore: u32) -> u32 {
        // SAFETY: plain getter; unknown lcores yield SOCKET_ID_ANY-like values, not UB.
        unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) }
    }

    /// The EAL lcore the calling thread is, or `None` for a non-EAL thread.
    pub fn current_lcore() -> Option<u32> {
        // SAFETY: reads this thread's lcore id thread-local.
        let id = unsafe { dpdk_sys::shim_rte_lcore_id() };
        (id < dpdk_sys::RTE_MAX_LCORE).then_some(id)
    }

    /// TSC ticks per second as EAL calibrated them.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: plain getter, valid after init.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }

    /// Runs `work` on the worker lcore `lcore` (which must be idle) and returns a handle that
    /// waits for it. `work`'s return value is the lcore's exit code.
    ///
    /// # Errors
    /// EINVAL if `lcore` is not a worker lcore, EBUSY if it is already running something.
    pub fn launch<F>(&self, lcore: u32, work: F) -> Result<LcoreJob>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if !self.worker_lcores().contains(&lcore) {
            return Err(DpdkError::new("rte_eal_remote_launch", libc::EINVAL)
                .context(format!("lcore {lcore} is not a worker lcore")));
        }
        let job: Box<Box<dyn FnOnce() -> i32 + Send>> = Box::new(Box::new(work));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: `arg` is a leaked Box that `run_job` takes back exactly once; on failure
        // the lcore never runs it and it is reclaimed below.
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(run_job), arg, lcore) };
        if ret != 0 {
            // SAFETY: the launch failed, so `run_job` never received `arg`.
            drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() -> i32 + Send>>()) });
            return Err(
                DpdkError::new("rte_eal_remote_launch", ret).context(format!("lcore {lcore}"))
            );
        }
        Ok(LcoreJob {
            lcore,
            _eal: self.clone(),
            done: None,
        })
    }
}

/// EAL creates `/var/run/dpdk/<file-prefix>` and leaves it behind even when it put nothing
/// there but its telemetry socket (unlinked only by an atexit handler, after we are gone).
/// Remove both then, so runs leave no litter; a directory with anything else in it (the
/// shared config of a primary process) is left alone.
fn remove_runtime_dir_if_empty() {
    // SAFETY: returns a pointer to EAL's static path buffer (empty if never set).
    let dir = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_eal_get_runtime_dir()) };
    let Ok(dir) = dir.to_str() else { return };
    if dir.is_empty() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<std::path::PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let only_telemetry = names.iter().all(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("dpdk_telemetry."))
    });
    if only_telemetry {
        for p in &names {
            let _ = std::fs::remove_file(p);
        }
        let r = std::fs::remove_dir(dir);
        tracing::debug!(dir, result = ?r, "removed the EAL runtime directory");
    }
}

unsafe extern "C" fn run_job(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from Box::into_raw in `Eal::launch` and is consumed only here.
    let job = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() -> i32 + Send>>()) };
    job()
}

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone: no mempool, port or lcore job uses the EAL any more.
        let ret = unsafe { dpdk_sys::rte_eal_cleanup() };
        if ret != 0 {
            tracing::warn!(errno = -ret, "rte_eal_cleanup failed");
        }
        remove_runtime_dir_if_empty();
        EAL_ACTIVE.store(false, Ordering::Release);
    }
}

/// Work running on a worker lcore; dropping the handle waits for it to finish.
#[derive(Debug)]
pub struct LcoreJob {
    lcore: u32,
    _eal: Eal,
    done: Option<i32>,
}

impl LcoreJob {
    /// The lcore the work runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Blocks until the work returns, and gives its return value.
    pub fn wait(mut self) -> i32 {
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> i32 {
        if let Some(code) = self.done {
            return code;
        }
        // SAFETY: waits on an lcore this handle launched; EAL is alive (held by `_eal`).
        let code = unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        self.done = Some(code);
        code
    }
}

impl Drop for LcoreJob {
    fn drop(&mut self) {
        self.wait_inner();
    }
}
