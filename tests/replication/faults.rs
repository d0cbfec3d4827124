//! Faults an operator meets on a busy cluster: a node frozen past the liveness window
//! while the others trim, and a node joining while snapshots are published and the
//! stream trimmed under it. Refused must mean not applied, and a join must work.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mutegate::{Engine, Error, ManualClock, MuteFor, Replication, Target};

use super::processes::{child_test, say, spawn_reading};
use super::{
    NOW, Redis, SECOND, eventually, node, node_with, snapshot, stopped_at_a_malformed_entry, xlen,
};

const URL: &str = "MUTEGATE_STALL_URL";
const STOP: &str = "MUTEGATE_STALL_STOP";
const WRITERS: usize = 4;

/// The room of mutation `i` of writer `t` of the stalled node: each mutation has its
/// own, so the parent can tell which of them are in force.
fn stalled_room(t: usize, i: usize) -> String {
    format!("stall-{t}-{i}")
}

#[test]
#[ignore = "helper: run as a child process by stalled_node_never_applies_what_it_refused"]
fn stalled_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let stop = PathBuf::from(std::env::var(STOP).expect("stop file"));
    let engine = Engine::builder()
        .clock(ManualClock::new(NOW))
        .replicate(Replication::new(url).timeout(Duration::from_millis(500)))
        .expect("a replicated engine");
    say("ready".into());
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (engine, stop, say) = (&engine, &stop, &say);
            s.spawn(move || {
                for i in 0.. {
                    if stop.exists() {
                        break;
                    }
                    let room = stalled_room(t, i);
                    match engine.mute_room(&room, MuteFor::Forever) {
                        Ok(_) => say(format!("ack {room}")),
                        Err(e @ Error::Replication { .. }) => say(format!("refused {room} {e}")),
                        Err(e @ Error::Unavailable { .. }) => say(format!("unknown {room} {e}")),
                        Err(e) => panic!("writer {t} mutation {i}: {e}"),
                    }
                    // Writers queue steadily rather than flood the stream.
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
    });
    say("stopped".into());
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// A node frozen (SIGSTOP) for longer than the liveness window while the others publish
/// snapshots and trim past its position wakes up with its writers' mutations queued.
/// Each is refused before it is appended: none of the refused ones is in force on the
/// node that kept running, and each acknowledged one is.
#[test]
fn stalled_node_never_applies_what_it_refused() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let stop = dir.path().join("stop");
    let parent = Engine::builder()
        .clock(ManualClock::new(NOW))
        .replicate(
            Replication::new(redis.url())
                .timeout(Duration::from_millis(500))
                .snapshot_every(20, Duration::from_millis(200)),
        )
        .expect("the parent node");
    let mut command = child_test("faults::stalled_child");
    command.env(URL, redis.url()).env(STOP, &stop);
    let (mut child, lines) = spawn_reading(command);
    let count = |prefix: &str| {
        lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    };
    eventually("the child writes", 20 * SECOND, || count("ack ") > 50);
    signal(child.id(), "STOP");
    // Past the 30 s liveness window, the parent writes, publishes and trims past the
    // frozen node's position.
    let frozen = Instant::now();
    let mut i = 0;
    while frozen.elapsed() < Duration::from_secs(33) {
        parent
            .mute_members("parent-room", [format!("u{}", i % 50)], MuteFor::minutes(5))
            .expect("the parent writes");
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(child.id(), "CONT");
    // Count refusals alone: an "unknown" answer (a timeout) is not one, and the check
    // below asks for 200 of them.
    eventually(
        "the woken node refuses 200 queued mutations",
        30 * SECOND,
        || count("refused ") >= 200,
    );
    std::fs::write(&stop, b"").expect("stop file");
    eventually("the child stops writing", 20 * SECOND, || {
        count("stopped") > 0
    });
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "the child failed: {status}");
    // The parent's own write comes after everything the child appended.
    parent
        .mute_room("marker", MuteFor::Forever)
        .expect("marker");
    let lines = lines.lock().expect("lines").clone();
    let (mut acked, mut refused, mut applied_refused, mut unknown) = (0, 0, Vec::new(), 0);
    for line in &lines {
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(room)) = (parts.next(), parts.next()) else {
            continue;
        };
        let in_force = parent.room_mute(room).is_some();
        match kind {
            "ack" => {
                acked += 1;
                assert!(
                    in_force,
                    "acknowledged {room} is not in force on the parent"
                );
            }
            "refused" => {
                refused += 1;
                if in_force {
                    applied_refused.push(line.clone());
                }
            }
            "unknown" => unknown += 1,
            _ => {}
        }
    }
    eprintln!("stalled node: {acked} acknowledged, {refused} refused, {unknown} unknown");
    let first = lines.iter().find(|l| l.starts_with("refused "));
    eprintln!("first refusal: {first:?}");
    assert!(refused >= 200, "{refused} refused");
    assert!(
        applied_refused.is_empty(),
        "{} of {refused} refused mutations are in force elsewhere, e.g. {:?}",
        applied_refused.len(),
        &applied_refused[..applied_refused.len().min(3)]
    );
}

