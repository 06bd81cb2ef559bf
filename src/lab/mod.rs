//! A private network lab: a fresh network namespace holding one TUN device,
//! with the Linux kernel as the peer of our stack.
//!
//! [`Lab::enter`] works on the **calling thread**: it moves that thread into
//! a new network namespace, brings `lo` up, creates the TUN device (`rtun0`
//! by default), sets its MTU and txqueuelen, gives the kernel side
//! [`KERNEL_ADDR`]/24 and brings it up. The kernel then routes
//! 192.0.2.0/24 (TEST-NET-1, RFC 5737) into the TUN, where our stack, reading
//! the device, answers as [`STACK_ADDR`]. Nothing is visible outside the
//! namespace, so any number of labs can run side by side (one per thread)
//! under the same device name, and all of it vanishes once the thread has
//! exited and the last descriptor into the namespace (the TUN, a kernel
//! socket, the lab itself) is closed.
//!
//! Which thread is where:
//! - the thread that called [`Lab::enter`] stays in the lab's namespace until
//!   it exits, even after the `Lab` is dropped;
//! - threads it spawns *afterwards* start in the lab's namespace too;
//! - threads that existed before (the main thread, a pool) do not; use
//!   [`Lab::spawn_in_netns`] to start a thread in the lab from anywhere;
//! - a socket lives in the namespace it was created in: create kernel-side
//!   `std::net` sockets on a thread inside the lab, then move them freely.
//!   The TUN descriptor likewise stays attached to the lab's device on any
//!   thread (take it with [`Lab::take_tun`] for the runtime).
//!
//! Privileges: as root this only needs `unshare(CLONE_NEWNET)`. Otherwise a
//! user namespace is tried too, which the kernel allows only to a
//! single-threaded process (so never inside `cargo test`); see
//! [`crate::device::netif::unshare_net`]. Tests build theirs with
//! `lab_or_skip` (in `tests/support/lab.rs`), which skips the test where
//! [`Lab::enter`] returns [`LabError::Unsupported`].
//!
//! This module is safe code; the system calls live in `device`.

pub mod peer;

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use crate::device::netif;
use crate::device::tun::{Tun, TunConfig};

/// The kernel's address on the lab's TUN interface.
pub const KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The address our stack answers as, on the far side of the TUN.
pub const STACK_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// Prefix length of the lab network 192.0.2.0/24.
pub const PREFIX_LEN: u8 = 24;
/// Default name of the lab's TUN interface.
pub const DEFAULT_TUN_NAME: &str = "rtun0";

/// How to build a lab. `Default`: `rtun0`, MTU 1500, txqueuelen 10000, a
/// vnet header with checksum and TSO offloads (unless the environment sets
/// `RINGTCP_OFFLOADS=0`: CI runs every lab test both ways), not persistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabConfig {
    /// TUN interface name (at most 15 bytes).
    pub tun_name: String,
    /// Interface MTU, 68..=65535.
    pub mtu: usize,
    /// Packets the kernel queues towards the TUN reader before dropping
    /// (the kernel's TUN default of 500 is too short for bulk tests).
    pub txqueuelen: u32,
    /// Open the TUN with a virtio-net header ([`TunConfig::vnet_hdr`]).
    pub vnet_hdr: bool,
    /// Ask for checksum/TSO offloads ([`TunConfig::offloads`]).
    pub offloads: bool,
    /// Make the TUN device persistent ([`Tun::set_persistent`]): once the
    /// lab's `Tun` is dropped, the device stays, configured, and a child
    /// process started from the lab's thread (it inherits the namespace) can
    /// attach to it by name, e.g. a program run with `--tun rtun0`. It still
    /// vanishes with the namespace.
    pub persistent: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            tun_name: DEFAULT_TUN_NAME.to_owned(),
            mtu: 1500,
            txqueuelen: 10_000,
            vnet_hdr: offloads_by_default(),
            offloads: offloads_by_default(),
            persistent: false,
        }
    }
}

