//! ringtcp's throughput and latency benchmark.
//!
//! `bench --lab MODE` makes its own private network namespace with the Linux
//! kernel as the peer (no set-up at all; needs root or user namespaces).
//! `bench --peer IP:PORT MODE` runs over the TUN device against any plain
//! server: `download` reads until the server closes (e.g. `nc -l < file`),
//! `upload` writes to a server that discards, `pingpong` talks to an echo
//! server, `connect` to a server that answers one message and closes.

mod common;

use clap::{Parser, ValueEnum};
use common::{DeviceArgs, die};
use hdrhistogram::Histogram;
use ringtcp::api::{Runtime, RuntimeConfig, StopMode};
use ringtcp::lab::peer::{CONNECT_PORT, DOWNLOAD_PORT, KernelPeer, PINGPONG_PORT, UPLOAD_PORT};
use ringtcp::lab::{KERNEL_ADDR, Lab, LabConfig};
use ringtcp::runtime::{Context, Driver, Handler, RuntimeStats, process_cpu_time, thread_cpu_time};
use ringtcp::stack::{Counters, Event, SocketError, SocketHandle};
use ringtcp::tcp::TcpInfo;
use std::io::{Read, Write};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Measure ringtcp's throughput and latency",
    after_help = "Examples:\n  bench --lab download\n  bench --lab pingpong --size 64 --seconds 10\n  bench --lab streams 4 --json\n  bench --peer 192.0.2.1:5201 --tun tun0 download"
)]
struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    mode: Mode,
    /// For `streams`: how many parallel connections.
    #[arg(value_name = "N")]
    n: Option<usize>,
    /// Make a private network namespace with the Linux kernel as peer.
    #[arg(long, conflicts_with = "peer")]
    lab: bool,
    /// Run against this plain server over the TUN device instead.
    #[arg(long, value_name = "IP:PORT")]
    peer: Option<SocketAddrV4>,
    /// Drive the stack from inside the loop (fastest) or through the
    /// blocking TcpStream API (shows what the thread hop costs).
    #[arg(long, value_enum, default_value_t = Api::Inloop)]
    api: Api,
    /// Stop after this many bytes (download, upload, streams).
    #[arg(long, value_name = "N")]
    bytes: Option<u64>,
    /// Run for this long.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    seconds: f64,
    /// Message size for pingpong and connect.
    #[arg(long, value_name = "N", default_value_t = 64)]
    size: usize,
    /// Connections in flight at once (connect) or in parallel (streams).
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// MTU of the lab's TUN device.
    #[arg(long, value_name = "BYTES", default_value_t = 1500)]
    mtu: usize,
    /// Print one JSON object with every figure on the last line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dev: DeviceArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The peer sends, ringtcp receives (throughput measured by ringtcp).
    Download,
    /// ringtcp sends, the peer receives (measured by the peer in --lab).
    Upload,
    /// Request/response of --size bytes: round-trip percentiles.
    Pingpong,
    /// New connections per second, each one small request/response.
    Connect,
    /// N parallel downloads.
    Streams,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Inloop,
    Blocking,
}

/// What a run measured.
#[derive(Debug, Default)]
struct Outcome {
    bytes: u64,
    elapsed: Duration,
    /// Round trips (pingpong) or connections (connect), in microseconds.
    hist: Option<Histogram<u64>>,
    count: u64,
    cpu_user: Duration,
    cpu_sys: Duration,
    infos: Vec<TcpInfo>,
    errors: Vec<String>,
    /// The loop's and the stack's counters (in-loop API only).
    device: Option<(RuntimeStats, Counters)>,
    /// Packets the kernel dropped towards the TUN reader during the run.
    tun_drops: Option<u64>,
    /// The device ran with checksum offload and TSO.
    offloads: bool,
}

