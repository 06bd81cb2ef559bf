//! What a [`Driver`](super::Driver) is built with: [`RuntimeConfig`] and the
//! constants its defaults use.

use crate::device::Faults;
use crate::stack::StackConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Settings for a [`Driver`].
///
/// [`Driver`]: super::Driver
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The stack to run. [`Driver::new`] adjusts the TCP settings to the
    /// device: the MSS to its MTU, checksum offload and TSO to its offloads.
    ///
    /// [`Driver::new`]: super::Driver::new
    pub stack: StackConfig,
    /// Faults applied between the stack and the device, each direction.
    pub faults: Option<Faults>,
    /// Write every packet read from and written to the device here.
    pub pcap: Option<PathBuf>,
    /// Receive buffers in the provided-buffer ring (a power of two).
    pub rx_buffers: u16,
    /// Transmit buffers: the most packets in flight to the device at once.
    pub tx_buffers: u16,
    /// Use a multishot read over a provided-buffer ring when the kernel
    /// supports it; false forces the poll-and-read fallback.
    pub multishot: bool,
    /// Poll the completion queue for up to this long before sleeping (a
    /// busy-poll mode for latency: no sleep and no wake-up between a
    /// packet's arrival and its processing). It keeps the loop's core busy,
    /// yielding it to anything else runnable there. `None`, the default,
    /// sleeps at once.
    pub busy_poll: Option<Duration>,
    /// After a turn that read bulk data (at least [`BULK_TURN_BYTES`]), poll
    /// the completion queue for up to this long before sleeping. While a
    /// sender streams, the next super-packet usually lands within a few
    /// microseconds of the loop running dry; sleeping instead makes the
    /// kernel's sender pay for waking this thread's idle CPU for each one,
    /// and delays our ACKs by that wake-up. The spin goes on after turns
    /// that only reap our writes' completions, and stops after a turn that
    /// reads less than [`BULK_TURN_BYTES`] or a whole spin that finds
    /// nothing. Small messages and an idle loop never spin; a response of
    /// 32 KiB or more starts it (and costs one spin at its end). `None`
    /// turns it off; the default is [`DEFAULT_BULK_SPIN`], 50 µs; the
    /// loop's core goes from about 65% busy to about 90% in the lab
    /// download.
    pub bulk_spin: Option<Duration>,
    /// Send TSO super-segments when the device has offloads (default
    /// true). False keeps checksum offload but sends one segment per
    /// packet.
    pub tso: bool,
}

impl RuntimeConfig {
    /// The defaults around `stack`: no faults, no capture, 512 receive and
    /// 512 transmit buffers, multishot reads, no busy polling, a bulk spin of
    /// [`DEFAULT_BULK_SPIN`], TSO on.
    pub fn new(stack: StackConfig) -> RuntimeConfig {
        RuntimeConfig {
            stack,
            faults: None,
            pcap: None,
            rx_buffers: 512,
            tx_buffers: 512,
            multishot: true,
            busy_poll: None,
            bulk_spin: Some(DEFAULT_BULK_SPIN),
            tso: true,
        }
    }
}

/// A turn that read at least this much counts as bulk for
/// [`RuntimeConfig::bulk_spin`]: one super-packet of at least half its size,
/// or a batch of some twenty 1500-byte packets.
pub const BULK_TURN_BYTES: u64 = 32 * 1024;
/// The default [`RuntimeConfig::bulk_spin`].
pub const DEFAULT_BULK_SPIN: Duration = Duration::from_micros(50);
