//! `download URL... [-o DIR] [-c CONNECTIONS]`: a bulk HTTP/1.1 downloader
//! over ringtcp.
//!
//! Several URLs are fetched at once, up to CONNECTIONS at a time, one
//! connection each. A single URL with `-c N` (N > 1) is probed with
//! `Range: bytes=0-0`; if the server answers 206 with the total size in
//! `Content-Range`, the file is split into N byte ranges fetched over N
//! connections and written in place with positioned writes. A server that
//! ignores ranges (200) gets one connection instead.
//!
//! An existing file shorter than the server's copy is resumed (its
//! remainder is requested with `Range`) unless `--no-resume` is given.
//! Sizes are checked against `Content-Length` / `Content-Range`. If a split
//! download fails, the file is cut back to the bytes that arrived without a
//! gap, so a later run resumes correctly.

mod common;

use clap::Parser;
use common::http::{self, Body, BodyError, Framing, Head, Url};
use common::{DeviceArgs, die, parse_args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringtcp::api::{Runtime, TcpStream};
use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BUF: usize = 256 * 1024;

/// Download http:// URLs over the ringtcp stack, in parallel.
///
/// Each URL is saved in DIR under the last segment of its path
/// (index.html when the path ends in /). Exit status: 0 when every file
/// arrived whole; 2 when a server answered with a status other than 2xx
/// (and nothing else went wrong); 1 for any other failure.
#[derive(Parser, Debug)]
#[command(name = "download", version)]
struct Cli {
    /// The URLs to fetch: http://HOST[:PORT]/PATH (https is not supported).
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,
    /// Save the files in this directory (created if missing).
    #[arg(
        short = 'o',
        long = "output-dir",
        value_name = "DIR",
        default_value = "."
    )]
    dir: PathBuf,
    /// Connections at once (1 to 256): with several URLs, how many are
    /// fetched at a time; with one URL, how many byte ranges it is split
    /// into, if the server supports ranges.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    connections: u16,
    /// Start every file over, even when a shorter copy is already there
    /// (by default such a partial file is resumed).
    #[arg(long)]
    no_resume: bool,
    /// Give up when connecting, or when a server sends nothing, for this
    /// many seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = common::seconds)]
    timeout: Duration,
    #[command(flatten)]
    dev: DeviceArgs,
}

/// One file to fetch.
struct Job {
    url: Url,
    addr: SocketAddrV4,
    path: PathBuf,
}

/// What a finished job did.
struct Done {
    /// Bytes that came over the network for it.
    transferred: u64,
    /// The file's final size.
    size: u64,
    /// How it went, for the per-file line.
    how: String,
}

/// Why a job failed: 2 for a non-2xx answer, 1 for anything else.
struct Failed {
    code: i32,
    msg: String,
}

fn failed(msg: impl Into<String>) -> Failed {
    Failed {
        code: 1,
        msg: msg.into(),
    }
}

/// Progress shared by every connection.
struct Progress {
    bar: ProgressBar,
    tty: bool,
}

