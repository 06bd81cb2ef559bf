//! RFC 5961 ("Improving TCP's Robustness to Blind In-Window Attacks") and
//! the RFC 9293 3.10.7.4 checks it amended, on one real `Stack` driven by
//! hand-built segments: a SYN in a synchronized state gets a challenge ACK
//! whatever its sequence number, timestamp or other bits (4.2); a RST that
//! is not exactly at RCV.NXT gets one too (3.2), SYN or not; challenge ACKs
//! are limited per connection and stack-wide (7), and counted when not
//! sent. The per-state batteries in `states.rs` cover the same checks
//! without timestamps.

mod support;

use ringtcp::stack::{Event, StackConfig};
use ringtcp::tcp::ConnError;
use ringtcp::wire::SeqNum;
use ringtcp::wire::tcp::TcpFlags;
use std::time::Duration;
use support::*;

/// The peer's TSval in the SYN-ACK of [`established_ts`].
const PEER_TS: u32 = 1_000;

/// ESTABLISHED with timestamps (and so PAWS) in force: TS.Recent is
/// [`PEER_TS`].
fn established_ts() -> Fixture {
    established_by(
        stack_config(tcp_config()),
        PEER_ISS,
        65_535,
        |synack, syn| {
            let ours = syn.options.timestamps.expect("our SYN offers timestamps").0;
            synack.options.timestamps = Some((PEER_TS, ours));
        },
    )
}

/// Moves time past the connection's own limit of one challenge ACK per
/// 500 ms.
fn next_window(fx: &mut Fixture) {
    fx.now += Duration::from_millis(500);
}

#[track_caller]
fn expect_challenge(fx: &mut Fixture) {
    let r = expect_reply(fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(fx);
}

/// The connection still works: in-order data with a fresh timestamp is
/// taken, and nothing was reported to the application.
#[track_caller]
fn still_established(fx: &mut Fixture, tsval: Option<u32>) {
    assert_eq!(fx.state(), "ESTABLISHED");
    assert_eq!(fx.events(), vec![]);
    let mut data = fx.seg().data(b"still here");
    if let Some(ts) = tsval {
        data.options.timestamps = Some((ts, 0));
    }
    send(fx, data);
    assert_eq!(fx.app_recv(), b"still here");
}

/// The case: a SYN without ACK, in the window, on a connection
/// with timestamps, carrying no timestamp (PAWS used to drop it before the
/// SYN check) or an old one; and one far outside the window. Each gets a
/// challenge ACK and the connection survives.
#[test]
fn syn_in_established_with_timestamps_gets_a_challenge_ack() {
    let mut fx = established_ts();
    let in_window = fx.rcv_nxt + 100u32;
    let out_of_window = fx.rcv_nxt + (1u32 << 30);
    let cases = [
        (in_window, None),
        (in_window, Some(PEER_TS - 500)),
        (in_window, Some(PEER_TS + 10)),
        (out_of_window, None),
        (out_of_window, Some(PEER_TS - 500)),
        (out_of_window, Some(PEER_TS + 20)),
    ];
    for (i, (seq, ts)) in cases.into_iter().enumerate() {
        let mut syn = fx.seg().no_ack().syn().seq(seq);
        syn.options.timestamps = ts.map(|t| (t, 0));
        syn.options.mss = Some(1460);
        send_raw(&mut fx, &syn);
        expect_challenge(&mut fx);
        assert_eq!(fx.stack.counters().tcp_challenge_acks, i as u64 + 1);
        next_window(&mut fx);
    }
    // A challenged SYN's TSval did not move TS.Recent: the peer's own
    // clock, below the SYNs' PEER_TS + 20, still passes PAWS.
    still_established(&mut fx, Some(PEER_TS + 1));
}

/// Without timestamps: in the window and out of it, at RCV.NXT - 1 and at
/// the right edge.
#[test]
fn syn_in_established_without_timestamps_gets_a_challenge_ack() {
    let mut fx = established();
    for seq in [
        fx.rcv_nxt,
        fx.rcv_nxt - 1u32,
        fx.rcv_nxt + (fx.rcv_wnd - 1),
        fx.rcv_nxt + fx.rcv_wnd,
        fx.rcv_nxt + (1u32 << 31),
    ] {
        let syn = fx.seg().no_ack().syn().seq(seq);
        send_raw(&mut fx, &syn);
        expect_challenge(&mut fx);
        next_window(&mut fx);
    }
    still_established(&mut fx, None);
}

/// "Whatever the other bits": SYN with ACK (any ACK number), FIN, PSH,
/// URG, ECE/CWR, or data.
#[test]
fn syn_with_any_other_bits_gets_a_challenge_ack() {
    let mut fx = established_ts();
    let variants = [
        fx.seg().syn(),
        fx.seg().syn().ack(SeqNum(12_345)),
        fx.seg().no_ack().syn().fin(),
        fx.seg().syn().fin().data(b"evil"),
        fx.seg()
            .no_ack()
            .flags(TcpFlags::SYN | TcpFlags::PSH | TcpFlags::URG | TcpFlags::ECE | TcpFlags::CWR),
    ];
    for syn in variants {
        send_raw(&mut fx, &syn);
        expect_challenge(&mut fx);
        next_window(&mut fx);
    }
    still_established(&mut fx, Some(PEER_TS + 1));
}

/// SYN+RST is a RST first (the second check comes before the fourth): at
/// RCV.NXT it resets; elsewhere in the window it draws a challenge ACK;
/// outside the window it is dropped silently.
#[test]
fn syn_rst_is_handled_as_a_rst() {
    let mut fx = established();
    let syn_rst = |fx: &Fixture, seq| fx.seg().no_ack().syn().rst().seq(seq);
    let s = syn_rst(&fx, fx.rcv_nxt + fx.rcv_wnd);
    send_raw(&mut fx, &s);
    expect_no_reply(&mut fx);
    let s = syn_rst(&fx, fx.rcv_nxt + 1u32);
    send_raw(&mut fx, &s);
    expect_challenge(&mut fx);
    assert_eq!(fx.state(), "ESTABLISHED");
    let h = fx.h();
    let s = syn_rst(&fx, fx.rcv_nxt);
    send_raw(&mut fx, &s);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "CLOSED");
    assert!(fx.events().contains(&Event::Error(h, ConnError::Reset)));
}

