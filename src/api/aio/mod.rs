//! Async sockets in the shape of `tokio::net`, for any executor.
//!
//! The module is called `aio` ("async I/O"; `async` is a keyword) and sits
//! beside the blocking sockets, over the same [`Runtime`]: the loop runs on
//! its own thread, and [`TcpStream`] / [`TcpListener`] hand it commands
//! through the same queue and eventfd as the blocking API, and share the
//! same per-socket state. The one difference is how a caller waits: a
//! blocking call sleeps on the socket's condition variable, an async one
//! leaves its task's [`Waker`](std::task::Waker) in the socket's state and
//! returns `Pending`. The loop wakes every waiter of a socket at the end of
//! the loop turn in which the socket became readable, writable, connected
//! or closed: once per turn at most, however many events the socket had in
//! it. Nothing polls, no timer retries, no thread is spawned per stream, so
//! any executor works: tokio's (with the `tokio` feature, which adds
//! `tokio::io::AsyncRead`/`AsyncWrite`), smol's or futures' `block_on`
//! (through `futures_io::AsyncRead`/`AsyncWrite`, always implemented).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use ringtcp::api::aio::TcpStream;
//! // With a global runtime (Runtime::start(..)?.install_global()), or
//! // `runtime.connect_async(..)` with any runtime.
//! let mut s = TcpStream::connect(("192.0.2.1", 7)).await?;
//! s.write_all(b"ping").await?;
//! let mut buf = [0u8; 4];
//! s.read_exact(&mut buf).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Each socket queues up to 256 KiB each way between the application and
//! the stack: a writer that outruns the connection meets `Pending` (and so
//! backpressure) instead of growing memory, and a reader that falls behind
//! lets the stack's receive window close.
//!
//! Errors are `std::io::Error`s with the kinds std's sockets report
//! (`ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `TimedOut`...),
//! mapped as in the blocking API.
//!
//! # Cancellation safety
//!
//! Every poll either completes or leaves nothing behind but the waker, so
//! dropping any of these futures at any point loses no data:
//!
//! - reads (`poll_read`, and `read` in the executors' extension traits):
//!   cancel-safe. A read that returns `Pending` has taken no byte; a byte
//!   is handed out only with `Ready`.
//! - writes (`poll_write`, `write`): cancel-safe. A write that returns
//!   `Pending` has queued no byte. (Composite helpers such as `write_all`
//!   and `read_exact` are not: dropped midway, they do not tell how much
//!   was done, with any socket.)
//! - [`TcpListener::accept`]: cancel-safe; a connection is taken off the
//!   queue only when it is returned.
//! - [`TcpStream::connect`]: dropping it resets the connection being
//!   opened, and that is all.
//! - flush and shutdown: can be dropped and called again.
//!
//! Dropping a [`TcpStream`] (or both halves of [`TcpStream::into_split`])
//! closes it as std's does: the queued data goes out, then a FIN; or a RST
//! at once when received data was left unread, as Linux does (RFC 2525
//! 2.17).

mod io_traits;
mod listener;
mod stream;
#[cfg(feature = "tokio")]
mod tokio_io;

pub use listener::TcpListener;
pub use stream::{Connect, OwnedReadHalf, OwnedWriteHalf, TcpStream};

#[cfg(doc)]
use super::Runtime;
