//! Applications for simulations, tests and benchmarks.
//!
//! [`BulkPeer`] moves a fixed number of bytes each way over one or many
//! connections and checks every byte it receives. The bytes are a function of
//! the connection's port and the byte's position, so the receiver verifies
//! them as they arrive without storing or hashing anything, and a mismatch is
//! reported with its exact offset.

use super::App;
use crate::stack::{Event, ListenerHandle, SocketError, SocketHandle, Stack};
use crate::time::Instant;
use std::collections::BTreeMap;
use std::net::SocketAddrV4;

/// The byte at `pos` of the stream identified by `seed`.
#[inline]
pub fn stream_byte(seed: u64, pos: u64) -> u8 {
    stream_word(seed, pos / 8).to_le_bytes()[(pos % 8) as usize]
}

#[inline]
fn stream_word(seed: u64, index: u64) -> u64 {
    // splitmix64 of (seed, index).
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(index.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(0x632b_e59b_d9b4_e5d9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `out` with the stream `seed` from position `pos`.
pub fn fill_stream(seed: u64, pos: u64, out: &mut [u8]) {
    let mut p = pos;
    let mut i = 0;
    while i < out.len() {
        if p % 8 == 0 && out.len() - i >= 8 {
            out[i..i + 8].copy_from_slice(&stream_word(seed, p / 8).to_le_bytes());
            i += 8;
            p += 8;
        } else {
            out[i] = stream_byte(seed, p);
            i += 1;
            p += 1;
        }
    }
}

/// Checks `data` against the stream `seed` at `pos`; returns the offset of
/// the first wrong byte.
pub fn check_stream(seed: u64, pos: u64, data: &[u8]) -> Option<u64> {
    let mut expect = [0u8; 4096];
    let mut done = 0usize;
    while done < data.len() {
        let n = (data.len() - done).min(expect.len());
        fill_stream(seed, pos + done as u64, &mut expect[..n]);
        if expect[..n] != data[done..done + n] {
            let i = (0..n).find(|&i| expect[i] != data[done + i]).unwrap_or(0);
            return Some(pos + (done + i) as u64);
        }
        done += n;
    }
    None
}

/// The seed of the stream a client with local port `port` sends.
pub fn client_seed(port: u16) -> u64 {
    0xc000_0000_0000 | u64::from(port)
}

/// The seed of the stream a server sends to a client on port `port`.
pub fn server_seed(port: u16) -> u64 {
    0x5000_0000_0000 | u64::from(port)
}

#[derive(Debug, Default, Clone)]
struct Flow {
    tx_seed: u64,
    rx_seed: u64,
    sent: u64,
    received: u64,
    shut: bool,
    eof: bool,
    closed: bool,
}

/// What a [`BulkPeer`] does.
#[derive(Debug, Clone)]
pub enum Role {
    /// Opens `connections` connections to `remote`.
    Client {
        /// The server's address and port.
        remote: SocketAddrV4,
        /// How many connections to open, all at the start.
        connections: usize,
    },
    /// Listens on `port` and serves `connections` connections.
    Server {
        /// The port to listen on.
        port: u16,
        /// How many connections to accept before the peer is done.
        connections: usize,
    },
}

/// Sends `send_bytes` on each connection, then shuts down its write side;
/// reads and verifies everything the peer sends until its FIN; closes.
#[derive(Debug)]
pub struct BulkPeer {
    role: Role,
    send_bytes: u64,
    expect_bytes: u64,
    listener: Option<ListenerHandle>,
    started: bool,
    flows: BTreeMap<SocketHandle, Flow>,
    completed: usize,
    /// Every failure seen, in order.
    pub errors: Vec<String>,
    /// Bytes received and verified, all connections together.
    pub bytes_verified: u64,
    /// When the last connection finished.
    pub finished_at: Option<Instant>,
    /// Each connection's state and counters when it finished.
    pub infos: Vec<crate::tcp::TcpInfo>,
    buf: Vec<u8>,
}

impl BulkPeer {
    /// A peer in `role` that sends `send_bytes` and expects `expect_bytes`
    /// on each connection.
    pub fn new(role: Role, send_bytes: u64, expect_bytes: u64) -> BulkPeer {
        BulkPeer {
            role,
            send_bytes,
            expect_bytes,
            listener: None,
            started: false,
            flows: BTreeMap::new(),
            completed: 0,
            errors: Vec::new(),
            bytes_verified: 0,
            finished_at: None,
            infos: Vec::new(),
            buf: vec![0u8; 64 * 1024],
        }
    }

    fn wanted(&self) -> usize {
        match self.role {
            Role::Client { connections, .. } | Role::Server { connections, .. } => connections,
        }
    }

    /// Connections that moved everything both ways.
    pub fn completed(&self) -> usize {
        self.completed
    }

    fn add_flow(&mut self, stack: &Stack, h: SocketHandle) {
        let (local, peer) = match (stack.local_addr(h), stack.peer_addr(h)) {
            (Ok(l), Ok(p)) => (l, p),
            _ => return,
        };
        let flow = match self.role {
            Role::Client { .. } => Flow {
                tx_seed: client_seed(local.port()),
                rx_seed: server_seed(local.port()),
                ..Flow::default()
            },
            Role::Server { .. } => Flow {
                tx_seed: server_seed(peer.port()),
                rx_seed: client_seed(peer.port()),
                ..Flow::default()
            },
        };
        self.flows.insert(h, flow);
    }

    fn pump(&mut self, now: Instant, stack: &mut Stack, h: SocketHandle) {
        let Some(flow) = self.flows.get_mut(&h) else {
            return;
        };
        if flow.closed {
            return;
        }
        // Write.
        while flow.sent < self.send_bytes {
            let n = ((self.send_bytes - flow.sent) as usize).min(self.buf.len());
            fill_stream(flow.tx_seed, flow.sent, &mut self.buf[..n]);
            match stack.send(h, &self.buf[..n]) {
                Ok(k) => flow.sent += k as u64,
                Err(SocketError::WouldBlock) => break,
                Err(e) => {
                    self.errors.push(format!("send on {h:?}: {e}"));
                    flow.closed = true;
                    return;
                }
            }
        }
        if flow.sent == self.send_bytes && !flow.shut {
            flow.shut = true;
            if let Err(e) = stack.shutdown(h) {
                self.errors.push(format!("shutdown on {h:?}: {e}"));
            }
        }
        // Read.
        loop {
            match stack.recv(h, &mut self.buf) {
                Ok(0) => {
                    flow.eof = true;
                    break;
                }
                Ok(n) => {
                    if let Some(at) = check_stream(flow.rx_seed, flow.received, &self.buf[..n]) {
                        self.errors
                            .push(format!("corrupt byte at offset {at} on {h:?}"));
                    }
                    flow.received += n as u64;
                    self.bytes_verified += n as u64;
                }
                Err(SocketError::WouldBlock) => break,
                Err(e) => {
                    self.errors.push(format!("recv on {h:?}: {e}"));
                    flow.closed = true;
                    return;
                }
            }
        }
        if flow.eof && flow.shut {
            if flow.received != self.expect_bytes {
                self.errors.push(format!(
                    "{h:?} got {} bytes, expected {}",
                    flow.received, self.expect_bytes
                ));
            }
            flow.closed = true;
            self.completed += 1;
            if let Ok(info) = stack.info(h) {
                self.infos.push(info);
            }
            if let Err(e) = stack.close(now, h) {
                self.errors.push(format!("close on {h:?}: {e}"));
            }
            if self.completed == self.wanted() {
                self.finished_at = Some(now);
            }
        }
    }
}

impl App for BulkPeer {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: Event) {
        match event {
            Event::Incoming(l) => {
                while let Some(h) = stack.accept(l) {
                    self.add_flow(stack, h);
                    self.pump(now, stack, h);
                }
            }
            Event::Connected(h)
            | Event::Readable(h)
            | Event::Writable(h)
            | Event::PeerClosed(h) => self.pump(now, stack, h),
            Event::Error(h, e) => {
                if self.flows.get(&h).is_some_and(|f| !f.closed) {
                    self.errors.push(format!("{h:?} failed: {e}"));
                    if let Some(f) = self.flows.get_mut(&h) {
                        f.closed = true;
                    }
                    let _ = stack.abort(now, h);
                }
            }
            Event::Closed(_) => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if self.started {
            return;
        }
        self.started = true;
        match self.role.clone() {
            Role::Client {
                remote,
                connections,
            } => {
                for _ in 0..connections {
                    match stack.connect(now, remote) {
                        Ok(h) => self.add_flow(stack, h),
                        Err(e) => self.errors.push(format!("connect: {e}")),
                    }
                }
            }
            Role::Server { port, .. } => match stack.listen(port, 4096) {
                Ok(l) => self.listener = Some(l),
                Err(e) => self.errors.push(format!("listen: {e:?}")),
            },
        }
    }

    fn done(&self) -> bool {
        self.completed == self.wanted() || !self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_position_addressable() {
        let mut a = vec![0u8; 100];
        fill_stream(7, 3, &mut a);
        for (i, &b) in a.iter().enumerate() {
            assert_eq!(b, stream_byte(7, 3 + i as u64));
        }
        assert_eq!(check_stream(7, 3, &a), None);
        a[50] ^= 1;
        assert_eq!(check_stream(7, 3, &a), Some(53));
    }
}
