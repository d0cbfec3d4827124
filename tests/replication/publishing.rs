//! The node that holds the snapshot lease keeps its own writers going while it
//! publishes: the state is taken, encoded and uploaded by its publisher, off the
//! thread that applies the node's batches (issue 24, item 3).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mutegate::{Engine, ManualClock, MuteFor, Replication};

use super::processes::{child_test, say, spawn_reading};
use super::{NOW, Redis, SECOND, eventually, node_with};

const URL: &str = "MUTEGATE_PEER_URL";
const STOP: &str = "MUTEGATE_PEER_STOP";
/// The lease key; the test holds it under a foreign name to keep the node from
/// publishing.
const LEASE: &str = "mutegate:ops:snapshot-lease";
/// Members muted before measuring (in rooms of 500), so that a snapshot is large.
const FILL: usize = 120_000;
/// Writer threads on the publishing node.
const WRITERS: usize = 2;

#[test]
#[ignore = "helper: run as a child process by the publishing test"]
fn peer_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let stop = PathBuf::from(std::env::var(STOP).expect("stop file"));
    let engine = Engine::builder()
        .clock(ManualClock::new(NOW))
        .replicate(Replication::new(url).timeout(Duration::from_millis(500)))
        .expect("a replicated engine");
    say("ready".into());
    let mut i = 0usize;
    while !stop.exists() {
        let room = format!("peer-{}", i % 64);
        engine
            .mute_members(&room, [format!("p{}", i % 997)], MuteFor::minutes(10))
            .expect("a peer's write");
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    say(format!("stopped {i}"));
}

/// What the publishing node's writers did in one stretch.
#[derive(Debug, Default, Clone, Copy)]
struct Stretch {
    writes: usize,
    slowest_ms: u64,
    published: u64,
}

/// A node with a large state, publishing snapshots every 100 entries or 50 ms, while a
/// peer process writes too: its writers' rate in stretches where it publishes (the
/// lease free for it to take) is compared with stretches where it cannot (the lease
/// held under a foreign name). Publishing on the apply path took the rate to a few
/// percent; off it, the rate must stay within half of the other.
#[test]
fn the_publishing_node_keeps_its_writers_going_while_it_publishes() {
    let redis = redis_or_return!();
    let node = node_with(&redis, |r| r.snapshot_every(100, Duration::from_millis(50)));
    for chunk in 0..FILL / 500 {
        let users: Vec<String> = (0..500).map(|u| format!("c{chunk}-u{u}")).collect();
        node.mute_members(&format!("fill-{chunk}"), &users, MuteFor::Forever)
            .expect("fill");
    }
    eventually("a first snapshot of the filled state", 60 * SECOND, || {
        node.health().snapshots_published > 0
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let stop_file = dir.path().join("stop");
    let mut peer = child_test("publishing::peer_child");
    peer.env(URL, redis.url()).env(STOP, &stop_file);
    let (mut child, lines) = spawn_reading(peer);
    eventually("the peer is ready", 30 * SECOND, || {
        lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.ends_with("ready"))
    });

    let done = AtomicBool::new(false);
    let writes = AtomicUsize::new(0);
    let slowest = AtomicU64::new(0);
    let mut stretches: Vec<(bool, Stretch)> = Vec::new();
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (node, done, writes, slowest) = (&node, &done, &writes, &slowest);
            s.spawn(move || {
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    node.mute_members(
                        &format!("w{t}-{}", i % 64),
                        [format!("u{}", i % 997)],
                        MuteFor::minutes(10),
                    )
                    .expect("a write on the publishing node");
                    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    slowest.fetch_max(ms, Ordering::Relaxed);
                    writes.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        let mut conn = redis.conn();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _round in 0..3 {
                for publishing in [false, true] {
                    let hold = |conn: &mut redis::Connection| {
                        if !publishing {
                            redis::cmd("SET")
                                .arg(LEASE)
                                .arg("operator")
                                .arg("PX")
                                .arg(1000)
                                .query::<()>(conn)
                                .expect("SET");
                        }
                    };
                    let (started, first) = (Instant::now(), node.health().snapshots_published);
                    if publishing {
                        redis::cmd("DEL")
                            .arg(LEASE)
                            .query::<()>(&mut conn)
                            .expect("DEL");
                    }
                    // Settles for a second and, when publishing, until the node's new
                    // publisher (started from the snapshot when it takes the lease, slow
                    // in a debug build on a loaded machine) has published once.
                    while started.elapsed() < SECOND
                        || (publishing && node.health().snapshots_published == first)
                    {
                        assert!(
                            started.elapsed() < 120 * SECOND,
                            "the node never published after it took the lease"
                        );
                        hold(&mut conn);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let before = writes.load(Ordering::Relaxed);
                    let published = node.health().snapshots_published;
                    slowest.store(0, Ordering::Relaxed);
                    let measure = Instant::now() + 3 * SECOND;
                    while Instant::now() < measure {
                        hold(&mut conn);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let stretch = Stretch {
                        writes: writes.load(Ordering::Relaxed) - before,
                        slowest_ms: slowest.load(Ordering::Relaxed),
                        published: node.health().snapshots_published - published,
                    };
                    eprintln!("publishing {publishing}: {stretch:?}");
                    stretches.push((publishing, stretch));
                }
            }
        }));
        done.store(true, Ordering::Relaxed);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    });
    std::fs::write(&stop_file, b"").expect("stop file");
    let status = child.wait().expect("the peer exits");
    assert!(status.success(), "the peer failed: {status}");

    let total = |publishing: bool| {
        stretches.iter().filter(|(p, _)| *p == publishing).fold(
            Stretch::default(),
            |sum, (_, s)| Stretch {
                writes: sum.writes + s.writes,
                slowest_ms: sum.slowest_ms.max(s.slowest_ms),
                published: sum.published + s.published,
            },
        )
    };
    let (busy, idle) = (total(true), total(false));
    let ratio = busy.writes as f64 / idle.writes.max(1) as f64;
    eprintln!("publishing {busy:?}; not publishing {idle:?}; ratio {ratio:.2}");
    assert!(busy.published > 0, "nothing was published: {busy:?}");
    assert!(idle.writes > 0, "the writers stalled: {idle:?}");
    assert!(
        ratio >= 0.5,
        "the node's writers slowed to {ratio:.2}x while it published ({busy:?} against {idle:?})"
    );
}
