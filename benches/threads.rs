//! Multi-threaded `can_send`: 1 vs 2 reader threads, read-only and with a writer thread
//! paced at ~1% of the checks. Throughput is total checks per second across threads.
//!
//! `cargo bench --bench threads`

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mutegate::{Engine, MuteFor, Target};
use support::{Mix, World};

const BATCH: usize = 1024;

/// Runs `readers` threads of `iters * BATCH` checks each, optionally with a writer thread
/// that keeps its writes at 1% of the checks done; returns the readers' wall time.
fn run(engine: &Engine, world: &World, readers: usize, iters: u64, with_writer: bool) -> Duration {
    let progress = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let reqs = &world.requests;
    thread::scope(|s| {
        let writer = with_writer.then(|| {
            s.spawn(|| {
                let mut writes = 0u64;
                let mut k = reqs.len() / 2;
                while !done.load(Ordering::Relaxed) {
                    let target = progress.load(Ordering::Relaxed) / 100;
                    while writes < target {
                        let (u, r) = reqs[k % reqs.len()];
                        let (user, room) = (world.user(u), world.room(r));
                        if writes.is_multiple_of(2) {
                            engine
                                .mute_members(room, [user], MuteFor::hours(1))
                                .unwrap();
                        } else {
                            engine.unmute_members(room, [user]).unwrap();
                            k += 1;
                        }
                        writes += 1;
                    }
                    // Catch up in bursts: fewer wake-ups steal less CPU from the readers
                    // on a small machine, while writes stay at 1% of the checks.
                    thread::sleep(Duration::from_millis(1));
                }
                writes
            })
        });
        let start = Instant::now();
        let handles: Vec<_> = (0..readers)
            .map(|t| {
                let progress = &progress;
                s.spawn(move || {
                    let mut i = t * reqs.len() / readers;
                    let mut allowed = 0usize;
                    for _ in 0..iters {
                        for _ in 0..BATCH {
                            let (u, r) = reqs[i % reqs.len()];
                            i += 1;
                            allowed += usize::from(
                                engine.can_send(world.user(u), Target::room(world.room(r))),
                            );
                        }
                        progress.fetch_add(BATCH as u64, Ordering::Relaxed);
                    }
                    allowed
                })
            })
            .collect();
        for h in handles {
            black_box(h.join().expect("reader"));
        }
        let elapsed = start.elapsed();
        done.store(true, Ordering::Relaxed);
        if let Some(w) = writer {
            black_box(w.join().expect("writer"));
        }
        elapsed
    })
}

fn threads_on(c: &mut Criterion, name: &str, world: &World) {
    let engine = world.engine();
    let mut g = c.benchmark_group(name);
    for (label, readers, writer) in [
        ("1_thread", 1, false),
        ("2_threads", 2, false),
        ("2_threads_1pct_writes", 2, true),
    ] {
        g.throughput(Throughput::Elements((BATCH * readers) as u64));
        g.bench_function(BenchmarkId::new("can_send", label), |b| {
            b.iter_custom(|iters| run(&engine, world, readers, iters, writer))
        });
    }
    g.finish();
}

fn threads(c: &mut Criterion) {
    let cold = World::generate(1_000_000, 100_000, 1 << 20, Mix::default(), 1);
    threads_on(c, "threads_cold_1M", &cold);
    drop(cold);
    let warm = World::generate(1_000, 100, 1 << 16, Mix::default(), 2);
    threads_on(c, "threads_in_cache_1k", &warm);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = threads
}
criterion_main!(benches);
