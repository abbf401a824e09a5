//! A tiny netlink client the EPERM test runs under another uid (it cannot drop privileges
//! inside the test process): sends one mutating request (DP NEW) and one read (DP dump) to
//! the daemon and prints their errnos as `new=N dump=N dps=N`.

use nlio::{Client, Timeout, DEFAULT_IDLE};
use odp::family::datapath::{DatapathAttrs, DpCmd};
use odp::family::OvsMessage;

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
    let mut c = Client::connect(server, Timeout::Idle(DEFAULT_IDLE)).unwrap_or_else(|e| {
        eprintln!("nlprobe: {e} (errno {})", e.errno());
        std::process::exit(1);
    });
    let new = OvsMessage::new(
        DpCmd::New,
        0,
        DatapathAttrs {
            name: Some(name),
            upcall_pid: Some(0),
            ..DatapathAttrs::default()
        },
    );
    let e_new = c.transact(new).err().map_or(0, |e| e.errno());
    let dump = OvsMessage::new(DpCmd::Get, 0, DatapathAttrs::default());
    let (dps, e_dump) = match c.dump(dump) {
        Ok(replies) => (replies.len(), 0),
        Err(e) => (0, e.errno()),
    };
    println!("new={e_new} dump={e_dump} dps={dps}");
}
