//! Buffer memory: the storage a connection's buffers hold, what the
//! connection does while the stack is short of memory, and giving storage
//! back once the connection has gone idle (the stack looks for idle
//! connections in a sweep: see `stack/memory.rs`).
//!
//! Both buffers allocate as bytes arrive (`buffer.rs`). The stack adds up
//! what every connection holds against its budget
//! (`StackConfig::memory_limit`) and, past it, tells each connection it is
//! under pressure. A connection under pressure offers no window beyond the
//! storage it holds (or a first 4 KiB), takes no more from the application
//! than that storage holds, and gives empty buffers back at once. Data
//! inside a window already offered is still taken: pressure shrinks what
//! is offered next, never what was promised, so nothing is dropped.

use super::*;

/// How long a connection keeps the storage of empty buffers after data
/// last moved: long enough that a transfer's pauses (an application
/// between two reads, a sender between two bursts) do not give storage
/// back only to allocate it again, short enough that an idle connection
/// costs what an idle connection holds.
pub const IDLE_RELEASE: Duration = Duration::from_secs(1);

impl Tcb {
    /// Bytes of send and receive storage allocated now.
    pub(crate) fn buffer_storage(&self) -> usize {
        self.snd.buf.storage() + self.rcv.buf.storage()
    }

    /// The stack's memory pressure began (`on`) or ended.
    pub(crate) fn set_memory_pressure(&mut self, on: bool) {
        if self.rcv.mem_pressure == on {
            return;
        }
        self.rcv.mem_pressure = on;
        if on {
            self.release_empty_buffers();
            return;
        }
        // The window may open again: tell the peer (receiver SWS avoidance
        // decides whether the edge moves), and the application that it can
        // write.
        if self.rcv.offer_wnd() > self.rcv.window_in_force() {
            self.ack_now = true;
        }
        if self.snd.want_writable && self.send_capacity() > 0 {
            self.snd.want_writable = false;
            self.raise(ev::WRITABLE);
        }
    }

    /// Under memory pressure.
    pub(crate) fn memory_pressure(&self) -> bool {
        self.rcv.mem_pressure
    }

    /// Gives back the storage of buffers that hold nothing; true if any.
    pub(crate) fn release_empty_buffers(&mut self) -> bool {
        let snd = self.snd.buf.release_if_empty();
        let rcv = self.rcv.buf.release_if_empty();
        let rack = self.rack.release_spare();
        snd || rcv || rack
    }

    /// When the connection last sent a segment (data, or an ACK for what
    /// it received): data has not moved either way since.
    pub(crate) fn quiet_since(&self) -> Instant {
        self.snd.last_send
    }
}
