//! What an application thread and the loop share: each socket's and
//! listener's state under a mutex with a condition variable, and the queue
//! of commands to the loop.

use crate::runtime::{RuntimeStats, StopMode, Waker};
use crate::stack::{Counters, ListenerHandle, SocketHandle};
use crate::tcp::TcpInfo;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant as StdInstant};

/// Bytes a socket queues on its way in or out, beyond the stack's buffers.
pub(super) const QUEUE_CAP: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Connecting,
    Open,
    Failed,
}

#[derive(Debug)]
pub(super) struct SockState {
    pub(super) handle: Option<SocketHandle>,
    pub(super) phase: Phase,
    pub(super) error: Option<(ErrorKind, String)>,
    pub(super) local: Option<SocketAddrV4>,
    pub(super) peer: Option<SocketAddrV4>,
    pub(super) rx: VecDeque<u8>,
    pub(super) rx_eof: bool,
    /// The loop stopped pulling because `rx` was full.
    pub(super) rx_full: bool,
    pub(super) rx_shut: bool,
    pub(super) tx: VecDeque<u8>,
    pub(super) tx_shut: bool,
    pub(super) fin_sent: bool,
    /// A pump command is queued already.
    pub(super) pump_queued: bool,
    /// The application dropped its stream.
    pub(super) released: bool,
    pub(super) read_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
    pub(super) info: Option<TcpInfo>,
}

#[derive(Debug)]
pub(super) struct Sock {
    pub(super) st: Mutex<SockState>,
    pub(super) cv: Condvar,
}

impl Sock {
    pub(super) fn new(phase: Phase) -> Arc<Sock> {
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

    pub(super) fn lock(&self) -> MutexGuard<'_, SockState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the loop to change this socket's state, until `deadline`
    /// if there is one (then `WouldBlock`, as std's timed-out reads and
    /// writes report).
    pub(super) fn wait<'a>(
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
pub(super) struct LisState {
    pub(super) handle: Option<ListenerHandle>,
    pub(super) queue: VecDeque<Arc<Sock>>,
    pub(super) error: Option<(ErrorKind, String)>,
    pub(super) ready: bool,
    pub(super) closed: bool,
}

#[derive(Debug, Default)]
pub(super) struct Lis {
    pub(super) st: Mutex<LisState>,
    pub(super) cv: Condvar,
}

impl Lis {
    pub(super) fn lock(&self) -> MutexGuard<'_, LisState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) enum Cmd {
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

pub(super) struct Shared {
    pub(super) cmds: Mutex<VecDeque<Cmd>>,
    pub(super) waker: Waker,
    pub(super) addr: Ipv4Addr,
    /// Why the loop ended, once it has.
    pub(super) dead: Mutex<Option<String>>,
}

impl Shared {
    pub(super) fn send(&self, cmd: Cmd) -> io::Result<()> {
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
