//! smoltcp on the same lab TUN device, against the same kernel peer, as a
//! reference point for ringtcp.
//!
//! One smoltcp `Interface` (medium IP, 192.0.2.2/24) over a small
//! `phy::Device` that reads and writes ringtcp's lab `Tun` descriptor, one
//! packet per `read`/`write`. The loop polls the interface, runs the
//! workload against the socket, and only when neither moved anything sleeps
//! in `ppoll(2)` on the TUN descriptor until the interface's `poll_delay`
//! (or, with `--busy`, never sleeps). Sockets get 1 MiB buffers, Nagle off.
//!
//! Run as root (or with user namespaces): the lab is a private network
//! namespace that disappears with the process.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use clap::Parser;
use ringtcp::device::tun::Tun;
use ringtcp::lab::peer::{CONNECT_PORT, DOWNLOAD_PORT, KernelPeer, PINGPONG_PORT, UPLOAD_PORT};
use ringtcp::lab::{KERNEL_ADDR, Lab, LabConfig, PREFIX_LEN, STACK_ADDR};
use ringtcp_perf::{
    BULK_CHUNK, CONNECT_MSG, CommonArgs, CpuSnapshot, Latency, Mode, NetCounters, Report,
    SOCKET_BUFFER, die, gbps, new_histogram, pin_to_cpu0, record,
};
use serde_json::{Map, json};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

#[derive(Parser, Debug)]
#[command(
    about = "smoltcp over the lab TUN against the kernel peer (same workloads as ringtcp's bench)"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Never sleep: spin on the TUN descriptor instead of ppoll(2) when idle.
    #[arg(long)]
    busy: bool,
    /// Socket receive and send buffer size, bytes.
    #[arg(long, default_value_t = SOCKET_BUFFER)]
    buffer: usize,
    /// Kernel-side txqueuelen of the TUN device (packets queued towards us).
    #[arg(long)]
    txqueuelen: Option<u32>,
    /// Skip checksum verification on receive (checksums are still computed
    /// on transmit, which the kernel requires without offloads).
    #[arg(long)]
    no_rx_checksum: bool,
    /// ACK delay in ms (smoltcp's default is 10; 0 turns delayed ACKs off).
    #[arg(long)]
    ack_delay_ms: Option<u64>,
}

const LABEL: &str = "smoltcp";
/// A connection that takes longer than this to make progress is a failure.
const STALL: Duration = Duration::from_secs(5);

fn main() {
    let cli = Cli::parse();
    let args = &cli.common;
    if args.pin1cpu {
        pin_to_cpu0().unwrap_or_else(|e| die("sched_setaffinity", e));
    }
    // smoltcp reads plain IP packets: no vnet header, no offloads.
    let mut cfg = LabConfig {
        mtu: args.mtu,
        vnet_hdr: false,
        offloads: false,
        ..LabConfig::default()
    };
    if let Some(q) = cli.txqueuelen {
        cfg.txqueuelen = q;
    }
    let txqueuelen = cfg.txqueuelen;
    let mut lab = Lab::enter(cfg).unwrap_or_else(|e| die("lab", e));
    let peer = KernelPeer::start(KERNEL_ADDR).unwrap_or_else(|e| die("kernel peer", e));
    let tun = lab.take_tun();
    let mtu = lab.mtu();
    let tun_name = lab.tun_name().to_owned();
    let mut counters = NetCounters::open().ok();
    let snap = |c: &mut Option<NetCounters>| {
        c.as_mut()
            .map(|c| (c.retrans_segs(), c.tx_dropped(&tun_name)))
            .unwrap_or_default()
    };
    let mut net = Net::new(tun, mtu, &cli);

    let mut settings = Map::new();
    settings.insert(
        "stack".into(),
        json!("smoltcp 0.14 (medium-ip, no congestion control feature)"),
    );
    settings.insert("socket_buffer".into(), json!(cli.buffer));
    settings.insert("nagle".into(), json!(false));
    settings.insert(
        "ack_delay_ms".into(),
        json!(
            cli.ack_delay_ms
                .map_or("default (10)".to_string(), |d| d.to_string())
        ),
    );
    settings.insert(
        "idle".into(),
        json!(if cli.busy {
            "busy spin"
        } else {
            "ppoll until poll_delay"
        }),
    );
    settings.insert("rx_checksum".into(), json!(!cli.no_rx_checksum));
    settings.insert("txqueuelen".into(), json!(txqueuelen));
    settings.insert("pin1cpu".into(), json!(args.pin1cpu));
    settings.insert("app_chunk".into(), json!(BULK_CHUNK));
    if args.mode == Mode::Pingpong {
        settings.insert("size".into(), json!(args.size));
    }
    if args.mode == Mode::Connect {
        settings.insert("connect_socket_buffer".into(), json!(CONNECT_BUFFER));
        settings.insert("tcp_timestamps".into(), json!(true));
    }

    let before = snap(&mut counters);
    let result = match args.mode {
        Mode::Download => download(&mut net, args),
        Mode::Upload => upload(&mut net, args, &peer),
        Mode::Pingpong => pingpong(&mut net, args),
        Mode::Connect => connect_loop(&mut net, args),
    };
    let mut report = result.unwrap_or_else(|e| die(args.mode.name(), e));
    report.mtu = mtu;
    let after = snap(&mut counters);
    let delta = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
    settings.insert("tx_write_errors".into(), json!(net.dev.tx_errors));
    settings.insert(
        "kernel_retrans_segs".into(),
        json!(delta(after.0, before.0)),
    );
    settings.insert("tun_tx_drops".into(), json!(delta(after.1, before.1)));
    report.settings = settings;
    report.print(args.json);
}

