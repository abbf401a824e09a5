//! Netlink and generic-netlink framing plus the attribute codec, with the OVS
//! quirks the generic libraries get wrong:
//!
//! - nests are emitted **without** `NLA_F_NESTED` (like the kernel) and accepted
//!   with or without it; the type is always masked with [`NLA_TYPE_MASK`];
//! - attribute type 0 is a real attribute (tunnel id, upcall success), never
//!   skipped;
//! - the last attribute of a message may lack its padding (unaligned upcalls);
//! - every length and offset is checked: parsing never panics.
//!
//! This codec is hand-written rather than built on `netlink-packet-core`
//! because that crate's `DecodeError` carries no errno, its `NlasIterator`
//! rejects a final attribute without padding, and emitting into a caller's
//! reusable `Vec<u8>` (the server's hot path) is simpler with a tiny writer.

use crate::error::{Error, Result};

/// `nlmsghdr` length.
pub const NLMSG_HDRLEN: usize = 16;
/// [`NLMSG_HDRLEN`] as an `nlmsg_len`.
const NLMSG_HDRLEN_U32: u32 = 16;
const _: () = assert!(NLMSG_HDRLEN_U32 as usize == NLMSG_HDRLEN);
/// `genlmsghdr` length.
pub const GENL_HDRLEN: usize = 4;
/// `struct ovs_header` length.
pub const OVS_HDRLEN: usize = 4;
/// Attribute header length.
pub const NLA_HDRLEN: usize = 4;
/// Mask that strips `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` from a type.
pub const NLA_TYPE_MASK: u16 = 0x3fff;
/// `NLA_F_NESTED` flag bit.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER` flag bit.
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;

/// `NLMSG_NOOP` message type.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR` message type.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE` message type.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN` message type.
pub const NLMSG_OVERRUN: u16 = 4;
/// The generic-netlink controller's fixed family id.
pub const GENL_ID_CTRL: u16 = 0x10;

/// `nlmsghdr.nlmsg_flags` bits.
pub mod flags {
    /// Request message.
    pub const REQUEST: u16 = 0x001;
    /// Part of a multipart (dump) reply.
    pub const MULTI: u16 = 0x002;
    /// Request an acknowledgement.
    pub const ACK: u16 = 0x004;
    /// Echo the resulting notification back to the requester.
    pub const ECHO: u16 = 0x008;
    /// Dump: return the whole table.
    pub const ROOT: u16 = 0x100;
    /// Dump: return all matches.
    pub const MATCH: u16 = 0x200;
    /// `ROOT | MATCH`: marks a GET as a dump.
    pub const DUMP: u16 = 0x300;
    /// NEW: replace existing (ignored by OVS families).
    pub const REPLACE: u16 = 0x100;
    /// NEW: fail if it exists.
    pub const EXCL: u16 = 0x200;
    /// NEW: create if it does not exist.
    pub const CREATE: u16 = 0x400;
    /// NEW: append.
    pub const APPEND: u16 = 0x800;
    /// `NLMSG_ERROR`: the request was capped (payload not echoed).
    pub const CAPPED: u16 = 0x100;
    /// `NLMSG_ERROR`: extended-ack TLVs follow.
    pub const ACK_TLVS: u16 = 0x200;
}

/// Round `len` up to the 4-byte netlink alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

pub(crate) fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
pub(crate) fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
pub(crate) fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NlMsgHeader {
    /// Total length including this header.
    pub len: u32,
    /// Message type (family id for generic netlink).
    pub ty: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// Sender port id.
    pub pid: u32,
}

impl NlMsgHeader {
    /// Parse the first 16 bytes of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() < NLMSG_HDRLEN {
            return Err(Error::Truncated {
                what: "nlmsghdr",
                need: NLMSG_HDRLEN,
                have: buf.len(),
            });
        }
        Ok(NlMsgHeader {
            len: rd_u32(buf, 0).unwrap_or(0),
            ty: rd_u16(buf, 4).unwrap_or(0),
            flags: rd_u16(buf, 6).unwrap_or(0),
            seq: rd_u32(buf, 8).unwrap_or(0),
            pid: rd_u32(buf, 12).unwrap_or(0),
        })
    }

    /// Append the 16 header bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
    }
}

/// Iterator over the netlink messages of one datagram: yields each header
/// and its payload (the bytes after the 16-byte header, up to `len`).
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
}

