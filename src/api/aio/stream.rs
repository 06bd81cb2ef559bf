//! [`TcpStream`]: a connection read and written from async tasks through
//! the socket's shared queues; [`Connect`], the future that opens one; the
//! owned halves of [`TcpStream::into_split`].

use crate::api::Runtime;
use crate::api::blocking::shared::{Cmd, Phase, Shared, Sock, SockState};
use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// What a stream and its halves share; dropping the last of them closes
/// the connection.
pub(super) struct Inner {
    shared: Arc<Shared>,
    sock: Arc<Sock>,
}

/// Keeps `w` in `slot`, unless the waker there wakes the same task.
fn register(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}

impl Inner {
    pub(super) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.sock.lock();
        if !st.rx.is_empty() {
            let (n, pump) = st.take_rx(buf);
            drop(st);
            if pump {
                self.shared.send(Cmd::Pump(self.sock.clone()))?;
            }
            return Poll::Ready(Ok(n));
        }
        if st.rx_eof || st.rx_shut {
            return Poll::Ready(Ok(0));
        }
        if let Some(e) = st.io_error() {
            return Poll::Ready(Err(e));
        }
        register(&mut st.rx_waker, cx.waker());
        Poll::Pending
    }

    pub(super) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.sock.lock();
        if let Some(e) = st.io_error() {
            return Poll::Ready(Err(e));
        }
        if st.tx_shut {
            return Poll::Ready(Err(io::Error::new(
                ErrorKind::BrokenPipe,
                "socket is shut down for writing",
            )));
        }
        let (n, pump) = st.put_tx(buf);
        if n == 0 {
            register(&mut st.tx_waker, cx.waker());
            return Poll::Pending;
        }
        drop(st);
        if pump {
            self.shared.send(Cmd::Pump(self.sock.clone()))?;
        }
        Poll::Ready(Ok(n))
    }

    /// Ready once everything written has been handed to the stack.
    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.sock.lock();
        if st.tx.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = st.io_error() {
            return Poll::Ready(Err(e));
        }
        register(&mut st.tx_waker, cx.waker());
        Poll::Pending
    }

    /// Flushes, then queues the FIN.
    pub(super) fn poll_shutdown_write(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Poll::Ready(self.shutdown(Shutdown::Write))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut st = self.sock.lock();
        if let Some(e) = st.io_error() {
            return Err(e);
        }
        st.shut(how);
        drop(st);
        // A task of the other half may wait on what just changed.
        self.sock.notify();
        self.shared.send(Cmd::Pump(self.sock.clone()))
    }

    fn addr(&self, f: impl FnOnce(&SockState) -> Option<SocketAddrV4>) -> io::Result<SocketAddr> {
        f(&self.sock.lock())
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))
    }
}

impl Drop for Inner {
    /// Closes as std does: queued data is still delivered, then the FIN; the
    /// loop resets instead when received data was left unread.
    fn drop(&mut self) {
        self.sock.release(&self.shared);
    }
}

/// A TCP connection over ringtcp for async code, with
/// `tokio::net::TcpStream`'s shape. Read and write it through
/// `futures_io::AsyncRead`/`AsyncWrite` (and tokio's, with the `tokio`
/// feature), on a `TcpStream` or on a `&TcpStream` (so a read and a write
/// can wait at the same time), or on the halves of
/// [`TcpStream::into_split`]. See the [module docs](super) for
/// cancellation safety.
pub struct TcpStream {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.sock.lock();
        f.debug_struct("TcpStream")
            .field("local", &st.local)
            .field("peer", &st.peer)
            .finish()
    }
}

impl TcpStream {
    pub(super) fn new(shared: Arc<Shared>, sock: Arc<Sock>) -> TcpStream {
        TcpStream {
            inner: Arc::new(Inner { shared, sock }),
        }
    }

