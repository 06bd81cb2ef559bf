//! The stack's buffer budget ([`StackConfig::memory_limit`]): counting
//! what every connection's buffers hold, memory pressure, and a sweep that
//! finds idle connections and has their empty buffers give their storage
//! back.
//!
//! The sweep looks at the whole table once per [`IDLE_RELEASE`], and only
//! while some connection holds storage: no timer per connection, and a
//! stack with nothing allocated does not wake for it. A sweep costs a
//! look at each slot (most hold no storage: a compare), some half a
//! millisecond for 100,000 connections.

use super::Stack;
#[cfg(doc)]
use super::StackConfig;
use crate::tcp::{Conn, IDLE_RELEASE, Tcb};
use crate::time::{Instant, PackedInstant};
use std::time::Duration;

/// How often the sweep runs.
const SWEEP_INTERVAL: Duration = IDLE_RELEASE;

impl Stack {
    /// The memory pressure ended: every connection that was told of it
    /// hears that it is over now, not at its next segment (an idle one
    /// may have none coming: its application waits to write, its peer
    /// for a window).
    pub(super) fn relieve(&mut self) {
        for idx in std::mem::take(&mut self.pressed) {
            if self.conns.contains(idx) {
                self.after_update(idx);
            }
        }
    }

    /// Counts the buffer storage of the connection at `idx` against the
    /// stack's budget ([`super::StackConfig::memory_limit`]), begins or
    /// ends memory pressure, and tells the connection which it is.
    /// Returns true when this ended the pressure.
    pub(super) fn charge(&mut self, idx: usize) -> bool {
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.as_mut() else {
            return false;
        };
        let mut relieved = false;
        let synchronized = conn.is_synchronized();
        if let Some(tcb) = conn.tcb_mut()
            && tcb.memory_pressure()
        {
            // Under pressure, emptied buffers go back at once.
            tcb.release_empty_buffers();
        }
        let storage = conn.tcb().map_or(0, Tcb::buffer_storage);
        let held = u32::try_from(storage).unwrap_or(u32::MAX);
        if held != slot.charged {
            self.buffer_memory = self.buffer_memory + held as usize - slot.charged as usize;
            slot.charged = held;
            let limit = self.cfg.memory_limit;
            if !self.memory_pressure && self.buffer_memory > limit {
                self.memory_pressure = true;
                self.counters.memory_pressure += 1;
            } else if self.memory_pressure && self.buffer_memory <= limit - limit / 8 {
                self.memory_pressure = false;
                relieved = true;
            }
        }
        let Some(tcb) = conn.tcb_mut() else {
            return relieved;
        };
        if synchronized && tcb.memory_pressure() != self.memory_pressure {
            tcb.set_memory_pressure(self.memory_pressure);
            if self.memory_pressure {
                // Empty buffers were given back.
                let held = u32::try_from(tcb.buffer_storage()).unwrap_or(u32::MAX);
                self.buffer_memory -= (slot.charged - held) as usize;
                slot.charged = held;
                self.pressed.push(idx);
            }
        }
        relieved
    }

    /// Schedules the next sweep, if storage is held and none is due.
    pub(super) fn arm_sweep(&mut self, now: Instant) {
        if self.buffer_memory > 0 && !self.sweep_at.is_some() {
            self.sweep_at = PackedInstant::new(now + SWEEP_INTERVAL);
        }
    }

    /// When the next sweep is due.
    pub(super) fn sweep_deadline(&self) -> Option<Instant> {
        self.sweep_at.get()
    }

    /// If a sweep is due: connections that have sent nothing for
    /// [`IDLE_RELEASE`] give back the storage of their empty buffers.
    pub(super) fn sweep(&mut self, now: Instant) {
        if self.sweep_at.get().is_none_or(|t| t > now) {
            return;
        }
        self.sweep_at = PackedInstant::NONE;
        for idx in 0..self.conns.capacity() {
            let Some(slot) = self.conns.get_mut(idx) else {
                continue;
            };
            if slot.charged == 0 {
                continue;
            }
            let Some(tcb) = slot.conn.as_mut().and_then(Conn::tcb_mut) else {
                continue;
            };
            if now - tcb.quiet_since() >= IDLE_RELEASE
                && tcb.release_empty_buffers()
                && self.charge(idx)
            {
                self.relieve();
            }
        }
        self.arm_sweep(now);
    }
}
