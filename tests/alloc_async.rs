//! The loop's per-packet path still allocates nothing in steady state when
//! the application is async: a counting global allocator watches the loop
//! thread (the one `Runtime::start` names `ringtcp-loop`) in the middle of
//! a transfer with the Linux kernel, both ways at once, through
//! `api::aio` streams on a tokio runtime: commands, the bridge's queues,
//! the per-turn wake-up list and the tasks' `Waker`s included.
//!
//! As in `tests/alloc.rs`, receive-window auto-tuning may reserve storage
//! for a grown window in one large allocation; that kind is allowed here
//! (at least 64 KiB each, a handful at most). So is one more the stack
//! makes, outside what this test is about: on a loaded machine the timer
//! wheel's entry pool (`src/stack/timer.rs`, lazily cancelled entries)
//! can reach a new high-water mark and grow; such allocations are printed
//! and told apart by their backtrace. Likewise RACK's transmission
//! records (`src/tcp/rack.rs`): their storage doubles when the flight
//! reaches a new high (the congestion window still growing on a slow,
//! loaded machine), a few times in a transfer at most. Anything else fails
//! the test.

mod support;

use ringtcp::api::{Runtime, RuntimeConfig};
use ringtcp::lab::{KERNEL_ADDR, STACK_ADDR};
use ringtcp::sim::apps::{check_stream, fill_stream};
use ringtcp::stack::StackConfig;
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use support::lab::lab_or_skip;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Sizes of the allocations counted (the first 64).
static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Where the first allocations under 64 KiB came from (resolved at the
/// end, on the test's thread).
static TRACES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());

thread_local! {
    /// Whether this thread is the loop's: unknown (None) until asked.
    static IS_LOOP: Cell<Option<bool>> = const { Cell::new(None) };
    /// Set while this thread is inside `note`, whose own allocations
    /// (the thread handle, the record) are not counted.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || INSIDE.with(Cell::get) {
        return;
    }
    INSIDE.with(|c| c.set(true));
    let is_loop = IS_LOOP.with(|c| {
        *c.get().get_or_insert_with(|| {
            let me = thread::current();
            me.name() == Some("ringtcp-loop")
        })
    });
    if is_loop {
        let mut seen = SEEN.lock().unwrap();
        if seen.len() < 64 {
            seen.push(size);
        }
        drop(seen);
        if size < 64 * 1024 {
            let mut traces = TRACES.lock().unwrap();
            if traces.len() < 16 {
                traces.push(Backtrace::force_capture());
            }
        }
    }
    INSIDE.with(|c| c.set(false));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting touches only atomics, thread-locals and a mutex.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn async_streams_keep_the_loop_allocation_free() {
    let Some(mut lab) = lab_or_skip("async_streams_keep_the_loop_allocation_free") else {
        return;
    };
    // A whole number of the 64 KiB writes below.
    const LEN: u64 = 3000 * 64 * 1024;
    let l = TcpListener::bind((KERNEL_ADDR, 6400)).unwrap();
    // The kernel sends stream 1 and reads stream 2 on the same connection.
    let kernel = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let w = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut pos = 0;
            while pos < LEN {
                fill_stream(1, pos, &mut buf);
                (&w).write_all(&buf).unwrap();
                pos += buf.len() as u64;
            }
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        loop {
            let n = (&s).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(check_stream(2, pos, &buf[..n]), None);
            pos += n as u64;
        }
        writer.join().unwrap();
        pos
    });
    let rt = Runtime::start(
        lab.take_tun(),
        RuntimeConfig::new(StackConfig::new(STACK_ADDR, 9)),
    )
    .unwrap();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let got = tokio_rt.block_on(async {
        let s = rt.connect_async((KERNEL_ADDR, 6400)).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let writer = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut pos = 0;
            while pos < LEN {
                fill_stream(2, pos, &mut buf);
                w.write_all(&buf).await.unwrap();
                pos += buf.len() as u64;
            }
            w.shutdown().await.unwrap();
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        loop {
            // Count over the middle of the transfer: from 30% to 80%.
            COUNTING.store(
                (LEN * 3 / 10..LEN * 8 / 10).contains(&pos),
                Ordering::Relaxed,
            );
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(check_stream(1, pos, &buf[..n]), None, "at {pos}");
            pos += n as u64;
        }
        COUNTING.store(false, Ordering::Relaxed);
        writer.await.unwrap();
        pos
    });
    assert_eq!(got, LEN);
    assert_eq!(kernel.join().unwrap(), LEN);
    let seen = SEEN.lock().unwrap().clone();
    eprintln!("loop-thread allocations mid-transfer: {seen:?}");
    let traces: Vec<String> = TRACES
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let small = seen.iter().filter(|&&s| s < 64 * 1024).count();
    let (timer, rest): (Vec<_>, Vec<_>) = traces
        .iter()
        .partition(|t| t.contains("stack::timer::TimerWheel"));
    let (flight, other): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|t| t.contains("tcp::rack::Rack::on_send"));
    if !timer.is_empty() || !flight.is_empty() {
        eprintln!(
            "{} allocation(s) by the stack's timer wheel growing its pool, {} by RACK's \
             records reaching a larger flight (not the API's)",
            timer.len(),
            flight.len()
        );
    }
    let large = seen.len() - small;
    assert!(
        large <= 8 && flight.len() <= 4 && small == timer.len() + flight.len(),
        "the loop allocated mid-transfer (sizes {seen:?}); only window reserves, timer \
         pool and flight-record growth are expected; the others came from:\n{}",
        other
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}
