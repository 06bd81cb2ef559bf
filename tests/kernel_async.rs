//! The async API (`ringtcp::api::aio`) against the Linux kernel's own TCP,
//! over a real TUN device in a private network namespace per test: on a
//! tokio multi-thread runtime, on a current-thread one, and on futures'
//! `block_on`, which knows nothing of tokio. As root (CI) these always run;
//! as an ordinary user without namespaces they print SKIPPED.

mod support;

use ringtcp::api::aio;
use ringtcp::api::{Runtime, RuntimeConfig};
use ringtcp::lab::{KERNEL_ADDR, Lab, STACK_ADDR};
use ringtcp::sim::apps::{check_stream, fill_stream};
use ringtcp::stack::StackConfig;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::kernel_socket::set_linger_zero;
use support::lab::lab_or_skip;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime(lab: &mut Lab, seed: u64) -> Arc<Runtime> {
    runtime_with(lab, RuntimeConfig::new(StackConfig::new(STACK_ADDR, seed)))
}

fn runtime_with(lab: &mut Lab, cfg: RuntimeConfig) -> Arc<Runtime> {
    Arc::new(Runtime::start(lab.take_tun(), cfg).expect("runtime starts"))
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn set_backlog(l: &TcpListener, backlog: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen() on a valid listening socket.
    let rc = unsafe { libc::listen(l.as_raw_fd(), backlog) };
    assert_eq!(rc, 0);
}

/// Sets a socket option of type int to `value`.
fn set_int_opt(l: &TcpListener, name: libc::c_int, value: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt with a valid socket and an int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            l.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

/// A kernel echo server on `port` for `conns` connections, a thread each
/// (small stacks: a thousand of them); returns the bytes echoed in all.
fn kernel_echo_server(port: u16, conns: usize) -> JoinHandle<u64> {
    kernel_echo_server_with(port, conns, None)
}

/// [`kernel_echo_server`], with the sockets' send and receive buffers
/// fixed at `buffers` bytes if given.
fn kernel_echo_server_with(port: u16, conns: usize, buffers: Option<i32>) -> JoinHandle<u64> {
    let l = TcpListener::bind((KERNEL_ADDR, port)).unwrap();
    if let Some(b) = buffers {
        // Accepted sockets inherit them.
        set_int_opt(&l, libc::SO_RCVBUF, b);
        set_int_opt(&l, libc::SO_SNDBUF, b);
    }
    set_backlog(&l, 4096);
    thread::spawn(move || {
        let mut workers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (s, _) = l.accept().unwrap();
            let w = thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let n = io::copy(&mut &s, &mut &s).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    n
                })
                .unwrap();
            workers.push(w);
        }
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Writes `len` bytes of stream `seed` in chunks of 1 to `max_chunk`
/// bytes, then shuts the write side down.
async fn write_stream(
    mut w: impl tokio::io::AsyncWrite + Unpin,
    seed: u64,
    len: u64,
    max_chunk: usize,
) -> io::Result<()> {
    let mut buf = vec![0u8; max_chunk];
    let mut pos = 0u64;
    let mut rng = seed | 1;
    while pos < len {
        let n = ((len - pos) as usize).min(1 + (xorshift(&mut rng) as usize % max_chunk));
        fill_stream(seed, pos, &mut buf[..n]);
        w.write_all(&buf[..n]).await?;
        pos += n as u64;
    }
    w.shutdown().await
}

/// Reads to EOF, checks every byte against stream `seed`, returns the count.
async fn read_stream(mut r: impl tokio::io::AsyncRead + Unpin, seed: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(pos);
        }
        if let Some(at) = check_stream(seed, pos, &buf[..n]) {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("byte {at} of stream {seed:#x} differs from what was sent"),
            ));
        }
        pos += n as u64;
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// One async echo client: connects, writes `len` bytes of stream `seed`
/// while it reads the echo back, and returns the bytes it got back, all
/// checked.
async fn echo_client(connect: aio::Connect, seed: u64, len: u64) -> io::Result<u64> {
    let s = connect.await?;
    s.set_nodelay(true)?;
    let (r, w) = s.into_split();
    let (wrote, read) = tokio::join!(write_stream(w, seed, len, 16 * 1024), read_stream(r, seed));
    wrote?;
    read
}

