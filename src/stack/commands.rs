//! Commands from the application: active opens, and everything done to or
//! asked of a connection through its [`SocketHandle`].

#[cfg(doc)]
use super::Event;
use super::table::{Slot, tuple_key};
use super::{ConnectError, SocketError, SocketHandle, Stack};
use crate::tcp::{Conn, ConnError, SynSent, Tcb, TcpConfig, TcpStats};
use crate::time::Instant;
use std::net::SocketAddrV4;
use std::sync::Arc;

/// The TCB of a connection the application holds (every state it can
/// hold has one).
fn tcb_mut(conn: &mut Conn) -> Result<&mut Tcb, SocketError> {
    conn.tcb_mut().ok_or(SocketError::InvalidHandle)
}

impl Stack {
    /// Opens a connection to `remote` (RFC 9293 3.10.1, active OPEN). The
    /// SYN goes out on the next `poll_transmit`; [`Event::Connected`] or
    /// [`Event::Error`] tells how it went.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
    ) -> Result<SocketHandle, ConnectError> {
        let tcp = self.default_tcp.clone();
        self.open(now, remote, tcp)
    }

    /// [`Stack::connect`] with settings for this connection only.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tcp: TcpConfig,
    ) -> Result<SocketHandle, ConnectError> {
        self.open(now, remote, Arc::new(tcp))
    }

    /// An active open with the settings `tcp`.
    fn open(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tcp: Arc<TcpConfig>,
    ) -> Result<SocketHandle, ConnectError> {
        let ip = remote.ip();
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || remote.port() == 0 {
            return Err(ConnectError::InvalidAddress);
        }
        if self.conns.len() >= self.cfg.max_connections {
            return Err(ConnectError::TableFull);
        }
        let tuples = &self.tuples;
        let listeners = &self.listeners;
        let port = self
            .ports
            .allocate(self.cfg.addr, remote, |p| {
                tuples.contains_key(&tuple_key(p, remote)) || listeners.contains_key(&p)
            })
            .ok_or(ConnectError::NoPortsAvailable)?;
        let local = SocketAddrV4::new(self.cfg.addr, port);
        let iss = self.iss(now, local, remote);
        let ts_offset = self.isn.ts_offset(local, remote);
        let conn = Conn::SynSent(SynSent::connect(tcp, now, local, remote, iss, ts_offset));
        let idx = self.insert(conn, None);
        self.conns[idx].released = false;
        self.tuples.insert(tuple_key(port, remote), idx);
        self.after_update(idx);
        Ok(self.handle_of(idx))
    }

    /// The TCB of a live handle.
    fn tcb(&self, h: SocketHandle) -> Result<&Tcb, SocketError> {
        self.conn(h)?.tcb().ok_or(SocketError::InvalidHandle)
    }

    fn slot_mut(&mut self, h: SocketHandle) -> Result<&mut Slot, SocketError> {
        match self.conns.get_mut(h.index as usize) {
            Some(s) if s.generation == h.generation && !s.released => Ok(s),
            _ => Err(SocketError::InvalidHandle),
        }
    }

    fn conn(&self, h: SocketHandle) -> Result<&Conn, SocketError> {
        match self.conns.get(h.index as usize) {
            Some(s) if s.generation == h.generation && !s.released => {
                s.conn.as_ref().ok_or(SocketError::InvalidHandle)
            }
            _ => Err(SocketError::InvalidHandle),
        }
    }

    /// Queues data. Returns how many bytes were taken; `WouldBlock` when the
    /// send buffer is full ([`Event::Writable`] follows when it drains).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        if let Some(e) = conn.error() {
            return Err(SocketError::Failed(e));
        }
        if !conn.can_send() {
            return Err(SocketError::NotWritable);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = tcb_mut(conn)?.send(data);
        if self.charge(h.index as usize) {
            self.relieve();
        }
        if n == 0 {
            return Err(SocketError::WouldBlock);
        }
        self.mark_tx(h.index as usize);
        Ok(n)
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self, h: SocketHandle) -> Result<usize, SocketError> {
        Ok(self.tcb(h)?.send_capacity())
    }

    /// Reads received data. `Ok(0)` is the end of the stream (the peer's
    /// FIN); `WouldBlock` means nothing yet ([`Event::Readable`] follows).
    pub fn recv(&mut self, h: SocketHandle, out: &mut [u8]) -> Result<usize, SocketError> {
        self.recv_via(h, out.is_empty(), |tcb| tcb.recv(out))
    }

    /// Reads received data in place, without a copy: `f` sees the bytes
    /// ready to read as up to two slices (in stream order; the second is
    /// empty unless the data wraps around the receive ring) and returns how
    /// many of them it took, which are then freed (a larger return counts
    /// as all). Results as [`Stack::recv`]: `Ok(0)` without calling `f` at
    /// the end of the stream, `WouldBlock` when nothing is ready.
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, SocketError> {
        self.recv_via(h, false, |tcb| tcb.recv_with(f))
    }

    fn recv_via(
        &mut self,
        h: SocketHandle,
        empty_out: bool,
        read: impl FnOnce(&mut crate::tcp::Tcb) -> usize,
    ) -> Result<usize, SocketError> {
        let idx = h.index as usize;
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        let tcb = tcb_mut(conn)?;
        if tcb.readable() > 0 {
            if empty_out {
                return Ok(0);
            }
            let n = read(tcb);
            // Reading opens the window; an update may be due.
            self.mark_tx(idx);
            if self.memory_pressure && self.charge(idx) {
                self.relieve();
            }
            return Ok(n);
        }
        tcb.want_readable();
        if let Some(e) = tcb.error() {
            if e == ConnError::Aborted {
                return Err(SocketError::NotConnected);
            }
            return Err(SocketError::Failed(e));
        }
        if tcb.peer_finished() {
            return Ok(0);
        }
        Err(SocketError::WouldBlock)
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, h: SocketHandle) -> Result<usize, SocketError> {
        Ok(self.tcb(h)?.readable())
    }

    /// Shuts the write side: a FIN follows the queued data (`SHUT_WR`).
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        slot.conn = Some(conn.shutdown());
        self.after_update(h.index as usize);
        Ok(())
    }

    /// Shuts the read side (`SHUT_RD`): unread and later data is discarded.
    pub fn shutdown_read(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        tcb_mut(conn)?.shutdown_read();
        self.mark_tx(h.index as usize);
        Ok(())
    }

    /// Closes gracefully and lets go of the handle: queued data is still
    /// delivered and the FIN follows. If unread data remains, the peer is
    /// reset instead (RFC 2525 2.17), as Linux does.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), SocketError> {
        let unread = self.tcb(h)?.readable() > 0;
        if unread {
            return self.abort(now, h);
        }
        let idx = h.index as usize;
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        let mut conn = conn.shutdown();
        conn.orphan(now);
        slot.conn = Some(conn);
        slot.released = true;
        self.after_update(idx);
        Ok(())
    }

    /// Resets the connection and lets go of the handle (RFC 9293 ABORT).
    pub fn abort(&mut self, _now: Instant, h: SocketHandle) -> Result<(), SocketError> {
        let idx = h.index as usize;
        let slot = match self.conns.get_mut(idx) {
            Some(s) if s.generation == h.generation => s,
            _ => return Err(SocketError::InvalidHandle),
        };
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        slot.conn = Some(conn.abort());
        slot.released = true;
        self.mark_tx(idx);
        self.after_update(idx);
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on for one connection
    /// ([`TcpConfig::nodelay`]).
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        tcb_mut(conn)?.set_nodelay(on);
        self.mark_tx(h.index as usize);
        Ok(())
    }

    /// The RFC 9293 name of the connection's state.
    pub fn state(&self, h: SocketHandle) -> Result<&'static str, SocketError> {
        Ok(self.conn(h)?.name())
    }

    /// The connection's local address and port.
    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, SocketError> {
        Ok(self.conn(h)?.local())
    }

    /// The connection's remote address and port.
    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, SocketError> {
        Ok(self.conn(h)?.remote())
    }

    /// The connection itself, for statistics and inspection.
    pub fn connection(&self, h: SocketHandle) -> Result<&Conn, SocketError> {
        self.conn(h)
    }

    /// A `tcp_info`-like snapshot of the connection.
    pub fn info(&self, h: SocketHandle) -> Result<crate::tcp::TcpInfo, SocketError> {
        let conn = self.conn(h)?;
        let tcb = conn.tcb().ok_or(SocketError::InvalidHandle)?;
        Ok(tcb.info(conn.name()))
    }

    /// A copy of the connection's counters.
    pub fn stats(&self, h: SocketHandle) -> Result<TcpStats, SocketError> {
        Ok(self.conn(h)?.stats())
    }

    /// Every live handle the application holds (accepted or connected).
    pub fn handles(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.conns
            .iter()
            .filter(|(_, s)| !s.released)
            .map(|(i, s)| SocketHandle {
                index: i as u32,
                generation: s.generation,
            })
    }
}
