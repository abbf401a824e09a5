//! The `nsh(...)` attribute; the `push_nsh` and masked `set(nsh(...))`
//! actions print it the same way.

use super::F;
use crate::key::{NshBase, NshKey};

pub(super) fn format_nsh_key(f: &mut F<'_>, k: Option<&NshKey>, m: Option<&NshKey>) {
    let k = k.cloned().unwrap_or_default();
    let b = k.base.unwrap_or_default();
    let ctx = k.md1.unwrap_or_default().context;
    match m {
        None => f.s.push_str(&nsh_plain(&b, &ctx)),
        Some(m) => {
            // Parts missing from the mask count as exact (OVS
            // format_odp_nsh_attr starts from an all-ones mask).
            let mb = m.base.unwrap_or(NshBase {
                flags: 0xff,
                ttl: 0xff,
                mdtype: 0xff,
                np: 0xff,
                path_hdr: u32::MAX,
            });
            let mc = m.md1.map_or([u32::MAX; 4], |x| x.context);
            f.s.push_str(&nsh_masked(&b, &ctx, &mb, &mc));
        }
    }
}

/// OVS `format_nsh_key`.
pub(crate) fn nsh_plain(b: &NshBase, ctx: &[u32; 4]) -> String {
    let mut s = format!(
        "flags={},ttl={},mdtype={},np={},spi=0x{:x},si={}",
        b.flags,
        b.ttl,
        b.mdtype,
        b.np,
        b.path_hdr >> 8,
        b.path_hdr & 0xff
    );
    if b.mdtype == 1 {
        for (i, c) in ctx.iter().enumerate() {
            s.push_str(&format!(",c{}=0x{:x}", i + 1, c));
        }
    }
    s
}

/// OVS `format_nsh_key_mask`: zero-mask fields omitted, full masks plain.
pub(crate) fn nsh_masked(b: &NshBase, ctx: &[u32; 4], mb: &NshBase, mc: &[u32; 4]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let u8m = |parts: &mut Vec<String>, name: &str, v: u8, m: u8| match m {
        0 => {}
        0xff => parts.push(format!("{name}={v}")),
        _ => parts.push(format!("{name}=0x{v:02x}/0x{m:02x}")),
    };
    let u32m = |parts: &mut Vec<String>, name: &str, v: u32, m: u32| match m {
        0 => {}
        u32::MAX => parts.push(format!("{name}=0x{v:x}")),
        _ => parts.push(format!("{name}=0x{v:x}/0x{m:08x}")),
    };
    u8m(&mut parts, "flags", b.flags, mb.flags);
    u8m(&mut parts, "ttl", b.ttl, mb.ttl);
    u8m(&mut parts, "mdtype", b.mdtype, mb.mdtype);
    u8m(&mut parts, "np", b.np, mb.np);
    let spi_m = mb.path_hdr >> 8;
    u32m(
        &mut parts,
        "spi",
        b.path_hdr >> 8,
        if spi_m == 0x00ff_ffff {
            u32::MAX
        } else {
            spi_m
        },
    );
    u8m(
        &mut parts,
        "si",
        (b.path_hdr & 0xff) as u8,
        (mb.path_hdr & 0xff) as u8,
    );
    for i in 0..4 {
        u32m(&mut parts, &format!("c{}", i + 1), ctx[i], mc[i]);
    }
    parts.join(",")
}
