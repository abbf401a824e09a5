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

/// A hold on a kernel interface's promiscuity, as the kernel datapath takes one for each
/// port it attaches (`dev_set_promiscuity(dev, 1)`): the interface counts one more
/// promiscuous user (`ip -d link`: `promiscuity`) until this value is dropped, without the
/// `PROMISC` flag a user sets. A packet socket that receives nothing carries it.
#[derive(Debug)]
pub struct Promiscuity {
    _sock: std::os::fd::OwnedFd,
}

impl Promiscuity {
    /// Takes a hold on interface `name`'s promiscuity.
    ///
    /// # Errors
    /// ENODEV for a missing interface; the kernel's error otherwise.
    pub fn hold(name: &str) -> io::Result<Promiscuity> {
        use std::os::fd::FromRawFd;
        let ifindex = nix::net::if_::if_nametoindex(name).map_err(io::Error::from)?;
        let ifindex = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
        // Protocol 0: the socket receives nothing; it only carries the membership.
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: packet_mreq is plain data; all-zero is valid.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex;
        mr.mr_type = libc::PACKET_MR_PROMISC as libc::c_ushort;
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::packet_mreq>()).unwrap_or(0);
        // SAFETY: `mr` is a valid packet_mreq of `len` bytes.
        let ret = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                std::ptr::from_ref(&mr).cast(),
                len,
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Promiscuity { _sock: sock })
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

    /// The `promiscuity` count `ip -d link` shows for `name`.
    fn promiscuity(name: &str) -> u32 {
        let out = std::process::Command::new("ip")
            .args(["-d", "-o", "link", "show", name])
            .output()
            .expect("ip");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "promiscuity")
            .and_then(|_| words.next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no promiscuity in {text}"))
    }

    #[test]
    fn a_promiscuity_hold_counts_while_held() {
        let name = format!("stp{}", std::process::id() % 100_000);
        let _tap = StandIn::create(&name).expect("TAP");
        assert_eq!(promiscuity(&name), 0);
        let hold = Promiscuity::hold(&name).expect("hold");
        assert_eq!(promiscuity(&name), 1);
        drop(hold);
        assert_eq!(promiscuity(&name), 0);
        assert!(Promiscuity::hold("no-such-if0").is_err());
    }
}
