//! SYN cookies (RFC 4987 3.6) and the half-open bounds, on one real `Stack`
//! (192.0.2.2) driven by hand-built segments from a fake peer (192.0.2.1):
//! a listener whose half-open entries are at their bound answers a SYN with
//! a cookie and keeps nothing; the ACK that brings a good cookie back opens
//! the connection with the options the cookie kept; bad cookies are
//! refused and counted. Also SYN+FIN, which never opens anything.

mod support;

use ringtcp::stack::syncookie::MSS_TABLE;
use ringtcp::stack::{Event, SocketHandle, StackConfig};
use ringtcp::wire::SeqNum;
use ringtcp::wire::tcp::{TcpFlags, TcpOptions};
use std::time::Duration;
use support::*;

/// A listener on [`LISTEN_PORT`] with backlog 1, already holding one
/// half-open connection (from port 3999): the next SYN draws a cookie.
fn full_listener(cfg: StackConfig) -> Fixture {
    let mut fx = Fixture::bare(cfg);
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 1).expect("listen"));
    fx.local_port = LISTEN_PORT;
    fx.peer_port = 3999;
    let syn = fx.seg().seq(SeqNum(1)).no_ack().syn().mss(1460);
    send_raw(&mut fx, &syn);
    let synack = expect_reply(&mut fx);
    assert_eq!(synack.ctl(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(fx.stack.half_open_count(), 1);
    assert_eq!(fx.stack.counters().tcp_syncookies_sent, 0);
    fx.peer_port = PEER_PORT;
    fx
}

fn default_full_listener() -> Fixture {
    full_listener(stack_config(tcp_config()))
}

/// The peer's SYN with `opts` from [`PEER_PORT`]; returns the cookie
/// SYN-ACK and checks that nothing was kept for it.
#[track_caller]
fn cookie_syn(fx: &mut Fixture, opts: TcpOptions) -> ParsedSeg {
    let sent = fx.stack.counters().tcp_syncookies_sent;
    let conns = fx.stack.connection_count();
    let mut syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
    syn.options = opts;
    send_raw(fx, &syn);
    let synack = expect_reply(fx);
    expect_no_reply(fx);
    assert_eq!(synack.ctl(), TcpFlags::SYN | TcpFlags::ACK, "{synack:?}");
    assert_eq!(synack.ack, SeqNum(PEER_ISS + 1));
    assert_eq!(fx.stack.counters().tcp_syncookies_sent, sent + 1);
    assert_eq!(fx.stack.connection_count(), conns, "no state per cookie");
    assert_eq!(fx.stack.half_open_count(), 1);
    fx.iss = synack.seq;
    fx.snd_nxt = synack.seq + 1u32;
    fx.rcv_nxt = SeqNum(PEER_ISS + 1);
    synack
}

/// The ACK that completes a cookie handshake, echoing the SYN-ACK's TSval
/// when it had one.
fn cookie_ack(fx: &Fixture, synack: &ParsedSeg) -> PeerSeg {
    let mut ack = fx.seg();
    if let Some((tsval, _)) = synack.options.timestamps {
        ack.options.timestamps = Some((5001, tsval));
    }
    ack
}

/// Completes the handshake with `ack` and accepts the connection.
#[track_caller]
fn accept_cookie(fx: &mut Fixture, ack: PeerSeg) -> SocketHandle {
    let accepted = fx.stack.counters().tcp_syncookies_accepted;
    send(fx, ack);
    assert_eq!(fx.stack.counters().tcp_syncookies_accepted, accepted + 1);
    let h = fx
        .stack
        .accept(fx.listener.unwrap())
        .expect("the cookie connection is queued for accept");
    fx.h = Some(h);
    assert_eq!(fx.state(), "ESTABLISHED");
    h
}

fn opts(mss: Option<u16>, ws: Option<u8>, sack: bool, ts: bool) -> TcpOptions {
    TcpOptions {
        mss,
        window_scale: ws,
        sack_permitted: sack,
        timestamps: ts.then_some((5000, 0)),
        ..TcpOptions::default()
    }
}

/// A full listener answers with a cookie; the peer completes the handshake
/// with data on its ACK, which is delivered and acknowledged, and the
/// connection echoes it back.
#[test]
fn full_listener_answers_with_a_cookie_and_its_ack_opens_the_connection() {
    let mut fx = default_full_listener();
    let synack = cookie_syn(&mut fx, opts(Some(1400), Some(7), true, true));
    let ack = cookie_ack(&fx, &synack).data(b"hello");
    let h = accept_cookie(&mut fx, ack);
    assert_eq!(fx.app_recv(), b"hello");
    fx.app_send(b"hello");
    let echo = expect_reply(&mut fx);
    assert_eq!(echo.payload, b"hello");
    assert_eq!(echo.seq, fx.iss + 1u32);
    assert_eq!(echo.ack, fx.rcv_nxt, "the data on the ACK was taken");
    assert_eq!(fx.stack.state(h), Ok("ESTABLISHED"));
    // The first half-open connection is still there, untouched.
    assert_eq!(fx.stack.half_open_count(), 1);
}

/// Every option combination a cookie can keep: the SYN-ACK offers what
/// the cookie can carry, and the connection negotiates what it encoded
/// (MSS rounded down to the table; window scale and SACK only with
/// timestamps).
#[test]
fn cookie_connection_negotiates_what_the_cookie_encoded() {
    struct Case {
        syn: TcpOptions,
        mss: usize,
        ws: bool,
        sack: bool,
        ts: bool,
    }
    let cases = [
        (
            opts(Some(1460), Some(7), true, true),
            1460,
            true,
            true,
            true,
        ),
        (
            opts(Some(1300), None, false, true),
            1300,
            false,
            false,
            true,
        ),
        (opts(Some(9000), None, true, true), 1460, false, true, true),
        (
            opts(Some(1439), Some(0), false, true),
            1300,
            true,
            false,
            true,
        ),
        (
            opts(Some(1440), Some(7), true, false),
            1440,
            false,
            false,
            false,
        ),
        (opts(None, None, false, false), 536, false, false, false),
        (opts(Some(600), Some(14), true, true), 536, true, true, true),
    ]
    .map(|(syn, mss, ws, sack, ts)| Case {
        syn,
        mss,
        ws,
        sack,
        ts,
    });
    let cfg = support::tcp_config();
    for c in cases {
        let mut fx = default_full_listener();
        let synack = cookie_syn(&mut fx, c.syn);
        let o = synack.options;
        assert_eq!(o.mss, Some(cfg.mss), "we announce our own MSS");
        assert_eq!(o.window_scale.is_some(), c.ws, "{:?}", c.syn);
        assert_eq!(o.sack_permitted, c.sack, "{:?}", c.syn);
        assert_eq!(o.timestamps.is_some(), c.ts, "{:?}", c.syn);
        if let Some((tsval, tsecr)) = o.timestamps {
            assert_eq!(tsecr, 5000);
            let ws_bits = c.syn.window_scale.map_or(15, u32::from);
            let sack_bit = if c.sack { 0x10 } else { 0 };
            assert_eq!(tsval & 0x1f, ws_bits | sack_bit, "TSval low bits");
        }
        let ack = cookie_ack(&fx, &synack);
        let h = accept_cookie(&mut fx, ack);
        let info = fx.stack.info(h).unwrap();
        assert_eq!(info.snd_mss, c.mss, "{:?}", c.syn);
        assert!(MSS_TABLE.contains(&(c.mss as u16)));
        assert_eq!(
            info.window_scale.map(|w| w.0),
            c.syn.window_scale.filter(|_| c.ws),
            "{:?}",
            c.syn
        );
        assert_eq!(info.sack, c.sack, "{:?}", c.syn);
        assert_eq!(info.timestamps, c.ts, "{:?}", c.syn);
        // Data flows both ways with what was negotiated.
        let mut data = fx.seg().data(&[7; 100]);
        if c.ts {
            data.options.timestamps = Some((5002, o.timestamps.unwrap().0));
        }
        send(&mut fx, data);
        assert_eq!(fx.app_recv(), vec![7; 100]);
    }
}

/// An ACK whose cookie is forged, for another 4-tuple, another IRS or too
/// old is answered with a RST (as any stray ACK to a listener), counted,
/// and opens nothing; the good one still works within its lifetime.
#[test]
fn bad_cookies_are_rejected_and_counted() {
    let mut fx = default_full_listener();
    let synack = cookie_syn(&mut fx, opts(Some(1460), None, false, false));
    let good = cookie_ack(&fx, &synack);
    let rejected = |fx: &Fixture| fx.stack.counters().tcp_syncookies_rejected;
    let conns = fx.stack.connection_count();
    let mut n = 0;
    for bad in [
        good.clone().ack(fx.snd_nxt + 1u32),
        good.clone().ack(fx.snd_nxt + 0x0100_0000u32),
        good.clone().seq(fx.rcv_nxt + 1u32),
        PeerSeg {
            src_port: PEER_PORT + 1,
            ..good.clone()
        },
    ] {
        send_raw(&mut fx, &bad);
        n += 1;
        let rst = expect_reply(&mut fx);
        assert_eq!(rst.ctl(), TcpFlags::RST, "{rst:?}");
        assert_eq!(rst.seq, bad.ack);
        assert_eq!(rejected(&fx), n);
        assert_eq!(fx.stack.connection_count(), conns);
    }
    // A cookie is good for the rest of its 64 s period and the next one:
    // made at 1 s, it is still good at 127 s...
    let made = fx.now;
    assert_eq!(made.total_millis(), 1000);
    fx.now = made + Duration::from_secs(126);
    let h = accept_cookie(&mut fx, good.clone());
    assert_eq!(fx.stack.state(h), Ok("ESTABLISHED"));
    // ...and at 129 s, in the period after that, it has expired.
    let mut fx = default_full_listener();
    let synack = cookie_syn(&mut fx, opts(Some(1460), None, false, false));
    let good = cookie_ack(&fx, &synack);
    fx.now += Duration::from_secs(128);
    send_raw(&mut fx, &good);
    assert_eq!(expect_reply(&mut fx).ctl(), TcpFlags::RST);
    assert_eq!(rejected(&fx), 1);
    assert_eq!(fx.stack.counters().tcp_syncookies_accepted, 0);
    assert_eq!(fx.stack.accept(fx.listener.unwrap()), None);
}

/// A listener that has sent no cookie lately does not look for one: a
/// stray ACK is a plain RST, not a rejected cookie.
#[test]
fn without_recent_cookies_an_ack_is_not_checked() {
    let mut fx = Fixture::bare(stack_config(tcp_config()));
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 8).unwrap());
    fx.local_port = LISTEN_PORT;
    let ack = fx.seg().ack(SeqNum(12345));
    send_raw(&mut fx, &ack);
    assert_eq!(expect_reply(&mut fx).ctl(), TcpFlags::RST);
    assert_eq!(fx.stack.counters().tcp_syncookies_rejected, 0);
}

