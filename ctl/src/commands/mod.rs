//! The command set of `ovs-dpctl` (OVS `lib/dpctl.c`, `all_commands[]`) with its argument
//! conventions: an optional datapath argument that counts as one only if such a datapath
//! exists, `,key=value` options per interface, and the same error lines and
//! carry-on-after-an-error behaviour per item.

use std::io::{BufRead, Write};

use odp::family::flow::FlowAttrs;
use odp::family::vport::{VportAttrs, VportOptions, VportType};
use odp::key::FlowKey;
use odp::pmd_stats::{self, PmdInfo};
use odp::text::{self, DumpFlowLine, FormatOptions, PortNames};

use crate::client::{self, Client, ENOENT};
use crate::dpif::{self, Dp, FlowPut, PutMode, EAFNOSUPPORT, EEXIST, EINVAL, ENODEV};
use crate::filter::Filter;
use crate::fmt;
use crate::opts::Opts;
use crate::pmd;

/// Everything a command needs: options, output streams and the daemon connection.
pub struct Ctx<'a> {
    /// Global options.
    pub o: Opts,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    stdin: &'a mut dyn BufRead,
    c: Option<Client>,
}

/// `ENOTCONN`: a command ran without a connection (cannot happen: the table says which
/// commands connect first).
const ENOTCONN: i32 = 107;

impl<'a> Ctx<'a> {
    /// A context writing to `out`/`err`, reading flow files named `-` from `stdin`.
    pub fn new(
        o: Opts,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
        stdin: &'a mut dyn BufRead,
        c: Option<Client>,
    ) -> Self {
        Ctx {
            o,
            out,
            err,
            stdin,
            c,
        }
    }

    fn print(&mut self, s: &str) {
        // A closed stdout (e.g. `| head`) is not an error worth reporting.
        let _ = self.out.write_all(s.as_bytes());
    }

    fn error(&mut self, errno: i32, msg: &str) {
        let _ = self.out.flush();
        let _ = self.err.write_all(fmt::error_line(errno, msg).as_bytes());
    }

    fn c(&mut self) -> Result<&mut Client, i32> {
        self.c.as_mut().ok_or(ENOTCONN)
    }

    fn enumerate(&mut self) -> Result<Vec<String>, i32> {
        dpif::enumerate(self.c()?)
    }

    fn open(&mut self, arg: &str) -> Result<Dp, i32> {
        let name = dpif::parse_dp_name(arg)?.to_string();
        dpif::open(self.c()?, &name, false)
    }

    fn dp_exists(&mut self, arg: &str) -> bool {
        match dpif::parse_dp_name(arg) {
            Ok(name) => {
                let name = name.to_string();
                self.enumerate().is_ok_and(|v| v.contains(&name))
            }
            Err(_) => false,
        }
    }

    fn get_one_dp(&mut self) -> Option<String> {
        let names = self.enumerate().unwrap_or_default();
        match names.len() {
            0 => {
                self.error(0, "no datapaths exist");
                None
            }
            1 => Some(format!("system@{}", names[0])),
            _ => {
                self.error(0, "multiple datapaths, specify one");
                None
            }
        }
    }

    /// `ovs-dpctl`'s rule for an optional datapath argument: `argv[1]` if it names an existing
    /// datapath, else the only datapath unless all `max_args` arguments are present.
    fn opt_dpif_open(&mut self, argv: &[String], max_args: usize) -> Result<Dp, i32> {
        let dpname = if argv.len() > 1 && self.dp_exists(&argv[1]) {
            Some(argv[1].clone())
        } else if argv.len() != max_args {
            self.get_one_dp()
        } else {
            None
        };
        let Some(dpname) = dpname else {
            self.error(EINVAL, "datapath not found");
            return Err(EINVAL);
        };
        self.open(&dpname).inspect_err(|&e| {
            self.error(e, "opening datapath");
        })
    }

