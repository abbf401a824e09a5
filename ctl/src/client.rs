//! dpctl's connection to the daemon: an [`nlio::Client`] with the OVS families resolved, and
//! the error line for a daemon that cannot be used, worded for dpctl's users.
//!
//! Errors of requests are positive errno values ([`nlio::Error::errno`]; `?` converts), so
//! commands print them the way `ovs-dpctl` does.

use std::time::Duration;

use nlio::Error;
pub use nlio::{Client, Timeout};

pub use odp::errno::{ECONNREFUSED, ENOENT, EPERM, EPROTO, ETIMEDOUT};

/// Without `-t`, how long a silent daemon is waited for.
pub const DEFAULT_IDLE: Duration = nlio::DEFAULT_IDLE;

/// Why the daemon could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// What failed, for the error line.
    pub context: String,
    /// The errno.
    pub errno: i32,
}

/// Opens a socket and resolves the OVS families at the daemon's port id `daemon`; all are
/// mandatory (the kernel module is "not loaded" without any of them).
///
/// # Errors
/// `ECONNREFUSED` when nothing listens at `daemon`, `ETIMEDOUT` when it does not answer,
/// `ENOENT` when it does not serve a family.
pub fn connect(daemon: u32, timeout: Timeout) -> Result<Client, ConnectError> {
    Client::connect(daemon, timeout).map_err(|e| {
        let errno = e.errno();
        let context = match &e {
            Error::Family { name, .. } => match errno {
                ECONNREFUSED => format!("no dpswitch is listening at netlink port id {daemon}"),
                // The kernel lets only CAP_NET_ADMIN send to another socket of this
                // protocol.
                EPERM => format!(
                    "sending to dpswitch at netlink port id {daemon} is not permitted (needs CAP_NET_ADMIN)"
                ),
                ETIMEDOUT => format!(
                    "dpswitch at netlink port id {daemon} did not answer within {}",
                    match timeout {
                        Timeout::Deadline(_) => "the timeout".to_string(),
                        Timeout::Idle(d) => format!("{} s", d.as_secs()),
                    }
                ),
                _ => format!(
                    "resolving generic netlink family {name} at netlink port id {daemon} failed"
                ),
            },
            _ => "opening a generic netlink socket".to_string(),
        };
        ConnectError { context, errno }
    })
}

/// A request of a family outside the four OVS ones (dpswitch's private
/// [`odp::pmd_stats`] family): resolves `family` by name, lets `build` append the request
/// for the given family id, sequence number and local port id, and returns the payloads
/// (after `nlmsghdr`) of the data messages answering it.
///
/// # Errors
/// `ENOENT` when the daemon does not serve `family`; otherwise the errno of the daemon's
/// `NLMSG_ERROR` or of the transport.
pub fn private_request(
    c: &mut Client,
    family: &str,
    build: impl FnOnce(&mut Vec<u8>, u16, u32, u32) -> odp::Result<()>,
) -> crate::dpif::Result<Vec<Vec<u8>>> {
    Ok(c.family_request(family, build)?
        .into_iter()
        .map(|(_, payload)| payload)
        .collect())
}