fn main() {
    let cli = Cli::parse();
    if cli.seconds <= 0.0 || !cli.seconds.is_finite() {
        die("--seconds must be a positive number of seconds");
    }
    if cli.size == 0 || cli.size > 1 << 20 {
        die("--size must be between 1 and 1048576 bytes");
    }
    if cli.mode == Mode::Streams && cli.n.is_none() && cli.connections.is_none() {
        die("streams needs a count: bench --lab streams 4");
    }
    if cli.mode != Mode::Streams && cli.n.is_some() {
        die("only `streams` takes a count; use --connections N for connect");
    }
    if !cli.lab && cli.peer.is_none() {
        die("say where the peer is: --lab (a private namespace with the kernel) or --peer IP:PORT");
    }
    let mut lab = None;
    let mut kernel_peer = None;
    let remote = if cli.lab {
        let l = Lab::enter(LabConfig {
            mtu: cli.mtu,
            vnet_hdr: !cli.dev.no_offloads,
            offloads: !cli.dev.no_offloads,
            ..LabConfig::default()
        })
        .unwrap_or_else(|e| die(format!("cannot make the lab namespace: {e} (run as root, or without --lab against a TUN made by scripts/setup-tun.sh)")));
        let p = KernelPeer::start(KERNEL_ADDR)
            .unwrap_or_else(|e| die(format!("cannot start the kernel peer: {e}")));
        lab = Some(l);
        kernel_peer = Some(p);
        let port = match cli.mode {
            Mode::Download | Mode::Streams => DOWNLOAD_PORT,
            Mode::Upload => UPLOAD_PORT,
            Mode::Pingpong => PINGPONG_PORT,
            Mode::Connect => CONNECT_PORT,
        };
        SocketAddrV4::new(KERNEL_ADDR, port)
    } else {
        cli.peer.expect("checked above")
    };
    let tun = match lab.as_mut() {
        Some(l) => l.take_tun(),
        None => cli.dev.open().unwrap_or_else(|e| die(e)),
    };
    let mut cfg = cli.dev.runtime_config();
    if cli.lab {
        cfg.stack.addr = ringtcp::lab::STACK_ADDR;
    }
    let uploaded: Option<Arc<dyn Fn() -> u64 + Send + Sync>> = kernel_peer.map(|p| {
        let p = Arc::new(p);
        Arc::new(move || p.uploaded()) as Arc<dyn Fn() -> u64 + Send + Sync>
    });
    let plan = Plan {
        mode: cli.mode,
        remote,
        size: cli.size,
        seconds: Duration::from_secs_f64(cli.seconds),
        bytes: cli.bytes,
        connections: cli.n.or(cli.connections).unwrap_or(1).max(1),
        receiver_bytes: uploaded,
        tun_name: tun.name().to_owned(),
    };
    let offloads = tun.offloads_enabled();
    let mut out = match cli.api {
        Api::Inloop => run_inloop(tun, cfg, &plan),
        Api::Blocking => run_blocking(tun, cfg, &plan),
    };
    out.offloads = offloads;
    report(&cli, &plan, &out);
    if !out.errors.is_empty() {
        std::process::exit(1);
    }
}

struct Plan {
    mode: Mode,
    remote: SocketAddrV4,
    size: usize,
    seconds: Duration,
    bytes: Option<u64>,
    connections: usize,
    /// The receiver's byte count, where the receiver is ours to ask.
    receiver_bytes: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// The TUN device, for the kernel's drop counter (read while the
    /// device is open: a lab's device goes when its descriptor closes).
    tun_name: String,
}

impl Plan {
    fn tun_drops(&self) -> Option<u64> {
        ringtcp::device::netif::tx_dropped(&self.tun_name).ok()
    }
}

#[derive(Debug)]
struct Flow {
    h: SocketHandle,
    /// Bytes of the current response received (pingpong, connect).
    got: usize,
    /// When the current request or connection started.
    t0: Instant,
    open: bool,
}

