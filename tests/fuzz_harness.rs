//! The fuzz harnesses of `fuzz/` (a crate of its own, which the main
//! workspace does not build) checked with the ordinary test suite: the
//! `stack` target's fixture really holds the states it claims, replays
//! to the same stack, and its seeds move every connection on; every seed
//! of every target runs clean; inputs that once crashed a target, kept in
//! `fuzz/regressions/<target>/`, run clean now.
//!
//! With `RINGTCP_FUZZ_SEEDS=<dir>`, `seed_corpora` also writes the seeds
//! into `<dir>/<target>/`: this is how `scripts/fuzz.sh` makes the seed
//! corpora before a run, so that they always match the code.

#[allow(dead_code)]
#[path = "../fuzz/src/seeds.rs"]
mod seeds;
#[allow(dead_code)]
#[path = "../fuzz/src/stack_harness.rs"]
mod stack_harness;
#[allow(dead_code)]
#[path = "../fuzz/src/wire_checks.rs"]
mod wire_checks;

use std::path::Path;

use ringtcp::stack::SocketError;
use stack_harness::{Fixture, Runner, op};

/// The target function each fuzz target calls.
fn target(name: &str) -> fn(&[u8]) {
    match name {
        "ipv4" => wire_checks::ipv4,
        "tcp" => wire_checks::tcp,
        "icmp" => wire_checks::icmp,
        "stack" => stack_harness::run,
        _ => panic!("no fuzz target {name}"),
    }
}

#[test]
fn fixture_holds_the_states_it_claims() {
    for offload in [false, true] {
        fixture_states(offload);
    }
}

fn fixture_states(offload: bool) {
    let fx = Fixture::build(offload);
    let s = &fx.stack;
    let conns = &fx.recording.conns;
    for &(h, state) in conns {
        assert_eq!(s.state(h), Ok(state), "{h:?}");
    }
    let names: Vec<&str> = conns.iter().map(|&(_, st)| st).collect();
    for state in [
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "CLOSING",
        "TIME-WAIT",
        "CLOSE-WAIT",
        "LAST-ACK",
        "SYN-SENT",
    ] {
        assert!(names.contains(&state), "no connection in {state}");
    }
    // The two half-open entries at the listener.
    assert_eq!(s.connection_count(), conns.len() + 2);

    // Data in flight and a hole before data held out of order.
    let (est, _) = conns[0];
    let info = s.info(est).unwrap();
    assert!(info.bytes_in_flight > 0);
    assert!(s.send_capacity(est).unwrap() < 32 << 10, "data queued");
    assert_eq!(s.recv_queue(est), Ok(0), "nothing readable before the hole");
    // With offloads the stack sent super-segments.
    assert_eq!(s.counters().tx_super_packets > 0, offload);
    // A peer with a closed window.
    let (persist, _) = conns[1];
    assert_eq!(s.info(persist).unwrap().snd_wnd, 0);
}

#[test]
fn replay_gives_the_built_stack() {
    for offload in [false, true] {
        replay(offload);
    }
}

fn replay(offload: bool) {
    let fx = Fixture::build(offload);
    let mut buf = vec![0u8; 65_536];
    let replayed = fx.recording.replay(&mut buf);
    assert_eq!(replayed.counters(), fx.stack.counters());
    assert_eq!(replayed.connection_count(), fx.stack.connection_count());
    assert_eq!(replayed.poll_timeout(), fx.stack.poll_timeout());
    for &(h, _) in &fx.recording.conns {
        assert_eq!(replayed.state(h), fx.stack.state(h));
        let (a, b) = (replayed.info(h), fx.stack.info(h));
        assert_eq!(a.map(|i| i.stats), b.map(|i| i.stats));
    }
}

#[test]
fn peer_packets_move_every_connection_on() {
    for offload in [false, true] {
        peer_packets(offload);
    }
}