impl Progress {
    fn new() -> Progress {
        let tty = io::stderr().is_terminal();
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar, tty }
    }

    /// `n` more bytes are expected.
    fn expect(&self, n: u64) {
        self.bar.inc_length(n);
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    /// A line that does not tear the bar.
    fn say(&self, line: String) {
        if self.tty {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

fn main() {
    let cli: Cli = parse_args();
    let jobs = plan(&cli).unwrap_or_else(|e| die(e));
    let rt = common::start_runtime(&cli.dev).unwrap_or_else(|e| die(e));
    let progress = Progress::new();
    let started = Instant::now();
    let results = run_all(&rt, &cli, &jobs, &progress);
    let secs = started.elapsed().as_secs_f64();
    progress.bar.finish_and_clear();
    drop(rt);

    let mut transferred = 0u64;
    let mut ok = 0usize;
    let mut code = 0;
    for result in &results {
        match result {
            Ok(done) => {
                ok += 1;
                transferred += done.transferred;
            }
            Err(f) => code = if code == 1 || f.code == 1 { 1 } else { 2 },
        }
    }
    let gbits = if secs > 0.0 {
        transferred as f64 * 8.0 / secs / 1e9
    } else {
        0.0
    };
    eprintln!(
        "download: {ok} of {} files, {transferred} bytes in {secs:.3} s, {gbits:.3} Gbit/s",
        jobs.len()
    );
    std::process::exit(code);
}

/// Parses and resolves every URL and picks the file names, before any
/// traffic: a mistake is reported before the first byte moves.
fn plan(cli: &Cli) -> Result<Vec<Job>, String> {
    if cli.dir.exists() && !cli.dir.is_dir() {
        return Err(format!(
            "{} is not a directory; give -o an existing or a new directory",
            cli.dir.display()
        ));
    }
    std::fs::create_dir_all(&cli.dir)
        .map_err(|e| format!("cannot create directory {}: {e}", cli.dir.display()))?;
    let mut names = HashSet::new();
    let mut jobs = Vec::new();
    for s in &cli.urls {
        let url = Url::parse(s)?;
        let name = url.file_name();
        if !names.insert(name.clone()) {
            return Err(format!(
                "two URLs would be saved as {name}; fetch them in separate runs with different -o directories"
            ));
        }
        let addr = url.resolve()?;
        jobs.push(Job {
            url,
            addr,
            path: cli.dir.join(name),
        });
    }
    Ok(jobs)
}

fn run_all(
    rt: &Runtime,
    cli: &Cli,
    jobs: &[Job],
    progress: &Progress,
) -> Vec<Result<Done, Failed>> {
    let c = usize::from(cli.connections);
    let resume = !cli.no_resume;
    if jobs.len() == 1 && c > 1 {
        let r = fetch_split(rt, cli, &jobs[0], c, resume, progress);
        report(&jobs[0], &r, progress);
        return vec![r];
    }
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..jobs.len()).collect());
    let results: Mutex<Vec<Option<Result<Done, Failed>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..c.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let Some(i) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        return;
                    };
                    let r = fetch_whole(rt, cli, &jobs[i], resume, progress);
                    report(&jobs[i], &r, progress);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(failed("not attempted"))))
        .collect()
}

/// One line per file as it finishes.
fn report(job: &Job, result: &Result<Done, Failed>, progress: &Progress) {
    progress.say(match result {
        Ok(done) => format!(
            "download: {} -> {} ({} bytes, {})",
            job.url,
            job.path.display(),
            done.size,
            done.how
        ),
        Err(f) => format!("download: {}: {}", job.url, f.msg),
    });
}

/// Opens a connection, sends a GET with `extra` fields and reads the head.
fn request(
    rt: &Runtime,
    cli: &Cli,
    job: &Job,
    extra: &[(&str, String)],
) -> Result<(Head, BufReader<TcpStream>), Failed> {
    let stream = rt
        .connect_timeout(&SocketAddr::V4(job.addr), cli.timeout)
        .map_err(|e| failed(format!("cannot connect to {}: {e}", job.addr)))?;
    let _ = stream.set_read_timeout(Some(cli.timeout));
    let _ = stream.set_write_timeout(Some(cli.timeout));
    http::write_request(&mut &stream, "GET", &job.url, extra)
        .map_err(|e| failed(format!("sending the request: {e}")))?;
    let mut reader = BufReader::with_capacity(BUF, stream);
    let head = http::read_head(&mut reader).map_err(failed)?;
    Ok((head, reader))
}

fn status_failure(head: &Head) -> Failed {
    let msg = match head.field("location") {
        Some(loc) if (300..400).contains(&head.status) => format!(
            "the server answered {} (redirects are not followed; Location: {loc})",
            head.status_text()
        ),
        _ => format!("the server answered {}", head.status_text()),
    };
    Failed { code: 2, msg }
}

fn existing_len(path: &Path, resume: bool) -> u64 {
    if !resume {
        return 0;
    }
    std::fs::metadata(path)
        .map(|m| if m.is_file() { m.len() } else { 0 })
        .unwrap_or(0)
}

