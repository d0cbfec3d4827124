//! Replication over a Redis stream, against real `redis-server` processes (one per test,
//! on a free loopback port, stopped by PID). Without `redis-server` on PATH the tests
//! say so loudly and pass; under `CI=true` they fail instead.

#[path = "../../benches/support/redis_server.rs"]
mod server;

use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use mutegate::{
    Engine, Error, Event, ManualClock, MuteFor, NotifyLevel, Replication, Subject, Target, Trail,
};
use rand::{Rng, SeedableRng};
use server::Redis;

const NOW: u64 = 1_700_000_000_000;

macro_rules! redis_or_return {
    () => {
        match Redis::start("THIS REPLICATION TEST") {
            Some(redis) => redis,
            None => return,
        }
    };
}

mod faults;
mod processes;
mod publishing;
mod recovery;
#[cfg(feature = "redis-tls")]
mod tls;

/// A replicated engine on `redis`, on a manual clock at `NOW` (so that converged
/// engines' snapshots compare byte for byte).
fn node(redis: &Redis) -> Engine {
    node_with(redis, |r| r)
}

/// The same, with more settings.
fn node_with(redis: &Redis, configure: impl FnOnce(Replication) -> Replication) -> Engine {
    Engine::builder()
        .clock(ManualClock::new(NOW))
        .replicate(configure(
            Replication::new(redis.url())
                .timeout(Duration::from_millis(500))
                .apply_timeout(Duration::from_secs(5)),
        ))
        .expect("a replicated engine")
}

/// Stream entries as `XRANGE` returns them: id, then field names and values.
type Entries = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

/// The whole stream.
fn xrange(redis: &Redis) -> Entries {
    redis::cmd("XRANGE")
        .arg("mutegate:ops")
        .arg("-")
        .arg("+")
        .query(&mut redis.conn())
        .expect("XRANGE")
}

fn xlen(redis: &Redis) -> u64 {
    xlen_of(redis, "mutegate:ops")
}

fn snapshot(engine: &Engine) -> Vec<u8> {
    let mut out = Vec::new();
    engine.snapshot(&mut out).expect("snapshot");
    out
}

/// Waits up to `limit` for `done`; panics naming `what` if it never holds.
fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_mute_on_one_node_stops_the_sender_on_another() {
    let redis = redis_or_return!();
    let a = node(&redis);
    let b = node(&redis);
    a.mute_members("lobby", ["bob"], MuteFor::minutes(10))
        .expect("mute");
    // Read your writes: the writer's own node has applied it when the call returns.
    assert!(!a.can_send("bob", Target::room("lobby")));
    eventually("node b sees the mute", 5 * SECOND, || {
        !b.can_send("bob", Target::room("lobby"))
    });
    b.unmute_members("lobby", ["bob"]).expect("unmute");
    assert!(b.can_send("bob", Target::room("lobby")));
    eventually("node a sees the unmute", 5 * SECOND, || {
        a.can_send("bob", Target::room("lobby"))
    });
    assert!(a.health().is_healthy() && b.health().is_healthy());
}

/// Random mutations from `threads` threads on `engine` for `run`; returns how many
/// returned `Ok`.
fn churn(engine: &Engine, seed: u64, threads: usize, run: Duration) -> usize {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 100 + t as u64);
                    let deadline = Instant::now() + run;
                    let mut ok = 0;
                    while Instant::now() < deadline {
                        let user = format!("u{}", rng.random_range(0..40));
                        let room = format!("r{}", rng.random_range(0..8));
                        let trail = Trail::by(format!("m{t}")).reason(format!("r{seed}"));
                        let done = match rng.random_range(0..9) {
                            0 => engine
                                .mute_members(&room, [&user], MuteFor::minutes(5))
                                .map(drop),
                            1 => engine.unmute_members(&room, [&user]).map(drop),
                            2 => engine.mute_notifications(&user, &room),
                            3 => engine.unmute_notifications(&user, &room),
                            4 => engine.set_notification_level(
                                &user,
                                &room,
                                NotifyLevel::MentionsOnly,
                                MuteFor::Forever,
                            ),
                            5 => engine.mute_room(&room, MuteFor::Forever).map(drop),
                            6 => engine.allow(&room, [&user]),
                            // With a trail: histories converge too.
                            7 => engine
                                .with_trail(&trail)
                                .mute_members(&room, [&user], MuteFor::minutes(5))
                                .wait()
                                .map(drop),
                            _ => engine.unmute_room(&room).map(drop),
                        };
                        match done {
                            Ok(()) => ok += 1,
                            Err(Error::NotMuted { .. }) => {}
                            Err(e) => panic!("a mutation failed: {e}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).sum()
    })
}

