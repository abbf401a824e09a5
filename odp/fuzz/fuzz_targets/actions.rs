//! Action lists: decode, re-emit byte-identically for kernel-shaped input is
//! not guaranteed (attribute order inside nests), but decode(emit(decode(x)))
//! must equal decode(x), and formatting must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = odp::action::parse_actions(data) {
        let b = odp::action::actions_to_bytes(&a);
        assert_eq!(odp::action::parse_actions(&b).expect("re-decode"), a);
        let _ = odp::text::format_actions(&a, None);
    }
});
