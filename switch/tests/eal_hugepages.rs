//! EAL on real hugepages (set up by `./hugepages.sh`). Its own process: one EAL per process.
//!
//! Without free hugepages the test says so and passes, unless `DPSWITCH_REQUIRE_HUGEPAGES=1`
//! (set by `tests/run.sh`, which reserves them first) makes their absence a failure.

use std::sync::Arc;

use dpswitch::dpdk::{Eal, MbufArray, Mempool, Port, PortConfig};

fn free_2m_hugepages() -> u64 {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn eal_runs_on_hugepages() {
    if free_2m_hugepages() < 128 {
        assert!(
            std::env::var("DPSWITCH_REQUIRE_HUGEPAGES").as_deref() != Ok("1"),
            "fewer than 128 free 2 MiB hugepages; run ./hugepages.sh"
        );
        println!("not run: fewer than 128 free 2 MiB hugepages (./hugepages.sh reserves them)");
        return;
    }
    let prefix = format!("dpswitch_hp_{}", std::process::id());
    let eal = Eal::init([
        "-l",
        "0",
        "--in-memory",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        prefix.as_str(),
        "-m",
        "128",
        "--vdev",
        "net_ring_huge",
    ])
    .expect("EAL init on hugepages");
    let pool =
        Arc::new(Mempool::new(&eal, "huge_pool", 4096, 256, 0).expect("mempool in hugepages"));
    let port = Port::open(
        &eal,
        Port::find("net_ring_huge").unwrap(),
        &PortConfig::default(),
        pool.clone(),
    )
    .unwrap();
    port.start().unwrap();
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let mut burst = MbufArray::<32>::new();
    assert!(pool.alloc_bulk(&mut burst, 32));
    assert_eq!(txq.tx_burst(&mut burst).sent, 32);
    assert_eq!(rxq.rx_burst(&mut burst), 32);
    drop(burst);
    assert_eq!(pool.in_use(), 0);
}
