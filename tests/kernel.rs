//! ringtcp against the Linux kernel's own TCP, over a real TUN device in a
//! private network namespace per test. As root (CI) these always run; as an
//! ordinary user without namespaces they print SKIPPED.

mod support;

use ringtcp::api::{Runtime, RuntimeConfig, StopMode};
use ringtcp::device::{FaultConfig, Faults};
use ringtcp::lab::{KERNEL_ADDR, Lab, STACK_ADDR};
use ringtcp::runtime::Driver;
use ringtcp::sim::apps::{BulkPeer, Role, check_stream, client_seed, fill_stream, server_seed};
use ringtcp::stack::StackConfig;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use support::kernel_socket::set_linger_zero;
use support::lab::{RunApp, lab_or_skip};

const MB: u64 = 1_000_000;

fn config(seed: u64) -> RuntimeConfig {
    RuntimeConfig::new(StackConfig::new(STACK_ADDR, seed))
}

/// [`config`] with the same faults each way, drawn from `fault_seed`.
fn config_with_faults(seed: u64, faults: FaultConfig, fault_seed: u64) -> RuntimeConfig {
    let mut cfg = config(seed);
    cfg.faults = Some(Faults::symmetric(faults, fault_seed));
    cfg
}

fn runtime(lab: &mut Lab, cfg: RuntimeConfig) -> Runtime {
    Runtime::start(lab.take_tun(), cfg).expect("runtime starts")
}

/// Writes `len` bytes of stream `seed`.
fn send_stream(mut w: impl Write, seed: u64, len: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0;
    while pos < len {
        let n = ((len - pos) as usize).min(buf.len());
        fill_stream(seed, pos, &mut buf[..n]);
        w.write_all(&buf[..n]).expect("write");
        pos += n as u64;
    }
}

/// Reads to EOF and checks every byte against stream `seed`; returns the
/// byte count.
#[track_caller]
fn recv_stream(mut r: impl Read, seed: u64) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            return pos;
        }
        if let Some(at) = check_stream(seed, pos, &buf[..n]) {
            panic!("byte {at} differs from what was sent");
        }
        pos += n as u64;
    }
}

#[test]
fn stack_connects_to_kernel_listener() {
    let Some(mut lab) = lab_or_skip("stack_connects_to_kernel_listener") else {
        return;
    };
    let listener = TcpListener::bind((KERNEL_ADDR, 5000)).unwrap();
    let server = thread::spawn(move || {
        let (s, peer) = listener.accept().unwrap();
        let got = recv_stream(&s, 11);
        send_stream(&s, 12, got);
        (got, peer)
    });
    let rt = runtime(&mut lab, config(1));
    let s = rt.connect((KERNEL_ADDR, 5000)).unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        SocketAddr::from((KERNEL_ADDR, 5000))
    );
    let local = s.local_addr().unwrap();
    assert_eq!(local.ip(), std::net::IpAddr::V4(STACK_ADDR));
    assert!((49152..=65535).contains(&local.port()));
    send_stream(&s, 11, 3 * MB);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(recv_stream(&s, 12), 3 * MB);
    let (got, peer) = server.join().unwrap();
    assert_eq!(got, 3 * MB);
    assert_eq!(peer, local);
}

#[test]
fn kernel_connects_to_stack_listener() {
    let Some(mut lab) = lab_or_skip("kernel_connects_to_stack_listener") else {
        return;
    };
    let rt = runtime(&mut lab, config(2));
    let listener = rt.bind((STACK_ADDR, 8080)).unwrap();
    let client = thread::spawn(move || {
        let s = TcpStream::connect((STACK_ADDR, 8080)).unwrap();
        send_stream(&s, 21, 2 * MB);
        s.shutdown(Shutdown::Write).unwrap();
        recv_stream(&s, 22)
    });
    let (s, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(KERNEL_ADDR));
    assert_eq!(recv_stream(&s, 21), 2 * MB);
    send_stream(&s, 22, 2 * MB);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.join().unwrap(), 2 * MB);
}

