//! Multicast group ids for the OVS families' notifications.
//!
//! The kernel announces NEW/DEL/SET of datapaths, vports and flows to the families'
//! multicast groups (`genl_notify`). A userspace sender with CAP_NET_ADMIN can multicast on
//! `NETLINK_GENERIC` too (`netlink_sendmsg` with `nl_groups`), but only to groups 1–32 (the
//! address carries a 32-bit mask), and listeners can join only ids below the protocol's
//! group count (`netlink_setsockopt`: `val - 1 >= ngroups` is EINVAL; at least 64). A
//! group no kernel family owns joins without checks (`genl_bind` only looks at owned
//! groups). So dpswitch takes three ids in 2–32 that no kernel family holds, from the top
//! (the kernel hands out the lowest free ones first), and advertises them in GETFAMILY.

use std::io;
use std::time::Duration;

use nlio::{Client, Timeout};

/// The groups dpswitch multicasts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups {
    /// `ovs_datapath` group.
    pub datapath: u32,
    /// `ovs_vport` group.
    pub vport: u32,
    /// `ovs_flow` group.
    pub flow: u32,
}

/// The group ids the kernel's generic-netlink families hold in this network namespace.
///
/// # Errors
/// Socket errors, or a reply that does not parse.
pub fn kernel_groups() -> io::Result<Vec<u32>> {
    let mut kernel = Client::open(0)?;
    kernel.set_timeout(Timeout::Idle(Duration::from_secs(2)));
    let families = kernel.families()?;
    Ok(families
        .iter()
        .flat_map(|f| f.mcast_groups.iter().map(|g| g.id))
        .collect())
}

/// Three free ids in 2–32 (highest first) given the kernel's, if there are three.
pub fn pick(kernel: &[u32]) -> Option<Groups> {
    let free: Vec<u32> = (2..=32)
        .rev()
        .filter(|g| !kernel.contains(g))
        .take(3)
        .collect();
    match free[..] {
        [datapath, vport, flow] => Some(Groups {
            datapath,
            vport,
            flow,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_from_the_top_around_kernel_groups() {
        assert_eq!(
            pick(&[16, 17, 31]),
            Some(Groups {
                datapath: 32,
                vport: 30,
                flow: 29
            })
        );
        let all_but_two: Vec<u32> = (1..=30).collect();
        assert_eq!(pick(&all_but_two), None);
    }

    #[test]
    fn the_kernel_lists_nlctrl_notify() {
        // nlctrl's own "notify" group is always there.
        assert!(!kernel_groups().expect("nlctrl dump").is_empty());
    }
}
