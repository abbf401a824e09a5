//! `ovs_flow`: NEW / DEL / GET / SET and dumps of flows with the kernel's semantics
//! (`net/openvswitch/datapath.c`, `ovs_flow_cmd_new()` and its siblings). Replies carry the
//! key, mask and actions the client sent, as the kernel's do; flows the standalone bridge
//! installed read back with a 16-byte UFID and their kernel-form key and mask.

use fastpath::actions::CompiledActions;
use fastpath::wire;
use odp::action::{actions_to_bytes, validate_actions};
use odp::dpswitch::FAMILY_IDS;
use odp::family::flow::{self as family, attr, ufid_flags, FlowAttrs, FlowCmd};
use odp::family::{FlowStats, OvsMessage};
use odp::nl::{self, flags, AttrWriter, GenlHeader, NlMsgHeader};
use odp::validate::{unmasked_key_form, FlowMatch};

use super::datapath::ifindex;
use super::dump::Dump;
use super::reply::{header_of, is_dump, Answer};
use crate::error::{Error, Result};
use crate::model::{Datapath, Dataplane, FlowPut, FlowRecord, Ident, Origin, PutMode, Ufid};
use crate::Switch;

/// How a flow reply is framed.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowReply {
    /// The command the reply carries.
    pub(super) cmd: FlowCmd,
    /// The request's header (its seq and sender).
    pub(super) hdr: NlMsgHeader,
    /// Inside a dump.
    pub(super) multi: bool,
    /// `OVS_UFID_F_*`: what to leave out.
    pub(super) ufid_flags: u32,
}

/// Appends flow `id` of datapath `d`, whose record is `rec`, in reply form
/// (`ovs_flow_cmd_fill_info()`).
pub(super) fn flow_msg(
    d: &Datapath,
    id: u128,
    rec: &FlowRecord,
    how: FlowReply,
    out: &mut Vec<u8>,
) -> Result<()> {
    let w = d.flows.wire_of(id, rec).ok_or(Error::NoFlow)?;
    let snap = d
        .flows
        .flow(id)
        .map(|f| f.stats().read())
        .unwrap_or_default();
    let start = nl::begin_ovs_msg(
        out,
        FAMILY_IDS.flow,
        if how.multi { flags::MULTI } else { 0 },
        how.hdr.seq,
        how.hdr.pid,
        GenlHeader {
            cmd: how.cmd as u8,
            version: family::VERSION,
        },
        ifindex(d),
    );
    let mut a = AttrWriter::new(out);
    match &rec.ident {
        Ident::Ufid(u) => {
            a.put(attr::UFID, u.as_bytes());
            if how.ufid_flags & ufid_flags::OMIT_KEY == 0 {
                a.put(attr::KEY, &w.key);
            }
        }
        // A flow named by its key reads back under that key, unmasked.
        Ident::Key(k) => a.put(attr::KEY, k.as_slice()),
    }
    if how.ufid_flags & ufid_flags::OMIT_MASK == 0 {
        a.put(attr::MASK, &w.mask);
    }
    let packets = snap.packets.saturating_sub(rec.base.packets);
    let bytes = snap.bytes.saturating_sub(rec.base.bytes);
    if snap.used_ms != 0 && snap.used_ms != rec.base.used_ms {
        a.u64(attr::USED, snap.used_ms);
    }
    if packets != 0 {
        a.put(
            attr::STATS,
            &FlowStats {
                n_packets: packets,
                n_bytes: bytes,
            }
            .to_bytes(),
        );
    }
    // Flags seen since the last CLEAR are not separable from earlier ones; after a CLEAR
    // they come back with the next packet that carries them.
    let tcp = (snap.tcp_flags & 0xff) as u8;
    if tcp != 0 && packets != 0 {
        a.u8(attr::TCP_FLAGS, tcp);
    }
    if how.ufid_flags & ufid_flags::OMIT_ACTIONS == 0 {
        a.put(attr::ACTIONS, &w.actions);
    }
    if a.finish().is_err() {
        out.truncate(start);
        return Err(odp::Error::TooLarge("flow reply").into());
    }
    nl::finish_msg(out, start).map_err(Error::from)
}

