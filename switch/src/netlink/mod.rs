//! The generic-netlink control plane: the server's socket and request handling.

pub mod socket;

pub use socket::{Creds, NetlinkSocket, Received, Sender};