// ---------------------------------------------------------------------------
// The device: one packet per read(2)/write(2) on the lab's TUN descriptor.

struct TunDevice {
    tun: Tun,
    mtu: usize,
    rx: Vec<u8>,
    tx: Vec<u8>,
    rx_packets: u64,
    tx_packets: u64,
    tx_errors: u64,
    checksum: ChecksumCapabilities,
}

struct RxTok<'a>(&'a [u8]);

struct TxTok<'a> {
    tun: &'a Tun,
    buf: &'a mut [u8],
    sent: &'a mut u64,
    errors: &'a mut u64,
}

impl phy::Device for TunDevice {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _now: SInstant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        match self.tun.read(&mut self.rx) {
            Ok(n) => {
                self.rx_packets += 1;
                Some((
                    RxTok(&self.rx[..n]),
                    TxTok {
                        tun: &self.tun,
                        buf: &mut self.tx,
                        sent: &mut self.tx_packets,
                        errors: &mut self.tx_errors,
                    },
                ))
            }
            Err(_) => None,
        }
    }

    fn transmit(&mut self, _now: SInstant) -> Option<TxTok<'_>> {
        Some(TxTok {
            tun: &self.tun,
            buf: &mut self.tx,
            sent: &mut self.tx_packets,
            errors: &mut self.tx_errors,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.checksum = self.checksum.clone();
        caps
    }
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(self.buf.len());
        let r = f(&mut self.buf[..len]);
        match self.tun.write(&self.buf[..len]) {
            Ok(_) => *self.sent += 1,
            // A full queue drops the packet, as a NIC would; TCP recovers.
            Err(_) => *self.errors += 1,
        }
        r
    }
}

// ---------------------------------------------------------------------------
// The interface, its sockets and the loop's two halves.

struct Net {
    iface: Interface,
    dev: TunDevice,
    sockets: SocketSet<'static>,
    busy: bool,
    buffer: usize,
    ack_delay: Option<Option<smoltcp::time::Duration>>,
    next_port: u16,
}

/// Buffers of a `connect` socket: a 64-byte request needs no more.
const CONNECT_BUFFER: usize = 16 * 1024;
const FIRST_PORT: u16 = 10_000;
const LAST_PORT: u16 = 65_000;

