//! Send and receive buffers.
//!
//! Both are fixed-capacity byte rings whose storage grows as bytes are held,
//! up to the capacity, and is then reused. The receive side reassembles
//! out-of-order segments with a bounded list of ranges (RFC 9293 3.10.7.4, "seventh, process the segment text");
//! where segments overlap, the bytes that arrived first are kept.

use thin_vec::ThinVec;

/// A byte ring with a fixed capacity whose storage grows on demand.
///
/// Storage is allocated as bytes are actually held (doubling, from 4 KiB
/// up to the capacity), so ten thousand short connections with 4 MiB
/// buffers cost what they use, not 80 GB of zeroed memory. A receiver
/// whose window auto-tuning grows reserves storage for the new window at
/// once ([`RecvBuffer::reserve`]), so a bulk connection reaches its full
/// storage while it ramps up and then never allocates again.
#[derive(Debug)]
struct Ring {
    /// Always wholly in use as the ring: its length is the ring's size.
    storage: Box<[u8]>,
    /// Index of the first byte.
    head: u32,
    /// The capacity the storage may grow to.
    max: u32,
}

/// Smallest storage a ring allocates.
const MIN_RING: usize = 4096;

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            storage: Box::default(),
            head: 0,
            // Windows reach 1 GiB at most (RFC 7323 2.3).
            max: u32::try_from(capacity).unwrap_or(u32::MAX),
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.max as usize
    }

    #[inline]
    fn head(&self) -> usize {
        self.head as usize
    }

    #[inline]
    fn wrap(&self, i: usize) -> usize {
        let cap = self.storage.len();
        if i >= cap { i - cap } else { i }
    }

    /// Makes the storage hold at least `needed` bytes from head, keeping
    /// every byte at its offset from head.
    fn grow(&mut self, needed: usize) {
        let old = self.storage.len();
        if needed <= old {
            return;
        }
        let new_len = (old * 2).max(MIN_RING).max(needed).min(self.capacity());
        let mut v = vec![0u8; new_len].into_boxed_slice();
        if old > 0 {
            let head = self.head();
            let first = old - head;
            v[..first].copy_from_slice(&self.storage[head..]);
            v[first..old].copy_from_slice(&self.storage[..head]);
        }
        self.storage = v;
        self.head = 0;
    }

    /// Copies `data` to offset `off` from head (off + len <= capacity).
    fn write_at(&mut self, off: usize, data: &[u8]) {
        debug_assert!(off + data.len() <= self.capacity());
        if data.is_empty() {
            return;
        }
        self.grow(off + data.len());
        let start = self.wrap(self.head() + off);
        let first = data.len().min(self.storage.len() - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        if rest > 0 {
            self.storage[..rest].copy_from_slice(&data[first..]);
        }
    }

    /// The bytes at `off..off+len` from head as up to two slices.
    fn slices(&self, off: usize, len: usize) -> (&[u8], &[u8]) {
        if len == 0 {
            return (&[], &[]);
        }
        debug_assert!(off + len <= self.storage.len());
        let start = self.wrap(self.head() + off);
        let first = len.min(self.storage.len() - start);
        (
            &self.storage[start..start + first],
            &self.storage[..len - first],
        )
    }

    fn advance(&mut self, n: usize) {
        // Below the storage's length, itself at most `max`.
        self.head = self.wrap(self.head() + n) as u32;
    }

    /// Bytes the ring can hold from head without allocating: its storage,
    /// or the first allocation's size (which any ring may take).
    fn held_or_min(&self) -> usize {
        self.storage.len().max(MIN_RING).min(self.capacity())
    }

    /// Gives the storage back (the ring must hold nothing).
    fn release(&mut self) {
        self.storage = Box::default();
        self.head = 0;
    }
}

/// Bytes the application has written and the peer has not acknowledged yet.
///
/// Offset 0 is SND.UNA (once the SYN is acknowledged).
#[derive(Debug)]
pub struct SendBuffer {
    ring: Ring,
    len: usize,
}

