//! What every program shares: the device flags, opening the device with a
//! message a user can act on, and one-line fatal errors.
#![allow(dead_code)]

pub mod http;

use clap::{Args, Parser};
use ringtcp::api::RuntimeConfig;
use ringtcp::device::{FaultConfig, Faults, Tun, TunConfig};
use ringtcp::stack::StackConfig;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Flags that choose and shape the device the stack runs on.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Attach to this existing TUN device (scripts/setup-tun.sh creates tun0).
    #[arg(long, value_name = "NAME", default_value = "tun0")]
    pub tun: String,
    /// The stack's own IPv4 address.
    #[arg(long, value_name = "IP", default_value = "192.0.2.2")]
    pub addr: Ipv4Addr,
    /// The kernel side of the TUN device (the default peer and route).
    #[arg(long, value_name = "IP", default_value = "192.0.2.1")]
    pub gateway: Ipv4Addr,
    /// Capture every packet the device reads and writes to FILE (pcap).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Drop this fraction of packets each way (0 to 1), to see how the
    /// workload behaves on a bad network.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub loss: f64,
    /// Delay this fraction of packets behind the next one (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub reorder: f64,
    /// Deliver this fraction of packets twice (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub duplicate: f64,
    /// Flip one bit in this fraction of packets (0 to 1); checksums catch it.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability)]
    pub corrupt: f64,
    /// Seed for the fault injector and the stack's ISN and port keys; give
    /// the same one to reproduce a run. By default each run draws its own,
    /// so that a new run does not reuse the ports and initial sequence
    /// numbers of the last one (a server still holding those connections
    /// in TIME-WAIT would refuse the first SYN and cost a 1 s retry).
    #[arg(long, value_name = "N", default_value_t = random_seed(), hide_default_value = true)]
    pub seed: u64,
    /// Do not use TUN offloads (checksum offload and TSO through the
    /// virtio-net header): every packet is one MTU-sized segment. Implied
    /// when the environment sets RINGTCP_OFFLOADS=0.
    #[arg(long, default_value_t = !ringtcp::lab::offloads_by_default())]
    pub no_offloads: bool,
    /// Spin on the completion queue for up to this many microseconds before
    /// sleeping: lower latency for one busy core.
    #[arg(long, value_name = "MICROS")]
    pub busy_poll: Option<u64>,
    /// After a turn that read bulk data, spin for up to this many
    /// microseconds before sleeping (0: never). Spares a streaming sender
    /// the cost of waking the loop for every super-packet.
    #[arg(long, value_name = "MICROS", default_value_t = ringtcp::runtime::DEFAULT_BULK_SPIN.as_micros() as u64)]
    pub bulk_spin: u64,
}

/// A seed that differs from run to run: from the OS's random source, or
/// failing that from the clock and the process id.
fn random_seed() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number; give a probability such as 0.01"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("{p} is not between 0 and 1"));
    }
    Ok(p)
}

impl DeviceArgs {
    /// The runtime settings these flags ask for.
    pub fn runtime_config(&self) -> RuntimeConfig {
        let mut cfg = RuntimeConfig::new(StackConfig::new(self.addr, self.seed));
        cfg.pcap = self.pcap.clone();
        let faults = FaultConfig {
            loss: self.loss,
            reorder: self.reorder,
            duplicate: self.duplicate,
            corrupt: self.corrupt,
            seed: self.seed,
        };
        if !faults.is_noop() {
            cfg.faults = Some(Faults::symmetric(faults, self.seed));
        }
        cfg.busy_poll = self.busy_poll.map(std::time::Duration::from_micros);
        cfg.bulk_spin =
            (self.bulk_spin > 0).then(|| std::time::Duration::from_micros(self.bulk_spin));
        cfg
    }

    /// Attaches to the TUN device, or explains in one line what to do.
    pub fn open(&self) -> Result<Tun, String> {
        // Attach only: as root, opening a missing name would quietly create
        // an unconfigured device that carries no traffic.
        if ringtcp::device::netif::if_index(&self.tun).is_err() {
            return Err(format!(
                "there is no TUN device '{0}' here; create it with: sudo scripts/setup-tun.sh --dev {0} (or pass --tun NAME)",
                self.tun
            ));
        }
        Tun::open(&TunConfig {
            name: Some(self.tun.clone()),
            vnet_hdr: !self.no_offloads,
            offloads: !self.no_offloads,
        })
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{e}; create it with: sudo scripts/setup-tun.sh --dev {} (or pass --tun NAME)",
                    self.tun
                )
            } else {
                e.to_string()
            }
        })
    }
}

/// Prints `program: message` and exits with status 1.
pub fn die(msg: impl std::fmt::Display) -> ! {
    let prog = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ringtcp".into());
    eprintln!("{prog}: {msg}");
    std::process::exit(1)
}

/// Parses the command line like `T::parse()`, but a mistake is reported in
/// one line (what was wrong, and to see `--help`) with exit status 1, not
/// clap's multi-line block. `--help` and `--version` behave as usual.
pub fn parse_args<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || matches!(
                    e.kind(),
                    ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                )
            {
                e.exit();
            }
            die(one_line_clap_error(&e.to_string()));
        }
    }
}

/// clap's error text folded into one line, without its usage block.
fn one_line_clap_error(text: &str) -> String {
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    format!("{}; run with --help to see every flag", parts.join(" "))
}

/// A clap value parser for a positive number of seconds (`2`, `0.5`).
pub fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds, such as 30 or 0.5"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{s} seconds is out of range (more than 0, at most 86400)"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Starts the blocking runtime on the device the flags name, or explains
/// in one line why it could not.
pub fn start_runtime(dev: &DeviceArgs) -> Result<ringtcp::api::Runtime, String> {
    let tun = dev.open()?;
    let name = tun.name().to_owned();
    ringtcp::api::Runtime::start(tun, dev.runtime_config())
        .map_err(|e| format!("cannot start the stack on {name}: {e}"))
}
