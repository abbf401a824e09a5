//! The control plane's one error type, and the one place where a failure becomes the errno
//! the kernel datapath would answer with.

use odp::errno::{
    EAFNOSUPPORT, EBUSY, EEXIST, EFBIG, EINVAL, ENODEV, ENOENT, ENOMEM, EOPNOTSUPP, EPERM,
};

use crate::dpdk::DpdkError;

/// Why a control-plane operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A request the kernel's decoder or validation refuses.
    #[error(transparent)]
    Protocol(#[from] odp::Error),
    /// A key, mask or action list the fast path cannot represent or execute.
    #[error(transparent)]
    Fastpath(#[from] fastpath::Error),
    /// The DPDK device behind a vport could not be made or removed.
    #[error(transparent)]
    Device(#[from] DpdkError),
    /// No datapath by that name, ifindex or slot.
    #[error("no such datapath")]
    NoDatapath,
    /// No vport by that name or number.
    #[error("no such port {0}")]
    NoPort(String),
    /// No kernel network interface by that name (a `netdev` vport without devargs).
    #[error("no network device named {0}")]
    NoNetdev(String),
    /// No flow with that identity.
    #[error("no such flow")]
    NoFlow,
    /// No tracked connection with that tuple (and id).
    #[error("no such connection")]
    NoConnection,
    /// An installed flow matches the key and creation was exclusive.
    #[error("flow exists")]
    FlowExists,
    /// A datapath, vport or kernel network device of that name exists.
    #[error("{0} already exists")]
    Exists(String),
    /// A datapath or vport name the kernel refuses.
    #[error("bad name {0:?}")]
    BadName(String),
    /// The requested port number is taken.
    #[error("port number {0} is in use")]
    PortBusy(u32),
    /// The requested port number is too large, or none is free.
    #[error("no port number available")]
    PortRange,
    /// The local port, which goes only with its datapath.
    #[error("the local port goes only with its datapath")]
    LocalPort,
    /// A vport type dpswitch has no implementation of (tunnels).
    #[error("vport type not supported")]
    VportType,
    /// A request that changes something from a sender without uid 0.
    #[error("permission denied")]
    NotPermitted,
    /// A generic-netlink family or command nobody serves.
    #[error("no such family")]
    NoFamily,
    /// Something valid that dpswitch cannot do.
    #[error("{0} not supported")]
    Unsupported(&'static str),
    /// A request that is well-formed but refused.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Out of packet buffers or another resource.
    #[error("out of {0}")]
    NoMemory(&'static str),
    /// A stand-in kernel interface for a mapped DPDK device could not be made (at start).
    #[error("stand-in interface {name}: {reason}")]
    StandIn {
        /// The interface name.
        name: String,
        /// The kernel's reason.
        reason: String,
    },
}

impl Error {
    /// The positive errno the kernel answers in the same situation.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Protocol(e) => e.errno(),
            Error::Fastpath(e) => e.errno(),
            Error::Device(e) => match e.errno {
                EEXIST => EEXIST,
                ENOMEM | libc::ENOSPC => ENOMEM,
                ENODEV | ENOENT => ENODEV,
                _ => EINVAL,
            },
            Error::NoDatapath | Error::NoPort(_) | Error::NoNetdev(_) => ENODEV,
            Error::NoFlow | Error::NoFamily | Error::NoConnection => ENOENT,
            Error::FlowExists | Error::Exists(_) => EEXIST,
            Error::BadName(_) | Error::LocalPort | Error::Invalid(_) => EINVAL,
            Error::PortBusy(_) => EBUSY,
            Error::PortRange => EFBIG,
            Error::VportType => EAFNOSUPPORT,
            Error::NotPermitted => EPERM,
            Error::Unsupported(_) => EOPNOTSUPP,
            Error::NoMemory(_) => ENOMEM,
            Error::StandIn { .. } => EINVAL,
        }
    }
}

/// Result of a control-plane operation.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_the_kernels_errno() {
        let cases: [(Error, i32); 12] = [
            (Error::NoDatapath, ENODEV),
            (Error::NoPort("p1".into()), ENODEV),
            (Error::NoFlow, ENOENT),
            (Error::FlowExists, EEXIST),
            (Error::Exists("dp0".into()), EEXIST),
            (Error::BadName("a/b".into()), EINVAL),
            (Error::PortBusy(3), EBUSY),
            (Error::PortRange, EFBIG),
            (Error::VportType, EAFNOSUPPORT),
            (Error::NotPermitted, EPERM),
            (odp::Error::NestingTooDeep(16).into(), odp::errno::EOVERFLOW),
            (fastpath::Error::Unsupported("ct action").into(), EOPNOTSUPP),
        ];
        for (e, errno) in cases {
            assert_eq!(e.errno(), errno, "{e}");
        }
        let dev = |errno| Error::Device(DpdkError::new("rte_dev_probe", errno)).errno();
        assert_eq!(dev(libc::ENOSPC), ENOMEM);
        assert_eq!(dev(libc::ENOENT), ENODEV);
        assert_eq!(dev(libc::EIO), EINVAL);
    }
}
