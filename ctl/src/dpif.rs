//! Datapath, port and flow operations, sending the same requests in the same order as
//! `ovs-dpctl` (OVS `lib/dpif-netlink.c`) does against the kernel.

use odp::action::Action;
use odp::family::datapath::{features, DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::vport::{VportAttrs, VportCmd};
use odp::family::OvsMessage;
use odp::key::{FlowKey, FlowMask};
use odp::nl::flags;

pub use odp::errno::{EAFNOSUPPORT, EEXIST, EINVAL, ENODEV, ENOTCONN, EOPNOTSUPP};

use crate::client::{Client, EPROTO};

/// Why a datapath operation failed. dpctl reports [`Error::errno`] the way `ovs-dpctl` reports
/// the errno of OVS's `dpif` calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The exchange with the daemon failed, or the daemon refused the request.
    #[error(transparent)]
    Netlink(#[from] nlio::Error),
    /// A datapath type other than `system` (OVS answers EAFNOSUPPORT for an unregistered
    /// type).
    #[error("datapath type {0:?} is not supported")]
    DatapathType(String),
    /// The answer lacks the message the request asks for.
    #[error("no reply message")]
    NoReply,
    /// The port named belongs to another datapath.
    #[error("no such port in this datapath")]
    NoPort,
    /// No connection to a daemon (a command that needs one was run without).
    #[error("not connected to dpswitch")]
    NotConnected,
    /// The daemon took a setting but reports another value.
    #[error("{0} not applied")]
    NotApplied(&'static str),
}

impl Error {
    /// The errno dpctl reports.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Netlink(e) => e.errno(),
            Error::DatapathType(_) => EAFNOSUPPORT,
            Error::NoReply => EPROTO,
            Error::NoPort => ENODEV,
            Error::NotConnected => ENOTCONN,
            Error::NotApplied(_) => EINVAL,
        }
    }
}

impl From<Error> for i32 {
    fn from(e: Error) -> i32 {
        e.errno()
    }
}

/// Result of a datapath operation.
pub type Result<T> = std::result::Result<T, Error>;

/// A bit no datapath supports: `ovs-dpctl` asks for it to check that unknown feature bits are
/// rejected (OVS `lib/dpif-netlink.c`, `dpif_netlink_open()`).
pub const F_UNSUPPORTED: u32 = 1 << 31;

/// An opened datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dp {
    /// Its name (without `system@`).
    pub name: String,
    /// Its `dp_ifindex`.
    pub ifindex: i32,
    /// The user features in force after opening.
    pub features: u32,
}

impl Dp {
    /// The name as `ovs-dpctl` prints it.
    pub fn full_name(&self) -> String {
        format!("system@{}", self.name)
    }
}

/// Splits `[TYPE@]NAME`; only the `system` type (the kernel-compatible datapath) exists here.
///
/// # Errors
/// `EAFNOSUPPORT` for any other type, like OVS for an unregistered datapath type.
pub fn parse_dp_name(s: &str) -> Result<&str> {
    match s.split_once('@') {
        Some(("system", name)) => Ok(name),
        Some((ty, _)) => Err(Error::DatapathType(ty.to_string())),
        None => Ok(s),
    }
}

fn dp_msg(cmd: DpCmd, ifindex: i32, body: DatapathAttrs) -> OvsMessage<DatapathAttrs> {
    OvsMessage::new(cmd, ifindex, body)
}

fn one<T: odp::family::Body>(v: Vec<OvsMessage<T>>) -> Result<OvsMessage<T>> {
    v.into_iter().next().ok_or(Error::NoReply)
}

