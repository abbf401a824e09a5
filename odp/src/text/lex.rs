//! Small lexing helpers shared by the key and action parsers.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

pub(crate) fn syn(pos: usize, msg: impl Into<String>) -> Error {
    Error::Syntax {
        pos,
        msg: msg.into(),
    }
}

/// Split `s` at top-level commas (outside parentheses/braces).
pub(crate) fn split_top(s: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(syn(i, "unbalanced ')'"));
                }
            }
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(syn(s.len(), "unbalanced '('"));
    }
    let last = s[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    Ok(out.into_iter().filter(|x| !x.is_empty()).collect())
}

/// Split `name(args)` into name and args (the whole item must be consumed).
pub(crate) fn call(item: &str) -> Option<(&str, &str)> {
    let open = item.find('(')?;
    if !item.ends_with(')') {
        return None;
    }
    Some((&item[..open], &item[open + 1..item.len() - 1]))
}

/// Parse an integer with C `%i` semantics (decimal, `0x` hex, leading-0 octal).
pub(crate) fn int(s: &str) -> Result<u64> {
    let s = s.trim();
    let (neg, t) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8)
    } else {
        t.parse::<u64>()
    }
    .map_err(|_| syn(0, format!("bad number '{s}'")))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// An integer that must fit `bits` bits, as a `T` at least that wide.
pub(crate) fn uint<T: TryFrom<u64>>(s: &str, bits: u32) -> Result<T> {
    let v = int(s)?;
    let out_of_range = || syn(0, format!("'{s}' out of range"));
    if bits < 64 && v >> bits != 0 {
        // %i into a narrower type truncates in C; reject instead: clearer.
        return Err(out_of_range());
    }
    T::try_from(v).map_err(|_| out_of_range())
}

/// `value[/mask]` split.
pub(crate) fn vm(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

pub(crate) fn ipv4(s: &str) -> Result<Ipv4Addr> {
    s.trim()
        .parse()
        .map_err(|_| syn(0, format!("bad IPv4 address '{s}'")))
}

pub(crate) fn ipv6(s: &str) -> Result<Ipv6Addr> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    t.parse()
        .map_err(|_| syn(0, format!("bad IPv6 address '{s}'")))
}

pub(crate) fn mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        return Err(syn(0, format!("bad MAC '{s}'")));
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return Err(syn(0, format!("bad MAC '{s}'")));
        }
        m[i] = u8::from_str_radix(p, 16).map_err(|_| syn(0, format!("bad MAC '{s}'")))?;
    }
    Ok(m)
}

pub(crate) fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// C `%#x`: `0` for zero, `0x…` otherwise.
pub(crate) fn cx(v: u64) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

/// Hex bytes like OVS `ds_put_hex`: `0x` + hex without leading zero bytes,
/// or `0`.
pub(crate) fn put_hex(b: &[u8]) -> String {
    let mut s = String::new();
    let mut printed = false;
    for &v in b {
        if v != 0 || printed {
            if printed {
                s.push_str(&format!("{v:02x}"));
            } else {
                s.push_str(&format!("0x{v:x}"));
            }
            printed = true;
        }
    }
    if !printed {
        s.push('0');
    }
    s
}

/// Parse a hex byte string into exactly `n` bytes (right-aligned), accepting
/// an optional `0x` prefix, like OVS `parse_int_string`.
pub(crate) fn hex_n(s: &str, n: usize) -> Result<Vec<u8>> {
    let t = s.trim();
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit()) || h.len() > 2 * n {
        return Err(syn(0, format!("bad hex '{s}'")));
    }
    let padded = format!("{:0>width$}", h, width = 2 * n);
    (0..n)
        .map(|i| u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|_| syn(0, "bad hex")))
        .collect()
}

/// Plain hex bytes (`userdata(0102)`), even length.
pub(crate) fn hex_bytes(s: &str) -> Result<Vec<u8>> {
    let h = s.trim();
    if h.len() % 2 != 0 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(syn(0, format!("bad hex '{s}'")));
    }
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| syn(0, "bad hex")))
        .collect()
}

/// Parse `name=value` items of a struct attribute into (name, value).
pub(crate) fn fields(args: &str) -> Result<Vec<(&str, &str)>> {
    split_top(args)?
        .into_iter()
        .map(|it| {
            let eq = it.find('=');
            let paren = it.find('(');
            match (eq, paren) {
                (Some(e), Some(p)) if p < e => Ok((it, "")),
                (Some(e), _) => Ok((it[..e].trim(), it[e + 1..].trim())),
                _ => Ok((it, "")),
            }
        })
        .collect()
}
