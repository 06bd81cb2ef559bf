//! A deterministic in-memory network for testing stacks without a device.
//!
//! Two or more [`Stack`]s exchange packets over links with latency,
//! bandwidth, a bounded queue, and seeded loss, reordering, duplication and
//! corruption. Time is virtual: the simulator jumps to the next packet
//! arrival or timer, so a minute of TCP runs in milliseconds, and the same
//! seed reproduces the same run bit for bit.
//!
//! No I/O, no clock, no OS randomness, no `unsafe`.
//!
//! Applications run inside the simulation through the [`App`] trait: each
//! node has one, called with every event its stack raises and once per step.

#![forbid(unsafe_code)]

pub mod apps;

use crate::stack::rand::Rng;
use crate::stack::{Event, Stack, StackConfig};
use crate::time::Instant;
use crate::wire::vnet::segment_tcp4;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One direction of a link: what happens to packets a node sends.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Serialisation rate in bits per second; `None` is infinitely fast.
    pub bandwidth_bps: Option<u64>,
    /// Bytes the link's queue holds before it drops (tail drop); only with a
    /// bandwidth.
    pub queue_bytes: usize,
    /// Packets longer than this are dropped.
    pub mtu: usize,
    /// A router at the narrow point: a packet longer than `mtu` with DF
    /// set is answered with an ICMP "fragmentation needed" carrying `mtu`,
    /// from this address (RFC 1191). `None`: dropped without a word, a
    /// path MTU black hole.
    pub mtu_router: Option<Ipv4Addr>,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is delayed by up to `reorder_delay` more,
    /// so that later packets overtake it.
    pub reorder: f64,
    /// The most a reordered packet is delayed beyond the link's latency.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a packet is flipped.
    pub corrupt: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(1),
            bandwidth_bps: None,
            queue_bytes: 1 << 20,
            mtu: 1500,
            mtu_router: None,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(2),
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }
}

/// Application logic that runs inside the simulation on one node.
pub trait App: core::any::Any {
    /// Called for each event the node's stack raises.
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: Event);
    /// Called once per simulation step, after events.
    fn poll(&mut self, _now: Instant, _stack: &mut Stack) {}
    /// The application is finished (the run may stop when all are).
    fn done(&self) -> bool {
        true
    }
}

/// An application that does nothing.
#[derive(Debug, Default)]
pub struct Idle;

impl App for Idle {
    fn on_event(&mut self, _: Instant, _: &mut Stack, _: Event) {}
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// Too many steps without virtual time moving: something loops.
    Livelock {
        /// Virtual time when the run was stopped.
        at: Instant,
        /// Steps taken at that time.
        steps: u64,
    },
    /// The deadline passed before the applications finished.
    Deadline {
        /// Virtual time when the run was stopped.
        at: Instant,
    },
    /// Nothing is in flight, no timer is pending and the applications are
    /// not finished: they wait for something that will never come.
    Stalled {
        /// Virtual time when the run was stopped.
        at: Instant,
    },
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SimError::Livelock { at, steps } => {
                write!(f, "livelock: {steps} steps without time advancing at {at}")
            }
            SimError::Deadline { at } => write!(f, "deadline reached at {at}"),
            SimError::Stalled { at } => write!(f, "stalled at {at}: nothing left to happen"),
        }
    }
}

impl std::error::Error for SimError {}

/// Per-node link counters, in packets unless named otherwise. All count what
/// the node sent, except `delivered` and `bytes_delivered`, which count what
/// it received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets put on the link (after segmentation, before any fault).
    pub sent: u64,
    /// Packets delivered to this node's stack.
    pub delivered: u64,
    /// Packets lost: to the link's `loss`, a [`Shape::Drop`], or a
    /// destination no node has.
    pub lost: u64,
    /// Packets dropped because the link's queue (`queue_bytes`) was full.
    pub queue_drops: u64,
    /// Packets dropped for exceeding the link's MTU.
    pub mtu_drops: u64,
    /// Packet copies delayed by up to `reorder_delay` so that others can
    /// overtake them.
    pub reordered: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packet copies with one bit flipped.
    pub corrupted: u64,
    /// Bytes (whole IPv4 packets) delivered to this node's stack.
    pub bytes_delivered: u64,
    /// Segments cut from super-packets (offloading nodes).
    pub segmented: u64,
    /// Packets a [`Network::set_forger`] function made from this node's.
    pub forged: u64,
    /// ICMP "fragmentation needed" the link's `mtu_router` sent back.
    pub frag_needed_sent: u64,
}

