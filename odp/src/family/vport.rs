//! `ovs_vport` (the `ovs_vport_cmd_*()` handlers in `net/openvswitch/datapath.c`).

use super::{commands, for_each_attr, u32_array, u32_bytes, u64_at, Body};
use crate::error::{Error, Result};
use crate::nl::{attrs, AttrWriter};

commands!(
    /// `OVS_VPORT_CMD_*`.
    VportCmd {
        /// Add a port.
        New = 1,
        /// Remove a port.
        Del = 2,
        /// Get / dump.
        Get = 3,
        /// Reconfigure.
        Set = 4,
    }
);

/// `OVS_VPORT_ATTR_*` numbers.
pub mod attr {
    #![allow(missing_docs)]
    pub const PORT_NO: u16 = 1;
    pub const TYPE: u16 = 2;
    pub const NAME: u16 = 3;
    pub const OPTIONS: u16 = 4;
    pub const UPCALL_PID: u16 = 5;
    pub const STATS: u16 = 6;
    pub const PAD: u16 = 7;
    pub const IFINDEX: u16 = 8;
    pub const NETNSID: u16 = 9;
    pub const UPCALL_STATS: u16 = 10;
    pub const MAX: u16 = 10;
}

/// `OVS_TUNNEL_ATTR_*` inside OPTIONS.
pub mod tunnel_attr {
    #![allow(missing_docs)]
    pub const DST_PORT: u16 = 1;
    pub const EXTENSION: u16 = 2;
}

/// `OVS_VXLAN_EXT_*` flags inside `OVS_TUNNEL_ATTR_EXTENSION`.
pub mod vxlan_ext {
    #![allow(missing_docs)]
    pub const GBP: u16 = 1;
    pub const GPE: u16 = 8;
}

/// `OVS_VPORT_UPCALL_ATTR_*` (SUCCESS is type 0).
pub mod upcall_attr {
    #![allow(missing_docs)]
    pub const SUCCESS: u16 = 0;
    pub const FAIL: u16 = 1;
    /// PAD inside the nest reuses the vport PAD number.
    pub const PAD: u16 = 7;
}

/// `OVS_VPORT_VERSION`.
pub const VERSION: u8 = 1;
/// Port name limit.
pub const NAME_MAX: usize = 15;
/// `OVSP_LOCAL`.
pub const OVSP_LOCAL: u32 = 0;

/// `enum ovs_vport_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VportType {
    /// Existing network device ("system").
    Netdev,
    /// Datapath-owned internal device.
    Internal,
    /// GRE tunnel.
    Gre,
    /// VXLAN tunnel.
    Vxlan,
    /// Geneve tunnel.
    Geneve,
    /// Any other value (userspace-only / removed types).
    Other(u32),
}

impl VportType {
    /// From the wire value.
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => VportType::Netdev,
            2 => VportType::Internal,
            3 => VportType::Gre,
            4 => VportType::Vxlan,
            5 => VportType::Geneve,
            o => VportType::Other(o),
        }
    }
    /// The wire value.
    pub fn to_u32(self) -> u32 {
        match self {
            VportType::Netdev => 1,
            VportType::Internal => 2,
            VportType::Gre => 3,
            VportType::Vxlan => 4,
            VportType::Geneve => 5,
            VportType::Other(o) => o,
        }
    }
    /// The userspace type name (as `ovs-dpctl show` prints it).
    pub fn name(self) -> &'static str {
        match self {
            VportType::Netdev => "system",
            VportType::Internal => "internal",
            VportType::Gre => "gre",
            VportType::Vxlan => "vxlan",
            VportType::Geneve => "geneve",
            VportType::Other(107) => "erspan",
            VportType::Other(108) => "ip6erspan",
            VportType::Other(109) => "ip6gre",
            VportType::Other(110) => "gtpu",
            VportType::Other(111) => "bareudp",
            VportType::Other(112) => "srv6",
            VportType::Other(_) => "unknown",
        }
    }
    /// From a userspace type name (`system` and `tap` map to NETDEV).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "system" | "tap" | "" => VportType::Netdev,
            "internal" => VportType::Internal,
            "gre" => VportType::Gre,
            "vxlan" => VportType::Vxlan,
            "geneve" => VportType::Geneve,
            "erspan" => VportType::Other(107),
            "ip6erspan" => VportType::Other(108),
            "ip6gre" => VportType::Other(109),
            "gtpu" => VportType::Other(110),
            "bareudp" => VportType::Other(111),
            "srv6" => VportType::Other(112),
            _ => return None,
        })
    }
    /// Whether an upstream kernel supports the type (else `EAFNOSUPPORT`).
    pub fn check(self) -> Result<()> {
        match self {
            VportType::Other(v) => Err(Error::UnknownVportType(v)),
            _ => Ok(()),
        }
    }
}

