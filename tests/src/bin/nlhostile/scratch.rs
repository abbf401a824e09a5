//! The scratch datapath the requests aim at: set up with one net_null vport, removed at the
//! end.

use std::time::Duration;

use dpswitch_e2e::nlclient::NlClient;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::vport::{VportAttrs, VportCmd, VportOptions, VportType};
use odp::family::FamilyIds;
use odp::nl::flags;

use crate::ask::ask;

/// What every thread needs to build requests.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) ids: FamilyIds,
    /// The scratch datapath and its ifindex.
    pub(crate) dp: String,
    pub(crate) ifindex: i32,
    /// Port number of the scratch datapath's net_null vport.
    pub(crate) null_port: u32,
}

/// Sets up the scratch datapath with one net_null vport; returns the context.
pub(crate) fn scratch(c: &mut NlClient, dp: &str, timeout: Duration) -> Result<Ctx, String> {
    let dp = dp.to_string();
    let new = c.msg(
        DpCmd::New,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            upcall_pid: Some(0),
            ..DatapathAttrs::default()
        },
    );
    ask(c, new, 0, timeout).map_err(|e| format!("DP NEW {dp}: {e}"))?;
    let get = c.msg(
        DpCmd::Get,
        0,
        DatapathAttrs {
            name: Some(dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    // The ifindex travels in the reply's ovs_header: decode it with a plain transact.
    let (r, e) = c.transact(get, 0);
    if e != 0 {
        return Err(format!("DP GET {dp}: errno {e}"));
    }
    let ifindex = r[0].dp_ifindex;
    let null = format!("{dp}n");
    let mut o = VportOptions::default();
    odp::dpswitch::push_setting(
        &mut o,
        odp::dpswitch::DEVARGS,
        &format!("net_null_{null},no-rx=1"),
    );
    let vnew = c.msg(
        VportCmd::New,
        ifindex,
        VportAttrs {
            ty: Some(VportType::Netdev),
            name: Some(null.clone()),
            options: Some(o),
            upcall_pids: Some(vec![0]),
            ..VportAttrs::default()
        },
    );
    let (r, e) = c.transact(vnew, flags::ECHO);
    if e != 0 {
        return Err(format!("VPORT NEW {null}: errno {e}"));
    }
    let null_port = r
        .first()
        .and_then(|m| m.body.port_no)
        .ok_or("VPORT NEW echo without port_no")?;
    Ok(Ctx {
        ids: c.ids,
        dp,
        ifindex,
        null_port,
    })
}

pub(crate) fn teardown(c: &mut NlClient, ctx: &Ctx, timeout: Duration) {
    let del = c.msg(
        DpCmd::Del,
        0,
        DatapathAttrs {
            name: Some(ctx.dp.clone()),
            ..DatapathAttrs::default()
        },
    );
    if let Err(e) = ask(c, del, 0, timeout) {
        eprintln!("nlhostile: DP DEL {}: {e}", ctx.dp);
    }
}
