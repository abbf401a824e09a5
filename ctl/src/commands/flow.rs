//! The flow commands: `dump-flows`, `add-flow`, `mod-flow`, `get-flow`, `del-flow`, the
//! flows-file commands `add-flows`, `mod-flows` and `del-flows`, and `parse-actions`.

use std::io::BufRead;

use odp::family::flow::FlowAttrs;
use odp::key::FlowKey;
use odp::text::{self, DumpFlowLine, FormatOptions, PortNames};

use super::Ctx;
use crate::client::ENOENT;
use crate::dpif::{self, Dp, FlowPut, PutMode, EINVAL};
use crate::filter::Filter;
use crate::fmt;

/// One `dump-flows` / `get-flow` line for a flow as the daemon reported it.
pub fn flow_line(f: &FlowAttrs, names: Option<&PortNames>, verbose: bool, now_ms: u64) -> String {
    let empty = FlowKey::default();
    let ufid: Option<[u8; 16]> = f.ufid.as_deref().and_then(|u| u.try_into().ok());
    let line = DumpFlowLine {
        ufid: ufid.as_ref(),
        key: f.key.as_ref().unwrap_or(&empty),
        mask: f.mask.as_ref(),
        packets: f.stats.map_or(0, |s| s.n_packets),
        bytes: f.stats.map_or(0, |s| s.n_bytes),
        used_ms: f.used,
        now_ms,
        tcp_flags: u16::from(f.tcp_flags.unwrap_or(0)),
        actions: f.actions.as_deref(),
    };
    text::format_dump_flow(&line, &FormatOptions { verbose, names })
}

/// Which flows `type=` selects: kernel-style datapath flows are `ovs` and not offloaded.
pub(super) fn dump_type_selects_ovs(types: &str) -> Result<bool, String> {
    let mut any = false;
    for t in types.split(',').filter(|t| !t.is_empty()) {
        match t {
            "ovs" | "non-offloaded" | "all" => any = true,
            "tc" | "offloaded" => {}
            other => return Err(other.to_string()),
        }
    }
    Ok(any || types.is_empty())
}

pub(super) fn dump_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mut argv = argv.to_vec();
    let mut filter_s = None;
    let mut types = None;
    let mut lastargc = 0;
    while argv.len() > 1 && lastargc != argv.len() {
        lastargc = argv.len();
        let last = argv[argv.len() - 1].clone();
        if let Some(f) = last.strip_prefix("filter=").filter(|_| filter_s.is_none()) {
            filter_s = Some(f.to_string());
            argv.pop();
        } else if let Some(t) = last.strip_prefix("type=").filter(|_| types.is_none()) {
            types = Some(t.to_string());
            argv.pop();
        } else if last.starts_with("pmd=") {
            // Flows are not kept per PMD here: every PMD shares one table.
            argv.pop();
        }
    }
    let dp = match ctx.opt_dpif_open(&argv, 2) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    let names = if ctx.o.names || filter_s.is_some() {
        Some(ctx.port_names(&dp))
    } else {
        None
    };
    let filter = match &filter_s {
        Some(s) => match Filter::parse(s, names.as_ref().unwrap_or(&PortNames::new())) {
            Ok(f) => Some(f),
            Err(msg) => {
                ctx.error(0, &format!("Failed to parse filter ({msg})"));
                return EINVAL;
            }
        },
        None => None,
    };
    let show_ovs = match dump_type_selects_ovs(types.as_deref().unwrap_or("")) {
        Ok(b) => b,
        Err(t) => {
            ctx.error(EINVAL, &format!("Failed to parse type ({t})"));
            return EINVAL;
        }
    };
    let mut flows = match ctx.c().and_then(|c| dpif::flow_dump(c, &dp)) {
        Ok(f) => f,
        Err(e) => {
            return ctx.error(e, "Failed to dump flows from datapath");
        }
    };
    // A flow whose actions did not fit its dump message comes without them (the kernel's
    // `ovs_flow_cmd_fill_actions()`, `net/openvswitch/datapath.c`): fetch it alone, as OVS's
    // `dpif_netlink_flow_dump_next()` (`lib/dpif-netlink.c`) does.
    for f in flows.iter_mut().filter(|f| f.actions.is_none()) {
        let ufid: Option<[u8; 16]> = f.ufid.as_deref().and_then(|u| u.try_into().ok());
        let got = match (ufid, f.key.clone()) {
            (Some(u), _) => ctx.c().and_then(|c| dpif::flow_get(c, &dp, u)),
            (None, Some(k)) => ctx.c().and_then(|c| dpif::flow_get_by_key(c, &dp, k)),
            (None, None) => continue,
        };
        if let Ok(g) = got {
            f.actions = g.actions;
        }
    }
    let now = fmt::now_ms();
    let print_names = if ctx.o.names { names.as_ref() } else { None };
    let verbose = ctx.o.verbosity > 0;
    let mut s = String::new();
    for f in &flows {
        if !show_ovs {
            continue;
        }
        if let Some(flt) = &filter {
            if !flt.matches(
                f.key.as_ref().unwrap_or(&FlowKey::default()),
                f.mask.as_ref(),
            ) {
                continue;
            }
        }
        s.push_str(&flow_line(f, print_names, verbose, now));
        s.push('\n');
    }
    ctx.print(&s);
    0
}