#[test]
fn nodes_writing_at_once_converge_to_identical_snapshots() {
    let redis = redis_or_return!();
    let a = node(&redis);
    // `b` overlaps its appends (several batches in flight).
    let b = node_with(&redis, |r| r.pipeline(3));
    let (done_a, done_b) = std::thread::scope(|s| {
        let ha = s.spawn(|| churn(&a, 1, 2, SECOND));
        let hb = s.spawn(|| churn(&b, 2, 4, SECOND));
        (ha.join().expect("a"), hb.join().expect("b"))
    });
    assert!(
        done_a > 50 && done_b > 50,
        "few mutations: {done_a}, {done_b}"
    );
    eventually("a and b converge", 10 * SECOND, || {
        snapshot(&a) == snapshot(&b)
    });
    let state = snapshot(&a);
    let remembered: usize = (0..8)
        .flat_map(|r| (0..40).map(move |u| Subject::member(format!("r{r}"), format!("u{u}"))))
        .map(|s| a.moderation_history(&s).len())
        .sum();
    assert!(remembered > 0, "trailed mutations are in the histories");
    assert_eq!(a.stats().moderation_entries, b.stats().moderation_entries);
    assert!(
        state.len() > 200,
        "the state is not trivial ({} bytes)",
        state.len()
    );
    // A node that joins later reads the whole stream before it is built.
    let c = node(&redis);
    assert_eq!(snapshot(&c), state);
    for engine in [&a, &b, &c] {
        engine.verify_consistency().expect("consistent tables");
        assert!(engine.health().is_healthy(), "{:?}", engine.health());
    }
}

#[test]
fn a_check_against_the_state_is_decided_at_the_entry_s_place_in_the_stream() {
    let redis = redis_or_return!();
    let a = node(&redis);
    let b = node(&redis);
    let err = a
        .unmute_notifications("ann", "r1")
        .expect_err("nothing to unmute");
    assert!(matches!(err, Error::NotMuted { .. }), "{err}");
    a.mute_notifications("ann", "r1").expect("mute");
    eventually("b sees the setting", 5 * SECOND, || {
        b.muted_rooms("ann") == ["r1"]
    });
    // Two nodes lift the same setting at once: the stream orders them, the first lifts
    // it and the second is refused, on every node alike.
    let (ra, rb) = std::thread::scope(|s| {
        let ta = a.submit().unmute_notifications("ann", "r1");
        let tb = b.submit().unmute_notifications("ann", "r1");
        let ha = s.spawn(|| ta.wait());
        let hb = s.spawn(|| tb.wait());
        (ha.join().expect("a"), hb.join().expect("b"))
    });
    let oks = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 1, "exactly one unmute succeeds: {ra:?} {rb:?}");
    let refused = if ra.is_err() { ra } else { rb };
    assert!(matches!(refused, Err(Error::NotMuted { .. })));
    eventually("both agree", 5 * SECOND, || snapshot(&a) == snapshot(&b));
    assert!(a.muted_rooms("ann").is_empty());
}

#[test]
fn while_redis_is_down_mutations_fail_fast_and_checks_keep_answering() {
    let mut redis = redis_or_return!();
    let a = node(&redis);
    let b = node(&redis);
    a.mute_members("r1", ["bob"], MuteFor::Forever)
        .expect("mute");
    eventually("b sees the mute", 5 * SECOND, || {
        !b.can_send("bob", Target::room("r1"))
    });
    redis.kill();
    let started = Instant::now();
    let err = a
        .mute_members("r1", ["carol"], MuteFor::Forever)
        .expect_err("redis is down");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        started.elapsed() < 3 * SECOND,
        "took {:?}",
        started.elapsed()
    );
    // Checks answer from the last applied state.
    assert!(!a.can_send("bob", Target::room("r1")));
    assert!(a.can_send("carol", Target::room("r1")));
    assert!(!b.can_send("bob", Target::room("r1")));
    redis.restart();
    // Mutations go through again once the nodes reconnect.
    eventually("a writes again", 10 * SECOND, || {
        match a.mute_members("r1", ["dave"], MuteFor::Forever) {
            Ok(_) => true,
            Err(Error::Unavailable { .. }) => false,
            Err(e) => panic!("unexpected {e}"),
        }
    });
    eventually("b reads again", 10 * SECOND, || {
        !b.can_send("dave", Target::room("r1"))
    });
    for engine in [&a, &b] {
        assert!(
            !engine.can_send("bob", Target::room("r1")),
            "acknowledged before the outage"
        );
        assert!(
            engine.can_send("carol", Target::room("r1")),
            "refused during the outage"
        );
    }
    // The writer's failed appends were counted.
    assert!(a.health().replication_failures > 0, "{:?}", a.health());
    assert!(a.health().stopped.is_none(), "{:?}", a.health());
}