/// Split a datagram into netlink messages.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(NlMsgHeader, &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let hdr = match NlMsgHeader::parse(self.buf) {
            Ok(h) => h,
            Err(e) => {
                self.buf = &[];
                return Some(Err(e));
            }
        };
        let len = hdr.len as usize;
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            let have = self.buf.len();
            self.buf = &[];
            return Some(Err(Error::Truncated {
                what: "netlink message",
                need: len.max(NLMSG_HDRLEN),
                have,
            }));
        }
        let payload = &self.buf[NLMSG_HDRLEN..len];
        let next = align(len).min(self.buf.len());
        self.buf = &self.buf[next..];
        Some(Ok((hdr, payload)))
    }
}

/// `struct genlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct GenlHeader {
    /// Command.
    pub cmd: u8,
    /// Family version.
    pub version: u8,
}

/// A parsed generic-netlink message of an OVS family: headers plus the raw
/// attribute bytes (after `struct ovs_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OvsFrame<'a> {
    /// Netlink header.
    pub nl: NlMsgHeader,
    /// Generic-netlink header.
    pub genl: GenlHeader,
    /// `ovs_header.dp_ifindex`.
    pub dp_ifindex: i32,
    /// Attribute bytes.
    pub attrs: &'a [u8],
}

impl<'a> OvsFrame<'a> {
    /// Parse genl + ovs headers from a message payload (bytes after nlmsghdr).
    pub fn parse(nl: NlMsgHeader, payload: &'a [u8]) -> Result<Self> {
        let (genl, rest) = parse_genl(payload)?;
        if rest.len() < OVS_HDRLEN {
            return Err(Error::Truncated {
                what: "ovs_header",
                need: OVS_HDRLEN,
                have: rest.len(),
            });
        }
        let dp_ifindex = rd_i32(rest, 0).unwrap_or(0);
        Ok(OvsFrame {
            nl,
            genl,
            dp_ifindex,
            attrs: &rest[OVS_HDRLEN..],
        })
    }
}

/// Parse a `genlmsghdr`, returning it and the bytes after it.
pub fn parse_genl(payload: &[u8]) -> Result<(GenlHeader, &[u8])> {
    if payload.len() < GENL_HDRLEN {
        return Err(Error::Truncated {
            what: "genlmsghdr",
            need: GENL_HDRLEN,
            have: payload.len(),
        });
    }
    Ok((
        GenlHeader {
            cmd: payload[0],
            version: payload[1],
        },
        &payload[GENL_HDRLEN..],
    ))
}

/// One attribute as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Type with the flag bits masked off.
    pub ty: u16,
    /// Whether `NLA_F_NESTED` was set (informational only).
    pub nested_flag: bool,
    /// Payload, without header and padding.
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// Payload as a fixed-size array, or `BadLength`.
    pub fn array<const N: usize>(&self, what: &'static str) -> Result<[u8; N]> {
        self.payload.try_into().map_err(|_| Error::BadLength {
            what,
            len: self.payload.len(),
        })
    }
    /// Payload as a host-order u8.
    pub fn u8(&self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    /// Payload as a host-order u16.
    pub fn u16(&self, what: &'static str) -> Result<u16> {
        Ok(u16::from_ne_bytes(self.array(what)?))
    }
    /// Payload as a big-endian u16.
    pub fn be16(&self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    /// Payload as a host-order u32.
    pub fn u32(&self, what: &'static str) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.array(what)?))
    }
    /// Payload as a big-endian u32.
    pub fn be32(&self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    /// Payload as a host-order u64 (read from a 4-byte-aligned buffer).
    pub fn u64(&self, what: &'static str) -> Result<u64> {
        Ok(u64::from_ne_bytes(self.array(what)?))
    }
    /// Payload as a big-endian u64.
    pub fn be64(&self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    /// A zero-length flag attribute.
    pub fn flag(&self, what: &'static str) -> Result<()> {
        if self.payload.is_empty() {
            Ok(())
        } else {
            Err(Error::BadLength {
                what,
                len: self.payload.len(),
            })
        }
    }
    /// A NUL-terminated string of at most `max` characters (NUL excluded).
    /// Bytes after the first NUL are ignored, like `nla_strscpy`.
    pub fn string(&self, what: &'static str, max: usize) -> Result<String> {
        let p = self.payload;
        let end = p.iter().position(|&c| c == 0).ok_or(Error::Invalid(what))?;
        if end > max {
            return Err(Error::BadLength { what, len: p.len() });
        }
        core::str::from_utf8(&p[..end])
            .map(str::to_owned)
            .map_err(|_| Error::Invalid(what))
    }
    /// Nested attributes.
    pub fn nested(&self) -> Attrs<'a> {
        attrs(self.payload)
    }
}

/// Iterator over a run of attributes.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
}

/// Iterate over the attributes in `buf`.
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let b = self.buf;
        if b.len() < NLA_HDRLEN {
            self.buf = &[];
            return Some(Err(Error::TrailingBytes {
                what: "attributes",
                len: b.len(),
            }));
        }
        let len = rd_u16(b, 0).unwrap_or(0) as usize;
        let raw_ty = rd_u16(b, 2).unwrap_or(0);
        if len < NLA_HDRLEN || len > b.len() {
            self.buf = &[];
            return Some(Err(Error::Truncated {
                what: "attribute",
                need: len.max(NLA_HDRLEN),
                have: b.len(),
            }));
        }
        // The final attribute may be unpadded (OVS_DP_F_UNALIGNED upcalls).
        self.buf = &b[align(len).min(b.len())..];
        Some(Ok(Attr {
            ty: raw_ty & NLA_TYPE_MASK,
            nested_flag: raw_ty & NLA_F_NESTED != 0,
            payload: &b[NLA_HDRLEN..len],
        }))
    }
}

