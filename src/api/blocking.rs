//! `std::net`-shaped blocking sockets over a loop thread.
//!
//! Each socket has a small shared state (a mutex, a condition variable and
//! two byte queues). Application threads copy into and out of those queues;
//! the loop moves bytes between them and the stack and is woken through an
//! eventfd only when a queue goes from empty to non-empty (writes) or from
//! full to not full (reads). That hop costs a copy each way and a wake-up:
//! the in-loop API avoids both.

use crate::device::Tun;
use crate::runtime::{Context, Driver, Handler, RuntimeConfig, RuntimeStats, StopMode, Waker};
use crate::stack::{
    ConnectError, Counters, Event, ListenError, ListenerHandle, SocketError, SocketHandle,
};
use crate::tcp::{ConnError, TcpInfo};
use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

/// Bytes a socket queues on its way in or out, beyond the stack's buffers.
const QUEUE_CAP: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Open,
    Failed,
}

#[derive(Debug)]
struct SockState {
    handle: Option<SocketHandle>,
    phase: Phase,
    error: Option<(ErrorKind, String)>,
    local: Option<SocketAddrV4>,
    peer: Option<SocketAddrV4>,
    rx: VecDeque<u8>,
    rx_eof: bool,
    /// The loop stopped pulling because `rx` was full.
    rx_full: bool,
    rx_shut: bool,
    tx: VecDeque<u8>,
    tx_shut: bool,
    fin_sent: bool,
    /// A pump command is queued already.
    pump_queued: bool,
    /// The application dropped its stream.
    released: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    info: Option<TcpInfo>,
}

#[derive(Debug)]
struct Sock {
    st: Mutex<SockState>,
    cv: Condvar,
}

impl Sock {
    fn new(phase: Phase) -> Arc<Sock> {
        Arc::new(Sock {
            st: Mutex::new(SockState {
                handle: None,
                phase,
                error: None,
                local: None,
                peer: None,
                rx: VecDeque::new(),
                rx_eof: false,
                rx_full: false,
                rx_shut: false,
                tx: VecDeque::new(),
                tx_shut: false,
                fin_sent: false,
                pump_queued: false,
                released: false,
                read_timeout: None,
                write_timeout: None,
                info: None,
            }),
            cv: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SockState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the loop to change this socket's state, until `deadline`
    /// if there is one (then `WouldBlock`, as std's timed-out reads and
    /// writes report).
    fn wait<'a>(
        &'a self,
        st: MutexGuard<'a, SockState>,
        deadline: Option<StdInstant>,
        timed_out: &str,
    ) -> io::Result<MutexGuard<'a, SockState>> {
        match deadline {
            Some(d) => {
                let now = StdInstant::now();
                if now >= d {
                    return Err(io::Error::new(ErrorKind::WouldBlock, timed_out.to_string()));
                }
                Ok(self
                    .cv
                    .wait_timeout(st, d - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0)
            }
            None => Ok(self.cv.wait(st).unwrap_or_else(|e| e.into_inner())),
        }
    }
}

#[derive(Debug, Default)]
struct LisState {
    handle: Option<ListenerHandle>,
    queue: VecDeque<Arc<Sock>>,
    error: Option<(ErrorKind, String)>,
    ready: bool,
    closed: bool,
}

#[derive(Debug, Default)]
struct Lis {
    st: Mutex<LisState>,
    cv: Condvar,
}

impl Lis {
    fn lock(&self) -> MutexGuard<'_, LisState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Cmd {
    Connect(Arc<Sock>, SocketAddrV4),
    Listen(Arc<Lis>, u16, usize),
    Unlisten(Arc<Lis>),
    Pump(Arc<Sock>),
    Abort(Arc<Sock>),
    Nodelay(Arc<Sock>, bool),
    Info(Arc<Sock>),
    RuntimeStats(mpsc::Sender<(RuntimeStats, Counters)>),
    Stop(StopMode),
}

struct Shared {
    cmds: Mutex<VecDeque<Cmd>>,
    waker: Waker,
    addr: Ipv4Addr,
    /// Why the loop ended, once it has.
    dead: Mutex<Option<String>>,
}

impl Shared {
    fn send(&self, cmd: Cmd) -> io::Result<()> {
        if let Some(why) = self.dead.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(io::Error::new(
                ErrorKind::NotConnected,
                format!("ringtcp runtime stopped: {why}"),
            ));
        }
        self.cmds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(cmd);
        self.waker.wake();
        Ok(())
    }
}

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

fn conn_error(e: ConnError) -> (ErrorKind, String) {
    let kind = match e {
        ConnError::Refused => ErrorKind::ConnectionRefused,
        ConnError::Reset => ErrorKind::ConnectionReset,
        ConnError::TimedOut => ErrorKind::TimedOut,
        ConnError::Aborted => ErrorKind::ConnectionAborted,
        ConnError::HostUnreachable => ErrorKind::HostUnreachable,
        ConnError::NetworkUnreachable => ErrorKind::NetworkUnreachable,
    };
    (kind, e.to_string())
}

fn connect_error(e: ConnectError) -> (ErrorKind, String) {
    let kind = match e {
        ConnectError::NoPortsAvailable => ErrorKind::AddrNotAvailable,
        ConnectError::TableFull => ErrorKind::OutOfMemory,
        ConnectError::InvalidAddress => ErrorKind::InvalidInput,
    };
    (kind, e.to_string())
}

/// A TCP connection over ringtcp, with `std::net::TcpStream`'s shape.
pub struct TcpStream {
    shared: Arc<Shared>,
    sock: Arc<Sock>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.sock.lock();
        f.debug_struct("TcpStream")
            .field("local", &st.local)
            .field("peer", &st.peer)
            .finish()
    }
}