/// A node that muted bob in r1, on a Redis that then lost everything (`FLUSHALL`).
fn muted_then_flushed(redis: &Redis) -> Engine {
    let a = node(redis);
    a.mute_members("r1", ["bob"], MuteFor::Forever)
        .expect("mute");
    let _: () = redis::cmd("FLUSHALL")
        .query(&mut redis.conn())
        .expect("FLUSHALL");
    a
}

#[test]
fn lost_history_is_detected_and_stops_the_node() {
    let redis = redis_or_return!();
    let a = muted_then_flushed(&redis);
    eventually("the reader reports lost history", 5 * SECOND, || {
        matches!(a.health().stopped, Some(Error::Replication { .. }))
    });
    let Some(Error::Replication { what, .. }) = a.health().stopped else {
        unreachable!()
    };
    assert!(what.contains("lost"), "{what}");
    let err = a
        .mute_members("r2", ["x"], MuteFor::Forever)
        .expect_err("stopped");
    assert!(matches!(err, Error::Replication { .. }), "{err}");
    // It keeps answering checks from what it had applied.
    assert!(!a.can_send("bob", Target::room("r1")));
}

#[test]
fn appends_to_a_stream_that_lost_history_are_refused_by_redis() {
    let redis = redis_or_return!();
    let a = muted_then_flushed(&redis);
    // Before the reader's periodic check notices, the append itself is fenced by the
    // epoch key: nothing lands on the new, empty stream.
    let err = a
        .mute_members("r2", ["x"], MuteFor::Forever)
        .expect_err("fenced");
    assert!(matches!(err, Error::Replication { .. }), "{err}");
    assert_eq!(xlen(&redis), 0);
}

/// Appends raw fields to the stream, as a buggy or newer writer might; returns the id.
fn xadd(redis: &Redis, fields: &[(&str, &[u8])]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg("mutegate:ops").arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.query(&mut redis.conn()).expect("XADD")
}

/// The field "op" of [`xadd_malformed`]'s entry: a tag no build knows.
const MALFORMED_OP: &[u8] = &[5, 99];

/// Appends an entry in today's format whose operation does not decode (as a foreign
/// writer might); returns its id.
fn xadd_malformed(redis: &Redis) -> String {
    xadd(
        redis,
        &[
            ("v", b"1"),
            ("node", b"00000000000000ff"),
            ("seq", b"1"),
            ("chk", b"0"),
            ("op", MALFORMED_OP),
        ],
    )
}

/// A node built on `redis`'s stream refuses at the entry `bad` rather than skip it.
fn no_node_builds_past(redis: &Redis, bad: &str) {
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()))
        .expect_err("the stream has a bad entry");
    assert!(
        matches!(&err, Error::Replication { id, .. } if id == bad),
        "{err}"
    );
}

/// A node that muted bob in "r1", then stopped at an entry that does not decode
/// (appended by a foreign writer); and that entry's id.
fn stopped_at_a_malformed_entry(redis: &Redis) -> (Engine, String) {
    let a = node(redis);
    a.mute_members("r1", ["bob"], MuteFor::Forever)
        .expect("mute");
    let bad = xadd_malformed(redis);
    eventually("the reader stops at the bad entry", 5 * SECOND, || {
        a.health().stopped.is_some()
    });
    (a, bad)
}

