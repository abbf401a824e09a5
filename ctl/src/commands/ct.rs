//! The conntrack commands of `ovs-dpctl` (OVS `lib/dpctl.c`) for dpswitch's tracker, which
//! dpswitch serves as the kernel serves a system datapath's: connections over ctnetlink
//! (`dump-conntrack`, `flush-conntrack`, `ct-stats-show`, and the counts of
//! `ct-get-nconns` / `ct-get-maxconns`, which ovs-dpctl itself cannot get from a kernel),
//! zone limits over `ovs_ct_limit`.

use nlio::Client;
use odp::ct_limit::{self, CtLimitMsg, ZoneLimit, DEFAULT_ZONE};
use odp::ctnetlink::{self as ctnl, msg, Entry, Request, AF_INET, AF_INET6, AF_UNSPEC};
use odp::nl::flags;

use super::Ctx;
use crate::client;
use crate::ctfmt;
use crate::dpif::EINVAL;

/// `EOPNOTSUPP`.
const EOPNOTSUPP: i32 = 95;

/// A ctnetlink socket to the daemon.
fn ctnetlink(ctx: &mut Ctx<'_>) -> Result<Client, i32> {
    let pid = ctx.o.daemon_pid();
    Client::open_protocol(nlio::NETLINK_NETFILTER, pid).map_err(|e| {
        let e = e.errno();
        ctx.error(e, "opening a ctnetlink socket");
        e
    })
}

/// Sends `req` (as a dump with `dump`) and returns the payloads of the data messages.
fn exchange(c: &mut Client, req: &Request, dump: bool) -> Result<Vec<Vec<u8>>, i32> {
    let seq = c.next_seq();
    let mut b = Vec::new();
    let f = flags::REQUEST | flags::ACK | if dump { flags::DUMP } else { 0 };
    ctnl::emit_request(&mut b, f, seq, 0, req).map_err(|e| e.errno())?;
    c.exchange(&b, seq)
        .map(|m| m.into_iter().map(|(_, p)| p).collect())
        .map_err(|e| e.errno())
}

/// Every connection (of `zone`).
fn dump_entries(ctx: &mut Ctx<'_>, zone: Option<u16>) -> Result<Vec<Entry>, i32> {
    let mut c = ctnetlink(ctx)?;
    let req = Request {
        msg: msg::GET,
        family: AF_UNSPEC,
        zone: None,
        orig: None,
        id: None,
        other_filter: false,
    };
    let payloads =
        exchange(&mut c, &req, true).map_err(|e| ctx.error(e, "starting conntrack dump"))?;
    let mut v = Vec::new();
    for p in payloads {
        let e =
            ctnl::parse_entry(&p).map_err(|e| ctx.error(e.errno(), "dumping conntrack entry"))?;
        if zone.is_none_or(|z| z == e.zone) {
            v.push(e);
        }
    }
    Ok(v)
}

/// Takes a trailing `zone=N` off `argv`.
fn take_zone(argv: &mut Vec<String>) -> Option<u16> {
    let z = argv.last()?.strip_prefix("zone=")?.parse().ok()?;
    argv.pop();
    Some(z)
}

/// `dump-conntrack [-m] [-s] [dp] [zone=N]`.
pub(super) fn dump_conntrack(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mut argv = argv.to_vec();
    let zone = take_zone(&mut argv);
    if let Err(e) = ctx.opt_dpif_open(&argv, 2) {
        return e;
    }
    match dump_entries(ctx, zone) {
        Ok(entries) => {
            let (verbose, stats) = (ctx.o.verbosity > 0, ctx.o.statistics);
            let text: String = entries
                .iter()
                .map(|e| ctfmt::entry(e, verbose, stats) + "\n")
                .collect();
            ctx.print(&text);
            0
        }
        Err(e) => e,
    }
}

