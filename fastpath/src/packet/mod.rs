//! Packet buffers and flow key extraction.

pub mod buf;
pub mod offload;
pub mod parse;

pub use buf::{PacketBuf, VecBuf};
pub use offload::{Gso, GsoKind, Offload, PartialCsum};
pub use parse::{
    extract, extract_prepared, extract_reuse, simple_match_frame, simple_match_mask, CtMeta,
    ExtractInfo, Metadata, ParseStatus, PreparedMeta, TunnelMeta,
};
