//! RACK (RFC 8985) in the deterministic simulator: reordering that RACK
//! waits out, reordering it does not, the reordering window growing after
//! a D-SACK, the reorder timer marking a loss that no ACK shows, and a
//! tail loss probe found to have repaired a loss (RFC 8985 7.4). (A
//! lost retransmission repaired without an RTO, and the tail loss probes,
//! are in `sim_recovery.rs`.)

use ringtcp::sim::apps::{BulkPeer, Role, client_seed, fill_stream};
use ringtcp::sim::{App, LinkConfig, Network, Shape};
use ringtcp::stack::{Event, SocketHandle, Stack, StackConfig};
use ringtcp::tcp::{TcpConfig, TcpInfo};
use ringtcp::time::Instant;
use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

mod support;
use support::upload::{A, B, data_seg, run_and_sender_info, upload};

/// Holds back the first transmission of the client's data segments
/// number `nth` (counting distinct sequence numbers from 1) by the
/// delay given with each.
fn delay_first_sends(net: &mut Network, plan: &'static [(usize, Duration)]) {
    let mut seen = HashSet::new();
    net.set_shaper(move |_, from, bytes| {
        let Some(seq) = data_seg(from, bytes).map(|s| s.seq) else {
            return Shape::Pass;
        };
        if !seen.insert(seq) {
            return Shape::Pass;
        }
        match plan.iter().find(|p| p.0 == seen.len()) {
            Some(&(_, d)) => Shape::Delay(d),
            None => Shape::Pass,
        }
    });
}

/// 10 Mbit/s (a segment every 1.2 ms) and 80 ms of round trip: RACK's
/// reordering window, once reordering has been seen, is min_RTT / 4,
/// about 20 ms.
fn slow_long_link() -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(40),
        bandwidth_bps: Some(10_000_000),
        queue_bytes: 4_000_000,
        ..LinkConfig::default()
    }
}

const fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Segment 30 is held 2 ms (one segment overtakes it: RACK sees the
/// reordering, nothing is suspected with fewer than DupThresh SACKed).
/// Then segment 300 is held 8 ms: six segments overtake it, which RFC
/// 6675's DupThresh would call a loss; RACK waits its reordering window
/// (about 20 ms) and the segment arrives within it. Nothing is sent
/// twice.
#[test]
fn reordering_within_the_window_is_not_marked_lost() {
    const BYTES: u64 = 1_000_000;
    let mut net = upload(21, slow_long_link(), BYTES, TcpConfig::default());
    const PLAN: &[(usize, Duration)] = &[(100, ms(2)), (300, ms(8))];
    delay_first_sends(&mut net, PLAN);
    let info = run_and_sender_info(&mut net, BYTES);
    let st = &info.stats;
    assert!(info.sack);
    assert!(st.reorderings >= 2, "both seen: {st:?}");
    assert!(st.dup_acks_received >= 3, "DupThresh was reached: {st:?}");
    assert_eq!(st.segments_retransmitted, 0, "{st:?}");
    assert_eq!((st.rack_losses, st.recoveries, st.timeouts), (0, 0, 0));
}

/// The same, but segment 300 is held 60 ms, well past the reordering
/// window: RACK marks it lost and it is sent again, in a fast recovery,
/// long before an RTO.
#[test]
fn reordering_beyond_the_window_is_retransmitted() {
    const BYTES: u64 = 1_000_000;
    let mut net = upload(21, slow_long_link(), BYTES, TcpConfig::default());
    const PLAN: &[(usize, Duration)] = &[(100, ms(2)), (300, ms(60))];
    delay_first_sends(&mut net, PLAN);
    let info = run_and_sender_info(&mut net, BYTES);
    let st = &info.stats;
    assert_eq!(st.segments_retransmitted, 1, "{st:?}");
    assert_eq!((st.rack_losses, st.recoveries, st.timeouts), (1, 1, 0));
    // The original came after all: the D-SACK undoes the cut.
    assert_eq!((st.spurious_retransmits, st.undos), (1, 1), "{st:?}");
}

/// No reordering seen yet, and three segments overtake segment 40 (held
/// 8 ms on a 20 ms round trip): RACK acts as DupThresh and resends it,
/// spuriously; the D-SACK grows the reordering window to 2 * min_RTT/4 =
/// 10 ms (RFC 8985 6.2 step 4). Segment 600 is then held the same 8 ms:
/// within the grown window, it is not sent twice (with the window at its
/// first 5 ms it would be).
#[test]
fn reordering_window_grows_after_a_dsack() {
    const BYTES: u64 = 3_000_000;
    let link = LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    };
    let mut net = upload(22, link, BYTES, TcpConfig::default());
    const PLAN: &[(usize, Duration)] = &[(40, ms(8)), (600, ms(8))];
    delay_first_sends(&mut net, PLAN);
    let info = run_and_sender_info(&mut net, BYTES);
    let st = &info.stats;
    assert_eq!(st.reo_wnd_growths, 1, "{st:?}");
    assert_eq!(st.segments_retransmitted, 1, "only the first time: {st:?}");
    assert_eq!((st.spurious_retransmits, st.undos), (1, 1), "{st:?}");
    assert_eq!(st.timeouts, 0);
}

