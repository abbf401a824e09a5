//! The standalone bridge: a MAC-learning bridge per datapath, used for misses when no
//! controller has registered upcall port ids. It decides what OVS's NORMAL action would, and
//! the slow path installs a megaflow matching exactly what the decision looked at.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use fastpath::flow::FlowKey;

/// Hash maps of the per-miss work (MAC table, flow index): foldhash is several times cheaper
/// than SipHash on these small keys and, like it, seeded per process, so learned MACs cannot
/// be picked to collide.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Default MAC aging time (OVS's `mac-aging-time`).
pub const DEFAULT_AGING: Duration = Duration::from_secs(300);
/// Default MAC table size (OVS's `mac-table-size`).
pub const DEFAULT_MAX_MACS: usize = 65536;

/// VLAN id 0 stands for untagged.
type MacKey = (u16, [u8; 6]);

#[derive(Debug, Clone, Copy)]
struct MacEntry {
    port: u32,
    seen: Instant,
}

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send to one port.
    Forward(u32),
    /// Send to every port but the input port (unknown unicast, broadcast, multicast).
    Flood,
    /// The destination is on the input port: nothing to do.
    Drop,
}

/// A MAC learning table with aging and least-recently-seen eviction, both O(1) per MAC
/// (a full table under a flood of new source MACs evicts one entry per miss).
#[derive(Debug)]
pub struct MacTable {
    entries: FastMap<MacKey, MacEntry>,
    /// Learn and refresh events, oldest first. An event is current while its entry still
    /// has that `seen` time; the others are stale and dropped when they reach the front.
    order: VecDeque<(MacKey, Instant)>,
    max: usize,
    aging: Duration,
}

impl Default for MacTable {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MACS, DEFAULT_AGING)
    }
}

/// True for group (broadcast/multicast) addresses.
pub fn is_multicast(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0
}

/// The VLAN id of a key (0 when untagged).
pub fn vlan_of(key: &FlowKey) -> u16 {
    key.vlan_tci() & 0x0fff
}

impl MacTable {
    /// A table of at most `max` entries that forgets a MAC unseen for `aging`.
    pub fn new(max: usize, aging: Duration) -> Self {
        MacTable {
            entries: FastMap::default(),
            order: VecDeque::new(),
            max,
            aging,
        }
    }

    /// Number of learned MACs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is learned.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Learns that `mac` on `vlan` lives behind `port`. Returns true when this changed what
    /// the table says (a new or moved MAC): flows sending to that MAC must then be redone.
    pub fn learn(&mut self, vlan: u16, mac: [u8; 6], port: u32, now: Instant) -> bool {
        if is_multicast(mac) {
            return false;
        }
        let key = (vlan, mac);
        let changed = match self.entries.get_mut(&key) {
            Some(e) => {
                if e.seen == now && e.port == port {
                    return false;
                }
                e.seen = now;
                let moved = e.port != port;
                e.port = port;
                moved
            }
            None => {
                if self.entries.len() >= self.max {
                    self.expire(now);
                    if self.entries.len() >= self.max {
                        // Still full: evict the stalest entry rather than refuse to learn.
                        self.pop_oldest();
                    }
                }
                self.entries.insert(key, MacEntry { port, seen: now });
                true
            }
        };
        self.order.push_back((key, now));
        if self.order.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.order
                .retain(|(k, t)| entries.get(k).is_some_and(|e| e.seen == *t));
        }
        changed
    }

    /// The oldest current event, removed from `order` with the stale ones before it.
    fn pop_oldest(&mut self) -> Option<MacKey> {
        while let Some((k, t)) = self.order.pop_front() {
            if self.entries.get(&k).is_some_and(|e| e.seen == t) {
                self.entries.remove(&k);
                return Some(k);
            }
        }
        None
    }

    /// Where `mac` on `vlan` was learned, if it is still fresh.
    pub fn lookup(&self, vlan: u16, mac: [u8; 6], now: Instant) -> Option<u32> {
        self.entries
            .get(&(vlan, mac))
            .filter(|e| now.duration_since(e.seen) < self.aging)
            .map(|e| e.port)
    }

    /// Forgets entries older than the aging time; returns the MACs forgotten.
    pub fn expire(&mut self, now: Instant) -> Vec<(u16, [u8; 6])> {
        let mut old = Vec::new();
        while let Some(&(k, t)) = self.order.front() {
            let current = self.entries.get(&k).is_some_and(|e| e.seen == t);
            if current && now.duration_since(t) < self.aging {
                break;
            }
            self.order.pop_front();
            if current {
                self.entries.remove(&k);
                old.push(k);
            }
        }
        old
    }

    /// Forgets every MAC learned on `port` (the port went away).
    pub fn forget_port(&mut self, port: u32) {
        self.entries.retain(|_, e| e.port != port);
    }

    /// The NORMAL decision for a packet with `key` (learning its source first).
    /// Returns the decision and whether learning changed the table.
    pub fn decide(&mut self, key: &FlowKey, now: Instant) -> (Decision, bool) {
        let vlan = vlan_of(key);
        let in_port = u32::from(key.in_port());
        let changed = self.learn(vlan, key.eth_src(), in_port, now);
        let dst = key.eth_dst();
        let decision = if is_multicast(dst) {
            Decision::Flood
        } else {
            match self.lookup(vlan, dst, now) {
                Some(p) if p == in_port => Decision::Drop,
                Some(p) => Decision::Forward(p),
                None => Decision::Flood,
            }
        };
        (decision, changed)
    }
}

