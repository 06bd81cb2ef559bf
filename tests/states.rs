//! Unit tests per RFC 9293 state: one real `Stack` (192.0.2.2) driven by
//! hand-built segments from a fake peer (192.0.2.1), in the manner of
//! smoltcp's socket tests.
//!
//! Read first: RFC 9293 3.10.7 ("SEGMENT ARRIVES": 3.10.7.1 CLOSED,
//! 3.10.7.2 LISTEN, 3.10.7.3 SYN-SENT, 3.10.7.4 the other states), RFC 5961
//! (challenge ACKs for RSTs and SYNs), RFC 1337 (TIME-WAIT and RSTs),
//! RFC 6298 (RTO), RFC 1122 4.2.3.2 and RFC 5681 4.2 (delayed ACK),
//! RFC 9293 3.8.6 (windows, probes, silly window syndrome).
//!
//! Every synchronized state gets the same battery from
//! `synchronized_state_tests!`: a SYN, a pure ACK, RSTs and one-byte data
//! segments at the edges of the receive window (RCV.NXT-1, RCV.NXT,
//! RCV.NXT+RCV.WND-1, RCV.NXT+RCV.WND). What differs between states (FIN
//! handling, what an exact RST does) is tested by hand below the macro.

mod support;

use ringtcp::stack::{Event, SocketError};
use ringtcp::tcp::{ConnError, Keepalive, TcpConfig};
use ringtcp::wire::SeqNum;
use ringtcp::wire::tcp::TcpFlags;
use std::time::Duration;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Deterministic test bytes.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// The connection's retransmission timeout now.
fn current_rto(fx: &Fixture) -> Duration {
    fx.stack.connection(fx.h()).unwrap().tcb().unwrap().rto()
}

fn recv_queue(fx: &Fixture) -> usize {
    fx.stack.recv_queue(fx.h()).unwrap()
}

/// What an acceptable RST with SEQ = RCV.NXT does in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnRst {
    /// "connection reset": Error(Reset), CLOSED (ESTABLISHED, FIN-WAIT-1/2,
    /// CLOSE-WAIT).
    Reset,
    /// CLOSED without an error to report (CLOSING, LAST-ACK).
    Close,
    /// Ignored (TIME-WAIT, RFC 1337).
    Ignore,
}

// ----- the battery every synchronized state runs ----------------------------

/// RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK
/// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, and nothing else changes.
fn check_syn_gets_challenge_ack(mut fx: Fixture, state: &str) {
    let before = fx.stack.stats(fx.h()).unwrap().challenge_acks;
    let syn = fx.seg().no_ack().syn().seq(fx.rcv_nxt);
    send_raw(&mut fx, &syn);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), state);
    assert_eq!(fx.events(), vec![]);
    assert_eq!(fx.stack.stats(fx.h()).unwrap().challenge_acks, before + 1);
    assert_eq!(fx.stack.counters().tcp_challenge_acks, 1);
    // Another SYN within 500 ms gets nothing (RFC 5961 7: the
    // connection's own limit, Linux's tcp_invalid_ratelimit), counted.
    let syn = fx.seg().no_ack().syn().seq(fx.rcv_nxt + (fx.rcv_wnd - 1));
    fx.now += ms(499);
    send_raw(&mut fx, &syn);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.counters().tcp_challenge_acks_suppressed, 1);
    // Later, a SYN anywhere else in the window is challenged as well.
    fx.now += ms(1);
    send_raw(&mut fx, &syn);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.state(), state);
    assert_eq!(fx.stack.counters().tcp_challenge_acks, 2);
}

/// An acceptable ACK that acknowledges nothing new and carries nothing
/// needs no answer.
fn check_pure_ack_is_silent(mut fx: Fixture, state: &str) {
    let ack = fx.seg();
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), state);
    assert_eq!(fx.events(), vec![]);
}

/// RFC 5961 3.2: a RST in the window but not at RCV.NXT gets a challenge
/// ACK and does not reset (TIME-WAIT ignores RSTs altogether).
fn check_rst_in_window(mut fx: Fixture, state: &str, on_rst: OnRst) {
    for seq in [fx.rcv_nxt + 1u32, fx.rcv_nxt + (fx.rcv_wnd - 1)] {
        // One challenge ACK per 500 ms per connection (RFC 5961 7).
        fx.now += ms(500);
        let rst = fx.seg().rst().seq(seq);
        send_raw(&mut fx, &rst);
        if on_rst == OnRst::Ignore {
            expect_no_reply(&mut fx);
        } else {
            let r = expect_reply(&mut fx);
            assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
            expect_no_reply(&mut fx);
        }
        assert_eq!(fx.state(), state, "after a RST at {seq:?}");
        assert_eq!(fx.events(), vec![]);
    }
}

/// RFC 9293 3.10.7.4 first check, RFC 5961 3.2: a RST outside the window
/// (RCV.NXT-1 or RCV.NXT+RCV.WND) is dropped without a reply.
fn check_rst_out_of_window(mut fx: Fixture, state: &str) {
    for seq in [fx.rcv_nxt - 1, fx.rcv_nxt + fx.rcv_wnd] {
        let rst = fx.seg().rst().seq(seq);
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), state, "after a RST at {seq:?}");
        assert_eq!(fx.events(), vec![]);
    }
}

/// RFC 9293 3.10.7.4 second check with SEQ = RCV.NXT.
fn check_rst_exact(mut fx: Fixture, state: &str, on_rst: OnRst) {
    let h = fx.h();
    let rst = fx.seg().rst();
    send_raw(&mut fx, &rst);
    expect_no_reply(&mut fx);
    let events = fx.events();
    match on_rst {
        OnRst::Reset => {
            assert_eq!(fx.state(), "CLOSED");
            assert!(
                events.contains(&Event::Error(h, ConnError::Reset)),
                "{events:?}"
            );
            let mut buf = [0u8; 16];
            assert_eq!(
                fx.stack.recv(h, &mut buf),
                Err(SocketError::Failed(ConnError::Reset))
            );
        }
        OnRst::Close => {
            assert_eq!(fx.state(), "CLOSED");
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, Event::Closed(x) | Event::Error(x, _) if *x == h)),
                "the application must learn that the connection ended: {events:?}"
            );
        }
        OnRst::Ignore => {
            assert_eq!(fx.state(), state);
            assert_eq!(events, vec![]);
        }
    }
}

/// One byte at RCV.NXT-1 is entirely old: unacceptable, answered with a
/// duplicate ACK <SEQ=SND.NXT><ACK=RCV.NXT>, nothing delivered.
fn check_old_byte_gets_dup_ack(mut fx: Fixture, state: &str) {
    let readable = recv_queue(&fx);
    let old = fx.seg().seq(fx.rcv_nxt - 1).data(b"x");
    send_raw(&mut fx, &old);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), state);
    assert_eq!(recv_queue(&fx), readable);
}

/// Data at RCV.NXT+RCV.WND is beyond the window: unacceptable, answered
/// with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, counted, not stored.
fn check_data_at_right_edge(mut fx: Fixture, state: &str) {
    let oow = fx.stack.counters().tcp_out_of_window;
    let seg = fx.seg().seq(fx.rcv_nxt + fx.rcv_wnd).data(b"y");
    send_raw(&mut fx, &seg);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), state);
    assert_eq!(fx.stack.counters().tcp_out_of_window, oow + 1);
    assert_eq!(recv_queue(&fx), 0);
}

/// Data at RCV.NXT: delivered, and acknowledged by the delayed-ACK timer
/// (not at once, RFC 1122 4.2.3.2). In the states after the peer's FIN the
/// text is ignored (RFC 9293 3.10.7.4 seventh): nothing delivered, and any
/// ACK still says RCV.NXT.
fn check_data_at_rcv_nxt(mut fx: Fixture, state: &str, text: bool) {
    let data = pattern(100, 1);
    if text {
        let seg = fx.seg().data(&data);
        send(&mut fx, seg);
        expect_no_reply(&mut fx);
        assert_eq!(fx.app_recv(), data);
        let sent = fx.advance(ms(40));
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_ack(&sent[0].1, fx.snd_nxt, fx.rcv_nxt);
    } else {
        let seg = fx.seg().data(&data);
        send_raw(&mut fx, &seg);
        if let Some(r) = fx.poll() {
            assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        }
        assert_eq!(recv_queue(&fx), 0);
        let sent = fx.advance(ms(200));
        for (_, s) in &sent {
            assert_eq!(s.ack, fx.rcv_nxt, "{s:?}");
        }
    }
    assert_eq!(fx.state(), state);
}

/// One byte at RCV.NXT+RCV.WND-1 is acceptable: held out of order and
/// answered at once with ACK = RCV.NXT (RFC 5681 4.2); when the hole fills,
/// every byte is delivered, the last one included.
fn check_data_at_right_edge_minus_one(mut fx: Fixture, state: &str, text: bool) {
    let wnd = fx.rcv_wnd;
    let last = fx.seg().seq(fx.rcv_nxt + (wnd - 1)).data(b"z");
    send_raw(&mut fx, &last);
    if text {
        let ooo = fx.stack.stats(fx.h()).unwrap().out_of_order_segments;
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        assert_eq!(ooo, 1);
        assert_eq!(recv_queue(&fx), 0);
        // Fill the hole.
        let mut data = pattern(wnd as usize - 1, 9);
        let fill = fx.seg().data(&data);
        send(&mut fx, fill);
        fx.rcv_nxt += 1u32;
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(r.window, 0, "the window is full");
        data.push(b'z');
        assert_eq!(fx.app_recv(), data);
    } else if let Some(r) = fx.poll() {
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(recv_queue(&fx), 0);
    }
    assert_eq!(fx.state(), state);
}

