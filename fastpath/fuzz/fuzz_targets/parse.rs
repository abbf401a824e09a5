//! Packet parser: any frame with any metadata extracts without panicking; the
//! fast path and the generic path agree; the key survives the trip through its
//! kernel (odp) form and back.
#![no_main]

use fastpath::flow::FlowKey;
use fastpath::wire;
use fastpath::packet::parse::extract_generic;
use fastpath::packet::{extract, CtMeta, Metadata};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    in_port: u16,
    recirc_id: u32,
    dp_hash: u32,
    skb_mark: u32,
    priority: u32,
    ct_state: u8,
    ct_zone: u16,
    ct_mark: u32,
    l3_ethertype: Option<u16>,
    frame: Vec<u8>,
}

fuzz_target!(|inp: Input| {
    let md = Metadata {
        in_port: inp.in_port,
        recirc_id: inp.recirc_id,
        dp_hash: inp.dp_hash,
        skb_mark: inp.skb_mark,
        priority: inp.priority,
        ct: CtMeta {
            state: inp.ct_state,
            zone: inp.ct_zone,
            mark: inp.ct_mark,
            ..CtMeta::default()
        },
        l3_ethertype: inp.l3_ethertype,
        ..Metadata::default()
    };
    let mut fast = FlowKey::ZERO;
    let mut generic = FlowKey::ZERO;
    let a = extract(&inp.frame, &md, &mut fast);
    let b = extract_generic(&inp.frame, &md, &mut generic);
    assert_eq!(a, b, "extract info differs between fast and generic paths");
    assert!(
        fast == generic,
        "keys differ between fast and generic paths"
    );
    assert!(usize::from(a.l3_ofs) <= inp.frame.len() && usize::from(a.l4_ofs) <= inp.frame.len());

    // The upcall form of the key must decode as the kernel's parser would.
    let okey = wire::key_to_odp(&fast);
    let bytes = okey.to_bytes();
    let back = odp::key::FlowKey::parse(&bytes).expect("upcall key re-parses");
    assert_eq!(
        back.to_bytes(),
        bytes,
        "upcall key not stable through parse"
    );
    // As an exact-match flow key, it must come back as the same fast-path key.
    if let Ok(fm) = odp::validate::FlowMatch::new(&back, None) {
        if let Ok((k2, mask)) = wire::match_to_fast(&fm) {
            assert!(
                k2 == fast.masked(&mask),
                "key changed through odp: {fast:?} -> {k2:?}"
            );
        }
    }
});
