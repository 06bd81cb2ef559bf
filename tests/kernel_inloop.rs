//! The in-loop API against the Linux kernel in a private namespace.

mod support;

use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR};
use ringtcp::runtime::{Context, Driver, Handler, RuntimeConfig, StopMode};
use ringtcp::sim::apps::{check_stream, fill_stream};
use ringtcp::stack::{Event, SocketError, SocketHandle, StackConfig};
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::time::Duration;
use support::lab::lab_or_skip;

/// Connects, sends `total` bytes of a known stream, reads them back (the
/// kernel side echoes), then closes.
struct EchoClient {
    remote: SocketAddrV4,
    total: u64,
    h: Option<SocketHandle>,
    sent: u64,
    received: u64,
    buf: Vec<u8>,
    error: Option<String>,
}

impl EchoClient {
    fn pump(&mut self, cx: &mut Context<'_>) {
        let Some(h) = self.h else { return };
        while self.sent < self.total {
            let n = ((self.total - self.sent) as usize).min(self.buf.len());
            fill_stream(1, self.sent, &mut self.buf[..n]);
            match cx.send(h, &self.buf[..n]) {
                Ok(k) => self.sent += k as u64,
                Err(SocketError::WouldBlock) => break,
                Err(e) => {
                    self.error = Some(format!("send: {e}"));
                    cx.stop(StopMode::Reset);
                    return;
                }
            }
        }
        loop {
            match cx.recv(h, &mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(at) = check_stream(1, self.received, &self.buf[..n]) {
                        self.error = Some(format!("corrupt at {at}"));
                    }
                    self.received += n as u64;
                }
                Err(SocketError::WouldBlock) => break,
                Err(e) => {
                    self.error = Some(format!("recv: {e}"));
                    cx.stop(StopMode::Reset);
                    return;
                }
            }
        }
        if self.received == self.total {
            let _ = cx.close(h);
            // The stop ends as soon as the close completes.
            cx.stop(StopMode::Graceful(Duration::from_secs(30)));
        }
    }
}

impl Handler for EchoClient {
    fn on_start(&mut self, cx: &mut Context<'_>) {
        self.h = Some(cx.connect(self.remote).expect("connect"));
    }
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        match event {
            Event::Error(_, e) => {
                self.error = Some(format!("{e}"));
                cx.stop(StopMode::Reset);
            }
            _ => self.pump(cx),
        }
    }
}

/// Runs an [`EchoClient`] of `total` bytes against a kernel echo server on
/// `port`, reading and writing `chunk` bytes at a time on both sides, and
/// returns the driver for its statistics.
fn echo_with_kernel(
    lab: &mut ringtcp::lab::Lab,
    port: u16,
    seed: u64,
    total: u64,
    chunk: usize,
) -> Driver {
    let listener = TcpListener::bind((KERNEL_ADDR, port)).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).unwrap();
        }
    });
    let tun = lab.take_tun();
    let mut driver =
        Driver::new(tun, RuntimeConfig::new(StackConfig::new(STACK_ADDR, seed))).unwrap();
    let mut app = EchoClient {
        remote: SocketAddrV4::new(KERNEL_ADDR, port),
        total,
        h: None,
        sent: 0,
        received: 0,
        buf: vec![0u8; chunk],
        error: None,
    };
    driver.run(&mut app).unwrap();
    assert_eq!(app.error, None);
    assert_eq!(app.received, app.total);
    server.join().unwrap();
    driver
}

/// A small exchange (2000 bytes there and back) never makes the loop spin:
/// the bulk spin starts only after a turn that read at least 32 KiB.
#[test]
fn request_response_never_spins() {
    let Some(mut lab) = lab_or_skip("request_response_never_spins") else {
        return;
    };
    let driver = echo_with_kernel(&mut lab, 7001, 2, 2000, 4096);
    let st = driver.stats();
    assert_eq!(st.bulk_spins, 0, "{st:?}");
}

#[test]
fn inloop_echo_with_kernel() {
    let Some(mut lab) = lab_or_skip("inloop_echo_with_kernel") else {
        return;
    };
    let mut driver = echo_with_kernel(&mut lab, 7000, 1, 20_000_000, 65536);
    eprintln!("{:?}", driver.stats());
    eprintln!("{:?}", driver.stack().counters());
}
