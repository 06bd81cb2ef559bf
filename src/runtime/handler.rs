//! The application's side of the loop: the [`Handler`] it implements, the
//! [`Context`] it acts through, how it stops the loop ([`StopMode`]) and how
//! another thread wakes it ([`Waker`]).

use super::RuntimeStats;
use super::uring;
use crate::stack::ConnectError;
use crate::stack::{Event, ListenError, ListenerHandle, SocketError, SocketHandle, Stack};
use crate::time::Instant;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// Wakes a [`Driver`]'s loop from another thread.
///
/// [`Driver`]: super::Driver
#[derive(Debug, Clone)]
pub struct Waker {
    pub(super) fd: Arc<OwnedFd>,
}

impl Waker {
    /// Makes the loop call [`Handler::on_wake`] soon, waking it if it
    /// sleeps. Wakes that arrive before the loop gets to it merge into one.
    pub fn wake(&self) {
        uring::eventfd_signal(self.fd.as_raw_fd());
    }
}

/// How [`Context::stop`] treats the connections still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Reset every connection and stop at once.
    Reset,
    /// Close every connection gracefully and wait up to this long for them to
    /// finish (queued data delivered, FINs acknowledged), then reset the rest.
    Graceful(Duration),
}

/// Application logic that runs inside the loop: no locks, no other thread.
pub trait Handler {
    /// Called once before the first turn.
    fn on_start(&mut self, _cx: &mut Context<'_>) {}
    /// Called for every event the stack raises.
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event);
    /// Called when another thread woke the loop with a [`Waker`].
    fn on_wake(&mut self, _cx: &mut Context<'_>) {}
    /// Called once per turn, after events.
    fn on_turn(&mut self, _cx: &mut Context<'_>) {}
}

/// What a [`Handler`] can do from inside the loop.
pub struct Context<'a> {
    pub(super) stack: &'a mut Stack,
    pub(super) now: Instant,
    pub(super) stop: &'a mut Option<StopMode>,
    pub(super) stats: &'a RuntimeStats,
}

impl<'a> Context<'a> {
    /// The time of this turn, as the stack sees it.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The sans-IO stack, for anything the shortcuts below do not cover.
    pub fn stack(&mut self) -> &mut Stack {
        self.stack
    }

    /// Opens a connection to `remote` ([`Stack::connect`]); an
    /// [`Event::Connected`] or [`Event::Error`] says how it went.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<SocketHandle, ConnectError> {
        self.stack.connect(self.now, remote)
    }

    /// Listens on `port` with at most `backlog` connections waiting to be
    /// accepted or half open ([`Stack::listen`]).
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerHandle, ListenError> {
        self.stack.listen(port, backlog)
    }

    /// The next established connection of listener `l`, if one waits
    /// ([`Stack::accept`]).
    pub fn accept(&mut self, l: ListenerHandle) -> Option<SocketHandle> {
        self.stack.accept(l)
    }

    /// Queues as much of `data` as the send buffer takes and returns how
    /// much that was ([`Stack::send`]).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SocketError> {
        self.stack.send(h, data)
    }

    /// Copies received data into `buf`; `Ok(0)` is the peer's FIN
    /// ([`Stack::recv`]).
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, SocketError> {
        self.stack.recv(h, buf)
    }

    /// [`Stack::recv_with`]: read in place, no copy.
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, SocketError> {
        self.stack.recv_with(h, f)
    }

    /// Closes the write side: a FIN follows the queued data
    /// ([`Stack::shutdown`]).
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.shutdown(h)
    }

    /// Closes gracefully and gives up the handle ([`Stack::close`]).
    pub fn close(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.close(self.now, h)
    }

    /// Resets the connection and gives up the handle ([`Stack::abort`]).
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.abort(self.now, h)
    }

    /// The loop's own counters.
    pub fn runtime_stats(&self) -> &RuntimeStats {
        self.stats
    }

    /// Ends the loop after this turn.
    pub fn stop(&mut self, mode: StopMode) {
        *self.stop = Some(mode);
    }
}
