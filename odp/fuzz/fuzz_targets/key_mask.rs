//! Key/mask validation: arbitrary KEY and MASK payloads never panic; an
//! accepted match re-emits in the kernel's form and validates again, and
//! actions validate against it without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odp::key::FlowKey;
use odp::validate::FlowMatch;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = (data[0] as usize * 4).min(data.len() - 1);
    let (a, b) = data[1..].split_at(split.min(data.len() - 1));
    let Ok(k) = FlowKey::parse(a) else { return };
    let m = FlowKey::parse(b).ok();
    if let Ok(fm) = FlowMatch::new(&k, m.as_ref()) {
        let mk = fm.masked_key();
        let mf = fm.mask_form();
        assert_eq!(FlowKey::parse(&mk.to_bytes()).expect("reparse key"), mk);
        assert_eq!(FlowKey::parse(&mf.to_bytes()).expect("reparse mask"), mf);
        if let Ok(acts) = odp::action::parse_actions(b) {
            let _ = odp::action::validate_actions(&acts, &fm.key);
        }
    }
});