impl SendBuffer {
    /// An empty buffer that holds at most `capacity` bytes; storage is
    /// allocated as it fills.
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            ring: Ring::new(capacity),
            len: 0,
        }
    }

    /// Most bytes it can hold.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Bytes held (in flight plus not yet sent).
    pub fn len(&self) -> usize {
        self.len
    }

    /// No bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left for the application to write, in bytes.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Room left without the storage growing past what it holds (or its
    /// first 4 KiB): what may be written under memory pressure.
    pub fn free_without_growing(&self) -> usize {
        self.ring.held_or_min().saturating_sub(self.len)
    }

    /// Bytes of storage allocated now.
    pub fn storage(&self) -> usize {
        self.ring.storage.len()
    }

    /// Gives the storage back if no byte is held; true if it did.
    pub fn release_if_empty(&mut self) -> bool {
        let release = self.len == 0 && !self.ring.storage.is_empty();
        if release {
            self.ring.release();
        }
        release
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.ring.write_at(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.ring.advance(n);
        self.len -= n;
        if self.len == 0 {
            self.ring.head = 0;
        }
    }

    /// Copies `out.len()` bytes starting at `off` into `out`.
    pub fn copy_out(&self, off: usize, out: &mut [u8]) {
        let (a, b) = self.ring.slices(off, out.len());
        out[..a.len()].copy_from_slice(a);
        out[a.len()..].copy_from_slice(b);
    }

    /// Frees the storage of a buffer that will never be used again.
    pub fn release(&mut self) {
        self.ring = Ring::new(0);
        self.len = 0;
    }
}

/// The most out-of-order ranges a receive buffer tracks. A segment that would
/// need more is dropped (the sender retransmits it), which bounds both memory
/// and the work per segment whatever the peer sends.
pub const MAX_OOO_RANGES: usize = 32;

/// Bytes received from the peer that the application has not read yet, and
/// out-of-order bytes waiting for the hole before them to fill.
///
/// Offsets are relative to RCV.NXT: offset 0 is the next byte expected.
#[derive(Debug)]
pub struct RecvBuffer {
    ring: Ring,
    /// In-order bytes ready for the application.
    readable: usize,
    /// Out-of-order ranges `[start, end)` relative to RCV.NXT, sorted,
    /// disjoint, never adjacent, all with `start > 0`.
    /// No memory until the first out-of-order segment, and one pointer
    /// inline.
    ooo: ThinVec<(u32, u32)>,
}

/// What [`RecvBuffer::insert`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// How far RCV.NXT advances (in-order bytes now readable).
    pub advanced: usize,
    /// The segment landed beyond RCV.NXT (it left or filled a hole).
    pub out_of_order: bool,
    /// The segment could not be stored (too many ranges).
    pub rejected: bool,
    /// Bytes of the segment (within the window) that were already held.
    pub already_held: usize,
}

