//! The sans-IO core a runtime drives: connection table, listeners,
//! ephemeral ports, ISNs, timers, ICMP echo and demultiplexing.
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

mod config;
mod counters;
mod errors;
mod events;
mod handles;
pub mod hash;
pub mod isn;
pub mod ports;
pub mod rand;
pub mod timer;

pub use config::StackConfig;
pub use counters::Counters;
pub use errors::{ConnectError, ListenError, SocketError};
pub use events::Event;
pub use handles::{ListenerHandle, SocketHandle};

use crate::tcp::{
    Conn, ConnError, Fate, IcmpOutcome, Listen, ListenReply, SynSent, Tcb, TcpConfig, TcpStats,
};
use crate::time::Instant;
use crate::wire::icmp::{IcmpRepr, parse_quoted_tcp};
use crate::wire::ipv4::{
    IPV4_HEADER_LEN, Ipv4Repr, MAX_IPV4_PACKET, PROTO_ICMP, PROTO_TCP, parse_ipv4,
};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr, fill_checksum, parse_tcp};
use crate::wire::{SeqNum, VnetHdr, WireError};
use hash::KeyedState;
use isn::IsnGenerator;
use ports::PortAllocator;
use rand::Rng;
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use timer::TimerWheel;

/// A reply the stack sends without a connection.
#[derive(Debug)]
enum Control {
    Rst {
        dst: SocketAddrV4,
        src_port: u16,
        seq: SeqNum,
        ack: Option<SeqNum>,
    },
    EchoReply {
        dst: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
}

/// Longest queue of connectionless replies before new ones are dropped.
const MAX_CONTROL_QUEUE: usize = 1024;

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    generation: u32,
    /// The application closed or aborted its handle (or never had one).
    released: bool,
    /// Spawned by this listener and not yet in its accept queue.
    listener: Option<u16>,
    /// The deadline of this slot's live wheel entry.
    scheduled: Option<Instant>,
    /// The generation of this slot's live wheel entry.
    timer_gen: u32,
    in_txq: bool,
}

#[derive(Debug)]
struct Listener {
    listen: Listen,
    backlog: usize,
    /// Connections in SYN-RECEIVED.
    half_open: usize,
    queue: VecDeque<SocketHandle>,
}

/// The TCB of a connection the application holds (every state it can
/// hold has one).
fn tcb_mut(conn: &mut Conn) -> Result<&mut Tcb, SocketError> {
    conn.tcb_mut().ok_or(SocketError::InvalidHandle)
}

