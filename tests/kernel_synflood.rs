//! SYN floods and RFC 5961 cases against ringtcp on a real TUN device,
//! with the Linux kernel on the other side, in a private network namespace
//! per test (as `kernel.rs`). Crafted segments come from a raw socket in
//! the kernel's namespace: the kernel routes them, like its own, into the
//! TUN. ringtcp's answers to spoofed sources (192.0.2.100-199) come back
//! out of the TUN to a kernel that owns no such address and does not
//! forward, which drops them.
//!
//! As root these always run; otherwise they print SKIPPED.

mod support;

use ringtcp::api::{Runtime, RuntimeConfig, TcpListener as RingListener};
use ringtcp::lab::{KERNEL_ADDR, Lab, STACK_ADDR};
use ringtcp::stack::rand::Rng;
use ringtcp::stack::{Counters, StackConfig};
use ringtcp::wire::SeqNum;
use ringtcp::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, PROTO_TCP};
use ringtcp::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, fill_checksum};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::kernel_socket::RawSocket;
use support::lab::lab_or_skip;

const PORT: u16 = 7777;

/// An IPv4 packet carrying `repr` from `src` to ringtcp.
fn packet(src: Ipv4Addr, repr: &TcpRepr<'_>) -> Vec<u8> {
    let hlen = repr.header_len();
    let mut buf = vec![0u8; IPV4_HEADER_LEN + hlen + repr.payload.len()];
    let ip = Ipv4Repr {
        src,
        dst: STACK_ADDR,
        protocol: PROTO_TCP,
        payload_len: hlen + repr.payload.len(),
        ttl: 64,
    };
    ip.emit(&mut buf[..IPV4_HEADER_LEN], 0).unwrap();
    let seg = &mut buf[IPV4_HEADER_LEN..];
    repr.emit_header(seg).unwrap();
    seg[hlen..].copy_from_slice(repr.payload);
    fill_checksum(seg, src, STACK_ADDR);
    buf
}

/// A segment to ringtcp's [`PORT`] from `src_port` with `flags`.
fn segment(src_port: u16, seq: u32, flags: TcpFlags, options: TcpOptions) -> TcpRepr<'static> {
    TcpRepr {
        src_port,
        dst_port: PORT,
        seq: SeqNum(seq),
        ack: SeqNum(0),
        flags,
        window: 64_240,
        urgent: 0,
        options,
        payload: &[],
    }
}

fn mss_sack() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        sack_permitted: true,
        ..TcpOptions::default()
    }
}