impl Net {
    fn new(tun: Tun, mtu: usize, cli: &Cli) -> Net {
        let mut checksum = ChecksumCapabilities::default();
        if cli.no_rx_checksum {
            checksum.ipv4 = Checksum::Tx;
            checksum.tcp = Checksum::Tx;
        }
        let mut dev = TunDevice {
            tun,
            mtu,
            rx: vec![0; 65_536],
            tx: vec![0; mtu.max(65_536)],
            rx_packets: 0,
            tx_packets: 0,
            tx_errors: 0,
            checksum,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed();
        let mut iface = Interface::new(config, &mut dev, SInstant::now());
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(STACK_ADDR), PREFIX_LEN))
                .expect("one address fits");
        });
        let ack_delay = cli.ack_delay_ms.map(|ms| {
            if ms == 0 {
                None
            } else {
                Some(smoltcp::time::Duration::from_millis(ms))
            }
        });
        Net {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            busy: cli.busy,
            buffer: cli.buffer,
            ack_delay,
            next_port: FIRST_PORT + (seed() % u64::from(LAST_PORT - FIRST_PORT)) as u16,
        }
    }

    /// Poll the interface once: ingress of everything queued, then egress.
    /// True if any packet went in or out.
    fn step(&mut self) -> bool {
        let before = (self.dev.rx_packets, self.dev.tx_packets);
        self.iface
            .poll(SInstant::now(), &mut self.dev, &mut self.sockets);
        (self.dev.rx_packets, self.dev.tx_packets) != before
    }

    /// Nothing moved: sleep until a packet arrives or smoltcp has a timer
    /// due, at most `cap`.
    fn idle(&mut self, cap: Duration) {
        if self.busy {
            return;
        }
        let wait = self
            .iface
            .poll_delay(SInstant::now(), &self.sockets)
            .map_or(cap, |d| Duration::from_micros(d.total_micros()).min(cap));
        if wait.is_zero() {
            return;
        }
        let mut pfd = libc::pollfd {
            fd: self.dev.tun.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    }

    /// A new socket connecting to the kernel peer's `port`.
    fn connect(&mut self, port: u16, buffer: usize) -> io::Result<SocketHandle> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        s.set_nagle_enabled(false);
        s.set_tsval_generator(Some(tsval));
        if let Some(d) = self.ack_delay {
            s.set_ack_delay(d);
        }
        let local = self.next_port;
        self.next_port = if local >= LAST_PORT {
            FIRST_PORT
        } else {
            local + 1
        };
        s.connect(
            self.iface.context(),
            IpEndpoint::new(IpAddress::Ipv4(KERNEL_ADDR), port),
            local,
        )
        .map_err(|e| io::Error::other(format!("connect: {e}")))?;
        Ok(self.sockets.add(s))
    }

    fn sock(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Run the loop until the socket is established.
    fn establish(&mut self, h: SocketHandle) -> io::Result<()> {
        let start = Instant::now();
        loop {
            let moved = self.step();
            let state = self.sock(h).state();
            match state {
                tcp::State::Established => return Ok(()),
                tcp::State::SynSent | tcp::State::SynReceived => {}
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("connection ended in {other} while connecting"),
                    ));
                }
            }
            if start.elapsed() > STALL {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            if !moved {
                self.idle(Duration::from_millis(50));
            }
        }
    }

    /// Reset the connection and push the RST out.
    fn abort(&mut self, h: SocketHandle) {
        self.sock(h).abort();
        self.step();
        self.sockets.remove(h);
    }
}

/// TCP timestamps from one monotonic microsecond clock for all sockets, so
/// that the kernel accepts a new SYN on a port whose previous connection it
/// still holds in TIME-WAIT (RFC 6191) in `connect` mode.
fn tsval() -> u32 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u32 | 1
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

fn report(mode: Mode, start: Instant, cpu0: CpuSnapshot) -> Report {
    Report::since(LABEL, "stack thread", mode, start, cpu0)
}

fn closed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("the peer closed the connection during {what}"),
    )
}

// ---------------------------------------------------------------------------
// Workloads.

fn download(net: &mut Net, args: &CommonArgs) -> io::Result<Report> {
    let h = net.connect(DOWNLOAD_PORT, net.buffer)?;
    net.establish(h)?;
    let mut buf = vec![0u8; BULK_CHUNK];
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < dur {
        let moved = net.step();
        let s = net.sock(h);
        let mut progress = false;
        while s.can_recv() {
            let n = s.recv_slice(&mut buf).map_err(|_| closed("download"))?;
            bytes += n as u64;
            progress = true;
        }
        if !s.may_recv() {
            return Err(closed("download"));
        }
        if !moved && !progress {
            net.idle(Duration::from_millis(10));
        }
    }
    let mut r = report(Mode::Download, start, cpu0);
    r.gbps = Some(gbps(bytes, r.seconds));
    net.abort(h);
    Ok(r)
}

fn upload(net: &mut Net, args: &CommonArgs, peer: &KernelPeer) -> io::Result<Report> {
    let h = net.connect(UPLOAD_PORT, net.buffer)?;
    net.establish(h)?;
    let buf = vec![0xa5u8; BULK_CHUNK];
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    let base = peer.uploaded();
    while start.elapsed() < dur {
        let moved = net.step();
        let s = net.sock(h);
        let mut progress = false;
        while s.can_send() {
            match s.send_slice(&buf) {
                Ok(0) => break,
                Ok(_) => progress = true,
                Err(_) => return Err(closed("upload")),
            }
        }
        if !s.may_send() {
            return Err(closed("upload"));
        }
        if !moved && !progress {
            net.idle(Duration::from_millis(10));
        }
    }
    let received = peer.uploaded() - base;
    let mut r = report(Mode::Upload, start, cpu0);
    r.gbps = Some(gbps(received, r.seconds));
    net.abort(h);
    Ok(r)
}