/// Appends attributes to a caller-owned buffer. Nest lengths are patched when
/// the nest is closed; an attribute over 65535 bytes is remembered and
/// reported by [`AttrWriter::finish`].
#[derive(Debug)]
pub struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
    overflow: bool,
}

impl<'a> AttrWriter<'a> {
    /// Start writing attributes at the end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        AttrWriter {
            buf,
            overflow: false,
        }
    }
    /// Bytes written so far into the underlying buffer (whole buffer length).
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether the underlying buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    fn header(&mut self, ty: u16, len: usize) {
        let l = u16::try_from(len + NLA_HDRLEN).unwrap_or_else(|_| {
            self.overflow = true;
            0
        });
        self.buf.extend_from_slice(&l.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
    }
    fn pad(&mut self) {
        let n = align(self.buf.len()) - self.buf.len();
        self.buf.extend_from_slice(&[0u8; 3][..n]);
    }
    /// Put an attribute with a raw payload, padded.
    pub fn put(&mut self, ty: u16, payload: &[u8]) {
        self.header(ty, payload.len());
        self.buf.extend_from_slice(payload);
        self.pad();
    }
    /// Put an attribute of `len` payload bytes written by `f` straight into
    /// the buffer (no temporary allocation). `f` must append exactly `len`
    /// bytes; the header is fixed up from what it really appended.
    pub fn put_with(&mut self, ty: u16, len: usize, f: impl FnOnce(&mut Vec<u8>)) {
        let at = self.buf.len();
        self.header(ty, len);
        f(self.buf);
        let real = self.buf.len() - at;
        if real != len + NLA_HDRLEN {
            let l = u16::try_from(real).unwrap_or_else(|_| {
                self.overflow = true;
                0
            });
            if let Some(dst) = self.buf.get_mut(at..at + 2) {
                dst.copy_from_slice(&l.to_ne_bytes());
            }
        }
        self.pad();
    }
    /// Put an attribute without trailing padding (only valid as the last
    /// attribute of a message: `OVS_DP_F_UNALIGNED` upcall packets).
    pub fn put_unpadded(&mut self, ty: u16, payload: &[u8]) {
        self.header(ty, payload.len());
        self.buf.extend_from_slice(payload);
    }
    /// Zero-length flag attribute.
    pub fn flag(&mut self, ty: u16) {
        self.put(ty, &[]);
    }
    /// Host-order u8.
    pub fn u8(&mut self, ty: u16, v: u8) {
        self.put(ty, &[v]);
    }
    /// Host-order u16.
    pub fn u16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_ne_bytes());
    }
    /// Big-endian u16.
    pub fn be16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_be_bytes());
    }
    /// Host-order u32.
    pub fn u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }
    /// Big-endian u32.
    pub fn be32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }
    /// Host-order u64 (no PAD attribute: x86-64 layout).
    pub fn u64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_ne_bytes());
    }
    /// Big-endian u64.
    pub fn be64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }
    /// NUL-terminated string.
    pub fn string(&mut self, ty: u16, s: &str) {
        self.header(ty, s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }
    /// Open a nest (no `NLA_F_NESTED`, like the kernel); returns its offset.
    pub fn nest_start(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.header(ty, 0);
        at
    }
    /// Close the nest opened at `at`, patching its length.
    pub fn nest_end(&mut self, at: usize) {
        let len = self.buf.len() - at;
        let l = u16::try_from(len).unwrap_or_else(|_| {
            self.overflow = true;
            0
        });
        if let Some(dst) = self.buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&l.to_ne_bytes());
        }
    }
    /// Nest the attributes written by `f` under type `ty`.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut AttrWriter<'_>)) {
        let at = self.nest_start(ty);
        f(self);
        self.nest_end(at);
    }
    /// Whether any attribute overflowed the 16-bit length.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
    /// Report an overflow as `TooLarge`.
    pub fn finish(self) -> Result<()> {
        if self.overflow {
            Err(Error::TooLarge("attribute"))
        } else {
            Ok(())
        }
    }
}

