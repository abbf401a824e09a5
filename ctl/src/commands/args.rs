//! Argument parsing the commands share: `IFACE[,key=value]...` and C's `atoi`.

/// An `IFACE[,key=value]...` argument split into the name and its options, in order. A
/// double-quoted value may hold commas (`pmd-rxq-affinity="0:1,1:2"`); an unquoted
/// `devargs=` value runs to the end of the argument (DPDK devargs contain commas).
///
/// # Errors
/// `Invalid option format` for an option without a key.
pub fn split_iface(arg: &str) -> Result<(String, Vec<(String, String)>), String> {
    let (name, mut rest) = match arg.split_once(',') {
        Some((n, r)) => (n, r),
        None => (arg, ""),
    };
    let mut opts = Vec::new();
    loop {
        rest = rest.trim_start_matches(',');
        if rest.is_empty() {
            break;
        }
        let key_end = rest.find([',', '=']).unwrap_or(rest.len());
        let k = &rest[..key_end];
        if k.is_empty() {
            return Err("Invalid option format".to_string());
        }
        if !rest[key_end..].starts_with('=') {
            // A bare KEY.
            opts.push((k.to_string(), String::new()));
            rest = &rest[key_end..];
            continue;
        }
        let v = &rest[key_end + 1..];
        if let Some(q) = v.strip_prefix('"') {
            // A double-quoted value may hold commas.
            let end = q
                .find('"')
                .ok_or_else(|| format!("unterminated quoted {k} value"))?;
            opts.push((k.to_string(), q[..end].to_string()));
            rest = &q[end + 1..];
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err("Invalid option format".to_string());
            }
        } else if k == "devargs" {
            // DPDK devargs hold commas: unquoted, they take the rest of the argument.
            opts.push((k.to_string(), v.to_string()));
            rest = "";
        } else {
            let (val, r) = v.split_once(',').unwrap_or((v, ""));
            opts.push((k.to_string(), val.to_string()));
            rest = r;
        }
    }
    Ok((name.to_string(), opts))
}

/// C `atoi`: optional blanks and sign, then leading digits; anything else is 0.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |a, d| {
            a.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}