    /// Runs `cb` on every datapath (sorted by name).
    fn dps_for_each(&mut self, cb: fn(&mut Ctx<'_>, &Dp)) -> i32 {
        let names = match self.enumerate() {
            Ok(n) => n,
            Err(e) => {
                self.error(e, "enumerating datapaths failed");
                return e;
            }
        };
        let mut openerror = 0;
        for name in names {
            match self.c().and_then(|c| dpif::open(c, &name, false)) {
                Ok(dp) => cb(self, &dp),
                Err(e) => {
                    openerror = e;
                    self.error(e, &format!("opening datapath {name} failed"));
                }
            }
        }
        openerror
    }

    fn port_names(&mut self, dp: &Dp) -> PortNames {
        let mut names = PortNames::new();
        if let Ok(c) = self.c() {
            for p in dpif::port_dump(c, dp).unwrap_or_default() {
                if let (Some(no), Some(n)) = (p.port_no, p.name.as_deref()) {
                    names.insert(no, n);
                }
            }
        }
        names
    }
}

/// One command: name, usage, argument counts (after the name), handler, whether it changes
/// the datapath (refused with `--read-only`) and whether it talks to the daemon.
pub struct Command {
    /// Name.
    pub name: &'static str,
    /// Usage (`list-commands`).
    pub usage: &'static str,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments.
    pub max_args: usize,
    handler: fn(&mut Ctx<'_>, &[String]) -> i32,
    /// Read-write.
    pub rw: bool,
    /// Needs the daemon.
    pub connects: bool,
}

const MANY: usize = usize::MAX;

macro_rules! cmd {
    ($name:expr, $usage:expr, $min:expr, $max:expr, $h:expr, $rw:expr) => {
        Command {
            name: $name,
            usage: $usage,
            min_args: $min,
            max_args: $max,
            handler: $h,
            rw: $rw,
            connects: true,
        }
    };
}

/// Every command, in `ovs-dpctl`'s order.
pub static COMMANDS: &[Command] = &[
    cmd!("add-dp", "dp [iface...]", 1, MANY, add_dp, true),
    cmd!("del-dp", "dp", 1, 1, del_dp, true),
    cmd!("add-if", "dp iface...", 2, MANY, add_if, true),
    cmd!("del-if", "dp iface...", 2, MANY, del_if, true),
    cmd!("set-if", "dp iface...", 2, MANY, set_if, true),
    cmd!("dump-dps", "", 0, 0, dump_dps, false),
    cmd!("show", "[-s] [dp...]", 0, MANY, show, false),
    cmd!(
        "dump-flows",
        "[-m] [--names] [dp] [filter=..] [type=..] [pmd=..]",
        0,
        6,
        dump_flows,
        false
    ),
    cmd!("add-flow", "[dp] flow actions", 2, 3, add_flow, true),
    cmd!("mod-flow", "[dp] flow actions", 2, 3, mod_flow, true),
    cmd!("get-flow", "[dp] ufid", 1, 2, get_flow, false),
    cmd!("del-flow", "[dp] flow", 1, 2, del_flow, true),
    cmd!("add-flows", "[dp] file", 1, 2, add_flows, true),
    cmd!("mod-flows", "[dp] file", 1, 2, mod_flows, true),
    cmd!("del-flows", "[dp] [file]", 0, 2, del_flows, true),
    cmd!("cache-get-size", "[dp]", 0, 1, cache_get_size, false),
    cmd!(
        "cache-set-size",
        "dp cache <size>",
        3,
        3,
        cache_set_size,
        true
    ),
    cmd!("pmd-stats-show", "[-pmd core]", 0, 2, pmd_stats_show, false),
    cmd!("pmd-stats-clear", "", 0, 0, pmd_stats_clear, true),
    cmd!("pmd-rxq-show", "[-pmd core]", 0, 2, pmd_rxq_show, false),
    // Not in -h, as in ovs-dpctl: a check of the action syntax.
    Command {
        name: "parse-actions",
        usage: "actions",
        min_args: 1,
        max_args: MANY,
        handler: parse_actions,
        rw: false,
        connects: false,
    },
    Command {
        name: "help",
        usage: "",
        min_args: 0,
        max_args: MANY,
        handler: help,
        rw: false,
        connects: false,
    },
    Command {
        name: "list-commands",
        usage: "",
        min_args: 0,
        max_args: MANY,
        handler: list_commands,
        rw: false,
        connects: false,
    },
];

/// The `-h` text.
pub fn usage() -> String {
    format!(
        "\
{p}: Open vSwitch datapath management utility for dpswitch
usage: {p} [OPTIONS] COMMAND [ARG...]
  add-dp DP [IFACE...]     add new datapath DP (with IFACEs)
  del-dp DP                delete local datapath DP
  add-if DP IFACE...       add each IFACE as a port on DP
  set-if DP IFACE...       reconfigure each IFACE within DP
  del-if DP IFACE...       delete each IFACE from DP
  dump-dps                 display names of all datapaths
  show                     show basic info on all datapaths
  show DP...               show basic info on each DP
  dump-flows [DP]          display flows in DP
  add-flow [DP] FLOW ACTIONS add FLOW with ACTIONS to DP
  add-flows [DP] FILE        add flows from FILE
  mod-flow [DP] FLOW ACTIONS change FLOW actions to ACTIONS in DP
  mod-flows [DP] FILE        change flows from FILE
  get-flow [DP] ufid:UFID    fetch flow corresponding to UFID
  del-flow [DP] FLOW         delete FLOW from DP
  del-flows [DP] [FILE]      delete all or specified flows from DP
  cache-get-size [DP]             Show the current size for all caches
  cache-set-size DP CACHE SIZE  Set cache size for a specific cache
  pmd-stats-show [-pmd CORE]  show PMD statistics (since pmd-stats-clear)
  pmd-stats-clear          reset the PMD statistics shown
  pmd-rxq-show [-pmd CORE]   show the rx queues each PMD polls
  list-commands            list the commands with their arguments
  help                     this help
Each IFACE on add-dp, add-if, and set-if may be followed by
comma-separated options: IFACE[,type=TYPE][,port_no=N][,KEY=VALUE]...
TYPE is system (default), internal, or dpdk; a dpdk port needs
devargs=DEVARGS, which takes the rest of the argument (or a double-quoted
value), e.g. p0,type=dpdk,devargs=net_tap0,iface=p0
For COMMAND dump-flows, add-flow, add-flows, mod-flow,
mod-flows, del-flow and del-flows, DP is optional if there is
only one datapath.  DP is [system@]NAME.

Options for show and mod-flow:
  -s,  --statistics           print statistics for port or flow

Options for dump-flows:
  -m, --more                  increase verbosity of output
  --names                     use port names in output
  --no-names                  use port numbers in output
  filter=FLOW                 only flows matching FLOW (e.g. tcp,tp_dst=80)

Options for mod-flow:
  --may-create                create flow if it doesn't exist
  --read-only                 do not run read/write commands
  --clear                     reset existing stats to zero

Other options:
  --netlink-pid=N             netlink port id of the dpswitch to control
                              (default ${env}, else {def}, 0x{def:x})
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
",
        p = fmt::PROGRAM,
        env = crate::opts::NETLINK_PID_ENV,
        def = crate::opts::DEFAULT_NETLINK_PID,
    )
}

/// `parse-actions ACTIONS...`: each action list parsed and printed back in canonical form.
fn parse_actions(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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

/// `-pmd CORE` of the pmd commands: `Ok(None)` without it.
fn pmd_filter(ctx: &mut Ctx<'_>, argv: &[String]) -> Result<Option<u32>, i32> {
    match argv.get(1..).unwrap_or_default() {
        [] => Ok(None),
        [flag, core] if flag == "-pmd" => core.parse().map(Some).map_err(|_| {
            ctx.error(EINVAL, &format!("invalid pmd core '{core}'"));
            EINVAL
        }),
        _ => {
            ctx.error(EINVAL, "usage: [-pmd CORE]");
            Err(EINVAL)
        }
    }
}

/// Sends a `dpswitch_pmd` command and returns the PMDs of its reply.
fn pmd_request(ctx: &mut Ctx<'_>, cmd: u8) -> Result<Vec<PmdInfo>, i32> {
    let replies = ctx
        .c()
        .and_then(|c| {
            client::private_request(c, pmd_stats::FAMILY_NAME, |buf, family, seq, pid| {
                pmd_stats::emit_request(buf, family, cmd, seq, pid)
            })
        })
        .inspect_err(|&e| ctx.error(e, "dpswitch_pmd request failed"))?;
    let mut pmds = Vec::new();
    for r in replies {
        pmds.extend(pmd_stats::parse_reply(&r).map_err(|e| {
            ctx.error(e.errno(), "malformed dpswitch_pmd reply");
            e.errno()
        })?);
    }
    Ok(pmd::sorted(pmds))
}

fn pmd_show(ctx: &mut Ctx<'_>, argv: &[String], cmd: u8, section: fn(&PmdInfo) -> String) -> i32 {
    let filter = match pmd_filter(ctx, argv) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let pmds = match pmd_request(ctx, cmd) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let text: String = pmds
        .iter()
        .filter(|p| filter.is_none_or(|core| p.core == core))
        .map(section)
        .collect();
    ctx.print(&text);
    0
}

/// `pmd-stats-show [-pmd CORE]`: OVS-DPDK's `dpif-netdev/pmd-stats-show`.
fn pmd_stats_show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    pmd_show(ctx, argv, pmd_stats::cmd::GET, pmd::stats_section)
}

/// `pmd-rxq-show [-pmd CORE]`: OVS-DPDK's `dpif-netdev/pmd-rxq-show`.
fn pmd_rxq_show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    pmd_show(ctx, argv, pmd_stats::cmd::RXQ, pmd::rxq_section)
}

/// `pmd-stats-clear`: later `pmd-stats-show`s count from now.
fn pmd_stats_clear(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    match pmd_request(ctx, pmd_stats::cmd::CLEAR) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

fn help(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    ctx.print(&usage());
    0
}

/// The `list-commands` text.
pub fn list_commands_text() -> String {
    let mut s = String::from("The available commands are:\n");
    for c in COMMANDS {
        s.push_str(&format!("  {:<23} {}\n", c.name, c.usage));
    }
    s
}

fn list_commands(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    ctx.print(&list_commands_text());
    0
}

/// Checks the argument count of `argv` (command first) against the table.
///
/// # Errors
/// The error line's message.
pub fn check_args(c: &Command, argv: &[String]) -> Result<(), String> {
    let n = argv.len().saturating_sub(1);
    if n < c.min_args {
        Err(format!(
            "'{}' command requires at least {} arguments",
            c.name, c.min_args
        ))
    } else if n > c.max_args {
        Err(format!(
            "'{}' command takes at most {} arguments",
            c.name, c.max_args
        ))
    } else {
        Ok(())
    }
}

/// Runs a command (argument counts already checked).
pub fn run_command(ctx: &mut Ctx<'_>, c: &Command, argv: &[String]) -> i32 {
    (c.handler)(ctx, argv)
}

fn add_dp(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let r = dpif::parse_dp_name(&argv[1])
        .map(str::to_string)
        .and_then(|name| dpif::open(ctx.c()?, &name, true));
    if let Err(e) = r {
        ctx.error(e, "add_dp");
        return e;
    }
    if argv.len() > 2 {
        return add_if(ctx, argv);
    }
    0
}

fn del_dp(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let dp = match ctx.open(&argv[1]) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e, "opening datapath");
            return e;
        }
    };
    let r = ctx.c().and_then(|c| dpif::delete(c, &dp));
    if let Err(e) = r {
        ctx.error(e, "del_dp");
        return e;
    }
    0
}