/// Start a generic-netlink message with an `ovs_header` in `buf` (which is
/// cleared); returns the writer offset used by [`finish_msg`].
pub fn begin_ovs_msg(
    buf: &mut Vec<u8>,
    family: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    genl: GenlHeader,
    dp_ifindex: i32,
) -> usize {
    let start = buf.len();
    NlMsgHeader {
        len: 0,
        ty: family,
        flags,
        seq,
        pid,
    }
    .emit(buf);
    buf.extend_from_slice(&[genl.cmd, genl.version, 0, 0]);
    buf.extend_from_slice(&dp_ifindex.to_ne_bytes());
    start
}

/// Start a generic-netlink message without a family header.
pub fn begin_genl_msg(
    buf: &mut Vec<u8>,
    family: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    genl: GenlHeader,
) -> usize {
    let start = buf.len();
    NlMsgHeader {
        len: 0,
        ty: family,
        flags,
        seq,
        pid,
    }
    .emit(buf);
    buf.extend_from_slice(&[genl.cmd, genl.version, 0, 0]);
    start
}

/// Patch `nlmsg_len` of the message that starts at `start`.
pub fn finish_msg(buf: &mut [u8], start: usize) -> Result<()> {
    let len = buf.len() - start;
    let l = u32::try_from(len).map_err(|_| Error::TooLarge("message"))?;
    if let Some(dst) = buf.get_mut(start..start + 4) {
        dst.copy_from_slice(&l.to_ne_bytes());
    }
    Ok(())
}

/// Extended-ack TLV types (`NLMSGERR_ATTR_*`).
pub mod ext_ack {
    /// Error message string.
    pub const MSG: u16 = 1;
    /// Offset of the offending attribute in the request.
    pub const OFFS: u16 = 2;
    /// Cookie.
    pub const COOKIE: u16 = 3;
    /// Policy.
    pub const POLICY: u16 = 4;
    /// Missing attribute type.
    pub const MISS_TYPE: u16 = 5;
    /// Offset of the nest missing an attribute.
    pub const MISS_NEST: u16 = 6;
}

/// An `NLMSG_ERROR` payload (also an ACK when `error == 0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorMsg {
    /// 0 or a negative errno.
    pub error: i32,
    /// The echoed request header.
    pub request: NlMsgHeader,
    /// The echoed request payload (empty when capped or for ACKs).
    pub request_payload: Vec<u8>,
    /// Extended-ack message (`NLMSGERR_ATTR_MSG`).
    pub ext_msg: Option<String>,
    /// Extended-ack offset (`NLMSGERR_ATTR_OFFS`).
    pub ext_offset: Option<u32>,
    /// Extended-ack missing attribute type.
    pub ext_miss_type: Option<u32>,
}

impl ErrorMsg {
    /// The ACK (`error == 0`) for a request.
    pub fn ack(request: NlMsgHeader) -> Self {
        ErrorMsg {
            request,
            ..Default::default()
        }
    }

    /// The `NLMSG_ERROR` answering `request` (payload echoed) with `err`'s
    /// errno and its text as the extended-ack message.
    pub fn from_error(request: NlMsgHeader, request_payload: &[u8], err: &Error) -> Self {
        ErrorMsg {
            error: -err.errno(),
            request,
            request_payload: request_payload.to_vec(),
            ext_msg: Some(err.to_string()),
            ext_offset: None,
            ext_miss_type: None,
        }
    }

