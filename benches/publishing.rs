//! The snapshot publisher's cost to its own node's writers (issue 24, item 3), against
//! a real `redis-server` started by the bench (free loopback port, temporary
//! directory, AOF `appendfsync always`, stopped by PID).
//!
//! One node holds `MUTEGATE_PUBLISH_ENTRIES` muted members (default 1,000,000) and
//! publishes snapshots every 100 entries or 50 ms, so that with a state this size one
//! publish follows another; two writer threads on it mute members one call at a time.
//! Stretches in which the node publishes (the snapshot lease free for it to take)
//! alternate with stretches in which it cannot (the lease held under a foreign name,
//! as a peer holding it would): each stretch settles for a second, then its writes
//! and their latencies are counted for four. Each of three runs gives the write-rate
//! ratio (publishing / not) and both p99s; the median over runs and the spread are
//! printed. Target: ratio >= 0.8, p99 while publishing <= 10 ms.
//!
//! `cargo bench --features redis --bench publishing`; `-- --test` (CI) runs once on
//! 20,000 members and short stretches, timing nothing worth quoting.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mutegate::{Engine, MuteFor, Replication};
use parking_lot::Mutex;
use redis_server::Redis;

const STREAM: &str = "bench:publish";
const WRITERS: usize = 2;

/// The bench's sizes: full, or (with `--test`) small and short.
struct Sizes {
    entries: usize,
    runs: usize,
    pairs: usize,
    settle: Duration,
    measure: Duration,
}

/// One stretch's writes and latencies (µs).
struct Stretch {
    writes: u64,
    latency: Histogram<u64>,
    published: u64,
    elapsed: Duration,
}

impl Stretch {
    fn rate(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64()
    }

