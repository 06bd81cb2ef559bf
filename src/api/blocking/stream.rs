//! [`TcpStream`]: a connection, read and written from application threads
//! through its shared queues.

use super::Runtime;
use super::shared::{Cmd, Shared, Sock};
use crate::tcp::TcpInfo;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

/// A TCP connection over ringtcp, with `std::net::TcpStream`'s shape.
pub struct TcpStream {
    pub(super) shared: Arc<Shared>,
    pub(super) sock: Arc<Sock>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.sock.lock();
        f.debug_struct("TcpStream")
            .field("local", &st.local)
            .field("peer", &st.peer)
            .finish()
    }
}

impl TcpStream {
    /// Connects through the global runtime (see [`Runtime::install_global`]).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        Runtime::global()?.connect(addr)
    }

    /// Connects through the global runtime, giving up after `timeout`
    /// (`TimedOut`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Runtime::global()?.connect_timeout(addr, timeout)
    }

    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .lock()
            .peer
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .lock()
            .local
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))
    }

    /// `Shutdown::Write` sends a FIN after the queued data; `Read` discards
    /// what arrives from now on; `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut st = self.sock.lock();
        if let Some(e) = st.io_error() {
            return Err(e);
        }
        st.shut(how);
        drop(st);
        self.shared.send(Cmd::Pump(self.sock.clone()))
    }

    /// `true` turns Nagle's algorithm off (RFC 1122 4.2.3.4): small writes
    /// go out at once instead of waiting for outstanding data to be
    /// acknowledged.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.shared.send(Cmd::Nodelay(self.sock.clone(), nodelay))
    }

    /// How long a read waits for data before failing with `WouldBlock`, as
    /// std's do; `None` waits forever. A zero duration is `InvalidInput`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if t.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        self.sock.lock().read_timeout = t;
        Ok(())
    }

    /// How long a write waits for room in the send queue before failing
    /// with `WouldBlock`; `None` waits forever. A zero duration is
    /// `InvalidInput`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if t.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        self.sock.lock().write_timeout = t;
        Ok(())
    }

    /// The timeout [`TcpStream::set_read_timeout`] set.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.lock().read_timeout)
    }

    /// The timeout [`TcpStream::set_write_timeout`] set.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.lock().write_timeout)
    }

    /// A snapshot of the connection: state, negotiated options, congestion
    /// state and counters (in the spirit of Linux `tcp_info`).
    pub fn info(&self) -> io::Result<TcpInfo> {
        {
            self.sock.lock().info = None;
        }
        self.shared.send(Cmd::Info(self.sock.clone()))?;
        let deadline = StdInstant::now() + Duration::from_secs(10);
        let mut st = self.sock.lock();
        loop {
            if let Some(s) = st.info.take() {
                return Ok(s);
            }
            if st.handle.is_none() || StdInstant::now() >= deadline {
                return Err(io::Error::new(
                    ErrorKind::NotConnected,
                    "no statistics for this socket",
                ));
            }
            st = self
                .sock
                .cv
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn do_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.sock.lock();
        let deadline = st.read_timeout.map(|t| StdInstant::now() + t);
        loop {
            if !st.rx.is_empty() {
                let (n, pump) = st.take_rx(buf);
                drop(st);
                if pump {
                    self.shared.send(Cmd::Pump(self.sock.clone()))?;
                }
                return Ok(n);
            }
            if st.rx_eof || st.rx_shut {
                return Ok(0);
            }
            if let Some(e) = st.io_error() {
                return Err(e);
            }
            st = self.sock.wait(st, deadline, "read timed out")?;
        }
    }

    fn do_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.sock.lock();
        let deadline = st.write_timeout.map(|t| StdInstant::now() + t);
        loop {
            if let Some(e) = st.io_error() {
                // Every write after a failure reports it (std reports a
                // reset once, then a broken pipe).
                return Err(e);
            }
            if st.tx_shut {
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    "socket is shut down for writing",
                ));
            }
            let (n, pump) = st.put_tx(buf);
            if n > 0 {
                drop(st);
                if pump {
                    self.shared.send(Cmd::Pump(self.sock.clone()))?;
                }
                return Ok(n);
            }
            st = self.sock.wait(st, deadline, "write timed out")?;
        }
    }

    /// Waits until everything written has been handed to the stack.
    fn do_flush(&self) -> io::Result<()> {
        let mut st = self.sock.lock();
        while !st.tx.is_empty() {
            if let Some(e) = st.io_error() {
                return Err(e);
            }
            st = self.sock.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.do_flush()
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.do_flush()
    }
}

impl Drop for TcpStream {
    /// Closes gracefully: queued data is still delivered, then the FIN.
    fn drop(&mut self) {
        self.sock.release(&self.shared);
    }
}
