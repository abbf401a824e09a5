use std::ffi::CStr;
use std::fmt;

/// A failed DPDK call: which operation, and the errno DPDK reported (`rte_errno` or the
/// negative return value), rendered with `rte_strerror`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkError {
    /// The operation that failed, e.g. `"rte_eal_init"`.
    pub op: &'static str,
    /// A positive errno (or DPDK's own `RTE_MIN_ERRNO`-based codes).
    pub errno: i32,
    /// Extra context (a device name, a queue number), empty if none.
    pub context: String,
}

/// Result of a DPDK operation.
pub type Result<T> = std::result::Result<T, DpdkError>;

impl DpdkError {
    /// An error from an explicit errno value (positive or negative: the sign is dropped).
    pub fn new(op: &'static str, errno: i32) -> Self {
        DpdkError {
            op,
            errno: errno.abs(),
            context: String::new(),
        }
    }

    /// An error whose errno is the calling lcore's current `rte_errno`.
    pub fn from_rte_errno(op: &'static str) -> Self {
        // SAFETY: reads this thread's rte_errno thread-local.
        Self::new(op, unsafe { dpdk_sys::shim_rte_errno() })
    }

    /// Adds context (a device or queue) to the message.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = context.into();
        self
    }

    /// The errno rendered by DPDK (`rte_strerror`), which also knows DPDK's private codes.
    pub fn message(&self) -> String {
        // SAFETY: rte_strerror returns a pointer to a NUL-terminated string that stays valid
        // until the next call on this thread; it is copied out at once.
        unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(self.errno)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if !self.context.is_empty() {
            write!(f, " ({})", self.context)?;
        }
        write!(f, ": {} (errno {})", self.message(), self.errno)
    }
}

impl std::error::Error for DpdkError {}
