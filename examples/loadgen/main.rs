//! The main job: a simulated message pipeline against mutegate, and the same workload on
//! a naive baseline, side by side.
//!
//! Every message is one send check (`can_send`) for a random sender in a Zipf-popular
//! room and, when allowed, one push fan-out (`push_targets`) over the room's members.
//! A share of operations are mutations (mute / unmute a member) as churn.
//!
//! Four sides run one after another on the same world and requests: mutegate in memory,
//! the honest naive store in memory (ahash, borrowed `&str` keys, one map per kind: what
//! a competent engineer writes; the ratio column compares mutegate with it, like with
//! like), the old naive store (owned `String` keys built per lookup, SipHash; kept as a
//! labelled extra column), then mutegate with its durable store, whose mutations also
//! write the operation log. Each in-memory side's live heap is printed, whole and per
//! active entry.
//!
//! With `--nodes N` (feature `redis`) it runs the pipeline on `N` replicated engines on
//! one Redis instead (see `cluster.rs`).
//!
//! `cargo run --release --example loadgen -- --help`

#[cfg(feature = "redis")]
mod cluster;
mod report;
#[path = "../../benches/support/mod.rs"]
mod support;

use std::alloc::System;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mutegate::{Engine, ManualClock, Mentions, Module, MuteFor, NotifyLevel, SyncPolicy, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::{Baseline, Honest, Mix, NOW, Naive, World};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// loadgen: mutegate's main job.
///
/// A simulated chat message pipeline (a send check per message, a push fan-out per
/// allowed message, a share of mute/unmute churn) run on mutegate in memory, on a naive
/// store in memory, and on mutegate with its durable store; it prints throughput and
/// latency percentiles side by side.
#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "mutegate's main job: a simulated chat message pipeline on mutegate (in memory and durable) and on a naive store, side by side"
)]
struct Args {
    /// Users in the world.
    #[arg(long, default_value_t = 200_000)]
    users: usize,
    /// Rooms in the world (popularity is Zipf-distributed).
    #[arg(long, default_value_t = 20_000)]
    rooms: usize,
    /// Members of the most popular room (a room of popularity rank k has about this / k).
    #[arg(long, default_value_t = 5_000)]
    max_room_size: usize,
    /// Share of users with some mute state.
    #[arg(long, default_value_t = 0.05)]
    stateful: f64,
    /// Share of room members with a notification setting in that room.
    #[arg(long, default_value_t = 0.05)]
    notify: f64,
    /// Share of rooms muted room-wide.
    #[arg(long, default_value_t = 0.01)]
    muted_rooms: f64,
    /// Share of operations that are mutations (churn).
    #[arg(long, default_value_t = 0.01)]
    churn: f64,
    /// Messages per second over all threads; 0 for as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds each side runs.
    #[arg(long, default_value_t = 6.0)]
    seconds: f64,
    /// Seed of the generated world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run mutegate only (skip both naive stores).
    #[arg(long)]
    skip_naive: bool,
    /// Skip the durable side (mutegate on its embedded store in a temporary directory).
    #[arg(long)]
    in_memory: bool,
    /// How the durable side's store syncs its log.
    #[arg(long, value_enum, default_value_t = SyncFlag::Interval)]
    sync: SyncFlag,
    /// Cluster mode (feature `redis`): run the pipeline on this many replicated engines
    /// sharing one Redis stream instead, and report replication lag and convergence.
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    /// The Redis of cluster mode (`redis://host:port/`); without it, loadgen starts a
    /// `redis-server` of its own (from PATH) on a free loopback port.
    #[arg(long)]
    redis: Option<String>,
}

/// The durable store's sync policy, as a flag.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SyncFlag {
    /// fsync before every mutation returns.
    EveryWrite,
    /// fsync every 10 ms in the background (`SyncPolicy::Every(10 ms)`, the default).
    Interval,
    /// Leave write-back to the operating system.
    Never,
}

impl SyncFlag {
    /// The policy's name in the README and the API.
    fn name(self) -> &'static str {
        match self {
            SyncFlag::EveryWrite => "SyncPolicy::EveryWrite",
            SyncFlag::Interval => "SyncPolicy::Every(10 ms)",
            SyncFlag::Never => "SyncPolicy::Never",
        }
    }
}

impl From<SyncFlag> for SyncPolicy {
    fn from(s: SyncFlag) -> SyncPolicy {
        match s {
            SyncFlag::EveryWrite => SyncPolicy::EveryWrite,
            SyncFlag::Interval => SyncPolicy::Every(Duration::from_millis(10)),
            SyncFlag::Never => SyncPolicy::Never,
        }
    }
}

