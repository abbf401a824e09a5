//! The `dpswitch` daemon.

fn main() {}