/// 200 MB from the stack to the kernel, then 200 MB back, on one
/// connection through the blocking API.
#[test]
fn bulk_200mb_each_way_one_connection() {
    let Some(mut lab) = lab_or_skip("bulk_200mb_each_way_one_connection") else {
        return;
    };
    let listener = TcpListener::bind((KERNEL_ADDR, 5001)).unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let got = recv_stream(&s, 31);
        send_stream(&s, 32, 200 * MB);
        s.shutdown(Shutdown::Write).unwrap();
        got
    });
    let rt = runtime(&mut lab, config(3));
    let s = rt.connect((KERNEL_ADDR, 5001)).unwrap();
    send_stream(&s, 31, 200 * MB);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(recv_stream(&s, 32), 200 * MB);
    assert_eq!(server.join().unwrap(), 200 * MB);
}

/// Kernel-side peer for [`BulkPeer`] clients: for each connection, sends the
/// server stream and verifies the client stream, both at once.
fn kernel_bulk_server(
    listener: TcpListener,
    connections: usize,
    bytes: u64,
) -> thread::JoinHandle<()> {
    // std listens with a backlog of 128: with hundreds of connections
    // opening at once on a loaded machine, the kernel's accept queue
    // overflows, half-open requests expire, and the kernel resets the
    // connections whose handshake ringtcp had completed. A server expecting
    // that many connections asks for a deeper queue (listen() again on a
    // listening socket only changes the backlog).
    set_backlog(&listener, 1024);
    thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..connections {
            let (s, peer) = listener.accept().unwrap();
            let port = peer.port();
            workers.push(thread::spawn(move || {
                let s = Arc::new(s);
                let w = s.clone();
                let writer = thread::spawn(move || {
                    send_stream(&*w, server_seed(port), bytes);
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let got = recv_stream(&*s, client_seed(port));
                writer.join().unwrap();
                assert_eq!(got, bytes, "connection from port {port}");
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
    })
}

fn run_bulk(
    lab: &mut Lab,
    cfg: RuntimeConfig,
    port: u16,
    connections: usize,
    bytes: u64,
) -> Driver {
    let listener = TcpListener::bind((KERNEL_ADDR, port)).unwrap();
    let server = kernel_bulk_server(listener, connections, bytes);
    let mut driver = Driver::new(lab.take_tun(), cfg).unwrap();
    let client = BulkPeer::new(
        Role::Client {
            remote: SocketAddrV4::new(KERNEL_ADDR, port),
            connections,
        },
        bytes,
        bytes,
    );
    let mut app = RunApp::new(client);
    // The app is done once it has read everything and shut down its side;
    // up to a send buffer of its data and its FIN may still be in flight
    // then, behind a loss the fault tests injected. The stop ends as soon
    // as no connection is left, so a long linger costs a passing run
    // nothing, and a short one would reset the kernel's reader.
    app.linger = Duration::from_secs(60);
    driver.run(&mut app).unwrap();
    assert!(
        app.app.errors.is_empty(),
        "{:?}",
        &app.app.errors[..app.app.errors.len().min(5)]
    );
    assert_eq!(app.app.completed(), connections);
    assert_eq!(app.app.bytes_verified, connections as u64 * bytes);
    server.join().unwrap();
    driver
}

#[test]
fn bulk_200mb_both_directions_at_once() {
    let Some(mut lab) = lab_or_skip("bulk_200mb_both_directions_at_once") else {
        return;
    };
    let d = run_bulk(&mut lab, config(4), 5002, 1, 200 * MB);
    // The run took the path the lab was built for (RINGTCP_OFFLOADS): TSO
    // super-packets both ways with offloads, plain packets without.
    let c = d.stack_counters();
    if d.tun().offloads_enabled() {
        assert!(c.rx_super_packets > 100, "{c:?}");
        assert!(c.tx_super_packets > 100, "{c:?}");
        assert!(c.rx_checksum_trusted > 0, "{c:?}");
    } else {
        assert_eq!((c.rx_super_packets, c.tx_super_packets), (0, 0), "{c:?}");
    }
    assert_eq!(c.tcp_bad_checksum, 0, "{c:?}");
    // Bulk turns were followed by a spin (the default bulk_spin), and at
    // least some spins ended on a completion after which data was read.
    let st = d.stats();
    assert!(st.bulk_spins > 100, "{st:?}");
    assert!(st.bulk_spin_hits > 0, "{st:?}");
    assert_eq!(st.busy_poll_hits, 0, "{st:?}");
}

/// The loop's fallback for kernels without multishot reads (a multishot
/// poll, then plain reads in batches) moves data both ways too, super-packets
/// included when the lab has offloads.
#[test]
fn poll_and_read_fallback_moves_data_both_ways() {
    let Some(mut lab) = lab_or_skip("poll_and_read_fallback_moves_data_both_ways") else {
        return;
    };
    let mut cfg = config(17);
    cfg.multishot = false;
    let d = run_bulk(&mut lab, cfg, 5012, 2, 20 * MB);
    assert!(!d.stats().multishot, "{:?}", d.stats());
    if d.tun().offloads_enabled() {
        assert!(d.stack_counters().rx_super_packets > 10);
    }
}

#[test]
fn five_hundred_concurrent_connections_1mb_each() {
    let Some(mut lab) = lab_or_skip("five_hundred_concurrent_connections_1mb_each") else {
        return;
    };
    let t0 = std::time::Instant::now();
    let d = run_bulk(&mut lab, config(5), 5003, 500, MB);
    eprintln!(
        "500 conns: {:?} {:?} {:?} {:?}",
        t0.elapsed(),
        d.stack_totals(),
        d.stats(),
        d.stack_counters()
    );
}

#[test]
fn transfers_survive_2_percent_loss_and_reordering() {
    let Some(mut lab) = lab_or_skip("transfers_survive_2_percent_loss_and_reordering") else {
        return;
    };
    let cfg = config_with_faults(
        6,
        FaultConfig {
            loss: 0.02,
            reorder: 0.02,
            ..FaultConfig::NONE
        },
        99,
    );
    let driver = run_bulk(&mut lab, cfg, 5004, 4, 5 * MB);
    let st = driver.stats();
    assert!(st.faults_dropped > 100, "faults were applied: {st:?}");
    assert!(st.faults_reordered > 100, "faults were applied: {st:?}");
    // With offloads the faults act on segments cut from super-packets,
    // both ways: TSO and GSO ran through loss and reordering.
    if driver.tun().offloads_enabled() {
        assert!(st.rx_cut_segments > 100, "{st:?}");
        assert!(st.tx_cut_segments > 100, "{st:?}");
        assert!(driver.stack_counters().tx_super_packets > 10);
    } else {
        assert_eq!((st.rx_cut_segments, st.tx_cut_segments), (0, 0));
    }
}

#[test]
fn close_initiated_by_either_side() {
    let Some(mut lab) = lab_or_skip("close_initiated_by_either_side") else {
        return;
    };
    let rt = runtime(&mut lab, config(7));
    let listener = TcpListener::bind((KERNEL_ADDR, 5005)).unwrap();
    // The kernel closes first: the stack reads EOF, then closes.
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"bye").unwrap();
        drop(s);
        let (s, _) = listener.accept().unwrap();
        // The stack closes first: the kernel reads EOF.
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
        v
    });
    let mut a = rt.connect((KERNEL_ADDR, 5005)).unwrap();
    let mut v = Vec::new();
    a.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"bye");
    drop(a);
    let mut b = rt.connect((KERNEL_ADDR, 5005)).unwrap();
    b.write_all(b"done").unwrap();
    drop(b);
    assert_eq!(server.join().unwrap(), b"done");
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    let Some(mut lab) = lab_or_skip("half_close_keeps_the_other_direction_open") else {
        return;
    };
    let rt = runtime(&mut lab, config(8));
    let listener = TcpListener::bind((KERNEL_ADDR, 5006)).unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        // Read the stack's data up to its FIN, then keep sending for a while.
        let got = recv_stream(&s, 41);
        send_stream(&s, 42, 5 * MB);
        s.shutdown(Shutdown::Write).unwrap();
        got
    });
    let s = rt.connect((KERNEL_ADDR, 5006)).unwrap();
    send_stream(&s, 41, MB);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!((&s).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    assert_eq!(recv_stream(&s, 42), 5 * MB);
    assert_eq!(server.join().unwrap(), MB);

    // And the other way: the kernel half-closes, the stack keeps sending.
    let rt_listener = rt.bind((STACK_ADDR, 9000)).unwrap();
    let client = thread::spawn(move || {
        let s = TcpStream::connect((STACK_ADDR, 9000)).unwrap();
        send_stream(&s, 43, MB);
        s.shutdown(Shutdown::Write).unwrap();
        recv_stream(&s, 44)
    });
    let (s, _) = rt_listener.accept().unwrap();
    assert_eq!(recv_stream(&s, 43), MB);
    send_stream(&s, 44, 3 * MB);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(client.join().unwrap(), 3 * MB);
}

