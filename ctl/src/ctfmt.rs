//! Connection-tracking text as `ovs-dpctl` prints and parses it (OVS `lib/ct-dpif.c`):
//! dump entries (`ct_dpif_format_entry()`), the statistics of `ct-stats-show`, zone limits,
//! and the tuple syntax of `flush-conntrack` (`ct_dpif_parse_tuple()`).

use std::fmt::Write;
use std::net::IpAddr;

use odp::ctnetlink::{status, Entry, Tuple, L4};

/// OVS's TCP states (`CT_DPIF_TCPS_*`), in enum order.
const TCP_STATES: [&str; 11] = [
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "CLOSE_WAIT",
    "FIN_WAIT_1",
    "CLOSING",
    "LAST_ACK",
    "FIN_WAIT_2",
    "TIME_WAIT",
];

/// The OVS TCP state of a kernel one (`nl_ct_tcp_state_to_dpif()`), as an index into
/// [`TCP_STATES`].
fn tcp_state(kernel: u8) -> usize {
    match kernel {
        1 | 9 => 2, // SYN_SENT, SYN_SENT2
        2 => 3,     // SYN_RECV
        3 => 4,     // ESTABLISHED
        4 => 6,     // FIN_WAIT → FIN_WAIT_1
        5 => 5,     // CLOSE_WAIT
        6 => 8,     // LAST_ACK
        7 => 10,    // TIME_WAIT
        8 => 7,     // CLOSE → CLOSING
        _ => 0,     // NONE and anything else → CLOSED
    }
}

/// The state printed for a TCP connection: FIN_WAIT_2 as TIME_WAIT, SYN_RECV as
/// ESTABLISHED (`ct_dpif_coalesce_tcp_state()`).
fn coalesced(state: usize) -> usize {
    match state {
        9 => 10,
        3 => 4,
        s => s,
    }
}

/// `ct_dpif_format_ipproto()`.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        33 => "dccp".into(),
        2 => "igmp".into(),
        n => n.to_string(),
    }
}

fn tuple(s: &mut String, t: &Tuple) {
    let _ = write!(s, "src={},dst={}", t.src, t.dst);
    match t.l4 {
        L4::Icmp { id, ty, code } => {
            let _ = write!(s, ",id={id},type={ty},code={code}");
        }
        L4::Ports { src, dst } => {
            let _ = write!(s, ",sport={src},dport={dst}");
        }
        L4::None => {}
    }
}