/// What the pipeline needs from a mute store.
trait Backend: Sync {
    fn can_send(&self, user: &str, room: &str) -> bool;
    fn push<'a, 'm>(&self, room: &str, members: &'a [&'m str], out: &mut Vec<&'a &'m str>);
    fn mutate(&self, user: &str, room: &str, mute: bool);
}

impl Backend for Engine {
    fn can_send(&self, user: &str, room: &str) -> bool {
        Engine::can_send(self, user, Target::room(room))
    }
    fn push<'a, 'm>(&self, room: &str, members: &'a [&'m str], out: &mut Vec<&'a &'m str>) {
        self.push_targets_into(room, members, Mentions::None, out);
    }
    fn mutate(&self, user: &str, room: &str, mute: bool) {
        if mute {
            self.mute_members(room, [user], MuteFor::hours(1))
                .expect("valid ids");
        } else {
            self.unmute_members(room, [user]).expect("valid ids");
        }
    }
}

impl Backend for Honest {
    fn can_send(&self, user: &str, room: &str) -> bool {
        Baseline::can_send(self, user, Module::Room, room, NOW)
    }
    fn push<'a, 'm>(&self, room: &str, members: &'a [&'m str], out: &mut Vec<&'a &'m str>) {
        self.push_into(room, members, out);
    }
    fn mutate(&self, user: &str, room: &str, mute: bool) {
        self.mute_member(room, user, if mute { NOW + 3_600_000 } else { 0 });
    }
}

impl Backend for Naive {
    fn can_send(&self, user: &str, room: &str) -> bool {
        Baseline::can_send(self, user, Module::Room, room, NOW)
    }
    fn push<'a, 'm>(&self, room: &str, members: &'a [&'m str], out: &mut Vec<&'a &'m str>) {
        out.extend(members.iter().filter(|m| self.should_push(m, room)));
    }
    fn mutate(&self, user: &str, room: &str, mute: bool) {
        self.mute_member(room, user, if mute { NOW + 3_600_000 } else { 0 });
    }
}

/// The world plus room memberships.
struct Setup {
    world: World,
    members: Vec<Vec<u32>>,
}

impl Setup {
    fn new(a: &Args) -> Setup {
        let mix = Mix {
            stateful: a.stateful,
            muted_rooms: a.muted_rooms,
        };
        let world = World::generate(a.users, a.rooms, 1 << 20, mix, a.seed);
        let mut rng = StdRng::seed_from_u64(a.seed ^ 0x5EED);
        // Room sizes follow popularity: count how often each room is requested.
        let mut hits = vec![0u32; a.rooms];
        for &(_, r) in &world.requests {
            hits[r as usize] += 1;
        }
        let top = f64::from(*hits.iter().max().unwrap_or(&1).max(&1));
        let members = hits
            .iter()
            .map(|&h| {
                let size = ((f64::from(h) / top) * a.max_room_size as f64).max(2.0) as usize;
                (0..size)
                    .map(|_| rng.random_range(0..a.users as u32))
                    .collect()
            })
            .collect();
        Setup { world, members }
    }

    fn member_ids(&self, room: usize) -> Vec<&str> {
        self.members[room]
            .iter()
            .map(|&u| self.world.user(u))
            .collect()
    }

    /// Notification settings for a share of each room's members.
    fn notify_settings(&self, share: f64, seed: u64) -> Vec<(u32, u32, NotifyLevel)> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xA0_71F7);
        let mut out = Vec::new();
        for (r, members) in self.members.iter().enumerate() {
            for &u in members {
                if rng.random_bool(share) {
                    let level = if rng.random_bool(0.7) {
                        NotifyLevel::Off
                    } else {
                        NotifyLevel::MentionsOnly
                    };
                    out.push((u, r as u32, level));
                }
            }
        }
        out
    }
}

/// Per-thread results.
struct Tally {
    send: Histogram<u64>,
    push: Histogram<u64>,
    mutate: Histogram<u64>,
    messages: u64,
    pushed: u64,
    fanned: u64,
}

