//! Setup shared by the benchmarks: frames, a fixed-size buffer, a sink context and
//! classifiers with N masks.
#![allow(dead_code)]

use std::sync::Arc;

use fastpath::actions::{CompiledActions, DropReason, ExecContext, PacketState, UserspaceAction};
use fastpath::dpcls::Dpcls;
use fastpath::flow::{Flow, FlowKey};
use fastpath::packet::{extract, Metadata, PacketBuf};
use fastpath::pmd::PmdContext;
use odp::action::Action;

pub const BATCH: usize = 32;
pub const POOL: usize = 1024;

/// Bytes of storage per [`BenchBuf`].
pub const BUF_SIZE: usize = 192;

/// An mbuf stand-in: a small handle (like a pointer to an mbuf) over caller storage
/// with 64 bytes of headroom. Filling it copies the frame, as a PMD's rx does.
pub struct BenchBuf<'a> {
    buf: &'a mut [u8],
    start: usize,
    end: usize,
}

impl<'a> BenchBuf<'a> {
    /// Copies `frame` into `buf` after 64 bytes of headroom.
    pub fn fill(buf: &'a mut [u8], frame: &[u8]) -> Self {
        buf[64..64 + frame.len()].copy_from_slice(frame);
        Self {
            buf,
            start: 64,
            end: 64 + frame.len(),
        }
    }
}

impl PacketBuf for BenchBuf<'_> {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..self.end])
    }
    fn pull_front(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim_back(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
}

/// Fills `pkts` with handles over `storage` holding `fr[base..base + 32]`.
pub fn refill<'a>(
    pkts: &mut [Option<BenchBuf<'a>>; BATCH],
    storage: &'a mut [u8],
    fr: &[Vec<u8>],
    base: usize,
) {
    for (i, (p, chunk)) in pkts
        .iter_mut()
        .zip(storage.chunks_exact_mut(BUF_SIZE))
        .enumerate()
    {
        *p = Some(BenchBuf::fill(chunk, &fr[base + i]));
    }
}

#[derive(Default)]
pub struct Sink {
    pub out: u64,
    pub bytes: u64,
    pub misses: u64,
}

impl<B: PacketBuf> ExecContext<B> for Sink {
    fn output(&mut self, port: u32, pkt: B, _st: &PacketState<'_>) {
        self.out += u64::from(port);
        self.bytes += pkt.data()[33] as u64;
    }
    fn clone_packet(&mut self, _pkt: &B) -> Option<B> {
        None
    }
    fn upcall(&mut self, _: &B, _: usize, _: &PacketState<'_>, _: &UserspaceAction) {}
    fn recirculate(&mut self, _: B, _: &PacketState<'_>) {}
    fn drop_packet(&mut self, _: B, _: DropReason) {}
    fn random_u32(&mut self) -> u32 {
        0
    }
}

impl<B: PacketBuf> PmdContext<B> for Sink {
    fn miss(&mut self, _: B, _: &FlowKey, _: &Metadata) {
        self.misses += 1;
    }
    fn malformed_drop(&mut self, _: B) {}
}

fn csum(d: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in d.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet/IPv4/UDP, 60 bytes, flow `i` (distinct addresses and ports).
pub fn udp_frame(i: usize) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 8, 0,
    ];
    let ip = [
        0x45,
        0,
        0,
        46,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        (i >> 8) as u8,
        i as u8,
        10,
        1,
        0,
        1,
    ];
    f.extend_from_slice(&ip);
    let c = csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&(1000 + i as u16).to_be_bytes());
    f.extend_from_slice(&(2000 + (i as u16 % 7)).to_be_bytes());
    f.extend_from_slice(&[0, 26, 0, 0]);
    f.extend_from_slice(&[0xab; 18]);
    f
}

pub fn out_actions() -> CompiledActions {
    CompiledActions::compile(&[Action::Output(2)]).unwrap()
}

pub fn frames() -> Vec<Vec<u8>> {
    (0..POOL).map(udp_frame).collect()
}

/// A classifier with one exact-match-ish megaflow per pool frame under `masks` masks.
/// Mask m matches in_port exactly (in_port = m) plus a distinct set of L3/L4 fields, so
/// every packet matches exactly one flow, in subtable `port`.
pub fn build_dpcls(masks: usize, fr: &[Vec<u8>], ports: &[u16]) -> Dpcls {
    let mut cls = Dpcls::new();
    for m in 0..masks {
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(0xffff);
        mask.set_eth_type(0xffff);
        mask.set_ip_proto(0xff);
        let plen = 16 + (m % 17) as u32; // /16 .. /32
        mask.set_ipv4_src(u32::MAX << (32 - plen));
        if m / 17 % 2 == 1 {
            mask.set_tp_dst(0xffff);
        }
        if m / 34 % 2 == 1 {
            mask.set_ip_ttl(0xff);
        }
        if m / 68 % 2 == 1 {
            mask.set_ip_tos(0xff);
        }
        for (i, f) in fr.iter().enumerate() {
            if usize::from(ports[i]) != m {
                continue;
            }
            let mut k = FlowKey::ZERO;
            extract(f, &Metadata::for_port(m as u16), &mut k);
            if cls.find_overlap(&k).is_none() {
                let ufid = (m as u128) << 32 | i as u128;
                cls.insert(Arc::new(Flow::new(ufid, &k, &mask, out_actions(), 1)));
            }
        }
    }
    cls
}

/// Input port (= subtable) of each pool packet: uniform, or skewed (90 % to subtable
/// 0, the rest uniform).
pub fn ports(masks: usize, skewed: bool) -> Vec<u16> {
    let mut x = 12345u64;
    (0..POOL)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            if skewed && r % 10 != 0 {
                0
            } else {
                (r % masks) as u16
            }
        })
        .collect()
}