macro_rules! synchronized_state_tests {
    ($module:ident, $fixture:ident, $state:literal, text: $text:expr, rst: $rst:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn syn_gets_challenge_ack() {
                check_syn_gets_challenge_ack($fixture(), $state);
            }
            #[test]
            fn pure_ack_is_silent() {
                check_pure_ack_is_silent($fixture(), $state);
            }
            #[test]
            fn rst_in_window_not_exact() {
                check_rst_in_window($fixture(), $state, $rst);
            }
            #[test]
            fn rst_out_of_window_is_dropped() {
                check_rst_out_of_window($fixture(), $state);
            }
            #[test]
            fn rst_at_rcv_nxt() {
                check_rst_exact($fixture(), $state, $rst);
            }
            #[test]
            fn data_at_rcv_nxt_minus_1_gets_dup_ack() {
                check_old_byte_gets_dup_ack($fixture(), $state);
            }
            #[test]
            fn data_at_rcv_nxt() {
                check_data_at_rcv_nxt($fixture(), $state, $text);
            }
            #[test]
            fn data_at_right_edge_minus_1() {
                check_data_at_right_edge_minus_one($fixture(), $state, $text);
            }
            #[test]
            fn data_at_right_edge_is_unacceptable() {
                check_data_at_right_edge($fixture(), $state);
            }
        }
    };
}

synchronized_state_tests!(established_edges, established, "ESTABLISHED", text: true, rst: OnRst::Reset);
synchronized_state_tests!(fin_wait_1_edges, fin_wait_1, "FIN-WAIT-1", text: true, rst: OnRst::Reset);
synchronized_state_tests!(fin_wait_2_edges, fin_wait_2, "FIN-WAIT-2", text: true, rst: OnRst::Reset);
synchronized_state_tests!(close_wait_edges, close_wait, "CLOSE-WAIT", text: false, rst: OnRst::Reset);
synchronized_state_tests!(closing_edges, closing, "CLOSING", text: false, rst: OnRst::Close);
synchronized_state_tests!(last_ack_edges, last_ack, "LAST-ACK", text: false, rst: OnRst::Close);
synchronized_state_tests!(time_wait_edges, time_wait, "TIME-WAIT", text: false, rst: OnRst::Ignore);

// ----- CLOSED port (RFC 9293 3.10.7.1) ---------------------------------------

mod closed_port {
    use super::*;

    #[test]
    fn syn_gets_rst_ack_with_seq_zero() {
        let mut fx = closed_port();
        let syn = fx.seg().no_ack().syn().seq(SeqNum(5000)).data(b"abc");
        send_raw(&mut fx, &syn);
        let r = expect_reply(&mut fx);
        // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SEG.LEN counts the SYN.
        assert_eq!(r.ctl(), TcpFlags::RST | TcpFlags::ACK, "{r:?}");
        assert_eq!(r.seq, SeqNum(0));
        assert_eq!(r.ack, SeqNum(5004));
        assert_eq!((r.src_port, r.dst_port), (LISTEN_PORT, PEER_PORT));
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.counters().tcp_no_socket, 1);
        assert_eq!(fx.stack.counters().tcp_resets_sent, 1);
    }

    #[test]
    fn fin_without_ack_gets_rst_ack() {
        let mut fx = closed_port();
        let fin = fx.seg().no_ack().fin().seq(SeqNum(7000));
        send_raw(&mut fx, &fin);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::RST | TcpFlags::ACK, "{r:?}");
        assert_eq!(r.seq, SeqNum(0));
        assert_eq!(r.ack, SeqNum(7001));
    }

    #[test]
    fn ack_gets_rst_with_seq_seg_ack() {
        let mut fx = closed_port();
        let ack = fx
            .seg()
            .seq(SeqNum(5000))
            .ack(SeqNum(123_456))
            .data(b"data");
        send_raw(&mut fx, &ack);
        let r = expect_reply(&mut fx);
        // <SEQ=SEG.ACK><CTL=RST>
        assert_eq!(r.ctl(), TcpFlags::RST, "{r:?}");
        assert_eq!(r.seq, SeqNum(123_456));
        expect_no_reply(&mut fx);
    }

    #[test]
    fn rst_gets_nothing() {
        let mut fx = closed_port();
        for seg in [
            fx.seg().no_ack().rst().seq(SeqNum(1)),
            fx.seg().rst().seq(SeqNum(1)).ack(SeqNum(99)),
        ] {
            send_raw(&mut fx, &seg);
            expect_no_reply(&mut fx);
        }
        assert_eq!(fx.stack.counters().tcp_resets_sent, 0);
    }
}

// ----- LISTEN (RFC 9293 3.10.7.2) ---------------------------------------------

mod listen_state {
    use super::*;

    #[test]
    fn ack_gets_rst_with_seq_seg_ack() {
        let mut fx = listen();
        let ack = fx.seg().seq(SeqNum(5000)).ack(SeqNum(777));
        send_raw(&mut fx, &ack);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::RST, "{r:?}");
        assert_eq!(r.seq, SeqNum(777));
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.connection_count(), 0);
    }

    #[test]
    fn rst_is_ignored() {
        let mut fx = listen();
        let rst = fx.seg().no_ack().rst().seq(SeqNum(5000));
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.connection_count(), 0);
        assert_eq!(fx.events(), vec![]);
    }

    #[test]
    fn segment_without_syn_ack_or_rst_is_dropped() {
        let mut fx = listen();
        let fin = fx.seg().no_ack().fin().seq(SeqNum(5000)).data(b"hi");
        send_raw(&mut fx, &fin);
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.connection_count(), 0);
    }

    #[test]
    fn syn_spawns_syn_received_with_syn_ack_and_mss() {
        let mut fx = listen();
        let syn = fx.seg().no_ack().syn().seq(SeqNum(PEER_ISS)).mss(1200);
        send_raw(&mut fx, &syn);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::SYN | TcpFlags::ACK, "{r:?}");
        assert_eq!(r.ack, SeqNum(PEER_ISS + 1));
        assert_eq!(r.options.mss, Some(1460), "our MSS");
        assert!(r.payload.is_empty());
        // The peer offered no window scaling, so none is answered.
        assert_eq!(r.options.window_scale, None);
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.connection_count(), 1);
        // Not accepted before the handshake completes.
        assert_eq!(fx.stack.accept(fx.listener.unwrap()), None);
        assert_eq!(fx.events(), vec![]);
    }
}

// ----- SYN-SENT (RFC 9293 3.10.7.3) --------------------------------------------

mod syn_sent_state {
    use super::*;

    #[test]
    fn syn_carries_mss_and_no_data() {
        let mut fx = Fixture::bare(stack_config(tcp_config()));
        let h = fx
            .stack
            .connect(fx.now, std::net::SocketAddrV4::new(PEER, PEER_PORT))
            .unwrap();
        fx.h = Some(h);
        fx.local_port = fx.stack.local_addr(h).unwrap().port();
        let syn = expect_reply(&mut fx);
        assert_eq!(syn.ctl(), TcpFlags::SYN);
        assert_eq!(syn.options.mss, Some(1460));
        assert!(syn.payload.is_empty());
        assert_eq!(syn.window as usize, RCV_BUF);
    }

    #[test]
    fn syn_ack_establishes() {
        // The fixture asserts the ACK and the Connected event.
        let fx = established();
        assert_eq!(
            fx.stack
                .connection(fx.h())
                .unwrap()
                .tcb()
                .unwrap()
                .snd_mss(),
            1460
        );
    }

