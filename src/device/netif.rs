//! Interface configuration and network namespaces, as safe functions.
//!
//! The interface functions issue `SIOC*` ioctls on a short-lived `AF_INET`
//! datagram socket, so they act on the network namespace the *calling
//! thread* is in at the time of the call. They need `CAP_NET_ADMIN` in that
//! namespace (reads such as [`mtu`] do not).
//!
//! The namespace functions move the calling thread: [`unshare_net`] into a
//! fresh namespace, [`enter_netns`] into an existing one (held open by a
//! descriptor from [`current_netns`]). A thread stays in its namespace until
//! it exits; a namespace disappears, with every interface in it, once no
//! thread is in it and no descriptor refers to it (namespace file, socket,
//! TUN descriptor).
//!
//! A new thread starts in the namespace its *spawning* thread is in at that
//! moment: threads spawned from a thread after it called [`unshare_net`]
//! are in the new namespace, threads that already existed (a pool, the main
//! thread) are not. A socket stays in the namespace it was created in,
//! whichever thread later uses it.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::sys::{self, IfReq};

/// Check that `name` can be an interface name: 1 to 15 bytes, no `/`, `:`,
/// NUL or whitespace. `InvalidInput` with a one-line reason otherwise.
pub fn check_ifname(name: &str) -> io::Result<()> {
    sys::check_ifname(name)
}

/// Bring interface `name` up (`IFF_UP`).
pub fn set_up(name: &str) -> io::Result<()> {
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ioctl(
        &sock,
        libc::SIOCGIFFLAGS,
        &mut ifr,
        "read the flags of",
        name,
    )?;
    let flags = ifr.short() | libc::IFF_UP as i16;
    ifr.set_short(flags);
    ioctl(&sock, libc::SIOCSIFFLAGS, &mut ifr, "bring up", name)
}

/// Bring the loopback interface `lo` up. A fresh network namespace has it
/// down, so not even 127.0.0.1 works until this is called.
pub fn loopback_up() -> io::Result<()> {
    set_up("lo")
}

/// The MTU of interface `name` (`SIOCGIFMTU`).
pub fn mtu(name: &str) -> io::Result<usize> {
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ioctl(&sock, libc::SIOCGIFMTU, &mut ifr, "read the MTU of", name)?;
    usize::try_from(ifr.int()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("interface {name} reports a negative MTU"),
        )
    })
}

/// Set the MTU of interface `name` (`SIOCSIFMTU`). TUN accepts 68..=65535.
pub fn set_mtu(name: &str, mtu: usize) -> io::Result<()> {
    let value = i32::try_from(mtu).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("MTU {mtu} is out of range"),
        )
    })?;
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ifr.set_int(value);
    ioctl(&sock, libc::SIOCSIFMTU, &mut ifr, "set the MTU of", name)
}

/// Packets the kernel dropped on transmit through interface `name`, in the
/// calling thread's network namespace (`/proc/thread-self/net/dev`). For a
/// TUN device: packets towards the userspace stack dropped because the
/// queue was full while the reader was busy.
pub fn tx_dropped(name: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
    let fields = text
        .lines()
        .find_map(|l| {
            let (ifname, rest) = l.split_once(':')?;
            (ifname.trim() == name).then_some(rest)
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {name} in /proc/thread-self/net/dev"),
            )
        })?;
    // rx: bytes packets errs drop fifo frame compressed multicast, then
    // tx: bytes packets errs drop ...
    fields
        .split_whitespace()
        .nth(11)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other(format!("cannot parse the counters of {name}")))
}

/// The transmit queue length of interface `name` (`SIOCGIFTXQLEN`).
pub fn txqueuelen(name: &str) -> io::Result<u32> {
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ioctl(
        &sock,
        libc::SIOCGIFTXQLEN as libc::Ioctl,
        &mut ifr,
        "read the txqueuelen of",
        name,
    )?;
    Ok(ifr.int() as u32)
}

/// Set the transmit queue length of interface `name`: how many packets the
/// kernel queues towards the TUN reader before it drops.
///
/// `SIOCSIFTXQLEN` wants `CAP_NET_ADMIN` in the *initial* user namespace,
/// unlike the other setters; inside a user namespace this falls back to
/// rtnetlink (`RTM_NEWLINK` with `IFLA_TXQLEN`), which only needs it in the
/// interface's own namespace.
pub fn set_txqueuelen(name: &str, len: u32) -> io::Result<()> {
    let value = i32::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("txqueuelen {len} is out of range"),
        )
    })?;
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ifr.set_int(value);
    match ioctl(
        &sock,
        libc::SIOCSIFTXQLEN as libc::Ioctl,
        &mut ifr,
        "set the txqueuelen of",
        name,
    ) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => set_txqueuelen_netlink(name, len)
            .map_err(|nl| {
                io::Error::new(
                    nl.kind(),
                    format!("cannot set the txqueuelen of {name}: {nl}"),
                )
            }),
        other => other,
    }
}

