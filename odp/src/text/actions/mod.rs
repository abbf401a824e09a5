//! Action formatter and parser, following OVS `format_odp_actions` and
//! `odp_actions_from_string`.

use super::lex::uint;
use super::PortNames;
use crate::error::Result;

mod cookie;
mod ct;
mod format;
mod parse;

pub use format::format_actions;
pub use parse::parse_actions;

// Shared by the formatter, the parser and the ct and cookie syntaxes.

fn port(p: u32, names: Option<&PortNames>) -> String {
    names
        .and_then(|n| n.name(p))
        .map_or_else(|| p.to_string(), str::to_owned)
}

fn num32(s: &str) -> Result<u32> {
    uint(s, 32)
}

fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([d[o], d[o + 1]])
}
fn rd32(d: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}
