//! Prometheus metrics over HTTP: a registry the rest of the switch adds collectors to, served
//! at `GET /metrics` by a small HTTP thread, so a scrape never touches a PMD thread.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

mod collector;
mod conntrack;
mod drop_warnings;

pub use collector::{register, SwitchCollector};
pub use conntrack::ConntrackCollector;
pub use drop_warnings::{DropWarnings, DROP_WARN_INTERVAL};

use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};

/// The default `--metrics` address: loopback only, so metrics are not exposed off the host
/// unless asked for.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9476";

/// A registry pre-loaded with `dpswitch_build_info`.
///
/// # Errors
/// Only if the metric definitions are invalid (a programming error caught by the tests).
pub fn registry(dpdk_version: &str) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let build = IntGaugeVec::new(
        Opts::new(
            "build_info",
            "dpswitch build: version and the DPDK it runs on; always 1",
        )
        .namespace("dpswitch"),
        &["version", "dpdk_version"],
    )?;
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION"), dpdk_version])
        .set(1);
    registry.register(Box::new(build))?;
    Ok(registry)
}

/// The HTTP thread serving a registry.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves `registry` until dropped.
    ///
    /// # Errors
    /// The bind error (address in use, permission denied, ...).
    pub fn start(addr: SocketAddr, registry: Registry) -> io::Result<Self> {
        let server = Arc::new(tiny_http::Server::http(addr).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("metrics server bound to a non-IP address"))?;
        let srv = server.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || serve(&srv, &registry))?;
        Ok(MetricsServer {
            addr,
            server,
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, registry: &Registry) {
    let encoder = TextEncoder::new();
    let content_type = tiny_http::Header::from_bytes("Content-Type", encoder.format_type())
        .expect("static header is valid");
    for request in server.incoming_requests() {
        let response = match (request.method(), request.url()) {
            (tiny_http::Method::Get, "/metrics") => {
                let mut body = Vec::with_capacity(16 << 10);
                match encoder.encode(&registry.gather(), &mut body) {
                    Ok(()) => {
                        tiny_http::Response::from_data(body).with_header(content_type.clone())
                    }
                    Err(e) => {
                        tiny_http::Response::from_string(format!("encoding metrics failed: {e}\n"))
                            .with_status_code(500)
                    }
                }
            }
            (tiny_http::Method::Get, _) => {
                tiny_http::Response::from_string("not found; metrics are at /metrics\n")
                    .with_status_code(404)
            }
            _ => tiny_http::Response::from_string("method not allowed\n").with_status_code(405),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!(error = %e, "metrics client went away");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scrape_over_http_returns_prometheus_text() {
        let reg = registry("DPDK 22.11.11").unwrap();
        let srv = MetricsServer::start("127.0.0.1:0".parse().unwrap(), reg).unwrap();
        let resp = get(srv.addr(), "/metrics");
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "{resp}"
        );
        assert!(resp.contains("text/plain; version=0.0.4"), "{resp}");
        let line = format!(
            "dpswitch_build_info{{dpdk_version=\"DPDK 22.11.11\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(resp.contains(&line), "{resp}");
        assert!(get(srv.addr(), "/nope").contains(" 404 "));
    }
}
