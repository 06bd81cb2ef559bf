//! [`SocketHandle`] and [`ListenerHandle`]: how the application names a
//! connection and a listening port.

/// Refers to one connection. Stale handles (of a connection that has gone)
/// are refused, never aliased to a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl SocketHandle {
    /// A small integer unique among live connections (the table index).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Refers to a listening port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerHandle(pub(super) u16);

impl ListenerHandle {
    /// The local port listened on.
    pub fn port(self) -> u16 {
        self.0
    }
}
