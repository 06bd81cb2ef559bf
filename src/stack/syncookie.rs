//! SYN cookies (RFC 4987 3.6): when a listener's half-open entries are at
//! their bound, a SYN is answered with a SYN-ACK whose ISS encodes what the
//! connection needs, and nothing is kept; the ACK that completes the
//! handshake brings the cookie back (SEG.ACK - 1), and a valid one rebuilds
//! the connection straight into ESTABLISHED.
//!
//! The cookie, as Linux's `secure_tcp_syn_cookie` builds it:
//!
//! ```text
//! cookie = H1(4-tuple) + IRS + (t << 24) + ((H2(4-tuple, t) + m) mod 2^24)
//! ```
//!
//! - `t`: a counter that ticks every [`COOKIE_PERIOD`] (64 s), taken from
//!   `now`; a cookie is good while the counter has moved on by less than
//!   [`MAX_AGE`] ticks (64 to 128 s), which is the secret's rotation: a
//!   cookie seen once cannot be replayed later.
//! - `m`: the index of the peer's MSS in [`MSS_TABLE`] (rounded down).
//! - `H1`, `H2`: SipHash-2-4 of the 4-tuple (and, for `H2`, `t` and the
//!   IRS) under the stack's ISN key (`IsnGenerator::cookie_hash`); a
//!   forger who does not see our SYN-ACK guesses the low 24 bits with odds
//!   of 4 in 2^24. (Linux's `H2` leaves the IRS out, so an ACK whose
//!   sequence number is off by one or two can still pass with another
//!   MSS; here it cannot.)
//!
//! A SYN with timestamps keeps its window scale and SACK-permitted in the
//! low six bits of our TSval (Linux's `cookie_init_timestamp`): four bits
//! of shift (15 for none), one for SACK, one unused (ECN); the peer echoes
//! them in the ACK's TSecr. Without timestamps the cookie connection has
//! neither window scaling nor SACK, and the SYN-ACK offers only an MSS.
//!
//! Sans-IO: time is `now`, the key the stack's.

use super::isn::IsnGenerator;
use super::listeners::Listener;
use super::output::Control;
use super::table::tuple_key;
use super::{Event, ListenerHandle, Stack};
use crate::tcp::{Conn, CookieSyn, TcpConfig};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::tcp::TcpRepr;
use std::net::SocketAddrV4;
use std::time::Duration;

/// The MSS values a cookie can carry (Linux's IPv4 `msstab`): the peer's
/// MSS is rounded down to one of them, 536 when it gave none or less.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// How often the cookie's time counter ticks.
pub const COOKIE_PERIOD: Duration = Duration::from_secs(64);

/// A cookie is accepted while the counter has moved on by less than this
/// (Linux's `MAX_SYNCOOKIE_AGE`): the current period and the one before.
pub const MAX_AGE: u32 = 2;

/// Bits of the cookie below the counter.
const COUNTER_SHIFT: u32 = 24;
const LOW_MASK: u32 = (1 << COUNTER_SHIFT) - 1;

/// The low bits of our TSval that carry options, and their layout.
const TS_BITS: u32 = 6;
const TS_WSCALE_MASK: u32 = 0x0f;
const TS_SACK: u32 = 0x10;

/// Why a cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieError {
    /// Made more than [`MAX_AGE`] periods ago (or in the future).
    Expired,
    /// Not made by this stack for this 4-tuple and IRS.
    Forged,
}

/// The counter at `now`: one tick per [`COOKIE_PERIOD`].
fn counter(now: Instant) -> u32 {
    (now.total_micros() / COOKIE_PERIOD.as_micros() as u64) as u32
}

/// The index in [`MSS_TABLE`] of the largest entry no larger than `mss`.
pub fn mss_index(mss: Option<u16>) -> usize {
    let mss = mss.unwrap_or(MSS_TABLE[0]);
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0)
}

/// The cookie (our ISS) for a SYN from `remote` to `local` with sequence
/// number `irs`, keeping MSS index `mss_index`, made at `now`.
pub fn encode(
    key: &IsnGenerator,
    now: Instant,
    (local, remote): (SocketAddrV4, SocketAddrV4),
    irs: SeqNum,
    mss_index: usize,
) -> SeqNum {
    let t = counter(now);
    let h1 = key.cookie_hash(local, remote, [0, 0], 1);
    let h2 = key.cookie_hash(local, remote, [t, irs.0], 2);
    let low = h2.wrapping_add(mss_index as u32) & LOW_MASK;
    SeqNum(
        h1.wrapping_add(irs.0)
            .wrapping_add(t << COUNTER_SHIFT)
            .wrapping_add(low),
    )
}

