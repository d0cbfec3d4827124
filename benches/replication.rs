//! Replication over a Redis stream (feature `redis`), against a real `redis-server`
//! started by the bench (free loopback port, temporary directory, AOF `appendfsync
//! always`, stopped by PID):
//!
//! - mutation throughput through Redis from 1 and 8 writer threads on one node, with
//!   one append in flight (the default) and with two (and again on a Redis with
//!   `appendfsync everysec`);
//! - `can_send` on a replicated node beside the same check on an in-memory engine with
//!   the same state, same run;
//! - (`MUTEGATE_REPLICATION=1`) replication lag, one writer node to two others, at
//!   1k and 10k mutations/s (p50/p99/max); catch-up speed of a node joining a stream of
//!   `MUTEGATE_CATCH_UP` entries (default 1,000,000).
//!
//! `cargo bench --features redis --bench replication`; in criterion's `--test` mode (CI)
//! the lag and catch-up run once on small numbers.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use mutegate::{Engine, Event, Mute, MuteFor, Replication, Target};
use redis_server::Redis;
use std::hint::black_box;

fn node(redis: &Redis, stream: &str) -> Engine {
    node_with(redis, stream, |r| r)
}

fn node_with(
    redis: &Redis,
    stream: &str,
    configure: impl FnOnce(Replication) -> Replication,
) -> Engine {
    Engine::builder()
        .replicate(configure(
            Replication::new(redis.url())
                .stream(stream)
                .snapshot_every(u64::MAX, Duration::from_secs(3600)),
        ))
        .expect("a replicated engine")
}

/// Runs `body(t)` on `threads` threads started together; how long they took.
fn run_threads(threads: usize, body: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, body) = (&barrier, &body);
            s.spawn(move || {
                barrier.wait();
                body(t);
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

/// `threads` writers, each muting and unmuting members of a room of its own, `total`
/// mutations in all, each a blocking call.
fn run_writers(engine: &Engine, threads: usize, total: u64) -> Duration {
    let per = (total as usize).div_ceil(threads);
    run_threads(threads, |t| {
        let room = format!("room-{t}");
        for i in 0..per {
            let user = format!("u{}", (i / 2) % 512);
            if i % 2 == 0 {
                engine
                    .mute_members(&room, [&user], MuteFor::minutes(60))
                    .expect("mute");
            } else {
                engine.unmute_members(&room, [&user]).expect("unmute");
            }
        }
    })
}

/// `threads` writers as async handlers would be: each keeps `window` mutations in
/// flight (submitted tickets, waited oldest first); `total` in all.
fn run_windowed(engine: &Engine, threads: usize, window: usize, total: u64) -> Duration {
    let per = (total as usize).div_ceil(threads);
    run_threads(threads, |t| {
        let room = format!("room-w{t}");
        let mut flight = std::collections::VecDeque::with_capacity(window);
        for i in 0..per {
            if flight.len() == window {
                let ticket: mutegate::Ticket<_> = flight.pop_front().expect("full");
                ticket.wait().expect("mute");
            }
            let user = format!("u{}", i % 4096);
            flight.push_back(
                engine
                    .submit()
                    .mute_members(&room, [user], MuteFor::minutes(60)),
            );
        }
        for ticket in flight {
            ticket.wait().expect("mute");
        }
    })
}

fn throughput(c: &mut Criterion, redis: &Redis, group: &str) {
    let engine = node(redis, "bench:throughput");
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    for threads in [1, 8] {
        g.bench_with_input(BenchmarkId::new("blocking", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_writers(&engine, t, iters));
        });
    }
    g.bench_function("8_threads_64_in_flight_each", |b| {
        b.iter_custom(|iters| run_windowed(&engine, 8, 64, iters));
    });
    // Two appends in flight at a time instead of one (`Replication::pipeline`).
    let pipelined = node_with(redis, "bench:throughput-2", |r| r.pipeline(2));
    g.bench_function("blocking_8_pipeline_2", |b| {
        b.iter_custom(|iters| run_writers(&pipelined, 8, iters));
    });
    g.finish();
}

fn checks(c: &mut Criterion, redis: &Redis) {
    let replicated = node(redis, "bench:checks");
    let local = Engine::new();
    for engine in [&replicated, &local] {
        for r in 0..100 {
            let users: Vec<String> = (0..20).map(|u| format!("u{}", r * 20 + u)).collect();
            engine
                .mute_members(&format!("r{r}"), &users, MuteFor::Forever)
                .expect("mute");
        }
    }
    let keys: Vec<(String, String)> = (0..4096)
        .map(|i| {
            (
                format!("u{}", (i * 7919) % 4000),
                format!("r{}", (i * 31) % 100),
            )
        })
        .collect();
    let mut g = c.benchmark_group("can_send_replicated");
    for (name, engine) in [("replicated", &replicated), ("in_memory", &local)] {
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                let (u, r) = &keys[i & 4095];
                i += 1;
                black_box(engine.can_send(u, Target::room(r)))
            });
        });
    }
    g.finish();
}

