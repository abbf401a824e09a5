//! The fast path's one error type: what it cannot represent or execute, refused with the
//! errno the control plane answers rather than matched or executed differently.

use odp::errno::{EINVAL, EOPNOTSUPP};

/// A key, mask or action list the fast path refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Valid on the wire, but the fast path has no implementation (`EOPNOTSUPP`).
    #[error("{0} not supported")]
    Unsupported(&'static str),
    /// Not representable at all (`EINVAL`).
    #[error("invalid {0}")]
    Invalid(&'static str),
}

impl Error {
    /// The positive errno the kernel answers in the same situation.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Unsupported(_) => EOPNOTSUPP,
            Error::Invalid(_) => EINVAL,
        }
    }
}
