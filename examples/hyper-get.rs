//! `hyper-get URL [-o FILE]`: one HTTP/1.1 GET with hyper 1.x's client
//! over a ringtcp async stream ([`ringtcp::api::aio`]), on a
//! current-thread tokio runtime: the ecosystem's own HTTP client, unchanged,
//! on a TCP that runs in this process on a TUN device.
//!
//! The body goes to standard output, or to FILE with `-o`. Exit status, as
//! `http-get`'s: 0 when the server answered 2xx and the whole body arrived;
//! 2 when it answered anything else (redirects are not followed); 1 for
//! every other failure.

mod common;

use clap::Parser;
use common::http::Url;
use common::{DeviceArgs, die, parse_args};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Fetch one http:// URL with hyper over the ringtcp stack and print the
/// body.
///
/// Exit status: 0 on success; 2 when the server answered with a status
/// other than 2xx; 1 for any other error.
#[derive(Parser, Debug)]
#[command(name = "hyper-get", version)]
struct Cli {
    /// The URL to fetch: http://HOST[:PORT]/PATH (https is not supported).
    /// HOST may be a name; it is resolved by the system resolver (IPv4).
    #[arg(value_name = "URL")]
    url: String,
    /// Write the body to FILE instead of standard output (a half-written
    /// FILE is removed when the transfer fails).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Give up when connecting, or when the transfer stalls, after this
    /// many seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = common::seconds)]
    timeout: Duration,
    #[command(flatten)]
    dev: DeviceArgs,
}

/// Why the program failed: the exit status and a one-line message.
struct Failure(i32, String);

fn fail(m: String) -> Failure {
    Failure(1, m)
}

fn main() {
    let cli: Cli = parse_args();
    let url = Url::parse(&cli.url).unwrap_or_else(|e| die(e));
    let rt = common::start_runtime(&cli.dev).unwrap_or_else(|e| die(e));
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| die(format!("cannot start tokio: {e}")));
    let result = tokio_rt.block_on(fetch(&rt, &cli, &url));
    // Close the connection and stop the loop before exiting.
    drop(tokio_rt);
    drop(rt);
    if let Err(Failure(code, msg)) = result {
        eprintln!("hyper-get: {msg}");
        std::process::exit(code);
    }
}

/// `f`, or a failure after `limit`.
async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(fail(format!("{what}: nothing for {limit:?}"))))
}

async fn fetch(rt: &ringtcp::api::Runtime, cli: &Cli, url: &Url) -> Result<(), Failure> {
    let addr = url.resolve().map_err(fail)?;
    let started = Instant::now();
    let stream = within(cli.timeout, "connecting", async {
        rt.connect_async(addr)
            .await
            .map_err(|e| fail(format!("cannot connect to {addr}: {e}")))
    })
    .await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(format!("{url}: {e}")))?;
    // The connection's own task: it moves the bytes while we read the body.
    let driver = tokio::spawn(conn);
    let req = Request::get(url.target.as_str())
        .header("host", url.host_header())
        .header("user-agent", "ringtcp-hyper-get")
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(format!("{url}: {e}")))?;
    let resp = within(cli.timeout, "waiting for the answer", async {
        sender
            .send_request(req)
            .await
            .map_err(|e| fail(format!("{url}: {e}")))
    })
    .await?;
    if !resp.status().is_success() {
        return Err(Failure(
            2,
            format!("{url}: the server answered {}", resp.status()),
        ));
    }
    let mut out: Box<dyn Write> = match &cli.output {
        Some(path) => Box::new(BufWriter::with_capacity(
            256 * 1024,
            File::create(path)
                .map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => Box::new(BufWriter::with_capacity(256 * 1024, io::stdout())),
    };
    let mut body = resp.into_body();
    let mut n = 0u64;
    let copied: Result<(), Failure> = async {
        while let Some(frame) = within(cli.timeout, "reading the body", async {
            body.frame()
                .await
                .transpose()
                .map_err(|e| fail(format!("{url}: {e}")))
        })
        .await?
        {
            if let Ok(data) = frame.into_data() {
                n += data.len() as u64;
                out.write_all(&data)
                    .map_err(|e| fail(format!("writing the body: {e}")))?;
            }
        }
        out.flush()
            .map_err(|e| fail(format!("writing the body: {e}")))
    }
    .await;
    drop(out);
    driver.abort();
    if let Err(e) = copied {
        if let Some(path) = &cli.output {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    if let Some(path) = &cli.output {
        eprintln!(
            "hyper-get: saved {n} bytes to {} in {:.2} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
