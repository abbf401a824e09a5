use odp::family::flow::FlowAttrs;
use odp::family::vport::VportType;
use odp::family::FlowStats;
use odp::text;

use super::flow::dump_type_selects_ovs;
use super::*;
use crate::dpif::{EAFNOSUPPORT, EINVAL};

#[test]
fn iface_arguments() {
    assert_eq!(split_iface("eth9").unwrap(), ("eth9".to_string(), vec![]));
    let (n, o) = split_iface("p0,type=dpdk,port_no=5,devargs=net_tap0,iface=p0").unwrap();
    assert_eq!(n, "p0");
    assert_eq!(
        o,
        [
            ("type".to_string(), "dpdk".to_string()),
            ("port_no".to_string(), "5".to_string()),
            ("devargs".to_string(), "net_tap0,iface=p0".to_string()),
        ]
    );
    let (_, o) = split_iface("p0,devargs=\"net_null0,no-rx=1\",type=dpdk,,n_rxq=2,flag").unwrap();
    assert_eq!(
        o,
        [
            ("devargs".to_string(), "net_null0,no-rx=1".to_string()),
            ("type".to_string(), "dpdk".to_string()),
            ("n_rxq".to_string(), "2".to_string()),
            ("flag".to_string(), String::new()),
        ]
    );
    assert_eq!(split_iface(",type=internal").unwrap().0, "");
    assert!(split_iface("p0,=x").is_err());
    assert!(split_iface("p0,devargs=\"open").is_err());
    assert!(split_iface("p0,devargs=\"a\"b").is_err());
    // Any value may be quoted.
    let (_, o) = split_iface("p0,pmd-rxq-affinity=\"0:1,1:2\",n_rxq=2").unwrap();
    assert_eq!(
        o,
        [
            ("pmd-rxq-affinity".to_string(), "0:1,1:2".to_string()),
            ("n_rxq".to_string(), "2".to_string()),
        ]
    );
    assert!(split_iface("p0,pmd-rxq-affinity=\"0:1").is_err());
}

#[test]
fn c_atoi() {
    assert_eq!(atoi("12"), 12);
    assert_eq!(atoi(" 7x"), 7);
    assert_eq!(atoi("-3"), -3);
    assert_eq!(atoi("abc"), 0);
    assert_eq!(atoi(""), 0);
}

#[test]
fn vport_requests() {
    let v = new_vport(
        "p0",
        "dpdk",
        Some(5),
        &[("devargs".into(), "net_null0,no-rx=1".into())],
    )
    .unwrap();
    assert_eq!(v.ty, Some(VportType::Netdev));
    assert_eq!(v.port_no, Some(5));
    assert_eq!(v.upcall_pids, Some(vec![0]));
    assert_eq!(
        odp::dpswitch::settings(v.options.as_ref().unwrap()),
        [("devargs".to_string(), "net_null0,no-rx=1".to_string())]
    );
    let v = new_vport("i0", "internal", None, &[]).unwrap();
    assert_eq!(v.ty, Some(VportType::Internal));
    assert_eq!(v.options, None);
    assert_eq!(
        new_vport("e", "system", None, &[]).unwrap().ty,
        Some(VportType::Netdev)
    );
    let v = new_vport("vx", "vxlan", None, &[]).unwrap();
    assert_eq!(v.options.unwrap().dst_port, Some(4789));
    let v = new_vport("vx", "vxlan", None, &[("dst_port".into(), "8472".into())]).unwrap();
    assert_eq!(v.options.unwrap().dst_port, Some(8472));
    assert_eq!(
        new_vport("vx", "vxlan", None, &[("dst_port".into(), "x".into())]),
        Err(EINVAL)
    );
    assert_eq!(new_vport("z", "bogus", None, &[]), Err(EAFNOSUPPORT));
}

#[test]
fn flow_file_lines() {
    let (c, f, a) = parse_flow_line(
        LineCmd::Add,
        "  in_port(1),eth(),eth_type(0x0800),ipv4(frag=no) 2 ",
    );
    assert_eq!(c, LineCmd::Add);
    assert_eq!(
        f.as_deref(),
        Some("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)")
    );
    assert_eq!(a.as_deref(), Some("2"));
    let (c, f, a) = parse_flow_line(LineCmd::Add, "delete in_port(1),eth_type(0x0806)");
    assert_eq!(
        (c, f.as_deref(), a),
        (LineCmd::Delete, Some("in_port(1),eth_type(0x0806)"), None)
    );
    let (c, _, a) = parse_flow_line(LineCmd::Add, "modify in_port(2),eth() drop");
    assert_eq!((c, a.as_deref()), (LineCmd::Modify, Some("drop")));
    let (c, f, _) = parse_flow_line(LineCmd::Modify, "in_port(1),eth() 3,4");
    assert_eq!((c, f.is_some()), (LineCmd::Modify, true));
    assert_eq!(
        parse_flow_line(LineCmd::Add, "add"),
        (LineCmd::Add, None, None)
    );
}

