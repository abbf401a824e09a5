//! The daemon's process, as `/proc` shows it: found by its netlink port id, alive, VmRSS.

pub(crate) fn vmrss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The pid of the process whose command line names `--netlink-pid P`.
pub(crate) fn find_daemon(netlink_pid: u32) -> Option<u32> {
    let want = netlink_pid.to_string();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_dpswitch = argv
            .first()
            .is_some_and(|a| a.ends_with(b"dpswitch") || a.ends_with(b"/dpswitch"));
        let names = argv.windows(2).any(|w| {
            (w[0] == b"--netlink-pid" && w[1] == want.as_bytes())
                || w[0] == format!("--netlink-pid={want}").as_bytes()
        }) || argv
            .iter()
            .any(|a| *a == format!("--netlink-pid={want}").as_bytes());
        if is_dpswitch && names {
            return Some(pid);
        }
    }
    None
}

pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // State is the field after the parenthesised command name.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}