#[test]
fn a_malformed_entry_stops_applying_and_is_reported_with_its_id() {
    let redis = redis_or_return!();
    let (a, bad) = stopped_at_a_malformed_entry(&redis);
    match a.health().stopped {
        Some(Error::Replication { id, what }) => {
            assert_eq!(id, bad);
            assert!(what.contains("does not decode"), "{what}");
        }
        other => panic!("expected a replication stop, got {other:?}"),
    }
    assert!(
        !a.can_send("bob", Target::room("r1")),
        "entries before it stay applied"
    );
    let err = a
        .mute_members("r1", ["x"], MuteFor::Forever)
        .expect_err("stopped");
    assert!(matches!(err, Error::Replication { .. }), "{err}");
    // A node built on this stream refuses at the same entry rather than skip it.
    no_node_builds_past(&redis, &bad);
}

#[test]
fn an_entry_of_a_newer_format_is_refused_not_skipped() {
    let redis = redis_or_return!();
    let a = node(&redis);
    let newer = xadd(
        &redis,
        &[
            ("v", b"2"),
            ("node", b"00000000000000ff"),
            ("seq", b"1"),
            ("chk", b"0"),
            ("op", b""),
        ],
    );
    eventually("the reader stops at the newer entry", 5 * SECOND, || {
        a.health().stopped.is_some()
    });
    let Some(Error::Replication { id, what }) = a.health().stopped else {
        panic!("expected a replication stop: {:?}", a.health())
    };
    assert_eq!(id, newer);
    assert!(what.contains("newer than this build reads"), "{what}");
}

#[test]
fn an_entry_delivered_twice_is_applied_once() {
    let redis = redis_or_return!();
    let a = node(&redis);
    let b = node(&redis);
    a.mute_members("r1", ["bob"], MuteFor::Forever)
        .expect("mute");
    a.unmute_members("r1", ["bob"]).expect("unmute");
    // The first entry again, as a retried append would leave it.
    let first = xrange(&redis);
    let fields: Vec<(&str, &[u8])> = first[0]
        .1
        .iter()
        .map(|(k, v)| (std::str::from_utf8(k).expect("field name"), v.as_slice()))
        .collect();
    xadd(&redis, &fields);
    b.mute_room("marker", MuteFor::Forever).expect("marker");
    for engine in [&a, &b] {
        eventually("the marker after the copy arrives", 5 * SECOND, || {
            engine.room_mute("marker").is_some()
        });
        assert!(
            engine.can_send("bob", Target::room("r1")),
            "the copy was not applied"
        );
    }
    let c = node(&redis);
    assert!(c.can_send("bob", Target::room("r1")));
    assert_eq!(snapshot(&c), snapshot(&a));
    assert!(a.health().is_healthy());
}

#[test]
fn a_node_joining_after_the_stream_was_trimmed_starts_from_the_snapshot() {
    let redis = redis_or_return!();
    let often = |r: Replication| r.snapshot_every(50, Duration::from_millis(100));
    let a = node_with(&redis, often);
    let b = node_with(&redis, often);
    for i in 0..300 {
        let engine = if i % 2 == 0 { &a } else { &b };
        engine
            .mute_members(
                &format!("r{}", i % 7),
                [format!("u{i}")],
                MuteFor::minutes(30),
            )
            .expect("mute");
    }
    eventually(
        "a snapshot was published and the stream trimmed",
        10 * SECOND,
        || {
            a.health().snapshots_published + b.health().snapshots_published > 0
                && xlen(&redis) < 300
        },
    );
    let trimmed_to = xlen(&redis);
    let c = node_with(&redis, often);
    eventually("all three agree", 10 * SECOND, || {
        let s = snapshot(&a);
        s == snapshot(&b) && s == snapshot(&c)
    });
    assert!(!c.can_send("u0", Target::room("r0")));
    // The new node follows the stream from there.
    a.mute_room("later", MuteFor::Forever).expect("mute");
    eventually("c sees a later entry", 5 * SECOND, || {
        c.room_mute("later").is_some()
    });
    c.verify_consistency().expect("consistent");
    assert!(c.health().stopped.is_none(), "{:?}", c.health());
    eprintln!("stream trimmed to {trimmed_to} of 300 entries");
}

#[test]
fn a_node_never_reads_across_a_gap_that_no_snapshot_covers() {
    let redis = redis_or_return!();
    let a = node(&redis);
    for i in 0..10 {
        a.mute_members("r1", [format!("u{i}")], MuteFor::Forever)
            .expect("mute");
    }
    // An operator trims the stream by hand, and says so, with no snapshot to cover it.
    let ids = xrange(&redis);
    let cut = &ids[5].0;
    let _: u64 = redis::cmd("XTRIM")
        .arg("mutegate:ops")
        .arg("MINID")
        .arg(cut)
        .query(&mut redis.conn())
        .expect("XTRIM");
    let _: u64 = redis::cmd("HSET")
        .arg("mutegate:ops:snapshot")
        .arg("trimmed")
        .arg(cut)
        .query(&mut redis.conn())
        .expect("HSET");
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()))
        .expect_err("a gap");
    match &err {
        Error::Replication { what, .. } => assert!(what.contains("trimmed below"), "{what}"),
        other => panic!("expected a replication error, got {other}"),
    }
}

