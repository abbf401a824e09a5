//! Real-EAL tests of the safe DPDK layer: net_ring loopback, net_null, mempool accounting,
//! runtime hotplug and lcore launch. One EAL per process, so every test here shares it and
//! uses its own devices and pools.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dpswitch::dpdk::{Eal, Mbuf, MbufArray, Mempool, Port, PortConfig, BURST_SIZE};

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| {
        // DPDK 22.11 treats --no-huge as legacy memory, which it refuses with --in-memory;
        // --no-shconf is the in-memory equivalent (no shared config files).
        let prefix = format!("dpswitch_test_{}", std::process::id());
        Eal::init([
            "-l",
            "0-1",
            "--no-huge",
            "--no-shconf",
            "--file-prefix",
            prefix.as_str(),
            "--no-pci",
            "--no-telemetry",
            "-m",
            "512",
            "--log-level",
            "lib.eal:error",
            "--vdev",
            "net_ring_rt",
            "--vdev",
            "net_ring_1m",
            "--vdev",
            "net_ring_acct",
            "--vdev",
            "net_ring_lcore",
            "--vdev",
            "net_null_rx",
        ])
        .inspect(|_| {
            // This EAL lives until the process exits and never drops; with --no-shconf its
            // runtime directory stays empty, so remove it now rather than leave litter.
            let _ = std::fs::remove_dir(format!("/var/run/dpdk/{prefix}"));
        })
        .expect("EAL init with --no-huge --no-shconf and vdevs")
    })
}

fn pool(name: &str, n: u32) -> Arc<Mempool> {
    Arc::new(Mempool::new(eal(), name, n, 0, -1).expect("mempool"))
}

fn open(name: &str, pool: &Arc<Mempool>) -> Port {
    let id = Port::find(name).unwrap_or_else(|| panic!("{name} is attached"));
    let port = Port::open(eal(), id, &PortConfig::default(), pool.clone()).expect("configure port");
    port.start().expect("start port");
    port
}

/// A recognisable Ethernet frame: broadcast dst, a per-frame src, then a counting payload.
fn frame(i: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, (i >> 8) as u8, i as u8]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    for (j, b) in f[14..].iter_mut().enumerate() {
        *b = (i + j) as u8;
    }
    f
}

fn mbuf_with(pool: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("mbuf");
    assert!(m.set_data(bytes));
    m
}

#[test]
fn net_ring_round_trip_is_byte_exact() {
    let pool = pool("rt_pool", 1024);
    let port = open("net_ring_rt", &pool);
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let frames: Vec<Vec<u8>> = (0..BURST_SIZE).map(|i| frame(i, 60 + i * 17)).collect();
    let mut burst = MbufArray::<BURST_SIZE>::new();
    for f in &frames {
        burst.push(mbuf_with(&pool, f)).unwrap();
    }
    let out = txq.tx_burst(&mut burst);
    assert_eq!((out.sent, out.dropped), (BURST_SIZE, 0));
    assert!(burst.is_empty());

    let mut got = MbufArray::<BURST_SIZE>::new();
    assert_eq!(rxq.rx_burst(&mut got), BURST_SIZE);
    for (m, f) in got.as_slice().iter().zip(&frames) {
        assert_eq!(m.data(), f.as_slice());
    }
    drop(got);
    assert_eq!(pool.in_use(), 0);
    let stats = port.stats().unwrap();
    assert_eq!(stats.tx_packets, BURST_SIZE as u64);
    assert_eq!(stats.rx_packets, BURST_SIZE as u64);
}

#[test]
fn net_ring_carries_a_million_packets_in_bursts_of_32() {
    const TOTAL: usize = 1_000_000;
    let pool = pool("pool_1m", 2048);
    let port = open("net_ring_1m", &pool);
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let mut burst = MbufArray::<BURST_SIZE>::new();
    assert!(pool.alloc_bulk(&mut burst, BURST_SIZE));
    for (i, m) in burst.as_mut_slice().iter_mut().enumerate() {
        assert!(m.set_data(&frame(i, 64)));
    }
    let start = Instant::now();
    let mut moved = 0;
    while moved < TOTAL {
        let out = txq.tx_burst(&mut burst);
        assert_eq!(out.dropped, 0, "ring refused packets");
        let got = rxq.rx_burst(&mut burst);
        assert_eq!(got, BURST_SIZE);
        moved += got;
    }
    let secs = start.elapsed().as_secs_f64();
    // A figure for the record, not an assertion: speed is measured in benchmarks.
    println!(
        "net_ring round trip: {moved} packets in {secs:.3}s = {:.2} Mpps",
        moved as f64 / secs / 1e6
    );
    for (i, m) in burst.as_slice().iter().enumerate() {
        assert_eq!(
            m.data(),
            frame(i, 64).as_slice(),
            "payload changed in flight"
        );
    }
    drop(burst);
    assert_eq!(pool.in_use(), 0);
    assert_eq!(port.stats().unwrap().rx_packets, TOTAL as u64);
}

