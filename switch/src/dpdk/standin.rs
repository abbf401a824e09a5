//! Stand-in kernel interfaces for DPDK devices. A controller such as `ovs-vswitchd` looks up
//! a kernel network device by a port's name before it asks the datapath to add the port
//! (`lib/netdev-linux.c`, `netdev_linux_construct()`), and a DPDK device has none: dpswitch
//! holds a TAP of that name open for as long as it runs. No packet goes through it; the
//! datapath port behind the name is the DPDK device.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// A TAP interface that exists while this value lives (the kernel removes a non-persistent
/// TAP when its last file descriptor closes).
#[derive(Debug)]
pub struct StandIn {
    name: String,
    _tap: File,
}

impl StandIn {
    /// Creates the TAP interface `name`, administratively down.
    ///
    /// # Errors
    /// `EINVAL` for a name that is not a valid interface name; the kernel's error when the
    /// TAP cannot be made (`EBUSY` when an interface of that name exists).
    pub fn create(name: &str) -> io::Result<StandIn> {
        let cname = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let bytes = cname.as_bytes_with_nul();
        if bytes.len() > libc::IFNAMSIZ || bytes.len() < 2 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let tap = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, &s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = s as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one ifreq, which `req` is, on an open tun fd.
        let ret = unsafe { libc::ioctl(tap.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StandIn {
            name: name.to_string(),
            _tap: tap,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_exists_while_held() {
        let name = format!("sti{}", std::process::id() % 100_000);
        let s = StandIn::create(&name).expect("TAP");
        assert!(nix::net::if_::if_nametoindex(name.as_str()).is_ok());
        assert!(StandIn::create(&name).is_err(), "the name is taken");
        drop(s);
        assert!(nix::net::if_::if_nametoindex(name.as_str()).is_err());
        assert!(StandIn::create("").is_err());
        assert!(StandIn::create("a-name-too-long-for-linux").is_err());
    }
}