/// With cookies off a SYN past the bound is dropped without a reply and
/// counted: the listener's backlog, or the stack's `max_half_open` across
/// listeners.
#[test]
fn without_cookies_syns_past_the_bounds_are_dropped_and_counted() {
    let mut cfg = stack_config(tcp_config());
    cfg.syn_cookies = false;
    let mut fx = full_listener(cfg.clone());
    let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
    send_raw(&mut fx, &syn);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.counters().tcp_listen_overflow, 1);
    assert_eq!(fx.stack.counters().tcp_syncookies_sent, 0);
    assert_eq!(fx.stack.half_open_count(), 1);

    // Stack-wide: one half-open connection in all, two listeners.
    for cookies in [false, true] {
        cfg.max_half_open = 1;
        cfg.syn_cookies = cookies;
        let mut fx = full_listener(cfg.clone());
        fx.stack.listen(81, 100).unwrap();
        let syn = fx.seg().dst_port(81).seq(SeqNum(PEER_ISS)).no_ack().syn();
        send_raw(&mut fx, &syn);
        let c = fx.stack.counters().clone();
        if cookies {
            let synack = expect_reply(&mut fx);
            assert_eq!(synack.ctl(), TcpFlags::SYN | TcpFlags::ACK);
            assert_eq!((c.tcp_syncookies_sent, c.tcp_half_open_overflow), (1, 0));
        } else {
            expect_no_reply(&mut fx);
            assert_eq!((c.tcp_syncookies_sent, c.tcp_half_open_overflow), (0, 1));
        }
        assert_eq!(fx.stack.half_open_count(), 1);
        assert_eq!(c.tcp_half_open_peak, 1);
    }
}