#[test]
fn net_null_port_receives() {
    let pool = pool("null_pool", 1024);
    let port = open("net_null_rx", &pool);
    let mut rxq = port.rx_queue(0).unwrap();
    let mut got = MbufArray::<BURST_SIZE>::new();
    assert!(rxq.rx_burst(&mut got) > 0, "net_null produces packets");
    assert!(got
        .as_slice()
        .iter()
        .all(|m| m.len() == 64 && m.refcnt() == 1));
    let n = got.len() as u32;
    assert_eq!(pool.in_use(), n);
    let mut txq = port.tx_queue(0).unwrap();
    let out = txq.tx_burst(&mut got);
    assert_eq!(out.sent + out.dropped, n as usize);
    assert_eq!(pool.in_use(), 0, "net_null frees what it transmits");
}

#[test]
fn mempool_in_use_returns_to_baseline_after_sends_drops_and_failed_tx() {
    let pool = pool("acct_pool", 8192);
    let port = open("net_ring_acct", &pool);
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let baseline = pool.in_use();

    // Plain drops.
    for i in 0..100 {
        drop(mbuf_with(&pool, &frame(i, 64)));
    }
    assert_eq!(pool.in_use(), baseline);

    // Fill the ring until the device refuses: refused packets are freed and counted.
    let mut refused = 0;
    let mut accepted = 0;
    for _ in 0..200 {
        let mut burst = MbufArray::<BURST_SIZE>::new();
        assert!(pool.alloc_bulk(&mut burst, BURST_SIZE));
        let out = txq.tx_burst(&mut burst);
        assert!(burst.is_empty());
        accepted += out.sent;
        refused += out.dropped;
    }
    assert!(refused > 0, "the ring never filled up");
    assert_eq!(
        pool.in_use() as usize,
        baseline as usize + accepted,
        "refused mbufs leaked"
    );

    // Drain what the ring holds.
    let mut drained = 0;
    loop {
        let mut burst = MbufArray::<BURST_SIZE>::new();
        let n = rxq.rx_burst(&mut burst);
        if n == 0 {
            break;
        }
        drained += n;
    }
    assert_eq!(drained, accepted);
    assert_eq!(pool.in_use(), baseline);
}

#[test]
fn vdev_hotplugged_at_runtime_carries_a_packet_and_is_removed() {
    let pool = pool("hp_pool", 512);
    let port = Port::hotplug(eal(), "net_ring_hp0", &PortConfig::default(), pool.clone())
        .expect("hotplug net_ring_hp0");
    assert_eq!(Port::find("net_ring_hp0"), port.id());
    assert_eq!(port.driver(), "net_ring");
    port.start().unwrap();
    {
        let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
        let mut burst = MbufArray::<4>::new();
        burst.push(mbuf_with(&pool, &frame(7, 98))).unwrap();
        assert_eq!(txq.tx_burst(&mut burst).sent, 1);
        assert_eq!(rxq.rx_burst(&mut burst), 1);
        assert_eq!(burst.as_slice()[0].data(), frame(7, 98).as_slice());

        // Removal is refused while queue handles are out.
        let busy = port.clone().remove().unwrap_err();
        assert_eq!(busy.errno, libc::EBUSY);
    }
    let id = port.id().expect("an ethdev port");
    port.remove().expect("remove hotplugged port");
    assert_eq!(Port::find("net_ring_hp0"), None);
    assert!(!Port::ids().contains(&id));
    assert_eq!(pool.in_use(), 0);

    // The same device can come back.
    let again = Port::hotplug(eal(), "net_ring_hp0", &PortConfig::default(), pool.clone()).unwrap();
    again.remove().unwrap();
}

#[test]
fn pmd_work_runs_on_a_worker_lcore() {
    let eal = eal();
    let workers = eal.worker_lcores();
    assert_eq!(workers, vec![1], "-l 0-1 gives one worker");
    let pool = pool("lcore_pool", 1024);
    let port = open("net_ring_lcore", &pool);
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let work_pool = pool.clone();
    let job = eal
        .launch(1, move || {
            let mut burst = MbufArray::<BURST_SIZE>::new();
            if !work_pool.alloc_bulk(&mut burst, BURST_SIZE) {
                return -1;
            }
            let mut moved = 0;
            for _ in 0..1000 {
                txq.tx_burst(&mut burst);
                moved += rxq.rx_burst(&mut burst);
            }
            // The closure must really run on the worker lcore.
            if dpswitch::dpdk::Eal::current_lcore() != Some(1) {
                return -2;
            }
            i32::try_from(moved).unwrap_or(-3)
        })
        .expect("launch on lcore 1");
    assert_eq!(job.wait(), 32_000);
    assert_eq!(pool.in_use(), 0);
    let busy = eal.launch(0, || 0).unwrap_err();
    assert_eq!(busy.errno, libc::EINVAL, "the main lcore is not a worker");
}
