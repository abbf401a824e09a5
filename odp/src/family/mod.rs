//! The OVS generic-netlink families `ovs_datapath`, `ovs_vport`, `ovs_flow` and
//! `ovs_packet`: typed messages for every command.
//!
//! Every family shares the framing `nlmsghdr + genlmsghdr + ovs_header +
//! attributes`; [`OvsMessage`] carries the headers and a typed body.
//! Unknown attribute types are ignored on parse, as the kernel's liberal
//! attribute parsing does, and `*_ATTR_PAD` is skipped wherever it appears.

use crate::error::{Error, Result};
use crate::nl::{self, AttrWriter, GenlHeader, NlMsgHeader, OvsFrame};

pub mod datapath;
pub mod flow;
pub mod packet;
pub mod vport;

/// A typed command enum of one family.
pub trait Command: Copy + Eq + core::fmt::Debug {
    /// Decode a genl command byte.
    fn from_u8(v: u8) -> Result<Self>;
    /// The genl command byte.
    fn to_u8(self) -> u8;
}

macro_rules! commands {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v = $n),*
        }
        impl $crate::family::Command for $name {
            fn from_u8(v: u8) -> $crate::error::Result<Self> {
                match v {
                    $($n => Ok($name::$v),)*
                    other => Err($crate::error::Error::UnknownCommand(other)),
                }
            }
            fn to_u8(self) -> u8 {
                self as u8
            }
        }
    };
}
pub(crate) use commands;

/// The typed attribute body of one family.
pub trait Body: Sized {
    /// The family's command enum.
    type Cmd: Command;
    /// Generic-netlink family name.
    const FAMILY_NAME: &'static str;
    /// Family version the kernel registers.
    const VERSION: u8;
    /// Highest attribute number (`*_ATTR_MAX`).
    const MAX_ATTR: u16;
    /// Parse the attributes of a message with command `cmd`.
    fn parse(cmd: Self::Cmd, attrs: &[u8]) -> Result<Self>;
    /// Emit the attributes for command `cmd`.
    fn emit(&self, cmd: Self::Cmd, w: &mut AttrWriter<'_>);
}

/// One OVS family message: headers plus typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsMessage<T: Body> {
    /// Generic-netlink family id (`nlmsg_type`).
    pub family: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// Port id.
    pub pid: u32,
    /// Command.
    pub cmd: T::Cmd,
    /// genl version byte.
    pub version: u8,
    /// `ovs_header.dp_ifindex`.
    pub dp_ifindex: i32,
    /// Attributes.
    pub body: T,
}

impl<T: Body> OvsMessage<T> {
    /// A message with default header values (version = family version).
    pub fn new(cmd: T::Cmd, dp_ifindex: i32, body: T) -> Self {
        OvsMessage {
            family: 0,
            flags: 0,
            seq: 0,
            pid: 0,
            cmd,
            version: T::VERSION,
            dp_ifindex,
            body,
        }
    }

    /// Parse from a netlink header and its payload.
    pub fn parse(hdr: NlMsgHeader, payload: &[u8]) -> Result<Self> {
        let f = OvsFrame::parse(hdr, payload)?;
        Self::from_frame(&f)
    }

    /// Parse from an already split frame.
    pub fn from_frame(f: &OvsFrame<'_>) -> Result<Self> {
        let cmd = T::Cmd::from_u8(f.genl.cmd)?;
        Ok(OvsMessage {
            family: f.nl.ty,
            flags: f.nl.flags,
            seq: f.nl.seq,
            pid: f.nl.pid,
            cmd,
            version: f.genl.version,
            dp_ifindex: f.dp_ifindex,
            body: T::parse(cmd, f.attrs)?,
        })
    }

    /// Parse the first message of a datagram.
    pub fn parse_datagram(buf: &[u8]) -> Result<Self> {
        let (h, p) = nl::messages(buf).next().ok_or(Error::Truncated {
            what: "netlink message",
            need: nl::NLMSG_HDRLEN,
            have: 0,
        })??;
        Self::parse(h, p)
    }

    /// Append the whole message to `buf` (which is not cleared: dumps put
    /// several messages in one datagram).
    ///
    /// # Errors
    /// `EMSGSIZE` if an attribute exceeds 65535 bytes.
    pub fn emit(&self, buf: &mut Vec<u8>) -> Result<()> {
        let start = nl::begin_ovs_msg(
            buf,
            self.family,
            self.flags,
            self.seq,
            self.pid,
            GenlHeader {
                cmd: self.cmd.to_u8(),
                version: self.version,
            },
            self.dp_ifindex,
        );
        let mut w = AttrWriter::new(buf);
        self.body.emit(self.cmd, &mut w);
        let r = w.finish();
        if r.is_err() {
            buf.truncate(start);
            return r;
        }
        nl::finish_msg(buf, start)
    }

