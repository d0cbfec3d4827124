//! The durable store: mutations per second under each sync policy (beside in-memory in
//! the same run), checks on a durable engine beside an in-memory one, and reopening a
//! store with 1M active entries (from the log, and from a snapshot).
//!
//! `cargo bench --bench durable`

mod support;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mutegate::{Engine, ManualClock, MuteFor, SyncPolicy, Target};
use support::{Ids, NOW};

const BATCH: usize = 1024;

fn engine(policy: Option<SyncPolicy>, dir: &std::path::Path) -> Engine {
    let b = Engine::builder()
        .clock(ManualClock::new(NOW))
        .compact_after(256 << 20);
    match policy {
        Some(p) => b.sync(p).open(dir).expect("open"),
        None => b.build(),
    }
}

fn mutations(c: &mut Criterion) {
    let users = Ids::numbered("user", 100_000);
    let rooms = Ids::numbered("room", 1_000);
    let mut g = c.benchmark_group("durable_mutations");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    for (label, policy) in [
        ("in_memory", None),
        (
            "every_10ms",
            Some(SyncPolicy::Every(Duration::from_millis(10))),
        ),
        ("never", Some(SyncPolicy::Never)),
        ("every_write", Some(SyncPolicy::EveryWrite)),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(policy, dir.path());
        let mut i = 0usize;
        if label == "every_write" {
            g.sample_size(10);
        }
        g.bench_function(BenchmarkId::new("mute_unmute_member", label), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let (u, r) = (users.get(i % users.len()), rooms.get(i % rooms.len()));
                    e.mute_members(r, [u], MuteFor::hours(1)).unwrap();
                    e.unmute_members(r, [u]).unwrap();
                    i += 1;
                }
            })
        });
    }
    g.finish();
}

fn checks(c: &mut Criterion) {
    let users = Ids::numbered("user", 100_000);
    let rooms = Ids::numbered("room", 1_000);
    let mut g = c.benchmark_group("durable_checks");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (label, policy) in [
        ("in_memory", None),
        ("durable", Some(SyncPolicy::default())),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(policy, dir.path());
        for i in (0..users.len()).step_by(20) {
            e.mute_members(
                rooms.get(i % rooms.len()),
                [users.get(i)],
                MuteFor::hours(1),
            )
            .unwrap();
        }
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("can_send", label), |b| {
            b.iter(|| {
                let mut n = 0usize;
                for _ in 0..BATCH {
                    i = (i + 7919) % users.len();
                    n += usize::from(
                        e.can_send(users.get(i), Target::room(rooms.get(i % rooms.len()))),
                    );
                }
                n
            })
        });
    }
    g.finish();
}

fn reopen(c: &mut Criterion) {
    const ENTRIES: usize = 1_000_000;
    let users = Ids::numbered("user", ENTRIES);
    let rooms = Ids::numbered("room", 10_000);
    let from_log = tempfile::tempdir().expect("temp dir");
    let from_snapshot = tempfile::tempdir().expect("temp dir");
    {
        let e = engine(Some(SyncPolicy::Never), from_log.path());
        support::fill_member_mutes(&e, &users, &rooms);
        e.sync().unwrap();
    }
    {
        // A tiny compaction size: the state ends up in the snapshot, the log nearly empty.
        let e = Engine::builder()
            .clock(ManualClock::new(NOW))
            .sync(SyncPolicy::Never)
            .compact_after(64 << 20)
            .open(from_snapshot.path())
            .unwrap();
        for chunk in 0..ENTRIES / 1000 {
            let batch: Vec<&str> = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| users.get(i))
                .collect();
            e.mute_members(rooms.get(chunk % rooms.len()), &batch, MuteFor::hours(1))
                .unwrap();
        }
    }
    // Force a compaction of the second store by reopening it with a small threshold.
    {
        let e = Engine::builder()
            .clock(ManualClock::new(NOW))
            .compact_after(17)
            .open(from_snapshot.path())
            .unwrap();
        e.mute_room("trigger", MuteFor::Forever).unwrap();
    }
    let mut g = c.benchmark_group("reopen_1M_entries");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (label, dir) in [
        ("from_log", from_log.path()),
        ("from_snapshot", from_snapshot.path()),
    ] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let e = Engine::builder()
                        .clock(ManualClock::new(NOW))
                        .capacity_hint(ENTRIES)
                        .open(dir)
                        .unwrap();
                    total += start.elapsed();
                    assert!(e.stats().member_mutes >= ENTRIES);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = mutations, checks, reopen
}
criterion_main!(benches);