/// Every datapath's name (a datapath dump), sorted.
///
/// # Errors
/// As the dump.
pub fn enumerate(c: &mut Client) -> Result<Vec<String>> {
    let replies = c.dump(dp_msg(DpCmd::Get, 0, DatapathAttrs::default()))?;
    let mut names: Vec<String> = replies.into_iter().filter_map(|m| m.body.name).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The datapath transaction `ovs-dpctl` builds (open, create, feature negotiation): REQUEST|ECHO, name, upcall pid 0, features.
pub fn dp_request(
    cmd: DpCmd,
    name: &str,
    ifindex: i32,
    user_features: u32,
) -> OvsMessage<DatapathAttrs> {
    let mut m = dp_msg(
        cmd,
        ifindex,
        DatapathAttrs {
            name: Some(name.to_string()),
            upcall_pid: Some(0),
            user_features: (user_features != 0).then_some(user_features),
            ..Default::default()
        },
    );
    m.flags = flags::ECHO;
    m
}

fn dp_from_reply(m: OvsMessage<DatapathAttrs>, name: &str) -> Dp {
    Dp {
        name: m.body.name.unwrap_or_else(|| name.to_string()),
        ifindex: m.dp_ifindex,
        features: m.body.user_features.unwrap_or(0),
    }
}

/// Opens (`create` = false) or creates a datapath with `ovs-dpctl`'s feature negotiation
/// (OVS `lib/dpif-netlink.c`, `dpif_netlink_open()`): ask for an impossible bit and expect a
/// refusal, then per-CPU dispatch, falling back to per-vport dispatch on `EOPNOTSUPP`, then
/// try TC recirculation sharing.
///
/// # Errors
/// `ENODEV` for an unknown datapath, `EEXIST` when creating an existing one, others as the
/// daemon answers.
pub fn open(c: &mut Client, name: &str, create: bool) -> Result<Dp> {
    let (cmd, mut want) = if create {
        (DpCmd::New, 0)
    } else {
        let mut get = dp_msg(
            DpCmd::Get,
            0,
            DatapathAttrs {
                name: Some(name.to_string()),
                upcall_pid: Some(0),
                ..Default::default()
            },
        );
        get.flags = flags::ECHO;
        let cur = one(c.transact(get)?)?;
        (DpCmd::Set, cur.body.user_features.unwrap_or(0))
    };
    want |= features::UNALIGNED | features::VPORT_PIDS | F_UNSUPPORTED;
    let dp = match c.transact(dp_request(cmd, name, 0, want)) {
        Err(_) => {
            want &= !(F_UNSUPPORTED | features::VPORT_PIDS);
            want |= features::DISPATCH_UPCALL_PER_CPU;
            let r = match c.transact(dp_request(cmd, name, 0, want)) {
                Err(e) if e.errno() == EOPNOTSUPP => {
                    want &= !features::DISPATCH_UPCALL_PER_CPU;
                    want |= features::VPORT_PIDS;
                    c.transact(dp_request(cmd, name, 0, want))
                }
                other => other,
            }?;
            let mut dp = dp_from_reply(one(r)?, name);
            // Optional: a datapath without tc offload refuses it, which is fine.
            let mut set = dp_request(
                DpCmd::Set,
                &dp.name,
                dp.ifindex,
                dp.features | features::TC_RECIRC_SHARING,
            );
            set.body.upcall_pid = None;
            if let Ok(r) = c.transact(set) {
                if let Some(m) = r.into_iter().next() {
                    dp.features = m.body.user_features.unwrap_or(dp.features);
                }
            }
            dp
        }
        Ok(_) => {
            // The datapath accepted a bit nobody supports: it does not validate features, so
            // fall back to the standard ones.
            let r = c.transact(dp_request(
                DpCmd::Set,
                name,
                0,
                features::UNALIGNED | features::VPORT_PIDS,
            ))?;
            dp_from_reply(one(r)?, name)
        }
    };
    Ok(dp)
}

/// Current attributes (stats, features, masks-cache size) of an opened datapath.
///
/// # Errors
/// As the GET.
pub fn get(c: &mut Client, dp: &Dp) -> Result<DatapathAttrs> {
    let m = dp_msg(
        DpCmd::Get,
        dp.ifindex,
        DatapathAttrs {
            name: Some(dp.name.clone()),
            ..Default::default()
        },
    );
    Ok(one(c.transact(m)?)?.body)
}

/// Deletes a datapath.
///
/// # Errors
/// As the DEL.
pub fn delete(c: &mut Client, dp: &Dp) -> Result<()> {
    let m = dp_msg(
        DpCmd::Del,
        dp.ifindex,
        DatapathAttrs {
            name: Some(dp.name.clone()),
            ..Default::default()
        },
    );
    c.transact(m)?;
    Ok(())
}

/// The SET that changes the masks-cache size. It repeats the datapath's features: a SET
/// without them clears them (the kernel's `ovs_dp_change()`, `net/openvswitch/datapath.c`).
pub fn cache_size_msg(dp: &Dp, size: u32) -> OvsMessage<DatapathAttrs> {
    let mut m = dp_msg(
        DpCmd::Set,
        dp.ifindex,
        DatapathAttrs {
            name: Some(dp.name.clone()),
            user_features: (dp.features != 0).then_some(dp.features),
            masks_cache_size: Some(size),
            ..Default::default()
        },
    );
    m.flags = flags::ECHO;
    m
}

/// Sets the masks-cache size; returns the size the datapath reports afterwards.
///
/// # Errors
/// As the SET.
pub fn set_cache_size(c: &mut Client, dp: &Dp, size: u32) -> Result<Option<u32>> {
    Ok(one(c.transact(cache_size_msg(dp, size))?)?
        .body
        .masks_cache_size)
}

/// Every port of a datapath (a vport dump).
///
/// # Errors
/// As the dump.
pub fn port_dump(c: &mut Client, dp: &Dp) -> Result<Vec<VportAttrs>> {
    let m = OvsMessage::new(VportCmd::Get, dp.ifindex, VportAttrs::default());
    Ok(c.dump(m)?.into_iter().map(|m| m.body).collect())
}

/// Looks a port up by name in this datapath.
///
/// # Errors
/// `ENODEV` if there is no such port (or it belongs to another datapath).
pub fn port_query_by_name(c: &mut Client, dp: &Dp, name: &str) -> Result<VportAttrs> {
    let m = OvsMessage::new(
        VportCmd::Get,
        dp.ifindex,
        VportAttrs {
            name: Some(name.to_string()),
            ..Default::default()
        },
    );
    let r = one(c.transact(m)?)?;
    if r.dp_ifindex != dp.ifindex {
        return Err(Error::NoPort);
    }
    Ok(r.body)
}

/// Adds a port (vport NEW with ECHO); returns the port as created.
///
/// # Errors
/// As the NEW.
pub fn port_add(c: &mut Client, dp: &Dp, port: VportAttrs) -> Result<VportAttrs> {
    let mut m = OvsMessage::new(VportCmd::New, dp.ifindex, port);
    m.flags = flags::ECHO;
    Ok(one(c.transact(m)?)?.body)
}

/// Reconfigures a port (vport SET with ECHO).
///
/// # Errors
/// As the SET.
pub fn port_set(c: &mut Client, dp: &Dp, port: VportAttrs) -> Result<VportAttrs> {
    let mut m = OvsMessage::new(VportCmd::Set, dp.ifindex, port);
    m.flags = flags::ECHO;
    Ok(one(c.transact(m)?)?.body)
}

/// Deletes a port by number.
///
/// # Errors
/// As the DEL.
pub fn port_del(c: &mut Client, dp: &Dp, port_no: u32) -> Result<()> {
    let m = OvsMessage::new(
        VportCmd::Del,
        dp.ifindex,
        VportAttrs {
            port_no: Some(port_no),
            ..Default::default()
        },
    );
    c.transact(m)?;
    Ok(())
}

/// How a flow put behaves, as OVS's `DPIF_FP_*` flags map onto the kernel API (OVS
/// `lib/dpif-netlink.c`, `dpif_netlink_init_flow_put()`; the kernel's `ovs_flow_cmd_new()`
/// and `ovs_flow_cmd_set()`, `net/openvswitch/datapath.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// `add-flow`: NEW with `NLM_F_CREATE` (fails with `EEXIST` on an overlapping flow).
    Create,
    /// `mod-flow`: SET (fails with `ENOENT` on a missing flow).
    Modify,
    /// `mod-flow --may-create`: NEW without CREATE/EXCL (create or replace).
    ModifyOrCreate,
}

