//! Issue 14's and 15's paths, measured in short interleaved stretches (see
//! `support::interleave`): quiet hours and sender mutes in `push_targets` and
//! `should_push`, against B — a naive store of the same rules (ahash maps, borrowed
//! keys) that converts the time zone on every check, as code without a compiled
//! schedule does; slow mode's counting `try_send`; action-scoped `can_act`; what a
//! moderation trail adds to a mute.
//!
//! ```sh
//! cargo bench --bench personal            # fan-out, single checks, try_send, scoped checks
//! cargo bench --bench personal -- slow    # try_send only
//! cargo bench --bench personal -- single  # one should_push_message, quiet-hours users
//! cargo bench --bench personal -- scoped  # action-scoped checks only
//! cargo bench --bench personal -- trail   # mutes with and without a trail only
//! cargo bench --bench personal -- --test  # once, small (what CI runs)
//! ```

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mutegate::{
    Action, Actions, Bypass, Engine, ManualClock, Message, MuteFor, Schedule, Source, Subject,
    Target, Trail, Weekday, Window,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use support::interleave::{Contender, QUICK, counting, interleave, quick, report};
use support::{Ids, NOW};

type Map<V> = HashMap<String, V, ahash::RandomState>;

/// One user's rules in B.
struct Rules {
    zone: TimeZone,
    windows: Vec<Window>,
    snooze: u64,
    senders: Map<u64>,
}

/// B: the rules in one ahash map by user id; quiet time worked out from the wall clock
/// at every check (one zone conversion, the windows of today and yesterday).
#[derive(Default)]
struct Naive {
    users: Map<Rules>,
}

impl Naive {
    fn quiet(r: &Rules, now: u64) -> bool {
        if now < r.snooze {
            return true;
        }
        if r.windows.is_empty() {
            return false;
        }
        let local = Timestamp::from_millisecond(now as i64)
            .expect("in range")
            .to_zoned(r.zone.clone());
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = u16::from(local.hour() as u8) * 60 + u16::from(local.minute() as u8);
        r.windows.iter().any(|w| {
            let (d, s, e) = (w.day.index(), w.start, w.end);
            if s < e {
                d == day && (s..e).contains(&minute)
            } else {
                (d == day && minute >= s) || ((d + 1) % 7 == day && minute < e)
            }
        })
    }

    fn should_push(&self, user: &str, sender: &str, now: u64) -> bool {
        self.users.get(user).is_none_or(|r| {
            r.senders.get(sender).is_none_or(|&until| now >= until) && !Naive::quiet(r, now)
        })
    }

    fn push_targets<'m>(&self, members: &'m [&'m str], sender: &str, now: u64) -> Vec<&'m str> {
        members
            .iter()
            .copied()
            .filter(|m| self.should_push(m, sender, now))
            .collect()
    }
}

const ZONES: [&str; 4] = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];

/// Nights every day (22:00-07:00) and a Saturday afternoon, in one of [`ZONES`].
fn schedule(i: usize) -> Schedule {
    let mut windows: Vec<Window> = Weekday::ALL
        .iter()
        .map(|&d| Window::new(d, 22 * 60, 7 * 60))
        .collect();
    windows.push(Window::new(Weekday::Sat, 13 * 60, 15 * 60));
    Schedule::new(ZONES[i % ZONES.len()], windows).expect("valid")
}

/// Gives `users` quiet hours (and every third a muted sender) in the engine and in B.
fn schedule_users(engine: &Engine, naive: &mut Naive, users: impl Iterator<Item = String>) {
    for (i, u) in users.enumerate() {
        let s = schedule(i);
        engine.set_quiet_hours(&u, s.clone()).unwrap();
        engine
            .set_bypass(
                &u,
                Bypass {
                    mentions: true,
                    urgent: false,
                },
            )
            .unwrap();
        let mut senders = Map::default();
        if i % 3 == 0 {
            engine.mute_sender(&u, "spammer", MuteFor::Forever).unwrap();
            senders.insert("spammer".to_owned(), u64::MAX);
        }
        let rules = Rules {
            zone: jiff::tz::db().get(s.zone()).unwrap(),
            windows: s.windows().to_vec(),
            snooze: 0,
            senders,
        };
        naive.users.insert(u, rules);
    }
}

/// One message's fan-out over a 10k-member room, per member: 5% of the members with
/// quiet hours against the same room with none of them (users elsewhere have some),
/// the engine with no personal rules anywhere, and B.
fn fan_out() {
    let members_n = if quick() { 1_000 } else { 10_000 };
    let ids = Ids::numbered("m", members_n);
    let mut members: Vec<&str> = (0..members_n).map(|i| ids.get(i)).collect();
    members.shuffle(&mut StdRng::seed_from_u64(5));
    let clock = ManualClock::new(NOW);
    // With personal rules in use: 5% of this room's members, and as many users elsewhere.
    let engine = Engine::builder().clock(clock.clone()).build();
    let mut naive = Naive::default();
    let mut rng = StdRng::seed_from_u64(9);
    let scheduled: Vec<String> = (0..members_n)
        .filter(|_| rng.random_bool(0.05))
        .map(|i| ids.get(i).to_owned())
        .collect();
    let elsewhere = (0..scheduled.len()).map(|i| format!("elsewhere{i}"));
    schedule_users(
        &engine,
        &mut naive,
        scheduled.iter().cloned().chain(elsewhere),
    );
    // The same room's members under other names: none of them has rules.
    let other_ids = Ids::numbered("o", members_n);
    let others: Vec<&str> = (0..members_n).map(|i| other_ids.get(i)).collect();
    let bare = Engine::builder().clock(clock.clone()).build();
    let msg = Message::new().sent_by("spammer");
    let (at, bare_at) = (engine.at(NOW), bare.at(NOW));
    let want = naive.push_targets(&members, "spammer", NOW).len();
    assert_eq!(at.push_targets_for("big", &members, &msg).len(), want);
    assert!(want < members_n, "some scheduled members are quiet now");
    assert_eq!(at.push_targets_for("big", &others, &msg).len(), members_n);
    let (mut out_a, mut out_b, mut out_c) = (
        Vec::with_capacity(members_n),
        Vec::with_capacity(members_n),
        Vec::with_capacity(members_n),
    );
    let mut c = vec![
        Contender::new("room without rules (others have)", |_, n| {
            (0..n).map(|_| fan(&at, &others, &msg, &mut out_a)).sum()
        }),
        Contender::new("room with 5% scheduled", |_, n| {
            (0..n).map(|_| fan(&at, &members, &msg, &mut out_b)).sum()
        }),
        Contender::new("no rules in the engine at all", |_, n| {
            (0..n)
                .map(|_| fan(&bare_at, &members, &msg, &mut out_c))
                .sum()
        }),
        Contender::new("B: naive, zone per check", |_, n| {
            (0..n)
                .map(|_| naive.push_targets(&members, "spammer", NOW).len())
                .sum()
        }),
    ];
    let mut m = interleave(&mut c, 1 << 20, 4, 21);
    for run in &mut m.ns {
        for x in run.iter_mut() {
            *x /= members_n as f64;
        }
    }
    report(
        "push_targets_for, 10k members, 5% with quiet hours (ns per member)",
        &m,
    );
}

/// One fan-out into a reused buffer; the number of targets.
fn fan<'m>(
    at: &mutegate::At<'_>,
    members: &'m [&'m str],
    msg: &Message<'_>,
    out: &mut Vec<&'m &'m str>,
) -> usize {
    out.clear();
    at.push_targets_for_into("big", members, msg, out);
    out.len()
}