/// Checks `cookie` (SEG.ACK - 1 of the ACK) against the 4-tuple and `irs`
/// (SEG.SEQ - 1) at `now`; the MSS index it carries if it is good.
pub fn decode(
    key: &IsnGenerator,
    now: Instant,
    (local, remote): (SocketAddrV4, SocketAddrV4),
    irs: SeqNum,
    cookie: SeqNum,
) -> Result<usize, CookieError> {
    let t_now = counter(now);
    let h1 = key.cookie_hash(local, remote, [0, 0], 1);
    let v = cookie.0.wrapping_sub(h1).wrapping_sub(irs.0);
    // The counter's low 8 bits are in the top of `v`: how far back.
    let age = t_now.wrapping_sub(v >> COUNTER_SHIFT) & (u32::MAX >> COUNTER_SHIFT);
    if age >= MAX_AGE {
        return Err(CookieError::Expired);
    }
    let t = t_now.wrapping_sub(age);
    let h2 = key.cookie_hash(local, remote, [t, irs.0], 2);
    let m = v.wrapping_sub(h2) & LOW_MASK;
    match usize::try_from(m) {
        Ok(i) if i < MSS_TABLE.len() => Ok(i),
        _ => Err(CookieError::Forged),
    }
}

/// Our TSval for the cookie's SYN-ACK: `ts_now` with its low bits holding
/// the window scale (15 for none) and SACK-permitted, and moved back a
/// little rather than ahead of the clock.
pub fn encode_ts(ts_now: u32, wscale: Option<u8>, sack_permitted: bool) -> u32 {
    let mut opts = wscale.map_or(TS_WSCALE_MASK, |w| u32::from(w.min(14)));
    if sack_permitted {
        opts |= TS_SACK;
    }
    let ts = (ts_now & !((1 << TS_BITS) - 1)) | opts;
    if (ts.wrapping_sub(ts_now) as i32) > 0 {
        ts.wrapping_sub(1 << TS_BITS)
    } else {
        ts
    }
}

/// What [`encode_ts`] kept, from the TSecr that echoes it: the peer's
/// window scale (`None`: no scaling) and whether it allows SACK.
pub fn decode_ts(tsecr: u32) -> (Option<u8>, bool) {
    let ws = tsecr & TS_WSCALE_MASK;
    let wscale = (ws != TS_WSCALE_MASK).then_some(ws as u8);
    (wscale, tsecr & TS_SACK != 0)
}

/// A listener that sent a cookie this long ago or less checks the ACKs
/// that reach it for one (Linux's `tcp_synq_no_recent_overflow`); others
/// are not even hashed.
fn recent(last: Option<Instant>, now: Instant) -> bool {
    last.is_some_and(|t| now.saturating_duration_since(t) <= COOKIE_PERIOD * MAX_AGE)
}

/// Our timestamp clock for a 4-tuple (as `Negotiated::ts_now`).
fn ts_now(now: Instant, ts_offset: u32) -> u32 {
    (now.total_millis() as u32).wrapping_add(ts_offset)
}

/// What of a SYN the cookie keeps, under the listener's settings: window
/// scale and SACK only where both sides want them and the SYN had
/// timestamps to carry them.
fn kept(cfg: &TcpConfig, seg: &TcpRepr<'_>, ts_offset: u32, now: Instant) -> CookieSyn {
    let o = &seg.options;
    let mss = MSS_TABLE[mss_index(o.mss)];
    let (wscale, sack_permitted, timestamps) = match o.timestamps {
        Some((tsval, _)) if cfg.timestamps => {
            let wscale = o
                .window_scale
                .filter(|_| cfg.window_scaling)
                .map(|w| w.min(14));
            let sack = o.sack_permitted && cfg.sack;
            let ours = encode_ts(ts_now(now, ts_offset), wscale, sack);
            (wscale, sack, Some((tsval, ours)))
        }
        _ => (None, false, None),
    };
    CookieSyn {
        irs: seg.seq,
        mss,
        wscale,
        sack_permitted,
        timestamps,
        window: seg.window,
    }
}

