//! [`RuntimeStats`]: the loop's own counters, as opposed to the stack's.

/// Counters of the loop itself. Frames and bytes are counted at the device,
/// virtio-net header included; a super-packet is one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Loop turns: each reaps completions, runs the handler and flushes.
    pub turns: u64,
    /// Frames read from the device.
    pub packets_read: u64,
    /// Frames whose write to the device completed.
    pub packets_written: u64,
    /// Bytes read from the device.
    pub bytes_read: u64,
    /// Bytes written to the device.
    pub bytes_written: u64,
    /// `io_uring_enter` calls.
    pub submits: u64,
    /// Writes to the device that failed (the frame is lost; TCP resends).
    pub write_errors: u64,
    /// Reads from the device that failed, other than for lack of buffers.
    pub read_errors: u64,
    /// The multishot read ended for lack of buffers and was re-armed.
    pub rx_rearms: u64,
    /// Flushes that found every transmit buffer in flight while the stack
    /// had something to send (it waits for a write to complete), and (with
    /// faults) cut super-segments whose last segments found none and were
    /// lost.
    pub tx_pool_exhausted: u64,
    /// Packets the fault injector dropped, both directions.
    pub faults_dropped: u64,
    /// Packets the fault injector sent twice, both directions.
    pub faults_duplicated: u64,
    /// Packets the fault injector held back behind the next, both
    /// directions.
    pub faults_reordered: u64,
    /// Read by multishot over a buffer ring (true) or by the fallback.
    pub multishot: bool,
    /// Frames shorter than the device's vnet header, or whose header would
    /// not let the checksum be completed: dropped.
    pub rx_bad_frames: u64,
    /// Wait calls that found a completion while busy-polling.
    pub busy_poll_hits: u64,
    /// Wait calls that spun after a bulk turn; those that ended on a
    /// completion after which the loop read data (hits: a spin that ends on
    /// our own write's completion is neither), and those that ran their
    /// whole length and went to sleep (misses).
    pub bulk_spins: u64,
    /// Bulk spins that ended on a completion after which data was read.
    pub bulk_spin_hits: u64,
    /// Bulk spins that ran their whole length and went to sleep.
    pub bulk_spin_misses: u64,
    /// Segments cut from received super-packets for the fault injector.
    pub rx_cut_segments: u64,
    /// Segments cut from super-segments to send, for the fault injector.
    pub tx_cut_segments: u64,
}
