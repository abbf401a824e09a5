//! ODP text: parsing arbitrary text never panics; accepted keys and actions
//! format to a string that parses back to the same value's text (fixpoint).
#![no_main]

use libfuzzer_sys::fuzz_target;
use odp::text::{self, FormatOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let o = FormatOptions::default();
    if let Ok((k, m)) = text::parse_key(s, None) {
        let f = text::format_key(&k, Some(&m), &o);
        // A fully wildcarded key prints as nothing (as in OVS), which parses
        // back as the empty key: no fixpoint to check there.
        if f.is_empty() {
            return;
        }
        if let Ok((k2, m2)) = text::parse_key(&f, None) {
            assert_eq!(text::format_key(&k2, Some(&m2), &o), f);
        }
        let _ = text::format_key(&k, None, &FormatOptions { verbose: true, names: None });
    }
    if let Ok(a) = text::parse_actions(s, None) {
        let f = text::format_actions(&a, None);
        if let Ok(a2) = text::parse_actions(&f, None) {
            assert_eq!(text::format_actions(&a2, None), f);
        }
    }
});
