use super::*;
use crate::conntrack::tuple::proto;

/// [`CHUNK`] as a connection count.
const CHUNK32: u32 = 4096;

fn udp(zone: u16, src: u32, sport: u16) -> Tuple {
    Tuple {
        zone,
        family: Family::V4,
        src: u128::from(src),
        dst: 0x0a00_0002,
        proto: proto::UDP,
        src_port: sport,
        dst_port: 53,
    }
}

fn conn(t: Tuple, now: u64) -> Conn {
    Conn::new(t, t.invert().unwrap(), ProtoState::Udp, now)
}

fn table(cap: u32) -> Table {
    Table::new(cap, 0x5eed, Policy::default())
}

#[test]
fn a_committed_connection_is_found_from_both_directions_until_removed() {
    let t = table(100);
    let a = udp(1, 0x0a00_0001, 1000);
    let r = t.commit(conn(a, 0), 30, |r, _, _| r).unwrap();
    assert_eq!(t.count(), 1);
    assert_eq!(t.zone_count(1), 1);
    assert_eq!(
        t.find(&a, |r2, d, _, _| (r2, d)),
        Found::Yes((r, Dir::Original))
    );
    let rev = a.invert().unwrap();
    assert_eq!(t.find(&rev, |_, d, _, _| d), Found::Yes(Dir::Reply));
    // The same tuple in another zone is another connection.
    assert_eq!(
        t.find(&udp(2, 0x0a00_0001, 1000), |_, _, _, _| ()),
        Found::No
    );
    assert!(t.remove(r));
    assert_eq!(t.find(&a, |_, _, _, _| ()), Found::No);
    assert_eq!(t.get(r, |_, _| ()), Found::No);
    assert_eq!((t.count(), t.zone_count(1)), (0, 0));
}

#[test]
fn a_reused_entry_does_not_answer_for_its_previous_connection() {
    let t = table(1);
    let a = udp(0, 1, 1);
    let ra = t.commit(conn(a, 0), 30, |r, _, _| r).unwrap();
    t.remove(ra);
    let b = udp(0, 2, 2);
    let rb = t.commit(conn(b, 0), 30, |r, _, _| r).unwrap();
    assert_ne!(ra, rb);
    assert_eq!(t.get(ra, |_, _| ()), Found::No);
    assert_eq!(t.get(rb, |c, _| c.tuples[0]), Found::Yes(b));
}

#[test]
fn connections_expire_at_their_deadline_through_the_sweep() {
    let t = table(100);
    t.tick(1_000);
    let a = udp(0, 1, 1);
    let b = udp(0, 2, 2);
    t.commit(conn(a, 1_000), 30, |_, _, _| ()).unwrap();
    t.commit(conn(b, 1_000), 120, |_, _, _| ()).unwrap();
    t.tick(30_999);
    assert_eq!(t.sweep(usize::MAX), 0);
    t.tick(31_000);
    assert_eq!(t.sweep(usize::MAX), 1);
    assert_eq!(t.find(&a, |_, _, _, _| ()), Found::No);
    assert!(matches!(t.find(&b, |_, _, _, _| ()), Found::Yes(())));
    assert_eq!(t.stats.expired.load(Relaxed), 1);
}

#[test]
fn a_sweep_slice_resumes_where_the_last_one_stopped() {
    let t = table(CHUNK32);
    for i in 0..10 {
        t.commit(conn(udp(0, i, 1), 0), 1, |_, _, _| ()).unwrap();
    }
    t.tick(5_000);
    let mut removed = 0;
    for _ in 0..CHUNK {
        removed += t.sweep(1);
    }
    assert_eq!((removed, t.count()), (10, 0));
}

#[test]
fn the_global_and_zone_limits_refuse_the_next_connection() {
    let t = table(100);
    t.set_max_conns(2);
    t.commit(conn(udp(0, 1, 1), 0), 30, |_, _, _| ()).unwrap();
    t.commit(conn(udp(0, 2, 1), 0), 30, |_, _, _| ()).unwrap();
    assert_eq!(
        t.commit(conn(udp(0, 3, 1), 0), 30, |_, _, _| ()),
        Err(Refused::Limit)
    );
    t.set_max_conns(100);
    t.set_zone_limit(7, Some(1));
    t.commit(conn(udp(7, 1, 1), 0), 30, |_, _, _| ()).unwrap();
    assert_eq!(
        t.commit(conn(udp(7, 2, 1), 0), 30, |_, _, _| ()),
        Err(Refused::Limit)
    );
    t.set_default_limit(3);
    assert_eq!(t.zone_limit(8), (3, false));
    assert_eq!(t.zone_limit(7), (1, true));
    t.set_zone_limit(7, None);
    t.commit(conn(udp(7, 2, 1), 0), 30, |_, _, _| ()).unwrap();
    assert_eq!(t.zone_count(7), 2);
    assert_eq!(t.stats.limit_drops.load(Relaxed), 2);
}

