//! Writers: mutations per second with 1, 2 and 8 writer threads, under each sync policy
//! and in memory, beside Redis with `appendfsync always` (what a chat backend would
//! otherwise use) in the same run; and a writer's latency while a 1M-entry compaction
//! runs.
//!
//! Each writer thread mutes and unmutes members of rooms of its own (disjoint keys), so
//! the threads contend only inside mutegate. Redis does the same with `ZADD`/`ZREM` on one
//! sorted set per room (score = expiry), from one connection per thread. The Redis side
//! starts its own `redis-server` (from PATH) on a free loopback port with a temporary
//! directory and stops it by PID; without `redis-server` it says so and skips only that.
//!
//! `cargo bench --bench writers` (criterion), or
//! `MUTEGATE_INTERLEAVED=3 cargo bench --bench writers` for short interleaved stretches
//! of every contender, three rounds, with the median and spread of each, then the
//! latencies; `MUTEGATE_COMPACTION=1000000 cargo bench --bench writers` for the
//! compaction latency alone.

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use mutegate::{Engine, ManualClock, MuteFor, SyncPolicy};
use redis_server::Redis;
use support::NOW;

/// Writer thread counts measured.
const THREADS: [usize; 3] = [1, 2, 8];

/// A contender: how it is named and how it is set up.
#[derive(Clone, Copy, Debug)]
enum Store {
    InMemory,
    Every10ms,
    EveryWrite,
}

impl Store {
    const ALL: [Store; 3] = [Store::InMemory, Store::Every10ms, Store::EveryWrite];

    fn name(self) -> &'static str {
        match self {
            Store::InMemory => "in_memory",
            Store::Every10ms => "every_10ms",
            Store::EveryWrite => "every_write",
        }
    }

    fn engine(self, dir: &std::path::Path) -> Engine {
        let b = Engine::builder()
            .clock(ManualClock::new(NOW))
            .compact_after(256 << 20);
        match self {
            Store::InMemory => b.build(),
            Store::Every10ms => b
                .sync(SyncPolicy::Every(Duration::from_millis(10)))
                .open(dir)
                .expect("open"),
            Store::EveryWrite => b.sync(SyncPolicy::EveryWrite).open(dir).expect("open"),
        }
    }
}

/// A writer's `i`th mutation in `room`: a mute (even `i`), then the unmute of the same
/// member (odd `i`), over 512 members.
fn write_one(engine: &Engine, room: &str, i: usize) {
    let user = format!("u{}", (i / 2) % 512);
    if i.is_multiple_of(2) {
        engine
            .mute_members(room, [&user], MuteFor::hours(1))
            .expect("mute");
    } else {
        engine.unmute_members(room, [&user]).expect("unmute");
    }
}

/// `threads` writers doing `total` mutations between them (a mute, then an unmute, of a
/// member of a room of their own); the wall time.
fn run_engine(engine: &Engine, threads: usize, total: u64) -> Duration {
    run_engine_timed(engine, threads, total, None)
}

/// [`run_engine`], also collecting every mutation's latency in nanoseconds.
fn run_engine_timed(
    engine: &Engine,
    threads: usize,
    total: u64,
    latencies: Option<&std::sync::Mutex<Vec<u64>>>,
) -> Duration {
    let per = (total as usize).div_ceil(threads);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (engine, barrier) = (engine, &barrier);
            s.spawn(move || {
                let room = format!("room-{t}");
                let mut mine = Vec::with_capacity(if latencies.is_some() { per } else { 0 });
                barrier.wait();
                for i in 0..per {
                    let t0 = Instant::now();
                    write_one(engine, &room, i);
                    if latencies.is_some() {
                        mine.push(t0.elapsed().as_nanos() as u64);
                    }
                }
                if let Some(all) = latencies {
                    all.lock().unwrap().extend(mine);
                }
            });
        }
        barrier.wait();
        let started = Instant::now();
        // The scope joins the writers before returning.
        started
    })
    .elapsed()
}