/// A flow put request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPut {
    /// Key.
    pub key: FlowKey,
    /// Mask (`None` when the text gave none: exact match).
    pub mask: Option<FlowMask>,
    /// UFID.
    pub ufid: Option<[u8; 16]>,
    /// Actions (always sent, possibly empty).
    pub actions: Vec<Action>,
    /// Mode.
    pub mode: PutMode,
    /// `--clear`: zero the stats.
    pub clear: bool,
    /// Ask for the reply (to print `-s` statistics).
    pub echo: bool,
}

/// The flow message a put sends.
pub fn flow_put_msg(dp: &Dp, p: &FlowPut) -> OvsMessage<FlowAttrs> {
    let cmd = match p.mode {
        PutMode::Modify => FlowCmd::Set,
        PutMode::Create | PutMode::ModifyOrCreate => FlowCmd::New,
    };
    let mut m = OvsMessage::new(
        cmd,
        dp.ifindex,
        FlowAttrs {
            ufid: p.ufid.map(|u| u.to_vec()),
            key: Some(p.key.clone()),
            mask: p.mask.clone(),
            actions: Some(p.actions.clone()),
            clear: p.clear,
            ..Default::default()
        },
    );
    if p.mode == PutMode::Create {
        m.flags |= flags::CREATE;
    }
    if p.echo {
        m.flags |= flags::ECHO;
    }
    m
}

