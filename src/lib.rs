//! ringtcp: a userspace TCP/IPv4 stack that terminates TCP itself on a Linux
//! TUN device, driven by a single-threaded io_uring run-to-completion loop.
//!
//! Layers, top to bottom on receive (see `DESIGN` in the repository):
//!
//! - [`wire`]: zero-copy views and emitters for IPv4, TCP, ICMPv4, checksums.
//! - [`tcp`]: the sans-IO TCP connection, one type per RFC 9293 state.
//! - [`stack`]: the sans-IO core a runtime drives: connection table,
//!   listeners, ports, ISNs, timers, demultiplexing.
//! - [`sim`]: a deterministic in-memory network with a virtual clock.
//! - [`device`], [`runtime`], [`api`], [`lab`]: the I/O half (TUN, io_uring,
//!   std-like sockets, private network namespaces).
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
#[allow(missing_docs)]
pub mod stack;
#[allow(missing_docs)]
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
