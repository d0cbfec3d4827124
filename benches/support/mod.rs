//! The deterministic data set shared by the benches and the `loadgen` example.
//!
//! Users and rooms are numbered; their ids live packed in one buffer (no `String` per id).
//! Room popularity is Zipf-distributed; about 5% of users carry some mute state.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::RwLock;

use mutegate::{Engine, ManualClock, Module, ModuleChange, MuteFor, NotifyLevel};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

mod honest;
pub mod interleave;
pub use honest::Honest;

/// What the benches compare the engine with: the naive stores.
pub trait Baseline {
    /// Mutes `user` in `room` until `until` (ms; 0 lifts it).
    fn mute_member(&self, room: &str, user: &str, until: u64);
    fn set_level(&self, user: &str, room: &str, level: NotifyLevel);
    fn mute_module(&self, user: &str, m: Module, until: u64);
    fn mute_room(&self, room: &str, until: u64);
    fn allow(&self, room: &str, user: &str);
    fn can_send(&self, user: &str, module: Module, room: &str, now: u64) -> bool;
    fn should_push(&self, user: &str, room: &str) -> bool;
    fn push_targets<'m>(&self, room: &str, members: &[&'m str]) -> Vec<&'m str>;
}

/// The fake clock's fixed time in the benches.
pub const NOW: u64 = 1_700_000_000_000;

/// Many ids packed in one buffer.
pub struct Ids {
    buf: String,
    ends: Vec<u32>,
}

impl Ids {
    /// `prefix0`, `prefix1`, ... `prefix{n-1}`.
    pub fn numbered(prefix: &str, n: usize) -> Ids {
        let mut buf = String::with_capacity(n * (prefix.len() + 7));
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            use std::fmt::Write;
            write!(buf, "{prefix}{i}").unwrap();
            ends.push(u32::try_from(buf.len()).expect("ids fit in 4 GiB"));
        }
        Ids { buf, ends }
    }

    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// What share of users carry which kind of state.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// Share of users with any mute state.
    pub stateful: f64,
    /// Share of rooms muted room-wide (each with a few allow-listed users).
    pub muted_rooms: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            stateful: 0.05,
            muted_rooms: 0.01,
        }
    }
}

/// One generated world: ids, who is muted where, and requests in random order.
pub struct World {
    pub users: Ids,
    pub rooms: Ids,
    /// (user, room) of member mutes.
    pub member_mutes: Vec<(u32, u32)>,
    /// (user, room, level) of notification settings.
    pub notify: Vec<(u32, u32, NotifyLevel)>,
    /// (user, module) of module mutes.
    pub module_mutes: Vec<(u32, Module)>,
    /// Rooms muted room-wide.
    pub room_mutes: Vec<u32>,
    /// (user, room) allow-list entries (in muted rooms).
    pub allowed: Vec<(u32, u32)>,
    /// (user, room) check requests, random order, Zipf rooms.
    pub requests: Vec<(u32, u32)>,
}