impl TcpStream {
    /// Connects through the global runtime (see [`Runtime::install_global`]).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        Runtime::global()?.connect(addr)
    }

    /// Connects through the global runtime, giving up after `timeout`
    /// (`TimedOut`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Runtime::global()?.connect_timeout(addr, timeout)
    }

    /// The remote address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .lock()
            .peer
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .lock()
            .local
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "not connected"))
    }

    /// `Shutdown::Write` sends a FIN after the queued data; `Read` discards
    /// what arrives from now on; `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut st = self.sock.lock();
        if let Some((kind, msg)) = st.error.clone() {
            return Err(io::Error::new(kind, msg));
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            st.tx_shut = true;
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            st.rx_shut = true;
            st.rx.clear();
        }
        drop(st);
        self.shared.send(Cmd::Pump(self.sock.clone()))
    }

    /// `true` turns Nagle's algorithm off (RFC 1122 4.2.3.4): small writes
    /// go out at once instead of waiting for outstanding data to be
    /// acknowledged.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.shared.send(Cmd::Nodelay(self.sock.clone(), nodelay))
    }

    /// How long a read waits for data before failing with `WouldBlock`, as
    /// std's do; `None` waits forever. A zero duration is `InvalidInput`.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if t.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        self.sock.lock().read_timeout = t;
        Ok(())
    }

    /// How long a write waits for room in the send queue before failing
    /// with `WouldBlock`; `None` waits forever. A zero duration is
    /// `InvalidInput`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        if t.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        self.sock.lock().write_timeout = t;
        Ok(())
    }

    /// The timeout [`TcpStream::set_read_timeout`] set.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.lock().read_timeout)
    }

    /// The timeout [`TcpStream::set_write_timeout`] set.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.lock().write_timeout)
    }

    /// A snapshot of the connection: state, negotiated options, congestion
    /// state and counters (in the spirit of Linux `tcp_info`).
    pub fn info(&self) -> io::Result<TcpInfo> {
        {
            self.sock.lock().info = None;
        }
        self.shared.send(Cmd::Info(self.sock.clone()))?;
        let deadline = StdInstant::now() + Duration::from_secs(10);
        let mut st = self.sock.lock();
        loop {
            if let Some(s) = st.info.take() {
                return Ok(s);
            }
            if st.handle.is_none() || StdInstant::now() >= deadline {
                return Err(io::Error::new(
                    ErrorKind::NotConnected,
                    "no statistics for this socket",
                ));
            }
            st = self
                .sock
                .cv
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn do_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.sock.lock();
        let deadline = st.read_timeout.map(|t| StdInstant::now() + t);
        loop {
            if !st.rx.is_empty() {
                let n = buf.len().min(st.rx.len());
                let (a, b) = st.rx.as_slices();
                let from_a = n.min(a.len());
                buf[..from_a].copy_from_slice(&a[..from_a]);
                buf[from_a..n].copy_from_slice(&b[..n - from_a]);
                st.rx.drain(..n);
                let wake = st.rx_full && st.rx.len() <= QUEUE_CAP / 2 && !st.pump_queued;
                if wake {
                    st.pump_queued = true;
                }
                drop(st);
                if wake {
                    self.shared.send(Cmd::Pump(self.sock.clone()))?;
                }
                return Ok(n);
            }
            if st.rx_eof || st.rx_shut {
                return Ok(0);
            }
            if let Some((kind, msg)) = st.error.clone() {
                return Err(io::Error::new(kind, msg));
            }
            st = self.sock.wait(st, deadline, "read timed out")?;
        }
    }

    fn do_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.sock.lock();
        let deadline = st.write_timeout.map(|t| StdInstant::now() + t);
        loop {
            if let Some((kind, msg)) = st.error.clone() {
                // Every write after a failure reports it (std reports a
                // reset once, then a broken pipe).
                return Err(io::Error::new(kind, msg));
            }
            if st.tx_shut {
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    "socket is shut down for writing",
                ));
            }
            let room = QUEUE_CAP.saturating_sub(st.tx.len());
            if room > 0 {
                let n = room.min(buf.len());
                let was_empty = st.tx.is_empty();
                st.tx.extend(&buf[..n]);
                let wake = was_empty && !st.pump_queued;
                if wake {
                    st.pump_queued = true;
                }
                drop(st);
                if wake {
                    self.shared.send(Cmd::Pump(self.sock.clone()))?;
                }
                return Ok(n);
            }
            st = self.sock.wait(st, deadline, "write timed out")?;
        }
    }

    /// Waits until everything written has been handed to the stack.
    fn do_flush(&self) -> io::Result<()> {
        let mut st = self.sock.lock();
        while !st.tx.is_empty() {
            if let Some((kind, msg)) = st.error.clone() {
                return Err(io::Error::new(kind, msg));
            }
            st = self.sock.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.do_flush()
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.do_flush()
    }
}

