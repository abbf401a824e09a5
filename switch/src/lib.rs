//! dpswitch: the Open vSwitch kernel datapath re-implemented over DPDK poll-mode drivers.
//!
//! # Fast path
//!
//! The fast path ([`packet`], [`flow`], [`dpcls`], [`emc`], [`actions`], [`pmd`]) is
//! plain Rust over byte buffers: no DPDK types, so it is unit-, property- and
//! bench-testable on its own. The DPDK runtime plugs mbufs in by implementing
//! [`packet::PacketBuf`] (data / headroom push / pull / trim) and
//! [`pmd::PmdContext`] (output, clone, upcall, recirculate, drop, miss).
//!
//! ## One PMD iteration
//!
//! ```text
//! loop {
//!     while let Some(cmd) = queue.pop() { pmd.apply(cmd) }   // control-thread updates
//!     pmd.maintain();                                          // table growth, re-ranking
//!     let n = rx_burst(port, &mut mbufs);                      // up to 32
//!     pmd.process_burst(&mut pkts[..n], BurstMeta::Shared(&port_md), now_ms, &mut ctx);
//!     ctx.flush();  // per-port MbufArray batches (runtime::pmd_thread)
//! }
//! ```
//!
//! [`pmd::Pmd::process_burst`] extracts every key with [`packet::extract`] (which
//! also returns the key hash and the map of possibly non-zero words), probes the
//! [`emc::Emc`] with that hash, classifies the remaining packets as one batch with
//! [`dpcls::Dpcls::lookup_batch`], records per-flow statistics once per run of packets
//! of the same flow, executes the flow's [`actions::CompiledActions`] with
//! [`actions::execute`] and hands misses to [`pmd::PmdContext::miss`] (the upcall).
//!
//! ## Flow updates
//!
//! The control thread owns a [`pmd::FlowTable`] (authoritative classifier, kernel
//! NEW/SET/DEL semantics including the overlap check). Each change kills the
//! replaced/deleted [`flow::Flow`] first, then returns [`pmd::FlowCmd`]s that the
//! runtime broadcasts to every PMD's queue; PMDs apply them between bursts. Because
//! EMC and classifier hits check [`flow::Flow::is_alive`], a killed flow is never
//! executed even before its PMD has drained the queue. Statistics are per-PMD
//! single-writer cells summed by [`flow::FlowStats::read`].
#![warn(missing_docs)]

pub mod actions;
pub mod cli;
pub mod dpcls;
pub mod dpdk;
pub mod emc;
pub mod flow;
pub mod metrics;
pub mod netlink;
pub mod odpconv;
pub mod packet;
pub mod pmd;
pub mod runtime;
