//! `dpctl`: an `ovs-dpctl` compatible client for dpswitch.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_pid = std::env::var(dpctl::opts::NETLINK_PID_ENV).ok();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let stdin = std::io::stdin();
    let rc = dpctl::run(
        &args,
        env_pid.as_deref(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        &mut stdin.lock(),
    );
    std::process::exit(rc);
}