/// Installs or modifies a flow; returns the reply when `echo` was asked for.
///
/// # Errors
/// `EEXIST`, `ENOENT`, `EINVAL`… as the daemon answers.
pub fn flow_put(c: &mut Client, dp: &Dp, p: &FlowPut) -> Result<Option<FlowAttrs>> {
    let r = c.transact(flow_put_msg(dp, p))?;
    Ok(r.into_iter().next().map(|m| m.body))
}

/// The flow DEL message: by key (and UFID when given); neither flushes.
pub fn flow_del_msg(
    dp: &Dp,
    key: Option<FlowKey>,
    ufid: Option<[u8; 16]>,
    echo: bool,
) -> OvsMessage<FlowAttrs> {
    let mut m = OvsMessage::new(
        FlowCmd::Del,
        dp.ifindex,
        FlowAttrs {
            ufid: ufid.map(|u| u.to_vec()),
            key,
            ..Default::default()
        },
    );
    if echo {
        m.flags |= flags::ECHO;
    }
    m
}

/// Deletes one flow (or all, with neither key nor UFID); returns the reply when `echo`.
///
/// # Errors
/// `ENOENT` for a missing flow, as the daemon answers otherwise.
pub fn flow_del(
    c: &mut Client,
    dp: &Dp,
    key: Option<FlowKey>,
    ufid: Option<[u8; 16]>,
    echo: bool,
) -> Result<Option<FlowAttrs>> {
    let r = c.transact(flow_del_msg(dp, key, ufid, echo))?;
    Ok(r.into_iter().next().map(|m| m.body))
}

/// Fetches one flow by UFID.
///
/// # Errors
/// `ENOENT` for a missing flow.
pub fn flow_get(c: &mut Client, dp: &Dp, ufid: [u8; 16]) -> Result<FlowAttrs> {
    let m = OvsMessage::new(
        FlowCmd::Get,
        dp.ifindex,
        FlowAttrs {
            ufid: Some(ufid.to_vec()),
            ..Default::default()
        },
    );
    Ok(one(c.transact(m)?)?.body)
}

/// Fetches one flow by key (a dumped flow whose actions did not fit the dump message).
///
/// # Errors
/// `ENOENT` for a missing flow.
pub fn flow_get_by_key(c: &mut Client, dp: &Dp, key: FlowKey) -> Result<FlowAttrs> {
    let m = OvsMessage::new(
        FlowCmd::Get,
        dp.ifindex,
        FlowAttrs {
            key: Some(key),
            ..Default::default()
        },
    );
    Ok(one(c.transact(m)?)?.body)
}

/// Every flow of a datapath, with key, mask and actions.
///
/// # Errors
/// As the dump.
pub fn flow_dump(c: &mut Client, dp: &Dp) -> Result<Vec<FlowAttrs>> {
    let m = OvsMessage::new(FlowCmd::Get, dp.ifindex, FlowAttrs::default());
    Ok(c.dump(m)?.into_iter().map(|m| m.body).collect())
}

