//! Kernel-side servers for benchmarks: the Linux TCP stack as the peer.
//!
//! [`KernelPeer::start`] binds four `std::net` servers on one address, each
//! on its own well-known port, each connection on its own thread:
//!
//! | port | mode | what the server does |
//! |---|---|---|
//! | 5201 | download | writes a repeating pattern until the client closes |
//! | 5202 | upload | reads and discards, counting bytes (the receiver's figure) |
//! | 5203 | pingpong | echoes everything back |
//! | 5204 | connect | reads one message, echoes it, closes first |
//!
//! The same servers serve ringtcp's `bench`, the smoltcp comparison and the
//! kernel-to-kernel baseline, so every figure is measured against the same
//! peer. Sockets are created in the calling thread's network namespace.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// The download server: writes a repeating pattern until the client closes.
pub const DOWNLOAD_PORT: u16 = 5201;
/// The upload server: reads and discards, counting bytes
/// ([`KernelPeer::uploaded`]).
pub const UPLOAD_PORT: u16 = 5202;
/// The pingpong server: echoes everything back, with `TCP_NODELAY`.
pub const PINGPONG_PORT: u16 = 5203;
/// The connect server: reads one message, echoes it and closes first.
pub const CONNECT_PORT: u16 = 5204;

/// Socket buffer size the servers ask for (as the anchor figures used).
pub const SOCKET_BUFFER: usize = 1 << 20;

/// The running servers. Dropping it stops accepting new connections.
#[derive(Debug)]
pub struct KernelPeer {
    addr: Ipv4Addr,
    stop: Arc<AtomicBool>,
    uploaded: Arc<AtomicU64>,
}

impl KernelPeer {
    /// Starts all four servers on `addr`.
    pub fn start(addr: Ipv4Addr) -> io::Result<KernelPeer> {
        let stop = Arc::new(AtomicBool::new(false));
        let uploaded = Arc::new(AtomicU64::new(0));
        let peer = KernelPeer {
            addr,
            stop: stop.clone(),
            uploaded: uploaded.clone(),
        };
        serve(addr, DOWNLOAD_PORT, stop.clone(), |s| {
            let buf = vec![0x5au8; 256 * 1024];
            while (&s).write_all(&buf).is_ok() {}
        })?;
        let counter = uploaded.clone();
        serve(addr, UPLOAD_PORT, stop.clone(), move |s| {
            let mut buf = vec![0u8; 256 * 1024];
            while let Ok(n) = (&s).read(&mut buf) {
                if n == 0 {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        })?;
        serve(addr, PINGPONG_PORT, stop.clone(), |s| {
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = (&s).read(&mut buf) {
                if n == 0 || (&s).write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })?;
        serve(addr, CONNECT_PORT, stop, |s| {
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; 4096];
            if let Ok(n) = (&s).read(&mut buf)
                && n > 0
            {
                let _ = (&s).write_all(&buf[..n]);
            }
            // The server closes first, as an HTTP/1.0 server does: TIME-WAIT
            // stays on its side, and a client opening thousands of
            // connections a second does not run out of ports.
            let _ = s.shutdown(Shutdown::Both);
        })?;
        Ok(peer)
    }

    /// The address the servers listen on.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Bytes the upload server has received so far, all connections.
    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }
}

impl Drop for KernelPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for port in [DOWNLOAD_PORT, UPLOAD_PORT, PINGPONG_PORT, CONNECT_PORT] {
            let _ = TcpStream::connect_timeout(
                &SocketAddrV4::new(self.addr, port).into(),
                Duration::from_millis(100),
            );
        }
    }
}

fn serve(
    addr: Ipv4Addr,
    port: u16,
    stop: Arc<AtomicBool>,
    handler: impl Fn(TcpStream) + Send + Sync + Clone + 'static,
) -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddrV4::new(addr, port))?;
    thread::Builder::new()
        .name(format!("peer-{port}"))
        .spawn(move || {
            // Blocking accept: a polling loop would add its sleep to every
            // connection the `connect` benchmark times. Drop wakes it with a
            // connection of its own.
            loop {
                let accepted = listener.accept();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match accepted {
                    Ok((s, _)) => {
                        let h = handler.clone();
                        let _ = thread::Builder::new()
                            .name(format!("peer-{port}-conn"))
                            .spawn(move || h(s));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
    Ok(())
}
