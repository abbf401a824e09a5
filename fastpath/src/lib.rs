//! The per-packet path of dpswitch: plain Rust over byte buffers, no DPDK types and no
//! `unsafe`, so every stage is unit-, property-, fuzz- and bench-testable on its own. The
//! runtime plugs its packet buffers in through [`packet::PacketBuf`], its side effects
//! (transmit, clone, upcall, recirculate, drop, miss) through [`pmd::PmdContext`], and the
//! CPU's TSC and prefetch instructions through [`cpu::Cpu`].
//!
//! # One burst
//!
//! [`pmd::Pmd::process_burst`] extracts every key with [`packet::extract`] (which also
//! returns the key hash and the map of possibly non-zero words), probes the [`emc::Emc`]
//! with that hash, classifies the remaining packets as one batch with
//! [`dpcls::Dpcls::lookup_batch`], records per-flow statistics once per run of packets of
//! the same flow, executes the flow's [`actions::CompiledActions`] with
//! [`actions::execute`] and hands misses to [`pmd::PmdContext::miss`] (the upcall).
//! [`pmd::Pmd::forward_simple`] first tries the whole burst as one classification (simple
//! match, see `docs/architecture.md`).
//!
//! # From the wire
//!
//! Flows arrive as `odp` keys, masks and actions, validated by `odp` with the kernel's rules.
//! [`wire`] turns keys and masks into [`flow::FlowKey`]s and back;
//! [`actions::CompiledActions::compile`] lowers `odp` action lists straight into the program
//! [`actions::execute`] runs.
//!
//! # Updates
//!
//! A PMD's classifier and EMC are its own. The control thread kills a replaced or deleted
//! [`flow::Flow`] first and then sends [`pmd::FlowCmd`]s that each PMD applies between
//! bursts ([`pmd::Pmd::apply`]); EMC and classifier hits check [`flow::Flow::is_alive`], so a
//! killed flow never runs, even before a PMD has applied the command. Statistics are per-PMD
//! single-writer cells summed by [`flow::FlowStats::read`].
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

pub mod actions;
pub mod conntrack;
pub mod cpu;
pub mod dpcls;
pub mod emc;
pub mod error;
pub mod flow;
pub mod packet;
pub mod pmd;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;

pub use cpu::{Cpu, Portable};

/// The bits of a hash that index a power-of-two table: the low ones; on a 32-bit target the
/// high half is not needed for any table that fits in memory.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn hash_index(hash: u64, mask: usize) -> usize {
    hash as usize & mask
}
pub use error::Error;

/// Times one packet may be recirculated (looked up again after its first lookup); a packet
/// that wants more is dropped. The kernel bounds recirculation with its recursion and
/// deferred-action limits (`net/openvswitch/actions.c`, `OVS_RECURSION_LIMIT` and
/// `DEFERRED_ACTION_FIFO_SIZE`); dpswitch bounds each packet's passes, on a PMD and on the
/// control thread alike.
pub const MAX_RECIRC_PASSES: usize = 4;