impl Stack {
    /// Answers a SYN with a cookie SYN-ACK (queued with the connectionless
    /// replies); keeps nothing but the time the listener last sent one.
    pub(super) fn send_syn_cookie(
        &mut self,
        now: Instant,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        seg: &TcpRepr<'_>,
    ) {
        let Some(l) = self.listeners.get_mut(&local.port()) else {
            return;
        };
        l.last_cookie = Some(now);
        let ts_offset = self.isn.ts_offset(local, remote);
        let syn = kept(l.listen.config(), seg, ts_offset, now);
        let iss = encode(
            &self.isn,
            now,
            (local, remote),
            seg.seq,
            mss_index(Some(syn.mss)),
        );
        if self.queue_control(Control::CookieSynAck {
            remote,
            local_port: local.port(),
            syn,
            iss,
            ts_offset,
        }) {
            self.counters.tcp_syncookies_sent += 1;
        }
    }

    /// An ACK (no SYN, no RST) to a listener that has no connection for it:
    /// if the listener sent cookies lately and SEG.ACK - 1 is a good one,
    /// the connection it stands for, ESTABLISHED with the ACK processed,
    /// goes into the accept queue. Returns `true` if the segment was taken
    /// (or dropped for a full queue or table); `false` leaves it to
    /// LISTEN, which answers an ACK with a RST.
    pub(super) fn check_syn_cookie(
        &mut self,
        now: Instant,
        (local, remote): (SocketAddrV4, SocketAddrV4),
        seg: &TcpRepr<'_>,
    ) -> bool {
        let port = local.port();
        let Some(l) = self.listeners.get(&port) else {
            return false;
        };
        if !self.cfg.syn_cookies || !recent(l.last_cookie, now) {
            return false;
        }
        let irs = seg.seq - 1u32;
        let iss = seg.ack - 1u32;
        let Ok(m) = decode(&self.isn, now, (local, remote), irs, iss) else {
            self.counters.tcp_syncookies_rejected += 1;
            return false;
        };
        if l.queue.len() >= l.backlog {
            self.counters.tcp_listen_overflow += 1;
            return true;
        }
        if self.conns.len() >= self.cfg.max_connections {
            self.counters.tcp_table_full += 1;
            return true;
        }
        let conn = cookie_conn(l, now, (local, remote), seg, (irs, iss, m), &self.isn);
        let (conn, _) = conn.handle_segment(now, seg, 0);
        if !conn.is_synchronized() {
            self.counters.tcp_syncookies_rejected += 1;
            return true;
        }
        self.counters.tcp_syncookies_accepted += 1;
        let idx = self.insert(conn, None);
        self.tuples.insert(tuple_key(port, remote), idx);
        let h = self.handle_of(idx);
        if let Some(l) = self.listeners.get_mut(&port) {
            l.queue.push_back(h);
            self.events.push_back(Event::Incoming(ListenerHandle(port)));
        }
        self.after_update(idx);
        true
    }
}

