//! Network namespaces, deleted when dropped.

use std::process::Command;

use crate::exec::sh;
use crate::names::unique;

/// A network namespace, deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with a unique name.
    ///
    /// # Panics
    /// If `ip netns add` fails.
    pub fn new() -> Netns {
        let name = unique("ns");
        sh(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// Moves the interface `ifname` into the namespace, gives it `cidr` and brings it up.
    pub fn adopt(&self, ifname: &str, cidr: &str) {
        sh(&["ip", "link", "set", ifname, "netns", &self.name]);
        self.exec(&["ip", "addr", "add", cidr, "dev", ifname]);
        self.exec(&["ip", "link", "set", ifname, "up"]);
    }

    /// Runs a command inside the namespace; panics unless it succeeds.
    pub fn exec(&self, argv: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        sh(&full)
    }

    /// Runs a command inside the namespace and returns whether it succeeded, and its output.
    pub fn try_exec(&self, argv: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .expect("run ip netns exec");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Netns {
    /// Moves the interface `ifname` into the namespace with IPv6 off (no ND/MLD/RS noise into
    /// the switch) and no address, and brings it up: a quiet port for counted frames.
    pub fn take_quiet(&self, ifname: &str) {
        self.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        self.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        sh(&["ip", "link", "set", ifname, "netns", &self.name]);
        self.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
        ]);
        self.exec(&["ip", "link", "set", ifname, "up"]);
    }

    /// Runs `f` on a thread that has entered this namespace (sockets it opens stay in it).
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("netns thread")
    }
}
