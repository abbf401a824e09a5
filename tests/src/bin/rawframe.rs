//! Raw Ethernet frames on a kernel interface (AF_PACKET), for end-to-end tests that need
//! exact frame counts through dpswitch's TAP ports. Run inside a test's network namespace:
//!
//! ```text
//! rawframe send IFACE DST SRC ETHERTYPE COUNT [FIRST_SEQ]
//!     sends COUNT 60-byte frames, each carrying a big-endian sequence number after the
//!     Ethernet header (FIRST_SEQ, FIRST_SEQ + 1, ...); prints "sent N"
//! rawframe recv IFACE ETHERTYPE SECS SRC
//!     prints "ready", then counts the frames of ETHERTYPE from source MAC SRC seen for SECS
//!     seconds and prints "received N distinct M" (M distinct sequence numbers). Filtering
//!     by source keeps frames sent from the same interface (which AF_PACKET shows too) out.
//! ```
//! MACs are written aa:bb:cc:dd:ee:ff; ETHERTYPE in hex (0x88b5).

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender};

fn mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad MAC {s:?}: {e}"))?;
    parts
        .try_into()
        .map_err(|_| format!("bad MAC {s:?}: want six bytes"))
}

fn hex16(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("bad {s:?}: {e}"))
}

/// Both directions of an AF_PACKET socket on one interface.
type Link = (Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>);

fn channel(iface: &str) -> Result<Link, String> {
    let ni = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == iface)
        .ok_or_else(|| format!("no interface {iface}"))?;
    let cfg = Config {
        read_timeout: Some(Duration::from_millis(50)),
        ..Config::default()
    };
    match pnet_datalink::channel(&ni, cfg) {
        Ok(Channel::Ethernet(tx, rx)) => Ok((tx, rx)),
        Ok(_) => Err("not an Ethernet channel".into()),
        Err(e) => Err(format!("AF_PACKET on {iface}: {e}")),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("send") if args.len() >= 6 => {
            let (mut tx, _rx) = channel(&args[1])?;
            let (dst, src, ty) = (mac(&args[2])?, mac(&args[3])?, hex16(&args[4])?);
            let count: u32 = args[5].parse().map_err(|e| format!("count: {e}"))?;
            let first: u32 = match args.get(6) {
                Some(s) => s.parse().map_err(|e| format!("first seq: {e}"))?,
                None => 0,
            };
            let mut frame = [0u8; 60];
            frame[..6].copy_from_slice(&dst);
            frame[6..12].copy_from_slice(&src);
            frame[12..14].copy_from_slice(&ty.to_be_bytes());
            for seq in first..first + count {
                // Paced in bursts of 32: a receiver's socket buffer holds a few hundred
                // frames, and the counts must not depend on how fast it drains.
                if seq > first && (seq - first) % 32 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                frame[14..18].copy_from_slice(&seq.to_be_bytes());
                match tx.send_to(&frame, None) {
                    Some(Ok(())) => {}
                    Some(Err(e)) => return Err(format!("send: {e}")),
                    None => return Err("send: no buffer".into()),
                }
            }
            println!("sent {count}");
            Ok(())
        }
        Some("recv") if args.len() >= 5 => {
            let (_tx, mut rx) = channel(&args[1])?;
            let (ty, src) = (hex16(&args[2])?, mac(&args[4])?);
            let secs: f64 = args[3].parse().map_err(|e| format!("secs: {e}"))?;
            println!("ready");
            let _ = std::io::stdout().flush();
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let (mut n, mut seqs) = (0u64, HashSet::new());
            while Instant::now() < end {
                match rx.next() {
                    Ok(f) if f.len() >= 18 && f[12..14] == ty.to_be_bytes() && f[6..12] == src => {
                        n += 1;
                        seqs.insert(u32::from_be_bytes([f[14], f[15], f[16], f[17]]));
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
            println!("received {n} distinct {}", seqs.len());
            Ok(())
        }
        _ => Err(
            "usage: rawframe send IFACE DST SRC ETHERTYPE COUNT [FIRST_SEQ] | \
             rawframe recv IFACE ETHERTYPE SECS SRC"
                .into(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rawframe: {e}");
            ExitCode::FAILURE
        }
    }
}