/// The `p`th percentile of sorted `v` (microseconds).
fn pct(v: &[u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i] as f64 / 1_000.0
}

/// Replication lag from one writer node to two others at `rate` mutations/s for `run`:
/// from the moment a mutation is handed to the writer node to the moment each other
/// node applied it (its event).
fn lag(redis: &Redis, rate: u64, run: Duration) {
    let stream = format!("bench:lag:{rate}");
    let writer = node(redis, &stream);
    let readers = [node(redis, &stream), node(redis, &stream)];
    let total = (rate as f64 * run.as_secs_f64()) as usize;
    let sent: Arc<Vec<Mutex<Option<Instant>>>> =
        Arc::new((0..total).map(|_| Mutex::new(None)).collect());
    let lags: Arc<Mutex<Vec<u64>>> = Arc::default();
    for reader in &readers {
        let (sent, lags) = (Arc::clone(&sent), Arc::clone(&lags));
        reader.subscribe(move |e| {
            if let Event::Muted {
                mute: Mute::Member { user, .. },
                ..
            } = e
                && let Some(i) = user.strip_prefix('m').and_then(|i| i.parse::<usize>().ok())
                && let Some(at) = *sent[i].lock().unwrap()
            {
                lags.lock().unwrap().push(at.elapsed().as_nanos() as u64);
            }
        });
    }
    // Eight writer threads (as a server's request handlers would be), each paced to an
    // eighth of the rate, each mutation a blocking call.
    const WRITERS: usize = 8;
    let started = Instant::now();
    let failed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (writer, sent) = (&writer, &sent);
                s.spawn(move || {
                    let mut failed = 0;
                    for i in (w..total).step_by(WRITERS) {
                        // Mutation i goes out at i / rate seconds.
                        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        *sent[i].lock().unwrap() = Some(Instant::now());
                        let done =
                            writer.mute_members("lag", [format!("m{i}")], MuteFor::minutes(60));
                        failed += usize::from(done.is_err());
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).sum()
    });
    let offered = total as f64 / started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lags.lock().unwrap().len() < 2 * total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut v = lags.lock().unwrap().clone();
    v.sort_unstable();
    println!(
        "| {rate}/s (offered {offered:.0}/s) | {} of {} | {:.0} µs | {:.0} µs | {:.0} µs | {failed} |",
        v.len(),
        2 * total,
        pct(&v, 0.5),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
}

/// A node joining a stream of `entries` entries (no snapshot): entries applied per second.
fn catch_up(redis: &Redis, entries: usize) {
    let stream = format!("bench:catch-up:{entries}");
    let writer = node(redis, &stream);
    let loaded = Instant::now();
    for chunk in (0..entries).collect::<Vec<_>>().chunks(4096) {
        let tickets: Vec<_> = chunk
            .iter()
            .map(|i| {
                writer.submit().mute_members(
                    &format!("room-{}", i % 10_000),
                    [format!("user-{i}")],
                    MuteFor::Forever,
                )
            })
            .collect();
        for t in tickets {
            t.wait().expect("mute");
        }
    }
    let loaded = loaded.elapsed();
    let started = Instant::now();
    let joined = node(redis, &stream);
    let took = started.elapsed();
    assert_eq!(joined.stats().member_mutes, entries);
    println!(
        "catch-up: {entries} entries written in {:.1} s ({:.0}/s through the pipeline); a new node applied them in {:.2} s: {:.0} entries/s",
        loaded.as_secs_f64(),
        entries as f64 / loaded.as_secs_f64(),
        took.as_secs_f64(),
        entries as f64 / took.as_secs_f64()
    );
}

fn report(redis: &Redis, quick: bool) {
    let run = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(5)
    };
    println!("\nreplication lag, one writer node to two others");
    println!("| rate | applied | p50 | p99 | max | refused |");
    println!("|---|---:|---:|---:|---:|---:|");
    for rate in [1_000, 10_000] {
        lag(redis, rate, run);
    }
    let entries = if quick {
        20_000
    } else {
        std::env::var("MUTEGATE_CATCH_UP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    };
    catch_up(redis, entries);
}

fn benches(c: &mut Criterion) {
    let Some(redis) = Redis::start("THE REPLICATION BENCH") else {
        return;
    };
    throughput(c, &redis, "replicated_writers");
    checks(c, &redis);
    // The same writers on a Redis that syncs its AOF once a second.
    if let Some(everysec) = Redis::start_everysec("THE REPLICATION BENCH (everysec)") {
        throughput(c, &everysec, "replicated_writers_aof_everysec");
    }
}

criterion_group!(group, benches);

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    if std::env::var("MUTEGATE_REPLICATION").is_ok() || test_mode {
        if let Some(redis) = Redis::start("THE REPLICATION BENCH") {
            report(&redis, test_mode);
        }
        if !test_mode {
            return;
        }
    }
    group();
    Criterion::default().configure_from_args().final_summary();
}