/// `struct ovs_vport_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VportStats {
    /// Received packets.
    pub rx_packets: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Receive drops.
    pub rx_dropped: u64,
    /// Transmit drops.
    pub tx_dropped: u64,
}

impl VportStats {
    /// Parse 64 bytes.
    pub fn parse(p: &[u8]) -> Result<Self> {
        if p.len() != 64 {
            return Err(Error::BadLength {
                what: "vport stats",
                len: p.len(),
            });
        }
        Ok(VportStats {
            rx_packets: u64_at(p, 0),
            tx_packets: u64_at(p, 8),
            rx_bytes: u64_at(p, 16),
            tx_bytes: u64_at(p, 24),
            rx_errors: u64_at(p, 32),
            tx_errors: u64_at(p, 40),
            rx_dropped: u64_at(p, 48),
            tx_dropped: u64_at(p, 56),
        })
    }
    /// Wire bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        let v = [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_errors,
            self.tx_errors,
            self.rx_dropped,
            self.tx_dropped,
        ];
        for (i, x) in v.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&x.to_ne_bytes());
        }
        b
    }
}

/// `OVS_VPORT_ATTR_UPCALL_STATS` nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UpcallStats {
    /// Delivered upcalls.
    pub success: u64,
    /// Failed upcalls.
    pub fail: u64,
}

/// `OVS_VPORT_ATTR_OPTIONS` nest (tunnel options; unknown ones kept raw).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct VportOptions {
    /// `OVS_TUNNEL_ATTR_DST_PORT` (host-order u16).
    pub dst_port: Option<u16>,
    /// `OVS_TUNNEL_ATTR_EXTENSION` flags: the `OVS_VXLAN_EXT_*` types present.
    pub extension: Option<Vec<u16>>,
    /// Other option attributes, in order (type, payload).
    pub other: Vec<(u16, Vec<u8>)>,
}

impl VportOptions {
    fn parse(p: &[u8]) -> Result<Self> {
        let mut o = VportOptions::default();
        for a in attrs(p) {
            let a = a?;
            match a.ty {
                tunnel_attr::DST_PORT => o.dst_port = Some(a.u16("OVS_TUNNEL_ATTR_DST_PORT")?),
                tunnel_attr::EXTENSION => {
                    let mut v = Vec::new();
                    for e in a.nested() {
                        let e = e?;
                        e.flag("vxlan extension")?;
                        v.push(e.ty);
                    }
                    o.extension = Some(v);
                }
                ty => o.other.push((ty, a.payload.to_vec())),
            }
        }
        Ok(o)
    }
    fn emit(&self, w: &mut AttrWriter<'_>) {
        if let Some(p) = self.dst_port {
            w.u16(tunnel_attr::DST_PORT, p);
        }
        if let Some(e) = &self.extension {
            w.nest(tunnel_attr::EXTENSION, |w| {
                for t in e {
                    w.flag(*t);
                }
            });
        }
        for (t, p) in &self.other {
            w.put(*t, p);
        }
    }
}

/// All `ovs_vport` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VportAttrs {
    /// `PORT_NO`.
    pub port_no: Option<u32>,
    /// `TYPE`.
    pub ty: Option<VportType>,
    /// `NAME`.
    pub name: Option<String>,
    /// `OPTIONS`.
    pub options: Option<VportOptions>,
    /// `UPCALL_PID` array (a single u32 without `VPORT_PIDS`).
    pub upcall_pids: Option<Vec<u32>>,
    /// `STATS`.
    pub stats: Option<VportStats>,
    /// `IFINDEX`.
    pub ifindex: Option<u32>,
    /// `NETNSID`.
    pub netnsid: Option<i32>,
    /// `UPCALL_STATS`.
    pub upcall_stats: Option<UpcallStats>,
}

impl Body for VportAttrs {
    type Cmd = VportCmd;
    const FAMILY_NAME: &'static str = "ovs_vport";
    const VERSION: u8 = VERSION;
    const MAX_ATTR: u16 = attr::MAX;