/// An `IFACE[,key=value]...` argument split into the name and its options, in order. A
/// `devargs=` value runs to the end of the argument (DPDK devargs contain commas) unless it
/// is double-quoted.
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
        if let Some(v) = rest.strip_prefix("devargs=") {
            if let Some(q) = v.strip_prefix('"') {
                let end = q
                    .find('"')
                    .ok_or_else(|| "unterminated quoted devargs value".to_string())?;
                opts.push(("devargs".to_string(), q[..end].to_string()));
                rest = &q[end + 1..];
                if !rest.is_empty() && !rest.starts_with(',') {
                    return Err("Invalid option format".to_string());
                }
            } else {
                opts.push(("devargs".to_string(), v.to_string()));
                rest = "";
            }
            continue;
        }
        let (tok, r) = rest.split_once(',').unwrap_or((rest, ""));
        rest = r;
        let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
        if k.is_empty() {
            return Err("Invalid option format".to_string());
        }
        opts.push((k.to_string(), v.to_string()));
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

/// The vport type a `type=` value creates, and whether it is made from DPDK devargs.
pub fn vport_type(ty: &str) -> Option<VportType> {
    match ty {
        "dpdk" => Some(VportType::Netdev),
        t => VportType::from_name(t),
    }
}

fn default_dst_port(t: VportType) -> Option<u16> {
    match t {
        VportType::Vxlan => Some(4789),
        VportType::Geneve => Some(6081),
        _ => None,
    }
}