/// A datapath's bridge: its MAC table, and the flows it installed by the destination they
/// send to, so that a MAC that appears or moves redoes exactly those flows.
#[derive(Debug, Default)]
pub struct Bridge {
    /// Learned MACs.
    pub macs: MacTable,
    /// Ids of the flows the bridge installed, by the (VLAN, destination MAC) they match. May
    /// hold ids of flows deleted since (deleting a missing flow does nothing).
    by_dst: FastMap<(u16, [u8; 6]), Vec<u128>>,
    /// Ids in `by_dst`.
    indexed: usize,
}

impl Bridge {
    /// Remembers that flow `id` sends to `dst` on `vlan`.
    pub fn installed(&mut self, vlan: u16, dst: [u8; 6], id: u128) {
        self.by_dst.entry((vlan, dst)).or_default().push(id);
        self.indexed += 1;
    }

    /// The flows that send to `mac` on `vlan`, forgotten here.
    pub fn take_flows_to(&mut self, vlan: u16, mac: [u8; 6]) -> Vec<u128> {
        let ids = self.by_dst.remove(&(vlan, mac)).unwrap_or_default();
        self.indexed -= ids.len();
        ids
    }

    /// Forgets ids for which `live` is false, once the index has grown well past `n_flows`
    /// (so pruning costs O(1) per install on average).
    pub fn prune(&mut self, n_flows: usize, live: impl Fn(u128) -> bool) {
        if self.indexed > 2 * n_flows + 1024 {
            self.by_dst.retain(|_, ids| {
                ids.retain(|&id| live(id));
                !ids.is_empty()
            });
            self.indexed = self.by_dst.values().map(Vec::len).sum();
        }
    }

    /// Forgets every MAC learned on `port` (the port went away).
    pub fn forget_port(&mut self, port: u32) {
        self.macs.forget_port(port);
    }
}

