//! The `dpswitch` daemon.
//!
//! Today it brings up the EAL with the given arguments (they pass straight through: `-l`,
//! `--vdev`, `--no-huge`, ...) and reports the lcores and ports it found. The forwarding
//! runtime, the netlink control plane and metrics build on this (see the README).

use std::process::ExitCode;

use dpswitch::dpdk::{self, Eal, Port};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let eal = match Eal::init(&args) {
        Ok(eal) => eal,
        Err(e) => {
            eprintln!("dpswitch: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(dpdk = %dpdk::version(), args = ?eal.args(), tsc_hz = eal.tsc_hz(), "EAL up");
    tracing::info!(main = eal.main_lcore(), workers = ?eal.worker_lcores(), "lcores");
    for id in Port::ids() {
        let name = Port::find_name(id).unwrap_or_default();
        tracing::info!(port = id, %name, "ethdev port");
    }
    ExitCode::SUCCESS
}