/// Builds the vport NEW attributes for `add-if`, from the name, type and options.
///
/// # Errors
/// `EAFNOSUPPORT` for an unknown type; `EINVAL` for a bad tunnel `dst_port`.
pub fn new_vport(
    name: &str,
    ty: &str,
    port_no: Option<u32>,
    settings: &[(String, String)],
) -> Result<VportAttrs, i32> {
    let t = vport_type(ty).ok_or(EAFNOSUPPORT)?;
    let mut o = VportOptions::default();
    let tunnel = matches!(t, VportType::Vxlan | VportType::Geneve);
    o.dst_port = default_dst_port(t);
    for (k, v) in settings {
        if tunnel && k == "dst_port" {
            o.dst_port = Some(v.parse().map_err(|_| EINVAL)?);
        } else {
            odp::dpswitch::push_setting(&mut o, k, v);
        }
    }
    let has_opts = o.dst_port.is_some() || !o.other.is_empty();
    Ok(VportAttrs {
        port_no,
        ty: Some(t),
        name: Some(name.to_string()),
        options: has_opts.then_some(o),
        upcall_pids: Some(vec![0]),
        ..Default::default()
    })
}

/// Opens the datapath `argv[1]` and runs `one` for every interface argument after it, as
/// ovs-dpctl does: every argument is tried, and the last error is the exit status.
fn per_iface(
    ctx: &mut Ctx<'_>,
    argv: &[String],
    mut one: impl FnMut(&mut Ctx<'_>, &Dp, &str, &str) -> i32,
) -> i32 {
    let dp = match ctx.open(&argv[1]) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e, "opening datapath");
            return e;
        }
    };
    let mut lasterror = 0;
    for arg in &argv[2..] {
        let error = one(ctx, &dp, &argv[1], arg);
        if error != 0 {
            lasterror = error;
        }
    }
    lasterror
}

fn add_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    per_iface(ctx, argv, add_one_if)
}