/// Packs the local port and the remote endpoint (our address is fixed).
#[inline]
fn tuple_key(local_port: u16, remote: SocketAddrV4) -> u64 {
    (u64::from(local_port) << 48)
        | (u64::from(remote.port()) << 32)
        | u64::from(u32::from(*remote.ip()))
}

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
            timers: TimerWheel::new(now),
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

    // ----- inputs -----------------------------------------------------------

    /// Takes one IPv4 packet from the device. Malformed packets are dropped
    /// and counted in [`Stack::counters`]; nothing here panics on any input.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.handle_frame(now, &VnetHdr::default(), packet);
    }

    /// Takes one IPv4 packet that a device with offloads handed over with
    /// the virtio-net header `vnet` (already split off). The TCP checksum
    /// is not summed when the header says the device validated it, or that
    /// it is a partial checksum of a packet made on this host
    /// (`NEEDS_CSUM` laid out for TCP); every other packet is verified as
    /// [`Stack::handle_packet`] does. A TCP super-packet (`gso_type` set) is
    /// taken whole, as one large segment.
    pub fn handle_frame(&mut self, now: Instant, vnet: &VnetHdr, packet: &[u8]) {
        self.counters.packets_received += 1;
        let verify = self.cfg.verify_checksums;
        let (ip, payload) = match parse_ipv4(packet, verify) {
            Ok(v) => v,
            Err(WireError::BadChecksum) => {
                self.counters.ip_bad_checksum += 1;
                return;
            }
            Err(WireError::Fragmented) => {
                self.counters.ip_fragments += 1;
                return;
            }
            Err(_) => {
                self.counters.ip_malformed += 1;
                return;
            }
        };
        if ip.dst != self.cfg.addr {
            self.counters.ip_not_for_us += 1;
            return;
        }
        match ip.protocol {
            PROTO_TCP => {
                // parse_ipv4 checked the header: IHL is in bounds.
                let l4_start = usize::from(packet[0] & 0x0f) * 4;
                let trusted = vnet.checksum_trusted(l4_start);
                let gso_size = if vnet.is_gso() { vnet.gso_size } else { 0 };
                self.handle_tcp(now, &ip, payload, verify, trusted, gso_size)
            }
            PROTO_ICMP => self.handle_icmp(now, &ip, payload, verify),
            _ => self.counters.ip_unsupported_protocol += 1,
        }
    }

    /// `trusted`: the device vouched for the checksum; `gso_size`: the
    /// segment size of a super-packet, 0 for a plain one.
    fn handle_tcp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        verify: bool,
        trusted: bool,
        gso_size: u16,
    ) {
        let seg = match parse_tcp(payload, ip.src, ip.dst, verify && !trusted) {
            Ok(s) => {
                if trusted {
                    self.counters.rx_checksum_trusted += 1;
                }
                if gso_size > 0 {
                    self.counters.rx_super_packets += 1;
                }
                s
            }
            Err(WireError::BadChecksum) => {
                self.counters.tcp_bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.counters.tcp_malformed += 1;
                return;
            }
        };
        let remote = SocketAddrV4::new(ip.src, seg.src_port);
        if let Some(&idx) = self.tuples.get(&tuple_key(seg.dst_port, remote)) {
            let slot = &mut self.conns[idx];
            let Some(conn) = slot.conn.take() else {
                return;
            };
            let (conn, fate) = conn.handle_segment(now, &seg, gso_size);
            if fate == Fate::OutOfWindow {
                self.counters.tcp_out_of_window += 1;
            }
            slot.conn = Some(conn);
            self.after_update(idx);
            return;
        }
        if let Some(listener) = self.listeners.get(&seg.dst_port) {
            let local = SocketAddrV4::new(self.cfg.addr, seg.dst_port);
            let clocks = || {
                (
                    self.iss(now, local, remote),
                    self.isn.ts_offset(local, remote),
                )
            };
            match listener
                .listen
                .handle_segment(now, local, remote, &seg, clocks)
            {
                ListenReply::Drop => {}
                ListenReply::Reset { seq } => self.queue_rst(remote, seg.dst_port, seq, None),
                ListenReply::Spawn(syn_rcvd) => {
                    if listener.half_open + listener.queue.len() >= listener.backlog {
                        self.counters.tcp_listen_overflow += 1;
                        return;
                    }
                    if self.conns.len() >= self.cfg.max_connections {
                        self.counters.tcp_table_full += 1;
                        return;
                    }
                    let port = seg.dst_port;
                    if let Some(l) = self.listeners.get_mut(&port) {
                        l.half_open += 1;
                    }
                    let idx = self.insert(Conn::SynReceived(syn_rcvd), Some(port));
                    self.tuples.insert(tuple_key(port, remote), idx);
                    self.after_update(idx);
                }
            }
            return;
        }
        // RFC 9293 3.10.7.1: CLOSED. A RST is dropped; otherwise reply with
        // a RST that the sender will accept.
        self.counters.tcp_no_socket += 1;
        if seg.flags.rst() {
            return;
        }
        if seg.flags.ack() {
            self.queue_rst(remote, seg.dst_port, seg.ack, None);
        } else {
            let ack = seg.seq + seg.segment_len();
            self.queue_rst(remote, seg.dst_port, SeqNum(0), Some(ack));
        }
    }

    fn handle_icmp(&mut self, now: Instant, ip: &Ipv4Repr, payload: &[u8], verify: bool) {
        match IcmpRepr::parse(payload, verify) {
            Ok(IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            }) => {
                if !self.cfg.answer_ping {
                    return;
                }
                if self.control.len() >= MAX_CONTROL_QUEUE {
                    self.counters.control_queue_full += 1;
                    return;
                }
                self.control.push_back(Control::EchoReply {
                    dst: ip.src,
                    ident,
                    seq_no,
                    data: data.to_vec(),
                });
            }
            Ok(IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            }) => {
                self.counters.icmp_dest_unreachable += 1;
                self.icmp_unreachable(now, code, next_hop_mtu, original);
            }
            Ok(_) => self.counters.icmp_unsupported += 1,
            Err(WireError::UnsupportedIcmp) => self.counters.icmp_unsupported += 1,
            Err(_) => self.counters.icmp_malformed += 1,
        }
    }

    /// Hands a destination unreachable to the connection whose segment it
    /// quotes (see [`Conn::handle_icmp_unreachable`]).
    fn icmp_unreachable(&mut self, now: Instant, code: u8, next_hop_mtu: u16, original: &[u8]) {
        let quoted = match parse_quoted_tcp(original) {
            Ok(q) if q.src == self.cfg.addr => q,
            _ => {
                self.counters.icmp_unmatched += 1;
                return;
            }
        };
        let remote = SocketAddrV4::new(quoted.dst, quoted.dst_port);
        let Some(&idx) = self.tuples.get(&tuple_key(quoted.src_port, remote)) else {
            self.counters.icmp_unmatched += 1;
            return;
        };
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.take() else {
            return;
        };
        let (conn, outcome) =
            conn.handle_icmp_unreachable(now, code, next_hop_mtu, quoted.seq, quoted.total_len);
        slot.conn = Some(conn);
        match outcome {
            IcmpOutcome::Ignored => self.counters.icmp_unmatched += 1,
            IcmpOutcome::PathMtu => self.counters.icmp_path_mtu += 1,
            IcmpOutcome::Failed | IcmpOutcome::SoftError => self.counters.icmp_errors += 1,
        }
        self.after_update(idx);
    }

    fn queue_rst(&mut self, dst: SocketAddrV4, src_port: u16, seq: SeqNum, ack: Option<SeqNum>) {
        if self.control.len() >= MAX_CONTROL_QUEUE {
            self.counters.control_queue_full += 1;
            return;
        }
        self.control.push_back(Control::Rst {
            dst,
            src_port,
            seq,
            ack,
        });
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut fired = core::mem::take(&mut self.fired);
        self.timers.expire(now, |_, key| fired.push(key));
        for &(index, timer_gen) in &fired {
            let idx = index as usize;
            let Some(slot) = self.conns.get_mut(idx) else {
                continue;
            };
            if slot.timer_gen != timer_gen {
                continue; // cancelled lazily
            }
            slot.scheduled = None;
            if let Some(conn) = slot.conn.take() {
                slot.conn = Some(conn.handle_timeout(now));
            }
            self.after_update(idx);
        }
        fired.clear();
        self.fired = fired;
    }

    // ----- outputs ----------------------------------------------------------

    /// Writes the next packet to send into `buf` and returns its length, or
    /// `None` when there is nothing to send. Call it until it returns `None`
    /// after every input and command. `buf` should hold at least the MTU.
    ///
    /// With [`TcpConfig::checksum_offload`] or [`TcpConfig::tso_max`] on,
    /// packets need the header [`Stack::poll_transmit_frame`] gives.
    /// Whether [`Stack::poll_transmit`] may have a packet: a reply is
    /// queued or a connection is marked for output. (A marked connection
    /// can turn out to have nothing after all.)
    pub fn may_transmit(&self) -> bool {
        !self.control.is_empty() || !self.txq.is_empty()
    }

    /// Writes the next IPv4 packet to send into `buf` and returns its
    /// length; `None` when nothing is left to send. Call it until `None`
    /// after every input or command.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_frame(now, buf).map(|(n, _)| n)
    }

    /// [`Stack::poll_transmit`] for a device with offloads: also returns the
    /// virtio-net header to put in front of the packet. A TCP segment built
    /// with [`TcpConfig::checksum_offload`] carries a partial checksum
    /// (`NEEDS_CSUM`), and one of more than one MSS (with
    /// [`TcpConfig::tso_max`]) is a super-segment with `gso_size` set to
    /// the payload of each segment. Other packets (RSTs for unknown
    /// connections, ICMP) are complete and get an empty header. For TSO,
    /// `buf` should hold 65535 bytes.
    pub fn poll_transmit_frame(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(usize, VnetHdr)> {
        while let Some(ctrl) = self.control.pop_front() {
            if let Some(n) = self.emit_control(&ctrl, buf) {
                self.counters.packets_sent += 1;
                return Some((n, VnetHdr::default()));
            }
        }
        while let Some(&idx) = self.txq.front() {
            let slot = &mut self.conns[idx];
            let conn = slot
                .conn
                .as_mut()
                .expect("connection present outside transitions");
            // The connection writes its TCP segment after the IP header,
            // in no more room than an IP packet holds.
            let room = buf.len().min(MAX_IPV4_PACKET);
            if room <= IPV4_HEADER_LEN {
                return None;
            }
            let (ip_hdr, seg) = buf[..room].split_at_mut(IPV4_HEADER_LEN);
            match conn.poll_transmit(now, seg) {
                Some(t) => {
                    let ip = Ipv4Repr {
                        src: *conn.local().ip(),
                        dst: *conn.remote().ip(),
                        protocol: PROTO_TCP,
                        payload_len: t.len,
                        ttl: conn.ttl(),
                    };
                    ip.emit(ip_hdr, 0).ok()?;
                    let vnet = if t.partial_checksum {
                        if t.gso_size > 0 {
                            self.counters.tx_super_packets += 1;
                        }
                        VnetHdr::tcp4_partial(
                            IPV4_HEADER_LEN as u16,
                            IPV4_HEADER_LEN as u16 + t.header_len,
                            t.gso_size,
                        )
                    } else {
                        VnetHdr::default()
                    };
                    // Round robin: this connection goes to the back.
                    self.txq.rotate_left(1);
                    self.schedule(idx);
                    self.counters.packets_sent += 1;
                    return Some((IPV4_HEADER_LEN + t.len, vnet));
                }
                None => {
                    self.txq.pop_front();
                    slot.in_txq = false;
                    self.maybe_remove(idx);
                }
            }
        }
        None
    }

    /// When `handle_timeout` should next be called: never later than the
    /// earliest timer, possibly a little earlier.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn emit_control(&mut self, ctrl: &Control, buf: &mut [u8]) -> Option<usize> {
        match ctrl {
            Control::Rst {
                dst,
                src_port,
                seq,
                ack,
            } => {
                let mut flags = TcpFlags::RST;
                if ack.is_some() {
                    flags |= TcpFlags::ACK;
                }
                let repr = TcpRepr {
                    src_port: *src_port,
                    dst_port: dst.port(),
                    seq: *seq,
                    ack: ack.unwrap_or(SeqNum(0)),
                    flags,
                    window: 0,
                    urgent: 0,
                    options: TcpOptions::default(),
                    payload: &[],
                };
                let hlen = repr.header_len();
                let ip = Ipv4Repr {
                    src: self.cfg.addr,
                    dst: *dst.ip(),
                    protocol: PROTO_TCP,
                    payload_len: hlen,
                    ttl: self.cfg.tcp.ttl,
                };
                let total = IPV4_HEADER_LEN + hlen;
                if buf.len() < total {
                    return None;
                }
                ip.emit(&mut buf[..IPV4_HEADER_LEN], 0).ok()?;
                repr.emit_header(&mut buf[IPV4_HEADER_LEN..total]).ok()?;
                fill_checksum(&mut buf[IPV4_HEADER_LEN..total], ip.src, ip.dst);
                self.counters.tcp_resets_sent += 1;
                Some(total)
            }
            Control::EchoReply {
                dst,
                ident,
                seq_no,
                data,
            } => {
                let icmp = IcmpRepr::EchoReply {
                    ident: *ident,
                    seq_no: *seq_no,
                    data,
                };
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let total = icmp
                    .emit_datagram(self.cfg.addr, *dst, self.cfg.tcp.ttl, self.ip_ident, buf)
                    .ok()?;
                self.counters.icmp_echo_replies += 1;
                Some(total)
            }
        }
    }

    // ----- commands ---------------------------------------------------------

    /// Opens a connection to `remote` (RFC 9293 3.10.1, active OPEN). The
    /// SYN goes out on the next `poll_transmit`; [`Event::Connected`] or
    /// [`Event::Error`] tells how it went.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
    ) -> Result<SocketHandle, ConnectError> {
        let tcp = self.default_tcp.clone();
        self.open(now, remote, tcp)
    }

    /// [`Stack::connect`] with settings for this connection only.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tcp: TcpConfig,
    ) -> Result<SocketHandle, ConnectError> {
        self.open(now, remote, Arc::new(tcp))
    }

    /// An active open with the settings `tcp`.
    fn open(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tcp: Arc<TcpConfig>,
    ) -> Result<SocketHandle, ConnectError> {
        let ip = remote.ip();
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || remote.port() == 0 {
            return Err(ConnectError::InvalidAddress);
        }
        if self.conns.len() >= self.cfg.max_connections {
            return Err(ConnectError::TableFull);
        }
        let tuples = &self.tuples;
        let listeners = &self.listeners;
        let port = self
            .ports
            .allocate(self.cfg.addr, remote, |p| {
                tuples.contains_key(&tuple_key(p, remote)) || listeners.contains_key(&p)
            })
            .ok_or(ConnectError::NoPortsAvailable)?;
        let local = SocketAddrV4::new(self.cfg.addr, port);
        let iss = self.iss(now, local, remote);
        let ts_offset = self.isn.ts_offset(local, remote);
        let conn = Conn::SynSent(SynSent::connect(tcp, now, local, remote, iss, ts_offset));
        let idx = self.insert(conn, None);
        self.conns[idx].released = false;
        self.tuples.insert(tuple_key(port, remote), idx);
        self.after_update(idx);
        Ok(self.handle_of(idx))
    }

    /// Starts listening on `port` (RFC 9293 3.10.1, passive OPEN). At most
    /// `backlog` connections wait in SYN-RECEIVED or in the accept queue;
    /// SYNs beyond that are dropped, and the peer retries.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerHandle, ListenError> {
        self.listen_with(port, backlog, self.cfg.tcp)
    }

    /// [`Stack::listen`] with per-listener connection settings instead of
    /// [`StackConfig::tcp`].
    pub fn listen_with(
        &mut self,
        port: u16,
        backlog: usize,
        tcp: TcpConfig,
    ) -> Result<ListenerHandle, ListenError> {
        if port == 0 {
            return Err(ListenError::InvalidPort);
        }
        if self.listeners.contains_key(&port) {
            return Err(ListenError::AddrInUse);
        }
        self.listeners.insert(
            port,
            Listener {
                listen: Listen::new(tcp),
                backlog: backlog.max(1),
                half_open: 0,
                queue: VecDeque::new(),
            },
        );
        Ok(ListenerHandle(port))
    }

    /// Stops listening. Connections already accepted are unaffected; those
    /// still waiting to be accepted are reset.
    pub fn unlisten(&mut self, now: Instant, listener: ListenerHandle) {
        if let Some(l) = self.listeners.remove(&listener.0) {
            for h in l.queue {
                let _ = self.abort(now, h);
            }
        }
        let pending: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| s.listener == Some(listener.0))
            .map(|(i, _)| i)
            .collect();
        for idx in pending {
            let h = self.handle_of(idx);
            self.conns[idx].listener = None;
            let _ = self.abort(now, h);
        }
    }

    /// The next established connection of a listener.
    pub fn accept(&mut self, listener: ListenerHandle) -> Option<SocketHandle> {
        let l = self.listeners.get_mut(&listener.0)?;
        while let Some(h) = l.queue.pop_front() {
            let Some(slot) = self.conns.get_mut(h.index as usize) else {
                continue;
            };
            if slot.generation != h.generation {
                continue;
            }
            slot.released = false;
            // Events raised before the accept were not reported: make sure
            // the application hears about data that is already here.
            if let Some(tcb) = slot.conn.as_mut().and_then(Conn::tcb_mut)
                && tcb.on_accept()
            {
                self.events.push_back(Event::Readable(h));
            }
            return Some(h);
        }
        None
    }

    /// The TCB of a live handle.
    fn tcb(&self, h: SocketHandle) -> Result<&Tcb, SocketError> {
        self.conn(h)?.tcb().ok_or(SocketError::InvalidHandle)
    }

    fn slot_mut(&mut self, h: SocketHandle) -> Result<&mut Slot, SocketError> {
        match self.conns.get_mut(h.index as usize) {
            Some(s) if s.generation == h.generation && !s.released => Ok(s),
            _ => Err(SocketError::InvalidHandle),
        }
    }

    fn conn(&self, h: SocketHandle) -> Result<&Conn, SocketError> {
        match self.conns.get(h.index as usize) {
            Some(s) if s.generation == h.generation && !s.released => {
                s.conn.as_ref().ok_or(SocketError::InvalidHandle)
            }
            _ => Err(SocketError::InvalidHandle),
        }
    }

    /// Queues data. Returns how many bytes were taken; `WouldBlock` when the
    /// send buffer is full ([`Event::Writable`] follows when it drains).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        if let Some(e) = conn.error() {
            return Err(SocketError::Failed(e));
        }
        if !conn.can_send() {
            return Err(SocketError::NotWritable);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = tcb_mut(conn)?.send(data);
        if n == 0 {
            return Err(SocketError::WouldBlock);
        }
        self.mark_tx(h.index as usize);
        Ok(n)
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self, h: SocketHandle) -> Result<usize, SocketError> {
        Ok(self.tcb(h)?.send_capacity())
    }

    /// Reads received data. `Ok(0)` is the end of the stream (the peer's
    /// FIN); `WouldBlock` means nothing yet ([`Event::Readable`] follows).
    pub fn recv(&mut self, h: SocketHandle, out: &mut [u8]) -> Result<usize, SocketError> {
        self.recv_via(h, out.is_empty(), |tcb| tcb.recv(out))
    }

    /// Reads received data in place, without a copy: `f` sees the bytes
    /// ready to read as up to two slices (in stream order; the second is
    /// empty unless the data wraps around the receive ring) and returns how
    /// many of them it took, which are then freed (a larger return counts
    /// as all). Results as [`Stack::recv`]: `Ok(0)` without calling `f` at
    /// the end of the stream, `WouldBlock` when nothing is ready.
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, SocketError> {
        self.recv_via(h, false, |tcb| tcb.recv_with(f))
    }

    fn recv_via(
        &mut self,
        h: SocketHandle,
        empty_out: bool,
        read: impl FnOnce(&mut crate::tcp::Tcb) -> usize,
    ) -> Result<usize, SocketError> {
        let idx = h.index as usize;
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        let tcb = tcb_mut(conn)?;
        if tcb.readable() > 0 {
            if empty_out {
                return Ok(0);
            }
            let n = read(tcb);
            // Reading opens the window; an update may be due.
            self.mark_tx(idx);
            return Ok(n);
        }
        tcb.want_readable();
        if let Some(e) = tcb.error() {
            if e == ConnError::Aborted {
                return Err(SocketError::NotConnected);
            }
            return Err(SocketError::Failed(e));
        }
        if tcb.peer_finished() {
            return Ok(0);
        }
        Err(SocketError::WouldBlock)
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, h: SocketHandle) -> Result<usize, SocketError> {
        Ok(self.tcb(h)?.readable())
    }

    /// Shuts the write side: a FIN follows the queued data (`SHUT_WR`).
    pub fn shutdown(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        slot.conn = Some(conn.shutdown());
        self.after_update(h.index as usize);
        Ok(())
    }

    /// Shuts the read side (`SHUT_RD`): unread and later data is discarded.
    pub fn shutdown_read(&mut self, h: SocketHandle) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        tcb_mut(conn)?.shutdown_read();
        self.mark_tx(h.index as usize);
        Ok(())
    }

    /// Closes gracefully and lets go of the handle: queued data is still
    /// delivered and the FIN follows. If unread data remains, the peer is
    /// reset instead (RFC 2525 2.17), as Linux does.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), SocketError> {
        let unread = self.tcb(h)?.readable() > 0;
        if unread {
            return self.abort(now, h);
        }
        let idx = h.index as usize;
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        let mut conn = conn.shutdown();
        conn.orphan(now);
        slot.conn = Some(conn);
        slot.released = true;
        self.after_update(idx);
        Ok(())
    }

    /// Resets the connection and lets go of the handle (RFC 9293 ABORT).
    pub fn abort(&mut self, _now: Instant, h: SocketHandle) -> Result<(), SocketError> {
        let idx = h.index as usize;
        let slot = match self.conns.get_mut(idx) {
            Some(s) if s.generation == h.generation => s,
            _ => return Err(SocketError::InvalidHandle),
        };
        let conn = slot.conn.take().ok_or(SocketError::InvalidHandle)?;
        slot.conn = Some(conn.abort());
        slot.released = true;
        self.mark_tx(idx);
        self.after_update(idx);
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or on for one connection
    /// ([`TcpConfig::nodelay`]).
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) -> Result<(), SocketError> {
        let slot = self.slot_mut(h)?;
        let conn = slot.conn.as_mut().ok_or(SocketError::InvalidHandle)?;
        tcb_mut(conn)?.set_nodelay(on);
        self.mark_tx(h.index as usize);
        Ok(())
    }

    /// The RFC 9293 name of the connection's state.
    pub fn state(&self, h: SocketHandle) -> Result<&'static str, SocketError> {
        Ok(self.conn(h)?.name())
    }

    /// The connection's local address and port.
    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, SocketError> {
        Ok(self.conn(h)?.local())
    }

    /// The connection's remote address and port.
    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddrV4, SocketError> {
        Ok(self.conn(h)?.remote())
    }

    /// The connection itself, for statistics and inspection.
    pub fn connection(&self, h: SocketHandle) -> Result<&Conn, SocketError> {
        self.conn(h)
    }

    /// A `tcp_info`-like snapshot of the connection.
    pub fn info(&self, h: SocketHandle) -> Result<crate::tcp::TcpInfo, SocketError> {
        let conn = self.conn(h)?;
        let tcb = conn.tcb().ok_or(SocketError::InvalidHandle)?;
        Ok(tcb.info(conn.name()))
    }

    /// A copy of the connection's counters.
    pub fn stats(&self, h: SocketHandle) -> Result<TcpStats, SocketError> {
        Ok(self.conn(h)?.stats())
    }

    /// Every live handle the application holds (accepted or connected).
    pub fn handles(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.conns
            .iter()
            .filter(|(_, s)| !s.released)
            .map(|(i, s)| SocketHandle {
                index: i as u32,
                generation: s.generation,
            })
    }

    // ----- bookkeeping ------------------------------------------------------

    fn iss(&self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNum {
        match self.cfg.fixed_isn {
            Some(isn) => SeqNum(isn),
            None => self.isn.isn(now, local, remote),
        }
    }

    fn handle_of(&self, idx: usize) -> SocketHandle {
        SocketHandle {
            index: idx as u32,
            generation: self.conns[idx].generation,
        }
    }

    fn insert(&mut self, conn: Conn, listener: Option<u16>) -> usize {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        self.conns.insert(Slot {
            conn: Some(conn),
            generation,
            released: true,
            listener,
            scheduled: None,
            timer_gen: 0,
            in_txq: false,
        })
    }

    fn mark_tx(&mut self, idx: usize) {
        let slot = &mut self.conns[idx];
        if !slot.in_txq {
            slot.in_txq = true;
            self.txq.push_back(idx);
        }
    }

    /// Makes sure the wheel holds an entry no later than the connection's
    /// earliest deadline. A later deadline leaves the earlier entry in place:
    /// when it fires the connection finds nothing due and is rescheduled,
    /// which is cheaper than touching the wheel on every ACK.
    fn schedule(&mut self, idx: usize) {
        let slot = &mut self.conns[idx];
        let Some(deadline) = slot.conn.as_ref().and_then(Conn::next_deadline) else {
            return;
        };
        if slot.scheduled.is_some_and(|s| s <= deadline) {
            return;
        }
        let g = self.next_timer_gen;
        self.next_timer_gen = self.next_timer_gen.wrapping_add(1);
        slot.timer_gen = g;
        slot.scheduled = Some(deadline);
        self.timers.insert(deadline, (idx as u32, g));
    }

    /// After anything touched a connection: report its events, schedule its
    /// timer, queue it for transmission, and hand it to its listener or
    /// remove it when that is due.
    fn after_update(&mut self, idx: usize) {
        let h = self.handle_of(idx);
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let synchronized = conn.is_synchronized();
        let closed = conn.is_closed();
        let bits = conn.take_events();
        let error = conn.error();
        let released = slot.released;
        // TIME-WAIT keeps the TCB only while the application may read it.
        let shed = if released { conn.shed() } else { None };
        if let Some(tcb) = shed {
            self.retired.accumulate(tcb.stats());
        }

        // A connection from a listener goes to the accept queue once the
        // handshake completes, or disappears if it dies before that.
        if let Some(port) = slot.listener {
            if closed {
                slot.listener = None;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open = l.half_open.saturating_sub(1);
                }
            } else if synchronized {
                slot.listener = None;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open = l.half_open.saturating_sub(1);
                    l.queue.push_back(h);
                    self.events.push_back(Event::Incoming(ListenerHandle(port)));
                }
            }
        }

        if !released && bits != 0 {
            use crate::tcp::tcb_events as ev;
            if bits & ev::CONNECTED != 0 {
                self.events.push_back(Event::Connected(h));
            }
            if bits & ev::READABLE != 0 {
                self.events.push_back(Event::Readable(h));
            }
            if bits & ev::WRITABLE != 0 {
                self.events.push_back(Event::Writable(h));
            }
            if bits & ev::PEER_CLOSED != 0 {
                self.events.push_back(Event::PeerClosed(h));
            }
            if bits & ev::ERROR != 0
                && let Some(e) = error
            {
                self.events.push_back(Event::Error(h, e));
            }
            if bits & ev::CLOSED != 0 {
                self.events.push_back(Event::Closed(h));
            }
        }
        if closed {
            // RFC 9293 3.10.7.1: from now on a segment for this 4-tuple
            // finds a closed port, even while the application still holds
            // the handle to read what is left.
            self.unlink(idx);
        }
        self.mark_tx(idx);
        self.schedule(idx);
        self.maybe_remove(idx);
    }

    /// Takes the connection at `idx` out of the demultiplexing table, if
    /// it is still the one its 4-tuple leads to.
    fn unlink(&mut self, idx: usize) {
        let Some(conn) = self.conns[idx].conn.as_ref() else {
            return;
        };
        let key = tuple_key(conn.local().port(), conn.remote());
        if self.tuples.get(&key) == Some(&idx) {
            self.tuples.remove(&key);
        }
    }

    /// Frees a slot whose connection is CLOSED, whose handle the application
    /// let go of, and that has nothing left to send.
    fn maybe_remove(&mut self, idx: usize) {
        let slot = &self.conns[idx];
        let done = slot.released
            && !slot.in_txq
            && slot.listener.is_none()
            && slot.conn.as_ref().is_none_or(Conn::is_closed);
        if !done {
            return;
        }
        self.unlink(idx);
        let slot = self.conns.remove(idx);
        if let Some(conn) = slot.conn {
            self.retired.accumulate(&conn.stats());
        }
    }
}