/// Whether labs use TUN offloads unless told otherwise: yes, except when
/// `RINGTCP_OFFLOADS` is `0`, `off`, `false` or `no`.
pub fn offloads_by_default() -> bool {
    match std::env::var("RINGTCP_OFFLOADS") {
        Ok(v) => !matches!(v.trim(), "0" | "off" | "false" | "no"),
        Err(_) => true,
    }
}

/// Why a lab could not be built.
#[derive(Debug)]
pub enum LabError {
    /// This environment cannot make one (not root and no user namespaces,
    /// no tun module, a container policy...). The string says why, in one
    /// line. Tests skip on this (unless `CI` is set).
    Unsupported(String),
    /// Anything else: a bad configuration or an unexpected failure.
    Io(io::Error),
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Unsupported(why) => write!(f, "cannot build a network lab here: {why}"),
            LabError::Io(e) => write!(f, "network lab setup failed: {e}"),
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Unsupported(_) => None,
            LabError::Io(e) => Some(e),
        }
    }
}

impl From<LabError> for io::Error {
    fn from(e: LabError) -> io::Error {
        match e {
            LabError::Unsupported(why) => io::Error::new(io::ErrorKind::Unsupported, why),
            LabError::Io(e) => e,
        }
    }
}

/// A network namespace with a configured TUN device. See the module docs.
#[derive(Debug)]
pub struct Lab {
    /// `None` once the runtime has taken it.
    tun: Option<Tun>,
    tun_name: String,
    mtu: usize,
    /// Keeps the namespace alive and lets other threads enter it.
    netns: OwnedFd,
}

impl Lab {
    /// Build a lab and move the calling thread into it (see the module docs).
    /// The configuration is checked before anything changes.
    pub fn enter(cfg: LabConfig) -> Result<Lab, LabError> {
        netif::check_ifname(&cfg.tun_name).map_err(LabError::Io)?;
        if !(68..=65_535).contains(&cfg.mtu) {
            return Err(LabError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("lab MTU {} is out of range (68..=65535)", cfg.mtu),
            )));
        }
        if cfg.offloads && !cfg.vnet_hdr {
            return Err(LabError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "lab offloads need the vnet header (set LabConfig::vnet_hdr too)",
            )));
        }

        netif::unshare_net().map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported => {
                LabError::Unsupported(e.to_string())
            }
            _ => LabError::Io(e),
        })?;
        let netns = netif::current_netns().map_err(LabError::Io)?;
        netif::loopback_up().map_err(LabError::Io)?;

        let mut tun = Tun::open(&TunConfig {
            name: Some(cfg.tun_name.clone()),
            vnet_hdr: cfg.vnet_hdr,
            offloads: cfg.offloads,
        })
        .map_err(|e| match e.kind() {
            // No tun module, or a sandbox that forbids TUN even to the
            // namespace's own root: the environment, not the caller.
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                LabError::Unsupported(e.to_string())
            }
            _ => LabError::Io(e),
        })?;
        let name = tun.name().to_owned();
        if cfg.persistent {
            tun.set_persistent(true).map_err(LabError::Io)?;
        }

        // The stack is IPv4-only; keep the kernel from sending IPv6 router
        // solicitations and MLD reports into the TUN. Best effort: IPv6 may
        // be compiled out or disabled already.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
        netif::set_mtu(&name, cfg.mtu).map_err(LabError::Io)?;
        netif::set_txqueuelen(&name, cfg.txqueuelen).map_err(LabError::Io)?;
        netif::set_ipv4(&name, KERNEL_ADDR, PREFIX_LEN).map_err(LabError::Io)?;
        netif::set_up(&name).map_err(LabError::Io)?;
        let mtu = tun.refresh_mtu().map_err(LabError::Io)?;

        Ok(Lab {
            tun: Some(tun),
            tun_name: name,
            mtu,
            netns,
        })
    }

    /// Take the TUN device (for the runtime). Panics if already taken.
    #[track_caller]
    pub fn take_tun(&mut self) -> Tun {
        self.tun
            .take()
            .expect("the lab's TUN device was already taken")
    }

    /// The TUN device, unless it has been taken.
    pub fn tun(&self) -> Option<&Tun> {
        self.tun.as_ref()
    }

    /// The TUN interface name inside the lab.
    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    /// The TUN interface MTU.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The kernel's address, [`KERNEL_ADDR`].
    pub fn kernel_addr(&self) -> Ipv4Addr {
        KERNEL_ADDR
    }

    /// The stack's address, [`STACK_ADDR`].
    pub fn stack_addr(&self) -> Ipv4Addr {
        STACK_ADDR
    }

    /// The lab's network namespace, for [`netif::enter_netns`].
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }

    /// Spawn a thread that runs `f` inside the lab's namespace, from any
    /// thread. Returns once the new thread is in the namespace, or with the
    /// reason it could not get there (then `f` never runs).
    pub fn spawn_in_netns<F, T>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = self.netns.try_clone()?;
        let (tx, rx) = mpsc::sync_channel::<io::Result<()>>(1);
        let handle = thread::Builder::new()
            .name(format!("lab-{}", self.tun_name))
            .spawn(move || {
                let entered = netif::enter_netns(ns.as_fd());
                drop(ns);
                let failed = entered.is_err();
                let _ = tx.send(entered);
                if failed {
                    // Unwind without running `f` and without the panic hook's
                    // message: the spawner reports the error.
                    std::panic::resume_unwind(Box::new(()));
                }
                f()
            })?;
        match rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other(
                "the lab thread exited before entering the namespace",
            )),
        }
    }
}

