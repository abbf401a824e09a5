//! The `ovs_ct_limit` family over the shared connection table, as the kernel answers it
//! (`net/openvswitch/conntrack.c`, `ovs_ct_limit_cmd_set()`, `_del()`, `_get()`): limits are
//! per process (the kernel's are per network namespace), ids outside 0..=65535 are skipped,
//! and every reply echoes the request's `dp_ifindex`.

use fastpath::conntrack::table::Table;
use odp::ct_limit::{cmd, require_limits, zone_of, CtLimitMsg, ZoneLimit, DEFAULT_ZONE};
use odp::nl::NlMsgHeader;

use super::reply::Answer;
use crate::error::{Error, Result};

/// Handles one message (`hdr` already carries the sender's port id).
pub(super) fn handle(
    table: &Table,
    hdr: &NlMsgHeader,
    payload: &[u8],
    admin: bool,
) -> (&'static str, Result<Answer>) {
    let m = match CtLimitMsg::parse(*hdr, payload) {
        Ok(m) => m,
        Err(e) => return ("parse", Err(e.into())),
    };
    let name = match m.cmd {
        cmd::SET => "set",
        cmd::DEL => "del",
        cmd::GET => "get",
        _ => return ("unknown", Err(Error::Unsupported("ct limit command"))),
    };
    if m.cmd != cmd::GET && !admin {
        return (name, Err(Error::NotPermitted));
    }
    let limits = match m.cmd {
        cmd::SET => require_limits(&m).map(|l| {
            for z in l {
                match (z.zone_id, zone_of(z.zone_id)) {
                    (DEFAULT_ZONE, _) => table.set_default_limit(z.limit),
                    (_, Some(zone)) => table.set_zone_limit(zone, Some(z.limit)),
                    _ => tracing::debug!(zone_id = z.zone_id, "ct limit: zone id out of range"),
                }
            }
            None
        }),
        cmd::DEL => require_limits(&m).map(|l| {
            for z in l {
                match (z.zone_id, zone_of(z.zone_id)) {
                    (DEFAULT_ZONE, _) => table.set_default_limit(0),
                    (_, Some(zone)) => table.set_zone_limit(zone, None),
                    _ => tracing::debug!(zone_id = z.zone_id, "ct limit: zone id out of range"),
                }
            }
            None
        }),
        _ => Ok(Some(get(table, m.limits.as_deref()))),
    };
    let reply = limits.map_err(Error::from).and_then(|limits| {
        let r = CtLimitMsg {
            cmd: m.cmd,
            dp_ifindex: m.dp_ifindex,
            limits,
        };
        let mut b = Vec::new();
        r.emit(&mut b, hdr.ty, 0, hdr.seq, hdr.pid)?;
        Ok(Answer::Msgs(b))
    });
    (name, reply)
}

/// GET: the requested zones, or the default then every zone with a limit of its own.
fn get(table: &Table, want: Option<&[ZoneLimit]>) -> Vec<ZoneLimit> {
    let default = ZoneLimit {
        zone_id: DEFAULT_ZONE,
        limit: table.default_limit(),
        count: 0,
    };
    let zone = |z: u16| ZoneLimit {
        zone_id: i32::from(z),
        limit: table.zone_limit(z).0,
        count: table.zone_count(z),
    };
    match want {
        None => std::iter::once(default)
            .chain(table.limited_zones().map(zone))
            .collect(),
        Some(w) => w
            .iter()
            .filter_map(|z| match (z.zone_id, zone_of(z.zone_id)) {
                (DEFAULT_ZONE, _) => Some(default),
                (_, Some(id)) => Some(zone(id)),
                _ => None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use odp::errno::{EINVAL, EPERM};
    use odp::nl::flags;

    use super::*;
    use crate::control::testing::Harness;
    use crate::model::Dataplane;

    fn send(
        h: &mut Harness,
        cmd: u8,
        limits: Option<Vec<(i32, u32)>>,
        admin: bool,
    ) -> (Option<CtLimitMsg>, i32) {
        let m = CtLimitMsg {
            cmd,
            dp_ifindex: 42,
            limits: limits.map(|l| {
                l.into_iter()
                    .map(|(zone_id, limit)| ZoneLimit {
                        zone_id,
                        limit,
                        count: 0,
                    })
                    .collect()
            }),
        };
        let mut b = Vec::new();
        m.emit(
            &mut b,
            odp::ct_limit::FAMILY_ID,
            flags::REQUEST | flags::ACK,
            5,
            0,
        )
        .unwrap();
        let (msgs, errno) = h.raw(&b, admin);
        let reply = msgs
            .first()
            .map(|(hdr, p)| CtLimitMsg::parse(*hdr, p).unwrap());
        (reply, errno.unwrap_or(-1))
    }

    fn entries(m: &CtLimitMsg) -> Vec<(i32, u32, u32)> {
        m.limits
            .iter()
            .flatten()
            .map(|z| (z.zone_id, z.limit, z.count))
            .collect()
    }

    #[test]
    fn limits_are_set_read_with_counts_and_deleted_as_the_kernel_does() {
        let mut h = Harness::new();
        let (r, e) = send(
            &mut h,
            cmd::SET,
            Some(vec![(-1, 10), (3, 5), (70_000, 1)]),
            true,
        );
        assert_eq!(e, 0);
        let r = r.expect("SET is answered with an empty message");
        assert_eq!((r.cmd, r.dp_ifindex, r.limits), (cmd::SET, 42, None));
        let table = h.sw.plane.conntrack().clone();
        assert_eq!(table.zone_limit(3), (5, true));
        assert_eq!(table.zone_limit(4), (10, false));

        let (r, e) = send(&mut h, cmd::GET, None, false);
        assert_eq!(e, 0, "reading needs no privilege");
        assert_eq!(entries(&r.unwrap()), [(-1, 10, 0), (3, 5, 0)]);
        let (r, _) = send(
            &mut h,
            cmd::GET,
            Some(vec![(3, 0), (9, 0), (-1, 0), (-7, 0)]),
            false,
        );
        assert_eq!(entries(&r.unwrap()), [(3, 5, 0), (9, 10, 0), (-1, 10, 0)]);

        let (_, e) = send(&mut h, cmd::DEL, Some(vec![(3, 0), (-1, 0)]), true);
        assert_eq!(e, 0);
        let (r, _) = send(&mut h, cmd::GET, None, false);
        assert_eq!(entries(&r.unwrap()), [(-1, 0, 0)]);
    }

    #[test]
    fn changes_need_privilege_and_zone_limits() {
        let mut h = Harness::new();
        assert_eq!(send(&mut h, cmd::SET, Some(vec![(1, 1)]), false).1, EPERM);
        assert_eq!(send(&mut h, cmd::DEL, Some(vec![(1, 1)]), false).1, EPERM);
        assert_eq!(send(&mut h, cmd::SET, None, true).1, EINVAL);
        assert_eq!(send(&mut h, cmd::DEL, None, true).1, EINVAL);
    }
}
