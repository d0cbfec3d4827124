//! Issue 13's targets, measured in short interleaved stretches.
//!
//! Criterion times each contender for seconds on end, and on this shared VM its medians
//! drift 30-50% between runs. Here the contenders of one measure take turns: each round
//! every contender first runs one stretch untimed (re-warming its code and its tables),
//! then one timed stretch of fresh requests, the order of contenders rotating from round
//! to round. A contender's figure for a round is its ns per request; a ratio is taken
//! per round, then the median over the rounds is one run's ratio. Three runs (in one
//! process, fresh rounds each) give the median and the spread that BENCHMARKS.md quotes.
//!
//! ```sh
//! cargo bench --bench interleaved               # checks, handles, fan-out, mutations (1M users)
//! cargo bench --bench interleaved -- scaling    # can_send / should_push / push_targets vs B at 10k..4M
//! cargo bench --bench interleaved -- reopen     # reopening 1M entries, each in a fresh process
//! ```

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mutegate::{
    Engine, ManualClock, Mentions, Module, MuteFor, NotifyLevel, RoomHandle, SyncPolicy, Target,
    TargetHandle, UserHandle,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use support::interleave::{
    Contender, QUICK, counting, interleave, median, quick, report, rounds, runs,
};
use support::{Baseline, Honest, Ids, Mix, NOW, World, baseline_map, fan_out_room};

/// `(user, room)` pairs shuffled and repeated to at least `n`.
fn shuffled(pairs: &[(u32, u32)], n: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut p = pairs.to_vec();
    p.shuffle(&mut StdRng::seed_from_u64(seed));
    p.iter().cycle().take(n.max(p.len())).copied().collect()
}

/// The world's engine, loaded, with a capacity hint or not.
fn engine_for(world: &World, hint: Option<usize>) -> Engine {
    let mut b = Engine::builder().clock(ManualClock::new(NOW));
    if let Some(h) = hint {
        b = b.capacity_hint(h);
    }
    let e = b.build();
    world.load(&e);
    e
}

/// Handles of every request's user and room, resolved once (as a pipeline would).
fn handles(engine: &Engine, world: &World, pairs: &[(u32, u32)]) -> Vec<(UserHandle, RoomHandle)> {
    pairs
        .iter()
        .map(|&(u, r)| {
            (
                engine.user_handle(world.user(u)).unwrap(),
                engine.room_handle(world.room(r)).unwrap(),
            )
        })
        .collect()
}

fn checks() {
    let users = if quick() { 20_000 } else { 1_000_000 };
    let world = World::generate(users, users / 10, 1 << 20, Mix::default(), 1);
    check_measures(&world);
    fan_out();
    mutations(&world);
}

/// can_send (by id and by handle) and should_push against B and the honest store.
fn check_measures(world: &World) {
    let engine = world.engine();
    // The handle pipeline's own engine: every user and room it sees is pinned.
    let by_handle = world.engine();
    let honest = world.honest();
    // The old naive store (owned `String` keys built per lookup, SipHash), beside it.
    let naive = world.naive();
    let b = baseline_map(&world.users);
    let reqs = &world.requests;
    let muted = shuffled(&world.member_mutes, 1 << 16, 7);
    let allowed = shuffled(&world.allowed, 1 << 16, 8);
    let (req_h, muted_h, allowed_h) = (
        handles(&by_handle, world, reqs),
        handles(&by_handle, world, &muted),
        handles(&by_handle, world, &allowed),
    );
    let at = engine.at(NOW);
    let hat = by_handle.at(NOW);
    for (case, pairs, hs) in [
        ("random senders", reqs, &req_h),
        ("muted senders (shuffled)", &muted, &muted_h),
        ("allow-listed senders (shuffled)", &allowed, &allowed_h),
    ] {
        let key = |i: usize| {
            let (u, r) = pairs[i];
            (world.user(u), world.room(r))
        };
        // Everyone answers what the engine answers.
        for (i, &(uh, rh)) in hs.iter().enumerate().take(50_000) {
            let (u, r) = key(i);
            let want = at.can_send(u, Target::room(r));
            assert_eq!(honest.can_send(u, Module::Room, r, NOW), want, "{u} {r}");
            assert_eq!(naive.can_send(u, Module::Room, r, NOW), want, "{u} {r}");
            assert_eq!(
                hat.can_send_handle(uh, TargetHandle::room(rh)),
                want,
                "{u} {r}"
            );
        }
        let mut c = vec![
            Contender::new("B (one HashMap<String,u64> hit)", |s, n| {
                (s..s + n).map(|i| *b.get(key(i).0).unwrap() as usize).sum()
            }),
            counting("mutegate can_send", |i| {
                let (u, r) = key(i);
                at.can_send(u, Target::room(r))
            }),
            counting("mutegate can_send_handle", |i| {
                let (u, r) = hs[i];
                hat.can_send_handle(u, TargetHandle::room(r))
            }),
            counting("honest naive can_send", |i| {
                let (u, r) = key(i);
                honest.can_send(u, Module::Room, r, NOW)
            }),
            counting("old naive can_send", |i| {
                let (u, r) = key(i);
                naive.can_send(u, Module::Room, r, NOW)
            }),
        ];
        let m = interleave(&mut c, pairs.len(), 4096, 11);
        report(
            &format!("can_send, {} users, {case}", world.users.len()),
            &m,
        );
    }
    let key = |i: usize| {
        let (u, r) = reqs[i];
        (world.user(u), world.room(r))
    };
    let mut c = vec![
        Contender::new("B (one HashMap<String,u64> hit)", |s, n| {
            (s..s + n).map(|i| *b.get(key(i).0).unwrap() as usize).sum()
        }),
        counting("mutegate should_push", |i| {
            let (u, r) = key(i);
            at.should_push(u, r)
        }),
        counting("mutegate should_push_handle", |i| {
            let (u, r) = req_h[i];
            hat.should_push_handle(u, r, false)
        }),
        counting("honest naive should_push", |i| {
            let (u, r) = key(i);
            honest.should_push(u, r)
        }),
        counting("old naive should_push", |i| {
            let (u, r) = key(i);
            naive.should_push(u, r)
        }),
    ];
    let m = interleave(&mut c, reqs.len(), 4096, 12);
    report(
        &format!("should_push, {} users, random requests", world.users.len()),
        &m,
    );
}

/// The muted-sender check alone for a few seconds, for a profiler.
fn profile_muted() {
    let world = World::generate(1_000_000, 100_000, 1 << 16, Mix::default(), 1);
    let engine = world.engine();
    let muted = shuffled(&world.member_mutes, 1 << 16, 7);
    let at = engine.at(NOW);
    let started = Instant::now();
    let mut denied = 0usize;
    while started.elapsed() < Duration::from_secs(8) {
        for &(u, r) in &muted {
            denied += usize::from(!at.can_send(world.user(u), Target::room(world.room(r))));
        }
    }
    println!("{denied}");
}

/// One message's fan-out over a 10k-member room, per member.
fn fan_out() {
    const MEMBERS: usize = 10_000;
    for (label, share) in [("5%", 0.05), ("50%", 0.5)] {
        let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
        let honest = Honest::default();
        let naive = support::Naive::default();
        let ids = fan_out_room(&engine, &[&honest, &naive], "big", MEMBERS, share, 3);
        // The hand-written filter: the room's non-default members in one ahash map.
        let mut filter: HashMap<String, NotifyLevel, ahash::RandomState> = HashMap::default();
        for i in 0..MEMBERS {
            let level = engine.notification_level(ids.get(i), "big");
            if level != NotifyLevel::All {
                filter.insert(ids.get(i).to_string(), level);
            }
        }
        let mut members: Vec<&str> = (0..MEMBERS).map(|i| ids.get(i)).collect();
        members.shuffle(&mut StdRng::seed_from_u64(5));
        let want = engine.push_targets("big", &members, Mentions::None).len();
        assert_eq!(honest.push_targets("big", &members).len(), want);
        assert_eq!(naive.push_targets("big", &members).len(), want);
        let mut out_a: Vec<&&str> = Vec::with_capacity(MEMBERS);
        let mut out_b: Vec<&&str> = Vec::with_capacity(MEMBERS);
        let at = engine.at(NOW);
        // Each "request" is one whole fan-out; figures are divided by MEMBERS below.
        let mut c = vec![
            Contender::new("hand-written ahash filter", |_, n| {
                let mut total = 0;
                for _ in 0..n {
                    out_a.clear();
                    out_a.extend(
                        members
                            .iter()
                            .filter(|m| filter.get(**m).is_none_or(|&l| l == NotifyLevel::All)),
                    );
                    total += out_a.len();
                }
                total
            }),
            Contender::new("mutegate push_targets_into", |_, n| {
                let mut total = 0;
                for _ in 0..n {
                    out_b.clear();
                    at.push_targets_into("big", &members, Mentions::None, &mut out_b);
                    total += out_b.len();
                }
                total
            }),
            Contender::new("honest naive push_targets", |_, n| {
                (0..n)
                    .map(|_| honest.push_targets("big", &members).len())
                    .sum()
            }),
            Contender::new("old naive push_targets", |_, n| {
                (0..n)
                    .map(|_| naive.push_targets("big", &members).len())
                    .sum()
            }),
            // The floor: what reading every member's id (its length and last byte)
            // costs, with no lookup at all.
            Contender::new("floor: read each id once", |_, n| {
                (0..n)
                    .map(|_| {
                        members
                            .iter()
                            .map(|m| m.len() + usize::from(m.as_bytes()[m.len() - 1]))
                            .sum::<usize>()
                    })
                    .sum()
            }),
        ];
        let mut m = interleave(&mut c, 1 << 20, 8, 13);
        for run in &mut m.ns {
            for x in run.iter_mut() {
                *x /= MEMBERS as f64;
            }
        }
        report(
            &format!("push_targets, 10k members, {label} non-default (ns per member)"),
            &m,
        );
    }
}

/// Single-thread mutations: mute then unmute one member, ops per second.
fn mutations(world: &World) {
    let engine = engine_for(world, None);
    let reqs = &world.requests;
    let mut per_run = Vec::new();
    for _ in 0..runs() {
        let mut per_round = Vec::new();
        for round in 0..rounds() {
            let s = round * 4096 % (reqs.len() - 4096);
            let t = Instant::now();
            support::mute_unmute(&engine, world, &reqs[s..s + 4096]);
            per_round.push(8192.0 / t.elapsed().as_secs_f64() / 1e6);
        }
        per_run.push(median(&mut per_round));
    }
    let (lo, hi) = (
        per_run.iter().copied().fold(f64::INFINITY, f64::min),
        per_run.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "\nmutations, one thread, mute + unmute a member: {:.2} M ops/s [{lo:.2}-{hi:.2}]",
        median(&mut per_run)
    );
}

/// can_send, should_push and a fan-out against B at growing sizes, with and without a
/// capacity hint equal to the user count.
fn scaling() {
    for users in [10_000, 100_000, 1_000_000, 4_000_000] {
        let world = World::generate(users, users / 10, 1 << 20, Mix::default(), 21);
        let b = baseline_map(&world.users);
        let engine = engine_for(&world, None);
        let hinted = engine_for(&world, Some(users));
        // The guidance: hint the ids that will have state, not every user.
        let stateful = engine_for(&world, Some(world.entries()));
        let reqs = &world.requests;
        let key = |i: usize| {
            let (u, r) = reqs[i];
            (world.user(u), world.room(r))
        };
        let (at, ht, st) = (engine.at(NOW), hinted.at(NOW), stateful.at(NOW));
        let mut c = vec![
            Contender::new("B", |s, n| {
                (s..s + n).map(|i| *b.get(key(i).0).unwrap() as usize).sum()
            }),
            counting("can_send", |i| {
                let (u, r) = key(i);
                at.can_send(u, Target::room(r))
            }),
            counting("can_send, capacity_hint(users)", |i| {
                let (u, r) = key(i);
                ht.can_send(u, Target::room(r))
            }),
            counting("can_send, capacity_hint(entries)", |i| {
                let (u, r) = key(i);
                st.can_send(u, Target::room(r))
            }),
            counting("should_push", |i| {
                let (u, r) = key(i);
                at.should_push(u, r)
            }),
            counting("should_push, capacity_hint(users)", |i| {
                let (u, r) = key(i);
                ht.should_push(u, r)
            }),
            counting("should_push, capacity_hint(entries)", |i| {
                let (u, r) = key(i);
                st.should_push(u, r)
            }),
        ];
        let m = interleave(&mut c, reqs.len(), 4096, 22);
        report(&format!("scaling: {users} users, {} rooms", users / 10), &m);
        // A 10k-member fan-out (5% non-default) in this world's engine, per member,
        // against B per lookup.
        let ids = fan_out_room(&engine, &[], "fan-out-room", 10_000, 0.05, 3);
        let members: Vec<&str> = (0..10_000).map(|i| ids.get(i)).collect();
        let mut out = Vec::with_capacity(10_000);
        let mut c = vec![
            Contender::new("B", |s, n| {
                (s..s + n).map(|i| *b.get(key(i).0).unwrap() as usize).sum()
            }),
            Contender::new("push_targets, per member", |_, n| {
                let mut total = 0;
                for _ in 0..n.div_ceil(10_000) {
                    out.clear();
                    at.push_targets_into("fan-out-room", &members, Mentions::None, &mut out);
                    total += out.len();
                }
                total
            }),
        ];
        let m = interleave(&mut c, reqs.len(), 20_000, 23);
        report(
            &format!("scaling: {users} users, fan-out over 10k members"),
            &m,
        );
    }
}

/// Reopening a store of 1M active member mutes, each open in a fresh process.
fn reopen() {
    const ENTRIES: usize = 1_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let users = Ids::numbered("user", ENTRIES);
        let rooms = Ids::numbered("room", 10_000);
        let e = Engine::builder()
            .clock(ManualClock::new(NOW))
            .sync(SyncPolicy::Never)
            .compact_after(u64::MAX)
            .open(dir.path())
            .expect("open");
        for i in 0..ENTRIES {
            e.mute_members(
                rooms.get(i % rooms.len()),
                [users.get(i)],
                MuteFor::hours(1),
            )
            .unwrap();
        }
        e.sync().unwrap();
    }
    if std::env::var_os("MUTEGATE_KEEP_STORE").is_some() {
        // For a profiler: keep the store and say where it is.
        let kept = dir.keep();
        println!("store kept at {}", kept.display());
        return;
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
            .args(["open-once", dir.path().to_str().expect("utf-8 temp path")])
            .output()
            .expect("run a child");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ms: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("ms");
        times.push(ms);
    }
    let (lo, hi) = (
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "\nreopen 1M member mutes from the log, fresh process: {:.2} s [{:.2}-{:.2}] (median of 5)",
        median(&mut times) / 1e3,
        lo / 1e3,
        hi / 1e3
    );
}

/// The child of [`reopen`]: opens the store once and prints the milliseconds it took.
fn open_once(dir: &str) {
    let t = Instant::now();
    let e = Engine::builder()
        .clock(ManualClock::new(NOW))
        .sync(SyncPolicy::Never)
        .compact_after(u64::MAX)
        .open(dir)
        .expect("open");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(e.stats().member_mutes, 1_000_000);
    println!("{ms}");
    // Skip the teardown: the figure is the open.
    std::process::exit(0);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "open-once") {
        return open_once(&args[i + 1]);
    }
    // `cargo bench` passes `--bench`; a filter word picks one part.
    let pick = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    if args.iter().any(|a| a == "--test") {
        QUICK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let started = Instant::now();
    match pick {
        Some("scaling") => scaling(),
        Some("reopen") => reopen(),
        Some("fan-out") => fan_out(),
        Some("profile-muted") => profile_muted(),
        _ => checks(),
    }
    eprintln!("({:.0?})", Duration::from_secs(started.elapsed().as_secs()));
}