/// Ended mutes each node announced, as (node index, mute, end).
type Announced = Arc<Mutex<Vec<(usize, String, u64)>>>;

fn listen(engine: &Engine, index: usize, log: &Announced) {
    let log = Arc::clone(log);
    engine.subscribe(move |event| {
        if let Event::Expired { mute, at_ms } = event {
            log.lock()
                .unwrap()
                .push((index, format!("{mute:?}"), *at_ms));
        }
    });
}

#[test]
fn each_ended_mute_is_announced_once_and_a_new_announcer_takes_over() {
    let redis = redis_or_return!();
    let clock = ManualClock::new(NOW);
    let build = || {
        Engine::builder()
            .clock(clock.clone())
            .replicate(Replication::new(redis.url()))
            .expect("a replicated engine")
    };
    let mut nodes: Vec<Option<Engine>> = (0..3).map(|_| Some(build())).collect();
    let log: Announced = Arc::default();
    for (i, node) in nodes.iter().enumerate() {
        listen(node.as_ref().unwrap(), i, &log);
    }
    let writer = nodes[0].as_ref().unwrap();
    for i in 0..5 {
        writer
            .mute_members("r1", [format!("m{i}")], MuteFor::minutes(1))
            .expect("mute");
    }
    let live = |nodes: &[Option<Engine>]| -> Vec<usize> {
        (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect()
    };
    eventually("every node applied the mutes", 5 * SECOND, || {
        nodes
            .iter()
            .flatten()
            .all(|n| !n.can_send("m4", Target::room("r1")))
    });
    clock.advance(Duration::from_secs(120));
    // Ended mutes read as absent on every node at once, announced or not.
    for n in nodes.iter().flatten() {
        assert!(n.can_send("m0", Target::room("r1")));
    }
    eventually("the five ends are announced", 5 * SECOND, || {
        for n in nodes.iter().flatten() {
            n.sweep();
        }
        log.lock().unwrap().len() >= 5
    });
    std::thread::sleep(Duration::from_millis(1500));
    for n in nodes.iter().flatten() {
        n.sweep();
    }
    let first: Vec<_> = log.lock().unwrap().clone();
    assert_eq!(first.len(), 5, "announced once each: {first:?}");
    let announcer = first[0].0;
    assert!(
        first.iter().all(|(node, ..)| *node == announcer),
        "{first:?}"
    );
    // The announcer goes away; another node takes the lease over and announces the
    // ends that follow.
    nodes[announcer] = None;
    let survivor = live(&nodes)[0];
    for i in 0..3 {
        nodes[survivor]
            .as_ref()
            .unwrap()
            .mute_members("r2", [format!("n{i}")], MuteFor::minutes(1))
            .expect("mute");
    }
    eventually("the survivors applied them", 5 * SECOND, || {
        nodes
            .iter()
            .flatten()
            .all(|n| !n.can_send("n2", Target::room("r2")))
    });
    clock.advance(Duration::from_secs(120));
    eventually(
        "a new announcer announces the new ends",
        10 * SECOND,
        || {
            for n in nodes.iter().flatten() {
                n.sweep();
            }
            log.lock()
                .unwrap()
                .iter()
                .filter(|(_, m, _)| m.contains("r2"))
                .count()
                >= 3
        },
    );
    let second: Vec<_> = log.lock().unwrap()[5..].to_vec();
    assert!(
        second.iter().all(|(node, ..)| *node != announcer),
        "{second:?}"
    );
    let mut keys: Vec<_> = second.iter().map(|(_, m, at)| (m.clone(), *at)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        3,
        "three distinct ends (duplicates share keys): {second:?}"
    );
}

#[test]
fn a_node_with_local_state_resumes_from_it_and_reads_only_what_followed() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let local = |r: Replication| r.local_state(dir.path());
    let a = node_with(&redis, local);
    for i in 0..50 {
        a.mute_members("early", [format!("u{i}")], MuteFor::Forever)
            .expect("mute");
    }
    // A second engine on the same directory is refused while the first runs.
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()).local_state(dir.path()))
        .expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(a); // writes its state with the id it covers
    let b = node(&redis);
    for i in 0..30 {
        b.mute_members("later", [format!("u{i}")], MuteFor::Forever)
            .expect("mute");
    }
    // The entries the checkpoint covers disappear from the stream: only a node that
    // starts from its own copy still has their effect.
    let covered: Vec<String> = xrange(&redis)
        .into_iter()
        .take(50)
        .map(|(id, _)| id)
        .collect();
    let mut del = redis::cmd("XDEL");
    del.arg("mutegate:ops");
    for id in &covered {
        del.arg(id);
    }
    let deleted: u64 = del.query(&mut redis.conn()).expect("XDEL");
    assert_eq!(deleted, 50);
    let back = node_with(&redis, local);
    assert!(
        !back.can_send("u49", Target::room("early")),
        "from its own copy"
    );
    assert!(
        !back.can_send("u29", Target::room("later")),
        "from the stream after it"
    );
    assert_eq!(snapshot(&back), snapshot(&b));
    let fresh = node(&redis);
    assert!(
        fresh.can_send("u49", Target::room("early")),
        "a node without it has a gap"
    );
}

