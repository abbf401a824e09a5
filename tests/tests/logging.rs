//! `--log-format json`: every log line dpswitch itself writes is one JSON object with the
//! documented fields (timestamp, level, target, fields.message and structured fields such as
//! dp, port, pmd).

use dpswitch_e2e::{unique, Dpswitch};

#[test]
fn json_log_lines_parse_with_structured_fields() {
    let dp = unique("dpj");
    let a = unique("tj");
    let port = format!("{a}=net_tap_{a},iface={a}");
    let sw = Dpswitch::start(&["--dp", &dp, "--port", &port, "--log-format", "json"]);
    let log = sw.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() >= 5, "too few JSON lines:\n{log}");
    let mut saw_port_added = false;
    let mut saw_pmd = false;
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["timestamp", "level", "target"] {
            assert!(v.get(key).is_some(), "no {key} in {line}");
        }
        let fields = v
            .get("fields")
            .unwrap_or_else(|| panic!("no fields in {line}"));
        let msg = fields["message"].as_str().unwrap_or_default();
        if msg == "port added" && fields["port"] == a.as_str() {
            assert!(
                fields["dp"].is_number() && fields["port_no"].is_number(),
                "{line}"
            );
            assert!(
                fields["devargs"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("net_tap")),
                "{line}"
            );
            saw_port_added = true;
        }
        if msg == "PMD thread started" {
            assert!(
                fields["pmd"].is_number() && fields["lcore"].is_number(),
                "{line}"
            );
            saw_pmd = true;
        }
    }
    assert!(
        saw_port_added && saw_pmd,
        "missing start-up records:\n{log}"
    );
    assert!(sw.stop().success());
}

/// The text format colours only a terminal: written to a pipe or a file, lines carry no
/// escape codes.
#[test]
fn text_log_lines_to_a_pipe_have_no_escape_codes() {
    let dp = unique("dpt");
    let sw = Dpswitch::start(&["--dp", &dp]);
    let log = sw.log_text();
    assert!(log.contains("forwarding"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in:\n{log}");
    assert!(sw.stop().success());
}