/// `0x` then the labels' big-endian bytes, leading zero bytes dropped, the first without
/// padding (`ds_put_hex()`).
fn labels(l: &[u8; 16]) -> String {
    let first = l.iter().position(|&b| b != 0).unwrap_or(15);
    let mut s = format!("0x{:x}", l[first]);
    for b in &l[first + 1..] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The `status=` flags of `-m` (`ct_dpif_status_flags`), in bit order.
fn status_flags(st: u32) -> String {
    const NAMES: [&str; 13] = [
        "EXPECTED",
        "SEEN_REPLY",
        "ASSURED",
        "CONFIRMED",
        "SRC_NAT",
        "DST_NAT",
        "SEQ_ADJUST",
        "SRC_NAT_DONE",
        "DST_NAT_DONE",
        "DYING",
        "FIXED_TIMEOUT",
        "TEMPLATE",
        "UNTRACKED",
    ];
    let names: Vec<&str> = (0..NAMES.len())
        .filter(|b| st & (1 << b) != 0)
        .map(|b| NAMES[b])
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// One `dump-conntrack` line (without the newline): `verbose` is `-m`, `stats` is `-s`.
/// dpswitch keeps no per-connection counters or timestamps, so `-s` adds only the timeout.
pub fn entry(e: &Entry, verbose: bool, stats: bool) -> String {
    let mut s = proto_name(e.orig.proto);
    s.push_str(",orig=(");
    tuple(&mut s, &e.orig);
    s.push_str("),reply=(");
    tuple(&mut s, &e.reply);
    s.push(')');
    if verbose {
        let _ = write!(s, ",id={}", e.id);
    }
    if e.zone != 0 {
        let _ = write!(s, ",zone={}", e.zone);
    }
    if verbose {
        let _ = write!(s, ",status={}", status_flags(e.status));
    }
    if stats {
        let _ = write!(s, ",timeout={}", e.timeout);
    }
    if e.mark != 0 {
        let _ = write!(s, ",mark={}", e.mark);
    }
    if e.labels != [0; 16] {
        let _ = write!(s, ",labels={}", labels(&e.labels));
    }
    if let Some(k) = e.tcp_state {
        let st = TCP_STATES[tcp_state(k)];
        if verbose {
            let _ = write!(
                s,
                ",protoinfo=(state_orig={st},state_reply={st},flags_orig=0,flags_reply=0)"
            );
        } else {
            let _ = write!(
                s,
                ",protoinfo=(state={})",
                TCP_STATES[coalesced(tcp_state(k))]
            );
        }
    }
    s
}

/// Whether `e` counts as established for `ct-stats-show`'s totals: not used by OVS, kept
/// here so the status bits stay in one place.
pub fn seen_reply(e: &Entry) -> bool {
    e.status & status::SEEN_REPLY != 0
}

/// `ct-stats-show` (`dpctl_ct_stats_show()`): totals per protocol, TCP states with `verbose`.
pub fn stats(entries: &[Entry], verbose: bool) -> String {
    let mut per = [0u32; 9];
    let mut tcp = [0u32; 11];
    for e in entries {
        let i = match e.orig.proto {
            6 => 0,
            17 => 1,
            136 => 2,
            132 => 3,
            1 => 4,
            58 => 5,
            33 => 6,
            2 => 7,
            _ => 8,
        };
        per[i] += 1;
        if let Some(k) = e.tcp_state {
            tcp[coalesced(tcp_state(k))] += 1;
        }
    }
    let mut s = format!(
        "Connections Stats:\n    Total: {}\n",
        per.iter().sum::<u32>()
    );
    if per[0] != 0 {
        let _ = writeln!(s, "  TCP: {}", per[0]);
        if verbose {
            s.push_str("    Conn per TCP states:\n");
            for (i, n) in tcp.iter().enumerate().filter(|(_, n)| **n != 0) {
                let _ = writeln!(s, "\t  [{}]={n}", TCP_STATES[i]);
            }
        }
    }
    // ICMPv6 counts in the total only, as in OVS.
    for (i, name) in [
        (1, "UDP"),
        (2, "UDPLITE"),
        (3, "SCTP"),
        (4, "ICMP"),
        (6, "DCCP"),
        (7, "IGMP"),
        (8, "Other"),
    ] {
        if per[i] != 0 {
            let _ = writeln!(s, "  {name}: {}", per[i]);
        }
    }
    s
}

/// Parses a `flush-conntrack` tuple (`ct_dpif_parse_tuple()`): `ct_nw_src=`, `ct_nw_dst=`,
/// `ct_ipv6_src=`, `ct_ipv6_dst=`, `ct_nw_proto=`, `ct_tp_src=`, `ct_tp_dst=`,
/// `icmp_type=`, `icmp_code=`, `icmp_id=`, comma separated.
///
/// # Errors
/// The message `ovs-dpctl` prints.
pub fn parse_tuple(s: &str) -> Result<Tuple, String> {
    let (mut src, mut dst): (Option<IpAddr>, Option<IpAddr>) = (None, None);
    let (mut proto, mut sport, mut dport) = (None, 0u16, 0u16);
    let (mut ty, mut code, mut id) = (None, None, None);
    for kv in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("invalid conntrack tuple field: {kv}"))?;
        let bad = || format!("failed to parse field {k}");
        match k {
            "ct_nw_src" | "ct_ipv6_src" => src = Some(v.parse().map_err(|_| bad())?),
            "ct_nw_dst" | "ct_ipv6_dst" => dst = Some(v.parse().map_err(|_| bad())?),
            "ct_nw_proto" => proto = Some(v.parse::<u8>().map_err(|_| bad())?),
            "ct_tp_src" => sport = v.parse().map_err(|_| bad())?,
            "ct_tp_dst" => dport = v.parse().map_err(|_| bad())?,
            "icmp_type" => ty = Some(v.parse::<u8>().map_err(|_| bad())?),
            "icmp_code" => code = Some(v.parse::<u8>().map_err(|_| bad())?),
            "icmp_id" => id = Some(v.parse::<u16>().map_err(|_| bad())?),
            _ => return Err(format!("invalid conntrack tuple field: {k}")),
        }
    }
    let (Some(src), Some(dst)) = (src, dst) else {
        return Err(
            "at least ct_nw_src/ct_ipv6_src and ct_nw_dst/ct_ipv6_dst must be given".into(),
        );
    };
    let proto = proto.ok_or("ct_nw_proto must be given")?;
    let l4 = if matches!(proto, 1 | 58) {
        L4::Icmp {
            id: id.unwrap_or(0),
            ty: ty.unwrap_or(0),
            code: code.unwrap_or(0),
        }
    } else {
        L4::Ports {
            src: sport,
            dst: dport,
        }
    };
    Ok(Tuple {
        src,
        dst,
        proto,
        l4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(zone: u16, mark: u32) -> Entry {
        let t = |a: &str, b: &str, s, d| Tuple {
            src: a.parse().unwrap(),
            dst: b.parse().unwrap(),
            proto: 17,
            l4: L4::Ports { src: s, dst: d },
        };
        Entry {
            orig: t("10.1.1.1", "10.1.1.2", 1, 2),
            reply: t("10.1.1.2", "10.1.1.1", 2, 1),
            status: status::CONFIRMED,
            id: 9,
            zone,
            timeout: 30,
            mark,
            labels: [0; 16],
            tcp_state: None,
        }
    }

    #[test]
    fn entries_print_as_ovs_dpctl_prints_them() {
        assert_eq!(
            entry(&udp(0, 170), false, false),
            "udp,orig=(src=10.1.1.1,dst=10.1.1.2,sport=1,dport=2),reply=(src=10.1.1.2,dst=10.1.1.1,sport=2,dport=1),mark=170"
        );
        let mut e = udp(5, 0);
        e.labels[11] = 0xaa;
        assert!(entry(&e, false, false).ends_with(",zone=5,labels=0xaa00000000"));
        assert!(entry(&e, true, true).contains(",id=9,zone=5,status=CONFIRMED,timeout=30,"));
        let mut t = udp(0, 0);
        t.orig.proto = 6;
        t.tcp_state = Some(2);
        assert!(entry(&t, false, false).starts_with("tcp,"));
        assert!(entry(&t, false, false).ends_with(",protoinfo=(state=ESTABLISHED)"));
        assert!(entry(&t, true, false).contains("state_orig=SYN_RECV"));
    }

    #[test]
    fn flush_tuples_parse_like_ovs() {
        let t = parse_tuple(
            "ct_nw_src=10.1.1.1,ct_nw_dst=10.1.1.2,ct_nw_proto=17,ct_tp_src=1,ct_tp_dst=2",
        )
        .unwrap();
        assert_eq!(t, udp(0, 0).orig);
        let i = parse_tuple(
            "ct_nw_src=1.1.1.1,ct_nw_dst=2.2.2.2,ct_nw_proto=1,icmp_type=8,icmp_code=0,icmp_id=10",
        )
        .unwrap();
        assert_eq!(
            i.l4,
            L4::Icmp {
                id: 10,
                ty: 8,
                code: 0
            }
        );
        assert!(parse_tuple("ct_nw_src=1.1.1.1").is_err());
        assert!(parse_tuple("bogus=1").is_err());
    }
}
