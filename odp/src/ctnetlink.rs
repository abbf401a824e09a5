//! The subset of ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`) that Open
//! vSwitch uses to manage a system datapath's connection tracker (`lib/netlink-conntrack.c`):
//! dumping connections, deleting all, one (by original tuple) or a zone's, and the global
//! counts. Messages are `nlmsghdr + nfgenmsg + attributes`; values are big-endian and nests
//! carry `NLA_F_NESTED`, as `net/netfilter/nf_conntrack_netlink.c` writes them.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::nl::{self, Attr, AttrWriter, NlMsgHeader};

/// `NFNL_SUBSYS_CTNETLINK`.
pub const SUBSYS: u16 = 1;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;
/// `AF_UNSPEC`.
pub const AF_UNSPEC: u8 = 0;

/// Message kinds (`enum cntl_msg_types`).
pub mod msg {
    /// A connection (dump entries).
    pub const NEW: u8 = 0;
    /// Get or dump connections.
    pub const GET: u8 = 1;
    /// Delete connections.
    pub const DELETE: u8 = 2;
    /// Global statistics.
    pub const GET_STATS: u8 = 5;
}

/// The `nlmsg_type` of ctnetlink message `m`.
pub const fn msg_type(m: u8) -> u16 {
    SUBSYS << 8 | m as u16
}

/// Attributes (`enum ctattr_type`).
pub mod cta {
    #![allow(missing_docs)]
    pub const TUPLE_ORIG: u16 = 1;
    pub const TUPLE_REPLY: u16 = 2;
    pub const STATUS: u16 = 3;
    pub const PROTOINFO: u16 = 4;
    pub const TIMEOUT: u16 = 7;
    pub const MARK: u16 = 8;
    pub const USE: u16 = 11;
    pub const ID: u16 = 12;
    pub const ZONE: u16 = 18;
    pub const MARK_MASK: u16 = 21;
    pub const LABELS_MASK: u16 = 23;
    pub const FILTER: u16 = 25;
    pub const LABELS: u16 = 22;
    pub const TUPLE_IP: u16 = 1;
    pub const TUPLE_PROTO: u16 = 2;
    pub const IP_V4_SRC: u16 = 1;
    pub const IP_V4_DST: u16 = 2;
    pub const IP_V6_SRC: u16 = 3;
    pub const IP_V6_DST: u16 = 4;
    pub const PROTO_NUM: u16 = 1;
    pub const PROTO_SRC_PORT: u16 = 2;
    pub const PROTO_DST_PORT: u16 = 3;
    pub const PROTO_ICMP_ID: u16 = 4;
    pub const PROTO_ICMP_TYPE: u16 = 5;
    pub const PROTO_ICMP_CODE: u16 = 6;
    pub const PROTO_ICMPV6_ID: u16 = 7;
    pub const PROTO_ICMPV6_TYPE: u16 = 8;
    pub const PROTO_ICMPV6_CODE: u16 = 9;
    pub const PROTOINFO_TCP: u16 = 1;
    pub const PROTOINFO_TCP_STATE: u16 = 1;
    pub const STATS_GLOBAL_ENTRIES: u16 = 1;
    pub const STATS_GLOBAL_MAX_ENTRIES: u16 = 2;
}

/// Connection status bits (`enum ip_conntrack_status`).
pub mod status {
    #![allow(missing_docs)]
    pub const SEEN_REPLY: u32 = 1 << 1;
    pub const ASSURED: u32 = 1 << 2;
    pub const CONFIRMED: u32 = 1 << 3;
    pub const SRC_NAT: u32 = 1 << 4;
    pub const DST_NAT: u32 = 1 << 5;
}

/// The transport part of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// Ports (TCP, UDP, SCTP, DCCP, UDP-Lite).
    Ports {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// An ICMP or ICMPv6 query.
    Icmp {
        /// Identifier.
        id: u16,
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
    },
    /// Nothing but the protocol.
    None,
}

/// One direction's tuple (`CTA_TUPLE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol.
    pub proto: u8,
    /// Transport identifiers.
    pub l4: L4,
}

