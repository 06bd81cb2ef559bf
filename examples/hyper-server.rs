//! `hyper-server [--port 8080] [--size BYTES]`: hyper 1.x serving HTTP/1.1
//! over ringtcp's async listener ([`ringtcp::api::aio`]), on a tokio
//! runtime: the ecosystem's own HTTP server, unchanged, on a TCP that runs
//! in this process on a TUN device.
//!
//! Every GET or HEAD answers 200 with the same fixed-size body (`--size`
//! bytes of a deterministic pattern, `application/octet-stream`), so a
//! client can check every byte; other methods get 405. Connections are
//! kept alive, as HTTP/1.1's are.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it; then a summary line is printed and
//! the exit status is 0.

mod common;

use bytes::Bytes;
use clap::Parser;
use common::{DeviceArgs, die, parse_args};
use http_body_util::BodyExt as _;
use http_body_util::{Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use ringtcp::sim::apps::fill_stream;
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The seed of the body's byte pattern (`ringtcp::sim::apps::fill_stream`).
const BODY_SEED: u64 = 0x0048_7970_6572;

/// Serve a fixed-size body over HTTP/1.1 with hyper on ringtcp, until Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "hyper-server", version)]
struct Cli {
    /// The port to listen on, at the stack's address (--addr).
    #[arg(long, value_name = "PORT", default_value_t = 8080,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// The size of the body every GET gets, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1_000_000)]
    size: usize,
    #[command(flatten)]
    dev: DeviceArgs,
}

/// What the server counts, for the summary line.
#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

type Body = BoxBody<Bytes, Infallible>;

fn respond(req: &Request<Incoming>, body: &Bytes, counts: &Counts) -> Response<Body> {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let reply = Response::builder().header("content-type", "application/octet-stream");
    match *req.method() {
        Method::GET => {
            counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            reply.body(Full::new(body.clone()).boxed())
        }
        Method::HEAD => reply
            .header("content-length", body.len())
            .body(Empty::new().boxed()),
        _ => reply
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", "GET, HEAD")
            .body(Empty::new().boxed()),
    }
    .expect("a valid response")
}

fn main() {
    let cli: Cli = parse_args();
    let rt = common::start_runtime(&cli.dev).unwrap_or_else(|e| die(e));
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| die(format!("cannot start tokio: {e}")));
    let mut pattern = vec![0u8; cli.size];
    fill_stream(BODY_SEED, 0, &mut pattern);
    let body = Bytes::from(pattern);
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.notify_one())
        .unwrap_or_else(|e| die(format!("cannot install the signal handler: {e}")));

    let served = counts.clone();
    tokio_rt.block_on(async {
        let listener = rt
            .bind_async((cli.dev.addr, cli.port))
            .await
            .unwrap_or_else(|e| die(format!("cannot listen on port {}: {e}", cli.port)));
        println!(
            "hyper-server: listening on {}:{} via TUN",
            cli.dev.addr, cli.port
        );
        let _ = std::io::stdout().flush();
        loop {
            tokio::select! {
                _ = stop.notified() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => serve(stream, body.clone(), counts.clone()),
                    Err(e) => die(format!("accept failed: {e}")),
                },
            }
        }
    });
    // Connections still open are closed with the runtimes.
    drop(tokio_rt);
    drop(rt);
    println!(
        "hyper-server: served {} connections, {} requests, {} body bytes",
        served.connections.load(Ordering::Relaxed),
        served.requests.load(Ordering::Relaxed),
        served.bytes.load(Ordering::Relaxed)
    );
}

/// Serves one connection on a task of its own.
fn serve(stream: ringtcp::api::aio::TcpStream, body: Bytes, counts: Arc<Counts>) {
    counts.connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        let service = service_fn(move |req: Request<Incoming>| {
            let reply = respond(&req, &body, &counts);
            async move { Ok::<_, Infallible>(reply) }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .await
        {
            eprintln!("hyper-server: connection: {e}");
        }
    });
}
