//! Single-thread costs of the checks, beside their baselines in the same run:
//! B / Bc (one ahash `HashMap<String, u64>` hit on the same keys) and the naive engine.
//!
//! `cargo bench --bench checks`

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use mutegate::{
    Clock, Engine, ManualClock, Mentions, Module, ModuleChange, MuteFor, NotifyLevel, SystemClock,
    Target,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use support::{Baseline, Ids, Mix, NOW, World, fan_out_room};

/// Requests per measured iteration.
const BATCH: usize = 1024;

/// Walks `requests` in order, `BATCH` per iteration, wrapping around.
struct Cursor(usize);
impl Cursor {
    fn next<'a, T>(&mut self, all: &'a [T]) -> &'a [T] {
        if self.0 + BATCH > all.len() {
            self.0 = 0;
        }
        let s = &all[self.0..self.0 + BATCH];
        self.0 += BATCH;
        s
    }
}

/// Benches `id`: `check(user, room)` over the next batch of `pairs` each iteration,
/// counting the `true`s (the ids read the same way for every contender).
fn over_pairs<M: Measurement>(
    g: &mut BenchmarkGroup<'_, M>,
    id: &str,
    world: &World,
    pairs: &[(u32, u32)],
    check: impl Fn(&str, &str) -> bool,
) {
    let mut cur = Cursor(0);
    g.bench_function(id, |b| {
        b.iter(|| {
            let mut n = 0usize;
            for &(u, r) in cur.next(pairs) {
                n += usize::from(check(world.user(u), world.room(r)));
            }
            n
        })
    });
}

/// Checks over random (user, room) requests: the baseline, the engine and the naive engine.
fn checks_on(c: &mut Criterion, name: &str, world: &World) {
    let engine = world.engine();
    let naive = world.naive();
    let honest = world.honest();
    let b_map = support::baseline_map(&world.users);
    let reqs = &world.requests;
    // The baselines must answer what the engine answers, or they measure something else.
    let muted = world.member_mutes.iter().chain(&world.allowed);
    for &(u, r) in reqs.iter().chain(muted) {
        let (user, room) = (world.user(u), world.room(r));
        let sends = engine.can_send(user, Target::room(room));
        assert_eq!(
            naive.can_send(user, Module::Room, room, NOW),
            sends,
            "{user} in {room}"
        );
        assert_eq!(
            honest.can_send(user, Module::Room, room, NOW),
            sends,
            "{user} in {room}"
        );
        let pushes = engine.should_push(user, room);
        assert_eq!(naive.should_push(user, room), pushes, "{user} in {room}");
        assert_eq!(honest.should_push(user, room), pushes, "{user} in {room}");
    }
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut cur = Cursor(0);
    g.bench_function("baseline_hashmap_hit", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &(u, _) in cur.next(reqs) {
                sum = sum.wrapping_add(*b_map.get(world.user(u)).unwrap());
            }
            sum
        })
    });
    over_pairs(&mut g, "can_send", world, reqs, |user, room| {
        engine.can_send(user, Target::room(room))
    });
    over_pairs(&mut g, "check_send", world, reqs, |user, room| {
        engine.check_send(user, Target::team(room)).is_ok()
    });
    over_pairs(&mut g, "should_push", world, reqs, |user, room| {
        engine.should_push(user, room)
    });
    over_pairs(&mut g, "naive_can_send", world, reqs, |user, room| {
        naive.can_send(user, Module::Room, room, NOW)
    });
    over_pairs(&mut g, "naive_should_push", world, reqs, |user, room| {
        naive.should_push(user, room)
    });
    over_pairs(
        &mut g,
        "honest_naive_can_send",
        world,
        reqs,
        |user, room| honest.can_send(user, Module::Room, room, NOW),
    );
    over_pairs(
        &mut g,
        "honest_naive_should_push",
        world,
        reqs,
        |user, room| honest.should_push(user, room),
    );
    g.finish();

    // Senders by case: muted members, allow-listed users in muted rooms, visited in a
    // random order (the world lists them by ascending user).
    let mut g = c.benchmark_group(format!("{name}/can_send_by_sender"));
    g.throughput(Throughput::Elements(BATCH as u64));
    let cases: [(&str, Vec<(u32, u32)>); 2] = [
        ("muted", world.member_mutes.clone()),
        ("allowed", world.allowed.clone()),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    for (case, mut pairs) in cases {
        pairs.shuffle(&mut rng);
        let pairs: Vec<(u32, u32)> = pairs
            .iter()
            .cycle()
            .take(BATCH.max(pairs.len()))
            .copied()
            .collect();
        over_pairs(
            &mut g,
            &format!("engine/{case}"),
            world,
            &pairs,
            |user, room| engine.can_send(user, Target::room(room)),
        );
        over_pairs(
            &mut g,
            &format!("naive/{case}"),
            world,
            &pairs,
            |user, room| naive.can_send(user, Module::Room, room, NOW),
        );
        over_pairs(
            &mut g,
            &format!("honest_naive/{case}"),
            world,
            &pairs,
            |user, room| honest.can_send(user, Module::Room, room, NOW),
        );
    }
    g.finish();
}