/// `flush-conntrack [dp] [zone=N] [ct-tuple]`.
pub(super) fn flush_conntrack(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mut argv = argv.to_vec();
    let mut tuple = None;
    if argv.len() > 1 {
        let last = argv[argv.len() - 1].clone();
        if last.contains("ct_nw_") || last.contains("ct_ipv6_") {
            match ctfmt::parse_tuple(&last) {
                Ok(t) => tuple = Some(t),
                Err(m) => return ctx.error(EINVAL, &m),
            }
            argv.pop();
        }
    }
    let zone = take_zone(&mut argv);
    if argv.len() > 2 {
        return ctx.error(EINVAL, "invalid arguments");
    }
    if let Err(e) = ctx.opt_dpif_open(&argv, 2) {
        return e;
    }
    let mut c = match ctnetlink(ctx) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let req = match tuple {
        Some(t) => Request {
            msg: msg::DELETE,
            family: if t.src.is_ipv6() { AF_INET6 } else { AF_INET },
            zone: Some(zone.unwrap_or(0)),
            orig: Some(t),
            id: None,
            other_filter: false,
        },
        None => Request {
            msg: msg::DELETE,
            family: AF_UNSPEC,
            zone,
            orig: None,
            id: None,
            other_filter: false,
        },
    };
    match exchange(&mut c, &req, false) {
        Ok(_) => 0,
        Err(e) => ctx.error(e, "failed to flush conntrack"),
    }
}

/// The connection count and the global limit.
fn stats(ctx: &mut Ctx<'_>) -> Result<(u32, u32), i32> {
    let mut c = ctnetlink(ctx)?;
    let req = Request {
        msg: msg::GET_STATS,
        family: AF_UNSPEC,
        zone: None,
        orig: None,
        id: None,
        other_filter: false,
    };
    let p = exchange(&mut c, &req, false)?;
    p.first()
        .and_then(|p| ctnl::parse_stats(p).ok())
        .ok_or(EINVAL)
}

/// Prints one of the global counts (`pick` from connections and limit), or `what` could
/// not be retrieved.
fn print_count(ctx: &mut Ctx<'_>, argv: &[String], pick: fn((u32, u32)) -> u32, what: &str) -> i32 {
    if let Err(e) = ctx.opt_dpif_open(argv, 2) {
        return e;
    }
    match stats(ctx) {
        Ok(s) => {
            ctx.print(&format!("{}\n", pick(s)));
            0
        }
        Err(e) => ctx.error(e, &format!("{what} could not be retrieved")),
    }
}

/// `ct-get-nconns [dp]`.
pub(super) fn ct_get_nconns(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    print_count(ctx, argv, |(n, _)| n, "nconns")
}

/// `ct-get-maxconns [dp]`.
pub(super) fn ct_get_maxconns(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    print_count(ctx, argv, |(_, max)| max, "maxconns")
}

/// `ct-set-maxconns [dp] N`: as on a system datapath, the limit is the daemon's setting
/// (`dpswitch --ct-max-conns`), not changed at run time.
pub(super) fn ct_set_maxconns(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if let Err(e) = ctx.opt_dpif_open(argv, 3) {
        return e;
    }
    ctx.error(EOPNOTSUPP, "ct set maxconns failed")
}

/// `ct-stats-show [dp] [zone=N]` (`-m`: TCP states too).
pub(super) fn ct_stats_show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mut argv = argv.to_vec();
    let verbose = argv.last().is_some_and(|a| a == "verbose") || ctx.o.verbosity > 0;
    if argv.last().is_some_and(|a| a == "verbose") {
        argv.pop();
    }
    let zone = take_zone(&mut argv);
    if let Err(e) = ctx.opt_dpif_open(&argv, 2) {
        return e;
    }
    match dump_entries(ctx, zone) {
        Ok(entries) => {
            let text = ctfmt::stats(&entries, verbose);
            ctx.print(&text);
            0
        }
        Err(e) => e,
    }
}

/// Sends an `ovs_ct_limit` command with `limits`; returns the reply's entries.
fn limit_request(
    ctx: &mut Ctx<'_>,
    cmd: u8,
    limits: Option<Vec<ZoneLimit>>,
) -> Result<Vec<ZoneLimit>, i32> {
    let m = CtLimitMsg {
        cmd,
        dp_ifindex: 0,
        limits,
    };
    let replies = ctx
        .c()
        .and_then(|c| {
            client::private_request(c, ct_limit::FAMILY_NAME, |buf, family, seq, pid| {
                m.emit(buf, family, flags::REQUEST | flags::ACK, seq, pid)
            })
        })
        .map_err(|e| e.errno())?;
    let mut v = Vec::new();
    for p in replies {
        let r = CtLimitMsg::parse_payload(&p).map_err(|e| e.errno())?;
        v.extend(r.limits.unwrap_or_default());
    }
    Ok(v)
}

