//! EAL initialisation failures come back as errors, never as aborts. Its own test binary
//! (own process), because a failed EAL init cannot always be retried in the same process.

use dpswitch::dpdk::Eal;

#[test]
fn eal_init_errors_are_returned_not_aborted() {
    // An unknown option: EAL rejects the command line and stays re-initialisable.
    let err = Eal::init(["--no-such-eal-option"]).unwrap_err();
    assert_eq!(err.op, "rte_eal_init");
    assert_eq!(err.errno, libc::EINVAL, "{err}");
    assert!(err.to_string().contains("--no-such-eal-option"), "{err}");

    // A malformed core list.
    let err = Eal::init(["-l", "not-a-core-list", "--no-huge"]).unwrap_err();
    assert_eq!(err.errno, libc::EINVAL, "{err}");

    // More hugepage memory than the host has (with no hugepages reserved at all this fails
    // earlier, at "Cannot get hugepage information": an error either way).
    let prefix = format!("dpswitch_nohuge_{}", std::process::id());
    let err = Eal::init([
        "-l",
        "0",
        "--in-memory",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        prefix.as_str(),
        "--socket-mem",
        "1048576",
    ])
    .unwrap_err();
    assert!(err.errno != 0, "{err}");
    println!("init without enough hugepages failed as expected: {err}");
    assert!(
        !std::path::Path::new("/var/run/dpdk").join(&prefix).exists(),
        "a failed init left its runtime directory behind"
    );
}