/// One connection for the whole file (or its remainder, when resuming).
fn fetch_whole(
    rt: &Runtime,
    cli: &Cli,
    job: &Job,
    resume: bool,
    progress: &Progress,
) -> Result<Done, Failed> {
    let have = existing_len(&job.path, resume);
    let extra = if have > 0 {
        vec![("Range", format!("bytes={have}-"))]
    } else {
        Vec::new()
    };
    let (head, reader) = request(rt, cli, job, &extra)?;
    match head.status {
        206 if have > 0 => {
            let cr = head
                .content_range()
                .ok_or_else(|| failed("the server answered 206 without a usable Content-Range"))?;
            let (Some((first, last)), Some(total)) = (cr.range, cr.total) else {
                return Err(failed(
                    "the server answered 206 without a usable Content-Range",
                ));
            };
            if first != have || last + 1 != total {
                return Err(failed(format!(
                    "asked for bytes {have}- but the server sent {first}-{last}/{total}"
                )));
            }
            let mut file = OpenOptions::new()
                .write(true)
                .open(&job.path)
                .map_err(|e| failed(format!("cannot open {}: {e}", job.path.display())))?;
            file.seek(SeekFrom::Start(have))
                .map_err(|e| failed(format!("{}: {e}", job.path.display())))?;
            progress.expect(total - have);
            let n = body_to(&head, reader, &mut file, &job.path, progress)?;
            check_size(&job.path, total)?;
            Ok(Done {
                transferred: n,
                size: total,
                how: format!("resumed at byte {have}"),
            })
        }
        416 if have > 0 => {
            // Nothing at or past `have`: complete already, or a different
            // (shorter) file now; then fetch it again from the start.
            let total = head.content_range().and_then(|c| c.total);
            if total == Some(have) {
                return Ok(Done {
                    transferred: 0,
                    size: have,
                    how: "complete already".into(),
                });
            }
            fetch_whole(rt, cli, job, false, progress)
        }
        s if (200..300).contains(&s) => {
            let note = if have > 0 {
                "the server ignored the range: fetched from the start"
            } else {
                "one connection"
            };
            let framing = Framing::of(&head, "GET").map_err(failed)?;
            let mut file = File::create(&job.path)
                .map_err(|e| failed(format!("cannot create {}: {e}", job.path.display())))?;
            if let Framing::Length(n) = framing {
                progress.expect(n);
            }
            let n = body_to(&head, reader, &mut file, &job.path, progress)?;
            if let Framing::Length(total) = framing {
                check_size(&job.path, total)?;
            }
            Ok(Done {
                transferred: n,
                size: n,
                how: note.into(),
            })
        }
        _ => Err(status_failure(&head)),
    }
}

/// Copies the body after `head` into `out` (at its current position).
fn body_to(
    head: &Head,
    reader: BufReader<TcpStream>,
    out: &mut File,
    path: &Path,
    progress: &Progress,
) -> Result<u64, Failed> {
    let framing = Framing::of(head, "GET").map_err(failed)?;
    let mut body = Body::new(reader, framing);
    let mut w = io::BufWriter::with_capacity(BUF, out);
    let n = body
        .copy_to(&mut w, |n| progress.advance(n))
        .map_err(|e| match e {
            BodyError::Read(m) => failed(m),
            BodyError::Write(e) => failed(format!("writing {}: {e}", path.display())),
        })?;
    w.flush()
        .map_err(|e| failed(format!("writing {}: {e}", path.display())))?;
    Ok(n)
}

fn check_size(path: &Path, want: u64) -> Result<(), Failed> {
    let got = std::fs::metadata(path)
        .map_err(|e| failed(format!("{}: {e}", path.display())))?
        .len();
    if got != want {
        return Err(failed(format!(
            "{} has {got} bytes but the server announced {want}",
            path.display()
        )));
    }
    Ok(())
}