impl RecvBuffer {
    /// An empty buffer that holds at most `capacity` bytes; storage is
    /// allocated as it fills.
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ring: Ring::new(capacity),
            readable: 0,
            ooo: ThinVec::new(),
        }
    }

    /// Most bytes it can hold, readable and out-of-order together.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// In-order bytes the application can read.
    pub fn readable(&self) -> usize {
        self.readable
    }

    /// Room from RCV.NXT to the end of the buffer: the receive window.
    pub fn window(&self) -> usize {
        self.capacity() - self.readable
    }

    /// Makes the storage hold at least `bytes` (at most the capacity), so
    /// that a window of that size can arrive without allocating.
    pub fn reserve(&mut self, bytes: usize) {
        self.ring.grow(bytes.min(self.capacity()));
    }

    /// Bytes of storage allocated now.
    pub fn storage(&self) -> usize {
        self.ring.storage.len()
    }

    /// Room from RCV.NXT without the storage growing past what it holds
    /// (or its first 4 KiB): the window to offer under memory pressure.
    pub fn window_without_growing(&self) -> usize {
        self.ring.held_or_min().saturating_sub(self.readable)
    }

    /// Gives the storage back if no byte is held, in order or out of
    /// order; true if it did.
    pub fn release_if_empty(&mut self) -> bool {
        let release = self.readable == 0 && self.ooo.is_empty() && !self.ring.storage.is_empty();
        if release {
            self.ring.release();
            self.ooo = ThinVec::new();
        }
        release
    }

    /// Out-of-order data is held.
    pub fn has_holes(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// The out-of-order ranges, relative to RCV.NXT.
    pub fn ooo_ranges(&self) -> &[(u32, u32)] {
        &self.ooo
    }

    /// Stores `data` that starts `off` bytes past RCV.NXT. Bytes beyond the
    /// window are cut off; bytes already held are kept as they first arrived.
    pub fn insert(&mut self, off: usize, data: &[u8]) -> Inserted {
        let window = self.window();
        let mut res = Inserted {
            advanced: 0,
            out_of_order: off > 0,
            rejected: false,
            already_held: 0,
        };
        if off >= window || data.is_empty() {
            return res;
        }
        let end = (off + data.len()).min(window);
        let (start, end) = (off as u32, end as u32);

        // Where does [start, end) go among the ranges? Ranges that overlap or
        // touch it merge with it.
        let first = self.ooo.iter().position(|&(_, e)| e >= start);
        let first = first.unwrap_or(self.ooo.len());
        let mut last = first;
        while last < self.ooo.len() && self.ooo[last].0 <= end {
            last += 1;
        }
        if first == last && self.ooo.len() >= MAX_OOO_RANGES && start > 0 {
            res.rejected = true;
            return res;
        }

        // Copy only into the gaps between existing ranges (first arrival
        // wins), at ring positions after the readable bytes.
        let base = self.readable;
        let mut cursor = start;
        for &(s, e) in &self.ooo[first..last] {
            if s > cursor {
                let (a, b) = (cursor as usize - off, s as usize - off);
                self.ring.write_at(base + cursor as usize, &data[a..b]);
            }
            // Bytes of this range that the segment covers were held already.
            let (os, oe) = (s.max(start), e.min(end));
            if oe > os {
                res.already_held += (oe - os) as usize;
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            let (a, b) = (cursor as usize - off, end as usize - off);
            self.ring.write_at(base + cursor as usize, &data[a..b]);
        }

        // Merge.
        let merged_start = if first < last {
            start.min(self.ooo[first].0)
        } else {
            start
        };
        let merged_end = if first < last {
            end.max(self.ooo[last - 1].1)
        } else {
            end
        };
        if self.ooo.capacity() == 0 {
            self.ooo.reserve_exact(MAX_OOO_RANGES.min(4));
        }
        self.ooo.drain(first..last);
        self.ooo.insert(first, (merged_start, merged_end));

        // Does the front range now start at RCV.NXT?
        if self.ooo[0].0 == 0 {
            let adv = self.ooo[0].1;
            self.ooo.remove(0);
            for r in self.ooo.iter_mut() {
                r.0 -= adv;
                r.1 -= adv;
            }
            self.readable += adv as usize;
            res.advanced = adv as usize;
        }
        res
    }

    /// Copies up to `out.len()` readable bytes out and frees them.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable);
        let (a, b) = self.ring.slices(0, n);
        out[..a.len()].copy_from_slice(a);
        out[a.len()..n].copy_from_slice(b);
        self.consume(n);
        n
    }

    /// The readable bytes as up to two slices, without consuming them.
    pub fn peek(&self) -> (&[u8], &[u8]) {
        self.ring.slices(0, self.readable)
    }

    /// Frees `n` readable bytes without copying them (after [`peek`]).
    ///
    /// [`peek`]: RecvBuffer::peek
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.readable);
        self.ring.advance(n);
        self.readable -= n;
        if self.readable == 0 && self.ooo.is_empty() {
            self.ring.head = 0;
        }
    }

    /// Frees the storage of a buffer that will never be used again.
    pub fn release(&mut self) {
        self.ring = Ring::new(0);
        self.readable = 0;
        self.ooo = ThinVec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(rb: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; rb.readable()];
        let n = rb.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn send_buffer_wraps() {
        let mut sb = SendBuffer::new(8);
        assert_eq!(sb.write(b"abcdef"), 6);
        sb.consume(4);
        assert_eq!(sb.write(b"ghijklmn"), 6);
        let mut out = [0u8; 8];
        sb.copy_out(0, &mut out);
        assert_eq!(&out, b"efghijkl");
        assert_eq!(sb.free(), 0);
    }

    #[test]
    fn storage_grows_keeping_wrapped_bytes_in_place() {
        let mut sb = SendBuffer::new(1 << 20);
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        assert_eq!(sb.write(&data[..3000]), 3000);
        sb.consume(2000);
        // 4 KiB of storage with head at 2000: this write wraps, then grows.
        assert_eq!(sb.write(&data[3000..4000]), 1000);
        assert_eq!(sb.write(&data[4000..20_000]), 16_000);
        let mut out = vec![0u8; 18_000];
        sb.copy_out(0, &mut out);
        assert_eq!(&out[..], &data[2000..20_000]);
        assert!(sb.ring.storage.len() >= 18_000 && sb.ring.storage.len() <= 1 << 20);
    }

    #[test]
    fn reserve_allocates_ahead_keeping_held_bytes() {
        let mut rb = RecvBuffer::new(1 << 20);
        assert_eq!(rb.storage(), 0);
        rb.insert(0, &[1u8; 3000]);
        let mut out = [0u8; 2500];
        assert_eq!(rb.read(&mut out), 2500);
        // An out-of-order range is held across the reserve.
        rb.insert(1000, &[3u8; 100]);
        rb.reserve(300_000);
        assert_eq!(rb.storage(), 300_000);
        assert_eq!(rb.insert(0, &[2u8; 1000]).advanced, 1100);
        // Up to the reserve, nothing grows.
        rb.insert(0, &vec![4u8; 290_000]);
        assert_eq!(rb.storage(), 300_000);
        let got = read_all(&mut rb);
        assert_eq!(got.len(), 500 + 1000 + 100 + 290_000);
        assert!(got[..500].iter().all(|&b| b == 1));
        assert!(got[500..1500].iter().all(|&b| b == 2));
        assert!(got[1500..1600].iter().all(|&b| b == 3));
        assert!(got[1600..].iter().all(|&b| b == 4));
        // Never past the capacity.
        rb.reserve(2 << 20);
        assert_eq!(rb.storage(), 1 << 20);
    }

    #[test]
    fn in_order_insert_is_readable() {
        let mut rb = RecvBuffer::new(16);
        let r = rb.insert(0, b"hello");
        assert_eq!(r.advanced, 5);
        assert!(!r.out_of_order);
        assert_eq!(read_all(&mut rb), b"hello");
    }

    #[test]
    fn out_of_order_then_fill() {
        let mut rb = RecvBuffer::new(32);
        assert_eq!(rb.insert(5, b"world").advanced, 0);
        assert!(rb.has_holes());
        let r = rb.insert(0, b"hello");
        assert_eq!(r.advanced, 10);
        assert!(!rb.has_holes());
        assert_eq!(read_all(&mut rb), b"helloworld");
    }

    #[test]
    fn first_arrival_wins_on_overlap() {
        let mut rb = RecvBuffer::new(32);
        rb.insert(2, b"CDEF");
        rb.insert(0, b"abcdefgh");
        assert_eq!(read_all(&mut rb), b"abCDEFgh");
    }

    #[test]
    fn window_trims() {
        let mut rb = RecvBuffer::new(4);
        let r = rb.insert(0, b"abcdef");
        assert_eq!(r.advanced, 4);
        assert_eq!(rb.window(), 0);
        assert_eq!(rb.insert(0, b"x").advanced, 0);
    }

    #[test]
    fn too_many_ranges_rejected() {
        let mut rb = RecvBuffer::new(1024);
        for i in 0..MAX_OOO_RANGES {
            assert!(!rb.insert(2 + i * 2, b"x").rejected);
        }
        assert!(rb.insert(2 + MAX_OOO_RANGES * 2 + 10, b"x").rejected);
        // Bytes that merge with an existing range are still taken: [1, 2)
        // joins [2, 3).
        assert!(!rb.insert(1, b"y").rejected);
        // And the in-order byte is always taken, joining [1, 3).
        let r = rb.insert(0, b"z");
        assert!(!r.rejected);
        assert_eq!(r.advanced, 3);
    }

    #[test]
    fn ring_wraps_on_receive() {
        let mut rb = RecvBuffer::new(8);
        rb.insert(0, b"abcdef");
        let mut out = [0u8; 4];
        rb.read(&mut out);
        // Two unread bytes ("ef") leave a 6-byte window that the new bytes
        // fill exactly, wrapping around the end of the 8-byte ring.
        rb.insert(2, b"klmn");
        rb.insert(0, b"ij");
        assert_eq!(rb.window(), 0);
        assert_eq!(read_all(&mut rb), b"efijklmn");
    }
}
