//! The example programs, run as child processes against the Linux kernel in
//! a private network namespace per test.
//!
//! Each test builds a lab with a persistent TUN device, drops the lab's own
//! descriptor, and starts the program from the lab's thread (so the child
//! is in the lab's namespace) with `--tun rtun0`; the kernel side is plain
//! `std::net` on 192.0.2.1. Nothing leaves the namespace.
//!
//! The programs are examples, which Cargo gives no `CARGO_BIN_EXE_*` for,
//! and which `cargo test --all-targets` builds only as test harnesses: the
//! first test to need them runs `cargo build --examples` (offline, in this
//! binary's profile), then finds them next to this test binary, in
//! `target/<profile>/examples/`.

mod support;

use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR};
use ringtcp::sim::apps::fill_stream;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::programs::{assert_same, example, lab, wait_for};

/// The longest any program may run in a test before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(90);
const HTTP_PORT: u16 = 8080;
const BIG: usize = 3_000_000;

/// A scratch directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("ringtcp-programs-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished program left behind.
#[derive(Debug)]
struct Ran {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Collects a pipe on its own thread.
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Runs example `name` with `args` plus `--tun rtun0`, to completion.
#[track_caller]
fn run(name: &str, args: &[&str]) -> Ran {
    run_with_tun(name, args, Some("rtun0"))
}

#[track_caller]
fn run_with_tun(name: &str, args: &[&str], tun: Option<&str>) -> Ran {
    let mut cmd = Command::new(example(name));
    cmd.args(args);
    if let Some(t) = tun {
        cmd.args(["--tun", t]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_for(&mut child, RUN_LIMIT, name);
    let ran = Ran {
        status,
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    };
    assert!(
        !ran.stderr.contains("panicked"),
        "{name} panicked: {}",
        ran.stderr
    );
    ran
}

#[track_caller]
fn assert_success(ran: &Ran, what: &str) {
    assert!(
        ran.status.success(),
        "{what} failed ({}): {}",
        ran.status,
        ran.stderr
    );
}

/// Deterministic content for a path: no period, so a byte written at the
/// wrong offset shows.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_stream(seed, 0, &mut v);
    v
}

/// A request as the kernel-side server saw it.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    range: Option<String>,
}

/// A small HTTP/1.1 server on the kernel side of the lab:
/// - `/big.bin`, `/second.bin`: fixed bodies with `Content-Length`,
///   answering `Range: bytes=A-B` / `bytes=A-` with 206 and
///   `Content-Range` (416 past the end);
/// - `/norange.bin`: ignores `Range` (always 200);
/// - `/chunked`: a body in chunks of varying sizes, with a trailer;
/// - anything else: 404.
struct Server {
    files: Arc<HashMap<&'static str, Vec<u8>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Must be called on the lab's thread (the socket joins its namespace).
    fn start() -> Server {
        let mut files = HashMap::new();
        files.insert("/big.bin", content(1, BIG));
        files.insert("/second.bin", content(2, 1_000_003));
        files.insert("/norange.bin", content(3, 700_001));
        files.insert("/chunked", content(4, 654_321));
        let files = Arc::new(files);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let listener = TcpListener::bind((KERNEL_ADDR, HTTP_PORT)).unwrap();
        let (f, s, st) = (files.clone(), seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (f, s) = (f.clone(), s.clone());
                thread::spawn(move || {
                    let _ = serve(conn, &f, &s);
                });
            }
        });
        Server {
            files,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(path: &str) -> String {
        format!("http://{KERNEL_ADDR}:{HTTP_PORT}{path}")
    }

    fn file(&self, path: &str) -> &[u8] {
        &self.files[path]
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ =
            TcpStream::connect_timeout(&(KERNEL_ADDR, HTTP_PORT).into(), Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    conn: TcpStream,
    files: &HashMap<&'static str, Vec<u8>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(&conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut range = None;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_owned());
        }
    }
    seen.lock().unwrap().push(Seen {
        target: target.clone(),
        range: range.clone(),
    });
    let mut w = std::io::BufWriter::new(&conn);
    let Some(body) = files.get(target.as_str()) else {
        w.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        )?;
        return w.flush();
    };
    if target == "/chunked" {
        w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\nConnection: close\r\n\r\n")?;
        let (mut at, mut size) = (0, 1);
        while at < body.len() {
            let n = size.min(body.len() - at);
            write!(w, "{n:x};ext=1\r\n")?;
            w.write_all(&body[at..at + n])?;
            w.write_all(b"\r\n")?;
            at += n;
            size = (size * 7 + 13) % 70_000 + 1;
        }
        w.write_all(b"0\r\nX-Check: done\r\n\r\n")?;
        return w.flush();
    }
    let total = body.len() as u64;
    let asked = range.filter(|_| target != "/norange.bin").and_then(|r| {
        let spec = r.strip_prefix("bytes=")?;
        let (a, b) = spec.split_once('-')?;
        let a: u64 = a.parse().ok()?;
        let b: u64 = if b.is_empty() {
            total.saturating_sub(1)
        } else {
            b.parse().ok()?
        };
        Some((a, b.min(total.saturating_sub(1))))
    });
    match asked {
        Some((a, _)) if a >= total => {
            write!(
                w,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
            )?;
        }
        Some((a, b)) => {
            write!(
                w,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/{total}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b - a + 1
            )?;
            w.write_all(&body[a as usize..=b as usize])?;
        }
        None => {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
            )?;
            w.write_all(body)?;
        }
    }
    w.flush()
}

