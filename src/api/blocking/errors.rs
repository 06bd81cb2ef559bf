//! The stack's errors as the `std::io::ErrorKind`s std's sockets report,
//! with a message.

use crate::stack::{ConnectError, SocketError};
use crate::tcp::ConnError;
use std::io::ErrorKind;

pub(in crate::api) fn conn_error(e: ConnError) -> (ErrorKind, String) {
    let kind = match e {
        ConnError::Refused => ErrorKind::ConnectionRefused,
        ConnError::Reset => ErrorKind::ConnectionReset,
        ConnError::TimedOut => ErrorKind::TimedOut,
        ConnError::Aborted => ErrorKind::ConnectionAborted,
        ConnError::HostUnreachable => ErrorKind::HostUnreachable,
        ConnError::NetworkUnreachable => ErrorKind::NetworkUnreachable,
    };
    (kind, e.to_string())
}

pub(in crate::api) fn connect_error(e: ConnectError) -> (ErrorKind, String) {
    let kind = match e {
        ConnectError::NoPortsAvailable => ErrorKind::AddrNotAvailable,
        ConnectError::TableFull => ErrorKind::OutOfMemory,
        ConnectError::InvalidAddress => ErrorKind::InvalidInput,
    };
    (kind, e.to_string())
}

pub(in crate::api) fn socket_error(e: SocketError) -> (ErrorKind, String) {
    match e {
        SocketError::Failed(c) => conn_error(c),
        SocketError::NotWritable => (ErrorKind::BrokenPipe, e.to_string()),
        SocketError::NotConnected | SocketError::InvalidHandle => {
            (ErrorKind::NotConnected, e.to_string())
        }
        SocketError::WouldBlock => (ErrorKind::WouldBlock, e.to_string()),
    }
}