/// `conns` echo clients as tasks on `tokio_rt`, against a kernel echo
/// server; every byte comes back, checked.
fn echo_many(test: &str, tokio_rt: tokio::runtime::Runtime, conns: usize, len: u64, seed: u64) {
    let Some(mut lab) = lab_or_skip(test) else {
        return;
    };
    let port = 6000;
    let server = kernel_echo_server(port, conns);
    let rt = runtime(&mut lab, seed);
    let t0 = Instant::now();
    let total = tokio_rt.block_on(async {
        let tasks: Vec<_> = (0..conns as u64)
            .map(|i| {
                let connect = rt.connect_async((KERNEL_ADDR, port));
                tokio::spawn(echo_client(connect, seed << 16 | i, len))
            })
            .collect();
        let mut total = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            let got = t
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert_eq!(got, len, "client {i} got back all it sent");
            total += got;
        }
        total
    });
    let echoed = server.join().unwrap();
    assert_eq!(total, conns as u64 * len);
    assert_eq!(echoed, total);
    eprintln!(
        "{test}: {conns} connections, {total} bytes each way in {:?}",
        t0.elapsed()
    );
}

#[test]
fn thousand_async_echo_clients_on_a_multi_thread_runtime() {
    echo_many(
        "thousand_async_echo_clients_on_a_multi_thread_runtime",
        multi_thread(),
        1000,
        100_000,
        1,
    );
}

#[test]
fn thousand_async_echo_clients_on_a_current_thread_runtime() {
    echo_many(
        "thousand_async_echo_clients_on_a_current_thread_runtime",
        current_thread(),
        1000,
        100_000,
        2,
    );
}

/// Kernel clients against an async ringtcp echo server: the listener
/// accepts in a task, each connection is echoed by a task of its own.
#[test]
fn kernel_clients_against_an_async_listener() {
    let Some(mut lab) = lab_or_skip("kernel_clients_against_an_async_listener") else {
        return;
    };
    const CLIENTS: u64 = 100;
    const LEN: u64 = 256 * 1024;
    let rt = runtime(&mut lab, 3);
    let tokio_rt = multi_thread();
    let listener = tokio_rt
        .block_on(rt.bind_async((STACK_ADDR, 7000)))
        .unwrap();
    assert_eq!(
        listener.local_addr().unwrap(),
        SocketAddr::from((STACK_ADDR, 7000))
    );
    let server = tokio_rt.spawn(async move {
        let mut echoers = Vec::new();
        for _ in 0..CLIENTS {
            let (s, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), std::net::IpAddr::V4(KERNEL_ADDR));
            assert_eq!(s.peer_addr().unwrap(), peer);
            echoers.push(tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
                n
            }));
        }
        let mut total = 0;
        for e in echoers {
            total += e.await.unwrap();
        }
        total
    });
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let s = TcpStream::connect((STACK_ADDR, 7000)).unwrap();
                let w = s.try_clone().unwrap();
                let writer = thread::spawn(move || {
                    let mut buf = vec![0u8; 8192];
                    let mut pos = 0;
                    while pos < LEN {
                        fill_stream(i, pos, &mut buf);
                        (&w).write_all(&buf).unwrap();
                        pos += buf.len() as u64;
                    }
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut buf = vec![0u8; 8192];
                let mut pos = 0u64;
                loop {
                    let n = (&s).read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    assert_eq!(check_stream(i, pos, &buf[..n]), None, "client {i}");
                    pos += n as u64;
                }
                writer.join().unwrap();
                pos
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), LEN);
    }
    let echoed = tokio_rt.block_on(server).unwrap();
    assert_eq!(echoed, CLIENTS * LEN);
    eprintln!(
        "kernel clients: {CLIENTS} connections, {} bytes each way in {:?}",
        CLIENTS * LEN,
        t0.elapsed()
    );
}

