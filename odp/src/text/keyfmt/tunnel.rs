//! The `tunnel(...)` attribute, with its Geneve, VXLAN and ERSPAN options.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::flags::{flags_masked, flags_str, tun_flag_name};
use super::{hex_plain, F};
use crate::key::TunnelKey;
use crate::text::lex::{cx, put_hex};

pub(super) fn format_tunnel(f: &mut F<'_>, t: Option<&TunnelKey>, m: Option<TunnelKey>) {
    let t = t.cloned().unwrap_or_default();
    let mut flags = 0u32;
    let mut mflags = 0u32;
    let mm = m.as_ref();
    if let Some(id) = t.id {
        let mv = mm.map(|x| x.id.unwrap_or(0));
        if f.verbose || mv != Some(0) {
            f.s.push_str(&format!("tun_id=0x{id:x}"));
            if let Some(x) = mv.filter(|x| *x != u64::MAX) {
                f.s.push_str(&format!("/{}", cx(x)));
            }
            f.s.push(',');
        }
        flags |= 8;
        if mm.is_some() {
            mflags |= 8;
        }
    }
    let z4 = Ipv4Addr::UNSPECIFIED;
    let z6 = Ipv6Addr::UNSPECIFIED;
    if let Some(a) = t.ipv4_src {
        f.ipv4("src", a, mm.map(|x| x.ipv4_src.unwrap_or(z4)));
    }
    if let Some(a) = t.ipv4_dst {
        f.ipv4("dst", a, mm.map(|x| x.ipv4_dst.unwrap_or(z4)));
    }
    if let Some(a) = t.ipv6_src {
        f.in6("ipv6_src", a, mm.map(|x| x.ipv6_src.unwrap_or(z6)));
    }
    if let Some(a) = t.ipv6_dst {
        f.in6("ipv6_dst", a, mm.map(|x| x.ipv6_dst.unwrap_or(z6)));
    }
    if let Some(v) = t.tos {
        f.u8x("tos", v, mm.map(|x| x.tos.unwrap_or(0)));
    }
    if let Some(v) = t.ttl {
        f.u8u("ttl", v, mm.map(|x| x.ttl.unwrap_or(0)));
    }
    if t.dont_fragment {
        flags |= 2;
    }
    if t.csum {
        flags |= 4;
    }
    if let Some(v) = t.tp_src {
        f.be16("tp_src", v, mm.map(|x| x.tp_src.unwrap_or(0)));
    }
    if let Some(v) = t.tp_dst {
        f.be16("tp_dst", v, mm.map(|x| x.tp_dst.unwrap_or(0)));
    }
    if t.oam {
        flags |= 1;
    }
    if let Some(g) = &t.geneve_opts {
        f.s.push_str("geneve(");
        let gm = mm.map(|x| x.geneve_opts.clone().unwrap_or_else(|| vec![0; g.len()]));
        format_geneve(f, g, gm.as_deref());
        f.s.push_str("),");
    }
    if let Some(v) = &t.vxlan_opts {
        f.s.push_str("vxlan(");
        if let Some(g) = v.gbp {
            let gm = mm.map(|x| x.vxlan_opts.and_then(|o| o.gbp).unwrap_or(0));
            f.s.push_str("gbp(");
            // The GBP word is flags << 16 | id; OVS shows the id's 16 bits and
            // 8 flag bits, and so do we.
            f.be16("id", (g & 0xffff) as u16, gm.map(|m| (m & 0xffff) as u16));
            f.u8x(
                "flags",
                ((g >> 16) & 0xff) as u8,
                gm.map(|m| ((m >> 16) & 0xff) as u8),
            );
            f.chomp();
            f.s.push_str("),");
        }
        f.chomp();
        f.s.push_str("),");
    }
    if let Some(e) = &t.erspan_opts {
        let em = mm.map(|x| x.erspan_opts.clone().unwrap_or_else(|| vec![0; e.len()]));
        format_erspan(f, e, em.as_deref());
    }
    if let Some(m) = mm {
        if m.dont_fragment {
            mflags |= 2;
        }
        if m.csum {
            mflags |= 4;
        }
        if m.oam {
            mflags |= 1;
        }
    }
    let mask_empty = mm.is_some() && mflags == 0;
    if f.verbose || !mask_empty {
        f.s.push_str("flags(");
        if mm.is_some() {
            f.s.push_str(&flags_masked(flags, mflags & 0xf, 0xf, &tun_flag_name));
        } else {
            f.s.push_str(&flags_str(flags, &tun_flag_name, '|'));
        }
        f.s.push_str("),");
    }
    f.chomp();
}

