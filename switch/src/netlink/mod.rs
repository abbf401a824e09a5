//! The netlink control plane: the server socket and the generic-netlink server.

pub mod mcast;
pub mod pmd_family;
pub mod server;
pub mod socket;

pub use server::{Server, FAMILY_IDS};
pub use socket::{Creds, NetlinkSocket, Received, Sender};
