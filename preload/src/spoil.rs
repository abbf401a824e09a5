//! Tunnel kind spoiling on NETLINK_ROUTE: vswitchd 3.1 first tries to create a kernel
//! tunnel device in collect-metadata mode with `RTM_NEWLINK` and only when that fails sends
//! a typed tunnel vport (`OVS_VPORT_TYPE_GENEVE`, `_VXLAN`, `_GRE`) to the datapath
//! (`lib/dpif-netlink.c`, `dpif_netlink_port_add`; `lib/dpif-netlink-rtnl.c`,
//! `dpif_netlink_rtnl_port_create` and `dpif_netlink_rtnl_probe_oot_tunnels`). A kernel
//! device is no use to dpswitch, so the library blanks the `IFLA_INFO_KIND` of such a request
//! in a copy of the datagram: the kernel then finds no such link type and answers
//! `EOPNOTSUPP` ("Unknown device type") itself, in its own time and order, and vswitchd
//! falls back to the typed vport without a warning.

use crate::nl::{self, F_CREATE, F_REQUEST};

/// `RTM_NEWLINK`.
const RTM_NEWLINK: u16 = 16;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
/// `IFLA_LINKINFO`.
const IFLA_LINKINFO: u16 = 18;
/// `IFLA_INFO_KIND`.
const IFLA_INFO_KIND: u16 = 1;
/// `NLA_TYPE_MASK`: the attribute type without `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER`.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// `NLA_HDRLEN`.
const NLA_HDRLEN: usize = 4;

/// The link kinds vswitchd 3.1 creates as kernel tunnel devices (every kind of
/// `dpif_netlink_rtnl_port_create`, and the out-of-tree probe's `ovs_geneve`).
pub const TUNNEL_KINDS: [&str; 9] = [
    "geneve",
    "vxlan",
    "gretap",
    "gre",
    "erspan",
    "ip6erspan",
    "ip6gretap",
    "bareudp",
    "ovs_geneve",
];