struct Node {
    stack: Stack,
    app: Box<dyn App>,
    link: LinkConfig,
    stats: LinkStats,
    /// When the link's transmitter is free again.
    busy_until: Instant,
    /// The node's stack leaves checksums and segmentation to its device
    /// (`TcpConfig::checksum_offload`): the node's link cuts super-packets
    /// into MTU-sized segments with complete checksums, as a device would.
    offload: bool,
}

/// A packet in flight.
struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// The destination address of the IPv4 packet in `packet`, or
/// `UNSPECIFIED` if it is shorter than a header.
fn dst_addr(packet: &[u8]) -> Ipv4Addr {
    match packet.get(16..20) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// Packets one node may send in one step before the run is declared a
/// send loop (a livelock inside a single step, which the step counter
/// cannot see).
const MAX_PACKETS_PER_STEP: u64 = 1_000_000;

/// Steps without time advancing before a run is declared a livelock.
const LIVELOCK_STEPS: u64 = 1_000_000;

/// The simulated network.
pub struct Network {
    now: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    buf: Vec<u8>,
    /// A super-packet being cut into segments (offloading nodes).
    super_buf: Vec<u8>,
    pool: Vec<Vec<u8>>,
    steps: u64,
    /// Optional observer of every packet put on a link: (time, from, bytes).
    tap: Option<Tap>,
    shaper: Option<Shaper>,
    forger: Option<Forger>,
}

/// An observer of every packet put on a link: (time, from node, bytes).
type Tap = Box<dyn FnMut(Instant, usize, &[u8])>;
type Shaper = Box<dyn FnMut(Instant, usize, &[u8]) -> Shape>;
/// A maker of forged packets: (time, from node, bytes, out) -> made one.
type Forger = Box<dyn FnMut(Instant, usize, &[u8], &mut Vec<u8>) -> bool>;

/// What a [`Network::set_shaper`] function does to one packet: the way to
/// lose or delay exactly the packets a test names, where the random faults
/// of [`LinkConfig`] cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Leave the packet to the link and its random faults.
    Pass,
    /// Lose the packet (counted in [`LinkStats::lost`]).
    Drop,
    /// Deliver this much later than the link would.
    Delay(Duration),
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl Network {
    /// An empty network; `seed` drives every fault decision.
    pub fn new(seed: u64) -> Network {
        Network {
            now: Instant::ZERO,
            rng: Rng::new(seed ^ 0x5151_5151_5151_5151),
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            order: 0,
            buf: vec![0u8; 65_536],
            super_buf: vec![0u8; 65_536],
            pool: Vec::new(),
            steps: 0,
            tap: None,
            shaper: None,
            forger: None,
        }
    }

    /// Adds a node running `app` on a stack built from `cfg`; `link` shapes
    /// what the node sends. Returns the node's index.
    ///
    /// A stack configured for a device with offloads
    /// (`TcpConfig::checksum_offload`, `tso_max`) gets one: what it sends is
    /// cut into segments and its checksums completed before the link (see
    /// [`crate::wire::vnet::segment_tcp4`]); the link's faults then act on
    /// each segment.
    pub fn add_node(&mut self, cfg: StackConfig, link: LinkConfig, app: Box<dyn App>) -> usize {
        let offload = cfg.tcp.checksum_offload;
        let stack = Stack::new(cfg, self.now);
        self.nodes.push(Node {
            stack,
            app,
            link,
            stats: LinkStats::default(),
            busy_until: self.now,
            offload,
        });
        self.nodes.len() - 1
    }

    /// The virtual time (starts at [`Instant::ZERO`]).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Steps taken so far ([`Network::step`]).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The stack of node `node` (an index from [`Network::add_node`]).
    pub fn stack(&self, node: usize) -> &Stack {
        &self.nodes[node].stack
    }

    /// The stack of node `node`, to call it directly between steps.
    pub fn stack_mut(&mut self, node: usize) -> &mut Stack {
        &mut self.nodes[node].stack
    }

    /// The counters of node `node`'s link.
    pub fn link_stats(&self, node: usize) -> &LinkStats {
        &self.nodes[node].stats
    }

    /// The configuration of node `node`'s outgoing link, to change it
    /// mid-run (e.g. to raise its loss or narrow its MTU).
    pub fn link_mut(&mut self, node: usize) -> &mut LinkConfig {
        &mut self.nodes[node].link
    }

    /// The application of a node, to read its results. Panics if `T` is not
    /// the node's application type.
    pub fn app<T: App>(&self, node: usize) -> &T {
        let app: &dyn core::any::Any = &*self.nodes[node].app;
        app.downcast_ref::<T>().expect("app type")
    }

    /// Decides, before the link's own faults, what happens to each packet
    /// put on a link: (time, sending node, bytes) -> [`Shape`].
    pub fn set_shaper(&mut self, shaper: impl FnMut(Instant, usize, &[u8]) -> Shape + 'static) {
        self.shaper = Some(Box::new(shaper));
    }

    /// Watches every packet put on any link: (time, sending node, bytes),
    /// before the shaper and the link's faults.
    pub fn set_tap(&mut self, tap: impl FnMut(Instant, usize, &[u8]) + 'static) {
        self.tap = Some(Box::new(tap));
    }

    /// An attacker on the path: for each packet put on a link, (time,
    /// sending node, bytes, out) may write a whole IPv4 packet into `out`
    /// and return true. That packet reaches the node its destination
    /// address names one link latency later, ahead of the original and
    /// past every fault of the link; the original goes on as usual.
    pub fn set_forger(
        &mut self,
        forger: impl FnMut(Instant, usize, &[u8], &mut Vec<u8>) -> bool + 'static,
    ) {
        self.forger = Some(Box::new(forger));
    }

    /// A packet from no node (an off-path attacker spoofing sources):
    /// delivered at `at` (or now, if that has passed) to the node its
    /// destination address names, past every link fault. `false` if no
    /// node has that address.
    pub fn inject(&mut self, at: Instant, packet: Vec<u8>) -> bool {
        let Some(to) = self.route(dst_addr(&packet)) else {
            return false;
        };
        self.schedule(at.max(self.now), to, packet);
        true
    }

    fn route(&self, dst: Ipv4Addr) -> Option<usize> {
        self.nodes.iter().position(|n| n.stack.addr() == dst)
    }

    /// Drains every stack's output onto its link.
    fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            let mut polls = 0u64;
            loop {
                // A stack must run dry within a step: no window or buffer
                // lets it send this much at one instant.
                polls += 1;
                assert!(
                    polls <= MAX_PACKETS_PER_STEP,
                    "node {i} kept sending: about {MAX_PACKETS_PER_STEP} packets at {}",
                    self.now
                );
                let now = self.now;
                if !self.nodes[i].offload {
                    let Some(len) = self.nodes[i].stack.poll_transmit(now, &mut self.buf) else {
                        break;
                    };
                    self.transmit(i, len);
                    continue;
                }
                let Some((len, vnet)) = self.nodes[i]
                    .stack
                    .poll_transmit_frame(now, &mut self.super_buf)
                else {
                    break;
                };
                let mut index = 0;
                while let Ok(Some(n)) =
                    segment_tcp4(&vnet, &self.super_buf[..len], index, &mut self.buf)
                {
                    self.nodes[i].stats.segmented += u64::from(vnet.is_gso());
                    self.transmit(i, n);
                    index += 1;
                }
                if index == 0 {
                    // What no device could send: counted, not delivered.
                    self.nodes[i].stats.sent += 1;
                    self.nodes[i].stats.mtu_drops += 1;
                }
            }
        }
    }

    /// Puts one packet that node `from` sent (`self.buf[..len]`) on its
    /// link: the tap sees it, the forger may add one of its own, the shaper
    /// may drop or delay it, then the link applies its MTU, queue and
    /// random faults and schedules what survives.
    ///
    /// The steps draw from the seeded generator in a fixed order (loss,
    /// duplication, then per copy reordering and corruption); changing that
    /// order changes what every seed reproduces.
    fn transmit(&mut self, from: usize, len: usize) {
        if let Some(tap) = self.tap.as_mut() {
            tap(self.now, from, &self.buf[..len]);
        }
        self.forge(from, len);
        let Some(shaped_delay) = self.shape(from, len) else {
            return;
        };
        let to = self.route(dst_addr(&self.buf[..len]));
        self.nodes[from].stats.sent += 1;
        if len > self.nodes[from].link.mtu {
            self.drop_oversized(from, len);
            return;
        }
        let Some(depart) = self.serialise(from, len) else {
            return;
        };
        let Some(to) = to else {
            self.nodes[from].stats.lost += 1;
            return;
        };
        self.apply_faults(from, len, to, depart, shaped_delay);
    }

    /// Lets the forger, if any, write a packet of its own from the one
    /// `from` sent; it reaches the node its destination names one link
    /// latency later, past the shaper and the link's faults.
    fn forge(&mut self, from: usize, len: usize) {
        let Some(forger) = self.forger.as_mut() else {
            return;
        };
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        let forged = forger(self.now, from, &self.buf[..len], &mut data) && data.len() >= 20;
        match forged.then(|| self.route(dst_addr(&data))).flatten() {
            Some(to) => {
                self.nodes[from].stats.forged += 1;
                let at = self.now + self.nodes[from].link.latency;
                self.schedule(at, to, data);
            }
            None => self.pool.push(data),
        }
    }

    /// Asks the shaper, if any, about the packet: `None` if it drops it
    /// (counted as sent and lost), else the delay it adds.
    fn shape(&mut self, from: usize, len: usize) -> Option<Duration> {
        let shape = match self.shaper.as_mut() {
            Some(f) => f(self.now, from, &self.buf[..len]),
            None => Shape::Pass,
        };
        match shape {
            Shape::Drop => {
                self.nodes[from].stats.sent += 1;
                self.nodes[from].stats.lost += 1;
                None
            }
            Shape::Delay(d) => Some(d),
            Shape::Pass => Some(Duration::ZERO),
        }
    }

    /// A packet longer than the link MTU: counted, and answered with ICMP
    /// "fragmentation needed" if the link has a router to send one.
    fn drop_oversized(&mut self, from: usize, len: usize) {
        self.nodes[from].stats.mtu_drops += 1;
        if let Some(router) = self.nodes[from].link.mtu_router {
            self.frag_needed(from, router, len);
        }
    }

    /// Serialisation and the queue: when the packet has left the sender
    /// (now, on a link without a bandwidth), or `None` if the queue is full
    /// (tail drop, counted).
    fn serialise(&mut self, from: usize, len: usize) -> Option<Instant> {
        let now = self.now;
        let node = &mut self.nodes[from];
        let Some(bps) = node.link.bandwidth_bps else {
            return Some(now);
        };
        let start = node.busy_until.max(now);
        let queued = start - now;
        let queued_bytes = (queued.as_nanos() * u128::from(bps) / 8 / 1_000_000_000) as usize;
        if queued_bytes + len > node.link.queue_bytes {
            node.stats.queue_drops += 1;
            return None;
        }
        let tx = Duration::from_nanos((len as u64 * 8 * 1_000_000_000) / bps);
        node.busy_until = start + tx;
        Some(node.busy_until)
    }

    /// The link's random faults on a packet that left at `depart`: loss,
    /// duplication, then for each copy reordering and corruption; each
    /// surviving copy is scheduled for `to`.
    fn apply_faults(
        &mut self,
        from: usize,
        len: usize,
        to: usize,
        depart: Instant,
        shaped_delay: Duration,
    ) {
        let node = &mut self.nodes[from];
        let link = &node.link;
        if link.loss > 0.0 && self.rng.gen_bool(link.loss) {
            node.stats.lost += 1;
            return;
        }
        let copies = if link.duplicate > 0.0 && self.rng.gen_bool(link.duplicate) {
            node.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let node = &mut self.nodes[from];
            let link = &node.link;
            let mut at = depart + link.latency + shaped_delay;
            if link.reorder > 0.0 && self.rng.gen_bool(link.reorder) {
                node.stats.reordered += 1;
                let extra = self
                    .rng
                    .gen_range(1..link.reorder_delay.as_micros().max(2) as u64);
                at += Duration::from_micros(extra);
            }
            let mut data = self.pool.pop().unwrap_or_default();
            data.clear();
            data.extend_from_slice(&self.buf[..len]);
            if link.corrupt > 0.0 && self.rng.gen_bool(link.corrupt) {
                node.stats.corrupted += 1;
                let bit = self.rng.gen_range(0..len * 8);
                data[bit / 8] ^= 1 << (bit % 8);
            }
            self.schedule(at, to, data);
        }
    }

    /// Queues `data` for delivery to node `to` at `at`; packets due at the
    /// same instant arrive in the order they were scheduled.
    fn schedule(&mut self, at: Instant, to: usize, data: Vec<u8>) {
        self.order += 1;
        self.in_flight.push(Reverse(InFlight {
            at,
            order: self.order,
            to,
            data,
        }));
    }

    fn frag_needed(&mut self, from: usize, router: Ipv4Addr, len: usize) {
        use crate::wire::icmp::{FRAG_NEEDED, IcmpRepr};
        use crate::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Packet};
        let Ok(ip) = Ipv4Packet::new_checked(&self.buf[..len]) else {
            return;
        };
        if !ip.dont_frag() {
            return;
        }
        let (mtu, latency) = (self.nodes[from].link.mtu, self.nodes[from].link.latency);
        let icmp = IcmpRepr::DestUnreachable {
            code: FRAG_NEEDED,
            next_hop_mtu: mtu.min(usize::from(u16::MAX)) as u16,
            // RFC 792: the header and the first 8 bytes of its data.
            original: &self.buf[..len.min(IPV4_HEADER_LEN + 8)],
        };
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.resize(IPV4_HEADER_LEN + icmp.buffer_len(), 0);
        if icmp
            .emit_datagram(router, ip.src_addr(), 64, 0, &mut data)
            .is_err()
        {
            self.pool.push(data);
            return;
        }
        self.nodes[from].stats.frag_needed_sent += 1;
        self.schedule(self.now + latency, from, data);
    }

    /// Hands every stack's events to its application and lets it poll.
    fn run_apps(&mut self) {
        let now = self.now;
        for node in &mut self.nodes {
            while let Some(ev) = node.stack.poll_event() {
                node.app.on_event(now, &mut node.stack, ev);
            }
            node.app.poll(now, &mut node.stack);
            // The app's calls may have raised more events.
            while let Some(ev) = node.stack.poll_event() {
                node.app.on_event(now, &mut node.stack, ev);
            }
        }
    }

    /// The time of the next thing that will happen.
    fn next_event(&self) -> Option<Instant> {
        let packet = self.in_flight.peek().map(|Reverse(p)| p.at);
        let timer = self
            .nodes
            .iter()
            .filter_map(|n| n.stack.poll_timeout())
            .min();
        match (packet, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs one step: apps, output, then time jumps to the next event, where
    /// packets are delivered and timers run. Returns false if nothing is left
    /// to happen.
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        self.run_apps();
        self.flush();
        let Some(next) = self.next_event() else {
            return false;
        };
        if next > self.now {
            self.now = next;
        }
        let now = self.now;
        while let Some(Reverse(p)) = self.in_flight.peek() {
            if p.at > now {
                break;
            }
            let Reverse(p) = self.in_flight.pop().expect("peeked");
            let node = &mut self.nodes[p.to];
            node.stack.handle_packet(now, &p.data);
            let from_stats = p.data.len() as u64;
            self.pool.push(p.data);
            // Delivered counts on the receiving side's view of the link.
            node.stats.bytes_delivered += from_stats;
            node.stats.delivered += 1;
        }
        for node in &mut self.nodes {
            if node.stack.poll_timeout().is_some_and(|t| t <= now) {
                node.stack.handle_timeout(now);
            }
        }
        true
    }

    /// Runs until every application is done, or fails with the reason.
    pub fn run(&mut self, deadline: Duration) -> Result<(), SimError> {
        self.run_until(deadline, |net| net.nodes.iter().all(|n| n.app.done()))
    }

    /// Runs until `stop` returns true, or fails with the reason.
    pub fn run_until(
        &mut self,
        deadline: Duration,
        mut stop: impl FnMut(&Network) -> bool,
    ) -> Result<(), SimError> {
        let end = Instant::ZERO + deadline;
        let mut last_time = self.now;
        let mut still = 0u64;
        loop {
            if stop(self) {
                return Ok(());
            }
            if self.now > end {
                return Err(SimError::Deadline { at: self.now });
            }
            if !self.step() {
                self.run_apps();
                self.flush();
                if stop(self) {
                    return Ok(());
                }
                if self.in_flight.is_empty() && self.next_event().is_none() {
                    return Err(SimError::Stalled { at: self.now });
                }
            }
            if self.now == last_time {
                still += 1;
                if still > LIVELOCK_STEPS {
                    return Err(SimError::Livelock {
                        at: self.now,
                        steps: still,
                    });
                }
            } else {
                last_time = self.now;
                still = 0;
            }
        }
    }
}