    #[test]
    fn rst_with_acceptable_ack_refuses() {
        let mut fx = syn_sent();
        let h = fx.h();
        let rst = fx.seg().no_ack().rst().seq(SeqNum(0)).ack(fx.iss + 1u32);
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "CLOSED");
        assert_eq!(fx.events(), vec![Event::Error(h, ConnError::Refused)]);
        let mut buf = [0u8; 4];
        assert_eq!(
            fx.stack.recv(h, &mut buf),
            Err(SocketError::Failed(ConnError::Refused))
        );
    }

    #[test]
    fn rst_without_ack_is_dropped() {
        let mut fx = syn_sent();
        let rst = fx.seg().no_ack().rst().seq(SeqNum(PEER_ISS));
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "SYN-SENT");
        assert_eq!(fx.events(), vec![]);
    }

    #[test]
    fn rst_with_bad_ack_is_dropped() {
        let mut fx = syn_sent();
        for ack in [fx.iss, fx.iss + 2u32] {
            let rst = fx.seg().no_ack().rst().seq(SeqNum(PEER_ISS)).ack(ack);
            send_raw(&mut fx, &rst);
            expect_no_reply(&mut fx);
            assert_eq!(fx.state(), "SYN-SENT");
        }
        assert_eq!(fx.events(), vec![]);
    }

    #[test]
    fn bad_ack_gets_rst() {
        // SEG.ACK =< ISS or SEG.ACK > SND.NXT: <SEQ=SEG.ACK><CTL=RST>.
        let mut fx = syn_sent();
        for ack in [fx.iss, fx.iss - 1000, fx.iss + 2u32] {
            for syn in [false, true] {
                let mut seg = fx.seg().no_ack().seq(SeqNum(PEER_ISS)).ack(ack);
                if syn {
                    seg = seg.syn();
                }
                send_raw(&mut fx, &seg);
                let r = expect_reply(&mut fx);
                assert_eq!(r.ctl(), TcpFlags::RST, "{r:?}");
                assert_eq!(r.seq, ack);
                expect_no_reply(&mut fx);
                assert_eq!(fx.state(), "SYN-SENT");
            }
        }
        // The real SYN-ACK still works.
        let synack = fx.seg().seq(SeqNum(PEER_ISS)).syn().ack(fx.iss + 1u32);
        send_raw(&mut fx, &synack);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.iss + 1u32, SeqNum(PEER_ISS + 1));
        assert_eq!(fx.state(), "ESTABLISHED");
    }

    #[test]
    fn ack_without_syn_is_dropped() {
        let mut fx = syn_sent();
        let ack = fx.seg().seq(SeqNum(PEER_ISS)).ack(fx.iss + 1u32);
        send_raw(&mut fx, &ack);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "SYN-SENT");
    }

    /// RFC 9293 3.10.7.3 fourth and Figure 8: a SYN without ACK is a
    /// simultaneous open; we answer <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>,
    /// and the peer's SYN-ACK completes the handshake.
    #[test]
    fn syn_without_ack_is_simultaneous_open() {
        let mut fx = syn_sent();
        let h = fx.h();
        let syn = fx.seg().no_ack().syn().seq(SeqNum(PEER_ISS)).mss(1400);
        send_raw(&mut fx, &syn);
        fx.rcv_nxt = SeqNum(PEER_ISS + 1);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::SYN | TcpFlags::ACK, "{r:?}");
        assert_eq!(r.seq, fx.iss);
        assert_eq!(r.ack, fx.rcv_nxt);
        assert_eq!(r.options.mss, Some(1460));
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "SYN-RECEIVED");
        assert_eq!(fx.events(), vec![]);
        // Figure 8 line 6: the peer's SYN-ACK <SEQ=IRS><ACK=ISS+1>.
        let synack = fx.seg().seq(SeqNum(PEER_ISS)).syn().ack(fx.iss + 1u32);
        send_raw(&mut fx, &synack);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(fx.events(), vec![Event::Connected(h)]);
        // Data flows.
        let seg = fx.seg().data(b"hello");
        send(&mut fx, seg);
        assert_eq!(fx.app_recv(), b"hello");
    }

    /// Simultaneous open where the peer answers our SYN-ACK with a plain ACK.
    #[test]
    fn simultaneous_open_completed_by_ack() {
        let mut fx = syn_sent();
        let syn = fx.seg().no_ack().syn().seq(SeqNum(PEER_ISS));
        send_raw(&mut fx, &syn);
        fx.rcv_nxt = SeqNum(PEER_ISS + 1);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::SYN | TcpFlags::ACK);
        let ack = fx.seg();
        send(&mut fx, ack);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(fx.events(), vec![Event::Connected(fx.h())]);
    }

    /// RFC 6298 5.5 for the SYN (and RFC 6298 2.1: 1 s initial RTO):
    /// retransmitted at 1, 3, 7, 15, 31, 63 s, then TimedOut after
    /// `syn_retries` (6) retransmissions.
    #[test]
    fn syn_retransmission_and_timeout() {
        let mut fx = syn_sent();
        let h = fx.h();
        let t0 = fx.now;
        let sent = fx.advance(secs(200));
        let times: Vec<u64> = sent
            .iter()
            .map(|(t, _)| (*t - t0).as_millis() as u64)
            .collect();
        assert_eq!(times, vec![1000, 3000, 7000, 15000, 31000, 63000]);
        for (_, s) in &sent {
            assert_eq!(s.ctl(), TcpFlags::SYN, "{s:?}");
            assert_eq!(s.seq, fx.iss);
            assert_eq!(s.options.mss, Some(1460));
        }
        assert_eq!(fx.state(), "CLOSED");
        assert_eq!(fx.events(), vec![Event::Error(h, ConnError::TimedOut)]);
    }

    /// RFC 6298 5.7: the SYN timed out and no round trip was measured
    /// (Karn: the SYN-ACK answers a retransmitted SYN), so the RTO for the
    /// data starts at 3 s, not at the backed-off 2 s nor the initial 1 s.
    #[test]
    fn rto_is_3_s_after_a_syn_timeout() {
        let mut fx = syn_sent();
        let sent = fx.advance(ms(1500));
        assert_eq!(sent.len(), 1, "the SYN was retransmitted once");
        assert_eq!(current_rto(&fx), secs(2), "backed off once");
        let synack = fx.seg().seq(SeqNum(PEER_ISS)).syn().ack(fx.iss + 1u32);
        send_raw(&mut fx, &synack);
        fx.rcv_nxt = SeqNum(PEER_ISS + 1);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(current_rto(&fx), secs(3));
        // The first data segment is retransmitted 3 s after it went out.
        fx.drain();
        fx.app_send(b"data");
        let first = expect_reply(&mut fx);
        let t = fx.now;
        let again = fx.advance(secs(4));
        assert_eq!(again[0].0 - t, secs(3));
        assert_eq!(again[0].1.seq, first.seq);
    }

    /// Without a timeout the handshake's measurement sets the RTO (here the
    /// 200 ms floor), not 3 s.
    #[test]
    fn rto_follows_the_handshake_sample_without_a_syn_timeout() {
        let mut fx = syn_sent();
        fx.advance(ms(10));
        let synack = fx.seg().seq(SeqNum(PEER_ISS)).syn().ack(fx.iss + 1u32);
        send_raw(&mut fx, &synack);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(current_rto(&fx), ms(200));
    }

    /// The last SYN goes out at 63 s; the RTO after it would be 64 s but
    /// is capped at max_rto (60 s), so the connection gives up at 123 s.
    #[test]
    fn syn_timeout_happens_at_123_s() {
        let mut fx = syn_sent();
        let t0 = fx.now;
        fx.advance_to(t0 + (secs(123) - ms(1)));
        assert_eq!(fx.state(), "SYN-SENT");
        fx.advance_to(t0 + secs(123));
        assert_eq!(fx.state(), "CLOSED");
    }
}

// ----- SYN-RECEIVED (RFC 9293 3.10.7.4) ----------------------------------------

mod syn_received_state {
    use super::*;

    fn complete(fx: &mut Fixture) -> ringtcp::stack::SocketHandle {
        let ack = fx.seg();
        send(fx, ack);
        let events = fx.events();
        assert_eq!(events, vec![Event::Incoming(fx.listener.unwrap())]);
        let h = fx.stack.accept(fx.listener.unwrap()).expect("accept");
        fx.h = Some(h);
        assert_eq!(fx.state(), "ESTABLISHED");
        h
    }

    #[test]
    fn ack_completes_the_handshake() {
        let mut fx = syn_received();
        complete(&mut fx);
        expect_no_reply(&mut fx);
    }

    #[test]
    fn retransmitted_syn_gets_syn_ack_again() {
        let mut fx = syn_received();
        let syn = fx.seg().no_ack().syn().seq(SeqNum(PEER_ISS)).mss(1460);
        send_raw(&mut fx, &syn);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::SYN | TcpFlags::ACK, "{r:?}");
        assert_eq!(r.seq, fx.iss);
        assert_eq!(r.ack, SeqNum(PEER_ISS + 1));
        assert_eq!(r.options.mss, Some(1460));
        expect_no_reply(&mut fx);
        complete(&mut fx);
    }

    #[test]
    fn syn_ack_is_retransmitted_on_timeout() {
        let mut fx = syn_received();
        let t0 = fx.now;
        let sent = fx.advance(ms(3500));
        let times: Vec<u64> = sent
            .iter()
            .map(|(t, _)| (*t - t0).as_millis() as u64)
            .collect();
        assert_eq!(times, vec![1000, 3000]);
        for (_, s) in &sent {
            assert_eq!(s.ctl(), TcpFlags::SYN | TcpFlags::ACK);
            assert_eq!(s.seq, fx.iss);
        }
        complete(&mut fx);
    }

    #[test]
    fn bad_ack_gets_rst() {
        let mut fx = syn_received();
        for ack in [fx.iss, fx.iss + 2u32] {
            let seg = fx.seg().ack(ack);
            send_raw(&mut fx, &seg);
            let r = expect_reply(&mut fx);
            // <SEQ=SEG.ACK><CTL=RST>
            assert_eq!(r.ctl(), TcpFlags::RST, "{r:?}");
            assert_eq!(r.seq, ack);
            expect_no_reply(&mut fx);
        }
        assert_eq!(fx.events(), vec![]);
        complete(&mut fx);
    }

    #[test]
    fn rst_at_rcv_nxt_returns_to_listen() {
        let mut fx = syn_received();
        let rst = fx.seg().rst();
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.events(), vec![]);
        assert_eq!(fx.stack.connection_count(), 0);
        // The listener is still there: the handshake's ACK now meets
        // LISTEN, which answers <SEQ=SEG.ACK><CTL=RST>.
        let ack = fx.seg();
        send_raw(&mut fx, &ack);
        let r = expect_reply(&mut fx);
        assert_eq!(r.ctl(), TcpFlags::RST);
        assert_eq!(r.seq, fx.snd_nxt);
    }

    #[test]
    fn rst_in_window_gets_challenge_ack() {
        let mut fx = syn_received();
        let rst = fx.seg().rst().seq(fx.rcv_nxt + 1u32);
        send_raw(&mut fx, &rst);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        complete(&mut fx);
    }

    #[test]
    fn rst_out_of_window_is_dropped() {
        let mut fx = syn_received();
        for seq in [fx.rcv_nxt - 1, fx.rcv_nxt + fx.rcv_wnd] {
            let rst = fx.seg().rst().seq(seq);
            send_raw(&mut fx, &rst);
            expect_no_reply(&mut fx);
        }
        complete(&mut fx);
    }

    #[test]
    fn data_at_rcv_nxt_minus_1_gets_ack() {
        let mut fx = syn_received();
        let seg = fx.seg().seq(fx.rcv_nxt - 1).data(b"x");
        send_raw(&mut fx, &seg);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.connection_count(), 1);
        complete(&mut fx);
    }

    #[test]
    fn data_at_right_edge_gets_ack() {
        let mut fx = syn_received();
        let seg = fx.seg().seq(fx.rcv_nxt + fx.rcv_wnd).data(b"x");
        send_raw(&mut fx, &seg);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        complete(&mut fx);
    }

    #[test]
    fn data_at_rcv_nxt_completes_and_delivers() {
        let mut fx = syn_received();
        let seg = fx.seg().data(b"early data");
        send(&mut fx, seg);
        let l = fx.listener.unwrap();
        let h = fx.stack.accept(l).expect("accept");
        fx.h = Some(h);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(fx.app_recv(), b"early data");
        let sent = fx.advance(ms(40));
        assert_eq!(sent.len(), 1);
        assert_ack(&sent[0].1, fx.snd_nxt, fx.rcv_nxt);
    }

    #[test]
    fn data_at_right_edge_minus_1_completes_and_is_held() {
        let mut fx = syn_received();
        let seg = fx.seg().seq(fx.rcv_nxt + (fx.rcv_wnd - 1)).data(b"z");
        send_raw(&mut fx, &seg);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        let l = fx.listener.unwrap();
        let h = fx.stack.accept(l).expect("accept");
        fx.h = Some(h);
        assert_eq!(fx.state(), "ESTABLISHED");
        assert_eq!(recv_queue(&fx), 0);
    }
}

