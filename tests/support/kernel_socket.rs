//! Kernel-side sockets the std API does not offer: a raw IPv4 socket for
//! crafted packets (spoofed SYNs, fragments) and SO_LINGER 0 for a reset
//! on close.

use std::io;
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;

/// A raw IPv4 socket of `protocol`: `IPPROTO_RAW` to send whole packets
/// (the IP header ours), or a protocol such as `IPPROTO_ICMP` to read
/// what arrives of it, each read waiting at most 200 ms.
pub struct RawSocket(OwnedFd);

impl RawSocket {
    /// A new raw socket of `protocol`.
    pub fn new(protocol: libc::c_int) -> io::Result<RawSocket> {
        // SAFETY: socket(2) takes no pointers; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, protocol) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor socket(2) just gave us and nothing
        // else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: fd is open; tv lives across the call and its size is
        // given.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawSocket(fd))
    }

    /// Sends one whole IPv4 packet to `dst`.
    pub fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `packet` and `addr` are valid for the lengths given for
        // the duration of the call; the descriptor is open.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        match usize::try_from(n) {
            Ok(n) if n == packet.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!(
                "sent {n} of {} bytes",
                packet.len()
            ))),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }

    /// Sends, waiting out a full device queue (ENOBUFS); panics on any
    /// other error.
    #[track_caller]
    pub fn send_all(&self, packet: &[u8], dst: Ipv4Addr) {
        loop {
            match self.send(packet, dst) {
                Ok(()) => return,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => thread::yield_now(),
                Err(e) => panic!("raw send: {e}"),
            }
        }
    }

    /// The next packet that arrives (IP header included), or `None` when
    /// none does within the socket's 200 ms.
    pub fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: the descriptor is open; buf is writable for its whole
        // length.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        usize::try_from(n).ok()
    }
}

/// Sets SO_LINGER to 0: closing `s` then sends a RST, not a FIN.
pub fn set_linger_zero(s: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
}