/// A connection as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Original direction.
    pub orig: Tuple,
    /// Reply direction.
    pub reply: Tuple,
    /// `IPS_*` bits.
    pub status: u32,
    /// An id unique among live connections.
    pub id: u32,
    /// Zone.
    pub zone: u16,
    /// Seconds until it expires.
    pub timeout: u32,
    /// Mark.
    pub mark: u32,
    /// Labels (raw, as the key carries them).
    pub labels: [u8; 16],
    /// The kernel's TCP state (`enum tcp_conntrack`), for TCP.
    pub tcp_state: Option<u8>,
}

/// A request: GET (dump), DELETE, GET_STATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `msg::*`.
    pub msg: u8,
    /// `nfgen_family`.
    pub family: u8,
    /// `CTA_ZONE`.
    pub zone: Option<u16>,
    /// `CTA_TUPLE_ORIG`.
    pub orig: Option<Tuple>,
    /// `CTA_ID`.
    pub id: Option<u32>,
    /// A selector the kernel honours that this subset does not (`CTA_MARK`,
    /// `CTA_MARK_MASK`, `CTA_LABELS`, `CTA_LABELS_MASK`, `CTA_STATUS`, `CTA_FILTER`): a
    /// dump or flush must refuse rather than act on more connections than asked.
    pub other_filter: bool,
}

/// Appends `nlmsghdr + nfgenmsg` for message `m` and returns where the message starts.
pub fn begin(buf: &mut Vec<u8>, m: u8, flags: u16, seq: u32, pid: u32, family: u8) -> usize {
    let start = buf.len();
    NlMsgHeader {
        len: 0,
        ty: msg_type(m),
        flags,
        seq,
        pid,
    }
    .emit(buf);
    buf.extend_from_slice(&[family, 0, 0, 0]);
    start
}

fn put_tuple(w: &mut AttrWriter<'_>, ty: u16, t: &Tuple) {
    w.nest(ty | nl::NLA_F_NESTED, |w| {
        w.nest(cta::TUPLE_IP | nl::NLA_F_NESTED, |w| match (t.src, t.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                w.put(cta::IP_V4_SRC, &s.octets());
                w.put(cta::IP_V4_DST, &d.octets());
            }
            (s, d) => {
                w.put(cta::IP_V6_SRC, &v6(s));
                w.put(cta::IP_V6_DST, &v6(d));
            }
        });
        w.nest(cta::TUPLE_PROTO | nl::NLA_F_NESTED, |w| {
            w.u8(cta::PROTO_NUM, t.proto);
            let v6 = t.src.is_ipv6();
            match t.l4 {
                L4::Ports { src, dst } => {
                    w.be16(cta::PROTO_SRC_PORT, src);
                    w.be16(cta::PROTO_DST_PORT, dst);
                }
                L4::Icmp { id, ty, code } => {
                    let (i, t, c) = if v6 {
                        (
                            cta::PROTO_ICMPV6_ID,
                            cta::PROTO_ICMPV6_TYPE,
                            cta::PROTO_ICMPV6_CODE,
                        )
                    } else {
                        (
                            cta::PROTO_ICMP_ID,
                            cta::PROTO_ICMP_TYPE,
                            cta::PROTO_ICMP_CODE,
                        )
                    };
                    w.be16(i, id);
                    w.u8(t, ty);
                    w.u8(c, code);
                }
                L4::None => {}
            }
        });
    });
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// Appends one connection (`IPCTNL_MSG_CT_NEW`; `flags` has `NLM_F_MULTI` in a dump).
///
/// # Errors
/// `EMSGSIZE` past an attribute's size.
pub fn emit_entry(buf: &mut Vec<u8>, flags: u16, seq: u32, pid: u32, e: &Entry) -> Result<()> {
    let family = if e.orig.src.is_ipv6() {
        AF_INET6
    } else {
        AF_INET
    };
    let start = begin(buf, msg::NEW, flags, seq, pid, family);
    let mut w = AttrWriter::new(buf);
    put_tuple(&mut w, cta::TUPLE_ORIG, &e.orig);
    put_tuple(&mut w, cta::TUPLE_REPLY, &e.reply);
    w.be32(cta::STATUS, e.status);
    w.be32(cta::TIMEOUT, e.timeout);
    w.be32(cta::MARK, e.mark);
    if let Some(s) = e.tcp_state {
        w.nest(cta::PROTOINFO | nl::NLA_F_NESTED, |w| {
            w.nest(cta::PROTOINFO_TCP | nl::NLA_F_NESTED, |w| {
                w.u8(cta::PROTOINFO_TCP_STATE, s);
            });
        });
    }
    w.be32(cta::USE, 1);
    w.be32(cta::ID, e.id);
    w.be16(cta::ZONE, e.zone);
    if e.labels != [0; 16] {
        w.put(cta::LABELS, &e.labels);
    }
    w.finish()?;
    nl::finish_msg(buf, start)
}

