//! `http-get URL [-o FILE]`: one HTTP/1.1 GET over ringtcp, like a tiny
//! `curl` whose TCP runs in this process on a TUN device.
//!
//! The body goes to standard output, or to FILE with `-o`. Exit status: 0
//! when the server answered 2xx and the whole body arrived; 2 when it
//! answered anything else (the status, and for a redirect the Location, go
//! to stderr; redirects are not followed); 1 for every other failure.

mod common;

use clap::Parser;
use common::http::{self, Body, BodyError, Framing, Url};
use common::{DeviceArgs, die, parse_args};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Fetch one http:// URL over the ringtcp stack and print the body.
///
/// Exit status: 0 on success; 2 when the server answered with a status
/// other than 2xx (redirects are not followed: the Location is printed);
/// 1 for any other error.
#[derive(Parser, Debug)]
#[command(name = "http-get", version)]
struct Cli {
    /// The URL to fetch: http://HOST[:PORT]/PATH (https is not supported).
    /// HOST may be a name; it is resolved by the system resolver (IPv4).
    #[arg(value_name = "URL")]
    url: String,
    /// Write the body to FILE instead of standard output (a half-written
    /// FILE is removed when the transfer fails).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Give up when connecting, or when the server sends nothing, for this
    /// many seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = common::seconds)]
    timeout: Duration,
    #[command(flatten)]
    dev: DeviceArgs,
}

/// Why the program failed: the exit status and a one-line message.
struct Failure(i32, String);

fn main() {
    let cli: Cli = parse_args();
    let url = Url::parse(&cli.url).unwrap_or_else(|e| die(e));
    let addr = url.resolve().unwrap_or_else(|e| die(e));
    let rt = common::start_runtime(&cli.dev).unwrap_or_else(|e| die(e));
    let result = fetch(&rt, &cli, &url, addr);
    // Close the connection and stop the loop before exiting.
    drop(rt);
    if let Err(Failure(code, msg)) = result {
        eprintln!("http-get: {msg}");
        std::process::exit(code);
    }
}

fn fetch(
    rt: &ringtcp::api::Runtime,
    cli: &Cli,
    url: &Url,
    addr: SocketAddrV4,
) -> Result<(), Failure> {
    let fail = |m: String| Failure(1, m);
    let started = Instant::now();
    let stream = rt
        .connect_timeout(&SocketAddr::V4(addr), cli.timeout)
        .map_err(|e| fail(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_read_timeout(Some(cli.timeout));
    let _ = stream.set_write_timeout(Some(cli.timeout));
    http::write_request(&mut &stream, "GET", url, &[])
        .map_err(|e| fail(format!("sending the request to {addr}: {e}")))?;
    let mut reader = BufReader::with_capacity(256 * 1024, &stream);
    let head = http::read_head(&mut reader).map_err(|e| fail(format!("{url}: {e}")))?;
    if !head.is_success() {
        let msg = match head.field("location") {
            Some(loc) if (300..400).contains(&head.status) => format!(
                "{url}: the server answered {} (redirects are not followed; Location: {loc})",
                head.status_text()
            ),
            _ => format!("{url}: the server answered {}", head.status_text()),
        };
        return Err(Failure(2, msg));
    }
    let framing = Framing::of(&head, "GET").map_err(|e| fail(format!("{url}: {e}")))?;
    let mut body = Body::new(reader, framing);

    let Some(path) = &cli.output else {
        let mut out = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
        return match body.copy_to(&mut out, |_| {}) {
            Ok(_) => out
                .flush()
                .map_err(|e| fail(format!("writing to standard output: {e}"))),
            Err(BodyError::Read(m)) => Err(fail(format!("{url}: {m}"))),
            Err(BodyError::Write(e)) => Err(fail(format!("writing to standard output: {e}"))),
        };
    };
    let file =
        File::create(path).map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let copied = body
        .copy_to(&mut out, |_| {})
        .map_err(|e| match e {
            BodyError::Read(m) => format!("{url}: {m}"),
            BodyError::Write(e) => format!("writing {}: {e}", path.display()),
        })
        .and_then(|n| {
            out.flush()
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(n)
        });
    match copied {
        Ok(n) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "http-get: saved {n} bytes to {} in {secs:.2} s ({})",
                path.display(),
                head.status_text()
            );
            Ok(())
        }
        Err(m) => {
            drop(out);
            let _ = std::fs::remove_file(path);
            Err(fail(m))
        }
    }
}