/// Single checks of a user with quiet hours and muted senders, against B.
fn single() {
    let users = if quick() { 1_000 } else { 100_000 };
    let clock = ManualClock::new(NOW);
    let engine = Engine::builder().clock(clock.clone()).build();
    let mut naive = Naive::default();
    schedule_users(&engine, &mut naive, (0..users).map(|i| format!("user{i}")));
    // The contender that checks at ever earlier times has an engine of its own: sharing
    // one would have each of its checks overwrite the cached answer the other mutegate
    // contender reads next (a server's clock only moves forward).
    let recomputing = Engine::builder().clock(clock.clone()).build();
    schedule_users(
        &recomputing,
        &mut Naive::default(),
        (0..users).map(|i| format!("user{i}")),
    );
    let ids = Ids::numbered("user", users);
    let mut order: Vec<usize> = (0..users).collect();
    order.shuffle(&mut StdRng::seed_from_u64(3));
    let at = engine.at(NOW);
    let msg = Message::new().sent_by("spammer");
    for &i in order.iter().take(1_000) {
        let u = ids.get(i);
        assert_eq!(
            at.should_push_message(u, "r", &msg),
            naive.should_push(u, "spammer", NOW),
            "{u}"
        );
    }
    let user = |i: usize| ids.get(order[i % users]);
    let mut c = vec![
        counting("B: naive, zone per check", |i| {
            naive.should_push(user(i), "spammer", NOW)
        }),
        counting("mutegate should_push_message", |i| {
            at.should_push_message(user(i), "r", &msg)
        }),
        // Each check a second before the last: before the span any cached answer holds
        // for, so every check converts the zone again (the cost a user pays once per
        // window boundary).
        counting("mutegate, schedule recomputed", |i| {
            let t = NOW - (i as u64 % 3_600) * 1_000;
            recomputing.at(t).should_push_message(user(i), "r", &msg)
        }),
        counting("B: naive, map lookup only", |i| {
            naive.users.get(user(i)).is_some_and(|r| r.snooze == 7)
        }),
    ];
    let m = interleave(&mut c, users, 2_000, 17);
    report(
        "should_push_message, 100k users with quiet hours (ns per check)",
        &m,
    );
}

