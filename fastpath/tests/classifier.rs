//! The classifier against a linear-scan oracle, the overlap rule, incremental growth
//! and EMC liveness.

use std::sync::Arc;

use fastpath::actions::CompiledActions;
use fastpath::dpcls::Dpcls;
use fastpath::emc::Emc;
use fastpath::flow::{Flow, FlowKey};
use odp::action::Action;
use proptest::prelude::*;

/// Field setters over a small domain so that random keys and flows collide.
const FIELDS: usize = 6;

fn set_field(k: &mut FlowKey, f: usize, v: u64) {
    match f {
        0 => k.set_in_port(v as u16),
        1 => k.set_eth_type(if v & 1 == 0 { 0x0800 } else { 0x86dd }),
        2 => k.set_ip_proto(if v & 1 == 0 { 6 } else { 17 }),
        3 => k.set_tp_dst(v as u16),
        4 => k.set_ipv4_dst(v as u32),
        _ => k.set_tun_id(v),
    }
}

fn set_mask(k: &mut FlowKey, f: usize) {
    match f {
        0 => k.set_in_port(0xffff),
        1 => k.set_eth_type(0xffff),
        2 => k.set_ip_proto(0xff),
        3 => k.set_tp_dst(0xffff),
        4 => k.set_ipv4_dst(0xffff_ff00),
        _ => k.set_tun_id(u64::MAX),
    }
}

fn key_from(vals: &[u64; FIELDS]) -> FlowKey {
    let mut k = FlowKey::ZERO;
    for (f, v) in vals.iter().enumerate() {
        set_field(&mut k, f, *v);
    }
    k
}

fn mask_from(sel: u8) -> FlowKey {
    let mut m = FlowKey::ZERO;
    for f in 0..FIELDS {
        if sel & (1 << f) != 0 {
            set_mask(&mut m, f);
        }
    }
    m
}

fn actions(port: u32) -> CompiledActions {
    CompiledActions::compile(&[Action::Output(port)]).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        ufid: u8,
        vals: [u64; FIELDS],
        mask: u8,
    },
    Remove {
        ufid: u8,
    },
    Lookup {
        vals: [u64; FIELDS],
    },
    Batch {
        keys: Vec<[u64; FIELDS]>,
    },
    Sort,
}

fn vals() -> impl Strategy<Value = [u64; FIELDS]> {
    prop::array::uniform6(0u64..3).prop_map(|mut a| {
        a[4] = a[4] * 0x100 + a[3]; // spread ipv4_dst across the /24 mask boundary
        a
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u8>(), vals(), 0u8..64).prop_map(|(ufid, vals, mask)| Op::Insert { ufid: ufid % 40, vals, mask }),
        1 => any::<u8>().prop_map(|ufid| Op::Remove { ufid: ufid % 40 }),
        3 => vals().prop_map(|vals| Op::Lookup { vals }),
        1 => prop::collection::vec(vals(), 1..33).prop_map(|keys| Op::Batch { keys }),
        1 => Just(Op::Sort),
    ]
}

