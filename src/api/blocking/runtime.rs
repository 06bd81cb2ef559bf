//! [`Runtime`]: starts the loop on a thread of its own, and opens the
//! blocking sockets that talk to it.

use super::bridge::Bridge;
use super::listener::TcpListener;
use super::shared::{Cmd, Lis, Phase, Shared, Sock};
use super::stream::TcpStream;
use crate::device::Tun;
use crate::runtime::{Driver, RuntimeConfig, RuntimeStats, StopMode};
use crate::stack::Counters;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

/// A ringtcp loop running on its own thread, serving blocking sockets.
pub struct Runtime {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

static GLOBAL: OnceLock<Runtime> = OnceLock::new();

impl Runtime {
    /// Starts the loop on a new thread over `tun`.
    pub fn start(tun: Tun, cfg: RuntimeConfig) -> io::Result<Runtime> {
        let addr = cfg.stack.addr;
        let driver = Driver::new(tun, cfg)?;
        let shared = Arc::new(Shared {
            cmds: Mutex::new(VecDeque::new()),
            waker: driver.waker(),
            addr,
            dead: Mutex::new(None),
        });
        let bridge_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ringtcp-loop".into())
            .spawn(move || {
                let mut driver = driver;
                let mut bridge = Bridge::new(bridge_shared.clone());
                let res = driver.run(&mut bridge);
                bridge.fail_all(&res);
                res
            })?;
        Ok(Runtime {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Makes this runtime the one [`TcpStream::connect`] and
    /// [`TcpListener::bind`] use. Fails if one is installed already.
    pub fn install_global(self) -> io::Result<&'static Runtime> {
        GLOBAL.set(self).map_err(|_| {
            io::Error::new(
                ErrorKind::AlreadyExists,
                "a global ringtcp runtime is installed already",
            )
        })?;
        Ok(GLOBAL.get().expect("just set"))
    }

    /// The global runtime, if one is installed.
    pub fn global() -> io::Result<&'static Runtime> {
        GLOBAL.get().ok_or_else(|| {
            io::Error::new(
                ErrorKind::NotConnected,
                "no ringtcp runtime: start one with Runtime::start(tun, config)?.install_global()",
            )
        })
    }

    /// The stack's own address.
    pub fn addr(&self) -> Ipv4Addr {
        self.shared.addr
    }

    /// Opens a connection (see [`TcpStream::connect`]).
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match a {
                SocketAddr::V4(v4) => match self.connect_v4(v4, None) {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                },
                SocketAddr::V6(_) => {
                    last.get_or_insert_with(|| {
                        io::Error::new(ErrorKind::Unsupported, "ringtcp speaks IPv4 only")
                    });
                }
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to connect to")))
    }

    /// Opens a connection, giving up after `timeout`.
    pub fn connect_timeout(&self, addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        match addr {
            SocketAddr::V4(v4) => self.connect_v4(*v4, Some(timeout)),
            SocketAddr::V6(_) => Err(io::Error::new(
                ErrorKind::Unsupported,
                "ringtcp speaks IPv4 only",
            )),
        }
    }

    fn connect_v4(&self, addr: SocketAddrV4, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let sock = Sock::new(Phase::Connecting);
        self.shared.send(Cmd::Connect(sock.clone(), addr))?;
        let deadline = timeout.map(|t| StdInstant::now() + t);
        let mut st = sock.lock();
        loop {
            match st.phase {
                Phase::Open => break,
                Phase::Failed => {
                    let (kind, msg) = st
                        .error
                        .clone()
                        .unwrap_or((ErrorKind::Other, "connect failed".into()));
                    drop(st);
                    let _ = self.shared.send(Cmd::Abort(sock.clone()));
                    return Err(io::Error::new(kind, msg));
                }
                Phase::Connecting => {}
            }
            st = match deadline {
                Some(d) => {
                    let now = StdInstant::now();
                    if now >= d {
                        drop(st);
                        let _ = self.shared.send(Cmd::Abort(sock.clone()));
                        return Err(io::Error::new(
                            ErrorKind::TimedOut,
                            format!("connection to {addr} timed out"),
                        ));
                    }
                    sock.cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => sock.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
        drop(st);
        Ok(TcpStream {
            shared: self.shared.clone(),
            sock,
        })
    }

    /// Listens on `addr` (the stack's address, or 0.0.0.0, and a port).
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        let addr = self.listen_addr(addr)?;
        let lis = Arc::new(Lis::default());
        self.shared
            .send(Cmd::Listen(lis.clone(), addr.port(), 1024))?;
        let mut st = lis.lock();
        while !st.ready && st.error.is_none() {
            st = lis.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if let Some((kind, msg)) = st.error.clone() {
            return Err(io::Error::new(kind, msg));
        }
        drop(st);
        Ok(TcpListener {
            shared: self.shared.clone(),
            lis,
            local: SocketAddrV4::new(self.shared.addr, addr.port()),
        })
    }

    /// The shared state and command queue, for the async API.
    pub(in crate::api) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The IPv4 address and port to listen on: the stack's address (or
    /// 0.0.0.0) and a port that is not 0.
    pub(in crate::api) fn listen_addr<A: ToSocketAddrs>(
        &self,
        addr: A,
    ) -> io::Result<SocketAddrV4> {
        let addr = addr
            .to_socket_addrs()?
            .find_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::InvalidInput,
                    "ringtcp listens on IPv4 addresses only",
                )
            })?;
        if !addr.ip().is_unspecified() && *addr.ip() != self.shared.addr {
            return Err(io::Error::new(
                ErrorKind::AddrNotAvailable,
                format!(
                    "{} is not this stack's address ({})",
                    addr.ip(),
                    self.shared.addr
                ),
            ));
        }
        if addr.port() == 0 {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "listening needs a port number",
            ));
        }
        Ok(addr)
    }

    /// Every IPv4 address `addr` resolves to, in order; an error if there
    /// is none (only IPv6 ones: `Unsupported`; none at all: `InvalidInput`).
    pub(in crate::api) fn connect_addrs<A: ToSocketAddrs>(
        addr: A,
    ) -> io::Result<Vec<SocketAddrV4>> {
        let mut v4 = Vec::new();
        let mut saw_v6 = false;
        for a in addr.to_socket_addrs()? {
            match a {
                SocketAddr::V4(a) => v4.push(a),
                SocketAddr::V6(_) => saw_v6 = true,
            }
        }
        if v4.is_empty() {
            return Err(if saw_v6 {
                io::Error::new(ErrorKind::Unsupported, "ringtcp speaks IPv4 only")
            } else {
                io::Error::new(ErrorKind::InvalidInput, "no address to connect to")
            });
        }
        Ok(v4)
    }

    /// The loop's counters and the stack's drop counters.
    pub fn stats(&self) -> io::Result<(RuntimeStats, Counters)> {
        let (tx, rx) = mpsc::channel();
        self.shared.send(Cmd::RuntimeStats(tx))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| io::Error::new(ErrorKind::TimedOut, "the loop did not answer"))
    }

    /// Stops the loop and waits for it. Open connections are handled as
    /// `mode` says.
    pub fn shutdown(&self, mode: StopMode) -> io::Result<()> {
        let _ = self.shared.send(Cmd::Stop(mode));
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        match thread {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("the ringtcp loop panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.shutdown(StopMode::Graceful(Duration::from_secs(1)));
    }
}