/// `RTM_NEWLINK` for interface `name` carrying only `IFLA_TXQLEN`, and wait
/// for the kernel's acknowledgement.
pub(crate) fn set_txqueuelen_netlink(name: &str, len: u32) -> io::Result<()> {
    const NLMSG_HDR: usize = 16;
    const IFINFOMSG: usize = 16;
    const RTA_TXQLEN: usize = 8;
    // <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>.
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const RTM_NEWLINK: u16 = 16;
    const IFLA_TXQLEN: u16 = 13;
    const SEQ: u32 = 1;
    let index = if_index(name)?;
    let total = NLMSG_HDR + IFINFOMSG + RTA_TXQLEN;
    let mut msg = Vec::with_capacity(total);
    // struct nlmsghdr: len, type, flags, seq, pid (0 = the kernel fills in).
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&SEQ.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family, pad, type, index, flags, change.
    msg.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    msg.extend_from_slice(&index.to_ne_bytes());
    msg.extend_from_slice(&[0; 8]);
    // struct rtattr + u32.
    msg.extend_from_slice(&(RTA_TXQLEN as u16).to_ne_bytes());
    msg.extend_from_slice(&IFLA_TXQLEN.to_ne_bytes());
    msg.extend_from_slice(&len.to_ne_bytes());

    let sock = sys::route_netlink_socket()?;
    sys::write(sock.as_fd(), &msg)?;
    let mut buf = [0u8; 1024];
    loop {
        let n = sys::read(sock.as_fd(), &mut buf)?;
        let reply = &buf[..n];
        if reply.len() < NLMSG_HDR + 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short rtnetlink reply",
            ));
        }
        let kind = u16::from_ne_bytes([reply[4], reply[5]]);
        let seq = u32::from_ne_bytes([reply[8], reply[9], reply[10], reply[11]]);
        if kind != NLMSG_ERROR || seq != SEQ {
            continue;
        }
        // struct nlmsgerr: error (negative errno, 0 = ack), then the request.
        let at = NLMSG_HDR;
        let errno = i32::from_ne_bytes([reply[at], reply[at + 1], reply[at + 2], reply[at + 3]]);
        return if errno == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(-errno))
        };
    }
}

/// Assign `addr/prefix_len` to interface `name` (`SIOCSIFADDR` then
/// `SIOCSIFNETMASK`). Once the interface is up the kernel routes the prefix
/// out of it. This replaces the interface's first IPv4 address, if any.
pub fn set_ipv4(name: &str, addr: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
    if prefix_len > 32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length /{prefix_len} is out of range (max 32)"),
        ));
    }
    let mask = Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0),
    );
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ifr.set_ipv4(addr);
    ioctl(
        &sock,
        libc::SIOCSIFADDR,
        &mut ifr,
        "set the address of",
        name,
    )?;
    let mut ifr = request(name)?;
    ifr.set_ipv4(mask);
    ioctl(
        &sock,
        libc::SIOCSIFNETMASK,
        &mut ifr,
        "set the netmask of",
        name,
    )
}

/// Set the point-to-point peer address of interface `name`
/// (`SIOCSIFDSTADDR`). On a TUN device this replaces the prefix route of
/// [`set_ipv4`] with a host route to `peer`; use one or the other.
pub fn set_peer(name: &str, peer: Ipv4Addr) -> io::Result<()> {
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ifr.set_ipv4(peer);
    ioctl(
        &sock,
        libc::SIOCSIFDSTADDR,
        &mut ifr,
        "set the peer address of",
        name,
    )
}

/// The interface index of `name` in the calling thread's namespace;
/// `NotFound` when there is no such interface.
pub fn if_index(name: &str) -> io::Result<u32> {
    let sock = sys::control_socket()?;
    let mut ifr = request(name)?;
    ioctl(&sock, libc::SIOCGIFINDEX, &mut ifr, "look up", name)?;
    Ok(ifr.int() as u32)
}

