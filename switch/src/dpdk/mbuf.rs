use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;

/// Packets per rx/tx burst everywhere in the switch.
pub const BURST_SIZE: usize = 32;

/// An owned, single-segment packet buffer.
///
/// Dropping it returns it to its pool; [`Mbuf::into_raw`] hands it to DPDK (transmit).
/// Multi-segment mbufs are not produced by the switch's pools (2 KiB data room, no scatter):
/// every accessor looks at the first segment only.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<rte_mbuf>,
    /// Not Sync: two threads must not touch one mbuf's metadata at once.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: an Mbuf is the sole owner of its buffer; moving it to another thread moves that
// ownership, and mempool frees are thread-safe.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nobody else frees or accesses afterwards, with
    /// refcnt 1 and a direct (not attached) data buffer, so that `data_mut` is exclusive.
    pub unsafe fn from_raw(raw: *mut rte_mbuf) -> Mbuf {
        Mbuf {
            // SAFETY: the caller guarantees a valid, hence non-null, mbuf.
            raw: unsafe { NonNull::new_unchecked(raw) },
            _not_sync: PhantomData,
        }
    }

    /// Gives up ownership, e.g. to a transmit call that frees it.
    pub fn into_raw(self) -> *mut rte_mbuf {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// The raw pointer, still owned by `self`.
    pub fn as_ptr(&self) -> *mut rte_mbuf {
        self.raw.as_ptr()
    }

    #[inline]
    fn hdr(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.raw.as_ref() }
    }

    /// Length of the packet data.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.hdr().data_len)
    }

    /// True for an empty packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's data buffer, which
        // we own for as long as `self` is borrowed.
        unsafe {
            std::slice::from_raw_parts(
                h.buf_addr.cast::<u8>().add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    /// The packet bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let h = self.hdr();
        let (addr, off, len) = (h.buf_addr, h.data_off, h.data_len);
        // SAFETY: as in `data`; exclusivity comes from `&mut self` and the from_raw contract
        // (refcnt 1, direct buffer).
        unsafe {
            std::slice::from_raw_parts_mut(
                addr.cast::<u8>().add(usize::from(off)),
                usize::from(len),
            )
        }
    }

    /// Replaces the packet contents with `bytes` (which must fit the data room).
    pub fn set_data(&mut self, bytes: &[u8]) -> bool {
        let cur = self.len();
        if bytes.len() > cur {
            let Ok(extra) = u16::try_from(bytes.len() - cur) else {
                return false;
            };
            if self.append(extra).is_none() {
                return false;
            }
        } else if !self.trim(cur - bytes.len()) {
            return false;
        }
        self.data_mut().copy_from_slice(bytes);
        true
    }

    /// Free bytes in front of the data.
    pub fn headroom(&self) -> usize {
        // SAFETY: we own a valid mbuf.
        usize::from(unsafe { dpdk_sys::shim_rte_pktmbuf_headroom(self.raw.as_ptr()) })
    }

    /// Free bytes after the data.
    pub fn tailroom(&self) -> usize {
        // SAFETY: we own a valid mbuf.
        usize::from(unsafe { dpdk_sys::shim_rte_pktmbuf_tailroom(self.raw.as_ptr()) })
    }

    /// Grows the packet by `n` bytes at the front; returns the new front bytes, or `None`
    /// if the headroom is too small.
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: we own the mbuf exclusively; DPDK checks the headroom.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_prepend(self.raw.as_ptr(), n16) };
        // SAFETY: on success `p` points at `n` bytes inside our buffer.
        NonNull::new(p)
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p.as_ptr().cast::<u8>(), n) })
    }

    /// Grows the packet by `n` bytes at the end; returns the new bytes, or `None` if the
    /// tailroom is too small.
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf exclusively; DPDK checks the tailroom.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_append(self.raw.as_ptr(), n) };
        // SAFETY: on success `p` points at `n` bytes inside our buffer.
        NonNull::new(p).map(|p| unsafe {
            std::slice::from_raw_parts_mut(p.as_ptr().cast::<u8>(), usize::from(n))
        })
    }

    /// Removes `n` bytes from the front; false if the packet is shorter.
    pub fn adj(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the mbuf exclusively; DPDK checks the length.
        !unsafe { dpdk_sys::shim_rte_pktmbuf_adj(self.raw.as_ptr(), n) }.is_null()
    }

    /// Removes `n` bytes from the end; false if the packet is shorter.
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the mbuf exclusively; DPDK checks the length.
        unsafe { dpdk_sys::shim_rte_pktmbuf_trim(self.raw.as_ptr(), n) == 0 }
    }

    /// The port the packet was received on (as set by the PMD).
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    /// The buffer's reference count (1 for every mbuf this API hands out).
    pub fn refcnt(&self) -> u16 {
        // SAFETY: we own a valid mbuf.
        unsafe { dpdk_sys::shim_rte_mbuf_refcnt_read(self.raw.as_ptr()) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nobody uses it after this.
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.raw.as_ptr()) };
    }
}