/// Parses `default=L` and `zone=N,limit=L` arguments.
fn parse_limits(args: &[String], del: bool) -> Result<Vec<ZoneLimit>, String> {
    let mut v = Vec::new();
    for a in args {
        let z = if let Some(l) = a.strip_prefix("default=") {
            let limit = l
                .parse()
                .map_err(|_| format!("invalid default limit: {a}"))?;
            ZoneLimit {
                zone_id: DEFAULT_ZONE,
                limit,
                count: 0,
            }
        } else if del && a == "default" {
            ZoneLimit {
                zone_id: DEFAULT_ZONE,
                limit: 0,
                count: 0,
            }
        } else if let Some(rest) = a.strip_prefix("zone=") {
            if del {
                for z in rest.split(',') {
                    let zone: u16 = z.parse().map_err(|_| format!("invalid zone: {a}"))?;
                    v.push(ZoneLimit {
                        zone_id: i32::from(zone),
                        limit: 0,
                        count: 0,
                    });
                }
                continue;
            }
            let (zone, limit) = rest
                .split_once(",limit=")
                .ok_or_else(|| format!("invalid zone limit: {a}"))?;
            let zone: u16 = zone.parse().map_err(|_| format!("invalid zone: {a}"))?;
            let limit = limit.parse().map_err(|_| format!("invalid limit: {a}"))?;
            ZoneLimit {
                zone_id: i32::from(zone),
                limit,
                count: 0,
            }
        } else {
            return Err(format!("invalid argument: {a}"));
        };
        v.push(z);
    }
    Ok(v)
}

/// The text of `ct-get-limits` (`ct_dpif_format_zone_limits()`).
fn format_limits(l: &[ZoneLimit]) -> String {
    let mut s = String::new();
    for z in l {
        if z.zone_id == DEFAULT_ZONE {
            s.push_str(&format!("default limit={}\n", z.limit));
        } else {
            s.push_str(&format!(
                "zone={},limit={},count={}\n",
                z.zone_id, z.limit, z.count
            ));
        }
    }
    s
}

/// The arguments after an optional datapath.
fn after_dp(ctx: &mut Ctx<'_>, argv: &[String]) -> Vec<String> {
    let skip = if argv.len() > 1 && ctx.dp_exists(&argv[1]) {
        2
    } else {
        1
    };
    argv.get(skip..).unwrap_or_default().to_vec()
}

/// `ct-set-limits [dp] [default=L] [zone=N,limit=L]...`.
pub(super) fn ct_set_limits(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let args = after_dp(ctx, argv);
    let l = match parse_limits(&args, false) {
        Ok(l) => l,
        Err(m) => return ctx.error(EINVAL, &m),
    };
    match limit_request(ctx, ct_limit::cmd::SET, Some(l)) {
        Ok(_) => 0,
        Err(e) => ctx.error(e, "failed to set conntrack limit"),
    }
}

/// `ct-del-limits [dp] [default] zone=N1[,N2]...`.
pub(super) fn ct_del_limits(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let args = after_dp(ctx, argv);
    let l = match parse_limits(&args, true) {
        Ok(l) => l,
        Err(m) => return ctx.error(EINVAL, &m),
    };
    match limit_request(ctx, ct_limit::cmd::DEL, Some(l)) {
        Ok(_) => 0,
        Err(e) => ctx.error(e, "failed to delete conntrack limit"),
    }
}

/// `ct-get-limits [dp] [zone=N1[,N2]...]`.
pub(super) fn ct_get_limits(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let args = after_dp(ctx, argv);
    let want = match args.as_slice() {
        [] => None,
        [z] => match parse_limits(std::slice::from_ref(z), true) {
            Ok(l) => Some(l),
            Err(m) => return ctx.error(EINVAL, &m),
        },
        _ => return ctx.error(EINVAL, "invalid arguments"),
    };
    // The default limit always comes first, as ovs-dpctl asks for it.
    let want = want.map(|mut w| {
        w.insert(
            0,
            ZoneLimit {
                zone_id: DEFAULT_ZONE,
                limit: 0,
                count: 0,
            },
        );
        w
    });
    match limit_request(ctx, ct_limit::cmd::GET, want) {
        Ok(l) => {
            let text = format_limits(&l);
            ctx.print(&text);
            0
        }
        Err(e) => ctx.error(e, "failed to get conntrack limit"),
    }
}
