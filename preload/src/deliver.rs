//! Handing a datagram the library holds to a caller's `recvmsg()` exactly as the kernel
//! would: scattered over every iovec, `MSG_TRUNC` when it does not fit (and its length
//! returned when the caller asked with `MSG_TRUNC`), the source address, ancillary data
//! cut only at whole messages with `MSG_CTRUNC`.

use crate::nl::SOCKADDR_NL_LEN;

/// One datagram as received from dpswitch, or one part of it cut by the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Datagram {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its source address, already showing the kernel's port id where dpswitch's was.
    pub name: [u8; SOCKADDR_NL_LEN],
    /// The ancillary data that came with it.
    pub control: Vec<u8>,
}

/// A caller's receive buffers and what the receive reports back, the safe form of its
/// `struct msghdr`.
#[derive(Debug, Default)]
pub struct Caller<'a> {
    /// The iovecs, in order.
    pub iovs: Vec<&'a mut [u8]>,
    /// `msg_name` with room for `msg_namelen` bytes, if given.
    pub name: Option<&'a mut [u8]>,
    /// `msg_control` with room for `msg_controllen` bytes, if given.
    pub control: Option<&'a mut [u8]>,
    /// Out: `msg_namelen`.
    pub namelen: usize,
    /// Out: `msg_controllen`.
    pub controllen: usize,
    /// Out: `msg_flags`.
    pub flags: i32,
}

impl Caller<'_> {
    /// How many bytes the iovecs hold.
    pub fn capacity(&self) -> usize {
        self.iovs.iter().map(|v| v.len()).sum()
    }
}

/// Copies `d` into `to` as the kernel's `recvmsg()` would and returns what it returns:
/// the bytes copied, or the datagram's length with `MSG_TRUNC` in `flags`.
pub fn deliver(d: &Datagram, to: &mut Caller<'_>, flags: i32) -> usize {
    let mut left = d.bytes.as_slice();
    for iov in &mut to.iovs {
        let n = iov.len().min(left.len());
        iov[..n].copy_from_slice(&left[..n]);
        left = &left[n..];
    }
    let copied = d.bytes.len() - left.len();
    to.flags = 0;
    if !left.is_empty() {
        to.flags |= libc::MSG_TRUNC;
    }
    if let Some(name) = to.name.as_deref_mut() {
        let n = name.len().min(SOCKADDR_NL_LEN);
        name[..n].copy_from_slice(&d.name[..n]);
    }
    // The kernel reports the address's real length whatever room there was.
    to.namelen = if to.name.is_some() {
        SOCKADDR_NL_LEN
    } else {
        0
    };
    let (n, cut) = match to.control.as_deref_mut() {
        Some(room) => copy_cmsgs(&d.control, room),
        None => (0, !d.control.is_empty()),
    };
    to.controllen = n;
    if cut {
        to.flags |= libc::MSG_CTRUNC;
    }
    if flags & libc::MSG_TRUNC != 0 {
        d.bytes.len()
    } else {
        copied
    }
}

/// `CMSG_ALIGN`.
fn cmsg_align(n: usize) -> usize {
    let a = std::mem::size_of::<usize>();
    n.saturating_add(a - 1) & !(a - 1)
}

