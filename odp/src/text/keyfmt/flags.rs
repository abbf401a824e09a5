//! Flag sets (`ct_state`, `tcp_flags`, tunnel `flags`): the bit names, which
//! the parser reads too, and the `a|b` and `+a-b` forms.

pub(super) fn flags_str(v: u32, names: &dyn Fn(u32) -> Option<&'static str>, del: char) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut s = String::new();
    let mut bad = 0u32;
    let mut f = v;
    while f != 0 {
        let bit = f & f.wrapping_neg();
        match names(bit) {
            Some(n) => {
                s.push_str(n);
                s.push(del);
            }
            None => bad |= bit,
        }
        f &= !bit;
    }
    if bad != 0 {
        s.push_str(&format!("0x{bad:x}{del}"));
    }
    s.pop();
    s
}

pub(super) fn flags_masked(
    v: u32,
    m: u32,
    max: u32,
    names: &dyn Fn(u32) -> Option<&'static str>,
) -> String {
    if m == max {
        return flags_str(v, names, '|');
    }
    if m == 0 {
        return "0/0".into();
    }
    let mut s = String::new();
    let mut mm = m;
    while mm != 0 {
        let bit = mm & mm.wrapping_neg();
        s.push(if v & bit != 0 { '+' } else { '-' });
        s.push_str(names(bit).unwrap_or("[Unknown]"));
        mm &= !bit;
    }
    s
}

pub(crate) fn ct_state_name(b: u32) -> Option<&'static str> {
    Some(match b {
        0x08 => "rpl",
        0x20 => "trk",
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x10 => "inv",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

pub(crate) fn tcp_flag_name(b: u32) -> Option<&'static str> {
    Some(match b {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
    })
}

pub(crate) fn tun_flag_name(b: u32) -> Option<&'static str> {
    Some(match b {
        1 => "oam",
        2 => "df",
        4 => "csum",
        8 => "key",
        _ => return None,
    })
}
