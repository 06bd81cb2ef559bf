//! A Linux TUN device in `IFF_TUN | IFF_NO_PI` mode: every `read` returns one
//! IPv4 (or IPv6) packet as the kernel routed it out of the interface, every
//! `write` injects one packet as if it had arrived on the interface.
//!
//! With [`TunConfig::vnet_hdr`] each packet is preceded by a 12-byte
//! `virtio_net_hdr_v1` (`TUNSETVNETHDRSZ` 12; `num_buffers` is unused on
//! TUN), and with [`TunConfig::offloads`] the kernel may hand over and accept
//! TCP super-packets with partial checksums (`TUN_F_CSUM | TUN_F_TSO4`).
//!
//! The descriptor is non-blocking and close-on-exec. A device created here
//! is not persistent: it disappears when the last descriptor closes, unless
//! [`Tun::set_persistent`] says otherwise. A persistent device (made that
//! way, or by `scripts/setup-tun.sh` or `ip tuntap add`) is attached to by
//! name and stays until it is made non-persistent and closed, or its network
//! namespace goes away.
//!
//! Interface properties (name, MTU) are read once, in the network namespace
//! of the thread calling [`Tun::open`], and cached: the descriptor itself may
//! later be used from a thread in another namespace, where a lookup by name
//! would find nothing or the wrong device.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::sys::{self, IfReq};

/// Size of the `virtio_net_hdr_v1` prefix when [`TunConfig::vnet_hdr`] is on.
pub use crate::wire::VNET_HDR_LEN;

/// How to open a TUN device. `Default` lets the kernel pick a fresh `tunN`,
/// without a vnet header or offloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name to create or attach to (at most 15 bytes; a `%d` in it
    /// is replaced by the kernel with the first free number). `None` lets the
    /// kernel choose a new `tunN`.
    pub name: Option<String>,
    /// Open with `IFF_VNET_HDR`: every packet carries a
    /// [`VNET_HDR_LEN`]-byte virtio-net header in front.
    pub vnet_hdr: bool,
    /// Ask for `TUN_F_CSUM | TUN_F_TSO4` (`TUNSETOFFLOAD`). Needs
    /// `vnet_hdr`. If the kernel refuses, the device opens without offloads
    /// and [`Tun::offloads_enabled`] says so.
    pub offloads: bool,
}

/// An open TUN device. Closing it (drop) removes a non-persistent device.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    mtu: usize,
    vnet_hdr: bool,
    offloads: bool,
}

const TUN_PATH: &CStr = c"/dev/net/tun";

impl Tun {
    /// Open `/dev/net/tun` and create, or attach to, the interface described
    /// by `cfg` in the calling thread's network namespace.
    ///
    /// Errors carry one line that says what to do: `NotFound` when the tun
    /// module is missing, `PermissionDenied` without `CAP_NET_ADMIN` (or for
    /// a persistent device owned by another user), `ResourceBusy` when a
    /// persistent device is already open elsewhere, `InvalidInput` for a bad
    /// name or an interface of another kind under that name.
    pub fn open(cfg: &TunConfig) -> io::Result<Tun> {
        if let Some(name) = &cfg.name {
            sys::check_ifname(name)?;
        }
        if cfg.offloads && !cfg.vnet_hdr {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TUN offloads need the vnet header (set TunConfig::vnet_hdr too)",
            ));
        }
        let fd = sys::open(TUN_PATH, libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .map_err(open_error)?;

        let shown = cfg.name.as_deref().unwrap_or("(new tunN)");
        let mut ifr = IfReq::new(cfg.name.as_deref().unwrap_or(""));
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if cfg.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        // All flags used fit in the 16-bit `ifr_flags`.
        ifr.set_short(flags as i16);
        sys::ioctl_ifreq(fd.as_fd(), libc::TUNSETIFF, &mut ifr)
            .map_err(|e| setiff_error(e, shown))?;
        let name = ifr.name();

        if cfg.vnet_hdr {
            let mut len = VNET_HDR_LEN as libc::c_int;
            sys::ioctl_int_ptr(fd.as_fd(), libc::TUNSETVNETHDRSZ, &mut len).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot set the vnet header size on TUN device {name}: {e}"),
                )
            })?;
            // Little-endian header fields whatever the host (virtio 1.0
            // layout, what crate::wire::VnetHdr reads and writes).
            let mut le: libc::c_int = 1;
            sys::ioctl_int_ptr(fd.as_fd(), libc::TUNSETVNETLE, &mut le).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot make the vnet header little-endian on {name}: {e}"),
                )
            })?;
        }
        let offloads = cfg.offloads && probe_offloads(fd.as_fd());
        let mtu = super::netif::mtu(&name)?;
        Ok(Tun {
            fd,
            name,
            mtu,
            vnet_hdr: cfg.vnet_hdr,
            offloads,
        })
    }

    /// The raw descriptor, for io_uring submissions.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The interface name the kernel gave or confirmed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface MTU as of [`Tun::open`] or the last
    /// [`Tun::refresh_mtu`].
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Read the MTU again (`SIOCGIFMTU`). Must run on a thread in the
    /// device's network namespace.
    pub fn refresh_mtu(&mut self) -> io::Result<usize> {
        self.mtu = super::netif::mtu(&self.name)?;
        Ok(self.mtu)
    }

    /// Whether every packet carries a [`VNET_HDR_LEN`]-byte virtio-net header.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Bytes in front of every packet read or written: [`VNET_HDR_LEN`]
    /// with the virtio-net header, else 0.
    pub fn header_len(&self) -> usize {
        if self.vnet_hdr { VNET_HDR_LEN } else { 0 }
    }

    /// Whether `TUN_F_CSUM | TUN_F_TSO4` are on: the kernel may then send
    /// TSO super-packets with partial checksums and accept them from us.
    pub fn offloads_enabled(&self) -> bool {
        self.offloads
    }

    /// Read one packet (non-blocking: `WouldBlock` when none is queued). A
    /// buffer shorter than the packet gets its first `buf.len()` bytes.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.fd.as_fd(), buf)
    }

    /// Write one packet (non-blocking: `WouldBlock` when the queue is full).
    pub fn write(&self, pkt: &[u8]) -> io::Result<usize> {
        sys::write(self.fd.as_fd(), pkt)
    }

    /// Make the device outlive this descriptor (`TUNSETPERSIST`), or undo
    /// that. A persistent device stays, configured, after every descriptor
    /// is closed, so another process in the same network namespace can
    /// attach to it by name; it goes when its namespace is destroyed.
    pub fn set_persistent(&self, on: bool) -> io::Result<()> {
        sys::ioctl_ulong(
            self.fd.as_fd(),
            libc::TUNSETPERSIST,
            libc::c_ulong::from(on),
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot make TUN device {} persistent: {e}", self.name),
            )
        })
    }

    /// Block up to `timeout` until a packet can be read; `Ok(true)` if one
    /// can. For the fallback path and tests; the runtime uses io_uring.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        sys::poll_readable(self.fd.as_fd(), timeout)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Try `TUN_F_CSUM | TUN_F_TSO4`; on refusal leave offloads off. `TSO4`