fn oracle_matches<'a>(flows: &'a [Arc<Flow>], key: &FlowKey) -> Vec<&'a Arc<Flow>> {
    flows.iter().filter(|f| f.matches(key)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn dpcls_agrees_with_linear_scan(ops in prop::collection::vec(op(), 1..200)) {
        let mut cls = Dpcls::new();
        let mut oracle: Vec<Arc<Flow>> = Vec::new();
        for op in ops {
            match op {
                Op::Insert { ufid, vals, mask } => {
                    let key = key_from(&vals);
                    // The kernel's NLM_F_CREATE rule: refuse if any flow matches the key.
                    let overlap = cls.find_overlap(&key);
                    let o = oracle_matches(&oracle, &key);
                    prop_assert_eq!(overlap.is_some(), !o.is_empty());
                    if let Some(f) = overlap {
                        prop_assert!(o.iter().any(|g| Arc::ptr_eq(f, g)));
                        continue;
                    }
                    let flow = Arc::new(Flow::new(u128::from(ufid), &key, &mask_from(mask), actions(1), 1));
                    let replaced = cls.insert(Arc::clone(&flow));
                    if let Some(pos) = oracle.iter().position(|f| f.ufid() == flow.ufid()) {
                        let old = oracle.remove(pos);
                        prop_assert!(replaced.is_some_and(|r| Arc::ptr_eq(&r, &old)));
                    } else {
                        prop_assert!(replaced.is_none());
                    }
                    oracle.push(flow);
                }
                Op::Remove { ufid } => {
                    let got = cls.remove(u128::from(ufid));
                    let want = oracle.iter().position(|f| f.ufid() == u128::from(ufid)).map(|p| oracle.remove(p));
                    prop_assert_eq!(got.map(|f| f.ufid()), want.map(|f| f.ufid()));
                }
                Op::Lookup { vals } => {
                    let key = key_from(&vals);
                    let got = cls.lookup(&key);
                    let want = oracle_matches(&oracle, &key);
                    match got {
                        Some(f) => prop_assert!(want.iter().any(|g| Arc::ptr_eq(f, g))),
                        None => prop_assert!(want.is_empty()),
                    }
                }
                Op::Batch { keys } => {
                    let keys: Vec<FlowKey> = keys.iter().map(key_from).collect();
                    let hashes: Vec<u64> = keys.iter().map(FlowKey::hash).collect();
                    let mut out = [None; 32];
                    let all = if keys.len() == 32 { u32::MAX } else { (1 << keys.len()) - 1 };
                    let todo = all & 0xaaaa_aaab; // leave some keys out of the batch
                    let found = cls.lookup_batch::<fastpath::Portable>(&keys, Some(&hashes), todo, &mut out);
                    for (i, key) in keys.iter().enumerate() {
                        let want = oracle_matches(&oracle, key);
                        if todo & (1 << i) == 0 {
                            prop_assert!(out[i].is_none());
                            continue;
                        }
                        prop_assert_eq!(found & (1 << i) != 0, !want.is_empty());
                        if let Some(f) = out[i] {
                            prop_assert!(want.iter().any(|g| Arc::ptr_eq(f, g)));
                        }
                    }
                }
                Op::Sort => cls.sort_subtables(),
            }
            prop_assert_eq!(cls.len(), oracle.len());
            let mut masks: Vec<FlowKey> = oracle.iter().map(|f| *f.mask()).collect();
            masks.sort_by_key(|m| m.words);
            masks.dedup();
            prop_assert_eq!(cls.n_masks(), masks.len());
        }
    }
}

#[test]
fn overlap_rule_finds_broader_flow() {
    let mut cls = Dpcls::new();
    let mut k = FlowKey::ZERO;
    k.set_eth_type(0x0800);
    k.set_tp_dst(80);
    let mut m = FlowKey::ZERO;
    m.set_eth_type(0xffff);
    cls.insert(Arc::new(Flow::new(1, &k, &m, actions(1), 1)));
    // A narrower flow whose key the broad flow matches overlaps.
    assert_eq!(cls.find_overlap(&k).map(|f| f.ufid()), Some(1));
    let mut k6 = k;
    k6.set_eth_type(0x86dd);
    assert!(cls.find_overlap(&k6).is_none());
    let s = cls.stats();
    assert_eq!((s.hit, s.missed), (0, 0), "overlap checks are not lookups");
}

#[test]
fn incremental_growth_keeps_every_flow_findable() {
    let mut cls = Dpcls::new();
    let mut m = FlowKey::ZERO;
    m.set_ipv4_dst(u32::MAX);
    m.set_tp_dst(0xffff);
    let key = |i: u32| {
        let mut k = FlowKey::ZERO;
        k.set_ipv4_dst(i.wrapping_mul(2_654_435_761));
        k.set_tp_dst(i as u16);
        k
    };
    for i in 0..20_000u32 {
        cls.insert(Arc::new(Flow::new(
            u128::from(i),
            &key(i),
            &m,
            actions(i % 7),
            1,
        )));
        // Probe an old and the newest flow while tables migrate.
        assert_eq!(
            cls.lookup(&key(i / 2)).map(|f| f.ufid()),
            Some(u128::from(i / 2))
        );
        assert_eq!(cls.lookup(&key(i)).map(|f| f.ufid()), Some(u128::from(i)));
    }
    for i in (0..20_000u32).step_by(2) {
        assert!(cls.remove(u128::from(i)).is_some());
    }
    for _ in 0..100 {
        cls.maintain();
    }
    for i in 0..20_000u32 {
        let got = cls.lookup(&key(i)).map(|f| f.ufid());
        assert_eq!(got, (i % 2 == 1).then_some(u128::from(i)), "flow {i}");
    }
    assert_eq!(cls.n_masks(), 1);
    assert_eq!(cls.len(), 10_000);
}

#[test]
fn ranking_moves_hot_subtable_first() {
    let (mut cls, keys) = one_mask_per_field();
    let mut probe = [2u64; FIELDS];
    probe[0] = 5; // in_port 5 (mask 0 misses), others unique
    let hot = keys[FIELDS - 1];
    for _ in 0..100 {
        assert!(cls.lookup(&hot).is_some());
    }
    let before = cls.stats().mask_hit;
    cls.lookup(&hot);
    let per_lookup_before = cls.stats().mask_hit - before;
    cls.sort_subtables();
    let before = cls.stats().mask_hit;
    cls.lookup(&hot);
    assert_eq!(
        cls.stats().mask_hit - before,
        1,
        "hot subtable probed first after sorting"
    );
    assert!(per_lookup_before > 1);
    let _ = probe;
}

