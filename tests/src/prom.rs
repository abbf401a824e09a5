//! Real HTTP scrapes of dpswitch's Prometheus endpoint.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A loopback address with a port nothing listens on (for `--metrics`).
pub fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr")
}

/// `GET /metrics` over a real TCP connection; the body.
///
/// # Panics
/// Unless the answer is HTTP 200.
pub fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.contains(" 200 "), "{head}");
    body.to_string()
}

/// Samples by `name{labels}` (labels as the encoder prints them, sorted by name).
pub fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The sample `key`.
///
/// # Panics
/// If the scrape has no such sample.
pub fn get(s: &HashMap<String, f64>, key: &str) -> u64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {s:#?}")) as u64
}
