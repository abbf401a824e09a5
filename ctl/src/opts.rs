//! Command-line options, parsed like `ovs-dpctl`'s `getopt_long`: options may appear anywhere
//! among the arguments (GNU permutation), short options cluster (`-ms`), values attach
//! (`-t5`, `--timeout=5`) or follow (`-t 5`), and `--` ends option parsing.

pub use odp::dpswitch::DEFAULT_NETLINK_PID;

/// Environment variable that selects the daemon when `--netlink-pid` is not given.
pub const NETLINK_PID_ENV: &str = "DPSWITCH_NETLINK_PID";

/// Parsed options and the remaining arguments (command first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opts {
    /// `-s`/`--statistics`.
    pub statistics: bool,
    /// `--clear`.
    pub clear: bool,
    /// `--may-create`.
    pub may_create: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `-m`/`--more`, counted.
    pub verbosity: u32,
    /// Print port names (`--names`; defaults to on with `-m`).
    pub names: bool,
    /// `-t`/`--timeout` seconds (non-zero), if given.
    pub timeout: Option<u32>,
    /// `--netlink-pid` (or the environment), if given.
    pub netlink_pid: Option<u32>,
    /// `-h`/`--help`.
    pub help: bool,
    /// `-V`/`--version`.
    pub version: bool,
    /// `-o`/`--option`: list the long options.
    pub list_options: bool,
    /// The command and its arguments.
    pub args: Vec<String>,
}

/// The long options, as `--option` prints them.
pub const LONG_OPTIONS: &[&str] = &[
    "--statistics",
    "--clear",
    "--may-create",
    "--read-only",
    "--more",
    "--names",
    "--no-names",
    "--timeout=ARG",
    "--netlink-pid=ARG",
    "--help",
    "--option",
    "--version",
];

/// Parses a number in decimal or `0x` hexadecimal.
pub fn parse_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_timeout(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("value {v} on -t or --timeout is invalid")),
    }
}

fn parse_pid(v: &str) -> Result<u32, String> {
    parse_u32(v).ok_or_else(|| format!("value {v} on --netlink-pid is invalid"))
}

/// Parses `argv` (without the program name). `env_pid` is the value of
/// [`NETLINK_PID_ENV`], if set. Errors are the message for `dpctl: MSG`.
pub fn parse(argv: &[String], env_pid: Option<&str>) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut set_names = None;
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if a == "--" {
            o.args.extend(argv[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let value = |i: &mut usize| -> Result<String, String> {
                if let Some(v) = &inline {
                    return Ok(v.clone());
                }
                let v = argv
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| format!("option '--{name}' requires an argument"))?;
                *i += 1;
                Ok(v)
            };
            let flag = |inline: &Option<String>| -> Result<(), String> {
                match inline {
                    Some(_) => Err(format!("option '--{name}' doesn't allow an argument")),
                    None => Ok(()),
                }
            };
            match name {
                "statistics" => {
                    flag(&inline)?;
                    o.statistics = true
                }
                "clear" => {
                    flag(&inline)?;
                    o.clear = true
                }
                "may-create" => {
                    flag(&inline)?;
                    o.may_create = true
                }
                "read-only" => {
                    flag(&inline)?;
                    o.read_only = true
                }
                "more" => {
                    flag(&inline)?;
                    o.verbosity += 1
                }
                "names" => {
                    flag(&inline)?;
                    set_names = Some(true)
                }
                "no-names" => {
                    flag(&inline)?;
                    set_names = Some(false)
                }
                "help" => {
                    flag(&inline)?;
                    o.help = true
                }
                "option" => {
                    flag(&inline)?;
                    o.list_options = true
                }
                "version" => {
                    flag(&inline)?;
                    o.version = true
                }
                "timeout" => o.timeout = Some(parse_timeout(&value(&mut i)?)?),
                "netlink-pid" => o.netlink_pid = Some(parse_pid(&value(&mut i)?)?),
                _ => return Err(format!("unrecognized option '--{name}'")),
            }
            continue;
        }
        // `pmd-stats-show -pmd CORE` (ovs-appctl's spelling) belongs to the command.
        if a == "-pmd" {
            o.args.push(a.clone());
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                match c {
                    's' => o.statistics = true,
                    'm' => o.verbosity += 1,
                    'h' => o.help = true,
                    'V' => o.version = true,
                    'o' => o.list_options = true,
                    't' => {
                        let rest: String = chars[j..].iter().collect();
                        let v = if !rest.is_empty() {
                            rest
                        } else {
                            let v = argv
                                .get(i)
                                .cloned()
                                .ok_or_else(|| "option requires an argument -- 't'".to_string())?;
                            i += 1;
                            v
                        };
                        o.timeout = Some(parse_timeout(&v)?);
                        break;
                    }
                    other => return Err(format!("invalid option -- '{other}'")),
                }
            }
            continue;
        }
        o.args.push(a.clone());
    }
    o.names = set_names.unwrap_or(o.verbosity > 0);
    if o.netlink_pid.is_none() {
        if let Some(v) = env_pid.filter(|v| !v.is_empty()) {
            o.netlink_pid = Some(
                parse_u32(v).ok_or_else(|| format!("{NETLINK_PID_ENV}={v} is not a port id"))?,
            );
        }
    }
    Ok(o)
}

