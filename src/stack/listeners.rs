//! Listening ports: passive opens, the half-open count, the accept queue.

#[cfg(doc)]
use super::StackConfig;
use super::{Event, ListenError, ListenerHandle, SocketHandle, Stack};
use crate::tcp::{Conn, Listen, TcpConfig};
use crate::time::Instant;
use std::collections::VecDeque;
use std::num::NonZeroU16;

#[derive(Debug)]
pub(super) struct Listener {
    pub(super) listen: Listen,
    pub(super) backlog: usize,
    /// Connections in SYN-RECEIVED.
    pub(super) half_open: usize,
    pub(super) queue: VecDeque<SocketHandle>,
    /// When the listener last answered a SYN with a cookie.
    pub(super) last_cookie: Option<Instant>,
}

impl Stack {
    /// Starts listening on `port` (RFC 9293 3.10.1, passive OPEN). At most
    /// `backlog` connections wait in SYN-RECEIVED or in the accept queue
    /// (and at most [`StackConfig::max_half_open`] in SYN-RECEIVED over the
    /// whole stack). SYNs beyond that are answered with SYN cookies
    /// ([`StackConfig::syn_cookies`]), which keep no state, or else
    /// dropped, and the peer retries; with the accept queue itself full
    /// they are dropped.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerHandle, ListenError> {
        self.listen_with(port, backlog, self.cfg.tcp)
    }

    /// [`Stack::listen`] with per-listener connection settings instead of
    /// [`StackConfig::tcp`].
    pub fn listen_with(
        &mut self,
        port: u16,
        backlog: usize,
        tcp: TcpConfig,
    ) -> Result<ListenerHandle, ListenError> {
        if port == 0 {
            return Err(ListenError::InvalidPort);
        }
        if self.listeners.contains_key(&port) {
            return Err(ListenError::AddrInUse);
        }
        self.listeners.insert(
            port,
            Listener {
                listen: Listen::new(tcp),
                backlog: backlog.max(1),
                half_open: 0,
                queue: VecDeque::new(),
                last_cookie: None,
            },
        );
        Ok(ListenerHandle(port))
    }

    /// Stops listening. Connections already accepted are unaffected; those
    /// still waiting to be accepted are reset.
    pub fn unlisten(&mut self, now: Instant, listener: ListenerHandle) {
        if let Some(l) = self.listeners.remove(&listener.0) {
            // Its half-open connections are aborted below, no longer
            // counted as its own.
            self.half_open = self.half_open.saturating_sub(l.half_open);
            for h in l.queue {
                let _ = self.abort(now, h);
            }
        }
        let pending: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| s.listener.map(NonZeroU16::get) == Some(listener.0))
            .map(|(i, _)| i)
            .collect();
        for idx in pending {
            let h = self.handle_of(idx);
            self.conns[idx].listener = None;
            let _ = self.abort(now, h);
        }
    }

    /// The next established connection of a listener.
    pub fn accept(&mut self, listener: ListenerHandle) -> Option<SocketHandle> {
        let l = self.listeners.get_mut(&listener.0)?;
        while let Some(h) = l.queue.pop_front() {
            let Some(slot) = self.conns.get_mut(h.index as usize) else {
                continue;
            };
            if slot.generation != h.generation {
                continue;
            }
            slot.released = false;
            // Events raised before the accept were not reported: make sure
            // the application hears about data that is already here.
            if let Some(tcb) = slot.conn.as_mut().and_then(Conn::tcb_mut)
                && tcb.on_accept()
            {
                self.events.push_back(Event::Readable(h));
            }
            return Some(h);
        }
        None
    }
}