/// A runtime on the lab's TUN with an echo server on [`PORT`]: one thread
/// per connection, echoing until EOF.
fn echo_runtime(lab: &mut Lab, stack: StackConfig) -> Runtime {
    let rt = Runtime::start(lab.take_tun(), RuntimeConfig::new(stack)).expect("runtime");
    let listener: RingListener = rt.bind((STACK_ADDR, PORT)).expect("bind");
    thread::spawn(move || {
        while let Ok((s, _)) = listener.accept() {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = (&s).read(&mut buf) {
                    if n == 0 || (&s).write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    rt
}

/// One kernel connection to ringtcp's echo server: connect (3 s, as the
/// issue's tries), send 1000 bytes, read them back.
fn echo_once(i: usize) -> Result<(), String> {
    let to = SocketAddr::from((STACK_ADDR, PORT));
    let s = TcpStream::connect_timeout(&to, Duration::from_secs(3))
        .map_err(|e| format!("connect {i}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let msg: Vec<u8> = (0..1000).map(|j| (i * 31 + j) as u8).collect();
    (&s).write_all(&msg)
        .map_err(|e| format!("write {i}: {e}"))?;
    let mut back = vec![0u8; msg.len()];
    (&s).read_exact(&mut back)
        .map_err(|e| format!("read {i}: {e}"))?;
    if back != msg {
        return Err(format!("echo {i} differs"));
    }
    Ok(())
}

fn counters(rt: &Runtime) -> Counters {
    rt.stats().expect("stats").1
}

/// Polls ringtcp's counters until `f` holds (2 s at most).
#[track_caller]
fn wait_for(rt: &Runtime, what: &str, f: impl Fn(&Counters) -> bool) -> Counters {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let c = counters(rt);
        if f(&c) {
            return c;
        }
        assert!(Instant::now() < end, "{what}: {c:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// The must-show: at least 100,000 spoofed SYNs at full speed from
/// 192.0.2.100-199 (random ports, MSS and SACK-permitted) against
/// ringtcp's echo server. During the flood and right after it, 20 of 20
/// new kernel connections connect and echo, an established connection
/// keeps echoing, and ringtcp's half-open connections stay within
/// `max_half_open`.
#[test]
fn kernel_syn_flood_leaves_new_and_established_connections_served() {
    let Some(mut lab) =
        lab_or_skip("kernel_syn_flood_leaves_new_and_established_connections_served")
    else {
        return;
    };
    const BOUND: usize = 256;
    const MIN_SYNS: u64 = 100_000;
    let mut stack = StackConfig::new(STACK_ADDR, 12);
    stack.max_half_open = BOUND;
    let rt = echo_runtime(&mut lab, stack);

    // The established connection, echoing every 20 ms until told to stop.
    let steady = TcpStream::connect((STACK_ADDR, PORT)).expect("steady connect");
    steady
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let steady_thread = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut echoes = 0u64;
            let mut buf = [0u8; 16];
            while !stop.load(Ordering::Relaxed) {
                (&steady)
                    .write_all(b"steady, steady..")
                    .expect("steady write");
                (&steady).read_exact(&mut buf).expect("steady echo");
                assert_eq!(&buf, b"steady, steady..");
                echoes += 1;
                thread::sleep(Duration::from_millis(20));
            }
            echoes
        })
    };

    // The flood: full speed until at least MIN_SYNS and the connections
    // meant to run during it are done (at most 20 s).
    let sent = Arc::new(AtomicU64::new(0));
    let during_done = Arc::new(AtomicBool::new(false));
    let flood = {
        let (sent, during_done) = (sent.clone(), during_done.clone());
        thread::spawn(move || {
            let raw = RawSocket::new(libc::IPPROTO_RAW).expect("raw socket");
            let mut rng = Rng::new(0xf100d);
            let start = Instant::now();
            let mut n = 0u64;
            while (n < MIN_SYNS || !during_done.load(Ordering::Relaxed))
                && start.elapsed() < Duration::from_secs(20)
            {
                let src = Ipv4Addr::new(192, 0, 2, rng.gen_range(100u8..200));
                let port = rng.gen_range(1024u16..65535);
                let syn = segment(port, rng.next_u32(), TcpFlags::SYN, mss_sack());
                raw.send_all(&packet(src, &syn), STACK_ADDR);
                n += 1;
                sent.store(n, Ordering::Relaxed);
            }
            (n, start.elapsed())
        })
    };

    // Ten connections while the flood runs, once it has begun in earnest.
    while sent.load(Ordering::Relaxed) < 5_000 {
        thread::sleep(Duration::from_millis(1));
    }
    let mut results: Vec<Result<(), String>> = (0..10).map(echo_once).collect();
    let sent_during = sent.load(Ordering::Relaxed);
    during_done.store(true, Ordering::Relaxed);
    let (syns, took) = flood.join().expect("flood thread");
    let mid = counters(&rt);
    // Ten more right after it.
    results.extend((10..20).map(echo_once));
    stop.store(true, Ordering::Relaxed);
    let steady_echoes = steady_thread
        .join()
        .expect("the steady connection kept echoing");
    let c = counters(&rt);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!(
        "kernel SYN flood: {syns} SYNs in {took:.2?} ({:.0}/s; {sent_during} sent while 10 \
         connections ran); ringtcp received {} packets, sent {} cookies, accepted {}, \
         rejected {}; half-open peak {} (bound {BOUND}); control queue full {}; \
         legit {ok}/20; steady echoes {steady_echoes}",
        syns as f64 / took.as_secs_f64(),
        c.packets_received,
        c.tcp_syncookies_sent,
        c.tcp_syncookies_accepted,
        c.tcp_syncookies_rejected,
        c.tcp_half_open_peak,
        c.control_queue_full,
    );
    let failures: Vec<_> = results.iter().filter_map(|r| r.clone().err()).collect();
    assert_eq!(failures, Vec::<String>::new());
    assert!(syns >= MIN_SYNS);
    assert!(steady_echoes > 0);
    assert!(c.tcp_half_open_peak <= BOUND as u64, "{c:?}");
    assert!(mid.tcp_syncookies_sent >= MIN_SYNS / 2, "{mid:?}");
    assert!(c.tcp_syncookies_accepted >= 10, "{c:?}");
    assert_eq!(c.tcp_syncookies_rejected, 0);
}

/// RFC 5961 4.2 against a kernel connection: a SYN with the connection's
/// 4-tuple and any sequence number (no timestamp, though the connection
/// has them) draws a challenge ACK, a second one within 500 ms is
/// suppressed, both counted, and the connection keeps echoing. A SYN+FIN
/// to the listener opens nothing and is counted.
#[test]
fn kernel_syn_on_established_gets_a_challenge_ack_and_syn_fin_is_dropped() {
    let Some(mut lab) =
        lab_or_skip("kernel_syn_on_established_gets_a_challenge_ack_and_syn_fin_is_dropped")
    else {
        return;
    };
    let rt = echo_runtime(&mut lab, StackConfig::new(STACK_ADDR, 13));
    let s = TcpStream::connect((STACK_ADDR, PORT)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let echo = |s: &TcpStream, msg: &[u8]| {
        let mut w = s;
        w.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        let mut r = s;
        r.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    };
    echo(&s, b"before");
    let kport = match s.local_addr().unwrap() {
        SocketAddr::V4(a) => a.port(),
        SocketAddr::V6(_) => unreachable!("IPv4 only"),
    };
    let raw = RawSocket::new(libc::IPPROTO_RAW).expect("raw socket");
    let mut rng = Rng::new(5961);
    let syn = segment(kport, rng.next_u32(), TcpFlags::SYN, mss_sack());
    raw.send_all(&packet(KERNEL_ADDR, &syn), STACK_ADDR);
    let c = wait_for(&rt, "a challenge ACK", |c| c.tcp_challenge_acks == 1);
    assert_eq!(c.tcp_challenge_acks_suppressed, 0);
    let syn = segment(kport, rng.next_u32(), TcpFlags::SYN, mss_sack());
    raw.send_all(&packet(KERNEL_ADDR, &syn), STACK_ADDR);
    let c = wait_for(&rt, "a suppressed challenge ACK", |c| {
        c.tcp_challenge_acks_suppressed == 1
    });
    assert_eq!(c.tcp_challenge_acks, 1);
    echo(&s, b"after the SYNs");

    // SYN+FIN to the listener, from a port with no connection.
    let synfin = segment(40_000, 1, TcpFlags::SYN | TcpFlags::FIN, mss_sack());
    raw.send_all(&packet(KERNEL_ADDR, &synfin), STACK_ADDR);
    let c = wait_for(&rt, "a SYN+FIN dropped", |c| c.tcp_syn_fin_dropped == 1);
    assert_eq!(
        c.tcp_half_open_peak, 1,
        "only the real connection's handshake"
    );
    assert_eq!(c.tcp_syncookies_sent, 0);
    echo(&s, b"still fine");
}
