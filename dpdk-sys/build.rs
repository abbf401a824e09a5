//! Finds the system DPDK with pkg-config, generates bindings with bindgen and compiles the
//! C shim that turns DPDK's `static inline` hot functions into real symbols.
//!
//! Nothing generated is committed: the bindings always match the installed DPDK.

use std::env;
use std::path::PathBuf;
use std::process::{exit, Command};

const MIN_DPDK: &str = "22.11";
const INSTALL_HINT: &str =
    "install the Debian packages: apt-get install dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config \
     (or run dpdk-sys/install-deps.sh)";

/// One clear line, then stop: the build cannot go on without the system packages.
fn missing(what: &str) -> ! {
    eprintln!("error: dpdk-sys: {what}; {INSTALL_HINT}");
    exit(1);
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc");

    if Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_err()
    {
        missing("pkg-config is not installed");
    }
    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => missing(&format!(
            "DPDK >= {MIN_DPDK} (pkg-config libdpdk) not found ({})",
            e.to_string()
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("unknown error")
        )),
    };
    if let Err(e) = clang_sys::load() {
        missing(&format!("libclang not found for bindgen ({e})"));
    }

    // The full cflags carry `-include rte_config.h` and the -march DPDK was built for; both the
    // shim and bindgen must see the headers exactly as DPDK's own build did.
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| missing("pkg-config --cflags libdpdk failed"));
    let cflags: Vec<&str> = cflags.split_whitespace().collect();

    let mut shim = cc::Build::new();
    shim.file("csrc/shim.c")
        .include("csrc")
        .opt_level(3)
        .warnings(true);
    for flag in split_include_flags(&cflags) {
        shim.flag(&flag);
    }
    shim.compile("dpdk_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-Icsrc")
        .allowlist_function("rte_.*|shim_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|SHIM_.*")
        // rte_flow and protocol-header types arrive through rte_ethdev.h; the switch does not use
        // them and some (packed holding aligned) are not representable in Rust.
        .blocklist_type("rte_flow_.*|rte_l2tpv2_.*|rte_gtp_.*")
        .blocklist_function("rte_flow_.*")
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(false)
        // DPDK's doc comments are not Rust docs: they would become broken doctests.
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| missing(&format!("bindgen failed on the DPDK headers ({e})")));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs into OUT_DIR");

    println!("cargo:rustc-env=DPDK_PKG_VERSION={}", dpdk.version);
}

/// `-include rte_config.h` arrives as two words; cc wants each flag whole, in order.
fn split_include_flags(cflags: &[&str]) -> Vec<String> {
    let mut flags = Vec::new();
    let mut words = cflags.iter();
    while let Some(w) = words.next() {
        if *w == "-include" {
            if let Some(file) = words.next() {
                flags.push(format!("-include{file}"));
            }
        } else {
            flags.push((*w).to_string());
        }
    }
    flags
}