#[test]
fn connect_to_closed_port_is_refused() {
    let Some(mut lab) = lab_or_skip("connect_to_closed_port_is_refused") else {
        return;
    };
    let rt = runtime(&mut lab, 4);
    let err = current_thread()
        .block_on(rt.connect_async((KERNEL_ADDR, 1)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

/// The close kinds and error kinds std reports, through the async API: EOF
/// after the peer's FIN, `ConnectionReset` after its RST, `BrokenPipe` for
/// a write after `shutdown(Write)`, and what the kernel sees when an async
/// stream is dropped: EOF after all the data, or a RST when data was left
/// unread.
#[test]
fn close_and_error_kinds_as_std() {
    let Some(mut lab) = lab_or_skip("close_and_error_kinds_as_std") else {
        return;
    };
    let rt = runtime(&mut lab, 5);
    let l = TcpListener::bind((KERNEL_ADDR, 6100)).unwrap();
    let kernel = thread::spawn(move || {
        // 1. A FIN after "bye".
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"bye").unwrap();
        drop(s);
        // 2. A RST.
        let (s, _) = l.accept().unwrap();
        set_linger_zero(&s);
        let mut one = [0u8; 1];
        (&s).read_exact(&mut one).unwrap();
        drop(s);
        // 3. The async side writes 1 MB and drops its stream: all of it
        //    arrives, then EOF.
        let (s, _) = l.accept().unwrap();
        let mut v = Vec::new();
        (&s).read_to_end(&mut v).unwrap();
        // 4. The async side drops its stream with "unread" unread: a RST.
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"unread").unwrap();
        let mut buf = [0u8; 16];
        let dropped = (&s).read(&mut buf);
        (v, dropped.map_err(|e| e.kind()))
    });
    let tokio_rt = current_thread();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    tokio_rt.block_on(async {
        let mut a = rt.connect_async((KERNEL_ADDR, 6100)).await.unwrap();
        let mut v = Vec::new();
        a.read_to_end(&mut v).await.unwrap();
        assert_eq!(v, b"bye");
        // EOF again, as std's reads after EOF.
        assert_eq!(a.read(&mut [0u8; 8]).await.unwrap(), 0);
        drop(a);

        let mut b = rt.connect_async((KERNEL_ADDR, 6100)).await.unwrap();
        b.write_all(b"x").await.unwrap();
        let err = b.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        drop(b);

        let mut c = rt.connect_async((KERNEL_ADDR, 6100)).await.unwrap();
        c.write_all(&big).await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let err = c.write(b"late").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        drop(c);

        let d = rt.connect_async((KERNEL_ADDR, 6100)).await.unwrap();
        // Wait until "unread" has arrived, read none of it, drop.
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(d);
    });
    let (got, dropped) = kernel.join().unwrap();
    assert!(got == big, "all of the 1 MB, then EOF");
    assert_eq!(dropped, Err(ErrorKind::ConnectionReset));
}

/// Drops read and write futures at random points of an echo transfer and
/// checks that every byte still arrives once and in order: a read or write
/// that returned `Pending` moved nothing. Each read and write is either
/// polled once and dropped if it is not ready (`now_or_never`), or given a
/// 0 or 1 ms timeout; each side pauses now and then, so that the other
/// finds its queue empty (reads) or full (writes) and is dropped while it
/// waits.
#[test]
fn dropped_read_and_write_futures_lose_nothing() {
    let Some(mut lab) = lab_or_skip("dropped_read_and_write_futures_lose_nothing") else {
        return;
    };
    const LEN: u64 = 8_000_000;
    // Small buffers on both sides, so that a pausing reader soon fills the
    // writer's queue.
    let server = kernel_echo_server_with(6200, 1, Some(32 * 1024));
    let mut cfg = RuntimeConfig::new(StackConfig::new(STACK_ADDR, 6));
    cfg.stack.tcp.send_buffer = 64 * 1024;
    cfg.stack.tcp.recv_buffer = 64 * 1024;
    let rt = runtime_with(&mut lab, cfg);
    let tokio_rt = multi_thread();
    let t0 = Instant::now();
    let (read_drops, write_drops, total) = tokio_rt.block_on(async {
        let s = rt.connect_async((KERNEL_ADDR, 6200)).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let writer = tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut buf = vec![0u8; 16 * 1024];
            let (mut pos, mut dropped) = (0u64, 0u64);
            for op in 0.. {
                if pos == LEN {
                    break;
                }
                let n = ((LEN - pos) as usize).min(1 + xorshift(&mut rng) as usize % buf.len());
                fill_stream(7, pos, &mut buf[..n]);
                // The writer and the reader take turns to be slow.
                let slow = op / 100 % 2 == 1;
                match cancel_at_random(&mut rng, slow, w.write(&buf[..n])).await {
                    Some(res) => pos += res.unwrap() as u64,
                    None => dropped += 1,
                }
            }
            w.shutdown().await.unwrap();
            dropped
        });
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut buf = vec![0u8; 16 * 1024];
        let (mut pos, mut dropped) = (0u64, 0u64);
        for op in 0.. {
            let n = 1 + xorshift(&mut rng) as usize % buf.len();
            let slow = op / 100 % 2 == 0;
            match cancel_at_random(&mut rng, slow, r.read(&mut buf[..n])).await {
                Some(res) => {
                    let got = res.unwrap();
                    if got == 0 {
                        break;
                    }
                    assert_eq!(check_stream(7, pos, &buf[..got]), None, "at {pos}");
                    pos += got as u64;
                }
                None => dropped += 1,
            }
        }
        (dropped, writer.await.unwrap(), pos)
    });
    assert_eq!(total, LEN);
    assert_eq!(server.join().unwrap(), LEN);
    assert!(
        read_drops > 20 && write_drops > 20,
        "futures were dropped while pending: {read_drops} reads, {write_drops} writes"
    );
    eprintln!(
        "cancellation: {LEN} bytes echoed in {:?}, {read_drops} read and {write_drops} write futures dropped while pending",
        t0.elapsed()
    );
}