/// Rooms of 500 muted members each writer fills: 900k members in all.
const FILL_ROOMS: usize = 900;

/// Writers on two nodes, snapshots every 200 entries or 100 ms with the stream trimmed
/// after each: 20 nodes join one after another, and every join succeeds.
#[test]
fn joins_into_a_cluster_that_trims_under_write_load_all_succeed() {
    let redis = redis_or_return!();
    let writer = |publish: bool| {
        let replication = Replication::new(redis.url()).timeout(Duration::from_secs(2));
        let replication = if publish {
            replication.snapshot_every(200, Duration::from_millis(100))
        } else {
            replication
        };
        Engine::builder()
            .clock(ManualClock::new(NOW))
            .replicate(replication)
            .expect("a writer node")
    };
    let writers = [writer(true), writer(true)];
    // 900k members muted, so a snapshot takes a while to encode, upload and load.
    for (w, engine) in writers.iter().enumerate() {
        for chunk in 0..FILL_ROOMS {
            let users: Vec<String> = (0..500).map(|u| format!("w{w}-c{chunk}-u{u}")).collect();
            engine
                .mute_members(&format!("room-{w}-{chunk}"), &users, MuteFor::Forever)
                .expect("fill");
        }
    }
    let done = AtomicBool::new(false);
    let (writes, late) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        for (w, engine) in writers.iter().enumerate() {
            let (done, writes, late) = (&done, &writes, &late);
            s.spawn(move || {
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) {
                    let room = format!("live-{w}-{}", i % 64);
                    let users = [format!("u{}", i % 997)];
                    match engine.mute_members(&room, users, MuteFor::minutes(10)) {
                        Ok(_) => writes.fetch_add(1, Ordering::Relaxed),
                        // A writer on the publishing node may wait past its apply
                        // timeout while a snapshot of this size is taken (issue 24,
                        // item 3): counted, not what this test is about.
                        Err(Error::Unavailable { .. }) => late.fetch_add(1, Ordering::Relaxed),
                        Err(e) => panic!("a write under load: {e}"),
                    };
                    i += 1;
                }
            });
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for join in 0..20 {
                let before = writes.load(Ordering::Relaxed);
                let started = Instant::now();
                let node = Engine::builder()
                    .clock(ManualClock::new(NOW))
                    .replicate(Replication::new(redis.url()).timeout(Duration::from_secs(2)));
                let node = match node {
                    Ok(node) => node,
                    Err(e) => panic!("join {join} failed: {e}"),
                };
                let last = format!("room-1-{}", FILL_ROOMS - 1);
                assert!(
                    node.muted_members(&last).len() == 500,
                    "join {join} lacks the filled state"
                );
                eprintln!("join {join}: {:?}", started.elapsed());
                drop(node);
                assert!(
                    writes.load(Ordering::Relaxed) > before,
                    "the writers stalled during join {join}"
                );
            }
        }));
        done.store(true, Ordering::Relaxed);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
    let published =
        writers[0].health().snapshots_published + writers[1].health().snapshots_published;
    eprintln!(
        "joins: {} writes, {} past the apply timeout, {published} snapshots published",
        writes.load(Ordering::Relaxed),
        late.load(Ordering::Relaxed)
    );
    assert!(published > 0);
}