fn add_one_if(ctx: &mut Ctx<'_>, dp: &Dp, dparg: &str, arg: &str) -> i32 {
    let (name, opts) = match split_iface(arg) {
        Ok(x) => x,
        Err(msg) => {
            ctx.error(0, &msg);
            return EINVAL;
        }
    };
    if name.is_empty() {
        ctx.error(0, &format!("{arg} is not a valid network device name"));
        return EINVAL;
    }
    let mut ty = "system".to_string();
    let mut port_no = None;
    let mut settings: Vec<(String, String)> = Vec::new();
    for (k, v) in opts {
        if k == "type" {
            ty = v;
        } else if k == "port_no" {
            port_no = Some(atoi(&v) as u32);
        } else if settings.iter().any(|(sk, _)| *sk == k) {
            ctx.error(0, &format!("duplicate \"{k}\" option"));
        } else {
            settings.push((k, v));
        }
    }
    // ovs-dpctl opens the port's netdev before asking the datapath: a name the datapath
    // already has as a port of another type is taken (EEXIST; its open of the datapath
    // opened every port's netdev), and a `system` port's kernel netdev must exist (ENODEV).
    // Both fail here, in its words, rather than as the datapath's errors.
    let taken_by_other_type = vport_type(&ty).is_some_and(|want| {
        ctx.c()
            .and_then(|c| dpif::port_query_by_name(c, dp, &name))
            .is_ok_and(|p| p.ty.is_some_and(|t| t != want))
    });
    let missing_netdev = ty == "system" && nix::net::if_::if_nametoindex(name.as_str()).is_err();
    let vport = match new_vport(&name, &ty, port_no, &settings) {
        Ok(_) if taken_by_other_type => Err(EEXIST),
        Ok(_) if missing_netdev => Err(ENODEV),
        r => r,
    };
    let vport = match vport {
        Ok(v) => v,
        Err(e) => {
            ctx.error(e, &format!("{name}: failed to open network device"));
            return e;
        }
    };
    let r = ctx.c().and_then(|c| dpif::port_add(c, dp, vport));
    if let Err(e) = r {
        ctx.error(e, &format!("adding {name} to {dparg} failed"));
        return e;
    }
    0
}

fn set_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    per_iface(ctx, argv, set_one_if)
}

fn set_one_if(ctx: &mut Ctx<'_>, dp: &Dp, dparg: &str, arg: &str) -> i32 {
    let (name, opts) = match split_iface(arg) {
        Ok(x) => x,
        Err(msg) => {
            ctx.error(0, &msg);
            return EINVAL;
        }
    };
    if name.is_empty() {
        ctx.error(0, &format!("{arg} is not a valid network device name"));
        return 0;
    }
    let port = match ctx.c().and_then(|c| dpif::port_query_by_name(c, dp, &name)) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(e, &format!("{name}: failed to query port in {dparg}"));
            return e;
        }
    };
    let ty = fmt::port_type(&port);
    let cur_no = port.port_no.unwrap_or(0);
    let mut config = fmt::port_config(&port);
    for (k, v) in opts {
        if k == "type" {
            if v != ty {
                ctx.error(0, &format!("{name}: can't change type from {ty} to {v}"));
                return EINVAL;
            }
        } else if k == "port_no" {
            if i64::from(cur_no) != atoi(&v) {
                ctx.error(
                    0,
                    &format!(
                        "{name}: can't change port number from {cur_no} to {}",
                        atoi(&v)
                    ),
                );
                return EINVAL;
            }
        } else if v.is_empty() {
            config.retain(|(ck, _)| *ck != k);
        } else if let Some(e) = config.iter_mut().find(|(ck, _)| *ck == k) {
            e.1 = v;
        } else {
            config.push((k, v));
        }
    }
    let mut o = VportOptions::default();
    let tunnel = matches!(port.ty, Some(VportType::Vxlan | VportType::Geneve));
    // The daemon merges settings into the port's; an empty value unsets a key.
    for (k, _) in fmt::port_config(&port) {
        if !config.iter().any(|(ck, _)| *ck == k) {
            config.push((k, String::new()));
        }
    }
    for (k, v) in &config {
        if tunnel && k == "dst_port" {
            match v.parse() {
                Ok(p) => o.dst_port = Some(p),
                Err(_) => {
                    ctx.error(EINVAL, "Error updating configuration");
                    return EINVAL;
                }
            }
        } else {
            odp::dpswitch::push_setting(&mut o, k, v);
        }
    }
    let req = VportAttrs {
        name: Some(name.clone()),
        options: Some(o),
        ..Default::default()
    };
    if let Err(e) = ctx.c().and_then(|c| dpif::port_set(c, dp, req)) {
        ctx.error(e, "Error updating configuration");
        return e;
    }
    0
}

fn del_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    per_iface(ctx, argv, del_one_if)
}

fn del_one_if(ctx: &mut Ctx<'_>, dp: &Dp, dparg: &str, name: &str) -> i32 {
    let port = if name.bytes().all(|b| b.is_ascii_digit()) {
        atoi(name) as u32
    } else {
        match ctx.c().and_then(|c| dpif::port_query_by_name(c, dp, name)) {
            Ok(p) => p.port_no.unwrap_or(0),
            Err(_) => {
                ctx.error(0, &format!("no port named {name}"));
                return ENOENT;
            }
        }
    };
    if let Err(e) = ctx.c().and_then(|c| dpif::port_del(c, dp, port)) {
        ctx.error(e, &format!("deleting port {name} from {dparg} failed"));
        return e;
    }
    0
}

fn show_dpif(ctx: &mut Ctx<'_>, dp: &Dp) {
    let (attrs, ports) = match ctx.c() {
        Ok(c) => (
            dpif::get(c, dp).ok(),
            dpif::port_dump(c, dp).unwrap_or_default(),
        ),
        Err(_) => (None, Vec::new()),
    };
    let s = fmt::show(&dp.full_name(), attrs.as_ref(), &ports, ctx.o.statistics);
    ctx.print(&s);
}