/// One connection answers at most one SYN or RST per 500 ms; the others
/// are counted as suppressed, and the connection is unharmed.
#[test]
fn challenge_acks_are_limited_per_connection() {
    let mut fx = established_ts();
    for i in 0..10u32 {
        let syn = fx.seg().no_ack().syn().seq(fx.rcv_nxt + i);
        send_raw(&mut fx, &syn);
        let rst = fx.seg().rst().seq(fx.rcv_nxt + (i + 1));
        send_raw(&mut fx, &rst);
        fx.now += Duration::from_millis(10);
    }
    expect_challenge(&mut fx);
    let c = fx.stack.counters();
    assert_eq!(
        (c.tcp_challenge_acks, c.tcp_challenge_acks_suppressed),
        (1, 19)
    );
    assert_eq!(fx.stack.stats(fx.h()).unwrap().challenge_acks, 1);
    fx.now += Duration::from_millis(400);
    let syn = fx.seg().no_ack().syn();
    send_raw(&mut fx, &syn);
    expect_challenge(&mut fx);
    still_established(&mut fx, Some(PEER_TS + 1));
}

/// 100 connections on one stack, one SYN each in the same second: the
/// stack-wide limit (`challenge_ack_limit` = 10, drawn each second between
/// 5 and 15) answers only so many, and counts the rest; the next second
/// has a new budget.
#[test]
fn challenge_acks_are_limited_stack_wide() {
    let mut cfg: StackConfig = stack_config(tcp_config());
    cfg.challenge_ack_limit = 10;
    let mut fx = Fixture::bare(cfg);
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 256).unwrap());
    fx.local_port = LISTEN_PORT;
    let ports = 5000..5100u16;
    let mut our_nxt = Vec::new();
    for p in ports.clone() {
        fx.peer_port = p;
        let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
        send_raw(&mut fx, &syn);
        let synack = expect_reply(&mut fx);
        let ack = fx.seg().seq(SeqNum(PEER_ISS + 1)).ack(synack.seq + 1u32);
        send_raw(&mut fx, &ack);
        our_nxt.push(synack.seq + 1u32);
    }
    assert_eq!(fx.stack.connection_count(), 100);
    while fx.stack.accept(fx.listener.unwrap()).is_some() {}
    fx.events();
    let mut answered = Vec::new();
    for round in 0..3 {
        for p in ports.clone() {
            fx.peer_port = p;
            let syn = fx.seg().seq(SeqNum(PEER_ISS + 1)).no_ack().syn();
            send_raw(&mut fx, &syn);
        }
        let replies = fx.drain();
        assert!(replies.iter().all(|r| r.ctl() == TcpFlags::ACK));
        assert!(
            (5..15).contains(&replies.len()),
            "round {round}: {} challenge ACKs",
            replies.len()
        );
        answered.push(replies.len() as u64);
        fx.now += Duration::from_secs(1);
    }
    let c = fx.stack.counters();
    let sent: u64 = answered.iter().sum();
    assert_eq!(c.tcp_challenge_acks, sent);
    assert_eq!(c.tcp_challenge_acks_suppressed, 300 - sent);
    // Per connection, only the challenge ACKs that went out count.
    let per_conn: u64 = fx
        .stack
        .handles()
        .map(|h| fx.stack.stats(h).unwrap().challenge_acks)
        .sum();
    assert_eq!(per_conn, sent);
}
