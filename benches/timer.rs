//! Timer wheel throughput: 100k timers with random deadlines within 60 s.
//!
//! Run with `cargo bench --bench timer`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringtcp::stack::rand::Rng;
use ringtcp::stack::timer::TimerWheel;
use ringtcp::time::Instant;

const N: usize = 100_000;
const HORIZON_US: u64 = 60_000_000;

fn deadlines(seed: u64) -> Vec<Instant> {
    let mut rng = Rng::new(seed);
    (0..N)
        .map(|_| Instant::from_micros(rng.gen_range(0..HORIZON_US)))
        .collect()
}

fn bench_timer(c: &mut Criterion) {
    let ds = deadlines(1);
    let mut g = c.benchmark_group("timer_wheel");
    g.throughput(Throughput::Elements(N as u64));

    g.bench_function("insert_100k", |b| {
        b.iter_batched_ref(
            || TimerWheel::<u32>::with_capacity(Instant::ZERO, N),
            |w| {
                for (k, &d) in ds.iter().enumerate() {
                    w.insert(d, k as u32);
                }
            },
            BatchSize::LargeInput,
        );
    });

    // Insert everything, then expire in 1 ms steps until all have fired.
    g.bench_function("insert_expire_1ms_steps_100k", |b| {
        b.iter_batched_ref(
            || TimerWheel::<u32>::with_capacity(Instant::ZERO, N),
            |w| {
                for (k, &d) in ds.iter().enumerate() {
                    w.insert(d, k as u32);
                }
                let mut fired = 0usize;
                let mut now = 0;
                while !w.is_empty() {
                    now += 1000;
                    fired += w.expire(Instant::from_micros(now), |d, k| {
                        black_box((d, k));
                    });
                }
                assert_eq!(fired, N);
            },
            BatchSize::LargeInput,
        );
    });

    // Insert everything, then jump past every deadline in one call.
    g.bench_function("insert_expire_one_jump_100k", |b| {
        b.iter_batched_ref(
            || TimerWheel::<u32>::with_capacity(Instant::ZERO, N),
            |w| {
                for (k, &d) in ds.iter().enumerate() {
                    w.insert(d, k as u32);
                }
                let fired = w.expire(Instant::from_micros(HORIZON_US), |d, k| {
                    black_box((d, k));
                });
                assert_eq!(fired, N);
            },
            BatchSize::LargeInput,
        );
    });

    // Steady state: 100k pending timers; each fired timer is re-armed up to
    // 60 s ahead (an RTO/keepalive pattern). One iteration = 1 ms of time.
    g.throughput(Throughput::Elements(1));
    g.bench_function("steady_rearm_100k_pending_per_ms", |b| {
        let mut rng = Rng::new(2);
        let mut w = TimerWheel::<u32>::with_capacity(Instant::ZERO, N);
        for (k, &d) in ds.iter().enumerate() {
            w.insert(d, k as u32);
        }
        let mut now = 0u64;
        let mut fired = Vec::with_capacity(N);
        b.iter(|| {
            now += 1000;
            fired.clear();
            w.expire(Instant::from_micros(now), |_, k| fired.push(k));
            for &k in &fired {
                let d = now + rng.gen_range(1..HORIZON_US);
                w.insert(Instant::from_micros(d), k);
            }
            black_box(w.next_deadline());
        });
    });

    g.finish();
}

criterion_group!(benches, bench_timer);
criterion_main!(benches);