/// A fixed-capacity, caller-owned array of mbufs: the unit of rx and tx bursts.
///
/// Lives on the PMD's stack or in its state, so bursts never allocate. Dropping or clearing
/// it frees what it still holds (in one bulk call).
pub struct MbufArray<const N: usize = BURST_SIZE> {
    len: usize,
    slots: [MaybeUninit<Mbuf>; N],
}

impl<const N: usize> std::fmt::Debug for MbufArray<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufArray")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> Default for MbufArray<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MbufArray<N> {
    /// An empty array.
    pub fn new() -> Self {
        MbufArray {
            len: 0,
            slots: [const { MaybeUninit::uninit() }; N],
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    #[inline]
    pub fn spare(&self) -> usize {
        N - self.len
    }

    /// Appends an mbuf, or gives it back when full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> std::result::Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live range.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// The mbufs held.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The mbufs held, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Moves every mbuf out, in order, leaving the array empty.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let len = std::mem::replace(&mut self.len, 0);
        // SAFETY: the first `len` slots are initialised and, with len reset to 0, read once.
        (0..len).map(move |i| unsafe { self.slots[i].assume_init_read() })
    }

    /// Frees every mbuf held, in one bulk call.
    pub fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        let n = std::mem::replace(&mut self.len, 0);
        // SAFETY: the first `n` slots hold owned mbufs (repr(transparent) pointers); after
        // resetting len they are freed exactly once, here.
        unsafe {
            dpdk_sys::rte_pktmbuf_free_bulk(
                self.slots.as_mut_ptr().cast::<*mut rte_mbuf>(),
                n as u32,
            )
        };
    }

    /// Pointer to the first free slot, for DPDK calls that fill the array.
    pub(super) fn spare_ptr(&mut self) -> *mut *mut rte_mbuf {
        // SAFETY: len <= N, so the offset stays within (or one past) the slots array.
        unsafe {
            self.slots
                .as_mut_ptr()
                .add(self.len)
                .cast::<*mut rte_mbuf>()
        }
    }

    /// Pointer to the first mbuf, for DPDK calls that consume from the front.
    pub(super) fn base_ptr(&mut self) -> *mut *mut rte_mbuf {
        self.slots.as_mut_ptr().cast::<*mut rte_mbuf>()
    }

    /// Marks `n` more slots as filled by DPDK.
    ///
    /// # Safety
    /// The `n` slots after the current length must hold owned, valid mbufs.
    pub(super) unsafe fn assume_filled(&mut self, n: usize) {
        debug_assert!(self.len + n <= N);
        self.len += n;
    }

    /// Forgets the first `n` mbufs (DPDK took them) and moves the rest to the front.
    ///
    /// # Safety
    /// The first `n` mbufs must have been handed to DPDK, which now owns them.
    pub(super) unsafe fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let rest = self.len - n;
        // SAFETY: moves the initialised tail [n, len) to [0, rest); the regions may overlap.
        unsafe { std::ptr::copy(self.slots.as_ptr().add(n), self.slots.as_mut_ptr(), rest) };
        self.len = rest;
    }
}

impl<const N: usize> Drop for MbufArray<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The fast path works on mbufs through its buffer trait; headroom comes from the pool's
/// `RTE_PKTMBUF_HEADROOM` (128 bytes).
impl fastpath::packet::PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }

    #[inline]
    fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        self.prepend(n)?;
        Some(self.data_mut())
    }

    #[inline]
    fn pull_front(&mut self, n: usize) -> bool {
        self.adj(n)
    }

    #[inline]
    fn trim_back(&mut self, n: usize) -> bool {
        self.trim(n)
    }
}
