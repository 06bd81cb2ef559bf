//! A SYN flood in the simulator (issue 12's must-show, the simulated half):
//! a seeded off-path attacker sends 100,000 SYNs from spoofed sources
//! 192.0.2.100-199 (random ports and ISNs, each with MSS and
//! SACK-permitted, as in the issue) at 10,000 a second of virtual time
//! against an echo server on 192.0.2.2, while a real client on 192.0.2.1
//! opens a new connection every 250 ms and keeps one established
//! connection echoing. Every legitimate connection must succeed and echo,
//! the established one must keep echoing, and the server's half-open
//! connections must stay within the listener's backlog throughout.
//!
//! Also the simple case: a listener whose backlog is full of half-open
//! connections completes a handshake with a real client by SYN cookie and
//! echoes its data.

use ringtcp::sim::{App, LinkConfig, Network};
use ringtcp::stack::rand::Rng;
use ringtcp::stack::{Event, ListenerHandle, SocketHandle, Stack, StackConfig};
use ringtcp::time::Instant;
use ringtcp::wire::SeqNum;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_TCP};
use ringtcp::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, fill_checksum};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PORT: u16 = 7;
const BACKLOG: usize = 64;
/// Bytes each short connection sends and expects back.
const MSG: usize = 3000;

/// Accepts everything and echoes every byte back; closes when the peer
/// does.
#[derive(Default)]
struct EchoServer {
    listener: Option<ListenerHandle>,
    buf: Vec<u8>,
}

impl App for EchoServer {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: Event) {
        match event {
            Event::Incoming(l) => while stack.accept(l).is_some() {},
            Event::Readable(h) => loop {
                self.buf.resize(64 * 1024, 0);
                let n = stack.recv(h, &mut self.buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                // Echo payloads are small: the send buffer takes them.
                assert_eq!(stack.send(h, &self.buf[..n]), Ok(n));
            },
            Event::PeerClosed(h) => {
                let _ = stack.close(now, h);
            }
            _ => {}
        }
    }

    fn poll(&mut self, _now: Instant, stack: &mut Stack) {
        if self.listener.is_none() {
            self.listener = Some(stack.listen(PORT, BACKLOG).expect("listen"));
        }
    }
}

/// One connection of the client: what it sent and got back.
#[derive(Debug, Default)]
struct Flow {
    got: Vec<u8>,
    sent: usize,
    steady: bool,
}

/// Opens a connection at each of `starts` (sends [`MSG`] bytes, checks
/// the echo, closes), and from `steady_at` one long-lived connection that
/// sends a small message every `steady_every` and checks each echo.
struct Client {
    starts: Vec<Instant>,
    steady_at: Instant,
    steady_every: Duration,
    steady_until: Instant,
    steady: Option<SocketHandle>,
    next_steady: Instant,
    flows: BTreeMap<SocketHandle, Flow>,
    /// Short connections whose echo came back whole.
    echoed: usize,
    /// Messages the steady connection got back.
    steady_echoes: usize,
    errors: Vec<String>,
    buf: Vec<u8>,
}

