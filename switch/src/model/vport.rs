//! Vports as the model keeps them: identity, settings and upcall routing. The device behind a
//! vport is the dataplane's ([`super::Dataplane`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use odp::family::vport::{VportType, NAME_MAX, OVSP_LOCAL};

use crate::error::{Error, Result};
use crate::stats::VportCounters;

/// Port numbers are below this (the kernel's `DP_MAX_PORTS`).
pub const MAX_PORT_NO: u32 = 65535;

/// The vport setting that keeps a port out of the standalone bridge's floods (OVS's
/// `no-flood`), e.g. for the local port on a benchmark or an uplink.
pub const NO_FLOOD: &str = "no-flood";

/// The vport setting for how many rx queues the port's device opens (OVS-DPDK's `n_rxq`);
/// the queues are spread over the PMDs.
pub const N_RXQ: &str = "n_rxq";

/// Most rx queues a port may ask for.
pub const MAX_RXQ: u16 = 64;

/// The vport setting that pins rx queues to PMDs by lcore, as OVS's
/// `other_config:pmd-rxq-affinity`: `QUEUE:CORE[,QUEUE:CORE]...`. A PMD with a pinned queue
/// polls no unpinned one.
pub const RXQ_AFFINITY: &str = "pmd-rxq-affinity";

/// The (queue, lcore) pairs of a `pmd-rxq-affinity` value.
///
/// # Errors
/// [`Error::Invalid`] unless it is a comma-separated list of `QUEUE:CORE` numbers with
/// each queue at most once.
pub fn parse_rxq_affinity(value: &str) -> Result<Vec<(u16, u32)>> {
    let bad = || Error::Invalid("pmd-rxq-affinity takes QUEUE:CORE[,QUEUE:CORE]...");
    let mut out: Vec<(u16, u32)> = Vec::new();
    for item in value.split(',') {
        let (q, c) = item.trim().split_once(':').ok_or_else(bad)?;
        let q: u16 = q.trim().parse().map_err(|_| bad())?;
        let c: u32 = c.trim().parse().map_err(|_| bad())?;
        if out.iter().any(|(oq, _)| *oq == q) {
            return Err(bad());
        }
        out.push((q, c));
    }
    Ok(out)
}

/// Checks one vport setting (`docs/protocol.md` §7.1): `devargs`, `no-flood` (a boolean),
/// `n_rxq` (1 to [`MAX_RXQ`]) or `pmd-rxq-affinity`. An empty value, which removes a
/// setting, passes for those keys.
///
/// # Errors
/// [`Error::Invalid`] for any other key or a value the key cannot take: a setting that
/// would be stored without effect is refused.
pub fn check_setting(key: &str, value: &str) -> Result<()> {
    let (valid, wants) = match key {
        odp::dpswitch::DEVARGS => return Ok(()),
        NO_FLOOD => (
            matches!(value, "true" | "1" | "yes" | "false" | "0" | "no"),
            "no-flood takes true or false",
        ),
        N_RXQ => (
            value
                .parse::<u16>()
                .is_ok_and(|n| (1..=MAX_RXQ).contains(&n)),
            "n_rxq takes 1 to 64",
        ),
        RXQ_AFFINITY if !value.is_empty() => return parse_rxq_affinity(value).map(|_| ()),
        RXQ_AFFINITY => return Ok(()),
        _ => return Err(Error::Invalid("unknown vport setting")),
    };
    if valid || value.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(wants))
    }
}

/// The `pmd-rxq-affinity` of `options` (already checked by [`check_setting`]).
pub fn rxq_affinity(options: &BTreeMap<String, String>) -> Vec<(u16, u32)> {
    options
        .get(RXQ_AFFINITY)
        .and_then(|v| parse_rxq_affinity(v).ok())
        .unwrap_or_default()
}

/// The `n_rxq` of `options`, if set (already checked by [`check_setting`]).
pub fn n_rxq(options: &BTreeMap<String, String>) -> Option<u16> {
    options.get(N_RXQ).and_then(|v| v.parse().ok())
}

/// What backs a vport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VportKind {
    /// A device given by DPDK devargs, or the kernel interface of the vport's name (OVS
    /// "system" ports).
    Netdev,
    /// A datapath-owned TAP device whose kernel netdev carries the vport's name.
    Internal,
}

impl VportKind {
    /// The kind for a wire vport type; tunnel types have no implementation (EAFNOSUPPORT,
    /// what a kernel without the tunnel's module answers).
    ///
    /// # Errors
    /// [`Error::VportType`] for tunnel types.
    pub fn from_wire(t: VportType) -> Result<Self> {
        match t {
            VportType::Netdev => Ok(VportKind::Netdev),
            VportType::Internal => Ok(VportKind::Internal),
            _ => Err(Error::VportType),
        }
    }

    /// The wire vport type.
    pub fn wire(self) -> VportType {
        match self {
            VportKind::Netdev => VportType::Netdev,
            VportKind::Internal => VportType::Internal,
        }
    }
}

/// What a new vport is made of.
#[derive(Debug, Clone)]
pub struct VportSpec {
    /// Name (at most 15 bytes).
    pub name: String,
    /// Netdev or internal.
    pub kind: VportKind,
    /// DPDK devargs; None: the dataplane's default for the kind and name.
    pub devargs: Option<String>,
    /// Requested port number (None or 0: the lowest free one).
    pub port_no: Option<u32>,
    /// Upcall port ids.
    pub upcall_pids: Vec<u32>,
    /// Settings, echoed in replies (`devargs` among them).
    pub options: BTreeMap<String, String>,
}