/// Appends a request.
///
/// # Errors
/// `EMSGSIZE` past an attribute's size.
pub fn emit_request(buf: &mut Vec<u8>, flags: u16, seq: u32, pid: u32, r: &Request) -> Result<()> {
    let start = begin(buf, r.msg, flags, seq, pid, r.family);
    let mut w = AttrWriter::new(buf);
    if let Some(t) = &r.orig {
        put_tuple(&mut w, cta::TUPLE_ORIG, t);
    }
    if let Some(z) = r.zone {
        w.be16(cta::ZONE, z);
    }
    if let Some(id) = r.id {
        w.be32(cta::ID, id);
    }
    w.finish()?;
    nl::finish_msg(buf, start)
}

/// Appends the reply to GET_STATS: connections and the global limit.
///
/// # Errors
/// `EMSGSIZE` past an attribute's size.
pub fn emit_stats(buf: &mut Vec<u8>, seq: u32, pid: u32, entries: u32, max: u32) -> Result<()> {
    let start = begin(buf, msg::GET_STATS, 0, seq, pid, AF_UNSPEC);
    let mut w = AttrWriter::new(buf);
    w.be32(cta::STATS_GLOBAL_ENTRIES, entries);
    w.be32(cta::STATS_GLOBAL_MAX_ENTRIES, max);
    w.finish()?;
    nl::finish_msg(buf, start)
}

/// The `nfgenmsg` family and the attributes of a message's payload (after `nlmsghdr`).
fn split(payload: &[u8]) -> Result<(u8, &[u8])> {
    if payload.len() < 4 {
        return Err(Error::Truncated {
            what: "nfgenmsg",
            need: 4,
            have: payload.len(),
        });
    }
    Ok((payload[0], &payload[4..]))
}