fn show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if argv.len() > 1 {
        let mut lasterror = 0;
        for name in &argv[1..] {
            match ctx.open(name) {
                Ok(dp) => show_dpif(ctx, &dp),
                Err(e) => {
                    ctx.error(e, &format!("opening datapath {name} failed"));
                    lasterror = e;
                }
            }
        }
        lasterror
    } else {
        ctx.dps_for_each(show_dpif)
    }
}

fn dump_dps(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    ctx.dps_for_each(|ctx, dp| {
        let s = format!("{}\n", dp.full_name());
        ctx.print(&s);
    })
}

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
fn dump_type_selects_ovs(types: &str) -> Result<bool, String> {
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

fn dump_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
            ctx.error(e, "Failed to dump flows from datapath");
            return e;
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
        Err(e) => {
            ctx.error(e, "updating flow table");
            e
        }
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

fn add_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    put_flow(ctx, argv, PutMode::Create)
}

fn mod_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let mode = if ctx.o.may_create {
        PutMode::ModifyOrCreate
    } else {
        PutMode::Modify
    };
    put_flow(ctx, argv, mode)
}

fn get_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
        Err(e) => {
            ctx.error(e, "getting flow");
            e
        }
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
            ctx.error(e, "deleting flow");
            if e == ENOENT && ufid.is_none() {
                ctx.print("Perhaps you need to specify a UFID?\n");
            }
            e
        }
    }
}

fn del_flow(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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

fn add_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    process_flows(ctx, argv, LineCmd::Add)
}

fn mod_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    process_flows(ctx, argv, LineCmd::Modify)
}

fn del_flows(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
        ctx.error(e, "deleting all flows");
        return e;
    }
    0
}

fn show_cache(ctx: &mut Ctx<'_>, dp: &Dp) {
    let attrs = ctx.c().and_then(|c| dpif::get(c, dp)).unwrap_or_default();
    let s = format!("{}:\n{}", dp.full_name(), fmt::caches(&attrs));
    ctx.print(&s);
}

fn cache_get_size(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if argv.len() > 1 {
        match ctx.open(&argv[1]) {
            Ok(dp) => {
                show_cache(ctx, &dp);
                0
            }
            Err(e) => {
                ctx.error(e, &format!("Opening datapath {} failed", argv[1]));
                e
            }
        }
    } else {
        ctx.dps_for_each(show_cache)
    }
}

/// OVS's `ROUND_UP_POW2`: the next power of two (0 stays 0; beyond 2^31 wraps to 0).
pub fn round_up_pow2(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        n.checked_next_power_of_two().unwrap_or(0)
    }
}

fn cache_set_size(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if argv.len() != 4 {
        ctx.error(EINVAL, "Invalid number of arguments");
        return EINVAL;
    }
    let digits: String = argv[3].chars().take_while(char::is_ascii_digit).collect();
    let Ok(size) = digits.parse::<u32>() else {
        ctx.error(EINVAL, "size is malformed");
        return EINVAL;
    };
    let dp = match ctx.open(&argv[1]) {
        Ok(dp) => dp,
        Err(e) => {
            ctx.error(e, &format!("Opening datapath {} failed", argv[1]));
            return e;
        }
    };
    let supported = ctx
        .c()
        .and_then(|c| dpif::get(c, &dp))
        .map(|a| a.masks_cache_size.is_some());
    match supported {
        Ok(true) => {}
        Ok(false) => {
            ctx.error(0, "Setting caches not supported");
            return dpif::EOPNOTSUPP;
        }
        Err(e) => {
            ctx.error(e, "Setting caches not supported");
            return e;
        }
    }
    if argv[2] != "masks-cache" {
        ctx.error(
            EINVAL,
            &format!("Cache name \"{}\" not found on dpif", argv[2]),
        );
        return EINVAL;
    }
    let size = round_up_pow2(size);
    let r = ctx
        .c()
        .and_then(|c| dpif::set_cache_size(c, &dp, size))
        .and_then(|got| {
            if got == Some(size) {
                Ok(())
            } else {
                Err(EINVAL)
            }
        });
    match r {
        Ok(()) => {
            let now = ctx
                .c()
                .and_then(|c| dpif::get(c, &dp))
                .ok()
                .and_then(|a| a.masks_cache_size)
                .unwrap_or(size);
            ctx.print(&format!("Setting cache size successful, new size {now}\n"));
            0
        }
        Err(e) => {
            ctx.error(e, "Setting cache size failed");
            e
        }
    }
}

