//! Memory per active mute entry at 1M entries, for each kind, measured with a counting
//! allocator (bytes requested from the allocator and still live, so allocator overhead
//! per block is not included).
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

/// Live bytes allocated by `fill`, per entry.
fn per_entry(label: &str, entries: usize, fill: impl FnOnce(&Engine)) -> f64 {
    let region = Region::new(GLOBAL);
    let engine = Engine::builder()
        .clock(ManualClock::new(NOW))
        .capacity_hint(entries)
        .build();
    let fixed = region.change();
    let fixed = fixed.bytes_allocated as isize - fixed.bytes_deallocated as isize;
    fill(&engine);
    let c = region.change();
    let live = c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated;
    let per = live as f64 / entries as f64;
    let active = {
        let s = engine.stats();
        s.notification_mutes + s.member_mutes + s.module_mutes + s.room_mutes + s.allow_entries
    };
    assert_eq!(active, entries, "{label}: every entry is active");
    println!(
        "memory/{label:<28} {entries:>9} entries  {per:>7.1} bytes/entry  (of which fixed filters {:.1})",
        fixed as f64 / entries as f64
    );
    drop(engine);
    per
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not run this harness.
    let users = Ids::numbered("user", ENTRIES);
    let rooms = Ids::numbered("room", ROOMS);
    let mut rng = StdRng::seed_from_u64(7);
    let zipf = Zipf::new(ROOMS as f64, 1.0).unwrap();
    let zroom: Vec<usize> = (0..ENTRIES)
        .map(|_| zipf.sample(&mut rng) as usize - 1)
        .collect();

    per_entry("notify_one_per_user", ENTRIES, |e| {
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
    per_entry("notify_ten_per_user", ENTRIES, |e| {
        for i in 0..ENTRIES {
            let room = rooms.get((i * 7919 + i / 10) % ROOMS);
            e.set_notification_level(users.get(i / 10), room, NotifyLevel::Off, MuteFor::Forever)
                .unwrap();
        }
    });
    per_entry("member_mutes", ENTRIES, |e| {
        for (i, &r) in zroom.iter().enumerate() {
            e.mute_members(rooms.get(r), [users.get(i)], MuteFor::hours(1))
                .unwrap();
        }
    });
    per_entry("module_mutes", ENTRIES, |e| {
        for i in 0..ENTRIES {
            let change = ModuleChange::new().set(Module::ALL[i % 4], true);
            e.set_module_mutes(users.get(i), change).unwrap();
        }
    });
    let many_rooms = Ids::numbered("room", ENTRIES);
    per_entry("room_mutes", ENTRIES, |e| {
        for i in 0..ENTRIES {
            e.mute_room(many_rooms.get(i), MuteFor::Forever).unwrap();
        }
    });
    per_entry("allow_entries", ENTRIES, |e| {
        for (i, &r) in zroom.iter().enumerate() {
            e.allow(rooms.get(r), [users.get(i)]).unwrap();
        }
    });
    let world = World::generate(1_000_000, 100_000, 1, Mix::default(), 1);
    let n = world.entries();
    let region = Region::new(GLOBAL);
    let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
    world.load(&engine);
    let c = region.change();
    let live = c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated;
    println!(
        "memory/{:<28} {n:>9} entries  {:>7.1} bytes/entry  (1M users x 100k rooms, 5% with state)",
        "bench_world_mixed",
        live as f64 / n as f64
    );
    let _ = rng.random::<u8>();
}