/// Wire bytes of a request, for tests that pin exact encodings.
///
/// # Errors
/// As emission.
pub fn request_bytes<T: odp::family::Body>(
    mut m: OvsMessage<T>,
    family: u16,
    seq: u32,
    pid: u32,
) -> odp::Result<Vec<u8>> {
    m.family = family;
    m.flags |= flags::REQUEST | flags::ACK;
    m.seq = seq;
    m.pid = pid;
    m.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use odp::family::datapath::DatapathAttrs;

    fn dp() -> Dp {
        Dp {
            name: "dp0".into(),
            ifindex: 7,
            features: features::UNALIGNED | features::DISPATCH_UPCALL_PER_CPU,
        }
    }

    #[test]
    fn datapath_names() {
        assert_eq!(parse_dp_name("dp0").ok(), Some("dp0"));
        assert_eq!(parse_dp_name("system@dp0").ok(), Some("dp0"));
        assert_eq!(
            parse_dp_name("netdev@dp0").map_err(|e| e.errno()),
            Err(EAFNOSUPPORT)
        );
        assert_eq!(dp().full_name(), "system@dp0");
    }

    #[test]
    fn open_get_request_bytes() {
        let mut m = dp_request(DpCmd::Get, "dp0", 0, 0);
        m.body.user_features = None;
        let b = request_bytes(m, 0x1d, 1, 99).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            40, 0, 0, 0, 0x1d, 0, 0x0d, 0, 1, 0, 0, 0, 99, 0, 0, 0, // REQUEST|ACK|ECHO
            3, 2, 0, 0, // GET, OVS_DATAPATH_VERSION
            0, 0, 0, 0, // dp_ifindex: by name
            8, 0, 1, 0, b'd', b'p', b'0', 0, // NAME
            8, 0, 2, 0, 0, 0, 0, 0, // UPCALL_PID 0
        ];
        assert_eq!(b, want);
    }

    #[test]
    fn feature_probe_asks_for_the_impossible_bit() {
        let want = features::UNALIGNED | features::VPORT_PIDS | F_UNSUPPORTED;
        let b = request_bytes(dp_request(DpCmd::Set, "dp0", 0, want), 0x1d, 2, 99).unwrap();
        assert_eq!(&b[16..18], &[4, 2], "SET, version 2");
        assert_eq!(&b[b.len() - 8..], &[8, 0, 5, 0, 0x03, 0, 0, 0x80]);
        let (h, p) = odp::nl::messages(&b).next().unwrap().unwrap();
        let m = OvsMessage::<DatapathAttrs>::parse(h, p).unwrap();
        assert_eq!(m.body.user_features, Some(want));
        assert_eq!(m.body.name.as_deref(), Some("dp0"));
    }

    #[test]
    fn vport_del_by_number_bytes() {
        let m = OvsMessage::new(
            VportCmd::Del,
            7,
            VportAttrs {
                port_no: Some(3),
                ..Default::default()
            },
        );
        let b = request_bytes(m, 0x20, 1, 99).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            32, 0, 0, 0, 0x20, 0, 5, 0, 1, 0, 0, 0, 99, 0, 0, 0,
            2, 1, 0, 0,
            7, 0, 0, 0,
            8, 0, 1, 0, 3, 0, 0, 0,
        ];
        assert_eq!(b, want);
    }

    fn put(mode: PutMode, clear: bool, echo: bool) -> (u16, FlowCmd, FlowAttrs) {
        let (key, mask) =
            odp::text::parse_key("in_port(1),eth(),eth_type(0x0806),arp()", None).unwrap();
        let p = FlowPut {
            key,
            mask: Some(mask),
            ufid: None,
            actions: odp::text::parse_actions("2", None).unwrap(),
            mode,
            clear,
            echo,
        };
        let b = request_bytes(flow_put_msg(&dp(), &p), 0x21, 1, 99).unwrap();
        let (h, pl) = odp::nl::messages(&b).next().unwrap().unwrap();
        let m = OvsMessage::<FlowAttrs>::parse(h, pl).unwrap();
        assert_eq!(m.dp_ifindex, 7);
        (h.flags, m.cmd, m.body)
    }

    #[test]
    fn flow_put_flags_follow_ovs() {
        let (f, c, b) = put(PutMode::Create, false, false);
        assert_eq!((f, c), (0x405, FlowCmd::New), "add-flow: NEW + CREATE");
        assert!(b.key.is_some() && b.mask.is_some() && b.actions.is_some() && !b.clear);
        let (f, c, _) = put(PutMode::Modify, false, false);
        assert_eq!((f, c), (0x005, FlowCmd::Set), "mod-flow: SET");
        let (f, c, b) = put(PutMode::ModifyOrCreate, true, true);
        assert_eq!(
            (f, c),
            (0x00d, FlowCmd::New),
            "--may-create: NEW, ECHO for -s"
        );
        assert!(b.clear, "--clear sends OVS_FLOW_ATTR_CLEAR");
    }

    #[test]
    fn flow_del_without_key_is_a_flush() {
        let b = request_bytes(flow_del_msg(&dp(), None, None, false), 0x21, 1, 99).unwrap();
        assert_eq!(b.len(), 24, "headers only: no KEY, no UFID");
        assert_eq!(b[16], 2, "DEL");
        let ufid = [1u8; 16];
        let b = request_bytes(flow_del_msg(&dp(), None, Some(ufid), true), 0x21, 1, 99).unwrap();
        let (h, p) = odp::nl::messages(&b).next().unwrap().unwrap();
        assert_eq!(h.flags, 0x0d);
        let m = OvsMessage::<FlowAttrs>::parse(h, p).unwrap();
        assert_eq!(m.body.ufid.as_deref(), Some(&ufid[..]));
    }

    #[test]
    fn cache_size_set_keeps_features() {
        let m = cache_size_msg(&dp(), 512);
        let b = request_bytes(m, 0x1d, 1, 99).unwrap();
        let (h, p) = odp::nl::messages(&b).next().unwrap().unwrap();
        let m = OvsMessage::<DatapathAttrs>::parse(h, p).unwrap();
        assert_eq!(m.body.user_features, Some(9));
        assert_eq!(m.body.masks_cache_size, Some(512));
    }
}