/// The in-loop benchmark: every mode as a [`Handler`].
struct Bench<'p> {
    plan: &'p Plan,
    flows: Vec<Flow>,
    buf: Vec<u8>,
    msg: Vec<u8>,
    start: Option<Instant>,
    receiver_at_start: u64,
    drops_at_start: Option<u64>,
    out: Outcome,
    cpu0: (Duration, Duration),
    finished: bool,
}

impl Bench<'_> {
    fn flow(&mut self, h: SocketHandle) -> Option<usize> {
        self.flows.iter().position(|f| f.h == h)
    }

    fn open(&mut self, cx: &mut Context<'_>) {
        match cx.connect(self.plan.remote) {
            Ok(h) => {
                if matches!(self.plan.mode, Mode::Pingpong | Mode::Connect) {
                    let _ = cx.stack().set_nodelay(h, true);
                }
                self.flows.push(Flow {
                    h,
                    got: 0,
                    t0: Instant::now(),
                    open: true,
                });
            }
            Err(e) => self.fail(cx, format!("connect to {}: {e}", self.plan.remote)),
        }
    }

    fn fail(&mut self, cx: &mut Context<'_>, msg: String) {
        self.out.errors.push(msg);
        self.finish(cx);
    }

    fn started(&mut self) {
        if self.start.is_none() {
            self.start = Some(Instant::now());
            self.receiver_at_start = self.plan.receiver_bytes.as_ref().map_or(0, |f| f());
            self.drops_at_start = self.plan.tun_drops();
        }
    }

    fn send_all(&mut self, cx: &mut Context<'_>, h: SocketHandle) {
        loop {
            if self.plan.bytes.is_some_and(|b| self.out.bytes >= b) {
                return;
            }
            match cx.send(h, &self.buf) {
                Ok(n) => self.out.bytes += n as u64,
                Err(SocketError::WouldBlock) => return,
                Err(e) => {
                    self.fail(cx, format!("send: {e}"));
                    return;
                }
            }
        }
    }

    fn drain(&mut self, cx: &mut Context<'_>, h: SocketHandle) -> Result<usize, ()> {
        let mut total = 0;
        loop {
            match cx.recv(h, &mut self.buf) {
                Ok(0) => return if total == 0 { Err(()) } else { Ok(total) },
                Ok(n) => total += n,
                Err(SocketError::WouldBlock) => return Ok(total),
                Err(e) => {
                    self.fail(cx, format!("recv: {e}"));
                    return Err(());
                }
            }
        }
    }

    fn on_readable(&mut self, cx: &mut Context<'_>, h: SocketHandle) {
        let Some(i) = self.flow(h) else { return };
        match self.plan.mode {
            Mode::Download | Mode::Streams => {
                if let Ok(n) = self.drain(cx, h) {
                    self.out.bytes += n as u64;
                } else if !self.finished {
                    self.fail(cx, "the server closed the connection early".into());
                }
            }
            Mode::Upload => {
                let _ = self.drain(cx, h);
            }
            Mode::Pingpong | Mode::Connect => {
                let got = self.drain(cx, h);
                let size = self.plan.size;
                let flow = &mut self.flows[i];
                match got {
                    Ok(n) => flow.got += n,
                    Err(()) if self.plan.mode == Mode::Connect && flow.got >= size => {}
                    Err(()) => {
                        if !self.finished {
                            self.fail(cx, "the server closed the connection early".into());
                        }
                        return;
                    }
                }
                let flow = &mut self.flows[i];
                if flow.got < size {
                    return;
                }
                let us = flow.t0.elapsed().as_nanos() as u64 / 1000;
                if let Some(hist) = self.out.hist.as_mut() {
                    let _ = hist.record(us.max(1));
                }
                self.out.count += 1;
                if self.plan.mode == Mode::Pingpong {
                    flow.got -= size;
                    flow.t0 = Instant::now();
                    let _ = cx.send(h, &self.msg);
                } else {
                    // One request per connection: close and open the next.
                    flow.open = false;
                    let _ = cx.close(h);
                    self.flows.swap_remove(i);
                    if !self.finished {
                        self.open(cx);
                    }
                }
            }
        }
    }

    fn finish(&mut self, cx: &mut Context<'_>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.out.elapsed = self.start.map_or(Duration::ZERO, |s| s.elapsed());
        self.out.tun_drops = self
            .drops_at_start
            .zip(self.plan.tun_drops())
            .map(|(a, b)| b.saturating_sub(a));
        if let Some(f) = &self.plan.receiver_bytes
            && self.plan.mode == Mode::Upload
        {
            self.out.bytes = f() - self.receiver_at_start;
        }
        let cpu = thread_cpu_time().unwrap_or_default();
        self.out.cpu_user = cpu.0.saturating_sub(self.cpu0.0);
        self.out.cpu_sys = cpu.1.saturating_sub(self.cpu0.1);
        for f in &self.flows {
            if let Ok(info) = cx.stack().info(f.h) {
                self.out.infos.push(info);
            }
        }
        let handles: Vec<_> = self.flows.iter().map(|f| f.h).collect();
        for h in handles {
            let _ = cx.abort(h);
        }
        cx.stop(StopMode::Reset);
    }
}