/// Three segments, the first lost; the other two are SACKed (fewer than
/// DupThresh, so RACK waits min_RTT/4) and then nothing more comes. The
/// RACK reorder timer fires 20 + 5 ms after the first was sent and marks
/// it lost: it is sent again before a tail loss probe (2*SRTT) or the
/// RTO would have fired.
#[test]
fn reorder_timer_marks_a_loss_when_no_ack_comes() {
    const BYTES: u64 = 4_000;
    let link = LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    };
    let mut net = upload(23, link, BYTES, TcpConfig::default());
    let sends: Rc<RefCell<Vec<(Instant, u32)>>> = Rc::default();
    let s2 = sends.clone();
    let mut seen = HashSet::new();
    net.set_shaper(move |now, from, bytes| {
        let Some(seq) = data_seg(from, bytes).map(|s| s.seq) else {
            return Shape::Pass;
        };
        s2.borrow_mut().push((now, seq));
        if seen.insert(seq) && seen.len() == 1 {
            Shape::Drop
        } else {
            Shape::Pass
        }
    });
    let info = run_and_sender_info(&mut net, BYTES);
    let st = &info.stats;
    assert_eq!(st.rack_timeouts, 1, "{st:?}");
    assert_eq!((st.rack_losses, st.recoveries), (1, 1), "{st:?}");
    assert_eq!((st.tlp_probes, st.timeouts), (0, 0), "{st:?}");
    assert_eq!(st.segments_retransmitted, 1, "{st:?}");
    let sends = sends.borrow();
    let (first_at, first_seq) = sends[0];
    let again = sends[1..]
        .iter()
        .find(|s| s.1 == first_seq)
        .expect("resent");
    let gap = again.0 - first_at;
    assert!(gap >= ms(25) && gap < ms(30), "resent after {gap:?}");
}

/// A client that sends `first` bytes at once, and `second` more at one
/// second; then closes. Keeps its last view of the connection.
struct TwoBursts {
    first: usize,
    second: usize,
    h: Option<SocketHandle>,
    sent: u64,
    second_sent: bool,
    last_info: Option<TcpInfo>,
}

impl TwoBursts {
    fn write(&mut self, stack: &mut Stack, n: usize) {
        let h = self.h.expect("connected");
        let mut buf = vec![0u8; n];
        fill_stream(
            client_seed(stack.local_addr(h).unwrap().port()),
            self.sent,
            &mut buf,
        );
        assert_eq!(stack.send(h, &buf), Ok(n));
        self.sent += n as u64;
    }
}

impl App for TwoBursts {
    fn on_event(&mut self, _: Instant, stack: &mut Stack, event: Event) {
        match event {
            Event::Connected(h) => {
                self.h = Some(h);
                self.write(stack, self.first);
            }
            Event::Readable(h) | Event::PeerClosed(h) => {
                let mut buf = [0u8; 2048];
                while let Ok(n) = stack.recv(h, &mut buf) {
                    if n == 0 {
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if self.h.is_none() && self.sent == 0 && now == Instant::ZERO {
            stack
                .connect(now, SocketAddrV4::new(B, 80))
                .expect("connect");
            self.sent = 0;
        }
        if let Some(h) = self.h {
            if !self.second_sent && now >= Instant::from_millis(1000) {
                self.second_sent = true;
                self.write(stack, self.second);
                stack.shutdown(h).expect("shutdown");
            }
            if let Ok(info) = stack.info(h) {
                self.last_info = Some(info);
            }
        }
    }

    fn done(&self) -> bool {
        self.second_sent
    }
}

/// RFC 8985 7.4: the last segment of a burst is lost and nothing follows
/// it; the probe (sending it again) repairs it. The ACK of the probe
/// cannot tell whether the original arrived too, but the ACKs after it
/// show no D-SACK: the probe repaired a loss, and the congestion window
/// is reduced as for any loss (slow start ends), though no recovery ran.
#[test]
fn a_probe_that_repaired_a_loss_reduces_the_window() {
    const FIRST: usize = 5 * 1448;
    let link = LinkConfig {
        latency: ms(10),
        ..LinkConfig::default()
    };
    let mut net = Network::new(24);
    net.add_node(
        StackConfig::new(A, 24),
        link.clone(),
        Box::new(TwoBursts {
            first: FIRST,
            second: 20_000,
            h: None,
            sent: 0,
            second_sent: false,
            last_info: None,
        }),
    );
    let server = BulkPeer::new(
        Role::Server {
            port: 80,
            connections: 1,
        },
        0,
        (FIRST + 20_000) as u64,
    );
    net.add_node(StackConfig::new(B, 25), link, Box::new(server));
    let mut base = None;
    let mut dropped = false;
    net.set_shaper(move |_, from, bytes| {
        let Some(seq) = data_seg(from, bytes).map(|s| s.seq) else {
            return Shape::Pass;
        };
        let base = *base.get_or_insert(seq);
        if !dropped && seq.wrapping_sub(base) == 4 * 1448 {
            dropped = true;
            return Shape::Drop;
        }
        Shape::Pass
    });
    let end = Instant::from_millis(3000);
    net.run_until(Duration::from_secs(60), |n| n.now() >= end)
        .expect("runs");
    assert_eq!(
        net.app::<BulkPeer>(1).bytes_verified,
        (FIRST + 20_000) as u64
    );
    let st = net.stack(0).tcp_totals();
    assert_eq!((st.tlp_probes, st.tlp_recoveries), (1, 1), "{st:?}");
    assert_eq!((st.timeouts, st.recoveries, st.dsack_received), (0, 0, 0));
    let info = net.app::<TwoBursts>(0).last_info.clone().expect("info");
    assert!(info.ssthresh < usize::MAX, "the window was cut: {info:?}");
}
