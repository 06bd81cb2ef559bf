//! The few raw system-call wrappers the device layer needs: `struct ifreq`,
//! `ioctl`, a control socket, `read`/`write`/`poll` on a descriptor,
//! `unshare` and `setns`.
//!
//! Everything `unsafe` in `device` lives here, each block with a
//! `// SAFETY:` comment. Callers get
//! `io::Result`s built from `errno`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `IFNAMSIZ`: interface names are at most 15 bytes plus the NUL.
pub(crate) const IFNAMSIZ: usize = 16;

/// `struct ifreq` from `<linux/if.h>`: a name and a 24-byte union. The union
/// is kept as bytes and encoded by hand (`flags`, `ivalue`, `sockaddr_in`),
/// so no union field is ever read through a wrong type.
#[repr(C, align(8))]
pub(crate) struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

const _: () = assert!(size_of::<IfReq>() == 40);

impl IfReq {
    /// An `ifreq` for `name`, which must already be validated
    /// ([`check_ifname`]). An empty name leaves the kernel to choose.
    pub(crate) fn new(name: &str) -> IfReq {
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        let bytes = name.as_bytes();
        debug_assert!(bytes.len() < IFNAMSIZ);
        req.name[..bytes.len()].copy_from_slice(bytes);
        req
    }

    /// The name the kernel wrote back (e.g. after `TUNSETIFF` with `tun%d`).
    pub(crate) fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    pub(crate) fn set_short(&mut self, v: i16) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }

    pub(crate) fn short(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    pub(crate) fn set_int(&mut self, v: i32) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }

    pub(crate) fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }

    /// Store an IPv4 `struct sockaddr_in` (port 0).
    pub(crate) fn set_ipv4(&mut self, addr: std::net::Ipv4Addr) {
        self.data = [0; 24];
        let family = libc::AF_INET as u16;
        self.data[..2].copy_from_slice(&family.to_ne_bytes());
        // sin_port (2 bytes) stays 0; sin_addr is in network byte order.
        self.data[4..8].copy_from_slice(&addr.octets());
    }
}

/// Check an interface name before it reaches the kernel, which would either
/// truncate it or answer with a bare `EINVAL`.
pub(crate) fn check_ifname(name: &str) -> io::Result<()> {
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name is empty",
        ));
    }
    if name.len() >= IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "interface name too long (max {} bytes): {name:?}",
                IFNAMSIZ - 1
            ),
        ));
    }
    if name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?} (no '/', ':', NUL or whitespace)"),
        ));
    }
    Ok(())
}

/// Turn a `-1` return into the current `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `ioctl(fd, req, &mut ifreq)`.
pub(crate) fn ioctl_ifreq(fd: BorrowedFd<'_>, req: libc::Ioctl, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the duration of the borrow, and
    // `ifr` points to a properly sized and aligned `struct ifreq` (40 bytes,
    // checked at compile time) that the kernel may read and write. Every
    // request passed here takes a `struct ifreq *` argument.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(ifr)) })?;
    Ok(())
}

/// `ioctl(fd, req, &mut int)` for requests taking an `int *`
/// (`TUNSETVNETHDRSZ`).
pub(crate) fn ioctl_int_ptr(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    value: &mut libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is live for the borrow; `value` is a valid, aligned `int`
    // the kernel reads (and may write). The request takes an `int *`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, std::ptr::from_mut(value)) })?;
    Ok(())
}

/// `ioctl(fd, req, value)` for requests taking an integer by value
/// (`TUNSETOFFLOAD`, `TUNSETPERSIST`).
pub(crate) fn ioctl_ulong(
    fd: BorrowedFd<'_>,
    req: libc::Ioctl,
    value: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: `fd` is live for the borrow; the request takes its argument by
    // value (`unsigned long`), so no memory is shared with the kernel.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req, value) })?;
    Ok(())
}

/// An `AF_INET` datagram socket, the handle interface ioctls are issued on.
/// It configures interfaces of the network namespace the calling thread is
/// in when the socket is created.
pub(crate) fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments; no pointers.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket; unbound, so `write` goes to the
/// kernel. Like [`control_socket`], it acts on the calling thread's
/// namespace at creation time.
pub(crate) fn route_netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments; no pointers.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            0, // NETLINK_ROUTE
        )
    })?;
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `open(path, flags)` returning an owned descriptor.
pub(crate) fn open(path: &std::ffi::CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the call; no mode
    // argument is needed because `flags` never contains `O_CREAT`.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), flags) })?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `read(2)` into `buf`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call and
    // `fd` is live for the borrow.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` from `buf`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the call and
    // `fd` is live for the borrow.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Wait until `fd` is readable or `timeout` passes; `Ok(true)` if readable.
/// `EINTR` is retried with the full timeout (good enough for tests and the
/// fallback path, which only need a bound).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid `pollfd` for the call, matching nfds=1.
        let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
        match cvt(ret) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `unshare(flags)` for the calling thread.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call with an integer argument. It changes the
    // namespaces of the calling thread only, which Rust does not track.
    cvt(unsafe { libc::unshare(flags) })?;
    Ok(())
}

/// `setns(fd, nstype)` for the calling thread.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the borrow; the call moves only
    // the calling thread into the namespace it refers to.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) })?;
    Ok(())
}

/// The effective user and group ids of the calling thread.
pub(crate) fn ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: these calls take no arguments, touch no memory and cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}