impl Opts {
    /// The daemon's port id: `--netlink-pid`, else the environment, else the default.
    pub fn daemon_pid(&self) -> u32 {
        self.netlink_pid.unwrap_or(DEFAULT_NETLINK_PID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Opts, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&v, None)
    }

    #[test]
    fn options_anywhere_and_clustered() {
        let o = p(&["dump-flows", "-ms", "dp0", "--names"]).unwrap();
        assert_eq!(o.args, ["dump-flows", "dp0"]);
        assert_eq!(o.verbosity, 1);
        assert!(o.statistics && o.names);
        let o = p(&["-m", "-m", "dump-flows"]).unwrap();
        assert_eq!(o.verbosity, 2);
        assert!(o.names, "-m turns names on by default");
        let o = p(&["-m", "--no-names", "dump-flows"]).unwrap();
        assert!(!o.names);
    }

    #[test]
    fn values_attached_or_following() {
        assert_eq!(p(&["-t5", "show"]).unwrap().timeout, Some(5));
        assert_eq!(p(&["-t", "7", "show"]).unwrap().timeout, Some(7));
        assert_eq!(p(&["--timeout=9", "show"]).unwrap().timeout, Some(9));
        assert_eq!(p(&["--timeout", "3"]).unwrap().timeout, Some(3));
        assert_eq!(
            p(&["--netlink-pid=0x100", "show"]).unwrap().netlink_pid,
            Some(256)
        );
        assert_eq!(
            p(&["--netlink-pid", "77", "show"]).unwrap().daemon_pid(),
            77
        );
        assert_eq!(p(&["show"]).unwrap().daemon_pid(), DEFAULT_NETLINK_PID);
    }

    #[test]
    fn environment_selects_daemon_unless_option_given() {
        let v = vec!["show".to_string()];
        assert_eq!(parse(&v, Some("1234")).unwrap().daemon_pid(), 1234);
        let v = vec!["--netlink-pid=5".to_string(), "show".to_string()];
        assert_eq!(parse(&v, Some("1234")).unwrap().daemon_pid(), 5);
        assert!(parse(&["show".to_string()], Some("zz")).is_err());
    }

    #[test]
    fn flags_for_flow_commands() {
        let o = p(&["mod-flow", "--clear", "--may-create", "-s", "f", "a"]).unwrap();
        assert!(o.clear && o.may_create && o.statistics);
        assert_eq!(o.args, ["mod-flow", "f", "a"]);
        assert!(p(&["--read-only", "x"]).unwrap().read_only);
        assert!(p(&["-h"]).unwrap().help);
        assert!(p(&["--version"]).unwrap().version);
    }

    #[test]
    fn lone_dash_and_double_dash_are_arguments() {
        let o = p(&["add-flows", "-"]).unwrap();
        assert_eq!(o.args, ["add-flows", "-"]);
        let o = p(&["--", "del-if", "-s"]).unwrap();
        assert_eq!(o.args, ["del-if", "-s"]);
        assert!(!o.statistics);
    }

    #[test]
    fn bad_options_are_reported() {
        assert_eq!(
            p(&["--bogus"]).unwrap_err(),
            "unrecognized option '--bogus'"
        );
        assert_eq!(p(&["-x"]).unwrap_err(), "invalid option -- 'x'");
        assert_eq!(
            p(&["-t", "0"]).unwrap_err(),
            "value 0 on -t or --timeout is invalid"
        );
        assert!(p(&["-t"]).is_err());
        assert!(p(&["--timeout"]).is_err());
        assert!(p(&["--names=1"]).is_err());
        assert!(p(&["--netlink-pid=abc"]).is_err());
    }
}