/// Looks a command up by name.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use odp::family::FlowStats;

    #[test]
    fn iface_arguments() {
        assert_eq!(split_iface("eth9").unwrap(), ("eth9".to_string(), vec![]));
        let (n, o) = split_iface("p0,type=dpdk,port_no=5,devargs=net_tap0,iface=p0").unwrap();
        assert_eq!(n, "p0");
        assert_eq!(
            o,
            [
                ("type".to_string(), "dpdk".to_string()),
                ("port_no".to_string(), "5".to_string()),
                ("devargs".to_string(), "net_tap0,iface=p0".to_string()),
            ]
        );
        let (_, o) =
            split_iface("p0,devargs=\"net_null0,no-rx=1\",type=dpdk,,n_rxq=2,flag").unwrap();
        assert_eq!(
            o,
            [
                ("devargs".to_string(), "net_null0,no-rx=1".to_string()),
                ("type".to_string(), "dpdk".to_string()),
                ("n_rxq".to_string(), "2".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(split_iface(",type=internal").unwrap().0, "");
        assert!(split_iface("p0,=x").is_err());
        assert!(split_iface("p0,devargs=\"open").is_err());
        assert!(split_iface("p0,devargs=\"a\"b").is_err());
    }

    #[test]
    fn c_atoi() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi(" 7x"), 7);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
    }

    #[test]
    fn vport_requests() {
        let v = new_vport(
            "p0",
            "dpdk",
            Some(5),
            &[("devargs".into(), "net_null0,no-rx=1".into())],
        )
        .unwrap();
        assert_eq!(v.ty, Some(VportType::Netdev));
        assert_eq!(v.port_no, Some(5));
        assert_eq!(v.upcall_pids, Some(vec![0]));
        assert_eq!(
            odp::dpswitch::settings(v.options.as_ref().unwrap()),
            [("devargs".to_string(), "net_null0,no-rx=1".to_string())]
        );
        let v = new_vport("i0", "internal", None, &[]).unwrap();
        assert_eq!(v.ty, Some(VportType::Internal));
        assert_eq!(v.options, None);
        assert_eq!(
            new_vport("e", "system", None, &[]).unwrap().ty,
            Some(VportType::Netdev)
        );
        let v = new_vport("vx", "vxlan", None, &[]).unwrap();
        assert_eq!(v.options.unwrap().dst_port, Some(4789));
        let v = new_vport("vx", "vxlan", None, &[("dst_port".into(), "8472".into())]).unwrap();
        assert_eq!(v.options.unwrap().dst_port, Some(8472));
        assert_eq!(
            new_vport("vx", "vxlan", None, &[("dst_port".into(), "x".into())]),
            Err(EINVAL)
        );
        assert_eq!(new_vport("z", "bogus", None, &[]), Err(EAFNOSUPPORT));
    }

    #[test]
    fn flow_file_lines() {
        let (c, f, a) = parse_flow_line(
            LineCmd::Add,
            "  in_port(1),eth(),eth_type(0x0800),ipv4(frag=no) 2 ",
        );
        assert_eq!(c, LineCmd::Add);
        assert_eq!(
            f.as_deref(),
            Some("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)")
        );
        assert_eq!(a.as_deref(), Some("2"));
        let (c, f, a) = parse_flow_line(LineCmd::Add, "delete in_port(1),eth_type(0x0806)");
        assert_eq!(
            (c, f.as_deref(), a),
            (LineCmd::Delete, Some("in_port(1),eth_type(0x0806)"), None)
        );
        let (c, _, a) = parse_flow_line(LineCmd::Add, "modify in_port(2),eth() drop");
        assert_eq!((c, a.as_deref()), (LineCmd::Modify, Some("drop")));
        let (c, f, _) = parse_flow_line(LineCmd::Modify, "in_port(1),eth() 3,4");
        assert_eq!((c, f.is_some()), (LineCmd::Modify, true));
        assert_eq!(
            parse_flow_line(LineCmd::Add, "add"),
            (LineCmd::Add, None, None)
        );
    }

    #[test]
    fn argument_counts() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = find("add-flow").unwrap();
        assert_eq!(
            check_args(c, &argv(&["add-flow", "x"])).unwrap_err(),
            "'add-flow' command requires at least 2 arguments"
        );
        assert_eq!(
            check_args(c, &argv(&["add-flow", "a", "b", "c", "d"])).unwrap_err(),
            "'add-flow' command takes at most 3 arguments"
        );
        assert!(check_args(c, &argv(&["add-flow", "a", "b"])).is_ok());
        assert_eq!(
            check_args(find("dump-dps").unwrap(), &argv(&["dump-dps", "x"])).unwrap_err(),
            "'dump-dps' command takes at most 0 arguments"
        );
        assert!(find("frobnicate").is_none());
    }

    #[test]
    fn help_lists_every_command() {
        let u = usage();
        let l = list_commands_text();
        for c in COMMANDS {
            // The testing aid stays out of -h, as in ovs-dpctl, but list-commands shows it.
            assert!(
                u.contains(c.name) || c.name == "parse-actions",
                "{} missing from -h",
                c.name
            );
            assert!(l.contains(&format!("  {:<23} {}\n", c.name, c.usage)));
        }
        assert!(u.contains("--netlink-pid"));
        assert!(u.contains("1146114903"));
        assert!(
            l.starts_with("The available commands are:\n  add-dp                  dp [iface...]\n")
        );
    }

    #[test]
    fn parse_actions_prints_canonical_form() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut input: &[u8] = b"";
        let o = crate::opts::Opts::default();
        let mut ctx = Ctx::new(o, &mut out, &mut err, &mut input, None);
        let argv: Vec<String> = ["parse-actions", "1,2", "recirc(1)", "bogus("]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(parse_actions(&mut ctx, &argv), EINVAL);
        drop(ctx);
        assert_eq!(String::from_utf8_lossy(&out), "1,2\nrecirc(0x1)\n");
        assert_eq!(
            String::from_utf8_lossy(&err),
            "dpctl: odp_actions_from_string (Invalid argument)\n"
        );
    }

    #[test]
    fn pow2_rounding() {
        assert_eq!(round_up_pow2(0), 0);
        assert_eq!(round_up_pow2(1), 1);
        assert_eq!(round_up_pow2(100), 128);
        assert_eq!(round_up_pow2(256), 256);
        assert_eq!(round_up_pow2(u32::MAX), 0);
    }

    #[test]
    fn dump_types() {
        assert_eq!(dump_type_selects_ovs(""), Ok(true));
        assert_eq!(dump_type_selects_ovs("ovs"), Ok(true));
        assert_eq!(dump_type_selects_ovs("tc,offloaded"), Ok(false));
        assert_eq!(dump_type_selects_ovs("all"), Ok(true));
        assert_eq!(dump_type_selects_ovs("x"), Err("x".to_string()));
    }

    fn flow(s: &str, actions: &str) -> FlowAttrs {
        let (key, mask) = text::parse_key(s, None).unwrap();
        FlowAttrs {
            key: Some(key),
            mask: Some(mask),
            actions: Some(text::parse_actions(actions, None).unwrap()),
            stats: Some(FlowStats {
                n_packets: 10,
                n_bytes: 600,
            }),
            used: Some(99_500),
            ..Default::default()
        }
    }

    #[test]
    fn dump_flows_lines_golden() {
        // A flow as ovs-vswitchd installs it, printed as `format_dpif_flow()` (OVS
        // `lib/dpctl.c`) prints it.
        let f = flow(
            "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(frag=no)",
            "2",
        );
        assert_eq!(
            flow_line(&f, None, false, 100_000),
            "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(frag=no), packets:10, bytes:600, used:0.500s, actions:2"
        );
        let mut f = flow("in_port(1),eth(),eth_type(0x0806),arp()", "drop");
        f.stats = None;
        f.used = None;
        f.ufid = Some(vec![
            0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0xcd, 0xab, 0x00, 0x00, 0xef, 0xbe, 0x44, 0x33,
            0x22, 0x11,
        ]);
        assert_eq!(
            flow_line(&f, None, false, 100_000),
            "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:drop"
        );
        let m = flow_line(&f, None, true, 100_000);
        assert!(m.starts_with("ufid:12345678-abcd-1234-beef-000011223344, in_port(1),eth(src=00:00:00:00:00:00/00:00:00:00:00:00,"), "{m}");
        assert!(
            m.ends_with(", packets:0, bytes:0, used:never, dp:ovs, actions:drop"),
            "{m}"
        );
        let mut names = PortNames::new();
        names.insert(1, "p0");
        names.insert(2, "p1");
        let f = flow("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)", "2");
        assert_eq!(
            flow_line(&f, Some(&names), false, 100_000),
            "in_port(p0),eth(),eth_type(0x0800),ipv4(frag=no), packets:10, bytes:600, used:0.500s, actions:p1"
        );
    }
}