impl World {
    /// Generates a world from `seed`.
    pub fn generate(users: usize, rooms: usize, requests: usize, mix: Mix, seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let zipf = Zipf::new(rooms as f64, 1.0).expect("valid zipf");
        // Zipf rank 1 is the most popular room; shuffle ranks so popularity is not by id.
        let mut rank_to_room: Vec<u32> = (0..rooms as u32).collect();
        rank_to_room.shuffle(&mut rng);
        let zroom = |rng: &mut StdRng| rank_to_room[zipf.sample(rng) as usize - 1];

        let mut w = World {
            users: Ids::numbered("user", users),
            rooms: Ids::numbered("room", rooms),
            member_mutes: Vec::new(),
            notify: Vec::new(),
            module_mutes: Vec::new(),
            room_mutes: Vec::new(),
            allowed: Vec::new(),
            requests: Vec::with_capacity(requests),
        };
        for u in 0..users as u32 {
            if !rng.random_bool(mix.stateful) {
                continue;
            }
            // A stateful user has one or two entries of random kinds.
            for _ in 0..rng.random_range(1..=2) {
                match rng.random_range(0..10) {
                    0..=4 => {
                        let level = if rng.random_bool(0.8) {
                            NotifyLevel::Off
                        } else {
                            NotifyLevel::MentionsOnly
                        };
                        w.notify.push((u, zroom(&mut rng), level));
                    }
                    5..=8 => w.member_mutes.push((u, zroom(&mut rng))),
                    _ => w
                        .module_mutes
                        .push((u, Module::ALL[rng.random_range(0..4)])),
                }
            }
        }
        for r in 0..rooms as u32 {
            if rng.random_bool(mix.muted_rooms) {
                w.room_mutes.push(r);
                for _ in 0..3 {
                    w.allowed.push((rng.random_range(0..users as u32), r));
                }
            }
        }
        for _ in 0..requests {
            w.requests
                .push((rng.random_range(0..users as u32), zroom(&mut rng)));
        }
        w
    }

    pub fn user(&self, i: u32) -> &str {
        self.users.get(i as usize)
    }

    pub fn room(&self, i: u32) -> &str {
        self.rooms.get(i as usize)
    }

    /// How many mute entries the world holds.
    pub fn entries(&self) -> usize {
        self.member_mutes.len()
            + self.notify.len()
            + self.module_mutes.len()
            + self.room_mutes.len()
            + self.allowed.len()
    }

    /// Loads the world into `engine` (timed mutes run for an hour past [`NOW`]).
    pub fn load(&self, engine: &Engine) {
        for &(u, r) in &self.member_mutes {
            engine
                .mute_members(self.room(r), [self.user(u)], MuteFor::hours(1))
                .unwrap();
        }
        for &(u, r, level) in &self.notify {
            engine
                .set_notification_level(self.user(u), self.room(r), level, MuteFor::Forever)
                .unwrap();
        }
        for &(u, m) in &self.module_mutes {
            engine
                .set_module_mutes(self.user(u), ModuleChange::new().set(m, true))
                .unwrap();
        }
        for &r in &self.room_mutes {
            engine.mute_room(self.room(r), MuteFor::Forever).unwrap();
        }
        for &(u, r) in &self.allowed {
            engine.allow(self.room(r), [self.user(u)]).unwrap();
        }
    }

    /// A fresh engine on a fake clock with this world loaded.
    pub fn engine(&self) -> Engine {
        let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
        self.load(&engine);
        engine
    }

    /// The naive baseline with this world loaded.
    pub fn naive(&self) -> Naive {
        self.baseline()
    }

    /// The honest naive baseline with this world loaded.
    pub fn honest(&self) -> Honest {
        self.baseline()
    }

    fn baseline<B: Baseline + Default>(&self) -> B {
        let n = B::default();
        for &(u, r) in &self.member_mutes {
            n.mute_member(self.room(r), self.user(u), NOW + 3_600_000);
        }
        for &(u, r, level) in &self.notify {
            n.set_level(self.user(u), self.room(r), level);
        }
        for &(u, m) in &self.module_mutes {
            n.mute_module(self.user(u), m, u64::MAX);
        }
        for &r in &self.room_mutes {
            n.mute_room(self.room(r), u64::MAX);
        }
        for &(u, r) in &self.allowed {
            n.allow(self.room(r), self.user(u));
        }
        n
    }
}

type Pairs = RwLock<HashMap<(String, String), u64>>;

/// What a developer writes in an afternoon: one `RwLock<HashMap<(String, String), u64>>`
/// per mute kind, owned keys built for every lookup.
#[derive(Default)]
pub struct Naive {
    notify: Pairs,
    members: Pairs,
    modules: Pairs,
    room_mutes: Pairs,
    allow: Pairs,
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

fn module_name(m: Module) -> &'static str {
    match m {
        Module::P2p => "p2p",
        Module::Team => "team",
        Module::Room => "room",
        Module::QChat => "qchat",
    }
}