/// Copies the whole control messages of `control` that fit into `room`: how many bytes,
/// and whether any was left out.
fn copy_cmsgs(control: &[u8], room: &mut [u8]) -> (usize, bool) {
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    let mut off = 0;
    while off + hdr <= control.len() {
        let len_field = std::mem::size_of::<usize>();
        let Some(len) = control[off..off + len_field]
            .try_into()
            .ok()
            .map(usize::from_ne_bytes)
        else {
            break;
        };
        if len < hdr || off + len > control.len() {
            break;
        }
        if off + len > room.len() {
            return (off, true);
        }
        room[off..off + len].copy_from_slice(&control[off..off + len]);
        off = (off + cmsg_align(len)).min(control.len());
    }
    (off.min(room.len()), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::whole;
    use crate::ledger::Ledger;
    use crate::nl::build::{done, genl};
    use crate::nl::{SockaddrNl, F_ACK, F_DUMP, F_MULTI, F_REQUEST};

    fn datagram(bytes: Vec<u8>) -> Datagram {
        Datagram {
            bytes,
            name: SockaddrNl { pid: 0, groups: 0 }.to_bytes(),
            control: Vec::new(),
        }
    }

    /// A flow dump's last datagram of `n` bytes or more, DONE last, as dpswitch sends it.
    fn dump_datagram(seq: u32, n: usize) -> Vec<u8> {
        let mut d = Vec::new();
        while d.len() < n {
            d.extend(genl(F_MULTI, seq, 300));
        }
        d.extend(done(seq));
        d
    }

    #[test]
    fn a_dump_straddling_ovs_buffers_is_whole_and_settled() {
        // OVS receives into its 4 KiB buffer plus a 64 KiB tail (`nl_sock_recv__`); a dump
        // datagram over 4 KiB straddles them, DONE in the tail.
        let mut l = Ledger::default();
        let mut req = genl(F_REQUEST | F_DUMP | F_ACK, 3, 0);
        let _ = l.send(&mut req);
        let bytes = dump_datagram(3, 10_000);
        let parts = l.receive(&bytes);
        assert_eq!(parts, whole(bytes.len()));
        assert!(l.is_empty(), "the DONE in the tail settled the dump");
        let (mut first, mut tail) = (vec![0u8; 4096], vec![0u8; 65536]);
        let mut to = Caller {
            iovs: vec![&mut first, &mut tail],
            ..Caller::default()
        };
        let n = deliver(&datagram(bytes.clone()), &mut to, libc::MSG_DONTWAIT);
        assert_eq!((n, to.flags), (bytes.len(), 0));
        let mut got = first.clone();
        got.extend_from_slice(&tail[..n - 4096]);
        assert_eq!(got, bytes);
    }

    #[test]
    fn too_little_room_truncates_as_the_kernel_does() {
        let d = datagram(genl(0, 1, 100));
        let mut small = [0u8; 40];
        let mut to = Caller {
            iovs: vec![&mut small],
            ..Caller::default()
        };
        assert_eq!(deliver(&d, &mut to, 0), 40);
        assert_eq!(to.flags, libc::MSG_TRUNC);
        assert_eq!(&small[..], &d.bytes[..40]);
        // With MSG_TRUNC asked, the real length.
        let mut to = Caller {
            iovs: vec![&mut small],
            ..Caller::default()
        };
        assert_eq!(deliver(&d, &mut to, libc::MSG_TRUNC), d.bytes.len());
        // No buffer at all: a length probe.
        let mut to = Caller::default();
        assert_eq!(
            deliver(&d, &mut to, libc::MSG_PEEK | libc::MSG_TRUNC),
            d.bytes.len()
        );
        assert_eq!(to.flags, libc::MSG_TRUNC);
    }

    #[test]
    fn the_source_address_and_its_length() {
        let mut d = datagram(genl(0, 1, 4));
        d.name = SockaddrNl { pid: 0, groups: 5 }.to_bytes();
        let mut buf = [0u8; 64];
        let mut name = [0xffu8; 16];
        let mut to = Caller {
            iovs: vec![&mut buf],
            name: Some(&mut name),
            ..Caller::default()
        };
        deliver(&d, &mut to, 0);
        assert_eq!(to.namelen, SOCKADDR_NL_LEN);
        assert_eq!(&name[..12], &d.name);
        assert_eq!(&name[12..], &[0xff; 4], "nothing written past the address");
        let mut short = [0u8; 4];
        let mut to = Caller {
            name: Some(&mut short),
            ..Caller::default()
        };
        deliver(&d, &mut to, 0);
        assert_eq!((to.namelen, &short[..]), (SOCKADDR_NL_LEN, &d.name[..4]));
    }

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let hdr = std::mem::size_of::<libc::cmsghdr>();
        let len = hdr + data.len();
        let mut v = len.to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(cmsg_align(len), 0);
        v
    }

    #[test]
    fn control_messages_are_cut_whole() {
        let a = cmsg(libc::SOL_NETLINK, 3, &7u32.to_ne_bytes());
        let b = cmsg(libc::SOL_NETLINK, 11, &9u32.to_ne_bytes());
        let mut d = datagram(genl(0, 1, 4));
        d.control = [a.clone(), b.clone()].concat();
        let mut room = vec![0u8; 64];
        let mut to = Caller {
            control: Some(&mut room),
            ..Caller::default()
        };
        deliver(&d, &mut to, 0);
        assert_eq!(
            (to.controllen, to.flags & libc::MSG_CTRUNC),
            (d.control.len(), 0)
        );
        assert_eq!(&room[..d.control.len()], &d.control[..]);
        let mut room = vec![0u8; a.len() + 4];
        let mut to = Caller {
            control: Some(&mut room),
            ..Caller::default()
        };
        deliver(&d, &mut to, 0);
        let ctrunc = |f: i32| f & libc::MSG_CTRUNC;
        assert_eq!(
            (to.controllen, ctrunc(to.flags)),
            (a.len(), libc::MSG_CTRUNC)
        );
        let mut to = Caller::default();
        deliver(&d, &mut to, 0);
        assert_eq!((to.controllen, ctrunc(to.flags)), (0, libc::MSG_CTRUNC));
    }
}
