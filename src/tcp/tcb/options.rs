//! What the handshake negotiated (RFC 9293 3.7.1 MSS, RFC 7323 window
//! scaling and timestamps, RFC 2018 SACK), the options our SYN offers, and
//! the options every later segment carries.

use super::recv::MAX_WSCALE;
use super::*;
use crate::wire::tcp::{TcpOptions, TcpRepr};
use smallvec::SmallVec;

/// The options a SYN can carry (no SACK blocks), or none: a
/// `Option<TcpOptions>` in 12 bytes, which flag bits say are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SynOptions {
    mss: u16,
    window_scale: u8,
    flags: u8,
    tsval: u32,
    tsecr: u32,
}

impl SynOptions {
    const PRESENT: u8 = 1;
    const MSS: u8 = 2;
    const WS: u8 = 4;
    const SACK: u8 = 8;
    const TS: u8 = 16;

    fn of(o: &TcpOptions) -> SynOptions {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        let (tsval, tsecr) = o.timestamps.unwrap_or_default();
        SynOptions {
            mss: o.mss.unwrap_or(0),
            window_scale: o.window_scale.unwrap_or(0),
            flags: Self::PRESENT
                | bit(o.mss.is_some(), Self::MSS)
                | bit(o.window_scale.is_some(), Self::WS)
                | bit(o.sack_permitted, Self::SACK)
                | bit(o.timestamps.is_some(), Self::TS),
            tsval,
            tsecr,
        }
    }

    fn expand(self) -> Option<TcpOptions> {
        let has = |b: u8| self.flags & b != 0;
        has(Self::PRESENT).then(|| TcpOptions {
            mss: has(Self::MSS).then_some(self.mss),
            window_scale: has(Self::WS).then_some(self.window_scale),
            sack_permitted: has(Self::SACK),
            timestamps: has(Self::TS).then_some((self.tsval, self.tsecr)),
            ..TcpOptions::default()
        })
    }
}

/// The options in force on a connection, and timestamp state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Negotiated {
    /// Window scaling is on (both SYNs carried the option).
    pub(super) ws: bool,
    /// SACK is on (RFC 2018).
    pub(super) sack: bool,
    /// Timestamps are on (RFC 7323 3).
    pub(super) ts: bool,
    /// TS.Recent: the peer's timestamp to echo.
    pub(super) ts_recent: u32,
    /// Added to our millisecond clock (RFC 7323 5.4): a keyed hash of the
    /// 4-tuple, the same for every incarnation of it
    /// (`IsnGenerator::ts_offset`).
    pub(super) ts_offset: u32,
    /// Last.ACK.sent: RCV.NXT in the last ACK we sent.
    pub(super) last_ack_sent: SeqNum,
    /// Options of the peer's SYN and of ours, for diagnostics.
    peer_syn: SynOptions,
    our_syn: SynOptions,
}

impl Negotiated {
    pub(crate) fn new(ts_offset: u32) -> Negotiated {
        Negotiated {
            ts_offset,
            ..Negotiated::default()
        }
    }

    /// The options of the peer's SYN (or SYN-ACK), as received.
    pub(crate) fn peer_syn(&self) -> Option<TcpOptions> {
        self.peer_syn.expand()
    }

    /// The peer's SYN (or SYN-ACK) has arrived.
    pub(crate) fn has_peer_syn(&self) -> bool {
        self.peer_syn.flags & SynOptions::PRESENT != 0
    }

    /// The options of our SYN (or SYN-ACK), as sent.
    pub(crate) fn our_syn(&self) -> Option<TcpOptions> {
        self.our_syn.expand()
    }

    pub(crate) fn set_peer_syn(&mut self, o: TcpOptions) {
        self.peer_syn = SynOptions::of(&o);
    }

    pub(crate) fn set_our_syn(&mut self, o: TcpOptions) {
        self.our_syn = SynOptions::of(&o);
    }

    /// Our timestamp clock: milliseconds plus the per-tuple offset.
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// RFC 7323 5.3 R1 (PAWS): a timestamp older than TS.Recent.
    pub(crate) fn paws_rejects(&self, tsval: u32) -> bool {
        (tsval.wrapping_sub(self.ts_recent) as i32) < 0
    }
}