fn any_flow(ufid: u128, port: u32) -> (FlowKey, Arc<Flow>) {
    let mut k = FlowKey::ZERO;
    k.set_eth_type(0x0800);
    k.set_ipv4_dst(ufid as u32);
    (
        k,
        Arc::new(Flow::new(ufid, &k, &FlowKey::ONES, actions(port), 1)),
    )
}

#[test]
fn emc_never_returns_dead_flow_at_any_probability() {
    for prob in [0u32, 1, 100] {
        let mut emc = Emc::new(64, prob);
        let mut cls = Dpcls::new();
        let flows: Vec<_> = (0..200u128).map(|i| any_flow(i, 1)).collect();
        for (_, f) in &flows {
            cls.insert(Arc::clone(f));
        }
        let (mut hit, mut missed) = (0u64, 0u64);
        // Warm the cache the way a PMD does: dpcls hit → maybe insert.
        for round in 0..50 {
            for (k, _) in &flows {
                let h = k.hash();
                if emc.lookup(k, h, u32::MAX).is_some() {
                    hit += 1;
                } else {
                    missed += 1;
                    if let Some(f) = cls.lookup(k).cloned() {
                        emc.maybe_insert(k, h, k.nonzero_map(), &f);
                    }
                }
            }
            // Kill / replace a few flows each round, as the control thread does.
            for (i, (k, f)) in flows.iter().enumerate() {
                if i % 10 == round % 10 && f.is_alive() {
                    f.kill();
                    if i % 20 == 0 {
                        let (_, nf) = any_flow(f.ufid(), 2);
                        cls.insert(nf);
                    } else {
                        cls.remove(f.ufid());
                    }
                }
                if let Some(got) = emc.lookup(k, k.hash(), k.nonzero_map()) {
                    assert!(got.is_alive(), "prob {prob}: dead flow returned");
                    hit += 1;
                } else {
                    missed += 1;
                }
                if let Some(got) = cls.lookup(k) {
                    assert!(got.is_alive());
                }
            }
        }
        let s = emc.stats();
        match prob {
            0 => assert_eq!((s.inserted, hit), (0, 0)),
            1 => assert!(hit > 0),
            _ => assert!(s.inserted > 0 && s.inserted < missed),
        }
    }
}

#[test]
fn emc_replaced_key_is_served_by_new_flow() {
    let mut emc = Emc::new(16, 1);
    let (k, old) = any_flow(7, 1);
    emc.insert(&k, k.hash(), u32::MAX, &old);
    assert!(emc
        .lookup(&k, k.hash(), 0xff)
        .is_some_and(|f| Arc::ptr_eq(f, &old)));
    old.kill();
    assert!(emc.lookup(&k, k.hash(), k.nonzero_map()).is_none());
    let (_, new) = any_flow(7, 2);
    emc.insert(&k, k.hash(), 0xff, &new);
    assert!(emc
        .lookup(&k, k.hash(), 0xff)
        .is_some_and(|f| Arc::ptr_eq(f, &new)));
}

