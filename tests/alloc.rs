//! The per-packet path allocates nothing in steady state: a counting global
//! allocator watches the loop thread during the middle of a transfer with
//! the Linux kernel.
//!
//! The one allocation a bulk receiver may make there is by design: when
//! receive-window auto-tuning doubles the window, the connection reserves
//! storage for the new window in one allocation of exactly that size (on a
//! loaded machine the window can still be growing after a fifth of the
//! transfer). Each allocation is tied to its loop turn, and the test
//! accepts only those of the size of a window the connection grew to in
//! that same turn.

mod support;

use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR};
use ringtcp::runtime::{Context, Driver, Handler, RuntimeConfig};
use ringtcp::sim::apps::{BulkPeer, Role, check_stream, client_seed, fill_stream, server_seed};
use ringtcp::stack::{Event, SocketHandle, StackConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpListener};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use support::lab::{RunApp, lab_or_skip};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// The loop turn running now (see `Watch::on_turn`).
static TURN: AtomicU64 = AtomicU64::new(0);
/// The first allocations counted: turn, size, and where from (the
/// backtrace's symbols are resolved only if the test fails).
static SEEN: Mutex<Vec<(u64, usize, Backtrace)>> = Mutex::new(Vec::new());
/// How many allocations get a backtrace (taking one is slow).
const TRACED: u64 = 8;

thread_local! {
    static LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
    /// Set while an allocation is recorded (which itself allocates), so
    /// that the recording is neither counted nor recorded.
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || !LOOP_THREAD.with(Cell::get) || TRACING.with(Cell::get)
    {
        return;
    }
    if ALLOCS.fetch_add(1, Ordering::Relaxed) < TRACED {
        TRACING.with(|t| t.set(true));
        let trace = Backtrace::force_capture();
        let turn = TURN.load(Ordering::Relaxed);
        SEEN.lock().unwrap().push((turn, size, trace));
        TRACING.with(|t| t.set(false));
    }
}

// SAFETY: defers to the system allocator; the counter has no effect on the
// memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts allocations while between 20% and 80% of the bytes have arrived,
/// and notes the turns in which the receive window grew.
struct Watch {
    inner: RunApp<BulkPeer>,
    total: u64,
    packets_at_start: u64,
    packets_counted: u64,
    conn: Option<SocketHandle>,
    limit: usize,
    /// (turn, new window limit); allocated before the run, never grown.
    growths: Vec<(u64, usize)>,
}

impl Handler for Watch {
    fn on_start(&mut self, cx: &mut Context<'_>) {
        LOOP_THREAD.with(|c| c.set(true));
        self.inner.on_start(cx);
    }
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        if let Event::Connected(h) = event {
            self.conn = Some(h);
        }
        self.inner.on_event(cx, event);
    }
    fn on_turn(&mut self, cx: &mut Context<'_>) {
        LOOP_THREAD.with(|c| c.set(true));
        self.inner.on_turn(cx);
        if let Some(info) = self.conn.and_then(|h| cx.stack().info(h).ok()) {
            if info.rcv_wnd_limit != self.limit && self.growths.len() < self.growths.capacity() {
                self.growths
                    .push((TURN.load(Ordering::Relaxed), info.rcv_wnd_limit));
            }
            self.limit = info.rcv_wnd_limit;
        }
        let done = self.inner.app.bytes_verified;
        let packets = cx.runtime_stats().packets_read;
        if done >= self.total / 5 && done < self.total * 4 / 5 {
            if !COUNTING.swap(true, Ordering::Relaxed) {
                self.packets_at_start = packets;
            }
        } else if COUNTING.swap(false, Ordering::Relaxed) {
            self.packets_counted = packets - self.packets_at_start;
        }
        // Allocations from here to the end of the next on_turn (the rest of
        // this turn's events, the flush, the wait and the next reap) belong
        // to the next turn, whose on_turn sees any window growth they made.
        TURN.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn steady_state_transfer_allocates_only_window_reserves() {
    let Some(mut lab) = lab_or_skip("steady_state_transfer_allocates_only_window_reserves") else {
        return;
    };
    const BYTES: u64 = 100_000_000;
    let listener = TcpListener::bind((KERNEL_ADDR, 6000)).unwrap();
    let server = std::thread::spawn(move || {
        let (s, peer) = listener.accept().unwrap();
        let port = peer.port();
        let mut buf = vec![0u8; 65536];
        let mut pos = 0u64;
        while pos < BYTES {
            let n = ((BYTES - pos) as usize).min(buf.len());
            fill_stream(server_seed(port), pos, &mut buf[..n]);
            (&s).write_all(&buf[..n]).unwrap();
            pos += n as u64;
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = 0u64;
        loop {
            let n = (&s).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(check_stream(client_seed(port), got, &buf[..n]), None);
            got += n as u64;
        }
        got
    });
    let cfg = RuntimeConfig::new(StackConfig::new(STACK_ADDR, 1));
    let mut driver = Driver::new(lab.take_tun(), cfg).unwrap();
    let app = BulkPeer::new(
        Role::Client {
            remote: SocketAddrV4::new(KERNEL_ADDR, 6000),
            connections: 1,
        },
        0,
        BYTES,
    );
    let mut watch = Watch {
        inner: RunApp::new(app),
        total: BYTES,
        packets_at_start: 0,
        packets_counted: 0,
        conn: None,
        limit: 0,
        growths: Vec::with_capacity(64),
    };
    driver.run(&mut watch).unwrap();
    assert!(
        watch.inner.app.errors.is_empty(),
        "{:?}",
        watch.inner.app.errors
    );
    assert_eq!(watch.inner.app.bytes_verified, BYTES);
    assert_eq!(server.join().unwrap(), 0);
    // 60 MB: some 41,000 packets without offloads; with them, between 916
    // full 64 KiB super-packets (a loaded machine batches up to that) and
    // some 1,700. The counting starts and stops on turn boundaries, which
    // can be a few MB apart, so ask for 500: the window held most of the
    // transfer.
    assert!(
        watch.packets_counted > 500,
        "the window covered {} packets",
        watch.packets_counted
    );
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let seen = SEEN.lock().unwrap();
    let unexplained: Vec<_> = seen
        .iter()
        .filter(|&&(turn, size, _)| !watch.growths.contains(&(turn, size)))
        .collect();
    let first = unexplained.first().copied().or(seen.first());
    assert!(
        allocs <= TRACED && unexplained.is_empty(),
        "{allocs} heap allocations on the loop thread during {} packets, {} not a \
         window reserve; window growths (turn, limit): {:?}; the first: {}",
        watch.packets_counted,
        unexplained.len(),
        watch.growths,
        first.map_or("-".to_string(), |(turn, size, trace)| format!(
            "{size} bytes in turn {turn} at\n{trace}"
        ))
    );
}
