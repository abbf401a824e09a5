//! The Open vSwitch datapath protocol, as the Linux `openvswitch` module speaks it.
//!
//! Pure Rust, no `unsafe`, no DPDK: shared by the `dpswitch` daemon and the `dpctl` CLI.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod error;
pub mod key;
pub mod nl;
pub mod validate;

pub use error::{errno, Error, Result};