fn cold(c: &mut Criterion) {
    let world = World::generate(1_000_000, 100_000, 1 << 20, Mix::default(), 1);
    checks_on(c, "cold_1M", &world);
}

fn in_cache(c: &mut Criterion) {
    let world = World::generate(1_000, 100, 1 << 16, Mix::default(), 2);
    checks_on(c, "in_cache_1k", &world);
}

/// Push fan-out for one message in a 10k-member room.
fn push_targets(c: &mut Criterion) {
    const MEMBERS: usize = 10_000;
    let mut g = c.benchmark_group("push_targets_10k");
    g.throughput(Throughput::Elements(MEMBERS as u64));
    for (label, share) in [("0pct", 0.0), ("5pct", 0.05), ("50pct", 0.5)] {
        let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
        let naive = support::Naive::default();
        let honest = support::Honest::default();
        let ids: Ids = fan_out_room(&engine, &[&naive, &honest], "big", MEMBERS, share, 3);
        let members: Vec<&str> = (0..MEMBERS).map(|i| ids.get(i)).collect();
        let mut out = Vec::with_capacity(MEMBERS);
        g.bench_function(BenchmarkId::new("engine", label), |b| {
            b.iter(|| {
                out.clear();
                engine.push_targets_into("big", &members, Mentions::None, &mut out);
                out.len()
            })
        });
        g.bench_function(BenchmarkId::new("naive", label), |b| {
            b.iter(|| naive.push_targets("big", &members).len())
        });
        g.bench_function(BenchmarkId::new("honest_naive", label), |b| {
            b.iter(|| honest.push_targets("big", &members).len())
        });
    }
    g.finish();
}

/// Single mutations, in memory: mute then unmute, so state stays bounded.
fn mutations(c: &mut Criterion) {
    let world = World::generate(100_000, 10_000, 1 << 16, Mix::default(), 4);
    let engine = world.engine();
    let naive = world.naive();
    let reqs = &world.requests;
    let mut g = c.benchmark_group("mutations");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    let mut cur = Cursor(0);
    g.bench_function("mute_unmute_member", |b| {
        b.iter(|| {
            support::mute_unmute(&engine, &world, cur.next(reqs));
        })
    });
    let mut cur = Cursor(0);
    g.bench_function("set_clear_notification_level", |b| {
        b.iter(|| {
            for &(u, r) in cur.next(reqs) {
                let (user, room) = (world.user(u), world.room(r));
                engine
                    .set_notification_level(user, room, NotifyLevel::Off, MuteFor::hours(8))
                    .unwrap();
                engine
                    .set_notification_level(user, room, NotifyLevel::All, MuteFor::Forever)
                    .unwrap();
            }
        })
    });
    let mut cur = Cursor(0);
    g.bench_function("module_mute_unmute", |b| {
        b.iter(|| {
            for &(u, _) in cur.next(reqs) {
                let user = world.user(u);
                engine
                    .set_module_mutes(user, ModuleChange::new().set(Module::Team, true))
                    .unwrap();
                engine
                    .set_module_mutes(user, ModuleChange::new().set(Module::Team, false))
                    .unwrap();
            }
        })
    });
    let mut cur = Cursor(0);
    g.bench_function("naive_mute_unmute_member", |b| {
        b.iter(|| {
            for &(u, r) in cur.next(reqs) {
                naive.mute_member(world.room(r), world.user(u), NOW + 3_600_000);
                naive.mute_member(world.room(r), world.user(u), 0);
            }
        })
    });
    g.finish();
}

/// What reading each clock costs (kept out of the engine benches by the fake clock).
fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.throughput(Throughput::Elements(1));
    let manual = ManualClock::new(NOW);
    g.bench_function("system_clock_now_ms", |b| {
        b.iter(|| black_box(SystemClock.now_ms()))
    });
    g.bench_function("manual_clock_now_ms", |b| {
        b.iter(|| black_box(manual.now_ms()))
    });
    let engine = Engine::new();
    engine.mute_members("r", ["u"], MuteFor::hours(1)).unwrap();
    g.bench_function("can_send_muted_on_system_clock", |b| {
        b.iter(|| engine.can_send(black_box("u"), Target::room("r")))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = cold, in_cache, push_targets, mutations, clocks
}
criterion_main!(benches);
