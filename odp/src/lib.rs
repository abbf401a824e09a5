//! The Open vSwitch datapath protocol, as the Linux `openvswitch` module speaks it,
//! and dpswitch's few additions to it.
//!
//! Pure Rust, no `unsafe`, no DPDK: shared by the `dpswitch` daemon and the `dpctl` CLI.
//!
//! Layers:
//! - [`nl`]: netlink / generic-netlink framing and the attribute codec
//!   (type-0 attributes, nests without `NLA_F_NESTED`, PAD skipping);
//! - [`ctrl`]: nlctrl `GETFAMILY` request/reply and the descriptions of the
//!   four OVS families;
//! - [`family`]: typed messages of `ovs_datapath`, `ovs_vport`, `ovs_flow` and
//!   `ovs_packet` (the families dpswitch serves; it has no `ovs_meter` or
//!   `ovs_ct_limit`), and [`family::parse_request`];
//! - [`key`]: flow keys/masks; [`validate`]: the kernel's key/mask rules;
//! - [`action`]: actions with parse/emit/validation;
//! - [`text`]: the ODP text syntax (`ovs-dpctl` flows and actions);
//! - [`error`]: one error type with [`Error::errno`];
//! - dpswitch's own: [`dpswitch`] (its default netlink port id, its family
//!   ids, `key=value` vport settings) and [`pmd_stats`] (`dpswitch_pmd`, its
//!   family for PMD statistics).
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
//!   [`ctrl::family_info`] (and [`pmd_stats::family_info`]) answer nlctrl
//!   `GETFAMILY`, [`pmd_stats::emit_reply`] answers `dpswitch_pmd`.
//!
//! CLI:
//! - build requests with [`family::OvsMessage::new`] + `emit`, parse replies
//!   with [`family::OvsMessage::parse`] / [`nl::classify`];
//! - [`text::parse_key`], [`text::parse_actions`], [`text::format_key`],
//!   [`text::format_actions`], [`text::format_dump_flow`],
//!   [`text::parse_ufid`] / [`text::format_ufid`];
//! - [`pmd_stats::emit_request`] / [`pmd_stats::parse_reply`] for PMD statistics.
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
pub mod ct_limit;
pub mod ctnetlink;
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
