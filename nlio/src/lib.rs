//! Netlink I/O for dpswitch and its clients: one socket layer and one client.
//!
//! - [`NetlinkSocket`]: a `NETLINK_GENERIC` socket bound at a port id (0 lets the kernel pick
//!   one): unicast and group sends, receives with the sender's port id, credentials and a
//!   truncation flag, group membership, blocking, non-blocking and timed receives, buffer
//!   sizes (forced past the sysctl limits where the process may).
//! - [`Client`]: request/reply exchanges with one peer (a daemon's port id, or the kernel at
//!   port 0): `GETFAMILY` resolution, transactions, dumps collected or iterated, and raw
//!   datagrams for tools that send hostile input. Its [`Error`] names an errno for every
//!   failure.
//!
//! Framing and encoding are `odp`'s; this crate only moves datagrams and matches answers to
//! requests.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod error;
mod socket;

pub use client::{
    Client, Message, Replies, Timeout, DEFAULT_IDLE, OVS_FAMILIES, RECV_BUF, SOCKET_BUF,
};
pub use error::Error;
pub use socket::{Creds, NetlinkSocket, Received, Sender, NETLINK_GENERIC, NETLINK_NETFILTER};
