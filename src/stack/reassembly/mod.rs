//! IPv4 reassembly: a host MUST reassemble (RFC 1122 3.3.2). Fragments are
//! held per datagram until every byte has come; the whole payload is then
//! handed back, and the stack processes it exactly as it processes an
//! unfragmented datagram's (same demultiplexing, same checksum checks).
//!
//! Read first: RFC 791 section 3.2 (the fragmentation fields and the
//! reassembly procedure), RFC 1122 3.3.2, RFC 1858 (tiny and offset-1 TCP
//! fragments), RFC 5722 and RFC 8200 section 4.5 (overlapping fragments).
//!
//! The rules, in the order a fragment meets them:
//!
//! 1. A fragment is checked on its own; failing, it is dropped, and the
//!    datagram it belongs to with it (that datagram can no longer complete,
//!    so it is freed now rather than at its timeout):
//!    - empty; a fragment with MF set whose payload is not a multiple of 8
//!      bytes; data past 65,515 bytes (65,535 less a 20-byte header)
//!      — counted in [`Counters::ip_frag_invalid`];
//!    - TCP only (RFC 1858): offset 1 (8 bytes), or a first fragment too
//!      short for the whole TCP header (20 bytes, or what its data offset
//!      says) — counted in [`Counters::ip_frag_tiny`].
//! 2. Its datagram is found by (source, destination, protocol,
//!    identification), or made; the datagram's deadline is then fixed at
//!    [`ReassemblyConfig::timeout`] later (Linux's 30 s; RFC 1122 suggests
//!    60-120 s, a shorter hold frees memory sooner).
//! 3. Its end must agree with the datagram's: a second last fragment (MF
//!    clear) with another end, a last fragment that ends before data
//!    already held, a fragment with MF set that reaches the known end:
//!    dropped with its datagram, [`Counters::ip_frag_invalid`].
//! 4. Overlap. An exact duplicate (same offset, same bytes, same MF) is
//!    dropped alone, [`Counters::ip_frag_duplicates`]: networks duplicate
//!    packets, and RFC 8200 4.5 allows this. Any other overlap drops the
//!    whole datagram, [`Counters::ip_frag_overlap`]: the RFC 5722 policy,
//!    as Linux does for IPv4, so that no two readings of the same bytes
//!    can exist.
//! 5. Memory. Every fragment held is charged its payload plus
//!    [`FRAGMENT_OVERHEAD`], every datagram [`DATAGRAM_OVERHEAD`]; the
//!    total stays within [`ReassemblyConfig::memory`] and the number of
//!    datagrams within [`ReassemblyConfig::max_datagrams`]. When a
//!    fragment does not fit, the *oldest other* datagrams are dropped
//!    until it does (as Linux did before 4.17: legitimate datagrams
//!    complete within a round trip, so a flood has to outpace them to
//!    hurt; refusing new fragments instead would let a flood that fills
//!    the budget once block every datagram for a whole timeout). A
//!    fragment that its own datagram could not hold within the budget
//!    drops that datagram. Each datagram dropped so is counted in
//!    [`Counters::ip_frag_memory`].
//! 6. When the datagram has every byte, its payload is copied into the
//!    caller's buffer in one piece, [`Counters::ip_reassembled`].
//!
//! Memory grows with what arrived: a datagram holds a sorted list of the
//! fragments' payloads, never a 64 KiB buffer up front. Datagrams live in
//! arrival order, which is also deadline order (every deadline is arrival
//! plus the same timeout, and `now` never goes back), so the earliest
//! deadline and the oldest datagram are both at the front. A fragment's
//! datagram is found by a linear search, newest first, bounded by
//! [`ReassemblyConfig::max_datagrams`].
//!
//! No ICMP time exceeded is sent when a datagram expires (RFC 1122 3.3.2
//! allows it only when fragment zero came, and does not require it).
//!
//! No I/O, no clock: time arrives as `now`.

#[cfg(test)]
mod tests;

use super::Counters;
use crate::time::Instant;
use crate::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Fragment, MAX_IPV4_PACKET, PROTO_TCP};
use crate::wire::tcp::TCP_HEADER_LEN;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The most payload a datagram may carry: 65,535 bytes less a 20-byte
/// header. A fragment reaching past it is invalid.
pub const MAX_PAYLOAD: usize = MAX_IPV4_PACKET - IPV4_HEADER_LEN;