fn parse_tuple(a: &Attr<'_>, family: u8) -> Result<Tuple> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport, mut id, mut ty, mut code) = (None, None, None, None, None);
    for x in a.nested() {
        let x = x?;
        match x.ty & nl::NLA_TYPE_MASK {
            cta::TUPLE_IP => {
                for ip in x.nested() {
                    let ip = ip?;
                    let addr = match ip.ty & nl::NLA_TYPE_MASK {
                        cta::IP_V4_SRC | cta::IP_V4_DST => {
                            IpAddr::from(ip.array::<4>("ctnetlink IPv4 address")?)
                        }
                        cta::IP_V6_SRC | cta::IP_V6_DST => {
                            IpAddr::from(ip.array::<16>("ctnetlink IPv6 address")?)
                        }
                        _ => continue,
                    };
                    match ip.ty & nl::NLA_TYPE_MASK {
                        cta::IP_V4_SRC | cta::IP_V6_SRC => src = Some(addr),
                        _ => dst = Some(addr),
                    }
                }
            }
            cta::TUPLE_PROTO => {
                for p in x.nested() {
                    let p = p?;
                    match p.ty & nl::NLA_TYPE_MASK {
                        cta::PROTO_NUM => proto = Some(p.u8("ctnetlink protocol")?),
                        cta::PROTO_SRC_PORT => sport = Some(p.be16("ctnetlink port")?),
                        cta::PROTO_DST_PORT => dport = Some(p.be16("ctnetlink port")?),
                        cta::PROTO_ICMP_ID | cta::PROTO_ICMPV6_ID => {
                            id = Some(p.be16("ctnetlink ICMP id")?);
                        }
                        cta::PROTO_ICMP_TYPE | cta::PROTO_ICMPV6_TYPE => {
                            ty = Some(p.u8("ctnetlink ICMP type")?);
                        }
                        cta::PROTO_ICMP_CODE | cta::PROTO_ICMPV6_CODE => {
                            code = Some(p.u8("ctnetlink ICMP code")?);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(proto)) = (src, dst, proto) else {
        return Err(Error::Invalid("ctnetlink tuple"));
    };
    if (family == AF_INET) != src.is_ipv4() || src.is_ipv4() != dst.is_ipv4() {
        return Err(Error::Invalid("ctnetlink tuple family"));
    }
    let l4 = match (sport, dport, id, ty, code) {
        (Some(src), Some(dst), ..) => L4::Ports { src, dst },
        (_, _, Some(id), Some(ty), Some(code)) => L4::Icmp { id, ty, code },
        _ => L4::None,
    };
    Ok(Tuple {
        src,
        dst,
        proto,
        l4,
    })
}

/// Parses a request's payload (after `nlmsghdr`); `hdr` gives the message kind.
///
/// # Errors
/// A payload shorter than `nfgenmsg`, malformed attributes, a tuple without addresses or
/// protocol or whose addresses are not of the message's family.
pub fn parse_request(hdr: &NlMsgHeader, payload: &[u8]) -> Result<Request> {
    let (family, attrs) = split(payload)?;
    #[allow(clippy::cast_possible_truncation)]
    let mut r = Request {
        msg: (hdr.ty & 0xff) as u8,
        family,
        zone: None,
        orig: None,
        id: None,
        other_filter: false,
    };
    for a in nl::attrs(attrs) {
        let a = a?;
        match a.ty & nl::NLA_TYPE_MASK {
            cta::TUPLE_ORIG => r.orig = Some(parse_tuple(&a, family)?),
            cta::ZONE => r.zone = Some(a.be16("ctnetlink zone")?),
            cta::ID => r.id = Some(a.be32("ctnetlink id")?),
            cta::MARK
            | cta::MARK_MASK
            | cta::LABELS
            | cta::LABELS_MASK
            | cta::STATUS
            | cta::FILTER => r.other_filter = true,
            _ => {}
        }
    }
    Ok(r)
}

/// Parses a dump entry's payload (after `nlmsghdr`).
///
/// # Errors
/// What [`parse_request`] refuses, and an entry without both tuples.
pub fn parse_entry(payload: &[u8]) -> Result<Entry> {
    let (family, attrs) = split(payload)?;
    let (mut orig, mut reply) = (None, None);
    let mut e = Entry {
        orig: Tuple {
            src: IpAddr::from([0u8; 4]),
            dst: IpAddr::from([0u8; 4]),
            proto: 0,
            l4: L4::None,
        },
        reply: Tuple {
            src: IpAddr::from([0u8; 4]),
            dst: IpAddr::from([0u8; 4]),
            proto: 0,
            l4: L4::None,
        },
        status: 0,
        id: 0,
        zone: 0,
        timeout: 0,
        mark: 0,
        labels: [0; 16],
        tcp_state: None,
    };
    for a in nl::attrs(attrs) {
        let a = a?;
        match a.ty & nl::NLA_TYPE_MASK {
            cta::TUPLE_ORIG => orig = Some(parse_tuple(&a, family)?),
            cta::TUPLE_REPLY => reply = Some(parse_tuple(&a, family)?),
            cta::STATUS => e.status = a.be32("ctnetlink status")?,
            cta::ID => e.id = a.be32("ctnetlink id")?,
            cta::ZONE => e.zone = a.be16("ctnetlink zone")?,
            cta::TIMEOUT => e.timeout = a.be32("ctnetlink timeout")?,
            cta::MARK => e.mark = a.be32("ctnetlink mark")?,
            cta::LABELS => e.labels = a.array("ctnetlink labels")?,
            cta::PROTOINFO => {
                for p in a.nested() {
                    let p = p?;
                    if p.ty & nl::NLA_TYPE_MASK == cta::PROTOINFO_TCP {
                        for s in p.nested() {
                            let s = s?;
                            if s.ty & nl::NLA_TYPE_MASK == cta::PROTOINFO_TCP_STATE {
                                e.tcp_state = Some(s.u8("ctnetlink TCP state")?);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    e.orig = orig.ok_or(Error::Invalid("ctnetlink entry without its original tuple"))?;
    e.reply = reply.ok_or(Error::Invalid("ctnetlink entry without its reply tuple"))?;
    Ok(e)
}

/// Parses a GET_STATS reply's payload: (connections, global limit).
///
/// # Errors
/// A payload shorter than `nfgenmsg`, malformed attributes.
pub fn parse_stats(payload: &[u8]) -> Result<(u32, u32)> {
    let (_, attrs) = split(payload)?;
    let (mut n, mut max) = (0, 0);
    for a in nl::attrs(attrs) {
        let a = a?;
        match a.ty & nl::NLA_TYPE_MASK {
            cta::STATS_GLOBAL_ENTRIES => n = a.be32("ctnetlink entries")?,
            cta::STATS_GLOBAL_MAX_ENTRIES => max = a.be32("ctnetlink max entries")?,
            _ => {}
        }
    }
    Ok((n, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_entry() -> Entry {
        Entry {
            orig: Tuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                proto: 6,
                l4: L4::Ports { src: 4000, dst: 80 },
            },
            reply: Tuple {
                src: "10.0.0.2".parse().unwrap(),
                dst: "10.0.0.1".parse().unwrap(),
                proto: 6,
                l4: L4::Ports { src: 80, dst: 4000 },
            },
            status: status::CONFIRMED | status::SEEN_REPLY,
            id: 17,
            zone: 5,
            timeout: 431_999,
            mark: 0x2a,
            labels: [0; 16],
            tcp_state: Some(3),
        }
    }

    #[test]
    fn entries_and_requests_round_trip() {
        let mut b = Vec::new();
        emit_entry(&mut b, nl::flags::MULTI, 9, 4, &tcp_entry()).unwrap();
        let (h, p) = nl::messages(&b).next().unwrap().unwrap();
        assert_eq!(
            (h.ty, h.flags, h.seq),
            (msg_type(msg::NEW), nl::flags::MULTI, 9)
        );
        assert_eq!(p[0], AF_INET);
        assert_eq!(parse_entry(p).unwrap(), tcp_entry());

        let mut icmp6 = tcp_entry();
        icmp6.orig = Tuple {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
            proto: 58,
            l4: L4::Icmp {
                id: 7,
                ty: 128,
                code: 0,
            },
        };
        icmp6.reply = icmp6.orig;
        icmp6.tcp_state = None;
        icmp6.labels[15] = 1;
        let mut b = Vec::new();
        emit_entry(&mut b, nl::flags::MULTI, 1, 1, &icmp6).unwrap();
        let (_, p) = nl::messages(&b).next().unwrap().unwrap();
        assert_eq!(parse_entry(p).unwrap(), icmp6);

        let del = Request {
            msg: msg::DELETE,
            family: AF_INET,
            zone: Some(5),
            orig: Some(tcp_entry().orig),
            id: Some(17),
            other_filter: false,
        };
        let mut b = Vec::new();
        emit_request(&mut b, nl::flags::REQUEST | nl::flags::ACK, 3, 0, &del).unwrap();
        let (h, p) = nl::messages(&b).next().unwrap().unwrap();
        assert_eq!(parse_request(&h, p).unwrap(), del);
    }

    #[test]
    fn malformed_requests_are_errors() {
        let h = NlMsgHeader {
            len: 0,
            ty: msg_type(msg::DELETE),
            flags: 0,
            seq: 0,
            pid: 0,
        };
        assert!(parse_request(&h, &[2, 0]).is_err());
        // An IPv6 tuple in an AF_INET message.
        let mut b = Vec::new();
        let mut r = Request {
            msg: msg::DELETE,
            family: AF_INET,
            zone: None,
            orig: Some(Tuple {
                src: "fd00::1".parse().unwrap(),
                dst: "fd00::2".parse().unwrap(),
                proto: 17,
                l4: L4::Ports { src: 1, dst: 2 },
            }),
            id: None,
            other_filter: false,
        };
        emit_request(&mut b, 0, 0, 0, &r).unwrap();
        let (h2, p) = nl::messages(&b).next().unwrap().unwrap();
        assert!(parse_request(&h2, p).is_err());
        r.family = AF_INET6;
        let mut b = Vec::new();
        emit_request(&mut b, 0, 0, 0, &r).unwrap();
        let (h3, p) = nl::messages(&b).next().unwrap().unwrap();
        assert!(parse_request(&h3, p).is_ok());
    }
}