#[test]
fn local_state_from_a_history_the_stream_lost_is_refused() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let a = node_with(&redis, |r| r.local_state(dir.path()));
    a.mute_room("r1", MuteFor::Forever).expect("mute");
    drop(a);
    let _: () = redis::cmd("FLUSHALL")
        .query(&mut redis.conn())
        .expect("FLUSHALL");
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()).local_state(dir.path()))
        .expect_err("another history");
    match &err {
        Error::Replication { what, .. } => assert!(what.contains("local state"), "{what}"),
        other => panic!("expected a replication error, got {other}"),
    }
}

#[test]
fn redis_killed_mid_traffic_loses_no_acknowledged_mutation() {
    let mut redis = redis_or_return!();
    let a = node(&redis);
    // `b` overlaps its appends: a kill loses the replies to several batches at once.
    let b = node_with(&redis, |r| r.pipeline(3));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acked: Mutex<Vec<String>> = Mutex::default();
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for (t, engine) in [&a, &b, &a, &b].into_iter().enumerate() {
            let (stop, acked, refused) = (&stop, &acked, &refused);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let user = format!("w{t}-{i}");
                    i += 1;
                    match engine.mute_members("traffic", [&user], MuteFor::Forever) {
                        Ok(_) => acked.lock().unwrap().push(user),
                        Err(Error::Unavailable { .. }) => {
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        redis.kill();
        std::thread::sleep(Duration::from_millis(500));
        let during = refused.load(std::sync::atomic::Ordering::Relaxed);
        redis.restart();
        let before = acked.lock().unwrap().len();
        eventually("writes go through again", 10 * SECOND, || {
            acked.lock().unwrap().len() > before + 100
        });
        stop.store(true, std::sync::atomic::Ordering::Release);
        assert!(during > 0, "mutations during the outage were refused");
    });
    let acked = acked.into_inner().unwrap();
    for engine in [&a, &b] {
        eventually(
            "every acknowledged mutation on every node",
            10 * SECOND,
            || {
                acked
                    .iter()
                    .all(|u| !engine.can_send(u, Target::room("traffic")))
            },
        );
    }
    eventually("a and b agree", 10 * SECOND, || {
        snapshot(&a) == snapshot(&b)
    });
    eprintln!(
        "{} acknowledged, {} refused around the outage",
        acked.len(),
        refused.into_inner()
    );
}

#[test]
fn a_redis_acl_user_and_password_in_the_url_are_used() {
    let redis = redis_or_return!();
    // Exactly the commands the README's "Running several nodes" lists.
    let allowed = "XADD XREAD XRANGE XREVRANGE XTRIM EVAL GET SET HGET HMGET HGETALL HSET HDEL \
                   PEXPIRE DEL WAIT TIME";
    let mut setuser = redis::cmd("ACL");
    setuser
        .arg("SETUSER")
        .arg("mutegate")
        .arg("on")
        .arg(">s3cret")
        .arg("~*")
        .arg("&*")
        .arg("-@all");
    for command in allowed.split_whitespace() {
        setuser.arg(format!("+{}", command.to_lowercase()));
    }
    let _: () = setuser.query(&mut redis.conn()).expect("ACL SETUSER");
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("off")
        .query(&mut redis.conn())
        .expect("ACL SETUSER default off");
    let with = |auth: &str| {
        let url = redis.url().replace("redis://", &format!("redis://{auth}@"));
        Engine::builder().replicate(Replication::new(url))
    };
    let a = with("mutegate:s3cret").expect("the ACL user");
    a.mute_room("r1", MuteFor::Forever).expect("mute");
    assert!(a.room_mute("r1").is_some());
    let err = with("mutegate:wrong").expect_err("a wrong password");
    assert!(
        matches!(&err, Error::Unavailable { what } if what.contains("connecting")),
        "{err}"
    );
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()))
        .expect_err("no user: the default user is off");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[test]