/// A port of a datapath.
#[derive(Debug)]
pub struct Vport {
    /// Port number within the datapath.
    pub port_no: u32,
    /// Vport name (the TAP netdev's name for internal ports).
    pub name: String,
    /// What backs it.
    pub kind: VportKind,
    /// The DPDK devargs its device was made from.
    pub devargs: String,
    /// Netlink port ids MISS upcalls for packets from this port go to (empty or `[0]`:
    /// none; any non-zero id puts the port under a controller).
    pub upcall_pids: Vec<u32>,
    /// Kernel ifindex of the backing netdev, 0 if it has none.
    pub ifindex: u32,
    /// Settings given at creation or by SET.
    pub options: BTreeMap<String, String>,
    /// Software counters (shared with the PMDs).
    pub counters: Arc<VportCounters>,
}

impl Vport {
    /// Whether the standalone bridge floods to this port.
    pub fn floods(&self) -> bool {
        !matches!(
            self.options.get(NO_FLOOD).map(String::as_str),
            Some("true" | "1" | "yes")
        )
    }

    /// The upcall port id for a packet with `hash`, or None when upcalls are off.
    pub fn upcall_pid(&self, hash: u32) -> Option<u32> {
        let n = self.upcall_pids.len();
        if n == 0 {
            return None;
        }
        let pid = self.upcall_pids[hash as usize % n];
        (pid != 0).then_some(pid)
    }

    /// Whether any upcall port id is set.
    pub fn has_controller(&self) -> bool {
        self.upcall_pids.iter().any(|&p| p != 0)
    }
}

/// Checks a vport or datapath name as the kernel does (non-empty, at most 15 bytes, no NUL
/// or '/'); space and ',' would break the devargs a name ends up in.
///
/// # Errors
/// [`Error::BadName`].
pub fn check_name(name: &str) -> Result<()> {
    if !name.is_empty() && name.len() <= NAME_MAX && !name.contains(['\0', '/', ' ', ',']) {
        Ok(())
    } else {
        Err(Error::BadName(name.to_string()))
    }
}

/// Picks a port number: the requested one if free, else the lowest free number from 1.
///
/// # Errors
/// [`Error::PortBusy`] if the requested one is taken, [`Error::PortRange`] if it is too large
/// or none is left.
pub fn allocate_port_no<V>(used: &BTreeMap<u32, V>, requested: Option<u32>) -> Result<u32> {
    match requested {
        Some(n) if n != OVSP_LOCAL => {
            if n >= MAX_PORT_NO {
                Err(Error::PortRange)
            } else if used.contains_key(&n) {
                Err(Error::PortBusy(n))
            } else {
                Ok(n)
            }
        }
        _ => {
            let mut want = 1;
            for &n in used.keys() {
                if n < want {
                    continue;
                }
                if n != want {
                    break;
                }
                want += 1;
            }
            if want >= MAX_PORT_NO {
                Err(Error::PortRange)
            } else {
                Ok(want)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settings_with_an_effect_are_taken() {
        for (k, v) in [
            ("devargs", "net_null0,no-rx=1"),
            (NO_FLOOD, "true"),
            (NO_FLOOD, "no"),
            (N_RXQ, "1"),
            (N_RXQ, "64"),
            (NO_FLOOD, ""),
            (RXQ_AFFINITY, "0:3, 1:7"),
        ] {
            assert!(check_setting(k, v).is_ok(), "{k}={v}");
        }
        for (k, v) in [
            ("mtu", "1500"),
            ("mtu", ""),
            ("1:2", ""),
            (RXQ_AFFINITY, "0:3,0:4"),
            (RXQ_AFFINITY, "0-3"),
            (NO_FLOOD, "maybe"),
            (N_RXQ, "0"),
            (N_RXQ, "65"),
            (N_RXQ, "two"),
        ] {
            assert_eq!(
                check_setting(k, v).map_err(|e| e.errno()),
                Err(odp::errno::EINVAL),
                "{k}={v}"
            );
        }
        let o = BTreeMap::from([(N_RXQ.to_string(), "4".to_string())]);
        assert_eq!(n_rxq(&o), Some(4));
        assert_eq!(n_rxq(&BTreeMap::new()), None);
    }

    #[test]
    fn port_numbers_follow_the_kernels_rules() {
        let mut used: BTreeMap<u32, ()> = BTreeMap::new();
        used.insert(0, ());
        assert_eq!(allocate_port_no(&used, None), Ok(1));
        used.insert(1, ());
        used.insert(3, ());
        assert_eq!(allocate_port_no(&used, None), Ok(2));
        assert_eq!(allocate_port_no(&used, Some(0)), Ok(2), "0 means pick one");
        assert_eq!(allocate_port_no(&used, Some(3)), Err(Error::PortBusy(3)));
        assert_eq!(allocate_port_no(&used, Some(7)), Ok(7));
        assert_eq!(allocate_port_no(&used, Some(65535)), Err(Error::PortRange));
        let full: BTreeMap<u32, ()> = (0..MAX_PORT_NO).map(|n| (n, ())).collect();
        assert_eq!(allocate_port_no(&full, None), Err(Error::PortRange));
    }

    #[test]
    fn names_follow_ifnamsiz() {
        assert!(check_name("dp0").is_ok());
        assert!(check_name("a23456789012345").is_ok());
        assert!(check_name("a234567890123456").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
    }
}
