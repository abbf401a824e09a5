//! Benchmark support for dpswitch: the harness itself is `perf/run.sh` (see `perf/README.md`);
//! this crate holds the tests that check its flow sets.
#![warn(missing_docs)]
