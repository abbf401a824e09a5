//! Raw bindings to the system DPDK, generated at build time by bindgen from the installed
//! headers (`pkg-config libdpdk`, >= 22.11), plus `shim_*` symbols for DPDK's `static inline`
//! functions (compiled from `csrc/shim.c`).
//!
//! Everything here is `unsafe` to call; the safe layer lives in the `dpswitch` crate
//! (`switch/src/dpdk/`).

#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    rust_2018_idioms,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}
pub use bindings::*;

/// The DPDK version the bindings were generated from, as pkg-config reported it.
pub const DPDK_PKG_VERSION: &str = env!("DPDK_PKG_VERSION");
