//! `tokio::io::AsyncRead`/`AsyncWrite` for the streams and their halves
//! (the `tokio` feature), so tokio code and what is built on it (hyper
//! through hyper-util's `TokioIo`, tokio-util's codecs) can use them as it
//! uses `tokio::net::TcpStream`. They run on any tokio runtime, or none:
//! the wake-ups come from ringtcp's loop, not from tokio's reactor.

use super::stream::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

macro_rules! impl_read {
    ($($t:ty),*) => {$(
        impl AsyncRead for $t {
            /// Cancel-safe: `Pending` has taken nothing.
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = ready!(self.inner.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
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

            /// Flushes, then queues the FIN (the read side stays open).
            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                self.inner.poll_shutdown_write(cx)
            }
        }
    )*};
}

impl_read!(TcpStream, &TcpStream, OwnedReadHalf);
impl_write!(TcpStream, &TcpStream, OwnedWriteHalf);