fn put_flow_dpif(
    ctx: &mut Ctx<'_>,
    dp: &Dp,
    names: &PortNames,
    key_s: &str,
    actions_s: &str,
    mode: PutMode,
) -> i32 {
    let ufid = match text::parse_ufid(key_s) {
        Ok(u) => u.map(|(u, _)| u),
        Err(e) => {
            ctx.error(e.errno(), "parsing flow ufid");
            return e.errno();
        }
    };
    let (key, mask) = match text::parse_key(key_s, Some(names)) {
        Ok(km) => km,
        Err(e) => {
            let msg = key_error(key_s, names, &e);
            ctx.error(e.errno(), &format!("parsing flow key ({msg})"));
            return e.errno();
        }
    };
    let actions = match text::parse_actions(actions_s, Some(names)) {
        Ok(a) => a,
        Err(e) => {
            ctx.error(e.errno(), "parsing actions");
            return e.errno();
        }
    };
    let put = FlowPut {
        key,
        mask: (mask != FlowKey::default()).then_some(mask),
        ufid,
        actions,
        mode,
        clear: ctx.o.clear && mode != PutMode::Create,
        echo: ctx.o.statistics,
    };
    match ctx.c().and_then(|c| dpif::flow_put(c, dp, &put)) {
        Ok(reply) => {
            if ctx.o.statistics {
                let s = fmt::flow_stats(&reply.unwrap_or_default(), fmt::now_ms());
                ctx.print(&format!("{s}\n"));
            }
            0
        }
        Err(e) => ctx.error(e, "updating flow table"),
    }
}

fn put_flow(ctx: &mut Ctx<'_>, argv: &[String], mode: PutMode) -> i32 {
    let dp = match ctx.opt_dpif_open(argv, 4) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    let n = argv.len();
    let names = ctx.port_names(&dp);
    put_flow_dpif(ctx, &dp, &names, &argv[n - 2], &argv[n - 1], mode)
}

pub(super) fn add_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    put_flow(ctx, argv, PutMode::Create)
}

pub(super) fn mod_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mode = if ctx.o.may_create {
        PutMode::ModifyOrCreate
    } else {
        PutMode::Modify
    };
    put_flow(ctx, argv, mode)
}

