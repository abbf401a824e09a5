//! Where the stock Open vSwitch binaries are, which preload library redirects vswitchd to
//! dpswitch, and which start-up options the dpswitch under test has.

use std::path::PathBuf;

/// Where `dpdk-sys/install-deps.sh --tests` unpacks Debian's openvswitch-common and
/// openvswitch-switch (never installed: their maintainer scripts start daemons and load the
/// kernel module). `DPSWITCH_OVS_CACHE` overrides it, as it does for the script.
pub fn ovs_root() -> PathBuf {
    PathBuf::from(
        std::env::var_os("DPSWITCH_OVS_CACHE")
            .unwrap_or_else(|| "/var/cache/dpswitch-tests/ovs".into()),
    )
}

/// The path of one OVS program under [`ovs_root`] (`ovsdb-server`, `ovs-vswitchd`,
/// `ovs-vsctl`, ...).
///
/// # Panics
/// If it is not there (the tests fail rather than skip).
pub fn ovs_bin(name: &str) -> PathBuf {
    let root = ovs_root();
    let dir = match name {
        "ovsdb-server" => "usr/sbin",
        "ovs-vswitchd" => "usr/lib/openvswitch-switch",
        _ => "usr/bin",
    };
    let path = root.join(dir).join(name);
    assert!(
        path.exists(),
        "{} is missing; run `dpdk-sys/install-deps.sh --tests` (tests/run.sh does)",
        path.display()
    );
    path
}

/// OVS's data directory: the default schema `vswitch.ovsschema` (`OVS_PKGDATADIR`).
pub fn ovs_pkgdatadir() -> PathBuf {
    ovs_root().join("usr/share/openvswitch")
}

/// The LD_PRELOAD library that points ovs-vswitchd's generic-netlink sockets at dpswitch
/// (`DPSWITCH_NETLINK_PID`): the one place that names it. The workspace's
/// `libdpswitch_preload.so` (the `preload/` crate), next to the binaries; cargo builds a
/// cdylib only for `cargo build` (tests/run.sh runs `cargo build --workspace`), never for
/// tests. `DPSWITCH_E2E_PRELOAD` overrides it (another build, to compare).
///
/// # Panics
/// If the library is not built.
pub fn preload_library() -> PathBuf {
    if let Some(p) = std::env::var_os("DPSWITCH_E2E_PRELOAD") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/
    let lib = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory")
        .join("libdpswitch_preload.so");
    assert!(
        lib.exists(),
        "{} is not built; run `cargo build --workspace` (tests/run.sh does)",
        lib.display()
    );
    lib
}
