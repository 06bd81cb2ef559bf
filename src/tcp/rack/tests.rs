//! RACK's state on its own (RFC 8985 6.2 steps 1 to 5, 7.2), driven by
//! hand: sends at chosen instants, ACKs and SACKs of chosen ranges.

use super::*;

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn d(v: u64) -> Duration {
    Duration::from_millis(v)
}

const NO_ECHO: &dyn Fn(u64) -> bool = &|_| false;

/// A RACK with min_RTT 20 ms and 1000-byte segments `i` (from 0) sent at
/// the instants given.
fn sent(times: &[u64]) -> (Rack, Scoreboard) {
    let mut r = Rack::default();
    r.on_rtt_sample(ms(0), d(20));
    let sb = Scoreboard::default();
    for (i, &t) in times.iter().enumerate() {
        r.on_send(seg(i), seg(i + 1), ms(t), false, &sb);
    }
    (r, sb)
}

fn seg(i: usize) -> SeqNum {
    SeqNum(1000 * i as u32)
}

/// SACKs segment `i` (newly) at `now`, as the TCB does.
fn sack(r: &mut Rack, sb: &mut Scoreboard, i: usize, now: Instant) {
    let fack = r.fack().unwrap();
    let holes: Vec<_> = sb.holes_within(seg(i), seg(i + 1)).collect();
    for h in holes {
        r.on_sacked(h, (seg(i), seg(i + 1)), now, fack, NO_ECHO);
    }
    sb.add(seg(i), seg(i + 1), seg(0), SeqNum(u32::MAX / 2));
}

#[test]
fn pto_is_two_srtt_with_the_delayed_ack_allowance_for_one_segment() {
    // RFC 8985 7.2: PTO = 2*SRTT; + WCDelAckT (200 ms) when FlightSize is
    // one segment; never later than the RTO would fire. (More than one
    // segment: Linux's 2 ms on top, so a tick-late ACK draws no probe.)
    assert_eq!(pto(d(20), false, None), d(42));
    assert_eq!(pto(d(20), true, None), d(240));
    assert_eq!(pto(d(20), true, Some(d(210))), d(210));
    assert_eq!(pto(d(20), false, Some(d(210))), d(42));
    assert_eq!(pto(d(150), false, Some(d(250))), d(250));
    assert_eq!(pto(Duration::ZERO, false, None), d(2));
}

#[test]
fn records_live_only_while_data_is_in_flight() {
    let mut r = Rack::default();
    assert!(r.flight.is_none(), "nothing allocated before a send");
    let sb = Scoreboard::default();
    r.on_send(seg(0), seg(1), ms(0), false, &sb);
    r.on_send(seg(1), seg(2), ms(1), false, &sb);
    assert_eq!(r.records(), 2);
    r.on_cum_ack(seg(1), ms(21), 0, NO_ECHO);
    assert_eq!(r.records(), 1);
    r.on_cum_ack(seg(2), ms(22), 0, NO_ECHO);
    assert_eq!(r.records(), 0);
    r.clear();
    assert!(r.flight.is_none());
    assert_eq!(std::mem::size_of::<Rack>(), 32, "inline cost");
}

#[test]
fn a_drained_flight_is_kept_for_the_next_until_released() {
    let sb = Scoreboard::default();
    let mut r = Rack::default();
    // A handshake's flight goes when it drains.
    r.on_send(seg(0), seg(1), ms(0), false, &sb);
    r.on_cum_ack(seg(1), ms(20), 0, NO_ECHO);
    r.drained(false);
    assert!(r.flight.is_none() && r.spare.is_none());
    // A data connection's is kept, and the next flight reuses it, with
    // its records' storage, starting afresh.
    r.on_send(seg(1), seg(5), ms(30), false, &sb);
    r.on_cum_ack(seg(5), ms(50), 0, NO_ECHO);
    r.drained(true);
    let kept = r.spare.as_deref().map(|f| f as *const Flight);
    assert!(r.flight.is_none() && kept.is_some());
    r.on_send(seg(5), seg(6), ms(60), false, &sb);
    assert_eq!(r.flight.as_deref().map(|f| f as *const Flight), kept);
    assert_eq!(r.records(), 1);
    r.on_cum_ack(seg(6), ms(80), 0, NO_ECHO);
    assert_eq!(r.records(), 0);
    r.drained(true);
    // The idle sweep gives it back.
    assert!(r.release_spare());
    assert!(r.flight.is_none() && r.spare.is_none());
    assert!(!r.release_spare());
}

