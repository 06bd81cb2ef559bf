//! What an application thread and the loop share: each socket's and
//! listener's state under a mutex with a condition variable (for blocking
//! callers) and the `Waker`s of the async tasks waiting on it, and the queue
//! of commands to the loop. The blocking and the async API share all of it:
//! the loop does not know which kind of caller waits.

use crate::runtime::{RuntimeStats, StopMode, Waker};
use crate::stack::{Counters, ListenerHandle, SocketHandle};
use crate::tcp::TcpInfo;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker as TaskWaker;
use std::time::{Duration, Instant as StdInstant};

/// Bytes a socket queues on its way in or out, beyond the stack's buffers.
pub(in crate::api) const QUEUE_CAP: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::api) enum Phase {
    Connecting,
    Open,
    Failed,
}

#[derive(Debug)]
pub(in crate::api) struct SockState {
    pub(in crate::api) handle: Option<SocketHandle>,
    pub(in crate::api) phase: Phase,
    pub(in crate::api) error: Option<(ErrorKind, String)>,
    pub(in crate::api) local: Option<SocketAddrV4>,
    pub(in crate::api) peer: Option<SocketAddrV4>,
    pub(in crate::api) rx: VecDeque<u8>,
    pub(in crate::api) rx_eof: bool,
    /// The loop stopped pulling because `rx` was full.
    pub(in crate::api) rx_full: bool,
    pub(in crate::api) rx_shut: bool,
    pub(in crate::api) tx: VecDeque<u8>,
    pub(in crate::api) tx_shut: bool,
    pub(in crate::api) fin_sent: bool,
    /// A pump command is queued already.
    pub(in crate::api) pump_queued: bool,
    /// The application dropped its stream.
    pub(in crate::api) released: bool,
    pub(in crate::api) read_timeout: Option<Duration>,
    pub(in crate::api) write_timeout: Option<Duration>,
    pub(in crate::api) info: Option<TcpInfo>,
    /// The async task waiting to read (or to connect).
    pub(in crate::api) rx_waker: Option<TaskWaker>,
    /// The async task waiting to write or flush.
    pub(in crate::api) tx_waker: Option<TaskWaker>,
    /// The loop has this socket on its list of wake-ups for this turn.
    pub(in crate::api) wake_queued: bool,
}

impl SockState {
    /// The connection's error, as `std` reports it.
    pub(in crate::api) fn io_error(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    /// Marks a pump as asked for; true if the caller must send it (none
    /// was queued already).
    fn ask_pump(&mut self) -> bool {
        !std::mem::replace(&mut self.pump_queued, true)
    }

    /// Copies received bytes into `buf` (some are held); returns how many,
    /// and whether to send the loop a pump: it stopped pulling at a full
    /// queue, and now there is room for a good batch.
    pub(in crate::api) fn take_rx(&mut self, buf: &mut [u8]) -> (usize, bool) {
        let n = buf.len().min(self.rx.len());
        let (a, b) = self.rx.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.rx.drain(..n);
        let pump = self.rx_full && self.rx.len() <= QUEUE_CAP / 2 && self.ask_pump();
        (n, pump)
    }

    /// Queues as much of `buf` as the send queue has room for; returns
    /// how many bytes, and whether to send the loop a pump (the queue was
    /// empty, so the loop is not already moving it).
    pub(in crate::api) fn put_tx(&mut self, buf: &[u8]) -> (usize, bool) {
        let n = QUEUE_CAP.saturating_sub(self.tx.len()).min(buf.len());
        if n == 0 {
            return (0, false);
        }
        let was_empty = self.tx.is_empty();
        self.tx.extend(&buf[..n]);
        (n, was_empty && self.ask_pump())
    }

    /// `shutdown(how)`: the write side queues a FIN after the data, the
    /// read side drops what is held and reads nothing more.
    pub(in crate::api) fn shut(&mut self, how: Shutdown) {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.tx_shut = true;
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.rx_shut = true;
            self.rx.clear();
        }
    }
}

#[derive(Debug)]
pub(in crate::api) struct Sock {
    pub(in crate::api) st: Mutex<SockState>,
    pub(in crate::api) cv: Condvar,
}

impl Sock {
    pub(in crate::api) fn new(phase: Phase) -> Arc<Sock> {
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
                rx_waker: None,
                tx_waker: None,
                wake_queued: false,
            }),
            cv: Condvar::new(),
        })
    }

    pub(in crate::api) fn lock(&self) -> MutexGuard<'_, SockState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The application let go of the socket: the loop delivers what is
    /// queued, then the FIN, as `std` closes (or resets, when received
    /// data was left unread).
    pub(in crate::api) fn release(self: &Arc<Self>, shared: &Shared) {
        {
            let mut st = self.lock();
            st.released = true;
            st.tx_shut = true;
        }
        let _ = shared.send(Cmd::Pump(self.clone()));
    }

    /// Wakes everyone waiting on this socket: blocked threads and both
    /// async tasks (each re-checks the state and waits again if nothing it
    /// cares about changed).
    pub(in crate::api) fn notify(&self) {
        let (rx, tx) = {
            let mut st = self.lock();
            st.wake_queued = false;
            (st.rx_waker.take(), st.tx_waker.take())
        };
        self.cv.notify_all();
        // Woken outside the lock: a waker may run its task on this thread.
        if let Some(w) = rx {
            w.wake();
        }
        if let Some(w) = tx {
            w.wake();
        }
    }

    /// Waits for the loop to change this socket's state, until `deadline`
    /// if there is one (then `WouldBlock`, as std's timed-out reads and
    /// writes report).
    pub(in crate::api) fn wait<'a>(
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
pub(in crate::api) struct LisState {
    pub(in crate::api) handle: Option<ListenerHandle>,
    pub(in crate::api) queue: VecDeque<Arc<Sock>>,
    pub(in crate::api) error: Option<(ErrorKind, String)>,
    pub(in crate::api) ready: bool,
    pub(in crate::api) closed: bool,
    /// Async tasks waiting in `bind` or `accept`.
    pub(in crate::api) wakers: Vec<TaskWaker>,
}

#[derive(Debug, Default)]
pub(in crate::api) struct Lis {
    pub(in crate::api) st: Mutex<LisState>,
    pub(in crate::api) cv: Condvar,
}

impl Lis {
    pub(in crate::api) fn lock(&self) -> MutexGuard<'_, LisState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the blocked threads and async tasks waiting on this listener.
    pub(in crate::api) fn notify(&self) {
        let wakers = std::mem::take(&mut self.lock().wakers);
        self.cv.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

pub(in crate::api) enum Cmd {
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

pub(in crate::api) struct Shared {
    pub(in crate::api) cmds: Mutex<VecDeque<Cmd>>,
    pub(in crate::api) waker: Waker,
    pub(in crate::api) addr: Ipv4Addr,
    /// Why the loop ended, once it has.
    pub(in crate::api) dead: Mutex<Option<String>>,
}

impl Shared {
    pub(in crate::api) fn send(&self, cmd: Cmd) -> io::Result<()> {
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