impl Client {
    fn new(starts: Vec<Instant>, steady_at: Instant, steady_until: Instant) -> Client {
        Client {
            starts,
            steady_at,
            steady_every: Duration::from_millis(200),
            steady_until,
            steady: None,
            next_steady: steady_at,
            flows: BTreeMap::new(),
            echoed: 0,
            steady_echoes: 0,
            errors: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    fn message(i: usize) -> Vec<u8> {
        (0..MSG).map(|j| (i * 7 + j * 13) as u8).collect()
    }

    fn connect(&mut self, now: Instant, stack: &mut Stack, steady: bool) -> SocketHandle {
        let h = stack
            .connect(now, SocketAddrV4::new(SERVER, PORT))
            .expect("connect");
        self.flows.insert(
            h,
            Flow {
                steady,
                ..Flow::default()
            },
        );
        h
    }
}

impl App for Client {
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: Event) {
        match event {
            Event::Connected(h) => {
                let flow = self.flows.get_mut(&h).expect("our connection");
                if !flow.steady {
                    let msg = Client::message(h.index());
                    assert_eq!(stack.send(h, &msg), Ok(MSG));
                    flow.sent = MSG;
                }
            }
            Event::Readable(h) => {
                let n = stack.recv(h, &mut self.buf).unwrap_or(0);
                let flow = self.flows.get_mut(&h).expect("our connection");
                flow.got.extend_from_slice(&self.buf[..n]);
                if flow.steady {
                    while flow.got.len() >= 10 {
                        assert_eq!(&flow.got[..10], b"steady msg");
                        flow.got.drain(..10);
                        self.steady_echoes += 1;
                    }
                } else if flow.got.len() == MSG {
                    assert_eq!(flow.got, Client::message(h.index()));
                    self.echoed += 1;
                    let _ = stack.close(now, h);
                }
            }
            Event::Error(h, e) => self.errors.push(format!("{h:?}: {e:?}")),
            _ => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        while self.starts.first().is_some_and(|&t| t <= now) {
            self.starts.remove(0);
            self.connect(now, stack, false);
        }
        if self.steady.is_none() && now >= self.steady_at {
            self.steady = Some(self.connect(now, stack, true));
        }
        if let Some(h) = self.steady
            && now >= self.next_steady
            && now < self.steady_until
            && stack.state(h) == Ok("ESTABLISHED")
        {
            assert_eq!(stack.send(h, b"steady msg"), Ok(10));
            self.flows.get_mut(&h).unwrap().sent += 10;
            self.next_steady = now + self.steady_every;
        }
    }

    fn done(&self) -> bool {
        false
    }
}

/// A spoofed SYN from 192.0.2.100-199, a random port and ISN, with MSS
/// 1460 and SACK-permitted.
fn spoofed_syn(rng: &mut Rng) -> Vec<u8> {
    let src = Ipv4Addr::new(192, 0, 2, rng.gen_range(100u8..200));
    let repr = TcpRepr {
        src_port: rng.gen_range(1024u16..65535),
        dst_port: PORT,
        seq: SeqNum(rng.next_u32()),
        ack: SeqNum(0),
        flags: TcpFlags::SYN,
        window: 64_240,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let hlen = repr.header_len();
    let mut buf = vec![0u8; IPV4_HEADER_LEN + hlen];
    let ip = Ipv4Repr {
        src,
        dst: SERVER,
        protocol: PROTO_TCP,
        payload_len: hlen,
        ttl: 64,
    };
    ip.emit(&mut buf[..IPV4_HEADER_LEN], 1).unwrap();
    repr.emit_header(&mut buf[IPV4_HEADER_LEN..]).unwrap();
    fill_checksum(&mut buf[IPV4_HEADER_LEN..], src, SERVER);
    buf
}

fn network(seed: u64) -> Network {
    let mut net = Network::new(seed);
    let link = LinkConfig::default();
    net.add_node(
        StackConfig::new(SERVER, seed + 1),
        link.clone(),
        Box::<EchoServer>::default(),
    );
    net
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

#[test]
fn syn_flood_in_the_simulator_leaves_legitimate_clients_served() {
    const SYNS: u64 = 100_000;
    const RATE: u64 = 10_000; // per second of virtual time
    let flood_start = ms(1_000);
    let flood_end = flood_start + Duration::from_micros(SYNS * 1_000_000 / RATE);
    let mut net = network(42);
    // Short connections every 250 ms from before the flood to after it.
    let starts: Vec<Instant> = (0..50).map(|i| ms(500 + 250 * i)).collect();
    let legit = starts.len();
    let client = Client::new(starts, ms(200), flood_end + Duration::from_secs(1));
    let c = net.add_node(
        StackConfig::new(CLIENT, 9),
        LinkConfig::default(),
        Box::new(client),
    );
    let mut rng = Rng::new(0x5eed);
    for i in 0..SYNS {
        let at = flood_start + Duration::from_micros(i * 1_000_000 / RATE);
        assert!(net.inject(at, spoofed_syn(&mut rng)));
    }
    let mut max_half_open = 0;
    let mut max_conns = 0;
    let end = flood_end + Duration::from_secs(3);
    let r = net.run_until(Duration::from_secs(60), |net| {
        let s = net.stack(0);
        max_half_open = max_half_open.max(s.half_open_count());
        max_conns = max_conns.max(s.connection_count());
        net.now() >= end
    });
    assert_eq!(r, Ok(()));
    let client = net.app::<Client>(c);
    let counters = net.stack(0).counters().clone();
    println!(
        "flood: {SYNS} SYNs over {:?}; cookies sent {}, accepted {}, rejected {}; \
         half-open peak {} (bound {BACKLOG}); most connections {max_conns}; \
         legit echoed {}/{legit}; steady echoes {}",
        flood_end - flood_start,
        counters.tcp_syncookies_sent,
        counters.tcp_syncookies_accepted,
        counters.tcp_syncookies_rejected,
        counters.tcp_half_open_peak,
        client.echoed,
        client.steady_echoes,
    );
    assert_eq!(client.errors, Vec::<String>::new());
    assert_eq!(client.echoed, legit, "every legitimate connection echoed");
    // The steady connection sent every 200 ms through the flood (the
    // client polls only when something happens, so a little less), and got
    // every message back.
    let flood_msgs = (flood_end - flood_start).as_millis() as usize / 200;
    let steady = client.steady.expect("the steady connection");
    let sent = client.flows[&steady].sent / 10;
    assert!(sent >= flood_msgs, "{sent} steady messages sent");
    assert_eq!(client.steady_echoes, sent);
    assert_eq!(net.stack(c).state(steady), Ok("ESTABLISHED"));
    // Memory stays bounded: half-open entries never beyond the backlog,
    // the table never beyond them and the legitimate connections.
    assert!(max_half_open <= BACKLOG, "{max_half_open}");
    assert_eq!(counters.tcp_half_open_peak, max_half_open as u64);
    assert!(max_conns <= BACKLOG + legit + 1, "{max_conns}");
    // Almost every spoofed SYN got a cookie, and the legitimate clients
    // that came during the flood were let in by theirs.
    assert!(counters.tcp_syncookies_sent >= SYNS - BACKLOG as u64 - 1_000);
    assert!(counters.tcp_syncookies_accepted >= 35);
    assert_eq!(counters.tcp_syncookies_rejected, 0);
}

/// A listener with a backlog of 2, both taken by half-open connections
/// from a peer that never completes them: a real client still connects,
/// by SYN cookie, and its data is echoed; the server kept no state for the
/// cookie.
#[test]
fn full_listener_serves_a_real_client_by_cookie() {
    let mut net = Network::new(7);
    net.add_node(
        StackConfig::new(SERVER, 1),
        LinkConfig::default(),
        Box::<EchoServer>::default(),
    );
    // The server listens at the first step; the SYNs come after.
    let mut rng = Rng::new(1);
    for i in 0..BACKLOG as u64 {
        assert!(net.inject(ms(1 + i), spoofed_syn(&mut rng)));
    }
    let client = Client::new(vec![ms(500)], ms(100), ms(100));
    let c = net.add_node(
        StackConfig::new(CLIENT, 2),
        LinkConfig::default(),
        Box::new(client),
    );
    let r = net.run_until(Duration::from_secs(10), |net| {
        net.app::<Client>(c).echoed == 1 || !net.app::<Client>(c).errors.is_empty()
    });
    assert_eq!(r, Ok(()));
    let s = net.stack(0).counters();
    assert_eq!(net.stack(0).half_open_count(), BACKLOG);
    assert_eq!(
        s.tcp_syncookies_sent, 2,
        "the steady connection's and the short one's"
    );
    assert_eq!(s.tcp_syncookies_accepted, 2);
    // Both client connections negotiated what their SYN offered: the
    // client offers timestamps, so window scaling and SACK survive.
    let client = net.stack(c);
    for h in client.handles() {
        let info = client.info(h).unwrap();
        assert!(info.timestamps && info.sack && info.window_scale.is_some());
        assert_eq!(info.snd_mss, 1460);
    }
}