/// Arbitrary text through every pure parser of the command line: none may panic.
#[cfg(test)]
mod no_panic {
    use super::*;

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn text(&mut self) -> String {
            const ALPHABET: &[&str] = &[
                ",", "=", "\"", "-", "--", "#", " ", "\t", "(", ")", "/", ":", "0", "9", "x", "a",
                "devargs=", "type=", "port_no=", "add ", "delete ", "modify ", "in_port", "tcp",
                "é", "∑", "\u{0}", "0x", "-t", "ufid:", "filter=", "=,",
            ];
            let n = (self.next() % 12) as usize;
            (0..n)
                .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize])
                .collect()
        }
    }

    #[test]
    fn random_arguments_never_panic() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let names = PortNames::new();
        for _ in 0..20_000 {
            let args: Vec<String> = (0..(r.next() % 5)).map(|_| r.text()).collect();
            let _ = crate::opts::parse(&args, Some(&r.text()));
            let t = r.text();
            let _ = split_iface(&t);
            let _ = atoi(&t);
            let _ = parse_flow_line(LineCmd::Add, &t);
            let _ = Filter::parse(&t, &names);
            let _ = vport_type(&t);
            let _ = dpif::parse_dp_name(&t);
            if let Some(c) = find(&t) {
                let _ = check_args(c, &args);
            }
        }
    }
}
