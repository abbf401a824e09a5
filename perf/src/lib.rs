//! Benchmark support for dpswitch.
