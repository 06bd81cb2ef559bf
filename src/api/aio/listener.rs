//! [`TcpListener`]: connections the loop accepted, handed to async tasks.

use super::stream::TcpStream;
use crate::api::Runtime;
use crate::api::blocking::shared::{Cmd, Lis, Shared};
use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The backlog: connections accepted by the stack and not yet taken.
const BACKLOG: usize = 1024;

/// A listening socket over ringtcp for async code, with
/// `tokio::net::TcpListener`'s shape. Dropping it stops listening and
/// resets the connections it accepted that nobody took.
pub struct TcpListener {
    shared: Arc<Shared>,
    lis: Arc<Lis>,
    local: SocketAddrV4,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish()
    }
}

/// Keeps `w` among `wakers`, unless one there wakes the same task.
fn register(wakers: &mut Vec<Waker>, w: &Waker) {
    if !wakers.iter().any(|old| old.will_wake(w)) {
        wakers.push(w.clone());
    }
}

impl Runtime {
    /// Listens on `addr` (the stack's address, or 0.0.0.0, and a port)
    /// through this runtime, for async code.
    pub async fn bind_async<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        let addr = self.listen_addr(addr)?;
        let shared = self.shared().clone();
        let lis = Arc::new(Lis::default());
        shared.send(Cmd::Listen(lis.clone(), addr.port(), BACKLOG))?;
        // Made before the loop answers, so that a dropped `bind` stops the
        // listening it started.
        let listener = TcpListener {
            local: SocketAddrV4::new(shared.addr, addr.port()),
            shared,
            lis,
        };
        poll_fn(|cx| {
            let mut st = listener.lis.lock();
            if let Some((kind, msg)) = st.error.clone() {
                return Poll::Ready(Err(io::Error::new(kind, msg)));
            }
            if st.ready {
                return Poll::Ready(Ok(()));
            }
            register(&mut st.wakers, cx.waker());
            Poll::Pending
        })
        .await?;
        Ok(listener)
    }
}

impl TcpListener {
    /// Listens through the global runtime (see
    /// [`Runtime::install_global`]); [`Runtime::bind_async`] listens
    /// through any.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Runtime::global()?.bind_async(addr).await
    }

    /// The stack's address and the listening port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.local))
    }

    /// Waits for the next connection. Cancel-safe: a connection is taken
    /// only when it is returned.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`TcpListener::accept`] as a poll function: `Ready` with the next
    /// connection, or `Pending` (and `cx`'s waker is woken when one comes).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut st = self.lis.lock();
        if let Some(sock) = st.queue.pop_front() {
            drop(st);
            let peer = sock
                .lock()
                .peer
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
            let stream = TcpStream::new(self.shared.clone(), sock);
            return Poll::Ready(Ok((stream, SocketAddr::V4(peer))));
        }
        if let Some((kind, msg)) = st.error.clone() {
            return Poll::Ready(Err(io::Error::new(kind, msg)));
        }
        if st.closed {
            return Poll::Ready(Err(io::Error::new(
                ErrorKind::NotConnected,
                "listener closed",
            )));
        }
        register(&mut st.wakers, cx.waker());
        Poll::Pending
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let _ = self.shared.send(Cmd::Unlisten(self.lis.clone()));
    }
}