/// p50 and p99 of every_write mutations with 1 and 8 writers, over `ops` mutations each.
fn every_write_latency(ops: u64) {
    println!("\nevery_write mutation latency ({ops} mutations each)");
    println!("| writers | p50 | p99 |");
    println!("|---:|---:|---:|");
    for threads in [1, 8] {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Store::EveryWrite.engine(dir.path());
        let all = std::sync::Mutex::new(Vec::new());
        run_engine_timed(&engine, threads, ops, Some(&all));
        let mut all = all.into_inner().unwrap();
        all.sort_unstable();
        let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64 / 1e3;
        println!("| {threads} | {:.0} µs | {:.0} µs |", at(0.5), at(0.99));
    }
}

/// One writer's mutation latency while a compaction of an `entries`-entry state runs,
/// beside the same writer's latency with no compaction, in the same run; and how long
/// the compaction took (what every writer waited, before compaction left the write
/// path). Under the default policy, `Every(10 ms)`.
fn compaction_latency(entries: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Store::Every10ms.engine(dir.path());
    let started = Instant::now();
    for chunk in (0..entries).collect::<Vec<_>>().chunks(10_000) {
        let tickets: Vec<_> = chunk
            .iter()
            .map(|i| {
                engine.submit().mute_members(
                    &format!("big-room-{}", i % 10_000),
                    [format!("big-user-{i}")],
                    MuteFor::Forever,
                )
            })
            .collect();
        for t in tickets {
            t.wait().expect("mute");
        }
    }
    let loaded = started.elapsed();
    // The writer runs until told to stop; each phase collects its latencies.
    let phase = |compact: bool| {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut took = Duration::ZERO;
        let latencies = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let mut all = Vec::new();
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let t0 = Instant::now();
                    write_one(&engine, "writer-room", i);
                    all.push(t0.elapsed().as_nanos() as u64);
                    i += 1;
                }
                all
            });
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            if compact {
                engine.compact().expect("compact");
            } else {
                std::thread::sleep(Duration::from_millis(300));
            }
            took = t0.elapsed();
            stop.store(true, std::sync::atomic::Ordering::Release);
            writer.join().expect("writer")
        });
        (latencies, took)
    };
    let (mut quiet, _) = phase(false);
    let (mut busy, took) = phase(true);
    let at = |v: &mut Vec<u64>, q: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1e3
    };
    println!("
a writer during a compaction of {entries} entries (loaded in {loaded:.1?}; the compaction took {took:.1?})");
    println!("| writer | mutations | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("no compaction", &mut quiet),
        ("during the compaction", &mut busy),
    ] {
        println!(
            "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
            v.len(),
            at(v, 0.5),
            at(v, 0.99),
            at(v, 1.0)
        );
    }
}

