//! The Open vSwitch datapath protocol, as the Linux `openvswitch` module speaks it.
//!
//! Pure Rust, no `unsafe`, no DPDK: shared by the `dpswitch` daemon and the `dpctl` CLI.
//!
//! Layers:
//! - [`nl`]: netlink / generic-netlink framing and the attribute codec
//!   (type-0 attributes, nests without `NLA_F_NESTED`, PAD skipping);
//! - [`ctrl`]: nlctrl `GETFAMILY` request/reply and the family descriptions;
//! - [`family`]: typed messages of `ovs_datapath`, `ovs_vport`, `ovs_flow` and
//!   `ovs_packet` (the families dpswitch serves; it has no `ovs_meter` or
//!   `ovs_ct_limit`), and [`family::parse_request`];
//! - [`key`]: flow keys/masks; [`validate`]: the kernel's key/mask rules;
//! - [`action`]: actions with parse/emit/validation;
//! - [`text`]: the ODP text syntax (`ovs-dpctl` flows and actions);
//! - [`error`]: one error type with [`Error::errno`].
//!
//! # Entry points
//!
//! Server (daemon):
//! - [`nl::messages`] splits a datagram; [`family::parse_request`] decodes each
//!   message into a typed [`family::Request`] (or an [`Error`] whose
//!   [`Error::errno`] goes into [`nl::ErrorMsg::from_error`]);
//! - [`validate::FlowMatch::new`] applies the kernel's key/mask rules,
//!   [`action::validate_actions`] the action rules;
//! - replies: [`family::OvsMessage::emit`] appends to a reusable `Vec<u8>`,
//!   [`family::flow::build_reply`] composes flow replies,
//!   [`nl::emit_done`] / [`nl::ErrorMsg::emit`] end dumps and transactions,
//!   [`ctrl::family_info`] answers nlctrl `GETFAMILY`.
//!
//! CLI:
//! - build requests with [`family::OvsMessage::new`] + `emit`, parse replies
//!   with [`family::OvsMessage::parse`] / [`nl::classify`];
//! - [`text::parse_key`], [`text::parse_actions`], [`text::format_key`],
//!   [`text::format_actions`], [`text::format_dump_flow`],
//!   [`text::parse_ufid`] / [`text::format_ufid`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss
)]

pub mod action;
pub mod ctrl;
pub mod dpswitch;
pub mod error;
pub mod family;
pub mod key;
pub mod nl;
pub mod pmd_stats;
pub mod text;
pub mod validate;

pub use error::{errno, Error, Result};