fn a_node_without_its_redis_is_not_built_and_says_why() {
    // Nothing listens on a port just freed; no redis-server needed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let err = Engine::builder()
        .replicate(
            Replication::new(format!("redis://127.0.0.1:{port}/"))
                .timeout(Duration::from_millis(300)),
        )
        .expect_err("no Redis there");
    assert!(
        matches!(&err, Error::Unavailable { what } if what.contains("connecting")),
        "{err}"
    );
    assert!(
        started.elapsed() < 5 * SECOND,
        "took {:?}",
        started.elapsed()
    );
    let err = Engine::builder()
        .replicate(Replication::new("http://127.0.0.1/"))
        .expect_err("not a Redis URL");
    assert!(
        matches!(&err, Error::Unavailable { what } if what.contains("URL")),
        "{err}"
    );
}

/// How long a node waits for the replica's acknowledgement: long enough for a loopback
/// replica on a loaded 2-core machine (300 ms was not, under the whole suite), and
/// waited out once, when the replica is gone.
const ACK_WAIT: Duration = Duration::from_secs(2);

#[test]
fn with_replica_acknowledgement_asked_for_a_mutation_waits_for_it_and_says_when_it_is_missing() {
    let primary = redis_or_return!();
    let mut replica = Redis::start_replica_of(&primary).expect("a replica");
    let engine = node_with(&primary, |r| r.stream("acked").acknowledged_by(1, ACK_WAIT));
    eventually("the replica follows the primary", 10 * SECOND, || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut primary.conn())
            .expect("INFO");
        info.contains("connected_slaves:1") && info.contains("state=online")
    });
    engine
        .mute_room("r1", MuteFor::Forever)
        .expect("acknowledged");
    // Acknowledged by the replica means the replica has it, at once.
    assert_eq!(xlen_of(&replica, "acked"), 1);
    // Two nodes asking for acknowledgement write at once: entries of one come between
    // the other's, so some are applied by the reader rather than the appender; every
    // call still returns, acknowledged.
    let engine = Arc::new(engine);
    let other = Arc::new(node_with(&primary, |r| {
        r.stream("acked").acknowledged_by(1, ACK_WAIT)
    }));
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (k, e) in [&engine, &other, &engine, &other].into_iter().enumerate() {
        let (e, finished) = (Arc::clone(e), Arc::clone(&finished));
        // Not scoped: a call that never returns fails the test instead of hanging it.
        std::thread::spawn(move || {
            for i in 0..100 {
                e.mute_members("busy", [format!("k{k}-{i}")], MuteFor::Forever)
                    .expect("acknowledged");
                finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    eventually("every call returns", 20 * SECOND, || {
        finished.load(std::sync::atomic::Ordering::Relaxed) == 400
    });
    assert_eq!(xlen_of(&replica, "acked"), 401);
    drop(other);
    replica.kill();
    match engine.mute_room("r2", MuteFor::Forever) {
        Err(Error::Unavailable { what }) => {
            assert!(what.contains("0 of the 1 Redis replicas"), "{what}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // As the error says: the entry is in the stream, and this node applied it.
    assert_eq!(xlen_of(&primary, "acked"), 402);
    assert!(engine.room_mute("r2").is_some());
    assert!(engine.health().stopped.is_none(), "{:?}", engine.health());
    // A node that asks for nothing more is not held up by the missing replica.
    let plain = node_with(&primary, |r| r.stream("acked"));
    plain
        .mute_room("r3", MuteFor::Forever)
        .expect("no acknowledgement asked for");
}

fn xlen_of(redis: &Redis, stream: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(stream)
        .query(&mut redis.conn())
        .expect("XLEN")
}
