//! A tiny netlink client the EPERM test runs under another uid (it cannot drop privileges
//! inside the test process): sends one mutating request (DP NEW) and one read (DP dump) to
//! the daemon and prints their errnos as `new=N dump=N`.

use dpswitch_e2e::nlclient::NlClient;
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::nl::flags;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(name)) = (args.next(), args.next()) else {
        eprintln!("usage: nlprobe SERVER_PORT_ID DP_NAME");
        std::process::exit(2);
    };
    let Ok(server) = server.parse::<u32>() else {
        eprintln!("bad port id");
        std::process::exit(2);
    };
    let mut c = NlClient::connect(server);
    let new = c.msg(
        DpCmd::New,
        0,
        DatapathAttrs {
            name: Some(name),
            upcall_pid: Some(0),
            ..DatapathAttrs::default()
        },
    );
    let (_, e_new) = c.transact(new, 0);
    let dump = c.msg(DpCmd::Get, 0, DatapathAttrs::default());
    let (replies, e_dump) = c.transact(dump, flags::DUMP);
    println!("new={e_new} dump={e_dump} dps={}", replies.len());
}
