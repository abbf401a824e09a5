//! `ovs_datapath`: NEW / DEL / GET / SET of datapaths with the kernel's semantics
//! (`net/openvswitch/datapath.c`, `ovs_dp_cmd_new()` and its siblings).

use odp::dpswitch::FAMILY_IDS;
use odp::family::datapath::{self as wire, DatapathAttrs, DpCmd, DpMegaflowStats};
use odp::family::OvsMessage;
use odp::nl::{flags, NlMsgHeader};

use super::dump::Dump;
use super::reply::{header_of, is_dump, reply, Answer};
use crate::error::{Error, Result};
use crate::model::{Datapath, Dataplane};
use crate::Switch;

/// Appends datapath `d` in reply form (`ovs_dp_cmd_fill_info()`).
fn dp_msg(
    d: &Datapath,
    cmd: DpCmd,
    hdr: &NlMsgHeader,
    multi: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let s = d.stats();
    let body = DatapathAttrs {
        name: Some(d.name.clone()),
        stats: Some(wire::DpStats {
            n_hit: s.n_hit,
            n_missed: s.n_missed,
            n_lost: s.n_lost,
            n_flows: s.n_flows,
        }),
        megaflow_stats: Some(DpMegaflowStats {
            n_mask_hit: s.n_mask_hit,
            n_masks: s.n_masks,
            n_cache_hit: s.n_cache_hit,
        }),
        user_features: Some(d.user_features),
        masks_cache_size: Some(d.masks_cache_size()),
        per_cpu_pids: (d.per_cpu() && !d.per_cpu_pids.is_empty()).then(|| d.per_cpu_pids.clone()),
        ..DatapathAttrs::default()
    };
    reply(FAMILY_IDS.datapath, cmd, ifindex(d), hdr, multi, body)
        .emit(out)
        .map_err(Error::from)
}

/// The `dp_ifindex` of `d`'s replies.
pub(super) fn ifindex(d: &Datapath) -> i32 {
    i32::try_from(d.ifindex).unwrap_or(0)
}

fn answer(d: &Datapath, cmd: DpCmd, hdr: &NlMsgHeader) -> Result<Answer> {
    let mut out = Vec::new();
    dp_msg(d, cmd, hdr, false, &mut out)?;
    Ok(Answer::Msgs(out))
}