#[test]
fn argument_counts() {
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let c = find("add-flow").unwrap();
    assert_eq!(
        check_args(c, &argv(&["add-flow", "x"])).unwrap_err(),
        "'add-flow' command requires at least 2 arguments"
    );
    assert_eq!(
        check_args(c, &argv(&["add-flow", "a", "b", "c", "d"])).unwrap_err(),
        "'add-flow' command takes at most 3 arguments"
    );
    assert!(check_args(c, &argv(&["add-flow", "a", "b"])).is_ok());
    assert_eq!(
        check_args(find("dump-dps").unwrap(), &argv(&["dump-dps", "x"])).unwrap_err(),
        "'dump-dps' command takes at most 0 arguments"
    );
    assert!(find("frobnicate").is_none());
}

#[test]
fn help_lists_every_command() {
    let u = usage();
    let l = list_commands_text();
    for c in COMMANDS {
        // The testing aid stays out of -h, as in ovs-dpctl, but list-commands shows it.
        assert!(
            u.contains(c.name) || c.name == "parse-actions",
            "{} missing from -h",
            c.name
        );
        assert!(l.contains(&format!("  {:<23} {}\n", c.name, c.usage)));
    }
    assert!(u.contains("--netlink-pid"));
    assert!(u.contains("1146114903"));
    assert!(l.starts_with("The available commands are:\n  add-dp                  dp [iface...]\n"));
}

#[test]
fn parse_actions_prints_canonical_form() {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut input: &[u8] = b"";
    let o = crate::opts::Opts::default();
    let mut ctx = Ctx::new(o, &mut out, &mut err, &mut input, None);
    let argv: Vec<String> = ["parse-actions", "1,2", "recirc(1)", "bogus("]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(parse_actions(&mut ctx, &argv), EINVAL);
    drop(ctx);
    assert_eq!(String::from_utf8_lossy(&out), "1,2\nrecirc(0x1)\n");
    assert_eq!(
        String::from_utf8_lossy(&err),
        "dpctl: odp_actions_from_string (Invalid argument)\n"
    );
}

#[test]
fn pow2_rounding() {
    assert_eq!(round_up_pow2(0), 0);
    assert_eq!(round_up_pow2(1), 1);
    assert_eq!(round_up_pow2(100), 128);
    assert_eq!(round_up_pow2(256), 256);
    assert_eq!(round_up_pow2(u32::MAX), 0);
}

#[test]
fn dump_types() {
    assert_eq!(dump_type_selects_ovs(""), Ok(true));
    assert_eq!(dump_type_selects_ovs("ovs"), Ok(true));
    assert_eq!(dump_type_selects_ovs("tc,offloaded"), Ok(false));
    assert_eq!(dump_type_selects_ovs("all"), Ok(true));
    assert_eq!(dump_type_selects_ovs("x"), Err("x".to_string()));
}

fn flow(s: &str, actions: &str) -> FlowAttrs {
    let (key, mask) = text::parse_key(s, None).unwrap();
    FlowAttrs {
        key: Some(key),
        mask: Some(mask),
        actions: Some(text::parse_actions(actions, None).unwrap()),
        stats: Some(FlowStats {
            n_packets: 10,
            n_bytes: 600,
        }),
        used: Some(99_500),
        ..Default::default()
    }
}

#[test]
fn dump_flows_lines_golden() {
    // A flow as ovs-vswitchd installs it, printed as `format_dpif_flow()` (OVS
    // `lib/dpctl.c`) prints it.
    let f = flow(
        "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(frag=no)",
        "2",
    );
    assert_eq!(
        flow_line(&f, None, false, 100_000),
        "recirc_id(0),in_port(1),eth_type(0x0800),ipv4(frag=no), packets:10, bytes:600, used:0.500s, actions:2"
    );
    let mut f = flow("in_port(1),eth(),eth_type(0x0806),arp()", "drop");
    f.stats = None;
    f.used = None;
    f.ufid = Some(vec![
        0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0xcd, 0xab, 0x00, 0x00, 0xef, 0xbe, 0x44, 0x33, 0x22,
        0x11,
    ]);
    assert_eq!(
        flow_line(&f, None, false, 100_000),
        "in_port(1),eth(),eth_type(0x0806), packets:0, bytes:0, used:never, actions:drop"
    );
    let m = flow_line(&f, None, true, 100_000);
    assert!(m.starts_with("ufid:12345678-abcd-1234-beef-000011223344, in_port(1),eth(src=00:00:00:00:00:00/00:00:00:00:00:00,"), "{m}");
    assert!(
        m.ends_with(", packets:0, bytes:0, used:never, dp:ovs, actions:drop"),
        "{m}"
    );
    let mut names = PortNames::new();
    names.insert(1, "p0");
    names.insert(2, "p1");
    let f = flow("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)", "2");
    assert_eq!(
        flow_line(&f, Some(&names), false, 100_000),
        "in_port(p0),eth(),eth_type(0x0800),ipv4(frag=no), packets:10, bytes:600, used:0.500s, actions:p1"
    );
}
