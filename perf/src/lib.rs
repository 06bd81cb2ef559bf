//! Shared pieces of the end-to-end benchmark programs in `perf/`:
//! the command line every bench program accepts, the result record and its
//! one-line JSON form, CPU accounting and latency histograms.
//!
//! Every program measures against the same kernel-side servers,
//! [`ringtcp::lab::peer::KernelPeer`], so that figures differ only by the
//! stack under test. The JSON keys are the contract with `compare` and with
//! ringtcp's own `examples/bench`:
//!
//! `label`, `mode`, `gbps` (download/upload), `p50_us`, `p90_us`, `p99_us`,
//! `p999_us`, `max_us`, `per_sec` (pingpong: round trips/s, connect:
//! connections/s), `cpu_user_s`, `cpu_sys_s` (the stack's or client's
//! thread, `cpu_scope` says which), `seconds`, `mtu`, `settings`; extra keys
//! (`samples`, `process_cpu_user_s`, `process_cpu_sys_s`) are informative.

use std::fmt;
use std::io;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// The four workloads, each served by one port of the kernel peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Read from the peer's port 5201 for `--seconds`; Gbit/s measured here,
    /// by the receiver.
    Download,
    /// Write to port 5202 for `--seconds`; Gbit/s from the bytes the kernel
    /// peer received over the same interval.
    Upload,
    /// `--size`-byte request, same-size echo from port 5203, one at a time.
    Pingpong,
    /// A new connection per request to port 5204: connect, send 64 bytes,
    /// read the echo, close.
    Connect,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Download, Mode::Upload, Mode::Pingpong, Mode::Connect];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Download => "download",
            Mode::Upload => "upload",
            Mode::Pingpong => "pingpong",
            Mode::Connect => "connect",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Flags shared by `smol-bench`, `kernel-bench` and ringtcp's `bench`.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// Workload to run.
    #[arg(value_enum)]
    pub mode: Mode,
    /// Length of the measured interval, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Request (and echo) size for pingpong, in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Interface MTU (the TUN device, or both veth ends).
    #[arg(long, default_value_t = 1500)]
    pub mtu: usize,
    /// Print one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Run every thread on CPU 0 (sched_setaffinity before any thread
    /// starts), for same-core latency figures.
    #[arg(long)]
    pub pin1cpu: bool,
}

impl CommonArgs {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.001))
    }
}

/// Bytes of the request sent per connection in `connect` mode.
pub const CONNECT_MSG: usize = 64;
/// Socket buffer size asked for everywhere (as the anchor figures used).
pub const SOCKET_BUFFER: usize = 1 << 20;
/// Application read/write chunk for the bulk modes.
pub const BULK_CHUNK: usize = 256 * 1024;

/// CPU time used so far, from `getrusage`: [`CpuTime::thread`] for the
/// calling thread (the one running the stack or the client, as ringtcp's
/// bench reports with `"cpu_scope": "loop thread"`), [`CpuTime::process`]
/// for all threads, the in-process kernel peer included.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    pub user_s: f64,
    pub sys_s: f64,
}

/// The calling thread's and the whole process's CPU time, taken together.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSnapshot {
    pub thread: CpuTime,
    pub process: CpuTime,
}

impl CpuSnapshot {
    pub fn now() -> CpuSnapshot {
        CpuSnapshot {
            thread: CpuTime::thread(),
            process: CpuTime::process(),
        }
    }

    pub fn since(self, earlier: CpuSnapshot) -> CpuSnapshot {
        CpuSnapshot {
            thread: self.thread.since(earlier.thread),
            process: self.process.since(earlier.process),
        }
    }
}

impl CpuTime {
    pub fn thread() -> CpuTime {
        CpuTime::rusage(libc::RUSAGE_THREAD)
    }

    pub fn process() -> CpuTime {
        CpuTime::rusage(libc::RUSAGE_SELF)
    }

    fn rusage(who: libc::c_int) -> CpuTime {
        // SAFETY: getrusage only writes the struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::getrusage(who, &mut ru) };
        if rc != 0 {
            return CpuTime::default();
        }
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        CpuTime {
            user_s: secs(ru.ru_utime),
            sys_s: secs(ru.ru_stime),
        }
    }

    /// CPU time spent since `earlier`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
        }
    }
}

/// Round-trip times in nanoseconds, 1 ns to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Record one round trip.
pub fn record(h: &mut Histogram<u64>, rtt: Duration) {
    let ns = (rtt.as_nanos() as u64).clamp(1, h.high());
    h.saturating_record(ns);
}

/// Latency percentiles of one run, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub count: u64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            count: h.len(),
        }
    }
}

/// One run's result, printed as a readable line and as JSON.
#[derive(Clone, Debug)]
pub struct Report {
    pub label: String,
    pub mode: Mode,
    pub gbps: Option<f64>,
    pub latency: Option<Latency>,
    pub per_sec: Option<f64>,
    /// CPU of the thread that runs the stack (smoltcp) or the client
    /// (kernel) over the measured interval, and of the whole process.
    pub cpu: CpuSnapshot,
    /// What `cpu.thread` covers, e.g. "stack thread".
    pub cpu_scope: &'static str,
    pub seconds: f64,
    pub mtu: usize,
    pub settings: Map<String, Value>,
}

