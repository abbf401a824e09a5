//! Builds the C LD_PRELOAD shim `shim/nlredirect.c` with the system C compiler and hands its
//! path to the tests as `NLREDIRECT_SO` (`dpswitch_e2e::ovs::c_shim_library`). The tests run
//! stock OVS programs under the `preload/` crate's library; the shim, its predecessor, is
//! kept to compare against (`DPSWITCH_E2E_PRELOAD=<path>`).

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
