//! The `dpswitch_pmd` family's edges against a real dpswitch: GETFAMILY resolves it next to the
//! OVS families, an unprivileged sender may read but not clear, and malformed or unknown
//! requests get genetlink's errnos while the daemon keeps serving.

use std::process::Command;

use dpswitch_e2e::nlclient::NlClient;
use dpswitch_e2e::{bin, Dpswitch};
use odp::nl::{self, flags, GenlHeader};
use odp::pmd_stats;

const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;

/// Sends a `dpswitch_pmd` message with command `cmd` (or only `raw_payload` when given) and
/// returns the errno of its answer.
fn pmd_request(c: &mut NlClient, family: u16, cmd: u8, raw_payload: Option<&[u8]>) -> Option<i32> {
    let seq = c.next_seq();
    let mut buf = Vec::new();
    match raw_payload {
        None => pmd_stats::emit_request(&mut buf, family, cmd, seq, c.port_id).unwrap(),
        Some(p) => {
            nl::NlMsgHeader {
                len: (nl::NLMSG_HDRLEN + p.len()) as u32,
                ty: family,
                flags: flags::REQUEST | flags::ACK,
                seq,
                pid: c.port_id,
            }
            .emit(&mut buf);
            buf.extend_from_slice(p);
        }
    }
    c.send_raw(&buf).unwrap();
    c.collect(seq, true).1
}

/// `dpctl ARGS` as uid 65534 that kept CAP_NET_ADMIN (needed to reach the daemon at all).
fn unprivileged_dpctl(sw: &Dpswitch, args: &[&str]) -> (i32, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=+net_admin",
            "--ambient-caps=+net_admin",
        ])
        .arg(bin("dpctl"))
        .arg(format!("--netlink-pid={}", sw.netlink_pid))
        .args(args)
        .output()
        .expect("run dpctl under setpriv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn pmd_family_resolves_refuses_and_survives_bad_requests() {
    let sw = Dpswitch::start(&[]);
    let mut c = NlClient::connect(sw.netlink_pid);
    let family = c
        .family(pmd_stats::FAMILY_NAME)
        .expect("dpswitch_pmd resolves");
    assert_eq!(family, c.ids.packet + 1, "the next id after ovs_packet");

    assert_eq!(
        pmd_request(&mut c, family, pmd_stats::cmd::GET, None),
        Some(0)
    );
    // Too short for a genetlink header; then a command the family lacks.
    assert_eq!(pmd_request(&mut c, family, 0, Some(&[1, 1])), Some(EINVAL));
    assert_eq!(
        pmd_request(&mut c, family, 99, None),
        Some(EOPNOTSUPP),
        "unknown command"
    );
    let genl = GenlHeader {
        cmd: pmd_stats::cmd::RXQ,
        version: pmd_stats::VERSION,
    };
    // Trailing junk attributes are ignored, as genetlink does for unknown attributes.
    let mut payload = vec![genl.cmd, genl.version, 0, 0];
    payload.extend_from_slice(&[8, 0, 77, 0, 1, 2, 3, 4]);
    assert_eq!(pmd_request(&mut c, family, 0, Some(&payload)), Some(0));

    // Reading is open to anyone who can reach the daemon; clearing needs root, as every
    // mutating OVS command does.
    let (code, out) = unprivileged_dpctl(&sw, &["pmd-stats-show"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("pmd thread numa_id "), "{out}");
    let (code, out) = unprivileged_dpctl(&sw, &["pmd-stats-clear"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert_eq!(
        pmd_request(&mut c, family, pmd_stats::cmd::CLEAR, None),
        Some(0),
        "root may clear"
    );

    let (status, log) = sw.stop_with_log();
    assert!(status.success(), "{log}");
}
