//! The hyper examples, run as child processes against the Linux kernel in a
//! private network namespace per test, as `tests/programs.rs` runs the
//! other programs: `examples/hyper-server` on ringtcp answering `curl` (the
//! Debian package, unchanged) on the kernel side, and `examples/hyper-get`
//! on ringtcp fetching from a `std::net` server on the kernel side. Every
//! body is checked byte for byte.

mod support;

use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR};
use ringtcp::sim::apps::fill_stream;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use support::programs::{assert_same, example, lab, wait_for};

/// The seed of hyper-server's body pattern (its `BODY_SEED`).
const BODY_SEED: u64 = 0x0048_7970_6572;

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_stream(seed, 0, &mut v);
    v
}

/// Runs `curl` with `args`, returns its standard output; fails the test if
/// curl fails.
#[track_caller]
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "60"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn curl_fetches_from_hyper_server_on_ringtcp() {
    let Some(_lab) = lab("curl_fetches_from_hyper_server_on_ringtcp") else {
        return;
    };
    const SIZE: usize = 3_000_000;
    let mut child = Command::new(example("hyper-server"))
        .args([
            "--port",
            "8080",
            "--size",
            &SIZE.to_string(),
            "--tun",
            "rtun0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hyper-server");
    let mut err_pipe = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(
        first,
        format!("hyper-server: listening on {STACK_ADDR}:8080 via TUN")
    );
    let want = pattern(BODY_SEED, SIZE);
    let url = format!("http://{STACK_ADDR}:8080/body");
    let t0 = Instant::now();
    // One connection per request, five times.
    for i in 0..5 {
        assert_same(&curl(&[&url]), &want, &format!("fetch {i}"));
    }
    // Ten requests on one kept-alive connection.
    let urls: Vec<&str> = std::iter::repeat_n(url.as_str(), 10).collect();
    let got = curl(&urls);
    assert_eq!(got.len(), 10 * SIZE, "ten bodies on one connection");
    for (i, body) in got.chunks(SIZE).enumerate() {
        assert_same(body, &want, &format!("kept-alive fetch {i}"));
    }
    let serial = t0.elapsed();
    // Twenty at once (curl's --parallel), each into a file of its own (to
    // standard output they would interleave).
    let dir = std::env::temp_dir().join(format!("ringtcp-hyper-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = (0..20)
        .map(|i| dir.join(format!("p{i}")).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["--parallel", "--parallel-max", "20"];
    for f in &files {
        args.extend(["-o", f.as_str(), url.as_str()]);
    }
    curl(&args);
    for (i, f) in files.iter().enumerate() {
        assert_same(
            &std::fs::read(f).unwrap(),
            &want,
            &format!("parallel fetch {i}"),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let elapsed = t0.elapsed();
    // HEAD: the length, no body.
    let head = String::from_utf8(curl(&["--head", &url])).unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {SIZE}")),
        "{head}"
    );

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = wait_for(&mut child, Duration::from_secs(30), "hyper-server");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = rest.last().cloned().unwrap_or_default();
    assert!(
        summary.contains(" 36 requests") && summary.contains(&format!("{} body bytes", 35 * SIZE)),
        "{rest:?} {stderr}"
    );
    eprintln!(
        "curl: 35 bodies of {SIZE} bytes from hyper-server in {elapsed:?} (15 one after the other in {serial:?})"
    );
}

#[test]
fn hyper_get_fetches_from_a_kernel_server() {
    let Some(_lab) = lab("hyper_get_fetches_from_a_kernel_server") else {
        return;
    };
    const SIZE: usize = 2_000_003;
    let body = pattern(7, SIZE);
    let l = TcpListener::bind((KERNEL_ADDR, 8081)).unwrap();
    let served = body.clone();
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            served.len()
        )
        .unwrap();
        s.write_all(&served).unwrap();
        String::from_utf8(head).unwrap()
    });
    let dir = std::env::temp_dir().join(format!("ringtcp-hyper-get-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.bin");
    let out = Command::new(example("hyper-get"))
        .arg(format!("http://{KERNEL_ADDR}:8081/some/path?q=1"))
        .arg("-o")
        .arg(&file)
        .args(["--tun", "rtun0"])
        .stdin(Stdio::null())
        .output()
        .expect("run hyper-get");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hyper-get: {stderr}");
    let head = server.join().unwrap();
    assert!(
        head.starts_with("GET /some/path?q=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: {KERNEL_ADDR}:8081")),
        "{head}"
    );
    let got = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_same(&got, &body, "hyper-get's file");
}