// ----- per-state FIN and ACK handling ------------------------------------------

mod established_state {
    use super::*;

    /// A connection that was reset leaves the demultiplexing table at
    /// once, although the application still holds its handle: the next
    /// segment for its 4-tuple finds a closed port (RFC 9293 3.10.7.1) and
    /// is answered with a RST, while the handle still reports the reset.
    #[test]
    fn reset_connection_leaves_the_table_while_held() {
        let mut fx = established();
        let h = fx.h();
        let rst = fx.seg().rst();
        send_raw(&mut fx, &rst);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "CLOSED");
        let closed_port = fx.stack.counters().tcp_no_socket;
        let data = fx.seg().data(b"late");
        send_raw(&mut fx, &data);
        let r = expect_reply(&mut fx);
        assert!(r.flags.rst(), "{r:?}");
        assert_eq!(r.seq, data.ack, "closed port: <SEQ=SEG.ACK><CTL=RST>");
        assert_eq!(fx.stack.counters().tcp_no_socket, closed_port + 1);
        let mut buf = [0u8; 8];
        assert_eq!(
            fx.stack.recv(h, &mut buf),
            Err(SocketError::Failed(ConnError::Reset))
        );
    }

    #[test]
    fn fin_moves_to_close_wait() {
        let mut fx = established();
        let h = fx.h();
        let fin = fx.seg().fin();
        send(&mut fx, fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(r.ack, SeqNum(PEER_ISS + 2));
        assert_eq!(fx.state(), "CLOSE-WAIT");
        let events = fx.events();
        assert!(events.contains(&Event::PeerClosed(h)), "{events:?}");
        let mut buf = [0u8; 8];
        assert_eq!(fx.stack.recv(h, &mut buf), Ok(0));
    }

    #[test]
    fn fin_with_data_is_acked_at_once() {
        let mut fx = established();
        let fin = fx.seg().data(b"bye").fin();
        send(&mut fx, fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "CLOSE-WAIT");
        assert_eq!(fx.app_recv(), b"bye");
    }

    /// RFC 9293 3.10.7.4 fifth: an ACK of something not yet sent gets an
    /// ACK and the segment is dropped.
    #[test]
    fn ack_of_unsent_data_gets_ack_and_is_dropped() {
        let mut fx = established();
        let seg = fx.seg().ack(fx.snd_nxt + 100u32).data(b"zzz");
        send_raw(&mut fx, &seg);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        assert_eq!(recv_queue(&fx), 0);
        assert_eq!(fx.state(), "ESTABLISHED");
    }

    /// RFC 5961 5.2: an ACK below SND.UNA - MAX.SND.WND is dropped with a
    /// challenge ACK.
    #[test]
    fn ack_too_old_gets_challenge_ack() {
        let mut fx = established();
        let seg = fx.seg().ack(fx.snd_nxt - 70_000).data(b"zzz");
        send_raw(&mut fx, &seg);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(recv_queue(&fx), 0);
        assert_eq!(fx.stack.stats(fx.h()).unwrap().challenge_acks, 1);
    }

    /// RFC 9293 3.10.7.4 fifth: "if the ACK bit is off, drop the segment".
    #[test]
    fn segment_without_ack_is_dropped() {
        let mut fx = established();
        let seg = fx.seg().no_ack().data(b"abc");
        send_raw(&mut fx, &seg);
        expect_no_reply(&mut fx);
        assert_eq!(recv_queue(&fx), 0);
        assert_eq!(fx.state(), "ESTABLISHED");
    }

    /// Data that straddles RCV.NXT: only the new part is taken.
    #[test]
    fn partly_old_data_delivers_only_new_bytes() {
        let mut fx = established();
        let seg = fx.seg().data(b"abc");
        send(&mut fx, seg);
        let seg = fx.seg().seq(fx.rcv_nxt - 2).data(b"bcdef");
        send_raw(&mut fx, &seg);
        fx.rcv_nxt += 3u32;
        assert_eq!(fx.app_recv(), b"abcdef");
        let sent = fx.advance(ms(40));
        assert_eq!(sent.last().unwrap().1.ack, fx.rcv_nxt);
    }
}

mod fin_wait_1_state {
    use super::*;

    #[test]
    fn ack_of_fin_moves_to_fin_wait_2() {
        // The fixture checks it: no reply, FIN-WAIT-2.
        let fx = fin_wait_2();
        assert_eq!(fx.state(), "FIN-WAIT-2");
    }

    #[test]
    fn fin_without_ack_of_our_fin_moves_to_closing() {
        let fx = closing();
        assert_eq!(fx.state(), "CLOSING");
    }

    #[test]
    fn fin_with_ack_of_our_fin_moves_to_time_wait() {
        let mut fx = fin_wait_1();
        let fin = fx.seg().fin().ack(fx.snd_nxt);
        send(&mut fx, fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "TIME-WAIT");
    }

    #[test]
    fn fin_is_retransmitted() {
        let mut fx = fin_wait_1();
        let rto = current_rto(&fx);
        assert_eq!(fx.advance(rto - ms(1)), vec![]);
        let sent = fx.advance(ms(1));
        assert_eq!(sent.len(), 1, "{sent:?}");
        let s = &sent[0].1;
        assert_eq!(s.ctl(), TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(s.seq, fx.snd_nxt - 1);
    }

    #[test]
    fn cannot_send_after_shutdown() {
        let mut fx = fin_wait_1();
        assert_eq!(
            fx.stack.send(fx.h(), b"late"),
            Err(SocketError::NotWritable)
        );
    }
}

mod fin_wait_2_state {
    use super::*;

    #[test]
    fn fin_moves_to_time_wait() {
        let mut fx = fin_wait_2();
        let h = fx.h();
        let fin = fx.seg().fin();
        send(&mut fx, fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "TIME-WAIT");
        assert!(fx.events().contains(&Event::PeerClosed(h)));
    }
}

mod close_wait_state {
    use super::*;

    #[test]
    fn retransmitted_fin_gets_ack() {
        let mut fx = close_wait();
        let fin = fx.seg().fin().seq(fx.rcv_nxt - 1);
        send_raw(&mut fx, &fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "CLOSE-WAIT");
    }

    #[test]
    fn we_can_still_send() {
        let mut fx = close_wait();
        assert_eq!(fx.app_send(b"response"), 8);
        let r = expect_reply(&mut fx);
        assert_eq!(r.payload, b"response");
        assert_eq!(r.ack, fx.rcv_nxt);
        let ack = fx.seg();
        send(&mut fx, ack);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "CLOSE-WAIT");
    }

    #[test]
    fn shutdown_moves_to_last_ack() {
        let fx = last_ack();
        assert_eq!(fx.state(), "LAST-ACK");
    }
}

mod closing_state {
    use super::*;

    #[test]
    fn ack_of_fin_moves_to_time_wait() {
        let mut fx = closing();
        let ack = fx.seg().ack(fx.snd_nxt);
        send(&mut fx, ack);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "TIME-WAIT");
    }

    #[test]
    fn retransmitted_fin_gets_ack() {
        let mut fx = closing();
        let fin = fx.seg().fin().seq(fx.rcv_nxt - 1);
        send_raw(&mut fx, &fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "CLOSING");
    }
}

mod last_ack_state {
    use super::*;

    #[test]
    fn ack_of_fin_closes() {
        let mut fx = last_ack();
        let h = fx.h();
        let ack = fx.seg().ack(fx.snd_nxt);
        send(&mut fx, ack);
        expect_no_reply(&mut fx);
        assert_eq!(fx.state(), "CLOSED");
        assert_eq!(fx.events(), vec![Event::Closed(h)]);
    }

    #[test]
    fn retransmitted_fin_gets_ack() {
        let mut fx = last_ack();
        let fin = fx.seg().fin().seq(fx.rcv_nxt - 1);
        send_raw(&mut fx, &fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.state(), "LAST-ACK");
    }

    #[test]
    fn fin_is_retransmitted() {
        let mut fx = last_ack();
        let rto = current_rto(&fx);
        assert_eq!(fx.advance(rto - ms(1)), vec![]);
        let sent = fx.advance(ms(1));
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].1.ctl(), TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(sent[0].1.seq, fx.snd_nxt - 1);
    }
}

