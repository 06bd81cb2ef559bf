//! The two ways to program against ringtcp.
//!
//! - In-loop (fastest): implement [`Handler`]; the loop calls it with every
//!   event and a [`Context`] to connect, listen, accept, read, write and
//!   close. No threads, no locks; see [`crate::runtime`].
//! - Blocking, in the shape of `std::net`: [`Runtime::start`] runs the loop
//!   on a thread of its own, and [`TcpStream`] / [`TcpListener`] talk to it
//!   from any number of threads, with `std::io::Read`/`Write` and the
//!   `std::io::ErrorKind`s std uses.
//! - Async, in the shape of `tokio::net`: [`aio::TcpStream`] and
//!   [`aio::TcpListener`] over the same [`Runtime`] and the same hand-off
//!   as the blocking sockets, for any executor (`futures-io` traits, and
//!   tokio's with the `tokio` feature).

pub mod aio;
mod blocking;

pub use crate::runtime::{Context, Driver, Handler, RuntimeConfig, StopMode, Waker};
pub use blocking::{Incoming, Runtime, TcpListener, TcpStream};