#[test]
fn abortive_close_surfaces_as_connection_reset() {
    let Some(mut lab) = lab_or_skip("abortive_close_surfaces_as_connection_reset") else {
        return;
    };
    let rt = runtime(&mut lab, config(9));
    // The kernel aborts (SO_LINGER 0 sends a RST on close).
    let listener = TcpListener::bind((KERNEL_ADDR, 5007)).unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        (&s).read_exact(&mut b).unwrap();
        set_linger_zero(&s);
        drop(s);
    });
    let s = rt.connect((KERNEL_ADDR, 5007)).unwrap();
    (&s).write_all(b"ping").unwrap();
    server.join().unwrap();
    let err = (&s).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    // The stack aborts: the kernel's read fails with ECONNRESET. Unread data
    // at close makes ringtcp send a RST, as Linux does.
    let listener = rt.bind((STACK_ADDR, 9001)).unwrap();
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect((STACK_ADDR, 9001)).unwrap();
        s.write_all(b"unread").unwrap();
        let mut b = [0u8; 16];
        s.read(&mut b)
    });
    let (s, _) = listener.accept().unwrap();
    // Wait until the data is here, then drop without reading it. (A fixed
    // sleep would lose to a descheduled client thread: data that arrives
    // after the close is kept and answered with a FIN, not a RST.)
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.info().unwrap().stats.bytes_received < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the client's 6 bytes never arrived"
        );
        thread::sleep(Duration::from_millis(1));
    }
    drop(s);
    let res = client.join().unwrap();
    assert_eq!(res.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
}

