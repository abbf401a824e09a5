//! Helpers for end-to-end tests that run real `dpswitch` processes.