impl Baseline for Naive {
    fn mute_member(&self, room: &str, user: &str, until: u64) {
        self.members.write().unwrap().insert(key(room, user), until);
    }
    fn set_level(&self, user: &str, room: &str, level: NotifyLevel) {
        self.notify
            .write()
            .unwrap()
            .insert(key(user, room), level as u64);
    }
    fn mute_module(&self, user: &str, m: Module, until: u64) {
        self.modules
            .write()
            .unwrap()
            .insert(key(user, module_name(m)), until);
    }
    fn mute_room(&self, room: &str, until: u64) {
        self.room_mutes
            .write()
            .unwrap()
            .insert(key(room, ""), until);
    }
    fn allow(&self, room: &str, user: &str) {
        self.allow.write().unwrap().insert(key(room, user), 1);
    }

    fn can_send(&self, user: &str, module: Module, room: &str, now: u64) -> bool {
        let active = |map: &Pairs, k: (String, String)| {
            map.read().unwrap().get(&k).is_some_and(|&t| now < t)
        };
        if active(&self.modules, key(user, module_name(module))) {
            return false;
        }
        if active(&self.members, key(room, user)) {
            return false;
        }
        if active(&self.room_mutes, key(room, "")) {
            return self.allow.read().unwrap().contains_key(&key(room, user));
        }
        true
    }

    fn should_push(&self, user: &str, room: &str) -> bool {
        self.notify
            .read()
            .unwrap()
            .get(&key(user, room))
            .is_none_or(|&l| l == NotifyLevel::All as u64)
    }

    fn push_targets<'m>(&self, room: &str, members: &[&'m str]) -> Vec<&'m str> {
        members
            .iter()
            .copied()
            .filter(|m| self.should_push(m, room))
            .collect()
    }
}

/// B: one ahash `HashMap<String, u64>` over `users`, for one hit per request read from
/// the same packed buffer the engine reads.
pub fn baseline_map(users: &Ids) -> std::collections::HashMap<String, u64, ahash::RandomState> {
    let mut map =
        std::collections::HashMap::with_capacity_and_hasher(users.len(), ahash::RandomState::new());
    for i in 0..users.len() {
        map.insert(users.get(i).to_string(), i as u64);
    }
    map
}

/// Mutes then unmutes each (user, room) of `pairs`: two mutations each.
pub fn mute_unmute(engine: &Engine, world: &World, pairs: &[(u32, u32)]) {
    for &(u, r) in pairs {
        engine
            .mute_members(world.room(r), [world.user(u)], MuteFor::hours(1))
            .unwrap();
        engine
            .unmute_members(world.room(r), [world.user(u)])
            .unwrap();
    }
}

/// Mutes `users[i]` in room `i % rooms` for an hour, one mutation each: a store of
/// `users.len()` timed member mutes.
pub fn fill_member_mutes(engine: &Engine, users: &Ids, rooms: &Ids) {
    for i in 0..users.len() {
        engine
            .mute_members(
                rooms.get(i % rooms.len()),
                [users.get(i)],
                MuteFor::hours(1),
            )
            .unwrap();
    }
}

/// A room of `size` members where `share` of them carry a notification setting in it.
pub fn fan_out_room(
    engine: &Engine,
    baselines: &[&dyn Baseline],
    room: &str,
    size: usize,
    share: f64,
    seed: u64,
) -> Ids {
    let mut rng = StdRng::seed_from_u64(seed);
    let members = Ids::numbered(&format!("{room}-m"), size);
    for i in 0..size {
        if rng.random_bool(share) {
            let level = if rng.random_bool(0.5) {
                NotifyLevel::Off
            } else {
                NotifyLevel::MentionsOnly
            };
            engine
                .set_notification_level(members.get(i), room, level, MuteFor::Forever)
                .unwrap();
            for b in baselines {
                b.set_level(members.get(i), room, level);
            }
        }
    }
    members
}