#[test]
fn rtt_samples_follow_karn_and_their_spacing() {
    // RFC 6298 3 (Karn): a retransmitted segment is not timed by its send
    // times; one sent once is, from its last byte's send.
    let (mut r, sb) = sent(&[0, 5]);
    assert_eq!(
        r.on_cum_ack(seg(2), ms(30), 0, NO_ECHO).1,
        Sample::Rtt(d(25))
    );
    r.on_send(seg(2), seg(3), ms(40), false, &sb);
    r.on_send(seg(2), seg(3), ms(240), true, &sb);
    assert_eq!(r.on_cum_ack(seg(3), ms(260), 0, NO_ECHO).1, Sample::Karn);
    // Spacing: no second sample until SND.UNA has moved that far on.
    let (mut r, _) = sent(&[0, 1, 2, 3]);
    assert!(matches!(
        r.on_cum_ack(seg(1), ms(20), 2500, NO_ECHO).1,
        Sample::Rtt(_)
    ));
    assert_eq!(r.on_cum_ack(seg(2), ms(21), 2500, NO_ECHO).1, Sample::None);
    assert_eq!(r.on_cum_ack(seg(3), ms(22), 2500, NO_ECHO).1, Sample::None);
    assert_eq!(
        r.on_cum_ack(seg(4), ms(23), 2500, NO_ECHO).1,
        Sample::Rtt(d(20))
    );
}

#[test]
fn a_segment_sent_before_one_delivered_is_lost_once_overdue() {
    // RFC 8985 6.2 step 5: segment 0 (sent at 0) is lost once
    // now >= 0 + RACK.rtt + reo_wnd, RACK.rtt being the delivery time of
    // segment 1 (sent at 1 ms, SACKed at 21 ms: 20 ms).
    let (mut r, mut sb) = sent(&[0, 1]);
    sack(&mut r, &mut sb, 1, ms(21));
    let found = r.detect_loss(ms(21), d(5), &sb);
    assert_eq!(found.marked, 0);
    // Not yet: 0 + 20 + 5 - 21 = 4 ms left, the reorder timer's.
    assert_eq!(found.timeout, Some(d(4)));
    assert_eq!(r.lost_bytes(), 0);
    let found = r.detect_loss(ms(25), d(5), &sb);
    assert_eq!((found.marked, found.timeout), (1, None));
    assert_eq!(r.lost_bytes(), 1000);
    assert_eq!(r.next_lost(&sb), Some((seg(0), seg(1))));
    // Marked once: a second walk finds nothing new.
    assert_eq!(r.detect_loss(ms(30), d(5), &sb).marked, 0);
}

#[test]
fn nothing_sent_after_the_delivered_segment_is_suspected() {
    // RACK_sent_after: segment 2, sent after segment 1, is not judged by
    // segment 1's delivery however long it takes.
    let (mut r, mut sb) = sent(&[0, 1, 2]);
    r.on_cum_ack(seg(1), ms(20), 0, NO_ECHO);
    let found = r.detect_loss(ms(500), Duration::ZERO, &sb);
    assert_eq!(found, Losses::default());
    sack(&mut r, &mut sb, 2, ms(501));
    assert_eq!(r.detect_loss(ms(501), Duration::ZERO, &sb).marked, 1);
}

#[test]
fn a_lost_retransmission_is_found_by_data_sent_after_it() {
    // RFC 8985 2.2 / 6.2: a retransmission has its own send time; data
    // sent after it and delivered first shows it lost too.
    let (mut r, mut sb) = sent(&[0, 0, 0, 0]);
    for i in 1..4 {
        sack(&mut r, &mut sb, i, ms(20));
    }
    assert_eq!(r.detect_loss(ms(20), Duration::ZERO, &sb).marked, 1);
    let (s, e) = r.next_lost(&sb).unwrap();
    r.on_send(s, e, ms(20), true, &sb);
    assert_eq!(r.lost_bytes(), 0, "sent again: in the network");
    assert_eq!(r.next_lost(&sb), None);
    r.on_send(seg(4), seg(5), ms(21), false, &sb);
    // Segment 4 (sent after the retransmission) is SACKed at 41 ms.
    sack(&mut r, &mut sb, 4, ms(41));
    let found = r.detect_loss(ms(41), Duration::ZERO, &sb);
    assert_eq!((found.marked, found.retransmissions), (1, 1));
    assert_eq!(r.next_lost(&sb), Some((seg(0), seg(1))));
}

#[test]
fn a_retransmission_delivered_sooner_than_min_rtt_is_the_original() {
    // RFC 8985 6.2 step 2: a SACK of a retransmitted segment that comes
    // back sooner than min_RTT answers the original; it must not make
    // RACK.xmit_ts the retransmission's (which would find everything
    // sent before it lost).
    let (mut r, mut sb) = sent(&[0, 1]);
    r.on_send(seg(1), seg(2), ms(10), true, &sb);
    sack(&mut r, &mut sb, 1, ms(21));
    let f = r.flight.as_ref().unwrap();
    assert!(!f.has_rack, "no delivery taken");
    // Through a cumulative ACK, an echo older than the retransmission
    // says the same.
    let (mut r, sb) = sent(&[0]);
    r.on_send(seg(0), seg(1), ms(300), true, &sb);
    let old_echo: &dyn Fn(u64) -> bool = &|ts| ts > 100_000;
    assert_eq!(r.on_cum_ack(seg(1), ms(330), 0, old_echo).1, Sample::Karn);
    let _ = sb;
}

