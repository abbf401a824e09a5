use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use super::{DpdkError, Eal, Mbuf, MbufArray, Result};

/// A pool of packet buffers (`rte_pktmbuf_pool_create`).
///
/// Shared between the ports that receive into it and the threads that allocate from it
/// (DPDK's default ring-based mempool is multi-producer/multi-consumer safe).
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    data_room: u16,
    _eal: Eal,
}

// SAFETY: rte_mempool get/put operations are thread-safe (MP/MC ring); the pointer itself is
// never freed while a Mempool exists.
unsafe impl Send for Mempool {}
// SAFETY: as above; &Mempool only exposes thread-safe operations.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n_mbufs` buffers with the default data room (2048 bytes plus
    /// headroom), a per-lcore cache of `cache_size` and no private area, on `socket`
    /// (`-1` = any).
    ///
    /// # Errors
    /// ENOMEM when the EAL has not enough memory, EEXIST when the name is taken.
    pub fn new(eal: &Eal, name: &str, n_mbufs: u32, cache_size: u32, socket: i32) -> Result<Self> {
        // SAFETY: reads a constant exported by the shim.
        let buf_size = unsafe { dpdk_sys::SHIM_RTE_MBUF_DEFAULT_BUF_SIZE };
        Self::with_data_room(eal, name, n_mbufs, cache_size, buf_size, socket)
    }

    /// As [`Mempool::new`] with buffers of `data_room` bytes, headroom included (at most
    /// 65535: an mbuf's lengths are 16-bit).
    ///
    /// # Errors
    /// As [`Mempool::new`].
    pub fn with_data_room(
        eal: &Eal,
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Self> {
        super::mbuf::register_offload_field();
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new("rte_pktmbuf_pool_create", libc::EINVAL))?;
        // SAFETY: cname is a valid C string; EAL is initialised (we hold an Eal).
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n_mbufs,
                cache_size,
                0,
                data_room,
                socket,
            )
        };
        let raw = NonNull::new(raw)
            .ok_or_else(|| DpdkError::from_rte_errno("rte_pktmbuf_pool_create").context(name))?;
        Ok(Mempool {
            raw,
            name: name.to_string(),
            data_room,
            _eal: eal.clone(),
        })
    }

    /// The largest packet one buffer holds after the default headroom.
    pub fn max_packet(&self) -> usize {
        usize::from(self.data_room).saturating_sub(fastpath::packet::buf::DEFAULT_HEADROOM)
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw pointer, for DPDK calls made by this module (queue setup).
    pub(super) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Number of buffers in the pool.
    pub fn capacity(&self) -> u32 {
        // SAFETY: the pool is alive; `size` is immutable after creation.
        unsafe { (*self.raw.as_ptr()).size }
    }

    /// Buffers currently free (including those parked in per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive; the count is read atomically enough for accounting.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Buffers currently allocated: held by the application, by device rings or in flight.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for `available`.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Allocates one buffer (empty, with the default headroom), or `None` when the pool is
    /// exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is alive; a non-null result is a fresh mbuf we now own.
        let m = unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a freshly allocated mbuf is exclusively ours, refcnt 1, one segment.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m.as_ptr()) })
    }

    /// Appends `n` fresh buffers to `out` in one bulk operation; all or nothing.
    ///
    /// Returns false (and appends nothing) if the pool cannot supply `n` or `out` lacks room.
    pub fn alloc_bulk<const N: usize>(&self, out: &mut MbufArray<N>, n: usize) -> bool {
        if n > out.spare() {
            return false;
        }
        let Ok(count) = u32::try_from(n) else {
            return false;
        };
        // SAFETY: the spare slots hold at least `n` pointers; on success DPDK wrote `n` fresh
        // mbufs there, which `assume_filled` takes ownership of.
        unsafe {
            if dpdk_sys::shim_rte_pktmbuf_alloc_bulk(self.raw.as_ptr(), out.spare_ptr(), count) != 0
            {
                return false;
            }
            out.assume_filled(n);
        }
        true
    }
}

/// The switch's packet buffers: the main pool, and a small pool of 64 KiB buffers for
/// frames longer than the main pool's (GSO packets and jumbo frames from system ports,
/// EXECUTE of such packets).
#[derive(Debug, Clone)]
pub struct Pools {
    /// Buffers of the default size.
    pub small: Arc<Mempool>,
    /// Buffers for long frames, if any.
    pub large: Option<Arc<Mempool>>,
}

impl Pools {
    /// An empty buffer that holds `len` bytes, from the smallest pool that fits.
    pub fn alloc_for(&self, len: usize) -> Option<Mbuf> {
        if len <= self.small.max_packet() {
            return self.small.alloc();
        }
        self.large
            .as_ref()
            .filter(|l| len <= l.max_packet())?
            .alloc()
    }

    /// A copy of the first `len` bytes of `src`; a whole copy keeps `src`'s offload state.
    /// None when no buffer is free or none is long enough.
    pub fn copy(&self, src: &Mbuf, len: usize) -> Option<Mbuf> {
        let len = len.min(src.len());
        let mut copy = self.alloc_for(len)?;
        if !copy.set_len(len) {
            return None;
        }
        copy.data_mut().copy_from_slice(&src.data()[..len]);
        if len == src.len() {
            copy.set_offload(src.offload());
        }
        Some(copy)
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use();
        if in_use != 0 {
            // Freeing would leave those buffers pointing into released memory: leak instead.
            tracing::warn!(pool = %self.name, in_use, "mempool still has buffers in use; not freed");
            return;
        }
        // SAFETY: no buffer of the pool is outstanding and no port references it any more
        // (ports hold an Arc<Mempool>).
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}