fn set_backlog(l: &TcpListener, backlog: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen() on a valid listening socket.
    let rc = unsafe { libc::listen(l.as_raw_fd(), backlog) };
    assert_eq!(rc, 0);
}

#[test]
fn connect_to_closed_port_is_refused() {
    let Some(mut lab) = lab_or_skip("connect_to_closed_port_is_refused") else {
        return;
    };
    let rt = runtime(&mut lab, config(10));
    let err = rt.connect((KERNEL_ADDR, 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn connect_to_silent_address_times_out() {
    let Some(mut lab) = lab_or_skip("connect_to_silent_address_times_out") else {
        return;
    };
    // Nobody answers for 192.0.2.3: the kernel routes it into the TUN, and
    // the stack does not own it.
    let mut cfg = config(11);
    cfg.stack.tcp.initial_rto = Duration::from_millis(200);
    cfg.stack.tcp.syn_retries = 2;
    let rt = runtime(&mut lab, cfg);
    let silent = SocketAddr::from(([192, 0, 2, 3], 80));
    let err = rt
        .connect_timeout(&silent, Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // Without a caller timeout, the stack's own SYN retries run out.
    let err = rt.connect(silent).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn kernel_ping_gets_replies() {
    let Some(mut lab) = lab_or_skip("kernel_ping_gets_replies") else {
        return;
    };
    let rt = runtime(&mut lab, config(12));
    // A child process runs in the network namespace of the thread that
    // spawns it: this one.
    let out = std::process::Command::new("ping")
        // -w: an overall deadline. With -W alone, ping waits only about
        // one interval for the last reply once some have come back.
        .args(["-c", "3", "-i", "0.2", "-w", "20", "192.0.2.2"])
        .output()
        .expect("ping is installed (scripts/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping failed: {text}");
    assert!(text.contains("3 received"), "{text}");
    let (_, counters) = rt.stats().unwrap();
    assert!(counters.icmp_echo_replies >= 3);
}

/// Checks a handshake: MSS, window scaling, SACK-permitted and timestamps
/// are offered by both ends and negotiated, whichever end opened.
#[track_caller]
fn assert_negotiated(info: &ringtcp::tcp::TcpInfo) {
    let peer = info.peer_syn.expect("the kernel's SYN was recorded");
    let ours = info.our_syn.expect("our SYN was recorded");
    for (who, o) in [("kernel", peer), ("ringtcp", ours)] {
        assert_eq!(o.mss, Some(1460), "{who} SYN: {o:?}");
        assert!(o.window_scale.is_some(), "{who} SYN: {o:?}");
        assert!(o.sack_permitted, "{who} SYN: {o:?}");
        assert!(o.timestamps.is_some(), "{who} SYN: {o:?}");
    }
    assert_eq!(info.snd_mss, 1460);
    let (peer_shift, our_shift) = info.window_scale.expect("window scaling negotiated");
    assert_eq!(Some(peer_shift), peer.window_scale);
    assert_eq!(Some(our_shift), ours.window_scale);
    assert!(info.sack, "SACK negotiated");
    assert!(info.timestamps, "timestamps negotiated");
    // Timestamps give an RTT from the handshake on.
    assert!(info.srtt.is_some());
}

#[test]
fn handshake_negotiates_what_both_support() {
    let Some(mut lab) = lab_or_skip("handshake_negotiates_what_both_support") else {
        return;
    };
    let listener = TcpListener::bind((KERNEL_ADDR, 5008)).unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
    });
    let rt = runtime(&mut lab, config(13));
    // The stack opens: the kernel's SYN-ACK answers our SYN.
    let s = rt.connect((KERNEL_ADDR, 5008)).unwrap();
    let info = s.info().unwrap();
    assert_eq!(info.state, "ESTABLISHED");
    assert_negotiated(&info);
    drop(s);
    server.join().unwrap();

    // The kernel opens: our SYN-ACK answers its SYN.
    let listener = rt.bind((STACK_ADDR, 9002)).unwrap();
    let client = thread::spawn(move || {
        let s = TcpStream::connect((STACK_ADDR, 9002)).unwrap();
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
    });
    let (s, _) = listener.accept().unwrap();
    let info = s.info().unwrap();
    assert_negotiated(&info);
    drop(s);
    client.join().unwrap();
    rt.shutdown(StopMode::Reset).unwrap();
}

/// One bit flipped in 1% of the packets each way, with or without offloads
/// (with them, the flip lands on a segment cut from a super-packet, whose
/// checksum was completed first): every corrupted packet is caught by a
/// checksum, ours or the kernel's, and the data arrives byte-exact.
#[test]
fn corruption_is_caught_by_checksums_both_ways() {
    let Some(mut lab) = lab_or_skip("corruption_is_caught_by_checksums_both_ways") else {
        return;
    };
    let cfg = config_with_faults(
        16,
        FaultConfig {
            corrupt: 0.01,
            ..FaultConfig::NONE
        },
        5,
    );
    let driver = run_bulk(&mut lab, cfg, 5011, 2, 5 * MB);
    let c = driver.stack_counters();
    assert!(
        c.tcp_bad_checksum + c.ip_bad_checksum > 10,
        "corrupted packets were dropped by our checksums: {c:?}"
    );
    assert!(driver.stack_totals().segments_retransmitted > 10);
}

/// 200 MB each way through the fault injector dropping 1% of packets in
/// each direction, beside the same transfer without loss: both byte-exact;
/// goodput and retransmissions are printed (figures, not assertions).
#[test]
fn bulk_200mb_each_way_at_1_percent_loss_against_no_loss() {
    let Some(mut lab) = lab_or_skip("bulk_200mb_each_way_at_1_percent_loss_against_no_loss") else {
        return;
    };
    let cfg = config_with_faults(
        14,
        FaultConfig {
            loss: 0.01,
            ..FaultConfig::NONE
        },
        7,
    );
    let t0 = std::time::Instant::now();
    let lossy = run_bulk(&mut lab, cfg, 5009, 1, 200 * MB);
    let lossy_secs = t0.elapsed().as_secs_f64();
    let lossy_rtx = lossy.stack_totals().segments_retransmitted;
    assert!(lossy.stats().faults_dropped > 1000, "{:?}", lossy.stats());
    drop(lossy);

    let Some(mut lab) = lab_or_skip("bulk_200mb_each_way_at_1_percent_loss_against_no_loss") else {
        return;
    };
    let t0 = std::time::Instant::now();
    let clean = run_bulk(&mut lab, config(15), 5010, 1, 200 * MB);
    let clean_secs = t0.elapsed().as_secs_f64();
    let clean_rtx = clean.stack_totals().segments_retransmitted;
    let gbps = |s: f64| 400.0 * 8.0 / 1000.0 / s;
    eprintln!(
        "200 MB each way: 1% loss {:.2} Gbit/s goodput with {lossy_rtx} segments retransmitted; 0% loss {:.2} Gbit/s with {clean_rtx}",
        gbps(lossy_secs),
        gbps(clean_secs)
    );
}

/// Writes a sysctl of the calling thread's network namespace (`key` as a
/// path under /proc/sys).
#[track_caller]
fn sysctl(key: &str, value: &str) {
    std::fs::write(format!("/proc/sys/{key}"), value).unwrap_or_else(|e| panic!("{key}: {e}"));
}

/// Runs `args` (a command and its arguments) in the calling thread's
/// network namespace and fails the test with its stderr if it fails.
#[track_caller]
fn sh(args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The kernel as a router that cannot deliver: with forwarding on, it
/// answers our SYN to an address it routes as `unreachable` with ICMP host
/// unreachable, and to one it routes as `prohibit` with "administratively
/// prohibited"; the connect fails at once with std's HostUnreachable, as a
/// kernel socket's would (RFC 1122 4.2.3.9, as Linux treats SYN-SENT). A
/// `blackhole` route drops silently: that connect times out.
#[test]
fn connect_fails_fast_on_icmp_unreachable() {
    let Some(mut lab) = lab_or_skip("connect_fails_fast_on_icmp_unreachable") else {
        return;
    };
    sysctl("net/ipv4/ip_forward", "1");
    sh(&["ip", "route", "add", "unreachable", "192.0.2.3/32"]);
    sh(&["ip", "route", "add", "prohibit", "192.0.2.4/32"]);
    sh(&["ip", "route", "add", "blackhole", "192.0.2.5/32"]);
    let mut cfg = config(13);
    // Were the ICMP ignored, the connects would time out in 3.5 s, not
    // hang the test; the ICMP has that long to come back.
    cfg.stack.tcp.initial_rto = Duration::from_millis(500);
    cfg.stack.tcp.syn_retries = 2;
    let rt = runtime(&mut lab, cfg);
    for host in [3, 4] {
        let err = rt
            .connect(SocketAddr::from(([192, 0, 2, host], 80)))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::HostUnreachable,
            "192.0.2.{host}: {err}"
        );
    }
    let err = rt
        .connect(SocketAddr::from(([192, 0, 2, 5], 80)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    let (_, c) = rt.stats().unwrap();
    assert_eq!(c.icmp_errors, 2, "{c:?}");
}

/// RFC 1191 with the real kernel as the router: the server (its own
/// namespace behind a veth pair, MTU 1500, so it offers MSS 1460) is
/// reached through a route locked at MTU 1280. The kernel answers our
/// 1500-byte segments with "fragmentation needed"; the stack lowers its
/// segment size to 1240 and the 4 MB upload arrives whole. Without path MTU
/// discovery this is a black hole: every full segment is dropped.
#[test]
fn path_mtu_discovery_through_the_kernel() {
    let Some(mut lab) = lab_or_skip("path_mtu_discovery_through_the_kernel") else {
        return;
    };
    const SERVER: [u8; 4] = [192, 0, 2, 200];
    const BYTES: u64 = 4 * MB;
    // The server's namespace: a thread of its own, whose tid names it.
    // SAFETY: gettid() has no preconditions and cannot fail.
    let lab_tid = unsafe { libc::gettid() };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = thread::spawn(move || {
        ringtcp::device::netif::unshare_net().expect("a namespace for the server");
        ringtcp::device::netif::loopback_up().unwrap();
        sh(&[
            "ip", "link", "add", "srv0", "type", "veth", "peer", "name", "rtr0",
        ]);
        sh(&["ip", "link", "set", "rtr0", "netns", &lab_tid.to_string()]);
        sh(&["ip", "addr", "add", "192.0.2.200/32", "dev", "srv0"]);
        sh(&["ip", "link", "set", "srv0", "up"]);
        sh(&["ip", "route", "add", "192.0.2.0/24", "dev", "srv0"]);
        let listener = TcpListener::bind(SocketAddr::from((SERVER, 80))).unwrap();
        ready_tx.send(()).unwrap();
        // Should the test fail before connecting, give up rather than
        // hold the namespace until the test binary exits.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let (s, peer) = loop {
            match listener.accept() {
                Ok(a) => break a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no connection");
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        // Without path MTU discovery no full segment ever arrives: fail
        // then, rather than wait for the stack's retries to run out.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = 0u64;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = (&s).read(&mut buf).expect("the upload keeps coming");
            if n == 0 {
                break;
            }
            assert_eq!(check_stream(client_seed(peer.port()), got, &buf[..n]), None);
            got += n as u64;
        }
        got
    });
    ready_rx.recv().expect("the server's namespace is ready");
    sysctl("net/ipv4/ip_forward", "1");
    sysctl("net/ipv4/conf/rtr0/proxy_arp", "1");
    sh(&["ip", "link", "set", "rtr0", "up"]);
    sh(&[
        "ip",
        "route",
        "add",
        "192.0.2.200/32",
        "dev",
        "rtr0",
        "mtu",
        "lock",
        "1280",
    ]);
    let rt = runtime(&mut lab, config(14));
    let s = rt.connect(SocketAddr::from((SERVER, 80))).unwrap();
    let port = s.local_addr().unwrap().port();
    send_stream(&s, client_seed(port), BYTES);
    let info = s.info().unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), BYTES);
    assert_eq!(info.snd_mss, 1240, "{info:?}");
    assert!(info.stats.pmtu_reductions >= 1, "{info:?}");
    let (_, c) = rt.stats().unwrap();
    assert!(c.icmp_path_mtu >= 1, "{c:?}");
}
