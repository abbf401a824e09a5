//! Workload namespaces attached to a chassis' bridge by veth pairs.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Ovs;
use crate::exec::sh;
use crate::names::unique;
use crate::netns::Netns;
use crate::packet::PacketSocket;
use crate::wire::mac_str;

/// A workload namespace ("VM") on a veth pair: `eth0` inside it (MAC `02:54:00:00:00:II`,
/// `10.214.0.I/24`, `fd00:214::I/64`), the other end [`Host::port`] in the chassis namespace,
/// added to the bridge as a `system` port with its default offloads left on. Deleting the
/// namespace (on drop) deletes the pair.
#[derive(Debug)]
pub struct Host {
    /// The workload namespace.
    pub ns: Netns,
    /// The switch-side veth end, in the chassis namespace: the OVS port and interface name.
    pub port: String,
    /// Its OpenFlow port number.
    pub ofport: u16,
    /// `eth0`'s MAC address.
    pub mac: [u8; 6],
    /// `eth0`'s IPv4 address.
    pub ip4: Ipv4Addr,
    /// `eth0`'s IPv6 address.
    pub ip6: Ipv6Addr,
}

impl Host {
    /// The interface name inside the workload namespace.
    pub const IFNAME: &'static str = "eth0";

    /// The MAC address of host `index`.
    pub fn mac_of(index: u8) -> [u8; 6] {
        [0x02, 0x54, 0, 0, 0, index]
    }

    /// The IPv4 address of host `index` (and, with `.254`, the chassis' local port).
    pub fn ip4_of(index: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 214, 0, index)
    }

    /// The IPv6 address of host `index`.
    pub fn ip6_of(index: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x214, 0, 0, 0, 0, 0, u16::from(index))
    }

    #[track_caller]
    pub(super) fn attach(ovs: &Ovs, bridge: &str, index: u8, mtu: u32) -> Host {
        let ns = Netns::new();
        let port = unique("vh");
        let (mac, ip4, ip6) = (
            Host::mac_of(index),
            Host::ip4_of(index),
            Host::ip6_of(index),
        );
        let mtu = mtu.to_string();
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "link",
            "add",
            Host::IFNAME,
            "netns",
            &ns.name,
            "address",
            &mac_str(mac),
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &ovs.ns.name,
            "mtu",
            &mtu,
        ]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{ip4}/24"),
            "dev",
            Host::IFNAME,
        ]);
        // nodad: usable at once; a test needs no duplicate detection.
        ns.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{ip6}/64"),
            "dev",
            Host::IFNAME,
            "nodad",
        ]);
        ns.exec(&["ip", "link", "set", Host::IFNAME, "up"]);
        // A port enslaved to a bridge has no IP stack of its own in the chassis (as with a
        // kernel bridge port); without this, its IPv6 link-local chatter would go out to the
        // host, muddling the host's counters and the MAC table.
        ovs.ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{port}.disable_ipv6=1"),
        ]);
        ovs.ns.exec(&["ip", "link", "set", &port, "up"]);
        ovs.vsctl(&["add-port", bridge, &port]);
        let ofport = ovs.ofport(&port);
        Host {
            ns,
            port,
            ofport,
            mac,
            ip4,
            ip6,
        }
    }

    /// A packet socket on `eth0`: frames written enter the switch through this host's port;
    /// frames the switch sends to the port can be read.
    pub fn socket(&self) -> PacketSocket {
        PacketSocket::open(&self.ns, Host::IFNAME)
    }

    /// `eth0`'s MAC as `aa:bb:..`.
    pub fn mac_str(&self) -> String {
        mac_str(self.mac)
    }
}