/// Runs `f` to completion, or drops it when it is not ready at once or
/// within a random 0 or 1 ms (then `None`); when `slow`, pauses first one
/// time in two.
async fn cancel_at_random<F: std::future::Future>(
    rng: &mut u64,
    slow: bool,
    f: F,
) -> Option<F::Output> {
    use futures::FutureExt as _;
    let r = xorshift(rng);
    if slow && r % 2 == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    match r / 2 % 3 {
        0 => f.now_or_never(),
        1 => tokio::time::timeout(Duration::ZERO, f).await.ok(),
        _ => tokio::time::timeout(Duration::from_millis(1), f).await.ok(),
    }
}

/// futures' `block_on`, an executor that knows nothing of tokio, runs 50
/// echo clients at once through the `futures_io` traits, each reading and
/// writing one `&TcpStream` at the same time.
#[test]
fn futures_executor_runs_an_echo() {
    let Some(mut lab) = lab_or_skip("futures_executor_runs_an_echo") else {
        return;
    };
    const CLIENTS: u64 = 50;
    const LEN: u64 = 200_000;
    let server = kernel_echo_server(6300, CLIENTS as usize);
    let rt = runtime(&mut lab, 8);
    let got = futures::executor::block_on(futures::future::join_all((0..CLIENTS).map(|i| {
        let connect = rt.connect_async((KERNEL_ADDR, 6300));
        async move {
            let s = connect.await.unwrap();
            let write = async {
                let mut w = &s;
                let mut buf = vec![0u8; 4096];
                let mut pos = 0;
                while pos < LEN {
                    let n = ((LEN - pos) as usize).min(buf.len());
                    fill_stream(i, pos, &mut buf[..n]);
                    futures::AsyncWriteExt::write_all(&mut w, &buf[..n])
                        .await
                        .unwrap();
                    pos += n as u64;
                }
                futures::AsyncWriteExt::close(&mut w).await.unwrap();
            };
            let read = async {
                let mut r = &s;
                let mut v = Vec::new();
                futures::AsyncReadExt::read_to_end(&mut r, &mut v)
                    .await
                    .unwrap();
                assert_eq!(check_stream(i, 0, &v), None, "client {i}");
                v.len() as u64
            };
            futures::join!(write, read).1
        }
    })));
    assert_eq!(got, vec![LEN; CLIENTS as usize]);
    assert_eq!(server.join().unwrap(), CLIENTS * LEN);
}

/// A task waiting to read when the runtime stops is woken with an error,
/// not left pending for ever.
#[test]
fn stopping_the_runtime_wakes_waiting_tasks() {
    let Some(mut lab) = lab_or_skip("stopping_the_runtime_wakes_waiting_tasks") else {
        return;
    };
    let l = TcpListener::bind((KERNEL_ADDR, 6500)).unwrap();
    let kernel = thread::spawn(move || {
        // Accept and send nothing until the stack goes away.
        let (s, _) = l.accept().unwrap();
        let mut v = Vec::new();
        let _ = (&s).read_to_end(&mut v);
    });
    let rt = runtime(&mut lab, 10);
    let tokio_rt = multi_thread();
    let s = tokio_rt
        .block_on(rt.connect_async((KERNEL_ADDR, 6500)))
        .unwrap();
    let reader = tokio_rt.spawn(async move {
        let mut s = s;
        s.read(&mut [0u8; 16]).await
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!reader.is_finished(), "nothing was sent, the read waits");
    rt.shutdown(ringtcp::api::StopMode::Reset).unwrap();
    let res = tokio_rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), reader).await })
        .expect("the read was woken")
        .unwrap();
    assert!(res.is_err(), "{res:?}");
    kernel.join().unwrap();
}
