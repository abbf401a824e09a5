//! Real traffic between network namespaces: ping, TCP and UDP from sockets opened inside
//! the namespaces (no external tools), and the kernel's SNMP counters that show checksum
//! errors on the receiving side.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// The outcome of a ping run: whether every request was answered, and ping's output.
#[derive(Debug)]
pub struct PingResult {
    /// All `count` echo replies came back.
    pub all_answered: bool,
    /// What ping printed.
    pub output: String,
}

/// Pings `dst` (IPv4 or IPv6) from `ns` `count` times, 0.2 s apart, each echo request an IP
/// packet of `ip_len` bytes sent with "don't fragment" (`-M do`), so a reply proves the
/// whole packet crossed in one frame.
pub fn ping(ns: &Netns, dst: &str, ip_len: usize, count: u32) -> PingResult {
    let v6 = dst.contains(':');
    let header = if v6 { 40 + 8 } else { 20 + 8 };
    let size = ip_len
        .checked_sub(header)
        .expect("ip_len below the headers");
    let (count_s, size_s) = (count.to_string(), size.to_string());
    let mut argv = vec!["ping"];
    if v6 {
        argv.push("-6");
    }
    argv.extend_from_slice(&[
        "-c", &count_s, "-i", "0.2", "-W", "2", "-M", "do", "-s", &size_s, dst,
    ]);
    let (_, output) = ns.try_exec(&argv);
    let all_answered = output.contains(&format!("{count} received"));
    PingResult {
        all_answered,
        output,
    }
}

/// Pings like [`ping`] but lets the sender fragment (`-M dont`): `ip_len` may exceed the
/// path MTU.
pub fn ping_fragmented(ns: &Netns, dst: &str, ip_len: usize, count: u32) -> PingResult {
    let size = (ip_len - 28).to_string();
    let count_s = count.to_string();
    let (_, output) = ns.try_exec(&[
        "ping", "-c", &count_s, "-i", "0.2", "-W", "2", "-M", "dont", "-s", &size, dst,
    ]);
    PingResult {
        all_answered: output.contains(&format!("{count} received")),
        output,
    }
}

/// Byte `i` of the stream tagged `seed`: content a test can verify at any offset.
fn pattern(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(31).wrapping_add(usize::from(seed)) % 251) as u8
}

fn fill(seed: u8, from: usize, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(seed, from + k);
    }
}

/// Reads exactly `len` bytes of the stream tagged `seed`; the first mismatch or error is
/// the `Err`.
fn read_pattern(s: &mut TcpStream, seed: u8, len: usize, what: &str) -> Result<(), String> {
    let mut buf = vec![0u8; 65536];
    let mut got = 0;
    while got < len {
        let want = (len - got).min(buf.len());
        let n = s
            .read(&mut buf[..want])
            .map_err(|e| format!("{what}: read after {got} of {len} bytes: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: EOF after {got} of {len} bytes"));
        }
        if let Some(k) = (0..n).find(|&k| buf[k] != pattern(seed, got + k)) {
            return Err(format!("{what}: byte {} differs", got + k));
        }
        got += n;
    }
    Ok(())
}

fn write_pattern(s: &mut TcpStream, seed: u8, len: usize, what: &str) -> Result<(), String> {
    let mut buf = vec![0u8; 65536];
    let mut sent = 0;
    while sent < len {
        let n = (len - sent).min(buf.len());
        fill(seed, sent, &mut buf[..n]);
        s.write_all(&buf[..n])
            .map_err(|e| format!("{what}: write after {sent} of {len} bytes: {e}"))?;
        sent += n;
    }
    Ok(())
}