/// The first node to meet an entry it cannot apply halts the cluster (`S:halted`), and
/// from then on Redis refuses every node's appends, so no caller is told "refused" for
/// a mutation that applies once the entry is removed. The README's recovery (remove the
/// entry and the halt key, build the nodes again) brings the cluster back, converged.
#[test]
fn a_bad_entry_halts_appends_everywhere_and_the_documented_recovery_brings_nodes_back() {
    let redis = redis_or_return!();
    let (a, bad) = stopped_at_a_malformed_entry(&redis);
    let halted: Option<String> = redis::cmd("GET")
        .arg("mutegate:ops:halted")
        .query(&mut redis.conn())
        .expect("GET");
    assert_eq!(
        halted.as_deref(),
        Some(bad.as_str()),
        "the halt key names the entry"
    );
    // A node whose reader has not reached the entry yet (here: one that never reads it,
    // its appends racing its reader) is refused by Redis itself, and nothing is appended.
    let before = xlen(&redis);
    let racing = {
        redis::cmd("DEL")
            .arg("mutegate:ops:halted")
            .query::<()>(&mut redis.conn())
            .expect("DEL");
        redis::cmd("XDEL")
            .arg("mutegate:ops")
            .arg(&bad)
            .query::<()>(&mut redis.conn())
            .expect("XDEL");
        let racing = node(&redis);
        redis::cmd("SET")
            .arg("mutegate:ops:halted")
            .arg(&bad)
            .query::<()>(&mut redis.conn())
            .expect("SET");
        racing
    };
    let err = racing
        .mute_room("refused-room", MuteFor::Forever)
        .expect_err("the cluster is halted");
    match &err {
        Error::Replication { id, what } => {
            assert_eq!(*id, bad, "{err}");
            assert!(
                what.contains("halted") && what.contains("not appended"),
                "{what}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        xlen(&redis),
        before - 1,
        "nothing was appended (the entry was removed)"
    );
    drop(racing);
    // The recovery: the entry is already gone; the halt key goes, the nodes are built
    // again, and they converge on what came before and after the entry.
    redis::cmd("DEL")
        .arg("mutegate:ops:halted")
        .query::<()>(&mut redis.conn())
        .expect("DEL");
    drop(a);
    let (a, b) = (node(&redis), node(&redis));
    assert!(
        !a.can_send("bob", Target::room("r1")),
        "what came before stays"
    );
    assert!(
        a.room_mute("refused-room").is_none(),
        "the refused mutation is nowhere"
    );
    b.mute_members("r2", ["cat"], MuteFor::Forever)
        .expect("the cluster writes again");
    eventually("a applies b's mutation", 5 * SECOND, || {
        !a.can_send("cat", Target::room("r2"))
    });
    assert_eq!(snapshot(&a), snapshot(&b), "converged");
}

/// `Health::stream` says where a node is: a node whose reader is slowed (a subscriber
/// that takes 3 ms per event) shows entries and milliseconds behind the stream while
/// another writes, and once caught up it shows none, with the published snapshot's id
/// and age.
#[test]
fn health_reports_how_far_a_node_is_behind_and_the_snapshot_it_could_start_from() {
    let redis = redis_or_return!();
    let writer = node_with(&redis, |r| {
        r.snapshot_every(50, Duration::from_millis(100))
            .trim_every(Duration::from_millis(100))
    });
    let slow = node(&redis);
    slow.subscribe(|_| std::thread::sleep(Duration::from_millis(3)));
    let mut most_behind = (0, 0);
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < 5 * SECOND {
        writer
            .mute_members("busy", [format!("u{}", i % 100)], MuteFor::minutes(5))
            .expect("write");
        i += 1;
        if let Some(s) = slow.health().stream {
            most_behind = most_behind.max((s.behind_entries, s.behind_ms));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        most_behind.0 > 0 && most_behind.1 > 0,
        "the slowed node never showed itself behind: {most_behind:?}; {:?}",
        slow.health()
    );
    eventually(
        "the slowed node catches up and says so",
        40 * SECOND,
        || {
            slow.health()
                .stream
                .is_some_and(|s| s.behind_entries == 0 && s.applied_id == s.newest_id)
        },
    );
    eventually("the snapshot's id and age are shown", 10 * SECOND, || {
        writer.health().stream.is_some_and(|s| {
            s.snapshot_id.is_some() && s.snapshot_age_ms.is_some_and(|age| age < 10_000)
        })
    });
    let shown = writer.health().stream.expect("shown");
    let id = |s: &str| {
        let (ms, seq) = s.split_once('-').expect("a stream id");
        (
            ms.parse::<u64>().expect("ms"),
            seq.parse::<u64>().expect("seq"),
        )
    };
    let snapshot_id = shown.snapshot_id.as_deref().expect("shown above");
    assert!(
        id(snapshot_id) <= id(&shown.applied_id),
        "the snapshot covers no more than was applied: {shown:?}"
    );
    eprintln!("most behind: {most_behind:?} (entries, ms); writer: {shown:?}");
}

/// Trimming has its own interval: with snapshots only every 10 entries (and hourly),
/// the snapshot's holder still trims every 100 ms, up to the snapshot once the live
/// nodes' positions pass it; with trimming left at the snapshots' (hourly) interval,
/// what the publish itself could not trim stays.
#[test]
fn the_stream_is_trimmed_at_its_own_interval_between_snapshots() {
    let redis = redis_or_return!();
    let trimmed_to = |trim: Option<Duration>| {
        redis::cmd("DEL")
            .arg("mutegate:ops")
            .arg("mutegate:ops:snapshot")
            .arg("mutegate:ops:nodes")
            .arg("mutegate:ops:snapshot-lease")
            .query::<()>(&mut redis.conn())
            .expect("DEL");
        let engine = node_with(&redis, |r| {
            let r = r.snapshot_every(10, Duration::from_secs(3600));
            match trim {
                Some(every) => r.trim_every(every),
                None => r,
            }
        });
        for i in 0..10 {
            engine
                .mute_room(&format!("t{i}"), MuteFor::Forever)
                .expect("write");
        }
        eventually("a snapshot is published", 10 * SECOND, || {
            engine.health().snapshots_published > 0
        });
        std::thread::sleep(3 * SECOND);
        xlen(&redis)
    };
    let own_interval = trimmed_to(Some(Duration::from_millis(100)));
    let snapshots_interval = trimmed_to(None);
    eprintln!("entries left: {own_interval} (trim every 100 ms), {snapshots_interval} (hourly)");
    assert_eq!(own_interval, 1, "trimmed up to the snapshot's entry");
    assert!(snapshots_interval > 1, "{snapshots_interval}");
}

/// Local checkpoints have their own cadence: with snapshots hourly, `checkpoint_every(5,
/// ..)` writes the node's checkpoint after 5 entries; without it none is written while
/// the node runs.
#[test]
fn local_checkpoints_follow_their_own_setting() {
    let redis = redis_or_return!();
    let checkpointed = |every: Option<u64>| {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = node_with(&redis, |r| {
            let r = r
                .snapshot_every(1_000_000, Duration::from_secs(3600))
                .local_state(dir.path());
            match every {
                Some(n) => r.checkpoint_every(n, Duration::from_secs(3600)),
                None => r,
            }
        });
        for i in 0..5 {
            engine
                .mute_room(&format!("c{i}"), MuteFor::Forever)
                .expect("write");
        }
        let file = dir.path().join("replica.ckpt");
        let deadline = Instant::now() + 3 * SECOND;
        while !file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        file.exists()
    };
    assert!(checkpointed(Some(5)), "no checkpoint after 5 entries");
    assert!(
        !checkpointed(None),
        "a checkpoint at the snapshots' hourly cadence"
    );
}
