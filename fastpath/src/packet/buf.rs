//! The packet-buffer abstraction the fast path works on.

use super::offload::Offload;

/// A contiguous packet buffer with headroom, implemented by the DPDK runtime over
/// single-segment mbufs and by [`VecBuf`] for tests and benches.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet by `n` bytes at the front (using headroom) and returns the
    /// whole, now longer, packet; `None` (packet unchanged) if headroom is short.
    fn push_front(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the front; `false` (unchanged) if the packet is shorter.
    fn pull_front(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the back; `false` (unchanged) if the packet is shorter.
    fn trim_back(&mut self, n: usize) -> bool;

    /// Packet length in bytes.
    #[inline]
    fn len(&self) -> usize {
        self.data().len()
    }

    /// Whether the packet is empty.
    #[inline]
    fn is_empty(&self) -> bool {
        self.data().is_empty()
    }

    /// Opens an `n`-byte gap at offset `off` (the first `off` bytes move to the front)
    /// and returns the gap; `None` if `off > len` or headroom is short.
    #[inline]
    fn insert_gap(&mut self, off: usize, n: usize) -> Option<&mut [u8]> {
        if off > self.len() {
            return None;
        }
        let d = self.push_front(n)?;
        d.copy_within(n..n + off, 0);
        Some(&mut d[off..off + n])
    }

    /// Removes `n` bytes at offset `off` (the first `off` bytes move back);
    /// `false` (unchanged) if the range is out of the packet.
    #[inline]
    fn remove_range(&mut self, off: usize, n: usize) -> bool {
        if off.checked_add(n).is_none_or(|e| e > self.len()) {
            return false;
        }
        self.data_mut().copy_within(0..off, n);
        self.pull_front(n)
    }

    /// The checksum and segmentation work the packet carries (offsets from its first byte
    /// as it is now); [`Offload::NONE`] for buffers that never carry any.
    #[inline]
    fn offload(&self) -> Offload {
        Offload::NONE
    }

    /// Records `o`. Offsets stay right across bytes pushed, inserted or removed in front of
    /// them, as an skb's `csum_start` does. False if the buffer cannot carry it.
    #[inline]
    fn set_offload(&mut self, o: Offload) -> bool {
        o.is_none()
    }

    /// Truncates the packet to at most `len` bytes.
    #[inline]
    fn truncate_to(&mut self, len: usize) {
        let cur = self.len();
        if cur > len {
            self.trim_back(cur - len);
        }
    }
}

/// Default headroom of a [`VecBuf`] (same as DPDK's `RTE_PKTMBUF_HEADROOM`).
pub const DEFAULT_HEADROOM: usize = 128;

/// A `Vec`-backed [`PacketBuf`] with headroom, for tests, benches and slow paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
    /// Offload state with its checksum start counted from `buf`'s first byte.
    offload: Offload,
}

impl VecBuf {
    /// A buffer holding `frame` after [`DEFAULT_HEADROOM`] bytes of headroom.
    pub fn new(frame: &[u8]) -> Self {
        Self::with_headroom(frame, DEFAULT_HEADROOM)
    }

    /// A buffer holding `frame` after `headroom` bytes of headroom.
    pub fn with_headroom(frame: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + frame.len()];
        buf[headroom..].copy_from_slice(frame);
        Self {
            buf,
            start: headroom,
            offload: Offload::NONE,
        }
    }

    /// Replaces the content with `frame`, keeping (and restoring) the headroom; does not
    /// allocate if the capacity suffices.
    pub fn reset(&mut self, frame: &[u8], headroom: usize) {
        self.buf.clear();
        self.buf.resize(headroom, 0);
        self.buf.extend_from_slice(frame);
        self.start = headroom;
        self.offload = Offload::NONE;
    }

    /// Remaining headroom.
    pub fn headroom(&self) -> usize {
        self.start
    }
}

impl PacketBuf for VecBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    #[inline]
    fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..])
    }
    #[inline]
    fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }
    #[inline]
    fn trim_back(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.buf.truncate(self.buf.len() - n);
        true
    }
    #[inline]
    fn offload(&self) -> Offload {
        let mut o = self.offload;
        if let Some(c) = &mut o.csum {
            c.start = c
                .start
                .saturating_sub(u16::try_from(self.start).unwrap_or(u16::MAX));
        }
        o
    }
    #[inline]
    fn set_offload(&mut self, mut o: Offload) -> bool {
        if let Some(c) = &mut o.csum {
            let Some(abs) = u16::try_from(self.start)
                .ok()
                .and_then(|s| c.start.checked_add(s))
            else {
                return false;
            };
            c.start = abs;
        }
        self.offload = o;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_and_remove_round_trip() {
        let mut b = VecBuf::with_headroom(&[1, 2, 3, 4, 5], 4);
        b.insert_gap(2, 3).unwrap().copy_from_slice(&[9, 9, 9]);
        assert_eq!(b.data(), &[1, 2, 9, 9, 9, 3, 4, 5]);
        assert!(b.insert_gap(0, 2).is_none(), "headroom exhausted");
        assert!(b.remove_range(2, 3));
        assert_eq!(b.data(), &[1, 2, 3, 4, 5]);
        assert!(!b.remove_range(4, 2));
        b.truncate_to(2);
        assert_eq!(b.data(), &[1, 2]);
    }
}
