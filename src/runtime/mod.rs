//! The single-threaded run-to-completion loop.
//!
//! One thread, one io_uring. TUN reads stay armed as one multishot read over
//! a provided-buffer ring (or, where the kernel refuses that, a multishot
//! poll followed by a batch of plain reads); packets are handed to the
//! [`Stack`] in the buffer the kernel filled; segments are built straight
//! into preallocated transmit buffers and submitted as a batch, one
//! `io_uring_enter` per turn. The loop sleeps until the next completion or
//! the stack's next timer, whichever comes first, and another thread can
//! wake it through an eventfd ([`Waker`]).
//!
//! In steady state the per-packet path allocates nothing: receive and
//! transmit buffers, the completion batch and the stack's queues are all
//! allocated at start-up or reused.
//!
//! This module and [`crate::device`] are the only ones with `unsafe` code;
//! each block says why it is sound.
//!
//! [`Stack`]: crate::stack::Stack

mod clock;
mod config;
mod driver;
mod edge;
mod handler;
mod reap;
mod ring;
mod rx;
mod setup;
mod stats;
mod tx;
mod uring;

#[cfg(feature = "bench-support")]
pub use clock::{process_cpu_time, thread_cpu_time};
pub use config::{BULK_TURN_BYTES, DEFAULT_BULK_SPIN, RuntimeConfig};
pub use driver::Driver;
pub use handler::{Context, Handler, StopMode, Waker};
pub use stats::RuntimeStats;