#[test]
fn http_get_fetches_length_and_chunked_bodies() {
    let Some(_lab) = lab("http_get_fetches_length_and_chunked_bodies") else {
        return;
    };
    let server = Server::start();
    let dir = TempDir::new("http-get");

    let big = dir.path("big.bin");
    let ran = run(
        "http-get",
        &[&Server::url("/big.bin"), "-o", big.to_str().unwrap()],
    );
    assert_success(&ran, "http-get of a Content-Length body");
    assert_same(
        &std::fs::read(&big).unwrap(),
        server.file("/big.bin"),
        "big.bin",
    );
    assert!(ran.stderr.contains("saved 3000000 bytes"), "{}", ran.stderr);

    let chunked = dir.path("chunked");
    let ran = run(
        "http-get",
        &[&Server::url("/chunked"), "-o", chunked.to_str().unwrap()],
    );
    assert_success(&ran, "http-get of a chunked body");
    assert_same(
        &std::fs::read(&chunked).unwrap(),
        server.file("/chunked"),
        "chunked",
    );

    // Without -o the body goes to standard output, nothing else.
    let ran = run("http-get", &[&Server::url("/second.bin")]);
    assert_success(&ran, "http-get to stdout");
    assert_same(&ran.stdout, server.file("/second.bin"), "stdout");
}

#[test]
fn http_get_exits_2_on_404() {
    let Some(_lab) = lab("http_get_exits_2_on_404") else {
        return;
    };
    let _server = Server::start();
    let ran = run("http-get", &[&Server::url("/nothing-here")]);
    assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("404 Not Found"), "{}", ran.stderr);
    assert_eq!(ran.stderr.trim_end().lines().count(), 1, "{}", ran.stderr);
    assert!(ran.stdout.is_empty());
}

