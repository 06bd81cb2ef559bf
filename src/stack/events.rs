//! [`Event`]: what the stack tells the application.

use super::handles::{ListenerHandle, SocketHandle};
use crate::tcp::ConnError;

/// What the application should learn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Connected(SocketHandle),
    /// Data (or the end of the stream) can be read. Edge-triggered: it is
    /// raised again only after a `recv` has drained the buffer.
    Readable(SocketHandle),
    /// Room in the send buffer after a `send` that did not take everything.
    Writable(SocketHandle),
    /// The peer sent its FIN: reads return 0 once the buffer is drained.
    PeerClosed(SocketHandle),
    /// The connection failed.
    Error(SocketHandle, ConnError),
    /// The connection reached CLOSED after a normal close.
    Closed(SocketHandle),
    /// A listener has a connection to accept.
    Incoming(ListenerHandle),
}
