//! `std::net`-shaped blocking sockets over a loop thread.
//!
//! Each socket has a small shared state (a mutex, a condition variable and
//! two byte queues). Application threads copy into and out of those queues;
//! the loop moves bytes between them and the stack and is woken through an
//! eventfd only when a queue goes from empty to non-empty (writes) or from
//! full to not full (reads). That hop costs a copy each way and a wake-up:
//! the in-loop API avoids both.

mod bridge;
pub(super) mod errors;
mod listener;
mod runtime;
pub(super) mod shared;
mod stream;

pub use listener::{Incoming, TcpListener};
pub use runtime::Runtime;
pub use stream::TcpStream;
