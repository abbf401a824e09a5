//! `ovs_vport`: NEW / DEL / GET / SET of vports with the kernel's semantics
//! (`net/openvswitch/datapath.c`, `ovs_vport_cmd_new()` and its siblings). DPDK devices and
//! other settings travel as `odp::dpswitch` key=value options (`docs/protocol.md`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use odp::dpswitch::{self as ext, FAMILY_IDS};
use odp::family::datapath::features;
use odp::family::vport::{self as wire, VportAttrs, VportCmd, VportLookup, OVSP_LOCAL};
use odp::family::OvsMessage;
use odp::nl::{flags, NlMsgHeader};

use super::datapath::ifindex;
use super::dump::Dump;
use super::reply::{header_of, is_dump, reply, Answer};
use crate::error::{Error, Result};
use crate::model::{vport, Dataplane, Model, VportKind, VportSpec};
use crate::Switch;

/// Appends port `port_no` of datapath `dp` in reply form (`ovs_vport_cmd_fill_info()`).
fn vport_msg<D: Dataplane>(
    sw: &Switch<D>,
    dp: usize,
    port_no: u32,
    cmd: VportCmd,
    hdr: &NlMsgHeader,
    multi: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let d = sw.model.get(dp)?;
    let v = d
        .vports
        .get(&port_no)
        .ok_or_else(|| Error::NoPort(port_no.to_string()))?;
    let st = sw.plane.port_stats(dp, port_no);
    let (rx_dropped, tx_dropped) = v.counters.dropped(&st);
    let stats = wire::VportStats {
        rx_packets: st.rx_packets,
        tx_packets: st.tx_packets,
        rx_bytes: st.rx_bytes,
        tx_bytes: st.tx_bytes,
        rx_errors: st.rx_errors,
        tx_errors: st.tx_errors,
        rx_dropped,
        tx_dropped,
    };
    // Arrays of pids only to clients that negotiated them (OVS_DP_F_VPORT_PIDS).
    let pids = if d.user_features & features::VPORT_PIDS != 0 {
        if v.upcall_pids.is_empty() {
            vec![0]
        } else {
            v.upcall_pids.clone()
        }
    } else {
        vec![v.upcall_pids.first().copied().unwrap_or(0)]
    };
    let mut options = wire::VportOptions::default();
    ext::push_setting(&mut options, ext::DEVARGS, &v.devargs);
    for (k, val) in &v.options {
        if k != ext::DEVARGS {
            ext::push_setting(&mut options, k, val);
        }
    }
    let body = VportAttrs {
        port_no: Some(port_no),
        ty: Some(v.kind.wire()),
        name: Some(v.name.clone()),
        ifindex: Some(v.ifindex),
        stats: Some(stats),
        upcall_stats: Some(wire::UpcallStats {
            success: v.counters.upcall_success.load(Relaxed),
            fail: v.counters.upcall_fail.load(Relaxed),
        }),
        upcall_pids: Some(pids),
        options: Some(options),
        ..VportAttrs::default()
    };
    reply(FAMILY_IDS.vport, cmd, ifindex(d), hdr, multi, body)
        .emit(out)
        .map_err(Error::from)
}

fn answer<D: Dataplane>(
    sw: &Switch<D>,
    dp: usize,
    port_no: u32,
    cmd: VportCmd,
    hdr: &NlMsgHeader,
) -> Result<Answer> {
    let mut out = Vec::new();
    vport_msg(sw, dp, port_no, cmd, hdr, false, &mut out)?;
    Ok(Answer::Msgs(out))
}

/// The vport a request names: by name in any datapath (which must be the header's, if it
/// names one), or by number in the header's datapath (`lookup_vport()`).
fn lookup(model: &Model, m: &OvsMessage<VportAttrs>) -> Result<(usize, u32)> {
    match wire::lookup(&m.body)? {
        VportLookup::Name(n) => {
            let (dp, port) = model
                .find_vport(n)
                .ok_or_else(|| Error::NoPort(n.to_string()))?;
            let ifindex = model.get(dp)?.ifindex;
            if m.dp_ifindex != 0 && u32::try_from(m.dp_ifindex).ok() != Some(ifindex) {
                return Err(Error::NoPort(n.to_string()));
            }
            Ok((dp, port))
        }
        VportLookup::PortNo(p) => {
            let dp = model.lookup_datapath(None, m.dp_ifindex)?;
            if !model.get(dp)?.vports.contains_key(&p) {
                return Err(Error::NoPort(p.to_string()));
            }
            Ok((dp, p))
        }
    }
}