impl Tally {
    fn new() -> Tally {
        let h = || Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
        Tally {
            send: h(),
            push: h(),
            mutate: h(),
            messages: 0,
            pushed: 0,
            fanned: 0,
        }
    }
    fn merge(&mut self, o: &Tally) {
        self.send.add(&o.send).expect("same bounds");
        self.push.add(&o.push).expect("same bounds");
        self.mutate.add(&o.mutate).expect("same bounds");
        self.messages += o.messages;
        self.pushed += o.pushed;
        self.fanned += o.fanned;
    }
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Runs the pipeline on `backend` for the configured time; returns totals and wall time.
fn run(
    name: &str,
    backend: &dyn Backend,
    setup: &Setup,
    members: &[Vec<&str>],
    a: &Args,
) -> (Tally, Duration) {
    let stop = AtomicBool::new(false);
    // One counter per thread, each on its own cache line, stored after every message.
    let progress: Vec<Padded> = (0..a.threads).map(|_| Padded::default()).collect();
    let reqs = &setup.world.requests;
    let per_thread_rate = (a.rate as f64 / a.threads as f64).max(0.0);
    let start = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|s| {
        let handles: Vec<_> = (0..a.threads)
            .map(|t| {
                let (stop, progress) = (&stop, &progress[t]);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(a.seed + 100 + t as u64);
                    let mut tally = Tally::new();
                    let mut out = Vec::new();
                    let mut i = t * reqs.len() / a.threads;
                    let mut muted: Vec<(u32, u32)> = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            let (u, r) = reqs[i % reqs.len()];
                            i += 1;
                            let (user, room) = (setup.world.user(u), setup.world.room(r));
                            if rng.random_bool(a.churn) {
                                // Churn: mute a random member, or lift an earlier mute.
                                let lift = !muted.is_empty() && rng.random_bool(0.5);
                                let t0 = Instant::now();
                                if lift {
                                    let (mu, mr) =
                                        muted.swap_remove(rng.random_range(0..muted.len()));
                                    backend.mutate(
                                        setup.world.user(mu),
                                        setup.world.room(mr),
                                        false,
                                    );
                                } else {
                                    backend.mutate(user, room, true);
                                    muted.push((u, r));
                                }
                                tally.mutate.record(elapsed_ns(t0)).ok();
                                continue;
                            }
                            let t0 = Instant::now();
                            let allowed = backend.can_send(user, room);
                            tally.send.record(elapsed_ns(t0)).ok();
                            tally.messages += 1;
                            progress.0.store(tally.messages, Ordering::Relaxed);
                            if allowed {
                                let list = &members[r as usize];
                                out.clear();
                                let t0 = Instant::now();
                                backend.push(room, list, &mut out);
                                tally.push.record(elapsed_ns(t0)).ok();
                                tally.fanned += list.len() as u64;
                                tally.pushed += out.len() as u64;
                            }
                        }
                        if per_thread_rate > 0.0 {
                            let due =
                                Duration::from_secs_f64(tally.messages as f64 / per_thread_rate);
                            if let Some(wait) = due.checked_sub(start.elapsed()) {
                                thread::sleep(wait);
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut last = (0u64, Instant::now());
        while start.elapsed().as_secs_f64() < a.seconds {
            thread::sleep(Duration::from_millis(1000).min(Duration::from_secs_f64(a.seconds)));
            let done: u64 = progress.iter().map(|p| p.0.load(Ordering::Relaxed)).sum();
            let rate = (done - last.0) as f64 / last.1.elapsed().as_secs_f64();
            eprintln!(
                "  [{name}] {:>5.1}s  {:>10} messages/s",
                start.elapsed().as_secs_f64(),
                count(rate)
            );
            last = (done, Instant::now());
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let wall = start.elapsed();
    let mut total = Tally::new();
    for t in &tallies {
        total.merge(t);
    }
    (total, wall)
}

/// A per-thread counter alone on its cache line.
#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// A count with a unit that fits: `950`, `12.3 K`, `4.56 M`.
fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} K", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// A duration in nanoseconds with a unit that fits: `85 ns`, `12.4 µs`, `13.18 ms`.
fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn live_bytes(region: &Region<'_, System>) -> i64 {
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64 + c.bytes_reallocated as i64
}

/// A loaded mutegate engine: in memory, or on a durable store in `dir`.
fn load_engine(
    a: &Args,
    setup: &Setup,
    notify: &[(u32, u32, NotifyLevel)],
    dir: Option<&std::path::Path>,
) -> Engine {
    let builder = Engine::builder()
        .clock(ManualClock::new(NOW))
        .capacity_hint(a.users / 4)
        .sync(a.sync.into());
    let engine = match dir {
        None => builder.build(),
        Some(dir) => builder.open(dir).expect("open the durable store"),
    };
    setup.world.load(&engine);
    for &(u, r, level) in notify {
        let (user, room) = (setup.world.user(u), setup.world.room(r));
        engine
            .set_notification_level(user, room, level, MuteFor::Forever)
            .expect("valid");
    }
    engine
}

/// Loads a naive store with the same state as the engine (the world, then the same
/// notification settings), measures its live heap, and runs the pipeline on it.
fn baseline<B: Baseline + Backend>(
    name: &str,
    load: impl FnOnce() -> B,
    setup: &Setup,
    notify: &[(u32, u32, NotifyLevel)],
    members: &[Vec<&str>],
    a: &Args,
) -> Side {
    let region = Region::new(GLOBAL);
    let store = load();
    for &(u, r, level) in notify {
        store.set_level(setup.world.user(u), setup.world.room(r), level);
    }
    let heap = live_bytes(&region);
    let (tally, wall) = run(name, &store, setup, members, a);
    Side {
        tally,
        wall,
        heap: Some(heap),
    }
}

/// One side's results: what it did, its tally and wall time, and its live heap.
struct Side {
    tally: Tally,
    wall: Duration,
    heap: Option<i64>,
}

fn main() {
    let a = Args::parse();
    assert!(
        a.threads > 0 && a.users > 0 && a.rooms > 0,
        "threads, users and rooms must be positive"
    );
    let sides = 1 + 2 * usize::from(!a.skip_naive) + usize::from(!a.in_memory);
    if a.nodes > 0 {
        eprintln!(
            "loadgen: {} users, {} rooms, {} threads over {} replicated nodes, {:.0}s",
            a.users, a.rooms, a.threads, a.nodes, a.seconds
        );
    } else {
        eprintln!(
            "loadgen: {} users, {} rooms, {} threads, {} sides of {:.0}s each",
            a.users, a.rooms, a.threads, sides, a.seconds
        );
    }
    let t = Instant::now();
    let setup = Setup::new(&a);
    let notify = setup.notify_settings(a.notify, a.seed);
    let members: Vec<Vec<&str>> = (0..a.rooms).map(|r| setup.member_ids(r)).collect();
    let memberships: usize = members.iter().map(Vec::len).sum();
    eprintln!(
        "  world generated in {:.1}s ({memberships} memberships)",
        t.elapsed().as_secs_f64()
    );

    if a.nodes > 0 {
        #[cfg(feature = "redis")]
        {
            cluster::main(&a, &setup, &notify, &members);
            return;
        }
        #[cfg(not(feature = "redis"))]
        {
            eprintln!(
                "cluster mode needs the redis feature: cargo run --release --features redis --example loadgen -- --nodes 3"
            );
            std::process::exit(2);
        }
    }

    let region = Region::new(GLOBAL);
    let engine = load_engine(&a, &setup, &notify, None);
    let heap = live_bytes(&region);
    let stats = engine.stats();
    eprintln!("  mutegate loaded: {stats:?}");
    let (tally, wall) = run("mutegate, in memory", &engine, &setup, &members, &a);
    drop(engine);
    let memory = Side {
        tally,
        wall,
        heap: Some(heap),
    };

    let honest = (!a.skip_naive).then(|| {
        baseline(
            "honest naive, in memory",
            || setup.world.honest(),
            &setup,
            &notify,
            &members,
            &a,
        )
    });
    let naive = (!a.skip_naive).then(|| {
        baseline(
            "old naive, in memory",
            || setup.world.naive(),
            &setup,
            &notify,
            &members,
            &a,
        )
    });

    let store = tempfile::tempdir().expect("temporary directory");
    let durable = (!a.in_memory).then(|| {
        let engine = load_engine(&a, &setup, &notify, Some(store.path()));
        let (tally, wall) = run("mutegate, durable", &engine, &setup, &members, &a);
        Side {
            tally,
            wall,
            heap: None,
        }
    });
    let disk: u64 = std::fs::read_dir(store.path())
        .map(|d| {
            d.filter_map(|f| f.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);

    let timer = {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).expect("bounds");
        for _ in 0..100_000 {
            let t0 = Instant::now();
            h.record(elapsed_ns(t0)).ok();
        }
        h.value_at_quantile(0.5)
    };
    report::report(
        &a,
        &stats,
        &report::Sides {
            memory: &memory,
            honest: honest.as_ref(),
            naive: naive.as_ref(),
            durable: durable.as_ref(),
        },
        disk,
        timer,
    );
}
