//! The connection table: slots and their generations, the 4-tuple index,
//! timer scheduling, the transmit queue, and what happens after any input
//! or command touched a connection (events, accept queue, removal).

use super::{Event, ListenerHandle, SocketHandle, Stack};
use crate::tcp::Conn;
use crate::time::{Instant, PackedInstant};
use crate::wire::SeqNum;
use std::net::SocketAddrV4;
use std::num::NonZeroU16;

#[derive(Debug)]
pub(super) struct Slot {
    pub(super) conn: Option<Conn>,
    pub(super) generation: u32,
    /// The application closed or aborted its handle (or never had one).
    pub(super) released: bool,
    /// Spawned by the listener on this port and not yet in its accept
    /// queue (a listener's port is never 0).
    pub(super) listener: Option<NonZeroU16>,
    /// The deadline of this slot's live wheel entry.
    pub(super) scheduled: PackedInstant,
    /// The generation of this slot's live wheel entry.
    pub(super) timer_gen: u32,
    pub(super) in_txq: bool,
    /// Buffer storage the connection held when last counted (saturated).
    pub(super) charged: u32,
}

/// Packs the local port and the remote endpoint (our address is fixed).
#[inline]
pub(super) fn tuple_key(local_port: u16, remote: SocketAddrV4) -> u64 {
    (u64::from(local_port) << 48)
        | (u64::from(remote.port()) << 32)
        | u64::from(u32::from(*remote.ip()))
}

impl Stack {
    pub(super) fn iss(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNum {
        match self.cfg.fixed_isn {
            Some(isn) => SeqNum(isn),
            None => self.isn.isn(now, local, remote),
        }
    }

    pub(super) fn handle_of(&self, idx: usize) -> SocketHandle {
        SocketHandle {
            index: idx as u32,
            generation: self.conns[idx].generation,
        }
    }

    pub(super) fn insert(&mut self, conn: Conn, listener: Option<u16>) -> usize {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        self.conns.insert(Slot {
            conn: Some(conn),
            generation,
            released: true,
            listener: listener.and_then(NonZeroU16::new),
            scheduled: PackedInstant::NONE,
            timer_gen: 0,
            in_txq: false,
            charged: 0,
        })
    }

    pub(super) fn mark_tx(&mut self, idx: usize) {
        let slot = &mut self.conns[idx];
        if !slot.in_txq {
            slot.in_txq = true;
            self.txq.push_back(idx);
        }
    }

    /// Makes sure the wheel holds an entry no later than the connection's
    /// earliest deadline. A later deadline leaves the earlier entry in place:
    /// when it fires the connection finds nothing due and is rescheduled,
    /// which is cheaper than touching the wheel on every ACK.
    pub(super) fn schedule(&mut self, idx: usize) {
        let slot = &mut self.conns[idx];
        let Some(deadline) = slot.conn.as_ref().and_then(Conn::poll_timeout) else {
            return;
        };
        if slot.scheduled <= PackedInstant::new(deadline) {
            return;
        }
        let g = self.next_timer_gen;
        self.next_timer_gen = self.next_timer_gen.wrapping_add(1);
        slot.timer_gen = g;
        slot.scheduled = PackedInstant::new(deadline);
        self.timers.insert(deadline, (idx as u32, g));
    }

    /// After anything touched a connection: report its events, schedule its
    /// timer, queue it for transmission, and hand it to its listener or
    /// remove it when that is due.
    pub(super) fn after_update(&mut self, idx: usize) {
        let h = self.handle_of(idx);
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let synchronized = conn.is_synchronized();
        let closed = conn.is_closed();
        let bits = conn.take_events();
        let error = conn.error();
        let released = slot.released;
        // TIME-WAIT keeps the TCB only while the application may read it.
        let shed = if released { conn.shed() } else { None };
        if let Some(tcb) = shed {
            self.retired.accumulate(&tcb.stats());
        }

        // A connection from a listener goes to the accept queue once the
        // handshake completes, or disappears if it dies before that.
        if let Some(port) = slot.listener.map(NonZeroU16::get) {
            if closed {
                slot.listener = None;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open = l.half_open.saturating_sub(1);
                    self.half_open = self.half_open.saturating_sub(1);
                }
            } else if synchronized {
                slot.listener = None;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open = l.half_open.saturating_sub(1);
                    self.half_open = self.half_open.saturating_sub(1);
                    l.queue.push_back(h);
                    self.events.push_back(Event::Incoming(ListenerHandle(port)));
                }
            }
        }

        if !released && bits != 0 {
            use crate::tcp::tcb_events as ev;
            if bits & ev::CONNECTED != 0 {
                self.events.push_back(Event::Connected(h));
            }
            if bits & ev::READABLE != 0 {
                self.events.push_back(Event::Readable(h));
            }
            if bits & ev::WRITABLE != 0 {
                self.events.push_back(Event::Writable(h));
            }
            if bits & ev::PEER_CLOSED != 0 {
                self.events.push_back(Event::PeerClosed(h));
            }
            if bits & ev::ERROR != 0
                && let Some(e) = error
            {
                self.events.push_back(Event::Error(h, e));
            }
            if bits & ev::CLOSED != 0 {
                self.events.push_back(Event::Closed(h));
            }
        }
        if closed {
            // RFC 9293 3.10.7.1: from now on a segment for this 4-tuple
            // finds a closed port, even while the application still holds
            // the handle to read what is left.
            self.unlink(idx);
        }
        let relieved = self.charge(idx);
        self.mark_tx(idx);
        self.schedule(idx);
        self.maybe_remove(idx);
        if relieved {
            self.relieve();
        }
    }
    /// Takes the connection at `idx` out of the demultiplexing table, if
    /// it is still the one its 4-tuple leads to.
    fn unlink(&mut self, idx: usize) {
        let Some(conn) = self.conns[idx].conn.as_ref() else {
            return;
        };
        let key = tuple_key(conn.local().port(), conn.remote());
        if self.tuples.get(&key) == Some(&idx) {
            self.tuples.remove(&key);
        }
    }

    /// Frees a slot whose connection is CLOSED, whose handle the application
    /// let go of, and that has nothing left to send.
    pub(super) fn maybe_remove(&mut self, idx: usize) {
        let slot = &self.conns[idx];
        let done = slot.released
            && !slot.in_txq
            && slot.listener.is_none()
            && slot.conn.as_ref().is_none_or(Conn::is_closed);
        if !done {
            return;
        }
        self.unlink(idx);
        let slot = self.conns.remove(idx);
        self.buffer_memory -= slot.charged as usize;
        if let Some(conn) = slot.conn {
            self.retired.accumulate(&conn.stats());
        }
    }
}
