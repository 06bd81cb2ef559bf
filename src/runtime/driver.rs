//! [`Driver`]: what the loop owns, how it is built, and the turn it repeats
//! (reap, timers, handler, flush, wait) until the handler stops it.

use super::clock::monotonic_micros;
use super::edge::Edge;
use super::ring::{TAG_CANCEL, TAG_RX_MULTI, TAG_RX_POLL, TAG_WAKE};
use super::rx::Rx;
use super::setup::build_io;
use super::uring::{self, TxPool};
use super::{Context, Handler, RuntimeConfig, RuntimeStats, StopMode, Waker};
use crate::device::{Faults, PcapWriter, Tun};
use crate::stack::Stack;
use crate::time::Instant;
use crate::wire::MAX_IPV4_PACKET;
use io_uring::{IoUring, opcode};
use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// The loop: owns the device, the io_uring, the buffers and the stack.
pub struct Driver {
    /// The thread that built the ring (`SINGLE_ISSUER` binds it there).
    pub(super) owner: std::thread::ThreadId,
    pub(super) cfg: RuntimeConfig,
    pub(super) ring: IoUring,
    pub(super) tun: Tun,
    pub(super) stack: Stack,
    pub(super) epoch: std::time::Instant,
    /// CLOCK_MONOTONIC at `epoch`, in microseconds: the stack's clock reads
    /// the system-wide monotonic clock, so the RFC 6528 ISN timer keeps
    /// running across processes (a restarted program does not reuse the ISNs
    /// of its previous run while the peer still holds them in TIME-WAIT).
    pub(super) epoch_micros: u64,
    pub(super) rx: Rx,
    pub(super) tx: TxPool,
    pub(super) wake_fd: Arc<OwnedFd>,
    pub(super) rx_armed: bool,
    pub(super) wake_armed: bool,
    /// Write operations in flight.
    pub(super) tx_inflight: usize,
    /// (user_data, result, flags) of the completions of this turn.
    pub(super) cqes: Vec<(u64, i32, u32)>,
    /// Completions taken off a full queue by `submit`, for the next reap.
    pub(super) stashed: Vec<(u64, i32, u32)>,
    /// How frames cross the device boundary, both ways.
    pub(super) edge: Edge,
    /// A transmit buffer held back by the reorder fault.
    pub(super) tx_held: Option<(u16, usize)>,
    /// Where super-segments are cut for the transmit faults (empty without
    /// faults).
    pub(super) tx_scratch: Vec<u8>,
    pub(super) stats: RuntimeStats,
    pub(super) stop: Option<StopMode>,
    pub(super) woke: bool,
    /// The ring raises `IORING_SQ_TASKRUN` when completions wait as
    /// deferred work (so busy-polling can watch memory, not call in).
    pub(super) taskrun_flag: bool,
    /// The poll-and-read fallback stopped at a full batch: the device may
    /// hold more, with no new wake-up coming for it.
    pub(super) rx_leftover: bool,
    /// The last bulk spin ended on a completion (the next reap decides
    /// whether it was a hit).
    pub(super) spin_ended_on_completion: bool,
    /// The last reap that read anything read at least
    /// [`BULK_TURN_BYTES`](super::BULK_TURN_BYTES),
    /// and no bulk spin has run out since.
    pub(super) bulk_turn: bool,
}

