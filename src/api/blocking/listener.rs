//! [`TcpListener`] and its [`Incoming`] iterator: connections the loop
//! accepted, handed to application threads.

use super::Runtime;
use super::shared::{Cmd, Lis, Shared};
use super::stream::TcpStream;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;

/// A listening socket over ringtcp, with `std::net::TcpListener`'s shape.
pub struct TcpListener {
    pub(super) shared: Arc<Shared>,
    pub(super) lis: Arc<Lis>,
    pub(super) local: SocketAddrV4,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TcpListener {
    /// Listens through the global runtime (see [`Runtime::install_global`]).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Runtime::global()?.bind(addr)
    }

    /// The stack's address and the listening port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.local))
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut st = self.lis.lock();
        loop {
            if let Some(sock) = st.queue.pop_front() {
                drop(st);
                let peer = sock.lock().peer;
                let stream = TcpStream {
                    shared: self.shared.clone(),
                    sock,
                };
                let peer = peer
                    .map(SocketAddr::V4)
                    .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
                return Ok((stream, peer));
            }
            if let Some((kind, msg)) = st.error.clone() {
                return Err(io::Error::new(kind, msg));
            }
            if st.closed {
                return Err(io::Error::new(ErrorKind::NotConnected, "listener closed"));
            }
            st = self.lis.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// An endless iterator of accepted connections, as std's.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let _ = self.shared.send(Cmd::Unlisten(self.lis.clone()));
    }
}

/// Iterator over a listener's connections.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