/// How the request names its flow: by UFID if it has a usable one, else by its key.
fn ident_of(a: &FlowAttrs) -> Result<Option<Ident>> {
    if let Some(u) = a.usable_ufid().and_then(Ufid::new) {
        return Ok(Some(Ident::Ufid(u)));
    }
    match &a.key {
        Some(k) => Ok(Some(Ident::Key(unmasked_key_form(k)?.to_bytes()))),
        None => Ok(None),
    }
}

fn answer(d: &Datapath, id: u128, cmd: FlowCmd, hdr: &NlMsgHeader) -> Result<Answer> {
    let mut out = Vec::new();
    let rec = d.flows.record(id).ok_or(Error::NoFlow)?;
    flow_msg(
        d,
        id,
        rec,
        FlowReply {
            cmd,
            hdr: *hdr,
            multi: false,
            ufid_flags: 0,
        },
        &mut out,
    )?;
    Ok(Answer::Msgs(out))
}

/// Handles one `ovs_flow` request.
///
/// # Errors
/// The kernel's: ENODEV (no such datapath), ENOENT (no such flow), EEXIST (exclusive create
/// of a flow that matches), EINVAL (bad key, mask or actions), EOPNOTSUPP (what the fast
/// path cannot match or run).
pub(super) fn handle<D: Dataplane>(
    sw: &mut Switch<D>,
    m: &OvsMessage<FlowAttrs>,
) -> Result<Answer> {
    let hdr = header_of(m);
    let echo = m.flags & flags::ECHO != 0;
    let a = &m.body;
    if m.cmd == FlowCmd::Get && is_dump(m.flags) {
        return Ok(Answer::Dump(
            match sw.model.lookup_datapath(None, m.dp_ifindex) {
                Ok(dp) => Dump::flows(hdr, dp, a.ufid_flags.unwrap_or(0)),
                Err(e) => {
                    let mut d = Dump::new(hdr);
                    d.finish(-e.errno());
                    d
                }
            },
        ));
    }
    match m.cmd {
        FlowCmd::New => {
            family::check_new(a)?;
            let key = a.key.as_ref().ok_or(Error::Invalid("flow key"))?;
            let fm = FlowMatch::new(key, a.mask.as_ref())?;
            let acts = a.actions.as_deref().unwrap_or_default();
            validate_actions(acts, &fm.key)?;
            let compiled = CompiledActions::compile(acts)?;
            let (_, mask) = wire::match_to_fast(&fm)?;
            // The overlap rule looks the unmasked key up like a packet; a key that is not
            // valid unmasked stands for itself masked.
            let unmasked = match FlowMatch::new(key, None)
                .ok()
                .and_then(|exact| wire::match_to_fast(&exact).ok())
            {
                Some((k, _)) => k,
                None => wire::match_to_fast(&fm)?.0,
            };
            let ident = ident_of(a)?.ok_or(Error::Invalid("flow identity"))?;
            let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
            let mode = if m.flags & (flags::CREATE | flags::EXCL) != 0 {
                PutMode::Create
            } else {
                PutMode::CreateOrModify
            };
            let origin = Origin::Netlink {
                key: fm.masked_key().to_bytes(),
                mask: fm.mask_form().to_bytes(),
                actions: actions_to_bytes(acts),
            };
            let put = FlowPut {
                ident,
                key: unmasked,
                mask,
                actions: compiled,
                origin,
                mode,
            };
            let id = sw.model.put_flow(&mut sw.plane, dp, put)?;
            if echo {
                return answer(sw.model.get(dp)?, id, FlowCmd::New, &hdr);
            }
            Ok(Answer::None)
        }
        FlowCmd::Set => {
            family::check_set(a)?;
            let mut new_actions = None;
            if let (Some(key), Some(acts)) = (&a.key, &a.actions) {
                let fm = FlowMatch::new(key, a.mask.as_ref())?;
                validate_actions(acts, &fm.key)?;
                new_actions = Some((CompiledActions::compile(acts)?, actions_to_bytes(acts)));
            }
            let ident = ident_of(a)?.ok_or(Error::Invalid("flow identity"))?;
            let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
            let d = sw.model.get(dp)?;
            // Only flows a client installed can be modified.
            let id = d.flows.find(&ident).ok_or(Error::NoFlow)?;
            if !matches!(
                d.flows.record(id).map(|r| &r.origin),
                Some(Origin::Netlink { .. })
            ) {
                return Err(Error::NoFlow);
            }
            if let Some((compiled, bytes)) = new_actions {
                sw.model
                    .set_flow_actions(&mut sw.plane, dp, id, compiled, bytes)?;
            }
            let ans = if echo {
                answer(sw.model.get(dp)?, id, FlowCmd::Set, &hdr)?
            } else {
                Answer::None
            };
            if a.clear {
                sw.model.get_mut(dp)?.flows.clear_stats(id);
            }
            Ok(ans)
        }
        FlowCmd::Get => {
            let ident = ident_of(a)?.ok_or(Error::Invalid("flow identity"))?;
            let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
            let d = sw.model.get(dp)?;
            let id = d.flows.find(&ident).ok_or(Error::NoFlow)?;
            answer(d, id, FlowCmd::Get, &hdr)
        }
        FlowCmd::Del => {
            let ident = ident_of(a)?;
            let dp = sw.model.lookup_datapath(None, m.dp_ifindex)?;
            let Some(ident) = ident else {
                sw.model.flush_flows(&mut sw.plane, dp)?;
                return Ok(Answer::None);
            };
            let d = sw.model.get(dp)?;
            let id = d.flows.find(&ident).ok_or(Error::NoFlow)?;
            let ans = if echo {
                answer(d, id, FlowCmd::Del, &hdr)?
            } else {
                Answer::None
            };
            sw.model.del_flow(&mut sw.plane, dp, id)?;
            Ok(ans)
        }
    }
}