/// `try_send` in a slow-mode room against B (one ahash `HashMap<String, u64>` hit on
/// the same member ids), the honest naive check and set (one `Mutex` over an ahash map
/// of rooms to an ahash map of members, borrowed `&str` lookups, a key built only for a
/// member's first send), and the old naive one (`Mutex<HashMap<(String, String), u64>>`,
/// two `String`s built per call); then one thread against two sending in the same room.
fn slow_mode() {
    let members_n = if quick() { 1_000 } else { 10_000 };
    let ids = Ids::numbered("s", members_n);
    let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
    engine
        .set_slow_mode("busy", Duration::from_secs(1))
        .unwrap();
    let b: Map<u64> = (0..members_n).map(|i| (ids.get(i).to_owned(), 7)).collect();
    let naive: std::sync::Mutex<HashMap<(String, String), u64, ahash::RandomState>> =
        std::sync::Mutex::default();
    let honest: parking_lot::Mutex<Map<Map<u64>>> = parking_lot::Mutex::default();
    // Request i is member i % n at NOW + i ms: each member comes back every n ms (10 s),
    // past the cooldown, so every send is admitted and updates its entry in place.
    let at = |i: usize| NOW + i as u64;
    let member = |i: usize| ids.get(i % members_n);
    for i in 0..members_n {
        assert!(
            engine
                .at(at(i))
                .try_send(member(i), mutegate::Target::room("busy"))
                .is_ok()
        );
        assert!(
            engine
                .at(at(i))
                .try_send(member(i), mutegate::Target::room("busy"))
                .is_err()
        );
    }
    let total = 1 << 22;
    let mut c = vec![
        counting("B: one HashMap<String, u64> hit", |i| {
            b.get(member(i)).is_some_and(|&v| v == 7)
        }),
        counting("mutegate try_send", |i| {
            let i = i + members_n;
            engine
                .at(at(i))
                .try_send(member(i), mutegate::Target::room("busy"))
                .is_ok()
        }),
        counting(
            "honest naive Mutex<room -> member map> check and set",
            |i| {
                let now = at(i);
                let mut rooms = honest.lock();
                let room = match rooms.get_mut("busy") {
                    Some(room) => room,
                    None => rooms.entry("busy".to_owned()).or_default(),
                };
                match room.get_mut(member(i)) {
                    Some(last) if now < *last + 1_000 => false,
                    Some(last) => {
                        *last = now;
                        true
                    }
                    None => {
                        room.insert(member(i).to_owned(), now);
                        true
                    }
                }
            },
        ),
        counting(
            "old naive Mutex<HashMap<(String, String)>> check and set",
            |i| {
                let now = at(i);
                let mut map = naive.lock().unwrap();
                let key = ("busy".to_owned(), member(i).to_owned());
                match map.get(&key) {
                    Some(&last) if now < last + 1_000 => false,
                    _ => {
                        map.insert(key, now);
                        true
                    }
                }
            },
        ),
    ];
    let m = interleave(&mut c, total, 2_000, 29);
    report(
        "try_send in a slow-mode room, 10k members (ns per send)",
        &m,
    );

    // Threads: the same number of sends by one thread, then by two (disjoint members).
    let per_thread = if quick() { 10_000 } else { 2_000_000 };
    let run = |threads: usize, round: usize| -> f64 {
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let engine = &engine;
                let ids = &ids;
                s.spawn(move || {
                    let mut ok = 0usize;
                    for k in 0..per_thread {
                        // Disjoint members per thread; fake time moves 1 ms per send.
                        let i = k * threads + t;
                        let now = NOW + ((round * per_thread + k) as u64) * 10_000;
                        let m = ids.get(i % members_n);
                        ok += usize::from(
                            engine
                                .at(now)
                                .try_send(m, mutegate::Target::room("busy"))
                                .is_ok(),
                        );
                    }
                    black_box(ok)
                });
            }
        });
        (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
    };
    let mut scaling: Vec<f64> = (0..if quick() { 1 } else { 5 })
        .map(|r| run(2, 2 * r + 1) / run(1, 2 * r))
        .collect();
    scaling.sort_by(f64::total_cmp);
    println!(
        "\ntry_send, two threads in one slow-mode room: {:.2}x one thread's sends per second (median of {}, range {:.2}-{:.2})",
        scaling[scaling.len() / 2],
        scaling.len(),
        scaling[0],
        scaling[scaling.len() - 1]
    );
}