mod time_wait_state {
    use super::*;

    /// RFC 9293 3.10.7.4 eighth (TIME-WAIT): a retransmitted FIN is
    /// acknowledged again and restarts the 2 MSL timeout.
    #[test]
    fn retransmitted_fin_is_acked_and_restarts_2msl() {
        let mut fx = time_wait();
        let t0 = fx.now;
        fx.advance_to(t0 + secs(30));
        let fin = fx.seg().fin().seq(fx.rcv_nxt - 1);
        send_raw(&mut fx, &fin);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        expect_no_reply(&mut fx);
        // Without the restart it would end at t0 + 60 s.
        fx.advance_to(t0 + secs(89));
        assert_eq!(fx.state(), "TIME-WAIT");
        fx.advance_to(t0 + secs(90));
        assert_eq!(fx.state(), "CLOSED");
    }

    /// 2 * MSL with the default MSL of 30 s: not a millisecond less.
    #[test]
    fn lasts_exactly_2msl() {
        let mut fx = time_wait();
        let h = fx.h();
        let t0 = fx.now;
        let sent = fx.advance_to(t0 + (secs(60) - ms(1)));
        assert_eq!(sent, vec![]);
        assert_eq!(fx.state(), "TIME-WAIT");
        assert_eq!(fx.events(), vec![]);
        let sent = fx.advance_to(t0 + secs(60));
        assert_eq!(sent, vec![]);
        assert_eq!(fx.state(), "CLOSED");
        assert_eq!(fx.events(), vec![Event::Closed(h)]);
    }

    /// TIME-WAIT keeps what the application may still read while it
    /// holds the handle; once it lets go, the entry answers late segments
    /// on its own (the TCB is dropped) and the stack's totals go on
    /// counting.
    #[test]
    fn unread_data_survives_time_wait_and_the_entry_outlives_the_handle() {
        let mut fx = fin_wait_2();
        let h = fx.h();
        let fin = fx.seg().data(b"tail").fin();
        send(&mut fx, fin);
        expect_reply(&mut fx);
        assert_eq!(fx.state(), "TIME-WAIT");
        assert_eq!(fx.app_recv(), b"tail");
        let received = fx.stack.tcp_totals().segments_received;
        fx.stack.close(fx.now, h).unwrap();
        fx.drain();
        assert_eq!(fx.stack.connection_count(), 1, "TIME-WAIT stays");
        assert_eq!(fx.stack.tcp_totals().segments_received, received);
        // A retransmitted FIN is still acknowledged, and counted.
        let again = fx.seg().fin().seq(fx.rcv_nxt - 1);
        send_raw(&mut fx, &again);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
        assert_eq!(fx.stack.tcp_totals().segments_received, received + 1);
        let t0 = fx.now;
        fx.advance_to(t0 + secs(60));
        assert_eq!(fx.stack.connection_count(), 0);
        assert_eq!(fx.stack.tcp_totals().segments_received, received + 1);
    }

    #[test]
    fn time_wait_holds_the_port_then_frees_it() {
        let mut fx = time_wait();
        let t0 = fx.now;
        assert_eq!(fx.stack.connection_count(), 1);
        fx.advance_to(t0 + secs(60));
        fx.stack.close(fx.now, fx.h()).unwrap();
        fx.drain();
        assert_eq!(fx.stack.connection_count(), 0);
    }
}

// ----- focused tests -------------------------------------------------------------

/// Both FINs cross: FIN-WAIT-1 -> CLOSING -> TIME-WAIT -> CLOSED.
#[test]
fn simultaneous_close() {
    let mut fx = established();
    let h = fx.h();
    fx.stack.shutdown(h).unwrap();
    let our_fin = expect_reply(&mut fx);
    assert!(our_fin.flags.fin());
    assert_eq!(fx.state(), "FIN-WAIT-1");
    // The peer's FIN left before ours arrived: it does not acknowledge it.
    let peer_fin = fx.seg().fin().ack(our_fin.seq);
    send(&mut fx, peer_fin);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.state(), "CLOSING");
    // Then the peer gets our FIN and acknowledges it.
    let ack = fx.seg().ack(our_fin.seq + 1u32);
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "TIME-WAIT");
    let t = fx.now;
    fx.advance_to(t + secs(60));
    assert_eq!(fx.state(), "CLOSED");
    let events = fx.events();
    assert!(events.contains(&Event::PeerClosed(h)), "{events:?}");
    assert!(events.contains(&Event::Closed(h)), "{events:?}");
}

/// We shut down our write side; the peer keeps sending and we keep
/// An orphan in FIN-WAIT-2 (the application closed; the peer ACKed our
/// FIN but never sends its own) is dropped after `fin_wait2_timeout`
/// (60 s), silently; until then it still takes the peer's FIN.
#[test]
fn orphan_in_fin_wait_2_is_dropped_after_the_timeout() {
    let mut fx = established();
    let h = fx.h();
    let t0 = fx.now;
    fx.stack.close(fx.now, h).unwrap();
    let fin = expect_reply(&mut fx);
    assert!(fin.flags.fin());
    fx.ack_lag = 0;
    let ack = fx.seg();
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.connection_count(), 1, "waiting in FIN-WAIT-2");
    let sent = fx.advance_to(t0 + (secs(60) - ms(1)));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(fx.stack.connection_count(), 1);
    let sent = fx.advance_to(t0 + secs(60));
    assert!(sent.is_empty(), "dropped without a segment: {sent:?}");
    assert_eq!(fx.stack.connection_count(), 0, "the orphan is gone");
}

/// The same orphan whose peer does close in time ends in TIME-WAIT as
/// usual; and a connection only shut down for writing (not orphaned) waits
/// in FIN-WAIT-2 as long as the application keeps it.
#[test]
fn fin_wait_2_timeout_only_for_orphans() {
    let mut fx = established();
    let h = fx.h();
    fx.stack.close(fx.now, h).unwrap();
    expect_reply(&mut fx);
    fx.ack_lag = 0;
    let ack = fx.seg();
    send(&mut fx, ack);
    fx.advance(secs(30));
    let fin = fx.seg().fin();
    send(&mut fx, fin);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.stack.connection_count(), 1, "in TIME-WAIT");

    let mut fx = fin_wait_2();
    fx.advance(secs(600));
    assert_eq!(fx.state(), "FIN-WAIT-2");
}

/// receiving until its FIN.
#[test]
fn half_close() {
    let mut fx = fin_wait_2();
    let h = fx.h();
    let data = pattern(4000, 3);
    for chunk in data.chunks(1000) {
        let seg = fx.seg().data(chunk);
        send(&mut fx, seg);
    }
    // Two full segments (4 x 1000 is not MSS-sized) or the timer: the ACK
    // must cover everything within the delayed-ACK time.
    let mut sent = fx.drain();
    sent.extend(fx.advance(ms(40)).into_iter().map(|(_, s)| s));
    assert_eq!(sent.last().expect("an ACK").ack, fx.rcv_nxt);
    assert_eq!(fx.app_recv(), data);
    assert_eq!(fx.state(), "FIN-WAIT-2");
    assert_eq!(fx.stack.send(h, b"no"), Err(SocketError::NotWritable));
    let fin = fx.seg().fin();
    send(&mut fx, fin);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    assert_eq!(fx.state(), "TIME-WAIT");
    let mut buf = [0u8; 4];
    assert_eq!(fx.stack.recv(h, &mut buf), Ok(0));
}

/// The payload sizes of the data-carrying segments.
fn data_segments(sent: &[ParsedSeg]) -> Vec<usize> {
    sent.iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.payload.len())
        .collect()
}

/// RFC 9293 3.7.1: without an MSS option the peer takes 536.
#[test]
fn mss_absent_means_536() {
    let mut fx = established_with(tcp_config(), None, 65_535);
    assert_eq!(fx.app_send(&pattern(3000, 0)), 3000);
    let sent = fx.drain();
    let sizes = data_segments(&sent);
    assert!(!sizes.is_empty());
    assert!(sizes.iter().all(|&n| n <= 536), "{sizes:?}");
    assert_eq!(sizes[0], 536);
    // Acknowledge everything until the whole 3000 bytes went out.
    let mut total: usize = sizes.iter().sum();
    for _ in 0..10 {
        let ack = fx.seg();
        send(&mut fx, ack);
        let more = data_segments(&fx.drain());
        assert!(more.iter().all(|&n| n <= 536), "{more:?}");
        total += more.iter().sum::<usize>();
    }
    assert_eq!(total, 3000);
}

#[test]
fn mss_1000_gives_segments_of_1000() {
    let mut fx = established_with(tcp_config(), Some(1000), 65_535);
    assert_eq!(fx.app_send(&pattern(5500, 0)), 5500);
    let sizes = data_segments(&fx.drain());
    assert_eq!(sizes, vec![1000; 5], "the 500-byte tail waits (Nagle)");
    let ack = fx.seg();
    send(&mut fx, ack);
    assert_eq!(data_segments(&fx.drain()), vec![500]);
}

