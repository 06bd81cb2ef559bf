//! The single-threaded run-to-completion loop.
//!
//! One thread, one io_uring. TUN reads stay armed as one multishot read over
//! a provided-buffer ring (or, where the kernel refuses that, a multishot
//! poll followed by a batch of plain reads); packets are handed to the
//! [`Stack`] in the buffer the kernel filled; segments are built straight
//! into preallocated transmit buffers and submitted as a batch, one
//! `io_uring_enter` per turn. The loop sleeps until the next completion or
//! the stack's next timer, whichever comes first, and another thread can
//! wake it through an eventfd ([`Waker`]).
//!
//! In steady state the per-packet path allocates nothing: receive and
//! transmit buffers, the completion batch and the stack's queues are all
//! allocated at start-up or reused.
//!
//! This module and [`crate::device`] are the only ones with `unsafe` code;
//! each block says why it is sound.

mod uring;

use crate::device::{FaultAction, FaultInjector, Faults, PcapWriter, Tun};
use crate::stack::ConnectError;
use crate::stack::{
    Event, ListenError, ListenerHandle, SocketError, SocketHandle, Stack, StackConfig,
};
use crate::time::Instant;
use crate::wire::vnet::segment_tcp4;
use crate::wire::{MAX_IPV4_PACKET, VnetHdr};
use io_uring::{IoUring, opcode, squeue, types};
use std::io::{self, BufWriter};
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uring::{BufRing, TxPool};

/// Settings for a [`Driver`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The stack to run. [`Driver::new`] adjusts the TCP settings to the
    /// device: the MSS to its MTU, checksum offload and TSO to its offloads.
    pub stack: StackConfig,
    /// Faults applied between the stack and the device, each direction.
    pub faults: Option<Faults>,
    /// Write every packet read from and written to the device here.
    pub pcap: Option<PathBuf>,
    /// Receive buffers in the provided-buffer ring (a power of two).
    pub rx_buffers: u16,
    /// Transmit buffers: the most packets in flight to the device at once.
    pub tx_buffers: u16,
    /// Use a multishot read over a provided-buffer ring when the kernel
    /// supports it; false forces the poll-and-read fallback.
    pub multishot: bool,
    /// Poll the completion queue for up to this long before sleeping (a
    /// busy-poll mode for latency: no sleep and no wake-up between a
    /// packet's arrival and its processing). It keeps the loop's core busy,
    /// yielding it to anything else runnable there. `None`, the default,
    /// sleeps at once.
    pub busy_poll: Option<Duration>,
    /// After a turn that read bulk data (at least [`BULK_TURN_BYTES`]), poll
    /// the completion queue for up to this long before sleeping. While a
    /// sender streams, the next super-packet usually lands within a few
    /// microseconds of the loop running dry; sleeping instead makes the
    /// kernel's sender pay for waking this thread's idle CPU for each one,
    /// and delays our ACKs by that wake-up. The spin goes on after turns
    /// that only reap our writes' completions, and stops after a turn that
    /// reads less than [`BULK_TURN_BYTES`] or a whole spin that finds
    /// nothing. Small messages and an idle loop never spin; a response of
    /// 32 KiB or more starts it (and costs one spin at its end). `None`
    /// turns it off; the default is [`DEFAULT_BULK_SPIN`], 50 µs; the
    /// loop's core goes from about 65% busy to about 90% in the lab
    /// download.
    pub bulk_spin: Option<Duration>,
    /// Send TSO super-segments when the device has offloads (default
    /// true). False keeps checksum offload but sends one segment per
    /// packet.
    pub tso: bool,
}

impl RuntimeConfig {
    /// The defaults around `stack`: no faults, no capture, 512 receive and
    /// 512 transmit buffers, multishot reads, no busy polling, a bulk spin of
    /// [`DEFAULT_BULK_SPIN`], TSO on.
    pub fn new(stack: StackConfig) -> RuntimeConfig {
        RuntimeConfig {
            stack,
            faults: None,
            pcap: None,
            rx_buffers: 512,
            tx_buffers: 512,
            multishot: true,
            busy_poll: None,
            bulk_spin: Some(DEFAULT_BULK_SPIN),
            tso: true,
        }
    }
}

/// A turn that read at least this much counts as bulk for
/// [`RuntimeConfig::bulk_spin`]: one super-packet of at least half its size,
/// or a batch of some twenty 1500-byte packets.
pub const BULK_TURN_BYTES: u64 = 32 * 1024;
/// The default [`RuntimeConfig::bulk_spin`].
pub const DEFAULT_BULK_SPIN: Duration = Duration::from_micros(50);

