//! Packet buffers and flow key extraction.

pub mod buf;
pub mod parse;

pub use buf::{PacketBuf, VecBuf};
pub use parse::{extract, ExtractInfo, Metadata, ParseStatus, TunnelMeta};