#[test]
fn a_tuple_in_use_is_a_clash_and_changes_nothing() {
    let t = table(100);
    let a = udp(0, 1, 1);
    t.commit(conn(a, 0), 30, |_, _, _| ()).unwrap();
    assert_eq!(t.commit(conn(a, 0), 30, |_, _, _| ()), Err(Refused::Clash));
    // A connection whose reply tuple is another's original tuple.
    let rev = a.invert().unwrap();
    assert_eq!(
        t.commit(
            Conn::new(udp(0, 9, 9), a, ProtoState::Udp, 0),
            30,
            |_, _, _| ()
        ),
        Err(Refused::Clash)
    );
    assert_eq!(t.count(), 1);
    assert_eq!(t.find(&rev, |_, d, _, _| d), Found::Yes(Dir::Reply));
    assert_eq!(t.find(&udp(0, 9, 9), |_, _, _, _| ()), Found::No);
}

#[test]
fn the_arena_grows_in_chunks_and_refuses_when_no_entry_is_free() {
    let t = table(2 * CHUNK32);
    for i in 0..CHUNK32 {
        t.commit(conn(udp(0, i, 1), 0), 30, |_, _, _| ()).unwrap();
    }
    assert_eq!(
        t.commit(conn(udp(0, 1 << 20, 1), 0), 30, |_, _, _| ()),
        Err(Refused::Full)
    );
    assert!(t.grow());
    t.commit(conn(udp(0, 1 << 20, 1), 0), 30, |_, _, _| ())
        .unwrap();
    assert!(!t.grow(), "no chunk is left within the capacity");
}

#[test]
fn flush_removes_what_it_picks() {
    let t = table(100);
    for z in 0..4 {
        t.commit(conn(udp(z, 1, 1), 0), 30, |_, _, _| ()).unwrap();
    }
    assert_eq!(t.flush(|_, c| c.zone() == 2), 1);
    let mut zones = Vec::new();
    t.for_each(|_, c, _| zones.push(c.zone()));
    zones.sort_unstable();
    assert_eq!(zones, [0, 1, 3]);
}

#[test]
fn threads_committing_finding_and_sweeping_together_keep_the_table_consistent() {
    let t = std::sync::Arc::new(table(4 * CHUNK32));
    let workers: Vec<_> = (0..2u32)
        .map(|w| {
            let t = t.clone();
            std::thread::spawn(move || {
                for round in 0..10u32 {
                    for i in 0..1000u32 {
                        let a = udp(0, w << 24 | i, u16::try_from(round).unwrap());
                        // Out of entries until the control thread grows the arena.
                        let r = loop {
                            match t.commit(conn(a, 0), 0, |r, _, _| r) {
                                Ok(r) => break r,
                                Err(Refused::Full) => std::thread::yield_now(),
                                Err(e) => panic!("{e:?}"),
                            }
                        };
                        // Both directions find it, from this thread and the other's tuples.
                        assert!(matches!(t.find(&a, |_, _, _, _| ()), Found::Yes(())));
                        let rev = a.invert().unwrap();
                        assert!(matches!(t.find(&rev, |_, _, _, _| ()), Found::Yes(())));
                        if i % 2 == 0 {
                            t.remove(r);
                        }
                    }
                }
            })
        })
        .collect();
    // The control thread's work, while the workers run: growing the arena, and sweeps
    // that claim entries under them (nothing is due yet).
    while !workers.iter().all(std::thread::JoinHandle::is_finished) {
        t.grow();
        t.sweep(64);
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(t.count(), 10_000);
    t.tick(1);
    while t.count() > 0 {
        t.sweep(CHUNK);
    }
    assert!(t.index.is_empty());
}