/// A `redis-server` of our own: started on a free loopback port in a temporary
/// directory with AOF `always`, stopped by PID on drop.
/// The same workload on Redis: `threads` clients, one connection each.
fn run_redis(server: &Redis, threads: usize, total: u64) -> Duration {
    let per = (total as usize).div_ceil(threads);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            let mut conn = server.conn();
            s.spawn(move || {
                let room = format!("room-{t}");
                let until = NOW + 3_600_000;
                barrier.wait();
                for i in 0..per {
                    let user = format!("u{}", (i / 2) % 512);
                    let _: i64 = if i % 2 == 0 {
                        redis::cmd("ZADD")
                            .arg(&room)
                            .arg(until)
                            .arg(&user)
                            .query(&mut conn)
                            .expect("ZADD")
                    } else {
                        redis::cmd("ZREM")
                            .arg(&room)
                            .arg(&user)
                            .query(&mut conn)
                            .expect("ZREM")
                    };
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

fn redis_or_say_why() -> Option<Redis> {
    Redis::start("THE WRITERS BENCH'S REDIS COMPARISON")
}

fn writers(c: &mut Criterion) {
    let mut g = c.benchmark_group("writers");
    g.throughput(Throughput::Elements(1));
    for store in Store::ALL {
        if matches!(store, Store::EveryWrite) {
            g.sample_size(10);
        }
        for threads in THREADS {
            let dir = tempfile::tempdir().expect("temp dir");
            let engine = store.engine(dir.path());
            g.bench_with_input(
                BenchmarkId::new(store.name(), threads),
                &threads,
                |b, &threads| b.iter_custom(|iters| run_engine(&engine, threads, iters)),
            );
        }
    }
    if let Some(server) = redis_or_say_why() {
        for threads in THREADS {
            g.bench_with_input(
                BenchmarkId::new("redis_aof_always", threads),
                &threads,
                |b, &threads| b.iter_custom(|iters| run_redis(&server, threads, iters)),
            );
        }
    }
    g.finish();
}

/// Every contender for about `stretch` each, alternating, `rounds` times; prints the
/// median throughput of each, with the spread, and the ratios that matter.
fn interleaved(rounds: usize, stretch: Duration) {
    // `MUTEGATE_STORES=in_memory,redis` (say) measures only those contenders.
    let only = std::env::var("MUTEGATE_STORES").ok();
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|w| w == name))
    };
    let stores: Vec<Store> = Store::ALL
        .into_iter()
        .filter(|s| wanted(s.name()))
        .collect();
    let dirs: Vec<_> = stores
        .iter()
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let engines: Vec<Engine> = stores
        .iter()
        .zip(&dirs)
        .map(|(s, d)| s.engine(d.path()))
        .collect();
    let redis = if wanted("redis") {
        redis_or_say_why()
    } else {
        None
    };
    let mut names: Vec<String> = Vec::new();
    for s in &stores {
        for t in THREADS {
            names.push(format!("{} x{t}", s.name()));
        }
    }
    if redis.is_some() {
        for t in THREADS {
            names.push(format!("redis_aof_always x{t}"));
        }
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    // Measures one contender: ops per second over about `stretch`, after a short warm-up.
    let measure = |run: &dyn Fn(u64) -> Duration| {
        let mut n = 64u64;
        let _ = run(n);
        let mut took = run(n);
        while took < stretch / 4 {
            n *= 2;
            took = run(n);
        }
        n as f64 / took.as_secs_f64()
    };
    for _ in 0..rounds {
        let mut k = 0;
        for engine in &engines {
            for t in THREADS {
                rates[k].push(measure(&|n| run_engine(engine, t, n)));
                k += 1;
            }
        }
        if let Some(server) = &redis {
            for t in THREADS {
                rates[k].push(measure(&|n| run_redis(server, t, n)));
                k += 1;
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nwriters, interleaved: {rounds} rounds of about {stretch:?} per contender");
    println!("| contender | ops/s, median | min | max |");
    println!("|---|---:|---:|---:|");
    for (name, r) in names.iter().zip(&rates) {
        let (lo, hi) = r
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!("| {name} | {:.0} | {lo:.0} | {hi:.0} |", median(r));
    }
    let at = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map(|i| median(&rates[i]))
    };
    println!();
    for store in Store::ALL {
        let (one, two, eight) = (
            at(&format!("{} x1", store.name())),
            at(&format!("{} x2", store.name())),
            at(&format!("{} x8", store.name())),
        );
        if let (Some(one), Some(two), Some(eight)) = (one, two, eight) {
            println!(
                "{}: 2 writers / 1 = {:.2}x, 8 writers / 1 = {:.2}x",
                store.name(),
                two / one,
                eight / one
            );
        }
    }
    if let (Some(ours), Some(theirs)) = (at("every_write x8"), at("redis_aof_always x8")) {
        println!(
            "every_write x8 / redis_aof_always x8 = {:.2}x",
            ours / theirs
        );
    }
    if only.is_none() {
        every_write_latency(8_000);
        compaction_latency(1_000_000);
    }
}

criterion_group!(benches, writers);

fn main() {
    if let Ok(entries) = std::env::var("MUTEGATE_COMPACTION") {
        compaction_latency(entries.parse().unwrap_or(1_000_000));
        return;
    }
    if let Ok(rounds) = std::env::var("MUTEGATE_INTERLEAVED") {
        let rounds = rounds.parse().unwrap_or(3).max(1);
        interleaved(rounds, Duration::from_millis(1500));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Criterion's test mode (CI): the compaction path once, on a small state.
    if std::env::args().any(|a| a == "--test") {
        compaction_latency(20_000);
    }
}
