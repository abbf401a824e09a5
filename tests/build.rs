//! Builds the LD_PRELOAD shim (`shim/nlredirect.c`) that points a stock netlink client
//! (ovs-dpctl) at a dpswitch, with the system C compiler, and hands its path to the tests as
//! `NLREDIRECT_SO`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "shim/nlredirect.c";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("libnlredirect.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(status.success(), "{cc} failed to build {src}");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rustc-env=NLREDIRECT_SO={}", out.display());
}