/// Action-scoped checks: `can_act` in a room where one member in ten has a scoped mute
/// (reactions and edits) and the room a scoped room-wide mute (voice), every action in
/// turn, against B (one ahash `HashMap<String, u64>` hit on the same ids), mutegate's
/// own `can_send` on the same requests, and a naive scoped store (ahash maps by room,
/// then member, of (end, action bits), borrowed keys).
fn scoped() {
    let members_n = if quick() { 1_000 } else { 10_000 };
    let ids = Ids::numbered("m", members_n);
    let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
    let scope = Actions::of([Action::React, Action::Edit]);
    let muted: Vec<&str> = (0..members_n).step_by(10).map(|i| ids.get(i)).collect();
    for chunk in muted.chunks(100) {
        engine
            .mute_members_scoped("room", chunk, MuteFor::Forever, scope)
            .unwrap();
    }
    engine
        .mute_room_scoped("room", MuteFor::Forever, Action::JoinVoice)
        .unwrap();
    let b: Map<u64> = (0..members_n).map(|i| (ids.get(i).to_owned(), 7)).collect();
    let bit = |a: Action| 1u8 << Action::ALL.iter().position(|&x| x == a).unwrap();
    let mut naive: Map<Map<(u64, u8)>> = Map::default();
    let members = naive.entry("room".to_owned()).or_default();
    for m in &muted {
        members.insert(
            (*m).to_owned(),
            (u64::MAX, bit(Action::React) | bit(Action::Edit)),
        );
    }
    let room_scope = (u64::MAX, bit(Action::JoinVoice));
    let naive_can = |user: &str, action: Action| {
        let b = bit(action);
        let member = naive
            .get("room")
            .and_then(|r| r.get(user))
            .is_some_and(|&(until, scope)| NOW < until && scope & b != 0);
        let room = NOW < room_scope.0 && room_scope.1 & b != 0;
        !(member || room)
    };
    // Request i: member (i * 7919) % n, action i % 6.
    let req = |i: usize| {
        (
            ids.get((i * 7_919) % members_n),
            Action::ALL[i % Action::ALL.len()],
        )
    };
    let view = engine.at(NOW);
    for i in 0..members_n * 6 {
        let (u, a) = req(i);
        assert_eq!(
            view.can_act(u, Target::room("room"), a),
            naive_can(u, a),
            "{u} {a}"
        );
    }
    let total = 1 << 22;
    let mut c = vec![
        counting("B: one HashMap<String, u64> hit", |i| {
            b.get(req(i).0).is_some_and(|&v| v == 7)
        }),
        counting("mutegate can_act", |i| {
            let (u, a) = req(i);
            view.can_act(u, Target::room("room"), a)
        }),
        counting("mutegate can_send (same ids)", |i| {
            view.can_send(req(i).0, Target::room("room"))
        }),
        counting("naive scoped store", |i| {
            let (u, a) = req(i);
            naive_can(u, a)
        }),
    ];
    let m = interleave(&mut c, total, 2_000, 31);
    report(
        "can_act with scoped member and room mutes, 10k members (ns per check)",
        &m,
    );
}

