//! The device layer: everything that touches the operating system below the
//! runtime loop, except io_uring itself.
//!
//! - [`tun`]: open or attach to a TUN interface (`IFF_TUN | IFF_NO_PI`,
//!   optionally `IFF_VNET_HDR` with TSO/checksum offloads), non-blocking.
//! - [`netif`]: configure interfaces (up, MTU, txqueuelen, IPv4 address) and
//!   move threads between network namespaces.
//! - [`fault`]: seeded loss/duplication/reordering/corruption decisions, pure
//!   logic, usable on both directions by the runtime and in simulation.
//! - [`pcap`]: write captures in the classic libpcap format.
//!
//! This module owns the crate's system calls outside the runtime; its
//! `unsafe` code is confined to the private `sys` module, one `// SAFETY:`
//! comment per block. It knows nothing about TCP and must not depend on
//! `stack`, `tcp` or `runtime`.

pub mod fault;
pub mod netif;
pub mod pcap;
mod sys;
pub mod tun;

pub use fault::{FaultAction, FaultConfig, FaultInjector, FaultStats, Faults};
pub use pcap::{LinkType, PcapWriter};
pub use tun::{Tun, TunConfig, VNET_HDR_LEN};
