//! The datapath commands: `add-dp`, `del-dp`, `show`, `dump-dps`, `cache-get-size` and
//! `cache-set-size`.

use super::port::add_if;
use super::Ctx;
use crate::dpif::{self, Dp, EINVAL};
use crate::fmt;

pub(super) fn add_dp(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let r = dpif::parse_dp_name(&argv[1])
        .map(str::to_string)
        .and_then(|name| dpif::open(ctx.c()?, &name, true));
    if let Err(e) = r {
        return ctx.error(e, "add_dp");
    }
    if argv.len() > 2 {
        return add_if(ctx, argv);
    }
    0
}

pub(super) fn del_dp(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    let dp = match ctx.open(&argv[1]) {
        Ok(dp) => dp,
        Err(e) => {
            return ctx.error(e, "opening datapath");
        }
    };
    let r = ctx.c().and_then(|c| dpif::delete(c, &dp));
    if let Err(e) = r {
        return ctx.error(e, "del_dp");
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

pub(super) fn show(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if argv.len() > 1 {
        let mut lasterror = 0;
        for name in &argv[1..] {
            match ctx.open(name) {
                Ok(dp) => show_dpif(ctx, &dp),
                Err(e) => {
                    lasterror = ctx.error(e, &format!("opening datapath {name} failed"));
                }
            }
        }
        lasterror
    } else {
        ctx.dps_for_each(show_dpif)
    }
}

pub(super) fn dump_dps(ctx: &mut Ctx<'_>, _argv: &[String]) -> i32 {
    ctx.dps_for_each(|ctx, dp| {
        let s = format!("{}\n", dp.full_name());
        ctx.print(&s);
    })
}

fn show_cache(ctx: &mut Ctx<'_>, dp: &Dp) {
    let attrs = ctx.c().and_then(|c| dpif::get(c, dp)).unwrap_or_default();
    let s = format!("{}:\n{}", dp.full_name(), fmt::caches(&attrs));
    ctx.print(&s);
}

pub(super) fn cache_get_size(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
    if argv.len() > 1 {
        match ctx.open(&argv[1]) {
            Ok(dp) => {
                show_cache(ctx, &dp);
                0
            }
            Err(e) => ctx.error(e, &format!("Opening datapath {} failed", argv[1])),
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

pub(super) fn cache_set_size(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
            return ctx.error(e, &format!("Opening datapath {} failed", argv[1]));
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
            return ctx.error(e, "Setting caches not supported");
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
                Err(dpif::Error::NotApplied("masks cache size"))
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
        Err(e) => ctx.error(e, "Setting cache size failed"),
    }
}
