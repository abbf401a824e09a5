//! The command set of `ovs-dpctl` (OVS `lib/dpctl.c`, `all_commands[]`) with its argument
//! conventions: an optional datapath argument that counts as one only if such a datapath
//! exists, `,key=value` options per interface, and the same error lines and
//! carry-on-after-an-error behaviour per item.
//!
//! This module holds the table of commands ([`COMMANDS`]) and the context they run in
//! ([`Ctx`]); the commands themselves are in one module per group (`datapath`, `port`,
//! `flow`, `pmd`), with the help texts in `help` and the argument helpers in `args`.

mod args;
mod ct;
mod datapath;
mod flow;
mod help;
#[cfg(test)]
mod no_panic;
mod pmd;
mod port;
#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};

use odp::text::PortNames;

pub use args::{atoi, split_iface};
pub use datapath::round_up_pow2;
pub use flow::{flow_line, parse_flow_line, LineCmd};
pub use help::{list_commands_text, usage};
pub use port::{new_vport, vport_type};

use crate::client::Client;
use crate::dpif::{self, Dp, EINVAL};
use crate::fmt;
use crate::opts::Opts;
use ct::{
    ct_del_limits, ct_get_limits, ct_get_maxconns, ct_get_nconns, ct_set_limits, ct_set_maxconns,
    ct_stats_show, dump_conntrack, flush_conntrack,
};
use datapath::{add_dp, cache_get_size, cache_set_size, del_dp, dump_dps, show};
use flow::{
    add_flow, add_flows, del_flow, del_flows, dump_flows, get_flow, mod_flow, mod_flows,
    parse_actions,
};
use help::{help, list_commands};
use pmd::{pmd_rxq_show, pmd_stats_clear, pmd_stats_show};
use port::{add_if, del_if, set_if};

/// Everything a command needs: options, output streams and the daemon connection.
pub struct Ctx<'a> {
    /// Global options.
    pub o: Opts,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    stdin: &'a mut dyn BufRead,
    c: Option<Client>,
}

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

    /// Prints `msg` with the errno of `e` (an errno, or an error that has one); returns that
    /// errno, the command's exit status.
    fn error(&mut self, e: impl Into<i32>, msg: &str) -> i32 {
        let errno = e.into();
        let _ = self.out.flush();
        let _ = self.err.write_all(fmt::error_line(errno, msg).as_bytes());
        errno
    }

    fn c(&mut self) -> dpif::Result<&mut Client> {
        self.c.as_mut().ok_or(dpif::Error::NotConnected)
    }

    fn enumerate(&mut self) -> dpif::Result<Vec<String>> {
        dpif::enumerate(self.c()?)
    }

    fn open(&mut self, arg: &str) -> dpif::Result<Dp> {
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
        self.open(&dpname).map_err(|e| {
            let e = e.errno();
            self.error(e, "opening datapath");
            e
        })
    }

    /// Runs `cb` on every datapath (sorted by name).
    fn dps_for_each(&mut self, cb: fn(&mut Ctx<'_>, &Dp)) -> i32 {
        let names = match self.enumerate() {
            Ok(n) => n,
            Err(e) => {
                return self.error(e, "enumerating datapaths failed");
            }
        };
        let mut openerror = 0;
        for name in names {
            match self.c().and_then(|c| dpif::open(c, &name, false)) {
                Ok(dp) => cb(self, &dp),
                Err(e) => {
                    openerror = self.error(e, &format!("opening datapath {name} failed"));
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
    cmd!(
        "dump-conntrack",
        "[-m] [-s] [dp] [zone=N]",
        0,
        4,
        dump_conntrack,
        false
    ),
    cmd!(
        "flush-conntrack",
        "[dp] [zone=N] [ct-tuple]",
        0,
        3,
        flush_conntrack,
        true
    ),
    cmd!("ct-stats-show", "[dp] [zone=N]", 0, 3, ct_stats_show, false),
    cmd!(
        "ct-set-maxconns",
        "[dp] maxconns",
        1,
        2,
        ct_set_maxconns,
        true
    ),
    cmd!("ct-get-maxconns", "[dp]", 0, 1, ct_get_maxconns, false),
    cmd!("ct-get-nconns", "[dp]", 0, 1, ct_get_nconns, false),
    cmd!(
        "ct-set-limits",
        "[dp] [default=L] [zone=N,limit=L]...",
        1,
        MANY,
        ct_set_limits,
        true
    ),
    cmd!(
        "ct-del-limits",
        "[dp] zone=N1[,N2]...",
        1,
        2,
        ct_del_limits,
        true
    ),
    cmd!(
        "ct-get-limits",
        "[dp] [zone=N1[,N2]...]",
        0,
        2,
        ct_get_limits,
        false
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

/// Looks a command up by name.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}
