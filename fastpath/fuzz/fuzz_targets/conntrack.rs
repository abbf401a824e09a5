#![no_main]
//! Arbitrary packet sequences through the connection tracker: no panic, and the table stays
//! consistent after every step (`fastpath::conntrack::replay`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fastpath::conntrack::replay::replay(data);
});