    /// Emit into a fresh vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.emit(&mut v)?;
        Ok(v)
    }
}

/// Walk a run of attributes like the kernel's liberal `nla_parse` (OVS
/// families are registered without strict validation): PAD skipped, types
/// above `max` ignored, a repeated type overrides the earlier one (the
/// callback simply runs again), and bytes after the last well-formed
/// attribute are ignored (the kernel only warns about "leftover bytes").
pub(crate) fn for_each_attr<'a>(
    buf: &'a [u8],
    pad: u16,
    max: u16,
    mut f: impl FnMut(&nl::Attr<'a>) -> Result<()>,
) -> Result<()> {
    for a in nl::attrs(buf) {
        let Ok(a) = a else { break };
        if (a.ty == pad && pad != 0) || a.ty > max {
            continue;
        }
        f(&a)?;
    }
    Ok(())
}

/// Decode a binary array of host-order u32 (length a non-zero multiple of 4).
pub(crate) fn u32_array(p: &[u8], what: &'static str) -> Result<Vec<u32>> {
    if p.is_empty() || p.len() % 4 != 0 {
        return Err(Error::BadLength { what, len: p.len() });
    }
    Ok(p.chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Encode an array of host-order u32.
pub(crate) fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// Read a u64 at `off` (host order).
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

/// `struct ovs_flow_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowStats {
    /// Packets.
    pub n_packets: u64,
    /// Bytes.
    pub n_bytes: u64,
}

impl FlowStats {
    /// Wire size.
    pub const LEN: usize = 16;
    /// Parse exactly 16 bytes.
    pub fn parse(p: &[u8]) -> Result<Self> {
        if p.len() != Self::LEN {
            return Err(Error::BadLength {
                what: "flow stats",
                len: p.len(),
            });
        }
        Ok(FlowStats {
            n_packets: u64_at(p, 0),
            n_bytes: u64_at(p, 8),
        })
    }
    /// Wire bytes.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.n_packets.to_ne_bytes());
        b[8..].copy_from_slice(&self.n_bytes.to_ne_bytes());
        b
    }
}

/// The family ids a server assigned (or a client resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FamilyIds {
    /// `ovs_datapath`.
    pub datapath: u16,
    /// `ovs_vport`.
    pub vport: u16,
    /// `ovs_flow`.
    pub flow: u16,
    /// `ovs_packet`.
    pub packet: u16,
}

/// Any request a datapath server may receive, decoded.
// One request is decoded at a time and consumed immediately; boxing the
// large variants would not save anything.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// nlctrl.
    Ctrl(crate::ctrl::CtrlMessage),
    /// `ovs_datapath`.
    Datapath(OvsMessage<datapath::DatapathAttrs>),
    /// `ovs_vport`.
    Vport(OvsMessage<vport::VportAttrs>),
    /// `ovs_flow`.
    Flow(OvsMessage<flow::FlowAttrs>),
    /// `ovs_packet`.
    Packet(OvsMessage<packet::PacketAttrs>),
}

/// Decode one request message by its family id.
///
/// # Errors
/// `ENOENT`-free: unknown family ids give `EOPNOTSUPP`-mapped
/// [`Error::NotSupported`]; malformed messages give `EINVAL`.
pub fn parse_request(ids: &FamilyIds, hdr: NlMsgHeader, payload: &[u8]) -> Result<Request> {
    let t = hdr.ty;
    if t == nl::GENL_ID_CTRL {
        return Ok(Request::Ctrl(crate::ctrl::CtrlMessage::parse(
            hdr, payload,
        )?));
    }
    let f = OvsFrame::parse(hdr, payload)?;
    Ok(if t == ids.datapath {
        Request::Datapath(OvsMessage::from_frame(&f)?)
    } else if t == ids.vport {
        Request::Vport(OvsMessage::from_frame(&f)?)
    } else if t == ids.flow {
        Request::Flow(OvsMessage::from_frame(&f)?)
    } else if t == ids.packet {
        Request::Packet(OvsMessage::from_frame(&f)?)
    } else {
        return Err(Error::NotSupported("generic netlink family"));
    })
}