    /// Parse the payload of an `NLMSG_ERROR` message with header flags `flags`.
    pub fn parse(flags: u16, payload: &[u8]) -> Result<Self> {
        if payload.len() < 4 + NLMSG_HDRLEN {
            return Err(Error::Truncated {
                what: "nlmsgerr",
                need: 4 + NLMSG_HDRLEN,
                have: payload.len(),
            });
        }
        let error = rd_i32(payload, 0).unwrap_or(0);
        let request = NlMsgHeader::parse(&payload[4..])?;
        let mut off = 4 + NLMSG_HDRLEN;
        let mut request_payload = Vec::new();
        if flags & flags::CAPPED == 0 {
            let plen = (request.len as usize).saturating_sub(NLMSG_HDRLEN);
            let end = off
                .checked_add(plen)
                .filter(|&e| e <= payload.len())
                .ok_or(Error::Truncated {
                    what: "nlmsgerr payload",
                    need: off + plen,
                    have: payload.len(),
                })?;
            request_payload = payload[off..end].to_vec();
            off = align(end).min(payload.len());
        }
        let mut m = ErrorMsg {
            error,
            request,
            request_payload,
            ..Default::default()
        };
        if flags & flags::ACK_TLVS != 0 {
            for a in attrs(&payload[off..]) {
                let a = a?;
                match a.ty {
                    ext_ack::MSG => {
                        let end = a
                            .payload
                            .iter()
                            .position(|&c| c == 0)
                            .unwrap_or(a.payload.len());
                        m.ext_msg = Some(String::from_utf8_lossy(&a.payload[..end]).into_owned());
                    }
                    ext_ack::OFFS => m.ext_offset = Some(a.u32("NLMSGERR_ATTR_OFFS")?),
                    ext_ack::MISS_TYPE => m.ext_miss_type = Some(a.u32("NLMSGERR_ATTR_MISS_TYPE")?),
                    _ => {}
                }
            }
        }
        Ok(m)
    }

    /// Append a complete `NLMSG_ERROR` message. `seq`/`pid` come from
    /// `request`. The request payload is echoed only for errors (like the
    /// kernel with `NETLINK_CAP_ACK` off) — pass an empty slice to cap it.
    pub fn emit(&self, buf: &mut Vec<u8>) -> Result<()> {
        let mut fl = 0u16;
        if self.error == 0 || self.request_payload.is_empty() {
            fl |= flags::CAPPED;
        }
        let mut req = self.request;
        req.len = if fl & flags::CAPPED != 0 {
            NLMSG_HDRLEN_U32
        } else {
            u32::try_from(NLMSG_HDRLEN + self.request_payload.len())
                .map_err(|_| Error::TooLarge("echoed request"))?
        };
        let has_tlv =
            self.ext_msg.is_some() || self.ext_offset.is_some() || self.ext_miss_type.is_some();
        if has_tlv {
            fl |= flags::ACK_TLVS;
        }
        let start = buf.len();
        NlMsgHeader {
            len: 0,
            ty: NLMSG_ERROR,
            flags: fl,
            seq: self.request.seq,
            pid: self.request.pid,
        }
        .emit(buf);
        buf.extend_from_slice(&self.error.to_ne_bytes());
        req.emit(buf);
        if fl & flags::CAPPED == 0 {
            buf.extend_from_slice(&self.request_payload);
            let n = align(buf.len()) - buf.len();
            buf.extend_from_slice(&[0u8; 3][..n]);
        }
        let mut w = AttrWriter::new(buf);
        if let Some(m) = &self.ext_msg {
            w.string(ext_ack::MSG, m);
        }
        if let Some(o) = self.ext_offset {
            w.u32(ext_ack::OFFS, o);
        }
        if let Some(t) = self.ext_miss_type {
            w.u32(ext_ack::MISS_TYPE, t);
        }
        w.finish()?;
        finish_msg(buf, start)
    }
}

/// Append an `NLMSG_DONE` with the given status (0 or −errno).
pub fn emit_done(buf: &mut Vec<u8>, seq: u32, pid: u32, status: i32) {
    NlMsgHeader {
        len: NLMSG_HDRLEN_U32 + 4,
        ty: NLMSG_DONE,
        flags: flags::MULTI,
        seq,
        pid,
    }
    .emit(buf);
    buf.extend_from_slice(&status.to_ne_bytes());
}

/// A control-level view of one netlink message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<'a> {
    /// `NLMSG_NOOP`.
    Noop,
    /// `NLMSG_ERROR` (ack when `error == 0`).
    Error(ErrorMsg),
    /// `NLMSG_DONE` with its status (0 when the payload is empty).
    Done(i32),
    /// `NLMSG_OVERRUN`.
    Overrun,
    /// A family message: its payload (genl header onwards).
    Data(&'a [u8]),
}

/// Classify a message by type.
pub fn classify<'a>(hdr: &NlMsgHeader, payload: &'a [u8]) -> Result<Control<'a>> {
    Ok(match hdr.ty {
        NLMSG_NOOP => Control::Noop,
        NLMSG_ERROR => Control::Error(ErrorMsg::parse(hdr.flags, payload)?),
        NLMSG_DONE => Control::Done(rd_i32(payload, 0).unwrap_or(0)),
        NLMSG_OVERRUN => Control::Overrun,
        _ => Control::Data(payload),
    })
}

#[cfg(test)]
mod tests;
