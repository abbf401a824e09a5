//! The PMD commands, from OVS-DPDK's `dpif-netdev/...`: `pmd-stats-show`, `pmd-stats-clear`
//! and `pmd-rxq-show`, over the `dpswitch_pmd` family.

use odp::pmd_stats::{self, PmdInfo};

use super::Ctx;
use crate::client;
use crate::dpif::EINVAL;
use crate::pmd;

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
        .map_err(|e| {
            let e = e.errno();
            ctx.error(e, "dpswitch_pmd request failed");
            e
        })?;
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
pub(super) fn pmd_stats_show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    pmd_show(ctx, argv, pmd_stats::cmd::GET, pmd::stats_section)
}

/// `pmd-rxq-show [-pmd CORE]`: OVS-DPDK's `dpif-netdev/pmd-rxq-show`.
pub(super) fn pmd_rxq_show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    pmd_show(ctx, argv, pmd_stats::cmd::RXQ, pmd::rxq_section)
}

/// `pmd-stats-clear`: later `pmd-stats-show`s count from now.
pub(super) fn pmd_stats_clear(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    match pmd_request(ctx, pmd_stats::cmd::CLEAR) {
        Ok(_) => 0,
        Err(e) => e,
    }
}