impl Drop for TcpStream {
    /// Closes gracefully: queued data is still delivered, then the FIN.
    fn drop(&mut self) {
        {
            let mut st = self.sock.lock();
            st.released = true;
            st.tx_shut = true;
        }
        let _ = self.shared.send(Cmd::Pump(self.sock.clone()));
    }
}

/// A listening socket over ringtcp, with `std::net::TcpListener`'s shape.
pub struct TcpListener {
    shared: Arc<Shared>,
    lis: Arc<Lis>,
    local: SocketAddrV4,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local)
            .finish()
    }
}

impl TcpListener {
    /// Listens through the global runtime (see [`Runtime::install_global`]).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Runtime::global()?.bind(addr)
    }

    /// The stack's address and the listening port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.local))
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut st = self.lis.lock();
        loop {
            if let Some(sock) = st.queue.pop_front() {
                drop(st);
                let peer = sock.lock().peer;
                let stream = TcpStream {
                    shared: self.shared.clone(),
                    sock,
                };
                let peer = peer
                    .map(SocketAddr::V4)
                    .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
                return Ok((stream, peer));
            }
            if let Some((kind, msg)) = st.error.clone() {
                return Err(io::Error::new(kind, msg));
            }
            if st.closed {
                return Err(io::Error::new(ErrorKind::NotConnected, "listener closed"));
            }
            st = self.lis.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// An endless iterator of accepted connections, as std's.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let _ = self.shared.send(Cmd::Unlisten(self.lis.clone()));
    }
}

/// Iterator over a listener's connections.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// The loop side: moves bytes between the stack and the shared queues.
struct Bridge {
    shared: Arc<Shared>,
    socks: HashMap<SocketHandle, Arc<Sock>>,
    lis: HashMap<ListenerHandle, Arc<Lis>>,
    scratch: Vec<u8>,
    cmds: VecDeque<Cmd>,
}

impl Bridge {
    fn new(shared: Arc<Shared>) -> Bridge {
        Bridge {
            shared,
            socks: HashMap::new(),
            lis: HashMap::new(),
            scratch: vec![0u8; 64 * 1024],
            cmds: VecDeque::new(),
        }
    }

