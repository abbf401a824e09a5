//! The flow sets `perf/bench.py` gives `dpctl add-flows` (written by `perf/gen_pcap.py`) parse
//! as ODP text and pass the kernel's key/mask validation, and M32 really has 32 masks. This
//! catches a harness whose dpswitch runs would fail at flow installation.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use odp::text::{parse_actions, parse_key};
use odp::validate::FlowMatch;

fn perf_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs gen_pcap.py with `args` and returns the written flow lines.
fn generate(name: &str, args: &[&str]) -> Vec<String> {
    let out = std::env::temp_dir().join(format!("dpswitch-perf-{}-{name}", std::process::id()));
    let st = Command::new("python3")
        .arg(perf_dir().join("gen_pcap.py"))
        .args(args)
        .args(["--rules", "odp", "--in-port", "1", "--out-port", "2", "-o"])
        .arg(&out)
        .status()
        .expect("python3 runs");
    assert!(st.success(), "gen_pcap.py {args:?} failed");
    let text = std::fs::read_to_string(&out).expect("flow file written");
    let _ = std::fs::remove_file(&out);
    text.lines().map(str::to_string).collect()
}

/// Parses and validates one "KEY ACTIONS" line; returns the mask's bytes.
fn check(line: &str) -> Vec<u8> {
    let (key, actions) = line.rsplit_once(' ').expect("KEY ACTIONS");
    let (k, m) = parse_key(key, None).unwrap_or_else(|e| panic!("{line}: {e}"));
    let fm = FlowMatch::new(&k, Some(&m)).unwrap_or_else(|e| panic!("{line}: {e}"));
    parse_actions(actions, None).unwrap_or_else(|e| panic!("{line}: actions: {e}"));
    fm.mask_form().to_bytes()
}

#[test]
fn one_megaflow_line_is_valid() {
    // bench.py's ONE_MEGAFLOW for S1-S3
    check("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no) 2");
}

#[test]
fn s4_has_10000_valid_flows_with_one_mask() {
    let lines = generate("s4", &["--kind", "dstmac", "--flows", "10000"]);
    assert_eq!(lines.len(), 10_000);
    let masks: HashSet<Vec<u8>> = lines.iter().map(|l| check(l)).collect();
    assert_eq!(masks.len(), 1);
}

#[test]
fn m32_has_10000_valid_flows_over_32_masks() {
    let lines = generate("m32", &["--kind", "m32", "--flows", "10000"]);
    assert_eq!(lines.len(), 10_000);
    let masks: HashSet<Vec<u8>> = lines.iter().map(|l| check(l)).collect();
    assert_eq!(masks.len(), 32);
    let keys: HashSet<&str> = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(keys.len(), 10_000, "every flow is distinct");
}