/// Handles one `ovs_vport` request.
///
/// # Errors
/// The kernel's: ENODEV (no such datapath or port), EEXIST (name taken), EBUSY / EFBIG (port
/// number), EINVAL (bad attributes, the local port, a type change), EAFNOSUPPORT (tunnel
/// types), EOPNOTSUPP (changing a running port's device).
pub(super) fn handle<D: Dataplane>(
    sw: &mut Switch<D>,
    m: &OvsMessage<VportAttrs>,
) -> Result<Answer> {
    let hdr = header_of(m);
    let echo = m.flags & flags::ECHO != 0;
    let a = &m.body;
    match m.cmd {
        VportCmd::New => {
            wire::check_new(a)?;
            let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
            let kind = a.ty.map_or(Err(Error::VportType), VportKind::from_wire)?;
            let mut options = BTreeMap::new();
            let mut devargs = None;
            for (k, v) in a.options.as_ref().map(ext::settings).unwrap_or_default() {
                vport::check_setting(&k, &v)?;
                if k == ext::DEVARGS {
                    devargs = Some(v.clone());
                }
                if !v.is_empty() {
                    options.insert(k, v);
                }
            }
            let spec = VportSpec {
                name: a.name.clone().unwrap_or_default(),
                kind,
                devargs,
                port_no: a.port_no,
                upcall_pids: a.upcall_pids.clone().unwrap_or_default(),
                options,
            };
            let port = sw.model.add_vport(&mut sw.plane, dp, spec)?;
            if echo {
                return answer(sw, dp, port, VportCmd::New, &hdr);
            }
            Ok(Answer::None)
        }
        VportCmd::Del => {
            let (dp, port) = lookup(&sw.model, m)?;
            if port == OVSP_LOCAL {
                return Err(Error::LocalPort);
            }
            let ans = if echo {
                answer(sw, dp, port, VportCmd::Del, &hdr)?
            } else {
                Answer::None
            };
            sw.model.del_vport(&mut sw.plane, dp, port)?;
            Ok(ans)
        }
        VportCmd::Get if is_dump(m.flags) => {
            let mut d = Dump::new(hdr);
            match sw.model.lookup_datapath(None, m.dp_ifindex) {
                Ok(dp) => {
                    let ports: Vec<u32> = sw.model.get(dp)?.vports.keys().copied().collect();
                    for p in ports {
                        let mut b = Vec::new();
                        vport_msg(sw, dp, p, VportCmd::Get, &hdr, true, &mut b)?;
                        d.push(&b);
                    }
                    d.finish(0);
                }
                Err(e) => d.finish(-e.errno()),
            }
            Ok(Answer::Dump(d))
        }
        VportCmd::Get => {
            let (dp, port) = lookup(&sw.model, m)?;
            answer(sw, dp, port, VportCmd::Get, &hdr)
        }
        VportCmd::Set => {
            let (dp, port) = lookup(&sw.model, m)?;
            let v = sw
                .model
                .get_mut(dp)?
                .vports
                .get_mut(&port)
                .ok_or_else(|| Error::NoPort(port.to_string()))?;
            if a.ty.is_some_and(|t| t != v.kind.wire()) {
                return Err(Error::Invalid("vport type change"));
            }
            if let Some(o) = &a.options {
                let settings = ext::settings(o);
                for (k, val) in &settings {
                    vport::check_setting(k, val)?;
                }
                // The device cannot be swapped, nor its queues changed, under a running port.
                if settings
                    .iter()
                    .any(|(k, val)| k == ext::DEVARGS && *val != v.devargs)
                {
                    return Err(Error::Unsupported("changing a port's device"));
                }
                let queue_setting = |k: &str| k == vport::N_RXQ || k == vport::RXQ_AFFINITY;
                if settings.iter().any(|(k, val)| {
                    queue_setting(k) && v.options.get(k).map_or(!val.is_empty(), |cur| cur != val)
                }) {
                    return Err(Error::Unsupported("changing a running port's rx queues"));
                }
                if settings.is_empty() && (o.dst_port.is_some() || o.extension.is_some()) {
                    return Err(Error::Unsupported("tunnel options"));
                }
                for (k, val) in settings {
                    if val.is_empty() {
                        v.options.remove(&k);
                    } else {
                        v.options.insert(k, val);
                    }
                }
            }
            if let Some(p) = &a.upcall_pids {
                v.upcall_pids = p.clone();
            }
            if echo {
                return answer(sw, dp, port, VportCmd::Set, &hdr);
            }
            Ok(Answer::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use odp::errno::{EAFNOSUPPORT, EBUSY, EEXIST, EFBIG, EINVAL, ENODEV, EOPNOTSUPP, EPERM};
    use odp::family::vport::VportOptions;

    use super::*;
    use crate::control::testing::Harness;

    /// `dp_ifindex` of the harness's first datapath (its local port's ifindex).
    const DP: i32 = 100;

    fn new_port(name: &str, ty: wire::VportType, devargs: Option<&str>) -> OvsMessage<VportAttrs> {
        let mut options = VportOptions::default();
        if let Some(d) = devargs {
            ext::push_setting(&mut options, ext::DEVARGS, d);
        }
        OvsMessage::new(
            VportCmd::New,
            DP,
            VportAttrs {
                name: Some(name.to_string()),
                ty: Some(ty),
                upcall_pids: Some(vec![0]),
                options: Some(options),
                ..VportAttrs::default()
            },
        )
    }

    fn named(cmd: VportCmd, dp_ifindex: i32, name: &str) -> OvsMessage<VportAttrs> {
        OvsMessage::new(
            cmd,
            dp_ifindex,
            VportAttrs {
                name: Some(name.to_string()),
                ..VportAttrs::default()
            },
        )
    }

    #[test]
    fn new_refuses_what_the_kernel_refuses() {
        let mut h = Harness::with_dp();
        let netdev = wire::VportType::Netdev;
        assert_eq!(h.errno(new_port("p1", netdev, Some("net_null0"))), 0);
        assert_eq!(
            h.errno(new_port("p1", netdev, Some("net_null1"))),
            EEXIST,
            "name"
        );
        assert_eq!(
            h.errno(new_port("dp0", netdev, Some("net_null1"))),
            EEXIST,
            "a datapath's"
        );
        let mut tunnel = new_port("vx", netdev, None);
        tunnel.body.ty = Some(wire::VportType::Vxlan);
        tunnel.body.options = Some(VportOptions {
            dst_port: Some(4789),
            ..VportOptions::default()
        });
        assert_eq!(h.errno(tunnel), EAFNOSUPPORT, "tunnel types");
        let mut other_dp = new_port("p2", netdev, Some("net_null2"));
        other_dp.dp_ifindex = 5;
        assert_eq!(h.errno(other_dp), ENODEV, "no such datapath");
        let mut taken = new_port("p2", netdev, Some("net_null2"));
        taken.body.port_no = Some(1);
        assert_eq!(h.errno(taken), EBUSY, "port number in use");
        let mut big = new_port("p2", netdev, Some("net_null2"));
        big.body.port_no = Some(65535);
        assert_eq!(h.errno(big), EFBIG, "port number too large");
        assert_eq!(
            h.errno(new_port("p 2", netdev, Some("x"))),
            EINVAL,
            "bad name"
        );
        assert_eq!(
            h.errno(new_port("eth9", netdev, None)),
            ENODEV,
            "no such interface"
        );
        h.sw.plane.netdevs.insert("eth9".into());
        assert_eq!(
            h.errno(new_port("eth9", netdev, None)),
            0,
            "the interface exists"
        );
        let internal = wire::VportType::Internal;
        assert_eq!(h.errno(new_port("eth9x", internal, None)), 0);
        h.sw.plane.netdevs.insert("taken".into());
        assert_eq!(
            h.errno(new_port("taken", internal, None)),
            EEXIST,
            "kernel netdev"
        );
        assert_eq!(h.request(new_port("p3", netdev, Some("n")), false).1, EPERM);
        assert_eq!(h.sw.model.datapath(0).unwrap().vports.len(), 4);
    }

    #[test]
    fn lookups_follow_the_kernel() {
        let mut h = Harness::with_dp();
        assert_eq!(
            h.errno(new_port("p1", wire::VportType::Netdev, Some("n"))),
            0
        );
        // By name the header's datapath must match, when it names one.
        assert_eq!(h.request(named(VportCmd::Get, DP, "p1"), false).1, 0);
        assert_eq!(h.request(named(VportCmd::Get, 0, "p1"), false).1, 0);
        assert_eq!(h.errno(named(VportCmd::Get, 5, "p1")), ENODEV);
        assert_eq!(h.errno(named(VportCmd::Get, DP, "nope")), ENODEV);
        let by_no = |cmd, dp_ifindex, port_no| {
            OvsMessage::new(
                cmd,
                dp_ifindex,
                VportAttrs {
                    port_no: Some(port_no),
                    ..VportAttrs::default()
                },
            )
        };
        assert_eq!(h.errno(by_no(VportCmd::Get, DP, 1)), 0);
        assert_eq!(h.errno(by_no(VportCmd::Get, DP, 9)), ENODEV);
        assert_eq!(
            h.errno(by_no(VportCmd::Get, 0, 1)),
            ENODEV,
            "by number needs a datapath"
        );
        assert_eq!(
            h.errno(by_no(VportCmd::Del, DP, 0)),
            EINVAL,
            "the local port"
        );
        assert_eq!(h.errno(by_no(VportCmd::Del, DP, 9)), ENODEV);
        assert_eq!(h.request(by_no(VportCmd::Del, DP, 1), false).1, EPERM);
        assert_eq!(h.errno(by_no(VportCmd::Del, DP, 1)), 0);
        assert_eq!(h.errno(by_no(VportCmd::Get, DP, 1)), ENODEV, "gone");
        // A dump of a missing datapath ends with its errno.
        let mut dump = OvsMessage::new(VportCmd::Get, 5, VportAttrs::default());
        dump.flags = flags::DUMP;
        assert_eq!(h.errno(dump), ENODEV);
    }

    #[test]
    fn set_changes_settings_but_not_the_device_or_type() {
        let mut h = Harness::with_dp();
        assert_eq!(
            h.errno(new_port("p1", wire::VportType::Netdev, Some("n0"))),
            0
        );
        let mut retype = named(VportCmd::Set, DP, "p1");
        retype.body.ty = Some(wire::VportType::Internal);
        assert_eq!(h.errno(retype), EINVAL);
        let mut device = named(VportCmd::Set, DP, "p1");
        let mut o = VportOptions::default();
        ext::push_setting(&mut o, ext::DEVARGS, "n1");
        device.body.options = Some(o);
        assert_eq!(h.errno(device), EOPNOTSUPP);
        let mut tunnel = named(VportCmd::Set, DP, "p1");
        tunnel.body.options = Some(VportOptions {
            dst_port: Some(4789),
            ..VportOptions::default()
        });
        assert_eq!(h.errno(tunnel), EOPNOTSUPP);
        let mut ok = named(VportCmd::Set, DP, "p1");
        let mut o = VportOptions::default();
        ext::push_setting(&mut o, "no-flood", "true");
        ok.body.options = Some(o);
        ok.body.upcall_pids = Some(vec![7]);
        ok.flags = flags::ECHO;
        let (r, e) = h.request(ok, true);
        assert_eq!(e, 0);
        assert_eq!(r[0].body.upcall_pids, Some(vec![7]));
        let v = &h.sw.model.datapath(0).unwrap().vports[&1];
        assert!(!v.floods());
        assert_eq!(v.devargs, "n0");
    }
}