/// The default [`ReassemblyConfig::memory`]: 4 MiB, Linux's
/// `ipfrag_high_thresh`.
pub const DEFAULT_MEMORY: usize = 4 << 20;
/// The default [`ReassemblyConfig::max_datagrams`].
pub const DEFAULT_MAX_DATAGRAMS: usize = 256;
/// The default [`ReassemblyConfig::timeout`]: 30 s, Linux's
/// `ipfrag_time`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes charged for each fragment held, beyond its payload: its entry in
/// the datagram's list (with room for the list's growth) and the
/// allocator's own overhead for its payload.
pub const FRAGMENT_OVERHEAD: usize = 64;
/// Bytes charged for each datagram being reassembled, before any payload.
pub const DATAGRAM_OVERHEAD: usize = 128;

/// Limits for reassembly, in [`StackConfig::reassembly`].
///
/// [`StackConfig::reassembly`]: super::StackConfig::reassembly
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Bytes all datagrams being reassembled may hold together, payload and
    /// overhead ([`FRAGMENT_OVERHEAD`], [`DATAGRAM_OVERHEAD`]) counted.
    /// One datagram holds at most 65,515 bytes of payload in at most 8,190
    /// fragments, about 590 KB charged, so the default 4 MiB
    /// ([`DEFAULT_MEMORY`]) always holds several. 0 refuses every fragment.
    pub memory: usize,
    /// Datagrams being reassembled at once ([`DEFAULT_MAX_DATAGRAMS`]); the
    /// oldest makes room for a new one. 0 refuses every fragment.
    pub max_datagrams: usize,
    /// How long a datagram may wait for its fragments, from its first
    /// fragment's arrival ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for ReassemblyConfig {
    /// 4 MiB, 256 datagrams, 30 s.
    fn default() -> Self {
        ReassemblyConfig {
            memory: DEFAULT_MEMORY,
            max_datagrams: DEFAULT_MAX_DATAGRAMS,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What became of a fragment given to [`Reassembler::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Held: its datagram waits for more.
    Held,
    /// It completed its datagram: the whole payload is in the caller's
    /// buffer.
    Complete(Reassembled),
    /// Dropped, and counted (see the module docs for which counter).
    Dropped(DropReason),
}

/// A datagram put back together: its header fields. The payload is in the
/// buffer given to [`Reassembler::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembled {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The payload's protocol number.
    pub protocol: u8,
    /// The time to live of fragment zero.
    pub ttl: u8,
}

/// Why [`Reassembler::push`] dropped a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// An exact duplicate of a fragment held; only it is dropped.
    Duplicate,
    /// It overlaps a fragment held: the datagram is dropped.
    Overlap,
    /// A TCP fragment at offset 8, or a first one too short for the TCP
    /// header (RFC 1858).
    Tiny,
    /// Empty, misaligned, too long, or disagreeing with the datagram's end.
    Invalid,
    /// Its datagram did not fit the memory budget or the datagram limit.
    Memory,
}

/// Which datagram a fragment belongs to (RFC 791 section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

impl Key {
    fn of(frag: &Ipv4Fragment<'_>) -> Key {
        Key {
            src: frag.src,
            dst: frag.dst,
            protocol: frag.protocol,
            ident: frag.ident,
        }
    }
}

/// One fragment's payload and where it goes.
#[derive(Debug)]
struct Piece {
    offset: usize,
    data: Box<[u8]>,
}

impl Piece {
    fn end(&self) -> usize {
        self.offset + self.data.len()
    }
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Datagram {
    key: Key,
    deadline: Instant,
    /// Sorted by offset; no two overlap.
    pieces: Vec<Piece>,
    /// The payload length, once the last fragment (MF clear) came.
    total: Option<usize>,
    /// Payload bytes held.
    received: usize,
    /// Bytes charged to the budget for this datagram.
    charged: usize,
    /// Fragment zero's TTL and header length, once it came.
    first: Option<(u8, usize)>,
}

/// Where a fragment goes in its datagram's list.
enum Place {
    At(usize),
    Duplicate,
    Overlap,
}

impl Datagram {
    /// Rule 3: the datagram's payload length after `frag`, or `None` when
    /// `frag` disagrees with it (the outer `Option`).
    fn end_after(&self, frag: &Ipv4Fragment<'_>) -> Option<Option<usize>> {
        let end = frag.end();
        if frag.more {
            // A fragment with more to follow ends before the known end.
            match self.total {
                Some(t) if end >= t => None,
                t => Some(t),
            }
        } else if self.total.is_some_and(|t| t != end)
            || self.pieces.last().is_some_and(|p| p.end() > end)
        {
            None
        } else {
            Some(Some(end))
        }
    }

    /// Rule 4: where `frag` goes, if it overlaps nothing held.
    fn place(&self, frag: &Ipv4Fragment<'_>) -> Place {
        let at = self.pieces.partition_point(|p| p.offset < frag.offset);
        if let Some(p) = self.pieces.get(at) {
            if p.offset == frag.offset {
                // Same MF: rule 3 has let through a last fragment only where
                // the end is unknown or its own, and one with MF set only
                // before the end; an unknown end means this one's twin had
                // MF set.
                let same_mf = frag.more || self.total.is_some();
                if same_mf && *p.data == *frag.payload {
                    return Place::Duplicate;
                }
                return Place::Overlap;
            }
            if p.offset < frag.end() {
                return Place::Overlap;
            }
        }
        if at > 0 && self.pieces[at - 1].end() > frag.offset {
            return Place::Overlap;
        }
        Place::At(at)
    }

    fn is_complete(&self) -> bool {
        self.total == Some(self.received)
    }
}

/// Rule 1: checks a fragment on its own.
fn check_alone(frag: &Ipv4Fragment<'_>) -> Result<(), DropReason> {
    let len = frag.payload.len();
    if len == 0 || (frag.more && len % 8 != 0) || frag.end() > MAX_PAYLOAD {
        return Err(DropReason::Invalid);
    }
    if frag.protocol == PROTO_TCP {
        // RFC 1858 section 3.4: "if FO=1 and PROTOCOL=TCP then DROP
        // PACKET": such a fragment can only rewrite the header's flags.
        if frag.offset == 8 {
            return Err(DropReason::Tiny);
        }
        // RFC 1858 section 3.2: a first fragment must hold the whole
        // header, options included, so that no later one can change it.
        if frag.offset == 0 && frag.more {
            let header = frag
                .payload
                .get(12)
                .map_or(TCP_HEADER_LEN, |b| usize::from(b >> 4) * 4);
            if len < header.max(TCP_HEADER_LEN) {
                return Err(DropReason::Tiny);
            }
        }
    }
    Ok(())
}

/// Holds fragments until their datagrams are whole. See the module docs
/// for the rules; [`Reassembler::push`] takes fragments,
/// [`Reassembler::poll_timeout`] and [`Reassembler::handle_timeout`] expire
/// what waited too long.
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    /// Oldest first, which is also earliest deadline first.
    datagrams: VecDeque<Datagram>,
    /// Bytes charged, summed over `datagrams`.
    memory: usize,
}

impl Reassembler {
    /// An empty reassembler; it allocates nothing until a fragment comes.
    pub fn new(cfg: ReassemblyConfig) -> Reassembler {
        Reassembler {
            cfg,
            datagrams: VecDeque::new(),
            memory: 0,
        }
    }

    /// The limits it was built with.
    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    /// Bytes charged for what is held now; never above
    /// [`ReassemblyConfig::memory`].
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Datagrams being reassembled now.
    pub fn datagrams(&self) -> usize {
        self.datagrams.len()
    }

    /// Takes one fragment (the caller has checked its header and that it
    /// is addressed to us). When it completes its datagram, the datagram's
    /// payload replaces the contents of `out` and the outcome says whose it
    /// is. Drops and completions are counted in `counters`. No input makes
    /// this panic.
    pub fn push(
        &mut self,
        now: Instant,
        frag: &Ipv4Fragment<'_>,
        out: &mut Vec<u8>,
        counters: &mut Counters,
    ) -> Outcome {
        let key = Key::of(frag);
        let found = self.datagrams.iter().rposition(|d| d.key == key);
        if let Err(reason) = check_alone(frag) {
            if let Some(i) = found {
                self.remove(i);
            }
            match reason {
                DropReason::Tiny => counters.ip_frag_tiny += 1,
                _ => counters.ip_frag_invalid += 1,
            }
            return Outcome::Dropped(reason);
        }
        let i = match found {
            Some(i) => i,
            None => match self.create(now, key, counters) {
                Some(i) => i,
                None => {
                    counters.ip_frag_memory += 1;
                    return Outcome::Dropped(DropReason::Memory);
                }
            },
        };
        let d = &self.datagrams[i];
        let Some(total) = d.end_after(frag) else {
            self.remove(i);
            counters.ip_frag_invalid += 1;
            return Outcome::Dropped(DropReason::Invalid);
        };
        let at = match d.place(frag) {
            Place::At(at) => at,
            Place::Duplicate => {
                counters.ip_frag_duplicates += 1;
                return Outcome::Dropped(DropReason::Duplicate);
            }
            Place::Overlap => {
                self.remove(i);
                counters.ip_frag_overlap += 1;
                return Outcome::Dropped(DropReason::Overlap);
            }
        };
        let cost = frag.payload.len() + FRAGMENT_OVERHEAD;
        let Some(i) = self.make_room(i, cost, counters) else {
            return Outcome::Dropped(DropReason::Memory);
        };
        self.memory += cost;
        let d = &mut self.datagrams[i];
        d.charged += cost;
        d.received += frag.payload.len();
        d.total = total;
        if frag.offset == 0 {
            d.first = Some((frag.ttl, frag.header_len));
        }
        d.pieces.insert(
            at,
            Piece {
                offset: frag.offset,
                data: frag.payload.into(),
            },
        );
        if d.is_complete() {
            self.finish(i, out, counters)
        } else {
            Outcome::Held
        }
    }

    /// When [`Reassembler::handle_timeout`] has a datagram to expire: the
    /// earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.datagrams.front().map(|d| d.deadline)
    }

    /// Drops every datagram whose deadline has come, counted in
    /// [`Counters::ip_frag_timeout`]; returns how many.
    pub fn handle_timeout(&mut self, now: Instant, counters: &mut Counters) -> usize {
        let mut n = 0;
        while self.datagrams.front().is_some_and(|d| d.deadline <= now) {
            self.remove(0);
            n += 1;
        }
        counters.ip_frag_timeout += n as u64;
        n
    }

    /// A new datagram at the back, the oldest dropped first if the limit
    /// is reached; `None` when no datagram may be held at all.
    fn create(&mut self, now: Instant, key: Key, counters: &mut Counters) -> Option<usize> {
        if self.cfg.max_datagrams == 0 {
            return None;
        }
        while self.datagrams.len() >= self.cfg.max_datagrams {
            self.remove(0);
            counters.ip_frag_memory += 1;
        }
        self.datagrams.push_back(Datagram {
            key,
            deadline: now + self.cfg.timeout,
            pieces: Vec::new(),
            total: None,
            received: 0,
            charged: DATAGRAM_OVERHEAD,
            first: None,
        });
        self.memory += DATAGRAM_OVERHEAD;
        Some(self.datagrams.len() - 1)
    }

    /// Rule 5: makes room for `cost` more bytes in datagram `i`, dropping
    /// the oldest others; returns `i`'s index afterwards, or `None` when
    /// `i` itself cannot fit and was dropped. Every datagram dropped is
    /// counted.
    fn make_room(&mut self, mut i: usize, cost: usize, counters: &mut Counters) -> Option<usize> {
        if self.datagrams[i].charged + cost > self.cfg.memory {
            self.remove(i);
            counters.ip_frag_memory += 1;
            return None;
        }
        while self.memory + cost > self.cfg.memory {
            // Another datagram exists: `memory` sums every datagram's
            // charge, and `i`'s alone leaves room for `cost`.
            let oldest = usize::from(i == 0);
            self.remove(oldest);
            counters.ip_frag_memory += 1;
            if oldest < i {
                i -= 1;
            }
        }
        Some(i)
    }

    /// Rule 6: copies datagram `i`'s payload into `out` and lets it go.
    fn finish(&mut self, i: usize, out: &mut Vec<u8>, counters: &mut Counters) -> Outcome {
        let d = self.remove(i);
        // Complete means fragment zero is held: the pieces cover 0..total.
        let (ttl, header_len) = d.first.unwrap_or((0, IPV4_HEADER_LEN));
        if header_len + d.received > MAX_IPV4_PACKET {
            // Fragment zero's options make the datagram longer than an
            // IPv4 datagram can be.
            counters.ip_frag_invalid += 1;
            return Outcome::Dropped(DropReason::Invalid);
        }
        out.clear();
        out.reserve(d.received);
        for p in &d.pieces {
            out.extend_from_slice(&p.data);
        }
        counters.ip_reassembled += 1;
        Outcome::Complete(Reassembled {
            src: d.key.src,
            dst: d.key.dst,
            protocol: d.key.protocol,
            ttl,
        })
    }

    fn remove(&mut self, i: usize) -> Datagram {
        let d = self
            .datagrams
            .remove(i)
            .expect("datagram index from this reassembler");
        self.memory -= d.charged;
        d
    }
}
