//! The Open vSwitch datapath protocol, as the Linux `openvswitch` module speaks it.
//!
//! Pure Rust, no `unsafe`, no DPDK: shared by the `dpswitch` daemon and the `dpctl` CLI.
//!
//! Layers:
//! - [`nl`]: netlink / generic-netlink framing and the attribute codec
//!   (type-0 attributes, nests without `NLA_F_NESTED`, PAD skipping);
//! - [`ctrl`]: nlctrl `GETFAMILY` request/reply and the family descriptions;
//! - [`family`]: typed messages of `ovs_datapath`, `ovs_vport`, `ovs_flow`,
//!   `ovs_packet`, `ovs_meter`, `ovs_ct_limit`, and [`family::parse_request`];
//! - [`key`]: flow keys/masks; [`validate`]: the kernel's key/mask rules;
//! - [`action`]: actions with parse/emit/validation;
//! - [`text`]: the ODP text syntax (`ovs-dpctl` flows and actions);
//! - [`error`]: one error type with [`Error::errno`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod ctrl;
pub mod dpswitch;
pub mod error;
pub mod family;
pub mod key;
pub mod nl;
pub mod text;
pub mod validate;

pub use error::{errno, Error, Result};