/// One TCP connection from `client` to `server_addr` (a listener opened in `server`): the
/// client sends `up` bytes, the server checks them and answers `down` bytes, which the
/// client checks, like an HTTP upload and its response. `Err` says which side failed where.
pub fn tcp_exchange(
    client: &Netns,
    server: &Netns,
    server_addr: SocketAddr,
    up: usize,
    down: usize,
    timeout: Duration,
) -> Result<(), String> {
    let listener = server
        .run_in(move || TcpListener::bind(server_addr))
        .map_err(|e| format!("bind {server_addr}: {e}"))?;
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let deadline = Instant::now() + timeout;
    let srv = std::thread::spawn(move || -> Result<(), String> {
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("server: no connection arrived".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("server: accept: {e}")),
            }
        };
        s.set_nonblocking(false).expect("blocking stream");
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        s.set_write_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        read_pattern(&mut s, 1, up, "server")?;
        write_pattern(&mut s, 2, down, "server")?;
        s.shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("server: shutdown: {e}"))
    });
    let cli = client.run_in(move || -> Result<(), String> {
        // Two SYN retransmissions: enough for a working path, short for a broken one.
        let connect = timeout.min(Duration::from_secs(5));
        let mut s = TcpStream::connect_timeout(&server_addr, connect)
            .map_err(|e| format!("client: connect to {server_addr}: {e}"))?;
        s.set_read_timeout(Some(timeout)).expect("timeout");
        s.set_write_timeout(Some(timeout)).expect("timeout");
        write_pattern(&mut s, 1, up, "client")?;
        read_pattern(&mut s, 2, down, "client")?;
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => Ok(()),
            Ok(_) => Err(format!("client: {} bytes past the answer", rest.len())),
            Err(e) => Err(format!("client: waiting for EOF: {e}")),
        }
    });
    let srv = srv.join().expect("server thread");
    match (cli, srv) {
        (Ok(()), Ok(())) => Ok(()),
        (c, s) => Err(format!("{c:?} / {s:?}")),
    }
}

/// What a UDP burst delivered.
#[derive(Debug, PartialEq, Eq)]
pub struct UdpOutcome {
    /// Datagrams sent.
    pub sent: usize,
    /// Datagrams received with exactly the content sent.
    pub intact: usize,
    /// Datagrams received with other content.
    pub corrupt: usize,
}

/// Sends `count` UDP datagrams of `size` payload bytes from a socket opened in `client` to
/// one bound at `server_addr` in `server`, and counts what arrives (until 1 s of quiet).
pub fn udp_burst(
    client: &Netns,
    server: &Netns,
    server_addr: SocketAddr,
    count: usize,
    size: usize,
) -> UdpOutcome {
    let rx = server
        .run_in(move || UdpSocket::bind(server_addr))
        .unwrap_or_else(|e| panic!("bind {server_addr}: {e}"));
    let any: SocketAddr = if server_addr.is_ipv6() {
        "[::]:0".parse().expect("address")
    } else {
        "0.0.0.0:0".parse().expect("address")
    };
    let tx = client
        .run_in(move || UdpSocket::bind(any))
        .expect("bind client");
    rx.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut out = UdpOutcome {
        sent: 0,
        intact: 0,
        corrupt: 0,
    };
    let mut buf = vec![0u8; size.max(4)];
    for i in 0..count {
        let seed = (i % 200) as u8;
        fill(seed, 0, &mut buf);
        buf[..4].copy_from_slice(&u32::try_from(i).expect("count").to_be_bytes());
        if tx.send_to(&buf, server_addr).is_ok() {
            out.sent += 1;
        }
        // Paced, so that a lost datagram is the switch's and not a full socket buffer's.
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut got = vec![0u8; 65536];
    while let Ok(n) = rx.recv(&mut got) {
        let i = u32::from_be_bytes([got[0], got[1], got[2], got[3]]) as usize;
        let mut want = vec![0u8; size.max(4)];
        fill((i % 200) as u8, 0, &mut want);
        want[..4].copy_from_slice(&got[..4]);
        if n == size && got[..n] == want[..n] {
            out.intact += 1;
        } else {
            out.corrupt += 1;
        }
    }
    out
}

/// One counter from the namespace's `/proc/net/snmp` (`table` e.g. `Udp`, `field` e.g.
/// `InCsumErrors`) or, for a `table` ending in 6, `/proc/net/snmp6` (`Udp6` + `InCsumErrors`
/// is the line `Udp6InCsumErrors`).
///
/// # Panics
/// If the counter does not exist.
pub fn snmp_counter(ns: &Netns, table: &str, field: &str) -> u64 {
    if table.ends_with('6') {
        let text = ns.exec(&["cat", "/proc/net/snmp6"]);
        let key = format!("{table}{field}");
        return text
            .lines()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some(key.as_str())).then(|| it.next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no {key} in /proc/net/snmp6"));
    }
    let text = ns.exec(&["cat", "/proc/net/snmp"]);
    let prefix = format!("{table}:");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let [names, values] = rows.as_slice() else {
        panic!("no {table} table in /proc/net/snmp:\n{text}");
    };
    let i = names
        .iter()
        .position(|n| *n == field)
        .unwrap_or_else(|| panic!("no {table} {field} in /proc/net/snmp"));
    values[i].parse().expect("counter")
}