/// Counters of the loop itself. Frames and bytes are counted at the device,
/// virtio-net header included; a super-packet is one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Loop turns: each reaps completions, runs the handler and flushes.
    pub turns: u64,
    /// Frames read from the device.
    pub packets_read: u64,
    /// Frames whose write to the device completed.
    pub packets_written: u64,
    /// Bytes read from the device.
    pub bytes_read: u64,
    /// Bytes written to the device.
    pub bytes_written: u64,
    /// `io_uring_enter` calls.
    pub submits: u64,
    /// Writes to the device that failed (the frame is lost; TCP resends).
    pub write_errors: u64,
    /// Reads from the device that failed, other than for lack of buffers.
    pub read_errors: u64,
    /// The multishot read ended for lack of buffers and was re-armed.
    pub rx_rearms: u64,
    /// Flushes that found every transmit buffer in flight while the stack
    /// had something to send (it waits for a write to complete), and (with
    /// faults) cut super-segments whose last segments found none and were
    /// lost.
    pub tx_pool_exhausted: u64,
    /// Packets the fault injector dropped, both directions.
    pub faults_dropped: u64,
    /// Packets the fault injector sent twice, both directions.
    pub faults_duplicated: u64,
    /// Packets the fault injector held back behind the next, both
    /// directions.
    pub faults_reordered: u64,
    /// Read by multishot over a buffer ring (true) or by the fallback.
    pub multishot: bool,
    /// Frames shorter than the device's vnet header, or whose header would
    /// not let the checksum be completed: dropped.
    pub rx_bad_frames: u64,
    /// Wait calls that found a completion while busy-polling.
    pub busy_poll_hits: u64,
    /// Wait calls that spun after a bulk turn; those that ended on a
    /// completion after which the loop read data (hits: a spin that ends on
    /// our own write's completion is neither), and those that ran their
    /// whole length and went to sleep (misses).
    pub bulk_spins: u64,
    /// Bulk spins that ended on a completion after which data was read.
    pub bulk_spin_hits: u64,
    /// Bulk spins that ran their whole length and went to sleep.
    pub bulk_spin_misses: u64,
    /// Segments cut from received super-packets for the fault injector.
    pub rx_cut_segments: u64,
    /// Segments cut from super-segments to send, for the fault injector.
    pub tx_cut_segments: u64,
}

/// Wakes a [`Driver`]'s loop from another thread.
#[derive(Debug, Clone)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    /// Makes the loop call [`Handler::on_wake`] soon, waking it if it
    /// sleeps. Wakes that arrive before the loop gets to it merge into one.
    pub fn wake(&self) {
        uring::eventfd_signal(self.fd.as_raw_fd());
    }
}

/// How [`Context::stop`] treats the connections still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Reset every connection and stop at once.
    Reset,
    /// Close every connection gracefully and wait up to this long for them to
    /// finish (queued data delivered, FINs acknowledged), then reset the rest.
    Graceful(Duration),
}

/// Application logic that runs inside the loop: no locks, no other thread.
pub trait Handler {
    /// Called once before the first turn.
    fn on_start(&mut self, _cx: &mut Context<'_>) {}
    /// Called for every event the stack raises.
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event);
    /// Called when another thread woke the loop with a [`Waker`].
    fn on_wake(&mut self, _cx: &mut Context<'_>) {}
    /// Called once per turn, after events.
    fn on_turn(&mut self, _cx: &mut Context<'_>) {}
}

/// What a [`Handler`] can do from inside the loop.
pub struct Context<'a> {
    stack: &'a mut Stack,
    now: Instant,
    stop: &'a mut Option<StopMode>,
    stats: &'a RuntimeStats,
}

impl<'a> Context<'a> {
    /// The time of this turn, as the stack sees it.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The sans-IO stack, for anything the shortcuts below do not cover.
    pub fn stack(&mut self) -> &mut Stack {
        self.stack
    }

    /// Opens a connection to `remote` ([`Stack::connect`]); an
    /// [`Event::Connected`] or [`Event::Error`] says how it went.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<SocketHandle, ConnectError> {
        self.stack.connect(self.now, remote)
    }

    /// Listens on `port` with at most `backlog` connections waiting to be
    /// accepted or half open ([`Stack::listen`]).
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerHandle, ListenError> {
        self.stack.listen(port, backlog)
    }

    /// The next established connection of listener `l`, if one waits
    /// ([`Stack::accept`]).
    pub fn accept(&mut self, l: ListenerHandle) -> Option<SocketHandle> {
        self.stack.accept(l)
    }