pub(super) fn get_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let dp = match ctx.opt_dpif_open(argv, 3) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    let key_s = &argv[argv.len() - 1];
    let ufid = match text::parse_ufid(key_s) {
        Ok(Some((u, _))) => u,
        Ok(None) => {
            // ovs-dpctl reports this with errno 0, which is also its exit status.
            ctx.error(0, "parsing flow ufid");
            return 0;
        }
        Err(e) => {
            ctx.error(e.errno(), "parsing flow ufid");
            return e.errno();
        }
    };
    let names = if ctx.o.names {
        Some(ctx.port_names(&dp))
    } else {
        None
    };
    match ctx.c().and_then(|c| dpif::flow_get(c, &dp, ufid)) {
        Ok(f) => {
            let s = flow_line(&f, names.as_ref(), ctx.o.verbosity > 0, fmt::now_ms());
            ctx.print(&format!("{s}\n"));
            0
        }
        Err(e) => ctx.error(e, "getting flow"),
    }
}

/// What ovs-dpctl says about a flow key it cannot parse (`odp_flow_from_string`): `syntax
/// error at ` and the key from the first top-level attribute it could not take.
fn key_error(key_s: &str, names: &PortNames, e: &odp::Error) -> String {
    if !matches!(e, odp::Error::Syntax { .. }) {
        return e.to_string();
    }
    let mut depth = 0i32;
    let mut start = None;
    let bytes = key_s.as_bytes();
    for (i, &c) in bytes.iter().chain(std::iter::once(&b',')).enumerate() {
        if depth == 0 && start.is_none() && c != b',' && c != b' ' {
            start = Some(i);
        }
        match c {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            _ => {}
        }
        let end_of_item = (c == b',' && depth == 0) || depth < 0 || i == bytes.len();
        if let (Some(s), true) = (start, end_of_item) {
            if depth < 0 {
                return format!("syntax error at {}", &key_s[i..]);
            }
            if text::parse_key(&key_s[..i.min(bytes.len())], Some(names)).is_err() {
                return format!("syntax error at {}", &key_s[s..]);
            }
            start = None;
        }
    }
    format!("syntax error at {key_s}")
}

fn del_flow_dpif(ctx: &mut Ctx<'_>, dp: &Dp, names: &PortNames, key_s: &str) -> i32 {
    let ufid = match text::parse_ufid(key_s) {
        Ok(u) => u.map(|(u, _)| u),
        Err(e) => {
            ctx.error(e.errno(), "parsing flow ufid");
            return e.errno();
        }
    };
    let key = match text::parse_key(key_s, Some(names)) {
        Ok((k, _mask)) => k,
        Err(e) => {
            ctx.error(e.errno(), &key_error(key_s, names, &e));
            return e.errno();
        }
    };
    let echo = ctx.o.statistics;
    match ctx
        .c()
        .and_then(|c| dpif::flow_del(c, dp, Some(key), ufid, echo))
    {
        Ok(reply) => {
            if echo {
                let s = fmt::flow_stats(&reply.unwrap_or_default(), fmt::now_ms());
                ctx.print(&format!("{s}\n"));
            }
            0
        }
        Err(e) => {
            let e = e.errno();
            ctx.error(e, "deleting flow");
            if e == ENOENT && ufid.is_none() {
                ctx.print("Perhaps you need to specify a UFID?\n");
            }
            e
        }
    }
}

pub(super) fn del_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let dp = match ctx.opt_dpif_open(argv, 3) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    let names = ctx.port_names(&dp);
    del_flow_dpif(ctx, &dp, &names, &argv[argv.len() - 1])
}

/// What a line of a flows file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCmd {
    /// Add.
    Add,
    /// Modify.
    Modify,
    /// Delete.
    Delete,
}

/// Splits a flows-file line into its command (an optional `add`/`modify`/`delete` prefix, or
/// `default`), flow and actions.
pub fn parse_flow_line(default: LineCmd, line: &str) -> (LineCmd, Option<String>, Option<String>) {
    const WS: &[char] = &[' ', '\t', '\r', '\n'];
    let mut l = line.trim_start_matches(WS);
    let len = l.find([',', ' ', '\t', '\r', '\n']).unwrap_or(l.len());
    let word = &l[..len];
    // Like OVS's strncmp(line, "add", len): any prefix of the command word selects it.
    let cmd = if "add".starts_with(word) {
        Some(LineCmd::Add)
    } else if "delete".starts_with(word) {
        Some(LineCmd::Delete)
    } else if "modify".starts_with(word) {
        Some(LineCmd::Modify)
    } else {
        None
    };
    if cmd.is_some() {
        l = &l[len..];
    }
    let cmd = cmd.unwrap_or(default);
    l = l.trim_start_matches(WS);
    let flen = l.find(WS).unwrap_or(l.len());
    if flen == 0 {
        return (cmd, None, None);
    }
    let flow = l[..flen].to_string();
    let rest = l[flen..].trim_matches(WS);
    (
        cmd,
        Some(flow),
        (!rest.is_empty()).then(|| rest.to_string()),
    )
}