    /// Wakes every waiter with an error once the loop has ended.
    fn fail_all(&mut self, res: &io::Result<()>) {
        let why = match res {
            Ok(()) => "runtime shut down".to_string(),
            Err(e) => format!("runtime failed: {e}"),
        };
        *self.shared.dead.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        let pending: Vec<Cmd> = self
            .shared
            .cmds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let mut socks: Vec<Arc<Sock>> = self.socks.values().cloned().collect();
        for c in pending {
            match c {
                Cmd::Connect(s, _)
                | Cmd::Pump(s)
                | Cmd::Abort(s)
                | Cmd::Nodelay(s, _)
                | Cmd::Info(s) => socks.push(s),
                Cmd::Listen(l, ..) | Cmd::Unlisten(l) => {
                    l.lock().error = Some((ErrorKind::NotConnected, why.clone()));
                    l.cv.notify_all();
                }
                _ => {}
            }
        }
        for s in socks {
            let mut st = s.lock();
            if st.error.is_none() {
                st.error = Some((ErrorKind::NotConnected, why.clone()));
            }
            if st.phase == Phase::Connecting {
                st.phase = Phase::Failed;
            }
            drop(st);
            s.cv.notify_all();
        }
        for l in self.lis.values() {
            l.lock().error = Some((ErrorKind::NotConnected, why.clone()));
            l.cv.notify_all();
        }
    }

    fn pump(&mut self, cx: &mut Context<'_>, sock: &Arc<Sock>) {
        let mut st = sock.lock();
        st.pump_queued = false;
        let Some(h) = st.handle else {
            return;
        };
        let mut changed = false;
        // Out: the queue into the stack's send buffer.
        while !st.tx.is_empty() && st.error.is_none() {
            let (a, _) = st.tx.as_slices();
            match cx.send(h, a) {
                Ok(n) => {
                    st.tx.drain(..n);
                    changed = true;
                }
                Err(SocketError::WouldBlock) => break,
                Err(e) => {
                    st.error = Some(socket_error(e));
                    changed = true;
                }
            }
        }
        if st.tx.is_empty() && st.tx_shut && !st.fin_sent && st.error.is_none() {
            st.fin_sent = true;
            let _ = cx.shutdown(h);
        }
        // In: the stack's receive buffer into the queue.
        loop {
            if st.rx_shut {
                // Discard.
                match cx.recv(h, &mut self.scratch) {
                    Ok(n) if n > 0 => continue,
                    _ => break,
                }
            }
            let room = QUEUE_CAP.saturating_sub(st.rx.len());
            if room == 0 {
                st.rx_full = true;
                break;
            }
            let take = room.min(self.scratch.len());
            match cx.recv(h, &mut self.scratch[..take]) {
                Ok(0) => {
                    if !st.rx_eof {
                        st.rx_eof = true;
                        changed = true;
                    }
                    break;
                }
                Ok(n) => {
                    st.rx.extend(&self.scratch[..n]);
                    st.rx_full = false;
                    changed = true;
                }
                Err(SocketError::WouldBlock) => {
                    st.rx_full = false;
                    break;
                }
                Err(e) => {
                    if st.error.is_none() {
                        st.error = Some(socket_error(e));
                        changed = true;
                    }
                    break;
                }
            }
        }
        // A dropped stream closes once its queue has drained.
        if st.released && (st.tx.is_empty() || st.error.is_some()) {
            // Unread data at close resets the peer (RFC 2525 2.17), as the
            // stack does for data it still holds itself.
            let reset = st.error.is_some() || (!st.rx.is_empty() && !st.rx_shut);
            let _ = if reset { cx.abort(h) } else { cx.close(h) };
            st.handle = None;
            self.socks.remove(&h);
        }
        drop(st);
        if changed {
            sock.cv.notify_all();
        }
    }

