//! ringtcp: a userspace TCP/IPv4 stack that terminates TCP itself on a Linux
//! TUN device, driven by a single-threaded io_uring run-to-completion loop.
//! `README.md` says what is implemented and how to run the programs and the
//! tests; `perf/README.md` describes the end-to-end benchmarks.
//!
//! The modules, from the application down to the bytes on the wire:
//!
//! - [`api`]: the in-loop [`api::Handler`] and the blocking, std-like
//!   [`api::TcpStream`] / [`api::TcpListener`].
//! - [`runtime`]: the io_uring loop, its buffers and wake-ups.
//! - [`device`]: TUN, interface and namespace set-up, fault injection, pcap.
//! - [`stack`]: the sans-IO core a runtime drives: connection table,
//!   listeners, ports, ISNs, timers, demultiplexing.
//! - [`tcp`]: the sans-IO TCP connection, one type per RFC 9293 state.
//! - [`wire`]: zero-copy views and emitters for IPv4, IPv6 (with its
//!   extension headers), TCP, ICMPv4, ICMPv6, the Internet checksum and
//!   the virtio-net header. The stack above speaks IPv4 only so far.
//!
//! Beside them:
//!
//! - [`sim`]: a deterministic in-memory network with a virtual clock.
//! - [`lab`]: a private network namespace with a TUN device and the Linux
//!   kernel as the peer, for tests, examples and benchmarks.
//! - [`time`]: the [`time::Instant`] every sans-IO entry point takes.
//!
//! How a packet travels:
//!
//! 1. The kernel routes it into the TUN device (`src/device/tun.rs`), which
//!    with offloads puts a virtio-net header ([`wire::VnetHdr`]) in front.
//! 2. The runtime loop (`src/runtime`) reads it with a multishot io_uring
//!    read into a provided buffer (on older kernels: a poll, then plain
//!    reads) and, without copying, passes packet and header to
//!    [`stack::Stack::handle_frame`].
//! 3. The stack (`src/stack`) parses and checks the IPv4 and TCP headers
//!    (a fragment is held until its datagram is whole, then goes on as if
//!    it had come unfragmented: [`stack::reassembly`])
//!    and demultiplexes by 4-tuple to a connection, else by port to a
//!    listener; a segment for no socket gets a RST (RFC 9293 3.10.7.1).
//!    ICMP echo requests are answered there, ICMP errors matched to the
//!    connection they quote.
//! 4. The connection's state (`src/tcp/state`: one type per RFC 9293
//!    state, [`tcp::Conn::handle_segment`]) processes the segment with its
//!    transmission control block (`src/tcp/tcb`: send and receive
//!    sequence spaces, options, loss recovery, timers): acknowledgements,
//!    data into the receive buffer, state changes. The device's facts
//!    about the frame (its GSO segment size) come in as arguments. The
//!    runtime hands the resulting events to the application's
//!    [`api::Handler`] (the blocking API's handler wakes the threads that
//!    wait in [`api::TcpStream`] calls).
//! 5. On the way out the runtime asks [`stack::Stack::poll_transmit_frame`]
//!    for each packet: the connection writes its TCP segment and describes
//!    it ([`tcp::Transmit`]: length, GSO segment size, checksum shape);
//!    the stack puts the IPv4 header and the virtio-net header in front,
//!    straight in a transmit buffer; the runtime writes the batch to the
//!    TUN with one `io_uring_enter`.
//!
//! `wire`, `tcp`, `stack` and `sim` perform no I/O, never read a clock and
//! never draw OS randomness: time arrives as a [`time::Instant`] argument and
//! randomness from a seed the stack was built with, so every run is
//! reproducible.

#![warn(missing_docs)]

pub mod api;
pub mod device;
pub mod lab;
pub mod runtime;
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod wire;

// Unit tests share helpers with the integration tests (`tests/support/`),
// which name the crate `ringtcp`.
#[cfg(test)]
extern crate self as ringtcp;

/// The examples in README.md, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
