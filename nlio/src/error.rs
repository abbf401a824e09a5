//! The client's errors, each with the errno it stands for ([`Error::errno`]), so callers can
//! print them as `ovs-dpctl` does or compare them with what the kernel would answer.

use std::io;

use nix::errno::Errno;

/// Why an exchange with a netlink peer failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket call failed (`ECONNREFUSED`: nothing is bound at the peer's port id; `EPERM`:
    /// sending to another socket than the kernel's needs CAP_NET_ADMIN; `ENOBUFS`: answers
    /// were dropped because the receive buffer overflowed).
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The socket error.
        source: io::Error,
    },
    /// No answer arrived in time.
    #[error("no answer in time")]
    Timeout,
    /// The peer answered with this errno (`NLMSG_ERROR`, or the status of `NLMSG_DONE`).
    #[error("the peer answered: {}", Errno::from_raw(*.0).desc())]
    Remote(i32),
    /// A request could not be encoded.
    #[error("encoding the request: {0}")]
    Encode(odp::Error),
    /// An answer could not be decoded.
    #[error("malformed answer: {0}")]
    Malformed(odp::Error),
    /// A datagram did not fit the receive buffer.
    #[error("a datagram of {len} bytes exceeds the {cap}-byte receive buffer")]
    Oversized {
        /// Bytes received (at least the buffer's size).
        len: usize,
        /// The buffer's size.
        cap: usize,
    },
    /// An answer carried another sequence number than the request's, on a client that
    /// rejects those ([`crate::Client::set_reject_stray`]).
    #[error("an answer to sequence number {got} while waiting for {want}")]
    Stray {
        /// The answer's sequence number.
        got: u32,
        /// The request's.
        want: u32,
    },
    /// The peer's family list answered without the family's id.
    #[error("generic netlink family {0} is not served")]
    NotServed(String),
    /// Resolving a generic netlink family by name failed.
    #[error("resolving generic netlink family {name}: {source}")]
    Family {
        /// The family's name.
        name: String,
        /// Why.
        source: Box<Error>,
    },
}

impl Error {
    /// The errno this error stands for: the peer's or the socket's own, else the closest one
    /// (`ETIMEDOUT`, `EMSGSIZE`, `EPROTO` for answers that make no sense, `ENOENT` for a
    /// family that is not served).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(Errno::EIO as i32),
            Error::Timeout => Errno::ETIMEDOUT as i32,
            Error::Remote(errno) => *errno,
            Error::Encode(e) => e.errno(),
            Error::Malformed(_) | Error::Stray { .. } => Errno::EPROTO as i32,
            Error::Oversized { .. } => Errno::EMSGSIZE as i32,
            Error::NotServed(_) => Errno::ENOENT as i32,
            Error::Family { source, .. } => source.errno(),
        }
    }

    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { op, source }
    }
}

impl From<Error> for i32 {
    /// The errno ([`Error::errno`]), so `?` works in functions that return `Result<_, i32>`.
    fn from(e: Error) -> i32 {
        e.errno()
    }
}

impl From<Error> for io::Error {
    /// A socket error as it came; any other with the kind of its errno, so `?` works in
    /// functions that return `io::Result` (the message stays, `raw_os_error` does not).
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { source, .. } => source,
            e => io::Error::new(io::Error::from_raw_os_error(e.errno()).kind(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_errno() {
        let io = |errno: Errno| Error::Io {
            op: "sending",
            source: io::Error::from(errno),
        };
        let cases = [
            (io(Errno::ECONNREFUSED), Errno::ECONNREFUSED),
            (
                Error::Io {
                    op: "x",
                    source: io::Error::other("no errno"),
                },
                Errno::EIO,
            ),
            (Error::Timeout, Errno::ETIMEDOUT),
            (Error::Remote(Errno::ENODEV as i32), Errno::ENODEV),
            (
                Error::Encode(odp::Error::Invalid("x")),
                Errno::from_raw(odp::Error::Invalid("x").errno()),
            ),
            (Error::Malformed(odp::Error::Invalid("x")), Errno::EPROTO),
            (Error::Oversized { len: 9, cap: 8 }, Errno::EMSGSIZE),
            (Error::Stray { got: 1, want: 2 }, Errno::EPROTO),
            (Error::NotServed("ovs_meter".into()), Errno::ENOENT),
            (
                Error::Family {
                    name: "ovs_flow".into(),
                    source: Box::new(io(Errno::EPERM)),
                },
                Errno::EPERM,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.errno(), want as i32, "{e}");
            assert_eq!(i32::from(e), want as i32);
        }
    }

    #[test]
    fn io_results_keep_socket_errors_and_the_kind_of_others() {
        let e = io::Error::from(Error::Io {
            op: "receiving",
            source: io::Error::from(Errno::ENOBUFS),
        });
        assert_eq!(e.raw_os_error(), Some(Errno::ENOBUFS as i32));
        let e = io::Error::from(Error::Timeout);
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "no answer in time");
    }

    #[test]
    fn remote_errors_read_like_strerror() {
        assert_eq!(
            Error::Remote(Errno::ENOENT as i32).to_string(),
            "the peer answered: No such file or directory"
        );
    }
}
