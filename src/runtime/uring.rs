//! The io_uring pieces of the loop: a provided-buffer ring for multishot TUN
//! reads, a pool of transmit buffers, an eventfd for cross-thread wake-ups.
//!
//! Ownership rule (after tokio-uring and monoio): a buffer handed to the
//! kernel stays owned by this module until its completion arrives, whatever
//! happens to the requester. [`Driver`](super::Driver) drains every
//! in-flight operation before these pools are freed.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;

/// One contiguous, zeroed, page-aligned allocation that the kernel may read
/// and write through raw pointers while we hold it.
struct Region {
    ptr: *mut u8,
    layout: Layout,
}

impl Region {
    fn new(size: usize) -> io::Result<Region> {
        let layout = Layout::from_size_align(size.max(4096), 4096)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer region too large"))?;
        // SAFETY: the layout has a non-zero size (at least one page).
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot allocate packet buffers",
            ));
        }
        Ok(Region { ptr, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the driver frees a
        // region only after every operation using it has completed.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): the kernel picks a
/// buffer for each packet a multishot read returns, and we give it back once
/// the packet has been processed.
pub(crate) struct BufRing {
    ring: Region,
    bufs: Region,
    entries: u16,
    buf_size: usize,
    tail: u16,
    pub(crate) bgid: u16,
}

/// Size of `struct io_uring_buf`.
const BUF_ENTRY: usize = 16;

impl BufRing {
    /// Registers a ring of `entries` (a power of two) buffers of `buf_size`.
    pub(crate) fn new(
        ring: &IoUring,
        entries: u16,
        buf_size: usize,
        bgid: u16,
    ) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two());
        let rregion = Region::new(entries as usize * BUF_ENTRY)?;
        let bregion = Region::new(entries as usize * buf_size)?;
        // SAFETY: `rregion` is page-aligned, zeroed, sized for `entries`
        // entries and lives as long as the BufRing, which the driver keeps
        // until the ring is unregistered or the io_uring is gone.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(rregion.ptr as u64, entries, bgid, 0)?;
        }
        let mut br = BufRing {
            ring: rregion,
            bufs: bregion,
            entries,
            buf_size,
            tail: 0,
            bgid,
        };
        for bid in 0..entries {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    /// Queues buffer `bid` for the kernel (visible after [`publish`]).
    ///
    /// [`publish`]: BufRing::publish
    pub(crate) fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, so the entry lies inside the ring region.
        // We write addr, len and bid only: the last two bytes of entry 0
        // are the shared tail, written by `publish` alone.
        unsafe {
            let e = self.ring.ptr.add(idx * BUF_ENTRY);
            let addr = self.bufs.ptr.add(bid as usize * self.buf_size) as u64;
            (e as *mut u64).write(addr);
            (e.add(8) as *mut u32).write(self.buf_size as u32);
            (e.add(12) as *mut u16).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes pushed buffers visible to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring, 2-aligned
        // (the region is page-aligned); the kernel reads it concurrently, so
        // it is written atomically with release ordering, as liburing does.
        unsafe {
            let tail = &*(self.ring.ptr.add(14) as *const AtomicU16);
            tail.store(self.tail, Ordering::Release);
        }
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub(crate) fn buf(&mut self, bid: u16, len: usize) -> &mut [u8] {
        assert!(bid < self.entries && len <= self.buf_size);
        // SAFETY: the kernel handed buffer `bid` back with this completion
        // and will not touch it until we push it again; the slice lies
        // inside the buffer region.
        unsafe {
            std::slice::from_raw_parts_mut(self.bufs.ptr.add(bid as usize * self.buf_size), len)
        }
    }
}

/// Preallocated transmit buffers, referred to by index.
pub(crate) struct TxPool {
    region: Region,
    size: usize,
    free: Vec<u16>,
    count: u16,
}

impl TxPool {
    pub(crate) fn new(count: u16, size: usize) -> io::Result<TxPool> {
        Ok(TxPool {
            region: Region::new(count as usize * size)?,
            size,
            free: (0..count).rev().collect(),
            count,
        })
    }

    pub(crate) fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }

    pub(crate) fn give(&mut self, idx: u16) {
        debug_assert!(idx < self.count);
        self.free.push(idx);
    }

    /// Buffer `idx`, which the caller has taken and not yet submitted.
    pub(crate) fn buf(&mut self, idx: u16) -> &mut [u8] {
        assert!(idx < self.count);
        // SAFETY: idx < count, so the slice lies in the region; a taken
        // buffer is not in the kernel's hands until submitted.
        unsafe {
            std::slice::from_raw_parts_mut(self.region.ptr.add(idx as usize * self.size), self.size)
        }
    }

    pub(crate) fn ptr(&self, idx: u16) -> *const u8 {
        assert!(idx < self.count);
        // SAFETY: in bounds, as in `buf`.
        unsafe { self.region.ptr.add(idx as usize * self.size) }
    }
}

/// A non-blocking eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd counter (wakes the loop).
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local into a descriptor the caller keeps
    // open; EAGAIN (counter saturated) still leaves the loop woken.
    unsafe {
        libc::write(fd, (&one as *const u64).cast(), 8);
    }
}

/// Drains an eventfd counter without blocking.
pub(crate) fn eventfd_drain(fd: &OwnedFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a local; the fd is non-blocking.
    unsafe {
        libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
    }
}

// SAFETY: the regions are plain memory owned by their pool; moving a pool to
// another thread moves that ownership with it.
unsafe impl Send for BufRing {}
// SAFETY: as above.
unsafe impl Send for TxPool {}