/// Move the calling thread into a new, empty network namespace (only `lo`,
/// down).
///
/// As root (or with `CAP_SYS_ADMIN`) this is `unshare(CLONE_NEWNET)` and
/// affects only the calling thread. Otherwise it falls back to
/// `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, mapping the caller's uid and gid
/// to root inside the new user namespace (`setgroups` denied). The kernel
/// allows that only to a **single-threaded** process, and only where
/// unprivileged user namespaces are enabled; it then applies to the whole
/// process for good. A test harness or any program that has spawned threads
/// gets an `Unsupported` error saying so.
///
/// Errors: `PermissionDenied` or `Unsupported` when this environment cannot
/// make a namespace (the message says why), other kinds for anything else.
pub fn unshare_net() -> io::Result<()> {
    let err = match sys::unshare(libc::CLONE_NEWNET) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let (euid, _) = sys::ids();
    match err.raw_os_error() {
        Some(libc::EPERM) if euid != 0 => unshare_user_and_net(),
        Some(libc::EPERM) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "cannot create a network namespace: permission denied although running as root (missing CAP_SYS_ADMIN, or a container/seccomp policy forbids unshare)",
        )),
        Some(libc::EINVAL) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cannot create a network namespace: the kernel has no network namespace support (CONFIG_NET_NS)",
        )),
        Some(libc::ENOSPC | libc::EUSERS) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cannot create a network namespace: limit reached (sysctl user.max_net_namespaces)",
        )),
        _ => Err(io::Error::new(
            err.kind(),
            format!("cannot create a network namespace: {err}"),
        )),
    }
}

fn unshare_user_and_net() -> io::Result<()> {
    let (euid, egid) = sys::ids();
    if let Err(e) = sys::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) {
        return Err(match e.raw_os_error() {
            Some(libc::EINVAL) => io::Error::new(
                io::ErrorKind::Unsupported,
                "cannot create a network namespace: not root, and a user namespace can only be made by a single-threaded process (run as root, or grant CAP_SYS_ADMIN)",
            ),
            Some(libc::EPERM | libc::EACCES) => io::Error::new(
                io::ErrorKind::PermissionDenied,
                "cannot create a network namespace: not root, and unprivileged user namespaces are disabled here (run as root, or allow them: sysctl kernel.unprivileged_userns_clone=1 / apparmor_restrict_unprivileged_userns=0)",
            ),
            Some(libc::ENOSPC | libc::EUSERS) => io::Error::new(
                io::ErrorKind::Unsupported,
                "cannot create a network namespace: not root, and user namespaces are disabled or exhausted (sysctl user.max_user_namespaces)",
            ),
            _ => io::Error::new(
                e.kind(),
                format!("cannot create a user and network namespace: {e}"),
            ),
        });
    }
    let map = |path: &str, text: String| {
        fs::write(path, text).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("created a user namespace but cannot write {path}: {e}"),
            )
        })
    };
    map("/proc/thread-self/setgroups", "deny".into())?;
    map("/proc/thread-self/uid_map", format!("0 {euid} 1"))?;
    map("/proc/thread-self/gid_map", format!("0 {egid} 1"))
}

/// A descriptor for the calling thread's network namespace
/// (`/proc/thread-self/ns/net`). Holding it keeps the namespace alive;
/// pass it to [`enter_netns`] on another thread.
pub fn current_netns() -> io::Result<OwnedFd> {
    let file = fs::File::open("/proc/thread-self/ns/net").map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open /proc/thread-self/ns/net: {e}"),
        )
    })?;
    Ok(OwnedFd::from(file))
}

/// Move the calling thread into the network namespace `ns` refers to
/// (`setns(CLONE_NEWNET)`). Needs `CAP_SYS_ADMIN` over that namespace, which
/// a thread of the process that created it has.
pub fn enter_netns(ns: BorrowedFd<'_>) -> io::Result<()> {
    sys::setns(ns, libc::CLONE_NEWNET).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "cannot enter the network namespace: permission denied (needs CAP_SYS_ADMIN over it)",
        ),
        Some(libc::EINVAL) => io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot enter the network namespace: the descriptor is not a network namespace",
        ),
        _ => io::Error::new(e.kind(), format!("cannot enter the network namespace: {e}")),
    })
}

fn request(name: &str) -> io::Result<IfReq> {
    sys::check_ifname(name)?;
    Ok(IfReq::new(name))
}

fn ioctl(
    sock: &OwnedFd,
    req: libc::c_ulong,
    ifr: &mut IfReq,
    what: &str,
    name: &str,
) -> io::Result<()> {
    sys::ioctl_ifreq(sock.as_fd(), req as libc::Ioctl, ifr).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) => io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {name} in this network namespace"),
        ),
        Some(libc::EPERM | libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot {what} {name}: permission denied (needs CAP_NET_ADMIN in its network namespace)"),
        ),
        _ => io::Error::new(e.kind(), format!("cannot {what} {name}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_prefix_is_rejected() {
        let err = set_ipv4("lo", Ipv4Addr::LOCALHOST, 33).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn lookups_of_missing_interfaces_say_not_found() {
        let err = mtu("rtun-absent9").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "no interface named rtun-absent9 in this network namespace"
        );
        assert!(if_index("lo").is_ok());
    }

    #[test]
    fn long_names_are_rejected() {
        let err = set_up("sixteen-bytes-xx").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("interface name too long"));
    }
}
