//! `ovs_packet`: PACKET EXECUTE (`net/openvswitch/datapath.c`, `ovs_packet_cmd_execute()`).
//! MISS and ACTION go the other way: [`super::upcall`] sends them.

use fastpath::flow::FlowKey;
use fastpath::packet::extract;
use fastpath::wire;
use odp::action::validate_actions;
use odp::family::packet::{self as family, PacketAttrs, PacketCmd};
use odp::family::OvsMessage;
use odp::validate::FlatKey;

use super::reply::Answer;
use crate::error::{Error, Result};
use crate::model::Dataplane;
use crate::slowpath::UpcallSink;
use crate::Switch;

/// Handles one `ovs_packet` request; userspace actions it runs go to `sink`.
///
/// # Errors
/// The kernel's: EINVAL (missing or bad packet, key or actions), ENODEV (no such datapath),
/// EOPNOTSUPP (MISS/ACTION from userspace, actions the fast path cannot run), ENOMEM (no
/// packet buffer).
pub(super) fn handle<D: Dataplane>(
    sw: &mut Switch<D>,
    m: &OvsMessage<PacketAttrs>,
    sink: &mut dyn UpcallSink,
) -> Result<Answer> {
    if m.cmd != PacketCmd::Execute {
        // MISS / ACTION go from the datapath to userspace only.
        return Err(Error::Unsupported("packet command"));
    }
    let a = &m.body;
    family::check_execute(a)?;
    let (Some(frame), Some(key), Some(acts)) = (&a.packet, &a.key, &a.actions) else {
        return Err(Error::Invalid("execute without packet, key or actions"));
    };
    let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
    let in_port = FlatKey::from_key(key)?.key.in_port.unwrap_or(0);
    let known = sw.model.get(dp)?.vports.contains_key(&in_port);
    let md = wire::execute_metadata(key, !known)?;
    // Actions are validated against the packet's own key, as the kernel does.
    let mut pk = FlowKey::ZERO;
    extract(frame, &md, &mut pk);
    validate_actions(acts, &FlatKey::from_key(&wire::key_to_odp(&pk))?)?;
    sw.slow.execute(
        &sw.model,
        &mut sw.plane,
        dp,
        frame,
        &md,
        acts,
        a.upcall_pid,
        sink,
    )?;
    Ok(Answer::None)
}

#[cfg(test)]
mod tests {
    use odp::action::{Action, Ct};
    use odp::errno::{EINVAL, ENODEV, EOPNOTSUPP, EPERM};
    use odp::family::packet::PacketAttrs;

    use super::*;
    use crate::control::testing::Harness;

    const DP: i32 = 100;

    fn frame() -> Vec<u8> {
        let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f
    }

    fn execute(actions: Vec<Action>) -> OvsMessage<PacketAttrs> {
        let (key, _) = odp::text::parse_key("in_port(1),eth(),eth_type(0x0800)", None).unwrap();
        OvsMessage::new(
            PacketCmd::Execute,
            DP,
            PacketAttrs {
                packet: Some(frame()),
                key: Some(key),
                actions: Some(actions),
                ..PacketAttrs::default()
            },
        )
    }

    #[test]
    fn execute_runs_the_actions_and_refuses_what_the_kernel_refuses() {
        let mut h = Harness::with_dp();
        assert_eq!(h.errno(execute(vec![Action::Output(0)])), 0);
        assert_eq!(h.sw.plane.sent, [(0, 0, frame())], "sent on the local port");
        assert_eq!(h.request(execute(vec![Action::Output(0)]), false).1, EPERM);
        let mut no_packet = execute(vec![]);
        no_packet.body.packet = None;
        assert_eq!(h.errno(no_packet), EINVAL);
        assert_eq!(
            h.errno(execute(vec![Action::Trunc(3)])),
            EINVAL,
            "validated"
        );
        let ftp = Ct {
            commit: true,
            helper: Some("ftp".into()),
            ..Ct::default()
        };
        assert_eq!(h.errno(execute(vec![Action::Ct(ftp)])), EOPNOTSUPP);
        let mut other_dp = execute(vec![]);
        other_dp.dp_ifindex = 5;
        assert_eq!(h.errno(other_dp), ENODEV);
        let mut huge = execute(vec![Action::Output(0)]);
        huge.body.packet = Some(vec![0; 4000]);
        assert_eq!(h.errno(huge), EINVAL, "larger than a buffer");
        let mut big_port = execute(vec![Action::Output(0)]);
        if let Some(k) = &mut big_port.body.key {
            k.in_port = Some(0x1_0001);
        }
        assert_eq!(
            h.errno(big_port),
            EINVAL,
            "in_port beyond DP_MAX_PORTS, not port 1"
        );
        let miss = OvsMessage::new(PacketCmd::Miss, DP, PacketAttrs::default());
        assert_eq!(h.errno(miss), EOPNOTSUPP, "MISS goes to userspace only");
        assert_eq!(h.sw.plane.sent.len(), 1);
    }

    #[test]
    fn execute_tracks_and_commits_through_the_shared_connection_table() {
        let mut h = Harness::with_dp();
        let mut udp = frame();
        udp[17] = 28;
        udp.extend_from_slice(&[0, 7, 0, 9, 0, 8, 0, 0]);
        let commit = Ct {
            commit: true,
            zone: Some(4),
            ..Ct::default()
        };
        let mut m = execute(vec![Action::Ct(commit), Action::Output(0)]);
        m.body.packet = Some(udp);
        assert_eq!(h.errno(m), 0);
        let ct = h.sw.plane.conntrack.clone();
        assert_eq!((ct.count(), ct.zone_count(4)), (1, 1));
        assert_eq!(h.sw.plane.sent.len(), 1);
    }

    #[test]
    fn userspace_actions_become_action_upcalls() {
        let mut h = Harness::with_dp();
        let u = Action::Userspace(odp::action::Userspace {
            pid: 77,
            ..odp::action::Userspace::default()
        });
        assert_eq!(h.errno(execute(vec![u.clone()])), 0);
        assert_eq!(h.upcalls.upcalls, [(77, true, frame())]);
        // An upcall pid in the request overrides the action's.
        let mut m = execute(vec![u]);
        m.body.upcall_pid = Some(88);
        assert_eq!(h.errno(m), 0);
        assert_eq!(h.upcalls.upcalls[1].0, 88);
    }
}