/// The moderation trail's cost on the write path: an in-memory mute of one member
/// without a trail (the baseline: mutegate's own call, not a naive store), with one (the
/// member's history keeping its last 8 entries), and with one and no history
/// (`history_len(0)`: the trail only travels in the operation). Each contender has its
/// own engine and clock, 1 ms later per mutation, so every trailed mute is a new entry.
fn trail() {
    let members_n = if quick() { 1_000 } else { 10_000 };
    let ids = Ids::numbered("t", members_n);
    let make = |len| {
        let clock = ManualClock::new(NOW);
        let engine = Engine::builder()
            .clock(clock.clone())
            .history_len(len)
            .build();
        (engine, clock)
    };
    let (plain, plain_clock) = make(8);
    let (kept, kept_clock) = make(8);
    let (none, none_clock) = make(0);
    let trail = Trail::by("mod-1")
        .reason("flooding")
        .source(Source::Automatic);
    let mute = |e: &Engine, clock: &ManualClock, i: usize, trail: Option<&Trail>| {
        clock.advance(Duration::from_millis(1));
        let user = [ids.get(i % members_n)];
        let until = MuteFor::minutes(10);
        match trail {
            None => e.mute_members("room", user, until).is_ok(),
            Some(t) => e
                .with_trail(t)
                .mute_members("room", user, until)
                .wait()
                .is_ok(),
        }
    };
    let total = if quick() { 1 << 12 } else { 1 << 19 };
    let mut c = vec![
        counting("mute_members, no trail", |i| {
            mute(&plain, &plain_clock, i, None)
        }),
        counting("with a trail, history of 8", |i| {
            mute(&kept, &kept_clock, i, Some(&trail))
        }),
        counting("with a trail, no history", |i| {
            mute(&none, &none_clock, i, Some(&trail))
        }),
    ];
    let m = interleave(&mut c, total, 2_000, 37);
    report(
        "a member mute with and without a trail, in memory, 10k members (ns per mutation)",
        &m,
    );
    drop(c);
    let first = Subject::member("room", ids.get(0));
    assert!(!kept.moderation_history(&first).is_empty());
    assert!(kept.stats().moderation_entries <= 8 * members_n);
    assert_eq!(none.stats().moderation_entries, 0);
    assert_eq!(plain.stats().moderation_entries, 0);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test") {
        QUICK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let started = Instant::now();
    let pick = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    if pick.is_none_or(|p| p == "fan-out") {
        fan_out();
    }
    if pick.is_none_or(|p| p == "single") {
        single();
    }
    if pick.is_none_or(|p| p == "slow") {
        slow_mode();
    }
    if pick.is_none_or(|p| p == "scoped") {
        scoped();
    }
    if pick.is_none_or(|p| p == "trail") {
        trail();
    }
    black_box(());
    eprintln!("({:.0?})", Duration::from_secs(started.elapsed().as_secs()));
}
