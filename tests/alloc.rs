//! The per-packet path allocates nothing in steady state: a counting global
//! allocator watches the loop thread during the middle of a transfer with
//! the Linux kernel.

use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR, lab_or_skip};
use ringtcp::runtime::{Context, Driver, Handler, RunApp, RuntimeConfig};
use ringtcp::sim::apps::{BulkPeer, Role, check_stream, client_seed, fill_stream, server_seed};
use ringtcp::stack::{Event, StackConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpListener};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Where the first counted allocation came from, so a failure names it.
static FIRST: OnceLock<String> = OnceLock::new();

thread_local! {
    static LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
    /// Set while the first allocation's backtrace is taken (which itself
    /// allocates), so that it is neither counted nor traced again.
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || !LOOP_THREAD.with(Cell::get) || TRACING.with(Cell::get)
    {
        return;
    }
    if ALLOCS.fetch_add(1, Ordering::Relaxed) == 0 {
        TRACING.with(|t| t.set(true));
        let trace = std::backtrace::Backtrace::force_capture();
        let _ = FIRST.set(format!("{size} bytes at\n{trace}"));
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

/// Counts allocations while between 20% and 80% of the bytes have arrived.
struct Watch {
    inner: RunApp<BulkPeer>,
    total: u64,
    packets_at_start: u64,
    packets_counted: u64,
}

impl Handler for Watch {
    fn on_start(&mut self, cx: &mut Context<'_>) {
        LOOP_THREAD.with(|c| c.set(true));
        self.inner.on_start(cx);
    }
    fn on_event(&mut self, cx: &mut Context<'_>, event: Event) {
        self.inner.on_event(cx, event);
    }
    fn on_turn(&mut self, cx: &mut Context<'_>) {
        LOOP_THREAD.with(|c| c.set(true));
        self.inner.on_turn(cx);
        let done = self.inner.app.bytes_verified;
        let packets = cx.runtime_stats().packets_read;
        if done >= self.total / 5 && done < self.total * 4 / 5 {
            if !COUNTING.swap(true, Ordering::Relaxed) {
                self.packets_at_start = packets;
            }
        } else if COUNTING.swap(false, Ordering::Relaxed) {
            self.packets_counted = packets - self.packets_at_start;
        }
    }
}

#[test]
fn steady_state_transfer_allocates_nothing() {
    let Some(mut lab) = lab_or_skip("steady_state_transfer_allocates_nothing") else {
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
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "heap allocations on the loop thread during {} packets; the first: {}",
        watch.packets_counted,
        FIRST.get().map_or("-", String::as_str)
    );
}