#[test]
fn download_parallel_urls_and_split_ranges() {
    let Some(_lab) = lab("download_parallel_urls_and_split_ranges") else {
        return;
    };
    let server = Server::start();
    let dir = TempDir::new("download");

    // Two URLs at once, one connection each.
    let two = dir.path("two");
    let ran = run(
        "download",
        &[
            &Server::url("/big.bin"),
            &Server::url("/second.bin"),
            "-c",
            "2",
            "-o",
            two.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "download of two URLs");
    assert_same(
        &std::fs::read(two.join("big.bin")).unwrap(),
        server.file("/big.bin"),
        "big.bin",
    );
    assert_same(
        &std::fs::read(two.join("second.bin")).unwrap(),
        server.file("/second.bin"),
        "second.bin",
    );
    let summary = ran.stderr.lines().last().unwrap_or("");
    assert!(
        summary.contains("2 of 2 files, 4000003 bytes"),
        "{}",
        ran.stderr
    );
    assert!(summary.contains("Gbit/s"), "{summary}");
    eprintln!("two URLs: {summary}");

    // One URL over 4 ranges: a probe, then 4 range requests.
    let split = dir.path("split");
    let before = server.seen().len();
    let ran = run(
        "download",
        &[
            &Server::url("/big.bin"),
            "-c",
            "4",
            "-o",
            split.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "download over 4 ranges");
    assert_same(
        &std::fs::read(split.join("big.bin")).unwrap(),
        server.file("/big.bin"),
        "split big.bin",
    );
    let ranges: Vec<String> = server.seen()[before..]
        .iter()
        .filter(|s| s.target == "/big.bin")
        .filter_map(|s| s.range.clone())
        .filter(|r| r != "bytes=0-0")
        .collect();
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    assert!(ranges.contains(&"bytes=0-749999".to_owned()), "{ranges:?}");
    eprintln!("4 ranges: {}", ran.stderr.lines().last().unwrap_or(""));

    // A server that ignores ranges: one connection, still exact.
    let ran = run(
        "download",
        &[
            &Server::url("/norange.bin"),
            "-c",
            "4",
            "-o",
            split.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "download from a server without ranges");
    assert_same(
        &std::fs::read(split.join("norange.bin")).unwrap(),
        server.file("/norange.bin"),
        "norange.bin",
    );
    assert!(ran.stderr.contains("does not do ranges"), "{}", ran.stderr);
}

#[test]
fn download_resumes_a_partial_file() {
    let Some(_lab) = lab("download_resumes_a_partial_file") else {
        return;
    };
    let server = Server::start();
    let dir = TempDir::new("resume");
    let want = server.file("/big.bin").to_vec();

    // One connection: the remainder is asked for with `bytes=P-`.
    let one = dir.path("one");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::write(one.join("big.bin"), &want[..1_234_567]).unwrap();
    let ran = run(
        "download",
        &[
            &Server::url("/big.bin"),
            "-c",
            "1",
            "-o",
            one.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "resumed download");
    assert_same(
        &std::fs::read(one.join("big.bin")).unwrap(),
        &want,
        "resumed big.bin",
    );
    let ranges: Vec<_> = server.seen().into_iter().filter_map(|s| s.range).collect();
    assert_eq!(ranges, ["bytes=1234567-"], "{}", ran.stderr);
    assert!(
        ran.stderr.contains("1765433 bytes"),
        "only the remainder moves: {}",
        ran.stderr
    );

    // Split over 4 connections: the first range starts at the partial length.
    let four = dir.path("four");
    std::fs::create_dir_all(&four).unwrap();
    std::fs::write(four.join("big.bin"), &want[..2_000_000]).unwrap();
    let before = server.seen().len();
    let ran = run(
        "download",
        &[
            &Server::url("/big.bin"),
            "-c",
            "4",
            "-o",
            four.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "resumed split download");
    assert_same(
        &std::fs::read(four.join("big.bin")).unwrap(),
        &want,
        "resumed split big.bin",
    );
    let ranges: Vec<_> = server.seen()[before..]
        .iter()
        .filter_map(|s| s.range.clone())
        .collect();
    assert!(
        ranges.contains(&"bytes=2000000-2249999".to_owned()),
        "{ranges:?}"
    );

    // --no-resume starts over.
    std::fs::write(one.join("big.bin"), b"garbage").unwrap();
    let before = server.seen().len();
    let ran = run(
        "download",
        &[
            &Server::url("/big.bin"),
            "-c",
            "1",
            "--no-resume",
            "-o",
            one.to_str().unwrap(),
        ],
    );
    assert_success(&ran, "download with --no-resume");
    assert_same(
        &std::fs::read(one.join("big.bin")).unwrap(),
        &want,
        "restarted big.bin",
    );
    assert!(server.seen()[before..].iter().all(|s| s.range.is_none()));
}

#[test]
fn echo_server_echoes_50_connections_and_stops_on_sigint() {
    let Some(_lab) = lab("echo_server_echoes_50_connections_and_stops_on_sigint") else {
        return;
    };
    let mut child = Command::new(example("echo-server"))
        .args(["--port", "7", "--tun", "rtun0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo-server");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err = drain(child.stderr.take().unwrap());
    let first = match lines.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "echo-server did not start: {}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
    };
    assert_eq!(
        first,
        format!("echo-server: listening on {STACK_ADDR}:7 via TUN")
    );

    const CONNS: u64 = 50;
    const LEN: u64 = 1_000_000;
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            thread::spawn(move || {
                let s = TcpStream::connect((STACK_ADDR, 7)).expect("connect to echo-server");
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
                let w = s.try_clone().unwrap();
                let writer = thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut pos = 0;
                    while pos < LEN {
                        let n = ((LEN - pos) as usize).min(buf.len());
                        fill_stream(100 + i, pos, &mut buf[..n]);
                        (&w).write_all(&buf[..n]).expect("write to echo-server");
                        pos += n as u64;
                    }
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut got = 0u64;
                let mut buf = vec![0u8; 64 * 1024];
                let mut want = vec![0u8; 64 * 1024];
                loop {
                    let n = (&s).read(&mut buf).expect("read from echo-server");
                    if n == 0 {
                        break;
                    }
                    fill_stream(100 + i, got, &mut want[..n]);
                    assert!(
                        buf[..n] == want[..n],
                        "connection {i}: echo differs near byte {got}"
                    );
                    got += n as u64;
                }
                writer.join().unwrap();
                got
            })
        })
        .collect();
    let deadline = Instant::now() + RUN_LIMIT;
    for (i, c) in clients.into_iter().enumerate() {
        while !c.is_finished() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("echo clients did not finish within {RUN_LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(c.join().unwrap(), LEN, "connection {i}");
    }

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = wait_for(
        &mut child,
        Duration::from_secs(30),
        "echo-server after SIGINT",
    );
    reader.join().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = rest.last().cloned().unwrap_or_default();
    assert!(
        summary.starts_with("echo-server: served 50 connections")
            && summary.contains("echoed 50000000 bytes"),
        "{rest:?} {stderr}"
    );
}

#[test]
fn bad_flags_give_one_line_and_no_panic() {
    for (prog, args) in [
        ("http-get", &["--loss", "2", "http://192.0.2.1/"][..]),
        ("http-get", &["https://192.0.2.1/"][..]),
        ("http-get", &[][..]),
        ("download", &["-c", "0", "http://192.0.2.1/a"][..]),
        ("download", &["--timeout", "soon", "http://192.0.2.1/a"][..]),
        ("echo-server", &["--port", "70000"][..]),
        ("echo-server", &["--seed", "-1"][..]),
    ] {
        let ran = run_with_tun(prog, args, None);
        assert!(!ran.status.success(), "{prog} {args:?} succeeded");
        assert_eq!(
            ran.status.code(),
            Some(1),
            "{prog} {args:?}: {}",
            ran.stderr
        );
        assert_eq!(
            ran.stderr.lines().count(),
            1,
            "{prog} {args:?}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.starts_with(&format!("{prog}: ")),
            "{}",
            ran.stderr
        );
    }
    let ran = run_with_tun("http-get", &["https://192.0.2.1/"], None);
    assert!(
        ran.stderr.contains("https is not supported; use http://"),
        "{}",
        ran.stderr
    );
    let ran = run_with_tun("download", &["-c", "0", "http://192.0.2.1/a"], None);
    assert!(ran.stderr.contains("--help"), "{}", ran.stderr);
}

#[test]
fn missing_device_gives_the_setup_hint() {
    for (prog, args) in [
        ("http-get", &["http://192.0.2.1/"][..]),
        ("download", &["http://192.0.2.1/a"][..]),
        ("echo-server", &[][..]),
    ] {
        let ran = run_with_tun(prog, args, Some("nosuchtun"));
        assert_eq!(ran.status.code(), Some(1), "{prog}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{prog}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("scripts/setup-tun.sh"),
            "{prog}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains("nosuchtun"), "{prog}: {}", ran.stderr);
    }
}

/// The persistent device lives in the lab's namespace only, and goes with
/// it: none is left in the namespace the tests started in.
#[test]
fn persistent_lab_device_goes_with_the_namespace() {
    let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let existed = ringtcp::device::netif::if_index("rtun0").is_ok();
    let inner = thread::spawn(|| {
        let Some(lab) = lab("persistent_lab_device_goes_with_the_namespace") else {
            return false;
        };
        // The lab's descriptor is closed, and the device is still there.
        assert!(lab.tun().is_none());
        assert!(ringtcp::device::netif::if_index("rtun0").is_ok());
        let _server = Server::start();
        let ran = run("http-get", &[&Server::url("/nothing")]);
        assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
        true
    });
    let ran = inner.join().unwrap();
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        here
    );
    if !ran || existed {
        if existed {
            eprintln!(
                "SKIPPED persistent_lab_device_goes_with_the_namespace (check): rtun0 exists here already"
            );
        }
        return;
    }
    // Namespaces are torn down asynchronously; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ringtcp::device::netif::if_index("rtun0").is_ok() {
        assert!(
            Instant::now() < deadline,
            "rtun0 was left behind in the test's own namespace"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `bench --lab --json` makes its own namespace with the kernel as peer
/// and ends with one JSON object holding every figure. The figures are not
/// asserted (they are measurements), only that each was measured.
#[test]
fn bench_lab_json_every_mode() {
    // Only to learn whether namespaces can be made here; bench makes its own.
    let Some(probe) = lab("bench_lab_json_every_mode") else {
        return;
    };
    drop(probe);
    let cases: &[(&[&str], &[&str])] = &[
        (&["download"], &["\"gbps\":"]),
        (&["upload"], &["\"gbps\":"]),
        (
            &["pingpong"],
            &["\"p50_us\":", "\"p999_us\":", "\"max_us\":", "\"per_sec\":"],
        ),
        (&["connect"], &["\"per_sec\":", "\"p99_us\":"]),
        (&["streams", "3"], &["\"gbps\":"]),
        (&["--api", "blocking", "download"], &["\"gbps\":"]),
        (&["--api", "blocking", "pingpong"], &["\"p50_us\":"]),
    ];
    for (args, keys) in cases {
        let mut all = vec!["--lab", "--seconds", "1", "--json"];
        all.extend_from_slice(args);
        let ran = run_with_tun("bench", &all, None);
        assert_success(&ran, &format!("bench {all:?}"));
        let out = String::from_utf8_lossy(&ran.stdout);
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.starts_with('{') && last.ends_with('}'),
            "bench {all:?}: last line {last:?}"
        );
        assert!(last.contains("\"label\":\"ringtcp\""), "{last}");
        assert!(
            last.contains("\"cpu_user_s\":") && last.contains("\"settings\":"),
            "{last}"
        );
        for key in *keys {
            let at = last
                .find(key)
                .unwrap_or_else(|| panic!("bench {all:?}: no {key} in {last}"));
            let value: f64 = last[at + key.len()..]
                .split([',', '}'])
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("bench {all:?}: {key} is not a number in {last}"));
            assert!(value > 0.0, "bench {all:?}: {key} measured nothing: {last}");
        }
    }
}
