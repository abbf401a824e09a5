use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;
use fastpath::packet::{Gso, GsoKind, Offload, PartialCsum};

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

    /// Every byte from the data start to the end of the buffer, for a receive to fill
    /// before [`Mbuf::set_len`] says how much it did.
    pub fn room_mut(&mut self) -> &mut [u8] {
        let h = self.hdr();
        let (addr, off, buf_len) = (h.buf_addr, h.data_off, h.buf_len);
        // SAFETY: buf_addr + data_off .. buf_addr + buf_len is the mbuf's own data buffer,
        // exclusively ours (`&mut self`, refcnt 1, direct buffer).
        unsafe {
            std::slice::from_raw_parts_mut(
                addr.cast::<u8>().add(usize::from(off)),
                usize::from(buf_len.saturating_sub(off)),
            )
        }
    }

    /// Sets the packet length to `len` bytes of [`Mbuf::room_mut`]; false if they do not fit.
    pub fn set_len(&mut self, len: usize) -> bool {
        let room = self.room_mut().len();
        let (Ok(len16), true) = (u16::try_from(len), len <= room) else {
            return false;
        };
        // SAFETY: we own the mbuf exclusively; one segment, so pkt_len == data_len.
        unsafe {
            let m = self.raw.as_mut();
            m.data_len = len16;
            m.pkt_len = u32::from(len16);
        }
        true
    }

    /// The offload work the packet carries (none unless a `system` port received it so).
    #[inline]
    pub fn offload(&self) -> Offload {
        let Some(slot) = OFFLOAD.get().copied().flatten() else {
            return Offload::NONE;
        };
        let h = self.hdr();
        if h.ol_flags & slot.flag == 0 {
            return Offload::NONE;
        }
        // SAFETY: the field was registered for every mbuf at `slot.offset`, 8 bytes, aligned
        // to 4; we own the mbuf.
        let f: [u8; 8] = unsafe {
            std::ptr::read(
                self.raw
                    .as_ptr()
                    .cast::<u8>()
                    .add(slot.offset)
                    .cast::<[u8; 8]>(),
            )
        };
        decode_offload(f, h.data_off)
    }

    /// Records `o`; false if it cannot be carried (offsets outside the buffer, or no field).
    #[inline]
    pub fn set_offload(&mut self, o: Offload) -> bool {
        let Some(slot) = OFFLOAD.get().copied().flatten() else {
            return o.is_none();
        };
        let data_off = self.hdr().data_off;
        let field = if o.is_none() {
            None
        } else {
            match encode_offload(o, data_off) {
                Some(f) => Some(f),
                None => return false,
            }
        };
        // SAFETY: as in `offload`, and `&mut self` makes the write exclusive.
        unsafe {
            let m = self.raw.as_mut();
            match field {
                None => m.ol_flags &= !slot.flag,
                Some(f) => {
                    std::ptr::write(
                        self.raw
                            .as_ptr()
                            .cast::<u8>()
                            .add(slot.offset)
                            .cast::<[u8; 8]>(),
                        f,
                    );
                    self.raw.as_mut().ol_flags |= slot.flag;
                }
            }
        }
        true
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

/// Where an mbuf keeps its [`Offload`]: a registered dynamic field and the `ol_flags` bit
/// that says it is valid (allocation clears `ol_flags`, so a fresh mbuf carries none).
#[derive(Clone, Copy, Debug)]
struct OffloadSlot {
    offset: usize,
    flag: u64,
}

/// Set once, before the first pool exists; `None` if DPDK refused the registration.
static OFFLOAD: std::sync::OnceLock<Option<OffloadSlot>> = std::sync::OnceLock::new();

/// Registers the offload field and flag (idempotent; pools call it before creating mbufs).
pub(super) fn register_offload_field() {
    OFFLOAD.get_or_init(|| {
        let mut field = dpdk_sys::rte_mbuf_dynfield {
            name: [0; 64],
            size: 8,
            align: 4,
            flags: 0,
        };
        let mut flag = dpdk_sys::rte_mbuf_dynflag {
            name: [0; 64],
            flags: 0,
        };
        for (d, s) in field.name.iter_mut().zip(b"dpswitch_offload\0") {
            *d = *s as std::ffi::c_char;
        }
        for (d, s) in flag.name.iter_mut().zip(b"dpswitch_offload_set\0") {
            *d = *s as std::ffi::c_char;
        }
        // SAFETY: valid, NUL-terminated descriptions; the EAL is up (a pool is being made).
        let offset = unsafe { dpdk_sys::rte_mbuf_dynfield_register(&field) };
        // SAFETY: as above.
        let bit = unsafe { dpdk_sys::rte_mbuf_dynflag_register(&flag) };
        match (usize::try_from(offset), u32::try_from(bit)) {
            (Ok(offset), Ok(bit)) if bit < 64 => Some(OffloadSlot {
                offset,
                flag: 1u64 << bit,
            }),
            _ => {
                tracing::warn!(
                    offset,
                    bit,
                    "no mbuf field for offload state: partial checksums are finished on receive"
                );
                None
            }
        }
    });
}

/// The field's layout: checksum start (from the buffer start, so that headers pushed or
/// removed in front leave it right, as `skb->csum_start` is), checksum offset, GSO size,
/// GSO kind (0 = none), flags (bit 0: checksum partial, bit 1: ECN).
fn encode_offload(o: Offload, data_off: u16) -> Option<[u8; 8]> {
    let mut f = [0u8; 8];
    if let Some(c) = o.csum {
        let abs = c.start.checked_add(data_off)?;
        f[0..2].copy_from_slice(&abs.to_ne_bytes());
        f[2..4].copy_from_slice(&c.offset.to_ne_bytes());
        f[7] |= 1;
    }
    if let Some(g) = o.gso {
        f[4..6].copy_from_slice(&g.size.to_ne_bytes());
        f[6] = match g.kind {
            GsoKind::TcpV4 => 1,
            GsoKind::TcpV6 => 2,
            GsoKind::Udp => 3,
            GsoKind::UdpL4 => 4,
        };
        if g.ecn {
            f[7] |= 2;
        }
    }
    Some(f)
}

fn decode_offload(f: [u8; 8], data_off: u16) -> Offload {
    let csum = (f[7] & 1 != 0).then(|| PartialCsum {
        start: u16::from_ne_bytes([f[0], f[1]]).saturating_sub(data_off),
        offset: u16::from_ne_bytes([f[2], f[3]]),
    });
    let kind = match f[6] {
        1 => Some(GsoKind::TcpV4),
        2 => Some(GsoKind::TcpV6),
        3 => Some(GsoKind::Udp),
        4 => Some(GsoKind::UdpL4),
        _ => None,
    };
    let gso = kind.map(|kind| Gso {
        kind,
        size: u16::from_ne_bytes([f[4], f[5]]),
        ecn: f[7] & 2 != 0,
    });
    Offload { csum, gso }
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

    #[inline]
    fn offload(&self) -> Offload {
        Mbuf::offload(self)
    }

    #[inline]
    fn set_offload(&mut self, o: Offload) -> bool {
        Mbuf::set_offload(self, o)
    }
}