#[test]
fn reordering_is_seen_when_an_original_arrives_below_fack() {
    // RFC 8985 6.2 step 3: segment 0, sent once, delivered after segment
    // 1 was: reordering.
    let (mut r, mut sb) = sent(&[0, 1]);
    assert!(!r.reordering_seen());
    sack(&mut r, &mut sb, 1, ms(21));
    assert!(!r.reordering_seen());
    let (reordered, _) = r.on_cum_ack(seg(2), ms(23), 0, NO_ECHO);
    assert!(reordered && r.reordering_seen());
    // A retransmission delivered below fack is not evidence of it.
    let (mut r, mut sb) = sent(&[0, 1]);
    sack(&mut r, &mut sb, 1, ms(21));
    r.on_send(seg(0), seg(1), ms(25), true, &sb);
    assert!(!r.on_cum_ack(seg(2), ms(45), 0, NO_ECHO).0);
    assert!(!r.reordering_seen());
}

#[test]
fn reo_wnd_is_zero_until_reordering_is_seen_once_dupthresh_is_sacked() {
    // RFC 8985 6.2 step 4.
    let mut r = Rack::default();
    r.on_rtt_sample(ms(0), d(40));
    let mut sb = Scoreboard::default();
    let una = SeqNum(0);
    let srtt = Some(d(50));
    assert_eq!(r.reo_wnd(false, &sb, una, 1000, srtt), d(10));
    assert_eq!(r.reo_wnd(true, &sb, una, 1000, srtt), Duration::ZERO);
    sb.add(SeqNum(1000), SeqNum(4000), una, SeqNum(10_000));
    assert_eq!(r.reo_wnd(false, &sb, una, 1000, srtt), Duration::ZERO);
    r.on_dsack(SeqNum(5000), true);
    assert!(r.reordering_seen());
    // min_RTT/4 * 2, whatever the SACKs or the recovery.
    assert_eq!(r.reo_wnd(true, &sb, una, 1000, srtt), d(20));
    // At most SRTT.
    for k in 0..10u32 {
        r.on_snd_una(SeqNum(5000 + k * 10_000));
        r.on_dsack(SeqNum(10_000 + k * 10_000), true);
    }
    assert_eq!(r.reo_wnd(false, &sb, una, 1000, srtt), d(50));
}

#[test]
fn dsack_grows_the_window_once_a_round_and_sixteen_recoveries_reset_it() {
    // RFC 8985 6.2 step 4.
    let mut r = Rack::default();
    assert_eq!(r.reo_wnd_mult(), 1);
    assert!(r.on_dsack(SeqNum(1000), false));
    assert_eq!(r.reo_wnd_mult(), 2);
    // The same round: no more growth.
    assert!(!r.on_dsack(SeqNum(2000), false));
    r.on_snd_una(SeqNum(999));
    assert!(!r.on_dsack(SeqNum(2000), false));
    // SND.UNA reached the round's end: the next D-SACK grows it.
    r.on_snd_una(SeqNum(1000));
    assert!(r.on_dsack(SeqNum(3000), false));
    assert_eq!(r.reo_wnd_mult(), 3);
    for _ in 0..15 {
        r.on_recovery_exit();
        assert_eq!(r.reo_wnd_mult(), 3);
    }
    r.on_recovery_exit();
    assert_eq!(r.reo_wnd_mult(), 1, "16 recoveries without a D-SACK");
}

#[test]
fn sends_within_one_microsecond_keep_their_order() {
    // A retransmission and new data sent after it at the same instant:
    // the new data is the more recent, and its delivery shows the
    // retransmission lost; originals sent before it at that instant do
    // not.
    let (mut r, mut sb) = sent(&[0, 0, 0, 0, 0]);
    r.on_send(seg(0), seg(1), ms(0), true, &sb);
    r.on_send(seg(5), seg(6), ms(0), false, &sb);
    for i in 1..5 {
        sack(&mut r, &mut sb, i, ms(0));
    }
    assert_eq!(r.detect_loss(ms(0), Duration::ZERO, &sb).marked, 0);
    sack(&mut r, &mut sb, 5, ms(0));
    let found = r.detect_loss(ms(0), Duration::ZERO, &sb);
    assert_eq!((found.marked, found.retransmissions), (1, 1));
}

