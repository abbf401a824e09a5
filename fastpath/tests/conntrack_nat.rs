//! NAT through the executor, on the bytes: a DNAT'd UDP connection's packets both ways, and
//! an ICMP error from the backend about it, whose outer and quoted headers come back
//! translated with every checksum (outer IP, ICMP, quoted IP, quoted UDP) still right.

use fastpath::testing::*;

use fastpath::actions::csum::{fold, sum};
use fastpath::actions::{
    execute, CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction,
};
use fastpath::conntrack::table::{Policy, Table};
use fastpath::flow::FlowKey;
use fastpath::packet::{extract, Metadata, PacketBuf, VecBuf};
use odp::action::{Action, Ct, Nat};

const C: u32 = 0x0a00_0001;
const VIP: u32 = 0x0a00_0064;
const B: u32 = 0x0a00_0002;

struct Ctx {
    table: Table,
    out: Vec<Vec<u8>>,
    drops: Vec<DropReason>,
}

impl ExecContext<VecBuf> for Ctx {
    fn output(&mut self, _port: u32, pkt: VecBuf, _st: &PacketState<'_>) {
        self.out.push(pkt.data().to_vec());
    }
    fn clone_packet(&mut self, pkt: &VecBuf) -> Option<VecBuf> {
        Some(pkt.clone())
    }
    fn upcall(&mut self, _: &VecBuf, _: usize, _: &PacketState<'_>, _: &UserspaceAction) {}
    fn recirculate(&mut self, _: VecBuf, _: &PacketState<'_>) {}
    fn drop_packet(&mut self, _pkt: VecBuf, reason: DropReason) {
        self.drops.push(reason);
    }
    fn random_u32(&mut self) -> u32 {
        0
    }
    fn conntrack(&self) -> Option<&Table> {
        Some(&self.table)
    }
}

fn udp(src: u32, dst: u32, sport: u16, dport: u16) -> Vec<u8> {
    let mut l4 = udp_hdr(sport, dport, 4);
    l4.extend_from_slice(&[1, 2, 3, 4]);
    fill_l4_csum_v4(src, dst, 17, &mut l4);
    let mut f = eth([2; 6], [4; 6], 0x0800);
    f.extend(ipv4_hdr(src, dst, 17, l4.len(), 0, &[]));
    f.extend(l4);
    f
}

fn run(ctx: &mut Ctx, frame: &[u8], actions: &[Action]) -> Vec<u8> {
    let md = Metadata::for_port(1);
    let mut key = FlowKey::ZERO;
    let info = extract(frame, &md, &mut key);
    let mut st = PacketState::new(&md, &key, &info);
    let acts = CompiledActions::compile(actions).unwrap();
    execute(&acts, VecBuf::new(frame), &mut st, ctx);
    ctx.out
        .pop()
        .unwrap_or_else(|| panic!("no output: {:?}", ctx.drops))
}

fn ip(f: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(f[o..o + 4].try_into().unwrap())
}

fn port(f: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([f[o], f[o + 1]])
}

#[test]
fn an_icmp_error_from_a_dnat_backend_reaches_the_client_about_the_vip() {
    let mut ctx = Ctx {
        table: Table::new(64, 3, Policy::default()),
        out: Vec::new(),
        drops: Vec::new(),
    };
    let nat = |n: Nat, commit: bool| {
        Action::Ct(Ct {
            commit,
            zone: Some(2),
            nat: Some(n),
            ..Ct::default()
        })
    };
    let to_backend = Nat {
        dst: true,
        ip_min: Some(std::net::Ipv4Addr::from(B).into()),
        proto_min: Some(8080),
        ..Nat::default()
    };
    // The client's datagram to the VIP leaves for the backend, checksums right.
    let out = run(
        &mut ctx,
        &udp(C, VIP, 5000, 80),
        &[nat(to_backend, true), Action::Output(2)],
    );
    assert_eq!((ip(&out, 30), port(&out, 36)), (B, 8080));
    assert!(verify_v4(&out, 14));
    // The backend's port unreachable, quoting what it received (C:5000 -> B:8080).
    let quoted = out[14..14 + 28].to_vec();
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    fill_l4_csum_v4(B, C, 1, &mut icmp);
    let mut err = eth([4; 6], [2; 6], 0x0800);
    err.extend(ipv4_hdr(B, C, 1, icmp.len(), 0, &[]));
    err.extend(icmp);
    let back = run(
        &mut ctx,
        &err,
        &[nat(Nat::default(), false), Action::Output(1)],
    );
    // Outer: from the VIP. Quoted: the client's datagram as the client sent it.
    assert_eq!((ip(&back, 26), ip(&back, 30)), (VIP, C));
    let q = 14 + 20 + 8;
    assert_eq!((ip(&back, q + 12), ip(&back, q + 16)), (C, VIP));
    assert_eq!((port(&back, q + 20), port(&back, q + 22)), (5000, 80));
    assert!(verify_v4(&back, 14), "outer IP and ICMP checksums");
    assert_eq!(fold(sum(&back[q..q + 20], 0)), 0xffff, "quoted IP checksum");
    // The quoted UDP checksum matches the quoted datagram as the client sent it.
    let original = udp(C, VIP, 5000, 80);
    assert_eq!(&back[q + 20..q + 28], &original[34..42]);
}