    /// Connects through the global runtime (see
    /// [`Runtime::install_global`]); [`Runtime::connect_async`] connects
    /// through any. Names are resolved at the call, synchronously, as
    /// `std`'s `ToSocketAddrs` does: async code should pass addresses.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> Connect {
        match Runtime::global() {
            Ok(rt) => rt.connect_async(addr),
            Err(e) => Connect::failed(e),
        }
    }

    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.peer)
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.local)
    }

    /// `Shutdown::Write` queues a FIN after the data written so far (it
    /// does not wait for it: `poll_close`/tokio's `poll_shutdown` flush
    /// first); `Read` discards what arrives from now on, and reads return
    /// 0; `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// `true` turns Nagle's algorithm off (RFC 1122 4.2.3.4): small writes
    /// go out at once instead of waiting for outstanding data to be
    /// acknowledged.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner
            .shared
            .send(Cmd::Nodelay(self.inner.sock.clone(), nodelay))
    }

    /// Splits the stream into a read half and a write half that can move
    /// to two tasks. Dropping the write half shuts the write side down (a
    /// FIN after the queued data), as tokio's does; the connection closes
    /// when both halves are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf { inner: self.inner },
        )
    }
}

/// The read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(super) inner: Arc<Inner>,
}

/// The write half of [`TcpStream::into_split`]; dropping it shuts the
/// write side down.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

impl OwnedReadHalf {
    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.peer)
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.local)
    }
}

impl OwnedWriteHalf {
    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.peer)
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.addr(|st| st.local)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        let _ = self.inner.shutdown(Shutdown::Write);
    }
}

impl Runtime {
    /// Opens a connection through this runtime, for async code: the
    /// returned [`Connect`] resolves to an [`aio::TcpStream`](TcpStream)
    /// once the handshake is done, trying each address `addr` resolves to
    /// in turn. It does not borrow the runtime, so it can be spawned.
    pub fn connect_async<A: ToSocketAddrs>(&self, addr: A) -> Connect {
        match Runtime::connect_addrs(addr) {
            Ok(addrs) => Connect {
                shared: Some(self.shared().clone()),
                addrs: addrs.into_iter(),
                current: None,
                last_error: None,
            },
            Err(e) => Connect::failed(e),
        }
    }
}

/// The future of [`TcpStream::connect`] and [`Runtime::connect_async`].
/// Dropping it before it completes resets the connection being opened.
#[must_use = "futures do nothing unless polled"]
pub struct Connect {
    /// `None` when it failed before it started.
    shared: Option<Arc<Shared>>,
    addrs: std::vec::IntoIter<SocketAddrV4>,
    current: Option<Arc<Sock>>,
    last_error: Option<io::Error>,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("addrs", &self.addrs.as_slice())
            .finish_non_exhaustive()
    }
}

impl Connect {
    fn failed(e: io::Error) -> Connect {
        Connect {
            shared: None,
            addrs: Vec::new().into_iter(),
            current: None,
            last_error: Some(e),
        }
    }
}

impl Future for Connect {
    type Output = io::Result<TcpStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        let this = &mut *self;
        let Some(shared) = this.shared.clone() else {
            return Poll::Ready(Err(this.last_error.take().unwrap_or_else(|| {
                io::Error::new(ErrorKind::InvalidInput, "connect polled after it completed")
            })));
        };
        loop {
            let sock = match &this.current {
                Some(s) => s.clone(),
                None => {
                    let Some(addr) = this.addrs.next() else {
                        this.shared = None;
                        return Poll::Ready(Err(this.last_error.take().unwrap_or_else(|| {
                            io::Error::new(ErrorKind::InvalidInput, "no address to connect to")
                        })));
                    };
                    let sock = Sock::new(Phase::Connecting);
                    if let Err(e) = shared.send(Cmd::Connect(sock.clone(), addr)) {
                        this.shared = None;
                        return Poll::Ready(Err(e));
                    }
                    this.current = Some(sock.clone());
                    sock
                }
            };
            let mut st = sock.lock();
            match st.phase {
                Phase::Open => {
                    drop(st);
                    this.current = None;
                    this.shared = None;
                    return Poll::Ready(Ok(TcpStream::new(shared, sock)));
                }
                Phase::Failed => {
                    let e = st
                        .io_error()
                        .unwrap_or_else(|| io::Error::other("connect failed"));
                    drop(st);
                    let _ = shared.send(Cmd::Abort(sock));
                    this.current = None;
                    this.last_error = Some(e);
                }
                Phase::Connecting => {
                    register(&mut st.rx_waker, cx.waker());
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        if let (Some(sock), Some(shared)) = (self.current.take(), self.shared.as_ref()) {
            let _ = shared.send(Cmd::Abort(sock));
        }
    }
}