/// The megaflow mask for a NORMAL decision: it looked at the input port, both MACs and the
/// VLAN tag; the kernel always matches recirc_id, the Ethernet/L3 distinction and the
/// ethertype exactly.
pub fn normal_mask() -> FlowKey {
    let mut m = FlowKey::ZERO;
    m.set_recirc_id(u32::MAX);
    m.set_in_port(u16::MAX);
    m.set_mac_proto(u8::MAX);
    m.set_eth_src([0xff; 6]);
    m.set_eth_dst([0xff; 6]);
    m.set_vlan_tci(u16::MAX);
    m.set_eth_type(u16::MAX);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(in_port: u16, src: [u8; 6], dst: [u8; 6]) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set_in_port(in_port);
        k.set_eth_src(src);
        k.set_eth_dst(dst);
        k
    }

    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    const BCAST: [u8; 6] = [0xff; 6];

    #[test]
    fn learns_floods_then_forwards() {
        let mut t = MacTable::default();
        let now = Instant::now();
        assert_eq!(t.decide(&key(1, A, BCAST), now), (Decision::Flood, true));
        assert_eq!(
            t.decide(&key(1, A, B), now),
            (Decision::Flood, false),
            "B unknown"
        );
        assert_eq!(t.decide(&key(2, B, A), now), (Decision::Forward(1), true));
        assert_eq!(t.decide(&key(1, A, B), now), (Decision::Forward(2), false));
        assert_eq!(t.decide(&key(2, B, B), now).0, Decision::Drop, "hairpin");
    }

    #[test]
    fn moves_and_aging_are_reported() {
        let mut t = MacTable::new(16, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(t.learn(0, A, 1, t0));
        assert!(!t.learn(0, A, 1, t0));
        assert!(t.learn(0, A, 3, t0), "a move changes the table");
        assert_eq!(t.lookup(0, A, t0), Some(3));
        assert_eq!(t.lookup(5, A, t0), None, "VLANs are separate");
        let later = t0 + Duration::from_secs(11);
        assert_eq!(t.lookup(0, A, later), None);
        assert_eq!(t.expire(later), vec![(0, A)]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_evicts_the_stalest() {
        let mut t = MacTable::new(2, Duration::from_secs(100));
        let t0 = Instant::now();
        t.learn(0, A, 1, t0);
        t.learn(0, B, 2, t0 + Duration::from_secs(1));
        t.learn(0, [2, 0, 0, 0, 0, 0xc], 3, t0 + Duration::from_secs(2));
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(0, A, t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn a_refreshed_mac_outlives_a_flood_of_new_ones() {
        let mut t = MacTable::new(1000, Duration::from_secs(300));
        let t0 = Instant::now();
        t.learn(0, A, 1, t0);
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) + 1);
            let b = i.to_be_bytes();
            t.learn(0, [2, 0xee, b[0], b[1], b[2], b[3]], 2, now);
            if i % 500 == 0 {
                // A's owner keeps talking: it is never the least recently seen.
                t.learn(0, A, 1, now);
            }
            assert!(t.len() <= 1000);
        }
        let end = t0 + Duration::from_secs(1);
        assert_eq!(t.lookup(0, A, end), Some(1));
        assert_eq!(t.lookup(0, [2, 0xee, 0, 0, 0, 0], end), None, "evicted");
        assert!(t.order.len() <= 2 * t.len() + 1025, "event queue bounded");
    }

    /// A flow the bridge installs reads back, through its kernel form, as a valid match of
    /// the same fast-path key and mask (what dumps show and GET / DEL accept).
    #[test]
    fn bridge_flows_read_back_as_a_valid_kernel_match() {
        use fastpath::packet::{extract, Metadata};
        use fastpath::wire::{key_to_odp, mask_to_odp, match_to_fast};
        use odp::validate::FlowMatch;
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend_from_slice(&[
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        frame.extend_from_slice(&[
            0x03, 0xe8, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        let md = Metadata {
            in_port: 2,
            ..Metadata::default()
        };
        let mut pk = FlowKey::ZERO;
        extract(&frame, &md, &mut pk);
        let m = normal_mask();
        let k = pk.masked(&m);
        let (ok, om) = (key_to_odp(&k), mask_to_odp(&k, &m));
        assert_eq!(om.in_port, Some(u32::MAX));
        let fm = FlowMatch::new(&ok, Some(&om)).expect("valid match");
        let (fk, fmask) = match_to_fast(&fm).unwrap();
        assert_eq!(fk, k.masked(&fmask));
        for f in [FlowKey::in_port, FlowKey::eth_type, FlowKey::vlan_tci] {
            assert_eq!(f(&fmask), f(&m));
        }
        assert_eq!(fmask.eth_src(), m.eth_src());
        assert_eq!(fmask.eth_dst(), m.eth_dst());
        assert_eq!(fmask.ipv4_src(), 0);
    }
}