#[test]
fn emc_compares_words_beyond_line0_named_by_either_map() {
    let mut emc = Emc::new(16, 1);
    let (k, f) = any_flow(3, 1);
    let mut tun = k;
    tun.set_tun_id(99);
    emc.insert(&tun, 1234, tun.nonzero_map() | 0xff, &f);
    // Same line 0 and hash, but no tunnel: must not hit whichever map the probe has.
    assert!(emc.lookup(&k, 1234, 0xff).is_none());
    assert!(emc.lookup(&k, 1234, u32::MAX).is_none());
    assert!(emc.lookup(&tun, 1234, 0xff | (1 << 20)).is_some());
    emc.insert(&k, 77, 0xff, &f);
    assert!(emc.lookup(&tun, 77, tun.nonzero_map() | 0xff).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// One mask, many flows: inserts, replacements and removals interleaved while the
    /// subtable grows and migrates incrementally, checked against a map after every op.
    #[test]
    fn single_subtable_growth_with_interleaved_removals(
        ops in prop::collection::vec((any::<bool>(), 0u32..600), 1..1500)
    ) {
        let mut m = FlowKey::ZERO;
        m.set_ipv4_dst(u32::MAX);
        let key = |i: u32| {
            let mut k = FlowKey::ZERO;
            k.set_ipv4_dst(i.wrapping_mul(0x9e37_79b9));
            k
        };
        let mut cls = Dpcls::new();
        let mut live = std::collections::BTreeMap::new();
        for (n, (insert, i)) in ops.into_iter().enumerate() {
            if insert {
                let gen = n as u128;
                cls.insert(Arc::new(Flow::new(u128::from(i), &key(i), &m, actions(1), 1)));
                live.insert(i, gen);
            } else {
                let got = cls.remove(u128::from(i)).map(|f| f.ufid());
                prop_assert_eq!(got, live.remove(&i).map(|_| u128::from(i)));
            }
            // Spot-check a window of keys around the one just touched.
            for j in i.saturating_sub(3)..i + 3 {
                let got = cls.lookup(&key(j)).map(|f| f.ufid());
                prop_assert_eq!(got, live.contains_key(&j).then_some(u128::from(j)));
            }
            if n % 64 == 0 {
                cls.maintain();
            }
        }
        prop_assert_eq!(cls.len(), live.len());
        for j in 0..600u32 {
            let got = cls.lookup(&key(j)).map(|f| f.ufid());
            prop_assert_eq!(got, live.contains_key(&j).then_some(u128::from(j)));
        }
    }
}

/// A classifier with one flow per field, each under a mask of that field alone, and a key
/// that hits each flow.
fn one_mask_per_field() -> (Dpcls, Vec<FlowKey>) {
    let mut cls = Dpcls::new();
    let mut keys = Vec::new();
    for f in 0..FIELDS {
        let mut vals = [1u64; FIELDS];
        vals[f] = 2;
        let k = key_from(&vals);
        cls.insert(Arc::new(Flow::new(
            f as u128,
            &k,
            &mask_from(1 << f),
            actions(1),
            1,
        )));
        keys.push(k);
    }
    (cls, keys)
}

#[test]
fn mask_cache_answers_repeat_lookups_with_one_probe() {
    let (mut cls, keys) = one_mask_per_field();
    let hashes: Vec<u64> = keys.iter().map(FlowKey::hash).collect();
    let mut out = [None; 32];
    let all = (1u32 << keys.len()) - 1;
    assert_eq!(
        cls.lookup_batch::<fastpath::Portable>(&keys, Some(&hashes), all, &mut out),
        all
    );
    let s0 = cls.stats();
    let mut out2 = [None; 32];
    assert_eq!(
        cls.lookup_batch::<fastpath::Portable>(&keys, Some(&hashes), all, &mut out2),
        all
    );
    let s1 = cls.stats();
    assert_eq!(s1.cache_hit - s0.cache_hit, keys.len() as u64);
    assert_eq!(
        s1.mask_hit - s0.mask_hit,
        keys.len() as u64,
        "one probe per key"
    );
    for (a, b) in out.iter().zip(&out2) {
        assert_eq!(a.map(|f| f.ufid()), b.map(|f| f.ufid()));
    }
    // Removing a flow (and its subtable) never leaves a stale answer.
    cls.remove(2);
    let mut out3 = [None; 32];
    cls.lookup_batch::<fastpath::Portable>(&keys, Some(&hashes), all, &mut out3);
    for (i, k) in keys.iter().enumerate() {
        let any = cls.flows().any(|f| f.matches(k));
        assert_eq!(out3[i].is_some(), any, "key {i}");
        if let Some(f) = out3[i] {
            assert!(f.ufid() != 2 && f.matches(k));
        }
    }
}

/// `masks-cache-size` 0 turns the mask cache off: every answer is the same, none comes from
/// the cache; sizing it back on makes repeat lookups cache hits again.
#[test]
fn a_mask_cache_of_size_zero_is_off_and_lookups_stay_right() {
    let (mut cls, keys) = one_mask_per_field();
    let hashes: Vec<u64> = keys.iter().map(FlowKey::hash).collect();
    let all = (1u32 << keys.len()) - 1;
    let lookup = |cls: &Dpcls| {
        let mut out = [None; 32];
        assert_eq!(
            cls.lookup_batch::<fastpath::Portable>(&keys, Some(&hashes), all, &mut out),
            all
        );
        out.iter()
            .take(keys.len())
            .map(|f| f.map(|f| f.ufid()))
            .collect::<Vec<_>>()
    };
    let cached = lookup(&cls);
    cls.set_mask_cache_size(0);
    assert_eq!(cls.mask_cache_size(), 0);
    let before = cls.stats();
    assert_eq!(lookup(&cls), cached);
    assert_eq!(lookup(&cls), cached);
    assert_eq!(
        cls.stats().cache_hit,
        before.cache_hit,
        "no cache, no cache hits"
    );
    cls.set_mask_cache_size(256);
    lookup(&cls);
    let warm = cls.stats();
    assert_eq!(lookup(&cls), cached);
    assert_eq!(cls.stats().cache_hit - warm.cache_hit, keys.len() as u64);
}