    /// Queues as much of `data` as the send buffer takes and returns how
    /// much that was ([`Stack::send`]).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SocketError> {
        self.stack.send(h, data)
    }

    /// Copies received data into `buf`; `Ok(0)` is the peer's FIN
    /// ([`Stack::recv`]).
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, SocketError> {
        self.stack.recv(h, buf)
    }

    /// [`Stack::recv_with`]: read in place, no copy.
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, SocketError> {
        self.stack.recv_with(h, f)
    }

    /// Closes the write side: a FIN follows the queued data
    /// ([`Stack::shutdown`]).
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.shutdown(h)
    }

    /// Closes gracefully and gives up the handle ([`Stack::close`]).
    pub fn close(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.close(self.now, h)
    }

    /// Resets the connection and gives up the handle ([`Stack::abort`]).
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        self.stack.abort(self.now, h)
    }

    /// The loop's own counters.
    pub fn runtime_stats(&self) -> &RuntimeStats {
        self.stats
    }

    /// Ends the loop after this turn.
    pub fn stop(&mut self, mode: StopMode) {
        *self.stop = Some(mode);
    }
}

// user_data tags (top byte) for completions.
const TAG_SHIFT: u32 = 56;
const TAG_RX_MULTI: u64 = 1 << TAG_SHIFT;
const TAG_RX_POLL: u64 = 2 << TAG_SHIFT;
const TAG_TX: u64 = 3 << TAG_SHIFT;
const TAG_WAKE: u64 = 4 << TAG_SHIFT;
const TAG_CANCEL: u64 = 5 << TAG_SHIFT;
const TAG_MASK: u64 = 0xff << TAG_SHIFT;

const BGID: u16 = 7;
/// `IORING_ENTER_GETEVENTS`: run deferred task work and post completions.
const IORING_ENTER_GETEVENTS: u32 = 1;
/// Plain reads per readiness notification in the fallback mode.
const FALLBACK_BATCH: usize = 64;

enum Rx {
    Multi(BufRing),
    /// Poll for readiness, then read in a batch into this buffer.
    Poll(Vec<u8>),
}

/// The loop: owns the device, the io_uring, the buffers and the stack.
pub struct Driver {
    /// The thread that built the ring (`SINGLE_ISSUER` binds it there).
    owner: std::thread::ThreadId,
    cfg: RuntimeConfig,
    ring: IoUring,
    tun: Tun,
    stack: Stack,
    epoch: std::time::Instant,
    /// CLOCK_MONOTONIC at `epoch`, in microseconds: the stack's clock reads
    /// the system-wide monotonic clock, so the RFC 6528 ISN timer keeps
    /// running across processes (a restarted program does not reuse the ISNs
    /// of its previous run while the peer still holds them in TIME-WAIT).
    epoch_micros: u64,
    rx: Rx,
    tx: TxPool,
    wake_fd: Arc<OwnedFd>,
    rx_armed: bool,
    wake_armed: bool,
    /// Write operations in flight.
    tx_inflight: usize,
    /// (user_data, result, flags) of the completions of this turn.
    cqes: Vec<(u64, i32, u32)>,
    /// Completions taken off a full queue by `submit`, for the next reap.
    stashed: Vec<(u64, i32, u32)>,
    /// How frames cross the device boundary, both ways.
    edge: Edge,
    /// A transmit buffer held back by the reorder fault.
    tx_held: Option<(u16, usize)>,
    /// Where super-segments are cut for the transmit faults (empty without
    /// faults).
    tx_scratch: Vec<u8>,
    stats: RuntimeStats,
    stop: Option<StopMode>,
    woke: bool,
    /// The ring raises `IORING_SQ_TASKRUN` when completions wait as
    /// deferred work (so busy-polling can watch memory, not call in).
    taskrun_flag: bool,
    /// The poll-and-read fallback stopped at a full batch: the device may
    /// hold more, with no new wake-up coming for it.
    rx_leftover: bool,
    /// The last bulk spin ended on a completion (the next reap decides
    /// whether it was a hit).
    spin_ended_on_completion: bool,
    /// The last reap that read anything read at least [`BULK_TURN_BYTES`],
    /// and no bulk spin has run out since.
    bulk_turn: bool,
}

