//! Inputs found by the fuzz targets in `odp/fuzz`, kept as regressions.

use odp::family::{parse_request, FamilyIds, Request};
use odp::nl;
use odp::text::{self, FormatOptions};

#[test]
fn netlink_packet_probe_on_upcall_reencodes() {
    // Found by the netlink target: an ovs_packet ACTION message carrying
    // PROBE must re-emit PROBE, whatever the command.
    #[rustfmt::skip]
    let data: [u8; 88] = [
        0x54, 0x00, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x10, 0x00, 0x00, 0x14, 0x00, 0x00, 0x40, 0x00, 0x00,
        0x02, 0x03, 0x21, 0x00, 0x40, 0x0a, 0x00, 0x86, 0x16, 0x00, 0x08, 0x00, 0xe4, 0xe4, 0xe4, 0xe4,
        0xe4, 0x00, 0x00, 0xe4, 0x00, 0xe4, 0xe4, 0x11, 0x00, 0x00, 0x00, 0xe4, 0x7f, 0x00, 0x00, 0x00,
        0x21, 0x00, 0x12, 0x41, 0x14, 0x00, 0x08, 0x00, 0x00, 0x00, 0xcf, 0x00, 0x00, 0xfd, 0xff, 0xff,
        0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0x91, 0x00, 0x00,
    ];
    let ids = FamilyIds {
        datapath: 0x1a,
        vport: 0x1b,
        flow: 0x1c,
        packet: 0x1d,
    };
    let (h, p) = nl::messages(&data).next().unwrap().unwrap();
    let Request::Packet(m) = parse_request(&ids, h, p).unwrap() else {
        panic!("not a packet message")
    };
    assert!(m.body.probe);
    let b = m.to_bytes().unwrap();
    assert_eq!(odp::family::OvsMessage::parse_datagram(&b).unwrap(), m);
}

#[test]
fn text_fully_wildcarded_key_prints_empty() {
    // Found by the text target: "tcp()" is an all-wildcard attribute; OVS prints
    // nothing for it, and "" parses back as the empty key ("<empty>").
    let (k, m) = text::parse_key("tcp()", None).unwrap();
    assert_eq!(
        text::format_key(&k, Some(&m), &FormatOptions::default()),
        ""
    );
    let (k2, m2) = text::parse_key("", None).unwrap();
    assert_eq!(
        text::format_key(&k2, Some(&m2), &FormatOptions::default()),
        "<empty>"
    );
}