/// `struct erspan_metadata`: `int version` (host order), then v1 `be32
/// index` or v2 `erspan_md2` (dir = bit 3, hwid = bits 4..7 of byte 11).
fn format_erspan(f: &mut F<'_>, e: &[u8], m: Option<&[u8]>) {
    if e.len() != 12 || m.is_some_and(|m| m.len() != 12) {
        f.s.push_str(&format!("erspan({}),", hex_plain(e)));
        return;
    }
    let ver = e[0];
    f.s.push_str("erspan(");
    f.u8u("ver", ver, m.map(|m| m[0]));
    let ver_full = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
    if ver_full == 1 {
        let idx = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
        match m {
            Some(m) => {
                let mi = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                f.s.push_str(&format!("idx={}/{},", cx(idx as u64), cx(mi as u64)));
            }
            None => f.s.push_str(&format!("idx={},", cx(idx as u64))),
        }
    } else if ver_full == 2 {
        f.u8u("dir", (e[11] >> 3) & 1, m.map(|m| (m[11] >> 3) & 1));
        f.u8x("hwid", e[11] >> 4, m.map(|m| m[11] >> 4));
    }
    f.chomp();
    f.s.push_str("),");
}

fn format_geneve(f: &mut F<'_>, g: &[u8], m: Option<&[u8]>) {
    let mut off = 0;
    while off < g.len() {
        if g.len() - off < 4 {
            f.s.push_str(&format!("opt len {} less than minimum 4", g.len() - off));
            return;
        }
        let class = u16::from_be_bytes([g[off], g[off + 1]]);
        let ty = g[off + 2];
        // The option length is 5 bits of 4-byte words: at most 124 bytes.
        let dlen_u8 = (g[off + 3] & 0x1f) * 4;
        let dlen = usize::from(dlen_u8);
        let mo = m.map(|m| {
            let b = |i: usize| m.get(off + i).copied().unwrap_or(0);
            (u16::from_be_bytes([b(0), b(1)]), b(2), b(3) & 0x1f)
        });
        if off + 4 + dlen > g.len() {
            f.s.push_str(&format!(
                "opt len {} greater than remaining {}",
                4 + dlen,
                g.len() - off
            ));
            return;
        }
        f.s.push('{');
        f.be16x("class", class, mo.map(|x| x.0));
        f.u8x("type", ty, mo.map(|x| x.1));
        let lm = mo.map(|x| if x.2 == 0x1f { 0xff } else { x.2 });
        f.u8u("len", dlen_u8, lm);
        let data = &g[off + 4..off + 4 + dlen];
        let mdata: Option<Vec<u8>> = m.map(|m| {
            (0..dlen)
                .map(|i| m.get(off + 4 + i).copied().unwrap_or(0))
                .collect()
        });
        if dlen > 0 && (f.verbose || mdata.as_ref().is_none_or(|d| d.iter().any(|&x| x != 0))) {
            f.s.push_str(&put_hex(data));
            if let Some(d) = mdata.filter(|d| d.iter().any(|&x| x != 0xff)) {
                f.s.push('/');
                f.s.push_str(&put_hex(&d));
            }
        } else {
            f.chomp();
        }
        f.s.push('}');
        off += 4 + dlen;
    }
}