impl Report {
    /// A report of `mode` measured since `start`, with the CPU used since
    /// `cpu0`; the figures are filled in by the caller.
    pub fn since(
        label: &str,
        cpu_scope: &'static str,
        mode: Mode,
        start: std::time::Instant,
        cpu0: CpuSnapshot,
    ) -> Report {
        Report {
            label: label.into(),
            mode,
            gbps: None,
            latency: None,
            per_sec: None,
            cpu: CpuSnapshot::now().since(cpu0),
            cpu_scope,
            seconds: start.elapsed().as_secs_f64(),
            mtu: 0,
            settings: Map::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("label".into(), json!(self.label));
        o.insert("mode".into(), json!(self.mode.name()));
        if let Some(g) = self.gbps {
            o.insert("gbps".into(), json!(round(g, 4)));
        }
        if let Some(l) = self.latency {
            o.insert("p50_us".into(), json!(round(l.p50_us, 3)));
            o.insert("p90_us".into(), json!(round(l.p90_us, 3)));
            o.insert("p99_us".into(), json!(round(l.p99_us, 3)));
            o.insert("p999_us".into(), json!(round(l.p999_us, 3)));
            o.insert("max_us".into(), json!(round(l.max_us, 3)));
            o.insert("samples".into(), json!(l.count));
        }
        if let Some(p) = self.per_sec {
            o.insert("per_sec".into(), json!(round(p, 1)));
        }
        o.insert("cpu_user_s".into(), json!(round(self.cpu.thread.user_s, 3)));
        o.insert("cpu_sys_s".into(), json!(round(self.cpu.thread.sys_s, 3)));
        o.insert("cpu_scope".into(), json!(self.cpu_scope));
        o.insert(
            "process_cpu_user_s".into(),
            json!(round(self.cpu.process.user_s, 3)),
        );
        o.insert(
            "process_cpu_sys_s".into(),
            json!(round(self.cpu.process.sys_s, 3)),
        );
        o.insert("seconds".into(), json!(round(self.seconds, 4)));
        o.insert("mtu".into(), json!(self.mtu));
        o.insert("settings".into(), Value::Object(self.settings.clone()));
        Value::Object(o)
    }

    /// The readable line.
    pub fn line(&self) -> String {
        let mut s = format!("{} {}:", self.label, self.mode);
        if let Some(g) = self.gbps {
            s += &format!(" {g:.2} Gbit/s");
        }
        if let Some(l) = self.latency {
            s += &format!(
                " p50 {:.1} µs, p90 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1} ({} samples)",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.count
            );
        }
        if let Some(p) = self.per_sec {
            let unit = if self.mode == Mode::Connect {
                "connections/s"
            } else {
                "round trips/s"
            };
            s += &format!(", {p:.0} {unit}");
        }
        s += &format!(
            " | {:.2} s, {} cpu user {:.2} s sys {:.2} s (process {:.2} + {:.2}), mtu {}",
            self.seconds,
            self.cpu_scope,
            self.cpu.thread.user_s,
            self.cpu.thread.sys_s,
            self.cpu.process.user_s,
            self.cpu.process.sys_s,
            self.mtu
        );
        s
    }

    /// Print the readable line, then (with `json`) the JSON object as the
    /// last line of stdout.
    pub fn print(&self, json: bool) {
        println!("{}", self.line());
        if json {
            println!("{}", self.to_json());
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Pin the calling thread to CPU 0. Threads it starts afterwards inherit
/// the mask, so call this first thing in `main` to pin the whole process.
pub fn pin_to_cpu0() -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Gbit/s from a byte count over a duration.
pub fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e9
}

/// Print an error the way every bench program does and exit with status 1.
pub fn die(what: &str, e: impl fmt::Display) -> ! {
    eprintln!("error: {what}: {e}");
    std::process::exit(1)
}

/// Kernel counters of one network namespace, read through `/proc` files
/// opened while the calling thread was in it (a `/proc/.../net` file stays
/// bound to the namespace it was opened in, whichever thread reads it
/// later): TCP retransmissions and per-interface drops.
#[derive(Debug)]
pub struct NetCounters {
    snmp: std::fs::File,
    dev: std::fs::File,
}

impl NetCounters {
    /// Open the counters of the calling thread's network namespace.
    pub fn open() -> io::Result<NetCounters> {
        Ok(NetCounters {
            snmp: std::fs::File::open("/proc/thread-self/net/snmp")?,
            dev: std::fs::File::open("/proc/thread-self/net/dev")?,
        })
    }

    fn read(f: &mut std::fs::File) -> Option<String> {
        use std::io::{Read, Seek};
        f.seek(io::SeekFrom::Start(0)).ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        Some(s)
    }

    /// `Tcp: RetransSegs`: segments the kernel retransmitted, all sockets.
    pub fn retrans_segs(&mut self) -> Option<u64> {
        let text = Self::read(&mut self.snmp)?;
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let names = tcp.next()?;
        let values = tcp.next()?;
        let i = names.split_whitespace().position(|n| n == "RetransSegs")?;
        values.split_whitespace().nth(i)?.parse().ok()
    }

    /// Packets the kernel dropped on transmit through `ifname` (for a TUN
    /// device: packets towards the userspace stack dropped because its
    /// queue was full).
    pub fn tx_dropped(&mut self, ifname: &str) -> Option<u64> {
        let text = Self::read(&mut self.dev)?;
        let line = text
            .lines()
            .find(|l| l.trim_start().split(':').next() == Some(ifname))?;
        let (_, fields) = line.split_once(':')?;
        // rx: bytes packets errs drop fifo frame compressed multicast,
        // tx: bytes packets errs drop ...
        fields.split_whitespace().nth(11)?.parse().ok()
    }
}
