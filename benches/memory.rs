//! Memory per active mute entry at 1M entries, for each kind, measured two ways:
//! - requested: bytes requested from the allocator and still live (a counting
//!   allocator), so the allocator's overhead per block is not included;
//! - resident: the growth of the process's resident set (`/proc/self/statm`) while the
//!   entries are added, which is what glibc actually hands out, overhead and
//!   fragmentation included. Each case runs in a child process of its own, so no case
//!   reuses pages another one freed.
//!
//! `cargo bench --bench memory`

mod support;

use std::alloc::System;

use mutegate::{Engine, ManualClock, Module, ModuleChange, MuteFor, NotifyLevel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::{Ids, Mix, NOW, World};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ENTRIES: usize = 1_000_000;
const ROOMS: usize = 100_000;

/// The process's resident set, in bytes (4 KiB pages).
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Live bytes allocated by `fill`, per entry.
fn per_entry(label: &str, entries: usize, fill: impl FnOnce(&Engine, &ManualClock)) -> f64 {
    let rss = resident();
    let region = Region::new(GLOBAL);
    let clock = ManualClock::new(NOW);
    let engine = Engine::builder()
        .clock(clock.clone())
        .capacity_hint(entries)
        .build();
    let fixed = region.change();
    let fixed = fixed.bytes_allocated as isize - fixed.bytes_deallocated as isize;
    fill(&engine, &clock);
    let c = region.change();
    let live = c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated;
    let per = live as f64 / entries as f64;
    let active = {
        let s = engine.stats();
        s.notification_mutes + s.member_mutes + s.module_mutes + s.room_mutes + s.allow_entries
    };
    assert_eq!(active, entries, "{label}: every entry is active");
    let rss = resident().saturating_sub(rss) as f64 / entries as f64;
    println!(
        "memory/{label:<28} {entries:>9} entries  {per:>7.1} bytes/entry requested, {rss:>7.1} resident  (of which fixed filters {:.1})",
        fixed as f64 / entries as f64
    );
    drop(engine);
    per
}

/// The cases, each run in a child process of its own (`--case NAME`).
const CASES: [&str; 8] = [
    "notify_one_per_user",
    "notify_ten_per_user",
    "member_mutes",
    "member_mutes_distinct_ends",
    "module_mutes",
    "room_mutes",
    "allow_entries",
    "bench_world_mixed",
];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not run this harness.
    let args: Vec<String> = std::env::args().collect();
    let Some(case) = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1))
    else {
        for case in CASES {
            let status = std::process::Command::new(std::env::current_exe().expect("this bench"))
                .args(["--case", case])
                .status()
                .expect("run a case");
            assert!(status.success(), "case {case} failed: {status}");
        }
        return;
    };
    run(case);
}

fn run(case: &str) {
    let users = Ids::numbered("user", ENTRIES);
    let rooms = Ids::numbered("room", ROOMS);
    let mut rng = StdRng::seed_from_u64(7);
    let zipf = Zipf::new(ROOMS as f64, 1.0).unwrap();
    let zroom: Vec<usize> = (0..ENTRIES)
        .map(|_| zipf.sample(&mut rng) as usize - 1)
        .collect();

    if case == "notify_one_per_user" {
        per_entry("notify_one_per_user", ENTRIES, |e, _| {
            for (i, &r) in zroom.iter().enumerate() {
                e.set_notification_level(
                    users.get(i),
                    rooms.get(r),
                    NotifyLevel::Off,
                    MuteFor::Forever,
                )
                .unwrap();
            }
        });
    }
    if case == "notify_ten_per_user" {
        per_entry("notify_ten_per_user", ENTRIES, |e, _| {
            for i in 0..ENTRIES {
                let room = rooms.get((i * 7919 + i / 10) % ROOMS);
                e.set_notification_level(
                    users.get(i / 10),
                    room,
                    NotifyLevel::Off,
                    MuteFor::Forever,
                )
                .unwrap();
            }
        });
    }
    if case == "member_mutes" {
        per_entry("member_mutes", ENTRIES, |e, _| {
            for (i, &r) in zroom.iter().enumerate() {
                e.mute_members(rooms.get(r), [users.get(i)], MuteFor::hours(1))
                    .unwrap();
            }
        });
    }
    // As a server makes them: each mute an hour from the millisecond it was made, so no
    // two end at the same instant (the case above shares one end, a batch's).
    if case == "member_mutes_distinct_ends" {
        per_entry("member_mutes_distinct_ends", ENTRIES, |e, clock| {
            for (i, &r) in zroom.iter().enumerate() {
                clock.advance(std::time::Duration::from_millis(1));
                e.mute_members(rooms.get(r), [users.get(i)], MuteFor::hours(1))
                    .unwrap();
            }
        });
    }
    if case == "module_mutes" {
        per_entry("module_mutes", ENTRIES, |e, _| {
            for i in 0..ENTRIES {
                let change = ModuleChange::new().set(Module::ALL[i % 4], true);
                e.set_module_mutes(users.get(i), change).unwrap();
            }
        });
    }
    let many_rooms = Ids::numbered("room", ENTRIES);
    if case == "room_mutes" {
        per_entry("room_mutes", ENTRIES, |e, _| {
            for i in 0..ENTRIES {
                e.mute_room(many_rooms.get(i), MuteFor::Forever).unwrap();
            }
        });
    }
    if case == "allow_entries" {
        per_entry("allow_entries", ENTRIES, |e, _| {
            for (i, &r) in zroom.iter().enumerate() {
                e.allow(rooms.get(r), [users.get(i)]).unwrap();
            }
        });
    }
    if case != "bench_world_mixed" {
        return;
    }
    let world = World::generate(1_000_000, 100_000, 1, Mix::default(), 1);
    let n = world.entries();
    let rss = resident();
    let region = Region::new(GLOBAL);
    let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
    world.load(&engine);
    let c = region.change();
    let live = c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated;
    println!(
        "memory/{:<28} {n:>9} entries  {:>7.1} bytes/entry requested, {:>7.1} resident  (1M users x 100k rooms, 5% with state)",
        "bench_world_mixed",
        live as f64 / n as f64,
        resident().saturating_sub(rss) as f64 / n as f64
    );
    let _ = rng.random::<u8>();
}