/// RFC 1122 4.2.3.4 (the override timeout of sender silly-window
/// avoidance): a window that shrinks below a segment, and below half the
/// largest the peer offered, while nothing is in flight must not hold the
/// data forever: no ACK is coming to open it. After the persist interval
/// what fits goes out, and the peer's ACK of it moves things on.
#[test]
fn small_window_is_not_a_deadlock() {
    let mut fx = established_with(tcp_config(), Some(1460), 2000);
    let data = pattern(5000, 9);
    assert_eq!(fx.app_send(&data), 5000);
    let sent = fx.drain();
    // One full segment; the 540 bytes left of the window wait for the ACK
    // (Nagle and sender SWS avoidance).
    assert_eq!(data_segments(&sent), vec![1460]);
    let una = fx.snd_nxt;
    // The peer takes it all and offers 300 bytes.
    fx.advance(ms(10));
    fx.peer_window = 300;
    let ack = fx.seg();
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    // Held back by SWS avoidance, then sent when the timer fires.
    let held_at = fx.now;
    let sent = fx.advance(secs(2));
    let data_sent: Vec<_> = sent.iter().filter(|(_, s)| !s.payload.is_empty()).collect();
    let (at, first) = data_sent.first().expect("what fits goes out");
    assert_eq!((first.seq, first.payload.len()), (una, 300), "{first:?}");
    assert!(*at - held_at >= ms(200), "not before the persist interval");
    assert_eq!(first.payload, data[1460..1760]);
}

/// RFC 9293 3.8.6.1 and 3.8.6.2.1: never send beyond the offered window;
/// probe a zero window with exponentially backed-off intervals; resume when
/// the window opens.
#[test]
fn zero_window_probing() {
    let mut fx = established_with(tcp_config(), Some(1460), 1000);
    let data = pattern(5000, 5);
    assert_eq!(fx.app_send(&data), 5000);
    let sent = fx.drain();
    assert_eq!(data_segments(&sent), vec![1000], "only the offered window");
    let mut got: Vec<u8> = sent.iter().flat_map(|s| s.payload.clone()).collect();
    let una = fx.iss + 1u32 + 1000u32;
    assert_eq!(fx.snd_nxt, una);
    // The peer takes the 1000 bytes and closes its window.
    fx.advance(ms(10));
    fx.peer_window = 0;
    let ack = fx.seg();
    send(&mut fx, ack);
    expect_no_reply(&mut fx);
    // Probes, each answered with a zero window.
    let t0 = fx.now;
    let mut probe_times = Vec::new();
    while probe_times.len() < 5 {
        let sent = fx.advance(ms(100));
        for (t, s) in sent {
            assert_eq!(s.ack, fx.rcv_nxt);
            if s.payload.is_empty() {
                assert_eq!(s.seq, una - 1, "a probe below SND.UNA: {s:?}");
            } else {
                // A one-byte probe is allowed too.
                assert_eq!((s.seq, s.payload.len()), (una, 1), "{s:?}");
            }
            probe_times.push((t - t0).as_millis() as u64);
            let ack = fx.seg().ack(una);
            send_raw(&mut fx, &ack);
        }
        assert!(fx.now - t0 < secs(120), "no probes: {probe_times:?}");
    }
    let gaps: Vec<u64> = probe_times.windows(2).map(|w| w[1] - w[0]).collect();
    for w in gaps.windows(2) {
        assert_eq!(w[1], 2 * w[0], "probe intervals double: {probe_times:?}");
    }
    assert!(probe_times[0] >= 200, "{probe_times:?}");
    // The window opens: data resumes at SND.UNA, within the window.
    fx.peer_window = 4000;
    let ack = fx.seg().ack(una);
    send_raw(&mut fx, &ack);
    let sent = fx.drain();
    let mut seq = una;
    let mut n = 0;
    for s in sent.iter().filter(|s| !s.payload.is_empty()) {
        assert_eq!(s.seq, seq);
        seq += s.payload.len();
        n += s.payload.len();
        got.extend_from_slice(&s.payload);
    }
    assert!((1460..=4000).contains(&n), "sent {n} into a window of 4000");
    // Open wide: the rest follows.
    fx.peer_window = 65_535;
    for _ in 0..5 {
        let ack = fx.seg();
        send_raw(&mut fx, &ack);
        for s in fx.drain() {
            if !s.payload.is_empty() {
                assert_eq!(s.seq, seq);
                seq += s.payload.len();
                got.extend_from_slice(&s.payload);
            }
        }
    }
    assert_eq!(got, data);
}

/// The peer shrinks its window to zero with data in flight: nothing new
/// goes out (RFC 9293 3.8.6.2.1).
#[test]
fn window_shrinking_to_zero_stops_new_data() {
    let mut fx = established_with(tcp_config(), Some(1460), 1000);
    fx.app_send(&pattern(3000, 0));
    assert_eq!(data_segments(&fx.drain()), vec![1000]);
    fx.peer_window = 0;
    let upd = fx.seg().ack(fx.iss + 1u32);
    send_raw(&mut fx, &upd);
    expect_no_reply(&mut fx);
    let sent = fx.advance(ms(900));
    assert_eq!(sent, vec![]);
}

/// RFC 9293 3.7.4 (Nagle): while data is unacknowledged, small writes wait
/// and coalesce.
#[test]
fn nagle_coalesces_small_writes() {
    let mut fx = established();
    fx.app_send(b"aaaaaaaaaa");
    assert_eq!(data_segments(&fx.drain()), vec![10]);
    fx.app_send(b"bbbbbbbbbb");
    expect_no_reply(&mut fx);
    fx.app_send(b"cccccccccc");
    expect_no_reply(&mut fx);
    fx.advance(ms(5));
    let ack = fx.seg();
    send(&mut fx, ack);
    let sent = fx.drain();
    assert_eq!(data_segments(&sent), vec![20]);
    assert_eq!(sent[0].payload, b"bbbbbbbbbbcccccccccc");
}

#[test]
fn nodelay_sends_each_write() {
    let mut fx = established();
    fx.stack.set_nodelay(fx.h(), true).unwrap();
    for chunk in [b"aaaaaaaaaa", b"bbbbbbbbbb", b"cccccccccc"] {
        fx.app_send(chunk);
        let sent = fx.drain();
        assert_eq!(data_segments(&sent), vec![10]);
        assert_eq!(sent[0].payload, chunk);
    }
}

/// RFC 1122 4.2.3.2, RFC 5681 4.2: one small segment is acknowledged by the
/// delayed-ACK timer (40 ms here), not before.
#[test]
fn delayed_ack_for_one_small_segment() {
    let mut fx = established();
    let t0 = fx.now;
    let seg = fx.seg().data(&pattern(100, 0));
    send(&mut fx, seg);
    expect_no_reply(&mut fx);
    assert_eq!(fx.advance_to(t0 + ms(39)), vec![]);
    let sent = fx.advance_to(t0 + ms(40));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, t0 + ms(40));
    assert_ack(&sent[0].1, fx.snd_nxt, fx.rcv_nxt);
}

/// RFC 5681 4.2: at least every second full-sized segment is acknowledged
/// at once.
#[test]
fn two_full_segments_are_acked_at_once() {
    let mut fx = established();
    let seg = fx.seg().data(&pattern(1460, 0));
    send(&mut fx, seg);
    expect_no_reply(&mut fx);
    let seg = fx.seg().data(&pattern(1460, 1));
    send(&mut fx, seg);
    let r = expect_reply(&mut fx);
    assert_ack(&r, fx.snd_nxt, fx.rcv_nxt);
    expect_no_reply(&mut fx);
}

/// Config for the RTO tests: the RFC 6298 (2.4) floor of 1 s, so that the
/// handshake's RTT sample (0 here) leaves the RTO at 1 s, the initial value
/// of (2.1).
fn rfc6298_config() -> TcpConfig {
    TcpConfig {
        min_rto: secs(1),
        ..tcp_config()
    }
}

/// RFC 6298: first retransmission after 1 s, then doubling (5.5) up to
/// max_rto (60 s); TimedOut after max_retries (15) retransmissions.
#[test]
fn rto_backoff_and_timeout() {
    let mut fx = established_with(rfc6298_config(), Some(1460), 65_535);
    assert_eq!(current_rto(&fx), secs(1));
    let h = fx.h();
    fx.app_send(b"lost");
    let first = expect_reply(&mut fx);
    assert_eq!(first.payload, b"lost");
    let t0 = fx.now;
    let sent = fx.advance(secs(1200));
    let mut expected = Vec::new();
    let mut t = 0u64;
    let mut rto = 1000u64;
    for _ in 0..15 {
        t += rto;
        expected.push(t);
        rto = (rto * 2).min(60_000);
    }
    let times: Vec<u64> = sent
        .iter()
        .map(|(at, _)| (*at - t0).as_millis() as u64)
        .collect();
    assert_eq!(times, expected);
    for (_, s) in &sent {
        assert_eq!((s.seq, s.payload.as_slice()), (first.seq, &b"lost"[..]));
    }
    assert_eq!(fx.state(), "CLOSED");
    assert_eq!(fx.events(), vec![Event::Error(h, ConnError::TimedOut)]);
    let mut buf = [0u8; 4];
    assert_eq!(
        fx.stack.recv(h, &mut buf),
        Err(SocketError::Failed(ConnError::TimedOut))
    );
}

/// With the default 200 ms floor, a measured RTT of ~0 gives RTO = 200 ms
/// (RFC 6298 2.2-2.4 with min_rto = 200 ms), doubled on each timeout.
#[test]
fn rto_after_rtt_sample_doubles() {
    let mut fx = established();
    assert_eq!(current_rto(&fx), ms(200));
    fx.app_send(b"lost");
    let first = expect_reply(&mut fx);
    let t0 = fx.now;
    let sent = fx.advance(ms(200 + 400 + 800 + 1600));
    let times: Vec<u64> = sent
        .iter()
        .map(|(at, _)| (*at - t0).as_millis() as u64)
        .collect();
    assert_eq!(times, vec![200, 600, 1400, 3000]);
    for (_, s) in &sent {
        assert_eq!((s.seq, s.payload.as_slice()), (first.seq, &b"lost"[..]));
    }
}