fn pingpong(net: &mut Net, args: &CommonArgs) -> io::Result<Report> {
    let size = args.size.max(1);
    let h = net.connect(PINGPONG_PORT, net.buffer)?;
    net.establish(h)?;
    let req = vec![0x42u8; size];
    let mut buf = vec![0u8; size];
    let mut hist = new_histogram();
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    let mut sent_at = Instant::now();
    let mut got = 0usize;
    net.sock(h)
        .send_slice(&req)
        .map_err(|_| closed("pingpong"))?;
    let mut last_progress = Instant::now();
    loop {
        let moved = net.step();
        let s = net.sock(h);
        let mut progress = false;
        while s.can_recv() && got < size {
            got += s
                .recv_slice(&mut buf[got..])
                .map_err(|_| closed("pingpong"))?;
            progress = true;
        }
        if got == size {
            let now = Instant::now();
            record(&mut hist, now - sent_at);
            got = 0;
            if now - start >= dur {
                break;
            }
            sent_at = Instant::now();
            let s = net.sock(h);
            if s.send_slice(&req).map_err(|_| closed("pingpong"))? != size {
                return Err(io::Error::other("request did not fit the send buffer"));
            }
        }
        if progress {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "pingpong stalled"));
        }
        if !moved && !progress {
            net.idle(Duration::from_millis(10));
        }
    }
    let mut r = report(Mode::Pingpong, start, cpu0);
    let lat = Latency::from_histogram(&hist);
    r.per_sec = Some(lat.count as f64 / r.seconds);
    r.latency = Some(lat);
    net.abort(h);
    Ok(r)
}

/// Connect, send 64 bytes, read the echo, close, until `--seconds` is over.
/// As with `close(2)` on a kernel socket, a connection counts as done once
/// the echo is in and the close is requested; the FIN exchange finishes in
/// the background and the socket is freed once it reaches CLOSED or
/// TIME-WAIT (its final ACK went out in the poll that got it there).
fn connect_loop(net: &mut Net, args: &CommonArgs) -> io::Result<Report> {
    let msg = [0x17u8; CONNECT_MSG];
    let mut buf = [0u8; CONNECT_MSG];
    let mut hist = new_histogram();
    let mut closing: Vec<(SocketHandle, Instant)> = Vec::new();
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    while start.elapsed() < dur {
        let t0 = Instant::now();
        let h = net.connect(CONNECT_PORT, CONNECT_BUFFER)?;
        let mut sent = false;
        let mut got = 0usize;
        loop {
            let moved = net.step();
            reap(net, &mut closing);
            let s = net.sock(h);
            let mut progress = false;
            let state = s.state();
            if !sent && state == tcp::State::Established {
                s.send_slice(&msg).map_err(|_| closed("connect"))?;
                sent = true;
                progress = true;
            }
            while s.can_recv() && got < CONNECT_MSG {
                got += s
                    .recv_slice(&mut buf[got..])
                    .map_err(|_| closed("connect"))?;
                progress = true;
            }
            if got == CONNECT_MSG {
                s.close();
                closing.push((h, Instant::now()));
                break;
            }
            if state == tcp::State::Closed {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "connection closed before the echo arrived",
                ));
            }
            if t0.elapsed() > STALL {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection stalled in {state}"),
                ));
            }
            if !moved && !progress {
                net.idle(Duration::from_millis(10));
            }
        }
        record(&mut hist, t0.elapsed());
    }
    let mut r = report(Mode::Connect, start, cpu0);
    let lat = Latency::from_histogram(&hist);
    r.per_sec = Some(lat.count as f64 / r.seconds);
    r.latency = Some(lat);
    // Let the last closes finish (not timed).
    let drain = Instant::now();
    while !closing.is_empty() && drain.elapsed() < Duration::from_secs(1) {
        if !net.step() {
            net.idle(Duration::from_millis(10));
        }
        reap(net, &mut closing);
    }
    Ok(r)
}

/// Free the sockets whose close has completed; reset those stuck closing.
fn reap(net: &mut Net, closing: &mut Vec<(SocketHandle, Instant)>) {
    closing.retain(|&(h, since)| {
        let state = net.sock(h).state();
        if matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
            net.sockets.remove(h);
            false
        } else if since.elapsed() > STALL {
            net.sock(h).abort();
            net.step();
            net.sockets.remove(h);
            false
        } else {
            true
        }
    });
}