/// `add-flows`, `mod-flows`, `del-flows FILE`: like ovs-dpctl, every line is tried and each
/// failure printed, but once the datapath is open the exit status is 0 (ovs-dpctl's
/// `dpctl_process_flows` returns 0 after opening it, even when the file cannot be read).
fn process_flows(ctx: &mut Ctx<'_>, argv: &[String], default: LineCmd) -> i32 {
    let dp = match ctx.opt_dpif_open(argv, 4) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    let file = &argv[argv.len() - 1];
    // Lines are processed as they arrive, so `-` can be a continuous stream of commands.
    let mut reader: Option<std::io::BufReader<std::fs::File>> = None;
    if file != "-" {
        match std::fs::File::open(file) {
            Ok(f) => reader = Some(std::io::BufReader::new(f)),
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(EINVAL);
                ctx.error(errno, &format!("Opening file \"{file}\" failed"));
                return 0;
            }
        }
    }
    // The ports do not change under us often enough to look them up for every line.
    let names = ctx.port_names(&dp);
    let mut raw = String::new();
    let mut line_number = 0;
    loop {
        raw.clear();
        let got = match reader.as_mut() {
            Some(r) => r.read_line(&mut raw),
            None => ctx.stdin.read_line(&mut raw),
        };
        match got {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(EINVAL);
                ctx.error(errno, &format!("Reading \"{file}\" failed"));
                return 0;
            }
        }
        line_number += 1;
        // Comments run from '#' to the end of the line; blank lines are skipped.
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (cmd, flow, action) = parse_flow_line(default, line);
        match (cmd, flow, action) {
            (LineCmd::Add, Some(f), Some(a)) => {
                put_flow_dpif(ctx, &dp, &names, &f, &a, PutMode::Create);
            }
            (LineCmd::Modify, Some(f), Some(a)) => {
                put_flow_dpif(ctx, &dp, &names, &f, &a, PutMode::Modify);
            }
            (LineCmd::Delete, Some(f), None) => {
                del_flow_dpif(ctx, &dp, &names, &f);
            }
            _ => {
                ctx.error(
                    0,
                    &format!("Failed parsing line number {line_number}, skipped!"),
                );
            }
        }
    }
    0
}

pub(super) fn add_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    process_flows(ctx, argv, LineCmd::Add)
}

pub(super) fn mod_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    process_flows(ctx, argv, LineCmd::Modify)
}

pub(super) fn del_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if (argv.len() == 2 && !ctx.dp_exists(&argv[1])) || argv.len() > 2 {
        return process_flows(ctx, argv, LineCmd::Delete);
    }
    let dp = match ctx.opt_dpif_open(argv, 2) {
        Ok(dp) => dp,
        Err(e) => return e,
    };
    if let Err(e) = ctx
        .c()
        .and_then(|c| dpif::flow_del(c, &dp, None, None, false))
    {
        return ctx.error(e, "deleting all flows");
    }
    0
}

/// `parse-actions ACTIONS...`: each action list parsed and printed back in canonical form.
pub(super) fn parse_actions(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    for a in &argv[1..] {
        match text::parse_actions(a, None) {
            Ok(list) => {
                let s = format!("{}\n", text::format_actions(&list, None));
                ctx.print(&s);
            }
            Err(e) => {
                ctx.error(e.errno(), "odp_actions_from_string");
                return e.errno();
            }
        }
    }
    0
}