/// The timeout happens one (backed-off) RTO after the last retransmission,
/// not earlier.
#[test]
fn rto_timeout_time() {
    let mut fx = established_with(rfc6298_config(), Some(1460), 65_535);
    fx.app_send(b"lost");
    fx.drain();
    let t0 = fx.now;
    // 1+2+4+8+16+32 + 9*60 = 603 s to the 15th retransmission; then 60 s.
    fx.advance_to(t0 + (secs(663) - ms(1)));
    assert_ne!(fx.state(), "CLOSED");
    fx.advance_to(t0 + secs(663));
    assert_eq!(fx.state(), "CLOSED");
}

/// An ACK after a retransmission resets the backoff (RFC 6298 5.7 with a
/// fresh sample after new data).
#[test]
fn ack_stops_retransmission() {
    let mut fx = established();
    fx.app_send(b"once");
    fx.drain();
    let rto = current_rto(&fx);
    let sent = fx.advance(rto);
    assert_eq!(sent.len(), 1);
    let ack = fx.seg();
    send(&mut fx, ack);
    assert_eq!(fx.advance(secs(100)), vec![]);
    assert_eq!(fx.state(), "ESTABLISHED");
}

fn keepalive_config() -> TcpConfig {
    TcpConfig {
        keepalive: Some(Keepalive {
            idle: secs(10),
            interval: secs(2),
            probes: 3,
        }),
        ..tcp_config()
    }
}

/// RFC 9293 3.8.4, RFC 1122 4.2.3.6: after `idle`, probes every `interval`
/// with SEQ = SND.NXT-1; `probes` unanswered probes end the connection.
#[test]
fn keepalive_probes_and_timeout() {
    let mut fx = established_with(keepalive_config(), Some(1460), 65_535);
    let h = fx.h();
    let t0 = fx.now;
    assert_eq!(fx.advance_to(t0 + (secs(10) - ms(1))), vec![]);
    let sent = fx.advance_to(t0 + secs(20));
    let times: Vec<u64> = sent
        .iter()
        .map(|(t, _)| (*t - t0).as_millis() as u64)
        .collect();
    assert_eq!(times, vec![10_000, 12_000, 14_000]);
    for (_, s) in &sent {
        assert_eq!(s.ctl(), TcpFlags::ACK);
        assert_eq!(s.seq, fx.snd_nxt - 1, "{s:?}");
        assert_eq!(s.ack, fx.rcv_nxt);
        assert!(s.payload.len() <= 1);
    }
    assert_eq!(fx.state(), "CLOSED");
    assert_eq!(fx.events(), vec![Event::Error(h, ConnError::TimedOut)]);
}

#[test]
fn answered_keepalive_keeps_the_connection() {
    let mut fx = established_with(keepalive_config(), Some(1460), 65_535);
    let t0 = fx.now;
    for round in 1..=3u64 {
        let sent = fx.advance_to(t0 + secs(10 * round));
        assert_eq!(sent.len(), 1, "round {round}: {sent:?}");
        assert_eq!(sent[0].1.seq, fx.snd_nxt - 1);
        let ack = fx.seg();
        send(&mut fx, ack);
        expect_no_reply(&mut fx);
    }
    assert_eq!(fx.state(), "ESTABLISHED");
}

/// RFC 9293 3.8.6.2.2 (receiver SWS avoidance): once the window closed, the
/// right edge moves only in steps of at least min(MSS, buffer / 2).
#[test]
fn receiver_sws_avoidance() {
    let mut fx = established();
    let step = 1460u32.min(RCV_BUF as u32 / 2);
    let data = pattern(RCV_BUF, 7);
    for chunk in data.chunks(1460) {
        let seg = fx.seg().data(chunk);
        send(&mut fx, seg);
    }
    fx.advance(ms(40));
    assert_eq!(fx.rcv_wnd, 0, "the buffer is full");
    let mut edge = fx.rcv_nxt;
    let mut read = Vec::new();
    // Provokes an ACK with a one-byte old segment.
    let probe = |fx: &mut Fixture| -> ParsedSeg {
        let old = fx.seg().seq(fx.rcv_nxt - 1).data(b"?");
        send_raw(fx, &old);
        let r = expect_reply(fx);
        assert_eq!(r.ack, fx.rcv_nxt);
        r
    };
    // Every segment we send (spontaneous window updates included) must
    // keep the right edge still or move it by at least `step`.
    let mut check_edge = |seg: &ParsedSeg, read: usize| {
        let e = seg.ack + u32::from(seg.window);
        let moved = e.diff(edge);
        assert!(
            moved == 0 || moved >= step as i32,
            "right edge moved by {moved} after reading {read} bytes"
        );
        edge = e;
        moved
    };
    for n in [100, 900, 459, 1, 100, 1000, 500] {
        read.extend(fx.app_recv_max(n));
        let mut moved = 0;
        for s in fx.drain() {
            moved += check_edge(&s, read.len());
        }
        let r = probe(&mut fx);
        moved += check_edge(&r, read.len());
        if read.len() < step as usize {
            assert_eq!(moved, 0, "after reading {}", read.len());
        }
        if read.len() == step as usize {
            assert!(moved >= step as i32, "after reading {}", read.len());
        }
    }
    // Reading everything sends a window update by itself.
    read.extend(fx.app_recv());
    let upd = expect_reply(&mut fx);
    assert_eq!(upd.ack, fx.rcv_nxt);
    assert_eq!(upd.window as usize, RCV_BUF);
    assert_eq!(read, data);
}

/// A read sends a window update by itself only when the window the peer
/// knows of is at most half of what could be offered (Linux's rule): a
/// bulk receiver that reads as data arrives sends one ACK per segment pair,
/// not one more per read.
#[test]
fn window_update_only_when_the_peer_knows_half_or_less() {
    const BUF: usize = 32 * 1024;
    let tcp = TcpConfig {
        recv_buffer: BUF,
        ..tcp_config()
    };
    let mut fx = established_with(tcp, Some(1460), 65_535);
    let data = pattern(13 * 1460, 3);
    for chunk in data.chunks(1460) {
        let seg = fx.seg().data(chunk);
        send(&mut fx, seg);
    }
    fx.drain();
    fx.advance(ms(500));
    // The last ACK told the peer of what is left of the buffer.
    let ack = fx.seg().seq(fx.rcv_nxt - 1).data(b"?");
    send_raw(&mut fx, &ack);
    let r = expect_reply(&mut fx);
    assert_eq!(usize::from(r.window), BUF - data.len());
    // Reading two segments' worth opens the window by 2 MSS, but the peer
    // still knows of 13788 bytes, more than half of the 16708 now open.
    let mut read = fx.app_recv_max(2 * 1460);
    expect_no_reply(&mut fx);
    // Reading the rest opens it to the whole buffer, at least twice what
    // the peer knows of: the update goes out by itself.
    read.extend(fx.app_recv());
    let upd = expect_reply(&mut fx);
    assert_eq!(upd.ack, fx.rcv_nxt);
    assert_eq!(upd.window as usize, BUF);
    expect_no_reply(&mut fx);
    assert_eq!(read, data);
}

/// Out-of-order segments, overlaps included, reassemble into the right
/// bytes; each out-of-order arrival is acknowledged at once with the hole's
/// start.
#[test]
fn out_of_order_reassembly() {
    let mut fx = established();
    let base = fx.rcv_nxt;
    let data = pattern(6000, 11);
    let seg = |fx: &Fixture, a: usize, b: usize| fx.seg().seq(base + a).data(&data[a..b]);
    for (a, b, ack) in [
        (4000, 6000, 0),
        (1000, 2500, 0),
        (1500, 3000, 0),
        (0, 1000, 3000),
        (2500, 4000, 6000),
    ] {
        let s = seg(&fx, a, b);
        send_raw(&mut fx, &s);
        let r = expect_reply(&mut fx);
        assert_ack(&r, fx.snd_nxt, base + ack as u32);
    }
    fx.rcv_nxt = base + 6000u32;
    assert_eq!(fx.app_recv(), data);
}

/// A transfer in both directions across the 2^32 wrap of both sequence
/// spaces (StackConfig::fixed_isn).
#[test]
fn transfer_across_sequence_wrap() {
    let mut cfg = stack_config(tcp_config());
    cfg.fixed_isn = Some(u32::MAX - 3000);
    let mut fx = established_cfg(cfg, u32::MAX - 5000, Some(1460), 65_535);
    assert_eq!(fx.iss, SeqNum(u32::MAX - 3000));
    // Us to the peer.
    let out = pattern(20_000, 13);
    assert_eq!(fx.app_send(&out), out.len());
    let mut got = Vec::new();
    let mut expect = fx.iss + 1u32;
    for _ in 0..50 {
        for s in fx.drain() {
            if !s.payload.is_empty() {
                assert_eq!(s.seq, expect);
                expect += s.payload.len();
                got.extend_from_slice(&s.payload);
            }
        }
        if got.len() == out.len() {
            break;
        }
        fx.advance(ms(1));
        let ack = fx.seg();
        send_raw(&mut fx, &ack);
    }
    assert_eq!(got, out);
    assert!(expect.0 < 100_000, "the sequence space wrapped");
    // The peer to us.
    let inp = pattern(20_000, 17);
    let mut read = Vec::new();
    let mut acks = Vec::new();
    for chunk in inp.chunks(1460) {
        let seg = fx.seg().data(chunk);
        send(&mut fx, seg);
        read.extend(fx.app_recv());
        acks.extend(fx.drain());
    }
    assert_eq!(read, inp);
    assert!(fx.rcv_nxt.0 < 100_000, "the sequence space wrapped");
    acks.extend(fx.advance(ms(40)).into_iter().map(|(_, s)| s));
    for w in acks.windows(2) {
        assert!(w[1].ack >= w[0].ack, "ACKs go forward across the wrap");
    }
    assert_eq!(acks.last().expect("ACKs").ack, fx.rcv_nxt);
    assert_eq!(fx.state(), "ESTABLISHED");
}

