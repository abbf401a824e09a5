//! `libdpswitch_preload.so`: an `LD_PRELOAD` library that makes a stock Open vSwitch process
//! (`ovs-vswitchd`, `ovs-dpctl`) talk to dpswitch where it would talk to the kernel's
//! `openvswitch` module. `docs/preload.md` says how to install and use it.
//!
//! - Generic netlink and ctnetlink (`NETLINK_GENERIC` and `NETLINK_NETFILTER` sockets):
//!   sends aimed at the kernel (port id 0) go to dpswitch's port id instead, and receives
//!   keep the kernel's timing: every answer to a request is there when the caller looks,
//!   dumps are never cut short ([`ledger`], [`redirect`]).
//! - Route netlink (`NETLINK_ROUTE`): left alone, except that requests creating kernel
//!   tunnel devices fail, so vswitchd creates typed tunnel vports in dpswitch ([`spoil`]).
//! - Everything else goes straight to libc.
//!
//! Layout: the logic is safe Rust over byte buffers ([`nl`], [`ledger`], [`deliver`],
//! [`spoil`], [`config`]) and over the socket table ([`table`], [`redirect`]); `unsafe` is
//! confined to the system calls ([`sys`]) and the exported libc functions (`interpose`),
//! which only turn raw pointers into slices and back.
#![deny(unsafe_code)]

pub mod config;
pub mod deliver;
pub mod ledger;
pub mod nl;
pub mod redirect;
pub mod spoil;
#[allow(unsafe_code)]
pub mod sys;
pub mod table;

#[cfg(not(test))]
#[allow(unsafe_code)]
mod interpose;

use std::io::Write;
use std::sync::OnceLock;

use config::Config;

/// The settings, read from the environment on first use; warnings about them printed once.
pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let c = Config::from_lookup(|k| std::env::var(k).ok());
        for w in &c.warnings {
            warn(w);
        }
        c
    })
}

/// One line on stderr. Write errors are ignored: the process's stderr is its own business.
pub fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "dpswitch-preload: {msg}");
}