#[cfg(test)]
mod tests {
    use odp::action::Action;
    use odp::errno::{EEXIST, EINVAL, ENODEV, ENOENT, EOPNOTSUPP, EPERM};
    use odp::family::flow::FlowAttrs;
    use odp::text::{parse_actions, parse_key};

    use super::*;
    use crate::control::testing::Harness;

    const DP: i32 = 100;
    const KEY: &str = "in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),\
                       eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,frag=no),udp(src=1,dst=2)";

    fn attrs(ufid: Option<u32>, key: &str, actions: &str) -> FlowAttrs {
        let (k, m) = parse_key(key, None).expect("key");
        FlowAttrs {
            ufid: ufid.map(|u| u128::from(u).to_be_bytes().to_vec()),
            key: Some(k),
            mask: Some(m),
            actions: Some(parse_actions(actions, None).expect("actions")),
            ..FlowAttrs::default()
        }
    }

    fn msg(cmd: FlowCmd, body: FlowAttrs) -> OvsMessage<FlowAttrs> {
        OvsMessage::new(cmd, DP, body)
    }

    #[test]
    fn new_refuses_what_the_kernel_refuses() {
        let mut h = Harness::with_dp();
        assert_eq!(h.errno(msg(FlowCmd::New, attrs(Some(1), KEY, "2"))), 0);
        let mut excl = msg(FlowCmd::New, attrs(Some(2), KEY, "2"));
        excl.flags = flags::CREATE | flags::EXCL;
        assert_eq!(h.errno(excl), EEXIST, "exclusive create of a matching flow");
        let mut no_key = attrs(Some(3), KEY, "2");
        no_key.key = None;
        assert_eq!(h.errno(msg(FlowCmd::New, no_key)), EINVAL, "no key");
        let bad_port = attrs(Some(3), KEY, "2");
        let mut bad_port = bad_port;
        bad_port.actions = Some(vec![Action::Output(0xffff)]);
        assert_eq!(
            h.errno(msg(FlowCmd::New, bad_port)),
            EINVAL,
            "output port out of range"
        );
        let mut ftp = attrs(Some(3), KEY, "2");
        ftp.actions = parse_actions("ct(commit,helper=ftp),2", None).ok();
        assert_eq!(
            h.errno(msg(FlowCmd::New, ftp)),
            EOPNOTSUPP,
            "ALG helpers are not implemented"
        );
        let mut tcp_set = attrs(Some(3), KEY, "2");
        tcp_set.actions = parse_actions("set(tcp(src=1)),2", None).ok();
        assert_eq!(
            h.errno(msg(FlowCmd::New, tcp_set)),
            EINVAL,
            "set(tcp) on a UDP flow"
        );
        let mut other_dp = msg(FlowCmd::New, attrs(Some(3), KEY, "2"));
        other_dp.dp_ifindex = 5;
        assert_eq!(h.errno(other_dp), ENODEV);
        assert_eq!(
            h.request(msg(FlowCmd::New, attrs(Some(4), KEY, "2")), false)
                .1,
            EPERM
        );
        assert_eq!(h.sw.model.datapath(0).unwrap().flows.len(), 1);
    }

