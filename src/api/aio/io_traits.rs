//! `futures_io::AsyncRead`/`AsyncWrite` for the streams and their halves:
//! the traits smol, async-std and futures' executors read and write
//! through.

use super::stream::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
use futures_io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

macro_rules! impl_read {
    ($($t:ty),*) => {$(
        impl AsyncRead for $t {
            /// Cancel-safe: `Pending` has taken nothing.
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }
    )*};
}

macro_rules! impl_write {
    ($($t:ty),*) => {$(
        impl AsyncWrite for $t {
            /// Cancel-safe: `Pending` has queued nothing.
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            /// Ready once everything written has been handed to the stack.
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.inner.poll_flush(cx)
            }

            /// Flushes, then queues the FIN (the write side is closed; the
            /// read side stays open).
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.inner.poll_shutdown_write(cx)
            }
        }
    )*};
}

impl_read!(TcpStream, &TcpStream, OwnedReadHalf);
impl_write!(TcpStream, &TcpStream, OwnedWriteHalf);