fn peer_packets(offload: bool) {
    let fx = Fixture::build(offload);
    let mut r = Runner::new(&fx.recording);
    for (_, p) in &fx.peer_packets {
        r.packet(op::PACKET_RAW, p);
    }
    let state = |h| r.stack.state(h);
    let after: Vec<_> = fx
        .recording
        .conns
        .iter()
        .map(|&(h, before)| (before, state(h)))
        .collect();
    assert_eq!(
        after,
        vec![
            ("ESTABLISHED", Ok("ESTABLISHED")),
            ("ESTABLISHED", Ok("ESTABLISHED")),
            ("FIN-WAIT-1", Ok("FIN-WAIT-2")),
            ("FIN-WAIT-2", Ok("TIME-WAIT")),
            ("CLOSING", Ok("TIME-WAIT")),
            ("TIME-WAIT", Ok("TIME-WAIT")),
            ("CLOSE-WAIT", Ok("CLOSE-WAIT")),
            ("LAST-ACK", Ok("CLOSED")),
            ("SYN-SENT", Ok("ESTABLISHED")),
        ]
    );
    // The hole filled: all three of the peer's segments are readable.
    let (est, _) = fx.recording.conns[0];
    assert_eq!(r.stack.recv_queue(est), Ok(3 * 1448));
    // Both half-open connections completed.
    let l = fx.recording.listener;
    assert!(r.stack.accept(l).is_some());
    assert!(r.stack.accept(l).is_some());
    assert_eq!(r.stack.accept(l), None);
    assert!(r.sent > 0);
    let c = r.stack.counters();
    assert_eq!(c.tcp_bad_checksum + c.tcp_malformed + c.ip_malformed, 0);
    assert_eq!(
        r.stack.send(fx.recording.conns[6].0, b"x"),
        Ok(1),
        "CLOSE-WAIT may still send"
    );
    assert_eq!(
        r.stack.send(fx.recording.conns[2].0, b"x"),
        Err(SocketError::NotWritable)
    );
}

#[test]
fn seed_corpora() {
    let all = seeds::all();
    for (name, seeds) in &all {
        assert!(seeds.len() >= 5, "{name}: only {} seeds", seeds.len());
        let run = target(name);
        for (seed, bytes) in seeds {
            assert!(!bytes.is_empty(), "{name}/{seed}");
            run(bytes);
        }
    }
    // The wire targets' seeds parse (they exercise more than the error
    // paths).
    for (name, seeds) in &all[..3] {
        let parsed = seeds
            .iter()
            .filter(|(_, b)| match *name {
                "ipv4" => ringtcp::wire::parse_ipv4(b, true).is_ok(),
                "tcp" => ringtcp::wire::TcpPacket::new_checked(&b[..]).is_ok(),
                _ => ringtcp::wire::IcmpRepr::parse(b, true).is_ok(),
            })
            .count();
        assert_eq!(parsed, seeds.len(), "{name}: seeds that do not parse");
    }
    if let Some(dir) = std::env::var_os("RINGTCP_FUZZ_SEEDS") {
        let n = seeds::write(Path::new(&dir)).expect("write the seeds");
        eprintln!("wrote {n} seeds into {}", Path::new(&dir).display());
    }
}

#[test]
fn app_commands_reach_connections_accepted_during_the_run() {
    let mut r = Runner::new(stack_harness::recording(false));
    let fx = Fixture::build(false);
    for (_, p) in &fx.peer_packets {
        r.packet(op::PACKET_RAW, p);
    }
    let fixture_handles = r.handles.len();
    r.app(op::app(5, 0), &[]);
    r.app(op::app(5, 0), &[]);
    assert_eq!(r.handles.len(), fixture_handles + 2, "two accepted");
    // Handle 9 is named by 9 % 8 in the op and 9 / 8 in the body.
    let h = r.handles[9];
    assert_eq!(r.stack.info(h).unwrap().bytes_in_flight, 0);
    r.app(op::app(0, 1), &[1; 1000]);
    assert_eq!(r.stack.info(h).unwrap().bytes_in_flight, 1000);
}

/// Inputs the fuzzers found, kept so that they stay fixed.
#[test]
fn regressions() {
    // ipv4: a header whose checksum field holds 0xffff, the other zero of
    // one's complement, where the emitter writes 0x0000: both are valid,
    // the round-trip check compared the field byte for byte.
    let ipv4_negative_zero_checksum: &[u8] = &[
        0x45, 0x00, 0x00, 0x34, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xff, 0xff, 0x39, 0xc5, 0x01,
        0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x06, 0xb6, 0xc0, 0xc0, 0x00, 0x4e, 0x02, 0x01,
        0xc0, 0x00, 0x02, 0x02, 0xea, 0x07, 0x00, 0x50, 0x2d, 0x3d, 0xf5, 0xe7, 0xff, 0x89, 0x0b,
        0x1e, 0x80, 0x10, 0x08, 0x00, 0x91, 0x72, 0x00, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x02, 0xea,
        0x07, 0x00, 0x50, 0x2d, 0x3d, 0xf5, 0xe7, 0xff, 0x89, 0x0b, 0x1e, 0x80, 0x10, 0x08, 0x00,
        0x91, 0x72, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xb5, 0xee, 0x75, 0x27, 0x95, 0x0d, 0x80,
        0xfe,
    ];
    target("ipv4")(ipv4_negative_zero_checksum);
}