/// Handles one `ovs_datapath` request.
///
/// # Errors
/// The kernel's: EEXIST (name taken), ENODEV (no such datapath), EINVAL (bad attributes),
/// EOPNOTSUPP (unknown feature bits), ERANGE (masks cache size).
pub(super) fn handle<D: Dataplane>(
    sw: &mut Switch<D>,
    m: &OvsMessage<DatapathAttrs>,
) -> Result<Answer> {
    let hdr = header_of(m);
    let echo = m.flags & flags::ECHO != 0;
    let a = &m.body;
    match m.cmd {
        DpCmd::New => {
            wire::check_new(a)?;
            let name = a.name.as_deref().unwrap_or_default();
            if let Some(existing) = sw.model.find_datapath(name) {
                if m.version < wire::VERSION {
                    // Legacy userspace: the kernel resets the features of the existing
                    // datapath before failing.
                    sw.model.get_mut(existing)?.user_features = 0;
                }
                return Err(Error::Exists(name.to_string()));
            }
            let features = a.user_features.unwrap_or(0);
            let dp =
                sw.model
                    .add_datapath(&mut sw.plane, name, a.upcall_pid.unwrap_or(0), features)?;
            if let Some(n) = a.masks_cache_size {
                sw.model.set_masks_cache_size(&mut sw.plane, dp, n)?;
            }
            let d = sw.model.get_mut(dp)?;
            if features & wire::features::DISPATCH_UPCALL_PER_CPU != 0 {
                d.per_cpu_pids = a.per_cpu_pids.clone().unwrap_or_default();
            }
            tracing::info!(dp = name, features, "datapath created over netlink");
            if echo {
                return answer(d, DpCmd::New, &hdr);
            }
            Ok(Answer::None)
        }
        DpCmd::Del => {
            let dp = sw.model.lookup_datapath(a.name.as_deref(), m.dp_ifindex)?;
            let ans = if echo {
                answer(sw.model.get(dp)?, DpCmd::Del, &hdr)?
            } else {
                Answer::None
            };
            sw.model.del_datapath(&mut sw.plane, dp)?;
            Ok(ans)
        }
        DpCmd::Get if is_dump(m.flags) => {
            let mut d = Dump::new(hdr);
            for (_, dp) in sw.model.datapaths() {
                let mut b = Vec::new();
                dp_msg(dp, DpCmd::Get, &hdr, true, &mut b)?;
                d.push(&b);
            }
            d.finish(0);
            Ok(Answer::Dump(d))
        }
        DpCmd::Get => {
            let dp = sw.model.lookup_datapath(a.name.as_deref(), m.dp_ifindex)?;
            answer(sw.model.get(dp)?, DpCmd::Get, &hdr)
        }
        DpCmd::Set => {
            let dp = sw.model.lookup_datapath(a.name.as_deref(), m.dp_ifindex)?;
            // Validate everything before changing anything.
            let features = a.user_features.unwrap_or(0);
            wire::check_user_features(features)?;
            if let Some(n) = a.masks_cache_size {
                wire::check_masks_cache_size(n)?;
            }
            if let Some(n) = a.masks_cache_size {
                sw.model.set_masks_cache_size(&mut sw.plane, dp, n)?;
            }
            let d = sw.model.get_mut(dp)?;
            d.user_features = features;
            if features & wire::features::DISPATCH_UPCALL_PER_CPU != 0 {
                if let Some(p) = &a.per_cpu_pids {
                    d.per_cpu_pids = p.clone();
                }
            }
            if echo {
                return answer(d, DpCmd::Set, &hdr);
            }
            Ok(Answer::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use odp::errno::{EEXIST, EINVAL, ENODEV, EOPNOTSUPP, EPERM, ERANGE};

    use super::*;
    use crate::control::testing::Harness;

    /// A NEW request for datapath `name`.
    fn new_dp(name: &str) -> OvsMessage<DatapathAttrs> {
        OvsMessage::new(
            DpCmd::New,
            0,
            DatapathAttrs {
                name: Some(name.to_string()),
                upcall_pid: Some(0),
                ..DatapathAttrs::default()
            },
        )
    }

    fn by_name(cmd: DpCmd, name: &str, body: DatapathAttrs) -> OvsMessage<DatapathAttrs> {
        OvsMessage::new(
            cmd,
            0,
            DatapathAttrs {
                name: Some(name.to_string()),
                ..body
            },
        )
    }

    #[test]
    fn new_refuses_what_the_kernel_refuses() {
        let mut h = Harness::new();
        assert_eq!(h.errno(new_dp("dp0")), 0);
        assert_eq!(h.errno(new_dp("dp0")), EEXIST, "name taken");
        assert_eq!(h.errno(new_dp("a/b")), EINVAL, "bad name");
        assert_eq!(h.errno(new_dp("a234567890123456")), EINVAL, "name too long");
        let mut no_pid = new_dp("dp1");
        no_pid.body.upcall_pid = None;
        assert_eq!(
            h.errno(no_pid),
            EINVAL,
            "OVS_DP_ATTR_UPCALL_PID is required"
        );
        let mut features = new_dp("dp1");
        features.body.user_features = Some(1 << 7);
        assert_eq!(h.errno(features), EOPNOTSUPP, "unknown feature bits");
        let mut cache = new_dp("dp1");
        cache.body.masks_cache_size = Some(8192);
        assert_eq!(h.errno(cache), ERANGE, "masks cache above 4096");
        let mut cache = new_dp("dp1");
        cache.body.masks_cache_size = Some(100);
        assert_eq!(h.errno(cache), EINVAL, "masks cache not a power of two");
        assert_eq!(h.request(new_dp("dp1"), false).1, EPERM, "unprivileged");
        // None of the refused requests left a datapath behind.
        assert_eq!(h.sw.model.datapaths().count(), 1);
    }

    /// The masks cache size reaches the classifiers: the authoritative one (which PMD
    /// resyncs copy) and, by a command, every PMD's.
    #[test]
    fn masks_cache_size_resizes_the_classifiers() {
        let mut h = Harness::new();
        let mut m = new_dp("dp0");
        m.body.masks_cache_size = Some(512);
        assert_eq!(h.errno(m), 0);
        let dp = h.sw.model.lookup_datapath(Some("dp0"), 0).expect("dp0");
        let size = |h: &Harness| h.sw.model.classifier(dp).expect("dp0").mask_cache_size();
        assert_eq!(size(&h), 512);
        let sent = h.sw.plane.updates.get(&dp).copied().unwrap_or(0);
        let mut set = OvsMessage::new(DpCmd::Set, 0, DatapathAttrs::default());
        set.family = FAMILY_IDS.datapath;
        set.body.name = Some("dp0".into());
        set.body.masks_cache_size = Some(0);
        assert_eq!(h.errno(set), 0);
        assert_eq!(size(&h), 0, "0 turns the cache off");
        assert_eq!(
            h.sw.plane.updates.get(&dp).copied(),
            Some(sent + 1),
            "one PMD command"
        );
        assert_eq!(h.sw.model.get(dp).expect("dp0").masks_cache_size(), 0);
    }

    #[test]
    fn legacy_new_of_an_existing_datapath_resets_its_features() {
        let mut h = Harness::new();
        let mut m = new_dp("dp0");
        m.body.user_features = Some(wire::features::UNALIGNED);
        assert_eq!(h.errno(m), 0);
        let mut legacy = new_dp("dp0");
        legacy.version = wire::VERSION - 1;
        assert_eq!(h.errno(legacy), EEXIST);
        assert_eq!(h.sw.model.datapath(0).unwrap().user_features, 0);
    }

    #[test]
    fn get_set_del_of_a_missing_datapath_are_enodev() {
        let mut h = Harness::new();
        let d = DatapathAttrs::default();
        for cmd in [DpCmd::Get, DpCmd::Set, DpCmd::Del] {
            assert_eq!(h.errno(by_name(cmd, "nope", d.clone())), ENODEV, "{cmd:?}");
            assert_eq!(
                h.errno(OvsMessage::new(cmd, 77, d.clone())),
                ENODEV,
                "{cmd:?} by ifindex"
            );
        }
    }

    #[test]
    fn set_validates_before_it_changes_anything() {
        let mut h = Harness::new();
        assert_eq!(h.errno(new_dp("dp0")), 0);
        let bad = DatapathAttrs {
            user_features: Some(wire::features::UNALIGNED),
            masks_cache_size: Some(3),
            ..DatapathAttrs::default()
        };
        assert_eq!(h.errno(by_name(DpCmd::Set, "dp0", bad)), EINVAL);
        assert_eq!(h.sw.model.datapath(0).unwrap().user_features, 0);
        let good = DatapathAttrs {
            user_features: Some(wire::features::UNALIGNED),
            ..DatapathAttrs::default()
        };
        assert_eq!(
            h.request(by_name(DpCmd::Set, "dp0", good.clone()), false).1,
            EPERM
        );
        assert_eq!(h.errno(by_name(DpCmd::Set, "dp0", good)), 0);
        assert_eq!(
            h.sw.model.datapath(0).unwrap().user_features,
            wire::features::UNALIGNED
        );
    }

    #[test]
    fn get_answers_everyone_and_dumps_list_every_datapath() {
        let mut h = Harness::new();
        assert_eq!(h.errno(new_dp("dp0")), 0);
        assert_eq!(h.errno(new_dp("dp1")), 0);
        let (r, e) = h.request(by_name(DpCmd::Get, "dp1", DatapathAttrs::default()), false);
        assert_eq!(e, 0);
        assert_eq!(r[0].body.name.as_deref(), Some("dp1"));
        assert_eq!(r[0].dp_ifindex, 100, "the local port's ifindex");
        let mut dump = OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
        dump.flags = flags::DUMP;
        let (r, e) = h.request(dump, false);
        assert_eq!(e, 0);
        let names: Vec<_> = r.iter().filter_map(|m| m.body.name.clone()).collect();
        assert_eq!(names, ["dp0", "dp1"]);
        assert!(r.iter().all(|m| m.flags & flags::MULTI != 0));
    }

    #[test]
    fn del_takes_the_datapath_and_its_ports() {
        let mut h = Harness::new();
        assert_eq!(h.errno(new_dp("dp0")), 0);
        assert_eq!(h.sw.plane.ports.len(), 1, "the local port");
        let mut del = by_name(DpCmd::Del, "dp0", DatapathAttrs::default());
        del.flags = flags::ECHO;
        let (r, e) = h.request(del, true);
        assert_eq!((r.len(), e), (1, 0), "echo, then the ACK");
        assert!(h.sw.plane.ports.is_empty());
        assert!(h.sw.plane.datapaths.is_empty());
        assert_eq!(h.errno(new_dp("dp0")), 0, "the name is free again");
    }
}
