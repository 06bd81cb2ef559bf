//! Why a command failed: [`ConnectError`], [`ListenError`], [`SocketError`].

use crate::tcp::ConnError;

/// Why `connect` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// Every ephemeral port toward that peer is in use or in TIME-WAIT.
    NoPortsAvailable,
    /// The connection table is full.
    TableFull,
    /// The destination is unspecified, broadcast, multicast or port 0.
    InvalidAddress,
}

/// Why `listen` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenError {
    /// The port already has a listener.
    AddrInUse,
    /// Port 0.
    InvalidPort,
}

/// Why a command on a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketError {
    /// The handle does not name a live connection.
    InvalidHandle,
    /// Nothing can be done now; an event will say when to try again.
    WouldBlock,
    /// Sending after `shutdown` or after the connection closed.
    NotWritable,
    /// The handshake has not completed.
    NotConnected,
    /// The connection failed.
    Failed(ConnError),
}

impl core::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConnectError::NoPortsAvailable => "no ephemeral port available",
            ConnectError::TableFull => "connection table full",
            ConnectError::InvalidAddress => "invalid destination address",
        })
    }
}

impl core::fmt::Display for SocketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SocketError::InvalidHandle => f.write_str("invalid socket handle"),
            SocketError::WouldBlock => f.write_str("operation would block"),
            SocketError::NotWritable => f.write_str("socket is shut down for writing"),
            SocketError::NotConnected => f.write_str("socket is not connected"),
            SocketError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectError {}
impl std::error::Error for SocketError {}