impl Handler for Bench<'_> {
    fn on_start(&mut self, cx: &mut Context<'_>) {
        self.cpu0 = thread_cpu_time().unwrap_or_default();
        let n = match self.plan.mode {
            Mode::Streams | Mode::Connect => self.plan.connections,
            _ => 1,
        };
        if self.plan.mode == Mode::Connect {
            self.started();
        }
        for _ in 0..n {
            self.open(cx);
        }
    }

    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        match event {
            Event::Connected(h) => {
                let Some(i) = self.flow(h) else { return };
                match self.plan.mode {
                    Mode::Download | Mode::Streams => self.started(),
                    Mode::Upload => {
                        self.started();
                        self.send_all(cx, h);
                    }
                    Mode::Pingpong => {
                        self.started();
                        self.flows[i].t0 = Instant::now();
                        let _ = cx.send(h, &self.msg);
                    }
                    Mode::Connect => {
                        let _ = cx.send(h, &self.msg);
                    }
                }
            }
            Event::Readable(h) | Event::PeerClosed(h) => self.on_readable(cx, h),
            Event::Writable(h) => {
                if self.plan.mode == Mode::Upload {
                    self.send_all(cx, h);
                }
            }
            Event::Error(h, e) => {
                if self.flow(h).is_some() && !self.finished {
                    self.fail(cx, format!("connection failed: {e}"));
                }
            }
            Event::Closed(_) | Event::Incoming(_) => {}
        }
    }

    fn on_turn(&mut self, cx: &mut Context<'_>) {
        let Some(start) = self.start else { return };
        let over_time = start.elapsed() >= self.plan.seconds;
        let over_bytes = self.plan.bytes.is_some_and(|b| self.out.bytes >= b);
        if over_time || over_bytes {
            self.finish(cx);
        }
    }
}