#[test]
fn a_resend_of_part_of_a_record_splits_it() {
    // A TSO super-segment is one record; a resend of one MSS of it (after
    // RACK found it lost) leaves the rest lost, and what the peer SACKed
    // of it is neither lost nor resent.
    let mut r = Rack::default();
    r.on_rtt_sample(ms(0), d(20));
    let mut sb = Scoreboard::default();
    r.on_send(SeqNum(0), SeqNum(4000), ms(0), false, &sb);
    r.on_send(SeqNum(4000), SeqNum(5000), ms(1), false, &sb);
    // [1000, 2000) of the first and all of the second arrive.
    for (s, e) in [(1000, 2000), (4000, 5000)] {
        let fack = r.fack().unwrap();
        for h in sb.holes_within(SeqNum(s), SeqNum(e)).collect::<Vec<_>>() {
            r.on_sacked(h, (SeqNum(s), SeqNum(e)), ms(21), fack, NO_ECHO);
        }
        sb.add(SeqNum(s), SeqNum(e), SeqNum(0), SeqNum(5000));
    }
    assert_eq!(r.detect_loss(ms(21), Duration::ZERO, &sb).marked, 1);
    assert_eq!(r.lost_bytes(), 3000, "the unSACKed part");
    assert_eq!(r.next_lost(&sb), Some((SeqNum(0), SeqNum(1000))));
    r.on_send(SeqNum(0), SeqNum(1000), ms(21), true, &sb);
    assert_eq!(r.lost_bytes(), 2000);
    assert_eq!(r.next_lost(&sb), Some((SeqNum(2000), SeqNum(4000))));
    r.on_send(SeqNum(2000), SeqNum(3000), ms(21), true, &sb);
    assert_eq!(r.next_lost(&sb), Some((SeqNum(3000), SeqNum(4000))));
    r.on_send(SeqNum(3000), SeqNum(4000), ms(21), true, &sb);
    assert_eq!((r.next_lost(&sb), r.lost_bytes()), (None, 0));
    let f = r.flight.as_ref().unwrap();
    let spans: Vec<_> = f.segs.iter().map(|s| (s.start.0, s.end.0)).collect();
    assert_eq!(
        spans,
        [
            (0, 1000),
            (1000, 2000),
            (2000, 3000),
            (3000, 4000),
            (4000, 5000)
        ]
    );
    // The three resends, by time, in the retransmission list.
    assert_eq!(f.rtq.len(), 3);
    // The part SACKed before the split is not delivered a second time
    // when the cumulative ACK covers it (it would look like reordering).
    let (reordered, _) = r.on_cum_ack(SeqNum(5000), ms(41), 0, NO_ECHO);
    assert!(!reordered && !r.reordering_seen());
    assert_eq!(r.records(), 0);
}

#[test]
fn min_rtt_is_a_windowed_minimum() {
    // RFC 8985 6.2 step 1: a windowed min-filter that follows a path that
    // got longer.
    let mut r = Rack::default();
    r.on_rtt_sample(ms(0), d(30));
    r.on_rtt_sample(ms(1000), d(20));
    r.on_rtt_sample(ms(2000), d(25));
    assert_eq!(r.min_rtt(), Some(d(20)));
    r.on_rtt_sample(ms(302_000), d(60));
    assert_eq!(r.min_rtt(), Some(d(60)));
}

#[test]
fn one_ack_visits_what_it_delivers_not_what_is_in_flight() {
    // 10,000 records in flight; a hole at the front. Each ACK that SACKs
    // one more segment leaves step 5's walk where it was: the cursor over
    // records sent once never moves back.
    let mut r = Rack::default();
    r.on_rtt_sample(ms(0), d(20));
    let mut sb = Scoreboard::default();
    for i in 0..10_000 {
        r.on_send(
            seg(i),
            seg(i + 1),
            Instant::from_micros(i as u64),
            false,
            &sb,
        );
    }
    for i in 1..4_000 {
        let now = ms(20) + Duration::from_micros(i as u64);
        sack(&mut r, &mut sb, i, now);
        // Segment 0 waits out its 5 ms: the walk stops at it every time,
        // without a look at the SACKed records behind it.
        assert_eq!(r.detect_loss(now, d(5), &sb).marked, 0);
        assert_eq!(r.flight.as_ref().unwrap().orig_from, seg(0));
    }
    // Overdue: marked, and the walk passes the SACKed ones once, to the
    // first not sent before the last delivered.
    let found = r.detect_loss(ms(40), d(5), &sb);
    assert_eq!(found.marked, 1);
    assert_eq!(r.flight.as_ref().unwrap().orig_from, seg(4000));
    assert_eq!(r.records(), 10_000);
    r.on_cum_ack(seg(10_000), ms(41), 0, NO_ECHO);
    assert_eq!(r.records(), 0);
}