impl Driver {
    /// Builds the loop around an open TUN device.
    pub fn new(tun: Tun, mut cfg: RuntimeConfig) -> io::Result<Driver> {
        let mtu = tun.mtu();
        if mtu < 576 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: MTU {mtu} is below the IPv4 minimum of 576", tun.name()),
            ));
        }
        cfg.stack.tcp.mss = cfg.stack.tcp.mss.min((mtu - 40).min(65_535) as u16);
        let faulty = cfg
            .faults
            .as_ref()
            .is_some_and(|f| !(f.rx.is_noop() && f.tx.is_noop()));
        // Faults model a wire, where packets are at most an MTU: with
        // offloads, super-packets are cut into segments (and partial
        // checksums completed) before the fault injector sees them, both
        // ways; see `receive` and `flush_tx`.
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
        let pcap = match &cfg.pcap {
            Some(path) => Some(PcapWriter::create(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot write capture {}: {e}", path.display()),
                )
            })?),
            None => None,
        };
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
            // Built on another thread: a SINGLE_ISSUER ring only accepts
            // submissions from its creator, so build it again here. Nothing
            // is in flight yet, so the old buffers can go.
            let (ring, rx, tx, taskrun_flag) = build_io(&self.cfg, &self.tun, &mut self.stats)?;
            self.taskrun_flag = taskrun_flag;
            self.rx = rx;
            self.tx = tx;
            self.ring = ring;
            self.owner = std::thread::current().id();
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
                let deadline = *stopping.get_or_insert_with(|| {
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
                });
                let idle = self.stack.active_connection_count() == 0;
                if idle || now >= deadline {
                    if !idle {
                        let handles: Vec<_> = self.stack.handles().collect();
                        for h in handles {
                            let _ = self.stack.abort(now, h);
                        }
                    }
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

    fn push_sqe(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed refers to memory that outlives the
            // operation: the buffer ring and transmit pool are owned by this
            // driver and freed only after `drain` has seen every completion.
            let pushed = unsafe { self.ring.submission().push(sqe).is_ok() };
            if pushed {
                return Ok(());
            }
            // Queue full: hand what we have to the kernel, then retry.
            self.submit()?;
        }
    }

    fn submit(&mut self) -> io::Result<()> {
        self.stats.submits += 1;
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // The completion queue is full: move its entries aside for
                // the next reap (not processed here: submit runs inside
                // reap and wait), then try again.
                self.stash_completions();
                self.ring.submit().map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every posted completion into `stashed`, unprocessed.
    fn stash_completions(&mut self) {
        self.stashed.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
    }

    fn arm_rx(&mut self) -> io::Result<()> {
        if self.rx_armed {
            return Ok(());
        }
        let fd = types::Fd(self.tun.as_raw_fd());
        let sqe = match &self.rx {
            // Length 0: each read takes the whole selected buffer (the
            // kernel refuses a length with multishot reads: EINVAL).
            Rx::Multi(br) => opcode::ReadMulti::new(fd, 0, br.bgid)
                .build()
                .user_data(TAG_RX_MULTI),
            Rx::Poll(_) => opcode::PollAdd::new(fd, libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(TAG_RX_POLL),
        };
        self.push_sqe(&sqe)?;
        self.rx_armed = true;
        Ok(())
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        if self.wake_armed {
            return Ok(());
        }
        let sqe = opcode::PollAdd::new(types::Fd(self.wake_fd.as_raw_fd()), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(TAG_WAKE);
        self.push_sqe(&sqe)?;
        self.wake_armed = true;
        Ok(())
    }

    /// Processes every completion that has arrived, and returns the time
    /// it read (once for the whole batch) for the rest of the turn.
    fn reap(&mut self) -> io::Result<Instant> {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.append(&mut self.stashed);
        cqes.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut published = false;
        let mut polled = false;
        let read_before = self.stats.bytes_read;
        // One clock read per batch, not per packet.
        let now = self.now();
        for &(ud, res, flags) in &cqes {
            match ud & TAG_MASK {
                TAG_RX_MULTI => {
                    if !io_uring::cqueue::more(flags) {
                        self.rx_armed = false;
                    }
                    if res < 0 {
                        let err = -res;
                        if err == libc::EINVAL || err == libc::EOPNOTSUPP {
                            // Multishot reads unsupported: fall back.
                            self.rx = Rx::Poll(vec![0u8; frame_size(&self.tun)]);
                            self.stats.multishot = false;
                        } else if err == libc::ENOBUFS {
                            self.stats.rx_rearms += 1;
                        } else if err != libc::ECANCELED {
                            self.stats.read_errors += 1;
                        }
                        continue;
                    }
                    let Some(bid) = io_uring::cqueue::buffer_select(flags) else {
                        continue;
                    };
                    let Rx::Multi(br) = &mut self.rx else {
                        continue;
                    };
                    let frame = br.buf(bid, res as usize);
                    let whole = self
                        .edge
                        .receive(&mut self.stack, &mut self.stats, now, frame);
                    br.push(bid);
                    published = true;
                    if whole {
                        self.answer_now(now)?;
                    }
                }
                TAG_RX_POLL => {
                    if !io_uring::cqueue::more(flags) {
                        self.rx_armed = false;
                    }
                    if res < 0 {
                        continue;
                    }
                    self.read_batch(now)?;
                    polled = true;
                }
                TAG_TX => {
                    self.tx.give((ud & 0xffff) as u16);
                    self.tx_inflight -= 1;
                    if res < 0 {
                        self.stats.write_errors += 1;
                    } else {
                        self.stats.packets_written += 1;
                        self.stats.bytes_written += res as u64;
                    }
                }
                TAG_WAKE => {
                    if !io_uring::cqueue::more(flags) {
                        self.wake_armed = false;
                    }
                    uring::eventfd_drain(&self.wake_fd);
                    self.woke = true;
                }
                _ => {}
            }
        }
        if published && let Rx::Multi(br) = &self.rx {
            br.publish();
        }
        if self.rx_leftover && !polled {
            self.read_batch(now)?;
        }
        // Bulk until a turn reads less, or a spin runs out; a turn that
        // only reaped write completions (our ACKs) changes nothing. (Keeping
        // it through short reads too kept the loop at 100% of its core for
        // no more throughput: the sender is already the bottleneck.)
        match self.stats.bytes_read - read_before {
            0 => {}
            n => {
                self.bulk_turn = n >= BULK_TURN_BYTES;
                if self.spin_ended_on_completion {
                    self.stats.bulk_spin_hits += 1;
                }
            }
        }
        self.spin_ended_on_completion = false;
        self.cqes = cqes;
        if self.stop.is_none() {
            self.arm_rx()?;
            self.arm_wake()?;
        }
        Ok(now)
    }

    /// The poll-and-read fallback: reads up to a batch of packets. A poll
    /// completion comes with a wake-up, not with each packet, so what a full
    /// batch leaves behind is read on the next turn, which does not sleep
    /// first (`rx_leftover`).
    fn read_batch(&mut self, now: Instant) -> io::Result<()> {
        let Rx::Poll(buf) = &mut self.rx else {
            self.rx_leftover = false;
            return Ok(());
        };
        let mut whole = false;
        self.rx_leftover = true;
        for _ in 0..FALLBACK_BATCH {
            match self.tun.read(buf) {
                Ok(n) => {
                    whole |=
                        self.edge
                            .receive(&mut self.stack, &mut self.stats, now, &mut buf[..n]);
                }
                // Interrupted: the packets are still there, read on next turn.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.stats.read_errors += 1;
                    }
                    self.rx_leftover = false;
                    break;
                }
            }
        }
        if whole {
            self.answer_now(now)?;
        }
        Ok(())
    }

    /// A super-packet is a burst's worth of data: what it calls for (its
    /// ACK) goes to the kernel at once, not after the rest of the batch.
    /// The kernel's sender is clocked by it (measured: 11-15 Gbit/s
    /// batched, ~18 at once). Plain packets keep batching: one ACK for many.
    fn answer_now(&mut self, now: Instant) -> io::Result<()> {
        if self.stop.is_some() {
            return Ok(());
        }
        let queued = self.tx_inflight;
        self.flush_tx(now)?;
        if self.tx_inflight > queued {
            self.submit()?;
        }
        Ok(())
    }

    /// Moves everything the stack wants to send into write operations.
    fn flush_tx(&mut self, now: Instant) -> io::Result<()> {
        // A held packet is released at the latest on the next turn.
        loop {
            let Some(idx) = self.tx.take() else {
                if self.stack.may_transmit() {
                    self.stats.tx_pool_exhausted += 1;
                }
                break;
            };
            let hdr = self.edge.hdr;
            let frame = self.tx.buf(idx);
            let Some((n, vnet)) = self.stack.poll_transmit_frame(now, &mut frame[hdr..]) else {
                self.tx.give(idx);
                break;
            };
            if hdr > 0 {
                // The buffer holds the header's 12 bytes: cannot fail.
                let _ = vnet.emit(frame);
            }
            let len = hdr + n;
            if let Some(p) = self.edge.pcap.as_mut() {
                let _ = p.write_packet(now.total_micros(), &frame[hdr..len]);
            }
            if self.edge.faults.is_some() && (vnet.is_gso() || vnet.needs_csum()) {
                // Faults act on what a wire would carry: cut the
                // super-segment and complete the checksums first, each
                // segment in a transmit buffer of its own. Segments that
                // find no free buffer are lost (and counted).
                self.tx_scratch[..n].copy_from_slice(&frame[hdr..len]);
                self.tx.give(idx);
                let mut index = 0;
                loop {
                    let Some(j) = self.tx.take() else {
                        // These segments are lost, not deferred: always
                        // counted.
                        self.stats.tx_pool_exhausted += 1;
                        break;
                    };
                    let buf = self.tx.buf(j);
                    match segment_tcp4(&vnet, &self.tx_scratch[..n], index, &mut buf[hdr..]) {
                        Ok(Some(m)) => {
                            // The header's 12 bytes fit: cannot fail.
                            let _ = VnetHdr::default().emit(buf);
                            self.stats.tx_cut_segments += 1;
                            self.send_faulty(j, hdr + m)?;
                            index += 1;
                        }
                        _ => {
                            self.tx.give(j);
                            break;
                        }
                    }
                }
                continue;
            }
            self.send_faulty(idx, len)?;
        }
        if let Some((h, hl)) = self.tx_held.take()
            && self.stack.poll_timeout().is_none_or(|t| t > now)
        {
            // Nothing followed it this turn: let it go rather than stall.
            self.write(h, hl)?;
        }
        Ok(())
    }

    /// Writes transmit buffer `idx` (`len` bytes, header included) through
    /// the transmit faults, if any.
    fn send_faulty(&mut self, idx: u16, len: usize) -> io::Result<()> {
        let hdr = self.edge.hdr;
        let action = match self.edge.faults.as_mut() {
            Some((_, tx)) => tx.apply(&mut self.tx.buf(idx)[hdr..len]),
            None => FaultAction::Deliver,
        };
        match action {
            FaultAction::Deliver => {
                self.write(idx, len)?;
                if let Some((h, hl)) = self.tx_held.take() {
                    self.write(h, hl)?;
                }
            }
            FaultAction::Drop => {
                self.stats.faults_dropped += 1;
                self.tx.give(idx);
            }
            FaultAction::Duplicate => {
                self.stats.faults_duplicated += 1;
                if let Some(copy) = self.tx.take() {
                    let (a, b) = (self.tx.ptr(idx), self.tx.buf(copy).as_mut_ptr());
                    // SAFETY: two distinct buffers of the pool, both taken
                    // by us and not in the kernel's hands.
                    unsafe { std::ptr::copy_nonoverlapping(a, b, len) };
                    self.write(copy, len)?;
                }
                self.write(idx, len)?;
            }
            FaultAction::Hold => {
                self.stats.faults_reordered += 1;
                if let Some((h, hl)) = self.tx_held.replace((idx, len)) {
                    self.write(h, hl)?;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, idx: u16, len: usize) -> io::Result<()> {
        let sqe = opcode::Write::new(
            types::Fd(self.tun.as_raw_fd()),
            self.tx.ptr(idx),
            len as u32,
        )
        .build()
        .user_data(TAG_TX | u64::from(idx));
        self.push_sqe(&sqe)?;
        self.tx_inflight += 1;
        Ok(())
    }

    /// Watches the rings until a completion is there to reap (true) or
    /// `limit` has passed since `start` (false).
    fn spin_for(&mut self, start: std::time::Instant, limit: Duration) -> io::Result<bool> {
        loop {
            if !self.ring.completion().is_empty() || !self.stashed.is_empty() {
                return Ok(true);
            }
            if !self.taskrun_flag || self.ring.submission().taskrun() {
                // Completions wait as deferred task work: an enter with
                // GETEVENTS that waits for nothing has them posted.
                self.stats.submits += 1;
                // SAFETY: no submissions, no argument: the call only runs
                // task work and flushes completions.
                let r = unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        0,
                        0,
                        IORING_ENTER_GETEVENTS,
                        None,
                    )
                };
                if let Err(e) = r
                    && !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY))
                {
                    return Err(e);
                }
                if !self.ring.completion().is_empty() {
                    return Ok(true);
                }
            }
            // A clock read is tens of nanoseconds, small beside the yield
            // below: a 10 µs spin ends after 10 µs, not 32 yields.
            if start.elapsed() >= limit {
                return Ok(false);
            }
            // Yield rather than spin: a peer sharing this core (a pinned
            // benchmark, the kernel's side of a TUN) gets to run. Measured
            // pinned to one core, p99.9: 217 us spinning, ~50 yielding; on
            // two cores p50 stays 17 us either way.
            std::thread::yield_now();
        }
    }

    /// Submits this turn's operations and sleeps until a completion arrives
    /// or `timeout` passes.
    fn wait(&mut self, mut timeout: Option<Duration>) -> io::Result<()> {
        if !self.stashed.is_empty() || self.rx_leftover {
            // Completions, or packets, are waiting already: do not sleep.
            timeout = Some(Duration::ZERO);
        }
        let bulk = self.cfg.busy_poll.is_none() && self.bulk_turn;
        let spin = match bulk {
            true => self.cfg.bulk_spin,
            false => self.cfg.busy_poll,
        };
        if let Some(spin) = spin
            && timeout.is_none_or(|t| !t.is_zero())
            && self.stop.is_none()
        {
            // Hand this turn's submissions over, then watch the rings in
            // shared memory: no system call and no wake-up until there is
            // something to reap.
            self.submit()?;
            let start = std::time::Instant::now();
            let limit = timeout.map_or(spin, |t| t.min(spin));
            if bulk {
                self.stats.bulk_spins += 1;
            }
            if self.spin_for(start, limit)? {
                // A bulk spin's hit is counted by the reap that follows, if
                // it reads data: the first completion is often our write's.
                match bulk {
                    true => self.spin_ended_on_completion = true,
                    false => self.stats.busy_poll_hits += 1,
                }
                return Ok(());
            }
            timeout = timeout.map(|t| t.saturating_sub(start.elapsed()));
            // A spin cut short by a timer that falls due is not the end of
            // the bulk transfer; a whole one is.
            if bulk && limit == spin {
                self.bulk_turn = false;
                self.stats.bulk_spin_misses += 1;
            }
        }
        self.stats.submits += 1;
        let res = match timeout {
            Some(t) if t.is_zero() => self.ring.submit(),
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
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

/// How frames cross the device boundary: the virtio-net header in front of
/// each, the capture, and the fault injectors with what they hold back.
struct Edge {
    /// Bytes of virtio-net header in front of every frame (0 or 12).
    hdr: usize,
    pcap: Option<PcapWriter<BufWriter<std::fs::File>>>,
    /// Receive and transmit injectors.
    faults: Option<(FaultInjector, FaultInjector)>,
    /// A received packet held back by the reorder fault, with its header.
    rx_held: Option<(VnetHdr, Vec<u8>)>,
    /// Where received super-packets are cut into segments for the faults
    /// (empty without faults).
    rx_scratch: Vec<u8>,
}

impl Edge {
    /// One frame from the device (a `hdr`-byte virtio-net header, then
    /// the packet) into the stack, through the faults. True if it was a
    /// TCP super-packet.
    fn receive(
        &mut self,
        stack: &mut Stack,
        stats: &mut RuntimeStats,
        now: Instant,
        frame: &mut [u8],
    ) -> bool {
        let hdr = self.hdr;
        stats.packets_read += 1;
        stats.bytes_read += frame.len() as u64;
        let mut vnet = VnetHdr::default();
        if hdr > 0 {
            match VnetHdr::parse(frame) {
                Ok(h) if frame.len() > hdr => vnet = h,
                _ => {
                    stats.rx_bad_frames += 1;
                    return false;
                }
            }
        }
        let pkt = &mut frame[hdr..];
        if let Some(p) = self.pcap.as_mut() {
            let _ = p.write_packet(now.total_micros(), pkt);
        }
        let Some((rx, _)) = self.faults.as_mut() else {
            stack.handle_frame(now, &vnet, pkt);
            return vnet.is_gso();
        };
        if vnet.is_gso() || vnet.needs_csum() {
            // Faults act on what a wire would carry: super-packets cut into
            // segments, checksums complete (and so verified after a flip).
            let mut index = 0;
            let (scratch, held) = (&mut self.rx_scratch, &mut self.rx_held);
            while let Ok(Some(n)) = segment_tcp4(&vnet, pkt, index, scratch) {
                let plain = VnetHdr::default();
                stats.rx_cut_segments += 1;
                deliver_faulty(stack, rx, held, stats, now, plain, &mut scratch[..n]);
                index += 1;
            }
            if index == 0 {
                stats.rx_bad_frames += 1;
            }
            return false;
        }
        if rx.config().corrupt > 0.0 {
            // A flipped bit must be verified, as on a wire.
            vnet.flags &= !VnetHdr::DATA_VALID;
        }
        deliver_faulty(stack, rx, &mut self.rx_held, stats, now, vnet, pkt);
        false
    }
}

/// One packet (as a wire would carry it) through the receive faults.
fn deliver_faulty(
    stack: &mut Stack,
    rx: &mut FaultInjector,
    held: &mut Option<(VnetHdr, Vec<u8>)>,
    stats: &mut RuntimeStats,
    now: Instant,
    vnet: VnetHdr,
    pkt: &mut [u8],
) {
    match rx.apply(pkt) {
        FaultAction::Deliver => {
            stack.handle_frame(now, &vnet, pkt);
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
        }
        FaultAction::Drop => stats.faults_dropped += 1,
        FaultAction::Duplicate => {
            stats.faults_duplicated += 1;
            stack.handle_frame(now, &vnet, pkt);
            stack.handle_frame(now, &vnet, pkt);
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
        }
        FaultAction::Hold => {
            stats.faults_reordered += 1;
            if let Some((v, h)) = held.take() {
                stack.handle_frame(now, &v, &h);
            }
            *held = Some((vnet, pkt.to_vec()));
        }
    }
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

/// Bytes of buffer one frame from or to `tun` may need: the vnet header and
/// the MTU, or a whole 64 KiB IPv4 super-packet when the device offloads.
fn frame_size(tun: &Tun) -> usize {
    let packet = if tun.offloads_enabled() {
        MAX_IPV4_PACKET
    } else {
        tun.mtu().max(2048)
    };
    (tun.header_len() + packet).next_multiple_of(64)
}

/// The ring, the receive side and the transmit pool for `tun`.
fn build_io(
    cfg: &RuntimeConfig,
    tun: &Tun,
    stats: &mut RuntimeStats,
) -> io::Result<(IoUring, Rx, TxPool, bool)> {
    let entries = (u32::from(cfg.rx_buffers) + u32::from(cfg.tx_buffers) + 8).next_power_of_two();
    let (ring, taskrun_flag) = build_ring(entries)?;
    let buf_size = frame_size(tun);
    stats.multishot = false;
    let rx = if cfg.multishot {
        match BufRing::new(
            &ring,
            cfg.rx_buffers.max(2).next_power_of_two(),
            buf_size,
            BGID,
        ) {
            Ok(br) => {
                stats.multishot = true;
                Rx::Multi(br)
            }
            // Kernels before 5.19 have no buffer rings: plain reads.
            Err(_) => Rx::Poll(vec![0u8; buf_size]),
        }
    } else {
        Rx::Poll(vec![0u8; buf_size])
    };
    let tx = TxPool::new(cfg.tx_buffers.max(2), buf_size)?;
    Ok((ring, rx, tx, taskrun_flag))
}

/// One way to set up the ring, and whether it raises `IORING_SQ_TASKRUN`.
type RingSetup = (fn(&mut io_uring::Builder), bool);

/// Builds the ring with the flags that help a single-threaded loop, falling
/// back to a plain ring on kernels that refuse them. The flag says whether
/// the ring raises `IORING_SQ_TASKRUN`.
fn build_ring(entries: u32) -> io::Result<(IoUring, bool)> {
    let attempts: [RingSetup; 4] = [
        (
            |b| {
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            },
            true,
        ),
        (
            |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            },
            false,
        ),
        (
            |b| {
                b.setup_coop_taskrun();
            },
            false,
        ),
        (|_| {}, false),
    ];
    let mut last = None;
    for (f, taskrun_flag) in attempts {
        let mut b = IoUring::builder();
        b.setup_cqsize(entries * 4);
        f(&mut b);
        match b.build(entries) {
            Ok(r) => return Ok((r, taskrun_flag)),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("io_uring setup failed"));
    Err(io::Error::new(
        e.kind(),
        format!(
            "cannot create an io_uring ({e}); is io_uring disabled (sysctl kernel.io_uring_disabled)?"
        ),
    ))
}

/// CLOCK_MONOTONIC in microseconds.
fn monotonic_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer, which
    // points at a valid local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// CPU time (user, system) the calling thread has used so far
/// (`getrusage(RUSAGE_THREAD)`). A benchmark helper: only with the
/// `bench-support` feature.
#[cfg(feature = "bench-support")]
pub fn thread_cpu_time() -> io::Result<(Duration, Duration)> {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU time (user, system) the whole process has used so far
/// (`getrusage(RUSAGE_SELF)`). A benchmark helper: only with the
/// `bench-support` feature.
#[cfg(feature = "bench-support")]
pub fn process_cpu_time() -> io::Result<(Duration, Duration)> {
    rusage(libc::RUSAGE_SELF)
}

#[cfg(feature = "bench-support")]
fn rusage(who: libc::c_int) -> io::Result<(Duration, Duration)> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `struct rusage` into the pointer we
    // pass, which points at enough zeroed, writable memory.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and, on success, filled in by the kernel.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((tv(ru.ru_utime), tv(ru.ru_stime)))
}
