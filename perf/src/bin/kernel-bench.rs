//! The kernel-to-kernel ceiling: Linux TCP on both sides of a veth pair,
//! against the same kernel peer and with the same workloads as ringtcp's
//! bench and `smol-bench`.
//!
//! Two private network namespaces, made with `unshare(CLONE_NEWNET)` by the
//! main thread (no names under /var/run/netns): A holds the server end
//! `kvs0` with 192.0.2.1/24 and the [`KernelPeer`]; B holds the client end
//! `kvc0` with 192.0.2.2/24 and the `std::net` client (1 MiB SO_RCVBUF and
//! SO_SNDBUF, set before connect). Both namespaces, and the veth pair with
//! them, vanish when the process exits, however it exits: nothing to clean.
//! The veth pair is made with `ip link` (iproute2), the only step that needs
//! rtnetlink beyond ringtcp's own interface helpers.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use ringtcp::device::netif;
use ringtcp::lab::peer::{CONNECT_PORT, DOWNLOAD_PORT, KernelPeer, PINGPONG_PORT, UPLOAD_PORT};
use ringtcp::lab::{KERNEL_ADDR, PREFIX_LEN, STACK_ADDR};
use ringtcp_perf::{
    BULK_CHUNK, CONNECT_MSG, CommonArgs, CpuSnapshot, Latency, Mode, NetCounters, Report,
    SOCKET_BUFFER, die, gbps, new_histogram, pin_to_cpu0, record,
};
use serde_json::{Map, json};

#[derive(Parser, Debug)]
#[command(about = "Linux TCP to Linux TCP over a veth pair between two private namespaces")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// SO_RCVBUF and SO_SNDBUF of the client socket, bytes (0: leave the
    /// kernel's autotuning on).
    #[arg(long, default_value_t = SOCKET_BUFFER)]
    buffer: usize,
}

const LABEL: &str = "kernel-veth";
const SERVER_IF: &str = "kvs0";
const CLIENT_IF: &str = "kvc0";

fn main() {
    let cli = Cli::parse();
    let args = &cli.common;
    if args.pin1cpu {
        pin_to_cpu0().unwrap_or_else(|e| die("sched_setaffinity", e));
    }
    let (peer, settings_extra, mut counters) =
        setup(args.mtu).unwrap_or_else(|e| die("veth lab", e));
    // (server namespace, client namespace) retransmissions and drops.
    let snap = |c: &mut [Option<NetCounters>; 2]| {
        let [a, b] = c;
        let r = |c: &mut Option<NetCounters>, ifname: &str| {
            c.as_mut()
                .map(|c| (c.retrans_segs(), c.tx_dropped(ifname)))
                .unwrap_or_default()
        };
        (r(a, SERVER_IF), r(b, CLIENT_IF))
    };
    let before = snap(&mut counters);

    let mut settings = Map::new();
    settings.insert("stack".into(), json!(format!("Linux {}", kernel_release())));
    settings.insert(
        "link".into(),
        json!("veth pair between two network namespaces"),
    );
    settings.insert("socket_buffer".into(), json!(cli.buffer));
    settings.insert("nodelay".into(), json!(true));
    settings.insert("pin1cpu".into(), json!(args.pin1cpu));
    settings.insert("app_chunk".into(), json!(BULK_CHUNK));
    settings.insert(
        "congestion_control".into(),
        json!(read_trim("/proc/sys/net/ipv4/tcp_congestion_control")),
    );
    for (k, v) in settings_extra {
        settings.insert(k, v);
    }
    if args.mode == Mode::Pingpong {
        settings.insert("size".into(), json!(args.size));
    }

    let result = match args.mode {
        Mode::Download => download(args, cli.buffer),
        Mode::Upload => upload(args, cli.buffer, &peer),
        Mode::Pingpong => pingpong(args, cli.buffer),
        Mode::Connect => connect_loop(args),
    };
    let mut report = result.unwrap_or_else(|e| die(args.mode.name(), e));
    let after = snap(&mut counters);
    let delta = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
    settings.insert(
        "server_retrans_segs".into(),
        json!(delta(after.0.0, before.0.0)),
    );
    settings.insert(
        "client_retrans_segs".into(),
        json!(delta(after.1.0, before.1.0)),
    );
    settings.insert(
        "veth_tx_drops".into(),
        json!(
            delta(after.0.1, before.0.1)
                .zip(delta(after.1.1, before.1.1))
                .map(|(a, b)| a + b)
        ),
    );
    report.mtu = args.mtu;
    report.settings = settings;
    report.print(args.json);
}

/// Build both namespaces and the veth pair; leave the main thread in the
/// client's namespace B with the peer serving in A.
type Setup = (
    KernelPeer,
    Map<String, serde_json::Value>,
    [Option<NetCounters>; 2],
);