fn run_inloop(tun: ringtcp::device::Tun, cfg: RuntimeConfig, plan: &Plan) -> Outcome {
    let mut driver = Driver::new(tun, cfg).unwrap_or_else(|e| die(e));
    let mut bench = Bench {
        plan,
        flows: Vec::with_capacity(plan.connections + 1),
        buf: vec![0u8; 256 * 1024],
        msg: vec![0x42u8; plan.size],
        start: None,
        receiver_at_start: 0,
        drops_at_start: None,
        out: Outcome {
            hist: matches!(plan.mode, Mode::Pingpong | Mode::Connect)
                .then(|| Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")),
            ..Outcome::default()
        },
        cpu0: (Duration::ZERO, Duration::ZERO),
        finished: false,
    };
    // A watchdog: a run that never connects still ends.
    if let Err(e) = driver.run(&mut bench) {
        bench.out.errors.push(format!("loop: {e}"));
    }
    bench.out.device = Some((driver.stats().clone(), driver.stack_counters()));
    bench.out
}

fn print_device(out: &Outcome, json: &mut Vec<(&'static str, String)>) {
    if let Some(d) = out.tun_drops {
        json.push(("tun_tx_drops", d.to_string()));
    }
    let Some((rt, c)) = &out.device else { return };
    let avg = |b: u64, n: u64| b.checked_div(n).unwrap_or(0);
    println!(
        "  device       offloads {}: read {} frames (avg {} B, {} super), wrote {} (avg {} B, {} super), {} TUN drops, {} submits, {} rx re-arms, bulk spins {} ({} hits, {} misses), {} busy-poll hits",
        if out.offloads { "on" } else { "off" },
        rt.packets_read,
        avg(rt.bytes_read, rt.packets_read),
        c.rx_super_packets,
        rt.packets_written,
        avg(rt.bytes_written, rt.packets_written),
        c.tx_super_packets,
        out.tun_drops.map_or("?".into(), |d| d.to_string()),
        rt.submits,
        rt.rx_rearms,
        rt.bulk_spins,
        rt.bulk_spin_hits,
        rt.bulk_spin_misses,
        rt.busy_poll_hits,
    );
    json.push(("frames_read", rt.packets_read.to_string()));
    json.push(("frames_written", rt.packets_written.to_string()));
    json.push(("rx_super_packets", c.rx_super_packets.to_string()));
    json.push(("tx_super_packets", c.tx_super_packets.to_string()));
}

/// What one blocking benchmark thread measured: latencies, count, state.
type ThreadResult = Result<(Option<Histogram<u64>>, u64, Option<TcpInfo>), String>;

fn run_blocking(tun: ringtcp::device::Tun, cfg: RuntimeConfig, plan: &Plan) -> Outcome {
    let rt = Runtime::start(tun, cfg).unwrap_or_else(|e| die(e));
    let cpu0 = process_cpu_time().unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut out = Outcome::default();
    let threads = match plan.mode {
        Mode::Streams | Mode::Connect => plan.connections,
        _ => 1,
    };
    let receiver0 = plan.receiver_bytes.as_ref().map_or(0, |f| f());
    let start = Instant::now();
    let drops0 = plan.tun_drops();
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let mut joins = Vec::new();
        for _ in 0..threads {
            let (rt, stop, bytes) = (&rt, stop.clone(), bytes.clone());
            joins.push(s.spawn(move || -> Result<_, String> {
                let mut buf = vec![0u8; 256 * 1024];
                let msg = vec![0x42u8; plan.size];
                let mut hist =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let mut count = 0u64;
                let limit =
                    |b: &AtomicU64| plan.bytes.is_some_and(|l| b.load(Ordering::Relaxed) >= l);
                match plan.mode {
                    Mode::Download | Mode::Streams | Mode::Upload => {
                        let mut st = rt
                            .connect(plan.remote)
                            .map_err(|e| format!("connect: {e}"))?;
                        while !stop.load(Ordering::Relaxed) && !limit(&bytes) {
                            let n = if plan.mode == Mode::Upload {
                                st.write(&buf).map_err(|e| format!("write: {e}"))?
                            } else {
                                let n = st.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                                if n == 0 {
                                    return Err("the server closed the connection early".into());
                                }
                                n
                            };
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        let info = st.info().ok();
                        Ok((None, 0, info))
                    }
                    Mode::Pingpong => {
                        let mut st = rt
                            .connect(plan.remote)
                            .map_err(|e| format!("connect: {e}"))?;
                        st.set_nodelay(true).map_err(|e| e.to_string())?;
                        while !stop.load(Ordering::Relaxed) {
                            let t0 = Instant::now();
                            st.write_all(&msg).map_err(|e| format!("write: {e}"))?;
                            st.read_exact(&mut buf[..plan.size])
                                .map_err(|e| format!("read: {e}"))?;
                            let _ = hist.record((t0.elapsed().as_nanos() as u64 / 1000).max(1));
                            count += 1;
                        }
                        let info = st.info().ok();
                        Ok((Some(hist), count, info))
                    }
                    Mode::Connect => {
                        while !stop.load(Ordering::Relaxed) {
                            let t0 = Instant::now();
                            let mut st = rt
                                .connect(plan.remote)
                                .map_err(|e| format!("connect: {e}"))?;
                            st.set_nodelay(true).map_err(|e| e.to_string())?;
                            st.write_all(&msg).map_err(|e| format!("write: {e}"))?;
                            st.read_exact(&mut buf[..plan.size])
                                .map_err(|e| format!("read: {e}"))?;
                            drop(st);
                            let _ = hist.record((t0.elapsed().as_nanos() as u64 / 1000).max(1));
                            count += 1;
                        }
                        Ok((Some(hist), count, None))
                    }
                }
            }));
        }
        let deadline = start + plan.seconds;
        while Instant::now() < deadline
            && plan.bytes.is_none_or(|l| bytes.load(Ordering::Relaxed) < l)
        {
            if joins.iter().all(|j| j.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        out.elapsed = start.elapsed();
        out.tun_drops = drops0
            .zip(plan.tun_drops())
            .map(|(a, b)| b.saturating_sub(a));
        joins
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err("a benchmark thread panicked".into()))
            })
            .collect()
    });
    out.bytes = match (&plan.receiver_bytes, plan.mode) {
        (Some(f), Mode::Upload) => f() - receiver0,
        _ => bytes.load(Ordering::Relaxed),
    };
    for r in results {
        match r {
            Ok((hist, count, info)) => {
                if let Some(h) = hist {
                    match out.hist.as_mut() {
                        Some(all) => {
                            let _ = all.add(&h);
                        }
                        None => out.hist = Some(h),
                    }
                }
                out.count += count;
                out.infos.extend(info);
            }
            Err(e) => out.errors.push(e),
        }
    }
    let cpu = process_cpu_time().unwrap_or_default();
    out.cpu_user = cpu.0.saturating_sub(cpu0.0);
    out.cpu_sys = cpu.1.saturating_sub(cpu0.1);
    let _ = rt.shutdown(StopMode::Reset);
    out
}

