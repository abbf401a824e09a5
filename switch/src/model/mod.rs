//! The authoritative model of the datapaths, owned by the control thread.

pub mod flows;

pub use flows::{FlowTable, FlowTableError};