/// The attributes in `b` as (type without flags, payload offset in `b`, payload length).
fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
    let mut off = 0;
    std::iter::from_fn(move || {
        let h = b.get(off..off + NLA_HDRLEN)?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        let ty = u16::from_ne_bytes([h[2], h[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || off + len > b.len() {
            return None;
        }
        let at = (off + NLA_HDRLEN, len - NLA_HDRLEN);
        off += nl::align(len);
        Some((ty, at.0, at.1))
    })
}

/// Whether the string attribute payload `p` (NUL-terminated or not) is `kind`.
fn is_kind(p: &[u8], kind: &str) -> bool {
    let s = p.split(|&c| c == 0).next().unwrap_or(&[]);
    s == kind.as_bytes()
}

/// Offsets in `datagram` of the `IFLA_INFO_KIND` payloads of the requests creating a tunnel
/// device: `RTM_NEWLINK` with `NLM_F_CREATE` and a kind of [`TUNNEL_KINDS`].
pub fn tunnel_kinds(datagram: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    for m in nl::walk(datagram).map_while(Result::ok) {
        let want = F_REQUEST | F_CREATE;
        if m.hdr.ty != RTM_NEWLINK || m.hdr.flags & want != want {
            continue;
        }
        let base = m.start + nl::HDRLEN + IFINFOMSG_LEN;
        let Some(top) = datagram.get(base..m.start + m.hdr.len as usize) else {
            continue;
        };
        for (ty, off, len) in attrs(top) {
            if ty != IFLA_LINKINFO {
                continue;
            }
            let info = &top[off..off + len];
            for (ty, koff, klen) in attrs(info) {
                let kind = &info[koff..koff + klen];
                if ty == IFLA_INFO_KIND && klen > 0 && TUNNEL_KINDS.iter().any(|k| is_kind(kind, k))
                {
                    found.push(base + off + koff);
                }
            }
        }
    }
    found
}

/// Blanks the kinds [`tunnel_kinds`] found: an empty kind names no link type, so the kernel
/// refuses the request with `EOPNOTSUPP`. The attribute keeps its length, so nothing else in
/// the datagram moves.
pub fn spoil(datagram: &mut [u8], kinds: &[usize]) {
    for &at in kinds {
        if let Some(b) = datagram.get_mut(at) {
            *b = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::build::msg;
    use crate::nl::F_ACK;

    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let len = NLA_HDRLEN + payload.len();
        let mut v = u16::try_from(len).unwrap().to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(nl::align(len), 0);
        v
    }

    /// `RTM_NEWLINK` as vswitchd builds it (`dpif_netlink_rtnl_create`): name, MTU, then
    /// LINKINFO{KIND, DATA{...}}, the kind NUL-terminated.
    fn newlink(flags: u16, kind: &[u8], nested_flag: u16) -> Vec<u8> {
        let mut p = vec![0u8; IFINFOMSG_LEN];
        p.extend(attr(3, b"genev_sys_6081\0"));
        p.extend(attr(4, &65000u32.to_ne_bytes()));
        let mut info = attr(IFLA_INFO_KIND, kind);
        info.extend(attr(2 | 0x8000, &attr(1, &[1])));
        p.extend(attr(IFLA_LINKINFO | nested_flag, &info));
        msg(RTM_NEWLINK, flags, 1, &p)
    }

    const CREATE: u16 = F_REQUEST | F_ACK | F_CREATE | 0x200;

    #[test]
    fn every_tunnel_kind_is_spoiled() {
        for k in TUNNEL_KINDS {
            let mut with_nul = k.as_bytes().to_vec();
            with_nul.push(0);
            // OVS's strings end in NUL, iproute2's do not; LINKINFO may carry NLA_F_NESTED.
            for (kind, nested) in [(with_nul.as_slice(), 0), (k.as_bytes(), 0x8000)] {
                let mut d = newlink(CREATE, kind, nested);
                let before = d.clone();
                let at = tunnel_kinds(&d);
                assert_eq!(at.len(), 1, "{k}");
                assert_eq!(&d[at[0]..at[0] + k.len()], k.as_bytes());
                spoil(&mut d, &at);
                assert_eq!(d[at[0]], 0);
                let changed = d.iter().zip(&before).filter(|(a, b)| a != b).count();
                assert_eq!(changed, 1, "only the kind's first byte");
                assert!(tunnel_kinds(&d).is_empty());
            }
        }
    }

    #[test]
    fn other_links_and_other_requests_are_left_alone() {
        for kind in [
            &b"veth\0"[..],
            b"dummy",
            b"vxlan2\0",
            b"gre6\0",
            b"",
            b"bridge",
        ] {
            assert!(
                tunnel_kinds(&newlink(CREATE, kind, 0)).is_empty(),
                "{kind:?}"
            );
        }
        // Changing an existing link (no NLM_F_CREATE), and messages of other types.
        assert!(tunnel_kinds(&newlink(F_REQUEST | F_ACK, b"vxlan\0", 0)).is_empty());
        let mut getlink = newlink(CREATE, b"vxlan\0", 0);
        getlink[4] = 18;
        assert!(tunnel_kinds(&getlink).is_empty());
    }

    #[test]
    fn finds_the_kind_in_any_message_of_a_batch() {
        let mut d = msg(RTM_NEWLINK + 2, F_REQUEST, 1, &[0; 16]);
        let skip = d.len();
        d.extend(newlink(CREATE, b"geneve\0", 0));
        let at = tunnel_kinds(&d);
        assert_eq!(at.len(), 1);
        assert!(at[0] > skip);
        assert_eq!(&d[at[0]..at[0] + 6], b"geneve");
    }

    #[test]
    fn truncated_attributes_are_not_followed() {
        let mut d = newlink(CREATE, b"vxlan\0", 0);
        // LINKINFO claims more than the message holds.
        let li = nl::HDRLEN + IFINFOMSG_LEN + attr(3, b"genev_sys_6081\0").len() + 8;
        d[li..li + 2].copy_from_slice(&500u16.to_ne_bytes());
        assert!(tunnel_kinds(&d).is_empty());
        assert!(tunnel_kinds(&d[..20]).is_empty());
    }
}
