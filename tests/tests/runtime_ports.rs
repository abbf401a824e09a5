//! Ports come and go while traffic flows on two others: a counted stream of frames from one
//! TAP to another (each in its own namespace, IPv6 off) runs while a third port — a
//! net_null, then a net_tap, alternately — is added and removed with `dpctl add-if` /
//! `del-if` over and over. Every frame of the stream arrives exactly once, the switch does
//! not crash, and it still answers and forwards afterwards.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpswitch_e2e::{magic_frame, sh, unique, Dpswitch, Netns, PacketSocket};

const MAC_A: [u8; 6] = [0x02, 0xe2, 0xe1, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0xe2, 0xe1, 0, 0, 0x0b];
const CYCLES: usize = 8;

fn seq_frame(seq: u32) -> Vec<u8> {
    let mut payload = b"seq:".to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    magic_frame(MAC_B, MAC_A, &payload)
}

fn seq_of(frame: &[u8]) -> Option<u32> {
    let p = frame.get(14..22)?;
    (&p[..4] == b"seq:").then(|| u32::from_be_bytes([p[4], p[5], p[6], p[7]]))
}

#[test]
fn adding_and_removing_a_port_loses_nothing_on_the_others() {
    let dp = unique("dpp");
    let (ta, tb) = (unique("pa"), unique("pb"));
    let pa = format!("{ta}=net_tap_{ta},iface={ta}");
    let pb = format!("{tb}=net_tap_{tb},iface={tb}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &pa, "--port", &pb]);
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{dp}.disable_ipv6=1"),
    ]);
    let (na, nb) = (Netns::new(), Netns::new());
    na.take_quiet(&ta);
    nb.take_quiet(&tb);
    let (a, b) = (PacketSocket::open(&na, &ta), PacketSocket::open(&nb, &tb));

    // B announces itself so the stream is unicast to a learned MAC.
    let hello = magic_frame([0xff; 6], MAC_B, b"hello");
    b.send(&hello);
    assert!(
        a.recv_magic(Duration::from_secs(2)).is_some(),
        "B's broadcast did not reach A:\n{}",
        sw.log_text()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seq = 0u32;
            while !stop.load(Ordering::Relaxed) {
                a.send(&seq_frame(seq));
                seq += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            seq
        })
    };
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        // Ends once nothing has come for 3 s (the stream is over or broken).
        while let Some(f) = b.recv_magic(Duration::from_secs(3)) {
            if let Some(s) = seq_of(&f) {
                got.push(s);
            }
        }
        got
    });

    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..CYCLES {
        let name = unique("px");
        let spec = if i % 2 == 0 {
            format!("{name},type=dpdk,devargs=net_null_{name},no-rx=1")
        } else {
            format!("{name},type=dpdk,devargs=net_tap_{name},iface={name}")
        };
        sw.dpctl_ok(&["add-if", &dp, &spec]);
        assert!(
            sw.dpctl_ok(&["show", &dp])
                .contains(&format!(": {name} (dpdk: devargs=")),
            "port {name} not shown after add-if"
        );
        std::thread::sleep(Duration::from_millis(100));
        sw.dpctl_ok(&["del-if", &dp, &name]);
        assert!(!sw.dpctl_ok(&["show", &dp]).contains(&format!(": {name} ")));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    let got = receiver.join().expect("receiver");
    let churn = started.elapsed();

    let unique_seqs: BTreeSet<u32> = got.iter().copied().collect();
    assert_eq!(unique_seqs.len(), got.len(), "duplicated frames");
    let missing: Vec<u32> = (0..sent).filter(|s| !unique_seqs.contains(s)).collect();
    assert!(
        missing.is_empty() && got.len() == sent as usize,
        "{} of {sent} frames lost over {churn:?} of port churn (first: {:?}); log:\n{}",
        missing.len(),
        &missing[..missing.len().min(20)],
        sw.log_text()
    );
    eprintln!("{sent} frames, all delivered, over {churn:?} of {CYCLES} add/del cycles");
    assert!(
        sent > 1000,
        "the stream was too thin to mean anything: {sent}"
    );

    // Still answering, with just the two ports and the local one left, and still forwarding
    // (reverse direction, fresh sockets).
    let show = sw.dpctl_ok(&["show", &dp]);
    assert_eq!(show.matches("  port ").count(), 3, "{show}");
    let (a, b) = (PacketSocket::open(&na, &ta), PacketSocket::open(&nb, &tb));
    let back = magic_frame(MAC_A, MAC_B, b"after");
    b.send(&back);
    assert_eq!(
        a.recv_magic(Duration::from_secs(2)).as_deref(),
        Some(back.as_slice())
    );
    let status = sw.stop();
    assert!(status.success(), "dpswitch exited with {status}");
}