/// SYN-RECEIVED rebuilt from a good cookie and the ACK that brought it.
fn cookie_conn(
    l: &Listener,
    now: Instant,
    ends: (SocketAddrV4, SocketAddrV4),
    seg: &TcpRepr<'_>,
    (irs, iss, m): (SeqNum, SeqNum, usize),
    key: &IsnGenerator,
) -> Conn {
    let (wscale, sack_permitted, timestamps) = match seg.options.timestamps {
        Some((tsval, tsecr)) if l.listen.config().timestamps => {
            let (ws, sack) = decode_ts(tsecr);
            (ws, sack, Some((tsval, tsecr)))
        }
        _ => (None, false, None),
    };
    let syn = CookieSyn {
        irs,
        mss: MSS_TABLE[m],
        wscale,
        sack_permitted,
        timestamps,
        window: seg.window,
    };
    let ts_offset = key.ts_offset(ends.0, ends.1);
    l.listen.cookie_conn(now, ends, &syn, iss, ts_offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ends() -> (SocketAddrV4, SocketAddrV4) {
        (
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80),
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40_000),
        )
    }

    fn key() -> IsnGenerator {
        IsnGenerator::new([0x5a; 16])
    }

    #[test]
    fn syncookie_round_trips_every_mss_and_irs() {
        let k = key();
        let now = Instant::from_millis(1_000_000);
        for (i, &mss) in MSS_TABLE.iter().enumerate() {
            assert_eq!(mss_index(Some(mss)), i);
            for irs in [0, 1, 0x00ff_ffff, 0x8000_0000, u32::MAX] {
                let c = encode(&k, now, ends(), SeqNum(irs), i);
                assert_eq!(decode(&k, now, ends(), SeqNum(irs), c), Ok(i));
            }
        }
    }

    #[test]
    fn syncookie_mss_rounds_down_to_the_table() {
        assert_eq!(mss_index(None), 0);
        assert_eq!(mss_index(Some(100)), 0);
        assert_eq!(mss_index(Some(1299)), 0);
        assert_eq!(mss_index(Some(1300)), 1);
        assert_eq!(mss_index(Some(1459)), 2);
        assert_eq!(mss_index(Some(9000)), 3);
    }

    /// Good for the period it was made in and the next one, not after.
    #[test]
    fn syncookie_expires_after_two_periods() {
        let k = key();
        let made = Instant::from_millis(640_000); // the start of a period
        let c = encode(&k, made, ends(), SeqNum(7), 3);
        let p = COOKIE_PERIOD.as_millis() as u64;
        for (later, ok) in [(0, true), (p - 1, true), (p, true), (2 * p - 1, true)] {
            let at = Instant::from_millis(640_000 + later);
            assert_eq!(decode(&k, at, ends(), SeqNum(7), c).is_ok(), ok, "{later}");
        }
        for later in [2 * p, 3 * p, 100 * p, 256 * p] {
            let at = Instant::from_millis(640_000 + later);
            assert!(decode(&k, at, ends(), SeqNum(7), c).is_err(), "{later}");
        }
        // Not one from the future either.
        let before = Instant::from_millis(640_000 - 1);
        assert_eq!(
            decode(&k, before, ends(), SeqNum(7), c),
            Err(CookieError::Expired)
        );
    }

    /// Another tuple, another IRS, another key or a flipped bit: refused.
    #[test]
    fn syncookie_rejects_what_it_did_not_make() {
        let k = key();
        let now = Instant::from_millis(5_000_000);
        let (l, r) = ends();
        let c = encode(&k, now, (l, r), SeqNum(1000), 2);
        let other_port = SocketAddrV4::new(*r.ip(), r.port() + 1);
        let other_ip = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), r.port());
        assert!(decode(&k, now, (l, other_port), SeqNum(1000), c).is_err());
        assert!(decode(&k, now, (l, other_ip), SeqNum(1000), c).is_err());
        assert!(decode(&k, now, (l, r), SeqNum(1001), c).is_err());
        let other_key = IsnGenerator::new([0x5b; 16]);
        assert!(decode(&other_key, now, (l, r), SeqNum(1000), c).is_err());
        let mut refused = 0;
        for bit in 0..24 {
            let flipped = SeqNum(c.0 ^ (1 << bit));
            refused += usize::from(decode(&k, now, (l, r), SeqNum(1000), flipped).is_err());
        }
        // Flipping bit 0 or 1 may land on another table index.
        assert!(refused >= 22, "{refused}");
        // Blind guesses: about 4 in 2^24 pass; none of 10,000 here.
        let mut rng = crate::stack::rand::Rng::new(3);
        let forged = (0..10_000)
            .filter(|_| decode(&k, now, (l, r), SeqNum(1000), SeqNum(rng.next_u32())).is_ok())
            .count();
        assert_eq!(forged, 0);
    }

    #[test]
    fn syncookie_timestamp_round_trips_every_option() {
        for ts_now in [0u32, 63, 64, 1_000_003, u32::MAX] {
            for ws in [None, Some(0), Some(1), Some(7), Some(14)] {
                for sack in [false, true] {
                    let ts = encode_ts(ts_now, ws, sack);
                    assert_eq!(decode_ts(ts), (ws, sack), "{ts_now} {ws:?} {sack}");
                    // Never ahead of the clock, and at most 63 ms behind.
                    let behind = ts_now.wrapping_sub(ts);
                    assert!(behind < 64, "{ts_now} -> {ts}");
                }
            }
        }
    }
}