/// A full accept queue drops SYNs even with cookies (a cookie would only
/// bring a connection that cannot be queued), as Linux does.
#[test]
fn full_accept_queue_drops_syns_even_with_cookies() {
    let mut fx = Fixture::bare(stack_config(tcp_config()));
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 1).unwrap());
    fx.local_port = LISTEN_PORT;
    let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
    send_raw(&mut fx, &syn);
    let synack = expect_reply(&mut fx);
    fx.snd_nxt = synack.seq + 1u32;
    fx.rcv_nxt = SeqNum(PEER_ISS + 1);
    let ack = fx.seg();
    send(&mut fx, ack);
    assert_eq!(fx.stack.half_open_count(), 0);
    fx.peer_port += 1;
    let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
    send_raw(&mut fx, &syn);
    expect_no_reply(&mut fx);
    assert_eq!(fx.stack.counters().tcp_listen_overflow, 1);
    assert_eq!(fx.stack.counters().tcp_syncookies_sent, 0);
}

/// SYN+FIN (with or without ACK, PSH, URG) to a listener opens nothing and
/// gets no reply, counted; a plain SYN then still works.
#[test]
fn syn_fin_to_a_listener_is_dropped_and_counted() {
    let mut fx = Fixture::bare(stack_config(tcp_config()));
    fx.listener = Some(fx.stack.listen(LISTEN_PORT, 8).unwrap());
    fx.local_port = LISTEN_PORT;
    let extra = [
        TcpFlags::empty(),
        TcpFlags::ACK,
        TcpFlags::PSH | TcpFlags::URG,
    ];
    for (i, more) in extra.into_iter().enumerate() {
        let seg = fx
            .seg()
            .seq(SeqNum(PEER_ISS))
            .flags(TcpFlags::SYN | TcpFlags::FIN | more)
            .data(b"x");
        send_raw(&mut fx, &seg);
        expect_no_reply(&mut fx);
        assert_eq!(fx.stack.counters().tcp_syn_fin_dropped, i as u64 + 1);
        assert_eq!(fx.stack.connection_count(), 0);
        assert_eq!(fx.stack.half_open_count(), 0);
    }
    let syn = fx.seg().seq(SeqNum(PEER_ISS)).no_ack().syn();
    send_raw(&mut fx, &syn);
    assert_eq!(expect_reply(&mut fx).ctl(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(fx.events(), vec![]);
}

/// In SYN-SENT a SYN-ACK with FIN is dropped and counted; the real
/// SYN-ACK then opens the connection.
#[test]
fn syn_fin_in_syn_sent_is_dropped_and_counted() {
    let mut fx = syn_sent();
    let synack = fx
        .seg()
        .seq(SeqNum(PEER_ISS))
        .syn()
        .ack(fx.iss + 1u32)
        .fin();
    send_raw(&mut fx, &synack);
    expect_no_reply(&mut fx);
    assert_eq!(fx.state(), "SYN-SENT");
    assert_eq!(fx.stack.counters().tcp_syn_fin_dropped, 1);
    let synack = fx.seg().seq(SeqNum(PEER_ISS)).syn().ack(fx.iss + 1u32);
    send_raw(&mut fx, &synack);
    assert_eq!(fx.state(), "ESTABLISHED");
    assert_eq!(fx.events(), vec![Event::Connected(fx.h())]);
}
