//! ODP text syntax: flows and actions as `ovs-dpctl` prints and accepts them
//! (OVS `lib/odp-util.c`: `odp_flow_format()`, `odp_flow_from_string()`,
//! `format_odp_actions()`, `odp_actions_from_string()`), the UFID text form
//! (`odp_format_ufid()`, `odp_ufid_from_string()`) and the `dump-flows` line
//! (`format_dpif_flow()` in OVS `lib/dpctl.c`).
//!
//! Canonical strings are those this formatter produces for keys in the
//! kernel's attribute order ([`crate::key::FlowKey::emit`]): for them
//! `format(parse(s)) == s`.

use std::collections::HashMap;

mod actions;
mod keyfmt;
mod keyparse;
mod lex;

pub use actions::{format_actions, parse_actions};
pub use keyfmt::format_key;
pub use keyparse::parse_key;

/// Port number ↔ name map for `--names` output and name input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortNames {
    by_no: HashMap<u32, String>,
    by_name: HashMap<String, u32>,
}

impl PortNames {
    /// Empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add a port.
    pub fn insert(&mut self, no: u32, name: &str) {
        self.by_no.insert(no, name.to_owned());
        self.by_name.insert(name.to_owned(), no);
    }
    /// Name of a port number.
    pub fn name(&self, no: u32) -> Option<&str> {
        self.by_no.get(&no).map(String::as_str)
    }
    /// Number of a port name.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }
}

/// Formatting options.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatOptions<'a> {
    /// `-m`: print every attribute and sub-field, wildcards as `0/0`.
    pub verbose: bool,
    /// Print port names instead of numbers where known.
    pub names: Option<&'a PortNames>,
}

/// Format a 16-byte UFID as `ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
/// (four native-endian u32 words, like OVS's `UUID_FMT`).
pub fn format_ufid(ufid: &[u8; 16]) -> String {
    let w = |i: usize| {
        u32::from_ne_bytes([
            ufid[i * 4],
            ufid[i * 4 + 1],
            ufid[i * 4 + 2],
            ufid[i * 4 + 3],
        ])
    };
    let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3));
    format!(
        "ufid:{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}",
        w0,
        w1 >> 16,
        w1 & 0xffff,
        w2 >> 16,
        w2 & 0xffff,
        w3
    )
}

/// Parse a leading `ufid:UUID`; returns the UFID and the number of bytes
/// consumed, or `None` if `s` does not start with `ufid:`.
///
/// # Errors
/// `EINVAL` if the prefix is present but the UUID is malformed.
pub fn parse_ufid(s: &str) -> crate::Result<Option<([u8; 16], usize)>> {
    let Some(rest) = s.strip_prefix("ufid:") else {
        return Ok(None);
    };
    let bad = || crate::Error::Syntax {
        pos: 5,
        msg: "malformed UFID".into(),
    };
    let b = rest.as_bytes();
    if b.len() < 36 {
        return Err(bad());
    }
    let groups = [(0usize, 8usize), (9, 4), (14, 4), (19, 4), (24, 12)];
    for &d in &[8usize, 13, 18, 23] {
        if b[d] != b'-' {
            return Err(bad());
        }
    }
    let mut hex = String::with_capacity(32);
    for (o, l) in groups {
        let part = rest.get(o..o + l).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        hex.push_str(part);
    }
    let word = |i: usize| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map_err(|_| bad());
    let (w0, w1, w2, w3) = (word(0)?, word(1)?, word(2)?, word(3)?);
    let mut out = [0u8; 16];
    for (i, w) in [w0, w1, w2, w3].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    Ok(Some((out, 5 + 36)))
}

/// Format a `used:` value: milliseconds since last use, or never.
pub fn format_used(now_ms: u64, used_ms: Option<u64>) -> String {
    match used_ms {
        None | Some(0) => "used:never".to_owned(),
        Some(u) => {
            let d = now_ms.saturating_sub(u);
            format!("used:{}.{:03}s", d / 1000, d % 1000)
        }
    }
}

/// Format TCP flags tcpdump-style for `flags:` (S F P R U . E C N, then
/// the reserved bits as `[200] [400] [800]`).
pub fn format_tcp_flags_short(flags: u16) -> String {
    let table: [(u16, &str); 12] = [
        (0x002, "S"),
        (0x001, "F"),
        (0x008, "P"),
        (0x004, "R"),
        (0x020, "U"),
        (0x010, "."),
        (0x040, "E"),
        (0x080, "C"),
        (0x100, "N"),
        (0x200, "[200]"),
        (0x400, "[400]"),
        (0x800, "[800]"),
    ];
    table
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, s)| *s)
        .collect()
}

/// The pieces of one `dump-flows` line.
#[derive(Debug, Clone)]
pub struct DumpFlowLine<'a> {
    /// UFID (printed only with `verbose`).
    pub ufid: Option<&'a [u8; 16]>,
    /// Key.
    pub key: &'a crate::key::FlowKey,
    /// Mask (if the reply had one).
    pub mask: Option<&'a crate::key::FlowMask>,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// `used` in CLOCK_MONOTONIC ms.
    pub used_ms: Option<u64>,
    /// Current CLOCK_MONOTONIC ms.
    pub now_ms: u64,
    /// TCP flags seen.
    pub tcp_flags: u16,
    /// Actions (`None` when omitted).
    pub actions: Option<&'a [crate::action::Action]>,
}

/// Format a `dump-flows` line like OVS's `format_dpif_flow()` (`lib/dpctl.c`):
/// `[ufid:UUID, ]KEY, packets:N, bytes:N, used:T[, flags:F][, dp:ovs], actions:A`.
pub fn format_dump_flow(l: &DumpFlowLine<'_>, opts: &FormatOptions<'_>) -> String {
    let mut s = String::new();
    if opts.verbose {
        if let Some(u) = l.ufid {
            s.push_str(&format_ufid(u));
            s.push_str(", ");
        }
    }
    s.push_str(&format_key(l.key, l.mask, opts));
    s.push_str(&format!(
        ", packets:{}, bytes:{}, {}",
        l.packets,
        l.bytes,
        format_used(l.now_ms, l.used_ms)
    ));
    if l.tcp_flags != 0 {
        s.push_str(", flags:");
        s.push_str(&format_tcp_flags_short(l.tcp_flags));
    }
    if opts.verbose {
        s.push_str(", dp:ovs");
    }
    s.push_str(", actions:");
    match l.actions {
        Some(a) => s.push_str(&format_actions(a, opts.names)),
        None => s.push_str("drop"),
    }
    s
}
