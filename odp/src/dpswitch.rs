//! What dpswitch adds to the kernel's API, kept apart from it: where its control plane
//! listens ([`DEFAULT_NETLINK_PID`]), the family ids it assigns ([`FAMILY_IDS`]), and its
//! one extension of a message: a DPDK-backed vport is made from devargs (and other
//! `key=value` settings), which the kernel's per-type OPTIONS have no attribute for.
//!
//! Inside `OVS_VPORT_ATTR_OPTIONS` every setting is one [`VPORT_OPT_KV`] attribute holding a
//! NUL-terminated `key=value` string; the reserved key [`DEVARGS`] names the DPDK device.
//! The type is far above every kernel tunnel option, so a kernel-speaking client never sends
//! it by accident and simply skips it in replies.

use crate::family::vport::VportOptions;
use crate::family::FamilyIds;

/// The netlink port id dpswitch's control plane binds by default ("DPSW" in ASCII): far
/// above any process id, which is what the kernel hands out to unbound netlink sockets.
/// Clients send to it instead of to the kernel (port id 0).
pub const DEFAULT_NETLINK_PID: u32 = 0x4450_5357;

/// The ids dpswitch assigns to the four OVS datapath families it serves (`ovs_ct_limit` has
/// its own, [`crate::ct_limit::FAMILY_ID`]). Clients resolve them with nlctrl `GETFAMILY`
/// sent to dpswitch's port id and must not hard-code them; any value above nlctrl's 0x10
/// would do, these stay clear of the ids Linux hands out first. `ovs_meter` is not served
/// and has no id: `GETFAMILY` answers ENOENT for it, as a kernel without it does.
pub const FAMILY_IDS: FamilyIds = FamilyIds {
    datapath: 0x30,
    vport: 0x31,
    flow: 0x32,
    packet: 0x33,
};

/// Attribute type of one `key=value` setting inside `OVS_VPORT_ATTR_OPTIONS`.
pub const VPORT_OPT_KV: u16 = 0x0100;

/// The key whose value is the DPDK devargs of a vport, e.g. `net_null0,no-rx=1`.
pub const DEVARGS: &str = "devargs";

/// The `key=value` settings in `opts`, in order (malformed entries are skipped).
pub fn settings(opts: &VportOptions) -> Vec<(String, String)> {
    opts.other
        .iter()
        .filter(|(ty, _)| *ty == VPORT_OPT_KV)
        .filter_map(|(_, payload)| {
            let s = payload.strip_suffix(&[0]).unwrap_or(payload);
            let s = std::str::from_utf8(s).ok()?;
            let (k, v) = s.split_once('=')?;
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Appends a `key=value` setting to `opts`.
pub fn push_setting(opts: &mut VportOptions, key: &str, value: &str) {
    let mut payload = format!("{key}={value}").into_bytes();
    payload.push(0);
    opts.other.push((VPORT_OPT_KV, payload));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_options() {
        let mut o = VportOptions::default();
        push_setting(
            &mut o,
            DEVARGS,
            "net_pcap0,rx_pcap=/tmp/a.pcap,infinite_rx=1",
        );
        push_setting(&mut o, "n_rxq", "2");
        o.other.push((VPORT_OPT_KV, b"no-equals\0".to_vec()));
        assert_eq!(
            settings(&o),
            [
                (
                    DEVARGS.to_string(),
                    "net_pcap0,rx_pcap=/tmp/a.pcap,infinite_rx=1".to_string()
                ),
                ("n_rxq".to_string(), "2".to_string())
            ]
        );
    }
}
