//! `dpctl`: an `ovs-dpctl` compatible client for dpswitch's generic-netlink control plane.
//!
//! It speaks the kernel datapath's families (`ovs_datapath`, `ovs_vport`, `ovs_flow`) through
//! the `odp` codecs, with an `nlio` client that talks to the daemon's well-known port id
//! instead of the kernel, and prints what `ovs-dpctl` prints.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod commands;
pub mod ctfmt;
pub mod dpif;
pub mod filter;
pub mod fmt;
pub mod opts;
pub mod pmd;

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use client::{Timeout, DEFAULT_IDLE};

/// Runs dpctl with `args` (without the program name); returns the exit status.
pub fn run(
    args: &[String],
    env_pid: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stdin: &mut dyn BufRead,
) -> i32 {
    let start = Instant::now();
    let o = match opts::parse(args, env_pid) {
        Ok(o) => o,
        Err(msg) => {
            let _ = err.write_all(fmt::error_line(0, &msg).as_bytes());
            return 1;
        }
    };
    if o.help {
        let _ = out.write_all(commands::usage().as_bytes());
        return 0;
    }
    if o.list_options {
        for l in opts::LONG_OPTIONS {
            let _ = writeln!(out, "{l}");
        }
        return 0;
    }
    if o.version {
        let _ = writeln!(
            out,
            "{} (dpswitch) {}",
            fmt::PROGRAM,
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let Some(name) = o.args.first().cloned() else {
        let _ = err
            .write_all(fmt::error_line(0, "missing command name; use --help for help").as_bytes());
        return 1;
    };
    let Some(cmd) = commands::find(&name) else {
        let _ = err.write_all(
            fmt::error_line(0, &format!("unknown command '{name}'; use --help for help"))
                .as_bytes(),
        );
        return 1;
    };
    let argv = o.args.clone();
    if let Err(msg) = commands::check_args(cmd, &argv) {
        let _ = err.write_all(fmt::error_line(0, &msg).as_bytes());
        return 1;
    }
    if cmd.rw && o.read_only {
        let _ = err.write_all(
            fmt::error_line(
                0,
                &format!("'{}' command does not work in read only mode", cmd.name),
            )
            .as_bytes(),
        );
        return 1;
    }
    let client = if cmd.connects {
        let timeout = match o.timeout {
            Some(s) => Timeout::Deadline(start + Duration::from_secs(u64::from(s))),
            None => Timeout::Idle(DEFAULT_IDLE),
        };
        match client::connect(o.daemon_pid(), timeout) {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = err.write_all(fmt::error_line(e.errno, &e.context).as_bytes());
                return 1;
            }
        }
    } else {
        None
    };
    let mut ctx = commands::Ctx::new(o, out, err, stdin, client);
    let rc = commands::run_command(&mut ctx, cmd, &argv);
    i32::from(rc != 0)
}
