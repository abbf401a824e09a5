//! The port commands: `add-if`, `set-if`, `del-if`, and the vport requests they make.

use odp::family::vport::{VportAttrs, VportOptions, VportType};

use super::{atoi, split_iface, Ctx};
use crate::client::ENOENT;
use crate::dpif::{self, Dp, EAFNOSUPPORT, EEXIST, EINVAL, ENODEV};
use crate::fmt;

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
            return ctx.error(e, "opening datapath");
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

pub(super) fn add_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
        return ctx.error(e, &format!("adding {name} to {dparg} failed"));
    }
    0
}

pub(super) fn set_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
            return ctx.error(e, &format!("{name}: failed to query port in {dparg}"));
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
        return ctx.error(e, "Error updating configuration");
    }
    0
}

pub(super) fn del_if(ctx: &mut Ctx<'_>, argv: &[String]) -> i32 {
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
        return ctx.error(e, &format!("deleting port {name} from {dparg} failed"));
    }
    0
}