/// RCV.WND is the window we advertised: with a 1 MiB buffer and a peer
/// without window scaling we advertise 65535, so data at RCV.NXT+65535 is
/// outside the window (RFC 9293 3.10.7.4 first check), even though the
/// buffer would have room for it.
#[test]
fn acceptability_uses_the_advertised_window() {
    let tcp = TcpConfig {
        recv_buffer: 1 << 20,
        ..TcpConfig::default()
    };
    let fx = established_with(tcp, Some(1460), 65_535);
    assert_eq!(fx.rcv_wnd, 65_535);
    check_data_at_right_edge(fx, "ESTABLISHED");
}

/// `recv_with` reads in place: the closure sees the bytes in order, what it
/// does not take stays for the next read, an over-large return counts as
/// all, the freed space reopens the window, and at the end of the stream
/// it returns `Ok(0)` without calling the closure.
#[test]
fn recv_with_reads_in_place() {
    let mut fx = established();
    let h = fx.h();
    let s = fx.seg().data(b"hello world");
    send(&mut fx, s);
    fx.drain();
    let mut seen = Vec::new();
    let n = fx.stack.recv_with(h, |a, b| {
        seen.extend_from_slice(a);
        seen.extend_from_slice(b);
        5
    });
    assert_eq!(n, Ok(5));
    assert_eq!(seen, b"hello world");
    let n = fx.stack.recv_with(h, |a, b| {
        assert_eq!([a, b].concat(), b" world");
        100
    });
    assert_eq!(n, Ok(6));
    assert_eq!(
        fx.stack.recv_with(h, |_, _| panic!("nothing to read")),
        Err(SocketError::WouldBlock)
    );
    // The data wraps the ring: both slices, in order. Fill most of the
    // buffer and take all but 192 bytes (so the ring is not rewound), then
    // send across the end of the ring.
    let big: Vec<u8> = (0..RCV_BUF - 1000).map(|i| i as u8).collect();
    let s = fx.seg().data(&big);
    send(&mut fx, s);
    fx.drain();
    let keep = 192;
    assert_eq!(
        fx.stack.recv_with(h, |a, b| a.len() + b.len() - keep),
        Ok(big.len() - keep)
    );
    // Taking it reopened the window: the stack says so.
    let update = expect_reply(&mut fx);
    assert_eq!(usize::from(update.window), RCV_BUF - keep);
    let tail: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let s = fx.seg().data(&tail);
    send(&mut fx, s);
    let mut got = Vec::new();
    let n = fx.stack.recv_with(h, |a, b| {
        assert!(!b.is_empty(), "the data wraps: {} + {}", a.len(), b.len());
        got.extend_from_slice(a);
        got.extend_from_slice(b);
        a.len() + b.len()
    });
    assert_eq!(n, Ok(keep + 3000));
    assert_eq!(got[..keep], big[big.len() - keep..]);
    assert_eq!(got[keep..], tail[..]);
    fx.drain();
    let fin = fx.seg().fin();
    send(&mut fx, fin);
    assert_eq!(fx.stack.recv_with(h, |_, _| panic!("end of stream")), Ok(0));
}

/// RFC 7323 4.3: TS.Recent moves only with segments that pass the SYN and
/// ACK checks (as Linux does). A challenged SYN at RCV.NXT, or a segment
/// whose ACK covers data never sent, that carries a timestamp far ahead of
/// the peer's clock must not make PAWS drop what the real peer sends next.
/// (A challenged RST cannot start at or before the last ACK we sent, so it
/// could not move TS.Recent under either order.)
#[test]
fn challenged_segments_do_not_move_ts_recent() {
    let mut our_tsval = 0;
    let mut fx = established_by(
        stack_config(tcp_config()),
        PEER_ISS,
        65_535,
        |synack, syn| {
            our_tsval = syn.options.timestamps.expect("we offer timestamps").0;
            synack.options.timestamps = Some((1000, our_tsval));
        },
    );
    assert!(fx.stack.info(fx.h()).unwrap().timestamps);
    for (i, what) in ["SYN", "ACK of unsent data"].into_iter().enumerate() {
        let mut seg = match what {
            "SYN" => fx.seg().syn(),
            _ => fx.seg().ack(fx.snd_nxt + 1000u32),
        };
        seg.options.timestamps = Some((1000 + (1 << 30), our_tsval));
        send_raw(&mut fx, &seg);
        fx.drain();
        assert_eq!(fx.state(), "ESTABLISHED", "after the {what}");
        let mut data = fx.seg().data(b"x");
        data.options.timestamps = Some((1001 + i as u32, our_tsval));
        send_raw(&mut fx, &data);
        fx.rcv_nxt += 1u32;
        assert_eq!(
            fx.app_recv(),
            b"x",
            "the peer's data after a {what} with a timestamp ahead of its clock"
        );
        fx.drain();
    }
    assert_eq!(fx.stack.stats(fx.h()).unwrap().paws_drops, 0);
}

/// Up to `max` packets the stack sends now; fails if it has more (a send
/// loop would otherwise hang the test).
#[track_caller]
fn drain_at_most(fx: &mut Fixture, max: usize) -> Vec<support::ParsedSeg> {
    let mut out = Vec::new();
    while let Some(s) = fx.poll() {
        out.push(s);
        assert!(out.len() <= max, "more than {max} packets at once: {out:?}");
    }
    out
}

/// A retransmission lost in turn, by hand. SACK recovery resends segment
/// 0; once data sent after that resend is SACKed while segment 0 is not,
/// segment 0 goes a third time at once, and a fourth the same way. Then
/// an ACK covering only half of it leaves the rest to send once, not over
/// and over.
#[test]
fn lost_retransmission_resent_once_then_trimmed() {
    const MSS: u16 = 1000;
    let mut fx = established_by(
        stack_config(tcp_config()),
        PEER_ISS,
        65_535,
        |synack, syn| {
            assert!(syn.options.sack_permitted);
            synack.options.mss = Some(MSS);
            synack.options.sack_permitted = true;
        },
    );
    let h = fx.h();
    assert!(fx.stack.info(h).unwrap().sack);
    let una = fx.snd_nxt;
    let seg = |i: u32| una + i * u32::from(MSS);
    let data = vec![7u8; 30 * usize::from(MSS)];
    fx.app_send(&data);
    let first = drain_at_most(&mut fx, 20);
    assert_eq!(first.len(), 10, "the initial window");
    // Segment 0 is lost; 1..=3 arrive: three duplicate ACKs with SACK.
    let sack_ack = |fx: &Fixture, ack: SeqNum, to: u32| {
        let mut a = fx.seg().ack(ack);
        a.options.set_sack(&[(seg(1), seg(to))]);
        a
    };
    for to in 2..=4 {
        let a = sack_ack(&fx, una, to);
        send_raw(&mut fx, &a);
    }
    let rtx = drain_at_most(&mut fx, 10);
    assert_eq!(rtx[0].seq, una, "fast retransmit of segment 0: {rtx:?}");
    // The rest of the first window arrives, and what was sent after the
    // retransmission too: segment 0's second copy is now known lost.
    let mut sent_after = rtx.iter().skip(1).count() as u32;
    for to in 5..=10 {
        let a = sack_ack(&fx, una, to);
        send_raw(&mut fx, &a);
        sent_after += drain_at_most(&mut fx, 10)
            .iter()
            .filter(|s| s.seq >= seg(10))
            .count() as u32;
    }
    assert!(sent_after > 0, "new data went out after the retransmission");
    let a = sack_ack(&fx, una, 11);
    send_raw(&mut fx, &a);
    let again = drain_at_most(&mut fx, 10);
    assert!(
        again.iter().any(|s| s.seq == una),
        "segment 0 a third time: {again:?}"
    );
    let st = fx.stack.stats(h).unwrap();
    assert_eq!((st.lost_retransmits, st.timeouts), (1, 0));
    // Everything else arrives, and the data sent after the third copy
    // with it: the third copy was lost as well, and a fourth goes.
    let before = fx.snd_nxt;
    let mut a = fx.seg().ack(una);
    a.options.set_sack(&[(seg(1), before)]);
    send_raw(&mut fx, &a);
    let mid = drain_at_most(&mut fx, 10);
    assert!(mid.iter().any(|s| s.seq == una), "a fourth copy: {mid:?}");
    assert_eq!(fx.stack.stats(h).unwrap().lost_retransmits, 2);
    assert!(fx.snd_nxt > before, "new data after the fourth copy");
    // An ACK for half of segment 0 (a late original, cut short) with all
    // the rest SACKed: the fourth copy is found lost too, with SND.UNA
    // now inside it. What is left of it goes exactly once, and the stack
    // runs dry.
    let mut a = fx.seg().ack(una + 500u32);
    a.options.set_sack(&[(seg(1), fx.snd_nxt)]);
    send_raw(&mut fx, &a);
    let rest = drain_at_most(&mut fx, 10);
    let tail: Vec<_> = rest.iter().filter(|s| s.seq < seg(1)).collect();
    assert_eq!(tail.len(), 1, "{rest:?}");
    assert_eq!((tail[0].seq, tail[0].payload.len()), (una + 500u32, 500));
    assert_eq!(fx.stack.stats(h).unwrap().lost_retransmits, 3);
    assert_eq!(fx.stack.stats(h).unwrap().timeouts, 0);
}
