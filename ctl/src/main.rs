//! `dpctl`: an `ovs-dpctl` compatible client for dpswitch.

fn main() {}