fn report(cli: &Cli, plan: &Plan, out: &Outcome) {
    let secs = out.elapsed.as_secs_f64().max(1e-9);
    let where_ = if cli.lab {
        format!(
            "lab: kernel {KERNEL_ADDR} <-> ringtcp {}, MTU {}",
            ringtcp::lab::STACK_ADDR,
            cli.mtu
        )
    } else {
        format!("peer {} via {}", plan.remote, cli.dev.tun)
    };
    let api = match cli.api {
        Api::Inloop => "in-loop",
        Api::Blocking => "blocking",
    };
    let mode = format!("{:?}", plan.mode).to_lowercase();
    println!("ringtcp bench: {mode} via the {api} API, {secs:.2} s, {where_}");
    let gbps = out.bytes as f64 * 8.0 / secs / 1e9;
    let mut json = vec![
        ("label", "\"ringtcp\"".to_string()),
        ("mode", format!("\"{mode}\"")),
        ("api", format!("\"{api}\"")),
        ("seconds", format!("{secs:.6}")),
        ("mtu", cli.mtu.to_string()),
    ];
    match plan.mode {
        Mode::Download | Mode::Upload | Mode::Streams => {
            let who = if plan.mode == Mode::Upload && plan.receiver_bytes.is_none() {
                "sent by ringtcp"
            } else {
                "receiver-measured"
            };
            println!(
                "  throughput   {gbps:>10.3} Gbit/s  ({:.3} GB in {secs:.2} s, {who}, {} connection(s))",
                out.bytes as f64 / 1e9,
                if plan.mode == Mode::Streams {
                    plan.connections
                } else {
                    1
                }
            );
            json.push(("gbps", format!("{gbps:.4}")));
            json.push(("bytes", out.bytes.to_string()));
        }
        Mode::Pingpong | Mode::Connect => {
            let per_sec = out.count as f64 / secs;
            let what = if plan.mode == Mode::Pingpong {
                "round trips"
            } else {
                "connections"
            };
            println!(
                "  rate         {per_sec:>10.0} {what}/s ({} in {secs:.2} s)",
                out.count
            );
            json.push(("per_sec", format!("{per_sec:.1}")));
            json.push(("count", out.count.to_string()));
            if let Some(h) = out.hist.as_ref().filter(|h| !h.is_empty()) {
                let p = |q: f64| h.value_at_quantile(q) as f64;
                println!(
                    "  latency us   p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
                    p(0.5),
                    p(0.9),
                    p(0.99),
                    p(0.999),
                    h.max() as f64
                );
                for (k, q) in [
                    ("p50_us", 0.5),
                    ("p90_us", 0.9),
                    ("p99_us", 0.99),
                    ("p999_us", 0.999),
                ] {
                    json.push((k, format!("{:.1}", p(q))));
                }
                json.push(("max_us", format!("{:.1}", h.max() as f64)));
            }
        }
    }
    let cpu = (out.cpu_user + out.cpu_sys).as_secs_f64();
    let whose = if cli.api == Api::Inloop {
        "loop thread"
    } else {
        "process"
    };
    println!(
        "  cpu          {:>10.0} % of one core ({whose}: user {:.2} s, sys {:.2} s)",
        cpu / secs * 100.0,
        out.cpu_user.as_secs_f64(),
        out.cpu_sys.as_secs_f64()
    );
    json.push(("cpu_user_s", format!("{:.3}", out.cpu_user.as_secs_f64())));
    json.push(("cpu_sys_s", format!("{:.3}", out.cpu_sys.as_secs_f64())));
    json.push(("cpu_scope", format!("\"{whose}\"")));
    for info in out.infos.iter().take(8) {
        println!(
            "  conn {} -> {}: {} mss {} cwnd {} ssthresh {} srtt {} rcv rtt {} rcv wnd limit {} KiB rto {} ms, {} retransmitted, {} timeouts, {} fast rtx, cc {}",
            info.local,
            info.remote,
            info.state,
            info.snd_mss,
            info.cwnd,
            if info.ssthresh == usize::MAX {
                "inf".to_string()
            } else {
                info.ssthresh.to_string()
            },
            info.srtt
                .map_or("-".into(), |d| format!("{} us", d.as_micros())),
            info.rcv_rtt
                .map_or("-".into(), |d| format!("{} us", d.as_micros())),
            info.rcv_wnd_limit / 1024,
            info.rto.as_millis(),
            info.stats.segments_retransmitted,
            info.stats.timeouts,
            info.stats.fast_retransmits,
            info.congestion
        );
    }
    print_device(out, &mut json);
    let retrans: u64 = out
        .infos
        .iter()
        .map(|i| i.stats.segments_retransmitted)
        .sum();
    json.push(("retransmits", retrans.to_string()));
    for e in &out.errors {
        eprintln!("bench: {e}");
    }
    json.push(("errors", out.errors.len().to_string()));
    let settings = format!(
        "{{\"lab\":{},\"connections\":{},\"size\":{},\"seconds_asked\":{},\"bytes_asked\":{}}}",
        cli.lab,
        plan.connections,
        plan.size,
        plan.seconds.as_secs_f64(),
        plan.bytes.map_or("null".into(), |b| b.to_string())
    );
    json.push(("settings", settings));
    if cli.json {
        let body: Vec<String> = json.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        println!("{{{}}}", body.join(","));
    }
}