impl Tcb {
    /// Options for our SYN or SYN-ACK. On a SYN-ACK only what the peer
    /// offered is answered (RFC 7323 1.3).
    pub(crate) fn syn_options(&self, now: Instant, peer: Option<&TcpOptions>) -> TcpOptions {
        let mut o = TcpOptions {
            mss: Some(self.cfg.mss),
            ..TcpOptions::default()
        };
        let offer_ws = self.cfg.window_scaling && peer.is_none_or(|p| p.window_scale.is_some());
        if offer_ws {
            o.window_scale = Some(self.rcv.wscale);
        }
        // RFC 2018 2: SACK-permitted in a SYN, and in a SYN-ACK only if the
        // SYN had it.
        o.sack_permitted = self.cfg.sack && peer.is_none_or(|p| p.sack_permitted);
        // RFC 7323 3.2: TSopt in a SYN; in a SYN-ACK only if the SYN had it,
        // echoing its TSval.
        if self.cfg.timestamps {
            match peer {
                None => o.timestamps = Some((self.opt.ts_now(now), 0)),
                Some(p) => {
                    if let Some((tsval, _)) = p.timestamps {
                        o.timestamps = Some((self.opt.ts_now(now), tsval));
                    }
                }
            }
        }
        o
    }

    /// Takes the peer's SYN options (RFC 9293 3.7.1: 536 when absent).
    pub(crate) fn apply_peer_syn(&mut self, seg: &TcpRepr<'_>) {
        self.opt.set_peer_syn(seg.options);
        let mss = seg.options.mss.map_or(536, usize::from);
        self.snd.mss = mss.clamp(64, self.cfg.mss as usize);
        // The controller Tcb::new made, started over for this MSS: no
        // second allocation per connection.
        self.cc.restart(self.snd.mss);
        match seg.options.window_scale {
            Some(ws) if self.cfg.window_scaling => {
                self.opt.ws = true;
                self.snd.wscale = ws.min(MAX_WSCALE);
            }
            _ => {
                self.opt.ws = false;
                self.snd.wscale = 0;
                self.rcv.wscale = 0;
            }
        }
        self.opt.sack = self.cfg.sack && seg.options.sack_permitted;
        match seg.options.timestamps {
            Some((tsval, _)) if self.cfg.timestamps => {
                self.opt.ts = true;
                self.opt.ts_recent = tsval;
            }
            _ => self.opt.ts = false,
        }
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seg.seq + 1u32;
        self.rcv.adv = self.rcv.nxt;
        // The window in a SYN is never scaled.
        self.snd.wnd = u32::from(seg.window);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = seg.ack;
    }

    /// The options of a non-SYN segment: timestamps (RFC 7323 3.2) and,
    /// when we hold out-of-order data or saw a duplicate, SACK blocks, the
    /// D-SACK first (RFC 2883 4), then the block holding the most recent
    /// segment and the others newest first (RFC 2018 4).
    pub(super) fn seg_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.opt.ts {
            o.timestamps = Some((self.opt.ts_now(now), self.opt.ts_recent));
        }
        if !self.opt.sack {
            return o;
        }
        let mut blocks: SmallVec<[(SeqNum, SeqNum); 4]> = SmallVec::new();
        if let Some(d) = self.rcv.dsack {
            blocks.push(d);
        }
        let ranges = self.rcv.buf.ooo_ranges();
        let block_of = |seq: SeqNum| {
            let off = seq.diff(self.rcv.nxt);
            ranges
                .iter()
                .find(|&&(s, e)| off >= s as i32 && off < e as i32)
                .map(|&(s, e)| (self.rcv.nxt + s, self.rcv.nxt + e))
        };
        for &seq in &self.rcv.recent_ooo {
            if let Some(b) = block_of(seq)
                && !blocks.contains(&b)
                && blocks.len() < 4
            {
                blocks.push(b);
            }
        }
        for &(s, e) in ranges {
            let b = (self.rcv.nxt + s, self.rcv.nxt + e);
            if blocks.len() < 4 && !blocks.contains(&b) {
                blocks.push(b);
            }
        }
        o.set_sack(&blocks);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_options_keep_what_a_syn_carries_and_nothing_else() {
        assert_eq!(SynOptions::default().expand(), None);
        for mss in [None, Some(0), Some(1460)] {
            for window_scale in [None, Some(0), Some(14)] {
                for sack_permitted in [false, true] {
                    for timestamps in [None, Some((0, 0)), Some((u32::MAX, 7))] {
                        let o = TcpOptions {
                            mss,
                            window_scale,
                            sack_permitted,
                            timestamps,
                            ..TcpOptions::default()
                        };
                        let mut with_blocks = o;
                        with_blocks.sack_count = 1;
                        assert_eq!(SynOptions::of(&with_blocks).expand(), Some(o));
                    }
                }
            }
        }
    }
}
