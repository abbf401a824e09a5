//! Valid requests of the four OVS families and nlctrl, aimed at the scratch datapath.

use odp::action::Action;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::flow::{FlowAttrs, FlowCmd};
use odp::family::packet::{PacketAttrs, PacketCmd};
use odp::family::vport::{VportAttrs, VportCmd};
use odp::key::{EthernetKey, FlowKey, Ipv4Key, PortsKey};
use odp::nl::flags;

use crate::worker::Worker;

impl Worker {
    fn ufid(&self, i: u32) -> Vec<u8> {
        let mut u = vec![0x5a; 16];
        u[..4].copy_from_slice(&self.id.to_ne_bytes());
        u[4..8].copy_from_slice(&i.to_ne_bytes());
        u
    }

    fn key(&mut self, i: u32) -> FlowKey {
        FlowKey {
            in_port: Some(self.ctx.null_port),
            ethernet: Some(EthernetKey {
                src: [2, 0, self.id as u8, 0, (i >> 8) as u8, i as u8],
                dst: [2, 0xff, 0, 0, 0, 2],
            }),
            eth_type: Some(0x0800),
            ipv4: Some(Ipv4Key {
                src: std::net::Ipv4Addr::from(0x0a00_0000 | i),
                dst: std::net::Ipv4Addr::new(10, 255, 0, 1),
                proto: 17,
                tos: 0,
                ttl: 64,
                frag: 0,
            }),
            udp: Some(PortsKey {
                src: self.rng.below(65535) as u16,
                dst: 53,
            }),
            ..FlowKey::default()
        }
    }

    fn frame(&mut self) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, self.id as u8, 0, 0, 9, 0x08, 0x06]);
        f.resize(60, 0);
        f
    }

    /// A valid request of one of the four families (or nlctrl), with `flags` on top of
    /// REQUEST: (bytes, may it be mutated as a whole).
    pub(crate) fn valid(&mut self, extra: u16) -> Vec<u8> {
        let ifx = self.ctx.ifindex;
        let ids = self.ctx.ids;
        let fl = flags::REQUEST | extra;
        let i = self.rng.below(u64::from(self.ufids)) as u32;
        let bytes = match self.rng.below(16) {
            0 => {
                let mut m = odp::family::OvsMessage::new(
                    DpCmd::Get,
                    0,
                    DatapathAttrs {
                        name: Some(self.ctx.dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                m.family = ids.datapath;
                m.flags = fl;
                m.to_bytes()
            }
            1 => {
                let mut m = odp::family::OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
                m.family = ids.datapath;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            2 => {
                // SET of the scratch datapath with nothing to change.
                let mut m = odp::family::OvsMessage::new(
                    DpCmd::Set,
                    0,
                    DatapathAttrs {
                        name: Some(self.ctx.dp.clone()),
                        ..DatapathAttrs::default()
                    },
                );
                m.family = ids.datapath;
                m.flags = fl;
                m.to_bytes()
            }
            3 => {
                let mut m = odp::family::OvsMessage::new(
                    VportCmd::Get,
                    ifx,
                    VportAttrs {
                        port_no: Some(self.rng.below(4) as u32),
                        ..VportAttrs::default()
                    },
                );
                m.family = ids.vport;
                m.flags = fl;
                m.to_bytes()
            }
            4 => {
                let mut m = odp::family::OvsMessage::new(VportCmd::Get, ifx, VportAttrs::default());
                m.family = ids.vport;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            5..=7 => {
                let key = self.key(i);
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::New,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        key: Some(key),
                        actions: Some(vec![Action::Output(self.ctx.null_port)]),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl
                    | if self.rng.chance(50) {
                        flags::CREATE
                    } else {
                        0
                    };
                m.to_bytes()
            }
            8 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Set,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        actions: Some(vec![]),
                        clear: self.rng.chance(50),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            9 | 10 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Get,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            11 => {
                let mut m = odp::family::OvsMessage::new(
                    FlowCmd::Del,
                    ifx,
                    FlowAttrs {
                        ufid: Some(self.ufid(i)),
                        ..FlowAttrs::default()
                    },
                );
                m.family = ids.flow;
                m.flags = fl;
                m.to_bytes()
            }
            12 => {
                // A dump of the scratch datapath's flows (a few thousand at most).
                let mut m = odp::family::OvsMessage::new(FlowCmd::Get, ifx, FlowAttrs::default());
                m.family = ids.flow;
                m.flags = fl | flags::DUMP;
                m.to_bytes()
            }
            13 | 14 => {
                let frame = self.frame();
                let out = if self.rng.chance(50) {
                    Action::Output(self.ctx.null_port)
                } else {
                    Action::Trunc(60)
                };
                let mut m = odp::family::OvsMessage::new(
                    PacketCmd::Execute,
                    ifx,
                    PacketAttrs {
                        packet: Some(frame),
                        key: Some(FlowKey {
                            in_port: Some(self.ctx.null_port),
                            ..FlowKey::default()
                        }),
                        actions: Some(vec![out]),
                        ..PacketAttrs::default()
                    },
                );
                m.family = ids.packet;
                m.flags = fl;
                m.to_bytes()
            }
            _ => {
                let mut m = odp::ctrl::CtrlMessage::get_family(
                    [
                        "ovs_datapath",
                        "ovs_vport",
                        "ovs_flow",
                        "ovs_packet",
                        "nope",
                    ][self.rng.below(5) as usize],
                    0,
                );
                m.flags = fl;
                let mut b = Vec::new();
                m.emit(&mut b).map(|()| b)
            }
        };
        bytes.expect("encode a valid request")
    }
}
