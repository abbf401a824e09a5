//! The library's settings, read once from the environment.

use std::time::Duration;

/// Where dpswitch listens: its netlink port id (decimal, or hex with `0x`). Unset: dpswitch's
/// default, [`odp::dpswitch::DEFAULT_NETLINK_PID`]. `0` turns the redirect off.
pub const ENV_PID: &str = "DPSWITCH_NETLINK_PID";
/// `kernel` leaves tunnel creation to the kernel (no spoiling); unset or `typed`: spoil.
pub const ENV_TUNNELS: &str = "DPSWITCH_PRELOAD_TUNNELS";
/// How long a receive waits for an answer dpswitch owes, in milliseconds.
pub const ENV_TIMEOUT: &str = "DPSWITCH_PRELOAD_TIMEOUT_MS";
/// The wait when [`ENV_TIMEOUT`] is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// dpswitch's port id; 0: generic netlink is not redirected.
    pub pid: u32,
    /// Whether tunnel-creating `RTM_NEWLINK` requests are made to fail.
    pub spoil_tunnels: bool,
    /// How long a receive waits for an owed answer before giving up.
    pub timeout: Duration,
    /// What was wrong with the environment (the default was used instead).
    pub warnings: Vec<String>,
}

/// A port id in decimal or `0x` hex.
pub fn parse_pid(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Config {
    /// The settings from the variables `get` returns (the process environment in use).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let mut warnings = Vec::new();
        let pid = match get(ENV_PID) {
            None => odp::dpswitch::DEFAULT_NETLINK_PID,
            Some(v) => parse_pid(&v).unwrap_or_else(|| {
                warnings.push(format!(
                    "{ENV_PID}={v:?} is not a port id; using dpswitch's default {:#x}",
                    odp::dpswitch::DEFAULT_NETLINK_PID
                ));
                odp::dpswitch::DEFAULT_NETLINK_PID
            }),
        };
        let spoil_tunnels = match get(ENV_TUNNELS).as_deref() {
            None | Some("typed") => true,
            Some("kernel") => false,
            Some(v) => {
                warnings.push(format!(
                    "{ENV_TUNNELS}={v:?} is neither \"typed\" nor \"kernel\"; using \"typed\""
                ));
                true
            }
        };
        let timeout = match get(ENV_TIMEOUT) {
            None => DEFAULT_TIMEOUT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => {
                    warnings.push(format!(
                        "{ENV_TIMEOUT}={v:?} is not a number of milliseconds; using {}",
                        DEFAULT_TIMEOUT.as_millis()
                    ));
                    DEFAULT_TIMEOUT
                }
            },
        };
        Config {
            pid,
            spoil_tunnels,
            timeout,
            warnings,
        }
    }

    /// Whether generic netlink goes to dpswitch.
    pub fn redirects(&self) -> bool {
        self.pid != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_work_unset() {
        let c = with(&[]);
        assert_eq!(c.pid, 0x4450_5357);
        assert!(c.spoil_tunnels && c.redirects());
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn port_ids_in_decimal_or_hex() {
        assert_eq!(parse_pid("1162892119"), Some(0x4550_5357));
        assert_eq!(parse_pid("0x44505357"), Some(0x4450_5357));
        assert_eq!(parse_pid(" 0X10 "), Some(16));
        assert_eq!(parse_pid("0x"), None);
        assert_eq!(parse_pid("-1"), None);
        assert_eq!(parse_pid("4294967296"), None);
        assert_eq!(with(&[(ENV_PID, "77")]).pid, 77);
        assert!(!with(&[(ENV_PID, "0")]).redirects());
    }

    #[test]
    fn bad_values_fall_back_with_a_warning() {
        let c = with(&[
            (ENV_PID, "dpswitch"),
            (ENV_TUNNELS, "none"),
            (ENV_TIMEOUT, "soon"),
        ]);
        assert_eq!(c.pid, odp::dpswitch::DEFAULT_NETLINK_PID);
        assert!(c.spoil_tunnels);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    }

    #[test]
    fn tunnels_and_timeout() {
        assert!(!with(&[(ENV_TUNNELS, "kernel")]).spoil_tunnels);
        assert!(with(&[(ENV_TUNNELS, "typed")]).spoil_tunnels);
        assert_eq!(
            with(&[(ENV_TIMEOUT, "250")]).timeout,
            Duration::from_millis(250)
        );
    }
}