impl Driver {
    /// Builds the loop around an open TUN device.
    pub fn new(tun: Tun, mut cfg: RuntimeConfig) -> io::Result<Driver> {
        fit_to_device(&tun, &mut cfg)?;
        let faulty = cfg
            .faults
            .as_ref()
            .is_some_and(|f| !(f.rx.is_noop() && f.tx.is_noop()));
        // Faults model a wire, where packets are at most an MTU: with
        // offloads, super-packets are cut into segments (and partial
        // checksums completed) before the fault injector sees them, both
        // ways; see `receive` and `flush_tx`.
        let hdr = tun.header_len();
        let mut stats = RuntimeStats::default();
        let (ring, rx, tx, taskrun_flag) = build_io(&cfg, &tun, &mut stats)?;
        let faults = cfg
            .faults
            .as_ref()
            .filter(|f| !(f.rx.is_noop() && f.tx.is_noop()));
        if let Some(f) = faults {
            f.rx.validate()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            f.tx.validate()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let pcap = open_pcap(&cfg)?;
        let epoch = std::time::Instant::now();
        let epoch_micros = monotonic_micros();
        Ok(Driver {
            owner: std::thread::current().id(),
            cfg: cfg.clone(),
            stack: Stack::new(cfg.stack.clone(), Instant::from_micros(epoch_micros)),
            ring,
            tun,
            epoch,
            epoch_micros,
            rx,
            tx,
            wake_fd: Arc::new(uring::eventfd()?),
            rx_armed: false,
            bulk_turn: false,
            spin_ended_on_completion: false,
            rx_leftover: false,
            wake_armed: false,
            tx_inflight: 0,
            cqes: Vec::with_capacity(4096),
            stashed: Vec::with_capacity(4096),
            edge: Edge {
                hdr,
                pcap,
                faults: faults.map(Faults::injectors),
                rx_held: None,
                rx_scratch: vec![0u8; if faulty { MAX_IPV4_PACKET } else { 0 }],
            },
            tx_held: None,
            tx_scratch: vec![0u8; if faulty { MAX_IPV4_PACKET } else { 0 }],
            stats,
            stop: None,
            woke: false,
            taskrun_flag,
        })
    }

    /// A handle another thread can use to wake this loop.
    pub fn waker(&self) -> Waker {
        Waker {
            fd: self.wake_fd.clone(),
        }
    }

    /// The sans-IO stack, e.g. to listen or connect before [`Driver::run`].
    pub fn stack(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// The loop's own counters.
    pub fn stats(&self) -> &RuntimeStats {
        &self.stats
    }

    /// The stack's drop counters.
    pub fn stack_counters(&self) -> crate::stack::Counters {
        self.stack.counters().clone()
    }

    /// TCP counters summed over every connection the stack has had.
    pub fn stack_totals(&self) -> crate::tcp::TcpStats {
        self.stack.tcp_totals()
    }

    /// The TUN device the loop reads and writes.
    pub fn tun(&self) -> &Tun {
        &self.tun
    }

    /// The stack's clock: CLOCK_MONOTONIC in microseconds.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch_micros + self.epoch.elapsed().as_micros() as u64)
    }

    /// Runs `handler` in the loop until it calls [`Context::stop`] (and the
    /// stop has completed), or an I/O error ends the loop.
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        if std::thread::current().id() != self.owner && !self.rx_armed && self.tx_inflight == 0 {
            self.rebuild_io()?;
        }
        self.arm_rx()?;
        self.arm_wake()?;
        {
            let now = self.now();
            let mut cx = Context {
                stack: &mut self.stack,
                now,
                stop: &mut self.stop,
                stats: &self.stats,
            };
            handler.on_start(&mut cx);
        }
        let mut stopping: Option<Instant> = None;
        let result = loop {
            self.stats.turns += 1;
            let now = match self.reap() {
                Ok(now) => now,
                Err(e) => break Err(e),
            };
            if self.stack.poll_timeout().is_some_and(|t| t <= now) {
                self.stack.handle_timeout(now);
            }
            self.dispatch(handler, now);
            if let Some(mode) = self.stop {
                let deadline = *stopping.get_or_insert_with(|| self.begin_stop(mode, now));
                if self.end_stop(now, deadline) {
                    if let Err(e) = self.flush_tx(now) {
                        break Err(e);
                    }
                    break Ok(());
                }
            }
            if let Err(e) = self.flush_tx(now) {
                break Err(e);
            }
            let mut timeout = self.stack.poll_timeout().map(|t| t - now);
            if let Some(d) = stopping {
                let left = d - now;
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            if let Err(e) = self.wait(timeout) {
                break Err(e);
            }
        };
        let drained = self.drain();
        result.and(drained)
    }

    /// Builds the ring and its buffers again, on the thread that runs the
    /// loop.
    fn rebuild_io(&mut self) -> io::Result<()> {
        // Built on another thread: a SINGLE_ISSUER ring only accepts
        // submissions from its creator, so build it again here. Nothing
        // is in flight yet, so the old buffers can go.
        let (ring, rx, tx, taskrun_flag) = build_io(&self.cfg, &self.tun, &mut self.stats)?;
        self.taskrun_flag = taskrun_flag;
        self.rx = rx;
        self.tx = tx;
        self.ring = ring;
        self.owner = std::thread::current().id();
        Ok(())
    }

    /// The first turn after [`Context::stop`]: resets or closes every
    /// connection as `mode` says, and returns when the stop must end.
    fn begin_stop(&mut self, mode: StopMode, now: Instant) -> Instant {
        let handles: Vec<_> = self.stack.handles().collect();
        match mode {
            StopMode::Reset => {
                for h in handles {
                    let _ = self.stack.abort(now, h);
                }
                now
            }
            StopMode::Graceful(t) => {
                for h in handles {
                    let _ = self.stack.close(now, h);
                }
                now + t
            }
        }
    }

    /// Whether a stop is complete: every connection has finished, or the
    /// `deadline` has passed and what is left is reset.
    fn end_stop(&mut self, now: Instant, deadline: Instant) -> bool {
        let idle = self.stack.active_connection_count() == 0;
        if idle || now >= deadline {
            if !idle {
                let handles: Vec<_> = self.stack.handles().collect();
                for h in handles {
                    let _ = self.stack.abort(now, h);
                }
            }
            return true;
        }
        false
    }

    fn dispatch<H: Handler>(&mut self, handler: &mut H, now: Instant) {
        let mut cx = Context {
            stack: &mut self.stack,
            now,
            stop: &mut self.stop,
            stats: &self.stats,
        };
        if self.woke {
            self.woke = false;
            handler.on_wake(&mut cx);
        }
        // Events raised by the handler's own calls are dispatched too.
        while let Some(ev) = cx.stack.poll_event() {
            handler.on_event(&mut cx, ev);
        }
        handler.on_turn(&mut cx);
        while let Some(ev) = cx.stack.poll_event() {
            handler.on_event(&mut cx, ev);
        }
    }

    /// Cancels the armed reads and waits for every operation to complete,
    /// so no buffer is freed while the kernel may still use it.
    fn drain(&mut self) -> io::Result<()> {
        self.stop.get_or_insert(StopMode::Reset);
        for ud in [TAG_RX_MULTI, TAG_RX_POLL, TAG_WAKE] {
            let sqe = opcode::AsyncCancel::new(ud).build().user_data(TAG_CANCEL);
            self.push_sqe(&sqe)?;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while (self.rx_armed || self.wake_armed || self.tx_inflight > 0)
            && std::time::Instant::now() < deadline
        {
            self.wait(Some(Duration::from_millis(10)))?;
            self.reap()?;
        }
        if let Some(p) = self.edge.pcap.as_mut() {
            p.flush()?;
        }
        if self.rx_armed || self.tx_inflight > 0 {
            return Err(io::Error::other(
                "io_uring operations did not complete at shutdown",
            ));
        }
        Ok(())
    }

    /// The TUN descriptor, for diagnostics.
    pub fn device_fd(&self) -> RawFd {
        self.tun.as_raw_fd()
    }
}

/// Fits the stack's settings to `tun`: its MTU and the MSS to it, checksum
/// offload and TSO to its offloads. An MTU below the IPv4 minimum is an
/// error.
fn fit_to_device(tun: &Tun, cfg: &mut RuntimeConfig) -> io::Result<()> {
    let mtu = tun.mtu();
    if mtu < 576 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: MTU {mtu} is below the IPv4 minimum of 576", tun.name()),
        ));
    }
    cfg.stack.tcp.mss = cfg.stack.tcp.mss.min((mtu - 40).min(65_535) as u16);
    cfg.stack.mtu = mtu;
    // The device decides: with offloads it completes checksums and
    // cuts super-segments; without, every packet must be complete
    // (whatever the stack configuration said).
    let offloads = tun.offloads_enabled();
    cfg.stack.tcp.checksum_offload = offloads;
    cfg.stack.tcp.tso_max = if offloads && cfg.tso {
        MAX_IPV4_PACKET
    } else {
        0
    };
    Ok(())
}

/// The capture `cfg` asks for, created (or truncated) now.
fn open_pcap(cfg: &RuntimeConfig) -> io::Result<Option<PcapWriter<BufWriter<File>>>> {
    let pcap = match &cfg.pcap {
        Some(path) => Some(PcapWriter::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write capture {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    Ok(pcap)
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.rx_armed || self.wake_armed || self.tx_inflight > 0 {
            // `run` was not called or ended in an error: make sure nothing
            // the kernel may still write into is freed before it is done.
            let _ = self.drain();
        }
    }
}
