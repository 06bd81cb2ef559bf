//! The sans-IO core a runtime drives: connection table, listeners,
//! ephemeral ports, ISNs, timers, ICMP echo, IPv4 reassembly and
//! demultiplexing.
//!
//! No I/O, no clock, no OS randomness: time comes in as `now`, randomness
//! from the seed in [`StackConfig`], packets in and out through byte slices
//! the caller owns. The same seed and the same calls give the same bytes.
//!
//! # Driving a stack
//!
//! The vocabulary is small and each family has one meaning:
//!
//! - `handle_*`: inputs. [`Stack::handle_packet`] for every IPv4 packet read
//!   from the device, [`Stack::handle_timeout`] when [`Stack::poll_timeout`]'s
//!   instant has come.
//! - commands from the application: [`Stack::connect`], [`Stack::listen`],
//!   [`Stack::accept`], [`Stack::send`], [`Stack::recv`],
//!   [`Stack::shutdown`], [`Stack::close`], [`Stack::abort`].
//! - `poll_*`: outputs. [`Stack::poll_transmit`] until it returns `None`
//!   after any input or command, [`Stack::poll_event`] for what the
//!   application should learn, [`Stack::poll_timeout`] for when to call
//!   `handle_timeout` next.
//!
//! `now` must never go backwards from one call to the next.

#![forbid(unsafe_code)]

mod challenge;
mod commands;
mod config;
mod counters;
mod errors;
mod events;
mod handles;
pub mod hash;
mod input;
pub mod isn;
mod listeners;
mod memory;
mod output;
pub mod ports;
pub mod rand;
pub mod reassembly;
pub mod syncookie;
mod table;
pub mod timer;

pub use config::StackConfig;
pub use counters::Counters;
pub use errors::{ConnectError, ListenError, SocketError};
pub use events::Event;
pub use handles::{ListenerHandle, SocketHandle};

use challenge::ChallengeBudget;
use listeners::Listener;
use output::Control;
use table::Slot;

use crate::tcp::{TcpConfig, TcpStats};
use crate::time::{Instant, PackedInstant};
use hash::KeyedState;
use isn::IsnGenerator;
use ports::PortAllocator;
use rand::Rng;
use reassembly::Reassembler;
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use timer::TimerWheel;

/// The sans-IO TCP/IPv4 stack.
pub struct Stack {
    cfg: StackConfig,
    conns: Slab<Slot>,
    tuples: HashMap<u64, usize, KeyedState>,
    listeners: HashMap<u16, Listener, KeyedState>,
    timers: TimerWheel<(u32, u32)>,
    fired: Vec<(u32, u32)>,
    txq: VecDeque<usize>,
    control: VecDeque<Control>,
    events: VecDeque<Event>,
    isn: IsnGenerator,
    ports: PortAllocator,
    next_generation: u32,
    next_timer_gen: u32,
    counters: Counters,
    ip_ident: u16,
    /// The counters of connections already removed from the table.
    retired: TcpStats,
    /// `cfg.tcp`, shared by the connections opened with it.
    default_tcp: Arc<TcpConfig>,
    /// Buffer storage all connections hold, as last counted.
    buffer_memory: usize,
    /// Over `cfg.memory_limit`, and not yet back under 7/8 of it.
    memory_pressure: bool,
    /// Slots of the connections told of the memory pressure.
    pressed: Vec<usize>,
    /// When the next idle sweep runs (see `memory.rs`).
    sweep_at: PackedInstant,
    /// The last packet sent was a connectionless reply (connections go
    /// first next).
    control_sent_last: bool,
    /// Connections in SYN-RECEIVED from listeners, all listeners together.
    half_open: usize,
    /// What is left of this second's challenge ACKs.
    challenge: ChallengeBudget,
    /// IPv4 fragments waiting for the rest of their datagram.
    reassembler: Reassembler,
    /// Where a reassembled datagram's payload is put; kept for the next.
    reassembled: Vec<u8>,
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("addr", &self.cfg.addr)
            .field("connections", &self.conns.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// An empty stack; keys for ISNs, ports and hashing come from
    /// `cfg.seed`, and the timer wheel starts at `now`.
    pub fn new(cfg: StackConfig, now: Instant) -> Stack {
        let mut rng = Rng::new(cfg.seed);
        let isn = IsnGenerator::from_rng(&mut rng);
        let ports = PortAllocator::from_rng(cfg.ephemeral_ports.clone(), &mut rng);
        let tuple_hash = KeyedState::new(rng.next_u64(), rng.next_u64());
        let listen_hash = KeyedState::new(rng.next_u64(), rng.next_u64());
        Stack {
            conns: Slab::with_capacity(64),
            tuples: HashMap::with_hasher(tuple_hash),
            listeners: HashMap::with_hasher(listen_hash),
            // Room for the stale entries lazy cancellation leaves (an
            // entry per reschedule, until its deadline passes) before the
            // pool must grow: 24 KiB, so that a transfer's steady state
            // does not allocate for them.
            timers: TimerWheel::with_capacity(now, 1024),
            fired: Vec::with_capacity(64),
            txq: VecDeque::with_capacity(64),
            control: VecDeque::with_capacity(16),
            events: VecDeque::with_capacity(64),
            isn,
            ports,
            next_generation: 1,
            next_timer_gen: 1,
            counters: Counters::default(),
            ip_ident: (rng.next_u32() & 0xffff) as u16,
            retired: TcpStats::default(),
            default_tcp: Arc::new(cfg.tcp),
            buffer_memory: 0,
            memory_pressure: false,
            pressed: Vec::new(),
            sweep_at: PackedInstant::NONE,
            control_sent_last: false,
            half_open: 0,
            // Drawn last: what the seed gave before stays the same.
            challenge: ChallengeBudget::new(rng.fork()),
            reassembler: Reassembler::new(cfg.reassembly.clone()),
            reassembled: Vec::new(),
            cfg,
        }
    }

    /// The settings the stack was built with.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// The stack's own IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.cfg.addr
    }

    /// Stack-wide packet and drop counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Bytes of send and receive buffer storage the connections hold
    /// (what [`StackConfig::memory_limit`] bounds).
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// The buffers went over [`StackConfig::memory_limit`] and are not yet
    /// back under seven eighths of it.
    pub fn memory_pressure(&self) -> bool {
        self.memory_pressure
    }

    /// Bytes held for IPv4 reassembly now, as charged against
    /// [`reassembly::ReassemblyConfig::memory`], and the number of
    /// datagrams they belong to.
    pub fn reassembly_memory(&self) -> (usize, usize) {
        (self.reassembler.memory(), self.reassembler.datagrams())
    }

    /// TCP counters summed over every connection this stack has had, the
    /// ones still in the table and the ones gone.
    pub fn tcp_totals(&self) -> TcpStats {
        let mut t = self.retired.clone();
        for (_, slot) in &self.conns {
            if let Some(c) = &slot.conn {
                t.accumulate(&c.stats());
            }
        }
        t
    }

    /// Connections in SYN-RECEIVED from listeners (half-open), all
    /// listeners together: at most [`StackConfig::max_half_open`].
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Connections in the table, TIME-WAIT and unreleased CLOSED included.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections that still have work to do: not in TIME-WAIT, and not
    /// CLOSED with nothing left to send.
    pub fn active_connection_count(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, s)| {
                s.conn
                    .as_ref()
                    .is_some_and(|c| !c.is_time_wait() && (!c.is_closed() || s.in_txq))
            })
            .count()
    }
}
