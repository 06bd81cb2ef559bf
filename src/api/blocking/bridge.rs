//! [`Bridge`]: the loop's side of the blocking API, a [`Handler`] that runs
//! the commands of application threads and moves bytes between the stack
//! and the shared queues.

use super::errors::{conn_error, connect_error, socket_error};
use super::shared::{Cmd, Lis, Phase, QUEUE_CAP, Shared, Sock, SockState};
use crate::runtime::{Context, Handler};
use crate::stack::{Event, ListenError, ListenerHandle, SocketError, SocketHandle};
use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::sync::Arc;

/// The loop side: moves bytes between the stack and the shared queues.
pub(super) struct Bridge {
    shared: Arc<Shared>,
    socks: HashMap<SocketHandle, Arc<Sock>>,
    lis: HashMap<ListenerHandle, Arc<Lis>>,
    scratch: Vec<u8>,
    cmds: VecDeque<Cmd>,
    /// Sockets whose waiters are woken at the end of this turn: once per
    /// turn at most, however many events each had.
    to_wake: Vec<Arc<Sock>>,
}

impl Bridge {
    pub(super) fn new(shared: Arc<Shared>) -> Bridge {
        Bridge {
            shared,
            socks: HashMap::new(),
            lis: HashMap::new(),
            scratch: vec![0u8; 64 * 1024],
            cmds: VecDeque::new(),
            to_wake: Vec::new(),
        }
    }

    /// Queues a wake-up of `sock`'s waiters for the end of this turn,
    /// unless one is queued already.
    fn wake_later(&mut self, sock: &Arc<Sock>) {
        let mut st = sock.lock();
        if !st.wake_queued {
            st.wake_queued = true;
            drop(st);
            self.to_wake.push(sock.clone());
        }
    }

    /// Wakes every waiter with an error once the loop has ended.
    pub(super) fn fail_all(&mut self, res: &io::Result<()>) {
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
                    l.notify();
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
            s.notify();
        }
        for l in self.lis.values() {
            l.lock().error = Some((ErrorKind::NotConnected, why.clone()));
            l.notify();
        }
    }

    /// The stack's receive buffer into the socket's queue, as far as the
    /// queue has room (or discarded, after a read shutdown). True if the
    /// state changed.
    fn pump_in(&mut self, cx: &mut Context<'_>, st: &mut SockState, h: SocketHandle) -> bool {
        let mut changed = false;
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
        changed
    }

    fn pump(&mut self, cx: &mut Context<'_>, sock: &Arc<Sock>) {
        let mut st = sock.lock();
        st.pump_queued = false;
        let Some(h) = st.handle else {
            return;
        };
        let mut changed = pump_out(cx, &mut st, h);
        changed |= self.pump_in(cx, &mut st, h);
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
            self.wake_later(sock);
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
                    self.wake_later(&sock);
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
                lis.notify();
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
                lis.notify();
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
                self.wake_later(&sock);
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
        self.wake_later(sock);
    }
}

/// The socket's queue into the stack's send buffer, then the FIN once a
/// write shutdown's queue has drained. True if the state changed.
fn pump_out(cx: &mut Context<'_>, st: &mut SockState, h: SocketHandle) -> bool {
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
    changed
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
                    self.wake_later(&sock);
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
                    self.wake_later(&sock);
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
                lis.notify();
            }
        }
    }

    /// The turn's wake-ups, after every command and event of the turn
    /// (nothing here calls the stack, so no event can come after them).
    fn on_turn(&mut self, _cx: &mut Context<'_>) {
        for sock in self.to_wake.drain(..) {
            sock.notify();
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