/// One URL over `n` connections, one byte range each; see the module docs.
fn fetch_split(
    rt: &Runtime,
    cli: &Cli,
    job: &Job,
    n: usize,
    resume: bool,
    progress: &Progress,
) -> Result<Done, Failed> {
    let (head, mut reader) = request(rt, cli, job, &[("Range", "bytes=0-0".into())])?;
    let total = match head.status {
        206 => {
            let total = head.content_range().and_then(|c| c.total);
            let Some(total) = total else {
                // No total: no way to split. Fetch it whole.
                drop(reader);
                return fetch_whole(rt, cli, job, resume, progress);
            };
            // The probe's one byte: read it so the connection closes cleanly.
            let framing = Framing::of(&head, "GET").map_err(failed)?;
            let mut sink = Vec::new();
            Body::new(&mut reader, framing)
                .read_to_end(&mut sink)
                .map_err(|e| failed(format!("reading the probe: {e}")))?;
            total
        }
        416 => match head.content_range().and_then(|c| c.total) {
            Some(0) => 0,
            _ => {
                return Err(failed(
                    "the server refused the range 0-0 of a file that is not empty",
                ));
            }
        },
        s if (200..300).contains(&s) => {
            // Ranges are ignored: this very answer is the whole file.
            let framing = Framing::of(&head, "GET").map_err(failed)?;
            let mut file = File::create(&job.path)
                .map_err(|e| failed(format!("cannot create {}: {e}", job.path.display())))?;
            if let Framing::Length(len) = framing {
                progress.expect(len);
            }
            let got = body_to(&head, reader, &mut file, &job.path, progress)?;
            if let Framing::Length(len) = framing {
                check_size(&job.path, len)?;
            }
            return Ok(Done {
                transferred: got,
                size: got,
                how: "the server does not do ranges: one connection".into(),
            });
        }
        _ => return Err(status_failure(&head)),
    };
    drop(reader);

    let mut have = existing_len(&job.path, resume);
    if have > total {
        have = 0;
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&job.path)
        .map_err(|e| failed(format!("cannot open {}: {e}", job.path.display())))?;
    file.set_len(have)
        .map_err(|e| failed(format!("{}: {e}", job.path.display())))?;
    if have == total {
        return Ok(Done {
            transferred: 0,
            size: total,
            how: "complete already".into(),
        });
    }
    let left = total - have;
    let parts = (n as u64).min(left);
    let ranges: Vec<(u64, u64)> = (0..parts)
        .map(|i| (have + left * i / parts, have + left * (i + 1) / parts))
        .collect();
    let done: Vec<AtomicU64> = ranges.iter().map(|_| AtomicU64::new(0)).collect();
    progress.expect(left);

    let results: Vec<Result<(), Failed>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .zip(&done)
            .map(|(&(start, end), done)| {
                let file = &file;
                s.spawn(move || fetch_range(rt, cli, job, file, start, end, total, done, progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(failed("a connection thread panicked")))
            })
            .collect()
    });
    if let Some(err) = results.into_iter().find_map(Result::err) {
        // Keep only the bytes that arrived without a gap, so that a resume
        // (which trusts the file's length) is right.
        let mut prefix = have;
        for ((start, end), d) in ranges.iter().zip(&done) {
            let got = d.load(Ordering::Relaxed);
            prefix = start + got;
            if start + got < *end {
                break;
            }
        }
        let _ = file.set_len(prefix);
        return Err(err);
    }
    drop(file);
    check_size(&job.path, total)?;
    let how = if have > 0 {
        format!("{parts} ranges, resumed at byte {have}")
    } else {
        format!("{parts} ranges")
    };
    Ok(Done {
        transferred: left,
        size: total,
        how,
    })
}

/// Bytes `start..end` of the file over their own connection, written in
/// place. `done` counts the bytes written from `start` on.
#[allow(clippy::too_many_arguments)]
fn fetch_range(
    rt: &Runtime,
    cli: &Cli,
    job: &Job,
    file: &File,
    start: u64,
    end: u64,
    total: u64,
    done: &AtomicU64,
    progress: &Progress,
) -> Result<(), Failed> {
    let last = end - 1;
    let (head, reader) = request(rt, cli, job, &[("Range", format!("bytes={start}-{last}"))])?;
    if head.status != 206 {
        return Err(if head.is_success() {
            failed(format!(
                "asked for bytes {start}-{last} but the server answered {} (it stopped doing ranges)",
                head.status_text()
            ))
        } else {
            status_failure(&head)
        });
    }
    let cr = head.content_range();
    if cr.and_then(|c| c.range) != Some((start, last)) || cr.and_then(|c| c.total) != Some(total) {
        return Err(failed(format!(
            "asked for bytes {start}-{last}/{total} but the server sent Content-Range: {}",
            head.field("content-range").unwrap_or("(none)")
        )));
    }
    let framing = Framing::of(&head, "GET").map_err(failed)?;
    let mut body = Body::new(reader, framing);
    let mut buf = vec![0u8; BUF];
    let mut at = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(failed(format!(
                    "bytes {start}-{last}: {} after {} bytes: {e}",
                    "the connection failed",
                    at - start
                )));
            }
        };
        if at + n as u64 > end {
            return Err(failed(format!(
                "bytes {start}-{last}: the server sent more than asked"
            )));
        }
        file.write_all_at(&buf[..n], at)
            .map_err(|e| failed(format!("writing {}: {e}", job.path.display())))?;
        at += n as u64;
        done.store(at - start, Ordering::Relaxed);
        progress.advance(n as u64);
    }
    if at != end {
        return Err(failed(format!(
            "bytes {start}-{last}: the server sent {} of {} bytes",
            at - start,
            end - start
        )));
    }
    Ok(())
}