fn setup(mtu: usize) -> io::Result<Setup> {
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    netif::unshare_net().map_err(ctx("unshare (server namespace)"))?;
    let ns_a = netif::current_netns()?;
    netif::loopback_up()?;
    netif::unshare_net().map_err(ctx("unshare (client namespace)"))?;
    let ns_b = netif::current_netns()?;
    netif::loopback_up()?;

    // In B: make the pair and push the server end into A through a path to
    // A's namespace descriptor (ip opens it and passes IFLA_NET_NS_FD).
    let a_path = format!("/proc/{}/fd/{}", std::process::id(), ns_a.as_raw_fd());
    run_ip(&[
        "link", "add", CLIENT_IF, "type", "veth", "peer", "name", SERVER_IF, "netns", &a_path,
    ])?;
    configure(CLIENT_IF, STACK_ADDR, mtu)?;
    // Client-side sysctls of this private namespace: a wide ephemeral port
    // range so `connect` mode does not run out of ports to TIME-WAIT.
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "10000 65000");
    let _ = std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "1");

    let client_counters = NetCounters::open().ok();

    netif::enter_netns(ns_a.as_fd()).map_err(ctx("setns (server namespace)"))?;
    configure(SERVER_IF, KERNEL_ADDR, mtu)?;
    let server_counters = NetCounters::open().ok();
    // The peer's listener threads are spawned here and stay in A.
    let peer = KernelPeer::start(KERNEL_ADDR).map_err(ctx("kernel peer"))?;
    netif::enter_netns(ns_b.as_fd()).map_err(ctx("setns (client namespace)"))?;

    let mut extra = Map::new();
    extra.insert(
        "client_port_range".into(),
        json!(read_trim("/proc/sys/net/ipv4/ip_local_port_range")),
    );
    extra.insert(
        "client_tcp_tw_reuse".into(),
        json!(read_trim("/proc/sys/net/ipv4/tcp_tw_reuse")),
    );
    Ok((peer, extra, [server_counters, client_counters]))
}

fn configure(name: &str, addr: Ipv4Addr, mtu: usize) -> io::Result<()> {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    netif::set_mtu(name, mtu)?;
    netif::set_ipv4(name, addr, PREFIX_LEN)?;
    netif::set_up(name)
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run ip (iproute2): {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn kernel_release() -> String {
    read_trim("/proc/sys/kernel/osrelease")
}

/// A client socket with `buffer`-byte SO_RCVBUF/SO_SNDBUF set before the
/// handshake (so the window scale reflects it), connected to the peer.
fn connect(port: u16, buffer: usize) -> io::Result<TcpStream> {
    // SAFETY: plain socket calls on a descriptor we own from here on.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        if buffer > 0 {
            let v = buffer as libc::c_int;
            for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
                let rc = libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(KERNEL_ADDR).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("connect to {}: {e}", SocketAddrV4::new(KERNEL_ADDR, port)),
            ));
        }
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

fn report(mode: Mode, start: Instant, cpu0: CpuSnapshot) -> Report {
    Report::since(LABEL, "client thread", mode, start, cpu0)
}

fn download(args: &CommonArgs, buffer: usize) -> io::Result<Report> {
    let mut s = connect(DOWNLOAD_PORT, buffer)?;
    let mut buf = vec![0u8; BULK_CHUNK];
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < dur {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the download",
            ));
        }
        bytes += n as u64;
    }
    let mut r = report(Mode::Download, start, cpu0);
    r.gbps = Some(gbps(bytes, r.seconds));
    Ok(r)
}

fn upload(args: &CommonArgs, buffer: usize, peer: &KernelPeer) -> io::Result<Report> {
    let mut s = connect(UPLOAD_PORT, buffer)?;
    let buf = vec![0xa5u8; BULK_CHUNK];
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    let base = peer.uploaded();
    while start.elapsed() < dur {
        s.write_all(&buf)?;
    }
    let received = peer.uploaded() - base;
    let mut r = report(Mode::Upload, start, cpu0);
    r.gbps = Some(gbps(received, r.seconds));
    Ok(r)
}

fn pingpong(args: &CommonArgs, buffer: usize) -> io::Result<Report> {
    let size = args.size.max(1);
    let mut s = connect(PINGPONG_PORT, buffer)?;
    let req = vec![0x42u8; size];
    let mut buf = vec![0u8; size];
    let mut hist = new_histogram();
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        s.write_all(&req)?;
        s.read_exact(&mut buf)?;
        let now = Instant::now();
        record(&mut hist, now - t0);
        if now - start >= dur {
            break;
        }
    }
    let mut r = report(Mode::Pingpong, start, cpu0);
    let lat = Latency::from_histogram(&hist);
    r.per_sec = Some(lat.count as f64 / r.seconds);
    r.latency = Some(lat);
    Ok(r)
}

fn connect_loop(args: &CommonArgs) -> io::Result<Report> {
    let msg = [0x17u8; CONNECT_MSG];
    let mut buf = [0u8; CONNECT_MSG];
    let mut hist = new_histogram();
    let dur = args.duration();
    let cpu0 = CpuSnapshot::now();
    let start = Instant::now();
    while start.elapsed() < dur {
        let t0 = Instant::now();
        // Default buffers: a request/response connection does not need 1 MiB.
        let mut s = connect(CONNECT_PORT, 0)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(&msg)?;
        s.read_exact(&mut buf)?;
        drop(s);
        record(&mut hist, t0.elapsed());
    }
    let mut r = report(Mode::Connect, start, cpu0);
    let lat = Latency::from_histogram(&hist);
    r.per_sec = Some(lat.count as f64 / r.seconds);
    r.latency = Some(lat);
    Ok(r)
}