    fn run_cmd(&mut self, cx: &mut Context<'_>, cmd: Cmd) {
        match cmd {
            Cmd::Connect(sock, addr) => match cx.connect(addr) {
                Ok(h) => {
                    let mut st = sock.lock();
                    st.handle = Some(h);
                    st.local = cx.stack().local_addr(h).ok();
                    st.peer = Some(addr);
                    drop(st);
                    self.socks.insert(h, sock);
                }
                Err(e) => {
                    let mut st = sock.lock();
                    st.phase = Phase::Failed;
                    st.error = Some(connect_error(e));
                    drop(st);
                    sock.cv.notify_all();
                }
            },
            Cmd::Listen(lis, port, backlog) => {
                let mut st = lis.lock();
                match cx.listen(port, backlog) {
                    Ok(l) => {
                        st.handle = Some(l);
                        st.ready = true;
                        drop(st);
                        self.lis.insert(l, lis.clone());
                    }
                    Err(ListenError::AddrInUse) => {
                        st.error = Some((ErrorKind::AddrInUse, format!("port {port} is in use")));
                    }
                    Err(ListenError::InvalidPort) => {
                        st.error = Some((
                            ErrorKind::InvalidInput,
                            format!("cannot listen on port {port}"),
                        ));
                    }
                }
                lis.cv.notify_all();
            }
            Cmd::Unlisten(lis) => {
                let mut st = lis.lock();
                st.closed = true;
                if let Some(l) = st.handle.take() {
                    self.lis.remove(&l);
                    let now = cx.now();
                    cx.stack().unlisten(now, l);
                }
                // Streams accepted by the loop but never taken: reset them.
                let orphans: Vec<_> = st.queue.drain(..).collect();
                drop(st);
                for s in orphans {
                    s.lock().released = true;
                    self.abort(cx, &s);
                }
                lis.cv.notify_all();
            }
            Cmd::Pump(sock) => self.pump(cx, &sock),
            Cmd::Abort(sock) => self.abort(cx, &sock),
            Cmd::Nodelay(sock, on) => {
                if let Some(h) = sock.lock().handle {
                    let _ = cx.stack().set_nodelay(h, on);
                }
            }
            Cmd::Info(sock) => {
                let mut st = sock.lock();
                if let Some(h) = st.handle {
                    st.info = cx.stack().info(h).ok();
                }
                drop(st);
                sock.cv.notify_all();
            }
            Cmd::RuntimeStats(reply) => {
                let counters = cx.stack().counters().clone();
                let _ = reply.send((cx.runtime_stats().clone(), counters));
            }
            Cmd::Stop(mode) => cx.stop(mode),
        }
    }

    fn abort(&mut self, cx: &mut Context<'_>, sock: &Arc<Sock>) {
        let mut st = sock.lock();
        if let Some(h) = st.handle.take() {
            let _ = cx.abort(h);
            self.socks.remove(&h);
        }
        drop(st);
        sock.cv.notify_all();
    }
}

fn socket_error(e: SocketError) -> (ErrorKind, String) {
    match e {
        SocketError::Failed(c) => conn_error(c),
        SocketError::NotWritable => (ErrorKind::BrokenPipe, e.to_string()),
        SocketError::NotConnected | SocketError::InvalidHandle => {
            (ErrorKind::NotConnected, e.to_string())
        }
        SocketError::WouldBlock => (ErrorKind::WouldBlock, e.to_string()),
    }
}

impl Handler for Bridge {
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        match event {
            Event::Connected(h) => {
                if let Some(sock) = self.socks.get(&h).cloned() {
                    {
                        let mut st = sock.lock();
                        st.phase = Phase::Open;
                        st.local = cx.stack().local_addr(h).ok();
                        st.peer = cx.stack().peer_addr(h).ok();
                    }
                    sock.cv.notify_all();
                    self.pump(cx, &sock);
                }
            }
            Event::Readable(h) | Event::Writable(h) | Event::PeerClosed(h) | Event::Closed(h) => {
                if let Some(sock) = self.socks.get(&h).cloned() {
                    self.pump(cx, &sock);
                }
            }
            Event::Error(h, e) => {
                if let Some(sock) = self.socks.get(&h).cloned() {
                    {
                        let mut st = sock.lock();
                        // Data that arrived before the error stays readable.
                        if st.error.is_none() {
                            st.error = Some(conn_error(e));
                        }
                        if st.phase == Phase::Connecting {
                            st.phase = Phase::Failed;
                        }
                    }
                    sock.cv.notify_all();
                    self.pump(cx, &sock);
                }
            }
            Event::Incoming(l) => {
                let Some(lis) = self.lis.get(&l).cloned() else {
                    return;
                };
                while let Some(h) = cx.accept(l) {
                    let sock = Sock::new(Phase::Open);
                    {
                        let mut st = sock.lock();
                        st.handle = Some(h);
                        st.local = cx.stack().local_addr(h).ok();
                        st.peer = cx.stack().peer_addr(h).ok();
                    }
                    self.socks.insert(h, sock.clone());
                    self.pump(cx, &sock);
                    lis.lock().queue.push_back(sock);
                }
                lis.cv.notify_all();
            }
        }
    }

    fn on_wake(&mut self, cx: &mut Context<'_>) {
        {
            let mut q = self.shared.cmds.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *q, &mut self.cmds);
        }
        while let Some(cmd) = self.cmds.pop_front() {
            self.run_cmd(cx, cmd);
        }
    }
}
