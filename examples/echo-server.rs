//! `echo-server [--port 7]`: an RFC 862 echo service on ringtcp, serving
//! every connection from inside the loop (a [`Handler`]): no thread per
//! connection, no locks, thousands of connections at once.
//!
//! On `Readable` a connection's bytes are received into a per-connection
//! buffer and sent straight back as far as the send buffer takes them; the
//! rest waits for `Writable`, and reading pauses meanwhile (the receive
//! window closes, which slows a peer that sends faster than it reads). A
//! connection is closed once the peer has closed and everything is echoed.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it: the signal handler sets a flag and
//! wakes the loop, which closes every connection gracefully and stops; then
//! a summary line is printed and the exit status is 0.

mod common;

use clap::Parser;
use common::{DeviceArgs, die, parse_args};
use ringtcp::api::{Context, Driver, Handler, StopMode};
use ringtcp::stack::{Event, ListenError, ListenerHandle, SocketError, SocketHandle};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bytes received from a connection per `recv` call (one shared buffer).
const CHUNK: usize = 64 * 1024;

/// Echo every TCP connection to PORT back to its sender, until Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "echo-server", version)]
struct Cli {
    /// The port to listen on, at the stack's address (--addr).
    #[arg(long, value_name = "PORT", default_value_t = 7,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Connections that may wait to be accepted at once.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    backlog: u32,
    /// On Ctrl-C, wait up to this many seconds for open connections to
    /// close gracefully before resetting them.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = common::seconds)]
    linger: Duration,
    #[command(flatten)]
    dev: DeviceArgs,
}

/// Bytes received but not yet taken by the send buffer.
#[derive(Default)]
struct Conn {
    pending: Vec<u8>,
    /// Where the unsent part of `pending` starts.
    sent: usize,
    peer_closed: bool,
}

struct Echo {
    port: u16,
    backlog: usize,
    linger: Duration,
    stop: Arc<AtomicBool>,
    listener: Option<ListenerHandle>,
    conns: HashMap<SocketHandle, Conn>,
    buf: Vec<u8>,
    /// Why the server could not start, if it could not.
    error: Option<String>,
    served: u64,
    echoed: u64,
    failed: u64,
    most_at_once: usize,
}

impl Echo {
    /// Moves as many bytes as the connection allows: pending ones first,
    /// then fresh ones; closes it once the peer is done and all is echoed.
    fn pump(&mut self, cx: &mut Context<'_>, h: SocketHandle) {
        let Some(conn) = self.conns.get_mut(&h) else {
            return;
        };
        loop {
            // Send what is pending; stop reading while anything is left.
            while conn.sent < conn.pending.len() {
                match cx.send(h, &conn.pending[conn.sent..]) {
                    Ok(n) => {
                        conn.sent += n;
                        self.echoed += n as u64;
                    }
                    Err(SocketError::WouldBlock) => return,
                    Err(_) => {
                        self.failed += 1;
                        let _ = cx.abort(h);
                        self.conns.remove(&h);
                        return;
                    }
                }
            }
            conn.pending.clear();
            conn.sent = 0;
            if conn.peer_closed {
                break;
            }
            match cx.recv(h, &mut self.buf) {
                Ok(0) => conn.peer_closed = true,
                Ok(n) => conn.pending.extend_from_slice(&self.buf[..n]),
                Err(SocketError::WouldBlock | SocketError::NotConnected) => return,
                Err(_) => {
                    self.failed += 1;
                    let _ = cx.abort(h);
                    self.conns.remove(&h);
                    return;
                }
            }
        }
        // The peer closed and everything went back: close our side. The
        // stack finishes the close on its own (FIN, TIME-WAIT).
        let _ = cx.close(h);
        self.conns.remove(&h);
    }
}

impl Handler for Echo {
    fn on_start(&mut self, cx: &mut Context<'_>) {
        match cx.listen(self.port, self.backlog) {
            Ok(l) => {
                self.listener = Some(l);
                let addr = cx.stack().config().addr;
                println!("echo-server: listening on {addr}:{} via TUN", self.port);
                let _ = std::io::stdout().flush();
            }
            Err(e) => {
                let why = match e {
                    ListenError::AddrInUse => "something listens there already",
                    ListenError::InvalidPort => "not a valid port",
                };
                self.error = Some(format!("cannot listen on port {}: {why}", self.port));
                cx.stop(StopMode::Reset);
            }
        }
    }

    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        match event {
            Event::Incoming(l) => {
                while let Some(h) = cx.accept(l) {
                    self.served += 1;
                    self.conns.insert(h, Conn::default());
                    self.most_at_once = self.most_at_once.max(self.conns.len());
                    self.pump(cx, h);
                }
            }
            Event::Readable(h)
            | Event::Writable(h)
            | Event::PeerClosed(h)
            | Event::Connected(h) => self.pump(cx, h),
            Event::Error(h, _) => {
                if self.conns.remove(&h).is_some() {
                    self.failed += 1;
                }
            }
            Event::Closed(h) => {
                self.conns.remove(&h);
            }
        }
    }

    fn on_wake(&mut self, cx: &mut Context<'_>) {
        if self.stop.load(Ordering::SeqCst) {
            cx.stop(StopMode::Graceful(self.linger));
        }
    }
}

fn main() {
    let cli: Cli = parse_args();
    let tun = cli.dev.open().unwrap_or_else(|e| die(e));
    let name = tun.name().to_owned();
    let mut driver = Driver::new(tun, cli.dev.runtime_config())
        .unwrap_or_else(|e| die(format!("cannot start the stack on {name}: {e}")));

    let stop = Arc::new(AtomicBool::new(false));
    let waker = driver.waker();
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        flag.store(true, Ordering::SeqCst);
        waker.wake();
    })
    .unwrap_or_else(|e| die(format!("cannot install the Ctrl-C handler: {e}")));

    let mut echo = Echo {
        port: cli.port,
        backlog: cli.backlog as usize,
        linger: cli.linger,
        stop,
        listener: None,
        conns: HashMap::new(),
        buf: vec![0u8; CHUNK],
        error: None,
        served: 0,
        echoed: 0,
        failed: 0,
        most_at_once: 0,
    };
    let result = driver.run(&mut echo);
    if let Some(e) = echo.error {
        die(e);
    }
    if let Err(e) = result {
        die(format!("the loop failed: {e}"));
    }
    println!(
        "echo-server: served {} connections ({} at most at once, {} failed), echoed {} bytes",
        echo.served, echo.most_at_once, echo.failed, echo.echoed
    );
}