/// without `CSUM` is meaningless, so there is no middle step.
fn probe_offloads(fd: BorrowedFd<'_>) -> bool {
    let want = libc::c_ulong::from(libc::TUN_F_CSUM | libc::TUN_F_TSO4);
    if sys::ioctl_ulong(fd, libc::TUNSETOFFLOAD, want).is_ok() {
        return true;
    }
    // Best effort: make sure the device is left without offloads.
    let _ = sys::ioctl_ulong(fd, libc::TUNSETOFFLOAD, 0);
    false
}

fn open_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => io::Error::new(
            io::ErrorKind::NotFound,
            "cannot open /dev/net/tun: no such device (load the tun module: modprobe tun)",
        ),
        Some(libc::EACCES | libc::EPERM) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "permission denied opening /dev/net/tun: make it readable and writable for your user (it is normally mode 0666)",
        ),
        _ => io::Error::new(e.kind(), format!("cannot open /dev/net/tun: {e}")),
    }
}

fn setiff_error(e: io::Error, name: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "permission denied opening TUN device {name}: run scripts/setup-tun.sh to create it for your user, or grant CAP_NET_ADMIN"
            ),
        ),
        Some(libc::EBUSY) => io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("TUN device {name} is busy (another program has it open)"),
        ),
        Some(libc::EINVAL) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot attach to {name}: an interface of that name exists but is not a single-queue TUN device (a TAP or another kind?)"
            ),
        ),
        _ => io::Error::new(e.kind(), format!("cannot create TUN device {name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_too_long_is_rejected_before_any_syscall() {
        let cfg = TunConfig {
            name: Some("a-name-way-too-long".into()),
            ..TunConfig::default()
        };
        let err = Tun::open(&cfg).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("too long (max 15 bytes)"), "{err}");
    }

    #[test]
    fn offloads_without_vnet_hdr_is_rejected() {
        let cfg = TunConfig {
            name: None,
            vnet_hdr: false,
            offloads: true,
        };
        let err = Tun::open(&cfg).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn error_lines_are_one_line_with_the_right_kind() {
        let busy = setiff_error(io::Error::from_raw_os_error(libc::EBUSY), "tun0");
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
        assert_eq!(
            busy.to_string(),
            "TUN device tun0 is busy (another program has it open)"
        );
        let perm = setiff_error(io::Error::from_raw_os_error(libc::EPERM), "tun0");
        assert_eq!(perm.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            perm.to_string()
                .starts_with("permission denied opening TUN device tun0: run scripts/setup-tun.sh")
        );
        let missing = open_error(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("modprobe tun"));
        for e in [busy, perm, missing] {
            assert!(!e.to_string().contains('\n'));
        }
    }
}