    #[test]
    fn get_set_del_of_a_missing_flow_are_enoent() {
        let mut h = Harness::with_dp();
        for cmd in [FlowCmd::Get, FlowCmd::Set, FlowCmd::Del] {
            assert_eq!(
                h.errno(msg(cmd, attrs(Some(9), KEY, "2"))),
                ENOENT,
                "{cmd:?}"
            );
            assert_eq!(
                h.errno(msg(cmd, attrs(None, KEY, "2"))),
                ENOENT,
                "{cmd:?} by key"
            );
        }
        let mut other_dp = msg(FlowCmd::Get, attrs(Some(9), KEY, "2"));
        other_dp.dp_ifindex = 5;
        assert_eq!(h.errno(other_dp), ENODEV);
        let mut dump = msg(FlowCmd::Get, FlowAttrs::default());
        dump.flags = flags::DUMP;
        dump.dp_ifindex = 5;
        assert_eq!(h.errno(dump), ENODEV, "a dump of a missing datapath");
    }

    #[test]
    fn replies_carry_what_the_client_sent() {
        let mut h = Harness::with_dp();
        let sent = attrs(Some(1), KEY, "set(ipv4(ttl=9)),2");
        let mut new = msg(FlowCmd::New, sent.clone());
        new.flags = flags::ECHO;
        let (r, e) = h.request(new, true);
        assert_eq!(e, 0);
        assert_eq!(r[0].body.ufid, sent.ufid);
        assert_eq!(r[0].body.actions, sent.actions);
        // SET replaces the actions; GET reads them back, for anyone.
        let mut set = msg(FlowCmd::Set, attrs(Some(1), KEY, "3"));
        set.flags = flags::ECHO;
        assert_eq!(h.request(set, true).1, 0);
        let (r, e) = h.request(msg(FlowCmd::Get, attrs(Some(1), KEY, "")), false);
        assert_eq!(e, 0);
        assert_eq!(r[0].body.actions, Some(vec![Action::Output(3)]));
        // A flow named by its key reads back under that key.
        assert_eq!(h.errno(msg(FlowCmd::Del, attrs(Some(1), KEY, ""))), 0);
        assert_eq!(h.errno(msg(FlowCmd::New, attrs(None, KEY, "2"))), 0);
        let (r, _) = h.request(msg(FlowCmd::Get, attrs(None, KEY, "")), false);
        assert!(r[0].body.ufid.is_none());
        assert!(r[0].body.key.is_some());
    }

    #[test]
    fn flush_and_dumps() {
        let mut h = Harness::with_dp();
        for i in 0..300u32 {
            let key = KEY.replace("10.0.0.2", &format!("10.0.{}.{}", i / 256, i % 256));
            assert_eq!(h.errno(msg(FlowCmd::New, attrs(Some(i), &key, "2"))), 0);
        }
        let mut dump = msg(FlowCmd::Get, FlowAttrs::default());
        dump.flags = flags::DUMP;
        let (r, e) = h.request(dump, false);
        assert_eq!((r.len(), e), (300, 0));
        let mut flush = msg(FlowCmd::Del, FlowAttrs::default());
        flush.body.key = None;
        assert_eq!(h.request(flush.clone(), false).1, EPERM);
        assert_eq!(h.errno(flush), 0);
        assert!(h.sw.model.datapath(0).unwrap().flows.is_empty());
        assert!(
            h.sw.plane.updates[&0] >= 301,
            "every change went to the PMDs"
        );
    }
}