    fn parse(_cmd: VportCmd, buf: &[u8]) -> Result<Self> {
        let mut v = VportAttrs::default();
        for_each_attr(buf, attr::PAD, attr::MAX, |a| {
            match a.ty {
                attr::PORT_NO => v.port_no = Some(a.u32("OVS_VPORT_ATTR_PORT_NO")?),
                attr::TYPE => v.ty = Some(VportType::from_u32(a.u32("OVS_VPORT_ATTR_TYPE")?)),
                attr::NAME => v.name = Some(a.string("OVS_VPORT_ATTR_NAME", NAME_MAX)?),
                attr::OPTIONS => v.options = Some(VportOptions::parse(a.payload)?),
                attr::UPCALL_PID => {
                    v.upcall_pids = Some(u32_array(a.payload, "OVS_VPORT_ATTR_UPCALL_PID")?)
                }
                attr::STATS => v.stats = Some(VportStats::parse(a.payload)?),
                attr::IFINDEX => v.ifindex = Some(a.u32("OVS_VPORT_ATTR_IFINDEX")?),
                attr::NETNSID => {
                    v.netnsid = Some(i32::from_ne_bytes(a.array("OVS_VPORT_ATTR_NETNSID")?))
                }
                attr::UPCALL_STATS => {
                    let mut s = UpcallStats::default();
                    for n in a.nested() {
                        let n = n?;
                        match n.ty {
                            upcall_attr::SUCCESS => s.success = n.u64("upcall success")?,
                            upcall_attr::FAIL => s.fail = n.u64("upcall fail")?,
                            _ => {}
                        }
                    }
                    v.upcall_stats = Some(s)
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(v)
    }

    fn emit(&self, _cmd: VportCmd, w: &mut AttrWriter<'_>) {
        if let Some(p) = self.port_no {
            w.u32(attr::PORT_NO, p);
        }
        if let Some(t) = self.ty {
            w.u32(attr::TYPE, t.to_u32());
        }
        if let Some(n) = &self.name {
            w.string(attr::NAME, n);
        }
        if let Some(i) = self.ifindex {
            w.u32(attr::IFINDEX, i);
        }
        if let Some(i) = self.netnsid {
            w.put(attr::NETNSID, &i.to_ne_bytes());
        }
        if let Some(s) = &self.stats {
            w.put(attr::STATS, &s.to_bytes());
        }
        if let Some(s) = &self.upcall_stats {
            w.nest(attr::UPCALL_STATS, |w| {
                w.u64(upcall_attr::SUCCESS, s.success);
                w.u64(upcall_attr::FAIL, s.fail);
            });
        }
        if let Some(p) = &self.upcall_pids {
            w.put(attr::UPCALL_PID, &u32_bytes(p));
        }
        if let Some(o) = &self.options {
            w.nest(attr::OPTIONS, |w| o.emit(w));
        }
    }
}

/// How a GET/SET/DEL request identifies its vport (`lookup_vport()` in
/// `net/openvswitch/datapath.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VportLookup<'a> {
    /// By name (dp_ifindex, if non-zero, must match).
    Name(&'a str),
    /// By port number in the datapath given by dp_ifindex.
    PortNo(u32),
}

/// Apply the kernel's lookup rule: IFINDEX ⇒ `EOPNOTSUPP`; NAME; PORT_NO
/// (≥ 65535 ⇒ `EFBIG`); neither ⇒ `EINVAL`.
pub fn lookup(a: &VportAttrs) -> Result<VportLookup<'_>> {
    if a.ifindex.is_some() {
        return Err(Error::NotSupported("OVS_VPORT_ATTR_IFINDEX in a lookup"));
    }
    if let Some(n) = &a.name {
        return Ok(VportLookup::Name(n));
    }
    if let Some(p) = a.port_no {
        if p >= 65535 {
            return Err(Error::PortRange);
        }
        return Ok(VportLookup::PortNo(p));
    }
    Err(Error::Missing(
        "OVS_VPORT_ATTR_NAME or OVS_VPORT_ATTR_PORT_NO",
    ))
}

/// Check a vport NEW request's required attributes, as `ovs_vport_cmd_new()` does.
pub fn check_new(a: &VportAttrs) -> Result<()> {
    if a.name.is_none() {
        return Err(Error::Missing("OVS_VPORT_ATTR_NAME"));
    }
    let ty = a.ty.ok_or(Error::Missing("OVS_VPORT_ATTR_TYPE"))?;
    if a.upcall_pids.is_none() {
        return Err(Error::Missing("OVS_VPORT_ATTR_UPCALL_PID"));
    }
    if a.ifindex.is_some() && ty != VportType::Internal {
        return Err(Error::NotSupported("OVS_VPORT_ATTR_IFINDEX for this type"));
    }
    if let Some(p) = a.port_no {
        if p >= 65535 {
            return Err(Error::PortRange);
        }
    }
    if matches!(ty, VportType::Vxlan | VportType::Geneve)
        && a.options.as_ref().and_then(|o| o.dst_port).is_none()
    {
        return Err(Error::Missing("OVS_TUNNEL_ATTR_DST_PORT"));
    }
    ty.check()
}
