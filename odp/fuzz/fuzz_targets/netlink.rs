//! Netlink decoding of every family: any datagram either fails cleanly or
//! decodes to a message that re-emits and re-decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odp::family::{parse_request, Body, FamilyIds, OvsMessage, Request};
use odp::nl;

fn again<T: Body + PartialEq + std::fmt::Debug>(m: &OvsMessage<T>)
where
    T::Cmd: PartialEq,
{
    let b = m.to_bytes().expect("emit of a decoded message");
    let back = OvsMessage::<T>::parse_datagram(&b).expect("re-decode");
    assert_eq!(&back, m);
}

fuzz_target!(|data: &[u8]| {
    let ids = FamilyIds { datapath: 0x1a, vport: 0x1b, flow: 0x1c, packet: 0x1d };
    for m in nl::messages(data) {
        let Ok((h, p)) = m else { break };
        let _ = nl::classify(&h, p);
        match parse_request(&ids, h, p) {
            Ok(Request::Datapath(m)) => again(&m),
            Ok(Request::Vport(m)) => again(&m),
            Ok(Request::Flow(m)) => again(&m),
            Ok(Request::Packet(m)) => again(&m),
            Ok(Request::Ctrl(c)) => {
                let mut b = Vec::new();
                c.emit(&mut b).expect("emit ctrl");
            }
            Ok(_) | Err(_) => {}
        }
    }
});
