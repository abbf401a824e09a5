//! Arbitrary text through every pure parser of the command line: none may panic.

use super::*;
use crate::filter::Filter;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn text(&mut self) -> String {
        const ALPHABET: &[&str] = &[
            ",", "=", "\"", "-", "--", "#", " ", "\t", "(", ")", "/", ":", "0", "9", "x", "a",
            "devargs=", "type=", "port_no=", "add ", "delete ", "modify ", "in_port", "tcp", "é",
            "∑", "\u{0}", "0x", "-t", "ufid:", "filter=", "=,",
        ];
        let n = (self.next() % 12) as usize;
        (0..n)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn random_arguments_never_panic() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let names = PortNames::new();
    for _ in 0..20_000 {
        let args: Vec<String> = (0..(r.next() % 5)).map(|_| r.text()).collect();
        let _ = crate::opts::parse(&args, Some(&r.text()));
        let t = r.text();
        let _ = split_iface(&t);
        let _ = atoi(&t);
        let _ = parse_flow_line(LineCmd::Add, &t);
        let _ = Filter::parse(&t, &names);
        let _ = vport_type(&t);
        let _ = dpif::parse_dp_name(&t);
        if let Some(c) = find(&t) {
            let _ = check_args(c, &args);
        }
    }
}
