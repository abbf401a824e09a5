//! Offload work done in software, for devices that take none: a packet from a system port
//! may still need its L4 checksum finished or, being a GSO packet, cutting into segments
//! (`fastpath::packet::offload`). The kernel does the same before handing such a packet to
//! a device without the matching offload (`validate_xmit_skb()`) or to userspace
//! (`queue_userspace_packet()`, `queue_gso_packets()`).

use fastpath::packet::offload::{
    finish_checksum, tcp_headers, tcp_segment_count, write_tcp_segment, OffloadError,
};
use fastpath::packet::Offload;

use crate::dpdk::{Mbuf, Pools};

/// Does `pkt`'s offload work and hands each resulting packet to `emit`: the packet itself
/// with its checksum finished, or its TCP segments. A packet whose work cannot be done is
/// dropped: returns the number of packets lost (a segment without a free buffer, or the
/// packet).
pub fn resolve(mut pkt: Mbuf, pools: &Pools, mut emit: impl FnMut(Mbuf)) -> u64 {
    let o = pkt.offload();
    if o.is_none() {
        emit(pkt);
        return 0;
    }
    let Some(gso) = o.gso else {
        let Some(c) = o.csum else {
            emit(pkt);
            return 0;
        };
        if finish_checksum(pkt.data_mut(), c).is_err() {
            return 1;
        }
        pkt.set_offload(Offload::NONE);
        emit(pkt);
        return 0;
    };
    let offs = match tcp_headers(pkt.data(), &o) {
        Ok(offs) => offs,
        Err(OffloadError::UnsupportedGso | OffloadError::BadChecksumRange) => return 1,
    };
    let n = tcp_segment_count(pkt.data(), offs.2, gso.size);
    let seg_len = offs.2 + usize::from(gso.size);
    let mut lost = 0;
    for i in 0..n {
        let Some(mut seg) = pools.alloc_for(seg_len) else {
            lost += 1;
            continue;
        };
        let len = write_tcp_segment(pkt.data(), offs, gso, i, seg.room_mut());
        if seg.set_len(len) {
            emit(seg);
        } else {
            lost += 1;
        }
    }
    lost
}
