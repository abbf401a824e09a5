//! Netlink framing, as much as the library needs: walking the messages of a datagram by
//! offset (so they can be edited or cut out in place), and `struct sockaddr_nl`.

/// `NLMSG_HDRLEN`.
pub const HDRLEN: usize = 16;
/// `NLMSG_ERROR`: an ACK (error 0) or an error answer.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`.
pub const F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: a part of a dump.
pub const F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`.
pub const F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const F_DUMP: u16 = 0x300;
/// `NLM_F_CREATE` (for `RTM_NEWLINK`).
pub const F_CREATE: u16 = 0x400;
/// `sizeof(struct sockaddr_nl)`.
pub const SOCKADDR_NL_LEN: usize = 12;

/// `NLMSG_ALIGN`.
pub fn align(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `nlmsg_len`.
    pub len: u32,
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
}

impl Header {
    /// The header at the start of `b`, if there are 16 bytes.
    pub fn parse(b: &[u8]) -> Option<Header> {
        Some(Header {
            len: u32_at(b, 0)?,
            ty: u16_at(b, 4)?,
            flags: u16_at(b, 6)?,
            seq: u32_at(b, 8)?,
        })
    }

    /// Whether it asks for a dump (both `NLM_F_DUMP` bits, as genetlink and rtnetlink test).
    pub fn is_dump(&self) -> bool {
        self.flags & F_DUMP == F_DUMP
    }
}

/// Where one message lies in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    /// Its header.
    pub hdr: Header,
    /// Offset of its header.
    pub start: usize,
    /// Offset just past it, alignment padding included (never past the datagram).
    pub end: usize,
}

impl Msg {
    /// Its payload (after the header, up to `nlmsg_len`).
    pub fn payload<'a>(&self, datagram: &'a [u8]) -> &'a [u8] {
        let len = self.hdr.len as usize;
        datagram
            .get(self.start + HDRLEN..self.start + len)
            .unwrap_or(&[])
    }
}

/// One step of [`walk`]: a message, or the offset where the bytes stop making sense
/// (a header cut short, or a length below 16 or past the end).
pub type Step = Result<Msg, usize>;

/// The messages of `datagram`, in order; a malformed tail is reported once and ends the
/// walk.
pub fn walk(datagram: &[u8]) -> impl Iterator<Item = Step> + '_ {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= datagram.len() {
            return None;
        }
        let start = off;
        let hdr = Header::parse(&datagram[start..]);
        match hdr {
            Some(hdr)
                if hdr.len as usize >= HDRLEN && hdr.len as usize <= datagram.len() - start =>
            {
                let end = (start + align(hdr.len as usize)).min(datagram.len());
                off = end;
                Some(Ok(Msg { hdr, start, end }))
            }
            _ => {
                off = datagram.len();
                Some(Err(start))
            }
        }
    })
}

/// Sets `flag` in the header of the message at `start`.
pub fn set_flag(datagram: &mut [u8], start: usize, flag: u16) {
    if let Some(h) = Header::parse(&datagram[start..]) {
        datagram[start + 6..start + 8].copy_from_slice(&(h.flags | flag).to_ne_bytes());
    }
}

/// The `error` field of an `NLMSG_ERROR` message (0 for an ACK), if it is there.
pub fn error_code(datagram: &[u8], m: &Msg) -> Option<i32> {
    let p = m.payload(datagram);
    Some(i32::from_ne_bytes(p.get(0..4)?.try_into().ok()?))
}

/// `struct sockaddr_nl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockaddrNl {
    /// `nl_pid`: the port id (0 is the kernel).
    pub pid: u32,
    /// `nl_groups`: multicast groups.
    pub groups: u32,
}

impl SockaddrNl {
    /// `raw` as a netlink address: None unless it is long enough and of family AF_NETLINK.
    pub fn parse(raw: &[u8]) -> Option<SockaddrNl> {
        let family = u16_at(raw, 0)?;
        if raw.len() < SOCKADDR_NL_LEN || i32::from(family) != libc::AF_NETLINK {
            return None;
        }
        Some(SockaddrNl {
            pid: u32_at(raw, 4)?,
            groups: u32_at(raw, 8)?,
        })
    }

    /// The 12 bytes of the address.
    pub fn to_bytes(self) -> [u8; SOCKADDR_NL_LEN] {
        let mut b = [0; SOCKADDR_NL_LEN];
        // AF_NETLINK is 16: it fits.
        b[0..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
        b[4..8].copy_from_slice(&self.pid.to_ne_bytes());
        b[8..12].copy_from_slice(&self.groups.to_ne_bytes());
        b
    }

    /// Whether it is the kernel's unicast address, where OVS sends every request.
    pub fn is_kernel(self) -> bool {
        self.pid == 0 && self.groups == 0
    }
}

/// Rewrites a received source address from dpswitch's port id `pid` to the kernel's (0), as
/// the caller expects of the answers and notifications it thinks come from the kernel.
/// `name` may be cut short (the caller's room).
pub fn mask_source(name: &mut [u8], pid: u32) {
    let family = u16_at(name, 0).map(i32::from);
    if family == Some(libc::AF_NETLINK) && u32_at(name, 4) == Some(pid) {
        name[4..8].copy_from_slice(&0u32.to_ne_bytes());
    }
}

#[cfg(test)]
pub(crate) mod build {
    //! Messages for the unit tests.

