//! Names and netlink port ids unique to a test process and call, so tests running in
//! parallel never collide.

use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A netlink port id no other test (in this or a parallel test process) uses.
pub fn fresh_netlink_pid() -> u32 {
    0x4500_0000
        | (std::process::id() << 8 & 0x00ff_ff00)
        | (SEQ.fetch_add(1, Ordering::Relaxed) & 0xff)
}

/// A short name unique to this test process and call: `<prefix><pid%10000><n>`, at most 15
/// bytes so it can name a kernel netdev.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}{n}", std::process::id() % 10000);
    assert!(name.len() <= 15, "{name} is too long for a netdev name");
    name
}