    fn p99_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Runs one stretch: `publishing` lets the node take the lease, otherwise the bench
/// holds it; writes and latencies are recorded after `settle`.
fn stretch(
    node: &Engine,
    conn: &mut redis::Connection,
    recorded: &Mutex<(u64, Histogram<u64>)>,
    recording: &AtomicBool,
    publishing: bool,
    sizes: &Sizes,
) -> Stretch {
    let lease = format!("{STREAM}:snapshot-lease");
    if publishing {
        redis::cmd("DEL")
            .arg(&lease)
            .query::<()>(conn)
            .expect("DEL the lease");
    }
    let started = Instant::now();
    let mut measured_from = None;
    let mut published = 0;
    while started.elapsed() < sizes.settle + sizes.measure {
        if !publishing {
            redis::cmd("SET")
                .arg(&lease)
                .arg("bench-operator")
                .arg("PX")
                .arg(1000)
                .query::<()>(conn)
                .expect("SET the lease");
        }
        if measured_from.is_none() && started.elapsed() >= sizes.settle {
            *recorded.lock() = (0, histogram());
            published = node.health().snapshots_published;
            recording.store(true, Ordering::Release);
            measured_from = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    recording.store(false, Ordering::Release);
    let elapsed = measured_from.map_or(Duration::ZERO, |t| t.elapsed());
    let (writes, latency) = std::mem::replace(&mut *recorded.lock(), (0, histogram()));
    Stretch {
        writes,
        latency,
        published: node.health().snapshots_published - published,
        elapsed,
    }
}

/// The median and the (min, max) of `v`.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let sizes = if quick {
        Sizes {
            entries: 20_000,
            runs: 1,
            pairs: 1,
            settle: Duration::from_millis(500),
            measure: Duration::from_secs(1),
        }
    } else {
        Sizes {
            entries: std::env::var("MUTEGATE_PUBLISH_ENTRIES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000),
            runs: 3,
            pairs: 3,
            settle: Duration::from_secs(1),
            measure: Duration::from_secs(4),
        }
    };
    let Some(redis) = Redis::start("THE PUBLISHING BENCH") else {
        return;
    };
    let node = Engine::builder()
        .replicate(
            Replication::new(redis.url())
                .stream(STREAM)
                .snapshot_every(100, Duration::from_millis(50)),
        )
        .expect("a replicated engine");
    let filling = Instant::now();
    for chunk in 0..sizes.entries.div_ceil(500) {
        let users: Vec<String> = (0..500).map(|u| format!("c{chunk}-u{u}")).collect();
        node.mute_members(&format!("fill-{chunk}"), &users, MuteFor::Forever)
            .expect("fill");
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while node.health().snapshots_published == 0 {
        assert!(Instant::now() < deadline, "no snapshot of the filled state");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "publishing: {} members filled and a first snapshot published in {:.1} s",
        sizes.entries,
        filling.elapsed().as_secs_f64()
    );

    let done = AtomicBool::new(false);
    let recording = AtomicBool::new(false);
    let recorded = Mutex::new((0u64, histogram()));
    let mut conn = redis.conn();
    let (mut ratios, mut p99_busy, mut p99_idle) = (Vec::new(), Vec::new(), Vec::new());
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (node, done, recording, recorded) = (&node, &done, &recording, &recorded);
            s.spawn(move || {
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    node.mute_members(
                        &format!("w{t}-{}", i % 64),
                        [format!("u{}", i % 997)],
                        MuteFor::minutes(10),
                    )
                    .expect("a write on the publishing node");
                    if recording.load(Ordering::Acquire) {
                        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let mut r = recorded.lock();
                        r.0 += 1;
                        r.1.saturating_record(us.max(1));
                    }
                    i += 1;
                }
            });
        }
        for run in 0..sizes.runs {
            let (mut busy, mut idle) = (Vec::new(), Vec::new());
            for pair in 0..sizes.pairs {
                // The order alternates from pair to pair.
                for publishing in [pair % 2 == 1, pair % 2 == 0] {
                    let st = stretch(&node, &mut conn, &recorded, &recording, publishing, &sizes);
                    println!(
                        "  run {run} {:<14} {:>7.0} writes/s  p99 {:>7.2} ms  max {:>8.2} ms  {} snapshots",
                        if publishing {
                            "publishing"
                        } else {
                            "not publishing"
                        },
                        st.rate(),
                        st.p99_ms(),
                        st.latency.max() as f64 / 1000.0,
                        st.published
                    );
                    if publishing { &mut busy } else { &mut idle }.push(st);
                }
            }
            let rate = |v: &[Stretch]| {
                v.iter().map(|s| s.writes).sum::<u64>() as f64
                    / v.iter().map(|s| s.elapsed.as_secs_f64()).sum::<f64>()
            };
            let p99 = |v: &[Stretch]| {
                let mut all = histogram();
                v.iter()
                    .for_each(|s| all.add(&s.latency).expect("same bounds"));
                all.value_at_quantile(0.99) as f64 / 1000.0
            };
            let published: u64 = busy.iter().map(|s| s.published).sum();
            assert!(published > 0, "run {run}: the node published nothing");
            ratios.push(rate(&busy) / rate(&idle));
            p99_busy.push(p99(&busy));
            p99_idle.push(p99(&idle));
            println!(
                "run {run}: ratio {:.2}, p99 {:.2} ms publishing, {:.2} ms not, {published} snapshots",
                ratios[run], p99_busy[run], p99_idle[run]
            );
        }
        done.store(true, Ordering::Relaxed);
    });
    let (ratio, rmin, rmax) = spread(&mut ratios);
    let (busy, bmin, bmax) = spread(&mut p99_busy);
    let (idle, imin, imax) = spread(&mut p99_idle);
    let verdict = |ok: bool| if ok { "pass" } else { "MISS" };
    println!(
        "publishing node, {} members, median of {} runs: write rate {ratio:.2}x of not publishing \
         (spread {rmin:.2}-{rmax:.2}; target >= 0.8: {}); p99 {busy:.2} ms publishing \
         ({bmin:.2}-{bmax:.2}; target <= 10 ms: {}), {idle:.2} ms not ({imin:.2}-{imax:.2})",
        sizes.entries,
        sizes.runs,
        verdict(ratio >= 0.8),
        verdict(busy <= 10.0),
    );
    // What Redis itself spent in its longest calls (SLOWLOG: each entry is id, start,
    // duration in µs, arguments, ...), and the size of the snapshot it stores.
    let slow: Vec<u64> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(128)
        .query::<Vec<redis::Value>>(&mut conn)
        .expect("SLOWLOG GET")
        .into_iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(fields) => match fields.get(2) {
                Some(redis::Value::Int(us)) => u64::try_from(*us).ok(),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let longest = slow.iter().copied().max().unwrap_or(0);
    let size: u64 = redis::cmd("HSTRLEN")
        .arg(format!("{STREAM}:snapshot"))
        .arg("state")
        .query(&mut conn)
        .expect("HSTRLEN");
    println!(
        "redis: snapshot state {:.1} MB; longest call in SLOWLOG {:.0} ms ({} calls over 10 ms)",
        size as f64 / 1e6,
        longest as f64 / 1000.0,
        slow.len()
    );
}