// The integration tests' helpers, so that the tests below skip (or fail in
// CI) under the same rule as theirs. (Declared here, not inside `tests`: a
// `#[path]` in an inline module resolves through a `tests/` directory that
// does not exist.)
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/support/lab.rs"]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::test_support::{lab_or_skip, lab_or_skip_with};
    use std::io::Write;

    #[test]
    fn bad_configs_fail_before_the_thread_moves() {
        let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let long = LabConfig {
            tun_name: "rtun-name-too-long".into(),
            ..LabConfig::default()
        };
        match Lab::enter(long) {
            Err(LabError::Io(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
                assert!(e.to_string().contains("too long"), "{e}");
            }
            other => panic!("expected a name error, got {other:?}"),
        }
        let tiny = LabConfig {
            mtu: 10,
            ..LabConfig::default()
        };
        assert!(matches!(Lab::enter(tiny), Err(LabError::Io(_))));
        let after = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn lab_is_configured_as_documented() {
        let Some(mut lab) = lab_or_skip("lab_is_configured_as_documented") else {
            return;
        };
        assert_eq!(lab.tun_name(), DEFAULT_TUN_NAME);
        assert_eq!(lab.mtu(), 1500);
        assert_eq!(netif::mtu("rtun0").unwrap(), 1500);
        assert_eq!(netif::txqueuelen("rtun0").unwrap(), 10_000);
        // The rtnetlink fallback used inside user namespaces.
        netif::set_txqueuelen_netlink("rtun0", 1234).unwrap();
        assert_eq!(netif::txqueuelen("rtun0").unwrap(), 1234);
        let gone = netif::set_txqueuelen_netlink("rtun-absent", 1).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert!(netif::if_index("lo").is_ok());
        let tun = lab.take_tun();
        assert_eq!(tun.name(), "rtun0");
        assert_eq!(tun.vnet_hdr(), offloads_by_default());
        assert_eq!(tun.offloads_enabled(), offloads_by_default());
        assert!(lab.tun().is_none());
        // The kernel address is local and reachable through lo.
        let sock = std::net::UdpSocket::bind((KERNEL_ADDR, 0)).unwrap();
        sock.connect(sock.local_addr().unwrap()).unwrap();
        sock.send(b"x").unwrap();
        let mut b = [0u8; 4];
        assert_eq!(sock.recv(&mut b).unwrap(), 1);
    }

    #[test]
    fn spawned_threads_join_the_lab() {
        let Some(lab) = lab_or_skip("spawned_threads_join_the_lab") else {
            return;
        };
        let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let child = thread::spawn(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
        assert_eq!(child.join().unwrap(), here, "inherited from the spawner");
        let entered = lab
            .spawn_in_netns(|| {
                (
                    std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
                    netif::if_index("rtun0").is_ok(),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(entered, (here, true));
    }

    #[test]
    fn offloads_are_probed_with_a_vnet_header() {
        let cfg = LabConfig {
            vnet_hdr: true,
            offloads: true,
            ..LabConfig::default()
        };
        let Some(lab) = lab_or_skip_with("offloads_are_probed_with_a_vnet_header", cfg) else {
            return;
        };
        let tun = lab.tun().unwrap();
        assert!(tun.vnet_hdr());
        // Linux has supported TUN_F_CSUM | TUN_F_TSO4 since 2.6.27.
        assert!(tun.offloads_enabled());
    }

    #[test]
    fn busy_wrong_kind_and_persistent_devices() {
        let Some(lab) = lab_or_skip("busy_wrong_kind_and_persistent_devices") else {
            return;
        };
        let open = |name: &str| {
            Tun::open(&TunConfig {
                name: Some(name.into()),
                ..TunConfig::default()
            })
        };
        let busy = open(lab.tun_name()).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        assert_eq!(
            busy.to_string(),
            "TUN device rtun0 is busy (another program has it open)"
        );
        let lo = open("lo").unwrap_err();
        assert_eq!(lo.kind(), io::ErrorKind::InvalidInput);
        assert!(lo.to_string().starts_with("cannot attach to lo:"), "{lo}");

        // A kernel-chosen name, then a persistent device made by `ip` (run
        // from this thread, so inside the lab), attached to by name.
        let fresh = Tun::open(&TunConfig::default()).unwrap();
        assert!(fresh.name().starts_with("tun"), "{}", fresh.name());
        let made = std::process::Command::new("ip")
            .args(["tuntap", "add", "dev", "ptun0", "mode", "tun"])
            .status();
        match made {
            Ok(s) if s.success() => {
                let first = open("ptun0").unwrap();
                assert_eq!(first.mtu(), 1500);
                drop(first);
                // Still there after close; attach again.
                assert!(netif::if_index("ptun0").is_ok());
                let _again = open("ptun0").unwrap();
            }
            other => {
                let _ = writeln!(
                    io::stderr(),
                    "SKIPPED busy_wrong_kind_and_persistent_devices (persistent part): `ip tuntap add` failed: {other:?}"
                );
            }
        }
    }

    #[test]
    fn persistent_device_outlives_the_lab_descriptor() {
        let cfg = LabConfig {
            persistent: true,
            ..LabConfig::default()
        };
        let Some(mut lab) = lab_or_skip_with("persistent_device_outlives_the_lab_descriptor", cfg)
        else {
            return;
        };
        drop(lab.take_tun());
        // Still there, still configured; attach to it again by name.
        assert!(netif::if_index("rtun0").is_ok());
        assert_eq!(netif::mtu("rtun0").unwrap(), 1500);
        let again = Tun::open(&TunConfig {
            name: Some("rtun0".into()),
            ..TunConfig::default()
        })
        .unwrap();
        assert_eq!(again.name(), "rtun0");
    }

    #[test]
    fn errors_convert_to_io_errors_with_the_right_kind() {
        let e: io::Error = LabError::Unsupported("no namespaces".into()).into();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert_eq!(e.to_string(), "no namespaces");
    }
}
