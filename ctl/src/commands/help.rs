//! The help texts: `-h` and `help`, and `list-commands`.

use super::{Ctx, COMMANDS};
use crate::fmt;

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
  dump-conntrack [DP] [zone=ZONE]  display conntrack entries for ZONE
  flush-conntrack [DP] [zone=ZONE] [ct-tuple]  delete all (or the) conntrack entries in ZONE
  ct-stats-show [DP] [zone=ZONE] [verbose]  CT connections grouped by protocol
  ct-set-maxconns [DP] MAXCONNS  set the maximum conntrack entries (not at run time)
  ct-get-maxconns [DP]     get the maximum conntrack entries
  ct-get-nconns [DP]       get the number of conntrack entries
  ct-set-limits [DP] [default=L] [zone=N,limit=L]...  set conntrack limits
  ct-del-limits [DP] zone=N1[,N2]...  delete zone limits
  ct-get-limits [DP] [zone=N1[,N2]...]  get conntrack limits for zones
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

pub(super) fn help(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
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

pub(super) fn list_commands(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    ctx.print(&list_commands_text());
    0
}