    use super::*;

    /// A message of type `ty` with `flags`, `seq` and `payload`, padded to alignment.
    pub(crate) fn msg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = HDRLEN + payload.len();
        let mut v = Vec::with_capacity(align(len));
        v.extend_from_slice(&u32::try_from(len).unwrap().to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align(len), 0);
        v
    }

    /// An `NLMSG_ERROR` answering `seq` with `error` (0: an ACK).
    pub(crate) fn error(seq: u32, error: i32) -> Vec<u8> {
        let mut p = error.to_ne_bytes().to_vec();
        // The request's header, as the kernel echoes it.
        p.extend_from_slice(&msg(0x30, F_REQUEST, seq, &[])[..HDRLEN]);
        msg(NLMSG_ERROR, 0, seq, &p)
    }

    /// `NLMSG_DONE` for `seq`.
    pub(crate) fn done(seq: u32) -> Vec<u8> {
        msg(NLMSG_DONE, F_MULTI, seq, &0i32.to_ne_bytes())
    }

    /// A genetlink message of family 0x30: a request or a reply.
    pub(crate) fn genl(flags: u16, seq: u32, body_len: usize) -> Vec<u8> {
        let mut p = vec![1, 1, 0, 0];
        p.resize(4 + body_len, 0xab);
        msg(0x30, flags, seq, &p)
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    #[test]
    fn walks_every_message_with_padding() {
        let mut d = genl(F_REQUEST, 1, 3);
        let first = d.len();
        d.extend(error(2, 0));
        let steps: Vec<Step> = walk(&d).collect();
        assert_eq!(steps.len(), 2);
        let a = steps[0].unwrap();
        let b = steps[1].unwrap();
        assert_eq!((a.start, a.end, a.hdr.seq), (0, first, 1));
        assert_eq!(
            a.hdr.len as usize,
            HDRLEN + 4 + 3,
            "len excludes the padding"
        );
        assert_eq!((b.start, b.end, b.hdr.ty), (first, d.len(), NLMSG_ERROR));
        assert_eq!(error_code(&d, &b), Some(0));
    }

    #[test]
    fn a_malformed_tail_ends_the_walk() {
        let mut d = genl(F_REQUEST, 1, 4);
        let good = d.len();
        d.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            walk(&d).collect::<Vec<_>>(),
            [Ok(walk(&d).next().unwrap().unwrap()), Err(good)]
        );
        // A length past the end, and one below the header size.
        let mut long = genl(0, 1, 4);
        long[0..4].copy_from_slice(&100u32.to_ne_bytes());
        assert_eq!(walk(&long).collect::<Vec<_>>(), [Err(0)]);
        let mut short = genl(0, 1, 4);
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(walk(&short).collect::<Vec<_>>(), [Err(0)]);
        assert_eq!(walk(&[]).count(), 0);
    }

    #[test]
    fn the_last_message_may_lack_its_padding() {
        let mut d = genl(0, 1, 3);
        d.truncate(HDRLEN + 7);
        let m = walk(&d).next().unwrap().unwrap();
        assert_eq!(m.end, d.len());
    }

    #[test]
    fn sets_a_flag_in_place() {
        let mut d = genl(F_REQUEST, 9, 0);
        set_flag(&mut d, 0, F_ACK);
        assert_eq!(Header::parse(&d).unwrap().flags, F_REQUEST | F_ACK);
    }

    #[test]
    fn dpswitch_shows_as_the_kernel() {
        let mut a = SockaddrNl { pid: 77, groups: 0 }.to_bytes();
        mask_source(&mut a, 77);
        assert_eq!(
            SockaddrNl::parse(&a),
            Some(SockaddrNl { pid: 0, groups: 0 })
        );
        let mut other = SockaddrNl { pid: 78, groups: 0 }.to_bytes();
        mask_source(&mut other, 77);
        assert_eq!(SockaddrNl::parse(&other).unwrap().pid, 78);
        // A notification: the kernel's come from port id 0 too.
        let mut group = SockaddrNl { pid: 77, groups: 4 }.to_bytes();
        mask_source(&mut group, 77);
        assert_eq!(
            SockaddrNl::parse(&group),
            Some(SockaddrNl { pid: 0, groups: 4 })
        );
        let mut cut = SockaddrNl { pid: 77, groups: 0 }.to_bytes()[..8].to_vec();
        mask_source(&mut cut, 77);
        assert_eq!(&cut[4..8], &[0; 4]);
    }

    #[test]
    fn netlink_addresses() {
        let a = SockaddrNl { pid: 7, groups: 0 };
        assert_eq!(SockaddrNl::parse(&a.to_bytes()), Some(a));
        assert!(!a.is_kernel());
        assert!(SockaddrNl { pid: 0, groups: 0 }.is_kernel());
        assert!(!SockaddrNl { pid: 0, groups: 1 }.is_kernel());
        let mut inet = a.to_bytes();
        inet[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(SockaddrNl::parse(&inet), None);
        assert_eq!(SockaddrNl::parse(&a.to_bytes()[..8]), None);
    }
}
